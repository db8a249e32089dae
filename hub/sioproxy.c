/* SPDX-License-Identifier: MIT */
/*
 * hub-bridge's endpoint on hubd's origin (sioproxy.h): polling requests
 * stored and forwarded, WebSockets relayed frame by frame.
 *
 * A polling request is a struct req, tied to the browser's HTTP
 * transaction (hub_conn.sio) and to the upstream client connection (its
 * opaque user data); each side cuts its tie when it goes, and the req is
 * freed when neither holds it. A proxied WebSocket is a struct sws, held
 * the same way by the browser's WebSocket and the upstream one.
 */
#include "sioproxy.h"
#include "addr.h"
#include "front.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_store.h"
#include "hc_util.h"
#include "hc_web.h"
#include "http.h"
#include "hub.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WRITE_CHUNK   (16 * 1024) /* request body bytes per upstream write */
#define PEND_MAX      (64 * 1024) /* WebSocket fragments kept per direction */
#define WAIT_MARGIN_S 30	  /* beyond the Engine.IO heartbeat, for a parked poll */

static struct hc_log_limit lim_sio = HC_LOG_LIMIT("sio_proxy");

/* ------------------------------------------------------------ shared */

/* What both kinds send upstream (the headers hub-bridge reads). */
struct fwd {
	char path[HUB_SIO_PATH_MAX]; /* path and query, re-encoded */
	char host[HUB_HOST_MAX];
	char origin[HC_ORIGIN_MAX + 1];
	char cookie[HC_SECRET_LEN + 1];
	char addr[HUB_ADDR_MAX];
	char key[HUB_ADDR_MAX + 4];
};

struct hub_sio_req {
	int kind; /* HUB_WS_SIO_REQ: the first member (hub.h) */
	struct hub *h;
	struct hub_sio_req *prev, *next; /* h->sio_reqs */
	struct lws *browser;		 /* the browser's connection; NULL once gone */
	struct lws *up;			 /* the request to hub-bridge; NULL before and after */
	struct fwd f;
	char method[8];
	char ctype[128];	  /* the request's Content-Type */
	char acrm[32], acrh[256]; /* a preflight's Access-Control-Request-* */
	unsigned char *body;	  /* the request body (no headroom) */
	size_t body_len, body_sent;
	size_t charged; /* bytes counted in the budget */
	bool counted, done, failed;
	/* the answer */
	int status;
	char r_cache[64], r_acao[HC_ORIGIN_MAX + 1], r_acac[8], r_acam[64], r_acah[256];
	char r_acma[16], r_vary[64], r_retry[16];
	const char *r_type;   /* one of the static types below */
	unsigned char *reply; /* LWS_PRE + reply_len */
	size_t reply_len, reply_cap;
};

/* A WebSocket fragment waiting: flags for lws_write. */
struct frag {
	unsigned char *buf; /* LWS_PRE + len */
	size_t len;
	int flags;
};

struct sws {
	int kind; /* HUB_WS_SIO (hub.h) */
	struct lws *browser, *up;
	struct fwd f;
	struct frag to_up, to_browser;
	bool up_open; /* the upstream WebSocket is established */
	bool counted;
	bool close_browser; /* once to_browser is written */
	bool close_up;	    /* once to_up is written */
};

bool hub_sio_path(const char *path)
{
	return !strcmp(path, "/socket.io") || !strncmp(path, "/socket.io/", 11);
}

static bool hdr(struct lws *wsi, enum lws_token_indexes tok, char *out, size_t n)
{
	int len = lws_hdr_total_length(wsi, tok);

	out[0] = '\0';
	if (len <= 0 || (size_t)len >= n)
		return false;
	return lws_hdr_copy(wsi, out, (int)n, tok) > 0;
}

static bool custom_hdr(struct lws *wsi, const char *name, char *out, size_t n)
{
	int nl = (int)strlen(name), len = lws_hdr_custom_length(wsi, name, nl);

	out[0] = '\0';
	if (len <= 0 || (size_t)len >= n)
		return false;
	return lws_hdr_custom_copy(wsi, out, (int)n, name, nl) > 0;
}

