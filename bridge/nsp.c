/* SPDX-License-Identifier: MIT */
/*
 * Service namespaces (CONTRACT.md "Backends"): the namespace "/{service}"
 * is that service. `const shop = io(url + '/shop')` connects a socket of
 * it on the Engine.IO session (socket.io-client multiplexes it with the
 * "/" socket of the same URL), and each event with an ack is a call:
 *
 *   shop.emitWithAck('order', {...})
 *     -> publish svc/shop/order/{user}, Response Topic
 *        users/{user}/reply/{tag}, Correlation Data (calls.c)
 *     <- the service's answer: the ack's argument, as the service wrote it
 *        {"ok":false,"error":"unavailable"} no process of the service
 *        {"ok":false,"error":"timeout"} no answer within call_timeout_ms
 *
 * An event without an ack is published the same way without a Response
 * Topic (the service's handler runs; its answer goes nowhere).
 *
 * A CONNECT is decided like the one of "/": authenticated by its own
 * `auth.token` or the session's cookie, and, when the session has a
 * connected socket already, by that socket's user (one user per
 * session: a token of another user is refused). Then the namespace must
 * name a service of the directory: "Invalid namespace" otherwise, as
 * socket.io answers for a namespace it has no handlers for. A session
 * connects at most HBR_NSP_MAX namespaces; every socket counts against
 * sio_max_sockets. Namespace sockets have no rooms and no presence (a
 * caller is not in a room for being one), no recovery (a call in flight
 * is the caller's to retry); they end with their session, or with their
 * own DISCONNECT, which forgets their calls in flight.
 */
#include "args.h"
#include "buf.h"
#include "decode.h"
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOPIC_MAX 320

/* "/shop" -> "shop" when it is a name. */
static bool service_of(const char *nsp, size_t len, const char **name, size_t *nlen)
{
	if (len < 2 || nsp[0] != '/' || !hc_name_valid_n(nsp + 1, len - 1))
		return false;
	*name = nsp + 1;
	*nlen = len - 1;
	return true;
}

static struct hbr_nsp *slot_of(struct hbr_sock *s, const char *name, size_t len)
{
	for (int i = 0; s->nsps && i < HBR_NSP_MAX; i++)
		if (s->nsps[i].name[0] && strlen(s->nsps[i].name) == len &&
			!memcmp(s->nsps[i].name, name, len))
			return &s->nsps[i];
	return NULL;
}

struct hbr_nsp *hbr_nsp__find(struct hbr_sock *s, const char *nsp, size_t len)
{
	const char *name;
	size_t nlen;
	struct hbr_nsp *n;
	if (!service_of(nsp, len, &name, &nlen))
		return NULL;
	n = slot_of(s, name, nlen);
	return n && n->connected ? n : NULL;
}

struct hbr_nsp *hbr_nsp__by_gen(struct hbr_sock *s, uint64_t gen)
{
	for (int i = 0; s->nsps && i < HBR_NSP_MAX; i++)
		if (s->nsps[i].name[0] && s->nsps[i].gen == gen)
			return &s->nsps[i];
	return NULL;
}

/* CONNECT_ERROR of namespace "/name" with message. */
static int connect_error(
	struct hbr *h, struct hbr_sock *s, const char *nsp, size_t len, const char *message)
{
	struct hbr_buf b;
	int rc;
	hbr_buf__init(&b, 512);
	hbr_buf__puts(&b, "44");
	hbr_buf__put(&b, nsp, len);
	hbr_buf__puts(&b, ",{\"message\":");
	hbr_buf__json_str(&b, message, strlen(message));
	hbr_buf__put(&b, "}", 1);
	rc = b.err ? -1 : hbr_sock__send_text(h, s, b.p, b.len);
	hbr_buf__free(&b);
	return rc ? -1 : 0;
}

static void slot_free(struct hbr_nsp *n)
{
	memset(n, 0, sizeof(*n));
}

/* refused connects come from unauthenticated clients: rate-limited */
static struct hc_log_limit lim_denied = HC_LOG_LIMIT("sio_nsp_denied");

/*
 * Decide the CONNECT of slot n (name set, not connected): token (may be
 * NULL) as its auth. 0 (accepted or refused: the slot is then free), -1
 * the session ended.
 */
