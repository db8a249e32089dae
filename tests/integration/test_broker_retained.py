#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Retained messages belong to what they are about (docs/broker.md
"Retained messages"): deleting a room, user or device clears what the hub
retained for it, also when it is created again at once or while the broker
is down; retained messages are bounded per room and per writing identity
(MQTT 5 PUBACK 0x87 beyond), across a broker restart.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, timeout, wait_until  # noqa: E402
from mqttraw import RawClient, connack  # noqa: E402

ROOM_MAX = 6
IDENTITY_MAX = 4


class Retained(BrokerTestCase):
    stack_conf = {"retained_room_max": ROOM_MAX, "retained_identity_max": IDENTITY_MAX}

    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"r1": "write", "r2": "write", "lobby": "write"})
        stack.add_user("bob", rooms={"r1": "read", "r2": "read", "lobby": "write"})
        stack.add_user("carol", rooms={"lobby": "write"})
        stack.add_user("dan", rooms={"quota": "write"})
        stack.add_user("erin", rooms={"quota": "write"})
        stack.add_user("fred", rooms={"quota": "write"})
        cls.dev_secret = stack.device_add("van1", "alice", room="lobby")

    def pub(self, user, topic, payload, retain=True, version=5, password=None):
        c = self.raw()
        self.assertEqual(c.connect(user, password or self.stack.token(user),
                                   client_id="p-%s" % os.urandom(4).hex(), version=version), 0)
        code = c.publish(topic, payload, qos=1, retain=retain)
        c.disconnect()
        return 0 if code == 0x10 else code  # "no matching subscribers" is success

    def pub_granted(self, user, topic, payload, **kw):
        """pub, retried while the broker has not yet applied a grant made
        just before (it follows the store every refresh_ms)."""
        codes = []
        ok = wait_until(lambda: codes.append(self.pub(user, topic, payload, **kw)) or
                        codes[-1] == 0, 3.0, 0.05)
        self.assertTrue(ok, "publish of %s on %s: %r" % (user, topic, codes[-3:]))

    def retained(self, user, filt, password=None, wait=0.4):
        """The retained messages a fresh subscription of user to filt gets."""
        c = self.raw()
        self.assertEqual(c.connect(user, password or self.stack.token(user),
                                   client_id="s-%s" % os.urandom(4).hex(), version=4), 0)
        codes = c.subscribe([filt], qos=1)
        msgs = [m for m in c.collect(wait) if m[2]] if codes[0] < 0x80 else None
        c.disconnect()
        return msgs

    def until_gone(self, user, filt, topic, timeout=3.0):
        """True once a fresh subscription gets no retained message on topic."""
        return wait_until(lambda: not [m for m in (self.retained(user, filt) or [])
                                       if m[0] == topic], timeout, 0.1)

    def wait_user(self, user):
        tok = self.stack.token(user)
        self.assertTrue(wait_until(lambda: connack(self.port, user, tok) == 0, 3.0, 0.05),
                        "the broker does not know %s" % user)

    def next_second(self, since):
        """Wait for the clock's next second: identities and rooms created
        again are told apart by their creation second."""
        self.assertTrue(wait_until(lambda: int(time.time()) > since, 2.0, 0.05))

    @timeout(40)
    def test_01_room_deleted_and_created_again(self):
        self.assertEqual(self.pub("alice", "rooms/r1/ev/topic/alice", b"old r1"), 0)
        got = self.retained("bob", "rooms/r1/#")
        self.assertIn(("rooms/r1/ev/topic/alice", b"old r1", True), got)
        # deleted, then created again right away (one look at the store
        # may see both)
        created = int(time.time())
        self.stack.hubctl("room", "del", "r1")
        self.next_second(created)
        self.stack.hubctl("room", "add", "r1")
        self.stack.hubctl("grant", "r1", "bob", "read")
        self.assertTrue(self.until_gone("bob", "rooms/r1/#", "rooms/r1/ev/topic/alice"),
                        "the re-created room shows the old room's retained event")
        # deleted for good
        self.assertEqual(self.pub("alice", "rooms/r2/ev/topic/alice", b"old r2"), 0)
        self.stack.hubctl("room", "del", "r2")
        self.stack.hubctl("room", "add", "r2")  # same second: told apart by the deletion
        self.stack.hubctl("grant", "r2", "bob", "read")
        self.assertTrue(self.until_gone("bob", "rooms/r2/#", "rooms/r2/ev/topic/alice"))

    @timeout(40)
    def test_02_user_deleted_and_created_again(self):
        self.stack.add_user("gina", rooms={"lobby": "write"})
        created = int(time.time())
        self.wait_user("gina")
        g = self.raw()
        self.assertEqual(g.connect("gina", self.stack.token("gina"), client_id="gina-1"), 0)
        self.pub_granted("bob", "users/gina/inbox/note/bob", b"for the first gina")
        self.pub_granted("gina", "rooms/lobby/ev/mood/gina", b"first gina's")
        self.assertIn(("users/gina/inbox/note/bob", b"for the first gina", True),
                      self.retained("gina", "users/gina/inbox/#"))
        g.disconnect()
        old = self.stack.token("gina")
        self.stack.hubctl("user", "del", "gina", "--yes")
        self.assertTrue(wait_until(lambda: connack(self.port, "gina", old) == 5, 3.0, 0.05))
        self.next_second(created)
        self.stack.add_user("gina", rooms={"lobby": "write"})
        self.wait_user("gina")
        self.assertTrue(self.until_gone("gina", "users/gina/inbox/#",
                                        "users/gina/inbox/note/bob"),
                        "the re-created user reads the old user's retained inbox")
        self.assertTrue(self.until_gone("bob", "rooms/lobby/#", "rooms/lobby/ev/mood/gina"),
                        "the old user's retained room event is still there")
        # the hub's "offline" status of the old gina is gone too
        st = [m for m in self.retained("bob", "users/gina/status") or []]
        self.assertEqual([m for m in st if b'"online":false' in m[1]], [],
                         "the old user's status survived: %r" % st)

    @timeout(40)
    def test_03_device_deleted(self):
        loc = json.dumps({"_type": "location", "lat": 1, "lon": 2, "tst": 3}).encode()
        self.assertEqual(self.pub("van1", "owntracks/van1/phone", loc,
                                  password=self.dev_secret, version=4), 0)
        got = self.retained("alice", "owntracks/+/+")
        self.assertIn(("owntracks/van1/phone", loc, True), got)
        self.stack.hubctl("device", "del", "van1")
        secret = self.stack.device_add("van1", "alice", room="lobby")
        self.assertTrue(wait_until(lambda: connack(self.port, "van1", secret) == 0, 3.0, 0.05))
        self.assertTrue(self.until_gone("alice", "owntracks/+/+", "owntracks/van1/phone"),
                        "the re-created device shows the old one's location")

    @timeout(40)
    def test_04_bounds(self):
        # per writing identity: IDENTITY_MAX topics
        for i in range(IDENTITY_MAX):
            self.assertEqual(self.pub("dan", "rooms/quota/ev/d%d/dan" % i, b"x"), 0)
        self.assertEqual(self.pub("dan", "rooms/quota/ev/more/dan", b"x"), 0x87)
        self.assertIn("retained quota of the identity", self.stack.log("broker"))
        # not retained: fine; replacing one: fine; deleting one frees a place
        self.assertEqual(self.pub("dan", "rooms/quota/ev/more/dan", b"x", retain=False), 0)
        self.assertEqual(self.pub("dan", "rooms/quota/ev/d0/dan", b"y"), 0)
        self.assertEqual(self.pub("dan", "rooms/quota/ev/d1/dan", b""), 0)
        self.assertEqual(self.pub("dan", "rooms/quota/ev/more/dan", b"x"), 0)
        # per room: ROOM_MAX topics in all
        for i in range(ROOM_MAX - IDENTITY_MAX):
            self.assertEqual(self.pub("erin", "rooms/quota/ev/e%d/erin" % i, b"x"), 0)
        self.assertEqual(self.pub("fred", "rooms/quota/ev/f/fred", b"x"), 0x87)
        # MQTT 3.1.1 has no code: the message is dropped, not stored
        self.assertEqual(self.pub("fred", "rooms/quota/ev/f3/fred", b"x", version=4), 0)
        names = [m[0] for m in self.retained("dan", "rooms/quota/ev/#")]
        self.assertEqual(len(names), ROOM_MAX, names)
        self.assertNotIn("rooms/quota/ev/f3/fred", names)
        # the bounds hold over a broker restart (the index is kept)
        self.stack.restart_broker()
        self.assertEqual(self.pub("fred", "rooms/quota/ev/f/fred", b"x"), 0x87)
        self.assertEqual(self.pub("dan", "rooms/quota/ev/new/dan", b"x"), 0x87)

    @timeout(60)
    def test_05_deleted_while_the_broker_is_down(self):
        self.stack.add_user("hank", rooms={"down": "write", "lobby": "write"})
        self.wait_user("hank")
        self.pub_granted("hank", "rooms/down/ev/x/hank", b"before")
        self.pub_granted("alice", "users/hank/inbox/y/alice", b"inbox")
        created = int(time.time())
        self.stack.stop("broker")
        self.stack.hubctl("room", "del", "down")
        self.stack.hubctl("user", "del", "hank", "--yes")
        self.next_second(created)
        self.stack.hubctl("room", "add", "down")
        self.stack.add_user("hank", rooms={"down": "write", "lobby": "write"})
        self.stack.restart_broker()
        self.wait_user("hank")
        self.assertTrue(self.until_gone("hank", "rooms/down/#", "rooms/down/ev/x/hank"))
        self.assertTrue(self.until_gone("hank", "users/hank/inbox/#",
                                        "users/hank/inbox/y/alice"))


if __name__ == "__main__":
    harness.broker_main()
