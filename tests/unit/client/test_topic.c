/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of client/src/topic.c and names.c: building the topics the
 * client writes and subscribes, parsing what it receives (table-driven:
 * each shape, wrong level counts, empty levels, wildcards, invalid names,
 * NUL bytes, '$' topics), and the reply-topic check; the topics of calls
 * and hooks (CONTRACT.md "Backends") and where a service may answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hubio_int.h"

#include <stdio.h>
#include <string.h>

static void test_build(void **state)
{
	char buf[HUBIO__TOPIC_MAX], f[3][HUBIO__TOPIC_MAX];
	(void)state;
	assert_int_equal(
		hubio__topic_room_ev(buf, sizeof(buf), "lobby", "chat message", "alice"), HUBIO_OK);
	assert_string_equal(buf, "rooms/lobby/ev/chat message/alice");
	assert_int_equal(hubio__topic_inbox(buf, sizeof(buf), "bob", "dm", "alice"), HUBIO_OK);
	assert_string_equal(buf, "users/bob/inbox/dm/alice");
	assert_int_equal(hubio__topic_room_filters(f, "lobby"), HUBIO_OK);
	assert_string_equal(f[0], "rooms/lobby/ev/+/+");
	assert_string_equal(f[1], "rooms/lobby/sys/+");
	assert_string_equal(f[2], "rooms/lobby/presence/+");
	assert_int_equal(hubio__topic_inbox_filter(buf, sizeof(buf), "alice"), HUBIO_OK);
	assert_string_equal(buf, "users/alice/inbox/+/+");
	assert_int_equal(hubio__topic_status(buf, sizeof(buf), "alice"), HUBIO_OK);
	assert_string_equal(buf, "users/alice/status");
	assert_int_equal(hubio__topic_reply_base(buf, sizeof(buf), "alice"), HUBIO_OK);
	assert_string_equal(buf, "users/alice/inbox/reply");
	/* UTF-8 event names are one level */
	assert_int_equal(
		hubio__topic_room_ev(buf, sizeof(buf), "r", "gr\xc3\xbc\xc3\x9f", "a"), HUBIO_OK);
}

