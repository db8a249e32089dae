/* SPDX-License-Identifier: MIT */
/*
 * Vehicle motion: where a simulated vehicle is and what its GPS would say.
 * Each vehicle drives one route at a plausible city speed (a cruising speed
 * of its own, smoothed noise, now and then a stop at a light), loops or
 * turns back at the end, reports course over ground along the segment, a
 * varying accuracy with matching position noise, and a battery that drains
 * slowly and recharges when low.
 *
 * Pure computation on caller-owned state; deterministic for a given seed.
 */
#ifndef TRK_SIM_H
#define TRK_SIM_H

#include <stdint.h>

#include "route.h"

/* One GPS fix, as the queue keeps it until the broker acknowledges it. */
struct trk_fix {
	double lat, lon; /* degrees */
	int64_t tst;	 /* unix seconds of the fix */
	uint32_t seq;	 /* per vehicle, from 1 */
	uint32_t id;	 /* random message id (OwnTracks "_id") */
	int16_t vel;	 /* km/h */
	int16_t cog;	 /* degrees, 0-359 */
	int16_t acc;	 /* metres */
	int8_t batt;	 /* percent */
	int8_t bs;	 /* battery status: 1 unplugged, 2 charging */
};

struct trk_sim {
	const struct trk_route *route; /* borrowed: outlives the sim */
	double pos;		       /* metres along the route */
	int dir;		       /* +1 forward, -1 backward */
	double cruise;		       /* km/h this vehicle likes */
	double speed;		       /* km/h right now */
	double batt;		       /* percent */
	int charging;
	int64_t stop_until_ms; /* standing at a light until then (0: driving) */
	int64_t last_ms;       /* time of the previous step (0: none yet) */
	uint32_t seq;
	uint64_t rng;
};

/* Place vehicle `index` of `count` on the routes: spread over the routes
 * and evenly along each, alternating directions. seed makes runs
 * repeatable. rs is borrowed and must outlive s. */
void trk_sim__init(
	struct trk_sim *s, const struct trk_routes *rs, size_t index, size_t count, uint64_t seed);

/* Advance to now_ms (wall clock, ms) and fill the fix seen at that time. */
void trk_sim__step(struct trk_sim *s, int64_t now_ms, struct trk_fix *out);

/* The small PRNG the simulator uses (splitmix64): next value of *state. */
uint64_t trk_rand__next(uint64_t *state);
/* Uniform in [0, 1). */
double trk_rand__unit(uint64_t *state);

#endif
