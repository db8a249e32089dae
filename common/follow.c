/* SPDX-License-Identifier: MIT */
/* The store follower: worker thread, change queue, applying changes to a
 * directory on its owner's thread, and the sync socket through which
 * writers learn that their change is applied (hc_sync.h). */
#include "hc_follow.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_sync.h"
#include "store_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BATCH	      1000
#define QUEUE_LIMIT   50000
#define WAITERS_MAX   64    /* sync requests waiting at once */
#define WAITER_MS     15000 /* a request is dropped after this */
#define LISTEN_WAIT_S 3	    /* PostgreSQL: hc_follow_listen waits for its first report */

struct waiter {
	int fd;
	int64_t seq;   /* wanted; -1 until the request line arrived */
	int64_t since; /* CLOCK_MONOTONIC ms */
	size_t len;
	char buf[HC_SYNC_REQ_MAX];
};

struct hc_follow {
	pthread_t thread;
	pthread_mutex_t lock;
	bool stopping;
	atomic_int pending;
	struct hc_change *head, *tail;
	int queued;
	/* change log positions: the worker has read up to seq; the queue ends
	 * at queue_pos; the owner applied everything up to applied (both
	 * under lock) */
	int64_t queue_pos;
	int64_t applied;
	bool applying; /* the owner took the queue and is applying it */
	struct hc_store *st;
	int64_t seq;
	int64_t data_version;
	bool more; /* the last poll read a full batch: there may be more */
	int refresh_ms;
	void (*wake)(void *ud);
	void *ud;
	int evfd; /* wakes the worker: stop, applied, listen */
	/* sync socket (worker thread only, but for the paths) */
	int lfd, dirfd;
	char sock_dir[4096];
	char sock_name[128];
	bool want_listen;
	struct waiter waiters[WAITERS_MAX];
	int nwaiters;
	/* PostgreSQL (worker thread only, but node before the worker reads
	 * it, under lock): LISTEN hub_change on the follower's connection,
	 * and this node's applied position in node_applied */
	bool pg;
	bool listening;
	unsigned generation;
	bool store_down; /* the last poll failed (warned once) */
	char node[HC_NODE_MAX];
	int64_t reported, reported_at;
	bool reported_once; /* under lock; signalled on reported_cond */
	pthread_cond_t reported_cond;
};

static void free_change(struct hc_change *c)
{
	if (c->type == HC_CHG_RELOAD)
		hc_acl_dir_free(c->dir);
	free(c);
}

static void free_list(struct hc_change *c)
{
	while (c) {
		struct hc_change *n = c->next;
		free_change(c);
		c = n;
	}
}

/* Read the current state behind one change_log row into c. */
static int read_entity(
	struct hc_store *st, const char *entity, const char *key, struct hc_change *c)
{
	struct hc_db_stmt *s = NULL;
	const char *sql;
	int rc;

