/* SPDX-License-Identifier: MIT */
/*
 * OwnTracks payload encoding. Built with snprintf rather than a JSON tree:
 * every value is a number or a fixed ASCII string (tid comes from a device
 * id, whose charset needs no escaping), and thousands of vehicles encode
 * thousands of messages a second.
 */
#include "owntracks.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void trk_owntracks__tid(const char *device, char tid[3])
{
	size_t n = strlen(device);
	const char *p = n > 2 ? device + n - 2 : device;
	size_t i = 0;
	for (; p[i] && i < 2; i++)
		tid[i] = p[i];
	tid[i] = '\0';
}

int trk_owntracks__location(const struct trk_fix *f, const char *tid, int64_t created_at,
	bool bench, int64_t send_ms, char *out, size_t n)
{
	int w = snprintf(out, n,
		"{\"_type\":\"location\",\"_id\":\"%08" PRIx32 "\",\"tid\":\"%s\","
		"\"tst\":%" PRId64 ",\"lat\":%.6f,\"lon\":%.6f,\"acc\":%d,\"vel\":%d,"
		"\"cog\":%d,\"batt\":%d,\"bs\":%d,\"conn\":\"m\",\"t\":\"t\","
		"\"created_at\":%" PRId64,
		f->id, tid, f->tst, f->lat, f->lon, f->acc, f->vel, f->cog, f->batt, f->bs,
		created_at);
	int m;

	if (w < 0 || (size_t)w >= n)
		return -1;
	if (bench)
		m = snprintf(out + w, n - (size_t)w,
			",\"_seq\":%" PRIu32 ",\"_ts_ms\":%" PRId64 "}", f->seq, send_ms);
	else
		m = snprintf(out + w, n - (size_t)w, "}");
	if (m < 0 || (size_t)m >= n - (size_t)w)
		return -1;
	return w + m;
}

int trk_owntracks__lwt(int64_t tst, char *out, size_t n)
{
	int w = snprintf(out, n, "{\"_type\":\"lwt\",\"tst\":%" PRId64 "}", tst);
	return (w < 0 || (size_t)w >= n) ? -1 : w;
}
