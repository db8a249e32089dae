/* SPDX-License-Identifier: MIT */
/*
 * The per-vehicle fix queue: every fix from the moment it is taken until
 * the broker acknowledges it (PUBACK). The first `inflight` entries have
 * been handed to the MQTT client; the rest wait (offline, or behind the
 * in-flight window). Bounded: at `max` entries the oldest is dropped to
 * make room, and counted. Storage grows by doubling up to `max`, so an
 * online vehicle holds a few entries and only an offline one holds many.
 *
 * Not thread-safe (one loop owns every queue).
 */
#ifndef TRK_FIXQ_H
#define TRK_FIXQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim.h"

struct trk_fixq_entry {
	struct trk_fix fix;
	int mid;    /* MQTT message id while in flight */
	bool acked; /* PUBACK came (out of order); popped when it reaches the head */
};

struct trk_fixq {
	struct trk_fixq_entry *e; /* owned ring, cap entries */
	size_t cap, max;	  /* storage now, bound */
	size_t head, len;	  /* oldest entry, entries held */
	size_t inflight;	  /* the first inflight entries were handed out */
	uint64_t dropped;	  /* entries evicted before an acknowledgement */
};

/* An empty queue holding at most max (>= 1) fixes. No allocation yet. */
void trk_fixq__init(struct trk_fixq *q, size_t max);
void trk_fixq__free(struct trk_fixq *q);

/* Append f. When full, the oldest entry is dropped first (and counted).
 * HUB_OK, or HUB_ERR_NOMEM when the storage could not grow (then f is
 * dropped instead, also counted). */
int trk_fixq__push(struct trk_fixq *q, const struct trk_fix *f);

/* Entry i (0 = oldest), i < len. Valid until the next push/ack. */
struct trk_fixq_entry *trk_fixq__at(struct trk_fixq *q, size_t i);

/* The next entry to hand out, or NULL when none waits (acknowledged
 * entries are passed over). trk_fixq__sent marks it in flight with its
 * message id. */
struct trk_fixq_entry *trk_fixq__next(struct trk_fixq *q);
void trk_fixq__sent(struct trk_fixq *q, int mid);

/* A PUBACK for mid: marks the in-flight entry, then removes acknowledged
 * entries from the head. Returns whether mid was in flight (false when its
 * entry was dropped meanwhile, or for a stray PUBACK). */
bool trk_fixq__ack(struct trk_fixq *q, int mid);

/* The connection is gone: nothing is in flight any more; entries not
 * acknowledged will be handed out again, in order. */
void trk_fixq__requeue(struct trk_fixq *q);

#endif
