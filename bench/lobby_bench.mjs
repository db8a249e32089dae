// SPDX-License-Identifier: MIT
// The load generator of bench/lobby_bench.py: PLAYERS players in one Node
// process, each an MQTT.js client (MQTT 5 over TCP, as hubio.js speaks it)
// or a stock socket.io-client through hub-bridge (WebSocket), seated at the
// lobby's tables (examples/lobby), acting at a steady rate:
//
//   lobby rounds: half the actions are table chat (an event into the hooked
//     table room: the backend's hook accepts it, the hub publishes it to the
//     other players), half toggle `ready` (the hook accepts it and the
//     backend announces the table's state and a feed line, `log`);
//   plain rounds (the baseline, side by side): the same chat in an
//     unhooked room of the same size, no backend on the path.
//
// Latency is measured inside this one process (one clock): from the send
// to each other player's receipt of the chat (its text is a nonce), and
// from the send of a `ready` to each other player's receipt of the
// backend's feed line for it; also the sender's ack (the verdict, or the
// PUBACK / gateway ack in plain rooms). Reads its configuration as JSON on
// stdin, prints one JSON result line per round and a last "done" line.
import mqtt from 'mqtt';
import { io } from 'socket.io-client';
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';

const cfg = JSON.parse(await new Promise((resolve) => {
	const rl = readline.createInterface({ input: process.stdin });
	rl.once('line', (l) => { rl.close(); resolve(l); });
}));
// {mqttUrl, sioUrl, players: [{user, token, table, plain, kind}], rate, seconds, rounds: ['plain', 'lobby', ...]}

const now = () => performance.now();
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');

let round = null;   // {mode, sent: Map(nonce -> t), ready: Map(user -> t), lat: {...}}

function record(kind, ms) {
	if (round)
		round.lat[kind].push(ms);
}

// me: the receiving player (its own event, which an MQTT client gets
// back from a hooked room, is not counted)
function onChat(data, me) {
	const s = round && data && typeof data.text === 'string' ? round.sent.get(data.text) : undefined;
	if (s !== undefined && s.user !== me)
		record('chat', now() - s.t);
}

function onLog(entry, me) {
	if (!round || !entry || (entry.type !== 'ready' && entry.type !== 'unready') || entry.user === me)
		return;
	const t = round.ready.get(`${entry.user}:${entry.type}`);
	if (t !== undefined)
		record('state', now() - t);
}

// ---------------------------------------------------------------- MQTT players

function mqttPlayer(p) {
	return new Promise((resolve, reject) => {
		const c = mqtt.connect(cfg.mqttUrl, {
			protocolVersion: 5, username: p.user, password: p.token, clean: true,
			clientId: `bench-${p.user}`, keepalive: 60, reconnectPeriod: 0, connectTimeout: 30000,
		});
		const verdicts = new Map();
		let n = 0;
		c.on('error', reject);
		c.on('message', (topic, payload, packet) => {
			const l = topic.split('/');
			if (l[0] === 'users' && l[2] === 'reply') {
				const k = packet.properties && packet.properties.correlationData
					? Buffer.from(packet.properties.correlationData).toString() : '';
				const done = verdicts.get(k);
				if (done) {
					verdicts.delete(k);
					done();
				}
				return;
			}
			if (l[0] !== 'rooms' || l[2] !== 'ev')
				return;
			let data;
			try {
				data = JSON.parse(payload.toString());
			} catch {
				return;
			}
			if (l[3] === 'chat')
				onChat(data, p.user);
			else if (l[3] === 'log' && l[4] === 'lobby')
				onLog(data, p.user);
		});
		c.once('connect', () => {
			c.stream.setNoDelay && c.stream.setNoDelay(true);
			c.subscribe([`rooms/${p.table}/ev/+/+`, `rooms/${p.plain}/ev/+/+`, 'rooms/games/ev/+/+',
				`users/${p.user}/reply/#`], { qos: 1, nl: true }, (err, granted) => {
				if (err || granted.some((g) => g.qos >= 0x80))
					return reject(err || new Error(`${p.user}: subscription refused`));
				resolve({
					// an emit into a hooked room: resolves on the verdict
					hooked(room, event, data) {
						const k = `v${++n}`;
						return new Promise((res) => {
							verdicts.set(k, res);
							c.publish(`rooms/${room}/ev/${event}/${p.user}`, JSON.stringify(data), {
								qos: 1, properties: { responseTopic: `users/${p.user}/reply/bench`,
									correlationData: Buffer.from(k) },
							});
						});
					},
					// an emit into an unhooked room: resolves on the PUBACK
					plain(room, event, data) {
						return new Promise((res) => c.publish(`rooms/${room}/ev/${event}/${p.user}`,
							JSON.stringify(data), { qos: 1 }, () => res()));
					},
					close: () => new Promise((res) => c.end(false, {}, res)),
				});
			});
		});
	});
}

