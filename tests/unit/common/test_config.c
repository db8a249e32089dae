/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/config.c: defaults from the settings table, the
 * file syntax, "file:line: what" errors for every kind of bad line, the
 * HUB_* environment, PATH settings resolved against the config file's
 * directory, LIST settings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_config.h"
#include "hc_err.h"
#include "testutil.h"

#include <limits.h>

struct fx {
	char dir[PATH_MAX];
	char real[PATH_MAX]; /* realpath of dir (TMPDIR may be a symlink) */
	char path[PATH_MAX + 16];
	struct hc_config cfg;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	tu_mkdtemp(f->dir, sizeof(f->dir));
	if (!realpath(f->dir, f->real))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/hub.conf", f->dir);
	if (hc_config_defaults(&f->cfg) != HUB_OK)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	hc_config_free(&f->cfg);
	tu_rmtree(f->dir);
	free(f);
	return 0;
}

/* Write text as the config file and load it over the defaults. */
static int load(struct fx *f, const char *text, char *err, size_t errsz)
{
	assert_int_equal(tu_write_str(f->path, text), 0);
	err[0] = '\0';
	return hc_config_load_file(&f->cfg, f->path, err, errsz);
}

static void test_defaults(void **state)
{
	struct fx *f = *state;
	char cwd[PATH_MAX], want[PATH_MAX + 16], out[PATH_MAX + 32];
	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_HTTP_PORT), 8080);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_MQTT_PORT), 1883);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_WS_PORT), 9001);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_SIO_PORT), 3000);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_TOKEN_TTL), 900);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_TOKEN_ALG), "HS256");
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_BIND_ADDRESS), "127.0.0.1");
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_LOG_LEVEL), "info");
	assert_false(hc_cfg_bool(&f->cfg, HC_CFG_COOKIE_SECURE));
	assert_true(hc_cfg_bool(&f->cfg, HC_CFG_DEMO_DATA));
	/* PATH defaults are absolute, against the working directory */
	snprintf(want, sizeof(want), "%s/data", cwd);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_DATA_DIR), want);
	/* empty PATH stays empty (key_file: derived from data_dir) */
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_KEY_FILE), "");
	assert_int_equal(hc_config_key_path(&f->cfg, out, sizeof(out)), HUB_OK);
	snprintf(want, sizeof(want), "%s/data/token.key", cwd);
	assert_string_equal(out, want);
	assert_int_equal(hc_config_db_path(&f->cfg, out, sizeof(out)), HUB_OK);
	snprintf(want, sizeof(want), "%s/data/hub.db", cwd);
	assert_string_equal(out, want);
	assert_int_equal(hc_config_db_path(&f->cfg, out, 5), HUB_ERR_TOOBIG);
	assert_null(f->cfg.file);
}

static void test_table_access(void **state)
{
	(void)state;
	assert_string_equal(hc_setting_name(HC_CFG_HTTP_PORT), "http_port");
	assert_string_equal(hc_setting_default(HC_CFG_HTTP_PORT), "8080");
	assert_non_null(hc_setting_help(HC_CFG_HTTP_PORT));
	/* every setting has a lower-case name usable as HUB_<NAME> and a help */
	for (int i = 0; i < HC_CFG__COUNT; i++) {
		const char *n = hc_setting_name((enum hc_setting)i);
		assert_non_null(n);
		assert_true(strspn(n, "abcdefghijklmnopqrstuvwxyz_0123456789") == strlen(n));
		assert_true(strlen(hc_setting_help((enum hc_setting)i)) > 0);
	}
}

