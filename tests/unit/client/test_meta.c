/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of client/src/meta.c and members.c: the hub's notices and
 * presence payloads (authplugin/presence.c writes them), the meta handed to
 * handlers, and the bounded presence list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hubio_int.h"

#include <stdio.h>
#include <string.h>

#define S(x) x, sizeof(x) - 1

static void test_notice(void **state)
{
	char user[HUBIO__NAME_MAX + 1];
	long online;
	(void)state;
	assert_int_equal(hubio__notice_parse(S("{\"user\":\"alice\",\"online\":3}"), user, &online),
		HUBIO_OK);
	assert_string_equal(user, "alice");
	assert_int_equal(online, 3);
	assert_int_equal(
		hubio__notice_parse(
			S("{\"user\":\"bob\",\"online\":0,\"reason\":\"network\"}"), user, &online),
		HUBIO_OK);
	assert_string_equal(user, "bob");
	assert_int_equal(online, 0);
	assert_int_equal(hubio__notice_parse(S("{\"user\":\"bob\"}"), user, &online), HUBIO_OK);
	assert_int_equal(online, -1);
	/* the payload is (pointer, length): trailing bytes are not read */
	assert_int_equal(
		hubio__notice_parse("{\"user\":\"carol\"}garbage", 16, user, &online), HUBIO_OK);
	assert_string_equal(user, "carol");
	/* refused */
	assert_int_equal(hubio__notice_parse(S("{\"online\":3}"), user, &online), HUBIO_EINVAL);
	assert_string_equal(user, "");
	assert_int_equal(hubio__notice_parse(S("{\"user\":\"a/b\"}"), user, &online), HUBIO_EINVAL);
	assert_int_equal(hubio__notice_parse(S("{\"user\":7}"), user, &online), HUBIO_EINVAL);
	assert_int_equal(hubio__notice_parse(S("not json"), user, &online), HUBIO_EINVAL);
	assert_int_equal(hubio__notice_parse(S("{\"user\":\"ali"), user, &online), HUBIO_EINVAL);
	assert_int_equal(hubio__notice_parse(NULL, 0, user, &online), HUBIO_EINVAL);
	assert_int_equal(
		hubio__notice_parse(S("{\"user\":\"x\",\"online\":-4}"), user, &online), HUBIO_OK);
	assert_int_equal(online, -1);
}

static void test_presence(void **state)
{
	bool present;
	int64_t since;
	(void)state;
	assert_int_equal(hubio__presence_parse(
				 S("{\"user\":\"alice\",\"since\":1700000000}"), &present, &since),
		HUBIO_OK);
	assert_true(present);
	assert_int_equal(since, 1700000000);
	/* empty retained payload: cleared */
	assert_int_equal(hubio__presence_parse("", 0, &present, &since), HUBIO_OK);
	assert_false(present);
	assert_int_equal(hubio__presence_parse(NULL, 0, &present, &since), HUBIO_OK);
	assert_false(present);
	assert_int_equal(hubio__presence_parse(S("{}"), &present, &since), HUBIO_OK);
	assert_true(present);
	assert_int_equal(since, 0);
	assert_int_equal(hubio__presence_parse(S("[1]"), &present, &since), HUBIO_EINVAL);
	assert_int_equal(hubio__presence_parse(S("{"), &present, &since), HUBIO_EINVAL);
	assert_false(present);
}

static void test_meta_from_topic(void **state)
{
	struct hubio__topic t;
	struct hubio_meta m;
	struct hubio_reply r;
	memset(&r, 0, sizeof(r));
	(void)state;
	hubio__topic_parse(S("rooms/lobby/ev/chat message/alice"), &t);
	hubio__meta_from_topic(&t, 1234, NULL, &m);
	assert_string_equal(m.room, "lobby");
	assert_string_equal(m.from, "alice");
	assert_int_equal(m.ts, 1234);
	assert_int_equal(m.inbox, 0);
	assert_null(m.reply);

	hubio__topic_parse(S("users/bob/inbox/dm/alice"), &t);
	hubio__meta_from_topic(&t, 5, &r, &m);
	assert_null(m.room);
	assert_string_equal(m.from, "alice");
	assert_int_equal(m.inbox, 1);
	assert_ptr_equal(m.reply, &r);

	hubio__topic_parse(S("rooms/lobby/sys/joined"), &t);
	hubio__meta_from_topic(&t, 5, NULL, &m);
	assert_string_equal(m.room, "lobby");
	assert_null(m.from); /* filled from the payload by the client */

	hubio__topic_parse(S("nothing/here"), &t);
	hubio__meta_from_topic(&t, 5, NULL, &m);
	assert_null(m.room);
	assert_null(m.from);
}

static void test_members(void **state)
{
	struct hubio__members m = {.max = 3};
	struct hubio_member view[3];
	(void)state;
	assert_int_equal(hubio__members_set(&m, "alice", 10), 1);
	assert_int_equal(hubio__members_set(&m, "bob", 11), 1);
	assert_int_equal(hubio__members_set(&m, "alice", 10), 0); /* unchanged */
	assert_int_equal(hubio__members_set(&m, "alice", 12), 1); /* updated */
	assert_int_equal(m.n, 2);
	assert_int_equal(hubio__members_set(&m, "carol", 13), 1);
	assert_int_equal(hubio__members_set(&m, "dave", 14), -HUBIO_EFULL);
	hubio__members_view(&m, view);
	assert_string_equal(view[0].user, "alice");
	assert_int_equal(view[0].since, 12);
	assert_string_equal(view[2].user, "carol");
	assert_int_equal(hubio__members_remove(&m, "bob"), 1);
	assert_int_equal(hubio__members_remove(&m, "bob"), 0);
	assert_int_equal(m.n, 2);
	hubio__members_view(&m, view);
	assert_string_equal(view[0].user, "alice");
	assert_string_equal(view[1].user, "carol");
	assert_int_equal(hubio__members_set(&m, "dave", 14), 1);
	hubio__members_clear(&m);
	assert_int_equal(m.n, 0);
	assert_null(m.v);
	assert_int_equal(hubio__members_remove(&m, "x"), 0);
	hubio__members_clear(&m);
}

static void test_members_grow(void **state)
{
	struct hubio__members m = {.max = 1000};
	char name[16];
	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(hubio__members_set(&m, name, i), 1);
	}
	assert_int_equal(m.n, 1000);
	assert_true(m.cap <= 1000);
	assert_int_equal(hubio__members_set(&m, "one-more", 0), -HUBIO_EFULL);
	for (int i = 0; i < 1000; i += 2) {
		snprintf(name, sizeof(name), "u%d", i);
		assert_int_equal(hubio__members_remove(&m, name), 1);
	}
	assert_int_equal(m.n, 500);
	assert_string_equal(m.v[0].user, "u1");
	hubio__members_clear(&m);
}

static void test_strerror(void **state)
{
	(void)state;
	for (int e = HUBIO_OK; e <= HUBIO_ERRNO; e++)
		assert_string_not_equal(hubio_strerror(e), "unknown error");
	assert_string_equal(hubio_strerror(-1), "unknown error");
	assert_string_equal(hubio_strerror(999), "unknown error");
	assert_non_null(hubio_version());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_notice),
		cmocka_unit_test(test_presence),
		cmocka_unit_test(test_meta_from_topic),
		cmocka_unit_test(test_members),
		cmocka_unit_test(test_members_grow),
		cmocka_unit_test(test_strerror),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
