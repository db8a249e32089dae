/* SPDX-License-Identifier: MIT */
/* Seeded chained hash map for the in-memory directory and client tables. */
#include "hc_hmap.h"
#include "hc_err.h"
#include "hc_util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static uint64_t seed;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_init(void)
{
	if (hc_random(&seed, sizeof(seed)) != HUB_OK)
		seed = (uint64_t)(uintptr_t)&seed ^ 0x9e3779b97f4a7c15ULL;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

uint64_t hc_hash_bytes(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h;

	pthread_once(&seed_once, seed_init);
	h = 0xcbf29ce484222325ULL ^ seed;
	/* 8 bytes at a time, then the tail: FNV-style with a strong finaliser */
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ mix(w)) * 0x100000001b3ULL;
		p += 8;
		len -= 8;
	}
	while (len--) {
		h ^= *p++;
		h *= 0x100000001b3ULL;
	}
	return mix(h ^ seed);
}

void hc_hmap_init(struct hc_hmap *m)
{
	memset(m, 0, sizeof(*m));
}

void hc_hmap_clear(struct hc_hmap *m)
{
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hc_hmap_entry *e = m->buckets[i];
		while (e) {
			struct hc_hmap_entry *n = e->next;
			free(e);
			e = n;
		}
	}
	free(m->buckets);
	memset(m, 0, sizeof(*m));
}

static struct hc_hmap_entry **slot(const struct hc_hmap *m, const char *key, size_t len, uint64_t h)
{
	struct hc_hmap_entry **pp = &m->buckets[h & (m->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && (*pp)->klen == len && memcmp((*pp)->key, key, len) == 0)
			return pp;
	return pp;
}

void *hc_hmap_get(const struct hc_hmap *m, const char *key, size_t len)
{
	struct hc_hmap_entry **pp;
	if (!m->count)
		return NULL;
	pp = slot(m, key, len, hc_hash_bytes(key, len));
	return *pp ? (*pp)->value : NULL;
}

static int grow(struct hc_hmap *m)
{
	size_t n = m->nbuckets ? m->nbuckets * 2 : 16;
	struct hc_hmap_entry **b = calloc(n, sizeof(*b));
	if (!b)
		return HUB_ERR_NOMEM;
	for (size_t i = 0; i < m->nbuckets; i++) {
		struct hc_hmap_entry *e = m->buckets[i];
		while (e) {
			struct hc_hmap_entry *next = e->next;
			size_t k = e->hash & (n - 1);
			e->next = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(m->buckets);
	m->buckets = b;
	m->nbuckets = n;
	return HUB_OK;
}

int hc_hmap_put(struct hc_hmap *m, const char *key, size_t len, void *value, void **old)
{
	uint64_t h = hc_hash_bytes(key, len);
	struct hc_hmap_entry **pp, *e;

	if (old)
		*old = NULL;
	if (m->count >= m->nbuckets && grow(m) != HUB_OK && m->nbuckets == 0)
		return HUB_ERR_NOMEM;
	pp = slot(m, key, len, h);
	if (*pp) {
		if (old)
			*old = (*pp)->value;
		(*pp)->value = value;
		return HUB_OK;
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return HUB_ERR_NOMEM;
	e->next = NULL;
	e->hash = h;
	e->value = value;
	e->klen = len;
	memcpy(e->key, key, len);
	e->key[len] = '\0';
	*pp = e;
	m->count++;
	return HUB_OK;
}

void *hc_hmap_del(struct hc_hmap *m, const char *key, size_t len)
{
	struct hc_hmap_entry **pp, *e;
	void *v;
	if (!m->count)
		return NULL;
	pp = slot(m, key, len, hc_hash_bytes(key, len));
	e = *pp;
	if (!e)
		return NULL;
	*pp = e->next;
	v = e->value;
	free(e);
	m->count--;
	return v;
}

int hc_hmap_each(
	const struct hc_hmap *m, int (*fn)(void *ud, const char *key, void *value), void *ud)
{
	for (size_t i = 0; i < m->nbuckets; i++)
		for (struct hc_hmap_entry *e = m->buckets[i]; e; e = e->next) {
			int r = fn(ud, e->key, e->value);
			if (r)
				return r;
		}
	return 0;
}
