/* SPDX-License-Identifier: MIT */
/*
 * Webhooks and their outbox (common/webhook.c): validation of URLs, event
 * and room lists; matching (events, ev:NAME, ev:*, rooms); bodies with a
 * stable id; due rows in order and skipping busy hooks; delivered, retried
 * and failed after 24 h; counts, deletion cascading to the outbox, purge,
 * backoff.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "hc_err.h"
#include "hc_store.h"
#include "hc_webhook.h"
#include "testutil.h"

#include <sqlite3.h>

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

static bool skip_one(void *ud, int64_t hook)
{
	return ((struct seen *)ud)->skip_hook == hook;
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

	assert_int_equal(hc_webhook_due(f->st, INT64_MAX / 2, 100, NULL, collect, &s), HUB_OK);
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
	assert_int_equal(hc_webhook_due(f->st, INT64_MAX / 2, 100, skip_one, collect, &s), HUB_OK);
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
	assert_int_equal(hc_webhook_due(f->st, INT64_MAX / 8, 100, NULL, collect, &s), HUB_OK);
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
	assert_int_equal(hc_webhook_due(f->st, INT64_MAX / 2, 100, NULL, collect, &s), HUB_OK);
	assert_int_equal(s.n, 2);
	/* the first is 25 h old: a failed try ends it */
	assert_int_equal(sqlite3_exec(hc_store_db(f->st),
				 "UPDATE webhook_outbox SET created_at = unixepoch() - 90000", NULL,
				 NULL, NULL),
		SQLITE_OK);
	assert_int_equal(
		hc_webhook_retry(f->st, s.ids[0], 0, "connection refused", INT64_MAX / 4), HUB_OK);
	assert_int_equal(sqlite3_exec(hc_store_db(f->st),
				 "UPDATE webhook_outbox SET created_at = unixepoch() WHERE state = "
				 "'pending'",
				 NULL, NULL, NULL),
		SQLITE_OK);
	assert_int_equal(hc_webhook_retry(f->st, s.ids[1], 500, "HTTP 500", INT64_MAX / 4), HUB_OK);
	assert_int_equal(hc_webhook_list(f->st, list_cb, &l), HUB_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.failed, 1);
	assert_int_equal(l.failing, 1);
	assert_int_equal(l.pending, 0);
	assert_string_equal(l.last_error, "HTTP 500");
	/* purge keeps pending rows */
	assert_int_equal(hc_webhook_purge(f->st, INT64_MAX / 2), HUB_OK);
	memset(&l, 0, sizeof(l));
	assert_int_equal(hc_webhook_list(f->st, list_cb, &l), HUB_OK);
	assert_int_equal(l.failed, 0);
	assert_int_equal(l.failing, 1);
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
		cmocka_unit_test(test_backoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
