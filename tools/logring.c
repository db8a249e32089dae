/* SPDX-License-Identifier: MIT */
/*
 * hub-logpipe's ring (logring.h): append with line-granular dropping,
 * contiguous peek for the writer, the drop notice.
 */
#include "logring.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hc_err.h"

int lp_ring__init(struct lp_ring *r, size_t cap)
{
	memset(r, 0, sizeof(*r));
	if (cap < LP_RING_MIN)
		return HUB_ERR_INVAL;
	r->buf = malloc(cap);
	if (!r->buf)
		return HUB_ERR_NOMEM;
	r->cap = cap;
	return HUB_OK;
}

void lp_ring__free(struct lp_ring *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

static size_t room(const struct lp_ring *r)
{
	return r->cap - r->len;
}

/* Caller checked n <= room(r). */
static void copy_in(struct lp_ring *r, const char *data, size_t n)
{
	size_t tail = (r->head + r->len) % r->cap;
	size_t first = r->cap - tail;

	if (n == 0)
		return;
	if (first > n)
		first = n;
	memcpy(r->buf + tail, data, first);
	memcpy(r->buf, data + first, n - first);
	r->len += n;
	r->midline = data[n - 1] != '\n';
}

static uint64_t newlines(const char *data, size_t n)
{
	uint64_t k = 0;
	const char *p = data, *end = data + n;

	while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		k++;
		p++;
	}
	return k;
}

static void drop(struct lp_ring *r, const char *data, size_t n)
{
	uint64_t k = newlines(data, n);

	if (n == 0)
		return;
	r->midline = data[n - 1] != '\n';
	r->drop_lines += k;
	r->drop_bytes += n;
	r->lost_lines += k;
	r->lost_bytes += n;
}

/* The notice ending a drop; fits because LP_RING_RESERVE stayed free. */
static void notice(struct lp_ring *r)
{
	char line[LP_RING_RESERVE];
	int n = snprintf(line, sizeof(line),
		"%s[hub-logpipe] %llu lines (%llu bytes) dropped: the log file did not keep up\n",
		r->drop_midline ? "\n" : "", (unsigned long long)r->drop_lines,
		(unsigned long long)r->drop_bytes);

	if (n > 0 && (size_t)n < sizeof(line) && (size_t)n <= room(r))
		copy_in(r, line, (size_t)n);
	r->dropping = false;
	r->drop_lines = r->drop_bytes = 0;
}

void lp_ring__put(struct lp_ring *r, const char *data, size_t n)
{
	size_t fit;

	while (n > 0) {
		if (r->dropping) {
			/* resume only at a line boundary, and only once the
			 * writer freed half the ring (no flapping per line) */
			size_t upto = 0;
			if (r->midline) {
				const char *nl = memchr(data, '\n', n);
				upto = nl ? (size_t)(nl + 1 - data) : n + 1;
			}
			if (upto > n || room(r) < r->cap / 2) {
				drop(r, data, n);
				return;
			}
			drop(r, data, upto);
			data += upto;
			n -= upto;
			notice(r);
			continue;
		}
		fit = room(r) > LP_RING_RESERVE ? room(r) - LP_RING_RESERVE : 0;
		if (n <= fit) {
			copy_in(r, data, n);
			return;
		}
		/* keep the lines that fit whole, drop from the first that
		 * does not */
		{
			const char *nl = fit ? memrchr(data, '\n', fit) : NULL;
			if (nl) {
				size_t k = (size_t)(nl - data) + 1;
				copy_in(r, data, k);
				data += k;
				n -= k;
			}
		}
		r->dropping = true;
		r->drop_midline = r->midline;
	}
}

void lp_ring__finish(struct lp_ring *r)
{
	if (r->dropping)
		notice(r);
}

size_t lp_ring__peek(const struct lp_ring *r, const char **data)
{
	size_t first = r->cap - r->head;

	*data = r->buf + r->head;
	return r->len < first ? r->len : first;
}

void lp_ring__consume(struct lp_ring *r, size_t n)
{
	if (n > r->len)
		n = r->len;
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (r->len == 0)
		r->head = 0;
}
