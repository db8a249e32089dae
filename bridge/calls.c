/* SPDX-License-Identifier: MIT */
/*
 * What the gateway waits on from the broker for a socket (CONTRACT.md
 * "Backends"):
 *
 *  - calls: an event of a service namespace socket ("/shop") with an ack is
 *    published on svc/{service}/{method}/{user} (nsp.c) and its ack waits
 *    for the service's answer;
 *  - events of "/" into a hooked room: published with the same Response
 *    Topic and Correlation Data; the broker holds them until the hook
 *    service's verdict, which comes back here and is the sender's ack
 *    (socketio.c). Members get the accepted event as it comes back from
 *    the broker, never from the gateway's own fan-out.
 *
 * Both carry the Response Topic users/{user}/reply/{reply_tag} (reply_tag:
 * random, this process's: only we subscribe to it; only services and the
 * plugin write there; the plugin refuses any other reply topic for the
 * user's calls) and 16 bytes of Correlation Data: the wait's key (a
 * counter: the lookup) and 8 random bytes (compared in constant time, so
 * a service that saw one call's correlation cannot make up another's). An
 * answer reaches a socket only if the key, the nonce, the topic's user and
 * the waiting socket (its serial, for a namespace socket its generation)
 * all match; anything else is dropped and counted.
 *
 * Bounds: sio_calls_per_socket waits per Socket.IO socket (a namespace
 * socket's calls, the hooked events of "/"), sio_calls_max in all; past
 * them the ack gets busy at once and nothing is kept. A wait ends with its
 * answer, its deadline (call_timeout_ms; hooked events a margin more, as
 * the broker times them out itself), or its socket. One Engine.IO session
 * lists its waits, so ending a socket frees them at once.
 *
 * Everything here runs on the loop thread.
 */
#include "buf.h"
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT	    "{\"ok\":false,\"error\":\"timeout\"}"
#define UNAVAILABLE "{\"ok\":false,\"error\":\"unavailable\"}"

struct hbr_wait {
	uint64_t key;
	unsigned char nonce[8];
	int kind;	 /* enum hbr_wait_kind */
	uint64_t serial; /* the session of the waiting socket */
	uint64_t gen;	 /* HBR_W_CALL: its namespace socket */
	int64_t id;	 /* ack id, -1 for none */
	int64_t deadline_ms;
	int64_t ts;			/* HBR_W_HOOK: when the gateway took the event */
	int mid;			/* the publish's message id while no PUBACK came, 0 */
	struct hbr_sock *sock;		/* the session (valid while the wait lives) */
	struct hbr_wait *prev, *next;	/* h->wait_head[kind] list, by deadline */
	struct hbr_wait *sprev, *snext; /* sock->waits */
	char user[HC_NAME_MAX + 1];
	char service[HC_NAME_MAX + 1]; /* HBR_W_CALL */
	char event[HC_NAME_MAX + 1];   /* event names are up to 64 bytes too */
	char room[HC_NAME_MAX + 1];    /* HBR_W_HOOK */
};

int hbr_calls__reply_topic(struct hbr *h, const char *user, char *out, size_t n)
{
	return hc_fmt(out, n, "users/%s/reply/%s", user, h->reply_tag);
}

static int nonce(struct hbr *h, unsigned char *out)
{
	if (h->nonce_used == 0 || h->nonce_used + 8 > sizeof(h->nonces)) {
		if (hc_random(h->nonces, sizeof(h->nonces)))
			return HUB_ERR_CRYPTO;
		h->nonce_used = 0;
	}
	memcpy(out, h->nonces + h->nonce_used, 8);
	h->nonce_used += 8;
	return HUB_OK;
}

static void unlink_wait(struct hbr *h, struct hbr_wait *w)
{
	int k = w->kind;
	struct hbr_sock *s = w->sock;

	if (w->prev)
		w->prev->next = w->next;
	else
		h->wait_head[k] = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		h->wait_tail[k] = w->prev;
	if (w->sprev)
		w->sprev->snext = w->snext;
	else
		s->waits = w->snext;
	if (w->snext)
		w->snext->sprev = w->sprev;
	if (w->mid && hc_hmap_get(&h->wait_mids, (const char *)&w->mid, sizeof(w->mid)) == w)
		hc_hmap_del(&h->wait_mids, (const char *)&w->mid, sizeof(w->mid));
	hc_hmap_del(&h->waits, (const char *)&w->key, sizeof(w->key));
	if (k == HBR_W_HOOK) {
		s->hook_waits--;
	} else {
		struct hbr_nsp *n = hbr_nsp__by_gen(s, w->gen);
		if (n)
			n->calls--;
	}
	h->nwaits--;
}

