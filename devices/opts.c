/* SPDX-License-Identifier: MIT */
/* Command-line parsing for hub-tracker (getopt_long, checked numbers). */
#include "opts.h"

#include "hc_log.h"
#include "hc_util.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"usage: hub-tracker [OPTIONS] (--device ID | --devices FILE | --demo)\n"
	"\n"
	"Simulated vehicles publishing OwnTracks locations to the hub's broker,\n"
	"one MQTT connection per device, all driven from one thread.\n"
	"\n"
	"credentials (one vehicle per device):\n"
	"  --device ID          one vehicle, logging in as device ID\n"
	"  --secret SECRET      its secret (better: the environment variable\n"
	"                       HUB_TRACKER_SECRET, which ps does not show)\n"
	"  --devices FILE       one vehicle per line \"ID SECRET\" ('#' comments)\n"
	"  --demo               the demo devices from <data_dir>/demo-devices.txt\n"
	"routes and fixes:\n"
	"  --route FILE         drive the LineStrings of a GeoJSON file\n"
	"                       (default: the built-in demo routes)\n"
	"  --rate HZ            fixes per second per vehicle (default 1; 0.01-50)\n"
	"  --name NAME          topic owntracks/{device}/NAME (default \"tracker\")\n"
	"  --buffer N           fixes kept per vehicle while offline, oldest dropped\n"
	"                       first (default 1000)\n"
	"  --inflight N         unacknowledged publishes per vehicle (default 10)\n"
	"  --no-retain          do not publish fixes retained (the app's default is\n"
	"                       retained, so a new subscriber sees the last fix)\n"
	"  --seed N             repeatable simulation\n"
	"broker:\n"
	"  --config FILE        hub config (else $HUB_CONFIG, else conf/hub.conf)\n"
	"  --host HOST          broker address (default: mqtt_host of the config)\n"
	"  --port PORT          broker MQTT/TCP port (default: mqtt_port; with TLS\n"
	"                       mqtts_port)\n"
	"  --tls                MQTT over TLS, the broker verified against tls_ca of\n"
	"                       the config, else the system's CAs\n"
	"  --cafile FILE        MQTT over TLS, the broker verified against the CA\n"
	"                       certificates in FILE (PEM); its certificate must name\n"
	"                       --host\n"
	"  --protocol V         3.1, 3.1.1 or 5 (default 3.1.1)\n"
	"  --keepalive S        MQTT keepalive (default 60)\n"
	"  --will KIND          last will: status (users/{device}/status\n"
	"                       {\"online\":false}, the default), owntracks\n"
	"                       (owntracks/{device}/NAME {\"_type\":\"lwt\"}) or none\n"
	"  --connect-rate N     new connections per second (default 200)\n"
	"  --backoff-min MS     first reconnect delay (default 1000)\n"
	"  --backoff-max MS     largest reconnect delay (default 30000)\n"
	"  --connect-timeout MS give up on a connection without CONNACK (default 10000)\n"
	"running:\n"
	"  --once               publish one fix per vehicle, exit after the PUBACKs\n"
	"  --duration S         stop cleanly after S seconds\n"
	"  --bench              add \"_seq\" and \"_ts_ms\" (send time, ms) to fixes\n"
	"  --status-interval S  log line every S s when stdout is not a terminal\n"
	"                       (default 10; 0: none)\n"
	"  --log-level L        error, warn, info or debug (default: the config's)\n"
	"  -v, --verbose        same as --log-level debug\n"
	"  -h, --help           this text\n"
	"      --version        the version\n"
	"\n"
	"Exit status: 0 clean shutdown (SIGTERM/SIGINT, --duration, --once done),\n"
	"1 runtime failure, 2 bad usage or input file, 3 every device refused by\n"
	"the broker at start (wrong id or secret).\n";

enum {
	OPT_DEVICE = 256,
	OPT_SECRET,
	OPT_DEVICES,
	OPT_DEMO,
	OPT_ROUTE,
	OPT_RATE,
	OPT_NAME,
	OPT_BUFFER,
	OPT_INFLIGHT,
	OPT_NO_RETAIN,
	OPT_SEED,
	OPT_CONFIG,
	OPT_HOST,
	OPT_PORT,
	OPT_TLS,
	OPT_CAFILE,
	OPT_PROTOCOL,
	OPT_KEEPALIVE,
	OPT_WILL,
	OPT_CONNECT_RATE,
	OPT_BACKOFF_MIN,
	OPT_BACKOFF_MAX,
	OPT_CONNECT_TIMEOUT,
	OPT_ONCE,
	OPT_DURATION,
	OPT_BENCH,
	OPT_STATUS_INTERVAL,
	OPT_LOG_LEVEL,
	OPT_VERSION,
};

