// SPDX-License-Identifier: MIT
// The lobby on hubio.js: one MQTT connection over WebSocket at this page's
// own /mqtt, opened by the session cookie. The table rooms are hooked to
// the lobby backend, so an action (an event into the table's room) settles
// with the backend's verdict; the page only shows what the backend
// announces (view.js). The same page in plain Socket.IO: app-sio.js.
import * as hubio from '/lib/hubio.js';
import { signedIn, logout } from '/examples/common/session.js';
import { createView } from './view.js';

const session = await signedIn(document.getElementById('main'));
const me = session.user.username;
// rooms a backend checks: emits into them wait for its verdict
const hooked = session.rooms.filter((r) => r.hooked).map((r) => r.room);
const hub = hubio.connect({ username: me, hooked });
const joined = new Set();

// An action at a table: an event into its room, settled by the backend.
async function act(room, event, data = {}) {
	try {
		const verdict = await hub.timeout(10000).emit(room, event, data);
		return { ok: true, data: verdict && verdict.data };
	} catch (e) {
		return { ok: false, message: e.detail ||
			(e.code === 'unavailable' ? 'The lobby backend is not running.' : e.message) };
	}
}

const view = createView({
	me,
	actions: {
		sit: async (room) => {
			const r = await act(room, 'sit');
			if (r.ok)
				where();
			return r;
		},
		stand: (room) => act(room, 'stand'),
		ready: (room, ready) => act(room, 'ready', { ready }),
		kick: (room, user) => act(room, 'kick', { user }),
		finish: (room) => act(room, 'finish'),
		chat: (room, text) => act(room, 'chat', { text }),
	},
});

async function join(room) {
	if (joined.has(room))
		return;
	joined.add(room);
	try {
		await hub.join(room);
	} catch (e) {
		joined.delete(room);
		view.notice(`cannot join ${room}: ${e.message}`);
	}
}

async function where() {
	const w = await hub.call('lobby', 'where', {});
	if (w.ok)
		w.state ? view.setState(w.state) : view.clearTable();
}

// what a page needs at start, and after every reconnect
async function load() {
	await join('games');
	const t = await hub.call('lobby', 'tables', {});
	if (!t.ok) {
		view.notice(t.error === 'unavailable' ? 'The lobby backend is not running.' : `tables: ${t.message || t.error}`);
		return;
	}
	view.setTables(t.tables);
	await Promise.all(t.tables.map((x) => join(x.table)));
	await where();
}

// only the backend's announcements count (the hook refuses these events
// from players; the check here is a second lock)
const fromLobby = (meta) => meta.from === 'lobby';
hub.on('tables', (d, meta) => fromLobby(meta) && view.setTables(d.tables));
hub.on('state', (d, meta) => fromLobby(meta) && view.setState(d));
hub.on('log', (d, meta) => fromLobby(meta) && view.log(d));
hub.on('started', (d, meta) => fromLobby(meta) && view.started(d));
hub.on('kicked', (d, meta) => meta.inbox && fromLobby(meta) && view.kicked(d));
hub.on('chat', (d, meta) => view.chat(meta.room, d, false));

hub.on('connect', () => {
	view.setConn('online', 'online');
	load().catch((e) => view.notice(e.message));
});
hub.on('disconnect', () => view.setConn('offline', 'reconnecting'));
hub.on('error', (e) => {
	if (e.status === 401)
		location.reload();
});

// a page that goes away says goodbye: its table sees "closed the page"
addEventListener('pagehide', () => hub.close());
document.getElementById('logout').addEventListener('click', async () => {
	await hub.close();
	logout();
});
window.lobbyPage = { hub, view };   // for the console (and the tests)
