/* SPDX-License-Identifier: MIT */
/*
 * The leading fields of the broker's client struct (struct mosquitto in
 * lib/mosquitto_internal.h), which every 2.0.x release keeps in the same
 * order ("ident must be the first element"): ident, sock,
 * maximum_packet_size, [adns], protocol, address, id, username, password,
 * keepalive, last_mid, state.
 *
 * Mosquitto 2.0 gives plugins no getter for the socket or the state
 * (reason.c needs both, limits.c the socket) and no way to scope a client
 * id (clientid.c). The plugin cannot ask the broker its version either, so
 * a layout is not chosen by version: it is trusted for a client only after
 * the address, id and username pointers and the keepalive found at its
 * offsets are exactly what the broker's own getters return, and the two
 * fields read are plausible (the state one of the enum's values, the
 * socket -1 or, for the client that decides, a socket); every use checks
 * again (the socket's range only). If no layout fits
 * (another build or version), callers fall back to what the public API
 * allows.
 *
 * Versions: the struct's leading fields and enum mosquitto_client_state are
 * the same, byte for byte, in the sources of 2.0.1 to 2.0.20 (tags) and
 * 2.0.21 (Debian's orig tarball); the layout is confirmed at run time on
 * Debian 12's 2.0.11 and bookworm-backports' 2.0.21 by the broker tests,
 * which CI runs on both (docs/broker.md "Versions").
 *
 * The one write (hauth_layout__set_id) replaces the id pointer with a
 * string from mosquitto_malloc and frees the old one with mosquitto_free,
 * as the broker itself does for use_username_as_clientid, and only from
 * BASIC_AUTH of a new connection: the id is not yet a key of the broker's
 * id hash then (2.0.11 adds it in connect__on_authorised after the plugin
 * agreed; 2.0.21 the same, through context__add_to_by_id, which also
 * marks the context in_by_id so that a refused connection's id is never
 * looked up there).
 */
#include "hauth.h"
#include "hc_log.h"

#include <arpa/inet.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

struct layout {
	size_t sock, address, id, username, keepalive, state;
};

/* x86_64/aarch64 LP64, WITH_BROKER + WITH_EPOLL; with and without the
 * WITH_ADNS pointer after maximum_packet_size. Both for 2.0.1 to 2.0.21
 * (above); Debian's 2.0.11 and 2.0.21 builds are the second (ADNS). */
static const struct layout layouts[] = {
	{4, 16, 24, 32, 40 + 8, 52},
	{4, 32, 40, 48, 56 + 8, 68},
};

/* enum mosquitto_client_state: mosq_cs_new (0) to mosq_cs_reauthenticating
 * (21), the same in 2.0.1 to 2.0.21 */
#define CS_NEW 0
#define CS_MAX 21

static int chosen = -1; /* -1 unknown, -2 none fits, else index */

/* deciding: the first telling client, which also proves the socket field
 * holds a socket (fstat; later uses check only its range: a syscall per
 * use was ~5 us of a CONNECT's ~70 us of broker CPU here) */
static bool fits(const struct layout *l, const struct mosquitto *ctx, bool deciding)
{
	const unsigned char *base = (const unsigned char *)ctx;
	const char *addr, *id, *user;
	uint16_t ka;
	int sock, state;
	struct stat st;

	memcpy(&addr, base + l->address, sizeof(addr));
	memcpy(&id, base + l->id, sizeof(id));
	memcpy(&user, base + l->username, sizeof(user));
	memcpy(&ka, base + l->keepalive, sizeof(ka));
	if (!(addr && addr == mosquitto_client_address(ctx) && id &&
		    id == mosquitto_client_id(ctx) && user &&
		    user == mosquitto_client_username(ctx) &&
		    ka == (uint16_t)mosquitto_client_keepalive(ctx)))
		return false;
	/* the two fields we read: a state of the enum, and no socket (-1: a
	 * WebSocket client being ended, a stored session) or a socket */
	memcpy(&state, base + l->state, sizeof(state));
	memcpy(&sock, base + l->sock, sizeof(sock));
	if (state < 0 || state > CS_MAX || sock < -1)
		return false;
	return !deciding || sock == -1 || (fstat(sock, &st) == 0 && S_ISSOCK(st.st_mode));
}

