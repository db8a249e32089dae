/* SPDX-License-Identifier: MIT */
/*
 * The broker's version, found once at start-up. The plugin API has no call
 * for it, and one thing the plugin does depends on it: a MESSAGE callback
 * that replaces the message's property list (stamp.c). Mosquitto 2.0.15
 * and later free the old list themselves when the callback returns with
 * another one; 2.0.11 takes the new list and leaves the old one to the
 * plugin. Freeing it on 2.0.15+ is a double free (the broker aborted on
 * the first event hub-bridge sent); not freeing it on 2.0.11 is a leak.
 *
 * Where it comes from: the broker's own executable (/proc/self/exe) holds
 * its version as one NUL-terminated string ("2.0.11", "2.0.21": Debian's
 * builds have exactly one such string), read once at load, never on the
 * message path. Failing that, the libmosquitto in this process (the
 * broker's package's library on Debian, which ships both from one
 * source). Unknown: 0, and the caller takes the choice that cannot crash.
 */
#include <fcntl.h>
#include <mosquitto.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hauth.h"

#define EXE_MAX (64u << 20) /* read no further into the executable */

/* major.minor.revision as one number (2.0.21 -> 2000021) if s (n bytes) is
 * exactly "2.D.D" with 1-3 digits each, else 0. */
static int version_of(const unsigned char *s, size_t n)
{
	int part[3] = {0, 0, 0}, k = 0, digits = 0;
	if (n < 5 || n > 11 || s[0] != '2' || s[1] != '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (!digits || ++k > 2)
				return 0;
			digits = 0;
		} else if (s[i] >= '0' && s[i] <= '9' && digits < 3) {
			part[k] = part[k] * 10 + (s[i] - '0');
			digits++;
		} else {
			return 0;
		}
	}
	if (k != 2 || !digits)
		return 0;
	return part[0] * 1000000 + part[1] * 1000 + part[2];
}

int hauth_version__scan(const unsigned char *buf, size_t len)
{
	int found = 0;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && buf[i] != '\0')
			continue;
		/* a string between two NULs (or the buffer's ends) */
		if (i > start) {
			int v = version_of(buf + start, i - start);
			if (v && found && v != found)
				return 0; /* two versions: cannot tell */
			if (v)
				found = v;
		}
		start = i + 1;
	}
	return found;
}

static int from_executable(void)
{
	int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC), v = 0;
	unsigned char *buf;
	size_t len = 0;
	if (fd < 0)
		return 0;
	buf = malloc(EXE_MAX);
	if (buf) {
		ssize_t n;
		while (len < EXE_MAX && (n = read(fd, buf + len, EXE_MAX - len)) > 0)
			len += (size_t)n;
		if (len < EXE_MAX)
			v = hauth_version__scan(buf, len);
		free(buf);
	}
	close(fd);
	return v;
}

int hauth_version__broker(const char **source)
{
	int major = 0, minor = 0, rev = 0, v = from_executable();
	if (v) {
		*source = "executable";
		return v;
	}
	mosquitto_lib_version(&major, &minor, &rev);
	if (major == 2) {
		*source = "libmosquitto";
		return major * 1000000 + minor * 1000 + rev;
	}
	*source = "unknown";
	return 0;
}
