/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so revocation verdicts (authplugin/revoke.c), through the fake
 * broker: a connection ends (kicked by client id, with its will) when its
 * session is revoked (left reason "logout" for a logout, "kicked"
 * otherwise), expired ("expired"), purged after it was seen ("expired"),
 * its device was deleted or got a new secret ("kicked"), its user was
 * deleted ("kicked"), or its session never showed up in the store within
 * 10 s ("kicked"). The hub's own service identity is never ended.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_broker.h"
#include "hauth.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <string.h>

#define S_ALICE	   "AAAAAAAAAAAAAAAAAAAAAa"
#define S_ALICE2   "AAAAAAAAAAAAAAAAAAAAAb"
#define S_GHOST	   "GGGGGGGGGGGGGGGGGGGGGg"
#define DEV_SECRET "device-secret-0123456789"

static struct hauth *h;

static int setup(void **state)
{
	(void)state;
	h = fb_plugin_start(NULL);
	fx_user(h, "alice");
	fx_user(h, "bob");
	fx_device(h, "truck", "alice", DEV_SECRET);
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	fx_level(h, "lobby", "bob", HC_LEVEL_READ);
	fx_level(h, "lobby", "truck", HC_LEVEL_WRITE);
	fx_session(h, S_ALICE, "alice", hc_now() + 3600, 0, NULL);
	fx_session(h, S_ALICE2, "alice", hc_now() + 3600, 0, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fb_plugin_stop();
	h = NULL;
	return 0;
}

/* A store change arrived: the plugin sweeps at once on the next tick. */
static void changed_and_tick(void)
{
	h->last_sweep_ms = 0;
	fb_tick();
}

static struct mosquitto *connect_user(const char *id, const char *user, const char *sid)
{
	struct mosquitto *c = fb_client(id, user, 5);
	const char *tok = fx_token(h, "mqtt", user, sid, hc_now(), hc_now() + 900);
	assert_int_equal(fb_connect(c, tok), MOSQ_ERR_SUCCESS);
	return c;
}

/* The reason in the left notice for alice in lobby (the only one online). */
static void assert_left_reason(const char *principal, const char *reason)
{
	char want[160];
	const struct fb_pub *p = fb_pub_on("rooms/lobby/sys/left", 0);
	assert_non_null(p);
	/* a device's notices say so */
	snprintf(want, sizeof(want), "{\"user\":\"%s\",\"online\":0,\"reason\":\"%s\"%s}",
		principal, reason, strcmp(principal, "truck") ? "" : ",\"device\":true");
	assert_string_equal(p->payload, want);
}

static void session_revoked(const char *store_reason, const char *notice_reason)
{
	struct mosquitto *c = connect_user("c1", "alice", S_ALICE);
	changed_and_tick();
	assert_int_equal(fb_nkicked, 0);
	fb_reset();
	fx_session(h, S_ALICE, "alice", hc_now() + 3600, hc_now(), store_reason);
	changed_and_tick();
	assert_int_equal(fb_nkicked, 1);
	assert_string_equal(fb_kicked[0], "c1");
	assert_false(c->connected);
	/* hub-initiated: the left notice goes out at once, no grace */
	assert_left_reason("alice", notice_reason);
}

static void test_revoked_by_logout(void **state)
{
	(void)state;
	session_revoked("logout", "logout");
}

static void test_revoked_by_admin(void **state)
{
	(void)state;
	session_revoked("kicked", "kicked");
}

static void test_revoked_by_password_change(void **state)
{
	(void)state;
	session_revoked("password", "kicked");
}

static void test_only_the_revoked_session_ends(void **state)
{
	(void)state;
	struct mosquitto *c1 = connect_user("c1", "alice", S_ALICE);
	struct mosquitto *c2 = connect_user("c2", "alice", S_ALICE2);
	struct mosquitto *c3 = connect_user("c3", "alice", S_ALICE);
	fx_session(h, S_ALICE, "alice", hc_now() + 3600, hc_now(), "logout");
	changed_and_tick();
	assert_int_equal(fb_nkicked, 2);
	assert_true(fb_was_kicked("c1") && fb_was_kicked("c3"));
	assert_false(c1->connected || c3->connected);
	assert_true(c2->connected);
	/* alice is still online through c2: no left notice */
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	/* later ticks do not kick again */
	changed_and_tick();
	changed_and_tick();
	assert_int_equal(fb_nkicked, 2);
}

static void test_expired(void **state)
{
	(void)state;
	struct mosquitto *c = connect_user("c1", "alice", S_ALICE);
	changed_and_tick();
	assert_int_equal(fb_nkicked, 0);
	fb_reset();
	fx_session(h, S_ALICE, "alice", hc_now() - 1, 0, NULL);
	/* expiry needs no store change: the periodic sweep (>= 250 ms) sees it */
	hauth_revoke__tick(h, hc_mono_ms() + 300);
	assert_true(fb_was_kicked("c1"));
	assert_false(c->connected);
	assert_left_reason("alice", "expired");
}

static void test_purged_after_seen_is_expired(void **state)
{
	(void)state;
	connect_user("c1", "alice", S_ALICE);
	changed_and_tick();
	fb_reset();
	fx_del_session(h, S_ALICE);
	changed_and_tick();
	assert_true(fb_was_kicked("c1"));
	assert_left_reason("alice", "expired");
}

static void test_device_secret_changed(void **state)
{
	(void)state;
	struct mosquitto *d = fb_client("truck-1", "truck", 4);
	assert_int_equal(fb_connect(d, DEV_SECRET), MOSQ_ERR_SUCCESS);
	changed_and_tick();
	assert_int_equal(fb_nkicked, 0);
	fb_reset();
	fx_device(h, "truck", "alice", "a-new-secret-0000000000");
	changed_and_tick();
	assert_true(fb_was_kicked("truck-1"));
	assert_left_reason("truck", "kicked");
	/* the old secret no longer opens connections */
	assert_int_equal(fb_connect(fb_client("truck-2", "truck", 4), DEV_SECRET), MOSQ_ERR_AUTH);
}

static void test_device_deleted(void **state)
{
	(void)state;
	struct mosquitto *d = fb_client("truck-1", "truck", 4);
	assert_int_equal(fb_connect(d, DEV_SECRET), MOSQ_ERR_SUCCESS);
	fb_reset();
	fx_del_principal(h, "truck");
	changed_and_tick();
	assert_true(fb_was_kicked("truck-1"));
	assert_false(d->connected);
}

static void test_device_unchanged_stays(void **state)
{
	(void)state;
	struct mosquitto *d = fb_client("truck-1", "truck", 4);
	assert_int_equal(fb_connect(d, DEV_SECRET), MOSQ_ERR_SUCCESS);
	/* the same secret written again (e.g. a display-name change) */
	fx_device(h, "truck", "alice", DEV_SECRET);
	changed_and_tick();
	hauth_revoke__tick(h, hc_mono_ms() + 20000);
	assert_int_equal(fb_nkicked, 0);
	assert_true(d->connected);
}

static void test_user_deleted(void **state)
{
	(void)state;
	struct mosquitto *c = connect_user("c1", "alice", S_ALICE);
	fb_reset();
	fx_del_principal(h, "alice");
	changed_and_tick();
	assert_true(fb_was_kicked("c1"));
	assert_false(c->connected);
}

static void test_unknown_session_after_10s(void **state)
{
	(void)state;
	/* a fresh token for a session the follower has not delivered yet */
	struct mosquitto *c = connect_user("c1", "alice", S_GHOST);
	changed_and_tick();
	hauth_revoke__tick(h, hc_mono_ms() + 9000);
	assert_int_equal(fb_nkicked, 0);
	assert_true(c->connected);
	hauth_revoke__tick(h, hc_mono_ms() + 10300);
	assert_true(fb_was_kicked("c1"));
	assert_false(c->connected);
}

static void test_unknown_session_that_shows_up_stays(void **state)
{
	(void)state;
	struct mosquitto *c = connect_user("c1", "alice", S_GHOST);
	fx_session(h, S_GHOST, "alice", hc_now() + 3600, 0, NULL);
	changed_and_tick();
	hauth_revoke__tick(h, hc_mono_ms() + 20000);
	assert_int_equal(fb_nkicked, 0);
	assert_true(c->connected);
}

static void test_service_never(void **state)
{
	(void)state;
	struct mosquitto *s = fb_client("hub-1", "$hub", 5);
	const char *tok = fx_token(h, "service", "$hub", "service", hc_now(), hc_now() + 60);
	assert_int_equal(fb_connect(s, tok), MOSQ_ERR_SUCCESS);
	changed_and_tick();
	hauth_revoke__tick(h, hc_mono_ms() + 60000);
	fx_del_principal(h, "alice");
	changed_and_tick();
	hauth_revoke__tick(h, hc_mono_ms() + 120000);
	assert_false(fb_was_kicked("hub-1"));
	assert_true(s->connected);
	/* and it is no one's presence */
	assert_int_equal(fb_count_pub("users/$hub/status"), 0);
}

static void test_ended_connection_is_shut(void **state)
{
	(void)state;
	/* between the verdict and the DISCONNECT nothing more goes in or out */
	struct mosquitto *c = connect_user("c1", "alice", S_ALICE);
	struct hauth_client *hc = hauth_clients__find(h, c);
	assert_non_null(hc);
	assert_int_equal(fb_acl(c, "rooms/lobby/ev/chat/alice", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
	hc->end_reason = "kicked";
	assert_int_equal(
		fb_acl(c, "rooms/lobby/ev/chat/alice", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(c, "rooms/lobby/ev/chat/bob", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
	/* except the broker's re-check of a kicked persistent session's
	 * subscriptions: judged by the identity's rights, so the stored
	 * session keeps what alice may still read */
	assert_int_equal(fb_acl(c, "rooms/lobby/ev/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(c, "rooms/secret/ev/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
	fx_del_principal(h, "alice");
	assert_int_equal(fb_acl(c, "rooms/lobby/ev/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
	hc->end_reason = NULL;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_revoked_by_logout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_by_admin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_by_password_change, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_only_the_revoked_session_ends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_purged_after_seen_is_expired, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_secret_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_unchanged_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_session_after_10s, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_unknown_session_that_shows_up_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_never, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ended_connection_is_shut, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
