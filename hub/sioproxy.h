/* SPDX-License-Identifier: MIT */
/*
 * Socket.IO on hubd's origin: /socket.io/ on http_port is hub-bridge's
 * endpoint (Engine.IO long-polling, the WebSocket transport, the client
 * bundle /socket.io/socket.io.js), relayed to hub-bridge (sio_port) in
 * hubd's lws loop, so a page hubd serves reaches Socket.IO with io() and
 * its session cookie, without a second origin.
 *
 *  - Polling requests: store and forward. The request body (at most
 *    sio_max_payload) is collected, sent with the headers the gateway
 *    reads (Host, Origin, the hub_sid cookie, Content-Type), the client's
 *    address in X-Forwarded-For and hubd's tag in X-Hub-Front (the gateway
 *    trusts the X-Forwarded-For of requests carrying the tag only, so
 *    nobody else can choose an address); the answer (at most
 *    HUB_SIO_REPLY_MAX) is collected and sent back. Bodies held at once
 *    are bounded by HUB_SIO_BUDGET in all: beyond, 503.
 *  - WebSockets: one WebSocket to the gateway per browser WebSocket,
 *    fragments relayed as they come (at most one waits per direction;
 *    the side it came from is not read meanwhile).
 *  - Counted in the front's limits (front_conns_max,
 *    front_conns_per_address).
 *
 * lws thread only.
 */
#ifndef HUB_SIOPROXY_H
#define HUB_SIOPROXY_H

#include <libwebsockets.h>
#include <stdbool.h>

#define HUB_SIO_REPLY_MAX (4 << 20)  /* a gateway answer: polling batches are <= 1 MiB */
#define HUB_SIO_BUDGET	  (64 << 20) /* request and answer bodies held at once, in all */

struct hub;
struct hub_conn;
struct hub_sio_req;

/* The client protocol of hubd's requests and WebSockets to hub-bridge. */
int hub_sio_up_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
#define HUB_SIO_PROTOCOLS                                                                          \
	{                                                                                          \
		"hub-sio-up", hub_sio_up_callback, 0, 4096, 0, NULL, 0                             \
	}

/* Whether a request path is the gateway's. */
bool hub_sio_path(const char *path);

/*
 * An HTTP request for /socket.io/ (request_start; chunked: its body comes
 * chunked): prepares the body collection (c->sio_body), or starts the
 * upstream request at once. Returns 0 (the answer comes later), 1 (a
 * refusal is prepared as the response: send it) or -1 (drop the
 * connection).
 */
int hub_sio_http_begin(struct hub *h, struct hub_conn *c, bool chunked);
/* Its body is complete (collected in c->body): start upstream. */
int hub_sio_http_body_done(struct hub *h, struct hub_conn *c);
/* The browser's connection went away (http.c release()). */
void hub_sio_http_gone(struct hub *h, struct hub_conn *c);
/* Stopping: answer every waiting request 503 and drop what waits upstream. */
void hub_sio_stop(struct hub *h);

/* The browser side of a proxied WebSocket (the default protocol's
 * WebSocket events for /socket.io/, http.c). */
int hub_sio_ws_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#endif
