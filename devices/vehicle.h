/* SPDX-License-Identifier: MIT */
/*
 * One simulated vehicle: a device's MQTT connection (its own libmosquitto
 * client, non-blocking, driven by the fleet loop), its motion, and its
 * queue of fixes awaiting acknowledgement.
 *
 * Life cycle (state):
 *   IDLE        no connection; next_connect_ms says when to try
 *   CONNECTING  TCP + CONNECT sent, waiting for CONNACK (connect_deadline_ms)
 *   ONLINE      CONNACK 0: fixes flow, oldest first, at most `inflight`
 *               unacknowledged
 *   CLOSING     DISCONNECT queued (shutdown, or --once done)
 *   DONE        finished; nothing more happens
 * A lost or refused connection goes back to IDLE with a backoff delay; the
 * client object is destroyed and made afresh for each attempt, so nothing
 * a dead connection had queued is sent twice behind our back: fixes not
 * acknowledged stay in our queue and are sent again, in order.
 *
 * libmosquitto callbacks only record what happened (they run inside
 * mosquitto_loop_*); the fleet loop then calls trk_vehicle__after_io.
 * Thread: the fleet loop's only.
 */
#ifndef TRK_VEHICLE_H
#define TRK_VEHICLE_H

#include <stdbool.h>
#include <stdint.h>

#include "backoff.h"
#include "fixq.h"
#include "hc_names.h"
#include "sim.h"

struct mosquitto;
struct trk_fleet;

enum trk_vstate { TRK_V_IDLE = 0, TRK_V_CONNECTING, TRK_V_ONLINE, TRK_V_CLOSING, TRK_V_DONE };

/* How the first connection attempt that got an answer ended. */
enum trk_outcome { TRK_OUT_NONE = 0, TRK_OUT_CONNECTED, TRK_OUT_REFUSED };

struct trk_vehicle {
	struct trk_fleet *fleet; /* borrowed back pointer */
	size_t index;
	char id[HC_NAME_MAX + 1];
	const char *secret; /* borrowed from the credentials (fleet lifetime) */
	char tid[3];
	char topic[2 * HC_NAME_MAX + 16];      /* owntracks/{id}/{name} */
	char will_topic[2 * HC_NAME_MAX + 16]; /* users/{id}/status or the topic */
	char client_id[160];

	struct mosquitto *mosq; /* owned; NULL while IDLE/DONE */
	int fd;			/* socket registered with epoll, or -1 */
	uint32_t events;	/* its registered event mask */

	enum trk_vstate state;
	enum trk_outcome outcome;
	int64_t next_connect_ms, connect_deadline_ms, next_fix_ms, next_misc_ms;
	int64_t online_since_ms, offline_since_ms;
	int64_t connect_tst; /* unix s of the current connection (OwnTracks lwt) */
	struct trk_backoff backoff;
	uint64_t rng;

	/* set by callbacks, handled by trk_vehicle__after_io */
	bool lost;	      /* the connection ended (on_disconnect) */
	int connack;	      /* CONNACK code, -1 before one came */
	int disconnect_rc;    /* libmosquitto's reason */
	int disconnect_errno; /* errno with MOSQ_ERR_ERRNO */

	bool started;		 /* fix timer running */
	bool once_taken;	 /* --once: its one fix was taken */
	bool once_ok;		 /* --once: and acknowledged */
	bool refusal_noted;	 /* logged once per run of refusals */
	int refusals;		 /* auth refusals since the last successful connect */
	bool unreachable_noted;	 /* likewise for failed attempts */
	bool denied_noted;	 /* a v5 PUBACK said not authorised (logged once) */
	uint64_t dropped_before; /* queue drops when the connection was lost */

	struct trk_sim sim;
	struct trk_fixq q;
	uint64_t fixes, sent, acked, denied;
};

/* Set up vehicle index with its device id and secret (borrowed), placed
 * on the fleet's routes. */
int trk_vehicle__init(struct trk_vehicle *v, struct trk_fleet *f, size_t index, const char *id,
	const char *secret, uint64_t seed);
/* Destroy its client (no DISCONNECT) and free its queue. */
void trk_vehicle__free(struct trk_vehicle *v);

/* Start a connection attempt now (IDLE only). On an immediate failure the
 * vehicle goes back to IDLE with a backoff. */
void trk_vehicle__connect(struct trk_vehicle *v, int64_t now_ms);
/* Socket readiness from epoll: read and/or write. */
void trk_vehicle__io(struct trk_vehicle *v, uint32_t events, int64_t now_ms);
/* Timers due at now_ms: fix, keepalive, CONNACK timeout, --once end.
 * Returns the next time this vehicle needs attention. */
int64_t trk_vehicle__timers(struct trk_vehicle *v, int64_t now_ms);
/* Take one fix now into the queue (and publish it if online). */
void trk_vehicle__take_fix(struct trk_vehicle *v, int64_t now_ms);
/* Shutdown, called on every pass while the fleet stops, with rising
 * urgency: TRK_STOP_DRAIN sends what is queued and DISCONNECTs once all is
 * acknowledged; TRK_STOP_DISCONNECT DISCONNECTs now; TRK_STOP_DROP closes
 * the socket without a DISCONNECT. IDLE/CONNECTING vehicles finish at once. */
enum { TRK_STOP_DRAIN = 0, TRK_STOP_DISCONNECT, TRK_STOP_DROP };
void trk_vehicle__stop(struct trk_vehicle *v, int urgency, int64_t now_ms);

#endif
