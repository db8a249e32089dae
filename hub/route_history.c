/* SPDX-License-Identifier: MIT */
/*
 * GET /api/rooms/{room}/messages?limit=N&before=<id>: recent chat history
 * of a room the cookie's user may read, newest last, in pages bounded in
 * count and bytes (history_page.h).
 *
 * On the lws thread: the path, the query, the session and the read level
 * (indexed reads). The page itself is read and formatted on the history
 * reader thread (workpool.h, fair per user), so no read, however big,
 * holds up /healthz or any other request. At most history_reads_max reads
 * are queued, running or being sent at once (503 beyond): with
 * history_page_bytes a page, that bounds what history reads make hubd hold.
 */
#include "hc_err.h"
#include "hc_history.h"
#include "hc_log.h"
#include "hc_names.h"
#include "hc_store.h"
#include "hc_util.h"
#include "history_page.h"
#include "hub.h"
#include "routes.h"
#include "session.h"
#include "workpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_LIMIT 50

struct read_job {
	struct hub_job job; /* first: the pool hands back this pointer */
	uint64_t req_id;
	struct hub_history_query q;
	/* results, written by the worker */
	int rc;
	unsigned char *body; /* LWS_PRE + the page */
	size_t len;
};

static void read_work(struct hub_job *job, struct hc_store *st)
{
	struct read_job *rj = (struct read_job *)job;

	if (!st) {
		rj->rc = HUB_ERR_DB;
		return;
	}
	rj->rc = hub_history_page(st, &rj->q, &rj->body, &rj->len);
}

static void read_done(struct hub_job *job, void *ud)
{
	struct read_job *rj = (struct read_job *)job;
	struct hub *h = ud;
	struct hub_conn *c = h ? hub_http_resume(h, rj->req_id) : NULL;

	if (h && !c)
		h->history_alive--; /* nobody to send it to */
	if (!c)
		goto out;
	/* from here the slot is released with the connection's response */
	c->history_slot = true;
	if (job->cancelled || job->evicted) {
		hub_http_header(c, "retry-after:", "1");
		hub_http_error(c, 503, "busy", "too many history reads; try again shortly");
	} else if (rj->rc) {
		hc_err("msg=\"history read failed\" room=%s err=%s", rj->q.room,
			hub_strerror(rj->rc));
		hub_http_error(c, rj->rc == HUB_ERR_NOMEM ? 500 : 503,
			rj->rc == HUB_ERR_NOMEM ? "internal" : "unavailable",
			"the history could not be read; try again");
	} else {
		hub_http_reply_take(c, 200, "application/json", rj->body, rj->len);
		rj->body = NULL;
	}
	hub_http_send(c);
out:
	free(rj->body);
	free(rj);
}

static int query_int(struct hub_conn *c, const char *name, int64_t min, int64_t max, int64_t *out)
{
	char v[48];
	/* lws 4.1: the value after "name=", inside v, or NULL when absent */
	const char *val = lws_get_urlarg_by_name(c->wsi, name, v, (int)sizeof(v));
	if (!val)
		return 0; /* absent: keep the default */
	return hc_parse_i64(val, min, max, out) == HUB_OK ? 0 : -1;
}

int hub_route_history(struct hub *h, struct hub_conn *c)
{
	char room[HC_NAME_MAX + 1];
	const char *p = c->path + strlen("/api/rooms/"), *slash = strchr(p, '/');
	struct hc_session s;
	struct read_job *rj;
	int64_t limit = DEFAULT_LIMIT, before = 0;
	int level = HC_LEVEL_NONE, rc;

	if (!slash || (size_t)(slash - p) > HC_NAME_MAX ||
		!hc_name_valid_n(p, (size_t)(slash - p))) {
		hub_http_error(c, 404, "not_found", "no such room");
		return 0;
	}
	memcpy(room, p, (size_t)(slash - p));
	room[slash - p] = '\0';
	if (query_int(c, "limit=", 1, HC_HISTORY_LIMIT_MAX, &limit) ||
		query_int(c, "before=", 1, INT64_MAX, &before)) {
		hub_http_error(
			c, 400, "bad_request", "limit must be 1-500 and before a message id");
		return 0;
	}
	if (hub_session_require(h, c, &s))
		return 0;
	/* read level in the room, the same fact the broker's ACL reads */
	rc = hc_store_level(h->store, room, s.principal, &level);
	if (rc) {
		hub_http_error(c, 503, "unavailable", "the store could not be read; try again");
		return 0;
	}
	if (level < HC_LEVEL_READ) {
		/* the same answer for a room that does not exist: no probing */
		hub_http_error(c, 403, "forbidden", "you are not a member of this room");
		return 0;
	}
	if (h->history_alive >= (int)hc_cfg_int(&h->cfg, HC_CFG_HISTORY_READS_MAX)) {
		hub_http_header(c, "retry-after:", "1");
		hub_http_error(c, 503, "busy", "too many history reads; try again shortly");
		return 0;
	}
	rj = calloc(1, sizeof(*rj));
	if (!rj) {
		hub_http_error(c, 500, "internal", "out of memory");
		return 0;
	}
	rj->job.work = read_work;
	rj->job.done = read_done;
	rj->job.qi.lane = 0;
	snprintf(rj->job.qi.flow_key, sizeof(rj->job.qi.flow_key), "%s", s.principal);
	memcpy(rj->q.room, room, sizeof(room));
	rj->q.before = before;
	rj->q.limit = (int)limit;
	rj->q.budget = (size_t)hc_cfg_int(&h->cfg, HC_CFG_HISTORY_PAGE_BYTES);
	rj->q.event_max = (size_t)hc_cfg_int(&h->cfg, HC_CFG_HISTORY_EVENT_MAX);
	rj->q.headroom = LWS_PRE;
	rj->req_id = hub_http_wait(h, c, &rj->job.abandoned);
	rc = hub_workpool_submit(h->readers, &rj->job);
	if (rc) {
		hub_http_resume(h, rj->req_id);
		free(rj);
		hub_http_header(c, "retry-after:", "1");
		hub_http_error(c, 503, "busy", "too many history reads; try again shortly");
		return 0;
	}
	h->history_alive++;
	return 0;
}
