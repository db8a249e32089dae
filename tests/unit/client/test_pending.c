/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of client/src/pending.c: the table of publishes waiting for
 * an outcome, as calls use it. A call ends exactly once: with the answer
 * carrying its Correlation Data, with PUBACK 0x10 (unavailable) or >= 0x80
 * (refused), at its deadline, or canceled; an answer for nobody (late,
 * forged, of another kind) is not taken; the table is bounded.
 * The struct hubio is a bare one (no connection): the table needs none.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hubio_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(x) x, sizeof(x) - 1

struct outcome {
	int calls;
	int status;
	char answer[256];
};

static void on_answer(struct hubio *h, int status, const char *answer, size_t len, void *ud)
{
	struct outcome *o = ud;
	(void)h;
	o->calls++;
	o->status = status;
	snprintf(o->answer, sizeof(o->answer), "%.*s", (int)len, answer);
}

static void on_reply(struct hubio *h, int status, const char *data, size_t len,
	const struct hubio_meta *meta, void *ud)
{
	struct outcome *o = ud;
	(void)h;
	(void)meta;
	o->calls++;
	o->status = status;
	snprintf(o->answer, sizeof(o->answer), "%.*s", data ? (int)len : 0, data ? data : "");
}

static struct hubio *bare(int max)
{
	struct hubio *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	h->pending_max = max;
	return h;
}

static void done(struct hubio *h)
{
	free(h->pending);
	free(h);
}

/* a call entry with mid and correlation data (16 bytes of seed) */
static void add_call(struct hubio *h, int mid, uint8_t seed, int64_t deadline, struct outcome *o)
{
	struct hubio__pending p = {.kind = HUBIO__P_CALL, .answer_cb = on_answer, .ud = o};
	p.mid = mid;
	p.deadline = deadline;
	memset(p.corr, seed, sizeof(p.corr));
	assert_int_equal(hubio__pending_add(h, &p), HUBIO_OK);
}

static void test_answer(void **state)
{
	struct hubio *h = bare(8);
	struct outcome a = {0}, b = {0};
	uint8_t corr[HUBIO__CORR_LEN];
	(void)state;
	add_call(h, 1, 0xa1, 1000, &a);
	add_call(h, 2, 0xb2, 1000, &b);
	/* PUBACK 0: accepted, the call waits for its answer */
	hubio__pending_puback(h, 1, 0);
	assert_int_equal(a.calls, 0);
	assert_int_equal(h->npending, 2);
	/* an answer with b's correlation data ends b only */
	memset(corr, 0xb2, sizeof(corr));
	assert_true(hubio__pending_answer(h, corr, sizeof(corr), S("{\"ok\":true,\"id\":7}")));
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, HUBIO_OK);
	assert_string_equal(b.answer, "{\"ok\":true,\"id\":7}");
	assert_int_equal(a.calls, 0);
	/* a second answer to b finds nothing: exactly once */
	assert_false(hubio__pending_answer(h, corr, sizeof(corr), S("{}")));
	assert_int_equal(b.calls, 1);
	/* b's PUBACK after its answer: nothing either */
	hubio__pending_puback(h, 2, 0);
	assert_int_equal(b.calls, 1);
	/* the hub's "unavailable" answer is that status */
	memset(corr, 0xa1, sizeof(corr));
	assert_true(hubio__pending_answer(
		h, corr, sizeof(corr), S("{\"ok\":false,\"error\":\"unavailable\"}")));
	assert_int_equal(a.status, HUBIO_EUNAVAILABLE);
	assert_int_equal(h->npending, 0);
	done(h);
}

static void test_wrong_answers(void **state)
{
	struct hubio *h = bare(8);
	struct outcome a = {0}, r = {0};
	struct hubio__pending req = {.kind = HUBIO__P_REQUEST, .reply_cb = on_reply, .ud = &r};
	uint8_t corr[HUBIO__CORR_LEN + 1];
	(void)state;
	add_call(h, 1, 0xa1, 1000, &a);
	memset(req.corr, 0xc3, sizeof(req.corr));
	req.mid = 3;
	req.deadline = 1000;
	assert_int_equal(hubio__pending_add(h, &req), HUBIO_OK);
	/* other correlation data, a prefix, a longer one: not ours */
	memset(corr, 0xa1, sizeof(corr));
	corr[15] = 0xa0;
	assert_false(hubio__pending_answer(h, corr, HUBIO__CORR_LEN, S("{}")));
	memset(corr, 0xa1, sizeof(corr));
	assert_false(hubio__pending_answer(h, corr, HUBIO__CORR_LEN - 1, S("{}")));
	assert_false(hubio__pending_answer(h, corr, HUBIO__CORR_LEN + 1, S("{}")));
	assert_false(hubio__pending_answer(h, corr, 0, S("{}")));
	/* a request's correlation data does not end a call, nor the reverse */
	memset(corr, 0xc3, sizeof(corr));
	assert_false(hubio__pending_answer(h, corr, HUBIO__CORR_LEN, S("{}")));
	memset(corr, 0xa1, sizeof(corr));
	assert_false(hubio__pending_reply(h, corr, HUBIO__CORR_LEN, S("{}"), NULL));
	assert_int_equal(a.calls + r.calls, 0);
	assert_int_equal(h->npending, 2);
	hubio__pending_cancel_all(h);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, HUBIO_ECANCELED);
	assert_string_equal(a.answer, "{\"ok\":false,\"error\":\"canceled\"}");
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, HUBIO_ECANCELED);
	done(h);
}

