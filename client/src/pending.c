/* SPDX-License-Identifier: MIT */
/*
 * The table of publishes that wait for something: an emit for its PUBACK,
 * a request for its reply, a call for its answer. Bounded (pending_max):
 * every QoS 1 publish has an entry with a deadline, so neither the table
 * nor libmosquitto's queue grows without limit when the hub stops
 * answering. Linear scans: pending_max is small and a scan is a few
 * hundred nanoseconds.
 */
#include "hubio_int.h"

#include <stdlib.h>
#include <string.h>

int hubio__pending_add(struct hubio *h, const struct hubio__pending *p)
{
	if (h->npending >= h->pending_max)
		return HUBIO_EFULL;
	if (!h->pending) {
		/* allocated once, at the maximum: pending_max is small */
		h->pending = calloc((size_t)h->pending_max, sizeof(*h->pending));
		if (!h->pending)
			return HUBIO_ENOMEM;
	}
	h->pending[h->npending++] = *p;
	return HUBIO_OK;
}

/* Remove entry i (order is not kept) into *out. */
static void take(struct hubio *h, int i, struct hubio__pending *out)
{
	*out = h->pending[i];
	h->pending[i] = h->pending[--h->npending];
}

/* An entry ends without an answer. */
static void finish(struct hubio *h, const struct hubio__pending *p, int status)
{
	hubio__enter(h);
	if (p->kind == HUBIO__P_EMIT) {
		if (p->ack_cb)
			p->ack_cb(h, status, p->ud);
	} else if (p->kind == HUBIO__P_CALL) {
		const char *a = hubio__outcome_json(status);
		if (p->answer_cb)
			p->answer_cb(h, status, a, strlen(a), p->ud);
	} else if (p->reply_cb) {
		p->reply_cb(h, status, NULL, 0, NULL, p->ud);
	}
	hubio__leave(h);
}

void hubio__pending_puback(struct hubio *h, int mid, int reason)
{
	struct hubio__pending p;
	/* MQTT 5 PUBACK reason codes >= 0x80 are refusals (0x87: the hub's ACL) */
	int status = reason >= 0x80 ? HUBIO_EFORBIDDEN : HUBIO_OK;

	for (int i = 0; i < h->npending; i++) {
		if (h->pending[i].mid != mid)
			continue;
		/* a call nobody subscribed to: no process of the service is
		 * connected (0x10, no matching subscribers); the hub's own
		 * "unavailable" answer that follows finds no entry */
		if (h->pending[i].kind == HUBIO__P_CALL && reason == 0x10)
			status = HUBIO_EUNAVAILABLE;
		if (h->pending[i].kind != HUBIO__P_EMIT && status == HUBIO_OK) {
			h->pending[i].mid = 0; /* accepted: now wait for the answer */
			return;
		}
		take(h, i, &p);
		finish(h, &p, status);
		return;
	}
}

bool hubio__pending_reply(struct hubio *h, const uint8_t *corr, size_t corr_len, const char *data,
	size_t len, const struct hubio_meta *meta)
{
	struct hubio__pending p;
	if (corr_len != HUBIO__CORR_LEN)
		return false;
	for (int i = 0; i < h->npending; i++) {
		if (h->pending[i].kind != HUBIO__P_REQUEST ||
			memcmp(h->pending[i].corr, corr, HUBIO__CORR_LEN) != 0)
			continue;
		take(h, i, &p);
		if (p.reply_cb) {
			hubio__enter(h);
			p.reply_cb(h, HUBIO_OK, data, len, meta, p.ud);
			hubio__leave(h);
		}
		return true;
	}
	return false;
}

bool hubio__pending_answer(
	struct hubio *h, const uint8_t *corr, size_t corr_len, const char *data, size_t len)
{
	struct hubio__pending p;
	if (corr_len != HUBIO__CORR_LEN)
		return false;
	for (int i = 0; i < h->npending; i++) {
		if (h->pending[i].kind != HUBIO__P_CALL ||
			memcmp(h->pending[i].corr, corr, HUBIO__CORR_LEN) != 0)
			continue;
		take(h, i, &p);
		if (p.answer_cb) {
			hubio__enter(h);
			p.answer_cb(h, hubio__answer_status(data, len), data, len, p.ud);
			hubio__leave(h);
		}
		return true;
	}
	return false;
}

/* Callbacks may add or remove entries: find one, take it, call, repeat. */
void hubio__pending_expire(struct hubio *h, int64_t now)
{
	struct hubio__pending p;
	for (;;) {
		int i;
		for (i = 0; i < h->npending; i++)
			if (h->pending[i].deadline <= now)
				break;
		if (i == h->npending)
			return;
		take(h, i, &p);
		finish(h, &p, HUBIO_ETIMEOUT);
	}
}

void hubio__pending_cancel_all(struct hubio *h)
{
	struct hubio__pending p;
	while (h->npending > 0) {
		take(h, h->npending - 1, &p);
		finish(h, &p, HUBIO_ECANCELED);
	}
	free(h->pending);
	h->pending = NULL;
}

int64_t hubio__pending_next_deadline(struct hubio *h)
{
	int64_t d = 0;
	for (int i = 0; i < h->npending; i++)
		if (!d || h->pending[i].deadline < d)
			d = h->pending[i].deadline;
	return d;
}
