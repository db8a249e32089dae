/* SPDX-License-Identifier: MIT */
/*
 * The JSON of calls and hooks (CONTRACT.md "Backends"): what a service
 * answers (an answer, an error answer, a hook verdict) and what a caller
 * makes of an answer. Pure functions; payloads are (pointer, length).
 */
#include "hubio_int.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool hubio__json_valid(const char *data, size_t len)
{
	const char *end = NULL;
	cJSON *j;

	if (!data || len == 0 || len > HUBIO_PAYLOAD_MAX || memchr(data, '\0', len))
		return false;
	/* cJSON stops after the first value: what follows must be white space
	 * (its own "require null terminated" check needs a NUL in the buffer) */
	j = cJSON_ParseWithLengthOpts(data, len, &end, false);
	if (!j)
		return false;
	cJSON_Delete(j);
	if (!end || end < data || end > data + len)
		return false;
	for (const char *p = end; p < data + len; p++)
		if (!space(*p))
			return false;
	return true;
}

/* cJSON's text of j into *out (malloc'd, as the header says). */
static int print(cJSON *j, char **out, size_t *outlen)
{
	char *s;
	if (!j)
		return HUBIO_ENOMEM;
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		return HUBIO_ENOMEM;
	*out = s;
	*outlen = strlen(s);
	return HUBIO_OK;
}

static bool text_ok(const char *s, size_t max)
{
	size_t n;
	if (!s)
		return false;
	n = strnlen(s, max + 1);
	return n > 0 && n <= max && hubio__utf8_valid(s, n);
}

int hubio__json_error(const char *code, const char *message, char **out, size_t *outlen)
{
	cJSON *j;

	*out = NULL;
	*outlen = 0;
	if (!text_ok(code, HUBIO__NAME_MAX))
		return HUBIO_EINVAL;
	if (!message)
		message = code;
	else if (!hubio__utf8_valid(message, strnlen(message, HUBIO_PAYLOAD_MAX / 2 + 1)) ||
		 strnlen(message, HUBIO_PAYLOAD_MAX / 2 + 1) > HUBIO_PAYLOAD_MAX / 2)
		return HUBIO_EINVAL;
	j = cJSON_CreateObject();
	if (j && (!cJSON_AddStringToObject(j, "error", code) ||
			 !cJSON_AddStringToObject(j, "message", message))) {
		cJSON_Delete(j);
		j = NULL;
	}
	return print(j, out, outlen);
}

int hubio__json_accept(const char *data, size_t len, char **out, size_t *outlen)
{
	static const char head[] = "{\"accept\":true,\"data\":";
	char *s;

	*out = NULL;
	*outlen = 0;
	if (!data) {
		s = strdup("{\"accept\":true}");
		if (!s)
			return HUBIO_ENOMEM;
		*out = s;
		*outlen = strlen(s);
		return HUBIO_OK;
	}
	if (!hubio__json_valid(data, len))
		return HUBIO_EINVAL;
	/* the changed data goes in as the bytes given (checked above), not
	 * as cJSON prints it: numbers keep their digits */
	s = malloc(sizeof(head) - 1 + len + 2);
	if (!s)
		return HUBIO_ENOMEM;
	memcpy(s, head, sizeof(head) - 1);
	memcpy(s + sizeof(head) - 1, data, len);
	s[sizeof(head) - 1 + len] = '}';
	s[sizeof(head) + len] = '\0';
	*out = s;
	*outlen = sizeof(head) + len;
	return HUBIO_OK;
}

int hubio__json_reject(const char *reason, char **out, size_t *outlen)
{
	cJSON *j;
	size_t n;

	*out = NULL;
	*outlen = 0;
	if (!reason)
		reason = "rejected";
	n = strnlen(reason, HUBIO_PAYLOAD_MAX / 2 + 1);
	if (n > HUBIO_PAYLOAD_MAX / 2 || !hubio__utf8_valid(reason, n))
		return HUBIO_EINVAL;
	j = cJSON_CreateObject();
	if (j && (!cJSON_AddFalseToObject(j, "accept") ||
			 !cJSON_AddStringToObject(j, "reason", reason))) {
		cJSON_Delete(j);
		j = NULL;
	}
	return print(j, out, outlen);
}

int hubio__answer_status(const char *data, size_t len)
{
	static const struct {
		const char *word;
		int status;
	} words[] = {
		{"unavailable", HUBIO_EUNAVAILABLE},
		{"timeout", HUBIO_ETIMEOUT},
		{"busy", HUBIO_EBUSY},
	};
	cJSON *j, *ok, *err;
	int status = HUBIO_OK;

	/* only small objects can be the hub's: do not parse big answers */
	if (!data || len == 0 || len > 1024 || data[0] != '{')
		return HUBIO_OK;
	j = cJSON_ParseWithLength(data, len);
	if (!j)
		return HUBIO_OK;
	ok = cJSON_GetObjectItemCaseSensitive(j, "ok");
	err = cJSON_GetObjectItemCaseSensitive(j, "error");
	if (cJSON_IsFalse(ok) && cJSON_IsString(err))
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strcmp(err->valuestring, words[i].word) == 0)
				status = words[i].status;
	cJSON_Delete(j);
	return status;
}

const char *hubio__outcome_json(int status)
{
	switch (status) {
	case HUBIO_EUNAVAILABLE:
		return "{\"ok\":false,\"error\":\"unavailable\"}";
	case HUBIO_ETIMEOUT:
		return "{\"ok\":false,\"error\":\"timeout\"}";
	case HUBIO_EFORBIDDEN:
		return "{\"ok\":false,\"error\":\"forbidden\"}";
	case HUBIO_EBUSY:
		return "{\"ok\":false,\"error\":\"busy\"}";
	case HUBIO_ECANCELED:
		return "{\"ok\":false,\"error\":\"canceled\"}";
	case HUBIO_ENOTCONN:
		return "{\"ok\":false,\"error\":\"disconnected\"}";
	default:
		return "{\"ok\":false,\"error\":\"failed\"}";
	}
}
