/* SPDX-License-Identifier: MIT */
/*
 * The HTTP side of hubd on libwebsockets: request start (method, path,
 * headers, body framing and limits, routing), body collection, response
 * writing and transaction completion.
 *
 * A transaction ends when both its response is written and its request
 * body is consumed; a response may go out before the body is in (413 on a
 * declared Content-Length), the rest of the body is then read and thrown
 * away up to a cap so the client sees the answer and the connection can be
 * reused. Bodies lws cannot frame itself (chunked, or a POST without any
 * length, which lws takes for a 100 MB body) end with the connection.
 */
#include "http.h"
#include "cookie.h"
#include "front.h"
#include "sioproxy.h"
#include "syncwait.h"
#include "workpool.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"
#include "hc_web.h"
#include "hub.h"
#include "metrics.h"
#include "origin.h"
#include "routes.h"
#include "mqtt.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	PH_NONE = 0, /* no response yet */
	PH_HEADERS,  /* response prepared, headers to write */
	PH_BODY,     /* headers written, body to write */
	PH_DONE,     /* response written */
	PH_FILE	     /* lws is sending a file */
};

/* Body bytes read and dropped after an early answer, at least; beyond
 * max(this, 16 x http_max_body) the connection is closed instead. */
#define DRAIN_MIN ((uint64_t)8 << 20)

/* Response body bytes written per writeable callback. */
#define WRITE_CHUNK ((size_t)32 << 10)

static const struct hub_route routes[] = {
	{"/api/login", HUB_M_POST, HUB_RF_BODY | HUB_RF_FORM | HUB_RF_SAME_ORIGIN, hub_route_login},
	{"/api/session", HUB_M_GET, 0, hub_route_session},
	{"/api/token", HUB_M_POST, HUB_RF_SAME_ORIGIN, hub_route_token},
	{"/api/logout", HUB_M_POST, HUB_RF_SAME_ORIGIN, hub_route_logout},
	{"/healthz", HUB_M_GET, 0, hub_route_health},
	{"/metrics", HUB_M_GET, 0, hub_route_metrics},
	{"/api/config", HUB_M_GET, 0, hub_route_config},
	{"/api/publish", HUB_M_POST, HUB_RF_BODY | HUB_RF_SAME_ORIGIN, hub_route_publish},
	{"/api/rooms/*/messages", HUB_M_GET, 0, hub_route_history},
	{"/api/deliveries", HUB_M_POST, HUB_RF_BODY | HUB_RF_SAME_ORIGIN, hub_route_delivery_open},
	{"/api/deliveries/*", HUB_M_DELETE, HUB_RF_SAME_ORIGIN, hub_route_delivery_close},
	/* a service key only (no cookie counts), so no origin check */
	{"/api/sessions", HUB_M_POST, HUB_RF_BODY, hub_route_sessions_create},
	{"/api/sessions/*", HUB_M_DELETE, 0, hub_route_sessions_end},
};

