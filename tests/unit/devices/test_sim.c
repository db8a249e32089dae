/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of devices/sim.c: vehicles stay on (or within GPS noise of)
 * their route, move at city speeds, report a course along the segment,
 * drain and recharge their battery, spread over the routes, and repeat
 * exactly for one seed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "hc_err.h"
#include "route.h"
#include "sim.h"

/* One straight line due east, 1 km, and one due north. */
static const char lines[] =
	"{\"type\":\"MultiLineString\",\"coordinates\":[[[10,50],[10.01397,50]],"
	"[[11,50],[11,50.00899]]]}";

static void load(struct trk_routes *rs)
{
	char err[200];
	assert_int_equal(trk_routes__parse(lines, strlen(lines), rs, err, sizeof(err)), HUB_OK);
}

static void test_on_route(void **state)
{
	struct trk_routes rs;
	struct trk_sim s;
	struct trk_fix f;
	int64_t t = 1700000000000;
	int reversed = 0, moving = 0;
	uint32_t last_seq = 0;
	(void)state;
	load(&rs);
	trk_sim__init(&s, &rs, 0, 1, 1234);
	for (int i = 0; i < 3600; i++, t += 1000) {
		trk_sim__step(&s, t, &f);
		/* on the east-west line, give or take the noise (acc/3 <= 6 m) */
		assert_true(fabs(f.lat - 50.0) < 0.0001);
		assert_true(f.lon > 9.9999 && f.lon < 10.0141);
		assert_true(f.vel >= 0 && f.vel <= 70);
		assert_true(f.acc >= 4 && f.acc <= 16);
		assert_true(f.batt >= 0 && f.batt <= 100);
		assert_true(f.bs == 1 || f.bs == 2);
		assert_int_equal(f.tst, t / 1000);
		assert_int_equal(f.seq, last_seq + 1);
		last_seq = f.seq;
		if (f.vel > 0) {
			moving++;
			assert_true(f.cog == 90 || f.cog == 270);
			reversed += f.cog == 270;
		}
	}
	/* an hour of driving a 1 km line: back and forth many times */
	assert_true(reversed > 100);
	assert_true(moving > 3000);
	trk_routes__free(&rs);
}

static void test_battery_cycle(void **state)
{
	struct trk_routes rs;
	struct trk_sim s;
	struct trk_fix f;
	int64_t t = 1000;
	int charged = 0, min = 100;
	(void)state;
	load(&rs);
	trk_sim__init(&s, &rs, 1, 2, 99);
	for (int i = 0; i < 4 * 3600; i++, t += 1000) {
		trk_sim__step(&s, t, &f);
		if (f.batt < min)
			min = f.batt;
		charged += f.bs == 2;
	}
	/* drains to 10 % within hours, then charges */
	assert_true(min <= 11);
	assert_true(charged > 0);
	trk_routes__free(&rs);
}

static void test_spread_and_seed(void **state)
{
	struct trk_routes rs;
	struct trk_sim a, b, c;
	struct trk_fix fa, fb;
	(void)state;
	load(&rs);
	/* vehicles alternate routes */
	trk_sim__init(&a, &rs, 0, 4, 7);
	trk_sim__init(&b, &rs, 1, 4, 7);
	assert_ptr_equal(a.route, &rs.r[0]);
	assert_ptr_equal(b.route, &rs.r[1]);
	/* and spread along one */
	trk_sim__init(&c, &rs, 2, 4, 7);
	assert_true(fabs(c.pos - a.pos) > rs.r[0].length / 4);
	/* same seed, same trip */
	trk_sim__init(&a, &rs, 3, 4, 7);
	trk_sim__init(&b, &rs, 3, 4, 7);
	for (int64_t t = 1000; t < 100000; t += 500) {
		trk_sim__step(&a, t, &fa);
		trk_sim__step(&b, t, &fb);
		assert_memory_equal(&fa, &fb, sizeof(fa));
	}
	/* another seed, another trip */
	trk_sim__init(&b, &rs, 3, 4, 8);
	trk_sim__step(&b, 100000, &fb);
	assert_true(fb.lat != fa.lat || fb.lon != fa.lon || fb.id != fa.id);
	trk_routes__free(&rs);
}

static void test_time_jumps(void **state)
{
	struct trk_routes rs;
	struct trk_sim s;
	struct trk_fix f;
	(void)state;
	load(&rs);
	trk_sim__init(&s, &rs, 1, 2, 5);
	trk_sim__step(&s, 1000000, &f);
	trk_sim__step(&s, 10, &f);	   /* clock went back */
	trk_sim__step(&s, 1000000000, &f); /* a long stall */
	assert_true(f.lon > 10.9999 && f.lon < 11.0001);
	assert_true(f.lat > 49.9999 && f.lat < 50.0091);
	trk_routes__free(&rs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_on_route),
		cmocka_unit_test(test_battery_cycle),
		cmocka_unit_test(test_spread_and_seed),
		cmocka_unit_test(test_time_jumps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
