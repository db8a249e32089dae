/* SPDX-License-Identifier: MIT */
/*
 * POST /api/login. On the lws thread: parse the body, ask the limiter
 * (429 costs nothing), queue the password check (503 when the queue is
 * full). On a hash worker: look the user up on the worker's own store
 * connection and verify, or burn the same time on a dummy verify for a name
 * that is not a user, so timing does not tell which names exist. Back on the
 * lws thread: count the result, create the session, mint the token, answer.
 *
 * Wrong password, unknown user, device name, malformed username and
 * over-long password all get the same 401 body. One audit line per attempt.
 */
#include "addr.h"
#include "cookie.h"
#include "credentials.h"
#include "workpool.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_password.h"
#include "hc_store.h"
#include "hc_store_rehash.h"
#include "hc_token.h"
#include "hc_util.h"
#include "hub.h"
#include "ratelimit.h"
#include "routes.h"
#include "webhook.h"
#include "webhook_events.h"

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MSG_BAD_CREDENTIALS "wrong username or password"

struct login_job {
	struct hub_job job; /* first: the pool hands back this pointer */
	uint64_t req_id;
	char username[HC_NAME_MAX + 1];
	char addr[HUB_ADDR_MAX];
	struct hub_rl_ticket ticket;
	struct hc_scrypt_params params;
	/* results, written by the worker */
	int result;	    /* HUB_OK, HUB_ERR_AUTH, or a server-side error */
	const char *reason; /* static text for the audit line */
	struct hc_principal principal;
	bool rehash;
	char old_hash[HC_PASSWORD_HASH_MAX];
	char new_hash[HC_PASSWORD_HASH_MAX];
	size_t pwlen;
	char password[]; /* wiped once used */
};

static void job_free(struct login_job *lj)
{
	OPENSSL_cleanse(lj->password, lj->pwlen);
	OPENSSL_cleanse(lj->new_hash, sizeof(lj->new_hash));
	free(lj);
}

/* Refusals an unauthenticated client causes are rate-limited per kind
 * (hc_log.h): a flood writes a few lines and summaries, not a line each. */
static struct hc_log_limit lim_failed = HC_LOG_LIMIT("login_failed");
static struct hc_log_limit lim_refused = HC_LOG_LIMIT("login_refused");

/* The audit line: one per attempt (refusals rate-limited when lim is
 * given), never the password. A name that is not a well-formed username
 * (a password typed into the username field, say) appears only as a
 * fingerprint, user=#1a2b3c4d (hc_log_user). */
static void audit(const char *user, const char *addr, const char *result, const char *reason,
	const char *sid, struct hc_log_limit *lim)
{
	char shown[HC_LOG_USER_MAX];

	if (!hc_log_enabled(HC_LOG_INFO) || (lim && !hc_log_limit_take(lim, HC_LOG_INFO)))
		return;
	hc_log_user(user, strlen(user), shown);
	hc_log_write(HC_LOG_INFO, "login user=%s addr=%s result=%s%s%s%s%s", shown, addr, result,
		reason ? " reason=" : "", reason ? reason : "", sid ? " sid=" : "", sid ? sid : "");
}

/* ------------------------------------------------------ worker thread */

static void login_work(struct hub_job *job, struct hc_store *st)
{
	struct login_job *lj = (struct login_job *)job;
	char stored[HC_PASSWORD_HASH_MAX];
	int rc;

	stored[0] = '\0';
	if (!st) {
		lj->result = HUB_ERR_DB;
		lj->reason = "store_unavailable";
		goto out;
	}
	rc = hc_store_principal_get(st, lj->username, &lj->principal, stored, sizeof(stored));
	if (rc == HUB_ERR_NOTFOUND ||
		(rc == HUB_OK && (lj->principal.kind != HC_KIND_USER || !stored[0]))) {
		/* devices log in to MQTT with their secret, never here */
		hc_password_dummy_verify(lj->password, lj->pwlen, &lj->params);
		lj->result = HUB_ERR_AUTH;
		lj->reason = rc == HUB_ERR_NOTFOUND ? "unknown_user" : "not_a_user";
		goto out;
	}
	if (rc) {
		lj->result = rc;
		lj->reason = "store_error";
		goto out;
	}
	rc = hc_password_verify(lj->password, lj->pwlen, stored);
	if (rc == HUB_OK) {
		lj->result = HUB_OK;
		if (hc_password_needs_rehash(stored, &lj->params) &&
			hc_password_hash(lj->password, lj->pwlen, &lj->params, lj->new_hash,
				sizeof(lj->new_hash)) == HUB_OK) {
			lj->rehash = true;
			snprintf(lj->old_hash, sizeof(lj->old_hash), "%s", stored);
		}
	} else if (rc == HUB_ERR_AUTH) {
		lj->result = HUB_ERR_AUTH;
		lj->reason = "bad_password";
	} else if (rc == HUB_ERR_INVAL) {
		/* a stored hash we cannot read: the user cannot log in until an
		 * admin sets a new password; spend the usual time meanwhile */
		hc_password_dummy_verify(lj->password, lj->pwlen, &lj->params);
		lj->result = HUB_ERR_AUTH;
		lj->reason = "unreadable_stored_hash";
	} else {
		lj->result = rc;
		lj->reason = "crypto_error";
	}
out:
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(lj->password, lj->pwlen);
}

