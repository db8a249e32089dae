// SPDX-License-Identifier: MIT
// The lobby written as plain Socket.IO client code, the way a Socket.IO
// user writes it: io(), socket.emit(event, data, ack), socket.on(event).
// The hub's gateway is the server (reached through this origin's
// /socket.io/, the session cookie authenticates): the namespace /lobby is
// the lobby backend (its methods answer through acks), and an event into a
// table's room is checked by that backend before anyone gets it (the ack
// is its verdict). The same page on hubio.js: app-hubio.js.
/* global io */
import { signedIn, logout } from '/examples/common/session.js';
import { createView } from './view.js';

const session = await signedIn(document.getElementById('main'));
const me = session.user.username;

const socket = io();              // rooms and their events
const lobby = io('/lobby');       // the lobby backend: tables, where

// An action at a table: socket.emit with an ack, as any Socket.IO app.
function act(room, event, data = {}) {
	return new Promise((resolve) => {
		socket.timeout(10000).emit(event, { room, ...data }, (err, ack) => {
			if (err)
				resolve({ ok: false, message: 'no answer' });
			else if (ack.ok)
				resolve({ ok: true, data: ack.data });
			else if (ack.error === 'unavailable')
				resolve({ ok: false, message: 'The lobby backend is not running.' });
			else
				resolve({ ok: false, message: ack.message || ack.error });
		});
	});
}

function where() {
	lobby.emit('where', {}, (w) => {
		if (w.ok)
			w.state ? view.setState(w.state) : view.clearTable();
	});
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

socket.on('connect', () => {
	view.setConn('online', 'online');
	socket.emit('join', 'games');
	lobby.emit('tables', {}, (t) => {
		if (!t.ok) {
			view.notice(t.error === 'unavailable' ? 'The lobby backend is not running.' : `tables: ${t.message || t.error}`);
			return;
		}
		view.setTables(t.tables);
		for (const x of t.tables)
			socket.emit('join', x.table);
		where();
	});
});
socket.on('disconnect', () => view.setConn('offline', 'reconnecting'));
socket.on('connect_error', (err) => view.setConn('offline', err.message));

// only the backend's announcements count (meta.from: who sent it)
const fromLobby = (meta) => meta && meta.from === 'lobby';
socket.on('tables', (data, meta) => fromLobby(meta) && view.setTables(data.tables));
socket.on('state', (data, meta) => fromLobby(meta) && view.setState(data));
socket.on('log', (data, meta) => fromLobby(meta) && view.log(data));
socket.on('started', (data, meta) => fromLobby(meta) && view.started(data));
socket.on('kicked', (data, meta) => fromLobby(meta) && meta.inbox && view.kicked(data));
socket.on('chat', (data, meta) => view.chat(meta.room, data, false));

document.getElementById('logout').addEventListener('click', logout);
window.lobbyPage = { socket, lobby, view };   // for the console (and the tests)
