/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/log.c: rate-limited refusal lines with their
 * summaries, and user names as log lines show them (well-formed names as
 * they are, anything else as a keyed fingerprint).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_log.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEEP 64

static char lines[KEEP][512];
static int nlines;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void sink(int level, const char *line)
{
	(void)level;
	pthread_mutex_lock(&mu);
	if (nlines < KEEP)
		snprintf(lines[nlines], sizeof(lines[0]), "%s", line);
	nlines++;
	pthread_mutex_unlock(&mu);
}

static int count_with(const char *needle)
{
	int n = 0;
	for (int i = 0; i < nlines && i < KEEP; i++)
		if (strstr(lines[i], needle))
			n++;
	return n;
}

static void reset(void)
{
	hc_log_limits_flush(true);
	nlines = 0;
}

static void test_limit_and_summary(void **state)
{
	static struct hc_log_limit a = HC_LOG_LIMIT("cat_a");
	static struct hc_log_limit b = HC_LOG_LIMIT("cat_b");
	(void)state;
	hc_log_limits_set(3, 3600);
	reset();
	for (int i = 0; i < 1000; i++)
		hc_log_limited(&a, HC_LOG_INFO, "msg=refused n=%d", i);
	/* another category has its own allowance */
	for (int i = 0; i < 5; i++)
		hc_log_limited(&b, HC_LOG_INFO, "msg=other n=%d", i);
	assert_int_equal(count_with("msg=refused"), 3);
	assert_int_equal(count_with("msg=other"), 3);
	assert_int_equal(nlines, 6);
	/* the window closes (here: exit): one summary per category */
	hc_log_limits_flush(true);
	assert_int_equal(nlines, 8);
	assert_int_equal(count_with("category=cat_a count=997 "), 1);
	assert_int_equal(count_with("category=cat_b count=2 "), 1);
	/* a fresh window lets lines through again */
	hc_log_limited(&a, HC_LOG_INFO, "msg=refused again");
	assert_int_equal(count_with("refused again"), 1);
	/* nothing left out: no summary */
	hc_log_limits_flush(true);
	assert_int_equal(nlines, 9);
}

static void test_summary_when_window_ends(void **state)
{
	static struct hc_log_limit a = HC_LOG_LIMIT("cat_t");
	struct timespec t0, now;
	(void)state;
	hc_log_limits_set(1, 1);
	reset();
	for (int i = 0; i < 50; i++)
		hc_log_limited(&a, HC_LOG_INFO, "msg=t n=%d", i);
	assert_int_equal(nlines, 1);
	hc_log_limits_flush(false); /* the window is not over yet */
	assert_int_equal(nlines, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct timespec d = {0, 20 * 1000000L};
		nanosleep(&d, NULL);
		hc_log_limits_flush(false);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (nlines == 1 && now.tv_sec - t0.tv_sec < 5);
	assert_int_equal(nlines, 2);
	assert_int_equal(count_with("msg=\"more refusals like this\" category=cat_t count=49 "
				    "seconds=1"),
		1);
}

static void test_unlimited(void **state)
{
	static struct hc_log_limit a = HC_LOG_LIMIT("cat_u");
	(void)state;
	hc_log_limits_set(0, 10);
	reset();
	for (int i = 0; i < 40; i++)
		hc_log_limited(&a, HC_LOG_INFO, "msg=u n=%d", i);
	assert_int_equal(nlines, 40);
	hc_log_limits_set(20, 10);
}

static void *flood(void *arg)
{
	struct hc_log_limit *lim = arg;
	for (int i = 0; i < 20000; i++)
		hc_log_limited(lim, HC_LOG_INFO, "msg=thread n=%d", i);
	return NULL;
}

static void test_debug_unlimited(void **state)
{
	static struct hc_log_limit a = HC_LOG_LIMIT("cat_dbg");
	(void)state;
	hc_log_limits_set(2, 3600);
	reset();
	hc_log_set_level(HC_LOG_DEBUG);
	for (int i = 0; i < 30; i++)
		hc_log_limited(&a, HC_LOG_INFO, "msg=d n=%d", i);
	hc_log_set_level(HC_LOG_INFO);
	assert_int_equal(nlines, 30);
	hc_log_limits_flush(true);
	assert_int_equal(nlines, 30);
}

static void test_threads(void **state)
{
	static struct hc_log_limit a = HC_LOG_LIMIT("cat_mt");
	pthread_t t[4];
	(void)state;
	hc_log_limits_set(10, 3600);
	reset();
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, flood, &a), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(nlines, 10);
	hc_log_limits_flush(true);
	assert_int_equal(count_with("category=cat_mt count=79990 "), 1);
}

