/* SPDX-License-Identifier: MIT */
/*
 * hub_auth.so's side of backends through the fake broker: services log in
 * with their key (kind of their own, no presence, their own connection
 * cap, ended when the key goes), calls (Response Topic under the caller's
 * reply topics, no retained calls, hub-* user properties stripped and
 * stamped, inert and answered "unavailable" with no service connected),
 * hooks (held inert, the hook request, verdicts accept / accept with data
 * / reject / forged / late, timeout, service gone, busy, service's own
 * events, wills), and the webhook row builders (outbox.c). Delivery
 * through a real broker: tests/integration/test_backends_mqtt.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_broker.h"
#include "hauth.h"
#include "hauth_history.h"
#include "hc_names.h"
#include "hc_util.h"

#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <mqtt_protocol.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SID   "AAAAAAAAAAAAAAAAAAAAAa"
#define SID2  "AAAAAAAAAAAAAAAAAAAAAb"
#define KEY   "shop-key-0123456789abcdefghijklmnopqrstuvw"
#define KEY2  "pay-key-0123456789abcdefghijklmnopqrstuvwxy"
#define REPLY "users/alice/reply/r1"

static struct hauth *h;

static int setup(void **state)
{
	(void)state;
	h = fb_plugin_start("broker_conns_per_identity = 1\n"
			    "broker_conns_per_service = 3\n"
			    "call_timeout_ms = 200\n"
			    "hook_sender_pending_max = 2\n"
			    "hook_room_pending_max = 3\n"
			    "retained_identity_max = 1\n"
			    "hook_pending_bytes = 1048576\n");
	fx_user(h, "alice");
	fx_user(h, "bob");
	fx_level(h, "lobby", "alice", HC_LEVEL_WRITE);
	fx_level(h, "lobby", "bob", HC_LEVEL_WRITE);
	fx_level(h, "open", "alice", HC_LEVEL_WRITE);
	fx_session(h, SID, "alice", hc_now() + 3600, 0, NULL);
	fx_session(h, SID2, "bob", hc_now() + 3600, 0, NULL);
	fx_service(h, "shop", KEY);
	fx_service(h, "pay", KEY2);
	fx_hook(h, "lobby", "shop");
	fb_tick();
	fb_reset();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	fb_plugin_stop();
	h = NULL;
	return 0;
}

static struct mosquitto *user(const char *id, const char *name)
{
	struct mosquitto *c = fb_client(id, name, 5);
	int64_t now = hc_now();
	assert_int_equal(fb_connect(c, fx_token(h, "mqtt", name, strcmp(name, "alice") ? SID2 : SID,
					       now, now + 60)),
		MOSQ_ERR_SUCCESS);
	return c;
}

static struct mosquitto *service(const char *id, const char *name, const char *key)
{
	struct mosquitto *c = fb_client(id, name, 5);
	assert_int_equal(fb_connect(c, key), MOSQ_ERR_SUCCESS);
	return c;
}

/* A v5 property list: Response Topic, Correlation Data, user properties
 * as "name", "value" pairs (NULL-terminated). */
static mosquitto_property *props(const char *rt, const char *corr, ...)
{
	mosquitto_property *p = NULL;
	va_list ap;
	const char *n;
	if (rt)
		assert_int_equal(
			mosquitto_property_add_string(&p, MQTT_PROP_RESPONSE_TOPIC, rt), 0);
	if (corr)
		assert_int_equal(mosquitto_property_add_binary(&p, MQTT_PROP_CORRELATION_DATA, corr,
					 (uint16_t)strlen(corr)),
			0);
	va_start(ap, corr);
	while ((n = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);
		assert_int_equal(
			mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, n, v), 0);
	}
	va_end(ap);
	return p;
}

static int msg(struct mosquitto *c, const char *topic, const char *payload, mosquitto_property *p,
	struct fb_msg_out *out)
{
	return fb_message_v5(c, topic, payload, (int)strlen(payload), 1, false, p, out);
}

