/* SPDX-License-Identifier: MIT */
/*
 * Sending: room events, inbox messages, typing notices, requests and
 * replies. Every QoS 1 publish but replies has an entry in the pending
 * table (pending.c).
 */
#include "hubio_int.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- publishing */

int hubio__map_mosq(int rc)
{
	switch (rc) {
	case MOSQ_ERR_SUCCESS:
		return HUBIO_OK;
	case MOSQ_ERR_NOMEM:
		return HUBIO_ENOMEM;
	case MOSQ_ERR_NO_CONN:
		return HUBIO_ENOTCONN;
	case MOSQ_ERR_PAYLOAD_SIZE:
	case MOSQ_ERR_OVERSIZE_PACKET:
		return HUBIO_ETOOBIG;
	case MOSQ_ERR_INVAL:
	case MOSQ_ERR_MALFORMED_UTF8:
		return HUBIO_EINVAL;
	default:
		return HUBIO_EPROTO;
	}
}

int hubio__payload_len(const char *data, size_t *len)
{
	if (!data) {
		if (*len && *len != HUBIO_STRLEN)
			return HUBIO_EINVAL;
		*len = 0;
		return HUBIO_OK;
	}
	if (*len == HUBIO_STRLEN)
		*len = strnlen(data, (size_t)HUBIO_PAYLOAD_MAX + 1);
	return *len > HUBIO_PAYLOAD_MAX ? HUBIO_ETOOBIG : HUBIO_OK;
}

/* QoS 1 publish with a pending entry for its PUBACK. */
int hubio__publish_tracked(struct hubio *h, const char *topic, const char *data, size_t len,
	const mosquitto_property *props, struct hubio__pending *p, int timeout_ms)
{
	int mid = 0, rc;

	if (h->npending >= h->pending_max)
		return HUBIO_EFULL;
	rc = mosquitto_publish_v5(h->mosq, &mid, topic, (int)len, data, 1, false, props);
	if (rc != MOSQ_ERR_SUCCESS)
		return hubio__map_mosq(rc);
	p->mid = mid;
	p->deadline = hubio__mono_ms() + (timeout_ms > 0 ? timeout_ms : HUBIO__DEFAULT_TIMEOUT_MS);
	rc = hubio__pending_add(h, p);
	hubio__wakeup(h);
	return rc;
}

static int emit_to(struct hubio *h, bool inbox, const char *target, const char *event,
	const char *data, size_t len, hubio_ack_fn ack_cb, void *ud, int timeout_ms)
{
	char topic[HUBIO__TOPIC_MAX];
	struct hubio__pending p = {.kind = HUBIO__P_EMIT, .ack_cb = ack_cb, .ud = ud};
	int rc;

	if (!h || !event || hubio__event_reserved(event) || timeout_ms < 0)
		return HUBIO_EINVAL;
	if ((rc = hubio__payload_len(data, &len)))
		return rc;
	rc = inbox ? hubio__topic_inbox(topic, sizeof(topic), target, event, h->username)
		   : hubio__topic_room_ev(topic, sizeof(topic), target, event, h->username);
	if (rc)
		return rc;
	hubio__lock(h);
	rc = h->up ? hubio__publish_tracked(h, topic, data, len, NULL, &p, timeout_ms)
		   : HUBIO_ENOTCONN;
	hubio__unlock(h);
	return rc;
}

HUBIO_API int hubio_emit(struct hubio *h, const char *room, const char *event, const char *data,
	size_t len, hubio_ack_fn ack_cb, void *ud, int timeout_ms)
{
	return emit_to(h, false, room, event, data, len, ack_cb, ud, timeout_ms);
}

HUBIO_API int hubio_emit_to_user(struct hubio *h, const char *user, const char *event,
	const char *data, size_t len, hubio_ack_fn ack_cb, void *ud, int timeout_ms)
{
	return emit_to(h, true, user, event, data, len, ack_cb, ud, timeout_ms);
}

HUBIO_API int hubio_typing(struct hubio *h, const char *room)
{
	static const char body[] = "{\"typing\":true}";
	char topic[HUBIO__TOPIC_MAX];
	int rc;

	if (!h)
		return HUBIO_EINVAL;
	if ((rc = hubio__topic_room_ev(topic, sizeof(topic), room, "typing", h->username)))
		return rc;
	hubio__lock(h);
	if (!h->up)
		rc = HUBIO_ENOTCONN;
	else if (!hubio__throttle_pass(&h->typing, room, hubio__mono_ms(), h->typing_interval_ms))
		rc = HUBIO_ETHROTTLED;
	else
		rc = hubio__map_mosq(mosquitto_publish_v5(
			h->mosq, NULL, topic, (int)strlen(body), body, 0, false, NULL));
	hubio__wakeup(h);
	hubio__unlock(h);
	return rc;
}

