/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of tools/logfile.c: hub-logpipe's size-rotated file. Appends
 * to an existing file, rotation at line boundaries, every file within
 * max_bytes, keep files and no more, nothing lost across rotations, a line
 * longer than a file cut at max_bytes, keep = 0, refusals (bounds, a
 * symbolic link in place of the file).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hc_err.h"
#include "logfile.h"
#include "testutil.h"

static char dir[256], path[512];

static int setup(void **state)
{
	(void)state;
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/svc.log", dir);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tu_rmtree(dir);
	return 0;
}

/* Size of path (or of path.i when i > 0); -1 when absent. */
static long fsize(int i)
{
	char p[600];
	struct stat st;
	if (i)
		snprintf(p, sizeof(p), "%s.%d", path, i);
	else
		snprintf(p, sizeof(p), "%s", path);
	return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* The whole content of path.i (0: path), NUL-terminated, malloc'd. */
static char *slurp(int i)
{
	char p[600];
	long n = fsize(i);
	char *buf;
	FILE *f;
	if (i)
		snprintf(p, sizeof(p), "%s.%d", path, i);
	else
		snprintf(p, sizeof(p), "%s", path);
	assert_true(n >= 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	f = fopen(p, "rb");
	assert_non_null(f);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

static void test_bounds(void **state)
{
	struct lp_file f;
	char longpath[PATH_MAX + 10];
	(void)state;
	assert_int_equal(lp_file__open(&f, path, LP_FILE_MIN_BYTES - 1, 3), HUB_ERR_INVAL);
	assert_int_equal(
		lp_file__open(&f, path, LP_FILE_MIN_BYTES, LP_FILE_MAX_KEEP + 1), HUB_ERR_INVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(lp_file__open(&f, longpath, LP_FILE_MIN_BYTES, 3), HUB_ERR_INVAL);
}

static void test_refuses_symlink(void **state)
{
	struct lp_file f;
	char target[600];
	(void)state;
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	assert_int_equal(tu_write_str(target, "precious\n"), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(lp_file__open(&f, path, 4096, 2), HUB_ERR_IO);
	assert_int_equal(errno, ELOOP);
	unlink(path);
}

static void test_appends_to_existing(void **state)
{
	struct lp_file f;
	size_t w;
	char *s;
	(void)state;
	assert_int_equal(tu_write_str(path, "before\n"), 0);
	assert_int_equal(lp_file__open(&f, path, 4096, 2), HUB_OK);
	assert_int_equal(f.size, 7);
	assert_int_equal(lp_file__write(&f, "after\n", 6, &w), HUB_OK);
	assert_int_equal(w, 6);
	lp_file__close(&f);
	s = slurp(0);
	assert_string_equal(s, "before\nafter\n");
	free(s);
	unlink(path);
}

/* 3000 numbered lines of 35 bytes through 4096-byte files, keep 3: every
 * file <= 4096 and ends with a newline; only path, .1, .2, .3 exist; they
 * hold the newest lines, consecutive, the last one in path. */
static void test_rotation_bounds_and_order(void **state)
{
	struct lp_file f;
	char line[64], *all = NULL;
	size_t w, total = 0;
	int last = -1;
	(void)state;
	assert_int_equal(lp_file__open(&f, path, 4096, 3), HUB_OK);
	for (int i = 0; i < 3000; i++) {
		int n = snprintf(line, sizeof(line), "line %08d of the rotation test\n", i);
		assert_int_equal(n, 35);
		/* sometimes several lines at once, sometimes a line in two */
		if (i % 7 == 3) {
			assert_int_equal(lp_file__write(&f, line, 10, &w), HUB_OK);
			assert_int_equal(lp_file__write(&f, line + 10, 25, &w), HUB_OK);
		} else {
			assert_int_equal(lp_file__write(&f, line, 35, &w), HUB_OK);
			assert_int_equal(w, 35);
		}
	}
	lp_file__close(&f);
	assert_int_equal(fsize(4), -1);
	for (int i = 3; i >= 0; i--) {
		char *s;
		long n = fsize(i);
		assert_true(n > 0 && n <= 4096);
		s = slurp(i);
		assert_int_equal(s[n - 1], '\n');
		all = realloc(all, total + (size_t)n + 1);
		memcpy(all + total, s, (size_t)n);
		total += (size_t)n;
		free(s);
	}
	all[total] = '\0';
	/* consecutive numbers up to 2999 */
	for (char *p = all, *nl; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
		int k;
		assert_int_equal(sscanf(p, "line %d of", &k), 1);
		if (last >= 0)
			assert_int_equal(k, last + 1);
		last = k;
	}
	assert_int_equal(last, 2999);
	assert_true(total > 3 * 4096);
	free(all);
	for (int i = 0; i <= 3; i++) {
		char p[600];
		snprintf(p, sizeof(p), i ? "%s.%d" : "%s", path, i);
		unlink(p);
	}
}

static void test_long_line_is_cut(void **state)
{
	struct lp_file f;
	static char big[10000];
	size_t w;
	(void)state;
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	assert_int_equal(lp_file__open(&f, path, 4096, 5), HUB_OK);
	assert_int_equal(lp_file__write(&f, "short\n", 6, &w), HUB_OK);
	assert_int_equal(lp_file__write(&f, big, sizeof(big), &w), HUB_OK);
	assert_int_equal(w, sizeof(big));
	lp_file__close(&f);
	/* "short\n" alone, then 4096 + 4096 + 1808 bytes of the long line */
	assert_int_equal(fsize(3), 6);
	assert_int_equal(fsize(2), 4096);
	assert_int_equal(fsize(1), 4096);
	assert_int_equal(fsize(0), 10000 - 2 * 4096);
	for (int i = 0; i <= 3; i++) {
		char p[600];
		snprintf(p, sizeof(p), i ? "%s.%d" : "%s", path, i);
		unlink(p);
	}
}

static void test_keep_zero_starts_over(void **state)
{
	struct lp_file f;
	char line[64];
	size_t w;
	char *s;
	(void)state;
	assert_int_equal(lp_file__open(&f, path, 4096, 0), HUB_OK);
	for (int i = 0; i < 500; i++) {
		int n = snprintf(line, sizeof(line), "%031d\n", i);
		assert_int_equal(lp_file__write(&f, line, (size_t)n, &w), HUB_OK);
	}
	lp_file__close(&f);
	assert_int_equal(fsize(1), -1);
	assert_true(fsize(0) <= 4096);
	s = slurp(0);
	assert_non_null(strstr(s, "0000000000000000000000000000499\n"));
	free(s);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_refuses_symlink),
		cmocka_unit_test(test_appends_to_existing),
		cmocka_unit_test(test_rotation_bounds_and_order),
		cmocka_unit_test(test_long_line_is_cut),
		cmocka_unit_test(test_keep_zero_starts_over),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
