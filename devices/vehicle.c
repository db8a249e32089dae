/* SPDX-License-Identifier: MIT */
/*
 * One vehicle's MQTT connection: connect, CONNACK, publish from the fix
 * queue with a bounded in-flight window, PUBACK bookkeeping, loss and
 * reconnect with backoff, clean DISCONNECT. See vehicle.h for the states.
 */
#include "vehicle.h"

#include "fleet.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"
#include "owntracks.h"

#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

/* Per-vehicle events go to info for small fleets, to debug for big ones
 * (the status line covers those). */
#define vlog(v, ...) hc_log((v)->fleet->verbose_vehicles ? HC_LOG_INFO : HC_LOG_DEBUG, __VA_ARGS__)

#define MISC_INTERVAL_MS 1000

static const char status_will[] = "{\"online\":false}";

/* ------------------------------------------------------------ callbacks */
/* They run inside mosquitto_loop_*: record only, act in after_io(). */

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct trk_vehicle *v = ud;
	(void)m;
	v->connack = rc;
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	struct trk_vehicle *v = ud;
	(void)m;
	v->lost = true;
	v->disconnect_rc = rc;
	v->disconnect_errno = errno;
}

/* Why the connection ended, for log lines. */
static const char *lost_reason(const struct trk_vehicle *v)
{
	if (v->disconnect_rc == MOSQ_ERR_ERRNO && v->disconnect_errno)
		return strerror(v->disconnect_errno);
	return mosquitto_strerror(v->disconnect_rc);
}

static void on_publish(
	struct mosquitto *m, void *ud, int mid, int reason, const mosquitto_property *props)
{
	struct trk_vehicle *v = ud;
	(void)m;
	(void)props;
	if (!trk_fixq__ack(&v->q, mid))
		return; /* not in flight any more (dropped meanwhile) */
	v->acked++;
	v->fleet->stats.acked++;
	if (reason >= 0x80) {
		/* v5 only: the broker did not take it; sending again would not help */
		v->denied++;
		v->fleet->stats.denied++;
		if (!v->denied_noted) {
			v->denied_noted = true;
			hc_err("msg=\"%s: the broker refused a publish on %s: %s\" device=%s "
			       "reason=0x%02x",
				v->id, v->topic, mosquitto_reason_string(reason), v->id, reason);
		}
	}
}

/* -------------------------------------------------------------- helpers */

static const struct trk_opts *opts(const struct trk_vehicle *v)
{
	return v->fleet->o;
}

/* Human text for a refused CONNACK. The hub answers 5 (3.x) or 0x86/0x87
 * (5.0) for a wrong device id or secret. */
static const char *refusal_text(int rc, char *buf, size_t n)
{
	switch (rc) {
	case CONNACK_REFUSED_BAD_USERNAME_PASSWORD:
	case CONNACK_REFUSED_NOT_AUTHORIZED:
	case MQTT_RC_BAD_USERNAME_OR_PASSWORD:
	case MQTT_RC_NOT_AUTHORIZED:
		return "not authorised (wrong device id or secret)";
	case CONNACK_REFUSED_PROTOCOL_VERSION:
	case MQTT_RC_UNSUPPORTED_PROTOCOL_VERSION:
		return "protocol version not accepted (try --protocol)";
	case CONNACK_REFUSED_IDENTIFIER_REJECTED:
	case MQTT_RC_CLIENTID_NOT_VALID:
		return "client id rejected";
	case CONNACK_REFUSED_SERVER_UNAVAILABLE:
	case MQTT_RC_SERVER_UNAVAILABLE:
	case MQTT_RC_SERVER_BUSY:
		return "server unavailable";
	default:
		snprintf(buf, n, "%s",
			rc >= 0x80 ? mosquitto_reason_string(rc) : mosquitto_connack_string(rc));
		return buf;
	}
}

static bool is_auth_refusal(int rc)
{
	return rc == CONNACK_REFUSED_BAD_USERNAME_PASSWORD ||
	       rc == CONNACK_REFUSED_NOT_AUTHORIZED || rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD ||
	       rc == MQTT_RC_NOT_AUTHORIZED;
}

/* Close and forget the client (no DISCONNECT: the socket just closes). */
static void drop_client(struct trk_vehicle *v)
{
	if (!v->mosq)
		return;
	trk_fleet__unwatch(v->fleet, v);
	mosquitto_destroy(v->mosq);
	v->mosq = NULL;
	v->fd = -1;
	v->events = 0;
	trk_fixq__requeue(&v->q);
}

