// SPDX-License-Identifier: MIT
// Load generator of bench/sio_heartbeat.py: n authenticated Engine.IO
// WebSocket sessions that do nothing but answer pings at once, and how
// late the gateway's pings come (the interval between a pong and the next
// ping, minus pingInterval).
//
//   node sio_heartbeat.mjs '{"url","token","n","seconds"}'
// Prints one JSON line: {"sessions","pings","late_ms":{"p50","p99","max"},
// "early"} (early: pings that came before pingInterval after our pong).
import WebSocket from 'ws';

const cfg = JSON.parse(process.argv[2]);
const wsUrl = cfg.url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';
const late = [];
let early = 0;
let interval = 0;
let measuring = false;

function open() {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
		let pongAt = 0;
		ws.on('error', reject);
		ws.on('message', (data) => {
			const s = data.toString();
			if (s[0] === '0') {
				interval = JSON.parse(s.slice(1)).pingInterval;
				ws.send(`40{"token":"${cfg.token}"}`);
			} else if (s.startsWith('40')) {
				resolve(ws);
			} else if (s.startsWith('44')) {
				reject(new Error(s));
			} else if (s === '2') {
				const now = performance.now();
				if (measuring && pongAt) {
					const d = now - pongAt - interval;
					if (d < -1) early++;
					late.push(d);
				}
				ws.send('3');
				pongAt = performance.now();
			}
		});
	});
}

const socks = [];
for (let i = 0; i < cfg.n; i += 50) {
	const batch = [];
	for (let j = i; j < Math.min(cfg.n, i + 50); j++) batch.push(open());
	socks.push(...(await Promise.all(batch)));
}
// one interval for every session to be on its own rhythm, then measure
await new Promise((r) => setTimeout(r, interval + 500));
measuring = true;
process.stdout.write(JSON.stringify({ ev: 'measuring' }) + '\n');
await new Promise((r) => setTimeout(r, cfg.seconds * 1000));
measuring = false;
late.sort((a, b) => a - b);
const q = (p) => (late.length ? Math.round(late[Math.min(late.length - 1, Math.floor(p * late.length))] * 100) / 100 : null);
process.stdout.write(
	JSON.stringify({
		sessions: socks.length,
		pings: late.length,
		late_ms: { p50: q(0.5), p99: q(0.99), max: late.length ? Math.round(late[late.length - 1] * 100) / 100 : null },
		early,
	}) + '\n',
);
for (const ws of socks) ws.terminate();
process.exit(0);