/* A header value we pass on: printable ASCII only (no CR/LF). */
static void clean(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			*s = '\0';
}

/* Path and query of the request: lws hands out the query decoded, one
 * argument at a time; they are encoded again (RFC 3986 unreserved kept). */
static bool read_path(struct lws *wsi, const char *path, char *out, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	char frag[512];
	size_t o;

	if (hc_fmt(out, n, "%s", path))
		return false;
	o = strlen(out);
	for (int i = 0;
		lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
		i++) {
		if (o + 1 >= n)
			return false;
		out[o++] = i ? '&' : '?';
		for (const char *p = frag; *p; p++) {
			unsigned char c = (unsigned char)*p;
			bool keep = isalnum(c) || strchr("-._~=", c);
			if (o + (keep ? 1 : 3) >= n)
				return false;
			if (keep) {
				out[o++] = (char)c;
			} else {
				out[o++] = '%';
				out[o++] = hex[c >> 4];
				out[o++] = hex[c & 15];
			}
		}
	}
	out[o] = '\0';
	return true;
}

static bool fwd_read(struct hub *h, struct lws *wsi, const char *path, struct fwd *f)
{
	char cookies[4096];

	memset(f, 0, sizeof(*f));
	if (!read_path(wsi, path, f->path, sizeof(f->path)))
		return false;
	hdr(wsi, WSI_TOKEN_HOST, f->host, sizeof(f->host));
	clean(f->host);
	if (!hdr(wsi, WSI_TOKEN_ORIGIN, f->origin, sizeof(f->origin)) &&
		lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0)
		snprintf(f->origin, sizeof(f->origin), "invalid");
	clean(f->origin);
	if (hdr(wsi, WSI_TOKEN_HTTP_COOKIE, cookies, sizeof(cookies)))
		hc_cookie_find(cookies, f->cookie);
	hub_client_addr(wsi, h->proxies, f->addr, sizeof(f->addr));
	hc_addr_key(f->addr, f->key, sizeof(f->key));
	return true;
}

/* The headers hub-bridge reads, after lws's own (method, path, Host,
 * "connection: close"). false when they do not fit. */
static bool fwd_headers(struct hub *h, const struct fwd *f, char **p, char *end)
{
	int n = snprintf(*p, (size_t)(end - *p), "X-Forwarded-For: %s\r\nX-Hub-Front: %s\r\n",
		f->addr, h->front.tag);
	if (n < 0 || n >= end - *p)
		return false;
	*p += n;
	if (f->origin[0]) {
		n = snprintf(*p, (size_t)(end - *p), "Origin: %s\r\n", f->origin);
		if (n < 0 || n >= end - *p)
			return false;
		*p += n;
	}
	if (f->cookie[0]) {
		n = snprintf(
			*p, (size_t)(end - *p), "Cookie: %s=%s\r\n", HC_COOKIE_NAME, f->cookie);
		if (n < 0 || n >= end - *p)
			return false;
		*p += n;
	}
	return true;
}

/* Limits shared with the MQTT front: 0 if one more may go, else the
 * status to answer. */
static int admit(struct hub *h, const char *key)
{
	if (h->front.max > 0 && h->front.live >= h->front.max) {
		h->metrics.front_refused[HUB_FRONT_REFUSED_FULL]++;
		return 503;
	}
	if (h->front.per_addr > 0) {
		int n = (int)(intptr_t)hc_hmap_get(&h->front.by_addr, key, strlen(key));
		if (n >= h->front.per_addr) {
			h->metrics.front_refused[HUB_FRONT_REFUSED_ADDRESS]++;
			return 429;
		}
	}
	return 0;
}

static bool charge(struct hub *h, size_t *held, size_t n)
{
	if (n > HUB_SIO_BUDGET - h->front.sio_held)
		return false;
	h->front.sio_held += n;
	*held += n;
	return true;
}

