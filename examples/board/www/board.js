// SPDX-License-Identifier: MIT
// examples/board: a text document several people edit at once.
//
// The document is a Y.Text in a Y.Doc. Yjs merges concurrent edits (no merge
// is written here); this page only moves Yjs's bytes:
//   - each local change (a Yjs update) is emitted into the room as the event
//     'update' {u: base64}. The room is hooked to the board's backend, so the
//     emit settles with its verdict: accepted (saved; the others get it) or
//     refused with a reason ("too_large: ..."). One emit is in flight at a
//     time; changes made meanwhile go out merged in the next one.
//   - on every (re)connect the page calls the backend's `sync` with its state
//     vector, applies what it lacked, and sends back the backend's lack
//     (Y.encodeStateAsUpdate against the backend's state vector): that is how
//     a late joiner gets the document and how edits made offline merge.
//   - cursors and names travel as 'awareness' events (y-protocols); the
//     backend re-stamps each with the sender's real name and colour.
// A change the backend refuses for good (too large, the document full) is
// dropped: the page starts again from the backend's copy and says why.
import * as Y from '/vendor/yjs/yjs.mjs';
import * as awarenessProtocol from '/vendor/yjs/y-protocols/awareness.js';
import * as hubio from '/lib/hubio.js';
import { signedIn, logout } from '/examples/common/session.js';

const SERVICE = 'board';
/** the broker's max_packet_size is 1 MiB: what cannot fit is refused here */
const PACKET_MAX = 1000 * 1000;
const AWARENESS_MS = 80;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5000;

const $ = (id) => document.getElementById(id);
const ta = $('doc');
const mirror = $('mirror');
const cursorLayer = $('cursors');

const room = new URLSearchParams(location.search).get('room') || 'board';

// ---------------------------------------------------------------- bytes

function toB64(u8) {
	let s = '';
	for (let i = 0; i < u8.length; i += 0x8000)
		s += String.fromCharCode.apply(null, u8.subarray(i, i + 0x8000));
	return btoa(s);
}

function fromB64(s) {
	const bin = atob(s);
	const u = new Uint8Array(bin.length);
	for (let i = 0; i < bin.length; i++)
		u[i] = bin.charCodeAt(i);
	return u;
}

/** The colour the backend gives a user (board.mjs colorOf), for users whose
 * cursor has not come yet. */
function colorOf(user) {
	let h = 0x811c9dc5;
	for (const c of new TextEncoder().encode(String(user))) {
		h ^= c;
		h = Math.imul(h, 0x01000193) >>> 0;
	}
	return `hsl(${h % 360}, 70%, 42%)`;
}

function kib(n) {
	return n < 1024 ? `${n} bytes` : `${Math.round(n / 102.4) / 10} KiB`;
}

// ----------------------------------------------------------------- state

let hub = null;
let me = null;
let doc = null;
let ytext = null;
let awareness = null;
let limits = { update: 64 * 1024, doc: 512 * 1024 };
let synced = false;    // has the backend's state since the last (re)connect
let syncing = false;
let syncGen = 0;
let outbox = [];       // local updates not sent yet
let sending = false;
let retryTimer = null;
let retryMs = RETRY_MIN_MS;
let readOnly = false;
let composing = false;
let fatal = false;
const userOf = new Map(); // awareness client id -> user name (who sent it)

// -------------------------------------------------------------- status ui

function setConn(state) {
	$('conn').dataset.state = state;
	$('conn').textContent = state;
}

function updateStatus() {
	const st = $('status');
	let state;
	let text;
	const waiting = outbox.length + (sending ? 1 : 0);
	if (fatal) {
		state = 'error';
		text = 'not available';
	} else if (!hub || !hub.connected) {
		state = 'offline';
		text = waiting ? 'offline: your edits are kept here and merge when the connection is back'
			: 'offline';
	} else if (!synced) {
		state = 'syncing';
		text = 'syncing with the board…';
	} else if (waiting) {
		state = 'saving';
		text = 'saving…';
	} else {
		state = 'saved';
		text = 'all changes saved';
	}
	st.dataset.state = state;
	st.textContent = text;
	$('doc-size').textContent = `${ytext ? ytext.length : 0} characters`;
}

function notice(text) {
	$('notice-text').textContent = text;
	$('notice').hidden = !text;
}

/** A reason of the backend ("code: text") split in two. */
function reasonOf(err) {
	const msg = (err && (err.detail || (err.verdict && err.verdict.message))) || '';
	const m = /^([a-z_]+): (.*)$/s.exec(msg);
	return m ? { code: m[1], text: m[2] } : { code: err && err.code, text: msg };
}

