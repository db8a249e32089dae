# SPDX-License-Identifier: MIT
"""Socket.IO and MQTT clients share rooms through the gateway: events both
ways, inbox events, presence (a Socket.IO disconnect gives the same `left`
notice an MQTT subscriber sees for an MQTT client), and logout ending the
socket within 1 s."""
import base64
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, SioClient  # noqa: E402
from mqttraw import RawClient  # noqa: E402


class MqttWatch:
    """A raw MQTT v5 subscriber; wait() finds a message, keeping the rest."""

    def __init__(self, st, user, filters):
        self.c = RawClient(st.ports["mqtt"])
        rc = self.c.connect(user, st.token(user), client_id="watch-%s-%d" % (user, os.getpid()),
                            version=5)
        assert rc == 0, rc
        codes = self.c.subscribe(filters)
        assert all(c < 0x80 for c in codes), codes
        self.kept = []

    def wait(self, pred, timeout=5.0):
        deadline = time.time() + timeout
        while True:
            for m in self.kept:
                if pred(m[0], m[1]):
                    self.kept.remove(m)
                    return m[0], m[1], time.time()
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("no matching MQTT message; kept %r" % self.kept[-10:])
            self.kept += self.c.collect(min(0.1, left))

    def json(self, topic, pred=None, timeout=5.0):
        t, p, at = self.wait(lambda t, p: t == topic and p and
                             (pred is None or pred(json.loads(p))), timeout)
        return json.loads(p), at


