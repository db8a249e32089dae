/* SPDX-License-Identifier: MIT */
/*
 * Deliveries (delivery-scoped sharing, see hc_delivery.h), for backends
 * (service key) and admins:
 *   POST   /api/deliveries       {"id","vehicle","customer"} -> 201
 *   DELETE /api/deliveries/{id}  -> 204 (the customer stops receiving at once)
 */
#include "actor.h"
#include "hc_delivery.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hub.h"
#include "json.h"
#include "routes.h"
#include "syncwait.h"

#include <cjson/cJSON.h>
#include <string.h>

int hub_route_delivery_open(struct hub *h, struct hub_conn *c)
{
	char actor[HC_NAME_MAX + 1], room[HC_NAME_MAX + 1];
	cJSON *j = NULL, *id, *vehicle, *customer, *o;
	const char *what = NULL, *why = NULL;
	int rc;

	if (hub_actor_require(h, c, actor))
		return 0;
	rc = hub_json_parse((const char *)c->body.buf.data, c->body.buf.len, &j, &why);
	if (rc == HUB_ERR_INVAL) {
		hub_http_error(c, 400, "bad_request", why);
		return 0;
	}
	if (rc) {
		hub_http_error(c, 500, "internal", "out of memory");
		return 0;
	}
	id = cJSON_GetObjectItemCaseSensitive(j, "id");
	vehicle = cJSON_GetObjectItemCaseSensitive(j, "vehicle");
	customer = cJSON_GetObjectItemCaseSensitive(j, "customer");
	if (!cJSON_IsString(id) || !cJSON_IsString(vehicle) || !cJSON_IsString(customer) ||
		hc_delivery_room(id->valuestring, room, sizeof(room)) ||
		!hc_name_valid(vehicle->valuestring) || !hc_name_valid(customer->valuestring)) {
		hub_http_error(c, 400, "bad_request",
			"expected {\"id\",\"vehicle\",\"customer\"}: names of A-Za-z0-9._-");
		goto out;
	}
	rc = hc_delivery_open(
		h->store, id->valuestring, vehicle->valuestring, customer->valuestring, &what);
	if (rc == HUB_ERR_NOTFOUND) {
		hub_http_error(c, 404, "not_found",
			what && !strcmp(what, "vehicle") ? "no such device" : "no such user");
	} else if (rc == HUB_ERR_EXISTS) {
		hub_http_error(c, 409, "conflict", "this delivery is already open");
	} else if (rc) {
		hub_http_error(c, 503, "unavailable", "the store could not be written; try again");
	} else {
		hc_info("msg=\"delivery opened\" actor=%s id=%s vehicle=%s customer=%s", actor,
			id->valuestring, vehicle->valuestring, customer->valuestring);
		o = cJSON_CreateObject();
		if (o && cJSON_AddStringToObject(o, "id", id->valuestring) &&
			cJSON_AddStringToObject(o, "room", room) &&
			cJSON_AddStringToObject(o, "vehicle", vehicle->valuestring) &&
			cJSON_AddStringToObject(o, "customer", customer->valuestring))
			hub_http_json(c, 201, o);
		else
			hub_http_error(c, 500, "internal", "out of memory");
		cJSON_Delete(o);
		hub_syncwait_reply(h, c); /* the customer reads when we answer */
	}
out:
	cJSON_Delete(j);
	return 0;
}

int hub_route_delivery_close(struct hub *h, struct hub_conn *c)
{
	char actor[HC_NAME_MAX + 1], room[HC_NAME_MAX + 1];
	const char *id = c->path + strlen("/api/deliveries/");
	int rc;

	if (hub_actor_require(h, c, actor))
		return 0;
	if (hc_delivery_room(id, room, sizeof(room))) {
		hub_http_error(c, 404, "not_found", "no such delivery");
		return 0;
	}
	rc = hc_delivery_close(h->store, id);
	if (rc == HUB_ERR_NOTFOUND) {
		hub_http_error(c, 404, "not_found", "no such delivery");
	} else if (rc) {
		hub_http_error(c, 503, "unavailable", "the store could not be written; try again");
	} else {
		hc_info("msg=\"delivery closed\" actor=%s id=%s", actor, id);
		hub_http_reply(c, 204, NULL, NULL, 0);
		hub_syncwait_reply(h, c); /* nothing more reaches the customer */
	}
	return 0;
}
