/* SPDX-License-Identifier: MIT */
/*
 * Small helpers: base64url, hex, CSPRNG, clocks, checked number parsing,
 * constant-time compare. Pure or thread-safe.
 */
#ifndef HC_UTIL_H
#define HC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Base64url without padding. Encoded length of n bytes. */
#define HC_B64URL_LEN(n) (((n)*4 + 2) / 3)
/* Encode n bytes into out (size outsz, NUL-terminated). Returns the length
 * written (without NUL) or -1 if out is too small. */
int hc_b64url_encode(const void *in, size_t n, char *out, size_t outsz);
/* Decode len chars (base64url, no padding; '=' padding tolerated at the
 * end) into out (size outsz). Returns bytes written or -1 on bad input or
 * too small a buffer. */
int hc_b64url_decode(const char *in, size_t len, unsigned char *out, size_t outsz);
/* Standard base64 (with padding) for stored hashes. Same conventions. */
int hc_b64_encode(const void *in, size_t n, char *out, size_t outsz);
int hc_b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz);

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void hc_hex(const void *in, size_t n, char *out);

/* n bytes from the OS CSPRNG (OpenSSL RAND_bytes). HUB_OK or HUB_ERR_CRYPTO. */
int hc_random(void *out, size_t n);
/* A random token: nbytes of entropy, base64url-encoded into out. */
int hc_random_token(size_t nbytes, char *out, size_t outsz);

/* Constant-time equality of two byte strings of the same length. */
bool hc_ct_equal(const void *a, const void *b, size_t n);
/* Constant-time equality of two NUL-terminated strings (time depends only
 * on the length of b, the expected value). */
bool hc_ct_streq(const char *a, const char *b);

/* SHA-256 of n bytes, as 64 hex chars + NUL. */
void hc_sha256_hex(const void *in, size_t n, char out[65]);

/* Wall clock in seconds / milliseconds; monotonic milliseconds. */
int64_t hc_now(void);
int64_t hc_now_ms(void);
int64_t hc_mono_ms(void);

/* Parse a whole decimal string into [min,max]. HUB_OK or HUB_ERR_INVAL. */
int hc_parse_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* snprintf that reports truncation: HUB_OK or HUB_ERR_TOOBIG. */
int hc_fmt(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
