/* SPDX-License-Identifier: MIT */
/*
 * Why did a connection end? Mosquitto 2.0.11 gives plugins no reason (the
 * DISCONNECT event's reason is always -1), so we look, read-only, at the
 * socket and the state in the broker's client struct (layout.c, confirmed
 * against the broker's getters on every use). If no layout fits (another
 * build or version), we fall back to what the will tells (see presence.c).
 *
 *   state disconnecting / disconnect_with_will -> "clean" (DISCONNECT sent)
 *   state disconnect_ws (broker closed a WebSocket client) -> "keepalive"
 *   TCP peer already hung up (POLLRDHUP/HUP/ERR)  -> "network"
 *   TCP peer silent for the broker's keepalive limit  -> "keepalive"
 *
 * The broker's keepalive limit is in whole seconds of its monotonic clock:
 * it ends a client once now_s - last_msg_in > keepalive * 3 / 2 (integer
 * division), both read once per loop pass. 2.0.11 looks every 5 s;
 * 2.0.21 every pass (about every 100 ms), so there a client is ended
 * between floor(1.5 x keepalive) and floor(1.5 x keepalive) + 1 s after
 * its last packet: for an odd keepalive, half the time before
 * 1.5 x keepalive. The silence we measure (since the last publish or
 * subscribe we saw, or the CONNECT: PINGREQs do not reach a plugin) is
 * never shorter than the broker's, less the time between its clock read
 * and our callback in the same pass; KEEPALIVE_SLACK_MS covers that.
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

#define KEEPALIVE_SLACK_MS 500

int64_t hauth_reason__keepalive_silence_ms(int keepalive)
{
	return keepalive > 0 ? (int64_t)(keepalive * 3 / 2) * 1000 - KEEPALIVE_SLACK_MS : -1;
}

const char *hauth_reason__classify(struct hauth_client *c)
{
	int state, sock;

	if (c->end_reason)
		return c->end_reason;
	if (!c->ctx) /* a gateway socket: the gateway said why */
		return c->vreason ? c->vreason : "network";
	if (!hauth_layout__sock_state(c->ctx, &sock, &state))
		return NULL; /* decided later from the will */
	if (state == CS_DISCONNECTING || state == CS_DISCONNECT_WITH_WILL)
		return "clean";
	if (state == CS_DISCONNECT_WS)
		return "keepalive";
	if (sock >= 0 && !c->websocket) {
		struct pollfd pfd = {.fd = sock, .events = POLLIN | POLLRDHUP};
		int64_t silent_ms = hc_mono_ms() - (c->active_ms ? c->active_ms : c->connected_ms);
		if (poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return "network";
		if (c->keepalive > 0 &&
			silent_ms >= hauth_reason__keepalive_silence_ms(c->keepalive))
			return "keepalive";
	}
	return "network";
}
