/* SPDX-License-Identifier: MIT */
/*
 * The WebSocket front for MQTT (front.h): upgrade checks, the relay
 * between a browser's WebSocket and its own TCP connection to the broker,
 * and the CONNECT it rewrites.
 *
 * A struct conn is shared by the two lws connections (each holds it as
 * its opaque user data) and freed when both are gone, so what one side
 * still has to deliver (a DISCONNECT the browser sent just before its
 * close frame, the broker's DISCONNECT before it closes) goes out before
 * the other side is closed.
 *
 * Bytes move without copies while nothing waits: a chunk read from one
 * side is written to the other at once (lws keeps what the kernel did not
 * take). Only while the other side has something pending is a chunk kept
 * in the connection's buffer, and the side it came from is not read until
 * that is written: at most one chunk (4 KiB) per direction.
 */
#include "front.h"
#include "addr.h"
#include "cookie.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_names.h"
#include "hc_store.h"
#include "hc_token.h"
#include "hc_util.h"
#include "hc_web.h"
#include "http.h"
#include "hub.h"
#include "mqttpkt.h"
#include "origin.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* a kept chunk grows to this at most (lws hands out at most one read
 * buffer per callback and none after rx flow control is off) */
#define CHUNK_MAX (64 * 1024)

struct pending {
	unsigned char *buf; /* LWS_PRE + len bytes */
	size_t len;
};

/* Until its CONNECT went to the broker: what the upgrade carried. */
struct pre {
	char cookie[HC_SECRET_LEN + 1]; /* "" if none */
	unsigned char *buf;		/* bytes received so far, LWS_PRE before */
	size_t len, cap;
};

struct conn {
	int kind;	     /* HUB_WS_MQTT (hub.h): the first member */
	struct lws *ws;	     /* the browser's WebSocket; NULL once it closed */
	struct lws *broker;  /* TCP to the broker; NULL before and after */
	struct pre *pre;     /* until the CONNECT is forwarded */
	struct pending up;   /* browser -> broker, waiting */
	struct pending down; /* broker -> browser, waiting */
	char addr[HUB_ADDR_MAX];
	char key[HUB_ADDR_MAX + 4]; /* limit key (addr.h) */
	int version;		    /* MQTT level of the CONNECT */
	bool counted;
	bool broker_up;	   /* TCP to the broker established */
	bool broker_ended; /* the broker side is gone (or never came) */
	bool ws_ended;	   /* the WebSocket side closed */
	bool close_ws;	   /* close the WebSocket once down is written */
	bool close_broker; /* close the broker once up is written */
	bool unavailable;  /* answer CONNACK "server unavailable", then close */
};

static struct hc_log_limit lim_refused = HC_LOG_LIMIT("front_refused");

/* ------------------------------------------------------------ state */

