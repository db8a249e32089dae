/* SPDX-License-Identifier: MIT */
/*
 * The service role (CONTRACT.md "Backends"): a backend logged in with its
 * service key answers calls svc/{service}/{method}/{caller} and checks the
 * events of the rooms hooked to it, svc/{service}/hook/{room}/{event}/
 * {sender}, each carrying a Response Topic and Correlation Data; the hub
 * stamps who asks as user properties hub-user, hub-display, hub-role,
 * hub-kind. Every process of a service subscribes
 * $share/{service}/svc/{service}/#, so the broker hands each call to one
 * of them; a process that stops or dies takes only the calls it holds.
 *
 * A call handed to a handler is a struct hubio_call in the in-flight list
 * until it is answered (from the handler or later, from any thread),
 * which frees it. Bounds: inflight_max calls in flight (beyond: answered
 * "busy" at once, without a handler); what a call keeps is its ctx, its
 * Response Topic and Correlation Data (each bounded below), never its
 * payload.
 *
 * Answers go only where the hub lets a caller point them: a call's
 * Response Topic must be users/{caller}/reply/..., a hook request's
 * $hub/verdict/{service}/{id}; anything else is not answered (the broker
 * refuses the same, this keeps a wrong hub from making us publish
 * elsewhere).
 *
 * Stopping (hubio_stop): UNSUBSCRIBE the calls filter, keep the
 * connection while calls are in flight, then DISCONNECT once all are
 * answered (and the hub confirmed the UNSUBSCRIBE, after which no new call
 * is routed here) or at the deadline.
 */
#include "hubio_int.h"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What one call may make us keep: the Response Topic (the hub's is
 * users/{64}/reply/ + 3 levels, or $hub/verdict/{64}/{32}) and the
 * Correlation Data (the hub's: 32 bytes; clients choose theirs). */
#define REPLY_TOPIC_MAX 1024
#define CORR_MAX	1024
#define DISPLAY_MAX	1024
#define STOP_DEFAULT_MS 10000

/* ------------------------------------------------------------- creating */

static int check_options(const struct hubio_service_options *o)
{
	if (!o || !hubio__name_valid(o->service) || !o->key || !o->key[0] ||
		strlen(o->key) >= HUBIO_TOKEN_MAX)
		return HUBIO_EINVAL;
	if (o->port < 0 || o->port > 65535 || o->keepalive < 0 || o->keepalive > 65535)
		return HUBIO_EINVAL;
	if (o->client_id &&
		(!o->client_id[0] || strpbrk(o->client_id, "/+#") || strlen(o->client_id) > 128))
		return HUBIO_EINVAL;
	if (o->backoff_min_ms < 0 || o->backoff_max_ms < 0 || o->inflight_max < 0 ||
		o->pending_max < 0 || (o->exclusive != 0 && o->exclusive != 1))
		return HUBIO_EINVAL;
	return HUBIO_OK;
}

HUBIO_API int hubio_service_new(const struct hubio_service_options *o, struct hubio **out)
{
	struct hubio__init in = {0};
	char prefix[96];
	int rc;

	if (!out)
		return HUBIO_EINVAL;
	*out = NULL;
	if ((rc = check_options(o)))
		return rc;
	snprintf(prefix, sizeof(prefix), "%s-%ld", o->service, (long)getpid());
	in.host = o->host;
	in.port = o->port;
	in.username = o->service;
	in.token = o->key;
	in.client_id = o->client_id;
	in.client_prefix = prefix;
	in.keepalive = o->keepalive;
	in.protocol = 5;
	in.backoff_min_ms = o->backoff_min_ms;
	in.backoff_max_ms = o->backoff_max_ms;
	in.pending_max = o->pending_max;
	in.service = true;
	in.exclusive = o->exclusive == 1;
	in.inflight_max = o->inflight_max ? o->inflight_max : 1024;
	return hubio__create(&in, out);
}

/* ------------------------------------------------------------- handlers */

static struct hubio__route *route_find(struct hubio *h, bool hook, const char *name)
{
	for (struct hubio__route *r = h->routes; r; r = r->next)
		if (r->hook == hook && strcmp(r->name, name) == 0)
			return r;
	return NULL;
}

static int route_set(struct hubio *h, bool hook, const char *name, hubio_handler_fn fn, void *ud)
{
	struct hubio__route *r, **pp;
	int rc = HUBIO_OK;

	hubio__lock(h);
	if (!h->service) {
		rc = HUBIO_EINVAL;
		goto done;
	}
	r = route_find(h, hook, name);
	if (!fn) {
		if (!r) {
			rc = HUBIO_ENOTFOUND;
			goto done;
		}
		/* a handler running now copied fn and ud before the call */
		for (pp = &h->routes; *pp != r; pp = &(*pp)->next)
			;
		*pp = r->next;
		free(r);
		goto done;
	}
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r) {
			rc = HUBIO_ENOMEM;
			goto done;
		}
		r->hook = hook;
		memcpy(r->name, name, strlen(name) + 1);
		r->next = h->routes;
		h->routes = r;
	}
	r->fn = fn;
	r->ud = ud;
