#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hubd and hub-bridge on two nodes behind HAProxy (conf/haproxy/hub.cfg,
docs/scaling.md), over three brokers joined by bridges: Socket.IO works
through the balancer on polling (sticky by the sid's node tag) and on
WebSocket, sessions are spread over both gateways, events cross from one
gateway's socket to the other's once; logins through the balancer land on
either hubd and the session works on both; presence is one per user across
gateways and brokers (a Socket.IO socket on one gateway and an MQTT
connection on another edge are one presence).
"""
import os
import re
import shutil
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MqttClient, SioClient, timeout, wait_until  # noqa: E402
from nodes import Nodes  # noqa: E402


@unittest.skipUnless(shutil.which("haproxy"), "haproxy not installed (scripts/deps)")
class LbTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        extra = {n: {"sio_sid_tag": n, "trust_proxy": "true"} for n in ("n1", "n2")}
        cls.ns = Nodes(edges=("n1", "n2", "n3"), node_extra=extra)
        cls.clients = []
        try:
            for u in ("alice", "bob", "carol", "dave"):
                cls.ns.add_user(u, rooms={"lobby": "write"})
            cls.ns.add_user("erin", rooms={"plaza": "write"})
            cls.ns.add_user("fred", rooms={"plaza": "write"})
            cls.ns.start_all(services=[("hubd", "n1"), ("hubd", "n2"),
                                       ("bridge", "n1"), ("bridge", "n2")])
            cls.ns.start_haproxy()
            cls.url = "http://127.0.0.1:%d" % cls.ns.ports["lb_sio"]
        except Exception:
            print(cls.ns.log("haproxy")[-2000:], file=sys.stderr)
            cls.ns.close()
            raise

    @classmethod
    def tearDownClass(cls):
        for c in cls.clients:
            c.close()
        cls.ns.close()

    def client(self, user, transports, url=None):
        c = SioClient(url or self.url, {"auth": {"token": self.ns.token(user)},
                                        "transports": transports}, user)
        self.clients.append(c)
        c.wait("connect", timeout=15)
        return c

    def opened(self, node):
        return len(re.findall(r'msg="engine.io open" sid=' + node + r"\.",
                              self.ns.log("bridge-" + node)))

    @timeout(90)
    def test_01_polling_sticky_and_spread(self):
        """Four polling-only clients through the balancer: handshakes go to
        both gateways, every later request of a session to its own
        (a request at the other would fail: unknown sid), and events
        cross between the gateways' sockets exactly once."""
        before = {n: self.opened(n) for n in ("n1", "n2")}
        cs = [self.client(u, ["polling"]) for u in ("alice", "bob", "carol", "dave")]
        for c in cs:
            self.assertEqual(c.seen[0]["transport"], "polling")
        got = {n: self.opened(n) - before[n] for n in ("n1", "n2")}
        self.assertGreaterEqual(got["n1"], 1, got)
        self.assertGreaterEqual(got["n2"], 1, got)
        for c in cs:
            err, args = c.call("join", "lobby")
            self.assertIsNone(err)
        time.sleep(0.3)
        for i, c in enumerate(cs):
            c.emit("chat message", {"room": "lobby", "content": "m%d" % i})
        for i, c in enumerate(cs):
            for j in range(len(cs)):
                if j == i:
                    continue
                c.event("chat message", lambda a, j=j: a[0].get("content") == "m%d" % j,
                        timeout=10)
        for c in cs:
            c.none("event", lambda e: e["name"] == "chat message", 0.5)
            self.assertNotIn("disconnect", [e["ev"] for e in c.seen])

    @timeout(60)
    def test_02_websocket_and_upgrade(self):
        """WebSocket only, and the default polling-then-upgrade, through
        the balancer."""
        w = self.client("alice", ["websocket"])
        self.assertEqual(w.seen[0]["transport"], "websocket")
        u = self.client("bob", ["polling", "websocket"])
        self.assertEqual(u.wait("upgrade", timeout=15)["transport"], "websocket")
        for c in (w, u):
            err, _ = c.call("join", "lobby")
            self.assertIsNone(err)
        time.sleep(0.3)
        w.emit("chat message", {"room": "lobby", "content": "over-ws"})
        u.event("chat message", lambda a: a[0].get("content") == "over-ws")

    @timeout(60)
    def test_03_login_through_the_balancer(self):
        """A login through the balancer's origin works on either hubd (one
        shared store), and its cookie opens Socket.IO at that origin."""
        port = self.ns.ports["http"]
        self.ns.ports["http"] = self.ns.ports["lb_http"]
        try:
            cookie, token, _ = self.ns.login("carol")
            seen = set()
            for _ in range(4):
                r = self.ns.http("GET", "/api/session", cookie=cookie)
                self.assertEqual(r.status, 200, r)
            for n in ("n1", "n2"):
                r = self.ns.http_at(n, "GET", "/api/session", cookie=cookie)
                self.assertEqual(r.status, 200, (n, r))
                seen.add(n)
        finally:
            self.ns.ports["http"] = port
        c = self.client("carol", ["polling"],
                        url="http://127.0.0.1:%d" % self.ns.ports["lb_http"])
        err, _ = c.call("join", "lobby")
        self.assertIsNone(err)

    @timeout(90)
    def test_04_presence_across_gateways_and_brokers(self):
        """fred watches room plaza from gateway n2. erin joins it from
        gateway n1 (one `joined`, online 2), then also connects over MQTT
        to edge n3: still one presence (no second `joined`). Her socket
        leaves: no `left` while her MQTT connection is there; it ends:
        one `left`, online 1, reason clean."""
        fred = self.client("fred", ["websocket"],
                           url="http://127.0.0.1:%d" % self.ns.node_ports["n2"]["sio"])
        err, _ = fred.call("join", "plaza")
        self.assertIsNone(err)
        fred.event("presence")
        erin = self.client("erin", ["websocket"],
                           url="http://127.0.0.1:%d" % self.ns.node_ports["n1"]["sio"])
        err, _ = erin.call("join", "plaza")
        self.assertIsNone(err)
        j = fred.event("joined", lambda a: a[0].get("user") == "erin")[0]
        self.assertEqual(j["online"], 2)
        mq = MqttClient(self.ns.mqtt("n3"), "erin", self.ns.token("erin"), version=5)
        self.clients.append(mq)
        self.assertEqual(mq.connect(), 0)
        fred.none("event", lambda e: e["name"] in ("joined", "left"), 1.0)
        erin.cmd(op="disconnect")
        erin.wait("disconnect", timeout=5)
        # past presence_grace_ms (<= 1.5 s) and the contract's 2 s
        fred.none("event", lambda e: e["name"] in ("joined", "left"), 2.5)
        mq.disconnect()
        j = fred.event("left", lambda a: a[0].get("user") == "erin", timeout=5)[0]
        self.assertEqual((j["online"], j.get("reason")), (1, "clean"))
        fred.none("event", lambda e: e["name"] in ("joined", "left"), 1.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
