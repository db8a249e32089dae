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

/* The id a client sent (the broker's is scoped, clientid.c). */
static const char *log_id(const struct hauth_client *c)
{
	return c->ctx ? hauth_clientid__external(c->id) : c->id;
}

static int denied(
	struct hauth *h, struct hauth_client *c, const char *topic, int access, const char *rule)
{
	char t[160], id[96];
	switch (access) {
	case MOSQ_ACL_READ:
		h->stats.acl_denied_read++;
		/* per-delivery filtering of wildcard subscriptions is normal: quiet */
		hc_debug("%s/%s | read | denied topic=\"%s\" rule=\"%s\"",
			hc_log_safe(c ? log_id(c) : "-", id, sizeof(id)), c ? c->name : "-",
			hc_log_safe(topic, t, sizeof(t)), rule);
		break;
	case MOSQ_ACL_WRITE:
		h->stats.acl_denied_write++;
		hc_info("%s/%s | publish | denied topic=\"%s\" rule=\"%s\"",
			hc_log_safe(c ? log_id(c) : "-", id, sizeof(id)), c ? c->name : "-",
			hc_log_safe(topic, t, sizeof(t)), rule);
		break;
	default:
		h->stats.acl_denied_sub++;
		hc_info("%s/%s | subscribe | denied filter=\"%s\" rule=\"%s\"",
			hc_log_safe(c ? log_id(c) : "-", id, sizeof(id)), c ? c->name : "-",
			hc_log_safe(topic, t, sizeof(t)), rule);
		break;
	}
	return MOSQ_ERR_ACL_DENIED;
}

/* A session the hub no longer tracks as a connection: an offline stored
 * session (clean session off) the broker queues messages for or re-checks
 * when it comes back, or the will of one whose connection ended earlier
 * (an MQTT 5 Will Delay Interval, a stored session expiring). The hub
 * authenticated it when it connected; judge it by its username with
 * today's directory, and only if its identity is still the one that
 * opened it (clientid.c). */
/* A will allowed to go out: a retained one must fit the retained bounds. */
static int will_retained(struct hauth *h, struct hauth_client *c, const char *name,
	const char *topic, uint32_t payloadlen, bool retain)
{
	const char *why = retain ? hauth_retain__publish(h, name, topic, payloadlen) : NULL;
	if (why)
		return denied(h, c, topic, MOSQ_ACL_WRITE, why);
	return MOSQ_ERR_SUCCESS;
}

/* A will into a hooked room would reach its members unchecked (wills
 * skip MESSAGE, where events are held for the hook): refused. */
static int will_hooked(struct hauth *h, struct hauth_client *c, const char *topic)
{
	if (topic[0] == 'r' && hauth_hooks__service_of(h, topic))
		return denied(h, c, topic, MOSQ_ACL_WRITE,
			"a will cannot go into a hooked room (it would skip the hook)");
	return MOSQ_ERR_SUCCESS;
}

static int untracked(struct hauth *h, struct mosquitto *client, const char *topic, int access,
	uint32_t payloadlen, bool retain)
{
	const char *user = mosquitto_client_username(client);
	const char *problem;
	struct hc_acl_decision od = {.explain = false};

	if (!user || (access != MOSQ_ACL_READ && access != MOSQ_ACL_WRITE))
		return denied(h, NULL, topic, access, "connection not authenticated by the hub");
	/* a link's stored session (its bridge is down): what it would carry
	 * waits for it (a QoS 1 room event survives a link's restart), up to
	 * the broker's max_queued_messages; a link has no will */
	if (!strcmp(user, HC_LINK_PRINCIPAL))
		return h->link_enabled && access == MOSQ_ACL_READ
			       ? MOSQ_ERR_SUCCESS
			       : denied(h, NULL, topic, access, "links carry no will");
	problem = hauth_clientid__stored_problem(h, mosquitto_client_id(client), user);
	if (problem)
		return denied(h, NULL, topic, access, problem);
	if (access == MOSQ_ACL_WRITE) {
		struct hauth_principal *p = hauth_clients__principal(h, user);
		if (!hauth_presence__will_ok(h, user, p ? p->live : 0, topic))
			return denied(h, NULL, topic, access,
				"will held back: other connections of this principal are live");
	}
	hc_acl_check(h->dir, user, topic, strlen(topic),
		access == MOSQ_ACL_READ ? HC_ACL_READ : HC_ACL_WRITE, &od);
	if (!od.allow)
		return denied(h, NULL, topic, access, od.rule);
	if (access == MOSQ_ACL_WRITE) {
		int rc = will_hooked(h, NULL, topic);
		return rc ? rc : will_retained(h, NULL, user, topic, payloadlen, retain);
	}
	if (!hauth_limits__stored_queue(h, user, mosquitto_client_id(client)))
		return denied(h, NULL, topic, access, "too many stored sessions of this identity");
	return MOSQ_ERR_SUCCESS;
}

