/* SPDX-License-Identifier: MIT */
/*
 * libwebsockets glue: one protocol serves both the Engine.IO long-polling
 * requests (HTTP GET/POST on /socket.io/) and the WebSocket transport
 * (the upgrade of a GET on the same path). Requests are checked here
 * (path, EIO=4, transport, sid, origin, sizes) before engineio.c sees
 * them; responses and WebSocket frames are written from the writeable
 * callbacks only, except a refused WebSocket upgrade, answered with its
 * HTTP status at once (RFC 6455 4.2.2) and then closed.
 *
 * Every reply says "Connection: close" when the connection is closed after
 * it (the client asked for it, or the reply ends it), so keep-alive
 * clients never reuse a connection the gateway is closing.
 *
 * A struct hbr_conn is lws's per-connection data: per HTTP transaction for
 * polling, per WebSocket for the other transport. conn->sock ties a parked
 * GET or a WebSocket to its session; the session holds the wsi back
 * (poll_wsi / ws_wsi). Either side cuts the tie before it goes away.
 */
#include "buf.h"
#include "hbr.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_tls.h"
#include "hc_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define RX_CHUNK      4096 /* lws's per-connection receive buffer */
#define TX_CHUNK      65536
#define POLL_BATCH    (1u << 20) /* bytes one polling response carries at most */
#define WS_BATCH      64	 /* writes per writeable callback */
#define COALESCE      65536	 /* bytes of frames joined into one write */
#define HDR_BUF	      2048
#define HOST_MAX      256
#define ACRH_MAX      256
#define POST_OVERHEAD 64

enum conn_kind { C_NONE = 0, C_REPLY, C_GET, C_POST, C_WS };

struct hbr_conn {
	struct hbr_sock *sock; /* parked GET or WebSocket, else NULL */
	int kind;
	char sid[HBR_ID_LEN + 1];
	char acao[HBR_ORIGIN_MAX]; /* origin to allow in CORS headers, "" none */
	const char *cache;	   /* cache-control of the reply, NULL: no-store */
	bool killed;

	/* a prepared reply */
	int status;
	const char *ctype;
	unsigned char *body; /* LWS_PRE + blen, owned */
	size_t blen;
	bool close_after;    /* the connection ends after the reply */
	bool keep_alive_hdr; /* an HTTP/1.0 keep-alive request: say it is kept */
	bool head;	     /* HEAD: headers only */
	int retry_after;     /* seconds for a Retry-After header, 0 none */
	bool preflight;
	char acrh[ACRH_MAX];

	/* POST body / WebSocket message being received */
	struct hbr_buf in;
	bool too_big;
	bool rx_active, rx_binary;
};

static struct hbr *hbr_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* ------------------------------------------------------------ helpers */

static bool header(struct lws *wsi, enum lws_token_indexes tok, char *out, size_t n)
{
	int len = lws_hdr_total_length(wsi, tok);
	out[0] = '\0';
	if (len <= 0 || (size_t)len >= n)
		return false;
	return lws_hdr_copy(wsi, out, (int)n, tok) > 0;
}

/* A query argument (lws has decoded it); false if absent or too long. */
static bool arg(struct lws *wsi, const char *name, char *out, size_t n)
{
	char frag[128];
	size_t nl = strlen(name);

	out[0] = '\0';
	for (int i = 0;
		lws_hdr_copy_fragment(wsi, frag, sizeof(frag), WSI_TOKEN_HTTP_URI_ARGS, i) >= 0;
		i++) {
		if (!strncmp(frag, name, nl) && frag[nl] == '=') {
			if (strlen(frag + nl + 1) >= n)
				return false;
			snprintf(out, n, "%s", frag + nl + 1);
			return true;
		}
	}
	return false;
}

static void reply(struct lws *wsi, struct hbr_conn *c, int status, const char *ctype,
	const char *body, size_t len)
{
	free(c->body);
	c->body = malloc(LWS_PRE + len + 1);
	c->blen = c->body ? len : 0;
	if (c->body && len)
		memcpy(c->body + LWS_PRE, body, len);
	c->status = c->body ? status : 500;
	c->ctype = ctype;
	c->kind = C_REPLY;
	lws_callback_on_writable(wsi);
}

/* Engine.IO's error answer: 400 {"code":N,"message":"..."}. */
static void eio_error(struct lws *wsi, struct hbr_conn *c, int status, int code, const char *msg)
{
	char body[160];
	int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code, msg);
	reply(wsi, c, status, "application/json", body, (size_t)n);
}

/* Whether the request ends its connection (RFC 9112 9.3, as lws decides
 * it): HTTP/1.1 with a "close" connection option, HTTP/1.0 without exactly
 * "keep-alive". *ka10: an HTTP/1.0 request kept alive. */
static bool ends_connection(struct lws *wsi, bool *ka10)
{
	char ver[16], conn[128];
	bool v11 = header(wsi, WSI_TOKEN_HTTP, ver, sizeof(ver)) && !strcmp(ver, "HTTP/1.1");
	bool has = header(wsi, WSI_TOKEN_CONNECTION, conn, sizeof(conn));

	*ka10 = false;
	if (!has && lws_hdr_total_length(wsi, WSI_TOKEN_CONNECTION) > 0)
		return true; /* a header too long to read: close to be safe */
	if (!v11) {
		*ka10 = has && !strcasecmp(conn, "keep-alive");
		return !*ka10;
	}
	for (char *tok = conn; has && *tok;) {
		size_t n;
		while (*tok == ' ' || *tok == '\t' || *tok == ',')
			tok++;
		n = strcspn(tok, ", \t");
		if (n == 5 && !strncasecmp(tok, "close", 5))
			return true;
		tok += n;
	}
	return false;
}

