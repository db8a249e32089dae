/* SPDX-License-Identifier: MIT */
/*
 * Client addresses behind reverse proxies (trust_proxy, trusted_proxies).
 *
 * X-Forwarded-For is a list anyone can start: a proxy appends the address
 * it saw, so only the entries our own proxies appended can be believed. A
 * request's X-Forwarded-For counts only when its TCP peer is one of the
 * trusted proxies; the client is then the last entry, walking from the
 * right, that is not itself a trusted proxy (so a chain of our proxies is
 * walked through, and whatever the client wrote before is ignored). A peer
 * that is not trusted is the client, whatever it claims.
 *
 * Pure functions, unit-tested (tests/unit/common/test_proxy.c); used by
 * hubd (hub/addr.c) and hub-bridge (bridge/addr.c).
 */
#ifndef HC_PROXY_H
#define HC_PROXY_H

#include <stdbool.h>
#include <stddef.h>

struct hc_config;

#define HC_PROXIES_MAX	   64 /* entries of trusted_proxies */
#define HC_XFF_ENTRIES_MAX 32 /* X-Forwarded-For entries looked at, from the right */

struct hc_proxy_net {
	int family;		/* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network address (4 bytes used for IPv4) */
	int bits;		/* prefix length */
};

struct hc_proxies {
	size_t n;
	struct hc_proxy_net net[HC_PROXIES_MAX];
};

/*
 * A textual client address (s, len; spaces around it trimmed) in canonical
 * text into out: inet_ntop's form, IPv4-mapped IPv6 as IPv4. false when it
 * is not one address (names, lists, zone ids, too long).
 */
bool hc_addr_canon(const char *s, size_t len, char *out, size_t n);

/*
 * The key a per-address limit counts addr (canonical) under: the address
 * itself for IPv4, its /64 prefix ("2001:db8:1:2::/64") for IPv6, since one
 * host usually holds a whole /64. Anything else is its own key.
 */
void hc_addr_key(const char *addr, char *out, size_t n);

/* Parse a comma-separated list of addresses and CIDRs (10.0.0.0/8,
 * 192.168.1.7, fd00::/8, ::1; IPv4-mapped IPv6 is IPv4). An empty list is
 * valid (nothing trusted). HUB_OK, or HUB_ERR_CONFIG with the bad entry in
 * err. */
int hc_proxies_parse(const char *list, struct hc_proxies *out, char *err, size_t errsz);
/* trusted_proxies of cfg (checked when the config was loaded). */
int hc_proxies_from_cfg(const struct hc_config *cfg, struct hc_proxies *out);

/* Whether the textual address addr (len bytes) is in one of the networks. */
bool hc_proxies_has(const struct hc_proxies *p, const char *addr, size_t len);

/*
 * The client of a request whose TCP peer is peer (canonical text) and
 * whose X-Forwarded-For header is xff (NULL or "" when absent), into out
 * (canonical text, size n >= 46): the peer itself unless it is trusted;
 * else the rightmost entry not trusted (the leftmost when all are); an
 * entry that is not an address stops the walk there (the last good one
 * counts; the peer when it is the first). Returns true when the address
 * came from the header.
 */
bool hc_proxies_client(
	const struct hc_proxies *p, const char *peer, const char *xff, char *out, size_t n);

#endif
