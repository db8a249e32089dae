#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Fault suite: kill -9 of hubd, hub-bridge and the broker while the
others run and clients keep working, then a restart of the killed one.

- hubd under a login and API load: requests fail only while it is down;
  after the restart logins work, a cookie from before still opens its
  session, the publish API reaches MQTT members again, MQTT connections
  never noticed; the store passes PRAGMA integrity_check.
- hub-bridge with stock socket.io-client sockets (reconnection on, as
  apps run them) emitting into a room: while it is down their users
  leave the room's presence; after the restart every socket comes back by
  itself, presence lists them again and events flow both ways.
- the broker under both: hubd's and hub-bridge's links come back, the
  publish API and Socket.IO emits reach MQTT members, presence is right.
"""
import http.client
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import SioClient, timeout, wait_until  # noqa: E402
from mqttraw import RawClient, Closed  # noqa: E402

SIO_USERS = ("sa", "sb", "sc", "sd")


class Presence:
    """An MQTT member following rooms/lobby/presence/+ (retained, so it
    always knows the current list) and rooms/lobby/ev/#."""

    def __init__(self, st, user):
        self.st, self.user = st, user
        self.live = {}
        self.events = []
        self._connect()

    def _connect(self):
        self.c = RawClient(self.st.ports["mqtt"], timeout=5)
        assert self.c.connect(self.user, self.st.token(self.user), version=5,
                              client_id="watch-%s" % self.user) == 0
        assert self.c.subscribe(["rooms/lobby/presence/+", "rooms/lobby/ev/#"]) == [1, 1]

    def poll(self, t=0.1):
        try:
            msgs = self.c.collect(t)
        except (Closed, OSError):
            self.c.close()
            self.live = {}
            try:
                self._connect()
            except (Closed, OSError, AssertionError):
                time.sleep(0.1)  # the broker is still down: try again
            return
        for topic, payload, _ in msgs:
            if "/presence/" in topic:
                self.live[topic.rsplit("/", 1)[1]] = bool(payload)
            else:
                self.events.append((topic, payload))

    def online(self):
        return {u for u, on in self.live.items() if on}

    def wait(self, pred, timeout_s):
        end = time.time() + timeout_s
        while time.time() < end:
            self.poll()
            if pred(self):
                return True
        return False

    def close(self):
        self.c.close()


class Load(threading.Thread):
    """hubd under load: logins, session checks with an old cookie, publish
    API calls, each outcome recorded with its time."""

    def __init__(self, st, cookie, key):
        super().__init__(daemon=True)
        self.st, self.cookie, self.key = st, cookie, key
        self.results = []        # (time, what, status or exception name)
        self.stop = False

    def one(self, what, fn):
        try:
            r = fn()
            self.results.append((time.time(), what, r.status))
        except (OSError, http.client.HTTPException) as e:
            # refused, reset, or an answer cut short by the kill
            self.results.append((time.time(), what, type(e).__name__))

    def run(self):
        while not self.stop:
            self.one("login", lambda: self.st.http(
                "POST", "/api/login", {"username": "loader", "password": "secret-pw"},
                timeout=5))
            self.one("session", lambda: self.st.http("GET", "/api/session", cookie=self.cookie,
                                                     timeout=5))
            self.one("publish", lambda: self.st.http(
                "POST", "/api/publish", {"room": "lobby", "event": "load", "data": 1},
                headers={"Authorization": "Bearer " + self.key}, timeout=5))


