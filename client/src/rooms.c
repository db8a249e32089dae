/* SPDX-License-Identifier: MIT */
/*
 * Joined rooms: the three subscriptions of each (events, notices,
 * presence), the SUBACK verdict, re-joining after a reconnect, and each
 * room's presence list from the hub's retained rooms/{room}/presence/+.
 * Rooms removed while a callback runs are freed when it returns.
 */
#include "hubio_int.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdlib.h>
#include <string.h>

struct hubio__room *hubio__room_find(struct hubio *h, const char *room)
{
	for (struct hubio__room *r = h->rooms; r; r = r->next)
		if (!r->dead && strcmp(r->name, room) == 0)
			return r;
	return NULL;
}

static void room_free(struct hubio__room *r)
{
	hubio__members_clear(&r->members);
	free(r);
}

void hubio__rooms_sweep(struct hubio *h)
{
	struct hubio__room **pp = &h->rooms;
	while (*pp) {
		struct hubio__room *r = *pp;
		if (r->dead) {
			*pp = r->next;
			room_free(r);
		} else {
			pp = &r->next;
		}
	}
}

static void room_drop(struct hubio *h, struct hubio__room *r)
{
	r->dead = true;
	h->nrooms--;
	if (h->depth == 0)
		hubio__rooms_sweep(h);
}

static void unsubscribe(struct hubio *h, const char *room)
{
	char f[3][HUBIO__TOPIC_MAX];
	char *subs[3] = {f[0], f[1], f[2]};
	if (h->up && hubio__topic_room_filters(f, room) == HUBIO_OK)
		mosquitto_unsubscribe_multiple(h->mosq, NULL, 3, subs, NULL);
}

