/* SPDX-License-Identifier: MIT */
/*
 * The broker link: one MQTT v5 connection as the hub's service identity
 * ($hub, with a service token minted from the key file, re-minted before
 * every reconnect).
 *
 * With libev (the normal build) libmosquitto is driven from the bridge's
 * own event loop: an ev_io watcher on its socket calls loop_read/write, a
 * 100 ms timer does loop_misc and reconnects, publishes are written at the
 * end of the loop pass (hbr_mqtt__flush), after the sockets' packets. Without libev, libmosquitto
 * runs its own thread and the loop is woken with lws_cancel_service. Either way the callbacks only
 * append to a queue that hbr_mqtt__drain hands to the rooms and acks code
 * on the loop thread.
 *
 * Besides the rooms and inboxes it subscribes to users/+/reply/{reply_tag}:
 * the answers to this gateway's calls and the verdicts on its sockets'
 * events into hooked rooms (calls.c), read with their Correlation Data.
 *
 * The queue is bounded: past MQ_MAX_BYTES, room messages (and answers,
 * which then time out) are dropped (and counted) rather than letting a
 * stalled loop eat all memory.
 */
#include "args.h"
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#ifdef HBR_WITH_LIBEV
#include <ev.h>
#endif
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MQ_MAX_BYTES ((size_t)128 << 20)
#define MQ_KEEPALIVE 30
#define TOKEN_TTL_S  3600
#define ORIGIN_PROP  "hub-origin"

enum ev_type { EV_CONNECTED = 1, EV_DISCONNECTED, EV_MESSAGE, EV_REPLY, EV_PUBACK };

struct ev {
	struct ev *next;
	int type;
	int mid, rc;
	int enc; /* enum hbr_enc: from Content Type / Payload Format Indicator */
	int64_t ts_ms;
	size_t plen;
	char origin[96];
	unsigned char corr[HBR_CORR_LEN]; /* EV_REPLY: its Correlation Data */
	size_t corr_len;
	char *topic; /* points into data */
	char data[]; /* topic NUL payload */
};

struct hbr_mqtt {
	struct hbr *h;
	struct mosquitto *mosq;
	pthread_mutex_t lock;
	struct ev *head, *tail;
	size_t bytes;
	atomic_bool connected;
	atomic_int inflight;
	/* in-loop mode (one thread): bytes of the publishes not confirmed,
	 * by message id, so a slow broker cannot make libmosquitto's queue
	 * grow without bound (HBR_INFLIGHT_BYTES) */
	uint32_t *lens;
	size_t inflight_bytes;
	atomic_ulong dropped; /* messages the full queue refused */
	bool started;
	char client_id[64];
	char reply_sub[48]; /* users/+/reply/{tag}: answers to our calls */
#ifdef HBR_WITH_LIBEV
	struct ev_loop *loop;
	ev_io io;
	ev_timer tick;
	int io_fd, io_events;
	int64_t reconnect_at_ms; /* 0: not waiting to reconnect */
#endif
	unsigned long packets_in; /* messages and acks read (callbacks run) */
};

static void push(struct hbr_mqtt *m, struct ev *e, bool droppable)
{
	size_t sz = sizeof(*e) + e->plen;
	bool wake;
	pthread_mutex_lock(&m->lock);
	if (droppable && m->bytes + sz > MQ_MAX_BYTES) {
		pthread_mutex_unlock(&m->lock);
		free(e);
		atomic_fetch_add(&m->dropped, 1);
		return;
	}
	m->bytes += sz;
	/* the loop needs waking only when the queue was empty: otherwise a
	 * wake-up is already on its way (one pipe write per batch) */
	wake = !m->head;
	if (m->tail)
		m->tail->next = e;
	else
		m->head = e;
	m->tail = e;
	pthread_mutex_unlock(&m->lock);
	/* in-loop mode drains right after each read: no wake-up needed */
	if (wake && !m->h->ev_loop)
		lws_cancel_service(m->h->lws);
}

