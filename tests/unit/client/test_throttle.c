/* SPDX-License-Identifier: MIT */
/* Unit tests of client/src/throttle.c: the typing gate per room. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hubio_int.h"

#include <stdio.h>
#include <string.h>

static void test_ten_calls_in_a_second(void **state)
{
	struct hubio__throttle t = {0};
	int passed = 0;
	(void)state;
	for (int i = 0; i < 10; i++)
		passed += hubio__throttle_pass(&t, "lobby", 1000 + i * 100, 2000);
	assert_int_equal(passed, 1);
	/* 2 s after the one that passed */
	assert_false(hubio__throttle_pass(&t, "lobby", 2999, 2000));
	assert_true(hubio__throttle_pass(&t, "lobby", 3000, 2000));
	assert_false(hubio__throttle_pass(&t, "lobby", 3001, 2000));
}

static void test_per_room(void **state)
{
	struct hubio__throttle t = {0};
	(void)state;
	assert_true(hubio__throttle_pass(&t, "a", 0, 2000));
	assert_true(hubio__throttle_pass(&t, "b", 1, 2000));
	assert_false(hubio__throttle_pass(&t, "a", 2, 2000));
	assert_false(hubio__throttle_pass(&t, "b", 3, 2000));
	/* another interval, the same table */
	assert_true(hubio__throttle_pass(&t, "a", 600, 500));
}

static void test_bounded_table(void **state)
{
	struct hubio__throttle t = {0};
	char key[16];
	(void)state;
	for (int i = 0; i < 200; i++) {
		snprintf(key, sizeof(key), "room%d", i);
		assert_true(hubio__throttle_pass(&t, key, 1000 + i, 2000));
	}
	assert_int_equal(t.n, HUBIO__THROTTLE_SLOTS);
	/* the newest are remembered, the oldest were evicted */
	assert_false(hubio__throttle_pass(&t, "room199", 1300, 2000));
	assert_true(hubio__throttle_pass(&t, "room0", 1300, 2000));
}

static void test_clock_and_keys(void **state)
{
	struct hubio__throttle t = {0};
	char longkey[HUBIO__NAME_MAX + 2];
	(void)state;
	assert_true(hubio__throttle_pass(&t, "a", 10000, 2000));
	/* a clock that went back does not block for ever */
	assert_true(hubio__throttle_pass(&t, "a", 5000, 2000));
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_false(hubio__throttle_pass(&t, longkey, 0, 2000));
	longkey[HUBIO__NAME_MAX] = '\0';
	assert_true(hubio__throttle_pass(&t, longkey, 0, 2000));
	/* interval 0: everything passes */
	assert_true(hubio__throttle_pass(&t, "z", 1, 0));
	assert_true(hubio__throttle_pass(&t, "z", 1, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ten_calls_in_a_second),
		cmocka_unit_test(test_per_room),
		cmocka_unit_test(test_bounded_table),
		cmocka_unit_test(test_clock_and_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
