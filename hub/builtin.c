/* SPDX-License-Identifier: MIT */
/*
 * Built-in pages: while web_dir has no index.html (the dashboard is not
 * built), "/" shows a small working sign-in page instead, so a fresh
 * checkout still has a way in. Script and style are separate files because
 * the Content-Security-Policy forbids inline code.
 */
#include "routes.h"

#include <string.h>

static const char page_html[] =
	"<!doctype html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>hub: sign in</title>\n"
	"<link rel=\"stylesheet\" href=\"/_hubd/login.css\">\n"
	"</head>\n"
	"<body>\n"
	"<main>\n"
	"<h1>hub</h1>\n"
	"<p class=\"note\">The dashboard is not built yet: <code>web_dir</code> has no\n"
	"<code>index.html</code>. You can still sign in here to get a session and an\n"
	"MQTT token for the broker.</p>\n"
	"<form id=\"login\" method=\"post\" action=\"/api/login\">\n"
	"<label>Username <input name=\"username\" autocomplete=\"username\" required "
	"maxlength=\"64\">\n"
	"</label>\n"
	"<label>Password <input name=\"password\" type=\"password\" "
	"autocomplete=\"current-password\"\n"
	" required></label>\n"
	"<button type=\"submit\">Sign in</button>\n"
	"</form>\n"
	"<section id=\"session\" hidden>\n"
	"<p>Signed in as <strong id=\"who\"></strong> (<span id=\"user\"></span>, <span "
	"id=\"role\"></span>).</p>\n"
	"<p>Rooms: <span id=\"rooms\"></span></p>\n"
	"<p>MQTT token, valid until <span id=\"exp\">-</span>. Connect with the username\n"
	"above and this token as the password.</p>\n"
	"<textarea id=\"token\" readonly rows=\"5\" aria-label=\"MQTT token\"></textarea>\n"
	"<p><button id=\"refresh\" type=\"button\">New token</button>\n"
	"<button id=\"logout\" type=\"button\">Sign out</button></p>\n"
	"</section>\n"
	"<p id=\"msg\" role=\"status\"></p>\n"
	"</main>\n"
	"<script src=\"/_hubd/login.js\"></script>\n"
	"</body>\n"
	"</html>\n";