static int add_hdr(
	struct lws *wsi, const char *name, const char *value, unsigned char **p, unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
		(const unsigned char *)value, (int)strlen(value), p, end);
}

/* Status line, headers (with CORS for allowed origins), body; then the
 * transaction ends. Returns what the callback returns. */
static int write_response(struct lws *wsi, struct hbr_conn *c, int status, const char *ctype,
	unsigned char *body, size_t blen)
{
	unsigned char hbuf[LWS_PRE + HDR_BUF], *start = hbuf + LWS_PRE, *p = start;
	unsigned char *end = hbuf + sizeof(hbuf) - 1;

	if (lws_add_http_header_status(wsi, (unsigned)status, &p, end))
		return -1;
	if (ctype && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
			     (const unsigned char *)ctype, (int)strlen(ctype), &p, end))
		return -1;
	if (status != 204 && lws_add_http_header_content_length(wsi, blen, &p, end))
		return -1;
	const char *cache = c->cache ? c->cache : "no-store";
	c->cache = NULL; /* one reply's */
	if (add_hdr(wsi, "cache-control:", cache, &p, end) ||
		add_hdr(wsi, "x-content-type-options:", "nosniff", &p, end))
		return -1;
	if (c->acao[0]) {
		if (add_hdr(wsi, "access-control-allow-origin:", c->acao, &p, end) ||
			add_hdr(wsi, "access-control-allow-credentials:", "true", &p, end) ||
			add_hdr(wsi, "vary:", "Origin", &p, end))
			return -1;
		if (c->preflight &&
			(add_hdr(wsi, "access-control-allow-methods:", "GET, POST, OPTIONS", &p,
				 end) ||
				add_hdr(wsi, "access-control-allow-headers:",
					c->acrh[0] ? c->acrh : "content-type", &p, end) ||
				add_hdr(wsi, "access-control-max-age:", "600", &p, end)))
			return -1;
	}
	if (c->retry_after > 0) {
		char ra[16];
		snprintf(ra, sizeof(ra), "%d", c->retry_after);
		if (add_hdr(wsi, "retry-after:", ra, &p, end))
			return -1;
	}
	if (c->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
				      (const unsigned char *)"close", 5, &p, end))
		return -1;
	if (!c->close_after && c->keep_alive_hdr &&
		lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
			(const unsigned char *)"keep-alive", 10, &p, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	if (blen && !c->head &&
		lws_write(wsi, body + LWS_PRE, blen, LWS_WRITE_HTTP_FINAL) != (int)blen)
		return -1;
	if (c->close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static const char *const client_js_names[] = {"socket.io.js", "socket.io.min.js",
	"socket.io.esm.min.js", "socket.io.js.map", "socket.io.min.js.map",
	"socket.io.esm.min.js.map"};

void hbr_server__load_client_js(struct hbr *h)
{
	const char *dir = hc_cfg_str(&h->cfg, HC_CFG_WEB_DIR);
	int loaded = 0;

	for (size_t i = 0; i < sizeof(client_js_names) / sizeof(client_js_names[0]); i++) {
		struct hbr_file *f = &h->client_js[i];
		char path[4200];
		FILE *fp;
		long n;

		f->name = client_js_names[i];
		if (hc_fmt(path, sizeof(path), "%s/vendor/socket.io/%s", dir, f->name) ||
			!(fp = fopen(path, "rb")))
			continue;
		if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) > 0 && n < (8 << 20) &&
			fseek(fp, 0, SEEK_SET) == 0 && (f->data = malloc((size_t)n)) &&
			fread(f->data, 1, (size_t)n, fp) == (size_t)n) {
			f->len = (size_t)n;
			loaded++;
		} else {
			free(f->data);
			f->data = NULL;
		}
		fclose(fp);
	}
	if (!loaded)
		hc_info("msg=\"no socket.io-client bundle to serve at /socket.io/socket.io.js\" "
			"dir=\"%s/vendor/socket.io\"",
			dir);
}

void hbr_server__free_client_js(struct hbr *h)
{
	for (size_t i = 0; i < sizeof(h->client_js) / sizeof(h->client_js[0]); i++) {
		free(h->client_js[i].data);
		h->client_js[i].data = NULL;
	}
}

/* GET /socket.io/<bundle>: true if answered. */
static bool serve_client_js(struct hbr *h, struct lws *wsi, struct hbr_conn *c, const char *path)
{
	static const char prefix[] = "/socket.io/";
	if (strncmp(path, prefix, sizeof(prefix) - 1) != 0)
		return false;
	for (size_t i = 0; i < sizeof(h->client_js) / sizeof(h->client_js[0]); i++) {
		const struct hbr_file *f = &h->client_js[i];
		size_t nl;
		if (!f->data || strcmp(path + sizeof(prefix) - 1, f->name) != 0)
			continue;
		nl = strlen(f->name);
		c->cache = "public, max-age=3600";
		reply(wsi, c, 200,
			nl > 4 && !strcmp(f->name + nl - 4, ".map")
				? "application/json"
				: "application/javascript; charset=utf-8",
			f->data, f->len);
		return true;
	}
	return false;
}