// -------------------------------------------------------------- the doc

function newDoc() {
	if (awareness)
		awareness.destroy();
	if (doc)
		doc.destroy();
	doc = new Y.Doc();
	ytext = doc.getText('text');
	awareness = new awarenessProtocol.Awareness(doc);
	awareness.setLocalState({ cursor: null });
	userOf.clear();
	doc.on('update', (u, origin) => {
		if (origin !== 'local')
			return;
		outbox.push(u);
		pump();
		updateStatus();
	});
	ytext.observe(onText);
	awareness.on('update', ({ added, updated, removed }, origin) => {
		if (origin === 'local' && [...added, ...updated, ...removed].includes(doc.clientID))
			scheduleAwareness();
	});
	awareness.on('change', ({ added, updated }, origin) => {
		if (typeof origin === 'string' && origin !== 'local') {
			for (const id of added)
				helloBack();
			for (const id of [...added, ...updated])
				movedAt.set(id, Date.now());
		}
		renderPeople();
		scheduleCursors();
	});
	const top = ta.scrollTop;
	ta.value = '';
	ta.scrollTop = top;
	updateStatus();
	scheduleCursors();
}

/** Start again from the backend's copy (a change of ours was refused for good). */
function restart() {
	outbox = [];
	synced = false;
	newDoc();
	startSync();
}

// ------------------------------------------------------------ sending

async function pump() {
	if (sending || !synced || !hub.connected || !outbox.length || readOnly)
		return;
	const u = outbox.length === 1 ? outbox[0] : Y.mergeUpdates(outbox);
	outbox = [];
	sending = true;
	updateStatus();
	const myDoc = doc;
	let err = null;
	try {
		if (u.length * 4 / 3 > PACKET_MAX)
			throw Object.assign(new Error('rejected'), { code: 'rejected',
				detail: `too_large: a change may be at most ${kib(limits.update)}; this one is ${kib(u.length)}` });
		await hub.emit(room, 'update', { u: toB64(u) });
	} catch (e) {
		err = e;
	}
	sending = false;
	if (myDoc !== doc)
		return; // restarted meanwhile
	if (err)
		refused(err);
	else
		pump();
	updateStatus();
}

/** An update of ours the hub or the backend did not take. */
function refused(err) {
	const r = reasonOf(err);
	if (err.code === 'rejected' && ['too_large', 'doc_full', 'bad_update', 'bad_request'].includes(r.code)) {
		notice(`Your last change was not saved: ${r.text}. The board was reloaded without it.`);
		restart();
		return;
	}
	if (err.code === 'forbidden') {
		readOnly = true;
		ta.readOnly = true;
		notice('You may read this board but not change it (your level in the room is read).');
		restart();
		return;
	}
	// out_of_order, unavailable (backend away), timeout, busy, closed: keep
	// everything; the next sync sends what the backend lacks
	if (r.code === 'unavailable' || err.code === 'unavailable')
		notice('The board\'s backend is not running: your edits are kept here and saved when it is back.');
	synced = false;
	scheduleSync();
}

// -------------------------------------------------------------- syncing

function scheduleSync() {
	if (retryTimer || fatal)
		return;
	retryTimer = setTimeout(() => {
		retryTimer = null;
		startSync();
	}, retryMs);
	retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
}

/** Ask the backend for what we lack and send what it lacks. On a new
 * connection a sync still waiting on the old one is superseded (its answer
 * may never come), not waited for. */
async function startSync(fresh = false) {
	if ((syncing && !fresh) || !hub.connected || fatal)
		return;
	clearTimeout(retryTimer);
	retryTimer = null;
	const gen = ++syncGen;
	syncing = true;
	synced = false;
	updateStatus();
	const myDoc = doc;
	const ans = await hub.call(SERVICE, 'sync', { room, sv: toB64(Y.encodeStateVector(doc)) });
	if (gen !== syncGen)
		return; // superseded
	syncing = false;
	if (myDoc !== doc) {
		startSync();
		return;
	}
	if (!ans || ans.ok !== true) {
		const code = ans && ans.error;
		if (code === 'forbidden') {
			fatal = true;
			notice(`You are not a member of the room ${room}.`);
		} else {
			if (code === 'unavailable')
				notice('The board\'s backend is not running: your edits are kept here and saved when it is back.');
			scheduleSync();
		}
		updateStatus();
		return;
	}
	if (ans.limits)
		limits = ans.limits;
	Y.applyUpdate(doc, fromB64(ans.update), 'sync');
	// what the backend lacks: everything of ours it has not got, the
	// changes made offline included (the outbox is part of it)
	const mine = Y.encodeStateAsUpdate(doc, fromB64(ans.sv));
	outbox = mine.length > 2 ? [mine] : [];
	synced = true;
	retryMs = RETRY_MIN_MS;
	if ($('notice-text').textContent.startsWith('The board\'s backend is not running'))
		notice('');
	ta.disabled = false;
	sendAwareness();
	pump();
	updateStatus();
}

