/* SPDX-License-Identifier: MIT */
/*
 * The store's PostgreSQL engine (libpq). One connection per struct
 * hc_store, set up with bounded statement, lock and idle-transaction
 * timeouts. Write transactions (hc_store_tx) take one transaction-level
 * advisory lock first, like SQLite's BEGIN IMMEDIATE: writers queue, and
 * change_log sequence numbers are handed out in commit order (the change
 * log trigger takes the same lock, so a write by hand queues too), which
 * is what lets a follower read "everything after my position" safely.
 * A connection that broke is re-opened at the next statement outside a
 * transaction, with a backoff (100 ms doubling to 5 s between attempts).
 * With hc_store_set_connect_wait (an event loop's store) the re-open is
 * libpq's asynchronous one: a call waits for it at most connect_wait_ms,
 * later calls go on with it without waiting and fail meanwhile, and it
 * gives up after CONNECT_TIMEOUT_MS (libpq's connect_timeout applies only
 * to its blocking connect). Such a store also waits at most QUERY_WAIT_MS
 * for a statement's result (a server that stopped answering: libpq alone
 * would wait for TCP to give up) and then drops the connection; its own
 * writes wait at most HC_PG_LOOP_LOCK_MS for the writers' lock ("busy" then, as
 * on SQLite).
 */
#include "hc_err.h"
#include "store_internal.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PARAMS_MAX	   32
#define RECONNECT_MIN_MS   100
#define RECONNECT_MAX_MS   5000
#define CONNECT_TIMEOUT_MS 5000		/* as connect_timeout=5 of pg_open */
#define QUERY_WAIT_MS	   3000		/* an event loop's store: longest wait for a result */
#define HUB_LOCK_KEY	   "1752523297" /* 'hub!': the writers' advisory lock */
#define SESSION_SETUP                                                                              \
	"SET statement_timeout = 10000; SET lock_timeout = 5000; "                                 \
	"SET idle_in_transaction_session_timeout = 60000; SET client_min_messages = warning"

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static PGconn *conn(struct hc_store *st)
{
	return st->pg;
}

static void set_err(struct hc_store *st, const char *msg)
{
	size_t n;
	snprintf(st->err, sizeof(st->err), "%s", msg && msg[0] ? msg : "PostgreSQL error");
	n = strcspn(st->err, "\n");
	st->err[n] = '\0';
}

static PGresult *exec_sql(struct hc_store *st, const char *sql);
static void fail_msg(struct hc_store *st, const PGresult *r);

static int setup(struct hc_store *st)
{
	PGresult *r = exec_sql(st, st->connect_wait_ms ? SESSION_SETUP
					   "; SET lock_timeout = " HC_PG_LOOP_LOCK_SQL
						       : SESSION_SETUP);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fail_msg(st, r);
	PQclear(r);
	return ok ? HUB_OK : HUB_ERR_DB;
}

static int pg_open(struct hc_store *st, const char *where, char *err, size_t errsz)
{
	static const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
	const char *vals[] = {"5", "hub", where, NULL};
	char safe[512];

	snprintf(st->where, sizeof(st->where), "%s", where);
	if (strlen(where) >= sizeof(st->where)) {
		snprintf(err, errsz, "store: PostgreSQL conninfo too long (max %zu)",
			sizeof(st->where) - 1);
		return HUB_ERR_CONFIG;
	}
	/* the conninfo's own settings come last and win */
	st->pg = PQconnectdbParams(keys, vals, 1);
	if (!st->pg || PQstatus(st->pg) != CONNECTION_OK) {
		hc_db__redact(where, safe, sizeof(safe));
		set_err(st, st->pg ? PQerrorMessage(st->pg) : "out of memory");
		snprintf(err, errsz, "%s: cannot connect to PostgreSQL: %s", safe, st->err);
		return HUB_ERR_DB;
	}
	if (setup(st)) {
		snprintf(err, errsz, "PostgreSQL session setup failed: %s", st->err);
		return HUB_ERR_DB;
	}
	return HUB_OK;
}