	if (!strcmp(entity, "principal")) {
		sql = "SELECT name, kind, display_name, role, coalesce(owner, ''), "
		      "coalesce(secret_hash, ''), created_at FROM principals WHERE name = ?";
	} else if (!strcmp(entity, "room")) {
		sql = "SELECT name, created_at, hook FROM rooms WHERE name = ?";
	} else if (!strcmp(entity, "service")) {
		sql = "SELECT name, key_hash, created_at FROM service_keys WHERE name = ?";
	} else if (!strcmp(entity, "membership")) {
		const char *slash = strchr(key, '/');
		size_t rl = slash ? (size_t)(slash - key) : 0;
		if (!slash || rl > HC_NAME_MAX || strlen(slash + 1) > HC_NAME_MAX)
			return HUB_ERR_INVAL;
		memcpy(c->room, key, rl);
		c->room[rl] = '\0';
		snprintf(c->principal, sizeof(c->principal), "%s", slash + 1);
		sql = "SELECT level FROM memberships WHERE room = ? AND principal = ?";
	} else if (!strcmp(entity, "session")) {
		sql = "SELECT sid, principal, expires_at, revoked_at, reason, kind FROM sessions "
		      "WHERE sid = ?";
	} else {
		return HUB_ERR_INVAL; /* a newer hub's entity: not ours */
	}
	if (c->room[0])
		rc = hc_db_prep(st, &s, sql, "ss", c->room, c->principal);
	else
		rc = hc_db_prep(st, &s, sql, "s", key);
	if (rc)
		return rc;
	rc = hc_db_step(s);
	if (rc != HC_DB_ROW && rc != HC_DB_DONE) {
		hc_db_finalize(s);
		return rc;
	}
	if (!strcmp(entity, "principal")) {
		if (rc == HC_DB_ROW) {
			char kind[8];
			c->type = HC_CHG_PRINCIPAL;
			hc_db_col(s, 0, c->p.name, sizeof(c->p.name));
			hc_db_col(s, 1, kind, sizeof(kind));
			c->p.kind = strcmp(kind, "device") ? HC_KIND_USER : HC_KIND_DEVICE;
			hc_db_col(s, 2, c->p.display_name, sizeof(c->p.display_name));
			hc_db_col(s, 3, c->p.role, sizeof(c->p.role));
			hc_db_col(s, 4, c->p.owner, sizeof(c->p.owner));
			hc_db_col(s, 5, c->secret_hash, sizeof(c->secret_hash));
			c->p.created_at = hc_db_int64(s, 6);
		} else {
			c->type = HC_CHG_PRINCIPAL_DEL;
			snprintf(c->p.name, sizeof(c->p.name), "%s", key);
		}
	} else if (!strcmp(entity, "room")) {
		c->type = rc == HC_DB_ROW ? HC_CHG_ROOM : HC_CHG_ROOM_DEL;
		snprintf(c->room, sizeof(c->room), "%s", key);
		if (rc == HC_DB_ROW) {
			c->room_created_at = hc_db_int64(s, 1);
			hc_db_col(s, 2, c->hook, sizeof(c->hook));
		}
	} else if (!strcmp(entity, "service")) {
		/* a service key: a principal of its own kind, its key's hash as
		 * the secret it proves at CONNECT */
		snprintf(c->p.name, sizeof(c->p.name), "%s", key);
		if (rc == HC_DB_ROW) {
			c->type = HC_CHG_PRINCIPAL;
			c->p.kind = HC_KIND_SERVICE;
			snprintf(c->p.role, sizeof(c->p.role), "user");
			hc_db_col(s, 1, c->secret_hash, sizeof(c->secret_hash));
			c->p.created_at = hc_db_int64(s, 2);
		} else {
			c->type = HC_CHG_PRINCIPAL_DEL;
			c->p.kind = HC_KIND_SERVICE;
		}
	} else if (!strcmp(entity, "membership")) {
		c->type = HC_CHG_LEVEL;
		c->level = rc == HC_DB_ROW ? hc_db_int(s, 0) : HC_LEVEL_NONE;
	} else {
		if (rc == HC_DB_ROW) {
			c->type = HC_CHG_SESSION;
			hc_db_col(s, 0, c->s.sid, sizeof(c->s.sid));
			hc_db_col(s, 1, c->s.principal, sizeof(c->s.principal));
			c->s.expires_at = hc_db_int64(s, 2);
			c->s.revoked_at = hc_db_int64(s, 3);
			hc_db_col(s, 4, c->s.reason, sizeof(c->s.reason));
			hc_db_col(s, 5, c->s.kind, sizeof(c->s.kind));
		} else {
			c->type = HC_CHG_SESSION_DEL;
			snprintf(c->s.sid, sizeof(c->s.sid), "%s", key);
		}
	}
	hc_db_finalize(s);
	return HUB_OK;
}

static void enqueue(struct hc_follow *f, struct hc_change *head, struct hc_change *tail, int n)
{
	struct hc_change *drop = NULL;
	pthread_mutex_lock(&f->lock);
	if (f->tail)
		f->tail->next = head;
	else
		f->head = head;
	f->tail = tail;
	f->queued += n;
	f->queue_pos = f->seq;
	/* a RELOAD supersedes everything queued before it */
	if (tail->type == HC_CHG_RELOAD && f->head != tail) {
		drop = f->head;
		for (struct hc_change *c = drop; c; c = c->next)
			if (c->next == tail) {
				c->next = NULL;
				break;
			}
		f->head = tail;
		f->queued = 1;
	}
	atomic_store(&f->pending, 1);
	pthread_mutex_unlock(&f->lock);
	free_list(drop);
	if (f->wake)
		f->wake(f->ud);
}

