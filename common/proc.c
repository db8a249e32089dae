/* SPDX-License-Identifier: MIT */
/* Data directory and privilege handling for the hub's processes. */
#include "hc_proc.h"
#include "hc_config.h"
#include "hc_err.h"
#include "hc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static int lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd pw, *res = NULL;
	char buf[4096];
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -1;
	*uid = res->pw_uid;
	*gid = res->pw_gid;
	return 0;
}

int hc_data_dir_prepare(const struct hc_config *cfg, char *err, size_t errsz)
{
	const char *dir = hc_cfg_str(cfg, HC_CFG_DATA_DIR);
	const char *user = hc_cfg_str(cfg, HC_CFG_RUN_AS);
	static const char *const files[] = {"hub.db", "hub.db-wal", "hub.db-shm", "token.key"};
	uid_t uid;
	gid_t gid;

	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		snprintf(err, errsz, "%s: cannot create data directory: %s", dir, strerror(errno));
		return HUB_ERR_IO;
	}
	if (geteuid() != 0 || !*user)
		return HUB_OK;
	if (lookup(user, &uid, &gid) != 0) {
		snprintf(err, errsz,
			"run_as: no such account '%s' (install mosquitto or set run_as)", user);
		return HUB_ERR_CONFIG;
	}
	if (chown(dir, uid, gid) != 0) {
		snprintf(err, errsz, "%s: cannot hand data directory to %s: %s", dir, user,
			strerror(errno));
		return HUB_ERR_IO;
	}
	/* the account may write this directory: a link it put there must
	 * not make root hand over the file it points to */
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[4200];
		if (hc_fmt(path, sizeof(path), "%s/%s", dir, files[i]) == HUB_OK &&
			fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 &&
			errno != ENOENT) {
			snprintf(err, errsz, "%s: cannot chown: %s", path, strerror(errno));
			return HUB_ERR_IO;
		}
	}
	return HUB_OK;
}

int hc_drop_privileges(const struct hc_config *cfg, char *err, size_t errsz)
{
	const char *user = hc_cfg_str(cfg, HC_CFG_RUN_AS);
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0 || !*user)
		return HUB_OK;
	if (lookup(user, &uid, &gid) != 0) {
		snprintf(err, errsz, "run_as: no such account '%s'", user);
		return HUB_ERR_CONFIG;
	}
	if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
		snprintf(err, errsz, "cannot switch to account %s: %s", user, strerror(errno));
		return HUB_ERR_IO;
	}
	if (setuid(0) == 0) {
		snprintf(err, errsz, "privilege drop to %s did not stick", user);
		return HUB_ERR_IO;
	}
	return HUB_OK;
}

void hc_proc_no_huge_pages(void)
{
#ifdef PR_SET_THP_DISABLE
	(void)prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
#endif
}
