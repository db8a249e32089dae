/* SPDX-License-Identifier: MIT */
/*
 * CONNECT authentication (MOSQ_EVT_BASIC_AUTH): users with the contract's
 * token, devices with their secret, backends (services) with their service
 * key, the hub's processes with a service token. Decided from memory (token key, directory): no
 * store access here. Returns only MOSQ_ERR_SUCCESS or MOSQ_ERR_AUTH (anything else makes the broker
 * drop the socket without a CONNACK).
 */
#include "hauth.h"
#include "hc_log.h"
#include "hc_names.h"
#include "hc_store.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A token for a session the directory has not seen yet is accepted when it
 * was minted this recently (the store follower catches up within
 * refresh_ms); the session is then checked on later ticks. */
#define FRESH_TOKEN_S 30

/* Refused connects come from unauthenticated clients: rate-limited lines
 * (hc_log.h), and a username that is not a well-formed name (a password
 * typed into the wrong field) only as a fingerprint (hc_log_user). */
static struct hc_log_limit lim_denied = HC_LOG_LIMIT("connect_denied");

/* The client address of the CONNECT being decided: the peer's, or, for a
 * browser relayed by hubd's WebSocket front, the address the front put in
 * the token it minted (hc_token.h "addr"; a signed claim only holders of
 * the key can make). Set by hauth_auth__basic; the broker's thread only. */
static char claimed_addr[HC_TOKEN_ADDR_MAX + 1];

static const char *client_addr(struct mosquitto *client)
{
	/* the browser's, when hubd's front vouched for it in the token; else
	 * the socket's peer (never a WebSocket client's X-Forwarded-For
	 * claim, which 2.0.15+ reports as the client's address) */
	static char peer[48];
	if (claimed_addr[0])
		return claimed_addr;
	hauth_layout__peer_addr(client, peer, sizeof(peer));
	return peer[0] ? peer : "-";
}

static int deny(struct hauth *h, struct mosquitto *client, const char *username, const char *reason)
{
	char id[96], user[HC_LOG_USER_MAX], addr_safe[64];
	h->stats.auth_denied++;
	hc_log_limited(&lim_denied, HC_LOG_INFO, "%s/%s | connect | denied reason=%s addr=%s",
		hc_log_safe(mosquitto_client_id(client), id, sizeof(id)),
		hc_log_user(username, username ? strlen(username) : 0, user), reason,
		hc_log_safe(client_addr(client), addr_safe, sizeof(addr_safe)));
	return MOSQ_ERR_AUTH;
}

/* Session state for a user token: NULL if acceptable, else a reason. */
static const char *session_problem(struct hauth *h, const struct hc_token_claims *tc, bool *seen)
{
	const struct hc_dir_session *s = hc_dir_session(h->dir, tc->sid);
	*seen = s != NULL;
	if (!s)
		return hc_now() - tc->iat <= FRESH_TOKEN_S ? NULL : "unknown-session";
	if (strcmp(s->principal, tc->sub) != 0)
		return "session-mismatch";
	if (s->revoked_at)
		return "revoked";
	if (hc_now() >= s->expires_at)
		return "session-expired";
	return NULL;
}

/* SIGHUP makes the broker call BASIC_AUTH again for every session it keeps
 * (live or stored) with its stored credentials and its broker id. A CONNECT
 * read in the same loop pass is a new connection: its state is still
 * "new" (mosq_cs_new = 0). Without a confirmed layout, everything asked
 * during the reload is taken for a re-check. */
static bool reauth_of_kept_session(struct hauth *h, struct mosquitto *client)
{
	int sock, state;
	if (!h->reloading)
		return false;
	if (hauth_layout__sock_state(client, &sock, &state))
		return state != 0;
	return true;
}

int hauth_auth__basic(
	struct hauth *h, struct mosquitto *client, const char *username, const char *password)
{
	const char *id = mosquitto_client_id(client);
	const struct hc_dir_principal *dp = NULL;
	struct hauth_client *c = hauth_clients__find(h, client);
	struct hc_token_claims tc;
	unsigned char digest[SHA256_DIGEST_LENGTH];
	const char *why = NULL, *problem, *name, *addr;
	char peer[48];
	bool seen = false, service, reauth, scoped;
	int kind, rc;
	/* on a broker reload the same live connection is asked again with the
	 * password it connected with: its token may have expired since, which
	 * must not end a connection whose session is alive */
	int64_t now = h->reloading ? HC_TOKEN_ANY_TIME : hc_now();

