/* SPDX-License-Identifier: MIT */
/*
 * Admin changes in force when the command returns (CONTRACT.md,
 * "Consistency of administrative changes").
 *
 * Every process that enforces the store's rules from an in-memory
 * directory (the broker plugin, the gateway) listens on a UNIX stream
 * socket <data_dir>/sync/<name>-<pid>.sock (its store follower's worker
 * thread does, see hc_follow_listen). A writer that committed a change
 * (hubctl, hubd) asks each of them "sync <seq>\n", where seq is the change
 * log position after its commit; the listener reads the change log at once
 * (no polling delay), has its owner thread apply it, and answers
 * "ok <applied>\n" only when its directory holds everything up to seq. So a
 * writer that waited for every listener knows its change is enforced.
 *
 * Listeners that died leave their socket behind: a refused connection
 * means nobody is there to tell, and the stale file is removed.
 */
#ifndef HC_SYNC_H
#define HC_SYNC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#define HC_SYNC_REQ_MAX 64 /* one request line, bytes */

/*
 * Wait until every live listener in sync_dir has applied the change log up
 * to seq, at most timeout_ms in all. HUB_OK when all confirmed (or there is
 * nobody to wait for: no directory, no live socket). HUB_ERR_BUSY when one
 * did not answer in time: err names it. HUB_ERR_IO/INVAL for local errors.
 * Blocking: call it from a CLI or a worker thread, never from a loop.
 */
int hc_sync_wait(const char *sync_dir, int64_t seq, int timeout_ms, char *err, size_t errsz);

/*
 * How many listeners in sync_dir accept a connection right now, i.e. how
 * many processes follow the store (the broker, the gateway); who gets the
 * first one's name for people ("broker (pid 1234)"). Stale socket files
 * are removed. 0 when the directory does not exist; -1 when it cannot be
 * read (errno set). Blocking (a connect per socket): CLI use.
 */
int hc_sync_live(const char *sync_dir, char *who, size_t whosz);

/*
 * Fill *sa for dir/name. Paths longer than sun_path go through
 * /proc/self/fd/<dirfd>/name, for which dirfd must be an open descriptor of
 * dir (pass -1 when the caller has none: then a long path is an error).
 * Returns the address length to pass to bind/connect, or 0 if it cannot fit.
 */
size_t hc_sync_addr(struct sockaddr_un *sa, const char *dir, int dirfd, const char *name);

/*
 * The same promise on PostgreSQL, across machines. Each follower (broker
 * plugin, gateway) on every node keeps one row of node_applied: its node
 * ("host/name-pid"), the change log position its owner applied, and when
 * it last said so (the database's clock, ms). It writes the row when its
 * position moves and at least every HC_NODE_HEARTBEAT_MS, and NOTIFYs
 * hub_applied; it deletes its row when it stops. A writer that committed
 * (hubctl, hubd) waits, with hc_sync_wait_store, until every node heard
 * from in the last HC_NODE_STALE_MS is at or past its position: a node
 * that died without a word is skipped after that long.
 */
#define HC_NODE_MAX	     192
#define HC_NODE_HEARTBEAT_MS 1000
#define HC_NODE_STALE_MS     5000

struct hc_store;

/*
 * Wait until every live node applied the change log up to seq, at most
 * timeout_ms (PostgreSQL; on SQLite it returns HUB_OK at once: use
 * hc_sync_wait). HUB_OK, HUB_ERR_BUSY when a node did not get there in
 * time (err names it), HUB_ERR_DB when the store failed. Blocking: CLI or
 * worker thread. st must not be inside a transaction.
 */
int hc_sync_wait_store(struct hc_store *st, int64_t seq, int timeout_ms, char *err, size_t errsz);

#endif
