/* SPDX-License-Identifier: MIT */
/*
 * Broker benchmark client (libmosquitto, one thread, non-blocking loops).
 *
 *   broker_bench connect HOST PORT SECONDS [USER PASS]
 *       CONNECT + CONNACK + DISCONNECT in a loop, 4 connections in flight
 *       (BENCH_INFLIGHT sets another, up to 256); prints connects/s.
 *   broker_bench fanout HOST PORT SUBS MESSAGES TOPIC [USER PASS [PUBUSER PUBPASS]]
 *       SUBS subscribers on TOPIC's room filter and one publisher sending
 *       MESSAGES QoS 0 messages (32-byte payload carrying the send time),
 *       with a window (50 messages per subscriber in flight, BENCH_WINDOW
 *       sets another) so no queue grows without bound; prints messages/s
 *       in, deliveries/s and delivery latency p50/p99.
 *   broker_bench calls HOST PORT SECONDS INFLIGHT USER PASS SERVICE METHOD
 *       one MQTT 5 caller (USER) calling svc/SERVICE/METHOD/USER with a
 *       Response Topic under users/USER/reply/ and Correlation Data,
 *       INFLIGHT calls outstanding, for SECONDS (after a 1 s warm-up);
 *       prints calls/s and the round trip p50/p99 (publish to answer).
 *   broker_bench hookd HOST PORT SERVICE KEY SECONDS
 *       a minimal hook service in C (libmosquitto, MQTT 5): subscribes to
 *       $share/SERVICE/svc/SERVICE/# and accepts every hook request
 *       ({"accept":true} on its Response Topic with its Correlation Data)
 *       for SECONDS; prints "ready" once subscribed, then verdicts sent.
 * BENCH_CAFILE=FILE (connect, fanout): MQTT over TLS, the broker verified
 * against the CA in FILE and named HOST; one client SSL_CTX for every
 * connection (the CA is read once), every connect a full handshake
 * (libmosquitto resumes no TLS session). bench/tls_bench.py.
 * Output is one line of key=value pairs for the driver script.
 */
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

struct client {
	struct mosquitto *m;
	int connected, subscribed, done;
	long received;
};

static SSL_CTX *tls_ctx; /* BENCH_CAFILE: shared by every client */

static int tls_init(const char *host)
{
	const char *ca = getenv("BENCH_CAFILE");
	X509_VERIFY_PARAM *p;

	if (!ca || !*ca)
		return 0;
	tls_ctx = SSL_CTX_new(TLS_client_method());
	if (!tls_ctx || SSL_CTX_load_verify_locations(tls_ctx, ca, NULL) != 1) {
		fprintf(stderr, "BENCH_CAFILE %s: cannot load it\n", ca);
		return -1;
	}
	SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
	p = SSL_CTX_get0_param(tls_ctx);
	if (X509_VERIFY_PARAM_set1_ip_asc(p, host) != 1 &&
		X509_VERIFY_PARAM_set1_host(p, host, 0) != 1)
		return -1;
	return 0;
}

static void tls_use(struct mosquitto *m)
{
	if (!tls_ctx)
		return;
	mosquitto_int_option(m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
	mosquitto_void_option(m, MOSQ_OPT_SSL_CTX, tls_ctx);
}

static int64_t *lat;
static int64_t lat_from; /* record latencies of messages sent after this */
static long lat_n, lat_cap;
static long total_received;

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct client *c = ud;
	(void)m;
	c->connected = rc == 0 ? 1 : -1;
}

static void on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	struct client *c = ud;
	(void)m;
	(void)mid;
	c->subscribed = n == 1 && granted[0] < 0x80 ? 1 : -1;
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	struct client *c = ud;
	int64_t sent;
	(void)m;
	c->received++;
	total_received++;
	if (msg->payloadlen >= (int)sizeof(sent)) {
		memcpy(&sent, msg->payload, sizeof(sent));
		/* the first half second warms up (fresh subscriptions, caches) */
		if (lat_n < lat_cap && sent >= lat_from)
			lat[lat_n++] = now_us() - sent;
	}
}

