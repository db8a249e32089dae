# SPDX-License-Identifier: MIT
"""hub-bridge against the Engine.IO v4 and Socket.IO v5 protocol specs
(socketio/engine.io-protocol and socketio/socket.io-protocol, README), for
every case their official test suites check (scripts/conformance runs those
suites for a maintainer with internet; CI has none): our own tests, raw
bytes over HTTP and WebSocket, against the hub set up as the suites expect
their server (tests/integration/conformance.py: their ping settings, a test
user for anonymous connections, the echo service on the Node SDK).

Two stacks. A: the suites' settings exactly (pingInterval 300, pingTimeout
200, maxPayload 1000000, connect timeout 1.5 s), for what they announce and
the deadlines they enforce. B: the same but pingTimeout 5000, so a test
client answering pings late on a loaded machine is not cut off while it
checks something else.

Engine.IO (A)
  01 polling handshake: status, content type, the open packet's fields
     and values
  02 refused handshakes: no or bad EIO, no or bad transport, POST or PUT
     without a session: 400 with an Engine.IO error
  03 WebSocket handshake: the open packet (no upgrades); bad EIO or
     transport: refused and closed
  04 no pong within pingTimeout: a polling session is gone for the first
     request after the deadline, at once (not at a later timer tick)
  05 no pong over WebSocket: closed, after the ping
  06 no Socket.IO CONNECT: the session ends after the connect timeout,
     not before
Engine.IO (B)
  07 polling: ping, pong, three times; no ping before pingInterval after
     the handshake or the last pong
  08 WebSocket: the same
  09 polling payloads: several packets in one POST (separated by 0x1e),
     several in one GET answer, binary as "b" + base64 records both ways
  10 an invalid packet in a POST: 400, and the session is gone
  11 two GETs at once: the parked one gets the close packet, the other
     400, then the session is gone
  12 an invalid packet over WebSocket: closed
  13 the client's close packet: a parked GET gets a noop (so does a GET
     that crosses the close), the session is gone; over WebSocket the
     connection closes
  14 upgrade: probe, the parked GET released with a noop, upgrade; the
     session then refuses polling, and a second WebSocket for it is
     accepted and closed at once while the first goes on
Socket.IO (B)
  15 CONNECT "/" without credentials (the test identity): the answer
     names only "sid" (recovery off), then the echo service's "auth"
  16 the test identity is for direct loopback connections only: a
     proxied request (X-Forwarded-For, Forwarded) or a cookie gets none;
     a payload token that is none is refused
  17 namespaces: a service's is accepted, others "Invalid namespace"
  18 an invalid packet before CONNECT: closed
  19 DISCONNECT "/": nothing but pings follow; CONNECT again works
  20 a namespace CONNECT then DISCONNECT; "/" goes on (the echo)
  21 EVENT: the echo service's "message-back" with the same arguments,
     then meta
  22 BINARY_EVENT: attachments as binary frames, both ways (the echo)
  23 ACK: a room event's ack; a call's ack on the service namespace,
     with the ack id
  24 BINARY_EVENT with an ack (room; call on the namespace)
  25 invalid packets after CONNECT (unknown type, payload not an array,
     bad ack id): closed
  26 the test setting is refused with a bind address that is not
     loopback
"""
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import conformance  # noqa: E402
from harness import BIN, RawWs  # noqa: E402

EIO = "/socket.io/?EIO=4&transport=polling"
WS = "/socket.io/?EIO=4&transport=websocket"
SEP = "\x1e"
META_KEYS = {"room", "from", "ts"}


class Http:
    """One HTTP/1.1 connection for exact exchanges (a request may be left
    waiting while others are made on other connections)."""

    def __init__(self, port, timeout=10.0):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, method, path, body=None, headers=None):
        hdrs = {"Host": "127.0.0.1:%d" % self.port}
        hdrs.update(headers or {})
        if body is not None:
            body = body.encode() if isinstance(body, str) else body
            hdrs["Content-Length"] = str(len(body))
            hdrs.setdefault("Content-Type", "text/plain;charset=UTF-8")
        head = "%s %s HTTP/1.1\r\n" % (method, path)
        head += "".join("%s: %s\r\n" % kv for kv in hdrs.items()) + "\r\n"
        self.sock.sendall(head.encode() + (body or b""))

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        self.buf += chunk

    def response(self, timeout=10.0):
        """(status, {header: value}, body text)."""
        self.sock.settimeout(timeout)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return int(lines[0].split(" ")[1]), hdrs, body.decode()

    def close(self):
        self.sock.close()


