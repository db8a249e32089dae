/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so and the broker's client struct (authplugin/layout.c,
 * reason.c), through the fake broker laid out like Mosquitto 2.0.11 and
 * 2.0.21 (their leading fields are the same), with real sockets:
 *
 *  - the layout is trusted only when the two fields read are plausible
 *    (state one of the enum's values, socket -1 or a socket);
 *  - keepalive ends: 2.0.21 ends a silent client between floor(1.5 x
 *    keepalive) and that + 1 s, so for an odd keepalive the silence may be
 *    under 1.5 x keepalive and must still count as "keepalive";
 *  - the client address is the socket's peer, never what a WebSocket
 *    client claims in X-Forwarded-For (2.0.15+ hands that claim to plugins
 *    as mosquitto_client_address): limits and audit lines use the socket;
 *  - the layout is decided by a client that can tell (not an anonymous
 *    one, not a session restored from disk), the id rewritten only on a
 *    new connection, and a reload keeps sessions restored from disk.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_broker.h"
#include "hauth.h"
#include "hauth_presence.h"
#include "hc_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SID "AAAAAAAAAAAAAAAAAAAAAa"
/* fake_broker.c: 2.0.11's and 2.0.21's leading layout (ADNS variant) */
#define L_STATE 68

static struct hauth *h;
static int fds[64];
static int nfds;

static int keep_fd(int fd)
{
	assert_true(fd >= 0);
	assert_true(nfds < (int)(sizeof(fds) / sizeof(fds[0])));
	fds[nfds++] = fd;
	return fd;
}

static int start(const char *conf)
{
	fb_broker_layout = true;
	h = fb_plugin_start(conf);
	fx_user(h, "alice");
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	fx_session(h, SID, "alice", hc_now() + 3600, 0, NULL);
	fb_tick();
	fb_reset();
	return 0;
}

static int setup(void **state)
{
	(void)state;
	return start(NULL);
}

static int setup_limits(void **state)
{
	(void)state;
	/* the claimed address is on the exempt list; the real one is not */
	return start("broker_conns_per_address = 2\n"
		     "broker_conns_exempt = 203.0.113.7");
}

static int teardown(void **state)
{
	(void)state;
	fb_plugin_stop();
	fb_broker_layout = false;
	h = NULL;
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	nfds = 0;
	return 0;
}

static const char *tok(void)
{
	int64_t now = hc_now();
	return fx_token(h, "mqtt", "alice", SID, now, now + 60);
}

/* A connected TCP socket on loopback, family AF_INET or AF_INET6 (then to
 * ::ffff:127.0.0.1, as a dual-stack WebSocket listener sees IPv4 peers);
 * *peer gets the other end. Returns the broker-side end. */
static int tcp_pair(int family, int *peer)
{
	int lst = keep_fd(socket(family, SOCK_STREAM, 0)), cli, srv;
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		int off = 0;
		assert_int_equal(setsockopt(lst, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)), 0);
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_any;
		len = sizeof(*a);
	}
	assert_int_equal(bind(lst, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(listen(lst, 4), 0);
	len = sizeof(ss);
	assert_int_equal(getsockname(lst, (struct sockaddr *)&ss, &len), 0);
	cli = keep_fd(socket(family, SOCK_STREAM, 0));
	if (family == AF_INET6)
		assert_int_equal(inet_pton(AF_INET6, "::ffff:127.0.0.1",
					 &((struct sockaddr_in6 *)&ss)->sin6_addr),
			1);
	assert_int_equal(connect(cli, (struct sockaddr *)&ss, len), 0);
	srv = keep_fd(accept(lst, NULL, NULL));
	*peer = cli;
	return srv;
}

static struct mosquitto *client(const char *id, int keepalive, int sock)
{
	struct mosquitto *c = fb_client(id, "alice", 4);
	fb_set_keepalive(c, keepalive);
	fb_set_sock(c, sock);
	return c;
}

/* ---- the two fields read ------------------------------------------------ */

static void test_fields_checked(void **state)
{
	(void)state;
	int peer, sock = tcp_pair(AF_INET, &peer), s, st, bad;
	struct mosquitto *c = client("c1", 60, sock), *nosock = client("c2", 60, -1);

	assert_true(hauth_layout__known(c));
	assert_true(hauth_layout__sock_state(c, &s, &st));
	assert_int_equal(s, sock);
	assert_int_equal(st, 0); /* mosq_cs_new */
	/* no socket (a WebSocket client being ended, a stored session) */
	assert_true(hauth_layout__known(nosock));
	/* a state out of the enum, or a socket below -1: not trusted */
	bad = 22;
	memcpy(c->not_the_broker_layout + L_STATE, &bad, sizeof(bad));
	assert_false(hauth_layout__known(c));
	bad = 0;
	memcpy(c->not_the_broker_layout + L_STATE, &bad, sizeof(bad));
	assert_true(hauth_layout__known(c));
	fb_set_sock(c, -7);
	assert_false(hauth_layout__known(c));
	assert_false(hauth_layout__sock_state(c, &s, &st));
	(void)peer;
}

/* The client that decides the layout must show a socket there: one whose
 * socket field holds a file rules the layout out. */
static void test_deciding_client_needs_a_socket(void **state)
{
	(void)state;
	int peer, sock = tcp_pair(AF_INET, &peer);
	int file = keep_fd(open("/dev/null", O_RDONLY));
	struct mosquitto *c = client("f1", 60, file), *d = client("f2", 60, sock);

	assert_false(hauth_layout__known(c));
	assert_false(hauth_layout__known(d)); /* decided: none fits */
	(void)peer;
}

/* ---- who decides the layout ---------------------------------------------- */

/* The first client the plugin sees may be an anonymous one (refused) or,
 * on a reload right after a start, a session restored from disk (no
 * address): neither decides, the next client confirms the layout. */
static void test_layout_not_decided_by_anonymous(void **state)
{
	(void)state;
	int peer, sock = tcp_pair(AF_INET, &peer);
	struct mosquitto *anon = client("x1", 60, -1), *c = client("phone", 60, sock);

	anon->username[0] = '\0';
	assert_int_equal(fb_connect(anon, NULL), MOSQ_ERR_AUTH);
	assert_false(hauth_layout__known(anon));
	assert_int_equal(fb_connect(c, tok()), MOSQ_ERR_SUCCESS);
	assert_true(hauth_layout__known(c));
	assert_non_null(strstr(fb_id(c), "alice:"));
	assert_non_null(strstr(fb_id(c), "/phone"));
	(void)peer;
}

static void scoped_id(const char *name, const char *external, char *out, size_t n)
{
	const struct hc_dir_principal *dp = hc_dir_principal(h->dir, name, strlen(name));
	assert_non_null(dp);
	assert_int_equal(hauth_clientid__format(out, n, name, dp->created_at, external), 0);
}

/* SIGHUP after a restart: mosquitto asks again for every stored session,
 * with no password for those restored from disk (it does not save them).
 * They stay (their identity still the one that stored them); a deleted
 * identity's does not; a new CONNECT without password is still refused. */
static void test_reload_keeps_restored_sessions(void **state)
{
	(void)state;
	char id[64];
	int peer, sock = tcp_pair(AF_INET, &peer);
	struct mosquitto *kept, *gone, *c, *nopw;

	fx_user(h, "bob");
	scoped_id("alice", "tablet", id, sizeof(id));
	kept = fb_restored(id, "alice");
	scoped_id("bob", "tablet", id, sizeof(id));
	gone = fb_restored(id, "bob");
	fx_del_principal(h, "bob");
	fb_reload();
	assert_int_equal(fb_connect(kept, NULL), MOSQ_ERR_SUCCESS);
	assert_null(hauth_clients__find(h, kept)); /* not a connection */
	assert_int_equal(fb_connect(gone, NULL), MOSQ_ERR_AUTH);
	assert_non_null(strstr(fb_last_log, "reason=no-password"));
	/* the layout is still to be decided: this connection does */
	c = client("phone", 60, sock);
	assert_int_equal(fb_connect(c, tok()), MOSQ_ERR_SUCCESS);
	assert_true(hauth_layout__known(c));
	assert_non_null(strstr(fb_id(c), "/phone"));
	fb_tick();
	nopw = client("laptop", 60, -1);
	assert_int_equal(fb_connect(nopw, NULL), MOSQ_ERR_AUTH);
	(void)peer;
}

/* The id is rewritten only on a new connection (its id not yet a key of
 * the broker's id hash). */
static void test_set_id_only_when_new(void **state)
{
	(void)state;
	int peer, sock = tcp_pair(AF_INET, &peer), cs_active = 3;
	struct mosquitto *c = client("tab", 60, sock);

	memcpy(c->not_the_broker_layout + L_STATE, &cs_active, sizeof(cs_active));
	assert_true(hauth_layout__known(c));
	assert_int_equal(hauth_layout__set_id(c, "alice:1/tab"), -1);
	assert_string_equal(fb_id(c), "tab");
	cs_active = 0;
	memcpy(c->not_the_broker_layout + L_STATE, &cs_active, sizeof(cs_active));
	assert_int_equal(hauth_layout__set_id(c, "alice:1/tab"), 0);
	assert_string_equal(fb_id(c), "alice:1/tab");
	(void)peer;
}

/* ---- keepalive ends --------------------------------------------------------- */

static void test_keepalive_threshold(void **state)
{
	(void)state;
	/* floor(1.5 x keepalive) s less 500 ms */
	assert_int_equal(hauth_reason__keepalive_silence_ms(0), -1);
	assert_int_equal(hauth_reason__keepalive_silence_ms(1), 500);
	assert_int_equal(hauth_reason__keepalive_silence_ms(2), 2500);
	assert_int_equal(hauth_reason__keepalive_silence_ms(3), 3500);
	assert_int_equal(hauth_reason__keepalive_silence_ms(5), 6500);
	assert_int_equal(hauth_reason__keepalive_silence_ms(60), 89500);
	assert_int_equal(hauth_reason__keepalive_silence_ms(65535), 98302LL * 1000 - 500);
}

/* The broker ends a silent TCP client (its peer has not hung up): how long
 * it was silent says whether that was its keepalive. */
static const char *ended_after(int keepalive, int64_t silent_ms, bool peer_hung_up)
{
	static int n;
	char id[16];
	int peer, sock = tcp_pair(AF_INET, &peer);
	struct mosquitto *c;
	struct hauth_client *hc;

	snprintf(id, sizeof(id), "ka%d", n++);
	c = client(id, keepalive, sock);
	assert_int_equal(fb_connect(c, tok()), MOSQ_ERR_SUCCESS);
	hc = hauth_clients__find(h, c);
	assert_non_null(hc);
	assert_false(hc->websocket);
	hc->active_ms = hc_mono_ms() - silent_ms;
	if (peer_hung_up)
		shutdown(peer, SHUT_WR);
	return hauth_reason__classify(hc);
}

static void test_keepalive_odd_and_even(void **state)
{
	(void)state;
	/* keepalive 3 on 2.0.21: ended 4.0-5.1 s after the last packet; the
	 * old threshold (4.5 s) called the first half "network" */
	assert_string_equal(ended_after(3, 4100, false), "keepalive");
	assert_string_equal(ended_after(3, 4400, false), "keepalive");
	assert_string_equal(ended_after(3, 5100, false), "keepalive");
	assert_string_equal(ended_after(3, 9800, false), "keepalive"); /* 2.0.11: +5 s */
	assert_string_equal(ended_after(3, 3000, false), "network");
	/* even: ended 3.0-4.1 s after */
	assert_string_equal(ended_after(2, 3050, false), "keepalive");
	assert_string_equal(ended_after(2, 2000, false), "network");
	assert_string_equal(ended_after(1, 1050, false), "keepalive");
	assert_string_equal(ended_after(1, 300, false), "network");
	/* a peer that hung up is a network end, however long it was silent */
	assert_string_equal(ended_after(3, 4400, true), "network");
	/* keepalive 0: the broker never ends it for silence */
	assert_string_equal(ended_after(0, 600000, false), "network");
}

/* ---- the client address --------------------------------------------------- */

/* ---- the broker's version ------------------------------------------------- */

static void test_version_scan(void **state)
{
	(void)state;
	static const unsigned char one[] = "\0usage\0"
					   "2.0.21"
					   "\0mosquitto version %s\0";
	static const unsigned char two[] = "2.0.11\0x\0"
					   "2.0.21";
	static const unsigned char same[] = "2.0.11\0"
					    "2.0.11\0";
	static const unsigned char none[] = "1.6.9\0"
					    "2.0\0"
					    "2.0.21a\0"
					    "v2.0.21\0"
					    "2..1\0";
	assert_int_equal(hauth_version__scan(one, sizeof(one) - 1), 2000021);
	/* the buffer's ends delimit too */
	assert_int_equal(hauth_version__scan((const unsigned char *)"2.0.11", 6), 2000011);
	assert_int_equal(hauth_version__scan(same, sizeof(same) - 1), 2000011);
	assert_int_equal(hauth_version__scan(two, sizeof(two) - 1), 0);
	assert_int_equal(hauth_version__scan(none, sizeof(none) - 1), 0);
	assert_int_equal(hauth_version__scan(NULL, 0), 0);
}

static void test_peer_address_not_the_claim(void **state)
{
	(void)state;
	char out[48];
	int peer, v4 = tcp_pair(AF_INET, &peer), v6 = tcp_pair(AF_INET6, &peer);
	struct mosquitto *a = client("p1", 60, v4), *b = client("p2", 60, v6);
	struct mosquitto *gone = client("p3", 60, -1);

	/* what 2.0.21 gives for a WebSocket client with X-Forwarded-For */
	a->protocol = b->protocol = gone->protocol = mp_websockets;
	snprintf(a->address, sizeof(a->address), "203.0.113.7, 10.0.0.1");
	snprintf(b->address, sizeof(b->address), "127.0.0.1\"x=1");
	assert_string_equal(hauth_layout__peer_addr(a, out, sizeof(out)), "127.0.0.1");
	/* a dual-stack listener's mapped IPv4 peer */
	assert_string_equal(hauth_layout__peer_addr(b, out, sizeof(out)), "127.0.0.1");
	/* no socket: what the broker says, "::ffff:" dropped */
	snprintf(gone->address, sizeof(gone->address), "::ffff:192.0.2.9");
	assert_string_equal(hauth_layout__peer_addr(gone, out, sizeof(out)), "192.0.2.9");
	/* a small buffer gets the start */
	assert_string_equal(hauth_layout__peer_addr(a, out, 4), "127");
	/* over TCP the broker's address is the peer's (it read it at accept):
	 * taken as it is, without a system call */
	a->protocol = mp_mqtt;
	snprintf(a->address, sizeof(a->address), "192.0.2.44");
	assert_string_equal(hauth_layout__peer_addr(a, out, sizeof(out)), "192.0.2.44");
}

static void test_peer_address_without_layout(void **state)
{
	(void)state;
	char out[48];
	struct mosquitto *c;

	fb_plugin_stop();
	fb_broker_layout = false;
	h = fb_plugin_start(NULL);
	c = fb_client("q1", "alice", 4);
	snprintf(c->address, sizeof(c->address), "::ffff:198.51.100.4");
	assert_false(hauth_layout__known(c));
	assert_string_equal(hauth_layout__peer_addr(c, out, sizeof(out)), "198.51.100.4");
}

/* Connections per address count the socket's peer: claiming an exempt
 * address (or a new one each time) in X-Forwarded-For changes nothing. */
static void test_limits_count_the_socket(void **state)
{
	(void)state;
	static const char *claims[] = {"203.0.113.7", "203.0.113.8", "203.0.113.7"};
	for (int i = 0; i < 3; i++) {
		char id[8];
		int peer, sock = tcp_pair(AF_INET, &peer);
		struct mosquitto *c;
		snprintf(id, sizeof(id), "l%d", i);
		c = client(id, 60, sock);
		c->protocol = mp_websockets;
		snprintf(c->address, sizeof(c->address), "%s", claims[i]);
		assert_int_equal(fb_connect(c, tok()), i < 2 ? MOSQ_ERR_SUCCESS : MOSQ_ERR_AUTH);
		if (i < 2) {
			/* the audit line says where it came from and what it claimed */
			assert_non_null(
				strstr(fb_last_log, " addr=127.0.0.1 claimed=\"203.0.113."));
		}
	}
	assert_non_null(strstr(fb_last_log, "denied reason=too-many-from-address addr=127.0.0.1"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fields_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_deciding_client_needs_a_socket, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_layout_not_decided_by_anonymous, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_reload_keeps_restored_sessions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_id_only_when_new, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_threshold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keepalive_odd_and_even, setup, teardown),
		cmocka_unit_test(test_version_scan),
		cmocka_unit_test_setup_teardown(test_peer_address_not_the_claim, setup, teardown),
		cmocka_unit_test_setup_teardown(test_peer_address_without_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_limits_count_the_socket, setup_limits, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