class SioMqtt(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack()
        cls.objs = []
        try:
            cls.st.start_broker()
            cls.st.start_hubd()
            for u in ("alice", "bob", "carl", "dora", "ed", "fay"):
                cls.st.add_user(u, rooms={"lobby": "write"})
            cls.st.start_bridge()
        except Exception:
            cls.st.close()
            raise

    @classmethod
    def tearDownClass(cls):
        for o in cls.objs:
            o.close()
        log = cls.st.log("bridge")
        cls.st.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]

    def sio(self, user, opts=None, name=None):
        opts = dict(opts or {})
        opts.setdefault("auth", {"token": self.st.token(user)})
        c = SioClient(self.st.sio_url(), opts, name or user)
        self.objs.append(c)
        c.wait("connect")
        return c

    def watch(self, user, filters):
        w = MqttWatch(self.st, user, filters)
        self.objs.append(w.c)
        return w

    def test_01_socketio_to_mqtt(self):
        w = self.watch("bob", ["rooms/lobby/ev/#"])
        a = self.sio("alice")
        err, args = a.call("chat message", {"text": "from socket.io"})
        self.assertTrue(args[0]["ok"])
        t, p, _ = w.wait(lambda t, p: t.startswith("rooms/lobby/ev/"))
        self.assertEqual(t, "rooms/lobby/ev/chat message/alice")
        self.assertEqual(json.loads(p), {"text": "from socket.io"})

    def test_02_mqtt_to_socketio(self):
        a = self.sio("alice", name="alice-2")
        a.event("presence")
        m = RawClient(self.st.ports["mqtt"])
        self.objs.append(m)
        self.assertEqual(m.connect("bob", self.st.token("bob"), client_id="bob-pub", version=5), 0)
        self.assertEqual(m.publish("rooms/lobby/ev/chat message/bob", b'{"text":"from mqtt"}',
                                   qos=1), 0)
        data, meta = a.event("chat message", lambda x: x[0] == {"text": "from mqtt"})
        self.assertEqual((meta["room"], meta["from"]), ("lobby", "bob"))
        self.assertIsInstance(meta["ts"], int)
        # a payload that is not JSON is binary for Socket.IO (test_sio_args)
        m.publish("rooms/lobby/ev/note/bob", b"plain text", qos=1)
        self.assertEqual(a.event("note")[0], {"$binary": base64.b64encode(b"plain text").decode()})
        # inbox: users/{u}/inbox/{event}/{sender}
        self.assertEqual(m.publish("users/alice/inbox/dm/bob", b'{"hi":1}', qos=1), 0)
        data, meta = a.event("dm")
        self.assertEqual(data, {"hi": 1})
        self.assertEqual(meta["from"], "bob")
        self.assertIsNone(meta["room"])
        self.assertTrue(meta["inbox"])
        m.disconnect()

    def test_03_disconnect_gives_left_notice(self):
        w = self.watch("bob", ["rooms/lobby/sys/+", "rooms/lobby/presence/+"])
        c = self.sio("carl")
        joined, _ = w.json("rooms/lobby/sys/joined", lambda j: j["user"] == "carl")
        self.assertGreaterEqual(joined["online"], 1)
        pres, _ = w.json("rooms/lobby/presence/carl")
        self.assertEqual(pres["user"], "carl")
        t0 = time.time()
        c.cmd(op="disconnect")
        left, at = w.json("rooms/lobby/sys/left", lambda j: j["user"] == "carl")
        self.assertEqual(left["reason"], "clean")
        self.assertLess(at - t0, 2.0)
        # a dropped connection (killed client): reason network
        d = self.sio("dora", {"transports": ["websocket"]})
        w.json("rooms/lobby/sys/joined", lambda j: j["user"] == "dora")
        t0 = time.time()
        d.proc.kill()
        left, at = w.json("rooms/lobby/sys/left", lambda j: j["user"] == "dora", 5)
        self.assertEqual(left["reason"], "network")
        self.assertLess(at - t0, 2.5)

    def test_03b_polling_client_gone_gives_left_at_once(self):
        """A long-polling client that goes away (tab closed, process
        killed) while its GET is parked on a kept-alive connection: the
        gateway sees the socket close, not only the heartbeat 45 s later."""
        w = self.watch("bob", ["rooms/lobby/sys/+"])
        d = self.sio("dora", {"transports": ["polling"]}, "dora-poll")
        w.json("rooms/lobby/sys/joined", lambda j: j["user"] == "dora")
        # its GET is parked after the first exchanges on a reused connection
        c, _ = d.call("chat message", {"n": 1})
        self.assertIsNone(c)
        time.sleep(0.5)
        t0 = time.time()
        d.proc.kill()
        left, at = w.json("rooms/lobby/sys/left", lambda j: j["user"] == "dora", 10)
        self.assertEqual(left["reason"], "network")
        print("  polling client killed: left after %.2f s" % (at - t0), file=sys.stderr)
        self.assertLess(at - t0, 2.0)

    def test_04_socketio_sees_joined_and_left(self):
        a = self.sio("alice", name="alice-4")
        a.event("presence")
        e = self.sio("ed", name="ed-4")
        data, meta = a.event("joined", lambda x: x[0]["user"] == "ed")
        self.assertEqual(meta, {"room": "lobby"})
        e.cmd(op="disconnect")
        data, meta = a.event("left", lambda x: x[0]["user"] == "ed")
        self.assertEqual(data["reason"], "clean")

    def test_05_logout_kicks_the_socket(self):
        w = self.watch("alice", ["rooms/lobby/sys/left"])
        cookie, _, _ = self.st.login("fay")
        b = self.sio("fay", {"auth": {}, "extraHeaders": {"Cookie": "hub_sid=" + cookie}},
                     "fay-cookie")
        b.event("presence")
        time.sleep(0.3)
        r = self.st.http("POST", "/api/logout", cookie=cookie,
                         headers={"Origin": self.st.base_url})
        t0 = time.time()  # the revocation is committed when hubd answers
        self.assertIn(r.status, (200, 204))
        e = b.wait("disconnect", timeout=5)
        self.assertEqual(e["reason"], "io server disconnect")
        self.assertLess(e["t"] - t0, 1.0)
        left, _ = w.json("rooms/lobby/sys/left", lambda j: j["user"] == "fay")
        self.assertEqual(left["reason"], "logout")

    def test_05b_logout_kicks_a_polling_socket_once(self):
        """Over long-polling the server's DISCONNECT comes first and alone:
        the client reports "io server disconnect" (and does not reconnect),
        not a lost transport."""
        cookie, _, _ = self.st.login("fay")
        b = self.sio("fay", {"auth": {}, "transports": ["polling"],
                             "extraHeaders": {"Cookie": "hub_sid=" + cookie}}, "fay-poll")
        b.event("presence")
        time.sleep(0.3)
        r = self.st.http("POST", "/api/logout", cookie=cookie,
                         headers={"Origin": self.st.base_url})
        t0 = time.time()
        self.assertIn(r.status, (200, 204))
        e = b.wait("disconnect", timeout=5)
        self.assertEqual(e["reason"], "io server disconnect")
        self.assertLess(e["t"] - t0, 1.0)
        b.none("disconnect", duration=1.0)
        b.none("connect", duration=0.5)

    def test_06_revoked_token_session_kicks(self):
        # a CLI token's session (hubctl token makes one); hubctl takes a sid
        # starting with '-' for an option, so draw until it does not
        for _ in range(20):
            tok = self.st.token("dora")
            part = tok.split(".")[1]
            sid = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["sid"]
            if not sid.startswith("-"):
                break
        b = self.sio("dora", {"auth": {"token": tok}}, name="dora-6")
        b.event("presence")
        t0 = time.time()
        self.st.hubctl("session", "revoke", sid)
        e = b.wait("disconnect", timeout=5)
        self.assertEqual(e["reason"], "io server disconnect")
        self.assertLess(e["t"] - t0, 1.5)

    def test_07_broker_restart_reattaches(self):
        a = self.sio("alice", {"transports": ["websocket"]}, "alice-7")
        a.event("presence")
        self.st.stop("broker")
        time.sleep(0.3)
        self.st.start_broker()  # same ports and data (retained messages kept)
        # the bridge reconnects (1-2 s) and re-attaches its sockets: the
        # retained presence shows alice again, and events flow both ways
        w = None
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                w = self.watch("bob", ["rooms/lobby/presence/+", "rooms/lobby/ev/#"])
                break
            except Exception:
                time.sleep(0.2)
        self.assertIsNotNone(w)
        pres, _ = w.json("rooms/lobby/presence/alice", timeout=8)
        self.assertEqual(pres["user"], "alice")
        deadline = time.time() + 8
        while True:
            err, args = a.call("chat message", {"text": "after restart"})
            if args[0]["ok"] or time.time() > deadline:
                break
            time.sleep(0.3)
        self.assertTrue(args[0]["ok"], args)
        w.wait(lambda t, p: t == "rooms/lobby/ev/chat message/alice" and b"after restart" in p)
        self.assertIn("connected to the broker", self.st.log("bridge"))

    def test_09_bridge_restart_rebuilds_presence(self):
        """hub-bridge dies (kill -9): its sockets' users leave (network)
        after the grace, the retained presence is cleared (no ghosts); the
        restarted bridge's reconnecting clients are present again."""
        import signal as _signal
        w = self.watch("bob", ["rooms/lobby/sys/+", "rooms/lobby/presence/+"])
        e = self.sio("ed", {"transports": ["websocket"], "reconnection": True,
                            "reconnectionDelay": 300}, name="ed-9")
        w.json("rooms/lobby/sys/joined", lambda j: j["user"] == "ed")
        t0 = time.time()
        self.st.stop("bridge", sig=_signal.SIGKILL)
        left, at = w.json("rooms/lobby/sys/left", lambda j: j["user"] == "ed", 6)
        self.assertEqual(left["reason"], "network")
        self.assertLess(at - t0, 3.0)
        # the retained presence of ed is cleared: an empty retained message
        w.wait(lambda t, p: t == "rooms/lobby/presence/ed" and not p, 3)
        self.st.start_bridge()
        # socket.io-client reconnects by itself; the new bridge attaches it
        joined, _ = w.json("rooms/lobby/sys/joined", lambda j: j["user"] == "ed", 15)
        self.assertGreaterEqual(joined["online"], 1)
        # a late subscriber finds ed present (retained); bob watches anyway,
        # so this adds no presence of its own
        late = self.watch("bob", ["rooms/lobby/presence/+"])
        pres, _ = late.json("rooms/lobby/presence/ed", timeout=5)
        self.assertEqual(pres["user"], "ed")
        late.c.close()
        e.cmd(op="disconnect")

    def test_08_inbox_emit(self):
        self.st.add_user("zed")  # shares no room with anyone
        a = self.sio("alice", name="alice-8")
        b = self.sio("bob", {"transports": ["websocket"]}, name="bob-8")
        err, args = a.call("dm", {"to": "bob", "text": "psst"})
        self.assertEqual(args[0]["ok"], True, args)
        self.assertEqual(args[0]["to"], "bob")
        data, meta = b.event("dm")
        self.assertEqual(data, {"to": "bob", "text": "psst"})
        self.assertEqual((meta["from"], meta["room"], meta["inbox"]), ("alice", None, True))
        err, args = a.call("dm", {"to": "zed", "text": "no"})
        self.assertEqual(args[0]["error"], "forbidden")
        err, args = a.call("dm", {"to": "not a name"})
        self.assertEqual(args[0]["error"], "bad_user")

    def test_99_sigterm_is_graceful(self):
        """SIGTERM: exit 0, the transport closed without a DISCONNECT (the
        client would reconnect: test_sio_restart), presence ends as a
        network end after the grace."""
        w = self.watch("bob", ["rooms/lobby/sys/left"])
        c = self.sio("carl", {"transports": ["websocket"]}, name="carl-99")
        c.event("presence")
        rc = self.st.stop("bridge")
        self.assertEqual(rc, 0)
        self.assertEqual(c.wait("disconnect")["reason"], "transport close")
        left, _ = w.json("rooms/lobby/sys/left", lambda j: j["user"] == "carl", 4)
        self.assertEqual(left["reason"], "network")


if __name__ == "__main__":
    unittest.main(verbosity=2)
