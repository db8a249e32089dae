/* SPDX-License-Identifier: MIT */
/*
 * The body of POST /api/publish: {"room"|"user": name, "event": event,
 * "data": any JSON}. Parsed and checked here, apart from the route, so the
 * fuzzer can drive it. Pure; thread-safe.
 */
#ifndef HUB_PUBLISH_REQ_H
#define HUB_PUBLISH_REQ_H

#include <stdbool.h>
#include <stddef.h>

#include "hc_names.h"

struct hub_publish_req {
	bool to_room;		      /* "room" given (else "user") */
	char target[HC_NAME_MAX + 1]; /* the room or user name */
	char event[HC_NAME_MAX + 1];  /* 1-64 bytes of UTF-8 (hc_event_valid_n) */
	char *payload;		      /* owned: "data" printed as compact JSON */
	size_t payload_len;
};

/*
 * Parse body (len bytes, strict JSON: json.h). HUB_OK with out filled;
 * HUB_ERR_INVAL with *why, a short static text for the client;
 * HUB_ERR_NOMEM. Free with hub_publish_req_free (also after an error).
 */
int hub_publish_req_parse(
	const char *body, size_t len, struct hub_publish_req *out, const char **why);
void hub_publish_req_free(struct hub_publish_req *r);

#endif
