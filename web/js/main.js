// SPDX-License-Identifier: MIT
// The dashboard's entry point: the login page, then the app (rooms and
// chat, presence, live map, notifications) on one hubio connection over
// MQTT/WebSocket at this origin's /mqtt, opened by the session cookie
// (hubd's front). Logging out revokes the session and closes the connection.
// Rooms granted or revoked while the page is open show at once: the hub
// tells the user on users/{me}/sys/rooms, and the page re-reads its rooms
// from GET api/session. A page that goes away says goodbye (a clean MQTT
// DISCONNECT on pagehide), so its rooms see "left", not "left (network)".
import * as hubio from '../lib/hubio.js';
import * as api from './api.js';
import { $ } from './dom.js';
import { Chat } from './chat.js';
import { LiveMap } from './map.js';
import { Notifications } from './notify.js';

let app = null;              // {hub, chat, map, notes, user}
let retryTimer = null;

function setConn(state, text) {
	const c = $('conn');
	c.dataset.state = state;
	c.textContent = text || state;
}

// ---------------------------------------------------------------- login

function showLogin(message) {
	$('app-view').hidden = true;
	$('who').hidden = true;
	$('login-view').hidden = false;
	setConn('offline', 'signed out');
	const err = $('login-error');
	err.hidden = !message;
	err.textContent = message || '';
	document.title = 'hub · sign in';
	$(($('login-username').value ? 'login-password' : 'login-username')).focus();
}

function loginMessage(e) {
	switch (e.status) {
	case 401:
		return 'Wrong username or password.';
	case 429:
		return `Too many failed attempts. Try again in ${e.retryAfter ?? 60} seconds.`;
	case 503:
		return e.code === 'busy'
			? `The hub is busy. Try again in ${e.retryAfter ?? 'a few'} seconds.`
			: 'The hub is not available right now. Try again shortly.';
	case 400:
		return 'Enter your username and password.';
	case 0:
		return 'Cannot reach the hub. Check your connection.';
	default:
		return `Sign-in failed (${e.message}).`;
	}
}

/* Keep the button disabled while a Retry-After runs, counting down. */
function holdSubmit(seconds) {
	const btn = $('login-submit');
	clearInterval(retryTimer);
	let left = seconds;
	btn.disabled = true;
	btn.textContent = `Wait ${left} s`;
	retryTimer = setInterval(() => {
		left--;
		if (left <= 0) {
			clearInterval(retryTimer);
			btn.disabled = false;
			btn.textContent = 'Sign in';
			return;
		}
		btn.textContent = `Wait ${left} s`;
	}, 1000);
}

async function onLogin(e) {
	e.preventDefault();
	const user = $('login-username').value.trim();
	const pass = $('login-password').value;
	const err = $('login-error');
	if (!user || !pass) {
		err.hidden = false;
		err.textContent = 'Enter your username and password.';
		return;
	}
	const btn = $('login-submit');
	btn.disabled = true;
	btn.textContent = 'Signing in…';
	try {
		await api.login(user, pass);
		$('login-password').value = '';
		err.hidden = true;
		btn.disabled = false;
		btn.textContent = 'Sign in';
		await start();
	} catch (ex) {
		err.hidden = false;
		err.textContent = loginMessage(ex);
		btn.disabled = false;
		btn.textContent = 'Sign in';
		if ((ex.status === 429 || ex.status === 503) && ex.retryAfter)
			holdSubmit(ex.retryAfter);
		$('login-password').select();
	}
}

// ------------------------------------------------------------------ app

