/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so limits (authplugin/limits.c) through the fake broker:
 * connections per identity and per client address (refused with an audit
 * reason, freed when a connection ends, a takeover of one's own id allowed
 * at the cap, exempt addresses and the hub's services not counted,
 * "::ffff:" WebSocket addresses counted as IPv4), and subscriptions per
 * connection (a subscription again is not a new one, an unsubscribe frees
 * a slot, what a stored session brought along counts). The backlog of a
 * non-reading client needs a real socket: test_broker_limits.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_broker.h"
#include "hauth.h"
#include "hc_err.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <string.h>

#define SID  "AAAAAAAAAAAAAAAAAAAAAa"
#define SID2 "AAAAAAAAAAAAAAAAAAAAAb"

static struct hauth *h;

static int setup(void **state)
{
	(void)state;
	h = fb_plugin_start("broker_conns_per_identity = 3\n"
			    "broker_conns_per_address = 4\n"
			    "broker_conns_exempt = 10.0.0.9,::1\n"
			    "broker_subs_max = 5\n"
			    "broker_stored_per_identity = 2");
	fx_user(h, "alice");
	fx_user(h, "bob");
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	fx_level(h, "lobby", "bob", HC_LEVEL_WRITE);
	fx_session(h, SID, "alice", hc_now() + 3600, 0, NULL);
	fx_session(h, SID2, "bob", hc_now() + 3600, 0, NULL);
	fb_tick();
	fb_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fb_plugin_stop();
	h = NULL;
	return 0;
}

static struct mosquitto *conn(const char *id, const char *user, const char *addr, int want)
{
	struct mosquitto *c = fb_client(id, user, 5);
	int64_t now = hc_now();
	snprintf(c->address, sizeof(c->address), "%s", addr);
	assert_int_equal(fb_connect(c, fx_token(h, "mqtt", user, strcmp(user, "alice") ? SID2 : SID,
					       now, now + 60)),
		want);
	return c;
}

static void assert_reason(const char *reason)
{
	char want[96];
	snprintf(want, sizeof(want), "| connect | denied reason=%s ", reason);
	if (!strstr(fb_last_log, want))
		fail_msg("want \"%s\" in the audit line, got: %s", want, fb_last_log);
}

static void test_per_identity(void **state)
{
	(void)state;
	struct mosquitto *a[3];
	for (int i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "a%d", i);
		a[i] = conn(id, "alice", "10.0.0.9", MOSQ_ERR_SUCCESS);
	}
	conn("a3", "alice", "10.0.0.9", MOSQ_ERR_AUTH);
	assert_reason("too-many-connections");
	/* another identity is not affected */
	conn("b0", "bob", "10.0.0.9", MOSQ_ERR_SUCCESS);
	/* the same id again takes its own connection over: allowed */
	conn("a1", "alice", "10.0.0.9", MOSQ_ERR_SUCCESS);
	fb_takeover(a[1]);
	conn("a4", "alice", "10.0.0.9", MOSQ_ERR_AUTH);
	/* an ended connection frees its place at once */
	fb_disconnect(a[0], false);
	conn("a5", "alice", "10.0.0.9", MOSQ_ERR_SUCCESS);
	/* the hub's services are not counted */
	for (int i = 0; i < 5; i++) {
		char id[8];
		struct mosquitto *s;
		snprintf(id, sizeof(id), "s%d", i);
		s = fb_client(id, "$hub", 5);
		assert_int_equal(fb_connect(s, fx_token(h, "service", "$hub", "service", hc_now(),
						       hc_now() + 60)),
			MOSQ_ERR_SUCCESS);
	}
}

static void test_per_address(void **state)
{
	(void)state;
	struct mosquitto *first;
	first = conn("x0", "alice", "192.0.2.7", MOSQ_ERR_SUCCESS);
	conn("x1", "bob", "192.0.2.7", MOSQ_ERR_SUCCESS);
	/* a WebSocket client's address is the same address */
	conn("x2", "bob", "::ffff:192.0.2.7", MOSQ_ERR_SUCCESS);
	conn("x3", "alice", "192.0.2.7", MOSQ_ERR_SUCCESS);
	conn("x4", "bob", "::ffff:192.0.2.7", MOSQ_ERR_AUTH);
	assert_reason("too-many-from-address");
	/* other addresses, and exempt ones, are not affected */
	conn("y0", "bob", "192.0.2.8", MOSQ_ERR_SUCCESS);
	conn("y1", "alice", "::1", MOSQ_ERR_SUCCESS);
	fb_disconnect(first, false);
	conn("x5", "alice", "192.0.2.7", MOSQ_ERR_SUCCESS);
	assert_int_equal(h->by_addr.count, 2);
}

/* Browsers relayed by hubd's WebSocket front all come from the front's
 * address (exempt, loopback); the token the front mints names each one's
 * own address (addr claim), and that is what is counted and logged. */
