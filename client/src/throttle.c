/* SPDX-License-Identifier: MIT */
/*
 * A per-key rate gate (hubio_typing: one notice per room per interval).
 * A fixed table: bounded whatever the caller passes.
 */
#include "hubio_int.h"

#include <string.h>

bool hubio__throttle_pass(
	struct hubio__throttle *t, const char *key, int64_t now_ms, int64_t interval_ms)
{
	size_t klen = strnlen(key, HUBIO__NAME_MAX + 1);
	int i, oldest = 0;

	if (klen > HUBIO__NAME_MAX)
		return false;
	for (i = 0; i < t->n; i++) {
		if (strcmp(t->slot[i].key, key) == 0) {
			/* a clock that went back counts as "long ago" */
			if (now_ms - t->slot[i].last_ms < interval_ms &&
				now_ms >= t->slot[i].last_ms)
				return false;
			t->slot[i].last_ms = now_ms;
			return true;
		}
		if (t->slot[i].last_ms < t->slot[oldest].last_ms)
			oldest = i;
	}
	i = t->n < HUBIO__THROTTLE_SLOTS ? t->n++ : oldest;
	memcpy(t->slot[i].key, key, klen + 1);
	t->slot[i].last_ms = now_ms;
	return true;
}