// ------------------------------------------------------- text binding

/** The textarea changed: apply the difference to the Y.Text. */
function onInput() {
	if (readOnly) {
		refresh();
		return;
	}
	const nv = ta.value;
	const ov = ytext.toString();
	if (nv === ov)
		return;
	// where the change is: the caret ends an insertion, so the common prefix
	// stops before it (typing 'a' into "aa" inserts where the caret was)
	const grow = Math.max(0, nv.length - ov.length);
	const limit = Math.min(ov.length, nv.length, Math.max(0, ta.selectionEnd - grow));
	let start = 0;
	while (start < limit && ov[start] === nv[start])
		start++;
	let oe = ov.length;
	let ne = nv.length;
	while (oe > start && ne > start && ov[oe - 1] === nv[ne - 1]) {
		oe--;
		ne--;
	}
	// never split a surrogate pair
	if (start > 0 && /[\ud800-\udbff]/.test(ov[start - 1]))
		start--;
	if (ne < nv.length && /[\udc00-\udfff]/.test(nv[ne])) {
		ne++;
		oe++;
	}
	doc.transact(() => {
		if (oe > start)
			ytext.delete(start, oe - start);
		if (ne > start)
			ytext.insert(start, nv.slice(start, ne));
	}, 'local');
	updateCursor();
	scheduleCursors();
}

/** Someone else's change: show it, keeping our selection where it was. */
function onText(event, tr) {
	if (tr.origin === 'local')
		return;
	if (composing)
		return; // applied at compositionend
	let s = ta.selectionStart;
	let e = ta.selectionEnd;
	let pos = 0;
	for (const d of event.delta) {
		if (d.retain) {
			pos += d.retain;
		} else if (d.insert !== undefined) {
			const len = typeof d.insert === 'string' ? d.insert.length : 1;
			if (pos < s)
				s += len;
			if (pos < e)
				e += len;
			pos += len;
		} else if (d.delete) {
			if (pos < s)
				s -= Math.min(d.delete, s - pos);
			if (pos < e)
				e -= Math.min(d.delete, e - pos);
		}
	}
	refresh(s, e);
}

function refresh(s = ta.selectionStart, e = ta.selectionEnd) {
	const top = ta.scrollTop;
	const dir = ta.selectionDirection;
	ta.value = ytext.toString();
	ta.setSelectionRange(s, e, dir);
	ta.scrollTop = top;
	updateStatus();
	scheduleCursors();
}

// ------------------------------------------------------------ awareness

let lastCursor = '';

/** Our selection, as Yjs relative positions (they follow others' edits). */
function updateCursor() {
	if (!awareness)
		return;
	const len = ytext.length;
	let a = Math.min(ta.selectionStart, len);
	let h = Math.min(ta.selectionEnd, len);
	if (ta.selectionDirection === 'backward')
		[a, h] = [h, a];
	const key = `${a}:${h}:${len}`;
	if (key === lastCursor)
		return;
	lastCursor = key;
	const rel = (i) => Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(ytext, i));
	awareness.setLocalStateField('cursor', { anchor: rel(a), head: rel(h) });
}

let awTimer = null;

function scheduleAwareness() {
	if (awTimer)
		return;
	awTimer = setTimeout(() => {
		awTimer = null;
		sendAwareness();
	}, AWARENESS_MS);
}

function sendAwareness() {
	if (!hub || !hub.connected || !awareness || readOnly)
		return;
	const bytes = awarenessProtocol.encodeAwarenessUpdate(awareness, [doc.clientID]);
	hub.emit(room, 'awareness', { a: toB64(bytes) }).catch(() => {});
}

let helloTimer = null;

/** A newcomer's cursor came: send ours, so it sees us before our next move. */
function helloBack() {
	if (helloTimer)
		return;
	helloTimer = setTimeout(() => {
		helloTimer = null;
		sendAwareness();
	}, 100 + Math.random() * 400);
}

