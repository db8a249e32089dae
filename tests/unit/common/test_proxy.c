/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/proxy.c: trusted_proxies lists (addresses, CIDRs,
 * IPv4-mapped IPv6) and the client address of a request behind proxies,
 * taken from X-Forwarded-For only when the peer is trusted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_config.h"
#include "hc_err.h"
#include "hc_proxy.h"
#include "testutil.h"

#include <string.h>

static void test_parse(void **state)
{
	static const struct {
		const char *list;
		int rc;
		size_t n;
	} rows[] = {
		{"", HUB_OK, 0},
		{" , ,", HUB_OK, 0},
		{"127.0.0.1", HUB_OK, 1},
		{"127.0.0.1,::1", HUB_OK, 2},
		{" 10.0.0.0/8 , 192.168.0.0/16,fd00::/8 ", HUB_OK, 3},
		{"0.0.0.0/0", HUB_OK, 1},
		{"::/0", HUB_OK, 1},
		{"::ffff:10.0.0.0/104", HUB_OK, 1},
		{"10.0.0.0/33", HUB_ERR_CONFIG, 0},
		{"fd00::/129", HUB_ERR_CONFIG, 0},
		{"10.0.0.0/", HUB_ERR_CONFIG, 0},
		{"10.0.0.0/-1", HUB_ERR_CONFIG, 0},
		{"10.0.0.0/+8", HUB_ERR_CONFIG, 0},
		{"10.0.0.0/8x", HUB_ERR_CONFIG, 0},
		{"::ffff:10.0.0.0/8", HUB_ERR_CONFIG, 0},
		{"localhost", HUB_ERR_CONFIG, 0},
		{"10.0.0", HUB_ERR_CONFIG, 0},
		{"127.0.0.1,nonsense", HUB_ERR_CONFIG, 0},
		{"1.2.3.4 5.6.7.8", HUB_ERR_CONFIG, 0},
	};
	struct hc_proxies p;
	char err[256];
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = hc_proxies_parse(rows[i].list, &p, err, sizeof(err));
		TU_EXPECT(rc == rows[i].rc, "row %zu '%s': rc %d want %d", i, rows[i].list, rc,
			rows[i].rc);
		if (rc == HUB_OK)
			TU_EXPECT(p.n == rows[i].n, "row %zu: %zu entries, want %zu", i, p.n,
				rows[i].n);
		else
			TU_EXPECT(strstr(err, "trusted_proxies") != NULL, "row %zu: err '%s'", i,
				err);
	}
	TU_DONE();
}

static void test_too_many(void **state)
{
	char list[HC_PROXIES_MAX * 16 + 32] = "";
	size_t o = 0;
	struct hc_proxies p;
	char err[256];
	(void)state;
	for (int i = 0; i <= HC_PROXIES_MAX; i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "10.0.%d.%d,", i / 256, i % 256);
	assert_int_equal(hc_proxies_parse(list, &p, err, sizeof(err)), HUB_ERR_CONFIG);
	assert_non_null(strstr(err, "more than"));
}

static void test_has(void **state)
{
	static const struct {
		const char *addr;
		bool in;
	} rows[] = {
		{"127.0.0.1", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"127.0.0.2", false},
		{"10.1.2.3", true},
		{"10.255.255.255", true},
		{"11.0.0.0", false},
		{"192.168.7.1", true},
		{"192.168.8.1", false},
		{"fd12:3456::1", true},
		{"fe80::1", false},
		{"2001:db8::1", false},
		{"2001:db8:0:1::5", true},
		{"2001:db8:0:2::5", false},
		{"nonsense", false},
		{"", false},
	};
	struct hc_proxies p;
	char err[256];
	int tu_failures = 0;
	(void)state;
	/* host bits of a network are ignored (10.1.2.3/8 is 10/8) */
	assert_int_equal(hc_proxies_parse("127.0.0.1, ::1, 10.1.2.3/8, 192.168.7.0/24, "
					  "fd00::/8, 2001:db8:0:1::/64",
				 &p, err, sizeof(err)),
		HUB_OK);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		TU_EXPECT(hc_proxies_has(&p, rows[i].addr, strlen(rows[i].addr)) == rows[i].in,
			"row %zu: %s", i, rows[i].addr);
	TU_DONE();
}