static void pg_close(struct hc_store *st)
{
	if (st->pg)
		PQfinish(st->pg);
	st->pg = NULL;
}

static const char *pg_errmsg(struct hc_store *st)
{
	if (!st->pg)
		return "no store";
	if (st->resetting)
		return "reconnecting to PostgreSQL";
	if (st->dead)
		return st->err;
	if (PQstatus(st->pg) == CONNECTION_BAD)
		return "connection to PostgreSQL lost";
	return st->err[0] ? st->err : "PostgreSQL error";
}

/* An event loop's store: the result of what was just sent, waited for at
 * most QUERY_WAIT_MS; past that the connection is given up (st->dead: the
 * next statement re-opens it, with the backoff) and the caller gets NULL
 * (an error). Like PQexec, the last result when there are several. */
static PGresult *wait_result(struct hc_store *st, int sent)
{
	PGconn *c = conn(st);
	PGresult *r, *last = NULL;
	int64_t deadline = mono_ms() + QUERY_WAIT_MS;
	if (!sent) {
		set_err(st, PQerrorMessage(c));
		return NULL;
	}
	for (;;) {
		while (!PQisBusy(c)) {
			r = PQgetResult(c);
			if (!r)
				return last;
			PQclear(last);
			last = r;
		}
		int64_t left = deadline - mono_ms();
		struct pollfd pfd = {PQsocket(c), POLLIN, 0};
		if (left <= 0 || pfd.fd < 0) {
			PQclear(last);
			st->dead = true;
			set_err(st, "PostgreSQL did not answer in time");
			return NULL;
		}
		if (poll(&pfd, 1, (int)left) < 0 && errno == EINTR)
			continue;
		if (!PQconsumeInput(c) && PQstatus(c) != CONNECTION_BAD) {
			PQclear(last);
			st->dead = true;
			set_err(st, PQerrorMessage(c));
			return NULL;
		}
	}
}

/* What went wrong with a statement: its result's message, else the
 * connection's (kept when the connection was given up: st->err says why). */
static void fail_msg(struct hc_store *st, const PGresult *r)
{
	if (r)
		set_err(st, PQresultErrorMessage(r));
	else if (!st->dead)
		set_err(st, PQerrorMessage(conn(st)));
}

static PGresult *exec_sql(struct hc_store *st, const char *sql)
{
	if (!st->connect_wait_ms)
		return PQexec(conn(st), sql);
	if (st->dead)
		return NULL;
	return wait_result(st, PQsendQuery(conn(st), sql));
}

static PGresult *exec_params(struct hc_store *st, const char *q, int np, const Oid *types,
	const char *const *vals, const int *lens, const int *fmts)
{
	if (!st->connect_wait_ms)
		return PQexecParams(conn(st), q, np, types, vals, lens, fmts, 0);
	if (st->dead)
		return NULL;
	return wait_result(st, PQsendQueryParams(conn(st), q, np, types, vals, lens, fmts, 0));
}

static void reconnected(struct hc_store *st)
{
	st->read_tx = false;
	if (PQstatus(st->pg) == CONNECTION_OK && setup(st) == HUB_OK) {
		st->generation++;
		st->reconnect_ms = 0;
	}
}

/* Drive an asynchronous re-open for up to wait_ms: libpq is asked to go on
 * only once its socket is ready for what it asked (PQresetPoll must not be
 * called before). */
