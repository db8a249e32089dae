// SPDX-License-Identifier: MIT
// The board's rules, without I/O: one Yjs document per room, the checks an
// update passes before the backend takes it, the answer to `sync`, and the
// presence (awareness) messages stamped with who really sent them. The
// merge is Yjs's own (Y.applyUpdate); nothing here merges by hand.
//
// Wire format (room events, JSON through the hub; binary as base64):
//   update     {"u": "<base64 Yjs update (v1)>"}
//   awareness  {"a": "<base64 y-protocols awareness update>"}
// and the call sync {"room", "sv": "<base64 state vector>"} answers
//   {"ok": true, "update": "<base64: what the caller lacks>",
//    "sv": "<base64: the backend's state vector>", "limits": {...}, "size": N}
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';
import * as decoding from 'lib0/decoding';

export const DEFAULT_LIMITS = Object.freeze({
	/** bytes of one Yjs update (a keystroke is ~20; a pasted page a few KiB) */
	update: 64 * 1024,
	/** bytes of a whole document, encoded (the sync answer must fit one MQTT packet) */
	doc: 512 * 1024,
	/** bytes of one awareness (cursor, name) message */
	awareness: 2048,
	/** documents (rooms) held in memory at once */
	docs: 256,
});

/** An error whose code goes into a hook's reject reason or a call's error answer. */
export class BoardError extends Error {
	constructor(code, message) {
		super(message);
		this.code = code;
	}

	/** "code: message", what a rejected event's sender reads. */
	get reason() {
		return `${this.code}: ${this.message}`;
	}
}

function kib(n) {
	return n < 1024 ? `${n} bytes` : `${Math.round((n / 1024) * 10) / 10} KiB`;
}

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Strict base64 to bytes; refuses anything longer than `max` decoded bytes
 * before decoding it.
 */
export function fromBase64(s, max, what) {
	if (typeof s !== 'string' || s.length % 4 !== 0 || !B64_RE.test(s))
		throw new BoardError('bad_request', `${what} must be base64`);
	const n = (s.length / 4) * 3 - (s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0);
	if (n > max)
		throw new BoardError('too_large', `${what} may be at most ${kib(max)}; this one is ${kib(n)}`);
	return new Uint8Array(Buffer.from(s, 'base64'));
}

export function toBase64(u8) {
	return Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('base64');
}

/** A colour of its own for each user name (the same in every client). */
export function colorOf(user) {
	let h = 0x811c9dc5;
	for (const c of Buffer.from(String(user), 'utf8')) {
		h ^= c;
		h = Math.imul(h, 0x01000193) >>> 0;
	}
	return `hsl(${h % 360}, 70%, 42%)`;
}

/** One room's document. */
export class Board {
	constructor(room, limits = DEFAULT_LIMITS) {
		this.room = room;
		this.limits = { ...DEFAULT_LIMITS, ...limits };
		this.doc = new Y.Doc({ gc: true });
		/** an upper bound of the encoded document's size (exact after size()) */
		this.held = 0;
		this.lastUse = Date.now();
	}

	/** The encoded document's exact size (and held set to it). */
	size() {
		this.held = Y.encodeStateAsUpdate(this.doc).length;
		return this.held;
	}

	/** Load what the store kept (snapshot first, then the log's updates). */
	load(updates) {
		let bad = 0;
		for (const u of updates) {
			try {
				Y.decodeUpdate(u);
				Y.applyUpdate(this.doc, u, 'store');
			} catch {
				bad++;
			}
		}
		this.size();
		return bad;
	}

