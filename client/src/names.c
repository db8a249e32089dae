/* SPDX-License-Identifier: MIT */
/*
 * Name and event-level validation for the client: the contract's
 * character sets. The rules are those of common/names.c (the hub's own
 * checks); the client library is built and shipped on its own, so it
 * carries this small copy instead of linking the hub's common library.
 */
#include "hubio_int.h"

#include <string.h>

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

bool hubio__name_valid_n(const char *s, size_t len)
{
	if (!s || len == 0 || len > HUBIO__NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!name_char((unsigned char)s[i]))
			return false;
	return true;
}

bool hubio__name_valid(const char *s)
{
	return s && hubio__name_valid_n(s, strnlen(s, HUBIO__NAME_MAX + 1));
}

bool hubio__utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t need;
		unsigned int cp, min;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			need = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			need = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			need = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false;
		}
		if (need > len - i - 1)
			return false;
		for (size_t k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}

bool hubio__event_valid_n(const char *s, size_t len)
{
	if (!s || len == 0 || len > HUBIO__NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f || c == '/' || c == '+' || c == '#')
			return false;
	}
	return hubio__utf8_valid(s, len);
}

bool hubio__event_valid(const char *s)
{
	return s && hubio__event_valid_n(s, strnlen(s, HUBIO__NAME_MAX + 1));
}

bool hubio__event_reserved(const char *s)
{
	static const char *const reserved[] = {
		"connect", "disconnect", "joined", "left", "error", "*"};
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (strcmp(s, reserved[i]) == 0)
			return true;
	return false;
}
