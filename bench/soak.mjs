// SPDX-License-Identifier: MIT
// One client process of bench/soak.py: many authenticated hub clients of
// one kind, stock libraries (MQTT.js over WebSocket, or socket.io-client
// over WebSocket), each with a role:
//   idle  connected, subscribed to its inbox (MQTT) / connected (Socket.IO)
//   chat  member of the chat room: receives every message, and the process
//         sends chatRate messages per second from its members in turn
//   dash  a dashboard: subscribed to owntracks/+/+ (the fleet's fixes)
// Every 5 s one JSON line on stdout: counts since the start and the
// latencies (ms) seen since the last line (a bounded sample).
//
//   node bench/soak.mjs CONFIG.json
//   {"kind":"mqtt"|"sio","url":"ws://.../mqtt"|"http://...","room":"soakchat",
//    "connectRate":N,"chatRate":R,"clients":[{"user","token","role"}]}
import mqtt from 'mqtt';
import { io } from 'socket.io-client';
import fs from 'node:fs';

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const SAMPLE_MAX = 5000;
const stats = {
	connected: 0, everConnected: 0, connectErrors: 0, drops: 0, reconnects: 0,
	chatSent: 0, chatRecv: 0, fixRecv: 0, sendErrors: 0, protocolErrors: 0,
};
let latFix = [], latChat = [];
const errors = new Map(); // message -> count (first few kinds)

function note(kind, err) {
	const k = kind + ': ' + String((err && err.message) || err).slice(0, 120);
	errors.set(k, (errors.get(k) || 0) + 1);
}

function sample(arr, v) {
	if (arr.length < SAMPLE_MAX) arr.push(v);
	else arr[Math.floor(Math.random() * SAMPLE_MAX)] = v;
}

const chatters = [];
let stopping = false;

function mqttClient(c, i) {
	const cl = mqtt.connect(cfg.url, {
		username: c.user, password: c.token, clientId: `${c.user}-soak`,
		protocolVersion: 4, keepalive: 60, reconnectPeriod: 2000, connectTimeout: 30000,
	});
	let up = false, ever = false;
	cl.on('connect', () => {
		if (!up) stats.connected++;
		up = true;
		if (ever) stats.reconnects++;
		else stats.everConnected++;
		ever = true;
		const filters = c.role === 'dash' ? ['owntracks/+/+']
			: c.role === 'chat' ? [`rooms/${cfg.room}/ev/+/+`]
				: [`users/${c.user}/inbox/+/+`];
		cl.subscribe(filters, { qos: 0 }, (err, granted) => {
			if (err || (granted || []).some((g) => g.qos >= 0x80)) {
				stats.protocolErrors++;
				note('subscribe refused', err || 'denied');
			}
		});
	});
	cl.on('close', () => {
		if (up && !stopping) { stats.connected--; stats.drops++; up = false; }
	});
	cl.on('error', (e) => { stats.connectErrors++; note('mqtt error', e); });
	cl.on('message', (topic, payload) => {
		const now = Date.now();
		try {
			if (topic.startsWith('owntracks/')) {
				stats.fixRecv++;
				const j = JSON.parse(payload);
				if (j._ts_ms) sample(latFix, now - j._ts_ms);
			} else if (topic.startsWith('rooms/')) {
				stats.chatRecv++;
				const j = JSON.parse(payload);
				if (j.ts) sample(latChat, now - j.ts);
			}
		} catch (e) { stats.protocolErrors++; note('payload', e); }
	});
	if (c.role === 'chat') {
		chatters.push(() => {
			if (!cl.connected) return;
			cl.publish(`rooms/${cfg.room}/ev/chat message/${c.user}`,
				JSON.stringify({ ts: Date.now(), text: 'soak ' + i }), { qos: 0 },
				(err) => { if (err) { stats.sendErrors++; note('publish', err); } });
			stats.chatSent++;
		});
	}
	return cl;
}

function sioClient(c, i) {
	const s = io(cfg.url, {
		auth: { token: c.token }, transports: ['websocket'], reconnectionDelayMax: 5000,
		timeout: 30000,
	});
	let up = false, ever = false;
	s.on('connect', () => {
		if (!up) stats.connected++;
		up = true;
		if (ever) stats.reconnects++;
		else stats.everConnected++;
		ever = true;
		if (c.role === 'chat') {
			s.emit('join', cfg.room, (res) => {
				if (!res || res.ok === false) note('join refused', JSON.stringify(res));
			});
		}
	});
	s.on('disconnect', (reason) => {
		if (up && !stopping) {
			stats.connected--;
			stats.drops++;
			up = false;
			note('disconnect', reason);
		}
	});
	s.on('connect_error', (e) => { stats.connectErrors++; note('connect_error', e); });
	s.on('chat message', (data) => {
		stats.chatRecv++;
		if (data && data.ts) sample(latChat, Date.now() - data.ts);
	});
	if (c.role === 'chat') {
		chatters.push(() => {
			if (!s.connected) return;
			s.emit('chat message', { room: cfg.room, ts: Date.now(), text: 'soak ' + i });
			stats.chatSent++;
		});
	}
	return s;
}

// connect at connectRate per second
const all = [];
let next = 0;
const make = cfg.kind === 'mqtt' ? mqttClient : sioClient;
const ramp = setInterval(() => {
	for (let k = 0; k < Math.max(1, cfg.connectRate / 10) && next < cfg.clients.length; k++) {
		all.push(make(cfg.clients[next], next));
		next++;
	}
	if (next >= cfg.clients.length) clearInterval(ramp);
}, 100);

// chat: chatRate messages per second from the members in turn
let turn = 0;
if (cfg.chatRate > 0) {
	setInterval(() => {
		if (chatters.length) chatters[turn++ % chatters.length]();
	}, 1000 / cfg.chatRate);
}

function report(final) {
	const line = {
		t: Date.now() / 1000, kind: cfg.kind, n: cfg.clients.length, started: next,
		...stats, latFix, latChat, final: !!final,
		errors: Object.fromEntries([...errors.entries()].slice(0, 20)),
		rssKb: Math.round(process.memoryUsage().rss / 1024),
	};
	process.stdout.write(JSON.stringify(line) + '\n');
	latFix = [];
	latChat = [];
}
const reporter = setInterval(report, 5000);

process.stdin.on('data', () => {});
process.stdin.on('end', () => {
	stopping = true;
	clearInterval(reporter);
	report(true);
	for (const c of all) {
		try { if (cfg.kind === 'mqtt') c.end(true); else c.disconnect(); } catch (e) { /* */ }
	}
	setTimeout(() => process.exit(0), 500);
});
