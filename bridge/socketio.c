/* SPDX-License-Identifier: MIT */
/*
 * The Socket.IO v5 layer on one Engine.IO session (default namespace "/"
 * only): CONNECT with authentication, EVENT dispatch (the reserved `join`
 * and `leave`, everything else published into a room), acknowledgements
 * answered when the broker acknowledged the publish, DISCONNECT, and the
 * clear refusal of binary attachments.
 *
 * Every decision uses the user resolved once at CONNECT (s->user) and THE
 * ACL function, hc_acl_check, on the directory the broker plugin also
 * decides with.
 */
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

/* A publish waiting for its PUBACK to answer the client's ack. */
struct pending_ack {
	uint64_t serial;
	int64_t id;
	int64_t ts_ms;
	int64_t due_ms;
	bool inbox;		    /* room holds the addressee */
	char room[HC_NAME_MAX + 1]; /* room, or the user of an inbox event */
};

/* Names socket.io-client keeps for itself: never delivered as events. */
static const char *const reserved[] = {
	"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"};

bool hbr_sio__reserved(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strlen(reserved[i]) == len && !memcmp(name, reserved[i], len))
			return true;
	return false;
}

/* ------------------------------------------------------------ output */

static int send_buf(struct hbr *h, struct hbr_sock *s, struct hbr_buf *b)
{
	int rc;
	if (b->err) {
		hbr_buf__free(b);
		return -1;
	}
	rc = hbr_sock__send_text(h, s, b->p, b->len);
	hbr_buf__free(b);
	return rc ? -1 : 0;
}

int hbr_sio__emit(struct hbr *h, struct hbr_sock *s, const char *event, const char *args_json)
{
	struct hbr_buf b;
	hbr_buf__init(&b, (size_t)h->max_payload + 4096);
	hbr_buf__puts(&b, "42[");
	hbr_buf__json_str(&b, event, strlen(event));
	if (args_json && *args_json) {
		hbr_buf__put(&b, ",", 1);
		hbr_buf__puts(&b, args_json);
	}
	hbr_buf__put(&b, "]", 1);
	return send_buf(h, s, &b);
}

int hbr_sio__ack(struct hbr *h, struct hbr_sock *s, int64_t id, const char *json)
{
	struct hbr_buf b;
	if (id < 0)
		return 0;
	hbr_buf__init(&b, 8192);
	hbr_buf__puts(&b, "43");
	hbr_buf__int(&b, (long long)id);
	hbr_buf__put(&b, "[", 1);
	hbr_buf__puts(&b, json);
	hbr_buf__put(&b, "]", 1);
	return send_buf(h, s, &b);
}

/* An error for an event: in its ack when it has one, else as a `hub:error`
 * event (at most one a second for rate limiting). */
static void refuse(struct hbr *h, struct hbr_sock *s, int64_t id, const char *event,
	const char *code, const char *message)
{
	struct hbr_buf b;
	hbr_buf__init(&b, 1024);
	hbr_buf__puts(&b, "{\"ok\":false,\"error\":");
	hbr_buf__json_str(&b, code, strlen(code));
	hbr_buf__puts(&b, ",\"message\":");
	hbr_buf__json_str(&b, message, strlen(message));
	if (event) {
		hbr_buf__puts(&b, ",\"event\":");
		hbr_buf__json_str(&b, event, strlen(event));
	}
	hbr_buf__put(&b, "}", 1);
	if (!b.err) {
		if (id >= 0)
			hbr_sio__ack(h, s, id, b.p);
		else
			hbr_sio__emit(h, s, "hub:error", b.p);
	}
	hbr_buf__free(&b);
}

/* ------------------------------------------------------------ connect */

