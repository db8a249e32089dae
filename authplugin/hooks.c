/* SPDX-License-Identifier: MIT */
/*
 * Hooks (CONTRACT.md "Backends"): a client event into a room hooked to a
 * service (`hubctl room hook ROOM SERVICE`) reaches no member until the
 * service accepted it. Mosquitto 2.0.11 lets a plugin neither delay nor
 * drop a publish it already acknowledged, so MESSAGE (once per publish)
 * holds it like this:
 *
 *  1. the event's payload is replaced by an inert marker (8 magic bytes and
 *     a random 16-byte nonce of this process) and its retain flag cleared:
 *     every READ check refuses a message carrying the marker's shape (its
 *     length and magic, whichever run made it; acl_check.c),
 *     so the held message reaches nobody, whatever the subscription
 *     (wildcards, $share, queued for offline sessions), for QoS 0, 1 and 2
 *     (which fans out later, at PUBREL), and is never retained. History and
 *     webhooks skip it;
 *  2. the original (payload, QoS, retain, the sender's properties) is kept
 *     in a pending entry under a random 128-bit id, with a deadline of
 *     call_timeout_ms;
 *  3. the hook request goes out (mosquitto_broker_publish, QoS 1) on
 *     svc/{service}/hook/{room}/{event}/{sender} with the original payload,
 *     Response Topic $hub/verdict/{service}/{id}, Correlation Data {id} and
 *     the sender's stamp (stamp.c). Only that service reads svc/{service}/.
 *
 * The verdict comes back as a publish of the service on
 * $hub/verdict/{service}/{id} (only that service may write there, and the
 * id is a secret of the request; nobody may read it):
 * {"accept":true[,"data":<json>]} republishes the event (clientid NULL: a
 * READ check per subscriber, as any event) on its topic with the original
 * or the changed data, QoS and retain flag, records it for history and
 * webhooks, and tells the sender {"ok":true,"data":<final data>};
 * {"accept":false,"reason":"..."} tells it {"ok":false,"error":"rejected",
 * "message":"..."}. The sender learns the verdict on the Response Topic of
 * its event, if it gave one (under users/{sender}/reply/, like a call).
 *
 * Fail closed: with no live connection of the service the event is refused
 * at once (PUBACK 0x87, "unavailable"); past the deadline it is dropped
 * ("timeout"); when the service's last connection ends, what it held is
 * dropped ("unavailable"); over a bound on held events (count and bytes in
 * all, per room, count per sender) it is refused ("busy"). Events the hook
 * service publishes itself into its room are not hooked. Wills skip
 * MESSAGE: a will into a hooked room is refused at its WRITE check
 * (acl_check.c).
 *
 * Everything here runs on the broker's thread, in memory.
 */
#include "hauth.h"
#include "hauth_history.h"
#include "hc_log.h"
#include "hc_util.h"

#include <cjson/cJSON.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MARKER_MAGIC "\0hubheld"
#define MAGIC_LEN    8
#define NONCE_LEN    16
#define MARKER_LEN   (MAGIC_LEN + NONCE_LEN)
#define ID_BYTES     16
#define ID_LEN	     (2 * ID_BYTES)
#define REASON_MAX   512 /* bytes of a rejection reason passed on */

struct pending {
	char id[ID_LEN + 1];
	struct pending *prev, *next; /* by deadline (all wait call_timeout_ms) */
	int64_t deadline_ms;
	char service[HC_NAME_MAX + 1];
	char room[HC_NAME_MAX + 1];
	char sender[HC_NAME_MAX + 1];
	char writer[HC_NAME_MAX + 1]; /* the publisher (retained bounds) */
	char *topic;
	unsigned char *payload;
	uint32_t len;
	uint8_t qos;
	bool retain;
	char *reply; /* the sender's Response Topic, or NULL */
	void *corr;
	uint16_t corr_len;
	mosquitto_property *props; /* what the republish carries */
	size_t bytes;
};

