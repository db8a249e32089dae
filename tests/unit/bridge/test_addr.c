/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of bridge/addr.c's pure part: canonical client addresses and
 * the keys the unauthenticated-session quotas count under (one per IPv4
 * address, one per IPv6 /64, IPv4-mapped IPv6 counted as IPv4).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hbr.h"

#include <string.h>

static void test_canon(void **state)
{
	static const struct {
		const char *in, *out;
	} rows[] = {
		{"127.0.0.1", "127.0.0.1"},
		{" 10.0.0.7\t", "10.0.0.7"},
		{"::ffff:127.0.0.2", "127.0.0.2"},
		{"::FFFF:7f00:3", "127.0.0.3"},
		{"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
		{"::1", "::1"},
		{"", NULL},
		{"   ", NULL},
		{"127.0.0.256", NULL},
		{"localhost", NULL},
		{"1.2.3.4, 5.6.7.8", NULL},
		{"2001:db8::1%eth0", NULL},
		{"0123456789012345678901234567890123456789012345678901234567890123456789", NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[64] = "";
		bool ok = hbr_addr__canon(rows[i].in, strlen(rows[i].in), out, sizeof(out));
		if (rows[i].out) {
			assert_true(ok);
			assert_string_equal(out, rows[i].out);
		} else {
			assert_false(ok);
		}
	}
}

static void test_key(void **state)
{
	static const struct {
		const char *in, *key;
	} rows[] = {
		{"127.0.0.1", "127.0.0.1"},
		{"127.0.0.2", "127.0.0.2"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"::1", "::/64"},
		{"unknown", "unknown"},
	};
	char small[8];
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[64];
		hbr_addr__key(rows[i].in, out, sizeof(out));
		assert_string_equal(out, rows[i].key);
	}
	/* a buffer too small for the /64 suffix still yields a terminated key */
	hbr_addr__key("2001:db8:1:2:3:4:5:6", small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon),
		cmocka_unit_test(test_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
