/* SPDX-License-Identifier: MIT */
/*
 * Webhooks and their outbox (common/webhook.c): validation of URLs, event
 * and room lists; matching (events, ev:NAME, ev:*, rooms); bodies with a
 * stable id; due rows per webhook (a webhook's backlog never hides the
 * others', as many as asked, round robin, expired rows left out);
 * delivered, retried and failed after 24 h; the expiry sweep; counts,
 * deletion cascading to the outbox, batched purge, backoff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hc_err.h"
#include "hc_store.h"
#include "hc_util.h"
#include "hc_webhook.h"
#include "testutil.h"

#include "hc_db.h"

struct fx {
	char dir[512];
	struct hc_store *st;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char db[700], err[256];
	tu_mkdtemp(f->dir, sizeof(f->dir));
	snprintf(db, sizeof(db), "%s/hub.db", f->dir);
	if (tu_pg()) {
		if (tu_pg_reset(tu_pg()))
			return -1;
		snprintf(db, sizeof(db), "%s", tu_pg());
	}
	if (hc_store_open(db, HC_STORE_RW, &f->st, err, sizeof(err)))
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

static void test_validation(void **state)
{
	(void)state;
	assert_true(hc_webhook_url_valid("http://127.0.0.1:9000/hook"));
	assert_true(hc_webhook_url_valid("https://example.com/x?a=b"));
	assert_false(hc_webhook_url_valid("ftp://example.com/"));
	assert_false(hc_webhook_url_valid("http://"));
	assert_false(hc_webhook_url_valid("http:///path"));
	assert_false(hc_webhook_url_valid("http://a b/"));
	assert_false(hc_webhook_url_valid("http://a\n/"));
	assert_false(hc_webhook_url_valid(NULL));
	assert_true(hc_webhook_events_valid("joined,left"));
	assert_true(hc_webhook_events_valid("login"));
	assert_true(hc_webhook_events_valid("ev:chat message,ev:*,logout"));
	assert_false(hc_webhook_events_valid(""));
	assert_false(hc_webhook_events_valid("joined,"));
	assert_false(hc_webhook_events_valid("joined,,left"));
	assert_false(hc_webhook_events_valid("JOINED"));
	assert_false(hc_webhook_events_valid("ev:"));
	assert_false(hc_webhook_events_valid("ev:a/b"));
	assert_true(hc_webhook_rooms_valid(""));
	assert_true(hc_webhook_rooms_valid("lobby,fleet"));
	assert_false(hc_webhook_rooms_valid("lobby,"));
	assert_false(hc_webhook_rooms_valid("lob by"));
}

struct seen {
	int n;
	char ids[16][HC_WEBHOOK_ID_LEN + 1];
	char types[16][80];
	char bodies[16][512];
	int64_t hooks[16];
	int64_t skip_hook;
};

static int collect(void *ud, struct hc_webhook_delivery *d)
{
	struct seen *s = ud;
	if (s->n < 16) {
		snprintf(s->ids[s->n], sizeof(s->ids[0]), "%s", d->id);
		snprintf(s->types[s->n], sizeof(s->types[0]), "%s", d->type);
		snprintf(s->bodies[s->n], sizeof(s->bodies[0]), "%.*s", (int)d->body_len,
			(const char *)d->body);
		s->hooks[s->n] = d->hook;
	}
	s->n++;
	free(d->body);
	return 0;
}

/* want(): everything of every webhook, but none of skip_hook's */
static int want_all(void *ud, int64_t hook, const char *url)
{
	(void)url;
	return ((struct seen *)ud)->skip_hook == hook ? 0 : 1000;
}

static int due_all(struct hc_store *st, int64_t now, struct seen *s)
{
	int64_t cursor = 0;
	return hc_webhook_due(st, now, &cursor, want_all, collect, s);
}

