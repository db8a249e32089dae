/* SPDX-License-Identifier: MIT */
/* The store's SQL seam (hc_db.h): dispatch to the handle's engine. */
#include "hc_err.h"
#include "store_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hc_db_engine(const struct hc_store *st)
{
	return st->engine;
}

int hc_db_is_postgresql(const char *where)
{
	if (!where)
		return 0;
	return !strncmp(where, "postgresql://", 13) || !strncmp(where, "postgres://", 11) ||
	       (strchr(where, '=') && !strchr(where, '/')) ||
	       (strchr(where, '=') && strstr(where, "dbname"));
}

const char *hc_db_sql(const struct hc_store *st, const char *sqlite, const char *postgresql)
{
	return st->engine == HC_DB_POSTGRESQL ? postgresql : sqlite;
}

int hc_db_vprep(
	struct hc_store *st, struct hc_db_stmt **out, const char *sql, const char *fmt, va_list ap)
{
	struct hc_db_stmt *s = calloc(1, sizeof(*s));
	int rc;
	*out = NULL;
	if (!s)
		return HUB_ERR_NOMEM;
	s->st = st;
	s->row = -1;
	rc = st->ops->vprep(st, s, sql, fmt, ap);
	if (rc) {
		st->ops->finalize(s);
		free(s);
		return rc;
	}
	*out = s;
	return HUB_OK;
}

int hc_db_prep(struct hc_store *st, struct hc_db_stmt **out, const char *sql, const char *fmt, ...)
{
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = hc_db_vprep(st, out, sql, fmt, ap);
	va_end(ap);
	return rc;
}

int hc_db_step(struct hc_db_stmt *s)
{
	return s->st->ops->step(s);
}

int hc_db_done(struct hc_db_stmt *s)
{
	int rc = s->st->ops->done(s);
	hc_db_finalize(s);
	return rc;
}

void hc_db_finalize(struct hc_db_stmt *s)
{
	if (!s)
		return;
	s->st->ops->finalize(s);
	free(s);
}

const char *hc_db_text(struct hc_db_stmt *s, int col)
{
	return s->st->ops->text(s, col);
}

int64_t hc_db_int64(struct hc_db_stmt *s, int col)
{
	return s->st->ops->int64(s, col);
}

int hc_db_int(struct hc_db_stmt *s, int col)
{
	return (int)s->st->ops->int64(s, col);
}

const void *hc_db_blob(struct hc_db_stmt *s, int col, size_t *len)
{
	return s->st->ops->blob(s, col, len);
}

void hc_db_col(struct hc_db_stmt *s, int col, char *out, size_t n)
{
	const char *t = hc_db_text(s, col);
	snprintf(out, n, "%s", t ? t : "");
}

int64_t hc_db_changes(struct hc_store *st)
{
	return st->changes;
}

int hc_db_exec(struct hc_store *st, const char *sql)
{
	return st->ops->exec(st, sql);
}

int hc_db_read_begin(struct hc_store *st)
{
	return st->ops->read_begin(st);
}

void hc_db_read_end(struct hc_store *st)
{
	st->ops->read_end(st);
}

int hc_db_last_id(struct hc_store *st, int64_t *id)
{
	return st->ops->last_id(st, id);
}

void hc_db__redact(const char *ci, char *out, size_t n)
{
	size_t o = 0;
	const char *p = ci ? ci : "";
	const char *at = NULL, *colon = NULL, *auth;

	if (!n)
		return;
	out[0] = '\0';
	/* URI: scheme://user:password@host... */
	auth = strstr(p, "://");
	if (auth) {
		auth += 3;
		at = strchr(auth, '@');
		if (at) {
			colon = memchr(auth, ':', (size_t)(at - auth));
			if (colon) {
				snprintf(out, n, "%.*s:***%s", (int)(colon - p), p, at);
				p = out; /* fall through for ?password= too */
			}
		}
	}
	if (p == out) {
		/* redact password=... in the query part of the copy in place:
		 * rebuild from a temporary */
		char tmp[1024];
		snprintf(tmp, sizeof(tmp), "%s", out);
		p = tmp;
		o = 0;
		out[0] = '\0';
		while (*p && o + 1 < n) {
			if (!strncmp(p, "password=", 9)) {
				int k = snprintf(out + o, n - o, "password=***");
				o += (k > 0 && (size_t)k < n - o) ? (size_t)k : n - o - 1;
				p += 9;
				while (*p && *p != ' ' && *p != '&')
					p++;
				continue;
			}
			out[o++] = *p++;
			out[o] = '\0';
		}
		return;
	}
	while (*p && o + 1 < n) {
		if (!strncmp(p, "password=", 9)) {
			int k = snprintf(out + o, n - o, "password=***");
			o += (k > 0 && (size_t)k < n - o) ? (size_t)k : n - o - 1;
			p += 9;
			if (*p == '\'') {
				p++;
				while (*p && *p != '\'') {
					if (*p == '\\' && p[1])
						p++;
					p++;
				}
				if (*p)
					p++;
			} else {
				while (*p && *p != ' ' && *p != '&')
					p++;
			}
			continue;
		}
		out[o++] = *p++;
		out[o] = '\0';
	}
}

int hc_db_listen(struct hc_store *st, const char *channel)
{
	return st->ops->listen(st, channel, true);
}

int hc_db_unlisten(struct hc_store *st, const char *channel)
{
	return st->ops->listen(st, channel, false);
}

int hc_db_notify_fd(struct hc_store *st)
{
	return st->ops->notify_fd(st);
}

int hc_db_notified(struct hc_store *st)
{
	return st->ops->notified(st);
}

unsigned hc_db_generation(const struct hc_store *st)
{
	return st->generation;
}
