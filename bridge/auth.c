/* SPDX-License-Identifier: MIT */
/*
 * Who a socket is: resolved once, at the Socket.IO CONNECT, from the
 * `hub_sid` cookie of the Engine.IO handshake request (the store's session
 * of that cookie, like express-session + Passport's deserializeUser) or
 * from `auth: {token}` (the contract's MQTT token, checked like the broker
 * plugin checks it: signature, exp, typ "mqtt", and the session in the
 * directory). Afterwards hbr_auth__verdict tells, from the directory the
 * store follower keeps current, whether the socket may stay.
 */
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <stdio.h>
#include <string.h>

static bool is_user(struct hbr *h, const char *name)
{
	const struct hc_dir_principal *p = hc_dir_principal(h->dir, name, strlen(name));
	return p && p->kind == HC_KIND_USER;
}

static int by_token(struct hbr *h, const char *token, size_t len, char *user, char *session,
	bool *seen, const char **why)
{
	struct hc_token_claims tc;
	const struct hc_dir_session *ds;
	int rc = hc_token_verify(h->key, token, len, hc_now(), "mqtt", &tc, why);

	if (rc)
		return rc;
	if (!hc_name_valid(tc.sub) || !is_user(h, tc.sub)) {
		*why = "unknown-principal";
		return HUB_ERR_AUTH;
	}
	ds = hc_dir_session(h->dir, tc.sid);
	if (!ds) {
		/* the follower may not have shown a brand-new session yet */
		if (hc_now() - tc.iat > HBR_FRESH_TOKEN_S) {
			*why = "unknown-session";
			return HUB_ERR_AUTH;
		}
	} else if (strcmp(ds->principal, tc.sub) != 0) {
		*why = "session-mismatch";
		return HUB_ERR_AUTH;
	} else if (ds->revoked_at) {
		*why = "revoked";
		return HUB_ERR_REVOKED;
	} else if (hc_now() >= ds->expires_at) {
		*why = "session-expired";
		return HUB_ERR_EXPIRED;
	}
	snprintf(user, HC_NAME_MAX + 1, "%s", tc.sub);
	snprintf(session, HC_TOKEN_SID_MAX + 1, "%s", tc.sid);
	*seen = ds != NULL;
	return HUB_OK;
}

static int by_cookie(
	struct hbr *h, const char *cookie, char *user, char *session, bool *seen, const char **why)
{
	struct hc_session ss;
	int rc;

	if (!cookie || !cookie[0]) {
		*why = "no-credentials";
		return HUB_ERR_AUTH;
	}
	/* one indexed read on the loop thread: cheap, and only at CONNECT */
	rc = hc_store_session_by_secret(h->store, cookie, hc_now(), &ss);
	if (rc) {
		*why = rc == HUB_ERR_EXPIRED	? "session-expired"
		       : rc == HUB_ERR_REVOKED	? "revoked"
		       : rc == HUB_ERR_NOTFOUND ? "unknown-cookie"
						: "store-error";
		if (rc == HUB_ERR_DB)
			hc_warn("msg=\"session lookup failed\" err=\"%s\"",
				hc_store_errmsg(h->store));
		return rc;
	}
	if (!hc_name_valid(ss.principal) ||
		(hc_dir_principal(h->dir, ss.principal, strlen(ss.principal)) &&
			!is_user(h, ss.principal))) {
		*why = "not-a-user";
		return HUB_ERR_AUTH;
	}
	snprintf(user, HC_NAME_MAX + 1, "%s", ss.principal);
	snprintf(session, HC_TOKEN_SID_MAX + 1, "%s", ss.sid);
	*seen = hc_dir_session(h->dir, ss.sid) != NULL;
	return HUB_OK;
}

int hbr_auth__resolve(struct hbr *h, const char *cookie, const char *token, size_t toklen,
	char *user, char *session, bool *seen, const char **why)
{
	*why = NULL;
	user[0] = '\0';
	session[0] = '\0';
	*seen = false;
	/* an explicit token is the credential; the cookie only without one */
	if (token)
		return by_token(h, token, toklen, user, session, seen, why);
	return by_cookie(h, cookie, user, session, seen, why);
}

int hbr_auth__connect(
	struct hbr *h, struct hbr_sock *s, const char *token, size_t toklen, const char **why)
{
	return hbr_auth__resolve(
		h, s->cookie, token, toklen, s->user, s->session, &s->session_seen, why);
}

const char *hbr_auth__verdict(struct hbr *h, struct hbr_sock *s, int64_t now_ms)
{
	const struct hc_dir_principal *dp = hc_dir_principal(h->dir, s->user, strlen(s->user));
	const struct hc_dir_session *ds = hc_dir_session(h->dir, s->session);

	if (!ds) {
		if (s->session_seen)
			return "expired"; /* purged: it had ended */
		if (now_ms - s->auth_ms > HBR_UNSEEN_MS)
			return "kicked"; /* the store never showed this session */
		return NULL;
	}
	s->session_seen = true;
	if (!dp || strcmp(ds->principal, s->user) != 0)
		return "kicked";
	if (ds->revoked_at)
		return strcmp(ds->reason, "logout") == 0 ? "logout" : "kicked";
	if (hc_now() >= ds->expires_at)
		return "expired";
	return NULL;
}
