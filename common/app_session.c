/* SPDX-License-Identifier: MIT */
/*
 * Sessions for applications with their own login (hc_app_session.h): one
 * transaction that makes the user (no password), names it, grants rooms
 * and creates a session remembering the service that asked.
 */
#include "hc_app_session.h"
#include "hc_err.h"
#include "hc_util.h"
#include "store_internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

/* Run one statement with text arguments (NULL binds NULL). */
static int exec_args(struct hc_store *st, const char *sql, int n, const char *const *args)
{
	struct hc_db_stmt *s;
	int rc = n == 1 ? hc_db_prep(st, &s, sql, "s", args[0])
			: hc_db_prep(st, &s, sql, "ss", args[0], args[1]);
	return rc ? rc : hc_db_done(s);
}

/* Whether one row matches (HUB_OK) or none (HUB_ERR_NOTFOUND). */
static int exists(struct hc_store *st, const char *sql, const char *arg)
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s, sql, "s", arg);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	hc_db_finalize(s);
	if (rc == HC_DB_ROW)
		return HUB_OK;
	return rc == HC_DB_DONE ? HUB_ERR_NOTFOUND : rc;
}

/* A display name: 1 to HC_DISPLAY_MAX bytes of UTF-8 without control
 * characters (it travels in MQTT user properties and onto pages). */
static bool display_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > HC_DISPLAY_MAX || !hc_utf8_valid(s, n))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

struct create_args {
	const struct hc_app_session_req *req;
	struct hc_app_session *out;
	const char *secret_hash;
};

static int read_user(
	struct hc_store *st, const char *name, struct hc_principal *p, char *kind, size_t kn)
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"SELECT name, kind, display_name, role, created_at FROM principals WHERE name = ?",
		"s", name);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW) {
		memset(p, 0, sizeof(*p));
		hc_db_col(s, 0, p->name, sizeof(p->name));
		hc_db_col(s, 1, kind, kn);
		p->kind = strcmp(kind, "user") ? HC_KIND_DEVICE : HC_KIND_USER;
		hc_db_col(s, 2, p->display_name, sizeof(p->display_name));
		hc_db_col(s, 3, p->role, sizeof(p->role));
		p->created_at = hc_db_int64(s, 4);
		rc = HUB_OK;
	} else if (rc == HC_DB_DONE) {
		rc = HUB_ERR_NOTFOUND;
	}
	hc_db_finalize(s);
	return rc;
}

static int create_fn(struct hc_store *st, void *ud)
{
	struct create_args *a = ud;
	const struct hc_app_session_req *r = a->req;
	struct hc_app_session *o = a->out;
	struct hc_db_stmt *s;
	char kind[8];
	int rc;

	o->created = false;
	o->missing_room = NULL;
	/* a service key's name is the sender of what it publishes: never a
	 * user's */
	rc = exists(st, "SELECT 1 FROM service_keys WHERE name = ?", r->user);
	if (rc == HUB_OK)
		return HUB_ERR_EXISTS;
	if (rc != HUB_ERR_NOTFOUND)
		return rc;
	rc = read_user(st, r->user, &o->user, kind, sizeof(kind));
	if (rc == HUB_ERR_NOTFOUND) {
		const char *args[2] = {r->user, r->display_name ? r->display_name : r->user};
		if (!r->create)
			return HUB_ERR_NOTFOUND;
		/* pw_hash NULL: no password can ever match (hubd's login takes
		 * such a user for a name that is not one) */
		rc = exec_args(st,
			"INSERT INTO principals(name, kind, display_name, role, pw_hash, "
			"created_at) VALUES(?1, 'user', ?2, 'user', NULL, unixepoch())",
			2, args);
		if (rc)
			return rc;
		o->created = true;
		rc = read_user(st, r->user, &o->user, kind, sizeof(kind));
		if (rc)
			return rc;
	} else if (rc) {
		return rc;
	} else if (strcmp(kind, "user")) {
		return HUB_ERR_EXISTS; /* a device */
	} else if (!strcmp(o->user.role, "admin")) {
		return HUB_ERR_DENIED;
	} else if (r->display_name && strcmp(r->display_name, o->user.display_name)) {
		/* only a real change: every update is a change-log row */
		const char *args[2] = {r->display_name, r->user};
		rc = exec_args(
			st, "UPDATE principals SET display_name = ?1 WHERE name = ?2", 2, args);
		if (rc)
			return rc;
		snprintf(o->user.display_name, sizeof(o->user.display_name), "%s", r->display_name);
	}
	/* every room first, so a missing one changes nothing and is named */
	for (size_t i = 0; i < r->nrooms; i++) {
		rc = exists(st, "SELECT 1 FROM rooms WHERE name = ?", r->rooms[i].room);
		if (rc == HUB_ERR_NOTFOUND)
			o->missing_room = r->rooms[i].room;
		if (rc)
			return rc;
	}
	for (size_t i = 0; i < r->nrooms; i++) {
		rc = hc_db_prep(st, &s,
			"INSERT INTO memberships(room, principal, level) VALUES(?, ?, ?) "
			"ON CONFLICT(room, principal) DO UPDATE SET level = excluded.level "
			"WHERE memberships.level != excluded.level",
			"ssd", r->rooms[i].room, r->user, r->rooms[i].level);
		if (!rc)
			rc = hc_db_done(s);
		if (rc)
			return rc;
	}
	rc = hc_db_prep(st, &s,
		"INSERT INTO sessions(sid, secret_hash, principal, kind, created_at, "
		"expires_at, addr, service) VALUES(?, ?, ?, '" HC_APP_SESSION_KIND
		"', unixepoch(), unixepoch() + ?, ?, ?)",
		"sssiss", o->sid, a->secret_hash, r->user, (int64_t)r->ttl, r->addr ? r->addr : "",
		r->service);
	return rc ? rc : hc_db_done(s);
}

