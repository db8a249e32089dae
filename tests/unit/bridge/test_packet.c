/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of hub-bridge's packet parsing (bridge/packet.c, decode.c,
 * buf.c's strict JSON reader): what a client's bytes are taken for, table
 * by table, and the fuzzer's regressions (tests/fuzz/corpus/sio/regress-*).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "decode.h"
#include "hc_err.h"
#include "packet.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static void test_eio_kind(void **state)
{
	static const struct {
		const char *in;
		int kind;
	} rows[] = {
		{"4hello", HBR_EK_MESSAGE},
		{"4", HBR_EK_MESSAGE},
		{"3", HBR_EK_PONG},
		{"3probe", HBR_EK_BAD}, /* the server's probe answer, never a client's */
		{"2probe", HBR_EK_PROBE},
		{"2", HBR_EK_BAD}, /* v4 clients never ping */
		{"2probe!", HBR_EK_BAD},
		{"5", HBR_EK_UPGRADE},
		{"5x", HBR_EK_BAD},
		{"1", HBR_EK_CLOSE},
		{"6", HBR_EK_NOOP},
		{"bAQID", HBR_EK_BINARY},
		{"0", HBR_EK_BAD},
		{"abc", HBR_EK_BAD},
		{"", HBR_EK_BAD},
		{"9", HBR_EK_BAD},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(
			hbr_packet__eio_kind(rows[i].in, strlen(rows[i].in)), rows[i].kind);
}

struct collect {
	int n;
	char items[8][32];
};

static int collect_cb(void *ud, const char *p, size_t n)
{
	struct collect *c = ud;
	snprintf(c->items[c->n++], sizeof(c->items[0]), "%.*s", (int)n, p);
	return c->n == 8;
}

static void test_split(void **state)
{
	struct collect c = {0};
	(void)state;
	assert_int_equal(hbr_packet__eio_split("4a\x1e"
					       "3\x1e"
					       "bAQ==",
				 10, collect_cb, &c),
		HUB_OK);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.items[0], "4a");
	assert_string_equal(c.items[1], "3");
	assert_string_equal(c.items[2], "bAQ==");
	/* empty body, empty records: refused */
	memset(&c, 0, sizeof(c));
	assert_int_equal(hbr_packet__eio_split("", 0, collect_cb, &c), HUB_ERR_INVAL);
	assert_int_equal(c.n, 0);
	assert_int_equal(hbr_packet__eio_split("4a\x1e\x1e"
					       "3",
				 5, collect_cb, &c),
		HUB_ERR_INVAL);
	assert_int_equal(hbr_packet__eio_split("4a\x1e", 3, collect_cb, &c), HUB_ERR_INVAL);
	assert_int_equal(hbr_packet__eio_split("\x1e"
					       "4a",
				 3, collect_cb, &c),
		HUB_ERR_INVAL);
}