static void test_enqueue_match_and_deliver(void **state)
{
	struct fx *f = *state;
	char secret[44], body[300];
	int64_t a, b, c, pending, failed, done;
	int q;
	struct seen s = {0};

	assert_int_equal(hc_webhook_add(f->st, "http://x/a", NULL, NULL, secret, &a), HUB_OK);
	assert_int_equal(strlen(secret), 43);
	assert_int_equal(
		hc_webhook_add(f->st, "http://x/b", "ev:chat message,left", "lobby", secret, &b),
		HUB_OK);
	assert_int_equal(hc_webhook_add(f->st, "http://x/c", "ev:*", NULL, secret, &c), HUB_OK);
	assert_int_equal(hc_webhook_add(f->st, "nope", NULL, NULL, secret, NULL), HUB_ERR_INVAL);
	assert_int_equal(
		hc_webhook_add(f->st, "http://x/", "bad", NULL, secret, NULL), HUB_ERR_INVAL);

	/* login: only a (defaults) */
	assert_int_equal(hc_webhook_enqueue(f->st, "login", NULL, NULL, 1000,
				 "\"user\":\"alice\",\"sid\":\"s1\"", &q),
		HUB_OK);
	assert_int_equal(q, 1);
	/* left in lobby: a and b */
	assert_int_equal(hc_webhook_enqueue(f->st, "left", NULL, "lobby", 2000,
				 "\"room\":\"lobby\",\"user\":\"bob\",\"reason\":\"network\"", &q),
		HUB_OK);
	assert_int_equal(q, 2);
	/* left in fleet: a only (b watches lobby) */
	assert_int_equal(hc_webhook_enqueue(f->st, "left", NULL, "fleet", 3000, "", &q), HUB_OK);
	assert_int_equal(q, 1);
	/* a chat message in lobby: b (ev:chat message) and c (ev:*) */
	assert_int_equal(hc_webhook_enqueue(f->st, "event", "chat message", "lobby", 4000,
				 "\"room\":\"lobby\",\"event\":\"chat message\"", &q),
		HUB_OK);
	assert_int_equal(q, 2);
	/* another event in fleet: c only */
	assert_int_equal(
		hc_webhook_enqueue(f->st, "event", "typing", "fleet", 5000, "", &q), HUB_OK);
	assert_int_equal(q, 1);

	assert_int_equal(due_all(f->st, hc_now() + 1, &s), HUB_OK);
	assert_int_equal(s.n, 7);
	snprintf(body, sizeof(body),
		"{\"id\":\"%s\",\"type\":\"login\",\"ts\":1000,"
		"\"user\":\"alice\",\"sid\":\"s1\"}",
		s.ids[0]);
	assert_string_equal(s.bodies[0], body);
	for (int i = 0; i < s.n; i++)
		for (int k = i + 1; k < s.n; k++)
			assert_string_not_equal(s.ids[i], s.ids[k]);

	/* a busy hook is skipped, the others still come */
	memset(&s, 0, sizeof(s));
	s.skip_hook = a;
	assert_int_equal(due_all(f->st, hc_now() + 1, &s), HUB_OK);
	assert_int_equal(s.n, 4);
	for (int i = 0; i < s.n; i++)
		assert_true(s.hooks[i] != a);

	/* outcomes */
	assert_int_equal(hc_webhook_delivered(f->st, s.ids[0], 200), HUB_OK);
	assert_int_equal(hc_webhook_retry(f->st, s.ids[1], 503, "HTTP 503", INT64_MAX / 4), HUB_OK);
	assert_int_equal(hc_webhook_counts(f->st, &pending, &failed, &done), HUB_OK);
	assert_int_equal(pending, 6);
	assert_int_equal(failed, 0);
	assert_int_equal(done, 1);
	/* the retried row is not due before its time, and keeps its id */
	memset(&s, 0, sizeof(s));
	assert_int_equal(due_all(f->st, hc_now() + 1, &s), HUB_OK);
	assert_int_equal(s.n, 5);

	/* deleting a webhook takes its outbox with it */
	assert_int_equal(hc_webhook_del(f->st, a), HUB_OK);
	assert_int_equal(hc_webhook_del(f->st, a), HUB_ERR_NOTFOUND);
	assert_int_equal(hc_webhook_counts(f->st, &pending, &failed, &done), HUB_OK);
	assert_int_equal(pending + failed + done, 4);
}

struct listed {
	int n;
	int64_t pending, failing, failed, delivered;
	char last_error[200];
};

