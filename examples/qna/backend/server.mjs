// SPDX-License-Identifier: MIT
// The live Q&A's backend: the rules of qna.mjs on the hub, through the Node
// SDK, with its own store. Configured by its environment only
// (examples/README.md):
//
//   HUB_MQTT_URL, HUB_SERVICE (qna), HUB_KEY   the hub and its service key
//   HUB_DATA             its store: HUB_DATA/qna.json (questions, votes, the poll)
//   QNA_ROOM             the Q&A's room (qna)
//   QNA_MODERATORS       users who moderate besides the hub's admins (comma separated)
//   QNA_MAX_QUESTIONS    questions kept, hidden ones too (200)
//   QNA_ASK_PER_MINUTE   questions a user may ask a minute (3)
//
// What it uses of the hub (docs/examples.md walks through it):
//   hooks      ask, vote, unvote, pick; answer, hide, unhide, pin, poll,
//              pollclose for moderators: the room is hooked, so each waits
//              for this verdict, and members get the backend's data
//   calls      state: what a page shows at start, for the room's members
//   inbox      mine: a voter's own votes and poll answer, to all its tabs
//   presence   who is a member online (the state call's check)
//
// A change is in the store before its verdict goes out (group commit: the
// changes made while one write runs go out with the next), so what the
// audience saw survives a restart of the backend and a reload of the page.
import { mkdirSync, readFileSync, renameSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import path from 'node:path';
import { connect, CallError, validName } from '../../../sdk/node/index.js';
import { Qna } from './qna.mjs';

const env = process.env;
for (const k of ['HUB_MQTT_URL', 'HUB_SERVICE', 'HUB_KEY', 'HUB_DATA']) {
	if (!env[k]) {
		console.error(`${k} is not set (examples/README.md: the stack or the test harness sets it)`);
		process.exit(2);
	}
}
function count(name, def, min, max) {
	const raw = env[name];
	if (raw === undefined || raw === '')
		return def;
	const v = Number(raw);
	if (!Number.isInteger(v) || v < min || v > max) {
		console.error(`${name}=${raw}: a whole number in ${min}..${max} expected`);
		process.exit(2);
	}
	return v;
}
const room = env.QNA_ROOM || 'qna';
if (!validName(room)) {
	console.error(`QNA_ROOM=${room}: not a room name`);
	process.exit(2);
}
const moderators = new Set((env.QNA_MODERATORS || '').split(',').map((s) => s.trim()).filter(Boolean));

// ---------------------------------------------------------------- the store

mkdirSync(env.HUB_DATA, { recursive: true });
const file = path.join(env.HUB_DATA, 'qna.json');
let saved;
try {
	saved = JSON.parse(readFileSync(file, 'utf8'));
} catch (e) {
	if (e.code !== 'ENOENT') {
		// keep what cannot be read for a look, and start afresh
		const aside = `${file}.unreadable-${Date.now()}`;
		renameSync(file, aside);
		console.log(`${file}: ${e.message}; kept as ${aside}, starting empty`);
	}
}
const qna = new Qna({
	moderators,
	maxQuestions: count('QNA_MAX_QUESTIONS', 200, 1, 10000),
	askPerMinute: count('QNA_ASK_PER_MINUTE', 3, 1, 1000),
});
if (saved) {
	try {
		qna.load(saved);
	} catch (e) {
		console.error(`${file}: ${e.message}`);
		process.exit(1);
	}
}

// Group commit: persist() resolves once a write that began after the call
// is on disk (written, fsynced, renamed into place).
let writing = false;
let waiters = [];
async function writeStore() {
	const tmp = `${file}.tmp`;
	const fh = await open(tmp, 'w', 0o600);
	try {
		await fh.writeFile(JSON.stringify(qna.save()));
		await fh.sync();
	} finally {
		await fh.close();
	}
	await rename(tmp, file);
}
function persist() {
	return new Promise((resolve) => {
		waiters.push(resolve);
		if (!writing)
			flush();
	});
}
async function flush() {
	writing = true;
	while (waiters.length) {
		const batch = waiters;
		waiters = [];
		try {
			await writeStore();
		} catch (e) {
			console.log(`${file}: the store could not be written: ${e.message}`);
		}
		batch.forEach((r) => r());
	}
	writing = false;
}

// ---------------------------------------------------------------- the hub

const hub = await connect({ url: env.HUB_MQTT_URL, service: env.HUB_SERVICE, key: env.HUB_KEY });
hub.on('error', (e) => console.log(`error: ${e.message}`));
hub.on('disconnect', () => console.log('the hub connection dropped; reconnecting'));

// Who is a member online: the room's presence. A page's `state` call comes
// right after its connection, maybe before the hub's joined notice: wait
// for it a little (the hub sends it within a second), a bounded number of
// calls at once.
const online = new Set();
const expecting = new Map();     // user -> [resolve]
let waitingCalls = 0;
hub.on('joined', (n) => {
	if (n.room !== room)
		return;
	online.add(n.user);
	(expecting.get(n.user) || []).forEach((r) => r(true));
	expecting.delete(n.user);
});
hub.on('left', (n) => {
	if (n.room === room)
		online.delete(n.user);
});
// The room's members online now (its retained presence), one read at a
// time: at start, after every reconnect (notices may have been missed
// meanwhile), and before a state call is refused.
let reading = Promise.resolve();
function readMembers() {
	reading = reading.then(async () => {
		try {
			const now = await hub.members(room);
			online.clear();
			now.forEach((u) => online.add(u));
		} catch (e) {
			console.log(`room ${room}: ${e.message} (run setup.sh)`);
		}
	});
	return reading;
}
await readMembers();
hub.on('connect', () => readMembers());

async function isMember(user) {
	if (online.has(user))
		return true;
	if (waitingCalls >= 64)
		return false;
	waitingCalls++;
	let done, timer;
	const ok = await new Promise((resolve) => {
		done = resolve;
		expecting.set(user, [...(expecting.get(user) || []), resolve]);
		timer = setTimeout(() => resolve(online.has(user)), 1500);
	});
	clearTimeout(timer);
	if (!ok) {
		// missed notices (a reconnect of ours): ask the hub itself
		await readMembers();
	}
	waitingCalls--;
	const rest = (expecting.get(user) || []).filter((r) => r !== done);
	if (rest.length)
		expecting.set(user, rest);
	else
		expecting.delete(user);
	return ok || online.has(user);
}

hub.handle('state', async (data, ctx) => {
	if (!(await isMember(ctx.user)) && !qna.isModerator(ctx))
		throw new CallError('forbidden', `the Q&A is for the members of room ${room}`);
	return qna.state(ctx);
});

hub.hook(room, async (ev, ctx) => {
	const verdict = qna.hook(ev.event, ev.data, ctx);
	if (verdict.accept)
		await persist();
	// the voter's other tabs (and clients) learn its own votes: the
	// changes everyone gets say how many, not who
	if (verdict.accept && (ev.event === 'vote' || ev.event === 'unvote' || ev.event === 'pick'))
		hub.toUser(ctx.user).emit('mine', qna.mine(ctx)).catch((e) => console.log(`emit failed: ${e.message}`));
	if (ev.event !== 'vote' && ev.event !== 'unvote' && ev.event !== 'pick')
		console.log(`${ctx.user} ${ev.event}: ${verdict.accept ? 'ok' : verdict.reason}`);
	return verdict;
});

console.log(`ready: Q&A in room ${room}, ${qna.questions.size} questions from ${file}` +
	(moderators.size ? `, moderators ${[...moderators].join(', ')} and the admins` : ', moderated by the admins'));

let stopping = false;
async function stop(sig) {
	if (stopping)
		return;
	stopping = true;
	console.log(`${sig}: stopping`);
	await hub.close({ timeout: 5000 });
	await persist();
	process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
