/* SPDX-License-Identifier: MIT */
/*
 * Fuzz hc_acl_check, the broker's per-message decision. Input:
 *   <principal> '\n' <topic bytes...>
 * (no '\n': principal "alice", the whole input is the topic; the topic may
 * hold NULs and is passed with its length). Every access is tried against a
 * fixed small directory, with and without explain. Properties:
 *   - never crashes, always a rule;
 *   - explain does not change the decision;
 *   - unsubscribe is always allowed; unknown principals get nothing else;
 *   - an allowed publish has no wildcard, NUL, empty level or invalid UTF-8;
 *   - for a topic without wildcards (not starting with '$'), READ and
 *     SUBSCRIBE of exactly that topic agree (two code paths, one answer).
 */
#include "hc_acl.h"
#include "hc_err.h"
#include "hc_names.h"
#include "hc_store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct hc_acl_dir *dir;

static void put(const char *name, int kind, const char *owner)
{
	struct hc_principal p;
	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	p.kind = kind;
	snprintf(p.role, sizeof(p.role), "user");
	snprintf(p.owner, sizeof(p.owner), "%s", owner ? owner : "");
	if (hc_dir_put_principal(dir, &p, NULL) != HUB_OK)
		abort();
}

static void lvl(const char *room, const char *who, int level)
{
	if (hc_dir_set_level(dir, room, who, level) != HUB_OK)
		abort();
}

/* The unit tests' directory, plus odd names the store would refuse. */
static void init(void)
{
	if (hc_acl_dir_new(&dir) != HUB_OK)
		abort();
	put("alice", HC_KIND_USER, NULL);
	put("bob", HC_KIND_USER, NULL);
	put("carol", HC_KIND_USER, NULL);
	put("mallory", HC_KIND_USER, NULL);
	put("dave", HC_KIND_USER, NULL);
	put("erin", HC_KIND_USER, NULL);
	put("truck1", HC_KIND_DEVICE, "alice");
	put("truck2", HC_KIND_DEVICE, "dave");
	put("we/ird", HC_KIND_USER, NULL);
	put("+", HC_KIND_DEVICE, "alice");
	put("#", HC_KIND_USER, NULL);
	put("", HC_KIND_USER, NULL);
	hc_dir_put_room(dir, "lobby");
	hc_dir_put_room(dir, "other");
	hc_dir_put_room(dir, "fleet");
	hc_dir_put_room(dir, "weird");
	lvl("lobby", "alice", HC_LEVEL_WRITE);
	lvl("lobby", "bob", HC_LEVEL_READ);
	lvl("other", "mallory", HC_LEVEL_ADMIN);
	lvl("fleet", "truck1", HC_LEVEL_WRITE);
	lvl("fleet", "erin", HC_LEVEL_READ);
	lvl("weird", "we/ird", HC_LEVEL_ADMIN);
	lvl("weird", "+", HC_LEVEL_WRITE);
	lvl("weird", "#", HC_LEVEL_READ);
	lvl("weird", "", HC_LEVEL_WRITE);
	lvl("weird", "alice", HC_LEVEL_READ);
}

static void die(const char *what, const char *who, const char *topic, size_t len, int access)
{
	fprintf(stderr, "fuzz_acl: %s: principal '%s' access %d topic '%.*s' (%zu bytes)\n", what,
		who, access, (int)(len > 300 ? 300 : len), topic, len);
	abort();
}

static bool decide(const char *who, const char *topic, size_t len, int access, bool explain)
{
	struct hc_acl_decision d;
	memset(&d, 0, sizeof(d));
	d.explain = explain;
	hc_acl_check(dir, who, topic, len, access, &d);
	if (!d.rule || !d.rule[0])
		die("no rule", who, topic, len, access);
	if (explain && strlen(d.text) >= sizeof(d.text))
		die("explain text not terminated", who, topic, len, access);
	return d.allow;
}

static bool clean_publish_topic(const char *t, size_t len)
{
	if (len == 0 || len > 65535 || memchr(t, '\0', len) || memchr(t, '+', len) ||
		memchr(t, '#', len) || !hc_utf8_valid(t, len))
		return false;
	if (t[0] == '/' || t[len - 1] == '/')
		return false;
	for (size_t i = 1; i < len; i++)
		if (t[i] == '/' && t[i - 1] == '/')
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int accesses[] = {
		HC_ACL_READ, HC_ACL_WRITE, HC_ACL_SUBSCRIBE, HC_ACL_UNSUBSCRIBE, 0, 3, 16};
	char who[80];
	const char *nl = memchr(data, '\n', size);
	char *topic;
	size_t len;
	bool known, r = false, s = false;

	if (!dir)
		init();
	if (nl && (size_t)((const uint8_t *)nl - data) < sizeof(who)) {
		size_t wl = (size_t)((const uint8_t *)nl - data);
		memcpy(who, data, wl);
		who[wl] = '\0';
		len = size - wl - 1;
		data = (const uint8_t *)nl + 1;
	} else {
		snprintf(who, sizeof(who), "alice");
		len = size;
	}
	/* an exact-size heap copy of the topic: ASan sees any over-read */
	topic = malloc(len ? len : 1);
	if (!topic)
		return 0;
	memcpy(topic, data, len);
	known = strcmp(who, HC_SERVICE_PRINCIPAL) == 0 ||
		hc_dir_principal(dir, who, strlen(who)) != NULL;

	for (size_t i = 0; i < sizeof(accesses) / sizeof(accesses[0]); i++) {
		int a = accesses[i];
		bool allow = decide(who, topic, len, a, false);
		if (decide(who, topic, len, a, true) != allow)
			die("explain changes the decision", who, topic, len, a);
		if (a == HC_ACL_UNSUBSCRIBE && !allow)
			die("unsubscribe denied", who, topic, len, a);
		if (a != HC_ACL_UNSUBSCRIBE && !known && allow)
			die("unknown principal allowed", who, topic, len, a);
		if ((a == 0 || a == 3 || a == 16) && allow && strcmp(who, HC_SERVICE_PRINCIPAL))
			die("unknown access allowed", who, topic, len, a);
		if (a == HC_ACL_WRITE && allow && strcmp(who, HC_SERVICE_PRINCIPAL) &&
			!clean_publish_topic(topic, len))
			die("publish to a malformed topic allowed", who, topic, len, a);
		if (a == HC_ACL_READ)
			r = allow;
		if (a == HC_ACL_SUBSCRIBE)
			s = allow;
	}
	if (len > 0 && topic[0] != '$' && !memchr(topic, '+', len) && !memchr(topic, '#', len) &&
		r != s)
		die(r ? "READ allowed but exact SUBSCRIBE denied"
		      : "exact SUBSCRIBE allowed but READ denied",
			who, topic, len, HC_ACL_READ);

	/* the directory helpers on the same bytes */
	(void)hc_dir_level(dir, topic, len, who);
	(void)hc_dir_shares_room(dir, who, topic, len);
	(void)hc_dir_can_read_device(dir, who, topic, len);
	free(topic);
	return 0;
}
