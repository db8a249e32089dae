#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Socket.IO on hubd's origin (CONTRACT.md "Browser path"; hub/sioproxy.c):
hubd's port serves /socket.io/ (the client bundle, Engine.IO polling and the
WebSocket transport) by relaying to hub-bridge, with the real broker,
hub-bridge and hubd, and the stock socket.io-client (js/sio_driver.mjs).

  - the bundle and a polling handshake through hubd;
  - a socket of io(hubd's URL) authenticated by the session cookie alone,
    polling then upgraded, and one WebSocket-only; events both ways with
    a socket on the gateway's own port, binaries of 600 KB intact;
  - the cookie from a foreign origin: 403 (polling and WebSocket);
  - hub-bridge counts each browser under its own address (X-Forwarded-For
    of hubd's requests, marked with hubd's tag), and trusts no one else's
    X-Forwarded-For.
"""
import base64
import http.client
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Stack, SioClient, sio_connected, timeout, wait_until  # noqa: E402


def get(port, path, headers=None, src=None):
    """One GET from source address src; (status, headers dict, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                      source_address=(src, 0) if src else None)
    conn.request("GET", path, headers=headers or {})
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    conn.close()
    return out


HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


class FrontSio(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack(extra_conf={"sio_pending_per_addr": 2})
        try:
            for u in ("alice", "bob"):
                cls.st.add_user(u, rooms={"lobby": "write"})
            cls.st.start_broker()
            cls.st.start_bridge()
            cls.st.start_hubd()
        except Exception:
            cls.st.close()
            raise
        cls.base = cls.st.base_url
        cls.origin = cls.base

    @classmethod
    def tearDownClass(cls):
        log = cls.st.log("bridge") + cls.st.log("hubd")
        cls.st.close()
        assert "AddressSanitizer" not in log

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()

    def client(self, url, opts, name):
        c = SioClient(url, opts, name)
        self.clients.append(c)
        return c

    @timeout(30)
    def test_01_bundle_and_handshake(self):
        """/socket.io/socket.io.js on hubd is the gateway's bundle; a
        polling handshake through hubd opens an Engine.IO session."""
        s1, h1, b1 = get(self.st.ports["http"], "/socket.io/socket.io.js")
        s2, h2, b2 = get(self.st.ports["sio"], "/socket.io/socket.io.js")
        self.assertEqual((s1, s2), (200, 200))
        self.assertEqual(b1, b2)
        self.assertGreater(len(b1), 10000)
        self.assertTrue(h1["content-type"].startswith("application/javascript"), h1)
        self.assertEqual(h1.get("cache-control"), "public, max-age=3600")
        self.assertEqual(h1.get("x-content-type-options"), "nosniff")
        s, h, b = get(self.st.ports["http"], HANDSHAKE)
        self.assertEqual(s, 200, b)
        self.assertTrue(b.startswith(b"0{"), b)
        self.assertIn("sid", json.loads(b[1:]))
        s, _, b = get(self.st.ports["http"], "/socket.io/?EIO=3&transport=polling")
        self.assertEqual(s, 400, b)  # the gateway's own answer, relayed

    @timeout(60)
    def test_02_cookie_socket_through_hubd(self):
        """io(hubd's URL) with the session cookie alone: polling, then the
        upgrade to WebSocket through hubd; events both ways with a socket
        on the gateway's port, a 600 KB binary intact; and a
        WebSocket-only socket."""
        cookie, _, _ = self.st.login("alice")
        hdrs = {"Cookie": "hub_sid=" + cookie, "Origin": self.origin}
        a = self.client(self.base, {"extraHeaders": hdrs}, "a")
        a.wait("connect", timeout=10)  # (polling, or upgraded already)
        self.assertEqual(a.wait("upgrade", timeout=10)["transport"], "websocket")
        b = sio_connected(self.st.sio_url(), {"auth": {"token": self.st.token("bob")}}, "b")
        self.clients.append(b)
        b.cmd(op="on", event="chat message")
        a.cmd(op="on", event="chat message")
        time.sleep(0.3)
        err, args = a.call("chat message", {"room": "lobby", "text": "from hubd's origin"})
        self.assertIsNone(err)
        self.assertEqual(args[0]["ok"], True, args)
        got = b.event("chat message")
        self.assertEqual(got[0], {"room": "lobby", "text": "from hubd's origin"})
        self.assertEqual(got[1]["from"], "alice")
        blob = os.urandom(600000)
        err, args = b.call("chat message", {"room": "lobby"},
                           {"$binary": base64.b64encode(blob).decode()})
        self.assertIsNone(err)
        got = a.event("chat message")
        self.assertEqual(base64.b64decode(got[1]["$binary"]), blob)
        ws = self.client(self.base, {"extraHeaders": hdrs, "transports": ["websocket"]}, "ws")
        self.assertEqual(ws.wait("connect", timeout=10)["transport"], "websocket")
        self.assertIn("via=cookie transport=polling", self.st.log("bridge"))
        self.assertIn("via=cookie transport=websocket", self.st.log("bridge"))

    @timeout(30)
    def test_03_foreign_origin_with_cookie(self):
        """The session cookie from another site: 403 at hubd, polling and
        WebSocket alike; without the cookie the gateway decides (it wants
        a token then)."""
        cookie, _, _ = self.st.login("bob")
        evil = {"Cookie": "hub_sid=" + cookie, "Origin": "http://evil.example"}
        s, _, b = get(self.st.ports["http"], HANDSHAKE, evil)
        self.assertEqual(s, 403, b)
        self.assertEqual(json.loads(b)["error"], "forbidden_origin")
        w = harness.WsSock(self.st.ports["http"], "/socket.io/?EIO=4&transport=websocket",
                           evil, protocol=None)
        self.assertEqual(w.status, 403)
        w.close()
        s, _, _ = get(self.st.ports["http"], HANDSHAKE, {"Origin": "http://evil.example"})
        self.assertEqual(s, 200)

    @timeout(40)
    def test_04_gateway_sees_the_browser_address(self):
        """sio_pending_per_addr is 2: through hubd, two handshakes from
        127.0.0.31 and two from 127.0.0.32 are all admitted (each counted
        under its own address, not hubd's), a third from .31 gets the
        gateway's 503. A request straight to the gateway with
        X-Forwarded-For (and a made-up tag) is counted under its real
        address: afterwards .36 still has both places through hubd."""
        # earlier tests' unauthenticated sessions from 127.0.0.1 do not matter
        for src in ("127.0.0.31", "127.0.0.32", "127.0.0.31", "127.0.0.32"):
            s, _, b = get(self.st.ports["http"], HANDSHAKE, src=src)
            self.assertEqual(s, 200, (src, b))
        s, h, b = get(self.st.ports["http"], HANDSHAKE, src="127.0.0.31")
        self.assertEqual(s, 503, b)
        self.assertIn(b"Too many unauthenticated sessions", b)
        self.assertIn("retry-after", h)
        self.assertIn("addr=127.0.0.31 max=2", self.st.log("bridge"))
        forged = {"X-Forwarded-For": "127.0.0.36", "X-Hub-Front": "x" * 43}
        for _ in range(2):
            s, _, b = get(self.st.ports["sio"], HANDSHAKE, forged, src="127.0.0.35")
            self.assertEqual(s, 200, b)
        for _ in range(2):
            s, _, b = get(self.st.ports["http"], HANDSHAKE, src="127.0.0.36")
            self.assertEqual(s, 200, b)


if __name__ == "__main__":
    unittest.main(verbosity=2)
