// SPDX-License-Identifier: MIT
// The lobby's rules (lobby.mjs) without the hub: a fake clock and timers,
// and what it would send recorded. The same rules against the real hub,
// in Chromium: tests/integration/test_example_lobby.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Lobby, parseTables } from '../lobby.mjs';

function fakeClock() {
	let now = 1000;
	let id = 0;
	const pending = new Map();
	return {
		now: () => now,
		timers: {
			setTimeout: (fn, ms) => {
				pending.set(++id, { at: now + ms, fn });
				return id;
			},
			clearTimeout: (i) => pending.delete(i),
		},
		advance(ms) {
			const until = now + ms;
			for (;;) {
				const due = [...pending.entries()].filter(([, t]) => t.at <= until)
					.sort((a, b) => a[1].at - b[1].at)[0];
				if (!due)
					break;
				pending.delete(due[0]);
				now = due[1].at;
				due[1].fn();
			}
			now = until;
		},
		pending: () => pending.size,
	};
}

function setup(opts = {}) {
	const clock = fakeClock();
	const sent = [];
	const lobby = new Lobby({
		tables: parseTables('games.t1 2 Duel\ngames.t2 4 Four\n'),
		out: {
			toTable: (room, event, data) => sent.push({ to: room, event, data }),
			toLobby: (event, data) => sent.push({ to: 'games', event, data }),
			toUser: (user, event, data) => sent.push({ to: `user:${user}`, event, data }),
		},
		graceMs: 10000, countdownMs: 3000, kickBanMs: 60000,
		now: clock.now, timers: clock.timers, ...opts,
	});
	const who = (user) => ({ user, displayName: user[0].toUpperCase() + user.slice(1) });
	const act = (room, user, event, data = {}) => lobby.hook(room, event, data, who(user));
	const logs = (room) => sent.filter((m) => m.to === room && m.event === 'log').map((m) => m.data);
	const last = (room) => sent.filter((m) => m.to === room && m.event === 'state').at(-1).data;
	return { lobby, clock, sent, act, logs, last, who };
}

test('tables.conf: lines, comments, bad lines', () => {
	assert.deepEqual(parseTables('# c\n\ngames.t1 2 Duel game\n'),
		[{ room: 'games.t1', seats: 2, title: 'Duel game' }]);
	assert.throws(() => parseTables('games.t1 1 x'), /seats/);
	assert.throws(() => parseTables('bad/room 2'), /line 1/);
	assert.throws(() => parseTables('a 2\na 3'), /twice/);
	assert.throws(() => parseTables('# nothing'), /no table/);
});

test('the seat limit holds; the first player owns the table', () => {
	const { act, last, lobby, who } = setup();
	assert.equal(act('games.t1', 'alice', 'sit').accept, true);
	assert.equal(act('games.t1', 'bob', 'sit').accept, true);
	const v = act('games.t1', 'carol', 'sit');
	assert.equal(v.accept, false);
	assert.match(v.reason, /Duel is full \(2 seats\)/);
	assert.deepEqual(last('games.t1').players.map((p) => p.user), ['alice', 'bob']);
	assert.equal(last('games.t1').owner, 'alice');
	// sitting again is no second seat
	assert.equal(act('games.t1', 'alice', 'sit').accept, true);
	assert.equal(last('games.t1').players.length, 2);
	assert.deepEqual(lobby.call('tables', {}, who('carol')).tables[0],
		{ table: 'games.t1', title: 'Duel', seats: 2, taken: 2, phase: 'waiting' });
	assert.equal(lobby.call('tables', {}, who('bob')).seat, 'games.t1');
	assert.equal(lobby.call('where', {}, who('carol')).table, null);
});

test('moving to another table frees the first seat', () => {
	const { act, last, logs } = setup();
	act('games.t1', 'alice', 'sit');
	act('games.t2', 'alice', 'sit');
	assert.equal(last('games.t1').players.length, 0);
	assert.equal(last('games.t1').owner, null);
	assert.deepEqual(last('games.t2').players.map((p) => p.user), ['alice']);
	assert.ok(logs('games.t1').some((l) => l.type === 'left' && l.reason === 'moved to Four'));
});

