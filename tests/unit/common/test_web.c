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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_origin_same_host),
		cmocka_unit_test(test_origin_same),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