static const char *method_name(int m)
{
	static const char *const names[] = {
		"OTHER", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
	return m >= 0 && m <= HUB_M_OPTIONS ? names[m] : "OTHER";
}

struct hub *hub_from_wsi(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* ------------------------------------------------------------ helpers */

static int method_of(struct lws *wsi)
{
	static const struct {
		enum lws_token_indexes tok;
		int m;
	} t[] = {
		{WSI_TOKEN_GET_URI, HUB_M_GET},
		{WSI_TOKEN_POST_URI, HUB_M_POST},
		{WSI_TOKEN_HEAD_URI, HUB_M_HEAD},
		{WSI_TOKEN_PUT_URI, HUB_M_PUT},
		{WSI_TOKEN_PATCH_URI, HUB_M_PATCH},
		{WSI_TOKEN_DELETE_URI, HUB_M_DELETE},
		{WSI_TOKEN_OPTIONS_URI, HUB_M_OPTIONS},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (lws_hdr_total_length(wsi, t[i].tok) > 0)
			return t[i].m;
	return HUB_M_OTHER;
}

/* Copy a header; false if absent, empty or longer than out. */
static bool header(struct lws *wsi, enum lws_token_indexes tok, char *out, size_t n)
{
	int len = lws_hdr_total_length(wsi, tok);

	out[0] = '\0';
	if (len <= 0 || (size_t)len >= n)
		return false;
	return lws_hdr_copy(wsi, out, (int)n, tok) > 0;
}

/* A header lws does not know by name (lower case, with the colon). */
static bool custom_header(struct lws *wsi, const char *name, char *out, size_t n)
{
	int nlen = (int)strlen(name);
	int len = lws_hdr_custom_length(wsi, name, nlen);

	out[0] = '\0';
	if (len <= 0 || (size_t)len >= n)
		return false;
	return lws_hdr_custom_copy(wsi, out, (int)n, name, nlen) > 0;
}

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Media type without parameters, compared case-insensitively. */
static int ctype_of(struct lws *wsi)
{
	char v[256], *t, *semi;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
		return HUB_CT_NONE;
	if (!header(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE, v, sizeof(v)))
		return HUB_CT_OTHER;
	semi = strchr(v, ';');
	if (semi)
		*semi = '\0';
	t = trim(v);
	if (!strcasecmp(t, "application/json"))
		return HUB_CT_JSON;
	if (!strcasecmp(t, "application/x-www-form-urlencoded"))
		return HUB_CT_FORM;
	return HUB_CT_OTHER;
}

/* Whether the client asked for the connection to end after this exchange
 * (RFC 9112 9.3: "Connection: close", or HTTP/1.0 without keep-alive). lws
 * closes such a connection after the response; the response must then say
 * so, or a client that pools connections (Node's keep-alive agent) sends its
 * next request on a socket that is about to close ("socket hang up"). */
static bool client_wants_close(struct lws *wsi)
{
	char v[256], version[16], *p, *tok;
	bool close_tok = false, keep_tok = false;

	if (header(wsi, WSI_TOKEN_CONNECTION, v, sizeof(v))) {
		for (p = v; *p;) {
			size_t n;
			while (*p == ' ' || *p == '\t' || *p == ',')
				p++;
			tok = p;
			n = strcspn(p, ", \t");
			p += n;
			if (n == 5 && !strncasecmp(tok, "close", 5))
				close_tok = true;
			else if (n == 10 && !strncasecmp(tok, "keep-alive", 10))
				keep_tok = true;
		}
	}
	if (close_tok)
		return true;
	return header(wsi, WSI_TOKEN_HTTP, version, sizeof(version)) &&
	       !strcmp(version, "HTTP/1.0") && !keep_tok;
}

/* A Host header we are willing to echo into origins and CSP. */
static bool host_ok(const char *h)
{
	if (!*h)
		return false;
	for (const char *p = h; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p))
			return false;
	return true;
}

static uint64_t drain_cap(struct hub *h)
{
	uint64_t cap = (uint64_t)hc_cfg_int(&h->cfg, HC_CFG_HTTP_MAX_BODY) * 16;
	return cap > DRAIN_MIN ? cap : DRAIN_MIN;
}

/* ------------------------------------------------------------ responses */

void hub_http_reply(struct hub_conn *c, int status, const char *type, const void *body, size_t len)
{
	free(c->out);
	c->out = NULL;
	c->outlen = 0;
	c->status = status;
	c->out_type = type;
	if (len) {
		c->out = malloc(LWS_PRE + len);
		if (!c->out) {
			/* nothing sensible left to say: answer 500 without a body */
			c->status = 500;
			c->out_type = NULL;
			c->close_after = true;
			return;
		}
		memcpy(c->out + LWS_PRE, body, len);
		c->outlen = len;
	}
}

void hub_http_reply_take(
	struct hub_conn *c, int status, const char *type, unsigned char *buf, size_t len)
{
	free(c->out);
	c->out = buf;
	c->outlen = buf ? len : 0;
	c->status = status;
	c->out_type = type;
}

void hub_http_json(struct hub_conn *c, int status, const cJSON *root)
{
	char *text = cJSON_PrintUnformatted(root);

	if (!text) {
		hub_http_reply(c, 500, "application/json",
			"{\"error\":\"internal\",\"message\":\"out of memory\"}", 45);
		return;
	}
	hub_http_reply(c, status, "application/json", text, strlen(text));
	/* login replies carry a token: do not leave it in freed memory */
	OPENSSL_cleanse(text, strlen(text));
	cJSON_free(text);
}

void hub_http_error(struct hub_conn *c, int status, const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "error", code) ||
		!cJSON_AddStringToObject(o, "message", message)) {
		cJSON_Delete(o);
		hub_http_reply(c, 500, NULL, NULL, 0);
		return;
	}
	hub_http_json(c, status, o);
	cJSON_Delete(o);
}

