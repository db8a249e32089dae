/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the name and UTF-8 validators against small reference
 * implementations written from the definitions (Unicode table 3-7 of
 * well-formed byte sequences; the contract's name charset), so a
 * disagreement on any input is a bug in one of them.
 */
#include "hc_names.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Unicode 15, table 3-7: well-formed UTF-8 byte sequences. */
static bool ref_utf8(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		uint8_t lo = 0x80, hi = 0xbf;
		size_t need;
		if (c <= 0x7f) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3;
		else
			return false;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
		else if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
		if (len - i - 1 < need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if (s[i + k] < 0x80 || s[i + k] > 0xbf)
				return false;
		i += need + 1;
	}
	return true;
}

static bool ref_name(const uint8_t *s, size_t len)
{
	if (len < 1 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
			    s[i]) ||
			s[i] == 0)
			return false;
	return true;
}

static bool ref_event(const uint8_t *s, size_t len)
{
	if (len < 1 || len > 64 || !ref_utf8(s, len))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '/' || s[i] == '+' || s[i] == '#')
			return false;
	return true;
}

static void die(const char *what, const uint8_t *s, size_t len)
{
	fprintf(stderr, "fuzz_names: %s on %zu bytes:", what, len);
	for (size_t i = 0; i < len && i < 80; i++)
		fprintf(stderr, " %02x", s[i]);
	fprintf(stderr, "\n");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (hc_utf8_valid(s, size) != ref_utf8(data, size))
		die("hc_utf8_valid disagrees with table 3-7", data, size);
	if (hc_name_valid_n(s, size) != ref_name(data, size))
		die("hc_name_valid_n disagrees with the contract charset", data, size);
	if (hc_event_valid_n(s, size) != ref_event(data, size))
		die("hc_event_valid_n disagrees", data, size);
	if (hc_name_valid(s) != ref_name(data, strnlen(s, 65) > 64 ? 65 : strlen(s)))
		die("hc_name_valid disagrees", data, size);
	if (hc_clientid_valid(s) != (strpbrk(s, "/+#") == NULL))
		die("hc_clientid_valid disagrees", data, size);
	(void)hc_level_name(hc_level_parse(s));
	free(s);
	return 0;
}
