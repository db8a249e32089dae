/* SPDX-License-Identifier: MIT */
/* The live session behind a request's hub_sid cookie. lws thread only. */
#ifndef HUB_SESSION_H
#define HUB_SESSION_H

#include "hc_store.h"

struct hub;
struct hub_conn;

/*
 * Find the live session of c's cookie into *out. HUB_OK, or non-zero with
 * the error response already prepared: 401 unauthorized (no cookie;
 * unknown, expired or revoked session; the stale cookie is cleared) or
 * 503 unavailable (store error).
 */
int hub_session_require(struct hub *h, struct hub_conn *c, struct hc_session *out);

/* Same, but without a live session the prepared answer is 204 No Content
 * (the stale cookie cleared likewise): a page asking whether it is signed
 * in gets no failing request on a normal load. */
int hub_session_optional(struct hub *h, struct hub_conn *c, struct hc_session *out);

#endif
