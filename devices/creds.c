/* SPDX-License-Identifier: MIT */
/* Device credential lists (files and flags). */
#include "creds.h"

#include "hc_err.h"
#include "hc_log.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A secret is one printable ASCII word (what hubctl prints). */
static int secret_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] <= ' ' || (unsigned char)s[n] >= 0x7f)
			return 0;
	return n > 0 && n <= TRK_SECRET_MAX;
}

void trk_creds__init(struct trk_creds *c)
{
	memset(c, 0, sizeof(*c));
	hc_hmap_init(&c->ids);
}

int trk_creds__add(struct trk_creds *c, const char *id, const char *secret, char *err, size_t errsz)
{
	char safe[80];

	if (!hc_name_valid(id)) {
		snprintf(err, errsz, "invalid device id '%s' (1-64 of A-Za-z0-9._-)",
			hc_log_safe(id, safe, sizeof(safe)));
		return HUB_ERR_INVAL;
	}
	if (!secret_ok(secret)) {
		snprintf(err, errsz,
			"%s: the secret must be 1-%d printable characters without blanks", id,
			TRK_SECRET_MAX);
		return HUB_ERR_INVAL;
	}
	if (hc_hmap_get(&c->ids, id, strlen(id))) {
		snprintf(err, errsz, "device %s is listed twice (one vehicle per device)", id);
		return HUB_ERR_EXISTS;
	}
	if (c->n >= TRK_DEVICES_MAX) {
		snprintf(err, errsz, "more than %d devices", TRK_DEVICES_MAX);
		return HUB_ERR_TOOBIG;
	}
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 16;
		struct trk_cred *v = realloc(c->v, cap * sizeof(*v));
		if (!v) {
			snprintf(err, errsz, "out of memory");
			return HUB_ERR_NOMEM;
		}
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n].secret = strdup(secret);
	if (!c->v[c->n].secret) {
		snprintf(err, errsz, "out of memory");
		return HUB_ERR_NOMEM;
	}
	if (hc_hmap_put(&c->ids, id, strlen(id), (void *)1, NULL)) {
		free(c->v[c->n].secret);
		snprintf(err, errsz, "out of memory");
		return HUB_ERR_NOMEM;
	}
	snprintf(c->v[c->n].id, sizeof(c->v[c->n].id), "%s", id);
	c->n++;
	return HUB_OK;
}

int trk_creds__load_file(struct trk_creds *c, const char *path, char *err, size_t errsz)
{
	char line[TRK_CREDS_LINE_MAX + 2], why[200];
	FILE *f = fopen(path, "r");
	struct stat st;
	unsigned lineno = 0;
	int rc = HUB_OK;

	if (!f) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return HUB_ERR_IO;
	}
	if (!fstat(fileno(f), &st) && (st.st_mode & 077))
		hc_warn("msg=\"credentials file is readable by others; chmod 600 it\" file=\"%s\"",
			path);
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *id, *secret, *end;
		size_t len = strlen(line);

		lineno++;
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			snprintf(err, errsz, "%s:%u: line longer than %d bytes", path, lineno,
				TRK_CREDS_LINE_MAX);
			rc = HUB_ERR_INVAL;
			break;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '#' || *p == '\n' || *p == '\r' || !*p)
			continue;
		id = p;
		p += strcspn(p, " \t\r\n");
		if (*p)
			*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		secret = p;
		p += strcspn(p, " \t\r\n");
		end = p;
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		*end = '\0';
		if (!*secret || *p) {
			snprintf(err, errsz, "%s:%u: expected \"ID SECRET\"", path, lineno);
			rc = HUB_ERR_INVAL;
			break;
		}
		rc = trk_creds__add(c, id, secret, why, sizeof(why));
		if (rc) {
			snprintf(err, errsz, "%s:%u: %s", path, lineno, why);
			break;
		}
	}
	if (!rc && ferror(f)) {
		snprintf(err, errsz, "%s: read error", path);
		rc = HUB_ERR_IO;
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	if (!rc && c->n == 0) {
		snprintf(err, errsz, "%s: no devices in it", path);
		rc = HUB_ERR_INVAL;
	}
	return rc;
}

void trk_creds__free(struct trk_creds *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		if (c->v[i].secret) {
			OPENSSL_cleanse(c->v[i].secret, strlen(c->v[i].secret));
			free(c->v[i].secret);
		}
	}
	free(c->v);
	hc_hmap_clear(&c->ids);
	c->v = NULL;
	c->n = c->cap = 0;
}
