#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""scripts/stack and `make run` as an operator uses them, on free ports
with a private data directory (HUB_DATA_DIR, HUB_*_PORT, HUB_STACK_DIR,
HUB_LOG_DIR):

- Ctrl-C the way a terminal sends it: `scripts/stack run` (and `make run`)
  in a session of its own on a pseudo-terminal, SIGINT to the whole process
  group: exit status 0 (make: no error line), no "unexpectedly", every
  process of the session gone, no port left listening. A service that
  really dies (kill -9) is still reported, with status 1.
- As root, the stack's pid files, generated broker config and logs live
  where the services' account cannot write: pid files planted by that
  account in the data directory make root kill nothing, a symbolic link
  there makes root write nothing, and a stack directory inside the data
  directory is refused.
- Logs rotate by size (HUB_STACK_LOG_MAX, HUB_STACK_LOG_KEEP): a flood
  of broker log lines leaves the files within their bound with the newest
  lines present; hub-logpipe loses no line while rotating; a log file that
  takes nothing (a stalled disk) never stalls the broker: lines are
  dropped, counted, and the count is written once the disk takes data
  again.
- The example apps' backends (examples/README.md) start with the stack:
  own service keys (0600, made once), setup.sh run, calls answered, run as
  the services' account as root, stopped first; HUB_EXAMPLES=0: none.
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import REPO, BIN, BUILD, timeout, wait_until  # noqa: E402

STACK = os.path.join(REPO, "scripts", "stack")
LOGPIPE = os.path.join(BIN, "hub-logpipe")
IS_ROOT = os.geteuid() == 0


