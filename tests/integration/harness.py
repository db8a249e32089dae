# SPDX-License-Identifier: MIT
"""Integration test harness: real hub processes on free loopback ports.

A Stack owns a temporary data directory and a generated hub.conf, starts
the real programs from the build tree (hubd, mosquitto with hub_auth.so,
hub-bridge) and stops them. Tests use plain stdlib HTTP and the real MQTT
clients. Run with Debian's /usr/bin/python3 (python3-paho-mqtt).

Environment: HUB_BUILD_DIR (default: <repo>/build), HUB_KEEP=1 keeps the
temporary directory for inspection, HUB_MOSQUITTO the broker binary to run
(default: `mosquitto` on PATH; .ci/run sets it to Mosquitto 2.0.21 for its
second broker pass, see docs/broker.md "Versions"), HUB_MOSQUITTO_VERSION
the version it must be (e.g. 2.0.21: a stack refuses to start another).
"""
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.abspath(os.environ.get("HUB_BUILD_DIR", os.path.join(REPO, "build")))
BIN = os.path.join(BUILD, "bin")
# the broker every Stack starts (docs/broker.md "Versions")
MOSQUITTO = os.environ.get("HUB_MOSQUITTO") or "mosquitto"


_handed_out = set()


def _listen_range():
    """Ports to listen on: below the kernel's ephemeral range. A port in
    that range may become the local end of any outgoing connection on the
    machine (or its TIME_WAIT) between our check and the server's bind,
    which then fails (mosquitto's WebSocket listener: "Unable to create
    websockets listener"): on a machine busy with other test suites that
    happens many times a day."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            eph_lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        eph_lo = 32768
    lo = 10000
    return (lo, eph_lo - 1) if eph_lo - lo >= 2000 else None


def free_port():
    """A TCP port free on 127.0.0.1 right now (and, for the broker's
    WebSocket listener, which binds every interface, on the wildcard too,
    IPv4 and IPv6), outside the ephemeral range when it leaves room, and
    never one this process handed out before (the kernel may offer a port
    just closed again, and a stack whose MQTT and WebSocket ports are the
    same does not start)."""
    import random
    rng = _listen_range()
    while True:
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", random.randint(*rng) if rng else 0))
        except OSError:
            s.close()
            continue
        port = s.getsockname()[1]
        s.close()
        if port in _handed_out:
            continue
        try:
            s6 = socket.socket(socket.AF_INET6)
            s6.bind(("::", port))
            s6.close()
        except OSError:
            continue
        _handed_out.add(port)
        return port


def listening_of(pid):
    """The TCP sockets process pid listens on: {(4|6, hex address as in
    /proc/net/tcp, port)}, found by the socket inodes of its descriptors."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    out = set()
    for path, fam in (("/proc/%d/net/tcp" % pid, 4), ("/proc/%d/net/tcp6" % pid, 6)):
        try:
            lines = open(path).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:
                addr, port = f[1].split(":")
                out.add((fam, addr, int(port, 16)))
    return out


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("port %d not listening after %.1fs" % (port, timeout))


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value), names lower-cased
        self.body = body

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def all_headers(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Stack:
    """The hub on free ports with a private data directory."""

    def __init__(self, extra_conf=None, fast_hash=True, run_as=None):
        self.dir = tempfile.mkdtemp(prefix="hubtest-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.ports = {k: free_port() for k in ("http", "mqtt", "ws", "sio")}
        self.procs = {}
        self.logs = {}
        if run_as is None:
            run_as = "mosquitto" if os.geteuid() == 0 else ""
        self.run_as = run_as
        conf = {
            "data_dir": self.data,
            "http_port": self.ports["http"],
            "mqtt_port": self.ports["mqtt"],
            "ws_port": self.ports["ws"],
            "sio_port": self.ports["sio"],
            "run_as": run_as,
            "log_level": "debug",
            "web_dir": os.path.join(BUILD, "web"),
        }
        if fast_hash:
            # the real cost (scrypt N=2^15, r=8, p=3) is ~330 ms a hash on
            # the CI machine; tests that do not measure it use a cheap one
            conf.update(scrypt_log2n=10, scrypt_r=8, scrypt_p=1)
        conf.update(extra_conf or {})
        self.conf_path = os.path.join(self.dir, "hub.conf")
        self.write_conf(conf)
        self.env = dict(os.environ)
        self.env.pop("HUB_CONFIG", None)
        for k in list(self.env):
            if k.startswith("HUB_") and k not in ("HUB_BUILD_DIR", "HUB_KEEP"):
                del self.env[k]
        self.env["HUB_CONFIG"] = self.conf_path

    def write_conf(self, conf):
        self.conf = conf
        with open(self.conf_path, "w") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))

    # ---- processes -------------------------------------------------------
    def start(self, name, argv, port=None, timeout=10.0):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        env = self.env
        if argv and (argv[0] == MOSQUITTO or os.path.basename(argv[0]) == "mosquitto"):
            # an ASan build's plugin needs the runtime preloaded into the
            # (uninstrumented) broker: every broker a test starts
            env = dict(self.env, **sanitizer_preload())
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.dir)
        self.procs[name] = proc
        self.logs[name] = log.name
        if port:
            try:
                wait_port(port, timeout, proc)
            except Exception:
                raise RuntimeError("%s did not start:\n%s" % (name, self.log(name)))
        return proc

    def start_hubd(self):
        return self.start("hubd", [os.path.join(BIN, "hubd")], self.ports["http"])

    def broker_conf(self, extra="", debug=True):
        """Write the broker's config: conf/mosquitto.conf's settings on this
        stack's ports and paths (what scripts/stack does)."""
        path = os.path.join(self.dir, "mosquitto.conf")
        with open(os.path.join(REPO, "conf", "mosquitto.conf")) as f:
            text = f.read()
        text = (text.replace("listener 1883 ", "listener %d " % self.ports["mqtt"])
                .replace("plugin build/", "plugin %s/" % BUILD)
                .replace("plugin_opt_config conf/hub.conf", "plugin_opt_config " + self.conf_path)
                .replace("persistence_location data/", "persistence_location %s/" % self.data))
        text += ("\nlog_type debug\n" if debug else "\n") + extra
        with open(path, "w") as f:
            f.write(text)
        return path

    def prepare_data(self):
        """The data directory, owned by the account the broker switches to."""
        os.makedirs(self.data, exist_ok=True)
        acct = run_as_account()
        if acct:
            os.chown(self.data, *acct)

    def start_broker(self, extra="", debug=True):
        self.prepare_data()
        for attempt in range(3):
            conf = self.broker_conf(extra, debug)
            env_extra = sanitizer_preload()
            if env_extra:
                saved = dict(self.env)
                self.env.update(env_extra)
            try:
                proc = self.start("broker", broker_argv(conf), self.ports["mqtt"])
            finally:
                if env_extra:
                    self.env = saved
            # the MQTT port opens first; a WebSocket port taken meanwhile by
            # another process (free_port cannot reserve) stops the broker
            # right after: then start again on other ports
            deadline = time.time() + 10
            while (proc.poll() is None and time.time() < deadline
                   and " running" not in self.log("broker")):
                time.sleep(0.02)
            if proc.poll() is None or attempt == 2 or "Unable to create" not in self.log("broker"):
                return proc
            self.procs.pop("broker", None)
            self.ports["mqtt"], self.ports["ws"] = free_port(), free_port()
            self.conf.update(mqtt_port=self.ports["mqtt"], ws_port=self.ports["ws"])
            self.write_conf(self.conf)
        return proc

    def token(self, user, ttl=None, session_ttl=None):
        """hubctl token; with ttl alone the CLI session ends with the
        token (what the expiry tests need), else it lives session_ttl
        (default: the config's session_ttl)."""
        args = ["token", user] + (["--ttl", str(ttl)] if ttl else [])
        if session_ttl or ttl:
            args += ["--session-ttl", str(session_ttl or ttl)]
        return self.hubctl(*args).stdout.strip()

    def stop(self, name, sig=signal.SIGTERM, timeout=10.0):
        proc = self.procs.pop(name, None)
        if not proc:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def log(self, name):
        try:
            with open(self.logs[name], "rb") as f:
                return f.read().decode(errors="replace")
        except (KeyError, OSError):
            return ""

    def close(self):
        # a service that ended on its own is a finding: say so, with its log
        # (a test that killed it on purpose replaced or popped its entry)
        for name, proc in list(self.procs.items()):
            if proc.poll() is not None:
                import sys as _s
                tail = "\n".join(self.log(name).splitlines()[-40:])
                print("harness: %s exited on its own (status %s); its log ends:\n%s"
                      % (name, proc.returncode, tail), file=_s.stderr)
        for name in list(self.procs):
            self.stop(name)
        if os.environ.get("HUB_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- tools -----------------------------------------------------------
    def hubctl(self, *args, input=None, check=True):
        """Run build/bin/hubctl with this stack's config (--create-store
        while there is no store yet); returns CompletedProcess with text
        stdout/stderr."""
        args = [str(a) for a in args]
        if not os.path.exists(os.path.join(self.data, "hub.db")):
            # a test that provisions before any service ran: hubctl makes
            # the store only when asked to
            args = ["--create-store"] + args
        r = subprocess.run([os.path.join(BIN, "hubctl")] + args,
                           env=self.env, capture_output=True, text=True, input=input,
                           timeout=60)
        if check and r.returncode != 0:
            raise RuntimeError("hubctl %s failed (%d): %s" % (args, r.returncode, r.stderr))
        return r

    def add_user(self, name, password="secret-pw", role="user", rooms=None):
        """Create a user and grant rooms {room: level}; rooms are created."""
        self.hubctl("user", "add", name, "--role", role, "--password-stdin",
                    input=password + "\n")
        for room, level in (rooms or {}).items():
            self.hubctl("room", "add", room, check=False)
            self.hubctl("grant", room, name, level)

    def http(self, method, path, body=None, headers=None, cookie=None, form=False,
             raw=None, port=None, timeout=30):
        """One HTTP request; body is JSON-encoded (or form-encoded)."""
        conn = http.client.HTTPConnection("127.0.0.1", port or self.ports["http"],
                                          timeout=timeout)
        hdrs = dict(headers or {})
        data = raw
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
            else:
                data = json.dumps(body).encode()
                hdrs.setdefault("Content-Type", "application/json")
        if cookie:
            hdrs["Cookie"] = "hub_sid=" + cookie
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        resp = Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read())
        conn.close()
        return resp

    def login(self, user, password="secret-pw"):
        """Log in; returns (cookie value, token, response json)."""
        r = self.http("POST", "/api/login", {"username": user, "password": password})
        if r.status != 200:
            raise RuntimeError("login %s failed: %r" % (user, r))
        cookie = None
        for v in r.all_headers("set-cookie"):
            if v.startswith("hub_sid="):
                cookie = v.split(";", 1)[0].split("=", 1)[1]
        return cookie, r.json()["token"], r.json()


