/* SPDX-License-Identifier: MIT */
/*
 * OwnTracks JSON payloads (https://owntracks.org/booklet/tech/json/), as
 * the OwnTracks apps publish them on owntracks/{user}/{device}:
 *
 *   {"_type":"location","_id":"1f2e3d4c","tid":"k1","tst":1700000000,
 *    "lat":52.516301,"lon":13.377702,"acc":8,"vel":32,"cog":271,"batt":87,
 *    "bs":1,"conn":"m","t":"t","created_at":1700000003}
 *
 * tst is the time of the fix, created_at the time the message was built
 * (later than tst for fixes buffered while offline). Bench mode adds
 * "_seq" (per-vehicle fix number) and "_ts_ms" (wall-clock ms at publish)
 * for ordering and latency measurements; apps ignore unknown keys.
 *
 * Pure functions writing into caller buffers.
 */
#ifndef TRK_OWNTRACKS_H
#define TRK_OWNTRACKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim.h"

#define TRK_PAYLOAD_MAX 384 /* enough for every message built here */

/* The OwnTracks tracker id: the last two characters of the device id
 * (the whole id when shorter). */
void trk_owntracks__tid(const char *device, char tid[3]);

/* A location message for fix f into out (size n). created_at is unix
 * seconds, send_ms the wall clock in ms (used only when bench is set).
 * Returns the length, or -1 if out is too small. */
int trk_owntracks__location(const struct trk_fix *f, const char *tid, int64_t created_at,
	bool bench, int64_t send_ms, char *out, size_t n);

/* The "lwt" message: tst is when the connection it stands for was made.
 * Returns the length or -1. */
int trk_owntracks__lwt(int64_t tst, char *out, size_t n);

#endif
