/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so internals: the plugin's state and the functions its files
 * share. Everything here runs on the broker's single thread (the store
 * follower has its own thread and talks to us only through hc_follow).
 */
#ifndef HAUTH_H
#define HAUTH_H

#include <mosquitto.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_acl.h"
#include "hc_config.h"
#include "hc_follow.h"
#include "hc_hmap.h"
#include "hc_token.h"

struct mosquitto;
struct mosquitto_evt_message;
struct hauth_history;
struct hauth_retain;
struct hauth_hooks;

/* HAUTH_SERVICE is the hub's own processes (the gateway, hubd: user
 * "$hub" with a service token); HAUTH_APP a backend logged in with a
 * service key (username = the key's name). */
enum hauth_kind { HAUTH_USER = 1, HAUTH_DEVICE, HAUTH_SERVICE, HAUTH_APP, HAUTH_LINK };

/* HAUTH_LINK: another broker's bridge (link.c), logged in as this name. */
#define HC_LINK_PRINCIPAL "$hub-link"

/* The broker's place among several (link.c, docs/scaling.md). */
enum hauth_role { HAUTH_ROLE_SINGLE = 0, HAUTH_ROLE_EDGE, HAUTH_ROLE_CORE };
#define HAUTH_HELLO_MAX 64

/* One authenticated connection, keyed by the broker's context pointer. */
struct hauth_client {
	const struct mosquitto *ctx; /* NULL for a virtual connection */
	char *key;		     /* table key: ctx pointer bytes, or
					bridge ctx bytes + "/" + conn */
	size_t klen;
	char *id;			/* client id, or the gateway's conn id */
	const struct mosquitto *bridge; /* virtual: the gateway's connection */
	const char *vreason;		/* virtual: reason the gateway gave */
	bool link_detached;		/* virtual of a link: an edge said it ended (its
					   grace already ran there) */
	char name[HC_NAME_MAX + 1];	/* principal; "$hub" for the service */
	int kind;
	char sid[HC_TOKEN_SID_MAX + 1]; /* users: session reference */
	bool session_seen;		/* the directory knows the session */
	unsigned char secret_hash[32];	/* devices, apps: what they proved */
	bool websocket;
	int protocol_version;
	int keepalive;
	int64_t connected_ms;
	int64_t active_ms;	/* last publish/subscribe we saw */
	const char *end_reason; /* set when the hub ends the connection */
	bool gone;		/* DISCONNECT seen; freed at next tick */
	int64_t gone_ms;
	bool will_seen; /* the broker published its will */
	bool replaced;	/* a newer CONNECT took its client id (takeover) */
	/* limits.c */
	char addr[48];	      /* client address, "::ffff:" dropped */
	bool counted;	      /* in its principal's mqtt_live and by_addr */
	bool slow;	      /* backlog over broker_backlog_max: deliveries refused */
	bool no_socket;	      /* its socket cannot be measured */
	uint64_t out_allowed; /* bytes of deliveries allowed to it */
	uint64_t out_checked; /* out_allowed when its socket was last asked */
	int64_t backlog_checked_ms;
	struct hc_hmap subs; /* hashes of the filters it subscribed to */
	int subs_inherited;  /* subscriptions its stored session had, -1: not known yet */
	struct hauth_principal *owner;
	struct hauth_client *next; /* in owner's list */
};

/* Live connections of one principal; presence state. */
struct hauth_principal {
	char name[HC_NAME_MAX + 1];
	int live;      /* connections not gone */
	int mqtt_live; /* of which MQTT connections (not the gateway's sockets) */
	struct hauth_client *clients;
	int64_t since;	      /* online since (unix s), 0 if offline */
	bool announced;	      /* joined notices went out */
	bool device;	      /* a device: its notices say so ("device":true) */
	struct hc_hmap rooms; /* rooms announced in (name -> level) */
	int64_t left_due_ms;  /* pending left notice (grace), 0 if none */
	const char *left_reason;
	char left_sid[HC_TOKEN_SID_MAX + 1]; /* session of the last connection, "" */
};

