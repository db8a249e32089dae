/* SPDX-License-Identifier: MIT */
/*
 * The client: options, the connection state machine on top of libmosquitto
 * and its callbacks. libmosquitto's own reconnect is not used: before each
 * attempt the client asks get_token for a fresh token (a connection outlives
 * its token, a reconnect needs a new one), and waits with its own backoff.
 *
 *   IDLE --hubio_connect--> attempt: CONNECTING --CONNACK 0--> UP
 *   CONNECTING/UP --socket closed, refused--> WAIT --backoff due--> attempt
 *   any --hubio_disconnect--> IDLE
 *
 * Everything runs under h->lock (recursive, so callbacks may call the API).
 */
#include "hubio_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A connection shorter than this does not reset the backoff: a client the
 * hub kicks right after CONNACK (expired session) must not spin. */
#define STABLE_MS 10000

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
	mosquitto_lib_init();
}

int64_t hubio__mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t hubio__wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hubio__lock(struct hubio *h)
{
	pthread_mutex_lock(&h->lock);
}

void hubio__unlock(struct hubio *h)
{
	pthread_mutex_unlock(&h->lock);
}

void hubio__wakeup(struct hubio *h)
{
	char c = 1;
	if (h->wake[1] >= 0 && write(h->wake[1], &c, 1) < 0) {
		/* full pipe: a wakeup is pending anyway */
	}
}

static char *dup_or_null(const char *s, int *rc)
{
	char *d;
	if (!s)
		return NULL;
	d = strdup(s);
	if (!d)
		*rc = HUBIO_ENOMEM;
	return d;
}

/* ---------------------------------------------------------- callbacks */

void hubio__enter(struct hubio *h)
{
	h->depth++;
}

static void sweep_handlers(struct hubio *h)
{
	struct hubio__handler **pp = &h->handlers;
	while (*pp) {
		struct hubio__handler *x = *pp;
		if (x->dead) {
			*pp = x->next;
			free(x->event);
			free(x);
		} else {
			pp = &x->next;
		}
	}
}

void hubio__leave(struct hubio *h)
{
	if (--h->depth == 0) {
		sweep_handlers(h);
		hubio__rooms_sweep(h);
	}
}

void hubio__dispatch(struct hubio *h, const char *event, const char *data, size_t len,
	const struct hubio_meta *meta, bool star)
{
	hubio__enter(h);
	for (struct hubio__handler *x = h->handlers; x; x = x->next) {
		if (x->dead)
			continue;
		if (strcmp(x->event, event) == 0 || (star && strcmp(x->event, "*") == 0))
			x->cb(h, event, data, len, meta, x->ud);
	}
	hubio__leave(h);
}

/* Special events carry a small JSON object. */
static void dispatch_json(struct hubio *h, const char *event, cJSON *j, const char *room)
{
	struct hubio_meta m = {0};
	char *text = j ? cJSON_PrintUnformatted(j) : NULL;
	m.room = room;
	m.ts = hubio__wall_ms();
	hubio__dispatch(h, event, text ? text : "{}", text ? strlen(text) : 2, &m, false);
	free(text);
}

void hubio__error(struct hubio *h, int code, const char *room, const char *message)
{
	cJSON *j = cJSON_CreateObject();
	if (j) {
		cJSON_AddNumberToObject(j, "code", code);
		cJSON_AddStringToObject(j, "error", hubio_strerror(code));
		cJSON_AddStringToObject(j, "message", message ? message : "");
		if (room)
			cJSON_AddStringToObject(j, "room", room);
	}
	dispatch_json(h, "error", j, room);
	cJSON_Delete(j);
}

HUBIO_API int hubio_on(struct hubio *h, const char *event, hubio_event_fn cb, void *ud)
{
	struct hubio__handler *x, **pp;
	if (!h || !cb || !event || (strcmp(event, "*") != 0 && !hubio__event_valid(event)))
		return HUBIO_EINVAL;
	x = calloc(1, sizeof(*x));
	if (!x)
		return HUBIO_ENOMEM;
	x->event = strdup(event);
	if (!x->event) {
		free(x);
		return HUBIO_ENOMEM;
	}
	x->cb = cb;
	x->ud = ud;
	hubio__lock(h);
	for (pp = &h->handlers; *pp; pp = &(*pp)->next)
		;
	*pp = x;
	hubio__unlock(h);
	return HUBIO_OK;
}

