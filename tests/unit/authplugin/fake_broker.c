/* SPDX-License-Identifier: MIT */
/*
 * The fake broker behind the hub_auth.so unit tests (see fake_broker.h):
 * the mosquitto_* functions the plugin imports, a registry of the
 * callbacks it registers, and the plugin fixture (temporary hub.conf, key
 * and store; mosquitto_plugin_init / _cleanup).
 */
#include "fake_broker.h"

#include "hc_acl.h"
#include "hc_store.h"
#include "hc_token.h"
#include "hc_util.h"

#include <ftw.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mqtt_protocol.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct fb_pub fb_pubs[FB_MAX];
int fb_npubs;
char fb_kicked[FB_MAX][128];
int fb_nkicked;
char fb_wills[FB_MAX][128];
int fb_nwills;
char fb_last_log[1024];
bool fb_broker_layout;

/* 2.0.11's leading layout, variant with the ADNS pointer (layout.c) */
#define L_SOCK	    4
#define L_ADDRESS   32
#define L_ID	    40
#define L_USERNAME  48
#define L_KEEPALIVE 64
#define L_STATE	    68
#define CS_ACTIVE   3
#define CS_OFFLINE  7

static MOSQ_FUNC_generic_callback callbacks[MOSQ_EVT_DISCONNECT + 1];
static void *userdatas[MOSQ_EVT_DISCONNECT + 1];
static struct mosquitto *clients[FB_MAX];
static int nclients;
static char tmpdir[256];

/* ------------------------------------------------------------ broker API */

