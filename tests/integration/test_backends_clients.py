#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Backends through the client libraries (docs/backends.md "C", "Python"),
with real parts: mosquitto with hub_auth.so, libhubclient's calls
(tests/integration/c/hubio_driver.c) and its service role
(tests/integration/c/service_driver.c, and the example program
build/bin/hub-service), the Python example examples/python/backend.py,
and paho MQTT 5 clients as senders and onlookers.

Calls from C (answer, error answers, the caller's ctx as the hub stamped
it, unknown methods, unavailable, timeout, refused, MQTT 3.1.1, answers
never reaching another user), the C service (two processes sharing
calls, one killed mid-call losing only its in-flight calls, a graceful
stop that answers what it holds, its in-flight bound, reconnecting after a
broker restart, calls between services), hooks through the C service
(accept, accept with changed data, reject, vote once, timeout, fail closed
when it is away), the example programs.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, timeout, wait_until  # noqa: E402
from mqttraw import v5_props  # noqa: E402
from test_backends_mqtt import V5Client, servicekey_add  # noqa: E402
from test_hubio_c import CClient  # noqa: E402

SERVICE_DRIVER = os.path.join(harness.BUILD, "tests", "integration", "service_driver")
HUB_SERVICE = os.path.join(harness.BIN, "hub-service")
PY_BACKEND = os.path.join(harness.REPO, "examples", "python", "backend.py")
CALL_TIMEOUT_MS = 2000

# enum hubio_err (client/include/hubio.h)
OK, EFORBIDDEN, ETIMEOUT, ENOTSUP, ECANCELED = 0, 4, 5, 10, 15
EUNAVAILABLE, EBUSY = 17, 18


class Proc:
    """A process speaking JSON lines (service_driver) or plain lines (the
    example programs) on stdout, kept with arrival times."""

    def __init__(self, stack, name, argv, env=None, stdin=True, json_lines=True):
        self.err = open(os.path.join(stack.dir, "%s.log" % name), "ab")
        self.json_lines = json_lines
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  env=env or stack.env)
        self.cond = threading.Condition()
        self.events = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            if self.json_lines:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
            else:
                e = {"ev": "line", "text": line.rstrip("\n")}
            e["_t"] = time.time()
            with self.cond:
                self.events.append(e)
                self.cond.notify_all()

    def send(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()

    def wait(self, ev, timeout=5.0, pred=None, consume=True):
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
            return self.events.pop(idx[-1]) if consume else self.events[idx[-1]]

    def line(self, needle, timeout=5.0):
        return self.wait("line", timeout, pred=lambda e: needle in e["text"])

    def count(self, ev):
        with self.cond:
            return len([e for e in self.events if e["ev"] == ev])

    def all(self, ev):
        with self.cond:
            return [e for e in self.events if e["ev"] == ev]

    def kill(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(5)

    def close(self):
        if self.p.poll() is None:
            try:
                if self.json_lines:
                    self.send(op="exit")
                else:
                    self.p.send_signal(signal.SIGTERM)
                self.p.wait(5)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.kill()
        self.err.close()

    def stderr_text(self):
        with open(self.err.name, "rb") as f:
            return f.read().decode(errors="replace")


class CService(Proc):
    """One service_driver process: a libhubclient service."""

    def __init__(self, stack, service, key, extra=()):
        argv = [SERVICE_DRIVER, "--port", str(stack.ports["mqtt"]), "--service", service,
                "--key", key] + list(extra)
        super().__init__(stack, "service-%s" % service, argv)
        if not self.wait("ready", 10):
            raise RuntimeError("service_driver did not start")
        self.pid = self.p.pid

    def cmd(self, op, **kw):
        self.send(op=op, **kw)
        r = self.wait("rc", 5, pred=lambda e: e["op"] == op)
        if r is None:
            raise TimeoutError("no answer to %s" % op)
        return r["rc"]

    def up(self, timeout=10):
        assert self.cmd("connect") == 0
        return self.wait("connect", timeout)

    def handle(self, method, behaviour="echo", delay=None):
        assert self.cmd("handle", method=method, behaviour=behaviour, delay=delay or 1000) == 0

    def hook(self, room, behaviour="accept", delay=None):
        assert self.cmd("hook", room=room, behaviour=behaviour, delay=delay or 1000) == 0


class SlowProxy:
    """A TCP proxy to the broker that holds what a client sends after its
    first packet (CONNECT) for `delay` seconds: the client's SUBSCRIBEs
    reach the broker late, as on a slow link or a busy broker."""

    def __init__(self, port, delay):
        self.port, self.delay = port, delay
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(8)
        self.listen_port = self.srv.getsockname()[1]
        self.socks = [self.srv]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            u = socket.create_connection(("127.0.0.1", self.port))
            self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, False), daemon=True).start()

    def _pump(self, a, b, upstream):
        n = 0
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                n += 1
                if upstream and n == 2:
                    time.sleep(self.delay)
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        for x in self.socks:
            try:
                x.close()
            except OSError:
                pass


