/* SPDX-License-Identifier: MIT */
/*
 * Waking the broker's loop when the store changed. The broker applies store
 * changes on MOSQ_EVT_TICK, which fires once per main-loop pass; an idle
 * pass waits up to 100 ms in epoll and a plugin cannot add descriptors of
 * its own to that epoll set. So the follower thread keeps one MQTT
 * connection of its own to the broker's TCP listener (user "$hub-wake",
 * a random password made at start, known only to this process) and sends a
 * PINGREQ when it queued a change: the broker's loop wakes at once, ticks,
 * and the change is applied within a millisecond instead of up to 100.
 * Without the connection (listener elsewhere, refused) changes still apply
 * on the next idle tick.
 *
 * The connection has no rights: it is never registered as a client, every
 * ACL check for it is denied, it counts in no presence.
 */
#ifndef HAUTH_WAKE_H
#define HAUTH_WAKE_H

#include <stdbool.h>

struct hc_config;
struct hauth_wake;

#define HAUTH_WAKE_USER "$hub-wake"

/* Broker thread, at init: make the secret, read where the listener is. */
int hauth_wake__new(const struct hc_config *cfg, struct hauth_wake **out);
void hauth_wake__free(struct hauth_wake *w);

/* Follower thread (hc_follow's wake callback): poke the broker's loop. */
void hauth_wake__poke(void *ud);

/* Broker thread, BASIC_AUTH: whether these are the wake connection's
 * credentials (constant-time on the password). */
bool hauth_wake__is(const struct hauth_wake *w, const char *username, const char *password);

#endif
