/* SPDX-License-Identifier: MIT */
/* Store internals shared by the store's own files. */
#ifndef HC_STORE_INTERNAL_H
#define HC_STORE_INTERNAL_H

#include "hc_store.h"
#include <sqlite3.h>

extern const char *const hc_store__migrations[];
extern const int hc_store__migration_count;

struct hc_store {
	sqlite3 *db;
	int mode;
};

#endif
