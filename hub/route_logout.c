/* SPDX-License-Identifier: MIT */
/*
 * POST /api/logout: revoke the cookie's session and clear the cookie. The
 * broker plugin and the bridge follow the store's change log and end every
 * connection made with the session within a second; the answer waits until
 * both know the session ended, so its tokens open nothing any more. The
 * logout webhook rows commit with the revocation.
 */
#include "cookie.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hub.h"
#include "routes.h"
#include "session.h"
#include "syncwait.h"
#include "webhook.h"
#include "webhook_events.h"

/* The revocation and its logout webhook rows commit together. A session
 * revoked meanwhile (HUB_ERR_NOTFOUND) had its own event, or none. */
struct logout_tx {
	const char *sid, *user;
	int queued;
};

static int logout_fn(struct hc_store *st, void *ud)
{
	struct logout_tx *a = ud;
	int rc = hc_store_session_revoke(st, a->sid, "logout");
	if (!rc)
		rc = hub_webhook_event_logout(st, a->user, a->sid, "logout", NULL, &a->queued);
	return rc;
}

int hub_route_logout(struct hub *h, struct hub_conn *c)
{
	struct logout_tx tx = {0};
	struct hc_session s;
	char clear[160];
	int rc;

	if (hub_session_require(h, c, &s))
		return 0;
	tx.sid = s.sid;
	tx.user = s.principal;
	rc = hc_store_tx(h->store, logout_fn, &tx);
	if (rc && rc != HUB_ERR_NOTFOUND) {
		hc_err("msg=\"logout failed\" sid=%s err=%s", s.sid, hub_strerror(rc));
		hub_http_header(c, "retry-after:", "5");
		hub_http_error(c, 503, "unavailable", "the session could not be ended; try again");
		return 0;
	}
	hc_info("logout user=%s addr=%s sid=%s", s.principal, c->addr, s.sid);
	if (tx.queued)
		hub_webhooks_wake(h->webhooks);
	hub_http_reply(c, 204, NULL, NULL, 0);
	if (hub_cookie_format(&h->cfg, NULL, 0, clear, sizeof(clear)) == HUB_OK)
		hub_http_header(c, "set-cookie:", clear);
	hub_syncwait_reply(h, c);
	return 0;
}
