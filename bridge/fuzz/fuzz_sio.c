/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the bridge's packet parsers: the input is taken as
 * a long-polling body (split on 0x1e, as server.c does), each packet's
 * Engine.IO type checked, each message parsed as a Socket.IO packet and
 * its JSON validated and parsed the way socketio.c does; and the same
 * bytes once more as one WebSocket message. Also round-trips the JSON
 * string escaper, which must always produce valid UTF-8 JSON.
 */
#include "buf.h"
#include "hc_names.h"
#include "packet.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void sio(const char *p, size_t n)
{
	struct hbr_sio_packet pk;
	cJSON *j;

	if (hbr_packet__sio_parse(p, n, &pk))
		return;
	if (pk.nsplen < 1 || pk.nsp[0] != '/' || pk.nsplen > HBR_SIO_NSP_MAX + 1)
		abort();
	if (pk.data < p || pk.data + pk.datalen != p + n)
		abort();
	/* the strict reader never accepts what cJSON refuses; its element
	 * spans are JSON values themselves */
	if (hbr_json_check(pk.data, pk.datalen)) {
		size_t off, len;
		if (!hbr_json_valid(pk.data, pk.datalen))
			abort();
		for (int i = 0; i < 4 && hbr_json_element(pk.data, pk.datalen, i, &off, &len); i++)
			if (off + len > pk.datalen || !hbr_json_check(pk.data + off, len))
				abort();
	}
	if (!pk.datalen || !hbr_json_valid(pk.data, pk.datalen))
		return;
	j = cJSON_ParseWithLength(pk.data, pk.datalen);
	if (!j)
		abort(); /* valid JSON must parse */
	if (cJSON_IsArray(j)) {
		const char *ev = cJSON_GetStringValue(cJSON_GetArrayItem(j, 0));
		if (ev)
			(void)hc_event_valid_n(ev, strlen(ev));
	}
	cJSON_Delete(j);
}

static int packet(void *ud, const char *p, size_t n)
{
	(void)ud;
	if (n == 0)
		abort(); /* the splitter never yields empty records */
	if (p[0] == '4')
		sio(p + 1, n - 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct hbr_buf b;

	hbr_packet__eio_split(p, size, packet, NULL);
	if (hbr_json_check(p, size) && !hbr_json_valid(p, size))
		abort();
	if (size && p[0] == '4')
		sio(p + 1, size - 1);

	hbr_buf__init(&b, 6 * size + 16); /* "\\u0000" is the worst case */
	hbr_buf__json_str(&b, p, size);
	if (b.err || !hbr_json_valid(b.p, b.len))
		abort();
	hbr_buf__free(&b);
	return 0;
}