/* The id of the nth hook request on topic (from its Response Topic). */
static const char *hook_id(const char *topic, int nth)
{
	static char id[64];
	const struct fb_pub *p = fb_pub_on(topic, nth);
	const char *rt;
	assert_non_null(p);
	rt = strstr(p->props, "rt=$hub/verdict/");
	assert_non_null(rt);
	rt = strchr(rt + 16, '/');
	assert_non_null(rt);
	snprintf(id, sizeof(id), "%.32s", rt + 1);
	assert_int_equal(strlen(id), 32);
	return id;
}

static int verdict(struct mosquitto *svc, const char *service, const char *id, const char *json)
{
	char topic[128];
	snprintf(topic, sizeof(topic), "$hub/verdict/%s/%s", service, id);
	return fb_message_v5(svc, topic, json, (int)strlen(json), 1, false, NULL, NULL);
}

/* ------------------------------------------------------------ services */

static void test_service_login(void **state)
{
	struct mosquitto *s1, *s2, *s3, *s4, *bad;
	struct hauth_client *c;
	(void)state;
	s1 = service("b1", "shop", KEY);
	c = hauth_clients__find(h, s1);
	assert_non_null(c);
	assert_int_equal(c->kind, HAUTH_APP);
	assert_string_equal(c->name, "shop");
	/* a wrong key, another service's key, a token: refused */
	bad = fb_client("b9", "shop", 5);
	assert_int_equal(fb_connect(bad, KEY2), MOSQ_ERR_AUTH);
	assert_non_null(strstr(fb_last_log, "reason=bad-key"));
	assert_int_equal(
		fb_connect(bad, "shop-key-0123456789abcdefghijklmnopqrstuvW"), MOSQ_ERR_AUTH);
	assert_int_equal(fb_connect(bad, fx_token(h, "mqtt", "shop", SID, hc_now(), hc_now() + 60)),
		MOSQ_ERR_AUTH);
	/* several processes: broker_conns_per_service (3), not per identity (1) */
	s2 = service("b2", "shop", KEY);
	s3 = service("b3", "shop", KEY);
	s4 = fb_client("b4", "shop", 5);
	assert_int_equal(fb_connect(s4, KEY), MOSQ_ERR_AUTH);
	assert_non_null(strstr(fb_last_log, "reason=too-many-connections"));
	/* no presence: nothing published, no principal online */
	fb_tick();
	for (int i = 0; i < fb_npubs; i++)
		assert_null(strstr(fb_pubs[i].topic, "shop"));
	assert_false(hauth_clients__principal(h, "shop")->announced);
	(void)s2;
	(void)s3;
}

static void test_service_key_deleted(void **state)
{
	struct mosquitto *s1 = service("b1", "shop", KEY);
	(void)state;
	fb_tick();
	assert_false(fb_was_kicked(fb_id(s1)));
	/* the key replaced: the old one's connections end */
	fx_service(h, "shop", "another-key-0123456789abcdefghijklmnopqrstu");
	h->last_sweep_ms = 0;
	fb_tick();
	assert_true(fb_was_kicked("b1"));
	/* deleted: the next login fails */
	fx_del_principal(h, "shop");
	assert_int_equal(fb_connect(fb_client("b2", "shop", 5), KEY), MOSQ_ERR_AUTH);
}