static void autojoin(struct hbr *h, struct hbr_sock *s)
{
	size_t pos = 0, len;
	const char *item;

	while (hc_cfg_list_next(&h->cfg, HC_CFG_AUTOJOIN_ROOMS, &pos, &item, &len)) {
		char topic[TOPIC_MAX];
		struct hc_acl_decision d = {.explain = false};
		if (!hc_name_valid_n(item, len) ||
			hc_fmt(topic, sizeof(topic), "rooms/%.*s/#", (int)len, item))
			continue;
		hc_acl_check(h->dir, s->user, topic, strlen(topic), HC_ACL_SUBSCRIBE, &d);
		if (!d.allow)
			continue;
		if (hbr_rooms__join(h, s, item, len) == HUB_OK)
			hbr_rooms__presence_snapshot(h, s, s->joins[s->current].room);
	}
}

static int finish_connect(struct hbr *h, struct hbr_sock *s, const char *token);

/* Internal results below: 0 done, 1 malformed (the session ends), -1 the
 * session ended otherwise. */
static int on_connect(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p)
{
	struct hbr_sio_connect c;
	int rc;

	if (s->connected || s->connect_wait_ms)
		return 0; /* already connected to "/", or about to be */
	if (hbr_decode__connect(p, &c))
		return 1;
	/* A browser page of another port of this host opens with polling
	 * requests that carry no cookie unless the page asked for credentials
	 * (withCredentials), but the WebSocket upgrade the client starts at
	 * once always carries it: a CONNECT with neither token nor cookie
	 * waits a moment for it (hbr_sio__connect_resume). */
	if (!c.token && !s->cookie[0] && s->transport == HBR_T_POLLING && !s->probe_seen &&
		!s->ws_wsi) {
		hbr_decode__connect_free(&c);
		s->connect_wait_ms = hc_mono_ms() + HBR_CONNECT_WAIT_MS;
		return 0;
	}
	rc = finish_connect(h, s, c.token);
	hbr_decode__connect_free(&c);
	return rc;
}

int hbr_sio__connect_resume(struct hbr *h, struct hbr_sock *s)
{
	if (!s->connect_wait_ms || s->connected)
		return 0;
	s->connect_wait_ms = 0;
	return finish_connect(h, s, NULL);
}

/* refused connects come from unauthenticated clients: rate-limited */
static struct hc_log_limit lim_denied = HC_LOG_LIMIT("sio_connect_denied");

static int finish_connect(struct hbr *h, struct hbr_sock *s, const char *token)
{
	const char *why = NULL;
	char out[64];
	int rc;

	rc = hbr_auth__connect(h, s, token, token ? strlen(token) : 0, &why);
	if (rc) {
		static const char refused[] = "44{\"message\":\"unauthorized\"}";
		h->stats.connects_denied++;
		char shown[HC_LOG_USER_MAX];
		hc_log_limited(&lim_denied, HC_LOG_INFO,
			"%s/%s | connect | denied reason=%s via=%s addr=%s", s->sock_id,
			s->user[0] ? hc_log_user(s->user, strlen(s->user), shown) : "-",
			why ? why : hub_strerror(rc), token ? "token" : "cookie", s->addr);
		s->user[0] = '\0';
		s->session[0] = '\0';
		if (hbr_sock__send_text(h, s, refused, sizeof(refused) - 1))
			return -1;
		/* the client may try again (say after logging in), but each try
		 * costs a verification or a store read: a few per session */
		if (++s->connect_tries >= HBR_CONNECT_TRIES) {
			hc_info("msg=\"too many refused connects: session ended\" sid=%s addr=%s",
				s->sid, s->addr);
			hbr_eio__close(h, s, "network", 0);
			return -1;
		}
		return 0;
	}
	if (h->nauth >= h->max_sockets) {
		/* authenticated sockets have their own capacity; this one stays
		 * unauthenticated (and short-lived) */
		static const char full[] = "44{\"message\":\"server full\"}";
		h->stats.full_refused++;
		hc_warn("%s/%s | connect | refused reason=server-full max=%lld addr=%s", s->sock_id,
			s->user, (long long)h->max_sockets, s->addr);
		s->user[0] = '\0';
		s->session[0] = '\0';
		return hbr_sock__send_text(h, s, full, sizeof(full) - 1) ? -1 : 0;
	}
	if (hbr_users__add(h, s)) {
		s->user[0] = '\0';
		hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
		return -1;
	}
	hbr_pending__del(h, s);
	h->nauth++;
	s->connected = true;
	s->auth_ms = hc_mono_ms();
	s->bucket.tokens = (double)h->event_rate;
	s->bucket.last_ms = s->auth_ms;
	h->stats.connects_ok++;
	{
		char tag[9];
		hc_log_fingerprint(s->session, strlen(s->session), tag);
		hc_info("%s/%s | connect | ok kind=socket.io via=%s transport=%s session=%s",
			s->sock_id, s->user, token ? "token" : "cookie",
			s->transport == HBR_T_WS ? "websocket" : "polling", tag);
	}
	hc_fmt(out, sizeof(out), "40{\"sid\":\"%s\"}", s->sock_id);
	if (hbr_sock__send_text(h, s, out, strlen(out)))
		return -1;
	hbr_presence__attach(h, s);
	autojoin(h, s);
	return 0;
}

