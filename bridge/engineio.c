/* SPDX-License-Identifier: MIT */
/*
 * Engine.IO v4 sessions: the handshake, packets from the client, the
 * heartbeat (the server pings every pingInterval and ends a session whose
 * pong is not back within pingTimeout), the polling-to-WebSocket upgrade
 * (probe "2probe"/"3probe", the parked GET released with a noop, "5"
 * switches) and the end of a session.
 *
 * A session lives in h->socks from its handshake until it is freed; until
 * its Socket.IO CONNECT is accepted it is also pending (pending.c: a short
 * life and quotas of its own). When it ends it first goes HBR_S_CLOSING:
 * what is queued (a Socket.IO DISCONNECT, the Engine.IO close) is still
 * written, then it is freed when its transports let go or after
 * HBR_CLOSE_FLUSH_MS. A quiet end (HBR_CLOSE_QUIET: the client's protocol
 * error or its own close, an unauthenticated session dropped) writes
 * nothing more unless a polling GET is parked, and frees at once.
 *
 * The heartbeat's deadlines (ping, pong) are served on time by
 * heartbeat.c. The others (a parked GET's liveness, the cookie wait of a
 * polling CONNECT, closing sessions) are kept per session and looked at by
 * one walk every HBR_TICK_MS (hbr_eio__tick): a timer per session would
 * cost a sorted insertion into lws's one timer list each time.
 */
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hbr_sock *hbr_eio__find(struct hbr *h, const char *sid, size_t len)
{
	return hc_hmap_get(&h->socks, sid, len);
}

struct hbr_sock *hbr_eio__by_serial(struct hbr *h, uint64_t serial)
{
	return hc_hmap_get(&h->serials, (const char *)&serial, sizeof(serial));
}

/* refusals a client can cause before logging in: rate-limited lines */
static struct hc_log_limit lim_malformed = HC_LOG_LIMIT("eio_malformed");

int hbr_eio__open(
	struct hbr *h, int transport, const char *cookie, const char *addr, struct hbr_sock **out)
{
	struct hbr_sock *s;

	*out = NULL;
	if (h->stopping)
		return HUB_ERR_BUSY;
	if (hbr_pending__admit(h, addr ? addr : "-"))
		return HUB_ERR_BUSY;
	s = calloc(1, sizeof(*s));
	if (!s)
		return HUB_ERR_NOMEM;
	s->h = h;
	s->state = HBR_S_OPEN;
	s->transport = transport;
	s->current = -1;
	s->created_ms = hc_mono_ms();
	s->serial = ++h->next_serial;
	snprintf(s->cookie, sizeof(s->cookie), "%s", cookie ? cookie : "");
	snprintf(s->addr, sizeof(s->addr), "%s", addr ? addr : "-");
	if (hc_random_token(15, s->sid, sizeof(s->sid)) ||
		hc_random_token(15, s->sock_id, sizeof(s->sock_id)) ||
		hc_hmap_put(&h->socks, s->sid, strlen(s->sid), s, NULL)) {
		free(s);
		return HUB_ERR_NOMEM;
	}
	if (h->sid_tag[0]) {
		/* "<tag>." and the rest of the random sid (at least 13 random
		 * characters, 78 bits, stay): a balancer routes on the tag */
		size_t n = strlen(h->sid_tag);
		hc_hmap_del(&h->socks, s->sid, strlen(s->sid));
		memcpy(s->sid, h->sid_tag, n);
		s->sid[n] = '.';
		if (hc_hmap_get(&h->socks, s->sid, strlen(s->sid)) ||
			hc_hmap_put(&h->socks, s->sid, strlen(s->sid), s, NULL)) {
			free(s);
			return HUB_ERR_NOMEM;
		}
	}
	if (hc_hmap_put(&h->serials, (const char *)&s->serial, sizeof(s->serial), s, NULL)) {
		hc_hmap_del(&h->socks, s->sid, strlen(s->sid));
		free(s);
		return HUB_ERR_NOMEM;
	}
	if (hbr_pending__add(h, s)) {
		hc_hmap_del(&h->serials, (const char *)&s->serial, sizeof(s->serial));
		hc_hmap_del(&h->socks, s->sid, strlen(s->sid));
		free(s);
		return HUB_ERR_NOMEM;
	}
	h->nsocks++;
	hbr_hb__ping_later(h, s);
	hc_debug("msg=\"engine.io open\" sid=%s transport=%s addr=%s", s->sid,
		transport == HBR_T_WS ? "websocket" : "polling", s->addr);
	*out = s;
	return HUB_OK;
}

