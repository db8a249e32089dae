/* SPDX-License-Identifier: MIT */
/*
 * The webhook sender (webhook.h): a loop around curl_multi_poll. Each turn:
 * drive the transfers, record every finished try in one store transaction,
 * then (when woken, when a slot freed up, or every POLL_MS) take due rows
 * for the free slots, webhook by webhook. Housekeeping (expiry, gauges,
 * purge) runs on timers in the same loop.
 *
 * A try in flight keeps its row pending with its old next_at: a hubd that
 * stops (SIGTERM, or killed) leaves it due, and the next hubd sends it
 * again with the same id (at least once; receivers drop duplicates by id).
 * While this hubd runs, the row is never taken twice: rows in flight are
 * declined by id when the due query returns them again.
 */
#include "webhook.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"
#include "hc_webhook.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POLL_MS	  500  /* rows made by other processes are found this often */
#define GAUGES_MS 1000 /* pending/failed counts for /metrics */
#define STALL_MS  1000 /* outcomes could not be saved: wait before the next scan */
#define ERR_TEXT  200

struct
try {
	struct try *next;
	CURL *easy;
	struct curl_slist *headers;
	char id[HC_WEBHOOK_ID_LEN + 1];
	int64_t hook;
	char *url; /* for the per-URL bound */
	int attempts;
	unsigned char *body;
	size_t received; /* response body bytes (dropped) */
	CURLcode res;	 /* once finished */
	char error[CURL_ERROR_SIZE];
};

struct hub_webhooks {
	pthread_t thread;
	CURLM *multi;
	struct hc_store *st;
	atomic_bool stopping;
	atomic_bool woken; /* something was enqueued here: scan now */
	bool freed;	   /* a try ended: a slot may serve a waiting row */
	struct try *tries; /* in flight */
	struct try *ended; /* finished, outcome not yet saved */
	int in_flight;
	int64_t cursor;	      /* round robin over webhooks (hc_webhook_due) */
	pthread_mutex_t lock; /* stats */
	struct hub_webhook_stats stats;
};

/* Failures are worth a line, but a dead endpoint must not flood the log. */
static struct hc_log_limit lim_fail = HC_LOG_LIMIT("webhook_failed");

int hub_webhooks_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? HUB_OK : HUB_ERR_IO;
}

void hub_webhooks_global_cleanup(void)
{
	curl_global_cleanup();
}

static int in_flight_url(const struct hub_webhooks *w, const char *url)
{
	int n = 0;
	for (const struct try *t = w->tries; t; t = t->next)
		n += !strcmp(t->url, url);
	return n;
}

static int in_flight_hook(const struct hub_webhooks *w, int64_t hook)
{
	int n = 0;
	for (const struct try *t = w->tries; t; t = t->next)
		n += t->hook == hook;
	return n;
}

static bool flying(const struct hub_webhooks *w, const char *id)
{
	for (const struct try *t = w->tries; t; t = t->next)
		if (!strcmp(t->id, id))
			return true;
	return false;
}

/* How many rows to ask for: the URL's free slots (within the total), plus
 * this webhook's rows in flight, which the query returns again and
 * start_try declines. */
static int want(void *ud, int64_t hook, const char *url)
{
	struct hub_webhooks *w = ud;
	int free_url = HUB_WEBHOOK_PER_URL - in_flight_url(w, url);
	int free_all = HUB_WEBHOOK_IN_FLIGHT - w->in_flight;
	int n = free_url < free_all ? free_url : free_all;
	return n > 0 ? n + in_flight_hook(w, hook) : 0;
}

/* The response is not read: count it and stop at HUB_WEBHOOK_RESPONSE_MAX
 * (the status is known by then; finished() still takes a 2xx). */
static size_t drop_body(char *p, size_t size, size_t n, void *ud)
{
	struct try *t = ud;
	(void)p;
	t->received += size * n;
	return t->received > HUB_WEBHOOK_RESPONSE_MAX ? 0 : size * n;
}

static void free_try(struct try *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t->body);
	free(t->url);
	free(t);
}

