/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/util.c: base64url and base64 (RFC 4648 vectors,
 * round trips, canonical decoding, buffer limits), hex, constant-time
 * compares, checked integer parsing, hc_fmt truncation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_err.h"
#include "hc_util.h"
#include "testutil.h"

#include <limits.h>

/* ------------------------------------------------------------- base64 */

struct vec {
	const char *in;
	const char *url; /* base64url, no padding */
	const char *std; /* base64 with padding */
};

/* RFC 4648 section 10, plus bytes that use the two alphabet-specific chars */
static const struct vec vectors[] = {
	{"", "", ""},
	{"f", "Zg", "Zg=="},
	{"fo", "Zm8", "Zm8="},
	{"foo", "Zm9v", "Zm9v"},
	{"foob", "Zm9vYg", "Zm9vYg=="},
	{"fooba", "Zm9vYmE", "Zm9vYmE="},
	{"foobar", "Zm9vYmFy", "Zm9vYmFy"},
	{"\xfb\xff", "-_8", "+/8="},
	{"\xfb\xef\xbe", "----", "++++"},
	{"\xff\xff\xff", "____", "////"},
	{"\x00", "AA", "AA=="},
	{"\x00\x00\x00", "AAAA", "AAAA"},
};

static size_t vec_len(const struct vec *v)
{
	/* "\x00" entries: their length is the encoded length's preimage */
	if (v->in[0] == '\0' && v->url[0] != '\0')
		return strlen(v->url) * 3 / 4;
	return strlen(v->in);
}

static void test_b64_rfc4648_vectors(void **state)
{
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vec *v = &vectors[i];
		size_t n = vec_len(v);
		char out[64];
		unsigned char dec[64];
		int r;

		r = hc_b64url_encode(v->in, n, out, sizeof(out));
		TU_EXPECT(r == (int)strlen(v->url) && strcmp(out, v->url) == 0,
			"url encode #%zu: got '%s' (%d), want '%s'", i, out, r, v->url);
		r = hc_b64_encode(v->in, n, out, sizeof(out));
		TU_EXPECT(r == (int)strlen(v->std) && strcmp(out, v->std) == 0,
			"std encode #%zu: got '%s' (%d), want '%s'", i, out, r, v->std);
		r = hc_b64url_decode(v->url, strlen(v->url), dec, sizeof(dec));
		TU_EXPECT(r == (int)n && memcmp(dec, v->in, n) == 0, "url decode #%zu: %d", i, r);
		r = hc_b64_decode(v->std, strlen(v->std), dec, sizeof(dec));
		TU_EXPECT(r == (int)n && memcmp(dec, v->in, n) == 0, "std decode #%zu: %d", i, r);
		/* the url decoder tolerates padding at the end */
		r = hc_b64url_decode(v->std, strlen(v->std), dec, sizeof(dec));
		if (!strpbrk(v->std, "+/"))
			TU_EXPECT(r == (int)n, "url decode of padded #%zu: %d", i, r);
		else
			TU_EXPECT(r == -1, "url decoder took std alphabet #%zu", i);
		/* and the std decoder refuses the url alphabet */
		if (strpbrk(v->url, "-_"))
			TU_EXPECT(hc_b64_decode(v->url, strlen(v->url), dec, sizeof(dec)) == -1,
				"std decoder took url alphabet #%zu", i);
	}
	TU_DONE();
}

static void test_b64_len_macro(void **state)
{
	(void)state;
	assert_int_equal(HC_B64URL_LEN(0), 0);
	assert_int_equal(HC_B64URL_LEN(1), 2);
	assert_int_equal(HC_B64URL_LEN(2), 3);
	assert_int_equal(HC_B64URL_LEN(3), 4);
	assert_int_equal(HC_B64URL_LEN(32), 43);
	assert_int_equal(HC_B64URL_LEN(64), 86);
}