/* Only a connecting client with an address, an id and a username can
 * confirm or rule out a layout: a session restored from the persistence
 * file (asked again on a reload) has no address, an anonymous client no
 * username. Deciding on those would turn the layout off for the broker's
 * whole run (no scoped ids, no reasons, the claimed address). */
static bool telling(const struct mosquitto *ctx)
{
	return mosquitto_client_address(ctx) && mosquitto_client_id(ctx) &&
	       mosquitto_client_username(ctx);
}

static const struct layout *layout_for(const struct mosquitto *ctx)
{
	if (!ctx)
		return NULL;
	if (chosen == -1) {
		if (!telling(ctx))
			return NULL; /* undecided: a later client decides */
		for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
			if (fits(&layouts[i], ctx, true)) {
				chosen = (int)i;
				break;
			}
		if (chosen == -1) {
			chosen = -2;
			hc_warn("msg=\"broker client layout not recognised: disconnect reasons "
				"fall back to the will (clean/network), client ids are not "
				"scoped per identity\"");
		} else {
			hc_info("msg=\"broker client layout confirmed\" variant=%d", chosen);
		}
	}
	if (chosen < 0)
		return NULL;
	/* confirm on every use: a mismatch means we must not trust it */
	return fits(&layouts[chosen], ctx, false) ? &layouts[chosen] : NULL;
}

void hauth_layout__reset(void)
{
	chosen = -1;
}

bool hauth_layout__known(const struct mosquitto *ctx)
{
	return layout_for(ctx) != NULL;
}

bool hauth_layout__sock_state(const struct mosquitto *ctx, int *sock, int *state)
{
	const struct layout *l = layout_for(ctx);
	const unsigned char *base = (const unsigned char *)ctx;
	if (!l)
		return false;
	memcpy(state, base + l->state, sizeof(*state));
	memcpy(sock, base + l->sock, sizeof(*sock));
	return true;
}

int hauth_layout__set_id(struct mosquitto *ctx, const char *id)
{
	const struct layout *l = layout_for(ctx);
	unsigned char *base = (unsigned char *)ctx;
	char *old, *fresh;

	int state;

	if (!l || !id)
		return -1;
	/* a new connection only: its id is not a key of the broker's id hash
	 * yet (a session restored from disk is "new" too, but has no address,
	 * so no layout fits it) */
	memcpy(&state, base + l->state, sizeof(state));
	if (state != CS_NEW)
		return -1;
	fresh = mosquitto_strdup(id);
	if (!fresh)
		return -1;
	memcpy(&old, base + l->id, sizeof(old));
	memcpy(base + l->id, &fresh, sizeof(fresh));
	mosquitto_free(old);
	return 0;
}

const char *hauth_layout__peer_addr(const struct mosquitto *ctx, char *out, size_t n)
{
	int sock, state;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	const char *a = NULL;
	char buf[INET6_ADDRSTRLEN];

	if (!n)
		return out;
	out[0] = '\0';
	/* over TCP the broker's own address is the peer's (read with
	 * getpeername() at accept): no system call here. Only a WebSocket
	 * client's may be what it claimed in X-Forwarded-For (2.0.15+). */
	if (ctx && mosquitto_client_protocol(ctx) != mp_websockets)
		a = mosquitto_client_address(ctx);
	else if (hauth_layout__sock_state(ctx, &sock, &state) && sock >= 0 &&
		 getpeername(sock, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			a = inet_ntop(
				AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, sizeof(buf));
		else if (ss.ss_family == AF_INET6)
			a = inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf,
				sizeof(buf));
	}
	if (!a)
		a = ctx ? mosquitto_client_address(ctx) : NULL;
	/* "::ffff:1.2.3.4" (a WebSocket listener's IPv6 socket) is 1.2.3.4 */
	if (a && !strncmp(a, "::ffff:", 7) && strchr(a + 7, '.'))
		a += 7;
	if (a)
		snprintf(out, n, "%s", a); /* a longer claimed address: its start */
	return out;
}
