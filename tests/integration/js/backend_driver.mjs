// SPDX-License-Identifier: MIT
// One backend process written with the Node server SDK (sdk/node), driven
// line by line from a Python test: one JSON command per stdin line, one
// JSON event per stdout line (each with pid and t = Date.now() / 1000).
//
// Commands:
//   {"op":"connect","url","service","key","shared","concurrency"}
//        -> {"ev":"connected"} | {"ev":"error","message"}
//   {"op":"handle","method","behaviour","delay"}  behaviour:
//        echo   answers {"echo":data,"pid"}
//        ctx    answers the caller's ctx
//        slow   waits delay ms, then answers {"echo":data,"pid"}
//        fail   throws CallError('out_of_stock', 'no tea left')
//   {"op":"hook","room","behaviour","delay"}  room "*": every hooked room;
//        accept | upper (data.text upper-cased) | reject (reason "no") |
//        slow (accept after delay ms) | hang (never answers) |
//        vote (one vote per ctx.user, then reject "already voted")
//   {"op":"emit","room","event","data"}  -> {"ev":"emitted","error"}
//   {"op":"members","room"}              -> {"ev":"members","members"}
//   {"op":"presence"}  hub.on('joined'|'left') -> {"ev":"joined"|"left",...}
//   {"op":"close","timeout"}             -> {"ev":"closed"}
//   {"op":"call","service","method","data","timeout","tag"}
//                                        -> {"ev":"answer","tag","answer"}
//   {"op":"exit"}
// Events besides: {"ev":"call","method","data","ctx"} when a handler
// starts, {"ev":"hooked","room","event","data","ctx"} when a hook starts,
// {"ev":"hub-error","message"}, {"ev":"disconnect"} (the broker link went).
import readline from 'node:readline';
import { connect, accept, reject, CallError } from '../../../sdk/node/index.js';

let hub = null;

function emit(ev, extra = {}) {
	process.stdout.write(JSON.stringify({ ev, pid: process.pid, t: Date.now() / 1000, ...extra }) + '\n');
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function handler(cmd) {
	return async (data, ctx) => {
		emit('call', { method: cmd.method, data, ctx });
		switch (cmd.behaviour) {
		case 'ctx':
			return { ctx };
		case 'slow':
			await sleep(cmd.delay || 1000);
			return { echo: data, pid: process.pid };
		case 'fail':
			throw new CallError('out_of_stock', 'no tea left');
		default:
			return { echo: data, pid: process.pid };
		}
	};
}

function hooker(cmd) {
	const voted = new Set();
	return async (ev, ctx) => {
		emit('hooked', { room: ev.room, event: ev.event, data: ev.data, from: ev.from, ctx });
		switch (cmd.behaviour) {
		case 'upper':
			return accept({ ...ev.data, text: String((ev.data && ev.data.text) || '').toUpperCase() });
		case 'reject':
			return reject('no');
		case 'slow':
			await sleep(cmd.delay || 1000);
			return accept();
		case 'hang':
			return new Promise(() => {});
		case 'vote':
			if (voted.has(ctx.user)) return reject('already voted');
			voted.add(ctx.user);
			return accept();
		default:
			return accept();
		}
	};
}

async function run(cmd) {
	switch (cmd.op) {
	case 'connect':
		try {
			hub = await connect({
				url: cmd.url,
				service: cmd.service,
				key: cmd.key,
				shared: cmd.shared !== false,
				concurrency: cmd.concurrency || 64,
			});
			hub.on('error', (e) => emit('hub-error', { message: String(e && e.message) }));
			hub.on('disconnect', () => emit('disconnect'));
			emit('connected');
		} catch (e) {
			emit('error', { message: String(e && e.message), code: e && e.code });
		}
		break;
	case 'handle':
		hub.handle(cmd.method, handler(cmd));
		emit('handling', { method: cmd.method });
		break;
	case 'hook':
		if (cmd.room === '*') hub.hook(hooker(cmd));
		else hub.hook(cmd.room, hooker(cmd));
		emit('hooking', { room: cmd.room });
		break;
	case 'emit':
		try {
			await hub.to(cmd.room).emit(cmd.event, cmd.data);
			emit('emitted', { error: null });
		} catch (e) {
			emit('emitted', { error: String(e && e.message) });
		}
		break;
	case 'members':
		emit('members', { room: cmd.room, members: await hub.members(cmd.room) });
		break;
	case 'presence':
		hub.on('joined', (n) => emit('joined', n));
		hub.on('left', (n) => emit('left', n));
		emit('presence-on');
		break;
	case 'call':
		// not awaited here: commands after it go on meanwhile
		hub.call(cmd.service, cmd.method, cmd.data, { timeout: cmd.timeout || 5000 })
			.then((answer) => emit('answer', { tag: cmd.tag, answer }));
		break;
	case 'close':
		await hub.close({ timeout: cmd.timeout || 10000 });
		emit('closed');
		break;
	case 'exit':
		process.exit(0);
		break;
	default:
		emit('bad-command', { op: cmd.op });
	}
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
	let cmd;
	try {
		cmd = JSON.parse(line);
	} catch (e) {
		emit('bad-command', { message: String(e) });
		return;
	}
	run(cmd).catch((e) => emit('hub-error', { message: String(e && e.message) }));
});
rl.on('close', () => process.exit(0));
emit('ready');
