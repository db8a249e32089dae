/* SPDX-License-Identifier: MIT */
/*
 * JWT mint/verify for the MQTT token. HMAC is computed from precomputed
 * inner and outer digest states (RFC 2104), copied into a per-thread scratch
 * context, so a verify does no key setup and no allocation of its own.
 */
#include "hc_token.h"
#include "hc_err.h"
#include "hc_util.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_BYTES   64
#define HEADER_MAX  256
#define PAYLOAD_MAX 640
#define BLOCK_MAX   128

struct hc_token_key {
	const EVP_MD *md;
	char alg[8];
	size_t maclen;
	EVP_MD_CTX *inner, *outer; /* states after absorbing key^ipad / key^opad */
	char header64[64];	   /* canonical encoded header */
	size_t header64_len;
};

static const EVP_MD *alg_md(const char *alg, size_t *maclen)
{
	if (!strcmp(alg, "HS256")) {
		*maclen = 32;
		return EVP_sha256();
	}
	if (!strcmp(alg, "HS384")) {
		*maclen = 48;
		return EVP_sha384();
	}
	if (!strcmp(alg, "HS512")) {
		*maclen = 64;
		return EVP_sha512();
	}
	return NULL;
}

int hc_token_key_new(const void *keybytes, size_t len, const char *alg, struct hc_token_key **out)
{
	struct hc_token_key *k = NULL;
	unsigned char block[BLOCK_MAX], pad[BLOCK_MAX];
	char header[64];
	size_t bs;
	int rc = HUB_ERR_CRYPTO;

	*out = NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return HUB_ERR_NOMEM;
	k->md = alg ? alg_md(alg, &k->maclen) : NULL;
	if (!k->md || len == 0) {
		rc = HUB_ERR_INVAL;
		goto cleanup;
	}
	snprintf(k->alg, sizeof(k->alg), "%s", alg);
	bs = (size_t)EVP_MD_get_block_size(k->md);
	if (bs > BLOCK_MAX)
		goto cleanup;
	memset(block, 0, sizeof(block));
	if (len > bs) {
		unsigned int dl = 0;
		if (EVP_Digest(keybytes, len, block, &dl, k->md, NULL) != 1)
			goto cleanup;
	} else {
		memcpy(block, keybytes, len);
	}
	k->inner = EVP_MD_CTX_new();
	k->outer = EVP_MD_CTX_new();
	if (!k->inner || !k->outer)
		goto cleanup;
	for (size_t i = 0; i < bs; i++)
		pad[i] = block[i] ^ 0x36;
	if (EVP_DigestInit_ex(k->inner, k->md, NULL) != 1 ||
		EVP_DigestUpdate(k->inner, pad, bs) != 1)
		goto cleanup;
	for (size_t i = 0; i < bs; i++)
		pad[i] = block[i] ^ 0x5c;
	if (EVP_DigestInit_ex(k->outer, k->md, NULL) != 1 ||
		EVP_DigestUpdate(k->outer, pad, bs) != 1)
		goto cleanup;
	snprintf(header, sizeof(header), "{\"alg\":\"%s\",\"typ\":\"JWT\"}", k->alg);
	k->header64_len =
		(size_t)hc_b64url_encode(header, strlen(header), k->header64, sizeof(k->header64));
	*out = k;
	k = NULL;
	rc = HUB_OK;
cleanup:
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(pad, sizeof(pad));
	hc_token_key_free(k);
	return rc;
}

void hc_token_key_free(struct hc_token_key *k)
{
	if (!k)
		return;
	EVP_MD_CTX_free(k->inner);
	EVP_MD_CTX_free(k->outer);
	OPENSSL_cleanse(k, sizeof(*k));
	free(k);
}

/* HMAC(data) into mac (key->maclen bytes). */
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
	EVP_MD_CTX_free(p);
}

static int scratch_ok;

static void scratch_init(void)
{
	scratch_ok = pthread_key_create(&scratch_key, scratch_free) == 0;
}

