/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/names.c: the contract's name charset (users,
 * devices, rooms), event names (one topic level of UTF-8), client ids,
 * membership levels and the UTF-8 validator.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_names.h"
#include "testutil.h"

static void test_name_lengths(void **state)
{
	char buf[80];
	(void)state;
	assert_false(hc_name_valid(""));
	assert_true(hc_name_valid("a"));
	memset(buf, 'a', 64);
	buf[64] = '\0';
	assert_true(hc_name_valid(buf));
	assert_true(hc_name_valid_n(buf, 64));
	buf[64] = 'a';
	buf[65] = '\0';
	assert_false(hc_name_valid(buf));
	assert_false(hc_name_valid_n(buf, 65));
	memset(buf, 'b', 79);
	buf[79] = '\0';
	assert_false(hc_name_valid(buf));
	assert_false(hc_name_valid(NULL));
	assert_false(hc_name_valid_n(NULL, 3));
	assert_false(hc_name_valid_n("abc", 0));
}

static void test_name_charset(void **state)
{
	int tu_failures = 0;
	(void)state;
	/* every byte value, alone and inside a name */
	for (int c = 0; c < 256; c++) {
		bool want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		char one[2] = {(char)c, 0};
		char mid[4] = {'x', (char)c, 'y', 0};
		TU_EXPECT(hc_name_valid_n(one, 1) == want, "byte 0x%02x alone: %d", c, !want);
		TU_EXPECT(hc_name_valid_n(mid, 3) == want, "byte 0x%02x inside: %d", c, !want);
	}
	TU_DONE();
}

