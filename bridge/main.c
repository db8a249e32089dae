/* SPDX-License-Identifier: MIT */
/*
 * hub-bridge: the Socket.IO (protocol v5 / Engine.IO v4) gateway onto the
 * broker. Start-up like the other services: config, data directory, bind,
 * privilege drop, then the token key, the store (read-only, for cookie
 * lookups), the directory and its follower, the broker link. Then one lws
 * loop until SIGTERM/SIGINT, and a graceful stop: every transport is
 * closed WITHOUT a Socket.IO DISCONNECT (stock clients then reconnect by
 * themselves, to this gateway once it is back), presence is detached as a
 * network end (the plugin's grace window covers a quick restart), exit 0.
 */
#include "hbr.h"
#include "hc_err.h"
#include "hc_follow.h"
#include "hc_log.h"
#include "hc_proc.h"
#include "hc_tls.h"
#include "hc_util.h"

#ifdef HBR_WITH_LIBEV
#include <ev.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#ifndef HUB_VERSION
#define HUB_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2
#define STOP_MS	   3000 /* the graceful stop waits at most this long */

static const char usage_text[] =
	"usage: hub-bridge [--config FILE] [--help] [--version]\n"
	"\n"
	"The hub's Socket.IO gateway (see docs/socketio.md): stock socket.io-client\n"
	"apps connect to http://bind_address:sio_port/ and share rooms with MQTT.\n"
	"\n"
	"  --config FILE  configuration file (else $HUB_CONFIG, else conf/hub.conf);\n"
	"                 HUB_<SETTING> environment variables override it\n"
	"  -h, --help     this text\n"
	"  --version      print the version\n"
	"\n"
	"Settings read: bind_address sio_port data_dir key_file token_alg run_as\n"
	"  log_level mqtt_host mqtt_port refresh_ms autojoin_rooms cors_origins\n"
	"  sio_max_payload sio_ping_interval sio_ping_timeout sio_event_rate\n"
	"  sio_max_sockets sio_pending_max sio_pending_per_addr sio_connect_timeout\n"
	"  sio_recovery_s sio_recovery_max_events sio_recovery_max_bytes\n"
	"  http_max_headers web_dir trust_proxy trusted_proxies tls_cert tls_key\n"
	"  sio_sid_tag\n";

static volatile sig_atomic_t got_signal;
static struct lws_context *signal_ctx;
static bool done;
#ifdef HBR_WITH_LIBEV
static struct ev_loop *loop_ev;
static ev_prepare flush_ev; /* writes queued in this pass (server.c, mqtt.c) */

static void on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
	(void)loop;
	(void)revents;
	/* the sockets first (their latency), then the broker's burst */
	hbr_server__flush(w->data);
	hbr_mqtt__flush(w->data);
}
#endif

/* who sent the stop signal (an operator reads it in the log) */
static volatile pid_t signal_from;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	signal_from = si ? si->si_pid : 0;
	got_signal = sig;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static volatile sig_atomic_t got_hup;

static void on_hup(int sig)
{
	(void)sig;
	got_hup = 1;
	if (signal_ctx)
		lws_cancel_service(signal_ctx);
}

static void wake_loop(void *ud)
{
	lws_cancel_service(ud);
}

static void lws_log_sink(int level, const char *line)
{
	char safe[512];
	size_t n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	snprintf(safe, sizeof(safe), "%.*s", (int)n, line);
	hc_log(level == LLL_ERR ? HC_LOG_ERROR : HC_LOG_WARN, "msg=lws text=\"%s\"",
		hc_log_safe(safe, safe, sizeof(safe)));
}

static int parse_args(int argc, char **argv, const char **config)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("hub-bridge %s (libwebsockets %s)\n", HUB_VERSION,
				lws_get_library_version());
			return 0;
		} else if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "hub-bridge: --config needs a file\n%s",
					usage_text);
				return EXIT_USAGE;
			}
			*config = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			*config = argv[i] + 9;
		} else {
			fprintf(stderr, "hub-bridge: unknown argument '%.60s'\n%s", argv[i],
				usage_text);
			return EXIT_USAGE;
		}
	}
	return -1;
}