int hbr_eio__open_packet(struct hbr *h, struct hbr_sock *s, char *out, size_t n)
{
	return hc_fmt(out, n,
		"0{\"sid\":\"%s\",\"upgrades\":[%s],\"pingInterval\":%lld,\"pingTimeout\":%lld,"
		"\"maxPayload\":%lld}",
		s->sid, s->transport == HBR_T_POLLING ? "\"websocket\"" : "",
		(long long)h->ping_interval, (long long)h->ping_timeout, (long long)h->max_payload);
}

void hbr_eio__wake(struct hbr *h, struct hbr_sock *s)
{
	if (s->ws_wsi && (s->transport == HBR_T_WS || s->probe_reply) &&
		!(s->transport == HBR_T_WS && !s->probing && hbr_server__flush_later(h, s)))
		lws_callback_on_writable(s->ws_wsi);
	if (s->poll_wsi && (s->transport == HBR_T_POLLING || s->noop_pending))
		lws_callback_on_writable(s->poll_wsi);
}

/* What one session needs at now: HBR_S_CLOSING sessions return true when
 * they are to be freed (after the walk); others are pinged, or ended. */
static bool tick_one(struct hbr *h, struct hbr_sock *s, int64_t now)
{
	if (s->state == HBR_S_CLOSING) {
		bool idle = !s->ws_wsi && !s->poll_wsi &&
			    (s->transport == HBR_T_WS || !hbr_sock__unwritten(s));
		return idle || now >= s->close_due_ms;
	}
	/* a parked GET on a kept-alive connection: lws reads nothing more
	 * from it until the answer, so a client that went away (tab closed,
	 * network down) is seen only by looking at the socket */
	if (s->poll_wsi && now >= s->poll_check_ms) {
		s->poll_check_ms = now + HBR_POLL_CHECK_MS;
		if (!hbr_server__alive(s->poll_wsi)) {
			hc_debug("msg=\"parked poll connection closed by the client\" sid=%s",
				s->sid);
			hbr_server__kill(s->poll_wsi);
			s->poll_wsi = NULL;
			s->noop_pending = false;
			hbr_eio__poll_lost(s);
		}
	}
	if (s->poll_lost_ms && !s->poll_wsi && now >= s->poll_lost_ms) {
		hc_info("msg=\"polling client gone\" sid=%s user=%s", s->sid,
			s->user[0] ? s->user : "-");
		hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
	} else if (s->connect_wait_ms && now >= s->connect_wait_ms) {
		/* no upgrade came with a cookie: refused as it stands */
		if (hbr_sio__connect_resume(h, s) < 0)
			hbr_eio__close(h, s, "network", 0);
	}
	/* pings and pong deadlines: heartbeat.c, on time */
	return false;
}

struct tick_ud {
	struct hbr *h;
	int64_t now;
	struct hbr_sock *done[256];
	int n;
};

static int tick_cb(void *ud, const char *key, void *value)
{
	struct tick_ud *t = ud;
	(void)key;
	/* closing and pinging leave h->socks alone; frees wait for the end
	 * of the walk */
	if (tick_one(t->h, value, t->now) && t->n < 256)
		t->done[t->n++] = value;
	return 0;
}

void hbr_eio__tick(struct hbr *h)
{
	struct tick_ud t = {.h = h, .now = hc_mono_ms()};

	/* before the walk: it frees sessions */
	hbr_pending__expire(h, t.now);
	hc_hmap_each(&h->socks, tick_cb, &t);
	for (int i = 0; i < t.n; i++) {
		struct hbr_sock *s = t.done[i];
		/* the client did not come for its last packets */
		if (s->ws_wsi) {
			hbr_server__kill(s->ws_wsi);
			s->ws_wsi = NULL;
		}
		if (s->poll_wsi) {
			hbr_server__kill(s->poll_wsi);
			s->poll_wsi = NULL;
		}
		hbr_eio__free(h, s);
	}
}

int hbr_eio__binary(struct hbr *h, struct hbr_sock *s, const void *p, size_t len, bool b64)
{
	unsigned char *raw = NULL;
	int rc;

	if (s->attach_pending <= 0) {
		hc_debug("msg=\"binary message without a binary packet dropped\" sid=%s len=%zu",
			s->sid, len);
		return HBR_PKT_OK;
	}
	if (b64 && s->bin) {
		/* a polling record: "b" + base64 (its size is bounded by the
		 * POST body's, maxPayload) */
		int n;
		raw = malloc(len / 4 * 3 + 3);
		n = raw ? hc_b64_decode(p, len, raw, len / 4 * 3 + 3) : -1;
		if (n < 0) {
			free(raw);
			hc_info("msg=\"bad base64 attachment: session ended\" sid=%s", s->sid);
			hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
			return HBR_PKT_BAD;
		}
		p = raw;
		len = (size_t)n;
	}
	rc = hbr_sio__attachment(h, s, p, len);
	free(raw);
	if (rc == HBR_PKT_BAD && s->state == HBR_S_OPEN) {
		hc_info("msg=\"malformed binary packet: session ended\" sid=%s", s->sid);
		hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
	}
	return rc;
}