int hub_front_init(struct hub *h, char *err, size_t errsz)
{
	struct addrinfo hints, *res = NULL;
	char port[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	snprintf(port, sizeof(port), "%lld", (long long)hc_cfg_int(&h->cfg, HC_CFG_MQTT_PORT));
	/* resolved once here: connects never wait for a name lookup */
	rc = getaddrinfo(hc_cfg_str(&h->cfg, HC_CFG_MQTT_HOST), port, &hints, &res);
	if (rc || !res) {
		snprintf(err, errsz, "mqtt_host %s: %s", hc_cfg_str(&h->cfg, HC_CFG_MQTT_HOST),
			gai_strerror(rc));
		return HUB_ERR_CONFIG;
	}
	memcpy(&h->front.broker_addr, res->ai_addr, res->ai_addrlen);
	h->front.broker_addrlen = res->ai_addrlen;
	h->front.broker_family = res->ai_family;
	freeaddrinfo(res);
	{
		/* hub-bridge listens on bind_address too */
		const char *b = hc_cfg_str(&h->cfg, HC_CFG_BIND_ADDRESS);
		if (!strcmp(b, "0.0.0.0") || !*b)
			b = "127.0.0.1";
		else if (!strcmp(b, "::") || !strcmp(b, "[::]"))
			b = "::1";
		snprintf(h->front.sio_host, sizeof(h->front.sio_host), "%s", b);
	}
	rc = hc_token_key_tag(h->key, "hub-front", h->front.tag, sizeof(h->front.tag));
	if (rc) {
		snprintf(err, errsz, "cannot derive the front's tag: %s", hub_strerror(rc));
		return rc;
	}
	hc_hmap_init(&h->front.by_addr);
	h->front.max = (int)hc_cfg_int(&h->cfg, HC_CFG_FRONT_CONNS_MAX);
	h->front.per_addr = (int)hc_cfg_int(&h->cfg, HC_CFG_FRONT_CONNS_PER_ADDRESS);
	return HUB_OK;
}

void hub_front_free(struct hub *h)
{
	hc_hmap_clear(&h->front.by_addr);
}

int hub_front_live(const struct hub *h)
{
	return h->front.live;
}

static int addr_count(struct hub *h, const char *key)
{
	return (int)(intptr_t)hc_hmap_get(&h->front.by_addr, key, strlen(key));
}

void hub_front_count(struct hub *h, const char *key, int delta)
{
	int n = addr_count(h, key) + delta;

	h->front.live += delta;
	if (n <= 0)
		hc_hmap_del(&h->front.by_addr, key, strlen(key));
	else if (hc_hmap_put(&h->front.by_addr, key, strlen(key), (void *)(intptr_t)n, NULL))
		hc_warn("msg=\"out of memory counting front connections per address\"");
}

/* ------------------------------------------------------------ upgrades */

static bool hdr(struct lws *wsi, enum lws_token_indexes tok, char *out, size_t n)
{
	int len = lws_hdr_total_length(wsi, tok);

	out[0] = '\0';
	if (len <= 0 || (size_t)len >= n)
		return false;
	return lws_hdr_copy(wsi, out, (int)n, tok) > 0;
}

static bool on_ws_port(struct hub *h, struct lws *wsi)
{
	return h->vh_ws && lws_get_vhost(wsi) == h->vh_ws;
}

enum hub_upgrade_kind hub_front_upgrade_kind(struct hub *h, struct lws *wsi)
{
	char uri[HUB_SIO_PATH_MAX];

	if (on_ws_port(h, wsi))
		return HUB_UPG_MQTT;
	if (!hdr(wsi, WSI_TOKEN_GET_URI, uri, sizeof(uri)))
		return HUB_UPG_NONE;
	if (!strcmp(uri, "/mqtt"))
		return HUB_UPG_MQTT;
	if (!strcmp(uri, "/socket.io") || !strncmp(uri, "/socket.io/", 11))
		return HUB_UPG_SIO;
	return HUB_UPG_NONE;
}

/* The session cookie may come with an upgrade only from our own pages:
 * the same origin, hubd's own origin on the same host (a dashboard page
 * opening the ws_port), or a trusted_origins entry. No Origin at all is
 * not a browser. */
bool hub_front_origin_ours(struct hub *h, struct lws *wsi)
{
	char origin[HC_ORIGIN_MAX + 1], host[HUB_HOST_MAX], alt[HUB_HOST_MAX + 16];
	char *colon;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) <= 0)
		return true;
	if (!hdr(wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin)))
		return false;
	hdr(wsi, WSI_TOKEN_HOST, host, sizeof(host));
	if (hub_origin_allowed(&h->cfg, origin, host[0] ? host : NULL, NULL))
		return true;
	if (!on_ws_port(h, wsi) || !host[0])
		return false;
	/* host:ws_port -> host:http_port */
	colon = host[0] == '[' ? strchr(host, ']') : strchr(host, ':');
	if (colon && *colon == ']')
		colon = colon[1] == ':' ? colon + 1 : NULL;
	if (colon)
		*colon = '\0';
	if (hc_fmt(alt, sizeof(alt), "%s:%lld", host,
		    (long long)hc_cfg_int(&h->cfg, HC_CFG_HTTP_PORT)))
		return false;
	return hub_origin_allowed(&h->cfg, origin, alt, NULL);
}

static bool has_cookie(struct lws *wsi, char out[HC_SECRET_LEN + 1])
{
	char cookies[4096];
	return hdr(wsi, WSI_TOKEN_HTTP_COOKIE, cookies, sizeof(cookies)) &&
	       hc_cookie_find(cookies, out);
}

