/* SPDX-License-Identifier: MIT */
/*
 * What the fleet reports about itself: counters, a live status line when
 * stdout is a terminal (redrawn once a second, kept below log lines), else
 * a status log line every --status-interval seconds, and a summary at exit.
 */
#ifndef TRK_STATUS_H
#define TRK_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct trk_fleet;

/* Fleet-wide counters, kept by the vehicles as things happen. */
struct trk_stats {
	uint64_t fixes;	      /* taken */
	uint64_t sent;	      /* handed to MQTT (re-sends after a loss count again) */
	uint64_t acked;	      /* PUBACKs */
	uint64_t denied;      /* PUBACKs with a v5 "not authorised" */
	uint64_t connects;    /* CONNACK 0 */
	uint64_t losses;      /* connections lost after CONNACK */
	uint64_t refusals;    /* CONNACK refusals */
	uint64_t conn_errors; /* attempts that failed before a CONNACK */
};

/* A snapshot for display: the counters plus what is summed over vehicles. */
struct trk_snapshot {
	struct trk_stats s;
	size_t vehicles, online, connecting, refused;
	uint64_t buffered, dropped;
};

struct trk_status {
	bool tty;	 /* stdout is a terminal: live line */
	bool line_shown; /* the live line is on screen */
	char line[256];	 /* last drawn */
	int64_t next_ms; /* next redraw / log line */
	int64_t last_ms; /* time of the previous snapshot */
	uint64_t last_sent, last_acked;
	int interval_ms; /* log-line interval (not tty); 0: none */
};

/* Decide tty or log lines; on a tty, install (at log_level) the log sink
 * that keeps the live line below log output. interval_s is
 * --status-interval. */
void trk_status__init(struct trk_status *st, int interval_s, int log_level, int64_t now_ms);
/* Sum the vehicles. */
void trk_status__snapshot(const struct trk_fleet *f, struct trk_snapshot *out);
/* Redraw or log when due; returns the next time it wants to run. */
int64_t trk_status__tick(struct trk_status *st, const struct trk_fleet *f, int64_t now_ms);
/* End the live line and log the summary. */
void trk_status__finish(struct trk_status *st, const struct trk_fleet *f);

#endif
