/* SPDX-License-Identifier: MIT */
/* Client address of a request, and the key the login limiter uses for it. */
#include "addr.h"
#include "hc_proxy.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>

void hub_client_addr(struct lws *wsi, const struct hc_proxies *trusted, char *out, size_t n)
{
	char peer[64], canon[HUB_ADDR_MAX], xff[512];
	const char *p;

	p = lws_get_peer_simple(wsi, peer, sizeof(peer));
	if (!p || !hc_addr_canon(peer, strlen(peer), canon, sizeof(canon))) {
		snprintf(out, n, "unknown");
		return;
	}
	/* X-Forwarded-For counts only from a trusted proxy (hc_proxy.h);
	 * one too long to be a proxy chain of ours is not read at all */
	xff[0] = '\0';
	if (trusted && lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) > 0 &&
		lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) < (int)sizeof(xff) &&
		lws_hdr_copy(wsi, xff, sizeof(xff), WSI_TOKEN_X_FORWARDED_FOR) > 0 &&
		hc_proxies_client(trusted, canon, xff, out, n))
		return;
	snprintf(out, n, "%s", canon);
}
