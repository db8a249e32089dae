#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Fault suite: the store (one SQLite file in WAL mode) under contention
and on a full disk.

- SQLite busy: many hubctl processes at once (user add, grant, device
  add, revoke) while hubd serves logins (each one writes a session) and
  the broker's history writer stores a chat stream: no command fails, no
  "database is locked" ever reaches anyone, every change is there.
- Disk full: the data directory on a small tmpfs (root: mount; otherwise
  the test is skipped), filled up: hubctl fails with a one-line reason
  naming the full disk, a login answers 503 JSON, delivery goes on,
  nothing crashes; once space is back everything works, PRAGMA
  integrity_check says ok and the broker restarts from its persistence.
"""
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import timeout, wait_until  # noqa: E402
from mqttraw import RawClient  # noqa: E402

WORKERS = 12
PER_WORKER = 6


class FaultStore(unittest.TestCase):
    def setUp(self):
        self.st = None
        self.mounted = None

    def tearDown(self):
        if self.st:
            for name in list(self.st.procs):
                self.st.stop(name)
        if self.mounted:
            subprocess.run(["umount", self.mounted])
        if self.st:
            self.st.close()

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before and self.st:
            print("---- hubd log (tail) ----\n%s" % "\n".join(
                self.st.log("hubd").splitlines()[-20:]), file=sys.stderr)
            print("---- broker log (tail) ----\n%s" % self.st.broker_tail(30), file=sys.stderr)
        return result

    @timeout(240)
    def test_01_busy_store_never_surfaces(self):
        st = self.st = harness.Stack(extra_conf={"history_max": 100000})
        st.add_user("alice", rooms={"lobby": "write", "busy": "write"})
        st.start_broker()
        st.start_hubd()
        stop = threading.Event()
        logins = []

        def login_loop():
            while not stop.is_set():
                try:
                    r = st.http("POST", "/api/login",
                                {"username": "alice", "password": "secret-pw"}, timeout=30)
                    logins.append((r.status, r.body[:200]))
                except OSError as e:
                    logins.append((type(e).__name__, b""))

        chat = []

        def chat_loop():
            # history writes from the broker's writer thread meanwhile
            c = RawClient(st.ports["mqtt"], timeout=10)
            assert c.connect("alice", st.token("alice"), client_id="busy-chat") == 0
            n = 0
            while not stop.is_set():
                n += 1
                c.publish("rooms/busy/ev/chat message/alice", b"%d" % n, qos=1)
                chat.append(n)
            c.disconnect()

        failures = []

        def worker(w):
            for i in range(PER_WORKER):
                u, d = "w%du%d" % (w, i), "w%dd%d" % (w, i)
                cmds = [["user", "add", u, "--password-stdin"],
                        ["grant", "busy", u, "write"],
                        ["device", "add", d, "--owner", u],
                        ["grant", "lobby", u, "read"],
                        ["revoke", "lobby", u]]
                for cmd in cmds:
                    r = st.hubctl(*cmd, input="pw-%s-pw\n" % u, check=False)
                    if r.returncode != 0 or r.stderr.strip():
                        failures.append((cmd, r.returncode, r.stderr.strip()))

        bg = [threading.Thread(target=login_loop, daemon=True),
              threading.Thread(target=chat_loop, daemon=True)]
        for t in bg:
            t.start()
        self.assertTrue(wait_until(lambda: len(logins) >= 3 and len(chat) >= 10, 30))
        t0 = time.time()
        ws = [threading.Thread(target=worker, args=(w,)) for w in range(WORKERS)]
        for t in ws:
            t.start()
        for t in ws:
            t.join(200)
        took = time.time() - t0
        stop.set()
        for t in bg:
            t.join(30)
        n_cmds = WORKERS * PER_WORKER * 5
        print("  %d hubctl commands from %d processes at a time in %.1fs beside %d logins "
              "and %d chat events" % (n_cmds, WORKERS, took, len(logins), len(chat)),
              file=sys.stderr)
        self.assertEqual(failures, [])
        self.assertEqual([l for l in logins if l[0] != 200], [])
        for name in ("hubd", "broker"):
            log = st.log(name)
            self.assertNotIn("database is locked", log, name)
            self.assertNotIn("SQLITE_BUSY", log, name)
        # every change is in the store
        users = st.sqlite("SELECT COUNT(*) FROM principals WHERE name GLOB 'w*u*'").strip()
        devs = st.sqlite("SELECT COUNT(*) FROM principals WHERE name GLOB 'w*d*'").strip()
        busy = st.sqlite("SELECT COUNT(*) FROM memberships WHERE room='busy' "
                         "AND principal GLOB 'w*u*'").strip()
        lobby = st.sqlite("SELECT COUNT(*) FROM memberships WHERE room='lobby' "
                          "AND principal GLOB 'w*u*'").strip()
        self.assertEqual((users, devs, busy, lobby),
                         (str(WORKERS * PER_WORKER), str(WORKERS * PER_WORKER),
                          str(WORKERS * PER_WORKER), "0"))
        # the history writer kept up too
        self.assertTrue(wait_until(lambda: int(st.sqlite(
            "SELECT COUNT(*) FROM messages WHERE room='busy'").strip()) >= len(chat), 10),
            "history: %s of %d" % (st.sqlite("SELECT COUNT(*) FROM messages "
                                             "WHERE room='busy'").strip(), len(chat)))
        self.assertEqual(st.integrity(), "ok")

    @timeout(180)
    def test_02_disk_full(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to mount a small tmpfs on the data directory")
        st = self.st = harness.Stack(extra_conf={"history_max": 100000})
        os.makedirs(st.data)
        opts = "size=6m,mode=0750"
        acct = harness.run_as_account()
        if acct:
            opts += ",uid=%d,gid=%d" % acct
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "hubfull", st.data],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: %s" % r.stderr.strip())
        self.mounted = st.data
        st.add_user("alice", rooms={"lobby": "write"})
        st.add_user("bob", rooms={"lobby": "write"})
        # autosave every 2 s (test_fault_broker): saves fail meanwhile
        st.start_broker("autosave_interval 1\n")
        st.start_hubd()
        cookie, _, _ = st.login("bob")
        bob = RawClient(st.ports["mqtt"], timeout=5)
        self.assertEqual(bob.connect("bob", st.token("bob"), client_id="full-bob"), 0)
        self.assertEqual(bob.subscribe(["rooms/lobby/ev/#"]), [1])
        alice = RawClient(st.ports["mqtt"], timeout=5)
        self.assertEqual(alice.connect("alice", st.token("alice"), client_id="full-alice"), 0)

        # fill the disk to the last byte (as root: tmpfs keeps nothing in
        # reserve)
        fill(os.path.join(st.data, "filler"))
        filler = os.path.join(st.data, "filler")

        # hubctl: exit 1, one line that names the cause
        r = st.hubctl("user", "add", "carol", "--password-stdin", input="pw-carol-pw\n",
                      check=False)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        self.assertIn("disk is full", r.stderr)
        # a login needs a session row: 503 with a JSON reason, no crash
        r = st.http("POST", "/api/login", {"username": "alice", "password": "secret-pw"})
        self.assertEqual(r.status, 503, r)
        self.assertIn("error", r.json())
        # reads still work; delivery never depended on the disk
        self.assertEqual(st.http("GET", "/api/session", cookie=cookie).status, 200)
        for n in range(50):
            alice.publish("rooms/lobby/ev/chat message/alice", b"full-%d" % n, qos=1)
        got = []
        self.assertTrue(wait_until(lambda: got.extend(bob.collect(0.1)) or len(got) >= 50, 10),
                        "delivery stopped on a full disk: %d" % len(got))
        # the broker's autosaves fail (not always logged by 2.0.11), the
        # broker goes on
        saves = st.count_log("broker", "Saving in-memory database")
        self.assertTrue(wait_until(lambda: st.count_log(
            "broker", "Saving in-memory database") >= saves + 2, 10), "no autosave")
        self.assertTrue(bob.alive(), "the broker died on a full disk")
        for name in ("hubd", "broker"):
            self.assertIsNone(st.procs[name].poll(), "%s exited on a full disk" % name)

        # a crash while the disk is full: Mosquitto 2.0.11 does not check
        # its last write of an autosave and may have renamed an empty
        # file over mosquitto.db (docs/reliability.md); it starts anyway
        size = os.path.getsize(os.path.join(st.data, "mosquitto.db"))
        alice.close()
        bob.close()
        st.kill9("broker")

        # space again: everything works, nothing is corrupt
        os.unlink(filler)
        st.start_broker_again()
        print("  disk full: mosquitto.db was %d bytes after the failed autosaves; broker "
              "restarted%s" % (size, " from an EMPTY persistence file" if "Persistence file "
                               "is empty" in st.log("broker") else ""), file=sys.stderr)
        r = st.hubctl("user", "add", "carol", "--password-stdin", input="pw-carol-pw\n",
                      check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(st.login("alice")[2]["user"]["username"], "alice")
        self.assertEqual(st.integrity(), "ok")
        token = st.token("carol")

        def carol_connects():
            # (the plugin follows the store: a user added a moment ago may
            # be refused for a moment; issue 11 item 9)
            c = RawClient(st.ports["mqtt"], timeout=5)
            try:
                return c.connect("carol", token, client_id="full-carol") == 0
            finally:
                c.close()
        self.assertTrue(wait_until(carol_connects, 10, 0.1), "carol refused")


def fill(path):
    """Write to path until the file system has not one byte left."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)


if __name__ == "__main__":
    harness.broker_main()