class Eio:
    """A raw Engine.IO WebSocket client: frames as (opcode, text or bytes);
    pings answered at once unless pong is False."""

    def __init__(self, port, path=WS, headers=None, pong=True):
        self.ws = RawWs(port, path, headers)
        self.pong = pong
        self.pings = []  # monotonic arrival times

    @property
    def status(self):
        return self.ws.status

    def send(self, data):
        self.ws.send(data, 2 if isinstance(data, bytes) else 1)

    def frame(self, timeout=5.0):
        """The next frame that is not a ping; ConnectionError when closed."""
        deadline = time.monotonic() + timeout
        while True:
            op, data = self.ws.recv(max(0.05, deadline - time.monotonic()))
            if op == 8:
                raise ConnectionError("close frame %r" % data[:2])
            if op == 1:
                text = data.decode()
                if text == "2":
                    self.pings.append(time.monotonic())
                    if self.pong:
                        self.ws.send("3")
                        continue
                return 1, text
            if op == 2:
                return 2, data

    def text(self, timeout=5.0):
        op, data = self.frame(timeout)
        assert op == 1, (op, data)
        return data

    def closed_within(self, timeout):
        return self.ws.closed_within(timeout)

    def close(self):
        self.ws.close()


def open_packet(text):
    assert text.startswith("0"), text
    return json.loads(text[1:])


def event_of(text, prefix="42"):
    """The argument array of an EVENT packet text with prefix."""
    assert text.startswith(prefix), (text, prefix)
    return json.loads(text[len(prefix):])


