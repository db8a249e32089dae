/* SPDX-License-Identifier: MIT */
/*
 * Presence: a principal is online from its first live connection to the
 * end of its last one (plus a short grace for reconnects). Going online
 * publishes, in each of its rooms, rooms/{room}/sys/joined with the online
 * count and a retained rooms/{room}/presence/{user}; going offline publishes
 * rooms/{room}/sys/left with the count and the reason and clears the
 * retained presence. users/{user}/status is kept true: the hub writes it
 * retained on both edges, and a will on it that would say "offline" while
 * other connections live is not let out (wills on other topics are).
 *
 * Counts are kept per room, incrementally: each announced principal
 * remembers the rooms it was announced in (and its level there), so
 * membership changes while online give the right joined/left notices and
 * counts never drift. A device's notices and retained presence say
 * "device":true, so a page can keep devices out of its people lists.
 *
 * A user who is online also hears of its own membership changes: each
 * room granted, revoked (or deleted) or changed in level publishes
 * users/{user}/sys/rooms {"room":"ops","level":"write"|null} (QoS 1, not
 * retained), which only that user may read (common/acl.c). The dashboard
 * re-reads GET /api/session on it and shows the change live.
 *
 * On an edge broker (node_role edge, link.c) none of this is published
 * here: going online and offline (after the grace, with the reason) are
 * told to the core broker, whose presence counts every node's principals
 * as its own virtual connections and publishes for all of them, once.
 */
