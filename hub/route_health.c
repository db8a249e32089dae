/* SPDX-License-Identifier: MIT */
/* GET /healthz: 200 while the store answers. Cheap: one trivial read. */
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hub.h"
#include "routes.h"

int hub_route_health(struct hub *h, struct hub_conn *c)
{
	static const char ok[] = "{\"status\":\"ok\"}";
	int rc = hc_store_ping(h->store);

	if (rc) {
		hc_warn("msg=\"health check failed\" err=%s db=\"%s\"", hub_strerror(rc),
			hc_store_errmsg(h->store));
		hub_http_error(c, 503, "unavailable", "the store is not reachable");
		return 0;
	}
	hub_http_reply(c, 200, "application/json", ok, sizeof(ok) - 1);
	return 0;
}