/* ------------------------------------------------------------ sessions */

struct verdict_ud {
	struct hbr *h;
	int64_t now_ms;
	struct hbr_sock *list[256];
	const char *why[256];
	int n;
};

static int verdict_cb(void *ud, const char *key, void *value)
{
	struct verdict_ud *u = ud;
	struct hbr_sock *s = value;
	const char *why;
	(void)key;
	if (!hbr_sio__live(s) && s->state != HBR_S_DETACHED)
		return 0;
	why = hbr_auth__verdict(u->h, s, u->now_ms);
	if (!why)
		return 0;
	u->list[u->n] = s;
	u->why[u->n++] = why;
	return u->n == 256;
}

/* End the sockets whose session ended (logout, revoked, expired, user
 * gone): collect first, since ending edits the table. */
static void check_sessions(struct hbr *h)
{
	struct verdict_ud u = {.h = h, .now_ms = hc_mono_ms()};
	int more;
	do {
		u.n = 0;
		more = hc_hmap_each(&h->serials, verdict_cb, &u);
		for (int i = 0; i < u.n; i++) {
			hc_info("%s/%s | session | ended reason=%s", u.list[i]->sock_id,
				u.list[i]->user, u.why[i]);
			/* a record of a session that ended can never come back */
			if (u.list[i]->state == HBR_S_DETACHED)
				hbr_recovery__drop(h, u.list[i], u.why[i]);
			else
				hbr_eio__close(h, u.list[i], u.why[i], HBR_CLOSE_SIO);
		}
	} while (more);
}

static void on_change(void *ud, const struct hc_change *c, const struct hc_acl_dir *dir)
{
	bool *rooms = ud;
	(void)dir;
	if (c->type == HC_CHG_LEVEL || c->type == HC_CHG_ROOM_DEL || c->type == HC_CHG_RELOAD ||
		c->type == HC_CHG_PRINCIPAL_DEL)
		*rooms = true;
}

static void apply_changes(struct hbr *h)
{
	bool rooms = false;
	if (hc_follow_apply(h->follow, &h->dir, on_change, &rooms) > 0) {
		check_sessions(h);
		if (rooms)
			hbr_rooms__recheck(h);
	}
}

/* ------------------------------------------------------------ stop */

static int collect_cb(void *ud, const char *key, void *value)
{
	struct hbr_sock **list = ud;
	struct hbr_sock *s = value;
	(void)key;
	if (s->state != HBR_S_OPEN)
		return 0;
	for (int i = 0; i < 256; i++)
		if (!list[i]) {
			list[i] = s;
			return i == 255;
		}
	return 1;
}

/* The gateway stops: every transport is closed without a Socket.IO
 * DISCONNECT (a WebSocket gets its close frame, a parked polling GET the
 * engine close at once), so socket.io-client reports "transport close" and
 * reconnects by itself, as from a Node server that stops. Presence ends as
 * "network": the plugin's grace window covers a quick restart. */
static void close_all(struct hbr *h)
{
	struct hbr_sock *list[256];
	int more;
	do {
		memset(list, 0, sizeof(list));
		more = hc_hmap_each(&h->socks, collect_cb, list);
		for (int i = 0; i < 256 && list[i]; i++)
			hbr_eio__close(h, list[i], "network", 0);
	} while (more);
}

static int any_cb(void *ud, const char *key, void *value)
{
	(void)key;
	*(struct hbr_sock **)ud = value;
	return 1;
}

static void free_all(struct hbr *h)
{
	struct hbr_sock *s;
	for (;;) {
		s = NULL;
		hc_hmap_each(&h->socks, any_cb, &s);
		if (!s)
			break;
		hbr_eio__free(h, s);
	}
}

