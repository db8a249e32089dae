// SPDX-License-Identifier: MIT
// Headless Chromium (Debian's /usr/bin/chromium through playwright-core)
// running pages that use the browser build of socket.io-client against
// hub-bridge. Argument: one JSON object
//   {sioUrl, httpUrl, cookie, pages: [{name, origin, script}]}
// Each page is served (by request interception) at <origin>/app/<name>.html
// and loads the client from <origin>/vendor/socket.io.min.js; the hub_sid
// cookie is in the browser as a real login leaves it (host 127.0.0.1).
// Prints one JSON line per event: {"ev":"connected"|"got"|"error",page,...}.
// The page script sets window.hubState = {connected, got, error}.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const clientJs = fs.readFileSync(path.join(here, '..', '..', '..', 'node_modules',
	'socket.io-client', 'dist', 'socket.io.min.js'));
const cfg = JSON.parse(process.argv[2]);
const out = (ev, extra) => process.stdout.write(JSON.stringify({ ev, ...extra }) + '\n');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hub-sio-chromium-'));
const ctx = await chromium.launchPersistentContext(dir, {
	executablePath: '/usr/bin/chromium',
	headless: true,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync',
		// both pages and the bridge are on loopback; Chromium's Local Network
		// Access prompt would stop the cross-origin (CORS) page before any request
		'--disable-features=LocalNetworkAccessChecks'],
});
try {
	await ctx.addCookies([{ name: 'hub_sid', value: cfg.cookie, domain: '127.0.0.1', path: '/',
		httpOnly: true, sameSite: 'Lax' }]);
	for (const p of cfg.pages) {
		await ctx.route(`${p.origin}/vendor/socket.io.min.js`, (r) =>
			r.fulfill({ contentType: 'application/javascript', body: clientJs }));
		await ctx.route(`${p.origin}/app/${p.name}.html`, (r) => r.fulfill({
			contentType: 'text/html',
			body: `<!doctype html><meta charset="utf-8"><title>${p.name}</title>
<script src="/vendor/socket.io.min.js"></script>
<script>window.hubState = {};
${p.script}
</script>` }));
		const page = await ctx.newPage();
		page.on('pageerror', (e) => out('pageerror', { page: p.name, text: String(e) }));
		page.on('console', (m) => out('console', { page: p.name, text: m.text() }));
		page.on('requestfailed', (r) => out('requestfailed', { page: p.name, url: r.url(),
			text: r.failure() ? r.failure().errorText : '' }));
		await page.goto(`${p.origin}/app/${p.name}.html`);
		const st = await page.waitForFunction(() => window.hubState.connected ||
			window.hubState.error, null, { timeout: 10000 }).then((h) => h.jsonValue())
			.catch((e) => 'timeout: ' + e.message);
		const state = await page.evaluate(() => window.hubState);
		out(state.connected ? 'connected' : 'error', { page: p.name, state, st });
		if (!state.connected)
			continue;
		await page.waitForFunction(() => window.hubState.got, null, { timeout: 15000 })
			.catch(() => {});
		out('got', { page: p.name, state: await page.evaluate(() => window.hubState) });
		await page.close();
	}
} finally {
	await ctx.close();
	fs.rmSync(dir, { recursive: true, force: true });
}
out('done', {});