HUBIO_API int hubio_off(struct hubio *h, const char *event, hubio_event_fn cb, void *ud)
{
	int found = 0;
	if (!h || !event)
		return HUBIO_EINVAL;
	hubio__lock(h);
	for (struct hubio__handler *x = h->handlers; x; x = x->next)
		if (!x->dead && strcmp(x->event, event) == 0 &&
			(!cb || (x->cb == cb && x->ud == ud))) {
			x->dead = true;
			found = 1;
		}
	if (h->depth == 0)
		sweep_handlers(h);
	hubio__unlock(h);
	return found ? HUBIO_OK : HUBIO_ENOTFOUND;
}

/* ------------------------------------------------------- connection */

static void schedule_retry(struct hubio *h)
{
	int64_t d = hubio__backoff_delay(
		h->attempt, h->backoff_min_ms, h->backoff_max_ms, hubio__rand32(&h->rng));
	if (h->attempt < 64)
		h->attempt++;
	h->state = HUBIO__WAIT;
	h->next_attempt = hubio__mono_ms() + d;
}

static int get_token(struct hubio *h, char *buf, size_t sz)
{
	int rc;
	buf[0] = '\0';
	hubio__enter(h);
	rc = h->get_token(h->token_ud, buf, sz);
	hubio__leave(h);
	if (rc != 0 || memchr(buf, '\0', sz) == NULL || buf[0] == '\0')
		return HUBIO_ETOKEN;
	return HUBIO_OK;
}

/* One connection attempt. On any failure the next one is scheduled. */
static void attempt(struct hubio *h)
{
	char tok[HUBIO_TOKEN_MAX];
	const char *pw = h->token;
	int rc;

	if (h->get_token) {
		if (get_token(h, tok, sizeof(tok)) != HUBIO_OK) {
			explicit_bzero(tok, sizeof(tok));
			if (h->state == HUBIO__IDLE) /* disconnected from get_token */
				return;
			schedule_retry(h);
			hubio__error(h, HUBIO_ETOKEN, NULL, "get_token gave no token");
			return;
		}
		if (h->state == HUBIO__IDLE)
			return;
		pw = tok;
	}
	rc = mosquitto_username_pw_set(h->mosq, h->username, pw);
	if (h->get_token)
		explicit_bzero(tok, sizeof(tok));
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_connect_async(h->mosq, h->host, h->port, h->keepalive);
	if (rc == MOSQ_ERR_SUCCESS) {
		h->state = HUBIO__CONNECTING;
		return;
	}
	/* refused at once (nothing listens), name lookup failed, ... */
	schedule_retry(h);
}

static bool auth_refusal(int rc)
{
	return rc == CONNACK_REFUSED_BAD_USERNAME_PASSWORD ||
	       rc == CONNACK_REFUSED_NOT_AUTHORIZED || rc == MQTT_RC_BAD_USERNAME_OR_PASSWORD ||
	       rc == MQTT_RC_NOT_AUTHORIZED || rc == MQTT_RC_BAD_AUTHENTICATION_METHOD ||
	       rc == MQTT_RC_BANNED;
}

static void on_connect(
	struct mosquitto *mosq, void *obj, int rc, int flags, const mosquitto_property *props)
{
	struct hubio *h = obj;
	char filter[HUBIO__TOPIC_MAX];
	(void)mosq;
	(void)flags;
	(void)props;

