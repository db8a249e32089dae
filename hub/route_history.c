/* SPDX-License-Identifier: MIT */
/*
 * GET /api/rooms/{room}/messages?limit=N&before=<id>: recent chat history
 * of a room the cookie's user may read, newest last. Each message:
 * {"id","room","event","from","ts" (ms),"data"}: data is the stored payload
 * as JSON when it is JSON, else a string (or base64 with "encoding").
 */
#include "hc_err.h"
#include "hc_history.h"
#include "hc_log.h"
#include "hc_names.h"
#include "hc_store.h"
#include "hc_util.h"
#include "hub.h"
#include "routes.h"
#include "session.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT 50

static int add_message(void *ud, const struct hc_message *m)
{
	cJSON *arr = ud, *o = cJSON_CreateObject(), *data = NULL;
	if (!o)
		return HUB_ERR_NOMEM;
	if (m->len)
		data = cJSON_ParseWithLength(m->data, m->len);
	if (!data && m->len && hc_utf8_valid(m->data, m->len) && !memchr(m->data, 0, m->len)) {
		char *s = malloc(m->len + 1);
		if (s) {
			memcpy(s, m->data, m->len);
			s[m->len] = '\0';
			data = cJSON_CreateString(s);
			free(s);
		}
	} else if (!data && m->len) {
		size_t n = (m->len + 2) / 3 * 4 + 1;
		char *b = malloc(n);
		if (b && hc_b64_encode(m->data, m->len, b, n) >= 0) {
			data = cJSON_CreateString(b);
			cJSON_AddStringToObject(o, "encoding", "base64");
		}
		free(b);
	} else if (!data) {
		data = cJSON_CreateNull();
	}
	if (!data || !cJSON_AddNumberToObject(o, "id", (double)m->id) ||
		!cJSON_AddStringToObject(o, "room", m->room) ||
		!cJSON_AddStringToObject(o, "event", m->event) ||
		!cJSON_AddStringToObject(o, "from", m->sender) ||
		!cJSON_AddNumberToObject(o, "ts", (double)m->ts_ms) ||
		!cJSON_AddItemToObject(o, "data", data) || !cJSON_AddItemToArray(arr, o)) {
		cJSON_Delete(data);
		cJSON_Delete(o);
		return HUB_ERR_NOMEM;
	}
	return 0;
}

static int query_int(struct hub_conn *c, const char *name, int64_t min, int64_t max, int64_t *out)
{
	char v[48];
	/* lws 4.1: the value after "name=", inside v, or NULL when absent */
	const char *val = lws_get_urlarg_by_name(c->wsi, name, v, (int)sizeof(v));
	if (!val)
		return 0; /* absent: keep the default */
	return hc_parse_i64(val, min, max, out) == HUB_OK ? 0 : -1;
}

int hub_route_history(struct hub *h, struct hub_conn *c)
{
	char room[HC_NAME_MAX + 1];
	const char *p = c->path + strlen("/api/rooms/"), *slash = strchr(p, '/');
	struct hc_session s;
	int64_t limit = DEFAULT_LIMIT, before = 0;
	int level = HC_LEVEL_NONE, rc;
	cJSON *o = NULL, *arr;

	if (!slash || (size_t)(slash - p) > HC_NAME_MAX ||
		!hc_name_valid_n(p, (size_t)(slash - p))) {
		hub_http_error(c, 404, "not_found", "no such room");
		return 0;
	}
	memcpy(room, p, (size_t)(slash - p));
	room[slash - p] = '\0';
	if (query_int(c, "limit=", 1, HC_HISTORY_LIMIT_MAX, &limit) ||
		query_int(c, "before=", 1, INT64_MAX, &before)) {
		hub_http_error(
			c, 400, "bad_request", "limit must be 1-500 and before a message id");
		return 0;
	}
	if (hub_session_require(h, c, &s))
		return 0;
	/* read level in the room, the same fact the broker's ACL reads */
	rc = hc_store_level(h->store, room, s.principal, &level);
	if (rc) {
		hub_http_error(c, 503, "unavailable", "the store could not be read; try again");
		return 0;
	}
	if (level < HC_LEVEL_READ) {
		/* the same answer for a room that does not exist: no probing */
		hub_http_error(c, 403, "forbidden", "you are not a member of this room");
		return 0;
	}
	o = cJSON_CreateObject();
	arr = o ? cJSON_AddArrayToObject(o, "messages") : NULL;
	if (!arr || !cJSON_AddStringToObject(o, "room", room)) {
		hub_http_error(c, 500, "internal", "out of memory");
		goto out;
	}
	rc = hc_history_list(h->store, room, before, (int)limit, add_message, arr);
	if (rc) {
		hc_err("msg=\"history read failed\" room=%s err=%s", room, hub_strerror(rc));
		hub_http_error(c, rc == HUB_ERR_NOMEM ? 500 : 503,
			rc == HUB_ERR_NOMEM ? "internal" : "unavailable",
			"the history could not be read; try again");
		goto out;
	}
	hub_http_json(c, 200, o);
out:
	cJSON_Delete(o);
	return 0;
}
