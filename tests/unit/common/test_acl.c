/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the ACL decision (common/acl.c) and the directory it
 * decides on (common/dir.c). One directory, built by hand:
 *
 *   alice   user   lobby:write   role admin   owns truck1
 *   bob     user   lobby:read
 *   carol   user   (no rooms)
 *   mallory user   other:admin
 *   dave    user   (no rooms)                 owns truck2
 *   erin    user   fleet:read
 *   truck1  device fleet:write                owner alice
 *   truck2  device (no rooms)                 owner dave
 *
 * and tables of {principal, topic, access, allow} covering every row of the
 * contract's Topics table for READ, WRITE and SUBSCRIBE, the topic edge
 * cases (empty levels, $ topics, $share, 65535 bytes, UTF-8, NUL, depth,
 * odd identities), the directory's mutations and counters, and the same
 * decisions from a directory loaded out of a real store.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_acl.h"
#include "hc_err.h"
#include "hc_store.h"
#include "testutil.h"

#include <limits.h>
#include <openssl/sha.h>

#define R HC_ACL_READ
#define W HC_ACL_WRITE
#define S HC_ACL_SUBSCRIBE
#define U HC_ACL_UNSUBSCRIBE

#define HASH64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* ------------------------------------------------------------ directory */

static void put(
	struct hc_acl_dir *d, const char *name, int kind, const char *owner, const char *role)
{
	struct hc_principal p;
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.kind = kind;
	snprintf(p.role, sizeof(p.role), "%s", role ? role : "user");
	snprintf(p.owner, sizeof(p.owner), "%s", owner ? owner : "");
	assert_int_equal(
		hc_dir_put_principal(d, &p, kind == HC_KIND_DEVICE ? HASH64 : NULL), HUB_OK);
}

static void level(struct hc_acl_dir *d, const char *room, const char *who, int lvl)
{
	assert_int_equal(hc_dir_set_level(d, room, who, lvl), HUB_OK);
}

static struct hc_acl_dir *build_dir(void)
{
	struct hc_acl_dir *d = NULL;
	assert_int_equal(hc_acl_dir_new(&d), HUB_OK);
	put(d, "alice", HC_KIND_USER, NULL, "admin");
	put(d, "bob", HC_KIND_USER, NULL, NULL);
	put(d, "carol", HC_KIND_USER, NULL, NULL);
	put(d, "mallory", HC_KIND_USER, NULL, NULL);
	put(d, "dave", HC_KIND_USER, NULL, NULL);
	put(d, "erin", HC_KIND_USER, NULL, NULL);
	put(d, "truck1", HC_KIND_DEVICE, "alice", NULL);
	put(d, "truck2", HC_KIND_DEVICE, "dave", NULL);
	assert_int_equal(hc_dir_put_room(d, "lobby"), HUB_OK);
	assert_int_equal(hc_dir_put_room(d, "other"), HUB_OK);
	assert_int_equal(hc_dir_put_room(d, "fleet"), HUB_OK);
	level(d, "lobby", "alice", HC_LEVEL_WRITE);
	level(d, "lobby", "bob", HC_LEVEL_READ);
	level(d, "other", "mallory", HC_LEVEL_ADMIN);
	level(d, "fleet", "truck1", HC_LEVEL_WRITE);
	level(d, "fleet", "erin", HC_LEVEL_READ);
	return d;
}

/* The same directory through the store, then hc_acl_dir_load. */
static struct hc_acl_dir *build_dir_from_store(const char *db)
{
	struct hc_store *st = NULL;
	struct hc_acl_dir *d = NULL;
	char err[256];
	assert_int_equal(hc_store_open(db, HC_STORE_RW, &st, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "alice", "", "admin", "$h"), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "bob", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "carol", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "mallory", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "dave", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "erin", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_device_add(st, "truck1", "alice", "", HASH64), HUB_OK);
	assert_int_equal(hc_store_device_add(st, "truck2", "dave", "", HASH64), HUB_OK);
	assert_int_equal(hc_store_room_add(st, "lobby"), HUB_OK);
	assert_int_equal(hc_store_room_add(st, "other"), HUB_OK);
	assert_int_equal(hc_store_room_add(st, "fleet"), HUB_OK);
	assert_int_equal(hc_store_grant(st, "lobby", "alice", HC_LEVEL_WRITE), HUB_OK);
	assert_int_equal(hc_store_grant(st, "lobby", "bob", HC_LEVEL_READ), HUB_OK);
	assert_int_equal(hc_store_grant(st, "other", "mallory", HC_LEVEL_ADMIN), HUB_OK);
	assert_int_equal(hc_store_grant(st, "fleet", "truck1", HC_LEVEL_WRITE), HUB_OK);
	assert_int_equal(hc_store_grant(st, "fleet", "erin", HC_LEVEL_READ), HUB_OK);
	assert_int_equal(hc_acl_dir_load(st, &d, err, sizeof(err)), HUB_OK);
	assert_non_null(d);
	{
		int64_t seq = -1;
		assert_int_equal(hc_store_change_seq(st, &seq), HUB_OK);
		assert_int_equal(d->seq, seq);
	}
	hc_store_close(st);
	return d;
}

/* A fresh hand-built directory per test, freed even when the test fails. */
static int dir_setup(void **state)
{
	*state = build_dir();
	return 0;
}

static int dir_teardown(void **state)
{
	hc_acl_dir_free(*state);
	return 0;
}

/* ----------------------------------------------------------------- cases */

struct acase {
	const char *who;
	const char *topic;
	int access;
	bool allow;
};

static const char *access_name(int a)
{
	switch (a) {
	case R:
		return "READ";
	case W:
		return "WRITE";
	case S:
		return "SUBSCRIBE";
	case U:
		return "UNSUBSCRIBE";
	default:
		return "?";
	}
}