static int list_cb(void *ud, const struct hc_webhook *w)
{
	struct listed *l = ud;
	l->n++;
	l->pending = w->pending;
	l->failing = w->failing;
	l->failed = w->failed;
	l->delivered = w->delivered;
	snprintf(l->last_error, sizeof(l->last_error), "%s", w->last_error);
	return 0;
}

static void test_expiry_and_list(void **state)
{
	struct fx *f = *state;
	char secret[44];
	int64_t a;
	struct seen s = {0};
	struct listed l = {0};

	assert_int_equal(hc_webhook_add(f->st, "http://x/a", "login", NULL, secret, &a), HUB_OK);
	assert_int_equal(hc_webhook_enqueue(f->st, "login", NULL, NULL, 1, "", NULL), HUB_OK);
	assert_int_equal(hc_webhook_enqueue(f->st, "login", NULL, NULL, 2, "", NULL), HUB_OK);
	assert_int_equal(due_all(f->st, hc_now() + 1, &s), HUB_OK);
	assert_int_equal(s.n, 2);
	/* the first is 25 h old: a failed try ends it */
	assert_int_equal(
		hc_db_exec(f->st, "UPDATE webhook_outbox SET created_at = unixepoch() - 90000"),
		HUB_OK);
	assert_int_equal(
		hc_webhook_retry(f->st, s.ids[0], 0, "connection refused", INT64_MAX / 4), HUB_OK);
	assert_int_equal(hc_db_exec(f->st,
				 "UPDATE webhook_outbox SET created_at = unixepoch() WHERE state = "
				 "'pending'"),
		HUB_OK);
	assert_int_equal(hc_webhook_retry(f->st, s.ids[1], 500, "HTTP 500", INT64_MAX / 4), HUB_OK);
	assert_int_equal(hc_webhook_list(f->st, list_cb, &l), HUB_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.failed, 1);
	assert_int_equal(l.failing, 1);
	assert_int_equal(l.pending, 0);
	assert_string_equal(l.last_error, "HTTP 500");
	/* purge keeps pending rows */
	assert_int_equal(hc_webhook_purge(f->st, INT64_MAX / 2, NULL), HUB_OK);
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_webhook_list(f->st, list_cb, &l), HUB_OK);
	assert_int_equal(l.failed, 0);
	assert_int_equal(l.failing, 1);
}

/* want(): a per-hook quota, and the order the webhooks were asked in */
struct quota {
	int64_t hooks[8];
	int n[8];
	int asked;
	int64_t order[8];
	struct seen seen;
};

static int want_quota(void *ud, int64_t hook, const char *url)
{
	struct quota *q = ud;
	(void)url;
	if (q->asked < 8)
		q->order[q->asked++] = hook;
	for (int i = 0; i < 8; i++)
		if (q->hooks[i] == hook)
			return q->n[i];
	return 0;
}

static int collect_q(void *ud, struct hc_webhook_delivery *d)
{
	return collect(&((struct quota *)ud)->seen, d);
}