static void test_name_specials(void **state)
{
	static const char *const bad[] = {
		"a/b",
		"a+b",
		"a#b",
		"$hub",
		"a b",
		"alice ",
		" alice",
		"caf\xc3\xa9",
		"a\tb",
		"a:b",
		"a@b",
		"a\\b",
		"a\"b",
		"a'b",
		"a*b",
		"../x",
	};
	static const char *const good[] = {
		"alice", "Bob", "truck-1", "a.b", "_", "-", ".", "..", "0", "A_Z-0.9"};
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		TU_EXPECT(!hc_name_valid(bad[i]), "'%s' accepted", bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		TU_EXPECT(hc_name_valid(good[i]), "'%s' refused", good[i]);
	/* embedded NUL is not a name char with an explicit length */
	TU_EXPECT(!hc_name_valid_n("ali\0ce", 6), "embedded NUL accepted");
	/* the C-string variant stops at the NUL */
	TU_EXPECT(hc_name_valid("ali\0ce"), "C string 'ali' refused");
	TU_DONE();
}

/* ------------------------------------------------------------ UTF-8 */

struct u8case {
	const char *s;
	size_t len;
	bool valid;
	const char *what;
};

#define U8(lit, ok, what)                                                                          \
	{                                                                                          \
		lit, sizeof(lit) - 1, ok, what                                                     \
	}

static const struct u8case utf8_cases[] = {
	U8("", true, "empty"),
	U8("plain ascii", true, "ascii"),
	U8("\x7f", true, "DEL is valid UTF-8"),
	U8("\xc2\x80", true, "U+0080 smallest 2-byte"),
	U8("\xdf\xbf", true, "U+07FF largest 2-byte"),
	U8("\xe0\xa0\x80", true, "U+0800 smallest 3-byte"),
	U8("\xed\x9f\xbf", true, "U+D7FF below surrogates"),
	U8("\xee\x80\x80", true, "U+E000 above surrogates"),
	U8("\xef\xbf\xbf", true, "U+FFFF"),
	U8("\xf0\x90\x80\x80", true, "U+10000 smallest 4-byte"),
	U8("\xf4\x8f\xbf\xbf", true, "U+10FFFF largest"),
	U8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x9a\x9a", true, "mixed"),
	/* overlongs */
	U8("\xc0\x80", false, "overlong NUL"),
	U8("\xc0\xaf", false, "overlong '/'"),
	U8("\xc1\xbf", false, "overlong 2-byte max"),
	U8("\xe0\x80\xaf", false, "overlong 3-byte '/'"),
	U8("\xe0\x9f\xbf", false, "overlong U+07FF in 3 bytes"),
	U8("\xf0\x80\x80\xaf", false, "overlong 4-byte '/'"),
	U8("\xf0\x8f\xbf\xbf", false, "overlong U+FFFF in 4 bytes"),
	/* surrogates */
	U8("\xed\xa0\x80", false, "U+D800"),
	U8("\xed\xbf\xbf", false, "U+DFFF"),
	U8("\xed\xa0\xbd\xed\xb8\x80", false, "CESU-8 pair"),
	/* beyond U+10FFFF */
	U8("\xf4\x90\x80\x80", false, "U+110000"),
	U8("\xf5\x80\x80\x80", false, "F5 lead"),
	U8("\xf7\xbf\xbf\xbf", false, "F7 lead"),
	U8("\xf8\x88\x80\x80\x80", false, "5-byte form"),
	U8("\xfc\x84\x80\x80\x80\x80", false, "6-byte form"),
	U8("\xfe", false, "FE"),
	U8("\xff", false, "FF"),
	/* truncated and stray */
	U8("\xc3", false, "truncated 2-byte"),
	U8("\xe2\x82", false, "truncated 3-byte"),
	U8("\xf0\x9f\x9a", false, "truncated 4-byte"),
	U8("a\xf0\x9f", false, "truncated at end"),
	U8("\x80", false, "lone continuation"),
	U8("\xbf", false, "lone continuation BF"),
	U8("\xc3\x28", false, "bad continuation"),
	U8("\xe2\x28\xa1", false, "bad 2nd of 3"),
	U8("\xe2\x82\x28", false, "bad 3rd of 3"),
	U8("\xf0\x28\x8c\xbc", false, "bad 2nd of 4"),
	U8("\xc3\xa9\xa9", false, "extra continuation"),
};

static void test_utf8_table(void **state)
{
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		const struct u8case *c = &utf8_cases[i];
		TU_EXPECT(hc_utf8_valid(c->s, c->len) == c->valid, "utf8 %s: got %d", c->what,
			!c->valid);
	}
	/* the length bounds the check: a valid prefix of an invalid string */
	TU_EXPECT(hc_utf8_valid("ab\xff", 2), "prefix not judged alone");
	/* NUL is a valid code point (callers that forbid it check separately) */
	TU_EXPECT(hc_utf8_valid("a\0b", 3), "NUL refused");
	TU_DONE();
}

static void test_utf8_every_lead_byte(void **state)
{
	/* each lead byte followed by enough valid-looking continuations: the
	 * validator must never read past len */
	int tu_failures = 0;
	(void)state;
	for (int c = 0x80; c < 0x100; c++) {
		char buf[1] = {(char)c};
		TU_EXPECT(!hc_utf8_valid(buf, 1), "lone byte 0x%02x accepted", c);
	}
	TU_DONE();
}

/* ------------------------------------------------------------ events */

