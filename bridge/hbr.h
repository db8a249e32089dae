/* SPDX-License-Identifier: MIT */
/*
 * hub-bridge internals: the process state and the functions its files
 * share. Everything here runs on the single lws service thread, except
 * what mqtt.c says runs on libmosquitto's thread (only its queue).
 *
 * One Engine.IO session carries the Socket.IO socket of the default
 * namespace "/" (the rooms), so both live in struct hbr_sock, and up to
 * HBR_NSP_MAX sockets of service namespaces ("/shop": calls, nsp.c) in
 * s->nsps. All the sockets of one session are one user. A "/" socket
 * whose transport dropped may outlive its session as a detached record
 * (recovery.c); namespace sockets end with their transport.
 */
#ifndef HBR_H
#define HBR_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hc_acl.h"
#include "hc_web.h"
#include "hc_config.h"
#include "hc_hmap.h"
#include "hc_names.h"
#include "hc_proxy.h"
#include "hc_tls.h"
#include "hc_store.h"
#include "hc_token.h"
#include "packet.h"

struct hc_tls;

struct hc_follow;
struct hbr_mqtt;

#define HBR_PATH	  "/socket.io/"
#define HBR_ID_LEN	  20 /* Engine.IO sid and Socket.IO id: 15 random bytes */
#define HBR_CONNECT_TRIES 4  /* refused CONNECTs before a session is ended */
#define HBR_CONNECT_WAIT_MS                                                                        \
	1500			 /* a polling CONNECT with no credentials waits                    \
				    this long for the upgrade's cookie */
#define HBR_CLOSE_FLUSH_MS 2000	 /* a closing session waits this long for its last GET */
#define HBR_ROOMS_MAX	   32	 /* rooms one socket may be joined to */
#define HBR_INFLIGHT_MAX   20000 /* publishes the broker has not confirmed, in all */
#define HBR_INFLIGHT_BYTES ((size_t)64 << 20) /* and their bytes */
#define HBR_OUTQ_MAX	   8192		      /* queued packets per socket */
#define HBR_UNSEEN_MS	   10000	      /* a session the directory never showed */
#define HBR_FRESH_TOKEN_S  30		      /* same rule as authplugin/auth.c */
#define HBR_SWEEP_MS	   250
#define HBR_TICK_MS	   100 /* deadline walk */
#define HBR_HB_GRAIN_MS	   1   /* the heartbeat timer's grid (heartbeat.c) */
#define HBR_POLL_CHECK_MS  300 /* a parked GET's socket is looked at this often */
#define HBR_POLL_LOST_MS   300 /* a client whose GET vanished may poll again within */
#define HBR_ORIGIN_MAX	   HC_ORIGIN_MAX
#define HBR_REC_PER_USER   64 /* detached sockets kept per user (recovery.c) */
#define HBR_OFFSET_MAX	   24 /* a recovery offset: decimal, up to 20 digits */
#define HBR_NSP_MAX	   8  /* service namespaces one session may connect */
#define HBR_CORR_LEN	   16 /* correlation data of a call: wait key, nonce */
/* a hooked event waits this much longer than call_timeout_ms: the broker
 * gives the timeout verdict itself, this is the backstop for a lost one */
#define HBR_HOOK_MARGIN_MS 2000
/* a service that answered a call within this long gets its calls at QoS 0
 * (nsp.c); otherwise at QoS 1, whose PUBACK 0x10 tells nobody takes them */
#define HBR_FRESH_MS  500
#define HBR_FRESH_MAX 4096 /* services remembered so */

enum hbr_transport { HBR_T_POLLING = 1, HBR_T_WS };

enum hbr_state {
	HBR_S_OPEN = 1, /* Engine.IO open; Socket.IO maybe connected */
	HBR_S_CLOSING,	/* ended; flushing last packets, then freed */
	HBR_S_DETACHED, /* a recovery record: no session, rooms kept (recovery.c) */
};

/* How hbr_eio__close ends a session. */
enum hbr_close {
	/* the Socket.IO DISCONNECT goes first: a server-initiated end the
	 * client must not retry (logout, revocation, abuse) */
	HBR_CLOSE_SIO = 1,
	/* nothing more for the client (its protocol error, its own close,
	 * an unauthenticated session evicted or timed out): the queue is
	 * dropped, a parked polling GET is answered with the engine close
	 * (with a noop for HBR_CLOSE_BY_CLIENT, also for the first GET that
	 * comes after it), and the session is freed as soon as its
	 * transports let go; a later request finds no session */
	HBR_CLOSE_QUIET = 2,
	HBR_CLOSE_BY_CLIENT = 4,
	/* the socket may recover although the reason is not a lost transport
	 * (the client closed its transport without a Socket.IO DISCONNECT) */
	HBR_CLOSE_RECOVERABLE = 8,
};