static struct ev *ev_new(int type, size_t extra)
{
	struct ev *e = calloc(1, sizeof(*e) + extra + 1);
	if (e)
		e->type = type;
	return e;
}

static int mint(struct hbr_mqtt *m)
{
	char token[HC_TOKEN_MAX];
	int64_t now = hc_now();
	int rc = hc_token_mint(m->h->key, "service", HC_SERVICE_PRINCIPAL, "service", now,
		now + TOKEN_TTL_S, token, sizeof(token));
	if (rc)
		return rc;
	rc = mosquitto_username_pw_set(m->mosq, HC_SERVICE_PRINCIPAL, token);
	memset(token, 0, sizeof(token));
	return rc == MOSQ_ERR_SUCCESS ? HUB_OK : HUB_ERR_NOMEM;
}

/* ---- libmosquitto's thread ---- */

static void on_connect(
	struct mosquitto *mosq, void *ud, int rc, int flags, const mosquitto_property *props)
{
	struct hbr_mqtt *m = ud;
	char *subs[] = {"rooms/+/ev/+/+", "rooms/+/sys/+", "rooms/+/presence/+",
		"users/+/inbox/+/+", m->reply_sub};
	struct ev *e;
	(void)flags;
	(void)props;
	if (rc != 0) {
		hc_warn("msg=\"broker refused the bridge\" reason=%d (%s)", rc,
			mosquitto_reason_string(rc));
		return;
	}
	/* first the event, then the subscription: the loop resets the
	 * presence map before the retained presence arrives again */
	e = ev_new(EV_CONNECTED, 0);
	if (e)
		push(m, e, false);
	atomic_store(&m->connected, true);
	/* no-local: what this gateway publishes it has already delivered to
	 * its own sockets (socketio.c); the broker need not echo it back */
	rc = mosquitto_subscribe_multiple(mosq, NULL, 5, subs, 0, MQTT_SUB_OPT_NO_LOCAL, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		hc_err("msg=\"cannot subscribe\" err=%s", mosquitto_strerror(rc));
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc, const mosquitto_property *p)
{
	struct hbr_mqtt *m = ud;
	struct ev *e;
	(void)mosq;
	(void)p;
	atomic_store(&m->connected, false);
	atomic_store(&m->inflight, 0);
	if (m->lens) {
		memset(m->lens, 0, 65536 * sizeof(*m->lens));
		m->inflight_bytes = 0;
	}
	/* the next reconnect presents a fresh token */
	if (mint(m))
		hc_err("msg=\"cannot mint the service token\"");
	e = ev_new(EV_DISCONNECTED, 0);
	if (e) {
		e->rc = rc;
		push(m, e, false);
	}
#ifdef HBR_WITH_LIBEV
	if (m->loop && !m->h->stopping)
		m->reconnect_at_ms = hc_mono_ms() + 1000;
#endif
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *msg,
	const mosquitto_property *props)
{
	struct hbr_mqtt *m = ud;
	m->packets_in++;
	size_t tl = strlen(msg->topic), pl = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	struct ev *e = ev_new(EV_MESSAGE, tl + 1 + pl);
	char *name = NULL, *value = NULL;
	const char *slash;
	(void)mosq;
	if (!e)
		return;
	e->topic = e->data;
	memcpy(e->data, msg->topic, tl + 1);
	if (pl)
		memcpy(e->data + tl + 1, msg->payload, pl);
	e->plen = pl;
	e->ts_ms = hc_now_ms();
	/* our tag of the sending socket, among the user properties */
	for (const mosquitto_property *p = mosquitto_property_read_string_pair(
		     props, MQTT_PROP_USER_PROPERTY, &name, &value, false);
		p; p = mosquitto_property_read_string_pair(
			   p, MQTT_PROP_USER_PROPERTY, &name, &value, true)) {
		bool hit = name && value && !strcmp(name, ORIGIN_PROP);
		if (hit)
			snprintf(e->origin, sizeof(e->origin), "%s", value);
		free(name);
		free(value);
		name = value = NULL;
		if (hit)
			break;
	}
	/* users/{user}/reply/...: an answer to one of our calls (the only
	 * reply topics we subscribe to; an inbox event named "reply" is not) */
	slash = !strncmp(msg->topic, "users/", 6) ? strchr(msg->topic + 6, '/') : NULL;
	if (slash && !strncmp(slash, "/reply/", 7)) {
		/* its correlation data says whose */
		void *corr = NULL;
		uint16_t cl = 0;
		e->type = EV_REPLY;
		if (mosquitto_property_read_binary(
			    props, MQTT_PROP_CORRELATION_DATA, &corr, &cl, false) &&
			corr && cl <= sizeof(e->corr)) {
			memcpy(e->corr, corr, cl);
			e->corr_len = cl;
		}
		free(corr);
	}
	if (props) {
		/* how the payload reads as Socket.IO arguments (args.h) */
		char *ct = NULL;
		uint8_t pfi = 0;
		bool has_pfi = mosquitto_property_read_byte(props,
				       MQTT_PROP_PAYLOAD_FORMAT_INDICATOR, &pfi, false) != NULL;
		mosquitto_property_read_string(props, MQTT_PROP_CONTENT_TYPE, &ct, false);
		e->enc = hbr_args__enc_of(ct, ct ? strlen(ct) : 0, has_pfi ? pfi : -1);
		free(ct);
	}
	push(m, e, true);
}

static void on_publish(
	struct mosquitto *mosq, void *ud, int mid, int reason_code, const mosquitto_property *props)
{
	struct hbr_mqtt *m = ud;
	struct ev *e = ev_new(EV_PUBACK, 0);
	m->packets_in++;
	(void)mosq;
	(void)props;
	atomic_fetch_sub(&m->inflight, 1);
	if (m->lens && mid >= 0 && mid < 65536) {
		m->inflight_bytes -= m->lens[mid];
		m->lens[mid] = 0;
	}
	if (!e)
		return;
	e->mid = mid;
	e->rc = reason_code;
	push(m, e, false);
}

/* ---- the loop thread ---- */

#ifdef HBR_WITH_LIBEV
/* Watch libmosquitto's socket for reading, and for writing while it has
 * output pending. The socket changes on every reconnect. */
static void rearm(struct hbr_mqtt *m)
{
	int fd = mosquitto_socket(m->mosq);
	int want = fd < 0 ? 0 : EV_READ | (mosquitto_want_write(m->mosq) ? EV_WRITE : 0);

	if (fd == m->io_fd && want == m->io_events)
		return;
	if (m->io_fd >= 0)
		ev_io_stop(m->loop, &m->io);
	m->io_fd = fd;
	m->io_events = want;
	if (fd >= 0 && want) {
		ev_io_set(&m->io, fd, want);
		ev_io_start(m->loop, &m->io);
	}
}

static void lost(struct hbr_mqtt *m, int rc)
{
	/* libmosquitto closed the socket; on_disconnect ran (or was not due
	 * because the connect itself failed) */
	if (!m->reconnect_at_ms && !m->h->stopping)
		m->reconnect_at_ms = hc_mono_ms() + 1000;
	if (rc != MOSQ_ERR_SUCCESS)
		hc_debug("msg=\"broker link i/o ended\" err=%s", mosquitto_strerror(rc));
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hbr_mqtt *m = w->data;
	int rc = MOSQ_ERR_SUCCESS;
	(void)loop;
	/* libmosquitto reads one packet per call whatever max_packets says:
	 * keep reading while packets come (bounded, to stay fair to the
	 * Socket.IO side of the loop). A call that ran no callback read
	 * nothing whole (the socket is empty, or the packet was another kind):
	 * stop there; the watcher calls again while the socket has data. No
	 * poll() per packet to ask. */
	for (int i = 0; (revents & EV_READ) && i < 256; i++) {
		unsigned long before = m->packets_in;
		rc = mosquitto_loop_read(m->mosq, 1);
		if (rc != MOSQ_ERR_SUCCESS || m->packets_in == before ||
			mosquitto_socket(m->mosq) < 0)
			break;
	}
	if (rc == MOSQ_ERR_SUCCESS && (revents & EV_WRITE))
		rc = mosquitto_loop_write(m->mosq, 64);
	if (rc != MOSQ_ERR_SUCCESS && mosquitto_socket(m->mosq) < 0)
		lost(m, rc);
	hbr_mqtt__drain(m->h);
	rearm(m);
}

static void on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hbr_mqtt *m = w->data;
	(void)loop;
	(void)revents;
	if (m->reconnect_at_ms && hc_mono_ms() >= m->reconnect_at_ms && !m->h->stopping) {
		int rc;
		m->reconnect_at_ms = 0;
		if (mint(m))
			hc_err("msg=\"cannot mint the service token\"");
		rc = mosquitto_reconnect_async(m->mosq);
		if (rc != MOSQ_ERR_SUCCESS)
			m->reconnect_at_ms = hc_mono_ms() + 1000;
	}
	if (mosquitto_socket(m->mosq) >= 0 && mosquitto_loop_misc(m->mosq) != MOSQ_ERR_SUCCESS &&
		mosquitto_socket(m->mosq) < 0)
		lost(m, MOSQ_ERR_CONN_LOST);
	hbr_mqtt__drain(m->h);
	rearm(m);
}
#endif

