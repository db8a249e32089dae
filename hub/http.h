/* SPDX-License-Identifier: MIT */
/*
 * HTTP glue on libwebsockets: one protocol callback routes requests,
 * collects bodies within http_max_body, and writes responses (headers in
 * one writeable callback, the body in the next ones, at most 32 KiB each,
 * so a big body is never copied into lws's own buffers). Every response goes
 * through the helpers below, so the security headers and the JSON error
 * shape are the same everywhere.
 *
 * Lifetime: lws allocates a struct hub_conn per HTTP transaction and frees
 * it when the transaction completes or the connection closes. Code that
 * answers later (logins waiting for a hash) keeps only the request id and
 * asks hub_http_resume() for the connection again. lws thread only.
 */
#ifndef HUB_HTTP_H
#define HUB_HTTP_H

#include <libwebsockets.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "body.h"
#include "hc_store.h"
#include "media.h"

struct hub;
struct hub_conn;
struct hub_sio_req;
struct cJSON;

enum hub_method {
	HUB_M_OTHER = 0,
	HUB_M_GET,
	HUB_M_HEAD,
	HUB_M_POST,
	HUB_M_PUT,
	HUB_M_PATCH,
	HUB_M_DELETE,
	HUB_M_OPTIONS
};

/* Route flags */
#define HUB_RF_BODY	   1u /* collects a body: JSON (and forms with HUB_RF_FORM) */
#define HUB_RF_FORM	   2u
#define HUB_RF_SAME_ORIGIN 4u /* state-changing: Origin must be ours */

/* A handler prepares a response (hub_http_reply/json/error) or starts
 * asynchronous work (hub_http_wait). Returns 0, or -1 to drop the
 * connection. */
typedef int (*hub_route_fn)(struct hub *h, struct hub_conn *c);

struct hub_route {
	const char *path; /* '*' stands for one path segment */
	int method;	  /* a GET route also answers HEAD */
	unsigned flags;
	hub_route_fn run;
};

#define HUB_URI_MAX  1024
#define HUB_HOST_MAX 256
#define HUB_CSP_MAX  3072		  /* a Content-Security-Policy value (hub_http_csp) */
#define HUB_XH_MAX   (HUB_CSP_MAX + 1024) /* extra response headers: the CSP and a few more */

struct hub_conn {
	struct lws *wsi;
	uint64_t id;
	int method;			/* enum hub_method */
	const struct hub_route *route;	/* NULL for static files */
	char path[HUB_URI_MAX];		/* decoded path, no query */
	char host[HUB_HOST_MAX];	/* Host header ("" if absent or odd) */
	char addr[HUB_ADDR_MAX];	/* client address (addr.h) */
	char cookie[HC_SECRET_LEN + 1]; /* hub_sid value, when has_cookie */
	char xtopic[300];		/* publish API: the topic being published */
	bool has_cookie;
	int ctype; /* enum hub_ctype of the request */

	/* request body */
	struct hub_body body;
	bool started;	    /* counted in hub.active */
	bool body_expected; /* lws will deliver body callbacks */
	bool collecting;    /* body goes into .body (else it is discarded) */
	bool body_done;	    /* nothing more will arrive for this request */
	bool ran;	    /* the route handler has run */
	bool waiting;	    /* registered in hub.waiting */
	atomic_bool *gone;  /* while waiting: told when the client leaves */
	bool close_after;   /* close the connection once the response is out */
	uint64_t discarded; /* body bytes thrown away */

	/* response */
	int status;
	const char *out_type; /* Content-Type, static string */
	char xh[HUB_XH_MAX];  /* extra headers: "name:\0value\0"... */
	size_t xhlen;
	unsigned char *out; /* LWS_PRE + body, owned */
	size_t outlen;
	size_t sent;		 /* body bytes written so far */
	bool history_slot;	 /* counts in hub.history_alive until released */
	struct hub_sio_req *sio; /* a proxied Socket.IO request (sioproxy.h) */
	bool sio_body;		 /* its body is being collected */
	int64_t announce_len;	 /* HEAD: Content-Length to announce, -1 = outlen */
	int phase;		 /* see http.c */
};

/* hubd's HTTP protocol (the http_port vhost's default): its routes, and
 * the upgrade checks of that port. */
int hub_http_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
#define HUB_HTTP_PROTOCOL                                                                          \
	{                                                                                          \
		"http", hub_http_callback, sizeof(struct hub_conn), 0, 0, NULL, 0                  \
	}

/* Response helpers. Each replaces the status and body prepared before;
 * headers added with hub_http_header() (before or after) are kept. The
 * body is copied. On allocation failure the connection is answered 500 or
 * closed; callers need not check. */
void hub_http_reply(struct hub_conn *c, int status, const char *type, const void *body, size_t len);
void hub_http_json(struct hub_conn *c, int status, const struct cJSON *root);
/* Like hub_http_reply, taking buf (malloc'd, the body at buf + LWS_PRE,
 * len bytes) instead of copying it. */
void hub_http_reply_take(
	struct hub_conn *c, int status, const char *type, unsigned char *buf, size_t len);
void hub_http_error(struct hub_conn *c, int status, const char *code, const char *message);
/* Add a header to the prepared response. name ends with ':' ("set-cookie:"). */
void hub_http_header(struct hub_conn *c, const char *name, const char *value);
/* Queue the prepared response for writing. */
void hub_http_send(struct hub_conn *c);

/* Park the request until hub_http_resume(h, id): returns the id. If the
 * client goes away first, *gone (may be NULL) is set to true; it must stay
 * valid until hub_http_resume() has been called for this id. */
uint64_t hub_http_wait(struct hub *h, struct hub_conn *c, atomic_bool *gone);
/* The parked request with this id, or NULL if its client went away.
 * The request is no longer parked afterwards. */
struct hub_conn *hub_http_resume(struct hub *h, uint64_t id);

/* The Content-Security-Policy for HTML pages served to this request: self,
 * the broker's and the gateway's WebSocket ports of the request's host, and
 * the map_tiles origin for images when set. n: HUB_CSP_MAX. */
void hub_http_csp(struct hub *h, const struct hub_conn *c, char *out, size_t n);
/* Headers for every HTML page: CSP, framing, referrer, caching. */
void hub_http_html_headers(struct hub *h, struct hub_conn *c);

#endif