static void test_file_syntax(void **state)
{
	struct fx *f = *state;
	char err[512];
	(void)state;
	assert_int_equal(load(f,
				 "# a comment\n"
				 "\n"
				 "   \n"
				 "\t# indented comment\n"
				 "http_port = 8081\n"
				 "mqtt_port=1884\n"
				 "  ws_port\t=\t9002  \n"
				 "public_url = \"http://example.test:8081/ x\"\n"
				 "run_as = \"\"\n"
				 "log_level = debug\r\n"
				 "cookie_secure = yes\n"
				 "trust_proxy = on\n"
				 "demo_data = 0\n"
				 "history_events = \"chat message, note\"\n"
				 "token_alg = HS512\n"
				 "bind_address = 0.0.0.0",
				 err, sizeof(err)),
		HUB_OK);
	assert_string_equal(err, "");
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_HTTP_PORT), 8081);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_MQTT_PORT), 1884);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_WS_PORT), 9002);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_PUBLIC_URL), "http://example.test:8081/ x");
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_RUN_AS), "");
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_LOG_LEVEL), "debug");
	assert_true(hc_cfg_bool(&f->cfg, HC_CFG_COOKIE_SECURE));
	assert_true(hc_cfg_bool(&f->cfg, HC_CFG_TRUST_PROXY));
	assert_false(hc_cfg_bool(&f->cfg, HC_CFG_DEMO_DATA));
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_TOKEN_ALG), "HS512");
	/* last line without a newline is read */
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_BIND_ADDRESS), "0.0.0.0");
	/* untouched settings keep their defaults */
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_SIO_PORT), 3000);
	/* the file read is remembered, absolute */
	assert_non_null(f->cfg.file);
	assert_int_equal(f->cfg.file[0], '/');
	assert_non_null(strstr(f->cfg.file, "/hub.conf"));
}

static void test_later_lines_win(void **state)
{
	struct fx *f = *state;
	char err[512];
	(void)state;
	assert_int_equal(load(f, "http_port = 1\nhttp_port = 2\n", err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_HTTP_PORT), 2);
	/* an empty file changes nothing */
	assert_int_equal(load(f, "", err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_HTTP_PORT), 2);
}

struct errcase {
	const char *text;
	int line;	    /* expected line number in the message */
	const char *needle; /* expected part of the message */
	int rc;
};

