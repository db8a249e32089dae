/* SPDX-License-Identifier: MIT */
/*
 * The fleet loop: one thread, one epoll set (every vehicle's socket plus a
 * signalfd for SIGTERM/SIGINT), timer passes at most every TRK_TICK_MS,
 * connection pacing, and the shutdown sequence:
 *   drain   (up to DRAIN_MS): no new fixes; queued fixes are sent and each
 *           vehicle DISCONNECTs once all of its fixes are acknowledged
 *   close   (until CLOSE_MS): remaining vehicles DISCONNECT now
 *   drop    after that: sockets closed without DISCONNECT
 * A second signal skips to "drop".
 */
#include "fleet.h"

#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <errno.h>
#include <math.h>
#include <mosquitto.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define DRAIN_MS    2000
#define CLOSE_MS    3000
#define MAX_EVENTS  512
#define MAX_WAIT_MS 1000

static char signal_tag; /* epoll data for the signalfd */

bool trk_fleet__take_token(struct trk_fleet *f, int64_t now_ms)
{
	double burst = (double)f->o->connect_rate / 10.0 + 1.0;

	if (now_ms > f->tokens_ms) {
		f->tokens += (double)(now_ms - f->tokens_ms) * (double)f->o->connect_rate / 1000.0;
		if (f->tokens > burst)
			f->tokens = burst;
		f->tokens_ms = now_ms;
	}
	if (f->tokens < 1.0)
		return false;
	f->tokens -= 1.0;
	return true;
}

void trk_fleet__watch(struct trk_fleet *f, struct trk_vehicle *v)
{
	int fd = v->mosq ? mosquitto_socket(v->mosq) : -1;
	uint32_t want;
	struct epoll_event ev = {0};

	if (fd < 0) {
		v->fd = -1; /* closed by libmosquitto: the kernel forgot it */
		return;
	}
	want = EPOLLIN | (mosquitto_want_write(v->mosq) ? EPOLLOUT : 0);
	ev.events = want;
	ev.data.ptr = v;
	if (fd != v->fd) {
		if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, fd, &ev) && errno == EEXIST)
			epoll_ctl(f->epfd, EPOLL_CTL_MOD, fd, &ev);
		v->fd = fd;
		v->events = want;
	} else if (want != v->events) {
		epoll_ctl(f->epfd, EPOLL_CTL_MOD, fd, &ev);
		v->events = want;
	}
}

void trk_fleet__unwatch(struct trk_fleet *f, struct trk_vehicle *v)
{
	/* only while the socket is still ours: a closed number may be reused */
	if (v->fd >= 0 && v->mosq && mosquitto_socket(v->mosq) == v->fd)
		epoll_ctl(f->epfd, EPOLL_CTL_DEL, v->fd, NULL);
	v->fd = -1;
	v->events = 0;
}

