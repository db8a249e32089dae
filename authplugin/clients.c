/* SPDX-License-Identifier: MIT */
/*
 * The table of authenticated connections (keyed by the broker's context
 * pointer, which is unique while the connection lives) and, per principal,
 * the list of its connections. A DISCONNECT marks an entry gone; it is
 * freed on the next tick, so the will's ACL check that follows the
 * DISCONNECT event still finds who it belongs to.
 */
#include "hauth.h"
#include "hauth_presence.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hauth_client *hauth_clients__find(struct hauth *h, const struct mosquitto *ctx)
{
	return hc_hmap_get(&h->clients, (const char *)&ctx, sizeof(ctx));
}

struct hauth_principal *hauth_clients__principal(struct hauth *h, const char *name)
{
	return hc_hmap_get(&h->principals, name, strlen(name));
}

static struct hauth_principal *principal_get(struct hauth *h, const char *name)
{
	struct hauth_principal *p = hauth_clients__principal(h, name);
	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	snprintf(p->name, sizeof(p->name), "%s", name);
	if (hc_hmap_put(&h->principals, p->name, strlen(p->name), p, NULL)) {
		free(p);
		return NULL;
	}
	return p;
}

static char *virtual_key(const struct mosquitto *bridge, const char *conn, size_t *klen)
{
	size_t cl = strlen(conn);
	char *k = malloc(sizeof(bridge) + 1 + cl);
	if (!k)
		return NULL;
	memcpy(k, &bridge, sizeof(bridge));
	k[sizeof(bridge)] = '/';
	memcpy(k + sizeof(bridge) + 1, conn, cl);
	*klen = sizeof(bridge) + 1 + cl;
	return k;
}

struct hauth_client *hauth_clients__find_virtual(
	struct hauth *h, const struct mosquitto *bridge, const char *conn)
{
	size_t klen;
	char *k = virtual_key(bridge, conn, &klen);
	struct hauth_client *c = k ? hc_hmap_get(&h->clients, k, klen) : NULL;
	free(k);
	return c;
}

static void unlink_client(struct hauth *h, struct hauth_client *c, bool in_table);

static struct hauth_client *add(struct hauth *h, const struct mosquitto *ctx,
	const struct mosquitto *bridge, const char *id, const char *name, int kind)
{
	struct hauth_client *c = calloc(1, sizeof(*c));
	struct hauth_principal *p;
	void *old = NULL;

	if (!c)
		return NULL;
	c->ctx = ctx;
	c->bridge = bridge;
	hc_hmap_init(&c->subs);
	c->subs_inherited = -1;
	if (bridge) {
		c->key = virtual_key(bridge, id, &c->klen);
	} else {
		c->klen = sizeof(ctx);
		c->key = malloc(c->klen);
		if (c->key)
			memcpy(c->key, &ctx, c->klen);
	}
	c->id = strdup(id ? id : "");
	c->kind = kind;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->connected_ms = hc_mono_ms();
	p = principal_get(h, name);
	if (!c->id || !c->key || !p || hc_hmap_put(&h->clients, c->key, c->klen, c, &old)) {
		free(c->key);
		free(c->id);
		free(c);
		return NULL;
	}
	c->owner = p;
	if (kind != HAUTH_SERVICE && kind != HAUTH_LINK)
		p->device = kind == HAUTH_DEVICE;
	c->next = p->clients;
	p->clients = c;
	if (ctx && hc_hmap_put(&h->by_id, c->id, strlen(c->id), c, NULL))
		hc_warn("msg=\"out of memory indexing client id\"");
	p->live++;
	h->clients_live++;
	/* the hub's processes, backends and links are no room's members */
	if (kind != HAUTH_SERVICE && kind != HAUTH_APP && kind != HAUTH_LINK)
		hauth_presence__up(h, p, c);
	/* the broker reused the context (or the gateway the conn id) of a
	 * gone entry not reaped yet: the table now holds c, so drop the old
	 * entry here, or it stays in its principal's list for ever. After c
	 * is linked: the old one's principal may be p, which must survive */
	if (old) {
		if (((struct hauth_client *)old)->gone)
			h->gone_pending--;
		hauth_limits__down(h, old);
		unlink_client(h, old, false);
	}
	return c;
}

struct hauth_client *hauth_clients__add(
	struct hauth *h, const struct mosquitto *ctx, const char *id, const char *name, int kind)
{
	return add(h, ctx, NULL, id, name, kind);
}

struct hauth_client *hauth_clients__add_virtual(struct hauth *h, const struct mosquitto *bridge,
	const char *conn, const char *name, const char *sid, int kind)
{
	struct hauth_client *c = add(h, NULL, bridge, conn, name, kind);
	if (c) {
		snprintf(c->sid, sizeof(c->sid), "%s", sid ? sid : "");
		c->session_seen = true;
	}
	return c;
}

struct bridge_ud {
	const struct mosquitto *bridge;
	struct hauth_client *list[256];
	int n;
};

static int bridge_cb(void *ud, const char *key, void *value)
{
	struct bridge_ud *b = ud;
	struct hauth_client *c = value;
	(void)key;
	if (c->bridge == b->bridge && !c->gone) {
		b->list[b->n++] = c;
		return b->n == 256;
	}
	return 0;
}