static void test_b64_round_trip_0_to_70(void **state)
{
	unsigned char in[70], dec[80];
	char enc[128];
	int tu_failures = 0;
	(void)state;

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 37 + 11);
	for (size_t n = 0; n <= sizeof(in); n++) {
		int e = hc_b64url_encode(in, n, enc, sizeof(enc));
		int d;
		TU_EXPECT(e == (int)HC_B64URL_LEN(n) && strlen(enc) == (size_t)e,
			"url len %zu: encoded %d", n, e);
		TU_EXPECT(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz01234567"
				      "89-_") == (size_t)e,
			"url len %zu: bad char in '%s'", n, enc);
		d = hc_b64url_decode(enc, (size_t)e, dec, sizeof(dec));
		TU_EXPECT(d == (int)n && memcmp(dec, in, n) == 0, "url len %zu: decoded %d", n, d);
		/* exact-size output buffers are enough */
		d = hc_b64url_decode(enc, (size_t)e, dec, n);
		TU_EXPECT(d == (int)n, "url len %zu: exact buffer gave %d", n, d);

		e = hc_b64_encode(in, n, enc, sizeof(enc));
		TU_EXPECT(e == (int)(((n + 2) / 3) * 4), "std len %zu: encoded %d", n, e);
		d = hc_b64_decode(enc, (size_t)e, dec, sizeof(dec));
		TU_EXPECT(d == (int)n && memcmp(dec, in, n) == 0, "std len %zu: decoded %d", n, d);
	}
	TU_DONE();
}

static void test_b64_decode_rejects(void **state)
{
	static const char *const bad[] = {
		"A",		/* one char: 6 bits, no byte */
		"AAAAA",	/* 4k+1 chars */
		"Zm9v!",	/* invalid char */
		"Zm 9v",	/* space */
		"Zm9v\n",	/* newline */
		"Zm+v",		/* std alphabet in url decoder */
		"Zm/v", "Zm=v", /* padding in the middle */
		"=Zm9",		/* padding first */
		"Zg==Zg",	/* padding then data */
		"Zh",		/* non-canonical: trailing bits set (Zg is canonical) */
		"Zm9",		/* trailing bits set (Zm8 is canonical) */
		"AB",		/* 'B' leaves a set bit */
		"\xc3\xa9",	/* non-ASCII */
	};
	unsigned char out[16];
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = hc_b64url_decode(bad[i], strlen(bad[i]), out, sizeof(out));
		TU_EXPECT(r == -1, "url decode accepted '%s' (%d)", bad[i], r);
	}
	/* embedded NUL via explicit length */
	assert_int_equal(hc_b64url_decode("Zm\0v", 4, out, sizeof(out)), -1);
	/* std decoder: non-canonical and bad chars too */
	assert_int_equal(hc_b64_decode("Zh==", 4, out, sizeof(out)), -1);
	assert_int_equal(hc_b64_decode("Zm-v", 4, out, sizeof(out)), -1);
	assert_int_equal(hc_b64_decode("Z===", 4, out, sizeof(out)), -1);
	TU_DONE();
}

static void test_b64_empty_and_padding_only(void **state)
{
	unsigned char out[4];
	(void)state;
	assert_int_equal(hc_b64url_decode("", 0, out, sizeof(out)), 0);
	assert_int_equal(hc_b64url_decode("", 0, NULL, 0), 0);
	/* "==" strips to nothing: zero bytes */
	assert_int_equal(hc_b64url_decode("==", 2, out, sizeof(out)), 0);
}