void hub_http_header(struct hub_conn *c, const char *name, const char *value)
{
	size_t nl = strlen(name) + 1, vl = strlen(value) + 1;

	if (nl + vl > sizeof(c->xh) - c->xhlen) {
		hc_err("msg=\"response header space exhausted\" header=%s", name);
		return;
	}
	memcpy(c->xh + c->xhlen, name, nl);
	memcpy(c->xh + c->xhlen + nl, value, vl);
	c->xhlen += nl + vl;
}

void hub_http_send(struct hub_conn *c)
{
	c->phase = PH_HEADERS;
	c->sent = 0;
	lws_callback_on_writable(c->wsi);
}

void hub_http_csp(struct hub *h, const struct hub_conn *c, char *out, size_t n)
{
	char hostname[HUB_HOST_MAX], connect[HUB_HOST_MAX * 6 + 128] = "", tiles[512] = "";
	const char *colon;
	size_t hl;

	/* the dashboard talks MQTT over WebSocket at /mqtt of this origin
	 * (listed for browsers whose 'self' leaves out ws:), and pages may
	 * use the front's ws_port and the gateway's own port of this host */
	if (host_ok(c->host)) {
		if (c->host[0] == '[') {
			colon = strchr(c->host, ']');
			hl = colon ? (size_t)(colon - c->host) + 1 : strlen(c->host);
		} else {
			colon = strchr(c->host, ':');
			hl = colon ? (size_t)(colon - c->host) : strlen(c->host);
		}
		snprintf(hostname, sizeof(hostname), "%.*s", (int)hl, c->host);
		if (h->tls)
			/* TLS: only the secure schemes, wss_port for ws_port */
			snprintf(connect, sizeof(connect),
				" wss://%s wss://%s:%lld https://%s:%lld wss://%s:%lld", c->host,
				hostname, (long long)hc_cfg_int(&h->cfg, HC_CFG_WSS_PORT), hostname,
				(long long)hc_cfg_int(&h->cfg, HC_CFG_SIO_PORT), hostname,
				(long long)hc_cfg_int(&h->cfg, HC_CFG_SIO_PORT));
		else
			snprintf(connect, sizeof(connect),
				" ws://%s wss://%s ws://%s:%lld wss://%s:%lld http://%s:%lld "
				"ws://%s:%lld",
				c->host, c->host, hostname,
				(long long)hc_cfg_int(&h->cfg, HC_CFG_WS_PORT), hostname,
				(long long)hc_cfg_int(&h->cfg, HC_CFG_WS_PORT), hostname,
				(long long)hc_cfg_int(&h->cfg, HC_CFG_SIO_PORT), hostname,
				(long long)hc_cfg_int(&h->cfg, HC_CFG_SIO_PORT));
	}
	/* the map's tiles (map_tiles): that origin only, and only when set;
	 * the setting was checked at start-up, this cannot fail then */
	if (*hc_cfg_str(&h->cfg, HC_CFG_MAP_TILES) &&
		hc_tile_source(hc_cfg_str(&h->cfg, HC_CFG_MAP_TILES), tiles + 1, sizeof(tiles) - 1))
		tiles[0] = ' ';
	if (hc_fmt(out, n,
		    "default-src 'self'; connect-src 'self'%s; img-src 'self' data:%s; "
		    "object-src 'none'; base-uri 'self'; form-action 'self'; "
		    "frame-ancestors 'none'",
		    connect, tiles))
		/* never a truncated policy: the strict one without the extras */
		snprintf(out, n,
			"default-src 'self'; img-src 'self' data:; object-src 'none'; "
			"base-uri 'self'; form-action 'self'; frame-ancestors 'none'");
}