async function start() {
	let session;
	let config;
	try {
		// ?optional=1: no session is a 204, not a 401 in the console; the
		// config only says how to draw the map (its base layer)
		[session, config] = await Promise.all([api.sessionIfAny(),
			api.config().catch(() => ({}))]);
	} catch (e) {
		if (e.status === 401) {
			showLogin();
			return;
		}
		showLogin(`The hub is not ready (${e.message}).`);
		return;
	}
	if (!session || !session.user) {
		showLogin();
		return;
	}
	const user = session.user;
	$('login-view').hidden = true;
	$('app-view').hidden = false;
	$('who').hidden = false;
	$('me-name').textContent = user.display_name && user.display_name !== user.username
		? `${user.display_name} (${user.username})` : user.username;
	document.title = `hub · ${user.username}`;
	setConn('connecting', 'connecting…');

	// MQTT over WebSocket at this origin's /mqtt: the session cookie opens
	// it (no token); a session that ended stops it with a 401 error
	const hub = hubio.connect(hubio.brokerUrl(), { username: user.username });
	hub.on('connect', () => setConn('connected', 'connected'));
	hub.on('disconnect', () => setConn('reconnecting', 'connection lost'));
	hub.on('reconnect_attempt', (n) => setConn('reconnecting', `reconnecting (attempt ${n})…`));
	hub.on('error', (e) => {
		if (e && e.status === 401 && app && app.hub === hub) {
			stop();
			showLogin('Your session has ended. Sign in again.');
		}
	});
	const chat = new Chat(hub, user.username, session.rooms || []);
	const map = new LiveMap(hub, { tiles: config.map_tiles, attribution: config.map_attribution });
	const notes = new Notifications(hub);
	const a = { hub, chat, map, notes, user, roomSyncs: 0 };
	app = a;
	// the hub's word that a membership of ours changed (only we may read
	// users/{me}/sys/...); after a reconnect, what changed meanwhile
	const notices = `users/${user.username}/sys/`;
	hub.on('mqtt', (data, meta) => {
		if (meta && meta.topic === `${notices}rooms`)
			syncRooms(a);
	});
	hub.on('connect', (info) => {
		if (info && info.reconnect)
			syncRooms(a);
	});
	hub.subscribe(`${notices}+`).catch(() => {});
	// a debug and test handle (read-only use): window.hubDashboard
	window.hubDashboard = app;
	$('composer-input').focus();
}

/* Read the rooms again (GET api/session is the truth) and show them: one
 * read at a time, and one more when asked again meanwhile (a burst of
 * grants makes two reads, not one each). */
async function syncRooms(a) {
	if (a.syncing) {
		a.syncAgain = true;
		return;
	}
	a.syncing = true;
	try {
		do {
			a.syncAgain = false;
			let s;
			try {
				s = await api.session();
			} catch (e) {
				if (e.status === 401 && app === a) {
					stop();
					showLogin('Your session has ended. Sign in again.');
				}
				return; // else: again on the next notice or reconnect
			}
			if (app !== a)
				return;
			// rooms came or went: so may vehicles (the devices of a room)
			if (a.chat.setRooms(s.rooms || []))
				a.map.reload();
			a.roomSyncs++;
		} while (a.syncAgain);
	} finally {
		a.syncing = false;
	}
}

function stop() {
	if (!app)
		return Promise.resolve();
	const { hub, chat, map, notes } = app;
	app = null;
	window.hubDashboard = null;
	chat.destroy();
	map.destroy();
	notes.destroy();
	return hub.close();
}

async function onLogout() {
	const btn = $('logout');
	btn.disabled = true;
	try {
		await api.logout();
	} catch {
		// the session may be gone already; we sign out locally anyway
	}
	await stop();
	btn.disabled = false;
	showLogin();
}

// ----------------------------------------------------------------- boot

$('login-form').addEventListener('submit', onLogin);
$('logout').addEventListener('click', onLogout);
// A page going away closes its connection cleanly: close() writes the
// MQTT DISCONNECT at once (no timer runs after pagehide). A page kept in
// the back/forward cache starts afresh when it is shown again.
window.addEventListener('pagehide', (e) => {
	if (!app)
		return;
	if (e.persisted)
		stop();
	else
		app.hub.close();
});
window.addEventListener('pageshow', (e) => {
	if (e.persisted && !app)
		start();
});
start();
