/* SPDX-License-Identifier: MIT */
/* Client address of a request, and the key the login limiter uses for it. */
#include "addr.h"
#include "hc_proxy.h"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <stdio.h>
#include <string.h>

static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool hub_addr_canon(const char *s, size_t len, char *out, size_t n)
{
	char tmp[64];
	unsigned char bin[16];

	while (len && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (!len || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (inet_pton(AF_INET, tmp, bin) == 1)
		return inet_ntop(AF_INET, bin, out, (socklen_t)n) != NULL;
	if (inet_pton(AF_INET6, tmp, bin) != 1)
		return false;
	/* ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket */
	if (memcmp(bin, mapped, sizeof(mapped)) == 0)
		return inet_ntop(AF_INET, bin + 12, out, (socklen_t)n) != NULL;
	return inet_ntop(AF_INET6, bin, out, (socklen_t)n) != NULL;
}

void hub_client_addr(struct lws *wsi, const struct hc_proxies *trusted, char *out, size_t n)
{
	char peer[64], canon[HUB_ADDR_MAX], xff[512];
	const char *p;

	p = lws_get_peer_simple(wsi, peer, sizeof(peer));
	if (!p || !hub_addr_canon(peer, strlen(peer), canon, sizeof(canon))) {
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

void hub_addr_key(const char *addr, char *out, size_t n)
{
	unsigned char bin[16];

	if (strchr(addr, ':') && inet_pton(AF_INET6, addr, bin) == 1) {
		memset(bin + 8, 0, 8);
		if (inet_ntop(AF_INET6, bin, out, (socklen_t)n)) {
			size_t l = strlen(out);
			if (l + 4 < n)
				memcpy(out + l, "/64", 4);
			return;
		}
	}
	snprintf(out, n, "%s", addr);
}
