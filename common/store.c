/* SPDX-License-Identifier: MIT */
/*
 * The store: open/migrate, transactions with busy retry, and the queries of
 * every entity. Statements are prepared per call: these paths are admin and
 * login paths, never the broker's per-message path.
 */
#include "store_internal.h"
#include "hc_err.h"
#include "hc_util.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TX_ATTEMPTS 5

int hc_store__get_int64(struct hc_store *st, const char *sql, const char *arg, int64_t *out)
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s, sql, arg ? "s" : "", arg);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW) {
		*out = hc_db_int64(s, 0);
		rc = HUB_OK;
	} else if (rc == HC_DB_DONE) {
		rc = HUB_ERR_NOTFOUND;
	}
	hc_db_finalize(s);
	return rc;
}

int hc_store_tx(struct hc_store *st, int (*fn)(struct hc_store *st, void *ud), void *ud)
{
	int rc = HUB_ERR_BUSY;

	/* inside a transaction already (a caller composing several store
	 * calls into one, like the demo seed): the outer one commits; a part
	 * that fails rolls back alone */
	if (st->ops->in_tx(st)) {
		rc = st->ops->sp_begin(st);
		if (rc)
			return rc;
		rc = fn(st, ud);
		st->ops->sp_end(st, rc == HUB_OK);
		return rc;
	}

	/* an event loop's store on PostgreSQL: the server already waited
	 * lock_timeout for the writers' lock; no second wait on the loop */
	int64_t give_up = st->connect_wait_ms && st->engine == HC_DB_POSTGRESQL
				  ? hc_mono_ms() + HC_PG_LOOP_LOCK_MS
				  : INT64_MAX;
	for (int attempt = 0; attempt < TX_ATTEMPTS && hc_mono_ms() < give_up; attempt++) {
		rc = st->ops->tx_begin(st);
		if (rc == HUB_ERR_BUSY) {
			usleep(20000 * (unsigned)(attempt + 1));
			continue;
		}
		if (rc)
			return rc;
		rc = fn(st, ud);
		if (rc == HUB_OK) {
			rc = st->ops->tx_end(st, true);
			if (rc == HUB_OK)
				return HUB_OK;
		}
		st->ops->tx_end(st, false);
		if (rc != HUB_ERR_BUSY)
			return rc;
		usleep(20000 * (unsigned)(attempt + 1));
	}
	return rc;
}

static int migrate_fn(struct hc_store *st, void *ud)
{
	int version = 0, rc;
	int count = *st->ops->migration_count;
	(void)ud;
	rc = hc_store_schema_version(st, &version);
	if (rc)
		return rc;
	if (version > count)
		return HUB_ERR_CONFIG; /* made by a newer hub: refuse to touch it */
	for (int v = version; v < count; v++) {
		rc = hc_db_exec(st, st->ops->migrations[v]);
		if (rc)
			return rc;
		rc = st->ops->set_schema_version(st, v + 1);
		if (rc)
			return rc;
	}
	return HUB_OK;
}

int hc_store_open(const char *path, int mode, struct hc_store **out, char *err, size_t errsz)
{
	struct hc_store *st;
	int rc, version = 0, count;
	char where[512];

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errsz, "out of memory");
		return HUB_ERR_NOMEM;
	}
	st->mode = mode;
	if (hc_db_is_postgresql(path)) {
		st->engine = HC_DB_POSTGRESQL;
		st->ops = &hc_db__pg_ops;
		hc_db__redact(path, where, sizeof(where));
	} else {
		st->engine = HC_DB_SQLITE;
		st->ops = &hc_db__sqlite_ops;
		snprintf(where, sizeof(where), "%s", path);
	}
	count = *st->ops->migration_count;
	rc = st->ops->open(st, path, err, errsz);
	if (rc)
		goto fail;
	if (mode == HC_STORE_RW) {
		rc = hc_store_tx(st, migrate_fn, NULL);
		if (rc) {
			snprintf(err, errsz, "%s: schema migration failed: %s", where,
				rc == HUB_ERR_CONFIG ? "store was made by a newer hub"
						     : hc_store_errmsg(st));
			goto fail;
		}
	} else {
		rc = hc_store_schema_version(st, &version);
		if (rc || version < count) {
			snprintf(err, errsz, "%s: store not initialised (schema %d of %d)", where,
				version, count);
			rc = HUB_ERR_DB;
			goto fail;
		}
	}
	*out = st;
	return HUB_OK;
fail:
	hc_store_close(st);
	return rc;
}

void hc_store_close(struct hc_store *st)
{
	if (!st)
		return;
	st->ops->close(st);
	free(st);
}

void hc_store_set_connect_wait(struct hc_store *st, int wait_ms)
{
	st->connect_wait_ms = wait_ms < 0 ? 0 : wait_ms;
	if (st->engine == HC_DB_POSTGRESQL && st->connect_wait_ms)
		(void)hc_db_exec(st, "SET lock_timeout = " HC_PG_LOOP_LOCK_SQL);
}

