/* SPDX-License-Identifier: MIT */
/* Bounded growable buffer: doubles up to its maximum, never past it. */
#include "buf.h"
#include "hc_err.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hub_buf_init(struct hub_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

/* Grow so that need bytes (plus the NUL) fit. */
static int grow(struct hub_buf *b, size_t need)
{
	size_t cap;
	char *p;

	if (need > b->max)
		return HUB_ERR_TOOBIG;
	if (need < b->cap)
		return HUB_OK;
	cap = b->cap ? b->cap : 256;
	while (cap <= need)
		cap = cap > b->max / 2 ? b->max + 1 : cap * 2;
	p = malloc(cap);
	if (!p)
		return HUB_ERR_NOMEM;
	if (b->data) {
		memcpy(p, b->data, b->len + 1);
		/* the old block may have held a password: never leave it behind */
		OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	} else {
		p[0] = '\0';
	}
	b->data = p;
	b->cap = cap;
	return HUB_OK;
}

int hub_buf_reserve(struct hub_buf *b, size_t n)
{
	if (n > b->max - b->len)
		return HUB_ERR_TOOBIG;
	return grow(b, b->len + n);
}

int hub_buf_append(struct hub_buf *b, const void *p, size_t n)
{
	int rc;

	if (n > b->max - b->len)
		return HUB_ERR_TOOBIG;
	rc = grow(b, b->len + n);
	if (rc)
		return rc;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return HUB_OK;
}

int hub_buf_puts(struct hub_buf *b, const char *s)
{
	return hub_buf_append(b, s, strlen(s));
}

int hub_buf_printf(struct hub_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return HUB_ERR_INVAL;
	if ((size_t)n > b->max - b->len)
		return HUB_ERR_TOOBIG;
	rc = grow(b, b->len + (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return HUB_OK;
}

void hub_buf_free(struct hub_buf *b, bool wipe)
{
	if (b->data && wipe)
		OPENSSL_cleanse(b->data, b->cap);
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