bool hbr_server__alive(struct lws *wsi)
{
	char b;
	int fd = (int)lws_get_socket_fd(wsi);
	ssize_t n;
	if (fd < 0)
		return false;
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		return true; /* something to read: alive */
	if (n == 0)
		return false; /* the peer closed */
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

void hbr_server__kill(struct lws *wsi)
{
	struct hbr_conn *c = lws_wsi_user(wsi);
	if (c) {
		c->sock = NULL;
		c->killed = true;
	}
	lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
}

/* ------------------------------------------------------------ requests */

struct req {
	char origin[HBR_ORIGIN_MAX];
	char host[HOST_MAX];
	char cookie[HC_SECRET_LEN + 1];
	char addr[48];
	char eio[8], transport[16], sid[HBR_ID_LEN + 2];
	bool has_origin, has_cookie;
};

/* Read what every Engine.IO request is judged on. Returns 0, or an error
 * already prepared as a reply (1) / -1 to refuse outright. */
/* refusals of unauthenticated requests: rate-limited lines (hc_log.h) */
static struct hc_log_limit lim_cross_site = HC_LOG_LIMIT("sio_cross_site");

static int read_request(struct hbr *h, struct lws *wsi, struct hbr_conn *c, struct req *r)
{
	char cookies[4096];

	memset(r, 0, sizeof(*r));
	r->has_origin = header(wsi, WSI_TOKEN_ORIGIN, r->origin, sizeof(r->origin));
	if (!r->has_origin && lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0) {
		snprintf(r->origin, sizeof(r->origin), "invalid");
		r->has_origin = true;
	}
	header(wsi, WSI_TOKEN_HOST, r->host, sizeof(r->host));
	if (header(wsi, WSI_TOKEN_HTTP_COOKIE, cookies, sizeof(cookies)))
		r->has_cookie = hc_cookie_find(cookies, r->cookie);
	hbr_addr__of(h, wsi, r->addr, sizeof(r->addr));
	arg(wsi, "EIO", r->eio, sizeof(r->eio));
	arg(wsi, "transport", r->transport, sizeof(r->transport));
	arg(wsi, "sid", r->sid, sizeof(r->sid));

	c->acao[0] = '\0';
	/* listed origins, and pages of the same host (hubd's dashboard on
	 * another port: the session cookie is the same site's) */
	if (r->has_origin && (hc_origin_listed(&h->cfg, HC_CFG_CORS_ORIGINS, r->origin) ||
				     hc_origin_same_host(r->origin, r->host)))
		snprintf(c->acao, sizeof(c->acao), "%s", r->origin);
	/* a cookie from a page of another site: that page must not drive the
	 * user's session (CSRF), be it by polling or by WebSocket */
	if (r->has_origin && r->has_cookie && !c->acao[0] &&
		!hc_origin_same(r->origin, r->host, NULL)) {
		char o[80];
		hc_log_limited(&lim_cross_site, HC_LOG_INFO,
			"msg=\"cross-site request with the session cookie refused\" origin=\"%s\" "
			"addr=%s",
			hc_log_safe(r->origin, o, sizeof(o)), r->addr);
		return 2;
	}
	if (strcmp(r->eio, "4") != 0)
		return 3;
	return 0;
}

/* A handshake refused for load: 503 with an Engine.IO error, and when to
 * come back (the pending sessions of the address time out by then). */
static void busy(struct hbr *h, struct lws *wsi, struct hbr_conn *c, const char *addr)
{
	int64_t s = (h->connect_timeout_ms + 999) / 1000;
	c->retry_after = (int)(s < 1 ? 1 : s);
	if (h->stopping) {
		eio_error(wsi, c, 503, 3, "Server shutting down");
		return;
	}
	/* one line per refusal (hc_log's rate limiting will summarise them) */
	hc_info("msg=\"handshake refused: too many unauthenticated sessions from the address\" "
		"addr=%s max=%lld",
		addr, (long long)h->pending_per_addr);
	eio_error(wsi, c, 503, 3, "Too many unauthenticated sessions from this address");
}

static int http_request(struct hbr *h, struct lws *wsi, struct hbr_conn *c, const char *path)
{
	struct req r;
	struct hbr_sock *s;
	bool get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	bool post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	bool options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;
	int rc;

	c->head = lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0;
	c->close_after = ends_connection(wsi, &c->keep_alive_hdr);
	if ((get || c->head) && serve_client_js(h, wsi, c, path))
		return 0;
	if (strcmp(path, HBR_PATH) != 0 && strcmp(path, "/socket.io") != 0) {
		reply(wsi, c, 404, "text/plain", "not found\n", 10);
		return 0;
	}
	if (!get && !post && !options) {
		c->close_after = true;
		eio_error(wsi, c, 400, 2, "Bad handshake method");
		return 0;
	}
	rc = read_request(h, wsi, c, &r);
	if (options) {
		/* CORS preflight: only listed origins get the allow headers */
		c->preflight = true;
		header(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS, c->acrh, sizeof(c->acrh));
		for (char *q = c->acrh; *q; q++)
			if (!(*q == ',' || *q == ' ' || *q == '-' || (*q >= 'a' && *q <= 'z') ||
				    (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9')))
				c->acrh[0] = '\0';
		reply(wsi, c, 204, NULL, "", 0);
		return 0;
	}
	if (rc == 2) {
		eio_error(wsi, c, 403, 4, "Forbidden");
		return 0;
	}
	if (rc == 3) {
		eio_error(wsi, c, 400, 5, "Unsupported protocol version");
		return 0;
	}
	if (strcmp(r.transport, "polling") != 0) {
		/* as engine.io: a transport it does not know (or none) is code
		 * 0; "websocket" without the upgrade a bad request */
		bool ws = !strcmp(r.transport, "websocket");
		eio_error(wsi, c, 400, ws ? 3 : 0, ws ? "Bad request" : "Transport unknown");
		return 0;
	}

	if (!r.sid[0]) {
		char open[256];
		if (!get) {
			eio_error(wsi, c, 400, 2, "Bad handshake method");
			return 0;
		}
		rc = hbr_eio__open(h, HBR_T_POLLING, r.cookie, r.addr, &s);
		if (rc == HUB_ERR_BUSY) {
			busy(h, wsi, c, r.addr);
			return 0;
		}
		if (rc) {
			eio_error(wsi, c, 503, 3, "Server full");
			return 0;
		}
		s->direct_local = hbr_auth__direct_local(wsi);
		hbr_eio__open_packet(h, s, open, sizeof(open));
		reply(wsi, c, 200, "text/plain; charset=UTF-8", open, strlen(open));
		return 0;
	}
	s = hbr_eio__find(h, r.sid, strlen(r.sid));
	if (!s || hbr_hb__overdue(h, s)) {
		eio_error(wsi, c, 400, 1, "Session ID unknown");
		return 0;
	}
	if (s->transport != HBR_T_POLLING) {
		eio_error(wsi, c, 400, 3, "Bad request");
		return 0;
	}
	s->pollseen_ms = hc_mono_ms();
	s->poll_lost_ms = 0;
	if (get) {
		if (s->poll_wsi && !hbr_server__alive(s->poll_wsi)) {
			/* the parked one's connection is gone; this one replaces it */
			hbr_server__kill(s->poll_wsi);
			s->poll_wsi = NULL;
			s->noop_pending = false;
		}
		if (s->poll_wsi) {
			/* two GETs at once: the protocol forbids it (the parked
			 * one gets the engine close) */
			hc_info("msg=\"overlapping polling GETs: session ended\" sid=%s addr=%s",
				s->sid, r.addr);
			eio_error(wsi, c, 400, 3, "Bad request");
			hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
			return 0;
		}
		c->kind = C_GET;
		c->sock = s;
		s->poll_wsi = wsi;
		hc_debug("msg=\"poll parked\" sid=%s", s->sid);
		s->poll_check_ms = s->pollseen_ms + HBR_POLL_CHECK_MS;
		/* held until there is something to send; the heartbeat sends
		 * a ping at least every pingInterval */
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK,
			(int)((h->ping_interval + h->ping_timeout) / 1000 + 10));
		/* a client pausing polling for the upgrade waits for this GET
		 * to complete: release it at once with a noop */
		if (s->probing && s->probe_seen)
			s->noop_pending = true;
		if (hbr_sock__unwritten(s) || s->noop_pending || s->state == HBR_S_CLOSING)
			lws_callback_on_writable(wsi);
		return 0;
	}
	/* POST: a body of packets, at most maxPayload */
	{
		char v[32];
		int64_t clen = -1;
		if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 ||
			!header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, v, sizeof(v)) ||
			hc_parse_i64(v, 0, INT64_MAX, &clen)) {
			c->close_after = true;
			reply(wsi, c, 411, "text/plain", "length required\n", 16);
			return 0;
		}
		if (s->state != HBR_S_OPEN) {
			c->close_after = true; /* its body is not read */
			eio_error(wsi, c, 400, 1, "Session ID unknown");
			return 0;
		}
		if (s->post_wsi) {
			/* two POSTs at once: the protocol forbids it */
			hc_info("msg=\"overlapping polling POSTs: session ended\" sid=%s addr=%s",
				s->sid, r.addr);
			c->close_after = true;
			eio_error(wsi, c, 400, 3, "Bad request");
			hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
			hbr_eio__maybe_free(h, s);
			return 0;
		}
		if (clen > h->max_payload) {
			hc_info("msg=\"polling body over maxPayload: session ended\" sid=%s "
				"len=%lld",
				s->sid, (long long)clen);
			c->close_after = true;
			hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
			hbr_eio__maybe_free(h, s);
			reply(wsi, c, 413, "text/plain", "payload too large\n", 18);
			return 0;
		}
		if (clen == 0) {
			/* an empty payload is no packet at all */
			hc_info("msg=\"empty polling body: session ended\" sid=%s", s->sid);
			eio_error(wsi, c, 400, 3, "Bad request");
			hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
			hbr_eio__maybe_free(h, s);
			return 0;
		}
		c->kind = C_POST;
		snprintf(c->sid, sizeof(c->sid), "%s", s->sid);
		s->post_wsi = wsi;
		hc_debug("msg=\"poll post receiving\" sid=%s len=%lld", s->sid, (long long)clen);
		hbr_buf__init(&c->in, (size_t)h->max_payload);
	}
	return 0;
}

#define POST_ENDED (-1) /* a packet ended the session (not malformed) */

static int post_packet(void *ud, const char *p, size_t n)
{
	struct hbr_sock *s = ud;
	switch (hbr_eio__packet(s->h, s, p, n, false)) {
	case HBR_PKT_OK:
		return 0;
	case HBR_PKT_BAD:
		return HUB_ERR_INVAL;
	default:
		return POST_ENDED;
	}
}

static int post_complete(struct hbr *h, struct lws *wsi, struct hbr_conn *c)
{
	struct hbr_sock *s;
	int rc;

	if (c->kind != C_POST)
		return 0;
	s = hbr_eio__find(h, c->sid, strlen(c->sid));
	if (s && s->post_wsi == wsi)
		s->post_wsi = NULL;
	if (c->too_big) {
		if (s) {
			hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
			hbr_eio__maybe_free(h, s);
		}
		c->close_after = true;
		reply(wsi, c, 413, "text/plain", "payload too large\n", 18);
		return 0;
	}
	if (!s || s->state != HBR_S_OPEN) {
		eio_error(wsi, c, 400, 1, "Session ID unknown");
		return 0;
	}
	s->pollseen_ms = hc_mono_ms();
	rc = hbr_packet__eio_split(c->in.p, c->in.len, post_packet, s);
	hbr_buf__free(&c->in);
	if (rc == HUB_ERR_INVAL) {
		/* a malformed packet (or an empty record) ends the session, and
		 * this request says so at once */
		if (s->state == HBR_S_OPEN) {
			hc_info("msg=\"malformed polling body: session ended\" sid=%s", s->sid);
			hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
		}
		hbr_eio__maybe_free(h, s);
		eio_error(wsi, c, 400, 3, "Bad request");
		return 0;
	}
	hbr_eio__maybe_free(h, s);
	reply(wsi, c, 200, "text/html", "ok", 2);
	return 0;
}

/* The parked GET gets what is queued (packets joined by 0x1e). */
static int poll_writeable(struct hbr *h, struct lws *wsi, struct hbr_conn *c)
{
	struct hbr_sock *s = c->sock;
	struct hbr_buf b;
	struct hbr_msg *m;
	int rc;

	if (!s)
		return -1;
	if (!hbr_sock__unwritten(s) && !s->noop_pending && s->state == HBR_S_OPEN)
		return 0; /* woken for nothing */
	/* one packet always fits, even an escaped maximal one (rooms.c) */
	hbr_buf__init(&b, LWS_PRE + POLL_BATCH + (size_t)h->max_payload * 6 + 4096);
	hbr_buf__put(&b, (const unsigned char[LWS_PRE]){0}, LWS_PRE);
	while ((m = hbr_sock__peek(s)) != NULL) {
		if (b.len > LWS_PRE && b.len - LWS_PRE + m->len > POLL_BATCH)
			break;
		/* the engine's close goes alone: a client handles the Socket.IO
		 * packets of a payload a tick later than a close in it, and
		 * would report a server's "41" as a lost transport */
		if (b.len > LWS_PRE && !m->binary && m->len == 1 && m->data[LWS_PRE] == '1')
			break;
		if (b.len > LWS_PRE)
			hbr_buf__put(&b, "\x1e", 1);
		if (m->binary) {
			/* Engine.IO v4 polling: a binary packet is "b" + base64 */
			size_t sz = (m->len + 2) / 3 * 4 + 1;
			char *t;
			hbr_buf__put(&b, "b", 1);
			t = hbr_buf__append(&b, sz);
			if (!t || hc_b64_encode(m->data + LWS_PRE, m->len, t, sz) < 0) {
				b.err = b.err ? b.err : HUB_ERR_TOOBIG;
				break;
			}
			b.len -= 1; /* the encoder's NUL */
		} else {
			hbr_buf__put(&b, m->data + LWS_PRE, m->len);
		}
		if (b.err)
			break;
		hbr_sock__pop(s);
	}
	if (b.len == LWS_PRE)
		hbr_buf__put(&b, "6", 1);
	hc_debug("msg=\"poll answered\" sid=%s bytes=%zu left=%u", s->sid, b.len - LWS_PRE,
		hbr_sock__unwritten(s));
	s->noop_pending = false;
	s->poll_wsi = NULL;
	c->sock = NULL;
	if (b.err) {
		hbr_buf__free(&b);
		hbr_eio__close(h, s, "network", 0);
		hbr_eio__maybe_free(h, s);
		return -1;
	}
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	rc = write_response(
		wsi, c, 200, "text/plain; charset=UTF-8", (unsigned char *)b.p, b.len - LWS_PRE);
	hbr_buf__free(&b);
	hbr_eio__maybe_free(h, s);
	return rc;
}

/* ------------------------------------------------------------ websocket */

/* An upgrade refused with its HTTP status and an Engine.IO error body (as
 * the Node server's abortUpgrade does), then the connection is closed.
 * Returns -1: what LWS_CALLBACK_HTTP_CONFIRM_UPGRADE returns to hang up
 * after that (the reply is already with the kernel). */
static int upgrade_refuse(
	struct hbr *h, struct lws *wsi, int status, int code, const char *msg, const char *acao)
{
	char body[160];
	struct hbr_conn tmp;
	int n = snprintf(body, sizeof(body), "{\"code\":%d,\"message\":\"%s\"}", code, msg);

	memset(&tmp, 0, sizeof(tmp));
	tmp.close_after = true;
	snprintf(tmp.acao, sizeof(tmp.acao), "%s", acao ? acao : "");
	if (status == 503) {
		int64_t sec = (h->connect_timeout_ms + 999) / 1000;
		tmp.retry_after = (int)(sec < 1 ? 1 : sec);
	}
	{
		unsigned char buf[LWS_PRE + sizeof(body)];
		memcpy(buf + LWS_PRE, body, (size_t)n);
		write_response(wsi, &tmp, status, "application/json", buf, (size_t)n);
	}
	return -1;
}

/* The checks of a WebSocket upgrade, before lws answers 101: NULL if it
 * may go on, else the refusal (status, Engine.IO code and message). */
struct refusal {
	int status, code;
	const char *msg;
};

static bool ws_check(struct hbr *h, struct lws *wsi, struct hbr_conn *tmp, struct refusal *f)
{
	char uri[64];
	struct req r;
	struct hbr_sock *s;
	int rc;

	memset(tmp, 0, sizeof(*tmp));
	*f = (struct refusal){400, 3, "Bad request"};
	if (!header(wsi, WSI_TOKEN_GET_URI, uri, sizeof(uri)) ||
		(strcmp(uri, HBR_PATH) != 0 && strcmp(uri, "/socket.io") != 0)) {
		*f = (struct refusal){404, 0, "Not found"};
		return false;
	}
	rc = read_request(h, wsi, tmp, &r);
	if (rc == 2) {
		*f = (struct refusal){403, 4, "Forbidden"};
		return false;
	}
	if (rc == 3) {
		*f = (struct refusal){400, 5, "Unsupported protocol version"};
		return false;
	}
	if (strcmp(r.transport, "websocket") != 0) {
		if (strcmp(r.transport, "polling") != 0)
			*f = (struct refusal){400, 0, "Transport unknown"};
		return false;
	}
	if (r.sid[0]) {
		s = hbr_eio__find(h, r.sid, strlen(r.sid));
		if (!s || hbr_hb__overdue(h, s) || s->state != HBR_S_OPEN) {
			*f = (struct refusal){400, 1, "Session ID unknown"};
			return false;
		}
		/* upgraded already, or a probe under way: the Node server
		 * completes the handshake and closes that WebSocket at once
		 * (engine.io's onWebSocket), which the engine.io-protocol
		 * suite checks ("ignores WebSocket connection with same sid
		 * after upgrade"): ws_established does the same */
		return true;
	}
	if (h->stopping) {
		*f = (struct refusal){503, 3, "Server shutting down"};
		return false;
	}
	if (hbr_pending__count(h, r.addr) >= h->pending_per_addr) {
		h->stats.pending_refused++;
		hc_info("msg=\"handshake refused: too many unauthenticated sessions from the "
			"address\" addr=%s max=%lld transport=websocket",
			r.addr, (long long)h->pending_per_addr);
		*f = (struct refusal){
			503, 3, "Too many unauthenticated sessions from this address"};
		return false;
	}
	return true;
}

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: refused upgrades get an HTTP status */
static int ws_confirm(struct hbr *h, struct lws *wsi, const char *up)
{
	struct hbr_conn tmp;
	struct refusal f;

	if (!up || strcasecmp(up, "websocket") != 0)
		return upgrade_refuse(h, wsi, 400, 3, "Bad request", NULL);
	if (ws_check(h, wsi, &tmp, &f))
		return 0;
	hc_debug("msg=\"websocket upgrade refused\" status=%d code=%d", f.status, f.code);
	return upgrade_refuse(h, wsi, f.status, f.code, f.msg, tmp.acao);
}

/* LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: ws_confirm decided already;
 * the same checks again cost little and keep this path closed on its own */
static int ws_filter(struct hbr *h, struct lws *wsi)
{
	struct hbr_conn tmp;
	struct refusal f;
	return ws_check(h, wsi, &tmp, &f) ? 0 : 1;
}

static int ws_established(struct hbr *h, struct lws *wsi, struct hbr_conn *c)
{
	struct req r;
	struct hbr_sock *s;

	memset(c, 0, sizeof(*c));
	c->kind = C_WS;
	if (read_request(h, wsi, c, &r))
		return -1;
	hbr_buf__init(&c->in, (size_t)h->max_payload);
	if (r.sid[0]) {
		s = hbr_eio__find(h, r.sid, strlen(r.sid));
		if (!s || s->state != HBR_S_OPEN || s->transport != HBR_T_POLLING || s->ws_wsi) {
			/* a second WebSocket for a session that has one (or
			 * that ended since ws_check): closed at once with a
			 * close frame; the session goes on on its own */
			hc_debug("msg=\"websocket for a session upgraded already: closed\" sid=%s",
				r.sid);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION,
				(unsigned char *)"Session ID already upgraded", 27);
			return -1;
		}
		s->ws_wsi = wsi;
		s->probing = true;
		c->sock = s;
		hc_debug("msg=\"websocket probe transport\" sid=%s", s->sid);
		/* the cookie a browser sends with the upgrade but not with
		 * polling requests without credentials (read_request has
		 * refused it from another site) */
		if (!s->cookie[0] && r.has_cookie)
			snprintf(s->cookie, sizeof(s->cookie), "%s", r.cookie);
		if (s->connect_wait_ms && hbr_sio__connect_resume(h, s) < 0) {
			hbr_eio__close(h, s, "network", 0);
			return -1;
		}
		return 0;
	}
	{
		char open[256];
		if (hbr_eio__open(h, HBR_T_WS, r.cookie, r.addr, &s))
			return -1;
		s->ws_wsi = wsi;
		c->sock = s;
		s->direct_local = hbr_auth__direct_local(wsi);
		hbr_eio__open_packet(h, s, open, sizeof(open));
		if (hbr_sock__send_text(h, s, open, strlen(open)))
			return -1;
	}
	return 0;
}

