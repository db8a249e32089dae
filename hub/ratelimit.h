/* SPDX-License-Identifier: MIT */
/*
 * Failed-login limiter, in memory. Three sliding windows of
 * login_fail_window seconds count failures: per (username, address) pair,
 * per client address (IPv6 by /64), and per username from addresses that
 * have not logged in as that user in the last 30 days. Each window is kept
 * as 16 time slots, so counts age out smoothly and every block ends at the
 * latest one window after the failures that caused it.
 *
 * An attempt is charged as a failure when it is admitted (so attempts still
 * waiting for a hash worker count too) and refunded when it succeeds.
 * Tables are bounded; when full the least recently used entry goes.
 * Not thread-safe: the lws thread only.
 */
#ifndef HUB_RATELIMIT_H
#define HUB_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

struct hc_config;
struct hub_ratelimit;

#define HUB_RL_KNOWN_DAYS 30 /* a successful address is trusted this long */

/* What an admitted attempt was charged, to refund it later. */
struct hub_rl_ticket {
	int64_t slot; /* absolute slot number at charge time */
	bool pair, addr, user;
};

/* Limits from cfg (login_fail_*). HUB_OK or HUB_ERR_NOMEM. */
int hub_ratelimit_new(const struct hc_config *cfg, struct hub_ratelimit **out);
void hub_ratelimit_free(struct hub_ratelimit *rl);

/*
 * Whether an attempt by user (NULL when the name is not a valid username:
 * only the address counts then) from addr may go ahead at now_ms
 * (monotonic). When it may not, *retry_after gets the whole seconds until
 * the block that applies ends (at least 1).
 */
bool hub_ratelimit_allow(struct hub_ratelimit *rl, const char *user, const char *addr,
	int64_t now_ms, int *retry_after);
/* Count the attempt as a failure now; t remembers what was charged. */
void hub_ratelimit_charge(struct hub_ratelimit *rl, const char *user, const char *addr,
	int64_t now_ms, struct hub_rl_ticket *t);
/* The attempt succeeded: refund its charge, forget the pair's failures and
 * remember addr as a known address of user. */
void hub_ratelimit_success(struct hub_ratelimit *rl, const char *user, const char *addr,
	int64_t now_ms, const struct hub_rl_ticket *t);
/* The attempt never got an answer (server error, shutdown): refund. */
void hub_ratelimit_refund(struct hub_ratelimit *rl, const char *user, const char *addr,
	const struct hub_rl_ticket *t);
/* The attempt was turned away because its address already had its share
 * of the login queue: it stays charged to the address (a flood pays for
 * its 503s), the user and the pair get it back. */
void hub_ratelimit_refund_keep_addr(
	struct hub_ratelimit *rl, const char *user, const char *addr, struct hub_rl_ticket *t);

/* Login queue lanes (workpool.h), best first. */
enum hub_rl_lane {
	HUB_LANE_KNOWN = 0,  /* user logged in from this address before, no failure since */
	HUB_LANE_NEW = 1,    /* anyone else whose address has few recent failures */
	HUB_LANE_SUSPECT = 2 /* the address failed HUB_RL_SUSPECT_FAILS times in the window,
				or asks again before its Retry-After */
};
#define HUB_RL_SUSPECT_FAILS 3

/* addr was answered 503 with Retry-After: seconds. */
void hub_ratelimit_told_to_wait(
	struct hub_ratelimit *rl, const char *addr, int64_t now_ms, int seconds);
/* Whether addr asks again before the Retry-After it was given: a client
 * that ignores it (a flood) is charged for its 503s and waits in the
 * suspect lane; one that honours it never is. */
bool hub_ratelimit_impatient(struct hub_ratelimit *rl, const char *addr, int64_t now_ms);

/* The lane of an attempt by user (NULL: malformed name) from addr, from
 * what the limiter knows before charging it. */
int hub_ratelimit_lane(
	struct hub_ratelimit *rl, const char *user, const char *addr, int64_t now_ms);

#endif
