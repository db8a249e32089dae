/* SPDX-License-Identifier: MIT */
/*
 * hubio: the C client library of the hub (libhubclient). It speaks MQTT to
 * the hub's broker through libmosquitto and gives the hub's conventions a
 * small API with the same shape as the browser library hubio.js: rooms you
 * join, events you emit and receive with who sent them, presence, typing
 * notices, inbox messages and request/reply.
 *
 * Conventions for every function below, unless it says otherwise:
 *  - Return: HUBIO_OK (0) or a positive enum hubio_err; hubio_strerror()
 *    names it. Nothing aborts or exits.
 *  - Strings and payloads passed in are copied before the call returns; the
 *    caller keeps ownership of its buffers.
 *  - Data passed to a callback (event names, payloads, meta, member lists)
 *    is borrowed: valid only during that call; copy what you keep.
 *  - Threads: a struct hubio is used from one thread (the one calling
 *    hubio_loop), unless hubio_loop_start() runs the loop in a background
 *    thread; then every function may be called from any thread, and
 *    callbacks run on the background thread, except those a call causes
 *    directly (HUBIO_ECANCELED from hubio_leave / hubio_disconnect /
 *    hubio_destroy, and the "disconnect" event of hubio_disconnect), which
 *    run inside that call. A callback may call any hubio_ function except
 *    hubio_destroy() and hubio_loop_stop().
 *  - Payloads are bytes with a length (JSON by convention); the hub does
 *    not parse them. Pass HUBIO_STRLEN as the length of a NUL-terminated
 *    string.
 *  - Room and user names: 1-64 characters of A-Za-z0-9._- ; event names:
 *    1-64 bytes of UTF-8 without control characters, '/', '+' or '#'.
 *
 * Since 0.2 (symbol version HUBIO_0.2): calls to the application's backends
 * (hubio_call) and the backend's own side, the service role
 * (hubio_service_new, hubio_handle, hubio_hook, hubio_answer, hubio_stop):
 * CONTRACT.md "Backends", docs/backends.md.
 */
#ifndef HUBIO_H
#define HUBIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HUBIO_API __attribute__((visibility("default")))
#else
#define HUBIO_API
#endif

#define HUBIO_VERSION_MAJOR 0
#define HUBIO_VERSION_MINOR 2

/* Length value meaning "the payload is a NUL-terminated string". */
#define HUBIO_STRLEN ((size_t)-1)

/* Largest payload hubio sends (the broker's max_packet_size is 1 MiB). */
#define HUBIO_PAYLOAD_MAX (1024 * 1024 - 1024)

/* Largest token get_token may write (bytes including the NUL). */
#define HUBIO_TOKEN_MAX 4096

enum hubio_err {
	HUBIO_OK = 0,
	HUBIO_EINVAL,	  /* a bad argument: NULL, invalid name, bad option */
	HUBIO_ENOMEM,	  /* out of memory */
	HUBIO_ENOTCONN,	  /* not connected to the hub right now */
	HUBIO_EFORBIDDEN, /* the hub refused: no permission (SUBACK/PUBACK >= 0x80) */
	HUBIO_ETIMEOUT,	  /* no answer within the given time */
	HUBIO_EAUTH,	  /* the hub refused the credentials (CONNACK 5 / 0x86 / 0x87) */
	HUBIO_ETOKEN,	  /* get_token failed or gave no token */
	HUBIO_ETOOBIG,	  /* payload or topic over the limit */
	HUBIO_EFULL,	  /* a bounded internal table is full (pending acks, rooms) */
	HUBIO_ENOTSUP,	  /* not available with this protocol (request/reply needs MQTT 5) */
	HUBIO_ETHROTTLED, /* hubio_typing: not sent, one went out recently (not a failure) */
	HUBIO_ESTATE,	  /* wrong state: already connected, loop thread running, ... */
	HUBIO_EPROTO,	  /* MQTT/network error from libmosquitto */
	HUBIO_ENOTFOUND,  /* no such room, handler or pending request */
	HUBIO_ECANCELED,  /* the operation was abandoned (hubio_destroy, hubio_disconnect) */
	HUBIO_ERRNO,	  /* a system call failed; errno tells */
	/* since 0.2 */
	HUBIO_EUNAVAILABLE, /* no process of the service is connected */
	HUBIO_EBUSY,	    /* too much in flight: the answer "busy" */
};

