/* SPDX-License-Identifier: MIT */
/*
 * hub-logpipe: copy standard input (a service's stdout and stderr) into a
 * log file rotated by size, without ever making the service wait.
 *
 *   service 2>&1 | hub-logpipe [--max-bytes N] [--keep N] [--buffer N] FILE
 *
 * Two threads. The main thread only reads the pipe into a bounded ring
 * (logring.h) and never touches the disk, so a slow or full disk cannot
 * fill the pipe and block the service's next log line; the writer thread
 * moves the ring to the file (logfile.h), rotating it. When the disk falls
 * behind by more than the ring, whole lines are dropped and the file later
 * says how many. On a write error (a full disk) the writer reports once on
 * stderr and tries again every second. End of input: everything held is
 * written, then exit 0.
 *
 * SIGINT, SIGQUIT and SIGHUP are ignored: a Ctrl-C reaches the whole
 * process group, and the log must outlive the service to record how it
 * stopped. The process ends when its input does (the service exited).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hc_err.h"
#include "hc_util.h"
#include "logfile.h"
#include "logring.h"

#define READ_CHUNK  65536
#define PIPE_WANTED (1 << 20)
/* after the input ended, a failing disk gets this long before we give up */
#define FINAL_RETRY_S 5

struct logpipe {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct lp_ring ring;
	struct lp_file file;
	bool eof;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: hub-logpipe [--max-bytes N] [--keep N] [--buffer N] FILE\n"
		"  copies standard input to FILE, rotated by size (FILE.1 .. FILE.keep)\n"
		"  --max-bytes N  largest FILE, bytes; k/M/G suffixes (default 10M, min 4096)\n"
		"  --keep N       rotated files kept (default 5, 0..99)\n"
		"  --buffer N     memory for lines the disk has not taken yet (default 4M)\n");
}

/* "4096", "64k", "10M", "1G" -> bytes within [min, max]. */
static int parse_size(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char num[32];
	size_t n = strlen(s);
	int64_t mult = 1, v;

	if (n == 0 || n >= sizeof(num))
		return HUB_ERR_INVAL;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'k':
	case 'K':
		mult = 1024;
		break;
	case 'm':
	case 'M':
		mult = 1024 * 1024;
		break;
	case 'g':
	case 'G':
		mult = 1024 * 1024 * 1024;
		break;
	default:
		break;
	}
	if (mult != 1)
		num[n - 1] = '\0';
	if (hc_parse_i64(num, 0, max / mult, &v) != HUB_OK || v * mult < min)
		return HUB_ERR_INVAL;
	*out = v * mult;
	return HUB_OK;
}

static void *writer(void *arg)
{
	struct logpipe *lp = arg;
	bool failing = false;
	time_t gave_up_at = 0;

	pthread_mutex_lock(&lp->mu);
	for (;;) {
		const char *data;
		size_t n, written = 0;
		int rc, err;

		while (lp->ring.len == 0 && !lp->eof)
			pthread_cond_wait(&lp->cond, &lp->mu);
		if (lp->ring.len == 0)
			break;
		n = lp_ring__peek(&lp->ring, &data);
		pthread_mutex_unlock(&lp->mu);
		rc = lp_file__write(&lp->file, data, n, &written);
		err = errno;
		pthread_mutex_lock(&lp->mu);
		lp_ring__consume(&lp->ring, written);
		if (rc == HUB_OK) {
			if (failing)
				fprintf(stderr, "hub-logpipe: %s: writing again\n", lp->file.path);
			failing = false;
			continue;
		}
		if (!failing)
			fprintf(stderr, "hub-logpipe: %s: %s; trying again every second\n",
				lp->file.path, strerror(err));
		failing = true;
		if (lp->eof) {
			time_t now = time(NULL);
			if (!gave_up_at)
				gave_up_at = now + FINAL_RETRY_S;
			else if (now >= gave_up_at) {
				fprintf(stderr, "hub-logpipe: %s: %zu bytes not written\n",
					lp->file.path, lp->ring.len);
				break;
			}
		}
		{
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			/* woken early by new data: still wait out the second */
			while (pthread_cond_timedwait(&lp->cond, &lp->mu, &ts) == 0)
				;
		}
	}
	pthread_mutex_unlock(&lp->mu);
	return NULL;
}

static void reader(struct logpipe *lp)
{
	static char chunk[READ_CHUNK];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		pthread_mutex_lock(&lp->mu);
		lp_ring__put(&lp->ring, chunk, (size_t)n);
		pthread_cond_signal(&lp->cond);
		pthread_mutex_unlock(&lp->mu);
	}
	pthread_mutex_lock(&lp->mu);
	lp_ring__finish(&lp->ring);
	lp->eof = true;
	pthread_cond_signal(&lp->cond);
	pthread_mutex_unlock(&lp->mu);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"max-bytes", required_argument, NULL, 'm'},
		{"keep", required_argument, NULL, 'k'},
		{"buffer", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static struct logpipe lp = {
		.mu = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER,
	};
	int64_t max_bytes = 10 << 20, keep = 5, buffer = 4 << 20;
	struct stat st;
	pthread_t tid;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_size(optarg, LP_FILE_MIN_BYTES, INT64_C(1) << 40, &max_bytes)) {
				fprintf(stderr,
					"hub-logpipe: --max-bytes: want 4096..1T, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'k':
			if (hc_parse_i64(optarg, 0, LP_FILE_MAX_KEEP, &keep) != HUB_OK) {
				fprintf(stderr, "hub-logpipe: --keep: want 0..%d, got '%s'\n",
					LP_FILE_MAX_KEEP, optarg);
				return 2;
			}
			break;
		case 'b':
			if (parse_size(optarg, LP_RING_MIN, INT64_C(1) << 30, &buffer)) {
				fprintf(stderr, "hub-logpipe: --buffer: want %d..1G, got '%s'\n",
					LP_RING_MIN, optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	rc = lp_file__open(&lp.file, argv[optind], (uint64_t)max_bytes, (unsigned)keep);
	if (rc != HUB_OK) {
		fprintf(stderr, "hub-logpipe: %s: %s\n", argv[optind],
			rc == HUB_ERR_IO ? strerror(errno) : "path too long");
		return 1;
	}
	if (lp_ring__init(&lp.ring, (size_t)buffer) != HUB_OK) {
		fprintf(stderr, "hub-logpipe: no memory for a %lld-byte buffer\n",
			(long long)buffer);
		return 1;
	}
	/* a bigger pipe absorbs bursts while the reader is not scheduled */
	if (fstat(STDIN_FILENO, &st) == 0 && S_ISFIFO(st.st_mode))
		(void)fcntl(STDIN_FILENO, F_SETPIPE_SZ, PIPE_WANTED);
	if (pthread_create(&tid, NULL, writer, &lp) != 0) {
		fprintf(stderr, "hub-logpipe: cannot start the writer thread\n");
		return 1;
	}
	reader(&lp);
	pthread_join(tid, NULL);
	lp_file__close(&lp.file);
	if (lp.ring.lost_lines || lp.ring.lost_bytes)
		fprintf(stderr, "hub-logpipe: %s: %llu lines (%llu bytes) dropped in all\n",
			lp.file.path, (unsigned long long)lp.ring.lost_lines,
			(unsigned long long)lp.ring.lost_bytes);
	lp_ring__free(&lp.ring);
	return 0;
}
