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

/* ---- client ids scoped per identity (the broker's layout recognised) */

#define ALICE_AT 0x6929a1f0LL
#define BOB_AT	 0x6929a1f1LL

static int setup_layout(void **state)
{
	(void)state;
	fb_broker_layout = true;
	h = fb_plugin_start(NULL);
	fx_user_at(h, "alice", ALICE_AT);
	fx_user_at(h, "bob", BOB_AT);
	fx_device(h, "truck", "alice", DEV_SECRET);
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	fx_level(h, "lobby", "bob", HC_LEVEL_READ);
	fx_session(h, SID, "alice", hc_now() + 3600, 0, NULL);
	fx_session(h, SID2, "bob", hc_now() + 3600, 0, NULL);
	fb_tick();
	fb_reset();
	return 0;
}

static int teardown_layout(void **state)
{
	fb_broker_layout = false;
	return teardown(state);
}

static const char *tok_of(const char *user)
{
	static char tok[1024];
	int64_t now = hc_now();
	snprintf(tok, sizeof(tok), "%s",
		fx_token(h, "mqtt", user, strcmp(user, "alice") ? SID2 : SID, now, now + 60));
	return tok;
}

/* Another identity's CONNECT with the same id is a different session:
 * both live, neither replaced, each identity takes over only its own. */
static void test_client_id_scoped(void **state)
{
	(void)state;
	struct mosquitto *a = fb_client("phone", "alice", 4), *b = fb_client("phone", "bob", 5);
	struct mosquitto *a2, *svc;
	char want[128];

	assert_int_equal(fb_connect(a, tok_of("alice")), MOSQ_ERR_SUCCESS);
	assert_string_equal(fb_id(a), "alice:6929a1f0/phone");
	assert_string_equal(hauth_clients__find(h, a)->id, "alice:6929a1f0/phone");
	assert_int_equal(fb_connect(b, tok_of("bob")), MOSQ_ERR_SUCCESS);
	assert_string_equal(fb_id(b), "bob:6929a1f1/phone");
	assert_false(hauth_clients__find(h, a)->replaced);
	assert_int_equal(h->clients_live, 2);
	/* the audit line names the id the client sent */
	assert_non_null(strstr(fb_last_log, "phone/bob | connect | ok"));
	/* alice's second CONNECT with her id takes over her own session */
	a2 = fb_client("phone", "alice", 4);
	assert_int_equal(fb_connect(a2, tok_of("alice")), MOSQ_ERR_SUCCESS);
	assert_true(hauth_clients__find(h, a)->replaced);
	assert_false(hauth_clients__find(h, b)->replaced);
	/* a device and the hub's services get their spaces too */
	assert_int_equal(
		fb_connect(fb_client("trk-truck-x", "truck", 4), DEV_SECRET), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_connect(fb_client("trk-truck-x", "alice", 4), tok_of("alice")),
		MOSQ_ERR_SUCCESS);
	svc = fb_client("hubd-1", "$hub", 5);
	assert_int_equal(
		fb_connect(svc, fx_token(h, "service", "$hub", "service", hc_now(), hc_now() + 60)),
		MOSQ_ERR_SUCCESS);
	assert_string_equal(fb_id(svc), "$hub/hubd-1");
	/* an id with a '/' still cannot be sent, so no space can be named */
	assert_int_equal(fb_connect(fb_client("alice:6929a1f0/phone", "bob", 5), tok_of("bob")),
		MOSQ_ERR_AUTH);
	assert_non_null(strstr(fb_last_log, "reason=bad-client-id"));
	assert_int_equal(hauth_clientid__format(want, sizeof(want), "alice", ALICE_AT, "x"), 0);
	assert_string_equal(want, "alice:6929a1f0/x");
}

/* Ids shaped like the broker's assigned ones (a v5 CONNACK hands them to
 * the client, which may reconnect with them) stay as sent, held by their
 * holder. */
static void test_auto_shaped_id_held(void **state)
{
	(void)state;
	static const char auto_id[] = "auto-0123ABCD-4567-89AB-CDEF-0123456789AB";
	struct mosquitto *a = fb_client(auto_id, "alice", 5);

	assert_true(hauth_clientid__auto_shaped(auto_id));
	assert_false(hauth_clientid__auto_shaped("auto-0123abcd-4567-89AB-CDEF-0123456789AB"));
	assert_false(hauth_clientid__auto_shaped("auto-0123ABCD-4567-89AB-CDEF-0123456789A"));
	assert_false(hauth_clientid__auto_shaped("auto-0123ABCD+4567-89AB-CDEF-0123456789AB"));
	assert_int_equal(fb_connect(a, tok_of("alice")), MOSQ_ERR_SUCCESS);
	assert_string_equal(fb_id(a), auto_id);
	assert_non_null(strstr(fb_last_log, "id=unscoped"));
	assert_int_equal(fb_connect(fb_client(auto_id, "bob", 5), tok_of("bob")), MOSQ_ERR_AUTH);
	assert_non_null(strstr(fb_last_log, "reason=client-id-in-use"));
}

