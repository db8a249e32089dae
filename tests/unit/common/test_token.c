/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/token.c: the MQTT token (HS256/384/512 JWT). Tokens
 * with arbitrary headers and claims are built here with OpenSSL's own HMAC,
 * which also checks that what hc_token_mint produces is a standard JWT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_err.h"
#include "hc_token.h"
#include "hc_util.h"
#include "testutil.h"

#include <limits.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define NOW ((int64_t)1700000000)

static const unsigned char key_bytes[32] = "0123456789abcdef0123456789abcdef";
static const char *const algs[] = {"HS256", "HS384", "HS512"};

static const EVP_MD *md_of(const char *alg)
{
	if (!strcmp(alg, "HS384"))
		return EVP_sha384();
	if (!strcmp(alg, "HS512"))
		return EVP_sha512();
	return EVP_sha256();
}

/* b64url(h64) "." b64url(p64) "." b64url(HMAC(key, first two)) from already
 * encoded header and payload segments. */
static void sign_segments(const char *alg, const void *key, size_t keylen, const char *h64,
	const char *p64, char *out, size_t outsz)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	int n = snprintf(out, outsz, "%s.%s", h64, p64);
	assert_true(n > 0 && (size_t)n < outsz);
	assert_non_null(HMAC(
		md_of(alg), key, (int)keylen, (const unsigned char *)out, (size_t)n, mac, &maclen));
	assert_true((size_t)n + 1 < outsz);
	out[n++] = '.';
	assert_true(hc_b64url_encode(mac, maclen, out + n, outsz - (size_t)n) > 0);
}

/* A token over JSON header and payload texts, signed with key_bytes. */
static void make_token(
	const char *alg, const char *header, const char *payload, char *out, size_t outsz)
{
	char h64[2048], p64[4096];
	assert_true(hc_b64url_encode(header, strlen(header), h64, sizeof(h64)) >= 0);
	assert_true(hc_b64url_encode(payload, strlen(payload), p64, sizeof(p64)) >= 0);
	sign_segments(alg, key_bytes, sizeof(key_bytes), h64, p64, out, outsz);
}

#define HDR256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

static struct hc_token_key *new_key(const char *alg)
{
	struct hc_token_key *k = NULL;
	assert_int_equal(hc_token_key_new(key_bytes, sizeof(key_bytes), alg, &k), HUB_OK);
	assert_non_null(k);
	return k;
}

static int verify(const struct hc_token_key *k, const char *tok, int64_t now, const char **why)
{
	struct hc_token_claims c;
	return hc_token_verify(k, tok, strlen(tok), now, "mqtt", &c, why);
}

/* ------------------------------------------------------------ round trip */

static void test_round_trip(void **state)
{
	(void)state;
	for (size_t a = 0; a < 3; a++) {
		struct hc_token_key *k = new_key(algs[a]);
		char tok[HC_TOKEN_MAX + 1];
		struct hc_token_claims c;
		const char *why = NULL;

		assert_int_equal(hc_token_mint(k, "mqtt", "alice", "sid-1", NOW, NOW + 900, tok,
					 sizeof(tok)),
			HUB_OK);
		assert_int_equal(
			hc_token_verify(k, tok, strlen(tok), NOW, "mqtt", &c, &why), HUB_OK);
		assert_string_equal(why, "ok");
		assert_string_equal(c.sub, "alice");
		assert_string_equal(c.sid, "sid-1");
		assert_string_equal(c.typ, "mqtt");
		assert_int_equal(c.iat, NOW);
		assert_int_equal(c.exp, NOW + 900);
		assert_int_equal(c.nbf, 0);
		/* want_typ NULL skips the typ check */
		assert_int_equal(hc_token_verify(k, tok, strlen(tok), NOW, NULL, &c, NULL), HUB_OK);
		/* the last second before exp is fine */
		assert_int_equal(verify(k, tok, NOW + 899, &why), HUB_OK);
		/* why may be NULL */
		assert_int_equal(
			hc_token_verify(k, tok, strlen(tok), NOW, "mqtt", &c, NULL), HUB_OK);
		hc_token_key_free(k);
	}
}

/* The minted token is exactly the standard JWT over the documented header and
 * claims, for key lengths around every hash's block size (64 and 128 bytes:
 * longer keys are hashed first, RFC 2104). */
static void test_standard_jwt_interop(void **state)
{
	static const size_t lens[] = {1, 31, 32, 63, 64, 65, 127, 128, 129, 300};
	unsigned char key[300];
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 7 + 3);
	for (size_t a = 0; a < 3; a++)
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
			struct hc_token_key *k = NULL;
			char tok[HC_TOKEN_MAX + 1], want[HC_TOKEN_MAX + 1], hdr[64], h64[128],
				p64[512];
			const char *payload =
				"{\"sub\":\"bob\",\"sid\":\"Xy_-12\",\"iat\":1700000000,"
				"\"exp\":1700000900,\"typ\":\"mqtt\"}";
			struct hc_token_claims c;
			assert_int_equal(hc_token_key_new(key, lens[l], algs[a], &k), HUB_OK);
			assert_int_equal(hc_token_mint(k, "mqtt", "bob", "Xy_-12", NOW, NOW + 900,
						 tok, sizeof(tok)),
				HUB_OK);
			snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", algs[a]);
			hc_b64url_encode(hdr, strlen(hdr), h64, sizeof(h64));
			hc_b64url_encode(payload, strlen(payload), p64, sizeof(p64));
			sign_segments(algs[a], key, lens[l], h64, p64, want, sizeof(want));
			TU_EXPECT(strcmp(tok, want) == 0, "%s key len %zu: minted %s, want %s",
				algs[a], lens[l], tok, want);
			/* and a token signed by another JWT library verifies */
			TU_EXPECT(hc_token_verify(k, want, strlen(want), NOW, "mqtt", &c, NULL) ==
					  HUB_OK,
				"%s key len %zu: standard token refused", algs[a], lens[l]);
			hc_token_key_free(k);
		}
	TU_DONE();
}