static void begin_stop(struct hbr *h)
{
	h->stopping = true;
	h->stop_deadline_ms = hc_mono_ms() + STOP_MS;
	hc_info("msg=stopping signal=%d from_pid=%ld sockets=%d", (int)got_signal,
		(long)signal_from, h->nsocks);
	close_all(h);
}

void hbr_main__wakeup(struct hbr *h)
{
	if (got_hup) {
		got_hup = 0;
		/* a renewed certificate for new connections (docs/tls.md) */
		hc_tls_sighup(&h->cfg, &h->tls, &h->tls_served, NULL);
	}
	if (got_signal && !h->stopping)
		begin_stop(h);
	hbr_mqtt__drain(h);
	apply_changes(h);
}

static void sweep_cb(lws_sorted_usec_list_t *sul)
{
	struct hbr *h = lws_container_of(sul, struct hbr, sul_sweep);
	int64_t now = hc_mono_ms();

	hbr_main__wakeup(h);
	hbr_eio__tick(h);
	hbr_recovery__tick(h, now);
	hbr_calls__tick(h, now);
	if (now - h->last_sweep_ms >= HBR_SWEEP_MS || h->stopping) {
		h->last_sweep_ms = now;
		check_sessions(h);
		hc_log_limits_flush(false); /* summaries of refusal floods */
	}
	if (h->stopping &&
		((h->nsocks == 0 && hbr_mqtt__inflight(h) == 0) || now >= h->stop_deadline_ms)) {
		done = true;
#ifdef HBR_WITH_LIBEV
		if (loop_ev)
			ev_break(loop_ev, EVBREAK_ALL);
#endif
		lws_cancel_service(h->lws);
		return;
	}
	lws_sul_schedule(h->lws, 0, &h->sul_sweep, sweep_cb,
		(h->stopping ? 20 : HBR_TICK_MS) * LWS_US_PER_MS);
}

/* ------------------------------------------------------------ start */

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int open_state(struct hbr *h, char *err, size_t errsz)
{
	char key_path[4200];
	int rc;

	if (hc_config_key_path(&h->cfg, key_path, sizeof(key_path)) ||
		hc_config_db_path(&h->cfg, h->db_path, sizeof(h->db_path))) {
		snprintf(err, errsz, "data_dir or key_file path too long");
		return HUB_ERR_CONFIG;
	}
	rc = hc_token_key_load(
		key_path, hc_cfg_str(&h->cfg, HC_CFG_TOKEN_ALG), 1, &h->key, err, errsz);
	if (!rc)
		rc = hc_token_key_tag(h->key, "hub-front", h->front_tag, sizeof(h->front_tag));
	if (rc)
		return rc;
	rc = hc_store_open(h->db_path, HC_STORE_RO, &h->store, err, errsz);
	if (rc) {
		/* first process of a fresh install: create and migrate, then
		 * keep only a read-only handle */
		struct hc_store *rw = NULL;
		rc = hc_store_open(h->db_path, HC_STORE_RW, &rw, err, errsz);
		hc_store_close(rw);
		if (!rc)
			rc = hc_store_open(h->db_path, HC_STORE_RO, &h->store, err, errsz);
		if (rc)
			return rc;
	}
	/* the loop's store (session cookies): a PostgreSQL server that went
	 * away never holds the loop for a whole connect attempt */
	hc_store_set_connect_wait(h->store, HC_STORE_LOOP_WAIT_MS);
	rc = hc_acl_dir_load(h->store, &h->dir, err, errsz);
	if (rc)
		return rc;
	rc = hc_follow_start(h->db_path, h->dir->seq, (int)hc_cfg_int(&h->cfg, HC_CFG_REFRESH_MS),
		wake_loop, h->lws, &h->follow, err, errsz);
	if (!rc) {
		/* writers wait for us to apply their changes (hc_sync.h) */
		char dir[4200];
		rc = hc_config_sync_dir(&h->cfg, dir, sizeof(dir));
		if (!rc)
			rc = hc_follow_listen(h->follow, dir, "gateway", err, errsz);
	}
	return rc;
}

