/* SPDX-License-Identifier: MIT */
/* Service counters and their Prometheus text exposition. */
#include "metrics.h"
#include "buf.h"
#include "hc_err.h"
#include "hc_util.h"

#include <cjson/cJSON.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const int statuses[HUB_METRICS_STATUSES] = {
	200, 204, 301, 304, 400, 401, 403, 404, 405, 411, 413, 415, 429, 500, 501, 503};

static const char *const login_names[HUB_LOGIN__COUNT] = {"ok", "failed", "rate_limited", "busy"};

void hub_metrics_init(struct hub_metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->start_time = hc_now();
}

void hub_metrics_login(struct hub_metrics *m, enum hub_login_result r)
{
	if (r >= 0 && r < HUB_LOGIN__COUNT)
		m->logins[r]++;
}

const char *hub_login_result_name(enum hub_login_result r)
{
	return r >= 0 && r < HUB_LOGIN__COUNT ? login_names[r] : "unknown";
}

void hub_metrics_http(struct hub_metrics *m, int status)
{
	for (int i = 0; i < HUB_METRICS_STATUSES; i++)
		if (statuses[i] == status) {
			m->http[i]++;
			return;
		}
	m->http[HUB_METRICS_STATUSES]++;
}

void hub_metrics_hash(struct hub_metrics *m, double seconds, double cpu_seconds)
{
	m->hash_seconds_sum += seconds;
	m->hash_cpu_seconds_sum += cpu_seconds;
	m->hash_count++;
}

/* The plugin's JSON fields, in struct hub_metrics.broker order. */
static const char *const broker_fields[HUB_BROKER_FIELDS] = {"clients", "principals_online",
	"auth_ok", "auth_denied", "acl_denied_read", "acl_denied_write", "acl_denied_subscribe",
	"kicks"};
enum { B_CLIENTS, B_ONLINE, B_AUTH_OK, B_AUTH_DENIED, B_ACL_READ, B_ACL_WRITE, B_ACL_SUB, B_KICKS };

int hub_metrics_broker_update(struct hub_metrics *m, const char *json, size_t len, int64_t now)
{
	uint64_t v[HUB_BROKER_FIELDS] = {0};
	cJSON *root = cJSON_ParseWithLength(json, len);
	int rc = HUB_OK;

	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return HUB_ERR_INVAL;
	}
	for (int i = 0; i < HUB_BROKER_FIELDS && rc == HUB_OK; i++) {
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, broker_fields[i]);
		/* integers that a double holds exactly */
		if (!cJSON_IsNumber(f) || f->valuedouble < 0 ||
			f->valuedouble > 9007199254740992.0 ||
			f->valuedouble != (double)(uint64_t)f->valuedouble)
			rc = HUB_ERR_INVAL;
		else
			v[i] = (uint64_t)f->valuedouble;
	}
	cJSON_Delete(root);
	if (rc)
		return rc;
	memcpy(m->broker, v, sizeof(v));
	m->broker_have = true;
	m->broker_at = now;
	return HUB_OK;
}

static int render_broker(const struct hub_metrics *m, struct hub_buf *out)
{
	const uint64_t *b = m->broker;

	return hub_buf_printf(out,
		"# HELP hub_broker_clients MQTT clients connected to the broker.\n"
		"# TYPE hub_broker_clients gauge\n"
		"hub_broker_clients %llu\n"
		"# HELP hub_broker_principals_online Users and devices with a live connection.\n"
		"# TYPE hub_broker_principals_online gauge\n"
		"hub_broker_principals_online %llu\n"
		"# HELP hub_broker_auth_total MQTT connection attempts by result.\n"
		"# TYPE hub_broker_auth_total counter\n"
		"hub_broker_auth_total{result=\"ok\"} %llu\n"
		"hub_broker_auth_total{result=\"denied\"} %llu\n"
		"# HELP hub_broker_acl_denials_total Refusals of the room ACL by action.\n"
		"# TYPE hub_broker_acl_denials_total counter\n"
		"hub_broker_acl_denials_total{action=\"read\"} %llu\n"
		"hub_broker_acl_denials_total{action=\"write\"} %llu\n"
		"hub_broker_acl_denials_total{action=\"subscribe\"} %llu\n"
		"# HELP hub_broker_kicks_total Connections ended by revocation.\n"
		"# TYPE hub_broker_kicks_total counter\n"
		"hub_broker_kicks_total %llu\n"
		"# HELP hub_broker_metrics_age_seconds Age of the broker plugin's last report.\n"
		"# TYPE hub_broker_metrics_age_seconds gauge\n"
		"hub_broker_metrics_age_seconds %lld\n",
		(unsigned long long)b[B_CLIENTS], (unsigned long long)b[B_ONLINE],
		(unsigned long long)b[B_AUTH_OK], (unsigned long long)b[B_AUTH_DENIED],
		(unsigned long long)b[B_ACL_READ], (unsigned long long)b[B_ACL_WRITE],
		(unsigned long long)b[B_ACL_SUB], (unsigned long long)b[B_KICKS],
		(long long)(hc_now() - m->broker_at));
}

