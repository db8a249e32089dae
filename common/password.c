/* SPDX-License-Identifier: MIT */
/* scrypt password hashes through OpenSSL 3's EVP_KDF, with the parameters
 * kept in the stored string. */
#include "hc_password.h"
#include "hc_err.h"
#include "hc_util.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define SALT_LEN 16
#define KEY_LEN	 32
#define MAX_MEM	 (1ULL << 30)

static bool params_ok(const struct hc_scrypt_params *p)
{
	uint64_t mem;
	if (p->log2n < 1 || p->log2n > 30 || p->r < 1 || p->r > 64 || p->p < 1 || p->p > 64)
		return false;
	mem = 128ULL * (uint64_t)p->r * ((1ULL << p->log2n) + (uint64_t)p->p + 2);
	return mem <= MAX_MEM;
}

static int derive(const char *pw, size_t len, const unsigned char *salt, size_t saltlen,
	const struct hc_scrypt_params *p, unsigned char *out, size_t outlen)
{
	EVP_KDF *kdf = NULL;
	EVP_KDF_CTX *ctx = NULL;
	uint64_t n = 1ULL << p->log2n, maxmem = MAX_MEM + (1ULL << 20);
	uint32_t r = (uint32_t)p->r, par = (uint32_t)p->p;
	int rc = HUB_ERR_CRYPTO;
	OSSL_PARAM ps[7];

	kdf = EVP_KDF_fetch(NULL, "SCRYPT", NULL);
	if (!kdf)
		goto cleanup;
	ctx = EVP_KDF_CTX_new(kdf);
	if (!ctx)
		goto cleanup;
	/* an empty password is a valid octet string; OpenSSL wants non-NULL */
	ps[0] = OSSL_PARAM_construct_octet_string(
		OSSL_KDF_PARAM_PASSWORD, (void *)(len ? pw : ""), len);
	ps[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
	ps[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	ps[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	ps[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &par);
	ps[5] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem);
	ps[6] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, ps) == 1)
		rc = HUB_OK;
cleanup:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return rc;
}

int hc_password_hash(const char *password, size_t len, const struct hc_scrypt_params *params,
	char *out, size_t outsz)
{
	unsigned char salt[SALT_LEN], key[KEY_LEN];
	char salt64[32], key64[48];
	int rc;

	if (!params_ok(params) || len > HC_PASSWORD_MAX)
		return HUB_ERR_INVAL;
	rc = hc_random(salt, sizeof(salt));
	if (rc)
		return rc;
	rc = derive(password, len, salt, sizeof(salt), params, key, sizeof(key));
	if (rc)
		goto cleanup;
	hc_b64url_encode(salt, sizeof(salt), salt64, sizeof(salt64));
	hc_b64url_encode(key, sizeof(key), key64, sizeof(key64));
	rc = hc_fmt(out, outsz, "$scrypt$ln=%d,r=%d,p=%d$%s$%s", params->log2n, params->r,
		params->p, salt64, key64);
cleanup:
	OPENSSL_cleanse(key, sizeof(key));
	return rc;
}

/* "<name>=<1-3 decimal digits>" at *s, advancing *s; -1 if not exactly that
 * (sscanf's %d would accept signs, spaces and wrap on overflow). */
static int param(const char **s, const char *name, int *out)
{
	size_t l = strlen(name);
	int v = 0, n = 0;
	if (strncmp(*s, name, l) != 0 || (*s)[l] != '=')
		return -1;
	*s += l + 1;
	while (**s >= '0' && **s <= '9' && n < 3) {
		v = v * 10 + (**s - '0');
		(*s)++;
		n++;
	}
	if (n == 0 || (**s >= '0' && **s <= '9'))
		return -1;
	*out = v;
	return 0;
}

/* Split a stored hash into params, salt and key. */
static int parse(const char *stored, struct hc_scrypt_params *p, unsigned char *salt,
	size_t *saltlen, unsigned char *key)
{
	const char *s, *d1, *d2;
	int n;

	if (!stored || strncmp(stored, "$scrypt$", 8) != 0)
		return HUB_ERR_INVAL;
	s = stored + 8;
	if (param(&s, "ln", &p->log2n) || *s++ != ',' || param(&s, "r", &p->r) || *s++ != ',' ||
		param(&s, "p", &p->p) || *s != '$')
		return HUB_ERR_INVAL;
	if (!params_ok(p))
		return HUB_ERR_INVAL;
	d1 = s + 1;
	d2 = strchr(d1, '$');
	if (!d2)
		return HUB_ERR_INVAL;
	n = hc_b64url_decode(d1, (size_t)(d2 - d1), salt, 64);
	if (n < 8)
		return HUB_ERR_INVAL;
	*saltlen = (size_t)n;
	if (strlen(d2 + 1) > 64)
		return HUB_ERR_INVAL;
	n = hc_b64url_decode(d2 + 1, strlen(d2 + 1), key, KEY_LEN);
	if (n != KEY_LEN)
		return HUB_ERR_INVAL;
	return HUB_OK;
}

int hc_password_params(const char *stored, struct hc_scrypt_params *out)
{
	unsigned char salt[64], key[KEY_LEN];
	size_t saltlen;
	return parse(stored, out, salt, &saltlen, key);
}

int hc_password_verify(const char *password, size_t len, const char *stored)
{
	struct hc_scrypt_params p;
	unsigned char salt[64], key[KEY_LEN], got[KEY_LEN];
	size_t saltlen;
	int rc;

	rc = parse(stored, &p, salt, &saltlen, key);
	if (rc)
		return rc;
	if (len > HC_PASSWORD_MAX)
		return HUB_ERR_AUTH;
	rc = derive(password, len, salt, saltlen, &p, got, sizeof(got));
	if (rc == HUB_OK)
		rc = hc_ct_equal(got, key, KEY_LEN) ? HUB_OK : HUB_ERR_AUTH;
	OPENSSL_cleanse(got, sizeof(got));
	return rc;
}

void hc_password_dummy_verify(
	const char *password, size_t len, const struct hc_scrypt_params *params)
{
	static const unsigned char salt[SALT_LEN] = "hub-dummy-salt!";
	unsigned char got[KEY_LEN];
	if (!params_ok(params))
		return;
	derive(password, len > HC_PASSWORD_MAX ? 0 : len, salt, sizeof(salt), params, got,
		sizeof(got));
	OPENSSL_cleanse(got, sizeof(got));
}

bool hc_password_needs_rehash(const char *stored, const struct hc_scrypt_params *params)
{
	struct hc_scrypt_params p;
	if (hc_password_params(stored, &p))
		return true;
	return p.log2n != params->log2n || p.r != params->r || p.p != params->p;
}
