/* SPDX-License-Identifier: MIT */
/*
 * The plugin's writer thread, for chat history and webhook rows.
 *
 * Chat history: room events whose name is listed in history_events
 * ("chat message" by default) are stored per room with sender and time.
 * The broker thread only copies the message into a bounded queue (MESSAGE
 * event, once per publish); a writer thread of ours inserts them into the
 * store in batches and trims each room to history_max. Typing and other
 * events are never stored. If the writer falls behind past the queue's
 * bound, new messages are counted as dropped from history (delivery is
 * never held up). An event whose payload is over history_event_max
 * (64 KiB by default) is delivered like any other but not stored, and
 * counted as oversize: history holds at most history_max x
 * history_event_max bytes a room, and reading it back stays cheap.
 *
 * Webhook rows (outbox.c builds them): joined and left notices and room
 * events that some webhook wants go through the same queue and the same
 * transactions (hc_webhook_enqueue; hubd sends them). The writer reads
 * what the webhooks want when the store changed (PRAGMA data_version,
 * looked at every LOOK_MS) and sets two flags the
 * broker thread reads without a lock: with no webhook wanting presence or
 * room events, nothing is copied or queued for them.
 */
#include "hauth_history.h"
#include "hc_err.h"
#include "hc_webhook.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"

#include <pthread.h>
#include "hc_db.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX_ITEMS 20000
#define QUEUE_MAX_BYTES (64u << 20)
#define BATCH_MS	50
#define LOOK_MS		250 /* how often an idle writer looks at the webhooks */

enum { IT_EVENT = 1, IT_PRESENCE };

struct item {
	struct item *next;
	int kind;
	bool history; /* store it in messages */
	bool webhook; /* make webhook rows for it */
	int64_t ts_ms;
	size_t len;
	int online; /* presence */
	char room[HC_NAME_MAX + 1];
	char sender[HC_NAME_MAX + 1]; /* the user, for presence */
	char event[HC_NAME_MAX + 1];
	char reason[16]; /* left notices; "" for joined */
	unsigned char data[];
};

struct hauth_history {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	bool idle; /* the writer waits for work: only then is it signalled (a
		    * signal per item while it gathers a batch cost a futex
		    * wake-up and a context switch per CONNECT) */
	struct item *head, *tail;
	size_t items, bytes;
	uint64_t stored, dropped, oversize;
	uint64_t wh_queued, wh_made, wh_dropped;
	struct hc_store *st;
	int64_t max_per_room;
	size_t event_max;
	const struct hc_config *cfg;
	/* what the webhooks want: the writer replaces it (under lock) when the
	 * store changed; the broker thread reads the flags without the lock
	 * and takes it only when one is set */
	struct hauth_outbox_wants wants;
	atomic_bool wh_presence, wh_events;
	int64_t data_version; /* writer only */
};

/* Split rooms/{room}/ev/{event}/{sender}: pointers into topic. */
static bool split(const char *topic, const char **room, size_t *rlen, const char **event,
	size_t *elen, const char **sender, size_t *slen)
{
	const char *p, *q;
	if (strncmp(topic, "rooms/", 6) != 0)
		return false;
	p = topic + 6;
	q = strchr(p, '/');
	if (!q || strncmp(q, "/ev/", 4) != 0)
		return false;
	*room = p;
	*rlen = (size_t)(q - p);
	p = q + 4;
	q = strchr(p, '/');
	if (!q || strchr(q + 1, '/'))
		return false;
	*event = p;
	*elen = (size_t)(q - p);
	*sender = q + 1;
	*slen = strlen(q + 1);
	return *rlen > 0 && *rlen <= HC_NAME_MAX && *elen > 0 && *elen <= HC_NAME_MAX &&
	       *slen > 0 && *slen <= HC_NAME_MAX;
}

bool hauth_history__wanted(const struct hc_config *cfg, const char *topic, const char **room,
	size_t *rlen, const char **event, size_t *elen, const char **sender, size_t *slen)
{
	/* rooms/{room}/ev/{event}/{sender}: the ACL already checked its shape */
	if (!split(topic, room, rlen, event, elen, sender, slen))
		return false;
	return hc_cfg_list_has(cfg, HC_CFG_HISTORY_EVENTS, *event, *elen);
}