/* A connection attempt failed before any CONNACK: the first of a run is
 * worth a warning (small fleets), the rest only debug lines. */
static void attempt_failed(struct trk_vehicle *v, const char *why, int64_t delay_ms)
{
	int level = HC_LOG_DEBUG;

	if (!v->unreachable_noted && v->fleet->verbose_vehicles)
		level = HC_LOG_WARN;
	v->unreachable_noted = true;
	hc_log(level, "msg=\"%s: cannot connect to %s:%d (%s); retrying in %.1f s\" device=%s",
		v->id, v->fleet->host, v->fleet->port, why, (double)delay_ms / 1000.0, v->id);
}

static void retry_later(struct trk_vehicle *v, int64_t now_ms, int64_t delay_ms)
{
	v->state = TRK_V_IDLE;
	v->next_connect_ms = now_ms + delay_ms;
}

/* Hand queued fixes to the client, oldest first, up to the window. */
static void pump(struct trk_vehicle *v, int64_t now_ms)
{
	const struct trk_opts *o = opts(v);
	char payload[TRK_PAYLOAD_MAX];
	int64_t wall_ms = hc_now_ms();
	(void)now_ms;

	while (v->state == TRK_V_ONLINE && v->q.inflight < (size_t)o->inflight) {
		struct trk_fixq_entry *e = trk_fixq__next(&v->q);
		int len, mid = 0, rc;
		if (!e)
			break;
		len = trk_owntracks__location(&e->fix, v->tid, wall_ms / 1000, o->bench, wall_ms,
			payload, sizeof(payload));
		if (len < 0)
			break; /* cannot happen: TRK_PAYLOAD_MAX covers every field */
		rc = mosquitto_publish(v->mosq, &mid, v->topic, len, payload, 1, o->retain);
		if (rc != MOSQ_ERR_SUCCESS) {
			/* the socket failed under us: the read side reports the loss */
			hc_debug("msg=\"%s: publish failed: %s\" device=%s", v->id,
				mosquitto_strerror(rc), v->id);
			break;
		}
		trk_fixq__sent(&v->q, mid);
		v->sent++;
		v->fleet->stats.sent++;
	}
}

static void went_online(struct trk_vehicle *v, int64_t now_ms)
{
	const struct trk_opts *o = opts(v);

	v->state = TRK_V_ONLINE;
	v->online_since_ms = now_ms;
	v->refusal_noted = false;
	v->refusals = 0;
	v->unreachable_noted = false;
	trk_backoff__reset(&v->backoff);
	v->fleet->stats.connects++;
	if (v->outcome == TRK_OUT_NONE)
		v->outcome = TRK_OUT_CONNECTED;
	if (v->offline_since_ms) {
		uint64_t dropped = v->q.dropped - v->dropped_before;
		vlog(v,
			"msg=\"%s: reconnected after %.1f s; sending %zu buffered fixes, %llu "
			"dropped while offline\" device=%s buffered=%zu dropped=%llu buffer=%ld",
			v->id, (double)(now_ms - v->offline_since_ms) / 1000.0, v->q.len,
			(unsigned long long)dropped, v->id, v->q.len, (unsigned long long)dropped,
			o->buffer);
		v->offline_since_ms = 0;
	} else {
		vlog(v, "msg=\"%s: connected\" device=%s topic=%s", v->id, v->id, v->topic);
	}
	if (o->once && !v->once_taken)
		trk_vehicle__take_fix(v, now_ms);
}

#define REFUSALS_FINAL 3

static void refused(struct trk_vehicle *v, int rc, int64_t now_ms)
{
	const struct trk_opts *o = opts(v);
	char buf[96];

	v->fleet->stats.refusals++;
	v->refusals++;
	/* a device is in force when `hubctl device add` returns, but a
	 * broker that is still starting or a secret being fixed can refuse it
	 * once. Only a device refused three times in a row (over a few
	 * seconds) counts as refused */
	if (v->outcome == TRK_OUT_NONE && v->refusals >= REFUSALS_FINAL)
		v->outcome = TRK_OUT_REFUSED;
	if (!v->refusal_noted) {
		v->refusal_noted = true;
		hc_err("msg=\"%s: connection refused: %s\" device=%s code=%d", v->id,
			refusal_text(rc, buf, sizeof(buf)), v->id, rc);
	}
	if (v->refusals < REFUSALS_FINAL && is_auth_refusal(rc)) {
		retry_later(v, now_ms, 1000);
		return;
	}
	if (o->once) {
		v->state = TRK_V_DONE;
		return;
	}
	/* a wrong secret does not heal by itself: ask rarely (the device may
	 * be created or its secret fixed meanwhile) */
	if (is_auth_refusal(rc))
		v->backoff.attempt = 64;
	retry_later(v, now_ms, trk_backoff__next(&v->backoff, &v->rng));
}

