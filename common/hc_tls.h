/* SPDX-License-Identifier: MIT */
/*
 * The server certificate of every hub listener (tls_cert, tls_key): read
 * and checked once at start-up, before the privilege drop, so a service
 * never starts half-configured and a key readable only by root still
 * serves; then handed to each libwebsockets vhost's OpenSSL context.
 *
 * Nothing here ever writes key material or a passphrase anywhere: errors
 * name the file and what is wrong with it, and a key protected by a
 * passphrase is refused without asking for one.
 */
#ifndef HC_TLS_H
#define HC_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hc_config;
struct hc_tls;

#define HC_TLS_FILE_MAX	 (1 << 20) /* a PEM file bigger than this is refused */
#define HC_TLS_CHAIN_MAX 16	   /* intermediates after the certificate */

/* Whether the config asks for TLS (tls_cert or tls_key set). */
bool hc_tls_wanted(const struct hc_config *cfg);

/*
 * Read and check tls_cert and tls_key of cfg. *out is NULL when neither is
 * set (TLS off), else the loaded certificate, chain and key (free with
 * hc_tls_free). HUB_ERR_CONFIG with a one-line reason in err when one is
 * set without the other, a file is missing, unreadable, too big, not PEM,
 * a key is encrypted or readable by others, or the key does not belong to
 * the certificate; HUB_ERR_NOMEM. Thread: any.
 */
int hc_tls_load(const struct hc_config *cfg, struct hc_tls **out, char *err, size_t errsz);
/* The same for two paths (cert, key). */
int hc_tls_load_files(
	const char *cert, const char *key, struct hc_tls **out, char *err, size_t errsz);
void hc_tls_free(struct hc_tls *t);

/*
 * Put the certificate, its chain and the key into a server SSL_CTX (an
 * OpenSSL SSL_CTX *, as libwebsockets hands it over at
 * LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS) and require TLS 1.2
 * or later. HUB_OK or HUB_ERR_CRYPTO (reason in err).
 */
int hc_tls_server_ctx(const struct hc_tls *t, void *ssl_ctx, char *err, size_t errsz);

/*
 * A client SSL_CTX (SSL_CTX *) that trusts exactly this certificate and
 * nothing else: how a hub process verifies another hub listener it
 * reaches on the same host (hubd's /socket.io/ relay to hub-bridge), whose
 * name may not be in the certificate (127.0.0.1 behind a real hub.example
 * certificate). Verification is on; the peer must present this very
 * certificate. NULL on failure. The caller frees it with SSL_CTX_free
 * (hc_tls_ctx_free) after the last connection using it.
 */
void *hc_tls_pinned_client_ctx(const struct hc_tls *t);
void hc_tls_ctx_free(void *ssl_ctx);

/*
 * A renewed certificate without a restart (SIGHUP): read tls_cert and
 * tls_key of cfg again and, when they are good, put them into each of the
 * n server SSL_CTXs (new handshakes get them; live connections keep
 * theirs), add the new certificate to the pinned client context (NULL:
 * none) and replace *cur. On any error *cur and the contexts are left as
 * they were and err says why (the files are read by the process's own
 * account: after a privilege drop a key only root reads is refused).
 * Thread: the one that owns the contexts (the service loop).
 */
int hc_tls_reload(const struct hc_config *cfg, struct hc_tls **cur, void *const *server_ctxs, int n,
	void *pinned, char *err, size_t errsz);

/* The server SSL_CTXs a process serves with (one per vhost), for reloads. */
#define HC_TLS_CTXS_MAX 4
struct hc_tls_ctxs {
	void *ctx[HC_TLS_CTXS_MAX];
	int n;
};

/*
 * What a vhost's LOAD_EXTRA_SERVER_VERIFY_CERTS callback does: put t into
 * ssl_ctx (hc_tls_server_ctx) and remember ssl_ctx in keep (once). 0, or
 * -1 with the reason logged (no certificate, OpenSSL refused, too many
 * contexts).
 */
int hc_tls_serve(const struct hc_tls *t, void *ssl_ctx, struct hc_tls_ctxs *keep);

/*
 * What a service does on SIGHUP: hc_tls_reload, and its log line (the new
 * certificate described, or why the one in use is kept, or that TLS is
 * off). Thread: the service loop.
 */
void hc_tls_sighup(const struct hc_config *cfg, struct hc_tls **cur,
	const struct hc_tls_ctxs *served, void *pinned);

/*
 * For the start-up log line: the certificate's subject, its notAfter (unix
 * seconds) and the first 16 hex digits of its SHA-256 fingerprint (public
 * data). *expired tells whether notAfter has passed.
 */
void hc_tls_describe(const struct hc_tls *t, char *out, size_t n, bool *expired);

#endif
