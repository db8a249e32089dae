/* SPDX-License-Identifier: MIT */
/*
 * Client addresses: who a request comes from, for sessions, audit lines and
 * the login limiter. Normally the TCP peer; with trust_proxy, on requests
 * whose peer is in trusted_proxies, the address the proxies in front of
 * hubd saw (X-Forwarded-For walked from the right, hc_proxy.h).
 */
#ifndef HUB_ADDR_H
#define HUB_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "hc_proxy.h"

#define HUB_ADDR_MAX 48 /* fits any textual IPv6 address, as the store's addr column */

struct lws;
struct hc_proxies;

/* The request's client address into out (size n >= HUB_ADDR_MAX), in
 * canonical text form (IPv4-mapped IPv6 shown as IPv4). trusted: the
 * proxies whose X-Forwarded-For is believed (struct hub.proxies; NULL: none,
 * trust_proxy off). "unknown" if the peer cannot be read. */
void hub_client_addr(struct lws *wsi, const struct hc_proxies *trusted, char *out, size_t n);

/* canonical text and limiter keys of addresses: hc_addr_canon and
 * hc_addr_key (hc_proxy.h) */

#endif
