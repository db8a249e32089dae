/* SPDX-License-Identifier: MIT */
/*
 * Local rooms and fan-out. The bridge holds one broker subscription for
 * everything; this file maps each message to the sockets it concerns:
 *
 *   rooms/{r}/ev/{event}/{sender}   -> sockets joined to r: event(data, meta)
 *   rooms/{r}/sys/joined|left       -> sockets joined to r: joined/left
 *   rooms/{r}/presence/{user}       -> the member map of r (retained)
 *   users/{u}/inbox/{event}/{from}  -> every socket of user u
 *
 * A packet is encoded once per message and shared (with its binary
 * attachments, args.h); each socket gets it only if hc_acl_check(dir,
 * user, topic, READ) allows it (the same check the broker makes for its
 * own subscribers). The sender's own socket does not get its event back
 * (the publish carries its origin tag). With recovery on, every delivery
 * gets the next offset as its last argument (recovery.c), and detached
 * records in a room get it too.
 */
#include "args.h"
#include "buf.h"
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hbr_room {
	char name[HC_NAME_MAX + 1];
	struct hbr_sock **socks; /* joined sockets */
	size_t n, cap;
	struct hc_hmap members; /* online user -> (void *)(intptr_t)(since + 1) */
};

const char *hbr_rooms__name(const struct hbr_room *r)
{
	return r->name;
}

static struct hbr_room *room_get(struct hbr *h, const char *name, size_t len, bool create)
{
	struct hbr_room *r = hc_hmap_get(&h->rooms, name, len);
	if (r || !create)
		return r;
	if (len > HC_NAME_MAX)
		return NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	memcpy(r->name, name, len);
	hc_hmap_init(&r->members);
	if (hc_hmap_put(&h->rooms, r->name, len, r, NULL)) {
		free(r);
		return NULL;
	}
	return r;
}

/* ------------------------------------------------------------ joins */

int hbr_rooms__join(struct hbr *h, struct hbr_sock *s, const char *name, size_t len)
{
	struct hbr_room *r;

	for (int i = 0; i < s->njoins; i++)
		if (strlen(s->joins[i].room->name) == len &&
			!memcmp(s->joins[i].room->name, name, len)) {
			s->current = i;
			return HUB_OK;
		}
	if (s->njoins >= HBR_ROOMS_MAX)
		return HUB_ERR_TOOBIG;
	r = room_get(h, name, len, true);
	if (!r)
		return HUB_ERR_NOMEM;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct hbr_sock **v = realloc(r->socks, cap * sizeof(*v));
		if (!v)
			return HUB_ERR_NOMEM;
		r->socks = v;
		r->cap = cap;
	}
	r->socks[r->n] = s;
	s->joins[s->njoins].room = r;
	s->joins[s->njoins].idx = r->n;
	r->n++;
	s->current = s->njoins++;
	return HUB_OK;
}

static void unjoin(struct hbr_sock *s, int j)
{
	struct hbr_room *r = s->joins[j].room;
	size_t idx = s->joins[j].idx;

	/* swap-remove from the room; fix the moved socket's index */
	r->n--;
	if (idx != r->n) {
		struct hbr_sock *moved = r->socks[r->n];
		r->socks[idx] = moved;
		for (int k = 0; k < moved->njoins; k++)
			if (moved->joins[k].room == r) {
				moved->joins[k].idx = idx;
				break;
			}
	}
	memmove(&s->joins[j], &s->joins[j + 1], (size_t)(s->njoins - j - 1) * sizeof(s->joins[0]));
	s->njoins--;
	/* the current room becomes the most recently joined one left */
	if (s->current == j)
		s->current = s->njoins - 1;
	else if (s->current > j)
		s->current--;
}

int hbr_rooms__leave(struct hbr *h, struct hbr_sock *s, const char *name, size_t len)
{
	(void)h;
	for (int i = 0; i < s->njoins; i++)
		if (strlen(s->joins[i].room->name) == len &&
			!memcmp(s->joins[i].room->name, name, len)) {
			unjoin(s, i);
			return HUB_OK;
		}
	return HUB_ERR_NOTFOUND;
}

void hbr_rooms__move(struct hbr_sock *from, struct hbr_sock *to)
{
	for (int i = 0; i < from->njoins; i++) {
		to->joins[i] = from->joins[i];
		to->joins[i].room->socks[to->joins[i].idx] = to;
	}
	to->njoins = from->njoins;
	to->current = from->current;
	from->njoins = 0;
	from->current = -1;
}

