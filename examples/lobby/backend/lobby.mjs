// SPDX-License-Identifier: MIT
// The game lobby's rules, without I/O: tables with a seat limit, an owner,
// ready states, a countdown when everybody is ready, kicks, and seats kept
// for a grace window when a player's connection ends. server.mjs wires it
// to the hub; the Socket.IO server a team would have written instead
// (docs/examples.md) would wire the same class to io.on('connection').
//
// What players do at a table is an event into the table's room, which is
// hooked to the backend: `sit`, `stand`, `ready` {ready}, `kick` {user},
// `finish`, `chat` {text}. The hub lets only the room's members (its ACL)
// send them, and holds each until hook() decided: the verdict is the
// sender's ack, and an accepted action reaches the other members as a
// small record ({user, display}). Two calls answer what a page needs at
// start: `tables` (the list, the caller's seat) and `where` (the caller's
// table as it is now). Everything runs on one thread: an action is decided
// whole before the next, so two players never both take the last seat.
//
// What it sends (through `out`):
//   out.toTable(room, 'state', state)   the table as it is now (every change, `v` grows)
//   out.toTable(room, 'log', entry)     a line for the table's feed: {type, user, display, ...}
//   out.toTable(room, 'started', {...}) the game started (after the countdown)
//   out.toLobby('tables', {tables})     the list of tables (every change)
//   out.toUser(user, 'kicked', {...})   to the player the owner removed

/** What the hub's presence reasons mean to the other players. */
export const AWAY_REASONS = {
	clean: 'closed the page',
	network: 'lost the connection',
	keepalive: 'timed out',
	kicked: 'was disconnected by an admin',
	logout: 'logged out',
	expired: 'session expired',
};

const TEXT_MAX = 300;

function fail(error, message) {
	return { ok: false, error, message };
}

function refuse(reason) {
	return { accept: false, reason };
}

/**
 * Parse tables.conf: "room seats title..." lines, '#' comments. Throws on a
 * bad line (the backend does not start with a broken table list).
 */
export function parseTables(text) {
	const out = [];
	const seen = new Set();
	text.split('\n').forEach((line, i) => {
		const l = line.trim();
		if (!l || l.startsWith('#'))
			return;
		const m = /^([A-Za-z0-9._-]{1,64})\s+(\d+)\s*(.*)$/.exec(l);
		if (!m)
			throw new Error(`tables line ${i + 1}: "room seats title" expected`);
		const seats = Number(m[2]);
		if (seats < 2 || seats > 64)
			throw new Error(`tables line ${i + 1}: seats must be 2..64`);
		if (seen.has(m[1]))
			throw new Error(`tables line ${i + 1}: ${m[1]} twice`);
		seen.add(m[1]);
		out.push({ room: m[1], seats, title: m[3].trim() || m[1] });
	});
	if (!out.length)
		throw new Error('no table');
	return out;
}

export class Lobby {
	/**
	 * tables: [{room, seats, title}]; out: {toTable, toLobby, toUser};
	 * graceMs: how long a seat waits for a player whose connection ended;
	 * countdownMs; minPlayers (to start); kickBanMs (a kicked player may not
	 * sit at that table again before); now/timers: for tests.
	 */
	constructor({ tables, out, graceMs = 20000, countdownMs = 5000, minPlayers = 2,
		kickBanMs = 60000, now = Date.now, timers = { setTimeout, clearTimeout } }) {
		this.out = out;
		this.graceMs = graceMs;
		this.countdownMs = countdownMs;
		this.minPlayers = minPlayers;
		this.kickBanMs = kickBanMs;
		this.now = now;
		this.timers = timers;
		this.tables = new Map();
		for (const t of tables) {
			this.tables.set(t.room, {
				room: t.room, title: t.title, seats: t.seats,
				players: [],          // in seating order: {user, display, ready, away}
				owner: null,
				phase: 'waiting',     // waiting | countdown | playing
				countdown: null,      // {ends, timer}
				game: 0,
				v: 0,
				bans: new Map(),      // user -> until (ms)
			});
		}
		this.seatOf = new Map();      // user -> room
	}

	// ---------------------------------------------------------------- views

	summary() {
		// titles and counts only: `tables` answers any logged-in user
		return [...this.tables.values()].map((t) => ({
			table: t.room, title: t.title, seats: t.seats, taken: t.players.length, phase: t.phase,
		}));
	}

	state(room) {
		const t = this.tables.get(room);
		return {
			table: t.room, title: t.title, seats: t.seats, owner: t.owner, phase: t.phase,
			game: t.game, v: t.v,
			countdownLeftMs: t.countdown ? Math.max(0, t.countdown.ends - this.now()) : null,
			players: t.players.map((p) => ({
				user: p.user, display: p.display, ready: p.ready,
				away: p.away ? { reason: p.away.reason, leftMs: Math.max(0, p.away.until - this.now()) } : null,
			})),
		};
	}

	// ---------------------------------------------------------------- calls

