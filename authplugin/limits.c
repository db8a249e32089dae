/* SPDX-License-Identifier: MIT */
/*
 * What one connection and one identity can make the broker hold, beyond
 * what mosquitto.conf bounds itself (max_packet_size, max_queued_bytes,
 * max_inflight_bytes: docs/broker.md "Limits"):
 *
 *  - connections: per identity (broker_conns_per_identity; a backend logged
 *    in with its service key: broker_conns_per_service, as it runs several
 *    processes) and per client address (broker_conns_per_address, minus
 *    broker_conns_exempt); the hub's own processes are not counted.
 *    Beyond: CONNACK 5 / 0x87.
 *  - the backlog of a live connection: bytes of deliveries allowed to it
 *    and not yet acknowledged by its TCP peer (tcpi_bytes_acked of its
 *    socket). Mosquitto bounds a non-reading client's QoS 0 queue only by
 *    count (max_queued_messages packets of up to max_packet_size each:
 *    1 GiB); past broker_backlog_max the plugin refuses the deliveries
 *    (READ denied: that subscriber misses them) until the client catches
 *    up. The socket is asked only every BACKLOG_STEP bytes delivered, and
 *    while over the limit at most every BACKLOG_RECHECK_MS.
 *  - subscriptions per connection (broker_subs_max; SUBACK 0x80 / 0x87).
 *  - stored sessions per identity that messages are queued for while they
 *    are offline (broker_stored_per_identity): each may hold mosquitto's
 *    max_queued_bytes, and an identity could leave any number behind. The
 *    plugin learns them as deliveries to them are checked (READ of an
 *    offline session) and forgets one when a connection takes its id
 *    again; past the bound nothing is queued for a further one. After a
 *    broker restart the first ones to receive fill the places.
 */
#include "hauth.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <linux/tcp.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BACKLOG_STEP	   (256 * 1024)
#define BACKLOG_RECHECK_MS 50

/* "::ffff:1.2.3.4" (an IPv4 peer of an IPv6 socket) is "1.2.3.4". */
static const char *plain_addr(const char *a)
{
	if (a && !strncmp(a, "::ffff:", 7) && strchr(a + 7, '.'))
		return a + 7;
	return a ? a : "";
}

static bool addr_counted(struct hauth *h, const char *addr)
{
	return *addr && !hc_cfg_list_has(&h->cfg, HC_CFG_BROKER_CONNS_EXEMPT, addr, strlen(addr));
}

static int addr_count(struct hauth *h, const char *addr)
{
	return (int)(intptr_t)hc_hmap_get(&h->by_addr, addr, strlen(addr));
}

static void addr_add(struct hauth *h, const char *addr, int delta)
{
	int n = addr_count(h, addr) + delta;
	if (n <= 0)
		hc_hmap_del(&h->by_addr, addr, strlen(addr));
	else if (hc_hmap_put(&h->by_addr, addr, strlen(addr), (void *)(intptr_t)n, NULL))
		hc_warn("msg=\"out of memory counting connections per address\"");
}

const char *hauth_limits__admit(
	struct hauth *h, const char *client_addr, const char *name, const char *broker_id)
{
	int64_t per_id = hc_cfg_int(&h->cfg, HC_CFG_BROKER_CONNS_PER_IDENTITY);
	int64_t per_addr = hc_cfg_int(&h->cfg, HC_CFG_BROKER_CONNS_PER_ADDRESS);
	const char *addr = plain_addr(client_addr);
	struct hauth_principal *p;
	struct hauth_client *same;

	if (!strcmp(name, HC_SERVICE_PRINCIPAL) || !strcmp(name, HC_LINK_PRINCIPAL))
		return NULL;
	{
		const struct hc_dir_principal *dp = hc_dir_principal(h->dir, name, strlen(name));
		if (dp && dp->kind == HC_KIND_SERVICE)
			per_id = hc_cfg_int(&h->cfg, HC_CFG_BROKER_CONNS_PER_SERVICE);
	}
	/* a CONNECT with an id this identity holds live takes that connection
	 * over (mosquitto closes it): it frees what it takes */
	same = broker_id ? hc_hmap_get(&h->by_id, broker_id, strlen(broker_id)) : NULL;
	if (same && (same->gone || strcmp(same->name, name) != 0))
		same = NULL;
	p = hauth_clients__principal(h, name);
	if (per_id > 0 && p && p->mqtt_live - (same ? 1 : 0) >= per_id)
		return "too-many-connections";
	if (per_addr > 0 && addr_counted(h, addr) &&
		addr_count(h, addr) - (same && !strcmp(same->addr, addr) ? 1 : 0) >= per_addr)
		return "too-many-from-address";
	return NULL;
}

void hauth_limits__up(struct hauth *h, struct hauth_client *c, const char *addr)
{
	if (!c->ctx || c->kind == HAUTH_SERVICE || c->kind == HAUTH_LINK)
		return;
	snprintf(c->addr, sizeof(c->addr), "%s", plain_addr(addr));
	c->owner->mqtt_live++;
	c->counted = true;
	if (addr_counted(h, c->addr))
		addr_add(h, c->addr, +1);
}

void hauth_limits__down(struct hauth *h, struct hauth_client *c)
{
	if (!c->counted)
		return;
	c->counted = false;
	c->owner->mqtt_live--;
	if (addr_counted(h, c->addr))
		addr_add(h, c->addr, -1);
}

/* Bytes the peer acknowledged on the connection's socket; false if the
 * socket is not known (layout not confirmed, no socket, not TCP). */
static bool acked_bytes(const struct hauth_client *c, uint64_t *acked)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int sock, state;

	if (!hauth_layout__sock_state(c->ctx, &sock, &state) || sock < 0)
		return false;
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(sock, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
		len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof(ti.tcpi_bytes_acked))
		return false;
	*acked = ti.tcpi_bytes_acked;
	return true;
}

