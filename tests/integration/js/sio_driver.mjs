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
//   {"op":"emitWithAck","id","event","args":[...]}
//                                          -> {"ev":"ack","id","args":[answer]}
//                                          (the seed's `await s.emitWithAck(...)`)
//   {"op":"socket","name","nsp","opts"}    another socket on the same Manager
//                                          (one Engine.IO connection):
//                                          socket.io.socket(nsp, opts); "emit",
//                                          "emitWithAck" and "disconnect" take
//                                          "sock": name; its events carry sock
//   {"op":"raw","data"|"binary"}           write an Engine.IO packet on the socket
//                                          (websocket transport only; binary:
//                                          base64 of a binary frame)
//   {"op":"drop"}                          cut the transport under the client
//                                          (socket.io.engine.close(), as
//                                          socket.io's own recovery tests do);
//                                          it reconnects if reconnection is on
//   {"op":"disconnect"}                    socket.disconnect()
//   {"op":"exit"}
// Events: connect {id, transport, recovered, pid}, connect_error {message},
// disconnect {reason}, upgrade {transport}, event {name, args, offset}.
// Binaries (Buffer, ArrayBuffer) in received args are {"$binary":"<base64>"};
// with connection state recovery on (the client has a pid), the offset the
// hub appends as the last argument is reported as `offset`, not in args.
import { io } from 'socket.io-client';
import readline from 'node:readline';

let socket = null;
const sockets = {};
const sockOf = (cmd) => (cmd.sock ? sockets[cmd.sock] : socket);

// received values as JSON: binaries as {"$binary": base64}
function enc(v) {
	if (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v))
		return { $binary: Buffer.from(v instanceof ArrayBuffer ? new Uint8Array(v)
			: v).toString('base64') };
	if (Array.isArray(v))
		return v.map(enc);
	if (v && typeof v === 'object')
		return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, enc(x)]));
	return v;
}

// {"$binary": base64} in commands: Buffers (at any depth)
function dec(v) {
	if (Array.isArray(v))
		return v.map(dec);
	if (v && typeof v === 'object') {
		if ('$binary' in v && Object.keys(v).length === 1)
			return Buffer.from(v.$binary, 'base64');
		return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, dec(x)]));
	}
	return v;
}

function out(ev, extra = {}) {
	process.stdout.write(JSON.stringify({ ev, t: Date.now() / 1000, ...extra }) + '\n');
}

function watch(s, name) {
	const tag = name ? { sock: name } : {};
	s.on('connect', () => out('connect', { ...tag, id: s.id, transport: s.io.engine.transport.name,
		recovered: s.recovered === true, pid: s._pid ?? null }));
	s.on('connect_error', (err) => out('connect_error', { ...tag, message: String(err.message),
		data: err.data ?? null }));
	s.on('disconnect', (reason) => out('disconnect', { ...tag, reason }));
	s.onAny((ev, ...args) => out('event', { ...tag, name: ev, args: enc(args), offset: null }));
}

function connect(cmd) {
	socket = io(cmd.url, { reconnection: false, ...(cmd.opts || {}) });
	socket.on('connect', () => out('connect', { id: socket.id,
		transport: socket.io.engine.transport.name, recovered: socket.recovered === true,
		pid: socket._pid ?? null }));
	socket.on('connect_error', (err) => out('connect_error', { message: String(err.message),
		data: err.data ?? null }));
	socket.on('disconnect', (reason) => out('disconnect', { reason }));
	socket.io.on('open', () => socket.io.engine.on('upgrade', (t) =>
		out('upgrade', { transport: t.name })));
	socket.onAny((name, ...args) => {
		let offset = null;
		if (socket._pid && args.length && typeof args[args.length - 1] === 'string')
			offset = args.pop();
		out('event', { name, args: enc(args), offset });
	});
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
	case 'socket': {
		const s = socket.io.socket(cmd.nsp, cmd.opts || {});
		sockets[cmd.name] = s;
		watch(s, cmd.name);
		s.connect();
		break;
	}
	case 'emitWithAck':
		sockOf(cmd).emitWithAck(cmd.event, ...dec(cmd.args || [])).then(
			(res) => out('ack', { id: cmd.id, error: null, args: enc([res]) }),
			(err) => out('ack', { id: cmd.id, error: String(err && err.message), args: [] }));
		break;
	case 'emit': {
		// {"$binary": "<base64>"} stands for a Buffer (a binary attachment),
		// at any depth
		const args = dec(cmd.args || []);
		const socket = sockOf(cmd);
		if (cmd.ack) {
			const s = cmd.timeout ? socket.timeout(cmd.timeout) : socket;
			s.emit(cmd.event, ...args, (...res) => {
				if (cmd.timeout) {
					const [err, ...rest] = res;
					out('ack', { id: cmd.id, error: err ? String(err.message) : null,
						args: enc(rest) });
				} else {
					out('ack', { id: cmd.id, error: null, args: enc(res) });
				}
			});
		} else {
			socket.emit(cmd.event, ...args);
		}
		break;
	}
	case 'raw':
		socket.io.engine.transport.ws.send(cmd.binary !== undefined
			? Buffer.from(cmd.binary, 'base64') : cmd.data);
		break;
	case 'drop':
		socket.io.engine.close();
		break;
	case 'disconnect':
		sockOf(cmd).disconnect();
		break;
	case 'exit':
		process.exit(0);
		break;
	default:
		out('bad-command', { message: 'unknown op ' + cmd.op });
	}
});
rl.on('close', () => process.exit(0));
