/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of devices/creds.c: the "ID SECRET" file format (comments,
 * blanks, CRLF), rejections with file:line, duplicates, limits, and that
 * secrets are kept exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../common/testutil.h"
#include "creds.h"
#include "hc_err.h"

static char dir[256];

static const char *write_tmp(const char *name, const char *text)
{
	static char path[400];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(tu_write_file(path, text, strlen(text), 0600), 0);
	return path;
}

static void test_file(void **state)
{
	struct trk_creds c;
	char err[300];
	const char *p;
	(void)state;
	trk_creds__init(&c);
	p = write_tmp("ok.txt", "# devices\n\ntruck1 s3cr3t-_A\n  \ttruck2\t\tX.y~z \r\n"
				"# end\nvan.9 abc\n");
	assert_int_equal(trk_creds__load_file(&c, p, err, sizeof(err)), HUB_OK);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.v[0].id, "truck1");
	assert_string_equal(c.v[0].secret, "s3cr3t-_A");
	assert_string_equal(c.v[1].id, "truck2");
	assert_string_equal(c.v[1].secret, "X.y~z");
	assert_string_equal(c.v[2].id, "van.9");
	trk_creds__free(&c);
	assert_int_equal(c.n, 0);
	trk_creds__free(NULL);
}

static void test_rejections(void **state)
{
	static const struct {
		const char *text, *reason;
	} bad[] = {
		{"truck1\n", "f.txt:1: expected \"ID SECRET\""},
		{"# x\ntruck1 a b\n", "f.txt:2: expected"},
		{"bad/id secret\n", "f.txt:1: invalid device id"},
		{"a secret\na other\n", "f.txt:2: device a is listed twice"},
		{"a sec\x01ret\n", "f.txt:1: a: the secret must be"},
		{"# only comments\n\n", "no devices"},
		{"", "no devices"},
	};
	struct trk_creds c;
	char err[300];
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *p = write_tmp("f.txt", bad[i].text);
		trk_creds__init(&c);
		err[0] = '\0';
		assert_int_not_equal(trk_creds__load_file(&c, p, err, sizeof(err)), HUB_OK);
		if (!strstr(err, bad[i].reason))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].reason);
		trk_creds__free(&c);
	}
	/* a line over the limit */
	{
		char big[TRK_CREDS_LINE_MAX + 100];
		memset(big, 'a', sizeof(big) - 2);
		big[sizeof(big) - 2] = '\n';
		big[sizeof(big) - 1] = '\0';
		trk_creds__init(&c);
		assert_int_equal(
			trk_creds__load_file(&c, write_tmp("long.txt", big), err, sizeof(err)),
			HUB_ERR_INVAL);
		assert_non_null(strstr(err, "longer than"));
		trk_creds__free(&c);
	}
	trk_creds__init(&c);
	assert_int_equal(
		trk_creds__load_file(&c, "/nonexistent/devices", err, sizeof(err)), HUB_ERR_IO);
	assert_non_null(strstr(err, "/nonexistent/devices"));
	trk_creds__free(&c);
}

static void test_add(void **state)
{
	struct trk_creds c;
	char err[300], secret[TRK_SECRET_MAX + 2];
	(void)state;
	trk_creds__init(&c);
	memset(secret, 's', sizeof(secret) - 1);
	secret[sizeof(secret) - 1] = '\0';
	assert_int_equal(trk_creds__add(&c, "d", secret, err, sizeof(err)), HUB_ERR_INVAL);
	secret[TRK_SECRET_MAX] = '\0';
	assert_int_equal(trk_creds__add(&c, "d", secret, err, sizeof(err)), HUB_OK);
	assert_int_equal(trk_creds__add(&c, "d", "x", err, sizeof(err)), HUB_ERR_EXISTS);
	assert_int_equal(trk_creds__add(&c, "e", "", err, sizeof(err)), HUB_ERR_INVAL);
	assert_int_equal(trk_creds__add(&c, "", "x", err, sizeof(err)), HUB_ERR_INVAL);
	assert_int_equal(trk_creds__add(&c, "a b", "x", err, sizeof(err)), HUB_ERR_INVAL);
	/* many: the duplicate check stays fast */
	for (int i = 0; i < 20000; i++) {
		char id[32];
		snprintf(id, sizeof(id), "dev%d", i);
		assert_int_equal(trk_creds__add(&c, id, "x", err, sizeof(err)), HUB_OK);
	}
	assert_int_equal(trk_creds__add(&c, "dev19999", "x", err, sizeof(err)), HUB_ERR_EXISTS);
	trk_creds__free(&c);
}

static int setup(void **state)
{
	(void)state;
	tu_mkdtemp(dir, sizeof(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_rejections),
		cmocka_unit_test(test_add),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