static int decide(struct hbr *h, struct hbr_sock *s, struct hbr_nsp *n, const char *token)
{
	char nsp[HC_NAME_MAX + 2];
	const struct hc_dir_principal *svc;
	const char *why = NULL;
	bool fresh = !hbr_sio__live(s); /* this CONNECT authenticates the session */
	char out[128];
	int rc;

	n->waiting = false;
	hc_fmt(nsp, sizeof(nsp), "/%s", n->name);
	if (fresh) {
		rc = hbr_auth__connect(h, s, token, token ? strlen(token) : 0, &why);
	} else if (token) {
		/* the session is someone already: its sockets are one user */
		char user[HC_NAME_MAX + 1], sid[HC_TOKEN_SID_MAX + 1];
		bool seen;
		rc = hbr_auth__resolve(h, NULL, token, strlen(token), user, sid, &seen, &why);
		if (!rc && strcmp(user, s->user) != 0) {
			rc = HUB_ERR_AUTH;
			why = "another-user";
		}
	} else {
		rc = HUB_OK;
	}
	if (rc) {
		h->stats.connects_denied++;
		hc_log_limited(&lim_denied, HC_LOG_INFO,
			"%s/%s | connect | denied nsp=%s reason=%s via=%s addr=%s", s->sock_id,
			fresh || !s->user[0] ? "-" : s->user, nsp, why ? why : hub_strerror(rc),
			token ? "token" : "cookie", s->addr);
		if (fresh) {
			s->user[0] = '\0';
			s->session[0] = '\0';
		}
		slot_free(n);
		if (connect_error(h, s, nsp, strlen(nsp), "unauthorized"))
			return -1;
		if (++s->connect_tries >= HBR_CONNECT_TRIES) {
			hc_info("msg=\"too many refused connects: session ended\" sid=%s addr=%s",
				s->sid, s->addr);
			hbr_eio__close(h, s, "network", 0);
			return -1;
		}
		return 0;
	}
	/* after the credentials: who is not logged in learns nothing about
	 * which services exist */
	svc = hc_dir_principal(h->dir, n->name, strlen(n->name));
	if (!svc || svc->kind != HC_KIND_SERVICE) {
		hc_log_limited(&lim_denied, HC_LOG_INFO,
			"%s/%s | connect | refused nsp=%s reason=invalid-namespace", s->sock_id,
			s->user, nsp);
		if (fresh) {
			s->user[0] = '\0';
			s->session[0] = '\0';
		}
		slot_free(n);
		return connect_error(h, s, nsp, strlen(nsp), "Invalid namespace");
	}
	if (h->nauth + h->nnsp >= h->max_sockets) {
		h->stats.full_refused++;
		hc_warn("%s/%s | connect | refused nsp=%s reason=server-full max=%lld addr=%s",
			s->sock_id, s->user, nsp, (long long)h->max_sockets, s->addr);
		if (fresh) {
			s->user[0] = '\0';
			s->session[0] = '\0';
		}
		slot_free(n);
		return connect_error(h, s, nsp, strlen(nsp), "server full");
	}
	if (hc_random_token(15, n->id, sizeof(n->id))) {
		slot_free(n);
		return connect_error(h, s, nsp, strlen(nsp), "internal");
	}
	n->gen = ++h->next_serial;
	n->connected = true;
	n->calls = 0;
	s->nsp_connected++;
	h->nnsp++;
	if (fresh)
		hbr_sio__authenticated(h, s);
	hc_fmt(out, sizeof(out), "40%s,{\"sid\":\"%s\"}", nsp, n->id);
	rc = hbr_sock__send_text(h, s, out, strlen(out));
	{
		char tag[9];
		hc_log_fingerprint(s->session, strlen(s->session), tag);
		hc_info("%s/%s | connect | ok kind=socket.io nsp=%s via=%s session=%s", n->id,
			s->user, nsp,
			token	? "token"
			: fresh ? "cookie"
				: "session",
			tag);
	}
	return rc || s->state != HBR_S_OPEN ? -1 : 0;
}

