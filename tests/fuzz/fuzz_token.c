/* SPDX-License-Identifier: MIT */
/*
 * Fuzz hc_token_verify, the function the broker runs on every CONNECT
 * password. Every input is
 *   1. verified as a token, as is, with fixed HS256, HS384 and HS512 keys
 *      (must never crash, never succeed on anything not signed with the key);
 *   2. used as the recipe of a minted token and a one-byte mutation of it:
 *      the token verifies, the mutated one never does;
 *   3. split at its first '\n' into header and claims JSON, encoded and
 *      signed with the HS256 key here (as another JWT library would), so
 *      the fuzzer reaches the header and claims parsing behind the
 *      signature check; whatever verifies has sane claims.
 * A broken property aborts, so libFuzzer keeps the input as a crash.
 */
#include "hc_err.h"
#include "hc_token.h"
#include "hc_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW ((int64_t)1700000000)

static const char fuzz_key[] = "fuzz-key-0123456789abcdef0123456"; /* 32 bytes */
static struct hc_token_key *keys[3];
static const char *const algs[3] = {"HS256", "HS384", "HS512"};

static void die(const char *what, const char *tok, size_t len)
{
	fprintf(stderr, "fuzz_token: %s: '%.*s'\n", what, (int)len, tok);
	abort();
}

static void init(void)
{
	for (int i = 0; i < 3; i++)
		if (hc_token_key_new(fuzz_key, 32, algs[i], &keys[i]) != HUB_OK)
			abort();
}

static void check_result(
	int rc, const char *why, const struct hc_token_claims *c, const char *tok, size_t len)
{
	if (!why)
		die("no reason", tok, len);
	switch (rc) {
	case HUB_OK:
		if (strcmp(why, "ok") || !c->sub[0] || !c->sid[0] || strcmp(c->typ, "mqtt") ||
			c->exp <= NOW)
			die("accepted with bad claims", tok, len);
		if (memchr(tok, '.', len) == NULL)
			die("accepted without dots", tok, len);
		break;
	case HUB_ERR_INVAL:
	case HUB_ERR_AUTH:
	case HUB_ERR_EXPIRED:
	case HUB_ERR_TOOBIG:
		if (!strcmp(why, "ok") || c->sub[0] || c->exp)
			die("failure with ok reason or claims left", tok, len);
		break;
	default:
		die("unexpected return code", tok, len);
	}
}

/* Part 1: the input as a token. */
static void verify_raw(const uint8_t *data, size_t size)
{
	/* an exact-size heap copy: ASan catches any read past the end */
	char *tok = malloc(size ? size : 1);
	if (!tok)
		return;
	memcpy(tok, data, size);
	for (int i = 0; i < 3; i++) {
		struct hc_token_claims c;
		const char *why = NULL;
		int rc = hc_token_verify(keys[i], tok, size, NOW, "mqtt", &c, &why);
		check_result(rc, why, &c, tok, size);
		if (rc == HUB_OK && size > HC_TOKEN_MAX)
			die("accepted over HC_TOKEN_MAX", tok, size);
	}
	free(tok);
}

