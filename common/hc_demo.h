/* SPDX-License-Identifier: MIT */
/*
 * Demo data for a first start: user "demo" (admin, random password), rooms
 * "lobby" and "fleet", devices "truck1" and "truck2" owned by demo and
 * members of fleet. The password and the device secrets are written to
 * <data_dir>/demo-login.txt and demo-devices.txt (mode 0600) so `make run`
 * can show the login again and the demo trackers can connect.
 */
#ifndef HC_DEMO_H
#define HC_DEMO_H

#include <stddef.h>

struct hc_store;
struct hc_config;

#define HC_DEMO_USER "demo"

/* Seed an empty store (no users) in one transaction. *created = 1 if it
 * did, 0 if users existed already (nothing touched). Safe against
 * concurrent writers: their changes land wholly before the seed (which
 * then skips, or takes a room of the same name as it is) or after it.
 * Slow: hashes a password (before the transaction). */
int hc_demo_seed(
	struct hc_store *st, const struct hc_config *cfg, int *created, char *err, size_t errsz);

/* Read back the demo login. HUB_ERR_NOTFOUND if there is none. */
int hc_demo_login(
	const struct hc_config *cfg, char *user, size_t usersz, char *password, size_t passsz);

#endif
