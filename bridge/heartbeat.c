/* SPDX-License-Identifier: MIT */
/*
 * The Engine.IO heartbeat on time: the server pings each session
 * sio_ping_interval after its handshake and after each pong, and ends a
 * session whose pong is not back sio_ping_timeout after the ping. The
 * client is told both values in the open packet and checks the server by
 * them (socket.io-client closes a connection that sent no ping within
 * pingInterval + pingTimeout), and the official engine.io-protocol test
 * suite checks the server with 300 / 200 ms: a server that pings or ends
 * sessions 100 ms late does not do what it announced.
 *
 * Each deadline is "now + one constant of the process", so the sessions
 * waiting for their ping, and those waiting for their pong, are two FIFOs
 * ordered by deadline: entering, leaving and expiring cost O(1), and one
 * lws timer, armed at the earliest head, serves both (and the pending
 * set's CONNECT deadlines, pending.c, a FIFO of the same kind). The timer
 * is armed on a grid of HBR_HB_GRAIN_MS, so any number of sessions costs
 * at most 1000 / HBR_HB_GRAIN_MS timer insertions a second (each near the
 * head of lws's sorted timer list: the heartbeat's deadlines are the
 * nearest ones).
 *
 * A request for a session whose deadline passed ends it then, whether the
 * timer came already or not (hbr_hb__overdue): a loaded machine may run
 * the timer late, but never lets a client use a session past its end.
 *
 * A session whose pong is late ends quietly, as the Node server ends it:
 * nothing more is written to it and a later request with its sid finds no
 * session (400 "Session ID unknown"); its "/" socket may still recover
 * (recovery.c).
 */
#include "hbr.h"
#include "hc_log.h"
#include "hc_util.h"

static void unlink_hb(struct hbr *h, struct hbr_sock *s)
{
	int l;

	if (s->hb_list == HBR_HB_NONE)
		return;
	l = s->hb_list - 1;
	if (s->hb_prev)
		s->hb_prev->hb_next = s->hb_next;
	else
		h->hb_head[l] = s->hb_next;
	if (s->hb_next)
		s->hb_next->hb_prev = s->hb_prev;
	else
		h->hb_tail[l] = s->hb_prev;
	s->hb_prev = s->hb_next = NULL;
	s->hb_list = HBR_HB_NONE;
}

/* s enters list (its deadline is the latest of it: now + a constant). */
static void append(struct hbr *h, struct hbr_sock *s, int list)
{
	int l = list - 1;

	unlink_hb(h, s);
	s->hb_list = list;
	s->hb_next = NULL;
	s->hb_prev = h->hb_tail[l];
	if (h->hb_tail[l])
		h->hb_tail[l]->hb_next = s;
	else
		h->hb_head[l] = s;
	h->hb_tail[l] = s;
}

static void fire(lws_sorted_usec_list_t *sul);

void hbr_hb__arm(struct hbr *h, int64_t due_ms)
{
	int64_t now = hc_mono_ms(), at;

	/* on the grid: deadlines close together share one firing */
	at = (due_ms + HBR_HB_GRAIN_MS - 1) / HBR_HB_GRAIN_MS * HBR_HB_GRAIN_MS;
	if (h->hb_armed_ms && h->hb_armed_ms <= at)
		return;
	h->hb_armed_ms = at;
	lws_sul_schedule(
		h->lws, 0, &h->sul_hb, fire, (lws_usec_t)(at > now ? at - now : 0) * LWS_US_PER_MS);
}

/* A deadline d ms after now, never early: the clock's milliseconds are
 * truncated, so "now" may be most of a millisecond ago already. */
static int64_t after(int64_t now, int64_t d)
{
	return now + d + 1;
}

void hbr_hb__ping_later(struct hbr *h, struct hbr_sock *s)
{
	s->pong_due_ms = 0;
	s->ping_due_ms = after(hc_mono_ms(), h->ping_interval);
	append(h, s, HBR_HB_PING);
	hbr_hb__arm(h, s->ping_due_ms);
}

void hbr_hb__stop(struct hbr *h, struct hbr_sock *s)
{
	unlink_hb(h, s);
	s->ping_due_ms = 0;
	s->pong_due_ms = 0;
}

static void ping_timeout(struct hbr *h, struct hbr_sock *s)
{
	unlink_hb(h, s);
	s->pong_due_ms = 0;
	hc_info("msg=\"ping timeout\" sid=%s user=%s", s->sid, s->user[0] ? s->user : "-");
	hbr_eio__close(h, s, "keepalive", HBR_CLOSE_QUIET);
	hbr_eio__maybe_free(h, s);
}

bool hbr_hb__overdue(struct hbr *h, struct hbr_sock *s)
{
	int64_t now = hc_mono_ms();

	if (s->state != HBR_S_OPEN)
		return false;
	if (s->pong_due_ms && now >= s->pong_due_ms) {
		ping_timeout(h, s);
		return true;
	}
	if (s->pending && now >= s->pending_due_ms) {
		/* a FIFO by deadline: s goes, with any due before it */
		hbr_pending__expire(h, now);
		return true;
	}
	return false;
}

static void fire(lws_sorted_usec_list_t *sul)
{
	struct hbr *h = lws_container_of(sul, struct hbr, sul_hb);
	int64_t now = hc_mono_ms(), next = 0;
	struct hbr_sock *s;

	h->hb_armed_ms = 0;
	/* pong deadlines first: a session that timed out gets no new ping */
	while ((s = h->hb_head[HBR_HB_PONG - 1]) != NULL && s->pong_due_ms <= now)
		ping_timeout(h, s);
	while ((s = h->hb_head[HBR_HB_PING - 1]) != NULL && s->ping_due_ms <= now) {
		s->ping_due_ms = 0;
		s->pong_due_ms = after(now, h->ping_timeout);
		append(h, s, HBR_HB_PONG);
		/* its pong confirms all written before it (recovery); a send
		 * that fails ended the session, which left the list */
		if (!hbr_sock__send_text(h, s, "2", 1))
			s->ping_mark = s->qpushed;
	}
	hbr_pending__expire(h, now);
	if (h->stopping)
		return; /* the sweep ends what is left */
	for (int l = 0; l < 2; l++) {
		s = h->hb_head[l];
		if (s) {
			int64_t due = l == HBR_HB_PING - 1 ? s->ping_due_ms : s->pong_due_ms;
			if (!next || due < next)
				next = due;
		}
	}
	if (h->pending_head && (!next || h->pending_head->pending_due_ms < next))
		next = h->pending_head->pending_due_ms;
	if (next)
		hbr_hb__arm(h, next);
}