def session_procs(sid):
    """Pids of the live processes of session sid."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st.rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3); session is field 6
        if int(fields[3]) == sid and fields[0] != "Z":
            out.append(int(d))
    return out


def flood_connects(port, token, first, n, pad=""):
    """n CONNECT/DISCONNECT of user flooder with client ids
    flooder-NNNNNN<pad>, one after the other (each writes a few broker log
    lines carrying its id); asserts each was accepted at once. Returns the
    slowest CONNECT-to-CONNACK time."""
    from mqttraw import RawClient
    worst = 0.0
    for i in range(first, first + n):
        c = RawClient(port, timeout=10)
        t = time.time()
        rc = c.connect("flooder", token, client_id="flooder-%06d%s" % (i, pad))
        worst = max(worst, time.time() - t)
        assert rc == 0, "connect %d: CONNACK %r" % (i, rc)
        c.disconnect()
    return worst


def user_known(port, user, token, timeout=15):
    """Wait until the broker accepts user's token (the plugin follows the
    store: a user just added may be refused for a moment; see issue 11
    item 9)."""
    from mqttraw import RawClient

    def ok():
        c = RawClient(port, timeout=5)
        try:
            return c.connect(user, token, client_id="%s-probe" % user) == 0
        finally:
            c.disconnect()
    assert wait_until(ok, timeout, 0.1), "the broker does not know %s" % user


def stack_key(data):
    """The KEY of /run/hub-stack/KEY for a data directory (scripts/stack)."""
    import hashlib
    data = os.path.realpath(data)
    base = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(data))[:32]
    return "%s-%s" % (base, hashlib.sha256(data.encode()).hexdigest()[:12])


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


class StackEnv:
    """A private stack for scripts/stack: the harness's hub.conf (fast
    hashes, demo data, run_as when root) and directories, started by the
    script rather than the harness."""

    def __init__(self, **extra_env):
        self.h = harness.Stack()
        self.dir = self.h.dir
        self.data = self.h.data
        self.state = os.path.join(self.dir, "state")
        self.logs = os.path.join(self.dir, "logs")
        self.env = dict(self.h.env)
        self.env.update({
            "HUB_BUILD_DIR": BUILD,
            "HUB_DATA_DIR": self.data,
            "HUB_HTTP_PORT": str(self.h.ports["http"]),
            "HUB_MQTT_PORT": str(self.h.ports["mqtt"]),
            "HUB_WS_PORT": str(self.h.ports["ws"]),
            "HUB_SIO_PORT": str(self.h.ports["sio"]),
            "HUB_STACK_DIR": self.state,
            "HUB_LOG_DIR": self.logs,
        })
        self.env.update(extra_env)
        self.ports = self.h.ports

    def script(self, *args, check=True, timeout=120):
        r = subprocess.run([STACK] + list(args), env=self.env, capture_output=True, text=True,
                           timeout=timeout, start_new_session=True, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("scripts/stack %s: %d\n%s\n%s" % (
                " ".join(args), r.returncode, r.stdout[-3000:], r.stderr[-3000:]))
        return r

    def log(self, name):
        # (DATA/log: where an older scripts/stack wrote its logs)
        for d in (self.logs, os.path.join(self.data, "log")):
            path = os.path.join(d, name + ".log")
            if not os.path.isfile(path):  # (test_08's FIFO: never open it)
                continue
            try:
                with open(path, "rb") as f:
                    return f.read().decode(errors="replace")
            except OSError:
                pass
        return ""

    def close(self):
        self.script("stop", check=False)
        self.h.close()


class Terminal:
    """A command on a pseudo-terminal, in a session of its own (a terminal
    window's shell job): output collected, SIGINT to its process group."""

    def __init__(self, argv, env, cwd=REPO):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        self.out = b""
        self.status = None

    def pump(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    b = os.read(self.fd, 65536)
                except OSError:
                    return False
                if not b:
                    return False
                self.out += b
        return True

    def wait_output(self, needle, seconds):
        end = time.time() + seconds
        while needle not in self.text():
            if time.time() > end or not self.pump(0.1):
                return needle in self.text()
        return True

    def text(self):
        return self.out.decode(errors="replace")

    def interrupt(self):
        os.killpg(self.pid, signal.SIGINT)

    def finish(self, seconds):
        """Wait for the command to end (reading its output); returns its
        wait status."""
        end = time.time() + seconds
        while time.time() < end:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = st
                self.pump(0.2)
                return st
            self.pump(0.1)
        raise AssertionError("still running after %ss:\n%s" % (seconds, self.text()[-3000:]))

    def close(self):
        if self.status is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
        os.close(self.fd)


class StackScript(unittest.TestCase):
    def setUp(self):
        self.envs = []
        self.terms = []

    def tearDown(self):
        for t in self.terms:
            t.close()
        reports = []
        for e in self.envs:
            e.script("stop", check=False)
            for name in ("broker", "hubd", "bridge", "trackers", "logpipe"):
                text = e.log(name)
                if "AddressSanitizer" in text or "runtime error:" in text:
                    reports.append("%s:\n%s" % (name, text[-3000:]))
            e.close()
        self.assertEqual(reports, [], "sanitizer reports in the services' logs")

    def stack_env(self, **kw):
        e = StackEnv(**kw)
        self.envs.append(e)
        return e

    def terminal(self, argv, env):
        t = Terminal(argv, env)
        self.terms.append(t)
        return t

    def assert_all_gone(self, t, e):
        left = wait_until(lambda: not session_procs(t.pid), 10)
        self.assertTrue(left, "processes left: %s" % [
            open("/proc/%d/cmdline" % p).read().replace("\0", " ") for p in session_procs(t.pid)])
        for name, port in e.ports.items():
            self.assertFalse(listening(port), "%s port %d still listening" % (name, port))

    def run_and_interrupt(self, argv, e):
        t = self.terminal(argv, e.env)
        self.assertTrue(t.wait_output("Ctrl-C stops everything", 90),
                        "no start banner:\n" + t.text()[-3000:])
        # every service up (the trackers connect last)
        self.assertTrue(wait_until(lambda: "connected" in e.log("trackers"), 20),
                        "trackers did not connect:\n" + e.log("trackers"))
        t.interrupt()
        st = t.finish(60)
        return t, st

    # ---- Ctrl-C ---------------------------------------------------------
    @timeout(150)
    def test_01_ctrl_c_stops_cleanly(self):
        e = self.stack_env()
        t, st = self.run_and_interrupt([STACK, "run"], e)
        self.assertEqual(os.waitstatus_to_exitcode(st), 0, t.text()[-3000:])
        self.assertNotIn("unexpectedly", t.text())
        self.assert_all_gone(t, e)
        # the broker saved its state on the way out: a clean stop
        self.assertIn("terminating", e.log("broker"))

    @timeout(150)
    def test_02_make_run_ctrl_c(self):
        """`make run` (its build step left out with -o build): make waits
        for the stack's clean stop and prints no error; like any command
        interrupted by Ctrl-C it then ends by the signal, silently."""
        e = self.stack_env()
        t, st = self.run_and_interrupt(
            ["make", "-s", "-C", REPO, "-o", "build", "BUILD=" + os.path.relpath(BUILD, REPO), "run"], e)
        code = os.waitstatus_to_exitcode(st)
        self.assertIn(code, (0, -signal.SIGINT), t.text()[-3000:])
        for bad in ("unexpectedly", "Error", "Interrupt", "***"):
            self.assertNotIn(bad, t.text())
        self.assert_all_gone(t, e)

    @timeout(150)
    def test_03_a_real_crash_is_still_reported(self):
        e = self.stack_env()
        t = self.terminal([STACK, "run"], e.env)
        self.assertTrue(t.wait_output("Ctrl-C stops everything", 90), t.text()[-3000:])
        with open(os.path.join(e.state, "broker.pid")) as f:
            broker = int(f.read().split()[0])
        os.kill(broker, signal.SIGKILL)
        st = t.finish(60)
        self.assertEqual(os.waitstatus_to_exitcode(st), 1, t.text()[-3000:])
        self.assertIn("broker stopped unexpectedly (exit status 137", t.text())
        self.assert_all_gone(t, e)

    # ---- root's files out of the services' reach ------------------------
    @timeout(120)
    def test_04_root_keeps_its_files_out_of_the_data_dir(self):
        if not IS_ROOT:
            self.skipTest("needs root (the stack then runs the services as mosquitto)")
        # the defaults: /run/hub-stack/KEY and /var/log/hub-stack/KEY
        e = self.stack_env()
        del e.env["HUB_STACK_DIR"], e.env["HUB_LOG_DIR"]
        victim = subprocess.Popen(["sleep", "300"])
        target = os.path.join(e.dir, "root-file")
        with open(target, "w") as f:
            f.write("root's\n")
        try:
            e.script("start")
            r = e.script("status")
            key = stack_key(e.data)
            state, logs = "/run/hub-stack/" + key, "/var/log/hub-stack/" + key
            self.assertIn("logs      %s" % logs, r.stdout)
            self.assertTrue(os.path.exists(os.path.join(state, "broker.pid")), state)
            for d in (state, logs):
                st = os.stat(d)
                self.assertEqual(st.st_uid, 0)
                self.assertFalse(st.st_mode & 0o022, oct(st.st_mode))
                for name in os.listdir(d):
                    fst = os.lstat(os.path.join(d, name))
                    self.assertEqual(fst.st_uid, 0, name)
                    self.assertFalse(fst.st_mode & 0o022, name)
            self.assertFalse(os.path.exists(os.path.join(e.data, "run")))
            self.assertFalse(os.path.exists(os.path.join(e.data, "log")))
            # the services' account plants what the old layout trusted:
            # pid files naming root's process, a log path onto root's file
            plant = ("mkdir -p {d}/run && echo {v} > {d}/run/broker.pid && "
                     "echo {v} > {d}/run/hubd.pid && ln -s {t} {d}/log").format(
                         d=e.data, v=victim.pid, t=target)
            subprocess.run(["runuser", "-u", "mosquitto", "--", "sh", "-c", plant], check=True)
            # ... and cannot touch root's own files
            for path in (os.path.join(state, "broker.pid"), os.path.join(logs, "broker.log")):
                r = subprocess.run(["runuser", "-u", "mosquitto", "--", "sh", "-c",
                                    "echo x >> " + path], capture_output=True)
                self.assertNotEqual(r.returncode, 0, path)
            r = e.script("stop")
            self.assertIn("stopped broker", r.stdout)
            self.assertIsNone(victim.poll(), "root killed the pid the service account planted")
            with open(target) as f:
                self.assertEqual(f.read(), "root's\n")
            self.assertIsNot(wait_until(lambda: not listening(e.ports["mqtt"]), 10), None)
        finally:
            victim.kill()
            victim.wait()
            e.script("stop", check=False)
            for d in ("/run/hub-stack/", "/var/log/hub-stack/"):
                shutil.rmtree(d + stack_key(e.data), ignore_errors=True)

    @timeout(60)
    def test_05_root_refuses_a_stack_dir_the_services_can_change(self):
        if not IS_ROOT:
            self.skipTest("needs root")
        e = self.stack_env(HUB_STACK_DIR="")
        e.env["HUB_STACK_DIR"] = os.path.join(e.data, "run")
        r = e.script("start", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is not root's alone", r.stderr)
        self.assertFalse(listening(e.ports["mqtt"]))
        self.assertFalse(listening(e.ports["http"]))

    # ---- logs -----------------------------------------------------------
    @timeout(180)
    def test_06_broker_log_flood_rotates_within_bounds(self):
        e = self.stack_env(HUB_STACK_LOG_MAX="64k", HUB_STACK_LOG_KEEP="2")
        e.script("start")
        e.h.hubctl("user", "add", "flooder", "--password-stdin", input="flood-pw\n")
        token = e.h.token("flooder")
        user_known(e.ports["mqtt"], "flooder", token)

        # about 450 bytes of broker log per connection: until two files
        # were rotated out, then as much again (older ones are deleted)
        n = 0
        while not os.path.exists(os.path.join(e.logs, "broker.log.2")):
            flood_connects(e.ports["mqtt"], token, n + 1, 100)
            n += 100
            self.assertLess(n, 20000, "the broker log did not rotate")
        flood_connects(e.ports["mqtt"], token, n + 1, n)
        n += n
        last = "flooder-%06d" % n
        # the newest lines arrive, and the files stay within 3 x 64 KiB
        self.assertTrue(wait_until(lambda: last in e.log("broker"), 10),
                        "the newest connection is not in broker.log")
        names = sorted(f for f in os.listdir(e.logs) if f.startswith("broker.log"))
        self.assertEqual(names, ["broker.log", "broker.log.1", "broker.log.2"])
        sizes = [os.path.getsize(os.path.join(e.logs, f)) for f in names]
        self.assertTrue(all(sz <= 64 * 1024 for sz in sizes), sizes)
        text = "".join(open(os.path.join(e.logs, f), errors="replace").read()
                       for f in reversed(names))
        self.assertNotIn("[hub-logpipe]", text, "lines were dropped")
        # the newest connections are all there, in order
        seen = sorted({int(x) for x in re.findall(r"flooder-(\d{6})", text)})
        self.assertEqual(seen[-1], n)
        self.assertEqual(seen, list(range(seen[0], n + 1)), "a gap in the kept lines")
        self.assertGreater(n - seen[0], 100)
        self.assertEqual(e.script("status", check=False).returncode, 0)

    @timeout(120)
    def test_07_logpipe_rotation_loses_nothing(self):
        d = os.path.join(harness.tempfile.mkdtemp(prefix="hubtest-"))
        try:
            path = os.path.join(d, "svc.log")
            p = subprocess.Popen([LOGPIPE, "--max-bytes", "100k", "--keep", "3", "--buffer",
                                  "64M", path], stdin=subprocess.PIPE, stderr=subprocess.PIPE)
            total = 300000
            chunk = []
            for i in range(total):
                chunk.append(b"line %07d of the flood\n" % i)
                if len(chunk) == 1000:
                    p.stdin.write(b"".join(chunk))
                    chunk = []
            p.stdin.close()
            self.assertEqual(p.wait(60), 0)
            self.assertEqual(p.stderr.read(), b"")
            names = ["svc.log.3", "svc.log.2", "svc.log.1", "svc.log"]
            self.assertEqual(sorted(os.listdir(d)), sorted(names))
            text = b""
            for n in names:
                size = os.path.getsize(os.path.join(d, n))
                self.assertLessEqual(size, 100 * 1024)
                with open(os.path.join(d, n), "rb") as f:
                    text += f.read()
            nums = [int(x) for x in re.findall(rb"line (\d+) of", text)]
            self.assertEqual(nums[-1], total - 1)
            self.assertEqual(nums, list(range(nums[0], total)))
            self.assertGreater(len(text), 3 * 100 * 1024)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    @timeout(180)
    def test_08_a_stalled_log_never_stalls_the_broker(self):
        """The broker's log file is a FIFO nobody reads (a disk that takes
        nothing): the broker keeps serving through a flood of log lines
        many times the pipe's and the buffer's size; the lines that did not
        fit are dropped and counted in the file once it takes data again."""
        e = self.stack_env()
        os.makedirs(e.logs)
        fifo = os.path.join(e.logs, "broker.log")
        os.mkfifo(fifo, 0o640)
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        try:
            e.script("start")
            e.h.hubctl("user", "add", "flooder", "--password-stdin", input="flood-pw\n")
            token = e.h.token("flooder")
            user_known(e.ports["mqtt"], "flooder", token)
            # ~8 MB of log lines (long client ids) into a FIFO that holds
            # 64 KiB-1 MiB behind a 4 MiB buffer, while the disk takes
            # nothing: the broker must answer every CONNECT at once
            n = 12000
            t0 = time.time()
            worst = flood_connects(e.ports["mqtt"], token, 1, n, pad="-" + "x" * 150)
            print("  %d connects in %.1fs with the log stalled; slowest CONNACK %.3fs"
                  % (n, time.time() - t0, worst), file=sys.stderr)
            # the disk takes data again: the notice says what was dropped,
            # then the lines of later connections follow
            data = b""
            k = n
            deadline = time.time() + 60
            while not re.search(rb"\[hub-logpipe\] \d+ lines.*\n(.*\n)*.*flooder-%06d" % k,
                                data):
                r, _, _ = select.select([rfd], [], [], 0.2)
                if r:
                    try:
                        data += os.read(rfd, 1 << 20)
                    except BlockingIOError:
                        pass
                else:
                    # a drop ends at a line once half the buffer is free
                    k += 1
                    flood_connects(e.ports["mqtt"], token, k, 1)
                self.assertLess(time.time(), deadline,
                                "no drop notice and newer lines: %r" % data[-600:])
            m = re.search(rb"\[hub-logpipe\] (\d+) lines \((\d+) bytes\) dropped", data)
            self.assertGreater(int(m.group(1)), 1000)
        finally:
            os.close(rfd)

    @timeout(150)
    def test_10_unreadable_broker_persistence_is_set_aside(self):
        """What a full disk can leave (docs/reliability.md): a truncated
        mosquitto.db, which Mosquitto 2.0.11 refuses to load; the stack
        keeps it aside, says so, and the hub starts."""
        e = self.stack_env()
        e.script("start")
        e.script("stop")
        db = os.path.join(e.data, "mosquitto.db")
        with open(db, "rb") as f:
            head = f.read(40)
        self.assertTrue(head.startswith(b"\x00\xb5\x00mosquitto db"), head)
        # cut inside its last record
        size = os.path.getsize(db)
        self.assertGreater(size, 100)
        with open(db, "r+b") as f:
            f.truncate(size - 3)
        r = e.script("start")
        self.assertIn("could not read its persistence file", r.stdout)
        aside = [f for f in os.listdir(e.data) if f.startswith("mosquitto.db.unreadable-")]
        self.assertEqual(len(aside), 1, os.listdir(e.data))
        self.assertEqual(os.path.getsize(os.path.join(e.data, aside[0])), size - 3)
        self.assertEqual(e.script("status", check=False).returncode, 0)
        self.assertTrue(listening(e.ports["mqtt"]))

    @timeout(60)
    def test_09_logpipe_usage_errors(self):
        for args, want in ((["--max-bytes", "100"], "--max-bytes"),
                           (["--keep", "100"], "--keep"),
                           (["--buffer", "1x"], "--buffer"),
                           ([], "usage")):
            r = subprocess.run([LOGPIPE] + args + (["/dev/null"] if args else []),
                               capture_output=True, text=True, input="")
            self.assertEqual(r.returncode, 2, args)
            self.assertIn(want, r.stderr)
        d = harness.tempfile.mkdtemp(prefix="hubtest-")
        try:
            os.symlink("/etc/passwd", os.path.join(d, "x.log"))
            r = subprocess.run([LOGPIPE, os.path.join(d, "x.log")], capture_output=True,
                               text=True, input="owned\n")
            self.assertEqual(r.returncode, 1)
            self.assertIn("Too many levels of symbolic links", r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    # ---- the example apps (examples/README.md) ---------------------------
    @timeout(180)
    def test_11_example_backends_run_with_the_stack(self):
        """`scripts/stack start` starts every examples/*/backend with its own
        service key (made once, 0600, the services' account's as root),
        after its setup.sh (rooms hooked to it), and the demo players; the
        backends answer calls, are listed by status, stop first, and a
        second start keeps their keys; HUB_EXAMPLES=0 starts none."""
        names = sorted(n for n in os.listdir(os.path.join(REPO, "examples"))
                       if os.path.exists(os.path.join(REPO, "examples", n, "backend", "server.mjs")))
        if not names:
            self.skipTest("no example with a backend")
        e = self.stack_env()
        r = e.script("start")
        for n in names:
            self.assertIn("http://127.0.0.1:%d/examples/%s/" % (e.ports["http"], n), r.stdout)
            self.assertIn("ready", e.log("ex-" + n))
        self.assertRegex(r.stdout, r"players: +alice bob carol dave / \S+")
        st = e.script("status")
        for n in names:
            self.assertRegex(st.stdout, r"ex-%s +running" % n)
        keys = {}
        for n in names + ["../demo-players"]:
            path = os.path.join(e.data, "examples", n + ".key") if n[0] != "." else \
                os.path.join(e.data, "demo-players.txt")
            fst = os.stat(path)
            self.assertEqual(stat.S_IMODE(fst.st_mode), 0o600, path)
            if IS_ROOT:
                import pwd
                self.assertEqual(fst.st_uid, pwd.getpwnam("mosquitto").pw_uid, path)
            with open(path) as f:
                keys[n] = f.read()
        if IS_ROOT:
            import pwd
            uid = pwd.getpwnam("mosquitto").pw_uid
            for n in names:
                with open(os.path.join(e.state, "ex-%s.pid" % n)) as f:
                    pid = int(f.read().split()[0])
                self.assertEqual(os.stat("/proc/%d" % pid).st_uid, uid, "ex-%s runs as root" % n)
        hubctl = [os.path.join(BIN, "hubctl")]
        rooms = subprocess.run(hubctl + ["room", "list"], env=e.env, capture_output=True,
                               text=True, check=True).stdout
        for n in names:
            self.assertIn("hook=%s" % n, rooms)
        # a player calls the lobby's backend (MQTT 5 request/response)
        if "lobby" in names:
            token = subprocess.run(hubctl + ["token", "alice"], env=e.env, capture_output=True,
                                   text=True, check=True).stdout.strip()
            c = harness.MqttClient(e.ports["mqtt"], "alice", token)
            try:
                self.assertEqual(c.connect(), 0)
                c.sub("users/alice/reply/#")
                from paho.mqtt.properties import Properties
                from paho.mqtt.packettypes import PacketTypes
                props = Properties(PacketTypes.PUBLISH)
                props.ResponseTopic = "users/alice/reply/t11"
                props.CorrelationData = b"t11"
                c.c.publish("svc/lobby/tables/alice", b"{}", qos=1, properties=props)
                m = c.wait_msg("users/alice/reply/t11", timeout=10)
                self.assertIsNotNone(m, "no answer from the lobby backend")
                answer = json.loads(m[1])
                self.assertTrue(answer["ok"], answer)
                self.assertEqual(len(answer["tables"]), 4)
            finally:
                c.disconnect()
        r = e.script("stop")
        self.assertLess(r.stdout.index("stopped ex-"), r.stdout.index("stopped broker"))
        for n in names:
            self.assertIn("SIGTERM: stopping", e.log("ex-" + n))
        # again: the same keys, nothing made twice
        e.script("start")
        for n in names:
            with open(os.path.join(e.data, "examples", n + ".key")) as f:
                self.assertEqual(f.read(), keys[n])
        e.script("stop")
        e.env["HUB_EXAMPLES"] = "0"
        r = e.script("start")
        self.assertNotIn("/examples/", r.stdout)
        self.assertNotIn("ex-", e.script("status").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
