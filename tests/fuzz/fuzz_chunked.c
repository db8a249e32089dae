/* SPDX-License-Identifier: MIT */
/*
 * Fuzz hubd's chunked request body decoder (hub/body.c), which reads
 * Transfer-Encoding: chunked bodies of unauthenticated requests as lws
 * hands them over. Input: one byte of split seed, then the raw body.
 * Properties: the decoded body never passes its maximum; the result (the
 * error, or the bytes and completeness) does not depend on how the input
 * is cut into callbacks; a complete body matches a reference decoder
 * written from RFC 9112 7.1.
 */
#include "body.h"
#include "hc_err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX 4096

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "property failed: %s (%s:%d)\n", #cond, __FILE__,          \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct result {
	int rc;
	int complete;
	size_t len;
	unsigned char data[MAX];
};

static void decode(const uint8_t *p, size_t n, unsigned seed, struct result *r)
{
	struct hub_body b;
	size_t i = 0;

	memset(r, 0, sizeof(*r));
	hub_body_init(&b, MAX, true);
	while (i < n) {
		size_t k = seed ? 1 + (seed % 7) : n - i;
		if (k > n - i)
			k = n - i;
		seed = seed * 1103515245u + 12345u;
		r->rc = hub_body_feed(&b, p + i, k);
		i += k;
		if (r->rc)
			break;
	}
	CHECK(b.buf.len <= MAX);
	r->complete = b.complete;
	r->len = b.buf.len;
	if (b.buf.len)
		memcpy(r->data, b.buf.data, b.buf.len);
	hub_body_free(&b);
}

static int hexv(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reference: returns 1 and the body when p is a complete, valid chunked
 * body (possibly followed by anything) within MAX, else 0. */
static int ref(const uint8_t *p, size_t n, unsigned char *out, size_t *olen)
{
	size_t i = 0, o = 0;
	for (;;) {
		uint64_t size = 0;
		int digits = 0;
		while (i < n && hexv(p[i]) >= 0) {
			if (++digits > 8)
				return 0;
			size = size * 16 + (uint64_t)hexv(p[i++]);
		}
		if (!digits || i >= n)
			return 0;
		/* extensions up to CR, no LF or NUL inside */
		while (i < n && p[i] != '\r') {
			if (p[i] == '\n' || p[i] == 0)
				return 0;
			i++;
		}
		if (i + 1 >= n || p[i + 1] != '\n')
			return 0;
		i += 2;
		if (size == 0)
			break;
		if (size > MAX - o || size > n - i)
			return 0;
		memcpy(out + o, p + i, size);
		o += size;
		i += size;
		if (i + 1 >= n || p[i] != '\r' || p[i + 1] != '\n')
			return 0;
		i += 2;
	}
	/* trailer lines, then the empty line */
	for (;;) {
		size_t start = i;
		while (i < n && p[i] != '\r') {
			if (p[i] == '\n' || p[i] == 0)
				return 0;
			i++;
		}
		if (i + 1 >= n || p[i + 1] != '\n')
			return 0;
		i += 2;
		if (i - 2 == start)
			break;
	}
	*olen = o;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result whole, cut;
	static unsigned char want[MAX];
	size_t wlen = 0;
	int ok;

	if (size < 1 || size > 3 * MAX)
		return 0;
	decode(data + 1, size - 1, 0, &whole);
	decode(data + 1, size - 1, data[0] | 1u, &cut);
	CHECK(whole.rc == cut.rc);
	CHECK(whole.complete == cut.complete);
	CHECK(whole.len == cut.len && !memcmp(whole.data, cut.data, whole.len));
	ok = ref(data + 1, size - 1, want, &wlen);
	if (whole.rc == HUB_OK && whole.complete) {
		CHECK(ok);
		CHECK(wlen == whole.len && !memcmp(want, whole.data, wlen));
	}
	if (ok && whole.rc == HUB_OK)
		CHECK(whole.complete);
	return 0;
}
