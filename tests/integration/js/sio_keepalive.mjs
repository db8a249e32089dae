// SPDX-License-Identifier: MIT
// Keep-alive HTTP clients against hub-bridge (test_sio_protocol): many
// sequential requests through a pooled connection, some of them asking
// "Connection: close". A server that closes after such a reply without
// saying "Connection: close" makes these clients reuse a dead socket
// ("socket hang up", ECONNRESET) on the next request.
//
//   node sio_keepalive.mjs '{"url": "http://127.0.0.1:PORT", "n": 100}'
//
// One JSON line: {"agent": {ok, failed, errors}, "fetch": {...}}.
import http from 'node:http';

const cfg = JSON.parse(process.argv[2]);
const base = new URL(cfg.url);
const n = cfg.n || 100;
// request i: what it asks for, and whether it says Connection: close
const paths = [
	'/socket.io/?EIO=4&transport=polling&sid=nope', // 400, no session made
	'/socket.io/?EIO=4&transport=polling', // a handshake: 200
	'/socket.io/nope.js', // 404
	'/socket.io/?EIO=3&transport=polling', // 400
];

function viaAgent(agent, path, close) {
	return new Promise((resolve, reject) => {
		const req = http.request({ host: base.hostname, port: base.port, path, agent,
			headers: close ? { Connection: 'close' } : {} }, (res) => {
			res.resume();
			res.on('end', () => resolve(res.statusCode));
			res.on('error', reject);
		});
		req.on('error', reject);
		req.end();
	});
}

async function run(fn) {
	const out = { ok: 0, failed: 0, errors: [] };
	for (let i = 0; i < n; i++) {
		// every other request asks to close: the next one must not reuse it
		const close = i % 2 === 0;
		try {
			const status = await fn(paths[i % paths.length], close);
			if (status >= 200 && status < 600)
				out.ok++;
			else
				throw new Error('status ' + status);
		} catch (e) {
			out.failed++;
			if (out.errors.length < 3)
				out.errors.push(`${i}: ${e.message}${e.cause ? ' (' + e.cause.message + ')' : ''}`);
		}
	}
	return out;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const result = {};
result.agent = await run((path, close) => viaAgent(agent, path, close));
agent.destroy();
// Node's fetch (undici) keeps connections alive by default
result.fetch = await run(async (path, close) => {
	const r = await fetch(new URL(path, base), { headers: close ? { connection: 'close' } : {} });
	await r.arrayBuffer();
	return r.status;
});
process.stdout.write(JSON.stringify(result) + '\n');