static void advance(struct hc_store *st, int wait_ms)
{
	int64_t end = mono_ms() + wait_ms;
	for (;;) {
		int64_t now = mono_ms(), left = end - now;
		struct pollfd pfd;
		int n;
		PostgresPollingStatusType p;
		if (now >= st->reset_deadline) {
			/* the next attempt's PQresetStart closes this one's socket */
			st->resetting = false;
			set_err(st, "timeout expired while connecting to PostgreSQL");
			return;
		}
		if (left > st->reset_deadline - now)
			left = st->reset_deadline - now;
		pfd.fd = PQsocket(st->pg);
		pfd.events = st->reset_poll == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		pfd.revents = 0;
		if (pfd.fd < 0) {
			st->resetting = false;
			return;
		}
		n = poll(&pfd, 1, left > 0 ? (int)left : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st->resetting = false; /* the next attempt starts over */
			set_err(st, "poll failed while connecting to PostgreSQL");
			return;
		}
		if (n == 0)
			return; /* not ready: a later call goes on */
		p = PQresetPoll(st->pg);
		if (p == PGRES_POLLING_OK) {
			st->resetting = false;
			reconnected(st);
			return;
		}
		if (p == PGRES_POLLING_FAILED) {
			st->resetting = false;
			set_err(st, PQerrorMessage(st->pg));
			return;
		}
		st->reset_poll = p;
	}
}

/* The connection needs re-opening: broken, or an asynchronous attempt
 * that gave up half way (its status is not CONNECTION_BAD then). */
static bool broken(struct hc_store *st)
{
	ConnStatusType s = PQstatus(st->pg);
	return st->dead || s == CONNECTION_BAD || (s != CONNECTION_OK && !st->resetting);
}

/* Outside a transaction, re-open a broken connection (with the backoff). */
static void revive(struct hc_store *st)
{
	int64_t now;
	if (!st->pg || st->tx_depth)
		return;
	if (st->resetting) {
		advance(st, 0);
		return;
	}
	if (!broken(st))
		return;
	now = mono_ms();
	if (now < st->reconnect_at)
		return;
	st->reconnect_ms = st->reconnect_ms ? st->reconnect_ms * 2 : RECONNECT_MIN_MS;
	if (st->reconnect_ms > RECONNECT_MAX_MS)
		st->reconnect_ms = RECONNECT_MAX_MS;
	st->reconnect_at = now + st->reconnect_ms;
	if (!st->connect_wait_ms) {
		st->dead = false;
		PQreset(st->pg);
		reconnected(st);
		return;
	}
	st->dead = false; /* PQresetStart closes its socket */
	if (!PQresetStart(st->pg)) {
		set_err(st, PQerrorMessage(st->pg));
		return;
	}
	st->resetting = true;
	st->reset_poll = PGRES_POLLING_WRITING;
	st->reset_deadline = now + CONNECT_TIMEOUT_MS;
	advance(st, st->connect_wait_ms);
}

/* A statement outside any transaction failed because the connection was
 * lost (the server restarted, a proxy dropped it): re-open it at once and
 * say whether to run the statement again (once). Inside a transaction the
 * caller sees the error: its earlier statements are gone with the
 * connection. */
static bool lost(struct hc_store *st, PGresult *r)
{
	ExecStatusType t = PQresultStatus(r);
	if ((r && t != PGRES_FATAL_ERROR) || PQstatus(conn(st)) != CONNECTION_BAD || st->tx_depth ||
		st->read_tx || st->resetting)
		return false;
	st->reconnect_at = 0;
	revive(st);
	return PQstatus(conn(st)) == CONNECTION_OK;
}

static int map_state(const char *state)
{
	if (!state)
		return HUB_ERR_DB;
	if (!strcmp(state, "23505"))
		return HUB_ERR_EXISTS;
	if (!strcmp(state, "23503"))
		return HUB_ERR_NOTFOUND;
	if (!strncmp(state, "23", 2))
		return HUB_ERR_INVAL;
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03") ||
		!strcmp(state, "57014"))
		return HUB_ERR_BUSY; /* serialization, deadlock, lock or statement timeout */
	return HUB_ERR_DB;
}

/* SQLite placeholders to PostgreSQL's: ? -> $k (the next), ?N -> $N.
 * Quoted text is copied as is. */