static void test_user_names(void **state)
{
	char a[HC_LOG_USER_MAX], b[HC_LOG_USER_MAX];
	static const char pw[] = "hunter2 is my P@ssw0rd!";
	char long_name[300];
	(void)state;
	assert_string_equal(hc_log_user("alice", 5, a), "alice");
	assert_string_equal(hc_log_user("a.b_c-9", 7, a), "a.b_c-9");
	assert_string_equal(hc_log_user(NULL, 0, a), "-");
	hc_log_user(pw, strlen(pw), a);
	assert_int_equal(strlen(a), 9);
	assert_int_equal(a[0], '#');
	assert_int_equal(strspn(a + 1, "0123456789abcdef"), 8);
	assert_null(strstr(a, "hunter"));
	/* the same odd name, the same tag; another one, another tag */
	assert_string_equal(hc_log_user(pw, strlen(pw), b), a);
	hc_log_user("hunter2 is my P@ssw0rd?", strlen(pw), b);
	assert_string_not_equal(a, b);
	/* empty, over-long, quotes and control bytes: all fingerprinted */
	assert_int_equal(hc_log_user("", 0, a)[0], '#');
	memset(long_name, 'a', sizeof(long_name));
	assert_int_equal(hc_log_user(long_name, 65, a)[0], '#');
	assert_string_equal(hc_log_user(long_name, 64, a),
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		"aaaaaaaaaaaaaaaaaaaaaaaa");
	assert_int_equal(hc_log_user("a\"b", 3, a)[0], '#');
	assert_int_equal(hc_log_user("a\nb", 3, a)[0], '#');
	/* a name with a NUL inside is not the name before it */
	assert_int_equal(hc_log_user("alice\0x", 7, a)[0], '#');
}

/* Lines written to stderr into a fresh file while JOURNAL_STREAM is unset
 * (stream NULL), names that file (stream "match"), or is stream; the
 * file's text into out. */
static void stderr_lines(const char *stream, char *out, size_t n)
{
	char path[] = "/tmp/hubtest-log-XXXXXX", env[64];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct stat sb;
	ssize_t got;

	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	snprintf(env, sizeof(env), "%llu:%llu", (unsigned long long)sb.st_dev,
		(unsigned long long)sb.st_ino);
	if (stream)
		setenv("JOURNAL_STREAM", strcmp(stream, "match") ? stream : env, 1);
	else
		unsetenv("JOURNAL_STREAM");
	fflush(stderr);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	hc_log_init("jt", HC_LOG_INFO, NULL);
	hc_err("msg=one");
	hc_warn("msg=two");
	hc_info("msg=three n=%d", 3);
	hc_debug("msg=hidden");
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	unsetenv("JOURNAL_STREAM");
	hc_log_init("test", HC_LOG_INFO, sink);
	got = pread(fd, out, n - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(path);
}

static void test_journal_stream(void **state)
{
	static const char *const other[] = {NULL, "1:2", "garbage", "1:2:3"};
	char text[2048];
	(void)state;
	/* stderr is the journal stream: priorities, no time (journald's) */
	stderr_lines("match", text, sizeof(text));
	assert_string_equal(text, "<3>level=error comp=jt msg=one\n"
				  "<4>level=warn comp=jt msg=two\n"
				  "<6>level=info comp=jt msg=three n=3\n");
	assert_false(hc_log_to_journal()); /* back to the sink */
	/* not the journal: the variable unset, naming another file (a child
	 * whose stderr was redirected), or malformed */
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		stderr_lines(other[i], text, sizeof(text));
		assert_int_equal(strncmp(text, "ts=", 3), 0);
		assert_non_null(strstr(text, " level=warn comp=jt msg=two\n"));
		assert_null(strstr(text, "<4>"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_and_summary),
		cmocka_unit_test(test_summary_when_window_ends),
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_debug_unlimited),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_user_names),
		cmocka_unit_test(test_journal_stream),
	};
	hc_log_init("test", HC_LOG_INFO, sink);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
