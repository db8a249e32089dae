/* SPDX-License-Identifier: MIT */
/*
 * hub/mqttpkt.c: the CONNECT hubd's WebSocket front reads and rewrites.
 * Packets of every protocol level, with and without will, username,
 * password and MQTT 5 properties, are built here field by field; each is
 * found whole (and every shorter prefix is "more"), malformed ones are
 * refused, and the rewritten packet has the new password and every other
 * byte as before.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_err.h"
#include "mqttpkt.h"
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct spec {
	int version;
	const char *client_id;
	const char *will_topic; /* NULL: no will */
	size_t will_len;	/* will payload bytes ('w' repeated) */
	const char *user;	/* NULL: no username */
	const char *pass;	/* NULL: no password */
	size_t props;		/* MQTT 5 CONNECT properties bytes (user properties) */
	size_t pad_user;	/* username repeated to this length when > 0 */
};

struct bld {
	unsigned char *p;
	size_t n, cap;
};

static void put(struct bld *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (n) /* an empty part may come with no pointer */
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void put_u8(struct bld *b, unsigned v)
{
	unsigned char c = (unsigned char)v;
	put(b, &c, 1);
}

static void put_str(struct bld *b, const void *s, size_t n)
{
	put_u8(b, (unsigned)(n >> 8));
	put_u8(b, (unsigned)(n & 0xff));
	put(b, s, n);
}

static void put_varint(struct bld *b, size_t v)
{
	do {
		unsigned char c = v & 0x7f;
		v >>= 7;
		put_u8(b, c | (v ? 0x80 : 0));
	} while (v);
}

/* MQTT 5 properties of n bytes: user properties ("k", value) filling it. */
static void put_props(struct bld *b, size_t n)
{
	struct bld pb = {0};
	while (pb.n < n) {
		size_t left = n - pb.n; /* a user property takes 1 + 2+1 + 2+v */
		size_t v = left >= 6 ? left - 6 : 0;
		if (v > 65535)
			v = 65535;
		put_u8(&pb, 0x26);
		put_str(&pb, "k", 1);
		{
			char *val = malloc(v + 1);
			memset(val, 'v', v);
			put_str(&pb, val, v);
			free(val);
		}
		if (left < 6)
			break;
	}
	put_varint(b, pb.n);
	put(b, pb.p, pb.n);
	free(pb.p);
}

/* The CONNECT of s; *len gets its size (caller frees). */
static unsigned char *build(const struct spec *s, size_t *len)
{
	struct bld body = {0}, pkt = {0};
	unsigned flags = 0x02; /* clean session */
	char user[70000];

	if (s->version == 3)
		put_str(&body, "MQIsdp", 6);
	else
		put_str(&body, "MQTT", 4);
	put_u8(&body, (unsigned)s->version);
	if (s->user)
		flags |= 0x80;
	if (s->pass)
		flags |= 0x40;
	if (s->will_topic)
		flags |= 0x04 | 0x08 | 0x20; /* will, QoS 1, retain */
	put_u8(&body, flags);
	put_u8(&body, 0);
	put_u8(&body, 60);
	if (s->version == 5)
		put_props(&body, s->props);
	put_str(&body, s->client_id, strlen(s->client_id));
	if (s->will_topic) {
		char *w = malloc(s->will_len + 1);
		if (s->version == 5)
			put_props(&body, 3);
		put_str(&body, s->will_topic, strlen(s->will_topic));
		memset(w, 'w', s->will_len);
		put_str(&body, w, s->will_len);
		free(w);
	}
	if (s->user) {
		size_t ul = strlen(s->user);
		if (s->pad_user) {
			for (size_t i = 0; i < s->pad_user; i++)
				user[i] = s->user[i % ul];
			ul = s->pad_user;
		} else {
			memcpy(user, s->user, ul);
		}
		put_str(&body, user, ul);
	}
	if (s->pass)
		put_str(&body, s->pass, strlen(s->pass));
	put_u8(&pkt, 0x10);
	put_varint(&pkt, body.n);
	put(&pkt, body.p, body.n);
	free(body.p);
	*len = pkt.n;
	return pkt.p;
}

static const struct spec specs[] = {
	{4, "web-1", NULL, 0, "alice", "tok.en.x", 0, 0},
	{4, "web-1", NULL, 0, "alice", NULL, 0, 0},
	{4, "", NULL, 0, "alice", "", 0, 0},
	{4, "c", NULL, 0, NULL, NULL, 0, 0},
	{3, "mqttjs_1", NULL, 0, "alice", "pw", 0, 0},
	{3, "mqttjs_1", "users/alice/status", 20, "alice", NULL, 0, 0},
	{5, "hubio-alice-1", "users/alice/status", 16, "alice", "", 0, 0},
	{5, "hubio-alice-1", "users/alice/status", 16, "alice", NULL, 40, 0},
	{5, "x", NULL, 0, NULL, "secret-without-user", 3, 0},
	{5, "x", NULL, 0, "alice", "secret", 200, 0},
	{5, "big-will", "users/alice/status", 65535, "alice", "p", 0, 0},
	{4, "big-user", NULL, 0, "abc", "p", 0, 65535},
	{5, "props", NULL, 0, "alice", "p", 20000, 0},
};

static void test_found_whole(void **state)
{
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		const struct spec *s = &specs[i];
		size_t len;
		unsigned char *p = build(s, &len);
		struct hub_mqtt_connect c;
		int rc = hub_mqttpkt_connect(p, len, 1 << 20, &c);

		TU_EXPECT(rc == HUB_OK, "spec %zu: rc %d", i, rc);
		if (rc == HUB_OK) {
			TU_EXPECT(c.total == len && c.version == s->version,
				"spec %zu: total %zu/%zu", i, c.total, len);
			TU_EXPECT(
				c.has_user == (s->user != NULL) && c.has_pass == (s->pass != NULL),
				"spec %zu: flags", i);
			if (s->user && !s->pad_user)
				TU_EXPECT(c.user_len == strlen(s->user) &&
						  !memcmp(p + c.user_off + 2, s->user, c.user_len),
					"spec %zu: username", i);
			if (s->pass)
				TU_EXPECT(c.pass_len == strlen(s->pass) &&
						  !memcmp(p + c.pass_off + 2, s->pass, c.pass_len),
					"spec %zu: password", i);
		}
		/* every shorter prefix: more to come */
		for (size_t n = 0; n < len; n += n < 64 ? 1 : 997) {
			rc = hub_mqttpkt_connect(p, n, 1 << 20, &c);
			TU_EXPECT(rc == HUB_MQTTPKT_MORE, "spec %zu prefix %zu: rc %d", i, n, rc);
		}
		/* bytes after it (a SUBSCRIBE sent before the CONNACK) are not its */
		{
			unsigned char *q = malloc(len + 5);
			memcpy(q, p, len);
			memcpy(q + len, "\x82\x03\x00\x01\x00", 5);
			rc = hub_mqttpkt_connect(q, len + 5, 1 << 20, &c);
			TU_EXPECT(rc == HUB_OK && c.total == len, "spec %zu: with a trailer", i);
			free(q);
		}
		/* over the maximum */
		rc = hub_mqttpkt_connect(p, len, len - 1, &c);
		TU_EXPECT(rc == HUB_ERR_TOOBIG, "spec %zu: max %zu: rc %d", i, len - 1, rc);
		rc = hub_mqttpkt_connect(p, 5, len - 1, &c);
		TU_EXPECT(rc == HUB_ERR_TOOBIG, "spec %zu: announced over max: rc %d", i, rc);
		free(p);
	}
	TU_DONE();
}