done:
	hubio__unlock(h);
	return rc;
}

HUBIO_API int hubio_handle(struct hubio *h, const char *method, hubio_handler_fn fn, void *ud)
{
	if (!h || !method || !hubio__method_valid(method))
		return HUBIO_EINVAL;
	return route_set(h, false, method, fn, ud);
}

HUBIO_API int hubio_hook(struct hubio *h, const char *room, hubio_handler_fn fn, void *ud)
{
	if (!h || (room && !hubio__name_valid(room)))
		return HUBIO_EINVAL;
	return route_set(h, true, room ? room : "", fn, ud);
}

/* ------------------------------------------------------ calls in flight */

static void call_free(struct hubio_call *c)
{
	if (!c)
		return;
	free(c->reply);
	free(c->corr);
	free(c->display);
	free(c);
}

static void unlink_call(struct hubio *h, struct hubio_call *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		h->calls = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	h->ninflight--;
}

/* The hub's stamp, the last value of each name (the hub drops every hub-*
 * property a client set, then adds its own). */
static void read_stamp(struct hubio_call *c, const mosquitto_property *props)
{
	const mosquitto_property *p;
	char *name = NULL, *value = NULL;

	for (p = props; p; p = mosquitto_property_next(p)) {
		if (mosquitto_property_identifier(p) != MQTT_PROP_USER_PROPERTY)
			continue;
		if (!mosquitto_property_read_string_pair(
			    p, MQTT_PROP_USER_PROPERTY, &name, &value, false))
			continue;
		size_t vl = strlen(value);
		if (!strcmp(name, "hub-user") && hubio__name_valid(value)) {
			memcpy(c->user, value, vl + 1);
		} else if (!strcmp(name, "hub-role") && vl < sizeof(c->role)) {
			memcpy(c->role, value, vl + 1);
		} else if (!strcmp(name, "hub-kind") && vl < sizeof(c->kind)) {
			memcpy(c->kind, value, vl + 1);
		} else if (!strcmp(name, "hub-display") && vl <= DISPLAY_MAX) {
			free(c->display);
			c->display = value;
			value = NULL;
		}
		free(name);
		free(value);
		name = value = NULL;
	}
}

/* A call from the message: NULL when out of memory. */
static struct hubio_call *call_new(
	struct hubio *h, const struct hubio__topic *t, const mosquitto_property *props)
{
	struct hubio_call *c = calloc(1, sizeof(*c));
	char *rt = NULL;
	void *corr = NULL;
	uint16_t clen = 0;
	size_t rl;

