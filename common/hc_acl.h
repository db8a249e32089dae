/* SPDX-License-Identifier: MIT */
/*
 * Rooms-as-topics access control: the in-memory directory (principals,
 * rooms, memberships, sessions) and THE decision function. The broker
 * plugin, the Socket.IO gateway and `hubctl explain` all decide with
 * hc_acl_check on a directory; there is no second copy of the rules.
 *
 * Topics (CONTRACT.md "Topics: rooms as topics"):
 *   rooms/{room}/ev/{event}/{sender}   write: sender == self, level >= write
 *                                      read: level >= read
 *   rooms/{room}/sys/{notice}          write: hub only; read: level >= read
 *   rooms/{room}/presence/{user}       write: hub only; read: level >= read
 *   users/{user}/inbox/{event}/{sender} write: sender == self, sharing a room
 *                                      with user (or user == self); read: user
 *   users/{user}/sys/{notice}          write: hub only; read: user
 *   users/{user}/status                write: user; read: user, room-mates
 *                                      (and admins, of devices)
 *   owntracks/{device}/{name}[/...]    write: that device; read: the device,
 *                                      its owner, readers of its rooms (and
 *                                      admins, owntracks/{device}/{name} only)
 * The hub's own service identity (HC_SERVICE_PRINCIPAL) may do anything.
 *
 * Cost: a check splits the topic once (no allocation) and does a few hash
 * lookups; the room-mate rules walk the smaller room set of two principals.
 * A directory belongs to one thread (the broker's, or the bridge's loop).
 */
#ifndef HC_ACL_H
#define HC_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_hmap.h"
#include "hc_names.h"

#define HC_SERVICE_PRINCIPAL "$hub"

struct hc_store;
struct hc_principal;
struct hc_session;

enum hc_acl_access {
	HC_ACL_READ = 1,
	HC_ACL_WRITE = 2,
	HC_ACL_SUBSCRIBE = 4,
	HC_ACL_UNSUBSCRIBE = 8,
};

struct hc_acl_decision {
	bool allow;
	const char *rule; /* short static reason; or text when explain is set */
	bool explain;	  /* set before the call to get a full sentence */
	char text[320];
};

struct hc_dir_principal {
	char name[HC_NAME_MAX + 1];
	int kind;		       /* enum hc_kind (hc_store.h) */
	bool admin;		       /* role admin (users) */
	char owner[HC_NAME_MAX + 1];   /* devices */
	unsigned char secret_hash[32]; /* devices: SHA-256 of the secret */
	bool has_secret;
	char display_name[129];
	struct hc_hmap rooms; /* room name -> (void *)(intptr_t)level */
	int owned_devices;    /* users: devices they own */
	int64_t created_at;   /* store's created_at: tells a re-created name apart */
};

struct hc_dir_room {
	char name[HC_NAME_MAX + 1];
	char hook[HC_NAME_MAX + 1]; /* the service that checks its events, "" */
	struct hc_hmap members;	    /* principal -> (void *)(intptr_t)level */
	int devices;		    /* members that are devices */
	int64_t created_at;	    /* store's created_at (0 if not known) */
};

struct hc_dir_session {
	char sid[24];
	char principal[HC_NAME_MAX + 1];
	int64_t expires_at, revoked_at;
	char reason[16];
};

struct hc_acl_dir {
	struct hc_hmap principals; /* name -> struct hc_dir_principal */
	struct hc_hmap rooms;	   /* name -> struct hc_dir_room */
	struct hc_hmap sessions;   /* sid -> struct hc_dir_session */
	int64_t seq;		   /* change_log position it reflects */
};

/* ---- the decision ---- */

/* Decide whether principal (NUL-terminated) may access topic (topic_len
 * bytes; a filter for SUBSCRIBE/UNSUBSCRIBE). Never fails: malformed input
 * is a deny with a reason. d->explain must be set (or cleared) by the
 * caller. */
void hc_acl_check(const struct hc_acl_dir *dir, const char *principal, const char *topic,
	size_t topic_len, int access, struct hc_acl_decision *d);

/* Helpers behind the rules, also used by presence and the gateway. */
int hc_dir_level(
	const struct hc_acl_dir *dir, const char *room, size_t rlen, const char *principal);
bool hc_dir_shares_room(const struct hc_acl_dir *dir, const char *a, const char *b, size_t blen);
bool hc_dir_can_read_device(
	const struct hc_acl_dir *dir, const char *reader, const char *dev, size_t dlen);

/* ---- the directory ---- */

int hc_acl_dir_new(struct hc_acl_dir **out);
void hc_acl_dir_free(struct hc_acl_dir *dir);
/* Load everything from the store in one read transaction (sets dir->seq). */
int hc_acl_dir_load(struct hc_store *st, struct hc_acl_dir **out, char *err, size_t errsz);

const struct hc_dir_principal *hc_dir_principal(
	const struct hc_acl_dir *dir, const char *name, size_t len);
const struct hc_dir_room *hc_dir_room(const struct hc_acl_dir *dir, const char *name, size_t len);
const struct hc_dir_session *hc_dir_session(const struct hc_acl_dir *dir, const char *sid);

/* Mutations (loader and follower). secret_hash_hex may be NULL. */
int hc_dir_put_principal(
	struct hc_acl_dir *dir, const struct hc_principal *p, const char *secret_hash_hex);
void hc_dir_del_principal(struct hc_acl_dir *dir, const char *name);
int hc_dir_put_room(struct hc_acl_dir *dir, const char *name);
/* Same, recording the room's creation time (a room re-created under the
 * same name between two looks at the store gets its new time). */
int hc_dir_put_room_at(struct hc_acl_dir *dir, const char *name, int64_t created_at);
/* Set (or clear, hook NULL or "") the service that checks a room's events.
 * HUB_ERR_NOTFOUND if there is no such room. */
int hc_dir_set_room_hook(struct hc_acl_dir *dir, const char *room, const char *hook);
void hc_dir_del_room(struct hc_acl_dir *dir, const char *name);
/* level HC_LEVEL_NONE removes the membership. Unknown room or principal:
 * HUB_ERR_NOTFOUND, nothing changes. */
int hc_dir_set_level(struct hc_acl_dir *dir, const char *room, const char *principal, int level);
int hc_dir_put_session(struct hc_acl_dir *dir, const struct hc_session *s);
void hc_dir_del_session(struct hc_acl_dir *dir, const char *sid);

#endif
