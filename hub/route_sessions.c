/* SPDX-License-Identifier: MIT */
/*
 * Sessions for applications with their own login (CONTRACT.md "Backends"),
 * for backends with a service key only:
 *
 *   POST   /api/sessions {"user","display_name","create","rooms":[{"room","level"}]}
 *          -> 201 {"sid","token","cookie","expires_at","user":{...},"created"}
 *   DELETE /api/sessions/{sid} -> 204
 *
 * The app checked the user's password itself; the hub makes the user when
 * asked (without a password), grants the rooms and creates a session (kind
 * "app") remembering the service, in one store transaction with its login
 * webhook rows. Both answers wait until the broker and the gateway applied
 * the change (syncwait.h): the token connects, the cookie works, the
 * rooms are readable when the 201 arrives; after the 204 the session's
 * connections are closed (within a second) and its tokens open nothing.
 */
#include "actor.h"
#include "cookie.h"
#include "hc_app_session.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_names.h"
#include "hc_store.h"
#include "hc_token.h"
#include "hc_util.h"
#include "hub.h"
#include "json.h"
#include "routes.h"
#include "syncwait.h"
#include "webhook.h"
#include "webhook_events.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

struct sess_body {
	const char *user;
	const char *display; /* NULL: keep */
	bool create;
	struct hc_app_room rooms[HC_APP_SESSION_ROOMS_MAX];
	size_t nrooms;
};

/* Validate the body into b (strings borrowed from j). NULL, or why not
 * (static text, or msg filled). */
