/* SPDX-License-Identifier: MIT */
/*
 * hubd's webhook sender: one thread, its own store connection and a libcurl
 * multi handle. It takes due rows of the outbox (hc_webhook.h), POSTs them
 * signed (X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>), at
 * most HUB_WEBHOOK_PER_URL at once per webhook and HUB_WEBHOOK_IN_FLIGHT in
 * all, each try bounded by a timeout, and records the outcome. A slow or
 * dead endpoint only fills its own few slots: other webhooks, logins and
 * the broker never wait for it. Rows made by other processes (the broker
 * plugin's presence and room events) are found by polling the store twice
 * a second; hubd's own enqueues wake the thread at once.
 *
 * Thread rules: start/stop/wake/stats from any one thread (hubd's lws
 * thread); everything else runs on the sender thread.
 */
#ifndef HUB_WEBHOOK_H
#define HUB_WEBHOOK_H

#include <stdint.h>

#define HUB_WEBHOOK_PER_URL   4
#define HUB_WEBHOOK_IN_FLIGHT 32
#define HUB_WEBHOOK_TIMEOUT_S 10

struct hub_webhooks;

struct hub_webhook_stats {
	uint64_t attempts, delivered, retried, failed_tries;
};

/* Start the sender on the store at db_path. HUB_OK or HUB_ERR_*. */
int hub_webhooks_start(const char *db_path, struct hub_webhooks **out);
/* Something was enqueued: look now. */
void hub_webhooks_wake(struct hub_webhooks *w);
/* Stop (tries in flight are abandoned: they are retried later, same id). */
void hub_webhooks_stop(struct hub_webhooks *w);
void hub_webhooks_stats(struct hub_webhooks *w, struct hub_webhook_stats *out);

#endif