	if (!c)
		return NULL;
	c->h = h;
	c->hook = t->kind == HUBIO__T_HOOK;
	memcpy(c->service, t->user, sizeof(c->service));
	memcpy(c->name, t->event, sizeof(c->name));
	memcpy(c->room, t->room, sizeof(c->room));
	/* defaults when the stamp is missing: the topic's sender */
	memcpy(c->user, t->from, sizeof(c->user));
	memcpy(c->role, "user", 5);
	memcpy(c->kind, "user", 5);
	read_stamp(c, props);
	if (!c->display) {
		c->display = strdup("");
		if (!c->display)
			goto fail;
	}
	mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &rt, false);
	mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &clen, false);
	rl = rt ? strlen(rt) : 0;
	if (rt && rl <= REPLY_TOPIC_MAX && clen <= CORR_MAX &&
		(c->hook ? hubio__topic_verdict_ok(rt, rl, c->service)
			 : hubio__topic_answer_ok(rt, rl, t->from))) {
		c->reply = rt;
		c->corr = corr;
		c->corr_len = clen;
		rt = NULL;
		corr = NULL;
	}
	free(rt);
	free(corr);
	c->ctx.service = c->service;
	c->ctx.method = c->hook ? NULL : c->name;
	c->ctx.room = c->hook ? c->room : NULL;
	c->ctx.event = c->hook ? c->name : NULL;
	c->ctx.user = c->user;
	c->ctx.display_name = c->display;
	c->ctx.role = c->role;
	c->ctx.kind = c->kind;
	c->ctx.ts = hubio__wall_ms();
	return c;
fail:
	call_free(c);
	return NULL;
}

static void check_stopped(struct hubio *h, int64_t now);

/* An answer's PUBLISH awaiting its PUBACK (see hubio_int.h). When the list
 * cannot grow the answer is simply not waited for. */
static void keep_answer_mid(struct hubio *h, int mid)
{
	if (h->nanswer_mids == h->answer_mids_cap) {
		int cap = h->answer_mids_cap ? h->answer_mids_cap * 2 : 16;
		int *m = realloc(h->answer_mids, (size_t)cap * sizeof(*m));
		if (!m)
			return;
		h->answer_mids = m;
		h->answer_mids_cap = cap;
	}
	h->answer_mids[h->nanswer_mids++] = mid;
}

void hubio__serve_puback(struct hubio *h, int mid)
{
	for (int i = 0; i < h->nanswer_mids; i++)
		if (h->answer_mids[i] == mid) {
			h->answer_mids[i] = h->answer_mids[--h->nanswer_mids];
			if (h->stopping)
				check_stopped(h, hubio__mono_ms());
			return;
		}
}

/* Publish the answer of c (if it wants one), unlink and free c. */
static int finish_call(struct hubio *h, struct hubio_call *c, const char *json, size_t len)
{
	mosquitto_property *props = NULL;
	int rc = HUBIO_OK;

	if (c->reply) {
		if (c->corr_len && mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA,
					   c->corr, c->corr_len))
			rc = HUBIO_ENOMEM;
		else if (!h->up)
			rc = HUBIO_ENOTCONN;
		else {
			int mid = 0;
			rc = hubio__map_mosq(mosquitto_publish_v5(
				h->mosq, &mid, c->reply, (int)len, json, 1, false, props));
			if (rc == HUBIO_OK && mid)
				keep_answer_mid(h, mid);
		}
		mosquitto_property_free_all(&props);
		hubio__wakeup(h);
	}
	if (c->prev || c->next || h->calls == c)
		unlink_call(h, c);
	call_free(c);
	if (h->stopping)
		check_stopped(h, hubio__mono_ms());
	return rc;
}

/* Answer c with json made by a builder (rc its result). */
static int finish_built(struct hubio *h, struct hubio_call *c, int rc, char *json, size_t len)
{
	if (rc == HUBIO_OK)
		rc = finish_call(h, c, json, len);
	free(json);
	return rc;
}

static void answer_now(struct hubio *h, struct hubio_call *c, const char *code, const char *msg)
{
	char *json = NULL;
	size_t len = 0;
	int rc = c->hook ? hubio__json_reject(msg, &json, &len)
			 : hubio__json_error(code, msg, &json, &len);
	if (rc != HUBIO_OK) {
		call_free(c);
		return;
	}
	finish_built(h, c, rc, json, len);
}