static void test_errors(void **state)
{
	static const struct errcase cases[] = {
		{"nosuch = 1\n", 1, "unknown setting 'nosuch'", HUB_ERR_CONFIG},
		{"# ok\n\nHTTP_PORT = 1\n", 3, "unknown setting", HUB_ERR_CONFIG},
		{"= 5\n", 1, "unknown setting", HUB_ERR_CONFIG},
		{"http_port 8080\n", 1, "expected 'name = value'", HUB_ERR_CONFIG},
		{"http_port = 80\njust words\n", 2, "expected 'name = value'", HUB_ERR_CONFIG},
		{"http_port = eighty\n", 1, "http_port must be a whole number from 1 to 65535",
			HUB_ERR_CONFIG},
		{"http_port = 80 # web\n", 1, "whole number", HUB_ERR_CONFIG},
		{"http_port = 8080.0\n", 1, "whole number", HUB_ERR_CONFIG},
		{"http_port =\n", 1, "whole number", HUB_ERR_CONFIG},
		{"http_port = 0\n", 1, "from 1 to 65535", HUB_ERR_CONFIG},
		{"http_port = 65536\n", 1, "from 1 to 65535", HUB_ERR_CONFIG},
		{"http_port = -1\n", 1, "whole number", HUB_ERR_CONFIG},
		{"http_port = 99999999999999999999\n", 1, "whole number", HUB_ERR_CONFIG},
		{"token_ttl = 29\n", 1, "token_ttl must be a whole number from 30 to 86400",
			HUB_ERR_CONFIG},
		{"cookie_secure = maybe\n", 1, "cookie_secure must be true or false",
			HUB_ERR_CONFIG},
		{"cookie_secure = TRUE\n", 1, "true or false", HUB_ERR_CONFIG},
		{"cookie_secure =\n", 1, "true or false", HUB_ERR_CONFIG},
		{"log_level = verbose\n", 1, "log_level must be error, warn, info or debug",
			HUB_ERR_CONFIG},
		{"log_level = INFO\n", 1, "log_level must be", HUB_ERR_CONFIG},
		{"log_level = \n", 1, "log_level must be 1 to 8 characters", HUB_ERR_CONFIG},
		{"token_alg = none\n", 1, "token_alg must be", HUB_ERR_CONFIG},
		{"token_alg = HS999\n", 1, "token_alg must be HS256, HS384 or HS512",
			HUB_ERR_CONFIG},
		{"token_alg = RS256\n", 1, "token_alg must be", HUB_ERR_CONFIG},
		{"token_alg = hs256\n", 1, "token_alg must be", HUB_ERR_CONFIG},
		{"public_url = \"http://x\n", 1, "unterminated quoted value", HUB_ERR_CONFIG},
		{"public_url = \"\n", 1, "unterminated quoted value", HUB_ERR_CONFIG},
		{"\n\npublic_url = \"a\" b\n", 3, "unterminated quoted value", HUB_ERR_CONFIG},
		{"bind_address = a\x01"
		 "b\n",
			1, "control character", HUB_ERR_CONFIG},
		{"http_port = 8080\nhttp_port = 1\nws_port = x\n", 3, "ws_port", HUB_ERR_CONFIG},
		{"map_tiles = tiles.example.com/{z}/{x}/{y}.png\n", 1,
			"map_tiles must be an http or https URL template", HUB_ERR_CONFIG},
		{"map_tiles = https://t.example/{z}/{x}/{y}.png; script-src *\n", 1,
			"map_tiles must be", HUB_ERR_CONFIG},
		{"map_attribution = (c) \xff tiles\n", 1, "map_attribution is not valid UTF-8",
			HUB_ERR_CONFIG},
	};
	int tu_failures = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fx *f = *state;
		char err[512], prefix[PATH_MAX + 32];
		int rc = load(f, cases[i].text, err, sizeof(err));
		snprintf(prefix, sizeof(prefix), "%s:%d: ", f->path, cases[i].line);
		TU_EXPECT(rc == cases[i].rc, "case %zu: rc %d, want %d (%s)", i, rc, cases[i].rc,
			err);
		TU_EXPECT(strncmp(err, prefix, strlen(prefix)) == 0,
			"case %zu: message '%s' does not start with '%s'", i, err, prefix);
		TU_EXPECT(strstr(err, cases[i].needle) != NULL, "case %zu: message '%s' lacks '%s'",
			i, err, cases[i].needle);
	}
	TU_DONE();
}

/* A comment line of n bytes (without its newline), then a valid line. */
static char *long_line_text(size_t n)
{
	char *t = malloc(n + 64);
	assert_non_null(t);
	t[0] = '#';
	memset(t + 1, 'x', n - 1);
	snprintf(t + n, 64, "\nhttp_port = 8123\n");
	return t;
}

static void test_overlong_line(void **state)
{
	struct fx *f = *state;
	char err[512], prefix[PATH_MAX + 32];
	char *t;
	(void)state;
	/* 4096 bytes is the longest line accepted ... */
	t = long_line_text(4096);
	assert_int_equal(load(f, t, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_HTTP_PORT), 8123);
	free(t);
	/* ... one more byte is an error on that line, not a silent split */
	t = long_line_text(4097);
	assert_int_equal(load(f, t, err, sizeof(err)), HUB_ERR_CONFIG);
	snprintf(prefix, sizeof(prefix), "%s:1: ", f->path);
	assert_memory_equal(err, prefix, strlen(prefix));
	assert_non_null(strstr(err, "line longer than 4096 bytes"));
	free(t);
	/* a huge line, also as the last line without a newline */
	t = long_line_text(100000);
	t[100000] = '\0';
	assert_int_equal(load(f, t, err, sizeof(err)), HUB_ERR_CONFIG);
	assert_non_null(strstr(err, "line longer"));
	free(t);
}