class BackendClients(BrokerTestCase):
    stack_conf = {"call_timeout_ms": CALL_TIMEOUT_MS}

    @classmethod
    def prepare(cls, stack):
        rooms = {"lobby": "write", "hooked": "write", "poll": "write", "held": "write",
                 "pyroom": "write", "votes": "write"}
        stack.add_user("alice", rooms=rooms)
        stack.add_user("bob", rooms=rooms)
        stack.add_user("carol", rooms={"other": "write"})
        stack.hubctl("user", "add", "dave", "--role", "admin", "--display", "Dave D",
                     "--password-stdin", input="secret-pw\n")
        cls.keys = {n: servicekey_add(stack, n) for n in
                    ("shop", "pay", "chat", "idle", "poller", "py", "kiosk")}
        stack.hubctl("room", "hook", "hooked", "chat")
        stack.hubctl("room", "hook", "held", "idle")
        stack.hubctl("room", "hook", "poll", "poller")
        stack.hubctl("room", "hook", "votes", "kiosk")
        stack.hubctl("room", "hook", "pyroom", "py")

    def tearDown(self):
        procs = [c for c in self._owned if isinstance(c, (Proc, CClient))]
        for c in procs:
            c.close()
        super().tearDown()
        for c in procs:
            text = c.stderr_text() if isinstance(c, Proc) else (c.problems() or "")
            if "Sanitizer" in text or "runtime error" in text:
                self.fail("sanitizer report:\n%s" % text[-3000:])

    # ------------------------------------------------------------ helpers
    def service(self, name, extra=(), connect=True):
        s = self.own(CService(self.stack, name, self.keys[name], extra))
        if connect:
            self.assertIsNotNone(s.up(), "%s did not connect" % name)
        return s

    def caller(self, user, **kw):
        """A connected libhubclient client of user."""
        c = self.own(CClient(self.stack, user, token=self.stack.token(user), **kw))
        self.assertIsNotNone(c.connect(), "%s did not connect" % user)
        return c

    def v5(self, user, password=None):
        c = self.own(V5Client(self.port, user, password or self.stack.token(user), version=5))
        self.assertEqual(c.connect(), 0, "CONNACK for %s" % user)
        return c

    def call(self, client, service, method, data, timeout=0, wait=8.0):
        """A call through libhubclient: (status code, answer as JSON or text)."""
        n = client.cmd("call", service=service, method=method,
                       data=data if isinstance(data, str) else json.dumps(data),
                       timeout=timeout)
        self.assertEqual(n["rc"], 0, "hubio_call: %r" % n)
        a = client.wait("answer", wait, pred=lambda e: e["id"] == n["id"])
        self.assertIsNotNone(a, "no outcome for the call of %s/%s" % (service, method))
        try:
            return a["code"], json.loads(a["data"])
        except ValueError:
            return a["code"], a["data"]

    def emit5(self, sender, room, event, data, corr, qos=1):
        sender.publish5("rooms/%s/ev/%s/%s" % (room, event, sender.c._username.decode()),
                        data, qos=qos, response_topic="users/%s/reply/%s" % (
                            sender.c._username.decode(), corr), correlation=corr)

    def member(self, user, room):
        c = self.v5(user)
        self.assertEqual(c.sub(["rooms/%s/ev/#" % room, "users/%s/reply/#" % user]), [1, 1])
        return c

    # ------------------------------------------------ calls from libhubclient
    @timeout(60)
    def test_01_calls_end_to_end(self):
        shop = self.service("shop")
        shop.handle("echo")
        shop.handle("whoami", "ctx")
        shop.handle("order", "fail")
        alice = self.caller("alice")
        bob = self.v5("bob")
        self.assertEqual(bob.sub(["#"]), [1])  # an onlooker: sees none of it
        code, a = self.call(alice, "shop", "echo", {"n": 1, "text": "gr\u00fc\u00df"})
        self.assertEqual((code, a), (OK, {"echo": {"n": 1, "text": "gr\u00fc\u00df"},
                                          "pid": shop.pid}))
        ev = shop.wait("call", 2, pred=lambda e: e["method"] == "echo")
        self.assertEqual(ev["ctx"], {"service": "shop", "method": "echo", "user": "alice",
                                     "displayName": "alice", "role": "user", "kind": "user"})
        # error answers are answers: status OK, the service's JSON
        self.assertEqual(self.call(alice, "shop", "order", {}),
                         (OK, {"error": "out_of_stock", "message": "no tea left"}))
        code, a = self.call(alice, "shop", "nosuch", {})
        self.assertEqual((code, a["error"]), (OK, "unknown_method"))
        self.assertIn("nosuch", a["message"])
        # what a caller claims about itself does not reach the service
        paho = self.v5("alice")
        paho.sub("users/alice/reply/#")
        paho.publish5("svc/shop/whoami/alice", {}, response_topic="users/alice/reply/x1",
                      correlation="x1", user=[("hub-user", "bob"), ("hub-role", "admin")])
        ctx = paho.answer("x1")["ctx"]
        self.assertEqual((ctx["user"], ctx["role"], ctx["kind"]), ("alice", "user", "user"))
        # an admin's stamp
        dave = self.caller("dave")
        code, a = self.call(dave, "shop", "whoami", {})
        self.assertEqual((a["ctx"]["user"], a["ctx"]["role"], a["ctx"]["displayName"]),
                         ("dave", "admin", "Dave D"))
        # data that is not JSON goes as it is; no data at all too
        code, a = self.call(alice, "shop", "echo", "plain text")
        self.assertEqual(a["echo"], "plain text")
        # nothing of it reached bob, whatever he subscribed
        self.assertFalse([m for m in bob.collect(0.3)
                          if m[0].startswith("svc/") or "/reply/" in m[0]])

    @timeout(60)
    def test_02_call_outcomes(self):
        alice = self.caller("alice")
        # no such service: the hub refuses the call (PUBACK 0x87)
        self.assertEqual(self.call(alice, "nosuch", "x", {}),
                         (EFORBIDDEN, {"ok": False, "error": "forbidden"}))
        # a service with no process connected: unavailable at once
        t0 = time.time()
        self.assertEqual(self.call(alice, "pay", "charge", {}),
                         (EUNAVAILABLE, {"ok": False, "error": "unavailable"}))
        self.assertLess(time.time() - t0, 1.5)
        # connected, never answering: timeout after the call's own timeout
        pay = self.service("pay")
        pay.handle("charge", "hang")
        t0 = time.time()
        self.assertEqual(self.call(alice, "pay", "charge", {}, timeout=800),
                         (ETIMEOUT, {"ok": False, "error": "timeout"}))
        self.assertGreaterEqual(time.time() - t0, 0.75)
        # its answer after the timeout is dropped, not handed to a later call
        # (each call has its own correlation data): the next call gets its own
        pay.handle("charge", "echo")
        code, a = self.call(alice, "pay", "charge", {"n": 2})
        self.assertEqual(a["echo"], {"n": 2})
        # bad arguments: refused before anything is sent
        for svc, method in (("sh/op", "x"), ("shop", "hook"), ("shop", "a+b"), ("shop", "")):
            self.assertEqual(alice.cmd("call", service=svc, method=method, data="{}")["rc"],
                             1, (svc, method))
        # MQTT 3.1.1 has no response topics: not supported
        old = self.own(CClient(self.stack, "bob", token=self.stack.token("bob"), protocol=4))
        self.assertIsNotNone(old.connect())
        self.assertEqual(old.cmd("call", service="pay", method="charge", data="{}")["rc"],
                         ENOTSUP)
        # disconnect cancels what waits
        pay.handle("charge", "hang")
        n = alice.cmd("call", service="pay", method="charge", data="{}", timeout=5000)
        self.assertEqual(n["rc"], 0)
        self.assertTrue(pay.wait("call", 3))
        alice.cmd("disconnect")
        a = alice.wait("answer", 3, pred=lambda e: e["id"] == n["id"])
        self.assertEqual((a["code"], json.loads(a["data"])),
                         (ECANCELED, {"ok": False, "error": "canceled"}))

    @timeout(60)
    def test_03_answers_reach_only_the_caller(self):
        shop = self.service("shop")
        shop.handle("slow", "slow", delay=300)
        alice, bob = self.caller("alice"), self.caller("bob")
        spy = self.v5("carol")  # wildcards that match alice's and bob's answers
        self.assertEqual(spy.sub(["#", "users/+/reply/#", "users/alice/reply/#"]),
                         [1, 1, 0x87])
        got = {}

        def run(who, client, n):
            got[who] = [self.call(client, "shop", "slow", {"who": who, "i": i})
                        for i in range(n)]
        ts = [threading.Thread(target=run, args=("alice", alice, 5)),
              threading.Thread(target=run, args=("bob", bob, 5))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        for who in ("alice", "bob"):
            self.assertEqual([a["echo"] for _, a in got[who]],
                             [{"who": who, "i": i} for i in range(5)])
        self.assertFalse([m for m in spy.collect(0.3)
                          if "/reply/" in m[0] or m[0].startswith("svc/")])
        # each caller got exactly its own answers, once
        self.assertEqual(alice.all("answer"), [])
        self.assertEqual(bob.all("answer"), [])

    # -------------------------------------------------------- the C service
    @timeout(90)
    def test_04_two_processes_share(self):
        s1, s2 = self.service("shop"), self.service("shop")
        for s in (s1, s2):
            s.handle("echo")
        alice = self.v5("alice")
        alice.sub("users/alice/reply/#")
        n = 40
        for i in range(n):
            alice.publish5("svc/shop/echo/alice", {"i": i},
                           response_topic="users/alice/reply/s%d" % i, correlation="s%d" % i)
        answers = [alice.answer("s%d" % i, 10) for i in range(n)]
        self.assertTrue(all(answers), "unanswered: %d" % answers.count(None))
        self.assertEqual([a["echo"]["i"] for a in answers], list(range(n)))
        pids = [a["pid"] for a in answers]
        self.assertEqual(sorted(set(pids)), sorted({s1.pid, s2.pid}))
        self.assertGreaterEqual(min(pids.count(s1.pid), pids.count(s2.pid)), n // 4)

    @timeout(90)
    def test_05_killed_mid_call(self):
        s1, s2 = self.service("shop"), self.service("shop")
        for s in (s1, s2):
            s.handle("slow", "slow", delay=1500)
        alice = self.caller("alice")
        n = 10
        ids = [alice.cmd("call", service="shop", method="slow", data=json.dumps({"i": i}),
                         timeout=4000)["id"] for i in range(n)]
        self.assertTrue(wait_until(lambda: s1.count("call") + s2.count("call") == n, 10),
                        "calls taken: %d + %d" % (s1.count("call"), s2.count("call")))
        took = {s.pid: {e["data"]["i"] for e in s.all("call")} for s in (s1, s2)}
        self.assertTrue(took[s1.pid] and took[s2.pid], took)
        s1.kill()
        outcomes = {}
        for i, cid in enumerate(ids):
            a = alice.wait("answer", 8, pred=lambda e, cid=cid: e["id"] == cid)
            self.assertIsNotNone(a, "call %d never ended" % i)
            outcomes[i] = (a["code"], json.loads(a["data"]))
        for i in took[s2.pid]:
            self.assertEqual(outcomes[i][0], OK)
            self.assertEqual(outcomes[i][1]["pid"], s2.pid)
        for i in took[s1.pid]:
            self.assertEqual(outcomes[i], (ETIMEOUT, {"ok": False, "error": "timeout"}))
        # new calls all go to the survivor
        for i in range(4):
            code, a = self.call(alice, "shop", "slow", {"i": 100 + i})
            self.assertEqual((code, a["pid"]), (OK, s2.pid))

    @timeout(90)
    def test_06_graceful_stop(self):
        s1, s2 = self.service("shop"), self.service("shop")
        for s in (s1, s2):
            s.handle("slow", "slow", delay=1500)
        alice = self.caller("alice")
        ids = [alice.cmd("call", service="shop", method="slow", data=json.dumps({"i": i}),
                         timeout=6000)["id"] for i in range(6)]
        self.assertTrue(wait_until(lambda: s1.count("call") + s2.count("call") == 6, 10))
        held = {e["data"]["i"] for e in s1.all("call")}
        self.assertTrue(held)
        t0 = time.time()
        self.assertEqual(s1.cmd("stop", timeout=10000), 0)
        # every call it held is answered before it goes
        st = s1.wait("stopped", 10)
        self.assertIsNotNone(st, "the stop did not finish")
        self.assertEqual(st["code"], OK)
        self.assertGreater(st["_t"] - t0, 0.3, "stopped before answering")
        for cid in ids:
            a = alice.wait("answer", 8, pred=lambda e, cid=cid: e["id"] == cid)
            self.assertEqual(a and a["code"], OK, a)
        # gone: calls from now on go to the other process only
        self.assertTrue(s1.wait("disconnect", 5))
        for i in range(3):
            code, a = self.call(alice, "shop", "slow", {"i": 50 + i})
            self.assertEqual((code, a["pid"]), (OK, s2.pid))
        # a stop with a call that is never answered ends at its deadline
        s2.handle("stuck", "hang")
        cid = alice.cmd("call", service="shop", method="stuck", data="{}", timeout=1000)["id"]
        self.assertTrue(s2.wait("call", 3, pred=lambda e: e["method"] == "stuck"))
        self.assertEqual(s2.cmd("stop", timeout=500), 0)
        st = s2.wait("stopped", 5)
        self.assertEqual(st and st["code"], ETIMEOUT)
        a = alice.wait("answer", 5, pred=lambda e: e["id"] == cid)
        self.assertEqual(a["code"], ETIMEOUT)
        # no process left: unavailable
        self.assertEqual(self.call(alice, "shop", "slow", {})[0], EUNAVAILABLE)

    @timeout(60)
    def test_07_inflight_bound(self):
        shop = self.service("shop", extra=["--inflight", "2"])
        shop.handle("stuck", "hang")
        shop.handle("echo")
        alice = self.caller("alice")
        for i in range(2):
            alice.cmd("call", service="shop", method="stuck", data="{}", timeout=3000)
        self.assertTrue(wait_until(lambda: shop.count("call") == 2, 5))
        # over the bound: answered "busy" at once, no handler runs
        code, a = self.call(alice, "shop", "echo", {})
        self.assertEqual((code, a["error"]), (OK, "busy"))
        self.assertEqual(shop.count("call"), 2)
        shop.send(op="inflight")
        self.assertEqual(shop.wait("inflight", 3)["n"], 2)

    @timeout(90)
    def test_08_reconnect_after_broker_restart(self):
        shop = self.service("shop", extra=["--backoff-min", "100"])
        shop.handle("echo")
        alice = self.caller("alice")
        self.assertEqual(self.call(alice, "shop", "echo", {"n": 1})[0], OK)
        self.stack.restart_broker()
        self.assertTrue(shop.wait("disconnect", 10))
        self.assertTrue(shop.wait("connect", 20), "the service did not reconnect")
        # the calls filter is subscribed again: a fresh caller is answered
        alice2 = self.caller("alice")
        code, a = self.call(alice2, "shop", "echo", {"n": 2})
        self.assertEqual((code, a["echo"]), (OK, {"n": 2}))

    @timeout(60)
    def test_09_service_calls_service(self):
        shop = self.service("shop")
        pay = self.service("pay")
        pay.handle("charge", "ctx")
        shop.send(op="call", id=7, service="pay", method="charge", data="{}")
        a = shop.wait("answer", 5, pred=lambda e: e["id"] == 7)
        self.assertEqual(a["code"], OK)
        self.assertEqual((a["answer"]["ctx"]["user"], a["answer"]["ctx"]["kind"]),
                         ("shop", "service"))

    @timeout(60)
    def test_12_connect_means_reachable(self):
        """"connect" comes once what is sent to the client reaches it: the
        inbox subscription (users) or the calls subscription (services) is
        confirmed, not at CONNACK, before the SUBSCRIBE is even written."""
        proxy = self.own(SlowProxy(self.port, 0.8))
        via = ["--port", str(proxy.listen_port)]
        bob = self.v5("bob")
        alice = self.own(CClient(self.stack, "alice", token=self.stack.token("alice"),
                                 extra=via))
        t0 = time.time()
        self.assertIsNotNone(alice.connect(5))
        self.assertGreaterEqual(time.time() - t0, 0.7, "connect before the inbox SUBACK")
        bob.pub("users/alice/inbox/dm/bob", b'{"n":1}', qos=1)
        e = alice.event("dm", 3)
        self.assertIsNotNone(e, "an inbox message sent right after connect was lost")
        shop = self.own(CService(self.stack, "shop", self.keys["shop"], extra=via))
        shop.handle("echo")
        t0 = time.time()
        self.assertIsNotNone(shop.up())
        self.assertGreaterEqual(time.time() - t0, 0.7, "connect before the calls SUBACK")
        caller = self.v5("bob")
        caller.sub("users/bob/reply/#")
        caller.publish5("svc/shop/echo/bob", {"n": 2}, response_topic="users/bob/reply/r1",
                        correlation="r1")
        self.assertEqual(caller.answer("r1")["echo"], {"n": 2})

    # ---------------------------------------------- hooks through the C service
    @timeout(90)
    def test_10_hooks_accept_modify_reject(self):
        chat = self.service("chat")
        chat.hook("hooked", "accept")
        alice, bob = self.member("alice", "hooked"), self.member("bob", "hooked")
        self.emit5(alice, "hooked", "chat", {"text": "hi"}, "a1")
        self.assertEqual(alice.answer("a1"), {"ok": True, "data": {"text": "hi"}})
        m = bob.wait_msg("rooms/hooked/ev/chat/alice", 5)
        self.assertEqual(json.loads(m[1]), {"text": "hi"})
        ev = chat.wait("hooked", 2)
        self.assertEqual((ev["room"], ev["event"], ev["from"], ev["ctx"]["user"]),
                         ("hooked", "chat", "alice", "alice"))
        # accept with changed data: members get the changed data
        chat.hook("hooked", "upper")
        self.emit5(alice, "hooked", "chat", {"text": "shout"}, "a2")
        self.assertEqual(alice.answer("a2"), {"ok": True, "data": {"text": "SHOUT"}})
        m = bob.wait_msg("rooms/hooked/ev/chat/alice", 5)
        self.assertEqual(json.loads(m[1]), {"text": "SHOUT"})
        # reject: nobody gets it, the sender learns the reason
        chat.hook("hooked", "reject")
        self.emit5(alice, "hooked", "chat", {"text": "spam"}, "a3")
        self.assertEqual(alice.answer("a3"), {"ok": False, "error": "rejected", "message": "no"})
        self.assertIsNone(bob.wait_msg("rooms/hooked/ev/#", 0.5))
        # a hook handler for every room ("*") is used where none is named
        poller = self.service("poller")
        poller.hook("*", "vote")
        for i, want in enumerate((True, False)):
            self.emit5(alice, "poll", "vote", {"pick": i}, "v%d" % i)
            a = alice.answer("v%d" % i)
            self.assertEqual(a["ok"], want, a)
        self.assertEqual(a["message"], "already voted")
        self.emit5(bob, "poll", "vote", {"pick": 1}, "vb")
        self.assertTrue(bob.answer("vb")["ok"])

    @timeout(90)
    def test_11_hooks_fail_closed(self):
        alice, bob = self.member("alice", "held"), self.member("bob", "held")
        # nobody of the hook service connected: refused, never delivered
        self.emit5(alice, "held", "chat", {"x": 0}, "u0")
        self.assertEqual(alice.answer("u0"), {"ok": False, "error": "unavailable"})
        idle = self.service("idle")
        idle.hook("held", "hang")
        t0 = time.time()
        self.emit5(alice, "held", "chat", {"x": 1}, "u1")
        self.assertEqual(alice.answer("u1", CALL_TIMEOUT_MS / 1000 + 3),
                         {"ok": False, "error": "timeout"})
        self.assertGreaterEqual(time.time() - t0, CALL_TIMEOUT_MS / 1000 - 0.2)
        # the process dies with an event held: unavailable
        self.emit5(alice, "held", "chat", {"x": 2}, "u2")
        self.assertTrue(idle.wait("hooked", 5, pred=lambda e: e["data"] == {"x": 2}))
        idle.kill()
        self.assertEqual(alice.answer("u2", 3), {"ok": False, "error": "unavailable"})
        # a hook request of a room without a handler is rejected
        idle2 = self.service("idle")
        self.emit5(alice, "held", "chat", {"x": 3}, "u3")
        a = alice.answer("u3")
        self.assertEqual((a["ok"], a["error"]), (False, "rejected"))
        self.assertIn("does not check room held", a["message"])
        idle2.close()
        self.assertIsNone(bob.wait_msg("rooms/held/ev/#", 0.3))

    # ------------------------------------------------------ the example programs
    @timeout(90)
    def test_20_example_hub_service(self):
        env = dict(self.stack.env, HUB_SERVICE_KEY=self.keys["kiosk"])
        svc = self.own(Proc(self.stack, "hub-service", [HUB_SERVICE, "-s", "kiosk", "-p",
                                                        str(self.port)],
                            env=env, stdin=False, json_lines=False))
        self.assertTrue(svc.line("connect", 10), svc.stderr_text())
        alice = self.caller("alice")
        code, a = self.call(alice, "kiosk", "order", {"item": "tea", "qty": 2})
        self.assertEqual((code, a), (OK, {"ok": True, "id": 1, "item": "tea", "qty": 2,
                                          "by": "alice"}))
        self.assertEqual(self.call(alice, "kiosk", "stock", {})[1],
                         {"tea": 8, "cake": 5, "scone": 3})
        self.assertEqual(self.call(alice, "kiosk", "order", {"item": "scone", "qty": 4})[1],
                         {"error": "out_of_stock", "message": "no scone left"})
        self.assertEqual(self.call(alice, "kiosk", "order", {"qty": 4})[1]["error"], "invalid")
        # vote once, accepted with the count so far (changed data)
        a5, b5 = self.member("alice", "votes"), self.member("bob", "votes")
        self.emit5(a5, "votes", "vote", {"pick": "blue"}, "k1")
        self.assertEqual(a5.answer("k1"), {"ok": True, "data": {"pick": "blue", "count": 1}})
        m = b5.wait_msg("rooms/votes/ev/vote/alice", 5)
        self.assertEqual(json.loads(m[1]), {"pick": "blue", "count": 1})
        self.emit5(b5, "votes", "vote", {"pick": "blue"}, "k2")
        self.assertEqual(b5.answer("k2")["data"], {"pick": "blue", "count": 2})
        self.emit5(a5, "votes", "vote", {"pick": "red"}, "k3")
        self.assertEqual(a5.answer("k3"), {"ok": False, "error": "rejected",
                                           "message": "already voted"})
        self.emit5(a5, "votes", "chat", {"text": "hi"}, "k4")
        self.assertEqual(a5.answer("k4"), {"ok": True, "data": {"text": "hi"}})
        # SIGTERM: a graceful stop, exit 0
        svc.p.send_signal(signal.SIGTERM)
        self.assertEqual(svc.p.wait(10), 0)
        self.assertTrue(svc.line("stopped: every call answered", 2))

    @timeout(90)
    def test_30_python_example(self):
        env = dict(self.stack.env, HUB_SERVICE_KEY=self.keys["py"])
        py = self.own(Proc(self.stack, "py-backend",
                           [sys.executable, PY_BACKEND, "--service", "py", "--port",
                            str(self.port)], env=env, stdin=False, json_lines=False))
        self.assertTrue(py.line("serving as py", 10), py.stderr_text())
        alice = self.caller("alice")
        code, a = self.call(alice, "py", "order", {"item": "tea", "qty": 3})
        self.assertEqual(code, OK)
        self.assertEqual((a["ok"], a["item"], a["qty"], a["by"]), (True, "tea", 3, "alice"))
        self.assertEqual(self.call(alice, "py", "order", {"qty": 0})[1]["error"], "invalid")
        self.assertEqual(self.call(alice, "py", "nope", {})[1]["error"], "unknown_method")
        # the hook: saved and accepted with its id, an empty message rejected
        a5, b5 = self.member("alice", "pyroom"), self.member("bob", "pyroom")
        self.emit5(a5, "pyroom", "chat message", {"text": "  hello "}, "p1")
        v = a5.answer("p1")
        self.assertEqual(v, {"ok": True, "data": {"text": "hello", "id": 1}})
        m = b5.wait_msg("rooms/pyroom/ev/chat message/alice", 5)
        self.assertEqual(json.loads(m[1]), {"text": "hello", "id": 1})
        self.emit5(a5, "pyroom", "chat message", {"text": " "}, "p2")
        self.assertEqual(a5.answer("p2"), {"ok": False, "error": "rejected",
                                           "message": "empty message"})
        self.assertIsNone(b5.wait_msg("rooms/pyroom/ev/#", 0.3))
        # SIGTERM: unsubscribes, disconnects, exits 0; calls are then unavailable
        py.p.send_signal(signal.SIGTERM)
        self.assertEqual(py.p.wait(10), 0)
        self.assertTrue(py.line("stopped", 2))
        self.assertEqual(self.call(alice, "py", "order", {"item": "x"})[0], EUNAVAILABLE)


if __name__ == "__main__":
    harness.broker_main()