void hbr_rooms__leave_all(struct hbr *h, struct hbr_sock *s)
{
	(void)h;
	while (s->njoins)
		unjoin(s, s->njoins - 1);
	s->current = -1;
}

/* ------------------------------------------------------------ users */

int hbr_users__add(struct hbr *h, struct hbr_sock *s)
{
	struct hbr_sock *first = hc_hmap_get(&h->users, s->user, strlen(s->user));
	if (hc_hmap_put(&h->users, s->user, strlen(s->user), s, NULL))
		return HUB_ERR_NOMEM;
	s->user_prev = NULL;
	s->user_next = first;
	if (first)
		first->user_prev = s;
	return HUB_OK;
}

void hbr_users__del(struct hbr *h, struct hbr_sock *s)
{
	if (s->user_prev) {
		s->user_prev->user_next = s->user_next;
	} else if (s->user_next) {
		hc_hmap_put(&h->users, s->user, strlen(s->user), s->user_next, NULL);
	} else if (hc_hmap_get(&h->users, s->user, strlen(s->user)) == s) {
		hc_hmap_del(&h->users, s->user, strlen(s->user));
	}
	if (s->user_next)
		s->user_next->user_prev = s->user_prev;
	s->user_next = s->user_prev = NULL;
}

/* ------------------------------------------------------------ presence */

struct snap_ud {
	struct hbr_buf *b;
	int n;
};

static int snap_cb(void *ud, const char *user, void *value)
{
	struct snap_ud *u = ud;
	if (u->n++)
		hbr_buf__put(u->b, ",", 1);
	hbr_buf__puts(u->b, "{\"user\":\"");
	hbr_buf__puts(u->b, user); /* a valid name: nothing to escape */
	hbr_buf__puts(u->b, "\",\"since\":");
	hbr_buf__int(u->b, (long long)((intptr_t)value - 1));
	hbr_buf__put(u->b, "}", 1);
	return u->b->err;
}

void hbr_rooms__presence_snapshot(struct hbr *h, struct hbr_sock *s, struct hbr_room *r)
{
	struct hbr_buf b;
	struct snap_ud u = {.b = &b};

	hbr_buf__init(&b, (size_t)h->max_payload);
	hbr_buf__puts(&b, "{\"room\":\"");
	hbr_buf__puts(&b, r->name);
	hbr_buf__puts(&b, "\",\"users\":[");
	hc_hmap_each(&r->members, snap_cb, &u);
	hbr_buf__puts(&b, "],\"online\":");
	hbr_buf__int(&b, u.n);
	hbr_buf__puts(&b, "},{\"room\":\"");
	hbr_buf__puts(&b, r->name);
	hbr_buf__puts(&b, "\"}");
	if (!b.err)
		hbr_sio__emit(h, s, "presence", b.p);
	hbr_buf__free(&b);
}

static void presence_update(struct hbr *h, const char *room, size_t rlen, const char *user,
	size_t ulen, const void *payload, size_t len)
{
	struct hbr_room *r = room_get(h, room, rlen, len > 0);
	cJSON *j;
	double since = 0;

	if (!r || !hc_name_valid_n(user, ulen))
		return;
	if (!len) {
		hc_hmap_del(&r->members, user, ulen);
		return;
	}
	j = cJSON_ParseWithLength(payload, len);
	if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "since")))
		since = cJSON_GetObjectItemCaseSensitive(j, "since")->valuedouble;
	cJSON_Delete(j);
	if (since < 0 || since > 1e15)
		since = 0;
	hc_hmap_put(&r->members, user, ulen, (void *)(intptr_t)((int64_t)since + 1), NULL);
}

static int reset_cb(void *ud, const char *key, void *value)
{
	struct hbr_room *r = value;
	(void)ud;
	(void)key;
	hc_hmap_clear(&r->members);
	return 0;
}

void hbr_rooms__presence_reset(struct hbr *h)
{
	hc_hmap_each(&h->rooms, reset_cb, NULL);
}

/* ------------------------------------------------------------ fan-out */

/* Split "a/b/c..." into at most n levels; returns the count (n+1 when
 * there are more). */
