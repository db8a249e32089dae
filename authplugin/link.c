/* SPDX-License-Identifier: MIT */
/*
 * Several brokers (docs/scaling.md): edge brokers, each with this plugin,
 * joined to one core broker by Mosquitto's own bridges (a star; the bridge
 * configuration comes from scripts/gen-bridges).
 *
 * Identity. A bridge logs in to the core as `$hub-link` with the secret of
 * link_key_file (256 random bits, 0600; only its SHA-256 is kept here,
 * compared in constant time). Such a connection may carry every topic (it
 * is the hub's own traffic, checked where it entered) and is never a
 * room's member. On an edge, what its own bridge brings in arrives from the
 * bridge's context, which Mosquitto 2.0.11 exempts from ACL checks and
 * whose username is the bridge's remote_username, `$hub-link`: never a
 * connection of ours (no BASIC_AUTH ran for it).
 *
 * Bridged traffic is never treated as a client's: no hook, no call rules,
 * no stripping of the origin's stamps, no history or webhook row, no card.
 * Each of those happened once, at the broker where the event entered.
 *
 * Presence. An edge does not publish presence itself: it tells the core
 * when a principal goes online there and when it goes offline (after its
 * own grace, with its reason):
 *
 *   $hub/link/attach  {"conn":"<principal>","principal":"<principal>"}
 *   $hub/link/detach  {"conn":"<principal>","reason":"<reason>"}
 *
 * The core counts one virtual connection per (edge, principal), exactly
 * like the gateway's sockets (attach.c), and its presence.c publishes
 * joined/left, retained presence, status and counts once, for all nodes.
 * When an edge's link ends (the edge died, the network), its principals
 * end as "network" after the grace. Each time an edge's link connects, the
 * core publishes `$hub/link/hello/<link client id>` (retained): the edge
 * then tells again every principal online there, so a restarted core, or
 * one that lost the link for a while, rebuilds its view.
 *
 * Everything here runs on the broker's thread.
 */
#include "hauth.h"
#include "hauth_presence.h"
#include "hc_log.h"
#include "hc_util.h"

#include <errno.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINK_ID_PREFIX "hub-link."
#define HELLO_PREFIX   "$hub/link/hello/"
#define KEY_MIN	       32
#define KEY_MAX	       512

static bool node_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* Read the link secret (trailing white space dropped) and keep its hash. */
static int load_key(struct hauth *h, const char *path, char *err, size_t errsz)
{
	char buf[KEY_MAX + 2];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		snprintf(err, errsz, "link_key_file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		close(fd);
		snprintf(err, errsz, "link_key_file %s: must be a regular file of mode 0600", path);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0) {
		snprintf(err, errsz, "link_key_file %s: %s", path, strerror(errno));
		return -1;
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	if (n < KEY_MIN || n > KEY_MAX) {
		snprintf(err, errsz, "link_key_file %s: the secret must be %d to %d bytes", path,
			KEY_MIN, KEY_MAX);
		return -1;
	}
	SHA256((const unsigned char *)buf, (size_t)n, h->link_hash);
	OPENSSL_cleanse(buf, sizeof(buf));
	h->link_enabled = true;
	return 0;
}

int hauth_link__setup(struct hauth *h, char *err, size_t errsz)
{
	const char *role = hc_cfg_str(&h->cfg, HC_CFG_NODE_ROLE);
	const char *node = hc_cfg_str(&h->cfg, HC_CFG_NODE_NAME);
	const char *key = hc_cfg_str(&h->cfg, HC_CFG_LINK_KEY_FILE);

	if (!strcmp(role, "single"))
		h->role = HAUTH_ROLE_SINGLE;
	else if (!strcmp(role, "edge"))
		h->role = HAUTH_ROLE_EDGE;
	else if (!strcmp(role, "core"))
		h->role = HAUTH_ROLE_CORE;
	else {
		snprintf(err, errsz, "node_role must be single, edge or core, not \"%s\"", role);
		return -1;
	}
	if (h->role == HAUTH_ROLE_EDGE && !node_name_ok(node)) {
		snprintf(err, errsz, "node_role edge needs a node_name of 1-32 A-Za-z0-9._-");
		return -1;
	}
	if (node[0] && !node_name_ok(node)) {
		snprintf(err, errsz, "node_name must be 1-32 A-Za-z0-9._-");
		return -1;
	}
	snprintf(h->node, sizeof(h->node), "%s", node);
	if (key[0])
		return load_key(h, key, err, errsz);
	if (h->role == HAUTH_ROLE_CORE) {
		snprintf(err, errsz, "node_role core needs link_key_file");
		return -1;
	}
	return 0;
}

bool hauth_link__password_ok(struct hauth *h, const char *password)
{
	unsigned char d[SHA256_DIGEST_LENGTH];
	bool ok;
	if (!h->link_enabled || !password)
		return false;
	SHA256((const unsigned char *)password, strlen(password), d);
	ok = hc_ct_equal(d, h->link_hash, sizeof(d));
	OPENSSL_cleanse(d, sizeof(d));
	return ok;
}

bool hauth_link__is_local_bridge(struct hauth *h, const struct mosquitto *client)
{
	const char *user, *id;
	if (h->role != HAUTH_ROLE_EDGE || !client)
		return false;
	/* 2.0.11 gives a bridge's local_username (gen-bridges sets it to
	 * $hub-link); without one, its local client id, "local." and the
	 * remote one (no client of ours has an id of that shape with no
	 * username: anonymous connections are refused) */
	user = mosquitto_client_username(client);
	if (user)
		return !strcmp(user, HC_LINK_PRINCIPAL);
	id = mosquitto_client_id(client);
	return id && !strncmp(id, "local." LINK_ID_PREFIX, sizeof("local." LINK_ID_PREFIX) - 1);
}

static void publish(const char *topic, const char *body, bool retain)
{
	int rc = mosquitto_broker_publish_copy(
		NULL, topic, (int)strlen(body), body, 1, retain, NULL);
	if (rc != MOSQ_ERR_SUCCESS)
		hc_warn("msg=\"link publish failed\" topic=%s rc=%d", topic, rc);
}

void hauth_link__attach(struct hauth *h, struct hauth_principal *p)
{
	char body[256];
	(void)h;
	if (!hc_fmt(body, sizeof(body), "{\"conn\":\"%s\",\"principal\":\"%s\"}", p->name, p->name))
		publish("$hub/link/attach", body, false);
}

void hauth_link__detach(struct hauth *h, struct hauth_principal *p, const char *reason)
{
	char body[192];
	(void)h;
	if (!hc_fmt(body, sizeof(body), "{\"conn\":\"%s\",\"reason\":\"%s\"}", p->name,
		    reason ? reason : "network"))
		publish("$hub/link/detach", body, false);
}

static int again_cb(void *ud, const char *key, void *value)
{
	struct hauth_principal *p = value;
	(void)key;
	if (p->announced)
		hauth_link__attach(ud, p);
	return 0;
}

/* Mosquitto 2.0.11 sets TCP_NODELAY (set_tcp_nodelay) on the sockets it
 * accepts, never on a bridge's own: Nagle then holds an edge's small
 * publishes to the core until the core's delayed ACK, up to 40 ms a hop
 * (measured: bench/nodes_bench.py, docs/scaling.md). When the link is up
 * (its greeting arrived), every connected TCP socket of this process
 * without it gets it: the bridge's, and none the broker would not have
 * set itself. Runs once per link connect: reads /proc/self/fd. */
static void nodelay_all(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long fd = strtol(e->d_name, &end, 10);
		int type = 0, on = 0, one = 1;
		socklen_t tl = sizeof(type), ol = sizeof(on);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (*end || fd < 0 || fd == dirfd(d))
			continue;
		if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_STREAM ||
			getpeername((int)fd, (struct sockaddr *)&ss, &sl) ||
			(ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
			getsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &on, &ol) || on)
			continue;
		if (!setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
			n++;
	}
	closedir(d);
	if (n)
		hc_info("msg=\"TCP_NODELAY set on the link\" sockets=%d", n);
}