/* ------------------------------------------------------ lws thread */

static int retry_after_busy(struct hub *h)
{
	double avg = h->metrics.hash_count
			     ? h->metrics.hash_seconds_sum / (double)h->metrics.hash_count
			     : 0.5;
	double s = 1.0 + (double)hub_workpool_depth(h->pool) * avg /
				 (double)hub_workpool_workers(h->pool);
	return s > 30 ? 30 : (int)s;
}

/* The session and its login webhook rows commit together (or not). */
struct session_tx {
	const char *user, *addr;
	int64_t ttl;
	char *sid, *secret;
	int queued;
};

static int session_tx_fn(struct hc_store *st, void *ud)
{
	struct session_tx *a = ud;
	int rc = hc_store_session_create(st, a->user, "web", a->ttl, a->addr, a->sid, a->secret);
	if (!rc)
		rc = hub_webhook_event_login(st, a->user, a->sid, "password", NULL, &a->queued);
	return rc;
}

static void reply_ok(struct hub *h, struct hub_conn *c, struct login_job *lj)
{
	char sid[HC_SID_LEN + 1], secret[HC_SECRET_LEN + 1], token[HC_TOKEN_MAX];
	char cookie[256];
	int64_t now = hc_now(), ttl = hc_cfg_int(&h->cfg, HC_CFG_SESSION_TTL);
	int64_t exp = now + hc_cfg_int(&h->cfg, HC_CFG_TOKEN_TTL);
	cJSON *o = NULL, *u;
	int rc;

	struct session_tx tx = {
		.user = lj->username, .addr = lj->addr, .ttl = ttl, .sid = sid, .secret = secret};

	rc = hc_store_tx(h->store, session_tx_fn, &tx);
	if (rc) {
		hc_err("msg=\"cannot create session\" user=%s err=%s", lj->username,
			hub_strerror(rc));
		audit(lj->username, lj->addr, "failed", "session_create", NULL, NULL);
		if (rc == HUB_ERR_NOTFOUND) /* deleted while we hashed */
			hub_http_error(c, 401, "invalid_credentials", MSG_BAD_CREDENTIALS);
		else
			hub_http_error(
				c, 503, "unavailable", "the store is not available; try again");
		hub_http_send(c);
		return;
	}
	if (tx.queued)
		hub_webhooks_wake(h->webhooks);
	/* the token never outlives the session it refers to */
	if (exp > now + ttl)
		exp = now + ttl;
	rc = hc_token_mint(h->key, "mqtt", lj->username, sid, now, exp, token, sizeof(token));
	if (!rc)
		rc = hub_cookie_format(&h->cfg, secret, ttl, cookie, sizeof(cookie));
	o = cJSON_CreateObject();
	u = o ? cJSON_AddObjectToObject(o, "user") : NULL;
	if (rc || !u || !cJSON_AddStringToObject(u, "username", lj->principal.name) ||
		!cJSON_AddStringToObject(u, "display_name", lj->principal.display_name) ||
		!cJSON_AddStringToObject(u, "role", lj->principal.role) ||
		!cJSON_AddStringToObject(o, "token", token) ||
		!cJSON_AddNumberToObject(o, "expires_at", (double)exp)) {
		hc_err("msg=\"cannot build login reply\" user=%s", lj->username);
		hc_store_session_revoke(h->store, sid, "kicked");
		audit(lj->username, lj->addr, "error", "reply", NULL, NULL);
		hub_http_error(c, 500, "internal", "the login could not be completed");
	} else {
		hub_http_json(c, 200, o);
		hub_http_header(c, "set-cookie:", cookie);
		audit(lj->username, lj->addr, "ok", NULL, sid, NULL);
	}
	cJSON_Delete(o);
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(cookie, sizeof(cookie));
	hub_http_send(c);
}

