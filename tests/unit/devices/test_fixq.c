/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of devices/fixq.c: the bounded queue of fixes awaiting a
 * PUBACK. Order, the in-flight window, out-of-order acknowledgements,
 * dropping the oldest when full (and counting), requeue after a lost
 * connection, growth up to the bound.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fixq.h"
#include "hc_err.h"

static struct trk_fix fix(uint32_t seq)
{
	struct trk_fix f;
	memset(&f, 0, sizeof(f));
	f.seq = seq;
	f.tst = 1000 + seq;
	return f;
}

/* Hand out up to n entries with mids starting at mid0; returns how many. */
static size_t send_n(struct trk_fixq *q, size_t n, int mid0)
{
	size_t k = 0;
	while (k < n && trk_fixq__next(q)) {
		trk_fixq__sent(q, mid0 + (int)k);
		k++;
	}
	return k;
}

static void test_order_and_ack(void **state)
{
	struct trk_fixq q;
	struct trk_fix f;
	(void)state;
	trk_fixq__init(&q, 100);
	for (uint32_t i = 1; i <= 5; i++) {
		f = fix(i);
		assert_int_equal(trk_fixq__push(&q, &f), HUB_OK);
	}
	assert_int_equal(q.len, 5);
	assert_int_equal(trk_fixq__next(&q)->fix.seq, 1);
	assert_int_equal(send_n(&q, 3, 10), 3); /* 1,2,3 in flight as mids 10,11,12 */
	assert_int_equal(trk_fixq__next(&q)->fix.seq, 4);
	/* out of order: 11 first; nothing leaves before 10 */
	assert_true(trk_fixq__ack(&q, 11));
	assert_int_equal(q.len, 5);
	assert_false(trk_fixq__ack(&q, 11)); /* twice */
	assert_false(trk_fixq__ack(&q, 99)); /* unknown */
	assert_false(trk_fixq__ack(&q, 13)); /* not in flight */
	assert_true(trk_fixq__ack(&q, 10));
	assert_int_equal(q.len, 3); /* 1 and 2 gone */
	assert_int_equal(q.inflight, 1);
	assert_int_equal(trk_fixq__at(&q, 0)->fix.seq, 3);
	assert_true(trk_fixq__ack(&q, 12));
	assert_int_equal(q.len, 2);
	assert_int_equal(q.inflight, 0);
	assert_int_equal(q.dropped, 0);
	trk_fixq__free(&q);
}

static void test_drop_oldest(void **state)
{
	struct trk_fixq q;
	struct trk_fix f;
	(void)state;
	trk_fixq__init(&q, 3);
	for (uint32_t i = 1; i <= 10; i++) {
		f = fix(i);
		assert_int_equal(trk_fixq__push(&q, &f), HUB_OK);
		assert_true(q.len <= 3);
		assert_true(q.cap <= 3);
	}
	assert_int_equal(q.dropped, 7);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(trk_fixq__at(&q, i)->fix.seq, 8 + i);
	/* dropping an entry in flight: its late PUBACK is ignored */
	assert_int_equal(send_n(&q, 2, 1), 2); /* 8,9 */
	f = fix(11);
	trk_fixq__push(&q, &f); /* drops 8 */
	assert_int_equal(q.dropped, 8);
	assert_int_equal(q.inflight, 1);
	assert_false(trk_fixq__ack(&q, 1));
	assert_true(trk_fixq__ack(&q, 2));
	assert_int_equal(q.len, 2);
	assert_int_equal(trk_fixq__at(&q, 0)->fix.seq, 10);
	trk_fixq__free(&q);

	/* a bound of one */
	trk_fixq__init(&q, 0);
	assert_int_equal(q.max, 1);
	f = fix(1);
	trk_fixq__push(&q, &f);
	f = fix(2);
	trk_fixq__push(&q, &f);
	assert_int_equal(q.len, 1);
	assert_int_equal(q.dropped, 1);
	assert_int_equal(trk_fixq__at(&q, 0)->fix.seq, 2);
	trk_fixq__free(&q);
}

static void test_requeue(void **state)
{
	struct trk_fixq q;
	struct trk_fix f;
	(void)state;
	trk_fixq__init(&q, 50);
	for (uint32_t i = 1; i <= 6; i++) {
		f = fix(i);
		trk_fixq__push(&q, &f);
	}
	assert_int_equal(send_n(&q, 4, 1), 4); /* 1..4 as mids 1..4 */
	assert_true(trk_fixq__ack(&q, 3));     /* 3 acked, 1 and 2 not */
	trk_fixq__requeue(&q);		       /* connection lost */
	assert_int_equal(q.inflight, 0);
	assert_int_equal(q.len, 6);
	/* the new connection: 1, 2, then 4 (3 was acknowledged), 5, 6 */
	{
		uint32_t want[] = {1, 2, 4, 5, 6};
		for (size_t i = 0; i < 5; i++) {
			struct trk_fixq_entry *e = trk_fixq__next(&q);
			assert_non_null(e);
			assert_int_equal(e->fix.seq, want[i]);
			trk_fixq__sent(&q, 100 + (int)i);
		}
		assert_null(trk_fixq__next(&q));
	}
	/* mids of the old connection mean nothing now */
	assert_false(trk_fixq__ack(&q, 1));
	for (int mid = 100; mid < 105; mid++)
		assert_true(trk_fixq__ack(&q, mid));
	assert_int_equal(q.len, 0);
	assert_int_equal(q.inflight, 0);
	assert_int_equal(q.dropped, 0);
	trk_fixq__free(&q);
}

static void test_requeue_then_drop(void **state)
{
	struct trk_fixq q;
	struct trk_fix f;
	(void)state;
	trk_fixq__init(&q, 4);
	for (uint32_t i = 1; i <= 4; i++) {
		f = fix(i);
		trk_fixq__push(&q, &f);
	}
	send_n(&q, 3, 1);
	trk_fixq__ack(&q, 2); /* 2 acked behind unacked 1 */
	trk_fixq__requeue(&q);
	f = fix(5);
	trk_fixq__push(&q, &f); /* drops 1 (counted) and the acked 2 (not counted) */
	assert_int_equal(q.dropped, 1);
	assert_int_equal(q.len, 3);
	assert_int_equal(trk_fixq__at(&q, 0)->fix.seq, 3);
	trk_fixq__free(&q);
}

static void test_growth(void **state)
{
	struct trk_fixq q;
	struct trk_fix f;
	size_t caps = 0, last = 0;
	(void)state;
	trk_fixq__init(&q, 1000);
	assert_null(q.e);
	for (uint32_t i = 1; i <= 1500; i++) {
		f = fix(i);
		trk_fixq__push(&q, &f);
		if (q.cap != last) {
			caps++;
			last = q.cap;
		}
		/* the ring wraps while it grows: order holds */
		if (i % 7 == 0 && q.len > 3) {
			send_n(&q, 2, (int)i);
			trk_fixq__ack(&q, (int)i);
			trk_fixq__ack(&q, (int)i + 1);
		}
	}
	assert_int_equal(q.cap, 1000);
	assert_true(caps >= 7);
	for (size_t i = 1; i < q.len; i++)
		assert_true(trk_fixq__at(&q, i)->fix.seq == trk_fixq__at(&q, i - 1)->fix.seq + 1);
	trk_fixq__free(&q);
	trk_fixq__free(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_ack),
		cmocka_unit_test(test_drop_oldest),
		cmocka_unit_test(test_requeue),
		cmocka_unit_test(test_requeue_then_drop),
		cmocka_unit_test(test_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
