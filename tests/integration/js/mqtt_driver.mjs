// SPDX-License-Identifier: MIT
// MQTT.js (the repo's node_modules/mqtt) driven line by line from a test:
// one JSON command per stdin line, one JSON event per stdout line. Lets the
// Python integration tests use the browser's MQTT client over ws:// with
// the same timing clock (every event carries t = Date.now() / 1000).
//
// Commands:
//   {"op":"connect","url","username","password","clientId","protocolVersion","keepalive",
//    "headers","ca"}  (headers: of the WebSocket upgrade, e.g. Cookie and Origin;
//                 password null: none sent; ca: a CA file that wss:// is
//                 verified against, instead of Node's CAs)
//   {"op":"sub","id","filters":[...],"qos"}      -> {"ev":"suback","id","granted","error"}
//   {"op":"pub","id","topic","payload"|"payload_b64","qos","retain"}
//                                               -> {"ev":"puback","id","error","code"}
//   {"op":"end"}       clean DISCONNECT           -> {"ev":"ended"}
//   {"op":"destroy"}   drop the socket (a killed browser tab)
//   {"op":"exit"}
// Events besides: connect, error (code), disconnect (reasonCode, a v5
// DISCONNECT from the broker), message (topic, payload, payload_b64, qos),
// close, offline.
import mqtt from 'mqtt';
import fs from 'node:fs';
import readline from 'node:readline';

let client = null;

function emit(ev, extra = {}) {
	process.stdout.write(JSON.stringify({ ev, t: Date.now() / 1000, ...extra }) + '\n');
}

function connect(cmd) {
	client = mqtt.connect(cmd.url, {
		username: cmd.username,
		password: cmd.password === null ? undefined : cmd.password,
		...(cmd.headers ? { wsOptions: { headers: cmd.headers } } : {}),
		...(cmd.ca ? { ca: fs.readFileSync(cmd.ca) } : {}),
		clientId: cmd.clientId || ('mqttjs-' + Math.random().toString(16).slice(2, 10)),
		protocolVersion: cmd.protocolVersion || 4,
		keepalive: cmd.keepalive ?? 60,
		reconnectPeriod: 0,
		connectTimeout: 10000,
		clean: true,
	});
	client.on('connect', (ack) => emit('connect', { returnCode: ack.returnCode ?? ack.reasonCode ?? 0 }));
	client.on('error', (err) => emit('error', { code: err.code ?? null, message: String(err.message) }));
	client.on('disconnect', (pkt) => emit('disconnect', { reasonCode: pkt.reasonCode ?? null }));
	client.on('close', () => emit('close'));
	client.on('offline', () => emit('offline'));
	client.on('message', (topic, payload, pkt) =>
		emit('message', { topic, payload: payload.toString('utf8'),
			payload_b64: cmd.b64 ? payload.toString('base64') : undefined,
			qos: pkt.qos, retain: !!pkt.retain }));
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
	let cmd;
	try {
		cmd = JSON.parse(line);
	} catch (e) {
		emit('bad-command', { message: String(e) });
		return;
	}
	switch (cmd.op) {
	case 'connect':
		connect(cmd);
		break;
	case 'sub':
		// granted: the SUBACK's codes as sent (MQTT.js's own list would
		// hold the requested QoS when a code is a failure)
		client.subscribe(cmd.filters, { qos: cmd.qos ?? 1 }, (err, granted, packet) => {
			emit('suback', {
				id: cmd.id,
				error: err ? String(err.message) : null,
				granted: packet && packet.granted ? packet.granted : (granted || []).map((g) => g.qos),
			});
		});
		break;
	case 'pub':
		client.publish(cmd.topic, cmd.payload_b64 !== undefined
			? Buffer.from(cmd.payload_b64, 'base64') : (cmd.payload ?? ''),
		{ qos: cmd.qos ?? 0, retain: !!cmd.retain },
			(err) => emit('puback', { id: cmd.id, error: err ? String(err.message) : null,
				code: err && err.code !== undefined ? err.code : 0 }));
		break;
	case 'end':
		client.end(false, {}, () => emit('ended'));
		break;
	case 'destroy':
		client.stream.destroy();
		break;
	case 'exit':
		process.exit(0);
		break;
	default:
		emit('bad-command', { message: 'unknown op ' + cmd.op });
	}
});
rl.on('close', () => process.exit(0));
emit('ready');