/* The connection ended (the client already closed the socket). */
static void handle_lost(struct trk_vehicle *v, int64_t now_ms)
{
	enum trk_vstate was = v->state;
	int connack = v->connack;
	const char *why = lost_reason(v);
	int64_t delay;

	v->lost = false;
	v->fd = -1; /* closed: the kernel dropped it from the epoll set */
	drop_client(v);
	if (was == TRK_V_CLOSING || v->fleet->stopping) {
		v->state = TRK_V_DONE;
		return;
	}
	if (connack > 0) {
		refused(v, connack, now_ms);
		return;
	}
	if (was == TRK_V_ONLINE) {
		v->fleet->stats.losses++;
		v->offline_since_ms = now_ms;
		v->dropped_before = v->q.dropped;
		trk_backoff__reset(&v->backoff);
		delay = trk_backoff__next(&v->backoff, &v->rng);
		hc_log(v->fleet->verbose_vehicles ? HC_LOG_WARN : HC_LOG_DEBUG,
			"msg=\"%s: connection lost (%s); buffering fixes, reconnecting in %.1f s\" "
			"device=%s",
			v->id, why, (double)delay / 1000.0, v->id);
	} else {
		v->fleet->stats.conn_errors++;
		if (!v->offline_since_ms) {
			v->offline_since_ms = now_ms;
			v->dropped_before = v->q.dropped;
		}
		delay = trk_backoff__next(&v->backoff, &v->rng);
		attempt_failed(v, why, delay);
	}
	retry_later(v, now_ms, delay);
}

/* --once: the fix is acknowledged, say goodbye. */
static void maybe_finish_once(struct trk_vehicle *v)
{
	if (!opts(v)->once || v->state != TRK_V_ONLINE || !v->once_taken || v->q.len)
		return;
	v->once_ok = true;
	v->state = TRK_V_CLOSING;
	mosquitto_disconnect(v->mosq); /* may report the end at once */
}

/* After anything libmosquitto did for this vehicle. */
static void after_io(struct trk_vehicle *v, int64_t now_ms)
{
	if (v->state == TRK_V_CONNECTING && v->connack == 0)
		went_online(v, now_ms);
	if (!v->lost && v->state == TRK_V_ONLINE) {
		pump(v, now_ms);
		if (v->fleet->stopping && !v->q.len)
			trk_vehicle__stop(v, TRK_STOP_DRAIN, now_ms);
		maybe_finish_once(v);
	}
	if (v->lost)
		handle_lost(v, now_ms);
	else if (v->mosq)
		trk_fleet__watch(v->fleet, v);
}

/* ------------------------------------------------------------------ API */

int trk_vehicle__init(struct trk_vehicle *v, struct trk_fleet *f, size_t index, const char *id,
	const char *secret, uint64_t seed)
{
	const struct trk_opts *o = f->o;
	char hash[65], both[2 * HC_NAME_MAX + 2];

	memset(v, 0, sizeof(*v));
	v->fleet = f;
	v->index = index;
	v->fd = -1;
	v->connack = -1;
	snprintf(v->id, sizeof(v->id), "%s", id);
	v->secret = secret;
	trk_owntracks__tid(id, v->tid);
	if (hc_fmt(v->topic, sizeof(v->topic), "owntracks/%s/%s", id, o->name))
		return HUB_ERR_TOOBIG;
	if (o->will == TRK_WILL_STATUS) {
		if (hc_fmt(v->will_topic, sizeof(v->will_topic), "users/%s/status", id))
			return HUB_ERR_TOOBIG;
	} else {
		snprintf(v->will_topic, sizeof(v->will_topic), "%s", v->topic);
	}
	/* one stable client id per device and topic: a restarted tracker takes
	 * over its old, maybe half-open, connection. MQTT 3.1 allows 23 bytes. */
	snprintf(both, sizeof(both), "%s/%s", id, o->name);
	if (o->protocol == MQTT_PROTOCOL_V31) {
		hc_sha256_hex(both, strlen(both), hash);
		snprintf(v->client_id, sizeof(v->client_id), "trk%.20s", hash);
	} else if (hc_fmt(v->client_id, sizeof(v->client_id), "trk-%s-%s", id, o->name)) {
		return HUB_ERR_TOOBIG;
	}
	v->rng = seed ^ (0x9E3779B97F4A7C15ull * (index + 7));
	trk_rand__next(&v->rng);
	trk_backoff__init(&v->backoff, o->backoff_min_ms, o->backoff_max_ms);
	trk_fixq__init(&v->q, (size_t)o->buffer);
	trk_sim__init(&v->sim, f->routes, index, f->n, seed);
	v->state = TRK_V_IDLE;
	return HUB_OK;
}