static void test_other_key_or_alg(void **state)
{
	struct hc_token_key *k256 = new_key("HS256"), *k384 = new_key("HS384"),
			    *k512 = new_key("HS512"), *other = NULL;
	char tok[HC_TOKEN_MAX + 1];
	const char *why;
	(void)state;
	assert_int_equal(hc_token_key_new("another key", 11, "HS256", &other), HUB_OK);
	assert_int_equal(
		hc_token_mint(k512, "mqtt", "alice", "s", NOW, NOW + 60, tok, sizeof(tok)), HUB_OK);
	/* HS512 token against HS256 and HS384 keys: the header names another alg */
	assert_int_equal(verify(k256, tok, NOW, &why), HUB_ERR_AUTH);
	assert_string_equal(why, "bad-alg");
	assert_int_equal(verify(k384, tok, NOW, &why), HUB_ERR_AUTH);
	assert_string_equal(why, "bad-alg");
	/* same alg, other key bytes */
	assert_int_equal(
		hc_token_mint(k256, "mqtt", "alice", "s", NOW, NOW + 60, tok, sizeof(tok)), HUB_OK);
	assert_int_equal(verify(other, tok, NOW, &why), HUB_ERR_AUTH);
	assert_string_equal(why, "bad-signature");
	hc_token_key_free(k256);
	hc_token_key_free(k384);
	hc_token_key_free(k512);
	hc_token_key_free(other);
}

/* ------------------------------------------------------------- tampering */

static const char *const b64chars =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void test_flip_every_char(void **state)
{
	int tu_failures = 0;
	(void)state;
	for (size_t a = 0; a < 3; a++) {
		struct hc_token_key *k = new_key(algs[a]);
		char tok[HC_TOKEN_MAX + 1], bad[HC_TOKEN_MAX + 1];
		size_t len;
		assert_int_equal(
			hc_token_mint(k, "mqtt", "alice", "sid", NOW, NOW + 60, tok, sizeof(tok)),
			HUB_OK);
		len = strlen(tok);
		for (size_t i = 0; i < len; i++) {
			const char *why = NULL;
			int rc;
			if (tok[i] == '.')
				continue;
			memcpy(bad, tok, len + 1);
			/* the next char of the alphabet: always a different valid char */
			bad[i] = b64chars[(strchr(b64chars, tok[i]) - b64chars + 1) % 64];
			rc = verify(k, bad, NOW, &why);
			TU_EXPECT(rc != HUB_OK, "%s: flipped char %zu accepted", algs[a], i);
			TU_EXPECT(rc == HUB_ERR_AUTH || rc == HUB_ERR_INVAL,
				"%s: flip %zu gave rc %d", algs[a], i, rc);
		}
		/* a flip in the signature is a signature failure */
		memcpy(bad, tok, len + 1);
		bad[len - 5] = bad[len - 5] == 'A' ? 'B' : 'A';
		{
			const char *why = NULL;
			TU_EXPECT(verify(k, bad, NOW, &why) == HUB_ERR_AUTH &&
					  strcmp(why, "bad-signature") == 0,
				"%s: signature flip: %s", algs[a], why);
		}
		hc_token_key_free(k);
	}
	TU_DONE();
}

static void test_tampered_payload(void **state)
{
	struct hc_token_key *k = new_key("HS256");
	char tok[HC_TOKEN_MAX + 1], forged[HC_TOKEN_MAX + 1], p64[512];
	const char *why, *d1, *d2;
	const char *payload = "{\"sub\":\"admin\",\"sid\":\"sid\",\"iat\":1700000000,"
			      "\"exp\":1700000060,\"typ\":\"mqtt\"}";
	(void)state;
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "sid", NOW, NOW + 60, tok, sizeof(tok)), HUB_OK);
	d1 = strchr(tok, '.');
	d2 = strchr(d1 + 1, '.');
	hc_b64url_encode(payload, strlen(payload), p64, sizeof(p64));
	/* alice's header and signature around admin's claims */
	snprintf(forged, sizeof(forged), "%.*s.%s%s", (int)(d1 - tok), tok, p64, d2);
	assert_int_equal(verify(k, forged, NOW, &why), HUB_ERR_AUTH);
	assert_string_equal(why, "bad-signature");
	/* swap segments between two valid tokens */
	{
		char tok2[HC_TOKEN_MAX + 1];
		const char *e1, *e2;
		assert_int_equal(
			hc_token_mint(k, "mqtt", "bob", "sid", NOW, NOW + 60, tok2, sizeof(tok2)),
			HUB_OK);
		e1 = strchr(tok2, '.');
		e2 = strchr(e1 + 1, '.');
		snprintf(forged, sizeof(forged), "%.*s%s", (int)(e2 - tok2), tok2, d2);
		assert_int_equal(verify(k, forged, NOW, &why), HUB_ERR_AUTH);
		assert_string_equal(why, "bad-signature");
	}
	hc_token_key_free(k);
}

/* ------------------------------------------------------------ header rules */

struct hcase {
	const char *header;
	const char *sig_alg; /* HMAC used for the signature */
	int rc;
	const char *why;
};

