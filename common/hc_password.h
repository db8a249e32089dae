/* SPDX-License-Identifier: MIT */
/*
 * Password hashing with scrypt (OpenSSL EVP_KDF). Stored form:
 *   $scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt b64url>$<key b64url>
 * so the cost can be raised later and old hashes still verify.
 * These calls are slow on purpose (hundreds of ms at the default cost):
 * never call them on an event loop thread. Thread-safe.
 */
#ifndef HC_PASSWORD_H
#define HC_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>

#define HC_PASSWORD_HASH_MAX 128
#define HC_PASSWORD_MAX	     1024 /* longer passwords are refused, not cut */

struct hc_scrypt_params {
	int log2n, r, p;
};

/* Hash password (len bytes) with a fresh 16-byte salt into out (size
 * outsz >= HC_PASSWORD_HASH_MAX). HUB_OK, HUB_ERR_INVAL (bad params or
 * password too long), HUB_ERR_CRYPTO. */
int hc_password_hash(const char *password, size_t len, const struct hc_scrypt_params *params,
	char *out, size_t outsz);

/* Check password against a stored hash, in constant time over the key.
 * HUB_OK on match, HUB_ERR_AUTH on mismatch, HUB_ERR_INVAL if the stored
 * string is malformed, HUB_ERR_CRYPTO on library failure. */
int hc_password_verify(const char *password, size_t len, const char *stored);

/* Spend the same time as a verify at these params (for unknown users, so
 * response time does not tell whether a username exists). */
void hc_password_dummy_verify(
	const char *password, size_t len, const struct hc_scrypt_params *params);

/* Whether stored was made with different (older) parameters. */
bool hc_password_needs_rehash(const char *stored, const struct hc_scrypt_params *params);

/* Parse the parameters of a stored hash. HUB_OK or HUB_ERR_INVAL. */
int hc_password_params(const char *stored, struct hc_scrypt_params *out);

#endif
