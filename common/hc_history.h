/* SPDX-License-Identifier: MIT */
/*
 * Reading chat history (written by the broker plugin's history writer).
 */
#ifndef HC_HISTORY_H
#define HC_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_names.h"

struct hc_store;

struct hc_message {
	int64_t id;
	char room[HC_NAME_MAX + 1];
	char event[HC_NAME_MAX + 1];
	char sender[HC_NAME_MAX + 1];
	int64_t ts_ms;
	const void *data; /* borrowed for the callback; NULL when omitted */
	size_t len;	  /* the stored payload's length (also when omitted) */
	bool omitted;	  /* longer than the scan's max_len: not read */
};

#define HC_HISTORY_LIMIT_MAX 500
#define HC_HISTORY_STOP	     (-1) /* a callback's "enough" */

/*
 * The newest messages of room with id < before (before <= 0: from the
 * newest), handed to cb newest first, at most limit (clamped to
 * 1..HC_HISTORY_LIMIT_MAX + 1, so a caller can ask for one more than it
 * shows to learn whether there are more). Payloads longer than max_len are
 * not read from the store at all (omitted set, data NULL): a read costs at
 * most limit x max_len bytes whatever was stored. cb returns 0 to go on,
 * HC_HISTORY_STOP to end the scan (HUB_OK), or an error, returned as is.
 * One read transaction. HUB_OK, HUB_ERR_INVAL (room), HUB_ERR_DB.
 */
int hc_history_scan(struct hc_store *st, const char *room, int64_t before, int limit,
	size_t max_len, int (*cb)(void *ud, const struct hc_message *m), void *ud);

#endif