int hbr_mqtt__start(struct hbr *h, char *err, size_t errsz)
{
	struct hbr_mqtt *m = calloc(1, sizeof(*m));
	char rnd[16];
	int rc;

	if (!m)
		return HUB_ERR_NOMEM;
	m->h = h;
	h->mq = m;
	pthread_mutex_init(&m->lock, NULL);
	mosquitto_lib_init();
	if (hc_random_token(6, rnd, sizeof(rnd)) ||
		hc_fmt(m->client_id, sizeof(m->client_id), "hub-bridge-%d-%s", (int)getpid(), rnd))
		return HUB_ERR_CRYPTO;
	snprintf(h->origin_tag, sizeof(h->origin_tag), "%s", m->client_id);
	/* where our calls' answers come: a tag of this process, so another
	 * gateway never subscribes to them */
	if (hc_random_token(9, h->reply_tag, sizeof(h->reply_tag)) ||
		hc_fmt(m->reply_sub, sizeof(m->reply_sub), "users/+/reply/%s", h->reply_tag))
		return HUB_ERR_CRYPTO;
	m->mosq = mosquitto_new(m->client_id, true, m);
	if (!m->mosq) {
		snprintf(err, errsz, "mosquitto_new failed");
		return HUB_ERR_NOMEM;
	}
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	/* thread mode: mosquitto_loop_start runs (and marks) its own thread;
	 * calling mosquitto_threaded_set as well would make it refuse */
	mosquitto_reconnect_delay_set(m->mosq, 1, 2, false);
	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
	mosquitto_message_v5_callback_set(m->mosq, on_message);
	mosquitto_publish_v5_callback_set(m->mosq, on_publish);
	if (mint(m)) {
		snprintf(err, errsz, "cannot mint the service token");
		return HUB_ERR_CRYPTO;
	}
	rc = mosquitto_connect_async(m->mosq, hc_cfg_str(&h->cfg, HC_CFG_MQTT_HOST),
		(int)hc_cfg_int(&h->cfg, HC_CFG_MQTT_PORT), MQ_KEEPALIVE);
	if (rc != MOSQ_ERR_SUCCESS)
		hc_warn("msg=\"broker not reachable yet; retrying\" host=%s port=%lld err=\"%s\"",
			hc_cfg_str(&h->cfg, HC_CFG_MQTT_HOST),
			(long long)hc_cfg_int(&h->cfg, HC_CFG_MQTT_PORT), mosquitto_strerror(rc));
#ifdef HBR_WITH_LIBEV
	if (h->ev_loop) {
		m->loop = h->ev_loop;
		m->io_fd = -1;
		m->lens = calloc(65536, sizeof(*m->lens));
		if (!m->lens) {
			snprintf(err, errsz, "out of memory");
			return HUB_ERR_NOMEM;
		}
		/* publishes are queued and written at the end of the loop pass
		 * (hbr_mqtt__flush), after the sockets' packets: a delivery
		 * leaves before the broker is woken for its copy, and the broker
		 * gets one burst per pass (libmosquitto writes at once only when
		 * no thread is declared) */
		mosquitto_threaded_set(m->mosq, true);
		ev_io_init(&m->io, on_io, -1, 0);
		m->io.data = m;
		ev_timer_init(&m->tick, on_tick, 0.1, 0.1);
		m->tick.data = m;
		ev_timer_start(m->loop, &m->tick);
		if (rc != MOSQ_ERR_SUCCESS)
			m->reconnect_at_ms = hc_mono_ms() + 1000;
		rearm(m);
	}
#endif
	if (!h->ev_loop) {
		rc = mosquitto_loop_start(m->mosq);
		if (rc != MOSQ_ERR_SUCCESS) {
			snprintf(err, errsz, "cannot start the MQTT thread: %s",
				mosquitto_strerror(rc));
			return HUB_ERR_IO;
		}
		m->started = true;
	}
	hc_info("msg=\"broker link\" client_id=%s host=%s port=%lld", m->client_id,
		hc_cfg_str(&h->cfg, HC_CFG_MQTT_HOST),
		(long long)hc_cfg_int(&h->cfg, HC_CFG_MQTT_PORT));
	return HUB_OK;
}