class Suite(unittest.TestCase):
    """A ConformanceStack per class; extra: its settings over the suites'."""
    extra = {}

    @classmethod
    def setUpClass(cls):
        cls.cs = conformance.ConformanceStack(cls.extra)
        cls.st = cls.cs.stack
        cls.port = cls.st.ports["sio"]

    @classmethod
    def tearDownClass(cls):
        log = cls.st.log("bridge")
        cls.cs.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]

    def setUp(self):
        self.opened = []

    def tearDown(self):
        for c in self.opened:
            c.close()

    def own(self, c):
        self.opened.append(c)
        return c

    def http(self, method, path, body=None, headers=None):
        c = Http(self.port)
        try:
            c.send(method, path, body, headers)
            return c.response()
        finally:
            c.close()

    def handshake(self):
        status, _, body = self.http("GET", EIO)
        self.assertEqual(status, 200, body)
        return open_packet(body)["sid"]

    def parked(self, sid):
        self.assertTrue(self.st.wait_log("bridge", "msg=\"poll parked\" sid=%s" % sid, 10),
                        "no parked GET for " + sid)

    def ws(self, path=WS, headers=None, pong=True):
        c = self.own(Eio(self.port, path, headers, pong))
        self.assertEqual(c.status, 101)
        return c

    def connected(self, token=None, pong=True):
        """A WebSocket session with "/" connected (the test identity, or
        token's user); returns (client, CONNECT answer)."""
        c = self.ws()
        open_packet(c.text())
        c.send("40" if token is None else '40{"token":"%s"}' % token)
        ans = c.text()
        self.assertTrue(ans.startswith("40{"), ans)
        c.pong = pong
        return c, json.loads(ans[2:])

    def until(self, c, prefix, timeout=10.0):
        """The next text frame starting with prefix; room notices and other
        traffic of the room before it are skipped."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, "no %s" % prefix)
            op, data = c.frame(left)
            if op == 1 and data.startswith(prefix):
                return data


class SuiteSettings(Suite):
    """Stack A: the suites' settings as they are."""

    def test_01_polling_handshake(self):
        status, hdrs, body = self.http("GET", EIO)
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["content-type"].startswith("text/plain"), hdrs)
        o = open_packet(body)
        self.assertEqual(set(o), {"sid", "upgrades", "pingInterval", "pingTimeout",
                                  "maxPayload"})
        self.assertIsInstance(o["sid"], str)
        self.assertTrue(o["sid"])
        self.assertEqual(o["upgrades"], ["websocket"])
        self.assertEqual((o["pingInterval"], o["pingTimeout"], o["maxPayload"]),
                         (300, 200, 1000000))

    def test_02_refused_handshakes(self):
        for what, method, path, code in [
                ("no EIO", "GET", "/socket.io/?transport=polling", 5),
                ("EIO not a number", "GET", "/socket.io/?EIO=abc&transport=polling", 5),
                ("EIO 3", "GET", "/socket.io/?EIO=3&transport=polling", 5),
                ("no transport", "GET", "/socket.io/?EIO=4", 0),
                ("unknown transport", "GET", "/socket.io/?EIO=4&transport=abc", 0),
                ("POST handshake", "POST", EIO, 2),
                ("PUT handshake", "PUT", EIO, None)]:
            with self.subTest(what):
                status, hdrs, body = self.http(method, path,
                                               "" if method in ("POST", "PUT") else None)
                self.assertEqual(status, 400, (what, body))
                if code is not None:
                    self.assertEqual(json.loads(body)["code"], code, body)

    def test_03_websocket_handshake(self):
        c = self.ws()
        o = open_packet(c.text())
        self.assertEqual(set(o), {"sid", "upgrades", "pingInterval", "pingTimeout",
                                  "maxPayload"})
        self.assertEqual(o["upgrades"], [])
        self.assertEqual((o["pingInterval"], o["pingTimeout"], o["maxPayload"]),
                         (300, 200, 1000000))
        for what, path in [("no EIO", "/socket.io/?transport=websocket"),
                           ("EIO not a number", "/socket.io/?EIO=abc&transport=websocket"),
                           ("no transport", "/socket.io/?EIO=4"),
                           ("unknown transport", "/socket.io/?EIO=4&transport=abc")]:
            with self.subTest(what):
                bad = self.own(Eio(self.port, path))
                self.assertNotEqual(bad.status, 101, what)
                self.assertTrue(bad.closed_within(5), what)

    def test_04_polling_ping_timeout(self):
        """The pong is due pingTimeout after the ping: the first request
        after that finds no session, whenever the gateway's timer runs."""
        sent = time.monotonic()
        sid = self.handshake()
        c = self.own(Http(self.port))
        c.send("GET", EIO + "&sid=" + sid)
        status, _, body = c.response()
        got = time.monotonic()
        self.assertEqual((status, body), (200, "2"))
        # never early: the ping is due pingInterval after the handshake
        self.assertGreaterEqual(got - sent, 0.300)
        # no pong; the deadline is at most 200 ms after we had the ping
        while time.monotonic() < got + 0.210:
            time.sleep(0.01)
        status, _, body = self.http("GET", EIO + "&sid=" + sid)
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["code"], 1)

    def test_05_websocket_ping_timeout(self):
        c = self.ws(pong=False)
        open_packet(c.text())
        self.assertEqual(c.text(), "2")
        with self.assertRaises((ConnectionError, OSError)):
            c.frame(5)
        self.assertEqual(len(c.pings), 1, "pinged again without a pong")

    def test_06_no_connect(self):
        """An Engine.IO session that never sends a Socket.IO CONNECT ends
        sio_connect_timeout (1.5 s) after the handshake, not before."""
        sent = time.monotonic()
        c = self.ws()
        open_packet(c.text())
        with self.assertRaises((ConnectionError, OSError)):
            c.frame(10)
        self.assertGreaterEqual(time.monotonic() - sent, 1.5)


