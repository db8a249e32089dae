/* SPDX-License-Identifier: MIT */
/* The broker link (see mqtt.h). */
#include "mqtt.h"
#include "hc_acl.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_token.h"
#include "hc_util.h"
#include "hub.h"

#include <mosquitto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PUBLISH_TIMEOUT_MS 5000
#define SERVICE_TOKEN_TTL  3600
#define METRICS_MAX	   2048
#define KEEPALIVE_S	   30
#define LOOP_WAIT_MS	   200	/* link thread: longest wait in mosquitto_loop */
#define RETRY_MIN_MS	   100	/* first retry after a failed or lost connect */
#define RETRY_MAX_MS	   1000 /* retries back off up to this */

struct pending {
	struct pending *next;
	int mid;
	uint64_t req_id;
	int64_t deadline_ms;
	void (*done)(struct hub *h, uint64_t req_id, bool ok);
};

struct acked {
	struct acked *next;
	int mid;
};

struct hub_mqtt {
	struct mosquitto *mosq;
	struct hub *h;
	pthread_mutex_t lock; /* guards acked, metrics, connected */
	struct acked *acked;
	bool connected;
	char metrics[METRICS_MAX];
	size_t metrics_len;
	int64_t metrics_at;
	struct pending *pending; /* lws thread only */
	lws_sorted_usec_list_t sul;
	pthread_t thread; /* the link thread (link_main) */
	bool thread_started;
	atomic_bool stop;
	int64_t up_since_ms; /* link thread: when the last connect succeeded */
};

/* A fresh service token as the password (called before every connect). */
static void set_credentials(struct hub_mqtt *m)
{
	char tok[HC_TOKEN_MAX + 1];
	int64_t now = hc_now();
	if (hc_token_mint(m->h->key, "service", HC_SERVICE_PRINCIPAL, "service", now,
		    now + SERVICE_TOKEN_TTL, tok, sizeof(tok)) == HUB_OK)
		mosquitto_username_pw_set(m->mosq, HC_SERVICE_PRINCIPAL, tok);
}

static void on_connect(
	struct mosquitto *mosq, void *ud, int rc, int flags, const mosquitto_property *props)
{
	struct hub_mqtt *m = ud;
	(void)flags;
	(void)props;
	if (rc) {
		hc_warn("msg=\"broker refused hubd\" rc=%d", rc);
		return;
	}
	pthread_mutex_lock(&m->lock);
	m->connected = true;
	pthread_mutex_unlock(&m->lock);
	m->up_since_ms = hc_mono_ms();
	mosquitto_subscribe(mosq, NULL, "$hub/metrics", 0);
	hc_info("msg=\"connected to the broker\"");
}

static void on_disconnect(struct mosquitto *mosq, void *ud, int rc, const mosquitto_property *p)
{
	struct hub_mqtt *m = ud;
	(void)mosq;
	(void)p;
	bool was;
	pthread_mutex_lock(&m->lock);
	was = m->connected;
	m->connected = false;
	pthread_mutex_unlock(&m->lock);
	if (rc && was)
		hc_warn("msg=\"lost the broker; reconnecting\" rc=%d", rc);
}

static void on_publish(
	struct mosquitto *mosq, void *ud, int mid, int reason, const mosquitto_property *p)
{
	struct hub_mqtt *m = ud;
	struct acked *a = malloc(sizeof(*a));
	(void)mosq;
	(void)p;
	(void)reason; /* the service identity is never refused a write */
	if (!a)
		return; /* the request times out and is answered 504 */
	a->mid = mid;
	pthread_mutex_lock(&m->lock);
	a->next = m->acked;
	m->acked = a;
	pthread_mutex_unlock(&m->lock);
	lws_cancel_service(m->h->lws);
}

static void on_message(struct mosquitto *mosq, void *ud, const struct mosquitto_message *msg,
	const mosquitto_property *p)
{
	struct hub_mqtt *m = ud;
	(void)mosq;
	(void)p;
	if (strcmp(msg->topic, "$hub/metrics") || msg->payloadlen <= 0 ||
		(size_t)msg->payloadlen >= METRICS_MAX)
		return;
	pthread_mutex_lock(&m->lock);
	memcpy(m->metrics, msg->payload, (size_t)msg->payloadlen);
	m->metrics_len = (size_t)msg->payloadlen;
	m->metrics_at = hc_now();
	pthread_mutex_unlock(&m->lock);
}

