/* SPDX-License-Identifier: MIT */
/*
 * Device credentials: who each simulated vehicle logs in as. From
 * --device/--secret (or HUB_TRACKER_SECRET), from a --devices file, or
 * from <data_dir>/demo-devices.txt (--demo). File format, one device a
 * line: "ID SECRET" separated by blanks; '#' starts a comment line; blank
 * lines are skipped. Secrets are kept in memory only as long as the
 * credentials live, wiped on free, and never logged.
 */
#ifndef TRK_CREDS_H
#define TRK_CREDS_H

#include <stddef.h>

#include "hc_hmap.h"
#include "hc_names.h"

#define TRK_SECRET_MAX	   256	  /* longest secret accepted */
#define TRK_DEVICES_MAX	   100000 /* devices in one process */
#define TRK_CREDS_LINE_MAX 1024

struct trk_cred {
	char id[HC_NAME_MAX + 1];
	char *secret; /* owned, wiped on free */
};

struct trk_creds {
	struct trk_cred *v; /* owned, n entries */
	size_t n, cap;
	struct hc_hmap ids; /* id -> 1, to refuse duplicates */
};

/* An empty list. */
void trk_creds__init(struct trk_creds *c);

/* Add one device. HUB_ERR_INVAL (bad id, empty or too long secret),
 * HUB_ERR_EXISTS (the id is already in the list), HUB_ERR_TOOBIG (more
 * than TRK_DEVICES_MAX), HUB_ERR_NOMEM; err says which. */
int trk_creds__add(
	struct trk_creds *c, const char *id, const char *secret, char *err, size_t errsz);
/* Add every device of a file. Errors name the file and line. Warns (log)
 * when the file is readable by group or others. */
int trk_creds__load_file(struct trk_creds *c, const char *path, char *err, size_t errsz);
/* Wipe the secrets and free. NULL-safe. */
void trk_creds__free(struct trk_creds *c);

#endif
