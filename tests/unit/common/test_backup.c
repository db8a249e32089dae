/* SPDX-License-Identifier: MIT */
/*
 * Backups (hc_backup.h) on real SQLite stores: a backup and a restore into
 * a fresh data directory and over an existing store give back every row,
 * the key and the broker state byte for byte, with the backup's live
 * sessions ended (or kept); a backup taken while a writer commits
 * transactions is one consistent state and does not stall the writer; the
 * restore refuses while anything has the store open or a follower answers
 * on a sync socket, and a refused or failed restore leaves the store as it
 * was; damaged, foreign and newer backups are refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hc_backup.h"
#include "hc_err.h"
#include "hc_store.h"
#include "hc_util.h"
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>

struct hub {
	char dir[600];
	char db[700], key[700], broker[700], sync[700];
	struct hc_backup_paths p;
};

static void hub_at(struct hub *h, const char *dir)
{
	snprintf(h->dir, sizeof(h->dir), "%s", dir);
	mkdir(dir, 0700);
	snprintf(h->db, sizeof(h->db), "%s/hub.db", dir);
	snprintf(h->key, sizeof(h->key), "%s/token.key", dir);
	snprintf(h->broker, sizeof(h->broker), "%s/mosquitto.db", dir);
	snprintf(h->sync, sizeof(h->sync), "%s/sync", dir);
	h->p = (struct hc_backup_paths){h->db, h->key, h->broker, h->sync};
}

static struct hc_store *open_rw(const char *db)
{
	struct hc_store *st = NULL;
	char err[256];
	assert_int_equal(hc_store_open(db, HC_STORE_RW, &st, err, sizeof(err)), HUB_OK);
	return st;
}

/* A hub with users, a device, rooms, memberships, sessions (one live, one
 * revoked), a key and a broker file. */
static void populate(struct hub *h, char live_sid[HC_SID_LEN + 1])
{
	struct hc_store *st = open_rw(h->db);
	char sid[HC_SID_LEN + 1], secret[HC_SECRET_LEN + 1];
	unsigned char big[200000];

	assert_int_equal(hc_store_user_add(st, "alice", "Alice", "admin", "h1"), HUB_OK);
	assert_int_equal(hc_store_user_add(st, "bob", "Bob", "user", "h2"), HUB_OK);
	assert_int_equal(
		hc_store_device_add(st, "truck1", "alice", "T",
			"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
		HUB_OK);
	assert_int_equal(hc_store_room_add(st, "lobby"), HUB_OK);
	assert_int_equal(hc_store_grant(st, "lobby", "bob", 2), HUB_OK);
	assert_int_equal(
		hc_store_session_create(st, "alice", "web", 3600, "1.2.3.4", live_sid, secret),
		HUB_OK);
	assert_int_equal(
		hc_store_session_create(st, "bob", "cli", 3600, "cli", sid, secret), HUB_OK);
	assert_int_equal(hc_store_session_revoke(st, sid, "logout"), HUB_OK);
	hc_store_close(st);
	assert_int_equal(
		tu_write_str(h->key, "a2V5LWJ5dGVzLWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3ODk\n"), 0);
	/* a broker file bigger than one copy chunk, every byte different */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (unsigned char)(i * 7 + i / 251);
	assert_int_equal(tu_write_file(h->broker, big, sizeof(big), 0600), 0);
}

static int cmp_files(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	int rc = 0, ca, cb;
	if (!fa || !fb) {
		rc = -1;
		goto out;
	}
	do {
		ca = fgetc(fa);
		cb = fgetc(fb);
		if (ca != cb) {
			rc = 1;
			break;
		}
	} while (ca != EOF);
out:
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return rc;
}

static int mode_of(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0 ? (int)(sb.st_mode & 0777) : -1;
}

/* No temporary file left behind in dir. */
static void assert_no_temp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp-")) {
			print_error("left behind: %s/%s\n", dir, de->d_name);
			fail();
		}
	closedir(d);
}