static const char *parse(const cJSON *j, struct sess_body *b, char *msg, size_t msgsz)
{
	const cJSON *it;

	memset(b, 0, sizeof(*b));
	if (!cJSON_IsObject(j))
		return "expected a JSON object {\"user\",\"display_name\",\"create\",\"rooms\"}";
	cJSON_ArrayForEach(it, j)
	{
		const char *k = it->string;
		if (!strcmp(k, "user")) {
			if (!cJSON_IsString(it) || !hc_name_valid(it->valuestring))
				return "user: a user name, 1-64 characters of A-Za-z0-9._-";
			b->user = it->valuestring;
		} else if (!strcmp(k, "display_name")) {
			if (cJSON_IsNull(it))
				continue;
			if (!cJSON_IsString(it))
				return "display_name: a string";
			b->display = it->valuestring;
			if (!*b->display || strlen(b->display) > HC_DISPLAY_MAX)
				return "display_name: 1-128 bytes";
			for (const char *p = b->display; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					return "display_name: no control characters";
		} else if (!strcmp(k, "create")) {
			if (!cJSON_IsBool(it))
				return "create: true or false";
			b->create = cJSON_IsTrue(it);
		} else if (!strcmp(k, "rooms")) {
			const cJSON *r;
			if (!cJSON_IsArray(it))
				return "rooms: an array of {\"room\",\"level\"}";
			if (cJSON_GetArraySize(it) > HC_APP_SESSION_ROOMS_MAX) {
				snprintf(msg, msgsz, "rooms: at most %d", HC_APP_SESSION_ROOMS_MAX);
				return msg;
			}
			cJSON_ArrayForEach(r, it)
			{
				const cJSON *room = cJSON_GetObjectItemCaseSensitive(r, "room");
				const cJSON *level = cJSON_GetObjectItemCaseSensitive(r, "level");
				int lv;
				if (!cJSON_IsObject(r) || cJSON_GetArraySize(r) != 2 ||
					!cJSON_IsString(room) || !cJSON_IsString(level))
					return "rooms: each {\"room\":NAME,\"level\":\"read\"|"
					       "\"write\"|\"admin\"} and nothing else";
				if (!hc_name_valid(room->valuestring))
					return "rooms: a room name is 1-64 characters of "
					       "A-Za-z0-9._-";
				lv = hc_level_parse(level->valuestring);
				if (lv == HC_LEVEL_NONE)
					return "rooms: level is read, write or admin";
				for (size_t i = 0; i < b->nrooms; i++)
					if (!strcmp(b->rooms[i].room, room->valuestring)) {
						snprintf(msg, msgsz, "rooms: '%s' is named twice",
							room->valuestring);
						return msg;
					}
				b->rooms[b->nrooms].room = room->valuestring;
				b->rooms[b->nrooms].level = lv;
				b->nrooms++;
			}
		} else {
			/* named back only when short printable ASCII (a cut could
			 * split a UTF-8 character) */
			bool plain = strlen(k) <= 40;
			for (const char *p = k; plain && *p; p++)
				plain = *p >= 0x20 && *p < 0x7f;
			snprintf(msg, msgsz,
				"unknown member%s%s%s: expected user, display_name, create, rooms",
				plain ? " '" : "", plain ? k : "", plain ? "'" : "");
			return msg;
		}
	}
	if (!b->user)
		return "user is required";
	return NULL;
}

struct create_tx {
	struct hc_app_session_req req;
	struct hc_app_session out;
	int queued;
};

static int create_fn(struct hc_store *st, void *ud)
{
	struct create_tx *a = ud;
	int rc = hc_app_session_create(st, &a->req, &a->out);
	if (!rc)
		rc = hub_webhook_event_login(
			st, a->req.user, a->out.sid, "service", a->req.service, &a->queued);
	return rc;
}

/* 201 body; false on allocation or minting failure. */
static bool reply_created(struct hub *h, struct hub_conn *c, const struct create_tx *a)
{
	char token[HC_TOKEN_MAX];
	int64_t now = hc_now(), ttl = a->req.ttl;
	int64_t exp = now + hc_cfg_int(&h->cfg, HC_CFG_TOKEN_TTL);
	cJSON *o = NULL, *u;
	bool ok;

	/* the token never outlives the session it refers to */
	if (exp > now + ttl)
		exp = now + ttl;
	if (hc_token_mint(h->key, "mqtt", a->req.user, a->out.sid, now, exp, token, sizeof(token)))
		return false;
	o = cJSON_CreateObject();
	u = o ? cJSON_AddObjectToObject(o, "user") : NULL;
	ok = u && cJSON_AddStringToObject(u, "username", a->out.user.name) &&
	     cJSON_AddStringToObject(u, "display_name", a->out.user.display_name) &&
	     cJSON_AddStringToObject(u, "role", a->out.user.role) &&
	     cJSON_AddStringToObject(o, "sid", a->out.sid) &&
	     cJSON_AddStringToObject(o, "token", token) &&
	     cJSON_AddStringToObject(o, "cookie", a->out.secret) &&
	     cJSON_AddNumberToObject(o, "expires_at", (double)exp) &&
	     cJSON_AddBoolToObject(o, "created", a->out.created);
	if (ok)
		hub_http_json(c, 201, o);
	/* the body holds the cookie and the token: wipe every string */
	hub_json_delete_wiped(o);
	OPENSSL_cleanse(token, sizeof(token));
	return ok;
}

int hub_route_sessions_create(struct hub *h, struct hub_conn *c)
{
	char service[HC_NAME_MAX + 1], msg[160];
	struct create_tx *a = NULL;
	struct sess_body *b = NULL;
	cJSON *j = NULL;
	const char *why = NULL;
	int rc;

	if (hub_service_require(h, c, service))
		return 0;
	rc = hub_json_parse((const char *)c->body.buf.data, c->body.buf.len, &j, &why);
	if (rc == HUB_ERR_INVAL) {
		hub_http_error(c, 400, "bad_request", why);
		return 0;
	}
	b = calloc(1, sizeof(*b));
	a = calloc(1, sizeof(*a));
	if (rc || !b || !a) {
		hub_http_error(c, 500, "internal", "out of memory");
		goto out;
	}
	why = parse(j, b, msg, sizeof(msg));
	if (why) {
		hub_http_error(c, 400, "bad_request", why);
		goto out;
	}
	a->req.service = service;
	a->req.user = b->user;
	a->req.display_name = b->display;
	a->req.create = b->create;
	a->req.rooms = b->rooms;
	a->req.nrooms = b->nrooms;
	a->req.ttl = hc_cfg_int(&h->cfg, HC_CFG_SESSION_TTL);
	a->req.addr = c->addr;
	rc = hc_store_tx(h->store, create_fn, a);
	switch (rc) {
	case HUB_OK:
		break;
	case HUB_ERR_NOTFOUND:
		if (a->out.missing_room) {
			cJSON *e = cJSON_CreateObject();
			snprintf(msg, sizeof(msg),
				"no such room: '%s' (rooms are made with "
				"hubctl room add)",
				a->out.missing_room);
			if (e && cJSON_AddStringToObject(e, "error", "not_found") &&
				cJSON_AddStringToObject(e, "message", msg) &&
				cJSON_AddStringToObject(e, "room", a->out.missing_room))
				hub_http_json(c, 404, e);
			else
				hub_http_error(c, 500, "internal", "out of memory");
			cJSON_Delete(e);
		} else {
			hub_http_error(c, 404, "not_found",
				"no such user (send \"create\": true to make it)");
		}
		goto out;
	case HUB_ERR_EXISTS:
		hub_http_error(
			c, 409, "conflict", "this name is a device or a service, not a user");
		goto out;
	case HUB_ERR_DENIED:
		hub_http_error(c, 403, "forbidden",
			"this user is an admin: an admin's session comes only from their own "
			"login");
		goto out;
	case HUB_ERR_INVAL:
		hub_http_error(c, 400, "bad_request", "invalid user, display_name or rooms");
		goto out;
	default:
		hc_err("msg=\"app session not created\" service=%s user=%s err=%s", service,
			b->user, hub_strerror(rc));
		hub_http_header(c, "retry-after:", "5");
		hub_http_error(c, 503, "unavailable", "the store could not be written; try again");
		goto out;
	}
	if (a->queued)
		hub_webhooks_wake(h->webhooks);
	if (!reply_created(h, c, a)) {
		hc_err("msg=\"cannot build the session reply\" service=%s user=%s", service,
			b->user);
		hc_store_session_revoke(h->store, a->out.sid, "kicked");
		hub_http_error(c, 500, "internal", "the session could not be completed");
		goto out;
	}
	hc_info("session user=%s service=%s sid=%s result=ok created=%s rooms=%zu addr=%s", b->user,
		service, a->out.sid, a->out.created ? "yes" : "no", b->nrooms, c->addr);
	/* the user, its rooms and the session are in force when we answer */
	hub_syncwait_reply(h, c);
out:
	if (a)
		OPENSSL_cleanse(a->out.secret, sizeof(a->out.secret));
	free(a);
	free(b);
	cJSON_Delete(j);
	return 0;
}

static bool sid_ok(const char *s)
{
	if (strlen(s) != HC_SID_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			    (*s >= '0' && *s <= '9') || *s == '-' || *s == '_'))
			return false;
	return true;
}

