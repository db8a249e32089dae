// SPDX-License-Identifier: MIT
// The Node reference stack for bench/sio_bench.py: what an experienced
// Node developer ships for "Socket.IO with express-session + Passport",
// written the way socket.io's own Passport guide does it (v4.7+):
// io.engine.use() runs the session and passport middlewares on the
// Engine.IO handshake only; the user is deserialized once per connection
// and sits on socket.request.user. The same mapping as hub-bridge:
// join/leave with acks, emit(event, ...args, ack) to the current room (or
// data.room), others receive (...args, {room, from, ts}).
//
//   PORT=3100 node server.js     POST /login {username,password} -> cookie
'use strict';
const http = require('node:http');
const express = require('express');
const session = require('express-session');
const passport = require('passport');
const LocalStrategy = require('passport-local').Strategy;
const { Server } = require('socket.io');

const USERS = new Map([['bench', { id: 'bench', password: process.env.BENCH_PASSWORD || 'bench-pw',
	rooms: new Set(['lobby']) }]]);

passport.use(new LocalStrategy((username, password, done) => {
	const u = USERS.get(username);
	if (!u || u.password !== password)
		return done(null, false);
	return done(null, u);
}));
passport.serializeUser((user, done) => done(null, user.id));
passport.deserializeUser((id, done) => done(null, USERS.get(id) || false));

const sessionMiddleware = session({
	secret: process.env.SESSION_SECRET || 'bench-only-secret',
	resave: false,
	saveUninitialized: false,
	cookie: { httpOnly: true, sameSite: 'lax' },
});

const app = express();
app.use(express.json());
app.use(sessionMiddleware);
app.use(passport.session());
app.post('/login', passport.authenticate('local'), (req, res) => res.json({ user: req.user.id }));

const server = http.createServer(app);
// RECOVERY=1: connectionStateRecovery as the hub has it on (120 s), for
// bench/sio_bench.py --recovery
const io = new Server(server, { serveClient: false, maxHttpBufferSize: 1e6,
	...(process.env.RECOVERY ? { connectionStateRecovery: {
		maxDisconnectionDuration: 120000, skipMiddlewares: true } } : {}) });

function onlyForHandshake(middleware) {
	return (req, res, next) => (req._query.sid === undefined ? middleware(req, res, next) : next());
}
io.engine.use(onlyForHandshake(sessionMiddleware));
io.engine.use(onlyForHandshake(passport.session()));
io.engine.use(onlyForHandshake((req, res, next) => {
	if (req.user)
		return next();
	res.writeHead(401);
	res.end();
}));

io.on('connection', (socket) => {
	const user = socket.request.user;
	let current = socket.recovered ? (socket.data.current || null) : null;
	const join = (room) => {
		if (!user.rooms.has(room))
			return false;
		socket.join(room);
		current = room;
		socket.data.current = room;
		return true;
	};
	if (!socket.recovered)
		join('lobby');
	socket.on('join', (room, ack) => {
		const ok = typeof room === 'string' && join(room);
		if (typeof ack === 'function')
			ack(ok ? { ok: true, room } : { ok: false, error: 'forbidden' });
	});
	socket.on('leave', (room, ack) => {
		socket.leave(room);
		if (current === room)
			current = null;
		if (typeof ack === 'function')
			ack({ ok: true, room });
	});
	socket.onAny((event, ...args) => {
		if (event === 'join' || event === 'leave')
			return;
		const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
		const data = args[0];
		const room = data && typeof data.room === 'string' ? data.room : current;
		const ts = Date.now();
		if (!room || !user.rooms.has(room)) {
			if (ack)
				ack({ ok: false, error: room ? 'forbidden' : 'no_room' });
			return;
		}
		// every argument (binaries too) to the others, then meta
		socket.to(room).emit(event, ...args, { room, from: user.id, ts });
		if (ack)
			ack({ ok: true, room, ts });
	});
});

// The server side of calls (bench/sio_backends_bench.py), as a Node
// developer writes it: a namespace per backend concern and a handler that
// answers through the ack. The hub's equivalent is a Node SDK backend
// (bench/sdk_backend.mjs: hub.handle('order', ...)) behind the namespace
// /shop of hub-bridge.
io.of('/shop').on('connection', (socket) => {
	socket.on('order', (data, ack) => {
		if (typeof ack === 'function')
			ack({ ok: true, echo: data, user: socket.request.user.id });
	});
});

const port = Number(process.env.PORT || 3100);
server.listen(port, '127.0.0.1', () => console.log(`node reference stack on ${port}`));
