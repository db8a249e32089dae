/* SPDX-License-Identifier: MIT */
/*
 * The waiting room of a worker pool, fair to its clients. Items wait in
 * lanes, and a better lane (0 first) is always served before a worse one.
 * Within a lane, items are grouped in flows (one per client address for
 * logins, one per user for history reads), served round robin: a flow
 * with many items waiting gets one turn per round like a flow with one,
 * so a client that floods the queue only lengthens its own wait.
 *
 * Bounds: at most `max` items wait in all, at most `flow_max` per flow
 * (across lanes). When the queue is full, an item may take the place of
 * the newest item of the last flow of a worse lane, which comes back
 * evicted (its client is told to come back later); an item of the worst
 * lane present waits for room like everyone else.
 *
 * Push and pop cost O(1) (a hash map finds the flow), an eviction
 * O(flow_max). Not thread-safe:
 * the pool's mutex guards it.
 */
#ifndef HUB_FAIRQ_H
#define HUB_FAIRQ_H

#include <stdbool.h>
#include <stddef.h>

#include "hc_hmap.h"

#define HUB_FAIRQ_LANES	   3
#define HUB_FAIRQ_FLOW_MAX 80 /* bytes of a flow key, NUL included */

struct fq_flow;

/* Embedded in the queued object; the queue never allocates items. */
struct hub_fairq_item {
	struct hub_fairq_item *next;	   /* in its flow's lane list */
	struct fq_flow *flow;		   /* set while queued */
	int lane;			   /* 0 .. HUB_FAIRQ_LANES - 1, set by the caller */
	char flow_key[HUB_FAIRQ_FLOW_MAX]; /* set by the caller ("" is a flow too) */
};

struct hub_fairq {
	struct hc_hmap flows;		       /* key -> struct fq_flow */
	struct fq_flow *ring[HUB_FAIRQ_LANES]; /* flows with items in the lane, next turn first */
	size_t len, max, flow_max;
};

void hub_fairq_init(struct hub_fairq *q, size_t max, size_t flow_max);
/*
 * Queue it. HUB_OK; HUB_ERR_DENIED when its flow already has flow_max items
 * waiting; HUB_ERR_BUSY when the queue is full and nothing worse can make
 * room; HUB_ERR_NOMEM. On HUB_OK *evicted (may be NULL) gets the item that
 * made room, or NULL. The queue does not own items.
 */
int hub_fairq_push(struct hub_fairq *q, struct hub_fairq_item *it, struct hub_fairq_item **evicted);
/* The next item to serve (NULL when empty), removed from the queue. */
struct hub_fairq_item *hub_fairq_pop(struct hub_fairq *q);
/* Remove from flow key's items those pred(ud, item) says to, and return
 * them linked through ->next (NULL if none). O(items of the flow). */
struct hub_fairq_item *hub_fairq_remove_if(struct hub_fairq *q, const char *key,
	bool (*pred)(void *ud, const struct hub_fairq_item *it), void *ud);
/* Items waiting in flow key (0 if none). */
size_t hub_fairq_flow_len(const struct hub_fairq *q, const char *key);
/* Free the queue's own memory; items still queued are left alone (pop
 * them first). */
void hub_fairq_clear(struct hub_fairq *q);

#endif
