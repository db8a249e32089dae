/* SPDX-License-Identifier: MIT */
/*
 * Upgrading a stored password hash after a successful login, when it was
 * made with older scrypt parameters (hc_password_needs_rehash). The swap
 * is conditional, so a password changed meanwhile (hubctl user passwd) is
 * never overwritten with the old one. Same threading rules as hc_store.h.
 */
#ifndef HC_STORE_REHASH_H
#define HC_STORE_REHASH_H

struct hc_store;

/* Replace user name's hash old_hash by new_hash if it is still old_hash.
 * HUB_OK if replaced; HUB_ERR_NOTFOUND if the user is gone or its hash
 * changed in between; HUB_ERR_INVAL, HUB_ERR_BUSY, HUB_ERR_DB. Does not
 * end sessions (the password is the same). */
int hc_store_user_rehash(
	struct hc_store *st, const char *name, const char *old_hash, const char *new_hash);

#endif
