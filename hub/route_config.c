/* SPDX-License-Identifier: MIT */
/*
 * GET /api/config: what a page needs to reach the realtime services
 * (ports, whether they speak TLS; the host is the one the page was loaded
 * from) and to draw its
 * map (map_tiles, map_attribution: "" for the offline base). No secrets.
 */
#include "hub.h"
#include "routes.h"

#include <cjson/cJSON.h>

int hub_route_config(struct hub *h, struct hub_conn *c)
{
	cJSON *o = cJSON_CreateObject();
	/* with TLS the front's port is wss_port (ws_port is not opened) and
	 * clients reach the broker on mqtts_port */
	if (o &&
		cJSON_AddNumberToObject(o, "mqtt_ws_port",
			(double)hc_cfg_int(&h->cfg, h->tls ? HC_CFG_WSS_PORT : HC_CFG_WS_PORT)) &&
		cJSON_AddNumberToObject(
			o, "mqtt_port", (double)hc_cfg_int(&h->cfg, HC_CFG_MQTT_PORT)) &&
		cJSON_AddBoolToObject(o, "tls", h->tls != NULL) &&
		cJSON_AddNumberToObject(
			o, "mqtts_port", (double)hc_cfg_int(&h->cfg, HC_CFG_MQTTS_PORT)) &&
		cJSON_AddNumberToObject(
			o, "sio_port", (double)hc_cfg_int(&h->cfg, HC_CFG_SIO_PORT)) &&
		cJSON_AddNumberToObject(
			o, "token_ttl", (double)hc_cfg_int(&h->cfg, HC_CFG_TOKEN_TTL)) &&
		cJSON_AddStringToObject(o, "map_tiles", hc_cfg_str(&h->cfg, HC_CFG_MAP_TILES)) &&
		cJSON_AddStringToObject(
			o, "map_attribution", hc_cfg_str(&h->cfg, HC_CFG_MAP_ATTRIBUTION)))
		hub_http_json(c, 200, o);
	else
		hub_http_error(c, 500, "internal", "out of memory");
	cJSON_Delete(o);
	return 0;
}
