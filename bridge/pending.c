/* SPDX-License-Identifier: MIT */
/*
 * Sessions that have not authenticated yet. An Engine.IO handshake costs
 * nothing to send and carries no credentials (the token comes with the
 * Socket.IO CONNECT that follows), so such sessions are kept apart from
 * the authenticated ones and bounded on their own:
 *
 *  - life: sio_connect_timeout from the handshake (or from a Socket.IO
 *    DISCONNECT that left the engine open) to an accepted CONNECT; then
 *    the session ends quietly (the client, if any, reconnects);
 *  - per client address (IPv6: per /64): sio_pending_per_addr; a handshake
 *    beyond is refused (503), the cost stays with the sender;
 *  - in all: sio_pending_max; a handshake beyond evicts the oldest pending
 *    session, so senders spread over many addresses cannot lock others
 *    out: a real client needs its session only for the round trip to its
 *    CONNECT, an attacker would have to refill the whole set faster than
 *    that.
 *
 * Authenticated sockets are never evicted; they count against
 * sio_max_sockets (socketio.c). The set is a FIFO: every session enters at
 * the tail with the same timeout, so the head is both the oldest and the
 * first to expire, and expiry costs nothing for sessions not due.
 */
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <stdint.h>
#include <string.h>

#define KEY_MAX 64

/* Counts live in the map's value pointer (never 0 there: an address whose
 * count drops to 0 is removed), so a new address allocates only its entry. */
static int count_of(struct hbr *h, const char *key)
{
	return (int)(intptr_t)hc_hmap_get(&h->pending_addrs, key, strlen(key));
}

static int count_add(struct hbr *h, const char *key, int d)
{
	int n = count_of(h, key) + d;
	if (n <= 0) {
		hc_hmap_del(&h->pending_addrs, key, strlen(key));
		return HUB_OK;
	}
	return hc_hmap_put(&h->pending_addrs, key, strlen(key), (void *)(intptr_t)n, NULL);
}

int hbr_pending__count(struct hbr *h, const char *addr)
{
	char key[KEY_MAX];
	hc_addr_key(addr, key, sizeof(key));
	return count_of(h, key);
}

int hbr_pending__admit(struct hbr *h, const char *addr)
{
	if (hbr_pending__count(h, addr) >= h->pending_per_addr) {
		h->stats.pending_refused++;
		return HUB_ERR_BUSY;
	}
	while (h->npending >= h->pending_max && h->pending_head) {
		struct hbr_sock *old = h->pending_head;
		h->stats.pending_evicted++;
		hc_debug("msg=\"unauthenticated session evicted\" sid=%s addr=%s age_ms=%lld",
			old->sid, old->addr, (long long)(hc_mono_ms() - old->created_ms));
		hbr_eio__close(h, old, "network", HBR_CLOSE_QUIET);
		hbr_eio__maybe_free(h, old);
	}
	return HUB_OK;
}

int hbr_pending__add(struct hbr *h, struct hbr_sock *s)
{
	char key[KEY_MAX];

	if (s->pending)
		return HUB_OK;
	hc_addr_key(s->addr, key, sizeof(key));
	if (count_add(h, key, 1))
		return HUB_ERR_NOMEM;
	s->pending = true;
	s->pending_due_ms = hc_mono_ms() + h->connect_timeout_ms;
	s->pending_next = NULL;
	s->pending_prev = h->pending_tail;
	if (h->pending_tail)
		h->pending_tail->pending_next = s;
	else
		h->pending_head = s;
	h->pending_tail = s;
	h->npending++;
	hbr_hb__arm(h, s->pending_due_ms); /* ended on time, not at the next walk */
	return HUB_OK;
}

void hbr_pending__del(struct hbr *h, struct hbr_sock *s)
{
	char key[KEY_MAX];

	if (!s->pending)
		return;
	hc_addr_key(s->addr, key, sizeof(key));
	count_add(h, key, -1); /* only frees: cannot fail */
	if (s->pending_prev)
		s->pending_prev->pending_next = s->pending_next;
	else
		h->pending_head = s->pending_next;
	if (s->pending_next)
		s->pending_next->pending_prev = s->pending_prev;
	else
		h->pending_tail = s->pending_prev;
	s->pending_prev = s->pending_next = NULL;
	s->pending = false;
	h->npending--;
}

void hbr_pending__expire(struct hbr *h, int64_t now_ms)
{
	while (h->pending_head && h->pending_head->pending_due_ms <= now_ms) {
		struct hbr_sock *s = h->pending_head;
		h->stats.pending_expired++;
		hc_debug("msg=\"no socket.io connect in time\" sid=%s addr=%s", s->sid, s->addr);
		hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
		hbr_eio__maybe_free(h, s);
	}
}
