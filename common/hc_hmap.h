/* SPDX-License-Identifier: MIT */
/*
 * A string-keyed hash map (chained, power-of-two buckets, grows at load
 * 1.0) with a per-process random seed, so lookups of client-chosen strings
 * stay O(1) whatever the keys. Not thread-safe; one owner thread.
 * Keys are copied into the entry; values are opaque pointers owned by the
 * caller.
 */
#ifndef HC_HMAP_H
#define HC_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hc_hmap_entry {
	struct hc_hmap_entry *next;
	uint64_t hash;
	void *value;
	size_t klen;
	char key[]; /* NUL-terminated copy */
};

struct hc_hmap {
	struct hc_hmap_entry **buckets;
	size_t nbuckets; /* 0 or a power of two */
	size_t count;
};

void hc_hmap_init(struct hc_hmap *m);
/* Free all entries (not the values: call hc_hmap_each first if needed). */
void hc_hmap_clear(struct hc_hmap *m);
/* Value for key (len bytes, need not be NUL-terminated), or NULL. */
void *hc_hmap_get(const struct hc_hmap *m, const char *key, size_t len);
/* Insert or replace. *old (if not NULL) gets the replaced value or NULL.
 * HUB_OK or HUB_ERR_NOMEM (map unchanged). */
int hc_hmap_put(struct hc_hmap *m, const char *key, size_t len, void *value, void **old);
/* Remove; returns the value or NULL if absent. */
void *hc_hmap_del(struct hc_hmap *m, const char *key, size_t len);
/* Call fn for each entry; fn must not modify the map. Stops when fn
 * returns non-zero and returns that value. */
int hc_hmap_each(
	const struct hc_hmap *m, int (*fn)(void *ud, const char *key, void *value), void *ud);

uint64_t hc_hash_bytes(const void *data, size_t len);

#endif
