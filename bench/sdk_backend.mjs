// SPDX-License-Identifier: MIT
// A trivial backend on the Node server SDK (sdk/node), for
// bench/backends_bench.py: answers `ping` with its data and accepts every
// event of the rooms hooked to it, as fast as it can.
//
//   node bench/sdk_backend.mjs URL SERVICE KEY
// Prints "ready" once subscribed; exits when stdin closes.
import { connect, accept } from '../sdk/node/index.js';

const [url, service, key] = process.argv.slice(2);
const hub = await connect({ url, service, key, concurrency: 1024 });
hub.handle('ping', (data) => data);
hub.hook(() => accept());
hub.on('error', (e) => process.stderr.write(`backend error: ${e && e.message}\n`));
process.stdout.write('ready\n');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
