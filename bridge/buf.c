/* SPDX-License-Identifier: MIT */
/*
 * Bounded growable buffer and JSON string escaping (see buf.h). Everything
 * the bridge sends to a client is built here, so one place guarantees that
 * what leaves as a WebSocket text frame is valid UTF-8 JSON.
 */
#include "buf.h"
#include "hc_err.h"
#include "hc_names.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void hbr_buf__init(struct hbr_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void hbr_buf__free(struct hbr_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void hbr_buf__reset(struct hbr_buf *b)
{
	b->len = 0;
	b->err = HUB_OK;
	if (b->p)
		b->p[0] = '\0';
}

static int grow(struct hbr_buf *b, size_t need)
{
	size_t cap;
	char *p;

	if (need > b->max) {
		b->err = HUB_ERR_TOOBIG;
		return b->err;
	}
	if (need + 1 <= b->cap)
		return HUB_OK;
	cap = b->cap ? b->cap : 256;
	while (cap < need + 1)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	p = realloc(b->p, cap);
	if (!p) {
		b->err = HUB_ERR_NOMEM;
		return b->err;
	}
	b->p = p;
	b->cap = cap;
	return HUB_OK;
}

int hbr_buf__put(struct hbr_buf *b, const void *p, size_t n)
{
	if (b->err)
		return b->err;
	if (n > b->max - b->len) {
		b->err = HUB_ERR_TOOBIG;
		return b->err;
	}
	if (grow(b, b->len + n))
		return b->err;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
	return HUB_OK;
}

void *hbr_buf__append(struct hbr_buf *b, size_t n)
{
	size_t at = b->len;
	if (b->err || n > b->max - b->len || grow(b, b->len + n))
		return NULL;
	b->len += n;
	b->p[b->len] = '\0';
	return b->p + at;
}

int hbr_buf__puts(struct hbr_buf *b, const char *s)
{
	return hbr_buf__put(b, s, strlen(s));
}

int hbr_buf__int(struct hbr_buf *b, long long v)
{
	char t[24];
	int n = snprintf(t, sizeof(t), "%lld", v);
	return hbr_buf__put(b, t, (size_t)n);
}

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0 if there is
 * none (the byte is then replaced). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	return hc_utf8_valid((const char *)s, len) ? len : 0;
}

int hbr_buf__json_str(struct hbr_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0;

	hbr_buf__put(b, "\"", 1);
	while (i < n && !b->err) {
		unsigned char c = u[i];
		size_t seq;
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			run++;
			i++;
			continue;
		}
		hbr_buf__put(b, s + i - run, run);
		run = 0;
		if (c == '"' || c == '\\') {
			char esc[2] = {'\\', (char)c};
			hbr_buf__put(b, esc, 2);
			i++;
		} else if (c < 0x20) {
			char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
			hbr_buf__put(b, esc, 6);
			i++;
		} else if ((seq = utf8_seq(u + i, n - i)) != 0) {
			hbr_buf__put(b, s + i, seq);
			i += seq;
		} else {
			hbr_buf__put(b, "\xef\xbf\xbd", 3); /* U+FFFD */
			i++;
		}
	}
	hbr_buf__put(b, s + i - run, run);
	return hbr_buf__put(b, "\"", 1);
}

struct cJSON *hbr_json_parse(const char *p, size_t n)
{
	const char *end = NULL;
	cJSON *j;

