/* SPDX-License-Identifier: MIT */
/*
 * Configuration loader: defaults, file, environment, flags, in that order,
 * all validated against the one settings table.
 */
#include "hc_config.h"
#include "hc_err.h"
#include "hc_names.h"
#include "hc_proxy.h"
#include "hc_util.h"
#include "hc_web.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum type { T_STR, T_INT, T_BOOL, T_PATH, T_LIST };

struct setting {
	const char *name;
	enum type type;
	const char *def;
	int64_t min, max;
	const char *help;
};

static const struct setting table[HC_CFG__COUNT] = {
#define HC_SETTING(id, nm, ty, df, mn, mx, hp) [HC_CFG_##id] = {nm, T_##ty, df, mn, mx, hp},
#include "hc_settings.def"
#undef HC_SETTING
};

#define LINE_MAX_LEN 4096

static int find(const char *name)
{
	for (int i = 0; i < HC_CFG__COUNT; i++)
		if (strcmp(table[i].name, name) == 0)
			return i;
	return -1;
}

/* Join base and rel unless rel is absolute. */
static char *resolve(const char *base, const char *rel)
{
	char *out;
	size_t n;

	if (rel[0] == '/' || rel[0] == '\0' || !base)
		return strdup(rel);
	n = strlen(base) + strlen(rel) + 2;
	out = malloc(n);
	if (out)
		snprintf(out, n, "%s/%s", base, rel);
	return out;
}

/* Validate and store one value. base: directory for relative paths. */
static int set_value(struct hc_config *cfg, int id, const char *value, const char *base,
	const char *where, char *err, size_t errsz)
{
	const struct setting *s = &table[id];
	size_t len = strlen(value);
	int64_t num = 0;
	char *copy;

	switch (s->type) {
	case T_INT:
		if (hc_parse_i64(value, s->min, s->max, &num) != HUB_OK) {
			snprintf(err, errsz,
				"%s: %s must be a whole number from %lld to %lld, not '%.40s'",
				where, s->name, (long long)s->min, (long long)s->max, value);
			return HUB_ERR_CONFIG;
		}
		break;
	case T_BOOL:
		if (!strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on") ||
			!strcmp(value, "1"))
			num = 1;
		else if (!strcmp(value, "false") || !strcmp(value, "no") || !strcmp(value, "off") ||
			 !strcmp(value, "0"))
			num = 0;
		else {
			snprintf(err, errsz, "%s: %s must be true or false, not '%.40s'", where,
				s->name, value);
			return HUB_ERR_CONFIG;
		}
		break;
	default:
		if ((int64_t)len < s->min || (int64_t)len > s->max) {
			snprintf(err, errsz, "%s: %s must be %lld to %lld characters long", where,
				s->name, (long long)s->min, (long long)s->max);
			return HUB_ERR_CONFIG;
		}
		for (size_t i = 0; i < len; i++)
			if ((unsigned char)value[i] < 0x20) {
				snprintf(err, errsz, "%s: %s contains a control character", where,
					s->name);
				return HUB_ERR_CONFIG;
			}
		break;
	}
	if (id == HC_CFG_LOG_LEVEL && strcmp(value, "error") && strcmp(value, "warn") &&
		strcmp(value, "info") && strcmp(value, "debug")) {
		snprintf(err, errsz, "%s: log_level must be error, warn, info or debug", where);
		return HUB_ERR_CONFIG;
	}
	if (id == HC_CFG_TOKEN_ALG && strcmp(value, "HS256") && strcmp(value, "HS384") &&
		strcmp(value, "HS512")) {
		snprintf(err, errsz, "%s: token_alg must be HS256, HS384 or HS512", where);
		return HUB_ERR_CONFIG;
	}
	if (id == HC_CFG_MAP_ATTRIBUTION && !hc_utf8_valid(value, len)) {
		snprintf(err, errsz, "%s: map_attribution is not valid UTF-8", where);
		return HUB_ERR_CONFIG;
	}
	if (id == HC_CFG_TRUSTED_PROXIES) {
		struct hc_proxies px;
		char why[160];
		if (hc_proxies_parse(value, &px, why, sizeof(why))) {
			snprintf(err, errsz, "%s: %s", where, why);
			return HUB_ERR_CONFIG;
		}
	}
	if (id == HC_CFG_MAP_TILES && *value) {
		char src[512];
		if (!hc_tile_source(value, src, sizeof(src))) {
			snprintf(err, errsz,
				"%s: map_tiles must be an http or https URL template with {z}, {x} "
				"and {y}, like https://tiles.example.com/{z}/{x}/{y}.png, not "
				"'%.60s'",
				where, value);
			return HUB_ERR_CONFIG;
		}
	}
	copy = s->type == T_PATH ? resolve(base, value) : strdup(value);
	if (!copy) {
		snprintf(err, errsz, "%s: out of memory", where);
		return HUB_ERR_NOMEM;
	}
	free(cfg->str[id]);
	cfg->str[id] = copy;
	cfg->num[id] = num;
	return HUB_OK;
}

