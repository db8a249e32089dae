/* SPDX-License-Identifier: MIT */
/*
 * Worker pools: slow work (password hashing, hundreds of ms a login; chat
 * history reads) never runs on the lws thread. It is queued here, run by a
 * few threads (hashing at a lower priority, nice +10), and the result is
 * handed back to the lws thread through a completion list and a wake-up
 * (lws_cancel_service).
 *
 * Waiting jobs sit in a fair queue (fairq.h): lanes served best first, and
 * within a lane one flow per client served round robin, each flow with a
 * bounded share of the queue. hubd's login pool uses this to keep logins
 * working through a flood (docs/hubd.md, "Logins under a flood").
 *
 * Each worker opens its own read-only store connection (a struct hc_store
 * is single-threaded) for the reads its job needs. Jobs carry no pointer
 * into lws: the loop finds the waiting request again by an id, so a client
 * that went away meanwhile costs nothing but the work.
 *
 * Thread rules: hub_workpool_submit, _collect, _depth, _stop and _free
 * are called from the loop thread only; work() runs on a worker.
 */
#ifndef HUB_WORKPOOL_H
#define HUB_WORKPOOL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fairq.h"

struct hc_store;
struct hub_workpool;

struct hub_job {
	struct hub_fairq_item qi; /* lane and flow_key: set before submit */
	struct hub_job *next;	  /* the completion list's link */
	/* Worker thread: the slow part. st is the worker's own store, NULL
	 * if it could not be opened. */
	void (*work)(struct hub_job *job, struct hc_store *st);
	/* Loop thread: the result. Owns the job from here (frees it). */
	void (*done)(struct hub_job *job, void *ud);
	bool cancelled; /* never ran (shutdown); set by the pool */
	bool skipped;	/* never ran: abandoned before a worker took it */
	bool evicted;	/* never ran: a job of a better lane took its place */
	/* Set from the loop thread when nobody waits for the result any more
	 * (the client went away): a job not started yet is skipped. */
	atomic_bool abandoned;
	int64_t work_us; /* how long work() took, wall clock */
	int64_t cpu_us;	 /* CPU time the worker spent in work() */
};

struct hub_workpool_opts {
	int workers;	     /* threads; 0: one per online CPU */
	size_t queue_max;    /* jobs waiting for a worker, in all */
	size_t flow_max;     /* jobs waiting per flow (0: no limit) */
	int nice;	     /* added to the workers' scheduling priority */
	const char *db_path; /* the store each worker opens read-only (copied) */
	/* called from a worker after it posted a result, and from submit
	 * after an eviction; thread-safe (lws_cancel_service is) */
	void (*wake)(void *);
	void *wake_ud;
};

/* Start a pool. HUB_OK, HUB_ERR_NOMEM, HUB_ERR_IO. */
int hub_workpool_new(const struct hub_workpool_opts *o, struct hub_workpool **out);
/* Queue a job (job->qi.lane and job->qi.flow_key set). HUB_OK (a job of a
 * worse lane may have been evicted to make room: it comes back through
 * collect with evicted set); HUB_ERR_DENIED when its flow already has
 * flow_max jobs waiting; HUB_ERR_BUSY when the queue is full of jobs as
 * good or the pool is stopping. On an error the job stays the caller's. */
int hub_workpool_submit(struct hub_workpool *pool, struct hub_job *job);
/* Hand every finished job to its done(job, ud). Returns how many. */
int hub_workpool_collect(struct hub_workpool *pool, void *ud);
/* Jobs of flow key waiting for a worker right now. */
size_t hub_workpool_flow_waiting(struct hub_workpool *pool, const char *key);
/* Jobs waiting for a worker right now. */
size_t hub_workpool_depth(struct hub_workpool *pool);
/* Number of worker threads. */
int hub_workpool_workers(const struct hub_workpool *pool);
/* Refuse new jobs, mark waiting ones cancelled (they come back through
 * collect), let running ones finish and join the threads. */
void hub_workpool_stop(struct hub_workpool *pool);
/* After stop: hands leftovers to done(job, ud) and frees the pool. */
void hub_workpool_free(struct hub_workpool *pool, void *ud);

#endif
