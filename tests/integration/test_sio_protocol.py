# SPDX-License-Identifier: MIT
"""hub-bridge's HTTP and Engine.IO protocol edges, checked with raw bytes
(issue 11, items 8c and 13), as the official engine.io-protocol test suite
and RFC 6455 / RFC 9112 expect them:

  01 HEAD of the client bundle answers like GET, without a body
  02 a reply that ends its connection says "Connection: close" (a request
     asking for it, HTTP/1.0); kept-alive connections serve several requests
  03 keep-alive clients (Node's http.Agent, Node's fetch) doing many
     sequential requests, half of them with "Connection: close": none fails
  04 refused WebSocket upgrades get an HTTP status and an Engine.IO error
     (bad EIO, bad transport, unknown sid, a cross-site cookie, a full
     address), then the connection closes; a second WebSocket on a session
     is accepted and closed at once, the first goes on
  05 a second polling POST while one is in flight: 400, the session ends
  06 an invalid polling packet: 400 at once, and the session is gone
  07 a client's own close answers its parked GET with a noop; overlapping
     GETs: the parked one gets the close, the other 400, then 400
  08 a session gets 4 refused CONNECTs, then it ends
"""
import json
import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import NODE_DIR, REPO, RawWs, Stack  # noqa: E402

EIO = "/socket.io/?EIO=4&transport=polling"