static int reload(struct hc_follow *f)
{
	struct hc_change *c = calloc(1, sizeof(*c));
	char err[256];
	int rc;
	if (!c)
		return HUB_ERR_NOMEM;
	rc = hc_acl_dir_load(f->st, &c->dir, err, sizeof(err));
	if (rc) {
		hc_warn("msg=\"follow: reload failed\" err=\"%s\"", err);
		free(c);
		return rc;
	}
	c->type = HC_CHG_RELOAD;
	c->seq = c->dir->seq;
	f->seq = c->seq;
	enqueue(f, c, c, 1);
	hc_info("msg=\"follow: directory reloaded\" seq=%lld", (long long)f->seq);
	return HUB_OK;
}

/* SQLite: whether the file changed since the last poll (PRAGMA
 * data_version, cheap). PostgreSQL has no such counter: its followers
 * poll when notified, and every refresh_ms as a fallback. */
static bool changed(struct hc_follow *f, int64_t *dv)
{
	struct hc_db_stmt *s = NULL;
	if (hc_db_engine(f->st) != HC_DB_SQLITE)
		return true;
	if (hc_db_prep(f->st, &s, "PRAGMA data_version", ""))
		return true;
	if (hc_db_step(s) == HC_DB_ROW)
		*dv = hc_db_int64(s, 0);
	hc_db_finalize(s);
	return *dv != f->data_version;
}