void trk_vehicle__free(struct trk_vehicle *v)
{
	drop_client(v);
	trk_fixq__free(&v->q);
}

void trk_vehicle__connect(struct trk_vehicle *v, int64_t now_ms)
{
	const struct trk_opts *o = opts(v);
	struct trk_fleet *f = v->fleet;
	struct mosquitto *m;
	char lwt[TRK_PAYLOAD_MAX];
	int rc, len;

	if (v->state != TRK_V_IDLE)
		return;
	if (!v->started) {
		/* a tracker takes fixes from power-on, connected or not */
		v->started = true;
		v->next_fix_ms = now_ms;
	}
	m = mosquitto_new(v->client_id, true, v);
	if (!m) {
		hc_err("msg=\"%s: cannot create an MQTT client: %s\" device=%s", v->id,
			strerror(errno), v->id);
		retry_later(v, now_ms, trk_backoff__next(&v->backoff, &v->rng));
		return;
	}
	mosquitto_int_option(m, MOSQ_OPT_PROTOCOL_VERSION, o->protocol);
	if (f->tls_ctx) {
		/* the fleet's one verified context, as it is (tls.h) */
		mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
		mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, f->tls_ctx);
	}
	mosquitto_username_pw_set(m, v->id, v->secret);
	v->connect_tst = hc_now();
	if (o->will == TRK_WILL_STATUS) {
		mosquitto_will_set(
			m, v->will_topic, (int)strlen(status_will), status_will, 1, true);
	} else if (o->will == TRK_WILL_OWNTRACKS) {
		len = trk_owntracks__lwt(v->connect_tst, lwt, sizeof(lwt));
		if (len > 0)
			mosquitto_will_set(m, v->will_topic, len, lwt, 1, false);
	}
	mosquitto_connect_callback_set(m, on_connect);
	mosquitto_disconnect_callback_set(m, on_disconnect);
	mosquitto_publish_v5_callback_set(m, on_publish);
	v->connack = -1;
	v->lost = false;
	v->disconnect_rc = 0;
	errno = 0;
	rc = mosquitto_connect_async(m, f->host, f->port, o->keepalive);
	if (rc != MOSQ_ERR_SUCCESS) {
		int64_t delay;
		const char *why = rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc);
		mosquitto_destroy(m);
		f->stats.conn_errors++;
		if (!v->offline_since_ms) {
			v->offline_since_ms = now_ms;
			v->dropped_before = v->q.dropped;
		}
		delay = trk_backoff__next(&v->backoff, &v->rng);
		attempt_failed(v, why, delay);
		retry_later(v, now_ms, delay);
		return;
	}
	v->mosq = m;
	v->state = TRK_V_CONNECTING;
	v->connect_deadline_ms = now_ms + o->connect_timeout_ms;
	v->next_misc_ms = now_ms + MISC_INTERVAL_MS;
	after_io(v, now_ms);
}

void trk_vehicle__io(struct trk_vehicle *v, uint32_t events, int64_t now_ms)
{
	if (!v->mosq)
		return;
	/* a TLS handshake that waited to write goes on in loop_read only
	 * (libmosquitto 2.0's loop_write does nothing while it runs) */
	if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP)) ||
		(v->connack < 0 && v->fleet->tls_ctx && (events & EPOLLOUT)))
		mosquitto_loop_read(v->mosq, 1);
	if (!v->lost && v->mosq && (events & EPOLLOUT))
		mosquitto_loop_write(v->mosq, 1);
	after_io(v, now_ms);
}

