# SPDX-License-Identifier: MIT
"""Sessions for apps with their own login (CONTRACT.md "Backends"):
POST /api/sessions and DELETE /api/sessions/{sid} with a service key,
against the real stack (broker + plugin, hubd, hub-bridge). A session made
for a user (new or existing, rooms granted, display name set) works at
once for MQTT (its token), GET /api/session and Socket.IO (its cookie);
DELETE ends it like a logout, its MQTT and Socket.IO connections closing
within 1 s; errors (400, 401, 403, 404, 409) change nothing; login/logout
webhooks; and the Node SDK (createSession, endSession, webhookMiddleware)
against the real hubd."""
import json
import os
import queue
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import (MqttClient, SioClient, Stack, WebhookReceiver, timeout,  # noqa: E402
                     token_claims, wait_until)

SDK_DRIVER = os.path.join(harness.REPO, "tests", "integration", "js", "sdk_driver.mjs")


class SdkDriver:
    """tests/integration/js/sdk_driver.mjs: the Node SDK in a Node process."""

    def __init__(self):
        self.p = subprocess.Popen(["node", SDK_DRIVER], cwd=harness.REPO, text=True,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.q = queue.Queue()
        self.events = queue.Queue()
        self.n = 0
        threading.Thread(target=self._read, daemon=True).start()
        first = self.events.get(timeout=15)
        assert first.get("ev") == "ready", first

    def _read(self):
        for line in self.p.stdout:
            try:
                m = json.loads(line)
            except ValueError:
                continue
            (self.q if "id" in m else self.events).put(m)

    def cmd(self, op, timeout=20, **kw):
        self.n += 1
        kw.update(op=op, id=self.n)
        self.p.stdin.write(json.dumps(kw) + "\n")
        self.p.stdin.flush()
        while True:
            m = self.q.get(timeout=timeout)
            if m["id"] == self.n:
                return m

    def event(self, ev, timeout=10):
        deadline = time.time() + timeout
        while True:
            m = self.events.get(timeout=max(0.01, deadline - time.time()))
            if m.get("ev") == ev:
                return m

    def close(self):
        try:
            self.p.stdin.write(json.dumps({"op": "exit"}) + "\n")
            self.p.stdin.flush()
            self.p.wait(5)
        except Exception:
            self.p.kill()
            self.p.wait()


class SessionsApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not harness.hubd_built():
            raise unittest.SkipTest("hubd is not built")
        cls.st = Stack()
        try:
            cls.st.start_broker()
            cls.st.add_user("ada", role="admin", rooms={"lobby": "admin"})
            cls.st.add_user("bob", rooms={"lobby": "read"})
            cls.st.hubctl("room", "add", "ops")
            cls.st.device_add("truck1", "bob")
            cls.key = cls.st.servicekey("shop")
            cls.other_key = cls.st.servicekey("other")
            cls.st.start_hubd()
            cls.st.start_bridge()
        except Exception:
            cls.st.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.st.close()

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
        print("  [%s: %.2fs]" % (self._testMethodName, time.time() - t0), file=sys.stderr)
        if len(result.failures) + len(result.errors) > before:
            for name in ("hubd", "bridge"):
                print("---- %s log (tail) ----\n%s" % (name, "\n".join(
                    self.st.log(name).splitlines()[-25:])), file=sys.stderr)
            print("---- broker log (tail) ----\n%s" % self.st.broker_tail(25), file=sys.stderr)
        return result

    def own(self, c):
        self._owned.append(c)
        return c

    def create(self, body, key=None, raw=None, headers=None):
        hdrs = {"Authorization": "Bearer " + (key or self.key)}
        hdrs.update(headers or {})
        return self.st.http("POST", "/api/sessions", body, headers=hdrs, raw=raw)

    def end(self, sid, key=None):
        return self.st.http("DELETE", "/api/sessions/" + sid,
                            headers={"Authorization": "Bearer " + (key or self.key)})

    def mqtt(self, user, token):
        c = self.own(MqttClient(self.st.ports["mqtt"], user, token))
        return c, c.connect()

    def sio(self, cookie, name):
        c = self.own(SioClient(self.st.sio_url(),
                               {"extraHeaders": {"Cookie": "hub_sid=" + cookie}}, name))
        return c

    def users(self):
        return [l.split()[0] for l in self.st.hubctl("user", "list").stdout.splitlines()
                if l.strip()]

    # ------------------------------------------------------------------
    @timeout(60)
    def test_01_new_user_works_for_mqtt_session_and_socketio_at_once(self):
        r = self.create({"user": "alice", "display_name": "Alice A.", "create": True,
                         "rooms": [{"room": "lobby", "level": "write"},
                                   {"room": "ops", "level": "read"}]})
        self.assertEqual(r.status, 201, r)
        j = r.json()
        self.assertEqual(len(j["sid"]), 22)
        self.assertEqual(len(j["cookie"]), 43)
        self.assertTrue(j["created"])
        self.assertEqual(j["user"], {"username": "alice", "display_name": "Alice A.",
                                     "role": "user"})
        claims = token_claims(j["token"])
        self.assertEqual((claims["sub"], claims["sid"], claims["typ"]),
                         ("alice", j["sid"], "mqtt"))
        self.assertEqual(claims["exp"], j["expires_at"])
        self.assertIsNone(r.header("set-cookie"), "the API answer sets no cookie")
        # the token connects at once, and the rooms are there
        c, rc = self.mqtt("alice", j["token"])
        self.assertEqual(rc, 0)
        self.assertEqual(c.sub(["rooms/lobby/#", "rooms/ops/#"]), [1, 1])
        # the cookie: the dashboard's API and Socket.IO
        s = self.st.http("GET", "/api/session", cookie=j["cookie"])
        self.assertEqual(s.status, 200, s)
        self.assertEqual(s.json()["user"]["display_name"], "Alice A.")
        self.assertEqual(sorted((x["room"], x["level"]) for x in s.json()["rooms"]),
                         [("lobby", "write"), ("ops", "read")])
        # the dashboard's way to a fresh MQTT token works with it too
        t = self.st.http("POST", "/api/token", cookie=j["cookie"])
        self.assertEqual(t.status, 200, t)
        self.assertEqual(token_claims(t.json()["token"])["sid"], j["sid"])
        sock = self.sio(j["cookie"], "alice-cookie")
        sock.wait("connect", timeout=10)
        err, args = sock.call("join", "ops")
        self.assertIsNone(err)
        self.assertTrue(args[0]["ok"], args)
        # a user made for an app has no password
        lr = self.st.http("POST", "/api/login", {"username": "alice", "password": ""})
        self.assertIn(lr.status, (400, 401))
        lr = self.st.http("POST", "/api/login", {"username": "alice", "password": "x"})
        self.assertEqual(lr.status, 401)

    @timeout(60)
    def test_02_existing_user_and_create_false(self):
        r = self.create({"user": "bob", "display_name": "Bobby"})
        self.assertEqual(r.status, 201, r)
        self.assertFalse(r.json()["created"])
        s = self.st.http("GET", "/api/session", cookie=r.json()["cookie"])
        self.assertEqual(s.json()["user"]["display_name"], "Bobby")
        self.assertEqual(s.json()["rooms"], [{"room": "lobby", "level": "read", "hooked": False}])
        # bob keeps his own password
        self.st.login("bob")
        # create false for an unknown name: 404, nothing made
        r = self.create({"user": "nobody", "create": False})
        self.assertEqual((r.status, r.json()["error"]), (404, "not_found"), r)
        self.assertIn("create", r.json()["message"])
        r = self.create({"user": "nobody2"})
        self.assertEqual(r.status, 404)
        self.assertNotIn("nobody", self.users())
        # no display_name keeps it; a new user without one is named after itself
        r = self.create({"user": "bob"})
        self.assertEqual(r.json()["user"]["display_name"], "Bobby")
        r = self.create({"user": "gus", "create": True})
        self.assertEqual(r.json()["user"]["display_name"], "gus")

    @timeout(60)
    def test_03_missing_room_is_named_and_changes_nothing(self):
        r = self.create({"user": "carol", "create": True,
                         "rooms": [{"room": "lobby", "level": "write"},
                                   {"room": "nosuch", "level": "read"}]})
        self.assertEqual(r.status, 404, r)
        self.assertEqual((r.json()["error"], r.json()["room"]), ("not_found", "nosuch"))
        self.assertIn("nosuch", r.json()["message"])
        self.assertNotIn("carol", self.users())
        r = self.create({"user": "bob", "rooms": [{"room": "nosuch", "level": "write"},
                                                  {"room": "ops", "level": "admin"}]})
        self.assertEqual(r.status, 404)
        members = self.st.hubctl("members", "ops").stdout
        self.assertNotIn("bob", members)

    @timeout(60)
    def test_04_delete_ends_mqtt_and_socketio_within_1s(self):
        r = self.create({"user": "dan", "create": True,
                         "rooms": [{"room": "lobby", "level": "write"}]})
        j = r.json()
        c, rc = self.mqtt("dan", j["token"])
        self.assertEqual(rc, 0)
        sock = self.sio(j["cookie"], "dan-cookie")
        sock.wait("connect", timeout=10)
        sock.event("presence")
        d = self.end(j["sid"])
        t0 = time.time()  # ended (and in force) when hubd answers
        self.assertEqual(d.status, 204, d)
        self.assertIsNotNone(c.wait_disconnect(5), "MQTT connection not closed")
        self.assertLess(c.disconnected_at - t0, 1.0)
        e = sock.wait("disconnect", timeout=5)
        self.assertEqual(e["reason"], "io server disconnect")
        self.assertLess(e["t"] - t0, 1.0)
        # the cookie and the token open nothing any more
        s = self.st.http("GET", "/api/session", cookie=j["cookie"])
        self.assertEqual(s.status, 401)
        _, rc = self.mqtt("dan", j["token"])
        self.assertNotEqual(rc, 0)
        # ending it again is not an error: it has ended
        self.assertEqual(self.end(j["sid"]).status, 204)
        # the user stays (the app may make another session)
        self.assertIn("dan", self.users())
        self.assertEqual(self.create({"user": "dan"}).status, 201)

    @timeout(60)
    def test_05_only_the_service_that_made_it_ends_it(self):
        j = self.create({"user": "erin", "create": True}).json()
        d = self.end(j["sid"], key=self.other_key)
        self.assertEqual((d.status, d.json()["error"]), (403, "forbidden"), d)
        self.assertEqual(self.st.http("GET", "/api/session", cookie=j["cookie"]).status, 200)
        # a login's session is no service's
        cookie, token, _ = self.st.login("bob")
        d = self.end(token_claims(token)["sid"])
        self.assertEqual(d.status, 403)
        self.assertEqual(self.st.http("GET", "/api/session", cookie=cookie).status, 200)
        # unknown and malformed ids
        self.assertEqual(self.end("A" * 22).status, 404)
        self.assertEqual(self.end("short").status, 404)
        self.assertEqual(self.end("A" * 21 + "!").status, 404)
        # the cookie value is not a session id
        self.assertEqual(self.end(j["cookie"]).status, 404)

    @timeout(60)
    def test_06_service_key_only(self):
        body = {"user": "fred", "create": True}
        cases = [("no key", {}), ("unknown key", {"Authorization": "Bearer " + "A" * 43}),
                 ("not bearer", {"Authorization": "Basic " + self.key}),
                 ("empty bearer", {"Authorization": "Bearer "})]
        for what, hdrs in cases:
            with self.subTest(what):
                r = self.st.http("POST", "/api/sessions", body, headers=hdrs)
                self.assertEqual((r.status, r.json()["error"]), (401, "unauthorized"), r)
                r = self.st.http("DELETE", "/api/sessions/" + "A" * 22, headers=hdrs)
                self.assertEqual(r.status, 401)
        # an admin's cookie is not a service key
        cookie, _, _ = self.st.login("ada")
        r = self.st.http("POST", "/api/sessions", body, cookie=cookie)
        self.assertEqual(r.status, 401, r)
        self.assertNotIn("fred", self.users())
        # other methods
        r = self.st.http("GET", "/api/sessions", headers={"Authorization": "Bearer " + self.key})
        self.assertEqual(r.status, 405)

    @timeout(60)
    def test_07_bad_bodies(self):
        cases = [[], "alice", 1, {}, {"user": "a b"}, {"user": 1}, {"user": ""},
                 {"user": "x" * 65}, {"user": "hal", "create": "yes"},
                 {"user": "hal", "create": 1}, {"user": "hal", "display_name": 5},
                 {"user": "hal", "display_name": "a\u0001b"},
                 {"user": "hal", "display_name": "x" * 129},
                 {"user": "hal", "display_name": ""},
                 {"user": "hal", "rooms": {}}, {"user": "hal", "rooms": ["lobby"]},
                 {"user": "hal", "rooms": [{"room": "lobby"}]},
                 {"user": "hal", "rooms": [{"room": "lobby", "level": "owner"}]},
                 {"user": "hal", "rooms": [{"room": "lobby", "level": "read", "x": 1}]},
                 {"user": "hal", "rooms": [{"room": "lob by", "level": "read"}]},
                 {"user": "hal", "rooms": [{"room": "lobby", "level": "read"},
                                           {"room": "lobby", "level": "write"}]},
                 {"user": "hal", "rooms": [{"room": "lobby", "level": "read"}] * 257},
                 {"user": "hal", "password": "x"}]
        for body in cases:
            with self.subTest(body=str(body)[:80]):
                r = self.create(body)
                self.assertEqual((r.status, r.json()["error"]), (400, "bad_request"), r)
        for raw in [b'{"user":"hal","user":"ivy","create":true}', b'{"user":"hal"',
                    b'{"user":"hal","create":true} x', b'{"user":"h\\u0000al","create":true}']:
            with self.subTest(raw=raw):
                r = self.create(None, raw=raw, headers={"Content-Type": "application/json"})
                self.assertEqual(r.status, 400, r)
        r = self.create({"user": "hal", "passw\u00f6rd" + "x" * 40: 1})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["message"],
                         "unknown member: expected user, display_name, create, rooms")
        r = self.create({"user": "hal", "password": 1})
        self.assertIn("'password'", r.json()["message"])
        r = self.create(None, raw=b"user=hal", headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 415)
        self.assertNotIn("hal", self.users())
        self.assertNotIn("ivy", self.users())
        # 256 rooms is the most one request grants (all of them must exist)
        r = self.create({"user": "hal", "create": True,
                         "rooms": [{"room": "r%d" % i, "level": "read"} for i in range(256)]})
        self.assertEqual((r.status, r.json()["room"]), (404, "r0"))

    @timeout(60)
    def test_08_not_a_user(self):
        for name, status in (("truck1", 409), ("other", 409), ("shop", 409), ("ada", 403)):
            with self.subTest(name):
                r = self.create({"user": name, "create": True,
                                 "rooms": [{"room": "ops", "level": "admin"}]})
                self.assertEqual(r.status, status, r)
        self.assertNotIn("ada", self.st.hubctl("members", "ops").stdout)
        # a service's name never became a user
        self.assertNotIn("other", self.users())

    @timeout(60)
    def test_09_login_and_logout_webhooks(self):
        recv = WebhookReceiver().start()
        try:
            hook, recv.secret = self.st.webhook_add(recv.url, events="login,logout")
            j = self.create({"user": "gina", "create": True}).json()
            self.assertEqual(recv.wait_count(1, 10), 1)
            ev = recv.bodies()[0]
            self.assertEqual((ev["type"], ev["user"], ev["sid"], ev["via"], ev["service"]),
                             ("login", "gina", j["sid"], "service", "shop"))
            self.assertTrue(recv.signature_ok(recv.got[0][1], recv.got[0][2]))
            self.assertEqual(self.end(j["sid"]).status, 204)
            self.assertEqual(recv.wait_count(2, 10), 2)
            ev = recv.bodies()[1]
            self.assertEqual((ev["type"], ev["user"], ev["sid"], ev["reason"], ev["service"]),
                             ("logout", "gina", j["sid"], "logout", "shop"))
            # a refused request makes no event; ending twice makes one
            self.create({"user": "gina", "rooms": [{"room": "nosuch", "level": "read"}]})
            self.end(j["sid"])
            time.sleep(1.0)
            self.assertEqual(len(recv.got), 2)
        finally:
            recv.stop()
            self.st.hubctl("webhook", "del", hook, check=False)

    @timeout(90)
    def test_10_node_sdk(self):
        sdk = SdkDriver()
        try:
            self.assertTrue(sdk.cmd("hub", http=self.st.base_url, service="shop",
                                    key=self.key)["ok"])
            a = sdk.cmd("create", args={"user": "hank", "display_name": "Hank", "create": True,
                                        "rooms": [{"room": "lobby", "level": "write"}]})
            self.assertTrue(a["ok"], a)
            s = a["value"]
            self.assertEqual(self.st.http("GET", "/api/session", cookie=s["cookie"]).status, 200)
            c, rc = self.mqtt("hank", s["token"])
            self.assertEqual(rc, 0)
            self.assertTrue(sdk.cmd("end", sid=s["sid"])["ok"])
            self.assertEqual(self.st.http("GET", "/api/session", cookie=s["cookie"]).status, 401)
            self.assertIsNotNone(c.wait_disconnect(2))
            e = sdk.cmd("create", args={"user": "nosuch-user"})
            self.assertEqual((e["ok"], e["status"], e["code"]), (False, 404, "not_found"), e)
            e = sdk.cmd("end", sid="A" * 22)
            self.assertEqual((e["ok"], e["status"]), (False, 404), e)

            # webhookMiddleware verifying the real hubd's signatures
            port = harness.free_port()
            hook, secret = self.st.webhook_add("http://127.0.0.1:%d/hub-events" % port,
                                               events="login")
            try:
                self.assertTrue(sdk.cmd("listen", secret=secret, port=port)["ok"])
                self.st.login("bob")
                ev = sdk.event("webhook")["body"]
                self.assertEqual((ev["type"], ev["user"], ev["via"]), ("login", "bob", "password"))
                self.assertEqual(sdk.event("answered")["status"], 204)
                # a forged POST is refused by the middleware
                import http.client
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                body = json.dumps({"id": "x", "type": "login", "user": "mallory"}).encode()
                conn.request("POST", "/hub-events", body=body, headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": "sha256=" + "0" * 64})
                self.assertEqual(conn.getresponse().status, 401)
                conn.close()
            finally:
                self.st.hubctl("webhook", "del", hook, check=False)
        finally:
            sdk.close()


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