	if (rc != 0) {
		/* the socket is closed next and on_disconnect schedules the retry;
		 * get_token is asked again before it */
		if (auth_refusal(rc) && ++h->auth_refusals % h->auth_failures_max == 0) {
			char msg[128];
			snprintf(msg, sizeof(msg),
				"the hub refused the credentials %d times in a row (CONNACK %d)",
				h->auth_refusals, rc);
			hubio__error(h, HUBIO_EAUTH, NULL, msg);
		}
		return;
	}
	h->state = HUBIO__UP;
	h->up = true;
	h->auth_refusals = 0;
	h->up_since = hubio__mono_ms();
	h->inbox_mid = 0;
	/* a service has no inbox: it answers calls */
	if (!h->service &&
		hubio__topic_inbox_filter(filter, sizeof(filter), h->username) == HUBIO_OK)
		mosquitto_subscribe_v5(h->mosq, &h->inbox_mid, filter, 1, 0, NULL);
	hubio__calls_connected(h);
	hubio__serve_connected(h);
	hubio__rooms_resubscribe(h);
	/* "connect" comes once the hub confirmed the inbox subscription (a
	 * service's: the calls subscription, hubio__serve_suback): from then
	 * on what is sent to us reaches us. On CONNACK the SUBSCRIBE is not
	 * even written yet (libmosquitto writes after the callback). */
	if (h->service ? h->calls_mid : h->inbox_mid)
		return;
	hubio__connected_event(h);
}

void hubio__connected_event(struct hubio *h)
{
	cJSON *j = cJSON_CreateObject();
	if (j)
		cJSON_AddBoolToObject(j, "reconnect", h->ever_up);
	h->ever_up = true;
	dispatch_json(h, "connect", j, NULL);
	cJSON_Delete(j);
}

static void on_disconnect(
	struct mosquitto *mosq, void *obj, int rc, const mosquitto_property *props)
{
	struct hubio *h = obj;
	bool was_up = h->up;
	int64_t now = hubio__mono_ms();
	(void)mosq;
	(void)props;

	h->up = false;
	if (was_up && now - h->up_since >= STABLE_MS)
		h->attempt = 0;
	h->inbox_mid = 0;
	if (h->state != HUBIO__IDLE)
		schedule_retry(h);
	hubio__rooms_lost(h);
	if (was_up) {
		cJSON *j = cJSON_CreateObject();
		if (j) {
			cJSON_AddNumberToObject(j, "code", rc);
			cJSON_AddStringToObject(j, "reason",
				h->state == HUBIO__IDLE ? "client disconnect"
							: mosquitto_strerror(rc));
		}
		dispatch_json(h, "disconnect", j, NULL);
		cJSON_Delete(j);
	}
}

static void on_publish(
	struct mosquitto *mosq, void *obj, int mid, int reason, const mosquitto_property *props)
{
	(void)mosq;
	(void)props;
	hubio__serve_puback(obj, mid);
	hubio__pending_puback(obj, mid, reason);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int n, const int *granted,
	const mosquitto_property *props)
{
	struct hubio *h = obj;
	(void)mosq;
	(void)props;
	if (h->inbox_mid && mid == h->inbox_mid) {
		h->inbox_mid = 0;
		if (n < 1 || granted[0] >= 0x80)
			hubio__error(h, HUBIO_EFORBIDDEN, NULL,
				"the hub refused the inbox subscription");
		hubio__connected_event(h);
		return;
	}
	if (mid == h->reply_mid) {
		h->reply_mid = 0;
		if (n < 1 || granted[0] >= 0x80)
			hubio__error(h, HUBIO_EFORBIDDEN, NULL,
				"the hub refused the subscription to the answers of calls");
		return;
	}
	if (h->service && mid == h->calls_mid) {
		hubio__serve_suback(h, mid, n, granted);
		return;
	}
	hubio__rooms_suback(h, mid, n, granted);
}

static void on_unsubscribe(
	struct mosquitto *mosq, void *obj, int mid, const mosquitto_property *props)
{
	(void)mosq;
	(void)props;
	hubio__serve_unsuback(obj, mid);
}

/* The reply handle of a message that carries a response topic we may
 * answer and correlation data. */
