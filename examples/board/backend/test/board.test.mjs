// SPDX-License-Identifier: MIT
// The board backend's pure parts (board.mjs, store.mjs) under node's test
// runner: the checks an update passes, sync diffs, awareness stamping, and
// the store's log and snapshot (a cut-off write, compaction, reload).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as Y from 'yjs';
import * as awarenessProtocol from 'y-protocols/awareness';
import { Board, BoardError, colorOf, fromBase64, stampAwareness, toBase64 } from '../board.mjs';
import { DocStore, crc32, fileBase, parseLog } from '../store.mjs';

/** A client doc typing `text` at `at`; returns the update it produced. */
function edit(doc, at, text) {
	let out = null;
	const h = (u) => { out = u; };
	doc.on('update', h);
	doc.getText('text').insert(at, text);
	doc.off('update', h);
	return out;
}

function code(fn) {
	try {
		fn();
	} catch (e) {
		assert.ok(e instanceof BoardError, `not a BoardError: ${e}`);
		return e.code;
	}
	return null;
}

test('two clients editing at once converge through the board', () => {
	const b = new Board('r');
	const a = new Y.Doc();
	const c = new Y.Doc();
	const ua = edit(a, 0, 'hello ');
	const uc = edit(c, 0, 'world');
	for (const u of [ua, uc]) {
		b.check(u);
		b.apply(u);
	}
	// each gets what it lacks from sync, as a late joiner would
	for (const d of [a, c]) {
		const { update } = b.diff(Y.encodeStateVector(d));
		Y.applyUpdate(d, update);
	}
	assert.equal(a.getText('text').toString(), c.getText('text').toString());
	assert.equal(b.doc.getText('text').toString(), a.getText('text').toString());
	const late = new Y.Doc();
	Y.applyUpdate(late, b.diff(new Uint8Array([0])).update);
	assert.equal(late.getText('text').toString(), a.getText('text').toString());
});

test('an update over the limit is refused and changes nothing', () => {
	const b = new Board('r', { update: 100 });
	const a = new Y.Doc();
	const u = edit(a, 0, 'x'.repeat(200));
	assert.equal(code(() => b.check(u)), 'too_large');
	assert.equal(b.doc.getText('text').toString(), '');
	assert.match(new BoardError('too_large', 'm').reason, /^too_large: m$/);
});

test('garbage is no update', () => {
	const b = new Board('r');
	for (const junk of [new Uint8Array([1, 2, 3, 4, 5, 6, 7]), new Uint8Array([0xff, 0xff, 0xff]),
		new TextEncoder().encode('{"hello":"world"}')])
		assert.equal(code(() => b.check(junk)), 'bad_update', String(junk));
	assert.equal(b.size(), 2); // still the empty document
});

test('an update past a gap is refused (sync first), not parked', () => {
	const b = new Board('r');
	const a = new Y.Doc();
	const u1 = edit(a, 0, 'one');
	const u2 = edit(a, 3, 'two');
	assert.equal(code(() => b.check(u2)), 'out_of_order');
	b.check(u1);
	b.apply(u1);
	b.check(u2);
	b.apply(u2);
	assert.equal(b.doc.getText('text').toString(), 'onetwo');
	assert.equal(b.doc.store.pendingStructs, null);
});

test('the document size is bounded, and a full document can still shrink', () => {
	const b = new Board('r', { doc: 3000, update: 4000 });
	const a = new Y.Doc();
	const u1 = edit(a, 0, 'a'.repeat(2000));
	b.check(u1);
	b.apply(u1);
	const u2 = edit(a, 0, 'b'.repeat(1500));
	assert.equal(code(() => b.check(u2)), 'doc_full');
	assert.equal(b.doc.getText('text').length, 2000);
	// deleting frees room (gc: the deleted text is dropped from the state);
	// the refused client starts again from the board's state, as the page does
	const c = new Y.Doc();
	Y.applyUpdate(c, b.diff(new Uint8Array([0])).update);
	let del = null;
	c.once('update', (u) => { del = u; });
	c.getText('text').delete(0, 1900);
	b.check(del);
	b.apply(del);
	assert.equal(b.doc.getText('text').length, 100);
	assert.ok(b.size() < 400, `size after delete ${b.held}`);
	assert.equal(b.doc.store.pendingDs, null);
});

test('sync of an empty state vector gives everything; a bad one is a clear error', () => {
	const b = new Board('r');
	const a = new Y.Doc();
	b.apply(edit(a, 0, 'abc'));
	const d = b.diff(new Uint8Array([0]));
	const fresh = new Y.Doc();
	Y.applyUpdate(fresh, d.update);
	assert.equal(fresh.getText('text').toString(), 'abc');
	assert.deepEqual(d.sv, Y.encodeStateVector(b.doc));
	assert.equal(code(() => b.diff(new Uint8Array([5, 1]))), 'bad_request');
});

test('base64 is strict and bounded before decoding', () => {
	assert.deepEqual([...fromBase64(toBase64(new Uint8Array([1, 2, 3])), 10, 'x')], [1, 2, 3]);
	assert.equal(code(() => fromBase64('a', 10, 'x')), 'bad_request');
	assert.equal(code(() => fromBase64('!!!!', 10, 'x')), 'bad_request');
	assert.equal(code(() => fromBase64(12, 10, 'x')), 'bad_request');
	assert.equal(code(() => fromBase64('A'.repeat(400), 10, 'x')), 'too_large');
});

