// SPDX-License-Identifier: MIT
// Load generator for bench/front_bench.py: MQTT connects and fan-out over
// WebSocket (hubd's front, or Mosquitto's own WebSocket listener) or TCP,
// and Socket.IO connects (raw Engine.IO over WebSocket, like
// bench/sio_bench.mjs), with the same cheap client for every target, so
// ratios between targets are the servers'. One JSON result on stdout.
//
//   node front_bench.mjs '{"mode":"connect","target":{...},"n","concurrency"}'
//        -> connects/s and per-connect latency (socket open to CONNACK, or
//           to the Socket.IO CONNECT ack) p50/p99
//   node front_bench.mjs '{"mode":"fanout","target":{...},"pub":{...},"n","events",
//                          "window","size"}'
//        -> deliveries/s: n subscribers through the target, one publisher
//           (MQTT/TCP to the broker, QoS 0), at most `window` events not yet
//           delivered to every subscriber
//   node front_bench.mjs '{"mode":"idle","target":{...},"n"}'
//        -> opens n connected MQTT clients, prints {"ready":n}, holds them
//           until stdin closes
//
// target: {"kind":"ws","url","username","password"} | {"kind":"tcp","host",
//          "port","username","password"} | {"kind":"sio","url","cookie"}
import net from 'node:net';
import WebSocket from 'ws';
import mqttPacket from 'mqtt-packet';
import { performance } from 'node:perf_hooks';

const cfg = JSON.parse(process.argv[2]);
let idn = 0;

function connectPacket(t, extra = {}) {
	return mqttPacket.generate({
		cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60,
		clientId: 'b' + process.pid + '-' + (idn++), username: t.username,
		password: t.password === undefined ? undefined : Buffer.from(t.password), ...extra,
	});
}

/* An MQTT byte stream cut into packets: calls onPacket(type, body). */
function framer(onPacket) {
	let buf = Buffer.alloc(0);
	return (chunk) => {
		buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
		for (;;) {
			if (buf.length < 2)
				return;
			let len = 0, mult = 1, i = 1;
			for (;;) {
				if (i >= buf.length)
					return;
				const b = buf[i++];
				len += (b & 0x7f) * mult;
				mult *= 128;
				if (!(b & 0x80))
					break;
			}
			if (buf.length < i + len)
				return;
			onPacket(buf[0] >> 4, buf.subarray(i, i + len));
			buf = buf.subarray(i + len);
		}
	};
}

/* An MQTT connection through the target; resolves once CONNACK 0 came:
 * {send(bytes), close(), latency_ms}. onPublish(body) for each PUBLISH. */
function mqttOpen(t, onPublish) {
	return new Promise((resolve, reject) => {
		const t0 = performance.now();
		let conn;
		const onData = framer((type, body) => {
			if (type === 2) {
				if (body[1] !== 0) {
					reject(new Error('CONNACK ' + body[1]));
					conn.close();
					return;
				}
				conn.latency_ms = performance.now() - t0;
				resolve(conn);
			} else if (type === 3 && onPublish) {
				onPublish(body);
			}
		});
		if (t.kind === 'tcp') {
			const s = net.connect(t.port, t.host || '127.0.0.1');
			s.setNoDelay(true);
			conn = { send: (b) => s.write(b), close: () => s.destroy(), raw: s };
			s.on('connect', () => s.write(connectPacket(t)));
			s.on('data', onData);
			s.on('error', reject);
		} else {
			const ws = new WebSocket(t.url, 'mqtt', { perMessageDeflate: false,
				headers: t.cookie ? { Cookie: t.cookie } : {} });
			conn = { send: (b) => ws.send(b), close: () => ws.terminate(), raw: ws };
			ws.on('open', () => ws.send(connectPacket(t)));
			ws.on('message', (d) => onData(d));
			ws.on('error', reject);
			ws.on('close', () => reject(new Error('closed')));
		}
	});
}

/* A Socket.IO connection (Engine.IO v4 over WebSocket, cookie auth):
 * resolves at the CONNECT ack. */
