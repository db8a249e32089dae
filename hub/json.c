/* SPDX-License-Identifier: MIT */
/* Strict JSON bodies: cJSON plus the checks it does not make (json.h). */
#include "json.h"
#include "hc_err.h"
#include "hc_names.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Objects with up to this many members are checked pairwise; bigger ones
 * are sorted first, so a body of many keys costs O(n log n), not O(n^2). */
#define PAIRWISE_MAX 8

int hub_json_has_nul_escape(const char *s, size_t len)
{
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		if (!in_str) {
			if (s[i] == '"')
				in_str = true;
			continue;
		}
		if (s[i] == '"') {
			in_str = false;
		} else if (s[i] == '\\' && i + 1 < len) {
			if (s[i + 1] == 'u' && len - i > 5 && !memcmp(s + i + 2, "0000", 4))
				return 1;
			i++; /* skip the escaped character */
		}
	}
	return 0;
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* HUB_OK when no member name of object o repeats, HUB_ERR_INVAL when one
 * does, HUB_ERR_NOMEM. */
static int object_unique(const cJSON *o)
{
	const cJSON *a, *b;
	const char **keys;
	size_t n = 0, i = 0;
	int rc = HUB_OK;

	for (a = o->child; a; a = a->next)
		n++;
	if (n <= PAIRWISE_MAX) {
		for (a = o->child; a; a = a->next)
			for (b = a->next; b; b = b->next)
				if (a->string && b->string && !strcmp(a->string, b->string))
					return HUB_ERR_INVAL;
		return HUB_OK;
	}
	keys = malloc(n * sizeof(*keys));
	if (!keys)
		return HUB_ERR_NOMEM;
	for (a = o->child; a; a = a->next)
		keys[i++] = a->string ? a->string : "";
	qsort(keys, n, sizeof(*keys), cmp_keys);
	for (i = 1; i < n && rc == HUB_OK; i++)
		if (!strcmp(keys[i - 1], keys[i]))
			rc = HUB_ERR_INVAL;
	free(keys);
	return rc;
}

/* Every value under v, v included: objects without a repeated member,
 * numbers within a double's range (cJSON turns 1e999 into infinity, which
 * it prints as null: the event would change on its way). The depth is
 * bounded by cJSON's nesting limit (CJSON_NESTING_LIMIT, 1000), so
 * recursion is safe. */
static int tree_unique(const cJSON *v)
{
	int rc = HUB_OK;

	if (cJSON_IsNumber(v) && !isfinite(v->valuedouble))
		return HUB_ERR_TOOBIG;
	if (cJSON_IsObject(v))
		rc = object_unique(v);
	if (cJSON_IsObject(v) || cJSON_IsArray(v))
		for (const cJSON *c = v->child; c && rc == HUB_OK; c = c->next)
			rc = tree_unique(c);
	return rc;
}

static void wipe(cJSON *v)
{
	for (; v; v = v->next) {
		if (v->valuestring)
			OPENSSL_cleanse(v->valuestring, strlen(v->valuestring));
		if (v->string)
			OPENSSL_cleanse(v->string, strlen(v->string));
		wipe(v->child);
	}
}

void hub_json_delete_wiped(cJSON *root)
{
	if (!root)
		return;
	wipe(root->child);
	if (root->valuestring)
		OPENSSL_cleanse(root->valuestring, strlen(root->valuestring));
	cJSON_Delete(root);
}

int hub_json_parse(const char *body, size_t len, cJSON **out, const char **why)
{
	const char *end = NULL;
	cJSON *root;
	int rc;

	*out = NULL;
	*why = "the body is not valid JSON";
	if (!body || !len) {
		*why = "the body is empty";
		return HUB_ERR_INVAL;
	}
	if (memchr(body, '\0', len) || hub_json_has_nul_escape(body, len)) {
		*why = "NUL characters are not allowed";
		return HUB_ERR_INVAL;
	}
	if (!hc_utf8_valid(body, len)) {
		*why = "the body is not valid UTF-8";
		return HUB_ERR_INVAL;
	}
	root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
	if (!root)
		return HUB_ERR_INVAL;
	/* nothing but white space may follow the value */
	for (const char *q = end; q && q < body + len; q++)
		if (*q != ' ' && *q != '\t' && *q != '\r' && *q != '\n') {
			hub_json_delete_wiped(root);
			return HUB_ERR_INVAL;
		}
	rc = tree_unique(root);
	if (rc) {
		if (rc == HUB_ERR_INVAL)
			*why = "a JSON object names the same member twice";
		if (rc == HUB_ERR_TOOBIG) {
			*why = "a JSON number is out of range";
			rc = HUB_ERR_INVAL;
		}
		hub_json_delete_wiped(root);
		return rc;
	}
	*out = root;
	return HUB_OK;
}