const char *hc_store_errmsg(struct hc_store *st)
{
	return st ? st->ops->errmsg(st) : "no store";
}

struct sqlite3 *hc_store_db(struct hc_store *st)
{
	return st->db;
}

int hc_store_schema_version(struct hc_store *st, int *version)
{
	return st->ops->schema_version(st, version);
}

int hc_store_ping(struct hc_store *st)
{
	int64_t v;
	return hc_store__get_int64(st, "SELECT count(*) FROM rooms WHERE 1 = 0", NULL, &v);
}

/* ---------------------------------------------------------------- users */

struct user_args {
	const char *name, *display, *role, *hash, *owner, *reason;
	bool revoke;
	int count;
};

/* Users, devices and service keys share one namespace: a key's name is
 * the sender of what it publishes, so it must not be anyone's username. */
static int name_is_key(struct hc_store *st, const char *name)
{
	int64_t n = 0;
	int rc = hc_store__get_int64(
		st, "SELECT count(*) FROM service_keys WHERE name = ?", name, &n);
	return rc ? rc : n ? HUB_ERR_EXISTS : HUB_OK;
}

static int user_add_fn(struct hc_store *st, void *ud)
{
	struct user_args *a = ud;
	struct hc_db_stmt *s;
	int rc = name_is_key(st, a->name);
	if (rc)
		return rc;
	rc = hc_db_prep(st, &s,
		"INSERT INTO principals(name, kind, display_name, role, pw_hash, created_at) "
		"VALUES(?, 'user', ?, ?, ?, unixepoch())",
		"ssss", a->name, a->display ? a->display : "", a->role, a->hash);
	return rc ? rc : hc_db_done(s);
}

int hc_store_user_add(struct hc_store *st, const char *name, const char *display_name,
	const char *role, const char *pw_hash)
{
	struct user_args a = {.name = name, .display = display_name, .role = role, .hash = pw_hash};
	if (!hc_name_valid(name) || !pw_hash || (strcmp(role, "admin") && strcmp(role, "user")) ||
		(display_name && strlen(display_name) > HC_DISPLAY_MAX))
		return HUB_ERR_INVAL;
	return hc_store_tx(st, user_add_fn, &a);
}

static int revoke_where(struct hc_store *st, const char *principal, const char *reason, int *count)
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"UPDATE sessions SET revoked_at = unixepoch(), reason = ? "
		"WHERE revoked_at = 0 AND expires_at > unixepoch() AND "
		"(principal = ? OR principal IN (SELECT name FROM principals WHERE owner = ?))",
		"sss", reason, principal, principal);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc == HUB_OK && count)
		*count = hc_db_changes(st);
	return rc;
}

static int principal_kind(struct hc_store *st, const char *name, char *kind, size_t n)
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s, "SELECT kind FROM principals WHERE name = ?", "s", name);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW) {
		hc_db_col(s, 0, kind, n);
		rc = HUB_OK;
	} else {
		rc = rc == HC_DB_DONE ? HUB_ERR_NOTFOUND : HUB_ERR_DB;
	}
	hc_db_finalize(s);
	return rc;
}

static int user_del_fn(struct hc_store *st, void *ud)
{
	struct user_args *a = ud;
	struct hc_db_stmt *s;
	char kind[8];
	int rc = principal_kind(st, a->name, kind, sizeof(kind));
	if (rc)
		return rc;
	if (strcmp(kind, "user"))
		return HUB_ERR_NOTFOUND;
	rc = revoke_where(st, a->name, "deleted", NULL);
	if (rc)
		return rc;
	rc = hc_db_prep(st, &s, "DELETE FROM principals WHERE name = ?", "s", a->name);
	return rc ? rc : hc_db_done(s);
}

int hc_store_user_del(struct hc_store *st, const char *name)
{
	struct user_args a = {.name = name};
	if (!hc_name_valid(name))
		return HUB_ERR_NOTFOUND;
	return hc_store_tx(st, user_del_fn, &a);
}

static int user_passwd_fn(struct hc_store *st, void *ud)
{
	struct user_args *a = ud;
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"UPDATE principals SET pw_hash = ? WHERE name = ? AND kind = 'user'", "ss", a->hash,
		a->name);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc)
		return rc;
	if (hc_db_changes(st) == 0)
		return HUB_ERR_NOTFOUND;
	return a->revoke ? revoke_where(st, a->name, "password", NULL) : HUB_OK;
}

int hc_store_user_set_password(
	struct hc_store *st, const char *name, const char *pw_hash, bool revoke)
{
	struct user_args a = {.name = name, .hash = pw_hash, .revoke = revoke};
	if (!hc_name_valid(name) || !pw_hash)
		return HUB_ERR_INVAL;
	return hc_store_tx(st, user_passwd_fn, &a);
}

