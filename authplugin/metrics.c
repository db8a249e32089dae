/* SPDX-License-Identifier: MIT */
/*
 * The plugin's counters, published retained on $hub/metrics (readable by
 * the hub's service identity only) every 2 s when they changed; hubd turns
 * them into Prometheus text on /metrics.
 */
#include "hauth.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <stdio.h>
#include <string.h>

#define METRICS_MS 2000

static int count_online(void *ud, const char *key, void *value)
{
	const struct hauth_principal *p = value;
	(void)key;
	if (p->announced)
		(*(int *)ud)++;
	return 0;
}

void hauth_metrics__tick(struct hauth *h, int64_t now_ms)
{
	char body[1024], hooks[400];
	int online = 0;

	if (now_ms - h->last_metrics_ms < METRICS_MS)
		return;
	h->last_metrics_ms = now_ms;
	hc_hmap_each(&h->principals, count_online, &online);
	hauth_hooks__metrics(h, hooks, sizeof(hooks));
	if (hc_fmt(body, sizeof(body),
		    "{\"clients\":%d,\"principals_online\":%d,\"auth_ok\":%llu,"
		    "\"auth_denied\":%llu,\"acl_denied_read\":%llu,\"acl_denied_write\":%llu,"
		    "\"acl_denied_subscribe\":%llu,\"kicks\":%llu,\"deliveries_dropped_slow\":%"
		    "llu,\"calls\":%llu,\"calls_refused\":%llu,\"calls_unavailable\":%llu%s%s}",
		    h->clients_live, online, (unsigned long long)h->stats.auth_ok,
		    (unsigned long long)h->stats.auth_denied,
		    (unsigned long long)h->stats.acl_denied_read,
		    (unsigned long long)h->stats.acl_denied_write,
		    (unsigned long long)h->stats.acl_denied_sub, (unsigned long long)h->stats.kicks,
		    (unsigned long long)h->stats.dropped_slow, (unsigned long long)h->stats.calls,
		    (unsigned long long)h->stats.calls_refused,
		    (unsigned long long)h->stats.calls_unavailable, hooks[0] ? "," : "", hooks))
		return;
	if (!strcmp(body, h->metrics_last))
		return;
	memcpy(h->metrics_last, body, strlen(body) + 1);
	mosquitto_broker_publish_copy(NULL, "$hub/metrics", (int)strlen(body), body, 0, true, NULL);
}