	if (!n || !hc_utf8_valid(p, n))
		return NULL;
	j = cJSON_ParseWithLengthOpts(p, n, &end, 0);
	if (!j)
		return NULL;
	/* cJSON stops after the first value: the rest must be whitespace */
	if (!end || end < p || (size_t)(end - p) > n)
		goto bad;
	for (size_t i = (size_t)(end - p); i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			goto bad;
	return j;
bad:
	cJSON_Delete(j);
	return NULL;
}

bool hbr_json_valid(const char *p, size_t n)
{
	cJSON *j = hbr_json_parse(p, n);
	cJSON_Delete(j);
	return j != NULL;
}

/* ---- a strict JSON reader that builds nothing ---- */

struct jr {
	const char *p;
	size_t n, i;
	int depth;
};

static void ws(struct jr *r)
{
	while (r->i < r->n && (r->p[r->i] == ' ' || r->p[r->i] == '\t' || r->p[r->i] == '\n' ||
				      r->p[r->i] == '\r'))
		r->i++;
}

static bool hexd(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool digit(char c)
{
	return c >= '0' && c <= '9';
}

/* The 4 hex digits at r->i as a UTF-16 code unit, or -1. */
static long hex4(struct jr *r)
{
	long v = 0;
	if (r->n - r->i < 4)
		return -1;
	for (int k = 0; k < 4; k++) {
		char c = r->p[r->i++];
		if (!hexd(c))
			return -1;
		v = v * 16 + (c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

static bool jstring(struct jr *r)
{
	r->i++; /* the opening quote */
	while (r->i < r->n) {
		unsigned char c = (unsigned char)r->p[r->i++];
		if (c == '"')
			return true;
		if (c < 0x20)
			return false;
		if (c != '\\')
			continue;
		if (r->i >= r->n)
			return false;
		c = (unsigned char)r->p[r->i++];
		if (c == 'u') {
			/* surrogates only as a high-low pair, as cJSON reads them
			 * (a lone one has no UTF-8 form: fuzz_sio found the
			 * reader accepting it where cJSON does not) */
			long u = hex4(r);
			if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
				return false;
			if (u >= 0xD800 && u <= 0xDBFF) {
				long lo;
				if (r->n - r->i < 2 || r->p[r->i] != '\\' || r->p[r->i + 1] != 'u')
					return false;
				r->i += 2;
				lo = hex4(r);
				if (lo < 0xDC00 || lo > 0xDFFF)
					return false;
			}
		} else if (!strchr("\"\\/bfnrt", c) || !c) {
			return false;
		}
	}
	return false;
}

static bool jnumber(struct jr *r)
{
	size_t start;
	if (r->i < r->n && r->p[r->i] == '-')
		r->i++;
	if (r->i >= r->n || !digit(r->p[r->i]))
		return false;
	if (r->p[r->i] == '0')
		r->i++;
	else
		while (r->i < r->n && digit(r->p[r->i]))
			r->i++;
	if (r->i < r->n && r->p[r->i] == '.') {
		start = ++r->i;
		while (r->i < r->n && digit(r->p[r->i]))
			r->i++;
		if (r->i == start)
			return false;
	}
	if (r->i < r->n && (r->p[r->i] == 'e' || r->p[r->i] == 'E')) {
		r->i++;
		if (r->i < r->n && (r->p[r->i] == '+' || r->p[r->i] == '-'))
			r->i++;
		start = r->i;
		while (r->i < r->n && digit(r->p[r->i]))
			r->i++;
		if (r->i == start)
			return false;
	}
	return true;
}

static bool jword(struct jr *r, const char *w)
{
	size_t l = strlen(w);
	if (r->n - r->i < l || memcmp(r->p + r->i, w, l))
		return false;
	r->i += l;
	return true;
}

static bool jvalue(struct jr *r);

static bool jcontainer(struct jr *r, char close, bool object)
{
	bool ok = false;
	if (++r->depth > 64)
		return false;
	r->i++;
	ws(r);
	if (r->i < r->n && r->p[r->i] == close) {
		r->i++;
		r->depth--;
		return true;
	}
	for (;;) {
		if (object) {
			ws(r);
			if (r->i >= r->n || r->p[r->i] != '"' || !jstring(r))
				break;
			ws(r);
			if (r->i >= r->n || r->p[r->i++] != ':')
				break;
		}
		if (!jvalue(r))
			break;
		ws(r);
		if (r->i >= r->n)
			break;
		if (r->p[r->i] == ',') {
			r->i++;
			continue;
		}
		if (r->p[r->i] == close) {
			r->i++;
			ok = true;
		}
		break;
	}
	r->depth--;
	return ok;
}

static bool jvalue(struct jr *r)
{
	ws(r);
	if (r->i >= r->n)
		return false;
	switch (r->p[r->i]) {
	case '{':
		return jcontainer(r, '}', true);
	case '[':
		return jcontainer(r, ']', false);
	case '"':
		return jstring(r);
	case 't':
		return jword(r, "true");
	case 'f':
		return jword(r, "false");
	case 'n':
		return jword(r, "null");
	default:
		return jnumber(r);
	}
}

bool hbr_json_check(const char *p, size_t n)
{
	struct jr r = {.p = p, .n = n};
	if (!n || !hc_utf8_valid(p, n) || !jvalue(&r))
		return false;
	ws(&r);
	return r.i == n;
}

bool hbr_json_element(const char *p, size_t n, int idx, size_t *off, size_t *len)
{
	struct jr r = {.p = p, .n = n};
	ws(&r);
	if (r.i >= n || p[r.i] != '[')
		return false;
	r.i++;
	for (int k = 0;; k++) {
		size_t start;
		ws(&r);
		start = r.i;
		if (r.i >= n || p[r.i] == ']' || !jvalue(&r))
			return false;
		*len = r.i - start;
		ws(&r);
		/* the value must end where JSON says it does: cJSON reads "01"
		 * as 1, where this reader stops after "0" (fuzz_sio found the
		 * span of such an element differing from the parsed value) */
		if (r.i >= n || (p[r.i] != ',' && p[r.i] != ']'))
			return false;
		if (k == idx) {
			*off = start;
			return true;
		}
		if (p[r.i] != ',')
			return false;
		r.i++;
	}
}