static void timeout_tick(lws_sorted_usec_list_t *sul)
{
	struct hub_mqtt *m = lws_container_of(sul, struct hub_mqtt, sul);
	hub_mqtt_collect(m, m->h);
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/*
 * The link thread: connects, runs the client and reconnects, whatever the
 * order in which hubd and the broker start or restart.
 *
 * Not mosquitto_loop_start(): in libmosquitto 2.0.11 its thread waits while
 * the client's state is "new", and a non-blocking connect that is still in
 * progress when mosquitto_connect_async() returns (the broker is not up yet:
 * EINPROGRESS, then a refusal) leaves it "new" for ever, so the link never
 * came up when the broker started after hubd. Here every attempt is ours:
 * a non-blocking connect with a fresh service token, then mosquitto_loop()
 * until the socket goes, then a retry after 100 ms, backing off to 1 s.
 */
static void *link_main(void *arg)
{
	struct hub_mqtt *m = arg;
	const char *host = hc_cfg_str(&m->h->cfg, HC_CFG_MQTT_HOST);
	int port = (int)hc_cfg_int(&m->h->cfg, HC_CFG_MQTT_PORT);
	int64_t retry_ms = RETRY_MIN_MS, next_try = 0;
	bool first = true, warned = false;

	while (!atomic_load(&m->stop)) {
		int64_t now = hc_mono_ms();
		int rc;

		if (mosquitto_socket(m->mosq) < 0) {
			if (now < next_try) {
				sleep_ms(next_try - now < LOOP_WAIT_MS ? next_try - now
								       : LOOP_WAIT_MS);
				continue;
			}
			set_credentials(m); /* a fresh token on every attempt */
			rc = first ? mosquitto_connect_bind_async(
					     m->mosq, host, port, KEEPALIVE_S, NULL)
				   : mosquitto_reconnect_async(m->mosq);
			if (rc == MOSQ_ERR_SUCCESS)
				first = false;
			if (rc != MOSQ_ERR_SUCCESS || mosquitto_socket(m->mosq) < 0) {
				if (!warned)
					hc_warn("msg=\"broker not reachable; retrying\" "
						"host=%s port=%d rc=%d",
						host, port, rc);
				warned = true;
				next_try = hc_mono_ms() + retry_ms;
				retry_ms =
					retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
				continue;
			}
		}
		rc = mosquitto_loop(m->mosq, LOOP_WAIT_MS, 1);
		if (rc != MOSQ_ERR_SUCCESS && mosquitto_socket(m->mosq) >= 0 &&
			rc != MOSQ_ERR_NO_CONN)
			mosquitto_disconnect(m->mosq); /* drop what is left and retry */
		if (mosquitto_socket(m->mosq) < 0 && !atomic_load(&m->stop)) {
			/* lost, refused or never up: retry soon, sooner after a
			 * link that had been up a while (a broker restart) */
			if (hub_mqtt_connected(m)) {
				pthread_mutex_lock(&m->lock);
				m->connected = false;
				pthread_mutex_unlock(&m->lock);
			} else if (!m->up_since_ms && !warned) {
				hc_warn("msg=\"broker not reachable; retrying\" host=%s port=%d",
					host, port);
				warned = true;
			}
			if (m->up_since_ms && hc_mono_ms() - m->up_since_ms > 10000)
				retry_ms = RETRY_MIN_MS;
			m->up_since_ms = 0;
			next_try = hc_mono_ms() + retry_ms;
			retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
		} else if (hub_mqtt_connected(m)) {
			warned = false;
			retry_ms = RETRY_MIN_MS;
		}
	}
	return NULL;
}

int hub_mqtt_start(struct hub *h, struct hub_mqtt **out)
{
	struct hub_mqtt *m = calloc(1, sizeof(*m));
	sigset_t all, old;
	char id[64];
	int rc;

	*out = NULL;
	if (!m)
		return HUB_ERR_NOMEM;
	m->h = h;
	pthread_mutex_init(&m->lock, NULL);
	mosquitto_lib_init();
	snprintf(id, sizeof(id), "hubd-%ld-%08x", (long)getpid(), (unsigned)hc_now_ms());
	m->mosq = mosquitto_new(id, true, m);
	if (!m->mosq) {
		free(m);
		return HUB_ERR_NOMEM;
	}
	mosquitto_int_option(m->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	/* publishes from the lws thread only queue and wake the link thread */
	mosquitto_threaded_set(m->mosq, true);
	mosquitto_connect_v5_callback_set(m->mosq, on_connect);
	mosquitto_disconnect_v5_callback_set(m->mosq, on_disconnect);
	mosquitto_publish_v5_callback_set(m->mosq, on_publish);
	mosquitto_message_v5_callback_set(m->mosq, on_message);
	atomic_init(&m->stop, false);
	/* the link thread must not take SIGTERM/SIGINT: the loop thread does */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&m->thread, NULL, link_main, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		mosquitto_destroy(m->mosq);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return HUB_ERR_IO;
	}
	m->thread_started = true;
	*out = m;
	return HUB_OK;
}

void hub_mqtt_stop(struct hub_mqtt *m)
{
	struct acked *a;
	if (!m)
		return;
	lws_sul_cancel(&m->sul);
	atomic_store(&m->stop, true);
	mosquitto_disconnect(m->mosq); /* wakes the link thread's wait */
	if (m->thread_started)
		pthread_join(m->thread, NULL);
	mosquitto_destroy(m->mosq);
	while ((a = m->acked)) {
		m->acked = a->next;
		free(a);
	}
	while (m->pending) {
		struct pending *p = m->pending;
		m->pending = p->next;
		free(p);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
	mosquitto_lib_cleanup();
}

bool hub_mqtt_connected(struct hub_mqtt *m)
{
	bool c;
	if (!m)
		return false;
	pthread_mutex_lock(&m->lock);
	c = m->connected;
	pthread_mutex_unlock(&m->lock);
	return c;
}

int hub_mqtt_publish(struct hub_mqtt *m, const char *topic, const void *payload, size_t len,
	uint64_t req_id, void (*done)(struct hub *h, uint64_t req_id, bool ok))
{
	struct pending *p;
	int mid = 0, rc;

	if (!hub_mqtt_connected(m))
		return HUB_ERR_BUSY;
	if (len > INT32_MAX)
		return HUB_ERR_INVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return HUB_ERR_NOMEM;
	rc = mosquitto_publish_v5(m->mosq, &mid, topic, (int)len, payload, 1, false, NULL);
	if (rc != MOSQ_ERR_SUCCESS) {
		free(p);
		return rc == MOSQ_ERR_NO_CONN ? HUB_ERR_BUSY : HUB_ERR_INVAL;
	}
	/* the PUBACK may already be in the acked list: collect() runs on this
	 * thread after we return, so the pending entry is always there first */
	p->mid = mid;
	p->req_id = req_id;
	p->done = done;
	p->deadline_ms = hc_mono_ms() + PUBLISH_TIMEOUT_MS;
	p->next = m->pending;
	m->pending = p;
	lws_sul_schedule(m->h->lws, 0, &m->sul, timeout_tick, 500 * LWS_US_PER_MS);
	return HUB_OK;
}

void hub_mqtt_collect(struct hub_mqtt *m, struct hub *h)
{
	struct acked *list, *a;
	struct pending **pp;
	int64_t now = hc_mono_ms();

	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	list = m->acked;
	m->acked = NULL;
	pthread_mutex_unlock(&m->lock);
	while ((a = list)) {
		list = a->next;
		for (pp = &m->pending; *pp; pp = &(*pp)->next)
			if ((*pp)->mid == a->mid) {
				struct pending *p = *pp;
				*pp = p->next;
				p->done(h, p->req_id, true);
				free(p);
				break;
			}
		free(a);
	}
	for (pp = &m->pending; *pp;) {
		struct pending *p = *pp;
		if (now >= p->deadline_ms) {
			*pp = p->next;
			p->done(h, p->req_id, false);
			free(p);
		} else {
			pp = &p->next;
		}
	}
	if (m->pending)
		lws_sul_schedule(h->lws, 0, &m->sul, timeout_tick, 500 * LWS_US_PER_MS);
}

size_t hub_mqtt_metrics(struct hub_mqtt *m, char *buf, size_t n, int64_t *at)
{
	size_t len = 0;
	if (!m)
		return 0;
	pthread_mutex_lock(&m->lock);
	if (m->metrics_len && m->metrics_len < n) {
		memcpy(buf, m->metrics, m->metrics_len);
		len = m->metrics_len;
		*at = m->metrics_at;
	}
	pthread_mutex_unlock(&m->lock);
	return len;
}