static void login_done(struct hub_job *job, void *ud)
{
	struct login_job *lj = (struct login_job *)job;
	struct hub *h = ud;
	struct hub_conn *c;

	if (!h) {
		job_free(lj);
		return;
	}
	c = hub_http_resume(h, lj->req_id);
	if (job->evicted) {
		/* a login of a better lane took its place in the queue: like a
		 * 503 for a full share, it stays charged to the address */
		int wait = retry_after_busy(h);
		hub_ratelimit_refund_keep_addr(h->rl, lj->username, lj->addr, &lj->ticket);
		hub_ratelimit_told_to_wait(h->rl, lj->addr, hc_mono_ms(), wait);
		hub_metrics_login(&h->metrics, HUB_LOGIN_BUSY);
		audit(lj->username, lj->addr, "busy", "displaced", NULL, &lim_refused);
		if (c) {
			char num[24];
			snprintf(num, sizeof(num), "%d", wait);
			hub_http_header(c, "retry-after:", num);
			hub_http_error(
				c, 503, "busy", "too many logins in progress; try again shortly");
			hub_http_send(c);
		}
		job_free(lj);
		return;
	}
	if (job->cancelled) {
		hub_ratelimit_refund(h->rl, lj->username, lj->addr, &lj->ticket);
		hub_metrics_login(&h->metrics, HUB_LOGIN_BUSY);
		audit(lj->username, lj->addr, "busy", "shutting_down", NULL, &lim_refused);
		if (c) {
			hub_http_header(c, "retry-after:", "5");
			hub_http_error(c, 503, "unavailable", "the service is shutting down");
			hub_http_send(c);
		}
		job_free(lj);
		return;
	}
	if (job->skipped) {
		/* nobody to answer and no hash spent: the charge stays, as an
		 * unanswered guess told the client nothing */
		audit(lj->username, lj->addr, "abandoned", "client_gone", NULL, &lim_refused);
		job_free(lj);
		return;
	}
	hub_metrics_hash(&h->metrics, (double)job->work_us / 1e6, (double)job->cpu_us / 1e6);
	switch (lj->result) {
	case HUB_OK:
		hub_ratelimit_success(h->rl, lj->username, lj->addr, hc_mono_ms(), &lj->ticket);
		hub_metrics_login(&h->metrics, HUB_LOGIN_OK);
		if (lj->rehash) {
			int rc = hc_store_user_rehash(
				h->store, lj->username, lj->old_hash, lj->new_hash);
			if (rc && rc != HUB_ERR_NOTFOUND)
				hc_warn("msg=\"password rehash failed\" user=%s err=%s",
					lj->username, hub_strerror(rc));
			else if (!rc)
				hc_info("msg=\"password hash upgraded\" user=%s", lj->username);
		}
		if (c)
			reply_ok(h, c, lj);
		else
			audit(lj->username, lj->addr, "ok", "client_gone", NULL, NULL);
		break;
	case HUB_ERR_AUTH:
		/* the failure was charged when the attempt was admitted */
		hub_metrics_login(&h->metrics, HUB_LOGIN_FAILED);
		audit(lj->username, lj->addr, "failed", lj->reason, NULL, &lim_failed);
		if (c) {
			hub_http_error(c, 401, "invalid_credentials", MSG_BAD_CREDENTIALS);
			hub_http_send(c);
		}
		break;
	default:
		/* our fault, not the client's: no failure counted */
		hub_ratelimit_refund(h->rl, lj->username, lj->addr, &lj->ticket);
		hc_err("msg=\"login check failed\" user=%s reason=%s err=%s", lj->username,
			lj->reason ? lj->reason : "-", hub_strerror(lj->result));
		audit(lj->username, lj->addr, "error", lj->reason, NULL, NULL);
		if (c) {
			hub_http_header(c, "retry-after:", "5");
			hub_http_error(
				c, 503, "unavailable", "the login could not be checked; try again");
			hub_http_send(c);
		}
		break;
	}
	job_free(lj);
}

