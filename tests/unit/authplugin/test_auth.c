/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so CONNECT decisions (authplugin/auth.c) through the fake
 * broker: only MOSQ_ERR_SUCCESS or MOSQ_ERR_AUTH ever come back (anything
 * else makes 2.0.11 drop the socket without a CONNACK), one audit line per
 * refusal with its reason, and the broker-reload re-check (SIGHUP re-runs
 * BASIC_AUTH for every session with the stored password: an expired token
 * of a live session passes, a revoked session does not).
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

#define SID	   "AAAAAAAAAAAAAAAAAAAAAa"
#define SID2	   "AAAAAAAAAAAAAAAAAAAAAb"
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

static int try_connect(const char *id, const char *user, const char *password)
{
	return fb_connect(fb_client(id, user, 4), password);
}

static void assert_denied(
	const char *id, const char *user, const char *password, const char *reason)
{
	char want[64];
	assert_int_equal(try_connect(id, user, password), MOSQ_ERR_AUTH);
	snprintf(want, sizeof(want), "| connect | denied reason=%s ", reason);
	if (!strstr(fb_last_log, want))
		fail_msg("want \"%s\" in the audit line, got: %s", want, fb_last_log);
}

static void test_user_token(void **state)
{
	(void)state;
	int64_t now = hc_now();
	assert_int_equal(
		try_connect("c1", "alice", fx_token(h, "mqtt", "alice", SID, now, now + 60)),
		MOSQ_ERR_SUCCESS);
	assert_denied(
		"c2", "alice", fx_token(h, "mqtt", "alice", SID, now - 120, now - 60), "expired");
	assert_denied(
		"c3", "alice", fx_token(h, "service", "alice", SID, now, now + 60), "wrong-typ");
	assert_denied(
		"c4", "alice", fx_token(h, "mqtt", "bob", SID2, now, now + 60), "sub-mismatch");
	/* bob's session id under alice's name (a token minted wrongly) */
	assert_denied("c5", "alice", fx_token(h, "mqtt", "alice", SID2, now, now + 60),
		"session-mismatch");
	assert_denied("c6", "alice", "not.a.token", "malformed");
	assert_denied("c7", "alice", NULL, "no-password");
}

static void test_session_states(void **state)
{
	(void)state;
	int64_t now = hc_now();
	fx_session(h, SID, "alice", now + 3600, now, "logout");
	assert_denied("c1", "alice", fx_token(h, "mqtt", "alice", SID, now, now + 60), "revoked");
	fx_session(h, SID, "alice", now - 1, 0, NULL);
	assert_denied(
		"c2", "alice", fx_token(h, "mqtt", "alice", SID, now, now + 60), "session-expired");
	/* unknown session: fresh tokens pass (the follower may lag), old ones not */
	assert_int_equal(
		try_connect("c3", "alice",
			fx_token(h, "mqtt", "alice", "UUUUUUUUUUUUUUUUUUUUUu", now, now + 60)),
		MOSQ_ERR_SUCCESS);
	assert_denied("c4", "alice",
		fx_token(h, "mqtt", "alice", "UUUUUUUUUUUUUUUUUUUUUu", now - 31, now + 60),
		"unknown-session");
}

static void test_identities(void **state)
{
	(void)state;
	int64_t now = hc_now();
	char tok[1100];
	snprintf(tok, sizeof(tok), "%s", fx_token(h, "mqtt", "alice", SID, now, now + 60));
	assert_denied("c1", NULL, tok, "anonymous");
	assert_denied("c2", "nobody", tok, "unknown-principal");
	assert_denied("c3", "al ice", tok, "bad-username");
	assert_denied("a/b", "alice", tok, "bad-client-id");
	assert_denied("a+b", "alice", tok, "bad-client-id");
	assert_denied("a#b", "alice", tok, "bad-client-id");
	assert_int_equal(try_connect("t1", "truck", DEV_SECRET), MOSQ_ERR_SUCCESS);
	assert_denied("t2", "truck", "wrong-secret", "bad-secret");
	assert_denied("t3", "truck", tok, "bad-secret");
	assert_int_equal(
		try_connect("s1", "$hub", fx_token(h, "service", "$hub", "service", now, now + 60)),
		MOSQ_ERR_SUCCESS);
	assert_denied("s2", "$hub", tok, "wrong-typ");
	/* the audit line never carries the password or token */
	assert_null(strstr(fb_last_log, tok));
}

static void test_only_success_or_auth(void **state)
{
	(void)state;
	static const char *const pw[] = {"", "x", ".", "..", "a.b.c", "eyJ.eyJ.sig",
		"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.", NULL};
	static const char *const users[] = {"alice", "truck", "$hub", "nobody", "x y", "", NULL};
	char id[32];
	int n = 0;
	for (int u = 0; users[u]; u++)
		for (int p = 0; pw[p]; p++) {
			snprintf(id, sizeof(id), "g%d", n++);
			int rc = try_connect(id, users[u], pw[p]);
			assert_true(rc == MOSQ_ERR_AUTH);
		}
}