test('only the owner kicks; the kicked player is told and may not sit again at once', () => {
	const { act, last, sent, clock } = setup();
	act('games.t2', 'alice', 'sit');
	act('games.t2', 'bob', 'sit');
	act('games.t2', 'carol', 'sit');
	const refused = act('games.t2', 'bob', 'kick', { user: 'carol' });
	assert.equal(refused.accept, false);
	assert.match(refused.reason, /only the table's owner \(Alice\)/);
	assert.equal(last('games.t2').players.length, 3);
	assert.equal(act('games.t2', 'alice', 'kick', { user: 'alice' }).accept, false);
	assert.equal(act('games.t2', 'alice', 'kick', { user: 'nobody' }).accept, false);
	const ok = act('games.t2', 'alice', 'kick', { user: 'carol' });
	assert.deepEqual(ok, { accept: true, data: { user: 'carol', display: 'Carol', by: 'alice' } });
	assert.deepEqual(last('games.t2').players.map((p) => p.user), ['alice', 'bob']);
	assert.deepEqual(sent.find((m) => m.to === 'user:carol'),
		{ to: 'user:carol', event: 'kicked', data: { table: 'games.t2', title: 'Four', by: 'alice' } });
	assert.match(act('games.t2', 'carol', 'sit').reason, /removed you from Four; try again in 60 s/);
	clock.advance(60000);
	assert.equal(act('games.t2', 'carol', 'sit').accept, true);
});

test('the owner leaving hands the table to the next player', () => {
	const { act, last, logs } = setup();
	act('games.t2', 'alice', 'sit');
	act('games.t2', 'bob', 'sit');
	act('games.t2', 'alice', 'stand');
	assert.equal(last('games.t2').owner, 'bob');
	assert.ok(logs('games.t2').some((l) => l.type === 'owner' && l.user === 'bob'));
	assert.equal(act('games.t2', 'alice', 'stand').accept, false);
});

test('everybody ready: countdown, then the game starts; un-ready stops the countdown', () => {
	const { act, last, sent, clock, logs } = setup();
	act('games.t2', 'alice', 'sit');
	act('games.t2', 'bob', 'sit');
	act('games.t2', 'alice', 'ready', { ready: true });
	assert.equal(last('games.t2').phase, 'waiting');
	act('games.t2', 'bob', 'ready', { ready: true });
	assert.equal(last('games.t2').phase, 'countdown');
	assert.equal(last('games.t2').countdownLeftMs, 3000);
	clock.advance(2000);
	act('games.t2', 'bob', 'ready', { ready: false });
	assert.equal(last('games.t2').phase, 'waiting');
	assert.ok(logs('games.t2').some((l) => l.type === 'countdown_stopped'));
	clock.advance(5000);
	assert.equal(sent.filter((m) => m.event === 'started').length, 0);
	act('games.t2', 'bob', 'ready', { ready: true });
	clock.advance(3000);
	assert.equal(last('games.t2').phase, 'playing');
	assert.deepEqual(sent.find((m) => m.event === 'started').data,
		{ table: 'games.t2', game: 1, players: ['alice', 'bob'] });
	// during the game: no new players, no ready; the owner ends it
	assert.match(act('games.t2', 'carol', 'sit').reason, /playing/);
	assert.equal(act('games.t2', 'bob', 'finish').accept, false);
	assert.equal(act('games.t2', 'alice', 'finish').accept, true);
	assert.equal(last('games.t2').phase, 'waiting');
	assert.deepEqual(last('games.t2').players.map((p) => p.ready), [false, false]);
});

test('a lone player never starts a game', () => {
	const { act, last } = setup();
	act('games.t2', 'alice', 'sit');
	act('games.t2', 'alice', 'ready');
	assert.equal(last('games.t2').phase, 'waiting');
});

test('a player whose connection ended keeps the seat for the grace window', () => {
	const { act, last, lobby, clock, logs } = setup();
	act('games.t1', 'alice', 'sit');
	act('games.t1', 'bob', 'sit');
	act('games.t1', 'bob', 'ready');
	lobby.presenceLeft('games.t2', 'bob', 'network');   // another room's notice: ignored
	assert.equal(last('games.t1').players[1].away, null);
	lobby.presenceLeft('games.t1', 'bob', 'network');
	const away = last('games.t1').players[1];
	assert.equal(away.ready, false);
	assert.deepEqual(away.away, { reason: 'lost the connection', leftMs: 10000 });
	lobby.presenceLeft('games.t1', 'bob', 'network');   // one notice per room: once
	assert.equal(logs('games.t1').filter((l) => l.type === 'away').length, 1);
	clock.advance(9000);
	lobby.presenceJoined('games.t1', 'bob');
	assert.equal(last('games.t1').players[1].away, null);
	assert.ok(logs('games.t1').some((l) => l.type === 'back' && l.user === 'bob'));
	clock.advance(5000);
	assert.equal(last('games.t1').players.length, 2, 'back in time: the seat stays');
	// away again, and not back in time
	lobby.presenceLeft('games.t1', 'bob', 'clean');
	clock.advance(10000);
	assert.deepEqual(last('games.t1').players.map((p) => p.user), ['alice']);
	const left = logs('games.t1').filter((l) => l.type === 'left').at(-1);
	assert.equal(left.reason, 'closed the page, not back within 10 s');
	assert.equal(lobby.call('where', {}, { user: 'bob' }).table, null);
});

test('an away owner hands over only when the seat goes; an away player stops the countdown', () => {
	const { act, last, lobby, clock } = setup();
	act('games.t2', 'alice', 'sit');
	act('games.t2', 'bob', 'sit');
	act('games.t2', 'alice', 'ready');
	act('games.t2', 'bob', 'ready');
	assert.equal(last('games.t2').phase, 'countdown');
	lobby.presenceLeft('games.t2', 'alice', 'network');
	assert.equal(last('games.t2').phase, 'waiting');
	assert.equal(last('games.t2').owner, 'alice');
	clock.advance(10000);
	assert.equal(last('games.t2').owner, 'bob');
});

test('a session the hub ended frees the seat at once', () => {
	const { act, last, lobby } = setup();
	act('games.t1', 'alice', 'sit');
	lobby.presenceLeft('games.t1', 'alice', 'logout');
	assert.equal(last('games.t1').players.length, 0);
});

test('a call from an away player brings it back', () => {
	const { act, last, lobby } = setup();
	act('games.t1', 'alice', 'sit');
	lobby.presenceLeft('games.t1', 'alice', 'network');
	const w = lobby.call('where', {}, { user: 'alice' });
	assert.equal(w.table, 'games.t1');
	assert.equal(last('games.t1').players[0].away, null);
});

test('players may only chat from a seat; the backend\'s own events cannot be forged', () => {
	const { act } = setup();
	assert.match(act('games.t1', 'alice', 'chat', { text: 'hi' }).reason, /take a seat at Duel/);
	act('games.t1', 'alice', 'sit');
	assert.deepEqual(act('games.t1', 'alice', 'chat', { text: '  hi  ' }),
		{ accept: true, data: { text: 'hi', display: 'Alice' } });
	assert.equal(act('games.t1', 'alice', 'chat', { text: '   ' }).accept, false);
	assert.equal(act('games.t1', 'alice', 'chat', { text: 'x'.repeat(301) }).accept, false);
	assert.equal(act('games.t1', 'alice', 'chat', 'not an object').accept, false);
	for (const ev of ['state', 'log', 'started', 'tables', 'kicked'])
		assert.match(act('games.t1', 'alice', ev, {}).reason, /only the lobby announces/);
	assert.equal(act('nosuch', 'alice', 'sit').accept, false);
});

test('every change sends the table state (v grows), its lines and the list', () => {
	const { act, sent } = setup();
	act('games.t1', 'alice', 'sit');
	assert.deepEqual(sent.map((m) => `${m.to} ${m.event}`),
		['games.t1 log', 'games.t1 log', 'games.t1 state', 'games tables']);
	act('games.t1', 'bob', 'sit');
	const states = sent.filter((m) => m.event === 'state').map((m) => m.data.v);
	assert.deepEqual(states, [1, 2]);
});

test('close() leaves no timer behind', () => {
	const { act, lobby, clock } = setup();
	act('games.t2', 'alice', 'sit');
	act('games.t2', 'bob', 'sit');
	act('games.t2', 'alice', 'ready');
	act('games.t2', 'bob', 'ready');
	lobby.presenceLeft('games.t2', 'bob', 'network');
	act('games.t2', 'carol', 'sit');
	lobby.presenceLeft('games.t2', 'carol', 'network');
	assert.ok(clock.pending() > 0);
	lobby.close();
	assert.equal(clock.pending(), 0);
});
