/* SPDX-License-Identifier: MIT */
/*
 * hubd's link to the broker: one MQTT connection as the hub's service
 * identity ($hub, with a service token hubd mints itself), for the publish
 * API and for the broker plugin's counters ($hub/metrics).
 *
 * A link thread of ours runs libmosquitto (connect, mosquitto_loop,
 * reconnect); hubd's lws thread publishes (in threaded mode that only
 * queues and wakes the link thread) and learns about PUBACKs through a
 * completion list drained by hub_mqtt_collect() after a wake-up. The link
 * comes up whenever the broker does, whatever the start order, and comes
 * back after a broker restart: attempts every 100 ms backing off to 1 s,
 * each with a fresh service token. Publishes while it is down fail at once
 * (the API answers 503).
 */
#ifndef HUB_MQTT_H
#define HUB_MQTT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hub;
struct hub_mqtt;

/* Start connecting (asynchronously). HUB_OK or HUB_ERR_NOMEM/IO. */
int hub_mqtt_start(struct hub *h, struct hub_mqtt **out);
void hub_mqtt_stop(struct hub_mqtt *m);
bool hub_mqtt_connected(struct hub_mqtt *m);

/* Publish payload (copied) QoS 1 on topic. When the broker acknowledged it
 * (or after 5 s without), done(h, req_id, ok) runs on the lws thread.
 * HUB_OK, HUB_ERR_BUSY (not connected), HUB_ERR_NOMEM, HUB_ERR_INVAL. */
int hub_mqtt_publish(struct hub_mqtt *m, const char *topic, const void *payload, size_t len,
	uint64_t req_id, void (*done)(struct hub *h, uint64_t req_id, bool ok));

/* lws thread: run the done callbacks of finished or timed-out publishes. */
void hub_mqtt_collect(struct hub_mqtt *m, struct hub *h);

/* The broker plugin's latest counters document (JSON) into buf; returns
 * its length, 0 if none arrived yet. *at = when it arrived (unix s). */
size_t hub_mqtt_metrics(struct hub_mqtt *m, char *buf, size_t n, int64_t *at);

#endif
