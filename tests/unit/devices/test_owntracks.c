/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of devices/owntracks.c: the location and lwt payloads parse as
 * JSON with the OwnTracks keys and types, bench keys only on request, the
 * tracker id rule, and bounded output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <string.h>

#include "owntracks.h"

static struct trk_fix sample(void)
{
	struct trk_fix f;
	memset(&f, 0, sizeof(f));
	f.lat = 52.5163004;
	f.lon = -13.3777001;
	f.tst = 1700000000;
	f.seq = 42;
	f.id = 0xdeadbeef;
	f.vel = 37;
	f.cog = 359;
	f.acc = 8;
	f.batt = 100;
	f.bs = 2;
	return f;
}

static void test_location(void **state)
{
	struct trk_fix f = sample();
	char out[TRK_PAYLOAD_MAX];
	cJSON *j;
	int n;
	(void)state;
	n = trk_owntracks__location(&f, "k1", 1700000005, false, 0, out, sizeof(out));
	assert_true(n > 0 && (size_t)n == strlen(out));
	j = cJSON_ParseWithLength(out, (size_t)n);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "_type")->valuestring, "location");
	assert_string_equal(cJSON_GetObjectItem(j, "_id")->valuestring, "deadbeef");
	assert_string_equal(cJSON_GetObjectItem(j, "tid")->valuestring, "k1");
	assert_true(cJSON_GetObjectItem(j, "tst")->valuedouble == 1700000000);
	assert_true(cJSON_GetObjectItem(j, "created_at")->valuedouble == 1700000005);
	assert_true(cJSON_GetObjectItem(j, "lat")->valuedouble == 52.5163);
	assert_true(cJSON_GetObjectItem(j, "lon")->valuedouble == -13.3777);
	assert_int_equal(cJSON_GetObjectItem(j, "vel")->valueint, 37);
	assert_int_equal(cJSON_GetObjectItem(j, "cog")->valueint, 359);
	assert_int_equal(cJSON_GetObjectItem(j, "acc")->valueint, 8);
	assert_int_equal(cJSON_GetObjectItem(j, "batt")->valueint, 100);
	assert_int_equal(cJSON_GetObjectItem(j, "bs")->valueint, 2);
	assert_null(cJSON_GetObjectItem(j, "_seq"));
	assert_null(cJSON_GetObjectItem(j, "_ts_ms"));
	cJSON_Delete(j);

	n = trk_owntracks__location(&f, "k1", 1700000005, true, 1700000005123, out, sizeof(out));
	j = cJSON_ParseWithLength(out, (size_t)n);
	assert_non_null(j);
	assert_int_equal(cJSON_GetObjectItem(j, "_seq")->valueint, 42);
	assert_true(cJSON_GetObjectItem(j, "_ts_ms")->valuedouble == 1700000005123.0);
	cJSON_Delete(j);

	/* too small a buffer: -1, never a cut payload */
	for (size_t sz = 0; sz < (size_t)n + 1; sz += 7)
		assert_int_equal(
			trk_owntracks__location(&f, "k1", 1700000005, true, 1700000005123, out, sz),
			-1);
	assert_int_equal(trk_owntracks__location(
				 &f, "k1", 1700000005, true, 1700000005123, out, (size_t)n + 1),
		n);
}

static void test_extremes_fit(void **state)
{
	struct trk_fix f = sample();
	char out[TRK_PAYLOAD_MAX];
	(void)state;
	f.lat = -89.999999;
	f.lon = -179.999999;
	f.tst = INT64_MAX;
	f.seq = UINT32_MAX;
	f.id = UINT32_MAX;
	f.vel = INT16_MIN;
	f.cog = INT16_MIN;
	f.acc = INT16_MIN;
	f.batt = INT8_MIN;
	f.bs = INT8_MIN;
	assert_true(trk_owntracks__location(
			    &f, "zz", INT64_MIN, true, INT64_MIN, out, sizeof(out)) > 0);
}

static void test_tid_and_lwt(void **state)
{
	char tid[3], out[64];
	(void)state;
	trk_owntracks__tid("truck1", tid);
	assert_string_equal(tid, "k1");
	trk_owntracks__tid("ab", tid);
	assert_string_equal(tid, "ab");
	trk_owntracks__tid("x", tid);
	assert_string_equal(tid, "x");
	assert_int_equal(trk_owntracks__lwt(1700000000, out, sizeof(out)), 32);
	assert_string_equal(out, "{\"_type\":\"lwt\",\"tst\":1700000000}");
	assert_int_equal(trk_owntracks__lwt(1700000000, out, 10), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_location),
		cmocka_unit_test(test_extremes_fit),
		cmocka_unit_test(test_tid_and_lwt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