static int ws_receive(
	struct hbr *h, struct lws *wsi, struct hbr_conn *c, const void *in, size_t len)
{
	struct hbr_sock *s = c->sock;
	int rc;

	if (!s || c->killed)
		return -1;
	if (!c->rx_active) {
		c->rx_active = true;
		c->rx_binary = lws_frame_is_binary(wsi);
		hbr_buf__reset(&c->in);
	}
	if (hbr_buf__put(&c->in, in, len)) {
		hc_info("msg=\"websocket message over maxPayload: session ended\" sid=%s user=%s",
			s->sid, s->user[0] ? s->user : "-");
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, NULL, 0);
		c->sock = NULL;
		s->ws_wsi = NULL;
		s->probing = false;
		hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
		hbr_eio__maybe_free(h, s);
		return -1;
	}
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	c->rx_active = false;
	if (c->rx_binary)
		rc = hbr_eio__binary(h, s, c->in.p ? c->in.p : "", c->in.len, false);
	else
		rc = hbr_eio__packet(h, s, c->in.p ? c->in.p : "", c->in.len, true);
	if (c->in.cap > RX_CHUNK * 4)
		hbr_buf__free(&c->in); /* keep idle sockets small */
	(void)rc;		       /* a session that ended flushes and closes from writeable */
	return 0;
}

