/* SPDX-License-Identifier: MIT */
/* Same-origin policy for cookie-carrying state changes (see origin.h). */
#include "origin.h"
#include "hc_config.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ORIGIN_MAX 300

/*
 * Normalise "scheme://host[:port]" into out: lower case, default port
 * dropped. false for anything else (paths, userinfo, "null", odd bytes).
 */
static bool canon_origin(const char *s, size_t len, char *out, size_t n)
{
	const char *host;
	size_t o = 0, hl;
	bool https;

	if (len >= n || len >= ORIGIN_MAX)
		return false;
	if (len > 7 && strncasecmp(s, "http://", 7) == 0) {
		https = false;
		host = s + 7;
	} else if (len > 8 && strncasecmp(s, "https://", 8) == 0) {
		https = true;
		host = s + 8;
	} else {
		return false;
	}
	hl = len - (size_t)(host - s);
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)host[i];
		if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '[' && c != ']')
			return false;
	}
	if (https && hl > 4 && !memcmp(host + hl - 4, ":443", 4))
		hl -= 4;
	else if (!https && hl > 3 && !memcmp(host + hl - 3, ":80", 3))
		hl -= 3;
	if (!hl)
		return false;
	o = (size_t)snprintf(out, n, "%s://", https ? "https" : "http");
	for (size_t i = 0; i < hl && o + 1 < n; i++)
		out[o++] = (char)tolower((unsigned char)host[i]);
	out[o] = '\0';
	return true;
}

bool hub_origin_allowed(
	const struct hc_config *cfg, const char *origin, const char *host, const char *fetch_site)
{
	char got[ORIGIN_MAX + 16], want[ORIGIN_MAX + 16], own[ORIGIN_MAX + 16];
	size_t pos = 0, len;
	const char *item;

	if (fetch_site && strcasecmp(fetch_site, "cross-site") == 0)
		return false;
	if (!origin)
		return true;
	if (!canon_origin(origin, strlen(origin), got, sizeof(got)))
		return false; /* "null" (sandboxed frames, some redirects) and junk */
	while (hc_cfg_list_next(cfg, HC_CFG_TRUSTED_ORIGINS, &pos, &item, &len))
		if (canon_origin(item, len, want, sizeof(want)) && strcmp(got, want) == 0)
			return true;
	if (!host || !*host)
		return false;
	if (snprintf(own, sizeof(own), "%s://%s",
		    hc_cfg_bool(cfg, HC_CFG_COOKIE_SECURE) ? "https" : "http",
		    host) >= (int)sizeof(own))
		return false;
	if (!canon_origin(own, strlen(own), want, sizeof(want)))
		return false;
	return strcmp(got, want) == 0;
}
