/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of bridge/args.c: Socket.IO arguments <-> one MQTT payload,
 * table by table (what a client's event is published as, what an MQTT
 * payload is given to Socket.IO clients as), round trips, and refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "args.h"
#include "buf.h"
#include "decode.h"
#include "hc_err.h"
#include "packet.h"

#include <stdio.h>
#include <string.h>

/* Encode the EVENT packet text (Socket.IO, without the Engine.IO '4'). */
static int encode(const char *pkt, const struct hbr_att *att, int natt, size_t max, char *out,
	size_t outsz, size_t *outlen, int *enc)
{
	struct hbr_sio_packet p;
	struct hbr_sio_event e;
	struct hbr_buf tmp;
	const void *pl;
	size_t plen;
	int rc;

	assert_int_equal(hbr_packet__sio_parse(pkt, strlen(pkt), &p), HUB_OK);
	assert_int_equal(hbr_decode__event(&p, &e), HUB_OK);
	hbr_buf__init(&tmp, max);
	rc = hbr_args__encode(&e, p.data, p.datalen, att, natt, &tmp, &pl, &plen, enc);
	if (rc == HUB_OK) {
		assert_true(plen < outsz);
		memcpy(out, pl, plen);
		out[plen] = '\0';
		*outlen = plen;
	}
	hbr_buf__free(&tmp);
	hbr_decode__event_free(&e);
	return rc;
}

