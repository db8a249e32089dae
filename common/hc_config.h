/* SPDX-License-Identifier: MIT */
/*
 * Configuration: one table (hc_settings.def) declares every setting; values
 * come from defaults, then the file (conf/hub.conf or --config/HUB_CONFIG),
 * then HUB_* environment variables, then flags (hc_config_set). A bad line
 * yields an error text with the file, the line number and what is wrong.
 *
 * File syntax: "name = value" per line; '#' starts a comment line; blank
 * lines ignored; values may be wrapped in double quotes.
 */
#ifndef HC_CONFIG_H
#define HC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hc_setting {
#define HC_SETTING(id, name, type, def, min, max, help) HC_CFG_##id,
#include "hc_settings.def"
#undef HC_SETTING
	HC_CFG__COUNT
};

struct hc_config {
	char *str[HC_CFG__COUNT];   /* owned; every setting as text */
	int64_t num[HC_CFG__COUNT]; /* INT and BOOL settings, parsed */
	char *file;		    /* owned; the file read, or NULL */
	char *base_dir;		    /* owned; directory relative paths start from */
};

/* Fill cfg with defaults. base_dir for relative paths is the cwd. */
int hc_config_defaults(struct hc_config *cfg);
/* Read a file over the current values. On error returns HUB_ERR_CONFIG (or
 * HUB_ERR_IO) and writes "file:line: what" into err. */
int hc_config_load_file(struct hc_config *cfg, const char *path, char *err, size_t errsz);
/* Apply HUB_<NAME> environment variables. Same error convention. */
int hc_config_load_env(struct hc_config *cfg, char *err, size_t errsz);
/* Set one value by name (flags). source names the origin in errors. */
int hc_config_set(struct hc_config *cfg, const char *name, const char *value, const char *source,
	char *err, size_t errsz);
/* The installed configuration (scripts/install), the last place looked. */
#define HC_CONFIG_SYSTEM_FILE "/etc/hub/hub.conf"

/*
 * The usual sequence for a process: defaults; the file given (or
 * HUB_CONFIG, or conf/hub.conf in the working directory, or conf/hub.conf
 * next to the executable's project, or HC_CONFIG_SYSTEM_FILE, the first
 * that exists, or none); environment. path may be NULL.
 */
int hc_config_load(struct hc_config *cfg, const char *path, char *err, size_t errsz);
void hc_config_free(struct hc_config *cfg);

/* Accessors. Strings are borrowed until hc_config_free. PATH settings come
 * back absolute. */
const char *hc_cfg_str(const struct hc_config *cfg, enum hc_setting id);
int64_t hc_cfg_int(const struct hc_config *cfg, enum hc_setting id);
bool hc_cfg_bool(const struct hc_config *cfg, enum hc_setting id);
/* Whether item (len bytes) is one of the comma-separated entries of a LIST
 * setting (entries are trimmed). */
bool hc_cfg_list_has(const struct hc_config *cfg, enum hc_setting id, const char *item, size_t len);
/* Iterate a LIST: *pos starts at 0; returns 1 and sets item/len for each
 * entry, 0 at the end. */
int hc_cfg_list_next(const struct hc_config *cfg, enum hc_setting id, size_t *pos,
	const char **item, size_t *len);

/* Derived paths (into out, size n): the store (the `store` setting when
 * set: a PostgreSQL conninfo, never to be logged as is; else
 * <data_dir>/hub.db) and the key file. */
int hc_config_db_path(const struct hc_config *cfg, char *out, size_t n);
int hc_config_key_path(const struct hc_config *cfg, char *out, size_t n);
/* data_dir/sync: where store followers listen for writers (hc_sync.h) */
int hc_config_sync_dir(const struct hc_config *cfg, char *out, size_t n);

/* Table access for --help texts and docs. */
const char *hc_setting_name(enum hc_setting id);
const char *hc_setting_help(enum hc_setting id);
const char *hc_setting_default(enum hc_setting id);

#endif
