/* SPDX-License-Identifier: MIT */
/*
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
 */
#include "hauth_history.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QUEUE_MAX_ITEMS 20000
#define QUEUE_MAX_BYTES (64u << 20)
#define BATCH_MS	50

struct item {
	struct item *next;
	int64_t ts_ms;
	size_t len;
	char room[HC_NAME_MAX + 1];
	char sender[HC_NAME_MAX + 1];
	char event[HC_NAME_MAX + 1];
	unsigned char data[];
};

struct hauth_history {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	struct item *head, *tail;
	size_t items, bytes;
	uint64_t stored, dropped, oversize;
	struct hc_store *st;
	int64_t max_per_room;
	size_t event_max;
	const struct hc_config *cfg;
};

bool hauth_history__wanted(const struct hc_config *cfg, const char *topic, const char **room,
	size_t *rlen, const char **event, size_t *elen, const char **sender, size_t *slen)
{
	const char *p, *q;
	/* rooms/{room}/ev/{event}/{sender}: the ACL already checked its shape */
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
	if (*rlen == 0 || *rlen > HC_NAME_MAX || *elen == 0 || *elen > HC_NAME_MAX || *slen == 0 ||
		*slen > HC_NAME_MAX)
		return false;
	return hc_cfg_list_has(cfg, HC_CFG_HISTORY_EVENTS, *event, *elen);
}

void hauth_history__add(
	struct hauth_history *hh, const char *topic, const void *payload, size_t len)
{
	const char *room, *event, *sender;
	size_t rlen, elen, slen;
	struct item *it;

	if (!hh || hh->max_per_room <= 0 ||
		!hauth_history__wanted(hh->cfg, topic, &room, &rlen, &event, &elen, &sender, &slen))
		return;
	if (len > hh->event_max) {
		static struct hc_log_limit lim = HC_LOG_LIMIT("history_oversize");
		pthread_mutex_lock(&hh->lock);
		hh->oversize++;
		pthread_mutex_unlock(&hh->lock);
		hc_log_limited(&lim, HC_LOG_INFO,
			"msg=\"history: event too big to store\" room=%.*s event=\"%.*s\" "
			"sender=%.*s bytes=%zu max=%zu",
			(int)rlen, room, (int)elen, event, (int)slen, sender, len, hh->event_max);
		return;
	}
	pthread_mutex_lock(&hh->lock);
	if (hh->items >= QUEUE_MAX_ITEMS || len > QUEUE_MAX_BYTES - hh->bytes) {
		hh->dropped++;
		pthread_mutex_unlock(&hh->lock);
		return;
	}
	pthread_mutex_unlock(&hh->lock);
	it = malloc(sizeof(*it) + len);
	if (!it) {
		pthread_mutex_lock(&hh->lock);
		hh->dropped++;
		pthread_mutex_unlock(&hh->lock);
		return;
	}
	it->next = NULL;
	it->ts_ms = hc_now_ms();
	it->len = len;
	memcpy(it->room, room, rlen);
	it->room[rlen] = '\0';
	memcpy(it->event, event, elen);
	it->event[elen] = '\0';
	memcpy(it->sender, sender, slen);
	it->sender[slen] = '\0';
	if (len)
		memcpy(it->data, payload, len);
	pthread_mutex_lock(&hh->lock);
	if (hh->tail)
		hh->tail->next = it;
	else
		hh->head = it;
	hh->tail = it;
	hh->items++;
	hh->bytes += len;
	pthread_cond_signal(&hh->cond);
	pthread_mutex_unlock(&hh->lock);
}

struct write_ud {
	struct hauth_history *hh;
	struct item *list;
};

/* Insert a batch, then trim the rooms it touched. */
static int write_batch(struct hc_store *st, void *ud)
{
	struct write_ud *w = ud;
	sqlite3 *db = hc_store_db(st);
	sqlite3_stmt *ins = NULL, *trim = NULL;
	int rc = HUB_ERR_DB;

	if (sqlite3_prepare_v2(db,
		    "INSERT INTO messages(room, event, sender, ts, data) VALUES(?, ?, ?, ?, ?)", -1,
		    &ins, NULL) != SQLITE_OK ||
		sqlite3_prepare_v2(db,
			"DELETE FROM messages WHERE room = ?1 AND id <= (SELECT id FROM messages "
			"WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
			-1, &trim, NULL) != SQLITE_OK)
		goto cleanup;
	for (struct item *it = w->list; it; it = it->next) {
		sqlite3_reset(ins);
		sqlite3_bind_text(ins, 1, it->room, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, it->event, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, it->sender, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 4, it->ts_ms);
		sqlite3_bind_blob(ins, 5, it->data, (int)it->len, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			goto cleanup;
	}
	for (struct item *it = w->list; it; it = it->next) {
		bool seen = false;
		for (struct item *k = w->list; k != it; k = k->next)
			if (!strcmp(k->room, it->room)) {
				seen = true;
				break;
			}
		if (seen)
			continue;
		sqlite3_reset(trim);
		sqlite3_bind_text(trim, 1, it->room, -1, SQLITE_STATIC);
		sqlite3_bind_int64(trim, 2, w->hh->max_per_room);
		if (sqlite3_step(trim) != SQLITE_DONE)
			goto cleanup;
	}
	rc = HUB_OK;
cleanup:
	sqlite3_finalize(ins);
	sqlite3_finalize(trim);
	return rc;
}

static void free_items(struct item *it)
{
	while (it) {
		struct item *n = it->next;
		free(it);
		it = n;
	}
}

static void *writer(void *arg)
{
	struct hauth_history *hh = arg;
	pthread_mutex_lock(&hh->lock);
	for (;;) {
		struct write_ud w = {.hh = hh};
		size_t n;
		int rc;
		while (!hh->head && !hh->stopping)
			pthread_cond_wait(&hh->cond, &hh->lock);
		if (!hh->head && hh->stopping)
			break;
		/* let a burst gather into one transaction */
		if (!hh->stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += BATCH_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&hh->cond, &hh->lock, &ts);
		}
		w.list = hh->head;
		n = hh->items;
		hh->head = hh->tail = NULL;
		hh->items = 0;
		hh->bytes = 0;
		pthread_mutex_unlock(&hh->lock);
		rc = hc_store_tx(hh->st, write_batch, &w);
		free_items(w.list);
		pthread_mutex_lock(&hh->lock);
		if (rc) {
			hh->dropped += n;
			hc_warn("msg=\"history: write failed\" rows=%zu err=\"%s\"", n,
				hc_store_errmsg(hh->st));
		} else {
			hh->stored += n;
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
	hh->max_per_room = hc_cfg_int(cfg, HC_CFG_HISTORY_MAX);
	hh->event_max = (size_t)hc_cfg_int(cfg, HC_CFG_HISTORY_EVENT_MAX);
	rc = hc_store_open(db_path, HC_STORE_RW, &hh->st, err, errsz);
	if (rc) {
		free(hh);
		return rc;
	}
	pthread_mutex_init(&hh->lock, NULL);
	pthread_cond_init(&hh->cond, NULL);
	if (pthread_create(&hh->thread, NULL, writer, hh) != 0) {
		snprintf(err, errsz, "cannot start the history writer thread");
		hc_store_close(hh->st);
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
	pthread_mutex_destroy(&hh->lock);
	pthread_cond_destroy(&hh->cond);
	free(hh);
}
