/* SPDX-License-Identifier: MIT */
/*
 * Following the store: a worker thread with its own read-only connection
 * watches the change log (PRAGMA data_version every refresh_ms, then the
 * new change_log rows), reads the current state of each changed entity and
 * queues it. The owner thread (the broker's, via TICK; the bridge's loop)
 * applies the queue to its hc_acl_dir with hc_follow_apply: no SQLite on
 * the owner's thread, ever. The worker also answers writers that wait for
 * their change to be applied (hc_follow_listen, hc_sync.h): it reads the
 * log at once when asked, calls wake, and answers after the owner applied. If the log was purged
 * past our position, or the queue grows too long, the worker loads a whole new directory instead.
 */
#ifndef HC_FOLLOW_H
#define HC_FOLLOW_H

#include <stdint.h>

#include "hc_acl.h"
#include "hc_store.h"

enum hc_change_type {
	HC_CHG_PRINCIPAL = 1, /* p (+ secret_hash) is the current row (services too) */
	HC_CHG_PRINCIPAL_DEL, /* p.name is gone */
	HC_CHG_ROOM,	      /* room exists */
	HC_CHG_ROOM_DEL,      /* room is gone */
	HC_CHG_LEVEL,	      /* room/principal now has level (0: none) */
	HC_CHG_SESSION,	      /* s is the current row */
	HC_CHG_SESSION_DEL,   /* s.sid is gone (purged) */
	HC_CHG_RELOAD,	      /* the whole directory was replaced */
};

struct hc_change {
	int type;
	int64_t seq;
	struct hc_principal p;
	char secret_hash[65];
	char room[HC_NAME_MAX + 1];
	int64_t room_created_at;    /* ROOM: the room's created_at */
	char hook[HC_NAME_MAX + 1]; /* ROOM: the service checking its events, "" */
	char principal[HC_NAME_MAX + 1];
	int level;
	struct hc_session s;
	struct hc_acl_dir *dir; /* RELOAD only; owned by the queue until applied */
	struct hc_change *next;
};

struct hc_follow;

/*
 * Start following db_path from change sequence from_seq (the seq of the
 * directory the caller loaded). wake (may be NULL) is called from the
 * worker after it queued something; it must be thread-safe (e.g.
 * lws_cancel_service). *out is owned by the caller (hc_follow_stop).
 */
int hc_follow_start(const char *db_path, int64_t from_seq, int refresh_ms, void (*wake)(void *ud),
	void *ud, struct hc_follow **out, char *err, size_t errsz);

/*
 * Owner thread: apply queued changes to *dir (which a RELOAD replaces; the
 * old one is freed) and call cb (may be NULL) after each. Returns how many
 * were applied. Cheap when nothing is queued (one atomic load).
 */
int hc_follow_apply(struct hc_follow *f, struct hc_acl_dir **dir,
	void (*cb)(void *ud, const struct hc_change *c, const struct hc_acl_dir *dir), void *ud);

/*
 * Listen for writers' sync requests on sync_dir/<name>-<pid>.sock (created
 * with the directory, 0700, if missing), so a writer can wait until this
 * follower's owner applied its change (hc_sync.h). Owner thread, once,
 * after hc_follow_start. The socket is removed by hc_follow_stop.
 */
int hc_follow_listen(
	struct hc_follow *f, const char *sync_dir, const char *name, char *err, size_t errsz);

/* The change log position the owner has applied up to (any thread). */
int64_t hc_follow_applied(struct hc_follow *f);

/* Stop the worker (joins it) and free everything queued. */
void hc_follow_stop(struct hc_follow *f);

#endif