bool hbr_mqtt__connected(struct hbr *h)
{
	return h->mq && atomic_load(&h->mq->connected);
}

int hbr_mqtt__inflight(struct hbr *h)
{
	return h->mq ? atomic_load(&h->mq->inflight) : 0;
}

bool hbr_mqtt__backlogged(struct hbr *h)
{
	struct hbr_mqtt *m = h->mq;
	return m && (atomic_load(&m->inflight) >= HBR_INFLIGHT_MAX ||
			    m->inflight_bytes >= HBR_INFLIGHT_BYTES);
}

int hbr_mqtt__publish(struct hbr *h, const char *topic, const void *payload, size_t len, int enc,
	const char *origin, int *mid)
{
	return hbr_mqtt__request(h, topic, payload, len, enc, origin, NULL, NULL, 0, 1, mid);
}

int hbr_mqtt__request(struct hbr *h, const char *topic, const void *payload, size_t len, int enc,
	const char *origin, const char *reply, const void *corr, size_t corr_len, int qos, int *mid)
{
	struct hbr_mqtt *m = h->mq;
	mosquitto_property *props = NULL;
	const char *ct = hbr_args__ctype(enc);
	int rc;

	if (!m || !atomic_load(&m->connected))
		return HUB_ERR_BUSY;
	if ((origin && mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY,
			       ORIGIN_PROP, origin) != MOSQ_ERR_SUCCESS) ||
		(ct && mosquitto_property_add_string(&props, MQTT_PROP_CONTENT_TYPE, ct) !=
				MOSQ_ERR_SUCCESS) ||
		(reply && mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply) !=
				  MOSQ_ERR_SUCCESS) ||
		(corr && mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr,
				 (uint16_t)corr_len) != MOSQ_ERR_SUCCESS)) {
		mosquitto_property_free_all(&props);
		return HUB_ERR_NOMEM;
	}
	atomic_fetch_add(&m->inflight, 1);
	rc = mosquitto_publish_v5(m->mosq, mid, topic, (int)len, payload, qos, false, props);
	mosquitto_property_free_all(&props);
