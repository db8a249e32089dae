/* SPDX-License-Identifier: MIT */
/* Unit tests of devices/backoff.c: growth, jitter bounds, cap, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

static void test_growth_and_bounds(void **state)
{
	struct trk_backoff b;
	uint64_t rng = 42;
	(void)state;
	trk_backoff__init(&b, 1000, 30000);
	for (int round = 0; round < 200; round++) {
		int64_t d = 1000;
		trk_backoff__reset(&b);
		for (int i = 0; i < 12; i++) {
			int64_t got = trk_backoff__next(&b, &rng);
			assert_true(got >= d / 2 && got <= d);
			d = d * 2 > 30000 ? 30000 : d * 2;
		}
	}
}

static void test_jitter_spreads(void **state)
{
	struct trk_backoff b;
	uint64_t rng = 7;
	int64_t lo = INT64_MAX, hi = 0;
	(void)state;
	trk_backoff__init(&b, 1000, 1000);
	for (int i = 0; i < 1000; i++) {
		int64_t got = trk_backoff__next(&b, &rng);
		lo = got < lo ? got : lo;
		hi = got > hi ? got : hi;
	}
	assert_true(lo < 550 && hi > 950);
}

static void test_odd_settings(void **state)
{
	struct trk_backoff b;
	uint64_t rng = 1;
	(void)state;
	trk_backoff__init(&b, 0, -5); /* fixed up to 1 ms */
	assert_true(trk_backoff__next(&b, &rng) <= 1);
	trk_backoff__init(&b, 5000, 100); /* max below min: min wins */
	for (int i = 0; i < 100; i++)
		assert_true(trk_backoff__next(&b, &rng) <= 5000);
	b.attempt = 64; /* "ask rarely": the cap, no overflow */
	assert_true(trk_backoff__next(&b, &rng) >= 2500);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth_and_bounds),
		cmocka_unit_test(test_jitter_spreads),
		cmocka_unit_test(test_odd_settings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
