// SPDX-License-Identifier: MIT
// Unit tests of @hub/server's pure parts (node --test): names, topics, the
// caller context, verdicts, Socket.IO arguments on MQTT, webhook signatures
// and the Express-style middleware on a real node:http server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  CT_ARGS,
  CT_BINARY,
  accept,
  contextOf,
  decodeArgs,
  encodeArgs,
  parseTopic,
  reject,
  signWebhook,
  validEvent,
  validName,
  verifyWebhook,
  webhookMiddleware,
} from '../index.js';

test('names and events follow the hub', () => {
  assert.ok(validName('shop'));
  assert.ok(validName('a.b_c-9'));
  assert.ok(!validName(''));
  assert.ok(!validName('a b'));
  assert.ok(!validName('x'.repeat(65)));
  assert.ok(validName('x'.repeat(64)));
  assert.ok(validEvent('chat message'));
  assert.ok(validEvent('ünïcode'));
  assert.ok(!validEvent('a/b'));
  assert.ok(!validEvent('a+b'));
  assert.ok(!validEvent('a#'));
  assert.ok(!validEvent('tab\there'));
  assert.ok(!validEvent(''));
  assert.ok(!validEvent('é'.repeat(33))); // 66 bytes
});

test('topics the hub sends a service', () => {
  assert.deepEqual(parseTopic('svc/shop/order/alice'), {
    kind: 'call', service: 'shop', method: 'order', caller: 'alice',
  });
  assert.deepEqual(parseTopic('svc/shop/hook/lobby/chat message/bob'), {
    kind: 'hook', service: 'shop', room: 'lobby', event: 'chat message', sender: 'bob',
  });
  assert.deepEqual(parseTopic('rooms/lobby/ev/news/shop'), {
    kind: 'event', room: 'lobby', event: 'news', sender: 'shop',
  });
  assert.deepEqual(parseTopic('rooms/lobby/sys/left'), { kind: 'sys', room: 'lobby', notice: 'left' });
  assert.deepEqual(parseTopic('rooms/lobby/presence/bob'), { kind: 'presence', room: 'lobby', user: 'bob' });
  assert.equal(parseTopic('svc/shop/hook/x'), null); // 'hook' is never a method
  assert.equal(parseTopic('users/a/inbox/x/y'), null);
});

test('the caller comes from the hub stamp, last value wins', () => {
  const ctx = contextOf({ userProperties: { 'hub-user': 'alice', 'hub-display': 'Alice', 'hub-role': 'admin', 'hub-kind': 'user' } }, 'x');
  assert.deepEqual(ctx, { user: 'alice', displayName: 'Alice', role: 'admin', kind: 'user' });
  // a client cannot add its own: the hub strips them, and its own come last
  const two = contextOf({ userProperties: { 'hub-user': ['mallory', 'bob'] } }, 'bob');
  assert.equal(two.user, 'bob');
  assert.deepEqual(contextOf(undefined, 'carl'), { user: 'carl', displayName: '', role: 'user', kind: 'user' });
});

test('verdicts', () => {
  assert.deepEqual(accept(), { accept: true });
  assert.deepEqual(accept({ text: 'x' }), { accept: true, data: { text: 'x' } });
  assert.deepEqual(accept(null), { accept: true, data: null });
  assert.deepEqual(reject('no'), { accept: false, reason: 'no' });
  assert.deepEqual(reject(), { accept: false, reason: 'rejected' });
});

test('webhook signatures', () => {
  const body = '{"id":"x","type":"login"}';
  const sig = signWebhook('s3cret', body);
  assert.match(sig, /^sha256=[0-9a-f]{64}$/);
  assert.ok(verifyWebhook('s3cret', body, sig));
  assert.ok(verifyWebhook('s3cret', Buffer.from(body), sig));
  assert.ok(!verifyWebhook('other', body, sig));
  assert.ok(!verifyWebhook('s3cret', body + ' ', sig));
  assert.ok(!verifyWebhook('s3cret', body, sig.toUpperCase()));
  assert.ok(!verifyWebhook('s3cret', body, undefined));
  assert.ok(!verifyWebhook('s3cret', body, 'sha256=00'));
});

