/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/hmap.c: put/get/del/replace, growth to 100k keys,
 * binary keys with NULs (explicit lengths), each() with early stop.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_err.h"
#include "hc_hmap.h"
#include "testutil.h"

#define V(n) ((void *)(intptr_t)(n))

static void test_empty(void **state)
{
	struct hc_hmap m;
	(void)state;
	hc_hmap_init(&m);
	assert_null(hc_hmap_get(&m, "a", 1));
	assert_null(hc_hmap_del(&m, "a", 1));
	assert_int_equal(m.count, 0);
	assert_int_equal(hc_hmap_each(&m, NULL, NULL), 0);
	hc_hmap_clear(&m);
	hc_hmap_clear(&m); /* twice is fine */
}

static void test_put_get_del_replace(void **state)
{
	struct hc_hmap m;
	void *old = V(99);
	(void)state;
	hc_hmap_init(&m);
	assert_int_equal(hc_hmap_put(&m, "alice", 5, V(1), &old), HUB_OK);
	assert_null(old);
	assert_int_equal(hc_hmap_put(&m, "bob", 3, V(2), NULL), HUB_OK);
	assert_int_equal(m.count, 2);
	assert_ptr_equal(hc_hmap_get(&m, "alice", 5), V(1));
	assert_ptr_equal(hc_hmap_get(&m, "bob", 3), V(2));
	/* length is part of the key */
	assert_null(hc_hmap_get(&m, "alice", 4));
	assert_null(hc_hmap_get(&m, "alicex", 6));
	assert_null(hc_hmap_get(&m, "bob", 2));
	/* keys are copied */
	{
		char k[] = "carol";
		assert_int_equal(hc_hmap_put(&m, k, 5, V(3), NULL), HUB_OK);
		k[0] = 'X';
		assert_ptr_equal(hc_hmap_get(&m, "carol", 5), V(3));
		assert_null(hc_hmap_get(&m, "Xarol", 5));
	}
	/* replace returns the old value, count unchanged */
	assert_int_equal(hc_hmap_put(&m, "alice", 5, V(10), &old), HUB_OK);
	assert_ptr_equal(old, V(1));
	assert_int_equal(m.count, 3);
	assert_ptr_equal(hc_hmap_get(&m, "alice", 5), V(10));
	/* NULL values are storable but read back as NULL */
	assert_int_equal(hc_hmap_put(&m, "nil", 3, NULL, NULL), HUB_OK);
	assert_int_equal(m.count, 4);
	/* delete */
	assert_ptr_equal(hc_hmap_del(&m, "alice", 5), V(10));
	assert_null(hc_hmap_get(&m, "alice", 5));
	assert_null(hc_hmap_del(&m, "alice", 5));
	assert_int_equal(m.count, 3);
	assert_ptr_equal(hc_hmap_get(&m, "bob", 3), V(2));
	/* the empty key is a key like any other */
	assert_int_equal(hc_hmap_put(&m, "", 0, V(7), NULL), HUB_OK);
	assert_ptr_equal(hc_hmap_get(&m, "", 0), V(7));
	assert_ptr_equal(hc_hmap_del(&m, "", 0), V(7));
	hc_hmap_clear(&m);
	assert_int_equal(m.count, 0);
	assert_null(hc_hmap_get(&m, "bob", 3));
}

static void test_binary_keys(void **state)
{
	struct hc_hmap m;
	(void)state;
	hc_hmap_init(&m);
	assert_int_equal(hc_hmap_put(&m, "a\0b", 3, V(1), NULL), HUB_OK);
	assert_int_equal(hc_hmap_put(&m, "a\0c", 3, V(2), NULL), HUB_OK);
	assert_int_equal(hc_hmap_put(&m, "a", 1, V(3), NULL), HUB_OK);
	assert_int_equal(hc_hmap_put(&m, "a\0", 2, V(4), NULL), HUB_OK);
	assert_int_equal(hc_hmap_put(&m, "\0", 1, V(5), NULL), HUB_OK);
	assert_int_equal(m.count, 5);
	assert_ptr_equal(hc_hmap_get(&m, "a\0b", 3), V(1));
	assert_ptr_equal(hc_hmap_get(&m, "a\0c", 3), V(2));
	assert_ptr_equal(hc_hmap_get(&m, "a", 1), V(3));
	assert_ptr_equal(hc_hmap_get(&m, "a\0", 2), V(4));
	assert_ptr_equal(hc_hmap_get(&m, "\0", 1), V(5));
	assert_null(hc_hmap_get(&m, "", 0));
	assert_ptr_equal(hc_hmap_del(&m, "a\0b", 3), V(1));
	assert_ptr_equal(hc_hmap_get(&m, "a\0c", 3), V(2));
	assert_ptr_equal(hc_hmap_get(&m, "a", 1), V(3));
	/* keys longer than the 8-byte hashing stride, differing in the tail */
	assert_int_equal(hc_hmap_put(&m, "0123456789abcdefX", 17, V(6), NULL), HUB_OK);
	assert_int_equal(hc_hmap_put(&m, "0123456789abcdefY", 17, V(7), NULL), HUB_OK);
	assert_ptr_equal(hc_hmap_get(&m, "0123456789abcdefX", 17), V(6));
	assert_ptr_equal(hc_hmap_get(&m, "0123456789abcdefY", 17), V(7));
	hc_hmap_clear(&m);
}

