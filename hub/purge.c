/* SPDX-License-Identifier: MIT */
/* Periodic store purge on an lws sorted-usec-list timer. */
#include "purge.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"
#include "hub.h"

#include <stdbool.h>
#include <stddef.h>

#define FIRST_DELAY_S 30

/* Rows of each table one run deletes (a short transaction on the loop's
 * store); a run that found more goes on a second later. */
#define PURGE_BATCH   2000
#define PURGE_AGAIN_S 1

static void purge_cb(lws_sorted_usec_list_t *sul)
{
	struct hub *h = lws_container_of(sul, struct hub, sul_purge);
	bool more = false;
	int rc = hc_store_purge(h->store, hc_now() - HUB_PURGE_AGE_S, PURGE_BATCH, &more);

	if (rc)
		hc_warn("msg=\"store purge failed\" err=%s db=\"%s\"", hub_strerror(rc),
			hc_store_errmsg(h->store));
	else
		hc_debug("msg=\"store purged\" older_than_s=%d more=%d", HUB_PURGE_AGE_S, more);
	lws_sul_schedule(h->lws, 0, &h->sul_purge, purge_cb,
		(lws_usec_t)(more ? PURGE_AGAIN_S : HUB_PURGE_EVERY_S) * LWS_US_PER_SEC);
}

void hub_purge_start(struct hub *h)
{
	lws_sul_schedule(
		h->lws, 0, &h->sul_purge, purge_cb, (lws_usec_t)FIRST_DELAY_S * LWS_US_PER_SEC);
}

void hub_purge_stop(struct hub *h)
{
	lws_sul_cancel(&h->sul_purge);
}
