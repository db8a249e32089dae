/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/password.c (scrypt hashes with parameters in the
 * stored string). Cheap parameters throughout (N = 2^4..2^10) so the suite
 * stays fast; the parameter parser is tested on stored strings, which costs
 * nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_config.h"
#include "hc_err.h"
#include "hc_password.h"
#include "hc_util.h"
#include "testutil.h"

static const struct hc_scrypt_params cheap = {4, 1, 1};

static void test_round_trip_params(void **state)
{
	char out[HC_PASSWORD_HASH_MAX];
	int tu_failures = 0;
	(void)state;
	for (int ln = 4; ln <= 10; ln++) {
		struct hc_scrypt_params p = {ln, ln % 3 + 1, ln % 2 + 1}, got;
		char want_prefix[64];
		int rc = hc_password_hash("correct horse", 13, &p, out, sizeof(out));
		TU_EXPECT(rc == HUB_OK, "hash ln=%d: %d", ln, rc);
		if (rc)
			continue;
		snprintf(want_prefix, sizeof(want_prefix), "$scrypt$ln=%d,r=%d,p=%d$", p.log2n, p.r,
			p.p);
		TU_EXPECT(
			strncmp(out, want_prefix, strlen(want_prefix)) == 0, "prefix of '%s'", out);
		TU_EXPECT(strlen(out) < HC_PASSWORD_HASH_MAX, "hash too long");
		TU_EXPECT(
			hc_password_verify("correct horse", 13, out) == HUB_OK, "verify ln=%d", ln);
		TU_EXPECT(hc_password_verify("correct horsf", 13, out) == HUB_ERR_AUTH,
			"wrong password ln=%d", ln);
		TU_EXPECT(hc_password_verify("correct hors", 12, out) == HUB_ERR_AUTH,
			"prefix password ln=%d", ln);
		TU_EXPECT(hc_password_params(out, &got) == HUB_OK && got.log2n == p.log2n &&
				  got.r == p.r && got.p == p.p,
			"params ln=%d", ln);
		TU_EXPECT(!hc_password_needs_rehash(out, &p), "needs_rehash same params ln=%d", ln);
	}
	TU_DONE();
}

static void test_stored_shape(void **state)
{
	char out[HC_PASSWORD_HASH_MAX];
	const char *salt, *key;
	unsigned char raw[64];
	(void)state;
	assert_int_equal(hc_password_hash("pw", 2, &cheap, out, sizeof(out)), HUB_OK);
	/* $scrypt$ln=4,r=1,p=1$<salt>$<key>: 16-byte salt, 32-byte key */
	salt = strchr(out + 8, '$');
	assert_non_null(salt);
	salt++;
	key = strchr(salt, '$');
	assert_non_null(key);
	assert_int_equal(hc_b64url_decode(salt, (size_t)(key - salt), raw, sizeof(raw)), 16);
	key++;
	assert_int_equal(hc_b64url_decode(key, strlen(key), raw, sizeof(raw)), 32);
}

static void test_salted(void **state)
{
	char a[HC_PASSWORD_HASH_MAX], b[HC_PASSWORD_HASH_MAX];
	(void)state;
	assert_int_equal(hc_password_hash("same", 4, &cheap, a, sizeof(a)), HUB_OK);
	assert_int_equal(hc_password_hash("same", 4, &cheap, b, sizeof(b)), HUB_OK);
	assert_string_not_equal(a, b);
	assert_int_equal(hc_password_verify("same", 4, a), HUB_OK);
	assert_int_equal(hc_password_verify("same", 4, b), HUB_OK);
}

