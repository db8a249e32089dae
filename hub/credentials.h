/* SPDX-License-Identifier: MIT */
/*
 * The login body: {"username": "...", "password": "..."} as JSON, or
 * username=...&password=... as application/x-www-form-urlencoded. Parsing
 * is strict (one value each, strings only, valid UTF-8, no NUL anywhere)
 * and never truncates: an over-long password is flagged, not cut.
 */
#ifndef HUB_CREDENTIALS_H
#define HUB_CREDENTIALS_H

#include <stdbool.h>
#include <stddef.h>

#include "hc_names.h"

#define HUB_USERNAME_SHOWN 96 /* bytes of an invalid username kept for logs */

struct hub_credentials {
	char username[HUB_USERNAME_SHOWN + 1]; /* as sent, possibly cut (see valid) */
	bool username_valid; /* a well-formed username (hc_name_valid), kept whole */
	char *password;	     /* owned, NUL-terminated; wiped and freed by _free */
	size_t password_len;
	bool password_too_long; /* over HC_PASSWORD_MAX: refused, never cut */
};

/*
 * Parse body (len bytes) of the given type (HUB_CT_JSON or HUB_CT_FORM).
 * HUB_OK; HUB_ERR_INVAL with *why set to a short text for the client when
 * the body is malformed or a field is missing or not a string;
 * HUB_ERR_NOMEM.
 */
int hub_credentials_parse(
	const char *body, size_t len, int ctype, struct hub_credentials *out, const char **why);
void hub_credentials_free(struct hub_credentials *cr);

#endif