/* Queue it, or count it dropped (the queue is full). */
static void push(struct hauth_history *hh, struct item *it)
{
	pthread_mutex_lock(&hh->lock);
	if (hh->items >= QUEUE_MAX_ITEMS || it->len > QUEUE_MAX_BYTES - hh->bytes) {
		if (it->history)
			hh->dropped++;
		if (it->webhook)
			hh->wh_dropped++;
		pthread_mutex_unlock(&hh->lock);
		free(it);
		return;
	}
	if (hh->tail)
		hh->tail->next = it;
	else
		hh->head = it;
	hh->tail = it;
	hh->items++;
	hh->bytes += it->len;
	if (it->webhook)
		hh->wh_queued++;
	if (hh->idle)
		pthread_cond_signal(&hh->cond);
	pthread_mutex_unlock(&hh->lock);
}

void hauth_history__add(
	struct hauth_history *hh, const char *topic, const void *payload, size_t len)
{
	const char *room, *event, *sender;
	size_t rlen, elen, slen;
	bool history, webhook;
	struct item *it;

	if (!hh || !split(topic, &room, &rlen, &event, &elen, &sender, &slen))
		return;
	history = hh->max_per_room > 0 &&
		  hc_cfg_list_has(hh->cfg, HC_CFG_HISTORY_EVENTS, event, elen);
	webhook = atomic_load_explicit(&hh->wh_events, memory_order_relaxed);
	if (!history && !webhook)
		return; /* the common case: no lock, no copy */
	if (webhook) {
		pthread_mutex_lock(&hh->lock);
		webhook = hauth_outbox__wants_event(&hh->wants, room, rlen, event, elen);
		pthread_mutex_unlock(&hh->lock);
	}
	if (history && len > hh->event_max) {
		static struct hc_log_limit lim = HC_LOG_LIMIT("history_oversize");
		pthread_mutex_lock(&hh->lock);
		hh->oversize++;
		pthread_mutex_unlock(&hh->lock);
		hc_log_limited(&lim, HC_LOG_INFO,
			"msg=\"history: event too big to store\" room=%.*s event=\"%.*s\" "
			"sender=%.*s bytes=%zu max=%zu",
			(int)rlen, room, (int)elen, event, (int)slen, sender, len, hh->event_max);
		history = false;
	}
	if (!history && !webhook)
		return;
	it = malloc(sizeof(*it) + len);
	if (!it) {
		pthread_mutex_lock(&hh->lock);
		if (history)
			hh->dropped++;
		if (webhook)
			hh->wh_dropped++;
		pthread_mutex_unlock(&hh->lock);
		return;
	}
	memset(it, 0, sizeof(*it));
	it->kind = IT_EVENT;
	it->history = history;
	it->webhook = webhook;
	it->ts_ms = hc_now_ms();
	it->len = len;
	memcpy(it->room, room, rlen);
	memcpy(it->event, event, elen);
	memcpy(it->sender, sender, slen);
	if (len)
		memcpy(it->data, payload, len);
	push(hh, it);
}

void hauth_history__presence(struct hauth_history *hh, const char *room, const char *user,
	int online, const char *reason)
{
	struct item *it;
	if (!hh || !atomic_load_explicit(&hh->wh_presence, memory_order_relaxed))
		return;
	it = calloc(1, sizeof(*it));
	if (!it) {
		pthread_mutex_lock(&hh->lock);
		hh->wh_dropped++;
		pthread_mutex_unlock(&hh->lock);
		return;
	}
	it->kind = IT_PRESENCE;
	it->webhook = true;
	it->ts_ms = hc_now_ms();
	it->online = online;
	snprintf(it->room, sizeof(it->room), "%s", room);
	snprintf(it->sender, sizeof(it->sender), "%s", user);
	snprintf(it->reason, sizeof(it->reason), "%s", reason ? reason : "");
	push(hh, it);
}

struct write_ud {
	struct hauth_history *hh;
	struct item *list;
	int made; /* webhook rows */
};

/* The webhook rows of one item. */
static int enqueue(struct hc_store *st, const struct item *it, int *made)
{
	char *fields;
	int rc, n = 0;
	if (it->kind == IT_PRESENCE)
		fields = hauth_outbox__presence_fields(
			it->room, it->sender, it->online, it->reason[0] ? it->reason : NULL);
	else
		fields = hauth_outbox__event_fields(
			it->room, it->event, it->sender, it->data, it->len);
	if (!fields)
		return HUB_ERR_NOMEM;
	rc = hc_webhook_enqueue(st,
		it->kind == IT_EVENT ? "event"
		: it->reason[0]	     ? "left"
				     : "joined",
		it->kind == IT_EVENT ? it->event : NULL, it->room, it->ts_ms, fields, &n);
	free(fields);
	*made += n;
	return rc;
}