void trk_vehicle__take_fix(struct trk_vehicle *v, int64_t now_ms)
{
	struct trk_fix fix;

	trk_sim__step(&v->sim, hc_now_ms(), &fix);
	trk_fixq__push(&v->q, &fix);
	v->fixes++;
	v->fleet->stats.fixes++;
	if (opts(v)->once)
		v->once_taken = true;
	if (v->state == TRK_V_ONLINE)
		pump(v, now_ms);
}

int64_t trk_vehicle__timers(struct trk_vehicle *v, int64_t now_ms)
{
	const struct trk_opts *o = opts(v);
	struct trk_fleet *f = v->fleet;
	int64_t next = INT64_MAX;
	char why[64];

	if (v->state == TRK_V_DONE)
		return next;
	if (v->state == TRK_V_IDLE && !f->stopping) {
		if (now_ms >= v->next_connect_ms) {
			if (trk_fleet__take_token(f, now_ms))
				trk_vehicle__connect(v, now_ms);
			else
				next = now_ms + TRK_TICK_MS; /* no token yet: next pass */
		}
		if (v->state == TRK_V_IDLE && v->next_connect_ms < next)
			next = v->next_connect_ms > now_ms ? v->next_connect_ms
							   : now_ms + TRK_TICK_MS;
	}
	if (v->state == TRK_V_CONNECTING && now_ms >= v->connect_deadline_ms) {
		int64_t delay = trk_backoff__next(&v->backoff, &v->rng);
		drop_client(v);
		f->stats.conn_errors++;
		if (!v->offline_since_ms) {
			v->offline_since_ms = now_ms;
			v->dropped_before = v->q.dropped;
		}
		snprintf(why, sizeof(why), "no CONNACK within %.1f s",
			(double)o->connect_timeout_ms / 1000.0);
		attempt_failed(v, why, delay);
		retry_later(v, now_ms, delay);
		next = v->next_connect_ms < next ? v->next_connect_ms : next;
	}
	if (v->mosq && now_ms >= v->next_misc_ms) {
		/* keepalive: PINGREQ when due, and the end of a silent broker */
		mosquitto_loop_misc(v->mosq);
		v->next_misc_ms = now_ms + MISC_INTERVAL_MS;
		after_io(v, now_ms);
	}
	if (v->mosq && v->next_misc_ms < next)
		next = v->next_misc_ms;
	if (v->state == TRK_V_CONNECTING && v->connect_deadline_ms < next)
		next = v->connect_deadline_ms;
	if (v->started && !o->once && !f->stopping && v->state != TRK_V_DONE) {
		if (now_ms >= v->next_fix_ms) {
			trk_vehicle__take_fix(v, now_ms);
			v->next_fix_ms += f->period_ms;
			if (v->next_fix_ms <= now_ms) /* fell behind: no burst to catch up */
				v->next_fix_ms = now_ms + f->period_ms;
		}
		if (v->next_fix_ms < next)
			next = v->next_fix_ms;
	}
	return next;
}

void trk_vehicle__stop(struct trk_vehicle *v, int urgency, int64_t now_ms)
{
	switch (v->state) {
	case TRK_V_IDLE:
		v->state = TRK_V_DONE;
		break;
	case TRK_V_CONNECTING:
		drop_client(v);
		v->state = TRK_V_DONE;
		break;
	case TRK_V_ONLINE:
		if (urgency == TRK_STOP_DRAIN && v->q.len)
			break; /* after_io() comes back when the queue is empty */
		if (urgency == TRK_STOP_DROP) {
			drop_client(v);
			v->state = TRK_V_DONE;
			break;
		}
		v->state = TRK_V_CLOSING;
		if (mosquitto_disconnect(v->mosq) != MOSQ_ERR_SUCCESS) {
			drop_client(v);
			v->state = TRK_V_DONE;
			break;
		}
		after_io(v, now_ms); /* the DISCONNECT may be out already */
		break;
	case TRK_V_CLOSING:
		if (urgency == TRK_STOP_DROP) {
			drop_client(v);
			v->state = TRK_V_DONE;
		}
		break;
	case TRK_V_DONE:
		break;
	}
}