/* ------------------------------------------------------------ events */

static const char *room_arg(const cJSON *a, size_t *len)
{
	const char *r = cJSON_GetStringValue(a);
	if (!r && cJSON_IsObject(a))
		r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "room"));
	*len = r ? strlen(r) : 0;
	return r && hc_name_valid_n(r, *len) ? r : NULL;
}

static void on_join(struct hbr *h, struct hbr_sock *s, const cJSON *arg, int64_t id)
{
	struct hc_acl_decision d = {.explain = false};
	char topic[TOPIC_MAX], ok[128];
	size_t len;
	const char *room = room_arg(arg, &len);
	int rc;

	if (!room) {
		refuse(h, s, id, "join", "bad_room",
			"join needs a room name (1-64 of A-Za-z0-9._-)");
		return;
	}
	hc_fmt(topic, sizeof(topic), "rooms/%s/#", room);
	hc_acl_check(h->dir, s->user, topic, strlen(topic), HC_ACL_SUBSCRIBE, &d);
	if (!d.allow) {
		hc_info("%s/%s | join | denied room=%s rule=\"%s\"", s->sock_id, s->user, room,
			d.rule);
		refuse(h, s, id, "join", "forbidden", "you may not read this room");
		return;
	}
	rc = hbr_rooms__join(h, s, room, len);
	if (rc) {
		refuse(h, s, id, "join", rc == HUB_ERR_TOOBIG ? "too_many_rooms" : "internal",
			"the room could not be joined");
		return;
	}
	hc_fmt(ok, sizeof(ok), "{\"ok\":true,\"room\":\"%s\"}", room);
	if (hbr_sio__ack(h, s, id, ok))
		return;
	hbr_rooms__presence_snapshot(h, s, s->joins[s->current].room);
}

static void on_leave(struct hbr *h, struct hbr_sock *s, const cJSON *arg, int64_t id)
{
	char ok[128];
	size_t len;
	const char *room = room_arg(arg, &len);

	if (!room || hbr_rooms__leave(h, s, room, len)) {
		refuse(h, s, id, "leave", "not_joined", "not in that room");
		return;
	}
	hc_fmt(ok, sizeof(ok), "{\"ok\":true,\"room\":\"%s\"}", room);
	hbr_sio__ack(h, s, id, ok);
}

