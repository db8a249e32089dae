/* SPDX-License-Identifier: MIT */
/*
 * Connection state recovery, as Socket.IO 4.6+ does it with
 * connectionStateRecovery: a socket whose transport dropped comes back
 * within sio_recovery_s with `socket.recovered` true, its id and rooms,
 * and the events it missed, in order, none twice.
 *
 * - Every socket gets a private id (pid, 120 random bits) in its CONNECT
 *   answer; every room, notice and inbox event carries an offset (the
 *   gateway's delivery counter) as its last argument, which the client
 *   keeps and sends back with the pid in its next CONNECT's auth.
 * - What a socket was sent stays in its queue until a pong confirms the
 *   client had it (msg.c: over WebSocket and polling alike the client
 *   answers a ping after everything written before it), so what the
 *   network lost when the transport died is still there.
 * - When the transport drops (presence reason network or keepalive), the
 *   socket's Socket.IO half becomes a detached record: same rooms, same
 *   user, its queue, and it goes on receiving what its rooms and inbox
 *   get, within sio_recovery_max_events / sio_recovery_max_bytes. Its
 *   presence is detached at once, as for any drop (the plugin's grace
 *   window decides about left/joined notices).
 * - A CONNECT whose auth carries the pid, authenticated as the same user
 *   (cookie or token, checked as for any CONNECT), takes the record over:
 *   the same socket id, its rooms, and every kept event after the offset
 *   it names. Another user presenting the pid gets a new connection
 *   (and the record stays for its owner). After the window, past the
 *   bounds, or when events after the offset were released unconfirmed,
 *   the CONNECT is a new connection (recovered false).
 *
 * Bounds: a record holds at most sio_recovery_max_events events and
 * sio_recovery_max_bytes (packets are shared, so that is what it keeps
 * alive, not copies), lives sio_recovery_s, and a user has at most
 * HBR_REC_PER_USER of them; all of them together at most sio_max_sockets
 * (the oldest goes first). A record ends when its session ends (logout,
 * revocation) like a live socket.
 */
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int hbr_recovery__pid(struct hbr *h, struct hbr_sock *s)
{
	if (!h->rec_ms)
		return HUB_OK;
	if (hc_random_token(15, s->pid, sizeof(s->pid)) ||
		hc_hmap_put(&h->pids, s->pid, strlen(s->pid), s, NULL)) {
		s->pid[0] = '\0';
		return HUB_ERR_NOMEM;
	}
	return HUB_OK;
}

void hbr_recovery__forget(struct hbr *h, struct hbr_sock *s)
{
	if (s->pid[0] && hc_hmap_get(&h->pids, s->pid, strlen(s->pid)) == s)
		hc_hmap_del(&h->pids, s->pid, strlen(s->pid));
	s->pid[0] = '\0';
}

static void fifo_del(struct hbr *h, struct hbr_sock *r)
{
	if (r->rec_prev)
		r->rec_prev->rec_next = r->rec_next;
	else if (h->rec_head == r)
		h->rec_head = r->rec_next;
	if (r->rec_next)
		r->rec_next->rec_prev = r->rec_prev;
	else if (h->rec_tail == r)
		h->rec_tail = r->rec_prev;
	r->rec_prev = r->rec_next = NULL;
}

void hbr_recovery__drop(struct hbr *h, struct hbr_sock *r, const char *why)
{
	char tag[9];
	if (r->state != HBR_S_DETACHED)
		return;
	hc_log_fingerprint(r->pid, strlen(r->pid), tag);
	hc_info("%s/%s | recovery | dropped reason=%s pid=%s kept=%u", r->sock_id, r->user, why,
		tag, r->qlen);
	h->stats.rec_dropped++;
	hbr_rooms__leave_all(h, r);
	hbr_users__del(h, r);
	hbr_recovery__forget(h, r);
	hc_hmap_del(&h->serials, (const char *)&r->serial, sizeof(r->serial));
	fifo_del(h, r);
	h->ndetached--;
	hbr_sock__queue_free(r);
	/* callers (a fan-out, an inbox walk) may still hold r: freed on the
	 * next tick */
	r->state = HBR_S_CLOSING;
	r->rec_next = h->rec_dead;
	h->rec_dead = r;
}

/* Room for one more record of user: within HBR_REC_PER_USER for the user
 * and sio_max_sockets in all (the oldest go). */
