/* SPDX-License-Identifier: MIT */
/*
 * GET / and the dashboard's files from web_dir, and the application's own
 * pages from app_dir under /app/. A path is served only if it names a
 * regular file that really lies under its root: lws already decodes %xx
 * and folds "..", and this file refuses what is left that could step
 * outside or expose dot-files (any "." segment start, "\\", "%", control
 * bytes), then checks the resolved path against the root.
 *
 * HTML pages get a Content-Security-Policy: the dashboard hubd's own
 * (hub_http_csp), app pages the operator's app_csp (none when empty).
 */
#include "hc_log.h"
#include "hc_util.h"
#include "hub.h"
#include "routes.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const struct {
	const char *ext, *type;
} types[] = {
	{"html", "text/html; charset=utf-8"},
	{"htm", "text/html; charset=utf-8"},
	{"js", "text/javascript; charset=utf-8"},
	{"mjs", "text/javascript; charset=utf-8"},
	{"css", "text/css; charset=utf-8"},
	{"json", "application/json"},
	{"geojson", "application/geo+json"},
	{"map", "application/json"},
	{"webmanifest", "application/manifest+json"},
	{"txt", "text/plain; charset=utf-8"},
	{"svg", "image/svg+xml"},
	{"png", "image/png"},
	{"jpg", "image/jpeg"},
	{"jpeg", "image/jpeg"},
	{"gif", "image/gif"},
	{"webp", "image/webp"},
	{"ico", "image/x-icon"},
	{"woff", "font/woff"},
	{"woff2", "font/woff2"},
	{"ttf", "font/ttf"},
	{"wasm", "application/wasm"},
};

static const char *type_of(const char *path)
{
	const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');

	if (dot && (!slash || dot > slash))
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (!strcasecmp(dot + 1, types[i].ext))
				return types[i].type;
	return "application/octet-stream";
}

/* Whether a decoded request path may name a file under web_dir. */
static bool path_ok(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || c == '\\' || c == '%')
			return false;
		/* no segment may start with '.': "..", ".git", ".env" */
		if (c == '/' && s[1] == '.')
			return false;
	}
	return true;
}

static bool is_html(const char *type)
{
	return !strncmp(type, "text/html", 9);
}

/* Serve a built-in asset (stand-in page) through the normal writer. */
static int serve_builtin(struct hub *h, struct hub_conn *c, const struct hub_builtin *b)
{
	hub_http_reply(c, 200, b->type, b->body, b->len);
	if (is_html(b->type))
		hub_http_html_headers(h, c);
	hub_http_header(c, "cache-control:", "no-cache");
	return 0;
}

/* Which tree a file is served from. */
enum tree { T_WEB, T_APP };

/* The CSP and framing headers of an HTML page of tree t, through lws
 * (file responses) into extra. */
static int html_headers(
	struct hub *h, struct hub_conn *c, enum tree t, unsigned char **p, unsigned char *end)
{
	char csp[HUB_CSP_MAX];
	const char *app_csp = hc_cfg_str(&h->cfg, HC_CFG_APP_CSP);

	if (t == T_APP) {
		if (*app_csp &&
			lws_add_http_header_by_name(c->wsi,
				(const unsigned char *)"content-security-policy:",
				(const unsigned char *)app_csp, (int)strlen(app_csp), p, end))
			return -1;
		return lws_add_http_header_by_name(c->wsi,
			(const unsigned char *)"referrer-policy:",
			(const unsigned char *)"same-origin", 11, p, end);
	}
	hub_http_csp(h, c, csp, sizeof(csp));
	if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)"content-security-policy:",
		    (const unsigned char *)csp, (int)strlen(csp), p, end) ||
		lws_add_http_header_by_name(c->wsi, (const unsigned char *)"x-frame-options:",
			(const unsigned char *)"DENY", 4, p, end) ||
		lws_add_http_header_by_name(c->wsi, (const unsigned char *)"referrer-policy:",
			(const unsigned char *)"same-origin", 11, p, end))
		return -1;
	return 0;
}

