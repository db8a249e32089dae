/* SPDX-License-Identifier: MIT */
/*
 * Who sent a call or a hooked room event, told to the service as MQTT 5
 * user properties (what the Node SDK hands a handler as ctx):
 *
 *   hub-user     the sender (the topic's {sender} level)
 *   hub-display  its display name from the directory (its name if none)
 *   hub-role     admin | user
 *   hub-kind     user | device | service
 *
 * Only the hub writes these: a client's own user properties whose name
 * starts with "hub-" (in any case) are dropped first, or a caller could
 * claim to be someone else; they are dropped from every other client
 * publish too (hauth_stamp__strip), so no receiver ever sees a hub-*
 * property the hub did not set.
 *
 * Replacing the property list of a MESSAGE event: Mosquitto 2.0.11 takes
 * the plugin's list and forgets the old one (the plugin frees it); from
 * 2.0.15 on the broker frees it itself. So the old list is freed here only
 * when built against an older broker, and only when a hub-* property
 * forced a new list (adding to a list keeps its head).
 */
#include "hauth.h"
#include "hc_log.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mqtt_protocol.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool hauth_stamp__reserved(const char *name)
{
	return name && strncasecmp(name, "hub-", 4) == 0;
}

static const char *kind_name(const struct hc_dir_principal *dp)
{
	if (!dp)
		return "user";
	switch (dp->kind) {
	case HC_KIND_DEVICE:
		return "device";
	case HC_KIND_SERVICE:
		return "service";
	default:
		return "user";
	}
}