struct usage {
	int64_t count, bytes;
};

struct hauth_hooks {
	unsigned char marker[MARKER_LEN];
	struct hc_hmap pending; /* id -> struct pending */
	struct pending *head, *tail;
	struct hc_hmap rooms;	/* room -> struct usage */
	struct hc_hmap senders; /* sender -> struct usage */
	int64_t count, bytes;
	uint64_t held, accepted, rejected, timeouts, unavailable, busy, late;
};

int hauth_hooks__start(struct hauth *h)
{
	struct hauth_hooks *k = calloc(1, sizeof(*k));
	if (!k)
		return -1;
	memcpy(k->marker, MARKER_MAGIC, MAGIC_LEN);
	if (hc_random(k->marker + MAGIC_LEN, NONCE_LEN)) {
		free(k);
		return -1;
	}
	hc_hmap_init(&k->pending);
	hc_hmap_init(&k->rooms);
	hc_hmap_init(&k->senders);
	h->hooks = k;
	return 0;
}

bool hauth_hooks__inert(const struct hauth *h, const void *payload, uint32_t len)
{
	/* on every delivery: one length compare for everything else. The
	 * magic alone decides, not this run's nonce: a QoS 2 event held when
	 * the broker stopped is released by its PUBREL after the restart
	 * (persistence) with the marker of the run before. A client's own
	 * payload of that shape reaches nobody either: it hides only itself */
	(void)h;
	return len == MARKER_LEN && payload && memcmp(payload, MARKER_MAGIC, MAGIC_LEN) == 0;
}

int hauth_hooks__make_inert(struct hauth *h, struct mosquitto_evt_message *ed)
{
	void *m;
	if (!h->hooks)
		return -1;
	m = mosquitto_malloc(MARKER_LEN);
	if (!m)
		return -1;
	memcpy(m, h->hooks->marker, MARKER_LEN);
	/* the broker frees the old payload (it differs from ours) */
	ed->payload = m;
	ed->payloadlen = MARKER_LEN;
	ed->retain = false;
	return 0;
}

/* rooms/{room}/ev/{event}/{sender}: pointers and lengths into topic. */
struct evt {
	const char *room, *event, *sender;
	size_t rlen, elen, slen;
};

static bool parse(const char *topic, struct evt *e)
{
	const char *p, *q;
	if (strncmp(topic, "rooms/", 6) != 0)
		return false;
	p = topic + 6;
	q = strchr(p, '/');
	if (!q || strncmp(q, "/ev/", 4) != 0)
		return false;
	e->room = p;
	e->rlen = (size_t)(q - p);
	p = q + 4;
	q = strchr(p, '/');
	if (!q || strchr(q + 1, '/'))
		return false;
	e->event = p;
	e->elen = (size_t)(q - p);
	e->sender = q + 1;
	e->slen = strlen(q + 1);
	return e->rlen && e->rlen <= HC_NAME_MAX && e->elen && e->elen <= HC_NAME_MAX && e->slen &&
	       e->slen <= HC_NAME_MAX;
}

static const char *service_of(struct hauth *h, const struct evt *e)
{
	const struct hc_dir_room *r = hc_dir_room(h->dir, e->room, e->rlen);
	if (!r || !r->hook[0])
		return NULL;
	/* the hook service's own events are its to make */
	if (strlen(r->hook) == e->slen && !memcmp(r->hook, e->sender, e->slen))
		return NULL;
	return r->hook;
}

const char *hauth_hooks__service_of(struct hauth *h, const char *topic)
{
	struct evt e;
	return parse(topic, &e) ? service_of(h, &e) : NULL;
}

/* ------------------------------------------------------------ bounds */

