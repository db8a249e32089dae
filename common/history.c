/* SPDX-License-Identifier: MIT */
/* Chat history queries: newest page first from the index, handed out in
 * chronological order. */
#include "hc_history.h"
#include "hc_err.h"
#include "hc_store.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hc_history_list(struct hc_store *st, const char *room, int64_t before, int limit,
	int (*cb)(void *ud, const struct hc_message *m), void *ud)
{
	sqlite3 *db = hc_store_db(st);
	sqlite3_stmt *s = NULL;
	struct hc_message *page = NULL;
	int n = 0, rc = HUB_OK, step;

	if (!hc_name_valid(room))
		return HUB_ERR_INVAL;
	if (limit < 1)
		limit = 1;
	if (limit > HC_HISTORY_LIMIT_MAX)
		limit = HC_HISTORY_LIMIT_MAX;
	page = calloc((size_t)limit, sizeof(*page));
	if (!page)
		return HUB_ERR_NOMEM;
	/* one read transaction: the page and its blobs stay consistent */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		free(page);
		return HUB_ERR_DB;
	}
	if (sqlite3_prepare_v2(db,
		    "SELECT id, room, event, sender, ts, data FROM messages WHERE room = ?1 "
		    "AND (?2 <= 0 OR id < ?2) ORDER BY id DESC LIMIT ?3",
		    -1, &s, NULL) != SQLITE_OK) {
		rc = HUB_ERR_DB;
		goto out;
	}
	sqlite3_bind_text(s, 1, room, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, before);
	sqlite3_bind_int(s, 3, limit);
	while (n < limit && (step = sqlite3_step(s)) == SQLITE_ROW) {
		struct hc_message *m = &page[n];
		int len = sqlite3_column_bytes(s, 5);
		const void *blob = sqlite3_column_blob(s, 5);
		m->id = sqlite3_column_int64(s, 0);
		snprintf(m->room, sizeof(m->room), "%s", (const char *)sqlite3_column_text(s, 1));
		snprintf(m->event, sizeof(m->event), "%s", (const char *)sqlite3_column_text(s, 2));
		snprintf(m->sender, sizeof(m->sender), "%s",
			(const char *)sqlite3_column_text(s, 3));
		m->ts_ms = sqlite3_column_int64(s, 4);
		m->len = len > 0 ? (size_t)len : 0;
		/* the statement moves on: keep a copy of each blob */
		if (m->len) {
			void *copy = malloc(m->len);
			if (!copy) {
				rc = HUB_ERR_NOMEM;
				break;
			}
			memcpy(copy, blob, m->len);
			m->data = copy;
		}
		n++;
	}
	if (rc == HUB_OK && n < limit && step != SQLITE_DONE)
		rc = HUB_ERR_DB;
	for (int i = n - 1; rc == HUB_OK && i >= 0; i--) {
		int r = cb(ud, &page[i]);
		if (r)
			rc = r;
	}
out:
	sqlite3_finalize(s);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	for (int i = 0; i < n; i++)
		free((void *)page[i].data);
	free(page);
	return rc;
}
