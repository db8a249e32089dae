#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hubd's WebSocket front for MQTT (CONTRACT.md "Browser path"; hub/front.c):
MQTT over WebSocket at ws://HOST:http_port/mqtt and on ws_port, relayed to
the broker's TCP listener, against the real broker + plugin and hubd.

Clients: MQTT.js (the browser's client, js/mqtt_driver.mjs), a raw
RFC 6455 client (harness.WsSock under mqttraw.RawClient: exact frames,
fragments, a reader that stops, other source addresses 127.x.y.z), paho
over TCP on the other side.

  Front       cookie CONNECTs (the session's username, no password), their
              refusals, 403 for the cookie from a foreign origin, tokens,
              relay integrity (random payloads up to the packet limit, QoS
              0/1/2, fragmented frames, several packets a frame), a reader
              that stops while 10,000 messages go (hubd's heap bounded,
              the others get everything), logout closing the socket,
              broker SIGHUP and restart, malformed first packets.
  Limits      front_conns_per_address (429), front_conns_max (503), and the
              broker plugin seeing the browser's address (its log line and
              broker_conns_per_address).
"""
import base64
import hashlib
import json
import os
import random
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, WsClient, timeout, wait_until, ws_raw_client  # noqa: E402
from mqttraw import Closed, _str, _varint  # noqa: E402

PACKET_MAX = 1048576  # conf/mosquitto.conf max_packet_size


def refused(code, version):
    """A CONNACK that refuses a login: 4/5 (3.1.1), >= 0x80 (5)."""
    return code in (4, 5) if version < 5 else code is not None and code >= 0x80


class Front(BrokerTestCase):
    with_front = True

    @classmethod
    def prepare(cls, stack):
        for u in ("alice", "bob", "carl", "dora", "erin", "slow", "fast"):
            stack.add_user(u, rooms={"lobby": "write"})
        stack.add_user("watch", rooms={"lobby": "read"})

    # ---- helpers --------------------------------------------------------
    @property
    def origin(self):
        return "http://127.0.0.1:%d" % self.stack.ports["http"]

    def cookie_client(self, user, cookie, version=5, origin=True, port=None, path="/mqtt",
                      **kw):
        """A raw client over /mqtt with the cookie; returns (client, CONNACK)."""
        headers = {"Cookie": "hub_sid=" + cookie}
        if origin:
            headers["Origin"] = self.origin if origin is True else origin
        c = self.own(ws_raw_client(port or self.stack.ports["http"], path, headers, **kw))
        self.assertEqual(c.sock.status, 101, c.sock.body)
        try:
            code = c.connect(user, None, client_id="ck-%s" % os.urandom(3).hex(),
                             version=version)
        except Closed:
            code = None
        return c, code

    def wait_sub(self, c, filters):
        """Subscribe, retrying while the broker's directory catches up."""
        codes = wait_until(lambda: (lambda r: r if r[0] < 0x80 else None)(c.subscribe(filters)),
                           5, 0.1)
        self.assertTrue(codes, "SUBSCRIBE %s refused" % filters)
        return codes

    # ---- the session cookie ----------------------------------------------
    @timeout(40)
    def test_01_cookie_connects(self):
        """A same-origin upgrade with a live cookie CONNECTs with the user's
        name and no password (3.1, 3.1.1, 5; at /mqtt and on ws_port), and
        the connection is the user's: its publishes reach a TCP client."""
        cookie, _, _ = self.stack.login("alice")
        tcp = self.user_client("bob", version=4)
        self.assertEqual(tcp.sub("rooms/lobby/ev/#"), [1])
        for port, path in ((self.stack.ports["http"], "/mqtt"), (self.stack.ports["ws"], "/")):
            for v in (3, 4, 5):
                with self.subTest(port=port, version=v):
                    c, code = self.cookie_client("alice", cookie, version=v, port=port,
                                                 path=path)
                    self.assertEqual(code, 0, "cookie CONNECT v%d on %s" % (v, path))
                    self.assertEqual(c.publish("rooms/lobby/ev/chat/alice",
                                               b"cookie v%d" % v, qos=1), 0)
                    m = tcp.wait_msg("rooms/lobby/ev/chat/alice", 3)
                    self.assertIsNotNone(m, "publish over the cookie connection lost")
                    self.assertEqual(m[1], b"cookie v%d" % v)
                    c.disconnect()
        log = self.stack.log("hubd")
        self.assertIn('msg="websocket connect" user=alice via=cookie', log)
        self.assertNotIn("msg=token user=alice", log, "no POST /api/token was needed")

    @timeout(40)
    def test_02_cookie_refusals(self):
        """No cookie, another user's cookie, a cookie after logout: refused
        like a bad password. The cookie from a foreign origin: 403 before
        any WebSocket. A foreign origin without the cookie (a token) is
        not refused."""
        cookie_a, _, _ = self.stack.login("alice")
        cookie_b, _, _ = self.stack.login("bob")
        for v in (4, 5):
            with self.subTest(version=v, what="no cookie"):
                c = self.own(ws_raw_client(self.stack.ports["http"]))
                try:
                    code = c.connect("alice", None, version=v)
                except Closed:
                    code = None
                self.assertTrue(refused(code, v), code)
            with self.subTest(version=v, what="bob's cookie, alice's name"):
                _, code = self.cookie_client("alice", cookie_b, version=v)
                self.assertTrue(refused(code, v), code)
        for port, path in ((self.stack.ports["http"], "/mqtt"), (self.stack.ports["ws"], "/")):
            with self.subTest(port=port, what="foreign origin with cookie"):
                s = harness.WsSock(port, path, {"Cookie": "hub_sid=" + cookie_a,
                                                "Origin": "http://evil.example"})
                self.assertEqual(s.status, 403)
                self.assertEqual(json.loads(s.body)["error"], "forbidden_origin")
                s.close()
            with self.subTest(port=port, what="cookie from a sibling port"):
                s = harness.WsSock(port, path, {"Cookie": "hub_sid=" + cookie_a,
                                                "Origin": "http://127.0.0.1:1"})
                self.assertEqual(s.status, 403)
                s.close()
        # the dashboard's own origin may open ws_port with the cookie
        c, code = self.cookie_client("alice", cookie_a, port=self.stack.ports["ws"], path="/")
        self.assertEqual(code, 0)
        # a foreign page with a token: not the cookie's business
        c = self.own(ws_raw_client(self.stack.ports["http"],
                                   headers={"Origin": "http://evil.example"}))
        self.assertEqual(c.sock.status, 101)
        self.assertEqual(c.connect("alice", self.stack.token("alice"), version=5), 0)
        self.assertGreaterEqual(self.stack.metric('hub_front_refused_total{reason="origin"}'), 4)
        # after logout the cookie opens nothing
        r = self.stack.http("POST", "/api/logout", cookie=cookie_a,
                            headers={"Origin": self.origin})
        self.assertEqual(r.status, 204)
        _, code = self.cookie_client("alice", cookie_a, version=5)
        self.assertTrue(refused(code, 5), code)

    @timeout(40)
    def test_03_tokens_through_the_front(self):
        """Tokens work as on TCP (MQTT.js at /mqtt and on ws_port); an
        expired one is refused by the broker for being expired."""
        for url in ("ws://127.0.0.1:%d/mqtt" % self.stack.ports["http"],
                    "ws://127.0.0.1:%d/" % self.stack.ports["ws"]):
            for v in (4, 5):
                ws = self.ws()
                ev = ws.connect(0, "carl", self.stack.token("carl"), version=v, url=url)
                self.assertEqual(ev and ev["ev"], "connect", (url, v, ev))
                ack = ws.sub(["rooms/lobby/ev/#"])
                self.assertEqual(ack["granted"], [1])
                ws.close()
        ws = self.ws()
        old = self.stack.mint("carl", sid="x", iat=int(time.time()) - 120, ttl=60)
        mark = len(self.stack.log("broker"))
        ev = ws.connect(self.stack.ports["http"], "carl", old, version=5)
        self.assertEqual((ev["ev"], ev.get("code")), ("error", 0x87), ev)
        self.assertTrue(self.stack.wait_log("broker", "reason=expired addr=127.0.0.1", 3, mark))

    # ---- relay ------------------------------------------------------------
    @timeout(240)
    def test_04_relay_integrity(self):
        """Random payloads from empty to the broker's packet limit, QoS 0,
        1 and 2, published with MQTT.js through the front, arrive intact
        at an MQTT.js subscriber through the front and at a TCP one; then
        a raw client sends fragmented frames (7 bytes each) and several
        packets in one frame, and the same arrives intact."""
        topic = "rooms/lobby/ev/blob/dora"
        limit = PACKET_MAX - (1 + 3) - (2 + len(topic)) - 2 - 1  # v5 PUBLISH with an id
        sizes = [0, 1, 2, 125, 126, 127, 4095, 4096, 4097, 65535, 65536, 65537, 300000,
                 limit - 1, limit]
        rng = random.Random(13)
        sub = self.ws()
        ev = sub.connect(self.stack.ports["http"], "erin", self.stack.token("erin"), version=5,
                         b64=True)
        self.assertEqual(ev["ev"], "connect", ev)
        self.assertEqual(sub.sub(["rooms/lobby/ev/blob/#"], qos=2)["granted"], [2])
        tcp = self.user_client("bob", version=5)
        self.assertEqual(tcp.sub("rooms/lobby/ev/blob/#", qos=2), [2])
        pub = self.ws()
        ev = pub.connect(self.stack.ports["http"], "dora", self.stack.token("dora"), version=5)
        self.assertEqual(ev["ev"], "connect", ev)
        sent = []
        for qos in (0, 1, 2):
            for n in sizes:
                data = rng.randbytes(n)
                sent.append((qos, hashlib.sha256(data).hexdigest(), n))
                pub._n += 1
                pub.send(op="pub", id=pub._n, topic=topic,
                         payload_b64=base64.b64encode(data).decode(), qos=qos)
                ack = pub.wait("puback", 30, pred=lambda e, i=pub._n: e["id"] == i)
                self.assertIsNotNone(ack, "no ack for %d bytes QoS %d" % (n, qos))
                self.assertIsNone(ack["error"], ack)
        want = [(h, n) for _, h, n in sent]
        got = wait_until(lambda: (lambda m: m if len(m) >= len(sent) else None)(
            [e for e in sub.events if e["ev"] == "message"]), 60, 0.1)
        self.assertIsNotNone(got, "the front subscriber got %d of %d" % (
            len([e for e in sub.events if e["ev"] == "message"]), len(sent)))
        recv = [(hashlib.sha256(base64.b64decode(e["payload_b64"])).hexdigest(),
                 len(base64.b64decode(e["payload_b64"]))) for e in got]
        self.assertEqual(recv, want, "payloads changed or reordered through the front")
        tcp_got = wait_until(lambda: (lambda m: m if len(m) >= len(sent) else None)(
            [m for m in tcp.messages if m[0] == topic]), 30, 0.1)
        self.assertIsNotNone(tcp_got)
        self.assertEqual([(hashlib.sha256(m[1]).hexdigest(), len(m[1])) for m in tcp_got], want)
        tcp.take()
        sub.messages()
        # fragments and coalesced packets from a raw client
        raw = self.own(ws_raw_client(self.stack.ports["http"], frag=7))
        self.assertEqual(raw.connect("dora", self.stack.token("dora"), version=5,
                                     client_id="frag-dora"), 0)
        blobs = [rng.randbytes(n) for n in (0, 3, 200, 70000, 250000)]
        for b in blobs:
            self.assertEqual(raw.publish(topic, b, qos=1), 0)
        raw.sock.frag = None
        # three QoS 0 PUBLISH packets in one frame
        three = [rng.randbytes(n) for n in (10, 1000, 5)]
        frame = b""
        for b in three:
            body = _str(topic) + b"\x00" + b
            frame += bytes([0x30]) + _varint(len(body)) + body
        raw.sock.sendall(frame)
        self.assertTrue(raw.alive(), "the front or broker dropped the connection")
        expect = [hashlib.sha256(b).hexdigest() for b in blobs + three]
        got = wait_until(lambda: (lambda m: m if len(m) >= len(expect) else None)(
            [m for m in tcp.messages if m[0] == topic]), 20, 0.1)
        self.assertIsNotNone(got, "fragmented publishes lost")
        self.assertEqual([hashlib.sha256(m[1]).hexdigest() for m in got], expect)

    @timeout(240)
    def test_05_reader_that_stops(self):
        """A browser that stops reading while 10,000 messages (1 KiB) go to
        it: hubd's heap stays within a few hundred KiB (no buffering
        without limit: the front stops reading that browser's broker
        connection), and another browser on the front, and a TCP client,
        get all 10,000 in order. (The publisher keeps within 500 messages of
        the live browser and of the TCP client, so the broker's own queue
        bound never drops any of their messages on a loaded machine.)"""
        n_msgs, size = 10000, 1024
        slow = self.own(ws_raw_client(self.stack.ports["http"], rcvbuf=4096))
        self.assertEqual(slow.connect("slow", self.stack.token("slow"), version=4,
                                      client_id="slow-1"), 0)
        self.wait_sub(slow, ["rooms/lobby/ev/flood/#"])
        fast = self.ws()
        ev = fast.connect(self.stack.ports["http"], "fast", self.stack.token("fast"), version=4)
        self.assertEqual(ev["ev"], "connect", ev)
        self.assertEqual(fast.sub(["rooms/lobby/ev/flood/#"], qos=1)["granted"], [1])
        tcp = self.user_client("watch", version=4)
        self.assertEqual(tcp.sub("rooms/lobby/ev/flood/#", qos=1), [1])
        heap0 = self.stack.metric("hub_heap_bytes")
        peak = heap0
        pub = self.user_client("fast", version=4)
        payload = os.urandom(size // 2).hex().encode()
        def fast_count():
            with fast.cond:
                return sum(1 for e in fast.events if e["ev"] == "message")
        for i in range(n_msgs):
            pub.c.publish("rooms/lobby/ev/flood/fast", b"%05d" % i + payload[5:], qos=1)
            if i % 250 == 249:
                # the live receivers keep up within the broker's queue
                # (max_queued_messages 1000) even on a loaded machine; the
                # stopped one falls behind as far as it may
                wait_until(lambda: fast_count() >= i - 500
                           and len(tcp.messages) >= i - 500, 30, 0.01)
                peak = max(peak, self.stack.metric("hub_heap_bytes"))
        got = wait_until(lambda: (lambda m: m if len(m) >= n_msgs else None)(
            [e for e in fast.events if e["ev"] == "message"]), 120, 0.2)
        self.assertIsNotNone(got, "the other browser got %d of %d" % (
            len([e for e in fast.events if e["ev"] == "message"]), n_msgs))
        self.assertEqual([e["payload"][:5] for e in got], ["%05d" % i for i in range(n_msgs)])
        tcp_got = wait_until(lambda: (lambda m: m if len(m) >= n_msgs else None)(
            tcp.messages), 60, 0.2)
        self.assertIsNotNone(tcp_got, "the TCP client got %d of %d" % (
            len(tcp.messages), n_msgs))
        peak = max(peak, self.stack.metric("hub_heap_bytes"))
        grew = peak - heap0
        print("  hubd heap: %.0f KiB before, %.0f KiB peak (+%.0f KiB) with %d x %d B "
              "sent to a reader that stopped" % (heap0 / 1024, peak / 1024, grew / 1024,
                                                 n_msgs, size), file=sys.stderr)
        self.assertLess(grew, 512 * 1024, "hubd buffered for the reader that stopped")
        # the stopped reader's connection is still there, and reads again
        try:
            left = slow.collect(3)
        except Closed:
            left = None
        print("  the stopped reader then read %s messages" % (
            "its connection closed:" if left is None else len(left)), file=sys.stderr)

    @timeout(40)
    def test_06_logout_closes_the_socket(self):
        """POST /api/logout with the cookie ends the cookie's MQTT
        connection through the front within 1 s (v5: DISCONNECT 0x98),
        with the presence reason logout."""
        watch = self.user_client("watch", version=5)
        self.assertEqual(watch.sub("rooms/lobby/sys/left"), [1])
        cookie, _, _ = self.stack.login("bob")
        c, code = self.cookie_client("bob", cookie, version=5)
        self.assertEqual(code, 0)
        self.wait_sub(c, ["rooms/lobby/ev/#"])
        t0 = time.time()
        r = self.stack.http("POST", "/api/logout", cookie=cookie, headers={"Origin": self.origin})
        self.assertEqual(r.status, 204)
        with self.assertRaises(Closed):
            c.collect(3)
        took = time.time() - t0
        print("  closed %.3f s after the logout request" % took, file=sys.stderr)
        self.assertLess(took, 1.5)
        self.assertEqual(c.disconnect_reason, 0x98)
        m = watch.wait_msg("rooms/lobby/sys/left", 3, pred=lambda m: b'"bob"' in m[1])
        self.assertIsNotNone(m)
        self.assertEqual(json.loads(m[1])["reason"], "logout")

    @timeout(60)
    def test_07_broker_sighup_and_restart(self):
        """A broker reload (SIGHUP) disconnects nobody on the front (the
        token the front minted passes the re-check); a restart closes the
        front's sockets, and connections work again once it is back."""
        cookie, _, _ = self.stack.login("carl")
        c, code = self.cookie_client("carl", cookie, version=5)
        self.assertEqual(code, 0)
        t = self.own(ws_raw_client(self.stack.ports["ws"], "/"))
        self.assertEqual(t.connect("carl", self.stack.token("carl"), version=4), 0)
        mark = len(self.stack.log("broker"))
        self.stack.procs["broker"].send_signal(signal.SIGHUP)
        self.assertTrue(self.stack.wait_log("broker", "Reloading config", 5, mark))
        time.sleep(0.5)
        self.assertTrue(c.alive() and t.alive(), "SIGHUP disconnected a front connection")
        self.stack.restart_broker()
        with self.assertRaises(Closed):
            c.collect(3)
        c2 = wait_until(lambda: (lambda r: r if r[1] == 0 else None)(
            self.cookie_client("carl", cookie, version=5)), 10, 0.2)
        self.assertIsNotNone(c2, "no cookie connection after the broker restart")

    @timeout(30)
    def test_08_malformed_and_odd_upgrades(self):
        """The first packet must be a CONNECT (else the socket closes, the
        broker never sees it); text frames close; a CONNECT over 64 KiB
        closes; no subprotocol is fine; other paths are 404; plain HTTP on
        ws_port is 426."""
        c = self.own(ws_raw_client(self.stack.ports["http"]))
        c.send_packet(3, 0, b"\x00\x05rooms" + b"x")  # PUBLISH first
        with self.assertRaises(Closed):
            c.read_packet(3)
        self.assertEqual(c.sock.close_code, 1002)
        s = harness.WsSock(self.stack.ports["http"])
        s.sendall(b"\x10\x00", opcode=1)  # a text frame
        self.assertEqual(s.recv(10), b"")
        s.close()
        c = self.own(ws_raw_client(self.stack.ports["http"]))
        c.send_packet(1, 0, b"\x00\x04MQTT\x04\x02\x00\x3c" + b"\xff\xff" + b"x" * 65535
                      + b"y" * 1000)
        with self.assertRaises(Closed):
            c.read_packet(3)
        self.assertEqual(c.sock.close_code, 1009)
        for port, path in ((self.stack.ports["http"], "/mqtt"), (self.stack.ports["ws"], "/x")):
            c = self.own(ws_raw_client(port, path, protocol=None))
            self.assertEqual(c.sock.status, 101)
            self.assertEqual(c.connect("carl", self.stack.token("carl"), version=5), 0)
        s = harness.WsSock(self.stack.ports["http"], "/elsewhere")
        self.assertEqual(s.status, 404)
        s.close()
        r = self.stack.http("GET", "/", port=self.stack.ports["ws"])
        self.assertEqual(r.status, 426)


class FrontLimits(BrokerTestCase):
    """Limits, with other client addresses (127.0.0.x: loopback too)."""
    with_front = True
    stack_conf = {"front_conns_per_address": 3, "front_conns_max": 12,
                  "broker_conns_per_address": 2}

    @classmethod
    def prepare(cls, stack):
        for u in ("alice", "bob"):
            stack.add_user(u, rooms={"lobby": "write"})

    @timeout(30)
    def test_01_per_address(self):
        """front_conns_per_address: the next upgrade from that address gets
        429 (others are not affected), and a closed one frees its place."""
        socks = [harness.WsSock(self.stack.ports["http"], src="127.0.0.21") for _ in range(3)]
        try:
            self.assertEqual([s.status for s in socks], [101] * 3)
            over = harness.WsSock(self.stack.ports["ws"], "/", src="127.0.0.21")
            self.assertEqual(over.status, 429)
            self.assertEqual(over.headers.get("retry-after"), "5")
            over.close()
            other = harness.WsSock(self.stack.ports["http"], src="127.0.0.22")
            self.assertEqual(other.status, 101)
            other.close()
            socks.pop().close()
            again = wait_until(lambda: (lambda s: s if s.status == 101 else s.close())(
                harness.WsSock(self.stack.ports["http"], src="127.0.0.21")), 3, 0.05)
            self.assertIsNotNone(again, "a closed connection did not free its place")
            socks.append(again)
        finally:
            for s in socks:
                s.close()
        self.assertGreaterEqual(self.stack.metric('hub_front_refused_total{reason="address"}'), 1)

    @timeout(30)
    def test_02_total(self):
        """front_conns_max: 503 beyond it, from any address."""
        wait_until(lambda: self.stack.metric("hub_front_connections") == 0, 5)
        socks = []
        try:
            for i in range(12):
                s = harness.WsSock(self.stack.ports["http"], src="127.0.1.%d" % (i // 3 + 1))
                socks.append(s)
                self.assertEqual(s.status, 101, i)
            s = harness.WsSock(self.stack.ports["http"], src="127.0.1.9")
            self.assertEqual(s.status, 503)
            s.close()
        finally:
            for s in socks:
                s.close()

    @timeout(30)
    def test_03_broker_sees_the_browser_address(self):
        """The plugin counts and logs the browser's address, not the
        front's: two connections from 127.0.0.23 (broker_conns_per_address
        2), the third is refused by the broker with that address in its
        line; one from 127.0.0.24 is not affected."""
        wait_until(lambda: self.stack.metric("hub_front_connections") == 0, 5)
        mark = len(self.stack.log("broker"))
        cs = []
        for i in range(3):
            c = self.own(ws_raw_client(self.stack.ports["http"], src="127.0.0.23"))
            cs.append(c.connect("alice", self.stack.token("alice"), version=5,
                                client_id="addr-%d" % i))
        self.assertEqual(cs, [0, 0, 0x87])
        log = self.stack.log("broker")[mark:]
        self.assertIn("alice | connect | ok kind=user proto=5", log)
        self.assertIn("addr=127.0.0.23", log)
        self.assertIn("denied reason=too-many-from-address addr=127.0.0.23", log)
        c = self.own(ws_raw_client(self.stack.ports["http"], src="127.0.0.24"))
        self.assertEqual(c.connect("bob", self.stack.token("bob"), version=4), 0)


if __name__ == "__main__":
    harness.broker_main()
