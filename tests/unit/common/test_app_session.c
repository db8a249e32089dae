/* SPDX-License-Identifier: MIT */
/*
 * Sessions made by a service for an app with its own login
 * (common/app_session.c) on a real store: a user made without a password,
 * display names, rooms granted all or nothing (a missing room named, no
 * change), devices/services/admins refused, the session's kind and
 * service, the change log rows; ending: only by the service that made it,
 * twice is "already ended", a login's session is no service's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hc_app_session.h"
#include "hc_err.h"
#include "hc_store.h"
#include "hc_util.h"
#include "testutil.h"

#include "hc_db.h"

struct fx {
	char dir[512];
	struct hc_store *st;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char db[700], err[256], key[HC_SECRET_LEN + 1];
	tu_mkdtemp(f->dir, sizeof(f->dir));
	snprintf(db, sizeof(db), "%s/hub.db", f->dir);
	if (tu_pg()) {
		if (tu_pg_reset(tu_pg()))
			return -1;
		snprintf(db, sizeof(db), "%s", tu_pg());
	}
	if (hc_store_open(db, HC_STORE_RW, &f->st, err, sizeof(err)))
		return -1;
	if (hc_store_user_add(f->st, "ada", "Ada", "admin", "$scrypt$x") ||
		hc_store_user_add(f->st, "bob", "Bob", "user", "$scrypt$y") ||
		hc_store_device_add(f->st, "truck1", "bob", "Truck",
			"0000000000000000000000000000000000000000000000000000000000000000") ||
		hc_store_servicekey_add(f->st, "shop", key) ||
		hc_store_servicekey_add(f->st, "other", key) || hc_store_room_add(f->st, "lobby") ||
		hc_store_room_add(f->st, "ops"))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	hc_store_close(f->st);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

static int64_t count(struct hc_store *st, const char *sql)
{
	struct hc_db_stmt *s;
	int64_t n = -1;
	if (hc_db_prep(st, &s, sql, "") != HUB_OK)
		return -1;
	if (hc_db_step(s) == HC_DB_ROW)
		n = hc_db_int64(s, 0);
	hc_db_finalize(s);
	return n;
}

static void test_create_new_user(void **state)
{
	struct fx *f = *state;
	struct hc_app_room rooms[] = {{"lobby", HC_LEVEL_WRITE}, {"ops", HC_LEVEL_READ}};
	struct hc_app_session_req r = {.service = "shop",
		.user = "alice",
		.display_name = "Alice A.",
		.create = true,
		.rooms = rooms,
		.nrooms = 2,
		.ttl = 3600,
		.addr = "127.0.0.1"};
	struct hc_app_session o;
	struct hc_session s;
	struct hc_principal p;
	char hash[200];
	int level;

	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_OK);
	assert_true(o.created);
	assert_int_equal(strlen(o.sid), HC_SID_LEN);
	assert_int_equal(strlen(o.secret), HC_SECRET_LEN);
	assert_string_equal(o.user.name, "alice");
	assert_string_equal(o.user.display_name, "Alice A.");
	assert_string_equal(o.user.role, "user");
	/* a user with no password: the login path refuses it like any
	 * name without one */
	assert_int_equal(hc_store_principal_get(f->st, "alice", &p, hash, sizeof(hash)), HUB_OK);
	assert_int_equal(p.kind, HC_KIND_USER);
	assert_string_equal(hash, "");
	assert_int_equal(
		count(f->st, "SELECT pw_hash IS NULL FROM principals WHERE name = 'alice'"), 1);
	assert_int_equal(hc_store_level(f->st, "lobby", "alice", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_WRITE);
	assert_int_equal(hc_store_level(f->st, "ops", "alice", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_READ);
	/* the cookie finds the session: kind app, made by shop */
	assert_int_equal(hc_store_session_by_secret(f->st, o.secret, hc_now(), &s), HUB_OK);
	assert_string_equal(s.sid, o.sid);
	assert_string_equal(s.principal, "alice");
	assert_string_equal(s.kind, "app");
	assert_true(s.expires_at >= hc_now() + 3590);
	assert_int_equal(count(f->st, "SELECT count(*) FROM sessions WHERE service = 'shop'"), 1);

	/* again without create: the user exists now; a new name is kept, the
	 * same name makes no change-log row */
	r.create = false;
	r.nrooms = 0;
	{
		int64_t before = count(f->st, "SELECT count(*) FROM change_log");
		assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_OK);
		assert_false(o.created);
		/* the session's own row only */
		assert_int_equal(count(f->st, "SELECT count(*) FROM change_log"), before + 1);
	}
	r.display_name = NULL;
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_OK);
	assert_string_equal(o.user.display_name, "Alice A.");
	r.display_name = "Alice B.";
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_OK);
	assert_string_equal(o.user.display_name, "Alice B.");
	assert_int_equal(hc_store_principal_get(f->st, "alice", &p, NULL, 0), HUB_OK);
	assert_string_equal(p.display_name, "Alice B.");

	/* a new user without a display name is named after itself */
	r.user = "carol";
	r.create = true;
	r.display_name = NULL;
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_OK);
	assert_string_equal(o.user.display_name, "carol");
}

