#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The systemd units (conf/systemd/) and scripts/install (docs/deploy.md).

scripts/install puts the built hub into a private root (programs, plugin,
dashboard, /etc/hub-like config, data directory, units) with free ports.
test_1 checks what it wrote and that `systemd-analyze verify` accepts the
units; test_2 prints `systemd-analyze security --offline` for them.

test_3 boots them without systemd, only where systemd is not PID 1 (this
sandbox; with a running systemd use systemctl, docs/deploy.md): each unit's
ExecStart is run as the unit would run it (its User= and Group=, UMask=,
LimitNOFILE=, NoNewPrivileges=, systemd's environment for a system service,
working directory /, stdout and stderr to a "journal" file named by
JOURNAL_STREAM, NOTIFY_SOCKET for Type=notify), in the reverse of the order
a dependency would impose: the gateway, then hubd, then the broker. Then
the hub is used the way an operator would: the installed hubctl makes the
first admin, a login, MQTT, Socket.IO; the broker restarts under its
clients; SIGTERM (systemctl stop) ends each with status 0. The sandbox
options (ProtectSystem=, PrivateTmp=, the system call filter, ...) need
systemd itself and are not exercised here.

    HUB_BUILD_DIR=build /usr/bin/python3 tests/integration/test_systemd_units.py
