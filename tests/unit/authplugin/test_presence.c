/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so presence (authplugin/presence.c, clients.c) through the fake
 * broker: joined/left payloads and online counts, the retained presence and
 * status, the reconnect grace, reasons from the will when the broker's
 * client layout is unknown (as with the fake), will_ok (a will that would
 * say "offline" is held back while the principal has other connections),
 * membership changes while online.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_broker.h"
#include "hauth.h"
#include "hauth_presence.h"
#include "hc_follow.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <string.h>

#define GRACE 800

static struct hauth *h;

static int setup(void **state)
{
	(void)state;
	h = fb_plugin_start("presence_grace_ms = 800");
	fx_user(h, "alice");
	fx_user(h, "bob");
	fx_user(h, "carol");
	fx_device(h, "truck", "alice", "device-secret-0123456789");
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	fx_level(h, "lobby", "bob", HC_LEVEL_READ);
	fx_level(h, "lobby", "truck", HC_LEVEL_WRITE);
	fx_level(h, "ops", "alice", HC_LEVEL_WRITE);
	fx_level(h, "ops", "carol", HC_LEVEL_WRITE);
	fb_tick(); /* first tick: stale retained presence reset */
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

static struct mosquitto *up(const char *id, const char *user)
{
	struct mosquitto *c = fb_client(id, user, 5);
	const char *tok =
		fx_token(h, "mqtt", user, "SSSSSSSSSSSSSSSSSSSSSs", hc_now(), hc_now() + 900);
	assert_int_equal(fb_connect(c, tok), MOSQ_ERR_SUCCESS);
	return c;
}

/* Ticks at a time past the grace of a disconnect made now. */
static void after_grace(void)
{
	int64_t t = hc_mono_ms() + GRACE + 50;
	hauth_presence__tick(h, t);
	hauth_clients__reap(h, t);
}

static void before_grace(void)
{
	hauth_presence__tick(h, hc_mono_ms() + GRACE - 300);
}

static void assert_pub(const char *topic, int nth, const char *payload)
{
	const struct fb_pub *p = fb_pub_on(topic, nth);
	if (!p)
		fail_msg("no publish #%d on %s", nth, topic);
	assert_string_equal(p->payload, payload);
}

/* {"...","since":N} with N within 2 s of now; returns N. */
static long long since_of(const struct fb_pub *p)
{
	const char *s;
	long long v;
	assert_non_null(p);
	s = strstr(p->payload, "\"since\":");
	assert_non_null(s);
	assert_int_equal(sscanf(s, "\"since\":%lld", &v), 1);
	assert_true(v >= (long long)hc_now() - 2 && v <= (long long)hc_now());
	return v;
}

static void test_joined_payloads_and_counts(void **state)
{
	(void)state;
	char want[160];
	const struct fb_pub *p;
	long long since;

	up("a1", "alice");
	assert_pub("rooms/lobby/sys/joined", 0, "{\"user\":\"alice\",\"online\":1}");
	assert_pub("rooms/ops/sys/joined", 0, "{\"user\":\"alice\",\"online\":1}");
	p = fb_pub_on("rooms/lobby/presence/alice", 0);
	since = since_of(p);
	assert_true(p->retain);
	snprintf(want, sizeof(want), "{\"user\":\"alice\",\"since\":%lld}", since);
	assert_string_equal(p->payload, want);
	assert_false(fb_pub_on("rooms/lobby/sys/joined", 0)->retain);
	p = fb_pub_on("users/alice/status", 0);
	assert_true(p->retain);
	snprintf(want, sizeof(want), "{\"online\":true,\"since\":%lld}", since_of(p));
	assert_string_equal(p->payload, want);

	up("b1", "bob");
	assert_pub("rooms/lobby/sys/joined", 1, "{\"user\":\"bob\",\"online\":2}");
	assert_int_equal(fb_count_pub("rooms/ops/sys/joined"), 1); /* bob is not in ops */
	assert_int_equal(fb_connect(fb_client("t1", "truck", 4), "device-secret-0123456789"),
		MOSQ_ERR_SUCCESS);
	/* a device's notices and retained presence say so */
	assert_pub(
		"rooms/lobby/sys/joined", 2, "{\"user\":\"truck\",\"online\":3,\"device\":true}");
	p = fb_pub_on("rooms/lobby/presence/truck", 0);
	snprintf(want, sizeof(want), "{\"user\":\"truck\",\"since\":%lld,\"device\":true}",
		since_of(p));
	assert_string_equal(p->payload, want);
	up("c1", "carol");
	assert_pub("rooms/ops/sys/joined", 1, "{\"user\":\"carol\",\"online\":2}");
}

static void test_left_after_grace_with_counts(void **state)
{
	(void)state;
	struct mosquitto *a = up("a1", "alice");
	struct mosquitto *b = up("b1", "bob");
	const struct fb_pub *p;
	(void)a;
	fb_reset();
	fb_disconnect(b, false); /* clean, no will */
	before_grace();
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	after_grace();
	assert_pub(
		"rooms/lobby/sys/left", 0, "{\"user\":\"bob\",\"online\":1,\"reason\":\"clean\"}");
	/* the retained presence is cleared with an empty retained message */
	p = fb_pub_on("rooms/lobby/presence/bob", 0);
	assert_non_null(p);
	assert_int_equal(p->len, 0);
	assert_true(p->retain);
	p = fb_pub_on("users/bob/status", 0);
	assert_non_null(p);
	assert_true(p->retain);
	assert_non_null(strstr(p->payload, "{\"online\":false,\"reason\":\"clean\",\"at\":"));
	/* exactly one left */
	after_grace();
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 1);
}

