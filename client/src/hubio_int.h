/* SPDX-License-Identifier: MIT */
/*
 * libhubclient internals: the client structure and the internal modules
 * (hubio__*). Nothing here is exported (-fvisibility=hidden and the version
 * script); the unit tests link the static build and call the pure modules
 * (names, topic, throttle, backoff, meta, members, answer) directly.
 */
#ifndef HUBIO_INT_H
#define HUBIO_INT_H

#include "hubio.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUBIO__NAME_MAX		  64 /* room, user, event: bytes */
#define HUBIO__TOPIC_MAX	  256
#define HUBIO__CORR_LEN		  16  /* correlation data we generate */
#define HUBIO__CORR_MAX		  128 /* largest correlation data we answer */
#define HUBIO__DEFAULT_TIMEOUT_MS 10000

/* ---------------------------------------------------------------- names */
/* The contract's character sets: wrappers of common/names.c. Pure. */
bool hubio__name_valid(const char *s);
bool hubio__name_valid_n(const char *s, size_t len);
bool hubio__event_valid(const char *s);
bool hubio__event_valid_n(const char *s, size_t len);
bool hubio__utf8_valid(const char *s, size_t len);
/* The library's own event names, which hubio_emit refuses and which are
 * never taken from room traffic: connect, disconnect, joined, left, error,
 * "*". */
bool hubio__event_reserved(const char *s);

/* ---------------------------------------------------------------- topic */
/* Builders write a NUL-terminated topic into buf (size sz). Return
 * HUBIO_OK, HUBIO_EINVAL (a name is invalid) or HUBIO_ETOOBIG (buf too
 * small). Pure. */
int hubio__topic_room_ev(
	char *buf, size_t sz, const char *room, const char *event, const char *sender);
int hubio__topic_inbox(
	char *buf, size_t sz, const char *user, const char *event, const char *sender);
/* The three filters of a joined room: rooms/{room}/ev/+/+,
 * rooms/{room}/sys/+, rooms/{room}/presence/+ (each buffer HUBIO__TOPIC_MAX). */
int hubio__topic_room_filters(char out[3][HUBIO__TOPIC_MAX], const char *room);
/* users/{user}/inbox/+/+ ; users/{user}/status ; users/{user}/inbox/reply */
int hubio__topic_inbox_filter(char *buf, size_t sz, const char *user);
int hubio__topic_status(char *buf, size_t sz, const char *user);
int hubio__topic_reply_base(char *buf, size_t sz, const char *user);
/* Calls: svc/{service}/{method}/{sender}; the caller's answer topic
 * users/{user}/reply/{hex of corr} and its filter users/{user}/reply/#;
 * a service's calls filter $share/{service}/svc/{service}/# (exclusive:
 * svc/{service}/#). */
int hubio__topic_call(
	char *buf, size_t sz, const char *service, const char *method, const char *sender);
int hubio__topic_reply(
	char *buf, size_t sz, const char *user, const uint8_t *corr, size_t corr_len);
int hubio__topic_reply_filter(char *buf, size_t sz, const char *user);
int hubio__topic_calls_filter(char *buf, size_t sz, const char *service, bool exclusive);

enum hubio__topic_kind {
	HUBIO__T_OTHER = 0,
	HUBIO__T_ROOM_EV,	/* rooms/{room}/ev/{event}/{from} */
	HUBIO__T_ROOM_SYS,	/* rooms/{room}/sys/{event} */
	HUBIO__T_ROOM_PRESENCE, /* rooms/{room}/presence/{from} */
	HUBIO__T_INBOX,		/* users/{user}/inbox/{event}/{from} */
	HUBIO__T_STATUS,	/* users/{user}/status */
	HUBIO__T_REPLY,		/* users/{user}/reply/{1-3 levels}: answers */
	HUBIO__T_CALL,		/* svc/{service}/{method}/{from}: user = service,
				 * event = method */
	HUBIO__T_HOOK,		/* svc/{service}/hook/{room}/{event}/{from} */
};

