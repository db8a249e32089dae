/* SPDX-License-Identifier: MIT */
/*
 * The project's one error enum. Every function that can fail returns int:
 * HUB_OK (0) on success, one of these otherwise.
 */
#ifndef HC_ERR_H
#define HC_ERR_H

enum hub_err {
	HUB_OK = 0,
	HUB_ERR_NOMEM,	  /* allocation failed */
	HUB_ERR_INVAL,	  /* malformed or out-of-range input */
	HUB_ERR_IO,	  /* file or socket error (errno holds details) */
	HUB_ERR_DB,	  /* SQLite error */
	HUB_ERR_NOTFOUND, /* no such user, device, room, session ... */
	HUB_ERR_EXISTS,	  /* the name is taken */
	HUB_ERR_AUTH,	  /* bad credentials or signature */
	HUB_ERR_EXPIRED,  /* token or session expired */
	HUB_ERR_REVOKED,  /* session revoked */
	HUB_ERR_TOOBIG,	  /* input over its limit */
	HUB_ERR_BUSY,	  /* queue full or database busy for too long */
	HUB_ERR_CRYPTO,	  /* OpenSSL failure */
	HUB_ERR_CONFIG,	  /* bad configuration */
	HUB_ERR_DENIED,	  /* not allowed */
	HUB_ERR__COUNT
};

/* Static string for an error code, never NULL. Thread-safe. */
const char *hub_strerror(int err);

#endif
