/* SPDX-License-Identifier: MIT */
/*
 * Waiting, off the lws thread, until the store's followers applied a change
 * (syncwait.h). One worker thread: it takes every request queued so far,
 * waits once for the highest change position among them (one round trip
 * per follower covers them all), and hands them back to the loop.
 */
#include "syncwait.h"
#include "hc_db.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_sync.h"
#include "http.h"
#include "hub.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define QUEUE_MAX 4096

struct sw_job {
	struct sw_job *next;
	uint64_t req_id;
	int64_t seq;
	atomic_bool gone; /* the client left while we waited */
	bool confirmed;
};

struct hub_syncwait {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	bool joined;
	struct sw_job *todo, *done; /* LIFO lists; order does not matter */
	int queued;
	struct lws_context *lws;
	char dir[HUB_PATH_MAX];
	int timeout_ms;
	/* PostgreSQL: the wait reads node_applied on a connection of its own
	 * (worker thread only), opened at the first job */
	char db[HUB_PATH_MAX];
	bool pg;
	struct hc_store *st;
};

static void *worker(void *arg)
{
	struct hub_syncwait *w = arg;
	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		struct sw_job *batch, *j, *last = NULL;
		int64_t seq = 0;
		char err[512];
		int rc;

		if (!w->todo) {
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		batch = w->todo;
		w->todo = NULL;
		w->queued = 0;
		pthread_mutex_unlock(&w->lock);

		for (j = batch; j; j = j->next)
			if (j->seq > seq)
				seq = j->seq;
		if (!w->pg) {
			rc = hc_sync_wait(w->dir, seq, w->timeout_ms, err, sizeof(err));
		} else {
			rc = w->st ? HUB_OK
				   : hc_store_open(w->db, HC_STORE_RO, &w->st, err, sizeof(err));
			if (!rc)
				rc = hc_sync_wait_store(
					w->st, seq, w->timeout_ms, err, sizeof(err));
		}
		if (rc)
			hc_warn("msg=\"a change is saved but not confirmed in force\" seq=%lld "
				"err=\"%s\"",
				(long long)seq, err);
		for (j = batch; j; j = j->next) {
			j->confirmed = rc == HUB_OK;
			last = j;
		}

		pthread_mutex_lock(&w->lock);
		last->next = w->done;
		w->done = batch;
		pthread_mutex_unlock(&w->lock);
		lws_cancel_service(w->lws);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

int hub_syncwait_start(struct hub *h, struct hub_syncwait **out)
{
	struct hub_syncwait *w = calloc(1, sizeof(*w));
	*out = NULL;
	if (!w)
		return HUB_ERR_NOMEM;
	if (hc_config_sync_dir(&h->cfg, w->dir, sizeof(w->dir))) {
		free(w);
		return HUB_ERR_INVAL;
	}
	snprintf(w->db, sizeof(w->db), "%s", h->db_path);
	w->pg = hc_db_is_postgresql(w->db);
	w->lws = h->lws;
	w->timeout_ms = (int)hc_cfg_int(&h->cfg, HC_CFG_SYNC_TIMEOUT_MS);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, worker, w) != 0) {
		pthread_mutex_destroy(&w->lock);
		pthread_cond_destroy(&w->cond);
		free(w);
		return HUB_ERR_IO;
	}
	*out = w;
	return HUB_OK;
}

void hub_syncwait_stop(struct hub_syncwait *w)
{
	if (!w || w->joined)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->joined = true;
	hc_store_close(w->st);
	w->st = NULL;
	/* what never got its turn is answered unconfirmed by collect */
	pthread_mutex_lock(&w->lock);
	while (w->todo) {
		struct sw_job *j = w->todo;
		w->todo = j->next;
		j->next = w->done;
		w->done = j;
	}
	pthread_mutex_unlock(&w->lock);
}

void hub_syncwait_free(struct hub_syncwait *w)
{
	if (!w)
		return;
	while (w->done) {
		struct sw_job *j = w->done;
		w->done = j->next;
		free(j);
	}
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

void hub_syncwait_reply(struct hub *h, struct hub_conn *c)
{
	struct hub_syncwait *w = h->syncwait;
	struct sw_job *j;
	int64_t seq = 0;

	if (!w || hc_store_change_seq(h->store, &seq) != HUB_OK || !(j = calloc(1, sizeof(*j)))) {
		hub_http_send(c); /* cannot wait: answer now */
		return;
	}
	j->seq = seq;
	pthread_mutex_lock(&w->lock);
	if (w->stopping || w->queued >= QUEUE_MAX) {
		pthread_mutex_unlock(&w->lock);
		free(j);
		hub_http_send(c);
		return;
	}
	j->req_id = hub_http_wait(h, c, &j->gone);
	j->next = w->todo;
	w->todo = j;
	w->queued++;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void hub_syncwait_collect(struct hub_syncwait *w, struct hub *h)
{
	struct sw_job *list;
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	list = w->done;
	w->done = NULL;
	pthread_mutex_unlock(&w->lock);
	while (list) {
		struct sw_job *j = list;
		struct hub_conn *c;
		list = j->next;
		c = hub_http_resume(h, j->req_id);
		if (c)
			hub_http_send(c); /* the change is saved either way */
		free(j);
	}
}
