/* SPDX-License-Identifier: MIT */
/* Store internals shared by the store's own files: the handle, and the
 * engine interface each of db_sqlite.c and db_pg.c implements. */
#ifndef HC_STORE_INTERNAL_H
#define HC_STORE_INTERNAL_H

#include "hc_db.h"
#include "hc_store.h"

#include <sqlite3.h>
#include <stdbool.h>

/* The columns of a session row in the order hc_store__read_session reads
 * them (a query may select more after them). */
#define SESSION_COLS "sid, principal, kind, created_at, expires_at, revoked_at, reason, addr"
struct hc_session;
void hc_store__read_session(struct hc_db_stmt *s, struct hc_session *o);
/* One integer from a query with at most one text argument (arg NULL: none):
 * HUB_OK, HUB_ERR_NOTFOUND when it returned no row, or the engine's error. */
int hc_store__get_int64(struct hc_store *st, const char *sql, const char *arg, int64_t *out);

extern const char *const hc_store__migrations[];
extern const int hc_store__migration_count;
extern const char *const hc_store__pg_migrations[];
extern const int hc_store__pg_migration_count;

struct hc_db_ops;

#define HC_DB_CACHE_MAX 24 /* statements kept per SQLite connection */

/* PostgreSQL: the lock_timeout of an event loop's store (hc_store_set_
 * connect_wait), ms: under db_pg.c's QUERY_WAIT_MS, so the server answers
 * "busy" before the store gives the connection up */
#define HC_PG_LOOP_LOCK_MS  2000
#define HC_PG_LOOP_LOCK_SQL "2000" /* the same, for SET lock_timeout */

struct hc_store {
	const struct hc_db_ops *ops;
	int engine; /* enum hc_db_engine */
	int mode;
	sqlite3 *db;		/* SQLite */
	void *pg;		/* PostgreSQL: PGconn */
	int64_t changes;	/* rows changed by the last hc_db_done */
	int tx_depth;		/* PostgreSQL: open transaction and savepoints */
	char err[256];		/* PostgreSQL: last error, one line */
	char where[512];	/* PostgreSQL: the conninfo (never logged) */
	int64_t reconnect_at;	/* PostgreSQL: next reconnect attempt, ms */
	int reconnect_ms;	/* PostgreSQL: the backoff, 100 ms doubling to 5 s */
	unsigned generation;	/* PostgreSQL: bumped by each reconnect */
	bool read_tx;		/* PostgreSQL: hc_db_read_begin opened one */
	int connect_wait_ms;	/* PostgreSQL: hc_store_set_connect_wait */
	bool resetting;		/* PostgreSQL: a reconnect under way (async) */
	bool dead;		/* PostgreSQL: given up (no answer in time) */
	int reset_poll;		/* PostgreSQL: what PQresetPoll last asked for */
	int64_t reset_deadline; /* PostgreSQL: that reconnect gives up, ms */
	/* SQLite: prepared statements kept for reuse, by SQL text (the
	 * history writer runs the same INSERT for every message) */
	struct hc_db_cached {
		sqlite3_stmt *s;
		bool busy; /* handed out, not finalized yet */
	} cache[HC_DB_CACHE_MAX];
	int ncache;
};

struct hc_db_stmt {
	struct hc_store *st;
	sqlite3_stmt *s; /* SQLite */
	int cached;	 /* SQLite: 1 + its index in st->cache, 0 if not kept */
	void *res;	 /* PostgreSQL: PGresult, NULL until run */
	int row, rows;	 /* PostgreSQL: current row (-1 before the first) */
	int status;	 /* PostgreSQL: HUB_OK or the mapped error */
	unsigned char *blob;
};

struct hc_db_ops {
	int (*open)(struct hc_store *st, const char *where, char *err, size_t errsz);
	void (*close)(struct hc_store *st);
	const char *(*errmsg)(struct hc_store *st);
	int (*vprep)(struct hc_store *st, struct hc_db_stmt *s, const char *sql, const char *fmt,
		va_list ap);
	int (*step)(struct hc_db_stmt *s);
	int (*done)(struct hc_db_stmt *s);
	void (*finalize)(struct hc_db_stmt *s);
	const char *(*text)(struct hc_db_stmt *s, int col);
	int64_t (*int64)(struct hc_db_stmt *s, int col);
	const void *(*blob)(struct hc_db_stmt *s, int col, size_t *len);
	int (*exec)(struct hc_store *st, const char *sql);
	int (*read_begin)(struct hc_store *st);
	void (*read_end)(struct hc_store *st);
	int (*last_id)(struct hc_store *st, int64_t *id);
	/* write transactions (hc_store_tx): in_tx tells whether one is open;
	 * begin/end open and close the outermost one, sp_* a nested part */
	bool (*in_tx)(struct hc_store *st);
	int (*tx_begin)(struct hc_store *st);
	int (*tx_end)(struct hc_store *st, bool commit);
	int (*sp_begin)(struct hc_store *st);
	void (*sp_end)(struct hc_store *st, bool keep);
	int (*listen)(struct hc_store *st, const char *channel, bool on);
	int (*notify_fd)(struct hc_store *st);
	int (*notified)(struct hc_store *st);
	int (*schema_version)(struct hc_store *st, int *version);
	int (*set_schema_version)(struct hc_store *st, int version);
	const char *const *migrations;
	const int *migration_count;
};

extern const struct hc_db_ops hc_db__sqlite_ops;
extern const struct hc_db_ops hc_db__pg_ops;

/* Copy conninfo into out with any password replaced by "***" (URI user
 * info and password=...), for messages. */
void hc_db__redact(const char *conninfo, char *out, size_t n);

#endif