def sanitizer_preload():
    """When the build uses AddressSanitizer, the plugin needs the ASan
    runtime loaded first into the (uninstrumented) broker."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            cache = f.read()
    except OSError:
        return {}
    if "HUB_SANITIZE:BOOL=ON" not in cache:
        return {}
    libs = []
    for lib in ("libasan.so", "libubsan.so"):
        path = subprocess.run(["gcc", "-print-file-name=" + lib], capture_output=True,
                              text=True).stdout.strip()
        if os.path.isabs(path):
            libs.append(path)
    return {"LD_PRELOAD": " ".join(libs),
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1"} if libs else {}


PG_TEMP = os.path.join(REPO, "scripts", "pg-temp")


def pg_skip_reason():
    """Why a test cannot run the hub on PostgreSQL here, or None."""
    if subprocess.run([PG_TEMP, "available"]).returncode != 0:
        return "PostgreSQL binaries not found (Debian package postgresql)"
    if sanitizer_preload():
        # the broker is not instrumented: its ASan build of the plugin
        # needs the runtime preloaded, and with it preloaded libpq's first
        # connect hangs in glibc's gettext lock (its reader count is
        # already broken when the plugin loads; Debian 12's pg_isready
        # hangs the same way at exit): docs/testing.md
        return "the broker with the ASan runtime preloaded cannot use libpq (docs/testing.md)"
    return None


def pg_usable():
    return pg_skip_reason() is None


class PgCluster:
    """A throwaway PostgreSQL cluster (scripts/pg-temp) in dir: .ci is its
    conninfo (role and database hub, UNIX socket only)."""

    def __init__(self, dir):
        self.dir = dir
        # its socket is its owner's alone (pg-temp): as root, the owner is
        # the account the services switch to (root reaches it anyway)
        self.env = dict(os.environ)
        if os.geteuid() == 0:
            self.env["HUB_PG_USER"] = "mosquitto"
        self.ci = subprocess.run([PG_TEMP, "start", dir], check=True, capture_output=True,
                                 text=True, timeout=120, env=self.env).stdout.strip()

    def sql(self, query):
        """psql -c query: its output, or "ERROR ..." with psql's message."""
        bindir = os.path.dirname(subprocess.run(
            ["sh", "-c", "ls /usr/lib/postgresql/*/bin/psql | tail -1"],
            capture_output=True, text=True).stdout.strip()) or ""
        psql = os.path.join(bindir, "psql") if bindir else "psql"
        r = subprocess.run([psql, "-X", "-A", "-t", "-q", "-d", self.ci, "-c", query],
                           capture_output=True, text=True, timeout=30)
        return r.stdout.strip() if r.returncode == 0 else "ERROR " + r.stderr

    def stop_server(self):
        subprocess.run([PG_TEMP, "stop-server", self.dir], check=True, timeout=60, env=self.env)

    def start_server(self):
        subprocess.run([PG_TEMP, "start", self.dir], check=True, capture_output=True,
                       timeout=120, env=self.env)

    def close(self):
        subprocess.run([PG_TEMP, "stop", self.dir], timeout=60, env=self.env)


def run_as_account():
    """uid/gid the services switch to in tests run as root (or None)."""
    if os.geteuid() != 0:
        return None
    p = pwd.getpwnam("mosquitto")
    return p.pw_uid, p.pw_gid


# =====================================================================
# Broker test helpers (tests/integration/test_broker_*.py). Appended:
# the functions above are shared and unchanged.
# =====================================================================
import base64 as _b64
import functools as _functools
import hashlib as _hashlib
import hmac as _hmac
import sys as _sys
import threading as _threading
import unittest as _unittest

JS_DRIVER = os.path.join(REPO, "tests", "integration", "js", "mqtt_driver.mjs")


def b64url(data):
    return _b64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    text = text.strip()
    return _b64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token_claims(token):
    """The claims of a JWT (no verification)."""
    return json.loads(b64url_decode(token.split(".")[1]))


def wait_until(pred, timeout, interval=0.02):
    """Poll pred until it returns something true; returns it (or None)."""
    deadline = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() >= deadline:
            return None
        time.sleep(interval)


def hubd_built():
    return os.path.exists(os.path.join(BIN, "hubd"))


def _stack_token_key(self):
    """The signing key (<data>/token.key: base64url without padding)."""
    with open(os.path.join(self.data, "token.key")) as f:
        return b64url_decode(f.read())


def _stack_mint(self, sub, sid="service", typ="mqtt", iat=None, exp=None, ttl=600, key=None,
                header=None, claims=None):
    """An HS256 JWT like the hub's, signed with this stack's key (or key).
    iat defaults to now, exp to iat + ttl; claims adds or overrides."""
    now = int(time.time())
    body = {"sub": sub, "sid": sid, "iat": now if iat is None else iat, "typ": typ}
    body["exp"] = body["iat"] + ttl if exp is None else exp
    body.update(claims or {})
    hdr = header or {"alg": "HS256", "typ": "JWT"}
    signing = "%s.%s" % (b64url(json.dumps(hdr, separators=(",", ":")).encode()),
                         b64url(json.dumps(body, separators=(",", ":")).encode()))
    sig = _hmac.new(key if key is not None else self.token_key(), signing.encode(),
                    _hashlib.sha256).digest()
    return signing + "." + b64url(sig)


