/* SPDX-License-Identifier: MIT */
/*
 * The Socket.IO v5 layer on one Engine.IO session: binary packets put
 * together with their attachments, then each packet handed to its
 * namespace (the table below: "/" here, every other one to the service
 * namespaces of nsp.c). For "/": CONNECT with authentication (and
 * connection state recovery, recovery.c), EVENT dispatch (the reserved
 * `join` and `leave`, everything else published into a room with its
 * arguments and binaries, args.c), acknowledgements answered once the
 * gateway accepted the event, DISCONNECT. An event into a room with a
 * hook service goes to the broker only: its ack is the service's verdict
 * (calls.c), and the members, this gateway's sockets too, get it as the
 * broker gives it back once accepted.
 *
 * Every decision uses the user resolved once at CONNECT (s->user) and THE
 * ACL function, hc_acl_check, on the directory the broker plugin also
 * decides with.
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

#define TOPIC_MAX	320
#define BYTES_PER_TOKEN 65536 /* an event costs one rate token per 64 KiB */

/*
 * What a namespace does with the packets addressed to it. "/" is the
 * hub's rooms; a namespace named by no entry is refused at CONNECT
 * ("Invalid namespace") and its other packets ignored. Binary packets are
 * whole (attachments in) when they get here.
 */
struct nsp_ops {
	const char *name;
	/* 0 done, 1 malformed (the session ends), -1 the session ended */
	int (*connect)(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p);
	int (*disconnect)(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p);
	int (*event)(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p,
		const struct hbr_att *att, int natt);
	/* whether the packet's socket is connected (else its events are
	 * swallowed, like socket.io does before a CONNECT) */
	bool (*joined)(struct hbr_sock *s, const struct hbr_sio_packet *p);
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

/* "4<type>" and, for a namespace but "/", "/name," */
static void head(struct hbr_buf *b, char type, const char *nsp)
{
	char t[3] = {'4', type, 0};
	hbr_buf__puts(b, t);
	if (nsp) {
		hbr_buf__put(b, "/", 1);
		hbr_buf__puts(b, nsp);
		hbr_buf__put(b, ",", 1);
	}
}

static int emit_ns(struct hbr *h, struct hbr_sock *s, const char *nsp, const char *event,
	const char *args_json)
{
	struct hbr_buf b;
	hbr_buf__init(&b, (size_t)h->max_payload + 4096);
	head(&b, '2', nsp);
	hbr_buf__put(&b, "[", 1);
	hbr_buf__json_str(&b, event, strlen(event));
	if (args_json && *args_json) {
		hbr_buf__put(&b, ",", 1);
		hbr_buf__puts(&b, args_json);
	}
	hbr_buf__put(&b, "]", 1);
	return send_buf(h, s, &b);
}

int hbr_sio__emit(struct hbr *h, struct hbr_sock *s, const char *event, const char *args_json)
{
	return emit_ns(h, s, NULL, event, args_json);
}

int hbr_sio__ack_ns(struct hbr *h, struct hbr_sock *s, const char *nsp, int64_t id,
	const char *json, size_t len)
{
	struct hbr_buf b;
	if (id < 0)
		return 0;
	hbr_buf__init(&b, len + 256);
	head(&b, '3', nsp);
	hbr_buf__int(&b, (long long)id);
	hbr_buf__put(&b, "[", 1);
	hbr_buf__put(&b, json, len);
	hbr_buf__put(&b, "]", 1);
	return send_buf(h, s, &b);
}

int hbr_sio__ack(struct hbr *h, struct hbr_sock *s, int64_t id, const char *json)
{
	return hbr_sio__ack_ns(h, s, NULL, id, json, strlen(json));
}

void hbr_sio__refuse(struct hbr *h, struct hbr_sock *s, const char *nsp, int64_t id,
	const char *event, const char *code, const char *message)
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
			hbr_sio__ack_ns(h, s, nsp, id, b.p, b.len);
		else
			emit_ns(h, s, nsp, "hub:error", b.p);
	}
	hbr_buf__free(&b);
}

/* An error for an event of "/": in its ack when it has one, else as a
 * `hub:error` event (at most one a second for rate limiting). */