static void test_service_acl(void **state)
{
	struct mosquitto *s1 = service("b1", "shop", KEY), *a = user("a1", "alice");
	(void)state;
	assert_int_equal(fb_acl(s1, "svc/shop/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_SUCCESS);
	assert_int_equal(
		fb_acl(s1, "$share/shop/svc/shop/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(s1, "svc/pay/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(
		fb_acl(s1, "$share/pay/svc/shop/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(s1, "rooms/lobby/ev/x/alice", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(s1, "rooms/lobby/ev/x/shop", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(s1, "users/alice/reply/x", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(s1, "$hub/verdict/shop/x", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(s1, "$hub/verdict/pay/x", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(a, "svc/#", MOSQ_ACL_SUBSCRIBE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(a, "svc/shop/order/alice", MOSQ_ACL_WRITE), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_acl(a, "svc/shop/order/bob", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(a, "users/alice/reply/x", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_acl(a, "$hub/verdict/shop/x", MOSQ_ACL_WRITE), MOSQ_ERR_ACL_DENIED);
	/* nobody reads verdicts, not even a service */
	assert_int_equal(fb_read(s1, "$hub/verdict/shop/x", "{}", 2), MOSQ_ERR_ACL_DENIED);
}

/* --------------------------------------------------------------- calls */

static void test_call_stamp(void **state)
{
	struct mosquitto *a = user("a1", "alice");
	struct fb_msg_out out;
	(void)state;
	service("b1", "shop", KEY);
	/* the caller's own hub-* properties go, the hub's stamp comes */
	assert_int_equal(msg(a, "svc/shop/order/alice", "{\"n\":1}",
				 props(REPLY, "c1", "hub-user", "mallory", "HUB-ROLE", "admin",
					 "note", "kept", NULL),
				 &out),
		MOSQ_ERR_SUCCESS);
	assert_false(out.inert);
	assert_string_equal(out.payload, "{\"n\":1}");
	assert_non_null(strstr(out.props, "note=kept;"));
	assert_non_null(strstr(out.props, "rt=" REPLY ";"));
	assert_non_null(strstr(out.props, "corr=c1;"));
	assert_non_null(strstr(out.props, "hub-user=alice;hub-display=alice;hub-role=user;"
					  "hub-kind=user;"));
	assert_null(strstr(out.props, "mallory"));
	assert_null(strstr(out.props, "HUB-ROLE"));
	/* with no properties at all (an MQTT 3.1.1 caller): stamped too */
	assert_int_equal(msg(a, "svc/shop/order/alice", "x", NULL, &out), MOSQ_ERR_SUCCESS);
	assert_non_null(strstr(out.props, "hub-user=alice;"));
	/* a service calling another: kind service */
	{
		struct mosquitto *p = service("p1", "pay", KEY2);
		assert_int_equal(msg(p, "svc/shop/refund/pay", "1",
					 props("users/pay/reply/z", "c", NULL), &out),
			MOSQ_ERR_SUCCESS);
		assert_non_null(strstr(out.props, "hub-user=pay;hub-display=pay;hub-role=user;"
						  "hub-kind=service;"));
	}
}

static void test_call_refused(void **state)
{
	struct mosquitto *a = user("a1", "alice");
	static const char *const bad[] = {"users/bob/reply/x", "users/alice/replyx",
		"users/alice/reply/", "users/alice/reply/a//b", "users/alice/reply/#",
		"users/alice/reply/a/b/c/d", "rooms/lobby/ev/chat/alice", "users/alice/inbox/x/y",
		"users/alicex/reply/1"};
	(void)state;
	service("b1", "shop", KEY);
	fb_reset();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
			msg(a, "svc/shop/order/alice", "{}", props(bad[i], "c", NULL), NULL),
			MOSQ_ERR_ACL_DENIED);
	assert_true(hauth_calls__reply_ok("users/alice/reply/a/b/c", "alice", 5));
	/* a retained call would be a call again to every later subscriber */
	assert_int_equal(fb_message_v5(a, "svc/shop/order/alice", "{}", 2, 1, true,
				 props(REPLY, "c", NULL), NULL),
		MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_npubs, 0);
}

static void test_call_unavailable(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *b = user("b1", "bob");
	struct fb_msg_out out;
	const struct fb_pub *p;
	(void)state;
	/* no connection of shop: nobody may take it, the caller is told */
	assert_int_equal(msg(a, "svc/shop/order/alice", "{}", props(REPLY, "c7", NULL), &out),
		MOSQ_ERR_SUCCESS);
	assert_true(out.inert);
	assert_int_equal(
		fb_read(b, "svc/shop/order/alice", out.payload, out.len), MOSQ_ERR_ACL_DENIED);
	p = fb_pub_on(REPLY, 0);
	assert_non_null(p);
	assert_string_equal(p->payload, "{\"ok\":false,\"error\":\"unavailable\"}");
	assert_string_equal(p->props, "corr=c7;");
	assert_int_equal(h->stats.calls_unavailable, 1);
	/* the answer is for alice alone */
	assert_int_equal(fb_read(b, REPLY, p->payload, p->len), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_read(a, REPLY, p->payload, p->len), MOSQ_ERR_SUCCESS);
	/* shop connected: the call goes through untouched */
	service("s1", "shop", KEY);
	fb_reset();
	assert_int_equal(msg(a, "svc/shop/order/alice", "{}", props(REPLY, "c8", NULL), &out),
		MOSQ_ERR_SUCCESS);
	assert_false(out.inert);
	assert_int_equal(fb_npubs, 0);
}

/* --------------------------------------------------------------- hooks */

#define EV "rooms/lobby/ev/chat/alice"
#define HK "svc/shop/hook/lobby/chat/alice"

static void test_hook_accept(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *b = user("b1", "bob"),
			 *s = service("s1", "shop", KEY);
	struct fb_msg_out out;
	const struct fb_pub *p;
	const char *id;
	(void)state;
	fb_reset();
	assert_int_equal(
		msg(a, EV, "{\"text\":\"hi\"}",
			props(REPLY, "c1", "hub-user", "mallory", "tag", "t1", NULL), &out),
		MOSQ_ERR_SUCCESS);
	/* held: inert for every reader, never retained */
	assert_true(out.inert);
	assert_false(out.retain);
	assert_int_equal(fb_read(b, EV, out.payload, out.len), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_read(s, EV, out.payload, out.len), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_read(b, EV, "{\"text\":\"hi\"}", 13), MOSQ_ERR_SUCCESS);
	/* a marker of an earlier broker run (another nonce) is inert too */
	{
		char other[64];
		memcpy(other, out.payload, (size_t)out.len);
		other[out.len - 1] ^= 0x55;
		assert_int_equal(fb_read(b, EV, other, out.len), MOSQ_ERR_ACL_DENIED);
	}
	/* the hook request: original payload, verdict topic, the stamp */
	p = fb_pub_on(HK, 0);
	assert_non_null(p);
	assert_string_equal(p->payload, "{\"text\":\"hi\"}");
	assert_int_equal(p->qos, 1);
	assert_non_null(strstr(p->props, "hub-user=alice;hub-display=alice;hub-role=user;"
					 "hub-kind=user;"));
	assert_null(strstr(p->props, "mallory"));
	id = hook_id(HK, 0);
	assert_non_null(strstr(p->props, id)); /* Correlation Data = id */
	assert_int_equal(fb_read(s, HK, p->payload, p->len), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_read(b, HK, p->payload, p->len), MOSQ_ERR_ACL_DENIED);
	/* accepted with changed data */
	fb_reset();
	assert_int_equal(verdict(s, "shop", id, "{\"accept\":true,\"data\":{\"text\":\"HI\"}}"),
		MOSQ_ERR_SUCCESS);
	p = fb_pub_on(EV, 0);
	assert_non_null(p);
	assert_string_equal(p->payload, "{\"text\":\"HI\"}");
	assert_false(p->retain);
	/* its properties: the sender's own, not its reply topic, no hub-* */
	assert_string_equal(p->props, "tag=t1;");
	p = fb_pub_on(REPLY, 0);
	assert_non_null(p);
	assert_string_equal(p->payload, "{\"ok\":true,\"data\":{\"text\":\"HI\"}}");
	assert_string_equal(p->props, "corr=c1;");
	/* the same verdict again: nothing held any more */
	fb_reset();
	assert_int_equal(verdict(s, "shop", id, "{\"accept\":true}"), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_npubs, 0);
	/* accepted as is (no data), binary payload: {"ok":true} */
	fb_reset();
	assert_int_equal(
		fb_message_v5(a, EV, "\x01\x02", 2, 2, false, props(REPLY, "c2", NULL), &out),
		MOSQ_ERR_SUCCESS);
	assert_true(out.inert);
	assert_int_equal(verdict(s, "shop", hook_id(HK, 0), "{\"accept\":true}"), MOSQ_ERR_SUCCESS);
	p = fb_pub_on(EV, 0);
	assert_non_null(p);
	assert_int_equal(p->len, 2);
	assert_int_equal(p->qos, 2);
	assert_string_equal(fb_pub_on(REPLY, 0)->payload, "{\"ok\":true}");
}

/* The gateway ($hub) publishes its sockets' events with hub-origin: a
 * held event keeps it when accepted (the gateway skips the sender's own
 * socket with it); a user's hub-origin never passes. */
static void test_hook_keeps_gateway_origin(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *s = service("s1", "shop", KEY);
	struct mosquitto *gw = fb_client("hub-bridge-1", "$hub", 5);
	const struct fb_pub *p;
	(void)state;
	assert_int_equal(
		fb_connect(gw, fx_token(h, "service", "$hub", "service", hc_now(), hc_now() + 60)),
		MOSQ_ERR_SUCCESS);
	fb_reset();
	assert_int_equal(msg(gw, EV, "{\"text\":\"hi\"}",
				 props(REPLY, "c1", "hub-origin", "gw1:7", NULL), NULL),
		MOSQ_ERR_SUCCESS);
	assert_int_equal(verdict(s, "shop", hook_id(HK, 0), "{\"accept\":true}"), MOSQ_ERR_SUCCESS);
	p = fb_pub_on(EV, 0);
	assert_non_null(p);
	assert_string_equal(p->props, "hub-origin=gw1:7;");
	/* the same from a user: dropped */
	fb_reset();
	assert_int_equal(msg(a, EV, "{}", props(REPLY, "c2", "hub-origin", "gw1:7", NULL), NULL),
		MOSQ_ERR_SUCCESS);
	assert_int_equal(verdict(s, "shop", hook_id(HK, 0), "{\"accept\":true}"), MOSQ_ERR_SUCCESS);
	p = fb_pub_on(EV, 0);
	assert_non_null(p);
	assert_null(strstr(p->props, "hub-origin"));
}

static void test_hook_reject_and_forged(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *b = user("b1", "bob"),
			 *s = service("s1", "shop", KEY), *pay = service("p1", "pay", KEY2);
	const char *id;
	char idcopy[40];
	(void)state;
	fb_reset();
	assert_int_equal(msg(a, EV, "{}", props(REPLY, "c1", NULL), NULL), MOSQ_ERR_SUCCESS);
	id = hook_id(HK, 0);
	snprintf(idcopy, sizeof(idcopy), "%s", id);
	fb_reset();
	/* another service, a user, a wrong service level: ignored */
	assert_int_equal(verdict(pay, "pay", idcopy, "{\"accept\":true}"), MOSQ_ERR_SUCCESS);
	assert_int_equal(verdict(pay, "shop", idcopy, "{\"accept\":true}"), MOSQ_ERR_SUCCESS);
	assert_int_equal(verdict(b, "shop", idcopy, "{\"accept\":true}"), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_npubs, 0);
	/* a wrong id: ignored */
	assert_int_equal(
		verdict(s, "shop", "00000000000000000000000000000000", "{\"accept\":true}"),
		MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_npubs, 0);
	/* the service rejects */
	assert_int_equal(
		verdict(s, "shop", idcopy, "{\"accept\":false,\"reason\":\"no \\\"way\\\"\"}"),
		MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_count_pub(EV), 0);
	assert_string_equal(fb_pub_on(REPLY, 0)->payload,
		"{\"ok\":false,\"error\":\"rejected\",\"message\":\"no \\\"way\\\"\"}");
	/* a verdict that is not one: rejected (fail closed) */
	fb_reset();
	assert_int_equal(msg(a, EV, "{}", props(REPLY, "c2", NULL), NULL), MOSQ_ERR_SUCCESS);
	assert_int_equal(verdict(s, "shop", hook_id(HK, 0), "yes"), MOSQ_ERR_SUCCESS);
	assert_int_equal(fb_count_pub(EV), 0);
	assert_non_null(strstr(fb_pub_on(REPLY, 0)->payload, "\"error\":\"rejected\""));
}

static void test_hook_timeout_and_gone(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *s = service("s1", "shop", KEY),
			 *s2 = service("s2", "shop", KEY);
	(void)state;
	fb_reset();
	assert_int_equal(msg(a, EV, "{}", props(REPLY, "c1", NULL), NULL), MOSQ_ERR_SUCCESS);
	fb_tick();
	assert_int_equal(fb_count_pub(REPLY), 0);
	usleep(250 * 1000); /* call_timeout_ms = 200 */
	fb_tick();
	assert_string_equal(fb_pub_on(REPLY, 0)->payload, "{\"ok\":false,\"error\":\"timeout\"}");
	assert_int_equal(fb_count_pub(EV), 0);
	/* held, then every connection of the service ends: unavailable */
	fb_reset();
	assert_int_equal(msg(a, EV, "{}", props(REPLY, "c2", NULL), NULL), MOSQ_ERR_SUCCESS);
	fb_disconnect(s, false);
	assert_int_equal(fb_count_pub(REPLY), 0); /* one process is left */
	fb_disconnect(s2, false);
	assert_string_equal(
		fb_pub_on(REPLY, 0)->payload, "{\"ok\":false,\"error\":\"unavailable\"}");
	/* with none connected: refused at once (PUBACK 0x87), told why */
	fb_reset();
	assert_int_equal(msg(a, EV, "{}", props(REPLY, "c3", NULL), NULL), MOSQ_ERR_ACL_DENIED);
	assert_string_equal(
		fb_pub_on(REPLY, 0)->payload, "{\"ok\":false,\"error\":\"unavailable\"}");
	assert_int_equal(fb_count_pub(HK), 0);
}

static void test_hook_bounds(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *b = user("b1", "bob");
	(void)state;
	service("s1", "shop", KEY);
	fb_reset();
	/* hook_sender_pending_max = 2 */
	assert_int_equal(msg(a, EV, "1", props(REPLY, "c1", NULL), NULL), MOSQ_ERR_SUCCESS);
	assert_int_equal(msg(a, EV, "2", props(REPLY, "c2", NULL), NULL), MOSQ_ERR_SUCCESS);
	assert_int_equal(msg(a, EV, "3", props(REPLY, "c3", NULL), NULL), MOSQ_ERR_ACL_DENIED);
	assert_string_equal(fb_pub_on(REPLY, 0)->payload, "{\"ok\":false,\"error\":\"busy\"}");
	/* hook_room_pending_max = 3: bob gets one, then the room is full */
	assert_int_equal(msg(b, "rooms/lobby/ev/chat/bob", "4", NULL, NULL), MOSQ_ERR_SUCCESS);
	assert_int_equal(msg(b, "rooms/lobby/ev/chat/bob", "5", NULL, NULL), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_count_pub(HK), 2);
	/* a time out frees them */
	usleep(250 * 1000);
	fb_tick();
	assert_int_equal(msg(b, "rooms/lobby/ev/chat/bob", "6", NULL, NULL), MOSQ_ERR_SUCCESS);
}

/* What an entry holds is counted with the sender's user properties: a
 * small event carrying a packet's worth of them is not "small". */
static mosquitto_property *heavy(const char *rt, const char *corr)
{
	/* ten user properties of 60 KiB (a string is at most 65535 bytes) */
	static char v[60 * 1024 + 1];
	mosquitto_property *p = props(rt, corr, NULL);
	memset(v, 'p', sizeof(v) - 1);
	for (int i = 0; i < 10; i++)
		assert_int_equal(
			mosquitto_property_add_string_pair(&p, MQTT_PROP_USER_PROPERTY, "note", v),
			0);
	return p;
}

static void test_hook_bounds_count_properties(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *b = user("b1", "bob");
	(void)state;
	service("s1", "shop", KEY);
	fb_reset();
	assert_int_equal(msg(a, EV, "1", heavy(REPLY, "c1"), NULL), MOSQ_ERR_SUCCESS);
	/* hook_pending_bytes = 1 MiB: a second such event does not fit */
	assert_int_equal(
		msg(b, "rooms/lobby/ev/chat/bob", "2", heavy("users/bob/reply/x", "c2"), NULL),
		MOSQ_ERR_ACL_DENIED);
	assert_string_equal(
		fb_pub_on("users/bob/reply/x", 0)->payload, "{\"ok\":false,\"error\":\"busy\"}");
	/* small ones still do */
	assert_int_equal(msg(b, "rooms/lobby/ev/chat/bob", "3", NULL, NULL), MOSQ_ERR_SUCCESS);
}

/* A rejection reason is passed on bounded, cut between characters. */
static void test_hook_reason_bounded(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *s = service("s1", "shop", KEY);
	char v[2000], *m;
	size_t o;
	const struct fb_pub *p;
	(void)state;
	fb_reset();
	assert_int_equal(msg(a, EV, "{}", props(REPLY, "c1", NULL), NULL), MOSQ_ERR_SUCCESS);
	o = (size_t)snprintf(v, sizeof(v), "{\"accept\":false,\"reason\":\"x");
	for (int i = 0; i < 300; i++) {
		memcpy(v + o, "\xc3\xa9", 2); /* é, 2 bytes: 1 + 600 bytes in all */
		o += 2;
	}
	snprintf(v + o, sizeof(v) - o, "\"}");
	assert_int_equal(verdict(s, "shop", hook_id(HK, 0), v), MOSQ_ERR_SUCCESS);
	p = fb_pub_on(REPLY, 0);
	assert_non_null(p);
	m = strstr(p->payload, "\"message\":\"x");
	assert_non_null(m);
	/* 1 + 255 whole characters (511 bytes), not 512 with half a one */
	assert_int_equal(strlen(m) - strlen("\"message\":\"") - strlen("\"}"), 511);
	assert_true(hc_utf8_valid(p->payload, (size_t)p->len));
}

static void test_hook_not_held(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *s = service("s1", "shop", KEY);
	struct fb_msg_out out;
	(void)state;
	fb_reset();
	/* the hook service's own events, events of an unhooked room */
	assert_int_equal(msg(s, "rooms/lobby/ev/news/shop", "{}", NULL, &out), MOSQ_ERR_SUCCESS);
	assert_false(out.inert);
	assert_int_equal(msg(a, "rooms/open/ev/chat/alice", "{}", NULL, &out), MOSQ_ERR_SUCCESS);
	assert_false(out.inert);
	assert_int_equal(fb_npubs, 0);
	/* hub-* user properties are the hub's on every publish */
	assert_int_equal(msg(a, "rooms/open/ev/chat/alice", "{}",
				 props(NULL, NULL, "x", "1", "hub-user", "bob", "Hub-Kind",
					 "service", "y", "2", NULL),
				 &out),
		MOSQ_ERR_SUCCESS);
	assert_string_equal(out.props, "x=1;y=2;");
	assert_int_equal(
		msg(a, "users/alice/status", "{}", props(NULL, NULL, "z", "3", NULL), &out),
		MOSQ_ERR_SUCCESS);
	assert_string_equal(out.props, "z=3;");
	/* a verdict reply topic must be the sender's */
	assert_int_equal(
		msg(a, EV, "{}", props("users/bob/reply/x", "c", NULL), NULL), MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_npubs, 0);
	/* a will into the hooked room would skip the hook: refused */
	snprintf(a->will_topic, sizeof(a->will_topic), "%s", EV);
	fb_disconnect(a, true);
	assert_int_equal(fb_nwills, 0);
	{
		struct mosquitto *a2 = user("a2", "alice");
		snprintf(a2->will_topic, sizeof(a2->will_topic), "rooms/open/ev/bye/alice");
		fb_disconnect(a2, true);
		assert_int_equal(fb_nwills, 1);
	}
}

static void test_hook_retained(void **state)
{
	struct mosquitto *a = user("a1", "alice"), *s = service("s1", "shop", KEY);
	struct fb_msg_out out;
	const struct fb_pub *p;
	(void)state;
	fb_reset();
	assert_int_equal(fb_message_v5(a, EV, "keep", 4, 1, true, props(REPLY, "c1", NULL), &out),
		MOSQ_ERR_SUCCESS);
	assert_false(out.retain);
	assert_true(out.inert);
	assert_int_equal(verdict(s, "shop", hook_id(HK, 0), "{\"accept\":true}"), MOSQ_ERR_SUCCESS);
	p = fb_pub_on(EV, 0);
	assert_non_null(p);
	assert_true(p->retain);
	assert_string_equal(p->payload, "keep");
	/* the retained index saw it: alice's one retained message
	 * (retained_identity_max = 1) is taken, another is refused, held or
	 * not; replacing the same topic is not another */
	assert_int_equal(
		fb_message_v5(a, "rooms/lobby/ev/other/alice", "x", 1, 1, true, NULL, NULL),
		MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_message_v5(a, "rooms/open/ev/other/alice", "x", 1, 1, true, NULL, NULL),
		MOSQ_ERR_ACL_DENIED);
	assert_int_equal(fb_message_v5(a, EV, "again", 5, 1, true, NULL, NULL), MOSQ_ERR_SUCCESS);
}

/* -------------------------------------------------------------- outbox */

static void test_outbox_fields(void **state)
{
	char *f;
	(void)state;
	f = hauth_outbox__event_fields("lobby", "chat \"x\"", "alice", "{\"a\": [1, 2]} ", 14);
	assert_string_equal(f, "\"room\":\"lobby\",\"event\":\"chat \\\"x\\\"\",\"from\":\"alice\","
			       "\"data\":{\"a\":[1,2]}");
	free(f);
	f = hauth_outbox__event_fields("lobby", "bin", "alice", "\x00\xff", 2);
	assert_string_equal(f, "\"room\":\"lobby\",\"event\":\"bin\",\"from\":\"alice\","
			       "\"data_b64\":\"AP8=\"");
	free(f);
	f = hauth_outbox__event_fields("lobby", "txt", "alice", "hi there", 8);
	assert_non_null(strstr(f, "\"data_b64\":\"aGkgdGhlcmU=\""));
	free(f);
	f = hauth_outbox__presence_fields("lobby", "bob", 3, "network");
	assert_string_equal(
		f, "\"room\":\"lobby\",\"user\":\"bob\",\"online\":3,\"reason\":\"network\"");
	free(f);
	f = hauth_outbox__presence_fields("lobby", "bob", 1, NULL);
	assert_string_equal(f, "\"room\":\"lobby\",\"user\":\"bob\",\"online\":1");
	free(f);
	{
		/* a payload too big for a row goes without its data */
		size_t n = 400 * 1024;
		char *big = malloc(n);
		assert_non_null(big);
		memset(big, 'a', n);
		f = hauth_outbox__event_fields("lobby", "big", "alice", big, n);
		assert_non_null(strstr(f, "\"data_omitted\":true,\"bytes\":409600"));
		free(f);
		free(big);
	}
}

static void test_outbox_wants(void **state)
{
	struct hauth_outbox_wants w;
	(void)state;
	hauth_outbox__wants_init(&w);
	assert_false(hauth_outbox__wants_event(&w, "lobby", 5, "chat", 4));
	hc_hmap_put(&w.names, "chat", 4, (void *)1, NULL);
	hc_hmap_put(&w.rooms, "lobby", 5, (void *)1, NULL);
	assert_true(hauth_outbox__wants_event(&w, "lobby", 5, "chat", 4));
	assert_false(hauth_outbox__wants_event(&w, "other", 5, "chat", 4));
	assert_false(hauth_outbox__wants_event(&w, "lobby", 5, "typing", 6));
	w.all_rooms = true;
	assert_true(hauth_outbox__wants_event(&w, "other", 5, "chat", 4));
	w.all_events = true;
	assert_true(hauth_outbox__wants_event(&w, "other", 5, "typing", 6));
	hauth_outbox__wants_free(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_service_login, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_key_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_service_acl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_call_unavailable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_accept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_keeps_gateway_origin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_reject_and_forged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_timeout_and_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_bounds_count_properties, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_reason_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_not_held, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hook_retained, setup, teardown),
		cmocka_unit_test(test_outbox_fields),
		cmocka_unit_test(test_outbox_wants),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