static int64_t q(const char *db, const char *sql)
{
	sqlite3 *c = NULL;
	sqlite3_stmt *s = NULL;
	int64_t v = -1;
	assert_int_equal(sqlite3_open_v2(db, &c, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	if (sqlite3_prepare_v2(c, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(c);
	return v;
}

static void session_of(const char *db, const char *sid, struct hc_session *out)
{
	struct hc_store *st = open_rw(db);
	assert_int_equal(hc_store_session_get(st, sid, out), HUB_OK);
	hc_store_close(st);
}

/* ------------------------------------------------------------- tests */

static void test_round_trip_fresh(void **state)
{
	char base[512], d[600], file[700], err[512], sid[HC_SID_LEN + 1];
	struct hc_backup_info w, in, r;
	struct hc_session s;
	struct hub a, b;
	(void)state;

	tu_mkdtemp(base, sizeof(base));
	snprintf(d, sizeof(d), "%s/a", base);
	hub_at(&a, d);
	snprintf(d, sizeof(d), "%s/b", base);
	hub_at(&b, d);
	populate(&a, sid);
	snprintf(file, sizeof(file), "%s/backup.db", base);

	assert_int_equal(
		hc_backup_write(&a.p, file, false, "test 1", &w, err, sizeof(err)), HUB_OK);
	assert_int_equal(mode_of(file), 0600);
	assert_no_temp(base);
	assert_int_equal(w.format, HC_BACKUP_FORMAT);
	assert_true(w.schema >= 2);
	assert_true(w.has_key && w.has_broker);
	assert_int_equal(w.broker_bytes, 200000);
	assert_int_equal(w.users, 2);
	assert_int_equal(w.devices, 1);
	assert_int_equal(w.rooms, 1);
	assert_int_equal(w.memberships, 1);
	assert_int_equal(w.sessions_live, 1);
	/* one self-contained file: no -wal beside it */
	assert_int_equal(q(file, "SELECT count(*) FROM hub_backup_files"), 2);
	assert_int_equal(hc_fmt(d, sizeof(d), "%s-wal", file), HUB_OK);
	assert_int_not_equal(access(d, F_OK), 0);

	assert_int_equal(hc_backup_inspect(file, &in, err, sizeof(err)), HUB_OK);
	assert_string_equal(in.made_by, "test 1");
	assert_int_equal(in.created_at, w.created_at);
	assert_int_equal(in.users, 2);
	assert_true(in.has_key && in.has_broker);
	assert_int_equal(in.broker_bytes, 200000);

	/* a fresh data directory: everything comes back */
	assert_int_equal(hc_backup_restore(&b.p, file, 0, &r, err, sizeof(err)), HUB_OK);
	assert_true(r.has_key && r.has_broker);
	assert_int_equal(r.sessions_ended, 1);
	assert_int_equal(cmp_files(a.key, b.key), 0);
	assert_int_equal(cmp_files(a.broker, b.broker), 0);
	assert_int_equal(mode_of(b.db), 0600);
	assert_int_equal(mode_of(b.key), 0600);
	assert_int_equal(mode_of(b.broker), 0600);
	assert_no_temp(b.dir);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 3);
	assert_int_equal(q(b.db, "SELECT count(*) FROM memberships"), 1);
	assert_int_equal(
		q(b.db, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'hub_backup%'"), 0);
	assert_int_equal(q(b.db, "PRAGMA user_version"), w.schema);
	/* the live session ended as "restored"; the revoked one kept its reason */
	session_of(b.db, sid, &s);
	assert_true(s.revoked_at > 0);
	assert_string_equal(s.reason, "restored");
	assert_int_equal(q(b.db, "SELECT count(*) FROM sessions WHERE reason = 'logout'"), 1);
	/* a store the services can open, in WAL mode */
	hc_store_close(open_rw(b.db));
	{
		sqlite3 *c;
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_open(b.db, &c), SQLITE_OK);
		assert_int_equal(
			sqlite3_prepare_v2(c, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
		sqlite3_finalize(st);
		sqlite3_close(c);
	}
	/* the source hub is untouched */
	session_of(a.db, sid, &s);
	assert_int_equal(s.revoked_at, 0);
	tu_rmtree(base);
}

static void test_restore_over_existing(void **state)
{
	char base[512], d[600], file[700], err[512], sid[HC_SID_LEN + 1], sid2[HC_SID_LEN + 1];
	char secret[HC_SECRET_LEN + 1];
	struct hc_backup_info r;
	struct hc_session s;
	struct hc_store *st;
	struct hub a, b;
	(void)state;

	tu_mkdtemp(base, sizeof(base));
	snprintf(d, sizeof(d), "%s/a", base);
	hub_at(&a, d);
	snprintf(d, sizeof(d), "%s/b", base);
	hub_at(&b, d);
	populate(&a, sid);
	snprintf(file, sizeof(file), "%s/backup.db", base);
	assert_int_equal(hc_backup_write(&a.p, file, false, "t", NULL, err, sizeof(err)), HUB_OK);

	/* b: another hub with more rows, its own key, no broker file, and
	 * changes still in its WAL */
	st = open_rw(b.db);
	for (int i = 0; i < 50; i++) {
		char n[16];
		snprintf(n, sizeof(n), "other%02d", i);
		assert_int_equal(hc_store_user_add(st, n, n, "user", "h"), HUB_OK);
	}
	assert_int_equal(
		hc_store_session_create(st, "other00", "web", 3600, "x", sid2, secret), HUB_OK);
	hc_store_close(st);
	assert_int_equal(
		tu_write_str(b.key, "b3RoZXIta2V5LWZvci10ZXN0cy1vbmx5LTAxMjM0NTY3ODk\n"), 0);

	assert_int_equal(
		hc_backup_restore(&b.p, file, HC_RESTORE_KEEP_SESSIONS, &r, err, sizeof(err)),
		HUB_OK);
	assert_int_equal(r.sessions_ended, 0);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 3);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals WHERE name LIKE 'other%'"), 0);
	assert_int_equal(cmp_files(a.key, b.key), 0);
	assert_int_equal(cmp_files(a.broker, b.broker), 0);
	session_of(b.db, sid, &s);
	assert_int_equal(s.revoked_at, 0); /* kept */
	assert_no_temp(b.dir);
	/* the store works on: a write, a re-open, still WAL */
	st = open_rw(b.db);
	assert_int_equal(hc_store_user_add(st, "carol", "C", "user", "h"), HUB_OK);
	hc_store_close(st);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 4);

	/* a backup without the broker file: the hub's own broker file stays */
	assert_int_equal(unlink(a.broker), 0);
	assert_int_equal(hc_backup_write(&a.p, file, true, "t", NULL, err, sizeof(err)), HUB_OK);
	assert_int_equal(tu_write_str(b.broker, "broker-of-b"), 0);
	assert_int_equal(hc_backup_restore(&b.p, file, 0, &r, err, sizeof(err)), HUB_OK);
	assert_false(r.has_broker);
	assert_true(r.has_key);
	assert_int_equal(r.sessions_ended, 1);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 3);
	{
		char buf[32] = "";
		FILE *f = fopen(b.broker, "r");
		assert_non_null(f);
		assert_non_null(fgets(buf, sizeof(buf), f));
		fclose(f);
		assert_string_equal(buf, "broker-of-b");
	}
	tu_rmtree(base);
}

/* ---------------------------------------------------- under writes */

struct writer {
	const char *db;
	atomic_bool stop;
	atomic_int committed;
	int rc;
};

struct pair {
	const char *user;
};

/* One transaction: a user and its membership (the invariant a backup
 * must never split: members of "w" = users named w*). */
static int add_pair(struct hc_store *st, void *ud)
{
	struct pair *p = ud;
	int rc = hc_store_user_add(st, p->user, p->user, "user", "h");
	return rc ? rc : hc_store_grant(st, "w", p->user, 1);
}

static void *write_thread(void *arg)
{
	struct writer *w = arg;
	struct hc_store *st = NULL;
	char err[256];
	w->rc = hc_store_open(w->db, HC_STORE_RW, &st, err, sizeof(err));
	for (int i = 0; !w->rc && !atomic_load(&w->stop); i++) {
		char n[16];
		struct pair p = {n};
		snprintf(n, sizeof(n), "w%06d", i);
		w->rc = hc_store_tx(st, add_pair, &p);
		if (!w->rc)
			atomic_fetch_add(&w->committed, 1);
	}
	hc_store_close(st);
	return NULL;
}

static void test_backup_under_writes(void **state)
{
	char base[512], d[600], file[700], err[512];
	struct hc_backup_info info;
	struct writer w = {0};
	struct hc_store *st;
	pthread_t th;
	struct hub a, b;
	int during = 0;
	(void)state;

	tu_mkdtemp(base, sizeof(base));
	snprintf(d, sizeof(d), "%s/a", base);
	hub_at(&a, d);
	st = open_rw(a.db);
	assert_int_equal(hc_store_room_add(st, "w"), HUB_OK);
	hc_store_close(st);
	w.db = a.db;
	assert_int_equal(pthread_create(&th, NULL, write_thread, &w), 0);
	while (atomic_load(&w.committed) < 200)
		usleep(1000);
	for (int k = 0; k < 5; k++) {
		int before = atomic_load(&w.committed);
		int64_t users, members, max_id;
		snprintf(file, sizeof(file), "%s/b%d.db", base, k);
		assert_int_equal(
			hc_backup_write(&a.p, file, false, "t", &info, err, sizeof(err)), HUB_OK);
		during += atomic_load(&w.committed) - before;
		assert_int_equal(hc_backup_inspect(file, &info, err, sizeof(err)), HUB_OK);
		/* one state: every user with its membership, the users a prefix
		 * of the writer's sequence */
		users = q(file, "SELECT count(*) FROM principals WHERE name LIKE 'w%'");
		members = q(file, "SELECT count(*) FROM memberships WHERE room = 'w'");
		max_id = q(file, "SELECT max(CAST(substr(name, 2) AS INTEGER)) FROM principals "
				 "WHERE name LIKE 'w%'");
		assert_true(users >= 200);
		assert_int_equal(users, members);
		assert_int_equal(max_id + 1, users);
		assert_int_equal(users, info.users);
	}
	atomic_store(&w.stop, true);
	pthread_join(th, NULL);
	assert_int_equal(w.rc, HUB_OK);
	print_message("  %d transactions committed while 5 backups ran (%d in all)\n", during,
		atomic_load(&w.committed));
	/* the last backup restores into a fresh hub with the same state */
	snprintf(d, sizeof(d), "%s/b", base);
	hub_at(&b, d);
	assert_int_equal(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)), HUB_OK);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals WHERE name LIKE 'w%'"),
		q(b.db, "SELECT count(*) FROM memberships WHERE room = 'w'"));
	tu_rmtree(base);
}