/* What hbr_eio__packet / hbr_sio__message did with a packet. */
enum hbr_pkt {
	HBR_PKT_BAD = -1, /* malformed: the session ended because of it */
	HBR_PKT_OK = 0,
	HBR_PKT_ENDED = 1, /* the session ended otherwise (a close, a kick) */
};

/* A packet to send, shared by every socket it goes to (fan-out builds it
 * once). data[LWS_PRE ...] holds the Engine.IO-encoded packet ("42[...]"),
 * or the raw bytes of a binary attachment; lws writes frame headers into
 * the LWS_PRE bytes before it, which is fine on our single thread. */
struct hbr_msg {
	unsigned refs;
	bool binary;  /* an attachment: a binary frame, "b<base64>" when polling */
	uint64_t seq; /* the recovery offset of a delivery (its attachments
			 share it); 0: not replayed (acks, pings, snapshots) */
	char *topic;  /* a delivery's topic (owned), for the READ check of a
			 replay; NULL otherwise */
	size_t len;
	unsigned char data[];
};

/* A binary packet from the client whose attachments are arriving. */
struct hbr_bin {
	char *text; /* the Socket.IO packet (owned) */
	size_t tlen;
	int want, got;
	size_t off[HBR_SIO_ATTACH_MAX], len[HBR_SIO_ATTACH_MAX];
	unsigned char *data; /* the attachments, one after the other (owned) */
	size_t dlen, dcap;
	bool too_big; /* over maxPayload: swallowed, then refused */
};

struct hbr_room;
struct hbr_wait;
struct hbr_att;

/* A socket of a service namespace ("/shop"): its events are calls (nsp.c). */
struct hbr_nsp {
	char name[HC_NAME_MAX + 1]; /* the service; "" for a free slot */
	char id[HBR_ID_LEN + 1];    /* its Socket.IO id */
	uint64_t gen;		    /* unique per namespace socket (waits name it) */
	bool connected;		    /* CONNECT accepted */
	bool waiting;		    /* its CONNECT waits for the upgrade's cookie */
	int calls;		    /* calls waiting for their answer */
};

struct hbr_join {
	struct hbr_room *room;
	size_t idx; /* position in room->socks */
};

struct hbr_bucket {
	double tokens;
	int64_t last_ms;
	int64_t window_ms; /* start of the abuse-counting window */
	int drops;
	int64_t warned_ms;
};

struct hbr_sock {
	struct hbr *h;
	uint64_t serial;
	char sid[HBR_ID_LEN + 1];     /* Engine.IO session id */
	char sock_id[HBR_ID_LEN + 1]; /* Socket.IO id, the plugin's conn id */
	int state;		      /* enum hbr_state */
	int transport;		      /* enum hbr_transport (active) */
	struct lws *poll_wsi;	      /* parked polling GET, or NULL */
	struct lws *ws_wsi;	      /* WebSocket (active or probing) */
	bool probing;		      /* ws_wsi is a probe, not yet upgraded */
	bool probe_reply;	      /* "3probe" to write on ws_wsi */
	bool probe_seen;	      /* "2probe" came: polling GETs get a noop */
	bool flush_due;		      /* in h->flushq (server.c) */
	bool noop_pending;	      /* answer the parked GET with "6" */
	struct lws *post_wsi;	      /* a polling POST being received, or NULL
					 (compared only, never used) */
	int64_t created_ms;

	/* not authenticated yet (pending.c): a FIFO ordered by deadline */
	bool pending;
	int64_t pending_due_ms;
	struct hbr_sock *pending_prev, *pending_next;
	int connect_tries; /* refused CONNECTs */

	/* output queue: a ring of shared packets. With recovery on, the first
	 * qsent of them were written already and are kept until a pong
	 * confirms the client had them (msg.c); the rest wait to be written */
	struct hbr_msg **q;
	unsigned qhead, qlen, qcap, qsent;
	size_t qbytes;	    /* unwritten bytes */
	size_t kept_bytes;  /* written, not confirmed */
	uint64_t qbase;	    /* pushes before q[qhead] (absolute index) */
	uint64_t qpushed;   /* pushes ever */
	uint64_t ping_mark; /* a pong confirms the pushes before this */
	uint64_t rec_lost;  /* highest offset released unconfirmed (kept too long) */

	/* heartbeat (heartbeat.c): in h's ping list while a ping is due
	 * (ping_due_ms), in its pong list while one is out (pong_due_ms) */
	int64_t ping_due_ms;		    /* next ping, 0 if none due */
	int64_t pong_due_ms;		    /* 0: no ping outstanding */
	int hb_list;			    /* enum hbr_hb_list */
	struct hbr_sock *hb_prev, *hb_next; /* in that list */

	/* other deadlines (hbr_eio__tick) */
	int64_t close_due_ms;	/* HBR_S_CLOSING: free by then */
	int64_t pollseen_ms;	/* last polling request */
	int64_t poll_check_ms;	/* next look at the parked GET's socket */
	int64_t poll_lost_ms;	/* parked GET's connection gone: end then unless
				   the client polls again, 0 if not */
	const char *end_reason; /* presence detach reason, once ended */

