#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Client ids belong to identities (docs/broker.md "Client ids"): the broker
scopes every id to the identity that connects with it, so no identity can
deny another the use of an id, take its connection over, or take its stored
session and queued messages, before or after a broker restart. Wills behave
as in plain mosquitto (only the hub's users/{user}/status rule stays), MQTT 5
wills with a Will Delay Interval are delayed and cancelled as mosquitto
does, and a persistent session the hub kicked keeps its subscriptions.

Raw MQTT (tests/integration/mqttraw.py: exact CONNACK flags) and paho, MQTT
3.1.1 and 5, persistence on (conf/mosquitto.conf).
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, MqttClient, timeout, token_claims, wait_until  # noqa: E402
from mqttraw import Closed, RawClient  # noqa: E402
from mqttraw import connack as harness_connack  # noqa: E402


def raw_wait(c, topic, payload=None, timeout=3.0):
    """Read c until a PUBLISH on topic (with payload) arrives; returns it or
    None. Other messages stay in c.seen."""
    if not hasattr(c, "seen"):
        c.seen = []
    deadline = time.time() + timeout
    while True:
        for m in c.seen:
            if m[0] == topic and (payload is None or m[1] == payload):
                c.seen.remove(m)
                return m
        left = deadline - time.time()
        if left <= 0:
            return None
        c.seen += c.collect(min(0.2, left))


class ClientIds(BrokerTestCase):
    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write", "ops": "write"})
        stack.add_user("bob", rooms={"lobby": "write", "ops": "write"})
        stack.add_user("eve", rooms={"lobby": "write"})
        stack.add_user("gone", rooms={"lobby": "write"})
        cls.trk1 = stack.device_add("truck1", "bob", room="lobby")
        cls.trk2 = stack.device_add("truck2", "bob", room="lobby")

    def rawc(self, user, password, client_id, version=4, clean=True, expect=0, **kw):
        c = self.raw()
        rc = c.connect(user, password, client_id=client_id, version=version, clean=clean, **kw)
        self.assertEqual(rc, expect, "CONNACK of %s/%s v%d" % (client_id, user, version))
        return c

    def wait_user(self, user):
        """Until the broker knows a user just created (it follows the store
        every refresh_ms)."""
        tok = self.stack.token(user)
        ok = wait_until(lambda: harness_connack(self.port, user, tok) == 0, 3.0, 0.05)
        self.assertTrue(ok, "the broker does not know %s" % user)

    def stored_session(self, user, cid, version, filters=("rooms/lobby/ev/#",)):
        """A persistent session of user under cid, subscribed, then offline
        (clean DISCONNECT). v5: Session Expiry 3600 s."""
        c = self.rawc(user, self.stack.token(user), cid, version, clean=False,
                      session_expiry=3600 if version == 5 else None)
        self.assertEqual(c.subscribe(list(filters), qos=1), [1] * len(filters))
        c.disconnect()
        return c

    def publish_as(self, user, topic, payload):
        p = self.rawc(user, self.stack.token(user), "pub-%s" % os.urandom(4).hex(), 5)
        self.assertEqual(p.publish(topic, payload, qos=1), 0)
        p.disconnect()

    # ---- squatting a live id ------------------------------------------------
    @timeout(30)
    def test_01_same_id_other_identity_is_another_session(self):
        """eve connecting with the id alice's phone uses neither closes the
        phone nor blocks either of them (plain mosquitto would close the
        phone; the hub used to refuse eve, and a squatter that came first
        locked the owner out)."""
        for v in (4, 5):
            cid = "phone-v%d" % v
            a = self.rawc("alice", self.stack.token("alice"), cid, v, clean=False,
                          session_expiry=3600 if v == 5 else None)
            self.assertEqual(a.subscribe(["rooms/lobby/ev/#"], qos=1), [1])
            e = self.rawc("eve", self.stack.token("eve"), cid, v, clean=False,
                          session_expiry=3600 if v == 5 else None)
            self.assertFalse(e.session_present, "eve got a session under alice's id")
            self.assertTrue(a.alive(), "eve's CONNECT closed alice's connection (v%d)" % v)
            self.assertTrue(e.alive())
            self.publish_as("bob", "rooms/lobby/ev/chat/bob", b"to-alice-%d" % v)
            self.assertIsNotNone(raw_wait(a, "rooms/lobby/ev/chat/bob", b"to-alice-%d" % v),
                                 "alice no longer receives (v%d)" % v)
            self.assertEqual(e.collect(0.3), [], "eve received alice's subscription")
            # and the other order: the squatter first, the owner after
            cid = "first-v%d" % v
            e2 = self.rawc("eve", self.stack.token("eve"), cid, v, clean=False,
                           session_expiry=3600 if v == 5 else None)
            a2 = self.rawc("alice", self.stack.token("alice"), cid, v, clean=False,
                           session_expiry=3600 if v == 5 else None)
            self.assertFalse(a2.session_present)
            self.assertTrue(e2.alive() and a2.alive())
            for c in (a, e, e2, a2):
                c.disconnect()

    @timeout(30)
    def test_02_tracker_ids_cannot_be_squatted(self):
        """A tracker's predictable id (hub-tracker: trk-{device}-{name}) taken
        by another identity first, even with a stored session: the tracker
        still connects, gets no foreign session, and keeps working; a live
        tracker is not closed by the squatter."""
        squat = self.rawc("eve", self.stack.token("eve"), "trk-truck2-tracker", 4, clean=False)
        self.assertEqual(squat.subscribe(["rooms/lobby/ev/#"], qos=1), [1])
        squat.disconnect()
        t2 = self.rawc("truck2", self.trk2, "trk-truck2-tracker", 4, clean=False)
        self.assertFalse(t2.session_present, "the tracker got the squatter's session")
        t1 = self.rawc("truck1", self.trk1, "trk-truck1-tracker", 4)
        again = self.rawc("eve", self.stack.token("eve"), "trk-truck1-tracker", 5)
        self.assertTrue(t1.alive(), "the squatter closed the live tracker")
        w = self.mqtt("bob", self.stack.token("bob"), version=5)
        self.assertEqual(w.sub("owntracks/+/+"), [1])
        loc = json.dumps({"_type": "location", "lat": 1.0, "lon": 2.0, "tst": 1}).encode()
        self.assertEqual(t1.publish("owntracks/truck1/tracker", loc, qos=1), 0)
        self.assertIsNotNone(w.wait_msg("owntracks/truck1/tracker", 3))
        for c in (t1, t2, again):
            c.disconnect()

    # ---- stored sessions over a broker restart ----------------------------------
    @timeout(60)
    def test_03_stored_session_survives_restart_and_squatters(self):
        """alice's stored sessions (v3.1.1 and v5) with QoS 1 messages queued
        while she is offline; the broker restarts; eve connects first with
        her ids: eve gets fresh sessions; alice then gets hers back
        (session present) with every queued message."""
        for v in (4, 5):
            self.stored_session("alice", "alice-home-v%d" % v, v)
        self.publish_as("bob", "rooms/lobby/ev/chat/bob", b"before-restart")
        self.stack.restart_broker()
        self.publish_as("bob", "rooms/lobby/ev/chat/bob", b"after-restart")
        for v in (4, 5):
            e = self.rawc("eve", self.stack.token("eve"), "alice-home-v%d" % v, v, clean=False,
                          session_expiry=3600 if v == 5 else None)
            self.assertFalse(e.session_present, "eve took alice's stored session (v%d)" % v)
            self.assertEqual(e.collect(0.5), [], "eve got alice's queued messages (v%d)" % v)
            e.disconnect()
        for v in (4, 5):
            a = self.rawc("alice", self.stack.token("alice"), "alice-home-v%d" % v, v,
                          clean=False, session_expiry=3600 if v == 5 else None)
            self.assertTrue(a.session_present, "alice lost her stored session (v%d)" % v)
            for body in (b"before-restart", b"after-restart"):
                self.assertIsNotNone(raw_wait(a, "rooms/lobby/ev/chat/bob", body),
                                     "alice's queued %r is gone (v%d)" % (body, v))
            # the subscription is alive, not just the queue
            self.publish_as("bob", "rooms/lobby/ev/chat/bob", b"live-%d" % v)
            self.assertIsNotNone(raw_wait(a, "rooms/lobby/ev/chat/bob", b"live-%d" % v))
            a.disconnect()

    @timeout(30)
    def test_04_mqtt5_session_expiry_0_keeps_nothing(self):
        """MQTT 5 Clean Start 0 with Session Expiry 0 (paho-python's default
        reconnect) keeps no session: nobody is refused afterwards, and the
        same client reconnects with session present 0, as on mosquitto."""
        a = self.rawc("alice", self.stack.token("alice"), "v5-zero", 5, clean=False)
        self.assertEqual(a.subscribe(["rooms/lobby/ev/#"]), [1])
        a.close()
        b = self.rawc("bob", self.stack.token("bob"), "v5-zero", 5, clean=False)
        a = self.rawc("alice", self.stack.token("alice"), "v5-zero", 5, clean=False)
        self.assertFalse(a.session_present)
        # paho 5 reconnecting the way it does by default
        import paho.mqtt.client as paho
        p = paho.Client(client_id="v5-zero", protocol=paho.MQTTv5)
        p.username_pw_set("eve", self.stack.token("eve"))
        got = []
        p.on_connect = lambda c, u, f, rc, props=None: got.append(rc.value if hasattr(rc, "value") else rc)
        p.connect("127.0.0.1", self.port, 30, clean_start=paho.MQTT_CLEAN_START_FIRST_ONLY)
        deadline = time.time() + 5
        while not got and time.time() < deadline:
            p.loop(0.05)
        self.assertEqual(got, [0])
        p.disconnect()
        for c in (a, b):
            c.disconnect()

    @timeout(40)
    def test_05_recreated_identity_gets_no_old_session(self):
        """A user deleted and created again is someone else: the old user's
        stored session and the inbox messages queued for it stay out of
        reach. (Identities are told apart by their creation second.)"""
        self.stack.add_user("temp", rooms={"lobby": "write"})
        created = int(time.time())
        self.wait_user("temp")
        self.stored_session("temp", "temp-phone", 4,
                            filters=("rooms/lobby/ev/#", "users/temp/inbox/#"))
        self.publish_as("bob", "users/temp/inbox/secret/bob", b"for the first temp")
        old_tok = self.stack.token("temp")
        self.stack.hubctl("user", "del", "temp", "--yes")
        # the broker has applied the deletion once the old user's token fails
        self.assertTrue(wait_until(lambda: harness_connack(self.port, "temp", old_tok) == 5,
                                   3.0, 0.05), "the broker did not see temp deleted")
        # a later creation second tells the two apart
        self.assertTrue(wait_until(lambda: int(time.time()) > created, 2.0, 0.05))
        self.stack.add_user("temp", rooms={"lobby": "write"})
        # the broker saw the new temp once a token of it is accepted (a
        # token is checked against the user's current record)
        self.wait_user("temp")
        c = self.rawc("temp", self.stack.token("temp"), "temp-phone", 4, clean=False)
        self.assertFalse(c.session_present, "the new temp got the old temp's session")
        self.assertEqual(c.collect(0.5), [], "the new temp got the old temp's inbox")

    # ---- wills ------------------------------------------------------------------------
    @timeout(30)
    def test_06_wills_with_other_connections_and_takeover(self):
        """Wills go out as on plain mosquitto while the same user has other
        connections and on a takeover; only a will on the user's own
        users/{user}/status is held back while the user is online."""
        w = self.mqtt("bob", self.stack.token("bob"), version=5)
        self.assertEqual(w.sub(["rooms/lobby/ev/+/alice", "users/alice/status"]), [1, 1])
        w.take()
        stay = self.rawc("alice", self.stack.token("alice"), "alice-stays", 4)
        a1 = self.rawc("alice", self.stack.token("alice"), "alice-w1", 4,
                       will=("rooms/lobby/ev/gone/alice", b"w1", 1, False))
        a2 = self.rawc("alice", self.stack.token("alice"), "alice-w2", 5,
                       will=("users/alice/status", b'{"online":false,"will":2}', 1, True))
        a1.close()  # network end: the will goes out
        self.assertIsNotNone(w.wait_msg("rooms/lobby/ev/gone/alice", 3,
                                        pred=lambda m: m[1] == b"w1"),
                             "a will was dropped because the user has another connection")
        a2.close()
        self.assertTrue(self.stack.wait_log("broker", "/alice-w2 closed its connection", 3))
        self.assertIsNone(w.wait_msg("users/alice/status", 0.5, pred=lambda m: b"will" in m[1]),
                          "a status will said offline while alice is online")
        # takeover of a clean session: its will goes out, as on mosquitto
        t1 = self.rawc("alice", self.stack.token("alice"), "alice-take", 4,
                       will=("rooms/lobby/ev/took/alice", b"t1", 1, False))
        t2 = self.rawc("alice", self.stack.token("alice"), "alice-take", 4)
        self.assertIsNotNone(w.wait_msg("rooms/lobby/ev/took/alice", 3),
                             "the taken-over connection's will was dropped")
        self.assertFalse(t1.alive(0.5))
        for c in (stay, t2):
            c.disconnect()

    @timeout(40)
    def test_07_will_delay(self):
        """An MQTT 5 will with a Will Delay Interval is accepted, sent after
        the delay, and cancelled by a reconnect within it."""
        w = self.mqtt("bob", self.stack.token("bob"), version=5)
        self.assertEqual(w.sub(["rooms/lobby/ev/+/alice"]), [1])
        a = self.rawc("alice", self.stack.token("alice"), "alice-delay", 5,
                      will=("rooms/lobby/ev/late/alice", b"delayed", 1, False), will_delay=2)
        t0 = time.time()
        a.close()
        m = w.wait_msg("rooms/lobby/ev/late/alice", 6)
        self.assertIsNotNone(m, "the delayed will never came")
        print("  will delay 2 s: sent after %.2f s" % (m[3] - t0), file=sys.stderr)
        self.assertGreater(m[3] - t0, 1.5, "the will was not delayed")
        # cancelled by a reconnect with the same id within the delay
        a = self.rawc("alice", self.stack.token("alice"), "alice-delay2", 5, clean=False,
                      session_expiry=60,
                      will=("rooms/lobby/ev/cancelled/alice", b"x", 1, False), will_delay=3)
        a.close()
        self.assertTrue(self.stack.wait_log("broker", "/alice-delay2 closed its connection", 3))
        back = self.rawc("alice", self.stack.token("alice"), "alice-delay2", 5, clean=False,
                         session_expiry=60)
        self.assertTrue(back.session_present)
        self.assertIsNone(w.wait_msg("rooms/lobby/ev/cancelled/alice", 4.5),
                          "a will cancelled by the reconnect went out")
        # a delayed will on the user's status, with the user online again
        # on another connection, is held back
        w.sub(["users/alice/status"])
        s = self.rawc("alice", self.stack.token("alice"), "alice-delay3", 5,
                      will=("users/alice/status", b'{"online":false,"will":3}', 1, True),
                      will_delay=1)
        s.close()
        other = self.rawc("alice", self.stack.token("alice"), "alice-other", 4)
        self.assertIsNone(w.wait_msg("users/alice/status", 3, pred=lambda m: b"will" in m[1]))
        for c in (back, other):
            c.disconnect()

    # ---- a kicked persistent session -----------------------------------------------------
    @timeout(40)
    def test_08_kicked_persistent_session_keeps_subscriptions(self):
        """The hub ends a connection whose login session was revoked; its
        stored session keeps the subscriptions its identity may still hold
        and queues what arrives meanwhile: the client logs in again and
        reconnects to session present with everything, without subscribing
        again (it used to get session present and nothing)."""
        conns = {}
        for v in (4, 5):
            tok = self.stack.revocable_token("alice")
            c = self.rawc("alice", tok, "alice-kick-v%d" % v, v, clean=False,
                          session_expiry=3600 if v == 5 else None)
            self.assertEqual(c.subscribe(["rooms/lobby/ev/#", "rooms/ops/ev/#"], qos=1), [1, 1])
            conns[v] = (c, tok)
        for v, (c, tok) in conns.items():
            self.stack.hubctl("session", "revoke", token_claims(tok)["sid"])
            with self.assertRaises((Closed, OSError, socket.timeout)):
                c.collect(2.0)
                c.ping(1.0)
        self.stack.hubctl("revoke", "ops", "alice")
        # in force at the broker once a subscription to ops is refused
        probe = self.rawc("alice", self.stack.token("alice"), "probe", 5)
        self.assertTrue(wait_until(lambda: probe.subscribe(["rooms/ops/ev/#"]) == [0x87],
                                   3.0, 0.05), "the revocation never reached the broker")
        probe.disconnect()
        self.publish_as("bob", "rooms/lobby/ev/chat/bob", b"while-kicked")
        self.publish_as("bob", "rooms/ops/ev/chat/bob", b"ops-after-revoke")
        for v in (4, 5):
            a = self.rawc("alice", self.stack.token("alice"), "alice-kick-v%d" % v, v,
                          clean=False, session_expiry=3600 if v == 5 else None)
            self.assertTrue(a.session_present)
            self.assertIsNotNone(raw_wait(a, "rooms/lobby/ev/chat/bob", b"while-kicked"),
                                 "the message queued while kicked is gone (v%d)" % v)
            self.publish_as("bob", "rooms/lobby/ev/chat/bob", b"after-%d" % v)
            self.assertIsNotNone(raw_wait(a, "rooms/lobby/ev/chat/bob", b"after-%d" % v),
                                 "the kicked session's subscription is dead (v%d)" % v)
            self.assertIsNone(raw_wait(a, "rooms/ops/ev/chat/bob", timeout=0.5),
                              "a room revoked meanwhile still delivers (v%d)" % v)
            a.disconnect()


if __name__ == "__main__":
    harness.broker_main()
