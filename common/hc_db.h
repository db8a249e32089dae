/* SPDX-License-Identifier: MIT */
/*
 * The store's SQL seam: one small statement interface with two engines,
 * SQLite (the embedded default, one file in data_dir) and PostgreSQL
 * (libpq, chosen by the `store` setting). Every module that keeps tables
 * in the store (the store itself, the directory loader, the follower,
 * history, webhooks, app sessions) talks SQL through this, never through
 * sqlite3_* or PQ* directly.
 *
 * SQL is written once with SQLite's placeholders: `?` (the next argument)
 * and `?N` (argument N). The PostgreSQL engine rewrites them to `$N` and
 * binds each argument with the type its format letter gives. Where the
 * dialects differ, the caller picks with hc_db_sql(st, sqlite, postgresql).
 * The PostgreSQL schema defines unixepoch() so both engines share it.
 *
 * A statement runs when prepared (PostgreSQL) or on its first step
 * (SQLite); the caller steps through rows, reads columns (borrowed until
 * the next step or finalize), and finalizes. Used by one thread at a time,
 * like its struct hc_store.
 */
#ifndef HC_DB_H
#define HC_DB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_store.h"

enum hc_db_engine { HC_DB_SQLITE = 1, HC_DB_POSTGRESQL = 2 };

/* hc_db_step results besides a HUB_ERR_* code */
enum { HC_DB_ROW = 100, HC_DB_DONE = 101 };

struct hc_db_stmt;

/* Which engine st runs on. */
int hc_db_engine(const struct hc_store *st);
/* Whether a `store` value selects PostgreSQL (a postgresql:// or
 * postgres:// URI, or a key=value conninfo). */
int hc_db_is_postgresql(const char *where);
/* Pick the SQL text for st's engine. */
const char *hc_db_sql(const struct hc_store *st, const char *sqlite, const char *postgresql);

/*
 * Prepare (and on PostgreSQL run) sql with arguments described by fmt:
 * 's' text (NULL binds NULL), 'i' int64_t, 'd' int, 'b' blob (const void *,
 * size_t). *out is owned by the caller (hc_db_finalize), NULL on failure.
 */
int hc_db_prep(struct hc_store *st, struct hc_db_stmt **out, const char *sql, const char *fmt, ...);
int hc_db_vprep(
	struct hc_store *st, struct hc_db_stmt **out, const char *sql, const char *fmt, va_list ap);
/* HC_DB_ROW (a row is current), HC_DB_DONE, or HUB_ERR_BUSY / HUB_ERR_DB /
 * HUB_ERR_EXISTS / HUB_ERR_NOTFOUND / HUB_ERR_INVAL (constraints). */
int hc_db_step(struct hc_db_stmt *s);
/* Step a statement that returns no rows (or ignore them), map constraint
 * errors (HUB_ERR_EXISTS unique, HUB_ERR_NOTFOUND foreign key,
 * HUB_ERR_INVAL check) and finalize it. hc_db_changes then tells how many
 * rows it changed. */
int hc_db_done(struct hc_db_stmt *s);
void hc_db_finalize(struct hc_db_stmt *s);
/* Columns of the current row. text is NULL for SQL NULL; borrowed. */
const char *hc_db_text(struct hc_db_stmt *s, int col);
int64_t hc_db_int64(struct hc_db_stmt *s, int col);
int hc_db_int(struct hc_db_stmt *s, int col);
/* A blob column: pointer (borrowed, may be NULL when empty) and length. */
const void *hc_db_blob(struct hc_db_stmt *s, int col, size_t *len);
/* Copy a text column into out (bounded; "" for NULL). */
void hc_db_col(struct hc_db_stmt *s, int col, char *out, size_t n);
/* Rows changed by the last hc_db_done on st. */
int64_t hc_db_changes(struct hc_store *st);
/* Run SQL without arguments or rows (several statements allowed). */
int hc_db_exec(struct hc_store *st, const char *sql);
/* A read-only snapshot across several statements (the directory load, a
 * follower's poll): hc_db_read_begin / hc_db_read_end. */
int hc_db_read_begin(struct hc_store *st);
void hc_db_read_end(struct hc_store *st);
/* The id of the last row inserted into a table with a generated id
 * (SQLite rowid; PostgreSQL lastval()). */
int hc_db_last_id(struct hc_store *st, int64_t *id);

/*
 * Notifications (PostgreSQL LISTEN/NOTIFY; on SQLite these do nothing and
 * hc_db_notify_fd is -1). hc_db_listen subscribes st's connection to
 * channel (again after a reconnect: see hc_db_generation).
 * hc_db_notify_fd is the descriptor to poll for input; hc_db_notified
 * reads what arrived and returns how many notifications (0 if none), or
 * -1 when the connection is lost.
 */
int hc_db_listen(struct hc_store *st, const char *channel);
int hc_db_unlisten(struct hc_store *st, const char *channel);
int hc_db_notify_fd(struct hc_store *st);
int hc_db_notified(struct hc_store *st);
/* Bumped each time the engine re-opened a lost connection (PostgreSQL):
 * whoever listens must listen again. */
unsigned hc_db_generation(const struct hc_store *st);

#endif
