/* SPDX-License-Identifier: MIT */
/*
 * One page of a room's chat history as the body of GET
 * /api/rooms/{room}/messages, built on a reader thread (workpool.h) from
 * its own store connection:
 *
 *   {"room":"lobby","messages":[{"id","room","event","from","ts","data"},...],
 *    "has_more":true,"before":1234}
 *
 * newest last. A page holds at most limit messages and stops before its
 * body passes budget bytes (one message always fits, so paging moves on);
 * has_more tells whether older messages remain, before is the id to ask
 * the next (older) page with (null on an empty page). A stored payload
 * over event_max is never read: it comes as "data":null,"omitted":true,
 * "size":N. So a page costs at most about budget + event_max x 6 bytes
 * (the worst JSON escaping), whatever is stored. Thread-safe (no state).
 */
#ifndef HUB_HISTORY_PAGE_H
#define HUB_HISTORY_PAGE_H

#include <stddef.h>
#include <stdint.h>

#include "hc_names.h"

struct hc_store;

struct hub_history_query {
	char room[HC_NAME_MAX + 1];
	int64_t before;	  /* older than this id; 0: from the newest */
	int limit;	  /* 1..HC_HISTORY_LIMIT_MAX */
	size_t budget;	  /* body bytes a page stops before */
	size_t event_max; /* payloads longer than this are omitted */
	size_t headroom;  /* free bytes before the body (LWS_PRE) */
};

/* Build the page. HUB_OK with *out (malloc'd: free() it; the body starts
 * at *out + headroom) and *len (the body's length); HUB_ERR_INVAL (room),
 * HUB_ERR_DB, HUB_ERR_NOMEM. */
int hub_history_page(
	struct hc_store *st, const struct hub_history_query *q, unsigned char **out, size_t *len);

#endif