test('awareness is stamped with the real sender, whatever it claimed', () => {
	const doc = new Y.Doc();
	const aw = new awarenessProtocol.Awareness(doc);
	const rel = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(doc.getText('text'), 0));
	aw.setLocalState({ user: { name: 'The Admin', color: '#000' }, cursor: { anchor: rel, head: rel },
		junk: 'x'.repeat(100) });
	const raw = awarenessProtocol.encodeAwarenessUpdate(aw, [doc.clientID]);
	const { bytes, clientID } = stampAwareness(raw, { user: 'bob', displayName: 'Bob B' });
	assert.equal(clientID, doc.clientID);
	const other = new awarenessProtocol.Awareness(new Y.Doc());
	awarenessProtocol.applyAwarenessUpdate(other, bytes, 'remote');
	const st = other.getStates().get(doc.clientID);
	assert.deepEqual(st.user, { id: 'bob', name: 'Bob B', color: colorOf('bob') });
	assert.deepEqual(st.cursor, { anchor: rel, head: rel });
	assert.equal(st.junk, undefined);
	// a removal (state null) stays a removal
	aw.setLocalState(null);
	const gone = stampAwareness(awarenessProtocol.encodeAwarenessUpdate(aw, [doc.clientID]),
		{ user: 'bob', displayName: 'Bob B' });
	assert.equal(gone.removed, true);
	// several clients in one message, junk, and oversize are refused
	const d2 = new Y.Doc();
	const aw2 = new awarenessProtocol.Awareness(d2);
	aw2.setLocalState({ a: 1 });
	awarenessProtocol.applyAwarenessUpdate(aw2, raw, 'x');
	const two = awarenessProtocol.encodeAwarenessUpdate(aw2, [d2.clientID, doc.clientID]);
	assert.equal(code(() => stampAwareness(two, { user: 'bob' })), 'bad_request');
	assert.equal(code(() => stampAwareness(new Uint8Array([1, 2]), { user: 'bob' })), 'bad_request');
	assert.equal(code(() => stampAwareness(new Uint8Array(5000), { user: 'bob' })), 'too_large');
	aw.destroy();
	aw2.destroy();
	other.destroy();
});

test('colours are stable per user', () => {
	assert.equal(colorOf('alice'), colorOf('alice'));
	assert.notEqual(colorOf('alice'), colorOf('bob'));
	assert.match(colorOf('x'), /^hsl\(\d+, 70%, 42%\)$/);
});

// ------------------------------------------------------------------ store

function tmpdir() {
	return fs.mkdtempSync(path.join(os.tmpdir(), 'board-store-'));
}

test('crc32 is the standard one', () => {
	assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
});

test('room names make safe file names', () => {
	assert.equal(fileBase('..'), 'room-%2E%2E');
	assert.equal(fileBase('a.b_c-D9'), 'room-a%2Eb_c-D9');
});

test('the store keeps every appended update across a reopen, and cuts a torn write', async () => {
	const dir = tmpdir();
	const b = new Board('r');
	const s = new DocStore(dir, 'r', () => b.state());
	assert.deepEqual(await s.load(), []);
	const a = new Y.Doc();
	const waits = [];
	for (let i = 0; i < 50; i++) {
		const u = edit(a, i, String(i % 10));
		b.check(u);
		b.apply(u);
		waits.push(s.append(u));
	}
	await Promise.all(waits);
	assert.ok(s.stats.syncs < 50, `group commit: ${s.stats.syncs} fdatasyncs for 50 appends`);
	await s.close();
	// a write cut off half-way
	const logPath = path.join(dir, fileBase('r') + '.ylog');
	fs.appendFileSync(logPath, Buffer.from([0, 0, 0, 40, 1, 2, 3, 4, 9, 9]));
	const b2 = new Board('r');
	const s2 = new DocStore(dir, 'r', () => b2.state());
	assert.equal(b2.load(await s2.load()), 0);
	assert.equal(s2.cut, 10);
	assert.equal(b2.doc.getText('text').toString(), a.getText('text').toString());
	assert.equal(parseLog(fs.readFileSync(logPath)).updates.length, 50);
	await s2.close();
});

test('the log is folded into a snapshot when it grows, losing nothing', async () => {
	const dir = tmpdir();
	const b = new Board('r');
	const s = new DocStore(dir, 'r', () => b.state(), { compactAt: 2000 });
	await s.load();
	const a = new Y.Doc();
	for (let i = 0; i < 40; i++) {
		const u = edit(a, 0, 'line ' + i + '\n'.repeat(1) + 'x'.repeat(50));
		b.apply(u);
		await s.append(u);
	}
	assert.ok(s.stats.compactions >= 1);
	assert.ok(fs.existsSync(path.join(dir, fileBase('r') + '.ydoc')));
	assert.ok(!fs.existsSync(path.join(dir, fileBase('r') + '.ydoc.tmp')));
	await s.close({ compact: true });
	assert.equal(fs.statSync(path.join(dir, fileBase('r') + '.ylog')).size, 0);
	const b2 = new Board('r');
	const s2 = new DocStore(dir, 'r', () => b2.state());
	b2.load(await s2.load());
	assert.equal(b2.doc.getText('text').toString(), a.getText('text').toString());
	await s2.close();
});

test('a store whose disk fails refuses further appends', async () => {
	const dir = tmpdir();
	const b = new Board('r');
	const s = new DocStore(dir, 'r', () => b.state());
	await s.load();
	await s.fh.close(); // every write now fails (EBADF)
	const a = new Y.Doc();
	await assert.rejects(s.append(edit(a, 0, 'x')));
	await assert.rejects(s.append(edit(a, 1, 'y')));
	s.fh = null;
});
