/* SPDX-License-Identifier: MIT */
/*
 * Backups of a hub: the store, the token key and the broker's saved state
 * in one SQLite file, and their restore (hubctl backup / hubctl restore).
 *
 * A backup file is a copy of the store, made with SQLite's online backup
 * API from one read transaction (consistent; writers go on meanwhile),
 * plus two tables of its own: hub_backup (key/value: format, created_at,
 * made_by, schema) and hub_backup_files (name, mode, mtime, content): the
 * token key ("token.key") and the broker's persistence file
 * ("mosquitto.db", as of the broker's last save) when they exist. It is
 * written beside its final name and renamed once complete, mode 0600: it
 * holds the token key and the password hashes. A plain copy of hub.db
 * (no hub_backup tables) restores too, as a store alone.
 *
 * Restoring needs a stopped stack: a live sync socket (the broker, the
 * gateway) or any other connection to the store (hubd, another hubctl)
 * makes it refuse. The store is replaced in one SQLite transaction while
 * the restore holds the store's exclusive lock (or, with no store yet, by
 * a rename), so it is the old one or the new one, never a mix; the key and
 * the broker state are each written beside their place and renamed. A
 * damaged store (SQLite: not a database, or corrupt) is moved aside to
 * hub.db.damaged-<unix time> and the backup renamed into place.
 *
 * Blocking file and SQLite work: for hubctl, never for a service loop.
 */
#ifndef HC_BACKUP_H
#define HC_BACKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HC_BACKUP_FORMAT 1
/* Largest broker persistence file carried in a backup, bytes (SQLite's
 * default limit on one value is 1e9). A bigger one is left out and said. */
#define HC_BACKUP_BROKER_MAX ((int64_t)900 * 1000 * 1000)
#define HC_BACKUP_KEY_MAX    4096

/* Where a hub keeps what a backup holds. Paths are borrowed. */
struct hc_backup_paths {
	const char *db;	      /* the store: data_dir/hub.db */
	const char *key;      /* the token key file */
	const char *broker;   /* the broker's persistence file: data_dir/mosquitto.db */
	const char *sync_dir; /* data_dir/sync: the live followers (hc_sync.h) */
};

/* What a backup holds (filled by write, inspect and restore). */
struct hc_backup_info {
	int format;	    /* HC_BACKUP_FORMAT, 0 for a plain store copy */
	int schema;	    /* the store's schema version */
	int64_t created_at; /* unix s; 0 for a plain copy */
	char made_by[48];
	int64_t store_bytes;
	int64_t users, devices, rooms, memberships, sessions_live, messages;
	bool has_key;
	bool has_broker;
	int64_t broker_bytes;
	int64_t broker_saved_at; /* the broker file's mtime, unix s */
	/* write: the broker file was there but left out (too big, unreadable):
	 * why, for the operator */
	char broker_note[160];
	/* restore: sessions ended because they were live in the backup */
	int64_t sessions_ended;
	/* restore: where a damaged store (not a database) was moved, or "" */
	char set_aside[512];
};

enum hc_restore_flags {
	HC_RESTORE_KEEP_SESSIONS = 1, /* keep the backup's live sessions */
};

/*
 * Write a backup of the hub at p to file. made_by (e.g. "hubctl 0.1.0") is
 * recorded. An existing file is an error (HUB_ERR_EXISTS) unless replace.
 * The file is complete or absent (temporary file, fsync, rename). info may
 * be NULL. HUB_ERR_NOTFOUND: no store at p->db. err gets one line.
 */
int hc_backup_write(const struct hc_backup_paths *p, const char *file, bool replace,
	const char *made_by, struct hc_backup_info *info, char *err, size_t errsz);

/* Open a backup read-only and check it: a hub store (plain or with the
 * backup tables), a schema this build knows, SQLite's quick_check. Fills
 * info. HUB_ERR_INVAL (not a backup, damaged), HUB_ERR_CONFIG (made by a
 * newer hub), HUB_ERR_IO. */
int hc_backup_inspect(const char *file, struct hc_backup_info *info, char *err, size_t errsz);

/*
 * Whether the hub at p runs: HUB_ERR_BUSY when a follower answers on a
 * sync socket or another connection holds the store (err names what);
 * HUB_OK when nothing runs. Stale sync sockets are removed.
 */
int hc_backup_check_stopped(const struct hc_backup_paths *p, char *err, size_t errsz);

/*
 * Restore file over the hub at p (whose directories must exist). Checks
 * the backup (hc_backup_inspect) and that the hub is stopped
 * (HUB_ERR_BUSY), then replaces the store, then the key and the broker
 * state when the backup has them (a hub's own are kept otherwise). Unless
 * HC_RESTORE_KEEP_SESSIONS, the sessions live in the backup are ended
 * (reason "restored"). Files are created with mode 0600 by the calling
 * user. info may be NULL.
 */
int hc_backup_restore(const struct hc_backup_paths *p, const char *file, unsigned flags,
	struct hc_backup_info *info, char *err, size_t errsz);

#endif