static void test_missing_file(void **state)
{
	struct fx *f = *state;
	char err[512], path[PATH_MAX + 32];
	(void)state;
	snprintf(path, sizeof(path), "%s/nope.conf", f->dir);
	assert_int_equal(hc_config_load_file(&f->cfg, path, err, sizeof(err)), HUB_ERR_IO);
	assert_memory_equal(err, path, strlen(path));
	assert_non_null(strstr(err, "cannot read config file"));
	/* a directory is not a config file */
	assert_int_not_equal(hc_config_load_file(&f->cfg, f->dir, err, sizeof(err)), HUB_OK);
}

static void test_env_override(void **state)
{
	struct fx *f = *state;
	char err[512], cwd[PATH_MAX], want[PATH_MAX + 16];
	(void)state;
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(load(f, "http_port = 8081\n", err, sizeof(err)), HUB_OK);
	setenv("HUB_HTTP_PORT", "9090", 1);
	setenv("HUB_COOKIE_SECURE", "true", 1);
	setenv("HUB_DATA_DIR", "envdata", 1);
	setenv("HUB_KEY_FILE", "/etc/hub/token.key", 1);
	assert_int_equal(hc_config_load_env(&f->cfg, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_HTTP_PORT), 9090);
	assert_true(hc_cfg_bool(&f->cfg, HC_CFG_COOKIE_SECURE));
	/* relative PATH from the environment: against the working directory */
	snprintf(want, sizeof(want), "%s/envdata", cwd);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_DATA_DIR), want);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_KEY_FILE), "/etc/hub/token.key");
	/* a bad value names the variable */
	setenv("HUB_HTTP_PORT", "http", 1);
	assert_int_equal(hc_config_load_env(&f->cfg, err, sizeof(err)), HUB_ERR_CONFIG);
	assert_non_null(strstr(err, "HUB_HTTP_PORT"));
	assert_non_null(strstr(err, "http_port must be a whole number"));
	unsetenv("HUB_HTTP_PORT");
	unsetenv("HUB_COOKIE_SECURE");
	unsetenv("HUB_DATA_DIR");
	unsetenv("HUB_KEY_FILE");
}

static void test_load_sequence(void **state)
{
	struct fx *f = *state;
	char err[512];
	(void)state;
	assert_int_equal(tu_write_str(f->path, "http_port = 8081\nmqtt_port = 1885\n"), 0);
	hc_config_free(&f->cfg);
	/* explicit path: defaults, file, then environment on top */
	setenv("HUB_MQTT_PORT", "1999", 1);
	assert_int_equal(hc_config_load(&f->cfg, f->path, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_HTTP_PORT), 8081);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_MQTT_PORT), 1999);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_WS_PORT), 9001);
	unsetenv("HUB_MQTT_PORT");
	hc_config_free(&f->cfg);
	/* no path: HUB_CONFIG names the file */
	setenv("HUB_CONFIG", f->path, 1);
	assert_int_equal(hc_config_load(&f->cfg, NULL, err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_MQTT_PORT), 1885);
	hc_config_free(&f->cfg);
	/* a broken file named by HUB_CONFIG stops the load */
	assert_int_equal(tu_write_str(f->path, "mqtt_port = x\n"), 0);
	assert_int_equal(hc_config_load(&f->cfg, NULL, err, sizeof(err)), HUB_ERR_CONFIG);
	assert_non_null(strstr(err, ":1: "));
	unsetenv("HUB_CONFIG");
}