/* Insert a batch, then trim the rooms it touched. */
static int write_batch(struct hc_store *st, void *ud)
{
	struct write_ud *w = ud;
	struct hc_db_stmt *q = NULL;
	int rc = HUB_OK;

	w->made = 0;
	for (struct item *it = w->list; it; it = it->next) {
		if (it->webhook && (rc = enqueue(st, it, &w->made)) != HUB_OK)
			return rc;
		if (!it->history)
			continue;
		rc = hc_db_prep(st, &q,
			"INSERT INTO messages(room, event, sender, ts, data) VALUES(?, ?, ?, ?, ?)",
			"sssib", it->room, it->event, it->sender, it->ts_ms, (const void *)it->data,
			it->len);
		if (!rc)
			rc = hc_db_done(q);
		if (rc)
			return rc;
	}
	for (struct item *it = w->list; it; it = it->next) {
		bool seen = false;
		if (!it->history)
			continue;
		for (struct item *k = w->list; k != it; k = k->next)
			if (k->history && !strcmp(k->room, it->room)) {
				seen = true;
				break;
			}
		if (seen)
			continue;
		rc = hc_db_prep(st, &q,
			"DELETE FROM messages WHERE room = ?1 AND id <= (SELECT id FROM messages "
			"WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
			"si", it->room, (int64_t)w->hh->max_per_room);
		if (!rc)
			rc = hc_db_done(q);
		if (rc)
			return rc;
	}
	return HUB_OK;
}

static void free_items(struct item *it)
{
	while (it) {
		struct item *n = it->next;
		free(it);
		it = n;
	}
}

/* Writer thread: read what the webhooks want again if the store changed
 * since the last look (PRAGMA data_version moves when another connection
 * commits: hubctl, hubd). */
static void look_at_webhooks(struct hauth_history *hh, bool first)
{
	struct hc_db_stmt *s = NULL;
	struct hauth_outbox_wants w, old;
	int64_t dv = -1;

	/* PostgreSQL has no data_version: a fingerprint of the (few) webhook
	 * rows tells the same */
	if (hc_db_prep(hh->st, &s,
		    hc_db_sql(hh->st, "PRAGMA data_version",
			    "SELECT coalesce(sum(hashtext(id || '|' || events || '|' || rooms)), "
			    "0) "
			    "+ count(*) FROM webhooks"),
		    "") == HUB_OK &&
		hc_db_step(s) == HC_DB_ROW)
		dv = hc_db_int64(s, 0);
	hc_db_finalize(s);
	if (!first && dv == hh->data_version)
		return;
	if (hauth_outbox__load(hh->st, &w) != HUB_OK) {
		hc_warn("msg=\"webhooks: cannot read what they want\" err=\"%s\"",
			hc_store_errmsg(hh->st));
		return; /* look again next time */
	}
	hh->data_version = dv;
	pthread_mutex_lock(&hh->lock);
	old = hh->wants;
	hh->wants = w;
	atomic_store(&hh->wh_presence, w.presence);
	atomic_store(&hh->wh_events, w.all_events || w.names.count > 0);
	pthread_mutex_unlock(&hh->lock);
	if (first || old.hooks != w.hooks || old.presence != w.presence ||
		old.all_events != w.all_events || old.names.count != w.names.count ||
		old.all_rooms != w.all_rooms || old.rooms.count != w.rooms.count)
		hc_info("msg=\"webhooks: what the broker makes rows for\" webhooks=%d "
			"presence=%s events=%s event_names=%zu rooms=%s",
			w.hooks, w.presence ? "yes" : "no",
			w.all_events	? "all"
			: w.names.count ? "some"
					: "none",
			w.names.count,
			w.all_rooms	? "all"
			: w.rooms.count ? "some"
					: "none");
	hauth_outbox__wants_free(&old);
}