static struct usage *usage_of(struct hc_hmap *m, const char *key, bool create)
{
	struct usage *u = hc_hmap_get(m, key, strlen(key));
	if (u || !create)
		return u;
	u = calloc(1, sizeof(*u));
	if (u && hc_hmap_put(m, key, strlen(key), u, NULL)) {
		free(u);
		u = NULL;
	}
	return u;
}

static void usage_sub(struct hc_hmap *m, const char *key, size_t bytes)
{
	struct usage *u = usage_of(m, key, false);
	if (!u)
		return;
	u->count--;
	u->bytes -= (int64_t)bytes;
	if (u->count <= 0)
		free(hc_hmap_del(m, key, strlen(key)));
}

/* NULL if an event of bytes may be held, else which bound it hits. */
static const char *over(struct hauth *h, const char *room, const char *sender, size_t bytes)
{
	struct hauth_hooks *k = h->hooks;
	const struct usage *r = usage_of(&k->rooms, room, false);
	const struct usage *s = usage_of(&k->senders, sender, false);
	int64_t b = (int64_t)bytes;

	if (k->count >= hc_cfg_int(&h->cfg, HC_CFG_HOOK_PENDING_MAX) ||
		k->bytes + b > hc_cfg_int(&h->cfg, HC_CFG_HOOK_PENDING_BYTES))
		return "hook_pending_max/bytes";
	if (r && (r->count >= hc_cfg_int(&h->cfg, HC_CFG_HOOK_ROOM_PENDING_MAX) ||
			 r->bytes + b > hc_cfg_int(&h->cfg, HC_CFG_HOOK_ROOM_PENDING_BYTES)))
		return "hook_room_pending_max/bytes";
	if (!r && b > hc_cfg_int(&h->cfg, HC_CFG_HOOK_ROOM_PENDING_BYTES))
		return "hook_room_pending_bytes";
	if (s && s->count >= hc_cfg_int(&h->cfg, HC_CFG_HOOK_SENDER_PENDING_MAX))
		return "hook_sender_pending_max";
	return NULL;
}

/* ----------------------------------------------------- pending entries */

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	free(p->topic);
	free(p->payload);
	free(p->reply);
	free(p->corr);
	mosquitto_property_free_all(&p->props);
	free(p);
}

static int track(struct hauth *h, struct pending *p)
{
	struct hauth_hooks *k = h->hooks;
	struct usage *r, *s;

	if (hc_hmap_put(&k->pending, p->id, ID_LEN, p, NULL))
		return -1;
	r = usage_of(&k->rooms, p->room, true);
	s = usage_of(&k->senders, p->sender, true);
	if (!r || !s) {
		if (r && !r->count)
			free(hc_hmap_del(&k->rooms, p->room, strlen(p->room)));
		hc_hmap_del(&k->pending, p->id, ID_LEN);
		return -1;
	}
	r->count++;
	r->bytes += (int64_t)p->bytes;
	s->count++;
	s->bytes += (int64_t)p->bytes;
	k->count++;
	k->bytes += (int64_t)p->bytes;
	p->prev = k->tail;
	p->next = NULL;
	if (k->tail)
		k->tail->next = p;
	else
		k->head = p;
	k->tail = p;
	return 0;
}

static void untrack(struct hauth *h, struct pending *p)
{
	struct hauth_hooks *k = h->hooks;
	hc_hmap_del(&k->pending, p->id, ID_LEN);
	usage_sub(&k->rooms, p->room, p->bytes);
	usage_sub(&k->senders, p->sender, p->bytes);
	k->count--;
	k->bytes -= (int64_t)p->bytes;
	if (p->prev)
		p->prev->next = p->next;
	else
		k->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		k->tail = p->prev;
	p->prev = p->next = NULL;
}

/* Tell the sender (if it gave a Response Topic). */
static void tell(const char *reply, const void *corr, uint16_t corr_len, const char *json)
{
	if (reply && json)
		hauth_calls__answer(reply, corr, corr_len, json);
}