function onAwareness(data, meta) {
	if (meta.room !== room || !data || typeof data.a !== 'string')
		return;
	let bytes;
	try {
		bytes = fromB64(data.a);
		// who sent which client id: the hub's word (meta.from), so that a
		// user's cursors go when the hub says the user left
		const d = bytes;
		let i = 0;
		const varUint = () => {
			let n = 0;
			let mult = 1;
			for (;;) {
				const b = d[i++];
				n += (b & 0x7f) * mult;
				if (b < 0x80)
					return n;
				mult *= 128;
				if (i >= d.length)
					throw new Error('short');
			}
		};
		const count = varUint();
		if (count >= 1)
			userOf.set(varUint(), meta.from);
		awarenessProtocol.applyAwarenessUpdate(awareness, bytes, meta.from);
	} catch (e) {
		console.warn('board: a bad awareness message from', meta.from, e);
	}
}

function onLeft(n, meta) {
	if (meta.room !== room || !n || !n.user || !awareness)
		return;
	const ids = [...userOf].filter(([, u]) => u === n.user).map(([id]) => id);
	if (ids.length)
		awarenessProtocol.removeAwarenessStates(awareness, ids, 'left');
	renderPeople();
}

// -------------------------------------------------------- remote cursors

let cursorFrame = 0;
/** a name shows this long after its cursor moved, then shrinks to a flag
 * (names left up would hide the text under them) */
const LABEL_MS = 3000;
const movedAt = new Map(); // client id -> ms of its last move
let labelTimer = null;

function scheduleCursors() {
	if (cursorFrame)
		return;
	cursorFrame = requestAnimationFrame(() => {
		cursorFrame = 0;
		renderCursors();
	});
}

/** Lay the mirror over the textarea, with its text, box and scroll. */
function layoutMirror() {
	const cs = getComputedStyle(ta);
	const m = mirror.style;
	for (const p of ['fontFamily', 'fontSize', 'fontWeight', 'fontStyle', 'letterSpacing',
		'lineHeight', 'paddingTop', 'paddingRight', 'paddingBottom', 'paddingLeft', 'tabSize',
		'textIndent', 'wordSpacing'])
		m[p] = cs[p];
	const box = { left: `${ta.offsetLeft + ta.clientLeft}px`, top: `${ta.offsetTop + ta.clientTop}px`,
		width: `${ta.clientWidth}px`, height: `${ta.clientHeight}px` };
	Object.assign(m, box);
	Object.assign(cursorLayer.style, box);
	mirror.textContent = ta.value + '\u200b';
	mirror.scrollTop = ta.scrollTop;
	mirror.scrollLeft = ta.scrollLeft;
}

function renderCursors() {
	cursorLayer.replaceChildren();
	clearTimeout(labelTimer);
	labelTimer = null;
	if (!awareness)
		return;
	const remote = [...awareness.getStates()].filter(([id, st]) =>
		id !== doc.clientID && st && st.user && st.cursor);
	if (!remote.length)
		return;
	layoutMirror();
	let nextIdle = Infinity;
	const node = mirror.firstChild;
	const base = mirror.getBoundingClientRect();
	const len = ta.value.length;
	const abs = (json) => {
		try {
			const p = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), doc);
			return p && p.type === ytext ? Math.min(p.index, len) : null;
		} catch {
			return null;
		}
	};
	for (const [id, st] of remote) {
		const a = abs(st.cursor.anchor);
		const h = abs(st.cursor.head);
		if (a === null || h === null)
			continue;
		const color = String(st.user.color || colorOf(st.user.id));
		const range = document.createRange();
		range.setStart(node, Math.min(a, h));
		range.setEnd(node, Math.max(a, h));
		if (a !== h)
			for (const r of range.getClientRects()) {
				const sel = document.createElement('div');
				sel.className = 'board-sel';
				Object.assign(sel.style, { left: `${r.left - base.left}px`, top: `${r.top - base.top}px`,
					width: `${r.width}px`, height: `${r.height}px`, backgroundColor: color });
				cursorLayer.append(sel);
			}
		range.setStart(node, h);
		range.setEnd(node, h);
		const rects = range.getClientRects();
		const r = rects.length ? rects[rects.length - 1] : range.getBoundingClientRect();
		const caret = document.createElement('div');
		// on the first line the name goes below the caret (above it is cut off)
		caret.className = r.top - base.top < 18 ? 'board-caret below' : 'board-caret';
		const age = Date.now() - (movedAt.get(id) || 0);
		if (age >= LABEL_MS)
			caret.classList.add('idle');
		else
			nextIdle = Math.min(nextIdle, LABEL_MS - age);
		caret.dataset.user = st.user.id || '';
		caret.dataset.client = String(id);
		Object.assign(caret.style, { left: `${r.left - base.left}px`, top: `${r.top - base.top}px`,
			height: `${r.height || 18}px`, borderColor: color });
		const label = document.createElement('span');
		label.className = 'board-label';
		label.textContent = st.user.name || st.user.id;
		label.style.backgroundColor = color;
		caret.append(label);
		cursorLayer.append(caret);
	}
	if (nextIdle !== Infinity)
		labelTimer = setTimeout(scheduleCursors, nextIdle + 20);
}