static void test_relative_paths(void **state)
{
	struct fx *f = *state;
	char err[512], sub[PATH_MAX + 16], conf[PATH_MAX + 32], want[PATH_MAX + 64];
	char old_cwd[PATH_MAX], out[PATH_MAX + 64];
	(void)state;
	snprintf(sub, sizeof(sub), "%s/etc", f->dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	snprintf(conf, sizeof(conf), "%s/hub.conf", sub);
	assert_int_equal(tu_write_str(conf, "data_dir = var/data\n"
					    "key_file = ../keys/token.key\n"
					    "web_dir = /srv/web\n"),
		0);
	assert_int_equal(hc_config_load_file(&f->cfg, conf, err, sizeof(err)), HUB_OK);
	snprintf(want, sizeof(want), "%s/etc/var/data", f->real);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_DATA_DIR), want);
	snprintf(want, sizeof(want), "%s/etc/../keys/token.key", f->real);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_KEY_FILE), want);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_WEB_DIR), "/srv/web");
	/* derived paths follow */
	assert_int_equal(hc_config_db_path(&f->cfg, out, sizeof(out)), HUB_OK);
	snprintf(want, sizeof(want), "%s/etc/var/data/hub.db", f->real);
	assert_string_equal(out, want);
	assert_int_equal(hc_config_key_path(&f->cfg, out, sizeof(out)), HUB_OK);
	snprintf(want, sizeof(want), "%s/etc/../keys/token.key", f->real);
	assert_string_equal(out, want);

	/* the config file named by a relative path: still its own directory,
	 * not the working directory */
	assert_non_null(getcwd(old_cwd, sizeof(old_cwd)));
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(tu_write_str("etc/hub.conf", "data_dir = d2\n"), 0);
	assert_int_equal(hc_config_load_file(&f->cfg, "etc/hub.conf", err, sizeof(err)), HUB_OK);
	assert_int_equal(chdir(old_cwd), 0);
	snprintf(want, sizeof(want), "%s/etc/d2", f->real);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_DATA_DIR), want);
	/* errors name the file as given */
	assert_int_equal(chdir(f->dir), 0);
	assert_int_equal(tu_write_str("etc/hub.conf", "\ndata_dir = \"x\n"), 0);
	assert_int_equal(
		hc_config_load_file(&f->cfg, "etc/hub.conf", err, sizeof(err)), HUB_ERR_CONFIG);
	assert_int_equal(chdir(old_cwd), 0);
	assert_memory_equal(err, "etc/hub.conf:2: ", 16);
}

static void test_set(void **state)
{
	struct fx *f = *state;
	char err[512];
	(void)state;
	assert_int_equal(
		hc_config_set(&f->cfg, "http_port", "1234", "--http-port", err, sizeof(err)),
		HUB_OK);
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_HTTP_PORT), 1234);
	assert_string_equal(hc_cfg_str(&f->cfg, HC_CFG_HTTP_PORT), "1234");
	assert_int_equal(
		hc_config_set(&f->cfg, "nope", "1", "--nope", err, sizeof(err)), HUB_ERR_CONFIG);
	assert_string_equal(err, "--nope: unknown setting 'nope'");
	assert_int_equal(hc_config_set(&f->cfg, "http_port", "0", "--http-port", err, sizeof(err)),
		HUB_ERR_CONFIG);
	assert_memory_equal(err, "--http-port: ", 13);
	/* a failed set leaves the old value */
	assert_int_equal(hc_cfg_int(&f->cfg, HC_CFG_HTTP_PORT), 1234);
	/* STR length bounds: token_alg is exactly 5, run_as may be empty */
	assert_int_equal(hc_config_set(&f->cfg, "run_as", "", "x", err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_config_set(&f->cfg, "token_alg", "HS2560", "x", err, sizeof(err)),
		HUB_ERR_CONFIG);
	/* every boolean spelling */
	{
		static const char *const yes[] = {"true", "yes", "on", "1"};
		static const char *const no[] = {"false", "no", "off", "0"};
		for (size_t i = 0; i < 4; i++) {
			assert_int_equal(hc_config_set(&f->cfg, "trust_proxy", yes[i], "x", err,
						 sizeof(err)),
				HUB_OK);
			assert_true(hc_cfg_bool(&f->cfg, HC_CFG_TRUST_PROXY));
			assert_int_equal(
				hc_config_set(&f->cfg, "trust_proxy", no[i], "x", err, sizeof(err)),
				HUB_OK);
			assert_false(hc_cfg_bool(&f->cfg, HC_CFG_TRUST_PROXY));
		}
	}
}

