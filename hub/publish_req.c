/* SPDX-License-Identifier: MIT */
/* POST /api/publish body parsing (publish_req.h). */
#include "publish_req.h"
#include "hc_err.h"
#include "json.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

int hub_publish_req_parse(
	const char *body, size_t len, struct hub_publish_req *out, const char **why)
{
	cJSON *j = NULL, *room, *user, *event, *data;
	const char *target;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = hub_json_parse(body, len, &j, why);
	if (rc)
		return rc;
	rc = HUB_ERR_INVAL;
	if (!cJSON_IsObject(j)) {
		*why = "the body must be a JSON object";
		goto out;
	}
	room = cJSON_GetObjectItemCaseSensitive(j, "room");
	user = cJSON_GetObjectItemCaseSensitive(j, "user");
	event = cJSON_GetObjectItemCaseSensitive(j, "event");
	data = cJSON_GetObjectItemCaseSensitive(j, "data");
	if ((room && user) || (!room && !user) || (room && !cJSON_IsString(room)) ||
		(user && !cJSON_IsString(user))) {
		*why = "give exactly one of \"room\" or \"user\"";
		goto out;
	}
	target = room ? room->valuestring : user->valuestring;
	if (!hc_name_valid(target)) {
		*why = room ? "invalid room name" : "invalid user name";
		goto out;
	}
	if (!cJSON_IsString(event) ||
		!hc_event_valid_n(event->valuestring, strlen(event->valuestring))) {
		*why = "\"event\" must be 1-64 bytes of UTF-8 without / + # or control characters";
		goto out;
	}
	if (!data) {
		*why = "\"data\" is missing (use null for none)";
		goto out;
	}
	out->to_room = room != NULL;
	memcpy(out->target, target, strlen(target) + 1); /* valid names fit */
	memcpy(out->event, event->valuestring, strlen(event->valuestring) + 1);
	out->payload = cJSON_PrintUnformatted(data);
	if (!out->payload) {
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	out->payload_len = strlen(out->payload);
	rc = HUB_OK;
out:
	cJSON_Delete(j);
	return rc;
}

void hub_publish_req_free(struct hub_publish_req *r)
{
	if (r->payload)
		cJSON_free(r->payload);
	r->payload = NULL;
	r->payload_len = 0;
}