/* An HTTP answer to an upgrade request, then lws hangs up (-1). */
static int refuse(struct lws *wsi, int status, const char *code, const char *msg, int retry_after)
{
	unsigned char buf[LWS_PRE + 1024], *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	char body[256], ra[16];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":\"%s\"}", code, msg);

	if (lws_add_http_header_status(wsi, (unsigned)status, &p, end) ||
		lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
			(const unsigned char *)"application/json", 16, &p, end) ||
		lws_add_http_header_content_length(wsi, (lws_filepos_t)n, &p, end) ||
		lws_add_http_header_by_token(
			wsi, WSI_TOKEN_CONNECTION, (const unsigned char *)"close", 5, &p, end))
		return -1;
	if (retry_after > 0) {
		snprintf(ra, sizeof(ra), "%d", retry_after);
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
			    (const unsigned char *)ra, (int)strlen(ra), &p, end))
			return -1;
	}
	if (lws_finalize_http_header(wsi, &p, end) || (size_t)(end - p) < (size_t)n)
		return -1;
	memcpy(p, body, (size_t)n);
	p += n;
	lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_HEADERS);
	hub_metrics_http(&hub_from_wsi(wsi)->metrics, status);
	return -1;
}

int hub_front_confirm_upgrade(struct hub *h, struct lws *wsi, const char *upgrade)
{
	char cookie[HC_SECRET_LEN + 1], addr[HUB_ADDR_MAX], key[HUB_ADDR_MAX + 4];
	enum hub_upgrade_kind kind;

	if (!upgrade || strcasecmp(upgrade, "websocket"))
		return refuse(wsi, 400, "bad_request", "only WebSocket upgrades are served", 0);
	kind = hub_front_upgrade_kind(h, wsi);
	if (kind == HUB_UPG_NONE)
		return refuse(wsi, 404, "not_found", "no WebSocket endpoint at this path", 0);
	hub_client_addr(wsi, h->proxies, addr, sizeof(addr));
	if (has_cookie(wsi, cookie) && !hub_front_origin_ours(h, wsi)) {
		char o[HC_ORIGIN_MAX + 1], safe[96];
		h->metrics.front_refused[HUB_FRONT_REFUSED_ORIGIN]++;
		hdr(wsi, WSI_TOKEN_ORIGIN, o, sizeof(o));
		hc_log_limited(&lim_refused, HC_LOG_INFO,
			"msg=\"websocket refused: session cookie from a foreign origin\" "
			"origin=\"%s\" "
			"addr=%s",
			hc_log_safe(o, safe, sizeof(safe)), addr);
		OPENSSL_cleanse(cookie, sizeof(cookie));
		return refuse(wsi, 403, "forbidden_origin",
			"the session cookie may not be used from another origin", 0);
	}
	OPENSSL_cleanse(cookie, sizeof(cookie));
	if (h->stopping)
		return refuse(wsi, 503, "unavailable", "the service is shutting down", 5);
	if (h->front.max > 0 && h->front.live >= h->front.max) {
		h->metrics.front_refused[HUB_FRONT_REFUSED_FULL]++;
		hc_log_limited(&lim_refused, HC_LOG_WARN,
			"msg=\"websocket refused: front_conns_max reached\" max=%d addr=%s",
			h->front.max, addr);
		return refuse(wsi, 503, "busy", "too many connections; try again", 5);
	}
	hc_addr_key(addr, key, sizeof(key));
	if (h->front.per_addr > 0 && addr_count(h, key) >= h->front.per_addr) {
		h->metrics.front_refused[HUB_FRONT_REFUSED_ADDRESS]++;
		hc_log_limited(&lim_refused, HC_LOG_INFO,
			"msg=\"websocket refused: front_conns_per_address reached\" max=%d addr=%s",
			h->front.per_addr, addr);
		return refuse(
			wsi, 429, "rate_limited", "too many connections from this address", 5);
	}
	return 0;
}

/* ------------------------------------------------------------ buffers */

/* Keep a chunk (appended to what waits). HUB_OK, or an error: the
 * connection is to close. */
static int keep(struct pending *q, const void *in, size_t len)
{
	unsigned char *b;

	if (len > CHUNK_MAX - q->len)
		return HUB_ERR_TOOBIG;
	b = realloc(q->buf, LWS_PRE + q->len + len);
	if (!b)
		return HUB_ERR_NOMEM;
	memcpy(b + LWS_PRE + q->len, in, len);
	q->buf = b;
	q->len += len;
	return HUB_OK;
}

