/* SPDX-License-Identifier: MIT */
/*
 * Presence belongs to the broker plugin; the bridge tells it about each
 * authenticated socket (authplugin/attach.c is the receiving side), so a
 * Socket.IO socket counts exactly like an MQTT connection: the same
 * joined/left notices and retained presence, whichever way it ends.
 *
 *   $hub/presence/attach  {"conn":"<socket id>","principal":"<user>","sid":"<session>"}
 *   $hub/presence/detach  {"conn":"<socket id>","reason":"clean|network|..."}
 */
#include "args.h"
#include "hbr.h"
#include "hc_log.h"
#include "hc_util.h"

#include <string.h>

void hbr_presence__attach(struct hbr *h, struct hbr_sock *s)
{
	char body[256];
	int mid;
	if (hc_fmt(body, sizeof(body), "{\"conn\":\"%s\",\"principal\":\"%s\",\"sid\":\"%s\"}",
		    s->sock_id, s->user, s->session))
		return;
	/* not connected: hbr_presence__reattach_all does it on reconnect */
	if (hbr_mqtt__publish(
		    h, "$hub/presence/attach", body, strlen(body), HBR_ENC_AUTO, NULL, &mid))
		hc_debug("msg=\"attach deferred until the broker link is up\" conn=%s", s->sock_id);
}

void hbr_presence__detach(struct hbr *h, struct hbr_sock *s, const char *reason)
{
	char body[160];
	int mid;
	if (hc_fmt(body, sizeof(body), "{\"conn\":\"%s\",\"reason\":\"%s\"}", s->sock_id, reason))
		return;
	/* not connected: the plugin ended our sockets with our link */
	hbr_mqtt__publish(h, "$hub/presence/detach", body, strlen(body), HBR_ENC_AUTO, NULL, &mid);
}

static int reattach_cb(void *ud, const char *key, void *value)
{
	struct hbr_sock *s = value;
	(void)key;
	if (s->connected)
		hbr_presence__attach(ud, s);
	return 0;
}

void hbr_presence__reattach_all(struct hbr *h)
{
	hc_hmap_each(&h->serials, reattach_cb, h);
}
