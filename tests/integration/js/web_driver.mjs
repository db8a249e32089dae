// SPDX-License-Identifier: MIT
// Headless Chromium (Debian's /usr/bin/chromium through playwright-core)
// driven line by line from a Python test (harness.Browser): one JSON command
// per stdin line, one JSON answer per stdout line. Every command carries an
// "id"; its answer is {"id", "ok": true, "value"} or {"id", "ok": false,
// "error"}. Unsolicited events (no id): {"ev":"console"|"pageerror"|
// "close", "page", "text"}.
//
// Commands:
//   {"op":"page","page":"a","ctx":"alice","viewport":{"width","height"}}
//        a new page; pages sharing a ctx share cookies (one browser context
//        per ctx, each with its own cookie jar)
//   {"op":"goto","page","url"}
//   {"op":"eval","page","fn":"async (arg) => ...","arg"}   page.evaluate
//   {"op":"wait","page","fn":"(arg) => ...","arg","ms"}     waitForFunction
//   {"op":"fill","page","selector","value"}  {"op":"click","page","selector"}
//   {"op":"press","page","selector","key"}   {"op":"type","page","selector","text"}
//   {"op":"screenshot","page","path","fullPage"}
//   {"op":"viewport","page","width","height"}
//   {"op":"route","page","url","status","headers","body"}  canned answers
//   {"op":"unroute","page","url"}
//   {"op":"offline","ctx","offline":true|false}  the context's network
//        (context.setOffline: new requests and sockets fail; sockets
//        already open stay open, so a test also closes those it means)
//   {"op":"closepage","page"}  {"op":"exit"}
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';

export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
	'--no-first-run', '--disable-background-networking', '--disable-component-update',
	'--disable-sync'];
// a test's own flags (JSON list), e.g. the TLS test's pin of the dev
// server key: --ignore-certificate-errors-spki-list=<base64 SHA-256>
const EXTRA_ARGS = process.env.HUB_CHROMIUM_ARGS ? JSON.parse(process.env.HUB_CHROMIUM_ARGS) : [];

function out(obj) {
	process.stdout.write(JSON.stringify(obj) + '\n');
}

// launch() runs Chromium on a fresh temporary profile of its own, and
// every newContext() is a fresh incognito-like jar within it
const browser = await chromium.launch({
	executablePath: process.env.HUB_CHROMIUM || '/usr/bin/chromium',
	args: CHROMIUM_ARGS.concat(EXTRA_ARGS),
	headless: true,
});
const contexts = new Map();
const pages = new Map();

async function context(name, viewport) {
	if (!contexts.has(name))
		contexts.set(name, await browser.newContext({
			viewport: viewport || { width: 1280, height: 800 },
			// every request stays on the machine: fail anything else loudly
			serviceWorkers: 'block',
		}));
	return contexts.get(name);
}

function page(id) {
	const p = pages.get(id);
	if (!p)
		throw new Error(`no page ${id}`);
	return p;
}

