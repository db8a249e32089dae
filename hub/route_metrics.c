/* SPDX-License-Identifier: MIT */
/* GET /metrics: Prometheus text exposition of the service counters. */
#include "buf.h"
#include "front.h"
#include "workpool.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"
#include "hub.h"
#include "metrics.h"
#include "routes.h"
#include "mqtt.h"

#define METRICS_MAX (64 * 1024)

int hub_route_metrics(struct hub *h, struct hub_conn *c)
{
	struct hub_buf out;
	int64_t now_ms = hc_mono_ms(), live;
	int rc;

	/* the live-session count is a table scan: at most once a second */
	if (!h->metrics.sessions_at_ms || now_ms - h->metrics.sessions_at_ms >= 1000) {
		if (hc_store_session_count_live(h->store, hc_now(), &live) == HUB_OK) {
			h->metrics.sessions_live = live;
			h->metrics.sessions_at_ms = now_ms;
		}
	}
	{
		/* the broker plugin's counters arrive on $hub/metrics */
		char doc[2048];
		int64_t at = 0;
		size_t n = hub_mqtt_metrics(h->mqtt, doc, sizeof(doc), &at);
		if (n)
			hub_metrics_broker_update(&h->metrics, doc, n, at);
	}
	h->metrics.front_live = hub_front_live(h);
	hub_buf_init(&out, METRICS_MAX);
	rc = hub_metrics_render(&h->metrics, (int64_t)hub_workpool_depth(h->pool),
		hub_workpool_workers(h->pool), &out);
	if (rc) {
		hc_err("msg=\"metrics rendering failed\" err=%s", hub_strerror(rc));
		hub_http_error(c, 500, "internal", "metrics could not be rendered");
	} else {
		hub_http_reply(
			c, 200, "text/plain; version=0.0.4; charset=utf-8", out.data, out.len);
	}
	hub_buf_free(&out, false);
	return 0;
}
