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

#include <stddef.h>

enum hc_log_level { HC_LOG_ERROR = 0, HC_LOG_WARN, HC_LOG_INFO, HC_LOG_DEBUG };

/* Sink gets the level and the formatted line (no trailing newline). The line
 * is borrowed for the call only. Thread: called on the logging thread. */
typedef void (*hc_log_sink)(int level, const char *line);

/* Set component name (borrowed, must outlive logging), minimum level, sink
 * (NULL = stderr). Call once at start-up, before threads. */
void hc_log_init(const char *component, int level, hc_log_sink sink);
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

/* Short, non-reversible tag of a secret for log lines: the first 8 hex
 * digits of its SHA-256. out must hold 9 bytes. */
void hc_log_fingerprint(const void *secret, size_t len, char out[9]);

/* Copy s into out (size n) so it is safe inside a log value: quotes,
 * backslashes and control bytes are escaped, long input is cut with "...".
 * Returns out. */
const char *hc_log_safe(const char *s, char *out, size_t n);

#endif