static void test_build_invalid(void **state)
{
	static const struct {
		const char *room, *event, *sender;
	} bad[] = {
		{"", "e", "a"},
		{"lo/bby", "e", "a"},
		{"lo+", "e", "a"},
		{"#", "e", "a"},
		{"a b", "e", "a"},
		{NULL, "e", "a"},
		{"r", "", "a"},
		{"r", "a/b", "a"},
		{"r", "+", "a"},
		{"r", "#", "a"},
		{"r", "tab\there", "a"},
		{"r", "\xff", "a"},
		{"r", "\xc3", "a"},
		{"r", "e", "a/b"},
		{"r", "e", ""},
		{"r", NULL, "a"},
		{"r", "e", NULL},
		{"r", "e", "$hub"},
	};
	char buf[HUBIO__TOPIC_MAX], f[3][HUBIO__TOPIC_MAX];
	int failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hubio__topic_room_ev(buf, sizeof(buf), bad[i].room, bad[i].event,
			    bad[i].sender) != HUBIO_EINVAL ||
			hubio__topic_inbox(buf, sizeof(buf), bad[i].room, bad[i].event,
				bad[i].sender) != HUBIO_EINVAL) {
			fprintf(stderr, "row %zu accepted\n", i);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	assert_int_equal(hubio__topic_room_filters(f, "a/b"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_status(buf, sizeof(buf), "a+b"), HUBIO_EINVAL);
}

static void test_build_limits(void **state)
{
	char name[HUBIO__NAME_MAX + 2], buf[HUBIO__TOPIC_MAX], small[20];
	(void)state;
	memset(name, 'n', HUBIO__NAME_MAX);
	name[HUBIO__NAME_MAX] = '\0';
	/* three 64-byte levels fit the topic buffer */
	assert_int_equal(hubio__topic_room_ev(buf, sizeof(buf), name, name, name), HUBIO_OK);
	assert_int_equal(strlen(buf), 6 + 64 + 4 + 64 + 1 + 64);
	name[HUBIO__NAME_MAX] = 'n';
	name[HUBIO__NAME_MAX + 1] = '\0';
	assert_int_equal(hubio__topic_room_ev(buf, sizeof(buf), name, "e", "a"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_room_ev(buf, sizeof(buf), "r", name, "a"), HUBIO_EINVAL);
	/* a buffer too small is reported, never overrun */
	assert_int_equal(hubio__topic_room_ev(small, sizeof(small), "lobby", "chat", "alice"),
		HUBIO_ETOOBIG);
	/* "rooms/lobby/ev/c/al" is 19 bytes: it needs 20 with the NUL */
	assert_int_equal(hubio__topic_room_ev(small, 20, "lobby", "c", "al"), HUBIO_OK);
	assert_string_equal(small, "rooms/lobby/ev/c/al");
	assert_int_equal(hubio__topic_room_ev(small, 19, "lobby", "c", "al"), HUBIO_ETOOBIG);
}

struct parse_row {
	const char *topic;
	enum hubio__topic_kind kind;
	const char *room, *user, *event, *from;
};

static const struct parse_row rows[] = {
	{"rooms/lobby/ev/chat message/alice", HUBIO__T_ROOM_EV, "lobby", "", "chat message",
		"alice"},
	{"rooms/lobby/sys/joined", HUBIO__T_ROOM_SYS, "lobby", "", "joined", ""},
	{"rooms/lobby/presence/bob", HUBIO__T_ROOM_PRESENCE, "lobby", "", "", "bob"},
	{"users/alice/inbox/dm/bob", HUBIO__T_INBOX, "", "alice", "dm", "bob"},
	{"users/alice/inbox/reply/bob", HUBIO__T_INBOX, "", "alice", "reply", "bob"},
	{"users/alice/status", HUBIO__T_STATUS, "", "alice", "", ""},
	/* calls, hook requests and their answers */
	{"users/alice/reply/0123abcd", HUBIO__T_REPLY, "", "alice", "", ""},
	{"users/alice/reply/a/b/c", HUBIO__T_REPLY, "", "alice", "", ""},
	{"svc/shop/order/alice", HUBIO__T_CALL, "", "shop", "order", "alice"},
	{"svc/shop/place order/alice", HUBIO__T_CALL, "", "shop", "place order", "alice"},
	{"svc/chat/hook/lobby/chat message/bob", HUBIO__T_HOOK, "lobby", "chat", "chat message",
		"bob"},
	{"users/alice/reply", HUBIO__T_OTHER, "", "", "", ""},
	{"users/alice/reply/", HUBIO__T_OTHER, "", "", "", ""},
	{"users/alice/reply//x", HUBIO__T_OTHER, "", "", "", ""},
	{"users/alice/reply/a/b/c/d", HUBIO__T_OTHER, "", "", "", ""},
	{"users/alice/reply/+", HUBIO__T_OTHER, "", "", "", ""},
	{"users/alice/reply/#", HUBIO__T_OTHER, "", "", "", ""},
	{"users/a b/reply/x", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/shop/hook/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/shop/order", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/shop/order/alice/x", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/shop//alice", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/sh op/order/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/shop/order/$hub", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/shop/or+der/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/chat/hook/lo bby/chat/bob", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/chat/hook/lobby/chat/bob/x", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/chat/hook/lobby//bob", HUBIO__T_OTHER, "", "", "", ""},
	{"svc/chat/hooks/lobby/chat/bob", HUBIO__T_OTHER, "", "", "", ""},
	{"$share/shop/svc/shop/order/alice", HUBIO__T_OTHER, "", "", "", ""},
	/* wrong level counts */
	{"rooms/lobby/ev/chat", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/ev/chat/alice/x", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/sys", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/sys/joined/x", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/presence/bob/x", HUBIO__T_OTHER, "", "", "", ""},
	{"users/alice/inbox/dm", HUBIO__T_OTHER, "", "", "", ""},
	{"users/alice/status/x", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/ev/a/b/c/d/e/f/g", HUBIO__T_OTHER, "", "", "", ""},
	/* empty levels */
	{"rooms//ev/chat/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/ev//alice", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/ev/chat/", HUBIO__T_OTHER, "", "", "", ""},
	{"/rooms/lobby/ev/chat/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/presence/", HUBIO__T_OTHER, "", "", "", ""},
	/* wildcards and invalid names */
	{"rooms/+/ev/chat/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/ev/#/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/ev/chat/al+ce", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lob by/ev/chat/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/ev/chat/$hub", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/presence/b b", HUBIO__T_OTHER, "", "", "", ""},
	{"users/a b/inbox/dm/bob", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/ev/\xff/alice", HUBIO__T_OTHER, "", "", "", ""},
	/* other trees */
	{"$SYS/broker/uptime", HUBIO__T_OTHER, "", "", "", ""},
	{"owntracks/alice/phone", HUBIO__T_OTHER, "", "", "", ""},
	{"Rooms/lobby/ev/chat/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"rooms/lobby/EV/chat/alice", HUBIO__T_OTHER, "", "", "", ""},
	{"", HUBIO__T_OTHER, "", "", "", ""},
};

static void test_parse_table(void **state)
{
	struct hubio__topic t;
	int failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct parse_row *r = &rows[i];
		enum hubio__topic_kind k = hubio__topic_parse(r->topic, strlen(r->topic), &t);
		if (k != r->kind || t.kind != r->kind || strcmp(t.room, r->room) ||
			strcmp(t.user, r->user) || strcmp(t.event, r->event) ||
			strcmp(t.from, r->from)) {
			fprintf(stderr,
				"row %zu (%s): kind %d room '%s' user '%s' event '%s' from '%s'\n",
				i, r->topic, (int)k, t.room, t.user, t.event, t.from);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

static void test_parse_bytes(void **state)
{
	static const char with_nul[] = "rooms/lobby/ev/chat\0x/alice";
	char big[70000];
	struct hubio__topic t;
	(void)state;
	/* a NUL inside the topic is never a valid shape */
	assert_int_equal(hubio__topic_parse(with_nul, sizeof(with_nul) - 1, &t), HUBIO__T_OTHER);
	/* the length counts, not a terminator */
	assert_int_equal(hubio__topic_parse("users/alice/statusXYZ", 18, &t), HUBIO__T_STATUS);
	assert_int_equal(hubio__topic_parse(NULL, 0, &t), HUBIO__T_OTHER);
	/* a 65535-byte topic: one huge level */
	memcpy(big, "rooms/lobby/ev/x/", 17);
	memset(big + 17, 'a', 65535 - 17);
	assert_int_equal(hubio__topic_parse(big, 65535, &t), HUBIO__T_OTHER);
	/* a 64-byte sender is fine, 65 is not */
	memset(big + 17, 'a', 64);
	assert_int_equal(hubio__topic_parse(big, 17 + 64, &t), HUBIO__T_ROOM_EV);
	assert_int_equal(strlen(t.from), 64);
	assert_int_equal(hubio__topic_parse(big, 17 + 65, &t), HUBIO__T_OTHER);
}

static void test_calls_build(void **state)
{
	static const uint8_t corr[HUBIO__CORR_LEN] = {
		0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8};
	char buf[HUBIO__TOPIC_MAX], name[HUBIO__NAME_MAX + 1];
	(void)state;
	assert_int_equal(hubio__topic_call(buf, sizeof(buf), "shop", "order", "alice"), HUBIO_OK);
	assert_string_equal(buf, "svc/shop/order/alice");
	assert_int_equal(
		hubio__topic_reply(buf, sizeof(buf), "alice", corr, sizeof(corr)), HUBIO_OK);
	assert_string_equal(buf, "users/alice/reply/00017f80feffabcd0102030405060708");
	assert_int_equal(hubio__topic_reply_filter(buf, sizeof(buf), "alice"), HUBIO_OK);
	assert_string_equal(buf, "users/alice/reply/#");
	assert_int_equal(hubio__topic_calls_filter(buf, sizeof(buf), "shop", false), HUBIO_OK);
	assert_string_equal(buf, "$share/shop/svc/shop/#");
	assert_int_equal(hubio__topic_calls_filter(buf, sizeof(buf), "shop", true), HUBIO_OK);
	assert_string_equal(buf, "svc/shop/#");
	/* what a call's topic builder refuses */
	assert_int_equal(
		hubio__topic_call(buf, sizeof(buf), "shop", "hook", "alice"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_call(buf, sizeof(buf), "shop", "a/b", "alice"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_call(buf, sizeof(buf), "shop", "+", "alice"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_call(buf, sizeof(buf), "sh/op", "x", "alice"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_call(buf, sizeof(buf), "#", "x", "alice"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_call(buf, sizeof(buf), NULL, "x", "alice"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_call(buf, sizeof(buf), "shop", NULL, "alice"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_call(buf, sizeof(buf), "shop", "", "alice"), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_reply(buf, sizeof(buf), "a/b", corr, 16), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_reply(buf, sizeof(buf), "alice", corr, 0), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_reply(buf, sizeof(buf), "alice", corr, 17), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_reply(buf, sizeof(buf), "alice", NULL, 16), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_calls_filter(buf, sizeof(buf), "+", false), HUBIO_EINVAL);
	assert_int_equal(hubio__topic_reply(buf, 20, "alice", corr, 16), HUBIO_ETOOBIG);
	/* the longest: three 64-byte levels */
	memset(name, 'n', HUBIO__NAME_MAX);
	name[HUBIO__NAME_MAX] = '\0';
	assert_int_equal(hubio__topic_call(buf, sizeof(buf), name, name, name), HUBIO_OK);
	assert_true(hubio__method_valid("order"));
	assert_true(hubio__method_valid("hooks"));
	assert_false(hubio__method_valid("hook"));
	assert_false(hubio__method_valid(""));
	assert_false(hubio__method_valid(NULL));
}

static void test_answer_topics(void **state)
{
	static const struct {
		const char *topic, *who;
		bool call_ok, verdict_ok;
	} answer_rows[] = {
		{"users/alice/reply/x", "alice", true, false},
		{"users/alice/reply/a/b/c", "alice", true, false},
		{"users/alice/reply/a/b/c/d", "alice", false, false},
		{"users/alice/reply", "alice", false, false},
		{"users/alice/reply/", "alice", false, false},
		{"users/alice/reply//x", "alice", false, false},
		{"users/alice/reply/+", "alice", false, false},
		{"users/alice/reply/x#", "alice", false, false},
		{"users/bob/reply/x", "alice", false, false},
		{"users/alic/reply/x", "alice", false, false},
		{"users/alicex/reply/x", "alice", false, false},
		{"users/alice/inbox/reply", "alice", false, false},
		{"rooms/lobby/ev/x/alice", "alice", false, false},
		{"$hub/verdict/chat/0123", "chat", false, true},
		{"$hub/verdict/chat/0123/x", "chat", false, false},
		{"$hub/verdict/chat/", "chat", false, false},
		{"$hub/verdict/chat/+", "chat", false, false},
		{"$hub/verdict/pay/0123", "chat", false, false},
		{"$hub/verdict/chat", "chat", false, false},
		{"$hub/verdicts/chat/1", "chat", false, false},
		{"", "alice", false, false},
	};
	int failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(answer_rows) / sizeof(answer_rows[0]); i++) {
		size_t n = strlen(answer_rows[i].topic);
		bool c = hubio__topic_answer_ok(answer_rows[i].topic, n, answer_rows[i].who);
		bool v = hubio__topic_verdict_ok(answer_rows[i].topic, n, answer_rows[i].who);
		if (c != answer_rows[i].call_ok || v != answer_rows[i].verdict_ok) {
			fprintf(stderr, "row %zu (%s): call %d verdict %d\n", i,
				answer_rows[i].topic, c, v);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	/* NULs, lengths and NULL arguments */
	assert_false(hubio__topic_answer_ok("users/alice/reply/x\0y", 21, "alice"));
	assert_true(hubio__topic_answer_ok("users/alice/reply/xyz", 19, "alice"));
	assert_false(hubio__topic_answer_ok(NULL, 0, "alice"));
	assert_false(hubio__topic_answer_ok("users/alice/reply/x", 19, NULL));
	assert_false(hubio__topic_verdict_ok("$hub/verdict/chat/1", 19, ""));
}

static void test_reply_base(void **state)
{
	(void)state;
	assert_true(hubio__topic_reply_base_ok("users/alice/inbox/reply", 23));
	assert_false(hubio__topic_reply_base_ok("users/alice/inbox/reply/x", 25));
	assert_false(hubio__topic_reply_base_ok("users/alice/inbox/other", 23));
	assert_false(hubio__topic_reply_base_ok("rooms/lobby/ev/reply", 20));
	assert_false(hubio__topic_reply_base_ok("users/+/inbox/reply", 19));
	assert_false(hubio__topic_reply_base_ok("users//inbox/reply", 18));
	assert_false(hubio__topic_reply_base_ok("users/a/status", 14));
	assert_false(hubio__topic_reply_base_ok("", 0));
	assert_false(hubio__topic_reply_base_ok(NULL, 0));
}

static void test_reserved_events(void **state)
{
	(void)state;
	assert_true(hubio__event_reserved("connect"));
	assert_true(hubio__event_reserved("disconnect"));
	assert_true(hubio__event_reserved("joined"));
	assert_true(hubio__event_reserved("left"));
	assert_true(hubio__event_reserved("error"));
	assert_true(hubio__event_reserved("*"));
	assert_false(hubio__event_reserved("chat message"));
	assert_false(hubio__event_reserved("typing"));
	assert_false(hubio__event_reserved("reply"));
	assert_false(hubio__event_reserved("Connect"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_build_invalid),
		cmocka_unit_test(test_build_limits),
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_bytes),
		cmocka_unit_test(test_reply_base),
		cmocka_unit_test(test_calls_build),
		cmocka_unit_test(test_answer_topics),
		cmocka_unit_test(test_reserved_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
