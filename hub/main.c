/* SPDX-License-Identifier: MIT */
/*
 * hubd: the hub's login and session HTTP service. Start-up order matters:
 * config; data directory; privilege drop; then everything that creates
 * files (store, token key, demo data) so they belong to the service
 * account; then the listening socket, so the port opens on a ready hubd
 * (a privileged port bound as root opens before the drop). Then one lws
 * service loop until SIGTERM/SIGINT, and a bounded graceful stop.
 */
#include "workpool.h"
#include "front.h"
#include "sioproxy.h"
#include "hc_config.h"
#include "hc_demo.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_proc.h"
#include "hc_store.h"
#include "hc_token.h"
#include "hc_tls.h"
#include "hc_util.h"
#include "http.h"
#include "hub.h"
#include "mqtt.h"
#include "syncwait.h"
#include "purge.h"
#include "webhook.h"
#include "ratelimit.h"

#include <errno.h>
#ifdef HUB_WITH_LIBEV
#include <ev.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#ifndef HUB_VERSION
#define HUB_VERSION "0.0.0"
#endif

#define EXIT_USAGE	2
#define STOP_GRACE_MS	5000 /* in-flight requests get this long after SIGTERM */
#define STOP_TICK_US	(100 * LWS_US_PER_MS)
#define FD_LIMIT	4096 /* descriptors besides the front's two per relayed connection */
#define HEADER_POOL_MAX 1024
#define HASH_NICE	10 /* hashing yields the CPU to the service thread */
#define READS_PER_USER	4  /* history reads one user may have waiting */

static const char usage_text[] =
	"usage: hubd [--config FILE] [--help] [--version]\n"
	"\n"
	"The hub's login and session HTTP service (see docs/hubd.md).\n"
	"\n"
	"  --config FILE  configuration file (else $HUB_CONFIG, else conf/hub.conf);\n"
	"                 HUB_<SETTING> environment variables override it\n"
	"  -h, --help     this text\n"
	"  --version      print the version\n"
	"\n"
	"Settings read: bind_address http_port ws_port wss_port mqtt_host mqtt_port\n"
	"  sio_port tls_cert tls_key trusted_proxies\n"
	"  data_dir run_as log_level web_dir app_dir app_csp front_conns_max\n"
	"  front_conns_per_address\n"
	"  session_ttl token_ttl token_alg key_file cookie_secure trusted_origins\n"
	"  trust_proxy http_max_body http_max_headers hash_workers login_queue_max\n"
	"  login_fail_window login_fail_pair_max login_fail_addr_max\n"
	"  login_fail_user_max scrypt_log2n scrypt_r scrypt_p demo_data\n"
	"  log_refusal_lines log_refusal_interval login_queue_per_addr\n"
	"  history_event_max history_page_bytes history_reads_max\n";

static volatile sig_atomic_t got_signal;
static struct lws_context *signal_ctx;
static bool done;	      /* the loop is to end */
static int64_t stop_deadline; /* while stopping: when in-flight requests are given up */
#ifdef HUB_WITH_LIBEV
/* epoll through libev: lws 4.1's own loop polls every descriptor on every
 * pass, O(connections) per event once the front holds thousands */
static struct ev_loop *loop_ev;
#endif

/* who sent the stop signal (an operator reads it in the log) */
static volatile pid_t signal_from;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	signal_from = si ? si->si_pid : 0;
	got_signal = sig;
	/* wakes lws_service(); only writes to lws's event pipe */
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

static struct hc_log_limit lim_lws = HC_LOG_LIMIT("lws");

static void lws_log_sink(int level, const char *line)
{
	size_t n = strlen(line);
	char text[512], safe[1024];

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	snprintf(text, sizeof(text), "%.*s", (int)n, line);
	/* lws errors are mostly about bad clients: a warning, not an error,
	 * and rate-limited like every refusal of unauthenticated input */
	hc_log_limited(&lim_lws, HC_LOG_WARN, "msg=lws level=%d text=\"%s\"", level,
		hc_log_safe(text, safe, sizeof(safe)));
}

/* Once a second: the summaries of rate-limited log lines (hc_log.h). */
static void log_tick(lws_sorted_usec_list_t *sul)
{
	struct hub *h = lws_container_of(sul, struct hub, sul_log);
	hc_log_limits_flush(false);
	lws_sul_schedule(h->lws, 0, &h->sul_log, log_tick, LWS_US_PER_SEC);
}