static void pump(struct client *cs, int n, int timeout_ms)
{
	struct pollfd pfd[1100];
	int k = 0;
	for (int i = 0; i < n && k < 1100; i++) {
		int fd = mosquitto_socket(cs[i].m);
		if (fd < 0)
			continue;
		pfd[k].fd = fd;
		pfd[k].events = POLLIN | (mosquitto_want_write(cs[i].m) ? POLLOUT : 0);
		pfd[k].revents = 0;
		k++;
	}
	poll(pfd, (nfds_t)k, timeout_ms);
	k = 0;
	for (int i = 0; i < n && k < 1100; i++) {
		if (mosquitto_socket(cs[i].m) < 0)
			continue;
		/* a TLS handshake waiting to write goes on in loop_read only */
		if ((pfd[k].revents & POLLIN) ||
			(tls_ctx && !cs[i].connected && (pfd[k].revents & POLLOUT)))
			mosquitto_loop_read(cs[i].m, 1);
		if (pfd[k].revents & POLLOUT || mosquitto_want_write(cs[i].m))
			mosquitto_loop_write(cs[i].m, 1);
		mosquitto_loop_misc(cs[i].m);
		k++;
	}
}

static int setup(struct client *c, const char *id, const char *host, int port, const char *user,
	const char *pass)
{
	c->m = mosquitto_new(id, true, c);
	if (!c->m)
		return -1;
	mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
	mosquitto_connect_callback_set(c->m, on_connect);
	mosquitto_subscribe_callback_set(c->m, on_subscribe);
	mosquitto_message_callback_set(c->m, on_message);
	tls_use(c->m);
	if (user)
		mosquitto_username_pw_set(c->m, user, pass);
	return mosquitto_connect_async(c->m, host, port, 60) == MOSQ_ERR_SUCCESS ? 0 : -1;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int bench_connect(
	const char *host, int port, double seconds, const char *user, const char *pass)
{
	enum { MAX_INFLIGHT = 256 };
	struct client cs[MAX_INFLIGHT];
	long done = 0, failed = 0;
	int inflight =
		getenv("BENCH_INFLIGHT") ? (int)strtol(getenv("BENCH_INFLIGHT"), NULL, 10) : 4;
	int64_t end = now_us() + (int64_t)(seconds * 1e6), t0 = now_us();
	char id[64];

	if (inflight < 1 || inflight > MAX_INFLIGHT)
		inflight = 4;
	memset(cs, 0, sizeof(cs));
	for (int i = 0; i < inflight; i++) {
		snprintf(id, sizeof(id), "bc-%d-%ld", i, done);
		if (setup(&cs[i], id, host, port, user, pass))
			return 1;
	}
	while (now_us() < end) {
		pump(cs, inflight, 100);
		for (int i = 0; i < inflight; i++) {
			if (!cs[i].connected)
				continue;
			if (cs[i].connected < 0)
				failed++;
			else
				done++;
			mosquitto_disconnect(cs[i].m);
			mosquitto_loop_write(cs[i].m, 1);
			mosquitto_destroy(cs[i].m);
			memset(&cs[i], 0, sizeof(cs[i]));
			snprintf(id, sizeof(id), "bc-%d-%ld", i, done + failed);
			if (setup(&cs[i], id, host, port, user, pass))
				return 1;
		}
	}
	printf("mode=connect connects_per_s=%.0f failed=%ld\n",
		(double)done / ((double)(now_us() - t0) / 1e6), failed);
	for (int i = 0; i < inflight; i++)
		mosquitto_destroy(cs[i].m);
	return failed ? 1 : 0;
}

static int bench_fanout(const char *host, int port, int subs, long messages, const char *topic,
	const char *user, const char *pass, const char *puser, const char *ppass)
{
	struct client *cs = calloc((size_t)subs + 1, sizeof(*cs));
	struct client *pub;
	char filter[256], id[64];
	unsigned char payload[32];
	long sent = 0,
	     window = getenv("BENCH_WINDOW") ? strtol(getenv("BENCH_WINDOW"), NULL, 10) : 50;
	double rate = getenv("BENCH_RATE") ? strtod(getenv("BENCH_RATE"), NULL) : 0;
	int64_t t0, t1;
	char *slash;

	if (!cs)
		return 1;
	lat_cap = messages * subs;
	lat = malloc((size_t)lat_cap * sizeof(*lat));
	if (!lat)
		return 1;
	/* subscribe to the room's event filter: rooms/<room>/ev/# */
	snprintf(filter, sizeof(filter), "%s", topic);
	slash = strstr(filter, "/ev/");
	if (slash)
		snprintf(slash, sizeof(filter) - (size_t)(slash - filter), "/ev/#");
	for (int i = 0; i < subs; i++) {
		snprintf(id, sizeof(id), "bs-%d", i);
		if (setup(&cs[i], id, host, port, user, pass))
			return 1;
	}
	pub = &cs[subs];
	if (setup(pub, "bp", host, port, puser ? puser : user, puser ? ppass : pass))
		return 1;
	for (int64_t deadline = now_us() + 20000000; now_us() < deadline;) {
		int ready = 0;
		pump(cs, subs + 1, 50);
		for (int i = 0; i <= subs; i++) {
			if (cs[i].connected < 0) {
				fprintf(stderr, "connect refused for client %d\n", i);
				return 1;
			}
			if (cs[i].connected == 1 && i < subs && !cs[i].subscribed) {
				cs[i].subscribed = 2;
				mosquitto_subscribe(cs[i].m, NULL, filter, 0);
			}
			ready += i < subs ? cs[i].subscribed == 1 : cs[i].connected == 1;
		}
		if (ready == subs + 1)
			break;
	}
	for (int i = 0; i < subs; i++)
		if (cs[i].subscribed != 1) {
			fprintf(stderr, "subscription refused or missing for %d\n", i);
			return 1;
		}
	memset(payload, 'x', sizeof(payload));
	t0 = now_us();
	lat_from = rate > 0 ? t0 + 500000 : 0;
	while (sent < messages || total_received < (long)messages * subs) {
		/* keep at most `window` messages per subscriber in flight; with a
		 * rate (BENCH_RATE msgs/s) measure latency on an unsaturated broker */
		while (sent < messages && (long)sent * subs - total_received < window * subs &&
			(rate <= 0 || sent < (long)((double)(now_us() - t0) * rate / 1e6) + 1)) {
			int64_t ts = now_us();
			memcpy(payload, &ts, sizeof(ts));
			mosquitto_publish(pub->m, NULL, topic, sizeof(payload), payload, 0, false);
			sent++;
		}
		pump(cs, subs + 1, rate > 0 ? 1 : 10);
		if (now_us() - t0 > 60000000) {
			fprintf(stderr, "timeout: %ld of %ld deliveries\n", total_received,
				messages * subs);
			break;
		}
	}
	t1 = now_us();
	qsort(lat, (size_t)lat_n, sizeof(*lat), cmp64);
	printf("mode=fanout subs=%d messages=%ld msgs_in_per_s=%.0f deliveries_per_s=%.0f "
	       "p50_us=%lld p99_us=%lld p90_us=%lld p999_us=%lld max_us=%lld delivered=%ld\n",
		subs, messages, (double)sent / ((double)(t1 - t0) / 1e6),
		(double)total_received / ((double)(t1 - t0) / 1e6),
		(long long)(lat_n ? lat[lat_n / 2] : -1),
		(long long)(lat_n ? lat[(lat_n * 99) / 100] : -1),
		(long long)(lat_n ? lat[(lat_n * 90) / 100] : -1),
		(long long)(lat_n ? lat[(lat_n * 999) / 1000] : -1),
		(long long)(lat_n ? lat[lat_n - 1] : -1), total_received);
	for (int i = 0; i <= subs; i++)
		mosquitto_destroy(cs[i].m);
	free(cs);
	free(lat);
	return total_received == messages * subs ? 0 : 1;
}

/* ---- presence: N users join then leave one room, one observer ---------- */

struct pclient {
	struct mosquitto *m;
	char user[64];
	char pass[1100];
	int connected;
	int64_t t_conn, t_gone;
};

static struct pclient *pcs;
static int pn;
static int64_t *joined_lat, *left_lat;
static long joined_n, left_n;

static struct pclient *find_user(const char *payload, int len)
{
	/* {"user":"<name>",...} */
	const char *p = memmem(payload, (size_t)len, "\"user\":\"", 8);
	const char *e;
	if (!p)
		return NULL;
	p += 8;
	e = memchr(p, '"', (size_t)(payload + len - p));
	if (!e)
		return NULL;
	for (int i = 0; i < pn; i++)
		if (strlen(pcs[i].user) == (size_t)(e - p) &&
			!memcmp(pcs[i].user, p, (size_t)(e - p)))
			return &pcs[i];
	return NULL;
}

static void obs_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	struct pclient *c = find_user(msg->payload, msg->payloadlen);
	int64_t now = now_us();
	(void)m;
	(void)ud;
	if (!c)
		return;
	if (strstr(msg->topic, "/sys/joined") && c->t_conn && joined_n < pn)
		joined_lat[joined_n++] = now - c->t_conn;
	else if (strstr(msg->topic, "/sys/left") && c->t_gone && left_n < pn)
		left_lat[left_n++] = now - c->t_gone;
}