// --------------------------------------------------------------- people

function renderPeople() {
	if (!hub)
		return;
	const online = hub.presence(room).filter((p) => !p.device).map((p) => p.user);
	const names = new Map();
	if (awareness)
		for (const [, st] of awareness.getStates())
			if (st && st.user && st.user.id)
				names.set(st.user.id, st.user);
	const list = $('people');
	list.replaceChildren();
	for (const user of online) {
		const li = document.createElement('li');
		const dot = document.createElement('span');
		dot.className = 'dot';
		dot.style.backgroundColor = (names.get(user) && names.get(user).color) || colorOf(user);
		const name = document.createElement('span');
		name.textContent = user === me.username ? `${me.display_name || user} (you)`
			: (names.get(user) && names.get(user).name) || user;
		li.dataset.user = user;
		li.append(dot, name);
		list.append(li);
	}
	$('people-count').textContent = String(online.length);
}

// ----------------------------------------------------------------- start

async function main() {
	const session = await signedIn($('main'));
	me = session.user;
	$('me').textContent = me.display_name || me.username;
	$('logout').hidden = false;
	$('logout').addEventListener('click', () => logout());
	$('room-name').textContent = `room ${room}`;
	$('room-code').textContent = room;
	$('notice-close').addEventListener('click', () => notice(''));
	const membership = (session.rooms || []).find((r) => r.room === room);
	if (!membership) {
		fatal = true;
		notice(`You are not a member of the room ${room} (hubctl grant ${room} ${me.username} write).`);
		updateStatus();
		return;
	}
	readOnly = membership.level === 'read';
	ta.readOnly = readOnly;

	newDoc();
	hub = hubio.connect({ username: me.username, hooked: [room] });
	hub.on('connect', () => {
		setConn('online');
		retryMs = RETRY_MIN_MS;
		startSync(true);
	});
	hub.on('disconnect', () => {
		setConn('offline');
		synced = false;
		updateStatus();
	});
	hub.on('error', (e) => {
		if (e && e.status === 401) {
			fatal = true;
			notice('Your session ended: sign in again.');
			updateStatus();
		}
	});
	hub.on('update', (data, meta) => {
		if (meta.room !== room || !data || typeof data.u !== 'string')
			return;
		try {
			Y.applyUpdate(doc, fromB64(data.u), 'remote');
		} catch (e) {
			console.warn('board: a bad update from', meta.from, e);
		}
	});
	hub.on('awareness', onAwareness);
	hub.on('left', onLeft);
	hub.onPresence(room, () => renderPeople());
	hub.join(room).catch((e) => {
		fatal = true;
		notice(`Cannot join the room ${room}: ${e.message}.`);
		updateStatus();
	});

	ta.addEventListener('input', () => {
		if (!composing)
			onInput();
	});
	ta.addEventListener('compositionstart', () => { composing = true; });
	ta.addEventListener('compositionend', () => {
		composing = false;
		onInput();
		refresh();
	});
	for (const ev of ['keyup', 'mouseup', 'focus', 'select'])
		ta.addEventListener(ev, () => updateCursor());
	document.addEventListener('selectionchange', () => {
		if (document.activeElement === ta)
			updateCursor();
	});
	ta.addEventListener('scroll', scheduleCursors);
	new ResizeObserver(scheduleCursors).observe(ta);
	window.addEventListener('pagehide', () => {
		// say goodbye: our cursor goes at once, the connection ends cleanly
		if (awareness && hub.connected && !readOnly) {
			awareness.setLocalState(null);
			sendAwareness();
		}
		hub.close();
	});
	// for the curious (and the tests): the live objects
	window.board = {
		room,
		get hub() { return hub; },
		get doc() { return doc; },
		get text() { return ytext.toString(); },
		get synced() { return synced; },
		get pending() { return outbox.length + (sending ? 1 : 0); },
		get status() { return $('status').dataset.state; },
		awarenessState: () => awareness.getLocalState(),
	};
	updateStatus();
}

main().catch((e) => {
	console.error('board:', e);
	notice(`The board failed to start: ${e.message}`);
});
