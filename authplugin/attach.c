/* SPDX-License-Identifier: MIT */
/*
 * Virtual connections: the Socket.IO gateway (hub-bridge, connected as the
 * hub's service identity) tells us about each socket it holds for a user,
 * so presence counts a user with a phone on MQTT and a tab on Socket.IO as
 * one, and a Socket.IO disconnect gives the same notices as an MQTT one.
 *
 *   $hub/presence/attach  {"conn":"<id>","principal":"<name>","sid":"<sid>"}
 *   $hub/presence/detach  {"conn":"<id>","reason":"clean|network|keepalive|
 *                                                  logout|kicked|expired"}
 *
 * Connection ids are the gateway's own (1-64 printable bytes). When the
 * gateway's MQTT connection ends, all its sockets end with reason
 * "network" (after the presence grace, so a quick restart causes no churn).
 */
#include "hauth.h"
#include "hauth_presence.h"
#include "hc_log.h"

#include <cjson/cJSON.h>
#include <string.h>

static const char *const final_reasons[] = {"logout", "kicked", "expired"};
static const char *const other_reasons[] = {"clean", "network", "keepalive"};

/* A static string for a reason the gateway sent (never keep its buffer). */
static const char *reason_of(const char *s, bool *final)
{
	*final = false;
	for (size_t i = 0; s && i < 3; i++) {
		if (!strcmp(s, final_reasons[i])) {
			*final = true;
			return final_reasons[i];
		}
		if (!strcmp(s, other_reasons[i]))
			return other_reasons[i];
	}
	return "network";
}

static bool conn_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

void hauth_attach__message(struct hauth *h, struct hauth_client *from, const char *topic,
	const void *payload, size_t len)
{
	cJSON *j = cJSON_ParseWithLength(payload, len);
	const char *conn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "conn"));
	struct hauth_client *c;

	if (!conn_ok(conn)) {
		hc_warn("msg=\"gateway message without a valid conn\" topic=%s", topic);
		goto out;
	}
	c = hauth_clients__find_virtual(h, from->ctx, conn);
	if (!strcmp(topic, "$hub/presence/attach") || !strcmp(topic, "$hub/link/attach")) {
		const char *who =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "principal"));
		const char *sid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "sid"));
		if (c && !c->gone)
			goto out; /* repeated attach: idempotent */
		const struct hc_dir_principal *dp =
			who ? hc_dir_principal(h->dir, who, strlen(who)) : NULL;
		if (!dp || dp->kind == HC_KIND_SERVICE) {
			hc_warn("msg=\"gateway attach for an unknown principal\" conn=%s", conn);
			goto out;
		}
		/* reattached before reaping: the fresh entry replaces the gone
		 * one in the table (hauth_clients__add unlinks it). An edge's
		 * attach may be a device's (the gateway's sockets are users') */
		c = hauth_clients__add_virtual(h, from->ctx, conn, who, sid,
			from->kind == HAUTH_LINK && dp->kind == HC_KIND_DEVICE ? HAUTH_DEVICE
									       : HAUTH_USER);
		if (c)
			hc_info("%s/%s | connect | ok kind=socket.io via=%s", conn, who, from->id);
	} else if (!strcmp(topic, "$hub/presence/detach") || !strcmp(topic, "$hub/link/detach")) {
		const char *why =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reason"));
		bool final;
		const char *r = reason_of(why, &final);
		if (!c || c->gone)
			goto out;
		if (final)
			c->end_reason = r;
		else
			c->vreason = r;
		/* an edge's grace already ran: no second one here */
		c->link_detached = from->kind == HAUTH_LINK;
		hc_info("%s/%s | disconnect | reason=%s via=%s", conn, c->name, r, from->id);
		hauth_clients__gone(h, c);
	}
out:
	cJSON_Delete(j);
}