/* Every row of the contract's Topics table, each access. */
static const struct acase contract_cases[] = {
	/* rooms/{room}/ev/{event}/{sender}: sender == self, write level */
	{"alice", "rooms/lobby/ev/chat message/alice", W, true},
	{"alice", "rooms/lobby/ev/chat/bob", W, false}, /* sender is not self */
	{"bob", "rooms/lobby/ev/chat/bob", W, false},	/* read level only */
	{"bob", "rooms/lobby/ev/chat/alice", W, false},
	{"carol", "rooms/lobby/ev/chat/carol", W, false},    /* not a member */
	{"mallory", "rooms/other/ev/chat/mallory", W, true}, /* admin includes write */
	{"mallory", "rooms/lobby/ev/chat/mallory", W, false},
	{"alice", "rooms/other/ev/chat/alice", W, false},
	{"alice", "rooms/nosuch/ev/chat/alice", W, false},
	{"truck1", "rooms/fleet/ev/position/truck1", W, true}, /* devices are members too */
	{"erin", "rooms/fleet/ev/chat/erin", W, false},
	{"alice", "rooms/fleet/ev/chat/alice", W, false}, /* owning a member is not membership */
	{"bob", "rooms/lobby/ev/chat message/alice", R, true},
	{"alice", "rooms/lobby/ev/chat/bob", R, true},
	{"alice", "rooms/lobby/ev/chat/alice", R, true},
	{"carol", "rooms/lobby/ev/chat/alice", R, false},
	{"mallory", "rooms/lobby/ev/chat/alice", R, false},
	{"mallory", "rooms/other/ev/x/mallory", R, true},
	{"erin", "rooms/fleet/ev/position/truck1", R, true},
	{"alice", "rooms/fleet/ev/position/truck1", R, false},
	{"truck1", "rooms/fleet/ev/chat/erin", R, true},
	{"truck2", "rooms/fleet/ev/chat/erin", R, false},
	{"bob", "rooms/lobby/ev/chat/nobody", R, true}, /* any well-formed sender */
	/* rooms/{room}/sys/{notice}: the hub only; members read */
	{"alice", "rooms/lobby/sys/joined", W, false},
	{"mallory", "rooms/other/sys/joined", W, false},
	{"bob", "rooms/lobby/sys/joined", W, false},
	{"bob", "rooms/lobby/sys/joined", R, true},
	{"alice", "rooms/lobby/sys/left", R, true},
	{"carol", "rooms/lobby/sys/joined", R, false},
	{"mallory", "rooms/lobby/sys/joined", R, false},
	{"erin", "rooms/fleet/sys/left", R, true},
	/* rooms/{room}/presence/{user}: the hub only; members read */
	{"alice", "rooms/lobby/presence/alice", W, false},
	{"bob", "rooms/lobby/presence/bob", W, false},
	{"bob", "rooms/lobby/presence/alice", R, true},
	{"carol", "rooms/lobby/presence/alice", R, false},
	{"erin", "rooms/fleet/presence/truck1", R, true},
	{"alice", "rooms/fleet/presence/truck1", R, false},
	/* users/{user}/inbox/{event}/{sender}: room-mates write as themselves,
	 * the owner reads */
	{"alice", "users/alice/inbox/dm/bob", R, true},
	{"bob", "users/alice/inbox/dm/bob", R, false},
	{"carol", "users/alice/inbox/dm/bob", R, false},
	{"truck1", "users/alice/inbox/dm/bob", R, false}, /* not even her device */
	{"bob", "users/alice/inbox/dm/bob", W, true},
	{"alice", "users/bob/inbox/dm/alice", W, true},
	{"bob", "users/alice/inbox/dm/alice", W, false}, /* sender must be self */
	{"bob", "users/alice/inbox/dm/carol", W, false},
	{"carol", "users/alice/inbox/dm/carol", W, false}, /* shares no room */
	{"mallory", "users/alice/inbox/dm/mallory", W, false},
	{"alice", "users/erin/inbox/dm/alice", W, false},
	{"alice", "users/nobody/inbox/dm/alice", W, false},
	{"erin", "users/erin/inbox/note/erin", W, true}, /* to oneself */
	/* users/{user}/status: the user writes; room-mates read */
	{"alice", "users/alice/status", W, true},
	{"bob", "users/alice/status", W, false},
	{"carol", "users/carol/status", W, true},
	{"truck1", "users/truck1/status", W, true}, /* a device's last will */
	{"alice", "users/truck1/status", W, false},
	{"bob", "users/alice/status", R, true},
	{"alice", "users/bob/status", R, true},
	{"alice", "users/alice/status", R, true},
	{"carol", "users/alice/status", R, false},
	{"carol", "users/carol/status", R, true},
	{"erin", "users/alice/status", R, false},
	{"erin", "users/truck1/status", R, true},
	{"truck1", "users/erin/status", R, true},
	{"mallory", "users/alice/status", R, false},
	{"dave", "users/truck2/status", R, true},  /* its owner, in no room */
	{"dave", "users/truck1/status", R, false}, /* not his */
	{"dave", "users/truck2/status", W, false},
	{"alice", "users/nobody/status", R, false},
	/* an admin reads every device's status, not users' */
	{"alice", "users/truck2/status", R, true},
	{"alice", "users/truck2/status", W, false},
	{"alice", "users/dave/status", R, false},
	{"alice", "users/carol/status", R, false},
	{"bob", "users/truck2/status", R, false},
	/* users/{user}/sys/{notice}: the hub's notices to one principal */
	{"alice", "users/alice/sys/rooms", R, true},
	{"bob", "users/alice/sys/rooms", R, false},
	{"truck1", "users/alice/sys/rooms", R, false},
	{"alice", "users/alice/sys/rooms", W, false},
	{"alice", "users/bob/sys/rooms", R, false}, /* not even an admin */
	{"truck1", "users/truck1/sys/rooms", R, true},
	{"alice", "users/alice/sys/a+b", R, false},
	{"alice", "users/alice/sys", R, false},
	{"alice", "users/alice/sys/rooms/x", R, false},
	{"$hub", "users/alice/sys/rooms", W, true},
	/* owntracks/{device}/{name}[/event|/cmd]: only that device writes; the
	 * device, its owner and readers of its rooms read */
	{"truck1", "owntracks/truck1/truck1", W, true},
	{"truck1", "owntracks/truck1/phone/event", W, true},
	{"truck1", "owntracks/truck1/phone/cmd", W, true},
	{"alice", "owntracks/truck1/truck1", W, false}, /* not the owner user */
	{"alice", "owntracks/alice/phone", W, false},	/* users are not devices */
	{"truck2", "owntracks/truck1/truck1", W, false},
	{"erin", "owntracks/truck1/truck1", W, false},
	{"dave", "owntracks/truck2/truck2", W, false},
	{"truck2", "owntracks/truck2/truck2", W, true},
	{"truck1", "owntracks/truck1/truck1", R, true},
	{"alice", "owntracks/truck1/truck1", R, true}, /* owner */
	{"alice", "owntracks/truck1/phone/event", R, true},
	{"erin", "owntracks/truck1/truck1", R, true}, /* reads fleet */
	{"erin", "owntracks/truck1/phone/cmd", R, true},
	{"carol", "owntracks/truck1/truck1", R, false},
	{"bob", "owntracks/truck1/truck1", R, false},
	{"mallory", "owntracks/truck1/truck1", R, false},
	{"dave", "owntracks/truck1/truck1", R, false},
	{"dave", "owntracks/truck2/x", R, true},
	{"truck2", "owntracks/truck2/x", R, true},
	/* an admin sees every device's location (and nothing deeper) */
	{"alice", "owntracks/truck2/x", R, true},
	{"alice", "owntracks/truck2/x/event", R, false},
	{"alice", "owntracks/truck2/x/cmd", R, false},
	{"alice", "owntracks/truck2/x/info", R, false},
	{"alice", "owntracks/truck2/x", W, false},
	{"alice", "owntracks/dave/x", R, false}, /* users are not devices */
	{"erin", "owntracks/truck2/x", R, false},
	{"truck1", "owntracks/truck2/x", R, false},
	{"truck2", "owntracks/truck1/x", R, false},
	{"alice", "owntracks/alice/phone", R, false},
	{"alice", "owntracks/nosuch/x", R, false},
	{"alice", "owntracks/truck1", R, false},	/* too short for the layout */
	{"alice", "owntracks/truck1/a/b/c/d", R, true}, /* deepest accepted */
	{"alice", "owntracks/truck1/a/b/c/d/e", R, false},
	/* the hub's own identity may do everything */
	{"$hub", "rooms/lobby/sys/joined", W, true},
	{"$hub", "rooms/lobby/presence/alice", W, true},
	{"$hub", "users/alice/inbox/notice/$hub", W, true},
	{"$hub", "users/alice/status", W, true},
	{"$hub", "owntracks/truck1/truck1", R, true},
	{"$hub", "rooms/lobby/ev/chat/alice", R, true},
	{"$hub", "#", S, true},
	{"$hub", "$SYS/#", S, true},
	/* unknown principals: nothing, except leaving */
	{"zed", "rooms/lobby/ev/chat/zed", W, false},
	{"zed", "rooms/lobby/ev/chat/alice", R, false},
	{"zed", "users/zed/status", W, false},
	{"zed", "users/zed/inbox/#", S, false},
	{"zed", "#", S, false},
	{"zed", "rooms/lobby/#", U, true},
	{"", "users//status", R, false},
	/* unsubscribe is always allowed */
	{"carol", "rooms/lobby/#", U, true},
	{"bob", "#", U, true},
	{"bob", "$SYS/#", U, true},
	{"bob", "a//b/+/#/x", U, true},
};

/* Topic-level edge cases (publish/read path compares a topic). */
static const struct acase topic_cases[] = {
	{"alice", "rooms//ev/x/alice", W, false},
	{"bob", "rooms//ev/x/alice", R, false},
	{"alice", "rooms/lobby/ev/x/alice/", W, false},
	{"bob", "rooms/lobby/ev/x/alice/", R, false},
	{"alice", "rooms/lobby/ev//alice", W, false},
	{"alice", "rooms/lobby/ev/x/", W, false},
	{"alice", "/rooms/lobby/ev/x/alice", W, false},
	{"alice", "rooms/lobby//ev/x/alice", W, false},
	{"bob", "rooms/lobby/sys/", R, false},
	{"bob", "rooms/lobby/presence/", R, false},
	{"bob", "users/bob/status/", R, false},
	{"alice", "/", W, false},
	{"alice", "//", R, false},
	{"alice", "", W, false},
	{"alice", "", R, false},
	/* $ topics */
	{"bob", "$SYS/broker/uptime", R, false},
	{"bob", "$SYS/broker/uptime", W, false},
	{"alice", "$hub/rooms/lobby/ev/x/alice", W, false},
	{"bob", "$share/g/rooms/lobby/ev/x/alice", R, false}, /* not a topic */
	/* wildcards have no place in a published or delivered topic */
	{"alice", "rooms/lobby/ev/+/alice", W, false},
	{"alice", "rooms/lobby/ev/x/+", W, false},
	{"alice", "rooms/lobby/ev/#", W, false},
	{"alice", "rooms/+/ev/x/alice", W, false},
	{"alice", "rooms/lobby/ev/x+y/alice", W, false},
	{"alice", "rooms/lobby/ev/a#/alice", W, false},
	{"bob", "rooms/lobby/ev/x/#", R, false},
	{"bob", "rooms/lobby/#", R, false},
	{"alice", "users/+/status", W, false},
	{"truck1", "owntracks/truck1/#", W, false},
	{"truck1", "owntracks/truck1/+", W, false},
	{"alice", "#", R, false},
	/* wrong shapes and depth */
	{"alice", "rooms/lobby/ev/a/b/alice", W, false},
	{"alice", "rooms/lobby/ev/alice", W, false},
	{"alice", "rooms/lobby", R, false},
	{"alice", "rooms/lobby/ev", R, false},
	{"alice", "rooms", R, false},
	{"alice", "rooms/lobby/other/x/alice", W, false},
	{"bob", "rooms/lobby/sys/joined/x", R, false},
	{"bob", "users/alice/status/x", R, false},
	{"alice", "users/alice/inbox/x", R, false},
	{"alice", "users/alice/inbox/x/y/z", R, false},
	{"alice", "users/alice", R, false},
	{"alice", "a/b/c/d/e/f/g/h", R, false},
	{"alice", "a/b/c/d/e/f/g/h/i", R, false},
	{"alice", "rooms/lobby/ev/x/alice/a/b/c/d/e/f", W, false},
	{"alice", "owntracks/truck1/a/b/c/d/e/f/g/h/i/j", R, false},
	/* names and events in levels */
	{"alice", "rooms/lob by/ev/x/alice", W, false},
	{"alice", "rooms/LOBBY/ev/x/alice", W, false},
	{"alice", "rooms/lobby/ev/x/Alice", W, false},
	{"alice", "rooms/lobby/EV/x/alice", W, false},
	{"alice", "Rooms/lobby/ev/x/alice", W, false},
	{"bob", "rooms/lobby/ev/x/not a name", R, false},
	{"bob", "rooms/lobby/presence/not a name", R, false},
	{"bob", "rooms/lobby/sys/with space", R, true}, /* notices are event-like */
	{"alice", "rooms/lobby/ev/caf\xc3\xa9/alice", W, true},
	{"alice", "rooms/lobby/ev/\xf0\x9f\x9a\x9a/alice", W, true},
	{"alice", "rooms/lobby/ev/a\nb/alice", W, false}, /* control character */
	{"alice", "rooms/lobby/ev/a\x7f/alice", W, false},
	{"alice", "rooms/lobby/ev/\xff/alice", W, false},   /* invalid UTF-8 */
	{"bob", "rooms/lobby/ev/\xc0\xaf/alice", R, false}, /* overlong '/' */
	{"bob", "rooms/lobby/ev/\xed\xa0\x80/alice", R, false},
	{"bob", "rooms/lobby/ev/x\xe2\x82/alice", R, false},
	{"bob", "users/alice/status\xff", R, false},
	{"alice", "owntracks/truck1/\xf4\x90\x80\x80", R, false},
	{"alice", "owntracks/truck1/caf\xc3\xa9", R, true},
	{"alice",
		"rooms/lobby/ev/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee/"
		"alice",
		W, true}, /* 64-byte event */
	{"alice",
		"rooms/lobby/ev/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee/"
		"alice",
		W, false}, /* 65 bytes */
	{"alice",
		"rooms/rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr/ev/x/"
		"alice",
		W, false}, /* 65-byte room */
	/* unknown access bits */
	{"alice", "rooms/lobby/ev/x/alice", 0, false},
	{"alice", "rooms/lobby/ev/x/alice", R | W, false},
	{"alice", "rooms/lobby/ev/x/alice", 16, false},
};