struct end_tx {
	const char *service, *sid;
	struct hc_session s;
	int queued;
};

static int end_fn(struct hc_store *st, void *ud)
{
	struct end_tx *a = ud;
	int rc = hc_app_session_end(st, a->service, a->sid, &a->s);
	if (!rc)
		rc = hub_webhook_event_logout(
			st, a->s.principal, a->sid, "logout", a->service, &a->queued);
	return rc;
}

int hub_route_sessions_end(struct hub *h, struct hub_conn *c)
{
	char service[HC_NAME_MAX + 1];
	struct end_tx a = {0};
	const char *sid = c->path + strlen("/api/sessions/");
	int rc;

	if (hub_service_require(h, c, service))
		return 0;
	if (!sid_ok(sid)) {
		hub_http_error(c, 404, "not_found", "no such session");
		return 0;
	}
	a.service = service;
	a.sid = sid;
	rc = hc_store_tx(h->store, end_fn, &a);
	switch (rc) {
	case HUB_OK:
		hc_info("logout user=%s service=%s sid=%s addr=%s", a.s.principal, service, sid,
			c->addr);
		if (a.queued)
			hub_webhooks_wake(h->webhooks);
		break;
	case HUB_ERR_REVOKED:
		/* ended already: nothing to do, and the answer is the same */
		break;
	case HUB_ERR_NOTFOUND:
		hub_http_error(c, 404, "not_found", "no such session");
		return 0;
	case HUB_ERR_DENIED:
		hub_http_error(c, 403, "forbidden", "this session was not made by this service");
		return 0;
	default:
		hc_err("msg=\"app session not ended\" service=%s sid=%s err=%s", service, sid,
			hub_strerror(rc));
		hub_http_header(c, "retry-after:", "5");
		hub_http_error(c, 503, "unavailable", "the session could not be ended; try again");
		return 0;
	}
	hub_http_reply(c, 204, NULL, NULL, 0);
	/* answered once the broker and the gateway dropped the session */
	hub_syncwait_reply(h, c);
	return 0;
}