static void test_binary_and_empty(void **state)
{
	char out[HC_PASSWORD_HASH_MAX];
	(void)state;
	assert_int_equal(hc_password_hash("", 0, &cheap, out, sizeof(out)), HUB_OK);
	assert_int_equal(hc_password_verify("", 0, out), HUB_OK);
	assert_int_equal(hc_password_verify(NULL, 0, out), HUB_OK);
	assert_int_equal(hc_password_verify("x", 1, out), HUB_ERR_AUTH);
	/* the length is explicit: bytes after a NUL count */
	assert_int_equal(hc_password_hash("a\0b", 3, &cheap, out, sizeof(out)), HUB_OK);
	assert_int_equal(hc_password_verify("a\0b", 3, out), HUB_OK);
	assert_int_equal(hc_password_verify("a\0c", 3, out), HUB_ERR_AUTH);
	assert_int_equal(hc_password_verify("a", 1, out), HUB_ERR_AUTH);
}

static void test_max_length(void **state)
{
	static char pw[HC_PASSWORD_MAX + 2];
	char out[HC_PASSWORD_HASH_MAX];
	(void)state;
	memset(pw, 'p', sizeof(pw));
	assert_int_equal(hc_password_hash(pw, HC_PASSWORD_MAX, &cheap, out, sizeof(out)), HUB_OK);
	assert_int_equal(hc_password_verify(pw, HC_PASSWORD_MAX, out), HUB_OK);
	/* longer is refused, never cut to the maximum */
	assert_int_equal(hc_password_verify(pw, HC_PASSWORD_MAX + 1, out), HUB_ERR_AUTH);
	assert_int_equal(
		hc_password_hash(pw, HC_PASSWORD_MAX + 1, &cheap, out, sizeof(out)), HUB_ERR_INVAL);
	pw[HC_PASSWORD_MAX - 1] = 'q';
	assert_int_equal(hc_password_verify(pw, HC_PASSWORD_MAX, out), HUB_ERR_AUTH);
}

static void test_hash_bad_params_and_buffer(void **state)
{
	static const struct hc_scrypt_params bad[] = {
		{0, 1, 1}, {-1, 1, 1}, {31, 1, 1}, {40, 1, 1}, {4, 0, 1}, {4, 65, 1}, {4, 1, 0},
		{4, 1, 65}, {4, -8, 1}, {25, 8, 1}, /* 4 GiB */
	};
	char out[HC_PASSWORD_HASH_MAX];
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = hc_password_hash("pw", 2, &bad[i], out, sizeof(out));
		TU_EXPECT(rc == HUB_ERR_INVAL, "params {%d,%d,%d}: %d", bad[i].log2n, bad[i].r,
			bad[i].p, rc);
	}
	/* an output buffer too small for the stored form */
	TU_EXPECT(hc_password_hash("pw", 2, &cheap, out, 40) == HUB_ERR_TOOBIG,
		"small buffer not refused");
	TU_DONE();
}

