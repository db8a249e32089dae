/* SPDX-License-Identifier: MIT */
/* Resolving the request's session cookie to a live session. */
#include "session.h"
#include "cookie.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"
#include "http.h"
#include "hub.h"

/* none: what to answer when there is no live session, 401 or 204 */
static int lookup(struct hub *h, struct hub_conn *c, struct hc_session *out, int none)
{
	char clear[160];
	int rc;

	if (!c->has_cookie) {
		if (none == 204)
			hub_http_reply(c, 204, NULL, NULL, 0);
		else
			hub_http_error(c, 401, "unauthorized", "log in first");
		return HUB_ERR_AUTH;
	}
	/* one indexed query, by SHA-256 of the cookie value */
	rc = hc_store_session_by_secret(h->store, c->cookie, hc_now(), out);
	if (rc == HUB_OK)
		return HUB_OK;
	if (rc == HUB_ERR_NOTFOUND || rc == HUB_ERR_EXPIRED || rc == HUB_ERR_REVOKED) {
		char fp[9];
		hc_log_fingerprint(c->cookie, HC_SECRET_LEN, fp);
		hc_debug("msg=\"session refused\" cookie=%s why=%s addr=%s", fp, hub_strerror(rc),
			c->addr);
		if (none == 204)
			hub_http_reply(c, 204, NULL, NULL, 0);
		else
			hub_http_error(c, 401, "unauthorized", "no live session; log in again");
		if (hub_cookie_format(&h->cfg, NULL, 0, clear, sizeof(clear)) == HUB_OK)
			hub_http_header(c, "set-cookie:", clear);
		return HUB_ERR_AUTH;
	}
	hc_err("msg=\"session lookup failed\" err=%s db=\"%s\"", hub_strerror(rc),
		hc_store_errmsg(h->store));
	hub_http_header(c, "retry-after:", "5");
	hub_http_error(c, 503, "unavailable", "the store is not available; try again");
	return rc;
}

int hub_session_require(struct hub *h, struct hub_conn *c, struct hc_session *out)
{
	return lookup(h, c, out, 401);
}

int hub_session_optional(struct hub *h, struct hub_conn *c, struct hc_session *out)
{
	return lookup(h, c, out, 204);
}