int hbr_nsp__connect(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p)
{
	struct hbr_sio_connect c;
	const char *test = NULL;
	struct hbr_nsp *n = NULL;
	const char *name;
	size_t nlen;
	int rc;

	if (!service_of(p->nsp, p->nsplen, &name, &nlen)) {
		/* not even a name: no service can be called that. The answer
		 * names the namespace as the client wrote it (socket.io-client
		 * matches it), if it is printable ASCII; other bytes get none */
		for (size_t i = 0; i < p->nsplen; i++)
			if (p->nsp[i] < 0x20 || p->nsp[i] > 0x7e)
				return 0;
		return connect_error(h, s, p->nsp, p->nsplen, "Invalid namespace");
	}
	if (slot_of(s, name, nlen))
		return 0; /* connected already, or about to be */
	if (hbr_decode__connect(p, &c))
		return 1;
	for (int i = 0; i < HBR_NSP_MAX; i++) {
		if (!s->nsps && !(s->nsps = calloc(HBR_NSP_MAX, sizeof(*s->nsps)))) {
			hbr_decode__connect_free(&c);
			return connect_error(h, s, p->nsp, p->nsplen, "internal");
		}
		if (!s->nsps[i].name[0]) {
			n = &s->nsps[i];
			break;
		}
	}
	if (!n) {
		hbr_decode__connect_free(&c);
		hc_info("%s/%s | connect | refused nsp=%.*s reason=too-many-namespaces max=%d",
			s->sock_id, s->user[0] ? s->user : "-", (int)p->nsplen, p->nsp,
			HBR_NSP_MAX);
		return connect_error(h, s, p->nsp, p->nsplen, "too many namespaces");
	}
	memcpy(n->name, name, nlen);
	n->name[nlen] = '\0';
	/* TEST ONLY (sio_test_anonymous_token, auth.c): no credentials at
	 * all, from this host */
	if (!c.token && !s->cookie[0] && !hbr_sio__live(s))
		test = hbr_auth__test_token(h, s);
	/* as for "/": over polling with neither token nor cookie, a moment
	 * for the WebSocket upgrade that brings the browser's cookie */
	if (!c.token && !test && !s->cookie[0] && !hbr_sio__live(s) &&
		s->transport == HBR_T_POLLING && !s->probe_seen && !s->ws_wsi) {
		n->waiting = true;
		if (!s->connect_wait_ms)
			s->connect_wait_ms = hc_mono_ms() + HBR_CONNECT_WAIT_MS;
		hbr_decode__connect_free(&c);
		return 0;
	}
	rc = decide(h, s, n, c.token ? c.token : test);
	hbr_decode__connect_free(&c);
	return rc;
}

int hbr_nsp__resume(struct hbr *h, struct hbr_sock *s)
{
	for (int i = 0; s->nsps && i < HBR_NSP_MAX; i++)
		if (s->nsps[i].name[0] && s->nsps[i].waiting && decide(h, s, &s->nsps[i], NULL) < 0)
			return -1;
	return 0;
}

/* A namespace socket ends (its DISCONNECT, or its session's end). */
static void end_one(struct hbr *h, struct hbr_sock *s, struct hbr_nsp *n, const char *reason)
{
	if (n->connected) {
		hbr_calls__forget(h, s, n->gen);
		s->nsp_connected--;
		h->nnsp--;
		hc_info("%s/%s | disconnect | nsp=/%s reason=%s", n->id, s->user, n->name, reason);
	}
	slot_free(n);
}

int hbr_nsp__disconnect(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p)
{
	const char *name;
	size_t nlen;
	struct hbr_nsp *n;

	if (!service_of(p->nsp, p->nsplen, &name, &nlen) || !(n = slot_of(s, name, nlen)))
		return 0;
	end_one(h, s, n, "clean");
	/* the last socket of the session: it is an unauthenticated one again */
	if (!hbr_sio__live(s))
		return hbr_sio__unauthenticated(h, s, "clean");
	return 0;
}

void hbr_nsp__end_all(struct hbr *h, struct hbr_sock *s, bool tell)
{
	for (int i = 0; s->nsps && i < HBR_NSP_MAX; i++) {
		struct hbr_nsp *n = &s->nsps[i];
		if (!n->name[0])
			continue;
		if (tell && n->connected) {
			char out[HC_NAME_MAX + 8];
			hc_fmt(out, sizeof(out), "41/%s,", n->name);
			hbr_sock__send_text(h, s, out, strlen(out));
		}
		end_one(h, s, n, s->end_reason ? s->end_reason : "network");
	}
	free(s->nsps);
	s->nsps = NULL;
}

/* ------------------------------------------------------------ calls */

