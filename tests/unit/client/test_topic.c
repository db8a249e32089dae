/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of client/src/topic.c and names.c: building the topics the
 * client writes and subscribes, parsing what it receives (table-driven:
 * each shape, wrong level counts, empty levels, wildcards, invalid names,
 * NUL bytes, '$' topics), and the reply-topic check.
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
		cmocka_unit_test(test_reserved_events),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
