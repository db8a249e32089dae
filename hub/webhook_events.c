/* SPDX-License-Identifier: MIT */
/* Login and logout webhook rows (webhook_events.h). */
#include "webhook_events.h"
#include "hc_err.h"
#include "hc_names.h"
#include "hc_util.h"
#include "hc_webhook.h"

#include <string.h>

/* Every value here is a name (A-Za-z0-9._-), a session id (base64url) or
 * one of our own words: nothing to escape, checked rather than assumed. */
static bool plain(const char *s)
{
	if (!s || !*s || strlen(s) > HC_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
			return false;
	return true;
}

static int event(struct hc_store *st, const char *type, const char *user, const char *sid,
	const char *key, const char *value, const char *service, int *queued)
{
	char fields[512];

	if (queued)
		*queued = 0;
	if (!plain(user) || !plain(sid) || !plain(value) || (service && !plain(service)))
		return HUB_ERR_INVAL;
	if (hc_fmt(fields, sizeof(fields), "\"user\":\"%s\",\"sid\":\"%s\",\"%s\":\"%s\"%s%s%s",
		    user, sid, key, value, service ? ",\"service\":\"" : "", service ? service : "",
		    service ? "\"" : ""))
		return HUB_ERR_TOOBIG;
	return hc_webhook_enqueue(st, type, NULL, NULL, hc_now_ms(), fields, queued);
}

int hub_webhook_event_login(struct hc_store *st, const char *user, const char *sid, const char *via,
	const char *service, int *queued)
{
	return event(st, "login", user, sid, "via", via, service, queued);
}

int hub_webhook_event_logout(struct hc_store *st, const char *user, const char *sid,
	const char *reason, const char *service, int *queued)
{
	return event(st, "logout", user, sid, "reason", reason, service, queued);
}
