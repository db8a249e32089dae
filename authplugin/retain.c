/* SPDX-License-Identifier: MIT */
/*
 * Retained messages belong to what they are about. The plugin keeps an
 * index of every retained topic it sees set, by clients (MESSAGE with the
 * retain flag; wills with it, at their WRITE check) and by the hub itself
 * (presence, statuses, OwnTracks cards): the topic, its bytes, the room it
 * is in (rooms/{room}/...), the identity it is about (users/{name}/...,
 * owntracks/{name}/...), the identity that wrote it, and the creation
 * time (generation) of each as the directory had it.
 *
 *  - Deleting a room, user or device clears (empty retained publish, from
 *    the broker thread) every retained message in that room, about that
 *    identity or written by it; so does creating one again under the same
 *    name (a new generation), also when both happened between two looks
 *    at the store or while the broker was down (checked at the first tick
 *    after a start, and when the whole directory is reloaded).
 *  - Bounds: per room and per writing identity, a count and bytes (topic +
 *    payload; retained_*). A retained publish past them is refused (MESSAGE
 *    returns ACL_DENIED: MQTT 5 QoS 1/2 get 0x87; 2.0.11 lets a plugin give
 *    no other code), a retained will past them is not sent. An empty
 *    retained publish (a deletion) is always let through.
 *
 * The retained messages themselves survive restarts in mosquitto.db; the
 * index survives in data_dir/retained.db, a SQLite file of ours written by
 * a thread of ours (changes coalesced per topic, written every
 * FLUSH_MS), read once at start-up. Retained messages set before this
 * index existed are not known to it.
 */
#include "hauth.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define FLUSH_MS 100

struct entry {
	uint32_t bytes;
	int64_t room_gen, subject_gen, writer_gen;
	char room[HC_NAME_MAX + 1];
	char subject[HC_NAME_MAX + 1];
	char writer[HC_NAME_MAX + 1];
};

struct usage {
	uint32_t count;
	uint64_t bytes;
};

/* a change waiting for the writer thread: the entry, or a deletion */
struct op {
	bool del;
	struct entry e;
};

struct hauth_retain {
	struct hc_hmap index;	/* topic -> struct entry */
	struct hc_hmap rooms;	/* room -> struct usage */
	struct hc_hmap writers; /* writing identity -> struct usage */
	bool reconciled;	/* checked against the directory since the start */
	/* shared with the writer thread */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	bool idle;		/* the writer waits for work: only then signalled */
	struct hc_hmap pending; /* topic -> struct op */
	sqlite3 *db;
	uint64_t write_errors;
};

/* ------------------------------------------------------------ topics */

/* Copy the level of topic after prefix (up to the next '/') into out;
 * false if absent, empty or longer than a name. */
