// SPDX-License-Identifier: MIT
// TEST ONLY: the echo server the official Socket.IO protocol test suite
// expects (socket.io-protocol/test-suite: "message" -> "message-back" with
// the same arguments, "message-with-ack" acknowledged with them), written
// as a hub backend on the Node SDK, so the echo goes through the hub's
// real paths (scripts/conformance, tests/integration/test_sio_conformance.py;
// docs/testing.md "Protocol conformance").
//
//   node conformance_echo.mjs MQTT_URL SERVICE KEY ROOM
//
// - Room ROOM: every "message" event a member emits comes back into the
//   room as "message-back" with the same Socket.IO arguments (several,
//   binaries too: hub-bridge's encoding, decodeArgs / emitArgs). Socket.IO
//   members get it as any room event: the arguments, then meta
//   {room, from: SERVICE, ts}.
// - "auth" on connection: the suite's server emits "auth" to each new
//   socket; a backend hears of connections through presence, so when a
//   member of ROOM comes online (the room's "joined" notice) its sockets
//   get "auth" with {} (the suite connects without an auth payload) in
//   their inbox: the arguments, then meta {room: null, from, ts, inbox}.
// - Namespace "/SERVICE" (a service namespace: events are calls):
//   "message-with-ack" is answered with what it carried (the ack's one
//   argument: the value, or the argument array for several), "message"
//   with {"ok":true}.
// Prints {"ev":"ready"} once subscribed, {"ev":"echoed","room","args"} per
// echo; ends on stdin's end or SIGTERM.
import { connect } from '../../../sdk/node/index.js';

const [url, service, key, room] = process.argv.slice(2);
if (!url || !service || !key || !room) {
  process.stderr.write('usage: conformance_echo.mjs MQTT_URL SERVICE KEY ROOM\n');
  process.exit(2);
}

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
process.stdout.on('error', () => {}); // whoever started us stopped reading
const hub = await connect({ url, service, key, shared: false });
hub.on('error', (e) => out({ ev: 'error', message: String(e && e.message) }));

hub.onEvent(room, (ev) => {
  if (ev.event !== 'message' || ev.from === service) return;
  hub
    .to(ev.room)
    .emitArgs('message-back', ev.args)
    .then(
      () => out({ ev: 'echoed', room: ev.room, nargs: ev.args.length }),
      (e) => out({ ev: 'error', message: String(e.message) }),
    );
});
hub.on('joined', ({ room: r, user }) => {
  if (r !== room) return;
  hub
    .toUser(user)
    .emitArgs('auth', [{}])
    .then(
      () => out({ ev: 'greeted', user }),
      (e) => out({ ev: 'error', message: String(e.message) }),
    );
});
hub.handle('message-with-ack', (data) => data);
hub.handle('message', () => ({ ok: true }));

// onEvent subscribes in the background: a barrier makes "ready" mean it
await hub.members(room);
out({ ev: 'ready' });

const stop = async () => {
  await hub.close({ timeout: 1000 });
  process.exit(0);
};
process.stdin.on('end', stop);
process.stdin.resume();
process.on('SIGTERM', stop);