int mosquitto_callback_register(mosquitto_plugin_id_t *identifier, int event,
	MOSQ_FUNC_generic_callback cb_func, const void *event_data, void *userdata)
{
	(void)identifier;
	(void)event_data;
	if (!cb_func)
		return MOSQ_ERR_INVAL;
	if (event < 1 || event > MOSQ_EVT_DISCONNECT)
		return MOSQ_ERR_NOT_SUPPORTED;
	if (callbacks[event] == cb_func)
		return MOSQ_ERR_ALREADY_EXISTS;
	callbacks[event] = cb_func;
	userdatas[event] = userdata;
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_callback_unregister(mosquitto_plugin_id_t *identifier, int event,
	MOSQ_FUNC_generic_callback cb_func, const void *event_data)
{
	(void)identifier;
	(void)event_data;
	if (event < 1 || event > MOSQ_EVT_DISCONNECT || callbacks[event] != cb_func)
		return MOSQ_ERR_NOT_FOUND;
	callbacks[event] = NULL;
	userdatas[event] = NULL;
	return MOSQ_ERR_SUCCESS;
}

__attribute__((format(printf, 2, 3))) void mosquitto_log_printf(int level, const char *fmt, ...)
{
	va_list ap;
	(void)level;
	va_start(ap, fmt);
	vsnprintf(fb_last_log, sizeof(fb_last_log), fmt, ap);
	va_end(ap);
	if (getenv("FB_VERBOSE"))
		fprintf(stderr, "log: %s\n", fb_last_log);
}

const char *mosquitto_client_address(const struct mosquitto *client)
{
	return client->restored ? NULL : client->address;
}

static bool laid_out(const struct mosquitto *c)
{
	const char *p;
	memcpy(&p, c->not_the_broker_layout + L_ADDRESS, sizeof(p));
	return p == c->address;
}

static void set_state(struct mosquitto *c, int state)
{
	if (laid_out(c))
		memcpy(c->not_the_broker_layout + L_STATE, &state, sizeof(state));
}

const char *mosquitto_client_id(const struct mosquitto *client)
{
	if (laid_out(client)) {
		const char *p;
		memcpy(&p, client->not_the_broker_layout + L_ID, sizeof(p));
		return p && *p ? p : NULL;
	}
	return client->id[0] ? client->id : NULL;
}

const char *fb_id(const struct mosquitto *c)
{
	return mosquitto_client_id(c);
}

char *mosquitto_strdup(const char *s)
{
	return strdup(s);
}

void mosquitto_free(void *p)
{
	free(p);
}

const char *mosquitto_client_username(const struct mosquitto *client)
{
	return client->username[0] ? client->username : NULL;
}

bool mosquitto_client_clean_session(const struct mosquitto *client)
{
	return !client->persistent;
}

int mosquitto_client_keepalive(const struct mosquitto *client)
{
	return client->keepalive;
}

int mosquitto_client_sub_count(const struct mosquitto *client)
{
	return client->sub_count;
}

int mosquitto_client_protocol(const struct mosquitto *client)
{
	return client->protocol;
}

int mosquitto_client_protocol_version(const struct mosquitto *client)
{
	return client->protocol_version;
}

void *mosquitto_malloc(size_t n)
{
	return malloc(n);
}

/* "name=value;" for each user property, then rt= and corr=. */
static void render_props(const mosquitto_property *props, char *out, size_t n)
{
	size_t o = 0;
	out[0] = '\0';
	for (const mosquitto_property *p = props; p; p = mosquitto_property_next(p)) {
		char *a = NULL, *b = NULL;
		void *bin = NULL;
		uint16_t blen = 0;
		int id = mosquitto_property_identifier(p);
		int w = 0;
		if (id == MQTT_PROP_USER_PROPERTY &&
			mosquitto_property_read_string_pair(p, id, &a, &b, false))
			w = snprintf(out + o, n - o, "%s=%s;", a, b);
		else if (id == MQTT_PROP_RESPONSE_TOPIC &&
			 mosquitto_property_read_string(p, id, &a, false))
			w = snprintf(out + o, n - o, "rt=%s;", a);
		else if (id == MQTT_PROP_CORRELATION_DATA &&
			 mosquitto_property_read_binary(p, id, &bin, &blen, false))
			w = snprintf(out + o, n - o, "corr=%.*s;", (int)blen, (char *)bin);
		else if (id == MQTT_PROP_CONTENT_TYPE &&
			 mosquitto_property_read_string(p, id, &a, false))
			w = snprintf(out + o, n - o, "ct=%s;", a);
		free(a);
		free(b);
		free(bin);
		if (w < 0 || (size_t)w >= n - o)
			break;
		o += (size_t)w;
	}
}

/* Like the broker: queued (recorded here); on success the payload and the
 * properties are the broker's, which frees them. */
int mosquitto_broker_publish(const char *clientid, const char *topic, int payloadlen, void *payload,
	int qos, bool retain, mosquitto_property *properties)
{
	int rc = mosquitto_broker_publish_copy(
		clientid, topic, payloadlen, payload, qos, retain, properties);
	if (rc != MOSQ_ERR_SUCCESS)
		return rc;
	render_props(properties, fb_pubs[fb_npubs - 1].props, sizeof(fb_pubs[0].props));
	free(payload);
	mosquitto_property_free_all(&properties);
	return MOSQ_ERR_SUCCESS;
}

int mosquitto_broker_publish_copy(const char *clientid, const char *topic, int payloadlen,
	const void *payload, int qos, bool retain, mosquitto_property *properties)
{
	struct fb_pub *p;
	(void)clientid;
	(void)properties;
	if (!topic || payloadlen < 0 || (payloadlen > 0 && !payload) || qos < 0 || qos > 2)
		return MOSQ_ERR_INVAL;
	if (fb_npubs == FB_MAX)
		return MOSQ_ERR_NOMEM;
	p = &fb_pubs[fb_npubs++];
	snprintf(p->topic, sizeof(p->topic), "%s", topic);
	p->len = payloadlen;
	snprintf(p->payload, sizeof(p->payload), "%.*s", payloadlen,
		payloadlen ? (const char *)payload : "");
	p->qos = qos;
	p->retain = retain;
	p->props[0] = '\0';
	return MOSQ_ERR_SUCCESS;
}

/* Like the broker: find the connected client by id, end it (DISCONNECT
 * event, then its will). Never the NULL id here: the broker would kick
 * everyone, which the plugin must never ask for. */
int mosquitto_kick_client_by_clientid(const char *clientid, bool with_will)
{
	if (!clientid) {
		snprintf(
			fb_last_log, sizeof(fb_last_log), "FAKE: kick with NULL id kicks everyone");
		return MOSQ_ERR_INVAL;
	}
	if (fb_nkicked < FB_MAX)
		snprintf(fb_kicked[fb_nkicked++], sizeof(fb_kicked[0]), "%s", clientid);
	for (int i = 0; i < nclients; i++)
		if (clients[i]->connected && fb_id(clients[i]) &&
			!strcmp(fb_id(clients[i]), clientid)) {
			fb_disconnect(clients[i], with_will);
			return MOSQ_ERR_SUCCESS;
		}
	return MOSQ_ERR_NOT_FOUND;
}

/* ---------------------------------------------------------- fake driving */

void fb_reset(void)
{
	fb_npubs = 0;
	fb_nkicked = 0;
	fb_nwills = 0;
	fb_last_log[0] = '\0';
}

struct mosquitto *fb_client(const char *id, const char *username, int protocol_version)
{
	struct mosquitto *c = calloc(1, sizeof(*c));
	if (!c || nclients == FB_MAX)
		abort();
	snprintf(c->id, sizeof(c->id), "%s", id ? id : "");
	snprintf(c->username, sizeof(c->username), "%s", username ? username : "");
	snprintf(c->address, sizeof(c->address), "127.0.0.1");
	c->protocol = mp_mqtt;
	c->protocol_version = protocol_version;
	c->keepalive = 60;
	if (fb_broker_layout) {
		unsigned char *b = c->not_the_broker_layout;
		const char *addr = c->address, *user = c->username[0] ? c->username : NULL;
		char *heap_id = c->id[0] ? strdup(c->id) : NULL;
		int sock = -1;
		uint16_t ka = (uint16_t)c->keepalive;
		memcpy(b + L_SOCK, &sock, sizeof(sock));
		memcpy(b + L_ADDRESS, &addr, sizeof(addr));
		memcpy(b + L_ID, &heap_id, sizeof(heap_id));
		memcpy(b + L_USERNAME, &user, sizeof(user));
		memcpy(b + L_KEEPALIVE, &ka, sizeof(ka));
	}
	clients[nclients++] = c;
	return c;
}

void fb_set_sock(struct mosquitto *c, int sock)
{
	if (laid_out(c))
		memcpy(c->not_the_broker_layout + L_SOCK, &sock, sizeof(sock));
}

void fb_set_keepalive(struct mosquitto *c, int keepalive)
{
	uint16_t ka = (uint16_t)keepalive;
	c->keepalive = keepalive;
	if (laid_out(c))
		memcpy(c->not_the_broker_layout + L_KEEPALIVE, &ka, sizeof(ka));
}

struct mosquitto *fb_stored(const char *id, const char *username)
{
	struct mosquitto *c = fb_client(id, username, 4);
	c->persistent = true;
	set_state(c, CS_OFFLINE);
	return c;
}

struct mosquitto *fb_restored(const char *id, const char *username)
{
	struct mosquitto *c = fb_client(id, username, 4);
	c->persistent = true;
	c->restored = true;
	return c;
}

int fb_connect(struct mosquitto *c, const char *password)
{
	struct mosquitto_evt_basic_auth ed = {0};
	int rc;
	ed.client = c;
	ed.username = c->username[0] ? c->username : NULL;
	ed.password = (char *)password;
	rc = callbacks[MOSQ_EVT_BASIC_AUTH](
		MOSQ_EVT_BASIC_AUTH, &ed, userdatas[MOSQ_EVT_BASIC_AUTH]);
	if (rc == MOSQ_ERR_SUCCESS) {
		c->connected = true;
		set_state(c, CS_ACTIVE);
	}
	return rc;
}

int fb_acl(struct mosquitto *c, const char *topic, int access)
{
	struct mosquitto_evt_acl_check ed = {0};
	ed.client = c;
	ed.topic = topic;
	ed.access = access;
	ed.qos = 1;
	return callbacks[MOSQ_EVT_ACL_CHECK](
		MOSQ_EVT_ACL_CHECK, &ed, userdatas[MOSQ_EVT_ACL_CHECK]);
}

static void send_will(struct mosquitto *c)
{
	if (c->will_topic[0] && fb_acl(c, c->will_topic, MOSQ_ACL_WRITE) == MOSQ_ERR_SUCCESS &&
		fb_nwills < FB_MAX)
		snprintf(fb_wills[fb_nwills++], sizeof(fb_wills[0]), "%s", c->will_topic);
}

void fb_disconnect(struct mosquitto *c, bool with_will)
{
	struct mosquitto_evt_disconnect ed = {0};
	if (!c->connected)
		return;
	c->connected = false;
	ed.client = c;
	ed.reason = -1; /* always, in 2.0.11 */
	callbacks[MOSQ_EVT_DISCONNECT](MOSQ_EVT_DISCONNECT, &ed, userdatas[MOSQ_EVT_DISCONNECT]);
	if (with_will)
		send_will(c);
}

void fb_takeover(struct mosquitto *old)
{
	struct mosquitto_evt_disconnect ed = {0};
	/* connect__on_authorised: context__send_will(found), then
	 * do_disconnect(found) */
	send_will(old);
	old->connected = false;
	ed.client = old;
	ed.reason = -1;
	callbacks[MOSQ_EVT_DISCONNECT](MOSQ_EVT_DISCONNECT, &ed, userdatas[MOSQ_EVT_DISCONNECT]);
}

int fb_message(struct mosquitto *c, const char *topic, const char *payload)
{
	struct mosquitto_evt_message ed = {0};
	ed.client = c;
	ed.topic = (char *)topic;
	ed.payload = (void *)payload;
	ed.payloadlen = (uint32_t)strlen(payload);
	ed.qos = 1;
	if (!callbacks[MOSQ_EVT_MESSAGE])
		return MOSQ_ERR_SUCCESS;
	return callbacks[MOSQ_EVT_MESSAGE](MOSQ_EVT_MESSAGE, &ed, userdatas[MOSQ_EVT_MESSAGE]);
}

int fb_message_retained(struct mosquitto *c, const char *topic, const char *payload)
{
	struct mosquitto_evt_message ed = {0};
	ed.client = c;
	ed.topic = (char *)topic;
	ed.payload = (void *)payload;
	ed.payloadlen = (uint32_t)strlen(payload);
	ed.qos = 1;
	ed.retain = true;
	return callbacks[MOSQ_EVT_MESSAGE](MOSQ_EVT_MESSAGE, &ed, userdatas[MOSQ_EVT_MESSAGE]);
}

int fb_message_v5(struct mosquitto *c, const char *topic, const void *payload, int len, int qos,
	bool retain, mosquitto_property *props, struct fb_msg_out *out)
{
	struct mosquitto_evt_message ed = {0};
	int rc;
	/* the broker's copy of the payload (it frees it, or what replaced it) */
	void *copy = malloc(len > 0 ? (size_t)len : 1);
	if (!copy)
		abort();
	if (len > 0)
		memcpy(copy, payload, (size_t)len);
	ed.client = c;
	ed.topic = strdup(topic);
	ed.payload = copy;
	ed.payloadlen = (uint32_t)len;
	ed.qos = (uint8_t)qos;
	ed.retain = retain;
	ed.properties = props;
	rc = callbacks[MOSQ_EVT_MESSAGE](MOSQ_EVT_MESSAGE, &ed, userdatas[MOSQ_EVT_MESSAGE]);
	if (ed.payload != copy)
		free(copy); /* plugin__handle_message frees the replaced one */
	if (out) {
		memset(out, 0, sizeof(*out));
		/* bytes as they are (the marker starts with a NUL) */
		out->len = ed.payloadlen < sizeof(out->payload) ? (int)ed.payloadlen
								: (int)sizeof(out->payload) - 1;
		if (out->len)
			memcpy(out->payload, ed.payload, (size_t)out->len);
		out->retain = ed.retain;
		out->inert = hauth_g && hauth_hooks__inert(hauth_g, ed.payload, ed.payloadlen);
		render_props(ed.properties, out->props, sizeof(out->props));
	}
	free(ed.payload);
	free(ed.topic);
	/* 2.0.11: the message keeps what the plugin left (it freed any list
	 * it replaced); the message ends here */
	mosquitto_property_free_all(&ed.properties);
	return rc;
}

int fb_read(struct mosquitto *c, const char *topic, const void *payload, int len)
{
	struct mosquitto_evt_acl_check ed = {0};
	ed.client = c;
	ed.topic = topic;
	ed.payload = payload;
	ed.payloadlen = (uint32_t)len;
	ed.access = MOSQ_ACL_READ;
	ed.qos = 1;
	return callbacks[MOSQ_EVT_ACL_CHECK](
		MOSQ_EVT_ACL_CHECK, &ed, userdatas[MOSQ_EVT_ACL_CHECK]);
}

void fb_reload(void)
{
	struct mosquitto_evt_reload ed = {0};
	callbacks[MOSQ_EVT_RELOAD](MOSQ_EVT_RELOAD, &ed, userdatas[MOSQ_EVT_RELOAD]);
}

void fb_tick(void)
{
	struct mosquitto_evt_tick ed = {0};
	callbacks[MOSQ_EVT_TICK](MOSQ_EVT_TICK, &ed, userdatas[MOSQ_EVT_TICK]);
}

int fb_count_pub(const char *topic)
{
	int n = 0;
	for (int i = 0; i < fb_npubs; i++)
		n += strcmp(fb_pubs[i].topic, topic) == 0;
	return n;
}

const struct fb_pub *fb_pub_on(const char *topic, int nth)
{
	for (int i = 0; i < fb_npubs; i++)
		if (!strcmp(fb_pubs[i].topic, topic) && nth-- == 0)
			return &fb_pubs[i];
	return NULL;
}

bool fb_was_kicked(const char *id)
{
	for (int i = 0; i < fb_nkicked; i++)
		if (!strcmp(fb_kicked[i], id))
			return true;
	return false;
}

/* -------------------------------------------------------------- fixture */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct hauth *fb_plugin_start(const char *extra_conf)
{
	static mosquitto_plugin_id_t *fake_id = (mosquitto_plugin_id_t *)&tmpdir;
	char conf[320], data[300];
	struct mosquitto_opt opt;
	void *userdata = NULL;
	FILE *f;
	int rc;

	snprintf(tmpdir, sizeof(tmpdir), "%s/hubtest.XXXXXX",
		getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir))
		abort();
	snprintf(data, sizeof(data), "%s/data", tmpdir);
	snprintf(conf, sizeof(conf), "%s/hub.conf", tmpdir);
	if (mkdir(data, 0700) != 0)
		abort();
	f = fopen(conf, "w");
	if (!f)
		abort();
	fprintf(f,
		"data_dir = %s\nrun_as =\nlog_level = debug\nrefresh_ms = 20\ndemo_data = "
		"false\n%s\n",
		data, extra_conf ? extra_conf : "");
	fclose(f);
	opt.key = "config";
	opt.value = conf;
	fb_reset();
	rc = mosquitto_plugin_init(fake_id, &userdata, &opt, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		fprintf(stderr, "plugin init failed (%d): %s\n", rc, fb_last_log);
		abort();
	}
	fb_reset();
	return userdata;
}