static char *cwd_dup(void)
{
	char buf[PATH_MAX];
	if (!getcwd(buf, sizeof(buf)))
		return NULL;
	return strdup(buf);
}

int hc_config_defaults(struct hc_config *cfg)
{
	char err[256];
	char *cwd;

	memset(cfg, 0, sizeof(*cfg));
	cwd = cwd_dup();
	for (int i = 0; i < HC_CFG__COUNT; i++) {
		int rc = set_value(cfg, i, table[i].def, cwd, "default", err, sizeof(err));
		if (rc) {
			free(cwd);
			hc_config_free(cfg);
			return rc;
		}
	}
	cfg->base_dir = cwd;
	return HUB_OK;
}

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

int hc_config_load_file(struct hc_config *cfg, const char *path, char *err, size_t errsz)
{
	char line[LINE_MAX_LEN + 2];
	char where[PATH_MAX + 32];
	char *dir = NULL, *abs = NULL, *slash;
	FILE *f = NULL;
	int lineno = 0, rc = HUB_OK;

	abs = realpath(path, NULL);
	if (!abs || !(f = fopen(abs, "r"))) {
		snprintf(err, errsz, "%s: cannot read config file: %s", path, strerror(errno));
		free(abs);
		return HUB_ERR_IO;
	}
	dir = strdup(abs);
	if (!dir) {
		rc = HUB_ERR_NOMEM;
		snprintf(err, errsz, "%s: out of memory", path);
		goto cleanup;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';

	while (fgets(line, sizeof(line), f)) {
		char *p, *eq, *key, *val;
		int id;
		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errsz, "%s: line longer than %d bytes", where, LINE_MAX_LEN);
			rc = HUB_ERR_CONFIG;
			goto cleanup;
		}
		p = trim(line);
		if (*p == '\0' || *p == '#')
			continue;
		eq = strchr(p, '=');
		if (!eq) {
			snprintf(err, errsz, "%s: expected 'name = value', got '%.40s'", where, p);
			rc = HUB_ERR_CONFIG;
			goto cleanup;
		}
		*eq = '\0';
		key = trim(p);
		val = trim(eq + 1);
		if (val[0] == '"') {
			size_t l = strlen(val);
			if (l < 2 || val[l - 1] != '"') {
				snprintf(err, errsz, "%s: unterminated quoted value", where);
				rc = HUB_ERR_CONFIG;
				goto cleanup;
			}
			val[l - 1] = '\0';
			val++;
		}
		id = find(key);
		if (id < 0) {
			snprintf(err, errsz, "%s: unknown setting '%.60s'", where, key);
			rc = HUB_ERR_CONFIG;
			goto cleanup;
		}
		rc = set_value(cfg, id, val, dir, where, err, errsz);
		if (rc)
			goto cleanup;
	}
	if (ferror(f)) {
		snprintf(err, errsz, "%s: read error", path);
		rc = HUB_ERR_IO;
		goto cleanup;
	}
	free(cfg->file);
	cfg->file = abs;
	abs = NULL;
cleanup:
	if (f)
		fclose(f);
	free(dir);
	free(abs);
	return rc;
}

int hc_config_load_env(struct hc_config *cfg, char *err, size_t errsz)
{
	for (int i = 0; i < HC_CFG__COUNT; i++) {
		char env[96] = "HUB_";
		size_t k = 4;
		const char *v;
		for (const char *n = table[i].name; *n && k < sizeof(env) - 1; n++)
			env[k++] = (char)toupper((unsigned char)*n);
		env[k] = '\0';
		v = getenv(env);
		if (v) {
			int rc = set_value(cfg, i, v, cfg->base_dir, env, err, errsz);
			if (rc)
				return rc;
		}
	}
	return HUB_OK;
}

int hc_config_set(struct hc_config *cfg, const char *name, const char *value, const char *source,
	char *err, size_t errsz)
{
	int id = find(name);
	if (id < 0) {
		snprintf(err, errsz, "%s: unknown setting '%.60s'", source, name);
		return HUB_ERR_CONFIG;
	}
	return set_value(cfg, id, value, cfg->base_dir, source, err, errsz);
}

