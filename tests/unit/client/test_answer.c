/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of client/src/answer.c: the JSON a service answers (error
 * answers, hook verdicts: accept, accept with changed data, reject), the
 * JSON check of what a handler hands over, and what a caller makes of an
 * answer (the hub's "unavailable", "timeout", "busy").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hubio_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) x, sizeof(x) - 1

static void test_json_valid(void **state)
{
	static const struct {
		const char *text;
		bool ok;
	} rows[] = {
		{"{}", true},
		{"{\"a\":1}", true},
		{"[1,2]", true},
		{"\"text\"", true},
		{"12.5", true},
		{"true", true},
		{"null", true},
		{" {\"a\":1} \n", true},
		{"{\"a\":\"gr\xc3\xbc\xc3\x9f\"}", true},
		{"", false},
		{" ", false},
		{"{", false},
		{"{\"a\":1}}", false},
		{"{\"a\":1} x", false},
		{"{} {}", false},
		{"plain text", false},
		{"'single'", false},
		{"{a:1}", false},
		{"[1,]", false},
	};
	int failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (hubio__json_valid(rows[i].text, strlen(rows[i].text)) != rows[i].ok) {
			fprintf(stderr, "row %zu (%s)\n", i, rows[i].text);
			failures++;
		}
	assert_int_equal(failures, 0);
	/* (pointer, length): bytes past len are not read, a NUL inside is refused */
	assert_true(hubio__json_valid("{\"a\":1}garbage", 7));
	assert_false(hubio__json_valid("{\"a\":1}\0", 8));
	assert_false(hubio__json_valid("\"a\0b\"", 5));
	assert_false(hubio__json_valid(NULL, 0));
	assert_false(hubio__json_valid("{}", 0));
}

static void test_error(void **state)
{
	char *out = NULL;
	size_t len = 0;
	(void)state;
	assert_int_equal(hubio__json_error("out_of_stock", "no tea left", &out, &len), HUBIO_OK);
	assert_string_equal(out, "{\"error\":\"out_of_stock\",\"message\":\"no tea left\"}");
	assert_int_equal(len, strlen(out));
	free(out);
	/* the message is escaped, never spliced in */
	assert_int_equal(hubio__json_error("bad", "a \"quote\"\n\\", &out, &len), HUBIO_OK);
	assert_string_equal(out, "{\"error\":\"bad\",\"message\":\"a \\\"quote\\\"\\n\\\\\"}");
	assert_true(hubio__json_valid(out, len));
	free(out);
	/* no message: the code */
	assert_int_equal(hubio__json_error("invalid", NULL, &out, &len), HUBIO_OK);
	assert_string_equal(out, "{\"error\":\"invalid\",\"message\":\"invalid\"}");
	free(out);
	/* refused: no code, an empty or long one, bad UTF-8 */
	char code[HUBIO__NAME_MAX + 2];
	memset(code, 'c', sizeof(code) - 1);
	code[sizeof(code) - 1] = '\0';
	assert_int_equal(hubio__json_error(NULL, "m", &out, &len), HUBIO_EINVAL);
	assert_null(out);
	assert_int_equal(hubio__json_error("", "m", &out, &len), HUBIO_EINVAL);
	assert_int_equal(hubio__json_error(code, "m", &out, &len), HUBIO_EINVAL);
	code[HUBIO__NAME_MAX] = '\0';
	assert_int_equal(hubio__json_error(code, "m", &out, &len), HUBIO_OK);
	free(out);
	assert_int_equal(hubio__json_error("x", "\xff", &out, &len), HUBIO_EINVAL);
	assert_int_equal(hubio__json_error("\xc3", "m", &out, &len), HUBIO_EINVAL);
}

static void test_accept(void **state)
{
	char *out = NULL;
	size_t len = 0;
	(void)state;
	assert_int_equal(hubio__json_accept(NULL, 0, &out, &len), HUBIO_OK);
	assert_string_equal(out, "{\"accept\":true}");
	assert_int_equal(len, 15);
	free(out);
	/* changed data goes in as its bytes: the digits of a big number stay */
	assert_int_equal(
		hubio__json_accept(S("{\"n\":12345678901234567890,\"t\":\"HI\"}"), &out, &len),
		HUBIO_OK);
	assert_string_equal(
		out, "{\"accept\":true,\"data\":{\"n\":12345678901234567890,\"t\":\"HI\"}}");
	assert_int_equal(len, strlen(out));
	assert_true(hubio__json_valid(out, len));
	free(out);
	assert_int_equal(hubio__json_accept(S("\"just text\""), &out, &len), HUBIO_OK);
	assert_string_equal(out, "{\"accept\":true,\"data\":\"just text\"}");
	free(out);
	/* not JSON, or JSON with something after it: refused (it would break
	 * the verdict's own JSON) */
	assert_int_equal(hubio__json_accept(S("just text"), &out, &len), HUBIO_EINVAL);
	assert_null(out);
	assert_int_equal(
		hubio__json_accept(S("1},\"accept\":false,\"x\":{"), &out, &len), HUBIO_EINVAL);
	assert_int_equal(hubio__json_accept(S("{} {}"), &out, &len), HUBIO_EINVAL);
	assert_int_equal(hubio__json_accept("", 0, &out, &len), HUBIO_EINVAL);
}

static void test_reject(void **state)
{
	char *out = NULL;
	size_t len = 0;
	cJSON *j;
	(void)state;
	assert_int_equal(hubio__json_reject("already voted", &out, &len), HUBIO_OK);
	assert_string_equal(out, "{\"accept\":false,\"reason\":\"already voted\"}");
	free(out);
	assert_int_equal(hubio__json_reject(NULL, &out, &len), HUBIO_OK);
	assert_string_equal(out, "{\"accept\":false,\"reason\":\"rejected\"}");
	free(out);
	assert_int_equal(hubio__json_reject("\",\"accept\":true,\"x\":\"", &out, &len), HUBIO_OK);
	j = cJSON_ParseWithLength(out, len);
	assert_non_null(j);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(j, "accept")));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "reason")->valuestring,
		"\",\"accept\":true,\"x\":\"");
	cJSON_Delete(j);
	free(out);
	assert_int_equal(hubio__json_reject("\xc3\x28", &out, &len), HUBIO_EINVAL);
	assert_null(out);
}

