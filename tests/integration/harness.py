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

    def broker_conf(self, extra=""):
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
        text += "\nlog_type debug\n" + extra
        with open(path, "w") as f:
            f.write(text)
        return path

    def prepare_data(self):
        """The data directory, owned by the account the broker switches to."""
        os.makedirs(self.data, exist_ok=True)
        acct = run_as_account()
        if acct:
            os.chown(self.data, *acct)

    def start_broker(self, extra=""):
        self.prepare_data()
        conf = self.broker_conf(extra)
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