static void test_headers(void **state)
{
	static const char *payload =
		"{\"sub\":\"alice\",\"sid\":\"s\",\"iat\":1700000000,\"exp\":1700000060,"
		"\"typ\":\"mqtt\"}";
	static const struct hcase cases[] = {
		{HDR256, "HS256", HUB_OK, "ok"},
		/* other JWT libraries: other key order, no typ, extra fields */
		{"{\"typ\":\"JWT\",\"alg\":\"HS256\"}", "HS256", HUB_OK, "ok"},
		{"{\"alg\":\"HS256\"}", "HS256", HUB_OK, "ok"},
		{"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", "HS256", HUB_OK, "ok"},
		{" {\"alg\" : \"HS256\"} ", "HS256", HUB_OK, "ok"},
		/* alg none, whatever the case */
		{"{\"alg\":\"none\",\"typ\":\"JWT\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":\"None\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":\"NONE\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		/* other algorithms, even with a matching HMAC */
		{"{\"alg\":\"HS512\",\"typ\":\"JWT\"}", "HS512", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":\"HS384\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":\"ES256\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":\"hs256\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":\"HS256 \"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":\"HS2\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":256}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":null}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":[\"HS256\"]}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"ALG\":\"HS256\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		/* typ, when present, must be JWT */
		{"{\"alg\":\"HS256\",\"typ\":\"JWE\"}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		{"{\"alg\":\"HS256\",\"typ\":1}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		/* critical extensions we do not know */
		{"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"crit\":[\"exp\"]}", "HS256", HUB_ERR_AUTH,
			"bad-alg"},
		{"{\"alg\":\"HS256\",\"crit\":[]}", "HS256", HUB_ERR_AUTH, "bad-alg"},
		/* not a JSON object */
		{"[\"HS256\"]", "HS256", HUB_ERR_INVAL, "malformed"},
		{"\"HS256\"", "HS256", HUB_ERR_INVAL, "malformed"},
		{"{\"alg\":\"HS256\"", "HS256", HUB_ERR_INVAL, "malformed"},
		{"null", "HS256", HUB_ERR_INVAL, "malformed"},
		{"not json", "HS256", HUB_ERR_INVAL, "malformed"},
	};
	struct hc_token_key *k = new_key("HS256");
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char tok[4096];
		const char *why = "";
		int rc;
		make_token(cases[i].sig_alg, cases[i].header, payload, tok, sizeof(tok));
		rc = verify(k, tok, NOW, &why);
		TU_EXPECT(rc == cases[i].rc && strcmp(why, cases[i].why) == 0,
			"header %s: rc %d why %s, want %d %s", cases[i].header, rc, why,
			cases[i].rc, cases[i].why);
	}
	hc_token_key_free(k);
	TU_DONE();
}

static void test_alg_none_tokens(void **state)
{
	struct hc_token_key *k = new_key("HS256");
	char tok[HC_TOKEN_MAX + 1], none[HC_TOKEN_MAX + 1], h64[128];
	const char *why, *d1, *d2;
	const char *hnone = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
	(void)state;
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW + 60, tok, sizeof(tok)), HUB_OK);
	d1 = strchr(tok, '.');
	d2 = strchr(d1 + 1, '.');
	hc_b64url_encode(hnone, strlen(hnone), h64, sizeof(h64));
	/* the classic: alg none, real claims, empty signature */
	snprintf(none, sizeof(none), "%s%.*s.", h64, (int)(d2 - d1), d1);
	assert_int_equal(verify(k, none, NOW, &why), HUB_ERR_AUTH);
	assert_string_equal(why, "bad-alg");
	/* without the trailing dot */
	snprintf(none, sizeof(none), "%s%.*s", h64, (int)(d2 - d1), d1);
	assert_int_not_equal(verify(k, none, NOW, &why), HUB_OK);
	/* alg none with the original (valid for HS256) signature kept */
	snprintf(none, sizeof(none), "%s%s", h64, d1);
	assert_int_equal(verify(k, none, NOW, &why), HUB_ERR_AUTH);
	assert_string_equal(why, "bad-alg");
	/* the real header with an empty signature */
	snprintf(none, sizeof(none), "%.*s.", (int)(d2 - tok), tok);
	assert_int_equal(verify(k, none, NOW, &why), HUB_ERR_AUTH);
	assert_string_equal(why, "bad-signature");
	hc_token_key_free(k);
}

/* -------------------------------------------------------------- claims */

struct ccase {
	const char *payload;
	int rc;
	const char *why;
};

static void test_claims(void **state)
{
	/* NOW = 1700000000 */
	static const struct ccase cases[] = {
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\"}", HUB_OK,
			"ok"},
		/* missing required claims */
		{"{\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":\"alice\",\"exp\":1700000060,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"typ\":\"mqtt\"}", HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{}", HUB_ERR_INVAL, "bad-claims"},
		/* wrong types and sizes */
		{"{\"sub\":5,\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":\"\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":null,\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":[\"s\"],\"exp\":1700000060,\"typ\":\"mqtt\"}",
			HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":"
		 "\"mqttmqttmqttmqtt\"}",
			HUB_ERR_INVAL, "bad-claims"}, /* typ of 16 */
		/* exp: integral NumericDate in a sane range only */
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":\"1700000060\",\"typ\":\"mqtt\"}",
			HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060.5,\"typ\":\"mqtt\"}",
			HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":-1,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1e13,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1e308,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":99999999999999999999999,\"typ\":"
		 "\"mqtt\"}",
			HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":true,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":null,\"typ\":\"mqtt\"}", HUB_ERR_INVAL,
			"bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1.70000006e9,\"typ\":\"mqtt\"}", HUB_OK,
			"ok"}, /* integral, in exponent notation */
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060,\"iat\":-5,\"typ\":\"mqtt\"}",
			HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060,\"nbf\":\"0\",\"typ\":"
		 "\"mqtt\"}",
			HUB_ERR_INVAL, "bad-claims"},
		/* time */
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000000,\"typ\":\"mqtt\"}",
			HUB_ERR_EXPIRED, "expired"}, /* now == exp */
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1699999999,\"typ\":\"mqtt\"}",
			HUB_ERR_EXPIRED, "expired"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":0,\"typ\":\"mqtt\"}", HUB_ERR_EXPIRED,
			"expired"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000001,\"typ\":\"mqtt\"}", HUB_OK,
			"ok"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"iat\":1700000060,\"exp\":1700009999,"
		 "\"typ\":\"mqtt\"}",
			HUB_OK, "ok"}, /* iat 60 s ahead: within the leeway */
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"iat\":1700000061,\"exp\":1700009999,"
		 "\"typ\":\"mqtt\"}",
			HUB_ERR_EXPIRED, "not-yet-valid"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"nbf\":1700000060,\"exp\":1700009999,"
		 "\"typ\":\"mqtt\"}",
			HUB_OK, "ok"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"nbf\":1700000061,\"exp\":1700009999,"
		 "\"typ\":\"mqtt\"}",
			HUB_ERR_EXPIRED, "not-yet-valid"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"nbf\":99999999999,\"exp\":999999999999,"
		 "\"typ\":\"mqtt\"}",
			HUB_ERR_EXPIRED, "not-yet-valid"},
		/* typ */
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"service\"}",
			HUB_ERR_AUTH, "wrong-typ"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"MQTT\"}",
			HUB_ERR_AUTH, "wrong-typ"},
		{"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqt\"}",
			HUB_ERR_AUTH, "wrong-typ"},
		/* not an object / not JSON */
		{"[]", HUB_ERR_INVAL, "bad-claims"},
		{"\"alice\"", HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"alice\"", HUB_ERR_INVAL, "bad-claims"},
	};
	struct hc_token_key *k = new_key("HS256");
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char tok[4096];
		struct hc_token_claims c;
		const char *why = "";
		int rc;
		make_token("HS256", HDR256, cases[i].payload, tok, sizeof(tok));
		memset(&c, 0x55, sizeof(c));
		rc = hc_token_verify(k, tok, strlen(tok), NOW, "mqtt", &c, &why);
		TU_EXPECT(rc == cases[i].rc && strcmp(why, cases[i].why) == 0,
			"claims %s: rc %d why %s, want %d %s", cases[i].payload, rc, why,
			cases[i].rc, cases[i].why);
		/* claims are all-zero on failure: nothing half-checked leaks out */
		if (rc != HUB_OK)
			TU_EXPECT(c.sub[0] == '\0' && c.exp == 0 && c.typ[0] == '\0',
				"claims %s: not cleared on failure", cases[i].payload);
	}
	/* sub and sid: up to 64 bytes */
	for (int l = 63; l <= 66; l++) {
		char payload[256], tok[4096];
		struct hc_token_claims c;
		const char *why = "";
		int rc;
		snprintf(payload, sizeof(payload),
			"{\"sub\":\"%0*d\",\"sid\":\"%0*d\",\"exp\":1700000060,\"typ\":\"mqtt\"}",
			l, 0, 64, 0);
		make_token("HS256", HDR256, payload, tok, sizeof(tok));
		rc = hc_token_verify(k, tok, strlen(tok), NOW, "mqtt", &c, &why);
		TU_EXPECT(rc == (l <= 64 ? HUB_OK : HUB_ERR_INVAL), "sub of %d bytes: %d %s", l, rc,
			why);
		if (rc == HUB_OK)
			TU_EXPECT(
				strlen(c.sub) == (size_t)l && strlen(c.sid) == 64, "sub len %d", l);
		snprintf(payload, sizeof(payload),
			"{\"sub\":\"a\",\"sid\":\"%0*d\",\"exp\":1700000060,\"typ\":\"mqtt\"}", l,
			0);
		make_token("HS256", HDR256, payload, tok, sizeof(tok));
		rc = hc_token_verify(k, tok, strlen(tok), NOW, "mqtt", &c, &why);
		TU_EXPECT(rc == (l <= 64 ? HUB_OK : HUB_ERR_INVAL), "sid of %d bytes: %d %s", l, rc,
			why);
	}
	hc_token_key_free(k);
	TU_DONE();
}