int hc_app_session_create(
	struct hc_store *st, const struct hc_app_session_req *req, struct hc_app_session *out)
{
	char hash[65];
	struct create_args a = {.req = req, .out = out, .secret_hash = hash};
	int rc;

	memset(out, 0, sizeof(*out));
	if (!hc_name_valid(req->service) || !hc_name_valid(req->user) || req->ttl <= 0 ||
		req->nrooms > HC_APP_SESSION_ROOMS_MAX || (req->nrooms && !req->rooms) ||
		(req->display_name && !display_ok(req->display_name)) ||
		(req->addr && strlen(req->addr) > 47))
		return HUB_ERR_INVAL;
	for (size_t i = 0; i < req->nrooms; i++)
		if (!hc_name_valid(req->rooms[i].room) || req->rooms[i].level < HC_LEVEL_READ ||
			req->rooms[i].level > HC_LEVEL_ADMIN)
			return HUB_ERR_INVAL;
	rc = hc_random_token(16, out->sid, sizeof(out->sid));
	if (!rc)
		rc = hc_random_token(32, out->secret, sizeof(out->secret));
	if (rc)
		return rc;
	hc_sha256_hex(out->secret, strlen(out->secret), hash);
	rc = hc_store_tx(st, create_fn, &a);
	if (rc)
		OPENSSL_cleanse(out->secret, sizeof(out->secret));
	return rc;
}

struct end_args {
	const char *service, *sid;
	struct hc_session *out;
};

static int end_fn(struct hc_store *st, void *ud)
{
	struct end_args *a = ud;
	struct hc_session *o = a->out;
	struct hc_db_stmt *s;
	char service[HC_NAME_MAX + 1];
	int rc = hc_db_prep(st, &s,
		"SELECT " SESSION_COLS ", service, unixepoch() FROM sessions WHERE sid = ?", "s",
		a->sid);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc != HC_DB_ROW) {
		hc_db_finalize(s);
		return rc == HC_DB_DONE ? HUB_ERR_NOTFOUND : rc;
	}
	hc_store__read_session(s, o);
	hc_db_col(s, 8, service, sizeof(service));
	{
		int64_t now = hc_db_int64(s, 9);
		hc_db_finalize(s);
		/* a login's session has no service: no service may end it */
		if (!service[0] || strcmp(service, a->service))
			return HUB_ERR_DENIED;
		if (o->revoked_at || now >= o->expires_at)
			return HUB_ERR_REVOKED;
	}
	{
		const char *args[1] = {a->sid};
		rc = exec_args(st,
			"UPDATE sessions SET revoked_at = unixepoch(), reason = 'logout' "
			"WHERE sid = ?1 AND revoked_at = 0",
			1, args);
	}
	return rc;
}

int hc_app_session_end(
	struct hc_store *st, const char *service, const char *sid, struct hc_session *out)
{
	struct end_args a = {.service = service, .sid = sid, .out = out};
	memset(out, 0, sizeof(*out));
	if (!hc_name_valid(service) || !sid || strlen(sid) != HC_SID_LEN)
		return HUB_ERR_NOTFOUND;
	return hc_store_tx(st, end_fn, &a);
}
