#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Backends over MQTT (docs/backends.md, CONTRACT.md "Backends"), the
broker plugin's side, with real parts: mosquitto with hub_auth.so, paho
MQTT 5 clients (callers, members, a raw client for exact PUBACK codes), and
backends written with the Node SDK (sdk/node) driven through
tests/integration/js/backend_driver.mjs.

Services log in with their key (wrong key refused, a deleted key ends its
connections within 1 s, a new key works when hubctl returns), their rights
(hubctl explain; another service's calls, emitting as a user, svc/# as a
user: refused), calls end to end (the answer reaches only the caller, a
reply forged by a user is refused, PUBACK 0x10 with no service, even with
READ denials in the way, two backend processes share the calls, one
killed mid-call loses only its in-flight calls), hooks (accept, accept
with changed data, reject, vote once, timeout, service away, QoS 0/1/2,
retained, history holds accepted events only, bounds, no way around the
hook: $share, wildcards, wills, forged verdicts).
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, MqttClient, timeout, wait_until  # noqa: E402
from mqttraw import RawClient, v5_props  # noqa: E402

DRIVER = os.path.join(harness.REPO, "tests", "integration", "js", "backend_driver.mjs")
CALL_TIMEOUT_MS = 2000


def servicekey_add(stack, name):
    out = stack.hubctl("servicekey", "add", name).stdout
    for line in out.splitlines():
        if line.startswith("key: "):
            return line.split(": ", 1)[1].strip()
    raise RuntimeError("no key in hubctl output: %r" % out)


class V5Client(MqttClient):
    """harness.MqttClient that also keeps each message's QoS and MQTT 5
    properties: messages are (topic, payload, retain, t, props, qos)."""

    def _on_message(self, c, u, msg):
        props = getattr(msg, "properties", None)
        with self.cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain), time.time(),
                                  props, msg.qos))
            self.cond.notify_all()

    def publish5(self, topic, payload, qos=1, retain=False, response_topic=None,
                 correlation=None, user=()):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        props = Properties(PacketTypes.PUBLISH)
        if response_topic:
            props.ResponseTopic = response_topic
        if correlation is not None:
            props.CorrelationData = correlation if isinstance(correlation, bytes) \
                else correlation.encode()
        if user:
            props.UserProperty = list(user)
        if isinstance(payload, (dict, list)):
            payload = json.dumps(payload)
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if qos:
            info.wait_for_publish(5)
        return info

    def answer(self, correlation, timeout=5.0, topic="users/+/reply/#"):
        """The JSON answer carrying correlation (removed from the inbox)."""
        corr = correlation.encode() if isinstance(correlation, str) else correlation
        m = self.wait_msg(topic, timeout, pred=lambda m: m[4] is not None and getattr(
            m[4], "CorrelationData", None) == corr)
        return json.loads(m[1]) if m else None


def user_props(m):
    return dict(getattr(m[4], "UserProperty", []) or []) if m and m[4] else {}


