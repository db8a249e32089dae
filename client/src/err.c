/* SPDX-License-Identifier: MIT */
/* Error texts and the version string. */
#include "hubio_int.h"

#ifdef HUB_VERSION
#define HUBIO_VERSION_STRING HUB_VERSION
#else
#define HUBIO_VERSION_STRING "0.2.0"
#endif

HUBIO_API const char *hubio_strerror(int err)
{
	switch (err) {
	case HUBIO_OK:
		return "success";
	case HUBIO_EINVAL:
		return "invalid argument";
	case HUBIO_ENOMEM:
		return "out of memory";
	case HUBIO_ENOTCONN:
		return "not connected";
	case HUBIO_EFORBIDDEN:
		return "forbidden";
	case HUBIO_ETIMEOUT:
		return "timed out";
	case HUBIO_EAUTH:
		return "not authorised (token refused)";
	case HUBIO_ETOKEN:
		return "no token available";
	case HUBIO_ETOOBIG:
		return "too big";
	case HUBIO_EFULL:
		return "table full";
	case HUBIO_ENOTSUP:
		return "not supported with this protocol version";
	case HUBIO_ETHROTTLED:
		return "throttled";
	case HUBIO_ESTATE:
		return "wrong state";
	case HUBIO_EPROTO:
		return "protocol or network error";
	case HUBIO_ENOTFOUND:
		return "not found";
	case HUBIO_ECANCELED:
		return "canceled";
	case HUBIO_ERRNO:
		return "system error";
	case HUBIO_EUNAVAILABLE:
		return "service unavailable";
	case HUBIO_EBUSY:
		return "busy";
	default:
		return "unknown error";
	}
}

HUBIO_API const char *hubio_version(void)
{
	return HUBIO_VERSION_STRING;
}