/* Subscriptions (filter against topic shapes). */
static const struct acase filter_cases[] = {
	{"alice", "#", S, true},
	{"carol", "#", S, true}, /* could match carol's own inbox */
	{"truck2", "#", S, true},
	{"alice", "+/+/+", S, true},
	{"carol", "+/+/+", S, true}, /* users/carol/status */
	{"alice", "+/#", S, true},
	{"alice", "rooms/+/ev/#", S, true},
	{"bob", "rooms/+/ev/#", S, true},
	{"carol", "rooms/+/ev/#", S, true}, /* no room yet: a grant reaches it */
	{"dave", "rooms/+/ev/#", S, true},
	{"bob", "rooms/lobby/#", S, true},
	{"carol", "rooms/lobby/#", S, false},
	{"bob", "rooms/other/#", S, false},
	{"mallory", "rooms/other/#", S, true},
	{"mallory", "rooms/lobby/#", S, false},
	{"erin", "rooms/fleet/#", S, true},
	{"alice", "rooms/fleet/#", S, false},
	{"bob", "rooms/#", S, true},
	{"carol", "rooms/#", S, true},
	{"bob", "rooms/lobby/ev/#", S, true},
	{"bob", "rooms/lobby/ev/+/+", S, true},
	{"bob", "rooms/lobby/ev/chat/alice", S, true},
	{"bob", "rooms/lobby/ev/+/alice", S, true},
	{"bob", "rooms/lobby/ev/+/+/+", S, false},
	{"bob", "rooms/lobby/sys/+", S, true},
	{"bob", "rooms/lobby/presence/+", S, true},
	{"carol", "rooms/lobby/presence/+", S, false},
	{"bob", "+/lobby/#", S, true},
	{"carol", "+/lobby/#", S, false},
	{"bob", "users/+/status", S, true},
	{"carol", "users/+/status", S, true}, /* own status */
	{"bob", "users/alice/status", S, true},
	{"carol", "users/alice/status", S, false},
	{"erin", "users/alice/status", S, false},
	{"carol", "users/carol/status", S, true},
	{"alice", "users/alice/inbox/#", S, true},
	{"bob", "users/alice/inbox/#", S, false},
	{"alice", "users/alice/inbox/+/+", S, true},
	{"alice", "users/alice/inbox/dm/bob", S, true},
	{"bob", "users/alice/inbox/dm/bob", S, false},
	{"bob", "users/alice/#", S, true}, /* alice's status */
	{"carol", "users/alice/#", S, false},
	{"alice", "owntracks/+/+", S, true},  /* via truck1, owned */
	{"erin", "owntracks/+/+", S, true},   /* via fleet */
	{"dave", "owntracks/+/+", S, true},   /* via truck2, owned */
	{"truck2", "owntracks/+/+", S, true}, /* itself */
	{"truck1", "owntracks/+/+", S, true},
	{"carol", "owntracks/+/+", S, true}, /* none yet: a delivery reaches it */
	{"bob", "owntracks/+/+", S, true},   /* lobby holds no device yet */
	{"mallory", "owntracks/+/+", S, true},
	{"alice", "owntracks/#", S, true},
	{"carol", "owntracks/#", S, true},
	{"alice", "owntracks/truck1/#", S, true},
	{"erin", "owntracks/truck1/#", S, true},
	{"truck1", "owntracks/truck1/#", S, true},
	{"carol", "owntracks/truck1/#", S, false},
	{"bob", "owntracks/truck1/#", S, false},
	{"dave", "owntracks/truck1/#", S, false},
	{"dave", "owntracks/truck2/#", S, true},
	{"alice", "owntracks/truck2/#", S, true}, /* admin: the location topic */
	{"alice", "owntracks/truck2/+", S, true},
	{"alice", "owntracks/truck2/+/event", S, false},
	{"bob", "owntracks/truck2/#", S, false},
	{"bob", "owntracks/truck2/+", S, false},
	{"alice", "users/truck2/status", S, true},
	{"bob", "users/truck2/status", S, false},
	{"alice", "users/alice/sys/+", S, true},
	{"alice", "users/alice/sys/#", S, true},
	{"alice", "users/+/sys/+", S, true}, /* each delivery: her own only */
	{"alice", "users/bob/sys/+", S, false},
	{"alice", "users/bob/sys/rooms", S, false},
	{"bob", "users/alice/sys/rooms", S, false},
	{"alice", "owntracks/truck1/+/event", S, true},
	{"alice", "owntracks/alice/#", S, false}, /* alice is no device */
	{"alice", "a/#", S, false},
	{"alice", "rooms/lobby", S, false}, /* matches no topic */
	{"alice", "rooms", S, false},
	{"alice", "rooms/lobby/ev", S, false},
	{"alice", "users/alice", S, false},
	/* '#' also matches its parent level */
	{"alice", "users/alice/status/#", S, true},
	{"carol", "users/alice/status/#", S, false},
	{"bob", "rooms/lobby/ev/chat/alice/#", S, true},
	{"bob", "rooms/lobby/sys/joined/#", S, true},
	/* malformed filters */
	{"alice", "", S, false},
	{"alice", "rooms/lobby/#/x", S, false},
	{"alice", "#/x", S, false},
	{"alice", "rooms/lobby/a#", S, false},
	{"alice", "rooms/lob+/#", S, false},
	{"alice", "rooms/+x/#", S, false},
	{"alice", "rooms/++/#", S, false},
	{"alice", "rooms//ev/#", S, false},
	{"bob", "rooms/lobby//#", S, false},
	{"alice", "users/alice/status/", S, false},
	{"alice", "+/+/+/+/+/+/+/+/+", S, false}, /* deeper than any topic */
	{"alice", "+/+/+/+/+/+/+", S, false},
	{"alice", "+/+/+/+/+/+", S, true}, /* owntracks/truck1/a/b/c/d */
	{"carol", "+/+/+/+/+/+", S, true},
	/* $ topics and shared subscriptions */
	{"bob", "$SYS/#", S, false},
	{"bob", "$SYS/broker/uptime", S, false},
	{"bob", "$share/bob/rooms/lobby/#", S, true},
	{"bob", "$share/bob:workers/rooms/lobby/#", S, true},
	{"bob", "$share/bob:/rooms/lobby/#", S, true},
	{"carol", "$share/carol/rooms/lobby/#", S, false}, /* no access to lobby */
	{"bob", "$share/bob:group-1/users/+/status", S, true},
	/* a group belongs to one identity: not another's, not a prefix */
	{"bob", "$share/g/rooms/lobby/#", S, false},
	{"bob", "$share/alice/rooms/lobby/#", S, false},
	{"bob", "$share/alice:bob/rooms/lobby/#", S, false},
	{"bob", "$share/bo/rooms/lobby/#", S, false},
	{"bob", "$share/bobby/rooms/lobby/#", S, false},
	{"bob", "$share/bob.x/rooms/lobby/#", S, false},
	{"bob", "$share//x", S, false},
	{"bob", "$share//rooms/lobby/#", S, false},
	{"bob", "$share/bob", S, false},
	{"bob", "$share/bob/", S, false},
	{"bob", "$share/", S, false},
	{"bob", "$share", S, false},
	{"bob", "$share/bob+/rooms/lobby/#", S, false},
	{"bob", "$share/#/rooms/lobby/#", S, false},
	{"bob", "$share/bob/$SYS/#", S, false},
	{"bob", "$share/bob/$share/bob/rooms/lobby/#", S, false},
	{"bob", "$shared/bob/rooms/lobby/#", S, false},
	{"bob", "$hub/#", S, false},
};