static void test_address_of_front_tokens(void **state)
{
	(void)state;
	int64_t now = hc_now();
	char tok[HC_TOKEN_MAX + 1];
	for (int i = 0; i < 5; i++) {
		char id[8];
		struct mosquitto *c;
		snprintf(id, sizeof(id), "f%d", i);
		c = fb_client(id, i % 2 ? "bob" : "alice", 5);
		snprintf(c->address, sizeof(c->address), "::1"); /* the front: exempt */
		assert_int_equal(hc_token_mint_addr(h->key, "mqtt", i % 2 ? "bob" : "alice",
					 i % 2 ? SID2 : SID, now, now + 60, "198.51.100.4", tok,
					 sizeof(tok)),
			HUB_OK);
		assert_int_equal(fb_connect(c, tok), i < 4 ? MOSQ_ERR_SUCCESS : MOSQ_ERR_AUTH);
		if (i < 4 && !strstr(fb_last_log, "| connect | ok "))
			fail_msg("no ok line: %s", fb_last_log);
		if (i < 4 && !strstr(fb_last_log, " addr=198.51.100.4"))
			fail_msg("the browser's address is not in the line: %s", fb_last_log);
	}
	assert_reason("too-many-from-address");
	if (!strstr(fb_last_log, "addr=198.51.100.4"))
		fail_msg("the refusal names the front's address: %s", fb_last_log);
	/* another browser behind the same front is not affected; without the
	 * claim the front's own (exempt) address counts */
	{
		struct mosquitto *c = fb_client("g0", "bob", 5);
		snprintf(c->address, sizeof(c->address), "::1");
		assert_int_equal(hc_token_mint_addr(h->key, "mqtt", "bob", SID2, now, now + 60,
					 "198.51.100.5", tok, sizeof(tok)),
			HUB_OK);
		assert_int_equal(fb_connect(c, tok), MOSQ_ERR_SUCCESS);
	}
	conn("g1", "alice", "::1", MOSQ_ERR_SUCCESS);
	if (!strstr(fb_last_log, " addr=::1"))
		fail_msg("a token without addr: the peer's address: %s", fb_last_log);
	assert_int_equal(h->by_addr.count, 2);
}

static void test_subscriptions(void **state)
{
	(void)state;
	struct mosquitto *c = conn("s", "alice", "192.0.2.1", MOSQ_ERR_SUCCESS);
	char f[64];
	for (int i = 0; i < 5; i++) {
		snprintf(f, sizeof(f), "rooms/lobby/ev/e%d/#", i);
		assert_int_equal(fb_acl(c, f, MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_SUCCESS);
	}
	assert_int_equal(
		fb_acl(c, "rooms/lobby/ev/more/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
	assert_non_null(strstr(fb_last_log, "too many subscriptions"));
	/* the same filter again is not a new subscription */
	assert_int_equal(fb_acl(c, "rooms/lobby/ev/e3/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_SUCCESS);
	/* an unsubscribe of something else frees nothing; of one of its own,
	 * a place */
	assert_int_equal(fb_acl(c, "rooms/lobby/ev/zz/#", MOSQ_ACL_UNSUBSCRIBE), MOSQ_ERR_SUCCESS);
	assert_int_equal(
		fb_acl(c, "rooms/lobby/ev/more/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(c, "rooms/lobby/ev/e0/#", MOSQ_ACL_UNSUBSCRIBE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(c, "$share/alice/rooms/lobby/ev/more/#", MOSQ_ACL_SUBSCRIBE),
		MOSQ_ERR_SUCCESS);
	assert_int_equal(
		fb_acl(c, "rooms/lobby/ev/more/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);

	/* a stored session brought 4 along: one more fits */
	c = fb_client("stored", "bob", 4);
	c->sub_count = 4;
	assert_int_equal(fb_connect(c, fx_token(h, "mqtt", "bob", SID2, hc_now(), hc_now() + 60)),
		MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(c, "rooms/lobby/ev/a/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(c, "rooms/lobby/ev/b/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
}

/* Messages are queued for at most broker_stored_per_identity offline
 * stored sessions of one identity; a connection taking one's id back
 * frees its place. */
static void test_stored_sessions(void **state)
{
	(void)state;
	struct mosquitto *s1 = fb_stored("p1", "alice"), *s2 = fb_stored("p2", "alice");
	struct mosquitto *s3 = fb_stored("p3", "alice"), *b1 = fb_stored("q1", "bob");
	const char *t = "rooms/lobby/ev/chat/bob";

	assert_int_equal(fb_acl(s1, t, MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(s2, t, MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(s3, t, MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
	assert_non_null(strstr(fb_last_log, "too many stored sessions"));
	assert_int_equal(fb_acl(s1, t, MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	/* another identity has places of its own */
	assert_int_equal(fb_acl(b1, t, MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	/* alice takes p1 again: p3 gets its place */
	conn("p1", "alice", "192.0.2.1", MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(s3, t, MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(s1, t, MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_per_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_per_address, setup, teardown),
		cmocka_unit_test_setup_teardown(test_address_of_front_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stored_sessions, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
