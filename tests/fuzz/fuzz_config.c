/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the configuration loader: the input is written to a temporary file
 * and loaded over the defaults with hc_config_load_file, then every
 * accessor is exercised. The input split at its first '=' (name, value) also
 * goes through hc_config_set, the flags path. Properties: no crash or leak;
 * an error comes back as HUB_ERR_CONFIG/IO with "file:line: " in front; a
 * success leaves every INT setting inside its table bounds.
 */
#include "hc_config.h"
#include "hc_err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

static void die(const char *what, const char *err)
{
	fprintf(stderr, "fuzz_config: %s: %s\n", what, err);
	abort();
}

static void cleanup(void)
{
	if (path[0])
		unlink(path);
}

static void init(void)
{
	int fd;
	snprintf(path, sizeof(path), "/tmp/hub-fuzz-config.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		abort();
	close(fd);
	atexit(cleanup);
}

static void exercise(const struct hc_config *cfg)
{
	char out[8192];
	for (int i = 0; i < HC_CFG__COUNT; i++) {
		const char *s = hc_cfg_str(cfg, (enum hc_setting)i);
		size_t pos = 0, len, n = 0;
		const char *item;
		if (!s)
			die("NULL string", hc_setting_name((enum hc_setting)i));
		(void)hc_cfg_int(cfg, (enum hc_setting)i);
		(void)hc_cfg_bool(cfg, (enum hc_setting)i);
		while (hc_cfg_list_next(cfg, (enum hc_setting)i, &pos, &item, &len)) {
			if (len == 0 || item < s || item + len > s + strlen(s))
				die("list item out of its string", s);
			if (!hc_cfg_list_has(cfg, (enum hc_setting)i, item, len))
				die("listed item not found by list_has", s);
			if (++n > 10000)
				die("list does not end", s);
		}
	}
	(void)hc_config_db_path(cfg, out, sizeof(out));
	(void)hc_config_key_path(cfg, out, sizeof(out));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct hc_config cfg;
	char err[512];
	FILE *f;
	int rc;

	if (!ready) {
		init();
		ready = 1;
	}
	if (hc_config_defaults(&cfg) != HUB_OK)
		abort();

	f = fopen(path, "w");
	if (!f)
		abort();
	if (size && fwrite(data, 1, size, f) != size)
		abort();
	fclose(f);

	memset(err, 'X', sizeof(err));
	err[sizeof(err) - 1] = '\0';
	rc = hc_config_load_file(&cfg, path, err, sizeof(err));
	if (rc != HUB_OK) {
		if (rc != HUB_ERR_CONFIG && rc != HUB_ERR_IO && rc != HUB_ERR_NOMEM)
			die("unexpected return code", err);
		if (strncmp(err, path, strlen(path)) != 0 || err[strlen(path)] != ':')
			die("error without the file name", err);
	} else {
		if (!cfg.file)
			die("file not recorded", path);
		/* INT values are in range (the table is the only source of bounds,
		 * so check what every caller relies on: ports are ports) */
		if (hc_cfg_int(&cfg, HC_CFG_HTTP_PORT) < 1 ||
			hc_cfg_int(&cfg, HC_CFG_HTTP_PORT) > 65535 ||
			hc_cfg_int(&cfg, HC_CFG_TOKEN_TTL) < 30)
			die("INT setting out of range", "");
		if (strcmp(hc_cfg_str(&cfg, HC_CFG_TOKEN_ALG), "HS256") &&
			strcmp(hc_cfg_str(&cfg, HC_CFG_TOKEN_ALG), "HS384") &&
			strcmp(hc_cfg_str(&cfg, HC_CFG_TOKEN_ALG), "HS512"))
			die("token_alg not an HS alg", hc_cfg_str(&cfg, HC_CFG_TOKEN_ALG));
	}
	exercise(&cfg);

	/* the flags path: name=value from the input itself */
	{
		char *copy = malloc(size + 1);
		char *eq;
		if (copy) {
			memcpy(copy, data, size);
			copy[size] = '\0';
			eq = strchr(copy, '=');
			if (eq) {
				*eq = '\0';
				rc = hc_config_set(&cfg, copy, eq + 1, "--flag", err, sizeof(err));
				if (rc != HUB_OK && strncmp(err, "--flag: ", 8) != 0)
					die("flag error without its source", err);
				exercise(&cfg);
			}
			free(copy);
		}
	}
	hc_config_free(&cfg);
	return 0;
}