static void p_connect(struct mosquitto *m, void *ud, int rc)
{
	struct pclient *c = ud;
	(void)m;
	c->connected = rc == 0 ? 1 : -1;
	if (rc == 0)
		c->t_conn = now_us();
}

static void pump_all(struct client *obs, int timeout_ms)
{
	static struct pollfd pfd[4200];
	static struct mosquitto *who[4200];
	int k = 0;
	for (int i = 0; i <= pn && k < 4200; i++) {
		struct mosquitto *m = i < pn ? pcs[i].m : obs->m;
		int fd = m ? mosquitto_socket(m) : -1;
		if (fd < 0)
			continue;
		pfd[k].fd = fd;
		pfd[k].events = POLLIN | (mosquitto_want_write(m) ? POLLOUT : 0);
		pfd[k].revents = 0;
		who[k++] = m;
	}
	poll(pfd, (nfds_t)k, timeout_ms);
	/* only the sockets that are ready: a read on each of a thousand idle
	 * sockets per pass would make this client, not the broker, the
	 * bottleneck */
	for (int i = 0; i < k; i++) {
		if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
			mosquitto_loop_read(who[i], 1);
		if (pfd[i].revents & POLLOUT)
			mosquitto_loop_write(who[i], 1);
	}
}

static void pump_misc(struct client *obs)
{
	static int64_t last;
	if (now_us() - last < 100000)
		return;
	last = now_us();
	for (int i = 0; i <= pn; i++) {
		struct mosquitto *m = i < pn ? pcs[i].m : obs->m;
		if (m)
			mosquitto_loop_misc(m);
	}
}

