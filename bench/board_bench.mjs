// SPDX-License-Identifier: MIT
// The client side of bench/board_bench.py: real Yjs updates (one typed
// character each, as the board's page sends them) published by alice into
// a room and received by bob, over MQTT 5 (MQTT.js), like hubio.js does.
//
//   node bench/board_bench.mjs URL ALICE_TOKEN BOB_TOKEN CMD ...
//   latency ROOM[,ROOM...] N ROUNDS   one update at a time (the page's way:
//       the next goes when the verdict of the last came); per room,
//       publish -> bob has it, p50/p99 ms; rounds interleave the rooms
//   writers ROOM W N                  W connections of alice each sending N
//       updates one at a time, at once: updates/s through the room
//   fill ROOM KIB                     paste 60 KiB updates until the document
//       holds about KIB KiB
//   sync ROOM N                       N sync calls with an empty state vector
//       (the whole document back): answer bytes, p50/p99 ms
// Prints one JSON line of results.
import mqtt from 'mqtt';
import * as Y from 'yjs';
import { randomBytes } from 'node:crypto';

const [url, tokA, tokB, cmd, ...args] = process.argv.slice(2);

function client(user, token) {
	return new Promise((resolve, reject) => {
		const c = mqtt.connect(url, { username: user, password: token, protocolVersion: 5,
			clientId: `bench-${user}-${randomBytes(4).toString('hex')}`, clean: true,
			reconnectPeriod: 0 });
		c.once('connect', () => {
			c.stream.setNoDelay?.(true);
			resolve(c);
		});
		c.once('error', reject);
	});
}

function sub(c, filters) {
	return new Promise((res, rej) => c.subscribe(filters, { qos: 1, nl: true }, (e) => (e ? rej(e) : res())));
}

const pct = (a, p) => {
	const s = [...a].sort((x, y) => x - y);
	return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * p))] : null;
};
const r2 = (x) => Math.round(x * 100) / 100;

/** A writer: a Y.Doc whose updates go into rooms; waits for verdicts. */
async function writer(token) {
	const c = await client('alice', token);
	const waiting = new Map();
	c.on('message', (topic, payload, packet) => {
		const corr = packet.properties?.correlationData?.toString();
		const w = corr && waiting.get(corr);
		if (w) {
			waiting.delete(corr);
			w(JSON.parse(payload.toString()));
		}
	});
	await sub(c, ['users/alice/reply/#']);
	// a document per room: the board refuses an update that skips one of
	// its client's earlier ones (sent to another room here)
	const docs = new Map();
	const docOf = (room) => {
		if (!docs.has(room))
			docs.set(room, new Y.Doc());
		return docs.get(room);
	};
	const next = (room) => {
		const doc = docOf(room);
		const text = doc.getText('text');
		let u = null;
		doc.once('update', (x) => { u = x; });
		text.insert(text.length, String.fromCharCode(97 + (text.length % 26)));
		return u;
	};
	const send = (room, u, hooked) => new Promise((resolve, reject) => {
		const corr = randomBytes(8).toString('hex');
		const payload = JSON.stringify({ u: Buffer.from(u).toString('base64') });
		const props = { responseTopic: `users/alice/reply/${corr}`, correlationData: Buffer.from(corr) };
		if (hooked)
			waiting.set(corr, (v) => (v.ok ? resolve(v) : reject(new Error(JSON.stringify(v)))));
		c.publish(`rooms/${room}/ev/update/alice`, payload, { qos: 1, properties: props }, (e) => {
			if (e)
				reject(e);
			else if (!hooked)
				resolve();
		});
	});
	return { c, docOf, next, send };
}

async function latency(rooms, n, rounds) {
	const bob = await client('bob', tokB);
	let got = null;
	bob.on('message', () => got && got());
	await sub(bob, rooms.map((r) => `rooms/${r}/ev/update/+`));
	const w = await writer(tokA);
	const out = Object.fromEntries(rooms.map((r) => [r, []]));
	const verdict = Object.fromEntries(rooms.map((r) => [r, []]));
	for (let round = 0; round < rounds; round++) {
		for (const room of rooms) {
			const hooked = room !== 'plain';
			for (let i = 0; i < n; i++) {
				const u = w.next(room);
				const t0 = performance.now();
				const seen = new Promise((r) => { got = r; });
				const v = w.send(room, u, hooked);
				await seen;
				out[room].push(performance.now() - t0);
				await v;
				verdict[room].push(performance.now() - t0);
			}
		}
	}
	const res = {};
	for (const room of rooms)
		res[room] = { n: out[room].length, p50_ms: r2(pct(out[room], 0.5)), p99_ms: r2(pct(out[room], 0.99)),
			verdict_p50_ms: r2(pct(verdict[room], 0.5)) };
	bob.end(true);
	w.c.end(true);
	return res;
}

async function writers(room, count, n) {
	const ws = await Promise.all(Array.from({ length: count }, () => writer(tokA)));
	const t0 = performance.now();
	await Promise.all(ws.map(async (w) => {
		for (let i = 0; i < n; i++)
			await w.send(room, w.next(room), true);
	}));
	const s = (performance.now() - t0) / 1000;
	ws.forEach((w) => w.c.end(true));
	return { writers: count, updates: count * n, seconds: r2(s), updates_per_s: Math.round(count * n / s) };
}

async function fill(room, kib) {
	const w = await writer(tokA);
	const doc = w.docOf(room);
	const t = doc.getText('text');
	let sent = 0;
	while (sent + 61 * 1024 <= kib * 1024) {
		let u = null;
		doc.once('update', (x) => { u = x; });
		t.insert(t.length, randomBytes(45 * 1024).toString('base64').slice(0, 60 * 1024));
		await w.send(room, u, true);
		sent += u.length;
	}
	w.c.end(true);
	return { sent_bytes: sent };
}

async function sync(room, n) {
	const c = await client('bob', tokB);
	await sub(c, ['users/bob/reply/#']);
	const times = [];
	let bytes = 0;
	for (let i = 0; i < n; i++) {
		const corr = randomBytes(8).toString('hex');
		const t0 = performance.now();
		const ans = await new Promise((resolve) => {
			c.once('message', (topic, payload) => resolve(JSON.parse(payload.toString())));
			c.publish(`svc/board/sync/bob`, JSON.stringify({ room, sv: '' }), { qos: 1,
				properties: { responseTopic: `users/bob/reply/${corr}`, correlationData: Buffer.from(corr) } });
		});
		times.push(performance.now() - t0);
		if (!ans.ok)
			throw new Error(JSON.stringify(ans));
		bytes = ans.size;
	}
	c.end(true);
	return { doc_bytes: bytes, n, p50_ms: r2(pct(times, 0.5)), p99_ms: r2(pct(times, 0.99)) };
}

let res;
if (cmd === 'latency')
	res = await latency(args[0].split(','), Number(args[1]), Number(args[2]));
else if (cmd === 'writers')
	res = await writers(args[0], Number(args[1]), Number(args[2]));
else if (cmd === 'fill')
	res = await fill(args[0], Number(args[1]));
else if (cmd === 'sync')
	res = await sync(args[0], Number(args[1]));
else
	throw new Error(`unknown command ${cmd}`);
process.stdout.write(JSON.stringify(res) + '\n');
process.exit(0);