static void test_growth_100k(void **state)
{
	struct hc_hmap m;
	char key[32];
	int tu_failures = 0;
	(void)state;
	hc_hmap_init(&m);
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		assert_int_equal(hc_hmap_put(&m, key, (size_t)n, V(i + 1), NULL), HUB_OK);
	}
	assert_int_equal(m.count, 100000);
	/* grows at load 1.0: power of two, at least count buckets */
	assert_true(m.nbuckets >= m.count);
	assert_int_equal(m.nbuckets & (m.nbuckets - 1), 0);
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		void *v = hc_hmap_get(&m, key, (size_t)n);
		if (v != V(i + 1)) {
			TU_EXPECT(0, "key %s: got %p", key, v);
			break;
		}
	}
	/* delete the even ones, the odd ones stay */
	for (int i = 0; i < 100000; i += 2) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		if (hc_hmap_del(&m, key, (size_t)n) != V(i + 1)) {
			TU_EXPECT(0, "del %s failed", key);
			break;
		}
	}
	assert_int_equal(m.count, 50000);
	for (int i = 0; i < 100000; i++) {
		int n = snprintf(key, sizeof(key), "key-%d", i);
		void *v = hc_hmap_get(&m, key, (size_t)n);
		if (v != (i % 2 ? V(i + 1) : NULL)) {
			TU_EXPECT(0, "after del, key %s: got %p", key, v);
			break;
		}
	}
	hc_hmap_clear(&m);
	TU_DONE();
}

struct each_ud {
	int calls;
	int stop_at;
	intptr_t sum;
};

static int each_cb(void *ud, const char *key, void *value)
{
	struct each_ud *e = ud;
	assert_non_null(key);
	e->calls++;
	e->sum += (intptr_t)value;
	return e->calls == e->stop_at ? 42 : 0;
}

static void test_each(void **state)
{
	struct hc_hmap m;
	struct each_ud e = {0};
	char key[16];
	(void)state;
	hc_hmap_init(&m);
	for (int i = 1; i <= 100; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(hc_hmap_put(&m, key, (size_t)n, V(i), NULL), HUB_OK);
	}
	/* full walk: every entry once */
	assert_int_equal(hc_hmap_each(&m, each_cb, &e), 0);
	assert_int_equal(e.calls, 100);
	assert_int_equal(e.sum, 5050);
	/* early stop: the callback's value comes back, no more calls */
	memset(&e, 0, sizeof(e));
	e.stop_at = 7;
	assert_int_equal(hc_hmap_each(&m, each_cb, &e), 42);
	assert_int_equal(e.calls, 7);
	memset(&e, 0, sizeof(e));
	e.stop_at = 1;
	assert_int_equal(hc_hmap_each(&m, each_cb, &e), 42);
	assert_int_equal(e.calls, 1);
	hc_hmap_clear(&m);
}

static void test_hash_bytes(void **state)
{
	(void)state;
	/* deterministic within a process; sensitive to every byte and length */
	assert_true(hc_hash_bytes("abc", 3) == hc_hash_bytes("abc", 3));
	assert_true(hc_hash_bytes("abc", 3) != hc_hash_bytes("abd", 3));
	assert_true(hc_hash_bytes("abc", 3) != hc_hash_bytes("abc", 2));
	assert_true(hc_hash_bytes("", 0) != hc_hash_bytes("\0", 1));
	assert_true(hc_hash_bytes("01234567a", 9) != hc_hash_bytes("01234567b", 9));
	assert_true(hc_hash_bytes("x1234567", 8) != hc_hash_bytes("y1234567", 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_put_get_del_replace),
		cmocka_unit_test(test_binary_keys),
		cmocka_unit_test(test_growth_100k),
		cmocka_unit_test(test_each),
		cmocka_unit_test(test_hash_bytes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