int trk_fleet__init(struct trk_fleet *f, const struct trk_opts *o, const char *host, int port,
	const struct trk_creds *creds, const struct trk_routes *routes, char *err, size_t errsz)
{
	struct epoll_event ev = {0};
	uint64_t seed = o->seed;
	sigset_t set;
	int rc;

	memset(f, 0, sizeof(*f));
	f->epfd = f->sigfd = -1;
	f->o = o;
	f->routes = routes;
	snprintf(f->host, sizeof(f->host), "%s", host);
	f->port = port;
	f->period_ms = llround(1000.0 / o->rate);
	if (f->period_ms < 1)
		f->period_ms = 1;
	f->n = creds->n;
	f->verbose_vehicles = f->n <= 20;
	if (!o->seed_set && hc_random(&seed, sizeof(seed)))
		seed = (uint64_t)hc_now_ms() ^ ((uint64_t)getpid() << 32);
	f->v = calloc(f->n, sizeof(*f->v));
	if (!f->v) {
		snprintf(err, errsz, "out of memory for %zu vehicles", f->n);
		return HUB_ERR_NOMEM;
	}
	for (size_t i = 0; i < f->n; i++) {
		rc = trk_vehicle__init(&f->v[i], f, i, creds->v[i].id, creds->v[i].secret, seed);
		if (rc) {
			snprintf(err, errsz, "%s: topic or client id too long", creds->v[i].id);
			return rc;
		}
	}
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (f->epfd < 0) {
		snprintf(err, errsz, "epoll: %s", strerror(errno));
		return HUB_ERR_IO;
	}
	/* signals arrive as readable data on the loop, never mid-callback */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (sigprocmask(SIG_BLOCK, &set, NULL) ||
		(f->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		snprintf(err, errsz, "signalfd: %s", strerror(errno));
		return HUB_ERR_IO;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &signal_tag;
	if (epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->sigfd, &ev)) {
		snprintf(err, errsz, "epoll: %s", strerror(errno));
		return HUB_ERR_IO;
	}
	return HUB_OK;
}

void trk_fleet__free(struct trk_fleet *f)
{
	for (size_t i = 0; f->v && i < f->n; i++)
		trk_vehicle__free(&f->v[i]);
	free(f->v);
	f->v = NULL;
	if (f->sigfd >= 0)
		close(f->sigfd);
	if (f->epfd >= 0)
		close(f->epfd);
	f->sigfd = f->epfd = -1;
}

static void begin_stop(struct trk_fleet *f, int64_t now_ms, const char *why)
{
	if (f->stopping)
		return;
	f->stopping = true;
	f->stop_ms = now_ms;
	hc_info("msg=\"stopping (%s): sending what is queued, then disconnecting\"", why);
}

static void on_signal(struct trk_fleet *f, int64_t now_ms)
{
	struct signalfd_siginfo si;

	while (read(f->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		const char *name = si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM";
		if (!f->stopping) {
			begin_stop(f, now_ms, name);
		} else if (!f->forced) {
			f->forced = true;
			f->exit_code = TRK_EXIT_FAIL;
			hc_warn("msg=\"second %s: dropping connections without DISCONNECT\"", name);
		}
	}
}

/* Counts over the fleet after a timer pass. */
struct census {
	size_t done, refused_first, once_ok;
};

/* One timer pass over every vehicle; returns the earliest next deadline. */
static int64_t pass(struct trk_fleet *f, int64_t now_ms, struct census *c)
{
	int64_t next = INT64_MAX, t;
	int urgency = -1;

	if (f->forced || (f->stopping && now_ms >= f->stop_ms + CLOSE_MS))
		urgency = TRK_STOP_DROP;
	else if (f->stopping && now_ms >= f->stop_ms + DRAIN_MS)
		urgency = TRK_STOP_DISCONNECT;
	else if (f->stopping)
		urgency = TRK_STOP_DRAIN;
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < f->n; i++) {
		struct trk_vehicle *v = &f->v[i];
		if (urgency >= 0)
			trk_vehicle__stop(v, urgency, now_ms);
		t = trk_vehicle__timers(v, now_ms);
		if (t < next)
			next = t;
		c->done += v->state == TRK_V_DONE;
		c->refused_first += v->outcome == TRK_OUT_REFUSED;
		c->once_ok += v->once_ok;
	}
	if (urgency >= 0 && urgency < TRK_STOP_DROP) {
		t = f->stop_ms + (urgency == TRK_STOP_DRAIN ? DRAIN_MS : CLOSE_MS);
		if (t < next)
			next = t;
	}
	return next;
}

/* Decide whether the run is over; sets f->exit_code. */
static bool finished(struct trk_fleet *f, const struct census *c, int64_t now_ms)
{
	if (!f->stopping && c->refused_first == f->n) {
		hc_err("msg=\"every device (%zu) was refused by the broker: wrong device ids or "
		       "secrets?\" exit=%d",
			f->n, TRK_EXIT_REFUSED);
		f->exit_code = TRK_EXIT_REFUSED;
		f->forced = true;
		begin_stop(f, now_ms, "all refused");
		return false;
	}
	if (c->done < f->n)
		return false;
	if (f->o->once && f->exit_code == TRK_EXIT_OK) {
		if (c->refused_first == f->n)
			f->exit_code = TRK_EXIT_REFUSED;
		else if (c->once_ok < f->n) {
			hc_err("msg=\"--once: %zu of %zu vehicles did not get a fix acknowledged\"",
				f->n - c->once_ok, f->n);
			f->exit_code = TRK_EXIT_FAIL;
		}
	}
	return true;
}

static const char *protocol_name(int protocol)
{
	if (protocol == MQTT_PROTOCOL_V5)
		return "5";
	return protocol == MQTT_PROTOCOL_V311 ? "3.1.1" : "3.1";
}

int trk_fleet__run(struct trk_fleet *f)
{
	struct epoll_event evs[MAX_EVENTS];
	struct census census;
	int64_t now = hc_mono_ms(), next_pass = now, due = now, st_next;

	f->start_ms = now;
	f->tokens_ms = now;
	f->tokens = 1.0;
	if (f->o->duration > 0)
		f->end_ms = now + llround(f->o->duration * 1000.0);
	for (size_t i = 0; i < f->n; i++)
		f->v[i].next_connect_ms = now;
	trk_status__init(&f->status, f->o->status_interval, f->o->log_level, now);
	hc_info("msg=\"starting %zu vehicles\" broker=%s:%d tls=%s protocol=%s rate_hz=%g "
		"routes=%zu topic=owntracks/{device}/%s buffer=%ld",
		f->n, f->host, f->port, f->tls_ctx ? "on" : "off", protocol_name(f->o->protocol),
		f->o->rate, f->routes->n, f->o->name, f->o->buffer);

	for (;;) {
		int timeout, nev;

		now = hc_mono_ms();
		if (!f->stopping && f->end_ms && now >= f->end_ms)
			begin_stop(f, now, f->o->once ? "--once deadline" : "--duration");
		if (now >= next_pass) {
			due = pass(f, now, &census);
			next_pass = now + TRK_TICK_MS;
			if (finished(f, &census, now))
				break;
		}
		st_next = trk_status__tick(&f->status, f, now);
		if (st_next < due)
			due = st_next;
		if (f->end_ms && !f->stopping && f->end_ms < due)
			due = f->end_ms;
		/* sleep until the earliest deadline, but not past a pass slot */
		if (due < next_pass)
			due = next_pass;
		timeout = due - now > MAX_WAIT_MS ? MAX_WAIT_MS : (int)(due - now);
		if (timeout < 0)
			timeout = 0;
		nev = epoll_wait(f->epfd, evs, MAX_EVENTS, timeout);
		if (nev < 0) {
			if (errno == EINTR)
				continue;
			hc_err("msg=\"epoll_wait failed: %s\"", strerror(errno));
			f->exit_code = TRK_EXIT_FAIL;
			break;
		}
		now = hc_mono_ms();
		for (int i = 0; i < nev; i++) {
			if (evs[i].data.ptr == &signal_tag) {
				on_signal(f, now);
				next_pass = now; /* act on it in this round */
				continue;
			}
			trk_vehicle__io(evs[i].data.ptr, evs[i].events, now);
		}
	}
	trk_status__finish(&f->status, f);
	return f->exit_code;
}