static int start_try(void *ud, struct hc_webhook_delivery *d)
{
	struct hub_webhooks *w = ud;
	struct try *t;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], hdr[2 * EVP_MAX_MD_SIZE + 64], idh[64];

	if (w->in_flight >= HUB_WEBHOOK_IN_FLIGHT || flying(w, d->id) ||
		in_flight_url(w, d->url) >= HUB_WEBHOOK_PER_URL) {
		free(d->body);
		return 0;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		free(d->body);
		return 0;
	}
	snprintf(t->id, sizeof(t->id), "%s", d->id);
	t->hook = d->hook;
	t->attempts = d->attempts;
	t->body = d->body;
	d->body = NULL;
	t->url = strdup(d->url);
	if (!t->url || !HMAC(EVP_sha256(), d->secret, (int)strlen(d->secret), t->body, d->body_len,
			       mac, &maclen)) {
		free_try(t);
		return 0;
	}
	hc_hex(mac, maclen, hex);
	snprintf(hdr, sizeof(hdr), "X-Hub-Signature-256: sha256=%s", hex);
	snprintf(idh, sizeof(idh), "X-Hub-Delivery: %s", t->id);
	t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
	if (t->headers)
		t->headers = curl_slist_append(t->headers, hdr);
	if (t->headers)
		t->headers = curl_slist_append(t->headers, idh);
	if (t->headers)
		t->headers = curl_slist_append(t->headers, "User-Agent: hub-webhook/1");
	/* no 100-continue round trip before the body */
	if (t->headers)
		t->headers = curl_slist_append(t->headers, "Expect:");
	t->easy = curl_easy_init();
	if (!t->headers || !t->easy) {
		free_try(t);
		return 0;
	}
	curl_easy_setopt(t->easy, CURLOPT_URL, d->url);
	/* no SSRF surprises: http and https only, and a redirect is an
	 * answer (a failed try), never followed to another address */
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, (const char *)t->body);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE, (long)d->body_len);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT, (long)HUB_WEBHOOK_TIMEOUT_S);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT, (long)HUB_WEBHOOK_CONNECT_S);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, drop_body);
	curl_easy_setopt(t->easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(t->easy, CURLOPT_ERRORBUFFER, t->error);
	curl_easy_setopt(t->easy, CURLOPT_PRIVATE, t);
	if (curl_multi_add_handle(w->multi, t->easy) != CURLM_OK) {
		free_try(t);
		return 0;
	}
	t->next = w->tries;
	w->tries = t;
	w->in_flight++;
	OPENSSL_cleanse(hex, sizeof(hex));
	return 0;
}

/* A transfer ended: move its try from the flying list to the ended one. */
static void finished(struct hub_webhooks *w, CURL *easy, CURLcode res)
{
	struct try *t = NULL, **pp;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
	if (!t)
		return;
	for (pp = &w->tries; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	w->in_flight--;
	w->freed = true;
	curl_multi_remove_handle(w->multi, easy);
	t->res = res;
	t->next = w->ended;
	w->ended = t;
}

/* The outcome of one ended try: HTTP status (0: none) and whether it is a
 * delivery. A response cut at HUB_WEBHOOK_RESPONSE_MAX still counts by its
 * status. */
static bool outcome(struct try *t, long *status)
{
	*status = 0;
	if (t->res == CURLE_OK || t->res == CURLE_WRITE_ERROR)
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, status);
	return *status >= 200 && *status < 300;
}

static int save_fn(struct hc_store *st, void *ud)
{
	struct hub_webhooks *w = ud;
	for (struct try *t = w->ended; t; t = t->next) {
		char err[ERR_TEXT];
		long status;
		int rc;
		if (outcome(t, &status)) {
			rc = hc_webhook_delivered(st, t->id, (int)status);
		} else {
			if (status)
				snprintf(err, sizeof(err), "HTTP %ld", status);
			else
				snprintf(err, sizeof(err), "%.180s",
					t->error[0] ? t->error : curl_easy_strerror(t->res));
			/* next_at is in whole seconds: round up, so the wait
			 * is never shorter than the backoff */
			rc = hc_webhook_retry(st, t->id, (int)status, err,
				(hc_now_ms() + 999) / 1000 + hc_webhook_backoff_s(t->attempts + 1));
		}
		if (rc)
			return rc;
	}
	return HUB_OK;
}

