/* SPDX-License-Identifier: MIT */
/*
 * The store: one SQLite file (WAL) shared by hubd, hubctl, hub-bridge and
 * the broker plugin, or a PostgreSQL database shared by every node (the
 * `store` setting; hc_db.h is the seam, db_sqlite.c and db_pg.c the two
 * engines, docs/scaling.md "The store on PostgreSQL"). Schema migrations are versioned (PRAGMA
 * user_version) and run by whichever read-write opener comes first. Every write is a short
 * IMMEDIATE transaction retried on SQLITE_BUSY; readers never block writers. Triggers append every
 * change of principals, rooms, memberships and sessions to change_log, which the broker plugin and
 * the bridge follow to keep their in-memory copies current.
 *
 * A struct hc_store is used by one thread at a time. Strings handed to
 * callbacks are borrowed for the duration of the call.
 */
#ifndef HC_STORE_H
#define HC_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_names.h"

struct hc_store;

enum hc_store_mode { HC_STORE_RW = 0, HC_STORE_RO = 1 };

#define HC_SID_LEN     22 /* public session reference: 16 random bytes, base64url */
#define HC_SECRET_LEN  43 /* cookie value / device secret / service key: 32 bytes */
#define HC_DISPLAY_MAX 128

/* Services (service keys, hubctl servicekey) share the principals'
 * namespace; the directory holds them as principals of their own kind. */
enum hc_kind { HC_KIND_USER = 'u', HC_KIND_DEVICE = 'd', HC_KIND_SERVICE = 's' };

struct hc_principal {
	char name[HC_NAME_MAX + 1];
	int kind; /* enum hc_kind */
	char display_name[HC_DISPLAY_MAX + 1];
	char role[8];		     /* "admin" | "user" (users) */
	char owner[HC_NAME_MAX + 1]; /* devices: owning user */
	int64_t created_at;
};

struct hc_session {
	char sid[HC_SID_LEN + 1];
	char principal[HC_NAME_MAX + 1];
	char kind[8];				    /* "web" | "cli" */
	int64_t created_at, expires_at, revoked_at; /* revoked_at 0 if live */
	char reason[16]; /* why revoked: logout, kicked, deleted, password */
	char addr[48];
};

struct hc_membership {
	char room[HC_NAME_MAX + 1];
	char principal[HC_NAME_MAX + 1];
	int level; /* enum hc_level */
};

struct hc_room {
	char name[HC_NAME_MAX + 1];
	int64_t created_at;
	int members;
	char hook[HC_NAME_MAX + 1]; /* service that checks its events, "" */
};

/* Open (and for RW, create and migrate) the store at path: a file path is
 * SQLite (busy_timeout, WAL, foreign keys on), a postgresql:// URI or a
 * key=value conninfo is PostgreSQL (hc_db_is_postgresql). err gets a
 * one-line reason on failure, never a password. */
int hc_store_open(const char *path, int mode, struct hc_store **out, char *err, size_t errsz);
void hc_store_close(struct hc_store *st);
/* For a store used from an event loop (hubd, hub-bridge), on PostgreSQL:
 * - one call waits at most wait_ms for a lost connection to be re-opened;
 *   an attempt that takes longer (a server that does not answer) goes on
 *   in later calls, which fail at once meanwhile, and gives up after
 *   connect_timeout (5 s);
 * - a statement's result is waited for at most 3 s, then the connection
 *   is given up (re-opened by a later call) and the call fails;
 * - its writes wait at most 2 s for the writers' lock (then HUB_ERR_BUSY).
 * 0 (the default): libpq's blocking calls. Nothing for SQLite. */
void hc_store_set_connect_wait(struct hc_store *st, int wait_ms);
/* What hubd and hub-bridge use: a re-open to a server that answers (a
 * few ms on a LAN) completes within the call that found the connection
 * lost, so that call is served */
#define HC_STORE_LOOP_WAIT_MS 250
/* Last engine message (borrowed, valid until the next call). */
const char *hc_store_errmsg(struct hc_store *st);
int hc_store_schema_version(struct hc_store *st, int *version);
/* Cheap liveness check (one read). */
int hc_store_ping(struct hc_store *st);

/* --- principals --- */
/* Add a user; role "admin" or "user"; pw_hash from hc_password_hash.
 * HUB_ERR_EXISTS if the name is a user or a device already. */
int hc_store_user_add(struct hc_store *st, const char *name, const char *display_name,
	const char *role, const char *pw_hash);
/* Delete a user, its devices and memberships; revokes its sessions
 * (reason "deleted"). HUB_ERR_NOTFOUND if absent. */
int hc_store_user_del(struct hc_store *st, const char *name);
/* Set a new password hash; with revoke, live sessions end (reason
 * "password"). */
int hc_store_user_set_password(
	struct hc_store *st, const char *name, const char *pw_hash, bool revoke);
int hc_store_user_set_role(struct hc_store *st, const char *name, const char *role);
/* Get a principal (user or device). pw_hash (may be NULL) gets the user's
 * stored hash. HUB_ERR_NOTFOUND if absent. */
int hc_store_principal_get(struct hc_store *st, const char *name, struct hc_principal *out,
	char *pw_hash, size_t pw_hash_sz);
/* Iterate principals of a kind (0 for all), sorted by name. A callback
 * returning non-zero stops the walk and that value is returned. */
int hc_store_principal_list(
	struct hc_store *st, int kind, int (*cb)(void *ud, const struct hc_principal *p), void *ud);
int hc_store_user_count(struct hc_store *st, int64_t *count);

/* Add a device owned by a user. secret_hash = hc_sha256_hex of the secret.
 * HUB_ERR_EXISTS, HUB_ERR_NOTFOUND (owner). */
