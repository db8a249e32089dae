/* SPDX-License-Identifier: MIT */
/*
 * The loop: poll the broker socket (and the wake pipe) without holding the
 * lock, then, under the lock, let libmosquitto read, write and check the
 * keepalive, and run the client's timers. hubio_loop runs one iteration on
 * the caller's thread; hubio_loop_start runs them on a background thread.
 */
#include "hubio_int.h"

#include <errno.h>
#include <mosquitto.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

/* libmosquitto must check the keepalive at least this often */
#define MISC_MS 1000
/* packets read per iteration before others get a turn */
#define READ_BURST 256

static void drain(int fd)
{
	char buf[64];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static bool readable_now(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLERR | POLLHUP));
}

static void io(struct hubio *h, int fd, short revents)
{
	h->in_io = true;
	/* a TLS handshake that waited to write goes on in loop_read only
	 * (libmosquitto 2.0's loop_write does nothing until it is done) */
	if (h->tls && !h->up && (revents & POLLOUT) && !(revents & POLLIN))
		mosquitto_loop_read(h->mosq, 1);
	if (revents & (POLLIN | POLLERR | POLLHUP | POLLNVAL)) {
		mosquitto_loop_read(h->mosq, 1);
		/* one packet per call: take what already arrived */
		for (int i = 0;
			i < READ_BURST && mosquitto_socket(h->mosq) == fd && readable_now(fd); i++)
			mosquitto_loop_read(h->mosq, 1);
	}
	/* callbacks queue their publishes (libmosquitto writes nothing from
	 * inside a callback): flush them now */
	if (mosquitto_socket(h->mosq) == fd &&
		((revents & POLLOUT) || mosquitto_want_write(h->mosq)))
		mosquitto_loop_write(h->mosq, 1);
	if (mosquitto_socket(h->mosq) == fd)
		mosquitto_loop_misc(h->mosq);
	h->in_io = false;
}

static int loop_once(struct hubio *h, int timeout_ms)
{
	struct pollfd p[2];
	int64_t now;
	int fd, wait, n = 0;

	hubio__lock(h);
	now = hubio__mono_ms();
	hubio__timers(h, now);
	fd = mosquitto_socket(h->mosq);
	wait = timeout_ms < 0 ? MISC_MS : timeout_ms;
	if (fd >= 0 && wait > MISC_MS)
		wait = MISC_MS;
	wait = hubio__next_timer_ms(h, now, wait);
	if (fd >= 0) {
		p[n].fd = fd;
		p[n].events = POLLIN | (mosquitto_want_write(h->mosq) ? POLLOUT : 0);
		p[n++].revents = 0;
	}
	p[n].fd = h->wake[0];
	p[n].events = POLLIN;
	p[n++].revents = 0;
	hubio__unlock(h);

	if (poll(p, (nfds_t)n, wait) < 0 && errno != EINTR)
		return HUBIO_ERRNO;

	hubio__lock(h);
	if (p[n - 1].revents & POLLIN)
		drain(h->wake[0]);
	/* the socket may have been closed and replaced meanwhile (another
	 * thread called hubio_disconnect): only touch the one we polled */
	if (fd >= 0 && fd == mosquitto_socket(h->mosq))
		io(h, fd, p[0].revents);
	hubio__timers(h, hubio__mono_ms());
	hubio__unlock(h);
	return HUBIO_OK;
}

HUBIO_API int hubio_loop(struct hubio *h, int timeout_ms)
{
	if (!h)
		return HUBIO_EINVAL;
	if (h->thread_running)
		return HUBIO_ESTATE;
	return loop_once(h, timeout_ms);
}

HUBIO_API int hubio_loop_forever(struct hubio *h)
{
	if (!h)
		return HUBIO_EINVAL;
	if (h->thread_running)
		return HUBIO_ESTATE;
	__atomic_store_n(&h->break_loop, 0, __ATOMIC_SEQ_CST);
	/* a finished hubio_stop ends it too (h->stopped: set and read under
	 * the lock; read here without it, the worst is one more iteration) */
	while (!__atomic_load_n(&h->break_loop, __ATOMIC_SEQ_CST) &&
		!__atomic_load_n(&h->stopped, __ATOMIC_SEQ_CST))
		loop_once(h, MISC_MS);
	return HUBIO_OK;
}

HUBIO_API void hubio_loop_break(struct hubio *h)
{
	if (!h)
		return;
	__atomic_store_n(&h->break_loop, 1, __ATOMIC_SEQ_CST);
	hubio__wakeup(h);
}

static void *thread_main(void *arg)
{
	struct hubio *h = arg;
	while (!__atomic_load_n(&h->stop_thread, __ATOMIC_SEQ_CST))
		loop_once(h, MISC_MS);
	return NULL;
}

HUBIO_API int hubio_loop_start(struct hubio *h)
{
	int rc;
	if (!h)
		return HUBIO_EINVAL;
	hubio__lock(h);
	if (h->thread_running) {
		hubio__unlock(h);
		return HUBIO_ESTATE;
	}
	__atomic_store_n(&h->stop_thread, 0, __ATOMIC_SEQ_CST);
	rc = pthread_create(&h->thread, NULL, thread_main, h);
	if (rc == 0)
		h->thread_running = true;
	hubio__unlock(h);
	if (rc) {
		errno = rc;
		return HUBIO_ERRNO;
	}
	return HUBIO_OK;
}

HUBIO_API int hubio_loop_stop(struct hubio *h)
{
	if (!h)
		return HUBIO_EINVAL;
	hubio__lock(h);
	if (!h->thread_running || pthread_equal(pthread_self(), h->thread)) {
		hubio__unlock(h);
		return HUBIO_ESTATE;
	}
	__atomic_store_n(&h->stop_thread, 1, __ATOMIC_SEQ_CST);
	hubio__wakeup(h);
	hubio__unlock(h);
	pthread_join(h->thread, NULL);
	hubio__lock(h);
	h->thread_running = false;
	hubio__unlock(h);
	return HUBIO_OK;
}

HUBIO_API int hubio_socket(struct hubio *h)
{
	int fd;
	if (!h)
		return -1;
	hubio__lock(h);
	fd = mosquitto_socket(h->mosq);
	hubio__unlock(h);
	return fd;
}

HUBIO_API int hubio_want_write(struct hubio *h)
{
	int w;
	if (!h)
		return 0;
	hubio__lock(h);
	w = mosquitto_socket(h->mosq) >= 0 && mosquitto_want_write(h->mosq);
	hubio__unlock(h);
	return w;
}

HUBIO_API int hubio_timeout_ms(struct hubio *h)
{
	int t;
	if (!h)
		return MISC_MS;
	hubio__lock(h);
	t = hubio__next_timer_ms(h, hubio__mono_ms(), MISC_MS);
	hubio__unlock(h);
	return t;
}