static bool reply_handle(const mosquitto_property *props, struct hubio_reply *r)
{
	char *topic = NULL;
	void *corr = NULL;
	uint16_t clen = 0;
	bool ok = false;

	if (!props)
		return false;
	mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &topic, false);
	mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &clen, false);
	if (topic && corr && clen > 0 && clen <= HUBIO__CORR_MAX &&
		strlen(topic) < sizeof(r->topic) &&
		hubio__topic_reply_base_ok(topic, strlen(topic))) {
		memcpy(r->topic, topic, strlen(topic) + 1);
		memcpy(r->corr, corr, clen);
		r->corr_len = clen;
		ok = true;
	}
	free(topic);
	free(corr);
	return ok;
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
	const mosquitto_property *props)
{
	struct hubio *h = obj;
	struct hubio__topic t;
	struct hubio__room *r;
	struct hubio_meta m;
	struct hubio_reply reply;
	const char *data = msg->payload;
	size_t len = msg->payloadlen > 0 ? (size_t)msg->payloadlen : 0;
	bool has_reply;
	(void)mosq;

	if (!msg->topic)
		return;
	hubio__topic_parse(msg->topic, strlen(msg->topic), &t);
	if (!data)
		data = "";
	switch (t.kind) {
	case HUBIO__T_ROOM_EV:
		r = hubio__room_find(h, t.room);
		/* reserved names come from the hub and the library only: a
		 * member cannot forge a "joined" by emitting one */
		if (!r || hubio__event_reserved(t.event))
			return;
		/* MQTT 5 subscribes with no-local; 3.1.1 cannot, so drop echoes
		 * of our own user there */
		if (h->protocol != 5 && strcmp(t.from, h->username) == 0)
			return;
		has_reply = reply_handle(props, &reply);
		hubio__meta_from_topic(&t, hubio__wall_ms(), has_reply ? &reply : NULL, &m);
		hubio__dispatch(h, t.event, data, len, &m, true);
		return;
	case HUBIO__T_ROOM_SYS: {
		char user[HUBIO__NAME_MAX + 1];
		long online;
		r = hubio__room_find(h, t.room);
		if (!r)
			return;
		hubio__meta_from_topic(&t, hubio__wall_ms(), NULL, &m);
		if (hubio__notice_parse(data, len, user, &online) == HUBIO_OK)
			m.from = user;
		hubio__dispatch(h, t.event, data, len, &m, false);
		return;
	}
	case HUBIO__T_ROOM_PRESENCE:
		hubio__rooms_presence(h, &t, data, len);
		return;
	case HUBIO__T_INBOX:
		if (strcmp(t.user, h->username) != 0)
			return;
		has_reply = reply_handle(props, &reply);
		hubio__meta_from_topic(&t, hubio__wall_ms(), has_reply ? &reply : NULL, &m);
		if (strcmp(t.event, "reply") == 0) {
			void *corr = NULL;
			uint16_t clen = 0;
			if (props)
				mosquitto_property_read_binary(
					props, MQTT_PROP_CORRELATION_DATA, &corr, &clen, false);
			if (corr) {
				/* an answer: ours, or late (its request timed out) */
				hubio__pending_reply(h, corr, clen, data, len, &m);
				free(corr);
				return;
			}
		}
		if (hubio__event_reserved(t.event))
			return;
		hubio__dispatch(h, t.event, data, len, &m, true);
		return;
	case HUBIO__T_REPLY: {
		/* the answer to one of our calls: on our own reply topic, with
		 * the correlation data of a call in the table; anything else
		 * (a late answer after the timeout) is dropped */
		void *corr = NULL;
		uint16_t clen = 0;
		if (strcmp(t.user, h->username) != 0 || !props)
			return;
		mosquitto_property_read_binary(
			props, MQTT_PROP_CORRELATION_DATA, &corr, &clen, false);
		if (corr)
			hubio__pending_answer(h, corr, clen, data, len);
		free(corr);
		return;
	}
	case HUBIO__T_CALL:
	case HUBIO__T_HOOK:
		hubio__serve_message(h, &t, data, len, props);
		return;
	default:
		return;
	}
}

/* ------------------------------------------------------------- timers */

