// SPDX-License-Identifier: MIT
// The game lobby's backend: the rules of lobby.mjs on the hub, through the
// Node SDK. Configured by its environment only (examples/README.md):
//
//   HUB_MQTT_URL, HUB_SERVICE (lobby), HUB_KEY    the hub and its service key
//   LOBBY_TABLES        the tables file (default ../tables.conf)
//   LOBBY_GRACE_S       how long a seat waits for a player whose connection
//                       ended (20; the hub's own presence grace comes first)
//   LOBBY_COUNTDOWN_S   the countdown once everybody is ready (5)
//   LOBBY_MIN_PLAYERS   players needed to start (2)
//   LOBBY_KICK_BAN_S    a removed player may not sit there again before (60)
//   LOBBY_QUIET=1       no line per action
//
// Its state (who sits where) is in memory: a restart empties the tables
// (HUB_DATA is not used). One process: the rules need one view of the
// tables.
//
// What it uses of the hub (docs/examples.md walks through it):
//   calls      tables, where                         (hub.handle)
//   hooks      sit, stand, ready, kick, finish, chat (hub.hook: the table rooms are hooked)
//   emits      state, log, started into the table rooms; tables into "games"
//              (at most 5 a second); kicked to the removed player's inbox
//              (hub.to, hub.toUser)
//   presence   left / joined notices                  (hub.on)
import { readFileSync } from 'node:fs';
import { connect, CallError } from '../../../sdk/node/index.js';
import { Lobby, parseTables } from './lobby.mjs';

function number(name, def, min, max, what) {
	const raw = process.env[name];
	if (raw === undefined || raw === '')
		return def;
	const v = Number(raw);
	if (!Number.isFinite(v) || v < min || v > max || (what === 'count' && !Number.isInteger(v))) {
		console.error(`${name}=${raw}: a ${what === 'count' ? 'whole number' : 'number of seconds'} in ${min}..${max} expected`);
		process.exit(2);
	}
	return v;
}
const seconds = (name, def, min, max) => Math.round(number(name, def, min, max, 'seconds') * 1000);

const env = process.env;
for (const k of ['HUB_MQTT_URL', 'HUB_SERVICE', 'HUB_KEY']) {
	if (!env[k]) {
		console.error(`${k} is not set (examples/README.md: the stack or the test harness sets it)`);
		process.exit(2);
	}
}
const tablesFile = env.LOBBY_TABLES || new URL('../tables.conf', import.meta.url).pathname;
let tables;
try {
	tables = parseTables(readFileSync(tablesFile, 'utf8'));
} catch (e) {
	console.error(`${tablesFile}: ${e.message}`);
	process.exit(2);
}
const quiet = env.LOBBY_QUIET === '1';
const minPlayers = number('LOBBY_MIN_PLAYERS', 2, 1, 64, 'count');

const hub = await connect({ url: env.HUB_MQTT_URL, service: env.HUB_SERVICE, key: env.HUB_KEY });
hub.on('error', (e) => console.log(`error: ${e.message}`));
hub.on('disconnect', () => console.log('the hub connection dropped; reconnecting'));

const send = (p) => p.catch((e) => console.log(`emit failed: ${e.message}`));

// The list of tables goes to everyone in the lobby: at most 5 times a
// second (the newest list), not once per change at every table.
const LIST_MS = 200;
let list = null;
let listTimer = null;
let listSent = 0;
function toLobby(event, data) {
	list = { event, data };
	if (listTimer)
		return;
	listTimer = setTimeout(() => {
		listTimer = null;
		listSent = Date.now();
		const l = list;
		list = null;
		send(hub.to('games').emit(l.event, l.data));
	}, Math.max(0, listSent + LIST_MS - Date.now()));
}
const lobby = new Lobby({
	tables,
	graceMs: seconds('LOBBY_GRACE_S', 20, 0, 3600),
	countdownMs: seconds('LOBBY_COUNTDOWN_S', 5, 0, 600),
	minPlayers,
	kickBanMs: seconds('LOBBY_KICK_BAN_S', 60, 0, 86400),
	out: {
		toTable: (room, event, data) => send(hub.to(room).emit(event, data)),
		toLobby,
		toUser: (user, event, data) => send(hub.toUser(user).emit(event, data)),
	},
});

// calls: what a page asks at start (any logged-in user may call)
for (const method of ['tables', 'where']) {
	hub.handle(method, (data, ctx) => {
		const answer = lobby.call(method, data, ctx);
		if (answer.ok === false)
			throw new CallError(answer.error, answer.message);
		return answer;
	});
}

// hooks: every event into a table room waits for this verdict
hub.hook((ev, ctx) => {
	const verdict = lobby.hook(ev.room, ev.event, ev.data, ctx);
	if (!quiet && ev.event !== 'chat')
		console.log(`${ev.room} ${ctx.user} ${ev.event}: ${verdict.accept ? 'ok' : verdict.reason}`);
	return verdict;
});

// presence: a player whose last connection ended keeps the seat LOBBY_GRACE_S
const isTable = (room) => lobby.tables.has(room);
hub.on('left', ({ room, user, reason }) => {
	if (isTable(room))
		lobby.presenceLeft(room, user, reason);
});
hub.on('joined', ({ room, user }) => {
	if (isTable(room))
		lobby.presenceJoined(room, user);
});
// the presence subscription is made: members() returns after the broker
// handled every packet sent before it (refused when there is no room
// "games": setup.sh makes it)
await hub.members('games').catch((e) => console.log(`room games: ${e.message} (run setup.sh)`));

console.log(`ready: lobby with ${tables.length} tables (${tables.map((t) => `${t.room}:${t.seats}`).join(' ')})`);

let stopping = false;
async function stop(sig) {
	if (stopping)
		return;
	stopping = true;
	console.log(`${sig}: stopping`);
	lobby.close();
	clearTimeout(listTimer);
	await hub.close({ timeout: 5000 });
	process.exit(0);
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