bool hauth_limits__deliver(
	struct hauth *h, struct hauth_client *c, size_t topic_len, uint32_t payloadlen)
{
	uint64_t limit = (uint64_t)hc_cfg_int(&h->cfg, HC_CFG_BROKER_BACKLOG_MAX);
	/* a PUBLISH carries the topic, a packet id and a few header bytes */
	uint64_t n = (uint64_t)payloadlen + topic_len + 8, acked, backlog;
	int64_t now_ms;
	char idbuf[96];

	/* the hub's own processes read as fast as they can; a delivery
	 * dropped to the gateway would be lost to every socket behind it */
	if (!c->ctx || c->no_socket || c->kind == HAUTH_SERVICE || c->kind == HAUTH_LINK)
		return true;
	if (!c->slow) {
		c->out_allowed += n;
		if (c->out_allowed - c->out_checked < BACKLOG_STEP)
			return true;
	}
	now_ms = hc_mono_ms();
	if (c->slow && now_ms - c->backlog_checked_ms < BACKLOG_RECHECK_MS) {
		h->stats.dropped_slow++;
		return false;
	}
	c->backlog_checked_ms = now_ms;
	c->out_checked = c->out_allowed;
	if (!acked_bytes(c, &acked)) {
		c->no_socket = true; /* nothing to measure: mosquitto's bounds only */
		c->slow = false;
		return true;
	}
	backlog = c->out_allowed > acked ? c->out_allowed - acked : 0;
	if (!c->slow && backlog > limit) {
		c->out_allowed -= n; /* refused: never sent */
		c->slow = true;
		h->stats.dropped_slow++;
		hc_info("%s/%s | deliver | dropping backlog=%llu limit=%llu",
			hc_log_safe(hauth_clientid__external(c->id), idbuf, sizeof(idbuf)), c->name,
			(unsigned long long)backlog, (unsigned long long)limit);
		return false;
	}
	if (c->slow) {
		/* resume once half the limit is free again, not at the edge */
		if (backlog > limit / 2) {
			h->stats.dropped_slow++;
			return false;
		}
		c->slow = false;
		c->out_allowed += n;
		hc_info("%s/%s | deliver | resumed backlog=%llu",
			hc_log_safe(hauth_clientid__external(c->id), idbuf, sizeof(idbuf)), c->name,
			(unsigned long long)backlog);
	}
	return true;
}

/* Subscriptions are remembered by a 64-bit hash of the filter (seeded per
 * process): 8 bytes each instead of the filter. */
static void sub_key(const char *filter, char key[8])
{
	uint64_t x = hc_hash_bytes(filter, strlen(filter));
	memcpy(key, &x, 8);
}

bool hauth_limits__subscribe(
	struct hauth *h, struct hauth_client *c, struct mosquitto *client, const char *filter)
{
	int64_t max = hc_cfg_int(&h->cfg, HC_CFG_BROKER_SUBS_MAX);
	char key[8];

	/* what a stored session brought along (mosquitto's slots at the
	 * first SUBSCRIBE, once the takeover is done) counts in full */
	if (c->subs_inherited < 0)
		c->subs_inherited = mosquitto_client_sub_count(client);
	sub_key(filter, key);
	if (hc_hmap_get(&c->subs, key, 8))
		return true; /* subscribed again: nothing new */
	if ((int64_t)c->subs_inherited + (int64_t)c->subs.count >= max)
		return false;
	if (hc_hmap_put(&c->subs, key, 8, (void *)1, NULL))
		return false;
	return true;
}

void hauth_limits__unsubscribe(struct hauth_client *c, const char *filter)
{
	char key[8];
	sub_key(filter, key);
	hc_hmap_del(&c->subs, key, 8);
}

bool hauth_limits__stored_queue(struct hauth *h, const char *name, const char *broker_id)
{
	int64_t max = hc_cfg_int(&h->cfg, HC_CFG_BROKER_STORED_PER_IDENTITY);
	struct hc_hmap *ids;

	if (max <= 0 || !broker_id || !strcmp(name, HC_SERVICE_PRINCIPAL))
		return true;
	ids = hc_hmap_get(&h->offline, name, strlen(name));
	if (ids && hc_hmap_get(ids, broker_id, strlen(broker_id)))
		return true;
	if (ids && (int64_t)ids->count >= max)
		return false;
	if (!ids) {
		ids = calloc(1, sizeof(*ids));
		if (!ids)
			return false;
		hc_hmap_init(ids);
		if (hc_hmap_put(&h->offline, name, strlen(name), ids, NULL)) {
			free(ids);
			return false;
		}
	}
	return hc_hmap_put(ids, broker_id, strlen(broker_id), (void *)1, NULL) == HUB_OK;
}

void hauth_limits__stored_back(struct hauth *h, const char *name, const char *broker_id)
{
	struct hc_hmap *ids = hc_hmap_get(&h->offline, name, strlen(name));
	if (!ids || !broker_id)
		return;
	hc_hmap_del(ids, broker_id, strlen(broker_id));
	if (!ids->count) {
		hc_hmap_del(&h->offline, name, strlen(name));
		hc_hmap_clear(ids);
		free(ids);
	}
}

static int free_ids_cb(void *ud, const char *key, void *value)
{
	struct hc_hmap *ids = value;
	(void)ud;
	(void)key;
	hc_hmap_clear(ids);
	free(ids);
	return 0;
}

void hauth_limits__free(struct hauth *h)
{
	hc_hmap_each(&h->offline, free_ids_cb, NULL);
	hc_hmap_clear(&h->offline);
}