/* A valid stored string made once, then mangled for the malformed table. */
static void test_malformed_stored(void **state)
{
	char good[HC_PASSWORD_HASH_MAX], salt[64], key[64];
	char *d1, *d2;
	struct {
		char s[256];
		const char *what;
	} t[40];
	size_t n = 0;
	int tu_failures = 0;
	(void)state;

	assert_int_equal(hc_password_hash("pw", 2, &cheap, good, sizeof(good)), HUB_OK);
	d1 = strchr(good + 8, '$');
	d2 = strchr(d1 + 1, '$');
	snprintf(salt, sizeof(salt), "%.*s", (int)(d2 - d1 - 1), d1 + 1);
	snprintf(key, sizeof(key), "%s", d2 + 1);

#define ADD(what_, ...)                                                                            \
	do {                                                                                       \
		snprintf(t[n].s, sizeof(t[n].s), __VA_ARGS__);                                     \
		t[n].what = what_;                                                                 \
		n++;                                                                               \
	} while (0)
	ADD("empty", "%s", "");
	ADD("wrong prefix", "$scrypf$ln=4,r=1,p=1$%s$%s", salt, key);
	ADD("other scheme", "$2b$10$%s%s", salt, key);
	ADD("pbkdf2 prefix", "$pbkdf2-sha256$ln=4,r=1,p=1$%s$%s", salt, key);
	ADD("no leading $", "scrypt$ln=4,r=1,p=1$%s$%s", salt, key);
	ADD("missing params", "$scrypt$%s$%s", salt, key);
	ADD("missing p", "$scrypt$ln=4,r=1$%s$%s", salt, key);
	ADD("missing key", "$scrypt$ln=4,r=1,p=1$%s", salt);
	ADD("missing key, trailing $", "$scrypt$ln=4,r=1,p=1$%s$", salt);
	ADD("missing salt", "$scrypt$ln=4,r=1,p=1$$%s", key);
	ADD("only prefix", "%s", "$scrypt$");
	ADD("non-numeric ln", "$scrypt$ln=x,r=1,p=1$%s$%s", salt, key);
	ADD("non-numeric r", "$scrypt$ln=4,r=one,p=1$%s$%s", salt, key);
	ADD("junk after p", "$scrypt$ln=4,r=1,p=1x$%s$%s", salt, key);
	ADD("params reordered", "$scrypt$r=1,ln=4,p=1$%s$%s", salt, key);
	ADD("absurd ln=40", "$scrypt$ln=40,r=1,p=1$%s$%s", salt, key);
	ADD("ln=0", "$scrypt$ln=0,r=1,p=1$%s$%s", salt, key);
	ADD("negative ln", "$scrypt$ln=-4,r=1,p=1$%s$%s", salt, key);
	ADD("r=0", "$scrypt$ln=4,r=0,p=1$%s$%s", salt, key);
	ADD("huge r", "$scrypt$ln=4,r=100000,p=1$%s$%s", salt, key);
	ADD("huge p", "$scrypt$ln=4,r=1,p=1000$%s$%s", salt, key);
	ADD("int overflow ln", "$scrypt$ln=4294967300,r=1,p=1$%s$%s", salt, key);
	ADD("memory over cap", "$scrypt$ln=24,r=8,p=1$%s$%s", salt, key);
	ADD("bad base64 salt", "$scrypt$ln=4,r=1,p=1$%s!$%s", salt, key);
	ADD("bad base64 key", "$scrypt$ln=4,r=1,p=1$%s$%s*", salt, key);
	ADD("std alphabet key", "$scrypt$ln=4,r=1,p=1$%s$%.42s+", salt, key);
	ADD("short salt", "$scrypt$ln=4,r=1,p=1$%s$%s", "AAAAAAAA", key);
	ADD("short key", "$scrypt$ln=4,r=1,p=1$%s$%.40s", salt, key);
	ADD("long key", "$scrypt$ln=4,r=1,p=1$%s$%sAAAA", salt, key);
	ADD("very long key", "$scrypt$ln=4,r=1,p=1$%s$%s%s", salt, key, key);
	ADD("extra field", "$scrypt$ln=4,r=1,p=1$%s$%s$x", salt, key);
	ADD("key with space", "$scrypt$ln=4,r=1,p=1$%s$ %s", salt, key);
#undef ADD
	for (size_t i = 0; i < n; i++) {
		struct hc_scrypt_params p;
		int rc = hc_password_verify("pw", 2, t[i].s);
		TU_EXPECT(rc == HUB_ERR_INVAL, "verify, %s ('%s'): %d", t[i].what, t[i].s, rc);
		rc = hc_password_params(t[i].s, &p);
		TU_EXPECT(rc == HUB_ERR_INVAL, "params, %s: %d", t[i].what, rc);
		TU_EXPECT(hc_password_needs_rehash(t[i].s, &cheap), "needs_rehash, %s", t[i].what);
	}
	TU_EXPECT(hc_password_verify("pw", 2, NULL) == HUB_ERR_INVAL, "NULL stored");
	/* the good one still works: the table mangled copies only */
	TU_EXPECT(hc_password_verify("pw", 2, good) == HUB_OK, "good hash");
	TU_DONE();
}