/* One poll: returns HUB_OK when caught up or progressed. */
static int poll_once(struct hc_follow *f)
{
	struct hc_db_stmt *s = NULL;
	struct hc_change *head = NULL, *tail = NULL;
	int64_t dv = 0, minseq = 0, maxseq = 0;
	int n = 0, rc = HUB_OK, step;

	f->more = false;
	if (!changed(f, &dv))
		return HUB_OK;

	rc = hc_db_read_begin(f->st);
	if (rc)
		return rc;
	/* rows we never read were purged: the log starts past us, or is empty
	 * while the sequence moved on */
	if (hc_store_change_min(f->st, &minseq) == HUB_OK &&
		hc_store_change_seq(f->st, &maxseq) == HUB_OK &&
		(minseq ? minseq > f->seq + 1 : maxseq > f->seq)) {
		hc_db_read_end(f->st);
		f->data_version = dv;
		return reload(f);
	}
	if (f->queued > QUEUE_LIMIT) {
		hc_db_read_end(f->st);
		f->data_version = dv;
		return reload(f);
	}
	rc = hc_db_prep(f->st, &s,
		"SELECT seq, entity, key FROM change_log WHERE seq > ? ORDER BY seq LIMIT ?", "id",
		f->seq, BATCH);
	if (rc) {
		hc_db_read_end(f->st);
		return rc;
	}
	while ((step = hc_db_step(s)) == HC_DB_ROW) {
		struct hc_change *c = calloc(1, sizeof(*c));
		int64_t seq = hc_db_int64(s, 0);
		const char *entity = hc_db_text(s, 1);
		const char *key = hc_db_text(s, 2);
		if (!c) {
			rc = HUB_ERR_NOMEM;
			break;
		}
		c->seq = seq;
		rc = entity && key ? read_entity(f->st, entity, key, c) : HUB_ERR_INVAL;
		if (rc != HUB_OK && rc != HUB_ERR_INVAL) {
			free(c); /* the store failed: read this row again next time */
			break;
		}
		if (rc == HUB_ERR_INVAL) {
			free(c); /* not ours: skip the row */
			rc = HUB_OK;
		} else {
			if (tail)
				tail->next = c;
			else
				head = c;
			tail = c;
			n++;
		}
		f->seq = seq;
	}
	if (step != HC_DB_DONE && step != HC_DB_ROW && rc == HUB_OK)
		rc = step;
	hc_db_finalize(s);
	hc_db_read_end(f->st);
	if (head)
		enqueue(f, head, tail, n);
	/* a full batch means there may be more: look again without waiting
	 * for another data_version change */
	if (rc == HUB_OK && n < BATCH)
		f->data_version = dv;
	f->more = rc == HUB_OK && n == BATCH;
	return rc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void notify(struct hc_follow *f)
{
	uint64_t one = 1;
	if (f->evfd >= 0 && write(f->evfd, &one, sizeof(one)) < 0) {
		/* the counter is non-zero already: the worker wakes anyway */
	}
}

static void drop_waiter(struct hc_follow *f, int i)
{
	close(f->waiters[i].fd);
	f->waiters[i] = f->waiters[--f->nwaiters];
}

/* Answer every request whose position the owner has applied, and drop the
 * ones that waited too long (an owner thread that is stuck). */
static void answer_waiters(struct hc_follow *f, int64_t now)
{
	int64_t applied;
	pthread_mutex_lock(&f->lock);
	applied = f->applied;
	pthread_mutex_unlock(&f->lock);
	for (int i = 0; i < f->nwaiters;) {
		struct waiter *w = &f->waiters[i];
		char out[64];
		int n;
		if (w->seq >= 0 && applied >= w->seq)
			n = snprintf(out, sizeof(out), "ok %" PRId64 "\n", applied);
		else if (now - w->since > WAITER_MS)
			n = snprintf(out, sizeof(out), "timeout %" PRId64 "\n", applied);
		else {
			i++;
			continue;
		}
		if (send(w->fd, out, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
			/* the writer left or will see a closed socket */
		}
		drop_waiter(f, i);
	}
}

/* Read what a writer sent. Returns true when a complete request arrived. */
static bool read_waiter(struct hc_follow *f, int i)
{
	struct waiter *w = &f->waiters[i];
	char *end;
	ssize_t r = recv(w->fd, w->buf + w->len, sizeof(w->buf) - 1 - w->len, MSG_DONTWAIT);
	long long v;
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (r <= 0) {
		drop_waiter(f, i);
		return false;
	}
	w->len += (size_t)r;
	w->buf[w->len] = '\0';
	if (!strchr(w->buf, '\n')) {
		if (w->len >= sizeof(w->buf) - 1)
			drop_waiter(f, i); /* not a request of ours */
		return false;
	}
	errno = 0;
	v = strncmp(w->buf, "sync ", 5) ? -1 : strtoll(w->buf + 5, &end, 10);
	if (v < 0 || errno || end == w->buf + 5 || (*end != '\n' && *end != '\r')) {
		static const char bad[] = "error bad request\n";
		if (send(w->fd, bad, sizeof(bad) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			/* nothing more to tell it */
		}
		drop_waiter(f, i);
		return false;
	}
	w->seq = v;
	return true;
}

static void accept_waiters(struct hc_follow *f, int64_t now)
{
	for (;;) {
		int fd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		if (f->nwaiters == WAITERS_MAX) {
			close(fd); /* the writer finds it closed and moves on */
			continue;
		}
		f->waiters[f->nwaiters++] = (struct waiter){.fd = fd, .seq = -1, .since = now};
	}
}

/* After a poll: with nothing left to apply, the owner is as far as we read. */
static void settle(struct hc_follow *f)
{
	pthread_mutex_lock(&f->lock);
	if (!f->head && !f->applying && f->seq > f->applied)
		f->applied = f->seq;
	pthread_mutex_unlock(&f->lock);
}

/* PostgreSQL: write this node's applied position when it moved, and at
 * least every HC_NODE_HEARTBEAT_MS (writers skip nodes silent for longer than
 * HC_NODE_STALE_MS), and wake writers waiting for it (hub_applied). */
static void report(struct hc_follow *f, int64_t now)
{
	struct hc_db_stmt *s = NULL;
	char node[HC_NODE_MAX];
	int64_t applied;
	int rc;
	pthread_mutex_lock(&f->lock);
	memcpy(node, f->node, sizeof(node));
	pthread_mutex_unlock(&f->lock);
	if (!node[0])
		return;
	applied = hc_follow_applied(f);
	if (applied == f->reported && now - f->reported_at < HC_NODE_HEARTBEAT_MS)
		return;
	f->reported_at = now;
	rc = hc_db_prep(f->st, &s,
		"INSERT INTO node_applied(node, pos, updated) VALUES(?1, ?2, hub_now_ms()) "
		"ON CONFLICT(node) DO UPDATE SET pos = excluded.pos, updated = excluded.updated",
		"si", node, applied);
	if (!rc)
		rc = hc_db_done(s);
	if (!rc && applied != f->reported &&
		!hc_db_prep(f->st, &s, "SELECT pg_notify('hub_applied', ?)", "s", node))
		rc = hc_db_done(s);
	f->reported = rc ? -1 : applied;
	if (!rc) {
		pthread_mutex_lock(&f->lock);
		f->reported_once = true;
		pthread_cond_broadcast(&f->reported_cond);
		pthread_mutex_unlock(&f->lock);
	}
}

static void *worker(void *arg)
{
	struct hc_follow *f = arg;
	struct pollfd pfd[2 + WAITERS_MAX];
	int64_t next_poll = 0;
	bool force = true;

	for (;;) {
		int64_t now = mono_ms(), timeout;
		int n = 0, lfd, base, pgfd;
		bool stop;

		pthread_mutex_lock(&f->lock);
		stop = f->stopping;
		lfd = f->lfd;
		pthread_mutex_unlock(&f->lock);
		if (stop)
			break;
		if (f->pg && (!f->listening || f->generation != hc_db_generation(f->st))) {
			/* (again) after a reconnect: what was notified meanwhile
			 * is read by the forced poll */
			f->generation = hc_db_generation(f->st);
			f->listening = hc_db_listen(f->st, "hub_change") == HUB_OK;
			force = true;
		}
		if (force || now >= next_poll) {
			/* a writer waits: read until caught up, a batch at a time */
			int rounds = 0;
			do {
				if (poll_once(f) != HUB_OK) {
					/* the directory stays as it is, in memory: say
					 * so once, not at every refresh */
					if (!f->store_down)
						hc_warn("msg=\"follow: poll failed, the directory "
							"stays as last read\" err=\"%s\"",
							hc_store_errmsg(f->st));
					f->store_down = true;
					break;
				}
				if (f->store_down)
					hc_info("msg=\"follow: the store answers again\"");
				f->store_down = false;
			} while (force && f->more && ++rounds < 100);
			settle(f);
			force = false;
			now = mono_ms();
			next_poll = now + f->refresh_ms;
		}
		answer_waiters(f, now);
		report(f, now);
		/* a notification that came in while a statement ran sits in
		 * libpq's queue, not on the socket: look there before sleeping */
		if (f->pg && f->listening && hc_db_notified(f->st) > 0) {
			force = true;
			continue;
		}

		pfd[n++] = (struct pollfd){.fd = f->evfd, .events = POLLIN};
		pgfd = f->pg && f->listening ? hc_db_notify_fd(f->st) : -1;
		if (pgfd >= 0)
			pfd[n++] = (struct pollfd){.fd = pgfd, .events = POLLIN};
		base = n;
		if (lfd >= 0)
			pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < f->nwaiters; i++)
			pfd[n++] = (struct pollfd){.fd = f->waiters[i].fd, .events = POLLIN};
		timeout = next_poll - now;
		if (f->nwaiters && timeout > 100)
			timeout = 100; /* look at expiries now and then */
		if (f->pg && timeout > HC_NODE_HEARTBEAT_MS)
			timeout = HC_NODE_HEARTBEAT_MS;
		if (timeout < 0)
			timeout = 0;
		if (poll(pfd, (nfds_t)n, (int)timeout) < 0) {
			if (errno != EINTR)
				hc_warn("msg=\"follow: poll\" err=\"%s\"", strerror(errno));
			continue;
		}
		if (pfd[0].revents) {
			uint64_t v;
			if (read(f->evfd, &v, sizeof(v)) < 0) {
				/* EAGAIN: someone else read it */
			}
		}
		if (pgfd >= 0 && pfd[1].revents) {
			int got = hc_db_notified(f->st);
			if (got < 0)
				f->listening = false; /* lost: reconnect, listen, poll */
			if (got)
				force = true;
		}
		/* requests first (indexes shift as waiters go), then new ones */
		for (int i = f->nwaiters - 1; i >= 0; i--) {
			int k = base + (lfd >= 0) + i;
			if (k < n && pfd[k].fd == f->waiters[i].fd && pfd[k].revents &&
				read_waiter(f, i))
				force = true;
		}
		if (lfd >= 0 && pfd[base].revents)
			accept_waiters(f, mono_ms());
	}
	return NULL;
}

int hc_follow_start(const char *db_path, int64_t from_seq, int refresh_ms, void (*wake)(void *ud),
	void *ud, struct hc_follow **out, char *err, size_t errsz)
{
	struct hc_follow *f = calloc(1, sizeof(*f));
	int rc;

	*out = NULL;
	if (!f) {
		snprintf(err, errsz, "out of memory");
		return HUB_ERR_NOMEM;
	}
	f->evfd = f->lfd = f->dirfd = -1;
	rc = hc_store_open(db_path, HC_STORE_RO, &f->st, err, errsz);
	if (rc) {
		free(f);
		return rc;
	}
	f->pg = hc_db_engine(f->st) == HC_DB_POSTGRESQL;
	f->reported = -1;
	f->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f->evfd < 0) {
		snprintf(err, errsz, "eventfd: %s", strerror(errno));
		hc_store_close(f->st);
		free(f);
		return HUB_ERR_IO;
	}
	f->seq = from_seq;
	f->applied = from_seq;
	f->queue_pos = from_seq;
	f->data_version = -1;
	f->refresh_ms = refresh_ms > 0 ? refresh_ms : 200;
	f->wake = wake;
	f->ud = ud;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->reported_cond, NULL);
	if (pthread_create(&f->thread, NULL, worker, f) != 0) {
		snprintf(err, errsz, "cannot start the store follower thread: %s", strerror(errno));
		hc_store_close(f->st);
		close(f->evfd);
		pthread_mutex_destroy(&f->lock);
		pthread_cond_destroy(&f->reported_cond);
		free(f);
		return HUB_ERR_IO;
	}
	*out = f;
	return HUB_OK;
}

