/* SPDX-License-Identifier: MIT */
/*
 * The hub's topic layout (CONTRACT.md "Topics: rooms as topics"): building
 * the topics the client writes and subscribes, and parsing the ones it
 * receives. Pure functions, no allocation.
 */
#include "hubio_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int fmt(char *buf, size_t sz, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *buf, size_t sz, const char *f, ...)
{
	va_list ap;
	int n;
	va_start(ap, f);
	n = vsnprintf(buf, sz, f, ap);
	va_end(ap);
	if (n < 0)
		return HUBIO_EINVAL;
	if ((size_t)n >= sz)
		return HUBIO_ETOOBIG;
	return HUBIO_OK;
}

int hubio__topic_room_ev(
	char *buf, size_t sz, const char *room, const char *event, const char *sender)
{
	if (!hubio__name_valid(room) || !hubio__event_valid(event) || !hubio__name_valid(sender))
		return HUBIO_EINVAL;
	return fmt(buf, sz, "rooms/%s/ev/%s/%s", room, event, sender);
}

int hubio__topic_inbox(
	char *buf, size_t sz, const char *user, const char *event, const char *sender)
{
	if (!hubio__name_valid(user) || !hubio__event_valid(event) || !hubio__name_valid(sender))
		return HUBIO_EINVAL;
	return fmt(buf, sz, "users/%s/inbox/%s/%s", user, event, sender);
}

int hubio__topic_room_filters(char out[3][HUBIO__TOPIC_MAX], const char *room)
{
	int rc;
	if (!hubio__name_valid(room))
		return HUBIO_EINVAL;
	if ((rc = fmt(out[0], HUBIO__TOPIC_MAX, "rooms/%s/ev/+/+", room)) ||
		(rc = fmt(out[1], HUBIO__TOPIC_MAX, "rooms/%s/sys/+", room)) ||
		(rc = fmt(out[2], HUBIO__TOPIC_MAX, "rooms/%s/presence/+", room)))
		return rc;
	return HUBIO_OK;
}

int hubio__topic_inbox_filter(char *buf, size_t sz, const char *user)
{
	if (!hubio__name_valid(user))
		return HUBIO_EINVAL;
	return fmt(buf, sz, "users/%s/inbox/+/+", user);
}

int hubio__topic_status(char *buf, size_t sz, const char *user)
{
	if (!hubio__name_valid(user))
		return HUBIO_EINVAL;
	return fmt(buf, sz, "users/%s/status", user);
}

int hubio__topic_reply_base(char *buf, size_t sz, const char *user)
{
	if (!hubio__name_valid(user))
		return HUBIO_EINVAL;
	return fmt(buf, sz, "users/%s/inbox/reply", user);
}

#define MAX_LEVELS 6

struct levels {
	int n;
	const char *p[MAX_LEVELS];
	size_t len[MAX_LEVELS];
};

/* -1 when there are more than MAX_LEVELS levels */
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
	return lv->len[i] == l && memcmp(lv->p[i], lit, l) == 0;
}

static void copy(char *dst, const struct levels *lv, int i)
{
	memcpy(dst, lv->p[i], lv->len[i]);
	dst[lv->len[i]] = '\0';
}

static bool name_at(const struct levels *lv, int i, char *dst)
{
	if (!hubio__name_valid_n(lv->p[i], lv->len[i]))
		return false;
	copy(dst, lv, i);
	return true;
}

static bool event_at(const struct levels *lv, int i, char *dst)
{
	if (!hubio__event_valid_n(lv->p[i], lv->len[i]))
		return false;
	copy(dst, lv, i);
	return true;
}

enum hubio__topic_kind hubio__topic_parse(const char *topic, size_t len, struct hubio__topic *out)
{
	struct levels lv;
	enum hubio__topic_kind kind = HUBIO__T_OTHER;

	memset(out, 0, sizeof(*out));
	if (!topic || len == 0 || memchr(topic, '\0', len) || split(topic, len, &lv) != 0)
		goto done;
	if (lv.n >= 4 && is(&lv, 0, "rooms")) {
		if (!name_at(&lv, 1, out->room))
			goto done;
		if (lv.n == 5 && is(&lv, 2, "ev") && event_at(&lv, 3, out->event) &&
			name_at(&lv, 4, out->from))
			kind = HUBIO__T_ROOM_EV;
		else if (lv.n == 4 && is(&lv, 2, "sys") && event_at(&lv, 3, out->event))
			kind = HUBIO__T_ROOM_SYS;
		else if (lv.n == 4 && is(&lv, 2, "presence") && name_at(&lv, 3, out->from))
			kind = HUBIO__T_ROOM_PRESENCE;
	} else if (lv.n >= 3 && is(&lv, 0, "users")) {
		if (!name_at(&lv, 1, out->user))
			goto done;
		if (lv.n == 5 && is(&lv, 2, "inbox") && event_at(&lv, 3, out->event) &&
			name_at(&lv, 4, out->from))
			kind = HUBIO__T_INBOX;
		else if (lv.n == 3 && is(&lv, 2, "status"))
			kind = HUBIO__T_STATUS;
	}
done:
	if (kind == HUBIO__T_OTHER)
		memset(out, 0, sizeof(*out));
	out->kind = kind;
	return kind;
}

bool hubio__topic_reply_base_ok(const char *topic, size_t len)
{
	struct levels lv;
	if (!topic || len == 0 || memchr(topic, '\0', len) || split(topic, len, &lv) != 0)
		return false;
	return lv.n == 4 && is(&lv, 0, "users") && hubio__name_valid_n(lv.p[1], lv.len[1]) &&
	       is(&lv, 2, "inbox") && is(&lv, 3, "reply");
}