int hauth_stamp__add(struct hauth *h, mosquitto_property **props, const char *name)
{
	const struct hc_dir_principal *dp = hc_dir_principal(h->dir, name, strlen(name));
	const char *display = dp && dp->display_name[0] ? dp->display_name : name;
	int rc;

	rc = mosquitto_property_add_string_pair(props, MQTT_PROP_USER_PROPERTY, "hub-user", name);
	if (rc == MOSQ_ERR_SUCCESS) {
		/* a display name that is not valid UTF-8 (the store checks, but
		 * never trust) is left out rather than the call refused */
		rc = mosquitto_property_add_string_pair(
			props, MQTT_PROP_USER_PROPERTY, "hub-display", display);
		if (rc == MOSQ_ERR_MALFORMED_UTF8)
			rc = MOSQ_ERR_SUCCESS;
	}
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_property_add_string_pair(props, MQTT_PROP_USER_PROPERTY, "hub-role",
			dp && dp->admin ? "admin" : "user");
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_property_add_string_pair(
			props, MQTT_PROP_USER_PROPERTY, "hub-kind", kind_name(dp));
	return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* Copy one property (p itself) onto *dst; the five a PUBLISH keeps in
 * Mosquitto 2.0 (user property, content type, response topic,
 * correlation data, payload format indicator). */
static int copy_one(const mosquitto_property *p, mosquitto_property **dst, bool keep_reply)
{
	int id = mosquitto_property_identifier(p);
	char *a = NULL, *b = NULL;
	void *bin = NULL;
	uint16_t blen = 0;
	uint8_t byte = 0;
	int rc = MOSQ_ERR_SUCCESS;

	switch (id) {
	case MQTT_PROP_USER_PROPERTY:
		if (!mosquitto_property_read_string_pair(p, id, &a, &b, false))
			return -1;
		if (!hauth_stamp__reserved(a))
			rc = mosquitto_property_add_string_pair(dst, id, a, b);
		break;
	case MQTT_PROP_RESPONSE_TOPIC:
	case MQTT_PROP_CONTENT_TYPE:
		if (id == MQTT_PROP_RESPONSE_TOPIC && !keep_reply)
			return 0;
		if (!mosquitto_property_read_string(p, id, &a, false))
			return -1;
		rc = mosquitto_property_add_string(dst, id, a);
		break;
	case MQTT_PROP_CORRELATION_DATA:
		if (!keep_reply)
			return 0;
		if (!mosquitto_property_read_binary(p, id, &bin, &blen, false))
			return -1;
		rc = mosquitto_property_add_binary(dst, id, bin, blen);
		break;
	case MQTT_PROP_PAYLOAD_FORMAT_INDICATOR:
		if (!mosquitto_property_read_byte(p, id, &byte, false))
			return -1;
		rc = mosquitto_property_add_byte(dst, id, byte);
		break;
	default:
		break; /* not kept on a PUBLISH's message by Mosquitto 2.0 */
	}
	/* the read functions allocate with the C library */
	free(a);
	free(b);
	free(bin);
	return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

int hauth_stamp__copy(const mosquitto_property *src, mosquitto_property **dst, bool keep_reply)
{
	for (const mosquitto_property *p = src; p; p = mosquitto_property_next(p))
		if (copy_one(p, dst, keep_reply))
			return -1;
	return 0;
}

int hauth_stamp__origin(const mosquitto_property *src, mosquitto_property **dst)
{
	for (const mosquitto_property *p = src; p; p = mosquitto_property_next(p)) {
		char *a = NULL, *b = NULL;
		int rc;
		if (mosquitto_property_identifier(p) != MQTT_PROP_USER_PROPERTY)
			continue;
		if (!mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &a, &b, false))
			return -1;
		rc = strcmp(a, "hub-origin") == 0 ? mosquitto_property_add_string_pair(
							    dst, MQTT_PROP_USER_PROPERTY, a, b)
						  : MOSQ_ERR_SUCCESS;
		free(a);
		free(b);
		if (rc != MOSQ_ERR_SUCCESS)
			return -1;
	}
	return 0;
}

size_t hauth_stamp__bytes(const mosquitto_property *props)
{
	size_t n = 0;
	for (const mosquitto_property *p = props; p; p = mosquitto_property_next(p)) {
		int id = mosquitto_property_identifier(p);
		char *a = NULL, *b = NULL;
		void *bin = NULL;
		uint16_t blen = 0;
		n += 32; /* the list node */
		if (id == MQTT_PROP_USER_PROPERTY &&
			mosquitto_property_read_string_pair(p, id, &a, &b, false))
			n += strlen(a) + strlen(b);
		else if ((id == MQTT_PROP_RESPONSE_TOPIC || id == MQTT_PROP_CONTENT_TYPE) &&
			 mosquitto_property_read_string(p, id, &a, false))
			n += strlen(a);
		else if (id == MQTT_PROP_CORRELATION_DATA &&
			 mosquitto_property_read_binary(p, id, &bin, &blen, false))
			n += blen;
		free(a);
		free(b);
		free(bin);
	}
	return n;
}

static bool has_reserved(const mosquitto_property *props)
{
	for (const mosquitto_property *p = props; p; p = mosquitto_property_next(p)) {
		char *name = NULL;
		bool hit;
		if (mosquitto_property_identifier(p) != MQTT_PROP_USER_PROPERTY)
			continue;
		if (!mosquitto_property_read_string_pair(
			    p, MQTT_PROP_USER_PROPERTY, &name, NULL, false))
			return true; /* cannot look: rebuild, which drops it if it is */
		hit = hauth_stamp__reserved(name);
		free(name);
		if (hit)
			return true;
	}
	return false;
}

/* Whether the broker frees the property list a MESSAGE callback replaced
 * (2.0.15 and later) or leaves it to us (2.0.11). Unknown: it frees, as
 * a leak is survivable and a double free is not. */
static bool broker_frees = true;

void hauth_stamp__broker_version(int version)
{
	broker_frees = version == 0 || version >= 2000015;
}

/* ed->properties becomes fresh; the old list is freed by whoever owns it */
static void replace(struct mosquitto_evt_message *ed, mosquitto_property *fresh)
{
	if (!broker_frees)
		mosquitto_property_free_all(&ed->properties);
	ed->properties = fresh;
}

int hauth_stamp__strip(struct mosquitto_evt_message *ed)
{
	mosquitto_property *fresh = NULL;

	if (!ed->properties || !has_reserved(ed->properties))
		return 0;
	if (hauth_stamp__copy(ed->properties, &fresh, true)) {
		mosquitto_property_free_all(&fresh);
		return -1;
	}
	replace(ed, fresh);
	return 0;
}

int hauth_stamp__message(struct hauth *h, struct mosquitto_evt_message *ed, const char *name)
{
	mosquitto_property *fresh = NULL;

	if (!has_reserved(ed->properties))
		return hauth_stamp__add(h, &ed->properties, name);
	if (hauth_stamp__copy(ed->properties, &fresh, true) || hauth_stamp__add(h, &fresh, name)) {
		mosquitto_property_free_all(&fresh);
		return -1;
	}
	replace(ed, fresh);
	return 0;
}