struct hubio__topic {
	enum hubio__topic_kind kind;
	char room[HUBIO__NAME_MAX + 1]; /* ROOM_*: the room */
	char user[HUBIO__NAME_MAX + 1]; /* INBOX, STATUS, REPLY: the topic's user;
					 * CALL, HOOK: the service */
	char event[HUBIO__NAME_MAX + 1];
	char from[HUBIO__NAME_MAX + 1]; /* EV, INBOX: sender; PRESENCE: member */
};

/* Parse a received topic (len bytes, no NUL needed). Anything that is not
 * exactly one of the shapes above with valid names is HUBIO__T_OTHER.
 * Always returns the kind (also stored in out->kind). Pure. */
enum hubio__topic_kind hubio__topic_parse(const char *topic, size_t len, struct hubio__topic *out);

/* A response topic we may answer: exactly users/{user}/inbox/reply with a
 * valid user name (so a requester cannot make a responder publish
 * elsewhere). Pure. */
bool hubio__topic_reply_base_ok(const char *topic, size_t len);

/* Where a service answers: a call's Response Topic must be
 * users/{caller}/reply/ and 1-3 non-empty levels without wildcards (what
 * the hub lets the caller set); a hook request's must be
 * $hub/verdict/{service}/{id}. Anything else is never published to. Pure. */
bool hubio__topic_answer_ok(const char *topic, size_t len, const char *caller);
bool hubio__topic_verdict_ok(const char *topic, size_t len, const char *service);

/* A method name: an event name other than "hook". Pure. */
bool hubio__method_valid(const char *s);

/* ------------------------------------------------------------- throttle */
#define HUBIO__THROTTLE_SLOTS 64

struct hubio__throttle_slot {
	char key[HUBIO__NAME_MAX + 1];
	int64_t last_ms;
};

/* At most one pass per key per interval; the table keeps the most recent
 * HUBIO__THROTTLE_SLOTS keys (the least recently passed key is evicted). */
struct hubio__throttle {
	struct hubio__throttle_slot slot[HUBIO__THROTTLE_SLOTS];
	int n;
};

/* true (and remembers now_ms) if key may pass at now_ms: its last pass is
 * interval_ms or longer ago, or unknown. Pure. */
bool hubio__throttle_pass(
	struct hubio__throttle *t, const char *key, int64_t now_ms, int64_t interval_ms);

/* -------------------------------------------------------------- backoff */
/* The wait before reconnect attempt number `attempt` (0 for the first after
 * a loss): d = min(max_ms, min_ms * 2^attempt), then a value in [d/2, d]
 * chosen by rnd (uniform 32-bit). Pure. */
int64_t hubio__backoff_delay(unsigned attempt, int min_ms, int max_ms, uint32_t rnd);
/* xorshift32 step; *state must be non-zero. */
uint32_t hubio__rand32(uint32_t *state);
/* Fill buf with random bytes (getrandom, falling back to the state). */
void hubio__random_bytes(uint32_t *state, void *buf, size_t len);

/* ----------------------------------------------------------------- meta */
/* The hub's notices and presence payloads. Pure. */
/* rooms/{room}/sys/joined|left {"user":"..","online":N,...}: user into
 * user (HUBIO__NAME_MAX + 1), online into *online (-1 if absent). Returns
 * HUBIO_OK or HUBIO_EINVAL (not JSON, no valid user). */
int hubio__notice_parse(const char *data, size_t len, char *user, long *online);
/* rooms/{room}/presence/{user} {"user":"..","since":S}: *since (0 if
 * absent). An empty payload is a removal: *present = false. Returns
 * HUBIO_OK or HUBIO_EINVAL (not JSON). */
int hubio__presence_parse(const char *data, size_t len, bool *present, int64_t *since);
/* The meta of a received event. t borrowed into m: valid while t lives. */
void hubio__meta_from_topic(const struct hubio__topic *t, int64_t ts_ms,
	const struct hubio_reply *reply, struct hubio_meta *m);

/* --------------------------------------------------------------- answer */
/* The JSON of calls and hooks (CONTRACT.md "Backends"). Pure. Builders
 * return HUBIO_OK with *out malloc'd (NUL-terminated, *outlen bytes; the
 * caller frees it), HUBIO_EINVAL or HUBIO_ENOMEM. */
