/* SPDX-License-Identifier: MIT */
/*
 * The leading fields of the broker's client struct (struct mosquitto in
 * lib/mosquitto_internal.h), which every 2.0.x release keeps in the same
 * order ("ident must be the first element"): ident, sock,
 * maximum_packet_size, [adns], protocol, address, id, username, password,
 * keepalive, last_mid, state.
 *
 * Mosquitto 2.0.11 gives plugins no getter for the socket or the state
 * (reason.c needs both) and no way to scope a client id (clientid.c). A
 * layout is trusted for a client only after the address, id and username
 * pointers and the keepalive found at its offsets are exactly what the
 * broker's own getters return; every use checks again. If no layout fits
 * (another build or version), callers fall back to what the public API
 * allows.
 *
 * The one write (hauth_layout__set_id) replaces the id pointer with a
 * string from mosquitto_malloc and frees the old one with mosquitto_free,
 * as the broker itself does for use_username_as_clientid, and only from
 * BASIC_AUTH of a new connection: the id is not yet a key of the broker's
 * id hash then (connect__on_authorised adds it after the plugin agreed).
 */
#include "hauth.h"
#include "hc_log.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
	if (!ctx)
		return NULL;
	if (chosen == -1) {
		for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
			if (fits(&layouts[i], ctx)) {
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
	return fits(&layouts[chosen], ctx) ? &layouts[chosen] : NULL;
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

	if (!l || !id)
		return -1;
	fresh = mosquitto_strdup(id);
	if (!fresh)
		return -1;
	memcpy(&old, base + l->id, sizeof(old));
	memcpy(base + l->id, &fresh, sizeof(fresh));
	mosquitto_free(old);
	return 0;
}