static void test_needs_rehash(void **state)
{
	char out[HC_PASSWORD_HASH_MAX];
	struct hc_scrypt_params p = {5, 2, 1};
	struct hc_scrypt_params more_n = {6, 2, 1}, more_r = {5, 3, 1}, more_p = {5, 2, 2};
	(void)state;
	assert_int_equal(hc_password_hash("pw", 2, &p, out, sizeof(out)), HUB_OK);
	assert_false(hc_password_needs_rehash(out, &p));
	assert_true(hc_password_needs_rehash(out, &more_n));
	assert_true(hc_password_needs_rehash(out, &more_r));
	assert_true(hc_password_needs_rehash(out, &more_p));
	assert_true(hc_password_needs_rehash("garbage", &p));
	/* an old hash still verifies after the params were raised */
	assert_int_equal(hc_password_verify("pw", 2, out), HUB_OK);
}

static void test_params_parse(void **state)
{
	struct hc_scrypt_params p;
	char s[160];
	(void)state;
	/* parse needs a well-formed salt and key; zero bytes are fine */
	snprintf(s, sizeof(s), "$scrypt$ln=15,r=8,p=3$%s$%s", "AAAAAAAAAAAAAAAAAAAAAA",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
	assert_int_equal(hc_password_params(s, &p), HUB_OK);
	assert_int_equal(p.log2n, 15);
	assert_int_equal(p.r, 8);
	assert_int_equal(p.p, 3);
}

/*
 * Every cost the config table accepts for scrypt_log2n must be usable with
 * the default r and p: otherwise a config that loads fine makes every login
 * fail. Checked through the stored-string parser (same params_ok as hash,
 * but costs nothing to run).
 */
static void test_config_range_is_usable(void **state)
{
	struct hc_config cfg;
	char err[256], s[160];
	int64_t r, p;
	int tu_failures = 0;
	(void)state;
	assert_int_equal(hc_config_defaults(&cfg), HUB_OK);
	r = hc_cfg_int(&cfg, HC_CFG_SCRYPT_R);
	p = hc_cfg_int(&cfg, HC_CFG_SCRYPT_P);
	for (int ln = 4; ln <= 30; ln++) {
		char v[8];
		struct hc_scrypt_params got;
		snprintf(v, sizeof(v), "%d", ln);
		if (hc_config_set(&cfg, "scrypt_log2n", v, "test", err, sizeof(err)) != HUB_OK)
			continue; /* outside the config range: nothing to check */
		snprintf(s, sizeof(s), "$scrypt$ln=%d,r=%lld,p=%lld$%s$%s", ln, (long long)r,
			(long long)p, "AAAAAAAAAAAAAAAAAAAAAA",
			"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
		TU_EXPECT(hc_password_params(s, &got) == HUB_OK,
			"config accepts scrypt_log2n=%d (r=%lld, p=%lld) but password.c refuses "
			"those parameters",
			ln, (long long)r, (long long)p);
	}
	hc_config_free(&cfg);
	TU_DONE();
}

static void test_dummy_verify(void **state)
{
	struct hc_scrypt_params bad = {40, 1, 1};
	static char pw[HC_PASSWORD_MAX + 10];
	(void)state;
	/* must not crash on any input; it returns nothing */
	hc_password_dummy_verify("pw", 2, &cheap);
	hc_password_dummy_verify("", 0, &cheap);
	hc_password_dummy_verify(pw, sizeof(pw), &cheap);
	hc_password_dummy_verify("pw", 2, &bad);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_params),
		cmocka_unit_test(test_stored_shape),
		cmocka_unit_test(test_salted),
		cmocka_unit_test(test_binary_and_empty),
		cmocka_unit_test(test_max_length),
		cmocka_unit_test(test_hash_bad_params_and_buffer),
		cmocka_unit_test(test_malformed_stored),
		cmocka_unit_test(test_needs_rehash),
		cmocka_unit_test(test_params_parse),
		cmocka_unit_test(test_config_range_is_usable),
		cmocka_unit_test(test_dummy_verify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
