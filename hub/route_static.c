/* SPDX-License-Identifier: MIT */
/*
 * GET / and the dashboard's files from web_dir. A path is served only if
 * it names a regular file that really lies under web_dir: lws already
 * decodes %xx and folds "..", and this file refuses what is left that
 * could step outside or expose dot-files (any "." segment start, "\\",
 * "%", control bytes), then checks the resolved path against the root.
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

int hub_route_static(struct hub *h, struct hub_conn *c)
{
	char rel[HUB_URI_MAX + 16], full[PATH_MAX + HUB_URI_MAX + 16], real[PATH_MAX];
	char extra[2048];
	unsigned char *p = (unsigned char *)extra, *end = (unsigned char *)extra + sizeof(extra);
	const struct hub_builtin *b;
	const char *type;
	struct stat st;
	size_t rootlen = strlen(h->web_root);
	bool have_index = false;

	if (!path_ok(c->path)) {
		hub_http_error(c, 404, "not_found", "no such file");
		return 0;
	}
	snprintf(rel, sizeof(rel), "%s%s", c->path,
		c->path[strlen(c->path) - 1] == '/' ? "index.html" : "");
	if (rootlen) {
		char index[PATH_MAX + 16];
		snprintf(index, sizeof(index), "%s/index.html", h->web_root);
		have_index = stat(index, &st) == 0 && S_ISREG(st.st_mode);
	}
	b = hub_builtin_find(rel, !have_index);
	if (b)
		return serve_builtin(h, c, b);
	if (!rootlen || hc_fmt(full, sizeof(full), "%s%s", h->web_root, rel) ||
		!realpath(full, real) || strncmp(real, h->web_root, rootlen) ||
		real[rootlen] != '/' || stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
		hub_http_error(c, 404, "not_found", "no such file");
		return 0;
	}
	type = type_of(real);
	if (c->method == HUB_M_HEAD) {
		/* headers only, through the normal writer */
		hub_http_reply(c, 200, type, NULL, 0);
		c->announce_len = (int64_t)st.st_size;
		if (is_html(type))
			hub_http_html_headers(h, c);
		hub_http_header(c, "cache-control:", "no-cache");
		return 0;
	}
	/* lws writes these after its own headers */
	if (lws_add_http_header_by_name(c->wsi, (const unsigned char *)"x-content-type-options:",
		    (const unsigned char *)"nosniff", 7, &p, end) ||
		lws_add_http_header_by_name(c->wsi, (const unsigned char *)"cache-control:",
			(const unsigned char *)"no-cache", 8, &p, end))
		return -1;
	if (is_html(type)) {
		char csp[HUB_CSP_MAX];
		hub_http_csp(h, c, csp, sizeof(csp));
		if (lws_add_http_header_by_name(c->wsi,
			    (const unsigned char *)"content-security-policy:",
			    (const unsigned char *)csp, (int)strlen(csp), &p, end) ||
			lws_add_http_header_by_name(c->wsi,
				(const unsigned char *)"x-frame-options:",
				(const unsigned char *)"DENY", 4, &p, end) ||
			lws_add_http_header_by_name(c->wsi,
				(const unsigned char *)"referrer-policy:",
				(const unsigned char *)"same-origin", 11, &p, end))
			return -1;
	}
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