#ifdef HBR_WITH_LIBEV
	/* in-loop: the publish was written at once if the socket took it;
	 * watch for writability only when some is left */
	if (m->loop)
		rearm(m);
#endif
	if (rc == MOSQ_ERR_SUCCESS && m->lens && *mid >= 0 && *mid < 65536) {
		m->inflight_bytes += len - m->lens[*mid]; /* an id reused: its old wait is over */
		m->lens[*mid] = (uint32_t)len;
	}
	if (rc != MOSQ_ERR_SUCCESS) {
		atomic_fetch_sub(&m->inflight, 1);
		hc_warn("msg=\"publish failed\" topic=%s bytes=%zu err=%s", topic, len,
			mosquitto_strerror(rc));
		return rc == MOSQ_ERR_OVERSIZE_PACKET || rc == MOSQ_ERR_PAYLOAD_SIZE
			       ? HUB_ERR_TOOBIG
			       : HUB_ERR_BUSY;
	}
	return HUB_OK;
}

void hbr_mqtt__flush(struct hbr *h)
{
#ifdef HBR_WITH_LIBEV
	struct hbr_mqtt *m = h->mq;
	if (!m || !m->loop || mosquitto_socket(m->mosq) < 0 || !mosquitto_want_write(m->mosq))
		return;
	if (mosquitto_loop_write(m->mosq, 1) != MOSQ_ERR_SUCCESS && mosquitto_socket(m->mosq) < 0)
		lost(m, MOSQ_ERR_CONN_LOST);
	rearm(m);
#else
	(void)h;
#endif
}

