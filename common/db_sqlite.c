/* SPDX-License-Identifier: MIT */
/*
 * The store's SQLite engine: one file (WAL) shared by hubd, hubctl,
 * hub-bridge and the broker plugin; writes are IMMEDIATE transactions so
 * writers queue up on the file lock; PRAGMA user_version is the schema.
 */
#include "hc_err.h"
#include "store_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BUSY_TIMEOUT_MS 5000
#define WAL_ATTEMPTS	5

static int exec_simple(struct hc_store *st, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg) & 0xff;
	sqlite3_free(msg);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return HUB_ERR_BUSY;
	return rc == SQLITE_OK ? HUB_OK : HUB_ERR_DB;
}

static int sl_open(struct hc_store *st, const char *path, char *err, size_t errsz)
{
	int flags, rc;

	flags = SQLITE_OPEN_NOMUTEX |
		(st->mode == HC_STORE_RO ? SQLITE_OPEN_READONLY
					 : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	if (st->mode != HC_STORE_RO) {
		/* a new store is private (password and session hashes); SQLite
		 * gives its -wal and -shm files the same mode */
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	rc = sqlite3_open_v2(path, &st->db, flags, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errsz, "%s: cannot open store: %s", path,
			st->db ? sqlite3_errmsg(st->db) : "out of memory");
		return HUB_ERR_DB;
	}
	sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(st->db, 1);
	if (st->mode == HC_STORE_RW) {
		/* journal_mode=WAL is persistent in the file; setting it needs a
		 * moment of exclusive access, retried like any write */
		for (int i = 0; i < WAL_ATTEMPTS; i++) {
			rc = exec_simple(st, "PRAGMA journal_mode=WAL");
			if (rc != HUB_ERR_BUSY)
				break;
			usleep(50000);
		}
		if (rc) {
			snprintf(err, errsz, "%s: cannot enable WAL: %s", path,
				sqlite3_errmsg(st->db));
			return rc;
		}
		exec_simple(st, "PRAGMA synchronous=NORMAL");
	}
	if (exec_simple(st, "PRAGMA foreign_keys=ON")) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(st->db));
		return HUB_ERR_DB;
	}
	return HUB_OK;
}

static void sl_close(struct hc_store *st)
{
	for (int i = 0; i < st->ncache; i++)
		sqlite3_finalize(st->cache[i].s);
	st->ncache = 0;
	sqlite3_close_v2(st->db);
	st->db = NULL;
}

static const char *sl_errmsg(struct hc_store *st)
{
	return st->db ? sqlite3_errmsg(st->db) : "no store";
}

static int sl_vprep(
	struct hc_store *st, struct hc_db_stmt *st_, const char *sql, const char *fmt, va_list ap)
{
	sqlite3_stmt *s = NULL;
	int rc = SQLITE_OK, c;

	/* a statement of the same text that nobody holds is reused (compared
	 * by text: SQL may be built in a buffer); else prepared, and kept
	 * while there is room */
	for (c = 0; c < st->ncache; c++)
		if (!st->cache[c].busy && strcmp(sqlite3_sql(st->cache[c].s), sql) == 0)
			break;
	if (c < st->ncache) {
		s = st->cache[c].s;
	} else {
		bool keep = st->ncache < HC_DB_CACHE_MAX;
		rc = sqlite3_prepare_v3(
			st->db, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &s, NULL);
		if (rc != SQLITE_OK)
			return (rc & 0xff) == SQLITE_NOMEM    ? HUB_ERR_NOMEM
			       : ((rc & 0xff) == SQLITE_BUSY) ? HUB_ERR_BUSY
							      : HUB_ERR_DB;
		if (keep && s) {
			c = st->ncache++;
			st->cache[c].s = s;
		}
	}
	if (s && c < st->ncache) {
		st->cache[c].busy = true;
		st_->cached = c + 1;
	}
	st_->s = s;
	for (int i = 0, k = 1; fmt && fmt[i]; i++, k++) {
		switch (fmt[i]) {
		case 's': {
			const char *v = va_arg(ap, const char *);
			rc = v ? sqlite3_bind_text(s, k, v, -1, SQLITE_TRANSIENT)
			       : sqlite3_bind_null(s, k);
			break;
		}
		case 'i':
			rc = sqlite3_bind_int64(s, k, va_arg(ap, int64_t));
			break;
		case 'd':
			rc = sqlite3_bind_int(s, k, va_arg(ap, int));
			break;
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t n = va_arg(ap, size_t);
			rc = sqlite3_bind_blob64(s, k, p ? p : "", n, SQLITE_TRANSIENT);
			break;
		}
		default:
			rc = SQLITE_MISUSE;
		}
		if (rc != SQLITE_OK)
			return HUB_ERR_DB;
	}
	return HUB_OK;
}

