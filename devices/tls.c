/* SPDX-License-Identifier: MIT */
/* One verified TLS client context for every vehicle (tls.h). */
#include "tls.h"
#include "hc_log.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int name_index = -1; /* SSL_CTX ex data: the broker's name (owned) */
static struct hc_log_limit lim_verify = HC_LOG_LIMIT("tls_verify");

static bool is_address(const char *name)
{
	unsigned char bin[16];
	return inet_pton(AF_INET, name, bin) == 1 || inet_pton(AF_INET6, name, bin) == 1;
}

/* libmosquitto names the address it connects to as SNI (the fleet's
 * resolved one): at the start of each handshake the name the user gave
 * goes out instead (an address is not a server name: none then). */
static void on_info(const SSL *ssl, int where, int ret)
{
	const char *name;

	(void)ret;
	if (!(where & SSL_CB_HANDSHAKE_START))
		return;
	name = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), name_index);
	if (name && !is_address(name))
		SSL_set_tlsext_host_name((SSL *)ssl, name);
}

/* Verification is OpenSSL's; this only says why a broker was refused. */
static int on_verify(int ok, X509_STORE_CTX *x)
{
	if (!ok) {
		int e = X509_STORE_CTX_get_error(x);
		hc_log_limited(&lim_verify, HC_LOG_ERROR,
			"msg=\"the broker's certificate is refused\" depth=%d error=\"%s\"",
			X509_STORE_CTX_get_error_depth(x), X509_verify_cert_error_string(e));
	}
	return ok;
}

static void free_name(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	free(ptr);
}

void *trk_tls__ctx(const char *cafile, const char *name, char *err, size_t errsz)
{
	SSL_CTX *ctx;
	X509_VERIFY_PARAM *param;
	char *copy = NULL;
	unsigned long e;

	if (name_index < 0)
		name_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, free_name);
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx || name_index < 0) {
		snprintf(err, errsz, "cannot make a TLS context");
		goto fail;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto ossl;
	if (cafile ? SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1
		   : SSL_CTX_set_default_verify_paths(ctx) != 1) {
		e = ERR_peek_last_error();
		snprintf(err, errsz, "%s: no CA certificate could be read (%s)",
			cafile ? cafile : "the system's CAs",
			ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?");
		goto fail;
	}
	/* the broker's certificate must name the host the user gave */
	param = SSL_CTX_get0_param(ctx);
	X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (is_address(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name) != 1
			     : X509_VERIFY_PARAM_set1_host(param, name, 0) != 1)
		goto ossl;
	copy = strdup(name);
	if (!copy || SSL_CTX_set_ex_data(ctx, name_index, copy) != 1) {
		free(copy);
		snprintf(err, errsz, "out of memory");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
	SSL_CTX_set_info_callback(ctx, on_info);
	ERR_clear_error();
	return ctx;
ossl:
	e = ERR_peek_last_error();
	snprintf(err, errsz, "TLS set-up failed (%s)",
		ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "?");
fail:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return NULL;
}

void trk_tls__free(void *ctx)
{
	SSL_CTX_free(ctx);
}
