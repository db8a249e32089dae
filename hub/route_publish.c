/* SPDX-License-Identifier: MIT */
/*
 * POST /api/publish {"room"|"user", "event", "data"}: a backend (service
 * key) or an admin pushes an event into a room (rooms/{room}/ev/{event}/
 * {actor}) or to one user's inbox (users/{user}/inbox/{event}/{actor}),
 * delivered by the broker like any other event (and stored as history when
 * the event is a history event). Answered once the broker acknowledged it.
 */
#include "actor.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_names.h"
#include "hc_store.h"
#include "hc_util.h"
#include "hub.h"
#include "mqtt.h"
#include "publish_req.h"
#include "routes.h"

#include <cjson/cJSON.h>
#include <string.h>

/* The broker acknowledged (or not): answer the parked request. */
static void published(struct hub *h, uint64_t req_id, bool ok)
{
	struct hub_conn *c = hub_http_resume(h, req_id);
	cJSON *o;
	if (!c)
		return; /* the client went away */
	if (!ok) {
		hub_http_error(c, 504, "timeout", "the broker did not acknowledge the event");
		hub_http_send(c);
		return;
	}
	o = cJSON_CreateObject();
	if (o && cJSON_AddTrueToObject(o, "ok") && cJSON_AddStringToObject(o, "topic", c->xtopic) &&
		cJSON_AddNumberToObject(o, "ts", (double)hc_now_ms()))
		hub_http_json(c, 200, o);
	else
		hub_http_error(c, 500, "internal", "out of memory");
	cJSON_Delete(o);
	hub_http_send(c);
}

int hub_route_publish(struct hub *h, struct hub_conn *c)
{
	char actor[HC_NAME_MAX + 1];
	struct hub_publish_req req;
	const char *why = NULL;
	struct hc_principal p;
	uint64_t id;
	int rc;

	if (hub_actor_require(h, c, actor))
		return 0;
	rc = hub_publish_req_parse((const char *)c->body.buf.data, c->body.buf.len, &req, &why);
	if (rc == HUB_ERR_NOMEM) {
		hub_http_error(c, 500, "internal", "out of memory");
		goto out;
	}
	if (rc) {
		hub_http_error(c, 400, "bad_request", why);
		goto out;
	}
	rc = req.to_room ? hc_store_room_exists(h->store, req.target)
			 : hc_store_principal_get(h->store, req.target, &p, NULL, 0);
	if (rc == HUB_ERR_NOTFOUND) {
		hub_http_error(c, 404, "not_found", req.to_room ? "no such room" : "no such user");
		goto out;
	}
	if (rc) {
		hub_http_error(c, 503, "unavailable", "the store could not be read; try again");
		goto out;
	}
	if (hc_fmt(c->xtopic, sizeof(c->xtopic),
		    req.to_room ? "rooms/%s/ev/%s/%s" : "users/%s/inbox/%s/%s", req.target,
		    req.event, actor)) {
		hub_http_error(c, 400, "bad_request", "topic too long");
		goto out;
	}
	id = hub_http_wait(h, c, NULL);
	rc = hub_mqtt_publish(h->mqtt, c->xtopic, req.payload, req.payload_len, id, published);
	if (rc) {
		/* not parked after all: answer now */
		c = hub_http_resume(h, id);
		if (c)
			hub_http_error(c, 503, "unavailable",
				rc == HUB_ERR_BUSY ? "the broker is not reachable; try again"
						   : "the event could not be published");
		goto out;
	}
	hc_info("msg=published actor=%s topic=\"%s\" bytes=%zu", actor, c->xtopic, req.payload_len);
out:
	hub_publish_req_free(&req);
	return 0;
}