static void test_refusals(void **state)
{
	struct fx *f = *state;
	struct hc_app_room rooms[] = {{"lobby", HC_LEVEL_WRITE}, {"nosuch", HC_LEVEL_READ}};
	struct hc_app_session_req r = {
		.service = "shop", .user = "dave", .create = true, .ttl = 60};
	struct hc_app_session o;
	int64_t sessions = count(f->st, "SELECT count(*) FROM sessions");
	int level;

	/* no such user, not asked to make one */
	r.create = false;
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_NOTFOUND);
	assert_null(o.missing_room);
	/* a missing room is named and nothing changes: no user, no grant */
	r.create = true;
	r.rooms = rooms;
	r.nrooms = 2;
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_NOTFOUND);
	assert_non_null(o.missing_room);
	assert_string_equal(o.missing_room, "nosuch");
	assert_int_equal(count(f->st, "SELECT count(*) FROM principals WHERE name = 'dave'"), 0);
	r.user = "bob";
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_level(f->st, "lobby", "bob", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_NONE);
	r.nrooms = 0;
	/* a device, a service key's name: not users */
	r.user = "truck1";
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_EXISTS);
	r.user = "other";
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_EXISTS);
	assert_int_equal(count(f->st, "SELECT count(*) FROM principals WHERE name = 'other'"), 0);
	/* an admin's session is never a service's to make */
	r.user = "ada";
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_DENIED);
	/* bad input */
	r.user = "a/b";
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_INVAL);
	r.user = "bob";
	r.display_name = "tab\there";
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_INVAL);
	r.display_name = "\xc3\x28";
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_INVAL);
	r.display_name = "";
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_INVAL);
	r.display_name = NULL;
	rooms[1].room = "ops";
	rooms[1].level = 7;
	r.nrooms = 2;
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_INVAL);
	r.nrooms = HC_APP_SESSION_ROOMS_MAX + 1;
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_INVAL);
	r.nrooms = 0;
	r.ttl = 0;
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_ERR_INVAL);
	assert_int_equal(count(f->st, "SELECT count(*) FROM sessions"), sessions);
	/* an existing user with a password may get one (bob), and keeps it */
	r.ttl = 60;
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_OK);
	assert_int_equal(
		count(f->st, "SELECT pw_hash = '$scrypt$y' FROM principals WHERE name = 'bob'"), 1);
}

static void test_end(void **state)
{
	struct fx *f = *state;
	struct hc_app_session_req r = {
		.service = "shop", .user = "erin", .create = true, .ttl = 600};
	struct hc_app_session o;
	struct hc_session s;
	char web_sid[HC_SID_LEN + 1], web_secret[HC_SECRET_LEN + 1];

	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_OK);
	/* another service may not end it; nothing changes */
	assert_int_equal(hc_app_session_end(f->st, "other", o.sid, &s), HUB_ERR_DENIED);
	assert_int_equal(hc_store_session_by_secret(f->st, o.secret, hc_now(), &s), HUB_OK);
	/* unknown or malformed ids */
	assert_int_equal(
		hc_app_session_end(f->st, "shop", "AAAAAAAAAAAAAAAAAAAAAA", &s), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_app_session_end(f->st, "shop", "short", &s), HUB_ERR_NOTFOUND);
	/* its service ends it, like a logout */
	assert_int_equal(hc_app_session_end(f->st, "shop", o.sid, &s), HUB_OK);
	assert_string_equal(s.principal, "erin");
	assert_int_equal(
		hc_store_session_by_secret(f->st, o.secret, hc_now(), &s), HUB_ERR_REVOKED);
	assert_string_equal(s.reason, "logout");
	/* twice: it had ended */
	assert_int_equal(hc_app_session_end(f->st, "shop", o.sid, &s), HUB_ERR_REVOKED);
	/* a login's session is no service's */
	assert_int_equal(
		hc_store_session_create(f->st, "bob", "web", 600, NULL, web_sid, web_secret),
		HUB_OK);
	assert_int_equal(hc_app_session_end(f->st, "shop", web_sid, &s), HUB_ERR_DENIED);
	/* an expired one is "ended" too */
	r.ttl = 1;
	assert_int_equal(hc_app_session_create(f->st, &r, &o), HUB_OK);
	assert_int_equal(
		hc_db_exec(f->st,
			"UPDATE sessions SET expires_at = unixepoch() - 1 WHERE kind = 'app'"),
		HUB_OK);
	assert_int_equal(hc_app_session_end(f->st, "shop", o.sid, &s), HUB_ERR_REVOKED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_new_user, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
