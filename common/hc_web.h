/* SPDX-License-Identifier: MIT */
/*
 * What hubd and the Socket.IO gateway both need from a browser request:
 * the session cookie and origin checks. Pure; thread-safe.
 */
#ifndef HC_WEB_H
#define HC_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include "hc_config.h"
#include "hc_store.h"

#define HC_COOKIE_NAME "hub_sid"
#define HC_ORIGIN_MAX  300

/* Find hub_sid in a Cookie header value ("a=b; hub_sid=...", repeated
 * headers joined by ","). true and out filled when the first hub_sid has a
 * well-formed value (HC_SECRET_LEN base64url chars); a malformed value
 * counts as absent. */
bool hc_cookie_find(const char *header, char out[HC_SECRET_LEN + 1]);

/* Normalise "scheme://host[:port]" (http or https) into out: lower case,
 * default port dropped. false for anything else: paths, userinfo, "null",
 * other schemes, odd bytes. */
bool hc_origin_canon(const char *s, size_t len, char *out, size_t n);

/* Whether origin equals the request's own origin, <scheme>://<host> with
 * host from the Host header; scheme "http", "https", or NULL for either. */
bool hc_origin_same(const char *origin, const char *host, const char *scheme);

/* Whether origin names the same host as the Host header, ports aside (the
 * same site, as SameSite cookies see it: a page of hubd on :8080 and the
 * gateway on :3000 of one host). */
bool hc_origin_same_host(const char *origin, const char *host);

/* Whether origin is one of the entries of a LIST setting of origins. */
bool hc_origin_listed(const struct hc_config *cfg, enum hc_setting list, const char *origin);

/* A map tile URL template (the map_tiles setting) as the dashboard's map
 * uses it: "http[s]://host[:port]/path" where host may start with the
 * label "{s}." (Leaflet's subdomains), and the path holds {z}, {x} and {y}
 * (and may hold {r}, {s}) and otherwise only URL characters that need no
 * quoting (no quotes, spaces, ';', ',', '<', '>', '\\', '#'). true when
 * tmpl is such a template, and the CSP source expression of its origin
 * is in out: scheme, host and port in lower case, the host prefixed with
 * a "*." label for {s} (n must be at least strlen(tmpl) + 2). false for
 * anything else, out then "". Pure. */
bool hc_tile_source(const char *tmpl, char *out, size_t n);

#endif
