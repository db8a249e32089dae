/* SPDX-License-Identifier: MIT */
/*
 * hubd's state: one struct hub, created by main() and shared by every
 * module on the lws service thread (the hash workers see only their jobs).
 */
#ifndef HUB_HUB_H
#define HUB_HUB_H

#include <limits.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "hc_config.h"
#include "hc_hmap.h"
#include "hc_password.h"
#include "metrics.h"

#define HUB_PATH_MAX 4200

struct hc_store;
struct hc_token_key;
struct hub_workpool;
struct hub_ratelimit;
struct hub_mqtt;
struct hub_syncwait;
struct hub_webhooks;

struct hub {
	struct hc_config cfg;
	struct lws_context *lws;
	struct hc_store *store;	      /* read-write; lws thread only */
	struct hc_token_key *key;     /* token signing key */
	struct hub_workpool *pool;    /* password hashing workers */
	struct hub_workpool *readers; /* history reads */
	int history_alive;	      /* history reads queued, running or being sent */
	struct hub_ratelimit *rl;     /* failed-login limiter */
	struct hub_mqtt *mqtt;	      /* link to the broker as $hub */
	struct hub_metrics metrics;

	/* waits until committed changes are in force at the broker */
	struct hub_syncwait *syncwait;

	/* the webhook sender (its own thread); woken after hubd enqueued */
	struct hub_webhooks *webhooks;

	struct hc_scrypt_params params; /* cost for new hashes and dummy verifies */
	char db_path[HUB_PATH_MAX];
	char web_root[PATH_MAX]; /* realpath of web_dir; "" if it does not exist */
	struct hc_hmap waiting;	 /* request id -> struct lws * of requests waiting for a job */
	uint64_t next_id;	 /* request ids, never reused */
	int active;		 /* requests started and not yet finished */
	bool stopping;		 /* SIGTERM/SIGINT seen: finishing in-flight requests */
	lws_sorted_usec_list_t sul_purge; /* hourly store purge */
	lws_sorted_usec_list_t sul_tick;  /* wakes the loop while stopping */
	lws_sorted_usec_list_t sul_log;	  /* rate-limited log summaries, 1/s */
};

/* The hub a wsi belongs to. */
struct hub *hub_from_wsi(struct lws *wsi);

#endif