async function serve(mw) {
  const server = http.createServer((req, res) => {
    mw(req, res, (err) => {
      if (err) {
        res.statusCode = 500;
        res.end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ got: req.body }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

test('webhook middleware on a real server', async () => {
  const server = await serve(webhookMiddleware('s3cret', { limit: 1024 }));
  const url = `http://127.0.0.1:${server.address().port}/hook`;
  try {
    const body = JSON.stringify({ id: 'e1', type: 'joined', room: 'lobby' });
    let r = await fetch(url, { method: 'POST', body, headers: { 'x-hub-signature-256': signWebhook('s3cret', body) } });
    assert.equal(r.status, 200);
    assert.deepEqual((await r.json()).got, { id: 'e1', type: 'joined', room: 'lobby' });
    r = await fetch(url, { method: 'POST', body, headers: { 'x-hub-signature-256': signWebhook('wrong', body) } });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error, 'unauthorized');
    r = await fetch(url, { method: 'POST', body });
    assert.equal(r.status, 401);
    r = await fetch(url, { method: 'POST', body: 'nope', headers: { 'x-hub-signature-256': signWebhook('s3cret', 'nope') } });
    assert.equal(r.status, 400);
    const big = 'x'.repeat(4096);
    r = await fetch(url, { method: 'POST', body: big, headers: { 'x-hub-signature-256': signWebhook('s3cret', big) } }).catch(() => null);
    assert.ok(r === null || r.status === 413);
  } finally {
    server.close();
  }
});

test('Socket.IO arguments on MQTT: the encoding hub-bridge uses', () => {
  const enc = (...a) => {
    const e = encodeArgs(a);
    return [e.payload.toString('latin1'), e.contentType];
  };
  assert.deepEqual(enc(), ['', undefined]);
  assert.deepEqual(enc({ a: 1 }), ['{"a":1}', undefined]);
  assert.deepEqual(enc('x'), ['"x"', undefined]);
  assert.deepEqual(enc(Buffer.from([1, 2, 255])), ['\x01\x02\xff', CT_BINARY]);
  assert.deepEqual(enc(Uint8Array.from([4, 5])), ['\x04\x05', CT_BINARY]);
  assert.deepEqual(enc(1, '2', { 3: [true] }), ['[1,"2",{"3":[true]}]', CT_ARGS]);
  assert.deepEqual(enc({ img: Buffer.from([1, 2, 3]) }), ['[{"img":{"$binary":"AQID"}}]', CT_ARGS]);
  assert.deepEqual(enc('a', Uint8Array.from([4, 5, 6]).buffer), ['["a",{"$binary":"BAUG"}]', CT_ARGS]);
  // the shape of a binary, sent as data among several arguments: refused
  // (hub-bridge answers bad_args for it)
  assert.throws(() => encodeArgs([1, { $binary: 'AQID' }]), TypeError);
});

test('Socket.IO arguments from MQTT: what hub-bridge gives Socket.IO clients', () => {
  assert.deepEqual(decodeArgs(Buffer.alloc(0)), []);
  assert.deepEqual(decodeArgs(Buffer.from('{"a":1}')), [{ a: 1 }]);
  assert.deepEqual(decodeArgs(Buffer.from('[1,2]')), [[1, 2]]); // unmarked: one argument
  assert.deepEqual(decodeArgs(Buffer.from('[1,2]'), { contentType: CT_ARGS }), [1, 2]);
  assert.deepEqual(decodeArgs(Buffer.from([0xff, 0])), [Buffer.from([0xff, 0])]);
  assert.deepEqual(decodeArgs(Buffer.from('hello'), { payloadFormatIndicator: true }), ['hello']);
  assert.deepEqual(decodeArgs(Buffer.from('{"a":1}'), { contentType: CT_BINARY }), [Buffer.from('{"a":1}')]);
  assert.deepEqual(decodeArgs(Buffer.from('["a",{"x":{"$binary":"AQID"}},{"$binary":"no!"}]'), { contentType: CT_ARGS }),
    ['a', { x: Buffer.from([1, 2, 3]) }, { $binary: 'no!' }]);
  // CT_ARGS on something that is not an array: one argument
  assert.deepEqual(decodeArgs(Buffer.from('{"a":1}'), { contentType: CT_ARGS }), [{ a: 1 }]);
  // round trips
  for (const args of [[], [null], [1, '2', { 3: [false] }], [Buffer.from([9])], [{ deep: [Buffer.from('x')] }, 7]]) {
    const e = encodeArgs(args);
    assert.deepEqual(decodeArgs(e.payload, { contentType: e.contentType }), args);
  }
});