/* The addr claim hubd's WebSocket front adds (hub/front.c): round trip,
 * what mint and verify accept, and that a token without it has none. */
static void test_addr_claim(void **state)
{
	static const struct {
		const char *addr;
		int rc;
	} mints[] = {
		{"203.0.113.7", HUB_OK},
		{"2001:db8::1", HUB_OK},
		{"::ffff:10.0.0.1", HUB_OK},
		{"ABCD:ef01::", HUB_OK},
		{"0123:4567:89ab:cdef:0123:4567:255.255.255.255", HUB_OK}, /* 45 chars */
		{"0123:4567:89ab:cdef:0123:4567:255.255.255.2555", HUB_ERR_INVAL},
		{"10.0.0.1 ", HUB_ERR_INVAL},
		{"10.0.0.1\"", HUB_ERR_INVAL},
		{"host.example", HUB_ERR_INVAL},
		{"[::1]", HUB_ERR_INVAL},
		{"1.2.3.4,5.6.7.8", HUB_ERR_INVAL},
	};
	static const struct ccase verifies[] = {
		{"{\"sub\":\"a\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\",\"addr\":"
		 "\"198.51.100.2\"}",
			HUB_OK, "ok"},
		{"{\"sub\":\"a\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\",\"addr\":\"\"}",
			HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"a\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\",\"addr\":5}",
			HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"a\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\",\"addr\":"
		 "\"a b\"}",
			HUB_ERR_INVAL, "bad-claims"},
		{"{\"sub\":\"a\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\",\"addr\":"
		 "\"0123:4567:89ab:cdef:0123:4567:89ab:cdef:0123:4567\"}",
			HUB_ERR_INVAL, "bad-claims"},
	};
	struct hc_token_key *k = new_key("HS256");
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(mints) / sizeof(mints[0]); i++) {
		char tok[HC_TOKEN_MAX + 1];
		struct hc_token_claims c;
		int rc = hc_token_mint_addr(
			k, "mqtt", "alice", "s1", NOW, NOW + 60, mints[i].addr, tok, sizeof(tok));
		TU_EXPECT(rc == mints[i].rc, "mint addr \"%s\": %d", mints[i].addr, rc);
		if (rc != HUB_OK)
			continue;
		rc = hc_token_verify(k, tok, strlen(tok), NOW, "mqtt", &c, NULL);
		TU_EXPECT(rc == HUB_OK && !strcmp(c.addr, mints[i].addr) &&
				  !strcmp(c.sub, "alice") && !strcmp(c.sid, "s1") &&
				  c.exp == NOW + 60,
			"verify addr \"%s\": %d \"%s\"", mints[i].addr, rc, c.addr);
	}
	for (size_t i = 0; i < sizeof(verifies) / sizeof(verifies[0]); i++) {
		char tok[4096];
		struct hc_token_claims c;
		const char *why = "";
		int rc;
		make_token("HS256", HDR256, verifies[i].payload, tok, sizeof(tok));
		rc = hc_token_verify(k, tok, strlen(tok), NOW, "mqtt", &c, &why);
		TU_EXPECT(rc == verifies[i].rc && !strcmp(why, verifies[i].why), "%s: %d %s",
			verifies[i].payload, rc, why);
	}
	{
		/* no addr: mint as before, and the claim reads empty */
		char tok[HC_TOKEN_MAX + 1], tok2[HC_TOKEN_MAX + 1];
		struct hc_token_claims c;
		assert_int_equal(
			hc_token_mint(k, "mqtt", "alice", "s1", NOW, NOW + 60, tok, sizeof(tok)),
			HUB_OK);
		assert_int_equal(hc_token_mint_addr(k, "mqtt", "alice", "s1", NOW, NOW + 60, "",
					 tok2, sizeof(tok2)),
			HUB_OK);
		assert_string_equal(tok, tok2);
		assert_int_equal(
			hc_token_verify(k, tok, strlen(tok), NOW, "mqtt", &c, NULL), HUB_OK);
		assert_string_equal(c.addr, "");
	}
	hc_token_key_free(k);
	TU_DONE();
}

/* hc_token_key_tag is HMAC(key, label) in base64url: what OpenSSL's HMAC
 * gives, different for other labels and keys. */
