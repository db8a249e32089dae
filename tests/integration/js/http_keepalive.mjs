// SPDX-License-Identifier: MIT
// Many sequential API calls from Node's HTTP clients with connection reuse,
// the way a Node backend calls hubd: node:http with a keep-alive agent
// (Node 19+'s default globalAgent) sending "Connection: close" as node-fetch
// v2 does, and the built-in fetch (undici). A connection the server closes
// without saying so makes the next request on it fail ("socket hang up",
// ECONNRESET). Prints one JSON line {ok, failed, errors}.
//
//   node http_keepalive.mjs PORT [COUNT]
import http from 'node:http';

const port = Number(process.argv[2]);
const count = Number(process.argv[3] || 40);
const base = `http://127.0.0.1:${port}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const errors = {};
let ok = 0, failed = 0;

function fail(what, e) {
	failed++;
	const key = `${what}: ${e.code || e.message}`;
	errors[key] = (errors[key] || 0) + 1;
}

// node:http + keep-alive agent, one request at a time
function agentRequest(method, path, headers, body) {
	return new Promise((resolve) => {
		const r = http.request({ host: '127.0.0.1', port, method, path, agent, headers },
			(res) => {
				res.resume();
				res.on('end', () => { ok++; resolve(); });
				res.on('error', (e) => { fail(`${method} ${path}`, e); resolve(); });
			});
		r.on('error', (e) => { fail(`${method} ${path}`, e); resolve(); });
		r.end(body);
	});
}

const json = { 'Content-Type': 'application/json' };
const calls = [
	['GET', '/healthz', {}],
	['GET', '/api/config', {}],
	['GET', '/api/session', {}],					// 401
	['POST', '/api/login', json, '{"username":"nobody","password":"x"}'], // 401
	['POST', '/api/login', json, '{"username":"a","username":"b"}'],	// 400
	['POST', '/api/login', { 'Content-Type': 'text/plain' }, 'x'],	// 415
	['GET', '/api/nope', {}],					// 404
	['PUT', '/healthz', {}],					// 405
	['GET', '/', {}],						// page
];
for (let i = 0; i < count; i++) {
	const [m, p, h, b] = calls[i % calls.length];
	await agentRequest(m, p, { ...h, Connection: 'close' }, b);
}
for (let i = 0; i < count; i++) {
	const [m, p, h, b] = calls[i % calls.length];
	await agentRequest(m, p, h, b);
}
for (let i = 0; i < count; i++) {
	const [m, p, h, b] = calls[i % calls.length];
	try {
		const r = await fetch(base + p, { method: m, headers: h, body: b });
		await r.arrayBuffer();
		ok++;
	} catch (e) {
		fail(`fetch ${m} ${p}`, e.cause || e);
	}
}
agent.destroy();
process.stdout.write(JSON.stringify({ ok, failed, errors }) + '\n');