static void report(const char *name, int64_t *v, long n, double secs)
{
	qsort(v, (size_t)n, sizeof(*lat), cmp64);
	printf("%s_per_s=%.0f %s_p50_us=%lld %s_p99_us=%lld %s_n=%ld ", name, (double)n / secs,
		name, (long long)(n ? v[n / 2] : -1), name, (long long)(n ? v[(n * 99) / 100] : -1),
		name, n);
}

static int bench_presence(const char *host, int port, const char *room, const char *credfile,
	const char *ouser, const char *opass)
{
	struct client obs;
	char filter[256], line[1300];
	FILE *f = fopen(credfile, "r");
	int64_t t0, t1, deadline;
	int cap = 4096;

	if (!f)
		return 1;
	pcs = calloc((size_t)cap, sizeof(*pcs));
	while (pcs && pn < cap && fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %1099s", pcs[pn].user, pcs[pn].pass) == 2)
			pn++;
	fclose(f);
	joined_lat = calloc((size_t)pn + 1, sizeof(int64_t));
	left_lat = calloc((size_t)pn + 1, sizeof(int64_t));
	if (!pcs || !joined_lat || !left_lat)
		return 1;
	memset(&obs, 0, sizeof(obs));
	if (setup(&obs, "presence-observer", host, port, ouser, opass))
		return 1;
	mosquitto_message_callback_set(obs.m, obs_message);
	snprintf(filter, sizeof(filter), "rooms/%s/sys/+", room);
	for (deadline = now_us() + 10000000; obs.connected != 1 && now_us() < deadline;)
		pump_all(&obs, 50);
	mosquitto_subscribe(obs.m, NULL, filter, 0);
	for (deadline = now_us() + 10000000; obs.subscribed != 1 && now_us() < deadline;)
		pump_all(&obs, 50);
	if (obs.subscribed != 1) {
		fprintf(stderr, "observer could not subscribe\n");
		return 1;
	}
	/* join: up to 50 connects in flight */
	t0 = now_us();
	for (int next = 0, first_open = 0; next < pn || joined_n < pn;) {
		int inflight = 0;
		while (first_open < next && pcs[first_open].connected != 0)
			first_open++;
		for (int i = first_open; i < next; i++)
			inflight += pcs[i].connected == 0;
		while (next < pn && inflight < 50) {
			char id[80];
			snprintf(id, sizeof(id), "pb-%s", pcs[next].user);
			pcs[next].m = mosquitto_new(id, true, &pcs[next]);
			mosquitto_connect_callback_set(pcs[next].m, p_connect);
			mosquitto_username_pw_set(pcs[next].m, pcs[next].user, pcs[next].pass);
			mosquitto_connect_async(pcs[next].m, host, port, 60);
			next++;
			inflight++;
		}
		pump_all(&obs, 5);
		pump_misc(&obs);
		if (now_us() - t0 > 120000000)
			break;
	}
	t1 = now_us();
	printf("mode=presence users=%d ", pn);
	report("join", joined_lat, joined_n, (double)(t1 - t0) / 1e6);
	/* leave: everyone disconnects cleanly at once */
	t0 = now_us();
	for (int i = 0; i < pn; i++) {
		pcs[i].t_gone = now_us();
		mosquitto_disconnect(pcs[i].m);
	}
	while (left_n < pn && now_us() - t0 < 120000000) {
		pump_all(&obs, 5);
		pump_misc(&obs);
	}
	t1 = now_us();
	report("leave", left_lat, left_n, (double)(t1 - t0) / 1e6);
	printf("\n");
	return joined_n == pn && left_n == pn ? 0 : 1;
}

/* ---- calls: one MQTT 5 caller, INFLIGHT calls outstanding --------------- */

struct caller {
	int connected, subscribed;
	long answered, unavailable;
	int64_t *sent_at; /* by call number (the correlation data) */
	long ncalls, cap;
	int64_t rec_from;
};

static void c_connect(struct mosquitto *m, void *ud, int rc, int flags, const mosquitto_property *p)
{
	struct caller *c = ud;
	(void)m;
	(void)flags;
	(void)p;
	c->connected = rc == 0 ? 1 : -1;
}

static void c_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted,
	const mosquitto_property *p)
{
	struct caller *c = ud;
	(void)m;
	(void)mid;
	(void)p;
	c->subscribed = n == 1 && granted[0] < 0x80 ? 1 : -1;
}

