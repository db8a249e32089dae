/* SPDX-License-Identifier: MIT */
/* The request handlers, one file each (route_*.c). lws thread only. */
#ifndef HUB_ROUTES_H
#define HUB_ROUTES_H

#include "http.h"

int hub_route_login(struct hub *h, struct hub_conn *c);	  /* POST /api/login */
int hub_route_session(struct hub *h, struct hub_conn *c); /* GET /api/session */
int hub_route_token(struct hub *h, struct hub_conn *c);	  /* POST /api/token */
int hub_route_logout(struct hub *h, struct hub_conn *c);  /* POST /api/logout */
int hub_route_health(struct hub *h, struct hub_conn *c);  /* GET /healthz */
int hub_route_metrics(struct hub *h, struct hub_conn *c); /* GET /metrics */
int hub_route_config(struct hub *h, struct hub_conn *c);  /* GET /api/config */
int hub_route_publish(struct hub *h, struct hub_conn *c); /* POST /api/publish */
/* GET /api/rooms/{room}/messages */
int hub_route_history(struct hub *h, struct hub_conn *c);
/* POST /api/deliveries, DELETE /api/deliveries/{id} */
int hub_route_delivery_open(struct hub *h, struct hub_conn *c);
int hub_route_delivery_close(struct hub *h, struct hub_conn *c);

/*
 * GET/HEAD of anything outside /api: a file under web_dir, or the built-in
 * pages; /app/... a file under app_dir (with app_csp). Returns 0 with a response prepared, 1 when
 * lws took over sending a file (the transaction ends in LWS_CALLBACK_HTTP_FILE_COMPLETION), -1 to
 * close the connection.
 */
int hub_route_static(struct hub *h, struct hub_conn *c);

/* Built-in assets: the stand-in page shown while the dashboard is not
 * built, and its script and style. */
struct hub_builtin {
	const char *path, *type, *body;
	size_t len;
};
/* The built-in asset for path, or NULL. with_index: whether "/" and
 * "/index.html" are built in (web_dir has no index.html). */
const struct hub_builtin *hub_builtin_find(const char *path, bool with_index);

#endif
