/* SPDX-License-Identifier: MIT */
/* GET /healthz: 200 while the store answers. Cheap: one trivial read. */
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"
#include "hub.h"
#include "routes.h"

#include <stdint.h>

/* Failures are logged at most once a second, with how many were not: a
 * checker (or anyone) polling while the store is down fills no disk. */
#define WARN_EVERY_MS 1000

int hub_route_health(struct hub *h, struct hub_conn *c)
{
	static const char ok[] = "{\"status\":\"ok\"}";
	static int64_t last_warn;
	static uint64_t quiet;
	int rc = hc_store_ping(h->store);

	if (rc) {
		int64_t now = hc_mono_ms();
		if (!last_warn || now - last_warn >= WARN_EVERY_MS) {
			hc_warn("msg=\"health check failed\" err=%s db=\"%s\" not_logged=%llu",
				hub_strerror(rc), hc_store_errmsg(h->store),
				(unsigned long long)quiet);
			last_warn = now;
			quiet = 0;
		} else {
			quiet++;
		}
		hub_http_error(c, 503, "unavailable", "the store is not reachable");
		return 0;
	}
	if (last_warn) {
		hc_info("msg=\"health check ok again\" not_logged=%llu", (unsigned long long)quiet);
		last_warn = 0;
		quiet = 0;
	}
	hub_http_reply(c, 200, "application/json", ok, sizeof(ok) - 1);
	return 0;
}