#include "hauth_presence.h"
#include "hauth_history.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void publish(const char *topic, const char *payload, bool retain)
{
	size_t len = payload ? strlen(payload) : 0;
	int rc = mosquitto_broker_publish_copy(
		NULL, topic, (int)len, len ? payload : NULL, 1, retain, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		hc_warn("msg=\"presence publish failed\" topic=%s rc=%d", topic, rc);
	else if (retain)
		hauth_retain__note(hauth_g, topic, (uint32_t)len);
}

static int online_count(struct hauth *h, const char *room)
{
	return (int)(intptr_t)hc_hmap_get(&h->room_online, room, strlen(room));
}

static void online_add(struct hauth *h, const char *room, int delta)
{
	int n = online_count(h, room) + delta;
	if (n <= 0)
		hc_hmap_del(&h->room_online, room, strlen(room));
	else if (hc_hmap_put(&h->room_online, room, strlen(room), (void *)(intptr_t)n, NULL))
		hc_warn("msg=\"presence: out of memory counting room\" room=%s", room);
}

static void status(struct hauth_principal *p, bool online, const char *reason)
{
	char topic[128], body[160];
	if (hc_fmt(topic, sizeof(topic), "users/%s/status", p->name))
		return;
	if (online)
		hc_fmt(body, sizeof(body), "{\"online\":true,\"since\":%lld}", (long long)p->since);
	else
		hc_fmt(body, sizeof(body), "{\"online\":false,\"reason\":\"%s\",\"at\":%lld}",
			reason ? reason : "network", (long long)hc_now());
	publish(topic, body, true);
}

/* users/{user}/sys/rooms: p's membership of room is now level (NONE:
 * revoked). Users only: a device's memberships change with its fleet,
 * and nothing of it listens. */
static void rooms_notice(struct hauth_principal *p, const char *room, int level)
{
	char topic[128], body[160];
	if (p->device)
		return;
	if (!hc_fmt(topic, sizeof(topic), "users/%s/sys/rooms", p->name) &&
		!hc_fmt(body, sizeof(body), "{\"room\":\"%s\",\"level\":%s%s%s}", room,
			level ? "\"" : "", level ? hc_level_name(level) : "null",
			level ? "\"" : ""))
		publish(topic, body, false);
}

/* Announce p in one room (or note its new level there). notify: tell p
 * (a membership change while online, not a connect). */
static void join_room(
	struct hauth *h, struct hauth_principal *p, const char *room, int level, bool notify)
{
	char topic[160], body[192];
	const char *dev = p->device ? ",\"device\":true" : "";
	void *had = hc_hmap_get(&p->rooms, room, strlen(room));
	if (level < HC_LEVEL_READ)
		level = HC_LEVEL_READ;
	if (had) {
		if ((int)(intptr_t)had != level &&
			!hc_hmap_put(
				&p->rooms, room, strlen(room), (void *)(intptr_t)level, NULL) &&
			notify)
			rooms_notice(p, room, level);
		return;
	}
	if (hc_hmap_put(&p->rooms, room, strlen(room), (void *)(intptr_t)level, NULL))
		return;
	online_add(h, room, +1);
	hauth_history__presence(h->history, room, p->name, online_count(h, room), NULL);
	if (!hc_fmt(topic, sizeof(topic), "rooms/%s/sys/joined", room) &&
		!hc_fmt(body, sizeof(body), "{\"user\":\"%s\",\"online\":%d%s}", p->name,
			online_count(h, room), dev))
		publish(topic, body, false);
	if (!hc_fmt(topic, sizeof(topic), "rooms/%s/presence/%s", room, p->name) &&
		!hc_fmt(body, sizeof(body), "{\"user\":\"%s\",\"since\":%lld%s}", p->name,
			(long long)p->since, dev))
		publish(topic, body, true);
	if (notify)
		rooms_notice(p, room, level);
}

/* Withdraw p from one room. notify: tell p (its membership ended). */
static void leave_room(struct hauth *h, struct hauth_principal *p, const char *room,
	const char *reason, bool notify)
{
	char topic[160], body[224];
	if (!hc_hmap_del(&p->rooms, room, strlen(room)))
		return;
	online_add(h, room, -1);
	hauth_history__presence(h->history, room, p->name, online_count(h, room), reason);
	if (!hc_fmt(topic, sizeof(topic), "rooms/%s/sys/left", room) &&
		!hc_fmt(body, sizeof(body), "{\"user\":\"%s\",\"online\":%d,\"reason\":\"%s\"%s}",
			p->name, online_count(h, room), reason,
			p->device ? ",\"device\":true" : ""))
		publish(topic, body, false);
	if (!hc_fmt(topic, sizeof(topic), "rooms/%s/presence/%s", room, p->name))
		publish(topic, NULL, true); /* empty retained: presence cleared */
	if (notify)
		rooms_notice(p, room, HC_LEVEL_NONE);
}

struct join_ud {
	struct hauth *h;
	struct hauth_principal *p;
	bool notify;
};

static int join_cb(void *ud, const char *room, void *value)
{
	struct join_ud *j = ud;
	join_room(j->h, j->p, room, (int)(intptr_t)value, j->notify);
	return 0;
}

static void announce(struct hauth *h, struct hauth_principal *p)
{
	const struct hc_dir_principal *dp = hc_dir_principal(h->dir, p->name, strlen(p->name));
	struct join_ud ud = {h, p, false};
	p->announced = true;
	p->since = hc_now();
	if (h->role == HAUTH_ROLE_EDGE) {
		hauth_link__attach(h, p);
		return;
	}
	hc_info("msg=\"online\" principal=%s", p->name);
	status(p, true, NULL);
	if (dp)
		hc_hmap_each(&dp->rooms, join_cb, &ud);
}

struct leave_ud {
	char names[64][HC_NAME_MAX + 1];
	int n;
};

static int collect_cb(void *ud, const char *room, void *value)
{
	struct leave_ud *l = ud;
	(void)value;
	snprintf(l->names[l->n++], HC_NAME_MAX + 1, "%s", room);
	return l->n == 64;
}

static void withdraw(struct hauth *h, struct hauth_principal *p, const char *reason)
{
	struct leave_ud l;
	hc_info("msg=\"offline\" principal=%s reason=%s", p->name, reason);
	/* leave_room edits p->rooms: collect first, in batches */
	do {
		l.n = 0;
		hc_hmap_each(&p->rooms, collect_cb, &l);
		for (int i = 0; i < l.n; i++)
			leave_room(h, p, l.names[i], reason, false);
	} while (l.n == 64);
	p->announced = false;
	p->since = 0;
	if (p->left_due_ms)
		h->lefts_pending--;
	p->left_due_ms = 0;
	p->left_reason = NULL;
	if (h->role == HAUTH_ROLE_EDGE)
		hauth_link__detach(h, p, reason);
	else
		status(p, false, reason);
}

void hauth_presence__up(struct hauth *h, struct hauth_principal *p, struct hauth_client *c)
{
	(void)c;
	if (p->live != 1)
		return;
	if (p->left_due_ms) {
		/* back within the grace window: no churn, but its will may have
		 * said offline meanwhile */
		if (p->left_due_ms)
			h->lefts_pending--;
		p->left_due_ms = 0;
		p->left_reason = NULL;
		if (h->role != HAUTH_ROLE_EDGE)
			status(p, true, NULL);
		return;
	}
	if (!p->announced)
		announce(h, p);
}

void hauth_presence__down(struct hauth *h, struct hauth_principal *p, struct hauth_client *c)
{
	const char *reason = hauth_reason__classify(c);
	/* an edge ran the grace before it told the core (link.c) */
	int64_t grace = c->link_detached ? 0 : hc_cfg_int(&h->cfg, HC_CFG_PRESENCE_GRACE_MS);

	if (p->live > 0 && p->announced && c->link_detached) {
		/* core: one edge lost the principal, others have it. That
		 * edge let its last connection's will out (it cannot know of
		 * the others): say online again, after it on the same link */
		status(p, true, NULL);
		return;
	}
	if (p->live > 0 || !p->announced)
		return;
	/* the hub ended it (logout, kick, expiry): that is final, no grace */
	if (c->end_reason) {
		withdraw(h, p, c->end_reason);
		return;
	}
	p->left_reason = reason; /* NULL: decide from the will at tick time */
	/* a client that closes itself right after its logout (the dashboard
	 * does) beats the revocation sweep: its session decides at tick time */
	snprintf(p->left_sid, sizeof(p->left_sid), "%s", c->kind == HAUTH_USER ? c->sid : "");
	if (!p->left_due_ms)
		h->lefts_pending++;
	p->left_due_ms = hc_mono_ms() + grace;
}

bool hauth_presence__will_ok(struct hauth *h, const char *name, int others_live, const char *topic)
{
	size_t n = strlen(name);
	(void)h;
	if (others_live <= 0)
		return true;
	/* users/{name}/status exactly */
	return !(strncmp(topic, "users/", 6) == 0 && strncmp(topic + 6, name, n) == 0 &&
		 strcmp(topic + 6 + n, "/status") == 0);
}

struct due_ud {
	struct hauth *h;
	struct hauth_principal *list[128];
	int n;
	int64_t now_ms;
};

static int due_cb(void *ud, const char *key, void *value)
{
	struct due_ud *d = ud;
	struct hauth_principal *p = value;
	(void)key;
	if (p->left_due_ms && p->left_due_ms <= d->now_ms && p->live == 0) {
		d->list[d->n++] = p;
		return d->n == 128;
	}
	return 0;
}

/* The will decides when the broker struct could not: a will that went out
 * means the connection was not closed cleanly. */
static const char *reason_from_will(struct hauth_principal *p)
{
	for (struct hauth_client *c = p->clients; c; c = c->next)
		if (c->gone && c->will_seen)
			return "network";
	return "clean";
}

static void reset_stale(struct hauth *h);

void hauth_presence__tick(struct hauth *h, int64_t now_ms)
{
	struct due_ud d = {.h = h, .now_ms = now_ms};
	int more;

	if (!h->presence_reset_done) {
		reset_stale(h);
		h->presence_reset_done = true;
	}
	/* TICK runs on every pass of the broker's loop: walk the principals
	 * only when a left notice is due somewhere, and not more than every
	 * 20 ms */
	if (!h->lefts_pending || now_ms - h->last_presence_ms < 20)
		return;
	h->last_presence_ms = now_ms;
	do {
		d.n = 0;
		more = hc_hmap_each(&h->principals, due_cb, &d);
		for (int i = 0; i < d.n; i++) {
			struct hauth_principal *p = d.list[i];
			const char *ended = hauth_revoke__session_end(h, p->left_sid);
			withdraw(h, p,
				ended		 ? ended
				: p->left_reason ? p->left_reason
						 : reason_from_will(p));
		}
	} while (more);
}

/* After a broker start no one is online: clear the retained presence and
 * the hub's retained statuses a previous run may have left (persistence
 * keeps them), so late subscribers never see ghosts. */
/* Someone who connected in the broker's first loop pass, before this
 * first tick, is already announced: leave them be. */
static bool announced(struct hauth *h, const char *name)
{
	struct hauth_principal *p = hauth_clients__principal(h, name);
	return p && p->announced;
}

struct reset_ud {
	struct hauth *h;
	const char *room;
};

static int reset_room_cb(void *ud, const char *member, void *value)
{
	struct reset_ud *r = ud;
	char topic[160];
	(void)value;
	if (!announced(r->h, member) &&
		!hc_fmt(topic, sizeof(topic), "rooms/%s/presence/%s", r->room, member))
		publish(topic, NULL, true);
	return 0;
}

static int reset_cb(void *ud, const char *name, void *value)
{
	const struct hc_dir_room *r = value;
	struct reset_ud ru = {ud, name};
	hc_hmap_each(&r->members, reset_room_cb, &ru);
	return 0;
}

/* The hub's retained "online" status of a previous run says offline now. */
static int reset_status_cb(void *ud, const char *name, void *value)
{
	const struct hc_dir_principal *dp = value;
	char topic[128];
	if (dp->kind == HC_KIND_SERVICE)
		return 0; /* backends have no presence */
	if (!announced(ud, name) && !hc_fmt(topic, sizeof(topic), "users/%s/status", name))
		publish(topic, "{\"online\":false,\"reason\":\"restart\"}", true);
	return 0;
}

static void reset_stale(struct hauth *h)
{
	/* an edge clears only its own copies of the core's retained presence
	 * (its bridge brings presence topics in, never out: the core's come
	 * again when the link subscribes); statuses travel both ways and
	 * are the core's to reset */
	hc_hmap_each(&h->dir->rooms, reset_cb, h);
	if (h->role != HAUTH_ROLE_EDGE)
		hc_hmap_each(&h->dir->principals, reset_status_cb, h);
	hc_info("msg=\"cleared retained presence from before the start\" rooms=%zu",
		h->dir->rooms.count);
}

/* Membership changes of announced principals: join or leave that room. */
static int reconcile_cb(void *ud, const char *key, void *value)
{
	struct hauth *h = ud;
	struct hauth_principal *p = value;
	const struct hc_dir_principal *dp;
	struct leave_ud l;
	struct join_ud a = {h, p, true};
	(void)key;
	if (!p->announced)
		return 0;
	dp = hc_dir_principal(h->dir, p->name, strlen(p->name));
	if (dp)
		hc_hmap_each(&dp->rooms, join_cb, &a);
	do {
		int gone = 0;
		l.n = 0;
		hc_hmap_each(&p->rooms, collect_cb, &l);
		for (int i = 0; i < l.n; i++)
			if (!dp || !hc_hmap_get(&dp->rooms, l.names[i], strlen(l.names[i]))) {
				leave_room(h, p, l.names[i], "kicked", true);
				gone++;
			}
		if (!gone)
			break;
	} while (l.n == 64);
	return 0;
}

void hauth_presence__change(struct hauth *h, const struct hc_change *chg)
{
	struct hauth_principal *p;
	if (h->role == HAUTH_ROLE_EDGE)
		return; /* the core follows the same store and tells everyone */
	switch (chg->type) {
	case HC_CHG_LEVEL:
		p = hauth_clients__principal(h, chg->principal);
		if (p && p->announced)
			reconcile_cb(h, NULL, p);
		break;
	case HC_CHG_ROOM_DEL:
	case HC_CHG_RELOAD:
		hc_hmap_each(&h->principals, reconcile_cb, h);
		break;
	case HC_CHG_PRINCIPAL_DEL:
		/* deleted while its left notice waits for the grace: it leaves
		 * now, so its offline status is written before the identity's
		 * retained messages are cleared (retain.c, right after this),
		 * never after them (a status nobody clears, which a user created
		 * again under the name would inherit) */
		p = hauth_clients__principal(h, chg->p.name);
		if (p && p->left_due_ms && p->live == 0) {
			const char *ended = hauth_revoke__session_end(h, p->left_sid);
			withdraw(h, p,
				ended		 ? ended
				: p->left_reason ? p->left_reason
						 : reason_from_will(p));
		}
		break;
	default:
		break;
	}
}

void hauth_presence__free(struct hauth_principal *p)
{
	hc_hmap_clear(&p->rooms);
	free(p);
}