static int user_role_fn(struct hc_store *st, void *ud)
{
	struct user_args *a = ud;
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"UPDATE principals SET role = ? WHERE name = ? AND kind = 'user'", "ss", a->role,
		a->name);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc == HUB_OK && hc_db_changes(st) == 0)
		rc = HUB_ERR_NOTFOUND;
	return rc;
}

int hc_store_user_set_role(struct hc_store *st, const char *name, const char *role)
{
	struct user_args a = {.name = name, .role = role};
	if (!hc_name_valid(name) || !role || (strcmp(role, "admin") && strcmp(role, "user")))
		return HUB_ERR_INVAL;
	return hc_store_tx(st, user_role_fn, &a);
}

#define PRINCIPAL_COLS "name, kind, display_name, role, coalesce(owner, ''), created_at"

static void read_principal(struct hc_db_stmt *s, struct hc_principal *p)
{
	char kind[8];
	memset(p, 0, sizeof(*p));
	hc_db_col(s, 0, p->name, sizeof(p->name));
	hc_db_col(s, 1, kind, sizeof(kind));
	p->kind = strcmp(kind, "device") == 0 ? HC_KIND_DEVICE : HC_KIND_USER;
	hc_db_col(s, 2, p->display_name, sizeof(p->display_name));
	hc_db_col(s, 3, p->role, sizeof(p->role));
	hc_db_col(s, 4, p->owner, sizeof(p->owner));
	p->created_at = hc_db_int64(s, 5);
}

int hc_store_principal_get(struct hc_store *st, const char *name, struct hc_principal *out,
	char *pw_hash, size_t pw_hash_sz)
{
	struct hc_db_stmt *s;
	int rc;
	if (!hc_name_valid(name))
		return HUB_ERR_NOTFOUND;
	rc = hc_db_prep(st, &s,
		"SELECT " PRINCIPAL_COLS ", coalesce(pw_hash, '') FROM principals WHERE name = ?",
		"s", name);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW) {
		read_principal(s, out);
		if (pw_hash)
			hc_db_col(s, 6, pw_hash, pw_hash_sz);
		rc = HUB_OK;
	} else {
		rc = rc == HC_DB_DONE ? HUB_ERR_NOTFOUND
				      : (rc == HUB_ERR_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB);
	}
	hc_db_finalize(s);
	return rc;
}

int hc_store_principal_list(
	struct hc_store *st, int kind, int (*cb)(void *ud, const struct hc_principal *p), void *ud)
{
	struct hc_db_stmt *s;
	struct hc_principal p;
	int rc;
	const char *k = kind == HC_KIND_USER ? "user" : kind == HC_KIND_DEVICE ? "device" : NULL;

	rc = hc_db_prep(st, &s,
		"SELECT " PRINCIPAL_COLS " FROM principals WHERE ?1 IS NULL OR kind = ?1 "
		"ORDER BY name",
		"s", k);
	if (rc)
		return rc;
	while ((rc = hc_db_step(s)) == HC_DB_ROW) {
		int r;
		read_principal(s, &p);
		r = cb(ud, &p);
		if (r) {
			hc_db_finalize(s);
			return r;
		}
	}
	hc_db_finalize(s);
	return rc == HC_DB_DONE ? HUB_OK : HUB_ERR_DB;
}

int hc_store_user_count(struct hc_store *st, int64_t *count)
{
	return hc_store__get_int64(
		st, "SELECT count(*) FROM principals WHERE kind = 'user'", NULL, count);
}

/* -------------------------------------------------------------- devices */

static int device_add_fn(struct hc_store *st, void *ud)
{
	struct user_args *a = ud;
	struct hc_db_stmt *s;
	char kind[8];
	int rc = principal_kind(st, a->owner, kind, sizeof(kind));
	if (rc)
		return rc;
	if (strcmp(kind, "user"))
		return HUB_ERR_NOTFOUND;
	rc = name_is_key(st, a->name);
	if (rc)
		return rc;
	rc = hc_db_prep(st, &s,
		"INSERT INTO principals(name, kind, display_name, owner, secret_hash, created_at) "
		"VALUES(?, 'device', ?, ?, ?, unixepoch())",
		"ssss", a->name, a->display ? a->display : "", a->owner, a->hash);
	return rc ? rc : hc_db_done(s);
}

int hc_store_device_add(struct hc_store *st, const char *id, const char *owner,
	const char *display_name, const char *secret_hash)
{
	struct user_args a = {
		.name = id, .owner = owner, .display = display_name, .hash = secret_hash};
	if (!hc_name_valid(id) || !hc_name_valid(owner) || !secret_hash ||
		strlen(secret_hash) != 64 ||
		(display_name && strlen(display_name) > HC_DISPLAY_MAX))
		return HUB_ERR_INVAL;
	return hc_store_tx(st, device_add_fn, &a);
}