static void test_refused(void **state)
{
	static const struct {
		const char *what;
		const char *bytes;
		size_t len;
	} bad[] = {
		{"PUBLISH first", "\x30\x05\x00\x01t\x00\x00", 7},
		{"SUBSCRIBE first", "\x82\x03\x00\x01\x00", 5},
		{"CONNECT with flag bits", "\x11\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00", 14},
		{"varint of 5 bytes", "\x10\xff\xff\xff\xff\x01", 6},
		{"protocol name", "\x10\x0c\x00\x04MQTX\x04\x02\x00\x3c\x00\x00", 14},
		{"level 3 with MQTT", "\x10\x0c\x00\x04MQTT\x03\x02\x00\x3c\x00\x00", 14},
		{"level 6", "\x10\x0c\x00\x04MQTT\x06\x02\x00\x3c\x00\x00", 14},
		{"level 4 with MQIsdp", "\x10\x0e\x00\x06MQIsdp\x04\x02\x00\x3c\x00\x00", 16},
		{"reserved flag", "\x10\x0c\x00\x04MQTT\x04\x03\x00\x3c\x00\x00", 14},
		{"will QoS without will", "\x10\x0c\x00\x04MQTT\x04\x0a\x00\x3c\x00\x00", 14},
		{"will retain without will", "\x10\x0c\x00\x04MQTT\x04\x22\x00\x3c\x00\x00", 14},
		{"password without username (3.1.1)",
			"\x10\x0f\x00\x04MQTT\x04\x42\x00\x3c\x00\x00\x00\x01p", 17},
		{"client id longer than the packet", "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x05",
			14},
		{"username flag, no username", "\x10\x0c\x00\x04MQTT\x04\x82\x00\x3c\x00\x00", 14},
		{"bytes after the last field", "\x10\x0d\x00\x04MQTT\x04\x02\x00\x3c\x00\x00Z", 15},
		{"no keep alive", "\x10\x08\x00\x04MQTT\x04\x02", 10},
		{"v5 properties longer than the packet",
			"\x10\x0d\x00\x04MQTT\x05\x02\x00\x3c\x09\x00\x00", 15},
		{"empty protocol name", "\x10\x08\x00\x00\x04\x02\x00\x3c\x00\x00", 10},
	};
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct hub_mqtt_connect c;
		int rc = hub_mqttpkt_connect(
			(const unsigned char *)bad[i].bytes, bad[i].len, 1 << 20, &c);
		TU_EXPECT(rc == HUB_ERR_INVAL, "%s: rc %d", bad[i].what, rc);
	}
	TU_DONE();
}

