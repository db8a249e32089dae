/* SPDX-License-Identifier: MIT */
/*
 * Same-origin check for state-changing requests (every POST under /api):
 * a browser always sends Origin on a cross-origin POST, so a request whose
 * Origin is neither our own origin nor listed in trusted_origins, or that a
 * browser marks Sec-Fetch-Site: cross-site, was driven by another site and
 * is refused. Requests without Origin (curl, CLI tools, same-origin GETs)
 * pass: no browser omits it on the cross-site requests this guards against,
 * and SameSite=Lax keeps the cookie off them anyway.
 */
#ifndef HUB_ORIGIN_H
#define HUB_ORIGIN_H

#include <stdbool.h>

struct hc_config;

/*
 * origin: the Origin header or NULL; host: the Host header or NULL;
 * fetch_site: Sec-Fetch-Site or NULL. Our own origin is http://<host>, or
 * https://<host> under TLS or with cookie_secure (hubd behind a TLS proxy).
 * Comparison ignores case and default ports. Pure; thread-safe.
 */
bool hub_origin_allowed(
	const struct hc_config *cfg, const char *origin, const char *host, const char *fetch_site);

#endif
