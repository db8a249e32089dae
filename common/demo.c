/* SPDX-License-Identifier: MIT */
/* First-start demo data, so a newcomer can log in and see something. */
#include "hc_demo.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_password.h"
#include "hc_store.h"
#include "hc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_private(
	const struct hc_config *cfg, const char *name, const char *text, char *err, size_t errsz)
{
	char path[4200];
	struct stat st;
	int fd;
	size_t len = strlen(text);

	if (hc_fmt(path, sizeof(path), "%s/%s", hc_cfg_str(cfg, HC_CFG_DATA_DIR), name))
		return HUB_ERR_TOOBIG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return HUB_ERR_IO;
	}
	/* owned like the data directory, for when root seeds for the service */
	if (geteuid() == 0 && stat(hc_cfg_str(cfg, HC_CFG_DATA_DIR), &st) == 0 &&
		fchown(fd, st.st_uid, st.st_gid) != 0) {
		/* not fatal: root can still read it */
	}
	if (write(fd, text, len) != (ssize_t)len) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return HUB_ERR_IO;
	}
	close(fd);
	return HUB_OK;
}

int hc_demo_seed(
	struct hc_store *st, const struct hc_config *cfg, int *created, char *err, size_t errsz)
{
	struct hc_scrypt_params params = {(int)hc_cfg_int(cfg, HC_CFG_SCRYPT_LOG2N),
		(int)hc_cfg_int(cfg, HC_CFG_SCRYPT_R), (int)hc_cfg_int(cfg, HC_CFG_SCRYPT_P)};
	static const char *const devices[] = {"truck1", "truck2"};
	char password[24], hash[HC_PASSWORD_HASH_MAX], text[512], secret[HC_SECRET_LEN + 1];
	char shash[65];
	size_t off = 0;
	int64_t users = 0;
	int rc;

	*created = 0;
	rc = hc_store_user_count(st, &users);
	if (rc || users > 0)
		return rc;
	rc = hc_random_token(12, password, sizeof(password));
	if (!rc)
		rc = hc_password_hash(password, strlen(password), &params, hash, sizeof(hash));
	if (!rc)
		rc = hc_store_user_add(st, HC_DEMO_USER, "Demo Dispatcher", "admin", hash);
	if (rc == HUB_ERR_EXISTS) /* another process seeded first */
		return HUB_OK;
	if (rc) {
		snprintf(err, errsz, "demo user: %s", hub_strerror(rc));
		goto cleanup;
	}
	if (hc_fmt(text, sizeof(text), "username=%s\npassword=%s\n", HC_DEMO_USER, password) ||
		(rc = write_private(cfg, "demo-login.txt", text, err, errsz)))
		goto cleanup;
	for (int i = 0; i < 2 && !rc; i++) {
		const char *room = i ? "fleet" : "lobby";
		rc = hc_store_room_add(st, room);
		if (!rc)
			rc = hc_store_grant(st, room, HC_DEMO_USER, HC_LEVEL_ADMIN);
	}
	text[0] = '\0';
	for (size_t i = 0; i < 2 && !rc; i++) {
		char display[32];
		int n;
		snprintf(display, sizeof(display), "Truck %zu", i + 1);
		rc = hc_random_token(32, secret, sizeof(secret));
		if (rc)
			break;
		hc_sha256_hex(secret, strlen(secret), shash);
		rc = hc_store_device_add(st, devices[i], HC_DEMO_USER, display, shash);
		if (!rc)
			rc = hc_store_grant(st, "fleet", devices[i], HC_LEVEL_WRITE);
		n = snprintf(text + off, sizeof(text) - off, "%s %s\n", devices[i], secret);
		if (n > 0 && (size_t)n < sizeof(text) - off)
			off += (size_t)n;
	}
	if (rc) {
		snprintf(err, errsz, "demo rooms and devices: %s", hub_strerror(rc));
		goto cleanup;
	}
	rc = write_private(cfg, "demo-devices.txt", text, err, errsz);
	if (!rc)
		*created = 1;
cleanup:
	OPENSSL_cleanse(password, sizeof(password));
	OPENSSL_cleanse(text, sizeof(text));
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

int hc_demo_login(
	const struct hc_config *cfg, char *user, size_t usersz, char *password, size_t passsz)
{
	char path[4200], line[256];
	FILE *f;
	int have = 0;

	if (hc_fmt(path, sizeof(path), "%s/demo-login.txt", hc_cfg_str(cfg, HC_CFG_DATA_DIR)))
		return HUB_ERR_TOOBIG;
	f = fopen(path, "r");
	if (!f)
		return HUB_ERR_NOTFOUND;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!strncmp(line, "username=", 9)) {
			snprintf(user, usersz, "%s", line + 9);
			have |= 1;
		} else if (!strncmp(line, "password=", 9)) {
			snprintf(password, passsz, "%s", line + 9);
			have |= 2;
		}
	}
	fclose(f);
	OPENSSL_cleanse(line, sizeof(line));
	return have == 3 ? HUB_OK : HUB_ERR_NOTFOUND;
}
