/* SPDX-License-Identifier: MIT */
/*
 * The session cookie: hub_sid=<secret>; HttpOnly; SameSite=Lax; Path=/
 * (+ Max-Age, + Secure when cookie_secure or TLS). Its value is the session
 * secret; the store keeps only its SHA-256.
 */
#ifndef HUB_COOKIE_H
#define HUB_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_store.h"
#include "hc_web.h"

#define HUB_COOKIE_NAME HC_COOKIE_NAME

struct hc_config;

/* The Set-Cookie value that stores secret for max_age seconds, or (secret
 * NULL) the one that clears the cookie. HUB_OK or HUB_ERR_TOOBIG. */
int hub_cookie_format(
	const struct hc_config *cfg, const char *secret, int64_t max_age, char *out, size_t n);

/* Whether hubd's pages are served over https (TLS, or cookie_secure behind
 * a TLS proxy): the cookie gets Secure, and the own origin is https://. */
bool hub_cookie_secure(const struct hc_config *cfg);

#endif
