/* SPDX-License-Identifier: MIT */
/* Lanes of round-robin flows (fairq.h). */
#include "fairq.h"
#include "hc_err.h"

#include <stdlib.h>
#include <string.h>

struct fq_lane {
	struct hub_fairq_item *head, *tail; /* this flow's items in the lane, FIFO */
	struct fq_flow *prev, *next;	    /* the lane's ring of flows; NULL when out */
	bool in_ring;
};

struct fq_flow {
	struct fq_lane lane[HUB_FAIRQ_LANES];
	size_t len; /* items in every lane */
	size_t klen;
	char key[HUB_FAIRQ_FLOW_MAX];
};

void hub_fairq_init(struct hub_fairq *q, size_t max, size_t flow_max)
{
	memset(q, 0, sizeof(*q));
	hc_hmap_init(&q->flows);
	q->max = max;
	q->flow_max = flow_max ? flow_max : (size_t)-1;
}

/* The ring is circular and doubly linked; ring[l] is the flow whose turn
 * is next. A flow joins at the back (just before the head). */
static void ring_add(struct hub_fairq *q, int l, struct fq_flow *f)
{
	struct fq_flow *head = q->ring[l];

	f->lane[l].in_ring = true;
	if (!head) {
		f->lane[l].prev = f->lane[l].next = f;
		q->ring[l] = f;
		return;
	}
	f->lane[l].next = head;
	f->lane[l].prev = head->lane[l].prev;
	head->lane[l].prev->lane[l].next = f;
	head->lane[l].prev = f;
}

static void ring_del(struct hub_fairq *q, int l, struct fq_flow *f)
{
	if (f->lane[l].next == f) {
		q->ring[l] = NULL;
	} else {
		f->lane[l].prev->lane[l].next = f->lane[l].next;
		f->lane[l].next->lane[l].prev = f->lane[l].prev;
		if (q->ring[l] == f)
			q->ring[l] = f->lane[l].next;
	}
	f->lane[l].prev = f->lane[l].next = NULL;
	f->lane[l].in_ring = false;
}

static void flow_drop_if_empty(struct hub_fairq *q, struct fq_flow *f)
{
	if (f->len)
		return;
	hc_hmap_del(&q->flows, f->key, f->klen);
	free(f);
}

/* Take the last item of flow f in lane l (the newest it queued there). */
static struct hub_fairq_item *take_last(struct hub_fairq *q, int l, struct fq_flow *f)
{
	struct fq_lane *fl = &f->lane[l];
	struct hub_fairq_item *it = fl->head, *prev = NULL;

	while (it->next) {
		prev = it;
		it = it->next;
	}
	if (prev)
		prev->next = NULL;
	else
		fl->head = NULL;
	fl->tail = prev;
	if (!fl->head)
		ring_del(q, l, f);
	f->len--;
	q->len--;
	it->flow = NULL;
	it->next = NULL;
	flow_drop_if_empty(q, f);
	return it;
}

struct hub_fairq_item *hub_fairq_remove_if(struct hub_fairq *q, const char *key,
	bool (*pred)(void *ud, const struct hub_fairq_item *it), void *ud)
{
	struct fq_flow *f = hc_hmap_get(&q->flows, key, strlen(key));
	struct hub_fairq_item *out = NULL;

	if (!f)
		return NULL;
	for (int l = 0; l < HUB_FAIRQ_LANES; l++) {
		struct fq_lane *fl = &f->lane[l];
		struct hub_fairq_item **pp = &fl->head, *prev = NULL;
		while (*pp) {
			struct hub_fairq_item *it = *pp;
			if (!pred(ud, it)) {
				prev = it;
				pp = &it->next;
				continue;
			}
			*pp = it->next;
			if (fl->tail == it)
				fl->tail = prev;
			it->flow = NULL;
			it->next = out;
			out = it;
			f->len--;
			q->len--;
		}
		if (!fl->head && fl->in_ring)
			ring_del(q, l, f);
	}
	flow_drop_if_empty(q, f);
	return out;
}

int hub_fairq_push(struct hub_fairq *q, struct hub_fairq_item *it, struct hub_fairq_item **evicted)
{
	struct fq_flow *f;
	size_t klen;
	int l = it->lane;

	if (evicted)
		*evicted = NULL;
	if (l < 0)
		l = 0;
	if (l >= HUB_FAIRQ_LANES)
		l = HUB_FAIRQ_LANES - 1;
	it->lane = l;
	it->flow_key[HUB_FAIRQ_FLOW_MAX - 1] = '\0';
	klen = strlen(it->flow_key);
	f = hc_hmap_get(&q->flows, it->flow_key, klen);
	if (f && f->len >= q->flow_max)
		return HUB_ERR_DENIED;
	if (q->len >= q->max) {
		/* room is made only by a worse lane: the newest item of the
		 * flow that joined that lane's ring last */
		struct hub_fairq_item *out = NULL;
		for (int w = HUB_FAIRQ_LANES - 1; w > l && !out; w--)
			if (q->ring[w])
				out = take_last(q, w, q->ring[w]->lane[w].prev);
		if (!out)
			return HUB_ERR_BUSY;
		if (evicted)
			*evicted = out;
		/* the evicted item's flow may have been f, and freed */
		f = hc_hmap_get(&q->flows, it->flow_key, klen);
	}
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f)
			return HUB_ERR_NOMEM;
		memcpy(f->key, it->flow_key, klen + 1);
		f->klen = klen;
		if (hc_hmap_put(&q->flows, f->key, klen, f, NULL) != HUB_OK) {
			free(f);
			return HUB_ERR_NOMEM;
		}
	}
	it->next = NULL;
	it->flow = f;
	if (f->lane[l].tail)
		f->lane[l].tail->next = it;
	else
		f->lane[l].head = it;
	f->lane[l].tail = it;
	if (!f->lane[l].in_ring)
		ring_add(q, l, f);
	f->len++;
	q->len++;
	return HUB_OK;
}

struct hub_fairq_item *hub_fairq_pop(struct hub_fairq *q)
{
	for (int l = 0; l < HUB_FAIRQ_LANES; l++) {
		struct fq_flow *f = q->ring[l];
		struct hub_fairq_item *it;

		if (!f)
			continue;
		it = f->lane[l].head;
		f->lane[l].head = it->next;
		if (!f->lane[l].head) {
			f->lane[l].tail = NULL;
			ring_del(q, l, f);
		} else {
			q->ring[l] = f->lane[l].next; /* its turn is over */
		}
		f->len--;
		q->len--;
		it->next = NULL;
		it->flow = NULL;
		flow_drop_if_empty(q, f);
		return it;
	}
	return NULL;
}

size_t hub_fairq_flow_len(const struct hub_fairq *q, const char *key)
{
	const struct fq_flow *f = hc_hmap_get(&q->flows, key, strlen(key));
	return f ? f->len : 0;
}

static int free_flow(void *ud, const char *key, void *value)
{
	(void)ud;
	(void)key;
	free(value);
	return 0;
}

void hub_fairq_clear(struct hub_fairq *q)
{
	hc_hmap_each(&q->flows, free_flow, NULL);
	hc_hmap_clear(&q->flows);
	for (int l = 0; l < HUB_FAIRQ_LANES; l++)
		q->ring[l] = NULL;
	q->len = 0;
}
