/* SPDX-License-Identifier: MIT */
/*
 * Socket.IO arguments <-> one MQTT payload (pure: no session, no I/O), so
 * the unit tests and the fuzzer (tests/fuzz/fuzz_sio.c) drive exactly what
 * the gateway runs. The encoding (docs/socketio.md, "Arguments and binary
 * on MQTT"):
 *
 *   emit(ev)                     empty payload
 *   emit(ev, json)               the argument's JSON text, byte for byte
 *   emit(ev, <binary>)           the raw bytes; MQTT 5 Content Type
 *                                application/octet-stream
 *   emit(ev, a, b, ...)          a JSON array of the arguments, each binary
 *   or binary inside a value     as {"$binary":"<base64>"}; Content Type
 *                                application/vnd.hub.args+json
 *
 * Back to Socket.IO, an MQTT payload without one of those content types is
 * one argument when it is JSON, no argument when it is empty, else binary
 * (a string instead when the MQTT 5 Payload Format Indicator says UTF-8).
 */
#ifndef HBR_ARGS_H
#define HBR_ARGS_H

#include "buf.h"
#include "decode.h"
#include "packet.h"

#include <stdbool.h>
#include <stddef.h>

#define HBR_CT_BINARY "application/octet-stream"
#define HBR_CT_ARGS   "application/vnd.hub.args+json"

/* How an MQTT payload is to be read (from its MQTT 5 properties). */
enum hbr_enc {
	HBR_ENC_AUTO = 0, /* no mark: JSON -> one argument, empty -> none, else binary */
	HBR_ENC_TEXT,	  /* Payload Format Indicator 1: as AUTO, but non-JSON is a string */
	HBR_ENC_BINARY,	  /* Content Type HBR_CT_BINARY: one binary argument */
	HBR_ENC_ARGS,	  /* Content Type HBR_CT_ARGS: the argument array */
};

/* The encoding of an MQTT content type (n bytes, NULL: none) and payload
 * format indicator (-1: none). */
int hbr_args__enc_of(const char *ctype, size_t n, int pfi);
/* The content type to publish with an encoding, NULL for HBR_ENC_AUTO. */
const char *hbr_args__ctype(int enc);

/* One binary attachment (borrowed bytes). */
struct hbr_att {
	const unsigned char *p;
	size_t len;
};

/*
 * A client's event as one MQTT payload. e is the decoded event of the
 * packet text (p, n: its JSON array) and att its natt attachments (a
 * BINARY_EVENT's, in order). The payload is (*pl, *plen), pointing into p,
 * into an attachment or into tmp (which the caller frees with
 * hbr_buf__free; tmp->max bounds what is built). *enc: how to publish it.
 * HUB_OK; HUB_ERR_INVAL: a placeholder that names no attachment, or an
 * object whose only member is "$binary" (reserved for binaries) among
 * several arguments; HUB_ERR_TOOBIG: over tmp->max; HUB_ERR_NOMEM.
 */
int hbr_args__encode(const struct hbr_sio_event *e, const char *p, size_t n,
	const struct hbr_att *att, int natt, struct hbr_buf *tmp, const void **pl, size_t *plen,
	int *enc);

/*
 * An MQTT payload as Socket.IO arguments: appends to args their JSON text
 * separated by commas (nothing for no argument; no brackets), with
 * {"_placeholder":true,"num":i} for binary i. Attachment i is att[i]: it
 * points into payload, or (when bins_off[i] is true) at offset att[i].p
 * (cast from a size_t) of bins, which the caller reads once this returns
 * (bins may move while it grows). Returns the number of attachments
 * (0..HBR_SIO_ATTACH_MAX), or -1 when the payload cannot be given to
 * Socket.IO clients faithfully (more binaries than that, a literal
 * "_placeholder" member beside binaries, args or bins over their maximum).
 */
int hbr_args__decode(const void *payload, size_t len, int enc, struct hbr_buf *args,
	struct hbr_buf *bins, struct hbr_att *att, bool *bins_off);

#endif
