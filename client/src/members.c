/* SPDX-License-Identifier: MIT */
/*
 * A room's presence list as the retained rooms/{room}/presence/{user}
 * messages describe it: add or update on a payload, remove on an empty
 * one. Arrival order, bounded by the room's maximum.
 */
#include "hubio_int.h"

#include <stdlib.h>
#include <string.h>

static long find(const struct hubio__members *m, const char *user)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->v[i].user, user) == 0)
			return (long)i;
	return -1;
}

int hubio__members_set(struct hubio__members *m, const char *user, int64_t since)
{
	long i = find(m, user);
	size_t ulen = strnlen(user, HUBIO__NAME_MAX + 1);

	if (ulen > HUBIO__NAME_MAX)
		return -HUBIO_EINVAL;
	if (i >= 0) {
		if (m->v[i].since == since)
			return 0;
		m->v[i].since = since;
		return 1;
	}
	if (m->n >= m->max)
		return -HUBIO_EFULL;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct hubio__member *v;
		if (cap > m->max)
			cap = m->max;
		v = realloc(m->v, cap * sizeof(*v));
		if (!v)
			return -HUBIO_ENOMEM;
		m->v = v;
		m->cap = cap;
	}
	memcpy(m->v[m->n].user, user, ulen + 1);
	m->v[m->n].since = since;
	m->n++;
	return 1;
}

int hubio__members_remove(struct hubio__members *m, const char *user)
{
	long i = find(m, user);
	if (i < 0)
		return 0;
	memmove(&m->v[i], &m->v[i + 1], (m->n - (size_t)i - 1) * sizeof(m->v[0]));
	m->n--;
	return 1;
}

void hubio__members_clear(struct hubio__members *m)
{
	free(m->v);
	m->v = NULL;
	m->n = m->cap = 0;
}

void hubio__members_view(const struct hubio__members *m, struct hubio_member *out)
{
	for (size_t i = 0; i < m->n; i++) {
		out[i].user = m->v[i].user;
		out[i].since = m->v[i].since;
	}
}