	/**
	 * Answer a call (method, data, ctx {user, displayName}). Any logged-in
	 * user may call, so the answers hold nothing a stranger should not see:
	 * the tables' titles, seats and counts, and the caller's own table.
	 */
	call(method, data, ctx) {
		switch (method) {
		case 'tables':
			return { ok: true, tables: this.summary(), seat: this.seatOf.get(ctx.user) || null };
		case 'where': {
			const room = this.seatOf.get(ctx.user) || null;
			if (room)
				this._back(ctx.user);
			return { ok: true, table: room, state: room ? this.state(room) : null };
		}
		default:
			return fail('unknown_method', `the lobby has no method '${method}'`);
		}
	}

	// ---------------------------------------------------------------- actions (hooked events)

	/**
	 * A client's event into a room hooked to the backend; ctx {user,
	 * displayName}. Returns the verdict: {accept: true, data} (data: what
	 * the other members get) or {accept: false, reason} (the sender's ack
	 * says why; nobody else sees it).
	 */
	hook(room, event, data, ctx) {
		const t = this.tables.get(room);
		if (!t)
			return refuse('not a lobby table');
		const d = data && typeof data === 'object' ? data : {};
		switch (event) {
		case 'sit':
			return this.sit(t, ctx);
		case 'stand':
			return this.stand(t, ctx);
		case 'ready':
			return this.ready(t, ctx, d.ready !== false);
		case 'kick':
			return this.kick(t, ctx, d.user);
		case 'finish':
			return this.finish(t, ctx);
		case 'chat':
			return this.chat(t, ctx, d.text);
		default:
			// state, log, started...: the backend's own, never a player's
			return refuse(`only the lobby announces '${event}' here`);
		}
	}

	sit(t, ctx) {
		const user = ctx.user;
		const display = ctx.displayName || user;
		if (this.seatOf.get(user) === t.room) {
			this._back(user);
			return { accept: true, data: { user, display } };
		}
		if (t.phase === 'playing')
			return refuse(`${t.title} is playing; wait for the game to end`);
		if (t.players.length >= t.seats)
			return refuse(`${t.title} is full (${t.seats} seats)`);
		const ban = t.bans.get(user);
		if (ban && ban > this.now())
			return refuse(`the owner removed you from ${t.title}; try again in ${Math.ceil((ban - this.now()) / 1000)} s`);
		t.bans.delete(user);
		const from = this.seatOf.get(user);
		if (from)
			this._remove(this.tables.get(from), user, { type: 'left', reason: `moved to ${t.title}` });
		t.players.push({ user, display, ready: false, away: null });
		this.seatOf.set(user, t.room);
		const log = [{ type: 'joined', user, display }];
		if (!t.owner) {
			t.owner = user;
			log.push({ type: 'owner', user, display });
		}
		this._changed(t, log);
		return { accept: true, data: { user, display } };
	}

	stand(t, ctx) {
		if (this.seatOf.get(ctx.user) !== t.room)
			return refuse(`you have no seat at ${t.title}`);
		const p = t.players.find((x) => x.user === ctx.user);
		this._remove(t, ctx.user, { type: 'left', reason: 'stood up' });
		return { accept: true, data: { user: ctx.user, display: p.display } };
	}

	ready(t, ctx, ready) {
		const p = t.players.find((x) => x.user === ctx.user);
		if (!p)
			return refuse(`you have no seat at ${t.title}`);
		if (t.phase === 'playing')
			return refuse('the game is on');
		this._back(ctx.user);
		if (p.ready !== ready) {
			p.ready = ready;
			this._changed(t, [{ type: ready ? 'ready' : 'unready', user: p.user, display: p.display }]);
		}
		return { accept: true, data: { user: p.user, display: p.display, ready } };
	}

	kick(t, ctx, target) {
		if (t.owner !== ctx.user)
			return refuse(`only the table's owner (${this._display(t, t.owner) || 'nobody'}) may remove players`);
		if (target === ctx.user)
			return refuse('you cannot remove yourself: stand up instead');
		const p = t.players.find((x) => x.user === target);
		if (!p)
			return refuse(`${typeof target === 'string' ? target.slice(0, 64) : 'that player'} has no seat at ${t.title}`);
		const by = this._display(t, ctx.user);
		for (const [u, until] of t.bans)
			if (until <= this.now())
				t.bans.delete(u);
		t.bans.set(target, this.now() + this.kickBanMs);
		this._remove(t, target, { type: 'left', reason: `removed by ${by}`, kicked: true });
		this.out.toUser(target, 'kicked', { table: t.room, title: t.title, by: ctx.user });
		return { accept: true, data: { user: target, display: p.display, by: ctx.user } };
	}

	finish(t, ctx) {
		if (t.owner !== ctx.user)
			return refuse('only the table\'s owner may end the game');
		if (t.phase !== 'playing')
			return refuse('no game to end');
		this._toWaiting(t);
		this._changed(t, [{ type: 'finished', game: t.game }]);
		return { accept: true, data: { game: t.game } };
	}