/* The dashboard logs out, then closes its connection cleanly at once,
 * before the revocation sweep kicks it: the notice still says logout. */
static void test_clean_close_after_logout_says_logout(void **state)
{
	(void)state;
	static const char sid[] = "LLLLLLLLLLLLLLLLLLLLLl";
	struct mosquitto *b = fb_client("b1", "bob", 5);
	fx_session(h, sid, "bob", hc_now() + 3600, 0, NULL);
	assert_int_equal(fb_connect(b, fx_token(h, "mqtt", "bob", sid, hc_now(), hc_now() + 900)),
		MOSQ_ERR_SUCCESS);
	fb_reset();
	fx_session(h, sid, "bob", hc_now() + 3600, hc_now(), "logout");
	fb_disconnect(b, false); /* clean, before any sweep */
	after_grace();
	assert_pub(
		"rooms/lobby/sys/left", 0, "{\"user\":\"bob\",\"online\":0,\"reason\":\"logout\"}");
}

static void test_reason_network_when_the_will_went_out(void **state)
{
	(void)state;
	struct mosquitto *b = up("b1", "bob");
	snprintf(b->will_topic, sizeof(b->will_topic), "users/bob/status");
	fb_reset();
	fb_disconnect(b, true);
	assert_int_equal(fb_nwills, 1); /* last connection: the will may go */
	after_grace();
	assert_pub("rooms/lobby/sys/left", 0,
		"{\"user\":\"bob\",\"online\":0,\"reason\":\"network\"}");
}

static void test_reconnect_within_grace_no_churn(void **state)
{
	(void)state;
	struct mosquitto *b = up("b1", "bob");
	fb_reset();
	fb_disconnect(b, false);
	before_grace();
	up("b2", "bob");
	after_grace();
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	assert_int_equal(fb_count_pub("rooms/lobby/sys/joined"), 0);
	/* the status is said online again (a will may have said otherwise) */
	assert_non_null(fb_pub_on("users/bob/status", 0));
	assert_non_null(strstr(fb_pub_on("users/bob/status", 0)->payload, "\"online\":true"));
}

static void test_two_connections_one_presence(void **state)
{
	(void)state;
	struct mosquitto *a1 = up("a1", "alice");
	struct mosquitto *a2 = up("a2", "alice");
	assert_int_equal(fb_count_pub("rooms/lobby/sys/joined"), 1);
	fb_reset();
	fb_disconnect(a1, false);
	after_grace();
	assert_int_equal(fb_npubs, 0);
	fb_disconnect(a2, false);
	after_grace();
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 1);
	assert_int_equal(fb_count_pub("rooms/ops/sys/left"), 1);
}

static void test_kicked_is_immediate(void **state)
{
	(void)state;
	struct mosquitto *b = up("b1", "bob");
	fb_reset();
	hauth_revoke__kick(h, hauth_clients__find(h, b), "kicked");
	assert_true(fb_was_kicked("b1"));
	assert_pub(
		"rooms/lobby/sys/left", 0, "{\"user\":\"bob\",\"online\":0,\"reason\":\"kicked\"}");
}