static int device_del_fn(struct hc_store *st, void *ud)
{
	struct user_args *a = ud;
	struct hc_db_stmt *s;
	int rc = hc_db_prep(
		st, &s, "DELETE FROM principals WHERE name = ? AND kind = 'device'", "s", a->name);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc == HUB_OK && hc_db_changes(st) == 0)
		rc = HUB_ERR_NOTFOUND;
	return rc;
}

int hc_store_device_del(struct hc_store *st, const char *id)
{
	struct user_args a = {.name = id};
	if (!hc_name_valid(id))
		return HUB_ERR_NOTFOUND;
	return hc_store_tx(st, device_del_fn, &a);
}

int hc_store_device_secret_hash(struct hc_store *st, const char *id, char out[65])
{
	struct hc_db_stmt *s;
	int rc;
	if (!hc_name_valid(id))
		return HUB_ERR_NOTFOUND;
	rc = hc_db_prep(st, &s,
		"SELECT secret_hash FROM principals WHERE name = ? AND kind = 'device'", "s", id);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW) {
		hc_db_col(s, 0, out, 65);
		rc = HUB_OK;
	} else {
		rc = rc == HC_DB_DONE ? HUB_ERR_NOTFOUND : HUB_ERR_DB;
	}
	hc_db_finalize(s);
	return rc;
}

/* ---------------------------------------------------------------- rooms */

struct room_args {
	const char *room, *principal;
	int level;
};

static int room_add_fn(struct hc_store *st, void *ud)
{
	struct room_args *a = ud;
	struct hc_db_stmt *s;
	int rc = hc_db_prep(
		st, &s, "INSERT INTO rooms(name, created_at) VALUES(?, unixepoch())", "s", a->room);
	return rc ? rc : hc_db_done(s);
}

int hc_store_room_add(struct hc_store *st, const char *name)
{
	struct room_args a = {.room = name};
	if (!hc_name_valid(name))
		return HUB_ERR_INVAL;
	return hc_store_tx(st, room_add_fn, &a);
}

static int room_del_fn(struct hc_store *st, void *ud)
{
	struct room_args *a = ud;
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s, "DELETE FROM rooms WHERE name = ?", "s", a->room);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc == HUB_OK && hc_db_changes(st) == 0)
		return HUB_ERR_NOTFOUND;
	if (rc)
		return rc;
	rc = hc_db_prep(st, &s, "DELETE FROM messages WHERE room = ?", "s", a->room);
	return rc ? rc : hc_db_done(s);
}

int hc_store_room_del(struct hc_store *st, const char *name)
{
	struct room_args a = {.room = name};
	if (!hc_name_valid(name))
		return HUB_ERR_NOTFOUND;
	return hc_store_tx(st, room_del_fn, &a);
}

int hc_store_room_exists(struct hc_store *st, const char *name)
{
	int64_t v;
	if (!hc_name_valid(name))
		return HUB_ERR_NOTFOUND;
	return hc_store__get_int64(st, "SELECT 1 FROM rooms WHERE name = ?", name, &v);
}

struct hook_args {
	const char *room, *service;
	const char **what;
};

static int hook_fn(struct hc_store *st, void *ud)
{
	struct hook_args *a = ud;
	struct hc_db_stmt *s;
	int64_t v;
	int rc;
	if (hc_store__get_int64(st, "SELECT 1 FROM rooms WHERE name = ?", a->room, &v) != HUB_OK) {
		*a->what = "room";
		return HUB_ERR_NOTFOUND;
	}
	if (a->service[0] && hc_store__get_int64(st, "SELECT 1 FROM service_keys WHERE name = ?",
				     a->service, &v) != HUB_OK) {
		*a->what = "service";
		return HUB_ERR_NOTFOUND;
	}
	rc = hc_db_prep(st, &s, "UPDATE rooms SET hook = ? WHERE name = ? AND hook != ?", "sss",
		a->service, a->room, a->service);
	return rc ? rc : hc_db_done(s);
}

int hc_store_room_set_hook(
	struct hc_store *st, const char *room, const char *service, const char **what)
{
	const char *dummy;
	struct hook_args a = {.room = room, .service = service ? service : "", .what = &dummy};
	if (what)
		a.what = what;
	*a.what = NULL;
	if (!hc_name_valid(room)) {
		*a.what = "room";
		return HUB_ERR_NOTFOUND;
	}
	if (a.service[0] && !hc_name_valid(a.service)) {
		*a.what = "service";
		return HUB_ERR_NOTFOUND;
	}
	return hc_store_tx(st, hook_fn, &a);
}

int hc_store_room_hook(struct hc_store *st, const char *room, char out[HC_NAME_MAX + 1])
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s, "SELECT hook FROM rooms WHERE name = ?", "s", room);
	out[0] = '\0';
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW) {
		hc_db_col(s, 0, out, HC_NAME_MAX + 1);
		rc = HUB_OK;
	} else {
		rc = rc == HC_DB_DONE ? HUB_ERR_NOTFOUND : HUB_ERR_DB;
	}
	hc_db_finalize(s);
	return rc;
}

