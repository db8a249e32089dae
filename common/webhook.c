/* SPDX-License-Identifier: MIT */
/*
 * Webhooks and their outbox in the store (hc_webhook.h).
 */
#include "hc_webhook.h"
#include "hc_err.h"
#include "hc_store.h"
#include "hc_util.h"

#include <openssl/crypto.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool hc_webhook_url_valid(const char *url)
{
	const char *host;
	size_t n;
	if (!url)
		return false;
	n = strlen(url);
	if (n > HC_WEBHOOK_URL_MAX)
		return false;
	if (!strncmp(url, "http://", 7))
		host = url + 7;
	else if (!strncmp(url, "https://", 8))
		host = url + 8;
	else
		return false;
	if (!*host || *host == '/' || *host == ':')
		return false;
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return hc_utf8_valid(url, n);
}

/* Walk a comma list: each item, then true; false at the end. */
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

static bool event_item_valid(const char *it, size_t len)
{
	static const char *const plain[] = {"joined", "left", "login", "logout"};
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (len == strlen(plain[i]) && !memcmp(it, plain[i], len))
			return true;
	if (len > 3 && !memcmp(it, "ev:", 3))
		return (len == 4 && it[3] == '*') || hc_event_valid_n(it + 3, len - 3);
	return false;
}

bool hc_webhook_events_valid(const char *events)
{
	const char *p = events, *it;
	size_t len;
	int n = 0;
	if (!events || !*events || strlen(events) > HC_WEBHOOK_EVENTS_MAX)
		return false;
	if (events[strlen(events) - 1] == ',')
		return false;
	while (next_item(&p, &it, &len)) {
		if (!event_item_valid(it, len))
			return false;
		n++;
	}
	return n > 0;
}

bool hc_webhook_rooms_valid(const char *rooms)
{
	const char *p = rooms, *it;
	size_t len;
	if (!rooms)
		return false;
	if (!*rooms)
		return true;
	if (strlen(rooms) > HC_WEBHOOK_ROOMS_MAX || rooms[strlen(rooms) - 1] == ',')
		return false;
	while (next_item(&p, &it, &len))
		if (!hc_name_valid_n(it, len))
			return false;
	return true;
}

static bool list_has(const char *list, const char *item, size_t ilen)
{
	const char *p = list, *it;
	size_t len;
	while (next_item(&p, &it, &len))
		if (len == ilen && !memcmp(it, item, len))
			return true;
	return false;
}

/* ------------------------------------------------------------- webhooks */

struct add_args {
	const char *url, *events, *rooms, *secret;
	int64_t id;
};

