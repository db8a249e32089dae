/* SPDX-License-Identifier: MIT */
/*
 * hubd's webhook sender: one thread, its own store connection and a libcurl
 * multi handle. It takes due rows of the outbox (hc_webhook.h), POSTs them
 * signed (X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>), at
 * most HUB_WEBHOOK_PER_URL at once per URL and HUB_WEBHOOK_IN_FLIGHT in
 * all, each try bounded by a timeout, and records the outcomes. A slow or
 * dead endpoint only fills its own few slots: other webhooks, logins and
 * the broker never wait for it. Rows made by other processes (the broker
 * plugin's presence and room events) are found by polling the store twice
 * a second; hubd's own enqueues wake the thread at once.
 *
 * The thread also gives up rows older than 24 h (every few seconds), keeps
 * the pending/failed gauges for /metrics (once a second) and purges the
 * outbox's delivered and failed rows older than HUB_WEBHOOK_KEEP_S (every
 * hour), all on its own store connection, never on the lws thread.
 *
 * Redirects are not followed (a 3xx is a failed try), only http and https
 * are spoken, a response body is read up to 64 KiB and dropped, and
 * neither the URL (it may carry a token) nor the secret is ever logged:
 * log lines name the webhook by id.
 *
 * Thread rules: start/stop/wake/stats from any one thread (hubd's lws
 * thread); everything else runs on the sender thread.
 */
#ifndef HUB_WEBHOOK_H
#define HUB_WEBHOOK_H

#include <stdbool.h>
#include <stdint.h>

#define HUB_WEBHOOK_PER_URL	    4
#define HUB_WEBHOOK_IN_FLIGHT	    32
#define HUB_WEBHOOK_TIMEOUT_S	    10 /* a whole try */
#define HUB_WEBHOOK_CONNECT_S	    5  /* its TCP/TLS connect */
#define HUB_WEBHOOK_RESPONSE_MAX    (64 * 1024)
#define HUB_WEBHOOK_KEEP_S	    (7 * 86400) /* delivered/failed rows kept */
#define HUB_WEBHOOK_PURGE_EVERY_S   3600
#define HUB_WEBHOOK_PURGE_FIRST_S   30
#define HUB_WEBHOOK_EXPIRE_EVERY_MS 5000

struct hub_webhooks;

/* What /metrics shows. Counters count since hubd started. */
struct hub_webhook_stats {
	uint64_t attempts;	 /* tries finished (any outcome) */
	uint64_t delivered;	 /* tries answered 2xx */
	uint64_t failed_http;	 /* answered, but not 2xx (3xx included) */
	uint64_t failed_net;	 /* no answer: connect, TLS, reset, ... */
	uint64_t failed_timeout; /* no answer within HUB_WEBHOOK_TIMEOUT_S */
	uint64_t expired;	 /* rows given up after 24 h */
	int in_flight;
	bool have_gauges; /* pending/failed read from the store at least once */
	int64_t pending, failed;
};

/*
 * Once per process, before any thread uses libcurl (and before hubd starts
 * other threads): HUB_OK or HUB_ERR_IO.
 */
int hub_webhooks_global_init(void);
void hub_webhooks_global_cleanup(void);

/* Start the sender on the store at db_path. HUB_OK or HUB_ERR_*. */
int hub_webhooks_start(const char *db_path, struct hub_webhooks **out);
/* Something was enqueued: look now. NULL is fine. */
void hub_webhooks_wake(struct hub_webhooks *w);
/* Stop (tries in flight are abandoned: their rows stay pending and are
 * tried again, with the same id, by the next hubd). NULL is fine. */
void hub_webhooks_stop(struct hub_webhooks *w);
void hub_webhooks_stats(struct hub_webhooks *w, struct hub_webhook_stats *out);

#endif