static void read_settings(struct hbr *h)
{
	h->max_payload = hc_cfg_int(&h->cfg, HC_CFG_SIO_MAX_PAYLOAD);
	h->ping_interval = hc_cfg_int(&h->cfg, HC_CFG_SIO_PING_INTERVAL);
	h->ping_timeout = hc_cfg_int(&h->cfg, HC_CFG_SIO_PING_TIMEOUT);
	h->event_rate = hc_cfg_int(&h->cfg, HC_CFG_SIO_EVENT_RATE);
	h->max_sockets = hc_cfg_int(&h->cfg, HC_CFG_SIO_MAX_SOCKETS);
	h->pending_max = hc_cfg_int(&h->cfg, HC_CFG_SIO_PENDING_MAX);
	h->pending_per_addr = hc_cfg_int(&h->cfg, HC_CFG_SIO_PENDING_PER_ADDR);
	h->connect_timeout_ms = hc_cfg_int(&h->cfg, HC_CFG_SIO_CONNECT_TIMEOUT);
	h->trust_proxy = hc_cfg_bool(&h->cfg, HC_CFG_TRUST_PROXY);
	snprintf(h->sid_tag, sizeof(h->sid_tag), "%s", hc_cfg_str(&h->cfg, HC_CFG_SIO_SID_TAG));
	for (const char *p = h->sid_tag; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')) {
			hc_err("msg=\"bad configuration\" err=\"sio_sid_tag: only A-Za-z0-9_-\"");
			exit(1);
		}
	hc_proxies_from_cfg(&h->cfg, &h->proxies);
	/* a client that reads nothing is dropped past this much queued */
	h->outq_bytes_max = (size_t)h->max_payload * 4;
	if (h->outq_bytes_max < ((size_t)4 << 20))
		h->outq_bytes_max = (size_t)4 << 20;
	h->rec_ms = hc_cfg_int(&h->cfg, HC_CFG_SIO_RECOVERY_S) * 1000;
	h->rec_max_events = hc_cfg_int(&h->cfg, HC_CFG_SIO_RECOVERY_MAX_EVENTS);
	h->rec_max_bytes = (size_t)hc_cfg_int(&h->cfg, HC_CFG_SIO_RECOVERY_MAX_BYTES);
	h->call_timeout_ms = hc_cfg_int(&h->cfg, HC_CFG_CALL_TIMEOUT_MS);
	h->calls_per_socket = hc_cfg_int(&h->cfg, HC_CFG_SIO_CALLS_PER_SOCKET);
	h->calls_max = hc_cfg_int(&h->cfg, HC_CFG_SIO_CALLS_MAX);
}