int hbr_eio__packet(struct hbr *h, struct hbr_sock *s, const char *p, size_t len, bool via_ws)
{
	int kind = hbr_packet__eio_kind(p, len);

	if (s->state != HBR_S_OPEN) {
		/* an upgrade under way completes, so the last packets go out */
		if (via_ws && s->probing && kind == HBR_EK_UPGRADE) {
			s->probing = false;
			s->transport = HBR_T_WS;
			hbr_eio__wake(h, s);
		}
		return HBR_PKT_ENDED;
	}
	switch (kind) {
	case HBR_EK_MESSAGE:
		return hbr_sio__message(h, s, p + 1, len - 1);
	case HBR_EK_PONG:
		/* a pong with no ping out (a client's own, or a second one)
		 * does not move the next ping nearer */
		if (!s->pong_due_ms)
			return HBR_PKT_OK;
		hbr_hb__ping_later(h, s);
		/* the client read everything written before the ping */
		hbr_sock__confirm(s);
		return HBR_PKT_OK;
	case HBR_EK_PROBE:
		/* only on the probing WebSocket: in v4 the server pings */
		if (!via_ws || !s->probing)
			break;
		hc_debug("msg=\"upgrade probe\" sid=%s get_parked=%d", s->sid, s->poll_wsi != NULL);
		s->probe_reply = true;
		s->probe_seen = true;
		if (s->poll_wsi)
			s->noop_pending = true;
		hbr_eio__wake(h, s);
		return HBR_PKT_OK;
	case HBR_EK_UPGRADE:
		if (!via_ws || !s->probing)
			break;
		s->probing = false;
		s->transport = HBR_T_WS;
		if (s->poll_wsi)
			s->noop_pending = true;
		hc_debug("msg=\"upgraded to websocket\" sid=%s", s->sid);
		hbr_eio__wake(h, s);
		return HBR_PKT_OK;
	case HBR_EK_CLOSE:
		/* the client closed its transport without a Socket.IO
		 * DISCONNECT: as with socket.io ("transport close"), the socket
		 * may come back and recover */
		hbr_eio__close(h, s, "clean",
			HBR_CLOSE_QUIET | HBR_CLOSE_BY_CLIENT | HBR_CLOSE_RECOVERABLE);
		return HBR_PKT_ENDED;
	case HBR_EK_NOOP:
		return HBR_PKT_OK;
	case HBR_EK_BINARY:
		if (via_ws)
			break;
		return hbr_eio__binary(h, s, p + 1, len - 1, true);
	default:
		break;
	}
	hc_log_limited(&lim_malformed, HC_LOG_INFO,
		"msg=\"malformed engine.io packet: session ended\" sid=%s user=%s len=%zu", s->sid,
		s->user[0] ? s->user : "-", len);
	hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
	return HBR_PKT_BAD;
}