void fb_plugin_stop(void)
{
	if (hauth_g)
		mosquitto_plugin_cleanup(hauth_g, NULL, 0);
	for (int i = 0; i < nclients; i++) {
		if (laid_out(clients[i])) {
			char *p;
			memcpy(&p, clients[i]->not_the_broker_layout + L_ID, sizeof(p));
			free(p);
		}
		free(clients[i]);
	}
	nclients = 0;
	if (strstr(tmpdir, "/hubtest."))
		nftw(tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

void fx_user(struct hauth *h, const char *name)
{
	struct hc_principal p = {0};
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.kind = HC_KIND_USER;
	snprintf(p.role, sizeof(p.role), "user");
	snprintf(p.display_name, sizeof(p.display_name), "%s", name);
	if (hc_dir_put_principal(h->dir, &p, NULL))
		abort();
}

void fx_user_at(struct hauth *h, const char *name, int64_t created_at)
{
	struct hc_principal p = {0};
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.kind = HC_KIND_USER;
	snprintf(p.role, sizeof(p.role), "user");
	snprintf(p.display_name, sizeof(p.display_name), "%s", name);
	p.created_at = created_at;
	hc_dir_del_principal(h->dir, name);
	if (hc_dir_put_principal(h->dir, &p, NULL))
		abort();
}

void fx_device(struct hauth *h, const char *name, const char *owner, const char *secret)
{
	struct hc_principal p = {0};
	char hex[65];
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.kind = HC_KIND_DEVICE;
	snprintf(p.owner, sizeof(p.owner), "%s", owner);
	snprintf(p.display_name, sizeof(p.display_name), "%s", name);
	hc_sha256_hex(secret, strlen(secret), hex);
	if (hc_dir_put_principal(h->dir, &p, hex))
		abort();
}

void fx_service(struct hauth *h, const char *name, const char *key)
{
	struct hc_principal p = {0};
	char hex[65];
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.kind = HC_KIND_SERVICE;
	snprintf(p.role, sizeof(p.role), "user");
	hc_sha256_hex(key, strlen(key), hex);
	if (hc_dir_put_principal(h->dir, &p, hex))
		abort();
}

void fx_hook(struct hauth *h, const char *room, const char *service)
{
	if (hc_dir_put_room(h->dir, room) || hc_dir_set_room_hook(h->dir, room, service))
		abort();
}

void fx_del_principal(struct hauth *h, const char *name)
{
	hc_dir_del_principal(h->dir, name);
}

void fx_level(struct hauth *h, const char *room, const char *principal, int level)
{
	if (hc_dir_put_room(h->dir, room) || hc_dir_set_level(h->dir, room, principal, level))
		abort();
}

void fx_session(struct hauth *h, const char *sid, const char *principal, int64_t expires_at,
	int64_t revoked_at, const char *reason)
{
	struct hc_session s = {0};
	snprintf(s.sid, sizeof(s.sid), "%s", sid);
	snprintf(s.principal, sizeof(s.principal), "%s", principal);
	snprintf(s.kind, sizeof(s.kind), "web");
	s.created_at = hc_now();
	s.expires_at = expires_at;
	s.revoked_at = revoked_at;
	snprintf(s.reason, sizeof(s.reason), "%s", reason ? reason : "");
	if (hc_dir_put_session(h->dir, &s))
		abort();
}

void fx_del_session(struct hauth *h, const char *sid)
{
	hc_dir_del_session(h->dir, sid);
}

const char *fx_token(struct hauth *h, const char *typ, const char *sub, const char *sid,
	int64_t iat, int64_t exp)
{
	static char tok[HC_TOKEN_MAX + 1];
	if (hc_token_mint(h->key, typ, sub, sid, iat, exp, tok, sizeof(tok)))
		abort();
	return tok;
}
