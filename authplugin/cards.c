/* SPDX-License-Identifier: MIT */
/*
 * OwnTracks cards: the OwnTracks app shows a friend by name when a
 * retained `_type: card` message sits on owntracks/{user}/{device}/info.
 * When a device first publishes on owntracks/{device}/{name} in this broker
 * run (or its display name changed), we publish that card, retained, with
 * the display name from the store. Readers are filtered per message by the
 * ACL like every other owntracks topic.
 */
#include "hauth.h"
#include "hc_log.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CARDS_MAX 100000

/* JSON-escape s into out (bounded). */
static void json_str(const char *s, char *out, size_t n)
{
	size_t o = 0;
	for (; *s && o + 7 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, n - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

void hauth_cards__seen(struct hauth *h, struct hauth_client *c, const char *topic)
{
	const struct hc_dir_principal *dp;
	const char *name, *end;
	char key[2 * HC_NAME_MAX + 2], card_topic[300], body[512], display[300], tid[3];
	size_t idlen = strlen(c->name), klen;
	char *old;

	/* owntracks/{device}/{name}: exactly three levels, device = publisher */
	if (c->kind != HAUTH_DEVICE || strncmp(topic, "owntracks/", 10) != 0 ||
		strncmp(topic + 10, c->name, idlen) != 0 || topic[10 + idlen] != '/')
		return;
	name = topic + 10 + idlen + 1;
	end = strchr(name, '/');
	if (end || !*name || strlen(name) > HC_NAME_MAX)
		return;
	dp = hc_dir_principal(h->dir, c->name, idlen);
	if (!dp)
		return;
	klen = (size_t)snprintf(key, sizeof(key), "%s/%s", c->name, name);
	old = hc_hmap_get(&h->cards, key, klen);
	if (old && !strcmp(old, dp->display_name))
		return;
	if (!old && h->cards.count >= CARDS_MAX)
		return;
	json_str(dp->display_name[0] ? dp->display_name : c->name, display, sizeof(display));
	/* OwnTracks' tracker id convention: the last two characters */
	{
		size_t tl = idlen >= 2 ? 2 : idlen;
		memcpy(tid, c->name + idlen - tl, tl);
		tid[tl] = '\0';
	}
	if (hc_fmt(card_topic, sizeof(card_topic), "owntracks/%s/%s/info", c->name, name) ||
		hc_fmt(body, sizeof(body), "{\"_type\":\"card\",\"name\":\"%s\",\"tid\":\"%s\"}",
			display, tid))
		return;
	if (mosquitto_broker_publish_copy(
		    NULL, card_topic, (int)strlen(body), body, 1, true, NULL) != MOSQ_ERR_SUCCESS)
		return;
	hauth_retain__note(h, card_topic, (uint32_t)strlen(body));
	free(hc_hmap_del(&h->cards, key, klen));
	old = strdup(dp->display_name);
	if (old && hc_hmap_put(&h->cards, key, klen, old, NULL))
		free(old);
}

static int free_cb(void *ud, const char *key, void *value)
{
	(void)ud;
	(void)key;
	free(value);
	return 0;
}

void hauth_cards__free(struct hauth *h)
{
	hc_hmap_each(&h->cards, free_cb, NULL);
	hc_hmap_clear(&h->cards);
}