static void drop(struct pending *q)
{
	free(q->buf);
	q->buf = NULL;
	q->len = 0;
}

static void pre_free(struct pre *p)
{
	if (!p)
		return;
	if (p->buf)
		OPENSSL_cleanse(p->buf + LWS_PRE, p->len);
	free(p->buf);
	OPENSSL_cleanse(p->cookie, sizeof(p->cookie));
	free(p);
}

static void conn_free(struct hub *h, struct conn *c)
{
	if (c->counted) {
		c->counted = false;
		hub_front_count(h, c->key, -1);
	}
	pre_free(c->pre);
	if (c->up.buf) /* a CONNECT may still be in it: it has a token */
		OPENSSL_cleanse(c->up.buf + LWS_PRE, c->up.len);
	drop(&c->up);
	drop(&c->down);
	free(c);
}

/* Both sides gone: the connection's memory goes. */
static void maybe_free(struct hub *h, struct conn *c)
{
	if (!c->ws && !c->broker)
		conn_free(h, c);
}

/* ------------------------------------------------------------ broker side */

/* Write what waits for the broker; 0, or -1 if the broker connection is to
 * close. Called when the broker socket is writeable (or fresh). */
static int up_flush(struct conn *c)
{
	if (!c->up.len)
		return 0;
	if (lws_write(c->broker, c->up.buf + LWS_PRE, c->up.len, LWS_WRITE_RAW) < 0)
		return -1;
	OPENSSL_cleanse(c->up.buf + LWS_PRE, c->up.len > 512 ? 512 : c->up.len);
	drop(&c->up);
	return 0;
}

/* Resume reading the browser once nothing waits for the broker. */
static void up_resume(struct conn *c)
{
	if (c->ws && !c->ws_ended && !c->up.len && !c->pre)
		lws_rx_flow_control(c->ws, 1);
}

/* Open the TCP connection to the broker (non-blocking) and adopt it into
 * the loop. HUB_OK or an error (the browser gets "server unavailable"). */
static int broker_open(struct hub *h, struct conn *c)
{
	lws_adopt_desc_t ad;
	lws_sock_file_fd_type fd;
	int s, one = 1;

	s = socket(h->front.broker_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return HUB_ERR_IO;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (struct sockaddr *)&h->front.broker_addr, h->front.broker_addrlen) &&
		errno != EINPROGRESS) {
		close(s);
		return HUB_ERR_IO;
	}
	memset(&ad, 0, sizeof(ad));
	fd.sockfd = s;
	ad.vh = lws_get_vhost(c->ws);
	ad.type = LWS_ADOPT_SOCKET;
	ad.fd = fd;
	ad.vh_prot_name = "hub-front-broker";
	ad.opaque = c;
	c->broker = lws_adopt_descriptor_vhost_via_info(&ad);
	if (!c->broker) /* lws closed the socket */
		return HUB_ERR_NOMEM;
	/* writeable once connected (on loopback usually at once) */
	lws_callback_on_writable(c->broker);
	return HUB_OK;
}