static char *translate(const char *sql)
{
	size_t n = strlen(sql), o = 0;
	char *out = malloc(n * 5 + 1); /* "?" -> "$NNNN" */
	int next = 0;
	char quote = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		char c = sql[i];
		if (quote) {
			if (c == quote)
				quote = 0;
			out[o++] = c;
		} else if (c == '\'' || c == '"') {
			quote = c;
			out[o++] = c;
		} else if (c == '?') {
			if (sql[i + 1] >= '0' && sql[i + 1] <= '9') {
				out[o++] = '$';
			} else {
				o += (size_t)snprintf(
					out + o, n * 5 + 1 - o, "$%d", ++next % 10000);
			}
		} else {
			out[o++] = c;
		}
	}
	out[o] = '\0';
	return out;
}

static int pg_vprep(
	struct hc_store *st, struct hc_db_stmt *s, const char *sql, const char *fmt, va_list ap)
{
	Oid types[PARAMS_MAX];
	const char *vals[PARAMS_MAX];
	int lens[PARAMS_MAX], fmts[PARAMS_MAX], np = 0;
	char nums[PARAMS_MAX][24];
	char *q;
	PGresult *r;

	revive(st);
	for (; fmt && fmt[np]; np++) {
		if (np == PARAMS_MAX)
			return HUB_ERR_INVAL;
		lens[np] = 0;
		fmts[np] = 0;
		switch (fmt[np]) {
		case 's':
			types[np] = 25; /* text */
			vals[np] = va_arg(ap, const char *);
			break;
		case 'i':
			types[np] = 20; /* int8 */
			snprintf(
				nums[np], sizeof(nums[np]), "%lld", (long long)va_arg(ap, int64_t));
			vals[np] = nums[np];
			break;
		case 'd':
			types[np] = 23; /* int4 */
			snprintf(nums[np], sizeof(nums[np]), "%d", va_arg(ap, int));
			vals[np] = nums[np];
			break;
		case 'b': {
			const void *p = va_arg(ap, const void *);
			size_t len = va_arg(ap, size_t);
			if (len > 0x7fffffff)
				return HUB_ERR_TOOBIG;
			types[np] = 17; /* bytea, sent binary */
			vals[np] = p ? p : "";
			lens[np] = (int)len;
			fmts[np] = 1;
			break;
		}
		default:
			return HUB_ERR_INVAL;
		}
	}
	q = translate(sql);
	if (!q)
		return HUB_ERR_NOMEM;
	r = exec_params(st, q, np, types, vals, lens, fmts);
	if (lost(st, r)) {
		PQclear(r);
		r = exec_params(st, q, np, types, vals, lens, fmts);
	}
	free(q);
	s->res = r;
	if (!r) {
		fail_msg(st, NULL);
		s->status = HUB_ERR_DB;
		return HUB_OK;
	}
	switch (PQresultStatus(r)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		s->status = HUB_OK;
		s->rows = PQntuples(r);
		break;
	default:
		set_err(st, PQresultErrorMessage(r));
		s->status = map_state(PQresultErrorField(r, PG_DIAG_SQLSTATE));
		if (PQstatus(conn(st)) == CONNECTION_BAD)
			s->status = HUB_ERR_DB;
	}
	return HUB_OK;
}

static int pg_step(struct hc_db_stmt *s)
{
	if (s->status)
		return s->status;
	if (s->blob) {
		PQfreemem(s->blob);
		s->blob = NULL;
	}
	if (s->row + 1 < s->rows) {
		s->row++;
		return HC_DB_ROW;
	}
	s->row = s->rows;
	return HC_DB_DONE;
}

static int pg_done(struct hc_db_stmt *s)
{
	const char *n;
	if (s->status)
		return s->status;
	n = PQcmdTuples(s->res);
	s->st->changes = n && n[0] ? strtoll(n, NULL, 10) : 0;
	return HUB_OK;
}