static void *writer(void *arg)
{
	struct hauth_history *hh = arg;
	int64_t looked = hc_mono_ms();
	pthread_mutex_lock(&hh->lock);
	for (;;) {
		struct write_ud w = {.hh = hh};
		size_t n;
		uint64_t wh;
		int rc;
		if (!hh->head && !hh->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += LOOK_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			hh->idle = true;
			pthread_cond_timedwait(&hh->cond, &hh->lock, &ts);
			hh->idle = false;
		}
		if (hc_mono_ms() - looked >= LOOK_MS) {
			pthread_mutex_unlock(&hh->lock);
			look_at_webhooks(hh, false);
			looked = hc_mono_ms();
			pthread_mutex_lock(&hh->lock);
		}
		if (!hh->head) {
			if (hh->stopping)
				break;
			continue;
		}
		/* let a burst gather into one transaction (not idle: nothing
		 * but hauth_history__stop() ends this wait early) */
		if (!hh->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += BATCH_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&hh->cond, &hh->lock, &ts);
		}
		w.list = hh->head;
		n = 0;
		wh = 0;
		for (struct item *it = w.list; it; it = it->next) {
			n += it->history;
			wh += it->webhook;
		}
		hh->head = hh->tail = NULL;
		hh->items = 0;
		hh->bytes = 0;
		pthread_mutex_unlock(&hh->lock);
		rc = hc_store_tx(hh->st, write_batch, &w);
		free_items(w.list);
		pthread_mutex_lock(&hh->lock);
		if (rc) {
			hh->dropped += n;
			hh->wh_dropped += wh;
			hc_warn("msg=\"history: write failed\" rows=%zu webhook_items=%llu "
				"err=\"%s\"",
				n, (unsigned long long)wh, hc_store_errmsg(hh->st));
		} else {
			hh->stored += n;
			hh->wh_made += (uint64_t)w.made;
		}
	}
	pthread_mutex_unlock(&hh->lock);
	return NULL;
}

int hauth_history__start(const struct hc_config *cfg, const char *db_path,
	struct hauth_history **out, char *err, size_t errsz)
{
	struct hauth_history *hh = calloc(1, sizeof(*hh));
	int rc;

	*out = NULL;
	if (!hh)
		return HUB_ERR_NOMEM;
	hh->cfg = cfg;
	hauth_outbox__wants_init(&hh->wants);
	hh->max_per_room = hc_cfg_int(cfg, HC_CFG_HISTORY_MAX);
	hh->event_max = (size_t)hc_cfg_int(cfg, HC_CFG_HISTORY_EVENT_MAX);
	rc = hc_store_open(db_path, HC_STORE_RW, &hh->st, err, errsz);
	if (rc) {
		free(hh);
		return rc;
	}
	pthread_mutex_init(&hh->lock, NULL);
	pthread_cond_init(&hh->cond, NULL);
	/* start-up: the first look happens before any event can come */
	look_at_webhooks(hh, true);
	if (pthread_create(&hh->thread, NULL, writer, hh) != 0) {
		snprintf(err, errsz, "cannot start the history writer thread");
		hc_store_close(hh->st);
		hauth_outbox__wants_free(&hh->wants);
		pthread_mutex_destroy(&hh->lock);
		pthread_cond_destroy(&hh->cond);
		free(hh);
		return HUB_ERR_IO;
	}
	*out = hh;
	return HUB_OK;
}

void hauth_history__stats(struct hauth_history *hh, uint64_t *stored, uint64_t *dropped)
{
	*stored = *dropped = 0;
	if (!hh)
		return;
	pthread_mutex_lock(&hh->lock);
	*stored = hh->stored;
	*dropped = hh->dropped;
	pthread_mutex_unlock(&hh->lock);
}

void hauth_history__webhook_stats(
	struct hauth_history *hh, uint64_t *queued, uint64_t *made, uint64_t *dropped)
{
	*queued = *made = *dropped = 0;
	if (!hh)
		return;
	pthread_mutex_lock(&hh->lock);
	*queued = hh->wh_queued;
	*made = hh->wh_made;
	*dropped = hh->wh_dropped;
	pthread_mutex_unlock(&hh->lock);
}

uint64_t hauth_history__oversize(struct hauth_history *hh)
{
	uint64_t n;
	if (!hh)
		return 0;
	pthread_mutex_lock(&hh->lock);
	n = hh->oversize;
	pthread_mutex_unlock(&hh->lock);
	return n;
}

void hauth_history__stop(struct hauth_history *hh)
{
	if (!hh)
		return;
	pthread_mutex_lock(&hh->lock);
	hh->stopping = true;
	pthread_cond_signal(&hh->cond);
	pthread_mutex_unlock(&hh->lock);
	pthread_join(hh->thread, NULL); /* flushes what is queued first */
	free_items(hh->head);
	hc_store_close(hh->st);
	hauth_outbox__wants_free(&hh->wants);
	pthread_mutex_destroy(&hh->lock);
	pthread_cond_destroy(&hh->cond);
	free(hh);
}
