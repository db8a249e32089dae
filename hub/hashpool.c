/* SPDX-License-Identifier: MIT */
/*
 * The hashing worker pool: a bounded FIFO of jobs, N threads, a completion
 * list. One mutex guards both lists; work runs outside it.
 */
#include "hashpool.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define WORKER_NICE 10

struct hub_hashpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hub_job *q_head, *q_tail; /* waiting */
	struct hub_job *d_head, *d_tail; /* finished, for the loop */
	size_t q_len, q_max;
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

static struct hc_store *open_store(struct hub_hashpool *pool, bool *warned)
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

static void *worker(void *arg)
{
	struct hub_hashpool *pool = arg;
	struct hc_store *st = NULL;
	bool warned = false;

	/* Linux applies setpriority(PRIO_PROCESS, tid) to the thread only:
	 * hashing yields the CPU to the lws thread under load */
	errno = 0;
	int prio = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno == 0 && setpriority(PRIO_PROCESS, (id_t)gettid(), prio + WORKER_NICE) != 0)
		hc_warn("msg=\"cannot lower hash worker priority\" errno=%d", errno);

	pthread_mutex_lock(&pool->mu);
	for (;;) {
		struct hub_job *j;
		int64_t t0;

		while (!pool->q_head && !pool->stop)
			pthread_cond_wait(&pool->cv, &pool->mu);
		if (!pool->q_head)
			break; /* stopping and nothing left that is ours to run */
		j = pool->q_head;
		pool->q_head = j->next;
		if (!pool->q_head)
			pool->q_tail = NULL;
		pool->q_len--;
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

int hub_hashpool_new(int workers, size_t queue_max, const char *db_path, void (*wake)(void *),
	void *wake_ud, struct hub_hashpool **out)
{
	struct hub_hashpool *pool;
	sigset_t all, old;
	int rc = HUB_OK;

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
	pool->q_max = queue_max;
	pool->wake = wake;
	pool->wake_ud = wake_ud;
	pool->db_path = strdup(db_path);
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
	hub_hashpool_stop(pool);
	hub_hashpool_free(pool, NULL);
	return rc;
}

int hub_hashpool_submit(struct hub_hashpool *pool, struct hub_job *job)
{
	int rc = HUB_OK;

	job->cancelled = false;
	job->skipped = false;
	atomic_init(&job->abandoned, false);
	job->work_us = 0;
	job->cpu_us = 0;
	pthread_mutex_lock(&pool->mu);
	if (pool->stop || pool->q_len >= pool->q_max) {
		rc = HUB_ERR_BUSY;
	} else {
		push(&pool->q_head, &pool->q_tail, job);
		pool->q_len++;
		pthread_cond_signal(&pool->cv);
	}
	pthread_mutex_unlock(&pool->mu);
	return rc;
}

int hub_hashpool_collect(struct hub_hashpool *pool, void *ud)
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

size_t hub_hashpool_depth(struct hub_hashpool *pool)
{
	size_t n;
	pthread_mutex_lock(&pool->mu);
	n = pool->q_len;
	pthread_mutex_unlock(&pool->mu);
	return n;
}

int hub_hashpool_workers(const struct hub_hashpool *pool)
{
	return pool->nthreads;
}

void hub_hashpool_stop(struct hub_hashpool *pool)
{
	struct hub_job *j;

	pthread_mutex_lock(&pool->mu);
	pool->stop = true;
	/* waiting jobs come back cancelled, in order */
	while ((j = pool->q_head)) {
		pool->q_head = j->next;
		j->cancelled = true;
		push(&pool->d_head, &pool->d_tail, j);
	}
	pool->q_tail = NULL;
	pool->q_len = 0;
	pthread_cond_broadcast(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	for (int i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	pool->nthreads = 0;
}

void hub_hashpool_free(struct hub_hashpool *pool, void *ud)
{
	if (!pool)
		return;
	if (pool->d_head)
		hub_hashpool_collect(pool, ud);
	pthread_mutex_destroy(&pool->mu);
	pthread_cond_destroy(&pool->cv);
	free(pool->threads);
	free(pool->db_path);
	free(pool);
}
