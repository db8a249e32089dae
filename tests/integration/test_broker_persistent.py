# SPDX-License-Identifier: MIT
"""Persistent sessions (clean session off): QoS 1 messages published while
a subscriber is offline are queued for it and delivered when it comes back,
for rooms it may read; revoking its membership meanwhile stops them."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import BrokerTestCase, MqttClient, timeout  # noqa: E402


class Persistent(BrokerTestCase):
    @classmethod
    def prepare(cls, st):
        st.add_user("alice", rooms={"lobby": "write", "ops": "write"})
        st.add_user("bob", rooms={"lobby": "read", "ops": "read"})

    def session(self, token, cid):
        c = self.own(MqttClient(self.port, "bob", token, version=4, client_id=cid, clean=False))
        self.assertEqual(c.connect(), 0)
        return c

    @timeout(30)
    def test_offline_queue_delivered_for_readable_rooms_only(self):
        tok = self.stack.token("bob", ttl=600)
        bob = self.session(tok, "bob-phone")
        self.assertEqual(bob.sub(["rooms/lobby/ev/#", "rooms/ops/ev/#"], qos=1), [1, 1])
        bob.disconnect()
        # let the broker see bob go before publishing: a message sent to the
        # closing connection would be that connection's, not the queue's
        time.sleep(0.7)
        alice = self.user_client("alice")
        self.assertTrue(alice.pub("rooms/lobby/ev/chat/alice", b"while away", qos=1).is_published())
        # bob loses ops before the next message there
        self.stack.hubctl("revoke", "ops", "bob")
        time.sleep(0.7)
        self.assertTrue(alice.pub("rooms/ops/ev/chat/alice", b"secret", qos=1).is_published())
        time.sleep(0.3)
        bob = self.session(tok, "bob-phone")
        m = bob.wait_msg("rooms/lobby/ev/chat/alice", 3)
        self.assertIsNotNone(m, "the message queued while offline was not delivered")
        self.assertEqual(m[1], b"while away")
        self.assertIsNone(bob.wait_msg("rooms/ops/ev/#", 1.0),
                          "a room revoked while offline still delivered")


if __name__ == "__main__":
    harness.broker_main()
