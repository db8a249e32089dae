/* SPDX-License-Identifier: MIT */
/*
 * Per-socket event rate: a token bucket of sio_event_rate events a second
 * (burst: one second's worth). An event costs one token plus one per full
 * 64 KiB of data and binaries, so big binary events count by their size. An event over the rate is
 * refused (error ack, or a `hub:error` event at most once a second); a socket that keeps going,
 * more than three seconds' worth of refused events within five seconds, is disconnected.
 */
#include "hbr.h"

#define ABUSE_WINDOW_MS 5000
#define ABUSE_SECONDS	3

int hbr_limits__event(struct hbr *h, struct hbr_sock *s, int64_t now_ms, double cost)
{
	struct hbr_bucket *b = &s->bucket;
	double rate = (double)h->event_rate;

	if (now_ms > b->last_ms) {
		b->tokens += rate * (double)(now_ms - b->last_ms) / 1000.0;
		if (b->tokens > rate)
			b->tokens = rate;
		b->last_ms = now_ms;
	}
	/* a big event may take the whole bucket (and leave it in debt), so
	 * one can always go through at rest */
	if (b->tokens >= 1.0) {
		b->tokens -= cost;
		return HBR_RATE_OK;
	}
	if (now_ms - b->window_ms > ABUSE_WINDOW_MS) {
		b->window_ms = now_ms;
		b->drops = 0;
	}
	if (++b->drops > h->event_rate * ABUSE_SECONDS)
		return HBR_RATE_ABUSE;
	return HBR_RATE_DROP;
}
