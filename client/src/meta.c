/* SPDX-License-Identifier: MIT */
/*
 * What the hub says in its own messages (authplugin/presence.c): the
 * joined/left notices and the retained presence entries, and the meta a
 * handler receives. Payloads are (pointer, length), parsed with
 * cJSON_ParseWithLength.
 */
#include "hubio_int.h"

#include <cjson/cJSON.h>
#include <string.h>

int hubio__notice_parse(const char *data, size_t len, char *user, long *online)
{
	cJSON *j, *u, *o;
	int rc = HUBIO_EINVAL;

	user[0] = '\0';
	*online = -1;
	if (!data || len == 0)
		return HUBIO_EINVAL;
	j = cJSON_ParseWithLength(data, len);
	if (!j)
		return HUBIO_EINVAL;
	u = cJSON_GetObjectItemCaseSensitive(j, "user");
	o = cJSON_GetObjectItemCaseSensitive(j, "online");
	if (cJSON_IsString(u) && hubio__name_valid(u->valuestring)) {
		memcpy(user, u->valuestring, strlen(u->valuestring) + 1);
		rc = HUBIO_OK;
	}
	if (cJSON_IsNumber(o) && o->valuedouble >= 0 && o->valuedouble < 1e9)
		*online = (long)o->valuedouble;
	cJSON_Delete(j);
	return rc;
}

int hubio__presence_parse(const char *data, size_t len, bool *present, int64_t *since)
{
	cJSON *j, *s;

	*since = 0;
	*present = false;
	if (!data || len == 0)
		return HUBIO_OK; /* the hub clears a member with an empty retained message */
	j = cJSON_ParseWithLength(data, len);
	if (!j)
		return HUBIO_EINVAL;
	if (!cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return HUBIO_EINVAL;
	}
	s = cJSON_GetObjectItemCaseSensitive(j, "since");
	if (cJSON_IsNumber(s) && s->valuedouble >= 0 && s->valuedouble < 1e15)
		*since = (int64_t)s->valuedouble;
	*present = true;
	cJSON_Delete(j);
	return HUBIO_OK;
}

void hubio__meta_from_topic(const struct hubio__topic *t, int64_t ts_ms,
	const struct hubio_reply *reply, struct hubio_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->ts = ts_ms;
	m->reply = reply;
	switch (t->kind) {
	case HUBIO__T_ROOM_EV:
	case HUBIO__T_ROOM_PRESENCE:
		m->room = t->room;
		m->from = t->from;
		break;
	case HUBIO__T_ROOM_SYS:
		m->room = t->room;
		break;
	case HUBIO__T_INBOX:
		m->from = t->from;
		m->inbox = 1;
		break;
	default:
		break;
	}
}