struct hauth_stats {
	uint64_t auth_ok, auth_denied, acl_denied_read, acl_denied_write, acl_denied_sub, kicks;
	uint64_t dropped_slow; /* deliveries refused to connections over their backlog */
	uint64_t calls, calls_refused, calls_unavailable;
};

struct hauth {
	struct hc_config cfg;
	struct hc_token_key *key;
	struct hc_acl_dir *dir;
	struct hc_follow *follow;
	struct hc_hmap clients;	    /* ctx pointer bytes -> hauth_client */
	struct hc_hmap by_id;	    /* client id -> live broker connection holding it */
	struct hc_hmap id_owner;    /* unscoped client id -> owner name (malloc) of a stored
				       session (clientid.c) */
	struct hc_hmap principals;  /* name -> hauth_principal */
	struct hc_hmap by_addr;	    /* client address -> live MQTT connections from it */
	struct hc_hmap offline;	    /* name -> struct hc_hmap of broker ids of its stored
				       sessions messages were queued for (limits.c) */
	struct hc_hmap room_online; /* room -> (void *)(intptr_t)online members */
	bool presence_reset_done;   /* stale retained presence cleared */
	int64_t log_flush_ms;	    /* last hc_log_limits_flush on TICK */
	int lefts_pending;	    /* principals with a left notice due */
	int64_t last_presence_ms;
	int gone_pending; /* gone connections not reaped yet */
	int clients_live;
	bool reloading;	 /* between MOSQ_EVT_RELOAD and the next tick */
	bool ids_scoped; /* client ids are scoped per identity (clientid.c) */
	int64_t last_sweep_ms, last_metrics_ms;
	struct hauth_stats stats;
	struct hauth_history *history;
	struct hauth_retain *retain;
	struct hauth_hooks *hooks;
	struct hc_hmap cards; /* "device/name" -> display name of the card sent */
	char metrics_last[1024];
	/* link.c */
	int role; /* enum hauth_role */
	char node[33];
	bool link_enabled;
	unsigned char link_hash[32];
	char hello[HAUTH_HELLO_MAX][80]; /* core: links to greet on the next tick */
	int hello_n;
};

extern struct hauth *hauth_g;

/* clients.c */
struct hauth_client *hauth_clients__find(struct hauth *h, const struct mosquitto *ctx);
struct hauth_client *hauth_clients__add(
	struct hauth *h, const struct mosquitto *ctx, const char *id, const char *name, int kind);
/* A connection the Socket.IO gateway (a service client) holds for a user. */
struct hauth_client *hauth_clients__find_virtual(
	struct hauth *h, const struct mosquitto *bridge, const char *conn);
struct hauth_client *hauth_clients__add_virtual(struct hauth *h, const struct mosquitto *bridge,
	const char *conn, const char *name, const char *sid, int kind);
/* The gateway's own connection ended: all its virtual connections end. */
void hauth_clients__bridge_gone(struct hauth *h, const struct mosquitto *bridge);
/* Mark gone (DISCONNECT); the entry stays until hauth_clients__reap. */
void hauth_clients__gone(struct hauth *h, struct hauth_client *c);
void hauth_clients__reap(struct hauth *h, int64_t now_ms);
struct hauth_principal *hauth_clients__principal(struct hauth *h, const char *name);
void hauth_clients__free_all(struct hauth *h);
/* A CONNECT with client id id was authorised: the live connection that
 * holds that id is being taken over (mosquitto sends its will, then
 * ends it). */
void hauth_clients__mark_replaced(struct hauth *h, const char *id);
/* The identity holding client id id: its live connection's, else the owner
 * of the stored (non-clean) session last opened with it; NULL if none. */
const char *hauth_clients__id_holder(struct hauth *h, const char *id);
/* A connection of name with client id id was authorised: remember the owner
 * of a stored session (clean == false), forget it on a clean start. */
void hauth_clients__id_claim(struct hauth *h, const char *id, const char *name, bool clean);

/* layout.c: the broker's client struct, where a confirmed layout allows */
/* Forget the layout decision (plugin init; tests). */
void hauth_layout__reset(void);
bool hauth_layout__known(const struct mosquitto *ctx);
/* The socket and the state (enum mosquitto_client_state); false if the
 * layout is not confirmed for ctx. */
