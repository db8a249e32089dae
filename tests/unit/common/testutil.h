/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the common/ unit tests: temporary directories
 * that clean up after themselves, writing files, and a table-check macro
 * that reports every failing row before failing the test (so one run shows
 * all broken cases, not only the first).
 */
#ifndef HUB_TESTUTIL_H
#define HUB_TESTUTIL_H

#include <libpq-fe.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Make a fresh directory under $TMPDIR (or /tmp); out gets its path. */
static inline void tu_mkdtemp(char *out, size_t n)
{
	const char *base = getenv("TMPDIR");
	snprintf(out, n, "%s/hubtest.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(out)) {
		perror("mkdtemp");
		abort();
	}
}

static inline int tu_rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* rm -rf dir (only ever called on a tu_mkdtemp directory). */
static inline void tu_rmtree(const char *dir)
{
	if (dir && strstr(dir, "/hubtest."))
		nftw(dir, tu_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write len bytes to path with the given mode; returns 0 or -1. */
static inline int tu_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	ssize_t w;
	if (fd < 0)
		return -1;
	w = write(fd, data, len);
	if (fchmod(fd, mode) != 0)
		w = -1;
	close(fd);
	return w == (ssize_t)len ? 0 : -1;
}

static inline int tu_write_str(const char *path, const char *s)
{
	return tu_write_file(path, s, strlen(s), 0600);
}

/*
 * Table checks: TU_EXPECT(cond, fmt, ...) prints the row and counts a
 * failure without stopping; TU_DONE() fails the test if any row failed.
 * Declare `int tu_failures = 0;` in the test first.
 */
#define TU_EXPECT(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			tu_failures++;                                                             \
			print_error("%s:%d: FAILED: ", __FILE__, __LINE__);                        \
			print_error(__VA_ARGS__);                                                  \
			print_error("\n");                                                         \
		}                                                                                  \
	} while (0)
#define TU_DONE() assert_int_equal(tu_failures, 0)

/* The PostgreSQL store under test, or NULL to test SQLite files: the
 * conninfo in HUB_TEST_STORE (tests/unit/pg-run sets it, with a throwaway
 * cluster from scripts/pg-temp). */
static inline const char *tu_pg(void)
{
	const char *ci = getenv("HUB_TEST_STORE");
	return ci && ci[0] ? ci : NULL;
}

/* Empty the PostgreSQL database behind ci (every table, function and
 * sequence of the hub goes), so a test starts from a store never opened. */
static inline int tu_pg_reset(const char *ci)
{
	PGconn *c = PQconnectdb(ci);
	PGresult *r;
	int ok;
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "tu_pg_reset: %s", PQerrorMessage(c));
		PQfinish(c);
		return -1;
	}
	r = PQexec(c, "SET client_min_messages = warning; DROP SCHEMA IF EXISTS public CASCADE; "
		      "CREATE SCHEMA public");
	ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	if (!ok)
		fprintf(stderr, "tu_pg_reset: %s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	return ok ? 0 : -1;
}

#endif
