// SPDX-License-Identifier: MIT
// socket.io-client (the repo's node_modules, 4.8.x) driven line by line
// from a Python test: one JSON command per stdin line, one JSON event per
// stdout line (every event carries t = Date.now() / 1000).
//
// Commands:
//   {"op":"connect","url","opts":{...}}   io(url, opts); opts as socket.io-client
//                                          takes them (auth, transports,
//                                          extraHeaders, reconnection...)
//   {"op":"on","event"}                    report that event as {"ev":"event"}
//   {"op":"emit","id","event","args":[...],"ack":true,"timeout":ms}
//                                          -> {"ev":"ack","id","args"|"error"}
//                                          ({"$binary":"<base64>"} args are Buffers)
//   {"op":"raw","data"}                    write an Engine.IO packet on the socket
//                                          (websocket transport only)
//   {"op":"disconnect"}                    socket.disconnect()
//   {"op":"exit"}
// Events: connect {id, transport}, connect_error {message}, disconnect
// {reason}, upgrade {transport}, event {name, args}.
import { io } from 'socket.io-client';
import readline from 'node:readline';

let socket = null;

function out(ev, extra = {}) {
	process.stdout.write(JSON.stringify({ ev, t: Date.now() / 1000, ...extra }) + '\n');
}

function connect(cmd) {
	socket = io(cmd.url, { reconnection: false, ...(cmd.opts || {}) });
	socket.on('connect', () => out('connect', { id: socket.id,
		transport: socket.io.engine.transport.name }));
	socket.on('connect_error', (err) => out('connect_error', { message: String(err.message),
		data: err.data ?? null }));
	socket.on('disconnect', (reason) => out('disconnect', { reason }));
	socket.io.on('open', () => socket.io.engine.on('upgrade', (t) =>
		out('upgrade', { transport: t.name })));
	socket.onAny((name, ...args) => out('event', { name, args }));
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
	let cmd;
	try {
		cmd = JSON.parse(line);
	} catch (e) {
		out('bad-command', { message: String(e) });
		return;
	}
	switch (cmd.op) {
	case 'connect':
		connect(cmd);
		break;
	case 'emit': {
		// {"$binary": "<base64>"} stands for a Buffer (a binary attachment)
		const args = (cmd.args || []).map((a) => a && typeof a === 'object' && '$binary' in a
			? Buffer.from(a.$binary, 'base64') : a);
		if (cmd.ack) {
			const s = cmd.timeout ? socket.timeout(cmd.timeout) : socket;
			s.emit(cmd.event, ...args, (...res) => {
				if (cmd.timeout) {
					const [err, ...rest] = res;
					out('ack', { id: cmd.id, error: err ? String(err.message) : null,
						args: rest });
				} else {
					out('ack', { id: cmd.id, error: null, args: res });
				}
			});
		} else {
			socket.emit(cmd.event, ...args);
		}
		break;
	}
	case 'raw':
		socket.io.engine.transport.ws.send(cmd.data);
		break;
	case 'disconnect':
		socket.disconnect();
		break;
	case 'exit':
		process.exit(0);
		break;
	default:
		out('bad-command', { message: 'unknown op ' + cmd.op });
	}
});
rl.on('close', () => process.exit(0));
