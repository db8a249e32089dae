// SPDX-License-Identifier: MIT
// Where a board's document lives on disk (HUB_DATA/boards/): a snapshot
// (ROOM.ydoc, the whole state as one Yjs update) and a log of the updates
// taken since (ROOM.ylog). Each update a client sends is appended and
// fdatasync'd before the hub lets the room see it, so what anyone saw
// survives a crash of the backend or of the machine. Appends that arrive
// while a write is under way go out together with one fdatasync (group
// commit). When the log outgrows the snapshot it is folded into a new
// snapshot (written aside, fsync'd, renamed over the old one), then
// emptied; replaying a log over a snapshot that already holds it changes
// nothing (Yjs updates are idempotent), so a crash between the two steps
// loses nothing either.
//
// Log record: u32 length, u32 CRC-32 of the bytes, the bytes (big endian).
// Loading stops at the first record that is short or fails its CRC (a write
// the crash cut off) and cuts the file there.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

const CRC_TABLE = (() => {
	const t = new Uint32Array(256);
	for (let n = 0; n < 256; n++) {
		let c = n;
		for (let k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
		t[n] = c >>> 0;
	}
	return t;
})();

export function crc32(buf) {
	let c = 0xffffffff;
	for (let i = 0; i < buf.length; i++)
		c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
	return (c ^ 0xffffffff) >>> 0;
}

/** The file name of a room's files: room names may be "." or "..". */
export function fileBase(room) {
	return 'room-' + encodeURIComponent(room).replace(/\./g, '%2E');
}

function record(u) {
	const head = Buffer.alloc(8);
	head.writeUInt32BE(u.length, 0);
	head.writeUInt32BE(crc32(u), 4);
	return Buffer.concat([head, Buffer.from(u.buffer, u.byteOffset, u.byteLength)]);
}

/** Parse a log; returns {updates, good} (good: bytes of whole records). */
export function parseLog(buf) {
	const updates = [];
	let off = 0;
	while (off + 8 <= buf.length) {
		const len = buf.readUInt32BE(off);
		const crc = buf.readUInt32BE(off + 4);
		if (off + 8 + len > buf.length)
			break;
		const u = buf.subarray(off + 8, off + 8 + len);
		if (crc32(u) !== crc)
			break;
		updates.push(new Uint8Array(u));
		off += 8 + len;
	}
	return { updates, good: off };
}

export class DocStore {
	/**
	 * @param {string} dir  the boards' directory (made if missing)
	 * @param {string} room
	 * @param {() => Uint8Array} state  the document's current full state, for compaction
	 */
	constructor(dir, room, state, { compactAt = 256 * 1024 } = {}) {
		this.dir = dir;
		this.base = path.join(dir, fileBase(room));
		this.snapPath = this.base + '.ydoc';
		this.logPath = this.base + '.ylog';
		this.state = state;
		this.compactAt = compactAt;
		this.queue = [];
		this.writing = null;
		this.fh = null;
		this.logBytes = 0;
		this.snapBytes = 0;
		this.broken = null;
		this.stats = { appends: 0, syncs: 0, compactions: 0 };
	}

	/** What is on disk: the snapshot and the log's updates, in order. */
	async load() {
		await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
		const out = [];
		try {
			const snap = await fsp.readFile(this.snapPath);
			this.snapBytes = snap.length;
			out.push(new Uint8Array(snap));
		} catch (e) {
			if (e.code !== 'ENOENT')
				throw e;
		}
		let log = Buffer.alloc(0);
		try {
			log = await fsp.readFile(this.logPath);
		} catch (e) {
			if (e.code !== 'ENOENT')
				throw e;
		}
		const { updates, good } = parseLog(log);
		out.push(...updates);
		this.fh = await fsp.open(this.logPath, 'a+', 0o600);
		this.cut = log.length - good;
		if (this.cut)
			await this.fh.truncate(good);
		this.logBytes = good;
		return out;
	}

	/** Append an update; resolves once it is on disk (fdatasync). */
	append(u) {
		if (this.broken)
			return Promise.reject(this.broken);
		return new Promise((resolve, reject) => {
			this.queue.push({ rec: record(u), resolve, reject });
			if (!this.writing)
				this.writing = this._drain();
		});
	}

	async _drain() {
		try {
			while (this.queue.length) {
				const batch = this.queue.splice(0);
				try {
					const data = Buffer.concat(batch.map((b) => b.rec));
					await this.fh.write(data);
					await this.fh.datasync();
					this.logBytes += data.length;
					this.stats.appends += batch.length;
					this.stats.syncs++;
				} catch (e) {
					// a disk that fails a write: take nothing more (the
					// caller refuses the events and the process stops)
					this.broken = e;
					for (const b of batch.concat(this.queue.splice(0)))
						b.reject(e);
					return;
				}
				for (const b of batch)
					b.resolve();
				if (this.logBytes > Math.max(this.compactAt, this.snapBytes))
					await this._compact();
			}
		} finally {
			this.writing = null;
		}
	}

	/** Fold the log into a new snapshot (runs between log writes). */
	async _compact() {
		const snap = this.state();
		const tmp = this.snapPath + '.tmp';
		const fh = await fsp.open(tmp, 'w', 0o600);
		try {
			await fh.write(snap);
			await fh.sync();
		} finally {
			await fh.close();
		}
		await fsp.rename(tmp, this.snapPath);
		const dfh = await fsp.open(this.dir, 'r');
		try {
			await dfh.sync();
		} finally {
			await dfh.close();
		}
		await this.fh.truncate(0);
		await this.fh.datasync();
		this.snapBytes = snap.length;
		this.logBytes = 0;
		this.stats.compactions++;
	}

	/** Wait for the writes under way, fold the log when asked, close. */
	async close({ compact = false } = {}) {
		while (this.writing)
			await this.writing;
		if (this.fh && !this.broken && compact && this.logBytes > 0)
			await this._compact();
		if (this.fh)
			await this.fh.close();
		this.fh = null;
	}
}

/** Sizes of the files of a room (for tests and the operator). */
export function filesOf(dir, room) {
	const base = path.join(dir, fileBase(room));
	const size = (p) => {
		try {
			return fs.statSync(p).size;
		} catch {
			return 0;
		}
	};
	return { snapshot: size(base + '.ydoc'), log: size(base + '.ylog') };
}
