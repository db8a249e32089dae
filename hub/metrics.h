/* SPDX-License-Identifier: MIT */
/*
 * Counters for /metrics (Prometheus text format 0.0.4). Updated and read
 * on the lws thread only.
 *
 * Numbers the broker plugin owns (connected clients, auth and ACL
 * denials) are not counted here: the plugin publishes them as a small JSON
 * document (retained on $hub/metrics, see authplugin/metrics.c), and
 * whatever receives that document hands it to hub_metrics_broker_update().
 * /metrics then re-exports the last one with its age. Until a document has
 * arrived nothing is shown for them: no made-up zeros.
 */
#ifndef HUB_METRICS_H
#define HUB_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hub_buf;

enum hub_login_result {
	HUB_LOGIN_OK = 0,
	HUB_LOGIN_FAILED,
	HUB_LOGIN_RATE_LIMITED,
	HUB_LOGIN_BUSY,
	HUB_LOGIN__COUNT
};

/* statuses counted one by one; anything else is "other" */
#define HUB_METRICS_STATUSES 16

/* The plugin's counters, in the order of its JSON fields (metrics.c). */
#define HUB_BROKER_FIELDS 8

enum hub_front_refused {
	HUB_FRONT_REFUSED_ORIGIN = 0, /* the session cookie from a foreign origin */
	HUB_FRONT_REFUSED_ADDRESS,    /* front_conns_per_address */
	HUB_FRONT_REFUSED_FULL,	      /* front_conns_max */
	HUB_FRONT_REFUSED__COUNT
};

struct hub_metrics {
	uint64_t front_refused[HUB_FRONT_REFUSED__COUNT];
	int64_t front_live; /* gauge, set before rendering */
	uint64_t logins[HUB_LOGIN__COUNT];
	uint64_t http[HUB_METRICS_STATUSES + 1];
	double hash_seconds_sum;     /* wall clock, queueing excluded */
	double hash_cpu_seconds_sum; /* CPU time of the same */
	uint64_t hash_count;
	int64_t sessions_live;	/* cached gauge */
	int64_t sessions_at_ms; /* when it was read (monotonic), 0 = never */
	int64_t start_time;	/* unix seconds */
	/* last document from the broker plugin */
	bool broker_have;
	uint64_t broker[HUB_BROKER_FIELDS];
	int64_t broker_at; /* unix seconds it was received */
};

/*
 * Interim source of the broker document until hubd has its own MQTT link:
 * a file of that name in the data directory holding the same JSON (the
 * last $hub/metrics payload, e.g. saved by a mosquitto_sub -C 1 job).
 */

void hub_metrics_init(struct hub_metrics *m);
void hub_metrics_login(struct hub_metrics *m, enum hub_login_result r);
void hub_metrics_http(struct hub_metrics *m, int status);
/* One hashing job: wall-clock and CPU seconds. */
void hub_metrics_hash(struct hub_metrics *m, double seconds, double cpu_seconds);
/* Label text of a login result ("ok", "failed", ...), for audit lines too. */
const char *hub_login_result_name(enum hub_login_result r);

/*
 * The hook for the broker plugin's counters: json (len bytes) is its
 * $hub/metrics document, {"clients":N,"principals_online":N,"auth_ok":N,
 * "auth_denied":N,"acl_denied_read":N,"acl_denied_write":N,
 * "acl_denied_subscribe":N,"kicks":N}; received at now (unix s). Unknown
 * fields are ignored. HUB_OK, or HUB_ERR_INVAL (previous values kept).
 */
int hub_metrics_broker_update(struct hub_metrics *m, const char *json, size_t len, int64_t now);

/* Append the exposition text. queue_depth and workers are the current
 * gauges. HUB_OK or the hub_buf error. */
int hub_metrics_render(
	const struct hub_metrics *m, int64_t queue_depth, int workers, struct hub_buf *out);

#endif