static void pg_finalize(struct hc_db_stmt *s)
{
	if (s->blob)
		PQfreemem(s->blob);
	s->blob = NULL;
	if (s->res)
		PQclear(s->res);
	s->res = NULL;
}

static bool cell(struct hc_db_stmt *s, int col)
{
	return s->res && s->row >= 0 && s->row < s->rows && col >= 0 && col < PQnfields(s->res) &&
	       !PQgetisnull(s->res, s->row, col);
}

static const char *pg_text(struct hc_db_stmt *s, int col)
{
	return cell(s, col) ? PQgetvalue(s->res, s->row, col) : NULL;
}

static int64_t pg_col_int64(struct hc_db_stmt *s, int col)
{
	const char *v = pg_text(s, col);
	if (!v)
		return 0;
	if (v[0] == 't' && !v[1])
		return 1; /* a boolean */
	return strtoll(v, NULL, 10);
}

static const void *pg_blob(struct hc_db_stmt *s, int col, size_t *len)
{
	const char *v = pg_text(s, col);
	*len = 0;
	if (!v)
		return NULL;
	if (s->blob)
		PQfreemem(s->blob);
	s->blob = PQunescapeBytea((const unsigned char *)v, len);
	return s->blob;
}

static int pg_exec(struct hc_store *st, const char *sql)
{
	PGresult *r;
	int rc;
	revive(st);
	r = exec_sql(st, sql);
	if (lost(st, r)) {
		PQclear(r);
		r = exec_sql(st, sql);
	}
	switch (PQresultStatus(r)) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		rc = HUB_OK;
		break;
	default:
		fail_msg(st, r);
		rc = map_state(r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL);
	}
	PQclear(r);
	return rc;
}