static void tell_error(const char *reply, const void *corr, uint16_t corr_len, const char *error,
	const char *message)
{
	cJSON *j;
	char *s;
	if (!reply)
		return;
	j = cJSON_CreateObject();
	if (!j)
		return;
	cJSON_AddFalseToObject(j, "ok");
	cJSON_AddStringToObject(j, "error", error);
	if (message)
		cJSON_AddStringToObject(j, "message", message);
	s = cJSON_PrintUnformatted(j);
	tell(reply, corr, corr_len, s);
	cJSON_free(s);
	cJSON_Delete(j);
}

static int refuse(struct hauth *h, struct hauth_client *c, const char *topic, const char *why)
{
	char t[160], id[96];
	h->stats.acl_denied_write++;
	hc_info("%s/%s | publish | denied topic=\"%s\" rule=\"%s\"",
		hc_log_safe(c ? (c->ctx ? hauth_clientid__external(c->id) : c->id) : "-", id,
			sizeof(id)),
		c ? c->name : "-", hc_log_safe(topic, t, sizeof(t)), why);
	return MOSQ_ERR_ACL_DENIED;
}

/* The hook request for p to its service. */
static int ask(struct hauth *h, struct pending *p, const char *event, size_t elen)
{
	mosquitto_property *props = NULL;
	char topic[4 * HC_NAME_MAX + 16], reply[HC_NAME_MAX + 16 + ID_LEN];
	void *buf = NULL;
	int rc = -1;

	if (hc_fmt(topic, sizeof(topic), "svc/%s/hook/%s/%.*s/%s", p->service, p->room, (int)elen,
		    event, p->sender) ||
		hc_fmt(reply, sizeof(reply), "$hub/verdict/%s/%s", p->service, p->id))
		return -1;
	if (mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply) ||
		mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, p->id, ID_LEN) ||
		hauth_stamp__add(h, &props, p->sender))
		goto out;
	buf = mosquitto_malloc(p->len ? p->len : 1);
	if (!buf)
		goto out;
	if (p->len)
		memcpy(buf, p->payload, p->len);
	if (mosquitto_broker_publish(NULL, topic, (int)p->len, buf, 1, false, props) ==
		MOSQ_ERR_SUCCESS) {
		buf = NULL;
		props = NULL; /* the broker's now */
		rc = 0;
	}
out:
	mosquitto_free(buf);
	mosquitto_property_free_all(&props);
	return rc;
}

int hauth_hooks__message(
	struct hauth *h, struct hauth_client *c, struct mosquitto_evt_message *ed, bool *held)
{
	struct hauth_hooks *k = h->hooks;
	struct pending *p = NULL;
	const char *service, *why;
	char *reply = NULL;
	void *corr = NULL;
	uint16_t corr_len = 0;
	struct evt e;
	size_t bytes;
	int rc;

