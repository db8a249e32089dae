/* SPDX-License-Identifier: MIT */
/*
 * Process set-up shared by the hub's programs: preparing the data
 * directory and switching from root to the service account, so that every
 * process (and the broker, which Mosquitto itself switches to user
 * "mosquitto" before loading the plugin) can read the store and the key.
 */
#ifndef HC_PROC_H
#define HC_PROC_H

#include <stddef.h>

struct hc_config;

/* Create data_dir (0750) if missing. When running as root and run_as is
 * set, make the directory (and hub.db* files in it) owned by that account.
 * err gets a one-line reason. */
int hc_data_dir_prepare(const struct hc_config *cfg, char *err, size_t errsz);

/* When running as root and run_as is set: switch group and user to that
 * account (setgroups, setgid, setuid; checked). No-op otherwise.
 * Call after binding ports and before opening the store. */
int hc_drop_privileges(const struct hc_config *cfg, char *err, size_t errsz);

/* Keep transparent huge pages off this process's memory (prctl; a
 * no-op where the kernel lacks it). With THP "always", every touched page
 * of a fresh 2 MiB range costs 2 MiB: a few small buffers per thread would
 * make resident memory many times what the service holds, and the bounds
 * docs/reliability.md states would no longer describe it. */
void hc_proc_no_huge_pages(void);

#endif
