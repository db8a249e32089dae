#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hubio.js resumes after a drop without gaps (headless Chromium, real
broker with the plugin, hubd): its broker session outlives the connection
for sessionExpiry seconds, the broker queues the room and inbox events of
the gap, 'connect' says {reconnect: true, recovered: true}, and every event
arrives once, in order. Without resume, or after the session expired, the
reconnect says recovered: false (and the gap is really lost, which shows
the test can tell)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MqttClient, WebTestCase, timeout  # noqa: E402

PW = "secret-pw"


class HubioResume(WebTestCase):
    needs = "lib/hubio.js"

    @classmethod
    def prepare(cls, stack):
        for u in ("alice", "bob", "carl", "dave"):
            stack.add_user(u, password=PW, rooms={"rs": "write"})

    def open(self, page, user, **opts):
        b = self.browser
        b.page(page, ctx=page)
        b.goto(page, self.base + "/test/hubio.html")
        b.wait(page, "() => window.T")
        self.assertEqual(b.eval(page, "(a) => T.login(a.u, a.p)", {"u": user, "p": PW}), 200)
        o = {"username": user, "getToken": "cookie"}
        o.update(opts)
        b.eval(page, "(a) => T.connect(a.name, a.url, a.opts)",
               {"name": page, "url": self.ws_url, "opts": o})
        self.wait_seen(page, "connect")
        r = b.eval(page, "(p) => T.hubs[p].join('rs').then(() => true, (e) => e.message)", page)
        self.assertIs(r, True)
        return page

    def seen(self, page, event):
        return self.browser.eval(page, "(a) => T.seen(a.p, a.e)", {"p": page, "e": event})

    def wait_seen(self, page, event, n=1, timeout=10.0):
        try:
            return self.browser.wait(
                page, "(a) => { const s = T.seen(a.p, a.e); return s.length >= a.n ? s : null }",
                {"p": page, "e": event, "n": n}, timeout=timeout)
        except harness.BrowserError:
            return self.seen(page, event)

    def emit(self, page, i):
        r = self.browser.eval(page, "(a) => T.hubs[a.p].emit('rs', 'chat message', {i: a.i})"
                                    ".then(() => true, (e) => e.message)", {"p": page, "i": i})
        self.assertIs(r, True)

    def drop(self, page):
        """Cut the WebSocket under MQTT.js (a network drop, no DISCONNECT)."""
        self.browser.eval(page, "(p) => { T.hubs[p]._client.stream.destroy(); return true }", page)
        self.wait_seen(page, "disconnect")

    def numbers(self, page):
        return [e["data"]["i"] for e in self.seen(page, "chat message")]

    def close_pages(self, *pages):
        for p in pages:
            try:
                self.browser.eval(p, "(p) => T.hubs[p].close().then(() => true)", p)
            except Exception:
                pass

    @timeout(90)
    def test_01_resume_without_gaps(self):
        a = self.open("a1", "alice", reconnectDelay=3000)
        b = self.open("b1", "bob")
        m = MqttClient(self.stack.ports["mqtt"], "carl", self.stack.token("carl"))
        self.assertEqual(m.connect(), 0)
        try:
            for i in range(3):
                self.emit(b, i)
            self.assertEqual([e["data"]["i"] for e in self.wait_seen(a, "chat message", 3)],
                             [0, 1, 2])
            self.drop(a)
            # the gap: hubio emits and an MQTT tool's publishes
            for i in range(3, 8):
                self.emit(b, i)
            for i in range(8, 10):
                m.pub("rooms/rs/ev/chat message/carl", '{"i":%d}' % i, qos=1)
            ev = self.wait_seen(a, "connect", 2, timeout=20)
            self.assertEqual(ev[-1]["data"], {"reconnect": True, "recovered": True})
            self.wait_seen(a, "chat message", 10)
            time.sleep(0.5)  # nothing more (no duplicates) comes
            self.assertEqual(self.numbers(a), list(range(10)))
            self.assertIs(self.browser.eval(a, "() => T.hubs.a1.recovered"), True)
            # live again, and a clean close ends the broker session
            self.emit(b, 10)
            self.assertEqual(len(self.wait_seen(a, "chat message", 11)), 11)
        finally:
            m.disconnect()
            self.close_pages(a, b)

    @timeout(90)
    def test_02_without_resume_the_gap_is_lost(self):
        a = self.open("a2", "dave", reconnectDelay=3000, resume=False)
        b = self.open("b2", "bob")
        try:
            self.emit(b, 0)
            self.wait_seen(a, "chat message", 1)
            self.drop(a)
            for i in range(1, 4):
                self.emit(b, i)
            ev = self.wait_seen(a, "connect", 2, timeout=20)
            self.assertEqual(ev[-1]["data"], {"reconnect": True, "recovered": False})
            self.emit(b, 4)
            self.wait_seen(a, "chat message", 2)
            time.sleep(0.5)
            self.assertEqual(self.numbers(a), [0, 4])
        finally:
            self.close_pages(a, b)

    @timeout(90)
    def test_03_session_expired(self):
        a = self.open("a3", "alice", reconnectDelay=6000, sessionExpiry=1)
        b = self.open("b3", "bob")
        try:
            self.drop(a)
            self.emit(b, 0)
            ev = self.wait_seen(a, "connect", 2, timeout=20)
            self.assertEqual(ev[-1]["data"], {"reconnect": True, "recovered": False})
        finally:
            self.close_pages(a, b)


if __name__ == "__main__":
    import unittest
    unittest.main()
