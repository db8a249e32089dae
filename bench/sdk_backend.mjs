// SPDX-License-Identifier: MIT
// A trivial backend on the Node server SDK (sdk/node), for
// bench/backends_bench.py and bench/sio_backends_bench.py: answers `ping`
// with its data at once, `order` with {ok, echo: data, user}, `wait`
// with its data (`order_db` with order's answer) after DELAY ms (a backend
// waiting on its database), and
// accepts every event of the rooms hooked to it, as fast as it can.
//
//   node bench/sdk_backend.mjs URL SERVICE KEY [CONCURRENCY [DELAY]]
// CONCURRENCY: calls handled at once (the SDK's option; default 1024).
// Prints "ready" once subscribed; exits when stdin closes.
import { connect, accept } from '../sdk/node/index.js';

const [url, service, key, conc, delay] = process.argv.slice(2);
const hub = await connect({ url, service, key, concurrency: Number(conc) || 1024 });
const ms = Number(delay) || 2;
hub.handle('ping', (data) => data);
// the same answer as bench/peers/server.js's socket.on('order', (data, ack) => ack(...))
hub.handle('order', (data, ctx) => ({ ok: true, echo: data, user: ctx.user }));
hub.handle('wait', (data) => new Promise((r) => setTimeout(() => r(data), ms)));
hub.handle('order_db', (data, ctx) =>
	new Promise((r) => setTimeout(() => r({ ok: true, echo: data, user: ctx.user }), ms)));
hub.hook(() => accept());
hub.on('error', (e) => process.stderr.write(`backend error: ${e && e.message}\n`));
process.stdout.write('ready\n');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