def _stack_service_token(self, ttl=600):
    """A token for the hub's own service identity "$hub"."""
    return self.mint("$hub", sid="service", typ="service", ttl=ttl)


def _stack_device_add(self, dev, owner, room=None):
    """hubctl device add; returns the secret it printed once."""
    args = ["device", "add", dev, "--owner", owner] + (["--room", room] if room else [])
    out = self.hubctl(*args).stdout
    for line in out.splitlines():
        if line.startswith("secret: "):
            return line.split(": ", 1)[1].strip()
    raise RuntimeError("no secret in hubctl output: %r" % out)


def _stack_broker_tail(self, lines=80):
    return "\n".join(self.log("broker").splitlines()[-lines:])


def _stack_broker_pid(self):
    proc = self.procs.get("broker")
    return proc.pid if proc else None


def _stack_wait_log(self, name, needle, timeout=5.0, start=0):
    """Wait until needle appears in a process log after offset start."""
    return wait_until(lambda: needle in self.log(name)[start:], timeout)


Stack.token_key = _stack_token_key
Stack.mint = _stack_mint
Stack.service_token = _stack_service_token
Stack.device_add = _stack_device_add
Stack.broker_tail = _stack_broker_tail
Stack.broker_pid = _stack_broker_pid
Stack.wait_log = _stack_wait_log


class MqttClient:
    """A paho-mqtt 1.6 client (MQTT 3.1 = version 3, 3.1.1 = 4, 5) on its own
    network thread that records what happens: received messages with their
    arrival time, the disconnect time and code. It never reconnects."""

    def __init__(self, port, username=None, password=None, version=5, client_id=None,
                 keepalive=60, will=None, clean=True, host="127.0.0.1"):
        import paho.mqtt.client as paho
        self.paho = paho
        proto = {3: paho.MQTTv31, 4: paho.MQTTv311, 5: paho.MQTTv5}[version]
        self.version = version
        self.client_id = client_id if client_id is not None else "t%s" % os.urandom(5).hex()
        if version == 5:
            self.c = paho.Client(client_id=self.client_id, protocol=proto)
        else:
            self.c = paho.Client(client_id=self.client_id, clean_session=clean, protocol=proto)
        if username is not None:
            self.c.username_pw_set(username, password)
        if will:
            self.c.will_set(*will)
        self.host, self.port, self.keepalive = host, port, keepalive
        self.cond = _threading.Condition()
        self.messages = []            # (topic, payload bytes, retain, arrival time)
        self.connack = None
        self.connected_at = None
        self.disconnected_at = None
        self.disconnect_rc = None
        self.subacks = {}
        self._stop = False
        self._thread = None
        self.c.on_connect = self._on_connect
        self.c.on_disconnect = self._on_disconnect
        self.c.on_message = self._on_message
        self.c.on_subscribe = self._on_subscribe

    @staticmethod
    def _code(rc):
        return rc.value if hasattr(rc, "value") else int(rc)

    def _on_connect(self, c, u, flags, rc, props=None):
        with self.cond:
            self.connack = self._code(rc)
            if self.connack == 0:
                self.connected_at = time.time()
            self.cond.notify_all()

    def _on_disconnect(self, c, u, rc, props=None):
        with self.cond:
            if self.disconnected_at is None:
                self.disconnected_at = time.time()
                self.disconnect_rc = self._code(rc)
            self.cond.notify_all()

    def _on_message(self, c, u, msg):
        with self.cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain), time.time()))
            self.cond.notify_all()

    def _on_subscribe(self, c, u, mid, granted, props=None):
        with self.cond:
            self.subacks[mid] = [self._code(g) for g in granted]
            self.cond.notify_all()

    def _run(self):
        while not self._stop:
            rc = self.c.loop(timeout=0.05)
            if rc != 0:
                with self.cond:
                    if self.disconnected_at is None:
                        self.disconnected_at = time.time()
                        self.disconnect_rc = rc
                    self.cond.notify_all()
                break

    def connect(self, timeout=5.0):
        """Connect; returns the CONNACK code (0 = accepted), or None if the
        broker closed the connection without one."""
        if self.version == 5:
            self.c.connect(self.host, self.port, self.keepalive, clean_start=True)
        else:
            self.c.connect(self.host, self.port, self.keepalive)
        self._thread = _threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        with self.cond:
            self.cond.wait_for(lambda: self.connack is not None or self.disconnected_at,
                               timeout)
            return self.connack

    @property
    def connected(self):
        return self.connack == 0 and self.disconnected_at is None

    def sub(self, filters, qos=1, timeout=5.0):
        """Subscribe; returns the SUBACK codes (ints; 0x80 / v5 0x87 refused)."""
        if isinstance(filters, str):
            filters = [filters]
        rc, mid = self.c.subscribe([(f, qos) for f in filters])
        if rc != 0:
            raise RuntimeError("subscribe failed locally: %s" % rc)
        with self.cond:
            if not self.cond.wait_for(lambda: mid in self.subacks, timeout):
                raise TimeoutError("no SUBACK for %s" % filters)
            return self.subacks.pop(mid)

    def pub(self, topic, payload=b"", qos=0, retain=False, timeout=5.0):
        info = self.c.publish(topic, payload, qos=qos, retain=retain)
        if qos:
            info.wait_for_publish(timeout)
        return info

    def wait_msg(self, topic=None, timeout=2.0, pred=None):
        """Remove and return the first received (topic, payload, retain, t)
        matching topic (exact or an MQTT filter) and pred, waiting up to
        timeout; None if none came."""
        def find():
            for i, m in enumerate(self.messages):
                if topic is not None and not self.paho.topic_matches_sub(topic, m[0]):
                    continue
                if pred is not None and not pred(m):
                    continue
                return i
            return None
        with self.cond:
            idx = []
            ok = self.cond.wait_for(lambda: idx.append(find()) or idx[-1] is not None,
                                    timeout)
            if not ok:
                return None
            return self.messages.pop(idx[-1])

    def take(self, topic=None):
        """Remove and return every received message matching topic."""
        with self.cond:
            keep, out = [], []
            for m in self.messages:
                if topic is None or self.paho.topic_matches_sub(topic, m[0]):
                    out.append(m)
                else:
                    keep.append(m)
            self.messages = keep
            return out

    def collect(self, duration, topic=None):
        time.sleep(duration)
        return self.take(topic)

    def wait_disconnect(self, timeout):
        with self.cond:
            self.cond.wait_for(lambda: self.disconnected_at is not None, timeout)
            return self.disconnected_at

    def disconnect(self):
        """Clean DISCONNECT."""
        try:
            self.c.disconnect()
        except Exception:
            pass
        self.wait_disconnect(2.0)
        self.close()

    def close(self):
        self._stop = True
        if self._thread:
            self._thread.join(2.0)
        try:
            self.c.socket() and self.c.socket().close()
        except Exception:
            pass