	/* handshake request */
	char cookie[HC_SECRET_LEN + 1]; /* hub_sid value, "" if none */
	char addr[48];
	bool direct_local; /* from a loopback peer, no proxy header (auth.c) */

	/* Socket.IO */
	bool connected;			    /* CONNECT of "/" accepted */
	int64_t connect_wait_ms;	    /* CONNECTs waiting for the cookie of
					       the upgrade request until then, 0 */
	bool root_wait;			    /* the one of "/" among them */
	char user[HC_NAME_MAX + 1];	    /* the resolved principal */
	char session[HC_TOKEN_SID_MAX + 1]; /* the session's sid */
	bool session_seen;		    /* the directory showed it */
	int64_t auth_ms;
	struct hbr_join joins[HBR_ROOMS_MAX];
	int njoins;
	int current; /* index into joins, -1 if none */
	struct hbr_bucket bucket;
	int attach_pending;			/* binary attachments still due */
	struct hbr_bin *bin;			/* the binary packet they belong to, or
						   NULL (swallowed) */
	struct hbr_sock *user_next, *user_prev; /* sockets of the same user */

	/* service namespaces (nsp.c): HBR_NSP_MAX slots once one is used */
	struct hbr_nsp *nsps;
	int nsp_connected; /* of them connected */
	/* calls and hooked events waiting for an answer (calls.c) */
	struct hbr_wait *waits;
	int hook_waits; /* of them, events of "/" into hooked rooms */

	/* connection state recovery (recovery.c) */
	char pid[HBR_ID_LEN + 1];	      /* private id; "" when recovery is off */
	char wait_pid[HBR_ID_LEN + 1];	      /* a waiting CONNECT's auth.pid */
	char wait_offset[HBR_OFFSET_MAX];     /* and auth.offset */
	bool wait_recover;		      /* it asked to recover */
	int64_t detached_ms;		      /* HBR_S_DETACHED: since */
	struct hbr_sock *rec_prev, *rec_next; /* detached ones, oldest first */
};

struct hbr_stats {
	uint64_t connects_ok, connects_denied, events_in, events_out, dropped_slow, mqtt_dropped;
	/* unauthenticated sessions: handshakes refused (address over its
	 * quota), evicted (global quota), ended unauthenticated in time;
	 * CONNECTs refused for capacity */
	uint64_t pending_refused, pending_evicted, pending_expired, full_refused;
	/* connection state recovery: sockets detached, recovered, refused (no
	 * record, another user, a gap), records dropped (window over, bounds,
	 * session ended); events replayed; publishes the broker refused */
	uint64_t rec_detached, rec_recovered, rec_refused, rec_dropped, rec_replayed;
	uint64_t broker_refused;
	/* calls (service namespaces) and events into hooked rooms: made,
	 * answered, timed out, unavailable, refused over a bound (busy);
	 * answers that found no waiting socket (late, forged, another's) */
	uint64_t calls, calls_answered, calls_timeout, calls_unavailable, calls_busy;
	uint64_t hooked, hooked_accepted, hooked_refused, answers_dropped;
};

struct hbr {
	struct hc_config cfg;
	struct lws_context *lws;
	struct hc_store *store; /* read-only, cookie lookups */
	struct hc_token_key *key;
	struct hc_acl_dir *dir;
	struct hc_follow *follow;
	struct hbr_mqtt *mq;
	void *ev_loop; /* the libev loop everything runs on (NULL: lws's own) */
	char db_path[4200];

	/* settings, read once */
	int64_t max_payload, ping_interval, ping_timeout, event_rate;
	int64_t max_sockets, pending_max, pending_per_addr, connect_timeout_ms;
	bool trust_proxy;
	char sid_tag[8];		  /* sio_sid_tag: every sid starts with it and a dot */
	struct hc_proxies proxies;	  /* trusted_proxies: whose X-Forwarded-For counts */
	struct hc_tls *tls;		  /* tls_cert + tls_key, or NULL: TLS off */
	struct hc_tls_ctxs tls_served;	  /* each vhost's SSL_CTX, for a reload (SIGHUP) */
	char front_tag[HC_TOKEN_TAG_MAX]; /* X-Hub-Front of hubd's proxied requests */
	size_t outq_bytes_max;
	int64_t rec_ms; /* sio_recovery_s in ms; 0: recovery off */
	int64_t rec_max_events;
	size_t rec_max_bytes;

