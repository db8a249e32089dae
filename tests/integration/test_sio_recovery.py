# SPDX-License-Identifier: MIT
"""Connection state recovery with the stock socket.io-client (4.8, from
node_modules), as Socket.IO 4.6+ connectionStateRecovery: after a forced
transport close the client comes back `recovered`, with its id, its rooms
(the current one too) and the room events it missed in order, none lost,
none twice (WebSocket and long-polling); after sio_recovery_s, past the
bounds, or for another user presenting the pid, it is a new connection;
what detached sockets keep is bounded (memory measured)."""
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, NODE_DIR, REPO, SioClient, Stack  # noqa: E402

WINDOW_S = 5
MAX_EVENTS = 50
MAX_BYTES = 65536


def sanitized():
    """AddressSanitizer keeps freed memory in quarantine: RSS then says
    nothing about what the gateway holds."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "HUB_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class SioRecovery(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack(extra_conf={"sio_recovery_s": WINDOW_S,
                                   "sio_recovery_max_events": MAX_EVENTS,
                                   "sio_recovery_max_bytes": MAX_BYTES,
                                   "sio_event_rate": 100000})
        cls.objs = []
        try:
            cls.st.start_broker()
            cls.st.start_hubd()
            for u in ("alice", "bob"):
                cls.st.add_user(u, rooms={"lobby": "write", "rec": "write", "gone": "write"})
            cls.st.add_user("carl", rooms={"lobby": "write"})
            cls.st.add_user("many", rooms={"lobby": "read"})
            cls.st.start_bridge()
        except Exception:
            cls.st.close()
            raise

    @classmethod
    def tearDownClass(cls):
        for o in cls.objs:
            o.close()
        log = cls.st.log("bridge")
        cls.st.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]

    def sio(self, user, opts=None, name=None, delay_ms=None):
        opts = dict(opts or {})
        opts.setdefault("auth", {"token": self.st.token(user)})
        if delay_ms is not None:
            opts.update(reconnection=True, reconnectionDelay=delay_ms,
                        reconnectionDelayMax=delay_ms, randomizationFactor=0)
        c = SioClient(self.st.sio_url(), opts, name or user)
        self.objs.append(c)
        return c

    def sender(self, name):
        b = self.sio("bob", name=name)
        b.wait("connect")
        err, ack = b.call("join", "rec")
        self.assertTrue(ack[0]["ok"], ack)
        return b

    def send(self, b, n0, n1, room="rec", event="n", pad=""):
        for i in range(n0, n1):
            err, ack = b.call(event, {"room": room, "i": i, "pad": pad})
            self.assertTrue(ack[0]["ok"], ack)

    def got(self, c, event="n"):
        """Every `event` c received so far: (i, offset) in arrival order."""
        deadline = time.time() + 0.3
        while time.time() < deadline:  # take what is queued
            try:
                c.wait("event", lambda e: False, 0.05)
            except AssertionError:
                pass
        return [(e["args"][0]["i"], e["offset"]) for e in c.seen
                if e["ev"] == "event" and e["name"] == event]

    def wait_count(self, c, n, event="n", timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.got(c, event)
            if len(got) >= n:
                return got
        return self.got(c, event)

    def recovers(self, transports):
        a = self.sio("alice", {"transports": transports}, "alice-%s" % transports[0],
                     delay_ms=2000)
        first = a.wait("connect")
        self.assertFalse(first["recovered"])
        self.assertRegex(first["pid"] or "", r"^[A-Za-z0-9_-]{20}$")
        a.event("presence")
        err, ack = a.call("join", "rec")
        self.assertTrue(ack[0]["ok"], ack)
        b = self.sender("bob-%s" % transports[0])
        self.send(b, 0, 3)
        self.assertEqual([i for i, _ in self.wait_count(a, 3)], [0, 1, 2])
        presences = len([e for e in a.seen if e["ev"] == "event" and e["name"] == "presence"])
        a.cmd(op="drop")
        a.wait("disconnect")
        # missed while away: room events, and one in the other room
        self.send(b, 3, 13)
        self.send(b, 100, 101, room="lobby", event="l")
        again = a.wait("connect", timeout=15)
        self.assertTrue(again["recovered"], again)
        self.assertEqual(again["id"], first["id"])
        self.assertEqual(again["pid"], first["pid"])
        got = self.wait_count(a, 13)
        # none lost, none twice, in order; offsets grow
        self.assertEqual([i for i, _ in got], list(range(13)), got)
        offs = [int(o) for _, o in got]
        self.assertEqual(offs, sorted(offs))
        self.assertEqual(len(set(offs)), len(offs))
        self.assertEqual([i for i, _ in self.got(a, "l")], [100])
        # the rooms are back without a re-join (no presence snapshot) and
        # the current room too
        self.send(b, 13, 14)
        self.assertEqual([i for i, _ in self.wait_count(a, 14)], list(range(14)))
        err, ack = a.call("after", {"x": 1})
        self.assertEqual(ack[0].get("room"), "rec", ack)
        self.assertEqual(b.event("after")[0], {"x": 1})
        self.assertEqual(len([e for e in a.seen if e["ev"] == "event" and
                              e["name"] == "presence"]), presences)
        m = re.findall(r"%s/alice \| recovery \| ok rooms=2 replayed=(\d+)" % first["id"],
                       self.st.log("bridge"))
        self.assertTrue(m and int(m[-1]) >= 1, m)
        print("  %s: recovered, %s events replayed" % (transports[0], m[-1]), file=sys.stderr)
        a.cmd(op="disconnect")
        b.cmd(op="disconnect")

    def test_01_recovers_over_websocket(self):
        self.recovers(["websocket"])

    def test_02_recovers_over_polling(self):
        self.recovers(["polling"])

    def test_03_not_after_the_window(self):
        a = self.sio("alice", {"transports": ["websocket"]}, "alice-late",
                     delay_ms=(WINDOW_S + 2) * 1000)
        first = a.wait("connect")
        a.event("presence")
        a.call("join", "rec")
        b = self.sender("bob-late")
        a.cmd(op="drop")
        a.wait("disconnect")
        self.send(b, 0, 3)
        again = a.wait("connect", timeout=WINDOW_S + 15)
        self.assertFalse(again["recovered"], again)
        self.assertNotEqual(again["id"], first["id"])
        # a new connection: autojoined again (a presence snapshot), the
        # missed events are gone
        self.assertEqual(len(a.event("presence")), 2)
        self.assertEqual(self.got(a), [])
        self.assertIn("| recovery | dropped reason=window-over", self.st.log("bridge"))

    def test_04_another_user_cannot_take_the_pid(self):
        a = self.sio("alice", {"transports": ["websocket"]}, "alice-pid", delay_ms=4000)
        first = a.wait("connect")
        a.event("presence")
        a.call("join", "rec")
        b = self.sender("bob-pid")
        a.cmd(op="drop")
        a.wait("disconnect")
        # carl presents alice's pid (and an offset) with his own token
        m = self.sio("carl", {"transports": ["websocket"],
                              "auth": {"token": self.st.token("carl"), "pid": first["pid"],
                                       "offset": "0"}}, "carl-thief")
        e = m.wait("connect")
        self.assertNotEqual(e["id"], first["id"])
        self.assertIn("carl | recovery | refused reason=other-user", self.st.log("bridge"))
        self.send(b, 0, 2)
        # so is a token-less try with the pid (no credentials: refused)
        n = self.sio("carl", {"transports": ["websocket"], "auth": {"pid": first["pid"]}},
                     "carl-nocred")
        self.assertEqual(n.wait("connect_error")["message"], "unauthorized")
        # alice still recovers: the record stayed hers
        again = a.wait("connect", timeout=15)
        self.assertTrue(again["recovered"], again)
        self.assertEqual([i for i, _ in self.wait_count(a, 2)], [0, 1])
        m.none("event", lambda e: e["name"] == "n", 0.3)

    def test_05_bounds(self):
        # more events than a record keeps
        a = self.sio("alice", {"transports": ["websocket"]}, "alice-count", delay_ms=3000)
        a.wait("connect")
        a.event("presence")
        a.call("join", "rec")
        b = self.sender("bob-count")
        a.cmd(op="drop")
        a.wait("disconnect")
        self.send(b, 0, MAX_EVENTS + 5)
        again = a.wait("connect", timeout=15)
        self.assertFalse(again["recovered"])
        self.assertEqual(self.got(a), [])
        self.assertIn("| recovery | dropped reason=over-bounds", self.st.log("bridge"))
        # more bytes than a record keeps
        a = self.sio("alice", {"transports": ["websocket"]}, "alice-bytes", delay_ms=3000)
        a.wait("connect")
        a.event("presence")
        a.call("join", "rec")
        a.cmd(op="drop")
        a.wait("disconnect")
        self.send(b, 0, 3, pad="x" * (MAX_BYTES // 2))
        again = a.wait("connect", timeout=15)
        self.assertFalse(again["recovered"])

    def test_05b_revoked_while_away(self):
        """A room revoked while the socket is away gives nothing more: the
        events the record kept from it are not replayed (the revocation
        is in force when hubctl returns), the other rooms' are."""
        a = self.sio("alice", {"transports": ["websocket"]}, "alice-revoked", delay_ms=3000)
        a.wait("connect")
        a.event("presence")
        a.call("join", "gone")
        a.call("join", "rec")
        b = self.sender("bob-revoked")
        b.call("join", "gone")
        a.cmd(op="drop")
        a.wait("disconnect")
        self.send(b, 0, 2, room="gone", event="g")
        self.send(b, 0, 2, room="rec")
        self.st.hubctl("revoke", "gone", "alice")
        self.send(b, 2, 3, room="gone", event="g")
        again = a.wait("connect", timeout=15)
        self.assertTrue(again["recovered"], again)
        self.assertEqual([i for i, _ in self.wait_count(a, 2)], [0, 1])
        self.assertEqual(self.got(a, "g"), [])
        err, ack = a.call("g", {"room": "gone", "i": 9})
        self.assertEqual(ack[0]["error"], "forbidden", ack)
        self.st.hubctl("grant", "gone", "alice", "write")

    def test_06_memory_of_detached_sockets(self):
        """200 sockets of one user cut at once: 64 become records (a user
        keeps at most that many), the others end; 40 events of 1 KB go to
        their room; what the records keep is measured (packets are shared:
        a pointer per event and record), and all of it goes after the
        window."""
        n, events, per_user = 200, 40, 64
        pid = self.st.procs["bridge"].pid
        before = rss_kb(pid)
        p = subprocess.Popen(["node", os.path.join(NODE_DIR, "sio_raw_sockets.mjs"),
                              json.dumps({"url": self.st.sio_url(), "n": n,
                                          "token": self.st.token("many")})],
                             cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            ready = json.loads(p.stdout.readline())
            self.assertEqual(ready, {"ready": n, "pids": n})
            time.sleep(0.5)
            live = rss_kb(pid)
            p.stdin.write("cut\n")
            p.stdin.flush()
            self.assertEqual(json.loads(p.stdout.readline()), {"dropped": n})
            deadline = time.time() + 10
            while self.st.log("bridge").count("many | disconnect | reason=network "
                                              "recoverable") < n and time.time() < deadline:
                time.sleep(0.1)
            log = self.st.log("bridge")
            self.assertEqual(log.count("/many | recovery | dropped reason=per-user-limit"),
                             n - per_user)
            b = self.sio("bob", name="bob-mem")
            b.wait("connect")
            self.send(b, 0, events, room="lobby", event="m", pad="p" * 1000)
            time.sleep(0.3)
            after = rss_kb(pid)
            print("  RSS %d kB; %d live sockets %d kB (%.0f bytes each); %d records holding "
                  "%d events of 1 KB %d kB" % (before, n, live, (live - before) * 1024.0 / n,
                                               per_user, events, after), file=sys.stderr)
            # the records hold no more than the sockets did
            if not sanitized():
                self.assertLess(after - before, n * 16)
            # and everything goes once the window is over
            deadline = time.time() + WINDOW_S + 10
            while (self.st.log("bridge").count("/many | recovery | dropped reason=window-over")
                   < per_user and time.time() < deadline):
                time.sleep(0.2)
            self.assertEqual(self.st.log("bridge").count(
                "/many | recovery | dropped reason=window-over"), per_user)
        finally:
            p.stdin.close()
            p.wait(10)


if __name__ == "__main__":
    unittest.main()
