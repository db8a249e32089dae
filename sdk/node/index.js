// SPDX-License-Identifier: MIT
// @hub/server: the server side of the hub's events, for Node backends.
//
// A backend logs in to the hub's broker as a service (a service key:
// `hubctl servicekey add shop`; username = the key's name, password = the
// key) and then does what a Socket.IO server's handlers do:
//
//   const hub = await connect({url: 'mqtt://127.0.0.1:1883', service: 'shop', key});
//   hub.handle('order', async (data, ctx) => ({ok: true, id: await save(data, ctx.user)}));
//   hub.hook('lobby', async (ev, ctx) => ev.data.text ? accept() : reject('empty'));
//   hub.to('lobby').emit('news', {text: 'hi'});
//   hub.on('left', ({room, user, reason}) => ...);
//
// Wire protocol (CONTRACT.md "Backends"): calls arrive on
// svc/{service}/{method}/{caller} (MQTT 5, Response Topic + Correlation
// Data); hook requests on svc/{service}/hook/{room}/{event}/{sender}; the
// hub stamps the caller as user properties hub-user, hub-display, hub-role,
// hub-kind. Every process of one backend subscribes through the shared
// subscription $share/{service}/svc/{service}/#, so calls are spread over
// them and a process that stops takes only its in-flight calls with it.
import { EventEmitter } from 'node:events';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import mqtt from 'mqtt';

const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** Whether s is a hub name (users, devices, services, rooms). */
export function validName(s) {
  return typeof s === 'string' && NAME_RE.test(s);
}

/** Whether s is a valid event or method name (one topic level). */
export function validEvent(s) {
  if (typeof s !== 'string' || s.length === 0) return false;
  const b = Buffer.from(s, 'utf8');
  if (b.length > 64 || b.toString('utf8') !== s) return false;
  for (const c of b) if (c < 0x20 || c === 0x7f || c === 0x2f || c === 0x2b || c === 0x23) return false;
  return true;
}

/** A hook verdict: let the event through, optionally with changed data. */
export function accept(data) {
  const v = { accept: true };
  if (data !== undefined) v.data = data;
  return v;
}

/** A hook verdict: refuse the event; the sender gets `reason`. */
export function reject(reason = 'rejected') {
  return { accept: false, reason: String(reason) };
}

/** An error answer for a call: `{error: code, message}`. */
export class CallError extends Error {
  constructor(code, message) {
    super(message || code);
    this.code = code;
  }
}

/**
 * Parse a topic the hub sends a service. Returns
 * {kind: 'call', service, method, caller} | {kind: 'hook', service, room,
 * event, sender} | {kind: 'event', room, event, sender} | {kind: 'sys',
 * room, notice} | {kind: 'presence', room, user} | null.
 */
export function parseTopic(topic) {
  const l = topic.split('/');
  if (l[0] === 'svc' && l.length === 4 && l[2] !== 'hook') {
    return { kind: 'call', service: l[1], method: l[2], caller: l[3] };
  }
  if (l[0] === 'svc' && l.length === 6 && l[2] === 'hook') {
    return { kind: 'hook', service: l[1], room: l[3], event: l[4], sender: l[5] };
  }
  if (l[0] === 'rooms' && l.length === 5 && l[2] === 'ev') {
    return { kind: 'event', room: l[1], event: l[3], sender: l[4] };
  }
  if (l[0] === 'rooms' && l.length === 4 && l[2] === 'sys') {
    return { kind: 'sys', room: l[1], notice: l[3] };
  }
  if (l[0] === 'rooms' && l.length === 4 && l[2] === 'presence') {
    return { kind: 'presence', room: l[1], user: l[3] };
  }
  return null;
}

/** The caller as the hub stamped it on a call or hook request. */
export function contextOf(props, fallbackUser) {
  const up = (props && props.userProperties) || {};
  const one = (v) => (Array.isArray(v) ? v[v.length - 1] : v);
  return {
    user: one(up['hub-user']) || fallbackUser,
    displayName: one(up['hub-display']) || '',
    role: one(up['hub-role']) || 'user',
    kind: one(up['hub-kind']) || 'user',
  };
}