	struct hc_hmap socks;	      /* Engine.IO sid -> hbr_sock */
	struct hc_hmap serials;	      /* serial (8 bytes) -> hbr_sock, live ones */
	struct hc_hmap users;	      /* user -> first hbr_sock (user_next list) */
	struct hc_hmap rooms;	      /* room -> hbr_room */
	struct hc_hmap pids;	      /* recovery pid -> socket (live or detached) */
	struct hc_hmap pending_addrs; /* address key -> its pending sessions (count) */
	struct hbr_sock *pending_head, *pending_tail;
	uint64_t next_serial;
	int nsocks;			      /* Engine.IO sessions, closing ones included */
	int npending;			      /* open and not authenticated */
	int nauth;			      /* authenticated (Socket.IO connected) */
	int ndetached;			      /* recovery records */
	struct hbr_sock *rec_head, *rec_tail; /* detached, oldest first */
	struct hbr_sock *rec_dead;	      /* dropped records, freed on the tick */
	uint64_t next_seq;		      /* the last recovery offset given */
	char origin_tag[64];		      /* marks our own publishes (user property) */
	int nnsp;			      /* service namespace sockets connected */

	/* calls and hooked events waiting for an answer (calls.c) */
	char reply_tag[24];	  /* our answers come on users/{user}/reply/{reply_tag} */
	struct hc_hmap waits;	  /* wait key (8 bytes) -> struct hbr_wait */
	struct hc_hmap wait_mids; /* publish mid (int) -> struct hbr_wait */
	struct hbr_wait *wait_head[2], *wait_tail[2]; /* by deadline: calls, hooks */
	int nwaits;
	uint64_t next_wait;
	unsigned char nonces[256]; /* random bytes for correlation data */
	size_t nonce_used;
	int64_t call_timeout_ms, calls_per_socket, calls_max;
	/* sio_test_anonymous_token (auth.c): TEST ONLY, NULL when off */
	const char *test_token;
	char test_user[HC_NAME_MAX + 1];
	struct hc_hmap fresh; /* service -> until when (ms) its calls go at QoS 0 */

	/* the socket.io-client bundles served at /socket.io/<name>, as the
	 * Socket.IO server does for pages' <script src="/socket.io/socket.io.js"> */
	struct hbr_file {
		const char *name;
		char *data;
		size_t len;
	} client_js[6];

	/* WebSocket sockets with packets to write, written at the end of the
	 * loop pass (serials; server.c) */
	uint64_t *flushq;
	size_t nflush, flushcap;

	lws_sorted_usec_list_t sul_sweep; /* every HBR_TICK_MS */
	/* heartbeat.c: sessions by ping deadline, by pong deadline (FIFOs:
	 * every deadline is now + one constant), and the timer that serves
	 * them and the pending set's CONNECT deadlines on time */
	struct hbr_sock *hb_head[2], *hb_tail[2];
	lws_sorted_usec_list_t sul_hb;
	int64_t hb_armed_ms; /* when sul_hb fires, 0 if it is not armed */
	int64_t last_sweep_ms;
	bool stopping;
	int64_t stop_deadline_ms;
	struct hbr_stats stats;
};

/* ---- msg.c: shared packets and the per-socket queue ---- */
/* A packet holding len bytes copied from p (NULL: uninitialised). refs 1. */
struct hbr_msg *hbr_msg__new(const void *p, size_t len);
void hbr_msg__unref(struct hbr_msg *m);
/* Queue m (takes a reference) on s and wake its transport. Over the
 * socket's limits the socket is ended (slow consumer) and 1 returned. */
int hbr_sock__send(struct hbr *h, struct hbr_sock *s, struct hbr_msg *m);
/* Queue a copy of a text packet (Engine.IO-encoded). */
int hbr_sock__send_text(struct hbr *h, struct hbr_sock *s, const char *p, size_t len);
/* Packets queued and not written yet. */
static inline unsigned hbr_sock__unwritten(const struct hbr_sock *s)
{
	return s->qlen - s->qsent;
}
/* The next packet to write, NULL if none. */
struct hbr_msg *hbr_sock__peek(struct hbr_sock *s);
/* The peeked packet was written: dropped, or kept until confirmed. */
void hbr_sock__pop(struct hbr_sock *s);
/* A pong came: what was written before the last ping is released. */
void hbr_sock__confirm(struct hbr_sock *s);
void hbr_sock__queue_free(struct hbr_sock *s);

/* ---- engineio.c: sessions, heartbeat, transports ---- */
struct hbr_sock *hbr_eio__find(struct hbr *h, const char *sid, size_t len);
struct hbr_sock *hbr_eio__by_serial(struct hbr *h, uint64_t serial);
/* A new (pending) session for a handshake from addr (canonical, see
 * hbr_addr__of) into *out. HUB_OK; HUB_ERR_BUSY when stopping or when
 * addr holds sio_pending_per_addr pending sessions already; HUB_ERR_NOMEM.
 * May evict the oldest pending session (never an authenticated one). */
int hbr_eio__open(
	struct hbr *h, int transport, const char *cookie, const char *addr, struct hbr_sock **out);
