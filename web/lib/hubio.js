// SPDX-License-Identifier: MIT
/**
 * hubio.js: the browser client of the hub, one ES module on MQTT.js over
 * WebSocket. Socket.IO-shaped API (connect, join, emit with acks, on/off,
 * timeout(), request/reply, presence, typing) with the same names as the
 * C client library (libhubclient). Reference: docs/client-js.md.
 *
 * Topics it speaks (see docs of the hub's contract):
 *   rooms/{room}/ev/{event}/{sender}        room events (emit / on)
 *   rooms/{room}/sys/joined|left            presence notices ('joined', 'left')
 *   rooms/{room}/presence/{user} retained   the member list (presence())
 *   users/{me}/inbox/{event}/{sender}       direct events (meta.inbox = true)
 *   users/{user}/status retained            'status' (watchStatus())
 *   owntracks/{device}/{name}               'location' (watchLocations())
 *   svc/{service}/{method}/{me}             calls to backends (call())
 *   users/{me}/reply/{id}                   their answers, and the verdicts
 *                                           of events into hooked rooms
 *
 * Reconnects are done here, not by MQTT.js (reconnectPeriod 0), so that a
 * fresh token from options.getToken is in place before every attempt: a
 * token only opens a connection, so an expired one must never strand the
 * client after a broker restart or a network drop. By default (no token)
 * the page's session cookie opens the connection at this origin's /mqtt
 * (hubd's front mints the token for the session itself).
 *
 * Resume (MQTT 5, options.resume, on by default): the connection keeps a
 * broker session for options.sessionExpiry seconds after a drop (a stable
 * client id, clean start only the first time), so the broker queues what
 * the rooms and the inbox get meanwhile (QoS 1) and hands it over on the
 * reconnect: 'connect' says {recovered: true}, like socket.recovered. A
 * QoS 1 message the broker sends again because our PUBACK was lost is
 * recognised (same packet id, topic and payload, DUP set) and not fired
 * twice. When the session did not survive (expired, broker state lost),
 * recovered is false and the app reloads what it shows (history API).
 *
 * Loaded as `import * as hubio from '/lib/hubio.js'`; it loads the
 * vendored MQTT.js from ../vendor/mqtt.esm.js (build/web/vendor/) when the
 * first connection starts. In Node (a browser build does not run there)
 * pass the mqtt package as opts.mqtt, and over wss:// a CA the hub's
 * certificate is verified against as opts.ca (docs/client-js.md "Node").
 */

/** MQTT.js: the caller's (opts.mqtt), else the page's vendored build. */
let vendored = null;
function mqttOf(opts) {
	if (opts.mqtt)
		return Promise.resolve(opts.mqtt.default || opts.mqtt);
	if (!vendored)
		vendored = import('../vendor/mqtt.esm.js').then((m) => m.default);
	return vendored;
}

/** Names the hub allows for rooms, users and devices. */
const NAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
/** An event is one topic level: 1-64 bytes of UTF-8, no '/', '+', '#',
 * no control characters. */