static int run_table(const struct hc_acl_dir *d, const struct acase *c, size_t n, const char *label)
{
	int tu_failures = 0;
	for (size_t i = 0; i < n; i++) {
		struct hc_acl_decision dec = {.explain = false};
		hc_acl_check(d, c[i].who, c[i].topic, strlen(c[i].topic), c[i].access, &dec);
		TU_EXPECT(dec.allow == c[i].allow, "%s: %s %s '%s': %s (rule: %s)", label, c[i].who,
			access_name(c[i].access), c[i].topic, dec.allow ? "allowed" : "denied",
			dec.rule ? dec.rule : "(null)");
		TU_EXPECT(dec.rule != NULL && dec.rule[0] != '\0', "%s: no rule for '%s'", label,
			c[i].topic);
	}
	return tu_failures;
}

#define RUN(dir, table) run_table(dir, table, sizeof(table) / sizeof(table[0]), #table)

static void test_contract_table(void **state)
{
	struct hc_acl_dir *d = *state;
	int tu_failures = 0;
	tu_failures += RUN(d, contract_cases);
	TU_DONE();
}

static void test_topic_edges(void **state)
{
	struct hc_acl_dir *d = *state;
	int tu_failures = 0;
	tu_failures += RUN(d, topic_cases);
	TU_DONE();
}

static void test_filters(void **state)
{
	struct hc_acl_dir *d = *state;
	int tu_failures = 0;
	tu_failures += RUN(d, filter_cases);
	TU_DONE();
}

/* For a topic without wildcards, subscribing to exactly it and reading it
 * are the same question: the two code paths must agree. */
static void test_read_equals_exact_subscribe(void **state)
{
	static const char *const who[] = {
		"alice", "bob", "carol", "mallory", "dave", "erin", "truck1", "truck2"};
	struct hc_acl_dir *d = *state;
	int tu_failures = 0;
	for (size_t t = 0; t < sizeof(contract_cases) / sizeof(contract_cases[0]); t++) {
		const char *topic = contract_cases[t].topic;
		if (strpbrk(topic, "+#$") || !*topic)
			continue;
		for (size_t w = 0; w < sizeof(who) / sizeof(who[0]); w++) {
			struct hc_acl_decision r = {0}, s = {0};
			hc_acl_check(d, who[w], topic, strlen(topic), R, &r);
			hc_acl_check(d, who[w], topic, strlen(topic), S, &s);
			TU_EXPECT(r.allow == s.allow, "%s '%s': READ %s (%s) but SUBSCRIBE %s (%s)",
				who[w], topic, r.allow ? "allowed" : "denied", r.rule,
				s.allow ? "allowed" : "denied", s.rule);
		}
	}
	TU_DONE();
}

/* ------------------------------------------------- services (backends) */

/* CONTRACT.md "Backends": shop and pay are services; lobby is hooked by
 * shop. */
static const struct acase service_cases[] = {
	/* calls: any user or device calls as itself; only the service reads */
	{"alice", "svc/shop/order/alice", W, true},
	{"truck1", "svc/shop/ping/truck1", W, true},
	{"alice", "svc/shop/order/bob", W, false},
	{"alice", "svc/nosuch/order/alice", W, false},
	{"alice", "svc/bob/order/alice", W, false}, /* a user is not a service */
	{"alice", "svc/shop/hook/alice", W, false}, /* "hook" is no method */
	{"alice", "svc/shop/order/alice", R, false},
	{"alice", "svc/shop/order/alice/x", W, false},
	{"shop", "svc/shop/order/alice", R, true},
	{"shop", "svc/shop/hook/lobby/chat/alice", R, true},
	{"shop", "svc/shop/hook/nosuch/chat/alice", R, false},
	{"shop", "svc/shop/hook/lobby/chat/alice", W, false}, /* only the hub asks */
	{"pay", "svc/shop/order/alice", R, false},
	{"shop", "svc/pay/charge/shop", W, true}, /* services call services */
	{"shop", "svc/pay/charge/alice", W, false},
	{"shop", "svc/shop/order/shop", W, true},
	/* rooms: read everything of every room, emit as itself */
	{"shop", "rooms/lobby/ev/chat/alice", R, true},
	{"shop", "rooms/fleet/ev/position/truck1", R, true},
	{"shop", "rooms/nosuch/ev/chat/alice", R, false},
	{"shop", "rooms/lobby/ev/note/shop", W, true},
	{"shop", "rooms/other/ev/note/shop", W, true},
	{"shop", "rooms/lobby/ev/note/alice", W, false},
	{"shop", "rooms/nosuch/ev/note/shop", W, false},
	{"shop", "rooms/lobby/sys/joined", R, true},
	{"shop", "rooms/lobby/sys/joined", W, false},
	{"shop", "rooms/lobby/presence/alice", R, true},
	{"shop", "rooms/lobby/presence/alice", W, false},
	/* inboxes: write to anyone as itself; read its own */
	{"shop", "users/alice/inbox/note/shop", W, true},
	{"shop", "users/truck1/inbox/cmd/shop", W, true},
	{"shop", "users/alice/inbox/note/bob", W, false},
	{"shop", "users/ghost/inbox/note/shop", W, false},
	{"shop", "users/alice/inbox/note/bob", R, false},
	{"shop", "users/shop/inbox/note/alice", R, true},
	/* replies: services write anyone's, each principal reads its own */
	{"shop", "users/alice/reply/42", W, true},
	{"shop", "users/alice/reply/a/b/c", W, true},
	{"shop", "users/alice/reply/a/b/c/d", W, false},
	{"shop", "users/ghost/reply/42", W, false},
	{"shop", "users/alice/reply/42", R, false},
	{"shop", "users/shop/reply/42", R, true},
	{"alice", "users/alice/reply/42", R, true},
	{"alice", "users/alice/reply/a/b/c", R, true},
	{"alice", "users/bob/reply/42", R, false},
	{"alice", "users/alice/reply/42", W, false},
	{"bob", "users/alice/reply/42", W, false},
	{"truck1", "users/truck1/reply/7", R, true},
	/* statuses */
	{"shop", "users/alice/status", R, true},
	{"shop", "users/alice/status", W, false},
	{"shop", "users/shop/status", W, false},
	/* hook verdicts */
	{"shop", "$hub/verdict/shop/7", W, true},
	{"shop", "$hub/verdict/pay/7", W, false},
	{"pay", "$hub/verdict/pay/7", W, true},
	{"alice", "$hub/verdict/shop/7", W, false},
	{"shop", "$hub/verdict/shop/7", R, false},
	/* nothing else */
	{"shop", "owntracks/truck1/phone", R, false},
	{"shop", "owntracks/shop/phone", W, false},
	{"shop", "anything/else", W, false},
	/* subscriptions */
	{"shop", "svc/shop/#", S, true},
	{"shop", "svc/shop/+/+", S, true},
	{"shop", "svc/shop/hook/#", S, true},
	{"shop", "$share/shop/svc/shop/#", S, true},
	{"shop", "$share/shop:workers/svc/shop/#", S, true},
	{"shop", "$share/pay/svc/shop/#", S, false},
	{"shop", "svc/pay/#", S, false},
	{"alice", "svc/shop/#", S, false},
	{"alice", "svc/#", S, false},
	{"alice", "$share/alice/svc/shop/#", S, false},
	{"shop", "rooms/+/ev/+/+", S, true},
	{"shop", "rooms/lobby/ev/#", S, true},
	{"shop", "rooms/nosuch/ev/#", S, false},
	{"shop", "rooms/+/sys/+", S, true},
	{"shop", "rooms/+/presence/+", S, true},
	{"shop", "users/+/status", S, true},
	{"shop", "users/shop/reply/#", S, true},
	{"shop", "users/alice/reply/#", S, false},
	{"shop", "users/+/inbox/+/+", S, true}, /* its own inbox is among them */
	{"alice", "users/alice/reply/#", S, true},
	{"alice", "users/alice/reply/+", S, true},
	{"alice", "users/bob/reply/#", S, false},
	{"shop", "owntracks/#", S, false},
	{"shop", "$hub/verdict/#", S, false},
	{"alice", "$hub/verdict/#", S, false},
};

static struct hc_acl_dir *build_service_dir(void)
{
	struct hc_acl_dir *d = build_dir();
	struct hc_principal p;
	for (int i = 0; i < 2; i++) {
		memset(&p, 0, sizeof(p));
		snprintf(p.name, sizeof(p.name), "%s", i ? "pay" : "shop");
		p.kind = HC_KIND_SERVICE;
		snprintf(p.role, sizeof(p.role), "user");
		assert_int_equal(hc_dir_put_principal(d, &p, HASH64), HUB_OK);
	}
	assert_int_equal(hc_dir_set_room_hook(d, "lobby", "shop"), HUB_OK);
	return d;
}

