/* SPDX-License-Identifier: MIT */
/* Hourly clean-up of the store: sessions that ended, and change-log rows,
 * more than a day ago. Runs as an lws timer on the service thread. */
#ifndef HUB_PURGE_H
#define HUB_PURGE_H

struct hub;

#define HUB_PURGE_EVERY_S 3600
#define HUB_PURGE_AGE_S	  86400

/* Schedule the first purge shortly after start, then every hour. */
void hub_purge_start(struct hub *h);
void hub_purge_stop(struct hub *h);

#endif
