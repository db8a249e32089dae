/* SPDX-License-Identifier: MIT */
/*
 * Client addresses: the one a request comes from (the peer, or with
 * trust_proxy and a peer in trusted_proxies the address our own reverse
 * proxies saw, from X-Forwarded-For, hc_proxy.h), in canonical text, and the key the per-address
 * quotas count under: the address itself for IPv4, the /64 prefix for IPv6 (one host usually holds
 * a whole /64, so counting single IPv6 addresses would give it billions of quotas).
 *
 * hbr_addr__canon and hbr_addr__key are pure (unit-tested); the same rules
 * as hubd's login limiter (hub/addr.c).
 */
#include "hbr.h"
#include "hc_util.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool hbr_addr__canon(const char *s, size_t len, char *out, size_t n)
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

void hbr_addr__key(const char *addr, char *out, size_t n)
{
	unsigned char bin[16];

	if (strchr(addr, ':') && inet_pton(AF_INET6, addr, bin) == 1) {
		memset(bin + 8, 0, 8);
		if (inet_ntop(AF_INET6, bin, out, (socklen_t)n)) {
			size_t l = strlen(out);
			if (l + 4 <= n) {
				memcpy(out + l, "/64", 4);
				return;
			}
		}
	}
	snprintf(out, n, "%s", addr);
}

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
	if (!p || !hbr_addr__canon(peer, strlen(peer), canon, sizeof(canon))) {
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
		if (hbr_addr__canon(start, strlen(start), out, n))
			return;
	}
	snprintf(out, n, "%s", canon);
}
