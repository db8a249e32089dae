/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of tools/logring.c: hub-logpipe's bounded ring. Append and
 * read across the wrap, whole lines kept when the ring fills, the rest
 * dropped by lines and counted, resuming at a line boundary only once half
 * the ring is free, the notice (with a newline first when a line was cut),
 * the reserve that guarantees the notice fits, finish at end of input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_err.h"
#include "logring.h"

/* Everything held, in order, as a NUL-terminated string (consumed). */
static char *drain(struct lp_ring *r)
{
	size_t cap = r->len + 1, n = 0;
	char *out = malloc(cap);
	const char *p;
	size_t k;

	assert_non_null(out);
	while ((k = lp_ring__peek(r, &p)) > 0) {
		memcpy(out + n, p, k);
		n += k;
		lp_ring__consume(r, k);
	}
	out[n] = '\0';
	return out;
}

static void test_init_bounds(void **state)
{
	struct lp_ring r;
	(void)state;
	assert_int_equal(lp_ring__init(&r, LP_RING_MIN - 1), HUB_ERR_INVAL);
	assert_int_equal(lp_ring__init(&r, LP_RING_MIN), HUB_OK);
	assert_int_equal(r.len, 0);
	lp_ring__free(&r);
}

static void test_put_peek_wrap(void **state)
{
	struct lp_ring r;
	const char *p;
	char *s;
	(void)state;
	assert_int_equal(lp_ring__init(&r, 1000), HUB_OK);
	/* move head near the end so the next put wraps */
	for (int i = 0; i < 9; i++) {
		lp_ring__put(&r,
			"01234567890123456789012345678901234567890123456789012345678901234567890123"
			"45678901234567890123456\n",
			98);
		free(drain(&r));
	}
	assert_int_equal(r.len, 0);
	lp_ring__put(&r, "aaaa\n", 5);
	lp_ring__put(&r,
		"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		"bbbbbbbbbbbbbbbbbbbbbbbbbbb\n",
		110);
	assert_int_equal(r.len, 115);
	/* the first span may be shorter than what is held (wrap) */
	assert_true(lp_ring__peek(&r, &p) <= 115);
	s = drain(&r);
	assert_int_equal(strlen(s), 115);
	assert_memory_equal(s, "aaaa\nbbbb", 9);
	assert_int_equal(s[114], '\n');
	free(s);
	assert_int_equal(r.lost_bytes, 0);
	lp_ring__free(&r);
}

/* n lines "line NNNNN\n" (11 bytes each) from first. */
static size_t lines(char *out, size_t cap, int first, int n)
{
	size_t k = 0;
	for (int i = 0; i < n; i++) {
		int w = snprintf(out + k, cap - k, "line %05d\n", first + i);
		assert_true(w == 11);
		k += 11;
	}
	return k;
}

static void test_full_drops_whole_lines_and_counts(void **state)
{
	struct lp_ring r;
	static char buf[1 << 16];
	char *s, *notice;
	size_t n;
	unsigned long long dl, db;
	(void)state;
	assert_int_equal(lp_ring__init(&r, 1100), HUB_OK);
	/* 200 lines = 2200 bytes into 1100 - reserve: the first lines that fit
	 * whole are kept, the rest dropped */
	n = lines(buf, sizeof(buf), 0, 200);
	lp_ring__put(&r, buf, n);
	assert_true(r.dropping);
	assert_true(r.len <= 1100 - LP_RING_RESERVE);
	assert_int_equal(r.len % 11, 0);
	assert_int_equal(r.lost_bytes, n - r.len);
	assert_int_equal(r.lost_lines, (n - r.len) / 11);
	/* still full: more input is dropped too, and counted */
	n = lines(buf, sizeof(buf), 200, 10);
	lp_ring__put(&r, buf, n);
	assert_int_equal(r.lost_lines, 210 - (unsigned long long)r.len / 11);
	/* the writer takes everything; the next line boundary resumes */
	s = drain(&r);
	assert_memory_equal(s, "line 00000\n", 11);
	free(s);
	n = lines(buf, sizeof(buf), 210, 3);
	lp_ring__put(&r, buf, n);
	assert_false(r.dropping);
	s = drain(&r);
	/* the drop ended at a line boundary: the notice, then 210 .. 212 */
	notice = strstr(s, "[hub-logpipe] ");
	assert_non_null(notice);
	assert_ptr_equal(notice, s);
	assert_int_equal(
		sscanf(notice, "[hub-logpipe] %llu lines (%llu bytes) dropped", &dl, &db), 2);
	assert_int_equal(dl, 125);
	assert_int_equal(db, 125 * 11);
	assert_int_equal(dl, r.lost_lines);
	assert_int_equal(db, r.lost_bytes);
	assert_non_null(strstr(s, "keep up\nline 00210\nline 00211\nline 00212\n"));
	free(s);
	lp_ring__free(&r);
}

