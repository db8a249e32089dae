/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer with a maximum given at creation, for anything
 * hubd builds or collects from the network (request bodies, /metrics text).
 * Not thread-safe; one owner.
 */
#ifndef HUB_BUF_H
#define HUB_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct hub_buf {
	char *data; /* owned; NUL-terminated after every append */
	size_t len; /* bytes used, without the NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* the most len may reach */
};

/* Set up an empty buffer that will never hold more than max bytes. */
void hub_buf_init(struct hub_buf *b, size_t max);
/* Make room for len + n bytes up front (a declared Content-Length).
 * HUB_OK, HUB_ERR_TOOBIG (over max), HUB_ERR_NOMEM. */
int hub_buf_reserve(struct hub_buf *b, size_t n);
/* Append n bytes. HUB_OK, HUB_ERR_TOOBIG (buffer unchanged), HUB_ERR_NOMEM. */
int hub_buf_append(struct hub_buf *b, const void *p, size_t n);
int hub_buf_puts(struct hub_buf *b, const char *s);
/* Formatted append; same results. */
int hub_buf_printf(struct hub_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Free the storage and leave an empty buffer with the same max. When wipe
 * is set the bytes are cleansed first (bodies that held a password). */
void hub_buf_free(struct hub_buf *b, bool wipe);

#endif
