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
#include <sys/socket.h>

#include "hc_config.h"
#include "hc_hmap.h"
#include "hc_password.h"
#include "hc_proxy.h"
#include "hc_tls.h"
#include "metrics.h"

#define HUB_PATH_MAX	 4200
#define HUB_SIO_PATH_MAX 1024 /* request path and query of a proxied Socket.IO request */

struct hc_store;
struct hc_token_key;
struct hub_workpool;
struct hub_ratelimit;
struct hub_mqtt;
struct hub_syncwait;
struct hub_sio_req;
struct hc_tls;

/* What a WebSocket of hubd's carries: the first member of its state (its
 * lws opaque user data). */
enum hub_ws_kind { HUB_WS_MQTT = 1, HUB_WS_SIO, HUB_WS_SIO_REQ };

/* The WebSocket front (front.c) and the Socket.IO proxy (sioproxy.c). */
struct hub_front_state {
	struct sockaddr_storage broker_addr; /* mqtt_host:mqtt_port, resolved at start */
	socklen_t broker_addrlen;
	int broker_family;
	char sio_host[64]; /* where hub-bridge listens: bind_address (loopback if a wildcard) */
	size_t sio_held;   /* proxied Socket.IO bodies held now, bytes */
	struct hc_hmap by_addr; /* limit key (addr.h) -> relayed connections */
	int live;		/* relayed connections now */
	int max, per_addr;	/* front_conns_max, front_conns_per_address */
	char tag[96];		/* marks hubd's requests to hub-bridge (hc_token_key_tag) */
};
struct hub_webhooks;

struct hub {
	struct hc_config cfg;
	struct lws_context *lws;
	struct lws_vhost *vh_http;     /* http_port: API, pages, /mqtt, /socket.io/ */
	struct lws_vhost *vh_ws;       /* ws_port (wss_port with TLS): MQTT over WebSocket */
	struct hc_tls *tls;	       /* tls_cert + tls_key, or NULL: TLS off */
	void *tls_client_ctx;	       /* SSL_CTX pinned to tls_cert: the relay to hub-bridge */
	struct hc_tls_ctxs tls_served; /* each vhost's SSL_CTX, for a reload (SIGHUP) */
	/* trust_proxy: the proxies whose X-Forwarded-For is believed
	 * (trusted_proxies), else NULL */
	const struct hc_proxies *proxies;
	struct hc_proxies proxy_list;
	struct hub_front_state front;
	struct hub_sio_req *sio_reqs; /* proxied Socket.IO requests (sioproxy.c) */
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
	char app_root[PATH_MAX]; /* realpath of app_dir; "" if none */
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

/* main.c: fill a TLS vhost's SSL_CTX (ssl_ctx) with the certificate and key
 * loaded at start; for the protocols' first callback at
 * LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS. 0 or -1. */
int hub_main_tls_ctx(struct hub *h, void *ssl_ctx);

/* main.c: after a wake-up of the loop (a worker's result, a signal): starts
 * a graceful stop after SIGTERM/SIGINT, and ends the loop once in-flight
 * requests are done (or their grace passed). */
void hub_main_wakeup(struct hub *h);

#endif