/* ------------------------------------------------------- refusals */

static void test_restore_refused_while_running(void **state)
{
	char base[512], d[600], file[700], err[512], sid[HC_SID_LEN + 1], sock[800];
	struct hc_store *other = NULL;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct hub a, b;
	int fd;
	(void)state;

	tu_mkdtemp(base, sizeof(base));
	snprintf(d, sizeof(d), "%s/a", base);
	hub_at(&a, d);
	snprintf(d, sizeof(d), "%s/b", base);
	hub_at(&b, d);
	populate(&a, sid);
	snprintf(file, sizeof(file), "%s/backup.db", base);
	assert_int_equal(hc_backup_write(&a.p, file, false, "t", NULL, err, sizeof(err)), HUB_OK);
	hc_store_close(open_rw(b.db));
	assert_int_equal(hc_backup_check_stopped(&b.p, err, sizeof(err)), HUB_OK);

	/* a read-only connection (the gateway's, the broker's follower) */
	assert_int_equal(hc_store_open(b.db, HC_STORE_RO, &other, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_store_ping(other), HUB_OK);
	assert_int_equal(hc_backup_check_stopped(&b.p, err, sizeof(err)), HUB_ERR_BUSY);
	assert_non_null(strstr(err, "is open in another process"));
	assert_int_equal(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)), HUB_ERR_BUSY);
	assert_int_equal(hc_store_ping(other), HUB_OK);
	hc_store_close(other);
	/* a read-write one (hubd's) */
	other = open_rw(b.db);
	assert_int_equal(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)), HUB_ERR_BUSY);
	hc_store_close(other);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 0);
	assert_no_temp(b.dir);

	/* a follower answering on a sync socket, with no store connection */
	assert_int_equal(mkdir(b.sync, 0700), 0);
	snprintf(sock, sizeof(sock), "%s/broker-4242.sock", b.sync);
	assert_int_equal(hc_fmt(sa.sun_path, sizeof(sa.sun_path), "%s", sock), HUB_OK);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)), HUB_ERR_BUSY);
	assert_non_null(strstr(err, "the broker (pid 4242) is running"));
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 0);
	/* the process is gone (its socket file stays): nothing runs, the
	 * stale file is removed, the restore goes ahead */
	close(fd);
	assert_int_equal(access(sock, F_OK), 0);
	assert_int_equal(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)), HUB_OK);
	assert_int_not_equal(access(sock, F_OK), 0);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 3);
	tu_rmtree(base);
}

