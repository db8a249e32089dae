/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/tls.c: what tls_cert/tls_key files are accepted
 * (and every refusal's message, which must never carry key material),
 * the server context it fills, and the pinned client context hubd uses to
 * reach hub-bridge: a TLS handshake in memory (a BIO pair) succeeds
 * against the very certificate and fails against another one of the same
 * CA. Certificates are made here with OpenSSL (P-256 keys).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hc_config.h"
#include "hc_err.h"
#include "hc_tls.h"
#include "testutil.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <string.h>
#include <time.h>

struct fx {
	char dir[256];
	EVP_PKEY *ca_key, *key, *key2;
	X509 *ca, *leaf, *leaf2;
};

static EVP_PKEY *new_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	assert_non_null(k);
	return k;
}

/* A certificate for cn with key, signed by issuer (NULL: self-signed CA). */
static X509 *new_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, long days)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	static long serial = 1;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), days * 86400);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509V3_set_ctx(&v3, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
		issuer ? "critical,CA:FALSE" : "critical,CA:TRUE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (issuer) {
		ext = X509V3_EXT_conf_nid(
			NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
	return x;
}

static void path_of(struct fx *f, const char *name, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", f->dir, name);
}

/* Write certs (NULL-terminated) as PEM into name, mode 0644. */
static void write_certs(struct fx *f, const char *name, X509 **certs)
{
	char p[512];
	FILE *fp;
	path_of(f, name, p, sizeof(p));
	fp = fopen(p, "w");
	assert_non_null(fp);
	for (; *certs; certs++)
		assert_int_equal(PEM_write_X509(fp, *certs), 1);
	fclose(fp);
	chmod(p, 0644);
}

static void write_key(struct fx *f, const char *name, EVP_PKEY *k, mode_t mode, const char *pass)
{
	char p[512];
	FILE *fp;
	path_of(f, name, p, sizeof(p));
	fp = fopen(p, "w");
	assert_non_null(fp);
	assert_int_equal(PEM_write_PrivateKey(fp, k, pass ? EVP_aes_256_cbc() : NULL,
				 (unsigned char *)pass, pass ? (int)strlen(pass) : 0, NULL, NULL),
		1);
	fclose(fp);
	chmod(p, mode);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	X509 *full[3], *one[2], *other[2], *ca[2];
	char p[512];

	assert_non_null(f);
	tu_mkdtemp(f->dir, sizeof(f->dir));
	f->ca_key = new_key();
	f->key = new_key();
	f->key2 = new_key();
	f->ca = new_cert("hub test CA", f->ca_key, NULL, NULL, 3650);
	f->leaf = new_cert("localhost", f->key, f->ca, f->ca_key, 30);
	f->leaf2 = new_cert("localhost", f->key2, f->ca, f->ca_key, 30);
	full[0] = f->leaf, full[1] = f->ca, full[2] = NULL;
	one[0] = f->leaf, one[1] = NULL;
	other[0] = f->leaf2, other[1] = NULL;
	ca[0] = f->ca, ca[1] = NULL;
	write_certs(f, "fullchain.pem", full);
	write_certs(f, "server.crt", one);
	write_certs(f, "other.crt", other);
	write_certs(f, "ca.crt", ca);
	write_certs(f, "notakey.pem", one);
	path_of(f, "notakey.pem", p, sizeof(p));
	chmod(p, 0600);
	write_key(f, "server.key", f->key, 0600, NULL);
	write_key(f, "group.key", f->key, 0640, NULL);
	write_key(f, "world.key", f->key, 0644, NULL);
	write_key(f, "other.key", f->key2, 0600, NULL);
	write_key(f, "secret.key", f->key, 0600, "correct horse");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tu_rmtree(f->dir);
	EVP_PKEY_free(f->ca_key);
	EVP_PKEY_free(f->key);
	EVP_PKEY_free(f->key2);
	X509_free(f->ca);
	X509_free(f->leaf);
	X509_free(f->leaf2);
	free(f);
	return 0;
}

static int load(
	struct fx *f, const char *cert, const char *key, struct hc_tls **t, char *err, size_t n)
{
	char c[512], k[512];
	path_of(f, cert, c, sizeof(c));
	path_of(f, key, k, sizeof(k));
	err[0] = '\0';
	return hc_tls_load_files(*cert ? c : "", *key ? k : "", t, err, n);
}

static void test_accepts(void **state)
{
	struct fx *f = *state;
	struct hc_tls *t = NULL;
	char err[512], d[512];
	bool expired = true;

	assert_int_equal(load(f, "fullchain.pem", "server.key", &t, err, sizeof(err)), HUB_OK);
	assert_non_null(t);
	hc_tls_describe(t, d, sizeof(d), &expired);
	assert_false(expired);
	assert_non_null(strstr(d, "CN=localhost"));
	assert_non_null(strstr(d, "chain=1"));
	hc_tls_free(t);
	/* the certificate alone, and a key the services' group may read */
	assert_int_equal(load(f, "server.crt", "group.key", &t, err, sizeof(err)), HUB_OK);
	hc_tls_describe(t, d, sizeof(d), &expired);
	assert_non_null(strstr(d, "chain=0"));
	hc_tls_free(t);
}

static void test_refusals(void **state)
{
	static const struct {
		const char *cert, *key, *says;
	} rows[] = {
		{"fullchain.pem", "", "tls_cert is set but tls_key is not"},
		{"", "server.key", "tls_key is set but tls_cert is not"},
		{"missing.crt", "server.key", "cannot read it (No such file"},
		{"fullchain.pem", "missing.key", "cannot read it (No such file"},
		{"fullchain.pem", "world.key", "readable or writable by every account (mode 0644)"},
		{"fullchain.pem", "other.key", "does not belong to the certificate"},
		{"other.crt", "server.key", "does not belong to the certificate"},
		/* the CA first: the server's certificate must come first */
		{"ca.crt", "server.key", "does not belong to the certificate"},
		{"server.key", "server.key", "no PEM certificate"},
		{"fullchain.pem", "notakey.pem", "no PEM private key"},
		{"fullchain.pem", "secret.key", "protected by a passphrase"},
		{"empty.crt", "server.key", "empty"},
		{"damaged.crt", "server.key", "damaged certificate after the first"},
		{".", "server.key", "not a regular file"},
	};
	struct fx *f = *state;
	struct hc_tls *t;
	char err[512], p[512], *pem;
	FILE *fp;
	size_t plen;
	int tu_failures = 0;

	path_of(f, "empty.crt", p, sizeof(p));
	assert_int_equal(tu_write_file(p, "", 0, 0644), 0);
	/* a good certificate, then a truncated one */
	path_of(f, "fullchain.pem", p, sizeof(p));
	fp = fopen(p, "r");
	assert_non_null(fp);
	pem = calloc(1, 65536);
	plen = fread(pem, 1, 65535, fp);
	fclose(fp);
	path_of(f, "damaged.crt", p, sizeof(p));
	assert_int_equal(tu_write_file(p, pem, plen - 200, 0644), 0);
	free(pem);

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		t = (struct hc_tls *)1;
		int rc = load(f, rows[i].cert, rows[i].key, &t, err, sizeof(err));
		TU_EXPECT(rc == HUB_ERR_CONFIG && t == NULL, "row %zu: rc %d", i, rc);
		TU_EXPECT(strstr(err, rows[i].says) != NULL, "row %zu: '%s' lacks '%s'", i, err,
			rows[i].says);
		/* never key material in a message */
		TU_EXPECT(!strstr(err, "BEGIN") && !strstr(err, "MII"), "row %zu: '%s'", i, err);
	}
	TU_DONE();
}

