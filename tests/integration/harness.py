# SPDX-License-Identifier: MIT
"""Integration test harness: real hub processes on free loopback ports.

A Stack owns a temporary data directory and a generated hub.conf, starts
the real programs from the build tree (hubd, mosquitto with hub_auth.so,
hub-bridge) and stops them. Tests use plain stdlib HTTP and the real MQTT
clients. Run with Debian's /usr/bin/python3 (python3-paho-mqtt).

Environment: HUB_BUILD_DIR (default: <repo>/build), HUB_KEEP=1 keeps the
temporary directory for inspection.
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


def free_port():
    """A TCP port free on 127.0.0.1 right now (and, for the broker's
    WebSocket listener, which binds every interface, on the wildcard too)."""
    while True:
        s = socket.socket()
        s.bind(("0.0.0.0", 0))
        port = s.getsockname()[1]
        s.close()
        try:
            s6 = socket.socket(socket.AF_INET6)
            s6.bind(("::", port))
            s6.close()
        except OSError:
            continue
        return port


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
        proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
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
                .replace("listener 9001 ", "listener %d " % self.ports["ws"])
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
        conf = self.broker_conf(extra, debug)
        env_extra = sanitizer_preload()
        if env_extra:
            saved = dict(self.env)
            self.env.update(env_extra)
        try:
            return self.start("broker", ["mosquitto", "-c", conf], self.ports["mqtt"])
        finally:
            if env_extra:
                self.env = saved

    def token(self, user, ttl=None):
        args = ["token", user] + (["--ttl", str(ttl)] if ttl else [])
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
        """Run build/bin/hubctl with this stack's config; returns
        CompletedProcess with text stdout/stderr."""
        r = subprocess.run([os.path.join(BIN, "hubctl")] + [str(a) for a in args],
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
                timeout=10.0):
        """Returns the 'connect' or 'error' event (or None on timeout)."""
        self.send(op="connect", url="ws://127.0.0.1:%d/mqtt" % port, username=username,
                  password=password, protocolVersion=version, clientId=client_id,
                  keepalive=keepalive)
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
    prints the tail of the broker's log (log_type all)."""

    stack_conf = None
    broker_extra = "log_type all\n"

    @classmethod
    def prepare(cls, stack):
        pass

    @classmethod
    def setUpClass(cls):
        cls.stack = Stack(extra_conf=cls.stack_conf)
        try:
            cls.prepare(cls.stack)
            cls.stack.start_broker(cls.broker_extra)
        except Exception:
            print(cls.stack.broker_tail(), file=_sys.stderr)
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
    """unittest.main for a test_broker_*.py script (exit 1 on failure)."""
    _sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    _unittest.main(verbosity=2, warnings="ignore")
