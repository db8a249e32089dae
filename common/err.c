/* SPDX-License-Identifier: MIT */
/* hub_strerror: the text of the project's error codes. */
#include "hc_err.h"

const char *hub_strerror(int err)
{
	static const char *const text[HUB_ERR__COUNT] = {
		[HUB_OK] = "success",
		[HUB_ERR_NOMEM] = "out of memory",
		[HUB_ERR_INVAL] = "invalid input",
		[HUB_ERR_IO] = "input/output error",
		[HUB_ERR_DB] = "database error",
		[HUB_ERR_NOTFOUND] = "not found",
		[HUB_ERR_EXISTS] = "already exists",
		[HUB_ERR_AUTH] = "authentication failed",
		[HUB_ERR_EXPIRED] = "expired",
		[HUB_ERR_REVOKED] = "revoked",
		[HUB_ERR_TOOBIG] = "too large",
		[HUB_ERR_BUSY] = "busy",
		[HUB_ERR_CRYPTO] = "cryptographic library error",
		[HUB_ERR_CONFIG] = "configuration error",
		[HUB_ERR_DENIED] = "denied",
	};
	if (err < 0 || err >= HUB_ERR__COUNT)
		return "unknown error";
	return text[err];
}
