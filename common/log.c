/* SPDX-License-Identifier: MIT */
/* Logging: level filter, logfmt line formatting, pluggable sink,
 * rate-limited refusal lines, user name fingerprints. */
#include "hc_log.h"
#include "hc_names.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *component = "hub";
static int min_level = HC_LOG_INFO;
static hc_log_sink sink;
static bool journal; /* stderr is a journald stream */

static const char *const level_names[] = {"error", "warn", "info", "debug"};

/* systemd sets JOURNAL_STREAM=<device>:<inode> for a service whose stderr
 * goes to journald; a stderr redirected elsewhere by the service (or a
 * child that inherited the variable) has another device or inode. */
static bool stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;
	char end;

	if (!v || sscanf(v, "%llu:%llu%c", &dev, &ino, &end) != 2)
		return false;
	if (fstat(STDERR_FILENO, &sb) != 0)
		return false;
	return (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino;
}

void hc_log_init(const char *comp, int level, hc_log_sink s)
{
	component = comp ? comp : "hub";
	min_level = level;
	sink = s;
	journal = !s && stderr_is_journal();
}

bool hc_log_to_journal(void)
{
	return journal;
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
	if (journal) {
		/* journald stamps the time and reads the priority from a "<N>"
		 * prefix (sd-daemon(3)): err 3, warning 4, info 6, debug 7, so
		 * journalctl -p warning shows errors and warnings */
		static const char prio[] = {'3', '4', '6', '7'};
		line[0] = '<';
		line[1] = prio[level];
		line[2] = '>';
		off = 3;
	} else if (!sink) {
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

/* ------------------------------------------------------- rate limits */

static pthread_mutex_t limits_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hc_log_limit *limits; /* every limiter used so far */
static unsigned limit_lines = 20;
static int64_t limit_window_ms = 10000;

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hc_log_limits_set(unsigned lines, unsigned interval_s)
{
	pthread_mutex_lock(&limits_mu);
	limit_lines = lines;
	limit_window_ms = (int64_t)(interval_s ? interval_s : 1) * 1000;
	pthread_mutex_unlock(&limits_mu);
}

struct summary {
	const char *category;
	uint64_t count;
	int level;
};

#define SUMMARIES_MAX 16 /* written per call; more wait for the next one */

/* Under limits_mu: close the windows that are over, collecting what they
 * left out. */
static size_t collect(int64_t now, struct summary *out, bool all)
{
	size_t n = 0;
	for (struct hc_log_limit *l = limits; l && n < SUMMARIES_MAX; l = l->next) {
		if (!all && now - l->window_ms < limit_window_ms)
			continue;
		if (l->dropped)
			out[n++] = (struct summary){l->category, l->dropped, l->level};
		l->window_ms = now;
		l->used = 0;
		l->dropped = 0;
	}
	return n;
}

static void write_summaries(const struct summary *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (hc_log_enabled(s[i].level))
			hc_log_write(s[i].level,
				"msg=\"more refusals like this\" category=%s count=%llu "
				"seconds=%lld",
				s[i].category, (unsigned long long)s[i].count,
				(long long)(limit_window_ms / 1000));
}

int hc_log_limit_take(struct hc_log_limit *lim, int level)
{
	struct summary due[SUMMARIES_MAX];
	int64_t now = mono_ms();
	size_t n;
	int ok;

	/* log_level debug is for diagnosis: every line, nothing summarised */
	if (min_level >= HC_LOG_DEBUG)
		return 1;
	pthread_mutex_lock(&limits_mu);
	if (!lim->registered) {
		lim->registered = 1;
		lim->window_ms = now;
		lim->next = limits;
		limits = lim;
	}
	n = collect(now, due, false);
	if (!limit_lines || lim->used < limit_lines) {
		lim->used++;
		ok = 1;
	} else {
		lim->dropped++;
		lim->level = level;
		ok = 0;
	}
	pthread_mutex_unlock(&limits_mu);
	write_summaries(due, n);
	return ok;
}

void hc_log_limits_flush(bool all)
{
	struct summary due[SUMMARIES_MAX];
	size_t n;

	do {
		pthread_mutex_lock(&limits_mu);
		n = collect(mono_ms(), due, all);
		pthread_mutex_unlock(&limits_mu);
		write_summaries(due, n);
	} while (n == SUMMARIES_MAX);
}

/* ------------------------------------------------------- user names */

static pthread_once_t user_key_once = PTHREAD_ONCE_INIT;
static unsigned char user_key[32];

static void user_key_init(void)
{
	if (RAND_bytes(user_key, sizeof(user_key)) != 1) {
		/* no randomness: a fixed key still keeps names out of the log */
		memset(user_key, 0x5c, sizeof(user_key));
	}
}

const char *hc_log_user(const char *s, size_t len, char out[HC_LOG_USER_MAX])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!s) {
		memcpy(out, "-", 2);
		return out;
	}
	if (len <= HC_NAME_MAX && hc_name_valid_n(s, len)) {
		memcpy(out, s, len);
		out[len] = '\0';
		return out;
	}
	pthread_once(&user_key_once, user_key_init);
	out[0] = '#';
	if (!HMAC(EVP_sha256(), user_key, sizeof(user_key), (const unsigned char *)s, len, md,
		    &mdlen) ||
		mdlen < 4) {
		memcpy(out + 1, "????????", 9);
		return out;
	}
	for (int i = 0; i < 4; i++) {
		out[1 + 2 * i] = hex[md[i] >> 4];
		out[2 + 2 * i] = hex[md[i] & 15];
	}
	out[9] = '\0';
	return out;
}
