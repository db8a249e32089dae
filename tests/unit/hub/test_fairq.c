/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of hub/fairq.c, the fair waiting room of hubd's worker pools:
 * lane order, round robin between flows, per-flow and total bounds,
 * eviction of worse lanes, and a randomised model check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fairq.h"
#include "hc_err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct item {
	struct hub_fairq_item q;
	int id;
};

static struct item *mk(struct item *it, int id, int lane, const char *flow)
{
	memset(it, 0, sizeof(*it));
	it->id = id;
	it->q.lane = lane;
	snprintf(it->q.flow_key, sizeof(it->q.flow_key), "%s", flow);
	return it;
}

static int pop_id(struct hub_fairq *q)
{
	struct hub_fairq_item *it = hub_fairq_pop(q);
	return it ? ((struct item *)it)->id : -1;
}

static void test_round_robin(void **state)
{
	struct hub_fairq q;
	struct item it[16];
	(void)state;
	hub_fairq_init(&q, 100, 100);
	/* flow A floods, B and C queue one each afterwards */
	for (int i = 0; i < 6; i++)
		assert_int_equal(hub_fairq_push(&q, &mk(&it[i], i, 1, "A")->q, NULL), HUB_OK);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[6], 6, 1, "B")->q, NULL), HUB_OK);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[7], 7, 1, "C")->q, NULL), HUB_OK);
	assert_int_equal(q.len, 8);
	/* B and C are served after one item of A, not after six */
	assert_int_equal(pop_id(&q), 0);
	assert_int_equal(pop_id(&q), 6);
	assert_int_equal(pop_id(&q), 7);
	for (int i = 1; i < 6; i++)
		assert_int_equal(pop_id(&q), i);
	assert_int_equal(pop_id(&q), -1);
	assert_int_equal(q.len, 0);
	hub_fairq_clear(&q);
}

static bool odd_id(void *ud, const struct hub_fairq_item *it)
{
	(void)ud;
	return ((const struct item *)it)->id % 2 == 1;
}

/* Items whose clients left are removed from their flow at once (they take
 * no share of it), in every lane; the rest keep their order. */
static void test_remove_if(void **state)
{
	struct hub_fairq q;
	struct item it[8];
	struct hub_fairq_item *out;
	int n = 0;
	(void)state;
	hub_fairq_init(&q, 100, 4);
	for (int i = 0; i < 4; i++)
		assert_int_equal(
			hub_fairq_push(&q, &mk(&it[i], i, i % 2 ? 2 : 1, "A")->q, NULL), HUB_OK);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[4], 4, 1, "A")->q, NULL), HUB_ERR_DENIED);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[5], 5, 1, "B")->q, NULL), HUB_OK);
	out = hub_fairq_remove_if(&q, "A", odd_id, NULL);
	for (struct hub_fairq_item *x = out; x; x = x->next) {
		assert_int_equal(((struct item *)x)->id % 2, 1);
		assert_null(x->flow);
		n++;
	}
	assert_int_equal(n, 2);
	assert_int_equal(q.len, 3);
	assert_int_equal(hub_fairq_flow_len(&q, "A"), 2);
	assert_null(hub_fairq_remove_if(&q, "nosuch", odd_id, NULL));
	/* A has room again */
	assert_int_equal(hub_fairq_push(&q, &mk(&it[6], 6, 1, "A")->q, NULL), HUB_OK);
	assert_int_equal(pop_id(&q), 0);
	assert_int_equal(pop_id(&q), 5);
	assert_int_equal(pop_id(&q), 2);
	assert_int_equal(pop_id(&q), 6);
	assert_int_equal(pop_id(&q), -1);
	/* a flow emptied by removal is gone: lane 2 held only odd items */
	assert_int_equal(hub_fairq_push(&q, &mk(&it[7], 7, 2, "C")->q, NULL), HUB_OK);
	assert_non_null(hub_fairq_remove_if(&q, "C", odd_id, NULL));
	assert_int_equal(q.len, 0);
	assert_int_equal(pop_id(&q), -1);
	hub_fairq_clear(&q);
}

static void test_lanes(void **state)
{
	struct hub_fairq q;
	struct item it[8];
	(void)state;
	hub_fairq_init(&q, 100, 100);
	hub_fairq_push(&q, &mk(&it[0], 0, 2, "A")->q, NULL);
	hub_fairq_push(&q, &mk(&it[1], 1, 1, "A")->q, NULL);
	hub_fairq_push(&q, &mk(&it[2], 2, 0, "B")->q, NULL);
	hub_fairq_push(&q, &mk(&it[3], 3, 1, "B")->q, NULL);
	hub_fairq_push(&q, &mk(&it[4], 4, 9, "C")->q, NULL);  /* clamped to the worst lane */
	hub_fairq_push(&q, &mk(&it[5], 5, -1, "C")->q, NULL); /* and the best */
	assert_int_equal(pop_id(&q), 2);
	assert_int_equal(pop_id(&q), 5);
	assert_int_equal(pop_id(&q), 1);
	assert_int_equal(pop_id(&q), 3);
	assert_int_equal(pop_id(&q), 0);
	assert_int_equal(pop_id(&q), 4);
	assert_int_equal(pop_id(&q), -1);
	hub_fairq_clear(&q);
}

