/* SPDX-License-Identifier: MIT */
/* POST /api/token: a fresh MQTT token for the cookie's session (how a
 * browser opens MQTT over WebSocket). */
#include "hc_err.h"
#include "hc_log.h"
#include "hc_token.h"
#include "hc_util.h"
#include "hub.h"
#include "routes.h"
#include "session.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

int hub_route_token(struct hub *h, struct hub_conn *c)
{
	struct hc_session s;
	char token[HC_TOKEN_MAX];
	int64_t now = hc_now(), exp;
	cJSON *o;
	int rc;

	if (hub_session_require(h, c, &s))
		return 0;
	exp = now + hc_cfg_int(&h->cfg, HC_CFG_TOKEN_TTL);
	if (exp > s.expires_at)
		exp = s.expires_at;
	rc = hc_token_mint(h->key, "mqtt", s.principal, s.sid, now, exp, token, sizeof(token));
	o = rc ? NULL : cJSON_CreateObject();
	if (!o || !cJSON_AddStringToObject(o, "token", token) ||
		!cJSON_AddNumberToObject(o, "expires_at", (double)exp)) {
		hc_err("msg=\"cannot mint token\" err=%s", hub_strerror(rc ? rc : HUB_ERR_NOMEM));
		hub_http_error(c, 500, "internal", "the token could not be made");
	} else {
		hub_http_json(c, 200, o);
		hc_debug("msg=token user=%s sid=%s addr=%s", s.principal, s.sid, c->addr);
	}
	cJSON_Delete(o);
	OPENSSL_cleanse(token, sizeof(token));
	return 0;
}