static int levels(const char *t, size_t len, const char **lv, size_t *ll, int n)
{
	int k = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && t[i] != '/')
			continue;
		if (k == n)
			return n + 1;
		lv[k] = t + start;
		ll[k] = i - start;
		k++;
		start = i + 1;
	}
	return k;
}

static uint64_t origin_serial(struct hbr *h, const char *origin)
{
	size_t tl = strlen(h->origin_tag);
	char *end;
	unsigned long long v;
	if (!origin || strncmp(origin, h->origin_tag, tl) || origin[tl] != ':')
		return 0;
	v = strtoull(origin + tl + 1, &end, 10);
	return *end ? 0 : (uint64_t)v;
}

/* One delivery, encoded once: the Socket.IO packet and its attachments. */
struct out {
	struct hbr_msg *pkt;
	struct hbr_msg *att[HBR_SIO_ATTACH_MAX];
	int natt;
};

static void out_free(struct out *o)
{
	hbr_msg__unref(o->pkt);
	for (int i = 0; i < o->natt; i++)
		hbr_msg__unref(o->att[i]);
	memset(o, 0, sizeof(*o));
}

/* Send o to s: the packet then its attachments, back to back. 1 if s
 * ended (slow consumer, a record over its bounds). A socket that has it
 * already (the last thing it was given) is skipped: a socket ended during
 * a fan-out may move another one of the room to a place not visited yet. */
static int send_out(struct hbr *h, struct hbr_sock *s, const struct out *o)
{
	const struct hbr_msg *last = o->natt ? o->att[o->natt - 1] : o->pkt;
	if (s->qlen && s->q[(s->qhead + s->qlen - 1) % s->qcap] == last)
		return 0;
	if (hbr_sock__send(h, s, o->pkt))
		return 1;
	for (int i = 0; i < o->natt; i++)
		if (hbr_sock__send(h, s, o->att[i]))
			return 1;
	return 0;
}

/*
 * Build the delivery of an event: event(args..., meta[, offset]) where the
 * arguments come from the payload (args.h). meta is JSON text. HUB_OK, or
 * an error (the payload cannot be delivered: too big, not representable).
 */
static int build(struct hbr *h, struct out *o, const char *topic, size_t tlen, const char *event,
	size_t elen, const void *payload, size_t len, int enc, const char *meta, size_t mlen)
{
	struct hbr_buf bins, b;
	struct hbr_att att[HBR_SIO_ATTACH_MAX];
	bool bins_off[HBR_SIO_ATTACH_MAX];
	uint64_t seq = h->rec_ms ? ++h->next_seq : 0;
	size_t at;
	int n, rc = HUB_OK;

	memset(o, 0, sizeof(*o));
	hbr_buf__init(&bins, (size_t)h->max_payload + 4096);
	hbr_buf__init(&b, (size_t)h->max_payload * 6 + 8192);
	/* "42[event," then the arguments straight into the packet; a binary
	 * packet's header ("45<n>-[") is put in front afterwards */
	hbr_buf__puts(&b, "42[");
	hbr_buf__json_str(&b, event, elen);
	hbr_buf__put(&b, ",", 1);
	at = b.len;
	n = hbr_args__decode(payload, len, enc, &b, &bins, att, bins_off);
	if (n < 0 || b.err) {
		rc = HUB_ERR_INVAL;
		goto done;
	}
	if (b.len > at)
		hbr_buf__put(&b, ",", 1);
	hbr_buf__put(&b, meta, mlen);
	if (seq) {
		/* the offset socket.io-client keeps and sends back to recover */
		hbr_buf__puts(&b, ",\"");
		hbr_buf__int(&b, (long long)seq);
		hbr_buf__put(&b, "\"", 1);
	}
	hbr_buf__put(&b, "]", 1);
	if (n && !b.err) {
		struct hbr_buf bb;
		hbr_buf__init(&bb, b.max + 16);
		hbr_buf__puts(&bb, "45");
		hbr_buf__int(&bb, n);
		hbr_buf__puts(&bb, "-");
		hbr_buf__put(&bb, b.p + 2, b.len - 2);
		hbr_buf__free(&b);
		b = bb;
	}
	if (b.err || !(o->pkt = hbr_msg__new(b.p, b.len))) {
		rc = b.err ? b.err : HUB_ERR_NOMEM;
		goto done;
	}
	o->pkt->seq = seq;
	/* a replay (recovery.c) checks READ again: the user may have lost
	 * the room while away */
	if (seq && !(o->pkt->topic = strndup(topic, tlen))) {
		rc = HUB_ERR_NOMEM;
		goto done;
	}
	for (int i = 0; i < n; i++) {
		const unsigned char *p =
			bins_off[i] ? (const unsigned char *)bins.p + (uintptr_t)att[i].p
				    : att[i].p;
		struct hbr_msg *m = hbr_msg__new(p, att[i].len);
		if (!m) {
			rc = HUB_ERR_NOMEM;
			goto done;
		}
		m->binary = true;
		m->seq = seq;
		o->att[o->natt++] = m;
	}
done:
	if (rc)
		out_free(o);
	hbr_buf__free(&bins);
	hbr_buf__free(&b);
	return rc;
}