	claimed_addr[0] = '\0';
	reauth = reauth_of_kept_session(h, client);
	if (!username)
		return deny(h, client, "-", "anonymous");
	/* a kept session's id is the broker's (scoped: it has a '/') */
	if (!reauth && !hc_clientid_valid(id))
		return deny(h, client, username, "bad-client-id");
	service = strcmp(username, HC_SERVICE_PRINCIPAL) == 0;
	if (!strcmp(username, HC_LINK_PRINCIPAL)) {
		/* another broker's bridge (link.c): only with the link secret */
		if (!password || !hauth_link__password_ok(h, password))
			return deny(h, client, username, "bad-link-key");
		if (reauth)
			return MOSQ_ERR_SUCCESS;
		id = mosquitto_client_id(client);
		if (c && !c->gone)
			hauth_clients__gone(h, c);
		hauth_clients__mark_replaced(h, id);
		c = hauth_clients__add(h, client, id, HC_LINK_PRINCIPAL, HAUTH_LINK);
		if (!c)
			return deny(h, client, username, "out-of-memory");
		h->stats.auth_ok++;
		hauth_link__connected(h, c);
		{
			char idbuf[96];
			hauth_layout__peer_addr(client, peer, sizeof(peer));
			hc_info("%s/%s | connect | ok kind=link addr=%s",
				hc_log_safe(id, idbuf, sizeof(idbuf)), HC_LINK_PRINCIPAL,
				peer[0] ? peer : "-");
		}
		return MOSQ_ERR_SUCCESS;
	}
	if (!service && !hc_name_valid(username))
		return deny(h, client, username, "bad-username");
	if (!password) {
		/* mosquitto does not save passwords: a session restored from its
		 * persistence file has none when a reload asks again. It is judged
		 * as a stored session (its identity, clientid.c), not dropped. */
		if (reauth && id && !hauth_clientid__stored_problem(h, id, username))
			return MOSQ_ERR_SUCCESS;
		return deny(h, client, username, "no-password");
	}

	if (service) {
		rc = hc_token_verify(h->key, password, strlen(password), now, "service", &tc, &why);
		if (rc)
			return deny(h, client, username, why);
		if (strcmp(tc.sub, HC_SERVICE_PRINCIPAL) != 0)
			return deny(h, client, username, "sub-mismatch");
		kind = HAUTH_SERVICE;
	} else {
		dp = hc_dir_principal(h->dir, username, strlen(username));
		if (!dp)
			return deny(h, client, username, "unknown-principal");
		if (dp->kind == HC_KIND_DEVICE || dp->kind == HC_KIND_SERVICE) {
			/* a device secret or a service key is 256 random bits: a
			 * fast hash is enough and keeps this thread free */
			SHA256((const unsigned char *)password, strlen(password), digest);
			if (!dp->has_secret ||
				!hc_ct_equal(digest, dp->secret_hash, sizeof(digest)))
				return deny(h, client, username,
					dp->kind == HC_KIND_DEVICE ? "bad-secret" : "bad-key");
			kind = dp->kind == HC_KIND_DEVICE ? HAUTH_DEVICE : HAUTH_APP;
		} else {
			rc = hc_token_verify(
				h->key, password, strlen(password), now, "mqtt", &tc, &why);
			if (rc)
				return deny(h, client, username, why);
			memcpy(claimed_addr, tc.addr, sizeof(claimed_addr));
			if (strcmp(tc.sub, username) != 0)
				return deny(h, client, username, "sub-mismatch");
			problem = session_problem(h, &tc, &seen);
			if (problem)
				return deny(h, client, username, problem);
			kind = HAUTH_USER;
		}
	}

