/* SPDX-License-Identifier: MIT */
/* Same-origin policy for cookie-carrying state changes (see origin.h). */
#include "origin.h"
#include "cookie.h"
#include "hc_config.h"
#include "hc_web.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool hub_origin_allowed(
	const struct hc_config *cfg, const char *origin, const char *host, const char *fetch_site)
{
	if (fetch_site && strcasecmp(fetch_site, "cross-site") == 0)
		return false;
	if (!origin)
		return true;
	/* "null" (sandboxed frames, some redirects) and junk match nothing */
	return hc_origin_listed(cfg, HC_CFG_TRUSTED_ORIGINS, origin) ||
	       hc_origin_same(origin, host, hub_cookie_secure(cfg) ? "https" : "http");
}
