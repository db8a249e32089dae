/* SPDX-License-Identifier: MIT */
/*
 * Presence and disconnect notices (CONTRACT.md "Presence and disconnect
 * notices"), produced inside the broker where every way a connection ends
 * is seen: joined/left notices with online counts and reasons, retained
 * per-member presence, and users/{user}/status kept true.
 */
#ifndef HAUTH_PRESENCE_H
#define HAUTH_PRESENCE_H

#include "hauth.h"

/* A connection of p came up (p->live already counts it). */
void hauth_presence__up(struct hauth *h, struct hauth_principal *p, struct hauth_client *c);
/* A connection of p ended (p->live already discounts it). */
void hauth_presence__down(struct hauth *h, struct hauth_principal *p, struct hauth_client *c);
/* Due left notices, first-tick reset of stale retained presence. */
void hauth_presence__tick(struct hauth *h, int64_t now_ms);
/* A store change touched memberships of online principals. */
void hauth_presence__change(struct hauth *h, const struct hc_change *chg);
/* Free a principal record's presence state and the record. */
void hauth_presence__free(struct hauth_principal *p);
/* Whether a will of principal name on topic may go out, others_live being
 * its connections still live besides the one the will belongs to: a will
 * on its own users/{name}/status is held back while others live (it would
 * say "offline" of someone online); every other will goes out as in plain
 * mosquitto (still subject to the WRITE check). */
bool hauth_presence__will_ok(struct hauth *h, const char *name, int others_live, const char *topic);

/* Why a connection ended: "clean", "network", "keepalive" or what the hub
 * set (end_reason). Called from DISCONNECT (reason.c). */
const char *hauth_reason__classify(struct hauth_client *c);
/* The silence (ms since the last publish or subscribe, else the CONNECT)
 * from which a broker-ended TCP connection of a silent peer counts as a
 * keepalive end: floor(1.5 x keepalive) s less a slack; -1 for keepalive
 * 0 (no keepalive ends). */
int64_t hauth_reason__keepalive_silence_ms(int keepalive);

#endif
