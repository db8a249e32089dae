// SPDX-License-Identifier: MIT
// A flood of bare Engine.IO handshakes (no cookie, no token) against
// hub-bridge, from one or several source addresses (any 127.0.0.0/8
// address is a loopback source on Linux), as fast as the gateway answers:
// `concurrency` requests in flight over keep-alive connections.
//
//   node sio_flood.mjs '{"url","total","concurrency","addrs":["127.0.0.2",...]}'
//
// Prints {"progress": answered} once a tenth of the total is answered (the
// test then knows the flood is under way), and at the end one JSON line:
// {"total", "seconds", "per_s", "status": {"200": n, "503": n, ...},
//  "errors": n, "retry_after": "<first Retry-After seen>"}.
import http from 'node:http';

const cfg = JSON.parse(process.argv[2]);
const url = new URL(cfg.url);
const addrs = cfg.addrs && cfg.addrs.length ? cfg.addrs : ['127.0.0.1'];
const total = cfg.total || 1000;
const concurrency = cfg.concurrency || 64;
const agents = addrs.map(() => new http.Agent({ keepAlive: true,
	maxSockets: Math.max(1, Math.ceil(concurrency / addrs.length)) }));

const status = {};
let answered = 0, sent = 0, errors = 0, retryAfter = null, progressed = false;
const t0 = process.hrtime.bigint();

function one(i) {
	return new Promise((resolve) => {
		const k = i % addrs.length;
		const req = http.request({ host: url.hostname, port: url.port, agent: agents[k],
			localAddress: addrs[k], path: '/socket.io/?EIO=4&transport=polling&t=' + i },
		(res) => {
			status[res.statusCode] = (status[res.statusCode] || 0) + 1;
			if (res.statusCode === 503 && retryAfter === null)
				retryAfter = res.headers['retry-after'] ?? '';
			res.resume();
			res.on('end', resolve);
			res.on('error', () => { errors++; resolve(); });
		});
		req.on('error', () => { errors++; resolve(); });
		req.end();
	}).then(() => {
		answered++;
		if (!progressed && answered >= total / 10) {
			progressed = true;
			process.stdout.write(JSON.stringify({ progress: answered }) + '\n');
		}
	});
}

async function worker() {
	while (sent < total)
		await one(sent++);
}

await Promise.all(Array.from({ length: concurrency }, worker));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
for (const a of agents)
	a.destroy();
process.stdout.write(JSON.stringify({ total, seconds, per_s: total / seconds, status, errors,
	retry_after: retryAfter }) + '\n');
