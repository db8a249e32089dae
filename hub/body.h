/* SPDX-License-Identifier: MIT */
/*
 * Request bodies: collected into a bounded buffer as lws hands them over,
 * either as plain bytes (Content-Length) or de-chunked (Transfer-Encoding:
 * chunked, which lws passes through raw). The limit holds in both cases
 * while the bytes arrive, so an oversized body is refused after at most
 * max bytes were kept, never buffered whole.
 */
#ifndef HUB_BODY_H
#define HUB_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct hub_body {
	struct hub_buf buf;  /* the decoded body */
	bool chunked;	     /* decoding Transfer-Encoding: chunked */
	bool complete;	     /* chunked: the last chunk and trailers were seen */
	int state;	     /* chunked decoder state */
	uint64_t chunk_left; /* bytes left in the current chunk */
	size_t line;	     /* bytes of the current size or trailer line */
	int digits;	     /* hex digits of the current size line */
};

/* Prepare to collect at most max bytes. */
void hub_body_init(struct hub_body *b, size_t max, bool chunked);
/*
 * Feed len bytes as received. HUB_OK; HUB_ERR_TOOBIG when the body would
 * pass max; HUB_ERR_INVAL for broken chunk framing; HUB_ERR_NOMEM. After
 * an error the body must not be fed again. For chunked bodies, bytes after
 * the end (b->complete) are ignored.
 */
int hub_body_feed(struct hub_body *b, const void *data, size_t len);
/* Release (and wipe: bodies carry passwords) the collected bytes. */
void hub_body_free(struct hub_body *b);

#endif