void hub_http_html_headers(struct hub *h, struct hub_conn *c)
{
	char csp[HUB_CSP_MAX];

	hub_http_csp(h, c, csp, sizeof(csp));
	hub_http_header(c, "content-security-policy:", csp);
	hub_http_header(c, "x-frame-options:", "DENY");
	hub_http_header(c, "referrer-policy:", "same-origin");
}

/* Write the status line and headers of the prepared response. */
static int write_headers(struct hub *h, struct hub_conn *c)
{
	unsigned char buf[LWS_PRE + 4096], *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;
	struct lws *wsi = c->wsi;
	lws_filepos_t len = c->announce_len >= 0 ? (lws_filepos_t)c->announce_len : c->outlen;
	bool api = !c->out_type || !strncmp(c->out_type, "application/json", 16) ||
		   !strncmp(c->out_type, "text/plain", 10);

	if (c->status == 204)
		len = LWS_ILLEGAL_HTTP_CONTENT_LEN;
	if (lws_add_http_header_status(wsi, (unsigned int)c->status, &p, end))
		return -1;
	if (c->out_type &&
		lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
			(const unsigned char *)c->out_type, (int)strlen(c->out_type), &p, end))
		return -1;
	/* 204 has no body and no length; the connection stays usable */
	if (len != LWS_ILLEGAL_HTTP_CONTENT_LEN &&
		lws_add_http_header_content_length(wsi, len, &p, end))
		return -1;
	if (lws_add_http_header_by_name(wsi, (const unsigned char *)"x-content-type-options:",
		    (const unsigned char *)"nosniff", 7, &p, end))
		return -1;
	if (api && lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
			   (const unsigned char *)"no-store", 8, &p, end))
		return -1;
	for (size_t off = 0; off < c->xhlen;) {
		const char *name = c->xh + off, *value = name + strlen(name) + 1;
		if (lws_add_http_header_by_name(wsi, (const unsigned char *)name,
			    (const unsigned char *)value, (int)strlen(value), &p, end))
			return -1;
		off += strlen(name) + 1 + strlen(value) + 1;
	}
	/* every response after which the connection ends says so */
	if (c->close_after || h->stopping)
		c->close_after = true;
	if (c->close_after && lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
				      (const unsigned char *)"close", 5, &p, end))
		return -1;
	if (lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	hub_metrics_http(&h->metrics, c->status);
	return 0;
}

/* ------------------------------------------------------------ lifecycle */

/* Drop what a request holds. Safe to call more than once. */
static void release(struct hub *h, struct hub_conn *c)
{
	if (c->waiting) {
		char key[24];
		snprintf(key, sizeof(key), "%" PRIu64, c->id);
		hc_hmap_del(&h->waiting, key, strlen(key));
		c->waiting = false;
		hc_debug("msg=\"client left while its request waited\" id=%" PRIu64, c->id);
		if (c->gone)
			atomic_store(c->gone, true);
		c->gone = NULL;
	}
	if (c->started) {
		c->started = false;
		h->active--;
	}
	if (c->history_slot) {
		c->history_slot = false;
		h->history_alive--;
	}
	if (c->sio)
		hub_sio_http_gone(h, c);
	c->sio_body = false;
	hub_body_free(&c->body);
	free(c->out);
	c->out = NULL;
	c->outlen = 0;
}

/* End the transaction once the response is out and the body consumed.
 * Returns the value the lws callback must return. */
static int finish(struct hub *h, struct hub_conn *c)
{
	struct lws *wsi = c->wsi;

	if (c->phase != PH_DONE)
		return 0;
	if (c->close_after || h->stopping) {
		release(h, c);
		return -1; /* lws flushes what is buffered, then closes */
	}
	if (!c->body_done)
		return 0; /* the rest of the body is still being read and dropped */
	release(h, c);
	/* frees c (lws re-binds the protocol for the next request) */
	if (lws_http_transaction_completed(wsi))
		return -1;
	return 0;
}

uint64_t hub_http_wait(struct hub *h, struct hub_conn *c, atomic_bool *gone)
{
	char key[24];

	c->gone = gone;
	snprintf(key, sizeof(key), "%" PRIu64, c->id);
	if (hc_hmap_put(&h->waiting, key, strlen(key), c->wsi, NULL) == HUB_OK)
		c->waiting = true;
	/* a job is expected within seconds; this only guards against a bug
	 * leaving the client hanging forever */
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, 120);
	return c->id;
}

