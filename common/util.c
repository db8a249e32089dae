/* SPDX-License-Identifier: MIT */
/* Encoding, randomness, clocks and number parsing shared by every part. */
#include "hc_util.h"
#include "hc_err.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char b64url_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int encode(const char *alphabet, bool pad, const void *in, size_t n, char *out, size_t outsz)
{
	const unsigned char *p = in;
	size_t need = pad ? ((n + 2) / 3) * 4 : HC_B64URL_LEN(n);
	size_t o = 0, i = 0;

	if (need >= outsz || need > (size_t)INT32_MAX)
		return -1;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int b64val(char c, bool url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

static int decode(bool url, const char *in, size_t len, unsigned char *out, size_t outsz)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	while (len > 0 && in[len - 1] == '=')
		len--;
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = b64val(in[i], url);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsz)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	/* leftover bits must be zero: one encoding per byte string */
	if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (int)o;
}

int hc_b64url_encode(const void *in, size_t n, char *out, size_t outsz)
{
	return encode(b64url_chars, false, in, n, out, outsz);
}

int hc_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	return decode(true, in, len, out, outsz);
}

int hc_b64_encode(const void *in, size_t n, char *out, size_t outsz)
{
	return encode(b64_chars, true, in, n, out, outsz);
}

int hc_b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	return decode(false, in, len, out, outsz);
}

void hc_hex(const void *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = in;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int hc_random(void *out, size_t n)
{
	if (n > INT32_MAX || RAND_bytes(out, (int)n) != 1)
		return HUB_ERR_CRYPTO;
	return HUB_OK;
}

int hc_random_token(size_t nbytes, char *out, size_t outsz)
{
	unsigned char raw[64];
	int rc;

	if (nbytes > sizeof(raw))
		return HUB_ERR_INVAL;
	rc = hc_random(raw, nbytes);
	if (rc)
		return rc;
	rc = hc_b64url_encode(raw, nbytes, out, outsz) < 0 ? HUB_ERR_TOOBIG : HUB_OK;
	OPENSSL_cleanse(raw, sizeof(raw));
	return rc;
}

bool hc_ct_equal(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

bool hc_ct_streq(const char *a, const char *b)
{
	size_t lb = strlen(b);
	size_t la = strnlen(a, lb + 1);
	unsigned char diff = (unsigned char)(la != lb);
	/* compare lb bytes of b against a; a's bytes past its end are read as
	 * the NUL (la <= lb + 1 guaranteed by strnlen above) */
	for (size_t i = 0; i < lb; i++) {
		unsigned char ca = i < la ? (unsigned char)a[i] : 0;
		diff |= ca ^ (unsigned char)b[i];
	}
	return diff == 0;
}

void hc_sha256_hex(const void *in, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(in, n, md);
	hc_hex(md, sizeof(md), out);
}

int64_t hc_now(void)
{
	return (int64_t)time(NULL);
}

int64_t hc_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hc_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int hc_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	/* digits with an optional leading '-': no spaces, no '+' */
	if (!s || !*s || !((*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9')))
		return HUB_ERR_INVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end != '\0' || end == s || v < min || v > max)
		return HUB_ERR_INVAL;
	*out = v;
	return HUB_OK;
}

int hc_fmt(char *out, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(out, n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= n)
		return HUB_ERR_TOOBIG;
	return HUB_OK;
}