static void test_client(void **state)
{
	static const struct {
		const char *peer, *xff, *want;
		bool from_header;
	} rows[] = {
		/* an untrusted peer is the client, whatever it claims */
		{"203.0.113.9", "198.51.100.1", "203.0.113.9", false},
		{"127.0.0.2", "198.51.100.1", "127.0.0.2", false},
		{"2001:db8::9", "198.51.100.1", "2001:db8::9", false},
		/* a trusted peer without the header */
		{"127.0.0.1", NULL, "127.0.0.1", false},
		{"127.0.0.1", "", "127.0.0.1", false},
		/* the proxy's entry: the last one */
		{"127.0.0.1", "198.51.100.1", "198.51.100.1", true},
		{"::1", "2001:db8::7", "2001:db8::7", true},
		{"127.0.0.1", " 198.51.100.1 ", "198.51.100.1", true},
		{"127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1", true},
		/* what the client wrote before is not believed */
		{"127.0.0.1", "10.9.9.9, 198.51.100.1", "198.51.100.1", true},
		{"127.0.0.1", "1.1.1.1,2.2.2.2,198.51.100.1", "198.51.100.1", true},
		/* a chain of our own proxies is walked through */
		{"127.0.0.1", "198.51.100.1, 10.0.0.5", "198.51.100.1", true},
		{"127.0.0.1", "6.6.6.6, 198.51.100.1, 10.0.0.5, 10.0.0.6", "198.51.100.1", true},
		/* all trusted: the leftmost */
		{"127.0.0.1", "10.0.0.7, 10.0.0.5", "10.0.0.7", true},
		/* garbage: the walk stops at the last address that parsed */
		{"127.0.0.1", "unknown", "127.0.0.1", false},
		{"127.0.0.1", "198.51.100.1, junk", "127.0.0.1", false},
		{"127.0.0.1", "junk, 10.0.0.5", "10.0.0.5", true},
		{"127.0.0.1", "1.2.3.4,,10.0.0.5", "10.0.0.5", true},
		{"127.0.0.1", "198.51.100.1:5555", "127.0.0.1", false},
	};
	struct hc_proxies p;
	char err[256], out[64];
	int tu_failures = 0;
	(void)state;
	assert_int_equal(hc_proxies_parse("127.0.0.1,::1,10.0.0.0/8", &p, err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = hc_proxies_client(&p, rows[i].peer, rows[i].xff, out, sizeof(out));
		TU_EXPECT(got == rows[i].from_header && !strcmp(out, rows[i].want),
			"row %zu: peer %s xff '%s': got %s (%d), want %s (%d)", i, rows[i].peer,
			rows[i].xff ? rows[i].xff : "(null)", out, got, rows[i].want,
			rows[i].from_header);
	}
	TU_DONE();
}

/* The walk looks at HC_XFF_ENTRIES_MAX entries at most. */
static void test_long_chain(void **state)
{
	char xff[4096] = "198.51.100.1";
	size_t o = strlen(xff);
	struct hc_proxies p;
	char err[256], out[64];
	(void)state;
	assert_int_equal(hc_proxies_parse("10.0.0.0/8", &p, err, sizeof(err)), 0);
	for (int i = 0; i < HC_XFF_ENTRIES_MAX + 5; i++)
		o += (size_t)snprintf(xff + o, sizeof(xff) - o, ",10.0.0.%d", i % 250);
	assert_true(hc_proxies_client(&p, "10.0.0.1", xff, out, sizeof(out)));
	assert_true(strncmp(out, "10.0.0.", 7) == 0);
}

/* the setting is checked when the config is loaded */
static void test_config(void **state)
{
	struct hc_config cfg;
	char err[256];
	(void)state;
	assert_int_equal(hc_config_defaults(&cfg), 0);
	assert_string_equal(hc_cfg_str(&cfg, HC_CFG_TRUSTED_PROXIES), "127.0.0.1,::1");
	assert_int_equal(hc_config_set(&cfg, "trusted_proxies", "10.0.0.0/8, fd00::/8", "test", err,
				 sizeof(err)),
		HUB_OK);
	assert_int_equal(
		hc_config_set(&cfg, "trusted_proxies", "10.0.0.0/40", "test", err, sizeof(err)),
		HUB_ERR_CONFIG);
	assert_non_null(strstr(err, "10.0.0.0/40"));
	hc_config_free(&cfg);
}

/* canonical client addresses and the keys per-address limits count under
 * (one per IPv4 address, one per IPv6 /64, IPv4-mapped IPv6 as IPv4) */
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
		bool ok = hc_addr_canon(rows[i].in, strlen(rows[i].in), out, sizeof(out));
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
		hc_addr_key(rows[i].in, out, sizeof(out));
		assert_string_equal(out, rows[i].key);
	}
	/* a buffer too small for the /64 suffix still yields a terminated key */
	hc_addr_key("2001:db8:1:2:3:4:5:6", small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_too_many),
		cmocka_unit_test(test_has),
		cmocka_unit_test(test_client),
		cmocka_unit_test(test_long_chain),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_canon),
		cmocka_unit_test(test_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