/* Queue o to the sockets of r that may read topic (newest last; walking
 * backwards keeps going when a slow socket is dropped mid-way). */
static void fan_out(struct hbr *h, struct hbr_room *r, const char *topic, size_t tlen,
	struct out *o, uint64_t skip)
{
	for (size_t i = r->n; i-- > 0;) {
		struct hbr_sock *s;
		struct hc_acl_decision d = {.explain = false};
		if (i >= r->n)
			continue;
		s = r->socks[i];
		if (s->serial == skip)
			continue;
		hc_acl_check(h->dir, s->user, topic, tlen, HC_ACL_READ, &d);
		if (!d.allow)
			continue;
		h->stats.events_out++;
		send_out(h, s, o);
	}
}

static void deliver_room_event(struct hbr *h, struct hbr_room *r, const char *topic, size_t tlen,
	const char *event, size_t elen, const char *from, size_t flen, const void *payload,
	size_t len, int enc, uint64_t skip, int64_t ts_ms)
{
	struct hbr_buf meta;
	struct out o;
	int rc;

	hbr_buf__init(&meta, 512);
	hbr_buf__puts(&meta, "{\"room\":\"");
	hbr_buf__puts(&meta, r->name);
	hbr_buf__puts(&meta, "\",\"from\":");
	hbr_buf__json_str(&meta, from, flen);
	hbr_buf__puts(&meta, ",\"ts\":");
	hbr_buf__int(&meta, (long long)ts_ms);
	hbr_buf__puts(&meta, "}");
	rc = meta.err ? meta.err
		      : build(h, &o, topic, tlen, event, elen, payload, len, enc, meta.p, meta.len);
	hbr_buf__free(&meta);
	if (rc) {
		hc_warn("msg=\"event not delivered: too big or not representable\" room=%s "
			"bytes=%zu",
			r->name, len);
		return;
	}
	fan_out(h, r, topic, tlen, &o, skip);
	out_free(&o);
}

static void deliver_notice(struct hbr *h, struct hbr_room *r, const char *topic, size_t tlen,
	const char *notice, const void *payload, size_t len)
{
	char meta[96];
	struct out o;

	hc_fmt(meta, sizeof(meta), "{\"room\":\"%s\"}", r->name);
	if (build(h, &o, topic, tlen, notice, strlen(notice), payload, len, HBR_ENC_AUTO, meta,
		    strlen(meta)))
		return;
	fan_out(h, r, topic, tlen, &o, 0);
	out_free(&o);
}

static void deliver_inbox(struct hbr *h, const char *topic, size_t tlen, const char *user,
	size_t ulen, const char *event, size_t elen, const char *from, size_t flen,
	const void *payload, size_t len, int enc, uint64_t skip, int64_t ts_ms)
{
	struct hbr_sock *first = hc_hmap_get(&h->users, user, ulen);
	struct hbr_buf meta;
	struct out o;
	struct hbr_sock **list;
	int n = 0, cap = 0, rc;

	if (!first)
		return;
	for (struct hbr_sock *s = first; s; s = s->user_next)
		cap++;
	hbr_buf__init(&meta, 512);
	hbr_buf__puts(&meta, "{\"room\":null,\"from\":");
	hbr_buf__json_str(&meta, from, flen);
	hbr_buf__puts(&meta, ",\"ts\":");
	hbr_buf__int(&meta, (long long)ts_ms);
	hbr_buf__puts(&meta, ",\"inbox\":true}");
	rc = meta.err ? meta.err
		      : build(h, &o, topic, tlen, event, elen, payload, len, enc, meta.p, meta.len);
	hbr_buf__free(&meta);
	if (rc)
		return;
	/* collect first: a send may end a socket and edit the list */
	list = malloc((size_t)cap * sizeof(*list));
	if (!list) {
		out_free(&o);
		return;
	}
	for (struct hbr_sock *s = first; s && n < cap; s = s->user_next)
		if (s->serial != skip)
			list[n++] = s;
	for (int i = 0; i < n; i++) {
		struct hc_acl_decision d = {.explain = false};
		if (!hbr_eio__by_serial(h, list[i]->serial))
			continue;
		hc_acl_check(h->dir, list[i]->user, topic, tlen, HC_ACL_READ, &d);
		if (d.allow) {
			h->stats.events_out++;
			send_out(h, list[i], &o);
		}
	}
	free(list);
	out_free(&o);
}