/* Edge: a message its own bridge brought in. */
static void edge_message(struct hauth *h, const struct mosquitto_evt_message *ed)
{
	char mine[sizeof(LINK_ID_PREFIX) + sizeof(h->node)];
	if (strncmp(ed->topic, HELLO_PREFIX, sizeof(HELLO_PREFIX) - 1) != 0 || !ed->payloadlen)
		return;
	if (hc_fmt(mine, sizeof(mine), LINK_ID_PREFIX "%s", h->node) ||
		strcmp(ed->topic + sizeof(HELLO_PREFIX) - 1, mine) != 0)
		return;
	nodelay_all();
	hc_info("msg=\"link to the core up: telling it who is online here\" principals=%zu",
		h->principals.count);
	hc_hmap_each(&h->principals, again_cb, h);
}

bool hauth_link__message(struct hauth *h, struct hauth_client *c, struct mosquitto_evt_message *ed)
{
	if (c && c->kind == HAUTH_LINK) {
		/* core: an edge's publish, checked where it entered */
		if (!strcmp(ed->topic, "$hub/link/attach") ||
			!strcmp(ed->topic, "$hub/link/detach"))
			hauth_attach__message(h, c, ed->topic, ed->payload, ed->payloadlen);
		return true;
	}
	if (!c && hauth_link__is_local_bridge(h, ed->client)) {
		edge_message(h, ed);
		return true;
	}
	return false;
}

void hauth_link__connected(struct hauth *h, struct hauth_client *c)
{
	const char *id = hauth_clientid__external(c->id);
	if (strncmp(id, LINK_ID_PREFIX, sizeof(LINK_ID_PREFIX) - 1) != 0 ||
		!node_name_ok(id + sizeof(LINK_ID_PREFIX) - 1)) {
		hc_warn("msg=\"a link whose client id is not hub-link.<node>: no presence "
			"hello\" id=%.60s",
			id);
		return;
	}
	if (h->hello_n >= HAUTH_HELLO_MAX) {
		hc_warn("msg=\"too many links connecting at once: hello dropped\" id=%s", id);
		return;
	}
	snprintf(h->hello[h->hello_n++], sizeof(h->hello[0]), "%s", id);
}

void hauth_link__tick(struct hauth *h)
{
	char topic[sizeof(HELLO_PREFIX) + sizeof(h->hello[0])], body[40];
	unsigned char rnd[8];
	/* after the CONNECT's own pass: the retained hello reaches the link's
	 * subscription whether it comes before or after this publish */
	for (int i = 0; i < h->hello_n; i++) {
		if (hc_random(rnd, sizeof(rnd)))
			memset(rnd, 0, sizeof(rnd));
		hc_hex(rnd, sizeof(rnd), body);
		if (!hc_fmt(topic, sizeof(topic), HELLO_PREFIX "%s", h->hello[i]))
			publish(topic, body, true);
	}
	h->hello_n = 0;
}
