/* SPDX-License-Identifier: MIT */
/*
 * Reconnect delays: exponential backoff with jitter. The n-th failed
 * attempt in a row waits a random time in [d/2, d] with
 * d = min(max, min * 2^n), so a fleet that lost its broker does not come
 * back in one wave, and a broker that stays away is asked rarely.
 */
#ifndef TRK_BACKOFF_H
#define TRK_BACKOFF_H

#include <stdint.h>

struct trk_backoff {
	int64_t min_ms, max_ms; /* first step and cap */
	unsigned attempt;	/* failures in a row */
};

void trk_backoff__init(struct trk_backoff *b, int64_t min_ms, int64_t max_ms);
/* The delay before the next attempt, in ms; counts one more failure.
 * rng is the caller's PRNG state (trk_rand__next). */
int64_t trk_backoff__next(struct trk_backoff *b, uint64_t *rng);
/* A connection worked: start from min again. */
void trk_backoff__reset(struct trk_backoff *b);

#endif
