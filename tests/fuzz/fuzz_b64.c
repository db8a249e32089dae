/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the base64url and base64 codecs (tokens, key files, stored password
 * hashes all go through them). Properties, for both alphabets:
 *   - decode(encode(x)) == x, and the encoded length is the documented one;
 *   - decoding is canonical: whenever decode(s) succeeds, encode(decode(s))
 *     is s without its trailing '=' (one byte string, one encoding);
 *   - a too-small output buffer is refused, never overrun (exact-size heap
 *     buffers, so ASan sees a single byte too many).
 */
#include "hc_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*enc_fn)(const void *, size_t, char *, size_t);
typedef int (*dec_fn)(const char *, size_t, unsigned char *, size_t);

static void die(const char *what, const char *alpha, size_t n)
{
	fprintf(stderr, "fuzz_b64 (%s): %s (input %zu bytes)\n", alpha, what, n);
	abort();
}

static size_t enc_len(int pad, size_t n)
{
	return pad ? ((n + 2) / 3) * 4 : HC_B64URL_LEN(n);
}

static void round_trip(
	enc_fn enc, dec_fn dec, int pad, const char *alpha, const uint8_t *data, size_t size)
{
	size_t want = enc_len(pad, size);
	char *e = malloc(want + 1);
	unsigned char *d = malloc(size ? size : 1);
	int n;
	if (!e || !d)
		abort();
	/* one byte short of room for the NUL: refused */
	if (enc(data, size, e, want) != -1)
		die("encode into a buffer without room for the NUL", alpha, size);
	n = enc(data, size, e, want + 1);
	if (n != (int)want || strlen(e) != want)
		die("encoded length", alpha, size);
	n = dec(e, want, d, size);
	if (n != (int)size || memcmp(d, data, size) != 0)
		die("decode(encode(x)) != x", alpha, size);
	if (size > 0 && dec(e, want, d, size - 1) != -1)
		die("decode into a buffer one byte short", alpha, size);
	free(e);
	free(d);
}

static void canonical(enc_fn enc, dec_fn dec, const char *alpha, const uint8_t *data, size_t size)
{
	size_t cap = size; /* decoded output is never longer than the input */
	unsigned char *d = malloc(cap ? cap : 1);
	char *s = malloc(size ? size : 1);
	char *e;
	size_t slen = size;
	int n;
	if (!d || !s)
		abort();
	memcpy(s, data, size);
	n = dec(s, size, d, cap);
	if (n >= 0) {
		if ((size_t)n > size)
			die("decoded more bytes than characters", alpha, size);
		while (slen > 0 && s[slen - 1] == '=')
			slen--;
		e = malloc(enc_len(1, (size_t)n) + 1);
		if (!e)
			abort();
		enc(d, (size_t)n, e, enc_len(1, (size_t)n) + 1);
		{
			size_t elen = strlen(e);
			while (elen > 0 && e[elen - 1] == '=')
				elen--;
			if (elen != slen || memcmp(e, s, slen) != 0)
				die("accepted a non-canonical encoding", alpha, size);
		}
		free(e);
		/* the exact size is enough, one less is not */
		if (dec(s, size, d, (size_t)n) != n)
			die("exact-size decode failed", alpha, size);
		if (n > 0 && dec(s, size, d, (size_t)n - 1) != -1)
			die("decode overran a short buffer", alpha, size);
	}
	free(d);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	round_trip(hc_b64url_encode, hc_b64url_decode, 0, "base64url", data, size);
	round_trip(hc_b64_encode, hc_b64_decode, 1, "base64", data, size);
	canonical(hc_b64url_encode, hc_b64url_decode, "base64url", data, size);
	canonical(hc_b64_encode, hc_b64_decode, "base64", data, size);
	return 0;
}