/* The open packet ("0{...}") for s into out. */
int hbr_eio__open_packet(struct hbr *h, struct hbr_sock *s, char *out, size_t n);
/* One Engine.IO packet from the client (text, without framing): an enum
 * hbr_pkt (HBR_PKT_BAD: malformed, the session ended because of it). */
int hbr_eio__packet(struct hbr *h, struct hbr_sock *s, const char *p, size_t len, bool via_ws);
/* A binary message: len bytes (a WebSocket binary frame), or base64 text
 * (a polling "b..." record without its 'b'). An enum hbr_pkt. */
int hbr_eio__binary(struct hbr *h, struct hbr_sock *s, const void *p, size_t len, bool b64);
/* End the session: reason is the presence reason; flags: enum hbr_close.
 * Safe to call twice. s stays valid until the loop runs again (it is freed
 * from the tick or hbr_eio__maybe_free, never in here). */
void hbr_eio__close(struct hbr *h, struct hbr_sock *s, const char *reason, int flags);
/* The transport wsi is going away. */
void hbr_eio__transport_gone(struct hbr *h, struct hbr_sock *s, struct lws *wsi);
/* The parked GET's connection went away: unless the client polls again
 * within HBR_POLL_LOST_MS, the session ends ("network"). */
void hbr_eio__poll_lost(struct hbr_sock *s);
/* Heartbeat and deadlines of every session; frees ended ones. */
void hbr_eio__tick(struct hbr *h);
/* Free a session (after close, when its transports are done). */
void hbr_eio__free(struct hbr *h, struct hbr_sock *s);
/* Wake whichever transport should write s's queue. */
void hbr_eio__wake(struct hbr *h, struct hbr_sock *s);
/* A closed session whose transports let go: free it if it is done. */
void hbr_eio__maybe_free(struct hbr *h, struct hbr_sock *s);

/* ---- heartbeat.c: pings and deadlines on time ---- */
enum hbr_hb_list { HBR_HB_NONE = 0, HBR_HB_PING, HBR_HB_PONG };
/* The session opened (or its pong came): its next ping is due
 * sio_ping_interval from now. */
void hbr_hb__ping_later(struct hbr *h, struct hbr_sock *s);
/* The session ended: no more pings or pong deadline. Safe to call twice. */
void hbr_hb__stop(struct hbr *h, struct hbr_sock *s);
/* Whether s, found for a client's request, passed its pong or CONNECT
 * deadline: then it is ended as the timer would (and may be freed: s is
 * not to be used after true). */
bool hbr_hb__overdue(struct hbr *h, struct hbr_sock *s);
/* Something (a pending session's CONNECT deadline) is due at due_ms: the
 * timer fires by then, within HBR_HB_GRAIN_MS. */
void hbr_hb__arm(struct hbr *h, int64_t due_ms);

/* ---- pending.c: sessions not authenticated yet ---- */
/* Room for one more pending session from addr: HUB_OK (the oldest pending
 * session may have been evicted for it), or HUB_ERR_BUSY when addr holds
 * sio_pending_per_addr of them already. */
int hbr_pending__admit(struct hbr *h, const char *addr);
/* s (open, not authenticated) enters the set; its deadline is now +
 * sio_connect_timeout. HUB_OK or HUB_ERR_NOMEM. */
int hbr_pending__add(struct hbr *h, struct hbr_sock *s);
/* s leaves it (authenticated, or ended); nothing if it is not in it. */
void hbr_pending__del(struct hbr *h, struct hbr_sock *s);
/* End the pending sessions whose deadline passed (may free them: never
 * call it while walking h->socks). */
void hbr_pending__expire(struct hbr *h, int64_t now_ms);
/* Per-address counts: how many pending sessions addr holds. */
int hbr_pending__count(struct hbr *h, const char *addr);

/* ---- addr.c: client addresses ---- */
/* (canonical text and quota keys: hc_addr_canon, hc_addr_key, hc_proxy.h) */
/* The client address of a request: the peer; with trust_proxy and a peer
 * in trusted_proxies, X-Forwarded-For walked from the right (hc_proxy.h);
 * on a request hubd relayed (its X-Hub-Front tag, which only holders of
 * the token key can make), the entry hubd wrote; "unknown" if the peer
 * does not parse. */
void hbr_addr__of(struct hbr *h, struct lws *wsi, char *out, size_t n);

/* ---- socketio.c: the Socket.IO layer ---- */
/* A Socket.IO packet (Engine.IO message payload) from the client: an enum
 * hbr_pkt. */
int hbr_sio__message(struct hbr *h, struct hbr_sock *s, const char *p, size_t len);
/* An attachment arrived (all of them: the packet is handled). An enum
 * hbr_pkt. */