static void uncharge(struct hub *h, size_t *held)
{
	h->front.sio_held -= *held;
	*held = 0;
}

static const char *upstream_host(struct hub *h)
{
	return h->front.sio_host;
}

/* With TLS hub-bridge serves HTTPS with the same certificate: hubd's
 * client context trusts exactly that certificate (hc_tls_pinned_client_ctx),
 * which is a stricter check than a name, and the name hubd dials
 * (bind_address, or loopback) need not be in a real certificate. */
static int up_tls_flags(struct hub *h)
{
	return h->tls ? LCCSCF_USE_SSL | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK : 0;
}

/* ------------------------------------------------------------ polling */

static void req_unlink(struct hub *h, struct hub_sio_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (h->sio_reqs == r)
		h->sio_reqs = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

static void req_free(struct hub_sio_req *r)
{
	struct hub *h = r->h;

	req_unlink(h, r);
	if (r->counted)
		hub_front_count(h, r->f.key, -1);
	uncharge(h, &r->charged);
	free(r->body);
	free(r->reply);
	OPENSSL_cleanse(r->f.cookie, sizeof(r->f.cookie));
	free(r);
}

static void req_maybe_free(struct hub_sio_req *r)
{
	if (!r->browser && !r->up)
		req_free(r);
}

static const char *type_of(const char *t)
{
	static const char *const known[] = {"text/plain; charset=UTF-8", "application/octet-stream",
		"application/json", "application/javascript; charset=utf-8", "text/plain"};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcasecmp(t, known[i]))
			return known[i];
	return t[0] ? "application/octet-stream" : NULL;
}

/* Answer the browser: the gateway's reply, or (status >= 500 without a
 * reply) an error of our own. */
static void req_answer(struct hub_sio_req *r, int status, const char *code, const char *msg)
{
	struct hub_conn *c;

	r->done = true;
	if (!r->browser)
		return;
	c = lws_wsi_user(r->browser);
	if (!c)
		return;
	lws_set_timeout(r->browser, NO_PENDING_TIMEOUT, 0);
	if (code) {
		hub_http_error(c, status, code, msg);
		if (status == 503)
			hub_http_header(c, "retry-after:", "1");
		hub_http_send(c);
		return;
	}
	hub_http_reply_take(c, r->status, r->r_type, r->reply, r->reply_len);
	r->reply = NULL;
	r->reply_len = r->reply_cap = 0;
	/* hubd says no-store for JSON and text itself */
	if (r->r_cache[0] && r->r_type && strncmp(r->r_type, "text/", 5) &&
		strncmp(r->r_type, "application/json", 16))
		hub_http_header(c, "cache-control:", r->r_cache);
	if (r->r_acao[0])
		hub_http_header(c, "access-control-allow-origin:", r->r_acao);
	if (r->r_acac[0])
		hub_http_header(c, "access-control-allow-credentials:", r->r_acac);
	if (r->r_acam[0])
		hub_http_header(c, "access-control-allow-methods:", r->r_acam);
	if (r->r_acah[0])
		hub_http_header(c, "access-control-allow-headers:", r->r_acah);
	if (r->r_acma[0])
		hub_http_header(c, "access-control-max-age:", r->r_acma);
	if (r->r_vary[0])
		hub_http_header(c, "vary:", r->r_vary);
	if (r->r_retry[0])
		hub_http_header(c, "retry-after:", r->r_retry);
	hub_http_send(c);
}

static void req_fail(struct hub_sio_req *r, const char *why)
{
	if (r->done)
		return;
	hc_log_limited(
		&lim_sio, HC_LOG_WARN, "msg=\"socket.io gateway request failed\" why=\"%s\"", why);
	req_answer(r, 502, "bad_gateway", "the Socket.IO gateway did not answer");
}

