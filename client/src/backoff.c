/* SPDX-License-Identifier: MIT */
/*
 * Reconnect backoff: exponential with "equal jitter" (each wait is random
 * in [d/2, d]), so clients dropped together by a broker restart do not
 * come back together. Plus the small random source the client uses for
 * jitter and correlation data.
 */
#include "hubio_int.h"

#include <errno.h>
#include <sys/random.h>

int64_t hubio__backoff_delay(unsigned attempt, int min_ms, int max_ms, uint32_t rnd)
{
	int64_t d = min_ms > 0 ? min_ms : 1;
	int64_t max = max_ms >= d ? max_ms : d;
	int64_t half;

	for (unsigned i = 0; i < attempt && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	half = d / 2;
	/* rnd / 2^32 of the upper half */
	return d - half + (int64_t)(((uint64_t)rnd * (uint64_t)half) >> 32);
}

uint32_t hubio__rand32(uint32_t *state)
{
	uint32_t x = *state ? *state : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

void hubio__random_bytes(uint32_t *state, void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;
	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, GRND_NONBLOCK);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
	}
	for (; got < len; got++)
		p[got] = (unsigned char)(hubio__rand32(state) >> 24);
}
