/* SPDX-License-Identifier: MIT */
/* Session cookie parsing and Set-Cookie values. */
#include "cookie.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_util.h"

#include <string.h>

static bool b64url_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

bool hub_cookie_find(const char *header, char out[HC_SECRET_LEN + 1])
{
	static const char name[] = HUB_COOKIE_NAME "=";
	const char *p = header;

	if (!header)
		return false;
	/* pairs are separated by ";" (and by "," where lws joined repeated
	 * Cookie headers); the first hub_sid wins */
	while (*p) {
		const char *v, *end;
		size_t len;

		while (*p == ' ' || *p == '\t' || *p == ';' || *p == ',')
			p++;
		end = p + strcspn(p, ";,");
		if ((size_t)(end - p) > sizeof(name) - 1 && !memcmp(p, name, sizeof(name) - 1)) {
			v = p + sizeof(name) - 1;
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

int hub_cookie_format(
	const struct hc_config *cfg, const char *secret, int64_t max_age, char *out, size_t n)
{
	return hc_fmt(out, n, "%s=%s; HttpOnly; SameSite=Lax; Path=/; Max-Age=%lld%s",
		HUB_COOKIE_NAME, secret ? secret : "", secret ? (long long)max_age : 0LL,
		hc_cfg_bool(cfg, HC_CFG_COOKIE_SECURE) ? "; Secure" : "");
}
