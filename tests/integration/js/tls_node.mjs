// SPDX-License-Identifier: MIT
// The hub's Node clients over TLS, verifying the hub's certificate against
// a CA file (tests/integration/test_tls.py): the server SDK (sdk/node) as a
// service over mqtts:// with its HTTP API on https://, and hubio.js
// (web/lib/hubio.js) in Node over wss:// with MQTT.js from node_modules.
//
//   node tls_node.mjs '{"mqtts","wss","https","ca","service","key","user","token"}'
//
// One JSON line per step on stdout: {"step", "ok", ...}; exit 0 when every
// step went as expected (the steps without the CA must fail).
import fs from 'node:fs';
import mqtt from 'mqtt';
import { connect as sdkConnect } from '../../../sdk/node/index.js';
import * as hubio from '../../../web/lib/hubio.js';

const a = JSON.parse(process.argv[2]);
const ca = fs.readFileSync(a.ca);
let failed = false;

function out(step, ok, extra = {}) {
  if (!ok) failed = true;
  process.stdout.write(JSON.stringify({ step, ok, ...extra }) + '\n');
}

function within(ms, p, what) {
  return Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error(`${what}: no answer in ${ms} ms`)), ms))]);
}

function hubioConnect(opts) {
  const h = hubio.connect(a.wss, { username: a.user, token: a.token, mqtt, reconnect: false, ...opts });
  return within(10000, new Promise((resolve, reject) => {
    h.once('connect', () => resolve(h));
    h.once('error', (e) => reject(e));
  }), 'hubio connect').catch((e) => {
    h.close();
    throw e;
  });
}

// the SDK: a service over mqtts://, verified against the CA
const svc = await within(10000, sdkConnect({ url: a.mqtts, http: a.https, service: a.service, key: a.key, ca }), 'sdk connect');
svc.handle('ping', (data, ctx) => ({ pong: data, user: ctx.user }));
out('sdk-connect', true);

// hubio.js in Node over wss://, with the CA
const h = await hubioConnect({ ca });
out('hubio-connect', true);
await h.join('lobby');
const answer = await within(10000, h.call(a.service, 'ping', { n: 1 }), 'call');
out('call', answer && answer.pong && answer.pong.n === 1 && answer.user === a.user, { answer });

// the SDK's HTTP API over https:// (the publish API), seen by hubio
const news = new Promise((resolve) => h.once('news', (data, meta) => resolve({ data, meta })));
await within(10000, svc.publish({ room: 'lobby', event: 'news', data: { tls: true } }), 'publish');
const got = await within(10000, news, 'news');
out('publish', got.data.tls === true && got.meta.room === 'lobby', got);

// without the CA: both refuse the hub's certificate
try {
  const bad = await hubioConnect({});
  bad.close();
  out('hubio-no-ca', false);
} catch (e) {
  out('hubio-no-ca', true, { error: String(e.message || e) });
}
try {
  const bad = await within(5000, sdkConnect({ url: a.mqtts, service: a.service, key: a.key }), 'sdk connect');
  await bad.close();
  out('sdk-no-ca', false);
} catch (e) {
  out('sdk-no-ca', true, { error: String(e.message || e) });
}
try {
  svc.ca = undefined;
  await svc.publish({ room: 'lobby', event: 'news', data: {} });
  out('https-no-ca', false);
} catch (e) {
  out('https-no-ca', /certificate/i.test(String(e.message)), { error: String(e.message) });
}

await h.close();
await svc.close({ timeout: 1000 });
process.exit(failed ? 1 : 0);
