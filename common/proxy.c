/* SPDX-License-Identifier: MIT */
/* Trusted reverse proxies and X-Forwarded-For (hc_proxy.h). */
#include "hc_proxy.h"
#include "hc_config.h"
#include "hc_err.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* Parse one textual address (s, len; spaces around it trimmed) into
 * family and bytes; IPv4-mapped IPv6 becomes IPv4. */
static bool parse_addr(const char *s, size_t len, int *family, unsigned char bin[16])
{
	char tmp[64];

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
	if (inet_pton(AF_INET, tmp, bin) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, tmp, bin) != 1)
		return false;
	if (memcmp(bin, mapped, sizeof(mapped)) == 0) {
		memmove(bin, bin + 12, 4);
		*family = AF_INET;
	} else {
		*family = AF_INET6;
	}
	return true;
}

bool hc_addr_canon(const char *s, size_t len, char *out, size_t n)
{
	unsigned char bin[16];
	int family;

	/* ::ffff:a.b.c.d (an IPv4 client on a dual-stack socket) is IPv4 */
	return parse_addr(s, len, &family, bin) &&
	       inet_ntop(family, bin, out, (socklen_t)n) != NULL;
}

void hc_addr_key(const char *addr, char *out, size_t n)
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

static bool in_net(const struct hc_proxy_net *net, int family, const unsigned char *a)
{
	int full, rest;

	if (net->family != family)
		return false;
	full = net->bits / 8;
	rest = net->bits % 8;
	if (full && memcmp(net->addr, a, (size_t)full) != 0)
		return false;
	if (rest) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));
		if ((net->addr[full] & mask) != (a[full] & mask))
			return false;
	}
	return true;
}

static bool has_bin(const struct hc_proxies *p, int family, const unsigned char *a)
{
	for (size_t i = 0; i < p->n; i++)
		if (in_net(&p->net[i], family, a))
			return true;
	return false;
}

static int parse_entry(const char *s, size_t len, struct hc_proxy_net *net)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	int max, bits;

	if (!parse_addr(s, alen, &net->family, net->addr))
		return -1;
	/* the prefix counts in the bits of the text's own family */
	max = memchr(s, ':', alen) ? 128 : 32;
	bits = max;
	if (slash) {
		char num[8];
		char *end;
		size_t nl = len - alen - 1;
		long v;
		while (nl && (slash[nl] == ' ' || slash[nl] == '\t'))
			nl--;
		if (!nl || nl >= sizeof(num))
			return -1;
		memcpy(num, slash + 1, nl);
		num[nl] = '\0';
		if (num[0] < '0' || num[0] > '9')
			return -1;
		v = strtol(num, &end, 10);
		if (*end || v < 0 || v > max)
			return -1;
		bits = (int)v;
	}
	/* an IPv4-mapped CIDR (::ffff:10.0.0.0/104) is an IPv4 one */
	if (net->family == AF_INET && max == 128) {
		if (bits < 96)
			return -1;
		bits -= 96;
		max = 32;
	}
	net->bits = bits;
	/* the network's host bits are ignored: 10.1.2.3/8 is 10.0.0.0/8 */
	for (int i = bits; i < max; i++)
		net->addr[i / 8] &= (unsigned char)~(0x80 >> (i % 8));
	return 0;
}

int hc_proxies_parse(const char *list, struct hc_proxies *out, char *err, size_t errsz)
{
	const char *p = list;

	memset(out, 0, sizeof(*out));
	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		const char *s = p;
		size_t l = len;

		while (l && (*s == ' ' || *s == '\t')) {
			s++;
			l--;
		}
		if (l) {
			if (out->n >= HC_PROXIES_MAX) {
				snprintf(err, errsz, "trusted_proxies: more than %d entries",
					HC_PROXIES_MAX);
				return HUB_ERR_CONFIG;
			}
			if (parse_entry(s, l, &out->net[out->n])) {
				snprintf(err, errsz,
					"trusted_proxies: '%.*s' is not an IPv4 or IPv6 address or "
					"CIDR (like 10.0.0.0/8 or fd00::/8)",
					(int)(l > 64 ? 64 : l), s);
				return HUB_ERR_CONFIG;
			}
			out->n++;
		}
		p = comma ? comma + 1 : NULL;
	}
	return HUB_OK;
}

int hc_proxies_from_cfg(const struct hc_config *cfg, struct hc_proxies *out)
{
	char err[128];
	return hc_proxies_parse(hc_cfg_str(cfg, HC_CFG_TRUSTED_PROXIES), out, err, sizeof(err));
}

bool hc_proxies_has(const struct hc_proxies *p, const char *addr, size_t len)
{
	int family;
	unsigned char bin[16];

	return parse_addr(addr, len, &family, bin) && has_bin(p, family, bin);
}

static void to_text(int family, const unsigned char *bin, char *out, size_t n)
{
	if (!inet_ntop(family, bin, out, (socklen_t)n))
		snprintf(out, n, "unknown");
}

bool hc_proxies_client(
	const struct hc_proxies *p, const char *peer, const char *xff, char *out, size_t n)
{
	int family, best_family = 0;
	unsigned char bin[16], best[16];
	const char *end;
	int seen = 0;

	snprintf(out, n, "%s", peer);
	if (!xff || !*xff || !hc_proxies_has(p, peer, strlen(peer)))
		return false;
	/* from the right: each entry was appended by the hop after it */
	end = xff + strlen(xff);
	while (end > xff && seen < HC_XFF_ENTRIES_MAX) {
		const char *start = end;
		while (start > xff && start[-1] != ',')
			start--;
		if (!parse_addr(start, (size_t)(end - start), &family, bin))
			break; /* not written by a proxy of ours: stop at the last good one */
		best_family = family;
		memcpy(best, bin, sizeof(best));
		seen++;
		if (!has_bin(p, family, bin))
			break;
		end = start > xff ? start - 1 : xff;
	}
	if (!best_family)
		return false;
	to_text(best_family, best, out, n);
	return true;
}