const EVENT_RE = /^[^/+#\u0000-\u001f\u007f]{1,64}$/;
/** CONNACK codes of a refused login: 3.1.1 (4, 5) and MQTT 5 (0x86, 0x87). */
const AUTH_REFUSALS = new Set([4, 5, 0x86, 0x87]);
/** Events hubio itself emits to handlers; they cannot be room events. */
const RESERVED = new Set(['connect', 'disconnect', 'reconnect_attempt', 'error', 'joined',
	'left', 'status', 'location', 'mqtt', '*']);
const encoder = new TextEncoder();

function validEvent(event) {
	return typeof event === 'string' && EVENT_RE.test(event) &&
		encoder.encode(event).length <= 64 && !RESERVED.has(event);
}

const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30000;
const DEFAULT_TYPING_MS = 2000;
const DEFAULT_REQUEST_MS = 10000;
/* A call's wait: the gateway's call_timeout_ms (10 s) */
const DEFAULT_CALL_MS = 10000;
/* An emit into a hooked room waits for the verdict: the hub sends one
 * ("timeout" at the latest) after its call_timeout_ms (10 s) */
const DEFAULT_VERDICT_MS = 15000;
/* A refused emit into a hooked room: how long the verdict that tells why
 * (unavailable, busy) may take after the refusal */
const REFUSED_VERDICT_MS = 1000;
/* Calls and verdicts waiting at once (beyond: {ok:false, error:'busy'}) */
const DEFAULT_CALLS_MAX = 1024;
const DEFAULT_SESSION_EXPIRY_S = 120;
const DUP_WINDOW = 64;

const decoder = new TextDecoder();

/* True while the page is going away (pagehide, until a pageshow brings it
 * back from the back/forward cache): close() then does not wait for
 * acknowledgements that can no longer come. Capture phase: before any
 * pagehide handler of the app that calls close(). */
let pageLeaving = false;
if (typeof window !== 'undefined' && window.addEventListener) {
	window.addEventListener('pagehide', () => { pageLeaving = true; }, true);
	window.addEventListener('pageshow', () => { pageLeaving = false; }, true);
}

/** An Error whose message and .code are the same short word. */
function hubError(code, detail) {
	const e = new Error(code);
	e.code = code;
	if (detail !== undefined)
		e.detail = detail;
	return e;
}

/** A promise that never counts as unhandled (callers may ignore it). */
function quiet(p) {
	p.catch(() => {});
	return p;
}

function decode(payload) {
	const text = typeof payload === 'string' ? payload : decoder.decode(payload);
	try {
		return JSON.parse(text);
	} catch {
		return text;
	}
}

function randomHex(bytes) {
	const a = new Uint8Array(bytes);
	crypto.getRandomValues(a);
	return Array.from(a, (b) => b.toString(16).padStart(2, '0')).join('');
}

function bytesKey(b) {
	if (b == null)
		return '';
	return typeof b === 'string' ? b : decoder.decode(b);
}

/** Response topics a responder answers: users/{x}/inbox/reply only, so a
 * requester cannot make a responder publish anywhere else. */
const REPLY_TOPIC_RE = /^users\/[A-Za-z0-9._-]{1,64}\/inbox\/reply$/;

function isForbidden(code) {
	return typeof code === 'number' && code >= 0x80;
}

/* The first refusal code (>= 0x80) of a SUBACK as MQTT.js reports it: on
 * a refusal its error carries the SUBACK packet (err.packet.granted). */
function subackRefusal(err, granted) {
	const codes = [err && err.code, ...((err && err.packet && err.packet.granted) || []),
		...(granted || []).map((g) => (typeof g === 'number' ? g : g && g.qos))];
	return codes.find(isForbidden);
}

/**
 * A connection to the hub. Made by {@link connect}; not constructed directly.
 */
class Hub {
	constructor(url, opts) {
		this.url = url;
		this.opts = opts;
		this.username = opts.username;
		this.clientId = opts.clientId ||
			('hubio-' + opts.username + '-' + randomHex(4)).slice(0, 64);
		this.protocolVersion = opts.protocolVersion || 5;
		/** the session cookie opens the socket (no token, no getToken) */
		this._cookie = !opts.token && !opts.getToken;
		this._refused = null;
		/** true while the MQTT connection is up */
		this.connected = false;
		/** true when the last reconnect resumed the broker session: nothing
		 * sent to the rooms and the inbox meanwhile was lost */
		this.recovered = false;
		this._resume = this.protocolVersion === 5 && opts.resume !== false;
		this._sessionExpiry = opts.sessionExpiry ?? DEFAULT_SESSION_EXPIRY_S;
		this._lastById = new Map();      // QoS 1 packet id -> {topic, payload} (DUP check)
		this._closed = false;
		this._handlers = new Map();      // event -> [fn]
		this._any = [];                  // onAny handlers
		this._rooms = new Map();         // room -> {waiters: [{resolve, reject}]}
		this._presence = new Map();      // room -> Map(user -> since)
		this._devices = new Set();       // members the hub said are devices
		this._presenceCbs = new Map();   // room -> Set(fn)
		this._presenceDirty = new Set();
		this._presenceTimer = null;
		this._extra = new Map();         // extra filter -> QoS (watchStatus, ...)
		this._pending = new Map();       // correlation key -> {resolve, reject, timer}
		this._calls = new Map();         // correlation key -> {kind, done, timer, room}
		this._callsMax = opts.callsMax ?? DEFAULT_CALLS_MAX;
		this._replySub = false;          // users/{me}/reply/# wanted (a call was made)
		this._afterConnect = [];         // calls made while disconnected
		this._hooked = new Set(opts.hooked || []); // rooms known to be hooked
		this._learning = new Set();      // rooms with an emit that may teach it
		this._echoes = new Map();        // topic -> verdict entries expecting their echo
		this._typingLast = new Map();    // room -> ms of the last typing emit
		this._typingMs = opts.typingInterval ?? DEFAULT_TYPING_MS;
		this._attempt = 0;
		this._retryTimer = null;
		this._client = null;
		this._early = [];                // publishes made before the client existed
		this._connecting = false;
		this._start();
	}

	// ------------------------------------------------------------ events

	/**
	 * Add a handler. Room and inbox events: fn(data, meta) with meta =
	 * {room, from, ts, inbox, event, reply?} (room null and inbox true for
	 * users/{me}/inbox/...; ts = local receipt time in ms; reply(value)
	 * when the sender waits for an answer). '*' gets every room and inbox
	 * event. Special events: 'connect' ({reconnect, recovered}; once the
	 * broker has the inbox and joined rooms' subscriptions), 'disconnect'
	 * (reason), 'reconnect_attempt' (n), 'error' (Error with .code),
	 * 'joined' / 'left' ({user, online, reason?, device?}, {room, from}), 'status'
	 * ({user, online, ...}, {user}), 'location' (OwnTracks object, {device,
	 * name, topic, retain}), 'mqtt' (data, {topic, retain}) for filters
	 * added with subscribe().
	 * @param {string} event
	 * @param {(data: any, meta?: object) => void} fn
	 * @returns {Hub} this
	 */
	on(event, fn) {
		if (!this._handlers.has(event))
			this._handlers.set(event, []);
		this._handlers.get(event).push(fn);
		return this;
	}

	/**
	 * Like on(), for one call.
	 * @param {string} event
	 * @param {(data: any, meta?: object) => void} fn
	 * @returns {Hub} this
	 */
	once(event, fn) {
		const w = (...a) => {
			this.off(event, w);
			fn(...a);
		};
		w.orig = fn;
		return this.on(event, w);
	}

	/**
	 * Remove a handler (or every handler of event when fn is omitted, or
	 * every handler when both are).
	 * @param {string} [event]
	 * @param {Function} [fn]
	 * @returns {Hub} this
	 */
	off(event, fn) {
		if (event === undefined) {
			this._handlers.clear();
			return this;
		}
		const list = this._handlers.get(event);
		if (!list)
			return this;
		if (!fn) {
			this._handlers.delete(event);
			return this;
		}
		const i = list.findIndex((h) => h === fn || h.orig === fn);
		if (i >= 0)
			list.splice(i, 1);
		return this;
	}

	/**
	 * Add a catch-all handler for room and inbox events (not the special
	 * events): fn(event, data, meta), like Socket.IO's onAny().
	 * @param {(event: string, data: any, meta: object) => void} fn
	 * @returns {Hub} this
	 */
	onAny(fn) {
		this._any.push(fn);
		return this;
	}

	/**
	 * Remove a catch-all handler (all of them when fn is omitted).
	 * @param {Function} [fn]
	 * @returns {Hub} this
	 */
	offAny(fn) {
		this._any = fn ? this._any.filter((h) => h !== fn) : [];
		return this;
	}

	/* A room or inbox event: catch-all handlers first, then on(event). */
	_fireEvent(event, data, meta) {
		for (const fn of this._any.slice()) {
			try {
				fn(event, data, meta);
			} catch (e) {
				console.error('hubio: onAny handler threw', e);
			}
		}
		this._fire('*', data, meta);
		this._fire(event, data, meta);
	}

	_fire(event, ...args) {
		const list = this._handlers.get(event);
		if (!list || !list.length) {
			if (event === 'error' && args[0] && !this._quietErrors)
				console.warn('hubio:', args[0].message || args[0]);
			return;
		}
		for (const fn of list.slice()) {
			try {
				fn(...args);
			} catch (e) {
				console.error('hubio: handler for', event, 'threw', e);
			}
		}
	}

	// ------------------------------------------------------- connection

	async _start() {
		if (this._closed || this._connecting)
			return;
		this._connecting = true;
		// no token at all: the page's session cookie opens the socket
		// (hubd's front, same origin; an empty password)
		let password = this.opts.token;
		try {
			if (this.opts.getToken)
				password = await this.opts.getToken();
		} catch (e) {
			this._connecting = false;
			if (this._closed)
				return;
			this._fire('error', e);
			if (e && (e.fatal || e.status === 401)) {
				// the session is gone: no token will ever come again
				this._shutdown('unauthorized');
				return;
			}
			this._scheduleRetry();
			return;
		}
		let mqtt;
		try {
			mqtt = await mqttOf(this.opts);
		} catch (e) {
			this._connecting = false;
			this._fire('error', e);
			this._shutdown('no MQTT.js');
			return;
		}
		if (this._closed) {
			this._connecting = false;
			return;
		}
		if (!this._client) {
			this._client = mqtt.connect(this.url, {
				// Node over wss://: the CA the hub's certificate is verified
				// against (browsers use their own trust store)
				...(this.opts.ca ? { ca: this.opts.ca } : {}),
				username: this.username,
				password,
				clientId: this.clientId,
				protocolVersion: this.protocolVersion,
				keepalive: this.opts.keepalive ?? 30,
				// the first connection starts clean; reconnects resume
				clean: true,
				...(this._resume
					? { properties: { sessionExpiryInterval: this._sessionExpiry } }
					: {}),
				reconnectPeriod: 0,
				resubscribe: false,
				connectTimeout: this.opts.connectTimeout ?? 10000,
				// worker timers need a blob: Worker, which the dashboard's
				// CSP (default-src 'self') forbids
				timerVariant: 'native',
				will: {
					topic: `users/${this.username}/status`,
					payload: '{"online":false}',
					qos: 1,
					retain: true,
				},
			});
			this._wire(this._client);
			// MQTT.js keeps these until the CONNACK, like any offline publish
			for (const e of this._early.splice(0))
				e.run(this._client);
		} else {
			const c = this._client;
			c.options.password = password;
			if (this._resume)
				c.options.clean = false;
			// keep the stores: reconnect() without them starts empty ones and
			// drops what was emitted while offline (QoS 1, still awaiting
			// its PUBACK), leaving end() waiting for it forever
			c.reconnect({ incomingStore: c.incomingStore, outgoingStore: c.outgoingStore });
		}
		this._connecting = false;
	}

	_wire(c) {
		c.on('connect', (ack) => this._onConnect(ack));
		c.on('message', (topic, payload, packet) => this._onMessage(topic, payload, packet));
		c.on('close', () => this._onClose());
		c.on('disconnect', (pkt) => {
			// a v5 DISCONNECT from the broker (kicked, session revoked...)
			this._serverReason = pkt && pkt.reasonCode;
		});
		c.on('error', (err) => {
			if (this._closed)
				return;
			// CONNACK refusals (bad or expired token) come here; the
			// close that follows schedules a retry with a fresh token
			if (this._cookie && AUTH_REFUSALS.has(err && err.code)) {
				// the cookie opened nothing: a session that ended stops
				// the reconnects (as a 401 from getToken does), anything
				// else (a limit) is retried
				this._refused = this._sessionGone();
				return;
			}
			this._fire('error', err);
		});
	}

	_onConnect(ack) {
		const reconnect = this._everConnected === true;
		this.connected = true;
		this.recovered = reconnect && this._resume && !!(ack && ack.sessionPresent);
		if (!this.recovered)
			this._lastById.clear();
		this._attempt = 0;
		this._serverReason = undefined;
		const subs = { [`users/${this.username}/inbox/+/+`]: { qos: 1 } };
		if (this._replySub)
			subs[this._replyFilter()] = { qos: 1 };
		for (const [f, qos] of this._extra)
			subs[f] = { qos };
		for (const room of this._rooms.keys())
			this._subscribeRoom(room);
		// 'connect' once the broker has every subscription (it answers the
		// SUBSCRIBEs of one connection in order, and the inbox's goes
		// last): what others send to this user or its rooms from then on
		// arrives, as after Socket.IO's 'connect' with the server's joins
		const client = this._client;
		client.subscribe(subs, (err) => {
			if (this._client !== client || !this.connected)
				return; // that connection went meanwhile
			if (err && !this._closed)
				this._fire('error', err);
			this._fire('connect', { reconnect, recovered: this.recovered });
		});
		// calls made while disconnected go after the reply subscription
		for (const run of this._afterConnect.splice(0))
			run();
		this._everConnected = true;
	}

	/* Whether the page's session is gone (GET /api/session answers 401). */
	async _sessionGone() {
		try {
			const base = this.url.replace(/^ws/, 'http');
			const r = await fetch(new URL('/api/session', base), { credentials: 'same-origin',
				headers: { accept: 'application/json' } });
			return r.status === 401;
		} catch {
			return false;
		}
	}

	_onClose() {
		const was = this.connected;
		this.connected = false;
		// nobody is known to be online while we cannot see: the lists are
		// rebuilt from the retained presence after the re-join
		for (const [room, m] of this._presence)
			if (m.size) {
				m.clear();
				this._markPresence(room);
			}
		if (was) {
			let reason = 'transport close';
			if (this._closed)
				reason = 'io client disconnect';
			else if (this._serverReason !== undefined)
				reason = 'io server disconnect';
			this._fire('disconnect', reason);
		}
		if (this._closed)
			return;
		if (this._refused) {
			const refused = this._refused;
			this._refused = null;
			refused.then((gone) => {
				if (this._closed)
					return;
				if (gone) {
					const e = hubError('unauthorized');
					e.status = 401;
					e.fatal = true;
					this._fire('error', e);
					this._shutdown('unauthorized');
					return;
				}
				this._fire('error', hubError('refused'));
				this._scheduleRetry();
			});
			return;
		}
		this._scheduleRetry();
	}

	_scheduleRetry() {
		if (this._closed || this._retryTimer || this.opts.reconnect === false)
			return;
		const min = this.opts.reconnectDelay ?? BACKOFF_MIN_MS;
		const max = this.opts.reconnectDelayMax ?? BACKOFF_MAX_MS;
		const base = Math.min(max, min * 2 ** this._attempt);
		// "equal jitter": half fixed, half random, so clients restarted
		// together by a broker restart do not come back in lockstep
		const delay = base / 2 + Math.random() * base / 2;
		this._attempt++;
		this._retryTimer = setTimeout(() => {
			this._retryTimer = null;
			if (this._closed || this.connected)
				return;
			this._fire('reconnect_attempt', this._attempt);
			this._start();
		}, delay);
	}

	/* Run fn(client) now, or once the MQTT.js client exists (the first
	 * getToken may still be running); fail(err) if it never will. */
	_withClient(fn, fail) {
		if (this._client)
			fn(this._client);
		else
			this._early.push({ run: fn, fail });
	}

	/* Closed for good: no more retries; what waits ends with 'closed'. */
	_abandon() {
		this._closed = true;
		for (const e of this._early.splice(0))
			if (e.fail)
				e.fail(hubError('closed'));
		clearTimeout(this._retryTimer);
		this._retryTimer = null;
		clearTimeout(this._presenceTimer);
		for (const [, p] of this._pending) {
			clearTimeout(p.timer);
			p.reject(hubError('closed'));
		}
		this._pending.clear();
		this._afterConnect.length = 0;
		for (const [, c] of this._calls) {
			clearTimeout(c.timer);
			c.done({ ok: false, error: 'closed' });
		}
		this._calls.clear();
		this._learning.clear();
		this._echoes.clear();
		for (const [, r] of this._rooms)
			for (const w of r.waiters.splice(0))
				w.reject(hubError('closed'));
	}

	/* The session is gone (getToken said 401): stop without a DISCONNECT. */
	_shutdown(reason) {
		const was = this.connected;
		this._abandon();
		if (this._client)
			this._client.end(true);
		this.connected = false;
		if (was)
			this._fire('disconnect', reason);
	}

	/**
	 * Close the connection for good (a clean MQTT DISCONNECT: no last will).
	 * Pending requests and joins reject with Error('closed').
	 * @returns {Promise<void>} settled once the socket is closed
	 */
	close() {
		if (this._closed)
			return Promise.resolve();
		const c = this._client;
		const wasConnected = this.connected;
		this._abandon();
		return new Promise((resolve) => {
			if (!c) {
				resolve();
				return;
			}
			let done = false;
			const finish = () => {
				if (done)
					return;
				done = true;
				clearTimeout(force);
				if (wasConnected && this.connected) {
					this.connected = false;
					this._fire('disconnect', 'io client disconnect');
				}
				this.connected = false;
				resolve();
			};
			// a clean end waits for unacknowledged QoS 1 messages; do not
			// wait for ever (the broker may be gone). The broker session
			// ends with it (nothing to resume after a close()).
			const force = setTimeout(() => c.end(true, {}, finish), 2000);
			// a page going away cannot wait: what is not acknowledged yet
			// (a subscription, an emit) is dropped, so end() does not wait
			// for it before the DISCONNECT
			if (pageLeaving && c.outgoing)
				for (const id of Object.keys(c.outgoing))
					c.removeOutgoingMessage(Number(id));
			c.end(false, this._resume ? { properties: { sessionExpiryInterval: 0 } } : {},
				finish);
			// MQTT.js corks its stream for every packet and uncorks it on a
			// setTimeout(0) "nextTick" (once per packet: after a burst of
			// PUBACKs it is corked several times over): write the
			// DISCONNECT out now, so that a page going away (pagehide: no
			// timer runs after it) still says goodbye, and its rooms see
			// "left (clean)", not "network". The late uncorks find none.
			while (c.stream && c.stream.writableCorked > 0)
				c.stream.uncork();
		});
	}

	/**
	 * Same as close() (Socket.IO's name; libhubclient's hubio_disconnect).
	 * @returns {Promise<void>}
	 */
	disconnect() {
		return this.close();
	}

	// ------------------------------------------------------------ rooms

	_roomFilters(room) {
		return [`rooms/${room}/ev/+/+`, `rooms/${room}/sys/+`, `rooms/${room}/presence/+`];
	}

	_subscribeRoom(room) {
		const entry = this._rooms.get(room);
		// retained presence comes again with the SUBACK: start afresh
		this._presence.set(room, new Map());
		this._markPresence(room);
		const subs = {};
		for (const f of this._roomFilters(room))
			// noLocal: an emitter does not get its own event back (other
			// connections of the same user do)
			subs[f] = this.protocolVersion === 5 ? { qos: 1, nl: true } : { qos: 1 };
		this._client.subscribe(subs, (err, granted) => {
			const bad = subackRefusal(err, granted);
			if (err && !bad)
				return; // the connection went: joined again on the next one
			if (!this._rooms.has(room))
				return; // left meanwhile
			const waiters = entry ? entry.waiters.splice(0) : [];
			if (bad) {
				// not a member (or not any more): forget the room
				this._rooms.delete(room);
				this._presence.delete(room);
				const e = hubError('forbidden', bad);
				for (const w of waiters)
					w.reject(e);
				if (!waiters.length && !this._closed)
					this._fire('error', Object.assign(hubError('forbidden', bad), { room }));
				return;
			}
			for (const w of waiters)
				w.resolve(room);
		});
	}

	/**
	 * Join a room: subscribe to its events, notices and presence. Resolves
	 * on the SUBACK; rejects with Error('forbidden') when the user may not
	 * read the room. Joined rooms are joined again after every reconnect.
	 * @param {string} room
	 * @returns {Promise<string>} the room
	 */
	join(room) {
		if (!NAME_RE.test(room || ''))
			return quiet(Promise.reject(hubError('invalid', 'room name')));
		if (this._closed)
			return quiet(Promise.reject(hubError('closed')));
		return quiet(new Promise((resolve, reject) => {
			let entry = this._rooms.get(room);
			const fresh = !entry;
			if (!entry) {
				entry = { waiters: [] };
				this._rooms.set(room, entry);
			}
			entry.waiters.push({ resolve, reject });
			if (this.connected && (fresh || entry.waiters.length === 1))
				this._subscribeRoom(room);
		}));
	}

	/**
	 * Leave a room (unsubscribe). Its presence list is dropped.
	 * @param {string} room
	 * @returns {Promise<void>}
	 */
	leave(room) {
		const entry = this._rooms.get(room);
		this._rooms.delete(room);
		this._presence.delete(room);
		this._typingLast.delete(room);
		if (entry)
			for (const w of entry.waiters.splice(0))
				w.reject(hubError('left'));
		if (!this.connected || !entry)
			return Promise.resolve();
		return quiet(new Promise((resolve, reject) => {
			this._client.unsubscribe(this._roomFilters(room), (err) =>
				err ? reject(err) : resolve());
		}));
	}

	/** @returns {string[]} the rooms joined (or being joined) */
	rooms() {
		return [...this._rooms.keys()];
	}

	// ------------------------------------------------------------- emit

	_publish(topic, data, props, timeoutMs, qos = 1) {
		if (this._closed)
			return quiet(Promise.reject(hubError('closed')));
		const payload = JSON.stringify(data === undefined ? null : data);
		const opts = { qos, retain: false };
		if (this.protocolVersion === 5 && props && Object.keys(props).length)
			opts.properties = { ...props };
		return quiet(new Promise((resolve, reject) => {
			let timer = null;
			let done = false;
			if (timeoutMs != null)
				timer = setTimeout(() => {
					done = true;
					reject(hubError('timeout'));
				}, timeoutMs);
			this._withClient((c) => c.publish(topic, payload, opts, (err) => {
				if (done)
					return;
				done = true;
				clearTimeout(timer);
				if (!err)
					resolve();
				else if (isForbidden(err.code))
					reject(hubError('forbidden', err.code));
				else
					reject(err);
			}), (err) => {
				if (!done) {
					done = true;
					clearTimeout(timer);
					reject(err);
				}
			});
		}));
	}

	/**
	 * Emit an event into a room (JSON(data), QoS 1, on
	 * rooms/{room}/ev/{event}/{me}). The returned promise resolves when the
	 * hub accepted it (PUBACK) and rejects with Error('forbidden') when the
	 * user may not write there; with an ack callback, ack(err) is called
	 * too (err null on success). Other members get it as
	 * on(event, (data, meta) => ...); the emitting connection does not.
	 * In a room hooked to a backend (known: options.hooked, hooked(), or
	 * learnt from a first verdict) it settles with the backend's verdict
	 * instead: resolves {ok: true, data} (data: what members got), rejects
	 * Error('rejected' | 'unavailable' | 'timeout' | 'busy') with .detail
	 * (the reason) and .verdict; ack(err, verdict) gets both.
	 * @param {string} room
	 * @param {string} event
	 * @param {any} [data]
	 * @param {(err: Error|null, verdict?: {ok: boolean, data?: any, error?: string,
	 *   message?: string}) => void} [ack]
	 * @returns {Promise<void|{ok: true, data: any}>}
	 */
	emit(room, event, data, ack) {
		return this._emit(room, event, data, ack, null);
	}

	_emit(room, event, data, ack, timeoutMs) {
		let p;
		if (!NAME_RE.test(room || ''))
			p = Promise.reject(hubError('invalid', 'room name'));
		else if (!validEvent(event))
			p = Promise.reject(hubError('invalid', 'event name'));
		else
			p = this._emitChecked(room, `rooms/${room}/ev/${event}/${this.username}`, data,
				timeoutMs);
		return this._settle(p, ack);
	}

	/* An emit into a room. Under MQTT 5 it carries a Response Topic under
	 * users/{me}/reply/ and Correlation Data: in a hooked room the hub
	 * answers there with the hook service's verdict. In a room known to be
	 * hooked the promise waits for that verdict; in any other room it
	 * resolves on the PUBACK (the hub gives no verdict in unhooked rooms),
	 * and a verdict that still comes (the room is hooked after all: one
	 * emit per room at a time listens) marks the room hooked for the
	 * emits after it. */
	_emitChecked(room, topic, data, timeoutMs) {
		if (this.protocolVersion !== 5 || this._closed)
			return this._publish(topic, data, {}, timeoutMs);
		const hooked = this._hooked.has(room);
		if (!hooked && this._learning.has(room))
			return this._publish(topic, data, {}, timeoutMs);
		if (this._calls.size >= this._callsMax) {
			if (!hooked)
				return this._publish(topic, data, {}, timeoutMs);
			return quiet(Promise.reject(hubError('busy')));
		}
		const corr = randomHex(16);
		const props = { responseTopic: `users/${this.username}/reply/${corr}`,
			correlationData: corr };
		this._wantReplies();
		if (!hooked) {
			// listen for a verdict that would show the room is hooked
			this._learning.add(room);
			const entry = { kind: 'learn', room, done: () => {} };
			entry.timer = setTimeout(() => {
				this._calls.delete(corr);
				this._learning.delete(room);
			}, DEFAULT_VERDICT_MS);
			this._calls.set(corr, entry);
			return this._publish(topic, data, props, timeoutMs);
		}
		return quiet(new Promise((resolve, reject) => {
			const entry = { kind: 'verdict', room, topic };
			const finish = (v) => {
				clearTimeout(entry.timer);
				this._calls.delete(corr);
				this._echoDone(entry);
				if (v && v.ok === true) {
					resolve(v);
				} else {
					const e = hubError((v && typeof v.error === 'string') ? v.error
						: 'rejected', v && v.message);
					e.verdict = v;
					reject(e);
				}
			};
			entry.done = finish;
			entry.timer = setTimeout(() => finish({ ok: false, error: 'timeout' }),
				timeoutMs ?? DEFAULT_VERDICT_MS);
			this._calls.set(corr, entry);
			// the hub publishes an accepted event anew, just before the
			// verdict: no-local does not keep it from this connection
			const list = this._echoes.get(topic) || [];
			list.push(entry);
			this._echoes.set(topic, list);
			this._publish(topic, data, props, null).catch((e) => {
				if (!this._calls.has(corr))
					return;
				if (e.code !== 'forbidden') {
					finish({ ok: false, error: e.code || e.message });
					return;
				}
				// refused: the hub's verdict (unavailable, busy) follows at
				// once and says why; without one, no write permission
				clearTimeout(entry.timer);
				entry.timer = setTimeout(() => finish({ ok: false, error: 'forbidden' }),
					REFUSED_VERDICT_MS);
			});
		}));
	}

	/* An emit waiting for its verdict stops expecting its echo. */
	_echoDone(entry) {
		const list = this._echoes.get(entry.topic);
		const i = list ? list.indexOf(entry) : -1;
		if (i < 0)
			return;
		list.splice(i, 1);
		if (!list.length)
			this._echoes.delete(entry.topic);
	}

	/* Our own event published again by the hub after its hook accepted it
	 * (it comes before the verdict): dropped, as no-local drops the echoes
	 * of unhooked rooms. One per emit waiting on that topic. */
	_ownEcho(topic) {
		const list = this._echoes.get(topic);
		if (!list)
			return false;
		this._echoDone(list[0]);
		return true;
	}

	_settle(p, ack) {
		p = quiet(p);
		if (typeof ack === 'function')
			p.then((v) => ack(null, v), (e) => ack(e, e && e.verdict));
		return p;
	}

	/**
	 * Send an event to one user's inbox (users/{user}/inbox/{event}/{me}):
	 * a direct message or notification. Allowed when you share a room.
	 * @param {string} user
	 * @param {string} event
	 * @param {any} [data]
	 * @param {(err: Error|null) => void} [ack]
	 * @returns {Promise<void>}
	 */
	emitToUser(user, event, data, ack) {
		return this._send(user, event, data, ack, null);
	}

	_send(user, event, data, ack, timeoutMs) {
		let p;
		if (!NAME_RE.test(user || ''))
			p = Promise.reject(hubError('invalid', 'user name'));
		else if (!validEvent(event))
			p = Promise.reject(hubError('invalid', 'event name'));
		else
			p = this._publish(`users/${user}/inbox/${event}/${this.username}`, data, {},
				timeoutMs);
		return this._settle(p, ack);
	}

	/**
	 * Socket.IO's timeout(): the next emit / emitToUser / request fails with
	 * Error('timeout') unless the hub answers within ms.
	 * @param {number} ms
	 * @returns {{emit: Function, emitToUser: Function, request: Function}}
	 */
	timeout(ms) {
		return {
			emit: (room, event, data, ack) => this._emit(room, event, data, ack, ms),
			emitToUser: (user, event, data, ack) => this._send(user, event, data, ack, ms),
			request: (target, event, data, opts = {}) =>
				this.request(target, event, data, { ...opts, timeout: ms }),
			call: (service, method, data, opts = {}) =>
				this.call(service, method, data, { ...opts, timeoutMs: ms }),
		};
	}

	/**
	 * Tell hubio which rooms are hooked (`hubctl room hook ROOM SERVICE`),
	 * so that the first emit into one already waits for the service's
	 * verdict (see emit()). hubio also learns it from the first verdict the
	 * hub sends. connect() takes the same as options.hooked.
	 * @param {string} room
	 * @param {boolean} [on]  false: the room is not hooked (any more)
	 * @returns {Hub} this
	 */
	hooked(room, on = true) {
		if (on)
			this._hooked.add(room);
		else
			this._hooked.delete(room);
		return this;
	}

	// ------------------------------------------------------------- calls

	_replyFilter() {
		return `users/${this.username}/reply/#`;
	}

	/* Subscribe users/{me}/reply/# once (and on every connect from then
	 * on). On one connection the SUBSCRIBE goes before the publishes made
	 * after it, so the answers of those find the subscription in place. */
	_wantReplies() {
		if (this._replySub)
			return;
		this._replySub = true;
		if (this.connected)
			this._client.subscribe({ [this._replyFilter()]: { qos: 1 } }, (err) => {
				if (err && !this._closed && subackRefusal(err))
					this._fire('error', hubError('forbidden', 'reply subscription'));
			});
	}

	/**
	 * Call a method of a backend (a service: `hubctl servicekey add NAME`),
	 * like Socket.IO's `io('/service').emitWithAck(method, data)` through
	 * the gateway. MQTT 5: publishes data on svc/{service}/{method}/{me}
	 * with a Response Topic under users/{me}/reply/ and Correlation Data;
	 * the service answers there (only services may write there, only you
	 * read it). Resolves with the service's answer (error answers too:
	 * `{error, message}`), or with {ok: false, error} where there is none:
	 * 'unavailable' (no process of the service connected), 'timeout' (no
	 * answer within timeoutMs), 'forbidden' (the hub refused the call: no
	 * such service), 'busy' (callsMax calls waiting), 'closed' (close()).
	 * A call made while disconnected goes out on the reconnect (its
	 * timeout runs meanwhile). Rejects only on bad arguments
	 * (Error('invalid')) and under MQTT 3.1.1 (Error('unsupported')).
	 * @param {string} service
	 * @param {string} method  an event name other than 'hook'
	 * @param {any} [data]  sent as JSON
	 * @param {{timeoutMs?: number}} [opts]  default 10000 (also `timeout`)
	 * @returns {Promise<any>}
	 */
	call(service, method, data, opts = {}) {
		if (this.protocolVersion !== 5)
			return quiet(Promise.reject(hubError('unsupported', 'calls need MQTT 5')));
		if (!NAME_RE.test(service || ''))
			return quiet(Promise.reject(hubError('invalid', 'service name')));
		if (!validEvent(method) || method === 'hook')
			return quiet(Promise.reject(hubError('invalid', 'method name')));
		if (this._closed)
			return Promise.resolve({ ok: false, error: 'closed' });
		if (this._calls.size >= this._callsMax)
			return Promise.resolve({ ok: false, error: 'busy' });
		const ms = opts.timeoutMs ?? opts.timeout ?? DEFAULT_CALL_MS;
		const corr = randomHex(16);
		const topic = `svc/${service}/${method}/${this.username}`;
		const props = { responseTopic: `users/${this.username}/reply/${corr}`,
			correlationData: corr };
		return new Promise((resolve) => {
			const entry = { kind: 'call' };
			entry.done = (answer) => {
				clearTimeout(entry.timer);
				this._calls.delete(corr);
				resolve(answer);
			};
			entry.timer = setTimeout(() => entry.done({ ok: false, error: 'timeout' }), ms);
			this._calls.set(corr, entry);
			const send = () => {
				if (!this._calls.has(corr))
					return; // timed out while waiting for the connection
				this._wantReplies();
				// with no process of the service connected the hub answers
				// {ok: false, error: 'unavailable'} itself (MQTT.js does
				// not show PUBACK 0x10); a refusal (>= 0x80) ends it here
				this._publish(topic, data, props, null).then(() => {}, (e) => {
					if (this._calls.has(corr))
						entry.done({ ok: false, error: e.code || 'failed' });
				});
			};
			if (this.connected)
				send();
			else
				this._afterConnect.push(send);
		});
	}

	/* users/{me}/reply/...: the answer to one of our calls, or the verdict
	 * on one of our emits into a hooked room. */
	_onReply(payload, packet) {
		const key = bytesKey(packet.properties && packet.properties.correlationData);
		const c = key && this._calls.get(key);
		if (!c)
			return; // late (timed out) or not ours
		const data = decode(payload);
		if (c.kind === 'learn') {
			// a verdict: the room is hooked; this emit resolved already
			clearTimeout(c.timer);
			this._calls.delete(key);
			this._learning.delete(c.room);
			this._hooked.add(c.room);
			if (!data || data.ok !== true) {
				const e = hubError((data && data.error) || 'rejected', data && data.message);
				e.verdict = data;
				e.room = c.room;
				this._fire('error', e);
			}
			return;
		}
		c.done(data);
	}

	/**
	 * Tell a room you are typing: emits 'typing' ({typing: true}, QoS 0) at
	 * most once per interval (2 s unless options.typingInterval) per room;
	 * call it on every keystroke. Others get on('typing', (data, meta)).
	 * @param {string} room
	 * @returns {boolean} whether an event was sent
	 */
	typing(room) {
		if (!this.connected || !NAME_RE.test(room || ''))
			return false;
		const now = Date.now();
		const last = this._typingLast.get(room) || 0;
		if (now - last < this._typingMs)
			return false;
		this._typingLast.set(room, now);
		this._publish(`rooms/${room}/ev/typing/${this.username}`, { typing: true }, {},
			null, 0);
		return true;
	}

	// -------------------------------------------------- request / reply

	/**
	 * Ask and wait for the first answer (MQTT 5 request/response). target is
	 * {room} (the event goes to the room) or {user} (to that user's inbox).
	 * A responder's handler gets meta.reply(value); the promise resolves
	 * with that value, or rejects with Error('timeout') after
	 * opts.timeout ms (10 s), Error('forbidden') if the hub refused it,
	 * Error('unsupported') for a room known to be hooked (use call()).
	 * @param {{room?: string, user?: string}} target
	 * @param {string} event
	 * @param {any} [data]
	 * @param {{timeout?: number}} [opts]
	 * @returns {Promise<any>}
	 */
	request(target, event, data, opts = {}) {
		if (this.protocolVersion !== 5)
			return quiet(Promise.reject(hubError('unsupported', 'request needs MQTT 5')));
		let topic;
		if (target && target.room && this._hooked.has(target.room))
			// the hub answers an event into a hooked room on its Response
			// Topic with the backend's verdict: there is none left for replies
			return quiet(Promise.reject(hubError('unsupported',
				'request into a hooked room: call() its backend instead')));
		if (target && target.room && NAME_RE.test(target.room))
			topic = `rooms/${target.room}/ev/${event}/${this.username}`;
		else if (target && target.user && NAME_RE.test(target.user))
			topic = `users/${target.user}/inbox/${event}/${this.username}`;
		else
			return quiet(Promise.reject(hubError('invalid', 'target')));
		if (!validEvent(event))
			return quiet(Promise.reject(hubError('invalid', 'event name')));
		const corr = randomHex(16);
		const ms = opts.timeout ?? DEFAULT_REQUEST_MS;
		return quiet(new Promise((resolve, reject) => {
			const timer = setTimeout(() => {
				this._pending.delete(corr);
				reject(hubError('timeout'));
			}, ms);
			this._pending.set(corr, { resolve, reject, timer });
			this._publish(topic, data, {
				responseTopic: `users/${this.username}/inbox/reply`,
				correlationData: corr,
			}).catch((e) => {
				const p = this._pending.get(corr);
				if (!p)
					return;
				clearTimeout(p.timer);
				this._pending.delete(corr);
				reject(e);
			});
		}));
	}

	_replier(packet) {
		const props = packet.properties;
		if (!props || !props.responseTopic || props.correlationData == null ||
			!REPLY_TOPIC_RE.test(props.responseTopic))
			return undefined;
		const topic = `${props.responseTopic}/${this.username}`;
		const corr = props.correlationData;
		return (value) => this._publish(topic, value, { correlationData: corr });
	}

	// ------------------------------------------------------------ status

	/**
	 * Subscribe to users/{user}/status of the given users (default: everyone
	 * you share a room with, users/+/status). Changes come as
	 * on('status', ({user, online, since?, reason?}, {user})).
	 * @param {string[]} [users]
	 * @returns {Promise<void>}
	 */
	watchStatus(users) {
		const filters = users && users.length ? users.map((u) => `users/${u}/status`)
			: ['users/+/status'];
		return this.subscribe(filters);
	}

	/**
	 * Subscribe to owntracks/+/+ (the hub delivers only devices you own or
	 * share a room with). Messages come as on('location', (msg, {device,
	 * name, topic, retain})) with msg the OwnTracks object (_type
	 * 'location', 'lwt', ...).
	 * @returns {Promise<void>}
	 */
	watchLocations() {
		// QoS 0: a fix a second, the next one supersedes a lost one, and
		// the browser saves a PUBACK per fix
		return this.subscribe(['owntracks/+/+'], { qos: 0 });
	}

	/**
	 * Subscribe to extra MQTT filters (kept across reconnects). Messages on
	 * topics hubio has no event for come as on('mqtt', (data, {topic,
	 * retain})).
	 * @param {string|string[]} filters
	 * @param {{qos?: number}} [opts]  QoS of the subscription (1)
	 * @returns {Promise<void>} rejects with Error('forbidden') on a refusal
	 */
	subscribe(filters, opts = {}) {
		filters = Array.isArray(filters) ? filters : [filters];
		const qos = opts.qos ?? 1;
		for (const f of filters)
			this._extra.set(f, qos);
		if (!this.connected)
			return Promise.resolve();
		return quiet(new Promise((resolve, reject) => {
			const subs = Object.fromEntries(filters.map((f) => [f, { qos }]));
			this._client.subscribe(subs, (err, granted) => {
				const bad = subackRefusal(err, granted);
				if (bad) {
					for (const f of filters)
						this._extra.delete(f);
					reject(hubError('forbidden', bad));
				} else if (err) {
					reject(err); // the connection went; subscribed again on the next
				} else {
					resolve();
				}
			});
		}));
	}

	// ---------------------------------------------------------- presence

	/**
	 * The members of a joined room online now, sorted by name; devices
	 * (trackers) have device: true.
	 * @param {string} room
	 * @returns {{user: string, since: number, device?: boolean}[]}
	 */
	presence(room) {
		const m = this._presence.get(room);
		if (!m)
			return [];
		return [...m].map(([user, since]) => (this._devices.has(user)
			? { user, since, device: true } : { user, since }))
			.sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
	}

	/**
	 * The number of members of a joined room online now (-1: not joined).
	 * @param {string} room
	 * @returns {number}
	 */
	presenceCount(room) {
		const m = this._presence.get(room);
		return m ? m.size : -1;
	}

	/**
	 * Call fn(list, count) whenever the room's member list changes (from
	 * the retained presence and the joined/left notices).
	 * @param {string} room
	 * @param {(list: {user: string, since: number}[], count: number) => void} fn
	 * @returns {() => void} a function removing the callback
	 */
	onPresence(room, fn) {
		if (!this._presenceCbs.has(room))
			this._presenceCbs.set(room, new Set());
		this._presenceCbs.get(room).add(fn);
		return () => this._presenceCbs.get(room)?.delete(fn);
	}

	_setPresence(room, user, since) {
		const m = this._presence.get(room);
		if (!m)
			return;
		if (since === null) {
			if (m.delete(user))
				this._markPresence(room);
		} else if (!m.has(user) || (since && m.get(user) !== since)) {
			m.set(user, since || m.get(user) || Math.floor(Date.now() / 1000));
			this._markPresence(room);
		}
	}

	/* A burst of retained messages after a join makes one callback. */
	_markPresence(room) {
		this._presenceDirty.add(room);
		if (this._presenceTimer)
			return;
		this._presenceTimer = setTimeout(() => {
			this._presenceTimer = null;
			const rooms = [...this._presenceDirty];
			this._presenceDirty.clear();
			for (const r of rooms) {
				const cbs = this._presenceCbs.get(r);
				if (!cbs || !this._presence.has(r))
					continue;
				const list = this.presence(r);
				for (const fn of [...cbs]) {
					try {
						fn(list, list.length);
					} catch (e) {
						console.error('hubio: presence callback threw', e);
					}
				}
			}
		}, 0);
	}

	// ---------------------------------------------------------- dispatch

	/* A QoS 1 message sent again (DUP) that we already handled: the broker
	 * did not get our PUBACK before the connection dropped. */
	_duplicate(topic, payload, packet) {
		if (!packet || !packet.qos || packet.messageId == null)
			return false;
		const last = this._lastById.get(packet.messageId);
		const same = last && packet.dup && last.topic === topic &&
			last.payload.length === payload.length &&
			last.payload.every((b, i) => b === payload[i]);
		// the broker re-sends at most its in-flight window (20): a few dozen
		// recent ids are enough
		this._lastById.delete(packet.messageId);
		this._lastById.set(packet.messageId, { topic, payload });
		if (this._lastById.size > DUP_WINDOW)
			this._lastById.delete(this._lastById.keys().next().value);
		return !!same;
	}

	_onMessage(topic, payload, packet) {
		if (this._duplicate(topic, payload, packet))
			return;
		const lv = topic.split('/');
		if (lv[0] === 'rooms' && lv.length >= 4) {
			const room = lv[1];
			if (!this._rooms.has(room))
				return; // a late delivery after leave()
			if (lv[2] === 'ev' && lv.length === 5) {
				const event = lv[3];
				if (RESERVED.has(event))
					return; // nobody may pose as a hub notice
				if (this.protocolVersion !== 5 && lv[4] === this.username)
					return; // 3.1.1 has no no-local: drop our own echoes
				if (lv[4] === this.username && this._ownEcho(topic))
					return; // an accepted event of ours in a hooked room
				const meta = { room, from: lv[4], ts: Date.now(), inbox: false, event };
				const reply = this._replier(packet);
				if (reply)
					meta.reply = reply;
				this._fireEvent(event, decode(payload), meta);
				return;
			}
			if (lv[2] === 'sys' && lv.length === 4) {
				const data = decode(payload);
				const notice = lv[3];
				if (data && typeof data === 'object' && data.user) {
					if (data.device === true)
						this._devices.add(data.user);
					if (notice === 'joined')
						this._setPresence(room, data.user, 0);
					else if (notice === 'left')
						this._setPresence(room, data.user, null);
				}
				this._fire(notice, data, { room, from: data && data.user, ts: Date.now() });
				return;
			}
			if (lv[2] === 'presence' && lv.length === 4) {
				if (!payload.length) {
					this._setPresence(room, lv[3], null);
					return;
				}
				const data = decode(payload);
				const since = data && typeof data === 'object' && Number(data.since);
				if (data && data.device === true)
					this._devices.add(lv[3]);
				this._setPresence(room, lv[3], since || 0);
				return;
			}
		}
		if (lv[0] === 'users' && lv.length === 5 && lv[1] === this.username && lv[2] === 'inbox') {
			const event = lv[3];
			const from = lv[4];
			const data = decode(payload);
			if (event === 'reply') {
				const key = bytesKey(packet.properties && packet.properties.correlationData);
				const p = this._pending.get(key);
				if (p) {
					clearTimeout(p.timer);
					this._pending.delete(key);
					p.resolve(data);
					return;
				}
			}
			if (RESERVED.has(event))
				return;
			const meta = { room: null, from, ts: Date.now(), inbox: true, event };
			const reply = this._replier(packet);
			if (reply)
				meta.reply = reply;
			this._fireEvent(event, data, meta);
			return;
		}
		if (lv[0] === 'users' && lv.length >= 4 && lv.length <= 6 && lv[1] === this.username &&
			lv[2] === 'reply') {
			this._onReply(payload, packet);
			return;
		}
		if (lv[0] === 'users' && lv.length === 3 && lv[2] === 'status') {
			// an empty retained payload clears it: the user is unknown again
			const data = payload.length ? decode(payload) : { online: false };
			const st = data && typeof data === 'object' ? data : { online: false };
			this._fire('status', { user: lv[1], ...st }, { user: lv[1], retain: !!packet.retain });
			return;
		}
		if (lv[0] === 'owntracks' && lv.length === 3) {
			if (!payload.length)
				return; // a cleared retained location
			const data = decode(payload);
			if (data && typeof data === 'object')
				this._fire('location', data, { device: lv[1], name: lv[2], topic,
					retain: !!packet.retain });
			return;
		}
		this._fire('mqtt', decode(payload), { topic, retain: !!packet.retain });
	}
}

/**
 * Connect to the hub's MQTT over WebSocket.
 *
 * With neither token nor getToken, the page's session cookie opens the
 * socket: hubd's front at ws(s)://<this page's host>/mqtt takes the
 * cookie of the upgrade and a CONNECT with the user's name and no
 * password (no POST /api/token needed); when the session has ended the
 * connection stops with an 'error' whose .status is 401.
 *
 * @param {string} [url]  default brokerUrl(): this origin's /mqtt
 * @param {object} opts
 * @param {string} opts.username      the user name (MQTT username)
 * @param {string} [opts.token]       an MQTT token (POST /api/token, hubctl
 *   token); used when there is no getToken
 * @param {() => Promise<string>} [opts.getToken]  called before every
 *   (re)connect for a fresh token; reject with an error whose .status is
 *   401 (or .fatal is true) to stop reconnecting
 * @param {string} [opts.clientId]    default hubio-{username}-{random}
 * @param {number} [opts.keepalive]   seconds, default 30
 * @param {number} [opts.protocolVersion]  5 (default) or 4 (no request/reply)
 * @param {number} [opts.typingInterval]   ms between typing emits, 2000
 * @param {boolean} [opts.reconnect]  false: do not reconnect
 * @param {number} [opts.reconnectDelay]     first backoff step, 500 ms
 * @param {number} [opts.reconnectDelayMax]  backoff cap, 30000 ms
 * @param {boolean} [opts.resume]  MQTT 5: keep a broker session across
 *   drops so nothing is missed (default true); 'connect' then says
 *   {reconnect, recovered}
 * @param {number} [opts.sessionExpiry]  seconds the broker keeps it after a
 *   drop, default 120
 * @param {string[]} [opts.hooked]  rooms hooked to a backend: emits into
 *   them settle with its verdict (see Hub#hooked)
 * @param {number} [opts.callsMax]  calls and verdicts waiting at once,
 *   default 1024 (beyond: a call resolves {ok: false, error: 'busy'})
 * @param {object} [opts.mqtt]  the MQTT.js module to use (Node: `import
 *   mqtt from 'mqtt'`); default the page's /vendor/mqtt.esm.js
 * @param {string|Buffer|Array} [opts.ca]  Node over wss://: the CA
 *   certificate(s) (PEM) the hub's certificate must lead to, instead of
 *   Node's own CAs; verification is always on
 * @returns {Hub}
 */
export function connect(url, opts = {}) {
	if (url && typeof url === 'object') {
		opts = url;
		url = undefined;
	}
	if (!opts.username || !NAME_RE.test(opts.username))
		throw hubError('invalid', 'username');
	// outside a page there is no origin to default to
	if (!url && typeof location === 'undefined')
		throw hubError('invalid', 'url');
	return new Hub(url || brokerUrl(), opts);
}

/**
 * The hub's MQTT-over-WebSocket URL for this page: with no port, the same
 * origin's ws(s)://<page host>/mqtt (hubd's front; the session cookie goes
 * with it); with a port (mqtt_ws_port of GET /api/config: hubd's ws_port, wss_port under TLS),
 * ws://<page host>:<port>/.
 * @param {number} [port]
 * @returns {string}
 */
export function brokerUrl(port) {
	const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
	if (port === undefined || port === null)
		return `${scheme}://${location.host}/mqtt`;
	const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
	return `${scheme}://${host}:${port}/`;
}

export { Hub };
export default { connect, brokerUrl, Hub };
