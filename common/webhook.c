/* SPDX-License-Identifier: MIT */
/*
 * Webhooks and their outbox in the store (hc_webhook.h).
 */
#include "hc_webhook.h"
#include "hc_db.h"
#include "hc_err.h"
#include "hc_store.h"
#include "hc_util.h"
#include "store_internal.h"

#include <openssl/crypto.h>
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
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"INSERT INTO webhooks(url, secret, events, rooms, created_at) "
		"VALUES(?, ?, ?, ?, unixepoch())",
		"ssss", a->url, a->secret, a->events, a->rooms);
	if (!rc)
		rc = hc_db_done(s);
	if (!rc)
		rc = hc_db_last_id(st, &a->id);
	return rc;
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
	struct hc_db_stmt *s;
	/* outbox rows go by the foreign key's cascade */
	int rc = hc_db_prep(st, &s, "DELETE FROM webhooks WHERE id = ?", "i", *id);
	if (!rc)
		rc = hc_db_done(s);
	if (rc)
		return rc;
	return hc_db_changes(st) ? HUB_OK : HUB_ERR_NOTFOUND;
}

int hc_webhook_del(struct hc_store *st, int64_t id)
{
	return hc_store_tx(st, del_fn, &id);
}

int hc_webhook_list(struct hc_store *st, int (*cb)(void *ud, const struct hc_webhook *w), void *ud)
{
	struct hc_db_stmt *s;
	struct hc_webhook *w = calloc(1, sizeof(*w));
	int rc;
	if (!w)
		return HUB_ERR_NOMEM;
	if (hc_db_prep(st, &s,
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
		    "") != HUB_OK) {
		free(w);
		return HUB_ERR_DB;
	}
	while ((rc = hc_db_step(s)) == HC_DB_ROW) {
		int x;
		memset(w, 0, sizeof(*w));
		w->id = hc_db_int64(s, 0);
		hc_db_col(s, 1, w->url, sizeof(w->url));
		hc_db_col(s, 2, w->events, sizeof(w->events));
		hc_db_col(s, 3, w->rooms, sizeof(w->rooms));
		w->created_at = hc_db_int64(s, 4);
		w->pending = hc_db_int64(s, 5);
		w->failing = hc_db_int64(s, 6);
		w->failed = hc_db_int64(s, 7);
		w->delivered = hc_db_int64(s, 8);
		hc_db_col(s, 9, w->last_error, sizeof(w->last_error));
		x = cb(ud, w);
		if (x) {
			hc_db_finalize(s);
			free(w);
			return x;
		}
	}
	hc_db_finalize(s);
	free(w);
	return rc == HC_DB_DONE ? HUB_OK : rc;
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
	struct hc_db_stmt *hooks = NULL, *ins = NULL;
	char *body = NULL;
	size_t cap;
	int rc, step;

	a->queued = 0;
	rc = hc_db_prep(st, &hooks, "SELECT id, events, rooms FROM webhooks", "");
	if (rc)
		return rc;
	cap = strlen(a->fields) + 160;
	/* no webhook at all (the usual case): one read of an empty table is
	 * all a login pays */
	while ((step = hc_db_step(hooks)) == HC_DB_ROW) {
		const char *events = hc_db_text(hooks, 1);
		const char *rooms = hc_db_text(hooks, 2);
		char id[HC_WEBHOOK_ID_LEN + 1];
		int n;
		if (!events || !rooms || !wants(events, rooms, a))
			continue;
		if (!body && !(body = malloc(cap))) {
			rc = HUB_ERR_NOMEM;
			break;
		}
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
		rc = hc_db_prep(st, &ins,
			"INSERT INTO webhook_outbox(id, hook, type, body, created_at, next_at) "
			"VALUES(?, ?, ?, ?, unixepoch(), unixepoch())",
			"sisb", id, hc_db_int64(hooks, 0), a->type, (const void *)body, (size_t)n);
		if (!rc)
			rc = hc_db_done(ins);
		if (rc)
			break;
		a->queued++;
	}
	if (rc == HUB_OK && step != HC_DB_DONE && step != HC_DB_ROW)
		rc = step;
	free(body);
	hc_db_finalize(hooks);
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
static int due_of_hook(struct hc_store *st, int64_t hook, const char *url, const char *secret,
	int64_t now, int n, struct hc_webhook_delivery *d,
	int (*cb)(void *ud, struct hc_webhook_delivery *d), void *ud)
{
	struct hc_db_stmt *s;
	int rc, x = 0;
	rc = hc_db_prep(st, &s,
		"SELECT id, type, body, attempts, created_at FROM webhook_outbox "
		"WHERE hook = ?1 AND state = 'pending' AND next_at <= ?2 AND created_at > ?3 "
		"ORDER BY next_at, rowid LIMIT ?4",
		"iiid", hook, now, now - HC_WEBHOOK_TTL_S, n);
	if (rc)
		return rc;
	while ((rc = hc_db_step(s)) == HC_DB_ROW) {
		size_t blen = 0;
		const void *body = hc_db_blob(s, 2, &blen);
		memset(d->id, 0, sizeof(d->id));
		hc_db_col(s, 0, d->id, sizeof(d->id));
		d->hook = hook;
		snprintf(d->url, sizeof(d->url), "%s", url);
		snprintf(d->secret, sizeof(d->secret), "%s", secret);
		hc_db_col(s, 1, d->type, sizeof(d->type));
		d->body = malloc(blen > 0 ? blen : 1);
		if (!d->body) {
			OPENSSL_cleanse(d->secret, sizeof(d->secret));
			hc_db_finalize(s);
			return HUB_ERR_NOMEM;
		}
		if (blen > 0 && body)
			memcpy(d->body, body, blen);
		d->body_len = body ? blen : 0;
		d->attempts = hc_db_int(s, 3);
		d->created_at = hc_db_int64(s, 4);
		x = cb(ud, d);
		OPENSSL_cleanse(d->secret, sizeof(d->secret));
		if (x)
			break;
	}
	hc_db_finalize(s);
	if (x)
		return x;
	return rc == HC_DB_DONE ? HUB_OK : rc;
}

int hc_webhook_due(struct hc_store *st, int64_t now, int64_t *cursor,
	int (*want)(void *ud, int64_t hook, const char *url),
	int (*cb)(void *ud, struct hc_webhook_delivery *d), void *ud)
{
	struct hc_db_stmt *s;
	struct hc_webhook_delivery *d = calloc(1, sizeof(*d));
	char secret[sizeof(d->secret)];
	int rc, x = HUB_OK;
	bool first = true;
	if (!d)
		return HUB_ERR_NOMEM;
	/* the webhooks after the cursor, then the others: each scan starts
	 * one further, so no webhook always comes last for the slots */
	rc = hc_db_prep(
		st, &s, "SELECT id, url, secret FROM webhooks ORDER BY id <= ?1, id", "i", *cursor);
	if (rc) {
		free(d);
		return rc;
	}
	while ((rc = hc_db_step(s)) == HC_DB_ROW) {
		int64_t hook = hc_db_int64(s, 0);
		const char *url = hc_db_text(s, 1);
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
		hc_db_col(s, 2, secret, sizeof(secret));
		x = due_of_hook(st, hook, url, secret, now, n, d, cb, ud);
		OPENSSL_cleanse(secret, sizeof(secret));
		if (x)
			break;
	}
	hc_db_finalize(s);
	free(d);
	if (x)
		return x;
	return rc == HC_DB_DONE ? HUB_OK : rc;
}

int hc_webhook_next_due(struct hc_store *st, int64_t *at)
{
	int rc;
	*at = 0;
	/* an aggregate: always one row */
	rc = hc_store__get_int64(st,
		"SELECT coalesce(min(next_at), 0) FROM webhook_outbox WHERE state = 'pending'",
		NULL, at);
	return rc == HUB_ERR_NOTFOUND ? HUB_ERR_DB : rc;
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
	struct hc_db_stmt *s;
	int rc;
	if (o->done)
		rc = hc_db_prep(st, &s,
			"UPDATE webhook_outbox SET state = 'done', attempts = attempts + 1, "
			"last_status = ?, last_error = '' WHERE id = ?",
			"ds", o->status, o->id);
	else
		rc = hc_db_prep(st, &s,
			"UPDATE webhook_outbox SET attempts = attempts + 1, last_status = ?1, "
			"last_error = ?3, next_at = ?4, state = CASE WHEN "
			"created_at + ?5 <= unixepoch() THEN 'failed' ELSE 'pending' END "
			"WHERE id = ?2 AND state = 'pending'",
			"dssii", o->status, o->id, o->error ? o->error : "", o->next_at,
			(int64_t)HC_WEBHOOK_TTL_S);
	return rc ? rc : hc_db_done(s);
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
	int rc;
	*out = 0;
	rc = hc_store__get_int64(
		st, "SELECT count(*) FROM webhook_outbox WHERE state = ?", state, out);
	return rc == HUB_ERR_NOTFOUND ? HUB_ERR_DB : rc;
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
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"UPDATE webhook_outbox SET state = 'failed', last_error = CASE WHEN "
		"last_error = '' THEN 'expired' ELSE last_error END "
		"WHERE state = 'pending' AND created_at <= ?",
		"i", a->now - HC_WEBHOOK_TTL_S);
	if (!rc)
		rc = hc_db_done(s);
	if (rc)
		return rc;
	a->count = (int)hc_db_changes(st);
	return HUB_OK;
}

int hc_webhook_expire(struct hc_store *st, int64_t now, int *count)
{
	struct expire_args a = {.now = now};
	struct hc_db_stmt *s;
	int rc;
	if (count)
		*count = 0;
	/* a read first: the usual answer is "nothing", and a write
	 * transaction every few seconds would make other writers wait */
	rc = hc_db_prep(st, &s,
		"SELECT 1 FROM webhook_outbox WHERE state = 'pending' AND created_at <= ? LIMIT 1",
		"i", now - HC_WEBHOOK_TTL_S);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	hc_db_finalize(s);
	if (rc == HC_DB_DONE)
		return HUB_OK;
	if (rc != HC_DB_ROW)
		return rc;
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
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"DELETE FROM webhook_outbox WHERE rowid IN (SELECT rowid FROM webhook_outbox "
		"WHERE state != 'pending' AND created_at < ? LIMIT ?)",
		"id", a->cutoff, HC_WEBHOOK_PURGE_BATCH);
	if (!rc)
		rc = hc_db_done(s);
	if (rc)
		return rc;
	a->n = (int)hc_db_changes(st);
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