/* A static English text for an enum hubio_err (unknown codes included).
 * Thread-safe. */
HUBIO_API const char *hubio_strerror(int err);

/* The library version, "MAJOR.MINOR.PATCH". Static string. */
HUBIO_API const char *hubio_version(void);

struct hubio; /* opaque */

/* Supplies a fresh token before each connection attempt.
 *   ud:    token_ud from the options.
 *   buf:   where to write the token, NUL-terminated.
 *   bufsz: size of buf (HUBIO_TOKEN_MAX).
 * Return 0 with a token in buf, or non-zero when none could be had (the
 * attempt is then counted as failed and retried with backoff; an "error"
 * event with HUBIO_ETOKEN is reported). Runs on the loop thread and blocks
 * it while it runs: keep it short (read a file, run a helper). */
typedef int (*hubio_token_fn)(void *ud, char *buf, size_t bufsz);

struct hubio_options {
	const char *host;	  /* broker host; NULL: "127.0.0.1" */
	int port;		  /* broker MQTT/TCP port; 0: 1883 */
	const char *username;	  /* user or device id (required) */
	const char *token;	  /* MQTT token or device secret, for every
				   * attempt when get_token is NULL */
	hubio_token_fn get_token; /* optional: called before every (re)connect */
	void *token_ud;		  /* passed to get_token */
	const char *client_id;	  /* NULL: "hubio-{username}-{random}" */
	int keepalive;		  /* seconds; 0: 30 */
	int protocol;		  /* 4 (MQTT 3.1.1) or 5; 0: 5 */
	int backoff_min_ms;	  /* first reconnect delay; 0: 500 */
	int backoff_max_ms;	  /* longest reconnect delay; 0: 30000 */
	int auth_failures_max;	  /* consecutive refusals before an "error"
				   * event (HUBIO_EAUTH); 0: 3 */
	int typing_interval_ms;	  /* hubio_typing throttle per room; 0: 2000 */
	int pending_max;	  /* emits/requests awaiting an answer; 0: 1024 */
	int rooms_max;		  /* joined rooms; 0: 256 */
	int members_max;	  /* presence entries kept per room; 0: 10000 */
};

/* Create a client (not connected yet).
 *   o:   options; every string is copied. username is required, and one of
 *        token / get_token.
 *   out: receives the new client; the caller frees it with hubio_destroy().
 * Returns HUBIO_OK, HUBIO_EINVAL (bad option), HUBIO_ENOMEM. Thread: any. */
HUBIO_API int hubio_new(const struct hubio_options *o, struct hubio **out);

/* Stop the loop thread if running, disconnect cleanly (no last will), call
 * every pending ack/reply callback with HUBIO_ECANCELED, and free h. NULL is
 * ignored. Not from a callback. Thread: the owner of h. */
HUBIO_API void hubio_destroy(struct hubio *h);

/*
 * MQTT over TLS (the hub's mqtts_port, 8883 by default; docs/tls.md), with
 * the broker's certificate verified: its chain must lead to a CA of
 * cafile (a PEM file) or capath (a directory of hashed CA files, as
 * /etc/ssl/certs), or with both NULL to the system's CAs; and it must name
 * the host of the options (a DNS name or an IP address). There is no way
 * to turn verification off. Call after hubio_new / hubio_service_new and
 * before hubio_connect; set the port to the TLS one (8883).
 * Returns HUBIO_OK, HUBIO_EINVAL (cafile or capath cannot be read),
 * HUBIO_ESTATE (connecting or connected), HUBIO_ENOMEM. Thread: the owner
 * of h. Since 0.3.
 */
HUBIO_API int hubio_tls_set(struct hubio *h, const char *cafile, const char *capath);

/* ------------------------------------------------------------ connecting */

/* Start connecting; returns at once. The library keeps the connection up
 * from here on: on loss it reconnects with exponential backoff and jitter
 * (backoff_min_ms doubling to backoff_max_ms, each wait random in [d/2, d]),
 * calls get_token before every attempt, re-subscribes the inbox and every
 * joined room. A refused CONNACK (expired or revoked token) fetches a new
 * token and retries; every auth_failures_max consecutive refusals give an
 * "error" event with HUBIO_EAUTH.
 * The last will is set automatically: users/{username}/status
 * {"online":false}, retained, QoS 1 (the hub only lets it out when no other
 * connection of the user lives).
 * Events: "connect" on each successful connection, once the hub
 * confirmed the inbox subscription (so what is sent to this user from then
 * on reaches it; a service: its calls subscription), "disconnect" when an
 * established connection ends.
 * Returns HUBIO_OK, HUBIO_ESTATE (already connecting or connected),
 * HUBIO_ENOMEM. */
