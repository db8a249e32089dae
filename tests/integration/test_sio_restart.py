# SPDX-License-Identifier: MIT
"""Restarting hub-bridge loses nobody (issue 11, item 11a): SIGTERM closes
every transport without a Socket.IO DISCONNECT, so stock socket.io-client
reports "transport close" and reconnects by itself to the gateway started
again on the same port, re-authenticates (token or cookie), and its rooms
work again; presence follows the documented grace window (no left/joined
when it is back within presence_grace_ms, else one `left` reason network
no earlier than the grace, then one `joined`).

  01 long-polling only: the parked GET is answered at once (the client
     notices within a second or two, not after the heartbeat)
  02 WebSocket only
  03 the default (polling, upgraded to WebSocket), cookie-authenticated
  04 a restart slower than the grace window: left, then joined
"""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SioClient, Stack  # noqa: E402
from test_sio_mqtt import MqttWatch  # noqa: E402

GRACE_MS = 800  # presence_grace_ms default


class SioRestart(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack(extra_conf={"presence_grace_ms": GRACE_MS})
        cls.objs = []
        try:
            cls.st.start_broker()
            cls.st.start_hubd()
            for u in ("alice", "bob"):
                cls.st.add_user(u, rooms={"lobby": "write", "team": "write"})
            cls.st.add_user("carl", rooms={"lobby": "read"})
            cls.st.start_bridge()
        except Exception:
            cls.st.close()
            raise
        cls.figures = []

    @classmethod
    def tearDownClass(cls):
        for o in cls.objs:
            try:
                o.close()
            except Exception:
                pass
        log = cls.st.log("bridge")
        for f in cls.figures:
            print("  " + f, file=sys.stderr)
        cls.st.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]

    def setUp(self):
        # a failed case may leave the gateway stopped
        p = self.st.procs.get("bridge")
        if p is None or p.poll() is not None:
            self.st.procs.pop("bridge", None)
            self.st.start_bridge()

    def watch(self, filters):
        """carl's MQTT watcher (a user added by hubctl is in force at the
        broker when hubctl returned: no retry)."""
        return MqttWatch(self.st, "carl", filters)

    def client(self, name, opts):
        c = SioClient(self.st.sio_url(), opts, name)
        self.objs.append(c)
        return c

    @staticmethod
    def pump(w, log, until, stop):
        """Collect w's messages into log as (topic, payload, arrival time)
        until stop(log) is true or the time `until`; returns stop(log)."""
        while not stop(log) and time.time() < until:
            for m in w.c.collect(0.05):
                log.append((m[0], m[1], time.time()))
        return stop(log)

    @staticmethod
    def notices(log, user):
        """user's lobby sys notices in log: [(kind, json, time)]."""
        out = []
        for topic, payload, at in log:
            if topic.startswith("rooms/lobby/sys/") and payload:
                j = json.loads(payload)
                if j.get("user") == user:
                    out.append((topic.rsplit("/", 1)[1], j, at))
        return out

    def restart(self, tag, opts, slow=False):
        """slow: start the gateway again only once alice's `left` is out."""
        w = self.watch(["rooms/lobby/sys/+", "rooms/lobby/presence/+", "rooms/lobby/ev/#"])
        opts = dict(opts, reconnection=True, reconnectionDelay=200, reconnectionDelayMax=1000,
                    randomizationFactor=0)
        a = self.client("alice-" + tag, opts)
        a.wait("connect", timeout=15)
        err, args = a.call("join", "team")
        self.assertEqual(args, [{"ok": True, "room": "team"}])
        w.json("rooms/lobby/presence/alice")  # retained: present
        if opts.get("transports") != ["polling"]:
            if opts.get("transports") is None:
                a.wait("upgrade", timeout=10)
        bob = self.client("bob-" + tag, {"transports": ["websocket"], "reconnection": True,
                                         "reconnectionDelay": 200, "randomizationFactor": 0,
                                         "auth": {"token": self.st.token("bob")}})
        bob.wait("connect", timeout=15)
        self.assertTrue(bob.call("join", "team")[1][0]["ok"])
        w.c.collect(0.1)  # bob's joined and whatever came before
        log = []

        t0 = time.time()
        proc = self.st.procs["bridge"]
        proc.send_signal(signal.SIGTERM)
        d = a.wait("disconnect", timeout=10)
        noticed = d["t"] - t0
        self.assertEqual(d["reason"], "transport close", "a DISCONNECT reached the client")
        self.assertEqual(bob.wait("disconnect", timeout=10)["reason"], "transport close")
        self.assertEqual(self.st.stop("bridge"), 0)
        stopped = time.time() - t0
        if slow:
            self.assertTrue(self.pump(w, log, time.time() + GRACE_MS / 1000.0 + 5, lambda lg: any(
                k == "left" for k, _, _ in self.notices(lg, "alice"))), "no left notice")
        self.st.start_bridge()
        restarted = time.time() - t0
        # socket.io-client comes back by itself, re-authenticated
        again = a.wait("connect", timeout=20)
        back = again["t"] - t0
        bob.wait("connect", timeout=20)
        # the application joins its rooms again on connect (they were the
        # old process's); lobby comes back by autojoin
        self.assertEqual(a.call("join", "team")[1], [{"ok": True, "room": "team"}])
        self.assertTrue(bob.call("join", "team")[1][0]["ok"])
        err, args = a.call("chat message", {"room": "team", "tag": tag})
        self.assertTrue(args[0]["ok"], args)
        bob.event("chat message", lambda x: x[0].get("tag") == tag)
        err, args = a.call("chat message", {"room": "lobby", "tag": tag + "-lobby"})
        self.assertTrue(args[0]["ok"], args)
        self.assertTrue(self.pump(w, log, time.time() + 10, lambda lg: any(
            t == "rooms/lobby/ev/chat message/alice" and json.loads(p).get("tag") == tag +
            "-lobby" for t, p, _ in lg)), "MQTT did not get the lobby event")

        # presence: the grace window decides, as documented (a joined after
        # a left, or nothing once the grace is over)
        self.pump(w, log, max(time.time(), t0 + GRACE_MS / 1000.0) + 2.0,
                  lambda lg: any(k == "joined" for k, _, _ in self.notices(lg, "alice")))
        seen = self.notices(log, "alice")
        lefts = [x for x in seen if x[0] == "left"]
        joins = [x for x in seen if x[0] == "joined"]
        if lefts:
            self.assertEqual(len(lefts), 1, seen)
            self.assertEqual(lefts[0][1]["reason"], "network", seen)
            # published after the grace, never at the stop itself
            self.assertGreaterEqual(lefts[0][2] - t0, GRACE_MS / 1000.0 * 0.9, seen)
            self.assertEqual(len(joins), 1, seen)
            self.assertGreater(joins[0][2], lefts[0][2])
            outcome = "left after %.2f s (reason network), joined again after %.2f s" % (
                lefts[0][2] - t0, joins[0][2] - t0)
        else:
            self.assertFalse(slow, seen)
            self.assertEqual(joins, [], seen)
            outcome = "back within the grace: no left/joined"
        w.c.close()  # the late watcher takes its client id
        late = self.watch(["rooms/lobby/presence/+"])
        pres, _ = late.json("rooms/lobby/presence/alice", timeout=5)
        self.assertEqual(pres["user"], "alice")
        self.figures.append(
            "%s: client noticed the stop after %.2f s (reason transport close); gateway exited "
            "0 after %.2f s, listening again after %.2f s; client reconnected and "
            "re-authenticated after %.2f s; presence: %s" % (tag, noticed, stopped, restarted,
                                                             back, outcome))
        # leave the room as found: both gone (after the grace)
        a.cmd(op="disconnect")
        bob.cmd(op="disconnect")
        late.c.close()
        end = self.watch(["rooms/lobby/presence/+"])
        end.wait(lambda t, p: t == "rooms/lobby/presence/alice" and not p, 10)
        end.c.close()
        return noticed

    def test_01_polling(self):
        noticed = self.restart("polling", {"transports": ["polling"],
                                           "auth": {"token": self.st.token("alice")}})
        # the parked GET is answered at the stop: far below the heartbeat
        # (pingInterval 25 s + pingTimeout 20 s) the client would wait for
        self.assertLess(noticed, 5.0)

    def test_02_websocket(self):
        self.restart("websocket", {"transports": ["websocket"],
                                   "auth": {"token": self.st.token("alice")}})

    def test_03_default_with_cookie(self):
        cookie, _, _ = self.st.login("alice")
        self.restart("default+cookie", {"extraHeaders": {"Cookie": "hub_sid=" + cookie}})


    def test_04_back_after_the_grace(self):
        """A restart slower than the grace: one left (network), not before
        the grace, then one joined when the client is back."""
        self.restart("websocket, slow", {"transports": ["websocket"],
                                         "auth": {"token": self.st.token("alice")}}, slow=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