static void test_bad_backups_refused(void **state)
{
	char base[512], d[600], file[700], bad[700], err[512], sid[HC_SID_LEN + 1];
	struct hub a, b;
	struct stat sb;
	(void)state;

	tu_mkdtemp(base, sizeof(base));
	snprintf(d, sizeof(d), "%s/a", base);
	hub_at(&a, d);
	snprintf(d, sizeof(d), "%s/b", base);
	hub_at(&b, d);
	snprintf(file, sizeof(file), "%s/backup.db", base);
	snprintf(bad, sizeof(bad), "%s/bad.db", base);

	/* no store to back up; the store itself as the target */
	assert_int_equal(
		hc_backup_write(&a.p, file, false, "t", NULL, err, sizeof(err)), HUB_ERR_NOTFOUND);
	populate(&a, sid);
	assert_int_equal(
		hc_backup_write(&a.p, a.db, true, "t", NULL, err, sizeof(err)), HUB_ERR_INVAL);
	assert_int_equal(
		hc_backup_write(&a.p, a.key, true, "t", NULL, err, sizeof(err)), HUB_ERR_INVAL);
	/* an existing file is kept unless replace */
	assert_int_equal(tu_write_str(file, "precious"), 0);
	assert_int_equal(
		hc_backup_write(&a.p, file, false, "t", NULL, err, sizeof(err)), HUB_ERR_EXISTS);
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(sb.st_size, 8);
	assert_int_equal(hc_backup_write(&a.p, file, true, "t", NULL, err, sizeof(err)), HUB_OK);
	assert_no_temp(base);

	/* b has a store of its own, which no refused restore may touch */
	hc_store_close(open_rw(b.db));
	{
		struct hc_store *st = open_rw(b.db);
		assert_int_equal(hc_store_user_add(st, "keepme", "K", "user", "h"), HUB_OK);
		hc_store_close(st);
	}
	/* not SQLite; SQLite but not a hub; cut short; a newer schema; the
	 * store itself */
	assert_int_equal(tu_write_str(bad, "this is not a database, not even close to one"), 0);
	assert_int_equal(hc_backup_restore(&b.p, bad, 0, NULL, err, sizeof(err)), HUB_ERR_INVAL);
	unlink(bad);
	{
		sqlite3 *c;
		assert_int_equal(sqlite3_open(bad, &c), SQLITE_OK);
		assert_int_equal(sqlite3_exec(c, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(c);
	}
	assert_int_equal(hc_backup_restore(&b.p, bad, 0, NULL, err, sizeof(err)), HUB_ERR_INVAL);
	assert_non_null(strstr(err, "is not a hub backup"));
	assert_int_equal(stat(file, &sb), 0);
	assert_int_equal(truncate(file, sb.st_size / 2), 0);
	assert_int_not_equal(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_backup_write(&a.p, file, true, "t", NULL, err, sizeof(err)), HUB_OK);
	{
		sqlite3 *c;
		assert_int_equal(sqlite3_open(file, &c), SQLITE_OK);
		assert_int_equal(
			sqlite3_exec(c, "PRAGMA user_version = 999", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(c);
	}
	assert_int_equal(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)), HUB_ERR_CONFIG);
	assert_non_null(strstr(err, "made by a newer hub"));
	assert_int_equal(hc_backup_restore(&b.p, b.db, 0, NULL, err, sizeof(err)), HUB_ERR_INVAL);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals WHERE name = 'keepme'"), 1);
	assert_no_temp(b.dir);

	/* a damaged store (what a restore is for): moved aside, not refused */
	{
		struct hc_backup_info r;
		char aside[800];
		assert_int_equal(
			hc_backup_write(&a.p, file, true, "t", NULL, err, sizeof(err)), HUB_OK);
		assert_int_equal(tu_write_str(b.db, "garbage where the store was, not SQLite at "
						    "all, long enough to be read as a header"),
			0);
		assert_int_equal(hc_backup_check_stopped(&b.p, err, sizeof(err)), HUB_OK);
		assert_int_equal(hc_backup_restore(&b.p, file, 0, &r, err, sizeof(err)), HUB_OK);
		assert_non_null(strstr(r.set_aside, "/hub.db.damaged-"));
		assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 3);
		assert_int_equal(hc_fmt(aside, sizeof(aside), "%s", r.set_aside), HUB_OK);
		{
			char buf[16] = "";
			FILE *g = fopen(aside, "r");
			assert_non_null(g);
			assert_non_null(fgets(buf, sizeof(buf), g));
			fclose(g);
			assert_int_equal(strncmp(buf, "garbage", 7), 0);
		}
		assert_no_temp(b.dir);
		/* put keepme's store back for the case below */
		unlink(b.db);
		{
			struct hc_store *st = open_rw(b.db);
			assert_int_equal(hc_store_user_add(st, "keepme", "K", "user", "h"), HUB_OK);
			hc_store_close(st);
		}
	}

	/* a plain copy of a stopped hub's store restores, as a store alone */
	{
		struct hc_backup_info in;
		sqlite3 *src, *dst;
		sqlite3_backup *bk;
		assert_int_equal(sqlite3_open(a.db, &src), SQLITE_OK);
		assert_int_equal(sqlite3_open(bad, &dst), SQLITE_OK);
		sqlite3_exec(dst, "DROP TABLE t", NULL, NULL, NULL);
		bk = sqlite3_backup_init(dst, "main", src, "main");
		assert_non_null(bk);
		assert_int_equal(sqlite3_backup_step(bk, -1), SQLITE_DONE);
		sqlite3_backup_finish(bk);
		sqlite3_close(src);
		sqlite3_close(dst);
		assert_int_equal(hc_backup_inspect(bad, &in, err, sizeof(err)), HUB_OK);
		assert_int_equal(in.format, 0);
		assert_false(in.has_key);
		assert_int_equal(hc_backup_restore(&b.p, bad, 0, &in, err, sizeof(err)), HUB_OK);
		assert_false(in.has_key);
		assert_int_equal(
			q(b.db, "SELECT count(*) FROM principals WHERE name = 'keepme'"), 0);
		assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 3);
	}
	tu_rmtree(base);
}

