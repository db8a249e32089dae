/* SPDX-License-Identifier: MIT */
/*
 * hub-tracker: simulated vehicles publishing OwnTracks locations to the
 * hub's broker. main() puts the pieces together: options, the hub config
 * (broker address), credentials, routes, the file-descriptor limit, then
 * the fleet loop. Usage and exit statuses: opts.c, docs/devices.md.
 */
#include "creds.h"
#include "fleet.h"
#include "opts.h"
#include "route.h"
#include "tls.h"

#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <errno.h>
#include <mosquitto.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

/* One socket per vehicle plus a few for the process itself. */
static void raise_fd_limit(size_t vehicles)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)vehicles + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= want ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		hc_warn("msg=\"cannot raise the open-file limit\" error=\"%s\"", strerror(errno));
	if (rl.rlim_cur < want)
		hc_warn("msg=\"open-file limit %llu is below %zu vehicles + 64; some will fail to "
			"connect (raise the hard limit: ulimit -Hn)\"",
			(unsigned long long)rl.rlim_cur, vehicles);
}

/* Resolve a host name once, so connection attempts never block on DNS. */
static int resolve(const char *host, char *out, size_t n)
{
	struct addrinfo hints = {0}, *res = NULL;
	int rc;

	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	if (getaddrinfo(host, NULL, &hints, &res) == 0) {
		freeaddrinfo(res);
		snprintf(out, n, "%s", host);
		return 0;
	}
	hints.ai_flags = 0;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc) {
		hc_err("msg=\"cannot resolve the broker host\" host=%s error=\"%s\"", host,
			gai_strerror(rc));
		return -1;
	}
	rc = getnameinfo(res->ai_addr, res->ai_addrlen, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(res);
	if (rc) {
		hc_err("msg=\"cannot resolve the broker host\" host=%s error=\"%s\"", host,
			gai_strerror(rc));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct trk_opts o;
	struct hc_config cfg = {0};
	struct trk_creds creds;
	struct trk_routes routes = {0};
	struct trk_fleet fleet;
	char err[512], safe[600], path[4200], host[256];
	int rc, code = TRK_EXIT_FAIL, level, port;
	void *tls_ctx = NULL;
	bool fleet_up = false, lib_up = false;

	trk_creds__init(&creds);
	hc_log_init("hub-tracker", HC_LOG_INFO, NULL);
	rc = trk_opts__parse(&o, argc, argv);
	if (rc >= 0)
		return rc;
	if (hc_config_load(&cfg, o.config, err, sizeof(err))) {
		fprintf(stderr, "hub-tracker: %s\n", err);
		code = TRK_EXIT_USAGE;
		goto cleanup;
	}
	level = o.log_level >= 0 ? o.log_level
				 : hc_log_level_parse(hc_cfg_str(&cfg, HC_CFG_LOG_LEVEL));
	o.log_level = level >= 0 ? level : HC_LOG_INFO; /* resolved: the fleet's sink uses it */
	hc_log_set_level(o.log_level);

	/* credentials */
	if (o.device) {
		rc = trk_creds__add(&creds, o.device, o.secret, err, sizeof(err));
		/* keep the secret out of /proc/<pid>/cmdline from now on */
		if (o.secret_arg)
			memset(o.secret_arg, 'x', strlen(o.secret_arg));
	} else if (o.devices_file) {
		rc = trk_creds__load_file(&creds, o.devices_file, err, sizeof(err));
	} else {
		if (hc_fmt(path, sizeof(path), "%s/demo-devices.txt",
			    hc_cfg_str(&cfg, HC_CFG_DATA_DIR))) {
			snprintf(err, sizeof(err), "data_dir too long");
			rc = HUB_ERR_TOOBIG;
		} else {
			rc = trk_creds__load_file(&creds, path, err, sizeof(err));
			if (rc == HUB_ERR_IO)
				snprintf(err + strlen(err), sizeof(err) - strlen(err),
					" (the hub writes it on its first start with demo_data "
					"on)");
		}
	}
	if (rc) {
		hc_err("msg=\"bad credentials\" error=\"%s\"",
			hc_log_safe(err, safe, sizeof(safe)));
		code = TRK_EXIT_USAGE;
		goto cleanup;
	}

	/* routes */
	rc = o.route_file ? trk_routes__load_file(o.route_file, &routes, err, sizeof(err))
			  : trk_routes__load_demo(&routes, err, sizeof(err));
	if (rc) {
		hc_err("msg=\"bad route file\" error=\"%s\"", hc_log_safe(err, safe, sizeof(safe)));
		code = o.route_file ? TRK_EXIT_USAGE : TRK_EXIT_FAIL;
		goto cleanup;
	}

	/* broker */
	port = o.port ? o.port
		      : (int)hc_cfg_int(&cfg, o.tls ? HC_CFG_MQTTS_PORT : HC_CFG_MQTT_PORT);
	if (resolve(o.host ? o.host : hc_cfg_str(&cfg, HC_CFG_MQTT_HOST), host, sizeof(host))) {
		code = TRK_EXIT_FAIL;
		goto cleanup;
	}
	if (o.tls) {
		/* verified against --cafile, else tls_ca, else the system's
		 * CAs; the certificate must name the host as given */
		const char *ca = o.cafile ? o.cafile
				 : *hc_cfg_str(&cfg, HC_CFG_TLS_CA)
					 ? hc_cfg_str(&cfg, HC_CFG_TLS_CA)
					 : NULL;
		tls_ctx = trk_tls__ctx(
			ca, o.host ? o.host : hc_cfg_str(&cfg, HC_CFG_MQTT_HOST), err, sizeof(err));
		if (!tls_ctx) {
			hc_err("msg=\"cannot set up TLS\" error=\"%s\"",
				hc_log_safe(err, safe, sizeof(safe)));
			code = TRK_EXIT_USAGE;
			goto cleanup;
		}
	}

	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit(creds.n);
	if (mosquitto_lib_init() != MOSQ_ERR_SUCCESS) {
		hc_err("msg=\"libmosquitto init failed\"");
		goto cleanup;
	}
	lib_up = true;
	rc = trk_fleet__init(&fleet, &o, host, port, &creds, &routes, err, sizeof(err));
	fleet_up = true;
	fleet.tls_ctx = tls_ctx;
	if (rc) {
		hc_err("msg=\"cannot set up the vehicles\" error=\"%s\"",
			hc_log_safe(err, safe, sizeof(safe)));
		goto cleanup;
	}
	code = trk_fleet__run(&fleet);

cleanup:
	if (fleet_up)
		trk_fleet__free(&fleet);
	/* each client held a reference of its own */
	trk_tls__free(tls_ctx);
	if (lib_up)
		mosquitto_lib_cleanup();
	trk_routes__free(&routes);
	trk_creds__free(&creds);
	hc_config_free(&cfg);
	return code;
}
