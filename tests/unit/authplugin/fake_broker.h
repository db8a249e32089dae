/* SPDX-License-Identifier: MIT */
/*
 * A fake Mosquitto 2.0.11 broker for unit tests of hub_auth.so: it provides
 * the mosquitto_* functions the plugin calls (client getters, callback
 * registration, kick by client id, publish, log) and drives the plugin's
 * registered callbacks the way the broker does (BASIC_AUTH, ACL_CHECK,
 * DISCONNECT then the will's ACL WRITE, TICK, RELOAD).
 *
 * The plugin is started for real (mosquitto_plugin_init with a generated
 * hub.conf, key and store in a temporary directory); tests then shape the
 * plugin's in-memory directory directly (fx_*), so nothing waits for the
 * store follower.
 *
 * Recorded: every publish (fb_pubs), every kicked client id (fb_kicked),
 * the last log line (fb_last_log). Single-threaded, like the broker.
 */
#ifndef FAKE_BROKER_H
#define FAKE_BROKER_H

#include <stdbool.h>
#include <stdint.h>

#include "hauth.h"

/* Not the broker's layout unless fb_broker_layout is set when the client
 * is made: by default the leading bytes are zero, so layout.c does not
 * recognise it and the plugin takes its fallbacks (reasons from the will,
 * client ids as sent). With fb_broker_layout, the leading bytes are laid
 * out like 2.0.11's (variant with the ADNS pointer): socket -1, state, and
 * the address, id (heap, as the broker's) and username pointers the
 * getters return, so the plugin may scope client ids. */
struct mosquitto {
	unsigned char not_the_broker_layout[160];
	char id[128];
	char username[80];
	char address[48];
	int protocol; /* enum mosquitto_protocol */
	int protocol_version;
	int keepalive;
	bool persistent; /* clean session false */
	int sub_count;	 /* what mosquitto_client_sub_count says */
	bool connected;
	char will_topic[128]; /* empty: no will */
	bool restored;	      /* read from the persistence file: no address */
};

#define FB_MAX 512

struct fb_pub {
	char topic[256];
	char payload[2048];
	int len;
	int qos;
	bool retain;
	char props[512]; /* "name=value;" for user properties, then "rt=...;"
			    (Response Topic), "corr=...;" (Correlation Data) */
};

extern struct fb_pub fb_pubs[FB_MAX];
extern int fb_npubs;
extern char fb_kicked[FB_MAX][128];
extern int fb_nkicked;
extern char fb_wills[FB_MAX][128]; /* will topics the plugin let out */
extern int fb_nwills;
extern char fb_last_log[1024];
/* Clients made while this is set have the broker's leading layout. Set it
 * before fb_plugin_start (which resets the plugin's layout decision). */
extern bool fb_broker_layout;

/* Clear the records (publishes, kicks, wills). */
void fb_reset(void);

/* A client context (owned by the fake; freed by fb_plugin_stop). */
struct mosquitto *fb_client(const char *id, const char *username, int protocol_version);

/* For a client with the broker's layout: its socket (an fd the test owns;
 * -1 none) and its keepalive, as the broker would hold them. */
void fb_set_sock(struct mosquitto *c, int sock);
void fb_set_keepalive(struct mosquitto *c, int keepalive);

/* The client's id as the broker sees it now (scoped by the plugin when
 * it has the broker's layout). */
const char *fb_id(const struct mosquitto *c);
/* A stored session the broker keeps for id (clean session off), without a
 * connection, as after a broker restart: username set, state
 * "disconnected". */
struct mosquitto *fb_stored(const char *id, const char *username);
/* A stored session as the broker restores it from its persistence file at
 * start-up: username set, no address, no password, state still "new". */
struct mosquitto *fb_restored(const char *id, const char *username);

/* Events, as the broker raises them. fb_connect returns the BASIC_AUTH
 * result and marks the client connected when it is MOSQ_ERR_SUCCESS. */
int fb_connect(struct mosquitto *c, const char *password);
int fb_acl(struct mosquitto *c, const char *topic, int access);
/* The connection ends: DISCONNECT event, then (with_will and a will set)
 * the will's ACL WRITE; an allowed will is recorded in fb_wills. */
void fb_disconnect(struct mosquitto *c, bool with_will);
/* mosquitto's session takeover: a new client with the same id authorised;
 * the old one's will is sent (ACL WRITE) before its DISCONNECT. */
void fb_takeover(struct mosquitto *old);
/* MESSAGE: an incoming PUBLISH that passed its WRITE check. */
int fb_message(struct mosquitto *c, const char *topic, const char *payload);
/* The same with the retain flag set (payload "" deletes). */
int fb_message_retained(struct mosquitto *c, const char *topic, const char *payload);
/* MESSAGE with everything a v5 PUBLISH may carry: props (may be NULL) is
 * the client's property list, taken over. out (may be NULL) gets the
 * message as the plugin left it (payload, retain) and its properties
 * rendered like fb_pub.props. */
struct fb_msg_out {
	char payload[512];
	int len;
	bool retain;
	bool inert; /* the plugin's marker: every READ refuses it */
	char props[512];
};
int fb_message_v5(struct mosquitto *c, const char *topic, const void *payload, int len, int qos,
	bool retain, mosquitto_property *props, struct fb_msg_out *out);
/* A READ check of a delivery with this payload. */
int fb_read(struct mosquitto *c, const char *topic, const void *payload, int len);
void fb_reload(void);
void fb_tick(void);

/* The plugin, started with extra hub.conf lines (may be NULL). */
struct hauth *fb_plugin_start(const char *extra_conf);
void fb_plugin_stop(void);

/* Records. */
int fb_count_pub(const char *topic);
/* Payload of the nth (0-based) publish on topic, or NULL. */
const struct fb_pub *fb_pub_on(const char *topic, int nth);
bool fb_was_kicked(const char *id);

/* Directory fixtures (applied to h->dir as the follower would). */
void fx_user(struct hauth *h, const char *name);
/* A user with the store's created_at (its generation), replacing any
 * earlier one of that name: a user deleted and created again. */
void fx_user_at(struct hauth *h, const char *name, int64_t created_at);
void fx_device(struct hauth *h, const char *name, const char *owner, const char *secret);
/* A service (service key name) with its key. */
void fx_service(struct hauth *h, const char *name, const char *key);
/* Let service check room's events ("" or NULL: nobody). */
void fx_hook(struct hauth *h, const char *room, const char *service);
void fx_del_principal(struct hauth *h, const char *name);
void fx_level(struct hauth *h, const char *room, const char *principal, int level);
void fx_session(struct hauth *h, const char *sid, const char *principal, int64_t expires_at,
	int64_t revoked_at, const char *reason);
void fx_del_session(struct hauth *h, const char *sid);
/* A token signed with the plugin's key (static buffer, valid until the
 * next call). */
const char *fx_token(struct hauth *h, const char *typ, const char *sub, const char *sid,
	int64_t iat, int64_t exp);

#endif