int hub_front_broker_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct conn *c = lws_get_opaque_user_data(wsi);
	struct hub *h = hub_from_wsi(wsi);

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (!c)
			return -1;
		if (!c->broker_up) {
			int e = 0;
			socklen_t el = sizeof(e);
			if (getsockopt(
				    (int)lws_get_socket_fd(wsi), SOL_SOCKET, SO_ERROR, &e, &el) ||
				e) {
				hc_log_limited(&lim_refused, HC_LOG_WARN,
					"msg=\"broker not reachable\" err=\"%s\"", strerror(e));
				return -1;
			}
			c->broker_up = true;
		}
		if (up_flush(c))
			return -1;
		if (lws_partial_buffered(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
		if (c->close_broker)
			return -1; /* all of the browser's bytes are out */
		up_resume(c);
		return 0;
	case LWS_CALLBACK_RAW_RX:
		if (!c || !c->ws || c->ws_ended)
			return c && !c->close_broker ? -1 : 0; /* nobody to hand it to */
		/* straight through while nothing waits; else keep it and stop
		 * reading the broker until the browser took it */
		if (!c->down.len && !lws_partial_buffered(c->ws)) {
			if (lws_write(c->ws, in, len, LWS_WRITE_BINARY) < 0) {
				c->close_ws = true;
				lws_callback_on_writable(c->ws);
				return -1;
			}
			if (!lws_partial_buffered(c->ws))
				return 0;
			lws_rx_flow_control(wsi, 0);
			lws_callback_on_writable(c->ws);
			return 0;
		}
		if (keep(&c->down, in, len))
			return -1;
		lws_rx_flow_control(wsi, 0);
		lws_callback_on_writable(c->ws);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE:
		if (!c)
			return 0;
		c->broker = NULL;
		c->broker_ended = true;
		if (c->ws && !c->ws_ended) {
			/* what the broker sent last (a DISCONNECT) goes out first */
			if (!c->broker_up)
				c->unavailable = true;
			c->close_ws = true;
			lws_callback_on_writable(c->ws);
		}
		lws_set_opaque_user_data(wsi, NULL);
		maybe_free(h, c);
		return 0;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ CONNECT */

/* The password the CONNECT goes on with: a fresh token for the cookie's
 * session, the token re-minted with the browser's address, or (NULL) the
 * client's own password unchanged. */
static const char *password_for(struct hub *h, struct conn *c, const unsigned char *p,
	const struct hub_mqtt_connect *m, const char *user, char *tok, size_t toksz,
	const char **via)
{
	int64_t now = hc_now();

	*via = "as-sent";
	if (!m->has_user || !user[0] || strlen(user) != m->user_len || !hc_name_valid(user))
		return NULL;
	if (m->has_pass && m->pass_len > 0) {
		/* a user's token: the same again with the browser's address
		 * (same session, issue and expiry time). Anything else (a
		 * device secret, a bad token) goes to the broker as it is */
		struct hc_token_claims tc;
		if (m->pass_len > HC_TOKEN_MAX ||
			hc_token_verify(h->key, (const char *)p + m->pass_off + 2, m->pass_len, now,
				"mqtt", &tc, NULL) != HUB_OK ||
			strcmp(tc.sub, user) ||
			hc_token_mint_addr(h->key, "mqtt", tc.sub, tc.sid, tc.iat ? tc.iat : now,
				tc.exp, c->addr, tok, toksz) != HUB_OK) {
			OPENSSL_cleanse(&tc, sizeof(tc));
			return NULL;
		}
		OPENSSL_cleanse(&tc, sizeof(tc));
		*via = "token";
		return tok;
	}
	/* no password: the session of the upgrade's cookie, if it is this
	 * user's and alive now */
	if (c->pre->cookie[0]) {
		struct hc_session s;
		int64_t exp;
		int rc = hc_store_session_by_secret(h->store, c->pre->cookie, now, &s);
		if (rc != HUB_OK) {
			char fp[9];
			hc_log_fingerprint(c->pre->cookie, HC_SECRET_LEN, fp);
			hc_debug("msg=\"websocket cookie refused\" cookie=%s why=%s addr=%s", fp,
				hub_strerror(rc), c->addr);
			return NULL;
		}
		if (strcmp(s.principal, user)) {
			hc_debug("msg=\"websocket cookie of another user\" user=%s addr=%s", user,
				c->addr);
			return NULL;
		}
		exp = now + hc_cfg_int(&h->cfg, HC_CFG_TOKEN_TTL);
		if (exp > s.expires_at)
			exp = s.expires_at;
		if (exp <= now || hc_token_mint_addr(h->key, "mqtt", s.principal, s.sid, now, exp,
					  c->addr, tok, toksz) != HUB_OK)
			return NULL;
		*via = "cookie";
		return tok;
	}
	return NULL;
}

/* The first bytes of the browser: once the CONNECT is whole, put it (with
 * its new password) and whatever followed it in up, and open the broker
 * connection. 0, or -1 to close the WebSocket. */
static int pre_receive(struct hub *h, struct conn *c, const void *in, size_t len)
{
	struct pre *pr = c->pre;
	struct hub_mqtt_connect m;
	char tok[HC_TOKEN_MAX + 1], user[HC_NAME_MAX + 1];
	const char *pw, *via;
	size_t rest;
	int rc;

	if (len > HUB_FRONT_CONNECT_MAX - pr->len)
		goto too_big;
	if (pr->len + len > pr->cap) {
		size_t cap = pr->cap ? pr->cap * 2 : 512;
		unsigned char *b;
		while (cap < pr->len + len)
			cap *= 2;
		if (cap > HUB_FRONT_CONNECT_MAX)
			cap = HUB_FRONT_CONNECT_MAX;
		b = realloc(pr->buf, LWS_PRE + cap);
		if (!b)
			return -1;
		pr->buf = b;
		pr->cap = cap;
	}
	memcpy(pr->buf + LWS_PRE + pr->len, in, len);
	pr->len += len;
	rc = hub_mqttpkt_connect(pr->buf + LWS_PRE, pr->len, HUB_FRONT_CONNECT_MAX, &m);
	if (rc == HUB_MQTTPKT_MORE)
		return 0;
	if (rc == HUB_ERR_TOOBIG)
		goto too_big;
	if (rc) {
		hc_log_limited(&lim_refused, HC_LOG_INFO,
			"msg=\"websocket closed: the first packet is not a CONNECT\" addr=%s",
			c->addr);
		lws_close_reason(c->ws, LWS_CLOSE_STATUS_PROTOCOL_ERR, NULL, 0);
		return -1;
	}
	c->version = m.version;
	user[0] = '\0';
	if (m.has_user && m.user_len <= HC_NAME_MAX) {
		memcpy(user, pr->buf + LWS_PRE + m.user_off + 2, m.user_len);
		user[m.user_len] = '\0';
	}
	pw = password_for(h, c, pr->buf + LWS_PRE, &m, user, tok, sizeof(tok), &via);
	rest = pr->len - m.total;
	if (pw) {
		size_t plen = strlen(pw), need = hub_mqttpkt_rewritten_size(&m, plen), out = 0;
		unsigned char *b = malloc(LWS_PRE + need + rest);
		if (!b || hub_mqttpkt_with_password(pr->buf + LWS_PRE, &m, pw, plen, b + LWS_PRE,
				  need, &out) != HUB_OK) {
			free(b);
			OPENSSL_cleanse(tok, sizeof(tok));
			return -1;
		}
		memcpy(b + LWS_PRE + out, pr->buf + LWS_PRE + m.total, rest);
		c->up.buf = b;
		c->up.len = out + rest;
	} else {
		/* as sent: the buffer becomes the pending bytes */
		c->up.buf = pr->buf;
		c->up.len = pr->len;
		pr->buf = NULL;
	}
	OPENSSL_cleanse(tok, sizeof(tok));
	if (hc_log_enabled(HC_LOG_DEBUG)) {
		char safe[80];
		hc_debug("msg=\"websocket connect\" user=%s via=%s proto=%d addr=%s",
			hc_log_safe(user[0] ? user : "-", safe, sizeof(safe)), via, m.version,
			c->addr);
	}
	pre_free(c->pre);
	c->pre = NULL;
	lws_set_timeout(c->ws, NO_PENDING_TIMEOUT, 0);
	/* the broker's reading of the rest waits for the CONNECT to go */
	lws_rx_flow_control(c->ws, 0);
	if (broker_open(h, c)) {
		hc_log_limited(&lim_refused, HC_LOG_WARN,
			"msg=\"cannot connect to the broker\" err=\"%s\"", strerror(errno));
		c->broker_ended = true;
		c->unavailable = true;
		c->close_ws = true;
		lws_callback_on_writable(c->ws);
	}
	return 0;

too_big:
	hc_log_limited(&lim_refused, HC_LOG_INFO,
		"msg=\"websocket closed: CONNECT over %d bytes\" addr=%s", HUB_FRONT_CONNECT_MAX,
		c->addr);
	lws_close_reason(c->ws, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
	return -1;
}

/* ------------------------------------------------------------ browser side */

static int ws_established(struct hub *h, struct lws *wsi)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->pre = calloc(1, sizeof(*c->pre));
	if (!c->pre) {
		free(c);
		return -1;
	}
	c->kind = HUB_WS_MQTT;
	c->ws = wsi;
	hub_client_addr(wsi, h->proxies, c->addr, sizeof(c->addr));
	hc_addr_key(c->addr, c->key, sizeof(c->key));
	/* confirm_upgrade refused a cookie of a foreign origin already */
	if (!has_cookie(wsi, c->pre->cookie))
		c->pre->cookie[0] = '\0';
	hub_front_count(h, c->key, +1);
	c->counted = true;
	lws_set_opaque_user_data(wsi, c);
	lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, HUB_FRONT_CONNECT_TIMEOUT_S);
	return 0;
}

static int ws_receive(struct hub *h, struct conn *c, struct lws *wsi, const void *in, size_t len)
{
	if (c->close_ws)
		return 0; /* closing: the rest is dropped */
	if (lws_frame_is_binary(wsi) == 0 && lws_is_first_fragment(wsi)) {
		/* MQTT over WebSocket is binary frames only */
		lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE, NULL, 0);
		return -1;
	}
	if (c->pre)
		return pre_receive(h, c, in, len);
	if (!c->broker)
		return -1;
	if (c->broker_up && !c->up.len && !lws_partial_buffered(c->broker)) {
		if (lws_write(c->broker, (unsigned char *)in, len, LWS_WRITE_RAW) < 0)
			return -1;
		if (!lws_partial_buffered(c->broker))
			return 0;
		lws_rx_flow_control(wsi, 0);
		lws_callback_on_writable(c->broker);
		return 0;
	}
	if (keep(&c->up, in, len))
		return -1;
	lws_rx_flow_control(wsi, 0);
	lws_callback_on_writable(c->broker);
	return 0;
}