function sioOpen(t) {
	return new Promise((resolve, reject) => {
		const t0 = performance.now();
		const ws = new WebSocket(t.url.replace(/^http/, 'ws') +
			'/socket.io/?EIO=4&transport=websocket', { headers: { Cookie: t.cookie },
			perMessageDeflate: false });
		ws.on('message', (buf, isBinary) => {
			if (isBinary)
				return;
			const s = buf.toString();
			if (s[0] === '0')
				ws.send('40');
			else if (s === '2')
				ws.send('3');
			else if (s.startsWith('40'))
				resolve({ close: () => ws.terminate(), latency_ms: performance.now() - t0 });
			else if (s.startsWith('44'))
				reject(new Error('refused: ' + s));
		});
		ws.on('error', reject);
	});
}

const open = (t, onPublish) => (t.kind === 'sio' ? sioOpen(t) : mqttOpen(t, onPublish));

async function pool(n, concurrency, fn) {
	let next = 0;
	const out = [];
	await Promise.all(Array.from({ length: Math.min(concurrency, n) }, async () => {
		while (next < n) {
			const i = next++;
			out[i] = await fn(i);
		}
	}));
	return out;
}

function pct(sorted, p) {
	return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]
		: null;
}

async function connectMode() {
	const lat = [];
	const t0 = performance.now();
	await pool(cfg.n, cfg.concurrency, async () => {
		const c = await open(cfg.target);
		lat.push(c.latency_ms);
		if (cfg.target.kind !== 'sio')
			c.send(mqttPacket.generate({ cmd: 'disconnect' }));
		c.close();
	});
	const secs = (performance.now() - t0) / 1000;
	lat.sort((a, b) => a - b);
	return { connects: cfg.n, concurrency: cfg.concurrency, seconds: secs,
		connects_per_s: cfg.n / secs, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99) };
}

async function fanoutMode() {
	const n = cfg.n, events = cfg.events, window = cfg.window || 64;
	const topic = cfg.topic;
	const counts = new Uint32Array(events);
	let delivered = 0, complete = 0, wake = null;
	const onPublish = (body) => {
		// the sequence number: the payload's first 4 bytes (after the topic)
		const tl = body.readUInt16BE(0);
		const seq = body.readUInt32BE(2 + tl);
		delivered++;
		if (++counts[seq] === n) {
			complete++;
			if (wake)
				wake();
		}
	};
	const subs = await pool(n, 50, () => open(cfg.target, onPublish));
	for (const s of subs)
		s.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1,
			subscriptions: [{ topic, qos: 0 }] }));
	await new Promise((r) => setTimeout(r, 1000 + n));
	const pub = await open(cfg.pub);
	const payload = Buffer.alloc(Math.max(4, cfg.size || 64), 1);
	const t0 = performance.now();
	let sent = 0;
	while (complete < events) {
		while (sent < events && sent - complete < window) {
			payload.writeUInt32BE(sent++, 0);
			pub.send(mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 0 }));
		}
		await new Promise((r) => {
			wake = r;
			setTimeout(r, 2000); // nothing lost goes unnoticed for long
		});
		wake = null;
		if (performance.now() - t0 > 120000)
			break;
	}
	const secs = (performance.now() - t0) / 1000;
	for (const s of subs)
		s.close();
	pub.close();
	return { subscribers: n, events, delivered, complete, seconds: secs,
		deliveries_per_s: delivered / secs };
}

async function idleMode() {
	const conns = await pool(cfg.n, 50, () => open(cfg.target));
	process.stdout.write(JSON.stringify({ ready: conns.length }) + '\n');
	process.stdin.resume();
	await new Promise((r) => process.stdin.on('end', r));
	for (const c of conns)
		c.close();
	return { closed: conns.length };
}

const modes = { connect: connectMode, fanout: fanoutMode, idle: idleMode };
modes[cfg.mode]().then((r) => {
	process.stdout.write(JSON.stringify(r) + '\n');
	process.exit(0);
}, (e) => {
	process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + '\n');
	process.exit(1);
});