int hc_store_room_list(struct hc_store *st, int (*cb)(void *ud, const struct hc_room *r), void *ud)
{
	struct hc_db_stmt *s;
	struct hc_room r;
	int rc = hc_db_prep(st, &s,
		"SELECT r.name, r.created_at, (SELECT count(*) FROM memberships m "
		"WHERE m.room = r.name), r.hook FROM rooms r ORDER BY r.name",
		"");
	if (rc)
		return rc;
	while ((rc = hc_db_step(s)) == HC_DB_ROW) {
		int x;
		memset(&r, 0, sizeof(r));
		hc_db_col(s, 0, r.name, sizeof(r.name));
		r.created_at = hc_db_int64(s, 1);
		r.members = hc_db_int(s, 2);
		hc_db_col(s, 3, r.hook, sizeof(r.hook));
		x = cb(ud, &r);
		if (x) {
			hc_db_finalize(s);
			return x;
		}
	}
	hc_db_finalize(s);
	return rc == HC_DB_DONE ? HUB_OK : HUB_ERR_DB;
}

static int grant_fn(struct hc_store *st, void *ud)
{
	struct room_args *a = ud;
	struct hc_db_stmt *s;
	char kind[8];
	int rc = hc_store_room_exists(st, a->room);
	if (rc)
		return rc;
	rc = principal_kind(st, a->principal, kind, sizeof(kind));
	if (rc)
		return rc;
	rc = hc_db_prep(st, &s,
		"INSERT INTO memberships(room, principal, level) VALUES(?, ?, ?) "
		"ON CONFLICT(room, principal) DO UPDATE SET level = excluded.level "
		"WHERE memberships.level != excluded.level",
		"ssd", a->room, a->principal, a->level);
	return rc ? rc : hc_db_done(s);
}

int hc_store_grant(struct hc_store *st, const char *room, const char *principal, int level)
{
	struct room_args a = {.room = room, .principal = principal, .level = level};
	if (!hc_name_valid(room) || !hc_name_valid(principal))
		return HUB_ERR_NOTFOUND;
	if (level < HC_LEVEL_READ || level > HC_LEVEL_ADMIN)
		return HUB_ERR_INVAL;
	return hc_store_tx(st, grant_fn, &a);
}

static int revoke_fn(struct hc_store *st, void *ud)
{
	struct room_args *a = ud;
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s, "DELETE FROM memberships WHERE room = ? AND principal = ?",
		"ss", a->room, a->principal);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc == HUB_OK && hc_db_changes(st) == 0)
		rc = HUB_ERR_NOTFOUND;
	return rc;
}

int hc_store_revoke(struct hc_store *st, const char *room, const char *principal)
{
	struct room_args a = {.room = room, .principal = principal};
	if (!hc_name_valid(room) || !hc_name_valid(principal))
		return HUB_ERR_NOTFOUND;
	return hc_store_tx(st, revoke_fn, &a);
}

int hc_store_level(struct hc_store *st, const char *room, const char *principal, int *level)
{
	struct hc_db_stmt *s;
	int rc;
	*level = HC_LEVEL_NONE;
	if (!hc_name_valid(room) || !hc_name_valid(principal))
		return HUB_OK;
	rc = hc_db_prep(st, &s, "SELECT level FROM memberships WHERE room = ? AND principal = ?",
		"ss", room, principal);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW)
		*level = hc_db_int(s, 0);
	hc_db_finalize(s);
	return rc == HC_DB_ROW || rc == HC_DB_DONE ? HUB_OK : HUB_ERR_DB;
}

int hc_store_membership_list(struct hc_store *st, const char *room, const char *principal,
	int (*cb)(void *ud, const struct hc_membership *m), void *ud)
{
	struct hc_db_stmt *s;
	struct hc_membership m;
	int rc = hc_db_prep(st, &s,
		"SELECT room, principal, level FROM memberships "
		"WHERE (?1 IS NULL OR room = ?1) AND (?2 IS NULL OR principal = ?2) "
		"ORDER BY room, principal",
		"ss", room, principal);
	if (rc)
		return rc;
	while ((rc = hc_db_step(s)) == HC_DB_ROW) {
		int x;
		memset(&m, 0, sizeof(m));
		hc_db_col(s, 0, m.room, sizeof(m.room));
		hc_db_col(s, 1, m.principal, sizeof(m.principal));
		m.level = hc_db_int(s, 2);
		x = cb(ud, &m);
		if (x) {
			hc_db_finalize(s);
			return x;
		}
	}
	hc_db_finalize(s);
	return rc == HC_DB_DONE ? HUB_OK : HUB_ERR_DB;
}

