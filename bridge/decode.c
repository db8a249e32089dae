/* SPDX-License-Identifier: MIT */
/*
 * Socket.IO CONNECT and EVENT payloads (see decode.h). Input is the
 * client's: JSON is read by the strict wrapper hbr_json_parse (valid UTF-8,
 * one value, cJSON's nesting limit), strings are used up to their first
 * NUL everywhere, so what is checked is what is used.
 */
#include "decode.h"
#include "buf.h"
#include "hc_err.h"

#include <cjson/cJSON.h>
#include <string.h>

int hbr_decode__connect(const struct hbr_sio_packet *p, struct hbr_sio_connect *c)
{
	const char *tok;

	memset(c, 0, sizeof(*c));
	if (!p->datalen)
		return HUB_OK;
	c->json = hbr_json_parse(p->data, p->datalen);
	if (!cJSON_IsObject(c->json)) {
		cJSON_Delete(c->json);
		c->json = NULL;
		return HUB_ERR_INVAL;
	}
	tok = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->json, "token"));
	if (tok) {
		c->token = tok;
		c->token_len = strlen(tok);
	}
	c->pid = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->json, "pid"));
	c->offset = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(c->json, "offset"));
	return HUB_OK;
}

void hbr_decode__connect_free(struct hbr_sio_connect *c)
{
	cJSON_Delete(c->json);
	c->json = NULL;
	c->token = NULL;
	c->pid = NULL;
	c->offset = NULL;
}

int hbr_decode__event(const struct hbr_sio_packet *p, struct hbr_sio_event *e)
{
	const cJSON *name;

	memset(e, 0, sizeof(*e));
	e->json = hbr_json_parse(p->data, p->datalen);
	name = cJSON_GetArrayItem(e->json, 0);
	if (!cJSON_IsArray(e->json) || !cJSON_IsString(name) || !name->valuestring) {
		cJSON_Delete(e->json);
		e->json = NULL;
		return HUB_ERR_INVAL;
	}
	e->name = name->valuestring;
	e->name_len = strlen(e->name);
	e->nargs = cJSON_GetArraySize(e->json) - 1;
	e->data = cJSON_GetArrayItem(e->json, 1);
	if (e->data)
		e->data_span = hbr_json_element(p->data, p->datalen, 1, &e->data_off, &e->data_len);
	return HUB_OK;
}

void hbr_decode__event_free(struct hbr_sio_event *e)
{
	cJSON_Delete(e->json);
	memset(e, 0, sizeof(*e));
}
