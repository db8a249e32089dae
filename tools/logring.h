/* SPDX-License-Identifier: MIT */
/*
 * The memory between hub-logpipe's reader (a service's stdout/stderr pipe)
 * and its writer (the log file): a byte ring of fixed capacity. The reader
 * never waits for the writer. When the disk does not keep up and the ring
 * is full, data is dropped by whole lines, counted, and once the writer has
 * caught up (half the ring free) one line in the ring says how much was
 * dropped:
 *   [hub-logpipe] 1234 lines (98765 bytes) dropped: the log file did not keep up
 * Room for that line is always kept free, so it can always be written.
 *
 * Not thread-safe: the caller holds one lock around every call. Data
 * returned by lp_ring__peek lies outside the region lp_ring__put writes, so
 * the writer may copy it out without the lock until lp_ring__consume.
 */
#ifndef LP_RING_H
#define LP_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* bytes always kept free for the drop notice; a ring holds at least 4x */
#define LP_RING_RESERVE 160
#define LP_RING_MIN	(4 * LP_RING_RESERVE)

struct lp_ring {
	char *buf;	     /* owned, cap bytes */
	size_t cap;	     /* capacity */
	size_t head;	     /* oldest byte held */
	size_t len;	     /* bytes held */
	bool midline;	     /* the last byte put (kept or dropped) was not a newline */
	bool dropping;	     /* dropping until a newline with room after it */
	bool drop_midline;   /* the ring was mid-line when the drop began */
	uint64_t drop_lines; /* newlines dropped in the current drop */
	uint64_t drop_bytes; /* bytes dropped in the current drop */
	uint64_t lost_lines; /* every newline ever dropped */
	uint64_t lost_bytes; /* every byte ever dropped */
};

/* An empty ring of cap (>= LP_RING_MIN) bytes. HUB_OK, HUB_ERR_INVAL,
 * HUB_ERR_NOMEM. */
int lp_ring__init(struct lp_ring *r, size_t cap);
void lp_ring__free(struct lp_ring *r);

/* Append n bytes read from the service (borrowed: copied). Never blocks and
 * never fails: what does not fit is dropped by whole lines and counted. */
void lp_ring__put(struct lp_ring *r, const char *data, size_t n);

/* End of input: a drop still under way is reported by its notice now. */
void lp_ring__finish(struct lp_ring *r);

/* The oldest bytes held, as one contiguous span (fewer than len when the
 * data wraps): *data points into the ring until lp_ring__consume. Returns
 * the span's length (0 when empty). */
size_t lp_ring__peek(const struct lp_ring *r, const char **data);

/* Forget the n (<= the last peek's length) oldest bytes. */
void lp_ring__consume(struct lp_ring *r, size_t n);

#endif
