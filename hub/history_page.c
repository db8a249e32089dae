/* SPDX-License-Identifier: MIT */
/* History pages (history_page.h): newest first from the store, each
 * message formatted once, the page assembled oldest first. */
#include "history_page.h"
#include "hc_err.h"
#include "hc_history.h"
#include "hc_util.h"

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct page {
	const struct hub_history_query *q;
	char **items; /* formatted messages, newest first */
	size_t *lens;
	int n;
	size_t bytes; /* of the items, with their separators */
	bool more;
	int64_t oldest;
};

/* The message's data: the payload as JSON when it is JSON, else a string
 * (UTF-8 without NUL) or base64 with "encoding":"base64". */
static cJSON *data_of(const struct hc_message *m, cJSON *o)
{
	cJSON *data = NULL;

	if (m->omitted) {
		if (!cJSON_AddTrueToObject(o, "omitted") ||
			!cJSON_AddNumberToObject(o, "size", (double)m->len))
			return NULL;
		return cJSON_CreateNull();
	}
	if (!m->len)
		return cJSON_CreateNull();
	/* JSON only when the whole payload is ("12ab" is text, not 12) */
	const char *end = NULL;
	data = cJSON_ParseWithLengthOpts(m->data, m->len, &end, 0);
	for (const char *q = end; data && q < (const char *)m->data + m->len; q++)
		if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
			cJSON_Delete(data);
			data = NULL;
		}
	if (data)
		return data;
	if (hc_utf8_valid(m->data, m->len) && !memchr(m->data, 0, m->len)) {
		char *s = malloc(m->len + 1);
		if (!s)
			return NULL;
		memcpy(s, m->data, m->len);
		s[m->len] = '\0';
		data = cJSON_CreateString(s);
		free(s);
		return data;
	}
	size_t n = (m->len + 2) / 3 * 4 + 1;
	char *b = malloc(n);
	if (b && hc_b64_encode(m->data, m->len, b, n) >= 0 &&
		cJSON_AddStringToObject(o, "encoding", "base64"))
		data = cJSON_CreateString(b);
	free(b);
	return data;
}

static char *format(const struct hc_message *m)
{
	cJSON *o = cJSON_CreateObject(), *data;
	char *text = NULL;

	if (!o)
		return NULL;
	if (!cJSON_AddNumberToObject(o, "id", (double)m->id) ||
		!cJSON_AddStringToObject(o, "room", m->room) ||
		!cJSON_AddStringToObject(o, "event", m->event) ||
		!cJSON_AddStringToObject(o, "from", m->sender) ||
		!cJSON_AddNumberToObject(o, "ts", (double)m->ts_ms))
		goto out;
	data = data_of(m, o);
	if (!data || !cJSON_AddItemToObject(o, "data", data)) {
		cJSON_Delete(data);
		goto out;
	}
	text = cJSON_PrintUnformatted(o);
out:
	cJSON_Delete(o);
	return text;
}

static int add(void *ud, const struct hc_message *m)
{
	struct page *p = ud;
	char *s;
	size_t l;

	if (p->n >= p->q->limit) {
		p->more = true; /* the one row asked beyond the limit */
		return HC_HISTORY_STOP;
	}
	s = format(m);
	if (!s)
		return HUB_ERR_NOMEM;
	l = strlen(s);
	if (p->n > 0 && (p->bytes >= p->q->budget || l + 1 > p->q->budget - p->bytes)) {
		cJSON_free(s);
		p->more = true;
		return HC_HISTORY_STOP;
	}
	p->items[p->n] = s;
	p->lens[p->n] = l;
	p->n++;
	p->bytes += l + 1;
	p->oldest = m->id;
	return 0;
}

int hub_history_page(
	struct hc_store *st, const struct hub_history_query *q, unsigned char **out, size_t *len)
{
	struct page p = {.q = q};
	char head[HC_NAME_MAX + 64], tail[64];
	size_t hl, tl, total, off;
	unsigned char *buf = NULL;
	int rc, limit = q->limit;

	*out = NULL;
	*len = 0;
	if (limit < 1)
		limit = 1;
	if (limit > HC_HISTORY_LIMIT_MAX)
		limit = HC_HISTORY_LIMIT_MAX;
	struct hub_history_query qq = *q;
	qq.limit = limit;
	p.q = &qq;
	if (!hc_name_valid(q->room))
		return HUB_ERR_INVAL;
	p.items = calloc((size_t)limit, sizeof(*p.items));
	p.lens = calloc((size_t)limit, sizeof(*p.lens));
	if (!p.items || !p.lens) {
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	/* one row more than shown tells whether there are more */
	rc = hc_history_scan(st, q->room, q->before, limit + 1, q->event_max, add, &p);
	if (rc)
		goto out;
	/* a valid room name needs no JSON escaping */
	hl = (size_t)snprintf(head, sizeof(head), "{\"room\":\"%s\",\"messages\":[", q->room);
	if (p.n)
		tl = (size_t)snprintf(tail, sizeof(tail), "],\"has_more\":%s,\"before\":%lld}",
			p.more ? "true" : "false", (long long)p.oldest);
	else
		tl = (size_t)snprintf(tail, sizeof(tail), "],\"has_more\":false,\"before\":null}");
	total = hl + p.bytes + tl;
	buf = malloc(q->headroom + total + 1);
	if (!buf) {
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	off = q->headroom;
	memcpy(buf + off, head, hl);
	off += hl;
	for (int i = p.n - 1; i >= 0; i--) {
		memcpy(buf + off, p.items[i], p.lens[i]);
		off += p.lens[i];
		if (i)
			buf[off++] = ',';
	}
	memcpy(buf + off, tail, tl);
	off += tl;
	buf[off] = '\0';
	*out = buf;
	*len = off - q->headroom;
out:
	for (int i = 0; i < p.n; i++)
		cJSON_free(p.items[i]);
	free(p.items);
	free(p.lens);
	return rc;
}
