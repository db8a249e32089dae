/* SPDX-License-Identifier: MIT */
/* Bounded, growable ring of fixes awaiting acknowledgement. */
#include "fixq.h"

#include "hc_err.h"

#include <stdlib.h>
#include <string.h>

#define FIXQ_INITIAL 8

void trk_fixq__init(struct trk_fixq *q, size_t max)
{
	memset(q, 0, sizeof(*q));
	q->max = max ? max : 1;
}

void trk_fixq__free(struct trk_fixq *q)
{
	free(q->e);
	q->e = NULL;
	q->cap = q->len = q->head = q->inflight = 0;
}

struct trk_fixq_entry *trk_fixq__at(struct trk_fixq *q, size_t i)
{
	return &q->e[(q->head + i) % q->cap];
}

static void pop_head(struct trk_fixq *q)
{
	if (q->inflight)
		q->inflight--;
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

static void drop_oldest(struct trk_fixq *q)
{
	if (!q->e[q->head].acked)
		q->dropped++;
	pop_head(q);
	/* acknowledged entries that waited behind the dropped one go too */
	while (q->len && q->e[q->head].acked)
		pop_head(q);
}

/* Double the storage (never past max), unrolling the ring. */
static int grow(struct trk_fixq *q)
{
	size_t cap = q->cap ? q->cap * 2 : FIXQ_INITIAL;
	struct trk_fixq_entry *e;

	if (cap > q->max)
		cap = q->max;
	e = malloc(cap * sizeof(*e));
	if (!e)
		return HUB_ERR_NOMEM;
	for (size_t i = 0; i < q->len; i++)
		e[i] = *trk_fixq__at(q, i);
	free(q->e);
	q->e = e;
	q->cap = cap;
	q->head = 0;
	return HUB_OK;
}

int trk_fixq__push(struct trk_fixq *q, const struct trk_fix *f)
{
	struct trk_fixq_entry *slot;

	if (q->len == q->cap && q->cap < q->max && grow(q)) {
		if (!q->len) {
			q->dropped++;
			return HUB_ERR_NOMEM;
		}
		/* keep the newest fix: make room in what we have */
	}
	if (q->len == q->cap)
		drop_oldest(q);
	slot = &q->e[(q->head + q->len) % q->cap];
	slot->fix = *f;
	slot->mid = 0;
	slot->acked = false;
	q->len++;
	return HUB_OK;
}

struct trk_fixq_entry *trk_fixq__next(struct trk_fixq *q)
{
	/* after a requeue, entries acknowledged behind an unacknowledged one
	 * are passed over: they count as in flight until the head reaches them */
	while (q->inflight < q->len && trk_fixq__at(q, q->inflight)->acked)
		q->inflight++;
	return q->inflight < q->len ? trk_fixq__at(q, q->inflight) : NULL;
}

void trk_fixq__sent(struct trk_fixq *q, int mid)
{
	struct trk_fixq_entry *e = trk_fixq__next(q);
	if (!e)
		return;
	e->mid = mid;
	q->inflight++;
}

bool trk_fixq__ack(struct trk_fixq *q, int mid)
{
	bool found = false;

	for (size_t i = 0; i < q->inflight; i++) {
		struct trk_fixq_entry *e = trk_fixq__at(q, i);
		if (e->mid == mid && !e->acked) {
			e->acked = true;
			found = true;
			break;
		}
	}
	while (q->len && q->inflight && trk_fixq__at(q, 0)->acked)
		pop_head(q);
	return found;
}

void trk_fixq__requeue(struct trk_fixq *q)
{
	/* acknowledged entries behind an unacknowledged head stay acknowledged
	 * and are not sent again */
	q->inflight = 0;
}
