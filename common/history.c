/* SPDX-License-Identifier: MIT */
/* Chat history queries: newest first from the (room, id) index, payloads
 * over a size cap never read. */
#include "hc_history.h"
#include "hc_err.h"
#include "hc_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

int hc_history_scan(struct hc_store *st, const char *room, int64_t before, int limit,
	size_t max_len, int (*cb)(void *ud, const struct hc_message *m), void *ud)
{
	sqlite3 *db = hc_store_db(st);
	sqlite3_stmt *s = NULL;
	struct hc_message m;
	int rc = HUB_OK, step = SQLITE_DONE, n = 0;

	if (!hc_name_valid(room))
		return HUB_ERR_INVAL;
	if (limit < 1)
		limit = 1;
	if (limit > HC_HISTORY_LIMIT_MAX + 1)
		limit = HC_HISTORY_LIMIT_MAX + 1;
	if (max_len > INT32_MAX)
		max_len = INT32_MAX;
	/* one read transaction: the page stays consistent while the writer
	 * goes on (WAL) */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	/* length() of a BLOB reads no content; the CASE keeps an oversized
	 * payload from ever being loaded */
	if (sqlite3_prepare_v2(db,
		    "SELECT id, room, event, sender, ts, length(data), "
		    "CASE WHEN length(data) <= ?4 THEN data END FROM messages "
		    "WHERE room = ?1 AND (?2 <= 0 OR id < ?2) ORDER BY id DESC LIMIT ?3",
		    -1, &s, NULL) != SQLITE_OK) {
		rc = HUB_ERR_DB;
		goto out;
	}
	sqlite3_bind_text(s, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, before);
	sqlite3_bind_int(s, 3, limit);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)max_len);
	while (n < limit && (step = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *t;
		int64_t len = sqlite3_column_int64(s, 5);
		int r;

		memset(&m, 0, sizeof(m));
		m.id = sqlite3_column_int64(s, 0);
		t = sqlite3_column_text(s, 1);
		snprintf(m.room, sizeof(m.room), "%s", t ? (const char *)t : "");
		t = sqlite3_column_text(s, 2);
		snprintf(m.event, sizeof(m.event), "%s", t ? (const char *)t : "");
		t = sqlite3_column_text(s, 3);
		snprintf(m.sender, sizeof(m.sender), "%s", t ? (const char *)t : "");
		m.ts_ms = sqlite3_column_int64(s, 4);
		m.len = len > 0 ? (size_t)len : 0;
		if (m.len > max_len) {
			m.omitted = true;
		} else if (m.len) {
			m.data = sqlite3_column_blob(s, 6);
			if (!m.data) {
				rc = HUB_ERR_NOMEM;
				break;
			}
		}
		n++;
		r = cb(ud, &m);
		if (r == HC_HISTORY_STOP) {
			step = SQLITE_DONE;
			break;
		}
		if (r) {
			rc = r;
			break;
		}
	}
	if (rc == HUB_OK && n < limit && step != SQLITE_DONE)
		rc = HUB_ERR_DB;
out:
	sqlite3_finalize(s);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return rc;
}
