/* SPDX-License-Identifier: MIT */
/* Writers' wait for every node on PostgreSQL (hc_sync.h): node_applied
 * rows, woken by NOTIFY hub_applied, bounded by the caller's timeout. */
#include "hc_db.h"
#include "hc_err.h"
#include "hc_sync.h"

#include <poll.h>
#include <stdio.h>
#include <time.h>

#define RECHECK_MS 100 /* a missed notification costs at most this */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The first live node behind seq into late ("" when none). */
static int behind(struct hc_store *st, int64_t seq, char *late, size_t n, int64_t *pos)
{
	struct hc_db_stmt *s = NULL;
	int rc = hc_db_prep(st, &s,
		"SELECT node, pos FROM node_applied WHERE pos < ? AND updated > hub_now_ms() - ? "
		"ORDER BY node LIMIT 1",
		"id", seq, HC_NODE_STALE_MS);
	late[0] = '\0';
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc == HC_DB_ROW) {
		hc_db_col(s, 0, late, n);
		*pos = hc_db_int64(s, 1);
	}
	hc_db_finalize(s);
	return rc == HC_DB_ROW || rc == HC_DB_DONE ? HUB_OK : rc;
}

int hc_sync_wait_store(struct hc_store *st, int64_t seq, int timeout_ms, char *err, size_t errsz)
{
	char late[HC_NODE_MAX] = "";
	int64_t deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0), pos = 0;
	int rc;

	if (errsz)
		err[0] = '\0';
	if (hc_db_engine(st) != HC_DB_POSTGRESQL)
		return HUB_OK;
	rc = hc_db_listen(st, "hub_applied");
	for (;;) {
		int64_t left;
		int fd;
		if (!rc)
			rc = behind(st, seq, late, sizeof(late), &pos);
		if (rc) {
			snprintf(err, errsz, "store: %s", hc_store_errmsg(st));
			break;
		}
		if (!late[0])
			break;
		left = deadline - mono_ms();
		if (left <= 0) {
			snprintf(err, errsz, "%s has applied %lld of %lld after %d ms", late,
				(long long)pos, (long long)seq, timeout_ms);
			rc = HUB_ERR_BUSY;
			break;
		}
		/* one that came in while the query ran is in libpq's queue */
		if (hc_db_notified(st) > 0)
			continue;
		fd = hc_db_notify_fd(st);
		if (fd >= 0) {
			struct pollfd p = {.fd = fd, .events = POLLIN};
			if (poll(&p, 1, (int)(left < RECHECK_MS ? left : RECHECK_MS)) > 0 &&
				hc_db_notified(st) < 0) {
				snprintf(err, errsz, "store: %s", hc_store_errmsg(st));
				rc = HUB_ERR_DB;
				break;
			}
		} else {
			struct timespec ts = {0, 20 * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	hc_db_unlisten(st, "hub_applied");
	return rc;
}
