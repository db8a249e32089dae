/* SPDX-License-Identifier: MIT */
/*
 * Engine.IO v4 / Socket.IO v5 packet framing (see packet.h). Input comes
 * straight from the network: every read is bounded by the given length,
 * numbers are capped before they can overflow.
 */
#include "packet.h"
#include "hc_err.h"

#include <stdbool.h>
#include <string.h>

int hbr_packet__eio_split(
	const char *body, size_t len, int (*cb)(void *ud, const char *p, size_t n), void *ud)
{
	size_t start = 0;

	if (!len)
		return HUB_ERR_INVAL;
	for (size_t i = 0; i <= len; i++) {
		int rc;
		if (i < len && body[i] != HBR_EIO_SEP)
			continue;
		if (i == start)
			return HUB_ERR_INVAL;
		rc = cb(ud, body + start, i - start);
		if (rc)
			return rc;
		start = i + 1;
	}
	return HUB_OK;
}

int hbr_packet__eio_kind(const char *p, size_t n)
{
	if (!n)
		return HBR_EK_BAD;
	switch (p[0]) {
	case HBR_EIO_MESSAGE:
		return HBR_EK_MESSAGE;
	case HBR_EIO_PONG:
		return n == 1 ? HBR_EK_PONG : HBR_EK_BAD;
	case HBR_EIO_PING:
		return n == 6 && !memcmp(p + 1, "probe", 5) ? HBR_EK_PROBE : HBR_EK_BAD;
	case HBR_EIO_UPGRADE:
		return n == 1 ? HBR_EK_UPGRADE : HBR_EK_BAD;
	case HBR_EIO_CLOSE: /* data after it is ignored, as by the Node server */
		return HBR_EK_CLOSE;
	case HBR_EIO_NOOP:
		return HBR_EK_NOOP;
	case 'b':
		return HBR_EK_BINARY;
	default:
		return HBR_EK_BAD;
	}
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int hbr_packet__sio_parse(const char *s, size_t len, struct hbr_sio_packet *p)
{
	size_t i = 0;

	memset(p, 0, sizeof(*p));
	p->nsp = "/";
	p->nsplen = 1;
	p->id = -1;
	if (!len || s[0] < '0' || s[0] > '6')
		return HUB_ERR_INVAL;
	p->type = s[i++] - '0';

	if (p->type == HBR_SIO_BINARY_EVENT || p->type == HBR_SIO_BINARY_ACK) {
		size_t start = i;
		int n = 0;
		while (i < len && is_digit(s[i]) && i - start < 3)
			n = n * 10 + (s[i++] - '0');
		if (i == start || i >= len || s[i] != '-')
			return HUB_ERR_INVAL;
		i++;
		if (n < 1 || n > HBR_SIO_ATTACH_MAX)
			return HUB_ERR_INVAL;
		p->attachments = n;
	}

	if (i < len && s[i] == '/') {
		size_t start = i;
		while (i < len && s[i] != ',')
			i++;
		if (i - start > HBR_SIO_NSP_MAX)
			return HUB_ERR_INVAL;
		p->nsp = s + start;
		p->nsplen = i - start;
		if (i < len)
			i++; /* the ',' */
	}

	if (i < len && is_digit(s[i])) {
		size_t start = i;
		int64_t id = 0;
		while (i < len && is_digit(s[i])) {
			if (i - start >= 15) /* stays below 2^53 */
				return HUB_ERR_INVAL;
			id = id * 10 + (s[i++] - '0');
		}
		p->id = id;
	}

	p->data = s + i;
	p->datalen = len - i;
	switch (p->type) {
	case HBR_SIO_CONNECT:
		if (p->id >= 0)
			return HUB_ERR_INVAL;
		break;
	case HBR_SIO_DISCONNECT:
		if (p->datalen || p->id >= 0)
			return HUB_ERR_INVAL;
		break;
	case HBR_SIO_EVENT:
	case HBR_SIO_BINARY_EVENT:
	case HBR_SIO_ACK:
	case HBR_SIO_BINARY_ACK:
		if (!p->datalen || p->data[0] != '[')
			return HUB_ERR_INVAL;
		if ((p->type == HBR_SIO_ACK || p->type == HBR_SIO_BINARY_ACK) && p->id < 0)
			return HUB_ERR_INVAL;
		break;
	default: /* CONNECT_ERROR is server to client only */
		return HUB_ERR_INVAL;
	}
	return HUB_OK;
}