// ---------------------------------------------------------------- Socket.IO players

function sioPlayer(p) {
	return new Promise((resolve, reject) => {
		const s = io(cfg.sioUrl, { auth: { token: p.token }, transports: ['websocket'],
			reconnection: false, timeout: 30000 });
		s.on('connect_error', reject);
		s.on('chat', (data) => onChat(data, p.user));
		s.on('log', (data, meta) => meta && meta.from === 'lobby' && onLog(data, p.user));
		s.once('connect', async () => {
			for (const room of [p.table, p.plain, 'games']) {
				const ack = await s.emitWithAck('join', room);
				if (!ack.ok)
					return reject(new Error(`${p.user}: join ${room}: ${ack.error}`));
			}
			const send = (room, event, data) => s.emitWithAck(event, { room, ...data });
			resolve({ hooked: send, plain: send, close: async () => s.close() });
		});
	});
}

// ---------------------------------------------------------------- the run

function pct(a, q) {
	if (!a.length)
		return null;
	const s = [...a].sort((x, y) => x - y);
	return Math.round(s[Math.min(s.length - 1, Math.floor(q * s.length))] * 100) / 100;
}

const t0 = now();
const players = [];
for (let i = 0; i < cfg.players.length; i += 20) {
	const batch = cfg.players.slice(i, i + 20);
	players.push(...await Promise.all(batch.map(async (p) => ({
		...p, c: await (p.kind === 'sio' ? sioPlayer(p) : mqttPlayer(p)), readyNow: false,
	}))));
}
out({ ev: 'connected', players: players.length, seconds: (now() - t0) / 1000 });

// everybody sits at its table
const sit = await Promise.all(players.map((p) => p.c.hooked(p.table, 'sit', {})));
const refused = sit.filter((v) => v && v.ok === false);
if (refused.length)
	throw new Error(`sit refused: ${JSON.stringify(refused[0])}`);
out({ ev: 'seated', players: players.length });

let nonce = 0;
async function act(p, mode) {
	const t = now();
	if (mode === 'plain') {
		const text = `n${++nonce}`;
		round.sent.set(text, { t, user: p.user });
		round.expect += cfg.perRoom - 1;
		await p.c.plain(p.plain, 'chat', { text });
	} else if (Math.random() < 0.5) {
		const text = `n${++nonce}`;
		round.sent.set(text, { t, user: p.user });
		round.expect += cfg.perRoom - 1;
		await p.c.hooked(p.table, 'chat', { text });
	} else {
		p.readyNow = !p.readyNow;
		round.ready.set(`${p.user}:${p.readyNow ? 'ready' : 'unready'}`, t);
		round.expectState += cfg.perRoom - 1;
		await p.c.hooked(p.table, 'ready', { ready: p.readyNow });
	}
	record('ack', now() - t);
}

for (const mode of cfg.rounds) {
	round = { mode, sent: new Map(), ready: new Map(), expect: 0, expectState: 0,
		lat: { chat: [], state: [], ack: [] } };
	out({ ev: 'start', mode });
	const end = now() + cfg.seconds * 1000;
	const period = 1000 / cfg.rate;     // per player
	// each player acts every `period` ms, the players spread over it
	await Promise.all(players.map(async (p, i) => {
		await new Promise((r) => setTimeout(r, (period * i) / players.length));
		let next = now();
		while (now() < end) {
			await act(p, mode);
			next += period;
			const wait = next - now();
			if (wait > 0)
				await new Promise((r) => setTimeout(r, wait));
		}
	}));
	await new Promise((r) => setTimeout(r, 1500));   // the last deliveries
	const r = round;
	round = null;
	out({
		ev: 'round', mode,
		sent: r.sent.size + r.ready.size,
		chat: { expected: r.expect, got: r.lat.chat.length, p50: pct(r.lat.chat, 0.5), p99: pct(r.lat.chat, 0.99) },
		state: { expected: r.expectState, got: r.lat.state.length, p50: pct(r.lat.state, 0.5), p99: pct(r.lat.state, 0.99) },
		ack: { n: r.lat.ack.length, p50: pct(r.lat.ack, 0.5), p99: pct(r.lat.ack, 0.99) },
	});
}
await Promise.all(players.map((p) => p.c.close()));
out({ ev: 'done' });
process.exit(0);