static int ws_writeable(struct conn *c, struct lws *wsi)
{
	if (c->unavailable) {
		/* the broker could not be reached: say so in MQTT (clients retry
		 * on "server unavailable"), then close */
		unsigned char b[LWS_PRE + 8];
		size_t n;
		c->unavailable = false;
		drop(&c->down);
		if (!c->version) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, NULL, 0);
			return -1;
		}
		n = hub_mqttpkt_connack_unavailable(c->version, b + LWS_PRE);
		if (lws_write(wsi, b + LWS_PRE, n, LWS_WRITE_BINARY) < 0)
			return -1;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (c->down.len) {
		if (lws_write(wsi, c->down.buf + LWS_PRE, c->down.len, LWS_WRITE_BINARY) < 0)
			return -1;
		drop(&c->down);
		if (lws_partial_buffered(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
	}
	if (c->close_ws) {
		if (lws_partial_buffered(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	/* the browser took everything: read the broker again */
	if (c->broker && !lws_partial_buffered(wsi))
		lws_rx_flow_control(c->broker, 1);
	return 0;
}

static void ws_closed(struct hub *h, struct conn *c, struct lws *wsi)
{
	c->ws = NULL;
	c->ws_ended = true;
	lws_set_opaque_user_data(wsi, NULL);
	if (c->counted) {
		c->counted = false;
		hub_front_count(h, c->key, -1);
	}
	drop(&c->down);
	if (c->broker) {
		/* the browser's last bytes (its DISCONNECT) reach the broker,
		 * then the broker sees the connection end */
		c->close_broker = true;
		lws_callback_on_writable(c->broker);
	}
	maybe_free(h, c);
}

int hub_front_ws_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct hub *h = hub_from_wsi(wsi);
	struct conn *c = lws_get_opaque_user_data(wsi);

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* ws_port's default protocol: the upgrade checks of that port */
		return h ? hub_front_confirm_upgrade(h, wsi, in) : -1;
	case LWS_CALLBACK_HTTP:
		/* plain HTTP on ws_port: only WebSockets are served there */
		if (lws_return_http_status(wsi, 426, "MQTT over WebSocket only (subprotocol mqtt)"))
			return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return h && hub_front_upgrade_kind(h, wsi) == HUB_UPG_MQTT ? 0 : 1;
	case LWS_CALLBACK_ESTABLISHED:
		return h ? ws_established(h, wsi) : -1;
	case LWS_CALLBACK_RECEIVE:
		return c && h ? ws_receive(h, c, wsi, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c ? ws_writeable(c, wsi) : -1;
	case LWS_CALLBACK_CLOSED:
		if (c && h)
			ws_closed(h, c, wsi);
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* wss_port: user is the vhost's SSL_CTX */
		return hub_main_tls_ctx(h, user);
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return h && h->stopping ? 1 : 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* ws_port's vhost: the http protocol's callback collects */
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
