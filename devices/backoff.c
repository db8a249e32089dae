/* SPDX-License-Identifier: MIT */
/* Exponential backoff with "equal jitter". */
#include "backoff.h"

#include "sim.h"

void trk_backoff__init(struct trk_backoff *b, int64_t min_ms, int64_t max_ms)
{
	b->min_ms = min_ms > 0 ? min_ms : 1;
	b->max_ms = max_ms >= b->min_ms ? max_ms : b->min_ms;
	b->attempt = 0;
}

int64_t trk_backoff__next(struct trk_backoff *b, uint64_t *rng)
{
	int64_t d = b->min_ms;

	for (unsigned i = 0; i < b->attempt && d < b->max_ms; i++)
		d *= 2;
	if (d > b->max_ms)
		d = b->max_ms;
	if (b->attempt < 64)
		b->attempt++;
	return d / 2 + (int64_t)(trk_rand__next(rng) % (uint64_t)(d / 2 + 1));
}

void trk_backoff__reset(struct trk_backoff *b)
{
	b->attempt = 0;
}