static bool level_after(const char *topic, const char *prefix, char out[HC_NAME_MAX + 1])
{
	size_t plen = strlen(prefix), n;
	const char *p, *end;
	if (strncmp(topic, prefix, plen) != 0)
		return false;
	p = topic + plen;
	end = strchr(p, '/');
	n = end ? (size_t)(end - p) : strlen(p);
	if (n == 0 || n > HC_NAME_MAX)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

static int64_t principal_gen(struct hauth *h, const char *name)
{
	const struct hc_dir_principal *dp = hc_dir_principal(h->dir, name, strlen(name));
	return dp ? dp->created_at : 0;
}

static int64_t room_gen(struct hauth *h, const char *room)
{
	const struct hc_dir_room *r = hc_dir_room(h->dir, room, strlen(room));
	return r ? r->created_at : 0;
}

/* What topic is about: its room, its subject identity. */
static void classify(struct hauth *h, const char *topic, const char *writer, struct entry *e)
{
	memset(e, 0, sizeof(*e));
	if (level_after(topic, "rooms/", e->room))
		e->room_gen = room_gen(h, e->room);
	else if (level_after(topic, "users/", e->subject) ||
		 level_after(topic, "owntracks/", e->subject))
		e->subject_gen = principal_gen(h, e->subject);
	snprintf(e->writer, sizeof(e->writer), "%s", writer ? writer : "");
	if (writer && strcmp(writer, HC_SERVICE_PRINCIPAL) != 0)
		e->writer_gen = principal_gen(h, writer);
}

static uint32_t cost(const char *topic, uint32_t len)
{
	return (uint32_t)strlen(topic) + len;
}

/* ----------------------------------------------------------- usage */

static struct usage *usage_of(struct hc_hmap *m, const char *key, bool create)
{
	struct usage *u = hc_hmap_get(m, key, strlen(key));
	if (u || !create)
		return u;
	u = calloc(1, sizeof(*u));
	if (u && hc_hmap_put(m, key, strlen(key), u, NULL)) {
		free(u);
		u = NULL;
	}
	return u;
}

static void usage_add(struct hc_hmap *m, const char *key, uint32_t bytes, int sign)
{
	struct usage *u;
	if (!*key)
		return;
	u = usage_of(m, key, sign > 0);
	if (!u)
		return;
	if (sign > 0) {
		u->count++;
		u->bytes += bytes;
		return;
	}
	u->count = u->count ? u->count - 1 : 0;
	u->bytes = u->bytes >= bytes ? u->bytes - bytes : 0;
	if (!u->count)
		free(hc_hmap_del(m, key, strlen(key)));
}

/* The hub's own retained messages (presence, statuses, cards: writer "")
 * are indexed to be cleared, not charged to any bound. */
static void account(struct hauth_retain *r, const struct entry *e, int sign)
{
	if (!*e->writer)
		return;
	usage_add(&r->rooms, e->room, e->bytes, sign);
	usage_add(&r->writers, e->writer, e->bytes, sign);
}

/* ------------------------------------------------------ persistence */

static void queue_op(struct hauth_retain *r, const char *topic, const struct entry *e)
{
	struct op *o = calloc(1, sizeof(*o)), *old = NULL;
	if (!o)
		return;
	o->del = e == NULL;
	if (e)
		o->e = *e;
	pthread_mutex_lock(&r->lock);
	if (hc_hmap_put(&r->pending, topic, strlen(topic), o, (void **)&old)) {
		free(o);
		r->write_errors++;
	}
	if (r->idle)
		pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	free(old);
}

struct flush_ud {
	sqlite3_stmt *put, *del;
	int errors;
};

static int flush_cb(void *ud, const char *topic, void *value)
{
	struct flush_ud *f = ud;
	struct op *o = value;
	sqlite3_stmt *s = o->del ? f->del : f->put;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, topic, -1, SQLITE_STATIC);
	if (!o->del) {
		sqlite3_bind_int64(s, 2, o->e.bytes);
		sqlite3_bind_text(s, 3, o->e.room, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, o->e.room_gen);
		sqlite3_bind_text(s, 5, o->e.subject, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 6, o->e.subject_gen);
		sqlite3_bind_text(s, 7, o->e.writer, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 8, o->e.writer_gen);
	}
	if (sqlite3_step(s) != SQLITE_DONE)
		f->errors++;
	return 0;
}

static void write_batch(struct hauth_retain *r, struct flush_ud *f, struct hc_hmap *batch)
{
	f->errors = 0;
	if (!f->put || !f->del || sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		f->errors++;
	} else {
		hc_hmap_each(batch, flush_cb, f);
		if (sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			f->errors++;
			sqlite3_exec(r->db, "ROLLBACK", NULL, NULL, NULL);
		}
	}
	if (f->errors) {
		pthread_mutex_lock(&r->lock);
		r->write_errors += (uint64_t)f->errors;
		pthread_mutex_unlock(&r->lock);
		hc_warn("msg=\"retained index: writes failed\" count=%d err=\"%s\"", f->errors,
			sqlite3_errmsg(r->db));
	}
}

static int free_op_cb(void *ud, const char *key, void *value)
{
	(void)ud;
	(void)key;
	free(value);
	return 0;
}

static void *writer_main(void *arg)
{
	struct hauth_retain *r = arg;
	struct flush_ud f = {0};
	struct hc_hmap batch;
	bool stop = false;

	sqlite3_prepare_v2(r->db,
		"INSERT OR REPLACE INTO retained(topic, bytes, room, room_gen, subject, "
		"subject_gen, writer, writer_gen) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
		-1, &f.put, NULL);
	sqlite3_prepare_v2(r->db, "DELETE FROM retained WHERE topic = ?", -1, &f.del, NULL);
	while (!stop) {
		struct timespec until;
		pthread_mutex_lock(&r->lock);
		r->idle = true;
		while (!r->stopping && !r->pending.count)
			pthread_cond_wait(&r->cond, &r->lock);
		r->idle = false;
		/* gather for FLUSH_MS (changes meanwhile do not signal: only a
		 * stop ends the wait early), then one transaction for the burst */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += FLUSH_MS * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!r->stopping && pthread_cond_timedwait(&r->cond, &r->lock, &until) == 0)
			;
		batch = r->pending;
		hc_hmap_init(&r->pending);
		stop = r->stopping;
		pthread_mutex_unlock(&r->lock);
		if (batch.count)
			write_batch(r, &f, &batch);
		hc_hmap_each(&batch, free_op_cb, NULL);
		hc_hmap_clear(&batch);
	}
	sqlite3_finalize(f.put);
	sqlite3_finalize(f.del);
	return NULL;
}