HUBIO_API int hubio_request(struct hubio *h, const char *room, const char *user, const char *event,
	const char *data, size_t len, hubio_reply_fn reply_cb, void *ud, int timeout_ms)
{
	char topic[HUBIO__TOPIC_MAX], rtopic[HUBIO__TOPIC_MAX];
	struct hubio__pending p = {.kind = HUBIO__P_REQUEST, .reply_cb = reply_cb, .ud = ud};
	mosquitto_property *props = NULL;
	int rc;

	if (!h || !event || !reply_cb || (!room) == (!user) || hubio__event_reserved(event) ||
		timeout_ms < 0)
		return HUBIO_EINVAL;
	if (h->protocol != 5)
		return HUBIO_ENOTSUP;
	if ((rc = hubio__payload_len(data, &len)))
		return rc;
	rc = room ? hubio__topic_room_ev(topic, sizeof(topic), room, event, h->username)
		  : hubio__topic_inbox(topic, sizeof(topic), user, event, h->username);
	if (rc || (rc = hubio__topic_reply_base(rtopic, sizeof(rtopic), h->username)))
		return rc;
	hubio__lock(h);
	hubio__random_bytes(&h->rng, p.corr, sizeof(p.corr));
	if (!h->up) {
		rc = HUBIO_ENOTCONN;
	} else if (mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, rtopic) ||
		   mosquitto_property_add_binary(
			   &props, MQTT_PROP_CORRELATION_DATA, p.corr, sizeof(p.corr))) {
		rc = HUBIO_ENOMEM;
	} else {
		rc = hubio__publish_tracked(h, topic, data, len, props, &p, timeout_ms);
	}
	hubio__unlock(h);
	mosquitto_property_free_all(&props);
	return rc;
}

HUBIO_API int hubio_reply_to(
	struct hubio *h, const struct hubio_reply *r, const char *data, size_t len)
{
	char topic[HUBIO__TOPIC_MAX];
	mosquitto_property *props = NULL;
	size_t tl;
	int rc;

	if (!h || !r || r->corr_len == 0 || r->corr_len > HUBIO__CORR_MAX)
		return HUBIO_EINVAL;
	tl = strnlen(r->topic, sizeof(r->topic));
	if (tl == sizeof(r->topic) || !hubio__topic_reply_base_ok(r->topic, tl))
		return HUBIO_EINVAL;
	if ((rc = hubio__payload_len(data, &len)))
		return rc;
	/* {response topic}/{me}: users/{requester}/inbox/reply/{me} */
	if (tl + 1 + strlen(h->username) + 1 > sizeof(topic))
		return HUBIO_ETOOBIG;
	memcpy(topic, r->topic, tl);
	topic[tl] = '/';
	memcpy(topic + tl + 1, h->username, strlen(h->username) + 1);
	if (mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, r->corr, r->corr_len))
		return HUBIO_ENOMEM;
	hubio__lock(h);
	if (!h->up)
		rc = HUBIO_ENOTCONN;
	else
		rc = hubio__map_mosq(mosquitto_publish_v5(
			h->mosq, NULL, topic, (int)len, data, 1, false, props));
	hubio__wakeup(h);
	hubio__unlock(h);
	mosquitto_property_free_all(&props);
	return rc;
}

HUBIO_API int hubio_reply(
	struct hubio *h, const struct hubio_meta *meta, const char *data, size_t len)
{
	if (!meta || !meta->reply)
		return HUBIO_EINVAL;
	return hubio_reply_to(h, meta->reply, data, len);
}

HUBIO_API int hubio_reply_dup(const struct hubio_meta *meta, struct hubio_reply **out)
{
	if (!out)
		return HUBIO_EINVAL;
	*out = NULL;
	if (!meta || !meta->reply)
		return HUBIO_EINVAL;
	*out = malloc(sizeof(**out));
	if (!*out)
		return HUBIO_ENOMEM;
	**out = *meta->reply;
	return HUBIO_OK;
}

HUBIO_API void hubio_reply_free(struct hubio_reply *reply)
{
	free(reply);
}