static void test_key_tag(void **state)
{
	(void)state;
	for (size_t a = 0; a < sizeof(algs) / sizeof(algs[0]); a++) {
		struct hc_token_key *k = new_key(algs[a]), *k2 = NULL;
		static const unsigned char other[32] = "0123456789abcdef0123456789abcdeX";
		char tag[HC_TOKEN_TAG_MAX], tag2[HC_TOKEN_TAG_MAX], want[HC_TOKEN_TAG_MAX];
		unsigned char mac[EVP_MAX_MD_SIZE];
		unsigned int maclen = 0;

		assert_int_equal(hc_token_key_tag(k, "hub-front", tag, sizeof(tag)), HUB_OK);
		assert_non_null(HMAC(md_of(algs[a]), key_bytes, sizeof(key_bytes),
			(const unsigned char *)"hub-front", 9, mac, &maclen));
		assert_true(hc_b64url_encode(mac, maclen, want, sizeof(want)) > 0);
		assert_string_equal(tag, want);
		assert_int_equal(hc_token_key_tag(k, "hub-front2", tag2, sizeof(tag2)), HUB_OK);
		assert_string_not_equal(tag, tag2);
		assert_int_equal(hc_token_key_new(other, sizeof(other), algs[a], &k2), HUB_OK);
		assert_int_equal(hc_token_key_tag(k2, "hub-front", tag2, sizeof(tag2)), HUB_OK);
		assert_string_not_equal(tag, tag2);
		assert_int_equal(hc_token_key_tag(k, "", tag2, sizeof(tag2)), HUB_ERR_INVAL);
		assert_int_equal(hc_token_key_tag(k, "hub-front", tag2, 8), HUB_ERR_TOOBIG);
		hc_token_key_free(k);
		hc_token_key_free(k2);
	}
}

static void test_minted_time_rules(void **state)
{
	struct hc_token_key *k = new_key("HS384");
	char tok[HC_TOKEN_MAX + 1];
	const char *why;
	(void)state;
	/* minted by a clock far ahead of ours */
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "s", NOW + 3600, NOW + 7200, tok, sizeof(tok)),
		HUB_OK);
	assert_int_equal(verify(k, tok, NOW, &why), HUB_ERR_EXPIRED);
	assert_string_equal(why, "not-yet-valid");
	assert_int_equal(verify(k, tok, NOW + 3540, &why), HUB_OK);
	assert_int_equal(verify(k, tok, NOW + 7200, &why), HUB_ERR_EXPIRED);
	assert_string_equal(why, "expired");
	/* wrong typ wins over expiry: it is a different kind of token */
	assert_int_equal(
		hc_token_mint(k, "service", "hubd", "s", NOW, NOW + 1, tok, sizeof(tok)), HUB_OK);
	assert_int_equal(verify(k, tok, NOW + 100, &why), HUB_ERR_AUTH);
	assert_string_equal(why, "wrong-typ");
	{
		struct hc_token_claims c;
		assert_int_equal(
			hc_token_verify(k, tok, strlen(tok), NOW, "service", &c, &why), HUB_OK);
		assert_string_equal(c.typ, "service");
	}
	/* clocks at the extremes do not overflow */
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW + 60, tok, sizeof(tok)), HUB_OK);
	assert_int_equal(verify(k, tok, INT64_MAX, &why), HUB_ERR_EXPIRED);
	assert_int_equal(verify(k, tok, INT64_MIN + 1, &why), HUB_ERR_EXPIRED);
	assert_string_equal(why, "not-yet-valid");
#ifdef HC_TOKEN_ANY_TIME
	/* re-checking a token that opened a connection: time is not checked,
	 * everything else is */
	assert_int_equal(verify(k, tok, HC_TOKEN_ANY_TIME, &why), HUB_OK);
	tok[strlen(tok) - 3] ^= 1;
	assert_int_not_equal(verify(k, tok, HC_TOKEN_ANY_TIME, &why), HUB_OK);
#endif
	hc_token_key_free(k);
}

/* ----------------------------------------------------------- format */

static void test_truncated_prefixes(void **state)
{
	int tu_failures = 0;
	(void)state;
	for (size_t a = 0; a < 3; a++) {
		struct hc_token_key *k = new_key(algs[a]);
		char tok[HC_TOKEN_MAX + 1];
		size_t len;
		assert_int_equal(
			hc_token_mint(k, "mqtt", "alice", "sid", NOW, NOW + 60, tok, sizeof(tok)),
			HUB_OK);
		len = strlen(tok);
		for (size_t n = 0; n < len; n++) {
			/* a heap copy of exactly n bytes: ASan sees any read past it */
			char *p = malloc(n ? n : 1);
			struct hc_token_claims c;
			const char *why = NULL;
			int rc;
			assert_non_null(p);
			memcpy(p, tok, n);
			rc = hc_token_verify(k, p, n, NOW, "mqtt", &c, &why);
			TU_EXPECT(rc != HUB_OK, "%s: prefix of %zu bytes accepted", algs[a], n);
			TU_EXPECT(why != NULL && strcmp(why, "ok") != 0, "%s: prefix %zu why",
				algs[a], n);
			free(p);
		}
		/* and the full token, not NUL-terminated, in an exact heap buffer */
		{
			char *p = malloc(len);
			struct hc_token_claims c;
			assert_non_null(p);
			memcpy(p, tok, len);
			TU_EXPECT(hc_token_verify(k, p, len, NOW, "mqtt", &c, NULL) == HUB_OK,
				"%s: exact buffer refused", algs[a]);
			free(p);
		}
		hc_token_key_free(k);
	}
	TU_DONE();
}

struct fcase {
	const char *tok;
	int rc;
	const char *why;
};

static void test_format_table(void **state)
{
	struct hc_token_key *k = new_key("HS256");
	char good[HC_TOKEN_MAX + 1], h[256], p[1024], s[128];
	const char *d1, *d2;
	static char cases_buf[24][1600];
	struct fcase cases[24];
	size_t n = 0;
	int tu_failures = 0;
	(void)state;
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "sid", NOW, NOW + 60, good, sizeof(good)),
		HUB_OK);
	d1 = strchr(good, '.');
	d2 = strchr(d1 + 1, '.');
	snprintf(h, sizeof(h), "%.*s", (int)(d1 - good), good);
	snprintf(p, sizeof(p), "%.*s", (int)(d2 - d1 - 1), d1 + 1);
	snprintf(s, sizeof(s), "%s", d2 + 1);