/* ------------------------------------------------------------- sessions */

struct session_args {
	const char *principal, *kind, *addr, *sid, *reason;
	const char *secret_hash;
	int64_t ttl;
	int count;
};

static int session_create_fn(struct hc_store *st, void *ud)
{
	struct session_args *a = ud;
	struct hc_db_stmt *s;
	char kind[8];
	int rc = principal_kind(st, a->principal, kind, sizeof(kind));
	if (rc)
		return rc;
	rc = hc_db_prep(st, &s,
		"INSERT INTO sessions(sid, secret_hash, principal, kind, created_at, expires_at, "
		"addr) VALUES(?, ?, ?, ?, unixepoch(), unixepoch() + ?, ?)",
		"ssssis", a->sid, a->secret_hash, a->principal, a->kind, a->ttl,
		a->addr ? a->addr : "");
	return rc ? rc : hc_db_done(s);
}

int hc_store_session_create(struct hc_store *st, const char *principal, const char *kind,
	int64_t ttl, const char *addr, char sid[HC_SID_LEN + 1], char secret[HC_SECRET_LEN + 1])
{
	char hash[65];
	struct session_args a = {.principal = principal, .kind = kind, .addr = addr, .ttl = ttl};
	int rc;

	if (!hc_name_valid(principal) || ttl <= 0 || !kind || strlen(kind) > 7 ||
		(addr && strlen(addr) > 47))
		return HUB_ERR_INVAL;
	rc = hc_random_token(16, sid, HC_SID_LEN + 1);
	if (!rc)
		rc = hc_random_token(32, secret, HC_SECRET_LEN + 1);
	if (rc)
		return rc;
	hc_sha256_hex(secret, strlen(secret), hash);
	a.sid = sid;
	a.secret_hash = hash;
	rc = hc_store_tx(st, session_create_fn, &a);
	if (rc)
		OPENSSL_cleanse(secret, HC_SECRET_LEN + 1);
	return rc;
}

void hc_store__read_session(struct hc_db_stmt *s, struct hc_session *o)
{
	memset(o, 0, sizeof(*o));
	hc_db_col(s, 0, o->sid, sizeof(o->sid));
	hc_db_col(s, 1, o->principal, sizeof(o->principal));
	hc_db_col(s, 2, o->kind, sizeof(o->kind));
	o->created_at = hc_db_int64(s, 3);
	o->expires_at = hc_db_int64(s, 4);
	o->revoked_at = hc_db_int64(s, 5);
	hc_db_col(s, 6, o->reason, sizeof(o->reason));
	hc_db_col(s, 7, o->addr, sizeof(o->addr));
}

static int session_one(
	struct hc_store *st, const char *sql, const char *arg, struct hc_session *out)
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s, sql, "s", arg);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW) {
		hc_store__read_session(s, out);
		rc = HUB_OK;
	} else {
		rc = rc == HC_DB_DONE ? HUB_ERR_NOTFOUND
				      : (rc == HUB_ERR_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB);
	}
	hc_db_finalize(s);
	return rc;
}

int hc_store_session_by_secret(
	struct hc_store *st, const char *secret, int64_t now, struct hc_session *out)
{
	char hash[65];
	int rc;

	memset(out, 0, sizeof(*out));
	if (!secret || strlen(secret) != HC_SECRET_LEN)
		return HUB_ERR_NOTFOUND;
	/* the lookup is by hash of a 256-bit secret: an index probe cannot leak
	 * anything useful through timing */
	hc_sha256_hex(secret, HC_SECRET_LEN, hash);
	rc = session_one(
		st, "SELECT " SESSION_COLS " FROM sessions WHERE secret_hash = ?", hash, out);
	if (rc)
		return rc;
	if (out->revoked_at)
		return HUB_ERR_REVOKED;
	if (now >= out->expires_at)
		return HUB_ERR_EXPIRED;
	return HUB_OK;
}

int hc_store_session_get(struct hc_store *st, const char *sid, struct hc_session *out)
{
	return session_one(st, "SELECT " SESSION_COLS " FROM sessions WHERE sid = ?", sid, out);
}

static int session_revoke_fn(struct hc_store *st, void *ud)
{
	struct session_args *a = ud;
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"UPDATE sessions SET revoked_at = unixepoch(), reason = ? "
		"WHERE sid = ? AND revoked_at = 0",
		"ss", a->reason, a->sid);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc == HUB_OK && hc_db_changes(st) == 0)
		rc = HUB_ERR_NOTFOUND;
	return rc;
}

int hc_store_session_revoke(struct hc_store *st, const char *sid, const char *reason)
{
	struct session_args a = {.sid = sid, .reason = reason};
	if (!sid || !reason || strlen(reason) > 15)
		return HUB_ERR_INVAL;
	return hc_store_tx(st, session_revoke_fn, &a);
}