static void test_event_names(void **state)
{
	static const struct u8case cases[] = {
		U8("chat message", true, "space inside"),
		U8("chat", true, "plain"),
		U8("$weird", true, "dollar is fine in an event"),
		U8("caf\xc3\xa9", true, "UTF-8"),
		U8("\xf0\x9f\x9a\x9a", true, "emoji"),
		U8(" ", true, "single space"),
		U8("", false, "empty"),
		U8("a/b", false, "slash"),
		U8("+", false, "plus"),
		U8("a+", false, "plus inside"),
		U8("#", false, "hash"),
		U8("a#b", false, "hash inside"),
		U8("a\nb", false, "newline"),
		U8("\t", false, "tab"),
		U8("a\x1f", false, "unit separator"),
		U8("a\x7f", false, "DEL"),
		U8("a\0b", false, "NUL"),
		U8("\xc0\xaf", false, "overlong slash"),
		U8("\xed\xa0\x80", false, "surrogate"),
		U8("\xf4\x90\x80\x80", false, "above U+10FFFF"),
		U8("ab\xe2\x82", false, "truncated"),
		U8("\xff", false, "FF"),
	};
	char buf[80];
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		TU_EXPECT(hc_event_valid_n(cases[i].s, cases[i].len) == cases[i].valid,
			"event %s: got %d", cases[i].what, !cases[i].valid);
	memset(buf, 'e', sizeof(buf));
	TU_EXPECT(hc_event_valid_n(buf, 64), "64-byte event refused");
	TU_EXPECT(!hc_event_valid_n(buf, 65), "65-byte event accepted");
	TU_EXPECT(!hc_event_valid_n(NULL, 3), "NULL accepted");
	/* 64 bytes is a byte limit, not a character limit: 32 two-byte chars */
	for (int i = 0; i < 32; i++)
		memcpy(buf + 2 * i, "\xc3\xa9", 2);
	TU_EXPECT(hc_event_valid_n(buf, 64), "32 x U+00E9 refused");
	/* cutting in the middle of a character at the limit is invalid */
	TU_EXPECT(!hc_event_valid_n(buf, 63), "cut character accepted");
	TU_DONE();
}

static void test_clientid(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{"mosq-123", true},
		{"", true},
		{"a b", true},
		{"caf\xc3\xa9", true},
		{"$x", true},
		{"a/b", false},
		{"+", false},
		{"#", false},
		{"ab+", false},
		{"/", false},
	};
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		TU_EXPECT(
			hc_clientid_valid(cases[i].s) == cases[i].ok, "client id '%s'", cases[i].s);
	TU_EXPECT(!hc_clientid_valid(NULL), "NULL client id accepted");
	TU_DONE();
}

static void test_levels(void **state)
{
	(void)state;
	assert_int_equal(hc_level_parse("read"), HC_LEVEL_READ);
	assert_int_equal(hc_level_parse("write"), HC_LEVEL_WRITE);
	assert_int_equal(hc_level_parse("admin"), HC_LEVEL_ADMIN);
	assert_int_equal(hc_level_parse("Read"), HC_LEVEL_NONE);
	assert_int_equal(hc_level_parse("none"), HC_LEVEL_NONE);
	assert_int_equal(hc_level_parse(""), HC_LEVEL_NONE);
	assert_int_equal(hc_level_parse("reader"), HC_LEVEL_NONE);
	assert_int_equal(hc_level_parse("rea"), HC_LEVEL_NONE);
	assert_int_equal(hc_level_parse(NULL), HC_LEVEL_NONE);
	assert_string_equal(hc_level_name(HC_LEVEL_READ), "read");
	assert_string_equal(hc_level_name(HC_LEVEL_WRITE), "write");
	assert_string_equal(hc_level_name(HC_LEVEL_ADMIN), "admin");
	assert_string_equal(hc_level_name(HC_LEVEL_NONE), "none");
	assert_string_equal(hc_level_name(42), "none");
	assert_string_equal(hc_level_name(-1), "none");
	/* the order is what the ACL compares */
	assert_true(HC_LEVEL_NONE < HC_LEVEL_READ && HC_LEVEL_READ < HC_LEVEL_WRITE &&
		    HC_LEVEL_WRITE < HC_LEVEL_ADMIN);
	for (int l = HC_LEVEL_READ; l <= HC_LEVEL_ADMIN; l++)
		assert_int_equal(hc_level_parse(hc_level_name(l)), l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_lengths),
		cmocka_unit_test(test_name_charset),
		cmocka_unit_test(test_name_specials),
		cmocka_unit_test(test_utf8_table),
		cmocka_unit_test(test_utf8_every_lead_byte),
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_clientid),
		cmocka_unit_test(test_levels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
