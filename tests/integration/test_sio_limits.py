# SPDX-License-Identifier: MIT
"""Socket.IO gateway limits and hostile input: maxPayload on WebSocket
frames and polling bodies, malformed packets, the per-socket event rate,
the heartbeat ending a silent peer (left notice reason keepalive), CORS
for listed origins only, the cross-site WebSocket refusal when the session
cookie rides along, and Engine.IO protocol errors. Each bad socket ends
alone: a bystander socket keeps working."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, SioClient, RawWs, sio_raw_ws  # noqa: E402
from test_sio_mqtt import MqttWatch  # noqa: E402

PAYLOAD = 4096


class SioLimits(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack(extra_conf={"sio_max_payload": PAYLOAD, "sio_event_rate": 20,
                                   "sio_ping_interval": 1000, "sio_ping_timeout": 500,
                                   "cors_origins": "http://app.example:8000"})
        cls.objs = []
        try:
            cls.st.start_broker()
            cls.st.start_hubd()
            for u in ("alice", "bob", "gus", "hal"):
                cls.st.add_user(u, rooms={"lobby": "write"})
            cls.st.start_bridge()
        except Exception:
            cls.st.close()
            raise
        cls.bystander = SioClient(cls.st.sio_url(), {"auth": {"token": cls.st.token("bob")}},
                                  "bystander")
        cls.objs.append(cls.bystander)
        cls.bystander.wait("connect")

    @classmethod
    def tearDownClass(cls):
        for o in cls.objs:
            o.close()
        log = cls.st.log("bridge")
        cls.st.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]

    def assert_bystander_ok(self, tag):
        """The bystander still gets events from a fresh sender."""
        a = SioClient(self.st.sio_url(), {"auth": {"token": self.st.token("alice")},
                                          "transports": ["websocket"]}, "sender")
        self.objs.append(a)
        a.wait("connect")
        err, args = a.call("chat message", {"tag": tag})
        self.assertTrue(args[0]["ok"], args)
        self.bystander.event("chat message", lambda x: x[0].get("tag") == tag)
        a.close()

    def http(self, method, path, body=None, headers=None, cookie=None):
        return self.st.http(method, path, raw=body, headers=headers, cookie=cookie,
                            port=self.st.ports["sio"])

    def handshake(self, headers=None, cookie=None):
        r = self.http("GET", "/socket.io/?EIO=4&transport=polling&t=1", headers=headers,
                      cookie=cookie)
        self.assertEqual(r.status, 200, r)
        op = json.loads(r.body.decode()[1:])
        return r, op

    def test_00_client_bundles_served(self):
        """Like the Socket.IO server: pages load the client from the gateway
        (<script src="/socket.io/socket.io.js">), the npm package's files."""
        dist = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                            "node_modules", "socket.io-client", "dist")
        for name in ("socket.io.js", "socket.io.min.js", "socket.io.esm.min.js"):
            r = self.http("GET", "/socket.io/" + name)
            self.assertEqual(r.status, 200, name)
            self.assertTrue(r.header("content-type").startswith("application/javascript"))
            with open(os.path.join(dist, name), "rb") as f:
                self.assertEqual(r.body, f.read(), name)
        for name in ("nope.js", "../socket.io.js", "socket.io.msgpack.min.js"):
            self.assertEqual(self.http("GET", "/socket.io/" + name).status, 404, name)

    def test_01_open_packet(self):
        r, op = self.handshake()
        self.assertEqual(op["maxPayload"], PAYLOAD)
        self.assertEqual(op["pingInterval"], 1000)
        self.assertEqual(op["pingTimeout"], 500)
        self.assertEqual(op["upgrades"], ["websocket"])
        self.assertTrue(r.header("content-type").startswith("text/plain"))

    def test_02_oversized_websocket_frame(self):
        ws, op = sio_raw_ws(self.st, self.st.token("alice"))
        ws.send('42["chat message",{"x":"%s"}]' % ("y" * (PAYLOAD + 10)))
        self.assertTrue(ws.closed_within(2.0))
        ws.close()
        self.assert_bystander_ok("after-big-frame")

    def test_03_oversized_polling_body(self):
        _, op = self.handshake()
        sid = op["sid"]
        r = self.http("POST", "/socket.io/?EIO=4&transport=polling&sid=" + sid,
                      body=b"4" + b"x" * (PAYLOAD + 1), headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 413)
        r = self.http("GET", "/socket.io/?EIO=4&transport=polling&sid=" + sid)
        self.assertTrue(r.status == 400 or r.body.endswith(b"1"), r)
        self.assert_bystander_ok("after-big-post")

    def test_04_malformed_packets_end_only_that_socket(self):
        bad = ["4zzz", '42["chat message"', "9", '42{"a":1}', "42[1,2]", '451-["x",{}]',
               "4/admin", "40/x", "2", "5", '42[]', '41{"x":1}', "b" + "A" * 10,
               '42["x",' + "[" * 5000 + "]" * 5000 + "]"]
        for i, pkt in enumerate(bad):
            with self.subTest(pkt=pkt[:30]):
                ws, _ = sio_raw_ws(self.st, self.st.token("alice"))
                ws.send(pkt)
                if pkt.startswith("451-"):
                    # a binary event: refused with an error, the socket lives
                    ws.send(b"\x00\x01", opcode=2)
                    ws.send('421["chat message",{"after":"binary"}]')
                    got = ""
                    while not got.startswith("431"):
                        got = ws.recv_text()
                    self.assertIn('"ok":true', got)
                elif pkt == "40/x":
                    # another namespace: CONNECT_ERROR, the session stays
                    got = ws.recv_text()
                    while got == "2" or got.startswith("42"):
                        got = ws.recv_text()
                    self.assertEqual(got, '44/x,{"message":"Invalid namespace"}')
                    self.assertFalse(ws.closed_within(0.2))
                else:
                    self.assertTrue(ws.closed_within(2.0), pkt[:40])
                ws.close()
        self.assert_bystander_ok("after-malformed")

    def test_05_event_rate_limit(self):
        c = SioClient(self.st.sio_url(), {"auth": {"token": self.st.token("alice")},
                                          "transports": ["websocket"]}, "fast")
        self.objs.append(c)
        c.wait("connect")
        for i in range(40):
            c.emit("chat message", {"n": i})
        warn = c.event("hub:error")
        self.assertEqual(warn[0]["error"], "rate_limited")
        err, args = None, None
        for i in range(30):
            err, args = c.call("chat message", {"m": i})
            if not args[0]["ok"]:
                break
        self.assertEqual(args[0]["error"], "rate_limited")
        # sustained abuse: disconnected
        ws, _ = sio_raw_ws(self.st, self.st.token("alice"))
        for i in range(150):
            ws.send('42["chat message",{"n":%d}]' % i)
        seen41 = False
        try:
            while True:
                t = ws.recv_text(3)
                if t == "41":
                    seen41 = True
        except (ConnectionError, OSError):
            pass
        self.assertTrue(seen41)
        ws.close()

    def test_06_heartbeat_ends_silent_peer(self):
        w = MqttWatch(self.st, "bob", ["rooms/lobby/sys/left"])
        self.objs.append(w.c)
        ws, op = sio_raw_ws(self.st, self.st.token("gus"))
        t0 = time.time()
        # never answer the pings
        self.assertTrue(ws.closed_within(4.0))
        took = time.time() - t0
        self.assertLess(took, 2.5)  # ping at 1 s, pong due 0.5 s later
        t, p, at = w.wait(lambda t, p: json.loads(p)["user"] == "gus", 4)
        self.assertEqual(json.loads(p)["reason"], "keepalive")
        ws.close()

    def test_07_cors(self):
        r, _ = self.handshake({"Origin": "http://app.example:8000"})
        self.assertEqual(r.header("access-control-allow-origin"), "http://app.example:8000")
        self.assertEqual(r.header("access-control-allow-credentials"), "true")
        r, _ = self.handshake({"Origin": "http://evil.example"})
        self.assertIsNone(r.header("access-control-allow-origin"))
        # hubd's own pages (same host, another port) are the same site
        own = "http://127.0.0.1:%d" % self.st.ports["http"]
        r, _ = self.handshake({"Origin": own})
        self.assertEqual(r.header("access-control-allow-origin"), own)
        self.assertEqual(r.header("access-control-allow-credentials"), "true")
        r, _ = self.handshake({"Origin": "http://localhost:%d" % self.st.ports["http"]})
        self.assertIsNone(r.header("access-control-allow-origin"))
        r = self.http("OPTIONS", "/socket.io/?EIO=4&transport=polling",
                      headers={"Origin": "http://app.example:8000",
                               "Access-Control-Request-Method": "POST",
                               "Access-Control-Request-Headers": "content-type"})
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header("access-control-allow-origin"), "http://app.example:8000")
        self.assertIn("POST", r.header("access-control-allow-methods"))
        r = self.http("OPTIONS", "/socket.io/?EIO=4&transport=polling",
                      headers={"Origin": "http://evil.example"})
        self.assertIsNone(r.header("access-control-allow-origin"))

    def test_08_cross_site_cookie_refused(self):
        cookie, _, _ = self.st.login("hal")
        port = self.st.ports["sio"]
        path = "/socket.io/?EIO=4&transport=websocket"
        evil = RawWs(port, path, {"Origin": "http://evil.example",
                                  "Cookie": "hub_sid=" + cookie})
        self.assertNotEqual(evil.status, 101)
        evil.close()
        r = self.http("GET", "/socket.io/?EIO=4&transport=polling",
                      headers={"Origin": "http://evil.example"}, cookie=cookie)
        self.assertEqual(r.status, 403)
        # the dashboard's page on hubd's port: the browser's cookie works
        own = "http://127.0.0.1:%d" % self.st.ports["http"]
        r = self.http("GET", "/socket.io/?EIO=4&transport=polling",
                      headers={"Origin": own}, cookie=cookie)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("access-control-allow-origin"), own)
        # same origin, or a listed one, with the cookie: fine
        for origin in ("http://127.0.0.1:%d" % port, "http://app.example:8000"):
            ok = RawWs(port, path, {"Origin": origin, "Cookie": "hub_sid=" + cookie})
            self.assertEqual(ok.status, 101, origin)
            json.loads(ok.recv_text()[1:])
            ok.send("40")
            self.assertTrue(ok.recv_text().startswith("40{"))
            ok.close()
        # another site without the cookie (token auth) is not refused
        tok = RawWs(port, path, {"Origin": "http://evil.example"})
        self.assertEqual(tok.status, 101)
        tok.close()

    def test_09_protocol_errors(self):
        r = self.http("GET", "/socket.io/?EIO=3&transport=polling")
        self.assertEqual((r.status, r.json()["code"]), (400, 5))
        r = self.http("GET", "/socket.io/?EIO=4&transport=polling&sid=nope")
        self.assertEqual((r.status, r.json()["code"]), (400, 1))
        r = self.http("GET", "/socket.io/?EIO=4&transport=carrier-pigeon")
        self.assertEqual((r.status, r.json()["code"]), (400, 0))
        r = self.http("POST", "/socket.io/?EIO=4&transport=polling", body=b"40")
        self.assertEqual((r.status, r.json()["code"]), (400, 2))
        r = self.http("GET", "/elsewhere")
        self.assertEqual(r.status, 404)
        # two GETs at once on one session: refused, the session ends
        _, op = self.handshake()
        import threading
        res = {}
        t = threading.Thread(target=lambda: res.setdefault("first", self.http(
            "GET", "/socket.io/?EIO=4&transport=polling&sid=" + op["sid"])))
        t.start()
        time.sleep(0.2)
        r = self.http("GET", "/socket.io/?EIO=4&transport=polling&sid=" + op["sid"])
        self.assertEqual(r.status, 400)
        t.join(5)
        self.assertTrue(res["first"].body.endswith(b"1"), res["first"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