static void test_due_per_hook(void **state)
{
	struct fx *f = *state;
	char secret[44];
	int64_t a, b, cursor = 0;
	struct quota q = {0};
	int queued;

	assert_int_equal(hc_webhook_add(f->st, "http://dead/a", "login", NULL, secret, &a), HUB_OK);
	/* a dead endpoint's backlog: 300 rows of a */
	for (int i = 0; i < 300; i++)
		assert_int_equal(
			hc_webhook_enqueue(f->st, "login", NULL, NULL, i, "", &queued), HUB_OK);
	assert_int_equal(hc_webhook_add(f->st, "http://ok/b", "logout", NULL, secret, &b), HUB_OK);
	assert_int_equal(hc_webhook_enqueue(f->st, "logout", NULL, NULL, 1, "", NULL), HUB_OK);
	assert_int_equal(hc_webhook_enqueue(f->st, "logout", NULL, NULL, 2, "", NULL), HUB_OK);

	/* a has no slot: b's rows still come, and nothing of a is read */
	q.hooks[0] = a;
	q.n[0] = 0;
	q.hooks[1] = b;
	q.n[1] = 5;
	assert_int_equal(
		hc_webhook_due(f->st, hc_now() + 1, &cursor, want_quota, collect_q, &q), HUB_OK);
	assert_int_equal(q.seen.n, 2);
	assert_true(q.seen.hooks[0] == b && q.seen.hooks[1] == b);
	assert_string_equal(q.seen.types[0], "logout");
	/* both were asked, a first; the cursor is where this scan began */
	assert_int_equal(q.asked, 2);
	assert_true(q.order[0] == a && q.order[1] == b);
	assert_true(cursor == a);

	/* as many as asked, oldest first; the next scan starts after a */
	memset(&q.seen, 0, sizeof(q.seen));
	q.asked = 0;
	q.n[0] = 3;
	assert_int_equal(
		hc_webhook_due(f->st, hc_now() + 1, &cursor, want_quota, collect_q, &q), HUB_OK);
	assert_int_equal(q.seen.n, 5);
	assert_true(q.order[0] == b && q.order[1] == a);
	assert_true(cursor == b);
	{
		int from_a = 0;
		for (int i = 0; i < q.seen.n; i++)
			if (q.seen.hooks[i] == a) {
				char want_ts[32];
				snprintf(want_ts, sizeof(want_ts), "\"ts\":%d}", from_a);
				assert_non_null(strstr(q.seen.bodies[i], want_ts));
				from_a++;
			}
		assert_int_equal(from_a, 3);
	}

	/* rows older than 24 h are not handed out, even before the sweep */
	assert_int_equal(
		hc_db_exec(f->st, "UPDATE webhook_outbox SET created_at = unixepoch() - 86401"),
		HUB_OK);
	memset(&q.seen, 0, sizeof(q.seen));
	q.n[0] = q.n[1] = 1000;
	assert_int_equal(
		hc_webhook_due(f->st, hc_now() + 1, &cursor, want_quota, collect_q, &q), HUB_OK);
	assert_int_equal(q.seen.n, 0);
}