	*held = false;
	if (!k || !parse(ed->topic, &e) || !(service = service_of(h, &e)))
		return MOSQ_ERR_SUCCESS;
	*held = true;
	mosquitto_property_read_string(ed->properties, MQTT_PROP_RESPONSE_TOPIC, &reply, false);
	mosquitto_property_read_binary(
		ed->properties, MQTT_PROP_CORRELATION_DATA, &corr, &corr_len, false);
	if (reply && !hauth_calls__reply_ok(reply, e.sender, e.slen)) {
		/* never publish a verdict where the sender may not read */
		rc = refuse(h, c, ed->topic,
			"the Response Topic of an event into a hooked room must be under "
			"users/{sender}/reply/");
		goto out;
	}
	if (!hauth_calls__service_live(h, service)) {
		k->unavailable++;
		tell_error(reply, corr, corr_len, "unavailable", NULL);
		rc = refuse(h, c, ed->topic, "the room's hook service is not connected");
		goto out;
	}
	if (ed->retain && ed->payloadlen &&
		(why = hauth_retain__check(h, c ? c->name : "", ed->topic, ed->payloadlen))) {
		rc = refuse(h, c, ed->topic, why);
		goto out;
	}
	/* what the entry will hold: the copies, and the sender's properties
	 * (user properties may fill a packet: counted, not assumed small) */
	bytes = sizeof(*p) + strlen(ed->topic) + 1 + ed->payloadlen + (reply ? strlen(reply) : 0) +
		corr_len + hauth_stamp__bytes(ed->properties) + 64;
	{
		char room[HC_NAME_MAX + 1], sender[HC_NAME_MAX + 1];
		memcpy(room, e.room, e.rlen);
		room[e.rlen] = '\0';
		memcpy(sender, e.sender, e.slen);
		sender[e.slen] = '\0';
		why = over(h, room, sender, bytes);
	}
	if (why) {
		k->busy++;
		tell_error(reply, corr, corr_len, "busy", NULL);
		rc = refuse(h, c, ed->topic, why);
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		goto nomem;
	{
		unsigned char rnd[ID_BYTES];
		if (hc_random(rnd, sizeof(rnd)))
			goto nomem;
		hc_hex(rnd, sizeof(rnd), p->id);
	}
	snprintf(p->service, sizeof(p->service), "%s", service);
	memcpy(p->room, e.room, e.rlen);
	memcpy(p->sender, e.sender, e.slen);
	snprintf(p->writer, sizeof(p->writer), "%s", c ? c->name : "");
	p->topic = strdup(ed->topic);
	p->payload = malloc(ed->payloadlen ? ed->payloadlen : 1);
	if (!p->topic || !p->payload)
		goto nomem;
	if (ed->payloadlen)
		memcpy(p->payload, ed->payload, ed->payloadlen);
	p->len = ed->payloadlen;
	p->qos = ed->qos;
	p->retain = ed->retain;
	p->reply = reply;
	p->corr = corr;
	p->corr_len = corr_len;
	reply = NULL;
	corr = NULL;
	p->bytes = bytes;
	p->deadline_ms = hc_mono_ms() + hc_cfg_int(&h->cfg, HC_CFG_CALL_TIMEOUT_MS);
	if (hauth_stamp__copy(ed->properties, &p->props, false))
		goto nomem;
	/* the gateway tags its sockets' events with hub-origin (a hub-*
	 * property no client can set): the accepted event keeps it, so the
	 * gateway gives it to every socket of the room but its sender, as it
	 * does with unhooked events */
	if (c && c->kind == HAUTH_SERVICE && hauth_stamp__origin(ed->properties, &p->props))
		goto nomem;
	if (hauth_hooks__make_inert(h, ed))
		goto nomem;
	if (track(h, p))
		goto nomem;
	if (ask(h, p, e.event, e.elen)) {
		untrack(h, p);
		k->unavailable++;
		tell_error(p->reply, p->corr, p->corr_len, "unavailable", NULL);
		pending_free(p);
		return refuse(h, c, ed->topic, "cannot ask the hook service");
	}
	k->held++;
	hc_debug("msg=\"event held for its hook\" room=%s service=%s sender=%s id=%.8s", p->room,
		p->service, p->sender, p->id);
	return MOSQ_ERR_SUCCESS;
nomem:
	/* fail closed: the event is refused, never let through unchecked */
	if (p) {
		reply = p->reply;
		corr = p->corr;
		p->reply = NULL;
		p->corr = NULL;
	}
	pending_free(p);
	rc = refuse(h, c, ed->topic, "out of memory holding the event for its hook");
out:
	free(reply);
	free(corr);
	return rc;
}

/* ----------------------------------------------------------- verdicts */

/* {"ok":true[,"data":<final>]} for a final payload that is JSON. */
static char *ok_answer(const unsigned char *data, size_t len)
{
	cJSON *j = cJSON_CreateObject(), *d = NULL;
	const char *end = NULL;
	char *s;
	if (!j)
		return NULL;
	cJSON_AddTrueToObject(j, "ok");
	if (len)
		d = cJSON_ParseWithLengthOpts((const char *)data, len, &end, false);
	if (d) {
		/* only whitespace may follow the value */
		while (end && end < (const char *)data + len &&
			(*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
			end++;
		if (end == (const char *)data + len)
			cJSON_AddItemToObject(j, "data", d);
		else
			cJSON_Delete(d);
	}
	s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

/* The service accepted p (data: its replacement, or NULL). */
static void deliver(struct hauth *h, struct pending *p, const cJSON *data)
{
	struct hauth_hooks *k = h->hooks;
	unsigned char *final = p->payload;
	char *printed = NULL, *answer;
	size_t len = p->len;
	const char *why;
	void *buf;

	if (data) {
		printed = cJSON_PrintUnformatted(data);
		if (!printed) {
			tell_error(p->reply, p->corr, p->corr_len, "busy", NULL);
			k->busy++;
			return;
		}
		final = (unsigned char *)printed;
		len = strlen(printed);
	}
	/* a retained event joins the retained index and its bounds now */
	if (p->retain && (why = hauth_retain__publish(h, p->writer, p->topic, (uint32_t)len))) {
		k->rejected++;
		tell_error(p->reply, p->corr, p->corr_len, "refused", why);
		hc_info("msg=\"accepted event not retained: over a bound\" room=%s sender=%s "
			"rule=\"%s\"",
			p->room, p->sender, why);
		cJSON_free(printed);
		return;
	}
	buf = mosquitto_malloc(len ? len : 1);
	if (!buf) {
		k->busy++;
		tell_error(p->reply, p->corr, p->corr_len, "busy", NULL);
		cJSON_free(printed);
		return;
	}
	if (len)
		memcpy(buf, final, len);
	if (mosquitto_broker_publish(NULL, p->topic, (int)len, buf, p->qos, p->retain, p->props) !=
		MOSQ_ERR_SUCCESS) {
		mosquitto_free(buf);
		k->busy++;
		tell_error(p->reply, p->corr, p->corr_len, "busy", NULL);
		cJSON_free(printed);
		return;
	}
	p->props = NULL; /* the broker's now */
	k->accepted++;
	/* plugin publishes skip MESSAGE: history and webhooks hear of it here */
	hauth_history__add(h->history, p->topic, final, len);
	answer = ok_answer(final, len);
	tell(p->reply, p->corr, p->corr_len, answer);
	cJSON_free(answer);
	cJSON_free(printed);
}

/* Drop a last character that a cut left incomplete (UTF-8). */
static void utf8_cut(char *s)
{
	size_t n = strlen(s), i = n, need;
	unsigned char c;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0) {
		s[0] = '\0';
		return;
	}
	c = (unsigned char)s[i - 1];
	need = c < 0xC0 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

void hauth_hooks__verdict(struct hauth *h, struct hauth_client *c, const char *topic,
	const void *payload, uint32_t len)
{
	struct hauth_hooks *k = h->hooks;
	const char *service = topic + 13, *id; /* "$hub/verdict/" */
	struct pending *p;
	cJSON *j, *acc;
	size_t sl;

	if (!k)
		return;
	id = strchr(service, '/');
	if (!id || strchr(id + 1, '/') || strlen(id + 1) != ID_LEN)
		return;
	sl = (size_t)(id - service);
	id++;
	/* only a connection of that service decides (the ACL lets no one
	 * else write here; the hub's own identity may, and is ignored) */
	if (!c || c->kind != HAUTH_APP || strlen(c->name) != sl || memcmp(c->name, service, sl))
		return;
	p = hc_hmap_get(&k->pending, id, ID_LEN);
	if (!p || strlen(p->service) != sl || memcmp(p->service, service, sl)) {
		k->late++;
		hc_debug("msg=\"verdict for no held event (late or unknown)\" service=%s id=%.8s",
			c->name, id);
		return;
	}
	untrack(h, p);
	j = cJSON_ParseWithLength(payload, len);
	acc = cJSON_GetObjectItemCaseSensitive(j, "accept");
	if (cJSON_IsTrue(acc)) {
		deliver(h, p, cJSON_GetObjectItemCaseSensitive(j, "data"));
	} else {
		const char *reason =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reason"));
		char r[REASON_MAX + 1];
		if (!cJSON_IsFalse(acc))
			reason = "the service sent no valid verdict";
		snprintf(r, sizeof(r), "%s", reason ? reason : "rejected");
		if (reason && strlen(reason) > REASON_MAX)
			utf8_cut(r);
		k->rejected++;
		tell_error(p->reply, p->corr, p->corr_len, "rejected", r);
	}
	hc_debug("msg=\"hook verdict\" room=%s service=%s sender=%s accept=%s", p->room, p->service,
		p->sender, cJSON_IsTrue(acc) ? "yes" : "no");
	cJSON_Delete(j);
	pending_free(p);
}

/* ---------------------------------------------------------- deadlines */

void hauth_hooks__tick(struct hauth *h, int64_t now_ms)
{
	struct hauth_hooks *k = h->hooks;
	struct pending *p;

	while (k && (p = k->head) && p->deadline_ms <= now_ms) {
		untrack(h, p);
		k->timeouts++;
		hc_info("msg=\"hook verdict timed out: event dropped\" room=%s service=%s "
			"sender=%s",
			p->room, p->service, p->sender);
		tell_error(p->reply, p->corr, p->corr_len, "timeout", NULL);
		pending_free(p);
	}
}

void hauth_hooks__service_gone(struct hauth *h, const char *service)
{
	struct hauth_hooks *k = h->hooks;
	struct pending *p, *next;
	int n = 0;

	for (p = k ? k->head : NULL; p; p = next) {
		next = p->next;
		if (strcmp(p->service, service) != 0)
			continue;
		untrack(h, p);
		k->unavailable++;
		tell_error(p->reply, p->corr, p->corr_len, "unavailable", NULL);
		pending_free(p);
		n++;
	}
	if (n)
		hc_info("msg=\"hook service gone: held events dropped\" service=%s count=%d",
			service, n);
}

static int free_usage_cb(void *ud, const char *key, void *value)
{
	(void)ud;
	(void)key;
	free(value);
	return 0;
}

void hauth_hooks__stop(struct hauth *h)
{
	struct hauth_hooks *k = h->hooks;
	struct pending *p;
	if (!k)
		return;
	while ((p = k->head) != NULL) {
		untrack(h, p);
		pending_free(p);
	}
	hc_hmap_clear(&k->pending);
	hc_hmap_each(&k->rooms, free_usage_cb, NULL);
	hc_hmap_clear(&k->rooms);
	hc_hmap_each(&k->senders, free_usage_cb, NULL);
	hc_hmap_clear(&k->senders);
	free(k);
	h->hooks = NULL;
}

void hauth_hooks__metrics(struct hauth *h, char *out, size_t n)
{
	struct hauth_hooks *k = h->hooks;
	if (!k || hc_fmt(out, n,
			  "\"hooks_pending\":%lld,\"hooks_pending_bytes\":%lld,"
			  "\"hooks_held\":%llu,\"hooks_accepted\":%llu,\"hooks_rejected\":%llu,"
			  "\"hooks_timeout\":%llu,\"hooks_unavailable\":%llu,\"hooks_busy\":%llu",
			  (long long)k->count, (long long)k->bytes, (unsigned long long)k->held,
			  (unsigned long long)k->accepted, (unsigned long long)k->rejected,
			  (unsigned long long)k->timeouts, (unsigned long long)k->unavailable,
			  (unsigned long long)k->busy))
		out[0] = '\0';
}