void hbr_rooms__deliver(struct hbr *h, const char *topic, const void *payload, size_t len, int enc,
	const char *origin, int64_t ts_ms)
{
	const char *lv[6];
	size_t ll[6], tlen = strlen(topic);
	int n = levels(topic, tlen, lv, ll, 5);
	uint64_t skip = origin_serial(h, origin);
	struct hbr_room *r;

	if (n < 3)
		return;
	if (ll[0] == 5 && !memcmp(lv[0], "rooms", 5)) {
		if (n == 4 && ll[2] == 8 && !memcmp(lv[2], "presence", 8)) {
			presence_update(h, lv[1], ll[1], lv[3], ll[3], payload, len);
			return;
		}
		r = room_get(h, lv[1], ll[1], false);
		if (!r || !r->n)
			return;
		if (n == 5 && ll[2] == 2 && !memcmp(lv[2], "ev", 2)) {
			if (!hc_event_valid_n(lv[3], ll[3]) || hbr_sio__reserved(lv[3], ll[3]))
				return;
			deliver_room_event(h, r, topic, tlen, lv[3], ll[3], lv[4], ll[4], payload,
				len, enc, skip, ts_ms);
		} else if (n == 4 && ll[2] == 3 && !memcmp(lv[2], "sys", 3)) {
			if (ll[3] == 6 && !memcmp(lv[3], "joined", 6))
				deliver_notice(h, r, topic, tlen, "joined", payload, len);
			else if (ll[3] == 4 && !memcmp(lv[3], "left", 4))
				deliver_notice(h, r, topic, tlen, "left", payload, len);
		}
	} else if (n == 5 && ll[0] == 5 && !memcmp(lv[0], "users", 5) && ll[2] == 5 &&
		   !memcmp(lv[2], "inbox", 5)) {
		if (!hc_event_valid_n(lv[3], ll[3]) || hbr_sio__reserved(lv[3], ll[3]))
			return;
		deliver_inbox(h, topic, tlen, lv[1], ll[1], lv[3], ll[3], lv[4], ll[4], payload,
			len, enc, skip, ts_ms);
	}
}

/* ------------------------------------------------------------ upkeep */

struct recheck_ud {
	struct hbr *h;
};

static int recheck_cb(void *ud, const char *key, void *value)
{
	struct recheck_ud *u = ud;
	struct hbr_sock *s = value;
	(void)key;
	if (!s->connected && s->state != HBR_S_DETACHED)
		return 0;
	for (int i = s->njoins; i-- > 0;) {
		char topic[96];
		struct hc_acl_decision d = {.explain = false};
		hc_fmt(topic, sizeof(topic), "rooms/%s/#", s->joins[i].room->name);
		hc_acl_check(u->h->dir, s->user, topic, strlen(topic), HC_ACL_SUBSCRIBE, &d);
		if (!d.allow) {
			hc_info("%s/%s | room | removed room=%s (no longer readable)", s->sock_id,
				s->user, s->joins[i].room->name);
			unjoin(s, i);
		}
	}
	return 0;
}

void hbr_rooms__recheck(struct hbr *h)
{
	struct recheck_ud u = {.h = h};
	hc_hmap_each(&h->serials, recheck_cb, &u);
}

static int free_cb(void *ud, const char *key, void *value)
{
	struct hbr_room *r = value;
	(void)ud;
	(void)key;
	hc_hmap_clear(&r->members);
	free(r->socks);
	free(r);
	return 0;
}

void hbr_rooms__free(struct hbr *h)
{
	hc_hmap_each(&h->rooms, free_cb, NULL);
	hc_hmap_clear(&h->rooms);
}