static void on_emit(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_event *e,
	const struct hbr_sio_packet *p)
{
	const char *event = e->name;
	int64_t id = p->id;
	struct hc_acl_decision d = {.explain = false};
	const cJSON *data = e->data;
	const char *room = NULL, *inbox = NULL;
	char topic[TOPIC_MAX], origin[96];
	size_t rlen = 0;
	char *payload;
	int mid = 0, rc;

	if (e->nargs > 1) {
		refuse(h, s, id, event, "too_many_args", "emit takes one data argument");
		return;
	}
	if (cJSON_IsObject(data)) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(data, "room");
		const cJSON *to = cJSON_GetObjectItemCaseSensitive(data, "to");
		if (!r && cJSON_IsString(to)) {
			/* {to: user}: the user's inbox, users/{to}/inbox/{event}/{self} */
			inbox = to->valuestring;
			if (!hc_name_valid(inbox)) {
				refuse(h, s, id, event, "bad_user", "data.to is not a user name");
				return;
			}
		} else if (cJSON_IsString(r)) {
			room = r->valuestring;
			rlen = strlen(room);
			if (!hc_name_valid_n(room, rlen)) {
				refuse(h, s, id, event, "bad_room", "data.room is not a room name");
				return;
			}
		}
	}
	if (!inbox && !room && s->current >= 0) {
		room = hbr_rooms__name(s->joins[s->current].room);
		rlen = strlen(room);
	}
	if (!room && !inbox) {
		refuse(h, s, id, event, "no_room", "join a room or give data.room");
		return;
	}
	if (inbox ? hc_fmt(topic, sizeof(topic), "users/%s/inbox/%s/%s", inbox, event, s->user)
		  : hc_fmt(topic, sizeof(topic), "rooms/%.*s/ev/%s/%s", (int)rlen, room, event,
			    s->user)) {
		refuse(h, s, id, event, "bad_event", "event name too long");
		return;
	}
	hc_acl_check(h->dir, s->user, topic, strlen(topic), HC_ACL_WRITE, &d);
	if (!d.allow) {
		char t[96];
		hc_info("%s/%s | publish | denied topic=\"%s\" rule=\"%s\"", s->sock_id, s->user,
			hc_log_safe(topic, t, sizeof(t)), d.rule);
		refuse(h, s, id, event, "forbidden",
			inbox ? "you share no room with that user"
			      : "you may not write to this room");
		return;
	}
	if (id >= 0 && s->acks >= HBR_ACKS_MAX) {
		refuse(h, s, id, event, "busy", "too many events awaiting acknowledgement");
		return;
	}
	/* the payload is the client's own JSON text of data, byte for byte
	 * (cJSON re-prints only what the strict reader declines) */
	payload = NULL;
	if (data && !e->data_span) {
		payload = cJSON_PrintUnformatted(data);
		if (!payload) {
			refuse(h, s, id, event, "internal", "out of memory");
			return;
		}
	}
	hc_fmt(origin, sizeof(origin), "%s:%llu", h->origin_tag, (unsigned long long)s->serial);
	{
		const char *body = payload ? payload : data ? p->data + e->data_off : "null";
		size_t blen = payload ? strlen(payload) : data ? e->data_len : 4;
		rc = hbr_mqtt__publish(h, topic, body, blen, origin, &mid);
		/* our own subscriptions are "no local": the broker does not send
		 * the event back to us, so the sockets of this gateway get it
		 * here, at once (all but the sender); MQTT clients and other
		 * gateways get it from the broker */
		if (!rc)
			hbr_rooms__deliver(h, topic, body, blen, origin, hc_now_ms());
	}
	cJSON_free(payload);
	if (rc) {
		refuse(h, s, id, event, "unavailable", "the broker is not reachable; try again");
		return;
	}
	h->stats.events_in++;
	if (hc_log_enabled(HC_LOG_DEBUG)) {
		char t[96];
		hc_debug("%s/%s | publish | ok topic=\"%s\" mid=%d", s->sock_id, s->user,
			hc_log_safe(topic, t, sizeof(t)), mid);
	}
	if (id >= 0) {
		struct pending_ack *a = calloc(1, sizeof(*a));
		void *stale = NULL;
		if (!a || hc_hmap_put(&h->acks, (const char *)&mid, sizeof(mid), a, &stale)) {
			free(a);
			refuse(h, s, id, event, "internal", "out of memory");
			return;
		}
		free(stale); /* a message id reused: its old wait had no answer */
		a->serial = s->serial;
		a->id = id;
		a->ts_ms = hc_now_ms();
		a->due_ms = hc_mono_ms() + HBR_ACK_TIMEOUT_MS;
		a->inbox = inbox != NULL;
		snprintf(a->room, sizeof(a->room), "%.*s", inbox ? (int)strlen(inbox) : (int)rlen,
			inbox ? inbox : room);
		s->acks++;
	}
}

