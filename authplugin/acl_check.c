/* SPDX-License-Identifier: MIT */
/*
 * MOSQ_EVT_ACL_CHECK: the per-message path. One hash lookup for the
 * connection, then hc_acl_check on the in-memory directory. Returns only
 * MOSQ_ERR_SUCCESS or MOSQ_ERR_ACL_DENIED (any other code would disconnect
 * the publisher of the message being delivered).
 */
#include "hauth.h"
#include "hauth_presence.h"
#include "hc_log.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <string.h>

static int denied(
	struct hauth *h, struct hauth_client *c, const char *topic, int access, const char *rule)
{
	char t[160], id[96];
	switch (access) {
	case MOSQ_ACL_READ:
		h->stats.acl_denied_read++;
		/* per-delivery filtering of wildcard subscriptions is normal: quiet */
		hc_debug("%s/%s | read | denied topic=\"%s\" rule=\"%s\"",
			hc_log_safe(c ? c->id : "-", id, sizeof(id)), c ? c->name : "-",
			hc_log_safe(topic, t, sizeof(t)), rule);
		break;
	case MOSQ_ACL_WRITE:
		h->stats.acl_denied_write++;
		hc_info("%s/%s | publish | denied topic=\"%s\" rule=\"%s\"",
			hc_log_safe(c ? c->id : "-", id, sizeof(id)), c ? c->name : "-",
			hc_log_safe(topic, t, sizeof(t)), rule);
		break;
	default:
		h->stats.acl_denied_sub++;
		hc_info("%s/%s | subscribe | denied filter=\"%s\" rule=\"%s\"",
			hc_log_safe(c ? c->id : "-", id, sizeof(id)), c ? c->name : "-",
			hc_log_safe(topic, t, sizeof(t)), rule);
		break;
	}
	return MOSQ_ERR_ACL_DENIED;
}

int hauth_acl__check(struct hauth *h, struct mosquitto *client, const char *topic, int access)
{
	struct hauth_client *c = hauth_clients__find(h, client);
	struct hc_acl_decision d = {.explain = false};
	int access_hc;

	if (!topic)
		return MOSQ_ERR_ACL_DENIED;
	if (c && c->gone && !c->replaced && access == MOSQ_ACL_READ &&
		!mosquitto_client_clean_session(client)) {
		/* the connection ended, but its persistent session lives on in
		 * the same broker context, and the entry is reaped only on a
		 * later tick: a message queued for the session meanwhile is
		 * judged like any offline session's (denying it here lost every
		 * QoS 1 message published in the first ~100 ms after a
		 * disconnect) */
		c = NULL;
	}
	if (!c) {
		/* an offline persistent session (clean session off): the broker
		 * queues messages for it, or re-checks its queue when it comes
		 * back. It was authenticated by us when it connected; judge the
		 * message by its username with today's directory (a deleted or
		 * revoked principal no longer reads, and cannot reconnect) */
		const char *user = mosquitto_client_username(client);
		struct hc_acl_decision od = {.explain = false};
		if (access != MOSQ_ACL_READ || !user)
			return denied(
				h, NULL, topic, access, "connection not authenticated by the hub");
		hc_acl_check(h->dir, user, topic, strlen(topic), HC_ACL_READ, &od);
		if (!od.allow)
			return denied(h, NULL, topic, access, od.rule);
		return MOSQ_ERR_SUCCESS;
	}
	if (c->gone || c->replaced) {
		/* only the will of an ended connection gets here */
		if (access != MOSQ_ACL_WRITE)
			return MOSQ_ERR_ACL_DENIED;
		if (!hauth_presence__will_ok(h, c))
			return denied(h, c, topic, access,
				"will held back: other connections of this principal are live");
	} else if (c->end_reason) {
		/* being disconnected by the hub: nothing more in or out */
		return denied(h, c, topic, access, "connection is being ended");
	}
	switch (access) {
	case MOSQ_ACL_READ:
		access_hc = HC_ACL_READ;
		break;
	case MOSQ_ACL_WRITE:
		access_hc = HC_ACL_WRITE;
		c->active_ms = hc_mono_ms();
		break;
	case MOSQ_ACL_SUBSCRIBE:
		access_hc = HC_ACL_SUBSCRIBE;
		c->active_ms = hc_mono_ms();
		break;
	case MOSQ_ACL_UNSUBSCRIBE:
		return MOSQ_ERR_SUCCESS;
	default:
		return MOSQ_ERR_ACL_DENIED;
	}
	hc_acl_check(h->dir, c->name, topic, strlen(topic), access_hc, &d);
	if (!d.allow)
		return denied(h, c, topic, access, d.rule);
	return MOSQ_ERR_SUCCESS;
}
