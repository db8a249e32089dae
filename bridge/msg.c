/* SPDX-License-Identifier: MIT */
/*
 * Shared outgoing packets and the per-socket output queue. A room event is
 * encoded once into a reference-counted hbr_msg; every socket it goes to
 * holds a pointer in its ring. A socket whose queue passes its limits (a
 * client that does not read) is ended: memory never grows without bound
 * for a slow consumer.
 */
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"

#include <stdlib.h>
#include <string.h>

struct hbr_msg *hbr_msg__new(const void *p, size_t len)
{
	struct hbr_msg *m = malloc(sizeof(*m) + LWS_PRE + len + 1);
	if (!m)
		return NULL;
	m->refs = 1;
	m->binary = false;
	m->seq = 0;
	m->topic = NULL;
	m->len = len;
	if (p && len)
		memcpy(m->data + LWS_PRE, p, len);
	m->data[LWS_PRE + len] = '\0';
	return m;
}

void hbr_msg__unref(struct hbr_msg *m)
{
	if (m && --m->refs == 0) {
		free(m->topic);
		free(m);
	}
}

static int grow(struct hbr_sock *s, unsigned max)
{
	unsigned cap = s->qcap ? s->qcap * 2 : 4;
	struct hbr_msg **q;

	if (cap > max)
		return HUB_ERR_TOOBIG;
	q = malloc(cap * sizeof(*q));
	if (!q)
		return HUB_ERR_NOMEM;
	for (unsigned i = 0; i < s->qlen; i++)
		q[i] = s->q[(s->qhead + i) % s->qcap];
	free(s->q);
	s->q = q;
	s->qcap = cap;
	s->qhead = 0;
	return HUB_OK;
}

/* Release the oldest entry (kept or not). */
static void release_head(struct hbr_sock *s)
{
	struct hbr_msg *m = s->q[s->qhead];
	s->qhead = (s->qhead + 1) % s->qcap;
	s->qlen--;
	s->qbase++;
	if (s->qsent) {
		s->qsent--;
		s->kept_bytes -= m->len;
	} else {
		s->qbytes -= m->len;
	}
	hbr_msg__unref(m);
}

/* Kept entries within the recovery bounds: the oldest go first, and a
 * recovery from before them is no longer possible (rec_lost). */
static void trim_kept(struct hbr *h, struct hbr_sock *s)
{
	while (s->qsent &&
		((int64_t)s->qsent > h->rec_max_events || s->kept_bytes > h->rec_max_bytes)) {
		struct hbr_msg *m = s->q[s->qhead];
		if (m->seq > s->rec_lost)
			s->rec_lost = m->seq;
		release_head(s);
	}
}

static void push(struct hbr_sock *s, struct hbr_msg *m)
{
	m->refs++;
	s->q[(s->qhead + s->qlen) % s->qcap] = m;
	s->qlen++;
	s->qpushed++;
}

/* A detached record keeps what it misses, within the recovery bounds;
 * past them it can never recover and is dropped. */
static int send_detached(struct hbr *h, struct hbr_sock *s, struct hbr_msg *m)
{
	if (!m->seq)
		return 0; /* nothing to replay (acks, pings) */
	if ((int64_t)s->qlen + 1 > h->rec_max_events || s->kept_bytes + m->len > h->rec_max_bytes ||
		(s->qlen == s->qcap && grow(s, HBR_OUTQ_MAX * 2) != HUB_OK)) {
		hbr_recovery__drop(h, s, "over-bounds");
		return 1;
	}
	push(s, m);
	s->qsent++; /* all of a record counts as kept */
	s->kept_bytes += m->len;
	return 0;
}

int hbr_sock__send(struct hbr *h, struct hbr_sock *s, struct hbr_msg *m)
{
	unsigned unwritten;

	if (s->state == HBR_S_DETACHED)
		return send_detached(h, s, m);
	if (s->state != HBR_S_OPEN)
		return 0;
	unwritten = s->qlen - s->qsent;
	if (s->qbytes + m->len > h->outq_bytes_max || unwritten >= HBR_OUTQ_MAX ||
		(s->qlen == s->qcap && grow(s, HBR_OUTQ_MAX * 2) != HUB_OK)) {
		h->stats.dropped_slow++;
		hc_warn("msg=\"slow consumer: socket dropped\" sid=%s user=%s queued=%u bytes=%zu",
			s->sid, s->user[0] ? s->user : "-", unwritten, s->qbytes);
		hbr_eio__close(h, s, "network", 0);
		return 1;
	}
	push(s, m);
	s->qbytes += m->len;
	if (unwritten == 0)
		hbr_eio__wake(h, s);
	return 0;
}

int hbr_sock__send_text(struct hbr *h, struct hbr_sock *s, const char *p, size_t len)
{
	struct hbr_msg *m = hbr_msg__new(p, len);
	int rc;
	if (!m) {
		hbr_eio__close(h, s, "network", 0);
		return 1;
	}
	rc = hbr_sock__send(h, s, m);
	hbr_msg__unref(m);
	return rc;
}

struct hbr_msg *hbr_sock__peek(struct hbr_sock *s)
{
	return s->qsent < s->qlen ? s->q[(s->qhead + s->qsent) % s->qcap] : NULL;
}

void hbr_sock__pop(struct hbr_sock *s)
{
	struct hbr *h = s->h;
	struct hbr_msg *m;

	if (s->qsent >= s->qlen)
		return;
	/* kept until a pong confirms it, while the socket may recover */
	if (h->rec_ms && s->connected && s->pid[0]) {
		m = s->q[(s->qhead + s->qsent) % s->qcap];
		s->qsent++;
		s->qbytes -= m->len;
		s->kept_bytes += m->len;
		trim_kept(h, s);
		return;
	}
	while (s->qsent)
		release_head(s);
	release_head(s);
}

void hbr_sock__confirm(struct hbr_sock *s)
{
	while (s->qsent && s->qbase < s->ping_mark)
		release_head(s);
}

void hbr_sock__queue_free(struct hbr_sock *s)
{
	while (s->qlen)
		release_head(s);
	free(s->q);
	s->q = NULL;
	s->qcap = 0;
	s->qhead = 0;
	s->qsent = 0;
	s->qbytes = 0;
	s->kept_bytes = 0;
}
