/* SPDX-License-Identifier: MIT */
/* Service-key or admin-cookie authorization for backend routes. */
#include "actor.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "http.h"
#include "hub.h"
#include "session.h"

#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

/* refused keys come from unauthenticated clients: rate-limited lines */
static struct hc_log_limit lim_key = HC_LOG_LIMIT("key_refused");

/* The service key of an Authorization header (n > 0 bytes copied into
 * auth): HUB_OK with its name, or the error response prepared. */
static int key_check(
	struct hub *h, struct hub_conn *c, char *auth, int n, char name[HC_NAME_MAX + 1])
{
	struct hc_principal p;
	int rc;

	if (n < 8 || strncasecmp(auth, "Bearer ", 7) != 0) {
		hub_http_error(c, 401, "unauthorized", "use Authorization: Bearer <service key>");
		return HUB_ERR_AUTH;
	}
	rc = hc_store_servicekey_check(h->store, auth + 7, name);
	if (rc == HUB_ERR_AUTH) {
		hc_log_limited(
			&lim_key, HC_LOG_INFO, "msg=\"service key refused\" addr=%s", c->addr);
		hub_http_error(c, 401, "unauthorized", "unknown service key");
		return rc;
	}
	if (rc) {
		hub_http_error(c, 503, "unavailable", "the store could not be read; try again");
		return rc;
	}
	/* a key's name is the sender of what it publishes: a key made
	 * before names were shared must not speak as a user or device */
	if (hc_store_principal_get(h->store, name, &p, NULL, 0) == HUB_OK) {
		hc_warn("msg=\"service key named like a principal refused\" key=%s", name);
		hub_http_error(c, 403, "forbidden",
			"this service key is named like a user or device; make a key "
			"with another name");
		return HUB_ERR_DENIED;
	}
	return HUB_OK;
}

int hub_service_require(struct hub *h, struct hub_conn *c, char name[HC_NAME_MAX + 1])
{
	char auth[128];
	int n = lws_hdr_copy(c->wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
	int rc;

	if (n <= 0) {
		/* an admin's cookie is not enough here: only a backend acts
		 * for an app's users */
		hub_http_error(c, 401, "unauthorized",
			"a service key is required: Authorization: Bearer <service key>");
		return HUB_ERR_AUTH;
	}
	rc = key_check(h, c, auth, n, name);
	OPENSSL_cleanse(auth, sizeof(auth));
	return rc;
}

int hub_actor_require(struct hub *h, struct hub_conn *c, char name[HC_NAME_MAX + 1])
{
	char auth[128];
	struct hc_session s;
	struct hc_principal p;
	int n = lws_hdr_copy(c->wsi, auth, sizeof(auth), WSI_TOKEN_HTTP_AUTHORIZATION);
	int rc;

	if (n > 0) {
		rc = key_check(h, c, auth, n, name);
		OPENSSL_cleanse(auth, sizeof(auth));
		return rc;
	}
	if (!c->has_cookie) {
		hub_http_error(c, 401, "unauthorized",
			"a service key (Authorization: Bearer) or an admin session is required");
		return HUB_ERR_AUTH;
	}
	if (hub_session_require(h, c, &s))
		return HUB_ERR_AUTH;
	rc = hc_store_principal_get(h->store, s.principal, &p, NULL, 0);
	if (rc || strcmp(p.role, "admin") != 0) {
		hub_http_error(c, 403, "forbidden", "this needs an admin");
		return HUB_ERR_DENIED;
	}
	memcpy(name, p.name, strlen(p.name) + 1);
	return HUB_OK;
}
