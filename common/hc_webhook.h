/* SPDX-License-Identifier: MIT */
/*
 * Webhooks (CONTRACT.md "Backends"): the hub POSTs signed JSON to a
 * backend's URL when things happen (joined, left, login, logout, chosen
 * room events). This is the durable part, in the store: the webhooks
 * (`hubctl webhook add|list|del`) and their outbox. Producers (hubd for
 * login/logout, the broker plugin's writer thread for presence and room
 * events) enqueue; hubd's sender (hub/webhook.c) takes due rows, POSTs
 * them, and records the outcome. Every row has a random id that stays the
 * same on every try, so receivers can drop duplicates (delivery is at least
 * once).
 *
 * Rows live for HC_WEBHOOK_TTL_S (24 h) after they were made: a delivery
 * still failing then is marked failed and kept for `hubctl webhook list`
 * and /metrics until the hourly purge removes rows older than a week.
 *
 * All functions take a store handle of the calling thread (struct hc_store
 * is single-threaded) and return HUB_OK or a HUB_ERR_* code.
 */
#ifndef HC_WEBHOOK_H
#define HC_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_names.h"

struct hc_store;

#define HC_WEBHOOK_TTL_S      86400
#define HC_WEBHOOK_URL_MAX    2048
#define HC_WEBHOOK_EVENTS_MAX 1024
#define HC_WEBHOOK_ROOMS_MAX  4096
#define HC_WEBHOOK_ID_LEN     22 /* base64url of 16 random bytes */
#define HC_WEBHOOK_BODY_MAX   (256 * 1024)
/* default --events: presence and sessions (room events are opted in) */
#define HC_WEBHOOK_DEFAULT_EVENTS "joined,left,login,logout"

struct hc_webhook {
	int64_t id;
	char url[HC_WEBHOOK_URL_MAX + 1];
	char events[HC_WEBHOOK_EVENTS_MAX + 1]; /* comma list */
	char rooms[HC_WEBHOOK_ROOMS_MAX + 1];	/* comma list, "" = every room */
	int64_t created_at;
	/* outbox counts (list only) */
	int64_t pending, failing, failed, delivered;
	char last_error[200];
};

/* An outbox row the sender is to POST. */
struct hc_webhook_delivery {
	char id[HC_WEBHOOK_ID_LEN + 1];
	int64_t hook;
	char url[HC_WEBHOOK_URL_MAX + 1];
	char secret[64];
	char type[HC_NAME_MAX + 8];
	unsigned char *body; /* malloc'd, owned by the caller of _due */
	size_t body_len;
	int attempts;
	int64_t created_at;
};

/* Whether url is http:// or https:// with a host, no spaces or controls. */
bool hc_webhook_url_valid(const char *url);
/* Whether events is a comma list of joined, left, login, logout, ev:NAME
 * (NAME an event name or '*'); rooms a comma list of room names or "". */
bool hc_webhook_events_valid(const char *events);
bool hc_webhook_rooms_valid(const char *rooms);

/* Add a webhook; writes a fresh secret (shown once) and its id. */
int hc_webhook_add(struct hc_store *st, const char *url, const char *events, const char *rooms,
	char secret[44], int64_t *id);
/* Delete one (its pending deliveries go with it). HUB_ERR_NOTFOUND. */
int hc_webhook_del(struct hc_store *st, int64_t id);
/* Every webhook with its outbox counts, by id. */
int hc_webhook_list(struct hc_store *st, int (*cb)(void *ud, const struct hc_webhook *w), void *ud);

/*
 * Enqueue an event for every webhook that wants it: type is "joined",
 * "left", "login", "logout" or "event" (then event names the room event,
 * matched against ev:NAME and ev:*); room may be NULL (login/logout).
 * fields_json is the event's own JSON members without braces, e.g.
 * "\"user\":\"alice\",\"online\":3" (the caller escapes them); each row's
 * body is {"id":..,"type":..,"ts":..,<fields>}. *queued (may be NULL) =
 * rows made. Runs in the caller's transaction if one is open.
 */
int hc_webhook_enqueue(struct hc_store *st, const char *type, const char *event, const char *room,
	int64_t ts_ms, const char *fields_json, int *queued);

/*
 * Due rows, webhook by webhook, so a dead endpoint's backlog never hides
 * the others' rows: for each webhook (those with an id after *cursor
 * first, then the rest: round robin when the caller has fewer slots than
 * webhooks with work), want(ud, hook, url) says how many rows to take (0:
 * none now); up to that many of its pending rows with next_at <= now and
 * younger than HC_WEBHOOK_TTL_S are handed to cb, oldest first. cb owns
 * d->body (free it) and may decline a row (one already being tried, say).
 * *cursor becomes the first webhook asked. A non-zero return of cb stops
 * the walk and is returned. Reads only (one indexed query per webhook).
 */
int hc_webhook_due(struct hc_store *st, int64_t now, int64_t *cursor,
	int (*want)(void *ud, int64_t hook, const char *url),
	int (*cb)(void *ud, struct hc_webhook_delivery *d), void *ud);
/* The earliest next_at of pending rows (0 if none). */
int hc_webhook_next_due(struct hc_store *st, int64_t *at);

/* Outcome of one try: delivered (2xx; also for a row that expired while
 * the try was in flight), or retry at next_at with what went wrong (a
 * pending row only); a row older than HC_WEBHOOK_TTL_S is marked failed
 * instead. Both compose into a caller's transaction (hc_store_tx), so a
 * sender can record many outcomes in one. */
int hc_webhook_delivered(struct hc_store *st, const char *id, int status);
int hc_webhook_retry(
	struct hc_store *st, const char *id, int status, const char *error, int64_t next_at);

/* Pending rows older than HC_WEBHOOK_TTL_S at now become failed (with
 * last_error "expired" when no try had failed yet): a row hubd could not
 * try for 24 h (hubd stopped, say) is given up without one more try.
 * *count (may be NULL) = rows given up. */
int hc_webhook_expire(struct hc_store *st, int64_t now, int *count);

/* Counts by state for /metrics and tests; delivered may be NULL (it is
 * the largest count, a week of deliveries: skipped when not needed).
 * Each is one count over the (state, next_at) index. */
int hc_webhook_counts(struct hc_store *st, int64_t *pending, int64_t *failed, int64_t *delivered);
/* Drop up to HC_WEBHOOK_PURGE_BATCH delivered and failed rows made before
 * cutoff, in one short transaction (other writers wait for one batch at
 * most); *deleted = how many. Call again while it deleted a whole batch. */
#define HC_WEBHOOK_PURGE_BATCH 2000
int hc_webhook_purge(struct hc_store *st, int64_t cutoff, int64_t *deleted);

/* The retry delay after `attempts` tries: 1 s, 2 s, 4 s ... capped at 10
 * minutes, with up to 20 % random jitter. */
int64_t hc_webhook_backoff_s(int attempts);

#endif
