#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Broker CONNECT rules (CONTRACT.md "MQTT rules", "The MQTT token"): real
mosquitto 2.0.11 with hub_auth.so on free loopback ports.

Every refusal is checked on the wire (mqttraw): CONNACK 5 for MQTT 3.1 and
3.1.1, 0x87 for MQTT 5. The plugin path of 2.0.11 cannot produce 0x04/0x86
("bad username or password"): a plugin's MOSQ_ERR_AUTH always becomes "not
authorized" (docs/broker.md). After each refusal a good client still
connects.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, MqttClient, timeout, token_claims  # noqa: E402
from mqttraw import RawClient, connack  # noqa: E402

REFUSED = {3: 5, 4: 5, 5: 0x87}


class Connect(BrokerTestCase):
    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write"})
        stack.add_user("bob", rooms={"lobby": "read"})
        cls.dev_secret = stack.device_add("truck1", "alice", room="lobby")

    def good(self, msg=""):
        """A good user still gets in (after a refusal)."""
        tok = self.stack.token("alice")
        for v in (4, 5):
            self.assertEqual(connack(self.port, "alice", tok, version=v), 0,
                             "good client refused after: " + msg)

    def refused(self, username, password, client_id="", versions=(3, 4, 5), why="",
                reason=None):
        """Refused at each MQTT level with the exact CONNACK code; reason:
        the audit line's reason= (hauth: id/user | connect | denied reason=)."""
        start = len(self.stack.log("broker"))
        for v in versions:
            cid = client_id or "c%d-%s" % (v, os.urandom(3).hex())
            rc = connack(self.port, username, password, client_id=cid, version=v)
            self.assertEqual(rc, REFUSED[v],
                             "%s: MQTT level %d CONNACK %r, want %d" % (why, v, rc, REFUSED[v]))
        if reason:
            self.assertTrue(self.stack.wait_log("broker", "| connect | denied reason=%s " % reason,
                                                2.0, start),
                            "%s: no audit line with reason=%s" % (why, reason))
        self.good(why)
        self.assert_broker_alive()

    # ---- accepted -----------------------------------------------------
    @timeout(20)
    def test_01_user_token_all_protocol_versions(self):
        tok = self.stack.token("alice")
        for v in (3, 4, 5):
            with self.subTest(paho_version=v):
                # MQTT 3.1 client ids are at most 23 characters
                c = self.mqtt("alice", tok, version=v, client_id="ok-v%d" % v)
                self.assertEqual(c.sub("rooms/lobby/ev/#"), [1])
                c.pub("rooms/lobby/ev/hello/alice", b"v%d" % v, qos=1)
                m = c.wait_msg("rooms/lobby/ev/hello/alice", 3)
                self.assertIsNotNone(m, "own room event not delivered (v%d)" % v)
                self.assertEqual(m[1], b"v%d" % v)
                c.disconnect()
        for v in (3, 4, 5):
            self.assertEqual(connack(self.port, "alice", tok, client_id="raw%d" % v,
                                     version=v), 0)

    @timeout(20)
    def test_02_device_secret(self):
        for v in (3, 4, 5):
            with self.subTest(version=v):
                c = self.mqtt("truck1", self.dev_secret, version=v, client_id="truck1-%d" % v)
                c.disconnect()

    @timeout(20)
    def test_03_service_identity(self):
        tok = self.stack.service_token()
        for v in (4, 5):
            self.assertEqual(connack(self.port, "$hub", tok, version=v), 0)
        # a user token does not open the service identity, nor a service
        # token a user
        self.refused("$hub", self.stack.token("alice"), why="$hub with a user token", reason="wrong-typ")
        self.refused("alice", tok, why="user with a service token", reason="wrong-typ")

    # ---- refused: tokens ------------------------------------------------
    @timeout(20)
    def test_10_bad_signature(self):
        sid = token_claims(self.stack.token("alice"))["sid"]
        forged = self.stack.mint("alice", sid=sid, key=b"not the key" * 4)
        self.refused("alice", forged, why="token signed with another key",
                     reason="bad-signature")
        # one flipped character in the signature
        tok = self.stack.token("alice")
        bad = tok[:-2] + ("A" if tok[-2] != "A" else "B") + tok[-1]
        self.refused("alice", bad, why="tampered signature")
        # alg none, no signature
        none = self.stack.mint("alice", sid=sid, header={"alg": "none", "typ": "JWT"})
        none = none.rsplit(".", 1)[0] + "."
        self.refused("alice", none, why="alg none", reason="bad-alg")
        self.refused("alice", "not-a-jwt", why="garbage password")

    @timeout(20)
    def test_11_expired_token(self):
        sid = token_claims(self.stack.token("alice"))["sid"]
        now = int(time.time())
        tok = self.stack.mint("alice", sid=sid, iat=now - 120, exp=now - 60)
        self.refused("alice", tok, why="expired token (live session)", reason="expired")

    @timeout(20)
    def test_12_wrong_typ(self):
        sid = token_claims(self.stack.token("alice"))["sid"]
        for typ in ("service", "refresh", ""):
            self.refused("alice", self.stack.mint("alice", sid=sid, typ=typ),
                         why="typ %r" % typ, reason="wrong-typ" if typ else None)

    @timeout(20)
    def test_13_sub_differs_from_username(self):
        tok = self.stack.token("bob")
        self.refused("alice", tok, why="bob's token as alice", reason="sub-mismatch")

    @timeout(20)
    def test_14_revoked_session(self):
        tok = self.stack.revocable_token("alice")
        sid = token_claims(tok)["sid"]
        self.assertEqual(connack(self.port, "alice", tok), 0)
        self.stack.hubctl("session", "revoke", sid)
        time.sleep(1.0)  # the plugin follows the store every refresh_ms
        self.refused("alice", tok, why="token of a revoked session", reason="revoked")

    @timeout(20)
    def test_15_unknown_session_older_than_30s(self):
        now = int(time.time())
        tok = self.stack.mint("alice", sid="Zz" * 11, iat=now - 60, exp=now + 600)
        self.refused("alice", tok, why="unknown sid, iat 60 s ago",
                     reason="unknown-session")

    # ---- refused: identities ---------------------------------------------
    @timeout(20)
    def test_20_anonymous(self):
        for v in (3, 4, 5):
            rc = connack(self.port, None, None, client_id="anon%d" % v, version=v)
            self.assertEqual(rc, REFUSED[v], "anonymous at level %d" % v)
        self.good("anonymous")

    @timeout(20)
    def test_21_empty_username(self):
        tok = self.stack.token("alice")
        # a zero-length username reaches the plugin as NULL: anonymous
        self.refused("", tok, why="empty username", reason="anonymous")

    @timeout(20)
    def test_22_client_id_with_topic_characters(self):
        tok = self.stack.token("alice")
        for cid in ("a/b", "a+b", "a#b", "/", "#"):
            self.refused("alice", tok, client_id=cid, why="client id %r" % cid,
                         reason="bad-client-id")
        # paho, 3.1.1 and 5
        for v in (4, 5):
            c = self.own(MqttClient(self.port, "alice", tok, version=v, client_id="x/y"))
            self.assertEqual(c.connect(), 5 if v == 4 else 0x87)

    @timeout(20)
    def test_23_unknown_username(self):
        self.refused("nobody", self.stack.token("alice"), why="unknown user", reason="unknown-principal")
        self.refused("no body", "x", why="invalid username", reason="bad-username")
        self.refused("x" * 65, "x", why="username over 64 characters")

    @timeout(20)
    def test_24_device_wrong_secret(self):
        self.refused("truck1", self.dev_secret[:-1] + ("a" if self.dev_secret[-1] != "a"
                                                       else "b"), why="wrong device secret", reason="bad-secret")
        self.refused("truck1", self.stack.token("alice"), why="device with a user token")
        self.refused("truck1", None, versions=(5,), why="device without a password",
                     reason="no-password")

    @timeout(20)
    def test_25_password_with_embedded_nul(self):
        tok = self.stack.token("alice")
        self.refused("alice", b"\0" + tok.encode(), why="NUL before the token")
        # 2.0.11 hands plugins a C string: "token\0junk" arrives as "token"
        # and is accepted (documented in docs/broker.md)
        for v in (4, 5):
            self.assertEqual(connack(self.port, "alice", tok.encode() + b"\0junk", version=v), 0)

    @timeout(20)
    def test_30_refusal_codes_are_not_authorized(self):
        """Contract: CONNACK 5 (3.1.1) or 0x86/0x87 (5). 2.0.11 gives 0x87
        for every plugin refusal; the socket gets a CONNACK, not a reset."""
        c = RawClient(self.port)
        try:
            self.assertEqual(c.connect("alice", "wrong", version=5), 0x87)
        finally:
            c.close()
        c = RawClient(self.port)
        try:
            self.assertEqual(c.connect("alice", "wrong", version=4), 5)
        finally:
            c.close()


if __name__ == "__main__":
    harness.broker_main()