bool hauth_layout__sock_state(const struct mosquitto *ctx, int *sock, int *state);
/* Replace the client id (a copy of id). Only for a connection in
 * BASIC_AUTH whose state is still "new". 0 on success, -1 if the layout
 * is not confirmed or memory is short (nothing changed). */
int hauth_layout__set_id(struct mosquitto *ctx, const char *id);
/* The client's address as its socket's peer (getpeername), written into
 * out (n bytes) and returned: what the per-address limits count and the
 * audit lines show. Mosquitto 2.0.15+ gives a WebSocket client's
 * X-Forwarded-For header, whatever it claims, as mosquitto_client_address;
 * the socket cannot lie. "::ffff:" of a mapped IPv4 address is dropped.
 * Falls back to mosquitto_client_address when the layout is not confirmed
 * or the socket is gone ("" if there is none). */
const char *hauth_layout__peer_addr(const struct mosquitto *ctx, char *out, size_t n);

/* clientid.c: client ids scoped per identity */
/* In BASIC_AUTH of a new connection of name (authorised): make its id
 * "{name}:{generation}/{id}". False if it stays as sent (auto-shaped id,
 * unknown layout, no memory): then the holder rule applies. */
bool hauth_clientid__scope(struct hauth *h, struct mosquitto *client, const char *name);
/* Whether id is shaped like an id the broker assigns (auto-UUID). */
bool hauth_clientid__auto_shaped(const char *id);
/* The part of a broker client id the client sent (after the scope). */
const char *hauth_clientid__external(const char *id);
/* Write the scoped id of external for name at generation into out (n
 * bytes); non-zero if it does not fit. */
int hauth_clientid__format(
	char *out, size_t n, const char *name, int64_t generation, const char *external);
/* An offline stored session with broker id id and username user: NULL if
 * messages may be queued for it, else why not (its identity was deleted or
 * re-created, or nobody can reach it any more). */
const char *hauth_clientid__stored_problem(struct hauth *h, const char *id, const char *user);

/* limits.c: connections per identity and address, backlog, subscriptions */
/* NULL if a new connection of name (to become broker_id) from client
 * address addr (auth.c: the peer's, or the browser's a token of hubd's
 * WebSocket front names) may be made, else the audit reason of the
 * refusal. */
const char *hauth_limits__admit(
	struct hauth *h, const char *addr, const char *name, const char *broker_id);
/* Count a registered connection from addr / uncount an ended one. */
void hauth_limits__up(struct hauth *h, struct hauth_client *c, const char *addr);
void hauth_limits__down(struct hauth *h, struct hauth_client *c);
/* A delivery of payloadlen bytes on a topic of topic_len bytes to the live
 * connection c was allowed by the ACL: false if c's backlog is over
 * broker_backlog_max (the delivery is refused). */
bool hauth_limits__deliver(
	struct hauth *h, struct hauth_client *c, size_t topic_len, uint32_t payloadlen);
/* A subscription to filter was allowed by the ACL: false if c holds
 * broker_subs_max already. */
bool hauth_limits__subscribe(
	struct hauth *h, struct hauth_client *c, struct mosquitto *client, const char *filter);
void hauth_limits__unsubscribe(struct hauth_client *c, const char *filter);
/* A delivery to the offline stored session broker_id of name: false if
 * name already has broker_stored_per_identity other stored sessions that
 * messages are queued for (nothing is queued for this one). */
bool hauth_limits__stored_queue(struct hauth *h, const char *name, const char *broker_id);
/* A connection of name took broker_id (its stored session, if any, is
 * live again, or ends with a clean start): no longer offline. */
void hauth_limits__stored_back(struct hauth *h, const char *name, const char *broker_id);
void hauth_limits__free(struct hauth *h);

/* retain.c: the index of retained messages, their bounds and clearing */
/* Open (create) the index file at path, load it, start its writer. */
int hauth_retain__start(struct hauth *h, const char *path, char *err, size_t errsz);
/* Flush and stop the writer, free the index. */
void hauth_retain__stop(struct hauth *h);
/* A client's retained publish (or retained will) of len bytes by writer:
 * NULL if it may be stored (indexed now), else why not (over a bound). An
 * empty one (a deletion) is always let through. */