/* The rewritten CONNECT parses, carries the new password, and is the old
 * one byte for byte otherwise (password flag set). */
static void test_rewrite(void **state)
{
	static const size_t plens[] = {0, 1, 120, 600, 65535};
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		size_t len;
		unsigned char *p = build(&specs[i], &len);
		struct hub_mqtt_connect c;
		assert_int_equal(hub_mqttpkt_connect(p, len, 1 << 20, &c), HUB_OK);
		for (size_t k = 0; k < sizeof(plens) / sizeof(plens[0]); k++) {
			size_t pl = plens[k], need = hub_mqttpkt_rewritten_size(&c, pl), outlen = 0;
			char *pw = malloc(pl + 1);
			unsigned char *out = malloc(need + 1);
			struct spec s2 = specs[i];
			unsigned char *want;
			size_t wlen;
			int rc;

			for (size_t j = 0; j < pl; j++)
				pw[j] = (char)('A' + (j * 7 + k) % 26);
			pw[pl] = '\0';
			rc = hub_mqttpkt_with_password(p, &c, pw, pl, out, need - 1, &outlen);
			if (!c.has_user) {
				TU_EXPECT(
					rc == HUB_ERR_INVAL, "spec %zu: no username: rc %d", i, rc);
				free(pw);
				free(out);
				continue;
			}
			TU_EXPECT(rc == HUB_ERR_TOOBIG, "spec %zu: one byte short: rc %d", i, rc);
			rc = hub_mqttpkt_with_password(p, &c, pw, pl, out, need, &outlen);
			TU_EXPECT(rc == HUB_OK && outlen == need,
				"spec %zu plen %zu: rc %d %zu/%zu", i, pl, rc, outlen, need);
			/* what a client sending that password would have sent */
			s2.pass = pw;
			want = build(&s2, &wlen);
			TU_EXPECT(wlen == outlen && !memcmp(want, out, wlen),
				"spec %zu plen %zu: not the packet a client would send", i, pl);
			free(want);
			free(pw);
			free(out);
		}
		{
			unsigned char out[16];
			size_t ol;
			TU_EXPECT(hub_mqttpkt_with_password(p, &c, "x", 65536, out, sizeof(out),
					  &ol) == HUB_ERR_INVAL,
				"spec %zu: 64 KiB password", i);
		}
		free(p);
	}
	TU_DONE();
}

static void test_connack(void **state)
{
	unsigned char b[8];
	(void)state;
	assert_int_equal(hub_mqttpkt_connack_unavailable(4, b), 4);
	assert_memory_equal(b, "\x20\x02\x00\x03", 4);
	assert_int_equal(hub_mqttpkt_connack_unavailable(3, b), 4);
	assert_int_equal(hub_mqttpkt_connack_unavailable(5, b), 5);
	assert_memory_equal(b, "\x20\x03\x00\x88\x00", 5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_found_whole),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_rewrite),
		cmocka_unit_test(test_connack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
