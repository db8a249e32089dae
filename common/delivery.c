/* SPDX-License-Identifier: MIT */
/* Deliveries as rooms (see hc_delivery.h). */
#include "hc_delivery.h"
#include "hc_err.h"
#include "hc_store.h"
#include "hc_util.h"

#include <string.h>

int hc_delivery_room(const char *id, char *room, size_t n)
{
	if (!hc_name_valid(id) || strlen(id) > HC_DELIVERY_ID_MAX ||
		hc_fmt(room, n, HC_DELIVERY_PREFIX "%s", id))
		return HUB_ERR_INVAL;
	return HUB_OK;
}

int hc_delivery_open(struct hc_store *st, const char *id, const char *vehicle, const char *customer,
	const char **what)
{
	char room[HC_NAME_MAX + 1];
	struct hc_principal v, c;
	int rc = hc_delivery_room(id, room, sizeof(room));

	*what = NULL;
	if (rc)
		return rc;
	if (hc_store_principal_get(st, vehicle, &v, NULL, 0) || v.kind != HC_KIND_DEVICE) {
		*what = "vehicle";
		return HUB_ERR_NOTFOUND;
	}
	if (hc_store_principal_get(st, customer, &c, NULL, 0) || c.kind != HC_KIND_USER) {
		*what = "customer";
		return HUB_ERR_NOTFOUND;
	}
	rc = hc_store_room_add(st, room);
	if (rc)
		return rc;
	rc = hc_store_grant(st, room, vehicle, HC_LEVEL_WRITE);
	if (!rc)
		rc = hc_store_grant(st, room, customer, HC_LEVEL_READ);
	if (rc)
		hc_store_room_del(st, room);
	return rc;
}

int hc_delivery_close(struct hc_store *st, const char *id)
{
	char room[HC_NAME_MAX + 1];
	int rc = hc_delivery_room(id, room, sizeof(room));
	return rc ? rc : hc_store_room_del(st, room);
}
