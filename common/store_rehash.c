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
	struct hc_db_stmt *s = NULL;
	int rc = hc_db_prep(st, &s,
		"UPDATE principals SET pw_hash = ?3 "
		"WHERE name = ?1 AND kind = 'user' AND pw_hash = ?2",
		"sss", a->name, a->old_hash, a->new_hash);
	if (rc)
		return rc;
	rc = hc_db_done(s);
	if (rc)
		return rc;
	a->changed = (int)hc_db_changes(st);
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
