/* SPDX-License-Identifier: MIT */
/*
 * Reading chat history (written by the broker plugin's history writer).
 */
#ifndef HC_HISTORY_H
#define HC_HISTORY_H

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
	const void *data; /* borrowed for the callback */
	size_t len;
};

#define HC_HISTORY_LIMIT_MAX 500

/* The newest `limit` messages of room with id < before (before 0: the
 * newest), handed to cb oldest first. limit is clamped to 1..500. */
int hc_history_list(struct hc_store *st, const char *room, int64_t before, int limit,
	int (*cb)(void *ud, const struct hc_message *m), void *ud);

#endif