static void test_b64_buffer_too_small(void **state)
{
	char enc[8];
	unsigned char dec[8];
	(void)state;
	/* encode needs room for the NUL: "Zm9v" needs 5 */
	assert_int_equal(hc_b64url_encode("foo", 3, enc, 4), -1);
	assert_int_equal(hc_b64url_encode("foo", 3, enc, 5), 4);
	assert_string_equal(enc, "Zm9v");
	assert_int_equal(hc_b64url_encode("", 0, enc, 0), -1);
	assert_int_equal(hc_b64url_encode("", 0, enc, 1), 0);
	assert_string_equal(enc, "");
	assert_int_equal(hc_b64_encode("f", 1, enc, 4), -1);
	assert_int_equal(hc_b64_encode("f", 1, enc, 5), 4);
	assert_string_equal(enc, "Zg==");
	/* decode: 6 bytes into 5 fails, into 6 works */
	assert_int_equal(hc_b64url_decode("Zm9vYmFy", 8, dec, 5), -1);
	assert_int_equal(hc_b64url_decode("Zm9vYmFy", 8, dec, 6), 6);
	assert_memory_equal(dec, "foobar", 6);
	assert_int_equal(hc_b64_decode("Zm9vYmFy", 8, dec, 0), -1);
}

/* ---------------------------------------------------------------- hex */

static void test_hex(void **state)
{
	char out[16];
	(void)state;
	hc_hex("\x00\x01\xab\xff", 4, out);
	assert_string_equal(out, "0001abff");
	hc_hex("", 0, out);
	assert_string_equal(out, "");
}