static const struct option long_opts[] = {
	{"device", required_argument, NULL, OPT_DEVICE},
	{"secret", required_argument, NULL, OPT_SECRET},
	{"devices", required_argument, NULL, OPT_DEVICES},
	{"demo", no_argument, NULL, OPT_DEMO},
	{"route", required_argument, NULL, OPT_ROUTE},
	{"rate", required_argument, NULL, OPT_RATE},
	{"name", required_argument, NULL, OPT_NAME},
	{"buffer", required_argument, NULL, OPT_BUFFER},
	{"inflight", required_argument, NULL, OPT_INFLIGHT},
	{"no-retain", no_argument, NULL, OPT_NO_RETAIN},
	{"seed", required_argument, NULL, OPT_SEED},
	{"config", required_argument, NULL, OPT_CONFIG},
	{"host", required_argument, NULL, OPT_HOST},
	{"port", required_argument, NULL, OPT_PORT},
	{"tls", no_argument, NULL, OPT_TLS},
	{"cafile", required_argument, NULL, OPT_CAFILE},
	{"protocol", required_argument, NULL, OPT_PROTOCOL},
	{"keepalive", required_argument, NULL, OPT_KEEPALIVE},
	{"will", required_argument, NULL, OPT_WILL},
	{"connect-rate", required_argument, NULL, OPT_CONNECT_RATE},
	{"backoff-min", required_argument, NULL, OPT_BACKOFF_MIN},
	{"backoff-max", required_argument, NULL, OPT_BACKOFF_MAX},
	{"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
	{"once", no_argument, NULL, OPT_ONCE},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"bench", no_argument, NULL, OPT_BENCH},
	{"status-interval", required_argument, NULL, OPT_STATUS_INTERVAL},
	{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	{"verbose", no_argument, NULL, 'v'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("hub-tracker: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(hub-tracker --help shows the options)\n", stderr);
	return TRK_EXIT_USAGE;
}

/* An integer option in [min, max]. */
static int num(const char *opt, const char *arg, int64_t min, int64_t max, int64_t *out)
{
	char range[64];
	if (hc_parse_i64(arg, min, max, out) == 0)
		return 0;
	snprintf(range, sizeof(range), "%lld..%lld", (long long)min, (long long)max);
	fprintf(stderr, "hub-tracker: %s: '%.40s' is not a whole number in %s\n", opt, arg, range);
	return -1;
}

/* A decimal option in [min, max]. */
static int real(const char *opt, const char *arg, double min, double max, double *out)
{
	char *end = NULL;
	double v;
	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !isfinite(v) || v < min || v > max) {
		fprintf(stderr, "hub-tracker: %s: '%.40s' is not a number in %g..%g\n", opt, arg,
			min, max);
		return -1;
	}
	*out = v;
	return 0;
}

int trk_opts__parse(struct trk_opts *o, int argc, char **argv)
{
	int64_t v;
	int c, sources;

	*o = (struct trk_opts){0};
	o->rate = 1.0;
	snprintf(o->name, sizeof(o->name), "tracker");
	o->buffer = 1000;
	o->inflight = 10;
	o->retain = true;
	o->protocol = MQTT_PROTOCOL_V311;
	o->keepalive = 60;
	o->will = TRK_WILL_STATUS;
	o->connect_rate = 200;
	o->backoff_min_ms = 1000;
	o->backoff_max_ms = 30000;
	o->connect_timeout_ms = 10000;
	o->status_interval = 10;
	o->log_level = -1;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":vh", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_DEVICE:
			o->device = optarg;
			break;
		case OPT_SECRET:
			o->secret = optarg;
			o->secret_arg = optarg;
			break;
		case OPT_DEVICES:
			o->devices_file = optarg;
			break;
		case OPT_DEMO:
			o->demo = true;
			break;
		case OPT_ROUTE:
			o->route_file = optarg;
			break;
		case OPT_RATE:
			if (real("--rate", optarg, 0.01, 50, &o->rate))
				return TRK_EXIT_USAGE;
			break;
		case OPT_NAME:
			if (!hc_name_valid(optarg))
				return usage_error(
					"--name: '%.64s' is not 1-64 of A-Za-z0-9._-", optarg);
			snprintf(o->name, sizeof(o->name), "%s", optarg);
			break;
		case OPT_BUFFER:
			if (num("--buffer", optarg, 1, 1000000, &v))
				return TRK_EXIT_USAGE;
			o->buffer = (long)v;
			break;
		case OPT_INFLIGHT:
			if (num("--inflight", optarg, 1, 1000, &v))
				return TRK_EXIT_USAGE;
			o->inflight = (long)v;
			break;
		case OPT_NO_RETAIN:
			o->retain = false;
			break;
		case OPT_SEED:
			if (num("--seed", optarg, 0, INT64_MAX, &v))
				return TRK_EXIT_USAGE;
			o->seed = (uint64_t)v;
			o->seed_set = true;
			break;
		case OPT_CONFIG:
			o->config = optarg;
			break;
		case OPT_HOST:
			if (!*optarg || strlen(optarg) > 255)
				return usage_error("--host: expected a host name or address");
			o->host = optarg;
			break;
		case OPT_PORT:
			if (num("--port", optarg, 1, 65535, &v))
				return TRK_EXIT_USAGE;
			o->port = (int)v;
			break;
		case OPT_TLS:
			o->tls = true;
			break;
		case OPT_CAFILE:
			if (!*optarg)
				return usage_error("--cafile: expected a file");
			o->tls = true;
			o->cafile = optarg;
			break;
		case OPT_PROTOCOL:
			if (!strcmp(optarg, "3.1") || !strcmp(optarg, "31") || !strcmp(optarg, "3"))
				o->protocol = MQTT_PROTOCOL_V31;
			else if (!strcmp(optarg, "3.1.1") || !strcmp(optarg, "311") ||
				 !strcmp(optarg, "4"))
				o->protocol = MQTT_PROTOCOL_V311;
			else if (!strcmp(optarg, "5") || !strcmp(optarg, "5.0"))
				o->protocol = MQTT_PROTOCOL_V5;
			else
				return usage_error(
					"--protocol: '%.20s' is not 3.1, 3.1.1 or 5", optarg);
			break;
		case OPT_KEEPALIVE:
			if (num("--keepalive", optarg, 5, 65535, &v))
				return TRK_EXIT_USAGE;
			o->keepalive = (int)v;
			break;
		case OPT_WILL:
			if (!strcmp(optarg, "status"))
				o->will = TRK_WILL_STATUS;
			else if (!strcmp(optarg, "owntracks"))
				o->will = TRK_WILL_OWNTRACKS;
			else if (!strcmp(optarg, "none"))
				o->will = TRK_WILL_NONE;
			else
				return usage_error(
					"--will: '%.20s' is not status, owntracks or none", optarg);
			break;
		case OPT_CONNECT_RATE:
			if (num("--connect-rate", optarg, 1, 100000, &v))
				return TRK_EXIT_USAGE;
			o->connect_rate = (long)v;
			break;
		case OPT_BACKOFF_MIN:
			if (num("--backoff-min", optarg, 10, 3600000, &v))
				return TRK_EXIT_USAGE;
			o->backoff_min_ms = v;
			break;
		case OPT_BACKOFF_MAX:
			if (num("--backoff-max", optarg, 10, 3600000, &v))
				return TRK_EXIT_USAGE;
			o->backoff_max_ms = v;
			break;
		case OPT_CONNECT_TIMEOUT:
			if (num("--connect-timeout", optarg, 100, 600000, &v))
				return TRK_EXIT_USAGE;
			o->connect_timeout_ms = v;
			break;
		case OPT_ONCE:
			o->once = true;
			break;
		case OPT_DURATION:
			if (real("--duration", optarg, 0.1, 1e7, &o->duration))
				return TRK_EXIT_USAGE;
			break;
		case OPT_BENCH:
			o->bench = true;
			break;
		case OPT_STATUS_INTERVAL:
			if (num("--status-interval", optarg, 0, 86400, &v))
				return TRK_EXIT_USAGE;
			o->status_interval = (int)v;
			break;
		case OPT_LOG_LEVEL:
			o->log_level = hc_log_level_parse(optarg);
			if (o->log_level < 0)
				return usage_error(
					"--log-level: '%.20s' is not error, warn, info or "
					"debug",
					optarg);
			break;
		case 'v':
			o->log_level = HC_LOG_DEBUG;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return TRK_EXIT_OK;
		case OPT_VERSION:
			printf("hub-tracker %s\n", HUB_VERSION);
			return TRK_EXIT_OK;
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				return usage_error("unknown option '-%c'", optopt);
			return usage_error("unknown option '%.60s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%.60s'", argv[optind]);
	sources = (o->device != NULL) + (o->devices_file != NULL) + o->demo;
	if (sources != 1)
		return usage_error("give exactly one of --device ID, --devices FILE or --demo");
	if (o->secret && !o->device)
		return usage_error("--secret goes with --device");
	if (o->device && !o->secret) {
		o->secret = getenv("HUB_TRACKER_SECRET");
		if (!o->secret || !*o->secret)
			return usage_error(
				"--device %.64s needs --secret or HUB_TRACKER_SECRET", o->device);
	}
	if (o->backoff_max_ms < o->backoff_min_ms)
		return usage_error("--backoff-max is below --backoff-min");
	if (o->inflight > o->buffer)
		o->inflight = o->buffer;
	if (o->once && o->duration == 0)
		o->duration = 60; /* --once gives up after a minute */
	return -1;
}