static void test_sio_parse(void **state)
{
	static const struct {
		const char *in;
		int ok, type, attachments;
		const char *nsp;
		long long id;
		const char *data;
	} rows[] = {
		{"0", 1, HBR_SIO_CONNECT, 0, "/", -1, ""},
		{"0{\"token\":\"t\"}", 1, HBR_SIO_CONNECT, 0, "/", -1, "{\"token\":\"t\"}"},
		{"0/admin,", 1, HBR_SIO_CONNECT, 0, "/admin", -1, ""},
		{"0/admin,{\"a\":1}", 1, HBR_SIO_CONNECT, 0, "/admin", -1, "{\"a\":1}"},
		{"1", 1, HBR_SIO_DISCONNECT, 0, "/", -1, ""},
		{"1x", 0, 0, 0, NULL, 0, NULL},
		{"2[\"a\"]", 1, HBR_SIO_EVENT, 0, "/", -1, "[\"a\"]"},
		{"217[\"a\",1]", 1, HBR_SIO_EVENT, 0, "/", 17, "[\"a\",1]"},
		{"2/shop,5[\"order\"]", 1, HBR_SIO_EVENT, 0, "/shop", 5, "[\"order\"]"},
		{"2{\"a\":1}", 0, 0, 0, NULL, 0, NULL},
		{"2", 0, 0, 0, NULL, 0, NULL},
		{"3", 0, 0, 0, NULL, 0, NULL}, /* an ack needs its id */
		{"35[1]", 1, HBR_SIO_ACK, 0, "/", 5, "[1]"},
		{"4{}", 0, 0, 0, NULL, 0, NULL}, /* CONNECT_ERROR: server only */
		{"51-[\"f\",{}]", 1, HBR_SIO_BINARY_EVENT, 1, "/", -1, "[\"f\",{}]"},
		{"510-[\"f\"]", 1, HBR_SIO_BINARY_EVENT, 10, "/", -1, "[\"f\"]"},
		{"511-[\"f\"]", 0, 0, 0, NULL, 0, NULL}, /* over HBR_SIO_ATTACH_MAX */
		{"50-[\"f\"]", 0, 0, 0, NULL, 0, NULL},
		{"5-[\"f\"]", 0, 0, 0, NULL, 0, NULL},
		{"5[\"f\"]", 0, 0, 0, NULL, 0, NULL},
		{"62-/x,3[1]", 1, HBR_SIO_BINARY_ACK, 2, "/x", 3, "[1]"},
		{"21234567890123456[1]", 0, 0, 0, NULL, 0, NULL}, /* 16-digit id */
		{"2123456789012345[\"a\"]", 1, HBR_SIO_EVENT, 0, "/", 123456789012345LL, "[\"a\"]"},
		{"7", 0, 0, 0, NULL, 0, NULL},
		{"", 0, 0, 0, NULL, 0, NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct hbr_sio_packet p;
		int rc = hbr_packet__sio_parse(rows[i].in, strlen(rows[i].in), &p);
		if (!rows[i].ok) {
			if (rc == HUB_OK)
				fail_msg("accepted: %s", rows[i].in);
			continue;
		}
		if (rc != HUB_OK)
			fail_msg("refused: %s", rows[i].in);
		assert_int_equal(p.type, rows[i].type);
		assert_int_equal(p.attachments, rows[i].attachments);
		assert_int_equal(p.nsplen, strlen(rows[i].nsp));
		assert_memory_equal(p.nsp, rows[i].nsp, p.nsplen);
		assert_int_equal(p.id, rows[i].id);
		assert_int_equal(p.datalen, strlen(rows[i].data));
		assert_memory_equal(p.data, rows[i].data, p.datalen);
	}
	{
		/* a namespace of 128 bytes after the slash is the most */
		char in[300];
		struct hbr_sio_packet p;
		memset(in, 'n', sizeof(in));
		in[0] = '2';
		in[1] = '/';
		memcpy(in + 1 + 129, ",[\"a\"]", 6);
		assert_int_equal(hbr_packet__sio_parse(in, 1 + 129 + 6, &p), HUB_ERR_INVAL);
		memcpy(in + 1 + 128, ",[\"a\"]", 6);
		assert_int_equal(hbr_packet__sio_parse(in, 1 + 128 + 6, &p), HUB_OK);
		assert_int_equal(p.nsplen, 128);
	}
}

static void test_json_reader(void **state)
{
	static const struct {
		const char *in;
		bool ok;
	} rows[] = {
		{"{\"a\":[1,2.5e-3,true,null,\"x\"]}", true},
		{"\"\\ud83d\\ude00\"", true},  /* a surrogate pair */
		{"\"\\ude00\"", false},	       /* lone low surrogate (fuzz regression) */
		{"\"\\ud83d\"", false},	       /* lone high surrogate */
		{"\"\\ud83d\\u0041\"", false}, /* high surrogate, then no low one */
		{"\"\\ud83dx\"", false},
		{"\"\\u0000\"", true},
		{"01", false}, /* leading zero */
		{"[01]", false},
		{"1.", false},
		{"+1", false},
		{"\"a\tb\"", false}, /* raw control character */
		{"[1,]", false},
		{"\xff", false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool got = hbr_json_check(rows[i].in, strlen(rows[i].in));
		if (got != rows[i].ok)
			fail_msg("hbr_json_check(%s) = %d", rows[i].in, got);
		/* whatever the strict reader accepts, cJSON reads too */
		if (got)
			assert_true(hbr_json_valid(rows[i].in, strlen(rows[i].in)));
	}
}

static void test_json_element(void **state)
{
	size_t off, len;
	const char *a = "[ \"ev\" , {\"room\":\"r\"} , 3 ]";
	(void)state;
	assert_true(hbr_json_element(a, strlen(a), 0, &off, &len));
	assert_int_equal(len, 4);
	assert_memory_equal(a + off, "\"ev\"", 4);
	assert_true(hbr_json_element(a, strlen(a), 1, &off, &len));
	assert_memory_equal(a + off, "{\"room\":\"r\"}", len);
	assert_true(hbr_json_element(a, strlen(a), 2, &off, &len));
	assert_memory_equal(a + off, "3", len);
	assert_false(hbr_json_element(a, strlen(a), 3, &off, &len));
	/* fuzz regression: cJSON reads 01 as 1; no span may stand for it */
	assert_false(hbr_json_element("[\"er\",01]", 9, 1, &off, &len));
	assert_false(hbr_json_element("[\"er\",1 2]", 10, 1, &off, &len));
	assert_false(hbr_json_element("{\"a\":1}", 7, 0, &off, &len));
}

static void test_decode_event(void **state)
{
	struct hbr_sio_packet p;
	struct hbr_sio_event e;
	const char *in = "2[\"chat message\",{\"room\":\"lobby\",\"t\":\"hi\"}]";
	(void)state;
	assert_int_equal(hbr_packet__sio_parse(in, strlen(in), &p), HUB_OK);
	assert_int_equal(hbr_decode__event(&p, &e), HUB_OK);
	assert_string_equal(e.name, "chat message");
	assert_int_equal(e.name_len, 12);
	assert_int_equal(e.nargs, 1);
	assert_true(cJSON_IsObject(e.data));
	assert_true(e.data_span);
	assert_memory_equal(p.data + e.data_off, "{\"room\":\"lobby\",\"t\":\"hi\"}", e.data_len);
	hbr_decode__event_free(&e);

	/* no data; several arguments; data the strict reader declines */
	in = "2[\"ping\"]";
	hbr_packet__sio_parse(in, strlen(in), &p);
	assert_int_equal(hbr_decode__event(&p, &e), HUB_OK);
	assert_int_equal(e.nargs, 0);
	assert_null(e.data);
	hbr_decode__event_free(&e);
	in = "2[\"a\",1,2,3]";
	hbr_packet__sio_parse(in, strlen(in), &p);
	assert_int_equal(hbr_decode__event(&p, &e), HUB_OK);
	assert_int_equal(e.nargs, 3);
	hbr_decode__event_free(&e);
	in = "2[\"er\",01]";
	hbr_packet__sio_parse(in, strlen(in), &p);
	assert_int_equal(hbr_decode__event(&p, &e), HUB_OK);
	assert_false(e.data_span); /* re-printed by the server, never "0" */
	assert_int_equal(e.data->valueint, 1);
	hbr_decode__event_free(&e);
	/* a name with a NUL escape: checked and used up to the NUL */
	in = "2[\"join\\u0000x\",\"lobby\"]";
	hbr_packet__sio_parse(in, strlen(in), &p);
	assert_int_equal(hbr_decode__event(&p, &e), HUB_OK);
	assert_int_equal(e.name_len, strlen(e.name));
	hbr_decode__event_free(&e);

	/* refused: not an array, no name, a name that is no string, bad JSON */
	static const char *const bad[] = {"2[]", "2[1,2]", "2[null]", "2[\"a\"", "2[\"a\"] x",
		"2[\"\xff\"]", "2[\"a\",\"\\ude00\"]"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (hbr_packet__sio_parse(bad[i], strlen(bad[i]), &p) != HUB_OK)
			continue;
		if (hbr_decode__event(&p, &e) == HUB_OK)
			fail_msg("decoded: %s", bad[i]);
	}
}

static void test_decode_connect(void **state)
{
	struct hbr_sio_packet p;
	struct hbr_sio_connect c;
	static const struct {
		const char *in;
		int rc;
		const char *token;
	} rows[] = {
		{"0", HUB_OK, NULL},
		{"0{}", HUB_OK, NULL},
		{"0{\"token\":\"a.b.c\"}", HUB_OK, "a.b.c"},
		{"0{\"token\":5}", HUB_OK, NULL},
		{"0{\"token\":\"a\\u0000b\"}", HUB_OK, "a"},
		{"0[]", HUB_ERR_INVAL, NULL},
		{"0\"x\"", HUB_ERR_INVAL, NULL},
		{"0{", HUB_ERR_INVAL, NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(hbr_packet__sio_parse(rows[i].in, strlen(rows[i].in), &p), HUB_OK);
		assert_int_equal(hbr_decode__connect(&p, &c), rows[i].rc);
		if (rows[i].rc)
			continue;
		if (rows[i].token) {
			assert_non_null(c.token);
			assert_string_equal(c.token, rows[i].token);
			assert_int_equal(c.token_len, strlen(rows[i].token));
		} else {
			assert_null(c.token);
		}
		hbr_decode__connect_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eio_kind),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_sio_parse),
		cmocka_unit_test(test_json_reader),
		cmocka_unit_test(test_json_element),
		cmocka_unit_test(test_decode_event),
		cmocka_unit_test(test_decode_connect),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