static int up_start(struct hub *h, struct hub_sio_req *r)
{
	struct lws_client_connect_info i;
	struct lws *w;

	memset(&i, 0, sizeof(i));
	i.context = h->lws;
	i.vhost = h->vh_http;
	i.address = upstream_host(h);
	i.port = (int)hc_cfg_int(&h->cfg, HC_CFG_SIO_PORT);
	i.path = r->f.path;
	i.host = r->f.host[0] ? r->f.host : upstream_host(h);
	i.method = r->method;
	i.local_protocol_name = "hub-sio-up";
	i.alpn = "http/1.1";
	i.ssl_connection = up_tls_flags(h);
	i.opaque_user_data = r;
	/* a parked poll is answered within the heartbeat */
	lws_set_timeout(r->browser, PENDING_TIMEOUT_USER_OK,
		(int)((hc_cfg_int(&h->cfg, HC_CFG_SIO_PING_INTERVAL) +
			      hc_cfg_int(&h->cfg, HC_CFG_SIO_PING_TIMEOUT)) /
				1000 +
			WAIT_MARGIN_S));
	/* a failure may be reported (CLIENT_CONNECTION_ERROR) before this
	 * returns; the browser still holds r then */
	w = lws_client_connect_via_info(&i);
	if (w && !r->failed)
		r->up = w;
	else
		req_fail(r, "connect");
	return 0;
}

int hub_sio_http_begin(struct hub *h, struct hub_conn *c, bool chunked)
{
	struct hub_sio_req *r;
	int st;

	if (h->stopping) {
		hub_http_header(c, "retry-after:", "5");
		hub_http_error(c, 503, "unavailable", "the service is shutting down");
		return 1;
	}
	if (c->has_cookie && !hub_front_origin_ours(h, c->wsi)) {
		h->metrics.front_refused[HUB_FRONT_REFUSED_ORIGIN]++;
		hub_http_error(c, 403, "forbidden_origin",
			"the session cookie may not be used from another origin");
		return 1;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		hub_http_error(c, 500, "internal", "out of memory");
		return 1;
	}
	r->kind = HUB_WS_SIO_REQ;
	r->h = h;
	if (!fwd_read(h, c->wsi, c->path, &r->f)) {
		free(r);
		hub_http_error(c, 414, "too_long", "the request URI is too long");
		return 1;
	}
	st = admit(h, r->f.key);
	if (st) {
		free(r);
		hub_http_header(c, "retry-after:", "5");
		hub_http_error(c, st, st == 429 ? "rate_limited" : "busy",
			st == 429 ? "too many connections from this address"
				  : "too many connections; try again");
		return 1;
	}
	hub_front_count(h, r->f.key, +1);
	r->counted = true;
	snprintf(r->method, sizeof(r->method), "%s",
		c->method == HUB_M_POST	     ? "POST"
		: c->method == HUB_M_OPTIONS ? "OPTIONS"
		: c->method == HUB_M_HEAD    ? "HEAD"
					     : "GET");
	if (hdr(c->wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, r->ctype, sizeof(r->ctype)))
		clean(r->ctype);
	if (c->method == HUB_M_OPTIONS) {
		custom_hdr(c->wsi, "access-control-request-method:", r->acrm, sizeof(r->acrm));
		hdr(c->wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS, r->acrh, sizeof(r->acrh));
		clean(r->acrm);
		clean(r->acrh);
	}
	r->browser = c->wsi;
	r->next = h->sio_reqs;
	if (r->next)
		r->next->prev = r;
	h->sio_reqs = r;
	c->sio = r;
	if (c->body_expected) {
		/* store and forward: the body first, at most maxPayload */
		size_t max = (size_t)hc_cfg_int(&h->cfg, HC_CFG_SIO_MAX_PAYLOAD) + 1024;
		if (!charge(h, &r->charged, max)) {
			hub_http_header(c, "retry-after:", "1");
			hub_http_error(c, 503, "busy", "too many requests at once; try again");
			c->close_after = true;
			return 1;
		}
		hub_body_free(&c->body);
		hub_body_init(&c->body, max, chunked);
		c->collecting = true;
		c->sio_body = true;
		return 0;
	}
	return up_start(h, r);
}

