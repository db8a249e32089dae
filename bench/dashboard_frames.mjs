// SPDX-License-Identifier: MIT
// Frame times of the dashboard's live map under load, in headless Chromium
// (Debian's /usr/bin/chromium through playwright-core). Driven by
// bench/dashboard_frames.py, which starts the stack and the feed; usable on
// its own against any running hub:
//
//   echo '{"base":"http://127.0.0.1:8080","username":"alice","password":"...",
//          "vehicles":1000,"feed":"synthetic","seconds":20}' | node bench/dashboard_frames.mjs
//
// Input (JSON on stdin):
//   base, username, password   where and who to log in (through the form)
//   vehicles                   how many vehicles to wait for (and, with the
//                              synthetic feed, to simulate)
//   feed                       "external": something else publishes (hub-tracker);
//                              "synthetic": the page feeds itself through
//                              hubio.js (hub._onMessage with OwnTracks
//                              payloads: JSON parsing, dispatch, map update),
//                              each vehicle once a second, spread evenly
//   seconds, warmup            measuring window and settling time (s)
//   config                     optional {mqtt_ws_port...}: answer GET
//                              api/config with it (hubd without that route)
//   screenshot                 optional path of a screenshot at the end
//   width, height              viewport (1280x800)
// Output (JSON on stdout): frame-time percentiles (requestAnimationFrame
// deltas, ms), long tasks (PerformanceObserver 'longtask'), fixes applied
// per second, vehicles and markers on the map.
import { chromium } from 'playwright-core';
import fs from 'node:fs';

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
	'--no-first-run', '--disable-background-networking', '--disable-component-update',
	'--disable-sync'];

const input = JSON.parse(fs.readFileSync(0, 'utf8'));
const seconds = input.seconds ?? 20;
const warmup = input.warmup ?? 5;
const vehicles = input.vehicles ?? 1000;
const log = (...a) => process.stderr.write(a.join(' ') + '\n');

const browser = await chromium.launch({ executablePath: process.env.HUB_CHROMIUM ||
	'/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
let result;
try {
	const ctx = await browser.newContext({ viewport: { width: input.width ?? 1280,
		height: input.height ?? 800 } });
	const page = await ctx.newPage();
	page.on('pageerror', (e) => log('pageerror:', e));
	if (input.config)
		await page.route('**/api/config', (r) => r.fulfill({ status: 200,
			contentType: 'application/json', body: JSON.stringify(input.config) }));
	await page.goto(input.base + '/');
	await page.locator('#login-username').fill(input.username);
	await page.locator('#login-password').fill(input.password);
	await page.locator('#login-submit').click();
	const poll = async (expr, ms) => {
		const end = Date.now() + ms;
		for (;;) {
			const v = await page.evaluate(expr);
			if (v)
				return v;
			if (Date.now() > end)
				throw new Error(`timeout: ${expr}`);
			await new Promise((r) => setTimeout(r, 200));
		}
	};
	await poll("document.getElementById('conn').dataset.state === 'connected'", 20000);
	log('logged in; feed:', input.feed);

	if (input.feed === 'synthetic') {
		// vehicles on circles around the demo area, each updated once a
		// second: n/60 updates per 16.7 ms tick
		await page.evaluate(`(() => {
			const hub = window.hubDashboard.hub;
			const n = ${vehicles};
			const enc = new TextEncoder();
			const t0 = performance.now();
			const state = Array.from({ length: n }, (_, i) => ({
				cx: 13.40 + ((i * 7919) % 1000) / 1000 * 0.12 - 0.06,
				cy: 52.515 + ((i * 104729) % 1000) / 1000 * 0.06 - 0.03,
				r: 0.002 + (i % 7) * 0.0007, ph: i, w: 0.05 + (i % 5) * 0.01 }));
			let next = 0;
			window.__feed = setInterval(() => {
				const per = Math.max(1, Math.round(n / 60));
				const t = (performance.now() - t0) / 1000;
				for (let k = 0; k < per; k++, next = (next + 1) % n) {
					const s = state[next];
					const a = s.ph + s.w * t;
					const fix = { _type: 'location', lat: s.cy + s.r * Math.sin(a),
						lon: s.cx + s.r * 1.6 * Math.cos(a), tst: Math.floor(Date.now() / 1000),
						vel: 20 + (next % 40), cog: 0, acc: 5, batt: 80, tid: 'v' + (next % 100) };
					hub._onMessage('owntracks/sim' + next + '/tracker',
						enc.encode(JSON.stringify(fix)), { retain: false, properties: {} });
				}
			}, 1000 / 60);
		})()`);
	}
	await poll(`(() => { const d = window.hubDashboard; return d && d.map.vehicles.size >= ${vehicles}; })()`,
		180000);
	log(`${vehicles} vehicles on the map; warming up ${warmup} s`);
	await new Promise((r) => setTimeout(r, warmup * 1000));

	result = await page.evaluate(`new Promise((resolve) => {
		const deltas = [];
		const longtasks = [];
		let obs = null;
		try {
			obs = new PerformanceObserver((list) => {
				for (const e of list.getEntries())
					longtasks.push(e.duration);
			});
			obs.observe({ type: 'longtask', buffered: false });
		} catch (e) { /* no longtask support */ }
		const map = window.hubDashboard.map;
		const fixes0 = map.fixes;
		const start = performance.now();
		let last = start;
		const frame = (now) => {
			deltas.push(now - last);
			last = now;
			if (now - start < ${seconds} * 1000) {
				requestAnimationFrame(frame);
				return;
			}
			if (obs)
				obs.disconnect();
			const s = deltas.slice(1).sort((a, b) => a - b);
			const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
			const snap = map.snapshot();
			resolve({
				frames: s.length,
				seconds: (now - start) / 1000,
				fps: s.length / ((now - start) / 1000),
				frame_ms: { p50: q(0.5), p95: q(0.95), p99: q(0.99), max: s[s.length - 1],
					mean: s.reduce((a, b) => a + b, 0) / s.length },
				frames_over_50ms: s.filter((d) => d > 50).length,
				long_tasks: { count: longtasks.length,
					total_ms: longtasks.reduce((a, b) => a + b, 0),
					max_ms: longtasks.length ? Math.max(...longtasks) : 0 },
				fixes_per_s: (map.fixes - fixes0) / ((now - start) / 1000),
				vehicles: snap.vehicles, markers: snap.markers,
				heap_mb: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
			});
		};
		requestAnimationFrame((t) => { last = t; requestAnimationFrame(frame); });
	})`);
	result.feed = input.feed;
	result.viewport = `${input.width ?? 1280}x${input.height ?? 800}`;
	result.chromium = browser.version();
	if (input.screenshot)
		await page.screenshot({ path: input.screenshot });
} finally {
	await browser.close();
}
process.stdout.write(JSON.stringify(result, null, 1) + '\n');
