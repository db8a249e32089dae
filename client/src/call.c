/* SPDX-License-Identifier: MIT */
/*
 * Calls to the application's backends (CONTRACT.md "Backends"): a QoS 1
 * publish on svc/{service}/{method}/{me} with the Response Topic
 * users/{me}/reply/{hex} and Correlation Data; the answer comes back on
 * that topic, which only services may write and only this user may read.
 * The pending table (pending.c) holds the call until its answer, the
 * PUBACK's verdict (0x10: unavailable, >= 0x80: refused) or its deadline.
 *
 * users/{me}/reply/# is subscribed when the first call is made, before
 * its publish (one connection keeps the order: the subscription is in
 * place before the call reaches the service), and again on every
 * reconnect from then on.
 */
#include "hubio_int.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <string.h>

static void subscribe_replies(struct hubio *h)
{
	char filter[HUBIO__TOPIC_MAX];
	h->reply_mid = 0;
	if (hubio__topic_reply_filter(filter, sizeof(filter), h->username) == HUBIO_OK)
		mosquitto_subscribe_v5(h->mosq, &h->reply_mid, filter, 1, 0, NULL);
}

void hubio__calls_connected(struct hubio *h)
{
	if (h->reply_sub || h->service)
		subscribe_replies(h);
}

HUBIO_API int hubio_call(struct hubio *h, const char *service, const char *method, const char *data,
	size_t len, hubio_answer_fn cb, void *ud, int timeout_ms)
{
	char topic[HUBIO__TOPIC_MAX], rtopic[HUBIO__TOPIC_MAX];
	struct hubio__pending p = {.kind = HUBIO__P_CALL, .answer_cb = cb, .ud = ud};
	mosquitto_property *props = NULL;
	int rc;

	if (!h || !cb || timeout_ms < 0)
		return HUBIO_EINVAL;
	if (h->protocol != 5)
		return HUBIO_ENOTSUP;
	if ((rc = hubio__payload_len(data, &len)))
		return rc;
	if ((rc = hubio__topic_call(topic, sizeof(topic), service, method, h->username)))
		return rc;
	hubio__lock(h);
	hubio__random_bytes(&h->rng, p.corr, sizeof(p.corr));
	if (!h->up) {
		rc = HUBIO_ENOTCONN;
	} else if (h->npending >= h->pending_max) {
		rc = HUBIO_EFULL;
	} else if ((rc = hubio__topic_reply(
			    rtopic, sizeof(rtopic), h->username, p.corr, sizeof(p.corr)))) {
		/* cannot happen: a valid name and 16 bytes fit */
	} else if (mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, rtopic) ||
		   mosquitto_property_add_binary(
			   &props, MQTT_PROP_CORRELATION_DATA, p.corr, sizeof(p.corr))) {
		rc = HUBIO_ENOMEM;
	} else {
		if (!h->reply_sub) {
			h->reply_sub = true;
			subscribe_replies(h);
		}
		rc = hubio__publish_tracked(h, topic, data, len, props, &p, timeout_ms);
	}
	hubio__unlock(h);
	mosquitto_property_free_all(&props);
	return rc;
}