static int load(struct hauth_retain *r)
{
	sqlite3_stmt *s = NULL;
	int rc;
	if (sqlite3_prepare_v2(r->db,
		    "SELECT topic, bytes, room, room_gen, subject, subject_gen, writer, "
		    "writer_gen FROM retained",
		    -1, &s, NULL) != SQLITE_OK)
		return HUB_ERR_DB;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *topic = (const char *)sqlite3_column_text(s, 0);
		struct entry *e = calloc(1, sizeof(*e));
		if (!e || !topic) {
			free(e);
			continue;
		}
		e->bytes = (uint32_t)sqlite3_column_int64(s, 1);
		snprintf(e->room, sizeof(e->room), "%s", sqlite3_column_text(s, 2));
		e->room_gen = sqlite3_column_int64(s, 3);
		snprintf(e->subject, sizeof(e->subject), "%s", sqlite3_column_text(s, 4));
		e->subject_gen = sqlite3_column_int64(s, 5);
		snprintf(e->writer, sizeof(e->writer), "%s", sqlite3_column_text(s, 6));
		e->writer_gen = sqlite3_column_int64(s, 7);
		if (hc_hmap_put(&r->index, topic, strlen(topic), e, NULL)) {
			free(e);
			continue;
		}
		account(r, e, +1);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? HUB_OK : HUB_ERR_DB;
}

int hauth_retain__start(struct hauth *h, const char *path, char *err, size_t errsz)
{
	struct hauth_retain *r = calloc(1, sizeof(*r));
	int rc;

	if (!r)
		return HUB_ERR_NOMEM;
	hc_hmap_init(&r->index);
	hc_hmap_init(&r->rooms);
	hc_hmap_init(&r->writers);
	hc_hmap_init(&r->pending);
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	h->retain = r;
	/* start-up: the one moment this file is read on the broker thread */
	if (sqlite3_open_v2(path, &r->db,
		    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
		    NULL) != SQLITE_OK) {
		snprintf(err, errsz, "%s: %s", path, r->db ? sqlite3_errmsg(r->db) : "no memory");
		return HUB_ERR_DB;
	}
	chmod(path, 0600);
	sqlite3_busy_timeout(r->db, 5000);
	if (sqlite3_exec(r->db,
		    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
		    "CREATE TABLE IF NOT EXISTS retained(topic TEXT PRIMARY KEY NOT NULL,"
		    " bytes INTEGER NOT NULL, room TEXT NOT NULL, room_gen INTEGER NOT NULL,"
		    " subject TEXT NOT NULL, subject_gen INTEGER NOT NULL, writer TEXT NOT NULL,"
		    " writer_gen INTEGER NOT NULL) WITHOUT ROWID",
		    NULL, NULL, NULL) != SQLITE_OK ||
		(rc = load(r)) != HUB_OK) {
		snprintf(err, errsz, "%s: %s", path, sqlite3_errmsg(r->db));
		return HUB_ERR_DB;
	}
	if (pthread_create(&r->thread, NULL, writer_main, r) != 0) {
		snprintf(err, errsz, "cannot start the retained index writer");
		return HUB_ERR_IO;
	}
	r->thread_started = true;
	hc_info("msg=\"retained index loaded\" topics=%zu rooms=%zu writers=%zu", r->index.count,
		r->rooms.count, r->writers.count);
	return HUB_OK;
}

static int free_cb(void *ud, const char *key, void *value)
{
	(void)ud;
	(void)key;
	free(value);
	return 0;
}

void hauth_retain__stop(struct hauth *h)
{
	struct hauth_retain *r = h->retain;
	if (!r)
		return;
	if (r->thread_started) {
		pthread_mutex_lock(&r->lock);
		r->stopping = true;
		pthread_cond_signal(&r->cond);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->thread, NULL);
	}
	hc_hmap_each(&r->pending, free_op_cb, NULL);
	hc_hmap_clear(&r->pending);
	hc_hmap_each(&r->index, free_cb, NULL);
	hc_hmap_clear(&r->index);
	hc_hmap_each(&r->rooms, free_cb, NULL);
	hc_hmap_clear(&r->rooms);
	hc_hmap_each(&r->writers, free_cb, NULL);
	hc_hmap_clear(&r->writers);
	sqlite3_close(r->db);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r);
	h->retain = NULL;
}

