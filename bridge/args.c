/* SPDX-License-Identifier: MIT */
/*
 * Socket.IO arguments <-> one MQTT payload (see args.h for the encoding).
 *
 * The common cases cost no parsing beyond what the packet reader did: one
 * JSON argument is published as the client's own bytes, several JSON
 * arguments as "[" + the client's bytes of them + "]", and on the way back
 * a JSON payload or an argument array without binaries is spliced into the
 * outgoing packet as it is. Only binaries go through cJSON (placeholders
 * checked, replaced, base64 encoded or decoded).
 *
 * Inputs are a client's or any MQTT publisher's: every placeholder is
 * checked against the attachments there are, sizes are bounded by the
 * buffers' maxima, and a payload Socket.IO clients would read differently
 * from what was sent (a literal "_placeholder" member next to binaries,
 * which socket.io-client's decoder would take for an attachment) is
 * refused rather than delivered wrong.
 */
#include "args.h"
#include "hc_err.h"
#include "hc_names.h"
#include "hc_util.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define BIN_KEY "$binary"

int hbr_args__enc_of(const char *ctype, size_t n, int pfi)
{
	if (ctype && n == sizeof(HBR_CT_BINARY) - 1 && !memcmp(ctype, HBR_CT_BINARY, n))
		return HBR_ENC_BINARY;
	if (ctype && n == sizeof(HBR_CT_ARGS) - 1 && !memcmp(ctype, HBR_CT_ARGS, n))
		return HBR_ENC_ARGS;
	return pfi == 1 ? HBR_ENC_TEXT : HBR_ENC_AUTO;
}

const char *hbr_args__ctype(int enc)
{
	switch (enc) {
	case HBR_ENC_BINARY:
		return HBR_CT_BINARY;
	case HBR_ENC_ARGS:
		return HBR_CT_ARGS;
	default:
		return NULL;
	}
}

static bool has_bin_key(const char *p, size_t n)
{
	static const char key[] = "\"" BIN_KEY "\"";
	return n >= sizeof(key) - 1 && memmem(p, n, key, sizeof(key) - 1) != NULL;
}

/* {"$binary": "<string>"} and nothing else. */
static bool bin_literal(const cJSON *o)
{
	const cJSON *c = o->child;
	return cJSON_IsObject(o) && c && !c->next && c->string && !strcmp(c->string, BIN_KEY) &&
	       cJSON_IsString(c);
}

static bool is_placeholder(const cJSON *o)
{
	return cJSON_IsObject(o) &&
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "_placeholder"));
}

/* The attachment a placeholder names, or -1. */
static int placeholder_num(const cJSON *o, int natt)
{
	const cJSON *num = cJSON_GetObjectItemCaseSensitive(o, "num");
	double d;
	if (!cJSON_IsNumber(num))
		return -1;
	d = num->valuedouble;
	if (!(d >= 0 && d < natt) || d != (double)(int)d)
		return -1;
	return (int)d;
}

/* Replace o's members by {"$binary": base64 of a}. */
static int to_bin_object(cJSON *o, const struct hbr_att *a)
{
	size_t sz = (a->len + 2) / 3 * 4 + 1;
	char *b64 = malloc(sz);
	cJSON *s;

	if (!b64 || hc_b64_encode(a->p, a->len, b64, sz) < 0) {
		free(b64);
		return HUB_ERR_NOMEM;
	}
	s = cJSON_CreateString(b64);
	free(b64);
	if (!s)
		return HUB_ERR_NOMEM;
	cJSON_Delete(o->child);
	o->child = NULL;
	cJSON_AddItemToObject(o, BIN_KEY, s);
	return HUB_OK;
}

/*
 * A client's value: placeholders (of a binary packet, natt > 0) must name
 * an attachment and become {"$binary": ...} when rewrite is set; a literal
 * {"$binary": string} is refused (it would come out as a binary).
 */
static int walk_in(cJSON *v, const struct hbr_att *att, int natt, bool rewrite)
{
	if (cJSON_IsObject(v)) {
		if (natt > 0 && is_placeholder(v)) {
			int k = placeholder_num(v, natt);
			if (k < 0)
				return HUB_ERR_INVAL;
			return rewrite ? to_bin_object(v, &att[k]) : HUB_OK;
		}
		if (bin_literal(v))
			return HUB_ERR_INVAL;
	}
	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		for (cJSON *c = v->child; c; c = c->next) {
			int rc = walk_in(c, att, natt, rewrite);
			if (rc)
				return rc;
		}
	return HUB_OK;
}

