/* SPDX-License-Identifier: MIT */
/*
 * Ending connections whose right to exist ended: session revoked (logout,
 * hubctl session revoke, user deleted or password changed), session
 * expired, device deleted or its secret replaced, service key deleted or
 * replaced, a token whose session the store never showed. Runs on TICK: applies the store
 * follower's changes, then sweeps the live connections (at least every 250 ms, and at once after a
 * change), and kicks by client id with the will. Never from BASIC_AUTH (kicking the connecting
 * client there crashes 2.0.11).
 */
#include "hauth.h"
#include "hauth_presence.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <stdlib.h>
#include <string.h>

#define SWEEP_MS	250
#define UNSEEN_GRACE_MS 10000

/* Map a store revocation reason to the reason users see in left notices. */
static const char *notice_reason(const struct hc_dir_session *s)
{
	if (!s->revoked_at)
		return "expired";
	if (!strcmp(s->reason, "logout"))
		return "logout";
	return "kicked";
}

/* Whether c may stay; NULL if yes, else the reason it ends. */
static const char *verdict(struct hauth *h, struct hauth_client *c, int64_t now_ms)
{
	const struct hc_dir_principal *dp;
	const struct hc_dir_session *s;

	/* the gateway checks its own sockets (same directory, same rules) */
	if (c->kind == HAUTH_SERVICE || c->kind == HAUTH_LINK || !c->ctx)
		return NULL;
	dp = hc_dir_principal(h->dir, c->name, strlen(c->name));
	if (!dp)
		return "kicked";
	if (c->kind == HAUTH_DEVICE || c->kind == HAUTH_APP) {
		if (dp->kind != (c->kind == HAUTH_DEVICE ? HC_KIND_DEVICE : HC_KIND_SERVICE) ||
			!dp->has_secret ||
			memcmp(dp->secret_hash, c->secret_hash, sizeof(c->secret_hash)) != 0)
			return "kicked";
		return NULL;
	}
	s = hc_dir_session(h->dir, c->sid);
	if (!s) {
		if (c->session_seen)
			return "expired"; /* purged: it had ended */
		if (now_ms - c->connected_ms > UNSEEN_GRACE_MS)
			return "kicked"; /* the store never knew this session */
		return NULL;
	}
	c->session_seen = true;
	if (strcmp(s->principal, c->name) != 0)
		return "kicked";
	if (s->revoked_at || hc_now() >= s->expires_at)
		return notice_reason(s);
	return NULL;
}

struct sweep_ud {
	struct hauth *h;
	int64_t now_ms;
	char **ids;
	size_t n, cap;
};

static int sweep_cb(void *ud, const char *key, void *value)
{
	struct sweep_ud *s = ud;
	struct hauth_client *c = value;
	const char *why;
	(void)key;
	if (c->gone || c->end_reason)
		return 0;
	why = verdict(s->h, c, s->now_ms);
	if (!why)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		char **ids = realloc(s->ids, cap * sizeof(*ids));
		if (!ids)
			return 1;
		s->ids = ids;
		s->cap = cap;
	}
	s->ids[s->n] = strdup(c->id);
	if (!s->ids[s->n])
		return 1;
	s->n++;
	c->end_reason = why;
	{
		char idbuf[96];
		hc_info("%s/%s | session | ended reason=%s",
			hc_log_safe(c->ctx ? hauth_clientid__external(c->id) : c->id, idbuf,
				sizeof(idbuf)),
			c->name, why);
	}
	return 0;
}

static void sweep(struct hauth *h, int64_t now_ms)
{
	struct sweep_ud s = {.h = h, .now_ms = now_ms};

	/* mark first, kick after: a kick fires DISCONNECT, which edits the
	 * table we would otherwise be walking */
	hc_hmap_each(&h->clients, sweep_cb, &s);
	for (size_t i = 0; i < s.n; i++) {
		mosquitto_kick_client_by_clientid(s.ids[i], true);
		h->stats.kicks++;
		free(s.ids[i]);
	}
	free(s.ids);
}

const char *hauth_revoke__session_end(struct hauth *h, const char *sid)
{
	const struct hc_dir_session *s = sid && *sid ? hc_dir_session(h->dir, sid) : NULL;
	if (!s || (!s->revoked_at && hc_now() < s->expires_at))
		return NULL;
	return notice_reason(s);
}

void hauth_revoke__kick(struct hauth *h, struct hauth_client *c, const char *reason)
{
	char *id;
	if (c->gone || c->end_reason)
		return;
	c->end_reason = reason;
	id = strdup(c->id);
	if (!id)
		return;
	mosquitto_kick_client_by_clientid(id, true);
	h->stats.kicks++;
	free(id);
}

static void on_change(void *ud, const struct hc_change *chg, const struct hc_acl_dir *dir)
{
	struct hauth *h = ud;
	(void)dir;
	switch (chg->type) {
	case HC_CHG_SESSION:
	case HC_CHG_SESSION_DEL:
	case HC_CHG_PRINCIPAL:
	case HC_CHG_PRINCIPAL_DEL:
	case HC_CHG_RELOAD:
		h->last_sweep_ms = 0; /* look at once */
		break;
	default:
		break;
	}
	hauth_presence__change(h, chg);
	hauth_retain__change(h, chg);
}

void hauth_revoke__tick(struct hauth *h, int64_t now_ms)
{
	hc_follow_apply(h->follow, &h->dir, on_change, h);
	if (now_ms - h->last_sweep_ms >= SWEEP_MS) {
		h->last_sweep_ms = now_ms;
		sweep(h, now_ms);
	}
}
