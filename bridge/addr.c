/* SPDX-License-Identifier: MIT */
/*
 * Client addresses: the one a request comes from (the peer, or with
 * trust_proxy and a peer in trusted_proxies the address our own reverse
 * proxies saw, from X-Forwarded-For, hc_proxy.h), in canonical text, and the key the per-address
 * quotas count under: the address itself for IPv4, the /64 prefix for IPv6 (one host usually holds
 * a whole /64, so counting single IPv6 addresses would give it billions of quotas).
 *
 * hc_addr_canon and hc_addr_key are pure (unit-tested); the same rules
 * as hubd's login limiter (hub/addr.c).
 */
#include "hbr.h"
#include "hc_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

/* A request hubd's front relayed: it carries hubd's tag (hc_token.h). */
static bool from_front(struct hbr *h, struct lws *wsi)
{
	char tag[HC_TOKEN_TAG_MAX];
	size_t n = strlen(h->front_tag);

	return n && lws_hdr_custom_length(wsi, "x-hub-front:", 12) == (int)n &&
	       lws_hdr_custom_copy(wsi, tag, sizeof(tag), "x-hub-front:", 12) == (int)n &&
	       hc_ct_equal(tag, h->front_tag, n);
}

void hbr_addr__of(struct hbr *h, struct lws *wsi, char *out, size_t n)
{
	char peer[64], canon[64], xff[512];
	const char *p;
	bool front = from_front(h, wsi);

	p = lws_get_peer_simple(wsi, peer, sizeof(peer));
	if (!p || !hc_addr_canon(peer, strlen(peer), canon, sizeof(canon))) {
		snprintf(out, n, "unknown");
		return;
	}
	if (h->trust_proxy && !front && lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) > 0 &&
		lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) < (int)sizeof(xff) &&
		lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) > 0 &&
		hc_proxies_client(&h->proxies, canon, xff, out, n))
		return;
	if (front && lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) > 0 &&
		lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) < (int)sizeof(xff) &&
		lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) > 0) {
		/* hubd wrote the client it saw; its own client may have
		 * written entries before: the last one counts */
		const char *comma = strrchr(xff, ',');
		const char *start = comma ? comma + 1 : xff;
		if (hc_addr_canon(start, strlen(start), out, n))
			return;
	}
	snprintf(out, n, "%s", canon);
}
