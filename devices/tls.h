/* SPDX-License-Identifier: MIT */
/*
 * MQTT over TLS for the whole fleet (--cafile, --tls): one OpenSSL client
 * context shared by every vehicle's libmosquitto client (MOSQ_OPT_SSL_CTX),
 * so the CA file is read once, not once per connection. Verification is
 * always on: the broker's chain must lead to a trusted CA and its
 * certificate must name the host the user gave (--host / mqtt_host),
 * although the fleet connects to the address it resolved once at start.
 */
#ifndef TRK_TLS_H
#define TRK_TLS_H

#include <stddef.h>

/* A client SSL_CTX (SSL_CTX *) for a broker known as name (a DNS name or
 * an IP address): CA certificates from cafile (PEM), or the system's when
 * cafile is NULL; TLS 1.2 or later; the name also goes out as SNI. NULL
 * with a reason in err. Free with trk_tls__free after the last client. */
void *trk_tls__ctx(const char *cafile, const char *name, char *err, size_t errsz);
void trk_tls__free(void *ctx);

#endif