class Backend:
    """One Node SDK backend process (tests/integration/js/backend_driver.mjs)."""

    def __init__(self, stack, service, key, shared=True, concurrency=64):
        self.err = open(os.path.join(stack.dir, "backend-%s.log" % service), "ab")
        self.p = subprocess.Popen(["node", DRIVER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  cwd=harness.REPO)
        self.cond = threading.Condition()
        self.events = []
        threading.Thread(target=self._read, daemon=True).start()
        if not self.wait("ready", 20):
            raise RuntimeError("backend driver did not start")
        self.send(op="connect", url="mqtt://127.0.0.1:%d" % stack.ports["mqtt"],
                  service=service, key=key, shared=shared, concurrency=concurrency)
        ev = self.wait(("connected", "error"), 20)
        if not ev or ev["ev"] != "connected":
            raise RuntimeError("backend did not connect: %r" % ev)

    def _read(self):
        for line in self.p.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()

    def send(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()

    def wait(self, ev, timeout=5.0, pred=None):
        names = (ev,) if isinstance(ev, str) else ev

        def find():
            for i, e in enumerate(self.events):
                if e["ev"] in names and (pred is None or pred(e)):
                    return i
            return None
        with self.cond:
            idx = []
            if not self.cond.wait_for(lambda: idx.append(find()) or idx[-1] is not None,
                                      timeout):
                return None
            return self.events.pop(idx[-1])

    def count(self, ev):
        with self.cond:
            return len([e for e in self.events if e["ev"] == ev])

    def handle(self, method, behaviour="echo", delay=None):
        self.send(op="handle", method=method, behaviour=behaviour, delay=delay)
        assert self.wait("handling", 5)

    def hook(self, room, behaviour="accept", delay=None):
        self.send(op="hook", room=room, behaviour=behaviour, delay=delay)
        assert self.wait("hooking", 5)

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(5)

    def close(self):
        if self.p.poll() is None:
            try:
                self.send(op="exit")
                self.p.wait(5)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.kill()
        self.err.close()


class Backends(BrokerTestCase):
    stack_conf = {"call_timeout_ms": CALL_TIMEOUT_MS, "hook_sender_pending_max": 5,
                  "history_events": "chat message,chat"}

    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write", "hooked": "write", "poll": "write",
                                       "held": "write"})
        stack.add_user("bob", rooms={"lobby": "write", "hooked": "write", "poll": "write",
                                     "held": "write"})
        stack.add_user("carol", rooms={"other": "write"})
        stack.hubctl("user", "add", "dave", "--role", "admin", "--display", "Dave D",
                     "--password-stdin", input="secret-pw\n")
        cls.keys = {n: servicekey_add(stack, n) for n in ("shop", "pay", "chat", "votes",
                                                          "idle")}
        stack.hubctl("room", "hook", "hooked", "chat")
        stack.hubctl("room", "hook", "poll", "votes")
        stack.hubctl("room", "hook", "held", "idle")

    def setUp(self):
        super().setUp()
        self.backends = []

    def tearDown(self):
        for b in self.backends:
            b.close()
        super().tearDown()

    def backend(self, service, **kw):
        b = Backend(self.stack, service, self.keys[service], **kw)
        self.backends.append(b)
        return b

    def v5(self, user, password=None, **kw):
        c = self.own(V5Client(self.port, user, password or self.stack.token(user), version=5,
                              **kw))
        self.assertEqual(c.connect(), 0, "CONNACK for %s" % user)
        return c

    def raw5(self, user, password=None):
        c = self.raw()
        self.assertEqual(c.connect(user, password or self.stack.token(user), version=5,
                                   client_id="raw-%s" % os.urandom(4).hex()), 0)
        return c

    def call(self, caller, service, method, data, corr, timeout=5.0, user=()):
        caller.publish5("svc/%s/%s/%s" % (service, method, caller.c._username.decode()),
                        data, response_topic="users/%s/reply/%s" % (
                            caller.c._username.decode(), corr), correlation=corr, user=user)
        return caller.answer(corr, timeout)

    # ------------------------------------------------------------ services
    @timeout(60)
    def test_01_service_login(self):
        ok = V5Client(self.port, "shop", self.keys["shop"], version=5)
        self.own(ok)
        self.assertEqual(ok.connect(), 0)
        key = self.keys["shop"]
        # a wrong last character (never the right one: "A" is a key's last
        # character once in 64 keys)
        off_by_one = key[:-1] + ("B" if key.endswith("A") else "A")
        for pw in (self.keys["pay"], off_by_one, "", self.stack.token("alice")):
            c = self.raw()
            self.assertEqual(c.connect("shop", pw, version=5, client_id="x"), 0x87, pw[:8])
        # services are no room members: no joined notice, no status
        self.assertFalse([m for m in ok.collect(0.3) if "shop" in m[0]])
        # a key added is usable when hubctl returns; deleted: out within 1 s
        key = servicekey_add(self.stack, "fresh")
        fresh = V5Client(self.port, "fresh", key, version=5)
        self.own(fresh)
        self.assertEqual(fresh.connect(), 0, "a key usable when hubctl returned")
        self.stack.hubctl("servicekey", "del", "fresh")
        t0 = time.time()  # in force when hubctl returns; ended within 1 s of it
        gone = fresh.wait_disconnect(3.0)
        self.assertIsNotNone(gone, "a deleted key's connection stays")
        self.assertLess(gone - t0, 1.0, "ended %.2fs after hubctl returned" % (gone - t0))
        c = self.raw()
        self.assertEqual(c.connect("fresh", key, version=5, client_id="y"), 0x87)
        self.assertIn("kind=app", self.stack.log("broker"))

    @timeout(60)
    def test_02_service_rights(self):
        out = self.stack.hubctl("explain", "shop", "svc/shop/#", "subscribe").stdout
        self.assertIn("allow", out.lower())
        self.assertIn("svc/{service}/{method}/{sender}", out)
        out = self.stack.hubctl("explain", "shop", "$share/shop/svc/shop/#", "subscribe").stdout
        self.assertIn("allow", out.lower())
        shop = self.raw5("shop", self.keys["shop"])
        self.assertEqual(shop.subscribe(["svc/shop/#", "$share/shop/svc/shop/#",
                                         "svc/pay/#", "$share/pay/svc/pay/#",
                                         "$share/shop/svc/pay/#", "$hub/verdict/#"]),
                         [1, 1, 0x87, 0x87, 0x87, 0x87])
        # a backend speaks as itself
        self.assertEqual(shop.publish("rooms/lobby/ev/chat/alice", b"x", qos=1), 0x87)
        self.assertIn(shop.publish("rooms/lobby/ev/chat/shop", b"x", qos=1), (0, 0x10))
        self.assertEqual(shop.publish("users/alice/inbox/x/alice", b"x", qos=1), 0x87)
        self.assertIn(shop.publish("users/alice/inbox/x/shop", b"x", qos=1), (0, 0x10))
        self.assertEqual(shop.publish("$hub/verdict/pay/x", b"{}", qos=1), 0x87)
        # users: no svc/ subscriptions, no reply or verdict writes
        alice = self.raw5("alice")
        self.assertEqual(alice.subscribe(["svc/#", "svc/shop/+/alice", "users/alice/reply/#",
                                          "users/bob/reply/#"]), [0x87, 0x87, 1, 0x87])
        self.assertEqual(alice.publish("users/alice/reply/x", b"{}", qos=1), 0x87)
        self.assertEqual(alice.publish("$hub/verdict/shop/x", b"{}", qos=1), 0x87)
        self.assertEqual(alice.publish("svc/shop/order/bob", b"{}", qos=1), 0x87)
        self.assertEqual(alice.publish("svc/nosuch/order/alice", b"{}", qos=1), 0x87)
        self.assertEqual(alice.publish("svc/shop/hook/alice", b"{}", qos=1), 0x87)

    # --------------------------------------------------------------- calls
    @timeout(90)
    def test_03_call_end_to_end(self):
        b = self.backend("shop")
        b.handle("echo")
        b.handle("whoami", "ctx")
        b.handle("order", "fail")
        alice = self.v5("alice")
        bob = self.v5("bob")
        self.assertEqual(alice.sub("users/alice/reply/#"), [1])
        self.assertEqual(bob.sub(["#"]), [1])  # sees nothing of alice's calls
        a = self.call(alice, "shop", "echo", {"n": 1}, "c1")
        self.assertEqual(a, {"echo": {"n": 1}, "pid": b.p.pid})
        ctx = self.call(alice, "shop", "whoami", {}, "c2",
                        user=[("hub-user", "bob"), ("hub-role", "admin")])["ctx"]
        self.assertEqual(ctx["user"], "alice")
        self.assertEqual(ctx["role"], "user")
        self.assertEqual(ctx["kind"], "user")
        self.assertEqual(ctx["method"], "whoami")
        ev = b.wait("call", 2, pred=lambda e: e["method"] == "whoami")
        self.assertEqual(ev["ctx"]["user"], "alice")
        self.assertEqual(self.call(alice, "shop", "order", {}, "c3"),
                         {"error": "out_of_stock", "message": "no tea left"})
        self.assertEqual(self.call(alice, "shop", "nosuch", {}, "c4")["error"], "unknown_method")
        # nothing of it reached bob, whatever he subscribed
        self.assertFalse([m for m in bob.collect(0.3)
                          if m[0].startswith(("svc/", "users/alice/reply"))])
        # an admin's role and display name reach the service
        dave = self.v5("dave")
        dave.sub("users/dave/reply/#")
        ctx = self.call(dave, "shop", "whoami", {}, "c5")["ctx"]
        self.assertEqual((ctx["user"], ctx["role"], ctx["displayName"]),
                         ("dave", "admin", "Dave D"))

    @timeout(60)
    def test_04_forged_reply(self):
        alice = self.v5("alice")
        alice.sub("users/alice/reply/#")
        bob = self.raw5("bob")
        self.assertEqual(bob.publish("users/alice/reply/c1", b'{"ok":true}', qos=1,
                                     props=v5_props(correlation_data="c1")), 0x87)
        # a call whose reply topic is someone else's is refused
        self.assertEqual(bob.publish("svc/shop/echo/bob", b"{}", qos=1,
                                     props=v5_props("users/alice/reply/c9", "c9")), 0x87)
        self.assertEqual(bob.publish("svc/shop/echo/bob", b"{}", qos=1, retain=True,
                                     props=v5_props("users/bob/reply/c9", "c9")), 0x87)
        self.assertIsNone(alice.wait_msg("users/alice/reply/#", 0.5))

    @timeout(60)
    def test_05_no_service(self):
        # nothing subscribed: Mosquitto's PUBACK 0x10, through the plugin
        alice = self.raw5("alice")
        self.assertEqual(alice.publish("svc/pay/charge/alice", b"{}", qos=1,
                                       props=v5_props("users/alice/reply/p1", "p1")), 0x10)
        # with the service connected but not subscribed: 0x10 too
        pay = self.raw5("pay", self.keys["pay"])
        self.assertEqual(alice.publish("svc/pay/charge/alice", b"{}", qos=1,
                                       props=v5_props("users/alice/reply/p2", "p2")), 0x10)
        pay.disconnect()
        # READ denials in the way (bob's '#' matches the call in the
        # broker's tree): 0x00 then, so the plugin answers "unavailable"
        bob = self.v5("bob")
        self.assertEqual(bob.sub("#"), [1])
        carol = self.v5("carol")
        carol.sub("users/carol/reply/#")
        raw = self.raw5("carol")
        rc = raw.publish("svc/pay/charge/carol", b"{}", qos=1,
                         props=v5_props("users/carol/reply/p3", "p3"))
        self.assertIn(rc, (0, 0x10))
        self.assertEqual(carol.answer("p3"), {"ok": False, "error": "unavailable"})
        self.assertFalse([m for m in bob.collect(0.3) if m[0].startswith("svc/")])
        # a QoS 0 call has no PUBACK: the answer tells
        carol.publish5("svc/pay/charge/carol", {}, qos=0,
                       response_topic="users/carol/reply/p4", correlation="p4")
        self.assertEqual(carol.answer("p4"), {"ok": False, "error": "unavailable"})

    @timeout(120)
    def test_06_two_backends_share(self):
        b1 = self.backend("shop")
        b2 = self.backend("shop")
        for b in (b1, b2):
            b.handle("echo")
        alice = self.v5("alice")
        alice.sub("users/alice/reply/#")
        n = 40
        for i in range(n):
            alice.publish5("svc/shop/echo/alice", {"i": i},
                           response_topic="users/alice/reply/s%d" % i, correlation="s%d" % i)
        answers = [alice.answer("s%d" % i, 10) for i in range(n)]
        self.assertTrue(all(answers), "unanswered: %d" % answers.count(None))
        pids = [a["pid"] for a in answers]
        self.assertEqual(sorted(set(pids)), sorted({b1.p.pid, b2.p.pid}))
        # round robin: each took its share
        self.assertGreaterEqual(min(pids.count(b1.p.pid), pids.count(b2.p.pid)), n // 4)

    @timeout(120)
    def test_07_backend_killed_mid_call(self):
        b1 = self.backend("shop")
        b2 = self.backend("shop")
        for b in (b1, b2):
            b.handle("slow", "slow", delay=1500)
        alice = self.v5("alice")
        alice.sub("users/alice/reply/#")
        n = 10
        for i in range(n):
            alice.publish5("svc/shop/slow/alice", {"i": i},
                           response_topic="users/alice/reply/k%d" % i, correlation="k%d" % i)
        # both took calls; kill one while they are in flight
        self.assertTrue(wait_until(lambda: b1.count("call") + b2.count("call") == n, 10),
                        "calls taken: %d + %d" % (b1.count("call"), b2.count("call")))
        took = {b.p.pid: {e["data"]["i"] for e in b.events if e["ev"] == "call"}
                for b in (b1, b2)}
        killed, survivor = b1.p.pid, b2.p.pid
        self.assertTrue(took[killed] and took[survivor], took)
        b1.kill()
        got = {}
        for i in range(n):
            a = alice.answer("k%d" % i, 4 if i in took[survivor] else 0.2)
            if a:
                got[i] = a["pid"]
        self.assertEqual(set(got), took[survivor], "answered vs taken by the survivor")
        self.assertEqual(set(got.values()), {survivor})
        # the killed one's calls stay unanswered (they time out at the caller)
        self.assertIsNone(alice.wait_msg("users/alice/reply/#", 1.0))
        # and new calls all go to the survivor
        for i in range(4):
            a = self.call(alice, "shop", "slow", {"i": 100 + i}, "n%d" % i, 5)
            self.assertEqual(a["pid"], survivor)

    @timeout(90)
    def test_08_close_answers_every_call_taken(self):
        """close() answers the calls a process took, also those waiting for
        one of its concurrency slots (they used to be dropped at the
        disconnect: their callers timed out), then the broker has no one
        for the service."""
        b = self.backend("shop", concurrency=1)
        b.handle("slow", "slow", delay=300)
        alice = self.v5("alice")
        alice.sub("users/alice/reply/#")
        n = 4
        for i in range(n):
            alice.publish5("svc/shop/slow/alice", {"i": i},
                           response_topic="users/alice/reply/g%d" % i, correlation="g%d" % i)
        # the first runs; the others are queued in the process (one slot)
        self.assertTrue(b.wait("call", 10), "no call reached the backend")
        b.send(op="close", timeout=10000)
        self.assertTrue(b.wait("closed", 15), "close() did not finish")
        answers = [alice.answer("g%d" % i, 5) for i in range(n)]
        self.assertEqual([a and a.get("echo", {}).get("i") for a in answers], list(range(n)),
                         "calls taken but not answered by close()")
        # nobody takes calls now: Mosquitto's PUBACK 0x10
        raw = self.raw5("alice")
        self.assertEqual(raw.publish("svc/shop/slow/alice", b"{}", qos=1,
                                     props=v5_props("users/alice/reply/g9", "g9")), 0x10,
                         "a call after close() found a subscriber")

    @timeout(60)
    def test_09_service_calls_a_service(self):
        """A backend calls another service with the SDK's call(): the answer,
        and the same error names clients get ('unavailable' with nobody to
        take it, 'timeout')."""
        shop, pay = self.backend("shop"), self.backend("pay")
        pay.handle("charge", "ctx")
        pay.handle("stuck", "slow", delay=3000)
        shop.send(op="call", service="pay", method="charge", data={"eur": 3}, tag="a")
        a = shop.wait("answer", 10, pred=lambda e: e["tag"] == "a")
        self.assertIsNotNone(a)
        # the callee sees the calling service as the caller
        self.assertEqual(a["answer"]["ctx"]["user"], "shop", a)
        shop.send(op="call", service="pay", method="stuck", data={}, timeout=500, tag="t")
        a = shop.wait("answer", 10, pred=lambda e: e["tag"] == "t")
        self.assertEqual(a and a["answer"], {"ok": False, "error": "timeout"})
        shop.send(op="call", service="idle", method="x", data={}, tag="u")
        a = shop.wait("answer", 10, pred=lambda e: e["tag"] == "u")
        self.assertEqual(a and a["answer"], {"ok": False, "error": "unavailable"})

    # --------------------------------------------------------------- hooks
    def member(self, user, room="hooked", version=5, qos=2):
        c = self.v5(user) if version == 5 else self.own(
            V5Client(self.port, user, self.stack.token(user), version=version))
        if version != 5:
            self.assertEqual(c.connect(), 0)
        self.assertEqual(c.sub(["rooms/%s/ev/#" % room, "users/%s/reply/#" % user], qos=qos),
                         [qos, qos])
        return c

    @timeout(90)
    def test_10_hook_accept_changed_data(self):
        b = self.backend("chat")
        b.hook("hooked", "upper")
        alice, bob = self.member("alice"), self.member("bob")
        alice.publish5("rooms/hooked/ev/chat/alice", {"text": "hi"},
                       response_topic="users/alice/reply/h1", correlation="h1",
                       user=[("hub-user", "bob")])
        ev = b.wait("hooked", 5)
        self.assertEqual(ev["data"], {"text": "hi"})
        self.assertEqual(ev["ctx"]["user"], "alice")
        self.assertEqual(ev["from"], "alice")
        m = bob.wait_msg("rooms/hooked/ev/chat/alice", 5)
        self.assertIsNotNone(m, "accepted event not delivered")
        self.assertEqual(json.loads(m[1]), {"text": "HI"})
        self.assertNotIn("hub-user", user_props(m))
        self.assertEqual(alice.answer("h1"), {"ok": True, "data": {"text": "HI"}})
        # exactly once
        self.assertEqual(bob.collect(0.4, "rooms/hooked/ev/#"), [])

    @timeout(90)
    def test_11_hook_reject_and_vote_once(self):
        b = self.backend("chat")
        b.hook("hooked", "reject")
        v = self.backend("votes")
        v.hook("poll", "vote")
        alice, bob = self.member("alice"), self.member("bob")
        alice.publish5("rooms/hooked/ev/chat/alice", {"text": "spam"},
                       response_topic="users/alice/reply/r1", correlation="r1")
        self.assertEqual(alice.answer("r1"),
                         {"ok": False, "error": "rejected", "message": "no"})
        self.assertIsNone(bob.wait_msg("rooms/hooked/ev/#", 0.5))
        bob.sub("rooms/poll/ev/#")
        for i, want in enumerate((True, False)):
            alice.publish5("rooms/poll/ev/vote/alice", {"pick": i},
                           response_topic="users/alice/reply/v%d" % i, correlation="v%d" % i)
            self.assertEqual(alice.answer("v%d" % i)["ok"], want)
        got = bob.collect(0.5, "rooms/poll/ev/#")
        self.assertEqual([json.loads(m[1]) for m in got], [{"pick": 0}])

    @timeout(90)
    def test_12_hook_timeout_and_unavailable(self):
        # nobody of "idle" connected: refused at once, PUBACK 0x87
        alice, bob = self.member("alice", "held"), self.member("bob", "held")
        raw = self.raw5("alice")
        self.assertEqual(raw.publish("rooms/held/ev/chat/alice", b"{}", qos=1,
                                     props=v5_props("users/alice/reply/u1", "u1")), 0x87)
        self.assertEqual(alice.answer("u1"), {"ok": False, "error": "unavailable"})
        # connected but never answering: timeout after call_timeout_ms
        b = self.backend("idle")
        b.hook("held", "hang")
        t0 = time.time()
        alice.publish5("rooms/held/ev/chat/alice", {"x": 1},
                       response_topic="users/alice/reply/t1", correlation="t1")
        a = alice.answer("t1", CALL_TIMEOUT_MS / 1000 + 3)
        self.assertEqual(a, {"ok": False, "error": "timeout"})
        self.assertGreaterEqual(time.time() - t0, CALL_TIMEOUT_MS / 1000 - 0.2)
        # its process ends with events held: unavailable at once
        alice.publish5("rooms/held/ev/chat/alice", {"x": 2},
                       response_topic="users/alice/reply/t2", correlation="t2")
        self.assertTrue(b.wait("hooked", 5))
        b.kill()
        self.assertEqual(alice.answer("t2", 3), {"ok": False, "error": "unavailable"})
        self.assertIsNone(bob.wait_msg("rooms/held/ev/#", 0.3))

    @timeout(120)
    def test_13_hook_qos_0_1_2(self):
        b = self.backend("chat")
        b.hook("hooked", "accept")
        alice = self.member("alice")
        bobs = {v: self.member("bob", version=v) for v in (5, 4)}
        for qos in (0, 1, 2):
            corr = "q%d" % qos
            alice.publish5("rooms/hooked/ev/chat/alice", {"qos": qos}, qos=qos,
                           response_topic="users/alice/reply/" + corr, correlation=corr)
            self.assertEqual(alice.answer(corr), {"ok": True, "data": {"qos": qos}})
            for v, bob in bobs.items():
                m = bob.wait_msg("rooms/hooked/ev/chat/alice", 5)
                self.assertIsNotNone(m, "QoS %d event not delivered to a v%d member" % (qos, v))
                self.assertEqual(json.loads(m[1]), {"qos": qos})
                self.assertEqual(m[5], qos)
                self.assertEqual(bob.collect(0.2, "rooms/hooked/ev/#"), [], "delivered twice")
        # rejected QoS 2: held at PUBLISH, fanned out at PUBREL: to nobody
        b.hook("hooked", "reject")
        raw = self.raw5("alice")
        self.assertEqual(raw.publish("rooms/hooked/ev/chat/alice", b'{"q":2}', qos=2,
                                     props=v5_props("users/alice/reply/q9", "q9")), 0)
        self.assertEqual(alice.answer("q9")["error"], "rejected")
        for bob in bobs.values():
            self.assertIsNone(bob.wait_msg("rooms/hooked/ev/#", 0.3))

    @timeout(90)
    def test_14_hook_retained(self):
        b = self.backend("chat")
        b.hook("hooked", "slow", delay=800)
        alice = self.member("alice")
        alice.publish5("rooms/hooked/ev/topic/alice", {"v": 1}, retain=True,
                       response_topic="users/alice/reply/ret1", correlation="ret1")
        self.assertTrue(b.wait("hooked", 5))
        # held: a new subscriber gets nothing retained yet
        early = self.v5("bob")
        early.sub("rooms/hooked/ev/topic/#")
        self.assertIsNone(early.wait_msg("rooms/hooked/ev/topic/#", 0.3))
        self.assertEqual(alice.answer("ret1", 5), {"ok": True, "data": {"v": 1}})
        late = self.v5("bob")
        late.sub("rooms/hooked/ev/topic/#")
        m = late.wait_msg("rooms/hooked/ev/topic/alice", 3)
        self.assertIsNotNone(m, "accepted retained event not retained")
        self.assertTrue(m[2])
        # cleared the same way
        alice.publish5("rooms/hooked/ev/topic/alice", b"", retain=True,
                       response_topic="users/alice/reply/ret2", correlation="ret2")
        self.assertEqual(alice.answer("ret2", 5)["ok"], True)
        again = self.v5("bob")
        again.sub("rooms/hooked/ev/topic/#")
        self.assertIsNone(again.wait_msg("rooms/hooked/ev/topic/#", 0.5))

    @timeout(90)
    def test_15_history_only_accepted(self):
        b = self.backend("chat")
        b.hook("hooked", "reject")
        alice = self.member("alice")
        alice.publish5("rooms/hooked/ev/chat/alice", {"text": "refused", "t": 15},
                       response_topic="users/alice/reply/hr1", correlation="hr1")
        self.assertEqual(alice.answer("hr1")["error"], "rejected")
        b.hook("hooked", "upper")
        alice.publish5("rooms/hooked/ev/chat/alice", {"text": "kept", "t": 15},
                       response_topic="users/alice/reply/hr2", correlation="hr2")
        self.assertTrue(alice.answer("hr2")["ok"])
        db = os.path.join(self.stack.data, "hub.db")

        def rows():
            con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
            try:
                # this test's events (others before it stored theirs)
                return [(r[0], json.loads(r[1])) for r in con.execute(
                    "SELECT sender, data FROM messages WHERE room = 'hooked' ORDER BY id")
                    if json.loads(r[1]).get("t") == 15]
            finally:
                con.close()
        self.assertTrue(wait_until(lambda: rows(), 5), "nothing stored")
        time.sleep(0.3)  # the writer batches every 50 ms: nothing more may come
        self.assertEqual(rows(), [("alice", {"text": "KEPT", "t": 15})])

    @timeout(90)
    def test_16_hook_bounds(self):
        b = self.backend("chat")
        b.hook("hooked", "hang")
        alice = self.member("alice")
        raw = self.raw5("alice")
        for i in range(5):  # hook_sender_pending_max
            self.assertIn(raw.publish("rooms/hooked/ev/chat/alice", b"{}", qos=1,
                                      props=v5_props("users/alice/reply/b%d" % i, "b%d" % i)),
                          (0, 0x10))
        self.assertEqual(raw.publish("rooms/hooked/ev/chat/alice", b"{}", qos=1,
                                     props=v5_props("users/alice/reply/b9", "b9")), 0x87)
        self.assertEqual(alice.answer("b9"), {"ok": False, "error": "busy"})
        # another sender is not starved by alice
        bob = self.member("bob")
        bob.publish5("rooms/hooked/ev/chat/bob", {}, response_topic="users/bob/reply/ob",
                     correlation="ob")
        self.assertTrue(wait_until(lambda: b.count("hooked") >= 6, 5))
        # time out, then alice may send again
        self.assertEqual(alice.answer("b4", CALL_TIMEOUT_MS / 1000 + 3)["error"], "timeout")
        self.assertIn(raw.publish("rooms/hooked/ev/chat/alice", b"{}", qos=1,
                                  props=v5_props("users/alice/reply/b10", "b10")), (0, 0x10))

    @timeout(90)
    def test_17_no_way_around(self):
        b = self.backend("chat")
        b.hook("hooked", "slow", delay=1000)
        alice = self.member("alice")
        # wildcards, a shared subscription of one's own: nothing before
        bob = self.v5("bob")
        self.assertEqual(bob.sub(["#", "$share/bob/rooms/hooked/ev/#", "rooms/+/ev/+/+"]),
                         [1, 1, 1])
        alice.publish5("rooms/hooked/ev/chat/alice", {"n": 1},
                       response_topic="users/alice/reply/w1", correlation="w1")
        self.assertTrue(b.wait("hooked", 5))
        t_hooked = time.time()
        self.assertEqual(alice.answer("w1", 5)["ok"], True)
        got = [m for m in bob.collect(0.5) if m[0] == "rooms/hooked/ev/chat/alice"]
        self.assertTrue(got)
        self.assertTrue(all(m[3] >= t_hooked + 0.5 for m in got), "delivered before the verdict")
        self.assertNotIn(True, [m[1].startswith(b"\x00hubheld") for m in bob.collect(0.1)])
        # a forged verdict: refused; the service's own events: not hooked
        raw = self.raw5("bob")
        self.assertEqual(raw.publish("$hub/verdict/chat/" + "0" * 32, b'{"accept":true}',
                                     qos=1), 0x87)
        chat = self.raw5("chat", self.keys["chat"])
        self.assertEqual(chat.publish("rooms/hooked/ev/news/chat", b'{"n":2}', qos=1), 0)
        m = bob.wait_msg("rooms/hooked/ev/news/chat", 2)
        self.assertIsNotNone(m)
        self.assertEqual(b.count("hooked"), 0)
        # a will into the hooked room: refused (it would skip the hook)
        w = self.raw()
        self.assertEqual(w.connect("alice", self.stack.token("alice"), version=5,
                                   client_id="will-%s" % os.urandom(3).hex(),
                                   will=("rooms/hooked/ev/chat/alice", b"bye", 1, False)), 0)
        w.close()  # a network end: the will goes out
        self.assertIsNone(bob.wait_msg("rooms/hooked/ev/chat/alice", 1.0))
        self.assertTrue(self.stack.wait_log("broker", "a will cannot go into a hooked room", 3))


    @timeout(60)
    def test_18_members_read_at_once(self):
        """hub.members(room) gives the whole list every time, also to
        several callers at once (each read started the list afresh and
        subscribed again, which brings no retained copies: every read after
        the first was empty), and follows joins and leaves."""
        b = self.backend("shop")
        alice, bob = self.v5("alice"), self.v5("bob")  # online members of lobby
        for _ in range(3):
            for i in range(4):
                b.send(op="members", room="lobby")
            got = [b.wait("members", 10) for i in range(4)]
            self.assertTrue(all(got), "a members() read never returned")
            for g in got:
                self.assertTrue({"alice", "bob"} <= set(g["members"]), g)
        bob.disconnect()
        def bob_gone():
            b.send(op="members", room="lobby")
            m = b.wait("members", 10)
            return m and "bob" not in m["members"] and "alice" in m["members"]
        self.assertTrue(wait_until(bob_gone, 10, 0.2), "bob's leaving not seen")
        alice.disconnect()

    @timeout(60)
    def test_99_close_with_the_broker_gone(self):
        """close() of a backend whose broker stopped answering ends by its
        deadline (it waited for an UNSUBACK that never came: a stack stopped
        with Ctrl-C, the broker first, hung its backends); so does one
        whose broker is gone. Last: it restarts the class's broker."""
        b = self.backend("shop")
        b.handle("echo")
        broker = self.stack.procs["broker"]
        try:
            broker.send_signal(signal.SIGSTOP)   # takes the UNSUBSCRIBE, never answers
            t0 = time.time()
            b.send(op="close", timeout=1500)
            self.assertIsNotNone(b.wait("closed", 10), "close() hung on a silent broker")
            self.assertLess(time.time() - t0, 6)
            broker.send_signal(signal.SIGCONT)
            b2 = self.backend("shop")
            self.stack.stop("broker", signal.SIGKILL)
            self.assertIsNotNone(b2.wait("disconnect", 10))
            b2.send(op="close", timeout=1500)
            self.assertIsNotNone(b2.wait("closed", 10), "close() hung with the broker gone")
        finally:
            broker.send_signal(signal.SIGCONT)
            self.stack.stop("broker", signal.SIGKILL)
            self.stack.start_broker(self.broker_extra)

if __name__ == "__main__":
    harness.broker_main()
