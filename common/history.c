/* SPDX-License-Identifier: MIT */
/* Chat history queries: newest first from the (room, id) index, payloads
 * over a size cap never read. */
#include "hc_history.h"
#include "hc_db.h"
#include "hc_err.h"
#include "hc_store.h"

#include <stdio.h>
#include <string.h>

int hc_history_scan(struct hc_store *st, const char *room, int64_t before, int limit,
	size_t max_len, int (*cb)(void *ud, const struct hc_message *m), void *ud)
{
	struct hc_db_stmt *s = NULL;
	struct hc_message m;
	int rc = HUB_OK, step = HC_DB_DONE, n = 0;

	if (!hc_name_valid(room))
		return HUB_ERR_INVAL;
	if (limit < 1)
		limit = 1;
	if (limit > HC_HISTORY_LIMIT_MAX + 1)
		limit = HC_HISTORY_LIMIT_MAX + 1;
	if (max_len > INT32_MAX)
		max_len = INT32_MAX;
	/* one read transaction: the page stays consistent while the writer
	 * goes on */
	rc = hc_db_read_begin(st);
	if (rc)
		return rc;
	/* length() of a BLOB reads no content; the CASE keeps an oversized
	 * payload from ever being loaded */
	rc = hc_db_prep(st, &s,
		"SELECT id, room, event, sender, ts, length(data), "
		"CASE WHEN length(data) <= ?4 THEN data END FROM messages "
		"WHERE room = ?1 AND (?2 <= 0 OR id < ?2) ORDER BY id DESC LIMIT ?3",
		"sidi", room, before, limit, (int64_t)max_len);
	if (rc)
		goto out;
	while (n < limit && (step = hc_db_step(s)) == HC_DB_ROW) {
		int64_t len = hc_db_int64(s, 5);
		int r;

		memset(&m, 0, sizeof(m));
		m.id = hc_db_int64(s, 0);
		hc_db_col(s, 1, m.room, sizeof(m.room));
		hc_db_col(s, 2, m.event, sizeof(m.event));
		hc_db_col(s, 3, m.sender, sizeof(m.sender));
		m.ts_ms = hc_db_int64(s, 4);
		m.len = len > 0 ? (size_t)len : 0;
		if (m.len > max_len) {
			m.omitted = true;
		} else if (m.len) {
			size_t got = 0;
			m.data = hc_db_blob(s, 6, &got);
			if (!m.data || got != m.len) {
				rc = m.data ? HUB_ERR_DB : HUB_ERR_NOMEM;
				break;
			}
		}
		n++;
		r = cb(ud, &m);
		if (r == HC_HISTORY_STOP) {
			step = HC_DB_DONE;
			break;
		}
		if (r) {
			rc = r;
			break;
		}
	}
	if (rc == HUB_OK && n < limit && step != HC_DB_DONE)
		rc = step == HC_DB_ROW ? HUB_ERR_DB : step;
out:
	hc_db_finalize(s);
	hc_db_read_end(st);
	return rc;
}