int hub_route_login(struct hub *h, struct hub_conn *c)
{
	struct hub_credentials cr;
	struct login_job *lj;
	const char *why, *user;
	char num[24];
	int retry = 0, rc;
	bool impatient;
	int64_t now = hc_mono_ms();

	rc = hub_credentials_parse(c->body.buf.data, c->body.buf.len, c->ctype, &cr, &why);
	hub_body_free(&c->body); /* it held the password */
	if (rc == HUB_ERR_NOMEM) {
		hub_http_error(c, 500, "internal", "out of memory");
		return 0;
	}
	if (rc) {
		hub_http_error(c, 400, "bad_request", why);
		return 0;
	}
	/* only well-formed names are counted per user: anything else cannot
	 * be an account */
	user = cr.username_valid ? cr.username : NULL;
	if (!hub_ratelimit_allow(h->rl, user, c->addr, now, &retry)) {
		hub_metrics_login(&h->metrics, HUB_LOGIN_RATE_LIMITED);
		audit(cr.username, c->addr, "rate_limited", NULL, NULL, &lim_refused);
		snprintf(num, sizeof(num), "%d", retry);
		hub_http_header(c, "retry-after:", num);
		hub_http_error(c, 429, "rate_limited", "too many failed logins; try again later");
		goto out;
	}
	if (!cr.username_valid || cr.password_too_long) {
		struct hub_rl_ticket t;
		hub_ratelimit_charge(h->rl, user, c->addr, now, &t);
		hub_metrics_login(&h->metrics, HUB_LOGIN_FAILED);
		audit(cr.username, c->addr, "failed",
			cr.username_valid ? "password_too_long" : "invalid_username", NULL,
			&lim_failed);
		hub_http_error(c, 401, "invalid_credentials", MSG_BAD_CREDENTIALS);
		goto out;
	}
	lj = calloc(1, sizeof(*lj) + cr.password_len + 1);
	if (!lj) {
		hub_http_error(c, 500, "internal", "out of memory");
		goto out;
	}
	lj->job.work = login_work;
	lj->job.done = login_done;
	/* valid names are at most HC_NAME_MAX bytes (credentials.c) */
	memcpy(lj->username, cr.username, strnlen(cr.username, HC_NAME_MAX));
	snprintf(lj->addr, sizeof(lj->addr), "%s", c->addr);
	lj->params = h->params;
	lj->pwlen = cr.password_len;
	memcpy(lj->password, cr.password, cr.password_len);
	/* fair queueing (workpool.h): the lane from what the limiter knows
	 * before this attempt is charged, one flow per client address */
	impatient = hub_ratelimit_impatient(h->rl, lj->addr, now);
	lj->job.qi.lane = hub_ratelimit_lane(h->rl, lj->username, lj->addr, now);
	hc_addr_key(lj->addr, lj->job.qi.flow_key, sizeof(lj->job.qi.flow_key));
	/* charged and parked before the job is visible to a worker */
	hub_ratelimit_charge(h->rl, lj->username, lj->addr, now, &lj->ticket);
	lj->req_id = hub_http_wait(h, c, &lj->job.abandoned);
	rc = hub_workpool_submit(h->pool, &lj->job);
	if (rc != HUB_OK) {
		int wait = retry_after_busy(h);
		hub_http_resume(h, lj->req_id);
		/* 503s are charged to the sender (its address) when it asks for
		 * more than one login at a time (its address has its share
		 * waiting, or one waiting while the queue is full) or did not
		 * wait for the Retry-After it was given: a flood pays for its
		 * refusals and soon waits in the suspect lane or gets 429; a
		 * person trying once at a time, as told, is never charged */
		if (rc == HUB_ERR_DENIED || impatient ||
			hub_workpool_flow_waiting(h->pool, lj->job.qi.flow_key) > 0)
			hub_ratelimit_refund_keep_addr(h->rl, lj->username, lj->addr, &lj->ticket);
		else
			hub_ratelimit_refund(h->rl, lj->username, lj->addr, &lj->ticket);
		hub_ratelimit_told_to_wait(h->rl, lj->addr, now, wait);
		job_free(lj);
		hub_metrics_login(&h->metrics, HUB_LOGIN_BUSY);
		audit(cr.username, c->addr, "busy", rc == HUB_ERR_DENIED ? "address_share" : NULL,
			NULL, &lim_refused);
		snprintf(num, sizeof(num), "%d", wait);
		hub_http_header(c, "retry-after:", num);
		hub_http_error(c, 503, "busy", "too many logins in progress; try again shortly");
		goto out;
	}
out:
	hub_credentials_free(&cr);
	return 0;
}