static int hmac(const struct hc_token_key *k, const void *data, size_t len, unsigned char *mac)
{
	EVP_MD_CTX *scratch;
	unsigned char ih[EVP_MAX_MD_SIZE];
	unsigned int l = 0;

	pthread_once(&scratch_once, scratch_init);
	if (!scratch_ok)
		return HUB_ERR_NOMEM;
	scratch = pthread_getspecific(scratch_key);
	if (!scratch) {
		scratch = EVP_MD_CTX_new();
		if (!scratch)
			return HUB_ERR_NOMEM;
		if (pthread_setspecific(scratch_key, scratch) != 0) {
			EVP_MD_CTX_free(scratch);
			return HUB_ERR_NOMEM;
		}
	}
	if (EVP_MD_CTX_copy_ex(scratch, k->inner) != 1 ||
		EVP_DigestUpdate(scratch, data, len) != 1 ||
		EVP_DigestFinal_ex(scratch, ih, &l) != 1 ||
		EVP_MD_CTX_copy_ex(scratch, k->outer) != 1 ||
		EVP_DigestUpdate(scratch, ih, l) != 1 || EVP_DigestFinal_ex(scratch, mac, &l) != 1)
		return HUB_ERR_CRYPTO;
	return HUB_OK;
}

static int safe_claim(const char *s, size_t max)
{
	size_t n = 0;
	if (!s)
		return 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= max || c < 0x21 || c > 0x7e || c == '"' || c == '\\')
			return 0;
	}
	return n > 0;
}

/* An addr claim: a textual IPv4 or IPv6 address's characters. */
static int addr_claim_ok(const char *s)
{
	size_t n = 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= HC_TOKEN_ADDR_MAX ||
			!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
				(c >= 'A' && c <= 'F') || c == '.' || c == ':'))
			return 0;
	}
	return n > 0;
}

int hc_token_mint(const struct hc_token_key *k, const char *typ, const char *sub, const char *sid,
	int64_t iat, int64_t exp, char *out, size_t outsz)
{
	return hc_token_mint_addr(k, typ, sub, sid, iat, exp, NULL, out, outsz);
}

int hc_token_mint_addr(const struct hc_token_key *k, const char *typ, const char *sub,
	const char *sid, int64_t iat, int64_t exp, const char *addr, char *out, size_t outsz)
{
	char payload[PAYLOAD_MAX];
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t o;
	int n, rc;

	if (!k || !safe_claim(sub, HC_TOKEN_SUB_MAX) || !safe_claim(sid, HC_TOKEN_SID_MAX) ||
		!safe_claim(typ, 15) || exp <= iat || (addr && *addr && !addr_claim_ok(addr)))
		return HUB_ERR_INVAL;
	if (addr && *addr)
		rc = hc_fmt(payload, sizeof(payload),
			"{\"sub\":\"%s\",\"sid\":\"%s\",\"iat\":%lld,\"exp\":%lld,\"typ\":\"%s\","
			"\"addr\":\"%s\"}",
			sub, sid, (long long)iat, (long long)exp, typ, addr);
	else
		rc = hc_fmt(payload, sizeof(payload),
			"{\"sub\":\"%s\",\"sid\":\"%s\",\"iat\":%lld,\"exp\":%lld,\"typ\":\"%s\"}",
			sub, sid, (long long)iat, (long long)exp, typ);
	if (rc)
		return rc;
	if (k->header64_len + 1 >= outsz)
		return HUB_ERR_TOOBIG;
	memcpy(out, k->header64, k->header64_len);
	o = k->header64_len;
	out[o++] = '.';
	n = hc_b64url_encode(payload, strlen(payload), out + o, outsz - o);
	if (n < 0)
		return HUB_ERR_TOOBIG;
	o += (size_t)n;
	rc = hmac(k, out, o, mac);
	if (rc)
		return rc;
	if (o + 1 >= outsz)
		return HUB_ERR_TOOBIG;
	out[o++] = '.';
	n = hc_b64url_encode(mac, k->maclen, out + o, outsz - o);
	if (n < 0)
		return HUB_ERR_TOOBIG;
	return HUB_OK;
}

int hc_token_key_tag(const struct hc_token_key *k, const char *label, char *out, size_t outsz)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	size_t len = label ? strlen(label) : 0;
	int n, rc;

	if (!k || len == 0 || len > 64)
		return HUB_ERR_INVAL;
	rc = hmac(k, label, len, mac);
	if (rc)
		return rc;
	n = hc_b64url_encode(mac, k->maclen, out, outsz);
	OPENSSL_cleanse(mac, sizeof(mac));
	return n < 0 ? HUB_ERR_TOOBIG : HUB_OK;
}

