// SPDX-License-Identifier: MIT
// Load generator for bench/sio_bench.py: speaks Engine.IO v4 / Socket.IO v5
// over WebSocket directly (package `ws`), so the client costs little next
// to the server measured. The same client drives hub-bridge and the Node
// reference stack. One JSON result on stdout.
//
//   node sio_bench.mjs '{"url","cookie","mode":"connect|fanout|idle", ...}'
//   connect: {"n","concurrency"}            -> connects/s (auth + CONNECT ack)
//   fanout:  {"n","events","window","rate","payload","room"} -> deliveries/s and latency
//            payload: "json" (one argument, default), "args" (three
//            arguments) or "binary" (a JSON argument and 256 bytes binary);
//            room: every socket joins it and the events go there (default:
//            the socket's current room, lobby)
//   calls:   {"n","seconds","window","nsp","method"} -> n sockets of namespace
//            nsp ("/shop"), each keeping `window` calls of `method` waiting
//            for their ack (emitWithAck) for `seconds`: calls/s and the round
//            trip p50/p99
//   idle:    {"n","hold_ms"}                -> opens n sockets, prints "ready",
//                                              holds them until stdin closes
//   recovery: {"n","events","cookies"?}     -> n receivers in the room get one
//            event (their offset), are cut (TCP reset), `events` are sent
//            meanwhile (mark "cut" after them), then all reconnect with
//            their pid and offset: recovered sockets, events replayed and
//            replayed events/s (connection state recovery)
import WebSocket from 'ws';
import { performance } from 'node:perf_hooks';

const cfg = JSON.parse(process.argv[2]);
const wsUrl = cfg.url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';

// nsp: a namespace other than "/" ("/shop"): its packets carry "/shop,"
function open(onEvent, auth, cookie, nsp) {
	const pre = nsp ? nsp + ',' : '';
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(wsUrl, { headers: { Cookie: cookie || cfg.cookie },
			perMessageDeflate: false });
		const sock = { ws, acks: new Map(), nextId: 0, sid: null, pid: null, pre };
		let ready = false;
		ws.on('message', (buf, isBinary) => {
			if (isBinary)
				return; // an attachment (counted with its packet)
			const s = buf.toString();
			if (s[0] === '0') {
				ws.send('40' + pre + (auth ? JSON.stringify(auth) : ''));
			} else if (s === '2') {
				ws.send('3');
			} else if (s.startsWith('40' + pre)) {
				const c = JSON.parse(s.slice(2 + pre.length));
				sock.sid = c.sid;
				sock.pid = c.pid || null;
				ready = true;
				resolve(sock);
			} else if (s.startsWith('44')) {
				reject(new Error('refused: ' + s));
			} else if (s.startsWith('43' + pre)) {
				const m = /^(\d+)/.exec(s.slice(2 + pre.length));
				const cb = m && sock.acks.get(Number(m[1]));
				if (cb) {
					sock.acks.delete(Number(m[1]));
					cb(JSON.parse(s.slice(2 + pre.length + m[1].length)));
				}
			} else if ((s.startsWith('42') || s.startsWith('451-')) && onEvent) {
				onEvent(s);
			}
		});
		ws.on('error', (e) => { if (!ready) reject(e); });
		ws.on('close', () => { if (!ready) reject(new Error('closed')); });
	});
}

const BIN = Buffer.alloc(256, 7);

function emit(sock, event, data, cb) {
	const id = sock.nextId++;
	sock.acks.set(id, cb);
	if (cfg.room && data && typeof data === 'object')
		data.room = cfg.room;
	if (sock.pre) {
		sock.ws.send('42' + sock.pre + id + JSON.stringify([event, data]));
	} else if (cfg.payload === 'binary') {
		// a BINARY_EVENT: the packet, then its attachment
		sock.ws.send('451-' + id + JSON.stringify([event, data, { _placeholder: true, num: 0 }]));
		sock.ws.send(BIN);
	} else if (cfg.payload === 'args') {
		sock.ws.send('42' + id + JSON.stringify([event, data, 'second', 3]));
	} else {
		sock.ws.send('42' + id + JSON.stringify([event, data]));
	}
}

