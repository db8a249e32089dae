/* SPDX-License-Identifier: MIT */
/*
 * Chat history capture and webhook rows (see history.c, outbox.c): the
 * broker thread enqueues, a writer thread stores in batches.
 */
#ifndef HAUTH_HISTORY_H
#define HAUTH_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_config.h"
#include "hc_hmap.h"

struct hauth_history;
struct hc_store;

/* Start the writer with its own read-write store connection. */
int hauth_history__start(const struct hc_config *cfg, const char *db_path,
	struct hauth_history **out, char *err, size_t errsz);
/* Broker thread: a room event members get (a client's, MESSAGE; or a
 * hooked one its service accepted): queued to be stored as history if its
 * name is in history_events, and for the webhooks that want ev:NAME. The
 * payload is copied. Never blocks on the store. */
void hauth_history__add(
	struct hauth_history *hh, const char *topic, const void *payload, size_t len);
/* Broker thread: a joined (reason NULL) or left notice, queued for the
 * webhooks that want it (nothing is done when none does). */
void hauth_history__presence(struct hauth_history *hh, const char *room, const char *user,
	int online, const char *reason);
/* Webhook rows queued, made, dropped (queue full, or the store failed). */
void hauth_history__webhook_stats(
	struct hauth_history *hh, uint64_t *queued, uint64_t *made, uint64_t *dropped);
/* Whether topic is rooms/{room}/ev/{event}/{sender} with a stored event;
 * sets pointers into topic. */
bool hauth_history__wanted(const struct hc_config *cfg, const char *topic, const char **room,
	size_t *rlen, const char **event, size_t *elen, const char **sender, size_t *slen);
void hauth_history__stats(struct hauth_history *hh, uint64_t *stored, uint64_t *dropped);
/* Events not stored because their payload is over history_event_max. */
uint64_t hauth_history__oversize(struct hauth_history *hh);
/* Flush what is queued, stop the writer, free. */
void hauth_history__stop(struct hauth_history *hh);

/* outbox.c: what webhooks want, and the rows the broker makes for them */
struct hauth_outbox_wants {
	int hooks;	      /* webhooks read */
	bool presence;	      /* one wants joined or left */
	bool all_events;      /* one wants ev:* */
	struct hc_hmap names; /* event names wanted (ev:NAME) */
	bool all_rooms;	      /* one wanting events has no room list */
	struct hc_hmap rooms; /* rooms named by those wanting events */
};
void hauth_outbox__wants_init(struct hauth_outbox_wants *w);
void hauth_outbox__wants_free(struct hauth_outbox_wants *w);
/* Read the webhooks table (any thread with its own connection). */
int hauth_outbox__load(struct hc_store *st, struct hauth_outbox_wants *w);
/* Whether some webhook may want room event event in room (a prefilter:
 * the store's matching in hc_webhook_enqueue decides). */
bool hauth_outbox__wants_event(const struct hauth_outbox_wants *w, const char *room, size_t rlen,
	const char *event, size_t elen);
/* The JSON members of a row (malloc'd; NULL if memory is short). */
char *hauth_outbox__event_fields(
	const char *room, const char *event, const char *from, const void *data, size_t len);
char *hauth_outbox__presence_fields(
	const char *room, const char *user, int online, const char *reason);

#endif
