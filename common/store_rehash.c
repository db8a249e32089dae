/* SPDX-License-Identifier: MIT */
/* Conditional password-hash upgrade (see hc_store_rehash.h). */
#include "hc_store_rehash.h"
#include "hc_err.h"
#include "hc_names.h"
#include "store_internal.h"

struct rehash_args {
	const char *name, *old_hash, *new_hash;
	int changed;
};

static int rehash_fn(struct hc_store *st, void *ud)
{
	struct rehash_args *a = ud;
	sqlite3_stmt *s = NULL;
	int rc;

	if (sqlite3_prepare_v2(st->db,
		    "UPDATE principals SET pw_hash = ?3 "
		    "WHERE name = ?1 AND kind = 'user' AND pw_hash = ?2",
		    -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	if (sqlite3_bind_text(s, 1, a->name, -1, SQLITE_STATIC) != SQLITE_OK ||
		sqlite3_bind_text(s, 2, a->old_hash, -1, SQLITE_STATIC) != SQLITE_OK ||
		sqlite3_bind_text(s, 3, a->new_hash, -1, SQLITE_STATIC) != SQLITE_OK) {
		sqlite3_finalize(s);
		return HUB_ERR_DB;
	}
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
		return HUB_ERR_BUSY;
	if (rc != SQLITE_DONE)
		return HUB_ERR_DB;
	a->changed = sqlite3_changes(st->db);
	return HUB_OK;
}

int hc_store_user_rehash(
	struct hc_store *st, const char *name, const char *old_hash, const char *new_hash)
{
	struct rehash_args a = {name, old_hash, new_hash, 0};
	int rc;

	if (!hc_name_valid(name) || !old_hash || !new_hash || !*new_hash)
		return HUB_ERR_INVAL;
	rc = hc_store_tx(st, rehash_fn, &a);
	if (rc)
		return rc;
	return a.changed ? HUB_OK : HUB_ERR_NOTFOUND;
}