int hc_follow_listen(
	struct hc_follow *f, const char *sync_dir, const char *name, char *err, size_t errsz)
{
	struct sockaddr_un sa;
	size_t alen;
	int fd = -1, dfd;

	if (f->pg) {
		/* writers on any node wait on node_applied, not on a socket */
		char host[128] = "";
		gethostname(host, sizeof(host) - 1);
		struct timespec until;
		bool ok;
		pthread_mutex_lock(&f->lock);
		if (snprintf(f->node, sizeof(f->node), "%s/%s-%ld", host, name, (long)getpid()) >=
			(int)sizeof(f->node))
			f->node[sizeof(f->node) - 1] = '\0';
		pthread_mutex_unlock(&f->lock);
		notify(f);
		/* a writer must not miss this node: return once it is in
		 * node_applied (bounded: a store that is down does not stop
		 * the start, the heartbeat adds the row later) */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += LISTEN_WAIT_S;
		pthread_mutex_lock(&f->lock);
		while (!f->reported_once &&
			pthread_cond_timedwait(&f->reported_cond, &f->lock, &until) == 0) {
		}
		ok = f->reported_once;
		pthread_mutex_unlock(&f->lock);
		if (!ok)
			hc_warn("msg=\"follow: node %s not yet in node_applied\" err=\"%s\"", name,
				"the store did not answer in time");
		(void)sync_dir;
		(void)err;
		(void)errsz;
		return HUB_OK;
	}

