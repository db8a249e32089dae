/* SPDX-License-Identifier: MIT */
/*
 * Worker pools: a fair queue of jobs (fairq.c), N threads, a completion
 * list. One mutex guards both; work runs outside it.
 */
#include "workpool.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

struct hub_workpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hub_fairq q;		 /* waiting */
	struct hub_job *d_head, *d_tail; /* finished, for the loop */
	int nice;
	bool stop;
	pthread_t *threads;
	int nthreads;
	char *db_path;
	void (*wake)(void *);
	void *wake_ud;
};

static void push(struct hub_job **head, struct hub_job **tail, struct hub_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static int64_t mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t cpu_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct hc_store *open_store(struct hub_workpool *pool, bool *warned)
{
	struct hc_store *st = NULL;
	char err[512];

	if (hc_store_open(pool->db_path, HC_STORE_RO, &st, err, sizeof(err)) != HUB_OK) {
		if (!*warned)
			hc_err("msg=\"hash worker cannot open the store\" err=\"%s\"", err);
		*warned = true;
		return NULL;
	}
	*warned = false;
	return st;
}

static struct hub_job *job_of(struct hub_fairq_item *it)
{
	return it ? (struct hub_job *)((char *)it - offsetof(struct hub_job, qi)) : NULL;
}

static void *worker(void *arg)
{
	struct hub_workpool *pool = arg;
	struct hc_store *st = NULL;
	bool warned = false;

	/* Linux applies setpriority(PRIO_PROCESS, tid) to the thread only:
	 * hashing yields the CPU to the lws thread under load */
	if (pool->nice) {
		errno = 0;
		int prio = getpriority(PRIO_PROCESS, (id_t)gettid());
		if (errno == 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), prio + pool->nice) != 0)
			hc_warn("msg=\"cannot lower worker priority\" errno=%d", errno);
	}

	pthread_mutex_lock(&pool->mu);
	for (;;) {
		struct hub_job *j;
		int64_t t0;

		while (!pool->q.len && !pool->stop)
			pthread_cond_wait(&pool->cv, &pool->mu);
		j = job_of(hub_fairq_pop(&pool->q));
		if (!j)
			break; /* stopping and nothing left that is ours to run */
		pthread_mutex_unlock(&pool->mu);

		if (atomic_load(&j->abandoned)) {
			/* its client left while it waited: no hash for nobody */
			j->skipped = true;
		} else {
			if (!st)
				st = open_store(pool, &warned);
			int64_t c0 = cpu_us();
			t0 = mono_us();
			j->work(j, st);
			j->work_us = mono_us() - t0;
			j->cpu_us = cpu_us() - c0;
		}

		pthread_mutex_lock(&pool->mu);
		push(&pool->d_head, &pool->d_tail, j);
		pthread_mutex_unlock(&pool->mu);
		pool->wake(pool->wake_ud);
		pthread_mutex_lock(&pool->mu);
	}
	pthread_mutex_unlock(&pool->mu);
	hc_store_close(st);
	return NULL;
}

int hub_workpool_new(const struct hub_workpool_opts *o, struct hub_workpool **out)
{
	struct hub_workpool *pool;
	sigset_t all, old;
	int rc = HUB_OK, workers = o->workers;

	*out = NULL;
	if (workers <= 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		workers = n > 0 ? (n > 64 ? 64 : (int)n) : 1;
	}
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return HUB_ERR_NOMEM;
	pthread_mutex_init(&pool->mu, NULL);
	pthread_cond_init(&pool->cv, NULL);
	hub_fairq_init(&pool->q, o->queue_max, o->flow_max);
	pool->nice = o->nice;
	pool->wake = o->wake;
	pool->wake_ud = o->wake_ud;
	pool->db_path = strdup(o->db_path);
	pool->threads = calloc((size_t)workers, sizeof(pthread_t));
	if (!pool->db_path || !pool->threads) {
		rc = HUB_ERR_NOMEM;
		goto fail;
	}
	/* workers must not take SIGTERM/SIGINT: the loop thread handles them */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < workers; i++) {
		if (pthread_create(&pool->threads[i], NULL, worker, pool) != 0) {
			rc = HUB_ERR_IO;
			break;
		}
		pool->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		goto fail;
	*out = pool;
	return HUB_OK;
fail:
	hub_workpool_stop(pool);
	hub_workpool_free(pool, NULL);
	return rc;
}