HUBIO_API int hubio_connect(struct hubio *h);

/* Disconnect cleanly (DISCONNECT: the hub does not publish the will, it
 * publishes its own offline status) and stop reconnecting. Pending acks
 * and requests end with HUBIO_ECANCELED. hubio_connect() may follow. */
HUBIO_API int hubio_disconnect(struct hubio *h);

/* 1 while a CONNACK-accepted connection is up, else 0. */
HUBIO_API int hubio_connected(struct hubio *h);

/* ---------------------------------------------------------------- loop */

/* Run the client once: wait up to timeout_ms (0: do not wait; < 0: up to
 * 1000 ms) for network traffic or a due timer, then handle it (callbacks
 * run here), reconnect when due, expire timeouts. Call it repeatedly.
 * Returns HUBIO_OK (also while disconnected: reconnecting is internal),
 * HUBIO_ESTATE if the loop thread runs, HUBIO_EINVAL. */
HUBIO_API int hubio_loop(struct hubio *h, int timeout_ms);

/* hubio_loop() over and over until hubio_loop_break() is called (from a
 * callback or another thread). Returns HUBIO_OK after the break,
 * HUBIO_ESTATE if the loop thread runs. */
HUBIO_API int hubio_loop_forever(struct hubio *h);

/* Make hubio_loop_forever() return after its current iteration. Any
 * thread. */
HUBIO_API void hubio_loop_break(struct hubio *h);

/* Run the loop in a background thread. From then on callbacks run on that
 * thread, every hubio_ function may be called from any thread (an internal
 * lock serialises them), and hubio_loop() returns HUBIO_ESTATE.
 * Returns HUBIO_OK, HUBIO_ESTATE (already running), HUBIO_ERRNO. */
HUBIO_API int hubio_loop_start(struct hubio *h);

/* Stop and join the background thread (callbacks have ended when it
 * returns). Not from a callback. Returns HUBIO_OK or HUBIO_ESTATE (not
 * running). */
HUBIO_API int hubio_loop_stop(struct hubio *h);

/* For poll()/epoll integration instead of hubio_loop's own wait:
 *   hubio_socket(): the current socket, or -1 (none: waiting to reconnect).
 *     It changes across reconnects: look it up before every poll.
 *   hubio_want_write(): 1 if the socket should be polled for POLLOUT too.
 *   hubio_timeout_ms(): the longest the poll may wait before the next
 *     hubio_loop(h, 0) is due (timers, keepalive, reconnect).
 * Then call hubio_loop(h, 0). Single-threaded use only. */
HUBIO_API int hubio_socket(struct hubio *h);
HUBIO_API int hubio_want_write(struct hubio *h);
HUBIO_API int hubio_timeout_ms(struct hubio *h);

/* -------------------------------------------------------------- events */

/* What came with a received event. All pointers borrowed for the call. */
struct hubio_reply; /* opaque: where and how to answer a request */
struct hubio_meta {
	const char *room;		 /* the room, or NULL for an inbox message */
	const char *from;		 /* the sender (user or device id); for "joined" /
					  * "left" the user the notice is about; NULL for
					  * "connect", "disconnect", "error" */
	int64_t ts;			 /* local receipt time, ms since the Unix epoch */
	int inbox;			 /* 1 for users/{me}/inbox/... messages */
	const struct hubio_reply *reply; /* non-NULL when the sender waits for
					  * an answer: see hubio_reply() */
};

/* An event handler.
 *   event: the event name (borrowed).
 *   data, len: the payload (borrowed; not NUL-terminated in general).
 *   meta: sender, room, time (borrowed).
 * Special events (the hub's and the library's own; never sent by
 * hubio_emit): "connect" ({"reconnect":bool}), "disconnect"
 * ({"code":N,"reason":"..."}), "joined" / "left" (the hub's notice from
 * rooms/{room}/sys/..., {"user":..,"online":N[,"reason":..]}), "error"
 * ({"code":N,"error":"<hubio_strerror>","message":"...","room":...}).
 * The name "*" receives every room and inbox event (not the special
 * ones). */
