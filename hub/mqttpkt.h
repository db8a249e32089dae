/* SPDX-License-Identifier: MIT */
/*
 * The one MQTT packet hubd's WebSocket front reads: a client's first
 * packet, CONNECT (MQTT 3.1, 3.1.1 and 5), found in the bytes a browser
 * sent, and rewritten with another password (the token the front mints
 * for the browser's session or address, hub/front.c). Everything after
 * the CONNECT is relayed unread. Only the framing of the fields is
 * checked here (lengths, flags, protocol name and level): the broker
 * judges everything else as for any TCP client.
 *
 * Pure; thread-safe.
 */
#ifndef HUB_MQTTPKT_H
#define HUB_MQTTPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUB_MQTTPKT_MORE 1 /* hub_mqttpkt_connect: not all of it yet */

struct hub_mqtt_connect {
	int version;	  /* protocol level: 3 (MQIsdp), 4, 5 */
	size_t total;	  /* bytes of the whole packet */
	size_t hdr_len;	  /* bytes of its fixed header (the variable header follows) */
	size_t flags_off; /* offset of the connect flags byte */
	size_t user_off;  /* offset of the username field (or where it would be) */
	bool has_user;	  /* username flag */
	bool has_pass;	  /* password flag */
	size_t user_len;  /* username bytes, at p + user_off + 2 */
	size_t pass_off;  /* offset of the password field (when has_pass) */
	size_t pass_len;  /* password bytes, at p + pass_off + 2 */
};

/*
 * Find a CONNECT at the start of p (len bytes). HUB_OK with *out filled,
 * HUB_MQTTPKT_MORE when the packet is not complete yet (and, as far as it
 * goes, well-formed), HUB_ERR_TOOBIG when it announces more than max
 * bytes, HUB_ERR_INVAL when it is not a well-formed CONNECT (another
 * packet type, flags, lengths, protocol name or level).
 */
int hub_mqttpkt_connect(
	const unsigned char *p, size_t len, size_t max, struct hub_mqtt_connect *out);

/*
 * Write the CONNECT c found in p into out (outsz bytes) with password
 * (plen bytes, at most 65535) in place of its own (the password flag set;
 * the username must be there). *outlen: bytes written. HUB_OK,
 * HUB_ERR_INVAL (no username, password too long), HUB_ERR_TOOBIG (out too
 * small).
 */
int hub_mqttpkt_with_password(const unsigned char *p, const struct hub_mqtt_connect *c,
	const char *password, size_t plen, unsigned char *out, size_t outsz, size_t *outlen);

/* Bytes the rewritten packet takes with a password of plen bytes. */
size_t hub_mqttpkt_rewritten_size(const struct hub_mqtt_connect *c, size_t plen);

/*
 * A CONNACK refusing the connection for protocol level version: "server
 * unavailable" (3.1/3.1.1 return code 3, MQTT 5 reason 0x88). Into out
 * (at least 5 bytes); returns its length.
 */
size_t hub_mqttpkt_connack_unavailable(int version, unsigned char *out);

#endif
