#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hubio.js's side of backends (docs/client-js.md "Calls", docs/backends.md)
in headless Chromium against the real stack: mosquitto + hub_auth.so,
hubd serving the built web/ (the test page under /test/), backends written
with the Node SDK (tests/integration/js/backend_driver.mjs) and with
libhubclient's service role (tests/integration/c/service_driver.c).

Pages log in with the cookie and connect with getToken = POST /api/token.
Calls (answers from both kinds of backend, error answers, the caller as the
hub stamped it, unavailable, timeout, refused, bad arguments, nothing left
behind after a timeout or close(), answers that never reach another user)
and emits into hooked rooms (the ack gets the verdict: accepted, accepted
with changed data, rejected, unavailable; a hooked room learnt from the
first verdict), and the dashboard showing a refused message's reason.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import WebTestCase, timeout, wait_until  # noqa: E402
from test_backends_clients import CService  # noqa: E402
from test_backends_mqtt import Backend, servicekey_add  # noqa: E402

PW = "secret-pw"
CALL_TIMEOUT_MS = 2000


class HubioCalls(WebTestCase):
    needs = "lib/hubio.js"
    stack_conf = {"call_timeout_ms": CALL_TIMEOUT_MS}

    @classmethod
    def prepare(cls, stack):
        rooms = {"lobby": "write", "hooked": "write", "learn": "write", "gone": "write"}
        stack.add_user("alice", rooms=rooms)
        stack.add_user("bob", rooms=rooms)
        stack.add_user("carol", rooms={"other": "write"})
        cls.keys = {n: servicekey_add(stack, n) for n in
                    ("shop", "pay", "idle", "chat", "learner", "away")}
        stack.hubctl("room", "hook", "hooked", "chat")
        stack.hubctl("room", "hook", "learn", "learner")
        stack.hubctl("room", "hook", "gone", "away")

    def setUp(self):
        super().setUp()
        self._opened = []

    def tearDown(self):
        for page in self._opened:
            try:
                self.browser.eval(page, "() => Promise.all(Object.values(T.hubs || {})"
                                        ".map((h) => h.close())).then(() => true)")
            except Exception:
                pass
        super().tearDown()

    # ---- helpers (as in test_web_hubio) ----------------------------------
    def open(self, page, user, **opts):
        self._opened.append(page)
        b = self.browser
        if page not in getattr(self.__class__, "_pages", set()):
            b.page(page, ctx=page)
            self.__class__._pages = getattr(self.__class__, "_pages", set()) | {page}
        b.goto(page, self.base + "/test/hubio.html")
        b.wait(page, "() => window.T")
        self.assertEqual(b.eval(page, "(a) => T.login(a.u, a.p)", {"u": user, "p": PW}), 200)
        o = {"username": user, "getToken": "cookie"}
        o.update(opts)
        b.eval(page, "(a) => T.connect(a.name, a.url, a.opts)",
               {"name": page, "url": self.ws_url, "opts": o})
        self.assertTrue(self.wait_seen(page, "connect"), "%s did not connect" % page)
        return page

    def js(self, page, body, arg=None):
        return self.browser.eval(page, "async (arg) => { %s }" % body, arg)

    def call(self, page, service, method, data=None, opts=None):
        return self.js(page, "return await T.hubs[arg.p].call(arg.s, arg.m, arg.d, arg.o)",
                       {"p": page, "s": service, "m": method, "d": data, "o": opts or {}})

    def attempt(self, page, expr, arg=None):
        return self.browser.eval(
            page, "async (arg) => { try { return {ok: (await (%s)) ?? null} } "
                  "catch (e) { return {err: e.message, code: e.code ?? null, "
                  "detail: e.detail ?? null, verdict: e.verdict ?? null} } }" % expr, arg)

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

    def calls_left(self, page):
        return self.js(page, "return T.hubs[arg]._calls.size", page)

    def node_backend(self, service):
        b = Backend(self.stack, service, self.keys[service])
        self.own(b)
        return b

    def c_service(self, service):
        s = self.own(CService(self.stack, service, self.keys[service]))
        self.assertIsNotNone(s.up(), "%s did not connect" % service)
        return s

    # ---- calls -----------------------------------------------------------
    @timeout(90)
    def test_01_call_node_backend(self):
        shop = self.node_backend("shop")
        shop.handle("echo")
        shop.handle("whoami", "ctx")
        shop.handle("order", "fail")
        a = self.open("a1", "alice")
        self.assertEqual(self.call(a, "shop", "echo", {"n": 1, "t": "gr\u00fc\u00df"}),
                         {"echo": {"n": 1, "t": "gr\u00fc\u00df"}, "pid": shop.p.pid})
        ctx = self.call(a, "shop", "whoami", {})["ctx"]
        self.assertEqual((ctx["user"], ctx["role"], ctx["kind"], ctx["method"]),
                         ("alice", "user", "user", "whoami"))
        self.assertEqual(self.call(a, "shop", "order", {"item": "tea"}),
                         {"error": "out_of_stock", "message": "no tea left"})
        self.assertEqual(self.call(a, "shop", "nosuch", {})["error"], "unknown_method")
        # timeout() works for calls too
        self.assertEqual(self.js(a, "return await T.hubs.a1.timeout(3000).call('shop', 'echo', 7)"),
                         {"echo": 7, "pid": shop.p.pid})
        self.assertEqual(self.calls_left(a), 0)

    @timeout(90)
    def test_02_call_c_service(self):
        pay = self.c_service("pay")
        pay.handle("echo")
        pay.handle("whoami", "ctx")
        pay.handle("charge", "fail")
        b = self.open("b2", "bob")
        self.assertEqual(self.call(b, "pay", "echo", [1, "two", None]),
                         {"echo": [1, "two", None], "pid": pay.pid})
        self.assertEqual(self.call(b, "pay", "whoami")["ctx"],
                         {"service": "pay", "method": "whoami", "user": "bob",
                          "displayName": "bob", "role": "user", "kind": "user"})
        self.assertEqual(self.call(b, "pay", "charge", {}),
                         {"error": "out_of_stock", "message": "no tea left"})
        ev = pay.wait("call", 3, pred=lambda e: e["method"] == "echo")
        self.assertEqual(ev["data"], [1, "two", None])

    @timeout(90)
    def test_03_unavailable_timeout_refused(self):
        a = self.open("a3", "alice")
        # no process of the service connected: the hub says so at once
        t0 = time.time()
        self.assertEqual(self.call(a, "idle", "x", {}), {"ok": False, "error": "unavailable"})
        self.assertLess(time.time() - t0, 2.0)
        # no such service: the hub refuses the call
        self.assertEqual(self.call(a, "nosuch", "x", {}), {"ok": False, "error": "forbidden"})
        # connected but never answering: timeout after timeoutMs
        idle = self.c_service("idle")
        idle.handle("x", "hang")
        t0 = time.time()
        self.assertEqual(self.call(a, "idle", "x", {}, {"timeoutMs": 800}),
                         {"ok": False, "error": "timeout"})
        self.assertGreaterEqual(time.time() - t0, 0.75)
        self.assertEqual(self.calls_left(a), 0, "a timed-out call left something behind")
        # bad arguments reject; nothing is sent
        for svc, method in (("sh/op", "x"), ("shop", "hook"), ("shop", "a+b"), ("", "x")):
            r = self.attempt(a, "T.hubs.a3.call(arg.s, arg.m, {})", {"s": svc, "m": method})
            self.assertEqual(r["code"], "invalid", (svc, method))
        # close() ends what waits: {ok: false, error: 'closed'}, nothing kept
        self.js(a, "T.pending = T.hubs.a3.call('idle', 'x', {}, {timeoutMs: 20000}); "
                   "return true")
        self.assertTrue(idle.wait("call", 5))
        self.js(a, "await T.hubs.a3.close(); return true")
        self.assertEqual(self.js(a, "return await T.pending"), {"ok": False, "error": "closed"})
        self.assertEqual(self.calls_left(a), 0)
        self.assertEqual(self.call(a, "idle", "x", {}), {"ok": False, "error": "closed"})
        # MQTT 3.1.1: no calls
        old = self.open("old3", "alice", protocolVersion=4)
        r = self.attempt(old, "T.hubs.old3.call('idle', 'x', {})")
        self.assertEqual(r["code"], "unsupported")

    @timeout(90)
    def test_04_answers_reach_only_the_caller(self):
        shop = self.node_backend("shop")
        shop.handle("slow", "slow", delay=200)
        a = self.open("a4", "alice")
        b = self.open("b4", "bob")
        self.js(b, "T.record('b4', 'mqtt'); return true")
        spy = self.mqtt("carol")
        self.assertEqual(spy.sub(["#", "users/+/reply/#"]), [1, 1])
        # bob cannot listen to alice's answers
        r = self.attempt(b, "T.hubs.b4.subscribe(['users/alice/reply/#'])")
        self.assertEqual(r["code"], "forbidden")
        expr = ("Promise.all([0, 1, 2, 3, 4].map((i) => "
                "T.hubs[arg.p].call('shop', 'slow', {who: arg.p, i})))")
        self.js(a, "T.mine = %s; return true" % expr, {"p": "a4"})
        self.js(b, "T.mine = %s; return true" % expr, {"p": "b4"})
        for page in (a, b):
            got = self.js(page, "return await T.mine")
            self.assertEqual([g["echo"] for g in got], [{"who": page, "i": i} for i in range(5)])
            self.assertEqual(self.calls_left(page), 0)
        # nothing of it on bob's page (he subscribed users/alice/reply/# in
        # vain: no 'mqtt' event), nothing for carol's wildcards
        self.assertEqual(self.seen(b, "mqtt"), [])
        self.assertFalse([m for m in spy.collect(0.3)
                          if "/reply/" in m[0] or m[0].startswith("svc/")])

    # ---- emits into hooked rooms ---------------------------------------------
    @timeout(90)
    def test_05_emit_into_hooked_room_gets_the_verdict(self):
        chat = self.c_service("chat")
        chat.hook("hooked", "accept")
        a = self.open("a5", "alice", hooked=["hooked"])
        b = self.open("b5", "bob")
        a2 = self.open("a5b", "alice")  # alice's second tab
        for page in (a, b, a2):
            self.assertEqual(self.attempt(page, "T.hubs[arg].join('hooked')", page),
                             {"ok": "hooked"})
        # accepted: the promise resolves with the verdict, the ack gets it too
        self.js(a, "T.acks = []; return true")
        r = self.attempt(a, "T.hubs.a5.emit('hooked', 'chat message', {text: 'hi'}, "
                            "(err, v) => T.acks.push({err: err && err.message, v}))")
        self.assertEqual(r, {"ok": {"ok": True, "data": {"text": "hi"}}})
        self.assertEqual(self.js(a, "return T.acks"),
                         [{"err": None, "v": {"ok": True, "data": {"text": "hi"}}}])
        got = self.wait_seen(b, "chat message")
        self.assertEqual(got[0]["data"], {"text": "hi"})
        self.assertEqual(got[0]["meta"]["from"], "alice")
        # accepted with changed data: members get what the service made of it
        chat.hook("hooked", "upper")
        r = self.attempt(a, "T.hubs.a5.emit('hooked', 'chat message', {text: 'shout'})")
        self.assertEqual(r, {"ok": {"ok": True, "data": {"text": "SHOUT"}}})
        got = self.wait_seen(b, "chat message", n=2)
        self.assertEqual(got[1]["data"], {"text": "SHOUT"})
        # rejected: the promise rejects with the reason, the ack gets the verdict
        chat.hook("hooked", "reject")
        self.js(a, "T.acks = []; return true")
        r = self.attempt(a, "T.hubs.a5.emit('hooked', 'chat message', {text: 'spam'}, "
                            "(err, v) => T.acks.push({err: err && err.message, v}))")
        self.assertEqual((r["code"], r["detail"], r["verdict"]),
                         ("rejected", "no", {"ok": False, "error": "rejected", "message": "no"}))
        self.assertEqual(self.js(a, "return T.acks"),
                         [{"err": "rejected",
                           "v": {"ok": False, "error": "rejected", "message": "no"}}])
        time.sleep(0.3)
        self.assertEqual(len(self.seen(b, "chat message")), 2, "a rejected event was delivered")
        self.assertEqual(self.calls_left(a), 0)
        # the hook service away: refused, "unavailable", never delivered
        chat.kill()
        r = self.attempt(a, "T.hubs.a5.emit('hooked', 'chat message', {text: 'anyone?'})")
        self.assertEqual((r["code"], r["verdict"]), ("unavailable",
                                                     {"ok": False, "error": "unavailable"}))
        self.assertEqual(len(self.seen(b, "chat message")), 2)
        # the emitting connection never gets its own events back (the hub
        # publishes an accepted one anew, which no-local does not stop);
        # alice's other tab gets them like any member
        self.assertEqual([g["data"] for g in self.wait_seen(a2, "chat message", n=2)],
                         [{"text": "hi"}, {"text": "SHOUT"}])
        self.assertEqual(self.seen(a, "chat message"), [])
        self.assertEqual(self.js(a, "return T.hubs.a5._echoes.size"), 0)
        # unhooked rooms are as before: resolved on the PUBACK
        self.assertEqual(self.attempt(a, "T.hubs.a5.emit('lobby', 'chat message', 1)"),
                         {"ok": None})
        # a request into a hooked room: the verdict takes its response topic,
        # so it is refused at once with a reason (not a late 'forbidden')
        r = self.attempt(a, "T.hubs.a5.request({room: 'hooked'}, 'sum', {a: 1})")
        self.assertEqual(r["code"], "unsupported", r)
        self.assertIn("call()", r["detail"] or "")

    @timeout(90)
    def test_06_hooked_room_learnt(self):
        learner = self.c_service("learner")
        learner.hook("learn", "reject")
        a = self.open("a6", "alice")
        # not told: the first emit resolves on the PUBACK, its verdict
        # (rejected) comes as an 'error' event and marks the room hooked
        self.assertEqual(self.attempt(a, "T.hubs.a6.emit('learn', 'chat message', 1)"),
                         {"ok": None})
        errs = self.wait_seen(a, "error-detail", pred="e.data.code === 'rejected'")
        self.assertTrue(errs, "no error event for the rejected first emit")
        self.assertTrue(self.js(a, "return T.hubs.a6._hooked.has('learn')"))
        # from then on the emit waits for the verdict
        r = self.attempt(a, "T.hubs.a6.emit('learn', 'chat message', 2)")
        self.assertEqual((r["code"], r["detail"]), ("rejected", "no"))
        learner.hook("learn", "accept")
        r = self.attempt(a, "T.hubs.a6.emit('learn', 'chat message', 3)")
        self.assertEqual(r, {"ok": {"ok": True, "data": 3}})
        # hooked() tells it up front; hooked(room, false) takes it back
        self.js(a, "T.hubs.a6.hooked('learn', false); return true")
        self.assertEqual(self.attempt(a, "T.hubs.a6.emit('learn', 'chat message', 4)"),
                         {"ok": None})
        self.assertTrue(wait_until(lambda: self.js(a, "return T.hubs.a6._hooked.has('learn')"),
                                   5))
        self.assertTrue(wait_until(lambda: self.calls_left(a) == 0, 5))
        # the whole exchange, seen by a member, is the accepted events only
        b = self.open("b6", "bob")
        self.attempt(b, "T.hubs.b6.join('learn')")
        self.attempt(a, "T.hubs.a6.emit('learn', 'chat message', 5)")
        got = self.wait_seen(b, "chat message")
        self.assertEqual([g["data"] for g in got], [5])

    @timeout(90)
    def test_07_dashboard_shows_the_reason(self):
        chat = self.c_service("chat")
        chat.hook("hooked", "reject")
        d = "d7"
        self._opened.append(d)
        self.browser.page(d, ctx=d)
        self.browser.goto(d, self.base + "/test/hubio.html")
        self.browser.wait(d, "() => window.T")
        self.assertEqual(self.browser.eval(d, "(a) => T.login(a.u, a.p)",
                                           {"u": "alice", "p": PW}), 200)
        self.browser.goto(d, self.base + "/")
        self.browser.wait(d, "() => window.hubDashboard && "
                             "document.getElementById('conn').dataset.state === 'connected'")
        self.js(d, "hubDashboard.hub.hooked('hooked'); hubDashboard.chat.select('hooked'); "
                   "await hubDashboard.chat.send('spam'); return true")
        text = self.browser.wait(d, "() => { const s = document.querySelector("
                                    "'#messages li.failed .state'); return s && s.textContent }")
        self.assertEqual(text, "not sent: no")
        self.js(d, "await hubDashboard.hub.close(); return true")


if __name__ == "__main__":
    harness.broker_main()
