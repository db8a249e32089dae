/* SPDX-License-Identifier: MIT */
/*
 * hubd's side of "a change is in force when the request returns"
 * (hc_sync.h): a route that committed a change (logout, deliveries)
 * prepares its response and hands the request to hub_syncwait_reply(); a
 * worker thread waits until the broker plugin and the gateway confirm they
 * applied the change, then the response goes out. The lws thread never
 * blocks: requests are parked by id (hub_http_wait) meanwhile.
 *
 * Thread rules: every function but the worker runs on the lws thread.
 */
#ifndef HUB_SYNCWAIT_H
#define HUB_SYNCWAIT_H

struct hub;
struct hub_conn;
struct hub_syncwait;

/* Start the worker. HUB_OK, HUB_ERR_NOMEM or HUB_ERR_IO. */
int hub_syncwait_start(struct hub *h, struct hub_syncwait **out);
/* Stop it (again: no-op): parked requests are answered by the next collect. */
void hub_syncwait_stop(struct hub_syncwait *w);
/* After collect: free it. */
void hub_syncwait_free(struct hub_syncwait *w);

/* c's response is prepared and its change committed: send the response
 * once the change is in force (or at once if it cannot be waited for). */
void hub_syncwait_reply(struct hub *h, struct hub_conn *c);

/* lws thread, after a wake-up: send the responses whose wait ended. */
void hub_syncwait_collect(struct hub_syncwait *w, struct hub *h);

#endif