static void test_bounds_and_eviction(void **state)
{
	struct hub_fairq q;
	struct item it[16];
	struct hub_fairq_item *ev = NULL;
	(void)state;
	hub_fairq_init(&q, 4, 2);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[0], 0, 2, "A")->q, &ev), HUB_OK);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[1], 1, 2, "A")->q, &ev), HUB_OK);
	/* a flow's share */
	assert_int_equal(hub_fairq_push(&q, &mk(&it[2], 2, 0, "A")->q, &ev), HUB_ERR_DENIED);
	assert_int_equal(hub_fairq_flow_len(&q, "A"), 2);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[3], 3, 2, "B")->q, &ev), HUB_OK);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[4], 4, 1, "C")->q, &ev), HUB_OK);
	assert_null(ev);
	assert_int_equal(q.len, 4);
	/* full: the same lane or a worse one waits for room */
	assert_int_equal(hub_fairq_push(&q, &mk(&it[5], 5, 2, "D")->q, &ev), HUB_ERR_BUSY);
	/* a better lane takes the place of the newest of the worst lane's
	 * last flow (B joined lane 2 last) */
	assert_int_equal(hub_fairq_push(&q, &mk(&it[6], 6, 1, "E")->q, &ev), HUB_OK);
	assert_non_null(ev);
	assert_int_equal(((struct item *)ev)->id, 3);
	assert_int_equal(hub_fairq_flow_len(&q, "B"), 0);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[7], 7, 0, "F")->q, &ev), HUB_OK);
	assert_int_equal(((struct item *)ev)->id, 1); /* A's newest */
	assert_int_equal(hub_fairq_push(&q, &mk(&it[8], 8, 0, "G")->q, &ev), HUB_OK);
	assert_int_equal(((struct item *)ev)->id, 0);
	/* lane 1 items go only for lane 0 now */
	assert_int_equal(hub_fairq_push(&q, &mk(&it[9], 9, 1, "H")->q, &ev), HUB_ERR_BUSY);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[10], 10, 0, "H")->q, &ev), HUB_OK);
	assert_int_equal(((struct item *)ev)->id, 6); /* E joined lane 1 after C */
	assert_int_equal(pop_id(&q), 7);
	assert_int_equal(pop_id(&q), 8);
	assert_int_equal(pop_id(&q), 10);
	assert_int_equal(pop_id(&q), 4);
	assert_int_equal(pop_id(&q), -1);
	hub_fairq_clear(&q);
}

/* Evicting the last item of a flow that is also the pushing flow. */
static void test_evict_own_flow(void **state)
{
	struct hub_fairq q;
	struct item it[4];
	struct hub_fairq_item *ev = NULL;
	(void)state;
	hub_fairq_init(&q, 1, 2);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[0], 0, 2, "A")->q, &ev), HUB_OK);
	assert_int_equal(hub_fairq_push(&q, &mk(&it[1], 1, 0, "A")->q, &ev), HUB_OK);
	assert_int_equal(((struct item *)ev)->id, 0);
	assert_int_equal(hub_fairq_flow_len(&q, "A"), 1);
	assert_int_equal(pop_id(&q), 1);
	assert_int_equal(pop_id(&q), -1);
	hub_fairq_clear(&q);
}

/* Random pushes and pops against a simple model: every item comes out
 * exactly once (served or evicted), lanes in order, bounds hold. */
static void test_model(void **state)
{
	enum { N = 20000, FLOWS = 7 };
	struct hub_fairq q;
	struct item *items = calloc(N, sizeof(*items));
	unsigned char *seen = calloc(N, 1);
	size_t waiting = 0;
	unsigned seed = 12345;
	(void)state;
	assert_non_null(items);
	assert_non_null(seen);
	hub_fairq_init(&q, 16, 3);
	for (int i = 0; i < N; i++) {
		char flow[8];
		struct hub_fairq_item *ev = NULL;
		int rc;
		seed = seed * 1103515245u + 12345u;
		snprintf(flow, sizeof(flow), "f%u", (seed >> 8) % FLOWS);
		mk(&items[i], i, (int)((seed >> 16) % 3), flow);
		rc = hub_fairq_push(&q, &items[i].q, &ev);
		if (rc == HUB_OK) {
			waiting++;
			assert_true(hub_fairq_flow_len(&q, flow) <= 3);
			if (ev) {
				struct item *e = (struct item *)ev;
				assert_false(seen[e->id]);
				assert_true(e->q.lane > items[i].q.lane);
				seen[e->id] = 2;
				waiting--;
			}
		} else {
			assert_true(rc == HUB_ERR_BUSY || rc == HUB_ERR_DENIED);
			seen[i] = 3;
		}
		assert_true(q.len <= 16);
		assert_int_equal(q.len, waiting);
		if ((seed >> 4) % 3 == 0) {
			struct hub_fairq_item *p = hub_fairq_pop(&q);
			if (p) {
				struct item *x = (struct item *)p;
				/* nothing better waits than what is served */
				for (int l = 0; l < x->q.lane; l++)
					assert_null(q.ring[l]);
				assert_false(seen[x->id]);
				seen[x->id] = 1;
				waiting--;
			}
		}
	}
	while (waiting) {
		struct item *x = (struct item *)hub_fairq_pop(&q);
		assert_non_null(x);
		assert_false(seen[x->id]);
		seen[x->id] = 1;
		waiting--;
	}
	assert_null(hub_fairq_pop(&q));
	for (int i = 0; i < N; i++)
		assert_true(seen[i] != 0);
	hub_fairq_clear(&q);
	free(items);
	free(seen);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_robin),
		cmocka_unit_test(test_lanes),
		cmocka_unit_test(test_remove_if),
		cmocka_unit_test(test_bounds_and_eviction),
		cmocka_unit_test(test_evict_own_flow),
		cmocka_unit_test(test_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
