/* SPDX-License-Identifier: MIT */
/*
 * Fuzz hubd's request body parsers, as the routes call them on bytes from
 * unauthenticated clients: strict JSON (hub/json.c), the login body in
 * JSON and form encoding (hub/credentials.c) and the publish API body
 * (hub/publish_req.c). The first input byte picks the parser; the rest is
 * the body. Properties checked beyond "no crash, no leak":
 *
 *  - strict JSON accepted => no object names a member twice (a naive
 *    pairwise check), no string holds a NUL, and printing and parsing the
 *    tree again gives an equal tree that is accepted too;
 *  - login body accepted => a non-empty username, a password that is
 *    never cut (length = strlen: no NUL hidden inside), an over-long one
 *    flagged with nothing kept, username_valid exactly when the name is
 *    well-formed; a JSON body whose object names username or password
 *    twice is never accepted;
 *  - publish body accepted => a well-formed target and event, and a
 *    payload that is JSON accepted by the strict parser.
 */
#include "credentials.h"
#include "hc_err.h"
#include "hc_names.h"
#include "hc_password.h"
#include "json.h"
#include "media.h"
#include "publish_req.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "property failed: %s (%s:%d)\n", #cond, __FILE__,          \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static void no_duplicates(const cJSON *v)
{
	if (cJSON_IsObject(v))
		for (const cJSON *a = v->child; a; a = a->next)
			for (const cJSON *b = a->next; b; b = b->next)
				CHECK(strcmp(a->string, b->string) != 0);
	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		for (const cJSON *c = v->child; c; c = c->next)
			no_duplicates(c);
}

static int count_key(const cJSON *o, const char *key)
{
	int n = 0;
	for (const cJSON *a = o->child; a; a = a->next)
		if (a->string && !strcmp(a->string, key))
			n++;
	return n;
}

static void strict_json(const char *body, size_t len)
{
	cJSON *j = NULL, *again = NULL;
	const char *why = NULL;
	char *text;

	if (hub_json_parse(body, len, &j, &why) != HUB_OK) {
		CHECK(j == NULL && why != NULL);
		return;
	}
	no_duplicates(j);
	text = cJSON_PrintUnformatted(j);
	if (text) {
		CHECK(hub_json_parse(text, strlen(text), &again, &why) == HUB_OK);
		CHECK(cJSON_Compare(j, again, 1));
		cJSON_Delete(again);
		cJSON_free(text);
	}
	cJSON_Delete(j);
}

static void login(const char *body, size_t len, int ctype)
{
	struct hub_credentials cr;
	const char *why = NULL;
	int rc = hub_credentials_parse(body, len, ctype, &cr, &why);

	if (rc != HUB_OK) {
		CHECK(why != NULL);
		CHECK(cr.password == NULL);
		/* a login JSON object naming username or password twice is
		 * never accepted, whichever copy a reader would take */
		return;
	}
	CHECK(cr.username[0] != '\0');
	CHECK(cr.password != NULL);
	CHECK(strlen(cr.password) == cr.password_len);
	if (cr.password_too_long)
		CHECK(cr.password_len == 0);
	else
		CHECK(cr.password_len > 0 && cr.password_len <= HC_PASSWORD_MAX);
	CHECK(cr.username_valid == hc_name_valid(cr.username));
	if (ctype == HUB_CT_JSON) {
		cJSON *j = cJSON_ParseWithLength(body, len);
		CHECK(j != NULL);
		CHECK(count_key(j, "username") == 1 && count_key(j, "password") == 1);
		cJSON_Delete(j);
	}
	hub_credentials_free(&cr);
	CHECK(cr.password == NULL);
}

static void publish(const char *body, size_t len)
{
	struct hub_publish_req r;
	const char *why = NULL;
	cJSON *j = NULL;

	if (hub_publish_req_parse(body, len, &r, &why) == HUB_OK) {
		CHECK(hc_name_valid(r.target));
		CHECK(hc_event_valid_n(r.event, strlen(r.event)));
		CHECK(r.payload && strlen(r.payload) == r.payload_len);
		CHECK(hub_json_parse(r.payload, r.payload_len, &j, &why) == HUB_OK);
		cJSON_Delete(j);
	} else {
		CHECK(why != NULL && r.payload == NULL);
	}
	hub_publish_req_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data + 1;
	size_t len;

	if (size < 1 || size > 65537)
		return 0;
	len = size - 1;
	switch (data[0] % 4) {
	case 0:
		strict_json(body, len);
		break;
	case 1:
		login(body, len, HUB_CT_JSON);
		break;
	case 2:
		login(body, len, HUB_CT_FORM);
		break;
	default:
		publish(body, len);
		break;
	}
	return 0;
}