class RawHttp:
    """One TCP connection for exact HTTP/1.x exchanges."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buf += chunk

    def response(self, head_only=False):
        """(status, {header: value}, body) of the next response."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = 0 if head_only else int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def closed(self, timeout=3.0):
        """True when the server closes the connection within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        self.sock.close()


def request(method, path, port, headers=None, body=b"", version="HTTP/1.1"):
    hdrs = {"Host": "127.0.0.1:%d" % port}
    hdrs.update(headers or {})
    if body or method == "POST":
        hdrs["Content-Length"] = str(len(body))
    text = "%s %s %s\r\n" % (method, path, version)
    text += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
    return text.encode() + body


class SioProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack(extra_conf={"sio_pending_per_addr": 64})
        try:
            cls.st.start_broker()
            cls.st.start_hubd()
            cls.st.add_user("alice", rooms={"lobby": "write"})
            cls.st.start_bridge()
        except Exception:
            cls.st.close()
            raise
        cls.port = cls.st.ports["sio"]

    @classmethod
    def tearDownClass(cls):
        log = cls.st.log("bridge")
        cls.st.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]

    def http(self, method, path, body=None, headers=None):
        return self.st.http(method, path, raw=body, headers=headers, port=self.port)

    def handshake(self):
        r = self.http("GET", EIO)
        self.assertEqual(r.status, 200, r)
        return json.loads(r.body.decode()[1:])["sid"]

    def test_01_head_client_bundle(self):
        get = self.http("GET", "/socket.io/socket.io.js")
        self.assertEqual(get.status, 200)
        c = RawHttp(self.port)
        c.send(request("HEAD", "/socket.io/socket.io.js", self.port))
        status, hdrs, body = c.response(head_only=True)
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("application/javascript"), hdrs)
        self.assertEqual(int(hdrs["content-length"]), len(get.body))
        self.assertEqual(hdrs.get("cache-control"), get.header("cache-control"))
        # no body follows: the next request on the connection is answered
        c.send(request("HEAD", "/socket.io/nope.js", self.port))
        status, hdrs, body = c.response(head_only=True)
        self.assertEqual(status, 404)
        self.assertFalse(c.closed(0.3))
        self.assertEqual(c.buf, b"")
        c.close()

    def test_02_connection_close_said(self):
        cases = [
            ("GET", EIO + "&sid=nope", {"Connection": "close"}, "HTTP/1.1"),
            ("GET", EIO, {"Connection": "close"}, "HTTP/1.1"),
            ("GET", "/socket.io/socket.io.min.js", {"Connection": "Close"}, "HTTP/1.1"),
            ("GET", "/elsewhere", {"Connection": "close, TE"}, "HTTP/1.1"),
            ("OPTIONS", EIO, {"Connection": "close"}, "HTTP/1.1"),
            ("GET", EIO + "&sid=nope", {}, "HTTP/1.0"),
        ]
        for method, path, hdrs, version in cases:
            with self.subTest(method=method, path=path, version=version):
                c = RawHttp(self.port)
                c.send(request(method, path, self.port, hdrs, version=version))
                status, rh, _ = c.response()
                self.assertEqual(rh.get("connection", "").lower(), "close", (status, rh))
                self.assertTrue(c.closed(), "the server keeps the connection")
                c.close()
        # HTTP/1.0 asking for keep-alive is told so and kept
        c = RawHttp(self.port)
        c.send(request("GET", EIO + "&sid=nope", self.port, {"Connection": "keep-alive"},
                       version="HTTP/1.0"))
        _, rh, _ = c.response()
        self.assertEqual(rh.get("connection", "").lower(), "keep-alive")
        c.send(request("GET", EIO + "&sid=nope", self.port, {"Connection": "keep-alive"},
                       version="HTTP/1.0"))
        self.assertEqual(c.response()[0], 400)
        c.close()
        # HTTP/1.1 keep-alive: several requests, no close announced
        c = RawHttp(self.port)
        for i in range(3):
            c.send(request("GET", EIO + "&sid=nope", self.port))
            status, rh, body = c.response()
            self.assertEqual((status, json.loads(body)["code"]), (400, 1))
            self.assertNotEqual(rh.get("connection", "").lower(), "close")
        c.close()
        # a parked GET asking to close is answered with the close said
        sid = self.handshake()
        c = RawHttp(self.port)
        c.send(request("GET", EIO + "&sid=" + sid, self.port, {"Connection": "close"}))
        self.parked(sid)
        self.http("POST", EIO + "&sid=" + sid, body=b"1")  # the client closes: noop
        status, rh, body = c.response()
        self.assertEqual((status, body), (200, b"6"))
        self.assertEqual(rh.get("connection", "").lower(), "close")
        self.assertTrue(c.closed())
        c.close()

    def test_03_node_keep_alive_clients(self):
        """Node 19+'s keep-alive agents: many sequential requests, every other
        one with Connection: close, none fails with "socket hang up"."""
        p = subprocess.run(["node", os.path.join(NODE_DIR, "sio_keepalive.mjs"),
                            json.dumps({"url": self.st.sio_url(), "n": 60})],
                           cwd=REPO, capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr[-2000:])
        res = json.loads(p.stdout.strip().splitlines()[-1])
        print("  keep-alive clients: %r" % res, file=sys.stderr)
        for client in ("agent", "fetch"):
            self.assertEqual(res[client]["failed"], 0, res[client])
            self.assertEqual(res[client]["ok"], 60)

    def upgrade(self, path, headers=None):
        """A WebSocket upgrade: (status, headers, body, closed)."""
        c = RawHttp(self.port)
        hdrs = {"Upgrade": "websocket", "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13"}
        hdrs.update(headers or {})
        c.send(request("GET", path, self.port, hdrs))
        try:
            status, rh, body = c.response()
        except (ConnectionError, OSError):
            c.close()
            return 0, {}, b"", True
        closed = status != 101 and c.closed()
        c.close()
        return status, rh, body, closed

    def test_04_refused_upgrades_answered(self):
        sid = self.handshake()
        # a WebSocket on the session (probing), then a second one
        first = RawWs(self.port, "/socket.io/?EIO=4&transport=websocket&sid=" + sid)
        self.assertEqual(first.status, 101)
        cookie, _, _ = self.st.login("alice")
        ws = "/socket.io/?EIO=4&transport=websocket"
        cases = [
            ("bad EIO", "/socket.io/?EIO=3&transport=websocket", {}, 400, 5),
            ("no EIO", "/socket.io/?transport=websocket", {}, 400, 5),
            ("bad transport", "/socket.io/?EIO=4&transport=abc", {}, 400, 0),
            ("polling transport", "/socket.io/?EIO=4&transport=polling", {}, 400, 3),
            ("unknown sid", ws + "&sid=nope", {}, 400, 1),
            ("cross-site cookie", ws, {"Origin": "http://evil.example",
                                      "Cookie": "hub_sid=" + cookie}, 403, 4),
            ("wrong path", "/elsewhere/?EIO=4&transport=websocket", {}, 404, 0),
        ]
        for what, path, hdrs, status, code in cases:
            with self.subTest(what):
                got, rh, body, closed = self.upgrade(path, hdrs)
                self.assertEqual(got, status, (what, got, rh, body))
                self.assertEqual(json.loads(body)["code"], code)
                self.assertEqual(rh.get("connection", "").lower(), "close")
                self.assertTrue(closed, "connection left open")
        # a second WebSocket on a session that has one is not refused at
        # the upgrade: it is accepted and closed at once (a close frame,
        # 1008), as the Node server does, and the first goes on (the
        # engine.io-protocol suite's "ignores WebSocket connection with
        # same sid after upgrade")
        second = RawWs(self.port, ws + "&sid=" + sid)
        self.assertEqual(second.status, 101)
        op, data = second.recv()
        self.assertEqual((op, int.from_bytes(data[:2], "big")), (8, 1008))
        second.close()
        first.send("2probe")
        self.assertEqual(first.recv_text(), "3probe")
        first.close()
        # upgrades on a session still work after all that
        sid = self.handshake()
        ok = RawWs(self.port, ws + "&sid=" + sid)
        self.assertEqual(ok.status, 101)
        ok.send("2probe")
        self.assertEqual(ok.recv_text(), "3probe")
        ok.close()

    def parked(self, sid, timeout=10.0):
        """Wait until the gateway holds a GET of sid (its debug log)."""
        self.assertTrue(self.st.wait_log("bridge", "msg=\"poll parked\" sid=%s" % sid, timeout),
                        "no parked GET for " + sid)

    def test_05_overlapping_posts(self):
        sid = self.handshake()
        url = EIO + "&sid=" + sid
        slow = RawHttp(self.port)
        # a POST whose body is still on its way: 2 of its 6 bytes
        slow.send(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                   "Content-Length: 6\r\n\r\n40" % url).encode())
        self.assertTrue(self.st.wait_log("bridge", "msg=\"poll post receiving\" sid=%s" % sid,
                                         10), "the first POST never reached the gateway")
        r = self.http("POST", url, body=b"3", headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json()["code"], 3)
        # the session ended
        r = self.http("GET", url)
        self.assertEqual((r.status, r.json()["code"]), (400, 1))
        # the first POST, once complete, finds no session
        slow.send(b"\x1e3\x1e6")
        status, _, body = slow.response()
        self.assertEqual(status, 400)
        slow.close()

    def test_06_invalid_polling_packet(self):
        cases = [b"abc", b"2", b"3probe", b"4zzz", b"40\x1e\x1e3", b"5", b"0",
                 b'42["chat message"', b"3\x1e9"]
        for body in cases:
            with self.subTest(body=body):
                sid = self.handshake()
                url = EIO + "&sid=" + sid
                r = self.http("POST", url, body=body, headers={"Content-Type": "text/plain"})
                self.assertEqual(r.status, 400, r)
                self.assertEqual(r.json()["code"], 3)
                r = self.http("GET", url)
                self.assertEqual((r.status, r.json()["code"]), (400, 1), r)
        # a valid body is still "ok"
        sid = self.handshake()
        r = self.http("POST", EIO + "&sid=" + sid, body=b"3\x1e6",
                      headers={"Content-Type": "text/plain"})
        self.assertEqual((r.status, r.body), (200, b"ok"))

    def test_07_client_close_and_overlapping_gets(self):
        # the client's own close: its parked GET gets a noop, then 400
        sid = self.handshake()
        url = EIO + "&sid=" + sid
        parked = RawHttp(self.port)
        parked.send(request("GET", url, self.port))
        self.parked(sid)
        r = self.http("POST", url, body=b"1", headers={"Content-Type": "text/plain"})
        self.assertEqual((r.status, r.body), (200, b"ok"))
        self.assertEqual(parked.response()[2], b"6")
        parked.close()
        self.assertEqual(self.http("GET", url).status, 400)
        # two GETs at once: the parked one gets the close, the other 400,
        # and the session is gone
        sid = self.handshake()
        url = EIO + "&sid=" + sid
        parked = RawHttp(self.port)
        parked.send(request("GET", url, self.port))
        self.parked(sid)
        r = self.http("GET", url)
        self.assertEqual(r.status, 400)
        status, _, body = parked.response()
        self.assertEqual((status, body), (200, b"1"))
        parked.close()
        self.assertEqual(self.http("GET", url).status, 400)

    def test_08_refused_connects_are_few(self):
        """Each refused CONNECT costs a verification (or a store read): a
        session gets 4, then it ends."""
        ws = RawWs(self.port, "/socket.io/?EIO=4&transport=websocket")
        self.assertEqual(ws.status, 101)
        self.assertTrue(ws.recv_text().startswith("0{"))
        for i in range(4):
            ws.send('40{"token":"not.a.token"}')
            self.assertEqual(ws.recv_text(), '44{"message":"unauthorized"}', i)
        self.assertTrue(ws.closed_within(3.0), "a fifth CONNECT would be heard")
        ws.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
