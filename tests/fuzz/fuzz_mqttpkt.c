/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for hub/mqttpkt.c, the CONNECT hubd's WebSocket front
 * reads from unauthenticated browsers: any bytes are framed without
 * reading outside them; a CONNECT found has its fields inside the packet;
 * rewritten with a password (of a length taken from the input), it is
 * found again with the same level, flags, username and the new password,
 * and the same size as announced.
 */
#include "hc_err.h"
#include "mqttpkt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(x)                                                                                   \
	do {                                                                                       \
		if (!(x))                                                                          \
			abort();                                                                   \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hub_mqtt_connect c, c2;
	size_t plen, need, outlen = 0;
	unsigned char *out;
	char *pw;
	int rc;

	/* the first byte: the password's length / 4 (0..1020) */
	if (size < 1)
		return 0;
	plen = (size_t)data[0] * 4;
	data++;
	size--;
	rc = hub_mqttpkt_connect(data, size, 1 << 20, &c);
	CHECK(rc == HUB_OK || rc == HUB_MQTTPKT_MORE || rc == HUB_ERR_INVAL ||
		rc == HUB_ERR_TOOBIG);
	if (rc != HUB_OK)
		return 0;
	CHECK(c.total <= size && c.hdr_len < c.total);
	CHECK(c.version >= 3 && c.version <= 5);
	CHECK(c.user_off <= c.total && c.flags_off < c.total);
	if (c.has_user)
		CHECK(c.user_off + 2 + c.user_len <= c.total);
	if (c.has_pass)
		CHECK(c.pass_off + 2 + c.pass_len == c.total);
	need = hub_mqttpkt_rewritten_size(&c, plen);
	out = malloc(need);
	pw = malloc(plen + 1);
	CHECK(out && pw);
	memset(pw, 'p', plen);
	rc = hub_mqttpkt_with_password(data, &c, pw, plen, out, need, &outlen);
	if (!c.has_user) {
		CHECK(rc == HUB_ERR_INVAL);
	} else {
		CHECK(rc == HUB_OK && outlen == need);
		CHECK(hub_mqttpkt_connect(out, outlen, 1 << 21, &c2) == HUB_OK);
		CHECK(c2.total == outlen && c2.version == c.version && c2.has_user && c2.has_pass);
		CHECK(c2.user_len == c.user_len &&
			!memcmp(out + c2.user_off + 2, data + c.user_off + 2, c.user_len));
		CHECK(c2.pass_len == plen && !memcmp(out + c2.pass_off + 2, pw, plen));
		/* everything before the username is as sent, but the flags */
		CHECK(c2.user_off - c2.hdr_len == c.user_off - c.hdr_len);
	}
	free(out);
	free(pw);
	return 0;
}
