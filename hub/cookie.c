/* SPDX-License-Identifier: MIT */
/* Session cookie parsing and Set-Cookie values. */
#include "cookie.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_tls.h"
#include "hc_util.h"

#include <string.h>

int hub_cookie_format(
	const struct hc_config *cfg, const char *secret, int64_t max_age, char *out, size_t n)
{
	return hc_fmt(out, n, "%s=%s; HttpOnly; SameSite=Lax; Path=/; Max-Age=%lld%s",
		HUB_COOKIE_NAME, secret ? secret : "", secret ? (long long)max_age : 0LL,
		hub_cookie_secure(cfg) ? "; Secure" : "");
}

bool hub_cookie_secure(const struct hc_config *cfg)
{
	/* with tls_cert hubd serves HTTPS only (it does not start otherwise) */
	return hc_cfg_bool(cfg, HC_CFG_COOKIE_SECURE) || hc_tls_wanted(cfg);
}
