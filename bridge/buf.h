/* SPDX-License-Identifier: MIT */
/*
 * A growable byte buffer with a maximum given at creation, and the JSON
 * string escaping the bridge encodes packets with. Errors are sticky: once
 * a put fails (over the maximum, out of memory), b->err stays set and
 * later puts do nothing, so callers check once at the end.
 */
#ifndef HBR_BUF_H
#define HBR_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct hbr_buf {
	char *p; /* owned; NUL-terminated when not NULL */
	size_t len, cap, max;
	int err; /* HUB_OK, HUB_ERR_TOOBIG or HUB_ERR_NOMEM */
};

/* Empty buffer that may grow to max bytes. Allocates nothing yet. */
void hbr_buf__init(struct hbr_buf *b, size_t max);
void hbr_buf__free(struct hbr_buf *b);
/* Forget the contents, keep the memory. */
void hbr_buf__reset(struct hbr_buf *b);
int hbr_buf__put(struct hbr_buf *b, const void *p, size_t n);
int hbr_buf__puts(struct hbr_buf *b, const char *s);
/* Append n bytes left for the caller to fill: their address (valid until
 * the next put), or NULL (over the maximum, out of memory). */
void *hbr_buf__append(struct hbr_buf *b, size_t n);
/* Decimal integer. */
int hbr_buf__int(struct hbr_buf *b, long long v);
/* s (n bytes) as a JSON string with quotes. Invalid UTF-8 bytes become
 * U+FFFD, so the result is always valid UTF-8 JSON. */
int hbr_buf__json_str(struct hbr_buf *b, const char *s, size_t n);

/* Whether n bytes at p are exactly one JSON value (whitespace around it
 * allowed) in valid UTF-8. */
bool hbr_json_valid(const char *p, size_t n);
/* The same check, keeping the parse: the value (caller frees with
 * cJSON_Delete) or NULL. */
struct cJSON *hbr_json_parse(const char *p, size_t n);
/* The same check without building anything (no allocation): a strict
 * RFC 8259 reader, nesting at most 64 deep (deeper counts as invalid).
 * Whatever it accepts, cJSON and JSON.parse accept too. */
bool hbr_json_check(const char *p, size_t n);
/* In a JSON array (p, n bytes), where element idx is: its offset and
 * length (without surrounding whitespace). false if there is none, or if
 * the array up to and including that element is not strict JSON (then a
 * lenient parser's value of the element may differ from these bytes). */
bool hbr_json_element(const char *p, size_t n, int idx, size_t *off, size_t *len);

#endif
