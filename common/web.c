/* SPDX-License-Identifier: MIT */
/* Session cookie and origin helpers for the HTTP-facing services. */
#include "hc_web.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool hc_cookie_find(const char *header, char out[HC_SECRET_LEN + 1])
{
	static const char name[] = HC_COOKIE_NAME "=";
	const size_t nl = sizeof(name) - 1;
	const char *p = header;

	/* the first hub_sid wins; a malformed one counts as none */
	while (p && *p) {
		const char *v, *end;
		size_t len;

		while (*p == ' ' || *p == '\t' || *p == ';' || *p == ',')
			p++;
		end = p + strcspn(p, ";,");
		if ((size_t)(end - p) > nl && !memcmp(p, name, nl)) {
			v = p + nl;
			len = (size_t)(end - v);
			while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				len--;
			if (len != HC_SECRET_LEN)
				return false;
			for (size_t i = 0; i < len; i++)
				if (!b64url_char((unsigned char)v[i]))
					return false;
			memcpy(out, v, len);
			out[len] = '\0';
			return true;
		}
		p = end;
	}
	return false;
}

/* host[:port] as an origin has it: a name of letters, digits, '.' and '-',
 * or an IPv6 literal in brackets, then at most one ":" and 1-5 digits.
 * (A port without a host, or two ports, made the canonical form change
 * when canonicalised again: fuzz_cookie.) */
static bool authority_ok(const char *h, size_t len)
{
	size_t i = 0, digits = 0;

	if (len && h[0] == '[') {
		for (i = 1; i < len && h[i] != ']'; i++)
			if (!isxdigit((unsigned char)h[i]) && h[i] != ':' && h[i] != '.')
				return false;
		if (i >= len || i == 1)
			return false;
		i++; /* the ']' */
	} else {
		while (i < len && (isalnum((unsigned char)h[i]) || h[i] == '.' || h[i] == '-'))
			i++;
		if (i == 0)
			return false;
	}
	if (i == len)
		return true;
	if (h[i++] != ':')
		return false;
	for (; i < len; i++, digits++)
		if (!isdigit((unsigned char)h[i]))
			return false;
	return digits >= 1 && digits <= 5;
}

bool hc_origin_canon(const char *s, size_t len, char *out, size_t n)
{
	const char *host;
	size_t o, hl;
	bool https;

	if (len >= n || len >= HC_ORIGIN_MAX)
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
	if (!authority_ok(host, hl))
		return false;
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

bool hc_origin_same(const char *origin, const char *host, const char *scheme)
{
	char got[HC_ORIGIN_MAX + 16], own[HC_ORIGIN_MAX + 16], want[HC_ORIGIN_MAX + 16];
	static const char *const both[] = {"http", "https"};

	if (!origin || !host || !*host ||
		!hc_origin_canon(origin, strlen(origin), got, sizeof(got)))
		return false;
	for (size_t i = 0; i < 2; i++) {
		const char *sc = scheme ? scheme : both[i];
		int n = snprintf(own, sizeof(own), "%s://%s", sc, host);
		if (n < 0 || (size_t)n >= sizeof(own))
			return false;
		if (hc_origin_canon(own, (size_t)n, want, sizeof(want)) && !strcmp(got, want))
			return true;
		if (scheme)
			break;
	}
	return false;
}

/* The host name of "host[:port]" or "[v6]:port": its length, 0 if bad. */
static size_t host_name_len(const char *h, size_t len)
{
	if (len && h[0] == '[') {
		const char *end = memchr(h, ']', len);
		return end ? (size_t)(end - h) + 1 : 0;
	}
	const char *colon = memchr(h, ':', len);
	return colon ? (size_t)(colon - h) : len;
}

bool hc_origin_same_host(const char *origin, const char *host)
{
	char got[HC_ORIGIN_MAX + 16];
	const char *oh;
	size_t ol, hl;

	if (!origin || !host || !*host ||
		!hc_origin_canon(origin, strlen(origin), got, sizeof(got)))
		return false;
	oh = strstr(got, "://") + 3;
	ol = host_name_len(oh, strlen(oh));
	hl = host_name_len(host, strlen(host));
	return ol && ol == hl && strncasecmp(oh, host, ol) == 0;
}

bool hc_origin_listed(const struct hc_config *cfg, enum hc_setting list, const char *origin)
{
	char got[HC_ORIGIN_MAX + 16], want[HC_ORIGIN_MAX + 16];
	size_t pos = 0, len;
	const char *item;

	if (!origin || !hc_origin_canon(origin, strlen(origin), got, sizeof(got)))
		return false;
	while (hc_cfg_list_next(cfg, list, &pos, &item, &len))
		if (hc_origin_canon(item, len, want, sizeof(want)) && !strcmp(got, want))
			return true;
	return false;
}

/* A byte a tile template's path may hold as it is (RFC 3986 unreserved,
 * sub-delims but ',' and ';', ':' '@' '/' '?' '%'); '{' '}' only around
 * a placeholder, checked by the caller. */
static bool tile_path_char(unsigned char c)
{
	return isalnum(c) || strchr("-._~!$&()*+=:@/?%", c) != NULL;
}

bool hc_tile_source(const char *tmpl, char *out, size_t n)
{
	static const char *const holders[] = {"{z}", "{x}", "{y}", "{s}", "{r}"};
	const char *host, *path, *p;
	bool https, sub = false, seen[3] = {false, false, false};
	size_t hl, o;

	if (!out || n == 0)
		return false;
	out[0] = '\0';
	if (!tmpl || n < strlen(tmpl) + 2)
		return false;
	if (strncasecmp(tmpl, "https://", 8) == 0) {
		https = true;
		host = tmpl + 8;
	} else if (strncasecmp(tmpl, "http://", 7) == 0) {
		https = false;
		host = tmpl + 7;
	} else {
		return false;
	}
	/* {s}.rest: Leaflet's subdomains; the CSP says *.rest */
	if (strncmp(host, "{s}.", 4) == 0) {
		sub = true;
		host += 4;
	}
	path = strchr(host, '/');
	if (!path)
		return false;
	hl = (size_t)(path - host);
	if (!hl || !authority_ok(host, hl) || (sub && host[0] == '['))
		return false;
	/* authority_ok takes 1-5 digits: the port must also be 1-65535 */
	for (size_t i = hl; i > 0 && host[i - 1] != ']'; i--)
		if (host[i - 1] == ':') {
			long port = strtol(host + i, NULL, 10);
			if (port < 1 || port > 65535)
				return false;
			break;
		}
	for (p = path; *p;) {
		if (*p == '{') {
			size_t k;
			for (k = 0; k < sizeof(holders) / sizeof(holders[0]); k++)
				if (strncmp(p, holders[k], 3) == 0)
					break;
			if (k == sizeof(holders) / sizeof(holders[0]))
				return false;
			if (k < 3)
				seen[k] = true;
			p += 3;
			continue;
		}
		if (!tile_path_char((unsigned char)*p))
			return false;
		p++;
	}
	if (!seen[0] || !seen[1] || !seen[2])
		return false;
	o = (size_t)snprintf(out, n, "%s://%s", https ? "https" : "http", sub ? "*." : "");
	for (size_t i = 0; i < hl && o + 1 < n; i++)
		out[o++] = (char)tolower((unsigned char)host[i]);
	out[o] = '\0';
	return true;
}