static int put_printed(struct hbr_buf *b, const cJSON *v)
{
	char *s = cJSON_PrintUnformatted(v);
	if (!s)
		return HUB_ERR_NOMEM;
	hbr_buf__puts(b, s);
	cJSON_free(s);
	return b->err;
}

int hbr_args__encode(const struct hbr_sio_event *e, const char *p, size_t n,
	const struct hbr_att *att, int natt, struct hbr_buf *tmp, const void **pl, size_t *plen,
	int *enc)
{
	cJSON *first = e->json ? e->json->child : NULL;
	cJSON *data = first ? first->next : NULL;
	int rc;

	*pl = "";
	*plen = 0;
	*enc = HBR_ENC_AUTO;
	if (natt > 0 || (e->nargs > 1 && has_bin_key(p, n))) {
		for (cJSON *c = data; c; c = c->next)
			if ((rc = walk_in(c, att, natt, false)) != HUB_OK)
				return rc;
	}
	if (e->nargs == 0)
		return HUB_OK;
	if (natt > 0 && e->nargs == 1 && is_placeholder(data)) {
		const struct hbr_att *a = &att[placeholder_num(data, natt)];
		if (a->len > tmp->max)
			return HUB_ERR_TOOBIG;
		*pl = a->p;
		*plen = a->len;
		*enc = HBR_ENC_BINARY;
		return HUB_OK;
	}
	if (natt == 0 && e->nargs == 1) {
		/* the client's own bytes (cJSON prints only what the strict
		 * reader declined) */
		if (e->data_span) {
			if (e->data_len > tmp->max)
				return HUB_ERR_TOOBIG;
			*pl = p + e->data_off;
			*plen = e->data_len;
			return HUB_OK;
		}
		if ((rc = put_printed(tmp, data)) != HUB_OK)
			return rc;
		*pl = tmp->p;
		*plen = tmp->len;
		return HUB_OK;
	}
	*enc = HBR_ENC_ARGS;
	if (natt == 0) {
		size_t o1, l1, on, ln;
		if (hbr_json_element(p, n, 1, &o1, &l1) &&
			hbr_json_element(p, n, e->nargs, &on, &ln)) {
			hbr_buf__put(tmp, "[", 1);
			hbr_buf__put(tmp, p + o1, on + ln - o1);
			hbr_buf__put(tmp, "]", 1);
			if (tmp->err)
				return tmp->err;
			*pl = tmp->p;
			*plen = tmp->len;
			return HUB_OK;
		}
	}
	/* binaries (or JSON the strict reader declined): placeholders become
	 * {"$binary": base64}, each argument printed */
	hbr_buf__put(tmp, "[", 1);
	for (cJSON *c = data; c && !tmp->err; c = c->next) {
		if (natt > 0 && (rc = walk_in(c, att, natt, true)) != HUB_OK)
			return rc;
		if (c != data)
			hbr_buf__put(tmp, ",", 1);
		if ((rc = put_printed(tmp, c)) != HUB_OK)
			return rc;
	}
	hbr_buf__put(tmp, "]", 1);
	if (tmp->err)
		return tmp->err;
	*pl = tmp->p;
	*plen = tmp->len;
	return HUB_OK;
}

/* ------------------------------------------------------------ decode */

struct dec {
	struct hbr_buf *bins;
	struct hbr_att *att;
	bool *bins_off;
	int natt;
	bool literal; /* a "_placeholder" member of the publisher's own */
	bool over;
};