/* data is one JSON value, nothing but white space around it. */
bool hubio__json_valid(const char *data, size_t len);
/* {"error":code,"message":message} (message NULL: code). */
int hubio__json_error(const char *code, const char *message, char **out, size_t *outlen);
/* {"accept":true} (data NULL) or {"accept":true,"data":<data>}. */
int hubio__json_accept(const char *data, size_t len, char **out, size_t *outlen);
/* {"accept":false,"reason":reason} (reason NULL: "rejected"). */
int hubio__json_reject(const char *reason, char **out, size_t *outlen);
/* The status an answer stands for: {"ok":false,"error":"unavailable"} is
 * HUBIO_EUNAVAILABLE, "timeout" HUBIO_ETIMEOUT, "busy" HUBIO_EBUSY; any
 * other answer (error answers of the service too) HUBIO_OK. */
int hubio__answer_status(const char *data, size_t len);
/* The answer the library gives for an outcome without one:
 * {"ok":false,"error":"unavailable"|"timeout"|"forbidden"|"busy"|
 * "canceled"|...}. Static string. */
const char *hubio__outcome_json(int status);

/* -------------------------------------------------------------- members */
struct hubio__member {
	char user[HUBIO__NAME_MAX + 1];
	int64_t since;
};

/* A room's presence list, in arrival order, at most max entries. */
struct hubio__members {
	struct hubio__member *v;
	size_t n, cap, max;
};

/* Set (add or update) or remove a member. Return 1 if the list changed, 0
 * if not, or -HUBIO_ENOMEM / -HUBIO_EFULL. Pure (allocates). */
int hubio__members_set(struct hubio__members *m, const char *user, int64_t since);
int hubio__members_remove(struct hubio__members *m, const char *user);
void hubio__members_clear(struct hubio__members *m);
/* The list as hubio_member entries (out must hold m->n). */
void hubio__members_view(const struct hubio__members *m, struct hubio_member *out);

/* ----------------------------------------------------------- the client */
struct mosquitto;
struct mqtt5__property; /* libmosquitto's mosquitto_property */

struct hubio__handler {
	struct hubio__handler *next;
	char *event;
	hubio_event_fn cb;
	void *ud;
	bool dead; /* removed while dispatching: freed at depth 0 */
};

enum hubio__room_state {
	HUBIO__ROOM_UNSUBSCRIBED, /* joined by the user, not subscribed now */
	HUBIO__ROOM_PENDING,	  /* SUBSCRIBE sent, waiting for SUBACK */
	HUBIO__ROOM_SUBSCRIBED,
};

struct hubio__room {
	struct hubio__room *next;
	char name[HUBIO__NAME_MAX + 1];
	enum hubio__room_state state;
	int sub_mid;
	bool reported; /* the join callback was called */
	bool dead;
	hubio_join_fn join_cb;
	void *join_ud;
	hubio_presence_fn presence_cb;
	void *presence_ud;
	struct hubio__members members;
};

enum hubio__pending_kind { HUBIO__P_EMIT, HUBIO__P_REQUEST, HUBIO__P_CALL };

struct hubio__pending {
	enum hubio__pending_kind kind;
	int mid;	  /* publish mid awaiting PUBACK; 0 once acked */
	int64_t deadline; /* monotonic ms */
	hubio_ack_fn ack_cb;
	hubio_reply_fn reply_cb;
	hubio_answer_fn answer_cb;
	void *ud;
	uint8_t corr[HUBIO__CORR_LEN];
};

struct hubio_reply {
	char topic[HUBIO__TOPIC_MAX];
	uint8_t corr[HUBIO__CORR_MAX];
	uint16_t corr_len;
};

/* A method's or a room's handler of a service (serve.c). */
struct hubio__route {
	struct hubio__route *next;
	bool hook;
	char name[HUBIO__NAME_MAX + 1]; /* method, or room ("" = every room) */
	hubio_handler_fn fn;
	void *ud;
};