int hubio__room_subscribe(struct hubio *h, struct hubio__room *r)
{
	char f[3][HUBIO__TOPIC_MAX];
	char *subs[3] = {f[0], f[1], f[2]};
	/* MQTT 5: no-local, so our own emits do not come back to us (other
	 * connections of the same user still get them) */
	int options = h->protocol == 5 ? MQTT_SUB_OPT_NO_LOCAL : 0;
	int rc, mid = 0;

	if ((rc = hubio__topic_room_filters(f, r->name)))
		return rc;
	rc = mosquitto_subscribe_multiple(h->mosq, &mid, 3, subs, 1, options, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		return rc == MOSQ_ERR_NOMEM ? HUBIO_ENOMEM : HUBIO_EPROTO;
	r->sub_mid = mid;
	r->state = HUBIO__ROOM_PENDING;
	return HUBIO_OK;
}

void hubio__rooms_resubscribe(struct hubio *h)
{
	for (struct hubio__room *r = h->rooms; r; r = r->next)
		if (!r->dead)
			hubio__room_subscribe(h, r);
}

static void presence_changed(struct hubio *h, struct hubio__room *r)
{
	struct hubio_member *view = NULL;
	if (!r->presence_cb)
		return;
	if (r->members.n) {
		view = calloc(r->members.n, sizeof(*view));
		if (!view) {
			hubio__error(h, HUBIO_ENOMEM, r->name, "no memory for the presence list");
			return;
		}
		hubio__members_view(&r->members, view);
	}
	hubio__enter(h);
	r->presence_cb(h, r->name, view, r->members.n, r->presence_ud);
	hubio__leave(h);
	free(view);
}

void hubio__rooms_lost(struct hubio *h)
{
	/* the presence lists are rebuilt from the retained messages after the
	 * re-join; until then nobody is known to be there */
	hubio__enter(h);
	for (struct hubio__room *r = h->rooms; r; r = r->next) {
		if (r->dead)
			continue;
		r->state = HUBIO__ROOM_UNSUBSCRIBED;
		r->sub_mid = 0;
		if (r->members.n) {
			hubio__members_clear(&r->members);
			presence_changed(h, r);
		}
	}
	hubio__leave(h);
}

void hubio__rooms_suback(struct hubio *h, int mid, int n, const int *granted)
{
	struct hubio__room *r;
	bool refused = n < 3;
	hubio_join_fn cb;

	for (r = h->rooms; r; r = r->next)
		if (!r->dead && r->sub_mid == mid)
			break;
	if (!r)
		return;
	for (int i = 0; i < n; i++)
		if (granted[i] >= 0x80)
			refused = true;
	r->sub_mid = 0;
	cb = r->reported ? NULL : r->join_cb;
	r->reported = true;
	hubio__enter(h);
	if (refused) {
		char name[HUBIO__NAME_MAX + 1];
		void *ud = r->join_ud;
		memcpy(name, r->name, sizeof(name));
		/* a filter the hub did grant would stay: drop all three */
		unsubscribe(h, name);
		room_drop(h, r);
		if (cb)
			cb(h, name, HUBIO_EFORBIDDEN, ud);
		else /* a re-join after reconnect, or nobody asked */
			hubio__error(h, HUBIO_EFORBIDDEN, name, "the hub refused to join the room");
	} else {
		r->state = HUBIO__ROOM_SUBSCRIBED;
		if (cb)
			cb(h, r->name, HUBIO_OK, r->join_ud);
	}
	hubio__leave(h);
}

void hubio__rooms_presence(
	struct hubio *h, const struct hubio__topic *t, const char *data, size_t len)
{
	struct hubio__room *r = hubio__room_find(h, t->room);
	bool present;
	int64_t since;
	int changed;

	if (!r || hubio__presence_parse(data, len, &present, &since) != HUBIO_OK)
		return;
	changed = present ? hubio__members_set(&r->members, t->from, since)
			  : hubio__members_remove(&r->members, t->from);
	if (changed == -HUBIO_EFULL) {
		hubio__error(h, HUBIO_EFULL, r->name, "presence list full (members_max)");
		return;
	}
	if (changed > 0)
		presence_changed(h, r);
}

void hubio__rooms_free(struct hubio *h)
{
	while (h->rooms) {
		struct hubio__room *r = h->rooms;
		h->rooms = r->next;
		if (!r->dead && !r->reported && r->join_cb) {
			r->reported = true;
			r->join_cb(h, r->name, HUBIO_ECANCELED, r->join_ud);
		}
		room_free(r);
	}
	h->nrooms = 0;
}

/* ------------------------------------------------------------- the API */

HUBIO_API int hubio_join(struct hubio *h, const char *room, hubio_join_fn cb, void *ud)
{
	struct hubio__room *r;
	int rc = HUBIO_OK;

	if (!h || !hubio__name_valid(room))
		return HUBIO_EINVAL;
	hubio__lock(h);
	if (hubio__room_find(h, room)) {
		rc = HUBIO_ESTATE;
		goto out;
	}
	if (h->nrooms >= h->rooms_max) {
		rc = HUBIO_EFULL;
		goto out;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = HUBIO_ENOMEM;
		goto out;
	}
	memcpy(r->name, room, strlen(room) + 1);
	r->join_cb = cb;
	r->join_ud = ud;
	r->members.max = (size_t)h->members_max;
	r->next = h->rooms;
	h->rooms = r;
	h->nrooms++;
	/* subscribed now when connected, else at the next CONNACK */
	if (h->up && hubio__room_subscribe(h, r) != HUBIO_OK)
		r->state = HUBIO__ROOM_UNSUBSCRIBED;
	hubio__wakeup(h);
out:
	hubio__unlock(h);
	return rc;
}

HUBIO_API int hubio_leave(struct hubio *h, const char *room)
{
	struct hubio__room *r;
	hubio_join_fn cb = NULL;
	void *ud = NULL;
	char name[HUBIO__NAME_MAX + 1];

	if (!h || !hubio__name_valid(room))
		return HUBIO_EINVAL;
	hubio__lock(h);
	r = hubio__room_find(h, room);
	if (!r) {
		hubio__unlock(h);
		return HUBIO_ENOTFOUND;
	}
	if (r->state != HUBIO__ROOM_UNSUBSCRIBED)
		unsubscribe(h, r->name);
	if (!r->reported) {
		cb = r->join_cb;
		ud = r->join_ud;
		r->reported = true;
	}
	memcpy(name, r->name, sizeof(name));
	hubio__enter(h);
	room_drop(h, r);
	if (cb)
		cb(h, name, HUBIO_ECANCELED, ud);
	hubio__leave(h);
	hubio__wakeup(h);
	hubio__unlock(h);
	return HUBIO_OK;
}

HUBIO_API int hubio_on_presence(struct hubio *h, const char *room, hubio_presence_fn cb, void *ud)
{
	struct hubio__room *r;
	if (!h || !hubio__name_valid(room))
		return HUBIO_EINVAL;
	hubio__lock(h);
	r = hubio__room_find(h, room);
	if (r) {
		r->presence_cb = cb;
		r->presence_ud = ud;
	}
	hubio__unlock(h);
	return r ? HUBIO_OK : HUBIO_ENOTFOUND;
}

HUBIO_API long hubio_presence_count(struct hubio *h, const char *room)
{
	struct hubio__room *r;
	long n = -1;
	if (!h || !hubio__name_valid(room))
		return -1;
	hubio__lock(h);
	r = hubio__room_find(h, room);
	if (r)
		n = (long)r->members.n;
	hubio__unlock(h);
	return n;
}
