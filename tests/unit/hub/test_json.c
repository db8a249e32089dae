/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of hubd's request body parsers: strict JSON (hub/json.c), the
 * login body in JSON and form encoding (hub/credentials.c) and the publish
 * API body (hub/publish_req.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "credentials.h"
#include "hc_err.h"
#include "json.h"
#include "media.h"
#include "publish_req.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse(const char *text)
{
	cJSON *j = NULL;
	const char *why = NULL;
	int rc = hub_json_parse(text, strlen(text), &j, &why);
	if (rc == HUB_OK)
		assert_non_null(j);
	else
		assert_non_null(why);
	cJSON_Delete(j);
	return rc;
}

static void test_json_strict(void **state)
{
	static const struct {
		const char *text;
		int rc;
	} rows[] = {
		{"{}", HUB_OK},
		{" {\"a\":1} \r\n", HUB_OK},
		{"[1,2,3]", HUB_OK},
		{"\"x\"", HUB_OK},
		{"{\"a\":1,\"b\":{\"a\":2}}", HUB_OK}, /* same name, other objects */
		{"[{\"a\":1},{\"a\":2}]", HUB_OK},
		{"{\"a\":1,\"A\":2}", HUB_OK}, /* names are case-sensitive */
		{"{\"a\":1,\"a\":2}", HUB_ERR_INVAL},
		{"{\"a\":1,\"b\":2,\"a\":1}", HUB_ERR_INVAL},
		{"{\"x\":{\"a\":1,\"a\":1}}", HUB_ERR_INVAL}, /* nested */
		{"[0,[{\"k\":1,\"k\":2}]]", HUB_ERR_INVAL},   /* in arrays */
		{"{\"a\":1,\"\\u0061\":2}", HUB_ERR_INVAL},   /* the same once unescaped */
		{"{\"\":1,\"\":2}", HUB_ERR_INVAL},	      /* empty names too */
		{"{\"a\":\"x\\u0000y\"}", HUB_ERR_INVAL},     /* NUL escape */
		{"{\"a\\u0000\":1}", HUB_ERR_INVAL},	      /* NUL escape in a name */
		{"{\"a\":1} x", HUB_ERR_INVAL},		      /* trailing bytes */
		{"{\"a\":1}{}", HUB_ERR_INVAL},		      /* two values */
		{"{\"a\":\"\xff\"}", HUB_ERR_INVAL},	      /* not UTF-8 */
		{"[1e308, -1e308, 1e-400]", HUB_OK},
		{"[1e999]", HUB_ERR_INVAL}, /* infinity: cJSON would print null */
		{"{\"a\":-1e999}", HUB_ERR_INVAL},
		{"0333e000333333333", HUB_ERR_INVAL}, /* fuzz_body regression */
		{"", HUB_ERR_INVAL},
		{"{", HUB_ERR_INVAL},
	};
	int bad = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int rc = parse(rows[i].text);
		if (rc != rows[i].rc) {
			fprintf(stderr, "row %zu: %s: got %d want %d\n", i, rows[i].text, rc,
				rows[i].rc);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* A raw NUL inside the body is refused whatever follows. */
static void test_json_raw_nul(void **state)
{
	static const char body[] = "{\"a\":\"x\0y\"}";
	cJSON *j = NULL;
	const char *why = NULL;
	(void)state;
	assert_int_equal(hub_json_parse(body, sizeof(body) - 1, &j, &why), HUB_ERR_INVAL);
	assert_null(j);
}

/* An object of many members: duplicates found anywhere, quickly. */
static void test_json_many_keys(void **state)
{
	size_t n = 20000, cap = n * 16 + 16, off = 0;
	char *text = malloc(cap);
	(void)state;
	assert_non_null(text);
	text[off++] = '{';
	for (size_t i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, cap - off, "%s\"k%zu\":1", i ? "," : "", i);
	text[off++] = '}';
	text[off] = '\0';
	assert_int_equal(parse(text), HUB_OK);
	/* the last member repeats the first */
	snprintf(text + off - 1, cap - off + 1, ",\"k0\":2}");
	assert_int_equal(parse(text), HUB_ERR_INVAL);
	free(text);
}

static int creds(const char *body, int ctype, struct hub_credentials *cr)
{
	const char *why = NULL;
	int rc = hub_credentials_parse(body, strlen(body), ctype, cr, &why);
	if (rc)
		assert_non_null(why);
	return rc;
}

static void test_login_bodies(void **state)
{
	static const struct {
		const char *body;
		int ctype, rc;
	} rows[] = {
		{"{\"username\":\"alice\",\"password\":\"pw\"}", HUB_CT_JSON, HUB_OK},
		{"username=alice&password=pw", HUB_CT_FORM, HUB_OK},
		/* item 8a: a field twice is refused in both encodings */
		{"{\"username\":\"alice\",\"password\":\"pw\",\"username\":\"bob\"}", HUB_CT_JSON,
			HUB_ERR_INVAL},
		{"{\"username\":\"alice\",\"password\":\"a\",\"password\":\"b\"}", HUB_CT_JSON,
			HUB_ERR_INVAL},
		{"{\"username\":\"alice\",\"password\":\"a\",\"x\":1,\"x\":2}", HUB_CT_JSON,
			HUB_ERR_INVAL},
		{"username=alice&password=a&username=bob", HUB_CT_FORM, HUB_ERR_INVAL},
		{"username=alice&password=a&password=b", HUB_CT_FORM, HUB_ERR_INVAL},
		{"{\"username\":\"alice\"}", HUB_CT_JSON, HUB_ERR_INVAL},
		{"{\"username\":1,\"password\":\"pw\"}", HUB_CT_JSON, HUB_ERR_INVAL},
		{"{\"username\":\"alice\",\"password\":\"p\\u0000w\"}", HUB_CT_JSON, HUB_ERR_INVAL},
		{"username=alice&password=p%00w", HUB_CT_FORM, HUB_ERR_INVAL},
		{"username=alice&password=%zz", HUB_CT_FORM, HUB_ERR_INVAL},
		{"username=alice&password=", HUB_CT_FORM, HUB_ERR_INVAL},
		{"[\"alice\",\"pw\"]", HUB_CT_JSON, HUB_ERR_INVAL},
	};
	int bad = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct hub_credentials cr;
		int rc = creds(rows[i].body, rows[i].ctype, &cr);
		if (rc != rows[i].rc) {
			fprintf(stderr, "row %zu: %s: got %d want %d\n", i, rows[i].body, rc,
				rows[i].rc);
			bad++;
		}
		hub_credentials_free(&cr);
	}
	assert_int_equal(bad, 0);
}

static void test_login_fields(void **state)
{
	struct hub_credentials cr;
	(void)state;
	assert_int_equal(creds("username=al%69ce&password=a+b%26c", HUB_CT_FORM, &cr), HUB_OK);
	assert_string_equal(cr.username, "alice");
	assert_true(cr.username_valid);
	assert_string_equal(cr.password, "a b&c");
	hub_credentials_free(&cr);
	assert_int_equal(
		creds("{\"username\":\"no way\",\"password\":\"x\"}", HUB_CT_JSON, &cr), HUB_OK);
	assert_false(cr.username_valid);
	hub_credentials_free(&cr);
}

static void test_publish_body(void **state)
{
	static const struct {
		const char *body;
		int rc;
	} rows[] = {
		{"{\"room\":\"lobby\",\"event\":\"order\",\"data\":{\"id\":42}}", HUB_OK},
		{"{\"user\":\"bob\",\"event\":\"chat message\",\"data\":null}", HUB_OK},
		{"{\"room\":\"lobby\",\"room\":\"ops\",\"event\":\"e\",\"data\":1}", HUB_ERR_INVAL},
		{"{\"room\":\"lobby\",\"event\":\"e\",\"data\":{\"a\":1,\"a\":2}}", HUB_ERR_INVAL},
		{"{\"room\":\"lobby\",\"user\":\"bob\",\"event\":\"e\",\"data\":1}", HUB_ERR_INVAL},
		{"{\"room\":\"lob by\",\"event\":\"e\",\"data\":1}", HUB_ERR_INVAL},
		{"{\"room\":\"lobby\",\"event\":\"a/b\",\"data\":1}", HUB_ERR_INVAL},
		{"{\"room\":\"lobby\",\"event\":\"e\"}", HUB_ERR_INVAL},
		{"{\"room\":7,\"event\":\"e\",\"data\":1}", HUB_ERR_INVAL},
		{"[]", HUB_ERR_INVAL},
	};
	int bad = 0;
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct hub_publish_req r;
		const char *why = NULL;
		int rc = hub_publish_req_parse(rows[i].body, strlen(rows[i].body), &r, &why);
		if (rc != rows[i].rc) {
			fprintf(stderr, "row %zu: %s: got %d want %d\n", i, rows[i].body, rc,
				rows[i].rc);
			bad++;
		}
		hub_publish_req_free(&r);
	}
	assert_int_equal(bad, 0);
}

static void test_publish_fields(void **state)
{
	static const char body[] = "{\"data\":{\"id\":42},\"event\":\"order\",\"room\":\"lobby\"}";
	struct hub_publish_req r;
	const char *why = NULL;
	(void)state;
	assert_int_equal(hub_publish_req_parse(body, strlen(body), &r, &why), HUB_OK);
	assert_true(r.to_room);
	assert_string_equal(r.target, "lobby");
	assert_string_equal(r.event, "order");
	assert_string_equal(r.payload, "{\"id\":42}");
	assert_int_equal(r.payload_len, 9);
	hub_publish_req_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_strict),
		cmocka_unit_test(test_json_raw_nul),
		cmocka_unit_test(test_json_many_keys),
		cmocka_unit_test(test_login_bodies),
		cmocka_unit_test(test_login_fields),
		cmocka_unit_test(test_publish_body),
		cmocka_unit_test(test_publish_fields),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
