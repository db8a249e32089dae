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
#define HUBIO_VERSION_MINOR 1

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
 * Events: "connect" on each CONNACK success, "disconnect" when an
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

#ifdef __cplusplus
}
#endif
#endif
