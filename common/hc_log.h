/* SPDX-License-Identifier: MIT */
/*
 * Logging: one entry point per process. Lines are logfmt-style
 * ("ts=... level=info comp=hubd msg=..."), written to stderr by default or
 * handed to a sink (the broker plugin routes them to mosquitto_log_printf).
 * The level is checked before any formatting. Never pass a password, token,
 * cookie or secret: log hc_log_fingerprint() of it instead.
 */
#ifndef HC_LOG_H
#define HC_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hc_log_level { HC_LOG_ERROR = 0, HC_LOG_WARN, HC_LOG_INFO, HC_LOG_DEBUG };

/* Sink gets the level and the formatted line (no trailing newline). The line
 * is borrowed for the call only. Thread: called on the logging thread. */
typedef void (*hc_log_sink)(int level, const char *line);

/* Set component name (borrowed, must outlive logging), minimum level, sink
 * (NULL = stderr). Call once at start-up, before threads.
 * Under systemd (stderr is the journal stream that JOURNAL_STREAM names),
 * stderr lines carry a "<N>" priority prefix instead of a ts= field:
 * journald stamps time and takes the level from it. */
void hc_log_init(const char *component, int level, hc_log_sink sink);
/* Whether stderr lines go to journald (decided by hc_log_init). */
bool hc_log_to_journal(void);
void hc_log_set_level(int level);
int hc_log_enabled(int level);
/* Parse "error|warn|info|debug"; returns -1 if unknown. */
int hc_log_level_parse(const char *s);

void hc_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hc_log(level, ...)                                                                         \
	do {                                                                                       \
		if (hc_log_enabled(level))                                                         \
			hc_log_write(level, __VA_ARGS__);                                          \
	} while (0)
#define hc_err(...)   hc_log(HC_LOG_ERROR, __VA_ARGS__)
#define hc_warn(...)  hc_log(HC_LOG_WARN, __VA_ARGS__)
#define hc_info(...)  hc_log(HC_LOG_INFO, __VA_ARGS__)
#define hc_debug(...) hc_log(HC_LOG_DEBUG, __VA_ARGS__)

/*
 * Rate-limited lines: what an unauthenticated client can make a process
 * write (refused logins, refused connects, bad requests) must not grow the
 * log with the flood. Each limiter is one category with its own window:
 * the first `lines` lines of a window of `interval_s` seconds are written,
 * the rest only counted, and once the window is over one summary line says
 * how many were left out:
 *
 *   msg="more refusals like this" category=login_failed count=4812 seconds=10
 *
 * The summary is written by the first limited line of a later window (any
 * category) or by hc_log_limits_flush(), which a service calls about once a
 * second and at exit. At log level debug nothing is limited (a debug log
 * is for diagnosis and shows every line). Declare limiters static
 * (HC_LOG_LIMIT); no allocation per line;
 * thread-safe (one mutex around the counters, never held while writing).
 */
struct hc_log_limit {
	const char *category; /* static text, a logfmt value without quotes */
	/* state, guarded by log.c's mutex */
	struct hc_log_limit *next; /* registry of used limiters */
	int registered;
	int64_t window_ms; /* start of the current window (monotonic) */
	unsigned used;	   /* lines written in it */
	uint64_t dropped;  /* lines left out in it */
	int level;	   /* level of the lines left out, for the summary */
};
#define HC_LOG_LIMIT(cat)                                                                          \
	{                                                                                          \
		.category = (cat)                                                                  \
	}

/* Lines per window and window length for every limiter (defaults 20 and
 * 10 s: the settings log_refusal_lines and log_refusal_interval). lines 0:
 * nothing limited. Call at start-up. */
void hc_log_limits_set(unsigned lines, unsigned interval_s);
/* Whether one more line of lim may be written now (counts it either way). */
int hc_log_limit_take(struct hc_log_limit *lim, int level);
/* Write the summaries of windows that are over (all: of every window,
 * over or not, as at exit). */
void hc_log_limits_flush(bool all);

#define hc_log_limited(lim, level, ...)                                                            \
	do {                                                                                       \
		if (hc_log_enabled(level) && hc_log_limit_take(lim, level))                        \
			hc_log_write(level, __VA_ARGS__);                                          \
	} while (0)

/*
 * A client-supplied user name as it may appear in a log line: the name
 * itself when it is well-formed (hc_name_valid_n), else "#" and 8 hex
 * digits of a keyed hash (HMAC-SHA256 with a random key made once per
 * process): a password typed into the username field never reaches the
 * log, and the same odd name gives the same tag for the life of the
 * process (so repeats can still be told apart), but not across restarts
 * or processes and not reversible by a dictionary. s may be NULL ("-").
 * Returns out.
 */
#define HC_LOG_USER_MAX 72
const char *hc_log_user(const char *s, size_t len, char out[HC_LOG_USER_MAX]);

/* Short, non-reversible tag of a secret for log lines: the first 8 hex
 * digits of its SHA-256. out must hold 9 bytes. */
void hc_log_fingerprint(const void *secret, size_t len, char out[9]);

/* Copy s into out (size n) so it is safe inside a log value: quotes,
 * backslashes and control bytes are escaped, long input is cut with "...".
 * Returns out. */
const char *hc_log_safe(const char *s, char *out, size_t n);

#endif
