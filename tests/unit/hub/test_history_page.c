/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of hub/history_page.c (and common/history.c's scan under it)
 * on a real store: order, limit, byte budget, has_more/before paging,
 * oversized payloads never read, data encodings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_db.h"
#include "hc_err.h"
#include "hc_history.h"
#include "hc_store.h"
#include "history_page.h"
#include "../common/testutil.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

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
	if (hc_store_open(f->db, HC_STORE_RW, &f->st, err, sizeof(err)) != HUB_OK)
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

static void put(struct fx *f, const char *room, const void *data, size_t len)
{
	struct hc_db_stmt *s = NULL;
	assert_int_equal(hc_db_prep(f->st, &s,
				 "INSERT INTO messages(room, event, sender, ts, data) "
				 "VALUES(?, 'chat message', 'alice', 1000, ?)",
				 "sb", room, data, len),
		HUB_OK);
	assert_int_equal(hc_db_done(s), HUB_OK);
}

static cJSON *page(
	struct fx *f, const char *room, int64_t before, int limit, size_t budget, size_t event_max)
{
	struct hub_history_query q = {.before = before,
		.limit = limit,
		.budget = budget,
		.event_max = event_max,
		.headroom = 16};
	unsigned char *out = NULL;
	size_t len = 0;
	cJSON *j;
	snprintf(q.room, sizeof(q.room), "%s", room);
	assert_int_equal(hub_history_page(f->st, &q, &out, &len), HUB_OK);
	assert_int_equal(strlen((char *)out + 16), len);
	j = cJSON_ParseWithLength((char *)out + 16, len);
	free(out);
	assert_non_null(j);
	return j;
}

static int count(cJSON *j)
{
	return cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages"));
}

static double id_at(cJSON *j, int i)
{
	return cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), i), "id")
		->valuedouble;
}

static void test_order_limit_paging(void **state)
{
	struct fx *f = *state;
	cJSON *j;
	char text[32];
	int64_t before = 0;
	int seen = 0;

	for (int i = 1; i <= 25; i++) {
		snprintf(text, sizeof(text), "{\"n\":%d}", i);
		put(f, "lobby", text, strlen(text));
		put(f, "other", text, strlen(text));
	}
	j = page(f, "lobby", 0, 10, 1 << 20, 65536);
	assert_int_equal(count(j), 10);
	/* newest last: ids ascending, the newest of the room at the end */
	assert_true(id_at(j, 0) < id_at(j, 9));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "has_more")));
	assert_int_equal((int)cJSON_GetObjectItem(j, "before")->valuedouble, (int)id_at(j, 0));
	assert_string_equal(cJSON_GetObjectItem(j, "room")->valuestring, "lobby");
	cJSON_Delete(j);
	/* paging back with before reaches every message once */
	for (;;) {
		j = page(f, "lobby", before, 10, 1 << 20, 65536);
		seen += count(j);
		if (!cJSON_IsTrue(cJSON_GetObjectItem(j, "has_more"))) {
			cJSON_Delete(j);
			break;
		}
		before = (int64_t)cJSON_GetObjectItem(j, "before")->valuedouble;
		cJSON_Delete(j);
	}
	assert_int_equal(seen, 25);
	/* exactly the limit left: no more */
	j = page(f, "lobby", 0, 25, 1 << 20, 65536);
	assert_int_equal(count(j), 25);
	assert_false(cJSON_IsTrue(cJSON_GetObjectItem(j, "has_more")));
	cJSON_Delete(j);
	/* an empty room */
	j = page(f, "empty", 0, 10, 1 << 20, 65536);
	assert_int_equal(count(j), 0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "before")));
	cJSON_Delete(j);
}

static void test_budget(void **state)
{
	struct fx *f = *state;
	char *big = malloc(10000);
	cJSON *j;
	unsigned char *out = NULL;
	size_t len = 0;
	struct hub_history_query q = {
		.room = "lobby", .limit = 500, .budget = 35000, .event_max = 65536};

	assert_non_null(big);
	memset(big, 'x', 10000);
	for (int i = 0; i < 20; i++)
		put(f, "lobby", big, 10000); /* a 10 KB string each */
	assert_int_equal(hub_history_page(f->st, &q, &out, &len), HUB_OK);
	assert_true(len <= 35000 + 100);
	j = cJSON_ParseWithLength((char *)out, len);
	assert_int_equal(count(j), 3);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "has_more")));
	cJSON_Delete(j);
	free(out);
	/* one message always fits, even over the budget */
	q.budget = 4096;
	assert_int_equal(hub_history_page(f->st, &q, &out, &len), HUB_OK);
	j = cJSON_ParseWithLength((char *)out, len);
	assert_int_equal(count(j), 1);
	cJSON_Delete(j);
	free(out);
	free(big);
}

static void test_oversize_and_encodings(void **state)
{
	struct fx *f = *state;
	size_t n = 200000;
	char *huge = malloc(n);
	cJSON *j, *m;

	assert_non_null(huge);
	memset(huge, 'y', n);
	put(f, "lobby", huge, n);
	put(f, "lobby", "plain text", 10);
	put(f, "lobby", "\xff\x00\x01", 3);
	put(f, "lobby", "", 0);
	put(f, "lobby", "12ab", 4);
	j = page(f, "lobby", 0, 10, 1 << 20, 65536);
	assert_int_equal(count(j), 5);
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 4);
	assert_string_equal(cJSON_GetObjectItem(m, "data")->valuestring, "12ab");
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 0);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "data")));
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(m, "omitted")));
	assert_int_equal((int)cJSON_GetObjectItem(m, "size")->valuedouble, (int)n);
	assert_string_equal(cJSON_GetObjectItem(m, "from")->valuestring, "alice");
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 1);
	assert_string_equal(cJSON_GetObjectItem(m, "data")->valuestring, "plain text");
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 2);
	assert_string_equal(cJSON_GetObjectItem(m, "encoding")->valuestring, "base64");
	assert_string_equal(cJSON_GetObjectItem(m, "data")->valuestring, "/wAB");
	m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "messages"), 3);
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(m, "data")));
	assert_null(cJSON_GetObjectItem(m, "omitted"));
	cJSON_Delete(j);
	free(huge);
}

static int stop_after_two(void *ud, const struct hc_message *m)
{
	int *n = ud;
	(void)m;
	return ++*n == 2 ? HC_HISTORY_STOP : 0;
}

static void test_scan(void **state)
{
	struct fx *f = *state;
	int n = 0;
	for (int i = 0; i < 5; i++)
		put(f, "lobby", "1", 1);
	assert_int_equal(hc_history_scan(f->st, "lobby", 0, 10, 100, stop_after_two, &n), HUB_OK);
	assert_int_equal(n, 2);
	assert_int_equal(
		hc_history_scan(f->st, "bad room", 0, 10, 100, stop_after_two, &n), HUB_ERR_INVAL);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_order_limit_paging),
		T(test_budget),
		T(test_oversize_and_encodings),
		T(test_scan),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
