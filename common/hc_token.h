/* SPDX-License-Identifier: MIT */
/*
 * The MQTT token: a compact JWT (RFC 7519) signed with HMAC (HS256 by
 * default, HS384/HS512 by config) over the key file. Claims: sub, sid, iat,
 * exp, typ ("mqtt" for users; "service" for the hub's own processes), and
 * addr (optional): the client address of a browser whose connection hubd's
 * WebSocket front relays to the broker (hub/front.c). Only key holders mint
 * tokens, and the front's tokens never leave the front-to-broker link, so
 * the plugin can take addr for the connection's address (its per-address
 * limits and log lines) instead of the front's loopback address.
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

#define HC_TOKEN_MAX	  1024 /* longest token accepted or produced */
#define HC_TOKEN_SUB_MAX  64
#define HC_TOKEN_SID_MAX  64
#define HC_TOKEN_ADDR_MAX 45 /* longest textual IPv6 address (INET6_ADDRSTRLEN - 1) */
/* Pass as now to hc_token_verify to skip the time checks (exp, nbf, iat):
 * only for re-checking a token that opened a live connection earlier. */
#define HC_TOKEN_ANY_TIME INT64_MIN

struct hc_token_key;

struct hc_token_claims {
	char sub[HC_TOKEN_SUB_MAX + 1];
	char sid[HC_TOKEN_SID_MAX + 1];
	char typ[16];
	char addr[HC_TOKEN_ADDR_MAX + 1]; /* "" when absent */
	int64_t iat, exp, nbf;		  /* nbf 0 when absent */
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
/* The same with an addr claim (NULL or "" for none): 1-45 characters of
 * [0-9A-Fa-f.:], a textual IPv4 or IPv6 address. */
int hc_token_mint_addr(const struct hc_token_key *key, const char *typ, const char *sub,
	const char *sid, int64_t iat, int64_t exp, const char *addr, char *out, size_t outsz);

/* A tag only holders of the key can make: base64url(HMAC(key, label)),
 * for marking requests between the hub's own processes (hubd's front adds
 * one to what it forwards to hub-bridge, which then trusts its
 * X-Forwarded-For). label: 1-64 bytes. out needs 90 bytes (HS512).
 * HUB_OK, HUB_ERR_INVAL, HUB_ERR_TOOBIG, HUB_ERR_CRYPTO. */
int hc_token_key_tag(const struct hc_token_key *key, const char *label, char *out, size_t outsz);
#define HC_TOKEN_TAG_MAX 90

/*
 * Verify token (len bytes, need not be NUL-terminated) at time now: format,
 * alg (only the key's; never "none"), signature (constant time), exp, nbf,
 * and typ == want_typ. Fills *claims on success. An addr claim, when
 * present, must be a well-formed address (as hc_token_mint_addr takes it).
 * Returns HUB_OK, HUB_ERR_INVAL (malformed), HUB_ERR_AUTH (bad alg or
 * signature, wrong typ), HUB_ERR_EXPIRED (exp passed or nbf ahead),
 * HUB_ERR_TOOBIG; *why (if not NULL) gets a short static reason for logs.
 */
int hc_token_verify(const struct hc_token_key *key, const char *token, size_t len, int64_t now,
	const char *want_typ, struct hc_token_claims *claims, const char **why);

#endif
