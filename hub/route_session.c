/* SPDX-License-Identifier: MIT */
/* GET /api/session: who the cookie belongs to and the rooms they are in
 * (with each room's level and whether a backend checks its events).
 * Without a live session: 401, or 204 with ?optional=1 (the dashboard's
 * question at load, "am I signed in?", which is no error). */
#include "hc_err.h"
#include "hc_log.h"
#include "hc_names.h"
#include "hc_store.h"
#include "hub.h"
#include "routes.h"
#include "session.h"

#include <cjson/cJSON.h>
#include <libwebsockets.h>
#include <stdbool.h>
#include <string.h>

struct rooms_ctx {
	struct hc_store *store;
	cJSON *rooms;
};

static int add_room(void *ud, const struct hc_membership *m)
{
	struct rooms_ctx *x = ud;
	cJSON *r = cJSON_CreateObject();
	char hook[HC_NAME_MAX + 1] = "";

	/* a member learns that its events are checked (its emits then wait
	 * for the verdict), not by which service */
	if (hc_store_room_hook(x->store, m->room, hook) != HUB_OK)
		hook[0] = '\0';
	if (!r || !cJSON_AddStringToObject(r, "room", m->room) ||
		!cJSON_AddStringToObject(r, "level", hc_level_name(m->level)) ||
		!cJSON_AddBoolToObject(r, "hooked", hook[0] != '\0') ||
		!cJSON_AddItemToArray(x->rooms, r)) {
		cJSON_Delete(r);
		return HUB_ERR_NOMEM;
	}
	return 0;
}

int hub_route_session(struct hub *h, struct hub_conn *c)
{
	struct hc_session s;
	struct hc_principal p;
	cJSON *o = NULL, *u, *rooms;
	char v[32];
	/* lws 4.1: the value after "optional=", or NULL when absent (or when
	 * the whole "name=value" does not fit in v) */
	const char *opt = lws_get_urlarg_by_name(c->wsi, "optional=", v, (int)sizeof(v));
	bool optional = opt && !strcmp(opt, "1");
	int rc;

	if (optional ? hub_session_optional(h, c, &s) : hub_session_require(h, c, &s))
		return 0;
	rc = hc_store_principal_get(h->store, s.principal, &p, NULL, 0);
	if (rc == HUB_ERR_NOTFOUND) {
		if (optional)
			hub_http_reply(c, 204, NULL, NULL, 0);
		else
			hub_http_error(c, 401, "unauthorized", "no live session; log in again");
		return 0;
	}
	o = cJSON_CreateObject();
	u = o ? cJSON_AddObjectToObject(o, "user") : NULL;
	rooms = o ? cJSON_AddArrayToObject(o, "rooms") : NULL;
	if (!rc && (!u || !rooms || !cJSON_AddStringToObject(u, "username", p.name) ||
			   !cJSON_AddStringToObject(u, "display_name", p.display_name) ||
			   !cJSON_AddStringToObject(u, "role", p.role)))
		rc = HUB_ERR_NOMEM;
	if (!rc) {
		struct rooms_ctx x = {h->store, rooms};
		rc = hc_store_membership_list(h->store, NULL, s.principal, add_room, &x);
	}
	if (rc) {
		hc_err("msg=\"session reply failed\" err=%s", hub_strerror(rc));
		hub_http_error(c, rc == HUB_ERR_NOMEM ? 500 : 503,
			rc == HUB_ERR_NOMEM ? "internal" : "unavailable",
			"the session could not be read; try again");
	} else {
		hub_http_json(c, 200, o);
	}
	cJSON_Delete(o);
	return 0;
}
