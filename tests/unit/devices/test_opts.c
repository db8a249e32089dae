/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of devices/opts.c: defaults, each option's range, the
 * credential rules (exactly one source; a secret from the flag or
 * HUB_TRACKER_SECRET) and the exit statuses of --help and bad usage.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <mosquitto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "opts.h"

/* Parse a NULL-terminated list of arguments (stderr/stdout muted). */
static int parse(struct trk_opts *o, const char *const *args)
{
	char *argv[64];
	int argc = 0, rc, out, err, null;

	argv[argc++] = (char *)"hub-tracker";
	for (; *args && argc < 63; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	out = dup(1);
	err = dup(2);
	null = open("/dev/null", O_WRONLY);
	dup2(null, 1);
	dup2(null, 2);
	rc = trk_opts__parse(o, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(out, 1);
	dup2(err, 2);
	close(out);
	close(err);
	close(null);
	return rc;
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_defaults(void **state)
{
	struct trk_opts o;
	(void)state;
	unsetenv("HUB_TRACKER_SECRET");
	assert_int_equal(parse(&o, ARGS("--device", "truck1", "--secret", "s")), -1);
	assert_string_equal(o.device, "truck1");
	assert_string_equal(o.secret, "s");
	assert_true(o.rate == 1.0);
	assert_string_equal(o.name, "tracker");
	assert_int_equal(o.buffer, 1000);
	assert_int_equal(o.inflight, 10);
	assert_true(o.retain);
	assert_int_equal(o.protocol, MQTT_PROTOCOL_V311);
	assert_int_equal(o.keepalive, 60);
	assert_int_equal(o.will, TRK_WILL_STATUS);
	assert_int_equal(o.port, 0);
	assert_null(o.host);
	assert_false(o.tls);
	assert_null(o.cafile);
	assert_false(o.once);
	assert_false(o.bench);
	assert_true(o.duration == 0);
	assert_int_equal(o.log_level, -1);
}

static void test_values(void **state)
{
	struct trk_opts o;
	(void)state;
	assert_int_equal(
		parse(&o, ARGS("--devices", "f", "--rate", "2.5", "--name", "phone", "--buffer",
				  "5", "--inflight", "50", "--no-retain", "--protocol", "5",
				  "--host", "h", "--port", "1884", "--keepalive", "30", "--will",
				  "owntracks", "--once", "--bench", "-v", "--seed", "9")),
		-1);
	assert_true(o.rate == 2.5);
	assert_string_equal(o.name, "phone");
	assert_int_equal(o.buffer, 5);
	assert_int_equal(o.inflight, 5); /* never more than the buffer */
	assert_false(o.retain);
	assert_int_equal(o.protocol, MQTT_PROTOCOL_V5);
	assert_string_equal(o.host, "h");
	assert_int_equal(o.port, 1884);
	assert_int_equal(o.will, TRK_WILL_OWNTRACKS);
	assert_true(o.once && o.bench && o.seed_set);
	assert_true(o.duration == 60); /* --once gives up after a minute */
	assert_int_equal(o.seed, 9);
	/* TLS: --tls alone (tls_ca, else the system's CAs), --cafile implies it */
	assert_int_equal(parse(&o, ARGS("--demo", "--tls")), -1);
	assert_true(o.tls);
	assert_null(o.cafile);
	assert_int_equal(parse(&o, ARGS("--demo", "--cafile", "/etc/hub/ca.crt")), -1);
	assert_true(o.tls);
	assert_string_equal(o.cafile, "/etc/hub/ca.crt");
	assert_int_equal(parse(&o, ARGS("--demo", "--protocol", "3.1")), -1);
	assert_int_equal(o.protocol, MQTT_PROTOCOL_V31);
	assert_true(o.demo);
	setenv("HUB_TRACKER_SECRET", "from-env", 1);
	assert_int_equal(parse(&o, ARGS("--device", "d")), -1);
	assert_string_equal(o.secret, "from-env");
	unsetenv("HUB_TRACKER_SECRET");
}

static void test_usage_errors(void **state)
{
	const char *const *bad[] = {
		ARGS("--demo", "--device", "d"),
		ARGS("--secret", "s", "--demo"),
		ARGS("--device", "d"),
		ARGS("--demo", "--rate", "0"),
		ARGS("--demo", "--rate", "51"),
		ARGS("--demo", "--rate", "1x"),
		ARGS("--demo", "--buffer", "0"),
		ARGS("--demo", "--port", "65536"),
		ARGS("--demo", "--protocol", "4.0"),
		ARGS("--demo", "--will", "maybe"),
		ARGS("--demo", "--name", "a/b"),
		ARGS("--demo", "--log-level", "loud"),
		ARGS("--demo", "--backoff-min", "5000", "--backoff-max", "1000"),
		ARGS("--demo", "--bogus"),
		ARGS("--demo", "-x"),
		ARGS("--demo", "extra"),
		ARGS("--demo", "--port"),
		ARGS("--demo", "--cafile"),
		ARGS("--demo", "--cafile", ""),
		ARGS("--demo", "--tls", "x"),
	};
	struct trk_opts o;
	(void)state;
	unsetenv("HUB_TRACKER_SECRET");
	assert_int_equal(parse(&o, ARGS("--demo")), -1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (parse(&o, bad[i]) != TRK_EXIT_USAGE)
			fail_msg("case %zu (%s %s) not refused", i, bad[i][0],
				bad[i][1] ? bad[i][1] : "");
	assert_int_equal(parse(&o, ARGS("--help")), TRK_EXIT_OK);
	assert_int_equal(parse(&o, ARGS("--version")), TRK_EXIT_OK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_usage_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
