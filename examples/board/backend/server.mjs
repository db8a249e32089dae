// SPDX-License-Identifier: MIT
// The board's backend: a service on the hub's Node SDK that keeps each
// board's Yjs document, checks and saves every change before the room sees
// it, and answers `sync` so a late joiner, a refresh or a client back from
// offline gets what it lacks. Configured by the environment only:
//
//   HUB_MQTT_URL  the broker (mqtt://127.0.0.1:1883)
//   HUB_SERVICE   the service key's name (board)
//   HUB_KEY       the service key (required)
//   HUB_API       hubd's base URL (http://127.0.0.1:8080; unused here)
//   HUB_DATA      a directory of its own for the documents (./data)
//   BOARD_MAX_UPDATE, BOARD_MAX_DOC, BOARD_MAX_AWARENESS, BOARD_MAX_DOCS
//                 the bounds (board.mjs DEFAULT_LIMITS)
//
// Rooms hooked to the service (`hubctl room hook ROOM board`) are boards:
// every event into one comes here first (a hook), and only what passes
// reaches the members:
//   update     a Yjs update: checked (size, decodable, no gap, the
//              document's size), applied, fdatasync'd, then accepted as is
//   awareness  a cursor: re-stamped with the sender's real name and colour
// The call sync {room, sv} answers with what the caller lacks, to members
// of the room only (the hub's presence says who is in it).
// SIGTERM: no new calls, the ones under way finish, logs are folded into
// snapshots, exit 0.
import path from 'node:path';
import { connect, accept, reject, CallError } from '../../../sdk/node/index.js';
import { Board, BoardError, DEFAULT_LIMITS, fromBase64, stampAwareness, toBase64 } from './board.mjs';
import { DocStore } from './store.mjs';

const ROOM_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** how long sync waits for the caller's presence to show (a fresh connection's
 * joined notice follows its CONNACK within a second) */
const MEMBER_WAIT_MS = 2500;
/** rooms whose member lists are followed at once */
const MEMBER_ROOMS_MAX = 4096;
/** a board unused this long may be closed to make room for another */
const IDLE_MS = 60 * 1000;

function log(...a) {
	console.log(new Date().toISOString(), 'board:', ...a);
}

function envInt(name, dflt) {
	const v = process.env[name];
	if (v === undefined || v === '')
		return dflt;
	const n = Number(v);
	if (!Number.isInteger(n) || n <= 0) {
		console.error(`board: ${name}=${v} is not a positive integer`);
		process.exit(2);
	}
	return n;
}

const cfg = {
	url: process.env.HUB_MQTT_URL || 'mqtt://127.0.0.1:1883',
	service: process.env.HUB_SERVICE || 'board',
	key: process.env.HUB_KEY,
	http: process.env.HUB_API || 'http://127.0.0.1:8080',
	data: path.resolve(process.env.HUB_DATA || 'data'),
	limits: {
		update: envInt('BOARD_MAX_UPDATE', DEFAULT_LIMITS.update),
		doc: envInt('BOARD_MAX_DOC', DEFAULT_LIMITS.doc),
		awareness: envInt('BOARD_MAX_AWARENESS', DEFAULT_LIMITS.awareness),
		docs: envInt('BOARD_MAX_DOCS', DEFAULT_LIMITS.docs),
	},
};
if (!cfg.key) {
	console.error('board: HUB_KEY is not set (the service key: hubctl servicekey add board)');
	process.exit(2);
}

// ---------------------------------------------------------------- boards

/** room -> {board, store, ready} */
const boards = new Map();

function evictOne() {
	let victim = null;
	for (const [room, e] of boards) {
		if (e.store.writing || e.store.queue.length || Date.now() - e.board.lastUse < IDLE_MS)
			continue;
		if (!victim || e.board.lastUse < victim[1].board.lastUse)
			victim = [room, e];
	}
	if (!victim)
		return false;
	boards.delete(victim[0]);
	victim[1].store.close({ compact: true }).catch((e) => log('closing', victim[0], e.message));
	return true;
}

/** The board of a room, loaded from disk on first use. */
async function boardOf(room) {
	let e = boards.get(room);
	if (!e) {
		if (boards.size >= cfg.limits.docs && !evictOne())
			throw new BoardError('busy', `the backend holds ${cfg.limits.docs} boards already`);
		const board = new Board(room, cfg.limits);
		const store = new DocStore(path.join(cfg.data, 'boards'), room, () => board.state());
		e = { board, store, ready: null };
		e.ready = store.load().then((updates) => {
			const bad = board.load(updates);
			if (bad || store.cut)
				log(`room ${room}: ${bad} unreadable update(s) skipped, ${store.cut} byte(s) of a cut-off write dropped`);
		});
		e.ready.catch((err) => {
			log(`room ${room}: cannot load: ${err.message}`);
			if (boards.get(room) === e)
				boards.delete(room);
		});
		boards.set(room, e);
	}
	await e.ready;
	return e;
}

// --------------------------------------------------------------- members

/**
 * Who is in a room, from the hub's presence (rooms/{room}/presence/+ and the
 * joined/left notices): the members online now, whatever their level. A
 * sync caller is online (it is calling), so "not there" means "not a
 * member" once its joined notice had time to come.
 */
