/* SPDX-License-Identifier: MIT */
/*
 * hub-logpipe's size-rotated log file (logfile.h).
 */
#include "logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hc_err.h"

static int open_current(struct lp_file *f)
{
	struct stat st;

	f->fd = open(f->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (f->fd < 0)
		return HUB_ERR_IO;
	if (fstat(f->fd, &st) != 0) {
		int e = errno;
		close(f->fd);
		f->fd = -1;
		errno = e;
		return HUB_ERR_IO;
	}
	f->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	return HUB_OK;
}

int lp_file__open(struct lp_file *f, const char *path, uint64_t max_bytes, unsigned keep)
{
	int n;

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (max_bytes < LP_FILE_MIN_BYTES || keep > LP_FILE_MAX_KEEP)
		return HUB_ERR_INVAL;
	/* room for the ".NN" of the rotated names */
	n = snprintf(f->path, sizeof(f->path), "%s", path);
	if (n <= 0 || (size_t)n + 4 > sizeof(f->path))
		return HUB_ERR_INVAL;
	f->max_bytes = max_bytes;
	f->keep = keep;
	return open_current(f);
}

static int rotated_name(const struct lp_file *f, unsigned i, char *out, size_t n)
{
	int k = snprintf(out, n, "%s.%u", f->path, i);

	if (k < 0 || (size_t)k >= n) {
		errno = ENAMETOOLONG;
		return HUB_ERR_IO;
	}
	return HUB_OK;
}

int lp_file__rotate(struct lp_file *f)
{
	char from[PATH_MAX], to[PATH_MAX];

	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (f->keep == 0) {
		if (unlink(f->path) != 0 && errno != ENOENT)
			return HUB_ERR_IO;
	} else {
		for (unsigned i = f->keep - 1; i >= 1; i--) {
			if (rotated_name(f, i, from, sizeof(from)) != HUB_OK ||
				rotated_name(f, i + 1, to, sizeof(to)) != HUB_OK)
				return HUB_ERR_IO;
			if (rename(from, to) != 0 && errno != ENOENT)
				return HUB_ERR_IO;
		}
		if (rotated_name(f, 1, to, sizeof(to)) != HUB_OK)
			return HUB_ERR_IO;
		if (rename(f->path, to) != 0 && errno != ENOENT)
			return HUB_ERR_IO;
	}
	return open_current(f);
}

static int write_all(struct lp_file *f, const char *data, size_t n, size_t *done)
{
	while (*done < n) {
		ssize_t w = write(f->fd, data + *done, n - *done);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return HUB_ERR_IO;
		}
		*done += (size_t)w;
		f->size += (uint64_t)w;
	}
	return HUB_OK;
}

int lp_file__write(struct lp_file *f, const char *data, size_t n, size_t *written)
{
	*written = 0;
	while (*written < n) {
		const char *p = data + *written;
		size_t left = n - *written, k, done = 0;
		uint64_t room = f->size < f->max_bytes ? f->max_bytes - f->size : 0;
		int rc;

		if (f->fd < 0 && open_current(f) != HUB_OK)
			return HUB_ERR_IO;
		if (left <= room) {
			k = left;
		} else {
			const char *nl = room ? memrchr(p, '\n', (size_t)room) : NULL;
			if (nl)
				k = (size_t)(nl - p) + 1; /* the lines that fit */
			else if (f->size == 0)
				k = (size_t)room; /* a line longer than a file */
			else
				k = 0; /* the line goes whole to the next file */
		}
		rc = write_all(f, p, k, &done);
		*written += done;
		if (rc != HUB_OK)
			return rc;
		if (*written < n && lp_file__rotate(f) != HUB_OK)
			return HUB_ERR_IO;
	}
	return HUB_OK;
}

void lp_file__close(struct lp_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}