const char *hauth_retain__publish(
	struct hauth *h, const char *writer, const char *topic, uint32_t len);
/* The same bounds, without recording anything: NULL if a retained
 * publish of len bytes by writer on topic would be let through. */
const char *hauth_retain__check(
	struct hauth *h, const char *writer, const char *topic, uint32_t len);
/* The hub published topic retained itself (len 0: cleared it). */
void hauth_retain__note(struct hauth *h, const char *topic, uint32_t len);
/* A store change: clear what a deleted or re-created room or identity
 * left retained. */
void hauth_retain__change(struct hauth *h, const struct hc_change *chg);
/* First tick after a start: clear what outlived its room or identity while
 * the broker was down. */
void hauth_retain__tick(struct hauth *h);

/* stamp.c: who sent a call or a hooked event, as user properties */
/* Add the stamp of principal name (hub-user, hub-display, hub-role,
 * hub-kind, from the directory) to *props. 0, or -1 if memory is short. */
int hauth_stamp__add(struct hauth *h, mosquitto_property **props, const char *name);
/* MESSAGE: drop client-supplied user properties named hub-* (any case)
 * from ed->properties and add the stamp of name. 0, or -1 (memory). */
int hauth_stamp__message(struct hauth *h, struct mosquitto_evt_message *ed, const char *name);
/* MESSAGE of any other client publish: drop user properties named hub-*
 * (nothing to do, and no cost, when the publish has no properties). 0, or
 * -1 (memory). */
int hauth_stamp__strip(struct mosquitto_evt_message *ed);
/* A copy of src without user properties named hub-* and, if !keep_reply,
 * without Response Topic and Correlation Data, appended to *dst. 0 or -1. */
int hauth_stamp__copy(const mosquitto_property *src, mosquitto_property **dst, bool keep_reply);
/* Append src's `hub-origin` user property (the gateway's tag of the socket
 * that sent an event) to *dst, if it has one. Only for publishes of the
 * hub's own processes: a client's hub-* properties never pass. 0 or -1. */
int hauth_stamp__origin(const mosquitto_property *src, mosquitto_property **dst);
/* Bytes a property list holds (its strings and nodes), roughly. */
size_t hauth_stamp__bytes(const mosquitto_property *props);
/* Whether a user property name is one only the hub may set. */
bool hauth_stamp__reserved(const char *name);
/* Tell stamp.c the broker's version (version.c; 0: unknown): from 2.0.15
 * the broker frees a property list a MESSAGE callback replaced. */
void hauth_stamp__broker_version(int version);

/* version.c: the broker's version as 2000021 for 2.0.21; 0 if unknown.
 * *source says where it was read ("executable", "libmosquitto",
 * "unknown"). Reads the executable: at start-up only. */
int hauth_version__broker(const char **source);
/* The one version string ("2.D.D", NUL-delimited) in buf, as a number; 0
 * if none or several different ones. Pure. */
int hauth_version__scan(const unsigned char *buf, size_t len);

/* calls.c: calls (svc/{service}/{method}/{sender}) and answers */
/* MESSAGE of a call whose WRITE check passed. MOSQ_ERR_SUCCESS or
 * MOSQ_ERR_ACL_DENIED (retained, or a Response Topic not under
 * users/{sender}/reply/). */
int hauth_calls__message(struct hauth *h, struct hauth_client *c, struct mosquitto_evt_message *ed);
/* Whether topic is a reply topic of sender: users/{sender}/reply/ and one
 * to three more non-empty levels, no wildcards. */
bool hauth_calls__reply_ok(const char *topic, const char *sender, size_t sender_len);
/* Publish json (QoS 1) on reply with Correlation Data corr (may be NULL),
 * like a service's answer. 0, or a MOSQ_ERR_* code (nothing sent). */
int hauth_calls__answer(const char *reply, const void *corr, uint16_t corr_len, const char *json);
/* Whether service has a live connection. */
bool hauth_calls__service_live(struct hauth *h, const char *service);