/* Several queued packets as consecutive WebSocket text frames in one
 * write (one send() instead of one per packet when a socket is behind).
 * Server frames are unmasked and no extension is negotiated, so the
 * framing is FIN|text, then the length. lws buffers what the kernel does
 * not take, so the static buffer is free again on return. */
static int ws_write_many(struct lws *wsi, struct hbr_sock *s)
{
	static unsigned char buf[LWS_PRE + COALESCE];
	size_t used = 0;
	struct hbr_msg *m;

	while ((m = hbr_sock__peek(s)) != NULL && m->len + 10 <= COALESCE - used) {
		unsigned char *f = buf + LWS_PRE + used;
		size_t hl;
		f[0] = m->binary ? 0x82 : 0x81; /* FIN, binary or text */
		if (m->len < 126) {
			f[1] = (unsigned char)m->len;
			hl = 2;
		} else if (m->len < 65536) {
			f[1] = 126;
			f[2] = (unsigned char)(m->len >> 8);
			f[3] = (unsigned char)m->len;
			hl = 4;
		} else {
			f[1] = 127;
			for (int i = 0; i < 8; i++)
				f[2 + i] = (unsigned char)((uint64_t)m->len >> (56 - 8 * i));
			hl = 10;
		}
		memcpy(f + hl, m->data + LWS_PRE, m->len);
		used += hl + m->len;
		hbr_sock__pop(s);
	}
	return lws_write(wsi, buf + LWS_PRE, used, LWS_WRITE_RAW) < (int)used ? -1 : 0;
}