async function pool(n, concurrency, fn) { // fn(i)
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

// phase marks: the driver samples the servers' CPU time at each
const mark = (name) => process.stdout.write(JSON.stringify({ mark: name }) + '\n');

function pct(sorted, p) {
	if (!sorted.length)
		return null;
	return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function connectMode() {
	mark('start');
	const t0 = performance.now();
	const socks = await pool(cfg.n, cfg.concurrency || 50, () => open(null));
	const secs = (performance.now() - t0) / 1000;
	mark('end');
	for (const s of socks)
		s.ws.terminate();
	return { connects: cfg.n, seconds: secs, connects_per_s: cfg.n / secs };
}

async function fanoutMode() {
	const n = cfg.n, events = cfg.events, window = cfg.window || 64;
	let got = 0, doneResolve;
	const lat = [];
	const done = new Promise((r) => { doneResolve = r; });
	const expect = n * events;
	// cheap parsing keeps the client from being what is measured: the
	// event name and t0 are found by position, not by JSON.parse
	const onEvent = (s) => {
		if (!s.startsWith('42["bench",') && !s.startsWith('451-["bench",'))
			return;
		const i = s.indexOf('"t0":');
		lat.push(performance.now() - parseFloat(s.slice(i + 5, i + 30)));
		if (++got === expect)
			doneResolve();
	};
	const receivers = await pool(n, 50, () => open(onEvent));
	const sender = await open(null);
	if (cfg.room) {
		// every socket joins the room (the sender too: it writes there)
		await Promise.all(receivers.concat([sender]).map((s) => new Promise((resolve, reject) => {
			const id = s.nextId++;
			s.acks.set(id, (a) => (a[0] && a[0].ok ? resolve() : reject(new Error(
				'join refused: ' + JSON.stringify(a)))));
			s.ws.send('42' + id + JSON.stringify(['join', cfg.room]));
		})));
	}
	await new Promise((r) => setTimeout(r, 300));
	// throughput: a window of events awaiting their acks
	mark('start');
	const t0 = performance.now();
	let sent = 0, acked = 0;
	await new Promise((resolve) => {
		const pump = () => {
			while (sent < events && sent - acked < window) {
				emit(sender, 'bench', { t0: performance.now(), n: sent++ }, () => {
					acked++;
					if (acked === events)
						resolve();
					else
						pump();
				});
			}
		};
		pump();
	});
	await Promise.race([done, new Promise((r) => setTimeout(r, 30000))]);
	const secs = (performance.now() - t0) / 1000;
	mark('end');
	const thr = { deliveries: got, expected: expect, seconds: secs, deliveries_per_s: got / secs };
	// latency at a steady, moderate rate (no queueing from the window)
	lat.length = 0;
	got = 0;
	const rate = cfg.rate || 50, count = cfg.latency_events || 100;
	const target = n * count;
	const latDone = new Promise((r) => {
		const check = setInterval(() => { if (got >= target) { clearInterval(check); r(); } }, 5);
		setTimeout(() => { clearInterval(check); r(); }, 20000);
	});
	for (let i = 0; i < count; i++) {
		emit(sender, 'bench', { t0: performance.now(), n: i }, () => {});
		await new Promise((r) => setTimeout(r, 1000 / rate));
	}
	await latDone;
	lat.sort((a, b) => a - b);
	for (const s of receivers.concat([sender]))
		s.ws.terminate();
	return { n, ...thr, latency_samples: lat.length, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99),
		latency_rate: rate, payload: cfg.payload || 'json' };
}

async function callsMode() {
	const n = cfg.n, window = cfg.window || 1, method = cfg.method || 'order';
	const socks = await pool(n, 50, () => open(null, cfg.auth || null, null, cfg.nsp));
	const lat = [];
	let calls = 0, bad = 0, running = true, last = null;
	const one = (s, k) => {
		const t0 = performance.now();
		emit(s, method, { item: 'tea', k }, (a) => {
			const dt = performance.now() - t0;
			if (a[0] && a[0].ok) {
				lat.push(dt);
				calls++;
			} else {
				bad++;
				last = a[0];
			}
			if (running)
				one(s, k + 1);
		});
	};
	// warm-up: every socket's first call (paths, JIT), then the clock
	await Promise.all(socks.map((s) => new Promise((r) => emit(s, method, { warm: 1 }, r))));
	mark('start');
	const t0 = performance.now();
	for (const s of socks)
		for (let w = 0; w < window; w++)
			one(s, w * 1000000);
	await new Promise((r) => setTimeout(r, (cfg.seconds || 5) * 1000));
	running = false;
	const secs = (performance.now() - t0) / 1000;
	mark('end');
	await new Promise((r) => setTimeout(r, 200));
	lat.sort((a, b) => a - b);
	for (const s of socks)
		s.ws.terminate();
	return { n, window, calls, refused: bad, last_refusal: last, seconds: secs,
		calls_per_s: calls / secs, p50_ms: pct(lat, 0.5), p99_ms: pct(lat, 0.99) };
}

async function idleMode() {
	const socks = await pool(cfg.n, 50, () => open(null));
	process.stdout.write(JSON.stringify({ ready: socks.length }) + '\n');
	await new Promise((r) => process.stdin.on('end', r).resume());
	for (const s of socks)
		s.ws.terminate();
	return { closed: socks.length };
}

async function recoveryMode() {
	const n = cfg.n, events = cfg.events;
	const offsets = new Map(); // receiver index -> last offset seen
	let replayed = 0, doneResolve = null, expect = Infinity;
	const onEventOf = (i) => (s) => {
		if (!s.startsWith('42["r",'))
			return;
		const args = JSON.parse(s.slice(2));
		const last = args[args.length - 1];
		if (typeof last === 'string')
			offsets.set(i, last);
		if (args[1] && args[1].phase === 'missed' && ++replayed === expect && doneResolve)
			doneResolve();
	};
	// receivers spread over cfg.cookies (the hub keeps at most 64 cut
	// sockets a user)
	const cookieOf = (i) => (cfg.cookies ? cfg.cookies[i % cfg.cookies.length] : cfg.cookie);
	const receivers = await pool(n, 50, (i) => open(onEventOf(i), null, cookieOf(i)));
	if (receivers.some((r) => !r.pid))
		throw new Error('no recovery pid: connection state recovery is off');
	const sender = await open(null);
	const sendAll = async (count, phase) => {
		let acked = 0;
		await new Promise((resolve) => {
			for (let i = 0; i < count; i++)
				emit(sender, 'r', { phase, n: i }, () => { if (++acked === count) resolve(); });
		});
	};
	await sendAll(1, 'before');
	const t = performance.now();
	while (offsets.size < n && performance.now() - t < 10000)
		await new Promise((r) => setTimeout(r, 10));
	for (const r of receivers)
		r.ws.terminate();
	await new Promise((r) => setTimeout(r, 500)); // the server sees the resets
	await sendAll(events, 'missed');
	await new Promise((r) => setTimeout(r, 300));
	mark('cut');
	expect = n * events;
	const done = new Promise((r) => { doneResolve = r; });
	mark('start');
	const t0 = performance.now();
	const back = await pool(n, 50, (i) => open(onEventOf(i),
		{ pid: receivers[i].pid, offset: offsets.get(i) }, cookieOf(i)));
	await Promise.race([done, new Promise((r) => setTimeout(r, 30000))]);
	const secs = (performance.now() - t0) / 1000;
	mark('end');
	const recovered = back.filter((b, i) => b.sid === receivers[i].sid).length;
	for (const s of back.concat([sender]))
		s.ws.terminate();
	return { n, events, recovered, replayed, expected: n * events, seconds: secs,
		replayed_per_s: replayed / secs };
}

const modes = { connect: connectMode, fanout: fanoutMode, idle: idleMode, recovery: recoveryMode,
	calls: callsMode };
modes[cfg.mode]().then((r) => {
	process.stdout.write(JSON.stringify(r) + '\n');
	process.exit(0);
}, (e) => {
	process.stdout.write(JSON.stringify({ error: String(e) }) + '\n');
	process.exit(1);
});