struct list_item {
	char s[64];
};

static void test_lists(void **state)
{
	struct fx *f = *state;
	char err[512];
	size_t pos = 0, len;
	const char *item;
	struct list_item got[8];
	int n = 0;
	(void)state;
	/* the default */
	assert_true(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, "chat message", 12));
	assert_false(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, "chat", 4));
	/* an empty list has no entries */
	assert_int_equal(hc_cfg_list_next(&f->cfg, HC_CFG_TRUSTED_ORIGINS, &pos, &item, &len), 0);
	assert_false(hc_cfg_list_has(&f->cfg, HC_CFG_TRUSTED_ORIGINS, "", 0));

	assert_int_equal(
		load(f, "history_events = \" a, ,b c,,  dd  , \"\n", err, sizeof(err)), HUB_OK);
	pos = 0;
	while (n < 8 && hc_cfg_list_next(&f->cfg, HC_CFG_HISTORY_EVENTS, &pos, &item, &len)) {
		snprintf(got[n].s, sizeof(got[n].s), "%.*s", (int)len, item);
		n++;
	}
	assert_int_equal(n, 3);
	assert_string_equal(got[0].s, "a");
	assert_string_equal(got[1].s, "b c");
	assert_string_equal(got[2].s, "dd");
	/* iteration is over at the end and stays over */
	assert_int_equal(hc_cfg_list_next(&f->cfg, HC_CFG_HISTORY_EVENTS, &pos, &item, &len), 0);
	assert_true(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, "a", 1));
	assert_true(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, "b c", 3));
	assert_true(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, "dd", 2));
	assert_false(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, "d", 1));
	assert_false(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, "b", 1));
	assert_false(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, "", 0));
	assert_false(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, " a", 2));
	/* explicit length: "ab" with len 1 is "a" */
	assert_true(hc_cfg_list_has(&f->cfg, HC_CFG_HISTORY_EVENTS, "ab", 1));
	/* values are single-line text: a tab is a control character */
	assert_int_equal(load(f, "history_events = a,\tb\n", err, sizeof(err)), HUB_ERR_CONFIG);
	assert_non_null(strstr(err, "control character"));
	/* only separators */
	assert_int_equal(load(f, "autojoin_rooms = , ,,\n", err, sizeof(err)), HUB_OK);
	pos = 0;
	assert_int_equal(hc_cfg_list_next(&f->cfg, HC_CFG_AUTOJOIN_ROOMS, &pos, &item, &len), 0);
}

#ifdef HUB_SOURCE_DIR
/* The configuration file the project ships must load cleanly. */
static void test_shipped_conf(void **state)
{
	struct fx *f = *state;
	char err[512];
	const char *path = HUB_SOURCE_DIR "/conf/hub.conf";
	(void)state;
	if (access(path, R_OK) != 0) {
		print_message("no %s yet: skipped\n", path);
		skip();
	}
	err[0] = '\0';
	assert_int_equal(hc_config_load_file(&f->cfg, path, err, sizeof(err)), HUB_OK);
	assert_string_equal(err, "");
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_access, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(test_later_lines_win, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overlong_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_override, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_sequence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relative_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
#ifdef HUB_SOURCE_DIR
		cmocka_unit_test_setup_teardown(test_shipped_conf, setup, teardown),
#endif
	};
	/* the environment must not leak into the defaults under test */
	for (int i = 0; i < HC_CFG__COUNT; i++) {
		char env[96] = "HUB_";
		size_t k = 4;
		for (const char *s = hc_setting_name((enum hc_setting)i); *s && k < sizeof(env) - 1;
			s++)
			env[k++] = (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
		env[k] = '\0';
		unsetenv(env);
	}
	unsetenv("HUB_CONFIG");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