int hbr_sio__attachment(struct hbr *h, struct hbr_sock *s, const void *p, size_t len);
/* Queue an event: name and pre-encoded JSON args (without brackets). */
int hbr_sio__emit(struct hbr *h, struct hbr_sock *s, const char *event, const char *args_json);
/* Event names socket.io-client keeps for itself (never delivered). */
bool hbr_sio__reserved(const char *name, size_t len);
/* Answer ack id with one JSON argument. */
int hbr_sio__ack(struct hbr *h, struct hbr_sock *s, int64_t id, const char *json);
/* Answer ack id of namespace nsp (a service's name; NULL: "/") with len
 * bytes of JSON text as its argument (none when len is 0). */
int hbr_sio__ack_ns(struct hbr *h, struct hbr_sock *s, const char *nsp, int64_t id,
	const char *json, size_t len);
/* An error for an event of namespace nsp (NULL: "/"): its ack
 * {"ok":false,"error":code,"message":message[,"event":event]} when it
 * has one (id >= 0), else a `hub:error` event with it. */
void hbr_sio__refuse(struct hbr *h, struct hbr_sock *s, const char *nsp, int64_t id,
	const char *event, const char *code, const char *message);
/* The rate limit for an event of `bytes` (ack id for the refusal): 0 go
 * on, 1 refused (answered), -1 the session ended (abuse). */
int hbr_sio__rate(struct hbr *h, struct hbr_sock *s, const char *nsp, int64_t id, size_t bytes);
/* Whether the session has a user its sockets stand for (a "/" or a
 * namespace socket connected). */
static inline bool hbr_sio__live(const struct hbr_sock *s)
{
	return s->connected || s->nsp_connected > 0;
}
/* The session's first socket connected: it is authenticated now (out of
 * the pending set, its rate bucket full). */
void hbr_sio__authenticated(struct hbr *h, struct hbr_sock *s);
/* Its last socket ended, the session stays: unauthenticated again (the
 * pending set's life and quotas). 0, or -1 when that ended it. */
int hbr_sio__unauthenticated(struct hbr *h, struct hbr_sock *s, const char *reason);
/* The socket ends: leave rooms, detach presence, forget acks. */
void hbr_sio__ended(struct hbr *h, struct hbr_sock *s);
/* Answer a CONNECT that waited for the upgrade request's cookie (it came,
 * or the wait is over): accepted with the cookie's session, or refused. */
int hbr_sio__connect_resume(struct hbr *h, struct hbr_sock *s);
/* The broker's answer to a publish (a refusal is counted and logged: the
 * client's ack answered when the gateway accepted the event). */
void hbr_sio__puback(struct hbr *h, int mid, int reason_code);
void hbr_sio__bin_free(struct hbr_sock *s);

/* ---- nsp.c: service namespaces ("/shop"): calls ---- */
/* A CONNECT, DISCONNECT or EVENT (attachments in) of namespace p->nsp
 * (not "/"): 0 done, 1 malformed (the session ends), -1 the session
 * ended. */
int hbr_nsp__connect(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p);
int hbr_nsp__disconnect(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p);
int hbr_nsp__event(struct hbr *h, struct hbr_sock *s, const struct hbr_sio_packet *p,
	const struct hbr_att *att, int natt);
/* The connected namespace socket named by a packet's namespace, or NULL. */
struct hbr_nsp *hbr_nsp__find(struct hbr_sock *s, const char *nsp, size_t len);
struct hbr_nsp *hbr_nsp__by_gen(struct hbr_sock *s, uint64_t gen);
/* Decide the namespace CONNECTs that waited for the upgrade's cookie.
 * 0, or -1 when the session ended. */
int hbr_nsp__resume(struct hbr *h, struct hbr_sock *s);
/* The session ends: tell each namespace socket (a Socket.IO DISCONNECT)
 * when `tell`, then end them all (their calls are forgotten). */
void hbr_nsp__end_all(struct hbr *h, struct hbr_sock *s, bool tell);

/* ---- calls.c: calls and hooked events waiting for an answer ---- */
enum hbr_wait_kind { HBR_W_CALL = 0, HBR_W_HOOK = 1 };
/* The reply topic of this gateway's calls for user: users/{user}/reply/{tag}. */
int hbr_calls__reply_topic(struct hbr *h, const char *user, char *out, size_t n);
/* A wait for socket s: a call of namespace socket n (kind HBR_W_CALL), or
 * an event of "/" into a hooked room (HBR_W_HOOK, n NULL; room and ts for
 * its ack). corr gets the Correlation Data to publish with. HUB_OK;
 * HUB_ERR_BUSY over sio_calls_per_socket or sio_calls_max (*why says
 * which; nothing is kept); HUB_ERR_NOMEM. */
int hbr_calls__begin(struct hbr *h, struct hbr_sock *s, int kind, struct hbr_nsp *n, int64_t id,
	const char *event, const char *room, int64_t ts, unsigned char corr[HBR_CORR_LEN],
	struct hbr_wait **out, const char **why);