static void wait_free(struct hbr *h, struct hbr_wait *w)
{
	unlink_wait(h, w);
	free(w);
}

int hbr_calls__begin(struct hbr *h, struct hbr_sock *s, int kind, struct hbr_nsp *n, int64_t id,
	const char *event, const char *room, int64_t ts, unsigned char corr[HBR_CORR_LEN],
	struct hbr_wait **out, const char **why)
{
	struct hbr_wait *w;
	int in_socket = kind == HBR_W_CALL ? n->calls : s->hook_waits;

	*out = NULL;
	*why = NULL;
	if (in_socket >= h->calls_per_socket) {
		h->stats.calls_busy++;
		*why = kind == HBR_W_CALL ? "too many calls of this socket wait for their answer "
					    "(sio_calls_per_socket)"
					  : "too many events of this socket wait for the room's "
					    "hook service (sio_calls_per_socket)";
		return HUB_ERR_BUSY;
	}
	if (h->nwaits >= h->calls_max) {
		h->stats.calls_busy++;
		*why = "the gateway waits on too many answers (sio_calls_max); try again";
		return HUB_ERR_BUSY;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return HUB_ERR_NOMEM;
	if (nonce(h, w->nonce)) {
		free(w);
		return HUB_ERR_CRYPTO;
	}
	w->key = ++h->next_wait;
	w->kind = kind;
	w->serial = s->serial;
	w->gen = n ? n->gen : 0;
	w->id = id;
	w->ts = ts;
	w->sock = s;
	w->deadline_ms =
		hc_mono_ms() + h->call_timeout_ms + (kind == HBR_W_HOOK ? HBR_HOOK_MARGIN_MS : 0);
	snprintf(w->user, sizeof(w->user), "%s", s->user);
	snprintf(w->service, sizeof(w->service), "%s", n ? n->name : "");
	snprintf(w->event, sizeof(w->event), "%s", event);
	snprintf(w->room, sizeof(w->room), "%s", room ? room : "");
	if (hc_hmap_put(&h->waits, (const char *)&w->key, sizeof(w->key), w, NULL)) {
		free(w);
		return HUB_ERR_NOMEM;
	}
	/* every wait of a kind has the same timeout: appending keeps the
	 * list in deadline order */
	w->prev = h->wait_tail[kind];
	if (h->wait_tail[kind])
		h->wait_tail[kind]->next = w;
	else
		h->wait_head[kind] = w;
	h->wait_tail[kind] = w;
	w->snext = s->waits;
	if (s->waits)
		s->waits->sprev = w;
	s->waits = w;
	if (kind == HBR_W_HOOK)
		s->hook_waits++;
	else
		n->calls++;
	h->nwaits++;
	memcpy(corr, &w->key, 8);
	memcpy(corr + 8, w->nonce, 8);
	*out = w;
	return HUB_OK;
}

void hbr_calls__published(struct hbr *h, struct hbr_wait *w, int mid)
{
	if (w->kind == HBR_W_CALL)
		h->stats.calls++;
	else
		h->stats.hooked++;
	if (mid <= 0)
		return;
	/* an id still mapped is a PUBACK lost with a broker link: replaced */
	if (hc_hmap_put(&h->wait_mids, (const char *)&mid, sizeof(mid), w, NULL) == HUB_OK)
		w->mid = mid;
}

void hbr_calls__cancel(struct hbr *h, struct hbr_wait *w)
{
	wait_free(h, w);
}

bool hbr_calls__fresh(struct hbr *h, const char *service)
{
	void *v = hc_hmap_get(&h->fresh, service, strlen(service));
	return v && hc_mono_ms() < (int64_t)(intptr_t)v;
}

/* A call of service was answered (fresh) or not (unavailable, timeout). */
static void freshen(struct hbr *h, const char *service, bool answered)
{
	size_t len = strlen(service);
	if (!answered) {
		hc_hmap_del(&h->fresh, service, len);
		return;
	}
	if (h->fresh.count >= HBR_FRESH_MAX && !hc_hmap_get(&h->fresh, service, len))
		hc_hmap_clear(&h->fresh); /* services come and go: forget them all */
	hc_hmap_put(&h->fresh, service, len, (void *)(intptr_t)(hc_mono_ms() + HBR_FRESH_MS), NULL);
}

/* What a finished wait needs after it is freed (answering may end its
 * socket, which frees the socket's waits). */
struct done {
	struct hbr_sock *s;
	uint64_t serial, gen;
	int64_t id, ts;
	int kind;
	char event[HC_NAME_MAX + 1];
	char room[HC_NAME_MAX + 1];
};

static void finish(struct hbr *h, struct hbr_wait *w, struct done *d)
{
	d->s = w->sock;
	d->serial = w->serial;
	d->gen = w->gen;
	d->id = w->id;
	d->ts = w->ts;
	d->kind = w->kind;
	memcpy(d->event, w->event, sizeof(d->event));
	memcpy(d->room, w->room, sizeof(d->room));
	wait_free(h, w);
}

/* A call's answer (len bytes of JSON, the service's own) to its socket. */
static void answer_call(struct hbr *h, struct hbr_wait *w, const char *json, size_t len)
{
	static const char bad[] = "{\"ok\":false,\"error\":\"bad_answer\",\"message\":\"the "
				  "service's answer is not JSON\"}";
	static const char big[] = "{\"ok\":false,\"error\":\"too_big\",\"message\":\"the "
				  "service's answer is bigger than the gateway's maxPayload\"}";
	struct hbr_nsp *n;
	struct done d;

	finish(h, w, &d);
	if (d.s->state != HBR_S_OPEN || d.s->serial != d.serial ||
		!(n = hbr_nsp__by_gen(d.s, d.gen)) || !n->connected)
		return;
	/* what a client takes from the gateway is within maxPayload, the
	 * service's answers too (a bigger one would only end the socket as a
	 * slow consumer) */
	if (len > (size_t)h->max_payload) {
		json = big;
		len = sizeof(big) - 1;
	} else if (len && !hbr_json_check(json, len)) {
		json = bad;
		len = sizeof(bad) - 1;
	}
	hbr_sio__ack_ns(h, d.s, n->name, d.id, json, len);
}

/* The verdict on an event of "/" into a hooked room (the plugin's
 * {"ok":true[,"data":...]} or {"ok":false,"error","message"}) as the
 * sender's ack: {"ok":true,"room","ts"[,"data"]} or the error, like the
 * gateway's own refusals (with "event"; a `hub:error` event without an
 * ack). */
static void answer_hook(struct hbr *h, struct hbr_wait *w, const char *json, size_t len)
{
	cJSON *j;
	struct done d;
	const char *code, *msg;

	finish(h, w, &d);
	if (d.s->state != HBR_S_OPEN || d.s->serial != d.serial || !d.s->connected)
		return;
	j = hbr_json_parse(json, len);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok"))) {
		h->stats.hooked_accepted++;
		if (d.id >= 0) {
			struct hbr_buf b;
			const cJSON *data = cJSON_GetObjectItemCaseSensitive(j, "data");
			char *text = data ? cJSON_PrintUnformatted(data) : NULL;
			size_t at;
			hbr_buf__init(&b, (size_t)h->max_payload + 4096);
			hbr_buf__puts(&b, "{\"ok\":true,\"room\":\"");
			hbr_buf__puts(&b, d.room); /* a valid name */
			hbr_buf__puts(&b, "\",\"ts\":");
			hbr_buf__int(&b, (long long)d.ts);
			at = b.len;
			if (text) {
				hbr_buf__puts(&b, ",\"data\":");
				hbr_buf__puts(&b, text);
			}
			if (b.err) {
				/* the final data over maxPayload: the verdict without it */
				b.err = 0;
				b.len = at;
			}
			hbr_buf__put(&b, "}", 1);
			if (!b.err)
				hbr_sio__ack_ns(h, d.s, NULL, d.id, b.p, b.len);
			hbr_buf__free(&b);
			cJSON_free(text);
		}
		cJSON_Delete(j);
		return;
	}
	h->stats.hooked_refused++;
	code = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "error"));
	msg = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "message"));
	if (!code || !hc_event_valid_n(code, strlen(code))) {
		code = "internal";
		msg = "the hub's verdict could not be read";
	} else if (!msg) {
		msg = !strcmp(code, "timeout") ? "the room's hook service did not answer in time"
		      : !strcmp(code, "unavailable") ? "the room's hook service is not connected"
		      : !strcmp(code, "busy") ? "too many events wait for the room's hook service; "
						"try again"
					      : "the room's hook service refused the event";
	}
	hbr_sio__refuse(h, d.s, NULL, d.id, d.event, code, msg);
	cJSON_Delete(j);
}