class WsClient:
    """MQTT.js over ws:// through tests/integration/js/mqtt_driver.mjs."""

    def __init__(self, stderr_path=None):
        self.err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL
        self.p = subprocess.Popen(["node", JS_DRIVER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  cwd=REPO)
        self.cond = _threading.Condition()
        self.events = []
        self._n = 0
        self._reader = _threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.wait("ready", 15):
            raise RuntimeError("MQTT.js driver did not start")

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

    def wait(self, ev, timeout=5.0, pred=None, consume=True):
        """First event named ev (a name or a tuple of names) matching pred."""
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

    def connect(self, port, username, password, version=4, client_id=None, keepalive=60,
                timeout=10.0, headers=None, url=None, b64=False, ca=None):
        """Returns the 'connect' or 'error' event (or None on timeout).
        url: instead of ws://127.0.0.1:<port>/mqtt; headers: of the
        upgrade; password None: none; b64: messages carry payload_b64;
        ca: the CA file a wss:// url is verified against."""
        self.send(op="connect", url=url or "ws://127.0.0.1:%d/mqtt" % port, username=username,
                  password=password, protocolVersion=version, clientId=client_id,
                  keepalive=keepalive, headers=headers, b64=b64, ca=ca)
        return self.wait(("connect", "error", "close"), timeout)

    def sub(self, filters, qos=1, timeout=5.0):
        self._n += 1
        n = self._n
        self.send(op="sub", id=n, filters=list(filters), qos=qos)
        return self.wait("suback", timeout, pred=lambda e: e["id"] == n)

    def pub(self, topic, payload, qos=0, retain=False, timeout=5.0):
        self._n += 1
        n = self._n
        self.send(op="pub", id=n, topic=topic, payload=payload, qos=qos, retain=retain)
        return self.wait("puback", timeout, pred=lambda e: e["id"] == n)

    def messages(self, topic=None):
        """Remove and return received messages (optionally one topic)."""
        with self.cond:
            out = [e for e in self.events
                   if e["ev"] == "message" and (topic is None or e["topic"] == topic)]
            self.events = [e for e in self.events if e not in out]
            return out

    def close(self):
        if self.p.poll() is None:
            try:
                self.send(op="exit")
            except (BrokenPipeError, OSError):
                pass
            try:
                self.p.wait(3)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.err is not subprocess.DEVNULL:
            self.err.close()


def timeout(seconds):
    """Decorator: fail the test (TimeoutError) after `seconds` of wall time."""
    def deco(fn):
        @_functools.wraps(fn)
        def wrapper(*a, **kw):
            def on_alarm(signum, frame):
                raise TimeoutError("test exceeded its %ss timeout" % seconds)
            old = signal.signal(signal.SIGALRM, on_alarm)
            signal.setitimer(signal.ITIMER_REAL, seconds)
            try:
                return fn(*a, **kw)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, old)
        return wrapper
    return deco


class BrokerTestCase(_unittest.TestCase):
    """One Stack with a running broker per test class. Subclasses fill the
    store in prepare(stack) (before the broker starts). A failing test
    prints the tail of the broker's log (log_type all). with_front: hubd
    too, whose front serves MQTT over WebSocket (ports["ws"], and /mqtt
    on ports["http"])."""

    stack_conf = None
    broker_extra = "log_type all\n"
    with_front = False

    @classmethod
    def prepare(cls, stack):
        pass

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(extra_conf=cls.stack_conf)
        try:
            cls.prepare(cls.stack)
            cls.stack.start_broker(cls.broker_extra)
            if cls.with_front:
                cls.stack.start_hubd()
        except Exception:
            print(cls.stack.broker_tail(), file=_sys.stderr)
            print(cls.stack.log("hubd")[-3000:], file=_sys.stderr)
            cls.stack.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def setUp(self):
        self._owned = []

    def tearDown(self):
        for c in reversed(self._owned):
            try:
                c.close()
            except Exception:
                pass

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        t0 = time.time()
        super().run(result)
        took = time.time() - t0
        print("  [%s: %.2fs]" % (self._testMethodName, took), file=_sys.stderr)
        if len(result.failures) + len(result.errors) > before:
            print("---- broker log (tail) ----\n%s\n---------------------------"
                  % self.stack.broker_tail(), file=_sys.stderr)
        return result

    # ---- clients owned by the running test ----
    @property
    def port(self):
        return self.stack.ports["mqtt"]

    def own(self, c):
        self._owned.append(c)
        return c

    def mqtt(self, user=None, password=None, version=5, expect=0, **kw):
        """A paho client, connected; asserts the CONNACK code is expect."""
        c = self.own(MqttClient(self.port, user, password, version=version, **kw))
        rc = c.connect()
        self.assertEqual(rc, expect, "CONNACK for %s (v%d)" % (user, version))
        return c

    def user_client(self, user, version=5, **kw):
        """A paho client of user on a fresh CLI session token."""
        return self.mqtt(user, self.stack.token(user), version=version, **kw)

    def raw(self):
        from mqttraw import RawClient
        return self.own(RawClient(self.port))

    def ws(self):
        return self.own(WsClient(os.path.join(self.stack.dir, "node.log")))

    def assert_broker_alive(self):
        self.assertIsNone(self.stack.procs["broker"].poll(), "the broker exited")


def broker_main():
    """unittest.main for a test_broker_*.py script (exit 1 on failure).
    Stacks go under $TMPDIR/hub-broker-tests/ (world-traversable, so the
    broker's account reaches its data directory), out of the way of
    clean-ups of $TMPDIR/hubtest-*."""
    import tempfile
    _sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    root = os.path.join(tempfile.gettempdir(), "hub-broker-tests")
    os.makedirs(root, exist_ok=True)
    os.chmod(root, 0o755)
    tempfile.tempdir = root
    _unittest.main(verbosity=2, warnings="ignore")


# =====================================================================
# Browser test helpers (tests/integration/test_web_*.py). Appended: the
# functions above are shared and unchanged.
# =====================================================================
WEB_DRIVER = os.path.join(REPO, "tests", "integration", "js", "web_driver.mjs")
WEB_TEST_PAGES = os.path.join(REPO, "tests", "integration", "web")
SCREENSHOTS = os.path.join(BUILD, "test-screenshots")


def web_built(path="index.html"):
    return os.path.exists(os.path.join(BUILD, "web", path))


def browser_available():
    return (os.path.exists("/usr/bin/chromium") and
            os.path.isdir(os.path.join(REPO, "node_modules", "playwright-core")))


def _stack_use_web(self, test_pages=True):
    """Serve a private copy of build/web (plus, for tests only, the pages of
    tests/integration/web under /test/): the product tree never holds test
    pages. Call before start_hubd()."""
    dst = os.path.join(self.dir, "web")
    shutil.copytree(os.path.join(BUILD, "web"), dst)
    if test_pages and os.path.isdir(WEB_TEST_PAGES):
        shutil.copytree(WEB_TEST_PAGES, os.path.join(dst, "test"))
    self.conf["web_dir"] = dst
    self.write_conf(self.conf)
    return dst


def _stack_base_url(self):
    return "http://127.0.0.1:%d" % self.ports["http"]


def _stack_restart_broker(self, down=0.0):
    """Stop the broker (SIGTERM), wait `down` seconds, start it again on the
    same ports and data (its persistence keeps retained messages)."""
    self.stop("broker")
    if down:
        time.sleep(down)
    conf = os.path.join(self.dir, "mosquitto.conf")
    saved = dict(self.env)
    self.env.update(sanitizer_preload())
    mark = len(self.log("broker"))
    try:
        proc = self.start("broker", broker_argv(conf), self.ports["mqtt"])
    finally:
        self.env = saved
    # listening is not running yet (the WebSocket listener comes after)
    deadline = time.time() + 10
    while proc.poll() is None and time.time() < deadline and \
            " running" not in self.log("broker")[mark:]:
        time.sleep(0.02)
    if proc.poll() is not None:
        raise RuntimeError("the broker did not come back (exit %s):\n%s"
                           % (proc.returncode, self.log("broker")[mark:][-3000:]))
    return proc


Stack.use_web = _stack_use_web
Stack.base_url = property(_stack_base_url)
Stack.restart_broker = _stack_restart_broker


class BrowserError(RuntimeError):
    pass


