// SPDX-License-Identifier: MIT
// Many Socket.IO sockets at little cost, for the recovery memory test
// (tests/integration/test_sio_recovery.py): Engine.IO v4 / Socket.IO v5
// spoken directly over WebSocket (package `ws`), token auth.
//
//   node sio_raw_sockets.mjs '{"url","token","n"}'
// Opens n sockets, prints {"ready":n,"pids":k} once every CONNECT is
// answered (k: how many got a recovery pid), then on the first line of
// stdin cuts them all at once (TCP reset, no close frame: a lost network)
// and prints {"dropped":n}; exits when stdin closes.
import WebSocket from 'ws';
import readline from 'node:readline';

const cfg = JSON.parse(process.argv[2]);
const wsUrl = cfg.url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket';

function open() {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
		let pid = null;
		ws.on('message', (buf) => {
			const s = buf.toString();
			if (s[0] === '0') {
				ws.send('40' + JSON.stringify({ token: cfg.token }));
			} else if (s === '2') {
				ws.send('3');
			} else if (s.startsWith('40')) {
				pid = JSON.parse(s.slice(2)).pid || null;
				resolve({ ws, pid });
			} else if (s.startsWith('44')) {
				reject(new Error('refused: ' + s));
			}
		});
		ws.on('error', reject);
	});
}

const socks = [];
for (let i = 0; i < cfg.n; i += 50) {
	const batch = [];
	for (let j = i; j < Math.min(cfg.n, i + 50); j++)
		batch.push(open());
	socks.push(...await Promise.all(batch));
}
process.stdout.write(JSON.stringify({ ready: socks.length,
	pids: socks.filter((s) => s.pid).length }) + '\n');
const rl = readline.createInterface({ input: process.stdin });
let cut = false;
rl.on('line', () => {
	if (cut)
		return;
	cut = true;
	for (const s of socks)
		s.ws.terminate();
	process.stdout.write(JSON.stringify({ dropped: socks.length }) + '\n');
});
rl.on('close', () => process.exit(0));
