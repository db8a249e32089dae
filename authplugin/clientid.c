/* SPDX-License-Identifier: MIT */
/*
 * Client ids belong to identities. Mosquitto keys sessions by client id
 * alone: a CONNECT with an id closes the live connection holding it and
 * takes over its stored session (subscriptions, queued messages), whoever
 * sends it. So each identity gets its own id space: when a connection is
 * authorised, the broker's id for it becomes
 *
 *     {name}:{generation}/{id the client sent}    (generation: hex of the
 *                                                  identity's created_at)
 *     $hub/{id}                                    (the hub's services)
 *
 * Client-sent ids never contain '/' (auth.c refuses them), so no client can
 * name another identity's space. alice's "phone" and bob's "phone" are two
 * sessions; a user deleted and created again starts with no stored
 * sessions (a new generation). Within one identity mosquitto's rules are
 * unchanged (takeover, session present, queued messages).
 *
 * Two cases keep the id as sent, with the older rule "an id belongs to the
 * identity holding it" (a live connection, or a stored session opened with
 * it in this broker run; clients.c): ids shaped like the broker's own
 * assigned ids (auto-XXXXXXXX-XXXX-..., which a v5 CONNACK hands back to
 * the client), and brokers whose client layout layout.c does not recognise.
 */
#include "hauth.h"
#include "hc_log.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mosquitto's client_id_gen: "auto-" + 36 characters, 8-4-4-4-12 hex
 * digits (upper case) and dashes */
bool hauth_clientid__auto_shaped(const char *id)
{
	static const char prefix[] = "auto-";
	const size_t plen = sizeof(prefix) - 1;

	if (!id || strncmp(id, prefix, plen) != 0 || strlen(id) != plen + 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		char ch = id[plen + i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? ch != '-' : !((ch >= '0' && ch <= '9') || (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return true;
}

const char *hauth_clientid__external(const char *id)
{
	const char *slash = id ? strchr(id, '/') : NULL;
	return slash ? slash + 1 : id;
}

int hauth_clientid__format(
	char *out, size_t n, const char *name, int64_t generation, const char *external)
{
	if (!strcmp(name, HC_SERVICE_PRINCIPAL))
		return hc_fmt(out, n, "%s/%s", name, external);
	return hc_fmt(out, n, "%s:%llx/%s", name, (unsigned long long)generation, external);
}

bool hauth_clientid__scope(struct hauth *h, struct mosquitto *client, const char *name)
{
	const char *id = mosquitto_client_id(client);
	const struct hc_dir_principal *dp = NULL;
	size_t n;
	char *scoped;
	bool ok;

	if (!id || !*id || hauth_clientid__auto_shaped(id))
		return false;
	if (strcmp(name, HC_SERVICE_PRINCIPAL) != 0) {
		dp = hc_dir_principal(h->dir, name, strlen(name));
		if (!dp)
			return false;
	}
	n = strlen(name) + strlen(id) + 20; /* ':' 16 hex digits '/' NUL */
	scoped = malloc(n);
	ok = scoped && !hauth_clientid__format(scoped, n, name, dp ? dp->created_at : 0, id) &&
	     !hauth_layout__set_id(client, scoped);
	free(scoped);
	if (ok)
		h->ids_scoped = true;
	return ok;
}

const char *hauth_clientid__stored_problem(struct hauth *h, const char *id, const char *user)
{
	const struct hc_dir_principal *dp = hc_dir_principal(h->dir, user, strlen(user));
	const char *slash = id ? strchr(id, '/') : NULL;
	char want[HC_NAME_MAX + 24];
	size_t n;

	if (!strcmp(user, HC_SERVICE_PRINCIPAL))
		return !slash || !strncmp(id, HC_SERVICE_PRINCIPAL "/", 5)
			       ? NULL
			       : "stored session of another identity";
	if (!dp)
		return "stored session of a deleted identity";
	if (!slash) {
		/* as sent: allowed unless this broker scopes ids, in which case it
		 * is a session of an earlier run that nobody can reach any more */
		if (h->ids_scoped && !hauth_clientid__auto_shaped(id))
			return "stored session with an unscoped client id";
		return NULL;
	}
	if (hauth_clientid__format(want, sizeof(want), user, dp->created_at, ""))
		return "stored session of another identity";
	n = strlen(want);
	if ((size_t)(slash + 1 - id) != n || strncmp(id, want, n) != 0)
		return "stored session of an earlier identity of that name";
	return NULL;
}
