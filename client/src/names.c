/* SPDX-License-Identifier: MIT */
/*
 * Name and event-level validation for the client: the contract's character
 * sets, from the hub's one implementation (common/names.c, compiled into
 * this library; its symbols stay hidden), plus the client's reserved
 * event names.
 */
#include "hubio_int.h"
#include "hc_names.h"

#include <string.h>

bool hubio__name_valid(const char *s)
{
	return hc_name_valid(s);
}

bool hubio__name_valid_n(const char *s, size_t len)
{
	return hc_name_valid_n(s, len);
}

bool hubio__utf8_valid(const char *s, size_t len)
{
	return hc_utf8_valid(s, len);
}

bool hubio__event_valid_n(const char *s, size_t len)
{
	return hc_event_valid_n(s, len);
}

bool hubio__event_valid(const char *s)
{
	return s && hc_event_valid_n(s, strnlen(s, HC_NAME_MAX + 1));
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