static void make_room(struct hbr *h, const char *user)
{
	struct hbr_sock *oldest = NULL;
	int n = 0;

	for (struct hbr_sock *x = hc_hmap_get(&h->users, user, strlen(user)); x; x = x->user_next)
		if (x->state == HBR_S_DETACHED) {
			n++;
			if (!oldest || x->detached_ms < oldest->detached_ms)
				oldest = x;
		}
	if (n >= HBR_REC_PER_USER && oldest)
		hbr_recovery__drop(h, oldest, "per-user-limit");
	while (h->ndetached >= h->max_sockets && h->rec_head)
		hbr_recovery__drop(h, h->rec_head, "limit");
}

bool hbr_recovery__detach(struct hbr *h, struct hbr_sock *s, const char *reason)
{
	struct hbr_sock *r;
	char tag[9];

	if (!h->rec_ms || !s->connected || h->stopping || !s->pid[0])
		return false;
	make_room(h, s->user);
	r = calloc(1, sizeof(*r));
	if (!r)
		return false;
	r->h = h;
	r->state = HBR_S_DETACHED;
	r->serial = ++h->next_serial;
	r->detached_ms = hc_mono_ms();
	r->current = -1;
	memcpy(r->sock_id, s->sock_id, sizeof(r->sock_id));
	memcpy(r->pid, s->pid, sizeof(r->pid));
	memcpy(r->user, s->user, sizeof(r->user));
	memcpy(r->session, s->session, sizeof(r->session));
	memcpy(r->addr, s->addr, sizeof(r->addr));
	memcpy(r->sid, s->sid, sizeof(r->sid));
	r->session_seen = s->session_seen;
	r->auth_ms = s->auth_ms;
	if (hc_hmap_put(&h->serials, (const char *)&r->serial, sizeof(r->serial), r, NULL)) {
		free(r);
		return false;
	}
	if (hbr_users__add(h, r)) {
		hc_hmap_del(&h->serials, (const char *)&r->serial, sizeof(r->serial));
		free(r);
		return false;
	}
	hbr_users__del(h, s);
	hbr_rooms__move(s, r);
	/* the queue: what was written but not confirmed, and what was not
	 * written; all of it is kept (only deliveries are replayed) */
	r->q = s->q;
	r->qhead = s->qhead;
	r->qlen = s->qlen;
	r->qcap = s->qcap;
	r->qsent = s->qlen;
	r->kept_bytes = s->kept_bytes + s->qbytes;
	r->qbase = s->qbase;
	r->qpushed = s->qpushed;
	r->rec_lost = s->rec_lost;
	s->q = NULL;
	s->qlen = s->qcap = s->qhead = s->qsent = 0;
	s->qbytes = s->kept_bytes = 0;
	hc_hmap_put(&h->pids, r->pid, strlen(r->pid), r, NULL);
	s->pid[0] = '\0';
	r->rec_prev = h->rec_tail;
	if (h->rec_tail)
		h->rec_tail->rec_next = r;
	else
		h->rec_head = r;
	h->rec_tail = r;
	h->ndetached++;
	h->nauth--;
	s->connected = false;
	h->stats.rec_detached++;
	/* within the record's bounds from the start (what it kept may be
	 * more than a record holds) */
	while (r->qlen &&
		((int64_t)r->qlen > h->rec_max_events || r->kept_bytes > h->rec_max_bytes)) {
		struct hbr_msg *m = r->q[r->qhead];
		if (m->seq > r->rec_lost)
			r->rec_lost = m->seq;
		r->qhead = (r->qhead + 1) % r->qcap;
		r->qlen--;
		r->qsent--;
		r->qbase++;
		r->kept_bytes -= m->len;
		hbr_msg__unref(m);
	}
	hbr_presence__detach(h, s, reason);
	hc_log_fingerprint(r->pid, strlen(r->pid), tag);
	hc_info("%s/%s | disconnect | reason=%s recoverable=%llds pid=%s rooms=%d kept=%u",
		r->sock_id, r->user, reason, (long long)(h->rec_ms / 1000), tag, r->njoins,
		r->qlen);
	return true;
}