#define CASE(rc_, why_, ...)                                                                       \
	do {                                                                                       \
		snprintf(cases_buf[n], sizeof(cases_buf[n]), __VA_ARGS__);                         \
		cases[n].tok = cases_buf[n];                                                       \
		cases[n].rc = rc_;                                                                 \
		cases[n].why = why_;                                                               \
		n++;                                                                               \
	} while (0)
	CASE(HUB_OK, "ok", "%s.%s.%s", h, p, s);
	CASE(HUB_ERR_INVAL, "malformed", "%s", "");
	CASE(HUB_ERR_INVAL, "malformed", "%s", "abc");
	CASE(HUB_ERR_INVAL, "malformed", "%s.%s", h, p);
	CASE(HUB_ERR_INVAL, "malformed", "%s.%s.%s.", h, p, s);
	CASE(HUB_ERR_INVAL, "malformed", "%s.%s.%s.%s", h, p, s, s);
	CASE(HUB_ERR_INVAL, "malformed", "%s..%s.%s", h, p, s);
	CASE(HUB_ERR_INVAL, "malformed", "%s", "..");
	CASE(HUB_ERR_INVAL, "malformed", "%s", "...");
	CASE(HUB_ERR_INVAL, "malformed", ".%s.%s", p, s);	/* empty header */
	CASE(HUB_ERR_AUTH, "bad-signature", "%s..%s", h, s);	/* empty payload */
	CASE(HUB_ERR_AUTH, "bad-signature", "%s.%s.", h, p);	/* empty signature */
	CASE(HUB_ERR_INVAL, "malformed", "%s!.%s.%s", h, p, s); /* bad char in header */
	CASE(HUB_ERR_AUTH, "bad-signature", "%s.%s!.%s", h, p, s);
	CASE(HUB_ERR_INVAL, "bad-signature", "%s.%s.%s!", h, p, s);
	CASE(HUB_ERR_INVAL, NULL, "%s.%s.%.10s=%s", h, p, s, s + 10); /* any reason */
	CASE(HUB_ERR_INVAL, "malformed", "%.8s=%s.%s.%s", h, h + 8, p, s);
	CASE(HUB_ERR_INVAL, "bad-signature", "%s.%s.%s+", h, p, s); /* std alphabet */
	CASE(HUB_ERR_INVAL, "bad-signature", "%s.%s.%s AA", h, p, s);
	CASE(HUB_ERR_AUTH, "bad-signature", "%s.%s.%sAAAA", h, p, s); /* longer mac */
	CASE(HUB_ERR_INVAL, "malformed", " %s.%s.%s", h, p, s);
#undef CASE
	for (size_t i = 0; i < n; i++) {
		struct hc_token_claims c;
		const char *why = "";
		int rc = hc_token_verify(
			k, cases[i].tok, strlen(cases[i].tok), NOW, "mqtt", &c, &why);
		TU_EXPECT(rc == cases[i].rc && (!cases[i].why || strcmp(why, cases[i].why) == 0),
			"token #%zu '%s': rc %d why %s, want %d %s", i, cases[i].tok, rc, why,
			cases[i].rc, cases[i].why ? cases[i].why : "(any)");
	}
	/* embedded NUL inside the given length */
	{
		char t[HC_TOKEN_MAX + 2];
		size_t l = strlen(good);
		const char *why = "";
		struct hc_token_claims c;
		memcpy(t, good, l);
		t[l] = '\0';
		assert_int_not_equal(hc_token_verify(k, t, l + 1, NOW, "mqtt", &c, &why), HUB_OK);
		t[5] = '\0';
		assert_int_not_equal(hc_token_verify(k, t, l, NOW, "mqtt", &c, &why), HUB_OK);
	}
	/* NULL token and key */
	{
		struct hc_token_claims c;
		const char *why = "";
		assert_int_equal(
			hc_token_verify(k, NULL, 10, NOW, "mqtt", &c, &why), HUB_ERR_INVAL);
		assert_int_equal(hc_token_verify(NULL, good, strlen(good), NOW, "mqtt", &c, &why),
			HUB_ERR_INVAL);
	}
	hc_token_key_free(k);
	TU_DONE();
}

/*
 * JWS compact serialization is base64url WITHOUT padding (RFC 7515 section 2):
 * a token with '=' appended is not the token that was issued. Accepting it
 * makes tokens malleable (many strings, one token), which breaks anything
 * that keys on the token string.
 */
static void test_padding_not_accepted(void **state)
{
	int tu_failures = 0;
	(void)state;
	for (size_t a = 0; a < 3; a++) {
		struct hc_token_key *k = new_key(algs[a]);
		char tok[HC_TOKEN_MAX + 8];
		size_t len;
		const char *why = "";
		int rc;
		assert_int_equal(hc_token_mint(k, "mqtt", "alice", "sid", NOW, NOW + 60, tok,
					 HC_TOKEN_MAX + 1),
			HUB_OK);
		len = strlen(tok);
		memcpy(tok + len, "=", 2);
		rc = verify(k, tok, NOW, &why);
		TU_EXPECT(rc != HUB_OK, "%s: valid token + \"=\" accepted (%s)", algs[a], why);
		memcpy(tok + len, "==", 3);
		rc = verify(k, tok, NOW, &why);
		TU_EXPECT(rc != HUB_OK, "%s: valid token + \"==\" accepted (%s)", algs[a], why);
		hc_token_key_free(k);
	}
	TU_DONE();
}

/* Payload and header sizes up to the limits: a valid token of exactly
 * HC_TOKEN_MAX bytes verifies, one byte more is HUB_ERR_TOOBIG. */