/* A restore killed at any moment (kill -9 of hubctl, a power cut as far
 * as the store's journal goes) leaves the old store or the new one, intact,
 * never a mix, and a later restore still works. */
static void test_restore_killed_midway(void **state)
{
	char base[512], d[600], file[700], err[512];
	struct hc_store *st;
	struct hub a, b;
	int64_t olds = 0, news = 0, mixed = 0, t_us;
	struct timespec t0, t1;
	(void)state;

	tu_mkdtemp(base, sizeof(base));
	snprintf(d, sizeof(d), "%s/a", base);
	hub_at(&a, d);
	snprintf(d, sizeof(d), "%s/b", base);
	hub_at(&b, d);
	/* a backup of 3000 users (a few MiB with history), b with 7 others */
	st = open_rw(a.db);
	assert_int_equal(hc_store_room_add(st, "w"), HUB_OK);
	assert_int_equal(
		sqlite3_exec(hc_store_db(st),
			"BEGIN; WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 "
			"FROM n WHERE i < 2999) INSERT INTO principals(name, kind, "
			"display_name, role, pw_hash, created_at) SELECT printf('u%04d', i), "
			"'user', hex(randomblob(200)), 'user', 'h', 0 FROM n; COMMIT",
			NULL, NULL, NULL),
		SQLITE_OK);
	hc_store_close(st);
	snprintf(file, sizeof(file), "%s/backup.db", base);
	assert_int_equal(hc_backup_write(&a.p, file, false, "t", NULL, err, sizeof(err)), HUB_OK);
	st = open_rw(b.db);
	for (int i = 0; i < 7; i++) {
		char n[16];
		snprintf(n, sizeof(n), "old%d", i);
		assert_int_equal(hc_store_user_add(st, n, n, "user", "h"), HUB_OK);
	}
	hc_store_close(st);
	/* how long one restore takes here, to spread the kills over it */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)), HUB_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	t_us = (t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000;
	for (int round = 0; round < 30; round++) {
		int64_t n;
		pid_t pid;
		int status;
		/* back to the old state, then a restore killed after a while */
		unlink(b.db);
		st = open_rw(b.db);
		for (int i = 0; i < 7; i++) {
			char nm[16];
			snprintf(nm, sizeof(nm), "old%d", i);
			assert_int_equal(hc_store_user_add(st, nm, nm, "user", "h"), HUB_OK);
		}
		hc_store_close(st);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)) ? 1 : 0);
		usleep((useconds_t)(t_us * round / 25));
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		/* the next opener rolls a hot journal back */
		hc_store_close(open_rw(b.db));
		n = q(b.db, "SELECT count(*) FROM principals");
		if (n == 7)
			olds++;
		else if (n == 3000)
			news++;
		else
			mixed++;
		assert_int_equal(q(b.db, "SELECT count(*) FROM pragma_integrity_check "
					 "WHERE integrity_check != 'ok'"),
			0);
	}
	print_message("  30 killed restores (one takes %lld us): %lld left the old store, %lld "
		      "the new one, %lld a mix\n",
		(long long)t_us, (long long)olds, (long long)news, (long long)mixed);
	assert_int_equal(mixed, 0);
	/* what a killed restore left behind does not stop the next one */
	assert_int_equal(hc_backup_restore(&b.p, file, 0, NULL, err, sizeof(err)), HUB_OK);
	assert_int_equal(q(b.db, "SELECT count(*) FROM principals"), 3000);
	assert_no_temp(b.dir);
	tu_rmtree(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_fresh),
		cmocka_unit_test(test_restore_over_existing),
		cmocka_unit_test(test_backup_under_writes),
		cmocka_unit_test(test_restore_refused_while_running),
		cmocka_unit_test(test_bad_backups_refused),
		cmocka_unit_test(test_restore_killed_midway),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
