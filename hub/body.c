/* SPDX-License-Identifier: MIT */
/*
 * Request body collection and a strict chunked-transfer decoder
 * (RFC 9112 section 7.1): hex size, optional extensions, CRLF, data, CRLF;
 * a zero size ends the body after optional trailer lines. Sizes and line
 * lengths are bounded so no input can make the decoder loop or allocate.
 */
#include "body.h"
#include "hc_err.h"

#include <string.h>

#define LINE_MAX_BYTES	  1024 /* a chunk-size line or one trailer line */
#define TRAILER_MAX_LINES 32

enum {
	ST_SIZE,    /* hex digits of the chunk size */
	ST_EXT,	    /* chunk extension, up to CR */
	ST_SIZE_LF, /* LF after the size line */
	ST_DATA,    /* chunk data */
	ST_DATA_CR, /* CR after the data */
	ST_DATA_LF, /* LF after the data */
	ST_TRAILER, /* a trailer line (or the final empty line) */
	ST_TRAILER_LF,
	ST_DONE
};

void hub_body_init(struct hub_body *b, size_t max, bool chunked)
{
	memset(b, 0, sizeof(*b));
	hub_buf_init(&b->buf, max);
	b->chunked = chunked;
	b->state = ST_SIZE;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int feed_chunked(struct hub_body *b, const unsigned char *p, size_t len)
{
	size_t i = 0;
	int rc;

	while (i < len && b->state != ST_DONE) {
		unsigned char c = p[i];

		switch (b->state) {
		case ST_SIZE:
			if (hexval(c) >= 0) {
				/* 8 hex digits already exceed any max we allow */
				if (++b->digits > 8)
					return HUB_ERR_TOOBIG;
				b->chunk_left = b->chunk_left * 16 + (uint64_t)hexval(c);
				i++;
				break;
			}
			if (!b->digits)
				return HUB_ERR_INVAL;
			if (b->chunk_left > b->buf.max - b->buf.len)
				return HUB_ERR_TOOBIG;
			b->line = (size_t)b->digits;
			b->state = c == '\r' ? ST_SIZE_LF : ST_EXT;
			if (c != '\r' && c != ';' && c != ' ' && c != '\t')
				return HUB_ERR_INVAL;
			i++;
			break;
		case ST_EXT:
			if (++b->line > LINE_MAX_BYTES)
				return HUB_ERR_INVAL;
			if (c == '\r')
				b->state = ST_SIZE_LF;
			else if (c == '\n' || c == 0)
				return HUB_ERR_INVAL;
			i++;
			break;
		case ST_SIZE_LF:
			if (c != '\n')
				return HUB_ERR_INVAL;
			i++;
			b->digits = 0;
			b->line = 0;
			if (b->chunk_left == 0) {
				b->state = ST_TRAILER;
				b->digits = 0; /* now counts trailer lines */
			} else {
				b->state = ST_DATA;
			}
			break;
		case ST_DATA: {
			size_t n = len - i;
			if (n > b->chunk_left)
				n = (size_t)b->chunk_left;
			rc = hub_buf_append(&b->buf, p + i, n);
			if (rc)
				return rc;
			b->chunk_left -= n;
			i += n;
			if (!b->chunk_left)
				b->state = ST_DATA_CR;
			break;
		}
		case ST_DATA_CR:
			if (c != '\r')
				return HUB_ERR_INVAL;
			b->state = ST_DATA_LF;
			i++;
			break;
		case ST_DATA_LF:
			if (c != '\n')
				return HUB_ERR_INVAL;
			b->state = ST_SIZE;
			b->chunk_left = 0;
			b->digits = 0;
			i++;
			break;
		case ST_TRAILER:
			if (c == '\r') {
				b->state = ST_TRAILER_LF;
			} else if (c == '\n' || c == 0 || ++b->line > LINE_MAX_BYTES) {
				return HUB_ERR_INVAL;
			}
			i++;
			break;
		case ST_TRAILER_LF:
			if (c != '\n')
				return HUB_ERR_INVAL;
			i++;
			if (b->line == 0) {
				b->state = ST_DONE;
				b->complete = true;
			} else {
				/* trailer fields are read and dropped */
				if (++b->digits > TRAILER_MAX_LINES)
					return HUB_ERR_INVAL;
				b->line = 0;
				b->state = ST_TRAILER;
			}
			break;
		default:
			return HUB_ERR_INVAL;
		}
	}
	return HUB_OK;
}

int hub_body_feed(struct hub_body *b, const void *data, size_t len)
{
	if (!b->chunked)
		return hub_buf_append(&b->buf, data, len);
	if (b->complete)
		return HUB_OK;
	return feed_chunked(b, data, len);
}

void hub_body_free(struct hub_body *b)
{
	hub_buf_free(&b->buf, true);
}
