/* SPDX-License-Identifier: MIT */
/* Login body parsing, JSON and form-encoded. */
#include "credentials.h"
#include "hc_err.h"
#include "hc_password.h"
#include "json.h"
#include "media.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

static int set_username(struct hub_credentials *cr, const char *v, size_t len)
{
	size_t keep = len < HUB_USERNAME_SHOWN ? len : HUB_USERNAME_SHOWN;

	memcpy(cr->username, v, keep);
	cr->username[keep] = '\0';
	cr->username_valid = len <= HC_NAME_MAX && hc_name_valid_n(v, len);
	return HUB_OK;
}

static int set_password(struct hub_credentials *cr, const char *v, size_t len)
{
	if (len > HC_PASSWORD_MAX) {
		cr->password_too_long = true;
		len = 0; /* nothing of it is kept; it is refused whole */
	}
	cr->password = malloc(len + 1);
	if (!cr->password)
		return HUB_ERR_NOMEM;
	memcpy(cr->password, v, len);
	cr->password[len] = '\0';
	cr->password_len = len;
	return HUB_OK;
}

static int parse_json(const char *body, size_t len, struct hub_credentials *cr, const char **why)
{
	cJSON *root = NULL, *u, *p;
	int rc = hub_json_parse(body, len, &root, why);

	if (rc)
		return rc;
	rc = HUB_ERR_INVAL;
	if (!cJSON_IsObject(root)) {
		*why = "the body must be a JSON object";
		goto cleanup;
	}
	u = cJSON_GetObjectItemCaseSensitive(root, "username");
	p = cJSON_GetObjectItemCaseSensitive(root, "password");
	if (!u || !p) {
		*why = "username and password are required";
		goto cleanup;
	}
	if (!cJSON_IsString(u) || !cJSON_IsString(p) || !u->valuestring || !p->valuestring) {
		*why = "username and password must be strings";
		goto cleanup;
	}
	rc = set_username(cr, u->valuestring, strlen(u->valuestring));
	if (!rc)
		rc = set_password(cr, p->valuestring, strlen(p->valuestring));
cleanup:
	hub_json_delete_wiped(root);
	return rc;
}

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s (len bytes) into out (room for len + 1). Returns the
 * decoded length, or -1 on a broken escape or a NUL. */
static long form_decode(const char *s, size_t len, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return -1;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		}
		if (c == 0)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return (long)o;
}

static int parse_form(const char *body, size_t len, struct hub_credentials *cr, const char **why)
{
	char *tmp = malloc(len + 1);
	bool have_u = false, have_p = false;
	size_t pos = 0;
	int rc = HUB_OK;

	if (!tmp)
		return HUB_ERR_NOMEM;
	while (pos < len && rc == HUB_OK) {
		const char *pair = body + pos, *amp = memchr(pair, '&', len - pos), *eq;
		size_t plen = amp ? (size_t)(amp - pair) : len - pos;
		long klen, vlen;
		char key[16];

		pos += plen + 1;
		if (!plen)
			continue;
		eq = memchr(pair, '=', plen);
		if (!eq)
			continue; /* a bare key carries nothing we read */
		klen = form_decode(pair, (size_t)(eq - pair), tmp);
		if (klen < 0) {
			*why = "malformed form encoding";
			rc = HUB_ERR_INVAL;
			break;
		}
		if (klen >= (long)sizeof(key))
			continue;
		memcpy(key, tmp, (size_t)klen + 1);
		if (strcmp(key, "username") && strcmp(key, "password"))
			continue;
		vlen = form_decode(eq + 1, plen - (size_t)(eq + 1 - pair), tmp);
		if (vlen < 0 || !hc_utf8_valid(tmp, (size_t)vlen)) {
			*why = vlen < 0 ? "malformed form encoding" : "values must be UTF-8";
			rc = HUB_ERR_INVAL;
			break;
		}
		if ((!strcmp(key, "username") && have_u) || (!strcmp(key, "password") && have_p)) {
			*why = "username and password may be given once";
			rc = HUB_ERR_INVAL;
			break;
		}
		if (!strcmp(key, "username")) {
			have_u = true;
			rc = set_username(cr, tmp, (size_t)vlen);
		} else {
			have_p = true;
			rc = set_password(cr, tmp, (size_t)vlen);
		}
	}
	OPENSSL_cleanse(tmp, len + 1);
	free(tmp);
	if (rc == HUB_OK && (!have_u || !have_p)) {
		*why = "username and password are required";
		rc = HUB_ERR_INVAL;
	}
	return rc;
}

int hub_credentials_parse(
	const char *body, size_t len, int ctype, struct hub_credentials *out, const char **why)
{
	int rc;

	memset(out, 0, sizeof(*out));
	*why = "malformed request";
	if (!body || !len) {
		*why = "username and password are required";
		return HUB_ERR_INVAL;
	}
	if (memchr(body, '\0', len)) {
		*why = "NUL characters are not allowed";
		return HUB_ERR_INVAL;
	}
	if (ctype == HUB_CT_JSON) {
		rc = parse_json(body, len, out, why);
	} else if (ctype == HUB_CT_FORM) {
		rc = parse_form(body, len, out, why);
	} else {
		rc = HUB_ERR_INVAL;
	}
	if (rc == HUB_OK &&
		(!out->username[0] || (!out->password_len && !out->password_too_long))) {
		*why = "username and password must not be empty";
		rc = HUB_ERR_INVAL;
	}
	if (rc)
		hub_credentials_free(out);
	return rc;
}

void hub_credentials_free(struct hub_credentials *cr)
{
	if (cr->password) {
		OPENSSL_cleanse(cr->password, cr->password_len + 1);
		free(cr->password);
	}
	cr->password = NULL;
	cr->password_len = 0;
}