static bool is_abandoned(void *ud, const struct hub_fairq_item *it)
{
	const struct hub_job *j = job_of((struct hub_fairq_item *)it);
	(void)ud;
	return atomic_load(&j->abandoned);
}

int hub_workpool_submit(struct hub_workpool *pool, struct hub_job *job)
{
	struct hub_fairq_item *out = NULL, *gone;
	struct hub_job *ev;
	bool purged = false;
	int rc;

	job->cancelled = false;
	job->skipped = false;
	job->evicted = false;
	atomic_init(&job->abandoned, false);
	job->work_us = 0;
	job->cpu_us = 0;
	pthread_mutex_lock(&pool->mu);
	/* jobs of this flow whose clients left take no share of it: they leave
	 * the queue now (skipped, answered nobody) instead of when a worker
	 * reaches them */
	gone = hub_fairq_remove_if(&pool->q, job->qi.flow_key, is_abandoned, NULL);
	while (gone) {
		struct hub_fairq_item *next = gone->next;
		struct hub_job *g = job_of(gone);
		g->skipped = true;
		push(&pool->d_head, &pool->d_tail, g);
		purged = true;
		gone = next;
	}
	if (pool->stop) {
		rc = HUB_ERR_BUSY;
	} else {
		rc = hub_fairq_push(&pool->q, &job->qi, &out);
		if (rc == HUB_ERR_NOMEM)
			rc = HUB_ERR_BUSY;
		if (rc == HUB_OK)
			pthread_cond_signal(&pool->cv);
	}
	ev = job_of(out);
	if (ev) {
		/* answered by the loop on its next collect */
		ev->evicted = true;
		push(&pool->d_head, &pool->d_tail, ev);
	}
	pthread_mutex_unlock(&pool->mu);
	if (ev || purged)
		pool->wake(pool->wake_ud);
	return rc;
}

int hub_workpool_collect(struct hub_workpool *pool, void *ud)
{
	struct hub_job *j;
	int n = 0;

	pthread_mutex_lock(&pool->mu);
	j = pool->d_head;
	pool->d_head = pool->d_tail = NULL;
	pthread_mutex_unlock(&pool->mu);
	while (j) {
		struct hub_job *next = j->next;
		j->next = NULL;
		j->done(j, ud);
		j = next;
		n++;
	}
	return n;
}

size_t hub_workpool_flow_waiting(struct hub_workpool *pool, const char *key)
{
	size_t n;
	pthread_mutex_lock(&pool->mu);
	n = hub_fairq_flow_len(&pool->q, key);
	pthread_mutex_unlock(&pool->mu);
	return n;
}

size_t hub_workpool_depth(struct hub_workpool *pool)
{
	size_t n;
	pthread_mutex_lock(&pool->mu);
	n = pool->q.len;
	pthread_mutex_unlock(&pool->mu);
	return n;
}

int hub_workpool_workers(const struct hub_workpool *pool)
{
	return pool->nthreads;
}

void hub_workpool_stop(struct hub_workpool *pool)
{
	struct hub_job *j;

	pthread_mutex_lock(&pool->mu);
	pool->stop = true;
	/* waiting jobs come back cancelled, in serving order */
	while ((j = job_of(hub_fairq_pop(&pool->q)))) {
		j->cancelled = true;
		push(&pool->d_head, &pool->d_tail, j);
	}
	pthread_cond_broadcast(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	for (int i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pool->nthreads = 0;
}

void hub_workpool_free(struct hub_workpool *pool, void *ud)
{
	if (!pool)
		return;
	if (pool->d_head)
		hub_workpool_collect(pool, ud);
	hub_fairq_clear(&pool->q);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cv);
	free(pool->threads);
	free(pool->db_path);
	free(pool);
}