static const char page_js[] =
	"'use strict';\n"
	"/* Stand-in login page: talks to hubd's JSON API (same origin). */\n"
	"(function () {\n"
	"\tconst $ = (id) => document.getElementById(id);\n"
	"\tconst say = (text) => { $('msg').textContent = text; };\n"
	"\n"
	"\tasync function api(method, path, body) {\n"
	"\t\tconst opts = { method: method, credentials: 'same-origin', headers: {} };\n"
	"\t\tif (body !== undefined) {\n"
	"\t\t\topts.headers['Content-Type'] = 'application/json';\n"
	"\t\t\topts.body = JSON.stringify(body);\n"
	"\t\t}\n"
	"\t\tconst r = await fetch(path, opts);\n"
	"\t\tlet data = null;\n"
	"\t\tif (r.status !== 204) {\n"
	"\t\t\ttry { data = await r.json(); } catch (e) { data = null; }\n"
	"\t\t}\n"
	"\t\treturn { status: r.status, data: data, retry: r.headers.get('Retry-After') };\n"
	"\t}\n"
	"\n"
	"\tfunction explain(r) {\n"
	"\t\tlet text = (r.data && r.data.message) || ('Request failed (HTTP ' + r.status + ')');\n"
	"\t\tif (r.retry)\n"
	"\t\t\ttext += ' (try again in ' + r.retry + ' s)';\n"
	"\t\treturn text;\n"
	"\t}\n"
	"\n"
	"\tfunction showToken(t) {\n"
	"\t\t$('token').value = t.token;\n"
	"\t\t$('exp').textContent = new Date(t.expires_at * 1000).toLocaleString();\n"
	"\t}\n"
	"\n"
	"\tasync function showSession() {\n"
	"\t\tconst r = await api('GET', '/api/session');\n"
	"\t\tconst signedIn = r.status === 200;\n"
	"\t\t$('login').hidden = signedIn;\n"
	"\t\t$('session').hidden = !signedIn;\n"
	"\t\tif (!signedIn)\n"
	"\t\t\treturn false;\n"
	"\t\tconst u = r.data.user;\n"
	"\t\t$('who').textContent = u.display_name || u.username;\n"
	"\t\t$('user').textContent = u.username;\n"
	"\t\t$('role').textContent = u.role;\n"
	"\t\tconst rooms = r.data.rooms.map((m) => m.room + ' (' + m.level + ')');\n"
	"\t\t$('rooms').textContent = rooms.length ? rooms.join(', ') : 'none yet';\n"
	"\t\treturn true;\n"
	"\t}\n"
	"\n"
	"\tasync function newToken() {\n"
	"\t\tconst r = await api('POST', '/api/token');\n"
	"\t\tif (r.status === 200)\n"
	"\t\t\tshowToken(r.data);\n"
	"\t\telse\n"
	"\t\t\tsay(explain(r));\n"
	"\t}\n"
	"\n"
	"\t$('login').addEventListener('submit', async (ev) => {\n"
	"\t\tev.preventDefault();\n"
	"\t\tconst f = ev.target;\n"
	"\t\tsay('Signing in\\u2026');\n"
	"\t\tconst r = await api('POST', '/api/login',\n"
	"\t\t\t{ username: f.elements.username.value, password: f.elements.password.value });\n"
	"\t\tf.elements.password.value = '';\n"
	"\t\tif (r.status !== 200) {\n"
	"\t\t\tsay(explain(r));\n"
	"\t\t\treturn;\n"
	"\t\t}\n"
	"\t\tsay('');\n"
	"\t\tshowToken(r.data);\n"
	"\t\tawait showSession();\n"
	"\t});\n"
	"\t$('refresh').addEventListener('click', newToken);\n"
	"\t$('logout').addEventListener('click', async () => {\n"
	"\t\tconst r = await api('POST', '/api/logout');\n"
	"\t\t$('token').value = '';\n"
	"\t\t$('exp').textContent = '-';\n"
	"\t\tsay(r.status === 204 ? 'Signed out.' : explain(r));\n"
	"\t\tawait showSession();\n"
	"\t});\n"
	"\tshowSession().then((signedIn) => { if (signedIn) return newToken(); })\n"
	"\t\t.catch(() => say('hubd is not reachable.'));\n"
	"})();\n";

static const char page_css[] =
	"body { font: 16px/1.5 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; margin: 0; "
	"background: #f4f5f7; color: #1d2430; }\n"
	"main { max-width: 34rem; margin: 3rem auto; padding: 2rem; background: #fff;\n"
	"\tborder-radius: 8px; box-shadow: 0 1px 4px rgba(0, 0, 0, .12); }\n"
	"h1 { margin-top: 0; }\n"
	".note { color: #555; }\n"
	"label { display: block; margin: .8rem 0; }\n"
	"input, textarea { display: block; width: 100%; box-sizing: border-box; padding: .5rem;\n"
	"\tfont: inherit; border: 1px solid #b8bec9; border-radius: 4px; }\n"
	"textarea { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; "
	"}\n"
	"button { padding: .5rem 1.2rem; font: inherit; border: 0; border-radius: 4px;\n"
	"\tbackground: #2456c7; color: #fff; cursor: pointer; }\n"
	"button:hover { background: #1b45a3; }\n"
	"#msg { min-height: 1.5em; color: #a3261b; }\n"
	"[hidden] { display: none !important; }\n";

static const struct hub_builtin assets[] = {
	{"/index.html", "text/html; charset=utf-8", page_html, sizeof(page_html) - 1},
	{"/_hubd/login.js", "text/javascript; charset=utf-8", page_js, sizeof(page_js) - 1},
	{"/_hubd/login.css", "text/css; charset=utf-8", page_css, sizeof(page_css) - 1},
};

const struct hub_builtin *hub_builtin_find(const char *path, bool with_index)
{
	/* "/" arrives here as "/index.html" */
	if (!with_index && !strcmp(path, "/index.html"))
		return NULL;
	for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++)
		if (!strcmp(assets[i].path, path))
			return &assets[i];
	return NULL;
}
