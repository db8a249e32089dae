/* SPDX-License-Identifier: MIT */
/*
 * The webhook sender (webhook.h): a loop around curl_multi_poll.
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

#define POLL_MS 500

struct
try {
	struct try *next;
	CURL *easy;
	struct curl_slist *headers;
	char id[HC_WEBHOOK_ID_LEN + 1];
	int64_t hook;
	int attempts;
	unsigned char *body;
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
	int in_flight;
	pthread_mutex_t lock; /* stats */
	struct hub_webhook_stats stats;
};

static int per_hook(const struct hub_webhooks *w, int64_t hook)
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

static bool busy_hook(void *ud, int64_t hook)
{
	return per_hook(ud, hook) >= HUB_WEBHOOK_PER_URL;
}

/* Responses are not read: count and drop them (bounded anyway by the
 * timeout). */
static size_t drop_body(char *p, size_t size, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return size * n;
}

static void free_try(struct try *t)
{
	if (t->easy)
		curl_easy_cleanup(t->easy);
	curl_slist_free_all(t->headers);
	free(t->body);
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
		per_hook(w, d->hook) >= HUB_WEBHOOK_PER_URL) {
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
	if (!HMAC(EVP_sha256(), d->secret, (int)strlen(d->secret), t->body, d->body_len, mac,
		    &maclen)) {
		free_try(t);
		return 0;
	}
	hc_hex(mac, maclen, hex);
	snprintf(hdr, sizeof(hdr), "X-Hub-Signature-256: sha256=%s", hex);
	snprintf(idh, sizeof(idh), "X-Hub-Delivery: %s", t->id);
	t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
	t->headers = curl_slist_append(t->headers, hdr);
	t->headers = curl_slist_append(t->headers, idh);
	t->headers = curl_slist_append(t->headers, "User-Agent: hub-webhook/1");
	t->headers = curl_slist_append(t->headers, "Expect:");
	t->easy = curl_easy_init();
	if (!t->headers || !t->easy) {
		free_try(t);
		return 0;
	}
	curl_easy_setopt(t->easy, CURLOPT_URL, d->url);
	curl_easy_setopt(t->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(t->easy, CURLOPT_POST, 1L);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDS, (const char *)t->body);
	curl_easy_setopt(t->easy, CURLOPT_POSTFIELDSIZE, (long)d->body_len);
	curl_easy_setopt(t->easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(t->easy, CURLOPT_TIMEOUT, (long)HUB_WEBHOOK_TIMEOUT_S);
	curl_easy_setopt(t->easy, CURLOPT_CONNECTTIMEOUT, 5L);
	curl_easy_setopt(t->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(t->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(t->easy, CURLOPT_WRITEFUNCTION, drop_body);
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

static void finished(struct hub_webhooks *w, CURL *easy, CURLcode res)
{
	struct try *t = NULL, **pp;
	long status = 0;
	char err[200];
	int rc;

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
	if (res == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	pthread_mutex_lock(&w->lock);
	w->stats.attempts++;
	if (res == CURLE_OK && status >= 200 && status < 300)
		w->stats.delivered++;
	else
		w->stats.retried++;
	pthread_mutex_unlock(&w->lock);
	if (res == CURLE_OK && status >= 200 && status < 300) {
		rc = hc_webhook_delivered(w->st, t->id, (int)status);
	} else {
		if (res != CURLE_OK)
			snprintf(err, sizeof(err), "%.180s",
				t->error[0] ? t->error : curl_easy_strerror(res));
		else
			snprintf(err, sizeof(err), "HTTP %ld", status);
		rc = hc_webhook_retry(w->st, t->id, (int)status, err,
			hc_now() + hc_webhook_backoff_s(t->attempts + 1));
		hc_debug("msg=\"webhook try failed\" id=%s hook=%lld attempt=%d err=\"%s\"", t->id,
			(long long)t->hook, t->attempts + 1, err);
	}
	if (rc)
		hc_warn("msg=\"webhook outcome not saved\" id=%s err=%s", t->id, hub_strerror(rc));
	free_try(t);
}

static void *run(void *arg)
{
	struct hub_webhooks *w = arg;
	int64_t next_scan = 0;

	int64_t last_scan = 0;

	while (!atomic_load(&w->stopping)) {
		int64_t now = hc_mono_ms();
		int running = 0, left;
		CURLMsg *m;
		/* scan on a timer, when woken, and when a slot freed up (at most
		 * every 50 ms: a busy endpoint must not turn this into SQL in a
		 * loop) */
		bool scan = now >= next_scan || atomic_exchange(&w->woken, false) ||
			    (w->freed && now - last_scan >= 50);

		if (scan && w->in_flight < HUB_WEBHOOK_IN_FLIGHT) {
			int rc = hc_webhook_due(w->st, hc_now(), 256, busy_hook, start_try, w);
			if (rc)
				hc_warn("msg=\"webhook outbox unreadable\" err=%s",
					hub_strerror(rc));
			next_scan = now + POLL_MS;
			last_scan = now;
			w->freed = false;
		}
		curl_multi_perform(w->multi, &running);
		while ((m = curl_multi_info_read(w->multi, &left)))
			if (m->msg == CURLMSG_DONE)
				finished(w, m->easy_handle, m->data.result);
		if (atomic_load(&w->stopping))
			break;
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
	/* once per process, before any other thread uses curl */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		free(w);
		return HUB_ERR_IO;
	}
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
	if (!w)
		return;
	atomic_store(&w->stopping, true);
	curl_multi_wakeup(w->multi);
	pthread_join(w->thread, NULL);
	while (w->tries) {
		struct try *t = w->tries;
		w->tries = t->next;
		curl_multi_remove_handle(w->multi, t->easy);
		free_try(t);
	}
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
