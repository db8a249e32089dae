/* SPDX-License-Identifier: MIT */
/*
 * The fleet: every vehicle of the process, driven by one thread. One epoll
 * set holds every vehicle's socket and a signalfd; libmosquitto is used
 * without its own loop (mosquitto_socket, mosquitto_loop_read/write/misc).
 * Timers are checked in one pass over the vehicles at most every
 * TRK_TICK_MS, which also computes how long the loop may sleep.
 *
 * New connections are paced by a token bucket (--connect-rate), first
 * starts and reconnects alike, so thousands of vehicles neither flood the
 * broker at start nor after it restarts.
 */
#ifndef TRK_FLEET_H
#define TRK_FLEET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "opts.h"
#include "route.h"
#include "status.h"
#include "vehicle.h"

#define TRK_TICK_MS 10

struct trk_fleet {
	const struct trk_opts *o;	 /* borrowed */
	const struct trk_routes *routes; /* borrowed */
	char host[256];
	int port;
	void *tls_ctx;	       /* SSL_CTX shared by every vehicle (tls.h); NULL: clear text */
	int64_t period_ms;     /* between fixes of one vehicle */
	bool verbose_vehicles; /* per-vehicle events at info (small fleets) */

	struct trk_vehicle *v; /* owned, n entries */
	size_t n;
	int epfd, sigfd;

	size_t next_start; /* vehicles not yet started: the first of them */
	double tokens;	   /* connection tokens available */
	int64_t tokens_ms; /* last refill */

	struct trk_stats stats;
	struct trk_status status;

	int64_t start_ms, end_ms; /* end_ms: --duration / --once deadline, 0: none */
	bool stopping, forced;
	int64_t stop_ms;
	int exit_code;
};

/* Build the fleet: one vehicle per credential, placed on the routes.
 * creds and routes are borrowed and must outlive the fleet. On error err
 * gets a reason. */
int trk_fleet__init(struct trk_fleet *f, const struct trk_opts *o, const char *host, int port,
	const struct trk_creds *creds, const struct trk_routes *routes, char *err, size_t errsz);
/* Run until done; returns the process exit status (TRK_EXIT_*). */
int trk_fleet__run(struct trk_fleet *f);
void trk_fleet__free(struct trk_fleet *f);

/* For vehicles: take a connection token if one is available now. */
bool trk_fleet__take_token(struct trk_fleet *f, int64_t now_ms);
/* For vehicles: keep epoll in step with the vehicle's socket and whether
 * libmosquitto wants to write. */
void trk_fleet__watch(struct trk_fleet *f, struct trk_vehicle *v);
/* For vehicles: the socket is about to be closed by us. */
void trk_fleet__unwatch(struct trk_fleet *f, struct trk_vehicle *v);

#endif