static void stop_tick(lws_sorted_usec_list_t *sul)
{
	hub_main_wakeup(lws_container_of(sul, struct hub, sul_tick));
}

static int parse_args(int argc, char **argv, const char **config)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("hubd %s (libwebsockets %s)\n", HUB_VERSION,
				lws_get_library_version());
			return 0;
		} else if (!strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "hubd: --config needs a file\n%s", usage_text);
				return EXIT_USAGE;
			}
			*config = argv[++i];
		} else if (!strncmp(argv[i], "--config=", 9)) {
			*config = argv[i] + 9;
		} else {
			fprintf(stderr, "hubd: unknown argument '%.60s'\n%s", argv[i], usage_text);
			return EXIT_USAGE;
		}
	}
	return -1;
}

/* The http_port vhost: hubd's own routes (the default protocol), the
 * WebSocket front's MQTT protocols and its broker connections, the
 * Socket.IO proxy's two sides. */
static const struct lws_protocols http_vhost_protocols[] = {
	HUB_HTTP_PROTOCOL,
	HUB_FRONT_PROTOCOLS,
	HUB_SIO_PROTOCOLS,
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* The ws_port vhost (wss_port with TLS): MQTT over WebSocket on any path. */
static const struct lws_protocols ws_vhost_protocols[] = {
	HUB_FRONT_PROTOCOLS,
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

/* As many descriptors as the hard limit allows: the front holds two per
 * relayed browser connection. */
static unsigned int raise_fd_limit(const struct hub *h)
{
	struct rlimit rl;
	uint64_t want = (uint64_t)hc_cfg_int(&h->cfg, HC_CFG_FRONT_CONNS_MAX) * 2 + FD_LIMIT;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		rl.rlim_cur < want)
		want = rl.rlim_cur;
	return (unsigned int)(want > UINT32_MAX ? UINT32_MAX : want);
}

static struct lws_context *create_context(struct hub *h)
{
#ifdef HUB_WITH_LIBEV
	void *loops[1];
#endif
	/* no lws "validity" pings: MQTT has its own keepalive (the broker's),
	 * and lws 4.1 re-files a connection's validity timer in a sorted list
	 * of every connection on each frame and read */
	static const lws_retry_bo_t no_validity = {
		.secs_since_valid_ping = 0, .secs_since_valid_hangup = 0};
	struct lws_context_creation_info info;
	struct lws_context *ctx;
	const char *bind = hc_cfg_str(&h->cfg, HC_CFG_BIND_ADDRESS);

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	if (h->tls) {
		/* both vhosts TLS: lws makes each one's SSL_CTX, and the
		 * protocols' first callback fills it with the certificate
		 * loaded at start (LOAD_EXTRA_SERVER_VERIFY_CERTS,
		 * hub_main_tls_ctx); no file is read after the privilege drop */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
				LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
		/* hubd's own connections to hub-bridge (sioproxy.c) trust the
		 * very certificate both serve, nothing else */
		info.provided_client_ssl_ctx = h->tls_client_ctx;
		/* HTTP/1.1 as in clear text: lws would offer h2 by ALPN, a
		 * second HTTP implementation under every route and relay */
		info.alpn = "http/1.1";
	}
	if (!strchr(bind, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	info.user = h;
	info.uid = -1; /* privileges are dropped by hc_drop_privileges */
	info.gid = -1;
	info.server_string = "hubd";
	info.max_http_header_data = (unsigned short)hc_cfg_int(&h->cfg, HC_CFG_HTTP_MAX_HEADERS);
	/* header tables are allocated on demand; logins waiting for a hash
	 * hold one each, so the pool must not be what makes /healthz wait */
	info.max_http_header_pool = HEADER_POOL_MAX;
	info.fd_limit_per_thread = raise_fd_limit(h);
	info.timeout_secs = 10;
	info.keepalive_timeout = 15;
	info.retry_and_idle_policy = &no_validity;
#ifdef HUB_WITH_LIBEV
	if (!loop_ev)
		loop_ev = ev_loop_new(EVFLAG_AUTO);
	if (!loop_ev)
		return NULL;
	loops[0] = loop_ev;
	info.options |= LWS_SERVER_OPTION_LIBEV;
	info.foreign_loops = loops;
#endif
	ctx = lws_create_context(&info);
	if (!ctx)
		return NULL;
	/* both listeners on bind_address only */
	info.iface = bind;
	info.port = (int)hc_cfg_int(&h->cfg, HC_CFG_HTTP_PORT);
	info.protocols = http_vhost_protocols;
	info.vhost_name = "http";
	h->vh_http = lws_create_vhost(ctx, &info);
	/* with TLS, MQTT over WebSocket has its own port for TLS (wss_port)
	 * and the clear-text ws_port is not opened */
	info.port = (int)hc_cfg_int(&h->cfg, h->tls ? HC_CFG_WSS_PORT : HC_CFG_WS_PORT);
	info.protocols = ws_vhost_protocols;
	info.vhost_name = h->tls ? "mqtt-wss" : "mqtt-ws";
	h->vh_ws = h->vh_http ? lws_create_vhost(ctx, &info) : NULL;
	if (!h->vh_http || !h->vh_ws) {
		lws_context_destroy(ctx);
		h->vh_http = h->vh_ws = NULL;
		return NULL;
	}
	return ctx;
}

/* Whether the ports must be bound before the privilege drop: started as
 * root, with a run_as account, on a port below 1024. */
static bool early_bind_needed(const struct hc_config *cfg)
{
	return geteuid() == 0 && *hc_cfg_str(cfg, HC_CFG_RUN_AS) &&
	       (hc_cfg_int(cfg, HC_CFG_HTTP_PORT) < 1024 ||
		       hc_cfg_int(cfg, HC_CFG_WS_PORT) < 1024 ||
		       hc_cfg_int(cfg, HC_CFG_WSS_PORT) < 1024);
}

int hub_main_tls_ctx(struct hub *h, void *ssl_ctx)
{
	/* kept for a reload (SIGHUP): one per vhost (two) */
	return h && h->tls ? hc_tls_serve(h->tls, ssl_ctx, &h->tls_served) : -1;
}

/* tls_cert and tls_key, read and checked before anything else (and before
 * the privilege drop: a key only root reads serves too). A bad one stops
 * hubd with exit status 2, never a start without TLS. */
static int load_tls(struct hub *h)
{
	char err[1024], what[512];
	bool expired;

	if (hc_tls_load(&h->cfg, &h->tls, err, sizeof(err))) {
		fprintf(stderr, "hubd: %s\n", err);
		return EXIT_USAGE;
	}
	if (!h->tls)
		return 0;
	h->tls_client_ctx = hc_tls_pinned_client_ctx(h->tls);
	if (!h->tls_client_ctx) {
		fprintf(stderr, "hubd: cannot make the TLS client context for hub-bridge\n");
		return EXIT_FAILURE;
	}
	hc_tls_describe(h->tls, what, sizeof(what), &expired);
	hc_info("msg=tls cert=%s %s", hc_cfg_str(&h->cfg, HC_CFG_TLS_CERT), what);
	if (expired)
		hc_warn("msg=\"the TLS certificate has expired: clients will refuse it\" cert=%s",
			hc_cfg_str(&h->cfg, HC_CFG_TLS_CERT));
	return 0;
}

static int open_state(struct hub *h, char *err, size_t errsz)
{
	char key_path[HUB_PATH_MAX];
	int rc, created = 0;

	rc = hc_store_open(h->db_path, HC_STORE_RW, &h->store, err, errsz);
	if (rc)
		return rc;
	/* the loop's own store: a PostgreSQL server that went away never
	 * holds the loop for a whole connect attempt */
	hc_store_set_connect_wait(h->store, HC_STORE_LOOP_WAIT_MS);
	if (hc_config_key_path(&h->cfg, key_path, sizeof(key_path))) {
		snprintf(err, errsz, "key_file path too long");
		return HUB_ERR_CONFIG;
	}
	rc = hc_token_key_load(
		key_path, hc_cfg_str(&h->cfg, HC_CFG_TOKEN_ALG), 1, &h->key, err, errsz);
	if (rc)
		return rc;
	if (hc_cfg_bool(&h->cfg, HC_CFG_DEMO_DATA)) {
		rc = hc_demo_seed(h->store, &h->cfg, &created, err, errsz);
		if (rc)
			return rc;
		if (created)
			hc_info("msg=\"demo data created\" user=%s login_file=%s/demo-login.txt",
				HC_DEMO_USER, hc_cfg_str(&h->cfg, HC_CFG_DATA_DIR));
	}
	return HUB_OK;
}

void hub_main_wakeup(struct hub *h)
{
	if (done)
		return;
	if (got_hup) {
		got_hup = 0;
		/* a renewed certificate (an ACME client's deploy hook, systemctl
		 * reload hubd) for new connections; live ones keep theirs */
		hc_tls_sighup(&h->cfg, &h->tls, &h->tls_served, h->tls_client_ctx);
	}
	if (got_signal && !h->stopping) {
		h->stopping = true;
		hc_info("msg=stopping signal=%d from_pid=%ld in_flight=%d", (int)got_signal,
			(long)signal_from, h->active);
		/* from here new connections are refused in the http callback
		 * (LWS_CALLBACK_FILTER_NETWORK_CONNECTION); lws_context_deprecate()
		 * would close the listener but touches the freed listen wsi in
		 * lws 4.1.6 */
		/* waiting logins come back cancelled (503), running ones finish;
		 * both are answered below */
		hub_workpool_stop(h->pool);
		hub_workpool_collect(h->pool, h);
		hub_workpool_stop(h->readers);
		hub_workpool_collect(h->readers, h);
		/* parked Socket.IO polls would hold the stop to its grace */
		hub_sio_stop(h);
		stop_deadline = hc_mono_ms() + STOP_GRACE_MS;
	}
	if (!h->stopping)
		return;
	if (h->active <= 0 || hc_mono_ms() >= stop_deadline) {
		done = true;
#ifdef HUB_WITH_LIBEV
		ev_break(loop_ev, EVBREAK_ALL);
#endif
		return;
	}
	lws_sul_schedule(h->lws, 0, &h->sul_tick, stop_tick, STOP_TICK_US);
}

/* Serve until a stop signal, then give in-flight requests a bounded time
 * (hub_main_wakeup: after every wake-up of the loop, and on a timer while
 * stopping). */
static void run(struct hub *h)
{
	hub_main_wakeup(h); /* a signal taken while starting */
#ifdef HUB_WITH_LIBEV
	if (!done)
		ev_run(loop_ev, 0);
#else
	while (!done) {
		if (lws_service(h->lws, 0) < 0) {
			hc_err("msg=\"service loop failed\"");
			break;
		}
		hub_main_wakeup(h);
	}
#endif
	if (h->active > 0)
		hc_warn("msg=\"stopping with requests unfinished\" in_flight=%d", h->active);
}

int main(int argc, char **argv)
{
	struct hub h;
	const char *config = NULL;
	char err[1024];
	struct sigaction sa;
	int rc, level, status = EXIT_FAILURE;

	rc = parse_args(argc, argv, &config);
	if (rc >= 0)
		return rc;
	hc_proc_no_huge_pages();
	memset(&h, 0, sizeof(h));
	hc_hmap_init(&h.waiting);
	if (hc_config_load(&h.cfg, config, err, sizeof(err))) {
		fprintf(stderr, "hubd: %s\n", err);
		hc_config_free(&h.cfg);
		return EXIT_USAGE;
	}
	level = hc_log_level_parse(hc_cfg_str(&h.cfg, HC_CFG_LOG_LEVEL));
	hc_log_init("hubd", level < 0 ? HC_LOG_INFO : level, NULL);
	hc_log_limits_set((unsigned)hc_cfg_int(&h.cfg, HC_CFG_LOG_REFUSAL_LINES),
		(unsigned)hc_cfg_int(&h.cfg, HC_CFG_LOG_REFUSAL_INTERVAL));
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_sink);
	rc = load_tls(&h);
	if (rc) {
		hc_tls_free(h.tls);
		hc_tls_ctx_free(h.tls_client_ctx);
		hc_config_free(&h.cfg);
		return rc;
	}
	hc_proxies_from_cfg(&h.cfg, &h.proxy_list);
	h.proxies = hc_cfg_bool(&h.cfg, HC_CFG_TRUST_PROXY) ? &h.proxy_list : NULL;
	h.params.log2n = (int)hc_cfg_int(&h.cfg, HC_CFG_SCRYPT_LOG2N);
	h.params.r = (int)hc_cfg_int(&h.cfg, HC_CFG_SCRYPT_R);
	h.params.p = (int)hc_cfg_int(&h.cfg, HC_CFG_SCRYPT_P);
	hub_metrics_init(&h.metrics);
	/* libcurl (the webhook sender) is set up before any thread exists */
	if (hub_webhooks_global_init()) {
		fprintf(stderr, "hubd: cannot initialise libcurl\n");
		hc_config_free(&h.cfg);
		return EXIT_FAILURE;
	}
	if (hc_config_db_path(&h.cfg, h.db_path, sizeof(h.db_path))) {
		fprintf(stderr, "hubd: data_dir path too long\n");
		goto cleanup;
	}
	if (!realpath(hc_cfg_str(&h.cfg, HC_CFG_WEB_DIR), h.web_root))
		h.web_root[0] = '\0';
	if (!*hc_cfg_str(&h.cfg, HC_CFG_APP_DIR) ||
		!realpath(hc_cfg_str(&h.cfg, HC_CFG_APP_DIR), h.app_root))
		h.app_root[0] = '\0';

	/* from now on a stop signal ends the process in order, even one that
	 * arrives while starting up */
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_signal;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* SIGHUP reloads the certificate (it used to end hubd) */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_hup;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (hc_data_dir_prepare(&h.cfg, err, sizeof(err))) {
		hc_err("msg=\"cannot prepare data directory\" err=\"%s\"", err);
		goto cleanup;
	}
	/* The port opens once the store and the demo data are ready, so a
	 * client (or a script waiting for the port, then writing with hubctl)
	 * never meets a half-started hubd. Only a privileged port bound as
	 * root must open first, before the privilege drop; requests then wait
	 * in the backlog, and the demo seed is one transaction either way. */
	if (early_bind_needed(&h.cfg)) {
		h.lws = create_context(&h);
		if (!h.lws)
			goto no_listen;
	}
	if (hc_drop_privileges(&h.cfg, err, sizeof(err))) {
		hc_err("msg=\"cannot drop privileges\" err=\"%s\"", err);
		goto cleanup;
	}
	rc = open_state(&h, err, sizeof(err));
	if (!rc)
		rc = hub_front_init(&h, err, sizeof(err));
	if (rc) {
		hc_err("msg=\"cannot start\" err=\"%s\"", err);
		goto cleanup;
	}
	if (!h.lws) {
		h.lws = create_context(&h);
		if (!h.lws)
			goto no_listen;
	}
	rc = hub_ratelimit_new(&h.cfg, &h.rl);
	if (!rc) {
		/* logins: fair per client address (fairq.h, ratelimit.h lanes) */
		struct hub_workpool_opts o = {
			.workers = (int)hc_cfg_int(&h.cfg, HC_CFG_HASH_WORKERS),
			.queue_max = (size_t)hc_cfg_int(&h.cfg, HC_CFG_LOGIN_QUEUE_MAX),
			.flow_max = (size_t)hc_cfg_int(&h.cfg, HC_CFG_LOGIN_QUEUE_PER_ADDR),
			.nice = HASH_NICE,
			.db_path = h.db_path,
			.wake = wake_loop,
			.wake_ud = h.lws,
		};
		rc = hub_workpool_new(&o, &h.pool);
	}
	if (!rc) {
		/* history reads: one thread, fair per user */
		struct hub_workpool_opts o = {
			.workers = 1,
			.queue_max = (size_t)hc_cfg_int(&h.cfg, HC_CFG_HISTORY_READS_MAX),
			.flow_max = READS_PER_USER,
			.db_path = h.db_path,
			.wake = wake_loop,
			.wake_ud = h.lws,
		};
		rc = hub_workpool_new(&o, &h.readers);
	}
	if (rc) {
		hc_err("msg=\"cannot start workers\" err=%s", hub_strerror(rc));
		goto cleanup;
	}

	if (hub_mqtt_start(&h, &h.mqtt)) {
		hc_err("msg=\"cannot start the broker link\"");
		goto cleanup;
	}
	if (hub_syncwait_start(&h, &h.syncwait)) {
		hc_err("msg=\"cannot start the change waiter\"");
		goto cleanup;
	}
	/* the store is ready: deliveries left pending by an earlier hubd
	 * (stopped or killed mid-try) go out again, with the same ids */
	if (hub_webhooks_start(h.db_path, &h.webhooks)) {
		hc_err("msg=\"cannot start the webhook sender\"");
		goto cleanup;
	}
	signal_ctx = h.lws;
	if (got_signal) /* arrived during start-up: stop right away */
		lws_cancel_service(h.lws);
	hub_purge_start(&h);
	lws_sul_schedule(h.lws, 0, &h.sul_log, log_tick, LWS_US_PER_SEC);
	hc_info("msg=listening address=%s port=%lld %s=%lld tls=%s workers=%d queue_max=%lld "
		"data_dir=%s web=%s app=%s",
		hc_cfg_str(&h.cfg, HC_CFG_BIND_ADDRESS),
		(long long)hc_cfg_int(&h.cfg, HC_CFG_HTTP_PORT), h.tls ? "wss_port" : "ws_port",
		(long long)hc_cfg_int(&h.cfg, h.tls ? HC_CFG_WSS_PORT : HC_CFG_WS_PORT),
		h.tls ? "on" : "off", hub_workpool_workers(h.pool),
		(long long)hc_cfg_int(&h.cfg, HC_CFG_LOGIN_QUEUE_MAX),
		hc_cfg_str(&h.cfg, HC_CFG_DATA_DIR), h.web_root[0] ? h.web_root : "(built-in page)",
		h.app_root[0] ? h.app_root : "-");
	run(&h);
	status = got_signal ? EXIT_SUCCESS : EXIT_FAILURE;
	hc_info("msg=stopped");
	goto cleanup;

no_listen:
	hc_err("msg=\"cannot listen\" address=%s port=%lld %s=%lld",
		hc_cfg_str(&h.cfg, HC_CFG_BIND_ADDRESS),
		(long long)hc_cfg_int(&h.cfg, HC_CFG_HTTP_PORT), h.tls ? "wss_port" : "ws_port",
		(long long)hc_cfg_int(&h.cfg, h.tls ? HC_CFG_WSS_PORT : HC_CFG_WS_PORT));

cleanup:
	hub_mqtt_stop(h.mqtt); /* before the lws context: it holds a timer there */
	h.mqtt = NULL;
	/* tries in flight are abandoned: their rows stay pending (same ids) */
	hub_webhooks_stop(h.webhooks);
	h.webhooks = NULL;
	if (h.lws) {
		hub_purge_stop(&h);
		lws_sul_cancel(&h.sul_tick);
		lws_sul_cancel(&h.sul_log);
		hc_log_limits_flush(true);
		if (!h.stopping) {
			if (h.pool) {
				hub_workpool_stop(h.pool);
				hub_workpool_collect(h.pool, &h);
			}
			if (h.readers) {
				hub_workpool_stop(h.readers);
				hub_workpool_collect(h.readers, &h);
			}
		}
		if (h.syncwait) {
			hub_syncwait_stop(h.syncwait);
			hub_syncwait_collect(h.syncwait, &h);
		}
		signal_ctx = NULL;
		lws_context_destroy(h.lws);
	}
#ifdef HUB_WITH_LIBEV
	if (loop_ev) {
		ev_run(loop_ev, EVRUN_NOWAIT); /* lets lws's last watchers go */
		ev_loop_destroy(loop_ev);
		loop_ev = NULL;
	}
#endif
	hub_syncwait_stop(h.syncwait);
	hub_syncwait_free(h.syncwait);
	if (h.pool) {
		hub_workpool_stop(h.pool);
		hub_workpool_free(h.pool, &h);
	}
	if (h.readers) {
		hub_workpool_stop(h.readers);
		hub_workpool_free(h.readers, &h);
	}
	hub_ratelimit_free(h.rl);
	hub_front_free(&h);
	hc_hmap_clear(&h.waiting);
	hc_token_key_free(h.key);
	hc_store_close(h.store);
	/* after the lws context: its client vhost used the pinned context */
	hc_tls_ctx_free(h.tls_client_ctx);
	hc_tls_free(h.tls);
	hc_config_free(&h.cfg);
	hub_webhooks_global_cleanup();
	return status;
}