static void test_encode(void **state)
{
	static const struct hbr_att att[] = {
		{(const unsigned char *)"hi", 2},
		{(const unsigned char *)"\x00\xff", 2},
	};
	static const struct {
		const char *pkt;
		int natt;
		int rc;
		int enc;
		const char *out; /* NULL: the raw bytes of attachment 0 */
	} rows[] = {
		{"2[\"e\"]", 0, HUB_OK, HBR_ENC_AUTO, ""},
		{"2[\"e\",{\"a\": 1}]", 0, HUB_OK, HBR_ENC_AUTO, "{\"a\": 1}"},
		{"2[\"e\",\"s\"]", 0, HUB_OK, HBR_ENC_AUTO, "\"s\""},
		{"2[\"e\",1,2]", 0, HUB_OK, HBR_ENC_ARGS, "[1,2]"},
		{"2[\"e\", 1 , {\"b\":[2]} ,null]", 0, HUB_OK, HBR_ENC_ARGS,
			"[1 , {\"b\":[2]} ,null]"},
		/* a literal $binary object is reserved among several arguments */
		{"2[\"e\",1,{\"$binary\":\"aGk=\"}]", 0, HUB_ERR_INVAL, 0, NULL},
		{"2[\"e\",1,{\"x\":{\"$binary\":\"aGk=\"}}]", 0, HUB_ERR_INVAL, 0, NULL},
		/* ... but not when it is not alone, nor as one argument */
		{"2[\"e\",1,{\"$binary\":\"aGk=\",\"k\":1}]", 0, HUB_OK, HBR_ENC_ARGS,
			"[1,{\"$binary\":\"aGk=\",\"k\":1}]"},
		{"2[\"e\",{\"$binary\":\"aGk=\"}]", 0, HUB_OK, HBR_ENC_AUTO,
			"{\"$binary\":\"aGk=\"}"},
		/* binaries */
		{"51-[\"e\",{\"_placeholder\":true,\"num\":0}]", 1, HUB_OK, HBR_ENC_BINARY, NULL},
		{"52-[\"e\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]",
			2, HUB_OK, HBR_ENC_ARGS, "[{\"$binary\":\"AP8=\"},{\"$binary\":\"aGk=\"}]"},
		{"51-[\"e\",{\"f\":{\"_placeholder\":true,\"num\":0}}]", 1, HUB_OK, HBR_ENC_ARGS,
			"[{\"f\":{\"$binary\":\"aGk=\"}}]"},
		{"51-[\"e\",{\"_placeholder\":true,\"num\":1}]", 1, HUB_ERR_INVAL, 0, NULL},
		{"51-[\"e\",{\"_placeholder\":true,\"num\":-1}]", 1, HUB_ERR_INVAL, 0, NULL},
		{"51-[\"e\",{\"_placeholder\":true,\"num\":0.5}]", 1, HUB_ERR_INVAL, 0, NULL},
		{"51-[\"e\",{\"_placeholder\":true}]", 1, HUB_ERR_INVAL, 0, NULL},
		{"51-[\"e\",{\"_placeholder\":true,\"num\":\"0\"}]", 1, HUB_ERR_INVAL, 0, NULL},
		/* in a text EVENT a _placeholder object is plain data */
		{"2[\"e\",{\"_placeholder\":true,\"num\":9}]", 0, HUB_OK, HBR_ENC_AUTO,
			"{\"_placeholder\":true,\"num\":9}"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char out[256];
		size_t len = 0;
		int enc = -1;
		int rc = encode(rows[i].pkt, att, rows[i].natt, 4096, out, sizeof(out), &len, &enc);
		if (rc != rows[i].rc)
			fail_msg("row %zu (%s): rc %d, want %d", i, rows[i].pkt, rc, rows[i].rc);
		if (rc)
			continue;
		assert_int_equal(enc, rows[i].enc);
		if (rows[i].out) {
			assert_string_equal(out, rows[i].out);
		} else {
			assert_int_equal(len, att[0].len);
			assert_memory_equal(out, att[0].p, len);
		}
	}
	/* over the maximum */
	{
		char out[64];
		size_t len;
		int enc;
		assert_int_equal(encode("2[\"e\",\"0123456789\",1]", NULL, 0, 8, out, sizeof(out),
					 &len, &enc),
			HUB_ERR_TOOBIG);
		assert_int_equal(encode("51-[\"e\",{\"_placeholder\":true,\"num\":0}]", att, 1, 1,
					 out, sizeof(out), &len, &enc),
			HUB_ERR_TOOBIG);
	}
}

/* Decode a payload; the args text and the attachments as "a|b" hex-free
 * strings (attachment bytes are printable in these rows). */
static int decode(
	const char *payload, size_t len, int enc, char *args, size_t asz, char *atts, size_t tsz)
{
	struct hbr_buf a, bins;
	struct hbr_att att[HBR_SIO_ATTACH_MAX];
	bool off[HBR_SIO_ATTACH_MAX];
	int n;

	hbr_buf__init(&a, 4096);
	hbr_buf__init(&bins, 4096);
	n = hbr_args__decode(payload, len, enc, &a, &bins, att, off);
	snprintf(args, asz, "%s", a.p ? a.p : "");
	atts[0] = '\0';
	for (int i = 0; i < n; i++) {
		const unsigned char *p =
			off[i] ? (const unsigned char *)bins.p + (uintptr_t)att[i].p : att[i].p;
		size_t used = strlen(atts);
		snprintf(atts + used, tsz - used, "%s%.*s", i ? "|" : "", (int)att[i].len,
			(const char *)p);
	}
	hbr_buf__free(&a);
	hbr_buf__free(&bins);
	return n;
}

static void test_decode(void **state)
{
	static const struct {
		const char *payload;
		int enc;
		int n;
		const char *args, *atts;
	} rows[] = {
		{"", HBR_ENC_AUTO, 0, "", ""},
		{"{\"a\":1}", HBR_ENC_AUTO, 0, "{\"a\":1}", ""},
		{" 12 ", HBR_ENC_AUTO, 0, " 12 ", ""},
		{"plain text", HBR_ENC_AUTO, 1, "{\"_placeholder\":true,\"num\":0}", "plain text"},
		{"plain text", HBR_ENC_TEXT, 0, "\"plain text\"", ""},
		{"[1,2]", HBR_ENC_AUTO, 0, "[1,2]", ""},
		{"[1,2]", HBR_ENC_BINARY, 1, "{\"_placeholder\":true,\"num\":0}", "[1,2]"},
		{"[1,2]", HBR_ENC_ARGS, 0, "1,2", ""},
		{" [ 1 , \"x\" ] ", HBR_ENC_ARGS, 0, "1 , \"x\"", ""},
		{"[]", HBR_ENC_ARGS, 0, "", ""},
		{"[1,{\"$binary\":\"aGk=\"},{\"k\":{\"$binary\":\"eXo=\"}}]", HBR_ENC_ARGS, 2,
			"1,{\"_placeholder\":true,\"num\":0},{\"k\":{\"_placeholder\":true,\"num\":"
			"1}}",
			"hi|yz"},
		/* not base64: an ordinary object */
		{"[{\"$binary\":\"!!\"}]", HBR_ENC_ARGS, 0, "{\"$binary\":\"!!\"}", ""},
		/* a literal placeholder beside a binary cannot be given faithfully */
		{"[{\"_placeholder\":true,\"num\":0},{\"$binary\":\"aGk=\"}]", HBR_ENC_ARGS, -1, "",
			""},
		/* ... alone it is plain data (a text EVENT) */
		{"[{\"_placeholder\":true,\"num\":0},{\"$binary\":\"!\"}]", HBR_ENC_ARGS, 0,
			"{\"_placeholder\":true,\"num\":0},{\"$binary\":\"!\"}", ""},
		/* an array content type on something that is not one */
		{"nope", HBR_ENC_ARGS, 1, "{\"_placeholder\":true,\"num\":0}", "nope"},
		{"{\"a\":1}", HBR_ENC_ARGS, 0, "{\"a\":1}", ""},
		/* invalid UTF-8 text is binary even when flagged as text */
		{"\xff\xfe", HBR_ENC_TEXT, 1, "{\"_placeholder\":true,\"num\":0}", "\xff\xfe"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char args[512], atts[256];
		int n = decode(rows[i].payload, strlen(rows[i].payload), rows[i].enc, args,
			sizeof(args), atts, sizeof(atts));
		if (n != rows[i].n)
			fail_msg("row %zu (%s): n %d, want %d", i, rows[i].payload, n, rows[i].n);
		if (n < 0)
			continue;
		if (strcmp(args, rows[i].args) || strcmp(atts, rows[i].atts))
			fail_msg("row %zu: args '%s' atts '%s', want '%s' '%s'", i, args, atts,
				rows[i].args, rows[i].atts);
	}
	/* more binaries than one packet carries */
	{
		char big[1024], args[1024], atts[512];
		size_t used = (size_t)snprintf(big, sizeof(big), "[");
		for (int i = 0; i <= HBR_SIO_ATTACH_MAX; i++)
			used += (size_t)snprintf(big + used, sizeof(big) - used,
				"%s{\"$binary\":\"aGk=\"}", i ? "," : "");
		snprintf(big + used, sizeof(big) - used, "]");
		assert_int_equal(decode(big, strlen(big), HBR_ENC_ARGS, args, sizeof(args), atts,
					 sizeof(atts)),
			-1);
	}
}

static void test_enc_of(void **state)
{
	(void)state;
	assert_int_equal(hbr_args__enc_of(NULL, 0, -1), HBR_ENC_AUTO);
	assert_int_equal(hbr_args__enc_of(NULL, 0, 1), HBR_ENC_TEXT);
	assert_int_equal(hbr_args__enc_of(NULL, 0, 0), HBR_ENC_AUTO);
	assert_int_equal(hbr_args__enc_of(HBR_CT_BINARY, strlen(HBR_CT_BINARY), 1), HBR_ENC_BINARY);
	assert_int_equal(hbr_args__enc_of(HBR_CT_ARGS, strlen(HBR_CT_ARGS), -1), HBR_ENC_ARGS);
	assert_int_equal(hbr_args__enc_of("application/json", 16, -1), HBR_ENC_AUTO);
	assert_int_equal(hbr_args__enc_of(HBR_CT_ARGS, 5, -1), HBR_ENC_AUTO);
	assert_null(hbr_args__ctype(HBR_ENC_AUTO));
	assert_string_equal(hbr_args__ctype(HBR_ENC_ARGS), HBR_CT_ARGS);
	assert_string_equal(hbr_args__ctype(HBR_ENC_BINARY), HBR_CT_BINARY);
}

/* What a client sends comes back to Socket.IO clients as it was sent. */
static void test_round_trip(void **state)
{
	static const struct {
		const char *pkt;
		int natt;
		const char *args; /* decoded arguments text */
	} rows[] = {
		{"2[\"e\",1,\"two\",{\"3\":[3]}]", 0, "1,\"two\",{\"3\":[3]}"},
		{"2[\"e\",{\"k\":\"v\"}]", 0, "{\"k\":\"v\"}"},
		{"51-[\"e\",{\"_placeholder\":true,\"num\":0}]", 1,
			"{\"_placeholder\":true,\"num\":0}"},
		{"52-[\"e\",{\"a\":[{\"_placeholder\":true,\"num\":1}]},{\"_placeholder\":true,"
		 "\"num\":0}]",
			2,
			"{\"a\":[{\"_placeholder\":true,\"num\":0}]},{\"_placeholder\":true,"
			"\"num\":1}"},
	};
	static const struct hbr_att att[] = {
		{(const unsigned char *)"one", 3},
		{(const unsigned char *)"two", 3},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char pl[512], args[512], atts[256];
		size_t len;
		int enc, n;
		assert_int_equal(
			encode(rows[i].pkt, att, rows[i].natt, 4096, pl, sizeof(pl), &len, &enc),
			HUB_OK);
		n = decode(pl, len, enc, args, sizeof(args), atts, sizeof(atts));
		assert_int_equal(n, rows[i].natt);
		assert_string_equal(args, rows[i].args);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enc_of),
		cmocka_unit_test(test_encode),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
