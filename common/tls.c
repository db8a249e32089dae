/* SPDX-License-Identifier: MIT */
/*
 * The listeners' certificate and key (hc_tls.h): read once, checked, then
 * installed into each OpenSSL server context. The key's bytes live in a
 * buffer that is wiped as soon as OpenSSL parsed them.
 */
#include "hc_tls.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
#include "hc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct hc_tls {
	X509 *cert;
	STACK_OF(X509) * chain; /* intermediates, in file order */
	EVP_PKEY *key;
};

bool hc_tls_wanted(const struct hc_config *cfg)
{
	return *hc_cfg_str(cfg, HC_CFG_TLS_CERT) || *hc_cfg_str(cfg, HC_CFG_TLS_KEY);
}

/* OpenSSL's own reason for the last failure, for an error line (its
 * reason strings name what failed, never the data). */
static const char *ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	return r ? r : "unknown reason";
}

/* Read a whole PEM file (at most HC_TLS_FILE_MAX) into a fresh buffer.
 * what names the setting in errors; a key (is_key) readable or writable by
 * others is refused. */
static int read_file(const char *what, const char *path, bool is_key, unsigned char **buf,
	size_t *len, char *err, size_t errsz)
{
	struct stat st;
	unsigned char *b = NULL;
	size_t got = 0;
	int fd, rc = HUB_ERR_CONFIG;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, errsz, "%s %s: cannot read it (%s)", what, path, strerror(errno));
		return HUB_ERR_CONFIG;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s %s: not a regular file", what, path);
		goto out;
	}
	if (is_key && (st.st_mode & (S_IROTH | S_IWOTH))) {
		snprintf(err, errsz,
			"%s %s: readable or writable by every account (mode %04o): chmod 600, "
			"or 640 with the services' group",
			what, path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size <= 0 || st.st_size > HC_TLS_FILE_MAX) {
		snprintf(err, errsz, "%s %s: %s", what, path,
			st.st_size <= 0 ? "empty" : "bigger than 1 MiB: not a PEM file");
		goto out;
	}
	b = malloc((size_t)st.st_size + 1);
	if (!b) {
		snprintf(err, errsz, "%s: out of memory", what);
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errsz, "%s %s: cannot read it (%s)", what, path,
				r < 0 ? strerror(errno) : "changed while read");
			goto out;
		}
		got += (size_t)r;
	}
	b[got] = '\0';
	*buf = b;
	*len = got;
	b = NULL;
	rc = HUB_OK;
out:
	if (b) {
		OPENSSL_cleanse(b, (size_t)st.st_size + 1);
		free(b);
	}
	close(fd);
	return rc;
}

/* The passphrase callback: never asks (OpenSSL's default would prompt on
 * the terminal and block the start-up); records that one was wanted. */
static int no_passphrase(char *buf, int size, int rwflag, void *ud)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(int *)ud = 1;
	return -1;
}

static int load_cert(struct hc_tls *t, const char *path, char *err, size_t errsz)
{
	unsigned char *buf;
	size_t len;
	BIO *bio = NULL;
	X509 *x;
	int asked = 0, rc;

	rc = read_file("tls_cert", path, false, &buf, &len, err, errsz);
	if (rc)
		return rc;
	rc = HUB_ERR_CONFIG;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (!bio) {
		snprintf(err, errsz, "tls_cert: out of memory");
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	t->cert = PEM_read_bio_X509(bio, NULL, no_passphrase, &asked);
	if (!t->cert) {
		snprintf(err, errsz, "tls_cert %s: no PEM certificate in it (%s)", path,
			ossl_reason());
		goto out;
	}
	t->chain = sk_X509_new_null();
	if (!t->chain) {
		snprintf(err, errsz, "tls_cert: out of memory");
		rc = HUB_ERR_NOMEM;
		goto out;
	}
	/* then the intermediates, up to the end of the file */
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase, &asked)) != NULL) {
		if (sk_X509_num(t->chain) >= HC_TLS_CHAIN_MAX || !sk_X509_push(t->chain, x)) {
			X509_free(x);
			snprintf(err, errsz,
				"tls_cert %s: more than %d certificates after the first", path,
				HC_TLS_CHAIN_MAX);
			goto out;
		}
	}
	/* the loop ends at the end of the data: anything else is damage */
	if (ERR_GET_REASON(ERR_peek_last_error()) != PEM_R_NO_START_LINE) {
		snprintf(err, errsz, "tls_cert %s: a damaged certificate after the first (%s)",
			path, ossl_reason());
		goto out;
	}
	rc = HUB_OK;
out:
	ERR_clear_error();
	BIO_free(bio);
	free(buf);
	return rc;
}