	if (mkdir(sync_dir, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errsz, "%s: %s", sync_dir, strerror(errno));
		return HUB_ERR_IO;
	}
	dfd = open(sync_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(err, errsz, "%s: %s", sync_dir, strerror(errno));
		return HUB_ERR_IO;
	}
	snprintf(f->sock_dir, sizeof(f->sock_dir), "%s", sync_dir);
	if (snprintf(f->sock_name, sizeof(f->sock_name), "%s-%ld.sock", name, (long)getpid()) >=
		(int)sizeof(f->sock_name)) {
		snprintf(err, errsz, "sync socket name too long");
		close(dfd);
		return HUB_ERR_INVAL;
	}
	alen = hc_sync_addr(&sa, sync_dir, dfd, f->sock_name);
	if (!alen) {
		snprintf(err, errsz, "sync socket path too long");
		close(dfd);
		return HUB_ERR_INVAL;
	}
	unlinkat(dfd, f->sock_name, 0); /* a process of ours with this pid died */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, (socklen_t)alen) < 0 ||
		listen(fd, WAITERS_MAX) < 0) {
		snprintf(err, errsz, "sync socket %s/%s: %s", sync_dir, f->sock_name,
			strerror(errno));
		if (fd >= 0)
			close(fd);
		close(dfd);
		return HUB_ERR_IO;
	}
	fchmodat(dfd, f->sock_name, 0600, 0);
	pthread_mutex_lock(&f->lock);
	f->lfd = fd;
	f->dirfd = dfd;
	pthread_mutex_unlock(&f->lock);
	notify(f);
	return HUB_OK;
}