int main(int argc, char **argv)
{
	static struct hbr h;
	const char *config = NULL;
	char err[1024];
	struct sigaction sa;
	int rc, level, status = EXIT_FAILURE;

	rc = parse_args(argc, argv, &config);
	if (rc >= 0)
		return rc;
	hc_proc_no_huge_pages();
	hc_hmap_init(&h.socks);
	hc_hmap_init(&h.serials);
	hc_hmap_init(&h.users);
	hc_hmap_init(&h.rooms);
	hc_hmap_init(&h.pids);
	hc_hmap_init(&h.pending_addrs);
	hc_hmap_init(&h.waits);
	hc_hmap_init(&h.wait_mids);
	hc_hmap_init(&h.fresh);
	if (hc_config_load(&h.cfg, config, err, sizeof(err))) {
		fprintf(stderr, "hub-bridge: %s\n", err);
		hc_config_free(&h.cfg);
		return EXIT_USAGE;
	}
	level = hc_log_level_parse(hc_cfg_str(&h.cfg, HC_CFG_LOG_LEVEL));
	hc_log_init("hub-bridge", level < 0 ? HC_LOG_INFO : level, NULL);
	hc_log_limits_set((unsigned)hc_cfg_int(&h.cfg, HC_CFG_LOG_REFUSAL_LINES),
		(unsigned)hc_cfg_int(&h.cfg, HC_CFG_LOG_REFUSAL_INTERVAL));
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_sink);
	read_settings(&h);
	/* tls_cert and tls_key, checked before anything listens: a bad one
	 * stops the gateway (status 2), never a start without TLS; so does
	 * the test identity anywhere but on loopback */
	if (hbr_auth__test_check(&h, err, sizeof(err)) ||
		hc_tls_load(&h.cfg, &h.tls, err, sizeof(err))) {
		fprintf(stderr, "hub-bridge: %s\n", err);
		hc_config_free(&h.cfg);
		return EXIT_USAGE;
	}
	if (h.tls) {
		char what[512];
		bool expired;
		hc_tls_describe(h.tls, what, sizeof(what), &expired);
		hc_info("msg=tls cert=%s %s", hc_cfg_str(&h.cfg, HC_CFG_TLS_CERT), what);
		if (expired)
			hc_warn("msg=\"the TLS certificate has expired: clients will refuse "
				"it\" cert=%s",
				hc_cfg_str(&h.cfg, HC_CFG_TLS_CERT));
	}
	raise_fd_limit();
	/* from now on a stop signal ends the process in order, even one that
	 * arrives while starting up (the port and the sync socket are open
	 * before the loop runs) */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* SIGHUP reloads the certificate (it used to end the gateway) */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (hc_data_dir_prepare(&h.cfg, err, sizeof(err))) {
		hc_err("msg=\"cannot prepare data directory\" err=\"%s\"", err);
		goto cleanup;
	}
#ifdef HBR_WITH_LIBEV
	/* epoll through libev; lws drives its sockets and timers in it */
	loop_ev = ev_loop_new(EVFLAG_AUTO);
	h.lws = loop_ev ? hbr_server__create(&h, loop_ev) : NULL;
#else
	h.lws = hbr_server__create(&h, NULL);
#endif
	if (!h.lws) {
		hc_err("msg=\"cannot listen\" address=%s port=%lld",
			hc_cfg_str(&h.cfg, HC_CFG_BIND_ADDRESS),
			(long long)hc_cfg_int(&h.cfg, HC_CFG_SIO_PORT));
		goto cleanup;
	}
	if (hc_drop_privileges(&h.cfg, err, sizeof(err))) {
		hc_err("msg=\"cannot drop privileges\" err=\"%s\"", err);
		goto cleanup;
	}
	if (open_state(&h, err, sizeof(err)) || hbr_auth__test_init(&h, err, sizeof(err))) {
		hc_err("msg=\"cannot start\" err=\"%s\"", err);
		goto cleanup;
	}
	hbr_server__load_client_js(&h);
#ifdef HBR_WITH_LIBEV
	h.ev_loop = loop_ev;
	ev_prepare_init(&flush_ev, on_prepare);
	flush_ev.data = &h;
	ev_prepare_start(loop_ev, &flush_ev);
#endif
	if (hbr_mqtt__start(&h, err, sizeof(err))) {
		hc_err("msg=\"cannot start the broker link\" err=\"%s\"", err);
		goto cleanup;
	}

	signal_ctx = h.lws; /* a signal taken while starting is seen by the first tick */

	lws_sul_schedule(h.lws, 0, &h.sul_sweep, sweep_cb, HBR_TICK_MS * LWS_US_PER_MS);
	hc_info("msg=listening address=%s port=%lld tls=%s path=%s max_payload=%lld ping=%lld/%lld "
		"event_rate=%lld max_sockets=%lld pending_max=%lld pending_per_addr=%lld "
		"connect_timeout_ms=%lld recovery_s=%lld recovery_max=%lld/%zu "
		"principals=%zu rooms=%zu",
		hc_cfg_str(&h.cfg, HC_CFG_BIND_ADDRESS),
		(long long)hc_cfg_int(&h.cfg, HC_CFG_SIO_PORT), h.tls ? "on" : "off", HBR_PATH,
		(long long)h.max_payload, (long long)h.ping_interval, (long long)h.ping_timeout,
		(long long)h.event_rate, (long long)h.max_sockets, (long long)h.pending_max,
		(long long)h.pending_per_addr, (long long)h.connect_timeout_ms,
		(long long)(h.rec_ms / 1000), (long long)h.rec_max_events, h.rec_max_bytes,
		h.dir->principals.count, h.dir->rooms.count);
