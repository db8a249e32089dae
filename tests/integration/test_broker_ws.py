#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""MQTT over WebSocket with MQTT.js 5 (the browser's client; node_modules/mqtt
through js/mqtt_driver.mjs) through hubd's front (ws_port) to mosquitto
2.0.11 + hub_auth.so: token login, room events both ways with a TCP client,
refusals, ACL codes, presence reasons for WebSocket ends, kick on revoke
within 1 s, and what listens where.
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, timeout, token_claims  # noqa: E402


def listening(port):
    """Local addresses listening on TCP port (from /proc/net/tcp{,6})."""
    out = set()
    for path, fam in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 6)):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            addr, p = f[1].split(":")
            if int(p, 16) == port and f[3] == "0A":
                out.add((fam, addr))
    return out


class WebSocket(BrokerTestCase):
    with_front = True  # MQTT over WebSocket is hubd's front (ports["ws"])

    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write"})
        stack.add_user("bob", rooms={"lobby": "write"})
        stack.add_user("rita", rooms={"lobby": "read"})
        stack.add_user("kim", rooms={"lobby": "write"})
        stack.add_user("eve", rooms={"secret": "write"})

    def wsconn(self, user, version=5, tok=None, **kw):
        ws = self.ws()
        ev = ws.connect(self.stack.ports["ws"], user, tok or self.stack.token(user),
                        version=version, **kw)
        self.assertEqual(ev and ev["ev"], "connect", "MQTT.js v%d connect: %r" % (version, ev))
        return ws

    @timeout(30)
    def test_01_connect_and_exchange_with_tcp(self):
        for v in (4, 5):
            with self.subTest(version=v):
                ws = self.wsconn("alice", v)
                ack = ws.sub(["rooms/lobby/ev/#"])
                self.assertEqual((ack["error"], ack["granted"]), (None, [1]))
                tcp = self.user_client("bob", version=4)
                self.assertEqual(tcp.sub("rooms/lobby/ev/#"), [1])
                # TCP -> WS
                tcp.pub("rooms/lobby/ev/chat/bob", b'{"text":"to ws"}', qos=1)
                ev = ws.wait("message", 3, pred=lambda e: e["topic"] == "rooms/lobby/ev/chat/bob")
                self.assertIsNotNone(ev, "TCP -> WS event not delivered")
                self.assertEqual(json.loads(ev["payload"]), {"text": "to ws"})
                # WS -> TCP
                ack = ws.pub("rooms/lobby/ev/chat/alice", '{"text":"to tcp"}', qos=1)
                self.assertEqual(ack["error"], None)
                m = tcp.wait_msg("rooms/lobby/ev/chat/alice", 3)
                self.assertIsNotNone(m, "WS -> TCP event not delivered")
                self.assertEqual(json.loads(m[1]), {"text": "to tcp"})
                ws.send(op="end")
                self.assertIsNotNone(ws.wait("ended", 3))
                tcp.disconnect()

    @timeout(30)
    def test_02_refusals(self):
        ws = self.ws()
        cases = [("bad token", "alice", "x.y.z", None),
                 ("other user's token", "alice", self.stack.token("bob"), None),
                 ("unknown user", "nobody", self.stack.token("alice"), None),
                 ("client id with /", "alice", self.stack.token("alice"), "web/1")]
        # one MQTT.js process, one connect after the other
        for v, code in ((4, 5), (5, 0x87)):
            for what, user, tok, cid in cases:
                with self.subTest(what=what, version=v):
                    ev = ws.connect(self.stack.ports["ws"], user, tok, version=v, client_id=cid)
                    self.assertIsNotNone(ev)
                    self.assertEqual(ev["ev"], "error", ev)
                    self.assertEqual(ev["code"], code, ev)
                    ws.wait("close", 2)
        # after all that a good one still connects
        self.wsconn("alice", 5)

    @timeout(30)
    def test_03_acl_codes_over_ws(self):
        ws = self.wsconn("rita", 5)
        ack = ws.sub(["rooms/secret/#"])
        self.assertEqual(ack["granted"], [0x87], ack)
        self.assertIsNotNone(ack["error"])
        ack = ws.pub("rooms/lobby/ev/chat/rita", "read level", qos=1)
        self.assertEqual(ack["code"], 0x87, ack)
        ack = ws.pub("rooms/lobby/ev/chat/alice", "forged", qos=1)
        self.assertEqual(ack["code"], 0x87, ack)
        ws4 = self.wsconn("rita", 4)
        ack = ws4.sub(["rooms/secret/#", "rooms/lobby/#"])
        self.assertEqual(ack["granted"], [0x80, 1], ack)
        # a wildcard over WS never carries another room
        eve = self.user_client("eve", version=5)
        ack = ws.sub(["#"])
        self.assertEqual((ack["error"], ack["granted"]), (None, [1]))
        eve.pub("rooms/secret/ev/chat/eve", b"secret", qos=1)
        time.sleep(0.5)
        self.assertEqual([e["topic"] for e in ws.messages() if "secret" in e["topic"]], [])

    @timeout(30)
    def test_04_kick_on_revoke(self):
        watch = self.user_client("rita", version=5)
        self.assertEqual(watch.sub("rooms/lobby/sys/left"), [1])
        tok = self.stack.revocable_token("kim")
        ws = self.wsconn("kim", 5, tok=tok)
        ack = ws.sub(["rooms/lobby/ev/#"])
        self.assertEqual(ack["granted"], [1])
        t0 = time.time()
        self.stack.hubctl("session", "revoke", token_claims(tok)["sid"])
        ev = ws.wait(("disconnect", "close"), 3)
        self.assertIsNotNone(ev, "WS client not kicked")
        print("  ws kicked after %.3f s" % (ev["t"] - t0), file=sys.stderr)
        self.assertLess(ev["t"] - t0, 1.5)
        if ev["ev"] == "disconnect":
            self.assertEqual(ev["reasonCode"], 0x98)
        m = watch.wait_msg("rooms/lobby/sys/left", 2, pred=lambda m: b'"kim"' in m[1])
        self.assertIsNotNone(m)
        self.assertEqual(json.loads(m[1])["reason"], "kicked")
        # the token no longer opens connections, over WS either
        ws2 = self.ws()
        ev = ws2.connect(self.stack.ports["ws"], "kim", tok, version=5)
        self.assertEqual((ev["ev"], ev.get("code")), ("error", 0x87))

    @timeout(40)
    def test_05_presence_reasons_for_websocket_ends(self):
        watch = self.user_client("rita", version=5)
        self.assertEqual(watch.sub("rooms/lobby/sys/+"), [1])

        def left(user, within):
            m = watch.wait_msg("rooms/lobby/sys/left", within,
                               pred=lambda m: json.loads(m[1])["user"] == user)
            self.assertIsNotNone(m, "no left notice for %s" % user)
            return json.loads(m[1])["reason"], m[3]

        # clean: MQTT DISCONNECT over the WebSocket
        ws = self.wsconn("alice", 5)
        self.assertIsNotNone(watch.wait_msg("rooms/lobby/sys/joined", 2,
                                            pred=lambda m: b'"alice"' in m[1]))
        t0 = time.time()
        ws.send(op="end")
        reason, at = left("alice", 3)
        self.assertEqual(reason, "clean")
        self.assertLess(at - t0, 2.0)
        # network: the socket dropped (a killed browser tab)
        ws = self.wsconn("alice", 4)
        time.sleep(0.3)
        t0 = time.time()
        ws.send(op="destroy")
        reason, at = left("alice", 3)
        self.assertEqual(reason, "network")
        self.assertLess(at - t0, 2.0)
        # keepalive: node frozen with keepalive 2 s
        ws = self.wsconn("bob", 4, keepalive=2)
        time.sleep(0.3)
        t0 = time.time()
        ws.p.send_signal(signal.SIGSTOP)
        try:
            reason, at = left("bob", 1.5 * 2 + 6 + 2)
        finally:
            ws.p.send_signal(signal.SIGCONT)
        print("  ws keepalive left after %.2f s" % (at - t0), file=sys.stderr)
        self.assertEqual(reason, "keepalive")

    @timeout(10)
    def test_06_listener_addresses(self):
        """The broker listens on its MQTT/TCP port only, 127.0.0.1 only:
        MQTT over WebSocket is hubd's front (Mosquitto's own WebSocket
        listener of 2.0.11 bound every interface whatever the config said,
        upstream #2085/#3045). hubd's two listeners bind 127.0.0.1 only."""
        lo = {(4, "0100007F")}
        self.assertEqual(harness.listening_of(self.stack.procs["broker"].pid),
                         {(4, "0100007F", self.port)},
                         "the broker listens on MQTT/TCP at 127.0.0.1 and nothing else")
        self.assertEqual(harness.listening_of(self.stack.procs["hubd"].pid),
                         {a + (p,) for a in lo
                          for p in (self.stack.ports["http"], self.stack.ports["ws"])},
                         "hubd listens on http_port and ws_port at 127.0.0.1 only")
        self.assertEqual(listening(self.stack.ports["ws"]), lo)

if __name__ == "__main__":
    harness.broker_main()
