/* SPDX-License-Identifier: MIT */
/*
 * The in-memory directory the ACL decides on: principals with their room
 * levels, rooms with their members, sessions. Filled from the store in one
 * read transaction, then kept current by hc_follow.
 */
#include "hc_acl.h"
#include "hc_err.h"
#include "hc_store.h"
#include "hc_util.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hc_acl_dir_new(struct hc_acl_dir **out)
{
	struct hc_acl_dir *d = calloc(1, sizeof(*d));
	*out = d;
	if (!d)
		return HUB_ERR_NOMEM;
	hc_hmap_init(&d->principals);
	hc_hmap_init(&d->rooms);
	hc_hmap_init(&d->sessions);
	return HUB_OK;
}

static int free_principal(void *ud, const char *key, void *value)
{
	struct hc_dir_principal *p = value;
	(void)ud;
	(void)key;
	hc_hmap_clear(&p->rooms);
	free(p);
	return 0;
}

static int free_room(void *ud, const char *key, void *value)
{
	struct hc_dir_room *r = value;
	(void)ud;
	(void)key;
	hc_hmap_clear(&r->members);
	free(r);
	return 0;
}

static int free_plain(void *ud, const char *key, void *value)
{
	(void)ud;
	(void)key;
	free(value);
	return 0;
}

void hc_acl_dir_free(struct hc_acl_dir *d)
{
	if (!d)
		return;
	hc_hmap_each(&d->principals, free_principal, NULL);
	hc_hmap_each(&d->rooms, free_room, NULL);
	hc_hmap_each(&d->sessions, free_plain, NULL);
	hc_hmap_clear(&d->principals);
	hc_hmap_clear(&d->rooms);
	hc_hmap_clear(&d->sessions);
	free(d);
}

const struct hc_dir_principal *hc_dir_principal(
	const struct hc_acl_dir *d, const char *name, size_t len)
{
	return hc_hmap_get(&d->principals, name, len);
}

const struct hc_dir_room *hc_dir_room(const struct hc_acl_dir *d, const char *name, size_t len)
{
	return hc_hmap_get(&d->rooms, name, len);
}

const struct hc_dir_session *hc_dir_session(const struct hc_acl_dir *d, const char *sid)
{
	return hc_hmap_get(&d->sessions, sid, strlen(sid));
}