int hauth_acl__check(struct hauth *h, struct mosquitto *client, const char *topic, int access,
	const void *payload, uint32_t payloadlen, bool retain)
{
	struct hauth_client *c;
	struct hc_acl_decision d = {.explain = false};
	int access_hc;

	if (!topic)
		return MOSQ_ERR_ACL_DENIED;
	if (access == MOSQ_ACL_READ) {
		/* a held event (hooks.c) or a call nobody can take reaches
		 * nobody; verdicts are the hub's to read, not even its own
		 * processes' */
		if (hauth_hooks__inert(h, payload, payloadlen))
			return MOSQ_ERR_ACL_DENIED;
		if (topic[0] == '$' && !strncmp(topic, "$hub/verdict/", 13))
			return MOSQ_ERR_ACL_DENIED;
	}
	c = hauth_clients__find(h, client);
	if (!c)
		return untracked(h, client, topic, access, payloadlen, retain);
	/* another broker's bridge carries the hub's traffic, checked where it
	 * entered and again at each delivery to a client (link.c) */
	if (c->kind == HAUTH_LINK) {
		/* its bridge went down a moment ago (the entry waits for the
		 * next reap): a delivery now is for the link's stored session,
		 * as it is once the entry is gone (untracked) */
		if (c->gone && access == MOSQ_ACL_READ && !mosquitto_client_clean_session(client))
			return untracked(h, client, topic, access, payloadlen, retain);
		return c->gone || c->end_reason ? MOSQ_ERR_ACL_DENIED : MOSQ_ERR_SUCCESS;
	}
	if (c->gone && access == MOSQ_ACL_READ && !mosquitto_client_clean_session(client)) {
		/* the connection ended a moment ago (the entry waits for the
		 * next reap): a delivery now is for the stored session it left */
		return untracked(h, client, topic, access, payloadlen, retain);
	}
	if (c->gone || c->replaced) {
		/* only the will of an ended (or taken over) connection gets here */
		if (access != MOSQ_ACL_WRITE)
			return MOSQ_ERR_ACL_DENIED;
		c->will_seen = true;
		/* a replaced connection still counts as live until its DISCONNECT */
		if (!hauth_presence__will_ok(h, c->name, c->owner->live - (c->gone ? 0 : 1), topic))
			return denied(h, c, topic, access,
				"will held back: other connections of this principal are live");
	} else if (c->end_reason && access != MOSQ_ACL_SUBSCRIBE) {
		/* being disconnected by the hub: nothing more in or out. A
		 * SUBSCRIBE check here is the broker re-checking the stored
		 * subscriptions of a persistent session it is kicking (the
		 * kicked client may come back to them): judged as usual, so a
		 * session keeps what its identity may still read. */
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
		hauth_limits__unsubscribe(c, topic);
		return MOSQ_ERR_SUCCESS;
	default:
		return MOSQ_ERR_ACL_DENIED;
	}
	hc_acl_check(h->dir, c->name, topic, strlen(topic), access_hc, &d);
	if (!d.allow)
		return denied(h, c, topic, access, d.rule);
	if ((c->gone || c->replaced) && access == MOSQ_ACL_WRITE) {
		int rc = will_hooked(h, c, topic);
		return rc ? rc : will_retained(h, c, c->name, topic, payloadlen, retain);
	}
	if (access == MOSQ_ACL_READ && !hauth_limits__deliver(h, c, strlen(topic), payloadlen))
		return MOSQ_ERR_ACL_DENIED; /* counted and logged per episode there */
	if (access == MOSQ_ACL_SUBSCRIBE && !c->end_reason &&
		!hauth_limits__subscribe(h, c, client, topic))
		return denied(h, c, topic, access, "too many subscriptions on this connection");
	return MOSQ_ERR_SUCCESS;
}