/* hooks.c: room events held until their hook service's verdict */
int hauth_hooks__start(struct hauth *h);
/* Answer every held event ("unavailable") and free. */
void hauth_hooks__stop(struct hauth *h);
/* Whether a message carries the inert marker (a held event, a call nobody
 * can take): no READ lets it through. */
bool hauth_hooks__inert(const struct hauth *h, const void *payload, uint32_t len);
/* Make the message of a MESSAGE event inert (marker payload, retain
 * cleared). 0, or -1 if memory is short (nothing changed). */
int hauth_hooks__make_inert(struct hauth *h, struct mosquitto_evt_message *ed);
/* The hook service checking a client event on topic (rooms/{room}/ev/
 * {event}/{sender} in a hooked room, sender not that service), or NULL. */
const char *hauth_hooks__service_of(struct hauth *h, const char *topic);
/* MESSAGE of a room event whose WRITE check passed: *held is set when the
 * room is hooked (the event was held, or refused: the return code). */
int hauth_hooks__message(
	struct hauth *h, struct hauth_client *c, struct mosquitto_evt_message *ed, bool *held);
/* MESSAGE on $hub/verdict/{service}/{id}: a hook service's verdict. */
void hauth_hooks__verdict(struct hauth *h, struct hauth_client *c, const char *topic,
	const void *payload, uint32_t len);
/* Events past call_timeout_ms: refused, the sender told "timeout". */
void hauth_hooks__tick(struct hauth *h, int64_t now_ms);
/* The last connection of service ended: its held events are refused
 * ("unavailable"). */
void hauth_hooks__service_gone(struct hauth *h, const char *service);
/* Counters for $hub/metrics, as JSON members (no braces) into out. */
void hauth_hooks__metrics(struct hauth *h, char *out, size_t n);

/* auth.c */
int hauth_auth__basic(
	struct hauth *h, struct mosquitto *client, const char *username, const char *password);

/* attach.c: $hub/presence/attach|detach from the gateway */
void hauth_attach__message(struct hauth *h, struct hauth_client *from, const char *topic,
	const void *payload, size_t len);

/* cards.c: retained OwnTracks cards for devices */
void hauth_cards__seen(struct hauth *h, struct hauth_client *c, const char *topic);
void hauth_cards__free(struct hauth *h);

/* acl_check.c */
int hauth_acl__check(struct hauth *h, struct mosquitto *client, const char *topic, int access,
	const void *payload, uint32_t payloadlen, bool retain);

/* revoke.c */
/* Apply store changes and end connections whose right to exist ended. */
void hauth_revoke__tick(struct hauth *h, int64_t now_ms);
/* End one connection now (kick by client id, will published). */
void hauth_revoke__kick(struct hauth *h, struct hauth_client *c, const char *reason);
/* How the session sid ended (logout, kicked, expired), NULL if it is live
 * or unknown. */
const char *hauth_revoke__session_end(struct hauth *h, const char *sid);

/* metrics.c */
void hauth_metrics__tick(struct hauth *h, int64_t now_ms);

/* link.c: several brokers joined by bridges */
/* Read node_role, node_name, link_key_file. 0, or -1 with err set. */
int hauth_link__setup(struct hauth *h, char *err, size_t errsz);
/* Whether password is the link secret (constant time). */
bool hauth_link__password_ok(struct hauth *h, const char *password);
/* Edge: whether client is this broker's own bridge context. */
bool hauth_link__is_local_bridge(struct hauth *h, const struct mosquitto *client);
/* MESSAGE: true if it came over a link (handled here: the caller does
 * nothing else with it), false for a client's own publish. */
bool hauth_link__message(struct hauth *h, struct hauth_client *c, struct mosquitto_evt_message *ed);
/* Edge: tell the core that p went online / offline here. */
void hauth_link__attach(struct hauth *h, struct hauth_principal *p);
void hauth_link__detach(struct hauth *h, struct hauth_principal *p, const char *reason);
/* Core: a link connected (greet it on the next tick). */
void hauth_link__connected(struct hauth *h, struct hauth_client *c);
void hauth_link__tick(struct hauth *h);

/* log sink routing hc_log into the broker's log */
void hauth_log__sink(int level, const char *line);

#endif