static void test_services(void **state)
{
	static const char *const who[] = {"alice", "bob", "truck1", "shop", "pay"};
	struct hc_acl_dir *d = build_service_dir();
	int tu_failures = 0;
	(void)state;
	tu_failures += RUN(d, service_cases);
	/* exact subscriptions and reads agree here too */
	for (size_t t = 0; t < sizeof(service_cases) / sizeof(service_cases[0]); t++) {
		const char *topic = service_cases[t].topic;
		if (strpbrk(topic, "+#$") || !*topic)
			continue;
		for (size_t w = 0; w < sizeof(who) / sizeof(who[0]); w++) {
			struct hc_acl_decision r = {0}, s = {0};
			hc_acl_check(d, who[w], topic, strlen(topic), R, &r);
			hc_acl_check(d, who[w], topic, strlen(topic), S, &s);
			TU_EXPECT(r.allow == s.allow, "%s '%s': READ %s (%s) but SUBSCRIBE %s (%s)",
				who[w], topic, r.allow ? "allowed" : "denied", r.rule,
				s.allow ? "allowed" : "denied", s.rule);
		}
	}
	/* a service has no rooms and counts in none */
	{
		const struct hc_dir_principal *s = hc_dir_principal(d, "shop", 4);
		const struct hc_dir_room *r = hc_dir_room(d, "lobby", 5);
		assert_non_null(s);
		assert_int_equal(s->kind, HC_KIND_SERVICE);
		assert_true(s->has_secret);
		assert_int_equal(s->rooms.count, 0);
		assert_string_equal(r->hook, "shop");
		assert_int_equal(hc_dir_set_room_hook(d, "lobby", NULL), HUB_OK);
		assert_string_equal(r->hook, "");
		assert_int_equal(hc_dir_set_room_hook(d, "nosuch", "shop"), HUB_ERR_NOTFOUND);
	}
	/* explain names the rule */
	{
		struct hc_acl_decision e = {.explain = true};
		hc_acl_check(d, "alice", "svc/shop/order/alice", 20, W, &e);
		assert_true(e.allow);
		assert_non_null(strstr(e.rule, "call service shop"));
		hc_acl_check(d, "shop", "rooms/lobby/ev/x/alice", 22, W, &e);
		assert_false(e.allow);
		assert_non_null(strstr(e.rule, "a service emits as itself (shop)"));
	}
	hc_acl_dir_free(d);
	TU_DONE();
}