/* Whether service answered a call lately: then its calls go at QoS 0. */
bool hbr_calls__fresh(struct hbr *h, const char *service);
/* Its publish went out as mid (PUBACKs find it), or could not (freed). */
void hbr_calls__published(struct hbr *h, struct hbr_wait *w, int mid);
void hbr_calls__cancel(struct hbr *h, struct hbr_wait *w);
/* A PUBACK: true when mid was a wait's publish (handled here). */
bool hbr_calls__puback(struct hbr *h, int mid, int reason_code);
/* A message on users/{user}/reply/{tag}: the answer of a wait, given to
 * its socket only if everything matches (tag, key, nonce, user, socket). */
void hbr_calls__answer(struct hbr *h, const char *topic, const void *corr, size_t corr_len,
	const void *payload, size_t len);
/* Waits past their deadline are answered timeout. */
void hbr_calls__tick(struct hbr *h, int64_t now_ms);
/* Forget the waits of s: of namespace socket gen (0: of "/"), or all. */
void hbr_calls__forget(struct hbr *h, struct hbr_sock *s, uint64_t gen);
void hbr_calls__forget_all(struct hbr *h, struct hbr_sock *s);
/* The broker link dropped: no PUBACK will come for what was sent. */
void hbr_calls__link_lost(struct hbr *h);
void hbr_calls__free(struct hbr *h);

/* ---- auth.c: who is this socket ---- */
/* Resolve the user of a CONNECT: token from the auth payload (may be NULL)
 * or the handshake's cookie. Fills s->user/session. HUB_OK or an error
 * (reason for the log in *why). */
int hbr_auth__connect(
	struct hbr *h, struct hbr_sock *s, const char *token, size_t toklen, const char **why);
/* Who a token (or, with none, the cookie) stands for, without touching
 * s: user and session into the buffers (HC_NAME_MAX + 1, HC_TOKEN_SID_MAX
 * + 1), *seen whether the directory knows the session. */
int hbr_auth__resolve(struct hbr *h, const char *cookie, const char *token, size_t toklen,
	char *user, char *session, bool *seen, const char **why);
/* Whether s may stay: NULL, or the presence reason it ends with. */
const char *hbr_auth__verdict(struct hbr *h, struct hbr_sock *s, int64_t now_ms);
/* TEST ONLY: sio_test_anonymous_token set with a bind_address that is not
 * loopback: HUB_ERR_CONFIG with the reason in err (checked before the
 * gateway listens); else HUB_OK. */
int hbr_auth__test_check(struct hbr *h, char *err, size_t errsz);
/* TEST ONLY: take sio_test_anonymous_token into use (the token key loaded:
 * the token must be valid now). HUB_OK (off, or on and logged as a
 * warning), or HUB_ERR_CONFIG with the reason in err. */
int hbr_auth__test_init(struct hbr *h, char *err, size_t errsz);
/* TEST ONLY: the token a CONNECT of s without credentials (no auth token,
 * no cookie) is to be authenticated with, or NULL: only with the setting
 * on and for a session opened over a direct loopback connection. Borrowed
 * from the config, valid for the process's life. */
const char *hbr_auth__test_token(struct hbr *h, struct hbr_sock *s);
/* Whether the request on wsi comes straight from this host: a loopback
 * peer, and no header saying a proxy relayed it. */
bool hbr_auth__direct_local(struct lws *wsi);

/* ---- rooms.c: local rooms, fan-out, presence members ---- */
int hbr_rooms__join(struct hbr *h, struct hbr_sock *s, const char *room, size_t len);
int hbr_rooms__leave(struct hbr *h, struct hbr_sock *s, const char *room, size_t len);
void hbr_rooms__leave_all(struct hbr *h, struct hbr_sock *s);
/* Send s the presence snapshot of a room it joined. */
void hbr_rooms__presence_snapshot(struct hbr *h, struct hbr_sock *s, struct hbr_room *r);
const char *hbr_rooms__name(const struct hbr_room *r);
/* A message from the broker, or an event of one of our sockets. origin:
 * our own tag of the sending socket ("" when it came from elsewhere); enc:
 * how the payload reads (enum hbr_enc, args.h). */
void hbr_rooms__deliver(struct hbr *h, const char *topic, const void *payload, size_t len, int enc,
	const char *origin, int64_t ts_ms);
/* Put s in the room lists of r's joins instead of from (recovery). */
void hbr_rooms__move(struct hbr_sock *from, struct hbr_sock *to);
/* Directory changed: drop joins the user may no longer read. */
void hbr_rooms__recheck(struct hbr *h);
/* The broker link came back: the presence map is rebuilt from retained. */
void hbr_rooms__presence_reset(struct hbr *h);
void hbr_rooms__free(struct hbr *h);
/* Sockets of a user (list via user_next). */
int hbr_users__add(struct hbr *h, struct hbr_sock *s);
void hbr_users__del(struct hbr *h, struct hbr_sock *s);

