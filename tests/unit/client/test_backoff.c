/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of client/src/backoff.c: the reconnect schedule (0.5 s
 * doubling to 30 s, each wait in [d/2, d]) and the random helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hubio_int.h"

#include <string.h>

static void test_schedule_envelope(void **state)
{
	static const int64_t d[] = {500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000};
	(void)state;
	for (unsigned a = 0; a < sizeof(d) / sizeof(d[0]); a++) {
		assert_int_equal(hubio__backoff_delay(a, 500, 30000, 0), d[a] / 2);
		assert_in_range(hubio__backoff_delay(a, 500, 30000, UINT32_MAX), d[a] - 1, d[a]);
		assert_in_range(hubio__backoff_delay(a, 500, 30000, 0x80000000u), d[a] * 3 / 4 - 1,
			d[a] * 3 / 4 + 1);
	}
}

static void test_schedule_random(void **state)
{
	uint32_t rng = 12345;
	(void)state;
	for (unsigned a = 0; a < 40; a++)
		for (int i = 0; i < 200; i++) {
			int64_t v = hubio__backoff_delay(a, 500, 30000, hubio__rand32(&rng));
			int64_t d = a >= 6 ? 30000 : 500LL << a;
			assert_in_range(v, d / 2, d);
		}
}

static void test_schedule_edges(void **state)
{
	(void)state;
	/* huge attempt numbers do not overflow */
	assert_in_range(hubio__backoff_delay(UINT32_MAX, 500, 30000, 7), 15000, 30000);
	/* max below min: min wins */
	assert_in_range(hubio__backoff_delay(3, 1000, 10, 0), 500, 1000);
	/* nonsense minimum */
	assert_in_range(hubio__backoff_delay(0, 0, 0, 0), 0, 1);
	assert_in_range(hubio__backoff_delay(0, -5, 100, 0), 0, 1);
}

static void test_random(void **state)
{
	uint32_t s = 0, a, b;
	unsigned char buf[64], zero[64] = {0};
	(void)state;
	a = hubio__rand32(&s);
	b = hubio__rand32(&s);
	assert_true(a != 0 && b != 0 && a != b);
	memset(buf, 0, sizeof(buf));
	hubio__random_bytes(&s, buf, sizeof(buf));
	assert_memory_not_equal(buf, zero, sizeof(buf));
	hubio__random_bytes(&s, buf, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule_envelope),
		cmocka_unit_test(test_schedule_random),
		cmocka_unit_test(test_schedule_edges),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
