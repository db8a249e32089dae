/* SPDX-License-Identifier: MIT */
/*
 * Backups and restores of a hub (hc_backup.h): SQLite's online backup API
 * for the store, a table of files for the token key and the broker's
 * persistence file, temporary files renamed into place.
 */
#include "hc_backup.h"
#include "hc_err.h"
#include "hc_sync.h"
#include "hc_util.h"
#include "store_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK	     65536
#define COPY_RETRIES 100 /* a busy source is retried every 50 ms, 5 s in all */
#define TMP_SUFFIX   ".tmp-XXXXXX"

static int set_err(char *err, size_t n, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int set_err(char *err, size_t n, int rc, const char *fmt, ...)
{
	va_list ap;
	if (err && n) {
		va_start(ap, fmt);
		vsnprintf(err, n, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) & 0xff;
}

/* One integer from sql, or dflt when it fails or has no row. */
static int64_t q_int(sqlite3 *db, const char *sql, int64_t dflt)
{
	sqlite3_stmt *s = NULL;
	int64_t v = dflt;
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* One text from sql into out ("" when none). */
static void q_text(sqlite3 *db, const char *sql, char *out, size_t n)
{
	sqlite3_stmt *s = NULL;
	out[0] = '\0';
	if (sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK &&
		sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(out, n, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
}

static bool has_table(sqlite3 *db, const char *name)
{
	sqlite3_stmt *s = NULL;
	bool found = false;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
		    -1, &s, NULL) == SQLITE_OK &&
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) == SQLITE_OK)
		found = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return found;
}

/* The counts a person checks a backup by. */
static void count_store(sqlite3 *db, struct hc_backup_info *info)
{
	info->users = q_int(db, "SELECT count(*) FROM principals WHERE kind = 'user'", -1);
	info->devices = q_int(db, "SELECT count(*) FROM principals WHERE kind = 'device'", -1);
	info->rooms = q_int(db, "SELECT count(*) FROM rooms", -1);
	info->memberships = q_int(db, "SELECT count(*) FROM memberships", -1);
	info->sessions_live = q_int(db,
		"SELECT count(*) FROM sessions WHERE revoked_at = 0 AND expires_at > unixepoch()",
		-1);
	info->messages = q_int(db, "SELECT count(*) FROM messages", -1);
}

/* fsync the directory that holds path, so a rename in it is durable. */
static void sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if (hc_fmt(dir, sizeof(dir), "%.*s", (int)(slash - path), path))
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static int sync_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* Create path.tmp-XXXXXX (mode 0600) beside path; its name into tmp.
 * Returns the open descriptor or -1 (errno set). */
static int make_temp(const char *path, char *tmp, size_t n)
{
	if (hc_fmt(tmp, n, "%s" TMP_SUFFIX, path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return mkostemp(tmp, O_CLOEXEC);
}

/* Open a database for this module, with SQLite's defensive mode and an
 * untrusted schema (a backup is a file from elsewhere: its triggers and
 * views run no side-effecting SQL function here). The hub's own files and
 * our temporary ones are opened with SQLITE_OPEN_NOFOLLOW (HUB_FILE): they
 * sit in a directory the service account may write, and hubctl may run as
 * root; a backup FILE named by the operator may be a link. */
#define HUB_FILE SQLITE_OPEN_NOFOLLOW
static int open_db(const char *path, int flags, sqlite3 **db, char *err, size_t errsz)
{
	int rc = sqlite3_open_v2(path, db, flags, NULL);
	if (rc != SQLITE_OK) {
		set_err(err, errsz, 0, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "out of memory");
		sqlite3_close(*db);
		*db = NULL;
		return HUB_ERR_DB;
	}
	sqlite3_extended_result_codes(*db, 0);
	sqlite3_db_config(*db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	sqlite3_db_config(*db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
	return HUB_OK;
}

/* Copy every page of src into dst in one step: one read transaction on
 * src, so the copy is one consistent state even while others write (in
 * WAL mode writers go on; copying in several steps would restart on each
 * write of another connection and might never finish under load). */
static int copy_db(sqlite3 *src, sqlite3 *dst)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	int rc;
	if (!b)
		return sqlite3_errcode(dst);
	for (int i = 0; i < COPY_RETRIES; i++) {
		rc = sqlite3_backup_step(b, -1);
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		sqlite3_sleep(50);
	}
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	if (sqlite3_backup_finish(b) != SQLITE_OK && rc == SQLITE_OK)
		rc = sqlite3_errcode(dst);
	return rc;
}

/* ------------------------------------------------------------- backup */

struct file_add {
	const char *name, *path;
	int64_t max;
	bool required;	/* unreadable is an error (the key), else a note */
	bool *have;	/* out */
	int64_t *bytes; /* out, may be NULL */
	int64_t *mtime; /* out, may be NULL */
	char *note;	/* out: why it was left out */
	size_t notesz;
};

/* Add a->path's content to hub_backup_files as a->name, streamed through
 * incremental blob I/O (no copy of it in memory). A missing file is left
 * out quietly. */
static int add_file(sqlite3 *db, const struct file_add *a, char *err, size_t errsz)
{
	unsigned char *buf = NULL;
	sqlite3_blob *blob = NULL;
	sqlite3_stmt *s = NULL;
	struct stat sb;
	int64_t off = 0;
	int fd, rc = HUB_OK;

	*a->have = false;
	fd = open(a->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return HUB_OK;
	if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size > a->max) {
		char why[120];
		if (fd < 0 || !S_ISREG(sb.st_mode))
			snprintf(why, sizeof(why), "%s",
				fd < 0 ? strerror(errno) : "not a regular file");
		else
			snprintf(why, sizeof(why),
				"%lld bytes, more than the %lld a backup carries",
				(long long)sb.st_size, (long long)a->max);
		if (fd >= 0)
			close(fd);
		if (a->required)
			return set_err(err, errsz, HUB_ERR_IO, "%s: %s", a->path, why);
		if (a->note)
			snprintf(a->note, a->notesz, "%s: %s", a->path, why);
		return HUB_OK;
	}
	buf = malloc(CHUNK);
	if (!buf) {
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	if (sqlite3_prepare_v2(db,
		    "INSERT INTO hub_backup_files(name, mode, mtime, content) "
		    "VALUES(?, ?, ?, zeroblob(?))",
		    -1, &s, NULL) != SQLITE_OK ||
		sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC) != SQLITE_OK ||
		sqlite3_bind_int(s, 2, (int)(sb.st_mode & 0777)) != SQLITE_OK ||
		sqlite3_bind_int64(s, 3, (int64_t)sb.st_mtime) != SQLITE_OK ||
		sqlite3_bind_int64(s, 4, (int64_t)sb.st_size) != SQLITE_OK ||
		sqlite3_step(s) != SQLITE_DONE ||
		(sb.st_size > 0 && sqlite3_blob_open(db, "main", "hub_backup_files", "content",
					   sqlite3_last_insert_rowid(db), 1, &blob) != SQLITE_OK)) {
		rc = set_err(err, errsz, HUB_ERR_DB, "backup file: %s", sqlite3_errmsg(db));
		goto out;
	}
	while (off < (int64_t)sb.st_size) {
		size_t want =
			(size_t)((int64_t)sb.st_size - off < CHUNK ? sb.st_size - off : CHUNK);
		ssize_t got = read(fd, buf, want);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			/* the broker replaces its file by a rename, so ours does
			 * not change under us; a shorter file is an error */
			rc = set_err(err, errsz, HUB_ERR_IO, "%s: %s", a->path,
				got < 0 ? strerror(errno) : "shrank while being read");
			goto out;
		}
		if (sqlite3_blob_write(blob, buf, (int)got, (int)off) != SQLITE_OK) {
			rc = set_err(err, errsz, HUB_ERR_DB, "backup file: %s", sqlite3_errmsg(db));
			goto out;
		}
		off += got;
	}
	*a->have = true;
	if (a->bytes)
		*a->bytes = (int64_t)sb.st_size;
	if (a->mtime)
		*a->mtime = (int64_t)sb.st_mtime;
out:
	sqlite3_blob_close(blob);
	sqlite3_finalize(s);
	free(buf);
	close(fd);
	return rc;
}

static int put_meta(sqlite3 *db, const char *key, const char *text, int64_t num)
{
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(
		db, "INSERT INTO hub_backup(key, value) VALUES(?, ?)", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = text ? sqlite3_bind_text(s, 2, text, -1, SQLITE_STATIC)
			  : sqlite3_bind_int64(s, 2, num);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
	sqlite3_finalize(s);
	return rc;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int hc_backup_write(const struct hc_backup_paths *p, const char *file, bool replace,
	const char *made_by, struct hc_backup_info *info, char *err, size_t errsz)
{
	struct hc_backup_info local;
	char tmp[PATH_MAX + 16], check[64];
	sqlite3 *src = NULL, *dst = NULL;
	struct stat sb;
	bool made = false;
	int fd, rc;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (stat(p->db, &sb) != 0)
		return set_err(err, errsz, errno == ENOENT ? HUB_ERR_NOTFOUND : HUB_ERR_IO,
			"%s: %s", p->db, errno == ENOENT ? "no store here" : strerror(errno));
	if (same_file(file, p->db) || same_file(file, p->key) || same_file(file, p->broker))
		return set_err(err, errsz, HUB_ERR_INVAL,
			"%s is one of the hub's own files, not a place for a backup", file);
	if (!replace && lstat(file, &sb) == 0)
		return set_err(err, errsz, HUB_ERR_EXISTS, "%s already exists", file);
	fd = make_temp(file, tmp, sizeof(tmp));
	if (fd < 0)
		return set_err(err, errsz, HUB_ERR_IO, "cannot create a file beside %s: %s", file,
			strerror(errno));
	close(fd);
	made = true;
	/* the source: a read connection, one read transaction for all pages */
	rc = open_db(p->db, SQLITE_OPEN_READONLY | HUB_FILE, &src, err, errsz);
	if (!rc)
		rc = open_db(tmp, SQLITE_OPEN_READWRITE | HUB_FILE, &dst, err, errsz);
	if (rc)
		goto out;
	sqlite3_busy_timeout(src, 5000);
	rc = copy_db(src, dst);
	if (rc != SQLITE_OK) {
		rc = set_err(err, errsz, HUB_ERR_DB, "%s: cannot copy the store: %s", p->db,
			sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_close(src);
	src = NULL;
	/* one self-contained file (no -wal beside it), synced on commit */
	if (exec(dst, "PRAGMA journal_mode=DELETE") || exec(dst, "PRAGMA synchronous=FULL")) {
		rc = set_err(err, errsz, HUB_ERR_DB, "%s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	info->format = HC_BACKUP_FORMAT;
	info->schema = (int)q_int(dst, "PRAGMA user_version", 0);
	info->store_bytes = q_int(dst, "PRAGMA page_count", 0) * q_int(dst, "PRAGMA page_size", 0);
	info->created_at = hc_now();
	snprintf(info->made_by, sizeof(info->made_by), "%s", made_by ? made_by : "");
	count_store(dst, info);
	if (exec(dst, "BEGIN") ||
		exec(dst,
			"DROP TABLE IF EXISTS hub_backup; DROP TABLE IF EXISTS hub_backup_files;"
			"CREATE TABLE hub_backup(key TEXT PRIMARY KEY, value);"
			"CREATE TABLE hub_backup_files(name TEXT PRIMARY KEY, "
			"mode INTEGER NOT NULL, mtime INTEGER NOT NULL, content BLOB NOT NULL)") ||
		put_meta(dst, "format", NULL, HC_BACKUP_FORMAT) ||
		put_meta(dst, "created_at", NULL, info->created_at) ||
		put_meta(dst, "made_by", info->made_by, 0) ||
		put_meta(dst, "schema", NULL, info->schema)) {
		rc = set_err(err, errsz, HUB_ERR_DB, "%s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	rc = add_file(dst,
		&(struct file_add){.name = "token.key",
			.path = p->key,
			.max = HC_BACKUP_KEY_MAX,
			.required = true,
			.have = &info->has_key},
		err, errsz);
	if (!rc)
		rc = add_file(dst,
			&(struct file_add){.name = "mosquitto.db",
				.path = p->broker,
				.max = HC_BACKUP_BROKER_MAX,
				.have = &info->has_broker,
				.bytes = &info->broker_bytes,
				.mtime = &info->broker_saved_at,
				.note = info->broker_note,
				.notesz = sizeof(info->broker_note)},
			err, errsz);
	if (rc)
		goto out;
	if (exec(dst, "COMMIT")) {
		rc = set_err(err, errsz, HUB_ERR_DB, "%s: %s", tmp, sqlite3_errmsg(dst));
		goto out;
	}
	q_text(dst, "PRAGMA quick_check", check, sizeof(check));
	if (strcmp(check, "ok")) {
		rc = set_err(err, errsz, HUB_ERR_DB, "the copy fails SQLite's check: %s", check);
		goto out;
	}
	if (sqlite3_close(dst) != SQLITE_OK) {
		rc = set_err(err, errsz, HUB_ERR_DB, "%s: cannot close", tmp);
		goto out;
	}
	dst = NULL;
	if (sync_file(tmp) != 0 || rename(tmp, file) != 0) {
		rc = set_err(err, errsz, HUB_ERR_IO, "%s: %s", file, strerror(errno));
		goto out;
	}
	made = false;
	sync_parent(file);
	rc = HUB_OK;
out:
	sqlite3_close(src);
	sqlite3_close(dst);
	if (made)
		unlink(tmp);
	return rc;
}

/* ------------------------------------------------------------ inspect */

static int inspect_db(
	sqlite3 *db, const char *file, struct hc_backup_info *info, char *err, size_t errsz)
{
	char check[64];

	memset(info, 0, sizeof(*info));
	if (!has_table(db, "principals") || !has_table(db, "sessions"))
		return set_err(err, errsz, HUB_ERR_INVAL,
			"%s is not a hub backup (no hub store in it)", file);
	info->schema = (int)q_int(db, "PRAGMA user_version", 0);
	if (info->schema < 1)
		return set_err(
			err, errsz, HUB_ERR_INVAL, "%s is not a hub backup (schema 0)", file);
	if (info->schema > hc_store__migration_count)
		return set_err(err, errsz, HUB_ERR_CONFIG,
			"%s was made by a newer hub (store schema %d; this one knows %d)", file,
			info->schema, hc_store__migration_count);
	if (has_table(db, "hub_backup")) {
		info->format =
			(int)q_int(db, "SELECT value FROM hub_backup WHERE key = 'format'", 0);
		if (info->format < 1 || info->format > HC_BACKUP_FORMAT)
			return set_err(err, errsz, HUB_ERR_CONFIG,
				"%s has backup format %d; this hub reads 1 to %d", file,
				info->format, HC_BACKUP_FORMAT);
		info->created_at =
			q_int(db, "SELECT value FROM hub_backup WHERE key = 'created_at'", 0);
		q_text(db, "SELECT value FROM hub_backup WHERE key = 'made_by'", info->made_by,
			sizeof(info->made_by));
	}
	if (info->format && has_table(db, "hub_backup_files")) {
		info->has_key = q_int(db,
					"SELECT count(*) FROM hub_backup_files WHERE name = "
					"'token.key'",
					0) > 0;
		info->broker_bytes = q_int(db,
			"SELECT length(content) FROM hub_backup_files WHERE name = 'mosquitto.db'",
			-1);
		info->has_broker = info->broker_bytes >= 0;
		if (!info->has_broker)
			info->broker_bytes = 0;
		info->broker_saved_at = q_int(
			db, "SELECT mtime FROM hub_backup_files WHERE name = 'mosquitto.db'", 0);
	}
	q_text(db, "PRAGMA quick_check", check, sizeof(check));
	if (strcmp(check, "ok"))
		return set_err(err, errsz, HUB_ERR_INVAL, "%s is damaged: %s", file,
			check[0] ? check : sqlite3_errmsg(db));
	count_store(db, info);
	info->store_bytes = q_int(db, "PRAGMA page_count", 0) * q_int(db, "PRAGMA page_size", 0) -
			    info->broker_bytes;
	return HUB_OK;
}

int hc_backup_inspect(const char *file, struct hc_backup_info *info, char *err, size_t errsz)
{
	struct hc_backup_info local;
	sqlite3 *db = NULL;
	struct stat sb;
	int rc;

	if (!info)
		info = &local;
	memset(info, 0, sizeof(*info));
	if (stat(file, &sb) != 0)
		return set_err(err, errsz, HUB_ERR_IO, "%s: %s", file, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return set_err(err, errsz, HUB_ERR_INVAL, "%s is not a regular file", file);
	rc = open_db(file, SQLITE_OPEN_READONLY, &db, err, errsz);
	if (!rc)
		rc = inspect_db(db, file, info, err, errsz);
	sqlite3_close(db);
	return rc;
}

/* ------------------------------------------------------------ restore */

/* Open the store and take its exclusive lock, kept until closed: fails
 * (HUB_ERR_BUSY) while any other connection has it open, since in WAL
 * mode every open connection holds a shared lock on the file. */
static int lock_store(const char *path, sqlite3 **db, char *err, size_t errsz)
{
	int rc = open_db(path, SQLITE_OPEN_READWRITE | HUB_FILE, db, err, errsz);
	if (rc)
		return rc;
	sqlite3_busy_timeout(*db, 0);
	if (exec(*db, "PRAGMA locking_mode=EXCLUSIVE") == SQLITE_OK &&
		(rc = exec(*db, "BEGIN EXCLUSIVE")) == SQLITE_OK &&
		exec(*db, "COMMIT") == SQLITE_OK)
		return HUB_OK;
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		rc = set_err(err, errsz, HUB_ERR_BUSY,
			"%s is open in another process (hubd, the broker, the gateway or a "
			"hubctl): stop the stack first",
			path);
	else if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT)
		rc = set_err(
			err, errsz, HUB_ERR_INVAL, "%s is damaged: %s", path, sqlite3_errmsg(*db));
	else
		rc = set_err(err, errsz, HUB_ERR_DB, "%s: %s", path, sqlite3_errmsg(*db));
	sqlite3_close(*db);
	*db = NULL;
	return rc;
}

int hc_backup_check_stopped(const struct hc_backup_paths *p, char *err, size_t errsz)
{
	char who[300];
	sqlite3 *db = NULL;
	struct stat sb;
	int live = hc_sync_live(p->sync_dir, who, sizeof(who));
	int rc;

	if (live < 0)
		return set_err(err, errsz, HUB_ERR_IO, "%s: %s", p->sync_dir, strerror(errno));
	if (live > 0)
		return set_err(err, errsz, HUB_ERR_BUSY,
			"the %s is running (it answers on %s): stop the stack first", who,
			p->sync_dir);
	if (stat(p->db, &sb) != 0)
		return HUB_OK;
	rc = lock_store(p->db, &db, err, errsz);
	sqlite3_close(db);
	/* a damaged store takes no lock to tell by; it is what a restore is
	 * for (the restore moves it aside) */
	return rc == HUB_ERR_INVAL ? HUB_OK : rc;
}

/* Write the blob `name` of the backup into a new temporary file beside
 * dest (mode 0600), whose name goes into tmp. *have false: no such blob. */
static int extract(sqlite3 *db, const char *name, int64_t max, const char *dest, char *tmp,
	size_t tmpsz, bool *have, char *err, size_t errsz)
{
	sqlite3_stmt *s = NULL;
	sqlite3_blob *blob = NULL;
	unsigned char *buf = NULL;
	int64_t rowid = 0, size = 0;
	int fd = -1, rc = HUB_OK;

	*have = false;
	tmp[0] = '\0';
	if (!has_table(db, "hub_backup_files"))
		return HUB_OK;
	if (sqlite3_prepare_v2(db,
		    "SELECT rowid, length(content) FROM hub_backup_files WHERE name = ?", -1, &s,
		    NULL) != SQLITE_OK ||
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC) != SQLITE_OK) {
		sqlite3_finalize(s);
		return set_err(err, errsz, HUB_ERR_DB, "backup: %s", sqlite3_errmsg(db));
	}
	if (sqlite3_step(s) == SQLITE_ROW) {
		rowid = sqlite3_column_int64(s, 0);
		size = sqlite3_column_int64(s, 1);
		*have = true;
	}
	sqlite3_finalize(s);
	if (!*have)
		return HUB_OK;
	if (size > max)
		return set_err(err, errsz, HUB_ERR_TOOBIG,
			"backup: %s is %lld bytes, more than %lld", name, (long long)size,
			(long long)max);
	fd = make_temp(dest, tmp, tmpsz);
	if (fd < 0) {
		rc = set_err(err, errsz, HUB_ERR_IO, "cannot create a file beside %s: %s", dest,
			strerror(errno));
		tmp[0] = '\0';
		return rc;
	}
	buf = malloc(CHUNK);
	if (!buf) {
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	if (size > 0 && sqlite3_blob_open(db, "main", "hub_backup_files", "content", rowid, 0,
				&blob) != SQLITE_OK) {
		rc = set_err(err, errsz, HUB_ERR_DB, "backup: %s", sqlite3_errmsg(db));
		goto out;
	}
	for (int64_t off = 0; off < size;) {
		int n = (int)(size - off < CHUNK ? size - off : CHUNK);
		ssize_t w;
		if (sqlite3_blob_read(blob, buf, n, (int)off) != SQLITE_OK) {
			rc = set_err(err, errsz, HUB_ERR_DB, "backup: %s", sqlite3_errmsg(db));
			goto out;
		}
		for (int done = 0; done < n; done += (int)w) {
			w = write(fd, buf + done, (size_t)(n - done));
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0) {
				rc = set_err(
					err, errsz, HUB_ERR_IO, "%s: %s", tmp, strerror(errno));
				goto out;
			}
		}
		off += n;
	}
	if (fsync(fd) != 0)
		rc = set_err(err, errsz, HUB_ERR_IO, "%s: %s", tmp, strerror(errno));
out:
	sqlite3_blob_close(blob);
	free(buf);
	close(fd);
	if (rc) {
		unlink(tmp);
		tmp[0] = '\0';
	}
	return rc;
}

/* The store as it will be: the backup copied into tmp, without the backup
 * tables, its live sessions ended unless kept, compacted, in rollback
 * journal mode for the copy into place. */
static int prepare_store(sqlite3 *src, const char *tmp, unsigned flags, struct hc_backup_info *info,
	sqlite3 **out, char *err, size_t errsz)
{
	sqlite3 *db = NULL;
	int rc = open_db(tmp, SQLITE_OPEN_READWRITE | HUB_FILE, &db, err, errsz);
	if (rc)
		return rc;
	rc = copy_db(src, db);
	if (rc != SQLITE_OK) {
		set_err(err, errsz, 0, "%s: cannot copy the backup: %s", tmp, sqlite3_errstr(rc));
		sqlite3_close(db);
		return HUB_ERR_DB;
	}
	if (exec(db, "PRAGMA journal_mode=DELETE") || exec(db, "PRAGMA synchronous=FULL") ||
		exec(db,
			"DROP TABLE IF EXISTS hub_backup; DROP TABLE IF EXISTS hub_backup_files")) {
		set_err(err, errsz, 0, "%s: %s", tmp, sqlite3_errmsg(db));
		sqlite3_close(db);
		return HUB_ERR_DB;
	}
	if (!(flags & HC_RESTORE_KEEP_SESSIONS)) {
		/* a session logged out or revoked after the backup was taken is
		 * live in it: bringing it back would reopen a door someone
		 * closed, so every session of the backup ends */
		if (exec(db, "UPDATE sessions SET revoked_at = unixepoch(), reason = 'restored' "
			     "WHERE revoked_at = 0 AND expires_at > unixepoch()")) {
			set_err(err, errsz, 0, "%s: %s", tmp, sqlite3_errmsg(db));
			sqlite3_close(db);
			return HUB_ERR_DB;
		}
		info->sessions_ended = sqlite3_changes(db);
	}
	if (exec(db, "VACUUM")) {
		set_err(err, errsz, 0, "%s: %s", tmp, sqlite3_errmsg(db));
		sqlite3_close(db);
		return HUB_ERR_DB;
	}
	*out = db;
	return HUB_OK;
}

/* Move a damaged store (and its -wal and -shm) aside, to path.damaged-<unix
 * time>, named in aside: kept for whoever wants to look into it. */
static int set_aside(const char *path, char *aside, size_t n, char *err, size_t errsz)
{
	char from[PATH_MAX + 8], to[PATH_MAX + 40];
	if (hc_fmt(aside, n, "%s.damaged-%lld", path, (long long)hc_now()))
		return set_err(err, errsz, HUB_ERR_TOOBIG, "%s: path too long", path);
	for (int i = 0; i < 3; i++) {
		const char *suffix = i == 0 ? "" : i == 1 ? "-wal" : "-shm";
		if (hc_fmt(from, sizeof(from), "%s%s", path, suffix) ||
			hc_fmt(to, sizeof(to), "%s%s", aside, suffix))
			return set_err(err, errsz, HUB_ERR_TOOBIG, "%s: path too long", path);
		if (rename(from, to) != 0 && errno != ENOENT)
			return set_err(err, errsz, HUB_ERR_IO, "%s: %s", from, strerror(errno));
	}
	sync_parent(path);
	return HUB_OK;
}

/* Put the prepared store in place. A store already there is overwritten
 * page by page in one transaction of its own (rollback journal), under
 * its exclusive lock, then put back in WAL mode: old or new, never a mix,
 * and nobody can open it meanwhile. With no store (or a damaged one,
 * first moved aside), the prepared file is to be renamed into place
 * (*rename_it), after removing a stale -wal or -shm, which SQLite would
 * otherwise apply to it. */
static int install_store(sqlite3 *prepared, const char *tmp, const char *path,
	struct hc_backup_info *info, bool *rename_it, char *err, size_t errsz)
{
	char side[PATH_MAX + 8];
	sqlite3 *live = NULL;
	struct stat sb;
	int rc;

	*rename_it = false;
	if (stat(path, &sb) == 0) {
		rc = lock_store(path, &live, err, errsz);
		if (rc == HUB_ERR_INVAL)
			rc = set_aside(path, info->set_aside, sizeof(info->set_aside), err, errsz);
		else if (!rc) {
			if (exec(live, "PRAGMA journal_mode=DELETE") ||
				exec(live, "PRAGMA synchronous=FULL")) {
				set_err(err, errsz, 0, "%s: %s", path, sqlite3_errmsg(live));
				sqlite3_close(live);
				return HUB_ERR_DB;
			}
			rc = copy_db(prepared, live);
			if (rc != SQLITE_OK) {
				set_err(err, errsz, 0, "%s: cannot write the store: %s", path,
					sqlite3_errstr(rc));
				sqlite3_close(live);
				return HUB_ERR_DB;
			}
			/* a failure here leaves the restored store in rollback
			 * mode, which the services' first open sets back to WAL */
			exec(live, "PRAGMA journal_mode=WAL");
			if (sqlite3_close(live) != SQLITE_OK)
				return set_err(err, errsz, HUB_ERR_DB, "%s: cannot close", path);
			return HUB_OK;
		}
		if (rc)
			return rc;
	}
	if (exec(prepared, "PRAGMA journal_mode=WAL"))
		return set_err(err, errsz, HUB_ERR_DB, "%s: %s", tmp, sqlite3_errmsg(prepared));
	for (int i = 0; i < 2; i++) {
		if (hc_fmt(side, sizeof(side), "%s%s", path, i ? "-shm" : "-wal") == HUB_OK &&
			unlink(side) != 0 && errno != ENOENT)
			return set_err(err, errsz, HUB_ERR_IO, "%s: %s", side, strerror(errno));
	}
	*rename_it = true; /* once the connection is closed */
	return HUB_OK;
}

/* Remove what an interrupted restore (or backup into data_dir) left
 * beside path: path.tmp-XXXXXX and its SQLite journal. Only with the hub
 * stopped, when nobody else writes such files. */
static void remove_stale_temps(const char *path)
{
	char dir[PATH_MAX], prefix[NAME_MAX + 8];
	const char *slash = strrchr(path, '/');
	struct dirent *de;
	DIR *d;

	if (!slash || hc_fmt(dir, sizeof(dir), "%.*s", (int)(slash - path + 1), path) ||
		hc_fmt(prefix, sizeof(prefix), "%s.tmp-", slash + 1))
		return;
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d)) != NULL)
		if (!strncmp(de->d_name, prefix, strlen(prefix)))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
}

static int put_in_place(const char *tmp, const char *dest, char *err, size_t errsz)
{
	if (rename(tmp, dest) != 0)
		return set_err(err, errsz, HUB_ERR_IO, "%s: %s", dest, strerror(errno));
	sync_parent(dest);
	return HUB_OK;
}

int hc_backup_restore(const struct hc_backup_paths *p, const char *file, unsigned flags,
	struct hc_backup_info *info, char *err, size_t errsz)
{
	struct hc_backup_info local;
	char tmp[PATH_MAX + 16], key_tmp[PATH_MAX + 16], broker_tmp[PATH_MAX + 16];
	sqlite3 *src = NULL, *prepared = NULL;
	bool have_key = false, have_broker = false, rename_it = false;
	int fd, rc;

	if (!info)
		info = &local;
	tmp[0] = key_tmp[0] = broker_tmp[0] = '\0';
	if (same_file(file, p->db))
		return set_err(err, errsz, HUB_ERR_INVAL, "%s is the store itself", file);
	rc = hc_backup_inspect(file, info, err, errsz);
	if (!rc)
		rc = hc_backup_check_stopped(p, err, errsz);
	if (rc)
		return rc;
	remove_stale_temps(p->db);
	remove_stale_temps(p->key);
	remove_stale_temps(p->broker);
	fd = make_temp(p->db, tmp, sizeof(tmp));
	if (fd < 0)
		return set_err(err, errsz, HUB_ERR_IO, "cannot create a file beside %s: %s", p->db,
			strerror(errno));
	close(fd);
	rc = open_db(file, SQLITE_OPEN_READONLY, &src, err, errsz);
	if (!rc)
		rc = prepare_store(src, tmp, flags, info, &prepared, err, errsz);
	if (!rc)
		rc = extract(src, "token.key", HC_BACKUP_KEY_MAX, p->key, key_tmp, sizeof(key_tmp),
			&have_key, err, errsz);
	if (!rc)
		rc = extract(src, "mosquitto.db", HC_BACKUP_BROKER_MAX, p->broker, broker_tmp,
			sizeof(broker_tmp), &have_broker, err, errsz);
	sqlite3_close(src);
	src = NULL;
	if (!rc)
		rc = install_store(prepared, tmp, p->db, info, &rename_it, err, errsz);
	if (!rc && sqlite3_close(prepared) != SQLITE_OK)
		rc = set_err(err, errsz, HUB_ERR_DB, "%s: cannot close", tmp);
	else if (rc)
		sqlite3_close(prepared);
	prepared = NULL;
	if (!rc && rename_it) {
		rc = sync_file(tmp)
			     ? set_err(err, errsz, HUB_ERR_IO, "%s: %s", tmp, strerror(errno))
			     : put_in_place(tmp, p->db, err, errsz);
		if (!rc)
			tmp[0] = '\0';
	}
	/* the store is in place: the key and the broker state follow */
	if (!rc && have_key && !(rc = put_in_place(key_tmp, p->key, err, errsz)))
		key_tmp[0] = '\0';
	if (!rc && have_broker && !(rc = put_in_place(broker_tmp, p->broker, err, errsz)))
		broker_tmp[0] = '\0';
	info->has_key = have_key;
	info->has_broker = have_broker;
	if (tmp[0])
		unlink(tmp);
	if (key_tmp[0])
		unlink(key_tmp);
	if (broker_tmp[0])
		unlink(broker_tmp);
	return rc;
}