	chat(t, ctx, raw) {
		const p = t.players.find((x) => x.user === ctx.user);
		if (!p)
			return refuse(`take a seat at ${t.title} to talk there`);
		const text = typeof raw === 'string' ? raw.trim() : '';
		if (!text)
			return refuse('empty message');
		if (text.length > TEXT_MAX)
			return refuse(`at most ${TEXT_MAX} characters`);
		return { accept: true, data: { text, display: p.display } };
	}

	_display(t, user) {
		const p = t.players.find((x) => x.user === user);
		return p ? p.display : user;
	}

	// ---------------------------------------------------------------- presence

	/**
	 * The hub's `left` notice in `room`: the user's last connection ended
	 * (every room of the user gets one), or its membership of `room` was
	 * revoked (that room only, reason `kicked`). Only the notice of the
	 * room the user sits in counts.
	 */
	presenceLeft(room, user, reason) {
		if (!room || this.seatOf.get(user) !== room)
			return;
		const t = this.tables.get(room);
		const p = t.players.find((x) => x.user === user);
		if (!p || p.away)
			return;
		const why = AWAY_REASONS[reason] || reason || 'left';
		if (reason === 'logout' || reason === 'kicked' || reason === 'expired') {
			// the hub ended the session: nobody comes back on it
			this._remove(t, user, { type: 'left', reason: why });
			return;
		}
		const until = this.now() + this.graceMs;
		p.ready = false;
		p.away = { reason: why, until, timer: this.timers.setTimeout(() => this._expire(user, room), this.graceMs) };
		this._changed(t, [{ type: 'away', user, display: p.display, reason: why, graceMs: this.graceMs }]);
	}

	/** The hub's `joined` notice in `room`: the user has a connection again. */
	presenceJoined(room, user) {
		if (room && this.seatOf.get(user) === room)
			this._back(user);
	}

	_back(user) {
		const room = this.seatOf.get(user);
		if (!room)
			return;
		const t = this.tables.get(room);
		const p = t.players.find((x) => x.user === user);
		if (!p || !p.away)
			return;
		p.away = this._clearAway(p);
		this._changed(t, [{ type: 'back', user, display: p.display }]);
	}

	_clearAway(p) {
		if (p.away)
			this.timers.clearTimeout(p.away.timer);
		return null;
	}

	_expire(user, room) {
		const t = this.tables.get(room);
		const p = t.players.find((x) => x.user === user);
		if (!p || !p.away)
			return;
		this._remove(t, user, { type: 'left', reason: `${p.away.reason}, not back within ${Math.round(this.graceMs / 1000)} s` });
	}

	// ---------------------------------------------------------------- internals

	_remove(t, user, entry) {
		const i = t.players.findIndex((x) => x.user === user);
		if (i < 0)
			return;
		const [p] = t.players.splice(i, 1);
		this._clearAway(p);
		this.seatOf.delete(user);
		const log = [{ ...entry, user, display: p.display }];
		if (t.owner === user) {
			const next = t.players.find((x) => !x.away) || t.players[0];
			t.owner = next ? next.user : null;
			if (next)
				log.push({ type: 'owner', user: next.user, display: next.display });
		}
		if (t.phase === 'playing' && t.players.length === 0)
			this._toWaiting(t);
		this._changed(t, log);
	}

	_toWaiting(t) {
		t.phase = 'waiting';
		for (const p of t.players)
			p.ready = false;
	}

	// After every change: the countdown starts or stops, then the table's
	// state, its feed lines and the lobby's list go out.
	_changed(t, log) {
		const everyone = t.players.length >= this.minPlayers && t.players.every((p) => p.ready && !p.away);
		if (t.phase === 'waiting' && everyone) {
			t.phase = 'countdown';
			const timer = this.timers.setTimeout(() => this._start(t), this.countdownMs);
			t.countdown = { ends: this.now() + this.countdownMs, timer };
			log.push({ type: 'countdown', ms: this.countdownMs });
		} else if (t.phase === 'countdown' && !everyone) {
			this.timers.clearTimeout(t.countdown.timer);
			t.countdown = null;
			t.phase = 'waiting';
			log.push({ type: 'countdown_stopped' });
		}
		this._send(t, log);
	}

	_send(t, log) {
		t.v++;
		for (const entry of log)
			this.out.toTable(t.room, 'log', { table: t.room, ...entry });
		this.out.toTable(t.room, 'state', this.state(t.room));
		this.out.toLobby('tables', { tables: this.summary() });
	}

	_start(t) {
		if (t.phase !== 'countdown')
			return;
		t.countdown = null;
		t.phase = 'playing';
		t.game++;
		const players = t.players.map((p) => p.user);
		this.out.toTable(t.room, 'started', { table: t.room, game: t.game, players });
		this._send(t, [{ type: 'started', game: t.game, players }]);
	}

	/** Stop every timer (the backend is stopping). */
	close() {
		for (const t of this.tables.values()) {
			if (t.countdown)
				this.timers.clearTimeout(t.countdown.timer);
			for (const p of t.players)
				this._clearAway(p);
		}
	}
}