void hubio__serve_message(struct hubio *h, const struct hubio__topic *t, const char *data,
	size_t len, const mosquitto_property *props)
{
	struct hubio__route *r;
	struct hubio_call *c;
	hubio_handler_fn fn;
	void *ud;
	char msg[160];

	if (!h->service || strcmp(t->user, h->username) != 0)
		return;
	c = call_new(h, t, props);
	if (!c) {
		hubio__error(h, HUBIO_ENOMEM, NULL, "no memory for a call");
		return;
	}
	if (h->ninflight >= h->inflight_max) {
		answer_now(h, c, "busy", c->hook ? "busy" : "too many calls in flight");
		return;
	}
	r = c->hook ? route_find(h, true, c->room) : route_find(h, false, c->name);
	if (!r && c->hook)
		r = route_find(h, true, "");
	if (!r) {
		if (c->hook)
			snprintf(
				msg, sizeof(msg), "%s does not check room %s", c->service, c->room);
		else
			snprintf(msg, sizeof(msg), "%s has no method '%s'", c->service, c->name);
		answer_now(h, c, "unknown_method", msg);
		return;
	}
	c->next = h->calls;
	if (h->calls)
		h->calls->prev = c;
	h->calls = c;
	h->ninflight++;
	fn = r->fn;
	ud = r->ud;
	hubio__enter(h);
	fn(h, c, data, len, &c->ctx, ud);
	hubio__leave(h);
}

/* --------------------------------------------------------------- answers */

/* c is one of h's calls in flight. */
static bool in_flight(struct hubio *h, const struct hubio_call *c)
{
	return c && c->h == h;
}

HUBIO_API int hubio_answer(struct hubio *h, struct hubio_call *call, const char *json, size_t len)
{
	int rc;
	if (!h || !json || !in_flight(h, call) || call->hook)
		return HUBIO_EINVAL;
	if ((rc = hubio__payload_len(json, &len)))
		return rc == HUBIO_ETOOBIG ? HUBIO_EINVAL : rc;
	if (!hubio__json_valid(json, len))
		return HUBIO_EINVAL;
	hubio__lock(h);
	rc = finish_call(h, call, json, len);
	hubio__unlock(h);
	return rc;
}

HUBIO_API int hubio_answer_error(
	struct hubio *h, struct hubio_call *call, const char *code, const char *message)
{
	char *json = NULL;
	size_t len = 0;
	int rc;
	if (!h || !in_flight(h, call) || call->hook)
		return HUBIO_EINVAL;
	rc = hubio__json_error(code, message, &json, &len);
	if (rc == HUBIO_EINVAL)
		return rc;
	hubio__lock(h);
	rc = finish_built(h, call, rc, json, len);
	hubio__unlock(h);
	return rc;
}

HUBIO_API int hubio_accept(struct hubio *h, struct hubio_call *call, const char *json, size_t len)
{
	char *v = NULL;
	size_t vlen = 0;
	int rc;
	if (!h || !in_flight(h, call) || !call->hook)
		return HUBIO_EINVAL;
	if (json && (rc = hubio__payload_len(json, &len)))
		return HUBIO_EINVAL;
	rc = hubio__json_accept(json, len, &v, &vlen);
	if (rc == HUBIO_EINVAL)
		return rc;
	hubio__lock(h);
	rc = finish_built(h, call, rc, v, vlen);
	hubio__unlock(h);
	return rc;
}

HUBIO_API int hubio_reject(struct hubio *h, struct hubio_call *call, const char *reason)
{
	char *v = NULL;
	size_t vlen = 0;
	int rc;
	if (!h || !in_flight(h, call) || !call->hook)
		return HUBIO_EINVAL;
	rc = hubio__json_reject(reason, &v, &vlen);
	if (rc == HUBIO_EINVAL)
		return rc;
	hubio__lock(h);
	rc = finish_built(h, call, rc, v, vlen);
	hubio__unlock(h);
	return rc;
}

HUBIO_API const struct hubio_ctx *hubio_call_ctx(const struct hubio_call *call)
{
	return call ? &call->ctx : NULL;
}

HUBIO_API long hubio_inflight(struct hubio *h)
{
	long n;
	if (!h)
		return -1;
	hubio__lock(h);
	n = h->service ? h->ninflight : -1;
	hubio__unlock(h);
	return n;
}

/* ---------------------------------------------------------- connection */

void hubio__serve_connected(struct hubio *h)
{
	char filter[HUBIO__TOPIC_MAX];
	h->calls_mid = 0;
	/* answers of an earlier connection are no longer waited for */
	h->nanswer_mids = 0;
	if (!h->service || h->stopping)
		return;
	if (hubio__topic_calls_filter(filter, sizeof(filter), h->username, h->exclusive) ==
		HUBIO_OK)
		mosquitto_subscribe_v5(h->mosq, &h->calls_mid, filter, 1, 0, NULL);
}

