/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so with several brokers (authplugin/link.c) through the fake
 * broker. Core: $hub-link logs in only with the link secret, carries every
 * topic, its attach/detach become one presence over all edges (no second
 * joined, left only after the last edge, no grace for a detach, network
 * after the grace when a link drops), a link's connect is greeted. Edge:
 * no presence of its own, attach/detach instead; its own bridge's traffic
 * has no side effects; a greeting makes it attach everyone again.
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

#include <fcntl.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SECRET "0123456789abcdef0123456789abcdef-link"
#define GRACE  800

static struct hauth *h;
static char keypath[256];

static void write_key(mode_t mode)
{
	int fd;
	snprintf(keypath, sizeof(keypath), "/tmp/hub-linkkey.%d", (int)getpid());
	unlink(keypath);
	fd = open(keypath, O_WRONLY | O_CREAT | O_EXCL, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, SECRET "\n", strlen(SECRET) + 1), (ssize_t)strlen(SECRET) + 1);
	close(fd);
	chmod(keypath, mode);
}

static int start(const char *role)
{
	char conf[600];
	write_key(0600);
	snprintf(conf, sizeof(conf),
		"presence_grace_ms = %d\nnode_role = %s\nnode_name = n1\nlink_key_file = %s", GRACE,
		role, keypath);
	h = fb_plugin_start(conf);
	fx_user(h, "alice");
	fx_user(h, "bob");
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	fx_level(h, "lobby", "bob", HC_LEVEL_READ);
	fb_tick();
	fb_reset();
	return 0;
}

static int setup_core(void **state)
{
	(void)state;
	return start("core");
}

static int setup_edge(void **state)
{
	(void)state;
	return start("edge");
}

static int teardown(void **state)
{
	(void)state;
	fb_plugin_stop();
	unlink(keypath);
	h = NULL;
	return 0;
}

static struct mosquitto *link_up(const char *node)
{
	char id[64];
	struct mosquitto *c;
	snprintf(id, sizeof(id), "hub-link.%s", node);
	c = fb_client(id, HC_LINK_PRINCIPAL, 4);
	assert_int_equal(fb_connect(c, SECRET), MOSQ_ERR_SUCCESS);
	return c;
}

static void attach(struct mosquitto *l, const char *who)
{
	char body[128];
	snprintf(body, sizeof(body), "{\"conn\":\"%s\",\"principal\":\"%s\"}", who, who);
	assert_int_equal(fb_message(l, "$hub/link/attach", body), MOSQ_ERR_SUCCESS);
}

static void detach(struct mosquitto *l, const char *who, const char *reason)
{
	char body[128];
	snprintf(body, sizeof(body), "{\"conn\":\"%s\",\"reason\":\"%s\"}", who, reason);
	assert_int_equal(fb_message(l, "$hub/link/detach", body), MOSQ_ERR_SUCCESS);
}

/* ---------------------------------------------------------------- core */