/* Write s's queue on its WebSocket: 0, 1 when more is left (the caller
 * asks for writability), -1 on an error (the connection is to close). */
static int ws_write_queue(struct lws *wsi, struct hbr_sock *s)
{
	struct hbr_msg *m;

	for (int i = 0; i < WS_BATCH && (m = hbr_sock__peek(s)) != NULL; i++) {
		int rc;
		if (hbr_sock__unwritten(s) > 1 && m->len < COALESCE / 2) {
			rc = ws_write_many(wsi, s);
		} else {
			/* lws takes the whole frame (buffering what the kernel
			 * does not) or fails */
			rc = lws_write(wsi, m->data + LWS_PRE, m->len,
				m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT);
			hbr_sock__pop(s);
		}
		if (rc < 0)
			return -1;
		/* what the kernel did not take waits in lws: stop there (no poll()
		 * syscall per write, as lws_send_pipe_choked would make) */
		if (lws_partial_buffered(wsi))
			break;
	}
	return hbr_sock__unwritten(s) ? 1 : 0;
}

static int ws_writeable(struct hbr *h, struct lws *wsi, struct hbr_conn *c)
{
	struct hbr_sock *s = c->sock;
	int rc;

	(void)h;
	if (!s || c->killed)
		return -1;
	if (s->probing) {
		if (s->probe_reply) {
			static const char probe[] = "3probe";
			unsigned char buf[LWS_PRE + sizeof(probe)];
			s->probe_reply = false;
			memcpy(buf + LWS_PRE, probe, sizeof(probe) - 1);
			if (lws_write(wsi, buf + LWS_PRE, sizeof(probe) - 1, LWS_WRITE_TEXT) < 0)
				return -1;
		}
		return 0;
	}
	rc = ws_write_queue(wsi, s);
	if (rc < 0)
		return -1;
	if (rc > 0) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (s->state == HBR_S_CLOSING) {
		lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		return -1;
	}
	return 0;
}

