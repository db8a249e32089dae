/* SPDX-License-Identifier: MIT */
/*
 * CONNECT framing for hubd's WebSocket front (mqttpkt.h): MQTT 3.1.1
 * section 3.1 and MQTT 5 section 3.1. A CONNECT is
 *
 *   0x10, remaining length (1-4 bytes, 7 bits each)
 *   protocol name (2-byte length + "MQTT", or "MQIsdp" for 3.1), level,
 *   flags, keep alive (2), [5: properties: length (varint) + bytes]
 *   client id, [will: [5: properties], topic, payload], [username], [password]
 *
 * each string or binary field a 2-byte big-endian length and its bytes.
 */
#include "mqttpkt.h"
#include "hc_err.h"

#include <string.h>

#define RL_MAX 268435455u /* largest remaining length MQTT can express */

#define F_USER	   0x80
#define F_PASS	   0x40
#define F_WILL_RET 0x20
#define F_WILL_QOS 0x18
#define F_WILL	   0x04
#define F_RESERVED 0x01

/* A variable byte integer at p[*o] (at most 4 bytes, before end). 0, 1 if
 * more bytes are needed, -1 if malformed. */
static int varint(const unsigned char *p, size_t end, size_t *o, uint32_t *v)
{
	uint32_t val = 0;
	for (int i = 0; i < 4; i++) {
		if (*o >= end)
			return 1;
		val |= (uint32_t)(p[*o] & 0x7f) << (7 * i);
		if (!(p[(*o)++] & 0x80)) {
			*v = val;
			return 0;
		}
	}
	return -1;
}

/* Skip a 2-byte-length field at p[*o] within end; *n gets its length.
 * false when it does not fit. */
static bool field(const unsigned char *p, size_t end, size_t *o, size_t *n)
{
	size_t l;
	if (end - *o < 2)
		return false;
	l = ((size_t)p[*o] << 8) | p[*o + 1];
	if (end - *o - 2 < l)
		return false;
	*n = l;
	*o += 2 + l;
	return true;
}

/* Skip MQTT 5 properties (a varint length and that many bytes). */
static bool properties(const unsigned char *p, size_t end, size_t *o)
{
	uint32_t l;
	if (varint(p, end, o, &l) != 0)
		return false;
	if (end - *o < l)
		return false;
	*o += l;
	return true;
}

int hub_mqttpkt_connect(const unsigned char *p, size_t len, size_t max, struct hub_mqtt_connect *c)
{
	size_t o = 1, end, n;
	uint32_t rl;
	unsigned flags;
	int rc;

	memset(c, 0, sizeof(*c));
	if (len == 0)
		return HUB_MQTTPKT_MORE;
	if (p[0] != 0x10) /* CONNECT, with its reserved flag bits zero */
		return HUB_ERR_INVAL;
	rc = varint(p, len, &o, &rl);
	if (rc < 0)
		return HUB_ERR_INVAL;
	if (rc > 0)
		return HUB_MQTTPKT_MORE;
	if (rl > RL_MAX || rl > max || o + rl > max)
		return HUB_ERR_TOOBIG;
	c->hdr_len = o;
	c->total = o + rl;
	if (len < c->total)
		return HUB_MQTTPKT_MORE;
	end = c->total;

	/* protocol name and level */
	{
		size_t start = o;
		if (!field(p, end, &o, &n))
			return HUB_ERR_INVAL;
		if (n == 4 && !memcmp(p + start + 2, "MQTT", 4)) {
			if (o >= end || (p[o] != 4 && p[o] != 5))
				return HUB_ERR_INVAL;
		} else if (n == 6 && !memcmp(p + start + 2, "MQIsdp", 6)) {
			if (o >= end || p[o] != 3)
				return HUB_ERR_INVAL;
		} else {
			return HUB_ERR_INVAL;
		}
		c->version = p[o++];
	}
	if (end - o < 3)
		return HUB_ERR_INVAL;
	c->flags_off = o;
	flags = p[o];
	o += 3; /* flags, keep alive */
	if (flags & F_RESERVED)
		return HUB_ERR_INVAL;
	if (!(flags & F_WILL) && (flags & (F_WILL_QOS | F_WILL_RET)))
		return HUB_ERR_INVAL;
	if ((flags & F_WILL_QOS) == F_WILL_QOS)
		return HUB_ERR_INVAL;
	c->has_user = flags & F_USER;
	c->has_pass = flags & F_PASS;
	/* 3.1.1: a password needs a username (MQTT 5 lifted that) */
	if (c->version < 5 && c->has_pass && !c->has_user)
		return HUB_ERR_INVAL;
	if (c->version == 5 && !properties(p, end, &o))
		return HUB_ERR_INVAL;

	/* payload */
	if (!field(p, end, &o, &n)) /* client id */
		return HUB_ERR_INVAL;
	if (flags & F_WILL) {
		if (c->version == 5 && !properties(p, end, &o))
			return HUB_ERR_INVAL;
		if (!field(p, end, &o, &n) || !field(p, end, &o, &n)) /* topic, payload */
			return HUB_ERR_INVAL;
	}
	c->user_off = o;
	if (c->has_user && !field(p, end, &o, &c->user_len))
		return HUB_ERR_INVAL;
	if (c->has_pass) {
		c->pass_off = o;
		if (!field(p, end, &o, &c->pass_len))
			return HUB_ERR_INVAL;
	}
	if (o != end) /* nothing may follow the last field */
		return HUB_ERR_INVAL;
	return HUB_OK;
}

static size_t varint_len(size_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

/* Bytes of the variable header and payload after rewriting. */
static size_t body_len(const struct hub_mqtt_connect *c, size_t plen)
{
	return (c->user_off - c->hdr_len) + 2 + c->user_len + 2 + plen;
}

size_t hub_mqttpkt_rewritten_size(const struct hub_mqtt_connect *c, size_t plen)
{
	size_t b = body_len(c, plen);
	return 1 + varint_len(b) + b;
}

int hub_mqttpkt_with_password(const unsigned char *p, const struct hub_mqtt_connect *c,
	const char *password, size_t plen, unsigned char *out, size_t outsz, size_t *outlen)
{
	size_t hl = c->hdr_len, b, o, n;

	if (!c->has_user || plen > 65535)
		return HUB_ERR_INVAL;
	b = body_len(c, plen);
	if (b > RL_MAX || 1 + varint_len(b) + b > outsz)
		return HUB_ERR_TOOBIG;
	o = 0;
	out[o++] = 0x10;
	for (size_t v = b;;) {
		unsigned char byte = v & 0x7f;
		v >>= 7;
		out[o++] = byte | (v ? 0x80 : 0);
		if (!v)
			break;
	}
	/* variable header and payload up to and with the username */
	n = c->user_off + 2 + c->user_len - hl;
	memcpy(out + o, p + hl, n);
	out[o + (c->flags_off - hl)] |= F_PASS;
	o += n;
	out[o++] = (unsigned char)(plen >> 8);
	out[o++] = (unsigned char)plen;
	memcpy(out + o, password, plen);
	o += plen;
	*outlen = o;
	return HUB_OK;
}

size_t hub_mqttpkt_connack_unavailable(int version, unsigned char *out)
{
	out[0] = 0x20;
	if (version == 5) {
		out[1] = 3;
		out[2] = 0;    /* session present: no */
		out[3] = 0x88; /* server unavailable */
		out[4] = 0;    /* no properties */
		return 5;
	}
	out[1] = 2;
	out[2] = 0;
	out[3] = 3; /* server unavailable */
	return 4;
}