/* One call or hook request in flight at a service (serve.c). */
struct hubio_call {
	struct hubio_call *prev, *next;
	struct hubio *h;
	bool hook;
	char *reply; /* the Response Topic (checked), or NULL: no answer wanted */
	uint8_t *corr;
	uint16_t corr_len;
	struct hubio_ctx ctx; /* points into the fields below */
	char service[HUBIO__NAME_MAX + 1];
	char name[HUBIO__NAME_MAX + 1]; /* method, or the hooked event */
	char room[HUBIO__NAME_MAX + 1];
	char user[HUBIO__NAME_MAX + 1];
	char role[16];
	char kind[16];
	char *display;
};

enum hubio__state {
	HUBIO__IDLE,	   /* not started, or hubio_disconnect() */
	HUBIO__WAIT,	   /* waiting for the next attempt at next_attempt */
	HUBIO__CONNECTING, /* socket open, CONNECT sent, no CONNACK yet */
	HUBIO__UP,	   /* CONNACK 0 */
};

struct hubio {
	pthread_mutex_t lock; /* recursive: callbacks may call the API */
	struct mosquitto *mosq;

	/* options (copied) */
	char *host;
	int port;
	char *username;
	char *token;
	hubio_token_fn get_token;
	void *token_ud;
	char *client_id;
	int keepalive, protocol;
	int backoff_min_ms, backoff_max_ms;
	int auth_failures_max;
	int typing_interval_ms;
	int pending_max, rooms_max, members_max;
	bool tls; /* hubio_tls_set: MQTT over TLS, verified */

	/* connection */
	enum hubio__state state;
	int64_t next_attempt; /* monotonic ms */
	int64_t up_since;     /* monotonic ms of the last CONNACK 0 */
	bool in_io;	      /* inside mosquitto_loop_read/write/misc */
	bool up;	      /* a CONNACK-accepted connection is open */
	unsigned attempt;     /* failed attempts since the last CONNACK 0 */
	int auth_refusals;    /* consecutive refused CONNACKs */
	bool ever_up;
	int inbox_mid;
	uint32_t rng;

	/* tables */
	struct hubio__handler *handlers;
	struct hubio__room *rooms;
	int nrooms;
	struct hubio__pending *pending;
	int npending;
	struct hubio__throttle typing;
	int depth; /* user callbacks running (deferred frees) */

	/* calls (call.c) */
	bool reply_sub; /* users/{me}/reply/# wanted: subscribed on every connect */
	int reply_mid;

	/* the service role (serve.c) */
	bool service;
	bool exclusive;
	int inflight_max;
	struct hubio__route *routes;
	struct hubio_call *calls; /* in flight */
	long ninflight;
	int calls_mid;	 /* SUBSCRIBE of the calls filter */
	int unsub_mid;	 /* its UNSUBSCRIBE when stopping */
	bool stopping;	 /* hubio_stop: finishing the calls in flight */
	bool unsubacked; /* the hub took the calls filter away */
	int64_t stop_deadline;
	hubio_ack_fn stop_cb;
	void *stop_ud;
	bool stopped; /* a stop finished: hubio_loop_forever returns */
	/* answers (QoS 1) the hub has not acknowledged yet: a stop waits for
	 * them before its DISCONNECT (a close with the hub's PUBACKs unread
	 * makes the kernel reset the connection, and the hub may then drop
	 * what it had not read yet: the last answers) */
	int *answer_mids;
	int nanswer_mids, answer_mids_cap;

	/* loop */
	int wake[2]; /* self-pipe: wakes the loop thread's poll */
	pthread_t thread;
	bool thread_running;
	volatile int stop_thread;
	volatile int break_loop;
};

/* client.c */
/* What hubio_new and hubio_service_new make a client from (checked by
 * them; every string copied). */
