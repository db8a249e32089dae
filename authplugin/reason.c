/* SPDX-License-Identifier: MIT */
/*
 * Why did a connection end? Mosquitto 2.0.11 gives plugins no reason (the
 * DISCONNECT event's reason is always -1), so we look, read-only, at the
 * few leading fields of the broker's client struct that 2.0.11 fixes in
 * place ("ident must be the first element"): the socket and the state.
 * The layout is confirmed at run time before it is trusted: the address,
 * id and username pointers and the keepalive found at the expected offsets
 * must equal what the broker's own getters return. If they do not (another
 * build or version), we fall back to what the will tells (see presence.c).
 *
 *   state disconnecting / disconnect_with_will -> "clean" (DISCONNECT sent)
 *   state disconnect_ws (broker closed a WebSocket client) -> "keepalive"
 *   TCP peer already hung up (POLLRDHUP/HUP/ERR)  -> "network"
 *   TCP peer silent, nothing seen for 1.5 x keepalive -> "keepalive"
 */
#include "hauth_presence.h"
#include "hc_log.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* 2.0.11 enum mosquitto_client_state values we use */
#define CS_DISCONNECTING	2
#define CS_DISCONNECT_WS	6
#define CS_DISCONNECT_WITH_WILL 18

struct layout {
	size_t sock, address, id, username, keepalive, state;
};

/* x86_64/aarch64 LP64, WITH_BROKER + WITH_EPOLL; with and without the
 * WITH_ADNS pointer after maximum_packet_size */
static const struct layout layouts[] = {
	{4, 16, 24, 32, 40 + 8, 52},
	{4, 32, 40, 48, 56 + 8, 68},
};

static int chosen = -1; /* -1 unknown, -2 none fits, else index */

static bool fits(const struct layout *l, const struct mosquitto *ctx)
{
	const unsigned char *base = (const unsigned char *)ctx;
	const char *addr, *id, *user;
	uint16_t ka;

	memcpy(&addr, base + l->address, sizeof(addr));
	memcpy(&id, base + l->id, sizeof(id));
	memcpy(&user, base + l->username, sizeof(user));
	memcpy(&ka, base + l->keepalive, sizeof(ka));
	return addr && addr == mosquitto_client_address(ctx) && id &&
	       id == mosquitto_client_id(ctx) && user && user == mosquitto_client_username(ctx) &&
	       ka == (uint16_t)mosquitto_client_keepalive(ctx);
}

static const struct layout *layout_for(const struct mosquitto *ctx)
{
	if (chosen == -1) {
		for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
			if (fits(&layouts[i], ctx)) {
				chosen = (int)i;
				break;
			}
		if (chosen == -1) {
			chosen = -2;
			hc_warn("msg=\"broker client layout not recognised: disconnect reasons "
				"fall back to the will (clean/network)\"");
		} else {
			hc_info("msg=\"broker client layout confirmed\" variant=%d", chosen);
		}
	}
	if (chosen < 0)
		return NULL;
	/* confirm on every use: a mismatch means we must not trust it */
	return fits(&layouts[chosen], ctx) ? &layouts[chosen] : NULL;
}

const char *hauth_reason__classify(struct hauth_client *c)
{
	const struct layout *l;
	const unsigned char *base;
	int state, sock;

	if (c->end_reason)
		return c->end_reason;
	if (!c->ctx) /* a gateway socket: the gateway said why */
		return c->vreason ? c->vreason : "network";
	l = layout_for(c->ctx);
	if (!l)
		return NULL; /* decided later from the will */
	base = (const unsigned char *)c->ctx;
	memcpy(&state, base + l->state, sizeof(state));
	memcpy(&sock, base + l->sock, sizeof(sock));
	if (state == CS_DISCONNECTING || state == CS_DISCONNECT_WITH_WILL)
		return "clean";
	if (state == CS_DISCONNECT_WS)
		return "keepalive";
	if (sock >= 0 && !c->websocket) {
		struct pollfd pfd = {.fd = sock, .events = POLLIN | POLLRDHUP};
		int64_t silent_ms = hc_mono_ms() - (c->active_ms ? c->active_ms : c->connected_ms);
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return "network";
		if (c->keepalive > 0 && silent_ms >= (int64_t)c->keepalive * 1500)
			return "keepalive";
	}
	return "network";
}