static void test_answer_status(void **state)
{
	static const struct {
		const char *answer;
		int status;
	} rows[] = {
		{"{\"ok\":false,\"error\":\"unavailable\"}", HUBIO_EUNAVAILABLE},
		{"{\"ok\":false,\"error\":\"timeout\"}", HUBIO_ETIMEOUT},
		{"{\"ok\":false,\"error\":\"busy\"}", HUBIO_EBUSY},
		{"{\"error\":\"unavailable\",\"ok\":false,\"x\":1}", HUBIO_EUNAVAILABLE},
		/* a service's own answers are answers */
		{"{\"ok\":true}", HUBIO_OK},
		{"{\"ok\":false,\"error\":\"rejected\",\"message\":\"no\"}", HUBIO_OK},
		{"{\"error\":\"unavailable\",\"message\":\"the warehouse\"}", HUBIO_OK},
		{"{\"ok\":0,\"error\":\"timeout\"}", HUBIO_OK},
		{"{\"ok\":false,\"error\":7}", HUBIO_OK},
		{"[\"ok\",false]", HUBIO_OK},
		{"not json", HUBIO_OK},
		{"", HUBIO_OK},
	};
	int failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (hubio__answer_status(rows[i].answer, strlen(rows[i].answer)) !=
			rows[i].status) {
			fprintf(stderr, "row %zu (%s)\n", i, rows[i].answer);
			failures++;
		}
	assert_int_equal(failures, 0);
	assert_int_equal(hubio__answer_status(NULL, 0), HUBIO_OK);
}

static void test_outcomes(void **state)
{
	static const int codes[] = {HUBIO_EUNAVAILABLE, HUBIO_ETIMEOUT, HUBIO_EFORBIDDEN,
		HUBIO_EBUSY, HUBIO_ECANCELED, HUBIO_ENOTCONN, HUBIO_EPROTO};
	(void)state;
	assert_string_equal(hubio__outcome_json(HUBIO_EUNAVAILABLE),
		"{\"ok\":false,\"error\":\"unavailable\"}");
	assert_string_equal(
		hubio__outcome_json(HUBIO_ETIMEOUT), "{\"ok\":false,\"error\":\"timeout\"}");
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *s = hubio__outcome_json(codes[i]);
		assert_true(hubio__json_valid(s, strlen(s)));
		/* an outcome read back is the same status where it has one */
		if (codes[i] == HUBIO_EUNAVAILABLE || codes[i] == HUBIO_ETIMEOUT ||
			codes[i] == HUBIO_EBUSY)
			assert_int_equal(hubio__answer_status(s, strlen(s)), codes[i]);
	}
	assert_string_equal(hubio_strerror(HUBIO_EUNAVAILABLE), "service unavailable");
	assert_string_equal(hubio_strerror(HUBIO_EBUSY), "busy");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_valid),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_accept),
		cmocka_unit_test(test_reject),
		cmocka_unit_test(test_answer_status),
		cmocka_unit_test(test_outcomes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