int hc_follow_apply(struct hc_follow *f, struct hc_acl_dir **dir,
	void (*cb)(void *ud, const struct hc_change *c, const struct hc_acl_dir *dir), void *ud)
{
	struct hc_change *list, *c;
	int64_t upto;
	int n = 0;

	if (!f || !atomic_load(&f->pending))
		return 0;
	pthread_mutex_lock(&f->lock);
	list = f->head;
	f->head = f->tail = NULL;
	f->queued = 0;
	upto = f->queue_pos;
	f->applying = true;
	atomic_store(&f->pending, 0);
	pthread_mutex_unlock(&f->lock);

	for (c = list; c; c = c->next, n++) {
		struct hc_acl_dir *d = *dir;
		switch (c->type) {
		case HC_CHG_PRINCIPAL:
		case HC_CHG_PRINCIPAL_DEL: {
			/* users and devices, and services, live in two tables
			 * sharing one namespace: a change of one never touches a
			 * principal of the other (a legacy name in both) */
			const struct hc_dir_principal *old =
				hc_dir_principal(d, c->p.name, strlen(c->p.name));
			if (old && (old->kind == HC_KIND_SERVICE) != (c->p.kind == HC_KIND_SERVICE))
				break;
			if (c->type == HC_CHG_PRINCIPAL_DEL)
				hc_dir_del_principal(d, c->p.name);
			else
				hc_dir_put_principal(
					d, &c->p, c->secret_hash[0] ? c->secret_hash : NULL);
			break;
		}
		case HC_CHG_ROOM:
			if (hc_dir_put_room_at(d, c->room, c->room_created_at) == HUB_OK)
				hc_dir_set_room_hook(d, c->room, c->hook);
			break;
		case HC_CHG_ROOM_DEL:
			hc_dir_del_room(d, c->room);
			break;
		case HC_CHG_LEVEL:
			hc_dir_set_level(d, c->room, c->principal, c->level);
			break;
		case HC_CHG_SESSION:
			hc_dir_put_session(d, &c->s);
			break;
		case HC_CHG_SESSION_DEL:
			hc_dir_del_session(d, c->s.sid);
			break;
		case HC_CHG_RELOAD:
			hc_acl_dir_free(*dir);
			*dir = c->dir;
			c->dir = NULL;
			break;
		}
		if (c->seq > (*dir)->seq)
			(*dir)->seq = c->seq;
		if (cb)
			cb(ud, c, *dir);
	}
	free_list(list);
	pthread_mutex_lock(&f->lock);
	f->applying = false;
	if (upto > f->applied)
		f->applied = upto;
	pthread_mutex_unlock(&f->lock);
	notify(f);
	return n;
}

int64_t hc_follow_applied(struct hc_follow *f)
{
	int64_t v;
	pthread_mutex_lock(&f->lock);
	v = f->applied;
	pthread_mutex_unlock(&f->lock);
	return v;
}

void hc_follow_stop(struct hc_follow *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	f->stopping = true;
	pthread_mutex_unlock(&f->lock);
	notify(f);
	pthread_join(f->thread, NULL);
	for (int i = 0; i < f->nwaiters; i++)
		close(f->waiters[i].fd);
	if (f->lfd >= 0) {
		close(f->lfd);
		unlinkat(f->dirfd, f->sock_name, 0);
	}
	if (f->dirfd >= 0)
		close(f->dirfd);
	close(f->evfd);
	if (f->node[0]) {
		/* a node that stops says so: writers do not wait for it */
		struct hc_db_stmt *s = NULL;
		if (!hc_db_prep(f->st, &s, "DELETE FROM node_applied WHERE node = ?", "s", f->node))
			hc_db_done(s);
	}
	free_list(f->head);
	hc_store_close(f->st);
	pthread_mutex_destroy(&f->lock);
	pthread_cond_destroy(&f->reported_cond);
	free(f);
}
