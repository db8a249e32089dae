/* SPDX-License-Identifier: MIT */
/*
 * Delivery-scoped sharing: a delivery is a room "delivery-<id>" holding one
 * vehicle (a device, write) and one customer (a user, read). The customer
 * sees that vehicle only while the delivery is open; closing deletes the
 * room, and the broker, which checks every delivery against the directory,
 * stops sending to the customer at once, open subscriptions included.
 * Used by hubctl and hubd's admin API.
 */
#ifndef HC_DELIVERY_H
#define HC_DELIVERY_H

#include <stddef.h>

#include "hc_names.h"

struct hc_store;

#define HC_DELIVERY_PREFIX "delivery-"
#define HC_DELIVERY_ID_MAX (HC_NAME_MAX - 9)

/* The room of delivery id into room (HC_NAME_MAX + 1). HUB_ERR_INVAL if the
 * id is not 1-55 chars of A-Za-z0-9._- */
int hc_delivery_room(const char *id, char *room, size_t n);
/* Open: HUB_ERR_EXISTS (already open), HUB_ERR_NOTFOUND with *what set to
 * "vehicle" or "customer" when that one is not a device / user. */
int hc_delivery_open(struct hc_store *st, const char *id, const char *vehicle, const char *customer,
	const char **what);
/* Close: HUB_ERR_NOTFOUND if not open. */
int hc_delivery_close(struct hc_store *st, const char *id);

#endif
