/* SPDX-License-Identifier: MIT */
/*
 * Who is calling an admin/backend route: a backend with a service key
 * (Authorization: Bearer <key>) or an admin user with the session cookie.
 */
#ifndef HUB_ACTOR_H
#define HUB_ACTOR_H

#include "hc_names.h"

struct hub;
struct hub_conn;

/* Fill name with the service key's name or the admin's username. HUB_OK, or
 * non-zero with the error response prepared (401 unauthorized, 403
 * forbidden for a non-admin user, 503 on store errors). */
int hub_actor_require(struct hub *h, struct hub_conn *c, char name[HC_NAME_MAX + 1]);

/* The same for routes only a backend may use (POST/DELETE /api/sessions):
 * a service key and nothing else; an admin's cookie gets 401 too. */
int hub_service_require(struct hub *h, struct hub_conn *c, char name[HC_NAME_MAX + 1]);

#endif