void hubio__timers(struct hubio *h, int64_t now)
{
	if (h->state == HUBIO__WAIT && now >= h->next_attempt)
		attempt(h);
	hubio__pending_expire(h, now);
	hubio__serve_timers(h, now);
}

int hubio__next_timer_ms(struct hubio *h, int64_t now, int cap)
{
	int64_t due = now + cap, d;
	if (h->state == HUBIO__WAIT && h->next_attempt < due)
		due = h->next_attempt;
	d = hubio__pending_next_deadline(h);
	if (d && d < due)
		due = d;
	d = hubio__serve_next_deadline(h);
	if (d && d < due)
		due = d;
	return due <= now ? 0 : (int)(due - now);
}

/* ---------------------------------------------------------- lifecycle */

static int check_options(const struct hubio_options *o)
{
	if (!o || !hubio__name_valid(o->username))
		return HUBIO_EINVAL;
	if (!o->get_token && (!o->token || !o->token[0]))
		return HUBIO_EINVAL;
	if (o->token && strlen(o->token) >= HUBIO_TOKEN_MAX)
		return HUBIO_EINVAL;
	if (o->port < 0 || o->port > 65535 || o->keepalive < 0 || o->keepalive > 65535)
		return HUBIO_EINVAL;
	if (o->protocol != 0 && o->protocol != 4 && o->protocol != 5)
		return HUBIO_EINVAL;
	if (o->client_id &&
		(!o->client_id[0] || strpbrk(o->client_id, "/+#") || strlen(o->client_id) > 128))
		return HUBIO_EINVAL;
	if (o->backoff_min_ms < 0 || o->backoff_max_ms < 0 || o->auth_failures_max < 0 ||
		o->typing_interval_ms < 0 || o->pending_max < 0 || o->rooms_max < 0 ||
		o->members_max < 0)
		return HUBIO_EINVAL;
	return HUBIO_OK;
}

static void free_fields(struct hubio *h)
{
	free(h->host);
	if (h->token) {
		explicit_bzero(h->token, strlen(h->token));
		free(h->token);
	}
	free(h->username);
	free(h->client_id);
}

