/* SPDX-License-Identifier: MIT */
/*
 * Origins on the Socket.IO port. Same-origin requests always work; only the
 * origins listed in cors_origins get Access-Control-Allow-Origin (with
 * credentials). server.c also refuses any request carrying the session
 * cookie from an origin that is neither (cross-site WebSocket hijacking:
 * browsers apply no CORS to WebSockets).
 */
#include "hbr.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool hbr_cors__canon(const char *s, size_t len, char *out, size_t n)
{
	const char *host;
	size_t hl, o;
	bool https;

	if (len >= HBR_ORIGIN_MAX || n < len + 1)
		return false;
	if (len > 7 && !strncasecmp(s, "http://", 7)) {
		https = false;
		host = s + 7;
	} else if (len > 8 && !strncasecmp(s, "https://", 8)) {
		https = true;
		host = s + 8;
	} else {
		return false; /* "null", other schemes, junk */
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

bool hbr_cors__same_origin(const char *origin, const char *host)
{
	char got[HBR_ORIGIN_MAX + 16], own[HBR_ORIGIN_MAX + 16], want[HBR_ORIGIN_MAX + 16];
	const char *schemes[] = {"http", "https"};

	if (!origin || !*origin)
		return true;
	if (!host || !*host || !hbr_cors__canon(origin, strlen(origin), got, sizeof(got)))
		return false;
	for (size_t i = 0; i < 2; i++) {
		int n = snprintf(own, sizeof(own), "%s://%s", schemes[i], host);
		if (n < 0 || (size_t)n >= sizeof(own))
			return false;
		if (hbr_cors__canon(own, (size_t)n, want, sizeof(want)) && !strcmp(got, want))
			return true;
	}
	return false;
}

bool hbr_cors__listed(struct hbr *h, const char *origin)
{
	char got[HBR_ORIGIN_MAX + 16], want[HBR_ORIGIN_MAX + 16];
	size_t pos = 0, len;
	const char *item;

	if (!hbr_cors__canon(origin, strlen(origin), got, sizeof(got)))
		return false;
	while (hc_cfg_list_next(&h->cfg, HC_CFG_CORS_ORIGINS, &pos, &item, &len))
		if (hbr_cors__canon(item, len, want, sizeof(want)) && !strcmp(got, want))
			return true;
	return false;
}
