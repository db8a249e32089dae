/* SPDX-License-Identifier: MIT */
/*
 * Failed-login limiter: slotted sliding windows in bounded LRU tables.
 * See ratelimit.h for the policy; docs/hubd.md explains the choices.
 */
#include "ratelimit.h"
#include "addr.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_hmap.h"
#include "hc_names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS	  16
#define TABLE_MAX 16384 /* entries per table; the oldest is evicted beyond */
#define KEY_MAX	  (HC_NAME_MAX + 1 + 64)
#define KNOWN_MS  ((int64_t)HUB_RL_KNOWN_DAYS * 86400 * 1000)

struct entry {
	struct entry *prev, *next; /* LRU list, head = most recently used */
	int64_t last;		   /* absolute slot of the newest update */
	int64_t known_at;	   /* known-address table: time of the success */
	int64_t retry_at;	   /* address table: told to wait until (monotonic ms) */
	uint32_t slots[SLOTS];
	size_t klen;
	char key[]; /* NUL-terminated */
};

struct table {
	struct hc_hmap map;
	struct entry *head, *tail;
	size_t count;
};

struct hub_ratelimit {
	struct table pair, addr, user, known;
	uint32_t pair_max, addr_max, user_max;
	int64_t slot_ms;
};

static void table_init(struct table *t)
{
	memset(t, 0, sizeof(*t));
	hc_hmap_init(&t->map);
}