/* SIGHUP re-checks kept sessions with their broker ids (scoped: with a
 * '/'); a CONNECT read in the same loop pass is a new connection. */
static void test_reload_with_scoped_ids(void **state)
{
	(void)state;
	struct mosquitto *a = fb_client("phone", "alice", 4), *n;
	struct mosquitto *kept = fb_stored("alice:6929a1f0/tablet", "alice");

	assert_int_equal(fb_connect(a, tok_of("alice")), MOSQ_ERR_SUCCESS);
	fb_reload();
	assert_int_equal(fb_connect(a, tok_of("alice")), MOSQ_ERR_SUCCESS);
	assert_string_equal(fb_id(a), "alice:6929a1f0/phone");
	assert_int_equal(fb_connect(kept, tok_of("alice")), MOSQ_ERR_SUCCESS);
	assert_string_equal(fb_id(kept), "alice:6929a1f0/tablet");
	assert_null(hauth_clients__find(h, kept)); /* not a connection */
	n = fb_client("laptop", "alice", 5);
	assert_int_equal(fb_connect(n, tok_of("alice")), MOSQ_ERR_SUCCESS);
	assert_string_equal(fb_id(n), "alice:6929a1f0/laptop");
	assert_non_null(hauth_clients__find(h, n));
	fb_tick();
	assert_int_equal(h->clients_live, 2);
}

/* Messages are queued only for stored sessions of the identity that opened
 * them: not for a deleted one's, not for an earlier identity of the same
 * name, not for ids nobody can reach any more. */
static void test_stored_sessions_of_earlier_identities(void **state)
{
	(void)state;
	struct mosquitto *now = fb_stored("alice:6929a1f0/phone", "alice");
	struct mosquitto *older = fb_stored("alice:11/phone", "alice");
	struct mosquitto *legacy = fb_stored("phone", "alice");
	struct mosquitto *assigned =
		fb_stored("auto-0123ABCD-4567-89AB-CDEF-0123456789AB", "alice");
	const char *topic = "rooms/lobby/ev/chat/bob";

	/* scoping is on once a connection was scoped */
	assert_int_equal(fb_connect(fb_client("x", "bob", 4), tok_of("bob")), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(now, topic, MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(assigned, topic, MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(older, topic, MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(legacy, topic, MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
	/* alice deleted and created again: her old sessions get nothing */
	fx_user_at(h, "alice", ALICE_AT + 5);
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	assert_int_equal(fb_acl(now, topic, MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
	assert_non_null(strstr(fb_last_log, "earlier identity"));
	fx_del_principal(h, "alice");
	assert_int_equal(fb_acl(assigned, topic, MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
	/* the hub's services are no principals of the directory */
	assert_int_equal(
		fb_acl(fb_stored("$hub/hubd-1", "$hub"), topic, MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
}

/* A will sent after the connection's record is gone (MQTT 5 Will Delay
 * Interval; a stored session expiring) is judged by its username: the
 * status rule, then the WRITE rule. */
static void test_delayed_will(void **state)
{
	(void)state;
	struct mosquitto *a = fb_client("phone", "alice", 5), *a2;

	assert_int_equal(fb_connect(a, tok_of("alice")), MOSQ_ERR_SUCCESS);
	fb_disconnect(a, false);
	fb_tick();
	hauth_clients__reap(h, hc_mono_ms() + 1000);
	assert_null(hauth_clients__find(h, a));
	assert_int_equal(fb_acl(a, "users/alice/status", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(a, "rooms/lobby/ev/bye/alice", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(a, "rooms/lobby/ev/bye/bob", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	/* alice is back on another connection: "offline" would be a lie */
	a2 = fb_client("laptop", "alice", 5);
	assert_int_equal(fb_connect(a2, tok_of("alice")), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(a, "users/alice/status", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(a, "rooms/lobby/ev/bye/alice", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
	/* nothing else for a session the hub does not track */
	assert_int_equal(fb_acl(a, "rooms/lobby/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
	/* deleted: no will */
	fx_del_principal(h, "alice");
	assert_int_equal(fb_acl(a, "users/alice/status", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
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
		cmocka_unit_test_setup_teardown(
			test_client_id_scoped, setup_layout, teardown_layout),
		cmocka_unit_test_setup_teardown(
			test_auto_shaped_id_held, setup_layout, teardown_layout),
		cmocka_unit_test_setup_teardown(
			test_reload_with_scoped_ids, setup_layout, teardown_layout),
		cmocka_unit_test_setup_teardown(
			test_stored_sessions_of_earlier_identities, setup_layout, teardown_layout),
		cmocka_unit_test_setup_teardown(test_delayed_will, setup_layout, teardown_layout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