typedef void (*hubio_event_fn)(struct hubio *h, const char *event, const char *data, size_t len,
	const struct hubio_meta *meta, void *ud);

/* Add a handler for an event name (several handlers per name are called in
 * the order added). Returns HUBIO_OK, HUBIO_EINVAL, HUBIO_ENOMEM. */
HUBIO_API int hubio_on(struct hubio *h, const char *event, hubio_event_fn cb, void *ud);

/* Remove handlers of event: the one with cb and ud, or with cb == NULL every
 * one of that name. Safe from inside a handler. Returns HUBIO_OK or
 * HUBIO_ENOTFOUND. */
HUBIO_API int hubio_off(struct hubio *h, const char *event, hubio_event_fn cb, void *ud);

/* --------------------------------------------------------------- rooms */

/* Join result: status HUBIO_OK (subscribed) or HUBIO_EFORBIDDEN (the hub
 * refused: not a member), or HUBIO_ECANCELED. room borrowed. Called once, for the first
 * SUBACK; a re-join after reconnect that the hub refuses (membership revoked
 * meanwhile) is reported as an "error" event and the room is dropped. */
typedef void (*hubio_join_fn)(struct hubio *h, const char *room, int status, void *ud);

/* Join a room: subscribe rooms/{room}/ev/+/+, rooms/{room}/sys/+ and
 * rooms/{room}/presence/+. The room is re-joined after every reconnect
 * until hubio_leave(). Joining while disconnected is allowed (subscribed at
 * connect). cb may be NULL.
 * Returns HUBIO_OK, HUBIO_EINVAL, HUBIO_ENOMEM, HUBIO_EFULL (rooms_max),
 * HUBIO_ESTATE (already joined). */
HUBIO_API int hubio_join(struct hubio *h, const char *room, hubio_join_fn cb, void *ud);

/* Leave a room: unsubscribe, forget its presence. Returns HUBIO_OK or
 * HUBIO_ENOTFOUND. */
HUBIO_API int hubio_leave(struct hubio *h, const char *room);

/* -------------------------------------------------------------- emitting */

/* Ack: status HUBIO_OK (the hub accepted it: PUBACK, MQTT 5 reason < 0x80),
 * HUBIO_EFORBIDDEN (reason >= 0x80: no write permission), HUBIO_ETIMEOUT (no
 * PUBACK within timeout_ms), HUBIO_ECANCELED. Called exactly once.
 * Under MQTT 3.1.1 the broker acknowledges refused publishes too, so the
 * status is HUBIO_OK there. */
typedef void (*hubio_ack_fn)(struct hubio *h, int status, void *ud);

/* Emit an event into a room: QoS 1 publish of data to
 * rooms/{room}/ev/{event}/{username}. Other members of the room receive it
 * (not this connection itself).
 *   ack_cb: optional; with it, timeout_ms > 0 bounds the wait (0: 10000).
 * Returns HUBIO_OK (queued; the outcome goes to ack_cb), HUBIO_EINVAL (bad
 * name, reserved event name), HUBIO_ENOTCONN, HUBIO_ETOOBIG, HUBIO_EFULL
 * (pending_max acks outstanding), HUBIO_EPROTO. */
HUBIO_API int hubio_emit(struct hubio *h, const char *room, const char *event, const char *data,
	size_t len, hubio_ack_fn ack_cb, void *ud, int timeout_ms);

/* The same to one user's inbox: users/{user}/inbox/{event}/{username}.
 * The hub accepts it when the two share a room. */
HUBIO_API int hubio_emit_to_user(struct hubio *h, const char *user, const char *event,
	const char *data, size_t len, hubio_ack_fn ack_cb, void *ud, int timeout_ms);

/* Tell a room that this user is typing: QoS 0 "typing" event with
 * {"typing":true}, at most once per typing_interval_ms per room.
 * Returns HUBIO_OK (sent), HUBIO_ETHROTTLED (suppressed; not a failure),
 * HUBIO_EINVAL, HUBIO_ENOTCONN. */
HUBIO_API int hubio_typing(struct hubio *h, const char *room);

/* ------------------------------------------------------------ presence */

struct hubio_member {
	const char *user; /* borrowed */
	int64_t since;	  /* online since, Unix seconds (0 if unknown) */
};

/* Presence callback: the whole current member list of room, after every
 * change (members and the array are borrowed for the call; order: by
 * arrival). */