static int add_fn(struct hc_store *st, void *ud)
{
	struct add_args *a = ud;
	sqlite3 *db = hc_store_db(st);
	sqlite3_stmt *s;
	int rc;
	if (sqlite3_prepare_v2(db,
		    "INSERT INTO webhooks(url, secret, events, rooms, created_at) "
		    "VALUES(?, ?, ?, ?, unixepoch())",
		    -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	sqlite3_bind_text(s, 1, a->url, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, a->secret, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, a->events, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, a->rooms, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
	a->id = sqlite3_last_insert_rowid(db);
	return HUB_OK;
}

int hc_webhook_add(struct hc_store *st, const char *url, const char *events, const char *rooms,
	char secret[44], int64_t *id)
{
	struct add_args a = {.url = url,
		.events = events ? events : HC_WEBHOOK_DEFAULT_EVENTS,
		.rooms = rooms ? rooms : "",
		.secret = secret};
	int rc;
	if (!hc_webhook_url_valid(url) || !hc_webhook_events_valid(a.events) ||
		!hc_webhook_rooms_valid(a.rooms))
		return HUB_ERR_INVAL;
	rc = hc_random_token(32, secret, 44);
	if (rc)
		return rc;
	rc = hc_store_tx(st, add_fn, &a);
	if (rc)
		OPENSSL_cleanse(secret, 44);
	else if (id)
		*id = a.id;
	return rc;
}

static int del_fn(struct hc_store *st, void *ud)
{
	int64_t *id = ud;
	sqlite3 *db = hc_store_db(st);
	sqlite3_stmt *s;
	int rc;
	/* outbox rows go by the foreign key's cascade */
	if (sqlite3_prepare_v2(db, "DELETE FROM webhooks WHERE id = ?", -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	sqlite3_bind_int64(s, 1, *id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
	return sqlite3_changes(db) ? HUB_OK : HUB_ERR_NOTFOUND;
}

int hc_webhook_del(struct hc_store *st, int64_t id)
{
	return hc_store_tx(st, del_fn, &id);
}

static void col(sqlite3_stmt *s, int i, char *out, size_t n)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	snprintf(out, n, "%s", t ? (const char *)t : "");
}

int hc_webhook_list(struct hc_store *st, int (*cb)(void *ud, const struct hc_webhook *w), void *ud)
{
	sqlite3_stmt *s;
	struct hc_webhook *w = calloc(1, sizeof(*w));
	int rc;
	if (!w)
		return HUB_ERR_NOMEM;
	if (sqlite3_prepare_v2(hc_store_db(st),
		    "SELECT w.id, w.url, w.events, w.rooms, w.created_at, "
		    "(SELECT count(*) FROM webhook_outbox o WHERE o.hook = w.id AND "
		    " o.state = 'pending' AND o.attempts = 0), "
		    "(SELECT count(*) FROM webhook_outbox o WHERE o.hook = w.id AND "
		    " o.state = 'pending' AND o.attempts > 0), "
		    "(SELECT count(*) FROM webhook_outbox o WHERE o.hook = w.id AND "
		    " o.state = 'failed'), "
		    "(SELECT count(*) FROM webhook_outbox o WHERE o.hook = w.id AND "
		    " o.state = 'done'), "
		    "coalesce((SELECT o.last_error FROM webhook_outbox o WHERE o.hook = w.id AND "
		    " o.last_error != '' AND o.state != 'done' ORDER BY o.created_at DESC LIMIT "
		    "1), '') "
		    "FROM webhooks w ORDER BY w.id",
		    -1, &s, NULL) != SQLITE_OK) {
		free(w);
		return HUB_ERR_DB;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int x;
		memset(w, 0, sizeof(*w));
		w->id = sqlite3_column_int64(s, 0);
		col(s, 1, w->url, sizeof(w->url));
		col(s, 2, w->events, sizeof(w->events));
		col(s, 3, w->rooms, sizeof(w->rooms));
		w->created_at = sqlite3_column_int64(s, 4);
		w->pending = sqlite3_column_int64(s, 5);
		w->failing = sqlite3_column_int64(s, 6);
		w->failed = sqlite3_column_int64(s, 7);
		w->delivered = sqlite3_column_int64(s, 8);
		col(s, 9, w->last_error, sizeof(w->last_error));
		x = cb(ud, w);
		if (x) {
			sqlite3_finalize(s);
			free(w);
			return x;
		}
	}
	sqlite3_finalize(s);
	free(w);
	return rc == SQLITE_DONE ? HUB_OK : HUB_ERR_DB;
}

/* --------------------------------------------------------------- outbox */

struct enq_args {
	const char *type, *event, *room, *fields;
	int64_t ts_ms;
	int queued;
};

static bool wants(const char *events, const char *rooms, const struct enq_args *a)
{
	if (!strcmp(a->type, "event")) {
		char want[HC_NAME_MAX + 4];
		if (!a->event || (!list_has(events, "ev:*", 4) &&
					 (snprintf(want, sizeof(want), "ev:%s", a->event) >=
							 (int)sizeof(want) ||
						 !list_has(events, want, strlen(want)))))
			return false;
	} else if (!list_has(events, a->type, strlen(a->type))) {
		return false;
	}
	if (a->room && *rooms && !list_has(rooms, a->room, strlen(a->room)))
		return false;
	return true;
}

static int enq_fn(struct hc_store *st, void *ud)
{
	struct enq_args *a = ud;
	sqlite3 *db = hc_store_db(st);
	sqlite3_stmt *hooks = NULL, *ins = NULL;
	char *body = NULL;
	size_t cap;
	int rc = HUB_OK, step;

	a->queued = 0;
	if (sqlite3_prepare_v2(db, "SELECT id, events, rooms FROM webhooks", -1, &hooks, NULL) !=
		SQLITE_OK) {
		rc = HUB_ERR_DB;
		goto out;
	}
	/* no webhook at all (the usual case): one read of an empty table is
	 * all a login pays */
	step = sqlite3_step(hooks);
	if (step == SQLITE_DONE)
		goto out;
	if (step != SQLITE_ROW) {
		rc = step == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
		goto out;
	}
	sqlite3_reset(hooks);
	if (sqlite3_prepare_v2(db,
		    "INSERT INTO webhook_outbox(id, hook, type, body, created_at, next_at) "
		    "VALUES(?, ?, ?, ?, unixepoch(), unixepoch())",
		    -1, &ins, NULL) != SQLITE_OK) {
		rc = HUB_ERR_DB;
		goto out;
	}
	cap = strlen(a->fields) + 160;
	body = malloc(cap);
	if (!body) {
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	while ((step = sqlite3_step(hooks)) == SQLITE_ROW) {
		const char *events = (const char *)sqlite3_column_text(hooks, 1);
		const char *rooms = (const char *)sqlite3_column_text(hooks, 2);
		char id[HC_WEBHOOK_ID_LEN + 1];
		int n;
		if (!events || !rooms || !wants(events, rooms, a))
			continue;
		if (hc_random_token(16, id, sizeof(id)) != HUB_OK) {
			rc = HUB_ERR_CRYPTO;
			break;
		}
		n = snprintf(body, cap, "{\"id\":\"%s\",\"type\":\"%s\",\"ts\":%lld%s%s}", id,
			a->type, (long long)a->ts_ms, a->fields[0] ? "," : "", a->fields);
		if (n < 0 || (size_t)n >= cap) {
			rc = HUB_ERR_TOOBIG;
			break;
		}
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ins, 2, sqlite3_column_int64(hooks, 0));
		sqlite3_bind_text(ins, 3, a->type, -1, SQLITE_STATIC);
		sqlite3_bind_blob(ins, 4, body, n, SQLITE_TRANSIENT);
		step = sqlite3_step(ins);
		if (step != SQLITE_DONE) {
			rc = step == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
			break;
		}
		a->queued++;
	}
	if (rc == HUB_OK && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = HUB_ERR_DB;
out:
	free(body);
	sqlite3_finalize(hooks);
	sqlite3_finalize(ins);
	return rc;
}

int hc_webhook_enqueue(struct hc_store *st, const char *type, const char *event, const char *room,
	int64_t ts_ms, const char *fields_json, int *queued)
{
	struct enq_args a = {.type = type,
		.event = event,
		.room = room,
		.fields = fields_json ? fields_json : "",
		.ts_ms = ts_ms};
	int rc;
	if (queued)
		*queued = 0;
	if (!type || strlen(a.fields) > HC_WEBHOOK_BODY_MAX)
		return HUB_ERR_INVAL;
	rc = hc_store_tx(st, enq_fn, &a);
	if (!rc && queued)
		*queued = a.queued;
	return rc;
}

/* One webhook's due rows, at most n, oldest first. */
static int due_of_hook(sqlite3 *db, int64_t hook, const char *url, const char *secret, int64_t now,
	int n, struct hc_webhook_delivery *d, int (*cb)(void *ud, struct hc_webhook_delivery *d),
	void *ud)
{
	sqlite3_stmt *s;
	int rc, x = 0;
	if (sqlite3_prepare_v2(db,
		    "SELECT id, type, body, attempts, created_at FROM webhook_outbox "
		    "WHERE hook = ?1 AND state = 'pending' AND next_at <= ?2 AND created_at > ?3 "
		    "ORDER BY next_at, rowid LIMIT ?4",
		    -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	sqlite3_bind_int64(s, 1, hook);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_int64(s, 3, now - HC_WEBHOOK_TTL_S);
	sqlite3_bind_int(s, 4, n);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const void *body = sqlite3_column_blob(s, 2);
		int blen = sqlite3_column_bytes(s, 2);
		memset(d->id, 0, sizeof(d->id));
		col(s, 0, d->id, sizeof(d->id));
		d->hook = hook;
		snprintf(d->url, sizeof(d->url), "%s", url);
		snprintf(d->secret, sizeof(d->secret), "%s", secret);
		col(s, 1, d->type, sizeof(d->type));
		d->body = malloc(blen > 0 ? (size_t)blen : 1);
		if (!d->body) {
			OPENSSL_cleanse(d->secret, sizeof(d->secret));
			sqlite3_finalize(s);
			return HUB_ERR_NOMEM;
		}
		if (blen > 0)
			memcpy(d->body, body, (size_t)blen);
		d->body_len = blen > 0 ? (size_t)blen : 0;
		d->attempts = sqlite3_column_int(s, 3);
		d->created_at = sqlite3_column_int64(s, 4);
		x = cb(ud, d);
		OPENSSL_cleanse(d->secret, sizeof(d->secret));
		if (x)
			break;
	}
	sqlite3_finalize(s);
	if (x)
		return x;
	return rc == SQLITE_DONE ? HUB_OK : rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
}

int hc_webhook_due(struct hc_store *st, int64_t now, int64_t *cursor,
	int (*want)(void *ud, int64_t hook, const char *url),
	int (*cb)(void *ud, struct hc_webhook_delivery *d), void *ud)
{
	sqlite3 *db = hc_store_db(st);
	sqlite3_stmt *s;
	struct hc_webhook_delivery *d = calloc(1, sizeof(*d));
	char secret[sizeof(d->secret)];
	int rc, x = HUB_OK;
	bool first = true;
	if (!d)
		return HUB_ERR_NOMEM;
	/* the webhooks after the cursor, then the others: each scan starts
	 * one further, so no webhook always comes last for the slots */
	if (sqlite3_prepare_v2(db, "SELECT id, url, secret FROM webhooks ORDER BY id <= ?1, id", -1,
		    &s, NULL) != SQLITE_OK) {
		free(d);
		return HUB_ERR_DB;
	}
	sqlite3_bind_int64(s, 1, *cursor);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		int64_t hook = sqlite3_column_int64(s, 0);
		const char *url = (const char *)sqlite3_column_text(s, 1);
		int n;
		if (first) {
			*cursor = hook;
			first = false;
		}
		if (!url)
			continue;
		n = want(ud, hook, url);
		if (n <= 0)
			continue;
		col(s, 2, secret, sizeof(secret));
		x = due_of_hook(db, hook, url, secret, now, n, d, cb, ud);
		OPENSSL_cleanse(secret, sizeof(secret));
		if (x)
			break;
	}
	sqlite3_finalize(s);
	free(d);
	if (x)
		return x;
	return rc == SQLITE_DONE ? HUB_OK : rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
}

int hc_webhook_next_due(struct hc_store *st, int64_t *at)
{
	sqlite3_stmt *s;
	int rc;
	*at = 0;
	if (sqlite3_prepare_v2(hc_store_db(st),
		    "SELECT coalesce(min(next_at), 0) FROM webhook_outbox WHERE state = 'pending'",
		    -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*at = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? HUB_OK : HUB_ERR_DB;
}

struct outcome {
	const char *id, *error;
	int status;
	int64_t next_at;
	bool done;
};

static int outcome_fn(struct hc_store *st, void *ud)
{
	struct outcome *o = ud;
	sqlite3_stmt *s;
	int rc;
	if (sqlite3_prepare_v2(hc_store_db(st),
		    o->done ? "UPDATE webhook_outbox SET state = 'done', attempts = attempts + 1, "
			      "last_status = ?, last_error = '' WHERE id = ?"
			    : "UPDATE webhook_outbox SET attempts = attempts + 1, last_status = ?, "
			      "last_error = ?3, next_at = ?4, state = CASE WHEN "
			      "created_at + ?5 <= unixepoch() THEN 'failed' ELSE 'pending' END "
			      "WHERE id = ?2 AND state = 'pending'",
		    -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	sqlite3_bind_int(s, 1, o->status);
	sqlite3_bind_text(s, 2, o->id, -1, SQLITE_STATIC);
	if (!o->done) {
		sqlite3_bind_text(s, 3, o->error ? o->error : "", -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, o->next_at);
		sqlite3_bind_int64(s, 5, HC_WEBHOOK_TTL_S);
	}
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? HUB_OK : rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
}

int hc_webhook_delivered(struct hc_store *st, const char *id, int status)
{
	struct outcome o = {.id = id, .status = status, .done = true};
	return hc_store_tx(st, outcome_fn, &o);
}

int hc_webhook_retry(
	struct hc_store *st, const char *id, int status, const char *error, int64_t next_at)
{
	struct outcome o = {.id = id, .status = status, .error = error, .next_at = next_at};
	return hc_store_tx(st, outcome_fn, &o);
}

static int count_state(struct hc_store *st, const char *state, int64_t *out)
{
	sqlite3_stmt *s;
	int rc;
	*out = 0;
	if (sqlite3_prepare_v2(hc_store_db(st),
		    "SELECT count(*) FROM webhook_outbox WHERE state = ?", -1, &s,
		    NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	sqlite3_bind_text(s, 1, state, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? HUB_OK : rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
}

int hc_webhook_counts(struct hc_store *st, int64_t *pending, int64_t *failed, int64_t *delivered)
{
	int rc = count_state(st, "pending", pending);
	if (!rc)
		rc = count_state(st, "failed", failed);
	if (!rc && delivered)
		rc = count_state(st, "done", delivered);
	return rc;
}

struct expire_args {
	int64_t now;
	int count;
};

static int expire_fn(struct hc_store *st, void *ud)
{
	struct expire_args *a = ud;
	sqlite3_stmt *s;
	int rc;
	if (sqlite3_prepare_v2(hc_store_db(st),
		    "UPDATE webhook_outbox SET state = 'failed', last_error = CASE WHEN "
		    "last_error = '' THEN 'expired' ELSE last_error END "
		    "WHERE state = 'pending' AND created_at <= ?",
		    -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	sqlite3_bind_int64(s, 1, a->now - HC_WEBHOOK_TTL_S);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
	a->count = sqlite3_changes(hc_store_db(st));
	return HUB_OK;
}

int hc_webhook_expire(struct hc_store *st, int64_t now, int *count)
{
	struct expire_args a = {.now = now};
	sqlite3_stmt *s;
	int rc;
	if (count)
		*count = 0;
	/* a read first: the usual answer is "nothing", and a write
	 * transaction every few seconds would make other writers wait */
	if (sqlite3_prepare_v2(hc_store_db(st),
		    "SELECT 1 FROM webhook_outbox WHERE state = 'pending' AND created_at <= ? "
		    "LIMIT 1",
		    -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	sqlite3_bind_int64(s, 1, now - HC_WEBHOOK_TTL_S);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return HUB_OK;
	if (rc != SQLITE_ROW)
		return rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
	rc = hc_store_tx(st, expire_fn, &a);
	if (count)
		*count = rc ? 0 : a.count;
	return rc;
}

struct purge_args {
	int64_t cutoff;
	int n;
};

static int purge_fn(struct hc_store *st, void *ud)
{
	struct purge_args *a = ud;
	sqlite3_stmt *s;
	int rc;
	if (sqlite3_prepare_v2(hc_store_db(st),
		    "DELETE FROM webhook_outbox WHERE rowid IN (SELECT rowid FROM webhook_outbox "
		    "WHERE state != 'pending' AND created_at < ? LIMIT ?)",
		    -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	sqlite3_bind_int64(s, 1, a->cutoff);
	sqlite3_bind_int(s, 2, HC_WEBHOOK_PURGE_BATCH);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
	a->n = sqlite3_changes(hc_store_db(st));
	return HUB_OK;
}

int hc_webhook_purge(struct hc_store *st, int64_t cutoff, int64_t *deleted)
{
	struct purge_args a = {.cutoff = cutoff};
	int rc = hc_store_tx(st, purge_fn, &a);
	if (deleted)
		*deleted = rc ? 0 : a.n;
	return rc;
}

int64_t hc_webhook_backoff_s(int attempts)
{
	int64_t d = 1;
	unsigned char r = 0;
	for (int i = 1; i < attempts && d < 600; i++)
		d *= 2;
	if (d > 600)
		d = 600;
	if (hc_random(&r, 1) == HUB_OK)
		d += d * (int64_t)(r % 21) / 100; /* up to 20 % later */
	return d;
}