static void test_sizes(void **state)
{
	struct hc_token_key *k = new_key("HS256");
	char tok[8192], hdr[512], payload[2048];
	const char *why;
	size_t len = 0;
	int found = 0;
	(void)state;
	/* a big (but allowed) header and claims making exactly HC_TOKEN_MAX */
	for (int hp = 150; hp < 200 && !found; hp++)
		for (int pp = 300; pp < 500 && !found; pp++) {
			snprintf(hdr, sizeof(hdr),
				"{\"alg\":\"HS256\",\"typ\":\"JWT\",\"x\":\"%0*d\"}", hp, 0);
			snprintf(payload, sizeof(payload),
				"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":"
				"\"mqtt\","
				"\"pad\":\"%0*d\"}",
				pp, 0);
			make_token("HS256", hdr, payload, tok, sizeof(tok));
			len = strlen(tok);
			found = len == HC_TOKEN_MAX;
		}
	assert_true(found);
	assert_true(strlen(payload) <= 640 && strlen(hdr) <= 256);
	assert_int_equal(verify(k, tok, NOW, &why), HUB_OK);
	tok[len] = 'A';
	tok[len + 1] = '\0';
	assert_int_equal(verify(k, tok, NOW, &why), HUB_ERR_TOOBIG);
	assert_string_equal(why, "too-long");
	/* a huge input is refused by length before anything is parsed */
	{
		size_t big = 1 << 20;
		char *p = malloc(big);
		struct hc_token_claims c;
		assert_non_null(p);
		memset(p, 'A', big);
		assert_int_equal(hc_token_verify(k, p, big, NOW, "mqtt", &c, &why), HUB_ERR_TOOBIG);
		free(p);
	}
	/* the largest claims mint accepts make a token within HC_TOKEN_MAX */
	{
		char sub[65], sid[65];
		struct hc_token_claims c;
		memset(sub, 's', 64);
		sub[64] = '\0';
		memset(sid, 'i', 64);
		sid[64] = '\0';
		for (size_t a = 0; a < 3; a++) {
			struct hc_token_key *ka = new_key(algs[a]);
			assert_int_equal(hc_token_mint(ka, "abcdefghijklmno", sub, sid, NOW,
						 INT64_C(999999999999), tok, HC_TOKEN_MAX + 1),
				HUB_OK);
			assert_true(strlen(tok) <= HC_TOKEN_MAX);
			assert_int_equal(hc_token_verify(ka, tok, strlen(tok), NOW,
						 "abcdefghijklmno", &c, &why),
				HUB_OK);
			assert_string_equal(c.sub, sub);
			assert_string_equal(c.sid, sid);
			hc_token_key_free(ka);
		}
	}
	hc_token_key_free(k);
}

/* A claims segment that decodes to more than the verifier's buffer, with a
 * valid signature: refused as malformed, never read past the buffer. */
static void test_big_validly_signed_claims(void **state)
{
	struct hc_token_key *k = new_key("HS256");
	char tok[8192], payload[2048];
	const char *why = "";
	struct hc_token_claims c;
	int rc;
	(void)state;
	for (int pp = 560; pp < 680; pp += 7) {
		snprintf(payload, sizeof(payload),
			"{\"sub\":\"alice\",\"sid\":\"s\",\"exp\":1700000060,\"typ\":\"mqtt\","
			"\"pad\":\"%0*d\"}",
			pp, 0);
		make_token("HS256", HDR256, payload, tok, sizeof(tok));
		if (strlen(tok) > HC_TOKEN_MAX)
			break;
		rc = hc_token_verify(k, tok, strlen(tok), NOW, "mqtt", &c, &why);
		if (strlen(payload) <= 640)
			assert_int_equal(rc, HUB_OK);
		else
			assert_int_equal(rc, HUB_ERR_INVAL);
	}
	hc_token_key_free(k);
}

/* --------------------------------------------------------------- mint */