/* Services and hooks come out of the store the same way (loader). */
static void test_services_loaded_from_store(void **state)
{
	char dir[512], db[600], err[256], key[HC_SECRET_LEN + 1], hook[HC_NAME_MAX + 1];
	struct hc_store *st = NULL;
	struct hc_acl_dir *d = NULL;
	const char *what = NULL;
	const struct hc_dir_principal *p;
	(void)state;
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/hub.db", dir);
	if (tu_pg()) { /* unit.common.acl.postgresql: the load from PostgreSQL */
		assert_int_equal(tu_pg_reset(tu_pg()), 0);
		snprintf(db, sizeof(db), "%s", tu_pg());
	}
	assert_int_equal(hc_store_open(db, HC_STORE_RW, &st, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "alice", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_room_add(st, "lobby"), HUB_OK);
	assert_int_equal(hc_store_room_add(st, "quiet"), HUB_OK);
	assert_int_equal(hc_store_servicekey_add(st, "shop", key), HUB_OK);
	{
		char other[HC_SECRET_LEN + 1];
		assert_int_equal(hc_store_servicekey_add(st, "alice", other), HUB_ERR_EXISTS);
	}
	assert_int_equal(hc_store_room_set_hook(st, "lobby", "shop", &what), HUB_OK);
	assert_int_equal(hc_store_room_set_hook(st, "lobby", "nosuch", &what), HUB_ERR_NOTFOUND);
	assert_string_equal(what, "service");
	assert_int_equal(hc_store_room_set_hook(st, "nosuch", "shop", &what), HUB_ERR_NOTFOUND);
	assert_string_equal(what, "room");
	assert_int_equal(hc_store_room_hook(st, "lobby", hook), HUB_OK);
	assert_string_equal(hook, "shop");
	assert_int_equal(hc_store_room_hook(st, "quiet", hook), HUB_OK);
	assert_string_equal(hook, "");
	assert_int_equal(hc_store_servicekey_exists(st, "shop"), HUB_OK);
	assert_int_equal(hc_store_servicekey_exists(st, "alice"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_acl_dir_load(st, &d, err, sizeof(err)), HUB_OK);
	p = hc_dir_principal(d, "shop", 4);
	assert_non_null(p);
	assert_int_equal(p->kind, HC_KIND_SERVICE);
	assert_true(p->has_secret);
	{
		unsigned char want[32];
		SHA256((const unsigned char *)key, strlen(key), want);
		assert_memory_equal(p->secret_hash, want, 32);
	}
	assert_string_equal(hc_dir_room(d, "lobby", 5)->hook, "shop");
	assert_string_equal(hc_dir_room(d, "quiet", 5)->hook, "");
	hc_acl_dir_free(d);
	hc_store_close(st);
	tu_rmtree(dir);
}

/* ----------------------------------------------------- lengths and bytes */

static void test_long_topics(void **state)
{
	struct hc_acl_dir *d = *state;
	size_t max = 65535, prefix = strlen("owntracks/truck1/");
	char *t = malloc(max + 2);
	struct hc_acl_decision dec = {0};
	assert_non_null(t);
	memcpy(t, "owntracks/truck1/", prefix);
	memset(t + prefix, 'a', max + 1 - prefix);
	/* 65535 bytes: the longest MQTT topic, readable by the owner */
	hc_acl_check(d, "alice", t, max, R, &dec);
	assert_true(dec.allow);
	hc_acl_check(d, "alice", t, max, S, &dec);
	assert_true(dec.allow);
	hc_acl_check(d, "truck1", t, max, W, &dec);
	assert_true(dec.allow);
	hc_acl_check(d, "carol", t, max, R, &dec);
	assert_false(dec.allow);
	/* 65536: over the protocol's limit, denied whatever it says */
	hc_acl_check(d, "alice", t, max + 1, R, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "alice", t, max + 1, S, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "truck1", t, max + 1, W, &dec);
	assert_false(dec.allow);
	/* with explain: the sentence is bounded, whatever the topic */
	dec.explain = true;
	hc_acl_check(d, "alice", t, max, R, &dec);
	assert_true(dec.allow);
	assert_true(strlen(dec.text) < sizeof(dec.text));
	/* a 65535-byte room level and a 65535-byte event level: denied */
	memcpy(t, "rooms/", 6);
	memset(t + 6, 'r', max - 6);
	memcpy(t + max - 17, "/ev/chat/alice", 14);
	hc_acl_check(d, "alice", t, max - 3, W, &dec);
	assert_false(dec.allow);
	memcpy(t, "rooms/lobby/ev/", 15);
	memset(t + 15, 'e', max - 15);
	memcpy(t + max - 6, "/alice", 6);
	hc_acl_check(d, "alice", t, max, W, &dec);
	assert_false(dec.allow);
	/* every level a '/' : 65535 empty levels */
	memset(t, '/', max);
	hc_acl_check(d, "alice", t, max, R, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "alice", t, max, S, &dec);
	assert_false(dec.allow);
	memset(t, '+', max);
	for (size_t i = 1; i < max; i += 2)
		t[i] = '/';
	hc_acl_check(d, "alice", t, max, S, &dec);
	assert_false(dec.allow);
	free(t);
}

static void test_embedded_nul(void **state)
{
	struct hc_acl_dir *d = *state;
	struct hc_acl_decision dec = {0};
	static const char t1[] = "rooms/lobby/ev/chat/alice\0";
	static const char t2[] = "rooms/lobby/ev/ch\0t/alice";
	static const char t3[] = "\0rooms/lobby/ev/chat/alice";
	static const char t4[] = "users/alice/status\0/x";
	/* the same bytes without the NUL are allowed ... */
	hc_acl_check(d, "alice", t1, sizeof(t1) - 2, W, &dec);
	assert_true(dec.allow);
	/* ... with it, never */
	hc_acl_check(d, "alice", t1, sizeof(t1) - 1, W, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "alice", t2, sizeof(t2) - 1, W, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "alice", t3, sizeof(t3) - 1, W, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "alice", t4, sizeof(t4) - 1, R, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "alice", t4, sizeof(t4) - 1, S, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "bob", "rooms/lobby/#\0/x", 16, S, &dec);
	assert_false(dec.allow);
	/* the length is honoured: bytes after it are not looked at */
	hc_acl_check(d, "alice", "users/alice/statusXYZ", 18, R, &dec);
	assert_true(dec.allow);
	hc_acl_check(d, "bob", "rooms/lobby/#garbage", 13, S, &dec);
	assert_true(dec.allow);
	/* NULL principal or topic */
	hc_acl_check(d, NULL, "users/alice/status", 18, R, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "alice", NULL, 18, R, &dec);
	assert_false(dec.allow);
}

/* pattern with every "%s" replaced by who, into out (size n). */
static void subst(char *out, size_t n, const char *pattern, const char *who)
{
	size_t o = 0, wl = strlen(who);
	for (const char *p = pattern; *p && o + 1 < n; p++) {
		if (p[0] == '%' && p[1] == 's') {
			for (size_t i = 0; i < wl && o + 1 < n; i++)
				out[o++] = who[i];
			p++;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

/* Identities the store would never accept, in the directory anyway: the
 * check denies what names them in a topic, and never crashes. */
static void test_odd_identities(void **state)
{
	static const char *const odd[] = {"we/ird", "+", "#", "a+b", "x#", "/", "$x", "a b", ""};
	static const char *const topics[] = {
		"rooms/weird/ev/x/%s",
		"users/%s/status",
		"users/%s/inbox/x/%s",
		"users/%s/inbox/#",
		"owntracks/%s/x",
		"owntracks/%s/#",
		"rooms/weird/presence/%s",
		"%s",
		"%s/#",
		"+/%s/+",
	};
	struct hc_acl_dir *d = *state;
	int tu_failures = 0;
	assert_int_equal(hc_dir_put_room(d, "weird"), HUB_OK);
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		put(d, odd[i], i % 2 ? HC_KIND_DEVICE : HC_KIND_USER, i % 2 ? "alice" : NULL, NULL);
		level(d, "weird", odd[i], HC_LEVEL_ADMIN);
	}
	level(d, "weird", "alice", HC_LEVEL_WRITE);
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		const char *who = odd[i];
		char t[256];
		struct hc_acl_decision dec = {.explain = (i % 2) == 0};
		/* writes naming the identity as sender, user or device */
		snprintf(t, sizeof(t), "rooms/weird/ev/x/%s", who);
		hc_acl_check(d, who, t, strlen(t), W, &dec);
		TU_EXPECT(!dec.allow, "'%s' may write %s", who, t);
		snprintf(t, sizeof(t), "users/%s/status", who);
		hc_acl_check(d, who, t, strlen(t), W, &dec);
		TU_EXPECT(!dec.allow, "'%s' may write %s", who, t);
		snprintf(t, sizeof(t), "users/alice/inbox/x/%s", who);
		hc_acl_check(d, who, t, strlen(t), W, &dec);
		TU_EXPECT(!dec.allow, "'%s' may write %s", who, t);
		snprintf(t, sizeof(t), "owntracks/%s/x", who);
		hc_acl_check(d, who, t, strlen(t), W, &dec);
		TU_EXPECT(!dec.allow, "'%s' may write %s", who, t);
		/* reads of "own" topics that are not topics of a valid name */
		snprintf(t, sizeof(t), "users/%s/inbox/x/alice", who);
		hc_acl_check(d, who, t, strlen(t), R, &dec);
		TU_EXPECT(!dec.allow, "'%s' may read %s", who, t);
		/* a legitimate user still may not write as them */
		snprintf(t, sizeof(t), "rooms/weird/ev/x/%s", who);
		hc_acl_check(d, "alice", t, strlen(t), W, &dec);
		TU_EXPECT(!dec.allow, "alice may write %s", t);
		/* and everything else just must not crash */
		for (size_t k = 0; k < sizeof(topics) / sizeof(topics[0]); k++)
			for (int a = 1; a <= 8; a <<= 1) {
				subst(t, sizeof(t), topics[k], who);
				hc_acl_check(d, who, t, strlen(t), a, &dec);
				hc_acl_check(d, "alice", t, strlen(t), a, &dec);
			}
	}
	/* unknown odd identities are simply unknown */
	for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		struct hc_acl_decision dec = {0};
		char name[16];
		snprintf(name, sizeof(name), "%s%s", odd[i], "!");
		hc_acl_check(d, name, "users/alice/status", 18, R, &dec);
		TU_EXPECT(!dec.allow, "unknown '%s' allowed", name);
	}
	TU_DONE();
}

/* ------------------------------------------------------------- explain */

static void test_explain(void **state)
{
	struct hc_acl_dir *d = *state;
	struct hc_acl_decision dec;
	memset(&dec, 0, sizeof(dec));
	dec.explain = true;
	hc_acl_check(d, "bob", "rooms/lobby/ev/chat/alice", 25, R, &dec);
	assert_true(dec.allow);
	assert_ptr_equal(dec.rule, dec.text);
	assert_non_null(strstr(dec.text, "lobby"));
	assert_non_null(strstr(dec.text, "read"));
	assert_non_null(strstr(dec.text, "bob"));

	memset(&dec, 0, sizeof(dec));
	dec.explain = true;
	hc_acl_check(d, "bob", "rooms/lobby/ev/chat/bob", 23, W, &dec);
	assert_false(dec.allow);
	assert_non_null(strstr(dec.text, "lobby"));
	assert_non_null(strstr(dec.text, "read"));  /* what bob has */
	assert_non_null(strstr(dec.text, "write")); /* what he needs */

	memset(&dec, 0, sizeof(dec));
	dec.explain = true;
	hc_acl_check(d, "alice", "rooms/lobby/ev/chat/alice", 25, W, &dec);
	assert_true(dec.allow);
	assert_non_null(strstr(dec.text, "lobby"));
	assert_non_null(strstr(dec.text, "write"));

	memset(&dec, 0, sizeof(dec));
	dec.explain = true;
	hc_acl_check(d, "mallory", "rooms/other/sys/joined", 22, R, &dec);
	assert_true(dec.allow);
	assert_non_null(strstr(dec.text, "other"));
	assert_non_null(strstr(dec.text, "admin"));

	memset(&dec, 0, sizeof(dec));
	dec.explain = true;
	hc_acl_check(d, "carol", "rooms/lobby/presence/alice", 26, R, &dec);
	assert_false(dec.allow);
	assert_non_null(strstr(dec.text, "lobby"));

	memset(&dec, 0, sizeof(dec));
	dec.explain = true;
	hc_acl_check(d, "erin", "owntracks/truck1/truck1", 23, R, &dec);
	assert_true(dec.allow);
	assert_non_null(strstr(dec.text, "truck1"));

	/* without explain: a short static rule, the text untouched */
	memset(&dec, 0, sizeof(dec));
	hc_acl_check(d, "bob", "rooms/lobby/ev/chat/alice", 25, R, &dec);
	assert_true(dec.allow);
	assert_ptr_not_equal(dec.rule, dec.text);
	assert_string_equal(dec.text, "");
	assert_string_equal(dec.rule, "room read level");
}

/* ------------------------------------------------------ directory rules */

static int count_device_members(const struct hc_acl_dir *d, const char *room)
{
	const struct hc_dir_room *r = hc_dir_room(d, room, strlen(room));
	int n = 0;
	if (!r)
		return -1;
	for (size_t i = 0; i < r->members.nbuckets; i++)
		for (struct hc_hmap_entry *e = r->members.buckets[i]; e; e = e->next) {
			const struct hc_dir_principal *p = hc_dir_principal(d, e->key, e->klen);
			if (p && p->kind == HC_KIND_DEVICE)
				n++;
		}
	return n;
}

static int count_owned(const struct hc_acl_dir *d, const char *owner)
{
	int n = 0;
	for (size_t i = 0; i < d->principals.nbuckets; i++)
		for (struct hc_hmap_entry *e = d->principals.buckets[i]; e; e = e->next) {
			const struct hc_dir_principal *p = e->value;
			if (p->kind == HC_KIND_DEVICE && strcmp(p->owner, owner) == 0)
				n++;
		}
	return n;
}

/* Both sides of every membership agree, and the counters match a recount. */
static void check_invariants(const struct hc_acl_dir *d, int line)
{
	for (size_t i = 0; i < d->rooms.nbuckets; i++)
		for (struct hc_hmap_entry *e = d->rooms.buckets[i]; e; e = e->next) {
			const struct hc_dir_room *r = e->value;
			int want = count_device_members(d, r->name);
			if (r->devices != want)
				fail_msg("line %d: room %s: devices counter %d, device members %d",
					line, r->name, r->devices, want);
			for (size_t k = 0; k < r->members.nbuckets; k++)
				for (struct hc_hmap_entry *m = r->members.buckets[k]; m;
					m = m->next) {
					const struct hc_dir_principal *p =
						hc_dir_principal(d, m->key, m->klen);
					if (!p)
						fail_msg("line %d: room %s lists unknown %s", line,
							r->name, m->key);
					if (hc_hmap_get(&p->rooms, r->name, strlen(r->name)) !=
						m->value)
						fail_msg("line %d: %s/%s levels disagree", line,
							r->name, m->key);
				}
		}
	for (size_t i = 0; i < d->principals.nbuckets; i++)
		for (struct hc_hmap_entry *e = d->principals.buckets[i]; e; e = e->next) {
			const struct hc_dir_principal *p = e->value;
			if (p->kind == HC_KIND_USER && p->owned_devices != count_owned(d, p->name))
				fail_msg("line %d: %s owns %d devices, counter says %d", line,
					p->name, count_owned(d, p->name), p->owned_devices);
			for (size_t k = 0; k < p->rooms.nbuckets; k++)
				for (struct hc_hmap_entry *m = p->rooms.buckets[k]; m;
					m = m->next) {
					const struct hc_dir_room *r =
						hc_dir_room(d, m->key, m->klen);
					if (!r)
						fail_msg("line %d: %s is in unknown room %s", line,
							p->name, m->key);
					if (hc_hmap_get(&r->members, p->name, strlen(p->name)) !=
						m->value)
						fail_msg("line %d: %s/%s levels disagree", line,
							m->key, p->name);
				}
		}
}

#define INVARIANTS(d) check_invariants(d, __LINE__)

static void test_dir_lookups(void **state)
{
	struct hc_acl_dir *d = *state;
	const struct hc_dir_principal *p;
	const struct hc_dir_room *r;
	INVARIANTS(d);
	p = hc_dir_principal(d, "truck1", 6);
	assert_non_null(p);
	assert_int_equal(p->kind, HC_KIND_DEVICE);
	assert_string_equal(p->owner, "alice");
	assert_true(p->has_secret);
	assert_int_equal(p->secret_hash[0], 0x00);
	assert_int_equal(p->secret_hash[1], 0x11);
	assert_int_equal(p->secret_hash[31], 0xff);
	p = hc_dir_principal(d, "alice", 5);
	assert_true(p->admin);
	assert_false(p->has_secret);
	assert_int_equal(p->owned_devices, 1);
	assert_false(hc_dir_principal(d, "bob", 3)->admin);
	assert_null(hc_dir_principal(d, "alicex", 6));
	assert_non_null(hc_dir_principal(d, "alicex", 5)); /* explicit length */
	r = hc_dir_room(d, "fleet", 5);
	assert_non_null(r);
	assert_int_equal(r->devices, 1);
	assert_int_equal(r->members.count, 2);
	assert_int_equal(hc_dir_room(d, "lobby", 5)->devices, 0);
	assert_null(hc_dir_room(d, "nope", 4));
	/* levels */
	assert_int_equal(hc_dir_level(d, "lobby", 5, "alice"), HC_LEVEL_WRITE);
	assert_int_equal(hc_dir_level(d, "lobby", 5, "bob"), HC_LEVEL_READ);
	assert_int_equal(hc_dir_level(d, "lobbyX", 5, "bob"), HC_LEVEL_READ);
	assert_int_equal(hc_dir_level(d, "lobby", 5, "carol"), HC_LEVEL_NONE);
	assert_int_equal(hc_dir_level(d, "other", 5, "mallory"), HC_LEVEL_ADMIN);
	assert_int_equal(hc_dir_level(d, "lobby", 5, "nobody"), HC_LEVEL_NONE);
	assert_int_equal(hc_dir_level(d, "nope", 4, "alice"), HC_LEVEL_NONE);
	/* device visibility */
	assert_true(hc_dir_can_read_device(d, "alice", "truck1", 6));
	assert_true(hc_dir_can_read_device(d, "truck1", "truck1", 6));
	assert_true(hc_dir_can_read_device(d, "erin", "truck1", 6));
	assert_false(hc_dir_can_read_device(d, "bob", "truck1", 6));
	assert_false(hc_dir_can_read_device(d, "carol", "truck1", 6));
	assert_true(hc_dir_can_read_device(d, "dave", "truck2", 6));
	assert_false(hc_dir_can_read_device(d, "alice", "alice", 5)); /* not a device */
	assert_false(hc_dir_can_read_device(d, "alice", "nope", 4));
	assert_false(hc_dir_can_read_device(d, "nobody", "truck1", 6));
}

static void test_shares_room_symmetric(void **state)
{
	static const char *const who[] = {
		"alice", "bob", "carol", "mallory", "dave", "erin", "truck1", "truck2", "nobody"};
	struct hc_acl_dir *d = *state;
	int tu_failures = 0;
	for (size_t i = 0; i < sizeof(who) / sizeof(who[0]); i++)
		for (size_t k = 0; k < sizeof(who) / sizeof(who[0]); k++) {
			bool ab = hc_dir_shares_room(d, who[i], who[k], strlen(who[k]));
			bool ba = hc_dir_shares_room(d, who[k], who[i], strlen(who[i]));
			TU_EXPECT(ab == ba, "shares(%s, %s) = %d but shares(%s, %s) = %d", who[i],
				who[k], ab, who[k], who[i], ba);
		}
	TU_EXPECT(hc_dir_shares_room(d, "alice", "bob", 3), "alice/bob");
	TU_EXPECT(hc_dir_shares_room(d, "erin", "truck1", 6), "erin/truck1");
	TU_EXPECT(!hc_dir_shares_room(d, "alice", "truck1", 6), "alice/truck1");
	TU_EXPECT(!hc_dir_shares_room(d, "alice", "erin", 4), "alice/erin");
	TU_EXPECT(!hc_dir_shares_room(d, "carol", "carol", 5), "carol/carol");
	TU_EXPECT(hc_dir_shares_room(d, "bob", "bob", 3), "bob/bob");
	TU_EXPECT(!hc_dir_shares_room(d, "bob", "nobody", 6), "bob/nobody");
	TU_EXPECT(hc_dir_shares_room(d, "bob", "alicex", 5), "explicit length");
	/* a principal with many rooms against one with a single shared room:
	 * whichever side is walked */
	assert_int_equal(hc_dir_put_room(d, "r1"), HUB_OK);
	assert_int_equal(hc_dir_put_room(d, "r2"), HUB_OK);
	assert_int_equal(hc_dir_put_room(d, "r3"), HUB_OK);
	level(d, "r1", "alice", 1);
	level(d, "r2", "alice", 1);
	level(d, "r3", "alice", 1);
	level(d, "r3", "carol", 1);
	TU_EXPECT(hc_dir_shares_room(d, "alice", "carol", 5), "alice/carol via r3");
	TU_EXPECT(hc_dir_shares_room(d, "carol", "alice", 5), "carol/alice via r3");
	TU_DONE();
}

static void test_dir_del_room(void **state)
{
	struct hc_acl_dir *d = *state;
	struct hc_acl_decision dec = {0};
	hc_acl_check(d, "bob", "rooms/lobby/ev/x/alice", 22, R, &dec);
	assert_true(dec.allow);
	hc_dir_del_room(d, "lobby");
	INVARIANTS(d);
	assert_null(hc_dir_room(d, "lobby", 5));
	assert_int_equal(hc_dir_principal(d, "alice", 5)->rooms.count, 0);
	assert_int_equal(hc_dir_principal(d, "bob", 3)->rooms.count, 0);
	assert_int_equal(hc_dir_level(d, "lobby", 5, "bob"), HC_LEVEL_NONE);
	assert_false(hc_dir_shares_room(d, "alice", "bob", 3));
	hc_acl_check(d, "bob", "rooms/lobby/ev/x/alice", 22, R, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "bob", "users/alice/status", 18, R, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "bob", "rooms/lobby/#", 13, S, &dec);
	assert_false(dec.allow);
	/* deleting a device's room */
	hc_dir_del_room(d, "fleet");
	INVARIANTS(d);
	assert_int_equal(hc_dir_principal(d, "truck1", 6)->rooms.count, 0);
	hc_acl_check(d, "erin", "owntracks/truck1/x", 18, R, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "erin", "owntracks/truck1/+", 18, S, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "alice", "owntracks/truck1/x", 18, R, &dec);
	assert_true(dec.allow); /* still the owner */
	/* again, and unknown: nothing happens */
	hc_dir_del_room(d, "lobby");
	hc_dir_del_room(d, "nope");
	INVARIANTS(d);
	/* a new room of the old name starts empty */
	assert_int_equal(hc_dir_put_room(d, "lobby"), HUB_OK);
	assert_int_equal(hc_dir_room(d, "lobby", 5)->members.count, 0);
	/* put of an existing room keeps its members */
	level(d, "lobby", "bob", HC_LEVEL_READ);
	assert_int_equal(hc_dir_put_room(d, "lobby"), HUB_OK);
	assert_int_equal(hc_dir_room(d, "lobby", 5)->members.count, 1);
	INVARIANTS(d);
}

static void test_dir_del_principal(void **state)
{
	struct hc_acl_dir *d = *state;
	struct hc_acl_decision dec = {0};
	hc_dir_del_principal(d, "bob");
	INVARIANTS(d);
	assert_null(hc_dir_principal(d, "bob", 3));
	assert_int_equal(hc_dir_room(d, "lobby", 5)->members.count, 1);
	assert_null(hc_hmap_get(&hc_dir_room(d, "lobby", 5)->members, "bob", 3));
	hc_acl_check(d, "bob", "rooms/lobby/ev/x/alice", 22, R, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "alice", "users/bob/inbox/dm/alice", 24, W, &dec);
	assert_false(dec.allow);
	/* a device: leaves its rooms and its owner's count */
	hc_dir_del_principal(d, "truck1");
	INVARIANTS(d);
	assert_int_equal(hc_dir_room(d, "fleet", 5)->devices, 0);
	assert_int_equal(hc_dir_room(d, "fleet", 5)->members.count, 1);
	assert_int_equal(hc_dir_principal(d, "alice", 5)->owned_devices, 0);
	hc_acl_check(d, "alice", "owntracks/truck1/+", 18, S, &dec);
	assert_false(dec.allow);
	hc_acl_check(d, "erin", "owntracks/truck1/+", 18, S, &dec);
	assert_false(dec.allow);
	/* twice, unknown: no-ops */
	hc_dir_del_principal(d, "truck1");
	hc_dir_del_principal(d, "nobody");
	INVARIANTS(d);
}

static void test_dir_counters(void **state)
{
	struct hc_acl_dir *d = *state;
	struct hc_principal p;
	assert_int_equal(hc_dir_room(d, "fleet", 5)->devices, 1);
	assert_int_equal(hc_dir_principal(d, "alice", 5)->owned_devices, 1);
	assert_int_equal(hc_dir_principal(d, "dave", 4)->owned_devices, 1);
	/* re-put, same data: nothing moves */
	put(d, "truck1", HC_KIND_DEVICE, "alice", NULL);
	put(d, "truck1", HC_KIND_DEVICE, "alice", NULL);
	INVARIANTS(d);
	assert_int_equal(hc_dir_room(d, "fleet", 5)->devices, 1);
	assert_int_equal(hc_dir_principal(d, "alice", 5)->owned_devices, 1);
	assert_int_equal(hc_dir_level(d, "fleet", 5, "truck1"), HC_LEVEL_WRITE);
	/* re-put with another owner moves the count */
	put(d, "truck1", HC_KIND_DEVICE, "dave", NULL);
	INVARIANTS(d);
	assert_int_equal(hc_dir_principal(d, "alice", 5)->owned_devices, 0);
	assert_int_equal(hc_dir_principal(d, "dave", 4)->owned_devices, 2);
	put(d, "truck1", HC_KIND_DEVICE, "alice", NULL);
	INVARIANTS(d);
	/* level changes of a device member do not count it twice */
	level(d, "fleet", "truck1", HC_LEVEL_READ);
	level(d, "fleet", "truck1", HC_LEVEL_ADMIN);
	assert_int_equal(hc_dir_room(d, "fleet", 5)->devices, 1);
	level(d, "lobby", "truck1", HC_LEVEL_READ);
	assert_int_equal(hc_dir_room(d, "lobby", 5)->devices, 1);
	INVARIANTS(d);
	/* NONE removes, twice is harmless, never below zero */
	level(d, "fleet", "truck1", HC_LEVEL_NONE);
	assert_int_equal(hc_dir_room(d, "fleet", 5)->devices, 0);
	assert_int_equal(hc_dir_level(d, "fleet", 5, "truck1"), HC_LEVEL_NONE);
	level(d, "fleet", "truck1", HC_LEVEL_NONE);
	assert_int_equal(hc_dir_room(d, "fleet", 5)->devices, 0);
	INVARIANTS(d);
	/* users do not count as devices */
	level(d, "fleet", "carol", HC_LEVEL_READ);
	assert_int_equal(hc_dir_room(d, "fleet", 5)->devices, 0);
	level(d, "fleet", "carol", HC_LEVEL_NONE);
	INVARIANTS(d);
	/* unknown room or principal: NOTFOUND, nothing changes; NONE is fine */
	assert_int_equal(hc_dir_set_level(d, "nope", "alice", HC_LEVEL_READ), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_dir_set_level(d, "lobby", "nobody", HC_LEVEL_READ), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_dir_set_level(d, "nope", "nobody", HC_LEVEL_NONE), HUB_OK);
	assert_null(hc_dir_principal(d, "nobody", 6));
	assert_null(hc_dir_room(d, "nope", 4));
	INVARIANTS(d);
	/* a device whose owner is not (yet) in the directory */
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "orphan");
	p.kind = HC_KIND_DEVICE;
	snprintf(p.owner, sizeof(p.owner), "ghost");
	assert_int_equal(hc_dir_put_principal(d, &p, "not-hex"), HUB_OK);
	assert_false(hc_dir_principal(d, "orphan", 6)->has_secret);
	hc_dir_del_principal(d, "orphan");
	INVARIANTS(d);
}

/*
 * A name can change kind between two looks at the store (user deleted,
 * device of that name added; a follower that applies the newest row of the
 * name re-puts it). The room's device counter must follow the member's kind.
 */
static void test_dir_kind_change(void **state)
{
	struct hc_acl_dir *d = *state;
	struct hc_acl_decision dec = {0};
	/* carol, a user member of fleet, becomes a device of alice's */
	level(d, "fleet", "carol", HC_LEVEL_READ);
	assert_int_equal(hc_dir_room(d, "fleet", 5)->devices, 1);
	put(d, "carol", HC_KIND_DEVICE, "alice", NULL);
	INVARIANTS(d);
	/* and back to a user */
	put(d, "carol", HC_KIND_USER, NULL, NULL);
	INVARIANTS(d);
	level(d, "fleet", "carol", HC_LEVEL_NONE);
	INVARIANTS(d);
	assert_int_equal(hc_dir_room(d, "fleet", 5)->devices, 1);
	/* truck1 (device member of fleet) becomes a user, then leaves: fleet
	 * holds no device any more, and owntracks/truck1/+ shows it */
	put(d, "truck1", HC_KIND_USER, NULL, NULL);
	INVARIANTS(d);
	level(d, "fleet", "truck1", HC_LEVEL_NONE);
	INVARIANTS(d);
	hc_acl_check(d, "erin", "owntracks/truck1/+", 18, S, &dec);
	assert_false(dec.allow);
}

static void test_dir_sessions(void **state)
{
	struct hc_acl_dir *d = *state;
	struct hc_session s;
	const struct hc_dir_session *got;
	memset(&s, 0, sizeof(s));
	snprintf(s.sid, sizeof(s.sid), "AAAAAAAAAAAAAAAAAAAAAA");
	snprintf(s.principal, sizeof(s.principal), "alice");
	s.expires_at = 100;
	assert_int_equal(hc_dir_put_session(d, &s), HUB_OK);
	got = hc_dir_session(d, "AAAAAAAAAAAAAAAAAAAAAA");
	assert_non_null(got);
	assert_string_equal(got->principal, "alice");
	assert_int_equal(got->expires_at, 100);
	assert_int_equal(got->revoked_at, 0);
	/* update in place */
	s.revoked_at = 50;
	snprintf(s.reason, sizeof(s.reason), "logout");
	assert_int_equal(hc_dir_put_session(d, &s), HUB_OK);
	assert_ptr_equal(hc_dir_session(d, "AAAAAAAAAAAAAAAAAAAAAA"), got);
	assert_int_equal(got->revoked_at, 50);
	assert_string_equal(got->reason, "logout");
	assert_int_equal(d->sessions.count, 1);
	hc_dir_del_session(d, "AAAAAAAAAAAAAAAAAAAAAA");
	assert_null(hc_dir_session(d, "AAAAAAAAAAAAAAAAAAAAAA"));
	hc_dir_del_session(d, "AAAAAAAAAAAAAAAAAAAAAA");
	assert_null(hc_dir_session(d, "nope"));
	hc_acl_dir_free(NULL);
}

/* ----------------------------------------------------- loaded from store */

static void test_loaded_from_store(void **state)
{
	char dir[PATH_MAX], db[PATH_MAX + 16];
	struct hc_acl_dir *hand, *loaded;
	int tu_failures = 0;
	(void)state;
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(db, sizeof(db), "%s/hub.db", dir);
	if (tu_pg()) { /* unit.common.acl.postgresql: the load from PostgreSQL */
		assert_int_equal(tu_pg_reset(tu_pg()), 0);
		snprintf(db, sizeof(db), "%s", tu_pg());
	}
	hand = build_dir();
	loaded = build_dir_from_store(db);
	INVARIANTS(loaded);
	/* the whole contract table decides the same on both */
	tu_failures += RUN(loaded, contract_cases);
	tu_failures += RUN(loaded, filter_cases);
	/* and the directories agree on the bookkeeping */
	assert_int_equal(loaded->principals.count, hand->principals.count);
	assert_int_equal(loaded->rooms.count, hand->rooms.count);
	assert_int_equal(hc_dir_room(loaded, "fleet", 5)->devices, 1);
	assert_int_equal(hc_dir_principal(loaded, "alice", 5)->owned_devices, 1);
	assert_true(hc_dir_principal(loaded, "alice", 5)->admin);
	assert_true(hc_dir_principal(loaded, "truck1", 6)->has_secret);
	assert_memory_equal(hc_dir_principal(loaded, "truck1", 6)->secret_hash,
		hc_dir_principal(hand, "truck1", 6)->secret_hash, 32);
	hc_acl_dir_free(loaded);

	/* sessions come along, live and revoked */
	{
		struct hc_store *st = NULL;
		char err[256], sid[HC_SID_LEN + 1], secret[HC_SECRET_LEN + 1];
		const struct hc_dir_session *s;
		assert_int_equal(hc_store_open(db, HC_STORE_RW, &st, err, sizeof(err)), HUB_OK);
		assert_int_equal(
			hc_store_session_create(st, "bob", "web", 600, NULL, sid, secret), HUB_OK);
		assert_int_equal(hc_store_session_revoke(st, sid, "logout"), HUB_OK);
		assert_int_equal(hc_acl_dir_load(st, &loaded, err, sizeof(err)), HUB_OK);
		s = hc_dir_session(loaded, sid);
		assert_non_null(s);
		assert_string_equal(s->principal, "bob");
		assert_true(s->revoked_at > 0);
		assert_string_equal(s->reason, "logout");
		hc_acl_dir_free(loaded);
		/* the store changes, a fresh load follows */
		assert_int_equal(hc_store_revoke(st, "lobby", "bob"), HUB_OK);
		assert_int_equal(hc_acl_dir_load(st, &loaded, err, sizeof(err)), HUB_OK);
		{
			struct hc_acl_decision dec = {0};
			hc_acl_check(loaded, "bob", "rooms/lobby/ev/x/alice", 22, R, &dec);
			assert_false(dec.allow);
		}
		hc_acl_dir_free(loaded);
		hc_store_close(st);
	}
	hc_acl_dir_free(hand);
	tu_rmtree(dir);
	TU_DONE();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_contract_table, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_topic_edges, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_filters, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(
			test_read_equals_exact_subscribe, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_long_topics, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_embedded_nul, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_odd_identities, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_explain, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_lookups, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(
			test_shares_room_symmetric, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_del_room, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_del_principal, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_counters, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_kind_change, dir_setup, dir_teardown),
		cmocka_unit_test_setup_teardown(test_dir_sessions, dir_setup, dir_teardown),
		cmocka_unit_test(test_loaded_from_store),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_services_loaded_from_store),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