class Members {
	constructor(hub) {
		this.hub = hub;
		this.rooms = new Map(); // room -> {set, ready}
		this.waiters = new Set(); // {room, user, done}
		hub.on('joined', ({ room, user }) => {
			this.rooms.get(room)?.set.add(user);
			for (const w of this.waiters)
				if (w.room === room && w.user === user)
					w.done(true);
		});
		hub.on('left', ({ room, user }) => this.rooms.get(room)?.set.delete(user));
	}

	async has(room, user) {
		let r = this.rooms.get(room);
		if (!r) {
			if (this.rooms.size >= MEMBER_ROOMS_MAX)
				this.rooms.delete(this.rooms.keys().next().value);
			r = { set: new Set(), ready: null };
			r.ready = this.hub.members(room).then((list) => list.forEach((u) => r.set.add(u)));
			this.rooms.set(room, r);
			r.ready.catch(() => this.rooms.get(room) === r && this.rooms.delete(room));
		}
		await r.ready;
		if (r.set.has(user))
			return true;
		return new Promise((resolve) => {
			const w = { room, user };
			const timer = setTimeout(() => w.done(false), MEMBER_WAIT_MS);
			w.done = (v) => {
				clearTimeout(timer);
				this.waiters.delete(w);
				resolve(v);
			};
			this.waiters.add(w);
		});
	}
}

// ------------------------------------------------------------------ hub

const hub = await connect({ url: cfg.url, service: cfg.service, key: cfg.key, http: cfg.http });
hub.on('error', (e) => log('hub:', e.message));
const members = new Members(hub);
let stopping = false;

async function onUpdate(room, data) {
	const u = fromBase64(data && data.u, cfg.limits.update, 'a change');
	const { board, store } = await boardOf(room);
	board.check(u);
	board.apply(u);
	try {
		await store.append(u);
	} catch (e) {
		// nothing is accepted that is not on disk; a disk that fails
		// writes ends the process (the room's events are refused,
		// "unavailable", until it is back)
		log(`room ${room}: cannot save: ${e.message}; stopping`);
		setTimeout(() => process.exit(1), 100);
		throw new BoardError('unavailable', 'the board cannot save changes now');
	}
	return accept();
}

function onAwareness(data, ctx) {
	const raw = fromBase64(data && data.a, cfg.limits.awareness, 'a presence message');
	const { bytes } = stampAwareness(raw, ctx, cfg.limits.awareness);
	return accept({ a: toBase64(bytes) });
}

hub.hook(async (ev, ctx) => {
	try {
		if (ev.event === 'update')
			return await onUpdate(ev.room, ev.data);
		if (ev.event === 'awareness')
			return onAwareness(ev.data, ctx);
		return reject(`bad_request: a board takes 'update' and 'awareness' events, not '${ev.event}'`);
	} catch (e) {
		if (e instanceof BoardError)
			return reject(e.reason);
		log(`room ${ev.room}: ${ev.event} from ${ctx.user}:`, e);
		return reject('internal: the board failed to check the change');
	}
});

hub.handle('sync', async (data, ctx) => {
	const room = data && data.room;
	if (typeof room !== 'string' || !ROOM_RE.test(room))
		throw new CallError('bad_request', 'room must be a room name');
	let sv;
	try {
		sv = fromBase64(data.sv ?? '', cfg.limits.doc, 'sv');
		if (!sv.length)
			sv = new Uint8Array([0]); // "nothing yet": the whole document
	} catch (e) {
		throw new CallError(e.code, e.message);
	}
	if (!(await members.has(room, ctx.user)))
		throw new CallError('forbidden', `you are not a member of ${room}`);
	try {
		const { board } = await boardOf(room);
		const d = board.diff(sv);
		return { ok: true, room, update: toBase64(d.update), sv: toBase64(d.sv),
			size: board.held, limits: { update: cfg.limits.update, doc: cfg.limits.doc } };
	} catch (e) {
		if (e instanceof BoardError)
			throw new CallError(e.code, e.message);
		throw e;
	}
});

async function stop(sig) {
	if (stopping)
		return;
	stopping = true;
	log(`${sig}: stopping (finishing the calls under way)`);
	const force = setTimeout(() => {
		log('did not finish in 8 s; exiting');
		process.exit(1);
	}, 8000);
	// the SDK's close() waits for the broker to confirm the unsubscribe,
	// which never comes when the broker went first (Ctrl-C reaches the
	// whole stack at once): the documents are saved either way
	await Promise.race([hub.close({ timeout: 3000 }), new Promise((r) => setTimeout(r, 4000))]);
	for (const [room, e] of boards) {
		try {
			await e.ready;
			await e.store.close({ compact: true });
			const st = e.store.stats;
			log(`room ${room}: ${st.appends} change(s) saved in ${st.syncs} fdatasync(s), ` +
				`${st.compactions} compaction(s); document ${e.board.size()} bytes`);
		} catch (err) {
			log(`room ${room}: closing: ${err.message}`);
		}
	}
	clearTimeout(force);
	log('stopped');
	process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

// the stack and the test harness wait for this line (examples/README.md)
console.log(`ready: service ${cfg.service} on ${cfg.url}; documents in ${path.join(cfg.data, 'boards')}; ` +
	`limits: change ${cfg.limits.update} B, document ${cfg.limits.doc} B, ${cfg.limits.docs} boards`);
