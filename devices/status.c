/* SPDX-License-Identifier: MIT */
/*
 * Status reporting. On a terminal: one line on stdout, redrawn in place
 * every second; log lines (stderr, usually the same terminal) are written
 * through a sink that clears the live line first and redraws it after, so
 * the two never mix. Elsewhere (logs, pipes): a logfmt status line every
 * --status-interval seconds. Always: a summary line at exit.
 */
#include "status.h"

#include "fleet.h"
#include "hc_log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TTY_INTERVAL_MS 1000

static struct trk_status *live; /* the one status whose line is on screen */
static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* The log sink: same format as hc_log's own stderr lines. */
static void sink(int level, const char *line)
{
	struct timespec ts;
	struct tm tm;

	if (live && live->line_shown) {
		fputs("\r\033[K", stdout);
		fflush(stdout);
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s comp=hub-tracker %s\n",
		tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		ts.tv_nsec / 1000000, level_names[level >= 0 && level <= 3 ? level : 0], line);
	if (live && live->line_shown) {
		fputs(live->line, stdout);
		fflush(stdout);
	}
}

void trk_status__init(struct trk_status *st, int interval_s, int log_level, int64_t now_ms)
{
	memset(st, 0, sizeof(*st));
	st->tty = isatty(STDOUT_FILENO) == 1;
	st->interval_ms = interval_s * 1000;
	st->last_ms = now_ms;
	st->next_ms = now_ms + (st->tty ? TTY_INTERVAL_MS : st->interval_ms);
	if (st->tty) {
		live = st;
		hc_log_init("hub-tracker", log_level, sink);
	}
}

void trk_status__snapshot(const struct trk_fleet *f, struct trk_snapshot *out)
{
	memset(out, 0, sizeof(*out));
	out->s = f->stats;
	out->vehicles = f->n;
	for (size_t i = 0; i < f->n; i++) {
		const struct trk_vehicle *v = &f->v[i];
		out->online += v->state == TRK_V_ONLINE;
		out->connecting += v->state == TRK_V_CONNECTING;
		out->refused += v->refusal_noted;
		out->buffered += v->q.len;
		out->dropped += v->q.dropped;
	}
}

int64_t trk_status__tick(struct trk_status *st, const struct trk_fleet *f, int64_t now_ms)
{
	struct trk_snapshot s;
	double secs, sent_rate, ack_rate;

	if (!st->tty && !st->interval_ms)
		return INT64_MAX;
	if (now_ms < st->next_ms)
		return st->next_ms;
	trk_status__snapshot(f, &s);
	secs = (double)(now_ms - st->last_ms) / 1000.0;
	if (secs <= 0)
		secs = 1;
	sent_rate = (double)(s.s.sent - st->last_sent) / secs;
	ack_rate = (double)(s.s.acked - st->last_acked) / secs;
	st->last_ms = now_ms;
	st->last_sent = s.s.sent;
	st->last_acked = s.s.acked;
	if (st->tty) {
		char tail[40] = "";
		if (s.refused)
			snprintf(tail, sizeof(tail), " | refused %zu", s.refused);
		snprintf(st->line, sizeof(st->line),
			"hub-tracker: %zu/%zu online | %.0f fixes/s sent, %.0f/s acked | "
			"buffered %" PRIu64 " | dropped %" PRIu64 "%s",
			s.online, s.vehicles, sent_rate, ack_rate, s.buffered, s.dropped, tail);
		fputs("\r\033[K", stdout);
		fputs(st->line, stdout);
		fflush(stdout);
		st->line_shown = true;
		st->next_ms = now_ms + TTY_INTERVAL_MS;
	} else {
		hc_info("msg=status vehicles=%zu online=%zu connecting=%zu refused=%zu "
			"sent_per_s=%.1f acked_per_s=%.1f buffered=%" PRIu64 " dropped=%" PRIu64
			" fixes=%" PRIu64 " sent=%" PRIu64 " acked=%" PRIu64,
			s.vehicles, s.online, s.connecting, s.refused, sent_rate, ack_rate,
			s.buffered, s.dropped, s.s.fixes, s.s.sent, s.s.acked);
		st->next_ms = now_ms + st->interval_ms;
	}
	return st->next_ms;
}

void trk_status__finish(struct trk_status *st, const struct trk_fleet *f)
{
	struct trk_snapshot s;

	if (st->tty && st->line_shown) {
		fputs("\r\033[K", stdout);
		fflush(stdout);
		st->line_shown = false;
	}
	trk_status__snapshot(f, &s);
	/* every fix taken ends acknowledged, dropped, or still queued (unsent);
	 * "sent" also counts fixes sent again after a lost connection */
	hc_info("msg=summary vehicles=%zu fixes=%" PRIu64 " sent=%" PRIu64 " acked=%" PRIu64
		" dropped=%" PRIu64 " unsent=%" PRIu64 " denied=%" PRIu64 " connects=%" PRIu64
		" losses=%" PRIu64 " refusals=%" PRIu64,
		s.vehicles, s.s.fixes, s.s.sent, s.s.acked, s.dropped, s.buffered, s.s.denied,
		s.s.connects, s.s.losses, s.s.refusals);
	live = NULL;
}