static void test_will_ok(void **state)
{
	(void)state;
	struct mosquitto *a1 = up("a1", "alice");
	struct mosquitto *a2 = up("a2", "alice");
	snprintf(a1->will_topic, sizeof(a1->will_topic), "users/alice/status");
	snprintf(a2->will_topic, sizeof(a2->will_topic), "users/alice/status");
	fb_disconnect(a1, true);
	assert_int_equal(fb_nwills, 0); /* a2 lives: "offline" would be a lie */
	fb_disconnect(a2, true);
	assert_int_equal(fb_nwills, 1);
	/* a gone connection can do nothing else */
	assert_int_equal(fb_acl(a1, "rooms/lobby/ev/x/alice", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
	/* unless it left a stored session: deliveries are queued for that
	 * at once, not only once the entry is reaped */
	a1->persistent = true;
	assert_int_equal(fb_acl(a1, "rooms/lobby/ev/x/alice", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(a1, "rooms/ops/ev/x/carol", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(a1, "rooms/secret/ev/x/carol", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
}

/* Only users/{name}/status is held back: a will on any other topic goes
 * out as in plain mosquitto, with other connections live and on a
 * takeover (still subject to the WRITE rule). */
static void test_other_wills_go_out(void **state)
{
	(void)state;
	struct mosquitto *a1 = up("a1", "alice");
	struct mosquitto *a2 = up("a2", "alice");
	struct mosquitto *old, *bad;
	snprintf(a1->will_topic, sizeof(a1->will_topic), "rooms/lobby/ev/gone/alice");
	fb_disconnect(a1, true);
	assert_int_equal(fb_nwills, 1);
	old = up("a2", "alice"); /* takes over a2 */
	snprintf(a2->will_topic, sizeof(a2->will_topic), "rooms/ops/ev/gone/alice");
	fb_takeover(a2);
	assert_int_equal(fb_nwills, 2);
	assert_string_equal(fb_wills[1], "rooms/ops/ev/gone/alice");
	bad = up("b1", "bob"); /* bob only reads the lobby */
	snprintf(bad->will_topic, sizeof(bad->will_topic), "rooms/lobby/ev/gone/bob");
	fb_disconnect(bad, true);
	assert_int_equal(fb_nwills, 2);
	assert_true(old->connected);
}

/* A persistent session outlives its connection in the same broker
 * context: until the ended entry is reaped, messages queued for the
 * session are judged like any offline session's (allowed by room level),
 * not refused as "a gone connection" (which dropped them). */
static void test_gone_persistent_session_still_queues(void **state)
{
	(void)state;
	struct mosquitto *p = fb_client("phone-p", "alice", 5);
	const char *tok =
		fx_token(h, "mqtt", "alice", "SSSSSSSSSSSSSSSSSSSSSs", hc_now(), hc_now() + 900);
	p->persistent = true;
	assert_int_equal(fb_connect(p, tok), MOSQ_ERR_SUCCESS);
	fb_disconnect(p, true);
	assert_int_equal(fb_acl(p, "rooms/lobby/ev/x/bob", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(p, "rooms/annex/ev/x/bob", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
	after_grace();
	assert_int_equal(fb_acl(p, "rooms/lobby/ev/x/bob", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
}

static void test_will_held_back_on_session_takeover(void **state)
{
	(void)state;
	/* mosquitto's takeover: the new connection (same client id) has been
	 * authorised when the old one's will is sent, before the old one's
	 * DISCONNECT; the user stays online, so that will must not go out
	 * (it would leave users/alice/status retained "offline") */
	struct mosquitto *old = up("phone", "alice");
	struct mosquitto *new;
	snprintf(old->will_topic, sizeof(old->will_topic), "users/alice/status");
	new = up("phone", "alice");
	fb_takeover(old);
	assert_int_equal(fb_nwills, 0);
	after_grace();
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	assert_true(new->connected);
}

static void test_membership_change_while_online(void **state)
{
	(void)state;
	struct hc_change chg = {.type = HC_CHG_LEVEL};
	up("b1", "bob");
	up("c1", "carol");
	fb_reset();
	fx_level(h, "ops", "bob", HC_LEVEL_READ);
	snprintf(chg.room, sizeof(chg.room), "ops");
	snprintf(chg.principal, sizeof(chg.principal), "bob");
	chg.level = HC_LEVEL_READ;
	hauth_presence__change(h, &chg);
	assert_pub("rooms/ops/sys/joined", 0, "{\"user\":\"bob\",\"online\":2}");
	assert_non_null(fb_pub_on("rooms/ops/presence/bob", 0));
	/* bob hears of it himself, on his own topic, not retained */
	assert_pub("users/bob/sys/rooms", 0, "{\"room\":\"ops\",\"level\":\"read\"}");
	assert_false(fb_pub_on("users/bob/sys/rooms", 0)->retain);
	assert_int_equal(fb_count_pub("users/carol/sys/rooms"), 0);
	/* a level change: no presence churn, one notice */
	fb_reset();
	fx_level(h, "ops", "bob", HC_LEVEL_WRITE);
	chg.level = HC_LEVEL_WRITE;
	hauth_presence__change(h, &chg);
	assert_int_equal(fb_count_pub("rooms/ops/sys/joined"), 0);
	assert_int_equal(fb_count_pub("rooms/ops/sys/left"), 0);
	assert_pub("users/bob/sys/rooms", 0, "{\"room\":\"ops\",\"level\":\"write\"}");
	assert_int_equal(fb_count_pub("users/bob/sys/rooms"), 1);
	/* the same level again (a repeated grant): nothing */
	fb_reset();
	hauth_presence__change(h, &chg);
	assert_int_equal(fb_count_pub("users/bob/sys/rooms"), 0);
	fb_reset();
	hc_dir_set_level(h->dir, "ops", "bob", HC_LEVEL_NONE);
	chg.level = HC_LEVEL_NONE;
	hauth_presence__change(h, &chg);
	assert_pub(
		"rooms/ops/sys/left", 0, "{\"user\":\"bob\",\"online\":1,\"reason\":\"kicked\"}");
	assert_int_equal(fb_pub_on("rooms/ops/presence/bob", 0)->len, 0);
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	assert_pub("users/bob/sys/rooms", 0, "{\"room\":\"ops\",\"level\":null}");
	assert_int_equal(fb_count_pub("users/carol/sys/rooms"), 0);
}

/* Connects and disconnects tell nobody about rooms; a device's membership
 * changes tell nobody either (nothing of it listens). */
static void test_rooms_notice_only_on_changes_of_users(void **state)
{
	(void)state;
	struct hc_change chg = {.type = HC_CHG_LEVEL};
	struct mosquitto *b = up("b1", "bob");
	assert_int_equal(fb_connect(fb_client("t1", "truck", 4), "device-secret-0123456789"),
		MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_count_pub("users/bob/sys/rooms"), 0);
	fx_level(h, "ops", "truck", HC_LEVEL_WRITE);
	snprintf(chg.room, sizeof(chg.room), "ops");
	snprintf(chg.principal, sizeof(chg.principal), "truck");
	chg.level = HC_LEVEL_WRITE;
	hauth_presence__change(h, &chg);
	assert_pub("rooms/ops/sys/joined", 0, "{\"user\":\"truck\",\"online\":1,\"device\":true}");
	assert_int_equal(fb_count_pub("users/truck/sys/rooms"), 0);
	/* a room deleted: its online members leave it, users hear of it */
	fb_reset();
	hc_dir_del_room(h->dir, "lobby");
	chg.type = HC_CHG_ROOM_DEL;
	snprintf(chg.room, sizeof(chg.room), "lobby");
	chg.principal[0] = '\0';
	hauth_presence__change(h, &chg);
	assert_pub("users/bob/sys/rooms", 0, "{\"room\":\"lobby\",\"level\":null}");
	assert_int_equal(fb_count_pub("users/truck/sys/rooms"), 0);
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 2);
	fb_reset();
	fb_disconnect(b, false);
	after_grace();
	assert_int_equal(fb_count_pub("users/bob/sys/rooms"), 0);
}

static void test_stale_presence_reset_on_first_tick(void **state)
{
	(void)state;
	/* a fresh plugin clears the retained presence of every member, since
	 * persistence may have kept a previous run's */
	fb_plugin_stop();
	h = fb_plugin_start(NULL);
	fx_user(h, "alice");
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	fb_tick();
	assert_non_null(fb_pub_on("rooms/lobby/presence/alice", 0));
	assert_int_equal(fb_pub_on("rooms/lobby/presence/alice", 0)->len, 0);
	/* and the hub's retained status of every principal, which said
	 * online:true when the broker stopped (the comment in presence.c says
	 * so; reset_stale does not do it) */
	assert_non_null(fb_pub_on("users/alice/status", 0));
}

static void test_reused_context_leaves_nothing_behind(void **state)
{
	(void)state;
	/* mosquitto frees a context one loop pass after its DISCONNECT and the
	 * next calloc of that size may return the same address; the plugin
	 * keys connections by that pointer and reaps gone ones only every
	 * 100 ms, so a new connection can arrive on the address of a gone
	 * entry that is still in the table */
	struct mosquitto *ctx = up("b1", "bob");
	const char *tok;
	fb_disconnect(ctx, false);
	/* the broker reuses the memory for carol's connection */
	snprintf(ctx->id, sizeof(ctx->id), "c1");
	snprintf(ctx->username, sizeof(ctx->username), "carol");
	tok = fx_token(h, "mqtt", "carol", "SSSSSSSSSSSSSSSSSSSSSs", hc_now(), hc_now() + 900);
	assert_int_equal(fb_connect(ctx, tok), MOSQ_ERR_SUCCESS);
	after_grace(); /* bob's left goes out; the gone entry is reaped */
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 1);
	hauth_clients__reap(h, hc_mono_ms() + 5000);
	/* bob has no connection left: no entry may stay in his list (a stale
	 * one lost from the table is never reaped, never freed, and its will
	 * flag colours bob's later "clean" ends as "network") */
	{
		struct hauth_principal *p = hauth_clients__principal(h, "bob");
		assert_true(p == NULL || p->clients == NULL);
	}
	assert_int_equal(h->clients.count, 1); /* carol's */
}

static void test_reused_context_same_principal(void **state)
{
	(void)state;
	/* the same principal back on the address of its own gone entry: the
	 * hub's service (never announced, so no presence work keeps its
	 * record) and a user within the grace */
	struct mosquitto *ctx = fb_client("hub-1", "$hub", 5);
	char tok[1100];
	snprintf(tok, sizeof(tok), "%s",
		fx_token(h, "service", "$hub", "service", hc_now(), hc_now() + 60));
	assert_int_equal(fb_connect(ctx, tok), MOSQ_ERR_SUCCESS);
	fb_disconnect(ctx, false);
	assert_int_equal(fb_connect(ctx, tok), MOSQ_ERR_SUCCESS);
	assert_non_null(hauth_clients__principal(h, "$hub"));
	assert_int_equal(hauth_clients__principal(h, "$hub")->live, 1);
	fb_disconnect(ctx, false);
	hauth_clients__reap(h, hc_mono_ms() + 5000);

	ctx = up("b1", "bob");
	fb_disconnect(ctx, false);
	snprintf(tok, sizeof(tok), "%s",
		fx_token(h, "mqtt", "bob", "SSSSSSSSSSSSSSSSSSSSSs", hc_now(), hc_now() + 900));
	assert_int_equal(fb_connect(ctx, tok), MOSQ_ERR_SUCCESS);
	after_grace();
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	assert_int_equal(hauth_clients__principal(h, "bob")->live, 1);
	assert_non_null(hauth_clients__principal(h, "bob")->clients);
	assert_null(hauth_clients__principal(h, "bob")->clients->next);
}

static void test_gateway_reattach_within_grace(void **state)
{
	(void)state;
	/* a Socket.IO socket (a virtual connection the gateway reports on
	 * $hub/presence/attach|detach) that drops and comes back at once, as
	 * Engine.IO does on an upgrade or a reconnect: no churn, and bob is
	 * online afterwards */
	struct mosquitto *gw = fb_client("hub-bridge", "$hub", 5);
	const char *att =
		"{\"conn\":\"s1\",\"principal\":\"bob\",\"sid\":\"SSSSSSSSSSSSSSSSSSSSSs\"}";
	assert_int_equal(
		fb_connect(gw, fx_token(h, "service", "$hub", "service", hc_now(), hc_now() + 60)),
		MOSQ_ERR_SUCCESS);
	fb_message(gw, "$hub/presence/attach", att);
	assert_pub("rooms/lobby/sys/joined", 0, "{\"user\":\"bob\",\"online\":1}");
	fb_reset();
	fb_message(gw, "$hub/presence/detach", "{\"conn\":\"s1\",\"reason\":\"network\"}");
	fb_message(gw, "$hub/presence/attach", att); /* before the 100 ms reap */
	after_grace();
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	{
		struct hauth_principal *p = hauth_clients__principal(h, "bob");
		assert_non_null(p);
		assert_int_equal(p->live, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_joined_payloads_and_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_left_after_grace_with_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_reason_network_when_the_will_went_out, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_clean_close_after_logout_says_logout, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_reconnect_within_grace_no_churn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_connections_one_presence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kicked_is_immediate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_will_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_wills_go_out, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_gone_persistent_session_still_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_will_held_back_on_session_takeover, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_membership_change_while_online, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_rooms_notice_only_on_changes_of_users, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stale_presence_reset_on_first_tick, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_reused_context_leaves_nothing_behind, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_reused_context_same_principal, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_gateway_reattach_within_grace, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
