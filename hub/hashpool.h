/* SPDX-License-Identifier: MIT */
/*
 * Password hashing workers. Slow work (scrypt: hundreds of ms a login)
 * never runs on the lws thread: it is queued here, run by a few threads at
 * a lower priority (nice +10), and the result is handed back to the lws
 * thread through a completion list and a wake-up (lws_cancel_service).
 *
 * Each worker opens its own read-only store connection (a struct hc_store
 * is single-threaded) for the reads its job needs. Jobs carry no pointer
 * into lws: the loop finds the waiting request again by an id, so a client
 * that went away meanwhile costs nothing but the hash.
 *
 * Thread rules: hub_hashpool_submit, _collect, _depth, _stop and _free
 * are called from the loop thread only; work() runs on a worker.
 */
#ifndef HUB_HASHPOOL_H
#define HUB_HASHPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hc_store;
struct hub_hashpool;

struct hub_job {
	struct hub_job *next; /* pool's list link */
	/* Worker thread: the slow part. st is the worker's own store, NULL
	 * if it could not be opened. */
	void (*work)(struct hub_job *job, struct hc_store *st);
	/* Loop thread: the result. Owns the job from here (frees it). */
	void (*done)(struct hub_job *job, void *ud);
	bool cancelled; /* never ran (shutdown); set by the pool */
	bool skipped;	/* never ran: abandoned before a worker took it */
	/* Set from the loop thread when nobody waits for the result any more
	 * (the client went away): a job not started yet is skipped. */
	atomic_bool abandoned;
	int64_t work_us; /* how long work() took, wall clock */
	int64_t cpu_us;	 /* CPU time the worker spent in work() */
};

/*
 * Start workers threads (0: one per online CPU) with room for queue_max
 * waiting jobs. db_path is the store each worker opens read-only (copied).
 * wake(wake_ud) is called from a worker after it posted a result; it must be
 * thread-safe (lws_cancel_service is). HUB_OK, HUB_ERR_NOMEM, HUB_ERR_IO.
 */
int hub_hashpool_new(int workers, size_t queue_max, const char *db_path, void (*wake)(void *),
	void *wake_ud, struct hub_hashpool **out);
/* Queue a job. HUB_OK, or HUB_ERR_BUSY when queue_max jobs are waiting or
 * the pool is stopping (the job stays the caller's). */
int hub_hashpool_submit(struct hub_hashpool *pool, struct hub_job *job);
/* Hand every finished job to its done(job, ud). Returns how many. */
int hub_hashpool_collect(struct hub_hashpool *pool, void *ud);
/* Jobs waiting for a worker right now. */
size_t hub_hashpool_depth(struct hub_hashpool *pool);
/* Number of worker threads. */
int hub_hashpool_workers(const struct hub_hashpool *pool);
/* Refuse new jobs, mark waiting ones cancelled (they come back through
 * collect), let running ones finish and join the threads. */
void hub_hashpool_stop(struct hub_hashpool *pool);
/* After stop: hands leftovers to done(job, ud) and frees the pool. */
void hub_hashpool_free(struct hub_hashpool *pool, void *ud);

#endif
