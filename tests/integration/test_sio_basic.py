# SPDX-License-Identifier: MIT
"""Socket.IO gateway with the stock socket.io-client 4.x (Node): transports
(default polling+upgrade, websocket-only, polling-only), token and cookie
auth, refusal as connect_error 'unauthorized', join/leave with acks, events
between two Socket.IO clients, acks with timeout(), and the refusals the
gateway documents (forbidden, no_room, binary accepted, namespaces).
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, SioClient, sio_connected  # noqa: E402


class SioBasic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack()
        cls.clients = []
        try:
            cls.st.start_broker()
            cls.st.start_hubd()
            cls.st.add_user("alice", rooms={"lobby": "write", "team": "write"})
            cls.st.add_user("bob", rooms={"lobby": "write"})
            cls.st.add_user("carol", rooms={"lobby": "read"})
            cls.st.add_user("dave")
            cls.st.hubctl("room", "add", "secret")
            cls.st.start_bridge()
        except Exception:
            cls.st.close()
            raise
        cls.url = cls.st.sio_url()

    @classmethod
    def tearDownClass(cls):
        for c in cls.clients:
            c.close()
        log = cls.st.log("bridge")
        cls.st.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]

    def client(self, user=None, opts=None, name=None, token=None):
        opts = dict(opts or {})
        if user:
            opts["auth"] = {"token": token or self.st.token(user)}
        c = SioClient(self.url, opts, name or user or "anon")
        self.clients.append(c)
        return c

    def connected(self, user, opts=None, name=None):
        c = self.client(user, opts, name)
        c.wait("connect")
        return c

    # ---- transports -------------------------------------------------------
    def test_01_default_transport_upgrades(self):
        c = self.connected("alice")
        self.assertEqual(c.wait("upgrade")["transport"], "websocket")
        err, args = c.call("join", "team")
        self.assertIsNone(err)
        self.assertEqual(args, [{"ok": True, "room": "team"}])

    def test_02_websocket_only(self):
        c = self.connected("alice", {"transports": ["websocket"]})
        self.assertEqual(c.seen[0]["transport"], "websocket")
        p = c.event("presence")
        self.assertEqual(p[0]["room"], "lobby")
        self.assertIn("users", p[0])

    def test_03_polling_only_round_trip(self):
        a = self.connected("alice", {"transports": ["polling"]}, "alice-poll")
        b = self.connected("bob", {"transports": ["polling"]}, "bob-poll")
        self.assertEqual(a.seen[0]["transport"], "polling")
        b.event("presence")
        err, args = a.call("chat message", {"text": "over polling"})
        self.assertIsNone(err)
        self.assertTrue(args[0]["ok"])
        data, meta = b.event("chat message", lambda a: a[0].get("text") == "over polling")
        self.assertEqual(meta["room"], "lobby")
        self.assertEqual(meta["from"], "alice")

    # ---- auth -------------------------------------------------------------
    def test_04_cookie_auth_from_real_login(self):
        cookie, _, body = self.st.login("bob")
        self.assertTrue(cookie)
        c = self.client(None, {"extraHeaders": {"Cookie": "hub_sid=" + cookie}}, "bob-cookie")
        c.wait("connect")
        other = self.connected("alice", name="alice-4")
        err, _ = other.call("chat message", {"text": "to bob's cookie socket"})
        self.assertIsNone(err)
        data, meta = c.event("chat message", lambda a: a[0]["text"] == "to bob's cookie socket")
        self.assertEqual(meta["from"], "alice")

    def test_05_refused_unauthorized(self):
        cases = [("no credentials", {}),
                 ("bad token", {"auth": {"token": "not.a.token"}}),
                 ("bad cookie", {"extraHeaders": {"Cookie": "hub_sid=" + "A" * 43}}),
                 ("websocket, no credentials", {"transports": ["websocket"]})]
        cookie, _, _ = self.st.login("bob")
        self.st.http("POST", "/api/logout", cookie=cookie,
                     headers={"Origin": self.st.base_url})
        cases.append(("logged-out cookie", {"extraHeaders": {"Cookie": "hub_sid=" + cookie}}))
        for what, opts in cases:
            with self.subTest(what):
                c = self.client(None, opts, what)
                e = c.wait("connect_error")
                self.assertEqual(e["message"], "unauthorized")
                c.none("event", duration=0.3)  # no presence, no room
        self.assertIn("| connect | denied", self.st.log("bridge"))

    def test_06_token_of_deleted_user_refused(self):
        self.st.add_user("erin", rooms={"lobby": "read"})
        tok = self.st.token("erin")
        self.st.hubctl("user", "del", "erin", "--yes")
        time.sleep(0.5)  # the follower shows the deletion
        c = self.client("erin", token=tok)
        self.assertEqual(c.wait("connect_error")["message"], "unauthorized")

    def test_07_namespace_refused(self):
        c = SioClient(self.url + "/admin", {"auth": {"token": self.st.token("alice")}}, "nsp")
        self.clients.append(c)
        self.assertEqual(c.wait("connect_error")["message"], "Invalid namespace")

    # ---- rooms ------------------------------------------------------------
    def test_08_join_leave_acks(self):
        b = self.connected("bob", name="bob-8")
        err, args = b.call("join", "secret")
        self.assertIsNone(err)
        self.assertEqual(args[0]["ok"], False)
        self.assertEqual(args[0]["error"], "forbidden")
        err, args = b.call("join", "team")
        self.assertEqual(args[0]["error"], "forbidden")
        err, args = b.call("join", "no/such room")
        self.assertEqual(args[0]["error"], "bad_room")
        err, args = b.call("join", {"room": "lobby"})
        self.assertEqual(args, [{"ok": True, "room": "lobby"}])
        p = b.event("presence", lambda a: a[0]["room"] == "lobby")
        self.assertIn("online", p[0])
        err, args = b.call("leave", "lobby")
        self.assertEqual(args, [{"ok": True, "room": "lobby"}])
        err, args = b.call("leave", "lobby")
        self.assertEqual(args[0]["error"], "not_joined")
        # no current room any more
        err, args = b.call("chat message", {"text": "x"})
        self.assertEqual(args[0]["error"], "no_room")

    # ---- events -----------------------------------------------------------
    def test_09_events_between_two_socketio_clients(self):
        a = self.connected("alice", name="alice-9")
        a2 = self.connected("alice", name="alice-9b")
        b = self.connected("bob", name="bob-9")
        for c in (a, a2, b):
            c.event("presence")
        err, args = a.call("chat message", {"text": "hello bob"})
        self.assertIsNone(err)
        self.assertEqual(args[0]["ok"], True)
        self.assertEqual(args[0]["room"], "lobby")
        self.assertIsInstance(args[0]["ts"], int)
        data, meta = b.event("chat message", lambda x: x[0]["text"] == "hello bob")
        self.assertEqual(data, {"text": "hello bob"})
        self.assertEqual(set(meta), {"room", "from", "ts"})
        self.assertEqual((meta["room"], meta["from"]), ("lobby", "alice"))
        # the other socket of the same user gets it; the sender does not
        a2.event("chat message", lambda x: x[0]["text"] == "hello bob")
        a.none("event", lambda e: e["name"] == "chat message", 0.5)
        # data.room picks the room; bob is not in team
        err, args = a2.call("join", "team")
        err, args = a.call("typing", {"room": "team", "on": True})
        self.assertEqual(args[0]["room"], "team")
        a2.event("typing", lambda x: x[0]["room"] == "team")
        b.none("event", lambda e: e["name"] == "typing", 0.5)
        # plain values and no-ack emits
        a.emit("counter", 42)
        self.assertEqual(b.event("counter")[0], 42)

    def test_10_acks_with_timeout_and_errors(self):
        a = self.connected("alice", name="alice-10")
        err, args = a.call("chat message", {"text": "t"}, timeout=2000)
        self.assertIsNone(err)
        self.assertTrue(args[0]["ok"])
        # several arguments are one event (test_sio_args covers them)
        err, args = a.call("chat message", 1, 2)
        self.assertTrue(args[0]["ok"], args)
        carol = self.connected("carol", name="carol-10")
        b = self.connected("bob", name="bob-10")
        b.event("presence")
        err, args = carol.call("chat message", {"text": "read only"})
        self.assertEqual(args[0]["error"], "forbidden")
        b.none("event", lambda e: e["name"] == "chat message" and
               e["args"][0].get("text") == "read only", 0.5)
        dave = self.connected("dave", name="dave-10")
        err, args = dave.call("chat message", {"text": "nowhere"})
        self.assertEqual(args[0]["error"], "no_room")
        err, args = dave.call("chat message", {"room": "lobby", "text": "x"})
        self.assertEqual(args[0]["error"], "forbidden")

    def test_11_binary_accepted(self):
        a = self.connected("alice", name="alice-11")
        err, args = a.call("file", {"$binary": "aGVsbG8="})
        self.assertIsNone(err)
        self.assertTrue(args[0]["ok"], args)
        # the socket goes on
        err, args = a.call("chat message", {"text": "after binary"})
        self.assertTrue(args[0]["ok"])

    def test_12_client_disconnect(self):
        a = self.connected("alice", name="alice-12")
        a.cmd(op="disconnect")
        self.assertEqual(a.wait("disconnect")["reason"], "io client disconnect")
        deadline = time.time() + 3
        while time.time() < deadline and "| disconnect | reason=clean" not in self.st.log("bridge"):
            time.sleep(0.05)
        self.assertIn("| disconnect | reason=clean", self.st.log("bridge"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
