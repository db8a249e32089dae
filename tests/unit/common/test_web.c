/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/web.c: the session cookie lookup and the origin
 * rules hubd (same-origin check of cookie POSTs) and hub-bridge (CORS and
 * cross-site sockets) share.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_web.h"
#include "testutil.h"

#include <string.h>

static void test_origin_same_host(void **state)
{
	static const struct {
		const char *origin, *host;
		bool same;
	} rows[] = {
		/* hubd's page on :8080, the gateway on :3000 of the same host */
		{"http://127.0.0.1:8080", "127.0.0.1:3000", true},
		{"http://localhost:8080", "localhost:3000", true},
		{"https://Hub.Example.com", "hub.example.com:3000", true},
		{"http://hub.example.com:8080", "hub.example.com", true},
		{"http://[::1]:8080", "[::1]:3000", true},
		{"http://127.0.0.1:3000", "127.0.0.1:3000", true},
		/* other hosts */
		{"http://localhost:8080", "127.0.0.1:3000", false},
		{"http://evil.example", "hub.example.com:3000", false},
		{"http://hub.example.com.evil.example", "hub.example.com:3000", false},
		{"http://hub.example.co", "hub.example.com", false},
		{"http://example.com", "hub.example.com", false},
		{"http://[::1]:8080", "[::2]:3000", false},
		/* malformed or missing */
		{"null", "127.0.0.1:3000", false},
		{"file://x", "x", false},
		{"http://", "127.0.0.1:3000", false},
		{"http://127.0.0.1:8080/path", "127.0.0.1:3000", false},
		/* a port without a host (fuzz_cookie regression) */
		{"http://:80", ":80", false},
		{"http://:3000", ":3000", false},
		{"http://b:80:80", "b:80", false},
		{"http://b:", "b", false},
		{"http://[]:80", "[]:80", false},
		{"http://[::1]x", "[::1]", false},
		{"http://b:123456", "b", false},
		{"http://127.0.0.1:8080", "", false},
		{NULL, "127.0.0.1:3000", false},
		{"http://127.0.0.1:8080", NULL, false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (hc_origin_same_host(rows[i].origin, rows[i].host) != rows[i].same)
			fail_msg("row %zu: origin %s host %s: want %s", i,
				rows[i].origin ? rows[i].origin : "(null)",
				rows[i].host ? rows[i].host : "(null)",
				rows[i].same ? "same host" : "not");
}

static void test_origin_same(void **state)
{
	(void)state;
	/* exact origin: scheme, host and port */
	assert_true(hc_origin_same("http://127.0.0.1:8080", "127.0.0.1:8080", NULL));
	assert_true(hc_origin_same("http://hub.example.com", "hub.example.com:80", "http"));
	assert_true(hc_origin_same("https://hub.example.com", "hub.example.com", NULL));
	assert_false(hc_origin_same("https://hub.example.com", "hub.example.com", "http"));
	assert_false(hc_origin_same("http://127.0.0.1:8080", "127.0.0.1:3000", NULL));
	assert_false(hc_origin_same("http://evil.example", "127.0.0.1:8080", NULL));
	assert_false(hc_origin_same("http://:80", ":80", NULL));
	assert_false(hc_origin_same("http://:8080", ":8080", NULL));
}

/* map_tiles: what is a tile template, and the CSP source of its origin */
static void test_tile_source(void **state)
{
	static const struct {
		const char *tmpl;
		const char *source; /* NULL: refused */
	} rows[] = {
		{"https://tiles.example.com/{z}/{x}/{y}.png", "https://tiles.example.com"},
		{"http://127.0.0.1:8099/tiles/{z}/{x}/{y}.png", "http://127.0.0.1:8099"},
		{"HTTPS://Tiles.Example.COM:8443/osm/{z}/{x}/{y}{r}.png?key=abc&v=2",
			"https://tiles.example.com:8443"},
		{"https://{s}.tile.example.org/{z}/{x}/{y}.png", "https://*.tile.example.org"},
		{"http://[::1]:8099/{z}/{x}/{y}.png", "http://[::1]:8099"},
		{"https://t.example/%7Bz%7D/{z}/{x}/{y}", "https://t.example"},
		/* refused */
		{"", NULL},
		{"tiles.example.com/{z}/{x}/{y}.png", NULL},
		{"ftp://tiles.example.com/{z}/{x}/{y}.png", NULL},
		{"javascript:alert(1)//{z}/{x}/{y}", NULL},
		{"data:image/png;base64,{z}{x}{y}", NULL},
		{"https://tiles.example.com/{z}/{x}.png", NULL},       /* no {y} */
		{"https://tiles.example.com", NULL},		       /* no path */
		{"https:///{z}/{x}/{y}.png", NULL},		       /* no host */
		{"https://user@tiles.example.com/{z}/{x}/{y}", NULL},  /* userinfo */
		{"https://tiles.example.com:99999/{z}/{x}/{y}", NULL}, /* port */
		{"https://tiles.example.com/{z}/{x}/{y}.png; script-src *", NULL},
		{"https://tiles.example.com/{z}/{x}/{y}.png 'unsafe-inline'", NULL},
		{"https://*.example.com/{z}/{x}/{y}.png", NULL},
		{"https://tiles.example.com,https://evil.example/{z}/{x}/{y}", NULL},
		{"https://tiles-{s}.example.com/{z}/{x}/{y}.png", NULL}, /* {s} mid-label */
		{"https://{s}.[::1]/{z}/{x}/{y}.png", NULL},
		{"https://tiles.example.com/{z}/{x}/{y}/{apikey}", NULL}, /* unknown holder */
		{"https://tiles.example.com/{z}/{x}/{y}#frag", NULL},
		{"https://tiles.example.com/{z}/{x}/{y}\"", NULL},
		{"https://tiles.example.com/{z}/{x}/{y}<b>", NULL},
		{"https://tiles.example.com/{z}/{x}/{y}\\", NULL},
		{"https://tiles.example.com/{z}/{x}/{y}\x7f", NULL},
		{"https://tiles.example.com/{z}/{x}/{y}\xc3\xa9", NULL},
	};
	char out[512];

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool ok = hc_tile_source(rows[i].tmpl, out, sizeof(out));
		if (ok != (rows[i].source != NULL))
			fail_msg("row %zu: %s: want %s", i, rows[i].tmpl,
				rows[i].source ? "accepted" : "refused");
		if (rows[i].source && strcmp(out, rows[i].source))
			fail_msg("row %zu: %s: source %s, want %s", i, rows[i].tmpl, out,
				rows[i].source);
		if (!rows[i].source && out[0])
			fail_msg("row %zu: refused but out is '%s'", i, out);
	}
	/* out too small for the template: refused, nothing written past it */
	assert_false(hc_tile_source("https://tiles.example.com/{z}/{x}/{y}.png", out, 10));
	assert_false(hc_tile_source(NULL, out, sizeof(out)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin_same_host),
		cmocka_unit_test(test_origin_same),
		cmocka_unit_test(test_tile_source),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