int hc_store_device_add(struct hc_store *st, const char *id, const char *owner,
	const char *display_name, const char *secret_hash);
int hc_store_device_del(struct hc_store *st, const char *id);
/* Stored secret hash of a device (hex). */
int hc_store_device_secret_hash(struct hc_store *st, const char *id, char out[65]);

/* --- rooms and memberships --- */
int hc_store_room_add(struct hc_store *st, const char *name);
int hc_store_room_del(struct hc_store *st, const char *name);
int hc_store_room_exists(struct hc_store *st, const char *name);
int hc_store_room_list(struct hc_store *st, int (*cb)(void *ud, const struct hc_room *r), void *ud);
/* Let service (a service key's name) check the room's events, or nobody
 * (service NULL or ""). HUB_ERR_NOTFOUND: no such room (*what = "room") or
 * no such service (*what = "service"). */
int hc_store_room_set_hook(
	struct hc_store *st, const char *room, const char *service, const char **what);
/* The room's hook into out ("" if none). HUB_ERR_NOTFOUND if no room. */
int hc_store_room_hook(struct hc_store *st, const char *room, char out[HC_NAME_MAX + 1]);
/* Grant (or change) a level. HUB_ERR_NOTFOUND if room or principal absent. */
int hc_store_grant(struct hc_store *st, const char *room, const char *principal, int level);
int hc_store_revoke(struct hc_store *st, const char *room, const char *principal);
/* Level of principal in room (HC_LEVEL_NONE if not a member). */
int hc_store_level(struct hc_store *st, const char *room, const char *principal, int *level);
/* Memberships by principal (room NULL) or by room (principal NULL), or all
 * (both NULL). Sorted. */
int hc_store_membership_list(struct hc_store *st, const char *room, const char *principal,
	int (*cb)(void *ud, const struct hc_membership *m), void *ud);

/* --- sessions --- */
/* Create a session for principal. Writes the public sid and the secret
 * (the cookie value, shown once; only its hash is stored). */
int hc_store_session_create(struct hc_store *st, const char *principal, const char *kind,
	int64_t ttl, const char *addr, char sid[HC_SID_LEN + 1], char secret[HC_SECRET_LEN + 1]);
/* Find the live session of a cookie value. HUB_ERR_NOTFOUND (unknown or
 * malformed), HUB_ERR_EXPIRED, HUB_ERR_REVOKED; *out filled in every case
 * where a row exists. */
int hc_store_session_by_secret(
	struct hc_store *st, const char *secret, int64_t now, struct hc_session *out);
int hc_store_session_get(struct hc_store *st, const char *sid, struct hc_session *out);
/* Revoke one session (reason "logout", "kicked", ...). HUB_ERR_NOTFOUND if
 * absent or already revoked. */
int hc_store_session_revoke(struct hc_store *st, const char *sid, const char *reason);
/* Revoke every live session of principal; *count (may be NULL) = how many. */
int hc_store_session_revoke_principal(
	struct hc_store *st, const char *principal, const char *reason, int *count);
/* Sessions of one principal (NULL: all), live only unless all is set. */
int hc_store_session_list(struct hc_store *st, const char *principal, bool all, int64_t now,
	int (*cb)(void *ud, const struct hc_session *s), void *ud);
int hc_store_session_count_live(struct hc_store *st, int64_t now, int64_t *count);
/* Delete sessions ended (expired or revoked) before cutoff, and change-log
 * rows older than cutoff: at most batch rows of each (oldest log rows
 * first); *more (may be NULL) is set when a table had batch rows to go, so
 * another call has more to do. */
int hc_store_purge(struct hc_store *st, int64_t cutoff, int batch, bool *more);

/* --- service keys --- */
/* Create a key: writes the secret (shown once). HUB_ERR_EXISTS. */
int hc_store_servicekey_add(struct hc_store *st, const char *name, char secret[HC_SECRET_LEN + 1]);
int hc_store_servicekey_del(struct hc_store *st, const char *name);
/* Which key a presented secret is: name into out. HUB_ERR_AUTH if none. */
int hc_store_servicekey_check(struct hc_store *st, const char *secret, char name[HC_NAME_MAX + 1]);
/* Whether a service key of that name exists: HUB_OK or HUB_ERR_NOTFOUND. */
int hc_store_servicekey_exists(struct hc_store *st, const char *name);
/* Service keys by name: name, created_at, and the rooms they hook. */
int hc_store_servicekey_list(struct hc_store *st,
	int (*cb)(void *ud, const char *name, int64_t created_at, const char *hooked_rooms),
	void *ud);

/* --- change log --- */
/* Highest change sequence number (0 if none). */
int hc_store_change_seq(struct hc_store *st, int64_t *seq);
/* Lowest sequence still kept (a follower behind it must reload fully). */
int hc_store_change_min(struct hc_store *st, int64_t *seq);
/* Changes after seq, in order, at most limit. entity: "principal", "room",
 * "membership" (key "room/principal"), "session", "service". */
int hc_store_changes(struct hc_store *st, int64_t after, int limit,
	int (*cb)(void *ud, int64_t seq, const char *entity, const char *key), void *ud);

/* --- raw access (tests): the SQLite handle, NULL on PostgreSQL; modules
 * that keep their own tables use hc_db.h --- */
struct sqlite3 *hc_store_db(struct hc_store *st);
/* Run fn inside an IMMEDIATE transaction, retrying on SQLITE_BUSY. fn
 * returns HUB_OK to commit. Called inside fn (or any open transaction),
 * it runs fn in that transaction: every hc_store_* write composes into a
 * caller's one transaction (a statement that fails rolls back alone). */
int hc_store_tx(struct hc_store *st, int (*fn)(struct hc_store *st, void *ud), void *ud);

#endif