/*
 * Writes at the end of the loop pass. A socket that gets a packet while
 * nothing of its own waits in lws is written to right after the pass's
 * callbacks (an ev_prepare watcher, main.c), not after asking epoll
 * whether it is writable (two epoll_ctl calls and a wake-up per socket and
 * packet): a fan-out to 100 sockets is 100 send() calls in a row, and
 * what several events of one pass queued still leaves in one write.
 * Only with libev (lws's own poll loop has no such hook).
 */
bool hbr_server__flush_later(struct hbr *h, struct hbr_sock *s)
{
	if (!h->ev_loop || s->state != HBR_S_OPEN)
		return false;
	if (s->flush_due)
		return true;
	if (h->nflush == h->flushcap) {
		size_t cap = h->flushcap ? h->flushcap * 2 : 64;
		uint64_t *q = realloc(h->flushq, cap * sizeof(*q));
		if (!q)
			return false;
		h->flushq = q;
		h->flushcap = cap;
	}
	h->flushq[h->nflush++] = s->serial;
	s->flush_due = true;
	return true;
}

void hbr_server__flush(struct hbr *h)
{
	/* a write may end a socket and queue packets to others: walk by
	 * index, the array may grow meanwhile */
	for (size_t i = 0; i < h->nflush; i++) {
		struct hbr_sock *s = hbr_eio__by_serial(h, h->flushq[i]);
		struct lws *wsi;
		struct hbr_conn *c;
		int rc;

		if (!s)
			continue; /* ended since */
		s->flush_due = false;
		wsi = s->ws_wsi;
		if (s->state != HBR_S_OPEN || s->transport != HBR_T_WS || s->probing || !wsi)
			continue;
		c = lws_wsi_user(wsi);
		if (!c || c->killed || c->sock != s)
			continue;
		if (lws_partial_buffered(wsi)) {
			lws_callback_on_writable(wsi); /* lws writes its rest first */
			continue;
		}
		rc = ws_write_queue(wsi, s);
		if (rc > 0) {
			lws_callback_on_writable(wsi);
		} else if (rc < 0) {
			hc_debug("msg=\"websocket write failed\" sid=%s", s->sid);
			s->ws_wsi = NULL;
			hbr_server__kill(wsi);
			hbr_eio__close(h, s, "network", HBR_CLOSE_QUIET);
			hbr_eio__maybe_free(h, s);
		}
	}
	h->nflush = 0;
}