int hubio__create(const struct hubio__init *o, struct hubio **out)
{
	struct hubio *h = NULL;
	pthread_mutexattr_t attr;
	char topic[HUBIO__TOPIC_MAX];
	static const char will[] = "{\"online\":false}";
	int rc;

	*out = NULL;
	pthread_once(&lib_once, lib_init);
	h = calloc(1, sizeof(*h));
	if (!h)
		return HUBIO_ENOMEM;
	h->wake[0] = h->wake[1] = -1;
	rc = HUBIO_OK;
	h->host = dup_or_null(o->host ? o->host : "127.0.0.1", &rc);
	h->username = dup_or_null(o->username, &rc);
	h->token = dup_or_null(o->token, &rc);
	h->port = o->port ? o->port : 1883;
	h->get_token = o->get_token;
	h->token_ud = o->token_ud;
	h->keepalive = o->keepalive ? o->keepalive : 30;
	h->protocol = o->protocol ? o->protocol : 5;
	h->backoff_min_ms = o->backoff_min_ms ? o->backoff_min_ms : 500;
	h->backoff_max_ms = o->backoff_max_ms ? o->backoff_max_ms : 30000;
	if (h->backoff_max_ms < h->backoff_min_ms)
		h->backoff_max_ms = h->backoff_min_ms;
	h->auth_failures_max = o->auth_failures_max ? o->auth_failures_max : 3;
	h->typing_interval_ms = o->typing_interval_ms ? o->typing_interval_ms : 2000;
	h->pending_max = o->pending_max ? o->pending_max : 1024;
	h->rooms_max = o->rooms_max ? o->rooms_max : 256;
	h->members_max = o->members_max ? o->members_max : 10000;
	h->service = o->service;
	h->exclusive = o->exclusive;
	h->inflight_max = o->inflight_max;
	/* a service takes the answers to its own calls from the start */
	h->reply_sub = o->service;
	hubio__random_bytes(&h->rng, &h->rng, sizeof(h->rng));
	if (!h->rng)
		h->rng = (uint32_t)hubio__mono_ms() | 1;
	if (o->client_id) {
		h->client_id = dup_or_null(o->client_id, &rc);
	} else if (rc == HUBIO_OK) {
		char id[200];
		snprintf(id, sizeof(id), "%s-%08x", o->client_prefix, hubio__rand32(&h->rng));
		h->client_id = dup_or_null(id, &rc);
	}
	if (rc)
		goto cleanup;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	rc = pthread_mutex_init(&h->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	if (rc) {
		rc = HUBIO_ERRNO;
		goto cleanup;
	}
	if (pipe2(h->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		h->wake[0] = h->wake[1] = -1;
		rc = HUBIO_ERRNO;
		goto cleanup_mutex;
	}
	h->mosq = mosquitto_new(h->client_id, true, h);
	if (!h->mosq) {
		rc = errno == ENOMEM ? HUBIO_ENOMEM : HUBIO_EINVAL;
		goto cleanup_pipe;
	}
	mosquitto_int_option(h->mosq, MOSQ_OPT_PROTOCOL_VERSION,
		h->protocol == 5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311);
	/* an answer, an ack or an emit is one small write: without
	 * TCP_NODELAY Nagle holds it until the broker's delayed ACK (40 ms on
	 * Linux) whenever an earlier segment is unacknowledged */
	mosquitto_int_option(h->mosq, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(h->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(h->mosq, on_disconnect);
	mosquitto_publish_v5_callback_set(h->mosq, on_publish);
	mosquitto_subscribe_v5_callback_set(h->mosq, on_subscribe);
	mosquitto_unsubscribe_v5_callback_set(h->mosq, on_unsubscribe);
	mosquitto_message_v5_callback_set(h->mosq, on_message);
	/* the last will: the hub lets it out only when no other connection of
	 * the user lives (authplugin/presence.c); a service has no status */
	if (!h->service && (hubio__topic_status(topic, sizeof(topic), h->username) != HUBIO_OK ||
				   mosquitto_will_set_v5(h->mosq, topic, (int)strlen(will), will, 1,
					   true, NULL) != MOSQ_ERR_SUCCESS)) {
		rc = HUBIO_ENOMEM;
		goto cleanup_mosq;
	}
	*out = h;
	return HUBIO_OK;

cleanup_mosq:
	mosquitto_destroy(h->mosq);
cleanup_pipe:
	close(h->wake[0]);
	close(h->wake[1]);
cleanup_mutex:
	pthread_mutex_destroy(&h->lock);
cleanup:
	free_fields(h);
	free(h);
	return rc;
}

HUBIO_API int hubio_new(const struct hubio_options *o, struct hubio **out)
{
	struct hubio__init in = {0};
	char prefix[96];
	int rc;

	if (!out)
		return HUBIO_EINVAL;
	*out = NULL;
	if ((rc = check_options(o)))
		return rc;
	snprintf(prefix, sizeof(prefix), "hubio-%s", o->username);
	in.host = o->host;
	in.port = o->port;
	in.username = o->username;
	in.token = o->token;
	in.get_token = o->get_token;
	in.token_ud = o->token_ud;
	in.client_id = o->client_id;
	in.client_prefix = prefix;
	in.keepalive = o->keepalive;
	in.protocol = o->protocol;
	in.backoff_min_ms = o->backoff_min_ms;
	in.backoff_max_ms = o->backoff_max_ms;
	in.auth_failures_max = o->auth_failures_max;
	in.typing_interval_ms = o->typing_interval_ms;
	in.pending_max = o->pending_max;
	in.rooms_max = o->rooms_max;
	in.members_max = o->members_max;
	return hubio__create(&in, out);
}

/* Send DISCONNECT if there is a socket. Inside the loop's network I/O (a
 * callback called hubio_disconnect) it is only queued: libmosquitto holds
 * its callback mutex there, and writing it now would call on_disconnect
 * under that mutex again. The loop writes it right after. */
void hubio__close_connection(struct hubio *h)
{
	if (mosquitto_socket(h->mosq) < 0)
		return;
	if (mosquitto_disconnect(h->mosq) == MOSQ_ERR_SUCCESS && !h->in_io) {
		for (int i = 0;
			i < 10 && mosquitto_socket(h->mosq) >= 0 && mosquitto_want_write(h->mosq);
			i++)
			mosquitto_loop_write(h->mosq, 1);
	}
}

HUBIO_API void hubio_destroy(struct hubio *h)
{
	if (!h)
		return;
	if (h->thread_running)
		hubio_loop_stop(h);
	hubio__lock(h);
	h->state = HUBIO__IDLE;
	/* no user callbacks from libmosquitto while tearing down */
	mosquitto_connect_v5_callback_set(h->mosq, NULL);
	mosquitto_disconnect_v5_callback_set(h->mosq, NULL);
	mosquitto_publish_v5_callback_set(h->mosq, NULL);
	mosquitto_subscribe_v5_callback_set(h->mosq, NULL);
	mosquitto_unsubscribe_v5_callback_set(h->mosq, NULL);
	mosquitto_message_v5_callback_set(h->mosq, NULL);
	hubio__close_connection(h);
	hubio__pending_cancel_all(h);
	hubio__serve_free(h);
	hubio__rooms_free(h);
	h->depth = 0;
	for (struct hubio__handler *x = h->handlers; x; x = x->next)
		x->dead = true;
	sweep_handlers(h);
	mosquitto_destroy(h->mosq);
	close(h->wake[0]);
	close(h->wake[1]);
	hubio__unlock(h);
	pthread_mutex_destroy(&h->lock);
	free_fields(h);
	free(h);
}

HUBIO_API int hubio_tls_set(struct hubio *h, const char *cafile, const char *capath)
{
	int rc;

	if (!h)
		return HUBIO_EINVAL;
	hubio__lock(h);
	if (h->state != HUBIO__IDLE || mosquitto_socket(h->mosq) >= 0) {
		hubio__unlock(h);
		return HUBIO_ESTATE;
	}
	/* libmosquitto checks the chain (SSL_VERIFY_PEER) and that the
	 * certificate names h->host (tls_insecure stays false) */
	if (cafile || capath)
		rc = mosquitto_tls_set(h->mosq, cafile, capath, NULL, NULL, NULL);
	else
		rc = mosquitto_int_option(h->mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_opts_set(h->mosq, 1, NULL, NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_insecure_set(h->mosq, false);
	if (rc == MOSQ_ERR_SUCCESS)
		h->tls = true;
	hubio__unlock(h);
	return rc == MOSQ_ERR_SUCCESS ? HUBIO_OK
	       : rc == MOSQ_ERR_NOMEM ? HUBIO_ENOMEM
				      : HUBIO_EINVAL;
}

HUBIO_API int hubio_connect(struct hubio *h)
{
	if (!h)
		return HUBIO_EINVAL;
	hubio__lock(h);
	if (h->state != HUBIO__IDLE || mosquitto_socket(h->mosq) >= 0) {
		hubio__unlock(h);
		return HUBIO_ESTATE;
	}
	h->attempt = 0;
	h->auth_refusals = 0;
	h->stopped = false;
	/* the first attempt runs at once, in the next loop iteration (so that
	 * get_token is called from the loop thread, as documented) */
	h->state = HUBIO__WAIT;
	h->next_attempt = hubio__mono_ms();
	hubio__wakeup(h);
	hubio__unlock(h);
	return HUBIO_OK;
}

HUBIO_API int hubio_disconnect(struct hubio *h)
{
	if (!h)
		return HUBIO_EINVAL;
	hubio__lock(h);
	h->state = HUBIO__IDLE;
	hubio__close_connection(h);
	hubio__pending_cancel_all(h);
	hubio__serve_cancel_stop(h);
	hubio__wakeup(h);
	hubio__unlock(h);
	return HUBIO_OK;
}

HUBIO_API int hubio_connected(struct hubio *h)
{
	int up;
	if (!h)
		return 0;
	hubio__lock(h);
	up = h->state == HUBIO__UP;
	hubio__unlock(h);
	return up;
}
