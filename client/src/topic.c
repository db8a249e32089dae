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

int hubio__topic_call(
	char *buf, size_t sz, const char *service, const char *method, const char *sender)
{
	if (!hubio__name_valid(service) || !hubio__method_valid(method) ||
		!hubio__name_valid(sender))
		return HUBIO_EINVAL;
	return fmt(buf, sz, "svc/%s/%s/%s", service, method, sender);
}

int hubio__topic_reply(char *buf, size_t sz, const char *user, const uint8_t *corr, size_t corr_len)
{
	static const char hex[] = "0123456789abcdef";
	char h[2 * HUBIO__CORR_LEN + 1];

	if (!hubio__name_valid(user) || !corr || corr_len == 0 || corr_len > HUBIO__CORR_LEN)
		return HUBIO_EINVAL;
	for (size_t i = 0; i < corr_len; i++) {
		h[2 * i] = hex[corr[i] >> 4];
		h[2 * i + 1] = hex[corr[i] & 15];
	}
	h[2 * corr_len] = '\0';
	return fmt(buf, sz, "users/%s/reply/%s", user, h);
}

int hubio__topic_reply_filter(char *buf, size_t sz, const char *user)
{
	if (!hubio__name_valid(user))
		return HUBIO_EINVAL;
	return fmt(buf, sz, "users/%s/reply/#", user);
}

int hubio__topic_calls_filter(char *buf, size_t sz, const char *service, bool exclusive)
{
	if (!hubio__name_valid(service))
		return HUBIO_EINVAL;
	if (exclusive)
		return fmt(buf, sz, "svc/%s/#", service);
	/* the share group is the service: every process of it shares */
	return fmt(buf, sz, "$share/%s/svc/%s/#", service, service);
}

bool hubio__method_valid(const char *s)
{
	return hubio__event_valid(s) && strcmp(s, "hook") != 0;
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

/* Levels from..n-1 are non-empty and free of wildcards. */
static bool levels_plain(const struct levels *lv, int from)
{
	for (int i = from; i < lv->n; i++)
		if (lv->len[i] == 0 || memchr(lv->p[i], '+', lv->len[i]) ||
			memchr(lv->p[i], '#', lv->len[i]))
			return false;
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
		else if (lv.n >= 4 && is(&lv, 2, "reply") && levels_plain(&lv, 3))
			kind = HUBIO__T_REPLY;
	} else if (lv.n >= 4 && is(&lv, 0, "svc")) {
		if (!name_at(&lv, 1, out->user))
			goto done;
		if (lv.n == 4 && !is(&lv, 2, "hook") && event_at(&lv, 2, out->event) &&
			name_at(&lv, 3, out->from))
			kind = HUBIO__T_CALL;
		else if (lv.n == 6 && is(&lv, 2, "hook") && name_at(&lv, 3, out->room) &&
			 event_at(&lv, 4, out->event) && name_at(&lv, 5, out->from))
			kind = HUBIO__T_HOOK;
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

bool hubio__topic_answer_ok(const char *topic, size_t len, const char *caller)
{
	struct levels lv;
	size_t cl = caller ? strlen(caller) : 0;
	if (!topic || len == 0 || cl == 0 || memchr(topic, '\0', len) ||
		split(topic, len, &lv) != 0)
		return false;
	/* users/{caller}/reply/a[/b[/c]] */
	return lv.n >= 4 && lv.n <= 6 && is(&lv, 0, "users") && lv.len[1] == cl &&
	       memcmp(lv.p[1], caller, cl) == 0 && is(&lv, 2, "reply") && levels_plain(&lv, 3);
}

bool hubio__topic_verdict_ok(const char *topic, size_t len, const char *service)
{
	struct levels lv;
	size_t sl = service ? strlen(service) : 0;
	if (!topic || len == 0 || sl == 0 || memchr(topic, '\0', len) ||
		split(topic, len, &lv) != 0)
		return false;
	/* $hub/verdict/{service}/{id} */
	return lv.n == 4 && is(&lv, 0, "$hub") && is(&lv, 1, "verdict") && lv.len[2] == sl &&
	       memcmp(lv.p[2], service, sl) == 0 && levels_plain(&lv, 3);
}