static void test_core_link_key(void **state)
{
	struct mosquitto *bad = fb_client("hub-link.x", HC_LINK_PRINCIPAL, 4);
	struct mosquitto *l;
	(void)state;
	assert_int_equal(fb_connect(bad, "0123456789abcdef0123456789abcdef-linK"), MOSQ_ERR_AUTH);
	assert_int_equal(fb_connect(bad, ""), MOSQ_ERR_AUTH);
	l = link_up("n2");
	/* carries every topic, in and out */
	assert_int_equal(fb_acl(l, "rooms/lobby/ev/x/alice", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(l, "rooms/lobby/sys/joined", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(l, "users/bob/inbox/x/alice", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(l, "#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_SUCCESS);
	/* greeted on the next tick, retained */
	fb_tick();
	assert_int_equal(fb_count_pub("$hub/link/hello/hub-link.n2"), 1);
	assert_true(fb_pub_on("$hub/link/hello/hub-link.n2", 0)->retain);
	/* its publishes are nobody's presence and not a client's */
	assert_null(hauth_clients__principal(h, HC_LINK_PRINCIPAL) &&
				    hauth_clients__principal(h, HC_LINK_PRINCIPAL)->announced
			    ? "announced"
			    : NULL);
}

static void test_core_one_presence_over_edges(void **state)
{
	struct mosquitto *l2 = link_up("n2"), *l3 = link_up("n3");
	(void)state;
	fb_tick();
	fb_reset();
	attach(l2, "alice");
	assert_int_equal(fb_count_pub("rooms/lobby/sys/joined"), 1);
	assert_string_equal(fb_pub_on("rooms/lobby/sys/joined", 0)->payload,
		"{\"user\":\"alice\",\"online\":1}");
	attach(l3, "alice");
	attach(l2, "alice"); /* repeated (a greeting): idempotent */
	assert_int_equal(fb_count_pub("rooms/lobby/sys/joined"), 1);
	fb_reset();
	detach(l2, "alice", "network");
	hauth_presence__tick(h, hc_mono_ms() + GRACE + 50);
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	/* n2's will may have said offline: online again */
	assert_int_equal(fb_count_pub("users/alice/status"), 1);
	assert_non_null(strstr(fb_pub_on("users/alice/status", 0)->payload, "\"online\":true"));
	/* the last edge: the edge's grace already ran, none here */
	detach(l3, "alice", "clean");
	hauth_presence__tick(h, hc_mono_ms() + 25);
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 1);
	assert_string_equal(fb_pub_on("rooms/lobby/sys/left", 0)->payload,
		"{\"user\":\"alice\",\"online\":0,\"reason\":\"clean\"}");
	/* a device's attach says so */
	fx_device(h, "truck", "alice", "device-secret-0123456789");
	fx_level(h, "lobby", "truck", HC_LEVEL_WRITE);
	fb_tick();
	attach(l2, "truck");
	assert_int_equal(fb_count_pub("rooms/lobby/sys/joined"), 1);
	assert_non_null(strstr(fb_pub_on("rooms/lobby/sys/joined", 0)->payload, "\"device\":true"));
	/* an unknown principal is refused */
	attach(l2, "mallory");
	assert_int_equal(fb_count_pub("rooms/lobby/sys/joined"), 1);
}

static void test_core_link_lost(void **state)
{
	struct mosquitto *l2 = link_up("n2");
	(void)state;
	attach(l2, "bob");
	fb_reset();
	fb_disconnect(l2, false);
	hauth_presence__tick(h, hc_mono_ms() + GRACE - 300);
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	hauth_presence__tick(h, hc_mono_ms() + GRACE + 50);
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 1);
	assert_non_null(strstr(fb_pub_on("rooms/lobby/sys/left", 0)->payload, "\"network\""));
}

/* A link's bridge went down: what comes for its stored session meanwhile
 * is queued for its return, in the moment before its entry is reaped as
 * after (a QoS 1 room event published right after an edge died was
 * dropped); a link never has a will, and a clean-session link holds
 * nothing. */
static void test_core_link_down_keeps_its_session(void **state)
{
	struct mosquitto *l2 = link_up("n2"), *l3 = link_up("n3");
	(void)state;
	l2->persistent = true;
	fb_disconnect(l2, false);
	assert_int_equal(fb_acl(l2, "rooms/lobby/ev/x/alice", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(l2, "rooms/lobby/ev/x/alice", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	fb_tick();
	assert_int_equal(fb_acl(l2, "rooms/lobby/ev/x/alice", MOSQ_ACL_READ), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(l2, "rooms/lobby/ev/x/alice", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	fb_disconnect(l3, false);
	assert_int_equal(fb_acl(l3, "rooms/lobby/ev/x/alice", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
}

/* ---------------------------------------------------------------- edge */

static struct mosquitto *user_up(const char *id, const char *user)
{
	struct mosquitto *c = fb_client(id, user, 5);
	const char *tok =
		fx_token(h, "mqtt", user, "SSSSSSSSSSSSSSSSSSSSSs", hc_now(), hc_now() + 900);
	assert_int_equal(fb_connect(c, tok), MOSQ_ERR_SUCCESS);
	return c;
}

static void test_edge_reports_instead_of_publishing(void **state)
{
	struct mosquitto *a, *a2;
	(void)state;
	a = user_up("a1", "alice");
	a2 = user_up("a2", "alice");
	assert_int_equal(fb_count_pub("rooms/lobby/sys/joined"), 0);
	assert_int_equal(fb_count_pub("users/alice/status"), 0);
	assert_int_equal(fb_count_pub("$hub/link/attach"), 1);
	assert_string_equal(fb_pub_on("$hub/link/attach", 0)->payload,
		"{\"conn\":\"alice\",\"principal\":\"alice\"}");
	fb_disconnect(a, false);
	hauth_presence__tick(h, hc_mono_ms() + GRACE + 50);
	assert_int_equal(fb_count_pub("$hub/link/detach"), 0);
	fb_disconnect(a2, false);
	hauth_presence__tick(h, hc_mono_ms() + GRACE - 300);
	assert_int_equal(fb_count_pub("$hub/link/detach"), 0);
	hauth_presence__tick(h, hc_mono_ms() + GRACE + 50);
	assert_int_equal(fb_count_pub("$hub/link/detach"), 1);
	assert_string_equal(fb_pub_on("$hub/link/detach", 0)->payload,
		"{\"conn\":\"alice\",\"reason\":\"clean\"}");
	assert_int_equal(fb_count_pub("rooms/lobby/sys/left"), 0);
	assert_int_equal(fb_count_pub("users/alice/status"), 0);
}

static void test_edge_own_bridge(void **state)
{
	/* the bridge's context: no BASIC_AUTH, username = local_username */
	struct mosquitto *br = fb_client("local.hub-link.n1", HC_LINK_PRINCIPAL, 4);
	struct mosquitto *b;
	(void)state;
	b = user_up("b1", "bob");
	fb_reset();
	/* a hooked room's event from another node is not held again */
	fx_service(h, "mod", "service-key-0123456789abcdef0123");
	fx_hook(h, "lobby", "mod");
	fb_tick();
	fb_reset();
	assert_int_equal(fb_message(br, "rooms/lobby/ev/chat/alice", "hi"), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_count_pub("svc/mod/hook/lobby/chat/alice"), 0);
	/* the greeting for this node: everyone online here again */
	assert_int_equal(fb_message(br, "$hub/link/hello/hub-link.n2", "x"), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_count_pub("$hub/link/attach"), 0);
	assert_int_equal(fb_message(br, "$hub/link/hello/hub-link.n1", "x"), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_count_pub("$hub/link/attach"), 1);
	assert_string_equal(fb_pub_on("$hub/link/attach", 0)->payload,
		"{\"conn\":\"bob\",\"principal\":\"bob\"}");
	/* a client's own publish on an edge is still a client's: refused
	 * where it may not write */
	assert_int_equal(fb_acl(b, "$hub/link/attach", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(
		fb_acl(b, "$hub/link/hello/hub-link.n1", MOSQ_ACL_READ), MOSQ_ERR_ACL_DENIED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_core_link_key, setup_core, teardown),
		cmocka_unit_test_setup_teardown(
			test_core_one_presence_over_edges, setup_core, teardown),
		cmocka_unit_test_setup_teardown(
			test_core_link_down_keeps_its_session, setup_core, teardown),
		cmocka_unit_test_setup_teardown(test_core_link_lost, setup_core, teardown),
		cmocka_unit_test_setup_teardown(
			test_edge_reports_instead_of_publishing, setup_edge, teardown),
		cmocka_unit_test_setup_teardown(test_edge_own_bridge, setup_edge, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
