/* SPDX-License-Identifier: MIT */
/*
 * Chat history capture (see history.c): the broker thread enqueues, a
 * writer thread stores in batches.
 */
#ifndef HAUTH_HISTORY_H
#define HAUTH_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_config.h"

struct hauth_history;

/* Start the writer with its own read-write store connection. */
int hauth_history__start(const struct hc_config *cfg, const char *db_path,
	struct hauth_history **out, char *err, size_t errsz);
/* Broker thread: queue topic's message if it is a stored room event. The
 * payload is copied. Never blocks on the store. */
void hauth_history__add(
	struct hauth_history *hh, const char *topic, const void *payload, size_t len);
/* Whether topic is rooms/{room}/ev/{event}/{sender} with a stored event;
 * sets pointers into topic. */
bool hauth_history__wanted(const struct hc_config *cfg, const char *topic, const char **room,
	size_t *rlen, const char **event, size_t *elen, const char **sender, size_t *slen);
void hauth_history__stats(struct hauth_history *hh, uint64_t *stored, uint64_t *dropped);
/* Events not stored because their payload is over history_event_max. */
uint64_t hauth_history__oversize(struct hauth_history *hh);
/* Flush what is queued, stop the writer, free. */
void hauth_history__stop(struct hauth_history *hh);

#endif
