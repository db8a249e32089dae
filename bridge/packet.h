/* SPDX-License-Identifier: MIT */
/*
 * Engine.IO v4 and Socket.IO v5 packet framing: pure functions on
 * (pointer, length) input, no I/O and no allocation, so the fuzzer
 * (tests/fuzz/fuzz_sio.c) drives exactly what the server runs.
 *
 * Engine.IO: a packet is one type character ('0' open ... '6' noop) and
 * its data; long-polling bodies join packets with the record separator
 * 0x1e, and a binary packet there is 'b' + base64.
 *
 * Socket.IO: <type>[<attachments>-][<namespace>,][<ack id>][<JSON>]
 * (types 0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK, 4 CONNECT_ERROR,
 * 5 BINARY_EVENT, 6 BINARY_ACK).
 */
#ifndef HBR_PACKET_H
#define HBR_PACKET_H

#include <stddef.h>
#include <stdint.h>

enum hbr_eio_type {
	HBR_EIO_OPEN = '0',
	HBR_EIO_CLOSE = '1',
	HBR_EIO_PING = '2',
	HBR_EIO_PONG = '3',
	HBR_EIO_MESSAGE = '4',
	HBR_EIO_UPGRADE = '5',
	HBR_EIO_NOOP = '6',
};

#define HBR_EIO_SEP 0x1e

/* What an Engine.IO packet from a client is (hbr_packet__eio_kind). */
enum hbr_eio_kind {
	HBR_EK_BAD = 0, /* nothing a client may send */
	HBR_EK_MESSAGE, /* "4<data>" */
	HBR_EK_PONG,	/* "3" */
	HBR_EK_PROBE,	/* "2probe" (the upgrade probe; v4 clients never ping) */
	HBR_EK_UPGRADE, /* "5" */
	HBR_EK_CLOSE,	/* "1" */
	HBR_EK_NOOP,	/* "6" */
	HBR_EK_BINARY,	/* "b<base64>" (long-polling only) */
};

enum hbr_sio_type {
	HBR_SIO_CONNECT = 0,
	HBR_SIO_DISCONNECT,
	HBR_SIO_EVENT,
	HBR_SIO_ACK,
	HBR_SIO_CONNECT_ERROR,
	HBR_SIO_BINARY_EVENT,
	HBR_SIO_BINARY_ACK,
};

#define HBR_SIO_NSP_MAX	   128
#define HBR_SIO_ATTACH_MAX 10 /* attachments one binary packet may announce */

struct hbr_sio_packet {
	int type;	 /* enum hbr_sio_type */
	int attachments; /* BINARY_*: announced attachments */
	const char *nsp; /* namespace, "/" when absent (borrowed) */
	size_t nsplen;
	int64_t id;	  /* ack id, -1 when absent */
	const char *data; /* JSON text, borrowed; datalen 0 when absent */
	size_t datalen;
};

/*
 * Split a long-polling body into packets: cb(ud, packet, n) for each one,
 * in order; a cb returning non-zero stops the walk and that value is
 * returned. An empty body or an empty record is HUB_ERR_INVAL (before any
 * callback for an empty body; at that record otherwise).
 */
int hbr_packet__eio_split(
	const char *body, size_t len, int (*cb)(void *ud, const char *p, size_t n), void *ud);

/* The kind of one Engine.IO packet (n bytes at p) a client sent. */
int hbr_packet__eio_kind(const char *p, size_t n);

/* Parse the framing of a Socket.IO packet (the JSON is not parsed).
 * HUB_OK or HUB_ERR_INVAL. */
int hbr_packet__sio_parse(const char *s, size_t len, struct hbr_sio_packet *p);

#endif