static bool parse_offset(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;
	if (!s[0] || strlen(s) >= HBR_OFFSET_MAX || s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

struct hbr_sock *hbr_recovery__claim(
	struct hbr *h, struct hbr_sock *s, const char *pid, const char *offset, uint64_t *after)
{
	struct hbr_sock *r;
	size_t n = pid ? strlen(pid) : 0;
	uint64_t off = 0;
	char tag[9];

	*after = 0;
	if (!h->rec_ms || !n || n > HBR_ID_LEN)
		return NULL;
	hc_log_fingerprint(pid, n, tag);
	r = hc_hmap_get(&h->pids, pid, n);
	if (!r || r == s || !hc_ct_streq(r->pid, pid)) {
		h->stats.rec_refused++;
		hc_info("%s/%s | recovery | refused reason=unknown-pid pid=%s", s->sock_id, s->user,
			tag);
		return NULL;
	}
	if (strcmp(r->user, s->user) != 0) {
		/* another user's pid: never theirs; the record stays its owner's */
		h->stats.rec_refused++;
		hc_warn("%s/%s | recovery | refused reason=other-user pid=%s addr=%s", s->sock_id,
			s->user, tag, s->addr);
		return NULL;
	}
	if (offset && !parse_offset(offset, &off)) {
		h->stats.rec_refused++;
		hc_info("%s/%s | recovery | refused reason=bad-offset pid=%s", s->sock_id, s->user,
			tag);
		return NULL;
	}
	if (r->state == HBR_S_OPEN && r->connected) {
		/* its old transport is not known dead yet (the client noticed
		 * first): the same user, with the pid, says it is */
		hbr_eio__close(h, r, "network", HBR_CLOSE_QUIET);
		r = hc_hmap_get(&h->pids, pid, n);
	}
	if (!r || r->state != HBR_S_DETACHED) {
		h->stats.rec_refused++;
		return NULL;
	}
	if (off < r->rec_lost) {
		/* events after the client's offset were released before it
		 * confirmed them: replaying the rest would leave a gap */
		h->stats.rec_refused++;
		hbr_recovery__drop(h, r, "gap");
		return NULL;
	}
	/* s takes the record's place: its id and rooms */
	memcpy(s->sock_id, r->sock_id, sizeof(s->sock_id));
	hbr_rooms__move(r, s);
	hbr_users__del(h, r);
	hc_hmap_put(&h->pids, r->pid, strlen(r->pid), s, NULL);
	memcpy(s->pid, r->pid, sizeof(s->pid));
	*after = off;
	return r;
}

int hbr_recovery__replay(struct hbr *h, struct hbr_sock *s, struct hbr_sock *r, uint64_t after)
{
	uint64_t denied = 0;
	int n = 0;

	for (unsigned i = 0; i < r->qlen && s->state == HBR_S_OPEN; i++) {
		struct hbr_msg *m = r->q[(r->qhead + i) % r->qcap];
		if (m->seq <= after || m->seq == denied)
			continue;
		if (!m->binary) {
			/* READ again, now: a room revoked while the socket was
			 * away gives nothing more (its attachments follow it) */
			struct hc_acl_decision d = {.explain = false};
			if (m->topic)
				hc_acl_check(h->dir, s->user, m->topic, strlen(m->topic),
					HC_ACL_READ, &d);
			if (!m->topic || !d.allow) {
				denied = m->seq;
				continue;
			}
			n++;
		}
		if (hbr_sock__send(h, s, m))
			break;
	}
	/* the record is gone: s is the socket now */
	hc_hmap_del(&h->serials, (const char *)&r->serial, sizeof(r->serial));
	fifo_del(h, r);
	h->ndetached--;
	hbr_sock__queue_free(r);
	free(r);
	h->stats.rec_recovered++;
	h->stats.rec_replayed += (uint64_t)n;
	return n;
}

void hbr_recovery__tick(struct hbr *h, int64_t now_ms)
{
	while (h->rec_head && now_ms - h->rec_head->detached_ms >= h->rec_ms)
		hbr_recovery__drop(h, h->rec_head, "window-over");
	while (h->rec_dead) {
		struct hbr_sock *r = h->rec_dead;
		h->rec_dead = r->rec_next;
		free(r);
	}
}

void hbr_recovery__free_all(struct hbr *h)
{
	while (h->rec_head) {
		struct hbr_sock *r = h->rec_head;
		hbr_rooms__leave_all(h, r);
		hbr_users__del(h, r);
		hbr_recovery__forget(h, r);
		hc_hmap_del(&h->serials, (const char *)&r->serial, sizeof(r->serial));
		fifo_del(h, r);
		h->ndetached--;
		hbr_sock__queue_free(r);
		free(r);
	}
	hbr_recovery__tick(h, INT64_MIN);
}