static int load_key(struct hc_tls *t, const char *path, char *err, size_t errsz)
{
	unsigned char *buf;
	size_t len;
	BIO *bio;
	int asked = 0, rc;

	rc = read_file("tls_key", path, true, &buf, &len, err, errsz);
	if (rc)
		return rc;
	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio)
		t->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, &asked);
	if (!bio) {
		snprintf(err, errsz, "tls_key: out of memory");
		rc = HUB_ERR_NOMEM;
	} else if (!t->key && asked) {
		snprintf(err, errsz,
			"tls_key %s: the key is protected by a passphrase, which the hub "
			"does not ask for: write it unencrypted (openssl pkey -in KEY -out "
			"NEW), readable by the services only",
			path);
		rc = HUB_ERR_CONFIG;
	} else if (!t->key) {
		snprintf(err, errsz, "tls_key %s: no PEM private key in it (%s)", path,
			ossl_reason());
		rc = HUB_ERR_CONFIG;
	}
	ERR_clear_error();
	BIO_free(bio);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

int hc_tls_load_files(
	const char *cert, const char *key, struct hc_tls **out, char *err, size_t errsz)
{
	struct hc_tls *t;
	int rc;

	*out = NULL;
	if (!*cert || !*key) {
		snprintf(err, errsz, "%s is set but %s is not: TLS needs both (docs/tls.md)",
			*cert ? "tls_cert" : "tls_key", *cert ? "tls_key" : "tls_cert");
		return HUB_ERR_CONFIG;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errsz, "tls: out of memory");
		return HUB_ERR_NOMEM;
	}
	rc = load_cert(t, cert, err, errsz);
	if (!rc)
		rc = load_key(t, key, err, errsz);
	if (!rc && X509_check_private_key(t->cert, t->key) != 1) {
		snprintf(err, errsz,
			"tls_key %s does not belong to the certificate in tls_cert %s (the first "
			"certificate of the file must be the server's own)",
			key, cert);
		rc = HUB_ERR_CONFIG;
	}
	ERR_clear_error();
	if (rc) {
		hc_tls_free(t);
		return rc;
	}
	*out = t;
	return HUB_OK;
}

int hc_tls_load(const struct hc_config *cfg, struct hc_tls **out, char *err, size_t errsz)
{
	*out = NULL;
	if (!hc_tls_wanted(cfg))
		return HUB_OK;
	return hc_tls_load_files(
		hc_cfg_str(cfg, HC_CFG_TLS_CERT), hc_cfg_str(cfg, HC_CFG_TLS_KEY), out, err, errsz);
}

void hc_tls_free(struct hc_tls *t)
{
	if (!t)
		return;
	X509_free(t->cert);
	sk_X509_pop_free(t->chain, X509_free);
	EVP_PKEY_free(t->key);
	free(t);
}

int hc_tls_server_ctx(const struct hc_tls *t, void *ssl_ctx, char *err, size_t errsz)
{
	SSL_CTX *ctx = ssl_ctx;
	int rc = HUB_ERR_CRYPTO;

	if (!t || !ctx) {
		snprintf(err, errsz, "tls: no certificate loaded");
		return HUB_ERR_INVAL;
	}
	/* a reload puts a new chain in place of the old one, never after it */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
		SSL_CTX_clear_chain_certs(ctx) != 1 || SSL_CTX_use_certificate(ctx, t->cert) != 1) {
		snprintf(err, errsz, "tls: cannot use the certificate (%s)", ossl_reason());
		goto out;
	}
	for (int i = 0; i < sk_X509_num(t->chain); i++)
		if (SSL_CTX_add1_chain_cert(ctx, sk_X509_value(t->chain, i)) != 1) {
			snprintf(err, errsz, "tls: cannot use the certificate chain (%s)",
				ossl_reason());
			goto out;
		}
	if (SSL_CTX_use_PrivateKey(ctx, t->key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, errsz, "tls: cannot use the key (%s)", ossl_reason());
		goto out;
	}
	rc = HUB_OK;
out:
	ERR_clear_error();
	return rc;
}

void *hc_tls_pinned_client_ctx(const struct hc_tls *t)
{
	SSL_CTX *ctx;
	X509_STORE *st;

	if (!t)
		return NULL;
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx)
		return NULL;
	st = SSL_CTX_get_cert_store(ctx);
	/* the certificate itself is the one trust anchor: PARTIAL_CHAIN makes
	 * OpenSSL accept a chain that ends at it, though it is not a root;
	 * no default CA paths are loaded, so no other certificate verifies */
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 || !st ||
		X509_STORE_add_cert(st, t->cert) != 1 ||
		X509_STORE_set_flags(st, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
		ERR_clear_error();
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	return ctx;
}

