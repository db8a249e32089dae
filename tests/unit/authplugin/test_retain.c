/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so retained messages (authplugin/retain.c) through the fake
 * broker: bounds per room and per writing identity (count and bytes; a
 * replacement gives back what it replaces, a deletion is always let
 * through, the hub's services are not bounded as writers), and clearing
 * what a deleted or re-created room or identity left retained, including
 * the hub's own statuses. Persistence over a broker restart:
 * test_broker_retained.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_broker.h"
#include "hauth.h"
#include "hauth_presence.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <string.h>

#define SID  "AAAAAAAAAAAAAAAAAAAAAa"
#define SID2 "AAAAAAAAAAAAAAAAAAAAAb"

static struct hauth *h;
static struct mosquitto *alice, *bob;

static struct mosquitto *up(const char *id, const char *user, const char *sid)
{
	struct mosquitto *c = fb_client(id, user, 5);
	int64_t now = hc_now();
	assert_int_equal(
		fb_connect(c, fx_token(h, "mqtt", user, sid, now, now + 600)), MOSQ_ERR_SUCCESS);
	return c;
}

static int setup(void **state)
{
	(void)state;
	h = fb_plugin_start("retained_room_max = 4\n"
			    "retained_room_bytes = 100000\n"
			    "retained_identity_max = 3\n"
			    "retained_identity_bytes = 1100\n"
			    "presence_grace_ms = 0");
	fx_user_at(h, "alice", 100);
	fx_user_at(h, "bob", 200);
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	fx_level(h, "lobby", "bob", HC_LEVEL_WRITE);
	fx_session(h, SID, "alice", hc_now() + 3600, 0, NULL);
	fx_session(h, SID2, "bob", hc_now() + 3600, 0, NULL);
	fb_tick(); /* first tick: reconciled with the directory */
	alice = up("a", "alice", SID);
	bob = up("b", "bob", SID2);
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

/* An empty retained publish of topic by the plugin (a clear). */
static bool cleared(const char *topic)
{
	for (int i = 0; i < fb_npubs; i++)
		if (!strcmp(fb_pubs[i].topic, topic) && fb_pubs[i].retain && fb_pubs[i].len == 0)
			return true;
	return false;
}

static void change(int type, const char *name)
{
	struct hc_change c;
	memset(&c, 0, sizeof(c));
	c.type = type;
	snprintf(c.room, sizeof(c.room), "%s", name);
	snprintf(c.p.name, sizeof(c.p.name), "%s", name);
	hauth_retain__change(h, &c);
}

static void test_identity_bounds(void **state)
{
	(void)state;
	char big[600];
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/a/alice", "1"), 0);
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/b/alice", "1"), 0);
	assert_int_equal(fb_message_retained(alice, "users/bob/inbox/x/alice", "1"), 0);
	/* a fourth one: over alice's count */
	assert_int_equal(
		fb_message_retained(alice, "rooms/lobby/ev/c/alice", "1"), MOSQ_ERR_ACL_DENIED);
	assert_non_null(strstr(fb_last_log, "retained quota of the identity"));
	/* replacing one of hers is no new one; deleting one frees a place */
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/a/alice", "22"), 0);
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/b/alice", ""), 0);
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/c/alice", "1"), 0);
	/* bytes: 1100 per identity (topic + payload) */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(fb_message_retained(bob, "rooms/lobby/ev/big/bob", big), 0);
	assert_int_equal(
		fb_message_retained(bob, "rooms/lobby/ev/big2/bob", big), MOSQ_ERR_ACL_DENIED);
	/* not retained: never bounded */
	assert_int_equal(fb_message(bob, "rooms/lobby/ev/big2/bob", big), 0);
}

static void test_room_bounds(void **state)
{
	(void)state;
	struct mosquitto *svc = fb_client("hubd", "$hub", 5);
	assert_int_equal(
		fb_connect(svc, fx_token(h, "service", "$hub", "service", hc_now(), hc_now() + 60)),
		MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/a/alice", "1"), 0);
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/b/alice", "1"), 0);
	assert_int_equal(fb_message_retained(bob, "rooms/lobby/ev/a/bob", "1"), 0);
	/* the hub's services are not bounded as writers, rooms still are */
	assert_int_equal(fb_message_retained(svc, "rooms/lobby/ev/n/hub", "1"), 0);
	assert_int_equal(
		fb_message_retained(bob, "rooms/lobby/ev/b/bob", "1"), MOSQ_ERR_ACL_DENIED);
	assert_non_null(strstr(fb_last_log, "retained quota of the room"));
	assert_int_equal(
		fb_message_retained(svc, "rooms/lobby/ev/m/hub", "1"), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_message_retained(bob, "users/alice/inbox/x/bob", "1"), 0);
}

static void test_room_deleted_or_created_again(void **state)
{
	(void)state;
	fx_level(h, "ops", "alice", HC_LEVEL_WRITE);
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/a/alice", "1"), 0);
	assert_int_equal(fb_message_retained(alice, "rooms/ops/ev/a/alice", "1"), 0);
	fb_reset();
	/* ops created again (another creation time): lobby untouched */
	hc_dir_put_room_at(h->dir, "ops", 777);
	change(HC_CHG_ROOM, "ops");
	assert_true(cleared("rooms/ops/ev/a/alice"));
	assert_false(cleared("rooms/lobby/ev/a/alice"));
	/* the same room seen again (no new creation): nothing to clear */
	fb_reset();
	change(HC_CHG_ROOM, "lobby");
	assert_int_equal(fb_npubs, 0);
	/* lobby deleted */
	hc_dir_del_room(h->dir, "lobby");
	change(HC_CHG_ROOM_DEL, "lobby");
	assert_true(cleared("rooms/lobby/ev/a/alice"));
	/* and alice may write retained again: her places were given back */
	for (int i = 0; i < 3; i++) {
		char t[64];
		snprintf(t, sizeof(t), "users/alice/inbox/x%d/alice", i);
		assert_int_equal(fb_message_retained(alice, t, "1"), 0);
	}
}

static void test_identity_deleted_or_created_again(void **state)
{
	(void)state;
	/* what bob wrote, what is about him, what the hub keeps for him */
	assert_int_equal(fb_message_retained(alice, "users/bob/inbox/hi/alice", "1"), 0);
	assert_int_equal(fb_message_retained(bob, "rooms/lobby/ev/x/bob", "1"), 0);
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/x/alice", "1"), 0);
	fb_reset();
	fx_user_at(h, "bob", 999); /* deleted and created again */
	change(HC_CHG_PRINCIPAL, "bob");
	assert_true(cleared("users/bob/inbox/hi/alice"));
	assert_true(cleared("rooms/lobby/ev/x/bob"));
	assert_true(cleared("users/bob/status")); /* the hub's, from bob's connect */
	assert_false(cleared("rooms/lobby/ev/x/alice"));
	/* alice deleted: the hub's offline status that follows is cleared too */
	fb_reset();
	fx_del_principal(h, "alice");
	change(HC_CHG_PRINCIPAL_DEL, "alice");
	assert_true(cleared("rooms/lobby/ev/x/alice"));
	fb_reset();
	fb_disconnect(alice, false);
	fb_tick();
	hauth_presence__tick(h, hc_mono_ms() + 10000);
	assert_true(fb_count_pub("users/alice/status") >= 1);
	assert_true(cleared("users/alice/status"));
	{
		/* the last retained publish on users/alice/status is the clear */
		int last = -1;
		for (int i = 0; i < fb_npubs; i++)
			if (!strcmp(fb_pubs[i].topic, "users/alice/status"))
				last = i;
		assert_int_equal(fb_pubs[last].len, 0);
	}
}

/* bob leaves, and is deleted (then created again) before his left notice
 * is due: he leaves at the deletion, so the offline status comes before
 * the clear, and nothing of the old bob is written onto the new one. */
static void test_left_of_an_identity_deleted_in_its_grace(void **state)
{
	struct hc_change c;
	int last = -1, offline = -1;
	(void)state;
	fb_reset();
	fb_disconnect(bob, false); /* clean: its left notice waits for the tick */
	fx_del_principal(h, "bob");
	memset(&c, 0, sizeof(c));
	c.type = HC_CHG_PRINCIPAL_DEL;
	snprintf(c.p.name, sizeof(c.p.name), "bob");
	hauth_presence__change(h, &c); /* what the follower's callback does first */
	change(HC_CHG_PRINCIPAL_DEL, "bob");
	fx_user_at(h, "bob", 1000);
	change(HC_CHG_PRINCIPAL, "bob");
	fb_tick();
	hauth_presence__tick(h, hc_mono_ms() + 10000);
	for (int i = 0; i < fb_npubs; i++)
		if (!strcmp(fb_pubs[i].topic, "users/bob/status")) {
			last = i;
			if (strstr(fb_pubs[i].payload, "\"online\":false"))
				offline = i;
		}
	assert_true(offline >= 0);
	assert_true(last > offline);
	assert_int_equal(fb_pubs[last].len, 0);
}

/* Replacing one of the hub's own retained messages (the status it wrote
 * when alice connected) charges alice in full: it took nothing before. */
static void test_replacing_the_hubs_own(void **state)
{
	(void)state;
	assert_int_equal(fb_message_retained(alice, "users/alice/status", "{}"), 0);
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/a/alice", "1"), 0);
	assert_int_equal(fb_message_retained(alice, "rooms/lobby/ev/b/alice", "1"), 0);
	assert_int_equal(
		fb_message_retained(alice, "rooms/lobby/ev/c/alice", "1"), MOSQ_ERR_ACL_DENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_room_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replacing_the_hubs_own, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_room_deleted_or_created_again, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_identity_deleted_or_created_again, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_left_of_an_identity_deleted_in_its_grace, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
