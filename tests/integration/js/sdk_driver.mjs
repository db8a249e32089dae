// SPDX-License-Identifier: MIT
// The Node server SDK (sdk/node, @hub/server) driven line by line from a
// Python test, against a real hubd: one JSON command per stdin line, one
// JSON line per answer or event on stdout.
//
// Commands:
//   {"op":"hub","http","service","key"}     new Hub(...) (no MQTT connection: the
//                                           session calls use hubd's HTTP API)
//   {"op":"create","id","args":{...}}       hub.createSession(args)
//   {"op":"end","id","sid"}                 hub.endSession(sid)
//   {"op":"listen","id","secret","port"}    an HTTP server with webhookMiddleware(secret)
//                                           on port (0: a free one) -> {"id","ok","value":{"port"}}
//   {"op":"exit"}
// Answers: {"id","ok":true,"value"} or {"id","ok":false,"status","code","message"}.
// Events: {"ev":"webhook","body"} for each verified webhook (answered 204),
//         {"ev":"answered","status"} for every webhook request answered.
import http from 'node:http';
import readline from 'node:readline';
import { Hub, webhookMiddleware } from '../../../sdk/node/index.js';

let hub = null;
const servers = [];

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function run(cmd) {
  switch (cmd.op) {
    case 'hub':
      hub = new Hub({ http: cmd.http, service: cmd.service, key: cmd.key });
      return null;
    case 'create':
      return hub.createSession(cmd.args);
    case 'end':
      await hub.endSession(cmd.sid);
      return null;
    case 'listen': {
      const mw = webhookMiddleware(cmd.secret);
      const srv = http.createServer((req, res) => {
        res.on('finish', () => out({ ev: 'answered', status: res.statusCode }));
        mw(req, res, () => {
          out({ ev: 'webhook', body: req.body });
          res.statusCode = 204;
          res.end();
        });
      });
      servers.push(srv);
      await new Promise((r) => srv.listen(cmd.port || 0, '127.0.0.1', r));
      return { port: srv.address().port };
    }
    case 'exit':
      for (const s of servers) s.close();
      process.exit(0);
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (e) {
    out({ ev: 'bad-command', message: String(e) });
    return;
  }
  run(cmd).then(
    (value) => out({ id: cmd.id, ok: true, value: value ?? null }),
    (e) => out({ id: cmd.id, ok: false, status: e.status ?? null, code: e.code ?? null, message: String(e.message) }),
  );
});
rl.on('close', () => process.exit(0));
out({ ev: 'ready' });
