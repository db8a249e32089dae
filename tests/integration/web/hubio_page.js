// SPDX-License-Identifier: MIT
// Test helpers around hubio.js for tests/integration/test_web_hubio.py:
// window.T logs in, connects hubs by name and records what they see.
import * as hubio from '/lib/hubio.js';

const T = {
	hubio,
	hubs: {},
	events: {},      // name -> [{event, data, meta, t}]
	tokenCalls: {},  // name -> number of getToken calls
	presence: {},    // name -> room -> [{list, count}]

	async api(method, path, body) {
		const r = await fetch(path, {
			method,
			headers: body ? { 'content-type': 'application/json' } : {},
			body: body ? JSON.stringify(body) : undefined,
			credentials: 'same-origin',
		});
		const text = await r.text();
		let json = null;
		try {
			json = JSON.parse(text);
		} catch {
			// not JSON
		}
		return { status: r.status, json };
	},

	async login(username, password) {
		return (await T.api('POST', '/api/login', { username, password })).status;
	},

	/* A getToken that asks hubd with the cookie (what the dashboard does). */
	cookieToken(name) {
		return async () => {
			T.tokenCalls[name] = (T.tokenCalls[name] || 0) + 1;
			const r = await T.api('POST', '/api/token');
			if (r.status !== 200) {
				const e = new Error('token: HTTP ' + r.status);
				e.status = r.status;
				throw e;
			}
			return r.json.token;
		};
	},

	record(name, event) {
		T.hubs[name].on(event, (data, meta) => {
			const m = meta && typeof meta === 'object' ? { ...meta } : meta;
			if (m && m.reply)
				m.reply = true;
			T.events[name].push({ event, data, meta: m, t: Date.now() });
		});
	},

	/* connect(name, url, opts): opts.getToken === 'cookie' uses cookieToken */
	connect(name, url, opts) {
		const o = { ...opts };
		if (o.getToken === 'cookie')
			o.getToken = T.cookieToken(name);
		T.events[name] = [];
		const hub = hubio.connect(url, o);
		T.hubs[name] = hub;
		for (const ev of ['connect', 'disconnect', 'reconnect_attempt', 'error', 'joined',
			'left', 'status', 'location', 'typing', 'chat message', 'ping', 'dm', 'reply'])
			T.record(name, ev);
		hub.on('error', (e) => T.events[name].push({ event: 'error-detail',
			data: { message: e.message, code: e.code ?? null } }));
		return true;
	},

	seen(name, event, pred) {
		return (T.events[name] || []).filter((e) => e.event === event && (!pred || pred(e)));
	},

	watchPresence(name, room) {
		T.presence[name] = T.presence[name] || {};
		T.presence[name][room] = [];
		T.hubs[name].onPresence(room, (list, count) =>
			T.presence[name][room].push({ list, count }));
	},
};
window.T = T;
document.getElementById('state').textContent = 'ready';