static int on_event(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p)
{
	struct hbr_sio_event e;
	const char *event;
	int64_t now = hc_mono_ms();

	if (!s->connected) /* the namespace is not joined: ignored, like socket.io, */
		return hbr_json_check(p->data, p->datalen) ? 0 : 1; /* if well-formed */
	switch (hbr_limits__event(h, s, now)) {
	case HBR_RATE_DROP:
		if (p->id >= 0 || now - s->bucket.warned_ms >= 1000) {
			s->bucket.warned_ms = now;
			refuse(h, s, p->id, NULL, "rate_limited", "too many events; slow down");
		}
		return 0;
	case HBR_RATE_ABUSE:
		hc_warn("%s/%s | events | rate limit abused: disconnected", s->sock_id, s->user);
		hbr_eio__close(h, s, "kicked", HBR_CLOSE_SIO);
		return -1;
	default:
		break;
	}
	if (hbr_decode__event(p, &e))
		return 1;
	event = e.name;
	if (!hc_event_valid_n(event, e.name_len) || hbr_sio__reserved(event, e.name_len)) {
		refuse(h, s, p->id, e.name_len <= 128 ? event : NULL, "bad_event",
			"event names are 1-64 bytes without / + # or control characters");
	} else if (!strcmp(event, "join")) {
		on_join(h, s, e.data, p->id);
	} else if (!strcmp(event, "leave")) {
		on_leave(h, s, e.data, p->id);
	} else {
		on_emit(h, s, &e, p);
	}
	hbr_decode__event_free(&e);
	return 0;
}

int hbr_sio__message(struct hbr *h, struct hbr_sock *s, const char *data, size_t len)
{
	struct hbr_sio_packet p;
	int rc = 0;

	if (s->attach_pending) {
		/* attachments are binary messages; text here breaks the stream */
		rc = 1;
		goto out;
	}
	if (hbr_packet__sio_parse(data, len, &p)) {
		rc = 1;
		goto out;
	}
	if (p.nsplen != 1 || p.nsp[0] != '/') {
		if (p.type == HBR_SIO_CONNECT) {
			struct hbr_buf b;
			hbr_buf__init(&b, 512);
			hbr_buf__puts(&b, "44");
			hbr_buf__put(&b, p.nsp, p.nsplen);
			hbr_buf__puts(&b, ",{\"message\":\"Invalid namespace\"}");
			return send_buf(h, s, &b) ? HBR_PKT_ENDED : HBR_PKT_OK;
		}
		if (p.type == HBR_SIO_BINARY_EVENT || p.type == HBR_SIO_BINARY_ACK)
			s->attach_pending = p.attachments;
		return HBR_PKT_OK;
	}
	switch (p.type) {
	case HBR_SIO_CONNECT:
		rc = on_connect(h, s, &p);
		break;
	case HBR_SIO_DISCONNECT:
		s->connect_wait_ms = 0; /* a CONNECT still waiting is withdrawn */
		if (s->connected) {
			s->end_reason = "clean";
			hbr_sio__ended(h, s);
			s->connected = false;
			/* the client closes the transport next; it gets no
			 * further events meanwhile, and the session is an
			 * unauthenticated one again (life and quotas) */
			s->end_reason = NULL;
			if (hbr_pending__admit(h, s->addr) || hbr_pending__add(h, s)) {
				hbr_eio__close(h, s, "clean", HBR_CLOSE_QUIET);
				rc = -1;
			}
		}
		break;
	case HBR_SIO_EVENT:
		rc = on_event(h, s, &p);
		break;
	case HBR_SIO_BINARY_EVENT:
		/* refused: binary attachments are swallowed, the sender told */
		s->attach_pending = p.attachments;
		if (s->connected)
			refuse(h, s, p.id, NULL, "binary_unsupported",
				"binary attachments are not supported by the hub; send JSON");
		break;
	case HBR_SIO_BINARY_ACK:
		s->attach_pending = p.attachments;
		break;
	case HBR_SIO_ACK:
		break; /* the hub never asks clients for acks */
	default:
		rc = 1;
		break;
	}
out:
	if (rc > 0) {
		hc_info("msg=\"malformed socket.io packet: session ended\" sid=%s user=%s len=%zu",
			s->sid, s->user[0] ? s->user : "-", len);
		hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
		return HBR_PKT_BAD;
	}
	return rc < 0 || s->state != HBR_S_OPEN ? HBR_PKT_ENDED : HBR_PKT_OK;
}

