#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hubctl backup / restore on real stacks (docs/deploy.md, "Backup and
restore").

test_1: backups taken while the hub is under write load (hubctl batches
adding users and grants, logins through hubd, chat messages through the
broker into the history) are each one consistent state; a final backup,
taken after the broker saved its state on stop, restores into a fresh data
directory where the whole stack starts and serves: logins (also of the
last user added under load), MQTT with a fresh token, a device with its
secret, the broker's retained message, history, Socket.IO. The sessions of
the backup are ended there (a cookie and a token from before are refused);
restored with --keep-sessions elsewhere, they live on and the restored key
still verifies the old token.
test_2: restore refuses while any part of the stack runs (gateway, broker,
hubd), names it, and changes nothing; once all are stopped it goes ahead.
test_3: the questions and refusals an operator meets.

    HUB_BUILD_DIR=build /usr/bin/python3 tests/integration/test_backup.py
"""
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MqttClient, Stack, wait_until  # noqa: E402

HUBCTL = os.path.join(harness.BIN, "hubctl")
ARCHIVE = 30000  # history rows of a room nobody writes to: a store of some MiB
BRIDGE = os.path.exists(os.path.join(harness.BIN, "hub-bridge"))
NODE = shutil.which("node") is not None and os.path.isdir(
    os.path.join(harness.REPO, "node_modules", "socket.io-client"))


def rows(path, sql):
    c = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return c.execute(sql).fetchall()
    finally:
        c.close()


def check_backup(test, path):
    """One consistent state: SQLite's integrity check, the users added under
    load a prefix of their sequence with their grants (a batch line is one
    transaction: at most the last grant missing), the history without
    holes. Returns the number of load users in it."""
    test.assertEqual(rows(path, "PRAGMA integrity_check"), [("ok",)], path)
    test.assertEqual(rows(path, "PRAGMA foreign_key_check"), [], path)
    names = sorted(r[0] for r in rows(path, "SELECT name FROM principals WHERE name LIKE 'u%'"))
    test.assertEqual(names, ["u%05d" % i for i in range(len(names))], path)
    members = rows(path, "SELECT count(*) FROM memberships WHERE room = 'load' "
                         "AND principal LIKE 'u%'")[0][0]
    test.assertIn(len(names) - members, (0, 1), path)
    lo, hi, n = rows(path, "SELECT min(id), max(id), count(*) FROM messages "
                           "WHERE room = 'lobby'")[0]
    if n:
        test.assertEqual(hi - lo + 1, n, "history with holes in %s" % path)
    test.assertEqual(rows(path, "SELECT count(*) FROM messages WHERE room = 'archive'"),
                     [(ARCHIVE,)])
    files = dict(rows(path, "SELECT name, length(content) FROM hub_backup_files"))
    test.assertIn("token.key", files)
    return len(names)


class Load:
    """Writers on a running stack until stopped: hubctl batches (users and
    grants), logins, chat messages over MQTT."""

    def __init__(self, st, chat_token):
        self.st = st
        self.stop = threading.Event()
        self.users = self.logins = self.chats = 0
        self.errors = []
        self.chat = MqttClient(st.ports["mqtt"], "alice", chat_token, client_id="chatter")
        self.chat.connect()
        self.threads = [threading.Thread(target=f, daemon=True)
                        for f in (self.batches, self.login_loop, self.chat_loop)]
        for t in self.threads:
            t.start()

    def run(self, fn):
        try:
            while not self.stop.is_set():
                fn()
        except Exception as e:  # reported by the test
            self.errors.append("%s: %r" % (fn.__name__, e))

    def batches(self):
        def one():
            lines = []
            for i in range(self.users, self.users + 10):
                lines.append("user add u%05d --password pw-u%05d-x" % (i, i))
                lines.append("grant load u%05d read" % i)
            self.st.hubctl("batch", input="\n".join(lines) + "\n")
            self.users += 10
        self.run(one)

    def login_loop(self):
        def one():
            self.st.login("bob", "bob-pass-12")
            self.logins += 1
        self.run(one)

    def chat_loop(self):
        def one():
            self.chat.pub("rooms/lobby/ev/chat message/alice", b'{"n":%d}' % self.chats, qos=1)
            self.chats += 1
            time.sleep(0.005)  # pacing the load, not waiting for anything
        self.run(one)

    def progress(self):
        return (self.users, self.logins, self.chats)

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        self.chat.close()


class BackupRestore(unittest.TestCase):
    stacks = []

    @classmethod
    def tearDownClass(cls):
        for s in cls.stacks:
            s.close()

    def stack(self):
        s = Stack()
        self.stacks.append(s)
        return s

    def start_all(self, s):
        s.start_broker()
        s.start_hubd()
        if BRIDGE:
            s.start_bridge()

    def ctl(self, s, *args, input=None):
        r = subprocess.run([HUBCTL] + [str(a) for a in args], env=s.env, capture_output=True,
                           text=True, input=input, timeout=120,
                           stdin=None if input is not None else subprocess.DEVNULL)
        return r

    def test_1_backup_under_load_then_restore(self):
        a = self.stack()
        a.add_user("alice", "alice-pass-1", rooms={"lobby": "write"})
        a.add_user("bob", "bob-pass-12", rooms={"lobby": "write"})
        a.hubctl("room", "add", "load")
        truck = a.device_add("truck1", "alice", room="lobby")
        # a store of some size, so that a backup takes long enough for the
        # writers to commit while it runs
        c = sqlite3.connect(a.db_path())
        c.executemany("INSERT INTO messages(room, event, sender, ts, data) VALUES"
                      "('archive', 'chat message', 'alice', ?, ?)",
                      ((i, os.urandom(100).hex().encode()) for i in range(ARCHIVE)))
        c.commit()
        c.close()
        self.start_all(a)
        pin = MqttClient(a.ports["mqtt"], "alice", a.token("alice"), client_id="pinner")
        pin.connect()
        pin.pub("rooms/lobby/ev/pinned/alice", b"before-backup", qos=1, retain=True)
        pin.close()

        load = Load(a, a.token("alice"))
        try:
            self.assertTrue(wait_until(lambda: min(load.progress()) >= 20 or load.errors, 60),
                            "no load: %r %r" % (load.progress(), load.errors))
            during = []
            for k in range(6):
                before = load.progress()
                path = os.path.join(a.dir, "under-load-%d.db" % k)
                t0 = time.time()
                r = self.ctl(a, "backup", path)
                took = time.time() - t0
                self.assertEqual((r.returncode, r.stderr), (0, ""), r)
                self.assertIn("backup written to %s (mode 0600" % path, r.stdout)
                self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
                n = check_backup(self, path)
                after = load.progress()
                during.append((took, n, [y - x for x, y in zip(before, after)]))
        finally:
            load.end()
        self.assertEqual(load.errors, [])
        for took, n, moved in during:
            print("  backup under load: %.3f s, %d load users in it; meanwhile users/logins/"
                  "chats +%s" % (took, n, moved), file=sys.stderr)
        last_user = "u%05d" % (load.users - 1)
        self.assertTrue(wait_until(lambda: rows(a.db_path(), "SELECT count(*) FROM messages "
                                                "WHERE room = 'lobby'")[0][0] > 0, 10))

        # the broker saves its state when it stops; hubd (and the gateway)
        # keep running: the backup is online
        cookie_a, token_a, _ = a.login("alice", "alice-pass-1")
        a.stop("broker")
        final = os.path.join(a.dir, "final.db")
        r = self.ctl(a, "backup", final)
        self.assertEqual((r.returncode, r.stderr), (0, ""), r)
        self.assertRegex(r.stdout, r"(?m)^token key: included$")
        self.assertRegex(r.stdout, r"(?m)^broker state: included \(%s/mosquitto.db, "
                         % a.data)
        self.assertRegex(r.stdout, r"(?m)^store: schema \d+, .*: %d users, 1 devices, "
                         % (load.users + 2))
        self.assertEqual(check_backup(self, final), load.users)

        # a fresh data directory on another "machine"
        b = self.stack()
        self.assertFalse(os.path.exists(b.data))
        r = self.ctl(b, "restore", final)
        self.assertEqual((r.returncode, r.stderr), (0, ""), r)
        self.assertIn("restored %s (made " % final, r.stdout)
        self.assertRegex(r.stdout, r"(?m)^sessions: [1-9]\d* live in the backup, ended "
                                   r"\(reason restored\): users log in again$")
        self.assertRegex(r.stdout, r"(?m)^token key: restored$")
        self.assertRegex(r.stdout, r"(?m)^broker state: restored \(mosquitto.db\)$")
        for f in ("hub.db", "token.key", "mosquitto.db"):
            st = os.stat(os.path.join(b.data, f))
            self.assertEqual(st.st_mode & 0o777, 0o600, f)
            acct = harness.run_as_account()
            if acct:
                self.assertEqual((st.st_uid, st.st_gid), acct, f)
        self.start_all(b)
        # logins, also of the last user added under load
        cookie_b, token_b, body = b.login("alice", "alice-pass-1")
        self.assertEqual(body["user"]["username"], "alice")
        b.login(last_user, "pw-%s-x" % last_user)
        # the backup's sessions are over here
        self.assertEqual(b.http("GET", "/api/session", cookie=cookie_a).status, 401)
        old = MqttClient(b.ports["mqtt"], "alice", token_a, client_id="old-token")
        self.assertNotEqual(old.connect(), 0, "a token of an ended session connected")
        old.close()
        # MQTT with a fresh token; the broker's retained message came back
        m = MqttClient(b.ports["mqtt"], "bob", b.login("bob", "bob-pass-12")[1], client_id="b1")
        self.assertEqual(m.connect(), 0)
        m.sub("rooms/lobby/ev/pinned/+")
        msg = m.wait_msg("rooms/lobby/ev/pinned/alice", timeout=5)
        self.assertIsNotNone(msg, "the retained message was not restored")
        self.assertEqual(msg[1], b"before-backup")
        m.close()
        dev = MqttClient(b.ports["mqtt"], "truck1", truck, client_id="truck1")
        self.assertEqual(dev.connect(), 0)
        dev.close()
        # history
        r = b.http("GET", "/api/rooms/lobby/messages?limit=5", cookie=cookie_b)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["messages"], r.json())
        # Socket.IO
        if BRIDGE and NODE:
            c = harness.sio_connected(b.sio_url(), {"auth": {"token": token_b}}, "alice-b")
            c.close()

        # --keep-sessions: the cookie and the token of before live on (the
        # key came with the backup)
        c_ = self.stack()
        r = self.ctl(c_, "restore", final, "--keep-sessions")
        self.assertEqual((r.returncode, r.stderr), (0, ""), r)
        self.assertRegex(r.stdout, r"(?m)^sessions: kept \(--keep-sessions\)$")
        c_.start_broker()
        c_.start_hubd()
        self.assertEqual(c_.http("GET", "/api/session", cookie=cookie_a).status, 200)
        old = MqttClient(c_.ports["mqtt"], "alice", token_a, client_id="kept-token")
        self.assertEqual(old.connect(), 0)
        old.close()

    def test_2_restore_refused_while_running(self):
        s = self.stack()
        s.add_user("alice", "alice-pass-1", rooms={"lobby": "write"})
        self.start_all(s)
        backup = os.path.join(s.dir, "b.db")
        self.assertEqual(self.ctl(s, "backup", backup).returncode, 0)
        s.add_user("later", "later-pass-1")
        users = rows(s.db_path(), "SELECT count(*) FROM principals")[0][0]
        running = (["bridge"] if BRIDGE else []) + ["broker", "hubd"]
        for name in running + [None]:
            r = self.ctl(s, "restore", backup, "--yes")
            if name is None:
                self.assertEqual((r.returncode, r.stderr), (0, ""), r)
                break
            self.assertEqual(r.returncode, 1, r)
            self.assertEqual(r.stdout, "")
            want = {"bridge": "the gateway (pid %d) is running" % s.procs["bridge"].pid
                    if "bridge" in s.procs else "",
                    "broker": "the broker (pid %d) is running" % s.procs["broker"].pid
                    if "broker" in s.procs else "",
                    "hubd": "is open in another process (hubd, the broker, the gateway or "
                            "a hubctl): stop the stack first"}[name]
            if name == "bridge" and "broker" in s.procs:
                # either follower may be named first
                self.assertRegex(r.stderr, r"^hubctl: the (gateway|broker) \(pid \d+\) is "
                                           r"running \(it answers on .*/sync\): stop the "
                                           r"stack first\n$")
            else:
                self.assertIn(want, r.stderr)
            self.assertEqual(rows(s.db_path(), "SELECT count(*) FROM principals")[0][0], users)
            if "hubd" in s.procs:
                s.login("alice", "alice-pass-1")  # the refusal disturbed nothing
            s.stop(name)
        self.assertEqual(rows(s.db_path(), "SELECT count(*) FROM principals WHERE name = "
                                           "'later'")[0][0], 0)
        self.start_all(s)
        s.login("alice", "alice-pass-1")

    def test_3_questions_and_refusals(self):
        s = self.stack()
        s.add_user("alice", "alice-pass-1")
        b = os.path.join(s.dir, "b.db")
        r = self.ctl(s, "backup", b)
        self.assertEqual(r.returncode, 0, r)
        # an existing file is kept unless --force
        r = self.ctl(s, "backup", b)
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        self.assertEqual(r.stderr, "hubctl: %s already exists (--force replaces it)\n" % b)
        self.assertEqual(self.ctl(s, "backup", b, "--force").returncode, 0)
        # bad usage
        for args, msg in ((["backup"], "usage: backup FILE [--force]"),
                          (["backup", "a", "b"], "usage: backup FILE [--force]"),
                          (["backup", b, "--frob"], "backup: unknown option"),
                          (["restore"], "usage: restore FILE [--yes] [--keep-sessions]")):
            r = self.ctl(s, *args)
            self.assertEqual((r.returncode, r.stdout), (2, ""), args)
            self.assertTrue(r.stderr.startswith("hubctl: ") and msg in r.stderr, r.stderr)
        # not a backup; nothing there
        junk = os.path.join(s.dir, "hub.conf")
        r = self.ctl(s, "restore", junk, "--yes")
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not a hub backup", r.stderr)
        r = self.ctl(s, "restore", os.path.join(s.dir, "nope.db"), "--yes")
        self.assertEqual(r.returncode, 1)
        self.assertIn("No such file or directory", r.stderr)
        # over an existing store: --yes without a terminal
        s.add_user("later", "later-pass-1")
        r = self.ctl(s, "restore", b)
        self.assertEqual((r.returncode, r.stdout), (2, ""))
        self.assertEqual(r.stderr, "hubctl: restore replaces the store at %s (2 users, 0 "
                         "devices, 0 rooms): add --yes to replace it (hubctl restore --help)\n"
                         % s.db_path())
        self.assertIn("later", s.hubctl("user", "list").stdout)
        # on a terminal: asked; no is no
        question = ("Replace the store at %s (2 users, 0 devices, 0 rooms) with the backup "
                    "(1 users, 0 devices, 0 rooms)? [y/N] " % s.db_path())
        code, out, err = self.tty(s, ["restore", b], question, "n")
        self.assertEqual((code, out, err), (1, "", question + "hubctl: nothing restored\n"))
        self.assertIn("later", s.hubctl("user", "list").stdout)
        code, out, err = self.tty(s, ["restore", b], question, "y")
        self.assertEqual(code, 0, err)
        self.assertIn("restored %s" % b, out)
        self.assertNotIn("later", s.hubctl("user", "list").stdout)

    def tty(self, s, args, prompt, answer):
        master, slave = os.openpty()
        p = subprocess.Popen([HUBCTL] + args, env=s.env, stdin=slave, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        os.close(slave)
        err = b""
        try:
            deadline = time.time() + 20
            while prompt.encode() not in err:
                r, _, _ = select.select([p.stderr], [], [], max(0, deadline - time.time()))
                self.assertTrue(r, "no question; stderr %r" % err)
                chunk = os.read(p.stderr.fileno(), 4096)
                self.assertTrue(chunk, "hubctl exited before asking: %r" % err)
                err += chunk
            os.write(master, answer.encode() + b"\n")
            out, rest = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
        return p.returncode, out.decode(), (err + rest).decode()


def _db_path(self):
    return os.path.join(self.data, "hub.db")


Stack.db_path = _db_path

if __name__ == "__main__":
    unittest.main(verbosity=2)
