/* SPDX-License-Identifier: MIT */
/*
 * The writer's side of "in force when the command returns": ask every
 * listener in the sync directory to confirm it applied the change log up to
 * a position (hc_sync.h). The listener's side lives in follow.c.
 */
#include "hc_sync.h"
#include "hc_err.h"
#include "hc_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PEERS_MAX 64

struct peer {
	int fd;
	bool done;
	size_t len;
	char buf[HC_SYNC_REQ_MAX];
	char name[NAME_MAX + 1];
};

size_t hc_sync_addr(struct sockaddr_un *sa, const char *dir, int dirfd, const char *name)
{
	int n;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		/* a deep data directory: name it through our own descriptor */
		if (dirfd < 0)
			return 0;
		n = snprintf(
			sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd, name);
		if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
			return 0;
	}
	return offsetof(struct sockaddr_un, sun_path) + (size_t)n + 1;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_sock_name(const char *n)
{
	size_t l = strlen(n);
	return l > 5 && !strcmp(n + l - 5, ".sock") && n[0] != '.';
}

/* Connect to one listener, waiting at most ms while its backlog is full.
 * Returns the fd (non-blocking), -1 when nobody listens there (the stale
 * file is removed), -2 on another error (errno set). */
static int open_peer(const char *dir, int dfd, const char *name, int64_t ms)
{
	struct sockaddr_un sa;
	struct timeval tv;
	size_t alen = hc_sync_addr(&sa, dir, dfd, name);
	int fd, rc;

	if (!alen) {
		errno = ENAMETOOLONG;
		return -2;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -2;
	if (ms < 1)
		ms = 1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	do
		rc = connect(fd, (struct sockaddr *)&sa, (socklen_t)alen);
	while (rc < 0 && errno == EINTR);
	if (rc < 0) {
		int e = errno;
		close(fd);
		if (e == ECONNREFUSED || e == ENOENT) {
			/* its process is gone */
			unlinkat(dfd, name, 0);
			return -1;
		}
		errno = e;
		return -2;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* A listener's name for people: "hauth-123.sock" -> "hauth (pid 123)". */
static void describe(const char *name, char *out, size_t n)
{
	const char *dash = strrchr(name, '-');
	int len = dash ? (int)(dash - name) : (int)strlen(name);
	int pidlen = dash ? (int)(strlen(dash + 1) - 5) : 0;
	if (dash && pidlen > 0)
		snprintf(out, n, "%.*s (pid %.*s)", len, name, pidlen, dash + 1);
	else
		snprintf(out, n, "%s", name);
}

int hc_sync_live(const char *sync_dir, char *who, size_t whosz)
{
	struct dirent *de;
	int live = 0;
	DIR *d;

	if (who && whosz)
		who[0] = '\0';
	d = opendir(sync_dir);
	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		int fd;
		if (!is_sock_name(de->d_name))
			continue;
		fd = open_peer(sync_dir, dirfd(d), de->d_name, 1000);
		if (fd == -1)
			continue; /* nobody there: the stale file is gone */
		if (fd >= 0)
			close(fd); /* it drops a waiter that sent nothing */
		/* a socket we cannot connect to for another reason may still
		 * have a live process behind it: count it too */
		if (live++ == 0 && who && whosz)
			describe(de->d_name, who, whosz);
	}
	closedir(d);
	return live;
}

int hc_sync_wait(const char *sync_dir, int64_t seq, int timeout_ms, char *err, size_t errsz)
{
	struct peer *peers = NULL;
	struct pollfd pfd[PEERS_MAX];
	struct dirent *de;
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 1);
	int npeers = 0, rc = HUB_OK;
	char req[HC_SYNC_REQ_MAX];
	int reqlen;
	DIR *d;

	if (err && errsz)
		err[0] = '\0';
	d = opendir(sync_dir);
	if (!d) {
		if (errno == ENOENT)
			return HUB_OK; /* no follower ever ran here */
		if (err)
			snprintf(err, errsz, "%s: %s", sync_dir, strerror(errno));
		return HUB_ERR_IO;
	}
	peers = calloc(PEERS_MAX, sizeof(*peers));
	if (!peers) {
		closedir(d);
		return HUB_ERR_NOMEM;
	}
	reqlen = snprintf(req, sizeof(req), "sync %" PRId64 "\n", seq);
	while ((de = readdir(d)) != NULL && npeers < PEERS_MAX) {
		struct peer *p = &peers[npeers];
		int fd;
		if (!is_sock_name(de->d_name))
			continue;
		fd = open_peer(sync_dir, dirfd(d), de->d_name, deadline - now_ms());
		if (fd == -1)
			continue;
		snprintf(p->name, sizeof(p->name), "%s", de->d_name);
		if (fd < 0 || send(fd, req, (size_t)reqlen, MSG_NOSIGNAL) != reqlen) {
			/* could not ask: it may be enforcing without us knowing */
			char who[300];
			describe(p->name, who, sizeof(who));
			if (err && !err[0])
				snprintf(err, errsz, "cannot reach %s: %s", who, strerror(errno));
			if (fd >= 0)
				close(fd);
			rc = HUB_ERR_BUSY;
			continue;
		}
		p->fd = fd;
		npeers++;
	}
	closedir(d);

	for (;;) {
		int n = 0, wait;
		int64_t left = deadline - now_ms();
		for (int i = 0; i < npeers; i++) {
			if (peers[i].done)
				continue;
			pfd[n].fd = peers[i].fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			n++;
		}
		if (n == 0)
			break;
		if (left <= 0) {
			for (int i = 0; i < npeers; i++)
				if (!peers[i].done) {
					char who[300];
					describe(peers[i].name, who, sizeof(who));
					if (err && !err[0])
						snprintf(err, errsz,
							"%s did not confirm the change within %d "
							"ms",
							who, timeout_ms);
					break;
				}
			rc = HUB_ERR_BUSY;
			break;
		}
		wait = left > 1000 ? 1000 : (int)left;
		if (poll(pfd, (nfds_t)n, wait) < 0 && errno != EINTR) {
			rc = HUB_ERR_IO;
			break;
		}
		for (int i = 0, k = 0; i < npeers; i++) {
			struct peer *p = &peers[i];
			ssize_t r;
			if (p->done)
				continue;
			if (!pfd[k++].revents)
				continue;
			r = recv(p->fd, p->buf + p->len, sizeof(p->buf) - 1 - p->len, 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				/* it went away: a process that restarts loads the whole
				 * store, so nothing of ours can be missing there */
				p->done = true;
				continue;
			}
			p->len += (size_t)r;
			p->buf[p->len] = '\0';
			if (!strchr(p->buf, '\n') && p->len < sizeof(p->buf) - 1)
				continue;
			p->done = true;
			if (strncmp(p->buf, "ok ", 3) != 0) {
				char who[300];
				describe(p->name, who, sizeof(who));
				p->buf[strcspn(p->buf, "\r\n")] = '\0';
				if (err && !err[0])
					snprintf(err, errsz, "%s answered '%.40s'", who, p->buf);
				rc = HUB_ERR_BUSY;
			}
		}
	}
	for (int i = 0; i < npeers; i++)
		close(peers[i].fd);
	free(peers);
	return rc;
}