static void test_sha256_hex(void **state)
{
	char out[65];
	(void)state;
	hc_sha256_hex("abc", 3, out);
	assert_string_equal(
		out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	hc_sha256_hex("", 0, out);
	assert_string_equal(
		out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_random_token(void **state)
{
	char a[64], b[64];
	unsigned char raw[32];
	(void)state;
	assert_int_equal(hc_random_token(32, a, sizeof(a)), HUB_OK);
	assert_int_equal(hc_random_token(32, b, sizeof(b)), HUB_OK);
	assert_int_equal(strlen(a), 43);
	assert_string_not_equal(a, b);
	assert_int_equal(hc_b64url_decode(a, strlen(a), raw, sizeof(raw)), 32);
	assert_int_equal(hc_random_token(65, a, sizeof(a)), HUB_ERR_INVAL);
	assert_int_equal(hc_random_token(32, a, 43), HUB_ERR_TOOBIG);
}

/* ------------------------------------------------------- ct compares */

static void test_ct_streq(void **state)
{
	static const struct {
		const char *a, *b;
		bool eq;
	} cases[] = {
		{"", "", true},
		{"secret", "secret", true},
		{"secret", "secreT", false},
		{"Secret", "secret", false},
		{"secre", "secret", false},   /* a is a prefix of b */
		{"secrets", "secret", false}, /* b is a prefix of a */
		{"", "x", false},
		{"x", "", false},
		{"secret\xff", "secret", false},
		{"a\x80", "a\x80", true},
	};
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		TU_EXPECT(hc_ct_streq(cases[i].a, cases[i].b) == cases[i].eq,
			"hc_ct_streq('%s', '%s') != %d", cases[i].a, cases[i].b, cases[i].eq);
	TU_DONE();
}

static void test_ct_equal(void **state)
{
	(void)state;
	assert_true(hc_ct_equal("abc", "abc", 3));
	assert_false(hc_ct_equal("abc", "abd", 3));
	assert_true(hc_ct_equal("abc", "abd", 2));
	assert_true(hc_ct_equal("x", "y", 0));
	assert_false(hc_ct_equal("\0\1", "\0\2", 2));
}

/* ------------------------------------------------------ integer parse */

static void test_parse_i64(void **state)
{
	static const struct {
		const char *s;
		int64_t min, max;
		int rc;
		int64_t want;
	} cases[] = {
		{"0", 0, 10, HUB_OK, 0},
		{"10", 0, 10, HUB_OK, 10},
		{"11", 0, 10, HUB_ERR_INVAL, 0},
		{"-1", 0, 10, HUB_ERR_INVAL, 0},
		{"-1", -5, 10, HUB_OK, -1},
		{"", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"12x", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"12 ", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"1.5", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"0x10", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"abc", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"-", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"9223372036854775807", INT64_MIN, INT64_MAX, HUB_OK, INT64_MAX},
		{"-9223372036854775808", INT64_MIN, INT64_MAX, HUB_OK, INT64_MIN},
		{"9223372036854775808", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"-9223372036854775809", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"99999999999999999999999", INT64_MIN, INT64_MAX, HUB_ERR_INVAL, 0},
		{"007", 0, 10, HUB_OK, 7},
		{"65535", 1, 65535, HUB_OK, 65535},
		{"65536", 1, 65535, HUB_ERR_INVAL, 0},
	};
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = -42;
		int rc = hc_parse_i64(cases[i].s, cases[i].min, cases[i].max, &v);
		TU_EXPECT(rc == cases[i].rc, "hc_parse_i64('%s') rc %d, want %d", cases[i].s, rc,
			cases[i].rc);
		if (cases[i].rc == HUB_OK)
			TU_EXPECT(v == cases[i].want, "hc_parse_i64('%s') = %lld", cases[i].s,
				(long long)v);
		else
			TU_EXPECT(v == -42, "hc_parse_i64('%s') wrote output on error", cases[i].s);
	}
	assert_int_equal(hc_parse_i64(NULL, 0, 1, &(int64_t){0}), HUB_ERR_INVAL);
	TU_DONE();
}

/* ----------------------------------------------------------- hc_fmt */

static void test_fmt(void **state)
{
	char buf[8];
	(void)state;
	assert_int_equal(hc_fmt(buf, sizeof(buf), "%s", "1234567"), HUB_OK);
	assert_string_equal(buf, "1234567");
	assert_int_equal(hc_fmt(buf, sizeof(buf), "%s", "12345678"), HUB_ERR_TOOBIG);
	assert_int_equal(strlen(buf), 7); /* still NUL-terminated */
	assert_int_equal(hc_fmt(buf, sizeof(buf), "%d-%d", 12, 34), HUB_OK);
	assert_string_equal(buf, "12-34");
	assert_int_equal(hc_fmt(buf, 1, "%s", ""), HUB_OK);
	assert_int_equal(hc_fmt(buf, 1, "%s", "x"), HUB_ERR_TOOBIG);
	assert_int_equal(hc_fmt(buf, 0, "%s", ""), HUB_ERR_TOOBIG);
}

/* ------------------------------------------------------------ clocks */

static void test_clocks(void **state)
{
	int64_t s = hc_now(), ms = hc_now_ms(), m1 = hc_mono_ms(), m2;
	(void)state;
	assert_true(s > 1600000000);
	assert_in_range((uint64_t)(ms / 1000), (uint64_t)s - 1, (uint64_t)s + 1);
	m2 = hc_mono_ms();
	assert_true(m2 >= m1);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(hub_strerror(HUB_OK), "success");
	assert_string_equal(hub_strerror(HUB_ERR_DENIED), "denied");
	assert_string_equal(hub_strerror(-1), "unknown error");
	assert_string_equal(hub_strerror(HUB_ERR__COUNT), "unknown error");
	for (int i = 0; i < HUB_ERR__COUNT; i++)
		assert_non_null(hub_strerror(i));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64_rfc4648_vectors),
		cmocka_unit_test(test_b64_len_macro),
		cmocka_unit_test(test_b64_round_trip_0_to_70),
		cmocka_unit_test(test_b64_decode_rejects),
		cmocka_unit_test(test_b64_empty_and_padding_only),
		cmocka_unit_test(test_b64_buffer_too_small),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_sha256_hex),
		cmocka_unit_test(test_random_token),
		cmocka_unit_test(test_ct_streq),
		cmocka_unit_test(test_ct_equal),
		cmocka_unit_test(test_parse_i64),
		cmocka_unit_test(test_fmt),
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