/* The same for a response through hubd's own writer (HEAD). */
static void html_headers_reply(struct hub *h, struct hub_conn *c, enum tree t)
{
	const char *app_csp = hc_cfg_str(&h->cfg, HC_CFG_APP_CSP);

	if (t == T_WEB) {
		hub_http_html_headers(h, c);
		return;
	}
	if (*app_csp)
		hub_http_header(c, "content-security-policy:", app_csp);
	hub_http_header(c, "referrer-policy:", "same-origin");
}

/* rel (a decoded path starting with '/') under root. */
static int serve(struct hub *h, struct hub_conn *c, const char *root, const char *path, enum tree t)
{
	char rel[HUB_URI_MAX + 16], full[PATH_MAX + HUB_URI_MAX + 16], real[PATH_MAX];
	char extra[HUB_CSP_MAX + 1024]; /* the CSP and a few more */
	unsigned char *p = (unsigned char *)extra, *end = (unsigned char *)extra + sizeof(extra);
	const struct hub_builtin *b;
	const char *type;
	struct stat st;
	size_t rootlen = strlen(root);
	bool have_index = false;

	if (!path_ok(path)) {
		hub_http_error(c, 404, "not_found", "no such file");
		return 0;
	}
	snprintf(rel, sizeof(rel), "%s%s", path, path[strlen(path) - 1] == '/' ? "index.html" : "");
	if (t == T_WEB) {
		if (rootlen) {
			char index[PATH_MAX + 16];
			snprintf(index, sizeof(index), "%s/index.html", root);
			have_index = stat(index, &st) == 0 && S_ISREG(st.st_mode);
		}
		b = hub_builtin_find(rel, !have_index);
		if (b)
			return serve_builtin(h, c, b);
	}
	if (!rootlen || hc_fmt(full, sizeof(full), "%s%s", root, rel) || !realpath(full, real) ||
		strncmp(real, root, rootlen) || real[rootlen] != '/' || stat(real, &st) != 0 ||
		!S_ISREG(st.st_mode)) {
		hub_http_error(c, 404, "not_found", "no such file");
		return 0;
	}
	type = type_of(real);
	if (c->method == HUB_M_HEAD) {
		/* headers only, through the normal writer */
		hub_http_reply(c, 200, type, NULL, 0);
		c->announce_len = (int64_t)st.st_size;
		if (is_html(type))
			html_headers_reply(h, c, t);
		hub_http_header(c, "cache-control:", "no-cache");
		return 0;
	}
	/* lws writes these after its own headers */
	if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)"x-content-type-options:",
		    (const unsigned char *)"nosniff", 7, &p, end) ||
		lws_add_http_header_by_name(c->wsi, (const unsigned char *)"cache-control:",
			(const unsigned char *)"no-cache", 8, &p, end))
		return -1;
	if (is_html(type) && html_headers(h, c, t, &p, end))
		return -1;
	/* lws closes after the file when the client asked it to, or while
	 * stopping: say so (http.c, client_wants_close) */
	if ((c->close_after || h->stopping) &&
		lws_add_http_header_by_name(c->wsi, (const unsigned char *)"connection:",
			(const unsigned char *)"close", 5, &p, end))
		return -1;
	hub_metrics_http(&h->metrics, 200);
	if (lws_serve_http_file(c->wsi, real, type, extra, (int)(p - (unsigned char *)extra)))
		return -1;
	return 1;
}

int hub_route_static(struct hub *h, struct hub_conn *c)
{
	if (!strcmp(c->path, "/app")) {
		/* pages under /app/ use relative links: the directory form */
		hub_http_reply(c, 301, NULL, NULL, 0);
		hub_http_header(c, "location:", "/app/");
		return 0;
	}
	if (!strncmp(c->path, "/app/", 5)) {
		if (!h->app_root[0]) {
			hub_http_error(c, 404, "not_found", "no application pages here (app_dir)");
			return 0;
		}
		return serve(h, c, h->app_root, c->path + 4, T_APP);
	}
	return serve(h, c, h->web_root, c->path, T_WEB);
}