void hubio__serve_suback(struct hubio *h, int mid, int n, const int *granted)
{
	if (!h->service || mid != h->calls_mid)
		return;
	h->calls_mid = 0;
	if (n < 1 || granted[0] >= 0x80)
		hubio__error(h, HUBIO_EFORBIDDEN, NULL,
			"the hub refused the calls subscription (is this a service key?)");
	hubio__connected_event(h);
}

void hubio__serve_unsuback(struct hubio *h, int mid)
{
	if (!h->service || !h->stopping || mid != h->unsub_mid)
		return;
	h->unsubacked = true;
	check_stopped(h, hubio__mono_ms());
}

/* ------------------------------------------------------------- stopping */

HUBIO_API int hubio_stop(struct hubio *h, int timeout_ms, hubio_ack_fn done, void *ud)
{
	char filter[HUBIO__TOPIC_MAX];
	int rc = HUBIO_OK;

	if (!h || timeout_ms < 0)
		return HUBIO_EINVAL;
	hubio__lock(h);
	if (!h->service) {
		rc = HUBIO_EINVAL;
	} else if (h->stopping || h->state == HUBIO__IDLE) {
		rc = HUBIO_ESTATE;
	} else {
		h->stopping = true;
		h->unsubacked = false;
		h->unsub_mid = 0;
		h->stop_cb = done;
		h->stop_ud = ud;
		h->stop_deadline = hubio__mono_ms() + (timeout_ms ? timeout_ms : STOP_DEFAULT_MS);
		if (h->up &&
			hubio__topic_calls_filter(
				filter, sizeof(filter), h->username, h->exclusive) == HUBIO_OK &&
			mosquitto_unsubscribe_v5(h->mosq, &h->unsub_mid, filter, NULL) ==
				MOSQ_ERR_SUCCESS) {
			hubio__wakeup(h);
		} else {
			/* not connected: nothing is routed here any more */
			h->unsubacked = true;
		}
		check_stopped(h, hubio__mono_ms());
	}
	hubio__unlock(h);
	return rc;
}

static void check_stopped(struct hubio *h, int64_t now)
{
	hubio_ack_fn cb;
	void *ud;
	int status;

	if (!h->stopping)
		return;
	if (now < h->stop_deadline &&
		(h->ninflight > 0 || !h->unsubacked || (h->up && h->nanswer_mids > 0)))
		return;
	status = h->ninflight > 0 ? HUBIO_ETIMEOUT : HUBIO_OK;
	cb = h->stop_cb;
	ud = h->stop_ud;
	h->stopping = false;
	h->stop_cb = NULL;
	/* as hubio_disconnect: DISCONNECT, no reconnect, own calls canceled */
	h->state = HUBIO__IDLE;
	__atomic_store_n(&h->stopped, true, __ATOMIC_SEQ_CST);
	hubio__close_connection(h);
	hubio__pending_cancel_all(h);
	hubio__wakeup(h);
	if (cb) {
		hubio__enter(h);
		cb(h, status, ud);
		hubio__leave(h);
	}
}

void hubio__serve_timers(struct hubio *h, int64_t now)
{
	if (h->stopping)
		check_stopped(h, now);
}

int64_t hubio__serve_next_deadline(struct hubio *h)
{
	return h->stopping ? h->stop_deadline : 0;
}

void hubio__serve_cancel_stop(struct hubio *h)
{
	hubio_ack_fn cb = h->stop_cb;
	void *ud = h->stop_ud;
	if (!h->stopping)
		return;
	h->stopping = false;
	h->stop_cb = NULL;
	if (cb) {
		hubio__enter(h);
		cb(h, HUBIO_ECANCELED, ud);
		hubio__leave(h);
	}
}

void hubio__serve_free(struct hubio *h)
{
	while (h->calls) {
		struct hubio_call *c = h->calls;
		unlink_call(h, c);
		call_free(c);
	}
	while (h->routes) {
		struct hubio__route *r = h->routes;
		h->routes = r->next;
		free(r);
	}
	free(h->answer_mids);
	h->answer_mids = NULL;
	h->nanswer_mids = h->answer_mids_cap = 0;
}