static int unhex(const char *hex, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int v = 0;
		for (int k = 0; k < 2; k++) {
			char c = hex[2 * i + k];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= c - '0';
			else if (c >= 'a' && c <= 'f')
				v |= c - 'a' + 10;
			else if (c >= 'A' && c <= 'F')
				v |= c - 'A' + 10;
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

static void owner_count(struct hc_acl_dir *d, const char *owner, int delta)
{
	struct hc_dir_principal *o;
	if (!owner[0])
		return;
	o = hc_hmap_get(&d->principals, owner, strlen(owner));
	if (o)
		o->owned_devices += delta;
}

struct kind_ud {
	struct hc_acl_dir *d;
	int delta;
};

/* A member changed kind (user <-> device): its rooms' device counters follow. */
static int kind_changed(void *ud, const char *room, void *value)
{
	struct kind_ud *k = ud;
	struct hc_dir_room *r = hc_hmap_get(&k->d->rooms, room, strlen(room));
	(void)value;
	if (r)
		r->devices += k->delta;
	return 0;
}

int hc_dir_put_principal(
	struct hc_acl_dir *d, const struct hc_principal *src, const char *secret_hash_hex)
{
	size_t len = strlen(src->name);
	struct hc_dir_principal *p = hc_hmap_get(&d->principals, src->name, len);
	bool fresh = false;

	if (!p) {
		p = calloc(1, sizeof(*p));
		if (!p)
			return HUB_ERR_NOMEM;
		hc_hmap_init(&p->rooms);
		snprintf(p->name, sizeof(p->name), "%s", src->name);
		if (hc_hmap_put(&d->principals, p->name, len, p, NULL)) {
			free(p);
			return HUB_ERR_NOMEM;
		}
		fresh = true;
	}
	if (!fresh && p->kind == HC_KIND_DEVICE)
		owner_count(d, p->owner, -1);
	if (!fresh && p->kind != src->kind) {
		struct kind_ud k = {d, src->kind == HC_KIND_DEVICE ? 1 : -1};
		hc_hmap_each(&p->rooms, kind_changed, &k);
	}
	p->kind = src->kind;
	p->admin = strcmp(src->role, "admin") == 0;
	snprintf(p->owner, sizeof(p->owner), "%s", src->kind == HC_KIND_DEVICE ? src->owner : "");
	snprintf(p->display_name, sizeof(p->display_name), "%s", src->display_name);
	p->created_at = src->created_at;
	p->has_secret = secret_hash_hex && strlen(secret_hash_hex) == 64 &&
			unhex(secret_hash_hex, p->secret_hash, 32) == 0;
	if (!p->has_secret)
		memset(p->secret_hash, 0, sizeof(p->secret_hash));
	if (p->kind == HC_KIND_DEVICE)
		owner_count(d, p->owner, +1);
	return HUB_OK;
}

static int drop_member_of(void *ud, const char *room, void *value)
{
	struct hc_acl_dir *d = ((void **)ud)[0];
	struct hc_dir_principal *p = ((void **)ud)[1];
	struct hc_dir_room *r = hc_hmap_get(&d->rooms, room, strlen(room));
	(void)value;
	if (r && hc_hmap_del(&r->members, p->name, strlen(p->name)) && p->kind == HC_KIND_DEVICE)
		r->devices--;
	return 0;
}

void hc_dir_del_principal(struct hc_acl_dir *d, const char *name)
{
	struct hc_dir_principal *p = hc_hmap_del(&d->principals, name, strlen(name));
	void *ud[2] = {d, p};
	if (!p)
		return;
	hc_hmap_each(&p->rooms, drop_member_of, ud);
	if (p->kind == HC_KIND_DEVICE)
		owner_count(d, p->owner, -1);
	free_principal(NULL, NULL, p);
}

int hc_dir_put_room(struct hc_acl_dir *d, const char *name)
{
	return hc_dir_put_room_at(d, name, 0);
}

int hc_dir_put_room_at(struct hc_acl_dir *d, const char *name, int64_t created_at)
{
	size_t len = strlen(name);
	struct hc_dir_room *r = hc_hmap_get(&d->rooms, name, len);
	if (r) {
		if (created_at)
			r->created_at = created_at;
		return HUB_OK;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return HUB_ERR_NOMEM;
	hc_hmap_init(&r->members);
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->created_at = created_at;
	if (hc_hmap_put(&d->rooms, r->name, len, r, NULL)) {
		free(r);
		return HUB_ERR_NOMEM;
	}
	return HUB_OK;
}

int hc_dir_set_room_hook(struct hc_acl_dir *d, const char *room, const char *hook)
{
	struct hc_dir_room *r = hc_hmap_get(&d->rooms, room, strlen(room));
	if (!r)
		return HUB_ERR_NOTFOUND;
	snprintf(r->hook, sizeof(r->hook), "%s", hook ? hook : "");
	return HUB_OK;
}

static int drop_room_of(void *ud, const char *principal, void *value)
{
	struct hc_acl_dir *d = ((void **)ud)[0];
	struct hc_dir_room *r = ((void **)ud)[1];
	struct hc_dir_principal *p = hc_hmap_get(&d->principals, principal, strlen(principal));
	(void)value;
	if (p)
		hc_hmap_del(&p->rooms, r->name, strlen(r->name));
	return 0;
}

void hc_dir_del_room(struct hc_acl_dir *d, const char *name)
{
	struct hc_dir_room *r = hc_hmap_del(&d->rooms, name, strlen(name));
	void *ud[2] = {d, r};
	if (!r)
		return;
	hc_hmap_each(&r->members, drop_room_of, ud);
	free_room(NULL, NULL, r);
}

int hc_dir_set_level(struct hc_acl_dir *d, const char *room, const char *principal, int level)
{
	struct hc_dir_room *r = hc_hmap_get(&d->rooms, room, strlen(room));
	struct hc_dir_principal *p = hc_hmap_get(&d->principals, principal, strlen(principal));
	void *old = NULL;

	if (!r || !p)
		return level == HC_LEVEL_NONE ? HUB_OK : HUB_ERR_NOTFOUND;
	if (level == HC_LEVEL_NONE) {
		if (hc_hmap_del(&r->members, p->name, strlen(p->name)) && p->kind == HC_KIND_DEVICE)
			r->devices--;
		hc_hmap_del(&p->rooms, r->name, strlen(r->name));
		return HUB_OK;
	}
	if (hc_hmap_put(&p->rooms, r->name, strlen(r->name), (void *)(intptr_t)level, NULL))
		return HUB_ERR_NOMEM;
	if (hc_hmap_put(&r->members, p->name, strlen(p->name), (void *)(intptr_t)level, &old)) {
		hc_hmap_del(&p->rooms, r->name, strlen(r->name));
		return HUB_ERR_NOMEM;
	}
	if (!old && p->kind == HC_KIND_DEVICE)
		r->devices++;
	return HUB_OK;
}

int hc_dir_put_session(struct hc_acl_dir *d, const struct hc_session *s)
{
	size_t len = strlen(s->sid);
	struct hc_dir_session *o = hc_hmap_get(&d->sessions, s->sid, len);
	if (len >= sizeof(o->sid))
		return HUB_ERR_INVAL;
	if (!o) {
		o = calloc(1, sizeof(*o));
		if (!o)
			return HUB_ERR_NOMEM;
		memcpy(o->sid, s->sid, len + 1);
		if (hc_hmap_put(&d->sessions, o->sid, len, o, NULL)) {
			free(o);
			return HUB_ERR_NOMEM;
		}
	}
	snprintf(o->principal, sizeof(o->principal), "%s", s->principal);
	o->expires_at = s->expires_at;
	o->revoked_at = s->revoked_at;
	snprintf(o->reason, sizeof(o->reason), "%s", s->reason);
	return HUB_OK;
}

void hc_dir_del_session(struct hc_acl_dir *d, const char *sid)
{
	free(hc_hmap_del(&d->sessions, sid, strlen(sid)));
}

/* ------------------------------------------------------------- loading */

int hc_acl_dir_load(struct hc_store *st, struct hc_acl_dir **out, char *err, size_t errsz)
{
	static const char *const q[] = {
		NULL, /* the change log position: hc_store_change_seq's query */
		"SELECT name, kind, display_name, role, coalesce(owner, ''), "
		"coalesce(secret_hash, ''), created_at FROM principals WHERE kind = 'user'",
		"SELECT name, kind, display_name, role, coalesce(owner, ''), "
		"coalesce(secret_hash, ''), created_at FROM principals WHERE kind = 'device'",
		"SELECT name, created_at FROM rooms",
		"SELECT room, principal, level FROM memberships",
		"SELECT sid, principal, expires_at, revoked_at, reason FROM sessions",
		"SELECT name, key_hash, created_at FROM service_keys",
		"SELECT name, hook FROM rooms WHERE hook != ''",
	};
	struct hc_acl_dir *d = NULL;
	struct hc_db_stmt *s = NULL;
	int rc, step = HC_DB_DONE;

	*out = NULL;
	rc = hc_acl_dir_new(&d);
	if (rc)
		goto fail;
	/* one read transaction: the snapshot and its change seq agree */
	rc = hc_db_read_begin(st);
	if (rc)
		goto fail;
	for (size_t i = 0; i < sizeof(q) / sizeof(q[0]) && !rc; i++) {
		if (i == 0) {
			rc = hc_store_change_seq(st, &d->seq);
			continue;
		}
		rc = hc_db_prep(st, &s, q[i], "");
		if (rc)
			break;
		while (!rc && (step = hc_db_step(s)) == HC_DB_ROW) {
			if (i <= 2) {
				struct hc_principal p;
				char hash[80], kind[8];
				memset(&p, 0, sizeof(p));
				hc_db_col(s, 0, p.name, sizeof(p.name));
				hc_db_col(s, 1, kind, sizeof(kind));
				p.kind = strcmp(kind, "device") ? HC_KIND_USER : HC_KIND_DEVICE;
				hc_db_col(s, 2, p.display_name, sizeof(p.display_name));
				hc_db_col(s, 3, p.role, sizeof(p.role));
				hc_db_col(s, 4, p.owner, sizeof(p.owner));
				hc_db_col(s, 5, hash, sizeof(hash));
				p.created_at = hc_db_int64(s, 6);
				rc = hc_dir_put_principal(d, &p, hash[0] ? hash : NULL);
			} else if (i == 3) {
				rc = hc_dir_put_room_at(d, hc_db_text(s, 0), hc_db_int64(s, 1));
			} else if (i == 4) {
				rc = hc_dir_set_level(
					d, hc_db_text(s, 0), hc_db_text(s, 1), hc_db_int(s, 2));
				if (rc == HUB_ERR_NOTFOUND)
					rc = HUB_OK;
			} else if (i == 6) {
				struct hc_principal p;
				char hash[80];
				memset(&p, 0, sizeof(p));
				hc_db_col(s, 0, p.name, sizeof(p.name));
				p.kind = HC_KIND_SERVICE;
				snprintf(p.role, sizeof(p.role), "user");
				hc_db_col(s, 1, hash, sizeof(hash));
				p.created_at = hc_db_int64(s, 2);
				/* a legacy key named like a user or device stays out */
				if (!hc_dir_principal(d, p.name, strlen(p.name)))
					rc = hc_dir_put_principal(d, &p, hash);
			} else if (i == 7) {
				char room[HC_NAME_MAX + 1], hook[HC_NAME_MAX + 1];
				hc_db_col(s, 0, room, sizeof(room));
				hc_db_col(s, 1, hook, sizeof(hook));
				hc_dir_set_room_hook(d, room, hook);
			} else {
				struct hc_session ss;
				memset(&ss, 0, sizeof(ss));
				hc_db_col(s, 0, ss.sid, sizeof(ss.sid));
				hc_db_col(s, 1, ss.principal, sizeof(ss.principal));
				ss.expires_at = hc_db_int64(s, 2);
				ss.revoked_at = hc_db_int64(s, 3);
				hc_db_col(s, 4, ss.reason, sizeof(ss.reason));
				rc = hc_dir_put_session(d, &ss);
			}
		}
		if (!rc && step != HC_DB_DONE)
			rc = step == HC_DB_ROW ? HUB_ERR_DB : step;
		hc_db_finalize(s);
		s = NULL;
	}
	hc_db_read_end(st);
	if (rc)
		goto fail;
	*out = d;
	return HUB_OK;
fail:
	snprintf(err, errsz, "cannot load the directory: %s (%s)", hub_strerror(rc),
		hc_store_errmsg(st));
	hc_acl_dir_free(d);
	return rc;
}