struct hubio__init {
	const char *host;
	int port;
	const char *username;
	const char *token;
	hubio_token_fn get_token;
	void *token_ud;
	const char *client_id; /* NULL: made from client_prefix and a random */
	const char *client_prefix;
	int keepalive, protocol;
	int backoff_min_ms, backoff_max_ms;
	int auth_failures_max;
	int typing_interval_ms;
	int pending_max, rooms_max, members_max;
	bool service; /* no will, no inbox: the service role */
	bool exclusive;
	int inflight_max;
};
int hubio__create(const struct hubio__init *in, struct hubio **out);
/* The "connect" event ({"reconnect":bool}). */
void hubio__connected_event(struct hubio *h);
/* Send DISCONNECT if there is a socket (see client.c). */
void hubio__close_connection(struct hubio *h);
int64_t hubio__mono_ms(void);
int64_t hubio__wall_ms(void);
void hubio__lock(struct hubio *h);
void hubio__unlock(struct hubio *h);
void hubio__wakeup(struct hubio *h);
/* Run due timers: reconnect attempt, expired acks/requests. */
void hubio__timers(struct hubio *h, int64_t now);
/* Milliseconds until the next timer (cap when none). */
int hubio__next_timer_ms(struct hubio *h, int64_t now, int cap);
/* Report an "error" event. */
void hubio__error(struct hubio *h, int code, const char *room, const char *message);
/* Call the handlers of event (and "*" when star). */
void hubio__dispatch(struct hubio *h, const char *event, const char *data, size_t len,
	const struct hubio_meta *meta, bool star);
/* Callback bracket: deferred frees run when the outermost one ends. */
void hubio__enter(struct hubio *h);
void hubio__leave(struct hubio *h);

/* rooms.c */
struct hubio__room *hubio__room_find(struct hubio *h, const char *room);
int hubio__room_subscribe(struct hubio *h, struct hubio__room *r);
void hubio__rooms_resubscribe(struct hubio *h);
void hubio__rooms_lost(struct hubio *h);
void hubio__rooms_suback(struct hubio *h, int mid, int n, const int *granted);
void hubio__rooms_presence(
	struct hubio *h, const struct hubio__topic *t, const char *data, size_t len);
void hubio__rooms_sweep(struct hubio *h);
void hubio__rooms_free(struct hubio *h);

/* emit.c */
/* MOSQ_ERR_* to enum hubio_err. */
int hubio__map_mosq(int rc);
/* data NULL / HUBIO_STRLEN / over HUBIO_PAYLOAD_MAX: *len fixed up. */
int hubio__payload_len(const char *data, size_t *len);
/* QoS 1 publish with the pending entry p for its PUBACK (under the lock). */
int hubio__publish_tracked(struct hubio *h, const char *topic, const char *data, size_t len,
	const struct mqtt5__property *props, struct hubio__pending *p, int timeout_ms);

/* pending.c: publishes that wait for a PUBACK, a reply or an answer */
int hubio__pending_add(struct hubio *h, const struct hubio__pending *p);
void hubio__pending_puback(struct hubio *h, int mid, int reason);
/* true if the message was a reply to one of our requests (consumed) */
bool hubio__pending_reply(struct hubio *h, const uint8_t *corr, size_t corr_len, const char *data,
	size_t len, const struct hubio_meta *meta);
/* true if it was the answer to one of our calls (consumed) */
bool hubio__pending_answer(
	struct hubio *h, const uint8_t *corr, size_t corr_len, const char *data, size_t len);
void hubio__pending_expire(struct hubio *h, int64_t now);
void hubio__pending_cancel_all(struct hubio *h);
int64_t hubio__pending_next_deadline(struct hubio *h);

/* call.c */
/* On CONNACK: subscribe users/{me}/reply/# if calls were made (services:
 * always). */
void hubio__calls_connected(struct hubio *h);

/* serve.c */
/* On CONNACK: subscribe the calls filter (not while stopping). */
void hubio__serve_connected(struct hubio *h);
/* A call or hook request (t from hubio__topic_parse); props: the
 * message's MQTT 5 properties. */
void hubio__serve_message(struct hubio *h, const struct hubio__topic *t, const char *data,
	size_t len, const struct mqtt5__property *props);
void hubio__serve_suback(struct hubio *h, int mid, int n, const int *granted);
void hubio__serve_unsuback(struct hubio *h, int mid);
/* A PUBACK: an answer the hub took (a stop waits for every one). */
void hubio__serve_puback(struct hubio *h, int mid);
/* The stop's deadline and completion. */
void hubio__serve_timers(struct hubio *h, int64_t now);
int64_t hubio__serve_next_deadline(struct hubio *h);
/* hubio_disconnect during a stop: done gets HUBIO_ECANCELED. */
void hubio__serve_cancel_stop(struct hubio *h);
void hubio__serve_free(struct hubio *h);

#endif
