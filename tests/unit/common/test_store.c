/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/store.c and store_schema.c against real SQLite files
 * in a temporary directory: migrations, WAL, every entity's rules and
 * cascades, the change_log the followers depend on, purge, and concurrent
 * handles (a long reader beside a writer, racing writers).
 *
 * With HUB_TEST_STORE set to a PostgreSQL conninfo (ctest's
 * unit.common.store.postgresql, through tests/unit/pg-run), the same tests
 * run on PostgreSQL (store_schema_pg.c, db_pg.c); each starts from an
 * emptied database. The few that test SQLite's file itself are skipped
 * there and have a PostgreSQL counterpart where one makes sense.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_db.h"
#include "hc_err.h"
#include "hc_store.h"
#include "hc_util.h"
#include "store_internal.h" /* migration count */
#include "testutil.h"

#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#define HASH64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fx {
	char dir[PATH_MAX];
	char db[PATH_MAX + 16];
	struct hc_store *st;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];
	if (!f)
		return -1;
	tu_mkdtemp(f->dir, sizeof(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/hub.db", f->dir);
	if (tu_pg()) {
		if (tu_pg_reset(tu_pg()))
			return -1;
		snprintf(f->db, sizeof(f->db), "%s", tu_pg());
	}
	if (hc_store_open(f->db, HC_STORE_RW, &f->st, err, sizeof(err)) != HUB_OK) {
		print_error("open: %s\n", err);
		return -1;
	}
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

static int64_t sql_int(struct hc_store *st, const char *sql)
{
	struct hc_db_stmt *s = NULL;
	int64_t v = -1;
	assert_int_equal(hc_db_prep(st, &s, sql, ""), HUB_OK);
	if (hc_db_step(s) == HC_DB_ROW)
		v = hc_db_int64(s, 0);
	hc_db_finalize(s);
	return v;
}

static void sql_text(struct hc_store *st, const char *sql, char *out, size_t n)
{
	struct hc_db_stmt *s = NULL;
	out[0] = '\0';
	assert_int_equal(hc_db_prep(st, &s, sql, ""), HUB_OK);
	if (hc_db_step(s) == HC_DB_ROW && hc_db_text(s, 0))
		snprintf(out, n, "%s", hc_db_text(s, 0));
	hc_db_finalize(s);
}

static void sql_exec(struct hc_store *st, const char *sql)
{
	int rc = hc_db_exec(st, sql);
	if (rc)
		print_error("%s: %s\n", sql, hc_store_errmsg(st));
	assert_int_equal(rc, HUB_OK);
}

/* ------------------------------------------------------ change log helper */

struct changes {
	char items[64][80]; /* "entity:key" */
	int n;
	int64_t last;
};

static int change_cb(void *ud, int64_t seq, const char *entity, const char *key)
{
	struct changes *c = ud;
	assert_true(seq > c->last); /* strictly increasing */
	c->last = seq;
	if (c->n < 64)
		snprintf(c->items[c->n++], sizeof(c->items[0]), "%s:%s", entity, key);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* Changes after seq, sorted (cascades log in SQLite's order, not ours),
 * joined by spaces into out. */
static void changes_since(struct hc_store *st, int64_t after, char *out, size_t n)
{
	struct changes c;
	size_t o = 0;
	memset(&c, 0, sizeof(c));
	c.last = after;
	assert_int_equal(hc_store_changes(st, after, 1000, change_cb, &c), HUB_OK);
	qsort(c.items, (size_t)c.n, sizeof(c.items[0]), cmp_str);
	out[0] = '\0';
	for (int i = 0; i < c.n && o < n; i++)
		o += (size_t)snprintf(out + o, n - o, "%s%s", i ? " " : "", c.items[i]);
}

static int64_t seq_now(struct hc_store *st)
{
	int64_t seq = -1;
	assert_int_equal(hc_store_change_seq(st, &seq), HUB_OK);
	return seq;
}

/* ------------------------------------------------------------ migrations */

static void test_migrations(void **state)
{
	struct fx *f = *state;
	struct hc_store *again = NULL, *ro = NULL;
	char err[256], mode[32];
	int v = -1;
	int64_t objects, seq;
	assert_int_equal(hc_store_schema_version(f->st, &v), HUB_OK);
	assert_int_equal(v, hc_store__migration_count);
	assert_true(hc_store__migration_count >= 2);
	if (tu_pg()) {
		/* the same schema versions on both engines */
		assert_int_equal(hc_store__pg_migration_count, hc_store__migration_count);
		assert_int_equal(
			sql_int(f->st, "SELECT count(*) FROM pg_tables WHERE schemaname = "
				       "current_schema() AND tablename IN ('principals', "
				       "'rooms', 'memberships', 'sessions', 'service_keys', "
				       "'change_log', 'messages', 'webhooks', "
				       "'webhook_outbox', 'node_applied')"),
			10);
		/* every mirrored table logs its changes */
		assert_int_equal(sql_int(f->st, "SELECT count(DISTINCT event_object_table) FROM "
						"information_schema.triggers WHERE "
						"action_statement LIKE '%hub_log_change%'"),
			5);
		assert_int_equal(hc_store_ping(f->st), HUB_OK);
		objects = sql_int(f->st, "SELECT count(*) FROM pg_class");
		seq = seq_now(f->st);
		assert_int_equal(
			hc_store_open(f->db, HC_STORE_RW, &again, err, sizeof(err)), HUB_OK);
		assert_int_equal(hc_store_schema_version(again, &v), HUB_OK);
		assert_int_equal(v, hc_store__migration_count);
		assert_int_equal(sql_int(again, "SELECT count(*) FROM pg_class"), objects);
		assert_int_equal(seq_now(again), seq);
		hc_store_close(again);
		/* read-only opens of a migrated store work */
		assert_int_equal(hc_store_open(f->db, HC_STORE_RO, &ro, err, sizeof(err)), HUB_OK);
		assert_int_equal(hc_store_ping(ro), HUB_OK);
		hc_store_close(ro);
		(void)mode;
		return;
	}
	/* the tables the rest of the hub relies on */
	assert_int_equal(sql_int(f->st, "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
					"AND name IN ('principals', 'rooms', 'memberships', "
					"'sessions', 'service_keys', 'change_log', 'messages', "
					"'webhooks', 'webhook_outbox')"),
		9);
	assert_int_equal(
		sql_int(f->st, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'"), 15);
	/* WAL and foreign keys */
	sql_text(f->st, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	assert_int_equal(sql_int(f->st, "PRAGMA foreign_keys"), 1);
	assert_int_equal(hc_store_ping(f->st), HUB_OK);
	/* a new store and its WAL are private to the service account */
	{
		struct stat sb;
		char wal[PATH_MAX + 32];
		assert_int_equal(hc_store_room_add(f->st, "tmp"), HUB_OK);
		assert_int_equal(stat(f->db, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		snprintf(wal, sizeof(wal), "%s-wal", f->db);
		assert_int_equal(stat(wal, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		assert_int_equal(hc_store_room_del(f->st, "tmp"), HUB_OK);
	}

	/* re-open: nothing runs again */
	objects = sql_int(f->st, "SELECT count(*) FROM sqlite_master");
	seq = seq_now(f->st);
	assert_int_equal(hc_store_open(f->db, HC_STORE_RW, &again, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_store_schema_version(again, &v), HUB_OK);
	assert_int_equal(v, hc_store__migration_count);
	assert_int_equal(sql_int(again, "SELECT count(*) FROM sqlite_master"), objects);
	assert_int_equal(seq_now(again), seq);
	sql_text(again, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	hc_store_close(again);
	again = NULL;

	/* read-only opens of a migrated store work and refuse writes */
	assert_int_equal(hc_store_open(f->db, HC_STORE_RO, &ro, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_store_ping(ro), HUB_OK);
	assert_int_not_equal(hc_store_room_add(ro, "lobby"), HUB_OK);
	hc_store_close(ro);
	assert_int_equal(hc_store_room_exists(f->st, "lobby"), HUB_ERR_NOTFOUND);
}

static void test_open_refusals(void **state)
{
	struct fx *f = *state;
	struct hc_store *st = (struct hc_store *)&st;
	char err[256], path[PATH_MAX + 32];
	sqlite3 *raw = NULL;
	if (tu_pg()) {
		char bad[600];
		/* read-only on a database never migrated */
		hc_store_close(f->st);
		f->st = NULL;
		assert_int_equal(tu_pg_reset(f->db), 0);
		assert_int_equal(
			hc_store_open(f->db, HC_STORE_RO, &st, err, sizeof(err)), HUB_ERR_DB);
		assert_null(st);
		assert_non_null(strstr(err, "not initialised"));
		/* a store made by a newer hub is not touched */
		assert_int_equal(
			hc_store_open(f->db, HC_STORE_RW, &f->st, err, sizeof(err)), HUB_OK);
		snprintf(path, sizeof(path), "UPDATE hub_schema SET version = %d",
			hc_store__migration_count + 1);
		sql_exec(f->st, path);
		assert_int_equal(
			hc_store_open(f->db, HC_STORE_RW, &st, err, sizeof(err)), HUB_ERR_CONFIG);
		assert_non_null(strstr(err, "newer hub"));
		/* nobody there: the reason, and never the password */
		snprintf(bad, sizeof(bad),
			"postgresql://hub:s3cret@127.0.0.1:1/hub?connect_timeout=2");
		assert_int_equal(
			hc_store_open(bad, HC_STORE_RW, &st, err, sizeof(err)), HUB_ERR_DB);
		assert_null(st);
		assert_non_null(strstr(err, "cannot connect"));
		assert_null(strstr(err, "s3cret"));
		snprintf(bad, sizeof(bad), "host=127.0.0.1 port=1 password=s3cret dbname=hub");
		assert_int_equal(
			hc_store_open(bad, HC_STORE_RW, &st, err, sizeof(err)), HUB_ERR_DB);
		assert_null(strstr(err, "s3cret"));
		(void)raw;
		return;
	}
	/* read-only on a file that does not exist */
	snprintf(path, sizeof(path), "%s/none.db", f->dir);
	assert_int_not_equal(hc_store_open(path, HC_STORE_RO, &st, err, sizeof(err)), HUB_OK);
	assert_null(st);
	assert_int_not_equal(access(path, F_OK), 0); /* and it was not created */
	/* read-only on an empty (never migrated) database */
	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_exec(raw, "CREATE TABLE x(a)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	assert_int_equal(hc_store_open(path, HC_STORE_RO, &st, err, sizeof(err)), HUB_ERR_DB);
	assert_non_null(strstr(err, "not initialised"));
	/* a store made by a newer hub is not touched */
	snprintf(path, sizeof(path), "%s/newer.db", f->dir);
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	{
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
			hc_store__migration_count + 1);
		assert_int_equal(sqlite3_exec(raw, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	sqlite3_close(raw);
	assert_int_equal(hc_store_open(path, HC_STORE_RW, &st, err, sizeof(err)), HUB_ERR_CONFIG);
	assert_non_null(strstr(err, "newer hub"));
	/* not a database at all */
	snprintf(path, sizeof(path), "%s/junk.db", f->dir);
	assert_int_equal(tu_write_str(path, "this is not an SQLite database, not at all........."
					    "..............................................."),
		0);
	assert_int_not_equal(hc_store_open(path, HC_STORE_RW, &st, err, sizeof(err)), HUB_OK);
	assert_null(st);
	/* a directory that does not exist */
	snprintf(path, sizeof(path), "%s/no/such/dir/hub.db", f->dir);
	assert_int_equal(hc_store_open(path, HC_STORE_RW, &st, err, sizeof(err)), HUB_ERR_DB);
	assert_non_null(strstr(err, path));
}

/* ------------------------------------------------------------ principals */

struct plist {
	char names[16][HC_NAME_MAX + 1];
	int kinds[16];
	int n, stop_at;
};

static int plist_cb(void *ud, const struct hc_principal *p)
{
	struct plist *l = ud;
	if (l->n < 16) {
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", p->name);
		l->kinds[l->n] = p->kind;
	}
	l->n++;
	return l->n == l->stop_at ? 7 : 0;
}

static void test_users(void **state)
{
	struct fx *f = *state;
	struct hc_principal p;
	char hash[128];
	int64_t count = -1;
	struct plist l;
	assert_int_equal(
		hc_store_user_add(f->st, "alice", "Alice A.", "admin", "$h$alice"), HUB_OK);
	assert_int_equal(hc_store_user_add(f->st, "bob", NULL, "user", "$h$bob"), HUB_OK);
	/* duplicates, whatever the other fields */
	assert_int_equal(hc_store_user_add(f->st, "alice", "", "user", "$h$x"), HUB_ERR_EXISTS);
	/* bad input */
	assert_int_equal(hc_store_user_add(f->st, "a/b", "", "user", "$h"), HUB_ERR_INVAL);
	assert_int_equal(hc_store_user_add(f->st, "", "", "user", "$h"), HUB_ERR_INVAL);
	assert_int_equal(hc_store_user_add(f->st, "carol", "", "root", "$h"), HUB_ERR_INVAL);
	assert_int_equal(hc_store_user_add(f->st, "carol", "", "user", NULL), HUB_ERR_INVAL);
	{
		char long_display[HC_DISPLAY_MAX + 2];
		memset(long_display, 'd', sizeof(long_display) - 1);
		long_display[sizeof(long_display) - 1] = '\0';
		assert_int_equal(hc_store_user_add(f->st, "carol", long_display, "user", "$h"),
			HUB_ERR_INVAL);
		long_display[HC_DISPLAY_MAX] = '\0';
		assert_int_equal(
			hc_store_user_add(f->st, "carol", long_display, "user", "$h"), HUB_OK);
		assert_int_equal(hc_store_principal_get(f->st, "carol", &p, NULL, 0), HUB_OK);
		assert_int_equal(strlen(p.display_name), HC_DISPLAY_MAX);
	}
	/* read back */
	assert_int_equal(hc_store_principal_get(f->st, "alice", &p, hash, sizeof(hash)), HUB_OK);
	assert_string_equal(p.name, "alice");
	assert_int_equal(p.kind, HC_KIND_USER);
	assert_string_equal(p.display_name, "Alice A.");
	assert_string_equal(p.role, "admin");
	assert_string_equal(p.owner, "");
	assert_string_equal(hash, "$h$alice");
	assert_in_range((uint64_t)p.created_at, (uint64_t)hc_now() - 5, (uint64_t)hc_now() + 5);
	assert_int_equal(hc_store_principal_get(f->st, "bob", &p, NULL, 0), HUB_OK);
	assert_string_equal(p.display_name, "");
	assert_string_equal(p.role, "user");
	assert_int_equal(hc_store_principal_get(f->st, "nobody", &p, NULL, 0), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_principal_get(f->st, "../x", &p, NULL, 0), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_user_count(f->st, &count), HUB_OK);
	assert_int_equal(count, 3);
	/* role and password */
	assert_int_equal(hc_store_user_set_role(f->st, "bob", "admin"), HUB_OK);
	assert_int_equal(hc_store_principal_get(f->st, "bob", &p, NULL, 0), HUB_OK);
	assert_string_equal(p.role, "admin");
	assert_int_equal(hc_store_user_set_role(f->st, "bob", "god"), HUB_ERR_INVAL);
	assert_int_equal(hc_store_user_set_role(f->st, "nobody", "user"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_user_set_password(f->st, "bob", "$h$new", false), HUB_OK);
	assert_int_equal(hc_store_principal_get(f->st, "bob", &p, hash, sizeof(hash)), HUB_OK);
	assert_string_equal(hash, "$h$new");
	assert_int_equal(
		hc_store_user_set_password(f->st, "nobody", "$h", false), HUB_ERR_NOTFOUND);
	/* listing: sorted, by kind, early stop */
	assert_int_equal(hc_store_device_add(f->st, "aaa-dev", "bob", "", HASH64), HUB_OK);
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_principal_list(f->st, 0, plist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.names[0], "aaa-dev");
	assert_int_equal(l.kinds[0], HC_KIND_DEVICE);
	assert_string_equal(l.names[1], "alice");
	assert_string_equal(l.names[2], "bob");
	assert_string_equal(l.names[3], "carol");
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_principal_list(f->st, HC_KIND_USER, plist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.names[0], "alice");
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_principal_list(f->st, HC_KIND_DEVICE, plist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 1);
	memset(&l, 0, sizeof(l));
	l.stop_at = 2;
	assert_int_equal(hc_store_principal_list(f->st, 0, plist_cb, &l), 7);
	assert_int_equal(l.n, 2);
	/* devices are not users */
	assert_int_equal(hc_store_user_count(f->st, &count), HUB_OK);
	assert_int_equal(count, 3);
	assert_int_equal(
		hc_store_user_set_password(f->st, "aaa-dev", "$h", false), HUB_ERR_NOTFOUND);
}

static void test_shared_namespace(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hc_store_user_add(f->st, "alice", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_device_add(f->st, "truck1", "alice", "", HASH64), HUB_OK);
	/* a device named like a user, a user named like a device */
	assert_int_equal(hc_store_device_add(f->st, "alice", "alice", "", HASH64), HUB_ERR_EXISTS);
	assert_int_equal(hc_store_user_add(f->st, "truck1", "", "user", "$h"), HUB_ERR_EXISTS);
	assert_int_equal(hc_store_device_add(f->st, "truck1", "alice", "", HASH64), HUB_ERR_EXISTS);
}

static void test_devices(void **state)
{
	struct fx *f = *state;
	struct hc_principal p;
	char hash[65];
	assert_int_equal(hc_store_user_add(f->st, "alice", "", "user", "$h"), HUB_OK);
	/* owner must be an existing user */
	assert_int_equal(
		hc_store_device_add(f->st, "truck1", "nobody", "", HASH64), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_device_add(f->st, "truck1", "alice", "Truck 1", HASH64), HUB_OK);
	assert_int_equal(
		hc_store_device_add(f->st, "trailer", "truck1", "", HASH64), HUB_ERR_NOTFOUND);
	/* bad input */
	assert_int_equal(hc_store_device_add(f->st, "t2", "alice", "", "abc"), HUB_ERR_INVAL);
	assert_int_equal(hc_store_device_add(f->st, "t2", "alice", "", NULL), HUB_ERR_INVAL);
	assert_int_equal(hc_store_device_add(f->st, "t#2", "alice", "", HASH64), HUB_ERR_INVAL);
	assert_int_equal(hc_store_device_add(f->st, "t2", "a+b", "", HASH64), HUB_ERR_INVAL);
	/* read back */
	assert_int_equal(hc_store_principal_get(f->st, "truck1", &p, NULL, 0), HUB_OK);
	assert_int_equal(p.kind, HC_KIND_DEVICE);
	assert_string_equal(p.owner, "alice");
	assert_string_equal(p.display_name, "Truck 1");
	assert_int_equal(hc_store_device_secret_hash(f->st, "truck1", hash), HUB_OK);
	assert_string_equal(hash, HASH64);
	assert_int_equal(hc_store_device_secret_hash(f->st, "alice", hash), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_device_secret_hash(f->st, "nope", hash), HUB_ERR_NOTFOUND);
	/* delete: only devices, once */
	assert_int_equal(hc_store_device_del(f->st, "alice"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_principal_get(f->st, "alice", &p, NULL, 0), HUB_OK);
	assert_int_equal(hc_store_device_del(f->st, "truck1"), HUB_OK);
	assert_int_equal(hc_store_device_del(f->st, "truck1"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_principal_get(f->st, "truck1", &p, NULL, 0), HUB_ERR_NOTFOUND);
	/* the name is free again, for a user too */
	assert_int_equal(hc_store_user_add(f->st, "truck1", "", "user", "$h"), HUB_OK);
}

/* ---------------------------------------------------- rooms, memberships */

struct mlist {
	char rows[16][140];
	int n;
};

static int mlist_cb(void *ud, const struct hc_membership *m)
{
	struct mlist *l = ud;
	if (l->n < 16)
		snprintf(l->rows[l->n], sizeof(l->rows[0]), "%s/%s=%d", m->room, m->principal,
			m->level);
	l->n++;
	return 0;
}

struct rlist {
	char rows[8][80];
	int n;
};

static int rlist_cb(void *ud, const struct hc_room *r)
{
	struct rlist *l = ud;
	if (l->n < 8)
		snprintf(l->rows[l->n], sizeof(l->rows[0]), "%s:%d", r->name, r->members);
	l->n++;
	return 0;
}

static void add_people(struct hc_store *st)
{
	assert_int_equal(hc_store_user_add(st, "alice", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "bob", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "carol", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_device_add(st, "truck1", "alice", "", HASH64), HUB_OK);
	assert_int_equal(hc_store_room_add(st, "lobby"), HUB_OK);
	assert_int_equal(hc_store_room_add(st, "fleet"), HUB_OK);
	assert_int_equal(hc_store_room_add(st, "zoo"), HUB_OK);
}

static void test_grant_revoke_level(void **state)
{
	struct fx *f = *state;
	int level = -1;
	add_people(f->st);
	assert_int_equal(hc_store_room_add(f->st, "lobby"), HUB_ERR_EXISTS);
	assert_int_equal(hc_store_room_add(f->st, "a/b"), HUB_ERR_INVAL);
	assert_int_equal(hc_store_room_exists(f->st, "lobby"), HUB_OK);
	assert_int_equal(hc_store_room_exists(f->st, "nope"), HUB_ERR_NOTFOUND);

	assert_int_equal(hc_store_grant(f->st, "lobby", "alice", HC_LEVEL_WRITE), HUB_OK);
	assert_int_equal(hc_store_level(f->st, "lobby", "alice", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_WRITE);
	/* change the level */
	assert_int_equal(hc_store_grant(f->st, "lobby", "alice", HC_LEVEL_READ), HUB_OK);
	assert_int_equal(hc_store_level(f->st, "lobby", "alice", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_READ);
	assert_int_equal(hc_store_grant(f->st, "lobby", "alice", HC_LEVEL_ADMIN), HUB_OK);
	assert_int_equal(hc_store_level(f->st, "lobby", "alice", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_ADMIN);
	/* devices can be members */
	assert_int_equal(hc_store_grant(f->st, "fleet", "truck1", HC_LEVEL_WRITE), HUB_OK);
	/* unknown room or principal, bad levels */
	assert_int_equal(hc_store_grant(f->st, "nope", "alice", HC_LEVEL_READ), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_grant(f->st, "lobby", "nobody", HC_LEVEL_READ), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_grant(f->st, "lobby", "bob", HC_LEVEL_NONE), HUB_ERR_INVAL);
	assert_int_equal(hc_store_grant(f->st, "lobby", "bob", 4), HUB_ERR_INVAL);
	assert_int_equal(hc_store_grant(f->st, "lobby", "bob", -1), HUB_ERR_INVAL);
	assert_int_equal(hc_store_grant(f->st, "lo/bby", "bob", HC_LEVEL_READ), HUB_ERR_NOTFOUND);
	/* not a member */
	assert_int_equal(hc_store_level(f->st, "lobby", "bob", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_NONE);
	assert_int_equal(hc_store_level(f->st, "nope", "bob", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_NONE);
	assert_int_equal(hc_store_level(f->st, "a/b", "#", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_NONE);
	/* revoke */
	assert_int_equal(hc_store_revoke(f->st, "lobby", "alice"), HUB_OK);
	assert_int_equal(hc_store_level(f->st, "lobby", "alice", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_NONE);
	assert_int_equal(hc_store_revoke(f->st, "lobby", "alice"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_revoke(f->st, "nope", "alice"), HUB_ERR_NOTFOUND);
}

static void test_membership_list_order(void **state)
{
	struct fx *f = *state;
	struct mlist l;
	struct rlist r;
	add_people(f->st);
	/* granted in scrambled order */
	assert_int_equal(hc_store_grant(f->st, "zoo", "bob", 1), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "lobby", "carol", 1), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "fleet", "truck1", 2), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "lobby", "alice", 2), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "fleet", "bob", 3), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "lobby", "bob", 1), HUB_OK);

	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_membership_list(f->st, NULL, NULL, mlist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 6);
	assert_string_equal(l.rows[0], "fleet/bob=3");
	assert_string_equal(l.rows[1], "fleet/truck1=2");
	assert_string_equal(l.rows[2], "lobby/alice=2");
	assert_string_equal(l.rows[3], "lobby/bob=1");
	assert_string_equal(l.rows[4], "lobby/carol=1");
	assert_string_equal(l.rows[5], "zoo/bob=1");
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_membership_list(f->st, NULL, "bob", mlist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.rows[0], "fleet/bob=3");
	assert_string_equal(l.rows[1], "lobby/bob=1");
	assert_string_equal(l.rows[2], "zoo/bob=1");
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_membership_list(f->st, "lobby", NULL, mlist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.rows[0], "lobby/alice=2");
	assert_string_equal(l.rows[2], "lobby/carol=1");
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_membership_list(f->st, "lobby", "bob", mlist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 1);
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_membership_list(f->st, "nope", NULL, mlist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 0);

	memset(&r, 0, sizeof(r));
	assert_int_equal(hc_store_room_list(f->st, rlist_cb, &r), HUB_OK);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.rows[0], "fleet:2");
	assert_string_equal(r.rows[1], "lobby:3");
	assert_string_equal(r.rows[2], "zoo:1");
}

static void test_room_del_cascades(void **state)
{
	struct fx *f = *state;
	struct mlist l;
	int level;
	add_people(f->st);
	assert_int_equal(hc_store_grant(f->st, "lobby", "alice", 2), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "lobby", "bob", 1), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "fleet", "bob", 1), HUB_OK);
	assert_int_equal(hc_store_room_del(f->st, "lobby"), HUB_OK);
	assert_int_equal(hc_store_room_exists(f->st, "lobby"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_room_del(f->st, "lobby"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_room_del(f->st, "a b"), HUB_ERR_NOTFOUND);
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_membership_list(f->st, NULL, NULL, mlist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.rows[0], "fleet/bob=1");
	/* a new room of the same name starts empty */
	assert_int_equal(hc_store_room_add(f->st, "lobby"), HUB_OK);
	assert_int_equal(hc_store_level(f->st, "lobby", "alice", &level), HUB_OK);
	assert_int_equal(level, HC_LEVEL_NONE);
}

/* -------------------------------------------------------------- sessions */

static void test_sessions(void **state)
{
	struct fx *f = *state;
	char sid[HC_SID_LEN + 1], secret[HC_SECRET_LEN + 1], sid2[HC_SID_LEN + 1],
		secret2[HC_SECRET_LEN + 1];
	struct hc_session s;
	int64_t now = hc_now(), live = -1;
	add_people(f->st);
	assert_int_equal(
		hc_store_session_create(f->st, "alice", "web", 3600, "127.0.0.1", sid, secret),
		HUB_OK);
	assert_int_equal(strlen(sid), HC_SID_LEN);
	assert_int_equal(strlen(secret), HC_SECRET_LEN);
	/* only a hash of the secret is stored */
	{
		char sql[256], got[128];
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM sessions WHERE secret_hash = '%s'",
			secret);
		assert_int_equal(sql_int(f->st, sql), 0);
		sql_text(f->st, "SELECT secret_hash FROM sessions", got, sizeof(got));
		assert_int_equal(strlen(got), 64);
	}
	assert_int_equal(hc_store_session_by_secret(f->st, secret, now, &s), HUB_OK);
	assert_string_equal(s.sid, sid);
	assert_string_equal(s.principal, "alice");
	assert_string_equal(s.kind, "web");
	assert_string_equal(s.addr, "127.0.0.1");
	assert_int_equal(s.revoked_at, 0);
	assert_in_range((uint64_t)(s.expires_at - now), 3595, 3605);
	assert_int_equal(hc_store_session_get(f->st, sid, &s), HUB_OK);
	assert_string_equal(s.principal, "alice");
	/* unknown and malformed secrets */
	{
		char wrong[HC_SECRET_LEN + 1];
		memcpy(wrong, secret, sizeof(wrong));
		wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
		assert_int_equal(
			hc_store_session_by_secret(f->st, wrong, now, &s), HUB_ERR_NOTFOUND);
		assert_int_equal(
			hc_store_session_by_secret(f->st, "short", now, &s), HUB_ERR_NOTFOUND);
		assert_int_equal(hc_store_session_by_secret(f->st, "", now, &s), HUB_ERR_NOTFOUND);
		assert_int_equal(
			hc_store_session_by_secret(f->st, NULL, now, &s), HUB_ERR_NOTFOUND);
		assert_int_equal(hc_store_session_by_secret(f->st, sid, now, &s), HUB_ERR_NOTFOUND);
	}
	assert_int_equal(hc_store_session_get(f->st, "nope", &s), HUB_ERR_NOTFOUND);
	/* bad create arguments */
	assert_int_equal(hc_store_session_create(f->st, "nobody", "web", 60, NULL, sid2, secret2),
		HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_session_create(f->st, "alice", "web", 0, NULL, sid2, secret2),
		HUB_ERR_INVAL);
	assert_int_equal(
		hc_store_session_create(f->st, "alice", "webwebweb", 60, NULL, sid2, secret2),
		HUB_ERR_INVAL);
	assert_int_equal(hc_store_session_create(f->st, "a/b", "web", 60, NULL, sid2, secret2),
		HUB_ERR_INVAL);
	/* expiry: ttl 1, looked up from the future */
	assert_int_equal(
		hc_store_session_create(f->st, "bob", "cli", 1, NULL, sid2, secret2), HUB_OK);
	assert_int_equal(hc_store_session_by_secret(f->st, secret2, now + 10, &s), HUB_ERR_EXPIRED);
	assert_string_equal(s.sid, sid2); /* filled when a row exists */
	assert_string_equal(s.principal, "bob");
	assert_int_equal(hc_store_session_count_live(f->st, now, &live), HUB_OK);
	assert_int_equal(live, 2);
	assert_int_equal(hc_store_session_count_live(f->st, now + 10, &live), HUB_OK);
	assert_int_equal(live, 1);
	/* revoke */
	assert_int_equal(hc_store_session_revoke(f->st, sid, "logout"), HUB_OK);
	assert_int_equal(hc_store_session_by_secret(f->st, secret, now, &s), HUB_ERR_REVOKED);
	assert_string_equal(s.reason, "logout");
	assert_true(s.revoked_at > 0);
	assert_int_equal(hc_store_session_revoke(f->st, sid, "logout"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_session_revoke(f->st, "nope", "logout"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_session_revoke(f->st, sid2, "a-reason-too-long"), HUB_ERR_INVAL);
	/* a revoked session that also expired reports the revocation */
	assert_int_equal(
		hc_store_session_by_secret(f->st, secret, now + 999999, &s), HUB_ERR_REVOKED);
}

struct slist {
	char sids[8][HC_SID_LEN + 1];
	int n;
};

static int slist_cb(void *ud, const struct hc_session *s)
{
	struct slist *l = ud;
	if (l->n < 8)
		memcpy(l->sids[l->n], s->sid, sizeof(l->sids[0]));
	l->n++;
	return 0;
}

static void test_session_revoke_principal_and_list(void **state)
{
	struct fx *f = *state;
	char sid[4][HC_SID_LEN + 1], secret[HC_SECRET_LEN + 1];
	struct slist l;
	struct hc_session s;
	int count = -1;
	int64_t now = hc_now();
	add_people(f->st);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
			hc_store_session_create(f->st, "alice", "web", 3600, NULL, sid[i], secret),
			HUB_OK);
	assert_int_equal(
		hc_store_session_create(f->st, "bob", "web", 3600, NULL, sid[3], secret), HUB_OK);
	assert_int_equal(hc_store_session_revoke(f->st, sid[0], "logout"), HUB_OK);
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_session_list(f->st, "alice", false, now, slist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 2);
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_session_list(f->st, "alice", true, now, slist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 3);
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_session_list(f->st, NULL, false, now, slist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 3);
	/* the two live ones of alice, not the revoked one, not bob's */
	assert_int_equal(
		hc_store_session_revoke_principal(f->st, "alice", "kicked", &count), HUB_OK);
	assert_int_equal(count, 2);
	assert_int_equal(hc_store_session_get(f->st, sid[0], &s), HUB_OK);
	assert_string_equal(s.reason, "logout");
	assert_int_equal(hc_store_session_get(f->st, sid[1], &s), HUB_OK);
	assert_string_equal(s.reason, "kicked");
	assert_int_equal(hc_store_session_get(f->st, sid[3], &s), HUB_OK);
	assert_int_equal(s.revoked_at, 0);
	assert_int_equal(
		hc_store_session_revoke_principal(f->st, "alice", "kicked", &count), HUB_OK);
	assert_int_equal(count, 0);
	assert_int_equal(
		hc_store_session_revoke_principal(f->st, "nobody", "kicked", NULL), HUB_OK);
	/* a password change with revoke ends bob's session */
	assert_int_equal(hc_store_user_set_password(f->st, "bob", "$h2", true), HUB_OK);
	assert_int_equal(hc_store_session_get(f->st, sid[3], &s), HUB_OK);
	assert_true(s.revoked_at > 0);
	assert_string_equal(s.reason, "password");
}

static void test_user_del_cascades(void **state)
{
	struct fx *f = *state;
	char sid_a[HC_SID_LEN + 1], sid_d[HC_SID_LEN + 1], sid_b[HC_SID_LEN + 1];
	char sec_a[HC_SECRET_LEN + 1], sec_d[HC_SECRET_LEN + 1], sec_b[HC_SECRET_LEN + 1];
	struct hc_principal p;
	struct hc_session s;
	struct mlist l;
	int64_t now = hc_now();
	add_people(f->st);
	assert_int_equal(hc_store_device_add(f->st, "truck2", "alice", "", HASH64), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "lobby", "alice", 2), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "fleet", "truck1", 2), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "lobby", "bob", 1), HUB_OK);
	assert_int_equal(
		hc_store_session_create(f->st, "alice", "web", 3600, NULL, sid_a, sec_a), HUB_OK);
	assert_int_equal(
		hc_store_session_create(f->st, "truck1", "cli", 3600, NULL, sid_d, sec_d), HUB_OK);
	assert_int_equal(
		hc_store_session_create(f->st, "bob", "web", 3600, NULL, sid_b, sec_b), HUB_OK);

	assert_int_equal(hc_store_user_del(f->st, "truck1"), HUB_ERR_NOTFOUND); /* a device */
	assert_int_equal(hc_store_user_del(f->st, "nobody"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_user_del(f->st, "alice"), HUB_OK);
	assert_int_equal(hc_store_principal_get(f->st, "alice", &p, NULL, 0), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_principal_get(f->st, "truck1", &p, NULL, 0), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_principal_get(f->st, "truck2", &p, NULL, 0), HUB_ERR_NOTFOUND);
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_store_membership_list(f->st, NULL, NULL, mlist_cb, &l), HUB_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.rows[0], "lobby/bob=1");
	/* sessions: the user's and its devices' revoked as "deleted", others live */
	assert_int_equal(hc_store_session_by_secret(f->st, sec_a, now, &s), HUB_ERR_REVOKED);
	assert_string_equal(s.reason, "deleted");
	assert_int_equal(hc_store_session_by_secret(f->st, sec_d, now, &s), HUB_ERR_REVOKED);
	assert_string_equal(s.reason, "deleted");
	assert_int_equal(hc_store_session_by_secret(f->st, sec_b, now, &s), HUB_OK);
	assert_int_equal(hc_store_user_del(f->st, "alice"), HUB_ERR_NOTFOUND);
}

/* ---------------------------------------------------------- service keys */

static void test_service_keys(void **state)
{
	struct fx *f = *state;
	char sec1[HC_SECRET_LEN + 1], sec2[HC_SECRET_LEN + 1], name[HC_NAME_MAX + 1];
	assert_int_equal(hc_store_servicekey_add(f->st, "billing", sec1), HUB_OK);
	assert_int_equal(strlen(sec1), HC_SECRET_LEN);
	assert_int_equal(hc_store_servicekey_add(f->st, "dispatch", sec2), HUB_OK);
	assert_string_not_equal(sec1, sec2);
	assert_int_equal(hc_store_servicekey_add(f->st, "billing", sec2), HUB_ERR_EXISTS);
	assert_int_equal(hc_store_servicekey_add(f->st, "bad name", sec2), HUB_ERR_INVAL);
	assert_int_equal(hc_store_servicekey_check(f->st, sec1, name), HUB_OK);
	assert_string_equal(name, "billing");
	{
		char other[HC_SECRET_LEN + 1];
		/* dispatch's secret was overwritten by the failed adds: make a fresh one */
		assert_int_equal(hc_store_servicekey_del(f->st, "dispatch"), HUB_OK);
		assert_int_equal(hc_store_servicekey_add(f->st, "dispatch", sec2), HUB_OK);
		assert_int_equal(hc_store_servicekey_check(f->st, sec2, name), HUB_OK);
		assert_string_equal(name, "dispatch");
		memcpy(other, sec1, sizeof(other));
		other[HC_SECRET_LEN - 1] = other[HC_SECRET_LEN - 1] == 'A' ? 'B' : 'A';
		assert_int_equal(hc_store_servicekey_check(f->st, other, name), HUB_ERR_AUTH);
	}
	assert_int_equal(hc_store_servicekey_check(f->st, "", name), HUB_ERR_AUTH);
	assert_int_equal(hc_store_servicekey_check(f->st, NULL, name), HUB_ERR_AUTH);
	assert_int_equal(hc_store_servicekey_check(f->st, "billing", name), HUB_ERR_AUTH);
	assert_int_equal(hc_store_servicekey_del(f->st, "billing"), HUB_OK);
	assert_int_equal(hc_store_servicekey_check(f->st, sec1, name), HUB_ERR_AUTH);
	assert_int_equal(hc_store_servicekey_del(f->st, "billing"), HUB_ERR_NOTFOUND);
	/* keys share the namespace of users and devices (a key's name is the
	 * sender of what it publishes) */
	assert_int_equal(hc_store_user_add(f->st, "carla", "Carla", "user", "$h$carla"), HUB_OK);
	assert_int_equal(hc_store_device_add(f->st, "van9", "carla", NULL, HASH64), HUB_OK);
	assert_int_equal(hc_store_servicekey_add(f->st, "carla", sec1), HUB_ERR_EXISTS);
	assert_int_equal(hc_store_servicekey_add(f->st, "van9", sec1), HUB_ERR_EXISTS);
	assert_int_equal(hc_store_user_add(f->st, "dispatch", "D", "user", "$h$d"), HUB_ERR_EXISTS);
	assert_int_equal(
		hc_store_device_add(f->st, "dispatch", "carla", NULL, HASH64), HUB_ERR_EXISTS);
	/* only the hash is stored */
	{
		char sql[200];
		snprintf(sql, sizeof(sql),
			"SELECT count(*) FROM service_keys WHERE key_hash = '%s'", sec2);
		assert_int_equal(sql_int(f->st, sql), 0);
	}
}

/* ------------------------------------------------------------ change log */

static void test_change_log(void **state)
{
	struct fx *f = *state;
	char got[4096], want[1024], sid[HC_SID_LEN + 1], secret[HC_SECRET_LEN + 1];
	int64_t s0;

#define EXPECT_CHANGES(...)                                                                        \
	do {                                                                                       \
		snprintf(want, sizeof(want), __VA_ARGS__);                                         \
		changes_since(f->st, s0, got, sizeof(got));                                        \
		if (strcmp(got, want) != 0)                                                        \
			fail_msg("changes:\n  got  '%s'\n  want '%s'", got, want);                 \
		s0 = seq_now(f->st);                                                               \
	} while (0)

	s0 = seq_now(f->st);
	assert_int_equal(s0, 0);
	assert_int_equal(hc_store_user_add(f->st, "alice", "", "user", "$h"), HUB_OK);
	EXPECT_CHANGES("principal:alice");
	assert_int_equal(hc_store_user_add(f->st, "alice", "", "user", "$h"), HUB_ERR_EXISTS);
	EXPECT_CHANGES("%s", ""); /* a failed write logs nothing */
	assert_int_equal(hc_store_user_add(f->st, "bob", "", "user", "$h"), HUB_OK);
	assert_int_equal(hc_store_device_add(f->st, "truck1", "alice", "", HASH64), HUB_OK);
	EXPECT_CHANGES("principal:bob principal:truck1");
	assert_int_equal(hc_store_room_add(f->st, "lobby"), HUB_OK);
	assert_int_equal(hc_store_room_add(f->st, "fleet"), HUB_OK);
	EXPECT_CHANGES("room:fleet room:lobby");
	assert_int_equal(hc_store_grant(f->st, "lobby", "alice", 2), HUB_OK);
	EXPECT_CHANGES("membership:lobby/alice");
	assert_int_equal(hc_store_grant(f->st, "lobby", "alice", 3), HUB_OK);
	EXPECT_CHANGES("membership:lobby/alice");
	assert_int_equal(hc_store_grant(f->st, "lobby", "alice", 3), HUB_OK); /* no change */
	EXPECT_CHANGES("%s", "");
	assert_int_equal(hc_store_grant(f->st, "lobby", "bob", 1), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "fleet", "truck1", 2), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "fleet", "bob", 1), HUB_OK);
	EXPECT_CHANGES("membership:fleet/bob membership:fleet/truck1 membership:lobby/bob");
	assert_int_equal(hc_store_revoke(f->st, "fleet", "bob"), HUB_OK);
	EXPECT_CHANGES("membership:fleet/bob");
	assert_int_equal(hc_store_user_set_role(f->st, "bob", "admin"), HUB_OK);
	EXPECT_CHANGES("principal:bob");
	assert_int_equal(hc_store_user_set_password(f->st, "bob", "$h2", false), HUB_OK);
	EXPECT_CHANGES("principal:bob");
	assert_int_equal(
		hc_store_session_create(f->st, "alice", "web", 3600, NULL, sid, secret), HUB_OK);
	EXPECT_CHANGES("session:%s", sid);
	assert_int_equal(hc_store_session_revoke(f->st, sid, "logout"), HUB_OK);
	EXPECT_CHANGES("session:%s", sid);
	/* service keys are mirrored (services log in to the broker) */
	assert_int_equal(hc_store_servicekey_add(f->st, "k", secret), HUB_OK);
	EXPECT_CHANGES("service:k");
	/* a room's hook is a change of the room; setting it again is none */
	assert_int_equal(hc_store_room_set_hook(f->st, "lobby", "k", NULL), HUB_OK);
	EXPECT_CHANGES("room:lobby");
	assert_int_equal(hc_store_room_set_hook(f->st, "lobby", "k", NULL), HUB_OK);
	EXPECT_CHANGES("%s", "");
	assert_int_equal(hc_store_room_set_hook(f->st, "lobby", NULL, NULL), HUB_OK);
	EXPECT_CHANGES("room:lobby");
	assert_int_equal(hc_store_servicekey_del(f->st, "k"), HUB_OK);
	EXPECT_CHANGES("service:k");

	/* user delete: the user, its device, every membership of both, and the
	 * live session (revoked) */
	assert_int_equal(hc_store_grant(f->st, "fleet", "alice", 1), HUB_OK);
	assert_int_equal(
		hc_store_session_create(f->st, "alice", "web", 3600, NULL, sid, secret), HUB_OK);
	s0 = seq_now(f->st);
	assert_int_equal(hc_store_user_del(f->st, "alice"), HUB_OK);
	EXPECT_CHANGES("membership:fleet/alice membership:fleet/truck1 membership:lobby/alice "
		       "principal:alice principal:truck1 session:%s",
		sid);
	/* device delete: the device and its memberships */
	assert_int_equal(hc_store_device_add(f->st, "truck2", "bob", "", HASH64), HUB_OK);
	assert_int_equal(hc_store_grant(f->st, "fleet", "truck2", 2), HUB_OK);
	s0 = seq_now(f->st);
	assert_int_equal(hc_store_device_del(f->st, "truck2"), HUB_OK);
	EXPECT_CHANGES("membership:fleet/truck2 principal:truck2");
	/* room delete: the room and its memberships */
	assert_int_equal(hc_store_room_del(f->st, "lobby"), HUB_OK);
	EXPECT_CHANGES("membership:lobby/bob room:lobby");
#undef EXPECT_CHANGES

	/* hc_store_changes: paging with limit, callback stop */
	{
		struct changes c;
		memset(&c, 0, sizeof(c));
		assert_int_equal(hc_store_changes(f->st, 0, 3, change_cb, &c), HUB_OK);
		assert_int_equal(c.n, 3);
		assert_string_equal(c.items[0], "principal:alice");
	}
	{
		int64_t min = -1;
		assert_int_equal(hc_store_change_min(f->st, &min), HUB_OK);
		assert_int_equal(min, 1);
	}
}

static void test_purge(void **state)
{
	struct fx *f = *state;
	char sid_live[HC_SID_LEN + 1], sid_rev[HC_SID_LEN + 1], sid_exp[HC_SID_LEN + 1],
		secret[HC_SECRET_LEN + 1];
	struct hc_session s;
	int64_t now = hc_now(), seq_before, min = -1, seq_after = -1;
	add_people(f->st);
	assert_int_equal(
		hc_store_session_create(f->st, "alice", "web", 3600, NULL, sid_live, secret),
		HUB_OK);
	assert_int_equal(
		hc_store_session_create(f->st, "alice", "web", 3600, NULL, sid_rev, secret),
		HUB_OK);
	assert_int_equal(
		hc_store_session_create(f->st, "bob", "web", 1, NULL, sid_exp, secret), HUB_OK);
	assert_int_equal(hc_store_session_revoke(f->st, sid_rev, "logout"), HUB_OK);
	/* a cutoff in the past: nothing old enough */
	seq_before = seq_now(f->st);
	assert_int_equal(hc_store_purge(f->st, now - 3600, 1000, NULL), HUB_OK);
	assert_int_equal(hc_store_session_get(f->st, sid_rev, &s), HUB_OK);
	assert_int_equal(hc_store_session_get(f->st, sid_exp, &s), HUB_OK);
	assert_int_equal(hc_store_change_min(f->st, &min), HUB_OK);
	assert_int_equal(min, 1);
	assert_int_equal(seq_now(f->st), seq_before);
	/* a day later, seen from the store: everything above is 100 s older;
	 * purge what ended before now - 50 */
	sql_exec(f->st, "UPDATE sessions SET created_at = created_at - 100,"
			" expires_at = expires_at - 100,"
			" revoked_at = CASE revoked_at WHEN 0 THEN 0 ELSE revoked_at - 100 END;"
			"UPDATE change_log SET at = at - 100");
	assert_int_equal(hc_store_purge(f->st, now - 50, 1000, NULL), HUB_OK);
	assert_int_equal(hc_store_session_get(f->st, sid_live, &s), HUB_OK);
	assert_int_equal(hc_store_session_get(f->st, sid_rev, &s), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_session_get(f->st, sid_exp, &s), HUB_ERR_NOTFOUND);
	/* the old log rows are gone; the purge's own deletions are logged (and
	 * kept), so the sequence moves on */
	assert_int_equal(hc_store_change_min(f->st, &min), HUB_OK);
	assert_true(min > seq_before);
	assert_int_equal(hc_store_change_seq(f->st, &seq_after), HUB_OK);
	assert_int_equal(seq_after, seq_before + 3 + 2); /* 3 backdating updates, 2 deletes */
	assert_int_equal(sql_int(f->st, "SELECT count(*) FROM change_log"), 2);
}

/* A purge deletes at most a batch of each table a call, oldest log rows
 * first, and says when there is more: a backlog drains over several short
 * calls. */
static void test_purge_batches(void **state)
{
	struct fx *f = *state;
	char sid[HC_SID_LEN + 1], secret[HC_SECRET_LEN + 1], q[128];
	int64_t now = hc_now(), sessions, logs, calls = 0, last_min = -1, min;
	bool more = true;
	add_people(f->st);
	for (int i = 0; i < 7; i++)
		assert_int_equal(
			hc_store_session_create(f->st, "bob", "web", 1, NULL, sid, secret), HUB_OK);
	sql_exec(f->st, "UPDATE sessions SET created_at = created_at - 100,"
			" expires_at = expires_at - 100; UPDATE change_log SET at = at - 100");
	sessions = sql_int(f->st, "SELECT count(*) FROM sessions");
	logs = sql_int(f->st, "SELECT count(*) FROM change_log");
	assert_true(sessions == 7 && logs > 7);
	while (more) {
		int64_t s0 = sql_int(f->st, "SELECT count(*) FROM sessions");
		assert_true(calls++ < 50);
		assert_int_equal(hc_store_purge(f->st, now - 50, 3, &more), HUB_OK);
		assert_true(s0 - sql_int(f->st, "SELECT count(*) FROM sessions") <= 3);
		assert_int_equal(hc_store_change_min(f->st, &min), HUB_OK);
		assert_true(min >= last_min); /* oldest first */
		last_min = min;
	}
	assert_true(calls >= 3);
	assert_int_equal(sql_int(f->st, "SELECT count(*) FROM sessions"), 0);
	/* what is left of the log is the purges' own deletions, all newer */
	snprintf(q, sizeof(q), "SELECT count(*) FROM change_log WHERE at < %lld",
		(long long)now - 50);
	assert_int_equal(sql_int(f->st, q), 0);
}

/* ----------------------------------------------------------- concurrency */

/* A handle in a long read transaction does not block a writer (WAL), and
 * keeps its snapshot until it ends the transaction. */
static void test_reader_beside_writer(void **state)
{
	struct fx *f = *state;
	struct hc_store *reader = NULL;
	char err[256];
	int64_t t0;
	assert_int_equal(hc_store_open(f->db, HC_STORE_RO, &reader, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_store_room_add(f->st, "before"), HUB_OK);
	assert_int_equal(hc_db_read_begin(reader), HUB_OK);
	assert_int_equal(sql_int(reader, "SELECT count(*) FROM rooms"), 1);
	t0 = hc_mono_ms();
	for (int i = 0; i < 50; i++) {
		char name[16];
		snprintf(name, sizeof(name), "r%d", i);
		assert_int_equal(hc_store_room_add(f->st, name), HUB_OK);
	}
	/* no waiting on the reader (busy timeout is 5 s) */
	assert_true(hc_mono_ms() - t0 < 4000);
	assert_int_equal(sql_int(reader, "SELECT count(*) FROM rooms"), 1);
	hc_db_read_end(reader);
	assert_int_equal(sql_int(reader, "SELECT count(*) FROM rooms"), 51);
	hc_store_close(reader);
}

struct writer {
	const char *db;
	int id, n, busy, other;
	pthread_t th;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct hc_store *st = NULL;
	char err[256];
	if (hc_store_open(w->db, HC_STORE_RW, &st, err, sizeof(err)) != HUB_OK) {
		w->other = -1;
		return NULL;
	}
	for (int i = 0; i < w->n; i++) {
		char name[32], sid[HC_SID_LEN + 1], secret[HC_SECRET_LEN + 1];
		int rc;
		snprintf(name, sizeof(name), "w%d-%d", w->id, i);
		rc = hc_store_room_add(st, name);
		if (rc == HUB_OK)
			rc = hc_store_session_create(st, "alice", "web", 60, NULL, sid, secret);
		if (rc == HUB_ERR_BUSY)
			w->busy++;
		else if (rc != HUB_OK)
			w->other++;
	}
	hc_store_close(st);
	return NULL;
}

static void test_racing_writers(void **state)
{
	struct fx *f = *state;
	struct writer w[4];
	assert_int_equal(hc_store_user_add(f->st, "alice", "", "user", "$h"), HUB_OK);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct writer){.db = f->db, .id = i, .n = 150};
		assert_int_equal(pthread_create(&w[i].th, NULL, writer_main, &w[i]), 0);
	}
	/* the main handle writes too, in the middle of it */
	for (int i = 0; i < 50; i++) {
		char name[16];
		snprintf(name, sizeof(name), "main%d", i);
		assert_int_equal(hc_store_room_add(f->st, name), HUB_OK);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(w[i].th, NULL);
		assert_int_equal(w[i].busy, 0);
		assert_int_equal(w[i].other, 0);
	}
	assert_int_equal(sql_int(f->st, "SELECT count(*) FROM rooms"), 4 * 150 + 50);
	assert_int_equal(sql_int(f->st, "SELECT count(*) FROM sessions"), 4 * 150);
}

/* Several processes starting at once on a fresh file: every open succeeds
 * and the migrations run exactly once. */
struct opener {
	const char *db;
	int rc;
	pthread_t th;
};

static void *opener_main(void *arg)
{
	struct opener *o = arg;
	struct hc_store *st = NULL;
	char err[256];
	o->rc = hc_store_open(o->db, HC_STORE_RW, &st, err, sizeof(err));
	if (o->rc == HUB_OK)
		o->rc = hc_store_room_add(st, "x") == HUB_ERR_EXISTS ? HUB_OK : HUB_OK;
	hc_store_close(st);
	return NULL;
}

static void test_concurrent_first_open(void **state)
{
	struct fx *f = *state;
	struct opener o[6];
	char path[PATH_MAX + 32], err[256];
	struct hc_store *st = NULL;
	int v = -1;
	snprintf(path, sizeof(path), "%s/fresh.db", f->dir);
	if (tu_pg()) {
		/* a database never opened, and six openers at once */
		hc_store_close(f->st);
		f->st = NULL;
		assert_int_equal(tu_pg_reset(f->db), 0);
		snprintf(path, sizeof(path), "%s", f->db);
	}
	for (int i = 0; i < 6; i++) {
		o[i] = (struct opener){.db = path, .rc = -1};
		assert_int_equal(pthread_create(&o[i].th, NULL, opener_main, &o[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(o[i].th, NULL);
		assert_int_equal(o[i].rc, HUB_OK);
	}
	assert_int_equal(hc_store_open(path, HC_STORE_RW, &st, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_store_schema_version(st, &v), HUB_OK);
	assert_int_equal(v, hc_store__migration_count);
	assert_int_equal(sql_int(st, "SELECT count(*) FROM rooms"), 1);
	hc_store_close(st);
}

/* hc_store_tx: a failing fn rolls back; the error comes back as is. */
static int tx_insert_then_fail(struct hc_store *st, void *ud)
{
	(void)ud;
	sql_exec(st, "INSERT INTO rooms(name, created_at) VALUES('ghost', 0)");
	return HUB_ERR_INVAL;
}

static int tx_insert(struct hc_store *st, void *ud)
{
	(void)ud;
	return hc_db_exec(st, "INSERT INTO rooms(name, created_at) VALUES('real', 0)");
}

static void test_tx(void **state)
{
	struct fx *f = *state;
	assert_int_equal(hc_store_tx(f->st, tx_insert_then_fail, NULL), HUB_ERR_INVAL);
	assert_int_equal(hc_store_room_exists(f->st, "ghost"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_tx(f->st, tx_insert, NULL), HUB_OK);
	assert_int_equal(hc_store_room_exists(f->st, "real"), HUB_OK);
	assert_non_null(hc_store_errmsg(f->st));
	assert_string_equal(hc_store_errmsg(NULL), "no store");
}

/* Store calls inside hc_store_tx compose into the one transaction: a
 * refused statement (room exists) rolls back alone, and a failing outer
 * fn undoes every inner write. */
static int tx_nested(struct hc_store *st, void *ud)
{
	int *fail = ud;
	assert_int_equal(hc_store_room_add(st, "n1"), HUB_OK);
	assert_int_equal(hc_store_room_add(st, "n1"), HUB_ERR_EXISTS);
	assert_int_equal(hc_store_room_add(st, "n2"), HUB_OK);
	return *fail ? HUB_ERR_INVAL : HUB_OK;
}

static void test_tx_nested(void **state)
{
	struct fx *f = *state;
	int fail = 1;
	assert_int_equal(hc_store_tx(f->st, tx_nested, &fail), HUB_ERR_INVAL);
	assert_int_equal(hc_store_room_exists(f->st, "n1"), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_store_room_exists(f->st, "n2"), HUB_ERR_NOTFOUND);
	fail = 0;
	assert_int_equal(hc_store_tx(f->st, tx_nested, &fail), HUB_OK);
	assert_int_equal(hc_store_room_exists(f->st, "n1"), HUB_OK);
	assert_int_equal(hc_store_room_exists(f->st, "n2"), HUB_OK);
	assert_false(f->st->ops->in_tx(f->st));
}

static int tx_fill(struct hc_store *st, void *ud)
{
	(void)ud;
	return sqlite3_exec(hc_store_db(st),
		       "INSERT INTO rooms(name, created_at) VALUES('big', 0);"
		       "INSERT INTO messages(room, event, sender, ts, data) "
		       "VALUES('big', 'e', 's', 0, zeroblob(1000000))",
		       NULL, NULL, NULL) == SQLITE_OK
		       ? HUB_OK
		       : HUB_ERR_DB;
}

/* A full disk (here: the page limit) fails the transaction with SQLite's
 * own reason, not the message of a ROLLBACK that had nothing to undo. */
static void test_tx_full(void **state)
{
	struct fx *f = *state;
	int64_t pages;
	char pragma[64];
	if (tu_pg())
		skip(); /* SQLite's page limit */
	pages = sql_int(f->st, "PRAGMA page_count");
	snprintf(pragma, sizeof(pragma), "PRAGMA max_page_count = %lld", (long long)pages + 2);
	assert_int_equal(sqlite3_exec(hc_store_db(f->st), pragma, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(hc_store_tx(f->st, tx_fill, NULL), HUB_ERR_DB);
	assert_non_null(strstr(hc_store_errmsg(f->st), "full"));
	assert_int_equal(hc_store_room_exists(f->st, "big"), HUB_ERR_NOTFOUND);
	/* the store is usable again */
	assert_int_equal(hc_store_tx(f->st, tx_insert, NULL), HUB_OK);
}

/* Which engine a `store` value selects, and a conninfo shown in messages
 * never carries its password. */
static void test_engine_and_redact(void **state)
{
	static const struct {
		const char *in, *out;
	} r[] = {
		{"postgresql://hub:s3cret@h/db?sslmode=x", "postgresql://hub:***@h/db?sslmode=x"},
		{"postgres://h/db?password=s3cret&x=1", "postgres://h/db?password=***&x=1"},
		{"host=h password=s3cret dbname=hub", "host=h password=*** dbname=hub"},
		{"host=h password='s3 cret' dbname=hub", "host=h password=*** dbname=hub"},
		{"postgresql://hub@h/db", "postgresql://hub@h/db"},
	};
	char out[512];
	(void)state;
	for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
		assert_true(hc_db_is_postgresql(r[i].in));
		hc_db__redact(r[i].in, out, sizeof(out));
		assert_string_equal(out, r[i].out);
	}
	assert_true(hc_db_is_postgresql("host=/run/pg dbname=hub"));
	assert_true(hc_db_is_postgresql("service=hub"));
	assert_false(hc_db_is_postgresql("/var/lib/hub/hub.db"));
	assert_false(hc_db_is_postgresql("data/hub.db"));
	assert_false(hc_db_is_postgresql(""));
	assert_false(hc_db_is_postgresql(NULL));
	/* bounded */
	hc_db__redact("host=h password=s3cret dbname=hub", out, 12);
	assert_int_equal(strlen(out), 11);
	assert_null(strstr(out, "s3c"));
}

/* Another connection to the test database runs sql (NULL: fails). */
static PGconn *side_exec(const char *sql)
{
	PGconn *c = PQconnectdb(tu_pg());
	PGresult *r;
	if (PQstatus(c) != CONNECTION_OK) {
		PQfinish(c);
		return NULL;
	}
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		print_error("side_exec: %s", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int tx_room_loop(struct hc_store *st, void *ud)
{
	(void)ud;
	return hc_store_room_add(st, "loop-room");
}

/* An event loop's store (hc_store_set_connect_wait) on PostgreSQL: a lost
 * connection is re-opened within the call that found it lost (the
 * asynchronous connect) with its session settings again; a result that
 * does not come within 3 s gives the connection up and the next call has
 * a new one; its writes wait at most 2 s for the writers' lock. */
static void test_loop_store_bounds(void **state)
{
	struct fx *f = *state;
	char sql[128];
	int64_t pid, t0, took;
	PGconn *side;
	struct hc_db_stmt *s = NULL;
	const char *lock_ms = "SELECT (extract(epoch FROM "
			      "current_setting('lock_timeout')::interval) * 1000)::int8";
	if (!tu_pg())
		skip(); /* PostgreSQL's connections */
	hc_store_set_connect_wait(f->st, 250);
	assert_int_equal(sql_int(f->st, lock_ms), 2000);
	/* the server ends the connection: the next call re-opens it and runs */
	pid = sql_int(f->st, "SELECT pg_backend_pid()");
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%lld)", (long long)pid);
	side = side_exec(sql);
	assert_non_null(side);
	PQfinish(side);
	assert_int_equal(hc_store_ping(f->st), HUB_OK);
	assert_int_not_equal(sql_int(f->st, "SELECT pg_backend_pid()"), pid);
	assert_int_equal(sql_int(f->st, lock_ms), 2000);
	/* a result that does not come in time */
	t0 = mono_ms();
	assert_int_equal(hc_db_prep(f->st, &s, "SELECT pg_sleep(6)", ""), HUB_OK);
	assert_int_not_equal(hc_db_step(s), HC_DB_ROW);
	hc_db_finalize(s);
	took = mono_ms() - t0;
	assert_true(took >= 2900 && took < 5500);
	assert_non_null(strstr(hc_store_errmsg(f->st), "did not answer in time"));
	assert_int_equal(hc_store_ping(f->st), HUB_OK);
	assert_int_equal(sql_int(f->st, lock_ms), 2000);
	/* the writers' lock held elsewhere: busy within about 2 s */
	side = side_exec("BEGIN; SELECT pg_advisory_xact_lock(1752523297)");
	assert_non_null(side);
	t0 = mono_ms();
	assert_int_equal(hc_store_tx(f->st, tx_room_loop, NULL), HUB_ERR_BUSY);
	took = mono_ms() - t0;
	assert_true(took >= 1900 && took < 2900);
	PQfinish(side);
	assert_int_equal(hc_store_tx(f->st, tx_room_loop, NULL), HUB_OK);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_migrations),
		T(test_open_refusals),
		T(test_users),
		T(test_shared_namespace),
		T(test_devices),
		T(test_grant_revoke_level),
		T(test_membership_list_order),
		T(test_room_del_cascades),
		T(test_sessions),
		T(test_session_revoke_principal_and_list),
		T(test_user_del_cascades),
		T(test_service_keys),
		T(test_change_log),
		T(test_purge),
		T(test_purge_batches),
		T(test_reader_beside_writer),
		T(test_racing_writers),
		T(test_concurrent_first_open),
		T(test_tx),
		T(test_tx_nested),
		T(test_tx_full),
		T(test_loop_store_bounds),
		cmocka_unit_test(test_engine_and_redact),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
