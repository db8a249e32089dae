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
	m->len = len;
	if (p)
		memcpy(m->data + LWS_PRE, p, len);
	m->data[LWS_PRE + len] = '\0';
	return m;
}

void hbr_msg__unref(struct hbr_msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}

static int grow(struct hbr_sock *s)
{
	unsigned cap = s->qcap ? s->qcap * 2 : 4;
	struct hbr_msg **q;

	if (cap > HBR_OUTQ_MAX)
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

int hbr_sock__send(struct hbr *h, struct hbr_sock *s, struct hbr_msg *m)
{
	if (s->state != HBR_S_OPEN)
		return 0;
	if (s->qbytes + m->len > h->outq_bytes_max || (s->qlen == s->qcap && grow(s) != HUB_OK)) {
		h->stats.dropped_slow++;
		hc_warn("msg=\"slow consumer: socket dropped\" sid=%s user=%s queued=%u bytes=%zu",
			s->sid, s->user[0] ? s->user : "-", s->qlen, s->qbytes);
		hbr_eio__close(h, s, "network", 0);
		return 1;
	}
	m->refs++;
	s->q[(s->qhead + s->qlen) % s->qcap] = m;
	s->qlen++;
	s->qbytes += m->len;
	if (s->qlen == 1)
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
	return s->qlen ? s->q[s->qhead] : NULL;
}

void hbr_sock__pop(struct hbr_sock *s)
{
	struct hbr_msg *m;
	if (!s->qlen)
		return;
	m = s->q[s->qhead];
	s->qhead = (s->qhead + 1) % s->qcap;
	s->qlen--;
	s->qbytes -= m->len;
	hbr_msg__unref(m);
}

void hbr_sock__queue_free(struct hbr_sock *s)
{
	while (s->qlen)
		hbr_sock__pop(s);
	free(s->q);
	s->q = NULL;
	s->qcap = 0;
	s->qhead = 0;
}