static void refuse(struct hbr *h, struct hbr_sock *s, int64_t id, const char *event,
	const char *code, const char *message)
{
	hbr_sio__refuse(h, s, NULL, id, event, code, message);
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

static int finish_connect(
	struct hbr *h, struct hbr_sock *s, const char *token, const char *pid, const char *offset);

/* Internal results below: 0 done, 1 malformed (the session ends), -1 the
 * session ended otherwise. */
static int on_connect(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p)
{
	struct hbr_sio_connect c;
	const char *test = NULL;
	int rc;

	if (s->connected || s->root_wait)
		return 0; /* already connected to "/", or about to be */
	if (hbr_decode__connect(p, &c))
		return 1;
	/* TEST ONLY (sio_test_anonymous_token, auth.c): no credentials at
	 * all, from this host */
	if (!c.token && !s->cookie[0] && !hbr_sio__live(s))
		test = hbr_auth__test_token(h, s);
	/* A browser page of another port of this host opens with polling
	 * requests that carry no cookie unless the page asked for credentials
	 * (withCredentials), but the WebSocket upgrade the client starts at
	 * once always carries it: a CONNECT with neither token nor cookie
	 * waits a moment for it (hbr_sio__connect_resume). */
	if (!c.token && !test && !s->cookie[0] && !hbr_sio__live(s) &&
		s->transport == HBR_T_POLLING && !s->probe_seen && !s->ws_wsi) {
		s->wait_recover = c.pid && strlen(c.pid) < sizeof(s->wait_pid) &&
				  (!c.offset || strlen(c.offset) < sizeof(s->wait_offset));
		if (s->wait_recover) {
			snprintf(s->wait_pid, sizeof(s->wait_pid), "%s", c.pid);
			snprintf(s->wait_offset, sizeof(s->wait_offset), "%s",
				c.offset ? c.offset : "");
		}
		hbr_decode__connect_free(&c);
		s->root_wait = true;
		if (!s->connect_wait_ms)
			s->connect_wait_ms = hc_mono_ms() + HBR_CONNECT_WAIT_MS;
		return 0;
	}
	rc = finish_connect(h, s, c.token ? c.token : test, c.pid, c.offset);
	hbr_decode__connect_free(&c);
	return rc;
}

int hbr_sio__connect_resume(struct hbr *h, struct hbr_sock *s)
{
	bool rec = s->wait_recover, root = s->root_wait;
	if (!s->connect_wait_ms)
		return 0;
	s->connect_wait_ms = 0;
	s->root_wait = false;
	s->wait_recover = false;
	if (root && !s->connected &&
		finish_connect(h, s, NULL, rec ? s->wait_pid : NULL,
			rec && s->wait_offset[0] ? s->wait_offset : NULL) < 0)
		return -1;
	/* the namespaces that waited too (decided with what "/" found) */
	return hbr_nsp__resume(h, s);
}

void hbr_sio__authenticated(struct hbr *h, struct hbr_sock *s)
{
	hbr_pending__del(h, s);
	s->auth_ms = hc_mono_ms();
	s->bucket.tokens = (double)h->event_rate;
	s->bucket.last_ms = s->auth_ms;
}

int hbr_sio__unauthenticated(struct hbr *h, struct hbr_sock *s, const char *reason)
{
	/* the client closes the transport next, or connects again: meanwhile
	 * the session has the life and quotas of an unauthenticated one */
	if (hbr_pending__admit(h, s->addr) || hbr_pending__add(h, s)) {
		hbr_eio__close(h, s, reason, HBR_CLOSE_QUIET);
		return -1;
	}
	return 0;
}

/* refused connects come from unauthenticated clients: rate-limited */
static struct hc_log_limit lim_denied = HC_LOG_LIMIT("sio_connect_denied");

static int finish_connect(
	struct hbr *h, struct hbr_sock *s, const char *token, const char *pid, const char *offset)
{
	const char *why = NULL;
	struct hbr_sock *rec = NULL;
	uint64_t after = 0;
	char out[128];
	int rc, replayed = 0;
	/* a namespace socket of the session may have made it someone: all
	 * the session's sockets are that user */
	bool fresh = !hbr_sio__live(s);

	if (fresh) {
		rc = hbr_auth__connect(h, s, token, token ? strlen(token) : 0, &why);
	} else if (token) {
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
		static const char refused[] = "44{\"message\":\"unauthorized\"}";
		h->stats.connects_denied++;
		char shown[HC_LOG_USER_MAX];
		hc_log_limited(&lim_denied, HC_LOG_INFO,
			"%s/%s | connect | denied reason=%s via=%s addr=%s", s->sock_id,
			s->user[0] ? hc_log_user(s->user, strlen(s->user), shown) : "-",
			why ? why : hub_strerror(rc), token ? "token" : "cookie", s->addr);
		if (fresh) {
			s->user[0] = '\0';
			s->session[0] = '\0';
		}
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
	if (h->nauth + h->nnsp >= h->max_sockets) {
		/* authenticated sockets have their own capacity; this one stays
		 * unauthenticated (and short-lived) */
		static const char full[] = "44{\"message\":\"server full\"}";
		h->stats.full_refused++;
		hc_warn("%s/%s | connect | refused reason=server-full max=%lld addr=%s", s->sock_id,
			s->user, (long long)h->max_sockets, s->addr);
		if (fresh) {
			s->user[0] = '\0';
			s->session[0] = '\0';
		}
		return hbr_sock__send_text(h, s, full, sizeof(full) - 1) ? -1 : 0;
	}
	/* the same user coming back within the window takes its record over
	 * (id, rooms, missed events); anything else is a new connection */
	if (pid)
		rec = hbr_recovery__claim(h, s, pid, offset, &after);
	if (hbr_users__add(h, s)) {
		if (fresh)
			s->user[0] = '\0';
		if (rec) {
			hbr_recovery__replay(h, s, rec, UINT64_MAX);
			hbr_rooms__leave_all(h, s);
		}
		hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
		return -1;
	}
	if (fresh)
		hbr_sio__authenticated(h, s);
	h->nauth++;
	s->connected = true;
	h->stats.connects_ok++;
	if (!rec && hbr_recovery__pid(h, s))
		hc_warn("%s/%s | connect | no recovery id (out of memory)", s->sock_id, s->user);
	if (s->pid[0])
		hc_fmt(out, sizeof(out), "40{\"sid\":\"%s\",\"pid\":\"%s\"}", s->sock_id, s->pid);
	else
		hc_fmt(out, sizeof(out), "40{\"sid\":\"%s\"}", s->sock_id);
	rc = hbr_sock__send_text(h, s, out, strlen(out));
	if (rec)
		replayed = hbr_recovery__replay(h, s, rec, after);
	{
		char tag[9];
		hc_log_fingerprint(s->session, strlen(s->session), tag);
		hc_info("%s/%s | connect | ok kind=socket.io via=%s transport=%s session=%s%s",
			s->sock_id, s->user, token ? "token" : "cookie",
			s->transport == HBR_T_WS ? "websocket" : "polling", tag,
			rec ? " recovered=1" : "");
		if (rec)
			hc_info("%s/%s | recovery | ok rooms=%d replayed=%d after=%llu", s->sock_id,
				s->user, s->njoins, replayed, (unsigned long long)after);
	}
	if (rc || s->state != HBR_S_OPEN)
		return -1;
	hbr_presence__attach(h, s);
	/* a recovered socket has its rooms back, without a re-join: nothing
	 * is announced again (the events it missed came above) */
	if (!rec)
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
	const struct hbr_sio_packet *p, const struct hbr_att *att, int natt)
{
	const char *event = e->name;
	int64_t id = p->id;
	struct hc_acl_decision d = {.explain = false};
	const cJSON *data = e->data;
	const char *room = NULL, *inbox = NULL;
	char topic[TOPIC_MAX], origin[96], ok[192];
	size_t rlen = 0, plen;
	struct hbr_buf tmp;
	const void *pl;
	int mid = 0, rc, enc;
	int64_t ts;
	const struct hc_dir_room *dr;
	struct hbr_wait *w = NULL;
	unsigned char corr[HBR_CORR_LEN];
	char reply[TOPIC_MAX], rname[HC_NAME_MAX + 1];

	/* the first argument routes the event (data.room, data.to) */
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
	if (hbr_mqtt__backlogged(h)) {
		refuse(h, s, id, event, "busy", "the broker is behind; try again");
		return;
	}
	/* the arguments as one MQTT payload (args.h): a single JSON argument
	 * is the client's own bytes, a single binary its raw bytes */
	hbr_buf__init(&tmp, (size_t)h->max_payload);
	rc = hbr_args__encode(e, p->data, p->datalen, att, natt, &tmp, &pl, &plen, &enc);
	if (rc) {
		hbr_buf__free(&tmp);
		if (rc == HUB_ERR_TOOBIG)
			refuse(h, s, id, event, "too_big",
				"the event is bigger than the hub's maxPayload");
		else if (rc == HUB_ERR_INVAL)
			refuse(h, s, id, event, "bad_args",
				natt ? "a binary placeholder names no attachment"
				     : "{\"$binary\": ...} alone in an object is reserved for "
				       "binaries");
		else
			refuse(h, s, id, event, "internal", "out of memory");
		return;
	}
	hc_fmt(origin, sizeof(origin), "%s:%llu", h->origin_tag, (unsigned long long)s->serial);
	ts = hc_now_ms();
	/* a room with a hook service (the directory, current when `hubctl
	 * room hook` returned): the event goes to the broker only, which
	 * holds it for the service; its ack waits for the verdict */
	dr = inbox ? NULL : hc_dir_room(h->dir, room, rlen);
	if (dr && dr->hook[0]) {
		const char *why;
		snprintf(rname, sizeof(rname), "%.*s", (int)rlen, room);
		rc = hbr_calls__begin(h, s, HBR_W_HOOK, NULL, id, event, rname, ts, corr, &w, &why);
		if (rc) {
			hbr_buf__free(&tmp);
			refuse(h, s, id, event, rc == HUB_ERR_BUSY ? "busy" : "internal",
				rc == HUB_ERR_BUSY ? why : "out of memory");
			return;
		}
		hbr_calls__reply_topic(h, s->user, reply, sizeof(reply));
		rc = hbr_mqtt__request(
			h, topic, pl, plen, enc, origin, reply, corr, sizeof(corr), 1, &mid);
		hbr_buf__free(&tmp);
		if (rc) {
			hbr_calls__cancel(h, w);
			refuse(h, s, id, event, rc == HUB_ERR_TOOBIG ? "too_big" : "unavailable",
				rc == HUB_ERR_TOOBIG ? "the event is bigger than the broker takes"
						     : "the broker is not reachable; try again");
			return;
		}
		hbr_calls__published(h, w, mid);
		h->stats.events_in++;
		if (hc_log_enabled(HC_LOG_DEBUG)) {
			char t[96];
			hc_debug("%s/%s | publish | held topic=\"%s\" hook=%s mid=%d bytes=%zu",
				s->sock_id, s->user, hc_log_safe(topic, t, sizeof(t)), dr->hook,
				mid, plen);
		}
		return;
	}
	rc = hbr_mqtt__publish(h, topic, pl, plen, enc, origin, &mid);
	/* our own subscriptions are "no local": the broker does not send the
	 * event back to us, so the sockets of this gateway get it here, at
	 * once (all but the sender); MQTT clients, other gateways and the
	 * history writer get it from the broker */
	if (!rc)
		hbr_rooms__deliver(h, topic, pl, plen, enc, origin, ts);
	hbr_buf__free(&tmp);
	if (rc) {
		if (rc == HUB_ERR_TOOBIG)
			refuse(h, s, id, event, "too_big",
				"the event is bigger than the broker takes");
		else
			refuse(h, s, id, event, "unavailable",
				"the broker is not reachable; try again");
		return;
	}
	h->stats.events_in++;
	if (hc_log_enabled(HC_LOG_DEBUG)) {
		char t[96];
		hc_debug("%s/%s | publish | ok topic=\"%s\" mid=%d bytes=%zu enc=%d", s->sock_id,
			s->user, hc_log_safe(topic, t, sizeof(t)), mid, plen, enc);
	}
	/* accepted: checked by THE ACL function the broker applies too,
	 * handed to the broker link (QoS 1, in order) and delivered to this
	 * gateway's sockets; the ack does not wait for the broker's PUBACK */
	if (id >= 0) {
		hc_fmt(ok, sizeof(ok), "{\"ok\":true,\"%s\":\"%s\",\"ts\":%lld}",
			inbox ? "to" : "room", inbox ? inbox : room, (long long)ts);
		hbr_sio__ack(h, s, id, ok);
	}
}

int hbr_sio__rate(struct hbr *h, struct hbr_sock *s, const char *nsp, int64_t id, size_t bytes)
{
	int64_t now = hc_mono_ms();

	/* one bucket for every socket of the session */
	switch (hbr_limits__event(h, s, now, 1.0 + (double)(bytes / BYTES_PER_TOKEN))) {
	case HBR_RATE_DROP:
		if (id >= 0 || now - s->bucket.warned_ms >= 1000) {
			s->bucket.warned_ms = now;
			hbr_sio__refuse(
				h, s, nsp, id, NULL, "rate_limited", "too many events; slow down");
		}
		return 1;
	case HBR_RATE_ABUSE:
		hc_warn("%s/%s | events | rate limit abused: disconnected", s->sock_id, s->user);
		hbr_eio__close(h, s, "kicked", HBR_CLOSE_SIO);
		return -1;
	default:
		return 0;
	}
}

/* An event (with its attachments when natt > 0) from a connected socket. */
static int handle_event(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p,
	const struct hbr_att *att, int natt, size_t bytes)
{
	struct hbr_sio_event e;
	const char *event;
	int rc = hbr_sio__rate(h, s, NULL, p->id, bytes);

	if (rc)
		return rc > 0 ? 0 : -1;
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
		on_emit(h, s, &e, p, att, natt);
	}
	hbr_decode__event_free(&e);
	return 0;
}

static int on_event(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p,
	const struct hbr_att *att, int natt)
{
	size_t bytes = p->datalen;
	if (!s->connected) /* the namespace is not joined: ignored, like socket.io, */
		return hbr_json_check(p->data, p->datalen) ? 0 : 1; /* if well-formed */
	for (int i = 0; i < natt; i++)
		bytes += att[i].len;
	return handle_event(h, s, p, att, natt, bytes);
}

/* ------------------------------------------------------------ binary */

static const struct nsp_ops *nsp_find(const char *name, size_t len);

void hbr_sio__bin_free(struct hbr_sock *s)
{
	if (!s->bin)
		return;
	free(s->bin->text);
	free(s->bin->data);
	free(s->bin);
	s->bin = NULL;
}

/* A BINARY_EVENT: kept until its attachments are in (bounded: the packet
 * and its attachments together within maxPayload). */
static int on_binary_event(struct hbr *h, struct hbr_sock *s, const struct nsp_ops *ns,
	const char *data, size_t len, const struct hbr_sio_packet *p)
{
	struct hbr_bin *b;

	s->attach_pending = p->attachments;
	if (!ns->joined(s, p))
		return 0; /* swallowed, like any event before the CONNECT */
	b = calloc(1, sizeof(*b));
	if (!b || !(b->text = malloc(len ? len : 1))) {
		free(b);
		refuse(h, s, p->id, NULL, "internal", "out of memory");
		return 0;
	}
	memcpy(b->text, data, len);
	b->tlen = len;
	b->want = p->attachments;
	s->bin = b;
	return 0;
}

int hbr_sio__attachment(struct hbr *h, struct hbr_sock *s, const void *p, size_t len)
{
	struct hbr_bin *b = s->bin;
	struct hbr_sio_packet pk;
	struct hbr_att att[HBR_SIO_ATTACH_MAX];
	int rc;

	if (s->attach_pending <= 0)
		return HBR_PKT_OK;
	s->attach_pending--;
	if (!b)
		return HBR_PKT_OK; /* swallowed */
	if (!b->too_big && (len > (size_t)h->max_payload - b->tlen - b->dlen ||
				   b->tlen + b->dlen > (size_t)h->max_payload)) {
		b->too_big = true;
		free(b->data);
		b->data = NULL;
		b->dlen = b->dcap = 0;
	}
	if (!b->too_big) {
		if (b->dlen + len > b->dcap) {
			size_t cap = b->dcap ? b->dcap : 4096;
			unsigned char *d;
			while (cap < b->dlen + len)
				cap *= 2;
			d = realloc(b->data, cap);
			if (!d) {
				b->too_big = true;
			} else {
				b->data = d;
				b->dcap = cap;
			}
		}
		if (!b->too_big) {
			if (len)
				memcpy(b->data + b->dlen, p, len);
			b->off[b->got] = b->dlen;
			b->len[b->got] = len;
			b->dlen += len;
		}
	}
	b->got++;
	if (s->attach_pending > 0)
		return HBR_PKT_OK;
	/* all attachments are in: the event */
	s->bin = NULL;
	if (hbr_packet__sio_parse(b->text, b->tlen, &pk)) {
		free(b->text);
		free(b->data);
		free(b);
		return HBR_PKT_BAD;
	}
	if (b->too_big) {
		const struct hbr_nsp *n = hbr_nsp__find(s, pk.nsp, pk.nsplen);
		hbr_sio__refuse(h, s, n ? n->name : NULL, pk.id, NULL, "too_big",
			"the event and its binaries are bigger than the hub's maxPayload");
		rc = 0;
	} else {
		const struct nsp_ops *ns = nsp_find(pk.nsp, pk.nsplen);
		for (int i = 0; i < b->got; i++) {
			att[i].p = b->data ? b->data + b->off[i] : (const unsigned char *)"";
			att[i].len = b->len[i];
		}
		rc = ns ? ns->event(h, s, &pk, att, b->got) : 0;
	}
	free(b->text);
	free(b->data);
	free(b);
	if (rc > 0)
		return HBR_PKT_BAD;
	return rc < 0 || s->state != HBR_S_OPEN ? HBR_PKT_ENDED : HBR_PKT_OK;
}

/* ------------------------------------------------------------ namespaces */

static int root_disconnect(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p)
{
	(void)p;
	s->root_wait = false; /* a CONNECT still waiting is withdrawn */
	if (!s->connected)
		return 0;
	s->end_reason = "clean";
	hbr_sio__ended(h, s);
	s->connected = false;
	s->end_reason = NULL;
	/* the client closes the transport next; it gets no further events
	 * meanwhile, and, unless a namespace socket stays, the session is an
	 * unauthenticated one again (life and quotas) */
	if (hbr_sio__live(s))
		return 0;
	return hbr_sio__unauthenticated(h, s, "clean");
}

static bool root_joined(struct hbr_sock *s, const struct hbr_sio_packet *p)
{
	(void)p;
	return s->connected;
}

static bool service_joined(struct hbr_sock *s, const struct hbr_sio_packet *p)
{
	return hbr_nsp__find(s, p->nsp, p->nsplen) != NULL;
}

static const struct nsp_ops root_ns = {"/", on_connect, root_disconnect, on_event, root_joined};
/* every other namespace names a service (nsp.c decides whether it does) */
static const struct nsp_ops service_ns = {
	"/{service}", hbr_nsp__connect, hbr_nsp__disconnect, hbr_nsp__event, service_joined};

static const struct nsp_ops *nsp_find(const char *name, size_t len)
{
	return len == 1 && name[0] == '/' ? &root_ns : &service_ns;
}

int hbr_sio__message(struct hbr *h, struct hbr_sock *s, const char *data, size_t len)
{
	const struct nsp_ops *ns;
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
	ns = nsp_find(p.nsp, p.nsplen);
	switch (p.type) {
	case HBR_SIO_CONNECT:
		rc = ns->connect(h, s, &p);
		break;
	case HBR_SIO_DISCONNECT:
		rc = ns->disconnect(h, s, &p);
		break;
	case HBR_SIO_EVENT:
		rc = ns->event(h, s, &p, NULL, 0);
		break;
	case HBR_SIO_BINARY_EVENT:
		/* handled once its attachments are in (hbr_sio__attachment) */
		rc = on_binary_event(h, s, ns, data, len, &p);
		break;
	case HBR_SIO_BINARY_ACK:
		s->attach_pending = p.attachments; /* swallowed: the hub asks no acks */
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
	hbr_calls__forget(h, s, 0); /* its events waiting for a hook's verdict */
	hbr_recovery__forget(h, s);
	hbr_rooms__leave_all(h, s);
	hbr_users__del(h, s);
	hbr_presence__detach(h, s, reason);
	hc_info("%s/%s | disconnect | reason=%s", s->sock_id, s->user, reason);
}

/* ------------------------------------------------------------ acks */

void hbr_sio__puback(struct hbr *h, int mid, int reason_code)
{
	if (hbr_calls__puback(h, mid, reason_code))
		return; /* a call's or a hooked event's (calls.c) */
	/* the event was acknowledged when the gateway accepted it; the broker
	 * decides with the same ACL, so a refusal here means the two
	 * disagreed for a moment (a change not applied yet on one side) */
	if (reason_code < 0x80)
		return;
	h->stats.broker_refused++;
	hc_warn("msg=\"the broker refused a publish the gateway had accepted\" mid=%d "
		"reason=0x%02x "
		"refused=%llu",
		mid, reason_code, (unsigned long long)h->stats.broker_refused);
}
