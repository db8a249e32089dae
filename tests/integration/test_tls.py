#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""TLS on every listener (docs/tls.md, CONTRACT.md "TLS"), with
verification on in every client, against a dev CA made by scripts/dev-ca:

- hubd HTTPS (login, the Secure cookie, the session), WSS at /mqtt and on
  wss_port; hub-bridge HTTPS/WSS, also through hubd's /socket.io/ relay;
  the broker's MQTT over TLS with mosquitto_pub/sub --cafile and a token;
  MQTT.js over wss:// with its ca option; socket.io-client with ca;
  hub-tracker --cafile; Chromium trusting the one server key
  (--ignore-certificate-errors-spki-list: a pin of that key, not "ignore
  every error") logs in on the dashboard and gets live messages over WSS;
- a client with the wrong CA fails verification; a plain-text client on a
  TLS port gets nothing, and the services keep serving;
- a bad tls_cert/tls_key stops hubd and hub-bridge with exit status 2 and a
  clear line, without key material, before anything listens;
- behind a reverse proxy (trust_proxy): X-Forwarded-For counts from the
  trusted_proxies only; a forged one from another peer is ignored (hubd's
  login limiter, hub-bridge's per-address quota).
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BIN, wait_until  # noqa: E402

PW = "secret-pw"


def run(argv, timeout=20, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


class TlsMqttClient(harness.MqttClient):
    """harness.MqttClient over TLS on paho's own network thread
    (loop_start): every TLS write happens there. (The harness's loop thread
    plus writes from the test's thread would be two writers on one TLS
    connection: OpenSSL's "bad length".)"""

    def __init__(self, port, user, password, ca, host="127.0.0.1", version=5):
        super().__init__(port, user, password, version=version, host=host)
        self.c.tls_set(ca_certs=ca)

    def connect(self, timeout=5.0):
        if self.version == 5:
            self.c.connect(self.host, self.port, self.keepalive, clean_start=True)
        else:
            self.c.connect(self.host, self.port, self.keepalive)
        self.c.loop_start()
        with self.cond:
            self.cond.wait_for(lambda: self.connack is not None or self.disconnected_at,
                               timeout)
            return self.connack

    def close(self):
        try:
            self.c.disconnect()
        finally:
            self.c.loop_stop()


def tls_mqtt(stack, user, token, ca=None, host="127.0.0.1", version=5):
    """A paho client over the broker's TLS listener, verified against ca."""
    return TlsMqttClient(stack.ports["mqtts"], user, token, ca or stack.tls["ca"], host=host,
                         version=version)


def plain_probe(port, data, wait=3.0):
    """Send clear text to a TLS port; returns what came back before the
    server closed (or the wait ended)."""
    got = b""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(data)
        deadline = time.time() + wait
        try:
            while time.time() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except (socket.timeout, ConnectionResetError):
            pass
    return got


def loopback_alias():
    """A name of this machine for 127.0.0.1 other than localhost, or None."""
    for name in (socket.gethostname(), "localhost.localdomain"):
        try:
            if name and name != "localhost" and socket.gethostbyname(name) == "127.0.0.1":
                return name
        except OSError:
            pass
    return None


class TlsStack(unittest.TestCase):
    """One stack with TLS on every listener; tests run in order."""

    @classmethod
    def setUpClass(cls):
        if not harness.hubd_built() or not os.path.exists(os.path.join(BIN, "hub-bridge")):
            raise unittest.SkipTest("hubd / hub-bridge not built")
        cls.s = harness.Stack()
        try:
            cls.tls = cls.s.use_tls()
            cls.s.add_user("alice", PW, rooms={"lobby": "write"})
            cls.s.add_user("bob", PW, rooms={"lobby": "write"})
            cls.s.start_hubd()
            cls.s.start_broker_tls()
            cls.s.start_bridge()
            harness.wait_port(cls.s.ports["wss"], 10)
            with open(cls.tls["ca"]) as f:
                cls.ca_pem = f.read()
            cls.other = harness.dev_ca(os.path.join(cls.s.dir, "other-ca"))
        except Exception:
            print(cls.s.broker_tail(), file=sys.stderr)
            cls.s.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def setUp(self):
        self._owned = []

    def tearDown(self):
        for c in reversed(self._owned):
            try:
                c.close()
            except Exception:
                pass

    def own(self, c):
        self._owned.append(c)
        return c

    def url(self, port_name, scheme="https", host="127.0.0.1", path=""):
        return "%s://%s:%d%s" % (scheme, host, self.s.ports[port_name], path)

    def curl_login(self, cafile, host="127.0.0.1"):
        return run(["curl", "-sS", "-D", "-", "-o", "/dev/null", "--cacert", cafile,
                    "-H", "content-type: application/json",
                    "-d", json.dumps({"username": "alice", "password": PW}),
                    self.url("http", host=host, path="/api/login")])

    # ---- hubd --------------------------------------------------------------
    def test_01_https_login_secure_cookie(self):
        for host in ("127.0.0.1", "localhost"):
            r = self.curl_login(self.tls["ca"], host)
            self.assertEqual(r.returncode, 0, r.stderr)
            # HTTP/1.1, as in clear text (no h2 offered)
            self.assertRegex(r.stdout, r"^HTTP/1\.1 200")
            cookie = [l for l in r.stdout.splitlines() if l.lower().startswith("set-cookie:")]
            self.assertEqual(len(cookie), 1, r.stdout)
            self.assertRegex(cookie[0], r"hub_sid=[^;]+; HttpOnly; SameSite=Lax; Path=/; "
                                        r"Max-Age=\d+; Secure$")
        cookie, token, _ = self.s.https_login("alice", PW)
        r = self.s.https("GET", "/api/session", cookie=cookie)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["user"]["username"], "alice")
        # the page's origin is https: a cookie POST from it passes the
        # same-origin check, one from the http origin does not
        own = "https://127.0.0.1:%d" % self.s.ports["http"]
        r = self.s.https("POST", "/api/token", body={}, cookie=cookie, headers={"Origin": own})
        self.assertEqual(r.status, 200, r)
        r = self.s.https("POST", "/api/token", body={}, cookie=cookie,
                         headers={"Origin": own.replace("https", "http")})
        self.assertEqual(r.status, 403, r)
        # the dashboard's CSP names the secure schemes only
        csp = self.s.https("GET", "/").header("content-security-policy")
        self.assertIn("wss://127.0.0.1:%d" % self.s.ports["wss"], csp)
        self.assertIn("https://127.0.0.1:%d" % self.s.ports["sio"], csp)
        self.assertNotIn("ws://", csp)
        self.assertNotIn("http://", csp)
        # pages elsewhere learn the TLS ports
        cfg = self.s.https("GET", "/api/config").json()
        self.assertEqual((cfg["tls"], cfg["mqtt_ws_port"], cfg["mqtts_port"]),
                         (True, self.s.ports["wss"], self.s.ports["mqtts"]))
        # the clear-text ws_port is not opened under TLS
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", self.s.ports["ws"]), timeout=1).close()
        self.assertIn("tls=on", self.s.log("hubd"))

    def test_02_wrong_ca_fails_verification(self):
        # another CA, the system's CAs: curl refuses (60: peer certificate)
        r = self.curl_login(self.other["ca"])
        self.assertEqual(r.returncode, 60, r.stderr)
        r = run(["curl", "-sS", self.url("http", path="/healthz")])
        self.assertEqual(r.returncode, 60, r.stderr)
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.s.https("GET", "/healthz", cafile=self.other["ca"])
        # a name the certificate does not carry
        ctx = ssl.create_default_context(cafile=self.tls["ca"])
        with socket.create_connection(("127.0.0.1", self.s.ports["http"]), timeout=5) as raw:
            with self.assertRaises(ssl.SSLCertVerificationError) as cm:
                ctx.wrap_socket(raw, server_hostname="hub.example.com")
            self.assertIn("Hostname mismatch", str(cm.exception))
        # nothing of that reached a route; hubd serves on
        self.assertEqual(self.s.https("GET", "/healthz").status, 200)

    # ---- the broker --------------------------------------------------------
    def test_03_mosquitto_pub_sub_over_tls(self):
        _, token, _ = self.s.https_login("alice", PW)
        base = ["--cafile", self.tls["ca"], "-p", str(self.s.ports["mqtts"]), "-u", "alice",
                "-P", token, "-V", "mqttv311"]
        # a retained room event, then a subscriber that gets it: both over
        # TLS, by address and by name (the certificate carries both)
        for host in ("127.0.0.1", "localhost"):
            pinned = json.dumps({"content": "pinned via " + host})
            r = run(["mosquitto_pub", "-h", host] + base +
                    ["-t", "rooms/lobby/ev/pinned/alice", "-r", "-q", "1", "-m", pinned])
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run(["mosquitto_sub", "-h", host] + base +
                    ["-t", "rooms/lobby/ev/pinned/alice", "-C", "1", "-W", "10"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), pinned)
        # a room event from mosquitto_pub reaches bob's paho over TLS
        _, btoken, _ = self.s.https_login("bob", PW)
        bob = self.own(tls_mqtt(self.s, "bob", btoken))
        self.assertEqual(bob.connect(), 0)
        bob.sub(["rooms/lobby/ev/#"])
        r = run(["mosquitto_pub", "-h", "127.0.0.1"] + base +
                ["-t", "rooms/lobby/ev/chat/alice", "-q", "1", "-m", "over tls"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIsNotNone(bob.wait_msg("rooms/lobby/ev/chat/alice", timeout=5))
        # the token is still a token: a wrong one is refused (5)
        r = run(["mosquitto_pub", "-h", "127.0.0.1"] + base[:-4] +
                ["-u", "alice", "-P", token[:-2] + "xx", "-V", "mqttv311",
                 "-t", "users/alice/status", "-m", "x"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not authori", r.stderr.lower())
        # another CA: the handshake fails, nothing is sent
        r = run(["mosquitto_pub", "-h", "127.0.0.1", "--cafile", self.other["ca"],
                 "-p", str(self.s.ports["mqtts"]), "-u", "alice", "-P", token,
                 "-t", "users/alice/status", "-m", "x"])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("TLS error", r.stderr)
        self.assertTrue(self.s.wait_log("broker", "alert unknown ca", timeout=5),
                        self.s.broker_tail(10))

    def test_04_mqttjs_over_wss(self):
        _, token, _ = self.s.https_login("alice", PW)
        _, btoken, _ = self.s.https_login("bob", PW)
        bob = self.own(tls_mqtt(self.s, "bob", btoken))
        self.assertEqual(bob.connect(), 0)
        bob.sub(["rooms/lobby/ev/#"])
        for n, url in enumerate((self.url("wss", "wss", path="/"),
                                 self.url("http", "wss", path="/mqtt"))):
            ws = self.own(harness.WsClient(os.path.join(self.s.dir, "mqttjs.log")))
            ev = ws.connect(0, "alice", token, version=5, url=url, ca=self.tls["ca"])
            self.assertEqual(ev and ev["ev"], "connect", ev)
            ack = ws.pub("rooms/lobby/ev/wss/alice", "hello %d" % n, qos=1)
            self.assertIsNone(ack["error"], ack)
            m = bob.wait_msg("rooms/lobby/ev/wss/alice", timeout=5,
                             pred=lambda m, n=n: m[1] == b"hello %d" % n)
            self.assertIsNotNone(m, url)
            ws.close()
        # no ca: Node's own CAs do not know the dev CA
        ws = self.own(harness.WsClient())
        ev = ws.connect(0, "alice", token, url=self.url("wss", "wss", path="/"))
        self.assertIsNotNone(ev)
        self.assertNotEqual(ev["ev"], "connect", ev)

    # ---- hub-bridge --------------------------------------------------------
    def test_05_socketio_over_https(self):
        _, token, _ = self.s.https_login("alice", PW)
        _, btoken, _ = self.s.https_login("bob", PW)
        bob = self.own(tls_mqtt(self.s, "bob", btoken))
        self.assertEqual(bob.connect(), 0)
        bob.sub(["rooms/lobby/ev/#"])
        # the gateway's own port, and hubd's origin (its relay to the
        # gateway is TLS too, pinned to the certificate)
        for port in ("sio", "http"):
            c = self.own(harness.SioClient(self.url(port), {"auth": {"token": token},
                                                            "ca": self.ca_pem}, name=port))
            e = c.wait("connect", timeout=10)
            self.assertTrue(e["id"], e)
            c.wait("upgrade", timeout=10)
            err, args = c.call("chat message", {"room": "lobby", "content": "via " + port})
            self.assertIsNone(err, args)
            self.assertIsNotNone(bob.wait_msg(
                "rooms/lobby/ev/chat message/alice", timeout=5,
                pred=lambda m, port=port: json.loads(m[1])["content"] == "via " + port))
            c.close()
        # without the dev CA the client does not connect
        c = self.own(harness.SioClient(self.url("sio"), {"auth": {"token": token},
                                                         "reconnection": False}))
        e = c.wait("connect_error", timeout=10)
        self.assertNotIn("unauthorized", e["message"])

    # ---- hub-tracker --------------------------------------------------------
    def test_06_tracker_over_tls(self):
        secret = self.s.device_add("truck7", "alice", room="lobby")
        _, token, _ = self.s.https_login("alice", PW)
        sub = self.own(tls_mqtt(self.s, "alice", token))
        self.assertEqual(sub.connect(), 0)
        sub.sub(["owntracks/truck7/#"])
        env = dict(self.s.env, HUB_TRACKER_SECRET=secret)
        base = [os.path.join(BIN, "hub-tracker"), "--device", "truck7", "--once"]
        # by name and by address; the port is the config's mqtts_port
        for host in ("localhost", "127.0.0.1"):
            r = run(base + ["--cafile", self.tls["ca"], "--host", host], env=env, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("tls=on", r.stdout + r.stderr)
            self.assertIn(":%d " % self.s.ports["mqtts"], r.stdout + r.stderr)
            self.assertIsNotNone(sub.wait_msg("owntracks/truck7/tracker", timeout=5), host)
            sub.take("owntracks/truck7/tracker")
        # another CA, a name the certificate lacks (when this machine has a
        # name for 127.0.0.1 besides localhost): refused, and said why
        cases = [(self.other["ca"], "localhost", "unable to get local issuer")]
        alias = loopback_alias()
        if alias:
            cases.append((self.tls["ca"], alias, "hostname mismatch"))
        for ca, host, why in cases:
            r = run(base + ["--cafile", ca, "--host", host, "--duration", "3"], env=env,
                    timeout=60)
            out = r.stdout + r.stderr
            self.assertNotEqual(r.returncode, 0, out)
            self.assertIn("the broker's certificate is refused", out)
            self.assertIn(why, out)
        self.assertEqual(sub.take("owntracks/truck7/tracker"), [])

    # ---- libhubclient --------------------------------------------------------
    def test_09_libhubclient_over_tls(self):
        from test_hubio_c import CClient
        _, token, _ = self.s.https_login("alice", PW)
        _, btoken, _ = self.s.https_login("bob", PW)
        bob = self.own(tls_mqtt(self.s, "bob", btoken))
        self.assertEqual(bob.connect(), 0)
        bob.sub(["rooms/lobby/ev/#"])
        tls = ("--port", str(self.s.ports["mqtts"]), "--host", "localhost")
        # the caller's own loop (poll on hubio_socket) and the library's thread
        for thread in (False, True):
            c = self.own(CClient(self.s, "alice", token=token, thread=thread,
                                 extra=tls + ("--cafile", self.tls["ca"])))
            self.assertIsNotNone(c.connect(timeout=10), "thread=%s" % thread)
            data = json.dumps({"thread": thread})
            self.assertEqual(c.cmd("emit", room="lobby", event="c-tls", data=data,
                                   timeout=5000)["rc"], 0)
            m = bob.wait_msg("rooms/lobby/ev/c-tls/alice", timeout=5)
            self.assertIsNotNone(m)
            self.assertEqual(json.loads(m[1]), {"thread": thread})
            c.close()
        # another CA: never connected, the attempts fail
        c = self.own(CClient(self.s, "alice", token=token, extra=tls + (
            "--cafile", self.other["ca"])))
        self.assertEqual(c.cmd("connect")["rc"], 0)
        self.assertIsNone(c.wait("connect", 3))
        # a CA file that is not there: hubio_tls_set refuses it
        r = run([os.path.join(harness.BUILD, "tests", "integration", "hubio_driver"),
                 "--user", "alice", "--token", token, "--cafile", "/nonexistent/ca.crt"],
                input="", env=self.s.env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("hubio_tls_set", r.stderr)

    # ---- Node: the server SDK and hubio.js -----------------------------------
    def test_10_node_sdk_and_hubio_over_tls(self):
        key = self.s.servicekey("echo")
        _, token, _ = self.s.https_login("alice", PW)
        args = {"mqtts": "mqtts://localhost:%d" % self.s.ports["mqtts"],
                "wss": "wss://localhost:%d/mqtt" % self.s.ports["http"],
                "https": "https://localhost:%d" % self.s.ports["http"],
                "ca": self.tls["ca"], "service": "echo", "key": key, "user": "alice",
                "token": token}
        r = run(["node", os.path.join(harness.REPO, "tests", "integration", "js", "tls_node.mjs"),
                 json.dumps(args)], timeout=90, cwd=harness.REPO)
        steps = {}
        for line in r.stdout.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            steps[e["step"]] = e
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for step in ("sdk-connect", "hubio-connect", "call", "publish", "hubio-no-ca",
                     "sdk-no-ca", "https-no-ca"):
            self.assertTrue(steps.get(step, {}).get("ok"), "%s: %s" % (step, steps.get(step)))
        # the refusals were the certificate's
        for step in ("hubio-no-ca", "sdk-no-ca", "https-no-ca"):
            self.assertRegex(steps[step]["error"], r"(?i)certificate|self.signed|issuer", step)

    # ---- the Python example backend ----------------------------------------
    def test_11_python_backend_over_tls(self):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        key = self.s.servicekey("py")
        env = dict(self.s.env, HUB_SERVICE_KEY=key)
        backend = os.path.join(harness.REPO, "examples", "python", "backend.py")
        p = subprocess.Popen([sys.executable, backend, "--service", "py", "--host", "localhost",
                              "--port", str(self.s.ports["mqtts"]), "--cafile", self.tls["ca"]],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        try:
            line = p.stdout.readline()
            self.assertEqual(line.strip(), "serving as py")
            _, token, _ = self.s.https_login("alice", PW)
            a = self.own(tls_mqtt(self.s, "alice", token))
            self.assertEqual(a.connect(), 0)
            a.sub(["users/alice/reply/#"])
            props = Properties(PacketTypes.PUBLISH)
            props.ResponseTopic = "users/alice/reply/t1"
            props.CorrelationData = b"c1"
            a.c.publish("svc/py/order/alice", json.dumps({"item": "tea", "qty": 2}), qos=1,
                        properties=props)
            m = a.wait_msg("users/alice/reply/t1", timeout=10)
            self.assertIsNotNone(m)
            answer = json.loads(m[1])
            self.assertEqual((answer["ok"], answer["item"], answer["by"]), (True, "tea", "alice"))
        finally:
            p.terminate()
            p.wait(10)
            p.stdout.close()

    # ---- clear text on TLS ports ------------------------------------------
    def test_07_plain_text_on_tls_ports(self):
        connect = bytes([0x10, 0x10, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 4]) + b"abcd"
        http = ("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode()
        for port, data in (("mqtts", connect), ("http", http), ("wss", http), ("sio", http)):
            got = plain_probe(self.s.ports[port], data)
            # nothing but (at most) a TLS alert record
            self.assertFalse(got.startswith(b"HTTP/") or got.startswith(b"\x20"),
                             "%s answered clear text: %r" % (port, got[:40]))
            self.assertTrue(got == b"" or got[0] == 0x15, "%s: %r" % (port, got[:40]))
        # everything still serves
        self.assertEqual(self.s.https("GET", "/healthz").status, 200)
        _, token, _ = self.s.https_login("alice", PW)
        c = self.own(tls_mqtt(self.s, "alice", token))
        self.assertEqual(c.connect(), 0)
        for name in ("hubd", "broker", "bridge"):
            self.assertIsNone(self.s.procs[name].poll(), name)

    # ---- session resumption ------------------------------------------------
    def test_12_sessions_resume(self):
        """A client that keeps its TLS session (browsers, Python, Node)
        pays the full handshake once: every listener resumes it (TLS 1.3
        tickets), so a reconnect costs a fraction of a handshake."""
        connect = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 60, 0, 0])
        http = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
        ctx = ssl.create_default_context(cafile=self.tls["ca"])
        for port, data in (("http", http), ("wss", http), ("sio", http), ("mqtts", connect)):
            sess, reused = None, []
            for _ in range(3):
                with socket.create_connection(("127.0.0.1", self.s.ports[port]),
                                              timeout=10) as raw:
                    with ctx.wrap_socket(raw, server_hostname="localhost",
                                         session=sess) as t:
                        t.sendall(data)
                        # the answer (HTTP or CONNACK) comes after the
                        # server's session tickets
                        self.assertTrue(t.recv(4096), port)
                        self.assertEqual(t.version(), "TLSv1.3", port)
                        reused.append(t.session_reused)
                        sess = t.session
            self.assertEqual(reused, [False, True, True], port)

    # ---- bad TLS configuration ---------------------------------------------
    def test_08_bad_tls_config_exit_2(self):
        d = os.path.join(self.s.dir, "bad")
        os.makedirs(d, exist_ok=True)
        world = os.path.join(d, "world.key")
        with open(self.tls["key"], "rb") as f, open(world, "wb") as g:
            g.write(f.read())
        os.chmod(world, 0o644)
        enc = os.path.join(d, "secret.key")
        r = run(["openssl", "pkey", "-in", self.tls["key"], "-aes256", "-passout",
                 "pass:correct horse", "-out", enc])
        self.assertEqual(r.returncode, 0, r.stderr)
        os.chmod(enc, 0o600)
        cases = [
            ({"tls_key": os.path.join(d, "missing.key")}, "cannot read it (No such file"),
            ({"tls_key": self.other["key"]}, "does not belong to the certificate"),
            ({"tls_key": ""}, "tls_cert is set but tls_key is not"),
            ({"tls_key": world}, "readable or writable by every account"),
            ({"tls_key": enc}, "protected by a passphrase"),
            ({"tls_cert": self.tls["key"]}, "no PEM certificate"),
        ]
        for change, says in cases:
            for prog in ("hubd", "hub-bridge"):
                conf = dict(self.s.conf, http_port=harness.free_port(),
                            wss_port=harness.free_port(), sio_port=harness.free_port(),
                            log_level="debug")
                conf.update(change)
                path = os.path.join(d, "hub.conf")
                with open(path, "w") as f:
                    for k, v in conf.items():
                        f.write("%s = %s\n" % (k, v))
                env = dict(self.s.env, HUB_CONFIG=path)
                t0 = time.time()
                r = run([os.path.join(BIN, prog)], env=env, stdin=subprocess.DEVNULL)
                out = r.stdout + r.stderr
                self.assertEqual(r.returncode, 2, "%s %s: %s" % (prog, change, out))
                self.assertIn(says, out, prog)
                self.assertLess(time.time() - t0, 10, "%s waited (a passphrase prompt?)" % prog)
                self.assertNotIn("PRIVATE", out)
                self.assertNotIn("BEGIN", out)
                self.assertNotIn("correct horse", out)
                self.assertNotIn("msg=listening", out)


def peer_fingerprint(port, ca, host="localhost"):
    """SHA-256 of the certificate a listener serves, verified against ca."""
    import hashlib
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as t:
            return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()


class TlsReload(unittest.TestCase):
    """SIGHUP: hubd and hub-bridge serve a renewed certificate to new
    connections without a restart; live connections stay; a bad file keeps
    the certificate in use."""

    def renew(self, s):
        # same CA, a new server key and certificate (dev-ca keeps the CA)
        for f in ("server.crt", "server.key"):
            os.unlink(os.path.join(s.tls["dir"], f))
        harness.dev_ca(s.tls["dir"])
        acct = harness.run_as_account()
        if acct:
            os.chown(s.tls["key"], *acct)

    def hup_and_wait(self, s, needle, count):
        for name in ("hubd", "bridge"):
            s.procs[name].send_signal(signal.SIGHUP)
        for name in ("hubd", "bridge"):
            self.assertTrue(wait_until(lambda n=name: s.log(n).count(needle) >= count, 10),
                            "%s did not log %r:\n%s" % (name, needle, s.log(name)[-2000:]))

    def test_01_sighup_reloads_the_certificate(self):
        with harness.Stack() as s:
            tls = s.use_tls()
            s.add_user("alice", PW, rooms={"lobby": "write"})
            s.start_hubd()
            s.start_broker_tls()
            s.start_bridge()
            with open(tls["ca"]) as f:
                ca_pem = f.read()
            before = {p: peer_fingerprint(s.ports[p], tls["ca"]) for p in ("http", "sio")}
            self.assertEqual(before["http"], before["sio"])
            # a connection made before the reload, kept alive across it
            import http.client
            ctx = ssl.create_default_context(cafile=tls["ca"])
            live = http.client.HTTPSConnection("localhost", s.ports["http"], context=ctx,
                                               timeout=10)
            live.request("GET", "/healthz")
            r = live.getresponse()
            r.read()
            self.assertEqual(r.status, 200)

            self.renew(s)
            self.hup_and_wait(s, "msg=\"tls reloaded\"", 1)
            after = {p: peer_fingerprint(s.ports[p], tls["ca"]) for p in ("http", "sio")}
            self.assertNotEqual(after["http"], before["http"])
            self.assertEqual(after["http"], after["sio"])
            # the live connection still works, on its old session
            live.request("GET", "/healthz")
            r = live.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            live.close()
            # hubd's relay to hub-bridge trusts the new certificate
            _, token, _ = s.https_login("alice", PW)
            c = harness.SioClient("https://127.0.0.1:%d" % s.ports["http"],
                                  {"auth": {"token": token}, "ca": ca_pem}, name="relay")
            try:
                e = c.wait("connect", timeout=10)
                self.assertTrue(e["id"], e)
            finally:
                c.close()

            # a broken certificate file: the one in use stays, nothing ends
            with open(tls["cert"], "w") as f:
                f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n")
            self.hup_and_wait(s, "the certificate in use is kept", 1)
            for p in ("http", "sio"):
                self.assertEqual(peer_fingerprint(s.ports[p], tls["ca"]), after["http"])
            for name in ("hubd", "bridge"):
                self.assertIsNone(s.procs[name].poll(), name + " ended")
                self.assertNotIn("BEGIN", s.log(name))

    def test_02_sighup_without_tls_ends_nothing(self):
        with harness.Stack() as s:
            s.start_hubd()
            s.start_broker()
            s.start_bridge()
            self.hup_and_wait(s, "TLS is off, nothing to reload", 1)
            for name in ("hubd", "bridge"):
                self.assertIsNone(s.procs[name].poll(), name + " ended")
            r = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}",
                     "http://127.0.0.1:%d/healthz" % s.ports["http"]])
            self.assertEqual(r.stdout, "200")


class TlsBrowser(unittest.TestCase):
    """Chromium on the dashboard over HTTPS and WSS. It trusts the one
    server key of the dev CA (--ignore-certificate-errors-spki-list: a pin
    of that key, which is verification of that key; every other certificate
    error stays an error)."""

    @classmethod
    def setUpClass(cls):
        if not harness.hubd_built() or not harness.web_built():
            raise unittest.SkipTest("hubd or the dashboard is not built")
        if not harness.browser_available():
            raise unittest.SkipTest("needs /usr/bin/chromium and node_modules/playwright-core")
        cls.s = harness.Stack()
        cls.browser = None
        try:
            cls.tls = cls.s.use_tls()
            cls.s.hubctl("user", "add", "alice", "--display", "Alice Ops", "--password-stdin",
                         input=PW + "\n")
            cls.s.hubctl("room", "add", "lobby", check=False)
            cls.s.hubctl("grant", "lobby", "alice", "write")
            cls.s.add_user("bob", PW, rooms={"lobby": "write"})
            cls.s.use_web(test_pages=False)
            cls.s.start_broker_tls()
            cls.s.start_hubd()
            cls.browser = harness.Browser(
                os.path.join(cls.s.dir, "chromium.log"),
                extra_args=["--ignore-certificate-errors-spki-list=" + cls.tls["spki"]])
        except Exception:
            if cls.browser:
                cls.browser.close()
            cls.s.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.browser.close()
        cls.s.close()

    def wait_js(self, page, fn, timeout=10.0, msg=None):
        try:
            return self.browser.wait(page, fn, timeout=timeout)
        except harness.BrowserError as e:
            print("---- browser ----\n%s\n---- hubd ----\n%s" % (
                "\n".join("%s: %s" % (m.get("ev"), m.get("text")) for m in self.browser.log[-30:]),
                "\n".join(self.s.log("hubd").splitlines()[-20:])), file=sys.stderr)
            self.fail("%s (%s)" % (msg or fn, e))

    def test_01_dashboard_over_https_and_wss(self):
        b = self.browser
        base = "https://localhost:%d" % self.s.ports["http"]
        p = b.page("alice")
        r = b.goto(p, base + "/")
        self.assertEqual(r["status"], 200)
        self.assertIn("wss://", r["headers"].get("content-security-policy", ""))
        self.wait_js(p, "() => !document.getElementById('login-view').hidden", msg="no login form")
        b.cmd("fill", page=p, selector="#login-username", value="alice")
        b.cmd("fill", page=p, selector="#login-password", value=PW)
        b.cmd("click", page=p, selector="#login-submit")
        # MQTT over WebSocket at this origin's /mqtt: wss://, by the cookie
        self.wait_js(p, "() => document.getElementById('conn').dataset.state === 'connected'",
                     msg="the dashboard did not connect over wss://")
        self.assertEqual(b.eval(p, "() => location.protocol"), "https:")
        # the session cookie is HttpOnly (not in document.cookie) and went
        # with the WebSocket upgrade (hubd's front took it)
        self.assertNotIn("hub_sid", b.eval(p, "() => document.cookie"))
        self.assertTrue(self.s.wait_log("hubd", 'msg="websocket connect" user=alice via=cookie',
                                        timeout=5))
        b.eval(p, "() => document.querySelector('#room-list [data-room=\"lobby\"]').click()")
        # a live message from bob (paho over MQTT/TLS) shows up, and
        # alice's answer goes out over wss:// to bob
        _, btoken, _ = self.s.https_login("bob", PW)
        bob = tls_mqtt(self.s, "bob", btoken)
        try:
            self.assertEqual(bob.connect(), 0)
            bob.sub(["rooms/lobby/ev/#"])
            bob.pub("rooms/lobby/ev/chat message/bob",
                    json.dumps({"content": "hello over wss"}), qos=1)
            self.wait_js(p, "() => [...document.querySelectorAll('#messages li .text')]"
                            ".some((t) => t.textContent.includes('hello over wss'))",
                         msg="bob's message did not arrive")
            b.cmd("fill", page=p, selector="#composer-input", value="hi bob, over wss")
            b.cmd("press", page=p, selector="#composer-input", key="Enter")
            m = bob.wait_msg("rooms/lobby/ev/chat message/alice", timeout=10)
            self.assertIsNotNone(m)
            self.assertEqual(json.loads(m[1])["content"], "hi bob, over wss")
        finally:
            bob.close()
        self.assertEqual(b.errors(p), [])

    def test_02_other_certificates_still_refused(self):
        """The pin covers the dev server key only: a server with another
        certificate (another dev CA's, with the right name) is refused."""
        import http.server
        import threading
        other = harness.dev_ca(os.path.join(self.s.dir, "other-ca"))
        srv = http.server.HTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(other["cert"], other["key"])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            p = self.browser.page("other")
            with self.assertRaises(harness.BrowserError) as cm:
                self.browser.goto(p, "https://localhost:%d/" % srv.server_address[1])
            self.assertIn("ERR_CERT_AUTHORITY_INVALID", str(cm.exception))
        finally:
            srv.shutdown()
            srv.server_close()


class StackTls(unittest.TestCase):
    """`make run TLS=1` is scripts/stack with HUB_STACK_TLS=1: a dev CA in
    the data directory, every listener on TLS, the trackers over TLS."""

    def test_01_stack_start_tls(self):
        h = harness.Stack()
        for k in ("mqtts", "wss"):
            h.ports[k] = harness.free_port()
        p = h.ports
        env = dict(h.env, HUB_BUILD_DIR=harness.BUILD, HUB_DATA_DIR=h.data,
                   HUB_HTTP_PORT=str(p["http"]), HUB_MQTT_PORT=str(p["mqtt"]),
                   HUB_WS_PORT=str(p["ws"]), HUB_SIO_PORT=str(p["sio"]),
                   HUB_MQTTS_PORT=str(p["mqtts"]), HUB_WSS_PORT=str(p["wss"]),
                   HUB_STACK_DIR=os.path.join(h.dir, "state"),
                   HUB_LOG_DIR=os.path.join(h.dir, "logs"), HUB_STACK_TLS="1")
        stack = os.path.join(harness.REPO, "scripts", "stack")
        try:
            r = run([stack, "start"], env=env, timeout=120, start_new_session=True,
                    stdin=subprocess.DEVNULL)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(os.path.join(h.data, "demo-login.txt")) as f:
                demo = dict(l.strip().split("=", 1) for l in f if "=" in l)
            ca = os.path.join(h.data, "tls", "ca.crt")
            key = os.path.join(h.data, "tls", "server.key")
            self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
            self.assertIn("https://localhost:%d/" % p["http"], r.stdout)
            self.assertIn("mqtts://localhost:%d" % p["mqtts"], r.stdout)
            self.assertIn("wss://localhost:%d" % p["wss"], r.stdout)
            self.assertIn("demo login:  %s / %s" % (demo["username"], demo["password"]),
                          r.stdout)
            self.assertIn(ca, r.stdout)
            # the banner's curl line works as printed
            login = run(["curl", "-sS", "-D", "-", "--cacert", ca, "-H",
                         "content-type: application/json", "-d",
                         json.dumps({"username": demo["username"],
                                     "password": demo["password"]}),
                         "https://localhost:%d/api/login" % p["http"]])
            self.assertEqual(login.returncode, 0, login.stderr)
            self.assertRegex(login.stdout, r"(?m)^set-cookie: hub_sid=.*; Secure\s*$")
            token = json.loads(login.stdout.split("\n\n", 1)[1])["token"]
            # the demo trackers drive over TLS, verified against the dev CA
            c = TlsMqttClient(p["mqtts"], demo["username"], token, ca, host="localhost")
            try:
                self.assertEqual(c.connect(), 0)
                c.sub(["owntracks/+/+"])
                self.assertIsNotNone(c.wait_msg("owntracks/+/+", timeout=15))
            finally:
                c.close()
            with open(os.path.join(h.dir, "logs", "trackers.log")) as f:
                self.assertIn("tls=on", f.read())
            # what listens: the broker's clear-text port stays (loopback, for
            # the hub's own processes) beside its TLS one; hubd opens
            # http_port and wss_port, not the clear-text ws_port
            def listens(name):
                with open(os.path.join(h.dir, "state", name + ".pid")) as f:
                    pid = int(f.read().split()[0])
                return {port for _, addr, port in harness.listening_of(pid)
                        if addr == "0100007F"}
            self.assertEqual(listens("broker"), {p["mqtt"], p["mqtts"]})
            self.assertEqual(listens("hubd"), {p["http"], p["wss"]})
            self.assertEqual(listens("bridge"), {p["sio"]})
        finally:
            run([stack, "stop"], env=env, timeout=120, start_new_session=True,
                stdin=subprocess.DEVNULL)
            h.close()


class InstallTls(unittest.TestCase):
    """scripts/install with HUB_TLS_CERT/HUB_TLS_KEY: hub.conf and
    mosquitto.conf for TLS on every listener, and the installed programs
    serve with them (started by hand here; docs/deploy.md has the units)."""

    def test_01_install_with_tls(self):
        import pwd
        if os.geteuid() != 0:
            self.skipTest("scripts/install needs root")
        try:
            acct = pwd.getpwnam("mosquitto")
        except KeyError:
            self.skipTest("no mosquitto account")
        h = harness.Stack()
        procs = []
        try:
            root = os.path.join(h.dir, "root")
            etc, state = root + "/etc/hub", root + "/var/lib/hub"
            tls = harness.dev_ca(os.path.join(root, "tls"))
            ports = {k: harness.free_port() for k in ("http", "mqtt", "sio", "mqtts", "wss")}
            env = dict(os.environ, HUB_HTTP_PORT=str(ports["http"]),
                       HUB_MQTT_PORT=str(ports["mqtt"]), HUB_SIO_PORT=str(ports["sio"]),
                       HUB_MQTTS_PORT=str(ports["mqtts"]), HUB_WSS_PORT=str(ports["wss"]),
                       HUB_TLS_CERT=tls["cert"], HUB_TLS_KEY=tls["key"])
            argv = [os.path.join(harness.REPO, "scripts", "install"), "--prefix", root + "/usr",
                    "--sysconfdir", etc, "--statedir", state, "--unitdir", root + "/units",
                    "--user", "mosquitto", "--build", harness.BUILD]
            # a key every account may read, one the account cannot read: refused
            os.chmod(tls["key"], 0o644)
            r = run(argv, env=env, timeout=300)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("readable by every account", r.stderr)
            os.chmod(tls["key"], 0o600)
            r = run(argv, env=env, timeout=300)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("cannot read", r.stderr)
            os.chown(tls["key"], 0, acct.pw_gid)
            os.chmod(tls["key"], 0o640)
            r = run(argv, env=env, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            with open(etc + "/hub.conf") as f:
                conf = f.read()
            for line in ("tls_cert = " + tls["cert"], "tls_key = " + tls["key"],
                         "mqtts_port = %d" % ports["mqtts"], "wss_port = %d" % ports["wss"]):
                self.assertIn("\n" + line + "\n", conf)
            with open(etc + "/mosquitto.conf") as f:
                mconf = f.read()
            self.assertEqual(mconf.count("\nlistener "), 2, mconf)
            for line in ("listener %d 127.0.0.1" % ports["mqtt"],
                         "listener %d 127.0.0.1\nprotocol mqtt\ncertfile %s\nkeyfile %s"
                         % (ports["mqtts"], tls["cert"], tls["key"])):
                self.assertIn("\n" + line + "\n", mconf)
            # the installed programs with that configuration
            run_env = {"PATH": "/usr/bin:/bin", "HUB_CONFIG": etc + "/hub.conf"}
            for name, cmd, port in (
                    ("hubd", [root + "/usr/bin/hubd"], ports["http"]),
                    ("broker", [shutil.which(harness.MOSQUITTO), "-c", etc + "/mosquitto.conf"],
                     ports["mqtts"]),
                    ("bridge", [root + "/usr/bin/hub-bridge"], ports["sio"])):
                logpath = os.path.join(h.dir, name + "-installed.log")
                log = open(logpath, "ab")
                # an ASan build's plugin needs the runtime preloaded into
                # the (uninstrumented) broker, as start_broker does
                env = dict(run_env, **harness.sanitizer_preload()) if name == "broker" \
                    else run_env
                p = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd="/")
                log.close()
                procs.append(p)
                try:
                    harness.wait_port(port, 15, p)
                except RuntimeError as e:
                    with open(logpath, errors="replace") as f:
                        raise AssertionError("%s: %s\n%s" % (name, e, f.read()[-3000:]))
            r = run([root + "/usr/bin/hubctl", "--config", etc + "/hub.conf", "user", "add",
                     "ops", "--password-stdin"], input="ops-pass-1\n", env=run_env)
            self.assertEqual(r.returncode, 0, r.stderr)
            login = run(["curl", "-sS", "--cacert", tls["ca"], "-H",
                         "content-type: application/json", "-d",
                         json.dumps({"username": "ops", "password": "ops-pass-1"}),
                         "https://localhost:%d/api/login" % ports["http"]])
            self.assertEqual(login.returncode, 0, login.stderr)
            token = json.loads(login.stdout)["token"]
            r = run(["mosquitto_pub", "--cafile", tls["ca"], "-h", "localhost", "-p",
                     str(ports["mqtts"]), "-u", "ops", "-P", token, "-t", "users/ops/status",
                     "-m", "{}"])
            self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            for p in procs:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            h.close()


class ReverseProxy(unittest.TestCase):
    """trust_proxy: X-Forwarded-For is believed from trusted_proxies only."""

    @staticmethod
    def http_from(src, port, method, path, body=None, headers=None):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                          source_address=(src, 0))
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=hdrs)
        r = conn.getresponse()
        r.read()
        conn.close()
        return r.status

    def test_01_forged_forwarded_for_from_untrusted_peer(self):
        with harness.Stack(extra_conf={"trust_proxy": "true", "trusted_proxies": "127.0.0.1",
                                       "login_fail_addr_max": 2, "login_fail_pair_max": 100,
                                       "login_fail_user_max": 100,
                                       "sio_pending_per_addr": 2}) as s:
            s.add_user("hal", "hal-pass-1")
            s.start_hubd()
            s.start_broker()
            s.start_bridge()
            port = s.ports["http"]
            login = {"username": "hal", "password": "bad"}
            # 127.0.0.2 is not a trusted proxy: its own address counts,
            # whatever it writes into X-Forwarded-For
            for i in range(2):
                self.assertEqual(self.http_from("127.0.0.2", port, "POST", "/api/login", login,
                                                {"X-Forwarded-For": "10.7.7.%d" % i}), 401)
            self.assertEqual(self.http_from("127.0.0.2", port, "POST", "/api/login", login,
                                            {"X-Forwarded-For": "10.7.7.99"}), 429)
            log = s.log("hubd")
            self.assertIn("login user=hal addr=127.0.0.2 result=", log)
            self.assertNotIn("addr=10.7.7.", log)
            # the trusted proxy's entry counts (and the client's own
            # entries before it do not)
            for i in range(3):
                self.assertEqual(self.http_from("127.0.0.1", port, "POST", "/api/login", login,
                                                {"X-Forwarded-For": "6.6.6.6, 10.8.8.%d" % i}),
                                 401)
            self.assertIn("login user=hal addr=10.8.8.2 result=", s.log("hubd"))
            self.assertNotIn("addr=6.6.6.6", s.log("hubd"))
            # hub-bridge: unauthenticated Engine.IO sessions per address
            path = "/socket.io/?EIO=4&transport=polling"
            sio = s.ports["sio"]
            got = [self.http_from("127.0.0.2", sio, "GET", path,
                                  headers={"X-Forwarded-For": "10.9.9.%d" % i}) for i in range(3)]
            self.assertEqual(got, [200, 200, 503])
            got = [self.http_from("127.0.0.1", sio, "GET", path,
                                  headers={"X-Forwarded-For": "10.9.8.%d" % i}) for i in range(3)]
            self.assertEqual(got, [200, 200, 200])


if __name__ == "__main__":
    unittest.main(verbosity=2)