/* conf/hub.conf next to the executable's project: <exe>/../../conf. */
static int exe_conf(char *out, size_t n)
{
	char exe[PATH_MAX];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *s;
	if (l <= 0)
		return -1;
	exe[l] = '\0';
	for (int up = 0; up < 3; up++) {
		s = strrchr(exe, '/');
		if (!s)
			return -1;
		*s = '\0';
	}
	if (hc_fmt(out, n, "%s/conf/hub.conf", exe))
		return -1;
	return access(out, R_OK) == 0 ? 0 : -1;
}

int hc_config_load(struct hc_config *cfg, const char *path, char *err, size_t errsz)
{
	char found[PATH_MAX];
	int rc = hc_config_defaults(cfg);

	if (rc) {
		snprintf(err, errsz, "cannot set up configuration defaults");
		return rc;
	}
	if (!path || !*path)
		path = getenv("HUB_CONFIG");
	if (!path || !*path) {
		if (access("conf/hub.conf", R_OK) == 0)
			path = "conf/hub.conf";
		else if (exe_conf(found, sizeof(found)) == 0)
			path = found;
		else if (access(HC_CONFIG_SYSTEM_FILE, R_OK) == 0)
			path = HC_CONFIG_SYSTEM_FILE;
	}
	if (path && *path) {
		rc = hc_config_load_file(cfg, path, err, errsz);
		if (rc)
			return rc;
	}
	return hc_config_load_env(cfg, err, errsz);
}

void hc_config_free(struct hc_config *cfg)
{
	for (int i = 0; i < HC_CFG__COUNT; i++) {
		free(cfg->str[i]);
		cfg->str[i] = NULL;
	}
	free(cfg->file);
	free(cfg->base_dir);
	cfg->file = cfg->base_dir = NULL;
}

const char *hc_cfg_str(const struct hc_config *cfg, enum hc_setting id)
{
	return cfg->str[id] ? cfg->str[id] : "";
}

int64_t hc_cfg_int(const struct hc_config *cfg, enum hc_setting id)
{
	return cfg->num[id];
}

bool hc_cfg_bool(const struct hc_config *cfg, enum hc_setting id)
{
	return cfg->num[id] != 0;
}

int hc_cfg_list_next(const struct hc_config *cfg, enum hc_setting id, size_t *pos,
	const char **item, size_t *len)
{
	const char *s = hc_cfg_str(cfg, id);
	size_t n = strlen(s);

	while (*pos < n) {
		size_t start = *pos, end;
		const char *comma = memchr(s + start, ',', n - start);
		end = comma ? (size_t)(comma - s) : n;
		*pos = comma ? end + 1 : n;
		while (start < end && (s[start] == ' ' || s[start] == '\t'))
			start++;
		while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
			end--;
		if (end > start) {
			*item = s + start;
			*len = end - start;
			return 1;
		}
	}
	return 0;
}

bool hc_cfg_list_has(const struct hc_config *cfg, enum hc_setting id, const char *item, size_t len)
{
	size_t pos = 0, l;
	const char *it;
	while (hc_cfg_list_next(cfg, id, &pos, &it, &l))
		if (l == len && memcmp(it, item, len) == 0)
			return true;
	return false;
}

int hc_config_db_path(const struct hc_config *cfg, char *out, size_t n)
{
	const char *store = hc_cfg_str(cfg, HC_CFG_STORE);
	if (store && store[0])
		return hc_fmt(out, n, "%s", store); /* PostgreSQL (hc_db.h) */
	return hc_fmt(out, n, "%s/hub.db", hc_cfg_str(cfg, HC_CFG_DATA_DIR));
}

int hc_config_sync_dir(const struct hc_config *cfg, char *out, size_t n)
{
	return hc_fmt(out, n, "%s/sync", hc_cfg_str(cfg, HC_CFG_DATA_DIR));
}

int hc_config_key_path(const struct hc_config *cfg, char *out, size_t n)
{
	const char *k = hc_cfg_str(cfg, HC_CFG_KEY_FILE);
	if (*k)
		return hc_fmt(out, n, "%s", k);
	return hc_fmt(out, n, "%s/token.key", hc_cfg_str(cfg, HC_CFG_DATA_DIR));
}

const char *hc_setting_name(enum hc_setting id)
{
	return table[id].name;
}

const char *hc_setting_help(enum hc_setting id)
{
	return table[id].help;
}

const char *hc_setting_default(enum hc_setting id)
{
	return table[id].def;
}