static int session_revoke_principal_fn(struct hc_store *st, void *ud)
{
	struct session_args *a = ud;
	return revoke_where(st, a->principal, a->reason, &a->count);
}

int hc_store_session_revoke_principal(
	struct hc_store *st, const char *principal, const char *reason, int *count)
{
	struct session_args a = {.principal = principal, .reason = reason};
	int rc;
	if (!hc_name_valid(principal) || !reason || strlen(reason) > 15)
		return HUB_ERR_INVAL;
	rc = hc_store_tx(st, session_revoke_principal_fn, &a);
	if (count)
		*count = a.count;
	return rc;
}

int hc_store_session_list(struct hc_store *st, const char *principal, bool all, int64_t now,
	int (*cb)(void *ud, const struct hc_session *s), void *ud)
{
	struct hc_db_stmt *s;
	struct hc_session o;
	int rc = hc_db_prep(st, &s,
		"SELECT " SESSION_COLS " FROM sessions WHERE (?1 IS NULL OR principal = ?1) "
		"AND (?2 != 0 OR (revoked_at = 0 AND expires_at > ?3)) ORDER BY created_at, sid",
		"sdi", principal, all ? 1 : 0, now);
	if (rc)
		return rc;
	while ((rc = hc_db_step(s)) == HC_DB_ROW) {
		int x;
		hc_store__read_session(s, &o);
		x = cb(ud, &o);
		if (x) {
			hc_db_finalize(s);
			return x;
		}
	}
	hc_db_finalize(s);
	return rc == HC_DB_DONE ? HUB_OK : HUB_ERR_DB;
}

int hc_store_session_count_live(struct hc_store *st, int64_t now, int64_t *count)
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"SELECT count(*) FROM sessions WHERE revoked_at = 0 AND expires_at > ?", "i", now);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	*count = rc == HC_DB_ROW ? hc_db_int64(s, 0) : 0;
	hc_db_finalize(s);
	return rc == HC_DB_ROW ? HUB_OK : HUB_ERR_DB;
}

struct purge_args {
	int64_t cutoff;
	int batch;
	bool more;
};

static int purge_fn(struct hc_store *st, void *ud)
{
	struct purge_args *a = ud;
	struct hc_db_stmt *s;
	/* delete quietly: followers treat a session they cannot find as
	 * ended, which these are. At most a batch a table: a purge after a
	 * long pause never holds the store (or the caller's loop) long */
	int rc = hc_db_prep(st, &s,
		"DELETE FROM sessions WHERE sid IN (SELECT sid FROM sessions WHERE "
		"(revoked_at != 0 AND revoked_at < ?1) OR expires_at < ?1 LIMIT ?2)",
		"id", a->cutoff, a->batch);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc)
		return rc;
	a->more = hc_db_changes(st) >= a->batch;
	/* PostgreSQL has no sqlite_sequence: the newest row stays, so the
	 * log's position survives a purge */
	rc = hc_db_prep(st, &s,
		hc_db_sql(st,
			"DELETE FROM change_log WHERE seq IN (SELECT seq FROM change_log "
			"WHERE at < ?1 ORDER BY seq LIMIT ?2)",
			"DELETE FROM change_log WHERE seq IN (SELECT seq FROM change_log "
			"WHERE at < ?1 AND seq < (SELECT max(seq) FROM change_log) "
			"ORDER BY seq LIMIT ?2)"),
		"id", a->cutoff, a->batch);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc == HUB_OK && hc_db_changes(st) >= a->batch)
		a->more = true;
	return rc;
}

int hc_store_purge(struct hc_store *st, int64_t cutoff, int batch, bool *more)
{
	struct purge_args a = {.cutoff = cutoff, .batch = batch > 0 ? batch : 1};
	int rc = hc_store_tx(st, purge_fn, &a);
	if (more)
		*more = rc == HUB_OK && a.more;
	return rc;
}

/* --------------------------------------------------------- service keys */

struct key_args {
	const char *name, *hash;
};

static int key_add_fn(struct hc_store *st, void *ud)
{
	struct key_args *a = ud;
	struct hc_db_stmt *s;
	char kind[8];
	int rc = principal_kind(st, a->name, kind, sizeof(kind));
	if (rc == HUB_OK)
		return HUB_ERR_EXISTS; /* a user's or device's name */
	if (rc != HUB_ERR_NOTFOUND)
		return rc;
	rc = hc_db_prep(st, &s,
		"INSERT INTO service_keys(name, key_hash, created_at) VALUES(?, ?, unixepoch())",
		"ss", a->name, a->hash);
	return rc ? rc : hc_db_done(s);
}

