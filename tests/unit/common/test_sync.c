/* SPDX-License-Identifier: MIT */
/*
 * The sync sockets (hc_sync.h, hc_follow_listen): a writer's hc_sync_wait
 * returns only after the follower's owner applied the change; an owner that
 * never applies costs the timeout and names the follower; nobody listening
 * (no directory, a stale socket) means nothing to wait for; bad requests
 * are answered and dropped; a deep data directory still works.
 *
 * With HUB_TEST_STORE (unit.common.sync.postgresql) the same promise on
 * PostgreSQL: writers wait on node_applied (hc_sync_wait_store), woken by
 * NOTIFY; the follower reads the change log when NOTIFY hub_change says
 * so (its refresh is a minute here, so nothing else could be that fast);
 * a node that stopped, or went silent, is not waited for. The socket tests
 * are skipped there.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hc_acl.h"
#include "hc_db.h"
#include "hc_err.h"
#include "hc_follow.h"
#include "hc_store.h"
#include "hc_sync.h"
#include "hc_util.h"
#include "testutil.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

struct fx {
	char dir[512];
	char db[1400];
	char sync[1400];
	struct hc_store *st;
	struct hc_acl_dir *adir;
	struct hc_follow *f;
};

static void fx_up(struct fx *x, const char *subdir)
{
	char err[256];
	tu_mkdtemp(x->dir, sizeof(x->dir));
	if (subdir) {
		/* a data directory deeper than a UNIX socket path can name */
		char p[1300];
		snprintf(p, sizeof(p), "%s/%s", x->dir, subdir);
		assert_int_equal(mkdir(p, 0700), 0);
		snprintf(x->db, sizeof(x->db), "%s/hub.db", p);
		snprintf(x->sync, sizeof(x->sync), "%s/sync", p);
	} else {
		snprintf(x->db, sizeof(x->db), "%s/hub.db", x->dir);
		snprintf(x->sync, sizeof(x->sync), "%s/sync", x->dir);
	}
	if (tu_pg()) {
		assert_int_equal(tu_pg_reset(tu_pg()), 0);
		snprintf(x->db, sizeof(x->db), "%s", tu_pg());
	}
	assert_int_equal(hc_store_open(x->db, HC_STORE_RW, &x->st, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_acl_dir_load(x->st, &x->adir, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_follow_start(x->db, x->adir->seq, tu_pg() ? 60000 : 5000, NULL, NULL,
				 &x->f, err, sizeof(err)),
		HUB_OK);
	assert_int_equal(hc_follow_listen(x->f, x->sync, "owner", err, sizeof(err)), HUB_OK);
}

static void fx_down(struct fx *x)
{
	hc_follow_stop(x->f);
	hc_acl_dir_free(x->adir);
	hc_store_close(x->st);
	tu_rmtree(x->dir);
}

struct waiter {
	const char *sync;
	const char *db;
	int64_t seq;
	int timeout_ms;
	int rc;
	char err[512];
	atomic_bool done;
};

/* A writer's wait, on the engine under test: the sync sockets, or (a
 * writer of its own, like hubctl) node_applied. */
static int sync_wait(
	const char *db, const char *sync, int64_t seq, int timeout_ms, char *err, size_t errsz)
{
	struct hc_store *st = NULL;
	int rc;
	if (!tu_pg())
		return hc_sync_wait(sync, seq, timeout_ms, err, errsz);
	rc = hc_store_open(db, HC_STORE_RW, &st, err, errsz);
	if (!rc)
		rc = hc_sync_wait_store(st, seq, timeout_ms, err, errsz);
	hc_store_close(st);
	return rc;
}

static void *wait_thread(void *arg)
{
	struct waiter *w = arg;
	w->rc = sync_wait(w->db, w->sync, w->seq, w->timeout_ms, w->err, sizeof(w->err));
	atomic_store(&w->done, true);
	return NULL;
}

static int64_t committed(struct fx *x)
{
	int64_t seq = 0;
	assert_int_equal(hc_store_change_seq(x->st, &seq), HUB_OK);
	return seq;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* The writer gets its answer only once the owner applied: the owner thread
 * here applies the queue, and the change must be in the directory by the
 * time hc_sync_wait returned. The follower refreshes every 5 s, so only the
 * sync request can have made it read the change this fast. */
static void test_wait_returns_after_apply(void **state)
{
	struct fx x;
	struct waiter w = {0};
	pthread_t t;
	bool applied_before_done = false;
	(void)state;
	fx_up(&x, NULL);
	assert_int_equal(hc_store_room_add(x.st, "lobby"), HUB_OK);
	w.sync = x.sync;
	w.db = x.db;
	w.seq = committed(&x);
	w.timeout_ms = 10000;
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
	for (int i = 0; i < 4000 && !atomic_load(&w.done); i++) {
		/* read before applying: the answer may come at once after */
		bool waiting = !atomic_load(&w.done);
		if (hc_follow_apply(x.f, &x.adir, NULL, NULL) > 0 && waiting)
			applied_before_done = true;
		sleep_ms(1);
	}
	pthread_join(t, NULL);
	assert_int_equal(w.rc, HUB_OK);
	assert_true(applied_before_done);
	assert_non_null(hc_dir_room(x.adir, "lobby", 5));
	assert_true(hc_follow_applied(x.f) >= w.seq);
	fx_down(&x);
}

/* Nothing to apply for us (a change of another kind, or already applied):
 * answered at once without the owner doing anything. */
static void test_nothing_pending_answers_at_once(void **state)
{
	struct fx x;
	char err[256];
	(void)state;
	fx_up(&x, NULL);
	assert_int_equal(sync_wait(x.db, x.sync, committed(&x), 2000, err, sizeof(err)), HUB_OK);
	fx_down(&x);
}

/* An owner that never applies: the writer gives up after its timeout and
 * says who did not answer. */
static void test_stuck_owner_times_out(void **state)
{
	struct fx x;
	char err[512];
	int64_t t0;
	(void)state;
	fx_up(&x, NULL);
	assert_int_equal(hc_store_room_add(x.st, "stuck"), HUB_OK);
	t0 = hc_mono_ms();
	assert_int_equal(
		sync_wait(x.db, x.sync, committed(&x), 300, err, sizeof(err)), HUB_ERR_BUSY);
	assert_true(hc_mono_ms() - t0 >= 290);
	if (tu_pg()) {
		assert_non_null(strstr(err, "/owner-"));
		assert_non_null(strstr(err, "has applied"));
	} else {
		assert_non_null(strstr(err, "owner (pid "));
		assert_non_null(strstr(err, "did not confirm"));
	}
	/* once it applies, the next writer is confirmed */
	hc_follow_apply(x.f, &x.adir, NULL, NULL);
	assert_int_equal(sync_wait(x.db, x.sync, committed(&x), 2000, err, sizeof(err)), HUB_OK);
	fx_down(&x);
}

static void test_no_directory_no_wait(void **state)
{
	char dir[512], sub[600], err[256];
	(void)state;
	if (tu_pg())
		skip(); /* the sync sockets: SQLite only */
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(sub, sizeof(sub), "%s/sync", dir);
	assert_int_equal(hc_sync_wait(sub, 42, 1000, err, sizeof(err)), HUB_OK);
	tu_rmtree(dir);
}

/* A socket left by a process killed with -9 is skipped and removed. */
static void test_stale_socket_removed(void **state)
{
	char dir[512], path[700], err[256];
	struct sockaddr_un sa;
	int fd;
	(void)state;
	if (tu_pg())
		skip(); /* the sync sockets: SQLite only */
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/gateway-1.sock", dir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(hc_sync_wait(dir, 1, 1000, err, sizeof(err)), HUB_OK);
	assert_int_equal(access(path, F_OK), -1);
	tu_rmtree(dir);
}

static int dial(const char *sync_dir)
{
	char name[300] = "";
	struct sockaddr_un sa;
	DIR *d = opendir(sync_dir);
	struct dirent *de;
	int fd;
	assert_non_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".sock"))
			snprintf(name, sizeof(name), "%s", de->d_name);
	closedir(d);
	assert_true(name[0]);
	assert_true(hc_sync_addr(&sa, sync_dir, -1, name) > 0);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void test_bad_requests(void **state)
{
	static const char *bad[] = {
		"hello\n", "sync -1\n", "sync 12x\n", "sync \n", "sync 99999999999999999999999\n"};
	struct fx x;
	char buf[128];
	(void)state;
	if (tu_pg())
		skip(); /* the sync sockets: SQLite only */
	fx_up(&x, NULL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = dial(x.sync);
		ssize_t n;
		assert_int_equal(write(fd, bad[i], strlen(bad[i])), (ssize_t)strlen(bad[i]));
		n = read(fd, buf, sizeof(buf) - 1);
		assert_true(n > 0);
		buf[n] = '\0';
		assert_string_equal(buf, "error bad request\n");
		close(fd);
	}
	/* an overlong line without a newline is dropped, not buffered */
	{
		char big[200];
		int fd = dial(x.sync);
		memset(big, 'x', sizeof(big));
		assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
		assert_true(read(fd, buf, sizeof(buf)) <= 0);
		close(fd);
	}
	/* and the follower still answers proper writers */
	assert_int_equal(hc_sync_wait(x.sync, committed(&x), 2000, buf, sizeof(buf)), HUB_OK);
	fx_down(&x);
}

static void test_deep_directory(void **state)
{
	struct fx x;
	char deep[200], err[256];
	struct waiter w = {0};
	pthread_t t;
	(void)state;
	if (tu_pg())
		skip(); /* the sync sockets: SQLite only */
	memset(deep, 'd', 150);
	deep[150] = '\0';
	fx_up(&x, deep);
	assert_true(strlen(x.sync) > sizeof(((struct sockaddr_un *)0)->sun_path));
	assert_int_equal(hc_store_room_add(x.st, "deep"), HUB_OK);
	w.sync = x.sync;
	w.db = x.db;
	w.seq = committed(&x);
	w.timeout_ms = 10000;
	assert_int_equal(pthread_create(&t, NULL, wait_thread, &w), 0);
	for (int i = 0; i < 4000 && !atomic_load(&w.done); i++) {
		hc_follow_apply(x.f, &x.adir, NULL, NULL);
		sleep_ms(1);
	}
	pthread_join(t, NULL);
	assert_int_equal(w.rc, HUB_OK);
	(void)err;
	fx_down(&x);
}

/* PostgreSQL: a node that stopped deleted its row, and one silent for
 * longer than HC_NODE_STALE_MS (killed) is skipped: neither holds a
 * writer up. */
static void test_pg_gone_nodes_skipped(void **state)
{
	struct fx x;
	char err[512], sql[256];
	int64_t t0;
	(void)state;
	if (!tu_pg())
		skip();
	fx_up(&x, NULL);
	/* a node killed long ago, far behind */
	snprintf(sql, sizeof(sql),
		"INSERT INTO node_applied VALUES('elsewhere/broker-1', 0, hub_now_ms() - %d)",
		HC_NODE_STALE_MS + 1000);
	assert_int_equal(hc_db_exec(x.st, sql), HUB_OK);
	assert_int_equal(hc_store_room_add(x.st, "r1"), HUB_OK);
	hc_follow_stop(x.f); /* this node stops: its row goes */
	x.f = NULL;
	t0 = hc_mono_ms();
	assert_int_equal(sync_wait(x.db, x.sync, committed(&x), 3000, err, sizeof(err)), HUB_OK);
	assert_true(hc_mono_ms() - t0 < 3000);
	/* the same node alive and behind does hold it up */
	assert_int_equal(
		hc_db_exec(x.st, "UPDATE node_applied SET updated = hub_now_ms()"), HUB_OK);
	assert_int_equal(
		sync_wait(x.db, x.sync, committed(&x), 200, err, sizeof(err)), HUB_ERR_BUSY);
	assert_non_null(strstr(err, "elsewhere/broker-1"));
	fx_down(&x);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait_returns_after_apply),
		cmocka_unit_test(test_nothing_pending_answers_at_once),
		cmocka_unit_test(test_stuck_owner_times_out),
		cmocka_unit_test(test_no_directory_no_wait),
		cmocka_unit_test(test_stale_socket_removed),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_deep_directory),
		cmocka_unit_test(test_pg_gone_nodes_skipped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
