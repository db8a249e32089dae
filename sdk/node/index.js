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
    this.client.on('close', () => this.emit('disconnect'));
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
   * its answer; {ok: false, error: 'unavailable'|'timeout'} like clients get.
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
        resolve({ ok: false, error: packet && packet.reasonCode === 0x10 ? 'unavailable' : 'refused' });
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
    // (re)subscribing sends the room's retained presence again; the
    // barrier returns once all of it arrived
    this.presence.set(room, new Map());
    await this._subscribe([`rooms/${room}/presence/+`]);
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
    if (t.kind === 'call') return this._admit(() => this._call(t, payload, props));
    if (t.kind === 'hook') return this._admit(() => this._hook(t, payload, props));
    if (t.kind === 'event') {
      this.emit('event', { room: t.room, event: t.event, data: parsePayload(payload), from: t.sender });
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
    if (this.closing) return;
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
        verdict = await fn({ room: t.room, event: t.event, data: parsePayload(payload), from: t.sender }, ctx);
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
    this.closing = true;
    const filter = this.shared ? `$share/${this.service}/svc/${this.service}/#` : `svc/${this.service}/#`;
    await new Promise((r) => this.client.unsubscribe(filter, () => r()));
    const waitAll = Promise.allSettled([...this.inflight]);
    await Promise.race([waitAll, new Promise((r) => setTimeout(r, timeout))]);
    await new Promise((r) => this.client.end(false, {}, () => r()));
    this.client = null;
  }
}

/** Connect as a service; resolves a Hub once subscribed to its calls. */
export async function connect(opts) {
  const hub = new Hub(opts || {});
  return hub._start();
}

export default { connect, accept, reject, CallError, webhookMiddleware, verifyWebhook, signWebhook };
