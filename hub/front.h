/* SPDX-License-Identifier: MIT */
/*
 * hubd's WebSocket front for MQTT: browsers' MQTT over WebSocket
 * (subprotocol "mqtt") at ws://HOST:http_port/mqtt and on ws_port, relayed
 * to the broker's TCP listener (mqtt_host:mqtt_port), one TCP connection
 * per WebSocket, in hubd's lws loop. See docs/architecture.md "The
 * browser path".
 *
 *  - Only the first packet is read (mqttpkt.h): a CONNECT with the
 *    session cookie's username and an empty password gets a fresh token
 *    for that session; one with a token gets the same token again with
 *    the browser's address (claim addr, hc_token.h) for the broker
 *    plugin's per-address limits and log lines. Everything after it is
 *    relayed as bytes, unread.
 *  - Bounded: at most one receive chunk waits per direction and
 *    connection; while it waits, the side it came from is not read (lws
 *    rx flow control), so a browser that stops reading stops the reading
 *    of its broker connection (and the broker's own backlog bound takes
 *    over), and a slow broker connection stalls only its browser.
 *  - Limits: front_conns_max WebSockets in all, front_conns_per_address
 *    per client address (IPv6: per /64); a CONNECT within
 *    HUB_FRONT_CONNECT_TIMEOUT_S of the upgrade, at most
 *    HUB_FRONT_CONNECT_MAX bytes.
 *
 * lws thread only.
 */
#ifndef HUB_FRONT_H
#define HUB_FRONT_H

#include <libwebsockets.h>
#include <stdbool.h>

#define HUB_FRONT_CONNECT_MAX	    (64 * 1024)
#define HUB_FRONT_CONNECT_TIMEOUT_S 10

struct hub;

/* What an upgrade request on hubd's ports is for. */
enum hub_upgrade_kind {
	HUB_UPG_NONE = 0, /* nothing upgrades here: 404 */
	HUB_UPG_MQTT,	  /* MQTT over WebSocket (this file) */
	HUB_UPG_SIO	  /* Socket.IO's WebSocket transport (sioproxy.h) */
};

/* Protocol callbacks (tables in main.c). */
int hub_front_ws_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);
int hub_front_broker_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len);

#define HUB_FRONT_PROTOCOLS                                                                        \
	{"mqtt", hub_front_ws_callback, 0, 4096, 0, NULL, 0},                                      \
		{"mqttv3.1", hub_front_ws_callback, 0, 4096, 0, NULL, 0},                          \
	{                                                                                          \
		"hub-front-broker", hub_front_broker_callback, 0, 0, 0, NULL, 0                    \
	}

/* Set up the front's state (broker address, limits). HUB_OK or
 * HUB_ERR_CONFIG / HUB_ERR_NOMEM with a line in err. */
int hub_front_init(struct hub *h, char *err, size_t errsz);
void hub_front_free(struct hub *h);

/* The upgrade kind of a request path on a vhost (ws_port: every path is
 * MQTT). */
enum hub_upgrade_kind hub_front_upgrade_kind(struct hub *h, struct lws *wsi);

/*
 * LWS_CALLBACK_HTTP_CONFIRM_UPGRADE on either port: 0 to let the upgrade go
 * on, or -1 after writing the refusal (lws then hangs up): 400 (not a
 * WebSocket upgrade), 404 (no such path), 403 (the session cookie from a
 * foreign origin), 429 (the address holds front_conns_per_address), 503
 * (front_conns_max reached, or stopping).
 */
int hub_front_confirm_upgrade(struct hub *h, struct lws *wsi, const char *upgrade);

/* Whether the session cookie may come with this request: no Origin (not
 * a browser), our own origin, hubd's origin on the same host (for
 * ws_port), or a trusted_origins entry. */
bool hub_front_origin_ours(struct hub *h, struct lws *wsi);

/* Count / uncount a relayed browser connection of address key (the
 * Socket.IO proxy counts its connections here too). */
void hub_front_count(struct hub *h, const char *addr_key, int delta);

/* Connections of the front now (MQTT WebSockets, proxied Socket.IO). */
int hub_front_live(const struct hub *h);

#endif