static bool stale(struct hauth *h, const struct entry *e);

/* ------------------------------------------------------ the index */

static void forget(struct hauth_retain *r, const char *topic)
{
	struct entry *e = hc_hmap_del(&r->index, topic, strlen(topic));
	if (!e)
		return;
	account(r, e, -1);
	free(e);
	queue_op(r, topic, NULL);
}

static void remember(struct hauth_retain *r, const char *topic, const struct entry *e)
{
	struct entry *n = malloc(sizeof(*n)), *old = NULL;
	if (!n)
		return;
	*n = *e;
	if (hc_hmap_put(&r->index, topic, strlen(topic), n, (void **)&old)) {
		free(n);
		return;
	}
	if (old) {
		account(r, old, -1);
		free(old);
	}
	account(r, n, +1);
	queue_op(r, topic, n);
}

static bool over(const struct usage *u, uint32_t count_add, uint64_t bytes_add, int64_t max,
	int64_t max_bytes)
{
	uint32_t count = u ? u->count : 0;
	uint64_t bytes = u ? u->bytes : 0;
	return (int64_t)count + count_add > max || bytes + bytes_add > (uint64_t)max_bytes;
}

/* NULL if a retained message of len bytes by writer on topic fits the
 * bounds (e: what it would be indexed as), else which bound it passes. */
static const char *bounds(
	struct hauth *h, const char *writer, const char *topic, uint32_t len, struct entry *e)
{
	struct hauth_retain *r = h->retain;
	const struct entry *old;
	uint32_t same_room_count = 0, same_writer_count = 0;
	uint64_t same_room_bytes = 0, same_writer_bytes = 0;

	classify(h, topic, writer, e);
	e->bytes = cost(topic, len);
	/* a replacement gives back what the old one took (the hub's own
	 * entries, writer "", took nothing) */
	old = hc_hmap_get(&r->index, topic, strlen(topic));
	if (old && !*old->writer)
		old = NULL;
	if (old && *old->room && !strcmp(old->room, e->room)) {
		same_room_count = 1;
		same_room_bytes = old->bytes;
	}
	if (old && *old->writer && !strcmp(old->writer, e->writer)) {
		same_writer_count = 1;
		same_writer_bytes = old->bytes;
	}
	if (*e->room) {
		const struct usage *u = hc_hmap_get(&r->rooms, e->room, strlen(e->room));
		uint32_t c = u ? u->count - same_room_count : 0;
		uint64_t b = u ? u->bytes - same_room_bytes : 0;
		struct usage adj = {c, b};
		if (over(&adj, 1, e->bytes, hc_cfg_int(&h->cfg, HC_CFG_RETAINED_ROOM_MAX),
			    hc_cfg_int(&h->cfg, HC_CFG_RETAINED_ROOM_BYTES)))
			return "retained quota of the room";
	}
	if (*e->writer && strcmp(e->writer, HC_SERVICE_PRINCIPAL) != 0) {
		const struct usage *u = hc_hmap_get(&r->writers, e->writer, strlen(e->writer));
		uint32_t c = u ? u->count - same_writer_count : 0;
		uint64_t b = u ? u->bytes - same_writer_bytes : 0;
		struct usage adj = {c, b};
		if (over(&adj, 1, e->bytes, hc_cfg_int(&h->cfg, HC_CFG_RETAINED_IDENTITY_MAX),
			    hc_cfg_int(&h->cfg, HC_CFG_RETAINED_IDENTITY_BYTES)))
			return "retained quota of the identity";
	}
	return NULL;
}

const char *hauth_retain__check(
	struct hauth *h, const char *writer, const char *topic, uint32_t len)
{
	struct entry e;
	if (!h->retain || topic[0] == '$' || len == 0)
		return NULL;
	return bounds(h, writer, topic, len, &e);
}

const char *hauth_retain__publish(
	struct hauth *h, const char *writer, const char *topic, uint32_t len)
{
	struct hauth_retain *r = h->retain;
	struct entry e;
	const char *why;

	if (!r || topic[0] == '$')
		return NULL;
	if (len == 0) {
		forget(r, topic); /* a deletion, always allowed */
		return NULL;
	}
	why = bounds(h, writer, topic, len, &e);
	if (why)
		return why;
	remember(r, topic, &e);
	return NULL;
}