void hbr_sio__ended(struct hbr *h, struct hbr_sock *s)
{
	const char *reason = s->end_reason ? s->end_reason : "network";
	h->nauth--;
	hbr_rooms__leave_all(h, s);
	hbr_users__del(h, s);
	hbr_presence__detach(h, s, reason);
	hc_info("%s/%s | disconnect | reason=%s", s->sock_id, s->user, reason);
}

/* ------------------------------------------------------------ acks */

static void answer(struct hbr *h, struct pending_ack *a, const char *err)
{
	struct hbr_sock *s = hbr_eio__by_serial(h, a->serial);
	char ok[160];

	if (!s || !s->connected)
		return;
	s->acks--;
	if (err) {
		refuse(h, s, a->id, NULL, err,
			!strcmp(err, "timeout") ? "the broker did not confirm in time"
						: "the broker refused the event");
		return;
	}
	hc_fmt(ok, sizeof(ok), "{\"ok\":true,\"%s\":\"%s\",\"ts\":%lld}", a->inbox ? "to" : "room",
		a->room, (long long)a->ts_ms);
	hbr_sio__ack(h, s, a->id, ok);
}

void hbr_sio__puback(struct hbr *h, int mid, int reason_code)
{
	struct pending_ack *a = hc_hmap_del(&h->acks, (const char *)&mid, sizeof(mid));
	if (!a)
		return;
	answer(h, a, reason_code >= 0x80 ? "rejected" : NULL);
	free(a);
}

struct sweep_ud {
	int64_t now;
	int mids[256];
	int n;
};

static int sweep_cb(void *ud, const char *key, void *value)
{
	struct sweep_ud *u = ud;
	struct pending_ack *a = value;
	if (a->due_ms <= u->now) {
		memcpy(&u->mids[u->n++], key, sizeof(int));
		return u->n == 256;
	}
	return 0;
}

void hbr_sio__acks_sweep(struct hbr *h, int64_t now_ms)
{
	struct sweep_ud u = {.now = now_ms};
	int more;
	do {
		u.n = 0;
		more = hc_hmap_each(&h->acks, sweep_cb, &u);
		for (int i = 0; i < u.n; i++) {
			struct pending_ack *a =
				hc_hmap_del(&h->acks, (const char *)&u.mids[i], sizeof(int));
			if (a) {
				answer(h, a, "timeout");
				free(a);
			}
		}
	} while (more);
}

static int free_cb(void *ud, const char *key, void *value)
{
	(void)ud;
	(void)key;
	free(value);
	return 0;
}

void hbr_sio__acks_free(struct hbr *h)
{
	hc_hmap_each(&h->acks, free_cb, NULL);
	hc_hmap_clear(&h->acks);
}