static void c_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
	const mosquitto_property *props)
{
	struct caller *c = ud;
	void *corr = NULL;
	uint16_t clen = 0;
	long n;
	(void)m;
	if (!mosquitto_property_read_binary(
		    props, MQTT_PROP_CORRELATION_DATA, &corr, &clen, false) ||
		clen != sizeof(n)) {
		free(corr);
		return;
	}
	memcpy(&n, corr, sizeof(n));
	free(corr);
	if (n < 0 || n >= c->ncalls || !c->sent_at[n])
		return;
	if (msg->payloadlen > 11 &&
		memmem(msg->payload, (size_t)msg->payloadlen, "unavailable", 11))
		c->unavailable++;
	if (c->sent_at[n] >= c->rec_from && lat_n < lat_cap)
		lat[lat_n++] = now_us() - c->sent_at[n];
	c->sent_at[n] = 0;
	c->answered++;
}

static int bench_calls(const char *host, int port, double seconds, int inflight, const char *user,
	const char *pass, const char *service, const char *method)
{
	struct caller c = {0};
	struct client one = {0};
	char topic[256], reply[256], filter[256];
	int64_t t0, end, measured_from;
	long answered_at_start = 0;

	snprintf(topic, sizeof(topic), "svc/%s/%s/%s", service, method, user);
	snprintf(reply, sizeof(reply), "users/%s/reply/bench", user);
	snprintf(filter, sizeof(filter), "users/%s/reply/#", user);
	c.cap = 4000000;
	c.sent_at = calloc((size_t)c.cap, sizeof(*c.sent_at));
	lat_cap = c.cap;
	lat = malloc((size_t)lat_cap * sizeof(*lat));
	if (!c.sent_at || !lat)
		return 1;
	one.m = mosquitto_new("bench-caller", true, &c);
	if (!one.m)
		return 1;
	mosquitto_int_option(one.m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	/* request/response: no Nagle wait behind the PUBACK of an answer */
	mosquitto_int_option(one.m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(one.m, c_connect);
	mosquitto_subscribe_v5_callback_set(one.m, c_subscribe);
	mosquitto_message_v5_callback_set(one.m, c_message);
	mosquitto_username_pw_set(one.m, user, pass);
	if (mosquitto_connect_async(one.m, host, port, 60) != MOSQ_ERR_SUCCESS)
		return 1;
	for (int64_t deadline = now_us() + 20000000; now_us() < deadline && c.subscribed != 1;) {
		pump(&one, 1, 50);
		if (c.connected < 0 || c.subscribed < 0) {
			fprintf(stderr, "caller refused (connect %d, subscribe %d)\n", c.connected,
				c.subscribed);
			return 1;
		}
		if (c.connected == 1 && !c.subscribed) {
			c.subscribed = 2;
			mosquitto_subscribe(one.m, NULL, filter, 1);
		}
	}
	t0 = now_us();
	measured_from = t0 + 1000000; /* a second of warm-up */
	c.rec_from = measured_from;
	end = measured_from + (int64_t)(seconds * 1e6);
	while (now_us() < end) {
		while (c.ncalls - c.answered < inflight && c.ncalls < c.cap) {
			mosquitto_property *props = NULL;
			long n = c.ncalls;
			mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply);
			mosquitto_property_add_binary(
				&props, MQTT_PROP_CORRELATION_DATA, &n, sizeof(n));
			c.sent_at[n] = now_us();
			c.ncalls++;
			mosquitto_publish_v5(one.m, NULL, topic, 8, "{\"n\":1}", 1, false, props);
			mosquitto_property_free_all(&props);
		}
		if (!answered_at_start && now_us() >= measured_from)
			answered_at_start = c.answered ? c.answered : 1;
		pump(&one, 1, 1);
	}
	qsort(lat, (size_t)lat_n, sizeof(*lat), cmp64);
	printf("mode=calls inflight=%d calls_per_s=%.0f p50_us=%lld p99_us=%lld answered=%ld "
	       "unavailable=%ld\n",
		inflight, (double)(c.answered - answered_at_start) / seconds,
		(long long)(lat_n ? lat[lat_n / 2] : -1),
		(long long)(lat_n ? lat[(lat_n * 99) / 100] : -1), c.answered, c.unavailable);
	mosquitto_destroy(one.m);
	free(c.sent_at);
	free(lat);
	return c.answered && !c.unavailable ? 0 : 1;
}

/* ---- hookd: a hook service that accepts everything --------------------- */

static long hookd_verdicts;

static void h_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg,
	const mosquitto_property *props)
{
	mosquitto_property *out = NULL;
	char *rt = NULL;
	void *corr = NULL;
	uint16_t clen = 0;
	(void)ud;
	(void)msg;
	if (!mosquitto_property_read_string(props, MQTT_PROP_RESPONSE_TOPIC, &rt, false))
		return;
	if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &clen, false))
		mosquitto_property_add_binary(&out, MQTT_PROP_CORRELATION_DATA, corr, clen);
	if (mosquitto_publish_v5(m, NULL, rt, 15, "{\"accept\":true}", 1, false, out) ==
		MOSQ_ERR_SUCCESS)
		hookd_verdicts++;
	mosquitto_property_free_all(&out);
	free(rt);
	free(corr);
}