bool hbr_calls__puback(struct hbr *h, int mid, int reason_code)
{
	struct hbr_wait *w = hc_hmap_del(&h->wait_mids, (const char *)&mid, sizeof(mid));

	if (!w)
		return false;
	w->mid = 0;
	/* a call nobody subscribes to: MQTT 5's "no matching subscribers";
	 * a call refused: the hub's own identity is refused nothing but in
	 * trouble (memory). Hooked events hear from the plugin on the reply
	 * topic, whatever their PUBACK (0x10 just means no member listens) */
	if (w->kind == HBR_W_CALL && (reason_code == 0x10 || reason_code >= 0x80)) {
		h->stats.calls_unavailable++;
		freshen(h, w->service, false);
		answer_call(h, w, UNAVAILABLE, sizeof(UNAVAILABLE) - 1);
	}
	return true;
}

static struct hc_log_limit lim_dropped = HC_LOG_LIMIT("sio_answer_dropped");

void hbr_calls__answer(struct hbr *h, const char *topic, const void *corr, size_t corr_len,
	const void *payload, size_t len)
{
	/* users/{user}/reply/{tag} */
	const char *user = topic + 6, *rest = strchr(user, '/');
	size_t ulen = rest ? (size_t)(rest - user) : 0;
	struct hbr_wait *w;
	uint64_t key;
	unsigned char diff = 0;

	if (!rest || strncmp(rest, "/reply/", 7) || strcmp(rest + 7, h->reply_tag) ||
		corr_len != HBR_CORR_LEN) {
		h->stats.answers_dropped++;
		return;
	}
	memcpy(&key, corr, 8);
	w = hc_hmap_get(&h->waits, (const char *)&key, sizeof(key));
	if (w)
		for (int i = 0; i < 8; i++)
			diff |= (unsigned char)(w->nonce[i] ^ ((const unsigned char *)corr)[8 + i]);
	if (!w || diff) {
		/* late (timed out, its socket gone), or made up */
		h->stats.answers_dropped++;
		hc_debug("msg=\"answer for no waiting call dropped\" user=%.*s", (int)ulen, user);
		return;
	}
	if (strlen(w->user) != ulen || memcmp(w->user, user, ulen)) {
		/* the right correlation on another user's reply topic: a service
		 * answering someone else's call into this user's topic */
		char shown[HC_LOG_USER_MAX];
		h->stats.answers_dropped++;
		hc_log_limited(&lim_dropped, HC_LOG_WARN,
			"msg=\"answer on another user's reply topic dropped\" topic_user=%s "
			"caller=%s",
			hc_log_user(user, ulen, shown), w->user);
		return;
	}
	if (w->kind == HBR_W_CALL) {
		/* the plugin's own answer when no process is connected is not
		 * the service's */
		bool unavailable =
			len == sizeof(UNAVAILABLE) - 1 && !memcmp(payload, UNAVAILABLE, len);
		h->stats.calls_answered++;
		freshen(h, w->service, !unavailable);
		answer_call(h, w, payload, len);
	} else {
		answer_hook(h, w, payload, len);
	}
}

