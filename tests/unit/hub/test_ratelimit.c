/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of hub/ratelimit.c's login lanes and 503 charging (the parts
 * that keep logins working through a flood): lanes from what is known of
 * an attempt, impatience (asking again before Retry-After), and refunds
 * that keep a 503's charge on the address only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_config.h"
#include "hc_err.h"
#include "ratelimit.h"

#include <string.h>

static struct hub_ratelimit *rl_new(struct hc_config *cfg)
{
	struct hub_ratelimit *rl = NULL;
	assert_int_equal(hc_config_defaults(cfg), HUB_OK);
	assert_int_equal(hub_ratelimit_new(cfg, &rl), HUB_OK);
	return rl;
}

static void test_lanes(void **state)
{
	struct hc_config cfg;
	struct hub_ratelimit *rl = rl_new(&cfg);
	struct hub_rl_ticket t;
	int64_t now = 1000000;
	(void)state;

	/* nobody known: the new lane */
	assert_int_equal(hub_ratelimit_lane(rl, "alice", "10.0.0.1", now), HUB_LANE_NEW);
	assert_int_equal(hub_ratelimit_lane(rl, NULL, "10.0.0.1", now), HUB_LANE_NEW);
	/* a success makes the pair known: the first lane, from that address
	 * only, for that user only */
	hub_ratelimit_charge(rl, "alice", "10.0.0.1", now, &t);
	hub_ratelimit_success(rl, "alice", "10.0.0.1", now, &t);
	assert_int_equal(hub_ratelimit_lane(rl, "alice", "10.0.0.1", now), HUB_LANE_KNOWN);
	assert_int_equal(hub_ratelimit_lane(rl, "alice", "10.0.0.2", now), HUB_LANE_NEW);
	assert_int_equal(hub_ratelimit_lane(rl, "bob", "10.0.0.1", now), HUB_LANE_NEW);
	/* a failure of the pair since: no longer first */
	hub_ratelimit_charge(rl, "alice", "10.0.0.1", now, &t);
	assert_int_equal(hub_ratelimit_lane(rl, "alice", "10.0.0.1", now), HUB_LANE_NEW);
	/* an address with HUB_RL_SUSPECT_FAILS failures: the suspect lane */
	for (int i = 0; i < HUB_RL_SUSPECT_FAILS; i++) {
		assert_int_equal(hub_ratelimit_lane(rl, "x", "10.0.0.9", now), HUB_LANE_NEW);
		hub_ratelimit_charge(rl, NULL, "10.0.0.9", now, &t);
	}
	assert_int_equal(hub_ratelimit_lane(rl, "x", "10.0.0.9", now), HUB_LANE_SUSPECT);
	/* failures age out with the window */
	now += (int64_t)hc_cfg_int(&cfg, HC_CFG_LOGIN_FAIL_WINDOW) * 1000 + 1000;
	assert_int_equal(hub_ratelimit_lane(rl, "x", "10.0.0.9", now), HUB_LANE_NEW);
	hub_ratelimit_free(rl);
	hc_config_free(&cfg);
}

static void test_impatience(void **state)
{
	struct hc_config cfg;
	struct hub_ratelimit *rl = rl_new(&cfg);
	int64_t now = 5000;
	(void)state;

	assert_false(hub_ratelimit_impatient(rl, "10.0.0.1", now));
	hub_ratelimit_told_to_wait(rl, "10.0.0.1", now, 3);
	assert_true(hub_ratelimit_impatient(rl, "10.0.0.1", now + 2999));
	assert_int_equal(hub_ratelimit_lane(rl, "alice", "10.0.0.1", now + 10), HUB_LANE_SUSPECT);
	assert_false(hub_ratelimit_impatient(rl, "10.0.0.1", now + 3000));
	assert_int_equal(hub_ratelimit_lane(rl, "alice", "10.0.0.1", now + 3000), HUB_LANE_NEW);
	/* another address is not concerned; IPv6 counts by /64 */
	assert_false(hub_ratelimit_impatient(rl, "10.0.0.2", now + 10));
	hub_ratelimit_told_to_wait(rl, "2001:db8::1", now, 5);
	assert_true(hub_ratelimit_impatient(rl, "2001:db8::2", now + 10));
	assert_false(hub_ratelimit_impatient(rl, "2001:db8:0:1::1", now + 10));
	hub_ratelimit_free(rl);
	hc_config_free(&cfg);
}

static void test_refund_keep_addr(void **state)
{
	struct hc_config cfg;
	struct hub_ratelimit *rl = rl_new(&cfg);
	struct hub_rl_ticket t;
	int64_t now = 1000000;
	int retry = 0;
	int addr_max = (int)hc_cfg_int(&cfg, HC_CFG_LOGIN_FAIL_ADDR_MAX);
	(void)state;

	/* 503s charged to the address: the address ends up blocked (429), the
	 * user and the pair are not charged */
	for (int i = 0; i < addr_max; i++) {
		assert_true(hub_ratelimit_allow(rl, "alice", "10.0.0.7", now, &retry));
		hub_ratelimit_charge(rl, "alice", "10.0.0.7", now, &t);
		hub_ratelimit_refund_keep_addr(rl, "alice", "10.0.0.7", &t);
		assert_true(t.addr && !t.pair && !t.user);
	}
	assert_false(hub_ratelimit_allow(rl, "alice", "10.0.0.7", now, &retry));
	assert_true(retry >= 1);
	assert_true(hub_ratelimit_allow(rl, "alice", "10.0.0.8", now, &retry));
	/* a plain refund leaves nothing */
	for (int i = 0; i < addr_max * 2; i++) {
		hub_ratelimit_charge(rl, "bob", "10.0.0.9", now, &t);
		hub_ratelimit_refund(rl, "bob", "10.0.0.9", &t);
	}
	assert_true(hub_ratelimit_allow(rl, "bob", "10.0.0.9", now, &retry));
	hub_ratelimit_free(rl);
	hc_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lanes),
		cmocka_unit_test(test_impatience),
		cmocka_unit_test(test_refund_keep_addr),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