class SuiteRelaxed(Suite):
    """Stack B: pingTimeout and the connect timeout 5 s (a late pong of
    this test process, or a slow heartbeat test, is not what these tests
    check)."""
    extra = {"sio_ping_timeout": 5000, "sio_connect_timeout": 5000}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        st = cls.st
        st.add_user("alice", rooms={conformance.ROOM: "write"})
        st.add_user("bob")
        cls.alice = st.token("alice", ttl=3600)
        cls.bob = st.token("bob", ttl=3600)

    def poll(self, sid, pings=False):
        """One polling GET's packets (records of its body), pings left out
        unless asked for."""
        status, _, body = self.http("GET", EIO + "&sid=" + sid)
        self.assertEqual(status, 200, body)
        return [p for p in body.split(SEP) if pings or p != "2"]

    def polling_connected(self, token):
        sid = self.handshake()
        status, _, body = self.http("POST", EIO + "&sid=" + sid, '40{"token":"%s"}' % token)
        self.assertEqual((status, body), (200, "ok"))
        return sid

    def test_07_polling_heartbeat(self):
        sent = time.monotonic()
        sid = self.handshake()
        last = sent
        for i in range(3):
            packets = self.poll(sid, pings=True)
            self.assertEqual(packets, ["2"], i)
            self.assertGreaterEqual(time.monotonic() - last, 0.300, i)
            last = time.monotonic()
            status, _, body = self.http("POST", EIO + "&sid=" + sid, "3")
            self.assertEqual((status, body), (200, "ok"))

    def test_08_websocket_heartbeat(self):
        sent = time.monotonic()
        c = self.ws(pong=False)
        open_packet(c.text())
        last = sent
        for i in range(3):
            self.assertEqual(c.ws.recv_text(), "2", i)
            self.assertGreaterEqual(time.monotonic() - last, 0.300, i)
            last = time.monotonic()
            c.ws.send("3")
        c.ws.send("41")
        self.assertFalse(c.closed_within(0.1))

    def test_09_polling_payloads(self):
        """Several packets in one POST, several in one GET, binary as
        base64 records: the echo service sends back a binary event."""
        sid = self.handshake()
        url = EIO + "&sid=" + sid
        status, _, body = self.http(
            "POST", url, '40{"token":"%s"}' % self.alice + SEP + '42["join","%s"]'
            % conformance.ROOM)
        self.assertEqual((status, body), (200, "ok"))
        seen = []
        while not any(p.startswith('42["presence"') for p in seen):
            seen += self.poll(sid)
        self.assertTrue(seen[0].startswith("40{"), seen)
        self.assertEqual(len([p for p in seen if p.startswith("40{")]), 1, seen)
        # a binary event and its attachment in one body: "b" + base64
        status, _, body = self.http(
            "POST", url, '451-["message",{"_placeholder":true,"num":0}]' + SEP + "bAQIDBA==")
        self.assertEqual((status, body), (200, "ok"))
        got = []
        while not any(p.startswith('451-["message-back"') for p in got):
            got += self.poll(sid)
        i = next(k for k, p in enumerate(got) if p.startswith('451-["message-back"'))
        args = event_of(got[i], "451-")
        self.assertEqual(args[:2], ["message-back", {"_placeholder": True, "num": 0}])
        self.assertEqual(set(args[2]), META_KEYS)
        if i + 1 == len(got):
            got += self.poll(sid)
        self.assertEqual(got[i + 1], "bAQIDBA==")

    def test_10_polling_invalid_packet(self):
        sid = self.handshake()
        status, _, body = self.http("POST", EIO + "&sid=" + sid, "abc")
        self.assertEqual(status, 400, body)
        status, _, body = self.http("GET", EIO + "&sid=" + sid)
        self.assertEqual(status, 400, body)

    def test_11_duplicate_gets(self):
        sid = self.handshake()
        url = EIO + "&sid=" + sid
        first = self.own(Http(self.port))
        first.send("GET", url)
        self.parked(sid)
        status, _, body = self.http("GET", url + "&t=second")
        self.assertEqual(status, 400, body)
        self.assertEqual(first.response()[::2], (200, "1"))
        self.assertEqual(self.http("GET", url)[0], 400)

    def test_12_websocket_invalid_packet(self):
        c = self.ws()
        open_packet(c.text())
        c.send("abc")
        self.assertTrue(c.closed_within(5))

    def test_13_client_close(self):
        sid = self.handshake()
        url = EIO + "&sid=" + sid
        parked = self.own(Http(self.port))
        parked.send("GET", url)
        self.parked(sid)
        status, _, body = self.http("POST", url, "1")
        self.assertEqual((status, body), (200, "ok"))
        self.assertEqual(parked.response()[::2], (200, "6"))
        self.assertEqual(self.http("GET", url)[0], 400)
        # a GET that crosses the close (sent before it, it arrives after
        # it) gets the noop too; the next request 400
        sid = self.handshake()
        url = EIO + "&sid=" + sid
        self.assertEqual(self.http("POST", url, "1")[::2], (200, "ok"))
        self.assertEqual(self.http("GET", url)[::2], (200, "6"))
        self.assertEqual(self.http("GET", url)[0], 400)
        c = self.ws()
        open_packet(c.text())
        c.send("1")
        self.assertTrue(c.closed_within(5))

    def test_14_upgrade(self):
        sid = self.handshake()
        url = EIO + "&sid=" + sid
        parked = self.own(Http(self.port))
        parked.send("GET", url)
        self.parked(sid)
        up = self.ws(WS + "&sid=" + sid)
        up.send("2probe")
        self.assertEqual(up.text(), "3probe")
        # the client pauses polling: its parked GET is released with a noop
        self.assertEqual(parked.response()[::2], (200, "6"))
        up.send("5")
        up.send('40{"token":"%s"}' % self.bob)
        self.assertTrue(up.text().startswith("40{"))
        # upgraded: polling requests for the session are refused
        self.assertEqual(self.http("GET", url)[0], 400)
        # a second WebSocket for it: accepted, closed at once (1008)
        second = self.own(RawWs(self.port, WS + "&sid=" + sid))
        self.assertEqual(second.status, 101)
        op, data = second.recv()
        self.assertEqual((op, int.from_bytes(data[:2], "big")), (8, 1008))
        # the first goes on
        up.send('42["join","nowhere"]')
        self.assertFalse(up.closed_within(0.2))
        up.send("41")

    def test_15_connect_anonymous(self):
        """The test identity's CONNECT: {"sid"} and nothing else (recovery
        is off), then the echo service's "auth" (tester came online)."""
        before = len(self.cs.echo.seen)
        c, ans = self.connected()
        self.assertEqual(set(ans), {"sid"})
        self.assertIsInstance(ans["sid"], str)
        args = event_of(c.text(10))
        self.assertEqual(args[:2], ["auth", {}])
        self.assertEqual(args[2]["from"], conformance.SERVICE)
        self.assertIsNone(args[2]["room"])
        self.assertTrue(self.cs.echo.wait("greeted", 5, lambda e: e["user"] == conformance.USER))
        self.assertGreater(len(self.cs.echo.seen), before)
        self.assertIn("TEST ONLY: no credentials", self.st.log("bridge"))

    def test_16_test_identity_is_local_only(self):
        for what, hdrs in [("X-Forwarded-For", {"X-Forwarded-For": "192.0.2.7"}),
                           ("Forwarded", {"Forwarded": "for=192.0.2.7"}),
                           ("X-Real-IP", {"X-Real-IP": "192.0.2.7"}),
                           ("Via", {"Via": "1.1 proxy"})]:
            with self.subTest(what):
                c = self.ws(headers=hdrs)
                open_packet(c.text())
                c.send("40")
                self.assertEqual(c.text(), '44{"message":"unauthorized"}')
        # over polling too
        status, _, body = self.http("GET", EIO, headers={"X-Forwarded-For": "192.0.2.7"})
        sid = open_packet(body)["sid"]
        self.http("POST", EIO + "&sid=" + sid, "40")
        got = []
        while '44{"message":"unauthorized"}' not in got:
            got += self.poll(sid)
        # a cookie is the credential when there is one (here a stale one)
        c = self.ws(headers={"Cookie": "hub_sid=" + "x" * 43})
        open_packet(c.text())
        c.send("40")
        self.assertEqual(c.text(), '44{"message":"unauthorized"}')
        # and so is a token in the payload, which "123" is not
        c = self.ws()
        open_packet(c.text())
        c.send('40{"token":"123"}')
        self.assertEqual(c.text(), '44{"message":"unauthorized"}')

    def test_17_namespaces(self):
        c = self.ws()
        open_packet(c.text())
        c.send("40/%s," % conformance.SERVICE)
        ans = c.text()
        prefix = "40/%s," % conformance.SERVICE
        self.assertTrue(ans.startswith(prefix), ans)
        self.assertEqual(set(json.loads(ans[len(prefix):])), {"sid"})
        c.send("40/random")
        self.assertEqual(c.text(), '44/random,{"message":"Invalid namespace"}')
        # a namespace with a token payload
        d = self.ws()
        open_packet(d.text())
        d.send('40/%s,{"token":"%s"}' % (conformance.SERVICE, self.alice))
        self.assertTrue(d.text().startswith(prefix))

    def test_18_invalid_before_connect(self):
        c = self.ws()
        open_packet(c.text())
        c.send("4abc")
        self.assertTrue(c.closed_within(5))

    def test_19_disconnect(self):
        """After "41" the socket gets nothing but pings (bob is in no room:
        nothing else could come), and may CONNECT again."""
        c, _ = self.connected(self.bob, pong=False)
        c.send("41")
        self.assertEqual(c.ws.recv_text(), "2")
        c.ws.send("3")
        c.send('40{"token":"%s"}' % self.bob)
        self.assertTrue(c.ws.recv_text().startswith("40{"))

    def join(self, c):
        c.send('42["join","%s"]' % conformance.ROOM)
        self.until(c, '42["presence"')

    def echoed(self, c, prefix="42"):
        """The echo service's "message-back" (other room traffic skipped)."""
        return event_of(self.until(c, prefix + '["message-back"'), prefix)

    def test_20_namespace_disconnect(self):
        c, _ = self.connected(self.alice)
        self.join(c)
        c.send("40/%s," % conformance.SERVICE)
        self.until(c, "40/%s," % conformance.SERVICE)
        c.send("41/%s," % conformance.SERVICE)
        c.send('42["message","message to main namespace"]')
        args = self.echoed(c)
        self.assertEqual(args[:2], ["message-back", "message to main namespace"])
        self.assertEqual(set(args[2]), META_KEYS)

    def test_21_event_echo(self):
        c, _ = self.connected(self.alice)
        self.join(c)
        c.send('42["message",1,"2",{"3":[true]}]')
        args = self.echoed(c)
        self.assertEqual(args[:4], ["message-back", 1, "2", {"3": [True]}])
        self.assertEqual(args[4]["room"], conformance.ROOM)
        self.assertEqual(args[4]["from"], conformance.SERVICE)
        self.assertEqual(len(args), 5)

    def test_22_binary_echo(self):
        c, _ = self.connected(self.alice)
        self.join(c)
        c.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
        c.send(bytes([1, 2, 3]))
        c.send(bytes([4, 5, 6]))
        args = self.echoed(c, "452-")
        self.assertEqual(args[:3], ["message-back", {"_placeholder": True, "num": 0},
                                    {"_placeholder": True, "num": 1}])
        self.assertEqual(set(args[3]), META_KEYS)
        self.assertEqual(c.frame(), (2, bytes([1, 2, 3])))
        self.assertEqual(c.frame(), (2, bytes([4, 5, 6])))

    def test_23_acks(self):
        c, _ = self.connected(self.alice)
        self.join(c)
        c.send('42456["message-with-ack",1,"2",{"3":[false]}]')
        ack = event_of(self.until(c, "43456["), "43456")
        self.assertEqual(len(ack), 1)
        self.assertEqual((ack[0]["ok"], ack[0]["room"]), (True, conformance.ROOM))
        # on the service namespace the ack is the service's answer
        ns = conformance.SERVICE
        c.send("40/%s," % ns)
        self.until(c, "40/%s," % ns)
        c.send('42/%s,456["message-with-ack",1,"2",{"3":[false]}]' % ns)
        self.assertEqual(self.until(c, "43/"), '43/%s,456[[1,"2",{"3":[false]}]]' % ns)

    def test_24_binary_acks(self):
        c, _ = self.connected(self.alice)
        self.join(c)
        c.send('452-789["message-with-ack",{"_placeholder":true,"num":0},'
               '{"_placeholder":true,"num":1}]')
        c.send(bytes([1, 2, 3]))
        c.send(bytes([4, 5, 6]))
        ack = event_of(self.until(c, "43789["), "43789")
        self.assertEqual((len(ack), ack[0]["ok"]), (1, True))
        # a call with binaries: the service gets them (the SDK's data: the
        # argument array in the hub's encoding) and answers in JSON
        ns = conformance.SERVICE
        c.send("40/%s," % ns)
        self.until(c, "40/%s," % ns)
        c.send('452-/%s,790["message-with-ack",{"_placeholder":true,"num":0},'
               '{"_placeholder":true,"num":1}]' % ns)
        c.send(bytes([1, 2, 3]))
        c.send(bytes([4, 5, 6]))
        t = self.until(c, "43/")
        self.assertEqual(json.loads(t[len("43/%s,790" % ns):]),
                         [[{"$binary": "AQID"}, {"$binary": "BAUG"}]])

    def test_25_invalid_after_connect(self):
        for what, packet in [("unknown packet type", "4abc"),
                             ("payload not an array", "42{}"),
                             ("bad ack id", '42abc["message-with-ack",1,"2",{"3":[false]}]')]:
            with self.subTest(what):
                c, _ = self.connected(self.bob)
                c.send(packet)
                self.assertTrue(c.closed_within(5), what)

    def test_26_refused_off_loopback(self):
        """sio_test_anonymous_token with a bind address that is not
        loopback: hub-bridge refuses to start, before it listens."""
        conf = dict(self.st.conf, bind_address="0.0.0.0")
        path = os.path.join(self.st.dir, "nonlocal.conf")
        with open(path, "w") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        r = subprocess.run([os.path.join(BIN, "hub-bridge"), "--config", path],
                           capture_output=True, text=True, timeout=30,
                           env=dict(self.st.env, HUB_CONFIG=path))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("sio_test_anonymous_token", r.stderr)
        self.assertIn("loopback", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
