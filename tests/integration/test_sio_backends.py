#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Backends through the Socket.IO gateway (CONTRACT.md "Backends",
docs/socketio.md "Service namespaces: calls" and "Hooked rooms"), with real
parts: mosquitto with hub_auth.so, hubd, hub-bridge, backends written with
the Node SDK (sdk/node, driven by js/backend_driver.mjs), paho for a raw
service, and the stock socket.io-client from node_modules running the
seed's client code (`io(url + '/shop')`, `await shop.emitWithAck(...)`).

Calls: answered through the namespace of the service (several arguments,
error answers, the caller's ctx, one connection multiplexing "/" and
service namespaces), "Invalid namespace" with socket.io's exact packet,
`unavailable` (no process connected; connected but not subscribed:
PUBACK 0x10), `timeout`, answers never reaching another user or socket
(concurrent callers, a service answering into another user's reply
topic, made-up correlation data), two backend processes sharing calls and
one killed mid-call losing only its calls, the per-socket and total bounds
(busy at once, nothing held, freed when a socket ends).

Hooked rooms on "/": accepted (as is and changed) events reach every
socket of the room but the sender, with the final data in the ack;
rejected, unavailable and timed-out events reach no socket of the gateway
(never before the verdict: a slow hook holds them); history holds only
accepted events; a hook set or removed with hubctl is in force when hubctl
returns.
"""
import json
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_backends_mqtt as tbm  # noqa: E402
from harness import RawWs, SioClient, Stack, free_port, wait_until  # noqa: E402

CALL_TIMEOUT_MS = 2000


def encoded_connect_error(nsp, message):
    """What socket.io's own parser (node_modules/socket.io-parser, the
    one socket.io 4 servers encode with) makes of a CONNECT_ERROR."""
    import subprocess
    js = ("const {Encoder, PacketType} = require('socket.io-parser');"
          "process.stdout.write(new Encoder().encode({type: PacketType.CONNECT_ERROR, "
          "nsp: %s, data: {message: %s}})[0]);" % (json.dumps(nsp), json.dumps(message)))
    return subprocess.run(["node", "-e", js], capture_output=True, text=True, check=True,
                          cwd=harness.REPO).stdout


class SioBackends(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack(extra_conf={"call_timeout_ms": CALL_TIMEOUT_MS,
                                   "history_events": "chat message",
                                   "sio_event_rate": 2000})
        cls.clients, cls.backends, cls.mqtts = [], [], []
        try:
            st = cls.st
            st.start_broker()
            st.start_hubd()
            rooms = {"lobby": "write", "hooked": "write", "held": "write", "flip": "write"}
            st.add_user("alice", rooms=rooms)
            st.add_user("bob", rooms=rooms)
            st.add_user("carol", rooms={"lobby": "write"})
            cls.keys = {n: tbm.servicekey_add(st, n) for n in ("shop", "pay", "chat", "idle",
                                                                "pool")}
            st.hubctl("room", "hook", "hooked", "chat")
            st.hubctl("room", "hook", "held", "idle")
            st.start_bridge()
            cls.shop = cls.backend("shop")
            cls.shop.handle("order", "echo")
            cls.shop.handle("who", "ctx")
            cls.shop.handle("fail", "fail")
            cls.shop.handle("slow", "slow", delay=CALL_TIMEOUT_MS + 1500)
            cls.shop.handle("sleep", "slow", delay=60000)
            cls.chat = cls.backend("chat")
            cls.chat.hook("*", "accept")
        except Exception:
            cls.tearDownClass()
            raise
        cls.url = cls.st.sio_url()

    @classmethod
    def tearDownClass(cls):
        for c in cls.clients:
            c.close()
        for b in cls.backends:
            b.close()
        for m in cls.mqtts:
            m.close()
        logs = cls.st.log("bridge") + cls.st.log("bridge2")
        cls.st.close()
        assert "AddressSanitizer" not in logs and "runtime error" not in logs, logs[-3000:]

    @classmethod
    def backend(cls, service, **kw):
        b = tbm.Backend(cls.st, service, cls.keys[service], **kw)
        cls.backends.append(b)
        return b

    def sio(self, user, nsp="", url=None, name=None, expect="connect", token=None):
        opts = {"auth": {"token": token or self.st.token(user)}} if user else {}
        c = SioClient((url or self.url) + nsp, opts, name or "%s%s" % (user, nsp))
        self.clients.append(c)
        if expect:
            c.wait(expect)
        return c

    def joined(self, user, room, name=None, url=None):
        c = self.sio(user, name=name, url=url)
        err, args = c.call("join", room)
        self.assertEqual(args, [{"ok": True, "room": room}])
        return c

    def raw_service(self, name):
        c = tbm.V5Client(self.st.ports["mqtt"], name, self.keys[name], version=5)
        self.mqtts.append(c)
        self.assertEqual(c.connect(), 0)
        return c

    # ------------------------------------------------------------ calls
    def test_01_calls_with_the_seeds_code(self):
        shop = self.sio("alice", "/shop")
        # const shop = io(url + '/shop'); await shop.emitWithAck('order', {...})
        a = shop.answer(shop.ask("order", {"item": "tea", "n": 2}))
        self.assertEqual(a["echo"], {"item": "tea", "n": 2})
        self.assertEqual(a["pid"], self.shop.p.pid)
        call = self.shop.wait("call", 5, lambda e: e["method"] == "order")
        self.assertEqual(call["ctx"]["user"], "alice")
        # the caller as Passport's socket.request.user would have it
        ctx = shop.answer(shop.ask("who", None))["ctx"]
        self.assertEqual((ctx["user"], ctx["displayName"], ctx["role"], ctx["kind"],
                          ctx["method"], ctx["service"]),
                         ("alice", "alice", "user", "user", "who", "shop"))
        # error answers are the service's own
        self.assertEqual(shop.answer(shop.ask("fail", {})),
                         {"error": "out_of_stock", "message": "no tea left"})
        self.assertEqual(shop.answer(shop.ask("nosuch", 1))["error"], "unknown_method")
        # several arguments: the method gets them as one array
        self.assertEqual(shop.answer(shop.ask("order", 1, "two", {"three": 3}))["echo"],
                         [1, "two", {"three": 3}])
        # emit(method, data, ack) and timeout(ms).emit(...)
        err, args = shop.call("order", {"cb": True})
        self.assertIsNone(err)
        self.assertEqual(args[0]["echo"], {"cb": True})
        # an emit without an ack is a call whose answer goes nowhere
        shop.emit("order", {"fire": "forget"})
        self.shop.wait("call", 5, lambda e: e["data"] == {"fire": "forget"})
        # 'hook' names the hub's hook requests, not a method
        err, args = shop.call("hook", {})
        self.assertEqual(args[0]["error"], "bad_event")

    def test_02_one_connection_several_namespaces(self):
        tok = self.st.token("alice")
        c = SioClient(self.url, {"auth": {"token": tok}}, "alice-multi")
        self.clients.append(c)
        c.wait("connect")
        # socket.io-client multiplexes io(url) and io(url + '/shop') on one
        # Engine.IO connection: the "/" socket keeps its rooms
        c.socket("shop", "/shop", {"auth": {"token": tok}})
        ev = c.wait("connect", lambda e: e.get("sock") == "shop")
        self.assertNotEqual(ev["id"], [e for e in c.seen if e["ev"] == "connect"][0]["id"])
        a = c.answer(c.ask("order", {"multi": 1}, sock="shop"))
        self.assertEqual(a["echo"], {"multi": 1})
        err, args = c.call("join", "lobby")
        self.assertEqual(args, [{"ok": True, "room": "lobby"}])
        # a namespace socket without credentials of its own: the
        # connection's user (the cookie's or the first token's, as with
        # express-session on the Engine.IO request)
        c.socket("pay", "/pay")
        c.wait("connect", lambda e: e.get("sock") == "pay")
        # another user's token on the same connection is refused
        c.socket("idle", "/idle", {"auth": {"token": self.st.token("bob")}})
        e = c.wait("connect_error", lambda e: e.get("sock") == "idle")
        self.assertEqual(e["message"], "unauthorized")
        # the namespace's DISCONNECT leaves "/" connected
        c.cmd(op="disconnect", sock="shop")
        c.wait("disconnect", lambda e: e.get("sock") == "shop")
        err, args = c.call("chat message", {"text": "still here"})
        self.assertTrue(args[0]["ok"], args)
        # and the "/" socket's DISCONNECT leaves the namespace connected
        c.cmd(op="disconnect")
        c.wait("disconnect", lambda e: "sock" not in e)
        a = c.answer(c.ask("order", {}, sock="pay"))
        self.assertEqual(a, {"ok": False, "error": "unavailable"})

    def test_03_invalid_namespace(self):
        # a name that is no service: a user, a room, nothing, not a name
        for nsp in ("/nosuch", "/alice", "/lobby", "/a%20b"):
            with self.subTest(nsp):
                c = self.sio("alice", nsp, expect="connect_error")
                self.assertEqual(c.seen[-1]["message"], "Invalid namespace")
        # no credentials: unauthorized first (who is not logged in learns
        # nothing about which services exist)
        c = self.sio(None, "/shop", expect="connect_error")
        self.assertEqual(c.seen[-1]["message"], "unauthorized")
        # the exact packet socket.io 4 sends
        ws = RawWs(self.st.ports["sio"], "/socket.io/?EIO=4&transport=websocket")
        try:
            self.assertEqual(ws.recv_text()[0], "0")
            ws.send('40/nosuch,{"token":"%s"}' % self.st.token("alice"))
            self.assertEqual(ws.recv_text(), "4" + encoded_connect_error(
                "/nosuch", "Invalid namespace"))
        finally:
            ws.close()

    def test_04_unavailable(self):
        # no process of the service connected: the plugin's answer
        pay = self.sio("alice", "/pay")
        t0 = time.time()
        self.assertEqual(pay.answer(pay.ask("charge", {"eur": 1})),
                         {"ok": False, "error": "unavailable"})
        self.assertLess(time.time() - t0, CALL_TIMEOUT_MS / 1000.0)
        # a process connected but subscribed to nothing: nobody takes the
        # call (MQTT 5 PUBACK 0x10, no matching subscribers)
        raw = self.raw_service("pay")
        t0 = time.time()
        self.assertEqual(pay.answer(pay.ask("charge", {"eur": 2})),
                         {"ok": False, "error": "unavailable"})
        self.assertLess(time.time() - t0, CALL_TIMEOUT_MS / 1000.0)
        raw.close()

    def test_05_timeout(self):
        shop = self.sio("bob", "/shop")
        t0 = time.time()
        err, args = shop.call("slow", {"late": True}, timeout=10000)
        took = time.time() - t0
        self.assertEqual(args, [{"ok": False, "error": "timeout"}])
        self.assertGreaterEqual(took, CALL_TIMEOUT_MS / 1000.0 - 0.2)
        self.assertLess(took, CALL_TIMEOUT_MS / 1000.0 + 2.0)
        # the late answer reaches nobody; the socket goes on
        a = shop.answer(shop.ask("order", "after"))
        self.assertEqual(a["echo"], "after")
        time.sleep(1.6)  # the slow handler answers now
        shop.none("ack", lambda e: e["args"] and e["args"][0].get("echo") == {"late": True},
                  duration=0.5)

    def test_06_answers_reach_only_their_caller(self):
        # concurrent callers, two sockets of one user, another user
        socks = [self.sio("alice", "/shop", name="a1"), self.sio("alice", "/shop", name="a2"),
                 self.sio("bob", "/shop", name="b1")]
        ids = {}
        for k in range(15):
            for n, c in enumerate(socks):
                ids[(n, k)] = c.ask("who", {"n": n, "k": k})
        for (n, k), i in ids.items():
            a = socks[n].answer(i)
            self.assertEqual(a["ctx"]["user"], "bob" if n == 2 else "alice")
        for n, c in enumerate(socks):
            c.none("ack", duration=0.2)  # nothing more (15 asked, 15 answered)
        # a service that answers one user's call into another user's reply
        # topic, or with made-up correlation data: dropped by the gateway.
        # bob's call is asked first, alice's second: both have ack id 0 on
        # their fresh sockets, so a misrouted answer would resolve bob's
        raw = self.raw_service("pay")
        raw.sub("$share/pay/svc/pay/#")
        bob = self.sio("bob", "/pay", name="bob-pay")
        alice = self.sio("alice", "/pay", name="alice-pay")
        ib = bob.ask("charge", {"who": "bob"})
        mb = raw.wait_msg("svc/pay/charge/bob", 5)
        ia = alice.ask("charge", {"who": "alice"})
        ma = raw.wait_msg("svc/pay/charge/alice", 5)
        self.assertIsNotNone(mb)
        self.assertIsNotNone(ma)
        rt_a, corr_a = ma[4].ResponseTopic, ma[4].CorrelationData
        rt_b, corr_b = mb[4].ResponseTopic, mb[4].CorrelationData
        self.assertTrue(rt_a.startswith("users/alice/reply/"), rt_a)
        tag = rt_a.rsplit("/", 1)[1]
        self.assertEqual(rt_b, "users/bob/reply/" + tag)
        self.assertEqual(len(corr_a), 16)
        # alice's answer on bob's topic; bob's key with another nonce
        raw.publish5(rt_b, {"forged": "alice's answer"}, correlation=corr_a)
        raw.publish5(rt_b, {"forged": "made up"}, correlation=corr_b[:8] + bytes(8))
        raw.publish5(rt_b, {"forged": "short"}, correlation=corr_b[:8])
        bob.none("ack", duration=0.5)
        alice.none("ack", duration=0.1)
        raw.publish5(rt_b, {"for": "bob"}, correlation=corr_b)
        raw.publish5(rt_a, {"for": "alice"}, correlation=corr_a)
        self.assertEqual(bob.answer(ib), {"for": "bob"})
        self.assertEqual(alice.answer(ia), {"for": "alice"})
        # the same answer again finds nothing waiting
        raw.publish5(rt_a, {"for": "alice", "again": True}, correlation=corr_a)
        alice.none("ack", duration=0.3)
        self.assertIn("answer on another user's reply topic dropped", self.st.log("bridge"))
        raw.close()

    def test_07_two_backends_share_calls_one_killed(self):
        b1 = self.backend("pool")
        b2 = self.backend("pool")
        for b in (b1, b2):
            b.handle("work", "slow", delay=1200)
        c = self.sio("alice", "/pool")
        ids = [c.ask("work", {"n": n}) for n in range(10)]
        pids = {c.answer(i)["pid"] for i in ids}
        self.assertEqual(pids, {b1.p.pid, b2.p.pid})
        for b in (b1, b2):
            while b.wait("call", 0.1):
                pass
        # 10 calls in flight, spread over both; b1 dies with its share
        ids = {n: c.ask("work", {"n": n}) for n in range(10)}
        self.assertTrue(wait_until(lambda: b1.count("call") + b2.count("call") == 10, 10))
        took1 = {e["data"]["n"] for e in b1.events if e["ev"] == "call"}
        took2 = {e["data"]["n"] for e in b2.events if e["ev"] == "call"}
        self.assertTrue(took1 and took2, (took1, took2))
        b1.kill()
        for n, i in ids.items():
            a = c.answer(i, timeout=CALL_TIMEOUT_MS / 1000.0 + 5)
            if n in took1:
                self.assertEqual(a, {"ok": False, "error": "timeout"}, n)
            else:
                self.assertEqual((a["echo"], a["pid"]), ({"n": n}, b2.p.pid), n)
        # the survivor takes every call from now on
        self.assertEqual(c.answer(c.ask("work", {"n": 99}))["pid"], b2.p.pid)
        b2.close()

    def test_08_bounds_per_socket_and_in_all(self):
        """A gateway with sio_calls_per_socket 3 and sio_calls_max 5: over
        a bound the ack says busy at once and nothing is kept; a socket
        that ends frees its share at once."""
        port = free_port()
        saved = dict(self.st.env)
        self.st.env.update(HUB_SIO_PORT=str(port), HUB_SIO_CALLS_PER_SOCKET="3",
                           HUB_SIO_CALLS_MAX="5")
        try:
            self.st.start("bridge2", [os.path.join(harness.BIN, "hub-bridge")], port)
        finally:
            self.st.env = saved
        url = "http://127.0.0.1:%d" % port
        a = self.sio("alice", "/shop", url=url, name="bound-a")
        b = self.sio("bob", "/shop", url=url, name="bound-b")
        t0 = time.time()
        ia = [a.emit("sleep", {"a": n}, ack=True) for n in range(4)]
        first = a.wait("ack", lambda e: e["id"] in ia, 2)
        self.assertEqual(first["id"], ia[3])
        self.assertEqual(first["args"][0]["error"], "busy")
        self.assertIn("sio_calls_per_socket", first["args"][0]["message"])
        self.assertLess(time.time() - t0, 1.5)
        ib = [b.emit("sleep", {"b": n}, ack=True) for n in range(3)]
        first = b.wait("ack", lambda e: e["id"] in ib, 2)
        self.assertEqual(first["id"], ib[2])
        self.assertEqual(first["args"][0]["error"], "busy")
        self.assertIn("sio_calls_max", first["args"][0]["message"])
        # a's socket ends: its three waits go with it, b may wait on more
        a.cmd(op="disconnect")
        a.wait("disconnect")
        wait_until(lambda: "nsp=/shop reason=clean" in self.st.log("bridge2"), 5)
        t1 = time.time()
        more = [b.emit("sleep", {"b": 10 + n}, ack=True) for n in range(2)]
        # b holds 2 + 1 = 3 (its own bound), the fourth is busy
        e = b.wait("ack", lambda e: e["id"] in more, 2)
        self.assertEqual((e["id"], e["args"][0]["error"]), (more[1], "busy"))
        self.assertIn("sio_calls_per_socket", e["args"][0]["message"])
        # the accepted ones time out: they were kept, and only they
        for i in ib[:2] + more[:1]:
            e = b.wait("ack", lambda e: e["id"] == i, CALL_TIMEOUT_MS / 1000.0 + 5)
            self.assertEqual(e["args"], [{"ok": False, "error": "timeout"}])
        self.assertGreater(time.time() - t1, 0.5)
        # and once they are answered, b calls again
        self.assertEqual(b.answer(b.ask("order", "again"))["echo"], "again")
        # events into a hooked room count too (per socket, "/"); a client
        # that goes away frees its share at once: r2's three events fit
        # (3 + 3 would be over sio_calls_max 5 if r's were kept)
        self.chat.hook("*", "hang")
        try:
            r = self.joined("alice", "hooked", name="bound-room", url=url)
            r2 = self.joined("bob", "hooked", name="bound-room2", url=url)
            rid = [e for e in r.seen if e["ev"] == "connect"][0]["id"]
            ids = [r.emit("chat message", {"room": "hooked", "n": n}, ack=True)
                   for n in range(4)]
            e = r.wait("ack", lambda e: e["id"] in ids, 2)
            self.assertEqual((e["id"], e["args"][0]["error"]), (ids[3], "busy"))
            r.close()
            self.assertTrue(wait_until(
                lambda: "%s/alice | disconnect |" % rid in self.st.log("bridge2"), 5))
            ids = [r2.emit("chat message", {"room": "hooked", "n": n}, ack=True)
                   for n in range(3)]
            r2.none("ack", lambda e: e["id"] in ids, 0.5)
        finally:
            self.chat.hook("*", "accept")
        self.st.stop("bridge2")

    # ------------------------------------------------------------ hooks
    def test_09_hooked_accepted_and_changed(self):
        alice = self.joined("alice", "hooked", "h-alice")
        alice2 = self.joined("alice", "hooked", "h-alice2")
        bob = self.joined("bob", "hooked", "h-bob")
        self.chat.hook("*", "upper")
        try:
            err, args = alice.call("chat message", {"room": "hooked", "text": "hi"})
            ack = args[0]
            self.assertEqual((ack["ok"], ack["room"], ack["data"]),
                             (True, "hooked", {"room": "hooked", "text": "HI"}))
            self.assertIsInstance(ack["ts"], int)
            data, meta = bob.event("chat message", lambda a: a[0].get("text") == "HI")
            self.assertEqual((meta["room"], meta["from"]), ("hooked", "alice"))
            alice2.event("chat message", lambda a: a[0].get("text") == "HI")
            h = self.chat.wait("hooked", 5, lambda e: isinstance(e["data"], dict) and
                               e["data"].get("text") == "hi")
            self.assertEqual((h["room"], h["event"], h["ctx"]["user"]),
                             ("hooked", "chat message", "alice"))
        finally:
            self.chat.hook("*", "accept")
        # accepted as is; several arguments stay several
        err, args = alice.call("chat message", {"room": "hooked", "text": "as is"})
        self.assertEqual(args[0]["data"], {"room": "hooked", "text": "as is"})
        bob.event("chat message", lambda a: a[0].get("text") == "as is")
        err, args = alice.call("chat message", {"room": "hooked", "text": "two"}, 2)
        self.assertTrue(args[0]["ok"], args)
        got = bob.event("chat message", lambda a: a[0].get("text") == "two")
        self.assertEqual(got[:2], [{"room": "hooked", "text": "two"}, 2])
        # the sender's own socket never gets its events back
        alice.none("event", lambda e: e["name"] == "chat message", 0.5)

    def test_10_rejected_reaches_no_socket(self):
        alice = self.joined("alice", "hooked", "r-alice")
        alice2 = self.joined("alice", "hooked", "r-alice2")
        bob = self.joined("bob", "hooked", "r-bob")
        self.chat.hook("*", "reject")
        try:
            err, args = alice.call("chat message", {"room": "hooked", "text": "bad"})
            self.assertEqual(args, [{"ok": False, "error": "rejected", "message": "no",
                                     "event": "chat message"}])
            # without an ack: a hub:error event says it
            alice.emit("chat message", {"room": "hooked", "text": "bad2"})
            e = alice.event("hub:error")
            self.assertEqual((e[0]["error"], e[0]["message"]), ("rejected", "no"))
        finally:
            self.chat.hook("*", "accept")
        err, args = alice.call("chat message", {"room": "hooked", "text": "good"})
        self.assertTrue(args[0]["ok"])
        # what the others get next is the accepted one; the rejected never
        for c in (bob, alice2):
            data, meta = c.event("chat message")
            self.assertEqual(data["text"], "good")
            c.none("event", lambda e: e["name"] == "chat message", 0.3)

    def test_11_nothing_before_the_verdict(self):
        alice = self.joined("alice", "hooked", "s-alice")
        bob = self.joined("bob", "hooked", "s-bob")
        self.chat.hook("*", "slow", delay=1500)
        try:
            t0 = time.time()
            i = alice.emit("chat message", {"room": "hooked", "text": "slow"}, ack=True)
            bob.none("event", lambda e: e["name"] == "chat message", 1.0)
            ev = bob.wait("event", lambda e: e["name"] == "chat message", 5)
            h = self.chat.wait("hooked", 5, lambda e: isinstance(e["data"], dict) and
                               e["data"].get("text") == "slow")
            self.assertGreater(ev["t"], h["t"] + 1.0)  # after the service's 1.5 s
            self.assertGreater(ev["t"] - t0, 1.2)
            ack = alice.wait("ack", lambda e: e["id"] == i, 5)
            self.assertTrue(ack["args"][0]["ok"])
        finally:
            self.chat.hook("*", "accept")

    def test_12_unavailable_and_timeout(self):
        alice = self.joined("alice", "held", "u-alice")
        bob = self.joined("bob", "held", "u-bob")
        err, args = alice.call("chat message", {"room": "held", "text": "nobody checks"})
        self.assertEqual((args[0]["ok"], args[0]["error"]), (False, "unavailable"))
        bob.none("event", lambda e: e["name"] == "chat message", 0.5)
        a2 = self.joined("alice", "hooked", "t-alice")
        b2 = self.joined("bob", "hooked", "t-bob")
        self.chat.hook("*", "hang")
        try:
            t0 = time.time()
            err, args = a2.call("chat message", {"room": "hooked", "text": "hang"},
                                timeout=10000)
            self.assertEqual((args[0]["ok"], args[0]["error"]), (False, "timeout"))
            self.assertLess(time.time() - t0, CALL_TIMEOUT_MS / 1000.0 + 2.5)
        finally:
            self.chat.hook("*", "accept")
        b2.none("event", lambda e: e["name"] == "chat message", 0.5)

    def test_13_history_holds_accepted_events_only(self):
        alice = self.joined("alice", "hooked", "hist-alice")
        self.chat.hook("*", "reject")
        err, args = alice.call("chat message", {"room": "hooked", "text": "drop-13"})
        self.assertEqual(args[0]["error"], "rejected")
        self.chat.hook("*", "upper")
        err, args = alice.call("chat message", {"room": "hooked", "text": "keep-13"})
        self.assertTrue(args[0]["ok"])
        self.chat.hook("*", "accept")
        cookie, _, _ = self.st.login("bob")

        def texts():
            r = self.st.http("GET", "/api/rooms/hooked/messages?limit=100", cookie=cookie)
            return [json.dumps(m) for m in r.json().get("messages", [])]
        self.assertTrue(wait_until(lambda: any("KEEP-13" in t for t in texts()), 10),
                        texts())
        self.assertFalse([t for t in texts() if "drop-13" in t.lower()])

    def test_14_hook_in_force_when_hubctl_returns(self):
        alice = self.joined("alice", "flip", "f-alice")
        bob = self.joined("bob", "flip", "f-bob")
        self.chat.hook("*", "reject")
        try:
            self.st.hubctl("room", "hook", "flip", "chat")
            err, args = alice.call("chat message", {"room": "flip", "text": "checked"})
            self.assertEqual(args[0]["error"], "rejected")
            self.st.hubctl("room", "hook", "flip", "none")
            err, args = alice.call("chat message", {"room": "flip", "text": "free"})
            self.assertEqual(set(args[0]), {"ok", "room", "ts"})
            data, meta = bob.event("chat message")
            self.assertEqual(data["text"], "free")
        finally:
            self.chat.hook("*", "accept")

    def test_15_namespace_socket_ends_with_its_session(self):
        tok = self.st.revocable_token("carol")
        shop = self.sio("carol", "/shop", token=tok, name="carol-shop")
        self.assertEqual(shop.answer(shop.ask("order", 1))["echo"], 1)
        sid = harness.token_claims(tok)["sid"]
        t0 = time.time()
        self.st.hubctl("session", "revoke", sid)
        e = shop.wait("disconnect", timeout=5)
        self.assertEqual(e["reason"], "io server disconnect")
        self.assertLess(time.time() - t0, 1.5)


    def test_16_an_inbox_event_named_reply_is_an_event(self):
        # the gateway reads users/{user}/reply/... as answers; an inbox
        # event whose name is "reply" (users/bob/inbox/reply/alice) is not one
        # (from the broker: hubd's publish API with a service key)
        bob = self.sio("bob", name="ib-bob")
        r = self.st.http("POST", "/api/publish", {"user": "bob", "event": "reply",
                                                  "data": {"text": "re"}},
                         headers={"Authorization": "Bearer " + self.keys["shop"]})
        self.assertLess(r.status, 300, r)
        data, meta = bob.event("reply")
        self.assertEqual((data["text"], meta["inbox"]), ("re", True))


if __name__ == "__main__":
    unittest.main(verbosity=2)
