/* SPDX-License-Identifier: MIT */
/*
 * Sessions made by a service for an application with its own login
 * (CONTRACT.md "Backends", POST/DELETE /api/sessions): the app checked the
 * user's password itself and asks the hub, with its service key, for a hub
 * session of that user. One store transaction makes the user when asked
 * (with no password: it can never log in with one), sets its display
 * name, grants the rooms and creates the session (kind "app"), remembering
 * which service made it: only that service may end it.
 *
 * Both functions compose into a caller's open transaction (hc_store_tx),
 * so hubd adds the login/logout webhook rows to the same commit. They take
 * a store handle of the calling thread and return HUB_OK or HUB_ERR_*.
 */
#ifndef HC_APP_SESSION_H
#define HC_APP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_store.h"

#define HC_APP_SESSION_KIND "app"
/* rooms one request may grant */
#define HC_APP_SESSION_ROOMS_MAX 256

struct hc_app_room {
	const char *room;
	int level; /* enum hc_level, READ..ADMIN */
};

struct hc_app_session_req {
	const char *service;	  /* the calling service (a service key's name) */
	const char *user;	  /* a user name */
	const char *display_name; /* NULL: keep it (a new user: its name) */
	bool create;		  /* make the user if there is none */
	const struct hc_app_room *rooms;
	size_t nrooms; /* at most HC_APP_SESSION_ROOMS_MAX */
	int64_t ttl;   /* session lifetime, s */
	const char *addr;
};

struct hc_app_session {
	char sid[HC_SID_LEN + 1];
	char secret[HC_SECRET_LEN + 1]; /* the cookie value; wipe after use */
	struct hc_principal user;	/* as it is after the request */
	bool created;			/* the user was made now */
	const char *missing_room;	/* HUB_ERR_NOTFOUND for a room: which (in req) */
};

/*
 * Make the user if asked, set its display name, grant the rooms (each to
 * the level given; rooms not named are left as they are) and create the
 * session, all or nothing. HUB_ERR_NOTFOUND: no such user (create false;
 * out->missing_room NULL) or no such room (out->missing_room names it:
 * rooms are never made here); HUB_ERR_EXISTS: the name is a device or a
 * service; HUB_ERR_DENIED: the user is an admin (an admin's session comes
 * from a login with the admin's own password, never from a service key);
 * HUB_ERR_INVAL: a bad name, level or display name.
 */
int hc_app_session_create(
	struct hc_store *st, const struct hc_app_session_req *req, struct hc_app_session *out);

/*
 * End a session made by service with hc_app_session_create (reason
 * "logout"); *out gets the session as it was. HUB_ERR_NOTFOUND: no such
 * session; HUB_ERR_DENIED: another service's session, or one not made by a
 * service (a login's); HUB_ERR_REVOKED: it had ended already (revoked or
 * expired: nothing changed).
 */
int hc_app_session_end(
	struct hc_store *st, const char *service, const char *sid, struct hc_session *out);

#endif