/* ------------------------------------------------------------ callback */

static void conn_release(struct hbr *h, struct lws *wsi, struct hbr_conn *c)
{
	struct hbr_sock *s;
	if (!c)
		return;
	s = c->sock;
	c->sock = NULL;
	if (s)
		hbr_eio__transport_gone(h, s, wsi);
	/* a POST that went away before its body was complete */
	if (c->sid[0] && (s = hbr_eio__find(h, c->sid, strlen(c->sid))) != NULL &&
		s->post_wsi == wsi)
		s->post_wsi = NULL;
	c->sid[0] = '\0';
	free(c->body);
	c->body = NULL;
	hbr_buf__free(&c->in);
}

static int callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct hbr_conn *c = user;
	struct hbr *h = hbr_of(wsi);

	switch (reason) {
	case LWS_CALLBACK_HTTP: {
		char path[64];
		if (!c || !h)
			return -1;
		snprintf(path, sizeof(path), "%.*s", (int)(len < 63 ? len : 63),
			in ? (const char *)in : "");
		return http_request(h, wsi, c, path) < 0 ? -1 : 0;
	}
	case LWS_CALLBACK_HTTP_BODY:
		if (!c || c->kind != C_POST)
			return 0;
		if (!c->too_big && hbr_buf__put(&c->in, in, len))
			c->too_big = true;
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return c && h ? post_complete(h, wsi, c) : -1;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (!c || !h || c->killed)
			return -1;
		if (c->kind == C_REPLY) {
			unsigned char *b = c->body;
			size_t bl = c->blen;
			int rc;
			c->body = NULL;
			c->kind = C_NONE;
			rc = write_response(wsi, c, c->status, c->ctype, b, bl);
			free(b);
			return rc;
		}
		if (c->kind == C_GET)
			return poll_writeable(h, wsi, c);
		return 0;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		conn_release(h, wsi, c);
		return 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return h ? ws_confirm(h, wsi, in) : -1;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		return h ? ws_filter(h, wsi) : 1;
	case LWS_CALLBACK_ESTABLISHED:
		return c && h ? ws_established(h, wsi, c) : -1;
	case LWS_CALLBACK_RECEIVE:
		return c && h ? ws_receive(h, wsi, c, in, len) : -1;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return c && h ? ws_writeable(h, wsi, c) : -1;
	case LWS_CALLBACK_CLOSED:
		conn_release(h, wsi, c);
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* TLS: user is the vhost's SSL_CTX, filled from what main()
		 * loaded before the privilege drop */
		return h && h->tls ? hc_tls_serve(h->tls, user, &h->tls_served) : -1;
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		return h && h->stopping ? 1 : 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if (h)
			hbr_main__wakeup(h);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

const struct lws_protocols hbr_protocols[] = {
	{"engine.io", callback, sizeof(struct hbr_conn), RX_CHUNK, 0, NULL, TX_CHUNK},
	{NULL, NULL, 0, 0, 0, NULL, 0},
};

struct lws_context *hbr_server__create(struct hbr *h, void *ev_loop)
{
	/* no lws "validity" timers: Engine.IO has its own heartbeat, and lws
	 * 4.1 re-files a connection's validity timer into its one sorted list
	 * (a walk of every connection) on each frame received */
	static const lws_retry_bo_t no_validity = {
		.secs_since_valid_ping = 0, .secs_since_valid_hangup = 0};
	struct lws_context_creation_info info;
	void *loops[1] = {ev_loop};
	const char *bind = hc_cfg_str(&h->cfg, HC_CFG_BIND_ADDRESS);

	memset(&info, 0, sizeof(info));
	info.port = (int)hc_cfg_int(&h->cfg, HC_CFG_SIO_PORT);
	info.iface = bind;
	info.protocols = hbr_protocols;
	info.user = h;
	info.uid = -1; /* hc_drop_privileges does it */
	info.gid = -1;
	info.server_string = "hub-bridge";
	info.max_http_header_data = (unsigned short)hc_cfg_int(&h->cfg, HC_CFG_HTTP_MAX_HEADERS);
	info.max_http_header_pool = 1024;
	/* authenticated sockets, unauthenticated ones, and some margin for
	 * connections between requests */
	info.fd_limit_per_thread = (unsigned int)(h->max_sockets + h->pending_max + 1024);
	info.timeout_secs = 20;
	info.keepalive_timeout = 60;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8;
	info.retry_and_idle_policy = &no_validity;
	if (!strchr(bind, ':'))
		info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
	if (ev_loop) {
		info.options |= LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = loops;
	}
	if (h->tls) {
		/* HTTPS/WSS: the certificate goes in at the callback above;
		 * HTTP/1.1 as in clear text (no h2 by ALPN) */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
				LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
		info.alpn = "http/1.1";
	}
	return lws_create_context(&info);
}