#ifdef HBR_WITH_LIBEV
	ev_run(loop_ev, 0);
#else
	while (!done) {
		if (lws_service(h.lws, 0) < 0) {
			hc_err("msg=\"service loop failed\"");
			break;
		}
	}
#endif
	status = got_signal ? EXIT_SUCCESS : EXIT_FAILURE;
	hc_info("msg=stopped connects_ok=%llu connects_denied=%llu events_in=%llu "
		"events_out=%llu dropped_slow=%llu pending_refused=%llu pending_evicted=%llu "
		"pending_expired=%llu full_refused=%llu rec_detached=%llu rec_recovered=%llu "
		"rec_refused=%llu rec_dropped=%llu rec_replayed=%llu broker_refused=%llu "
		"calls=%llu "
		"calls_answered=%llu calls_timeout=%llu calls_unavailable=%llu calls_busy=%llu "
		"hooked=%llu hooked_accepted=%llu hooked_refused=%llu answers_dropped=%llu",
		(unsigned long long)h.stats.connects_ok,
		(unsigned long long)h.stats.connects_denied, (unsigned long long)h.stats.events_in,
		(unsigned long long)h.stats.events_out, (unsigned long long)h.stats.dropped_slow,
		(unsigned long long)h.stats.pending_refused,
		(unsigned long long)h.stats.pending_evicted,
		(unsigned long long)h.stats.pending_expired,
		(unsigned long long)h.stats.full_refused, (unsigned long long)h.stats.rec_detached,
		(unsigned long long)h.stats.rec_recovered, (unsigned long long)h.stats.rec_refused,
		(unsigned long long)h.stats.rec_dropped, (unsigned long long)h.stats.rec_replayed,
		(unsigned long long)h.stats.broker_refused, (unsigned long long)h.stats.calls,
		(unsigned long long)h.stats.calls_answered,
		(unsigned long long)h.stats.calls_timeout,
		(unsigned long long)h.stats.calls_unavailable,
		(unsigned long long)h.stats.calls_busy, (unsigned long long)h.stats.hooked,
		(unsigned long long)h.stats.hooked_accepted,
		(unsigned long long)h.stats.hooked_refused,
		(unsigned long long)h.stats.answers_dropped);

cleanup:
	signal_ctx = NULL;
	free_all(&h);
	hbr_recovery__free_all(&h);
	hbr_server__free_client_js(&h);
	hbr_mqtt__stop(&h);
	hc_follow_stop(h.follow);
	hc_log_limits_flush(true);
	if (h.lws) {
		lws_sul_cancel(&h.sul_sweep);
		lws_sul_cancel(&h.sul_hb);
		lws_context_destroy(h.lws);
	}
#ifdef HBR_WITH_LIBEV
	if (loop_ev) {
		if (h.ev_loop)
			ev_prepare_stop(loop_ev, &flush_ev);
		ev_run(loop_ev, EVRUN_NOWAIT); /* lets lws's last watchers go */
		ev_loop_destroy(loop_ev);
	}
#endif
	hbr_rooms__free(&h);
	hbr_calls__free(&h);
	hc_hmap_clear(&h.socks);
	hc_hmap_clear(&h.serials);
	hc_hmap_clear(&h.users);
	hc_hmap_clear(&h.pending_addrs);
	hc_hmap_clear(&h.pids);
	free(h.flushq);
	hc_acl_dir_free(h.dir);
	hc_token_key_free(h.key);
	hc_store_close(h.store);
	hc_tls_free(h.tls);
	hc_config_free(&h.cfg);
	return status;
}