	/**
	 * Check an update from a client; throws BoardError (too_large, bad_update,
	 * out_of_order, doc_full) and leaves the document as it was.
	 */
	check(u) {
		const lim = this.limits;
		if (u.length > lim.update)
			throw new BoardError('too_large',
				`a change may be at most ${kib(lim.update)}; this one is ${kib(u.length)}`);
		let meta;
		try {
			// decodes all of it: malformed bytes throw here, before the
			// document is touched (applyUpdate could stop half-way)
			Y.decodeUpdate(u);
			meta = Y.parseUpdateMeta(u);
		} catch {
			throw new BoardError('bad_update', 'not a Yjs update');
		}
		// Yjs keeps an update that starts past what it has of a client as
		// "pending" until the gap is filled: a client that missed some of
		// its own changes must sync first, not park bytes here
		for (const [client, clock] of meta.from) {
			if (clock > Y.getState(this.doc.store, client))
				throw new BoardError('out_of_order',
					'this change follows one the board does not have: sync first');
		}
		if (this.held + u.length > lim.doc) {
			// the bound is loose (a change that deletes may shrink the
			// document): measure, then try it on a copy when still close
			const now = this.size();
			if (now + u.length > lim.doc) {
				const probe = new Y.Doc({ gc: true });
				Y.applyUpdate(probe, Y.encodeStateAsUpdate(this.doc));
				Y.applyUpdate(probe, u);
				const after = Y.encodeStateAsUpdate(probe).length;
				probe.destroy();
				if (after > lim.doc && after > now)
					throw new BoardError('doc_full',
						`the document would grow to ${kib(after)}, over its limit of ${kib(lim.doc)}`);
			}
		}
	}

	/** Apply a checked update (Yjs merges it). */
	apply(u, origin = 'client') {
		Y.applyUpdate(this.doc, u, origin);
		this.held += u.length;
		this.lastUse = Date.now();
	}

	/** The answer to sync: what a client with state vector sv lacks. */
	diff(sv) {
		let update;
		try {
			update = Y.encodeStateAsUpdate(this.doc, sv);
		} catch {
			throw new BoardError('bad_request', 'sv is not a Yjs state vector');
		}
		this.lastUse = Date.now();
		return { update, sv: Y.encodeStateVector(this.doc) };
	}

	/** The document's full state (what a snapshot stores). */
	state() {
		return Y.encodeStateAsUpdate(this.doc);
	}
}

const CURSOR_KEYS = ['anchor', 'head'];

/**
 * An awareness update (y-protocols: count, then clientID, clock, JSON
 * state each) from `who` ({user, displayName}), re-encoded with the
 * sender's real name and colour in state.user: nobody can show up under
 * another's name. One entry per message (a client sends its own); the
 * state keeps only the cursor ({anchor, head}: Yjs relative positions).
 * Returns {bytes, clientID, removed}.
 */
export function stampAwareness(bytes, who, max = DEFAULT_LIMITS.awareness) {
	if (bytes.length > max)
		throw new BoardError('too_large', `a presence message may be at most ${kib(max)}`);
	let clientID, clock, state;
	try {
		const d = decoding.createDecoder(bytes);
		const n = decoding.readVarUint(d);
		if (n !== 1)
			throw new Error('count');
		clientID = decoding.readVarUint(d);
		clock = decoding.readVarUint(d);
		state = JSON.parse(decoding.readVarString(d));
		if (decoding.hasContent(d))
			throw new Error('trailing bytes');
	} catch {
		throw new BoardError('bad_request', 'not an awareness update of one client');
	}
	let out = null;
	if (state !== null) {
		if (typeof state !== 'object' || Array.isArray(state))
			throw new BoardError('bad_request', 'an awareness state is an object');
		out = { user: { id: who.user, name: who.displayName || who.user, color: colorOf(who.user) } };
		const c = state.cursor;
		if (c && typeof c === 'object' && CURSOR_KEYS.every((k) => c[k] && typeof c[k] === 'object'))
			out.cursor = { anchor: c.anchor, head: c.head };
	}
	const e = encoding.createEncoder();
	encoding.writeVarUint(e, 1);
	encoding.writeVarUint(e, clientID);
	encoding.writeVarUint(e, clock);
	encoding.writeVarString(e, JSON.stringify(out));
	return { bytes: encoding.toUint8Array(e), clientID, removed: out === null };
}