void hbr_mqtt__drain(struct hbr *h)
{
	struct hbr_mqtt *m = h->mq;
	struct ev *e, *next;

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	e = m->head;
	m->head = m->tail = NULL;
	m->bytes = 0;
	pthread_mutex_unlock(&m->lock);
	{
		unsigned long d = atomic_exchange(&m->dropped, 0);
		if (d) {
			h->stats.mqtt_dropped += d;
			hc_warn("msg=\"broker messages dropped: the loop fell behind\" count=%lu",
				d);
		}
	}
	for (; e; e = next) {
		next = e->next;
		switch (e->type) {
		case EV_MESSAGE:
			hbr_rooms__deliver(h, e->topic, e->data + strlen(e->topic) + 1, e->plen,
				e->enc, e->origin, e->ts_ms);
			break;
		case EV_REPLY:
			hbr_calls__answer(h, e->topic, e->corr, e->corr_len,
				e->data + strlen(e->topic) + 1, e->plen);
			break;
		case EV_PUBACK:
			hbr_sio__puback(h, e->mid, e->rc);
			break;
		case EV_CONNECTED:
			hc_info("msg=\"connected to the broker\" client_id=%s", m->client_id);
			hbr_rooms__presence_reset(h);
			hbr_presence__reattach_all(h);
			break;
		case EV_DISCONNECTED:
			hc_warn("msg=\"broker link lost; reconnecting\" rc=%d", e->rc);
			hbr_calls__link_lost(h);
			break;
		default:
			break;
		}
		free(e);
	}
}

void hbr_mqtt__stop(struct hbr *h)
{
	struct hbr_mqtt *m = h->mq;
	struct ev *e, *next;

	if (!m)
		return;
	if (m->mosq) {
		mosquitto_disconnect_v5(m->mosq, 0, NULL);
		if (m->started)
			mosquitto_loop_stop(m->mosq, false);
#ifdef HBR_WITH_LIBEV
		if (m->loop) {
			mosquitto_loop_write(m->mosq, 1); /* the DISCONNECT */
			if (m->io_fd >= 0)
				ev_io_stop(m->loop, &m->io);
			ev_timer_stop(m->loop, &m->tick);
		}
#endif
		mosquitto_destroy(m->mosq);
	}
	mosquitto_lib_cleanup();
	for (e = m->head; e; e = next) {
		next = e->next;
		free(e);
	}
	pthread_mutex_destroy(&m->lock);
	free(m->lens);
	free(m);
	h->mq = NULL;
}
