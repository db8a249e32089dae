/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for hub-bridge's Engine.IO / Socket.IO parsing, the
 * code unauthenticated bytes reach first (bridge/packet.c, decode.c,
 * buf.c), linked from the server's own library (hbrpacket):
 *
 *  - the input as a long-polling POST body: split on 0x1e (never an empty
 *    record), each packet classified as the server does (hbr_packet__eio_kind),
 *    messages parsed as Socket.IO packets (type, attachments, namespace, ack
 *    id, data) and their CONNECT / EVENT payloads decoded; binary records
 *    ("b<base64>") counted against the attachments a binary packet
 *    announced, a text packet while attachments are due ends the session,
 *    as in socketio.c;
 *  - the same bytes as one WebSocket message;
 *  - the JSON string escaper on the bytes (always valid UTF-8 JSON).
 *
 * Properties (abort on violation): framing fields stay inside the input;
 * a namespace starts with '/' and is at most HBR_SIO_NSP_MAX + 1 bytes;
 * attachments are 1..HBR_SIO_ATTACH_MAX for binary types, 0 otherwise; an
 * ack id is absent or below 2^53; the strict JSON reader accepts nothing
 * cJSON refuses, and its element spans are JSON themselves; a decoded
 * event's name is a C string of name_len bytes; the span of its data
 * argument (the bytes the hub publishes as they are) parses to the very
 * value the hub checked (room, to), so what is checked is what is sent;
 * an event's arguments as an MQTT payload (args.c, with attachments cut
 * from the input for binary packets) come back as the arguments JSON text
 * (wrapped in brackets, valid JSON, one placeholder per attachment), and
 * the input itself read as an MQTT payload of every encoding gives valid
 * JSON arguments and attachments inside the input or the decoded bytes.
 */
#include "args.h"
#include "buf.h"
#include "decode.h"
#include "hc_err.h"
#include "hc_names.h"
#include "packet.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct session {
	int attach_pending; /* binary records still due */
	bool ended;
};

static void check_json_spans(const char *p, size_t n)
{
	size_t off, len;

	if (!hbr_json_check(p, n))
		return;
	if (!hbr_json_valid(p, n))
		abort(); /* the strict reader never accepts what cJSON refuses */
	for (int i = 0; i < 4 && hbr_json_element(p, n, i, &off, &len); i++)
		if (off > n || len > n - off || !hbr_json_check(p + off, len))
			abort();
}

/* Structural equality of two parsed values (cJSON_Compare judges two
 * infinities different: 1e400 parses to one). */
static bool same(const cJSON *a, const cJSON *b)
{
	if (!a || !b)
		return a == b;
	if ((a->type & 0xff) != (b->type & 0xff))
		return false;
	if (cJSON_IsNumber(a))
		return a->valuedouble == b->valuedouble ||
		       (a->valuedouble != a->valuedouble && b->valuedouble != b->valuedouble);
	if (cJSON_IsString(a))
		return strcmp(a->valuestring, b->valuestring) == 0;
	if (cJSON_IsArray(a) || cJSON_IsObject(a)) {
		const cJSON *x = a->child, *y = b->child;
		for (; x && y; x = x->next, y = y->next)
			if ((cJSON_IsObject(a) && strcmp(x->string, y->string) != 0) || !same(x, y))
				return false;
		return !x && !y;
	}
	return true;
}

static void check_encode(const struct hbr_sio_packet *pk, const struct hbr_sio_event *e);