typedef void (*hubio_presence_fn)(
	struct hubio *h, const char *room, const struct hubio_member *members, size_t n, void *ud);

/* Watch presence of a room (joined or not yet joined: the list comes from
 * the room's retained rooms/{room}/presence/+ once joined). One callback per
 * room; a new one replaces the old, cb NULL removes it.
 * Returns HUBIO_OK, HUBIO_EINVAL, HUBIO_ENOTFOUND (not joined). */
HUBIO_API int hubio_on_presence(struct hubio *h, const char *room, hubio_presence_fn cb, void *ud);

/* Online members of a joined room as last seen, or -1 if not joined. */
HUBIO_API long hubio_presence_count(struct hubio *h, const char *room);

/* ----------------------------------------------------- request / reply */

/* Reply callback: status HUBIO_OK with the answer (data, len, meta.from =
 * the responder), or HUBIO_ETIMEOUT / HUBIO_EFORBIDDEN (the request itself
 * was refused) / HUBIO_ECANCELED with data NULL and meta NULL. Called
 * exactly once; a second reply to the same request is dropped. */
typedef void (*hubio_reply_fn)(struct hubio *h, int status, const char *data, size_t len,
	const struct hubio_meta *meta, void *ud);

/* Send a request (MQTT 5 only) as event `event` to a room (room != NULL) or
 * to one user's inbox (user != NULL; exactly one of the two). The publish
 * carries the response topic users/{me}/inbox/reply and 16 random bytes of
 * correlation data; a responder's hubio_reply() answers on
 * users/{me}/inbox/reply/{responder} with the same correlation data. The
 * first answer wins.
 *   timeout_ms: > 0 (0: 10000).
 * Returns HUBIO_OK, HUBIO_EINVAL, HUBIO_ENOTSUP (MQTT 3.1.1), HUBIO_ENOTCONN,
 * HUBIO_EFULL, HUBIO_ETOOBIG, HUBIO_ENOMEM, HUBIO_EPROTO. */
HUBIO_API int hubio_request(struct hubio *h, const char *room, const char *user, const char *event,
	const char *data, size_t len, hubio_reply_fn reply_cb, void *ud, int timeout_ms);

/* Answer a request from inside its event handler: meta is the handler's
 * meta (meta->reply must be non-NULL). Publishes data QoS 1 to
 * {response topic}/{username} with the request's correlation data.
 * Returns HUBIO_OK, HUBIO_EINVAL (no reply expected, or a response topic
 * other than users/{x}/inbox/reply), HUBIO_ENOTCONN, HUBIO_ETOOBIG. */
HUBIO_API int hubio_reply(
	struct hubio *h, const struct hubio_meta *meta, const char *data, size_t len);

/* To answer later, outside the handler: copy the reply handle (out: freed
 * by the caller with hubio_reply_free()), then hubio_reply_to().
 * hubio_reply_dup returns HUBIO_OK, HUBIO_EINVAL, HUBIO_ENOMEM. */
HUBIO_API int hubio_reply_dup(const struct hubio_meta *meta, struct hubio_reply **out);
HUBIO_API int hubio_reply_to(
	struct hubio *h, const struct hubio_reply *reply, const char *data, size_t len);
HUBIO_API void hubio_reply_free(struct hubio_reply *reply);

/* ------------------------------------------------------- calls (0.2) */

/* The outcome of a call.
 *   status: HUBIO_OK: answer is what the service answered (JSON; an error
 *             answer {"error":"<code>","message":"..."} is HUBIO_OK too:
 *             the service did answer);
 *           HUBIO_EUNAVAILABLE: no process of the service is connected;
 *           HUBIO_ETIMEOUT: no answer within timeout_ms;
 *           HUBIO_EFORBIDDEN: the hub refused the call (no such service);
 *           HUBIO_ECANCELED: hubio_disconnect / hubio_destroy / hubio_stop;
 *           an answer {"ok":false,"error":"unavailable"|"timeout"|"busy"}
 *           (the hub's, or a service's own) gives HUBIO_EUNAVAILABLE /
 *           HUBIO_ETIMEOUT / HUBIO_EBUSY.
 *   answer, len: the answer (borrowed for the call). Never NULL: for the
 *     outcomes without an answer it is the object hubio.js and the
 *     Socket.IO gateway give, {"ok":false,"error":"unavailable"} (also
 *     when the hub answered so), "timeout", "forbidden" or "canceled".
 * Called exactly once, on the loop thread (ECANCELED: inside the call
 * that canceled). */