/* JSON that is the whole of buf: nothing but whitespace may follow. */
static cJSON *parse_exact(const unsigned char *buf, size_t len)
{
	const char *end = NULL;
	cJSON *j = cJSON_ParseWithLengthOpts((const char *)buf, len, &end, 0);
	if (!j)
		return NULL;
	while (end && end < (const char *)buf + len &&
		(*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != (const char *)buf + len) {
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

/* The header must name exactly our alg; typ, if present, must be "JWT";
 * "crit" (extensions we do not understand) is refused. */
static int check_header(const struct hc_token_key *k, const char *h64, size_t len)
{
	unsigned char buf[HEADER_MAX];
	cJSON *h, *alg, *typ;
	int n, rc = HUB_ERR_AUTH;

	if (len == k->header64_len && memcmp(h64, k->header64, len) == 0)
		return HUB_OK;
	n = hc_b64url_decode(h64, len, buf, sizeof(buf));
	if (n <= 0)
		return HUB_ERR_INVAL;
	h = parse_exact(buf, (size_t)n);
	if (!cJSON_IsObject(h)) {
		cJSON_Delete(h);
		return HUB_ERR_INVAL;
	}
	alg = cJSON_GetObjectItemCaseSensitive(h, "alg");
	typ = cJSON_GetObjectItemCaseSensitive(h, "typ");
	if (cJSON_IsString(alg) && strcmp(alg->valuestring, k->alg) == 0 &&
		(!typ || (cJSON_IsString(typ) && strcmp(typ->valuestring, "JWT") == 0)) &&
		!cJSON_GetObjectItemCaseSensitive(h, "crit"))
		rc = HUB_OK;
	cJSON_Delete(h);
	return rc;
}

static int get_int(cJSON *o, const char *name, int64_t *out, int required)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	if (!v)
		return required ? -1 : 0;
	/* NumericDate: accept integral values within a sane range only */
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e12 ||
		v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	*out = (int64_t)v->valuedouble;
	return 0;
}

static int get_str(cJSON *o, const char *name, char *out, size_t outsz, int required)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	size_t l;
	if (!v)
		return required ? -1 : 0;
	if (!cJSON_IsString(v))
		return -1;
	l = strlen(v->valuestring);
	if (l == 0 || l >= outsz)
		return -1;
	memcpy(out, v->valuestring, l + 1);
	return 0;
}

int hc_token_verify(const struct hc_token_key *k, const char *tok, size_t len, int64_t now,
	const char *want_typ, struct hc_token_claims *c, const char **why)
{
	const char *d1, *d2;
	unsigned char mac[EVP_MAX_MD_SIZE], sig[EVP_MAX_MD_SIZE + 4];
	unsigned char payload[PAYLOAD_MAX];
	cJSON *p = NULL;
	const char *reason = "malformed";
	int n, rc = HUB_ERR_INVAL;

	memset(c, 0, sizeof(*c));
	if (!k || !tok) {
		rc = HUB_ERR_INVAL;
		goto done;
	}
	if (len > HC_TOKEN_MAX) {
		reason = "too-long";
		rc = HUB_ERR_TOOBIG;
		goto done;
	}
	/* compact JWS is base64url without padding: '=' anywhere is not a token
	 * we issued (and would make one token many strings) */
	if (memchr(tok, '=', len))
		goto done;
	d1 = memchr(tok, '.', len);
	if (!d1)
		goto done;
	d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - tok));
	if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - tok)))
		goto done;

	rc = check_header(k, tok, (size_t)(d1 - tok));
	if (rc) {
		reason = rc == HUB_ERR_AUTH ? "bad-alg" : "malformed";
		goto done;
	}
	n = hc_b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - tok), sig, sizeof(sig));
	if (n != (int)k->maclen) {
		reason = "bad-signature";
		rc = n < 0 ? HUB_ERR_INVAL : HUB_ERR_AUTH;
		goto done;
	}
	rc = hmac(k, tok, (size_t)(d2 - tok), mac);
	if (rc) {
		reason = "crypto";
		goto done;
	}
	if (!hc_ct_equal(mac, sig, k->maclen)) {
		reason = "bad-signature";
		rc = HUB_ERR_AUTH;
		goto done;
	}
	/* signature good: the claims are ours, but still parse defensively */
	rc = HUB_ERR_INVAL;
	n = hc_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), payload, sizeof(payload));
	if (n <= 0)
		goto done;
	p = parse_exact(payload, (size_t)n);
	if (!cJSON_IsObject(p) || get_str(p, "sub", c->sub, sizeof(c->sub), 1) ||
		get_str(p, "sid", c->sid, sizeof(c->sid), 1) ||
		get_str(p, "typ", c->typ, sizeof(c->typ), 1) || get_int(p, "exp", &c->exp, 1) ||
		get_int(p, "iat", &c->iat, 0) || get_int(p, "nbf", &c->nbf, 0) ||
		get_str(p, "addr", c->addr, sizeof(c->addr), 0) ||
		(c->addr[0] && !addr_claim_ok(c->addr))) {
		reason = "bad-claims";
		goto done;
	}
	if (want_typ && strcmp(c->typ, want_typ) != 0) {
		reason = "wrong-typ";
		rc = HUB_ERR_AUTH;
		goto done;
	}
	if (now == HC_TOKEN_ANY_TIME) {
		reason = "ok";
		rc = HUB_OK;
		goto done;
	}
	if (now >= c->exp) {
		reason = "expired";
		rc = HUB_ERR_EXPIRED;
		goto done;
	}
	/* one minute of leeway for clocks of other token minters */
	if ((c->nbf && now + 60 < c->nbf) || (c->iat && now + 60 < c->iat)) {
		reason = "not-yet-valid";
		rc = HUB_ERR_EXPIRED;
		goto done;
	}
	reason = "ok";
	rc = HUB_OK;