void hbr_calls__tick(struct hbr *h, int64_t now_ms)
{
	struct hbr_wait *w;

	while ((w = h->wait_head[HBR_W_CALL]) && w->deadline_ms <= now_ms) {
		h->stats.calls_timeout++;
		freshen(h, w->service, false);
		answer_call(h, w, TIMEOUT, sizeof(TIMEOUT) - 1);
	}
	while ((w = h->wait_head[HBR_W_HOOK]) && w->deadline_ms <= now_ms)
		answer_hook(h, w, TIMEOUT, sizeof(TIMEOUT) - 1);
}

void hbr_calls__forget(struct hbr *h, struct hbr_sock *s, uint64_t gen)
{
	struct hbr_wait *w = s->waits, *next;
	for (; w; w = next) {
		next = w->snext;
		if (gen ? (w->kind == HBR_W_CALL && w->gen == gen) : w->kind == HBR_W_HOOK)
			wait_free(h, w);
	}
}

void hbr_calls__forget_all(struct hbr *h, struct hbr_sock *s)
{
	while (s->waits)
		wait_free(h, s->waits);
}

static int unmap_cb(void *ud, const char *key, void *value)
{
	struct hbr_wait *w = value;
	(void)ud;
	(void)key;
	w->mid = 0;
	return 0;
}

void hbr_calls__link_lost(struct hbr *h)
{
	/* what was in flight gets no PUBACK; its answer may still come (the
	 * broker got it), or the deadline answers */
	hc_hmap_each(&h->wait_mids, unmap_cb, NULL);
	hc_hmap_clear(&h->wait_mids);
}

void hbr_calls__free(struct hbr *h)
{
	/* sockets free their own waits; what is left is only the maps */
	hc_hmap_clear(&h->wait_mids);
	hc_hmap_clear(&h->waits);
	hc_hmap_clear(&h->fresh);
}