/* Record every ended try in one transaction, count and log them. false
 * when the store refused (the rows stay as they were: tried again). */
static bool save_ended(struct hub_webhooks *w)
{
	int rc;

	if (!w->ended)
		return true;
	rc = hc_store_tx(w->st, save_fn, w);
	if (rc)
		hc_warn("msg=\"webhook outcomes not saved; the tries will be repeated\" err=%s",
			hub_strerror(rc));
	while (w->ended) {
		struct try *t = w->ended;
		long status;
		bool ok = outcome(t, &status);
		w->ended = t->next;
		pthread_mutex_lock(&w->lock);
		w->stats.attempts++;
		if (ok)
			w->stats.delivered++;
		else if (status)
			w->stats.failed_http++;
		else if (t->res == CURLE_OPERATION_TIMEDOUT)
			w->stats.failed_timeout++;
		else
			w->stats.failed_net++;
		w->stats.in_flight = w->in_flight;
		pthread_mutex_unlock(&w->lock);
		if (!ok && hc_log_enabled(HC_LOG_WARN)) {
			char safe[ERR_TEXT + 40];
			hc_log_limited(&lim_fail, HC_LOG_WARN,
				"msg=\"webhook try failed\" hook=%lld id=%s attempt=%d status=%ld "
				"err=\"%s\"",
				(long long)t->hook, t->id, t->attempts + 1, status,
				hc_log_safe(status	  ? ""
					    : t->error[0] ? t->error
							  : curl_easy_strerror(t->res),
					safe, sizeof(safe)));
		}
		free_try(t);
	}
	return rc == HUB_OK;
}

/* The /metrics gauges; returns how long the counts took (ms), so a huge
 * backlog is counted less often. */
static int64_t gauges(struct hub_webhooks *w)
{
	int64_t pending, failed, t0 = hc_mono_ms();
	if (hc_webhook_counts(w->st, &pending, &failed, NULL) != HUB_OK)
		return hc_mono_ms() - t0;
	pthread_mutex_lock(&w->lock);
	w->stats.pending = pending;
	w->stats.failed = failed;
	w->stats.have_gauges = true;
	pthread_mutex_unlock(&w->lock);
	return hc_mono_ms() - t0;
}

static void expire(struct hub_webhooks *w)
{
	int n = 0;
	int rc = hc_webhook_expire(w->st, hc_now(), &n);
	if (rc) {
		hc_warn("msg=\"webhook expiry failed\" err=%s", hub_strerror(rc));
		return;
	}
	if (n) {
		hc_warn("msg=\"webhook deliveries given up after 24 h\" count=%d", n);
		pthread_mutex_lock(&w->lock);
		w->stats.expired += (uint64_t)n;
		pthread_mutex_unlock(&w->lock);
	}
}

/* A batch at a time, so a stop never waits for a long purge (the rest
 * goes at the next one). */
static void purge(struct hub_webhooks *w)
{
	int64_t cutoff = hc_now() - HUB_WEBHOOK_KEEP_S, n = 0, total = 0;
	int rc;
	do {
		rc = hc_webhook_purge(w->st, cutoff, &n);
		total += n;
	} while (!rc && n == HC_WEBHOOK_PURGE_BATCH && !atomic_load(&w->stopping));
	if (rc)
		hc_warn("msg=\"webhook outbox purge failed\" err=%s", hub_strerror(rc));
	else
		hc_debug("msg=\"webhook outbox purged\" rows=%lld", (long long)total);
}