class FaultServices(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = harness.Stack()
        st = cls.st
        cls.objs = []
        try:
            for u in SIO_USERS + ("watch", "loader", "mq"):
                st.add_user(u, rooms={"lobby": "write"})
            out = st.hubctl("servicekey", "add", "backend").stdout
            cls.key = [l.split()[1] for l in out.splitlines() if l.startswith("key:")][0]
            st.start_broker()
            st.start_hubd()
            st.start_bridge()
        except Exception:
            st.close()
            raise

    @classmethod
    def tearDownClass(cls):
        for o in cls.objs:
            o.close()
        logs = cls.st.log("bridge") + cls.st.log("hubd")
        cls.st.close()
        assert "AddressSanitizer" not in logs and "runtime error" not in logs, logs[-3000:]

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for name in ("hubd", "bridge"):
                print("---- %s log (tail) ----\n%s" % (
                    name, "\n".join(self.st.log(name).splitlines()[-25:])), file=sys.stderr)
            print("---- broker log (tail) ----\n%s" % self.st.broker_tail(40), file=sys.stderr)
        return result

    def publish_ok(self):
        try:
            r = self.st.http("POST", "/api/publish",
                             {"room": "lobby", "event": "probe", "data": 1},
                             headers={"Authorization": "Bearer " + self.key}, timeout=5)
        except (OSError, http.client.HTTPException):
            return False  # hubd is (re)starting
        return r.status == 200

    def sio(self, user):
        # stock client options: reconnection on (the default), as apps run it
        c = SioClient(self.st.sio_url(), {"auth": {"token": self.st.token(user)},
                                          "reconnection": True,
                                          "reconnectionDelayMax": 2000}, user)
        self.objs.append(c)
        e = c.wait("connect", timeout=15)
        self.assertTrue(e)
        return c

    @timeout(120)
    def test_01_kill9_hubd_under_load(self):
        st = self.st
        self.assertTrue(wait_until(self.publish_ok, 15, 0.1), "hubd never linked to the broker")
        cookie, token, _ = st.login("loader")
        mq = RawClient(st.ports["mqtt"], timeout=5)
        self.assertEqual(mq.connect("mq", st.token("mq"), client_id="fault-mq"), 0)
        self.assertEqual(mq.subscribe(["rooms/lobby/ev/+/backend"]), [1])
        load = Load(st, cookie, self.key)
        load.start()
        try:
            self.assertTrue(wait_until(lambda: len(load.results) >= 30, 30), "no load")
            t_kill = time.time()
            st.kill9("hubd")
            self.assertTrue(wait_until(
                lambda: any(t > t_kill and not isinstance(s, int) for t, _, s in load.results),
                10), "requests still answered after kill -9")
            st.start_hubd()
            t_up = time.time()
            # everything works again, with the cookie from before the kill
            def recovered():
                recent = [(w, s) for t, w, s in load.results if t > t_up + 0.01]
                return {w for w, s in recent if s == 200} >= {"login", "session", "publish"}
            self.assertTrue(wait_until(recovered, 20), "not recovered: %r" % load.results[-9:])
            t_ok = time.time()
        finally:
            load.stop = True
            load.join(10)
        # no request failed with anything but "down" (refused / reset)
        bad = [(w, s) for t, w, s in load.results if isinstance(s, int) and s != 200]
        self.assertFalse([b for b in bad if b[1] not in (503,)], bad[:10])
        down = [r for r in load.results if not isinstance(r[2], int)]
        print("  hubd: %d requests, %d failed while down (%s), first success %.2fs after "
              "the restart" % (len(load.results), len(down), sorted({s for _, _, s in down}),
                               t_ok - t_up), file=sys.stderr)
        # MQTT never noticed; the publish API reached it again
        self.assertTrue(mq.alive(), "an MQTT connection was lost with hubd")
        msgs = mq.collect(0.5)
        self.assertTrue(any(t == "rooms/lobby/ev/load/backend" for t, _, _ in msgs))
        mq.close()
        self.assertEqual(st.integrity(), "ok")

    @timeout(150)
    def test_02_kill9_bridge_sockets_come_back(self):
        st = self.st
        watch = Presence(st, "watch")
        self.objs.append(watch)
        socks = {u: self.sio(u) for u in SIO_USERS}
        want = set(SIO_USERS) | {"watch"}
        self.assertTrue(watch.wait(lambda w: w.online() >= want, 10),
                        "presence before: %r" % watch.live)
        # load: each socket emits now and then
        socks["sa"].emit("chat message", {"room": "lobby", "content": "before"})
        self.assertTrue(watch.wait(lambda w: any(t.endswith("/sa") for t, _ in w.events), 5))
        st.kill9("bridge")
        t_kill = time.time()
        # the gateway's users left: presence drops them (within 2 s + grace)
        self.assertTrue(watch.wait(lambda w: not (w.online() & set(SIO_USERS)), 10),
                        "presence with the gateway dead: %r" % watch.live)
        t_left = time.time()
        for c in socks.values():
            c.wait("disconnect", timeout=10)
        st.start_bridge()
        t_up = time.time()
        # every stock socket reconnects by itself
        for u, c in socks.items():
            e = c.wait("connect", timeout=30)
            self.assertTrue(e, "%s did not reconnect" % u)
        t_back = time.time()
        self.assertTrue(watch.wait(lambda w: w.online() == want, 10),
                        "presence after: %r" % watch.live)
        # events flow both ways again
        socks["sb"].emit("chat message", {"room": "lobby", "content": "after"})
        self.assertTrue(watch.wait(lambda w: any(
            t.endswith("/sb") and b"after" in p for t, p in w.events), 5))
        watch.c.publish("rooms/lobby/ev/chat message/watch", json.dumps({"x": 1}), qos=1)
        for u in ("sa", "sc"):
            socks[u].event("chat message", pred=lambda a: a and a[0] == {"x": 1}, timeout=5)
        print("  bridge: presence cleared %.2fs after kill -9; all %d sockets back %.2fs "
              "after the restart" % (t_left - t_kill, len(socks), t_back - t_up),
              file=sys.stderr)
        for c in socks.values():
            c.close()
        self.assertTrue(watch.wait(lambda w: w.online() == {"watch"}, 10), watch.live)
        self.assertEqual(st.integrity(), "ok")

    @timeout(150)
    def test_03_kill9_broker_services_relink(self):
        st = self.st
        watch = Presence(st, "watch")
        self.objs.append(watch)
        sock = self.sio("sa")
        self.assertTrue(watch.wait(lambda w: "sa" in w.online(), 10), watch.live)
        st.kill9("broker")
        t_kill = time.time()
        st.start_broker_again()
        t_up = time.time()
        # hubd and hub-bridge link again by themselves
        self.assertTrue(wait_until(self.publish_ok, 20, 0.1),
                        "hubd did not link to the restarted broker")
        t_hubd = time.time()
        self.assertTrue(watch.wait(lambda w: w.online() == {"sa", "watch"}, 20),
                        "presence after the broker restart: %r" % watch.live)
        t_pres = time.time()
        got = wait_until(lambda: (sock.emit("chat message", {"room": "lobby", "n": 1}),
                                  watch.wait(lambda w: any(t.endswith("/sa") and b'"n"' in p
                                                           for t, p in w.events), 0.5))[1], 20)
        self.assertTrue(got, "Socket.IO emits do not reach MQTT after the broker restart")
        print("  broker: down %.2fs; hubd linked %.2fs and presence right %.2fs after it "
              "listened" % (t_up - t_kill, t_hubd - t_up, t_pres - t_up), file=sys.stderr)
        sock.close()
        self.assertEqual(st.integrity(), "ok")


if __name__ == "__main__":
    harness.broker_main()
