/* SPDX-License-Identifier: MIT */
/*
 * Calls (CONTRACT.md "Backends"): a client publishes on
 * svc/{service}/{method}/{sender} (the ACL let it: sender is itself, the
 * service exists), over MQTT 5 with a Response Topic under
 * users/{sender}/reply/ and Correlation Data; the service's processes
 * share $share/{service}/svc/{service}/# and answer on that topic, which
 * only the sender may read. Here, once per call (MESSAGE):
 *
 *  - a Response Topic anywhere else is refused (PUBACK 0x87): a caller
 *    cannot make a service publish into someone else's topics;
 *  - a retained call is refused: it would be handed to every process of
 *    the service that subscribes later, as a call again;
 *  - the caller is stamped (stamp.c): client hub-* user properties out,
 *    hub-user/-display/-role/-kind from the directory in;
 *  - a call to a service with no live connection is made inert (nobody may
 *    read it, hooks.c) and answered {"ok":false,"error":"unavailable"} on
 *    the Response Topic at once. Mosquitto itself answers a QoS 1 call
 *    that matches no subscription with PUBACK 0x10, but any subscription
 *    matching the topic counts for that, even one whose READ we deny (a
 *    user's '#'), and a QoS 0 call has no PUBACK: the answer covers both.
 */
#include "hauth.h"
#include "hc_log.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mqtt_protocol.h>
#include <stdlib.h>
#include <string.h>

#define UNAVAILABLE "{\"ok\":false,\"error\":\"unavailable\"}"

bool hauth_calls__reply_ok(const char *topic, const char *sender, size_t sender_len)
{
	const char *rest;
	int levels = 1;

	if (!topic || strncmp(topic, "users/", 6) != 0 ||
		strncmp(topic + 6, sender, sender_len) != 0 ||
		strncmp(topic + 6 + sender_len, "/reply/", 7) != 0)
		return false;
	rest = topic + 6 + sender_len + 7;
	if (!*rest)
		return false;
	for (const char *p = rest; *p; p++) {
		if (*p == '+' || *p == '#')
			return false;
		if (*p == '/') {
			/* no empty level, at most users/x/reply/a/b/c */
			if (p == rest || p[-1] == '/' || !p[1] || ++levels > 3)
				return false;
		}
	}
	return true;
}

bool hauth_calls__service_live(struct hauth *h, const char *service)
{
	/* a service's name is no user's or device's (one namespace): its live
	 * connections are its processes */
	struct hauth_principal *p = hauth_clients__principal(h, service);
	return p && p->live > 0;
}

int hauth_calls__answer(const char *reply, const void *corr, uint16_t corr_len, const char *json)
{
	mosquitto_property *props = NULL;
	size_t len = strlen(json);
	void *buf;
	int rc;

	if (corr && mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr,
			    corr_len) != MOSQ_ERR_SUCCESS) {
		mosquitto_property_free_all(&props);
		return MOSQ_ERR_NOMEM;
	}
	buf = mosquitto_malloc(len ? len : 1);
	if (!buf) {
		mosquitto_property_free_all(&props);
		return MOSQ_ERR_NOMEM;
	}
	memcpy(buf, json, len);
	/* clientid NULL: fanned out with a READ check per subscriber, so only
	 * the one the reply topic belongs to gets it */
	rc = mosquitto_broker_publish(NULL, reply, (int)len, buf, 1, false, props);
	if (rc != MOSQ_ERR_SUCCESS) {
		mosquitto_free(buf);
		mosquitto_property_free_all(&props);
	}
	return rc;
}

static int refuse(struct hauth *h, struct hauth_client *c, const char *topic, const char *why)
{
	char t[160], id[96];
	h->stats.calls_refused++;
	h->stats.acl_denied_write++;
	hc_info("%s/%s | call | denied topic=\"%s\" rule=\"%s\"",
		hc_log_safe(c ? (c->ctx ? hauth_clientid__external(c->id) : c->id) : "-", id,
			sizeof(id)),
		c ? c->name : "-", hc_log_safe(topic, t, sizeof(t)), why);
	return MOSQ_ERR_ACL_DENIED;
}

int hauth_calls__message(struct hauth *h, struct hauth_client *c, struct mosquitto_evt_message *ed)
{
	/* svc/{service}/{method}/{sender}: the WRITE check confirmed the shape
	 * for everyone but the hub's own identity */
	const char *service = ed->topic + 4, *method, *sender;
	char svc[HC_NAME_MAX + 1], *reply = NULL;
	size_t slen;
	int rc = MOSQ_ERR_SUCCESS;

	method = strchr(service, '/');
	sender = method ? strchr(method + 1, '/') : NULL;
	if (!sender || strchr(sender + 1, '/') || (size_t)(method - service) > HC_NAME_MAX ||
		!strncmp(method, "/hook/", 6))
		return MOSQ_ERR_SUCCESS; /* not a call ($hub only gets here) */
	memcpy(svc, service, (size_t)(method - service));
	svc[method - service] = '\0';
	sender++;
	slen = strlen(sender);
	if (ed->retain)
		return refuse(h, c, ed->topic, "a call cannot be retained");
	mosquitto_property_read_string(ed->properties, MQTT_PROP_RESPONSE_TOPIC, &reply, false);
	if (reply && !hauth_calls__reply_ok(reply, sender, slen)) {
		free(reply);
		return refuse(h, c, ed->topic,
			"the Response Topic of a call must be under users/{sender}/reply/");
	}
	if (hauth_stamp__message(h, ed, sender)) {
		free(reply);
		return refuse(h, c, ed->topic, "out of memory stamping the caller");
	}
	h->stats.calls++;
	if (!hauth_calls__service_live(h, svc)) {
		void *corr = NULL;
		uint16_t corr_len = 0;
		h->stats.calls_unavailable++;
		if (hauth_hooks__make_inert(h, ed))
			rc = refuse(h, c, ed->topic, "out of memory");
		else if (reply) {
			mosquitto_property_read_binary(ed->properties, MQTT_PROP_CORRELATION_DATA,
				&corr, &corr_len, false);
			hauth_calls__answer(reply, corr, corr_len, UNAVAILABLE);
			free(corr);
		}
		hc_debug("msg=\"call to a service with no connection\" service=%s sender=%s", svc,
			sender);
	}
	free(reply);
	return rc;
}
