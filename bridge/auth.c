/* SPDX-License-Identifier: MIT */
/*
 * Who a socket is: resolved once, at the Socket.IO CONNECT, from the
 * `hub_sid` cookie of the Engine.IO handshake request (the store's session
 * of that cookie, like express-session + Passport's deserializeUser) or
 * from `auth: {token}` (the contract's MQTT token, checked like the broker
 * plugin checks it: signature, exp, typ "mqtt", and the session in the
 * directory). Afterwards hbr_auth__verdict tells, from the directory the
 * store follower keeps current, whether the socket may stay.
 *
 * TEST ONLY: the official Socket.IO / Engine.IO protocol conformance
 * suites connect without credentials. With sio_test_anonymous_token set,
 * a CONNECT that carries none (no auth token, no cookie) on a session
 * opened over a direct loopback connection is authenticated with that
 * token, through the same checks as any token (signature, exp, session
 * alive). The gateway refuses to start with it unless bind_address is a
 * loopback address, warns at start and on every such CONNECT, and never
 * applies it to a request a proxy relayed (hubd's front, X-Forwarded-For,
 * Forwarded, X-Real-IP, Via), so a proxy on the same host that publishes
 * the gateway does not publish the test identity.
 */
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <arpa/inet.h>
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

/* A loopback address in text (IPv4 127/8, ::1, ::ffff:127.x.y.z). */
static bool loopback(const char *a)
{
	unsigned char b[16];
	static const unsigned char v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (inet_pton(AF_INET, a, b) == 1)
		return b[0] == 127;
	if (inet_pton(AF_INET6, a, b) == 1)
		return !memcmp(b, v6lo, 16) || (!memcmp(b, mapped, 12) && b[12] == 127);
	return false;
}

static struct hc_log_limit lim_test = HC_LOG_LIMIT("sio_test_anonymous");

int hbr_auth__test_check(struct hbr *h, char *err, size_t errsz)
{
	const char *tok = hc_cfg_str(&h->cfg, HC_CFG_SIO_TEST_ANONYMOUS_TOKEN);
	const char *bind = hc_cfg_str(&h->cfg, HC_CFG_BIND_ADDRESS);

	if (tok && tok[0] && !loopback(bind)) {
		snprintf(err, errsz,
			"sio_test_anonymous_token is for tests on this host only: bind_address "
			"must be a loopback address (127.0.0.1, ::1), not %s",
			bind);
		return HUB_ERR_CONFIG;
	}
	return HUB_OK;
}

int hbr_auth__test_init(struct hbr *h, char *err, size_t errsz)
{
	const char *tok = hc_cfg_str(&h->cfg, HC_CFG_SIO_TEST_ANONYMOUS_TOKEN);
	struct hc_token_claims tc;
	const char *why = NULL;
	int rc;

	h->test_token = NULL;
	if (!tok || !tok[0])
		return HUB_OK;
	if ((rc = hbr_auth__test_check(h, err, errsz)) != HUB_OK)
		return rc;
	if (hc_token_verify(h->key, tok, strlen(tok), hc_now(), "mqtt", &tc, &why) ||
		!hc_name_valid(tc.sub)) {
		snprintf(err, errsz, "sio_test_anonymous_token is not a valid MQTT token now (%s)",
			why ? why : "bad subject");
		return HUB_ERR_CONFIG;
	}
	h->test_token = tok;
	snprintf(h->test_user, sizeof(h->test_user), "%s", tc.sub);
	hc_warn("msg=\"TEST ONLY: sio_test_anonymous_token is set: Socket.IO CONNECTs without "
		"credentials from this host are authenticated as %s. Never set it outside a "
		"test.\" user=%s",
		h->test_user, h->test_user);
	return HUB_OK;
}

const char *hbr_auth__test_token(struct hbr *h, struct hbr_sock *s)
{
	if (!h->test_token || !s->direct_local || s->cookie[0])
		return NULL;
	hc_log_limited(&lim_test, HC_LOG_WARN,
		"%s | connect | TEST ONLY: no credentials, authenticated with "
		"sio_test_anonymous_token as %s addr=%s",
		s->sock_id, h->test_user, s->addr);
	return h->test_token;
}

bool hbr_auth__direct_local(struct lws *wsi)
{
	char peer[64];
	const char *p = lws_get_peer_simple(wsi, peer, sizeof(peer));
	bool proxied;

	/* lws knows X-Real-IP and Via as headers of its own when built with
	 * the uncommon ones (Debian's is), else they are custom ones */
#if defined(LWS_WITH_HTTP_UNCOMMON_HEADERS) || defined(LWS_HTTP_HEADERS_ALL)
	proxied = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_X_REAL_IP) > 0 ||
		  lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_VIA) > 0;
#else
	proxied = lws_hdr_custom_length(wsi, "x-real-ip:", 10) > 0 ||
		  lws_hdr_custom_length(wsi, "via:", 4) > 0;
#endif
	proxied = proxied || lws_hdr_total_length(wsi, WSI_TOKEN_X_FORWARDED_FOR) > 0 ||
		  lws_hdr_custom_length(wsi, "forwarded:", 10) > 0 ||
		  lws_hdr_custom_length(wsi, "x-hub-front:", 12) > 0;
	return p && loopback(p) && !proxied;
}