static void test_mint_refuses(void **state)
{
	struct hc_token_key *k = new_key("HS256");
	char tok[HC_TOKEN_MAX + 1], long_sub[80];
	(void)state;
	memset(long_sub, 'a', 65);
	long_sub[65] = '\0';
	assert_int_equal(
		hc_token_mint(k, "mqtt", "", "s", NOW, NOW + 1, tok, sizeof(tok)), HUB_ERR_INVAL);
	assert_int_equal(
		hc_token_mint(k, "mqtt", NULL, "s", NOW, NOW + 1, tok, sizeof(tok)), HUB_ERR_INVAL);
	assert_int_equal(hc_token_mint(k, "mqtt", "a\"b", "s", NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(hc_token_mint(k, "mqtt", "a\\b", "s", NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(hc_token_mint(k, "mqtt", "a b", "s", NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(hc_token_mint(k, "mqtt", "a\nb", "s", NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(
		hc_token_mint(k, "mqtt", "caf\xc3\xa9", "s", NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(hc_token_mint(k, "mqtt", long_sub, "s", NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", long_sub, NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(hc_token_mint(k, "mqtt", "alice", "", NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(
		hc_token_mint(k, "", "alice", "s", NOW, NOW + 1, tok, sizeof(tok)), HUB_ERR_INVAL);
	assert_int_equal(
		hc_token_mint(k, "abcdefghijklmnop", "alice", "s", NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW, tok, sizeof(tok)), HUB_ERR_INVAL);
	assert_int_equal(hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW - 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	assert_int_equal(hc_token_mint(NULL, "mqtt", "alice", "s", NOW, NOW + 1, tok, sizeof(tok)),
		HUB_ERR_INVAL);
	/* output buffers too small at each stage */
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW + 1, tok, 10), HUB_ERR_TOOBIG);
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW + 1, tok, 60), HUB_ERR_TOOBIG);
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW + 1, tok, 150), HUB_ERR_TOOBIG);
	assert_int_equal(
		hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW + 1, tok, sizeof(tok)), HUB_OK);
	{
		size_t need = strlen(tok) + 1;
		assert_int_equal(
			hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW + 1, tok, need), HUB_OK);
		assert_int_equal(
			hc_token_mint(k, "mqtt", "alice", "s", NOW, NOW + 1, tok, need - 1),
			HUB_ERR_TOOBIG);
	}
	hc_token_key_free(k);
}

/* ---------------------------------------------------------------- keys */

static void test_key_new_refuses(void **state)
{
	struct hc_token_key *k = (struct hc_token_key *)&k;
	(void)state;
	assert_int_equal(hc_token_key_new(key_bytes, 0, "HS256", &k), HUB_ERR_INVAL);
	assert_null(k);
	assert_int_equal(hc_token_key_new(key_bytes, 32, NULL, &k), HUB_ERR_INVAL);
	assert_int_equal(hc_token_key_new(key_bytes, 32, "none", &k), HUB_ERR_INVAL);
	assert_int_equal(hc_token_key_new(key_bytes, 32, "RS256", &k), HUB_ERR_INVAL);
	assert_int_equal(hc_token_key_new(key_bytes, 32, "hs256", &k), HUB_ERR_INVAL);
	assert_int_equal(hc_token_key_new(key_bytes, 32, "", &k), HUB_ERR_INVAL);
	assert_null(k);
	assert_int_equal(hc_token_key_new(key_bytes, 1, "HS256", &k), HUB_OK);
	hc_token_key_free(k);
	hc_token_key_free(NULL);
}

static void test_key_file(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], err[512], tok[HC_TOKEN_MAX + 1];
	struct hc_token_key *k1 = NULL, *k2 = NULL, *k3 = NULL;
	struct stat st;
	char text[256];
	FILE *f;
	const char *why;
	(void)state;
	tu_mkdtemp(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/token.key", dir);

	/* absent, create not set */
	assert_int_equal(hc_token_key_load(path, "HS256", 0, &k1, err, sizeof(err)), HUB_ERR_IO);
	assert_null(k1);
	assert_non_null(strstr(err, path));
	/* created: 0600, 64 random bytes in base64url and a newline */
	assert_int_equal(hc_token_key_load(path, "HS256", 1, &k1, err, sizeof(err)), HUB_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_int_equal(strlen(text), 87);
	assert_int_equal(text[86], '\n');
	{
		unsigned char raw[80];
		assert_int_equal(hc_b64url_decode(text, 86, raw, sizeof(raw)), 64);
	}
	/* no temporary files left behind */
	{
		char tmp[PATH_MAX + 64];
		snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
		assert_int_not_equal(access(tmp, F_OK), 0);
	}
	/* loading again (create set or not) gives the same key */
	assert_int_equal(hc_token_key_load(path, "HS256", 1, &k2, err, sizeof(err)), HUB_OK);
	assert_int_equal(
		hc_token_mint(k1, "mqtt", "alice", "s", NOW, NOW + 60, tok, sizeof(tok)), HUB_OK);
	assert_int_equal(verify(k2, tok, NOW, &why), HUB_OK);
	/* the same file read for another alg is another key object */
	assert_int_equal(hc_token_key_load(path, "HS512", 0, &k3, err, sizeof(err)), HUB_OK);
	assert_int_equal(verify(k3, tok, NOW, &why), HUB_ERR_AUTH);
	hc_token_key_free(k2);
	hc_token_key_free(k3);
	k2 = k3 = NULL;

	/* readable by group or others: refused */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(
		hc_token_key_load(path, "HS256", 1, &k2, err, sizeof(err)), HUB_ERR_DENIED);
	assert_null(k2);
	assert_non_null(strstr(err, "644"));
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(
		hc_token_key_load(path, "HS256", 0, &k2, err, sizeof(err)), HUB_ERR_DENIED);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(
		hc_token_key_load(path, "HS256", 0, &k2, err, sizeof(err)), HUB_ERR_DENIED);
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(hc_token_key_load(path, "HS256", 0, &k2, err, sizeof(err)), HUB_OK);
	hc_token_key_free(k2);
	k2 = NULL;

	/* unknown alg with a good file */
	assert_int_equal(hc_token_key_load(path, "none", 0, &k2, err, sizeof(err)), HUB_ERR_INVAL);
	assert_null(k2);

	/* too short, garbage, empty */
	snprintf(path, sizeof(path), "%s/short.key", dir);
	assert_int_equal(
		tu_write_file(path, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", 43, 0600), 0);
	assert_int_equal(hc_token_key_load(path, "HS256", 0, &k2, err, sizeof(err)), HUB_ERR_INVAL);
	assert_non_null(strstr(err, "at least 32 bytes"));
	snprintf(path, sizeof(path), "%s/garbage.key", dir);
	assert_int_equal(tu_write_file(path, "this is not base64url!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
				 50, 0600),
		0);
	assert_int_equal(hc_token_key_load(path, "HS256", 0, &k2, err, sizeof(err)), HUB_ERR_INVAL);
	snprintf(path, sizeof(path), "%s/empty.key", dir);
	assert_int_equal(tu_write_file(path, "", 0, 0600), 0);
	assert_int_not_equal(hc_token_key_load(path, "HS256", 1, &k2, err, sizeof(err)), HUB_OK);
	assert_null(k2);
	/* a directory is not a key file */
	assert_int_equal(hc_token_key_load(dir, "HS256", 0, &k2, err, sizeof(err)), HUB_ERR_IO);
	/* a 32-byte key written by hand (with CRLF) works */
	snprintf(path, sizeof(path), "%s/hand.key", dir);
	{
		char enc[64];
		int n = hc_b64url_encode(key_bytes, sizeof(key_bytes), enc, sizeof(enc));
		memcpy(enc + n, "\r\n", 2);
		assert_int_equal(tu_write_file(path, enc, (size_t)n + 2, 0600), 0);
	}
	assert_int_equal(hc_token_key_load(path, "HS256", 0, &k2, err, sizeof(err)), HUB_OK);
	{
		struct hc_token_key *ref = new_key("HS256");
		assert_int_equal(
			hc_token_mint(ref, "mqtt", "alice", "s", NOW, NOW + 60, tok, sizeof(tok)),
			HUB_OK);
		assert_int_equal(verify(k2, tok, NOW, &why), HUB_OK);
		hc_token_key_free(ref);
	}
	hc_token_key_free(k2);
	/* creating in a directory that does not exist */
	snprintf(path, sizeof(path), "%s/nope/token.key", dir);
	assert_int_equal(hc_token_key_load(path, "HS256", 1, &k2, err, sizeof(err)), HUB_ERR_IO);

	hc_token_key_free(k1);
	tu_rmtree(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_standard_jwt_interop),
		cmocka_unit_test(test_other_key_or_alg),
		cmocka_unit_test(test_flip_every_char),
		cmocka_unit_test(test_tampered_payload),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_alg_none_tokens),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_addr_claim),
		cmocka_unit_test(test_key_tag),
		cmocka_unit_test(test_minted_time_rules),
		cmocka_unit_test(test_truncated_prefixes),
		cmocka_unit_test(test_format_table),
		cmocka_unit_test(test_padding_not_accepted),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_big_validly_signed_claims),
		cmocka_unit_test(test_mint_refuses),
		cmocka_unit_test(test_key_new_refuses),
		cmocka_unit_test(test_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