static void check_event(const struct hbr_sio_packet *pk)
{
	struct hbr_sio_event e;

	if (hbr_decode__event(pk, &e)) {
		/* refused: not one JSON array starting with a string */
		cJSON *j = hbr_json_parse(pk->data, pk->datalen);
		if (j && cJSON_IsArray(j) && cJSON_IsString(cJSON_GetArrayItem(j, 0)))
			abort();
		cJSON_Delete(j);
		return;
	}
	if (!e.json || !e.name || strlen(e.name) != e.name_len || e.nargs < 0)
		abort();
	if ((e.data == NULL) != (e.nargs == 0))
		abort();
	(void)hc_event_valid_n(e.name, e.name_len);
	if (e.data_span) {
		cJSON *again;
		if (e.data_off > pk->datalen || e.data_len > pk->datalen - e.data_off)
			abort();
		again = cJSON_ParseWithLength(pk->data + e.data_off, e.data_len);
		if (!again || !same(again, e.data))
			abort(); /* the published bytes are the checked value */
		cJSON_Delete(again);
	}
	if (cJSON_IsObject(e.data)) {
		const char *room =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e.data, "room"));
		if (room)
			(void)hc_name_valid_n(room, strlen(room));
	}
	check_encode(pk, &e);
	hbr_decode__event_free(&e);
}

/* An MQTT payload as Socket.IO arguments: "[" args "]" is JSON, each
 * attachment lies inside the payload or the decoded binaries. */
static void check_decode(const char *payload, size_t len, int enc)
{
	struct hbr_buf args, bins, wrapped;
	struct hbr_att att[HBR_SIO_ATTACH_MAX];
	bool off[HBR_SIO_ATTACH_MAX];
	int n;

	hbr_buf__init(&args, 1 << 20);
	hbr_buf__init(&bins, 1 << 20);
	n = hbr_args__decode(payload, len, enc, &args, &bins, att, off);
	if (n < -1 || n > HBR_SIO_ATTACH_MAX)
		abort();
	if (n >= 0) {
		hbr_buf__init(&wrapped, (1 << 20) + 2);
		hbr_buf__put(&wrapped, "[", 1);
		hbr_buf__put(&wrapped, args.p ? args.p : "", args.len);
		hbr_buf__put(&wrapped, "]", 1);
		if (!wrapped.err && !hbr_json_valid(wrapped.p, wrapped.len))
			abort();
		hbr_buf__free(&wrapped);
		for (int i = 0; i < n; i++) {
			if (off[i] ? (uintptr_t)att[i].p > bins.len ||
						att[i].len > bins.len - (uintptr_t)att[i].p
				   : (att[i].p < (const unsigned char *)payload ||
					     att[i].p + att[i].len >
						     (const unsigned char *)payload + len))
				abort();
		}
	}
	hbr_buf__free(&args);
	hbr_buf__free(&bins);
}

/* A client's event as an MQTT payload, and back. */
static void check_encode(const struct hbr_sio_packet *pk, const struct hbr_sio_event *e)
{
	struct hbr_att att[HBR_SIO_ATTACH_MAX];
	struct hbr_buf tmp;
	const void *pl;
	size_t plen;
	int enc, natt = pk->type == HBR_SIO_BINARY_EVENT ? pk->attachments : 0;

	/* attachments: slices of the packet itself */
	for (int i = 0; i < natt; i++) {
		att[i].p =
			(const unsigned char *)pk->data + (pk->datalen * (size_t)i) / (size_t)natt;
		att[i].len = pk->datalen / (size_t)natt;
	}
	hbr_buf__init(&tmp, 1 << 20);
	if (hbr_args__encode(e, pk->data, pk->datalen, att, natt, &tmp, &pl, &plen, &enc) ==
		HUB_OK) {
		if (enc < HBR_ENC_AUTO || enc > HBR_ENC_ARGS)
			abort();
		check_decode(pl, plen, enc);
	}
	hbr_buf__free(&tmp);
}

static void check_connect(const struct hbr_sio_packet *pk)
{
	struct hbr_sio_connect c;

	if (hbr_decode__connect(pk, &c)) {
		if (!pk->datalen)
			abort(); /* no payload is a valid CONNECT */
		return;
	}
	if (pk->datalen && !cJSON_IsObject(c.json))
		abort();
	if (c.token && strlen(c.token) != c.token_len)
		abort();
	hbr_decode__connect_free(&c);
}

