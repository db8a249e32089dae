/* SPDX-License-Identifier: MIT */
/*
 * Webhook rows the broker produces (CONTRACT.md "Backends", webhooks):
 * joined and left notices, and room events (ev:NAME), as the JSON members
 * hc_webhook_enqueue puts after "id","type","ts":
 *
 *   joined  "room","user","online"
 *   left    "room","user","online","reason"
 *   event   "room","event","from", and "data" (the payload, when it is
 *           JSON) or "data_b64" (other bytes, base64); a payload whose
 *           encoding would not fit a row (HC_WEBHOOK_BODY_MAX) goes as
 *           "data_omitted":true,"bytes":N
 *
 * and what the webhooks want, read from the store by the writer thread
 * (history.c) when the store changed: the broker thread then skips every
 * event no webhook could want without touching the store.
 */
#include "hauth_history.h"
#include "hc_err.h"
#include "hc_webhook.h"

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include "hc_db.h"
#include <stdlib.h>
#include <string.h>

/* room:event payloads above this are not encoded into a row */
#define DATA_MAX (HC_WEBHOOK_BODY_MAX - 4096)

/* The members of a JSON object, without its braces (malloc'd). */
static char *members(cJSON *o)
{
	char *s = o ? cJSON_PrintUnformatted(o) : NULL;
	size_t n;
	char *out;
	if (!s)
		return NULL;
	n = strlen(s);
	if (n < 2) {
		cJSON_free(s);
		return NULL;
	}
	out = malloc(n - 1);
	if (out) {
		memcpy(out, s + 1, n - 2);
		out[n - 2] = '\0';
	}
	cJSON_free(s);
	return out;
}

/* The payload as a JSON value, if it is one (only whitespace after it). */
static cJSON *as_json(const void *data, size_t len)
{
	const char *end = NULL, *p = data;
	cJSON *j;
	if (!len)
		return NULL;
	j = cJSON_ParseWithLengthOpts(p, len, &end, false);
	if (!j)
		return NULL;
	while (end && end < p + len &&
		(*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != p + len) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

char *hauth_outbox__event_fields(
	const char *room, const char *event, const char *from, const void *data, size_t len)
{
	cJSON *o = cJSON_CreateObject(), *d = NULL;
	char *out = NULL;

	if (!o)
		return NULL;
	if (!cJSON_AddStringToObject(o, "room", room) ||
		!cJSON_AddStringToObject(o, "event", event) ||
		!cJSON_AddStringToObject(o, "from", from))
		goto done;
	if (len <= DATA_MAX && (d = as_json(data, len)) != NULL) {
		cJSON_AddItemToObject(o, "data", d);
	} else if (len <= DATA_MAX / 4 * 3) {
		char *b64 = malloc(4 * ((len + 2) / 3) + 1);
		if (!b64)
			goto done;
		EVP_EncodeBlock((unsigned char *)b64, data, (int)len);
		if (!cJSON_AddStringToObject(o, "data_b64", b64)) {
			free(b64);
			goto done;
		}
		free(b64);
	} else {
		cJSON_AddTrueToObject(o, "data_omitted");
		cJSON_AddNumberToObject(o, "bytes", (double)len);
	}
	out = members(o);
	if (out && strlen(out) > HC_WEBHOOK_BODY_MAX) {
		/* JSON escapes made it grow past a row: say what it was */
		free(out);
		cJSON_DeleteItemFromObjectCaseSensitive(o, "data");
		cJSON_DeleteItemFromObjectCaseSensitive(o, "data_b64");
		cJSON_AddTrueToObject(o, "data_omitted");
		cJSON_AddNumberToObject(o, "bytes", (double)len);
		out = members(o);
	}
done:
	cJSON_Delete(o);
	return out;
}

char *hauth_outbox__presence_fields(
	const char *room, const char *user, int online, const char *reason)
{
	cJSON *o = cJSON_CreateObject();
	char *out = NULL;
	if (!o)
		return NULL;
	if (cJSON_AddStringToObject(o, "room", room) && cJSON_AddStringToObject(o, "user", user) &&
		cJSON_AddNumberToObject(o, "online", online) &&
		(!reason || cJSON_AddStringToObject(o, "reason", reason)))
		out = members(o);
	cJSON_Delete(o);
	return out;
}

/* ------------------------------------------------------------- wants */

void hauth_outbox__wants_init(struct hauth_outbox_wants *w)
{
	memset(w, 0, sizeof(*w));
	hc_hmap_init(&w->names);
	hc_hmap_init(&w->rooms);
}

void hauth_outbox__wants_free(struct hauth_outbox_wants *w)
{
	hc_hmap_clear(&w->names);
	hc_hmap_clear(&w->rooms);
	memset(w, 0, sizeof(*w));
}

/* Walk a comma list. */
static bool next_item(const char **p, const char **item, size_t *len)
{
	const char *s = *p, *comma;
	if (!*s)
		return false;
	comma = strchr(s, ',');
	*item = s;
	*len = comma ? (size_t)(comma - s) : strlen(s);
	*p = comma ? comma + 1 : s + *len;
	return true;
}

int hauth_outbox__load(struct hc_store *st, struct hauth_outbox_wants *w)
{
	struct hc_db_stmt *s = NULL;
	int step = HC_DB_DONE, rc = HUB_OK;

	hauth_outbox__wants_init(w);
	if (hc_db_prep(st, &s, "SELECT events, rooms FROM webhooks", ""))
		return HUB_ERR_DB;
	while (rc == HUB_OK && (step = hc_db_step(s)) == HC_DB_ROW) {
		const char *events = hc_db_text(s, 0);
		const char *rooms = hc_db_text(s, 1);
		const char *p = events ? events : "", *it;
		bool wants_events = false;
		size_t len;
		w->hooks++;
		while (rc == HUB_OK && next_item(&p, &it, &len)) {
			if ((len == 6 && !memcmp(it, "joined", 6)) ||
				(len == 4 && !memcmp(it, "left", 4)))
				w->presence = true;
			else if (len == 4 && !memcmp(it, "ev:*", 4))
				w->all_events = wants_events = true;
			else if (len > 3 && !memcmp(it, "ev:", 3)) {
				wants_events = true;
				if (hc_hmap_put(&w->names, it + 3, len - 3, (void *)1, NULL))
					rc = HUB_ERR_NOMEM;
			}
		}
		if (!wants_events)
			continue;
		/* the rooms of the webhooks that want events (any: all) */
		if (!rooms || !*rooms) {
			w->all_rooms = true;
			continue;
		}
		p = rooms;
		while (rc == HUB_OK && next_item(&p, &it, &len))
			if (hc_hmap_put(&w->rooms, it, len, (void *)1, NULL))
				rc = HUB_ERR_NOMEM;
	}
	if (rc == HUB_OK && step != HC_DB_DONE)
		rc = HUB_ERR_DB;
	hc_db_finalize(s);
	if (rc)
		hauth_outbox__wants_free(w);
	return rc;
}

bool hauth_outbox__wants_event(const struct hauth_outbox_wants *w, const char *room, size_t rlen,
	const char *event, size_t elen)
{
	if (!w->all_events && !hc_hmap_get(&w->names, event, elen))
		return false;
	return w->all_rooms || hc_hmap_get(&w->rooms, room, rlen) != NULL;
}