/* {"$binary": base64} -> placeholder; the bytes go to bins. */
static int walk_out(cJSON *v, struct dec *d)
{
	if (cJSON_IsObject(v)) {
		if (bin_literal(v)) {
			const char *s = v->child->valuestring;
			size_t sl = strlen(s), cap = sl / 4 * 3 + 3, start;
			int got;
			if (d->natt >= HBR_SIO_ATTACH_MAX) {
				d->over = true;
				return HUB_ERR_TOOBIG;
			}
			start = d->bins->len;
			/* room for the decoded bytes, then trimmed to what they are */
			if (!hbr_buf__append(d->bins, cap)) {
				d->over = true;
				return HUB_ERR_TOOBIG;
			}
			got = hc_b64_decode(s, sl, (unsigned char *)d->bins->p + start, cap);
			if (got < 0) {
				d->bins->len = start; /* not base64: an ordinary object */
				d->bins->p[start] = '\0';
				return HUB_OK;
			}
			d->bins->len = start + (size_t)got;
			d->att[d->natt].p = (const unsigned char *)(uintptr_t)start;
			d->att[d->natt].len = (size_t)got;
			d->bins_off[d->natt] = true;
			cJSON_Delete(v->child);
			v->child = NULL;
			cJSON_AddItemToObject(v, "_placeholder", cJSON_CreateTrue());
			cJSON_AddItemToObject(v, "num", cJSON_CreateNumber(d->natt));
			d->natt++;
			return HUB_OK;
		}
		if (cJSON_GetObjectItemCaseSensitive(v, "_placeholder"))
			d->literal = true;
	}
	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		for (cJSON *c = v->child; c; c = c->next) {
			int rc = walk_out(c, d);
			if (rc)
				return rc;
		}
	return HUB_OK;
}

/* A payload that is a JSON array: its elements as arguments. */
static int decode_array(const char *p, size_t n, struct hbr_buf *args, struct hbr_buf *bins,
	struct hbr_att *att, bool *bins_off)
{
	size_t a = 0, b = n;
	struct dec d = {.bins = bins, .att = att, .bins_off = bins_off};
	cJSON *json;
	int rc = HUB_OK;

	if (!has_bin_key(p, n)) {
		/* the elements as they are: between the brackets */
		while (a < b && (p[a] == ' ' || p[a] == '\t' || p[a] == '\n' || p[a] == '\r'))
			a++;
		while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '\n' ||
					p[b - 1] == '\r'))
			b--;
		a++; /* '[' */
		b--; /* ']' */
		while (a < b && (p[a] == ' ' || p[a] == '\t' || p[a] == '\n' || p[a] == '\r'))
			a++;
		while (b > a && (p[b - 1] == ' ' || p[b - 1] == '\t' || p[b - 1] == '\n' ||
					p[b - 1] == '\r'))
			b--;
		if (a < b)
			hbr_buf__put(args, p + a, b - a);
		return args->err ? -1 : 0;
	}
	json = hbr_json_parse(p, n);
	if (!json)
		return -1;
	for (cJSON *c = json->child; c && rc == HUB_OK; c = c->next)
		rc = walk_out(c, &d);
	if (rc != HUB_OK || (d.natt > 0 && d.literal)) {
		cJSON_Delete(json);
		return -1;
	}
	for (cJSON *c = json->child; c; c = c->next) {
		if (c != json->child)
			hbr_buf__put(args, ",", 1);
		if (put_printed(args, c) != HUB_OK)
			break;
	}
	cJSON_Delete(json);
	return args->err ? -1 : d.natt;
}

static const char placeholder0[] = "{\"_placeholder\":true,\"num\":0}";

int hbr_args__decode(const void *payload, size_t len, int enc, struct hbr_buf *args,
	struct hbr_buf *bins, struct hbr_att *att, bool *bins_off)
{
	const char *p = payload;

	for (int i = 0; i < HBR_SIO_ATTACH_MAX; i++)
		bins_off[i] = false;
	if (enc == HBR_ENC_ARGS) {
		size_t i = 0;
		while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
			i++;
		if (i < len && p[i] == '[' && hbr_json_check(p, len))
			return decode_array(p, len, args, bins, att, bins_off);
		/* not an argument array after all: read as one argument */
		enc = HBR_ENC_AUTO;
	}
	if (enc != HBR_ENC_BINARY) {
		if (!len)
			return 0;
		if (hbr_json_check(p, len)) {
			hbr_buf__put(args, p, len);
			return args->err ? -1 : 0;
		}
		if (enc == HBR_ENC_TEXT && hc_utf8_valid(p, len)) {
			hbr_buf__json_str(args, p, len);
			return args->err ? -1 : 0;
		}
	}
	hbr_buf__puts(args, placeholder0);
	att[0].p = payload;
	att[0].len = len;
	return args->err ? -1 : 1;
}