int hub_metrics_render(
	const struct hub_metrics *m, int64_t queue_depth, int workers, struct hub_buf *out)
{
	int rc = 0;

	rc |= hub_buf_puts(out, "# HELP hub_logins_total Login attempts by result.\n"
				"# TYPE hub_logins_total counter\n");
	for (int i = 0; i < HUB_LOGIN__COUNT; i++)
		rc |= hub_buf_printf(out, "hub_logins_total{result=\"%s\"} %llu\n", login_names[i],
			(unsigned long long)m->logins[i]);
	rc |= hub_buf_printf(out,
		"# HELP hub_sessions_live Sessions neither expired nor revoked.\n"
		"# TYPE hub_sessions_live gauge\n"
		"hub_sessions_live %lld\n",
		(long long)m->sessions_live);
	rc |= hub_buf_puts(out, "# HELP hub_http_requests_total HTTP responses by status code.\n"
				"# TYPE hub_http_requests_total counter\n");
	for (int i = 0; i <= HUB_METRICS_STATUSES; i++) {
		if (i < HUB_METRICS_STATUSES && !m->http[i])
			continue;
		if (i < HUB_METRICS_STATUSES)
			rc |= hub_buf_printf(out, "hub_http_requests_total{code=\"%d\"} %llu\n",
				statuses[i], (unsigned long long)m->http[i]);
		else
			rc |= hub_buf_printf(out, "hub_http_requests_total{code=\"other\"} %llu\n",
				(unsigned long long)m->http[i]);
	}
	rc |= hub_buf_printf(out,
		"# HELP hub_login_queue_depth Logins waiting for a password hash worker.\n"
		"# TYPE hub_login_queue_depth gauge\n"
		"hub_login_queue_depth %lld\n"
		"# HELP hub_hash_workers Password hashing threads.\n"
		"# TYPE hub_hash_workers gauge\n"
		"hub_hash_workers %d\n"
		"# HELP hub_hash_seconds Time spent hashing per login attempt.\n"
		"# TYPE hub_hash_seconds summary\n"
		"hub_hash_seconds_sum %.6f\n"
		"hub_hash_seconds_count %llu\n"
		"# HELP hub_hash_cpu_seconds CPU time spent hashing per login attempt.\n"
		"# TYPE hub_hash_cpu_seconds summary\n"
		"hub_hash_cpu_seconds_sum %.6f\n"
		"hub_hash_cpu_seconds_count %llu\n"
		"# HELP hub_start_time_seconds When hubd started, unix seconds.\n"
		"# TYPE hub_start_time_seconds gauge\n"
		"hub_start_time_seconds %lld\n",
		(long long)queue_depth, workers, m->hash_seconds_sum,
		(unsigned long long)m->hash_count, m->hash_cpu_seconds_sum,
		(unsigned long long)m->hash_count, (long long)m->start_time);
	{
		/* what hubd holds, as the allocator counts it (every arena):
		 * resident memory also counts what the kernel maps for it
		 * (huge pages, freed memory not yet returned) */
		struct mallinfo2 mi = mallinfo2();
		rc |= hub_buf_printf(out,
			"# HELP hub_heap_bytes Memory hubd has allocated and not freed.\n"
			"# TYPE hub_heap_bytes gauge\n"
			"hub_heap_bytes %zu\n",
			mi.uordblks + mi.hblkhd);
	}
	rc |= hub_buf_printf(out,
		"# HELP hub_front_connections Browser connections hubd relays now (MQTT over "
		"WebSocket, Socket.IO).\n"
		"# TYPE hub_front_connections gauge\n"
		"hub_front_connections %lld\n"
		"# HELP hub_front_refused_total WebSocket upgrades refused by the front.\n"
		"# TYPE hub_front_refused_total counter\n"
		"hub_front_refused_total{reason=\"origin\"} %llu\n"
		"hub_front_refused_total{reason=\"address\"} %llu\n"
		"hub_front_refused_total{reason=\"full\"} %llu\n",
		(long long)m->front_live,
		(unsigned long long)m->front_refused[HUB_FRONT_REFUSED_ORIGIN],
		(unsigned long long)m->front_refused[HUB_FRONT_REFUSED_ADDRESS],
		(unsigned long long)m->front_refused[HUB_FRONT_REFUSED_FULL]);
	if (m->broker_have)
		rc |= render_broker(m, out);
	return rc ? HUB_ERR_TOOBIG : HUB_OK;
}