int hub_sio_http_body_done(struct hub *h, struct hub_conn *c)
{
	struct hub_sio_req *r = c->sio;

	if (!r)
		return 0;
	r->body_len = c->body.buf.len;
	r->body = (unsigned char *)c->body.buf.data;
	c->body.buf.data = NULL;
	c->body.buf.len = c->body.buf.cap = 0;
	return up_start(h, r);
}

void hub_sio_http_gone(struct hub *h, struct hub_conn *c)
{
	struct hub_sio_req *r = c->sio;

	(void)h;
	if (!r)
		return;
	c->sio = NULL;
	r->browser = NULL;
	if (r->up) {
		/* nobody waits for it: the gateway sees its poll end */
		lws_set_opaque_user_data(r->up, NULL);
		lws_set_timeout(r->up, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		r->up = NULL;
	}
	req_maybe_free(r);
}

void hub_sio_stop(struct hub *h)
{
	for (struct hub_sio_req *r = h->sio_reqs; r; r = r->next)
		if (!r->done)
			req_answer(r, 503, "unavailable", "the service is shutting down");
}

/* Upstream request events. */
static int req_event(struct lws *wsi, struct hub_sio_req *r, enum lws_callback_reasons reason,
	void *in, size_t len)
{
	struct hub *h = r->h;

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		char **p = in, *end = *p + len;
		int n = 0;
		if (!fwd_headers(h, &r->f, p, end))
			return -1;
		if (r->ctype[0])
			n = snprintf(*p, (size_t)(end - *p), "Content-Type: %s\r\n", r->ctype);
		if (n < 0 || n >= end - *p)
			return -1;
		*p += n;
		if (!strcmp(r->method, "POST")) {
			n = snprintf(
				*p, (size_t)(end - *p), "Content-Length: %zu\r\n", r->body_len);
			if (n < 0 || n >= end - *p)
				return -1;
			*p += n;
			if (r->body_len) {
				lws_client_http_body_pending(wsi, 1);
				lws_callback_on_writable(wsi);
			}
		}
		if (r->acrm[0] || r->acrh[0]) {
			n = snprintf(*p, (size_t)(end - *p),
				"Access-Control-Request-Method: %s\r\n"
				"Access-Control-Request-Headers: %s\r\n",
				r->acrm, r->acrh);
			if (n < 0 || n >= end - *p)
				return -1;
			*p += n;
		}
		return 0;
	}
	case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
		if (r->body_sent < r->body_len) {
			static unsigned char buf[LWS_PRE + WRITE_CHUNK];
			size_t n = r->body_len - r->body_sent;
			bool last = n <= WRITE_CHUNK;
			if (!last)
				n = WRITE_CHUNK;
			memcpy(buf + LWS_PRE, r->body + r->body_sent, n);
			if (lws_write(wsi, buf + LWS_PRE, n,
				    last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)n)
				return -1;
			r->body_sent += n;
			if (last)
				lws_client_http_body_pending(wsi, 0);
			lws_callback_on_writable(wsi);
			return 0;
		}
		/* sent: a parked poll may wait for the heartbeat */
		lws_set_timeout(wsi, PENDING_TIMEOUT_AWAITING_SERVER_RESPONSE,
			(int)((hc_cfg_int(&h->cfg, HC_CFG_SIO_PING_INTERVAL) +
				      hc_cfg_int(&h->cfg, HC_CFG_SIO_PING_TIMEOUT)) /
					1000 +
				WAIT_MARGIN_S));
		return 0;
	case LWS_CALLBACK_ESTABLISHED_CLIENT_HTTP: {
		char v[HC_ORIGIN_MAX + 1];
		int64_t clen = -1;
		r->status = (int)lws_http_client_http_response(wsi);
		hdr(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, v, sizeof(v));
		r->r_type = type_of(v);
		hdr(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, r->r_cache, sizeof(r->r_cache));
		hdr(wsi, WSI_TOKEN_HTTP_ACCESS_CONTROL_ALLOW_ORIGIN, r->r_acao, sizeof(r->r_acao));
		custom_hdr(wsi, "access-control-allow-credentials:", r->r_acac, sizeof(r->r_acac));
		custom_hdr(wsi, "access-control-allow-methods:", r->r_acam, sizeof(r->r_acam));
		custom_hdr(wsi, "access-control-allow-headers:", r->r_acah, sizeof(r->r_acah));
		custom_hdr(wsi, "access-control-max-age:", r->r_acma, sizeof(r->r_acma));
		hdr(wsi, WSI_TOKEN_HTTP_VARY, r->r_vary, sizeof(r->r_vary));
		hdr(wsi, WSI_TOKEN_HTTP_RETRY_AFTER, r->r_retry, sizeof(r->r_retry));
		clean(r->r_cache);
		clean(r->r_acao);
		clean(r->r_acac);
		clean(r->r_acam);
		clean(r->r_acah);
		clean(r->r_acma);
		clean(r->r_vary);
		clean(r->r_retry);
		if (hdr(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, v, sizeof(v)) &&
			hc_parse_i64(v, 0, INT64_MAX, &clen) == HUB_OK &&
			clen > HUB_SIO_REPLY_MAX) {
			req_fail(r, "reply too big");
			return -1;
		}
		/* the request body is out: its budget goes to the reply */
		free(r->body);
		r->body = NULL;
		uncharge(h, &r->charged);
		return 0;
	}
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP: {
		char buf[LWS_PRE + 4096], *px = buf + LWS_PRE;
		int lenx = (int)sizeof(buf) - LWS_PRE;
		return lws_http_client_read(wsi, &px, &lenx) < 0 ? -1 : 0;
	}
	case LWS_CALLBACK_RECEIVE_CLIENT_HTTP_READ:
		if (len > HUB_SIO_REPLY_MAX - r->reply_len) {
			req_fail(r, "reply too big");
			return -1;
		}
		if (r->reply_len + len > r->reply_cap) {
			size_t cap = r->reply_cap ? r->reply_cap * 2 : 4096;
			unsigned char *b;
			while (cap < r->reply_len + len)
				cap *= 2;
			if (cap > HUB_SIO_REPLY_MAX)
				cap = HUB_SIO_REPLY_MAX;
			if (!charge(h, &r->charged, cap - r->reply_cap)) {
				req_answer(r, 503, "busy", "too many requests at once; try again");
				return -1;
			}
			b = realloc(r->reply, LWS_PRE + cap);
			if (!b) {
				req_fail(r, "out of memory");
				return -1;
			}
			r->reply = b;
			r->reply_cap = cap;
		}
		memcpy(r->reply + LWS_PRE + r->reply_len, in, len);
		r->reply_len += len;
		return 0;
	case LWS_CALLBACK_COMPLETED_CLIENT_HTTP:
		if (!r->done) {
			if (!r->reply) {
				/* an empty body: hub_http_reply_take wants a buffer or none */
				r->reply_len = 0;
			}
			req_answer(r, r->status, NULL, NULL);
		}
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		r->failed = true;
		req_fail(r, in ? (const char *)in : "connection error");
		/* fallthrough */
	case LWS_CALLBACK_CLOSED_CLIENT_HTTP:
		if (!r->done)
			req_fail(r, "closed early");
		lws_set_opaque_user_data(wsi, NULL);
		r->up = NULL;
		req_maybe_free(r);
		return 0;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------ WebSocket */

static void sws_free(struct hub *h, struct sws *s)
{
	if (s->counted)
		hub_front_count(h, s->f.key, -1);
	free(s->to_up.buf);
	free(s->to_browser.buf);
	OPENSSL_cleanse(s->f.cookie, sizeof(s->f.cookie));
	free(s);
}

static void sws_maybe_free(struct hub *h, struct sws *s)
{
	if (!s->browser && !s->up)
		sws_free(h, s);
}

/* Keep a fragment (appended after what waits, its flags with it). */
static int frag_keep(struct frag *q, const void *in, size_t len, int flags)
{
	unsigned char *b;

	if (q->len) {
		/* one waits already (lws handed out one more before the flow
		 * control took): only a continuation can join it */
		if ((flags & 0xf) != LWS_WRITE_CONTINUATION || (q->flags & LWS_WRITE_NO_FIN) == 0 ||
			len > PEND_MAX - q->len)
			return -1;
		q->flags = (q->flags & ~LWS_WRITE_NO_FIN) | (flags & LWS_WRITE_NO_FIN);
	} else if (len > PEND_MAX) {
		return -1;
	} else {
		q->flags = flags;
	}
	b = realloc(q->buf, LWS_PRE + q->len + len);
	if (!b)
		return -1;
	memcpy(b + LWS_PRE + q->len, in, len);
	q->buf = b;
	q->len += len;
	return 0;
}

static int frag_flush(struct lws *to, struct frag *q)
{
	int rc;

	if (!q->buf)
		return 0;
	rc = lws_write(to, q->buf + LWS_PRE, q->len, (enum lws_write_protocol)q->flags);
	free(q->buf);
	q->buf = NULL;
	q->len = 0;
	return rc < 0 ? -1 : 0;
}

/* The lws_write flags of the fragment being received on wsi. */
static int flags_of(struct lws *wsi)
{
	return lws_write_ws_flags(lws_frame_is_binary(wsi) ? LWS_WRITE_BINARY : LWS_WRITE_TEXT,
		lws_is_first_fragment(wsi), lws_is_final_fragment(wsi));
}

/* A fragment from one side to the other: straight through while nothing
 * waits, else kept, and the side it came from paused. */
static int relay(
	struct lws *from, struct lws *to, bool to_ready, struct frag *q, const void *in, size_t len)
{
	int flags = flags_of(from);

	if (to && to_ready && !q->len && !lws_partial_buffered(to)) {
		unsigned char *p = (unsigned char *)in; /* lws leaves LWS_PRE before it */
		if (lws_write(to, p, len, (enum lws_write_protocol)flags) < 0)
			return -1;
		if (lws_partial_buffered(to)) {
			lws_rx_flow_control(from, 0);
			lws_callback_on_writable(to);
		}
		return 0;
	}
	if (frag_keep(q, in, len, flags))
		return -1;
	lws_rx_flow_control(from, 0);
	if (to && to_ready)
		lws_callback_on_writable(to);
	return 0;
}

static int sws_up_start(struct hub *h, struct sws *s)
{
	struct lws_client_connect_info i;

	memset(&i, 0, sizeof(i));
	i.context = h->lws;
	i.vhost = h->vh_http;
	i.address = upstream_host(h);
	i.port = (int)hc_cfg_int(&h->cfg, HC_CFG_SIO_PORT);
	i.path = s->f.path;
	i.host = s->f.host[0] ? s->f.host : upstream_host(h);
	i.ietf_version_or_minus_one = -1;
	i.ssl_connection = up_tls_flags(h);
	i.local_protocol_name = "hub-sio-up";
	i.opaque_user_data = s;
	s->up = lws_client_connect_via_info(&i);
	return s->up ? 0 : -1;
}

static int sws_established(struct hub *h, struct lws *wsi)
{
	char path[HUB_SIO_PATH_MAX];
	struct sws *s;

	if (!hdr(wsi, WSI_TOKEN_GET_URI, path, sizeof(path)))
		return -1;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	s->kind = HUB_WS_SIO;
	s->browser = wsi;
	if (!fwd_read(h, wsi, path, &s->f)) {
		free(s);
		return -1;
	}
	hub_front_count(h, s->f.key, +1);
	s->counted = true;
	lws_set_opaque_user_data(wsi, s);
	/* nothing from the browser before the gateway's side is open */
	lws_rx_flow_control(wsi, 0);
	if (sws_up_start(h, s)) {
		hc_log_limited(&lim_sio, HC_LOG_WARN,
			"msg=\"socket.io gateway not reachable for a websocket\"");
		return -1; /* CLOSED frees s */
	}
	return 0;
}

int hub_sio_ws_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct hub *h = hub_from_wsi(wsi);
	struct sws *s = lws_get_opaque_user_data(wsi);

	(void)user;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		return h ? sws_established(h, wsi) : -1;
	case LWS_CALLBACK_RECEIVE:
		if (!s || s->close_browser)
			return s ? 0 : -1;
		return relay(wsi, s->up, s->up_open, &s->to_up, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!s)
			return -1;
		if (frag_flush(wsi, &s->to_browser))
			return -1;
		if (lws_partial_buffered(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
		if (s->close_browser) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
			return -1;
		}
		if (s->up && s->up_open)
			lws_rx_flow_control(s->up, 1);
		return 0;
	case LWS_CALLBACK_CLOSED:
		if (!s)
			return 0;
		lws_set_opaque_user_data(wsi, NULL);
		s->browser = NULL;
		free(s->to_browser.buf);
		s->to_browser.buf = NULL;
		s->to_browser.len = 0;
		if (s->up) {
			s->close_up = true;
			if (s->up_open)
				lws_callback_on_writable(s->up);
			else
				lws_set_timeout(
					s->up, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		}
		if (h)
			sws_maybe_free(h, s);
		return 0;
	default:
		return 0;
	}
}

/* Upstream WebSocket events. */
static int sws_up_event(
	struct lws *wsi, struct sws *s, enum lws_callback_reasons reason, void *in, size_t len)
{
	struct hub *h = hub_from_wsi(wsi);

	switch (reason) {
	case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
		char **p = in;
		return fwd_headers(h, &s->f, p, *p + len) ? 0 : -1;
	}
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		s->up_open = true;
		if (s->close_up)
			return -1;
		if (s->to_up.len)
			lws_callback_on_writable(wsi); /* what came before: first */
		else if (s->browser)
			lws_rx_flow_control(s->browser, 1);
		return 0;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!s->browser || s->close_up)
			return s->close_up ? 0 : -1;
		return relay(wsi, s->browser, true, &s->to_browser, in, len);
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (frag_flush(wsi, &s->to_up))
			return -1;
		if (lws_partial_buffered(wsi)) {
			lws_callback_on_writable(wsi);
			return 0;
		}
		if (s->close_up) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_GOINGAWAY, NULL, 0);
			return -1;
		}
		if (s->browser)
			lws_rx_flow_control(s->browser, 1);
		return 0;
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		hc_log_limited(&lim_sio, HC_LOG_INFO,
			"msg=\"socket.io gateway refused a websocket\" why=\"%s\"",
			in ? (const char *)in : "-");
		/* fallthrough */
	case LWS_CALLBACK_CLIENT_CLOSED:
		lws_set_opaque_user_data(wsi, NULL);
		s->up = NULL;
		s->up_open = false;
		if (s->browser) {
			/* what the gateway said last goes out first */
			s->close_browser = true;
			lws_callback_on_writable(s->browser);
		}
		sws_maybe_free(h, s);
		return 0;
	default:
		return 0;
	}
}

int hub_sio_up_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	int *kind = lws_get_opaque_user_data(wsi);

	(void)user;
	if (!kind) {
		/* cut loose: whatever comes is dropped, the connection closes */
		switch (reason) {
		case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
		case LWS_CALLBACK_RECEIVE_CLIENT_HTTP:
		case LWS_CALLBACK_CLIENT_RECEIVE:
		case LWS_CALLBACK_CLIENT_WRITEABLE:
		case LWS_CALLBACK_CLIENT_HTTP_WRITEABLE:
			return -1;
		default:
			return 0;
		}
	}
	if (*kind == HUB_WS_SIO_REQ)
		return req_event(wsi, (struct hub_sio_req *)kind, reason, in, len);
	return sws_up_event(wsi, (struct sws *)kind, reason, in, len);
}