static void unlink_entry(struct table *t, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		t->tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_head(struct table *t, struct entry *e)
{
	e->prev = NULL;
	e->next = t->head;
	if (t->head)
		t->head->prev = e;
	t->head = e;
	if (!t->tail)
		t->tail = e;
}

static void drop(struct table *t, struct entry *e)
{
	unlink_entry(t, e);
	hc_hmap_del(&t->map, e->key, e->klen);
	t->count--;
	free(e);
}

static void table_clear(struct table *t)
{
	while (t->head)
		drop(t, t->head);
	hc_hmap_clear(&t->map);
}

static struct entry *find(struct table *t, const char *key)
{
	return hc_hmap_get(&t->map, key, strlen(key));
}

/* Find or create (evicting the least recently used entry when full) and
 * mark as most recently used. NULL only when out of memory. */
static struct entry *touch(struct table *t, const char *key)
{
	size_t klen = strlen(key);
	struct entry *e = hc_hmap_get(&t->map, key, klen);

	if (e) {
		unlink_entry(t, e);
		push_head(t, e);
		return e;
	}
	if (t->count >= TABLE_MAX && t->tail)
		drop(t, t->tail);
	e = calloc(1, sizeof(*e) + klen + 1);
	if (!e)
		return NULL;
	memcpy(e->key, key, klen + 1);
	e->klen = klen;
	if (hc_hmap_put(&t->map, e->key, klen, e, NULL) != HUB_OK) {
		free(e);
		return NULL;
	}
	push_head(t, e);
	t->count++;
	return e;
}

/* Age the slots of e up to the current slot. */
static void advance(struct entry *e, int64_t slot)
{
	if (slot <= e->last)
		return;
	if (slot - e->last >= SLOTS) {
		memset(e->slots, 0, sizeof(e->slots));
	} else {
		for (int64_t s = e->last + 1; s <= slot; s++)
			e->slots[s % SLOTS] = 0;
	}
	e->last = slot;
}

/* Milliseconds until e's count in the window drops below max (0: now). */
static int64_t blocked_for(
	const struct hub_ratelimit *rl, struct entry *e, uint32_t max, int64_t now_ms)
{
	int64_t slot = now_ms / rl->slot_ms;
	uint64_t total = 0, dropped = 0;

	advance(e, slot);
	for (int i = 0; i < SLOTS; i++)
		total += e->slots[i];
	if (total < max)
		return 0;
	/* the oldest slot leaves the window first */
	for (int64_t k = slot - SLOTS + 1; k <= slot; k++) {
		if (k >= 0)
			dropped += e->slots[k % SLOTS];
		if (total - dropped < max)
			return (k + SLOTS) * rl->slot_ms - now_ms;
	}
	return (slot + SLOTS) * rl->slot_ms - now_ms; /* not reached: max >= 1 */
}

static void bump(struct table *t, const char *key, int64_t slot)
{
	struct entry *e = touch(t, key);
	if (!e)
		return; /* out of memory: fail open rather than lock everyone out */
	advance(e, slot);
	if (e->slots[slot % SLOTS] < UINT32_MAX)
		e->slots[slot % SLOTS]++;
}

static void unbump(struct table *t, const char *key, int64_t slot)
{
	struct entry *e = find(t, key);
	if (!e || slot <= e->last - SLOTS || slot > e->last)
		return; /* that slot has aged out already */
	if (e->slots[slot % SLOTS] > 0)
		e->slots[slot % SLOTS]--;
}

static void pair_key(const char *user, const char *addr, char *out, size_t n)
{
	snprintf(out, n, "%s\n%s", user, addr);
}

static bool is_known(struct hub_ratelimit *rl, const char *user, const char *addr, int64_t now_ms)
{
	char key[KEY_MAX];
	struct entry *e;

	pair_key(user, addr, key, sizeof(key));
	e = find(&rl->known, key);
	if (!e)
		return false;
	if (now_ms - e->known_at < KNOWN_MS)
		return true;
	drop(&rl->known, e);
	return false;
}

int hub_ratelimit_new(const struct hc_config *cfg, struct hub_ratelimit **out)
{
	struct hub_ratelimit *rl = calloc(1, sizeof(*rl));
	int64_t window_ms = hc_cfg_int(cfg, HC_CFG_LOGIN_FAIL_WINDOW) * 1000;

	*out = rl;
	if (!rl)
		return HUB_ERR_NOMEM;
	table_init(&rl->pair);
	table_init(&rl->addr);
	table_init(&rl->user);
	table_init(&rl->known);
	rl->pair_max = (uint32_t)hc_cfg_int(cfg, HC_CFG_LOGIN_FAIL_PAIR_MAX);
	rl->addr_max = (uint32_t)hc_cfg_int(cfg, HC_CFG_LOGIN_FAIL_ADDR_MAX);
	rl->user_max = (uint32_t)hc_cfg_int(cfg, HC_CFG_LOGIN_FAIL_USER_MAX);
	rl->slot_ms = (window_ms + SLOTS - 1) / SLOTS;
	return HUB_OK;
}

void hub_ratelimit_free(struct hub_ratelimit *rl)
{
	if (!rl)
		return;
	table_clear(&rl->pair);
	table_clear(&rl->addr);
	table_clear(&rl->user);
	table_clear(&rl->known);
	free(rl);
}

bool hub_ratelimit_allow(struct hub_ratelimit *rl, const char *user, const char *addr,
	int64_t now_ms, int *retry_after)
{
	char key[KEY_MAX];
	struct entry *e;
	int64_t worst = 0, ms;

	hc_addr_key(addr, key, sizeof(key));
	e = find(&rl->addr, key);
	if (e && (ms = blocked_for(rl, e, rl->addr_max, now_ms)) > worst)
		worst = ms;
	if (user) {
		pair_key(user, addr, key, sizeof(key));
		e = find(&rl->pair, key);
		if (e && (ms = blocked_for(rl, e, rl->pair_max, now_ms)) > worst)
			worst = ms;
		/* an address this user logged in from recently is not held back
		 * by failures others cause elsewhere */
		if (!is_known(rl, user, addr, now_ms)) {
			e = find(&rl->user, user);
			if (e && (ms = blocked_for(rl, e, rl->user_max, now_ms)) > worst)
				worst = ms;
		}
	}
	if (worst <= 0)
		return true;
	*retry_after = (int)((worst + 999) / 1000);
	if (*retry_after < 1)
		*retry_after = 1;
	return false;
}

void hub_ratelimit_charge(struct hub_ratelimit *rl, const char *user, const char *addr,
	int64_t now_ms, struct hub_rl_ticket *t)
{
	char key[KEY_MAX];

	memset(t, 0, sizeof(*t));
	t->slot = now_ms / rl->slot_ms;
	hc_addr_key(addr, key, sizeof(key));
	bump(&rl->addr, key, t->slot);
	t->addr = true;
	if (!user)
		return;
	pair_key(user, addr, key, sizeof(key));
	bump(&rl->pair, key, t->slot);
	t->pair = true;
	if (!is_known(rl, user, addr, now_ms)) {
		bump(&rl->user, user, t->slot);
		t->user = true;
	}
}

void hub_ratelimit_refund(
	struct hub_ratelimit *rl, const char *user, const char *addr, const struct hub_rl_ticket *t)
{
	char key[KEY_MAX];

	if (t->addr) {
		hc_addr_key(addr, key, sizeof(key));
		unbump(&rl->addr, key, t->slot);
	}
	if (!user)
		return;
	if (t->pair) {
		pair_key(user, addr, key, sizeof(key));
		unbump(&rl->pair, key, t->slot);
	}
	if (t->user)
		unbump(&rl->user, user, t->slot);
}

void hub_ratelimit_success(struct hub_ratelimit *rl, const char *user, const char *addr,
	int64_t now_ms, const struct hub_rl_ticket *t)
{
	char key[KEY_MAX];
	struct entry *e;

	hub_ratelimit_refund(rl, user, addr, t);
	if (!user)
		return;
	pair_key(user, addr, key, sizeof(key));
	e = find(&rl->pair, key);
	if (e)
		drop(&rl->pair, e);
	e = touch(&rl->known, key);
	if (e)
		e->known_at = now_ms;
}

void hub_ratelimit_refund_keep_addr(
	struct hub_ratelimit *rl, const char *user, const char *addr, struct hub_rl_ticket *t)
{
	bool kept = t->addr;

	t->addr = false;
	hub_ratelimit_refund(rl, user, addr, t);
	t->addr = kept;
	t->pair = t->user = false;
}

/* Failures counted for e in the current window. */
static uint64_t window_count(const struct hub_ratelimit *rl, struct entry *e, int64_t now_ms)
{
	uint64_t total = 0;

	advance(e, now_ms / rl->slot_ms);
	for (int i = 0; i < SLOTS; i++)
		total += e->slots[i];
	return total;
}

int hub_ratelimit_lane(struct hub_ratelimit *rl, const char *user, const char *addr, int64_t now_ms)
{
	char key[KEY_MAX];
	struct entry *e;

	if (user && is_known(rl, user, addr, now_ms)) {
		pair_key(user, addr, key, sizeof(key));
		e = find(&rl->pair, key);
		if (!e || window_count(rl, e, now_ms) == 0)
			return HUB_LANE_KNOWN;
	}
	hc_addr_key(addr, key, sizeof(key));
	e = find(&rl->addr, key);
	if (e && (now_ms < e->retry_at || window_count(rl, e, now_ms) >= HUB_RL_SUSPECT_FAILS))
		return HUB_LANE_SUSPECT;
	return HUB_LANE_NEW;
}

void hub_ratelimit_told_to_wait(
	struct hub_ratelimit *rl, const char *addr, int64_t now_ms, int seconds)
{
	char key[KEY_MAX];
	struct entry *e;
	int64_t until = now_ms + (int64_t)seconds * 1000;

	hc_addr_key(addr, key, sizeof(key));
	e = touch(&rl->addr, key);
	if (e && until > e->retry_at)
		e->retry_at = until;
}

bool hub_ratelimit_impatient(struct hub_ratelimit *rl, const char *addr, int64_t now_ms)
{
	char key[KEY_MAX];
	struct entry *e;

	hc_addr_key(addr, key, sizeof(key));
	e = find(&rl->addr, key);
	return e && now_ms < e->retry_at;
}
