/* SPDX-License-Identifier: MIT */
/*
 * First-start demo data, so a newcomer can log in and see something.
 *
 * The seed is one store transaction: the check "no user yet" and every row
 * it writes commit together or not at all, so a concurrent writer (an
 * admin's `hubctl user add demo` or `room add lobby` racing the first start)
 * lands wholly before it (the seed then skips, or uses what it finds) or
 * wholly after it; never in between, never a half-created store. The slow
 * part, hashing the password, happens before the transaction.
 */
#include "hc_demo.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_log.h"
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

#define NDEVICES 2

static const char *const devices[NDEVICES] = {"truck1", "truck2"};

/* Write text to <data_dir>/name (0600), through a temporary file renamed
 * into place, so a reader never sees half of it. */
static int write_private(
	const struct hc_config *cfg, const char *name, const char *text, char *err, size_t errsz)
{
	char path[4200], tmp[4220];
	struct stat st;
	int fd;
	size_t len = strlen(text);

	if (hc_fmt(path, sizeof(path), "%s/%s", hc_cfg_str(cfg, HC_CFG_DATA_DIR), name) ||
		hc_fmt(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()))
		return HUB_ERR_TOOBIG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		return HUB_ERR_IO;
	}
	/* owned like the data directory, for when root seeds for the service */
	if (geteuid() == 0 && stat(hc_cfg_str(cfg, HC_CFG_DATA_DIR), &st) == 0 &&
		fchown(fd, st.st_uid, st.st_gid) != 0) {
		/* not fatal: root can still read it */
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0) {
		snprintf(err, errsz, "%s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return HUB_ERR_IO;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		unlink(tmp);
		return HUB_ERR_IO;
	}
	return HUB_OK;
}

struct seed {
	const char *hash;	    /* the demo password's hash */
	char shash[NDEVICES][65];   /* the devices' secret hashes */
	bool device_made[NDEVICES]; /* created by this seed */
	bool seeded;		    /* the transaction wrote the demo data */
};

/* Inside the transaction. HUB_OK commits (seeded or skipped). */
static int seed_fn(struct hc_store *st, void *ud)
{
	struct seed *s = ud;
	int64_t users = 0;
	int rc;

	s->seeded = false;
	for (int i = 0; i < NDEVICES; i++)
		s->device_made[i] = false;
	rc = hc_store_user_count(st, &users);
	if (rc || users > 0)
		return rc; /* someone is there already: leave the store alone */
	rc = hc_store_user_add(st, HC_DEMO_USER, "Demo Dispatcher", "admin", s->hash);
	if (rc == HUB_ERR_EXISTS) {
		/* no user, yet the name is taken (a service key): no demo */
		hc_warn("msg=\"demo data skipped: the name is taken\" name=%s", HC_DEMO_USER);
		return HUB_OK;
	}
	if (rc)
		return rc;
	for (int i = 0; i < 2; i++) {
		const char *room = i ? "fleet" : "lobby";
		rc = hc_store_room_add(st, room);
		if (rc && rc != HUB_ERR_EXISTS) /* an admin's room of that name is used */
			return rc;
		rc = hc_store_grant(st, room, HC_DEMO_USER, HC_LEVEL_ADMIN);
		if (rc)
			return rc;
	}
	for (int i = 0; i < NDEVICES; i++) {
		char display[32];
		snprintf(display, sizeof(display), "Truck %d", i + 1);
		rc = hc_store_device_add(st, devices[i], HC_DEMO_USER, display, s->shash[i]);
		if (rc == HUB_ERR_EXISTS)
			continue; /* taken meanwhile (a service key): left out */
		if (rc)
			return rc;
		s->device_made[i] = true;
		rc = hc_store_grant(st, "fleet", devices[i], HC_LEVEL_WRITE);
		if (rc)
			return rc;
	}
	s->seeded = true;
	return HUB_OK;
}

int hc_demo_seed(
	struct hc_store *st, const struct hc_config *cfg, int *created, char *err, size_t errsz)
{
	struct hc_scrypt_params params = {(int)hc_cfg_int(cfg, HC_CFG_SCRYPT_LOG2N),
		(int)hc_cfg_int(cfg, HC_CFG_SCRYPT_R), (int)hc_cfg_int(cfg, HC_CFG_SCRYPT_P)};
	char password[24], hash[HC_PASSWORD_HASH_MAX], text[512];
	char secret[NDEVICES][HC_SECRET_LEN + 1];
	struct seed s;
	size_t off = 0;
	int64_t users = 0;
	int rc;

	*created = 0;
	memset(&s, 0, sizeof(s));
	memset(secret, 0, sizeof(secret));
	rc = hc_store_user_count(st, &users);
	if (rc || users > 0)
		return rc;
	/* the slow and random parts first, outside the transaction */
	rc = hc_random_token(12, password, sizeof(password));
	if (!rc)
		rc = hc_password_hash(password, strlen(password), &params, hash, sizeof(hash));
	for (int i = 0; i < NDEVICES && !rc; i++) {
		rc = hc_random_token(32, secret[i], sizeof(secret[i]));
		if (!rc)
			hc_sha256_hex(secret[i], strlen(secret[i]), s.shash[i]);
	}
	if (rc) {
		snprintf(err, errsz, "demo secrets: %s", hub_strerror(rc));
		goto cleanup;
	}
	s.hash = hash;
	rc = hc_store_tx(st, seed_fn, &s);
	if (rc) {
		snprintf(err, errsz, "demo data: %s", hub_strerror(rc));
		goto cleanup;
	}
	if (!s.seeded)
		goto cleanup; /* another writer came first: nothing to show */
	/* the store is complete; the files only tell the secrets again */
	if (hc_fmt(text, sizeof(text), "username=%s\npassword=%s\n", HC_DEMO_USER, password) ||
		(rc = write_private(cfg, "demo-login.txt", text, err, errsz)))
		goto cleanup;
	text[0] = '\0';
	for (int i = 0; i < NDEVICES; i++) {
		int n;
		if (!s.device_made[i])
			continue;
		n = snprintf(text + off, sizeof(text) - off, "%s %s\n", devices[i], secret[i]);
		if (n > 0 && (size_t)n < sizeof(text) - off)
			off += (size_t)n;
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