static void test_expire_sweep(void **state)
{
	struct fx *f = *state;
	char secret[44];
	int64_t a, pending, failed, done;
	struct seen s = {0};
	struct listed l = {0};
	int n = -1;

	assert_int_equal(hc_webhook_add(f->st, "http://x/a", "login", NULL, secret, &a), HUB_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(
			hc_webhook_enqueue(f->st, "login", NULL, NULL, i, "", NULL), HUB_OK);
	assert_int_equal(due_all(f->st, hc_now() + 1, &s), HUB_OK);
	assert_int_equal(s.n, 3);
	/* one failed try on the first; nothing is old yet: the sweep does
	 * nothing */
	assert_int_equal(hc_webhook_retry(f->st, s.ids[0], 503, "HTTP 503", hc_now()), HUB_OK);
	assert_int_equal(hc_webhook_expire(f->st, hc_now(), &n), HUB_OK);
	assert_int_equal(n, 0);
	/* two of them 24 h old: given up, a never-tried one as "expired", the
	 * tried one keeping its last error */
	assert_int_equal(
		hc_db_exec(f->st, "UPDATE webhook_outbox SET created_at = unixepoch() - 86400 "
				  "WHERE rowid <= 2"),
		HUB_OK);
	assert_int_equal(hc_webhook_expire(f->st, hc_now(), &n), HUB_OK);
	assert_int_equal(n, 2);
	assert_int_equal(hc_webhook_counts(f->st, &pending, &failed, &done), HUB_OK);
	assert_int_equal(pending, 1);
	assert_int_equal(failed, 2);
	assert_int_equal(done, 0);
	assert_int_equal(hc_webhook_list(f->st, list_cb, &l), HUB_OK);
	assert_int_equal(l.failed, 2);
	{
		struct hc_db_stmt *st;
		assert_int_equal(
			hc_db_prep(f->st, &st,
				"SELECT last_error FROM webhook_outbox ORDER BY rowid", ""),
			HUB_OK);
		assert_int_equal(hc_db_step(st), HC_DB_ROW);
		assert_string_equal(hc_db_text(st, 0), "HTTP 503");
		assert_int_equal(hc_db_step(st), HC_DB_ROW);
		assert_string_equal(hc_db_text(st, 0), "expired");
		hc_db_finalize(st);
	}
	/* a late retry outcome leaves a failed row failed; a late delivery
	 * (the try was in flight when it expired) counts */
	assert_int_equal(hc_webhook_retry(f->st, s.ids[1], 500, "late", hc_now()), HUB_OK);
	assert_int_equal(hc_webhook_counts(f->st, &pending, &failed, NULL), HUB_OK);
	assert_int_equal(failed, 2);
	assert_int_equal(hc_webhook_delivered(f->st, s.ids[1], 200), HUB_OK);
	assert_int_equal(hc_webhook_counts(f->st, &pending, &failed, &done), HUB_OK);
	assert_int_equal(failed, 1);
	assert_int_equal(done, 1);
	/* a delivered row is not retried */
	assert_int_equal(hc_webhook_retry(f->st, s.ids[1], 500, "late", hc_now()), HUB_OK);
	assert_int_equal(hc_webhook_counts(f->st, &pending, &failed, &done), HUB_OK);
	assert_int_equal(done, 1);
}

static void test_no_webhooks_and_purge_batches(void **state)
{
	struct fx *f = *state;
	char secret[44];
	int64_t a, pending, failed, done, deleted = -1;
	int q = -1;

	/* no webhook: nothing queued, nothing written */
	assert_int_equal(
		hc_webhook_enqueue(f->st, "login", NULL, NULL, 1, "\"user\":\"a\"", &q), HUB_OK);
	assert_int_equal(q, 0);
	assert_int_equal(hc_webhook_counts(f->st, &pending, &failed, &done), HUB_OK);
	assert_int_equal(pending + failed + done, 0);

	assert_int_equal(hc_webhook_add(f->st, "http://x/a", "login", NULL, secret, &a), HUB_OK);
	/* more done rows than one purge batch, a few failed, a few pending */
	assert_int_equal(hc_db_exec(f->st,
				 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
				 "WHERE i < 4500) INSERT INTO webhook_outbox(id, hook, type, body, "
				 "created_at, next_at, state) SELECT 'd' || i, 1, 'login', '{}', "
				 "1000, 1000, CASE WHEN i <= 4490 THEN 'done' WHEN i <= 4495 THEN "
				 "'failed' ELSE 'pending' END FROM n"),
		HUB_OK);
	/* a batch at a time: 2000, 2000, then the rest */
	assert_int_equal(hc_webhook_purge(f->st, 2000, &deleted), HUB_OK);
	assert_int_equal(deleted, HC_WEBHOOK_PURGE_BATCH);
	assert_int_equal(hc_webhook_purge(f->st, 2000, &deleted), HUB_OK);
	assert_int_equal(deleted, HC_WEBHOOK_PURGE_BATCH);
	assert_int_equal(hc_webhook_purge(f->st, 2000, &deleted), HUB_OK);
	assert_int_equal(deleted, 4495 - 2 * HC_WEBHOOK_PURGE_BATCH);
	assert_int_equal(hc_webhook_counts(f->st, &pending, &failed, &done), HUB_OK);
	assert_int_equal(pending, 5);
	assert_int_equal(failed + done, 0);
	/* nothing older than the cutoff: nothing goes */
	assert_int_equal(hc_webhook_purge(f->st, 999, &deleted), HUB_OK);
	assert_int_equal(deleted, 0);
}

static void test_backoff(void **state)
{
	(void)state;
	for (int i = 0; i < 50; i++) {
		int64_t d1 = hc_webhook_backoff_s(1), d4 = hc_webhook_backoff_s(4),
			d30 = hc_webhook_backoff_s(30);
		assert_true(d1 >= 1 && d1 <= 1);
		assert_true(d4 >= 8 && d4 <= 9);
		assert_true(d30 >= 600 && d30 <= 720);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validation),
		cmocka_unit_test_setup_teardown(test_enqueue_match_and_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_and_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_due_per_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expire_sweep, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_no_webhooks_and_purge_batches, setup, teardown),
		cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