// Socket.IO arguments on MQTT, as hub-bridge encodes them (docs/socketio.md
// "Arguments and binary data"): no argument = empty payload; one JSON
// value = its JSON text; one binary = the raw bytes with Content Type
// CT_BINARY; anything else (several arguments, binaries inside a value) =
// a JSON array of the arguments, each binary as {"$binary": "<base64>"},
// with Content Type CT_ARGS.
export const CT_BINARY = 'application/octet-stream';
export const CT_ARGS = 'application/vnd.hub.args+json';
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function isBinary(v) {
  return Buffer.isBuffer(v) || v instanceof Uint8Array || v instanceof ArrayBuffer || ArrayBuffer.isView(v);
}

function bytesOf(v) {
  if (v instanceof ArrayBuffer) return Buffer.from(v);
  if (ArrayBuffer.isView(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return Buffer.from(v);
}

// {"$binary": "<string>"} and nothing else: what a binary looks like in CT_ARGS
function binLiteral(v) {
  if (!v || typeof v !== 'object' || Array.isArray(v) || isBinary(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && keys[0] === '$binary' && typeof v.$binary === 'string';
}

function hasBinary(v) {
  if (isBinary(v)) return true;
  if (Array.isArray(v)) return v.some(hasBinary);
  if (v && typeof v === 'object') return Object.values(v).some(hasBinary);
  return false;
}

function toWire(v) {
  if (isBinary(v)) return { $binary: bytesOf(v).toString('base64') };
  if (binLiteral(v)) throw new TypeError('an object whose only member is "$binary" stands for a binary');
  if (Array.isArray(v)) return v.map(toWire);
  if (v && typeof v === 'object' && typeof v.toJSON !== 'function') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = toWire(x);
    return o;
  }
  return v;
}

function fromWire(v) {
  if (binLiteral(v) && B64_RE.test(v.$binary)) return Buffer.from(v.$binary, 'base64');
  if (Array.isArray(v)) return v.map(fromWire);
  if (v && typeof v === 'object') {
    const o = {};
    for (const [k, x] of Object.entries(v)) o[k] = fromWire(x);
    return o;
  }
  return v;
}

/**
 * Encode Socket.IO arguments as one MQTT payload: {payload, contentType}
 * (contentType undefined for no argument or one JSON value).
 */
export function encodeArgs(args) {
  if (!Array.isArray(args)) throw new TypeError('args must be an array');
  if (args.length === 0) return { payload: Buffer.alloc(0), contentType: undefined };
  if (args.length === 1 && isBinary(args[0])) return { payload: bytesOf(args[0]), contentType: CT_BINARY };
  if (args.length === 1 && !hasBinary(args[0])) {
    return { payload: Buffer.from(JSON.stringify(args[0] === undefined ? null : args[0])), contentType: undefined };
  }
  return { payload: Buffer.from(JSON.stringify(args.map(toWire))), contentType: CT_ARGS };
}

/**
 * The Socket.IO arguments an MQTT payload stands for, as hub-bridge gives
 * them to Socket.IO clients; props: the message's MQTT 5 properties
 * (contentType, payloadFormatIndicator). Binaries are Buffers.
 */
export function decodeArgs(payload, props) {
  const buf = payload ? Buffer.from(payload) : Buffer.alloc(0);
  const ct = props && props.contentType;
  if (ct === CT_BINARY) return [buf];
  const text = buf.toString('utf8');
  if (ct === CT_ARGS) {
    try {
      const v = JSON.parse(text);
      if (Array.isArray(v)) return v.map(fromWire);
    } catch {
      // not an argument array after all: read as one argument
    }
  }
  if (buf.length === 0) return [];
  try {
    return [JSON.parse(text)];
  } catch {
    return props && props.payloadFormatIndicator ? [text] : [buf];
  }
}

function parsePayload(buf) {
  if (!buf || buf.length === 0) return null;
  const s = buf.toString('utf8');
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

function encode(data) {
  if (Buffer.isBuffer(data) || data instanceof Uint8Array) return Buffer.from(data);
  return Buffer.from(JSON.stringify(data === undefined ? null : data));
}

/** HMAC-SHA256 signature header value for a webhook body. */
export function signWebhook(secret, body) {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

/** Whether header is the right X-Hub-Signature-256 for body (constant time). */
export function verifyWebhook(secret, body, header) {
  if (typeof header !== 'string') return false;
  const want = Buffer.from(signWebhook(secret, body));
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

/**
 * Express middleware: verifies X-Hub-Signature-256 over the raw body and
 * sets req.body to the parsed webhook ({id, type, ts, ...}); answers 401 on a
 * bad signature, 400 on a body that is not JSON. Use it before any other
 * body parser on that route (it reads the raw bytes itself).
 */
export function webhookMiddleware(secret, { limit = 1 << 20 } = {}) {
  return function hubWebhook(req, res, next) {
    const chunks = [];
    let size = 0;
    let done = false;
    const fail = (status, msg) => {
      if (done) return;
      done = true;
      res.statusCode = status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ error: status === 401 ? 'unauthorized' : 'bad_request', message: msg }));
    };
    req.on('data', (c) => {
      size += c.length;
      if (size > limit) {
        fail(413, 'body too large');
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', (e) => (done ? null : next(e)));
    req.on('end', () => {
      if (done) return;
      const raw = Buffer.concat(chunks);
      if (!verifyWebhook(secret, raw, req.headers['x-hub-signature-256'])) {
        fail(401, 'bad or missing X-Hub-Signature-256');
        return;
      }
      try {
        req.body = JSON.parse(raw.toString('utf8'));
      } catch {
        fail(400, 'the body is not JSON');
        return;
      }
      req.rawBody = raw;
      done = true;
      next();
    });
  };
}

class Emitter {
  constructor(hub, topicOf) {
    this.hub = hub;
    this.topicOf = topicOf;
  }

  /** Publish event with data (JSON, or bytes as they are); resolves once the broker took it. */
  emit(event, data, { qos = 1, retain = false } = {}) {
    if (!validEvent(event)) return Promise.reject(new TypeError(`invalid event name '${event}'`));
    return this.hub._publish(this.topicOf(event), encode(data), { qos, retain });
  }

  /**
   * Publish event with Socket.IO arguments (any number, Buffers and typed
   * arrays anywhere): Socket.IO clients get emit(event, ...args), in
   * hub-bridge's encoding (encodeArgs).
   */
  emitArgs(event, args, { qos = 1, retain = false } = {}) {
    if (!validEvent(event)) return Promise.reject(new TypeError(`invalid event name '${event}'`));
    let enc;
    try {
      enc = encodeArgs(args);
    } catch (e) {
      return Promise.reject(e);
    }
    const opts = { qos, retain };
    if (enc.contentType) opts.properties = { contentType: enc.contentType };
    return this.hub._publish(this.topicOf(event), enc.payload, opts);
  }
}

/**
 * One HTTP(S) request to hubd (node:http / node:https, so that an https://
 * hubd is verified against `ca` when given): resolves {status, text};
 * answers above 1 MiB are refused.
 */
function request(url, { method, headers, body, ca }) {
  const mod = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(url, { method, headers, ...(ca && mod === https ? { ca } : {}) }, (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        size += c.length;
        if (size > 1 << 20) {
          req.destroy(new Error(`${method} ${url.pathname}: answer too big`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30000, () => req.destroy(new Error(`${method} ${url.pathname}: no answer within 30 s`)));
    req.end(body);
  });
}

/** A connected service. Create with connect(). */
export class Hub extends EventEmitter {
  constructor(opts) {
    super();
    if (!validName(opts.service)) throw new TypeError('service must be a service key name');
    if (!opts.key) throw new TypeError('key is required');
    this.service = opts.service;
    this.key = opts.key;
    this.url = opts.url || 'mqtt://127.0.0.1:1883';
    this.http = opts.http || 'http://127.0.0.1:8080';
    // TLS (mqtts://, wss://, https://): the CA the hub's certificate must
    // lead to, for the broker and hubd alike (default: Node's CAs);
    // verification is always on
    this.ca = opts.ca;
    this.shared = opts.shared !== false;
    this.concurrency = opts.concurrency || 64;
    this.handlers = new Map();
    this.hooks = new Map(); // room -> fn ('*' for every room)
    this.inflight = new Set();
    this.waiting = [];
    this.closing = false;
    this.presence = new Map(); // room -> Map(user -> since)
    this._membersRead = new Map(); // room -> the read of its members under way
    this._presenceRooms = new Set(); // rooms whose presence members() follows
    this.presenceWanted = false;
    this.pending = new Map(); // correlation -> resolve (our own calls)
    this.client = null;
  }

  async _start() {
    const id = `${this.service}-${process.pid}-${randomBytes(4).toString('hex')}`;
    this.client = mqtt.connect(this.url, {
      protocolVersion: 5,
      username: this.service,
      password: this.key,
      clientId: id,
      clean: true,
      reconnectPeriod: 1000,
      connectTimeout: 10000,
      keepalive: 30,
      resubscribe: true,
      ...(this.ca ? { ca: this.ca } : {}),
    });
    this.client.on('message', (topic, payload, packet) => this._onMessage(topic, payload, packet));
    // a failed first connection (a refused key, a certificate that does
    // not verify) rejects connect() below; later errors go to 'error'
    this.client.on('error', (e) => {
      if (this.started) this.emit('error', e);
    });
    this.client.on('close', () => {
      // the lists come again with the retained presence when MQTT.js
      // subscribes anew after the reconnect
      for (const m of this.presence.values()) m.clear();
      this.emit('disconnect');
    });
    this.client.on('connect', () => {
      // a call's answer (or a hook's verdict) is a small write right after
      // the PUBACK of the request: without TCP_NODELAY, Nagle holds it
      // until the broker's delayed ACK, 40 ms on Linux
      const s = this.client.stream;
      if (s && typeof s.setNoDelay === 'function') s.setNoDelay(true);
      this.emit('connect');
    });
    await new Promise((resolve, reject) => {
      const ok = () => {
        this.client.off('error', bad);
        this.started = true;
        resolve();
      };
      const bad = (e) => {
        this.client.off('connect', ok);
        this.client.end(true);
        reject(e);
      };
      this.client.once('connect', ok);
      this.client.once('error', bad);
    });
    const filter = this.shared ? `$share/${this.service}/svc/${this.service}/#` : `svc/${this.service}/#`;
    // QoS 0 for what comes to be answered: a call or a hook request is
    // worth as much as its caller's wait (at most once per attempt; one
    // that a dying process took is lost with it either way), and a
    // PUBACK for each would cost the broker and this process a packet
    await this._subscribe([filter, `users/${this.service}/reply/#`], 0);
    return this;
  }

  // Resolves once everything the broker queued for us before now arrived
  // (a message to ourselves comes back after them: one connection, in order).
  _barrier() {
    return this.call(this.service, '$barrier', null, { timeout: 10000, self: true });
  }

  /**
   * Call a method of a service (another backend, or this one) and resolve
   * its answer; {ok: false, error: 'unavailable'|'timeout'|'forbidden'}
   * like clients get ('forbidden': the hub refused the call).
   */
  call(service, method, data, { timeout = 10000, self = false } = {}) {
    const corr = randomBytes(12).toString('hex');
    const topic = self
      ? `users/${this.service}/reply/barrier-${corr}`
      : `svc/${service}/${method}/${this.service}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(corr);
        resolve({ ok: false, error: 'timeout' });
      }, timeout);
      this.pending.set(corr, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      const opts = {
        qos: 1,
        properties: self
          ? { correlationData: Buffer.from(corr) }
          : { responseTopic: `users/${this.service}/reply/${corr}`, correlationData: Buffer.from(corr) },
      };
      this.client.publish(topic, encode(data), opts, (err, packet) => {
        if (!err && !(packet && packet.reasonCode >= 0x80)) return;
        clearTimeout(timer);
        this.pending.delete(corr);
        // the names hubio.js and the gateway use: a PUBACK >= 0x80 is the
        // hub refusing the call; an error without one, the connection going
        // (with nobody to take it the hub answers 'unavailable' itself)
        const rc = packet ? packet.reasonCode : err && err.code;
        resolve({ ok: false, error: rc >= 0x80 ? 'forbidden' : 'unavailable' });
      });
    });
  }

  _subscribe(filters, qos = 1) {
    return new Promise((resolve, reject) => {
      this.client.subscribe(filters, { qos }, (err, granted) => {
        if (err) return reject(err);
        const bad = (granted || []).filter((g) => g.qos >= 0x80);
        if (bad.length) return reject(new Error(`subscription refused: ${bad.map((g) => g.topic).join(', ')}`));
        resolve(granted);
      });
    });
  }

  _publish(topic, payload, opts) {
    return new Promise((resolve, reject) => {
      this.client.publish(topic, payload, opts, (err, packet) => {
        if (err) return reject(err);
        if (packet && packet.reasonCode && packet.reasonCode >= 0x80) {
          return reject(new Error(`the hub refused a publish on ${topic} (reason 0x${packet.reasonCode.toString(16)})`));
        }
        resolve();
      });
    });
  }

  /**
   * Answer calls of `method`: fn(data, ctx) returns (or resolves to) the
   * answer; throwing CallError(code, message) answers {error, message}.
   */
  handle(method, fn) {
    if (!validEvent(method) || method === 'hook') throw new TypeError(`invalid method name '${method}'`);
    this.handlers.set(method, fn);
    return this;
  }

  /**
   * Check events before a room's members get them. hook(room, fn) or
   * hook(fn) for every room hooked to this service (`hubctl room hook ROOM
   * SERVICE`). fn(ev, ctx) with ev = {room, event, data, from} returns
   * accept(), accept(changedData) or reject(reason).
   */
  hook(room, fn) {
    if (typeof room === 'function') {
      fn = room;
      room = '*';
    } else if (!validName(room)) {
      throw new TypeError(`invalid room name '${room}'`);
    }
    this.hooks.set(room, fn);
    return this;
  }

  /** Emit into a room, as this service. */
  to(room) {
    if (!validName(room)) throw new TypeError(`invalid room name '${room}'`);
    return new Emitter(this, (event) => `rooms/${room}/ev/${event}/${this.service}`);
  }

  /** Emit to one user's inbox, as this service. */
  toUser(user) {
    if (!validName(user)) throw new TypeError(`invalid user name '${user}'`);
    return new Emitter(this, (event) => `users/${user}/inbox/${event}/${this.service}`);
  }

  /**
   * Listen to room traffic: 'joined' / 'left' ({room, user, online, reason}),
   * and room events with onEvent(room|'*', fn(ev)). Subscribes on first use.
   */
  on(name, fn) {
    if ((name === 'joined' || name === 'left' || name === 'presence') && !this.presenceWanted) {
      this.presenceWanted = true;
      this._subscribe(['rooms/+/sys/+', 'rooms/+/presence/+']).catch((e) => this.emit('error', e));
    }
    return super.on(name, fn);
  }

  /** Room events as they are delivered to members: fn({room, event, data, from}). */
  onEvent(room, fn) {
    const filter = `rooms/${room === '*' ? '+' : room}/ev/+/+`;
    this._subscribe([filter]).catch((e) => this.emit('error', e));
    super.on('event', (ev) => {
      if (room === '*' || ev.room === room) fn(ev);
    });
    return this;
  }

  /** Online members of a room (from the hub's retained presence). */
  async members(room) {
    if (!validName(room)) throw new TypeError(`invalid room name '${room}'`);
    // one read of a room at a time (each starts the room's list afresh):
    // a second caller waits for the one under way, then reads anew
    const before = this._membersRead.get(room) || Promise.resolve();
    const read = before.catch(() => {}).then(() => this._readMembers(room));
    this._membersRead.set(room, read);
    try {
      return await read;
    } finally {
      if (this._membersRead.get(room) === read) this._membersRead.delete(room);
    }
  }

  async _readMembers(room) {
    // the first read subscribes to the room's presence, whose retained
    // messages are the list; from then on their changes keep it current
    // (a subscription made again gets no retained copies: the list must
    // not start afresh). The barrier returns once all that the broker
    // queued for us before it arrived.
    if (!this.presenceWanted && !this._presenceRooms.has(room)) {
      this.presence.set(room, new Map());
      await this._subscribe([`rooms/${room}/presence/+`]);
      this._presenceRooms.add(room);
    }
    await this._barrier();
    const m = this.presence.get(room);
    return m ? [...m.keys()].sort() : [];
  }

  _onMessage(topic, payload, packet) {
    const props = packet.properties || {};
    if (topic.startsWith(`users/${this.service}/reply/`)) {
      const corr = props.correlationData ? Buffer.from(props.correlationData).toString() : '';
      const done = this.pending.get(corr);
      if (done) {
        this.pending.delete(corr);
        done(parsePayload(payload));
      }
      return;
    }
    const t = parseTopic(topic);
    if (!t) return;
    if (t.kind === 'call') {
      // after close() took the subscription away the broker routes no
      // more calls here; one that still came gets a clear answer, not silence
      if (this.closing) {
        const busy = { error: 'unavailable', message: `${this.service} is stopping` };
        return this._answer(props, busy).catch(() => {});
      }
      return this._admit(() => this._call(t, payload, props));
    }
    if (t.kind === 'hook') {
      // the broker fails the event closed at its deadline
      if (this.closing) return;
      return this._admit(() => this._hook(t, payload, props));
    }
    if (t.kind === 'event') {
      const args = decodeArgs(payload, props);
      this.emit('event', { room: t.room, event: t.event, data: parsePayload(payload), from: t.sender, args });
      return;
    }
    if (t.kind === 'presence') {
      const m = this.presence.get(t.room) || new Map();
      if (payload.length) m.set(t.user, parsePayload(payload));
      else m.delete(t.user);
      this.presence.set(t.room, m);
      return;
    }
    if (t.kind === 'sys' && (t.notice === 'joined' || t.notice === 'left')) {
      const n = parsePayload(payload) || {};
      this.emit(t.notice, { room: t.room, user: n.user, online: n.online, reason: n.reason });
    }
  }

  // At most `concurrency` handlers at once; the rest wait in order.
  _admit(job) {
    const run = () => {
      const p = Promise.resolve()
        .then(job)
        .catch((e) => this.emit('error', e))
        .finally(() => {
          this.inflight.delete(p);
          const next = this.waiting.shift();
          if (next) next();
        });
      this.inflight.add(p);
    };
    if (this.inflight.size < this.concurrency) run();
    else this.waiting.push(run);
  }

  async _answer(props, body) {
    if (!props.responseTopic) return;
    // QoS 0, as the call came: the broker passes it on to the caller at
    // once, and its PUBACK would be one more packet each way per call
    const opts = { qos: 0, properties: {} };
    if (props.correlationData) opts.properties.correlationData = props.correlationData;
    await this._publish(props.responseTopic, Buffer.from(JSON.stringify(body)), opts);
  }

  async _call(t, payload, props) {
    const fn = this.handlers.get(t.method);
    const ctx = { ...contextOf(props, t.caller), method: t.method, service: this.service };
    let answer;
    if (!fn) {
      answer = { error: 'unknown_method', message: `${this.service} has no method '${t.method}'` };
    } else {
      try {
        answer = await fn(parsePayload(payload), ctx);
        if (answer === undefined) answer = { ok: true };
      } catch (e) {
        answer =
          e instanceof CallError
            ? { error: e.code, message: e.message }
            : { error: 'internal', message: 'the service failed to answer' };
        if (!(e instanceof CallError)) this.emit('error', e);
      }
    }
    await this._answer(props, answer);
  }

  async _hook(t, payload, props) {
    const fn = this.hooks.get(t.room) || this.hooks.get('*');
    const ctx = { ...contextOf(props, t.sender), room: t.room, event: t.event, service: this.service };
    let verdict;
    if (!fn) {
      verdict = reject(`${this.service} does not check room ${t.room}`);
    } else {
      try {
        const ev = { room: t.room, event: t.event, data: parsePayload(payload), from: t.sender };
        ev.args = decodeArgs(payload, props);
        verdict = await fn(ev, ctx);
        if (verdict === undefined || verdict === true) verdict = accept();
        else if (verdict === false) verdict = reject();
      } catch (e) {
        this.emit('error', e);
        verdict = reject('the service failed to check the event');
      }
    }
    await this._answer(props, verdict);
  }

  async _api(method, path, body) {
    const res = await request(new URL(path, this.http), {
      method,
      headers: { authorization: `Bearer ${this.key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      ca: this.ca,
    });
    const text = res.text;
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (res.status < 200 || res.status > 299) {
      const e = new Error((json && json.message) || `${method} ${path}: HTTP ${res.status}`);
      e.status = res.status;
      e.code = json && json.error;
      throw e;
    }
    return json;
  }

  /**
   * A hub session for a user of an app with its own login (POST
   * /api/sessions): resolves {sid, token, cookie, expires_at}; set `cookie`
   * as the hub_sid cookie, or give the browser `token`.
   */
  createSession({ user, display_name, create = false, rooms = [] }) {
    return this._api('POST', '/api/sessions', { user, display_name, create, rooms });
  }

  /** End a session made with createSession (its connections close within 1 s). */
  async endSession(sid) {
    await this._api('DELETE', `/api/sessions/${encodeURIComponent(sid)}`);
  }

  /** Push through hubd's publish API (no MQTT needed). */
  publish({ room, user, event, data }) {
    return this._api('POST', '/api/publish', room ? { room, event, data } : { user, event, data });
  }

  /**
   * Stop: take no new calls (unsubscribe), let the calls in flight finish
   * (up to `timeout` ms), then disconnect.
   */
  async close({ timeout = 10000 } = {}) {
    if (!this.client) return;
    const deadline = Date.now() + timeout;
    const filter = this.shared ? `$share/${this.service}/svc/${this.service}/#` : `svc/${this.service}/#`;
    // calls the broker sent before it had the UNSUBSCRIBE arrive before its
    // UNSUBACK: they are this process's to answer, so it keeps taking them
    // until then (not past the deadline: a broker that is gone answers
    // nothing, and MQTT.js would keep the UNSUBSCRIBE for a reconnect)
    let answered = false;
    if (this.client.connected) {
      let timer;
      await Promise.race([
        new Promise((r) => this.client.unsubscribe(filter, (err) => { answered = !err; r(); })),
        new Promise((r) => { timer = setTimeout(r, Math.max(0, deadline - Date.now())); }),
      ]);
      clearTimeout(timer);
    }
    this.closing = true;
    // every call taken: those running and those waiting for a slot
    while ((this.inflight.size || this.waiting.length) && Date.now() < deadline) {
      let timer;
      await Promise.race([
        Promise.allSettled([...this.inflight]),
        new Promise((r) => { timer = setTimeout(r, deadline - Date.now()); }),
      ]);
      clearTimeout(timer);
    }
    // a clean DISCONNECT once the broker answered; else (gone, or silent:
    // MQTT.js would wait for its UNSUBACK for ever) end at once
    const force = !answered || !this.client.connected || Date.now() >= deadline;
    await new Promise((r) => this.client.end(force, {}, () => r()));
    this.client = null;
  }
}

/** Connect as a service; resolves a Hub once subscribed to its calls. */
export async function connect(opts) {
  const hub = new Hub(opts || {});
  return hub._start();
}

export default { connect, accept, reject, CallError, webhookMiddleware, verifyWebhook, signWebhook };