void hbr_eio__close(struct hbr *h, struct hbr_sock *s, const char *reason, int flags)
{
	if (s->state != HBR_S_OPEN)
		return;
	s->end_reason = reason;
	hbr_pending__del(h, s);
	hbr_hb__stop(h, s);
	hbr_sio__bin_free(s);
	s->attach_pending = 0;
	/* a transport lost, not an end the client or the hub chose: the
	 * Socket.IO socket may come back (recovery.c), taking its queue */
	if (s->connected && ((flags & HBR_CLOSE_RECOVERABLE) || !strcmp(reason, "network") ||
				    !strcmp(reason, "keepalive")))
		hbr_recovery__detach(h, s, reason);
	if (flags & HBR_CLOSE_QUIET) {
		/* nothing more for the client; a parked GET learns the end at
		 * once (a client's own close gets the noop, as from the Node
		 * server) */
		hbr_sock__queue_free(s);
		s->noop_pending = false;
		/* the client's own close with no GET parked: a GET it sent
		 * before the close may still arrive after it (another
		 * connection); it gets the noop a parked one would have got
		 * (the session waits for it HBR_CLOSE_FLUSH_MS), later requests
		 * 400 */
		if (s->transport == HBR_T_POLLING && (s->poll_wsi || (flags & HBR_CLOSE_BY_CLIENT)))
			hbr_sock__send_text(h, s, flags & HBR_CLOSE_BY_CLIENT ? "6" : "1", 1);
	} else {
		/* a server-initiated end: each namespace socket is told too */
		if (flags & HBR_CLOSE_SIO)
			hbr_nsp__end_all(h, s, true);
		if (s->connected && (flags & HBR_CLOSE_SIO))
			hbr_sock__send_text(h, s, "41", 2);
		if (s->transport == HBR_T_POLLING)
			hbr_sock__send_text(h, s, "1", 1);
	}
	if (s->connected)
		hbr_sio__ended(h, s);
	s->connected = false;
	/* namespace sockets end with the session; nothing waits for answers
	 * any more (a recovered "/" socket gets no old acks, as in socket.io) */
	hbr_nsp__end_all(h, s, false);
	hbr_calls__forget_all(h, s);
	s->connect_wait_ms = 0;
	s->root_wait = false;
	s->state = HBR_S_CLOSING;
	s->close_due_ms = hc_mono_ms() + HBR_CLOSE_FLUSH_MS;
	hc_hmap_del(&h->serials, (const char *)&s->serial, sizeof(s->serial));
	/* a probe the client may still complete stays (see hbr_eio__packet);
	 * one not even started, or of a quiet end, is cut */
	if (s->probing && s->ws_wsi && (!s->probe_seen || (flags & HBR_CLOSE_QUIET))) {
		hbr_server__kill(s->ws_wsi);
		s->ws_wsi = NULL;
		s->probing = false;
	}
	if (s->transport == HBR_T_WS && s->ws_wsi)
		lws_callback_on_writable(s->ws_wsi);
	if (s->transport == HBR_T_POLLING && s->poll_wsi)
		lws_callback_on_writable(s->poll_wsi);
	/* never freed here: callers may still hold s; hbr_eio__tick or
	 * hbr_eio__maybe_free frees it */
}

void hbr_eio__maybe_free(struct hbr *h, struct hbr_sock *s)
{
	if (s->state != HBR_S_CLOSING || s->ws_wsi || s->poll_wsi)
		return;
	/* a polling client may still come for the close packet */
	if (s->transport == HBR_T_POLLING && hbr_sock__unwritten(s) &&
		hc_mono_ms() < s->close_due_ms)
		return;
	hbr_eio__free(h, s);
}

void hbr_eio__poll_lost(struct hbr_sock *s)
{
	/* not while an upgrade is under way (the client pauses polling) */
	if (s->state == HBR_S_OPEN && s->transport == HBR_T_POLLING && !s->probe_seen)
		s->poll_lost_ms = hc_mono_ms() + HBR_POLL_LOST_MS;
}

void hbr_eio__transport_gone(struct hbr *h, struct hbr_sock *s, struct lws *wsi)
{
	if (wsi == s->poll_wsi) {
		/* closed before it was answered */
		s->poll_wsi = NULL;
		s->noop_pending = false;
		hbr_eio__poll_lost(s);
	}
	if (wsi == s->ws_wsi) {
		s->ws_wsi = NULL;
		s->probe_reply = false;
		s->probe_seen = false;
		if (s->probing) {
			s->probing = false; /* the upgrade failed: polling goes on */
		} else if (s->state == HBR_S_OPEN) {
			hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
		}
	}
	hbr_eio__maybe_free(h, s);
}

void hbr_eio__free(struct hbr *h, struct hbr_sock *s)
{
	hbr_pending__del(h, s);
	hbr_hb__stop(h, s);
	if (s->state == HBR_S_OPEN) {
		s->end_reason = s->end_reason ? s->end_reason : "network";
		if (s->connected)
			hbr_sio__ended(h, s);
		hbr_nsp__end_all(h, s, false);
		hbr_calls__forget_all(h, s);
		hc_hmap_del(&h->serials, (const char *)&s->serial, sizeof(s->serial));
	}
	if (s->ws_wsi)
		hbr_server__kill(s->ws_wsi);
	if (s->poll_wsi)
		hbr_server__kill(s->poll_wsi);
	hc_hmap_del(&h->socks, s->sid, strlen(s->sid));
	hbr_sock__queue_free(s);
	hbr_sio__bin_free(s);
	h->nsocks--;
	hc_debug("msg=\"engine.io session freed\" sid=%s", s->sid);
	free(s);
}