int hc_store_servicekey_add(struct hc_store *st, const char *name, char secret[HC_SECRET_LEN + 1])
{
	char hash[65];
	struct key_args a = {.name = name, .hash = hash};
	int rc;
	if (!hc_name_valid(name))
		return HUB_ERR_INVAL;
	rc = hc_random_token(32, secret, HC_SECRET_LEN + 1);
	if (rc)
		return rc;
	hc_sha256_hex(secret, strlen(secret), hash);
	rc = hc_store_tx(st, key_add_fn, &a);
	if (rc)
		OPENSSL_cleanse(secret, HC_SECRET_LEN + 1);
	return rc;
}

static int key_del_fn(struct hc_store *st, void *ud)
{
	struct key_args *a = ud;
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s, "DELETE FROM service_keys WHERE name = ?", "s", a->name);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc == HUB_OK && hc_db_changes(st) == 0)
		rc = HUB_ERR_NOTFOUND;
	return rc;
}

int hc_store_servicekey_del(struct hc_store *st, const char *name)
{
	struct key_args a = {.name = name};
	return hc_store_tx(st, key_del_fn, &a);
}

int hc_store_servicekey_exists(struct hc_store *st, const char *name)
{
	int64_t v;
	if (!hc_name_valid(name))
		return HUB_ERR_NOTFOUND;
	return hc_store__get_int64(st, "SELECT 1 FROM service_keys WHERE name = ?", name, &v);
}

int hc_store_servicekey_list(struct hc_store *st,
	int (*cb)(void *ud, const char *name, int64_t created_at, const char *hooked_rooms),
	void *ud)
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		hc_db_sql(st,
			"SELECT k.name, k.created_at, coalesce((SELECT group_concat(r.name, ',') "
			"FROM (SELECT name FROM rooms WHERE hook = k.name ORDER BY name) r), '') "
			"FROM service_keys k ORDER BY k.name",
			"SELECT k.name, k.created_at, coalesce((SELECT string_agg(r.name, ',' "
			"ORDER BY r.name) FROM rooms r WHERE r.hook = k.name), '') "
			"FROM service_keys k ORDER BY k.name"),
		"");
	if (rc)
		return rc;
	while ((rc = hc_db_step(s)) == HC_DB_ROW) {
		char name[HC_NAME_MAX + 1];
		const char *rooms = hc_db_text(s, 2);
		int x;
		hc_db_col(s, 0, name, sizeof(name));
		x = cb(ud, name, hc_db_int64(s, 1), rooms ? rooms : "");
		if (x) {
			hc_db_finalize(s);
			return x;
		}
	}
	hc_db_finalize(s);
	return rc == HC_DB_DONE ? HUB_OK : HUB_ERR_DB;
}

int hc_store_servicekey_check(struct hc_store *st, const char *secret, char name[HC_NAME_MAX + 1])
{
	char hash[65];
	struct hc_db_stmt *s;
	int rc;

	if (!secret || strlen(secret) != HC_SECRET_LEN)
		return HUB_ERR_AUTH;
	hc_sha256_hex(secret, HC_SECRET_LEN, hash);
	rc = hc_db_prep(st, &s, "SELECT name FROM service_keys WHERE key_hash = ?", "s", hash);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW) {
		hc_db_col(s, 0, name, HC_NAME_MAX + 1);
		rc = HUB_OK;
	} else {
		rc = rc == HC_DB_DONE ? HUB_ERR_AUTH : HUB_ERR_DB;
	}
	hc_db_finalize(s);
	return rc;
}

/* ----------------------------------------------------------- change log */

int hc_store_change_seq(struct hc_store *st, int64_t *seq)
{
	/* sqlite_sequence remembers the highest seq even after a purge emptied
	 * the log; on PostgreSQL a purge keeps the newest row (and a sequence's
	 * value counts rolled-back transactions, which no follower can see) */
	*seq = 0;
	return hc_store__get_int64(st,
		hc_db_sql(st,
			"SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = "
			"'change_log'), 0), coalesce((SELECT max(seq) FROM change_log), 0))",
			"SELECT coalesce(max(seq), 0) FROM change_log"),
		NULL, seq);
}

int hc_store_change_min(struct hc_store *st, int64_t *seq)
{
	*seq = 0;
	return hc_store__get_int64(st, "SELECT coalesce(min(seq), 0) FROM change_log", NULL, seq);
}

int hc_store_changes(struct hc_store *st, int64_t after, int limit,
	int (*cb)(void *ud, int64_t seq, const char *entity, const char *key), void *ud)
{
	struct hc_db_stmt *s;
	int rc = hc_db_prep(st, &s,
		"SELECT seq, entity, key FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?", "id",
		after, limit);
	if (rc)
		return rc;
	while ((rc = hc_db_step(s)) == HC_DB_ROW) {
		int x = cb(ud, hc_db_int64(s, 0), hc_db_text(s, 1), hc_db_text(s, 2));
		if (x) {
			hc_db_finalize(s);
			return x;
		}
	}
	hc_db_finalize(s);
	return rc == HC_DB_DONE ? HUB_OK : (rc == HUB_ERR_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB);
}