/* Part 2: mint from the input's bytes, mutate one byte, verify both. */
static void mint_and_mutate(const uint8_t *data, size_t size)
{
	char sub[HC_TOKEN_SUB_MAX + 1], sid[HC_TOKEN_SID_MAX + 1];
	char tok[HC_TOKEN_MAX + 1], bad[HC_TOKEN_MAX + 1];
	struct hc_token_claims c;
	const char *why = NULL;
	size_t n = 0, len, pos;
	int a, rc;
	uint8_t newc;

	if (size < 4)
		return;
	a = data[0] % 3;
	pos = (size_t)data[1] | (size_t)data[2] << 8;
	newc = data[3];
	data += 4;
	size -= 4;
	/* sub and sid: the printable bytes of the input, 1-64 of each */
	for (size_t i = 0; i < size && n < HC_TOKEN_SUB_MAX; i++) {
		uint8_t b = data[i];
		if (b > 0x20 && b < 0x7f && b != '"' && b != '\\')
			sub[n++] = (char)b;
	}
	if (n == 0)
		sub[n++] = 'u';
	sub[n] = '\0';
	snprintf(sid, sizeof(sid), "s%zu", size);

	rc = hc_token_mint(keys[a], "mqtt", sub, sid, NOW - 10, NOW + 600, tok, sizeof(tok));
	if (rc != HUB_OK)
		die("mint failed", sub, strlen(sub));
	len = strlen(tok);
	rc = hc_token_verify(keys[a], tok, len, NOW, "mqtt", &c, &why);
	if (rc != HUB_OK || strcmp(c.sub, sub) || strcmp(c.sid, sid))
		die("minted token refused", tok, len);
	/* the other algorithms' keys refuse it */
	for (int i = 0; i < 3; i++)
		if (i != a && hc_token_verify(keys[i], tok, len, NOW, "mqtt", &c, &why) == HUB_OK)
			die("token accepted under another alg", tok, len);
	/* any single-byte change, anywhere, breaks it */
	pos %= len;
	if ((uint8_t)tok[pos] == newc)
		return;
	memcpy(bad, tok, len + 1);
	bad[pos] = (char)newc;
	rc = hc_token_verify(keys[a], bad, len, NOW, "mqtt", &c, &why);
	if (rc == HUB_OK)
		die("mutated token accepted", bad, len);
	check_result(rc, why, &c, bad, len);
	/* and so does cutting it anywhere */
	rc = hc_token_verify(keys[a], tok, pos, NOW, "mqtt", &c, &why);
	if (rc == HUB_OK)
		die("truncated token accepted", tok, pos);
}

/* Part 3: header '\n' claims, signed here. */
static void sign_and_verify(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hl, pl;
	char tok[4 * HC_TOKEN_MAX];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	struct hc_token_claims c;
	const char *why = NULL;
	int n, o, rc;

	if (!nl)
		return;
	hl = (size_t)(nl - data);
	pl = size - hl - 1;
	if (HC_B64URL_LEN(hl) + HC_B64URL_LEN(pl) + 100 > sizeof(tok))
		return;
	n = hc_b64url_encode(data, hl, tok, sizeof(tok));
	if (n < 0)
		abort();
	o = n;
	tok[o++] = '.';
	n = hc_b64url_encode(nl + 1, pl, tok + o, sizeof(tok) - (size_t)o);
	if (n < 0)
		abort();
	o += n;
	if (!HMAC(EVP_sha256(), fuzz_key, 32, (const unsigned char *)tok, (size_t)o, mac, &maclen))
		abort();
	tok[o++] = '.';
	n = hc_b64url_encode(mac, maclen, tok + o, sizeof(tok) - (size_t)o);
	if (n < 0)
		abort();
	o += n;
	rc = hc_token_verify(keys[0], tok, (size_t)o, NOW, "mqtt", &c, &why);
	check_result(rc, why, &c, tok, (size_t)o);
	if (rc == HUB_OK) {
		if (strlen(c.sub) > HC_TOKEN_SUB_MAX || strlen(c.sid) > HC_TOKEN_SID_MAX ||
			c.exp > 1000000000000LL || c.iat < 0 || c.nbf < 0 ||
			(c.iat && c.iat > NOW + 60) || (c.nbf && c.nbf > NOW + 60))
			die("accepted with out-of-range claims", tok, (size_t)o);
		/* the other keys never take it */
		for (int i = 1; i < 3; i++)
			if (hc_token_verify(keys[i], tok, (size_t)o, NOW, "mqtt", &c, &why) ==
				HUB_OK)
				die("HS256-signed token accepted by another alg", tok, (size_t)o);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	if (!ready) {
		init();
		ready = 1;
	}
	verify_raw(data, size);
	mint_and_mutate(data, size);
	sign_and_verify(data, size);
	return 0;
}