"""
import ctypes
import grp
import os
import pwd
import resource
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import MqttClient, wait_until  # noqa: E402

INSTALL = os.path.join(harness.REPO, "scripts", "install")
UNITS = ("hub-broker.service", "hubd.service", "hub-bridge.service")
SYSTEMD_RUNNING = os.path.isdir("/run/systemd/system")
ANALYZE = shutil.which("systemd-analyze")
ACCOUNT = "mosquitto"  # an account that exists where the broker is installed
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
             "PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=",
             "RestrictAddressFamilies=", "SystemCallFilter=@system-service",
             "MemoryDenyWriteExecute=yes", "Restart=on-failure")


def parse_unit(path):
    """{section: {key: [values]}} of a unit file (no line continuations:
    ours have none)."""
    out, sec = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                sec = out.setdefault(line.strip("[]"), {})
                continue
            k, v = line.split("=", 1)
            sec.setdefault(k.strip(), []).append(v.strip())
    return out


def one(unit, section, key, default=None):
    v = unit.get(section, {}).get(key)
    return v[-1] if v else default


class Installed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("scripts/install needs root")
        try:
            pwd.getpwnam(ACCOUNT)
        except KeyError:
            raise unittest.SkipTest("no %s account (install mosquitto)" % ACCOUNT)
        cls.root = tempfile.mkdtemp(prefix="hubinst-")
        os.chmod(cls.root, 0o755)
        r = cls.root
        cls.prefix, cls.etc = r + "/usr", r + "/etc/hub"
        cls.state, cls.unitdir = r + "/var/lib/hub", r + "/units"
        cls.ports = {k: harness.free_port() for k in ("http", "mqtt", "ws", "sio")}
        env = dict(os.environ, HUB_HTTP_PORT=str(cls.ports["http"]),
                   HUB_MQTT_PORT=str(cls.ports["mqtt"]), HUB_WS_PORT=str(cls.ports["ws"]),
                   HUB_SIO_PORT=str(cls.ports["sio"]))
        cls.install = subprocess.run(
            [INSTALL, "--prefix", cls.prefix, "--sysconfdir", cls.etc, "--statedir", cls.state,
             "--unitdir", cls.unitdir, "--user", ACCOUNT, "--build", harness.BUILD],
            env=env, capture_output=True, text=True, timeout=300)
        cls.procs = {}

    @classmethod
    def tearDownClass(cls):
        for p in cls.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("HUB_KEEP"):
            print("kept", cls.root)
        else:
            shutil.rmtree(cls.root, ignore_errors=True)

    def hubctl(self, *args, input=None):
        return subprocess.run([self.prefix + "/bin/hubctl", "--config", self.etc + "/hub.conf"]
                              + list(args), capture_output=True, text=True, input=input,
                              timeout=120, cwd="/",
                              env={"PATH": "/usr/bin:/bin"})

    # ---------------------------------------------------------------- files
    def test_1_installed_files_and_units(self):
        r = self.install
        self.assertEqual(r.returncode, 0, r.stderr + r.stdout)
        self.assertIn("install: first admin:", r.stdout)
        acct = pwd.getpwnam(ACCOUNT)
        for p, mode in (("/usr/bin/hubd", 0o755), ("/usr/bin/hub-bridge", 0o755),
                        ("/usr/bin/hubctl", 0o755), ("/usr/lib/hub/hub_auth.so", 0o644),
                        ("/usr/share/hub/web/index.html", 0o644),
                        ("/etc/hub/hub.conf", 0o640), ("/etc/hub/mosquitto.conf", 0o640)):
            st = os.stat(self.root + p)
            self.assertEqual(st.st_mode & 0o777, mode, p)
        st = os.stat(self.state)
        self.assertEqual((st.st_mode & 0o777, st.st_uid), (0o750, acct.pw_uid))
        with open(self.etc + "/hub.conf") as f:
            conf = f.read()
        for line in ("data_dir = %s" % self.state, "run_as = %s" % ACCOUNT,
                     "demo_data = false", "http_port = %d" % self.ports["http"],
                     "web_dir = %s/share/hub/web" % self.prefix):
            self.assertIn(line + "\n", conf)
        with open(self.etc + "/mosquitto.conf") as f:
            mconf = f.read()
        # the broker's only listener (MQTT over WebSocket is hubd's front)
        self.assertEqual(mconf.count("\nlistener "), 1, mconf)
        for line in ("listener %d 127.0.0.1" % self.ports["mqtt"],
                     "plugin %s/lib/hub/hub_auth.so" % self.prefix,
                     "plugin_opt_config %s/hub.conf" % self.etc,
                     "persistence_location %s/" % self.state, "log_dest stderr",
                     "log_timestamp false", "user %s" % ACCOUNT, "per_listener_settings false",
                     "allow_anonymous false"):
            self.assertIn("\n" + line + "\n", mconf)
        # the units: this install's paths and account, the hardening, no
        # ordering between the three (any start order works)
        for name in UNITS:
            u = parse_unit(os.path.join(self.unitdir, name))
            with open(os.path.join(self.unitdir, name)) as f:
                text = f.read()
            self.assertEqual(one(u, "Service", "User"), ACCOUNT, name)
            self.assertEqual(one(u, "Service", "Group"), ACCOUNT, name)
            self.assertEqual(one(u, "Service", "ReadWritePaths"), self.state, name)
            self.assertEqual(one(u, "Unit", "PartOf"), "hub.target", name)
            self.assertEqual(one(u, "Install", "WantedBy"), "hub.target", name)
            argv = shlex.split(one(u, "Service", "ExecStart"))
            self.assertTrue(os.access(argv[0], os.X_OK), argv)
            self.assertTrue(argv[-1].startswith(self.etc + "/"), argv)
            for h in HARDENING:
                self.assertIn("\n" + h, text, "%s lacks %s" % (name, h))
            for key in ("After", "Requires", "Wants", "BindsTo", "Requisite"):
                for v in u["Unit"].get(key, []):
                    for other in UNITS:
                        self.assertNotIn(other, v, "%s orders itself after %s" % (name, other))
            self.assertNotIn("/usr/local", text)
            self.assertNotIn("/etc/hub/", text.replace(self.etc, ""))
        target = parse_unit(os.path.join(self.unitdir, "hub.target"))
        self.assertEqual(set(one(target, "Unit", "Wants").split()), set(UNITS))
        if ANALYZE:
            r = subprocess.run([ANALYZE, "verify"] + [os.path.join(self.unitdir, u) for u in
                                                      UNITS + ("hub.target",)],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))
        # a second install keeps a changed config and says so
        with open(self.etc + "/hub.conf", "a") as f:
            f.write("log_level = debug\n")
        r = subprocess.run([INSTALL, "--prefix", self.prefix, "--sysconfdir", self.etc,
                            "--statedir", self.state, "--unitdir", self.unitdir, "--user",
                            ACCOUNT, "--build", harness.BUILD], capture_output=True, text=True,
                           timeout=300, env=dict(os.environ, HUB_HTTP_PORT=str(
                               self.ports["http"]), HUB_MQTT_PORT=str(self.ports["mqtt"]),
                               HUB_WS_PORT=str(self.ports["ws"]),
                               HUB_SIO_PORT=str(self.ports["sio"])))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("kept %s/hub.conf; the new one is %s/hub.conf.new" % (self.etc, self.etc),
                      r.stdout)
        with open(self.etc + "/hub.conf") as f:
            self.assertIn("log_level = debug\n", f.read())
        os.rename(self.etc + "/hub.conf.new", self.etc + "/hub.conf")
        # bad usage
        for args in (["--prefix"], ["--prefix", "relative/dir"], ["--frob"],
                     ["--user", "Bad User"]):
            r = subprocess.run([INSTALL] + args, capture_output=True, text=True, timeout=60)
            self.assertIn(r.returncode, (1, 2), args)
            self.assertTrue(r.stderr.startswith("install: ") or r.stderr.startswith("Install"),
                            r.stderr)

    @unittest.skipUnless(ANALYZE, "no systemd-analyze")
    def test_2_exposure(self):
        for name in UNITS:
            r = subprocess.run([ANALYZE, "security", "--offline=yes", name],
                               cwd=self.unitdir, capture_output=True, text=True, timeout=120)
            last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr
            print("  %s" % last, file=sys.stderr)
            if "exposure level" in last:
                level = float(last.split(":")[1].split()[0])
                self.assertLess(level, 3.0, last)

    # ----------------------------------------------------------------- boot
    def start_unit(self, name, notify=None):
        """Run a unit's ExecStart as systemd would (see the module doc)."""
        u = parse_unit(os.path.join(self.unitdir, name))
        svc = u["Service"]
        argv = shlex.split(one(u, "Service", "ExecStart"))
        pw = pwd.getpwnam(one(u, "Service", "User"))
        gid = grp.getgrnam(one(u, "Service", "Group")).gr_gid
        umask = int(one(u, "Service", "UMask", "0022"), 8)
        # (capped to this machine's hard limit, which a container may hold
        # below the unit's and root cannot raise here)
        nofile = min(int(one(u, "Service", "LimitNOFILE", "1024")),
                     resource.getrlimit(resource.RLIMIT_NOFILE)[1])
        nnp = one(u, "Service", "NoNewPrivileges") == "yes"
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "USER": pw.pw_name, "LOGNAME": pw.pw_name,
               "HOME": pw.pw_dir, "SHELL": pw.pw_shell, "INVOCATION_ID": os.urandom(16).hex()}
        for e in svc.get("Environment", []):
            for kv in shlex.split(e):
                k, v = kv.split("=", 1)
                env[k] = v
        log = open(os.path.join(self.root, name + ".journal"), "ab")
        st = os.fstat(log.fileno())
        env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
        if one(u, "Service", "Type") == "notify":
            self.assertIsNotNone(notify, name)
            env["NOTIFY_SOCKET"] = notify
        if name == "hub-broker.service":
            # a sanitizer build's plugin in the stock (uninstrumented)
            # broker needs the ASan runtime loaded first, as in the harness
            env.update(harness.sanitizer_preload())
        libc = ctypes.CDLL(None, use_errno=True)

        def as_the_unit():
            os.setsid()
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            os.setgroups([gid])
            os.setgid(gid)
            os.setuid(pw.pw_uid)
            os.umask(umask)
            if nnp and libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
                raise OSError(ctypes.get_errno(), "prctl")

        p = subprocess.Popen(argv, env=env, cwd="/", stdin=subprocess.DEVNULL, stdout=log,
                             stderr=log, preexec_fn=as_the_unit, close_fds=True)
        log.close()
        self.procs[name] = p
        return p

    def journal(self, name):
        with open(os.path.join(self.root, name + ".journal"), "rb") as f:
            return f.read().decode(errors="replace")

    def port_open(self, port):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            return False

    def wait_port(self, name, port, timeout=20):
        ok = wait_until(lambda: self.port_open(port) or self.procs[name].poll() is not None,
                        timeout)
        self.assertTrue(ok and self.procs[name].poll() is None,
                        "%s not listening on %d:\n%s" % (name, port, self.journal(name)[-3000:]))

    def stop_unit(self, name, timeout=30):
        """systemctl stop: SIGTERM, then the unit's exit status."""
        p = self.procs.pop(name)
        p.send_signal(signal.SIGTERM)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.fail("%s did not stop on SIGTERM within %d s" % (name, timeout))

    @unittest.skipIf(SYSTEMD_RUNNING, "systemd runs here: boot the units with systemctl "
                     "(docs/deploy.md), not by hand")
    def test_3_boot_without_systemd(self):
        self.assertEqual(self.install.returncode, 0, self.install.stderr)
        acct = pwd.getpwnam(ACCOUNT)
        # the gateway and hubd first, with no broker anywhere: they start,
        # serve and wait for it (no unit orders itself after the broker)
        self.start_unit("hub-bridge.service")
        self.wait_port("hub-bridge.service", self.ports["sio"])
        self.start_unit("hubd.service")
        self.wait_port("hubd.service", self.ports["http"])
        # the broker last; Type=notify: it tells "READY=1" on NOTIFY_SOCKET
        nsock = os.path.join(self.root, "notify.sock")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(nsock)
        os.chmod(nsock, 0o777)
        ns.settimeout(30)
        try:
            self.start_unit("hub-broker.service", notify=nsock)
            got = b""
            while b"READY=1" not in got:
                got += ns.recv(4096) + b"\n"
        finally:
            ns.close()
        self.wait_port("hub-broker.service", self.ports["mqtt"])
        for name in UNITS:
            self.assertIsNone(self.procs[name].poll(), name)

        # the files they made belong to the account, private (UMask=0077)
        for f in ("hub.db", "token.key"):
            st = os.stat(os.path.join(self.state, f))
            self.assertEqual((st.st_uid, st.st_mode & 0o777), (acct.pw_uid, 0o600), f)
        # journald lines: priorities, no time stamps of their own
        self.assertTrue(wait_until(lambda: "<6>level=info comp=hubd " in self.journal(
            "hubd.service"), 10), self.journal("hubd.service"))
        self.assertIn("<6>level=info comp=hub-bridge ", self.journal("hub-bridge.service"))
        self.assertNotIn("ts=", self.journal("hubd.service"))
        broker_log = self.journal("hub-broker.service")
        self.assertIn("\nmosquitto version", "\n" + broker_log)
        self.assertNotRegex(broker_log, r"(?m)^\d{9,}: ", "time stamps in the broker's log")

        # the operator's first admin, with the installed hubctl (as root: it
        # switches to the account); then the hub in use
        r = self.hubctl("user", "add", "admin", "--role", "admin", "--password-stdin",
                        input="admin-pass-1\n")
        self.assertEqual((r.returncode, r.stderr), (0, ""), r)
        for args in (("room", "add", "lobby"), ("grant", "lobby", "admin", "write")):
            r = self.hubctl(*args)
            self.assertEqual((r.returncode, r.stderr), (0, ""), r)
        st = harness.Stack.__new__(harness.Stack)
        st.ports = self.ports
        cookie, token, body = st.login("admin", "admin-pass-1")
        self.assertEqual(body["user"]["role"], "admin")
        a = MqttClient(self.ports["mqtt"], "admin", token, client_id="a1")
        self.assertEqual(a.connect(), 0)
        a.sub("rooms/lobby/#")
        a.pub("rooms/lobby/ev/chat message/admin", b'{"text":"hi"}', qos=1)
        self.assertIsNotNone(a.wait_msg("rooms/lobby/ev/chat message/admin", timeout=5))
        if shutil.which("node") and os.path.isdir(os.path.join(harness.REPO, "node_modules",
                                                               "socket.io-client")):
            c = harness.sio_connected("http://127.0.0.1:%d" % self.ports["sio"],
                                      {"auth": {"token": token}}, "admin-sio")
            c.close()

        # the broker restarts under its clients (systemctl restart
        # hub-broker): hubd and the gateway stay up and relink by themselves
        self.assertEqual(self.stop_unit("hub-broker.service"), 0)
        a.close()
        self.assertIsNone(self.procs["hubd.service"].poll())
        self.assertIsNone(self.procs["hub-bridge.service"].poll())
        st.login("admin", "admin-pass-1")  # logins go on without the broker
        nsock2 = nsock + "2"
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(nsock2)
        os.chmod(nsock2, 0o777)
        ns.settimeout(30)
        try:
            self.start_unit("hub-broker.service", notify=nsock2)
            self.assertIn(b"READY=1", ns.recv(4096))
        finally:
            ns.close()
        self.wait_port("hub-broker.service", self.ports["mqtt"])
        # hubd's publish API reaches the broker again once relinked
        watcher = MqttClient(self.ports["mqtt"], "admin", st.login("admin", "admin-pass-1")[1],
                             client_id="w1")
        self.assertEqual(watcher.connect(), 0)
        watcher.sub("rooms/lobby/ev/#")

        def published():
            r = st.http("POST", "/api/publish", {"room": "lobby", "event": "note",
                                                 "data": {"x": 1}}, cookie=cookie,
                        headers={"Origin": "http://127.0.0.1:%d" % self.ports["http"]})
            return r.status in (200, 202) and watcher.wait_msg("rooms/lobby/ev/note/#", 0.5)
        self.assertTrue(wait_until(published, 20), "no publish through hubd after the restart")
        watcher.close()
        if shutil.which("node") and os.path.isdir(os.path.join(harness.REPO, "node_modules",
                                                               "socket.io-client")):
            c = harness.sio_connected("http://127.0.0.1:%d" % self.ports["sio"],
                                      {"auth": {"token": token}}, "admin-sio2")
            # the gateway relinks within its retry period (1 s); until then
            # events are refused as unavailable, never lost silently
            acks = []

            def accepted():
                err, args = c.call("chat message", {"room": "lobby", "text": "after restart"})
                acks.append(args[0] if args else err)
                return err is None and args[0].get("ok")
            self.assertTrue(wait_until(accepted, 20, interval=0.2), acks[-3:])
            for a_ in acks[:-1]:
                self.assertEqual(a_.get("error"), "unavailable", acks)
            c.close()
        # systemctl reload: each unit's ExecReload is a SIGHUP, which no
        # service takes as a stop (hubd and the gateway read their TLS
        # files again; here TLS is off: they say so and serve on)
        for name in UNITS:
            u = parse_unit(os.path.join(self.unitdir, name))
            self.assertEqual(one(u, "Service", "ExecReload"), "/bin/kill -HUP $MAINPID", name)
            self.procs[name].send_signal(signal.SIGHUP)
        for name in ("hubd.service", "hub-bridge.service"):
            self.assertTrue(wait_until(lambda n=name: "nothing to reload" in self.journal(n),
                                       10), self.journal(name)[-2000:])
        for name in UNITS:
            self.assertIsNone(self.procs[name].poll(), name)
        self.wait_port("hub-broker.service", self.ports["mqtt"])
        # an online backup of the installed hub, by the operator
        r = self.hubctl("backup", os.path.join(self.root, "backup.db"))
        self.assertEqual((r.returncode, r.stderr), (0, ""), r)

        # systemctl stop hub.target: SIGTERM to each; a clean stop is status
        # 0, which Restart=on-failure does not restart
        for name in ("hub-bridge.service", "hubd.service", "hub-broker.service"):
            self.assertEqual(self.stop_unit(name), 0, "%s:\n%s" % (name,
                                                                   self.journal(name)[-2000:]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