struct hub_conn *hub_http_resume(struct hub *h, uint64_t id)
{
	char key[24];
	struct lws *wsi;
	struct hub_conn *c;

	snprintf(key, sizeof(key), "%" PRIu64, id);
	wsi = hc_hmap_del(&h->waiting, key, strlen(key));
	if (!wsi)
		return NULL;
	c = lws_wsi_user(wsi);
	if (!c || c->id != id)
		return NULL;
	c->waiting = false;
	c->gone = NULL;
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	return c;
}

/* Whether path matches pattern, where '*' is one non-empty segment. */
static bool path_match(const char *pattern, const char *path)
{
	while (*pattern) {
		if (*pattern == '*') {
			const char *end = strchr(path, '/');
			size_t n = end ? (size_t)(end - path) : strlen(path);
			if (n == 0)
				return false;
			path += n;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *path == '\0';
}

/* Run the route handler once the request is complete. */
static int run_route(struct hub *h, struct hub_conn *c)
{
	int rc;

	c->ran = true;
	rc = c->route->run(h, c);
	if (rc)
		return -1;
	if (!c->waiting && c->phase == PH_NONE) {
		if (c->status == 0)
			hub_http_error(c, 500, "internal", "the request could not be handled");
		hub_http_send(c);
	}
	return 0;
}

/* Answer now, before (or instead of) the body; the body is dropped. */
static int answer_early(struct hub_conn *c, int status, const char *code, const char *message)
{
	c->collecting = false;
	c->ran = true;
	hub_http_error(c, status, code, message);
	hub_http_send(c);
	return 0;
}

static const struct hub_route *route_find(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (path_match(routes[i].path, path))
			return &routes[i];
	return NULL;
}

/* Content-Length and Transfer-Encoding: what body, if any, follows. */
static int framing(struct hub *h, struct hub_conn *c, int64_t *clen, bool *chunked)
{
	struct lws *wsi = c->wsi;
	char v[64];
	bool has_cl = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
	bool has_te = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
	bool post_like =
		c->method == HUB_M_POST || c->method == HUB_M_PUT || c->method == HUB_M_PATCH;

	(void)h;
	*clen = 0;
	*chunked = false;
	if (has_te) {
		/* lws passes a chunked body through raw and then expects 100 MB
		 * more: decode it here and close after answering */
		c->body_expected = post_like || has_cl;
		c->close_after = true;
		if (has_cl) {
			answer_early(c, 400, "bad_request",
				"Content-Length and Transfer-Encoding together");
			return 1;
		}
		if (!header(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING, v, sizeof(v)) ||
			strcasecmp(trim(v), "chunked")) {
			answer_early(c, 501, "not_implemented",
				"only chunked transfer coding is supported");
			return 1;
		}
		c->body_expected = true;
		*chunked = true;
		return 0;
	}
	if (has_cl) {
		if (!header(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH, v, sizeof(v)) ||
			hc_parse_i64(trim(v), 0, INT64_MAX, clen) != HUB_OK) {
			c->body_expected = true;
			c->close_after = true;
			answer_early(c, 400, "bad_request", "malformed Content-Length");
			return 1;
		}
		/* lws delivers an empty body (and its completion) for an explicit
		 * "Content-Length: 0" on POST only */
		c->body_expected = *clen > 0 || c->method == HUB_M_POST;
		return 0;
	}
	if (post_like) {
		/* neither length nor chunking: the body is empty (RFC 9112,
		 * 6.3), as `curl -X POST` sends it. lws would wait for a 100 MB
		 * body on this connection, so it closes after the answer */
		c->body_expected = false;
		c->close_after = true;
		return 0;
	}
	c->body_expected = false;
	return 0;
}

/* Same-origin policy of state-changing routes (origin.h). */
static bool origin_ok(struct hub *h, struct hub_conn *c)
{
	char origin[512], fetch_site[64];
	bool has_origin = lws_hdr_total_length(c->wsi, WSI_TOKEN_ORIGIN) > 0;
	bool has_fs = custom_header(c->wsi, "sec-fetch-site:", fetch_site, sizeof(fetch_site));

	if (has_origin && !header(c->wsi, WSI_TOKEN_ORIGIN, origin, sizeof(origin)))
		return false; /* present but unreadable: too long to be real */
	return hub_origin_allowed(&h->cfg, has_origin ? trim(origin) : NULL,
		c->host[0] ? c->host : NULL, has_fs ? trim(fetch_site) : NULL);
}

static int request_start(
	struct hub *h, struct hub_conn *c, struct lws *wsi, const char *uri, size_t urilen)
{
	char cookie[4096], host[HUB_HOST_MAX];
	int64_t clen = 0;
	bool chunked = false;
	const struct hub_route *r;
	size_t max = (size_t)hc_cfg_int(&h->cfg, HC_CFG_HTTP_MAX_BODY);

	memset(c, 0, sizeof(*c));
	c->wsi = wsi;
	c->id = ++h->next_id;
	c->started = true;
	c->announce_len = -1;
	h->active++;
	c->method = method_of(wsi);
	hub_client_addr(wsi, h->proxies, c->addr, sizeof(c->addr));
	if (header(wsi, WSI_TOKEN_HOST, host, sizeof(host)) && host_ok(trim(host)))
		snprintf(c->host, sizeof(c->host), "%s", trim(host));
	if (header(wsi, WSI_TOKEN_HTTP_COOKIE, cookie, sizeof(cookie)))
		c->has_cookie = hc_cookie_find(cookie, c->cookie);
	c->ctype = ctype_of(wsi);
	c->close_after = client_wants_close(wsi);
	hub_body_init(&c->body, max, false);

	if (hc_log_enabled(HC_LOG_DEBUG)) {
		char safe[160];
		hc_debug("msg=request id=%" PRIu64 " method=%s path=\"%s\" addr=%s", c->id,
			method_name(c->method), hc_log_safe(uri ? uri : "", safe, sizeof(safe)),
			c->addr);
	}
	if (framing(h, c, &clen, &chunked))
		return 0;
	c->body_done = !c->body_expected;

	if (!uri || urilen == 0 || urilen >= sizeof(c->path) || uri[0] != '/')
		return answer_early(c, 404, "not_found", "no such path");
	memcpy(c->path, uri, urilen);
	c->path[urilen] = '\0';

	if (h->stopping) {
		c->close_after = true;
		hub_http_header(c, "retry-after:", "5");
		return answer_early(c, 503, "unavailable", "the service is shutting down");
	}

	if (hub_sio_path(c->path)) {
		/* hub-bridge's endpoint on our origin (sioproxy.h) */
		size_t smax = (size_t)hc_cfg_int(&h->cfg, HC_CFG_SIO_MAX_PAYLOAD) + 1024;
		int rc;
		if (clen > (int64_t)smax) {
			if ((uint64_t)clen > drain_cap(h))
				c->close_after = true;
			return answer_early(c, 413, "too_large", "the request body is too large");
		}
		c->ran = true;
		rc = hub_sio_http_begin(h, c, chunked);
		if (rc < 0)
			return -1;
		if (rc > 0)
			hub_http_send(c);
		return 0;
	}
	r = route_find(c->path);
	if (!r) {
		if (!strncmp(c->path, "/api/", 5) || !strcmp(c->path, "/api"))
			return answer_early(c, 404, "not_found", "no such API path");
		if (c->method != HUB_M_GET && c->method != HUB_M_HEAD) {
			hub_http_header(c, "allow:", "GET, HEAD");
			return answer_early(
				c, 405, "method_not_allowed", "only GET and HEAD are allowed here");
		}
		/* a body on a GET is read and dropped */
		if (c->body_expected && (uint64_t)clen > drain_cap(h))
			c->close_after = true;
		c->ran = true;
		switch (hub_route_static(h, c)) {
		case 0:
			if (c->phase == PH_NONE)
				hub_http_send(c);
			return 0;
		case 1:
			c->phase = PH_FILE;
			return 0;
		default:
			return -1;
		}
	}
	c->route = r;
	if (c->method != r->method && !(r->method == HUB_M_GET && c->method == HUB_M_HEAD)) {
		hub_http_header(
			c, "allow:", r->method == HUB_M_GET ? "GET, HEAD" : method_name(r->method));
		return answer_early(c, 405, "method_not_allowed",
			r->method == HUB_M_GET	    ? "use GET"
			: r->method == HUB_M_DELETE ? "use DELETE"
						    : "use POST");
	}
	if ((r->flags & HUB_RF_SAME_ORIGIN) && !origin_ok(h, c))
		return answer_early(c, 403, "forbidden_origin",
			"cross-origin requests may not change state here");
	if (r->flags & HUB_RF_BODY) {
		bool type_ok = c->ctype == HUB_CT_JSON ||
			       (c->ctype == HUB_CT_FORM && (r->flags & HUB_RF_FORM));
		if (!type_ok)
			return answer_early(c, 415, "unsupported_media_type",
				(r->flags & HUB_RF_FORM) ? "send application/json or "
							   "application/x-www-form-urlencoded"
							 : "send application/json");
	}
	if (clen > (int64_t)max) {
		if ((uint64_t)clen > drain_cap(h))
			c->close_after = true;
		return answer_early(c, 413, "too_large", "the request body is too large");
	}
	if (!(r->flags & HUB_RF_BODY)) {
		/* the route reads no body: any that comes is dropped */
		return run_route(h, c);
	}
	c->collecting = true;
	c->body.chunked = chunked;
	if (!chunked && clen > 0 && hub_buf_reserve(&c->body.buf, (size_t)clen) != HUB_OK)
		return answer_early(c, 500, "internal", "out of memory");
	/* curl and others wait for this before sending a body */
	if (c->body_expected && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_EXPECT) > 0) {
		char expect[32], version[16];
		if (header(wsi, WSI_TOKEN_HTTP_EXPECT, expect, sizeof(expect)) &&
			!strcasecmp(trim(expect), "100-continue") &&
			header(wsi, WSI_TOKEN_HTTP, version, sizeof(version)) &&
			!strcmp(version, "HTTP/1.1")) {
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			unsigned char b[LWS_PRE + sizeof(cont)];
			memcpy(b + LWS_PRE, cont, sizeof(cont) - 1);
			if (lws_write(wsi, b + LWS_PRE, sizeof(cont) - 1, LWS_WRITE_HTTP_HEADERS) <
				0)
				return -1;
		}
	}
	if (c->body_done)
		return run_route(h, c);
	return 0;
}

static int body_data(struct hub *h, struct hub_conn *c, const void *in, size_t len)
{
	int rc;

	if (!c->started)
		return 0;
	if (!c->collecting) {
		c->discarded += len;
		if (c->discarded > drain_cap(h)) {
			hc_debug("msg=\"dropping connection: body over the drain cap\" id=%" PRIu64,
				c->id);
			return -1;
		}
		return 0;
	}
	rc = hub_body_feed(&c->body, in, len);
	if (rc == HUB_ERR_TOOBIG) {
		hub_body_free(&c->body);
		c->discarded += len;
		return answer_early(c, 413, "too_large", "the request body is too large");
	}
	if (rc == HUB_ERR_INVAL) {
		hub_body_free(&c->body);
		c->close_after = true;
		return answer_early(c, 400, "bad_request", "malformed chunked body");
	}
	if (rc) {
		c->close_after = true;
		return answer_early(c, 500, "internal", "out of memory");
	}
	if (c->body.chunked && c->body.complete) {
		c->collecting = false;
		c->body_done = true;
		if (c->sio_body && c->phase == PH_NONE) {
			c->sio_body = false;
			return hub_sio_http_body_done(h, c) < 0 ? -1 : 0;
		}
		if (!c->ran)
			return run_route(h, c);
	}
	return 0;
}

static int body_complete(struct hub *h, struct hub_conn *c)
{
	if (!c->started)
		return 0;
	if (c->body.chunked && c->collecting && !c->body.complete) {
		/* lws thinks the body ended although the last chunk never came */
		c->collecting = false;
		c->close_after = true;
		c->body_done = true;
		return answer_early(c, 400, "bad_request", "incomplete chunked body");
	}
	c->body_done = true;
	c->collecting = false;
	if (c->sio_body && c->phase == PH_NONE) {
		c->sio_body = false;
		return hub_sio_http_body_done(h, c) < 0 ? -1 : 0;
	}
	if (!c->ran && c->route)
		return run_route(h, c);
	return finish(h, c);
}

static int writeable(struct hub *h, struct hub_conn *c)
{
	if (!c->started)
		return 0;
	switch (c->phase) {
	case PH_HEADERS:
		if (write_headers(h, c))
			return -1;
		if (c->outlen && c->method != HUB_M_HEAD) {
			c->phase = PH_BODY;
			lws_callback_on_writable(c->wsi);
			return 0;
		}
		c->phase = PH_DONE;
		return finish(h, c);
	case PH_BODY: {
		/* a chunk per writeable callback: lws copies what the socket
		 * does not take at once, so big bodies go out piecewise. The
		 * LWS_PRE bytes before a chunk are body bytes already sent. */
		size_t n = c->outlen - c->sent;
		bool last = n <= WRITE_CHUNK;
		if (!last)
			n = WRITE_CHUNK;
		if (lws_write(c->wsi, c->out + LWS_PRE + c->sent, n,
			    last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) < 0)
			return -1;
		c->sent += n;
		if (!last) {
			lws_callback_on_writable(c->wsi);
			return 0;
		}
		c->phase = PH_DONE;
		return finish(h, c);
	}
	default:
		return 0;
	}
}

/* WebSocket events of an upgrade that came without a subprotocol (the
 * default protocol gets those): to the front or the Socket.IO proxy, by
 * the kind its state names (front.h). */
static int ws_dispatch(
	struct hub *h, struct lws *wsi, enum lws_callback_reasons reason, void *in, size_t len)
{
	const int *kind = lws_get_opaque_user_data(wsi);
	int k = kind ? *kind : 0;

	if (reason == LWS_CALLBACK_ESTABLISHED)
		k = hub_front_upgrade_kind(h, wsi) == HUB_UPG_MQTT ? HUB_WS_MQTT : HUB_WS_SIO;
	switch (k) {
	case HUB_WS_MQTT:
		return hub_front_ws_callback(wsi, reason, NULL, in, len);
	case HUB_WS_SIO:
		return hub_sio_ws_callback(wsi, reason, NULL, in, len);
	default:
		return reason == LWS_CALLBACK_CLOSED ? 0 : -1;
	}
}

int hub_http_callback(
	struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct hub_conn *c = user;
	struct hub *h = hub_from_wsi(wsi);

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return h ? hub_front_confirm_upgrade(h, wsi, in) : -1;
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
		/* a WebSocket keeps its own state (lws opaque user data), not a
		 * struct hub_conn: let that go */
		lws_set_wsi_user(wsi, NULL);
		return h && hub_front_upgrade_kind(h, wsi) != HUB_UPG_NONE ? 0 : 1;
	case LWS_CALLBACK_ESTABLISHED:
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLOSED:
		return h ? ws_dispatch(h, wsi, reason, in, len) : -1;
	case LWS_CALLBACK_HTTP:
		if (!c || !h)
			return -1;
		return request_start(h, c, wsi, in, len) < 0 ? -1 : 0;
	case LWS_CALLBACK_HTTP_BODY:
		return c && h ? body_data(h, c, in, len) : 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		return c && h ? body_complete(h, c) : 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return c && h ? writeable(h, c) : 0;
	case LWS_CALLBACK_HTTP_FILE_COMPLETION: {
		/* the file's headers said "connection: close" (route_static.c) */
		bool close_now = c && h && (c->close_after || h->stopping);
		if (c && h)
			release(h, c);
		if (close_now || lws_http_transaction_completed(wsi))
			return -1;
		return 0;
	}
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (c && h)
			release(h, c);
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* http_port with TLS: user is the vhost's SSL_CTX */
		return hub_main_tls_ctx(h, user);
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* stopping: no new connections, only in-flight work finishes */
		return h && h->stopping ? 1 : 0;
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		/* a hash worker finished something (or a signal arrived) */
		if (h && h->pool)
			hub_workpool_collect(h->pool, h);
		if (h && h->readers)
			hub_workpool_collect(h->readers, h);
		if (h && h->mqtt)
			hub_mqtt_collect(h->mqtt, h);
		if (h && h->syncwait)
			hub_syncwait_collect(h->syncwait, h);
		if (h)
			hub_main_wakeup(h);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
