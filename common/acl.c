/* SPDX-License-Identifier: MIT */
/*
 * The one ACL decision function. Topics are split into levels in place (no
 * allocation); each rule is a few hash lookups. Subscriptions are checked
 * filter-against-shape: a filter is accepted when it could match some topic
 * the principal may read (what each delivery carries is then checked per
 * message, so a wildcard never leaks).
 */
#include "hc_acl.h"
#include "hc_store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_LEVELS 8

struct levels {
	int n;
	const char *p[MAX_LEVELS];
	size_t len[MAX_LEVELS];
};

/* Split; returns -1 if there are more than MAX_LEVELS levels. */
static int split(const char *t, size_t len, struct levels *lv)
{
	size_t start = 0;
	lv->n = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || t[i] == '/') {
			if (lv->n == MAX_LEVELS)
				return -1;
			lv->p[lv->n] = t + start;
			lv->len[lv->n] = i - start;
			lv->n++;
			start = i + 1;
		}
	}
	return 0;
}

static bool is(const struct levels *lv, int i, const char *lit)
{
	size_t l = strlen(lit);
	return i < lv->n && lv->len[i] == l && memcmp(lv->p[i], lit, l) == 0;
}

static bool eq_principal(const struct levels *lv, int i, const char *principal)
{
	size_t l = strlen(principal);
	return lv->len[i] == l && memcmp(lv->p[i], principal, l) == 0;
}