/* ---- recovery.c: connection state recovery ---- */
/* A new socket's private id (recovery on): into s->pid and h->pids. */
int hbr_recovery__pid(struct hbr *h, struct hbr_sock *s);
/* s's transport is gone (reason, for presence): keep its Socket.IO state
 * as a detached record (recovery on, not stopping). true if kept (s is
 * then no longer connected; its presence is detached). */
bool hbr_recovery__detach(struct hbr *h, struct hbr_sock *s, const char *reason);
/* A CONNECT (s authenticated, not connected yet) asks to recover pid
 * after offset (NULL: nothing received): the record it takes over
 * (adopted: s has its id, rooms and pid), or NULL (a new connection). */
struct hbr_sock *hbr_recovery__claim(
	struct hbr *h, struct hbr_sock *s, const char *pid, const char *offset, uint64_t *after);
/* Queue to s what rec kept after offset `after`, then free rec. The
 * number of events replayed. */
int hbr_recovery__replay(struct hbr *h, struct hbr_sock *s, struct hbr_sock *rec, uint64_t after);
/* End a record for good (reason for the log). */
void hbr_recovery__drop(struct hbr *h, struct hbr_sock *rec, const char *why);
/* A live socket ends for good: its pid is forgotten. */
void hbr_recovery__forget(struct hbr *h, struct hbr_sock *s);
/* Records whose window passed; dropped ones freed. */
void hbr_recovery__tick(struct hbr *h, int64_t now_ms);
void hbr_recovery__free_all(struct hbr *h);

/* ---- presence.c: tell the plugin about sockets ---- */
void hbr_presence__attach(struct hbr *h, struct hbr_sock *s);
void hbr_presence__detach(struct hbr *h, struct hbr_sock *s, const char *reason);
void hbr_presence__reattach_all(struct hbr *h);

/* ---- limits.c ---- */
enum hbr_rate { HBR_RATE_OK = 0, HBR_RATE_DROP, HBR_RATE_ABUSE };
/* An event costing `cost` (1, more for big binary events). */
int hbr_limits__event(struct hbr *h, struct hbr_sock *s, int64_t now_ms, double cost);

/* ---- mqtt.c: the broker link ---- */
int hbr_mqtt__start(struct hbr *h, char *err, size_t errsz);
/* Handle everything libmosquitto's thread queued (lws thread). */
void hbr_mqtt__drain(struct hbr *h);
/* QoS 1 publish as $hub; origin (may be NULL) tags our sockets' events,
 * enc (enum hbr_enc) sets the Content Type. *mid gets the message id.
 * HUB_OK; HUB_ERR_BUSY when not connected; HUB_ERR_TOOBIG over the
 * broker's maximum packet size. */
int hbr_mqtt__publish(struct hbr *h, const char *topic, const void *payload, size_t len, int enc,
	const char *origin, int *mid);
/* The same with a Response Topic and Correlation Data (a request), at
 * QoS qos (0 or 1). */
int hbr_mqtt__request(struct hbr *h, const char *topic, const void *payload, size_t len, int enc,
	const char *origin, const char *reply, const void *corr, size_t corr_len, int qos,
	int *mid);
bool hbr_mqtt__connected(struct hbr *h);
/* Write the publishes of this loop pass (at its end). */
void hbr_mqtt__flush(struct hbr *h);
/* Publishes sent but not acknowledged yet. */
int hbr_mqtt__inflight(struct hbr *h);
/* Too many of them (HBR_INFLIGHT_MAX), or too many bytes
 * (HBR_INFLIGHT_BYTES): new events are refused (busy) until they drain. */
bool hbr_mqtt__backlogged(struct hbr *h);
void hbr_mqtt__stop(struct hbr *h);

/* ---- server.c: lws glue ---- */
extern const struct lws_protocols hbr_protocols[];
/* The context on bind_address:sio_port; ev_loop (a libev loop) or NULL for
 * lws's own poll() loop. */
struct lws_context *hbr_server__create(struct hbr *h, void *ev_loop);
/* Close a wsi from outside its callbacks (it is asked to write, then
 * returns -1); its tie to a session is cut. */
void hbr_server__kill(struct lws *wsi);
/* Read the socket.io-client bundles from web_dir/vendor/socket.io/ (those
 * missing are not served; a line says so). */
void hbr_server__load_client_js(struct hbr *h);
void hbr_server__free_client_js(struct hbr *h);
/* Whether the peer of wsi's socket is still there (a non-blocking peek). */
bool hbr_server__alive(struct lws *wsi);
/* s (WebSocket, open) has packets to write: at the end of this loop pass
 * (hbr_server__flush), not after a writability round trip. false when
 * that is not possible (then ask lws for the writable callback). */
bool hbr_server__flush_later(struct hbr *h, struct hbr_sock *s);
/* Write what the sockets of hbr_server__flush_later have queued. */
void hbr_server__flush(struct hbr *h);

/* ---- main.c ---- */
/* Another thread woke the loop: broker messages, store changes, signals. */
void hbr_main__wakeup(struct hbr *h);

#endif