typedef void (*hubio_answer_fn)(
	struct hubio *h, int status, const char *answer, size_t len, void *ud);

/* Call `method` of `service` (MQTT 5): a QoS 1 publish of data to
 * svc/{service}/{method}/{username} with the Response Topic
 * users/{username}/reply/{32 hex} and 16 random bytes of Correlation Data.
 * The first call subscribes users/{username}/reply/# (again after every
 * reconnect); only an answer on that topic with the same Correlation Data
 * ends the call, and the hub lets only services write there and only this
 * user read it.
 *   data, len: the call's data (JSON by convention; NULL: none).
 *   cb: required. timeout_ms: > 0; 0: 10000 (the gateway's call_timeout_ms).
 * A method is an event name but "hook". Calls count against pending_max.
 * Returns HUBIO_OK (the outcome goes to cb), HUBIO_EINVAL (bad name, no
 * cb), HUBIO_ENOTSUP (MQTT 3.1.1), HUBIO_ENOTCONN, HUBIO_EFULL,
 * HUBIO_ETOOBIG, HUBIO_ENOMEM, HUBIO_EPROTO; then cb is not called. */
HUBIO_API int hubio_call(struct hubio *h, const char *service, const char *method, const char *data,
	size_t len, hubio_answer_fn cb, void *ud, int timeout_ms);

/* ------------------------------------------------ the service role (0.2) */

/* A backend connected as a service (CONTRACT.md "Backends"): it answers
 * calls of its methods and checks the events of the rooms hooked to it.
 * A service is a struct hubio made by hubio_service_new(): hubio_connect,
 * the loop functions, hubio_disconnect and hubio_destroy work as for a
 * user; so do hubio_emit / hubio_emit_to_user (the service speaks as
 * itself: rooms/{room}/ev/{event}/{service}), hubio_call and hubio_join.
 * A service sets no last will and is in no room's presence. Its
 * "connect" event comes once the hub confirmed the calls subscription:
 * from then on calls reach it. */
struct hubio_service_options {
	const char *host;      /* broker host; NULL: "127.0.0.1" */
	int port;	       /* broker MQTT/TCP port; 0: 1883 */
	const char *service;   /* the key's name (hubctl servicekey add NAME) */
	const char *key;       /* the service key: the MQTT password */
	const char *client_id; /* NULL: "{service}-{pid}-{random}" */
	int keepalive;	       /* seconds; 0: 30 */
	int backoff_min_ms;    /* first reconnect delay; 0: 500 */
	int backoff_max_ms;    /* longest reconnect delay; 0: 30000 */
	int exclusive;	       /* 0: share the work with the other processes
				* of the service ($share/{service}/svc/{service}/#:
				* each call and hook request goes to one of
				* them); 1: svc/{service}/# (every process gets
				* every one) */
	int inflight_max;      /* calls and hook requests handed to handlers
				* and not answered yet; beyond it new ones are
				* answered "busy" at once; 0: 1024 */
	int pending_max;       /* own emits and calls awaiting an answer; 0: 1024 */
};

/* Create a service client (not connected yet): username = service,
 * password = key, MQTT 5. Every (re)connect subscribes the calls filter
 * (see exclusive) and users/{service}/reply/# (answers to its own calls).
 * A refused key gives "error" events with HUBIO_EAUTH and retries with
 * backoff, as for users.
 * Returns HUBIO_OK, HUBIO_EINVAL (bad option), HUBIO_ENOMEM. */
HUBIO_API int hubio_service_new(const struct hubio_service_options *o, struct hubio **out);

/* One call or hook request handed to a handler. Opaque; valid from the
 * handler until it is answered (hubio_answer, hubio_answer_error,
 * hubio_accept, hubio_reject: exactly one of them, once), from the
 * handler or later, from any thread; answering frees it. Unanswered calls
 * time out at the caller; hubio_destroy frees what is left. */
struct hubio_call;

/* Who asks, as the hub stamped it (never what the client claimed). All
 * strings borrowed: valid until the call is answered. */