static void verdict(struct hc_acl_decision *d, bool allow, const char *rule, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void verdict(struct hc_acl_decision *d, bool allow, const char *rule, const char *fmt, ...)
{
	d->allow = allow;
	d->rule = rule;
	if (d->explain && fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(d->text, sizeof(d->text), fmt, ap);
		va_end(ap);
		d->rule = d->text;
	}
}

/* ----------------------------------------------------- directory helpers */

int hc_dir_level(const struct hc_acl_dir *dir, const char *room, size_t rlen, const char *principal)
{
	const struct hc_dir_principal *p =
		hc_hmap_get(&dir->principals, principal, strlen(principal));
	if (!p)
		return HC_LEVEL_NONE;
	return (int)(intptr_t)hc_hmap_get(&p->rooms, room, rlen);
}

struct shares_ud {
	const struct hc_dir_principal *other;
	const char *room;
	bool found;
};

static int shares_cb(void *ud, const char *room, void *value)
{
	struct shares_ud *s = ud;
	(void)value;
	if (hc_hmap_get(&s->other->rooms, room, strlen(room))) {
		s->found = true;
		s->room = room;
		return 1;
	}
	return 0;
}

/* The first room a and b share, or NULL (for explanations). */
static const char *shared_room(
	const struct hc_acl_dir *dir, const char *a, const char *b, size_t blen)
{
	const struct hc_dir_principal *pa = hc_hmap_get(&dir->principals, a, strlen(a));
	const struct hc_dir_principal *pb = hc_hmap_get(&dir->principals, b, blen);
	struct shares_ud s = {0};
	if (!pa || !pb)
		return NULL;
	s.other = pb;
	hc_hmap_each(&pa->rooms, shares_cb, &s);
	return s.room;
}

bool hc_dir_shares_room(const struct hc_acl_dir *dir, const char *a, const char *b, size_t blen)
{
	const struct hc_dir_principal *pa = hc_hmap_get(&dir->principals, a, strlen(a));
	const struct hc_dir_principal *pb = hc_hmap_get(&dir->principals, b, blen);
	struct shares_ud s = {0};
	if (!pa || !pb)
		return false;
	/* walk the smaller set */
	if (pa->rooms.count > pb->rooms.count) {
		const struct hc_dir_principal *t = pa;
		pa = pb;
		pb = t;
	}
	s.other = pb;
	hc_hmap_each(&pa->rooms, shares_cb, &s);
	return s.found;
}

/* Whether dev names a device owned by owner. */
static bool owns_device(
	const struct hc_acl_dir *dir, const char *owner, const char *dev, size_t dlen)
{
	const struct hc_dir_principal *d = hc_hmap_get(&dir->principals, dev, dlen);
	return d && d->kind == HC_KIND_DEVICE && strcmp(d->owner, owner) == 0;
}

/* An admin sees where every device is: its location topic
 * (owntracks/{device}/{name}) and its users/{device}/status, read-only,
 * and nothing else of it (no events, commands, cards; no user's status). */
static bool admin_sees_device(const struct hc_acl_dir *dir, const struct hc_dir_principal *p,
	const char *dev, size_t dlen)
{
	const struct hc_dir_principal *d;
	if (!p->admin || p->kind != HC_KIND_USER)
		return false;
	d = hc_hmap_get(&dir->principals, dev, dlen);
	return d && d->kind == HC_KIND_DEVICE;
}

bool hc_dir_can_read_device(
	const struct hc_acl_dir *dir, const char *reader, const char *dev, size_t dlen)
{
	const struct hc_dir_principal *d = hc_hmap_get(&dir->principals, dev, dlen);
	size_t rl = strlen(reader);
	if (!d || d->kind != HC_KIND_DEVICE)
		return false;
	if ((rl == dlen && memcmp(reader, dev, dlen) == 0) || strcmp(reader, d->owner) == 0)
		return true;
	/* any room of the device the reader may read; a reader's membership at
	 * any level includes read */
	return hc_dir_shares_room(dir, reader, dev, dlen);
}

/* ------------------------------------------------------- topic (R/W) rules */

static bool valid_name_level(const struct levels *lv, int i)
{
	return hc_name_valid_n(lv->p[i], lv->len[i]);
}

static bool valid_event_level(const struct levels *lv, int i)
{
	return hc_event_valid_n(lv->p[i], lv->len[i]);
}

static void check_topic(const struct hc_acl_dir *dir, const struct hc_dir_principal *p,
	const struct levels *lv, int access, struct hc_acl_decision *d)
{
	bool write = access == HC_ACL_WRITE;
	const char *who = p->name;

	for (int i = 0; i < lv->n; i++)
		if (lv->len[i] == 0 || memchr(lv->p[i], '+', lv->len[i]) ||
			memchr(lv->p[i], '#', lv->len[i])) {
			verdict(d, false, "malformed topic",
				"topic has an empty or wildcard level");
			return;
		}

	if (is(lv, 0, "rooms") && lv->n >= 4) {
		int level;
		if (!valid_name_level(lv, 1)) {
			verdict(d, false, "invalid room name", "'%.*s' is not a valid room name",
				(int)lv->len[1], lv->p[1]);
			return;
		}
		level = (int)(intptr_t)hc_hmap_get(&p->rooms, lv->p[1], lv->len[1]);
		if (lv->n == 5 && is(lv, 2, "ev")) {
			if (!valid_event_level(lv, 3) || !valid_name_level(lv, 4)) {
				verdict(d, false, "invalid event or sender level",
					"rooms/{room}/ev/{event}/{sender}: invalid event or "
					"sender");
				return;
			}
			if (write && !eq_principal(lv, 4, who)) {
				verdict(d, false, "sender level is not the publisher",
					"rooms/{room}/ev/{event}/{sender}: {sender} must be your "
					"own "
					"name (%s), not '%.*s'",
					who, (int)lv->len[4], lv->p[4]);
				return;
			}
			if (level >= (write ? HC_LEVEL_WRITE : HC_LEVEL_READ))
				verdict(d, true, write ? "room write level" : "room read level",
					"rooms/{room}/ev/{event}/{sender}: %s has %s in room "
					"%.*s%s",
					who, hc_level_name(level), (int)lv->len[1], lv->p[1],
					write ? " and {sender} is its own name" : "");
			else
				verdict(d, false,
					level ? "room level below write"
					      : "not a member of the room",
					"rooms/{room}/ev/{event}/{sender}: %s has %s in room %.*s; "
					"%s needs %s",
					who, level ? hc_level_name(level) : "no membership",
					(int)lv->len[1], lv->p[1], write ? "emitting" : "reading",
					write ? "write" : "read");
			return;
		}
		if (lv->n == 4 && (is(lv, 2, "sys") || is(lv, 2, "presence"))) {
			bool presence = is(lv, 2, "presence");
			if (presence ? !valid_name_level(lv, 3) : !valid_event_level(lv, 3)) {
				verdict(d, false, "invalid notice level", "invalid last level");
				return;
			}
			if (write) {
				verdict(d, false, "hub-only topic",
					"rooms/{room}/%s/...: only the hub writes here",
					presence ? "presence" : "sys");
				return;
			}
			if (level >= HC_LEVEL_READ)
				verdict(d, true, "room read level",
					"rooms/{room}/%s/...: %s has %s in room %.*s",
					presence ? "presence" : "sys", who, hc_level_name(level),
					(int)lv->len[1], lv->p[1]);
			else
				verdict(d, false, "not a member of the room",
					"rooms/{room}/%s/...: %s is not a member of room %.*s",
					presence ? "presence" : "sys", who, (int)lv->len[1],
					lv->p[1]);
			return;
		}
	} else if (is(lv, 0, "svc") && lv->n == 4) {
		const struct hc_dir_principal *svc;
		if (!valid_name_level(lv, 1) || !valid_event_level(lv, 2) ||
			!valid_name_level(lv, 3)) {
			verdict(d, false, "invalid call topic",
				"svc/{service}/{method}/{sender}: invalid service, method or "
				"sender");
			return;
		}
		if (!write) {
			verdict(d, false, "calls are the service's",
				"svc/{service}/...: only service %.*s reads its calls",
				(int)lv->len[1], lv->p[1]);
			return;
		}
		svc = hc_hmap_get(&dir->principals, lv->p[1], lv->len[1]);
		if (!svc || svc->kind != HC_KIND_SERVICE) {
			verdict(d, false, "no such service",
				"svc/{service}/{method}/{sender}: there is no service '%.*s'",
				(int)lv->len[1], lv->p[1]);
			return;
		}
		if (is(lv, 2, "hook")) {
			verdict(d, false, "reserved method",
				"svc/{service}/hook/...: 'hook' is not a method (hooks are the "
				"hub's)");
			return;
		}
		if (!eq_principal(lv, 3, who)) {
			verdict(d, false, "sender level is not the publisher",
				"svc/{service}/{method}/{sender}: {sender} must be your own name "
				"(%s)",
				who);
			return;
		}
		verdict(d, true, "call a service",
			"svc/{service}/{method}/{sender}: anyone logged in may call service %.*s "
			"as "
			"itself",
			(int)lv->len[1], lv->p[1]);
		return;
	} else if (is(lv, 0, "users") && lv->n >= 3 && valid_name_level(lv, 1)) {
		bool self = eq_principal(lv, 1, who);
		if (lv->n >= 4 && lv->n <= 6 && is(lv, 2, "reply")) {
			if (write)
				verdict(d, false, "replies are the services'",
					"users/{user}/reply/...: only services answer here");
			else if (self)
				verdict(d, true, "own replies",
					"users/{user}/reply/...: %s reads the answers to its own "
					"calls",
					who);
			else
				verdict(d, false, "another principal's replies",
					"users/{user}/reply/...: only %.*s reads these answers",
					(int)lv->len[1], lv->p[1]);
			return;
		}
		if (lv->n == 5 && is(lv, 2, "inbox")) {
			if (!valid_event_level(lv, 3) || !valid_name_level(lv, 4)) {
				verdict(d, false, "invalid event or sender level",
					"users/{user}/inbox/{event}/{sender}: invalid event or "
					"sender");
				return;
			}
			if (!write) {
				if (self)
					verdict(d, true, "own inbox",
						"users/{user}/inbox/...: %s reads its own inbox",
						who);
				else
					verdict(d, false, "another user's inbox",
						"users/{user}/inbox/...: only %.*s reads this "
						"inbox",
						(int)lv->len[1], lv->p[1]);
				return;
			}
			if (!eq_principal(lv, 4, who)) {
				verdict(d, false, "sender level is not the publisher",
					"users/{user}/inbox/{event}/{sender}: {sender} must be "
					"your own "
					"name (%s)",
					who);
				return;
			}
			if (self || hc_dir_shares_room(dir, who, lv->p[1], lv->len[1]))
				verdict(d, true, "shares a room with the recipient",
					"users/{user}/inbox/...: %s shares a room with %.*s", who,
					(int)lv->len[1], lv->p[1]);
			else
				verdict(d, false, "shares no room with the recipient",
					"users/{user}/inbox/...: %s shares no room with %.*s", who,
					(int)lv->len[1], lv->p[1]);
			return;
		}
		if (lv->n == 4 && is(lv, 2, "sys")) {
			/* the hub's notices to one principal (users/{me}/sys/rooms:
			 * a membership of its changed); nobody else learns them */
			if (!valid_event_level(lv, 3)) {
				verdict(d, false, "invalid notice level", "invalid last level");
				return;
			}
			if (write)
				verdict(d, false, "hub-only topic",
					"users/{user}/sys/...: only the hub writes here");
			else if (self)
				verdict(d, true, "own notices",
					"users/{user}/sys/...: %s reads its own notices", who);
			else
				verdict(d, false, "another principal's notices",
					"users/{user}/sys/...: only %.*s reads these",
					(int)lv->len[1], lv->p[1]);
			return;
		}
		if (lv->n == 3 && is(lv, 2, "status")) {
			if (write) {
				if (self)
					verdict(d, true, "own status",
						"users/{user}/status: %s writes its own status",
						who);
				else
					verdict(d, false, "another principal's status",
						"users/{user}/status: only %.*s (and the hub) "
						"write it",
						(int)lv->len[1], lv->p[1]);
				return;
			}
			if (self || hc_dir_shares_room(dir, who, lv->p[1], lv->len[1]))
				verdict(d, true, self ? "own status" : "shares a room",
					"users/{user}/status: %s %s %.*s", who,
					self ? "is" : "shares a room with", (int)lv->len[1],
					lv->p[1]);
			else if (owns_device(dir, who, lv->p[1], lv->len[1]))
				verdict(d, true, "own device's status",
					"users/{user}/status: %s owns device %.*s", who,
					(int)lv->len[1], lv->p[1]);
			else if (admin_sees_device(dir, p, lv->p[1], lv->len[1]))
				verdict(d, true, "admin sees every device",
					"users/{user}/status: %s is an admin and %.*s a device",
					who, (int)lv->len[1], lv->p[1]);
			else
				verdict(d, false, "shares no room",
					"users/{user}/status: %s shares no room with %.*s", who,
					(int)lv->len[1], lv->p[1]);
			return;
		}
	} else if (is(lv, 0, "owntracks") && lv->n >= 3 && lv->n <= 6) {
		if (!valid_name_level(lv, 1)) {
			verdict(d, false, "invalid device level", "owntracks/{device}: invalid id");
			return;
		}
		if (write) {
			if (p->kind == HC_KIND_DEVICE && eq_principal(lv, 1, who))
				verdict(d, true, "own device topic",
					"owntracks/{device}/...: %s is that device", who);
			else
				verdict(d, false, "not this device",
					"owntracks/{device}/...: only device %.*s writes here",
					(int)lv->len[1], lv->p[1]);
			return;
		}
		if (hc_dir_can_read_device(dir, who, lv->p[1], lv->len[1])) {
			const struct hc_dir_principal *dv =
				d->explain ? hc_hmap_get(&dir->principals, lv->p[1], lv->len[1])
					   : NULL;
			const char *room = NULL;
			if (!d->explain)
				verdict(d, true, "device owner or room-mate", NULL);
			else if (eq_principal(lv, 1, who))
				verdict(d, true, "device owner or room-mate",
					"owntracks/{device}/...: %s is that device", who);
			else if (dv && strcmp(dv->owner, who) == 0)
				verdict(d, true, "device owner or room-mate",
					"owntracks/{device}/...: %s owns device %.*s", who,
					(int)lv->len[1], lv->p[1]);
			else if ((room = shared_room(dir, who, lv->p[1], lv->len[1])))
				verdict(d, true, "device owner or room-mate",
					"owntracks/{device}/...: %s shares room %s with device "
					"%.*s",
					who, room, (int)lv->len[1], lv->p[1]);
			else
				verdict(d, true, "device owner or room-mate",
					"owntracks/{device}/...: %s is %.*s, its owner, or shares "
					"a "
					"room with it",
					who, (int)lv->len[1], lv->p[1]);
		} else if (lv->n == 3 && admin_sees_device(dir, p, lv->p[1], lv->len[1]))
			verdict(d, true, "admin sees every device",
				"owntracks/{device}/{name}: %s is an admin and %.*s a device (its "
				"location only)",
				who, (int)lv->len[1], lv->p[1]);
		else
			verdict(d, false, "device not visible",
				"owntracks/{device}/...: %s neither owns %.*s nor shares a room "
				"with it",
				who, (int)lv->len[1], lv->p[1]);
		return;
	}
	verdict(d, false, "no rule for this topic",
		"no rule covers this topic (rooms/..., users/..., owntracks/..., svc/...)");
}

/* What a service (a backend logged in with its key) may read and write
 * (CONTRACT.md "Backends"): its own calls and hooks, every room's events,
 * notices and presence, every principal's status; it writes room events and
 * inbox events as itself, answers on any principal's reply topics, and
 * gives hook verdicts on $hub/verdict/{self}/... */
static void check_service_topic(const struct hc_acl_dir *dir, const struct hc_dir_principal *p,
	const struct levels *lv, int access, struct hc_acl_decision *d)
{
	bool write = access == HC_ACL_WRITE;
	const char *who = p->name;

	for (int i = 0; i < lv->n; i++)
		if (lv->len[i] == 0 || memchr(lv->p[i], '+', lv->len[i]) ||
			memchr(lv->p[i], '#', lv->len[i])) {
			verdict(d, false, "malformed topic",
				"topic has an empty or wildcard level");
			return;
		}
	if (is(lv, 0, "rooms") && lv->n >= 4 && valid_name_level(lv, 1)) {
		bool ev = lv->n == 5 && is(lv, 2, "ev");
		bool notice = lv->n == 4 && (is(lv, 2, "sys") || is(lv, 2, "presence"));
		if (!ev && !notice)
			goto none;
		if (!hc_hmap_get(&dir->rooms, lv->p[1], lv->len[1])) {
			verdict(d, false, "no such room", "rooms/{room}/...: there is no room %.*s",
				(int)lv->len[1], lv->p[1]);
			return;
		}
		if (ev && (!valid_event_level(lv, 3) || !valid_name_level(lv, 4))) {
			verdict(d, false, "invalid event or sender level",
				"rooms/{room}/ev/{event}/{sender}: invalid event or sender");
			return;
		}
		if (!write) {
			verdict(d, true, "service reads every room",
				"rooms/{room}/...: service %s reads every room", who);
			return;
		}
		if (notice) {
			verdict(d, false, "hub-only topic",
				"rooms/{room}/sys|presence/...: only the hub writes here");
			return;
		}
		if (!eq_principal(lv, 4, who)) {
			verdict(d, false, "sender level is not the publisher",
				"rooms/{room}/ev/{event}/{sender}: a service emits as itself (%s), "
				"not "
				"as '%.*s'",
				who, (int)lv->len[4], lv->p[4]);
			return;
		}
		verdict(d, true, "service emits into every room",
			"rooms/{room}/ev/{event}/{sender}: service %s emits into every room as "
			"itself",
			who);
		return;
	}
	if (is(lv, 0, "users") && lv->n >= 3 && valid_name_level(lv, 1)) {
		bool self = eq_principal(lv, 1, who);
		bool known = hc_hmap_get(&dir->principals, lv->p[1], lv->len[1]) != NULL;
		if (lv->n >= 4 && lv->n <= 6 && is(lv, 2, "reply")) {
			if (write && known)
				verdict(d, true, "service answers",
					"users/{user}/reply/...: service %s answers %.*s", who,
					(int)lv->len[1], lv->p[1]);
			else if (write)
				verdict(d, false, "no such principal",
					"users/{user}/reply/...: there is no '%.*s'",
					(int)lv->len[1], lv->p[1]);
			else if (self)
				verdict(d, true, "own replies",
					"users/{user}/reply/...: %s reads the answers to its own "
					"calls",
					who);
			else
				verdict(d, false, "another principal's replies",
					"users/{user}/reply/...: only %.*s reads these answers",
					(int)lv->len[1], lv->p[1]);
			return;
		}
		if (lv->n == 5 && is(lv, 2, "inbox")) {
			if (!valid_event_level(lv, 3) || !valid_name_level(lv, 4)) {
				verdict(d, false, "invalid event or sender level",
					"users/{user}/inbox/{event}/{sender}: invalid event or "
					"sender");
				return;
			}
			if (!write) {
				if (self)
					verdict(d, true, "own inbox",
						"users/{user}/inbox/...: %s reads its own inbox",
						who);
				else
					verdict(d, false, "another user's inbox",
						"users/{user}/inbox/...: only %.*s reads this "
						"inbox",
						(int)lv->len[1], lv->p[1]);
				return;
			}
			if (!eq_principal(lv, 4, who))
				verdict(d, false, "sender level is not the publisher",
					"users/{user}/inbox/{event}/{sender}: a service sends as "
					"itself (%s)",
					who);
			else if (!known)
				verdict(d, false, "no such principal",
					"users/{user}/inbox/...: there is no '%.*s'",
					(int)lv->len[1], lv->p[1]);
			else
				verdict(d, true, "service writes every inbox",
					"users/{user}/inbox/...: service %s writes to %.*s", who,
					(int)lv->len[1], lv->p[1]);
			return;
		}
		if (lv->n == 3 && is(lv, 2, "status")) {
			if (write)
				verdict(d, false, "another principal's status",
					"users/{user}/status: only %.*s (and the hub) write it",
					(int)lv->len[1], lv->p[1]);
			else
				verdict(d, true, "service reads every status",
					"users/{user}/status: service %s reads every status", who);
			return;
		}
		goto none;
	}
	if (is(lv, 0, "svc") && lv->n >= 4 && valid_name_level(lv, 1)) {
		bool self = eq_principal(lv, 1, who);
		bool call = lv->n == 4 && valid_event_level(lv, 2) && valid_name_level(lv, 3) &&
			    !is(lv, 2, "hook");
		bool hook = lv->n == 6 && is(lv, 2, "hook") && valid_name_level(lv, 3) &&
			    valid_event_level(lv, 4) && valid_name_level(lv, 5) &&
			    hc_hmap_get(&dir->rooms, lv->p[3], lv->len[3]);
		const struct hc_dir_principal *svc;
		if (!call && !hook)
			goto none;
		if (!write) {
			if (self)
				verdict(d, true, "own calls and hooks",
					"svc/{service}/...: service %s reads its own calls and "
					"hooks",
					who);
			else
				verdict(d, false, "calls are the service's",
					"svc/{service}/...: only service %.*s reads these",
					(int)lv->len[1], lv->p[1]);
			return;
		}
		svc = hc_hmap_get(&dir->principals, lv->p[1], lv->len[1]);
		if (hook)
			verdict(d, false, "hooks are the hub's",
				"svc/{service}/hook/...: only the hub asks a hook");
		else if (!svc || svc->kind != HC_KIND_SERVICE)
			verdict(d, false, "no such service",
				"svc/{service}/...: there is no service '%.*s'", (int)lv->len[1],
				lv->p[1]);
		else if (!eq_principal(lv, 3, who))
			verdict(d, false, "sender level is not the publisher",
				"svc/{service}/{method}/{sender}: {sender} must be your own name "
				"(%s)",
				who);
		else
			verdict(d, true, "call a service",
				"svc/{service}/{method}/{sender}: service %s calls service %.*s",
				who, (int)lv->len[1], lv->p[1]);
		return;
	}
	if (is(lv, 0, "$hub") && lv->n == 4 && is(lv, 1, "verdict")) {
		if (write && eq_principal(lv, 2, who))
			verdict(d, true, "own hook verdicts",
				"$hub/verdict/{service}/{id}: service %s answers its hooks here",
				who);
		else if (write)
			verdict(d, false, "another service's verdicts",
				"$hub/verdict/{service}/...: only service %.*s answers here",
				(int)lv->len[2], lv->p[2]);
		else
			verdict(d, false, "hub-only topic",
				"$hub/verdict/...: only the hub reads verdicts");
		return;
	}
none:
	verdict(d, false, "no rule for this topic",
		"no rule lets a service use this topic (rooms/..., users/..., svc/..., "
		"$hub/verdict/...)");
}

/* --------------------------------------------------- subscription shapes */

/* A level of a topic shape: a literal, or a variable with a predicate on a
 * concrete value and a flag saying whether some value satisfies it. */
enum var {
	V_LIT,
	V_READ_ROOM,
	V_EVENT,
	V_NAME,
	V_SELF,
	V_STATUS_USER,
	V_DEVICE,
	V_LOC_DEVICE, /* V_DEVICE, or any device for an admin */
	V_ANY,
	V_ROOM, /* any room (services) */
	V_CALL, /* a method: an event name but "hook" */
};

struct shape {
	const char *name;
	int n;
	enum var v[MAX_LEVELS];
	const char *lit[MAX_LEVELS];
};

/* users/{owner}/reply/{id}[/{more}[/{more}]]: answers to one's calls */
#define REPLY_SHAPES(owner)                                                                        \
	{"users/{" owner "}/reply/...", 4, {V_LIT, V_SELF, V_LIT, V_ANY},                          \
		{"users", NULL, "reply", NULL}},                                                   \
		{"users/{" owner "}/reply/...", 5, {V_LIT, V_SELF, V_LIT, V_ANY, V_ANY},           \
			{"users", NULL, "reply", NULL, NULL}},                                     \
	{                                                                                          \
		"users/{" owner "}/reply/...", 6, {V_LIT, V_SELF, V_LIT, V_ANY, V_ANY, V_ANY},     \
		{                                                                                  \
			"users", NULL, "reply", NULL, NULL, NULL                                   \
		}                                                                                  \
	}

static const struct shape shapes[] = {
	{"rooms/{room}/ev/{event}/{sender}", 5, {V_LIT, V_READ_ROOM, V_LIT, V_EVENT, V_NAME},
		{"rooms", NULL, "ev", NULL, NULL}},
	{"rooms/{room}/sys/{notice}", 4, {V_LIT, V_READ_ROOM, V_LIT, V_EVENT},
		{"rooms", NULL, "sys", NULL}},
	{"rooms/{room}/presence/{user}", 4, {V_LIT, V_READ_ROOM, V_LIT, V_NAME},
		{"rooms", NULL, "presence", NULL}},
	{"users/{user}/inbox/{event}/{sender}", 5, {V_LIT, V_SELF, V_LIT, V_EVENT, V_NAME},
		{"users", NULL, "inbox", NULL, NULL}},
	{"users/{user}/sys/{notice}", 4, {V_LIT, V_SELF, V_LIT, V_EVENT},
		{"users", NULL, "sys", NULL}},
	{"users/{user}/status", 3, {V_LIT, V_STATUS_USER, V_LIT}, {"users", NULL, "status"}},
	{"owntracks/{device}/{name}", 3, {V_LIT, V_LOC_DEVICE, V_ANY}, {"owntracks", NULL, NULL}},
	{"owntracks/{device}/{name}/{sub}", 4, {V_LIT, V_DEVICE, V_ANY, V_ANY},
		{"owntracks", NULL, NULL, NULL}},
	{"owntracks/{device}/{name}/{sub}/...", 5, {V_LIT, V_DEVICE, V_ANY, V_ANY, V_ANY},
		{"owntracks", NULL, NULL, NULL, NULL}},
	{"owntracks/{device}/{name}/{sub}/...", 6, {V_LIT, V_DEVICE, V_ANY, V_ANY, V_ANY, V_ANY},
		{"owntracks", NULL, NULL, NULL, NULL, NULL}},
	REPLY_SHAPES("user"),
};

/* What a service may subscribe to (check_service_topic's readable topics). */
static const struct shape service_shapes[] = {
	{"svc/{service}/{method}/{sender}", 4, {V_LIT, V_SELF, V_CALL, V_NAME},
		{"svc", NULL, NULL, NULL}},
	{"svc/{service}/hook/{room}/{event}/{sender}", 6,
		{V_LIT, V_SELF, V_LIT, V_ROOM, V_EVENT, V_NAME},
		{"svc", NULL, "hook", NULL, NULL, NULL}},
	{"rooms/{room}/ev/{event}/{sender}", 5, {V_LIT, V_ROOM, V_LIT, V_EVENT, V_NAME},
		{"rooms", NULL, "ev", NULL, NULL}},
	{"rooms/{room}/sys/{notice}", 4, {V_LIT, V_ROOM, V_LIT, V_EVENT},
		{"rooms", NULL, "sys", NULL}},
	{"rooms/{room}/presence/{user}", 4, {V_LIT, V_ROOM, V_LIT, V_NAME},
		{"rooms", NULL, "presence", NULL}},
	{"users/{service}/inbox/{event}/{sender}", 5, {V_LIT, V_SELF, V_LIT, V_EVENT, V_NAME},
		{"users", NULL, "inbox", NULL, NULL}},
	{"users/{user}/status", 3, {V_LIT, V_NAME, V_LIT}, {"users", NULL, "status"}},
	REPLY_SHAPES("service"),
};

struct sub_ctx {
	const struct hc_acl_dir *dir;
	const struct hc_dir_principal *p;
};

/* A wildcard level could take a value satisfying the variable. Rooms and
 * devices count even when the principal reads none yet: a grant or a
 * delivery opened later reaches live subscriptions (the broker keeps them,
 * and every delivery is checked again), as the OwnTracks app subscribes to
 * owntracks/+/+ once, at connect. */
static bool exists(const struct sub_ctx *c, enum var v)
{
	(void)c;
	(void)v;
	return true; /* rooms, devices, names, events, self, own status */
}

/* This concrete filter level satisfies the variable. */
static bool satisfies(const struct sub_ctx *c, enum var v, const char *s, size_t len)
{
	switch (v) {
	case V_READ_ROOM:
		return hc_name_valid_n(s, len) && hc_hmap_get(&c->p->rooms, s, len) != NULL;
	case V_EVENT:
		return hc_event_valid_n(s, len);
	case V_NAME:
		return hc_name_valid_n(s, len);
	case V_SELF:
		return hc_name_valid_n(s, len) && len == strlen(c->p->name) &&
		       memcmp(s, c->p->name, len) == 0;
	case V_STATUS_USER:
		return hc_name_valid_n(s, len) &&
		       ((len == strlen(c->p->name) && memcmp(s, c->p->name, len) == 0) ||
			       hc_dir_shares_room(c->dir, c->p->name, s, len) ||
			       owns_device(c->dir, c->p->name, s, len) ||
			       admin_sees_device(c->dir, c->p, s, len));
	case V_DEVICE:
		return hc_name_valid_n(s, len) &&
		       hc_dir_can_read_device(c->dir, c->p->name, s, len);
	case V_LOC_DEVICE:
		return hc_name_valid_n(s, len) &&
		       (hc_dir_can_read_device(c->dir, c->p->name, s, len) ||
			       admin_sees_device(c->dir, c->p, s, len));
	case V_ANY:
		return len > 0;
	case V_ROOM:
		return hc_name_valid_n(s, len) && hc_hmap_get(&c->dir->rooms, s, len) != NULL;
	case V_CALL:
		return hc_event_valid_n(s, len) && !(len == 4 && memcmp(s, "hook", 4) == 0);
	default:
		return false;
	}
}

static bool shape_matches(const struct sub_ctx *c, const struct shape *sh, const struct levels *f)
{
	for (int i = 0;; i++) {
		if (i == f->n)
			return i == sh->n;
		if (f->len[i] == 1 && f->p[i][0] == '#') {
			/* '#' matches the parent level and everything below */
			for (int k = i; k < sh->n; k++)
				if (sh->v[k] != V_LIT && !exists(c, sh->v[k]))
					return false;
			return true;
		}
		if (i == sh->n)
			return false;
		if (f->len[i] == 1 && f->p[i][0] == '+') {
			if (sh->v[i] != V_LIT && !exists(c, sh->v[i]))
				return false;
			continue;
		}
		if (sh->v[i] == V_LIT) {
			size_t l = strlen(sh->lit[i]);
			if (f->len[i] != l || memcmp(f->p[i], sh->lit[i], l) != 0)
				return false;
		} else if (!satisfies(c, sh->v[i], f->p[i], f->len[i])) {
			return false;
		}
	}
}

static bool filter_well_formed(const struct levels *f)
{
	for (int i = 0; i < f->n; i++) {
		bool has_plus = memchr(f->p[i], '+', f->len[i]) != NULL;
		bool has_hash = memchr(f->p[i], '#', f->len[i]) != NULL;
		if ((has_plus || has_hash) && f->len[i] != 1)
			return false;
		if (has_hash && i != f->n - 1)
			return false;
	}
	return true;
}

static void check_filter(const struct hc_acl_dir *dir, const struct hc_dir_principal *p,
	const char *filter, size_t len, struct hc_acl_decision *d)
{
	struct levels f;
	struct sub_ctx c = {dir, p};

	/* $share/{group}/{filter}: the broker hands each message to one member
	 * of a group and drops it if that member may not read it, so a group
	 * shared by two identities would let one starve the other: a group
	 * belongs to one identity, named {name} or {name}:{anything} */
	if (len > 7 && memcmp(filter, "$share/", 7) == 0) {
		const char *g = filter + 7;
		const char *slash = memchr(g, '/', len - 7);
		size_t nl = strlen(p->name), gl;
		if (!slash || slash == g || memchr(g, '+', (size_t)(slash - g)) ||
			memchr(g, '#', (size_t)(slash - g))) {
			verdict(d, false, "malformed shared subscription",
				"$share/{group}/{filter}: malformed");
			return;
		}
		gl = (size_t)(slash - g);
		if (gl < nl || memcmp(g, p->name, nl) != 0 || (gl > nl && g[nl] != ':')) {
			verdict(d, false, "shared subscription group of another identity",
				"$share/{group}/...: %s's groups are '%s' or '%s:...', not '%.*s'",
				p->name, p->name, p->name, (int)gl, g);
			return;
		}
		len -= (size_t)(slash + 1 - filter);
		filter = slash + 1;
	}
	if (len == 0 || filter[0] == '$') {
		verdict(d, false, "system topic",
			"topics starting with '$' are the broker's and the hub's own");
		return;
	}
	if (split(filter, len, &f) != 0 || !filter_well_formed(&f)) {
		verdict(d, false, "malformed filter", "the filter is malformed or too deep");
		return;
	}
	{
		bool svc = p->kind == HC_KIND_SERVICE;
		const struct shape *sh = svc ? service_shapes : shapes;
		size_t n = svc ? sizeof(service_shapes) / sizeof(service_shapes[0])
			       : sizeof(shapes) / sizeof(shapes[0]);
		for (size_t i = 0; i < n; i++)
			if (shape_matches(&c, &sh[i], &f)) {
				verdict(d, true, "filter can match readable topics",
					"the filter can match %s topics %s may read (each delivery "
					"is checked again)",
					sh[i].name, p->name);
				return;
			}
	}
	verdict(d, false, "filter matches nothing readable",
		"the filter matches no topic %s may read", p->name);
}

void hc_acl_check(const struct hc_acl_dir *dir, const char *principal, const char *topic,
	size_t topic_len, int access, struct hc_acl_decision *d)
{
	const struct hc_dir_principal *p;
	struct levels lv;

	d->allow = false;
	d->rule = "";
	if (!principal || !topic) {
		verdict(d, false, "no identity", "no principal or topic");
		return;
	}
	if (strcmp(principal, HC_SERVICE_PRINCIPAL) == 0) {
		verdict(d, true, "hub service identity", "the hub's own service identity");
		return;
	}
	if (access == HC_ACL_UNSUBSCRIBE) {
		verdict(d, true, "unsubscribe", "unsubscribing is always allowed");
		return;
	}
	p = hc_hmap_get(&dir->principals, principal, strlen(principal));
	if (!p) {
		verdict(d, false, "unknown principal", "no user or device named '%.64s'",
			principal);
		return;
	}
	if (topic_len == 0 || topic_len > 65535 || memchr(topic, '\0', topic_len) ||
		!hc_utf8_valid(topic, topic_len)) {
		verdict(d, false, "malformed topic", "empty, over-long or non-UTF-8 topic");
		return;
	}
	if (access == HC_ACL_SUBSCRIBE) {
		check_filter(dir, p, topic, topic_len, d);
		return;
	}
	if (access != HC_ACL_READ && access != HC_ACL_WRITE) {
		verdict(d, false, "unknown access", "unknown access type %d", access);
		return;
	}
	if (split(topic, topic_len, &lv) != 0) {
		verdict(d, false, "no rule for this topic", "topic has too many levels");
		return;
	}
	if (p->kind == HC_KIND_SERVICE)
		check_service_topic(dir, p, &lv, access, d);
	else
		check_topic(dir, p, &lv, access, d);
}
