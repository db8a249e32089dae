#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hubio.js (web/lib/hubio.js) in headless Chromium against the real stack:
mosquitto + hub_auth.so and hubd serving the built web/ (plus the test page
tests/integration/web/hubio.html under /test/, in a private copy).

Pages log in through hubd (cookie) and connect with getToken = POST
/api/token, like the dashboard. Python's paho clients stand in for other
MQTT tools. Scenarios are numbered and self-contained (each uses its own
room or user where state could leak).
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import WebTestCase, timeout, wait_until  # noqa: E402

PW = "secret-pw"


class Hubio(WebTestCase):
    needs = "lib/hubio.js"

    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write", "news": "read", "req": "write",
                                       "typing": "write", "pres": "write", "rc": "write"})
        stack.add_user("bob", rooms={"lobby": "write", "req": "write", "typing": "write",
                                     "pres": "write", "rc": "write"})
        stack.add_user("carol", rooms={"pres": "write"})
        stack.add_user("pat", rooms={"pres": "write"})
        stack.add_user("erin", rooms={"solo": "write"})

    # ---- helpers ------------------------------------------------------
    def tearDown(self):
        # a failed test must not leave its pages connected: the next test's
        # presence (one left after the last connection) depends on it
        for page in getattr(self, "_opened", []):
            try:
                self.browser.eval(page, "() => Promise.all(Object.values(T.hubs || {})"
                                        ".map((h) => h.close())).then(() => true)")
            except Exception:
                pass
        super().tearDown()

    def open(self, page, user, connect=True, **opts):
        """A test page logged in as user; connected as hub `page`."""
        self._opened = getattr(self, "_opened", []) + [page]
        b = self.browser
        if page not in getattr(self, "_pages", set()):
            b.page(page, ctx=page)
            self.__class__._pages = getattr(self, "_pages", set()) | {page}
        b.goto(page, self.base + "/test/hubio.html")
        b.wait(page, "() => window.T")
        self.assertEqual(b.eval(page, "(a) => T.login(a.u, a.p)", {"u": user, "p": PW}), 200)
        if connect:
            o = {"username": user, "getToken": "cookie"}
            o.update(opts)
            b.eval(page, "(a) => T.connect(a.name, a.url, a.opts)",
                   {"name": page, "url": self.ws_url, "opts": o})
            self.assertTrue(self.wait_seen(page, "connect"), "%s did not connect" % page)
        return page

    def js(self, page, body, arg=None):
        """Run an async function body on the page; `arg` is bound."""
        return self.browser.eval(page, "async (arg) => { %s }" % body, arg)

    def attempt(self, page, expr, arg=None):
        """Evaluate a promise expression: {"ok": value} or {"err": message}."""
        return self.browser.eval(
            page, "async (arg) => { try { return {ok: (await (%s)) ?? null} } "
                  "catch (e) { return {err: e.message, code: e.code ?? null} } }" % expr, arg)

    def seen(self, page, event, pred="true"):
        return self.browser.eval(
            page, "(a) => T.seen(a.p, a.e, (e) => %s)" % pred, {"p": page, "e": event})

    def wait_seen(self, page, event, pred="true", n=1, timeout=5.0):
        try:
            return self.browser.wait(
                page, "(a) => { const s = T.seen(a.p, a.e, (e) => %s); "
                      "return s.length >= a.n ? s : null }" % pred,
                {"p": page, "e": event, "n": n}, timeout=timeout)
        except harness.BrowserError:
            return None

    def close_hub(self, page):
        self.js(page, "await T.hubs[arg].close(); return true", page)

    # ---- scenarios ----------------------------------------------------
    @timeout(60)
    def test_01_emit_and_on_between_pages(self):
        a = self.open("a1", "alice")
        b = self.open("b1", "bob")
        self.assertEqual(self.attempt(a, "T.hubs.a1.join('lobby')"), {"ok": "lobby"})
        self.assertEqual(self.attempt(b, "T.hubs.b1.join('lobby')"), {"ok": "lobby"})
        r = self.attempt(a, "T.hubs.a1.emit('lobby', 'chat message', {content: 'hi bob'})")
        self.assertEqual(r, {"ok": None})
        got = self.wait_seen(b, "chat message")
        self.assertTrue(got, "bob got nothing")
        ev = got[0]
        self.assertEqual(ev["data"], {"content": "hi bob"})
        self.assertEqual(ev["meta"]["room"], "lobby")
        self.assertEqual(ev["meta"]["from"], "alice")
        self.assertIs(ev["meta"]["inbox"], False)
        self.assertLess(abs(ev["meta"]["ts"] / 1000 - time.time()), 60)
        # the emitting connection does not get its own event back
        time.sleep(0.3)
        self.assertEqual(self.seen(a, "chat message"), [])
        # off() stops delivery
        self.js(b, "T.hubs.b1.off('chat message'); return true")
        self.attempt(a, "T.hubs.a1.emit('lobby', 'chat message', 'again')")
        time.sleep(0.3)
        self.assertEqual(len(self.seen(b, "chat message")), 1)
        self.close_hub(a)
        self.close_hub(b)

    @timeout(60)
    def test_02_with_mqtt_clients(self):
        a = self.open("a2", "alice")
        self.attempt(a, "T.hubs.a2.join('lobby')")
        sub = self.mqtt("bob")
        self.assertEqual(sub.sub("rooms/lobby/ev/+/+"), [1])
        self.attempt(a, "T.hubs.a2.emit('lobby', 'chat message', {content: 'to paho', n: 1})")
        m = sub.wait_msg("rooms/lobby/ev/chat message/alice", 3.0)
        self.assertIsNotNone(m, "paho got nothing from hubio")
        self.assertEqual(json.loads(m[1]), {"content": "to paho", "n": 1})
        # paho -> hubio, JSON and not JSON
        sub.pub("rooms/lobby/ev/chat message/bob", json.dumps({"content": "from paho"}), qos=1)
        sub.pub("rooms/lobby/ev/chat message/bob", b"plain text", qos=1)
        got = self.wait_seen(a, "chat message", n=2)
        self.assertTrue(got)
        self.assertEqual([g["data"] for g in got], [{"content": "from paho"}, "plain text"])
        self.assertEqual(got[0]["meta"]["from"], "bob")
        # a paho message may pose as a hub notice under ev/: hubio drops it
        sub.pub("rooms/lobby/ev/joined/bob", json.dumps({"user": "mallory", "online": 9}), qos=1)
        time.sleep(0.3)
        self.assertEqual(self.seen(a, "joined", "e.data.user === 'mallory'"), [])
        self.close_hub(a)

    @timeout(60)
    def test_03_acks_forbidden_and_timeout(self):
        a = self.open("a3", "alice")
        self.assertEqual(self.attempt(a, "T.hubs.a3.join('news')"), {"ok": "news"})
        # promise and ack callback on an accepted emit
        self.assertEqual(self.attempt(a, "T.hubs.a3.emit('lobby', 'chat message', 1)"),
                         {"ok": None})
        r = self.js(a, "return await new Promise((res) => T.hubs.a3.emit('lobby', 'chat message',"
                       " 2, (err) => res(err ? err.message : 'acked')))")
        self.assertEqual(r, "acked")
        # read level only: PUBACK 0x87 -> 'forbidden', both ways
        self.assertEqual(self.attempt(a, "T.hubs.a3.emit('news', 'chat message', 'x')"),
                         {"err": "forbidden", "code": "forbidden"})
        r = self.js(a, "return await new Promise((res) => T.hubs.a3.emit('news', 'chat message',"
                       " 'x', (err) => res(err ? err.message : 'acked')))")
        self.assertEqual(r, "forbidden")
        # not a member at all: join refused with SUBACK 0x87 -> 'forbidden'
        self.assertEqual(self.attempt(a, "T.hubs.a3.join('secret')"),
                         {"err": "forbidden", "code": "forbidden"})
        self.assertNotIn("secret", self.js(a, "return T.hubs.a3.rooms()"))
        # invalid names never reach the wire
        self.assertEqual(self.attempt(a, "T.hubs.a3.emit('lobby', 'a/b', 1)")["err"], "invalid")
        self.assertEqual(self.attempt(a, "T.hubs.a3.emit('lobby', 'joined', 1)")["err"],
                         "invalid")
        # timeout(): a 10 s bound is met; a request nobody answers times out
        self.assertEqual(self.attempt(a, "T.hubs.a3.timeout(10000).emit('lobby', 'x', 1)"),
                         {"ok": None})
        t0 = time.time()
        self.assertEqual(self.attempt(a, "T.hubs.a3.timeout(300).request({room: 'lobby'},"
                                         " 'nobody-answers', 1)"),
                         {"err": "timeout", "code": "timeout"})
        self.assertLess(time.time() - t0, 3)
        # the broker is still fine with this client
        self.assertEqual(self.attempt(a, "T.hubs.a3.emit('lobby', 'chat message', 3)"),
                         {"ok": None})
        # an emit right after connect() (before the first token came back)
        # waits for the connection and is acknowledged then
        r = self.js(a, "const h = T.hubio.connect(arg, {username: 'alice', "
                       "getToken: T.cookieToken('early')}); "
                       "try { await h.timeout(5000).emit('lobby', 'chat message', 'early'); "
                       "return 'acked' } catch (e) { return e.message } "
                       "finally { await h.close() }", self.ws_url)
        self.assertEqual(r, "acked")
        self.close_hub(a)

    @timeout(60)
    def test_04_presence_list_count_and_notices(self):
        a = self.open("a4", "alice")
        self.js(a, "T.watchPresence('a4', 'pres'); return true")
        self.assertEqual(self.attempt(a, "T.hubs.a4.join('pres')"), {"ok": "pres"})
        self.js(a, "return await T.hubs.a4.watchStatus()")
        self.assertTrue(self.browser.wait(
            a, "() => T.hubs.a4.presence('pres').some((m) => m.user === 'alice')"))
        # pat comes online (paho, no browser): joined notice + presence
        pat = self.mqtt("pat")
        got = self.wait_seen(a, "joined", "e.data.user === 'pat' && e.meta.room === 'pres'")
        self.assertTrue(got, "no joined notice for pat")
        self.assertEqual(got[0]["data"]["online"], 2)
        lst = self.browser.wait(a, "() => { const l = T.hubs.a4.presence('pres'); "
                                   "return l.length === 2 ? l : null }")
        self.assertEqual([m["user"] for m in lst], ["alice", "pat"])
        self.assertTrue(all(m["since"] > 1e9 for m in lst), lst)
        # carol in a browser: count 3 through onPresence
        c = self.open("c4", "carol")
        self.attempt(c, "T.hubs.c4.join('pres')")
        last = self.browser.wait(a, "() => { const p = T.presence.a4.pres; "
                                    "const x = p[p.length - 1]; return x && x.count === 3 ? x : null }")
        self.assertEqual([m["user"] for m in last["list"]], ["alice", "carol", "pat"])
        # carol's own list fills from the retained presence: wait for it
        lst = self.browser.wait(c, "() => { const l = T.hubs.c4.presence('pres'); "
                                   "return l.length === 3 ? l : null }")
        self.assertEqual(sorted(m["user"] for m in lst), ["alice", "carol", "pat"])
        # pat drops off the network: left with the reason, count 2 again
        pat.c.socket().shutdown(socket.SHUT_RDWR)
        got = self.wait_seen(a, "left", "e.data.user === 'pat'", timeout=6)
        self.assertTrue(got, "no left notice for pat")
        self.assertEqual(got[0]["data"]["online"], 2)
        self.assertEqual(got[0]["meta"]["room"], "pres")
        self.assertTrue(got[0]["data"].get("reason"))
        self.assertTrue(self.browser.wait(
            a, "() => { const p = T.presence.a4.pres; return p[p.length - 1].count === 2 }"))
        # and pat's status (watchStatus) went offline
        self.assertTrue(self.wait_seen(a, "status", "e.data.user === 'pat' && !e.data.online"))
        # carol closes cleanly
        self.close_hub(c)
        got = self.wait_seen(a, "left", "e.data.user === 'carol'", timeout=6)
        self.assertTrue(got)
        self.assertEqual(got[0]["data"]["reason"], "clean")
        self.assertEqual([m["user"] for m in self.js(a, "return T.hubs.a4.presence('pres')")],
                         ["alice"])
        self.close_hub(a)

    @timeout(60)
    def test_05_typing_is_throttled(self):
        a = self.open("a5", "alice")
        b = self.open("b5", "bob")
        self.attempt(a, "T.hubs.a5.join('typing')")
        self.attempt(b, "T.hubs.b5.join('typing')")
        sent = self.js(a, "const r = []; for (let i = 0; i < 10; i++) { "
                          "r.push(T.hubs.a5.typing('typing')); "
                          "await new Promise((x) => setTimeout(x, 100)); } return r")
        self.assertEqual(sent, [True] + [False] * 9)
        got = self.wait_seen(b, "typing")
        self.assertEqual(got[0]["meta"]["from"], "alice")
        self.assertEqual(got[0]["meta"]["room"], "typing")
        time.sleep(0.3)
        self.assertEqual(len(self.seen(b, "typing")), 1, "typing not throttled")
        # after the interval (2 s) the next keystroke sends again
        time.sleep(1.2)
        self.assertTrue(self.js(a, "return T.hubs.a5.typing('typing')"))
        self.assertTrue(self.wait_seen(b, "typing", n=2))
        # configurable per connection
        self.close_hub(a)
        a = self.open("a5", "alice", typingInterval=200)
        self.attempt(a, "T.hubs.a5.join('typing')")
        sent = self.js(a, "const r = []; for (let i = 0; i < 5; i++) { "
                          "r.push(T.hubs.a5.typing('typing')); "
                          "await new Promise((x) => setTimeout(x, 120)); } return r")
        self.assertEqual(sent, [True, False, True, False, True])
        self.close_hub(a)
        self.close_hub(b)

    @timeout(60)
    def test_06_request_reply(self):
        a = self.open("a6", "alice")
        b = self.open("b6", "bob")
        self.attempt(a, "T.hubs.a6.join('req')")
        self.attempt(b, "T.hubs.b6.join('req')")
        self.js(b, "T.hubs.b6.on('sum', (data, meta) => meta.reply({sum: data.a + data.b, "
                   "inbox: meta.inbox, from: meta.from})); return true")
        r = self.attempt(a, "T.hubs.a6.request({room: 'req'}, 'sum', {a: 2, b: 3}, {timeout: 5000})")
        self.assertEqual(r, {"ok": {"sum": 5, "inbox": False, "from": "alice"}})
        r = self.attempt(a, "T.hubs.a6.request({user: 'bob'}, 'sum', {a: 1, b: 1})")
        self.assertEqual(r, {"ok": {"sum": 2, "inbox": True, "from": "alice"}})
        # through timeout() too
        r = self.attempt(a, "T.hubs.a6.timeout(5000).request({user: 'bob'}, 'sum', {a: 4, b: 4})")
        self.assertEqual(r, {"ok": {"sum": 8, "inbox": True, "from": "alice"}})
        # a paho responder speaking the convention (MQTT 5 response topic +
        # correlation data) answers a hubio request
        import paho.mqtt.client as paho
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes
        resp = self.mqtt("bob")
        resp.sub("users/bob/inbox/+/+")

        def answer(c, u, msg):
            p = msg.properties
            props = Properties(PacketTypes.PUBLISH)
            props.CorrelationData = p.CorrelationData
            c.publish(p.ResponseTopic + "/bob", json.dumps({"echo": json.loads(msg.payload)}),
                      qos=1, properties=props)
        resp.c.on_message = answer
        r = self.attempt(a, "T.hubs.a6.request({user: 'bob'}, 'echo', [1, 2])")
        self.assertEqual(r, {"ok": {"echo": [1, 2]}})
        # a requester must share a room with the target: refused, not hung
        r = self.attempt(a, "T.hubs.a6.request({user: 'erin'}, 'sum', {a: 1, b: 1}, "
                            "{timeout: 3000})")
        self.assertEqual(r, {"err": "forbidden", "code": "forbidden"})
        del paho
        self.close_hub(a)
        self.close_hub(b)

    @timeout(60)
    def test_07_inbox(self):
        a = self.open("a7", "alice")
        b = self.open("b7", "bob")
        # hubio -> hubio (send)
        self.assertEqual(self.attempt(b, "T.hubs.b7.emitToUser('alice', 'dm', {text: 'psst'})"),
                         {"ok": None})
        got = self.wait_seen(a, "dm")
        self.assertTrue(got)
        self.assertEqual(got[0]["data"], {"text": "psst"})
        self.assertEqual(got[0]["meta"]["room"], None)
        self.assertIs(got[0]["meta"]["inbox"], True)
        self.assertEqual(got[0]["meta"]["from"], "bob")
        # paho -> hubio
        p = self.mqtt("bob")
        p.pub("users/alice/inbox/dm/bob", json.dumps({"text": "from paho"}), qos=1)
        got = self.wait_seen(a, "dm", n=2)
        self.assertEqual(got[1]["data"], {"text": "from paho"})
        # someone sharing no room with alice cannot write her inbox
        self.assertEqual(self.attempt(a, "T.hubs.a7.emitToUser('erin', 'dm', 1)"),
                         {"err": "forbidden", "code": "forbidden"})
        self.close_hub(a)
        self.close_hub(b)

    @timeout(90)
    def test_08_reconnect_with_fresh_tokens(self):
        # the first token handed out is already expired: refused, then
        # getToken is asked again and the fresh token gets in
        expired = self.stack.mint("alice", sid="x", iat=int(time.time()) - 600,
                                  exp=int(time.time()) - 300)
        a = self.open("a8", "alice", connect=False)
        self.js(a, "const real = T.cookieToken('a8'); let n = 0; "
                   "T.connect('a8', arg.url, {username: 'alice', reconnectDelay: 200, "
                   "getToken: async () => (n++ === 0 ? arg.expired : real())}); return true",
                {"url": self.ws_url, "expired": expired})
        self.assertTrue(self.wait_seen(a, "connect", timeout=10), "never connected")
        errs = self.seen(a, "error-detail")
        self.assertTrue(errs, "the expired token was not refused?")
        self.assertGreaterEqual(self.js(a, "return T.tokenCalls.a8 || 0"), 1)
        self.attempt(a, "T.hubs.a8.join('rc')")
        b = self.open("b8", "bob", reconnectDelay=200)
        self.attempt(b, "T.hubs.b8.join('rc')")
        calls_before = self.js(b, "return T.tokenCalls.b8")
        # the broker restarts: both come back with fresh tokens and rejoin
        self.stack.stop("broker")
        self.assertTrue(self.wait_seen(b, "disconnect"), "no disconnect event")
        # while it is down an emit with a timeout fails with 'timeout'
        self.assertEqual(self.attempt(b, "T.hubs.b8.timeout(300).emit('rc', 'x', 1)"),
                         {"err": "timeout", "code": "timeout"})
        time.sleep(0.5)
        self.stack.restart_broker()
        self.assertTrue(self.wait_seen(b, "connect", n=2, timeout=15), "bob did not reconnect")
        self.assertTrue(self.wait_seen(a, "connect", n=2, timeout=15), "alice did not reconnect")
        self.assertTrue(self.seen(b, "reconnect_attempt"))
        self.assertGreater(self.js(b, "return T.tokenCalls.b8"), calls_before,
                           "getToken was not called for the reconnect")
        # rejoined: events flow again and the presence list is rebuilt
        self.assertTrue(self.browser.wait(
            a, "() => T.hubs.a8.presence('rc').map((m) => m.user).join() === 'alice,bob'",
            timeout=8))
        wait_until(lambda: self.attempt(b, "T.hubs.b8.emit('rc', 'chat message', 'back')")
                   == {"ok": None}, 5)
        got = self.wait_seen(a, "chat message", "e.data === 'back'")
        self.assertTrue(got, "no event after the restart")
        self.close_hub(a)
        self.close_hub(b)

    @timeout(60)
    def test_09_logout_stops_reconnecting(self):
        a = self.open("a9", "alice", reconnectDelay=200)
        self.attempt(a, "T.hubs.a9.join('lobby')")
        sub = self.mqtt("bob")
        sub.sub("rooms/lobby/sys/left")
        self.assertEqual(self.js(a, "return (await T.api('POST', '/api/logout')).status"), 204)
        # the hub kicks the connection; the next getToken gets 401 and
        # hubio stops for good
        self.assertTrue(self.wait_seen(a, "disconnect", timeout=5))
        m = sub.wait_msg("rooms/lobby/sys/left", 5,
                         pred=lambda m: json.loads(m[1])["user"] == "alice")
        self.assertIsNotNone(m)
        self.assertTrue(self.wait_seen(a, "error-detail", "e.data.message.includes('401')",
                                       timeout=5))
        time.sleep(1.0)
        self.assertEqual(len(self.seen(a, "connect")), 1)
        self.assertFalse(self.js(a, "return T.hubs.a9.connected"))

    @timeout(60)
    def test_10_mqtt_311(self):
        a = self.open("a10", "alice", protocolVersion=4)
        b = self.open("b10", "bob")
        self.attempt(a, "T.hubs.a10.join('lobby')")
        self.attempt(b, "T.hubs.b10.join('lobby')")
        self.assertEqual(self.attempt(a, "T.hubs.a10.emit('lobby', 'chat message', 'v4')"),
                         {"ok": None})
        self.assertTrue(self.wait_seen(b, "chat message", "e.data === 'v4'"))
        self.attempt(b, "T.hubs.b10.emit('lobby', 'chat message', 'v5')")
        self.assertTrue(self.wait_seen(a, "chat message", "e.data === 'v5'"))
        # no no-local in 3.1.1: hubio drops its own user's echoes itself
        time.sleep(0.3)
        self.assertEqual(self.seen(a, "chat message", "e.data === 'v4'"), [])
        self.assertEqual(self.attempt(a, "T.hubs.a10.join('secret')")["err"], "forbidden")
        self.assertEqual(self.attempt(a, "T.hubs.a10.request({room: 'lobby'}, 'x', 1)")["err"],
                         "unsupported")
        self.close_hub(a)
        self.close_hub(b)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import unittest
    unittest.main(verbosity=2, warnings="ignore")