struct hubio_ctx {
	const char *service;	  /* this service */
	const char *method;	  /* a call's method; NULL for a hook request */
	const char *room;	  /* a hook request's room; NULL for a call */
	const char *event;	  /* a hook request's event; NULL for a call */
	const char *user;	  /* the caller (calls) or the sender (hooks) */
	const char *display_name; /* their display name ("" if none) */
	const char *role;	  /* "admin" or "user" */
	const char *kind;	  /* "user", "device" or "service" */
	int64_t ts;		  /* local receipt time, ms since the Unix epoch */
};

/* A handler: data, len is the call's data or the held event's payload
 * (borrowed for the handler's run). Answer call now or later. */
typedef void (*hubio_handler_fn)(struct hubio *h, struct hubio_call *call, const char *data,
	size_t len, const struct hubio_ctx *ctx, void *ud);

/* Answer calls of `method` with fn (one handler per method; a new one
 * replaces the old; fn NULL removes it). A call of a method without a
 * handler is answered {"error":"unknown_method","message":"..."}.
 * Returns HUBIO_OK, HUBIO_EINVAL (not a service, bad method name or
 * "hook"), HUBIO_ENOMEM, HUBIO_ENOTFOUND (removing one that is not there). */
HUBIO_API int hubio_handle(struct hubio *h, const char *method, hubio_handler_fn fn, void *ud);

/* Check the events of `room` (hooked to this service with `hubctl room hook
 * ROOM SERVICE`) with fn; room NULL: every room without a handler of its
 * own. Answer each with hubio_accept or hubio_reject. A hook request of a
 * room without a handler is rejected. Same returns as hubio_handle. */
HUBIO_API int hubio_hook(struct hubio *h, const char *room, hubio_handler_fn fn, void *ud);

/* Answer a call with json (len bytes, or HUBIO_STRLEN): it must be JSON.
 * Returns HUBIO_EINVAL (NULL, not JSON, a hook request) and the call stays
 * open; any other return means the call is done and freed: HUBIO_OK
 * (queued to the caller; also when the call wanted no answer),
 * HUBIO_ENOTCONN (the connection is down: the answer is lost),
 * HUBIO_ETOOBIG, HUBIO_ENOMEM, HUBIO_EPROTO. */
HUBIO_API int hubio_answer(struct hubio *h, struct hubio_call *call, const char *json, size_t len);

/* Answer a call with the error {"error":code,"message":message} (message
 * NULL: code). code: 1-64 bytes. Returns as hubio_answer. */
HUBIO_API int hubio_answer_error(
	struct hubio *h, struct hubio_call *call, const char *code, const char *message);

/* Accept a held event: members get it (json NULL: as it was sent; else
 * changed to json, which must be JSON: {"accept":true,"data":json}), the
 * sender gets {"ok":true,"data":...}. Returns as hubio_answer (EINVAL also
 * for a call). */
HUBIO_API int hubio_accept(struct hubio *h, struct hubio_call *call, const char *json, size_t len);

/* Reject a held event: nobody gets it, the sender gets {"ok":false,
 * "error":"rejected","message":reason} (reason NULL: "rejected"; the hub
 * keeps 512 bytes of it). Returns as hubio_answer. */
HUBIO_API int hubio_reject(struct hubio *h, struct hubio_call *call, const char *reason);

/* The ctx of a call (the same its handler got), until it is answered. */
HUBIO_API const struct hubio_ctx *hubio_call_ctx(const struct hubio_call *call);

/* Calls and hook requests handed to handlers and not answered yet (-1: h
 * is not a service). */
HUBIO_API long hubio_inflight(struct hubio *h);

/* Stop gracefully: unsubscribe the calls filter (no new calls come to this
 * process; the other processes of the service take them), keep the
 * connection until every call in flight is answered or timeout_ms passed
 * (0: 10000), then disconnect (as hubio_disconnect). done (may be NULL) is
 * then called with HUBIO_OK (all answered) or HUBIO_ETIMEOUT (some were
 * not: their callers time out; the calls stay valid until answered, which
 * then returns HUBIO_ENOTCONN, or hubio_destroy), and hubio_loop_forever
 * returns. Calls that reach the process meanwhile are still handed to the
 * handlers. hubio_connect() may follow. Returns at once: HUBIO_OK,
 * HUBIO_EINVAL (not a service, timeout_ms < 0), HUBIO_ESTATE (not
 * connecting or connected, or already stopping). */
HUBIO_API int hubio_stop(struct hubio *h, int timeout_ms, hubio_ack_fn done, void *ud);

#ifdef __cplusplus
}
#endif
#endif
