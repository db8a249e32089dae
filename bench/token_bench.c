/* SPDX-License-Identifier: MIT */
/*
 * Token verify cost, as the broker pays it on every CONNECT: hc_token_verify
 * of a valid HS256 token, side by side in one run with two baselines:
 * OpenSSL's one-shot HMAC() over the same bytes (the MAC alone) and a
 * full verify that fails at the signature (what a forged token costs).
 * Prints ns per call (median of 7 rounds) and the ratios.
 */
#include "hc_token.h"
#include "hc_util.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 7

static double now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v)
{
	qsort(v, ROUNDS, sizeof(double), cmp);
	return v[ROUNDS / 2];
}

int main(int argc, char **argv)
{
	unsigned char keybytes[64];
	struct hc_token_key *key;
	char tok[HC_TOKEN_MAX + 1], bad[HC_TOKEN_MAX + 1];
	struct hc_token_claims c;
	unsigned char mac[64];
	unsigned int maclen;
	long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
	double verify[ROUNDS], forged[ROUNDS], hmac1[ROUNDS];
	int64_t t = hc_now();
	volatile int sink = 0;

	if (iters <= 0)
		iters = 200000;
	hc_random(keybytes, sizeof(keybytes));
	if (hc_token_key_new(keybytes, sizeof(keybytes), "HS256", &key) ||
		hc_token_mint(key, "mqtt", "alice", "AbCdEfGhIjKlMnOpQrStUv", t, t + 900, tok,
			sizeof(tok))) {
		fprintf(stderr, "setup failed\n");
		return 1;
	}
	memcpy(bad, tok, sizeof(tok));
	/* a different but well-formed signature character */
	bad[strlen(bad) - 5] = bad[strlen(bad) - 5] == 'A' ? 'B' : 'A';
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_ns();
		for (long i = 0; i < iters; i++)
			sink += hc_token_verify(key, tok, strlen(tok), t, "mqtt", &c, NULL);
		verify[r] = (now_ns() - t0) / (double)iters;
		t0 = now_ns();
		for (long i = 0; i < iters; i++)
			sink += hc_token_verify(key, bad, strlen(bad), t, "mqtt", &c, NULL);
		forged[r] = (now_ns() - t0) / (double)iters;
		t0 = now_ns();
		for (long i = 0; i < iters; i++)
			sink += HMAC(EVP_sha256(), keybytes, sizeof(keybytes),
					(const unsigned char *)tok, strlen(tok) - 44, mac,
					&maclen) != NULL;
		hmac1[r] = (now_ns() - t0) / (double)iters;
	}
	printf("token verify (valid HS256, %zu bytes): %.0f ns/op (%.2f us)\n", strlen(tok),
		median(verify), median(verify) / 1000);
	printf("token verify (forged signature):      %.0f ns/op\n", median(forged));
	printf("baseline OpenSSL HMAC() one-shot:      %.0f ns/op\n", median(hmac1));
	printf("ratio verify / HMAC() one-shot:        %.2f\n", median(verify) / median(hmac1));
	hc_token_key_free(key);
	return sink == 42 ? 2 : 0;
}