done:
	cJSON_Delete(p);
	if (rc)
		memset(c, 0, sizeof(*c));
	if (why)
		*why = reason;
	return rc;
}

/* Owner of the directory holding path, so a key made by root for a service
 * account stays readable by that account. */
static void chown_like_dir(int fd, const char *path)
{
	char dir[4096];
	struct stat st;
	char *s;
	if (hc_fmt(dir, sizeof(dir), "%s", path))
		return;
	s = strrchr(dir, '/');
	if (s)
		*(s == dir ? s + 1 : s) = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (geteuid() == 0 && stat(dir, &st) == 0 && fchown(fd, st.st_uid, st.st_gid) != 0) {
		/* best effort: the mode check on load will tell if it matters */
	}
}

static int create_key(const char *path, char *err, size_t errsz)
{
	unsigned char raw[KEY_BYTES];
	char text[HC_B64URL_LEN(KEY_BYTES) + 2], tmp[4200];
	int fd, n, rc = HUB_ERR_IO;

	if (hc_fmt(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()))
		return HUB_ERR_TOOBIG;
	if (hc_random(raw, sizeof(raw)))
		return HUB_ERR_CRYPTO;
	n = hc_b64url_encode(raw, sizeof(raw), text, sizeof(text) - 1);
	OPENSSL_cleanse(raw, sizeof(raw));
	text[n++] = '\n';
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "%s: cannot create key file: %s", path, strerror(errno));
		return HUB_ERR_IO;
	}
	chown_like_dir(fd, path);
	if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
		snprintf(err, errsz, "%s: cannot write key file: %s", path, strerror(errno));
		close(fd);
		unlink(tmp);
		goto cleanup;
	}
	close(fd);
	/* link() fails with EEXIST if another process won the race: use theirs */
	if (link(tmp, path) != 0 && errno != EEXIST) {
		snprintf(err, errsz, "%s: cannot install key file: %s", path, strerror(errno));
		unlink(tmp);
		goto cleanup;
	}
	unlink(tmp);
	rc = HUB_OK;
cleanup:
	OPENSSL_cleanse(text, sizeof(text));
	return rc;
}

int hc_token_key_load(const char *path, const char *alg, int create, struct hc_token_key **out,
	char *err, size_t errsz)
{
	char text[512];
	unsigned char raw[384];
	struct stat st;
	ssize_t got;
	int fd, n, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		rc = create_key(path, err, errsz);
		if (rc)
			return rc;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		snprintf(err, errsz, "%s: cannot open key file: %s", path, strerror(errno));
		return HUB_ERR_IO;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errsz, "%s: not a regular file", path);
		close(fd);
		return HUB_ERR_IO;
	}
	if (st.st_mode & 077) {
		snprintf(err, errsz, "%s: key file mode is %03o; it must be 0600 (chmod 600 %s)",
			path, (unsigned)(st.st_mode & 0777), path);
		close(fd);
		return HUB_ERR_DENIED;
	}
	got = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (got <= 0) {
		snprintf(err, errsz, "%s: cannot read key file", path);
		return HUB_ERR_IO;
	}
	while (got > 0 && (text[got - 1] == '\n' || text[got - 1] == '\r' || text[got - 1] == ' '))
		got--;
	n = hc_b64url_decode(text, (size_t)got, raw, sizeof(raw));
	OPENSSL_cleanse(text, sizeof(text));
	if (n < 32) {
		snprintf(err, errsz, "%s: key file must hold at least 32 bytes in base64url", path);
		OPENSSL_cleanse(raw, sizeof(raw));
		return HUB_ERR_INVAL;
	}
	rc = hc_token_key_new(raw, (size_t)n, alg, out);
	OPENSSL_cleanse(raw, sizeof(raw));
	if (rc)
		snprintf(err, errsz, "%s: cannot use key with algorithm %s", path, alg);
	return rc;
}