async function run(cmd) {
	switch (cmd.op) {
	case 'page': {
		const ctx = await context(cmd.ctx || cmd.page, cmd.viewport);
		const p = await ctx.newPage();
		if (cmd.viewport)
			await p.setViewportSize(cmd.viewport);
		p.on('console', (m) => out({ ev: 'console', page: cmd.page, type: m.type(),
			text: m.text() }));
		p.on('pageerror', (e) => out({ ev: 'pageerror', page: cmd.page, text: String(e) }));
		p.on('requestfailed', (r) => out({ ev: 'requestfailed', page: cmd.page,
			text: r.url() + ' ' + (r.failure() && r.failure().errorText) }));
		pages.set(cmd.page, p);
		return true;
	}
	case 'goto': {
		const r = await page(cmd.page).goto(cmd.url, { waitUntil: 'load' });
		return { status: r ? r.status() : null, headers: r ? await r.allHeaders() : {} };
	}
	case 'eval':
		// eslint-disable-next-line no-new-func
		return await page(cmd.page).evaluate(`(${cmd.fn})(${JSON.stringify(cmd.arg ?? null)})`);
	case 'wait': {
		// polling evaluate, not waitForFunction: that one evals a string
		// inside the page, which the dashboard's CSP (no unsafe-eval) forbids
		const p = page(cmd.page);
		const expr = `(${cmd.fn})(${JSON.stringify(cmd.arg ?? null)})`;
		const deadline = Date.now() + (cmd.ms ?? 10000);
		let last;
		for (;;) {
			try {
				last = await p.evaluate(expr);
			} catch (e) {
				// a navigation in progress: try again
				last = { error: String(e && e.message || e) };
				if (!/context was destroyed|navigat/i.test(last.error))
					throw e;
				last = undefined;
			}
			if (last)
				return last;
			if (Date.now() > deadline)
				throw new Error(`timeout waiting for ${cmd.fn} (last value ${JSON.stringify(last)})`);
			await new Promise((r) => setTimeout(r, 50));
		}
	}
	case 'fill':
		await page(cmd.page).locator(cmd.selector).fill(cmd.value);
		return true;
	case 'type':
		await page(cmd.page).locator(cmd.selector).pressSequentially(cmd.text,
			{ delay: cmd.delay ?? 0 });
		return true;
	case 'click':
		await page(cmd.page).locator(cmd.selector).click();
		return true;
	case 'press':
		await page(cmd.page).locator(cmd.selector).press(cmd.key);
		return true;
	case 'screenshot':
		fs.mkdirSync(path.dirname(cmd.path), { recursive: true });
		await page(cmd.page).screenshot({ path: cmd.path, fullPage: !!cmd.fullPage });
		return cmd.path;
	case 'viewport':
		await page(cmd.page).setViewportSize({ width: cmd.width, height: cmd.height });
		return true;
	case 'route': {
		// answer requests matching cmd.url (a glob) with a canned response
		// (tests of what the page does with a given answer); "unroute"
		// removes it
		const p = page(cmd.page);
		await p.route(cmd.url, (route) => route.fulfill({
			status: cmd.status ?? 200,
			headers: cmd.headers || {},
			contentType: cmd.contentType || 'application/json',
			body: typeof cmd.body === 'string' ? cmd.body : JSON.stringify(cmd.body ?? null),
		}));
		return true;
	}
	case 'unroute':
		await page(cmd.page).unroute(cmd.url);
		return true;
	case 'offline': {
		const ctx = contexts.get(cmd.ctx);
		if (!ctx)
			throw new Error(`no context ${cmd.ctx}`);
		await ctx.setOffline(!!cmd.offline);
		return true;
	}
	case 'closepage':
		await page(cmd.page).close();
		pages.delete(cmd.page);
		return true;
	case 'exit':
		return 'bye';
	default:
		throw new Error(`unknown op ${cmd.op}`);
	}
}

async function shutdown(code) {
	try {
		await browser.close();
	} catch {
		// already gone
	}
	process.exit(code);
}

out({ ev: 'ready', version: browser.version() });
const rl = readline.createInterface({ input: process.stdin });
// commands run one at a time, in order (a test is a script)
let chain = Promise.resolve();
rl.on('line', (line) => {
	let cmd;
	try {
		cmd = JSON.parse(line);
	} catch (e) {
		out({ ev: 'bad-command', text: String(e) });
		return;
	}
	chain = chain.then(async () => {
		try {
			const value = await run(cmd);
			out({ id: cmd.id, ok: true, value: value === undefined ? null : value });
		} catch (e) {
			out({ id: cmd.id, ok: false, error: String(e && e.message || e) });
		}
		if (cmd.op === 'exit')
			await shutdown(0);
	});
});
rl.on('close', () => chain.then(() => shutdown(0)));