static void *run(void *arg)
{
	struct hub_webhooks *w = arg;
	int64_t start = hc_mono_ms();
	int64_t next_scan = 0, next_gauges = 0, next_expire = 0, stalled_until = 0;
	int64_t next_purge = start + (int64_t)HUB_WEBHOOK_PURGE_FIRST_S * 1000;

	while (!atomic_load(&w->stopping)) {
		int64_t now = hc_mono_ms();
		int running = 0, left;
		CURLMsg *m;
		bool scan;

		if (now >= next_expire) {
			expire(w);
			next_expire = now + HUB_WEBHOOK_EXPIRE_EVERY_MS;
		}
		if (now >= next_purge) {
			purge(w);
			next_purge = now + (int64_t)HUB_WEBHOOK_PURGE_EVERY_S * 1000;
		}
		/* a try ended, hubd enqueued, or the poll interval passed */
		scan = atomic_exchange(&w->woken, false) || w->freed || now >= next_scan;
		if (scan && now >= stalled_until && w->in_flight < HUB_WEBHOOK_IN_FLIGHT) {
			int rc = hc_webhook_due(w->st, hc_now(), &w->cursor, want, start_try, w);
			if (rc)
				hc_warn("msg=\"webhook outbox unreadable\" err=%s",
					hub_strerror(rc));
			next_scan = now + POLL_MS;
			w->freed = false;
		}
		if (now >= next_gauges) {
			/* at most about 2 % of the thread's time on counting */
			int64_t took = gauges(w);
			next_gauges = now + (took * 50 > GAUGES_MS ? took * 50 : GAUGES_MS);
		}
		pthread_mutex_lock(&w->lock);
		w->stats.in_flight = w->in_flight;
		pthread_mutex_unlock(&w->lock);

		curl_multi_perform(w->multi, &running);
		while ((m = curl_multi_info_read(w->multi, &left)))
			if (m->msg == CURLMSG_DONE)
				finished(w, m->easy_handle, m->data.result);
		/* outcomes are saved before the next scan, so a row just tried
		 * is never taken again with its old next_at */
		if (!save_ended(w)) {
			/* the store refused: no scan (and no new tries of the
			 * same rows) for a moment */
			stalled_until = hc_mono_ms() + STALL_MS;
			w->freed = false;
		}
		if (atomic_load(&w->stopping))
			break;
		/* a slot freed up: scan for it at once (unless scans are held
		 * back after a store failure: then wait like any other turn) */
		if (w->freed && hc_mono_ms() >= stalled_until)
			continue;
		curl_multi_poll(w->multi, NULL, 0, POLL_MS, NULL);
	}
	return NULL;
}

int hub_webhooks_start(const char *db_path, struct hub_webhooks **out)
{
	struct hub_webhooks *w = calloc(1, sizeof(*w));
	char err[256];
	int rc;

	*out = NULL;
	if (!w)
		return HUB_ERR_NOMEM;
	rc = hc_store_open(db_path, HC_STORE_RW, &w->st, err, sizeof(err));
	if (rc) {
		hc_err("msg=\"webhook sender: cannot open the store\" err=\"%s\"", err);
		free(w);
		return rc;
	}
	w->multi = curl_multi_init();
	if (!w->multi) {
		hc_store_close(w->st);
		free(w);
		return HUB_ERR_NOMEM;
	}
	/* tries never wait inside curl for a connection: the bound is ours */
	curl_multi_setopt(w->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)HUB_WEBHOOK_IN_FLIGHT);
	pthread_mutex_init(&w->lock, NULL);
	if (pthread_create(&w->thread, NULL, run, w) != 0) {
		curl_multi_cleanup(w->multi);
		hc_store_close(w->st);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return HUB_ERR_IO;
	}
	*out = w;
	return HUB_OK;
}

void hub_webhooks_wake(struct hub_webhooks *w)
{
	if (!w)
		return;
	atomic_store(&w->woken, true);
	curl_multi_wakeup(w->multi);
}

void hub_webhooks_stop(struct hub_webhooks *w)
{
	int n = 0;
	if (!w)
		return;
	atomic_store(&w->stopping, true);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	/* tries that ended but were not saved, and those still in flight: their
	 * rows stay pending, due again at once for the next hubd */
	while (w->ended) {
		struct try *t = w->ended;
		w->ended = t->next;
		free_try(t);
		n++;
	}
	while (w->tries) {
		struct try *t = w->tries;
		w->tries = t->next;
		curl_multi_remove_handle(w->multi, t->easy);
		free_try(t);
		n++;
	}
	if (n)
		hc_info("msg=\"webhook sender stopped; tries in flight will be repeated\" count=%d",
			n);
	curl_multi_cleanup(w->multi);
	hc_store_close(w->st);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

void hub_webhooks_stats(struct hub_webhooks *w, struct hub_webhook_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	*out = w->stats;
	pthread_mutex_unlock(&w->lock);
}