int hc_tls_reload(const struct hc_config *cfg, struct hc_tls **cur, void *const *server_ctxs, int n,
	void *pinned, char *err, size_t errsz)
{
	struct hc_tls *t = NULL;
	int rc, i;

	if (!*cur) {
		snprintf(err, errsz,
			"TLS is off (tls_cert and tls_key are not set): nothing to reload");
		return HUB_ERR_INVAL;
	}
	rc = hc_tls_load(cfg, &t, err, errsz);
	if (rc)
		return rc;
	if (!t) {
		snprintf(err, errsz, "tls_cert and tls_key are no longer set");
		return HUB_ERR_CONFIG;
	}
	for (i = 0; i < n; i++) {
		rc = hc_tls_server_ctx(t, server_ctxs[i], err, errsz);
		if (rc)
			break;
	}
	if (rc) {
		/* the contexts done so far go back to the certificate in use
		 * (it was in them a moment ago: this does not fail) */
		char ignored[64];

		for (int j = 0; j <= i && j < n; j++)
			(void)hc_tls_server_ctx(*cur, server_ctxs[j], ignored, sizeof(ignored));
		hc_tls_free(t);
		return rc;
	}
	if (pinned) {
		/* the relay to the other hub process trusts the new certificate
		 * as well as the old one: the two processes reload one after
		 * the other */
		X509_STORE *st = SSL_CTX_get_cert_store(pinned);

		if (!st || X509_STORE_add_cert(st, t->cert) != 1)
			ERR_clear_error();
	}
	hc_tls_free(*cur);
	*cur = t;
	return HUB_OK;
}

int hc_tls_serve(const struct hc_tls *t, void *ssl_ctx, struct hc_tls_ctxs *keep)
{
	char err[256];
	int i;

	if (hc_tls_server_ctx(t, ssl_ctx, err, sizeof(err))) {
		hc_err("msg=\"cannot set up TLS\" err=\"%s\"", err);
		return -1;
	}
	for (i = 0; i < keep->n && keep->ctx[i] != ssl_ctx; i++)
		;
	if (i == keep->n) {
		if (keep->n == HC_TLS_CTXS_MAX) {
			hc_err("msg=\"cannot set up TLS\" err=\"too many TLS contexts\"");
			return -1;
		}
		keep->ctx[keep->n++] = ssl_ctx;
	}
	return 0;
}

void hc_tls_sighup(const struct hc_config *cfg, struct hc_tls **cur,
	const struct hc_tls_ctxs *served, void *pinned)
{
	char err[1024], what[512];
	bool expired;

	if (!*cur) {
		hc_info("msg=\"SIGHUP: TLS is off, nothing to reload\"");
		return;
	}
	if (hc_tls_reload(cfg, cur, served->ctx, served->n, pinned, err, sizeof(err))) {
		hc_warn("msg=\"SIGHUP: the certificate in use is kept\" err=\"%s\"", err);
		return;
	}
	hc_tls_describe(*cur, what, sizeof(what), &expired);
	hc_info("msg=\"tls reloaded\" cert=%s %s", hc_cfg_str(cfg, HC_CFG_TLS_CERT), what);
	if (expired)
		hc_warn("msg=\"the TLS certificate has expired: clients will refuse it\" cert=%s",
			hc_cfg_str(cfg, HC_CFG_TLS_CERT));
}

void hc_tls_ctx_free(void *ssl_ctx)
{
	SSL_CTX_free(ssl_ctx);
}

void hc_tls_describe(const struct hc_tls *t, char *out, size_t n, bool *expired)
{
	char subject[256] = "?", fp[17] = "?";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const ASN1_TIME *na;
	struct tm tm;
	long long not_after = 0;

	*expired = false;
	if (!t) {
		snprintf(out, n, "none");
		return;
	}
	X509_NAME_oneline(X509_get_subject_name(t->cert), subject, sizeof(subject));
	/* one log field: no quote, backslash or control character */
	for (char *p = subject; *p; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			*p = '?';
	if (X509_digest(t->cert, EVP_sha256(), md, &mdlen) == 1 && mdlen >= 8)
		hc_hex(md, 8, fp);
	na = X509_get0_notAfter(t->cert);
	memset(&tm, 0, sizeof(tm));
	if (na && ASN1_TIME_to_tm(na, &tm) == 1) {
		not_after = (long long)timegm(&tm);
		*expired = not_after < (long long)time(NULL);
	}
	ERR_clear_error();
	snprintf(out, n, "subject=\"%s\" not_after=%lld sha256=%s chain=%d", subject, not_after, fp,
		sk_X509_num(t->chain));
}