	if (reauth) {
		/* a known live connection stays; a stored offline session passes
		 * but is not a connection, so it is not registered */
		return MOSQ_ERR_SUCCESS;
	}
	name = service ? HC_SERVICE_PRINCIPAL : username;
	/* the socket's peer, looked up once per CONNECT (a system call) */
	hauth_layout__peer_addr(client, peer, sizeof(peer));
	addr = claimed_addr[0] ? claimed_addr : peer[0] ? peer : "-";
	{
		/* the id this connection will have (scoped below): a CONNECT
		 * that takes over a connection of its own frees that one */
		char *bid = NULL;
		size_t n = strlen(name) + strlen(id) + 20;
		const char *limit;
		if (hauth_layout__known(client) && !hauth_clientid__auto_shaped(id) &&
			(bid = malloc(n)) != NULL &&
			hauth_clientid__format(bid, n, name, dp ? dp->created_at : 0, id)) {
			free(bid);
			bid = NULL;
		}
		limit = hauth_limits__admit(h, addr, name, bid ? bid : id);
		free(bid);
		if (limit)
			return deny(h, client, username, limit);
	}
	/* a client id belongs to an identity (clientid.c): scoped, no other
	 * identity can reach it. An id kept as sent belongs to the identity
	 * holding it: a CONNECT of another identity would take over its live
	 * connection (mosquitto closes the old one) or its stored session and
	 * queued messages. An owner since deleted no longer holds anything. */
	scoped = hauth_clientid__scope(h, client, name);
	if (!scoped) {
		const char *holder = hauth_clients__id_holder(h, id);
		if (holder && strcmp(holder, name) != 0 &&
			(!strcmp(holder, HC_SERVICE_PRINCIPAL) ||
				hc_dir_principal(h->dir, holder, strlen(holder))))
			return deny(h, client, username, "client-id-in-use");
	}
	id = mosquitto_client_id(client); /* the broker's id from here on */
	hauth_limits__stored_back(h, name, id);
	if (c && !c->gone) {
		/* a second CONNECT on one context cannot happen in MQTT; treat a
		 * stale entry defensively as replaced */
		hauth_clients__gone(h, c);
	}
	/* session takeover: mosquitto sends the old connection's will before
	 * its DISCONNECT; that will is judged like the will of an ended one */
	hauth_clients__mark_replaced(h, id);
	c = hauth_clients__add(h, client, id, name, kind);
	if (!c)
		return deny(h, client, username, "out-of-memory");
	hauth_limits__up(h, c, addr);
	if (!scoped)
		hauth_clients__id_claim(
			h, id, c->owner->name, mosquitto_client_clean_session(client));
	c->websocket = mosquitto_client_protocol(client) == mp_websockets;
	c->protocol_version = mosquitto_client_protocol_version(client);
	c->keepalive = mosquitto_client_keepalive(client);
	if (kind == HAUTH_USER) {
		snprintf(c->sid, sizeof(c->sid), "%s", tc.sid);
		c->session_seen = seen;
	} else if (kind == HAUTH_DEVICE || kind == HAUTH_APP) {
		memcpy(c->secret_hash, digest, sizeof(c->secret_hash));
	}
	h->stats.auth_ok++;
	{
		char sid_tag[9] = "-", idbuf[96], claimed[80] = "";
		const char *said = mosquitto_client_address(client);
		if (kind == HAUTH_USER && hc_log_enabled(HC_LOG_INFO))
			hc_log_fingerprint(tc.sid, strlen(tc.sid), sid_tag);
		/* the broker's own lines show a WebSocket client's X-Forwarded-For
		 * (2.0.15+): say what the socket says, and what was claimed */
		if (c->websocket && said && strcmp(said, peer) != 0 &&
			!(!strncmp(said, "::ffff:", 7) && !strcmp(said + 7, peer))) {
			char safe[64];
			snprintf(claimed, sizeof(claimed), " claimed=\"%s\"",
				hc_log_safe(said, safe, sizeof(safe)));
		}
		hc_info("%s/%s | connect | ok kind=%s proto=%s%d session=%s addr=%s%s%s",
			hc_log_safe(hauth_clientid__external(id), idbuf, sizeof(idbuf)), c->name,
			kind == HAUTH_USER     ? "user"
			: kind == HAUTH_DEVICE ? "device"
			: kind == HAUTH_APP    ? "app"
					       : "service",
			c->websocket ? "ws/" : "", c->protocol_version, sid_tag, addr, claimed,
			scoped ? "" : " id=unscoped");
	}
	return MOSQ_ERR_SUCCESS;
}