static void call(struct hbr *h, struct hbr_sock *s, struct hbr_nsp *n,
	const struct hbr_sio_event *e, const struct hbr_sio_packet *p, const struct hbr_att *att,
	int natt)
{
	char nsp[HC_NAME_MAX + 2], topic[TOPIC_MAX], reply[TOPIC_MAX];
	unsigned char corr[HBR_CORR_LEN];
	struct hbr_wait *w = NULL;
	struct hbr_buf tmp;
	const char *method = e->name, *why;
	const void *pl;
	size_t plen;
	int rc, enc, mid = 0;

	hc_fmt(nsp, sizeof(nsp), "/%s", n->name);
	if (e->name_len == 4 && !memcmp(method, "hook", 4)) {
		hbr_sio__refuse(h, s, n->name, p->id, method, "bad_event",
			"'hook' is not a method (it names the hub's hook requests)");
		return;
	}
	if (hc_fmt(topic, sizeof(topic), "svc/%s/%s/%s", n->name, method, s->user) ||
		hbr_calls__reply_topic(h, s->user, reply, sizeof(reply))) {
		hbr_sio__refuse(h, s, n->name, p->id, method, "bad_event", "method name too long");
		return;
	}
	if (!hbr_mqtt__connected(h)) {
		h->stats.calls_unavailable++;
		if (p->id >= 0)
			hbr_sio__ack_ns(h, s, n->name, p->id,
				"{\"ok\":false,\"error\":\"unavailable\",\"message\":\"the broker "
				"is "
				"not reachable; try again\"}",
				strlen("{\"ok\":false,\"error\":\"unavailable\",\"message\":\"the "
				       "broker is not reachable; try again\"}"));
		return;
	}
	if (hbr_mqtt__backlogged(h)) {
		h->stats.calls_busy++;
		hbr_sio__refuse(
			h, s, n->name, p->id, method, "busy", "the broker is behind; try again");
		return;
	}
	/* nothing is kept over a bound: refused before anything is made */
	if (p->id >= 0) {
		rc = hbr_calls__begin(h, s, HBR_W_CALL, n, p->id, method, NULL, 0, corr, &w, &why);
		if (rc) {
			hbr_sio__refuse(h, s, n->name, p->id, method,
				rc == HUB_ERR_BUSY ? "busy" : "internal",
				rc == HUB_ERR_BUSY ? why : "out of memory");
			return;
		}
	}
	hbr_buf__init(&tmp, (size_t)h->max_payload);
	rc = hbr_args__encode(e, p->data, p->datalen, att, natt, &tmp, &pl, &plen, &enc);
	if (!rc)
		/* QoS 1 tells (PUBACK 0x10) when nobody takes calls of the
		 * service; while it answers, QoS 0 spares the broker and us a
		 * PUBACK a call. Without an ack nothing waits for either */
		rc = hbr_mqtt__request(h, topic, pl, plen, enc, NULL, w ? reply : NULL,
			w ? corr : NULL, sizeof(corr), w && !hbr_calls__fresh(h, n->name) ? 1 : 0,
			&mid);
	hbr_buf__free(&tmp);
	if (rc) {
		if (w)
			hbr_calls__cancel(h, w);
		hbr_sio__refuse(h, s, n->name, p->id, method,
			rc == HUB_ERR_TOOBIG  ? "too_big"
			: rc == HUB_ERR_INVAL ? "bad_args"
			: rc == HUB_ERR_BUSY  ? "unavailable"
					      : "internal",
			rc == HUB_ERR_TOOBIG  ? "the call is bigger than the hub takes"
			: rc == HUB_ERR_INVAL ? "a binary placeholder names no attachment, or "
						"{\"$binary\": ...} stands alone in an object"
			: rc == HUB_ERR_BUSY  ? "the broker is not reachable; try again"
					      : "out of memory");
		return;
	}
	if (w)
		hbr_calls__published(h, w, mid);
	else
		h->stats.calls++;
	if (hc_log_enabled(HC_LOG_DEBUG))
		hc_debug("%s/%s | call | nsp=%s method=%s mid=%d bytes=%zu ack=%d", n->id, s->user,
			nsp, method, mid, plen, p->id >= 0);
}

int hbr_nsp__event(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p,
	const struct hbr_att *att, int natt)
{
	struct hbr_nsp *n = hbr_nsp__find(s, p->nsp, p->nsplen);
	struct hbr_sio_event e;
	size_t bytes = p->datalen;
	int rc;

	if (!n) /* not connected to it: ignored, like socket.io, if well-formed */
		return hbr_json_check(p->data, p->datalen) ? 0 : 1;
	for (int i = 0; i < natt; i++)
		bytes += att[i].len;
	rc = hbr_sio__rate(h, s, n->name, p->id, bytes);
	if (rc)
		return rc > 0 ? 0 : -1;
	if (hbr_decode__event(p, &e))
		return 1;
	if (!hc_event_valid_n(e.name, e.name_len) || hbr_sio__reserved(e.name, e.name_len))
		hbr_sio__refuse(h, s, n->name, p->id, e.name_len <= 128 ? e.name : NULL,
			"bad_event",
			"method names are 1-64 bytes without / + # or control characters");
	else
		call(h, s, n, &e, p, att, natt);
	hbr_decode__event_free(&e);
	return 0;
}
