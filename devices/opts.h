/* SPDX-License-Identifier: MIT */
/*
 * hub-tracker's command line. Precedence (STYLE.md): defaults, the hub
 * config file, HUB_* environment, then these flags (--host/--port override
 * mqtt_host/mqtt_port).
 */
#ifndef TRK_OPTS_H
#define TRK_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "hc_names.h"

enum trk_will { TRK_WILL_STATUS = 0, TRK_WILL_OWNTRACKS, TRK_WILL_NONE };

struct trk_opts {
	/* credentials: exactly one of device, devices_file, demo */
	const char *device, *secret, *devices_file; /* borrowed from argv/env */
	char *secret_arg; /* the --secret argument itself, wiped once copied */
	bool demo;
	/* routes and motion */
	const char *route_file;
	double rate;		    /* fixes per second per vehicle */
	char name[HC_NAME_MAX + 1]; /* owntracks/{device}/{name} */
	uint64_t seed;
	bool seed_set;
	long buffer;   /* fixes kept per vehicle */
	long inflight; /* unacknowledged publishes per vehicle */
	bool retain;
	/* broker */
	const char *config, *host;
	int port;	    /* 0: from the config (mqtt_port, with TLS mqtts_port) */
	bool tls;	    /* MQTT over TLS (--tls, --cafile) */
	const char *cafile; /* CA file for TLS; NULL: tls_ca, else the system's */
	int protocol;	    /* MQTT_PROTOCOL_V31 / V311 / V5 */
	int keepalive;
	enum trk_will will;
	long connect_rate; /* new connections per second */
	int64_t backoff_min_ms, backoff_max_ms, connect_timeout_ms;
	/* running */
	bool once, bench;
	double duration;     /* seconds; 0: until a signal */
	int status_interval; /* seconds between status log lines; 0: none */
	int log_level;	     /* -1: from the config (main resolves it) */
};

/* Exit statuses (documented in docs/devices.md). */
enum {
	TRK_EXIT_OK = 0,      /* clean shutdown (signal, --duration, --once done) */
	TRK_EXIT_FAIL = 1,    /* runtime failure (--once unfinished, out of memory...) */
	TRK_EXIT_USAGE = 2,   /* bad command line, config, devices or route file */
	TRK_EXIT_REFUSED = 3, /* every device was refused by the broker at start */
};

/* Parse argv into o (defaults first). Returns -1 to go on, or an exit
 * status: TRK_EXIT_OK after --help/--version, TRK_EXIT_USAGE with a message
 * on stderr. */
int trk_opts__parse(struct trk_opts *o, int argc, char **argv);

#endif