static void test_config(void **state)
{
	struct fx *f = *state;
	struct hc_config cfg;
	struct hc_tls *t = (struct hc_tls *)1;
	char err[512], p[512];

	assert_int_equal(hc_config_defaults(&cfg), 0);
	assert_false(hc_tls_wanted(&cfg));
	assert_int_equal(hc_tls_load(&cfg, &t, err, sizeof(err)), HUB_OK);
	assert_null(t);
	assert_int_equal(hc_cfg_int(&cfg, HC_CFG_MQTTS_PORT), 8883);
	assert_int_equal(hc_cfg_int(&cfg, HC_CFG_WSS_PORT), 9443);
	path_of(f, "fullchain.pem", p, sizeof(p));
	assert_int_equal(hc_config_set(&cfg, "tls_cert", p, "test", err, sizeof(err)), HUB_OK);
	assert_true(hc_tls_wanted(&cfg));
	assert_int_equal(hc_tls_load(&cfg, &t, err, sizeof(err)), HUB_ERR_CONFIG);
	path_of(f, "server.key", p, sizeof(p));
	assert_int_equal(hc_config_set(&cfg, "tls_key", p, "test", err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_tls_load(&cfg, &t, err, sizeof(err)), HUB_OK);
	assert_non_null(t);
	hc_tls_free(t);
	hc_config_free(&cfg);
}

/* Run a handshake between a server context with t's certificate and
 * client; returns the client's verify result (-1: no handshake). */
static long handshake(SSL_CTX *server, SSL_CTX *client)
{
	SSL *s = SSL_new(server), *c = SSL_new(client);
	BIO *bs, *bc;
	long res = -1;
	int rs = 0, rc = 0;

	assert_non_null(s);
	assert_non_null(c);
	assert_int_equal(BIO_new_bio_pair(&bs, 0, &bc, 0), 1);
	SSL_set_bio(s, bs, bs);
	SSL_set_bio(c, bc, bc);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (int i = 0; i < 50 && (rs != 1 || rc != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
		if ((rc <= 0 && SSL_get_error(c, rc) != SSL_ERROR_WANT_READ) ||
			(rs <= 0 && SSL_get_error(s, rs) != SSL_ERROR_WANT_READ))
			break;
	}
	if (rc == 1 && rs == 1)
		res = SSL_get_verify_result(c);
	else if (SSL_get_verify_result(c) != X509_V_OK)
		res = SSL_get_verify_result(c);
	SSL_free(s);
	SSL_free(c);
	return res;
}

static SSL_CTX *server_ctx(struct hc_tls *t)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char err[256];
	assert_non_null(ctx);
	assert_int_equal(hc_tls_server_ctx(t, ctx, err, sizeof(err)), HUB_OK);
	return ctx;
}

static void test_pinned(void **state)
{
	struct fx *f = *state;
	struct hc_tls *t, *t2;
	SSL_CTX *srv, *srv2, *pinned, *ca_client;
	char err[512], p[512];

	assert_int_equal(load(f, "fullchain.pem", "server.key", &t, err, sizeof(err)), HUB_OK);
	assert_int_equal(load(f, "other.crt", "other.key", &t2, err, sizeof(err)), HUB_OK);
	srv = server_ctx(t);
	srv2 = server_ctx(t2);
	pinned = hc_tls_pinned_client_ctx(t);
	assert_non_null(pinned);
	/* the very certificate: verified */
	assert_int_equal(handshake(srv, pinned), X509_V_OK);
	/* another certificate of the same CA: refused */
	assert_int_not_equal(handshake(srv2, pinned), X509_V_OK);
	/* the server context sends its chain: a client with the CA alone
	 * verifies it */
	ca_client = SSL_CTX_new(TLS_client_method());
	path_of(f, "ca.crt", p, sizeof(p));
	assert_int_equal(SSL_CTX_load_verify_locations(ca_client, p, NULL), 1);
	SSL_CTX_set_verify(ca_client, SSL_VERIFY_PEER, NULL);
	assert_int_equal(handshake(srv, ca_client), X509_V_OK);
	/* TLS 1.1 is refused by the server */
	assert_int_equal(SSL_CTX_set_max_proto_version(ca_client, TLS1_1_VERSION), 1);
	assert_int_equal(SSL_CTX_set_min_proto_version(ca_client, TLS1_VERSION), 1);
	assert_int_equal(handshake(srv, ca_client), -1);
	SSL_CTX_free(ca_client);
	hc_tls_ctx_free(pinned);
	SSL_CTX_free(srv);
	SSL_CTX_free(srv2);
	hc_tls_free(t);
	hc_tls_free(t2);
	assert_null(hc_tls_pinned_client_ctx(NULL));
}

/* The certificate a server context hands out (a new SSL from it). */
static int ctx_serves(SSL_CTX *ctx, X509 *want)
{
	SSL *ssl = SSL_new(ctx);
	int same;
	assert_non_null(ssl);
	same = X509_cmp(SSL_get_certificate(ssl), want) == 0;
	SSL_free(ssl);
	return same;
}

/* SIGHUP's reload: the files of cfg read again into every server
 * context and the pinned client context; a bad file changes nothing. */
static void test_reload(void **state)
{
	struct fx *f = *state;
	struct hc_config cfg;
	struct hc_tls *t = NULL, *none = NULL, *before;
	SSL_CTX *srv[2], *pinned, *srv_old;
	char err[512], cert[512], key[512], other_crt[512];
	char buf[8192];
	FILE *in, *out;
	size_t n;

	assert_int_equal(hc_config_defaults(&cfg), 0);
	/* TLS off: nothing to reload */
	assert_int_not_equal(hc_tls_reload(&cfg, &none, NULL, 0, NULL, err, sizeof(err)), HUB_OK);
	assert_null(none);
	/* in use: a copy of fullchain.pem + server.key */
	path_of(f, "live.crt", cert, sizeof(cert));
	path_of(f, "live.key", key, sizeof(key));
	path_of(f, "other.crt", other_crt, sizeof(other_crt));
	assert_int_equal(hc_config_set(&cfg, "tls_cert", cert, "test", err, sizeof(err)), HUB_OK);
	assert_int_equal(hc_config_set(&cfg, "tls_key", key, "test", err, sizeof(err)), HUB_OK);
	write_key(f, "live.key", f->key, 0600, NULL);
	{
		X509 *full[3] = {f->leaf, f->ca, NULL};
		write_certs(f, "live.crt", full);
	}
	assert_int_equal(hc_tls_load(&cfg, &t, err, sizeof(err)), HUB_OK);
	srv[0] = server_ctx(t);
	srv[1] = server_ctx(t);
	srv_old = server_ctx(t);
	pinned = hc_tls_pinned_client_ctx(t);
	assert_non_null(pinned);

	/* the renewed pair (other.crt / other.key, without the CA in the
	 * chain) replaces the live files */
	in = fopen(other_crt, "r");
	out = fopen(cert, "w");
	assert_non_null(in);
	assert_non_null(out);
	n = fread(buf, 1, sizeof(buf), in);
	assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
	write_key(f, "live.key", f->key2, 0600, NULL);
	before = t;
	assert_int_equal(
		hc_tls_reload(&cfg, &t, (void *const *)srv, 2, pinned, err, sizeof(err)), HUB_OK);
	assert_ptr_not_equal(t, before);
	assert_true(ctx_serves(srv[0], f->leaf2));
	assert_true(ctx_serves(srv[1], f->leaf2));
	/* the key went with it: a full handshake with the pinned client,
	 * which now trusts the new certificate and still the old one */
	assert_int_equal(handshake(srv[0], pinned), X509_V_OK);
	assert_int_equal(handshake(srv_old, pinned), X509_V_OK);
	/* the old chain is gone, not left behind the new certificate */
	{
		STACK_OF(X509) *chain = NULL;
		assert_int_equal(SSL_CTX_get0_chain_certs(srv[0], &chain), 1);
		assert_int_equal(chain ? sk_X509_num(chain) : 0, 0);
	}

	/* a key of another certificate, then a damaged certificate: refused,
	 * the contexts keep serving the pair in use */
	write_key(f, "live.key", f->key, 0600, NULL);
	before = t;
	assert_int_not_equal(
		hc_tls_reload(&cfg, &t, (void *const *)srv, 2, pinned, err, sizeof(err)), HUB_OK);
	assert_non_null(strstr(err, "does not belong"));
	assert_ptr_equal(t, before);
	out = fopen(cert, "w");
	assert_non_null(out);
	fputs("-----BEGIN CERTIFICATE-----\nAAAA\n", out);
	fclose(out);
	assert_int_not_equal(
		hc_tls_reload(&cfg, &t, (void *const *)srv, 2, pinned, err, sizeof(err)), HUB_OK);
	assert_ptr_equal(t, before);
	assert_true(ctx_serves(srv[0], f->leaf2));
	assert_true(ctx_serves(srv[1], f->leaf2));
	assert_int_equal(handshake(srv[1], pinned), X509_V_OK);

	SSL_CTX_free(srv[0]);
	SSL_CTX_free(srv[1]);
	SSL_CTX_free(srv_old);
	hc_tls_ctx_free(pinned);
	hc_tls_free(t);
	hc_config_free(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepts),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_pinned),
		cmocka_unit_test(test_reload),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
