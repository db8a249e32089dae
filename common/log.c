/* SPDX-License-Identifier: MIT */
/* Logging: level filter, logfmt line formatting, pluggable sink. */
#include "hc_log.h"

#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *component = "hub";
static int min_level = HC_LOG_INFO;
static hc_log_sink sink;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void hc_log_init(const char *comp, int level, hc_log_sink s)
{
	component = comp ? comp : "hub";
	min_level = level;
	sink = s;
}

void hc_log_set_level(int level)
{
	min_level = level;
}

int hc_log_enabled(int level)
{
	return level <= min_level;
}

int hc_log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void hc_log_write(int level, const char *fmt, ...)
{
	char line[2048];
	size_t off = 0;
	int n;
	va_list ap;

	if (level < 0 || level > HC_LOG_DEBUG)
		level = HC_LOG_ERROR;
	if (!sink) {
		struct timespec ts;
		struct tm tm;
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec, ts.tv_nsec / 1000000);
		if (n > 0 && (size_t)n < sizeof(line))
			off = (size_t)n;
	}
	/* a sink (the broker's log) stamps time, level and origin itself */
	if (!sink) {
		n = snprintf(line + off, sizeof(line) - off, "level=%s comp=%s ",
			level_names[level], component);
		if (n > 0 && (size_t)n < sizeof(line) - off)
			off += (size_t)n;
	}
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
	va_end(ap);
	if (n < 0)
		line[off] = '\0';
	/* a truncated line stays NUL-terminated by vsnprintf */
	if (sink) {
		sink(level, line);
		return;
	}
	fprintf(stderr, "%s\n", line);
}

void hc_log_fingerprint(const void *secret, size_t len, char out[9])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	static const char hex[] = "0123456789abcdef";

	SHA256(secret, len, md);
	for (int i = 0; i < 4; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[8] = '\0';
}

const char *hc_log_safe(const char *s, char *out, size_t n)
{
	size_t o = 0;

	if (n == 0)
		return out;
	if (!s)
		s = "(null)";
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[5];
		size_t k;
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			k = 2;
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\x%02x", c);
			k = 4;
		} else {
			esc[0] = (char)c;
			k = 1;
		}
		if (k + 4 > n - o) {
			if (n - o >= 4) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, esc, k);
		o += k;
	}
	out[o] = '\0';
	return out;
}