static int bench_hookd(
	const char *host, int port, const char *service, const char *key, double seconds)
{
	struct caller c = {0};
	struct client one = {0};
	char filter[256];
	int64_t end;

	snprintf(filter, sizeof(filter), "$share/%s/svc/%s/#", service, service);
	one.m = mosquitto_new(NULL, true, &c);
	if (!one.m)
		return 1;
	mosquitto_int_option(one.m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	mosquitto_int_option(one.m, MOSQ_OPT_TCP_NODELAY, 1);
	mosquitto_connect_v5_callback_set(one.m, c_connect);
	mosquitto_subscribe_v5_callback_set(one.m, c_subscribe);
	mosquitto_message_v5_callback_set(one.m, h_message);
	mosquitto_username_pw_set(one.m, service, key);
	if (mosquitto_connect_async(one.m, host, port, 60) != MOSQ_ERR_SUCCESS)
		return 1;
	for (int64_t deadline = now_us() + 20000000; now_us() < deadline && c.subscribed != 1;) {
		pump(&one, 1, 50);
		if (c.connected < 0 || c.subscribed < 0)
			return 1;
		if (c.connected == 1 && !c.subscribed) {
			c.subscribed = 2;
			mosquitto_subscribe(one.m, NULL, filter, 1);
		}
	}
	printf("ready\n");
	fflush(stdout);
	end = now_us() + (int64_t)(seconds * 1e6);
	while (now_us() < end)
		pump(&one, 1, 10);
	printf("mode=hookd verdicts=%ld\n", hookd_verdicts);
	mosquitto_destroy(one.m);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;
	mosquitto_lib_init();
	if (argc >= 3 && tls_init(argv[2]))
		return 1;
	if (argc >= 5 && !strcmp(argv[1], "connect"))
		rc = bench_connect(argv[2], (int)strtol(argv[3], NULL, 10), strtod(argv[4], NULL),
			argc > 6 ? argv[5] : NULL, argc > 6 ? argv[6] : NULL);
	else if (argc >= 7 && !strcmp(argv[1], "fanout"))
		rc = bench_fanout(argv[2], (int)strtol(argv[3], NULL, 10),
			(int)strtol(argv[4], NULL, 10), strtol(argv[5], NULL, 10), argv[6],
			argc > 8 ? argv[7] : NULL, argc > 8 ? argv[8] : NULL,
			argc > 10 ? argv[9] : NULL, argc > 10 ? argv[10] : NULL);
	else if (argc == 10 && !strcmp(argv[1], "calls"))
		rc = bench_calls(argv[2], (int)strtol(argv[3], NULL, 10), strtod(argv[4], NULL),
			(int)strtol(argv[5], NULL, 10), argv[6], argv[7], argv[8], argv[9]);
	else if (argc == 7 && !strcmp(argv[1], "hookd"))
		rc = bench_hookd(argv[2], (int)strtol(argv[3], NULL, 10), argv[4], argv[5],
			strtod(argv[6], NULL));
	else if (argc == 8 && !strcmp(argv[1], "presence"))
		rc = bench_presence(argv[2], (int)strtol(argv[3], NULL, 10), argv[4], argv[5],
			argv[6], argv[7]);
	else {
		fprintf(stderr,
			"usage: broker_bench presence HOST PORT ROOM CREDFILE OBSUSER OBSPASS\n"
			"       broker_bench connect HOST PORT SECONDS [USER PASS]\n"
			"       broker_bench calls HOST PORT SECONDS INFLIGHT USER PASS SERVICE "
			"METHOD\n"
			"       broker_bench hookd HOST PORT SERVICE KEY SECONDS\n"
			"       broker_bench fanout HOST PORT SUBS MESSAGES TOPIC [USER PASS "
			"[PUBUSER PUBPASS]]\n");
		rc = 2;
	}
	mosquitto_lib_cleanup();
	SSL_CTX_free(tls_ctx);
	return rc;
}