static void test_puback(void **state)
{
	struct hubio *h = bare(8);
	struct outcome a = {0}, b = {0}, c = {0};
	struct hubio__pending req = {.kind = HUBIO__P_REQUEST, .reply_cb = on_reply, .ud = &c};
	(void)state;
	add_call(h, 1, 1, 1000, &a);
	add_call(h, 2, 2, 1000, &b);
	req.mid = 3;
	req.deadline = 1000;
	assert_int_equal(hubio__pending_add(h, &req), HUBIO_OK);
	/* 0x10: nobody subscribed, no process of the service */
	hubio__pending_puback(h, 1, 0x10);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, HUBIO_EUNAVAILABLE);
	assert_string_equal(a.answer, "{\"ok\":false,\"error\":\"unavailable\"}");
	/* 0x87: the hub refused the call (no such service) */
	hubio__pending_puback(h, 2, 0x87);
	assert_int_equal(b.status, HUBIO_EFORBIDDEN);
	assert_string_equal(b.answer, "{\"ok\":false,\"error\":\"forbidden\"}");
	/* a request with 0x10 is accepted (its responders are room members) */
	hubio__pending_puback(h, 3, 0x10);
	assert_int_equal(c.calls, 0);
	assert_int_equal(h->npending, 1);
	/* an unknown mid changes nothing */
	hubio__pending_puback(h, 99, 0x87);
	assert_int_equal(h->npending, 1);
	hubio__pending_cancel_all(h);
	done(h);
}

static void test_deadlines(void **state)
{
	struct hubio *h = bare(8);
	struct outcome a = {0}, b = {0};
	(void)state;
	add_call(h, 1, 1, 500, &a);
	add_call(h, 2, 2, 900, &b);
	hubio__pending_puback(h, 1, 0);
	assert_int_equal(hubio__pending_next_deadline(h), 500);
	hubio__pending_expire(h, 499);
	assert_int_equal(a.calls, 0);
	hubio__pending_expire(h, 500);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, HUBIO_ETIMEOUT);
	assert_string_equal(a.answer, "{\"ok\":false,\"error\":\"timeout\"}");
	assert_int_equal(b.calls, 0);
	assert_int_equal(hubio__pending_next_deadline(h), 900);
	hubio__pending_expire(h, 10000);
	assert_int_equal(b.calls, 1);
	assert_int_equal(hubio__pending_next_deadline(h), 0);
	done(h);
}

static void test_bounded(void **state)
{
	struct hubio *h = bare(3);
	struct outcome o[4] = {{0}};
	struct hubio__pending p = {.kind = HUBIO__P_CALL, .answer_cb = on_answer, .ud = &o[3]};
	uint8_t corr[HUBIO__CORR_LEN];
	(void)state;
	for (int i = 0; i < 3; i++)
		add_call(h, i + 1, (uint8_t)i, 1000, &o[i]);
	assert_int_equal(hubio__pending_add(h, &p), HUBIO_EFULL);
	/* a slot freed is usable again */
	memset(corr, 1, sizeof(corr));
	assert_true(hubio__pending_answer(h, corr, sizeof(corr), S("{}")));
	assert_int_equal(hubio__pending_add(h, &p), HUBIO_OK);
	assert_int_equal(h->npending, 3);
	hubio__pending_cancel_all(h);
	for (int i = 0; i < 4; i++)
		assert_int_equal(o[i].calls, 1);
	done(h);
}

/* An answer callback that makes a new call (re-entrancy). */
static struct hubio *reentrant_h;
static struct outcome second;

static void on_answer_then_call(
	struct hubio *h, int status, const char *answer, size_t len, void *ud)
{
	on_answer(h, status, answer, len, ud);
	add_call(reentrant_h, 9, 9, 2000, &second);
}

static void test_reentrant(void **state)
{
	struct hubio *h = bare(4);
	struct outcome a = {0};
	struct hubio__pending p = {
		.kind = HUBIO__P_CALL, .answer_cb = on_answer_then_call, .ud = &a};
	(void)state;
	reentrant_h = h;
	p.mid = 1;
	p.deadline = 100;
	assert_int_equal(hubio__pending_add(h, &p), HUBIO_OK);
	hubio__pending_expire(h, 100);
	assert_int_equal(a.calls, 1);
	assert_int_equal(second.calls, 0);
	assert_int_equal(h->npending, 1);
	hubio__pending_expire(h, 2000);
	assert_int_equal(second.calls, 1);
	done(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_answer),
		cmocka_unit_test(test_wrong_answers),
		cmocka_unit_test(test_puback),
		cmocka_unit_test(test_deadlines),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_reentrant),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
