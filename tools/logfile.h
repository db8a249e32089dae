/* SPDX-License-Identifier: MIT */
/*
 * hub-logpipe's log file, rotated by size: FILE grows to at most max_bytes,
 * then FILE.keep-1 -> FILE.keep, ..., FILE -> FILE.1 and a new FILE begins
 * (keep = 0: FILE starts over). So FILE and its keep predecessors together
 * hold at most (keep + 1) * max_bytes, the newest lines in FILE. Rotation
 * happens at a line boundary: a line goes whole into the next file, unless
 * it is longer than max_bytes (then it is cut at max_bytes) or its start
 * was written before the rest arrived (then it continues in the next file).
 * No byte is lost by rotating.
 *
 * Files are created 0640, never through a symbolic link (O_NOFOLLOW).
 * One thread uses a struct lp_file at a time.
 */
#ifndef LP_FILE_H
#define LP_FILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LP_FILE_MIN_BYTES 4096
#define LP_FILE_MAX_KEEP  99

struct lp_file {
	char path[PATH_MAX]; /* the current file; rotated ones add .1 .. .keep */
	int fd;		     /* -1 when closed */
	uint64_t size;	     /* bytes in the current file */
	uint64_t max_bytes;  /* >= LP_FILE_MIN_BYTES */
	unsigned keep;	     /* <= LP_FILE_MAX_KEEP */
};

/* Open (append to) path. HUB_OK; HUB_ERR_INVAL for a bad bound or a path
 * too long; HUB_ERR_IO with errno set when the file cannot be opened (a
 * symbolic link gives ELOOP). */
int lp_file__open(struct lp_file *f, const char *path, uint64_t max_bytes, unsigned keep);

/* Write n bytes, rotating as needed. *written gets how many went to disk:
 * all of them on HUB_OK; on HUB_ERR_IO (errno set, e.g. ENOSPC) the caller
 * keeps the rest and tries again later. */
int lp_file__write(struct lp_file *f, const char *data, size_t n, size_t *written);

/* Rotate now. HUB_OK or HUB_ERR_IO (errno set). */
int lp_file__rotate(struct lp_file *f);

void lp_file__close(struct lp_file *f);

#endif