static bool pg_in_tx(struct hc_store *st)
{
	PGTransactionStatusType t = PQtransactionStatus(conn(st));
	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

static int pg_read_begin(struct hc_store *st)
{
	int rc;
	if (pg_in_tx(st))
		return HUB_OK; /* inside a caller's transaction: read in it */
	rc = pg_exec(st, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	st->read_tx = rc == HUB_OK;
	return rc;
}

static void pg_read_end(struct hc_store *st)
{
	if (st->read_tx)
		pg_exec(st, "COMMIT");
	st->read_tx = false;
}

/* One integer from a query without arguments. */
static int query_int(struct hc_store *st, const char *sql, int64_t *out)
{
	PGresult *r;
	int rc = HUB_ERR_DB;
	revive(st);
	r = exec_sql(st, sql);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && PQnfields(r) >= 1) {
		const char *v = PQgetvalue(r, 0, 0);
		*out = v[0] == 't' ? 1 : v[0] == 'f' ? 0 : strtoll(v, NULL, 10);
		rc = HUB_OK;
	} else {
		fail_msg(st, r);
		if (r)
			rc = map_state(PQresultErrorField(r, PG_DIAG_SQLSTATE));
	}
	PQclear(r);
	return rc;
}

static int pg_last_id(struct hc_store *st, int64_t *id)
{
	*id = 0;
	return query_int(st, "SELECT lastval()", id);
}

static int pg_tx_begin(struct hc_store *st)
{
	int rc = pg_exec(st, "BEGIN");
	if (rc)
		return rc;
	st->tx_depth = 1;
	rc = pg_exec(st, "SELECT pg_advisory_xact_lock(" HUB_LOCK_KEY ")");
	if (rc) {
		pg_exec(st, "ROLLBACK");
		st->tx_depth = 0;
	}
	return rc;
}

static int pg_tx_end(struct hc_store *st, bool commit)
{
	int rc = HUB_OK;
	if (commit) {
		PGresult *r = exec_sql(st, "COMMIT");
		/* COMMIT of a transaction in error answers ROLLBACK */
		if (PQresultStatus(r) != PGRES_COMMAND_OK || strcmp(PQcmdStatus(r), "COMMIT")) {
			if (PQresultStatus(r) == PGRES_COMMAND_OK)
				set_err(st, "transaction rolled back");
			else
				fail_msg(st, r);
			rc = map_state(PQresultErrorField(r, PG_DIAG_SQLSTATE));
		}
		PQclear(r);
	} else if (pg_in_tx(st)) {
		pg_exec(st, "ROLLBACK");
	}
	st->tx_depth = 0;
	return rc;
}

static int pg_sp_begin(struct hc_store *st)
{
	int rc = pg_exec(st, "SAVEPOINT hc_sp");
	if (!rc)
		st->tx_depth++;
	return rc;
}

static void pg_sp_end(struct hc_store *st, bool keep)
{
	if (!keep)
		pg_exec(st, "ROLLBACK TO SAVEPOINT hc_sp");
	pg_exec(st, "RELEASE SAVEPOINT hc_sp");
	st->tx_depth--;
}

static int pg_listen(struct hc_store *st, const char *channel, bool on)
{
	char sql[96], *id;
	int rc;
	if (!st->pg)
		return HUB_ERR_DB;
	id = PQescapeIdentifier(conn(st), channel, strlen(channel));
	if (!id)
		return HUB_ERR_NOMEM;
	snprintf(sql, sizeof(sql), "%s %s", on ? "LISTEN" : "UNLISTEN", id);
	PQfreemem(id);
	rc = pg_exec(st, sql);
	if (!on) {
		/* drop what arrived meanwhile */
		PGnotify *n;
		while ((n = PQnotifies(conn(st))) != NULL)
			PQfreemem(n);
	}
	return rc;
}

static int pg_notify_fd(struct hc_store *st)
{
	return st->pg && PQstatus(conn(st)) == CONNECTION_OK ? PQsocket(conn(st)) : -1;
}

static int pg_notified(struct hc_store *st)
{
	PGnotify *n;
	int count = 0;
	if (!st->pg || !PQconsumeInput(conn(st)) || PQstatus(conn(st)) == CONNECTION_BAD)
		return -1;
	while ((n = PQnotifies(conn(st))) != NULL) {
		PQfreemem(n);
		count++;
	}
	return count;
}

static int pg_schema_version(struct hc_store *st, int *version)
{
	int64_t v = 0;
	int rc = query_int(st, "SELECT to_regclass('hub_schema') IS NOT NULL", &v);
	*version = 0;
	if (rc || !v)
		return rc;
	rc = query_int(st, "SELECT coalesce(max(version), 0) FROM hub_schema", &v);
	if (!rc)
		*version = (int)v;
	return rc;
}

static int pg_set_schema_version(struct hc_store *st, int version)
{
	char sql[160];
	snprintf(sql, sizeof(sql),
		"CREATE TABLE IF NOT EXISTS hub_schema(version integer NOT NULL); "
		"DELETE FROM hub_schema; INSERT INTO hub_schema VALUES(%d)",
		version);
	return pg_exec(st, sql);
}

const struct hc_db_ops hc_db__pg_ops = {
	.open = pg_open,
	.close = pg_close,
	.errmsg = pg_errmsg,
	.vprep = pg_vprep,
	.step = pg_step,
	.done = pg_done,
	.finalize = pg_finalize,
	.text = pg_text,
	.int64 = pg_col_int64,
	.blob = pg_blob,
	.exec = pg_exec,
	.read_begin = pg_read_begin,
	.read_end = pg_read_end,
	.last_id = pg_last_id,
	.in_tx = pg_in_tx,
	.tx_begin = pg_tx_begin,
	.tx_end = pg_tx_end,
	.sp_begin = pg_sp_begin,
	.sp_end = pg_sp_end,
	.listen = pg_listen,
	.notify_fd = pg_notify_fd,
	.notified = pg_notified,
	.schema_version = pg_schema_version,
	.set_schema_version = pg_set_schema_version,
	.migrations = hc_store__pg_migrations,
	.migration_count = &hc_store__pg_migration_count,
};
