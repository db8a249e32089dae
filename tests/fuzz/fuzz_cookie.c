/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the browser-facing header parsers hubd and hub-bridge share
 * (common/web.c) on bytes from unauthenticated clients: the Cookie header
 * (hc_cookie_find) against a reference written from the rule, and the
 * Origin/Host canonicaliser and comparisons. Input: a header value; for the
 * origin checks the part before the first newline is the Origin and the
 * rest the Host. Properties:
 *
 *  - hc_cookie_find agrees with the reference: the first hub_sid= item
 *    (items split at ';' and ','), its value cut of trailing blanks, found
 *    only when that value is exactly HC_SECRET_LEN base64url characters;
 *  - hc_origin_canon is idempotent, lower case, without a default port;
 *  - hc_origin_same(o, h) implies hc_origin_same_host(o, h).
 */
#include "hc_web.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "property failed: %s (%s:%d)\n", #cond, __FILE__,          \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static int b64url(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/* The rule, written out plainly. */
static int ref_cookie(const char *h, char out[HC_SECRET_LEN + 1])
{
	const char *p = h;
	while (*p) {
		const char *start, *end, *v;
		size_t len;
		while (*p == ' ' || *p == '\t' || *p == ';' || *p == ',')
			p++;
		start = p;
		while (*p && *p != ';' && *p != ',')
			p++;
		end = p;
		if ((size_t)(end - start) <= 8 || memcmp(start, "hub_sid=", 8) != 0)
			continue;
		v = start + 8;
		len = (size_t)(end - v);
		while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
			len--;
		if (len != HC_SECRET_LEN)
			return 0;
		for (size_t i = 0; i < len; i++)
			if (!b64url((unsigned char)v[i]))
				return 0;
		memcpy(out, v, len);
		out[len] = '\0';
		return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s, *nl;
	char got[HC_SECRET_LEN + 1], want[HC_SECRET_LEN + 1];
	char c1[HC_ORIGIN_MAX + 16], c2[HC_ORIGIN_MAX + 16];
	int a, b;

	if (size > 8192)
		return 0;
	s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0'; /* headers reach the parsers as C strings */

	a = hc_cookie_find(s, got);
	b = ref_cookie(s, want);
	CHECK(a == b);
	if (a)
		CHECK(strcmp(got, want) == 0);

	nl = strchr(s, '\n');
	if (nl)
		*nl = '\0';
	if (hc_origin_canon(s, strlen(s), c1, sizeof(c1))) {
		CHECK(hc_origin_canon(c1, strlen(c1), c2, sizeof(c2)));
		CHECK(strcmp(c1, c2) == 0);
		for (const char *p = c1; *p; p++)
			CHECK(!(*p >= 'A' && *p <= 'Z'));
		CHECK(!(strncmp(c1, "http://", 7) == 0 && strlen(c1) > 3 &&
			!strcmp(c1 + strlen(c1) - 3, ":80")));
	}
	if (nl && hc_origin_same(s, nl + 1, NULL))
		CHECK(hc_origin_same_host(s, nl + 1));
	free(s);
	return 0;
}
