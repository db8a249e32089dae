/* SPDX-License-Identifier: MIT */
/*
 * The MQTT token: a compact JWT (RFC 7519) signed with HMAC (HS256 by
 * default, HS384/HS512 by config) over the key file. Claims: sub, sid, iat,
 * exp, typ ("mqtt" for users; "service" for the hub's own processes).
 *
 * Verification runs on the broker's thread for every CONNECT: no heap
 * allocation except cJSON's parse of the claims (skipped for the header when
 * it is the canonical one), a few microseconds (bench/token_bench).
 * A key may be shared by threads after loading; mint and verify are
 * thread-safe.
 */
#ifndef HC_TOKEN_H
#define HC_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define HC_TOKEN_MAX	 1024 /* longest token accepted or produced */
#define HC_TOKEN_SUB_MAX 64
#define HC_TOKEN_SID_MAX 64
/* Pass as now to hc_token_verify to skip the time checks (exp, nbf, iat):
 * only for re-checking a token that opened a live connection earlier. */
#define HC_TOKEN_ANY_TIME INT64_MIN

struct hc_token_key;

struct hc_token_claims {
	char sub[HC_TOKEN_SUB_MAX + 1];
	char sid[HC_TOKEN_SID_MAX + 1];
	char typ[16];
	int64_t iat, exp, nbf; /* nbf 0 when absent */
};

/*
 * Load the key at path; if it does not exist and create is set, make a new
 * random one (64 bytes, mode 0600, owned like its directory). A key file
 * readable by group or others is refused. alg is "HS256", "HS384" or
 * "HS512". On success *out is owned by the caller (hc_token_key_free).
 * Errors: HUB_ERR_IO, HUB_ERR_DENIED (mode), HUB_ERR_INVAL, with a line in err.
 */
int hc_token_key_load(const char *path, const char *alg, int create, struct hc_token_key **out,
	char *err, size_t errsz);
/* Key from raw bytes (tests, benchmarks). */
int hc_token_key_new(const void *key, size_t len, const char *alg, struct hc_token_key **out);
void hc_token_key_free(struct hc_token_key *key);

/* Mint a token into out (size outsz). sub and sid must be 1-64 bytes of
 * printable ASCII without '"' or '\'. HUB_OK, HUB_ERR_INVAL, HUB_ERR_TOOBIG,
 * HUB_ERR_CRYPTO. */
int hc_token_mint(const struct hc_token_key *key, const char *typ, const char *sub, const char *sid,
	int64_t iat, int64_t exp, char *out, size_t outsz);

/*
 * Verify token (len bytes, need not be NUL-terminated) at time now: format,
 * alg (only the key's; never "none"), signature (constant time), exp, nbf,
 * and typ == want_typ. Fills *claims on success.
 * Returns HUB_OK, HUB_ERR_INVAL (malformed), HUB_ERR_AUTH (bad alg or
 * signature, wrong typ), HUB_ERR_EXPIRED (exp passed or nbf ahead),
 * HUB_ERR_TOOBIG; *why (if not NULL) gets a short static reason for logs.
 */
int hc_token_verify(const struct hc_token_key *key, const char *token, size_t len, int64_t now,
	const char *want_typ, struct hc_token_claims *claims, const char **why);

#endif