void hauth_clients__bridge_gone(struct hauth *h, const struct mosquitto *bridge)
{
	struct bridge_ud b = {.bridge = bridge};
	int more;
	/* its sockets may come back through a restarted gateway within the
	 * presence grace: ended as "network", not as final */
	do {
		b.n = 0;
		more = hc_hmap_each(&h->clients, bridge_cb, &b);
		for (int i = 0; i < b.n; i++) {
			b.list[i]->vreason = "network";
			hauth_clients__gone(h, b.list[i]);
		}
	} while (more);
}

static void unindex(struct hauth *h, struct hauth_client *c)
{
	if (c->ctx && hc_hmap_get(&h->by_id, c->id, strlen(c->id)) == c)
		hc_hmap_del(&h->by_id, c->id, strlen(c->id));
}

void hauth_clients__gone(struct hauth *h, struct hauth_client *c)
{
	unindex(h, c);
	hauth_limits__down(h, c);
	struct hauth_principal *p = c->owner;
	c->gone = true;
	h->gone_pending++;
	c->gone_ms = hc_mono_ms();
	p->live--;
	h->clients_live--;
	if (c->kind != HAUTH_SERVICE && c->kind != HAUTH_APP && c->kind != HAUTH_LINK)
		hauth_presence__down(h, p, c);
}

static void unlink_client(struct hauth *h, struct hauth_client *c, bool in_table)
{
	struct hauth_principal *p = c->owner;
	struct hauth_client **pp;

	for (pp = &p->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (in_table)
		hc_hmap_del(&h->clients, c->key, c->klen);
	unindex(h, c);
	/* keep the principal record while presence still has work for it */
	if (!p->clients && !p->announced && !p->left_due_ms) {
		hc_hmap_del(&h->principals, p->name, strlen(p->name));
		hauth_presence__free(p);
	}
	hc_hmap_clear(&c->subs);
	free(c->key);
	free(c->id);
	free(c);
}

struct reap_ud {
	struct hauth_client *list[256];
	int n;
	int64_t now_ms;
};

static int reap_cb(void *ud, const char *key, void *value)
{
	struct reap_ud *r = ud;
	struct hauth_client *c = value;
	(void)key;
	if (c->gone) {
		r->list[r->n++] = c;
		if (r->n == (int)(sizeof(r->list) / sizeof(r->list[0])))
			return 1;
	}
	return 0;
}

void hauth_clients__reap(struct hauth *h, int64_t now_ms)
{
	static int64_t last;
	struct reap_ud r;
	int more;

	/* the will's ACL check comes right after DISCONNECT in the same loop
	 * pass, so one tick later the entry has served its purpose; reap in
	 * batches, at most every 100 ms */
	if (!h->gone_pending || now_ms - last < 100)
		return;
	last = now_ms;
	do {
		r.n = 0;
		r.now_ms = now_ms;
		more = hc_hmap_each(&h->clients, reap_cb, &r);
		for (int i = 0; i < r.n; i++) {
			unlink_client(h, r.list[i], true);
			h->gone_pending--;
		}
	} while (more);
}

void hauth_clients__mark_replaced(struct hauth *h, const char *id)
{
	struct hauth_client *c;
	if (!id)
		return;
	c = hc_hmap_get(&h->by_id, id, strlen(id));
	if (c && !c->gone)
		c->replaced = true;
}

const char *hauth_clients__id_holder(struct hauth *h, const char *id)
{
	struct hauth_client *c;
	if (!id)
		return NULL;
	c = hc_hmap_get(&h->by_id, id, strlen(id));
	if (c && !c->gone)
		return c->owner->name;
	return hc_hmap_get(&h->id_owner, id, strlen(id));
}

/* Stored sessions remembered at most (a bound on memory; past it, ids of
 * new stored sessions are not reserved, and a line says so once). */
#define ID_OWNER_MAX 1000000

void hauth_clients__id_claim(struct hauth *h, const char *id, const char *name, bool clean)
{
	static bool warned;
	size_t len = id ? strlen(id) : 0;
	char *old = NULL, *own;

	if (!len)
		return;
	if (clean) {
		free(hc_hmap_del(&h->id_owner, id, len));
		return;
	}
	old = hc_hmap_get(&h->id_owner, id, len);
	if (old && strcmp(old, name) == 0)
		return;
	if (!old && h->id_owner.count >= ID_OWNER_MAX) {
		if (!warned)
			hc_warn("msg=\"too many stored sessions to remember their owners\" max=%d",
				ID_OWNER_MAX);
		warned = true;
		return;
	}
	own = strdup(name);
	if (!own || hc_hmap_put(&h->id_owner, id, len, own, (void **)&old)) {
		free(own);
		return;
	}
	free(old);
}

static int free_owner_cb(void *ud, const char *key, void *value)
{
	(void)ud;
	(void)key;
	free(value);
	return 0;
}

static int free_client_cb(void *ud, const char *key, void *value)
{
	struct hauth_client *c = value;
	(void)ud;
	(void)key;
	hc_hmap_clear(&c->subs);
	free(c->key);
	free(c->id);
	free(c);
	return 0;
}

static int free_principal_cb(void *ud, const char *key, void *value)
{
	(void)ud;
	(void)key;
	hauth_presence__free(value);
	return 0;
}

void hauth_clients__free_all(struct hauth *h)
{
	hc_hmap_each(&h->clients, free_client_cb, NULL);
	hc_hmap_each(&h->principals, free_principal_cb, NULL);
	hc_hmap_clear(&h->clients);
	hc_hmap_clear(&h->by_id);
	hc_hmap_clear(&h->principals);
	hc_hmap_each(&h->id_owner, free_owner_cb, NULL);
	hc_hmap_clear(&h->id_owner);
}
