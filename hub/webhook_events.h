/* SPDX-License-Identifier: MIT */
/*
 * hubd's webhook events (CONTRACT.md "Backends", webhooks): a session
 * began (login) or was ended through hubd's API (logout). Each call adds
 * the outbox rows of every webhook that wants the event (hc_webhook.h) and
 * composes into the caller's open transaction, so the rows commit with the
 * session change or not at all. Without any webhook it costs one read of
 * the (empty) webhooks table. Bodies:
 *
 *   {"id","type":"login","ts","user","sid","via":"password"}
 *   {"id","type":"login","ts","user","sid","via":"service","service"}
 *   {"id","type":"logout","ts","user","sid","reason"[,"service"]}
 *
 * (ts in ms; sid the session's public id, as in its tokens). The caller
 * wakes the sender (hub_webhooks_wake) after the commit when *queued > 0.
 */
#ifndef HUB_WEBHOOK_EVENTS_H
#define HUB_WEBHOOK_EVENTS_H

struct hc_store;

/* via "password" (POST /api/login) or "service" (POST /api/sessions, then
 * service names it; else NULL). */
int hub_webhook_event_login(struct hc_store *st, const char *user, const char *sid, const char *via,
	const char *service, int *queued);
/* reason: "logout" (POST /api/logout, DELETE /api/sessions/{sid}); service:
 * who ended it, or NULL. */
int hub_webhook_event_logout(struct hc_store *st, const char *user, const char *sid,
	const char *reason, const char *service, int *queued);

#endif
