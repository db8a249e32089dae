/* SPDX-License-Identifier: MIT */
/*
 * What a client's Socket.IO CONNECT or EVENT carries, decoded from the
 * packet's JSON: pure functions (no session, no I/O), so the fuzzer
 * (tests/fuzz/fuzz_sio.c) drives exactly what socketio.c runs. The
 * framing comes first (hbr_packet__sio_parse); these read its data.
 */
#ifndef HBR_DECODE_H
#define HBR_DECODE_H

#include "packet.h"

#include <stdbool.h>
#include <stddef.h>

struct cJSON;

struct hbr_sio_connect {
	struct cJSON *json; /* the auth object (owned), NULL without a payload */
	const char *token;  /* auth.token when it is a string (borrowed from
			       json), else NULL */
	size_t token_len;
	/* connection state recovery (socket.io-client 4.6+ sends them back on
	 * a reconnect): auth.pid and auth.offset when they are strings
	 * (borrowed from json), else NULL */
	const char *pid;
	const char *offset;
};

struct hbr_sio_event {
	struct cJSON *json;	  /* the argument array (owned) */
	const char *name;	  /* args[0] (borrowed from json) */
	size_t name_len;	  /* up to its first NUL (what every check sees) */
	int nargs;		  /* arguments after the name */
	const struct cJSON *data; /* the first of them, or NULL */
	/* where data's own text is in the packet (the client's bytes, which
	 * the hub publishes as they are), when the strict reader found it */
	bool data_span;
	size_t data_off, data_len;
};

/* A CONNECT's payload: none, or one JSON object. HUB_OK (then
 * hbr_decode__connect_free) or HUB_ERR_INVAL. */
int hbr_decode__connect(const struct hbr_sio_packet *p, struct hbr_sio_connect *c);
void hbr_decode__connect_free(struct hbr_sio_connect *c);

/* An EVENT's payload: a JSON array whose first element is a string.
 * HUB_OK (then hbr_decode__event_free) or HUB_ERR_INVAL. */
int hbr_decode__event(const struct hbr_sio_packet *p, struct hbr_sio_event *e);
void hbr_decode__event_free(struct hbr_sio_event *e);

#endif