class Browser:
    """Headless Chromium through tests/integration/js/web_driver.mjs. Each
    call sends one command and waits for its answer; console messages and
    page errors are kept in .log (and printed with HUB_WEB_VERBOSE=1)."""

    def __init__(self, stderr_path=None, extra_args=None):
        self.err = open(stderr_path, "ab") if stderr_path else subprocess.DEVNULL
        env = dict(os.environ)
        if extra_args:
            # Chromium flags of this test (web_driver.mjs HUB_CHROMIUM_ARGS)
            env["HUB_CHROMIUM_ARGS"] = json.dumps(list(extra_args))
        self.p = subprocess.Popen(["node", WEB_DRIVER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=self.err, text=True,
                                  cwd=REPO, env=env)
        self.cond = _threading.Condition()
        self.answers = {}
        self.log = []
        self.ready = None
        self._n = 0
        self._reader = _threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        with self.cond:
            if not self.cond.wait_for(lambda: self.ready is not None or self.p.poll() is not None,
                                      30):
                raise BrowserError("chromium driver did not start")
        if self.ready is None:
            raise BrowserError("chromium driver exited (%s)" % self.p.returncode)

    def _read(self):
        verbose = os.environ.get("HUB_WEB_VERBOSE")
        for line in self.p.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                if "id" in msg:
                    self.answers[msg["id"]] = msg
                elif msg.get("ev") == "ready":
                    self.ready = msg
                else:
                    self.log.append(msg)
                    if verbose:
                        print("  [%s] %s: %s" % (msg.get("page"), msg.get("ev"), msg.get("text")),
                              file=_sys.stderr)
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def cmd(self, op, timeout=30.0, **kw):
        self._n += 1
        n = self._n
        kw.update(op=op, id=n)
        self.p.stdin.write(json.dumps(kw) + "\n")
        self.p.stdin.flush()
        with self.cond:
            if not self.cond.wait_for(lambda: n in self.answers or self.p.poll() is not None,
                                      timeout):
                raise BrowserError("no answer to %s within %ss" % (op, timeout))
            if n not in self.answers:
                raise BrowserError("driver exited during %s" % op)
            a = self.answers.pop(n)
        if not a["ok"]:
            raise BrowserError("%s failed: %s" % (op, a["error"]))
        return a["value"]

    # conveniences
    def page(self, name, ctx=None, width=1280, height=800):
        self.cmd("page", page=name, ctx=ctx or name, viewport={"width": width, "height": height})
        return name

    def goto(self, page, url):
        return self.cmd("goto", page=page, url=url)

    def eval(self, page, fn, arg=None, timeout=30.0):
        """page.evaluate of a JS function source applied to arg."""
        return self.cmd("eval", timeout, page=page, fn=fn, arg=arg)

    def wait(self, page, fn, arg=None, timeout=10.0):
        """waitForFunction: returns the first truthy value of fn(arg)."""
        return self.cmd("wait", timeout + 5, page=page, fn=fn, arg=arg, ms=int(timeout * 1000))

    def screenshot(self, page, name, full_page=False):
        path = name if os.path.isabs(name) else os.path.join(SCREENSHOTS, name)
        return self.cmd("screenshot", page=page, path=path, fullPage=full_page)

    def errors(self, page=None):
        return [m for m in self.log if m.get("ev") == "pageerror"
                and (page is None or m.get("page") == page)]

    def close(self):
        if self.p.poll() is None:
            try:
                self.cmd("exit", timeout=10)
            except (BrowserError, BrokenPipeError, OSError):
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self.err is not subprocess.DEVNULL:
            self.err.close()


class WebTestCase(_unittest.TestCase):
    """One Stack (broker + hubd serving a private copy of build/web with the
    test pages under /test/) and one headless Chromium per test class.
    Subclasses fill the store in prepare(stack). Skips (with the reason)
    when the dashboard is not built or Chromium/playwright-core is missing.
    A failing test prints the browser's console and the service logs."""

    stack_conf = None
    needs = "index.html"   # what of build/web the class needs

    @classmethod
    def prepare(cls, stack):
        pass

    @classmethod
    def setUpClass(cls):
        if not hubd_built():
            raise _unittest.SkipTest("hubd is not built (%s)" % BIN)
        if not web_built(cls.needs):
            raise _unittest.SkipTest("the dashboard is not built (no %s/web/%s)"
                                     % (BUILD, cls.needs))
        if not browser_available():
            raise _unittest.SkipTest("needs /usr/bin/chromium and node_modules/playwright-core "
                                     "(scripts/deps --test)")
        cls.stack = Stack(extra_conf=cls.stack_conf)
        cls.browser = None
        try:
            cls.prepare(cls.stack)
            cls.stack.use_web()
            cls.stack.start_broker("log_type all\n")
            cls.stack.start_hubd()
            cls.browser = Browser(os.path.join(cls.stack.dir, "chromium.log"))
        except Exception:
            print(cls.stack.broker_tail(), file=_sys.stderr)
            if cls.browser:
                cls.browser.close()
            cls.stack.close()
            raise
        # hubd's front: ws_port, and /mqtt of the pages' own origin
        cls.ws_url = "ws://127.0.0.1:%d/" % cls.stack.ports["ws"]
        cls.front_url = "ws://127.0.0.1:%d/mqtt" % cls.stack.ports["http"]
        cls.base = cls.stack.base_url

    @classmethod
    def tearDownClass(cls):
        if cls.browser:
            cls.browser.close()
        cls.stack.close()

    def setUp(self):
        self._owned = []

    def tearDown(self):
        for c in reversed(self._owned):
            try:
                c.close()
            except Exception:
                pass

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        t0 = time.time()
        log_at = len(self.browser.log) if getattr(self, "browser", None) else 0
        super().run(result)
        print("  [%s: %.2fs]" % (self._testMethodName, time.time() - t0), file=_sys.stderr)
        if len(result.failures) + len(result.errors) > before and getattr(self, "browser", None):
            print("---- browser console ----", file=_sys.stderr)
            for m in self.browser.log[log_at:][-40:]:
                print("  [%s] %s: %s" % (m.get("page"), m.get("ev"), m.get("text")),
                      file=_sys.stderr)
            print("---- hubd log (tail) ----\n%s" %
                  "\n".join(self.stack.log("hubd").splitlines()[-15:]), file=_sys.stderr)
            print("---- broker log (tail) ----\n%s" % self.stack.broker_tail(40), file=_sys.stderr)
        return result

    def own(self, c):
        self._owned.append(c)
        return c

    def mqtt(self, user, version=5, **kw):
        """A paho client of user on a CLI token, connected."""
        c = self.own(MqttClient(self.stack.ports["mqtt"], user, self.stack.token(user),
                                version=version, **kw))
        self.assertEqual(c.connect(), 0, "paho CONNACK for %s" % user)
        return c


# ---- hub-bridge (the Socket.IO gateway) -----------------------------------
NODE_DIR = os.path.join(REPO, "tests", "integration", "js")


def _start_bridge(self, timeout=10.0):
    """hub-bridge on this stack's sio port (start the broker first)."""
    return self.start("bridge", [os.path.join(BIN, "hub-bridge")], self.ports["sio"], timeout)


def _sio_url(self):
    return "http://127.0.0.1:%d" % self.ports["sio"]


Stack.start_bridge = _start_bridge
Stack.sio_url = _sio_url


class SioClient:
    """A stock socket.io-client (tests/integration/js/sio_driver.mjs) in a
    Node process, driven by JSON lines. events() keeps everything it
    reported; wait() blocks for the next matching event."""

    def __init__(self, url, opts=None, name="sio"):
        import queue
        import threading
        self.name = name
        self.proc = subprocess.Popen(
            ["node", os.path.join(NODE_DIR, "sio_driver.mjs")], cwd=REPO,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.q = queue.Queue()
        self.seen = []
        self._ids = 0

        def reader():
            for line in self.proc.stdout:
                try:
                    self.q.put(json.loads(line))
                except ValueError:
                    self.q.put({"ev": "bad-line", "line": line})
        threading.Thread(target=reader, daemon=True).start()
        self.cmd(op="connect", url=url, opts=opts or {})

    def cmd(self, **c):
        self.proc.stdin.write(json.dumps(c) + "\n")
        self.proc.stdin.flush()

    def wait(self, ev, pred=None, timeout=10.0):
        """The next event named ev (matching pred) within timeout; the
        events passed over stay in self.seen."""
        import queue
        for e in self.seen:
            if e["ev"] == ev and (pred is None or pred(e)) and not e.get("_taken"):
                e["_taken"] = True
                return e
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("%s: no %s event within %.1fs; saw %r" % (
                    self.name, ev, timeout, [x for x in self.seen if not x.get("_taken")][-10:]))
            try:
                e = self.q.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(e)
            if e["ev"] == ev and (pred is None or pred(e)):
                e["_taken"] = True
                return e

    def wait_any(self, names, timeout=10.0):
        """The next event whose name is one of names (a tuple)."""
        import queue
        for e in self.seen:
            if e["ev"] in names and not e.get("_taken"):
                e["_taken"] = True
                return e
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("%s: none of %r within %.1fs" % (self.name, names, timeout))
            try:
                e = self.q.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(e)
            if e["ev"] in names:
                e["_taken"] = True
                return e

    def event(self, name, pred=None, timeout=10.0):
        """The next Socket.IO event `name` (returns its args)."""
        return self.wait("event", lambda e: e["name"] == name and (pred is None or pred(e["args"])),
                         timeout)["args"]

    def none(self, ev, pred=None, duration=1.0):
        """Assert no such event arrives within duration."""
        try:
            e = self.wait(ev, pred, duration)
        except AssertionError:
            return
        raise AssertionError("%s: unexpected %r" % (self.name, e))

    def emit(self, event, *args, ack=False, timeout=None, sock=None):
        self._ids += 1
        self.cmd(op="emit", id=self._ids, event=event, args=list(args), ack=ack,
                 timeout=timeout, sock=sock)
        return self._ids

    def call(self, event, *args, timeout=5000, sock=None):
        """emit with an ack and timeout(); returns (error, args)."""
        i = self.emit(event, *args, ack=True, timeout=timeout, sock=sock)
        e = self.wait("ack", lambda e: e["id"] == i, timeout / 1000.0 + 5)
        return e["error"], e["args"]

    def ask(self, event, *args, sock=None):
        """The seed's `await socket.emitWithAck(event, ...args)`: sends, and
        returns the id whose answer answer(id) waits for."""
        self._ids += 1
        self.cmd(op="emitWithAck", id=self._ids, event=event, args=list(args), sock=sock)
        return self._ids

    def answer(self, i, timeout=10.0):
        """The value emitWithAck(...) resolved with (ask's id)."""
        e = self.wait("ack", lambda e: e["id"] == i, timeout)
        assert e["error"] is None, e
        return e["args"][0] if e["args"] else None

    def socket(self, name, nsp, opts=None):
        """Another socket of namespace nsp on this client's Manager (one
        Engine.IO connection); its events carry sock=name."""
        self.cmd(op="socket", name=name, nsp=nsp, opts=opts or {})

    def close(self):
        if self.proc.poll() is None:
            try:
                self.cmd(op="exit")
                self.proc.wait(3)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass


def sio_connected(url, opts=None, name="sio"):
    """A SioClient that connected (raises with what happened otherwise)."""
    c = SioClient(url, opts, name)
    e = c.wait("connect", timeout=10)
    assert e, e
    return c


class RawWs:
    """A minimal WebSocket client (RFC 6455, text frames, client masking)
    for tests that must send exact Engine.IO bytes: malformed packets,
    oversized frames, a peer that never answers pings."""

    def __init__(self, port, path, headers=None, timeout=5.0):
        import base64
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               % (path, port, key))
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        self.sock.sendall((req + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            buf += chunk
        head, _, self.rest = buf.partition(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0

    def send(self, data, opcode=1):
        if isinstance(data, str):
            data = data.encode()
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            hdr += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        self.sock.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.rest) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.rest += chunk
        out, self.rest = self.rest[:n], self.rest[n:]
        return out

    def recv(self, timeout=5.0):
        """(opcode, payload) of the next frame; ConnectionError when closed."""
        self.sock.settimeout(timeout)
        b0, b1 = self._read(2)
        n = b1 & 0x7f
        if n == 126:
            n = int.from_bytes(self._read(2), "big")
        elif n == 127:
            n = int.from_bytes(self._read(8), "big")
        return b0 & 0x0f, self._read(n)

    def recv_text(self, timeout=5.0):
        while True:
            op, data = self.recv(timeout)
            if op == 8:
                raise ConnectionError("close frame %r" % data[:2])
            if op == 1:
                return data.decode()

    def closed_within(self, timeout):
        """True when the server closes the connection within timeout."""
        deadline = time.time() + timeout
        try:
            while time.time() < deadline:
                op, _ = self.recv(max(0.05, deadline - time.time()))
                if op == 8:
                    return True
        except socket.timeout:
            return False
        except (ConnectionError, OSError):
            return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def sio_raw_ws(stack, token, headers=None):
    """A raw WebSocket-only Socket.IO client, connected with token; returns
    (RawWs, open packet dict)."""
    ws = RawWs(stack.ports["sio"], "/socket.io/?EIO=4&transport=websocket", headers)
    assert ws.status == 101, ws.status
    op = json.loads(ws.recv_text()[1:])
    ws.send('40{"token":"%s"}' % token)
    while True:
        t = ws.recv_text()
        if t.startswith("40"):
            return ws, op
        if t.startswith("44"):
            raise AssertionError("refused: " + t)


# ---- broker tests (test_broker_*.py), appended ----------------------------
def _stack_revocable_token(self, user, ttl=None):
    """hubctl token, retried until the session id does not start with '-':
    `hubctl session revoke SID` takes such an id for an option and refuses
    it (1 session in 64), so tests that revoke by SID use this."""
    for _ in range(20):
        tok = self.token(user, ttl)
        if not token_claims(tok)["sid"].startswith("-"):
            return tok
    raise RuntimeError("no revocable session id in 20 tries")


Stack.revocable_token = _stack_revocable_token


# ---- fault tests (test_fault_*.py), appended -------------------------------
def _stack_kill9(self, name):
    """kill -9 one process of the stack and reap it; returns its pid."""
    proc = self.procs.pop(name)
    proc.kill()
    proc.wait()
    return proc.pid


def _stack_start_broker_again(self):
    """Start the broker again on the same ports, config and data (after a
    kill9 or a stop)."""
    conf = os.path.join(self.dir, "mosquitto.conf")
    saved = dict(self.env)
    self.env.update(sanitizer_preload())
    try:
        return self.start("broker", broker_argv(conf), self.ports["mqtt"])
    finally:
        self.env = saved


def _stack_sqlite(self, sql, db="hub.db", timeout=60):
    """Run sql with the sqlite3 shell on a file of the data directory, as
    the account that owns it (root creating a -wal or -shm file there
    would lock the services out). Returns stdout; raises on an error."""
    argv = ["sqlite3", "-batch", os.path.join(self.data, db), sql]
    if run_as_account():
        argv = ["runuser", "-u", self.run_as, "--"] + argv
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("sqlite3 %r: %s" % (sql, r.stderr.strip()))
    return r.stdout


def _stack_integrity(self, db="hub.db"):
    """PRAGMA integrity_check of the store ("ok" when sound)."""
    return self.sqlite("PRAGMA integrity_check", db).strip()


def _stack_count_log(self, name, needle):
    return self.log(name).count(needle)


Stack.kill9 = _stack_kill9
Stack.start_broker_again = _stack_start_broker_again
Stack.sqlite = _stack_sqlite
Stack.integrity = _stack_integrity
Stack.count_log = _stack_count_log


# ---- broker versions (docs/broker.md "Versions"), appended -----------------
_broker_version = None


def broker_version():
    """The version of the broker the stacks run (HUB_MOSQUITTO or the
    `mosquitto` on PATH) as a tuple, e.g. (2, 0, 21); read once from its
    usage text ("mosquitto version 2.0.21")."""
    global _broker_version
    if _broker_version is None:
        import re as _re
        r = subprocess.run([MOSQUITTO, "-h"], capture_output=True, text=True, timeout=30)
        m = _re.search(r"mosquitto version (\d+)\.(\d+)\.(\d+)", r.stdout + r.stderr)
        if not m:
            raise RuntimeError("cannot tell the version of %s: %r" % (MOSQUITTO, r.stdout[:200]))
        _broker_version = tuple(int(x) for x in m.groups())
    return _broker_version



# ---- hubd's WebSocket front (test_front*.py), appended ---------------------
class WsSock:
    """A socket-like MQTT-over-WebSocket client connection (RFC 6455: binary
    frames, client masking) to hubd's front, for mqttraw.RawClient: sendall
    frames what it is given, recv returns the payload bytes of the frames
    that came. frag: send every sendall as fragments of at most frag bytes
    (a binary frame without FIN, then continuation frames). src: the local
    address to connect from (any 127.x.y.z is loopback on Linux: tests pose
    as other client addresses). status / headers / body: the upgrade's
    answer (101, or a refusal's status and JSON body)."""

    def __init__(self, port, path="/mqtt", headers=None, src=None, protocol="mqtt",
                 timeout=5.0, frag=None, rcvbuf=None):
        import base64
        self.frag = frag
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            # a reader that stops: the kernel holds little for it
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if src:
            self.s.bind((src, 0))
        self.s.settimeout(timeout)
        self.s.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               % (path, port, key))
        if protocol:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        self.s.sendall((req + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(4096)
            if not chunk:
                break
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        self.status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/") else 0
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.headers[k.strip().lower()] = v.strip()
        self.body = b""
        self.raw = rest             # frame bytes not parsed yet
        self.data = b""             # payload bytes not handed out yet
        self.closed = False
        self.close_code = None
        if self.status != 101:
            n = int(self.headers.get("content-length", "0") or 0)
            self.body = rest
            while len(self.body) < n:
                chunk = self.s.recv(4096)
                if not chunk:
                    break
                self.body += chunk

    # socket-like API for RawClient
    def setsockopt(self, *a):
        pass

    def settimeout(self, t):
        self.s.settimeout(t)

    def _frame(self, opcode, data, fin=True):
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + n.to_bytes(2, "big")
        else:
            hdr += bytes([0x80 | 127]) + n.to_bytes(8, "big")
        m = (mask * (n // 4 + 1))[:n]
        return hdr + mask + (int.from_bytes(data, "big") ^ int.from_bytes(m, "big")).to_bytes(
            n, "big") if n else hdr + mask

    def sendall(self, data, opcode=2):
        if not self.frag or len(data) <= self.frag:
            self.s.sendall(self._frame(opcode, data))
            return
        out = []
        for i in range(0, len(data), self.frag):
            piece = data[i:i + self.frag]
            last = i + self.frag >= len(data)
            out.append(self._frame(opcode if i == 0 else 0, piece, fin=last))
        self.s.sendall(b"".join(out))

    def _parse(self):
        """Move whole frames from raw to data; False when none is whole."""
        r = self.raw
        if len(r) < 2:
            return False
        op, n, pos = r[0] & 0x0f, r[1] & 0x7f, 2
        if n == 126:
            if len(r) < 4:
                return False
            n, pos = int.from_bytes(r[2:4], "big"), 4
        elif n == 127:
            if len(r) < 10:
                return False
            n, pos = int.from_bytes(r[2:10], "big"), 10
        if len(r) < pos + n:
            return False
        payload, self.raw = r[pos:pos + n], r[pos + n:]
        if op == 8:
            self.closed = True
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        elif op in (0, 1, 2):
            self.data += payload
        return True

    def recv(self, n):
        while not self.data and not self.closed:
            while self._parse():
                pass
            if self.data or self.closed:
                break
            try:
                chunk = self.s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
                break
            self.raw += chunk
        out, self.data = self.data[:n], self.data[n:]
        return out

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def ws_raw_client(port, path="/mqtt", headers=None, src=None, timeout=5.0, frag=None,
                  protocol="mqtt", rcvbuf=None):
    """A mqttraw.RawClient speaking through hubd's front (WsSock); its
    .sock.status says how the upgrade went."""
    from mqttraw import RawClient
    c = RawClient.__new__(RawClient)
    c.sock = WsSock(port, path, headers, src, protocol, timeout, frag, rcvbuf)
    c.timeout = timeout
    c.version = 4
    c.mid = 0
    c.inbox = []
    c.disconnect_reason = None
    c.session_present = False
    c._buf = b""
    return c


def _stack_metric(self, name):
    """A value of hubd's /metrics (name with labels as printed), or None."""
    r = self.http("GET", "/metrics")
    for line in r.body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


Stack.metric = _stack_metric
# ==============================================================

def ws_raw(port, headers=None):
    """A mqttraw.RawClient over a WebSocket to port (hubd's front) with
    chosen upgrade headers."""
    return ws_raw_client(port, headers=headers)


def broker_argv(conf):
    """The command that starts the broker (MOSQUITTO) with conf; checks
    once that it is HUB_MOSQUITTO_VERSION when that is set, so a pass meant
    for one version cannot silently run another."""
    want = os.environ.get("HUB_MOSQUITTO_VERSION")
    if want and ".".join(map(str, broker_version())) != want:
        raise RuntimeError("HUB_MOSQUITTO_VERSION=%s but %s is %s" % (
            want, MOSQUITTO, ".".join(map(str, broker_version()))))
    return [MOSQUITTO, "-c", conf]


# =====================================================================
# Webhook receiver (tests/integration/test_webhooks.py and
# test_backends_http.py). Appended: the functions above are unchanged.
# =====================================================================
class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 (a thread per request) that records
    every POST it gets: (arrival time, headers dict lower-cased, raw body).
    What it answers is up to `answer(request_index, body)` -> status, or
    the special "hang" (hold the request, no answer, until release() or
    stop()), set per test. It counts requests under way (`busy`, and the
    most at once in `peak`). stop() closes the port (connections are
    refused); start() opens the same port again."""

    def __init__(self, port=None, secret=None):
        self.port = port or free_port()
        self.secret = secret
        self.cond = _threading.Condition()
        self.got = []
        self.busy = 0
        self.peak = 0
        self.answer = lambda i, body: 200
        self._release = _threading.Event()
        self.server = None
        self.thread = None

    def start(self):
        import http.server
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with recv.cond:
                    i = len(recv.got)
                    recv.got.append((time.time(), {k.lower(): v for k, v in
                                                   self.headers.items()}, body))
                    recv.busy += 1
                    recv.peak = max(recv.peak, recv.busy)
                    recv.cond.notify_all()
                try:
                    status = recv.answer(i, body)
                    if status == "hang":
                        recv._release.wait(60)
                        self.close_connection = True
                        return
                    if isinstance(status, tuple):
                        status, headers = status
                    else:
                        headers = {}
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                finally:
                    with recv.cond:
                        recv.busy -= 1
                        recv.cond.notify_all()

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True
            request_queue_size = 64

        self._release.clear()
        self.server = Server(("127.0.0.1", self.port), Handler)
        self.thread = _threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def release(self):
        """Let held ("hang") requests end without an answer."""
        self._release.set()

    def stop(self):
        if self.server:
            self.release()
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def wait_count(self, n, timeout):
        """Wait until n POSTs arrived; returns how many did."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.got) >= n, timeout)
            return len(self.got)

    def bodies(self):
        with self.cond:
            return [json.loads(b) for _, _, b in self.got]

    def signature_ok(self, headers, body, secret=None):
        want = "sha256=" + _hmac.new((secret or self.secret).encode(), body,
                                     _hashlib.sha256).hexdigest()
        return _hmac.compare_digest(headers.get("x-hub-signature-256", ""), want)


def _stack_webhook_add(self, url, events=None, rooms=None):
    """hubctl webhook add; returns (id, secret)."""
    args = ["webhook", "add", url]
    if events:
        args += ["--events", events]
    if rooms:
        args += ["--rooms", rooms]
    out = self.hubctl(*args).stdout
    hook_id = int(out.split()[1])
    secret = [l.split(": ", 1)[1].strip() for l in out.splitlines()
              if l.startswith("secret: ")][0]
    return hook_id, secret


def _stack_servicekey(self, name):
    """hubctl servicekey add; returns the key."""
    out = self.hubctl("servicekey", "add", name).stdout
    return [l.split()[1] for l in out.splitlines() if l.startswith("key:")][0]


def _stack_metrics(self):
    """GET /metrics as {name{labels}: float}."""
    r = self.http("GET", "/metrics")
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def _stack_outbox(self, sql):
    """Run sql on the store with the sqlite3 tool, as the account hubd runs
    as (a -wal file made by root would lock hubd out); rows as lists of
    strings."""
    acct = run_as_account()
    kw = {"user": acct[0], "group": acct[1]} if acct else {}
    r = subprocess.run(["sqlite3", "-cmd", ".timeout 10000", os.path.join(self.data, "hub.db"),
                        sql], capture_output=True, text=True, timeout=30, **kw)
    if r.returncode != 0:
        raise RuntimeError("sqlite3 failed: %s" % r.stderr)
    return [line.split("|") for line in r.stdout.splitlines()]


Stack.webhook_add = _stack_webhook_add
Stack.servicekey = _stack_servicekey
Stack.metrics = _stack_metrics
Stack.outbox = _stack_outbox


# =====================================================================
# Example apps (examples/README.md; tests/integration/test_example_*.py).
# Appended: the functions above are unchanged.
# =====================================================================
EXAMPLES_DIR = os.path.join(REPO, "examples")


def example_available(name):
    """Whether examples/NAME has a backend, and its pages are built."""
    return (os.path.exists(os.path.join(EXAMPLES_DIR, name, "backend", "server.mjs")) and
            os.path.exists(os.path.join(BUILD, "web", "examples", name, "index.html")))


def _stack_start_example(self, name, users=(), env=None, timeout=30.0, setup=True):
    """Start the example NAME as scripts/stack does: its service key
    (hubctl servicekey add NAME, once per stack), its setup.sh with
    HUB_DEMO_USERS = users, then `node examples/NAME/backend/server.mjs`
    as the process "ex-NAME" with HUB_MQTT_URL, HUB_SERVICE, HUB_KEY,
    HUB_API and HUB_DATA (<stack dir>/examples/NAME) plus `env` (the
    example's own settings, which its setup.sh gets too). Waits for its "ready" line; returns the
    process. Starting it again (after stop("ex-NAME")) keeps its key and
    data directory."""
    keys = self.__dict__.setdefault("example_keys", {})
    if name not in keys:
        keys[name] = self.servicekey(name)
    script = os.path.join(EXAMPLES_DIR, name, "setup.sh")
    if setup and os.path.exists(script):
        e = dict(self.env, HUBCTL=os.path.join(BIN, "hubctl"), HUB_SERVICE=name,
                 HUB_DEMO_USERS=" ".join(users), **(env or {}))
        r = subprocess.run(["bash", script], env=e, capture_output=True, text=True,
                           timeout=120, cwd=self.dir)
        if r.returncode != 0:
            raise RuntimeError("examples/%s/setup.sh failed (%d):\n%s%s"
                               % (name, r.returncode, r.stdout, r.stderr))
    data = os.path.join(self.dir, "examples", name)
    os.makedirs(data, exist_ok=True)
    saved = self.env
    self.env = dict(saved, HUB_MQTT_URL="mqtt://127.0.0.1:%d" % self.ports["mqtt"],
                    HUB_SERVICE=name, HUB_KEY=keys[name],
                    HUB_API="http://127.0.0.1:%d" % self.ports["http"], HUB_DATA=data,
                    **(env or {}))
    proc_name = "ex-" + name
    mark = len(self.log(proc_name))
    try:
        proc = self.start(proc_name, ["node", os.path.join(EXAMPLES_DIR, name, "backend",
                                                           "server.mjs")])
    finally:
        self.env = saved

    def ready():
        if proc.poll() is not None:
            return "exited"
        text = self.log(proc_name)[mark:]
        return "ready" if any(l.startswith("ready") for l in text.splitlines()) else None
    got = wait_until(ready, timeout, 0.05)
    if got != "ready":
        raise RuntimeError("example %s did not start (%s):\n%s" % (
            name, got or "no ready line within %ss" % timeout, self.log(proc_name)[-3000:]))
    return proc


Stack.start_example = _stack_start_example
# TLS (tests/integration/test_tls.py, bench/tls_bench.py; docs/tls.md).
# Appended: the functions above are unchanged.
# =====================================================================
DEV_CA = os.path.join(REPO, "scripts", "dev-ca")


def dev_ca(directory, *hosts):
    """scripts/dev-ca into directory (idempotent): {"dir", "ca", "cert",
    "key", "spki"} (paths; spki: the base64 SHA-256 of the server's public
    key, for Chromium's --ignore-certificate-errors-spki-list)."""
    args = [DEV_CA, directory]
    for h in hosts:
        args += ["--host", h]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("scripts/dev-ca failed (%d): %s" % (r.returncode, r.stderr))
    out = {"dir": directory}
    for k, f in (("ca", "ca.crt"), ("cert", "server.crt"), ("key", "server.key")):
        out[k] = os.path.join(directory, f)
    with open(os.path.join(directory, "server.spki")) as f:
        out["spki"] = f.read().strip()
    return out


def mqtts_listener(port, cert, key, bind="127.0.0.1"):
    """The broker's MQTT over TLS listener, as scripts/stack writes it."""
    return ("\n# MQTT over TLS\nlistener %d %s\nprotocol mqtt\ncertfile %s\nkeyfile %s\n"
            % (port, bind, cert, key))


def _stack_use_tls(self, ca=None):
    """TLS on every listener of this stack; call before starting anything.
    A dev CA in <dir>/tls (or ca, a dev_ca() result), tls_cert/tls_key in
    hub.conf, free mqtts and wss ports. Returns the dev_ca dict (self.tls).
    The broker's TLS listener: start_broker_tls()."""
    self.tls = ca or dev_ca(os.path.join(self.dir, "tls"))
    acct = run_as_account()
    if acct:
        # the broker reads its files after its privilege drop
        os.chown(self.tls["key"], *acct)
    self.ports["mqtts"] = free_port()
    self.ports["wss"] = free_port()
    self.conf.update(tls_cert=self.tls["cert"], tls_key=self.tls["key"],
                     mqtts_port=self.ports["mqtts"], wss_port=self.ports["wss"])
    self.write_conf(self.conf)
    return self.tls


def _stack_start_broker_tls(self, extra="", debug=True):
    """The broker with the plain loopback listener and the TLS one."""
    proc = self.start_broker(mqtts_listener(self.ports["mqtts"], self.tls["cert"],
                                            self.tls["key"]) + extra, debug)
    wait_port(self.ports["mqtts"], 10, proc)
    return proc


def _stack_https(self, method, path, body=None, headers=None, cookie=None, port=None,
                 host="127.0.0.1", cafile=None, timeout=30, raw=None):
    """One HTTPS request, verified against cafile (default: this stack's
    dev CA). Raises ssl.SSLError when verification fails."""
    import ssl
    ctx = ssl.create_default_context(cafile=cafile or self.tls["ca"])
    conn = http.client.HTTPSConnection(host, port or self.ports["http"], timeout=timeout,
                                       context=ctx)
    hdrs = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if cookie:
        hdrs["Cookie"] = "hub_sid=" + cookie
    try:
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        return Response(r.status, [(k.lower(), v) for k, v in r.getheaders()], r.read())
    finally:
        conn.close()


def _stack_https_login(self, user, password="secret-pw"):
    """Log in over HTTPS; returns (cookie value, token, Set-Cookie header)."""
    r = self.https("POST", "/api/login", {"username": user, "password": password})
    if r.status != 200:
        raise RuntimeError("login %s failed: %r" % (user, r))
    for v in r.all_headers("set-cookie"):
        if v.startswith("hub_sid="):
            return v.split(";", 1)[0].split("=", 1)[1], r.json()["token"], v
    raise RuntimeError("no cookie in %r" % r.headers)


Stack.use_tls = _stack_use_tls
Stack.start_broker_tls = _stack_start_broker_tls
Stack.https = _stack_https
Stack.https_login = _stack_https_login