/* One Socket.IO packet (an Engine.IO message's data). Returns false when
 * the session would end on it. */
static bool sio(struct session *ss, const char *p, size_t n)
{
	struct hbr_sio_packet pk;

	if (ss->attach_pending)
		return false; /* text where attachments are due */
	if (hbr_packet__sio_parse(p, n, &pk))
		return false;
	if (pk.nsplen < 1 || pk.nsp[0] != '/' || pk.nsplen > HBR_SIO_NSP_MAX + 1)
		abort();
	if (pk.nsplen > 1 && (pk.nsp < p || pk.nsp + pk.nsplen > p + n))
		abort(); /* an explicit namespace is the client's own bytes */
	if (pk.data < p || pk.data + pk.datalen != p + n)
		abort();
	if (pk.id < -1 || pk.id >= ((int64_t)1 << 53))
		abort();
	if (pk.type == HBR_SIO_BINARY_EVENT || pk.type == HBR_SIO_BINARY_ACK) {
		if (pk.attachments < 1 || pk.attachments > HBR_SIO_ATTACH_MAX)
			abort();
		ss->attach_pending = pk.attachments;
	} else if (pk.attachments) {
		abort();
	}
	check_json_spans(pk.data, pk.datalen);
	if (pk.nsplen != 1)
		return true; /* other namespaces: framing only */
	if (pk.type == HBR_SIO_CONNECT)
		check_connect(&pk);
	else if (pk.type == HBR_SIO_EVENT || pk.type == HBR_SIO_BINARY_EVENT)
		check_event(&pk);
	return true;
}

/* One Engine.IO packet of a client, as engineio.c handles it. */
static bool eio(struct session *ss, const char *p, size_t n, bool via_ws)
{
	switch (hbr_packet__eio_kind(p, n)) {
	case HBR_EK_MESSAGE:
		if (n < 1 || p[0] != '4')
			abort();
		return sio(ss, p + 1, n - 1);
	case HBR_EK_PONG:
	case HBR_EK_UPGRADE:
		if (n != 1)
			abort();
		return true;
	case HBR_EK_PROBE:
		if (n != 6 || memcmp(p, "2probe", 6) != 0)
			abort();
		return true;
	case HBR_EK_NOOP:
		return true;
	case HBR_EK_CLOSE:
		return false;
	case HBR_EK_BINARY:
		if (p[0] != 'b')
			abort();
		if (via_ws)
			return false; /* 'b' is a polling packet; over WebSocket: malformed */
		if (ss->attach_pending > 0)
			ss->attach_pending--;
		return true;
	case HBR_EK_BAD:
		return false;
	default:
		abort();
	}
}

static int record(void *ud, const char *p, size_t n)
{
	struct session *ss = ud;
	if (n == 0)
		abort(); /* the splitter never yields empty records */
	if (ss->ended)
		abort(); /* the walk stops at the packet that ends it */
	if (!eio(ss, p, n, false)) {
		ss->ended = true;
		return 1;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct session ss = {0};
	struct session ws = {0};
	struct hbr_buf b;
	int rc;

	rc = hbr_packet__eio_split(p, size, record, &ss);
	if (rc != HUB_OK && rc != HUB_ERR_INVAL && rc != 1)
		abort();
	if (size) {
		/* as one WebSocket text message */
		(void)eio(&ws, p, size, true);
	}
	check_json_spans(p, size);
	/* the input as an MQTT payload, however it is marked */
	for (int enc = HBR_ENC_AUTO; enc <= HBR_ENC_ARGS; enc++)
		check_decode(p, size, enc);

	hbr_buf__init(&b, 6 * size + 16); /* "\\u0000" is the worst case */
	hbr_buf__json_str(&b, p, size);
	if (b.err || !hbr_json_valid(b.p, b.len))
		abort();
	hbr_buf__free(&b);
	return 0;
}