static void test_resume_needs_half_free(void **state)
{
	struct lp_ring r;
	static char buf[4096];
	size_t n, held;
	const char *p;
	(void)state;
	assert_int_equal(lp_ring__init(&r, 1000), HUB_OK);
	n = lines(buf, sizeof(buf), 0, 100);
	lp_ring__put(&r, buf, n);
	assert_true(r.dropping);
	held = r.len;
	/* the writer frees a little: not enough to resume */
	lp_ring__peek(&r, &p);
	lp_ring__consume(&r, 110);
	lp_ring__put(&r, "x\n", 2);
	assert_true(r.dropping);
	assert_int_equal(r.len, held - 110);
	lp_ring__free(&r);
}

static void test_midline_notice_starts_a_line(void **state)
{
	struct lp_ring r;
	static char big[2000];
	char *s;
	(void)state;
	assert_int_equal(lp_ring__init(&r, 1000), HUB_OK);
	lp_ring__put(&r, "head of a line without end", 26);
	memset(big, 'z', sizeof(big));
	big[sizeof(big) - 1] = '\n';
	/* the rest of that line does not fit: dropped, and since the ring is
	 * more than half free the drop ends at its newline at once */
	lp_ring__put(&r, big, sizeof(big));
	assert_false(r.dropping);
	assert_int_equal(r.lost_lines, 1);
	assert_int_equal(r.lost_bytes, 2000);
	lp_ring__put(&r, "next\n", 5);
	s = drain(&r);
	assert_string_equal(s, "head of a line without end\n"
			       "[hub-logpipe] 1 lines (2000 bytes) dropped: the log file did not "
			       "keep up\n"
			       "next\n");
	free(s);
	lp_ring__free(&r);
}

static void test_finish_reports_a_drop(void **state)
{
	struct lp_ring r;
	static char buf[4096];
	size_t n;
	char *s;
	(void)state;
	assert_int_equal(lp_ring__init(&r, LP_RING_MIN), HUB_OK);
	n = lines(buf, sizeof(buf), 0, 100);
	lp_ring__put(&r, buf, n);
	assert_true(r.dropping);
	/* nothing was written meanwhile: the reserve still takes the notice */
	lp_ring__finish(&r);
	assert_false(r.dropping);
	s = drain(&r);
	assert_non_null(strstr(s, "[hub-logpipe] "));
	assert_int_equal(s[strlen(s) - 1], '\n');
	free(s);
	/* finish without a drop adds nothing */
	lp_ring__put(&r, "ok\n", 3);
	lp_ring__finish(&r);
	s = drain(&r);
	assert_string_equal(s, "ok\n");
	free(s);
	lp_ring__free(&r);
}

/* A long random stream through a small ring with a writer that takes
 * random amounts: what comes out is the input with dropped spans replaced
 * by notices, each kept line intact, and the counts add up. */
static void test_random_stream_accounting(void **state)
{
	struct lp_ring r;
	static char in[1 << 16], out[1 << 17];
	size_t nin = 0, nout = 0, pos = 0;
	unsigned seed = 12345;
	unsigned long long kept_lines = 0, notice_lines = 0, sum_dl = 0;
	(void)state;
	for (int i = 0; nin < sizeof(in) - 100; i++) {
		int len = 1 + (int)(rand_r(&seed) % 60);
		for (int j = 0; j < len; j++)
			in[nin++] = (char)('a' + (i % 26));
		in[nin++] = '\n';
	}
	assert_int_equal(lp_ring__init(&r, 2000), HUB_OK);
	while (pos < nin) {
		size_t k = 1 + rand_r(&seed) % 700;
		const char *p;
		size_t span;
		if (k > nin - pos)
			k = nin - pos;
		lp_ring__put(&r, in + pos, k);
		pos += k;
		/* the writer sometimes keeps up, sometimes not */
		if (rand_r(&seed) % 3 == 0) {
			while ((span = lp_ring__peek(&r, &p)) > 0) {
				assert_true(nout + span < sizeof(out));
				memcpy(out + nout, p, span);
				nout += span;
				lp_ring__consume(&r, span);
			}
		}
	}
	lp_ring__finish(&r);
	{
		const char *p;
		size_t span;
		while ((span = lp_ring__peek(&r, &p)) > 0) {
			memcpy(out + nout, p, span);
			nout += span;
			lp_ring__consume(&r, span);
		}
	}
	out[nout] = '\0';
	assert_true(r.lost_lines > 0);
	/* every output line is a notice or one whole input line (letters all
	 * alike), except a line cut where a drop began mid-line */
	for (char *line = out, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		unsigned long long dl, db;
		*nl = '\0';
		if (sscanf(line, "[hub-logpipe] %llu lines (%llu bytes)", &dl, &db) == 2) {
			notice_lines++;
			sum_dl += dl;
		} else if (*line) {
			for (char *c = line; *c; c++)
				assert_int_equal(*c, line[0]);
			kept_lines++;
		}
	}
	assert_true(notice_lines > 0);
	assert_int_equal(sum_dl, r.lost_lines);
	lp_ring__free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_bounds),
		cmocka_unit_test(test_put_peek_wrap),
		cmocka_unit_test(test_full_drops_whole_lines_and_counts),
		cmocka_unit_test(test_resume_needs_half_free),
		cmocka_unit_test(test_midline_notice_starts_a_line),
		cmocka_unit_test(test_finish_reports_a_drop),
		cmocka_unit_test(test_random_stream_accounting),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
