/* SPDX-License-Identifier: MIT */
/*
 * Strict JSON request bodies, the one parser every hubd route with a JSON
 * body uses. RFC 8259 leaves an object with the same name twice to the
 * implementation: cJSON keeps both and its lookups return the first, so such
 * a body could mean one thing to hubd and another to a proxy, a WAF or a log
 * reader in front of it. hubd refuses it, as it refuses a form field given
 * twice. Pure; thread-safe.
 */
#ifndef HUB_JSON_H
#define HUB_JSON_H

#include <stddef.h>

struct cJSON;

/*
 * Parse body (len bytes) as exactly one JSON value followed by nothing but
 * white space. Refused: invalid UTF-8, a NUL byte or the escape \u0000
 * (cJSON's C strings would silently end there), a number beyond a
 * double's range (it would come out as null), and an object with two
 * members of the same name (after unescaping) at any depth.
 * HUB_OK and *out (free with cJSON_Delete); HUB_ERR_INVAL with *why, a
 * short static text for the client; HUB_ERR_NOMEM.
 */
int hub_json_parse(const char *body, size_t len, struct cJSON **out, const char **why);

/* cJSON_Delete after wiping every string of the tree (bodies that carry
 * passwords). NULL is fine. */
void hub_json_delete_wiped(struct cJSON *root);

/* Whether the JSON text s (len bytes) has the escape \u0000 inside a
 * string. Text outside strings is not looked at. */
int hub_json_has_nul_escape(const char *s, size_t len);

#endif