void hauth_retain__note(struct hauth *h, const char *topic, uint32_t len)
{
	struct hauth_retain *r = h ? h->retain : NULL;
	struct entry e;
	if (!r || topic[0] == '$')
		return;
	if (len == 0) {
		forget(r, topic);
		return;
	}
	classify(h, topic, NULL, &e);
	e.bytes = cost(topic, len);
	if (r->reconciled && stale(h, &e)) {
		/* about a room or identity already gone (the hub's offline
		 * status after a deletion): cleared right behind it */
		if (mosquitto_broker_publish_copy(NULL, topic, 0, NULL, 0, true, NULL) ==
			MOSQ_ERR_SUCCESS)
			forget(r, topic);
		return;
	}
	remember(r, topic, &e);
}

/* ------------------------------------------------------ clearing */

/* Whether an entry outlived what it is about (deleted, or created again:
 * another generation) in today's directory. */
static bool stale(struct hauth *h, const struct entry *e)
{
	const struct hc_dir_room *room;
	const struct hc_dir_principal *p;
	if (*e->room) {
		room = hc_dir_room(h->dir, e->room, strlen(e->room));
		if (!room || room->created_at != e->room_gen)
			return true;
	}
	if (*e->subject) {
		p = hc_dir_principal(h->dir, e->subject, strlen(e->subject));
		if (!p || p->created_at != e->subject_gen)
			return true;
	}
	if (*e->writer && strcmp(e->writer, HC_SERVICE_PRINCIPAL) != 0) {
		p = hc_dir_principal(h->dir, e->writer, strlen(e->writer));
		if (!p || p->created_at != e->writer_gen)
			return true;
	}
	return false;
}

struct sweep_ud {
	struct hauth *h;
	const char *room, *principal; /* NULL: any */
	char **topics;
	size_t n, cap;
};

static int sweep_cb(void *ud, const char *topic, void *value)
{
	struct sweep_ud *s = ud;
	const struct entry *e = value;
	bool hit = s->room ? !strcmp(e->room, s->room)
		   : s->principal
			   ? !strcmp(e->subject, s->principal) || !strcmp(e->writer, s->principal)
			   : true;
	if (!hit || !stale(s->h, e))
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 32;
		char **t = realloc(s->topics, cap * sizeof(*t));
		if (!t)
			return 1;
		s->topics = t;
		s->cap = cap;
	}
	s->topics[s->n] = strdup(topic);
	if (s->topics[s->n])
		s->n++;
	return 0;
}

/* Clear what is stale among the entries of room / of principal / all. */
static void sweep(struct hauth *h, const char *room, const char *principal, const char *why)
{
	struct sweep_ud s = {.h = h, .room = room, .principal = principal};
	hc_hmap_each(&h->retain->index, sweep_cb, &s);
	for (size_t i = 0; i < s.n; i++) {
		if (mosquitto_broker_publish_copy(NULL, s.topics[i], 0, NULL, 0, true, NULL) !=
			MOSQ_ERR_SUCCESS)
			hc_warn("msg=\"cannot clear a retained message\" topic=%s", s.topics[i]);
		forget(h->retain, s.topics[i]);
		free(s.topics[i]);
	}
	if (s.n)
		hc_info("msg=\"cleared retained messages\" count=%zu of=%s%s reason=%s", s.n,
			room	    ? "room:"
			: principal ? "principal:"
				    : "all",
			room	    ? room
			: principal ? principal
				    : "",
			why);
	free(s.topics);
}

void hauth_retain__change(struct hauth *h, const struct hc_change *chg)
{
	if (!h->retain || !h->retain->reconciled)
		return; /* the first tick looks at everything */
	switch (chg->type) {
	case HC_CHG_ROOM:
	case HC_CHG_ROOM_DEL:
		sweep(h, chg->room, NULL, chg->type == HC_CHG_ROOM ? "created again" : "deleted");
		break;
	case HC_CHG_PRINCIPAL:
	case HC_CHG_PRINCIPAL_DEL:
		sweep(h, NULL, chg->p.name,
			chg->type == HC_CHG_PRINCIPAL ? "created again" : "deleted");
		break;
	case HC_CHG_RELOAD:
		sweep(h, NULL, NULL, "directory reloaded");
		break;
	default:
		break;
	}
}

void hauth_retain__tick(struct hauth *h)
{
	if (!h->retain || h->retain->reconciled)
		return;
	h->retain->reconciled = true;
	sweep(h, NULL, NULL, "gone while the broker was down");
}