static void test_reload_keeps_live_sessions(void **state)
{
	(void)state;
	int64_t now = hc_now();
	/* alice connected with a token that has expired since */
	const char *old = fx_token(h, "mqtt", "alice", SID, now - 1000, now - 10);
	struct mosquitto *c = fb_client("c1", "alice", 5);
	int live;
	char copy[1100];
	snprintf(copy, sizeof(copy), "%s", old);
	assert_int_equal(fb_connect(c, copy), MOSQ_ERR_AUTH); /* outside a reload */
	c = fb_client("c1", "alice", 5);
	assert_int_equal(
		fb_connect(c, fx_token(h, "mqtt", "alice", SID, now, now + 60)), MOSQ_ERR_SUCCESS);
	live = h->clients_live;
	fb_reload();
	/* the broker re-checks c1 with what it connected with */
	assert_int_equal(fb_connect(c, copy), MOSQ_ERR_SUCCESS);
	assert_int_equal(h->clients_live, live); /* not registered twice */
	/* a revoked session does not pass the re-check */
	fx_session(h, SID2, "bob", now + 3600, now, "kicked");
	assert_int_equal(fb_connect(fb_client("b1", "bob", 5),
				 fx_token(h, "mqtt", "bob", SID2, now - 100, now - 10)),
		MOSQ_ERR_AUTH);
	/* the reload window closes at the next tick */
	fb_tick();
	assert_int_equal(fb_connect(fb_client("c9", "alice", 5), copy), MOSQ_ERR_AUTH);
}

static void test_registration(void **state)
{
	(void)state;
	int64_t now = hc_now();
	struct mosquitto *c = fb_client("c1", "alice", 5);
	struct hauth_client *hc;
	c->protocol = mp_websockets;
	c->keepalive = 30;
	assert_int_equal(
		fb_connect(c, fx_token(h, "mqtt", "alice", SID, now, now + 60)), MOSQ_ERR_SUCCESS);
	hc = hauth_clients__find(h, c);
	assert_non_null(hc);
	assert_string_equal(hc->id, "c1");
	assert_string_equal(hc->name, "alice");
	assert_string_equal(hc->sid, SID);
	assert_true(hc->websocket);
	assert_int_equal(hc->keepalive, 30);
	assert_int_equal(hc->protocol_version, 5);
	assert_int_equal(h->clients_live, 1);
	fb_disconnect(c, false);
	assert_int_equal(h->clients_live, 0);
	/* a refused connect registers nothing and its DISCONNECT is ignored */
	c = fb_client(NULL, "alice", 4);
	assert_int_equal(fb_connect(c, "nope"), MOSQ_ERR_AUTH);
	assert_null(hauth_clients__find(h, c));
}

/* A client id belongs to the identity holding it: another identity may
 * neither take over its live connection (mosquitto would close it) nor its
 * stored session; the same identity may, and a deleted owner holds none. */
static void test_client_id_held(void **state)
{
	(void)state;
	int64_t now = hc_now();
	char ta[1024], tb[1024];
	struct mosquitto *a = fb_client("shared", "alice", 5), *a2, *b;

	snprintf(ta, sizeof(ta), "%s", fx_token(h, "mqtt", "alice", SID, now, now + 60));
	snprintf(tb, sizeof(tb), "%s", fx_token(h, "mqtt", "bob", SID2, now, now + 60));
	assert_int_equal(fb_connect(a, ta), MOSQ_ERR_SUCCESS);
	/* live: bob is refused, alice's connection is untouched */
	b = fb_client("shared", "bob", 5);
	assert_int_equal(fb_connect(b, tb), MOSQ_ERR_AUTH);
	assert_non_null(strstr(fb_last_log, "reason=client-id-in-use"));
	assert_false(hauth_clients__find(h, a)->replaced);
	assert_int_equal(
		fb_connect(fb_client("truck-id", "truck", 4), DEV_SECRET), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_connect(fb_client("truck-id", "alice", 4), ta), MOSQ_ERR_AUTH);
	/* alice herself takes over her own id */
	a2 = fb_client("shared", "alice", 5);
	assert_int_equal(fb_connect(a2, ta), MOSQ_ERR_SUCCESS);
	fb_takeover(a);
	fb_disconnect(a2, false);
	/* a clean session held nothing once gone */
	assert_int_equal(fb_connect(fb_client("shared", "bob", 5), tb), MOSQ_ERR_SUCCESS);

	/* a stored session (clean session false) stays alice's while offline */
	a = fb_client("stored", "alice", 4);
	a->persistent = true;
	assert_int_equal(fb_connect(a, ta), MOSQ_ERR_SUCCESS);
	fb_disconnect(a, false);
	fb_tick();
	assert_int_equal(fb_connect(fb_client("stored", "bob", 4), tb), MOSQ_ERR_AUTH);
	a = fb_client("stored", "alice", 4);
	assert_int_equal(fb_connect(a, ta), MOSQ_ERR_SUCCESS);
	fb_disconnect(a, false);
	/* deleting alice frees her ids */
	fx_del_principal(h, "alice");
	fb_tick();
	assert_int_equal(fb_connect(fb_client("stored", "bob", 4), tb), MOSQ_ERR_SUCCESS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_user_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_success_or_auth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_keeps_live_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_id_held, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