static int map_err(struct hc_db_stmt *s, int rc)
{
	int ext = sqlite3_extended_errcode(sqlite3_db_handle(s->s));
	if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
		return HUB_ERR_EXISTS;
	if (ext == SQLITE_CONSTRAINT_FOREIGNKEY)
		return HUB_ERR_NOTFOUND;
	if (rc == SQLITE_CONSTRAINT)
		return HUB_ERR_INVAL;
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return HUB_ERR_BUSY;
	if (rc == SQLITE_NOMEM)
		return HUB_ERR_NOMEM;
	return HUB_ERR_DB;
}

static int sl_step(struct hc_db_stmt *s)
{
	int rc = sqlite3_step(s->s) & 0xff; /* extended codes are on */
	if (rc == SQLITE_ROW)
		return HC_DB_ROW;
	if (rc == SQLITE_DONE)
		return HC_DB_DONE;
	return map_err(s, rc);
}

static int sl_done(struct hc_db_stmt *s)
{
	int rc = sl_step(s);
	if (rc == HC_DB_ROW || rc == HC_DB_DONE) {
		s->st->changes = sqlite3_changes(s->st->db);
		return HUB_OK;
	}
	return rc;
}

static void sl_finalize(struct hc_db_stmt *s)
{
	if (s->cached) {
		/* back to the cache, without its read lock or its arguments */
		sqlite3_reset(s->s);
		sqlite3_clear_bindings(s->s);
		s->st->cache[s->cached - 1].busy = false;
		s->cached = 0;
	} else {
		sqlite3_finalize(s->s);
	}
	s->s = NULL;
}

static const char *sl_text(struct hc_db_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s->s, col);
}

static int64_t sl_int64(struct hc_db_stmt *s, int col)
{
	return sqlite3_column_int64(s->s, col);
}

static const void *sl_blob(struct hc_db_stmt *s, int col, size_t *len)
{
	const void *p = sqlite3_column_blob(s->s, col);
	*len = (size_t)sqlite3_column_bytes(s->s, col);
	return p;
}

static int sl_read_begin(struct hc_store *st)
{
	return exec_simple(st, "BEGIN");
}

static void sl_read_end(struct hc_store *st)
{
	exec_simple(st, "COMMIT");
}

static int sl_last_id(struct hc_store *st, int64_t *id)
{
	*id = sqlite3_last_insert_rowid(st->db);
	return HUB_OK;
}

static bool sl_in_tx(struct hc_store *st)
{
	return !sqlite3_get_autocommit(st->db);
}

static int sl_tx_begin(struct hc_store *st)
{
	return exec_simple(st, "BEGIN IMMEDIATE");
}

static int sl_tx_end(struct hc_store *st, bool commit)
{
	if (commit)
		return exec_simple(st, "COMMIT");
	/* SQLite has already rolled back after some errors (a full disk, an
	 * I/O error): a ROLLBACK would then fail and its "no transaction is
	 * active" would replace the real message */
	if (!sqlite3_get_autocommit(st->db))
		exec_simple(st, "ROLLBACK");
	return HUB_OK;
}

/* SQLite: a statement that fails inside a transaction rolls back alone,
 * so a nested part needs nothing more */
static int sl_sp_begin(struct hc_store *st)
{
	(void)st;
	return HUB_OK;
}

static void sl_sp_end(struct hc_store *st, bool keep)
{
	(void)st;
	(void)keep;
}

static int sl_listen(struct hc_store *st, const char *channel, bool on)
{
	(void)st;
	(void)channel;
	(void)on;
	return HUB_OK;
}

static int sl_notify_fd(struct hc_store *st)
{
	(void)st;
	return -1;
}

static int sl_notified(struct hc_store *st)
{
	(void)st;
	return 0;
}

static int sl_schema_version(struct hc_store *st, int *version)
{
	sqlite3_stmt *s;
	int rc;
	*version = 0;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	rc = sqlite3_step(s) & 0xff;
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? HUB_OK : rc == SQLITE_BUSY ? HUB_ERR_BUSY : HUB_ERR_DB;
}

static int sl_set_schema_version(struct hc_store *st, int version)
{
	char pragma[48];
	snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", version);
	return exec_simple(st, pragma);
}

const struct hc_db_ops hc_db__sqlite_ops = {
	.open = sl_open,
	.close = sl_close,
	.errmsg = sl_errmsg,
	.vprep = sl_vprep,
	.step = sl_step,
	.done = sl_done,
	.finalize = sl_finalize,
	.text = sl_text,
	.int64 = sl_int64,
	.blob = sl_blob,
	.exec = exec_simple,
	.read_begin = sl_read_begin,
	.read_end = sl_read_end,
	.last_id = sl_last_id,
	.in_tx = sl_in_tx,
	.tx_begin = sl_tx_begin,
	.tx_end = sl_tx_end,
	.sp_begin = sl_sp_begin,
	.sp_end = sl_sp_end,
	.listen = sl_listen,
	.notify_fd = sl_notify_fd,
	.notified = sl_notified,
	.schema_version = sl_schema_version,
	.set_schema_version = sl_set_schema_version,
	.migrations = hc_store__migrations,
	.migration_count = &hc_store__migration_count,
};
