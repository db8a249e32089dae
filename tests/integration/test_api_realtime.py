# SPDX-License-Identifier: MIT
"""hubd's realtime routes against the real stack (broker + plugin + hubd):
POST /api/publish, GET /api/rooms/{room}/messages (chat history kept by the
plugin's writer), GET /api/config, the deliveries API, and the broker's
counters on /metrics."""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import BrokerTestCase, timeout  # noqa: E402


class RealtimeApi(BrokerTestCase):
    stack_conf = {"history_max": 5}

    @classmethod
    def prepare(cls, st):
        st.add_user("ada", role="admin", rooms={"lobby": "write", "ops": "write"})
        st.add_user("bob", rooms={"lobby": "read"})
        st.add_user("carol", rooms={"lobby": "write"})
        st.add_user("eve")
        out = st.hubctl("servicekey", "add", "backend").stdout
        cls.key = [l.split()[1] for l in out.splitlines() if l.startswith("key:")][0]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack.start_hubd()
        # hubd's broker link comes up asynchronously
        deadline = time.time() + 10
        while time.time() < deadline:
            r = cls.publish({"user": "eve", "event": "warmup", "data": None})
            if r.status == 200:
                break
            time.sleep(0.2)

    @classmethod
    def publish(cls, body, key=None, **kw):
        hdrs = {"Authorization": "Bearer " + (key or cls.key)}
        return cls.stack.http("POST", "/api/publish", body, headers=hdrs, **kw)

    def history(self, user, room, query="", cookie=None):
        if cookie is None:
            cookie, _, _ = self.stack.login(user)
        return self.stack.http("GET", "/api/rooms/%s/messages%s" % (room, query), cookie=cookie)

    # ---- /api/publish ----------------------------------------------------------
    @timeout(20)
    def test_01_publish_to_room_reaches_members(self):
        bob = self.user_client("bob")
        self.assertEqual(bob.sub(["rooms/lobby/ev/#"]), [1])
        r = self.publish({"room": "lobby", "event": "order", "data": {"id": 42}})
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["topic"], "rooms/lobby/ev/order/backend")
        m = bob.wait_msg("rooms/lobby/ev/order/backend", 3)
        self.assertIsNotNone(m, "the published event did not reach a member")
        self.assertEqual(json.loads(m[1]), {"id": 42})

    @timeout(20)
    def test_02_publish_to_user_inbox_only_that_user(self):
        bob = self.user_client("bob")
        carol = self.user_client("carol")
        self.assertEqual(bob.sub(["users/bob/inbox/#"]), [1])
        self.assertEqual(carol.sub(["users/+/inbox/#"]), [1])
        r = self.publish({"user": "bob", "event": "notify", "data": "stock low"})
        self.assertEqual(r.status, 200, r.body)
        m = bob.wait_msg("users/bob/inbox/notify/backend", 3)
        self.assertIsNotNone(m)
        self.assertEqual(json.loads(m[1]), "stock low")
        self.assertEqual(carol.collect(0.5), [], "another user's inbox leaked")

    @timeout(20)
    def test_03_publish_auth(self):
        body = {"room": "lobby", "event": "x", "data": 1}
        r = self.publish(body, key="A" * 43)
        self.assertEqual((r.status, r.json()["error"]), (401, "unauthorized"))
        r = self.stack.http("POST", "/api/publish", body)
        self.assertEqual(r.status, 401)
        bob_cookie, _, _ = self.stack.login("bob")
        r = self.stack.http("POST", "/api/publish", body, cookie=bob_cookie)
        self.assertEqual((r.status, r.json()["error"]), (403, "forbidden"))
        ada_cookie, _, _ = self.stack.login("ada")
        r = self.stack.http("POST", "/api/publish", body, cookie=ada_cookie)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["topic"], "rooms/lobby/ev/x/ada")
        # an admin cookie from another site may not drive it
        r = self.stack.http("POST", "/api/publish", body, cookie=ada_cookie,
                            headers={"Origin": "http://evil.example"})
        self.assertEqual(r.status, 403)

    @timeout(20)
    def test_04_publish_bad_input(self):
        cases = [
            ({"room": "lobby", "user": "bob", "event": "x", "data": 1}, 400),
            ({"event": "x", "data": 1}, 400),
            ({"room": "lob by", "event": "x", "data": 1}, 400),
            ({"room": "lobby", "event": "a/b", "data": 1}, 400),
            ({"room": "lobby", "event": "+", "data": 1}, 400),
            ({"room": "lobby", "event": "x"}, 400),
            ({"room": "nosuch", "event": "x", "data": 1}, 404),
            ({"user": "nosuch", "event": "x", "data": 1}, 404),
            ([1, 2], 400),
        ]
        for body, status in cases:
            r = self.publish(body)
            self.assertEqual(r.status, status, "%r -> %r" % (body, r))
            self.assertIn("error", r.json())
        r = self.stack.http("POST", "/api/publish", raw=b"{not json",
                            headers={"Authorization": "Bearer " + self.key,
                                     "Content-Type": "application/json"})
        self.assertEqual(r.status, 400)
        # a member named twice, at the top or deeper, is refused (item 8a)
        for raw in [b'{"room":"lobby","room":"ops","event":"x","data":1}',
                    b'{"room":"lobby","event":"x","data":{"a":1,"a":2}}',
                    b'{"room":"lobby","event":"x","data":1,"data":2}']:
            r = self.stack.http("POST", "/api/publish", raw=raw,
                                headers={"Authorization": "Bearer " + self.key,
                                         "Content-Type": "application/json"})
            self.assertEqual(r.status, 400, raw)
            self.assertIn("twice", r.json()["message"])
        for raw in [b'{"id":"d1","id":"d2","vehicle":"v","customer":"c"}']:
            r = self.stack.http("POST", "/api/deliveries", raw=raw,
                                headers={"Authorization": "Bearer " + self.key,
                                         "Content-Type": "application/json"})
            self.assertEqual(r.status, 400, raw)

    # ---- history ---------------------------------------------------------------
    @timeout(30)
    def test_05_history_order_limits_and_typing_not_stored(self):
        carol = self.user_client("carol")
        for i in range(7):
            carol.pub("rooms/lobby/ev/chat message/carol", json.dumps({"n": i}), qos=1)
        carol.pub("rooms/lobby/ev/typing/carol", b"{}", qos=1)
        carol.pub("rooms/lobby/ev/chat message/carol", b"not json", qos=1)
        cookie, _, _ = self.stack.login("bob")
        # the writer batches every 50 ms: wait until the last event is in
        harness.wait_until(lambda: b'"not json"' in self.history(
            "bob", "lobby", cookie=cookie).body, 10)
        r = self.history("bob", "lobby", cookie=cookie)
        self.assertEqual(r.status, 200, r.body)
        msgs = r.json()["messages"]
        # history_max = 5 per room: the newest five, newest last
        self.assertEqual(len(msgs), 5, msgs)
        self.assertEqual([m["data"] for m in msgs[-5:-1]], [{"n": 3}, {"n": 4}, {"n": 5}, {"n": 6}])
        self.assertEqual(msgs[-1]["data"], "not json")
        self.assertTrue(all(m["event"] == "chat message" for m in msgs), "typing was stored")
        self.assertTrue(all(m["from"] == "carol" and m["room"] == "lobby" for m in msgs))
        ids = [m["id"] for m in msgs]
        self.assertEqual(ids, sorted(ids))
        self.assertTrue(all(isinstance(m["ts"], (int, float)) and m["ts"] > 1.6e12 for m in msgs))
        # paging: limit and before
        r = self.history("bob", "lobby", "?limit=2", cookie=cookie)
        self.assertEqual([m["id"] for m in r.json()["messages"]], ids[-2:])
        r = self.history("bob", "lobby", "?limit=2&before=%d" % ids[-2], cookie=cookie)
        self.assertEqual([m["id"] for m in r.json()["messages"]], ids[-4:-2])
        for q in ("?limit=0", "?limit=501", "?limit=x", "?before=-1"):
            self.assertEqual(self.history("bob", "lobby", q, cookie=cookie).status, 400, q)

    @timeout(20)
    def test_06_history_membership_checked(self):
        r = self.history("eve", "lobby")
        self.assertEqual((r.status, r.json()["error"]), (403, "forbidden"))
        # an unknown room answers the same: no probing for room names
        self.assertEqual(self.history("eve", "nosuchroom").status, 403)
        self.assertEqual(self.stack.http("GET", "/api/rooms/lobby/messages").status, 401)
        self.assertEqual(self.history("bob", "bad%20name").status, 404)

    # ---- /api/config -------------------------------------------------------------
    def test_07_config(self):
        r = self.stack.http("GET", "/api/config")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["mqtt_ws_port"], self.stack.ports["ws"])
        self.assertEqual(r.json()["sio_port"], self.stack.ports["sio"])

    # ---- deliveries --------------------------------------------------------------
    @timeout(30)
    def test_08_delivery_open_and_close_stops_an_open_subscription(self):
        out = self.stack.hubctl("device", "add", "van1", "--owner", "ada").stdout
        secret = [l.split()[1] for l in out.splitlines() if l.startswith("secret:")][0]
        # every change below is in force when its command or request returned
        eve = self.user_client("eve")
        r = self.stack.http("POST", "/api/deliveries",
                            {"id": "d1", "vehicle": "van1", "customer": "eve"},
                            headers={"Authorization": "Bearer " + self.key})
        self.assertEqual(r.status, 201, r.body)
        self.assertEqual(r.json()["room"], "delivery-d1")
        self.assertEqual(eve.sub(["owntracks/+/+"]), [1])
        van = self.mqtt("van1", secret)
        van.pub("owntracks/van1/phone", b'{"_type":"location","lat":1,"lon":2,"tst":1}', qos=1)
        self.assertIsNotNone(eve.wait_msg("owntracks/van1/phone", 3),
                             "the customer does not see the vehicle while open")
        r = self.stack.http("POST", "/api/deliveries",
                            {"id": "d1", "vehicle": "van1", "customer": "eve"},
                            headers={"Authorization": "Bearer " + self.key})
        self.assertEqual(r.status, 409)
        r = self.stack.http("DELETE", "/api/deliveries/d1",
                            headers={"Authorization": "Bearer " + self.key})
        self.assertEqual(r.status, 204)
        eve.take()
        van.pub("owntracks/van1/phone", b'{"_type":"location","lat":1,"lon":3,"tst":2}', qos=1)
        self.assertIsNone(eve.wait_msg("owntracks/van1/phone", 1.0),
                          "the customer still receives after the delivery closed")
        self.assertEqual(self.stack.http("DELETE", "/api/deliveries/d1",
                                         headers={"Authorization": "Bearer " + self.key}).status, 404)
        r = self.stack.http("POST", "/api/deliveries",
                            {"id": "d2", "vehicle": "eve", "customer": "eve"},
                            headers={"Authorization": "Bearer " + self.key})
        self.assertEqual(r.status, 404)

    # ---- metrics -----------------------------------------------------------------
    @timeout(20)
    def test_09_metrics_carry_broker_counters(self):
        self.mqtt("bob", "not-a-token", expect=135)
        deadline = time.time() + 8
        text = ""
        while time.time() < deadline:
            text = self.stack.http("GET", "/metrics").body.decode()
            if 'hub_broker_auth_total{result="denied"}' in text and \
                    'hub_broker_auth_total{result="denied"} 0' not in text:
                break
            time.sleep(0.5)
        self.assertIn("hub_broker_clients", text)
        self.assertNotIn('hub_broker_auth_total{result="denied"} 0\n', text)




class BrokerLinkOrder(unittest.TestCase):
    """hubd's broker link comes up whatever the start order and comes back
    after a broker restart (item 10: it used to stay down for the life of
    the process when the broker started after hubd)."""

    def publish_ok_within(self, st, key, limit):
        """Seconds until POST /api/publish first answers 200 (None if not
        within limit)."""
        t0 = time.time()
        while time.time() - t0 < limit:
            r = st.http("POST", "/api/publish", {"room": "lobby", "event": "x", "data": 1},
                        headers={"Authorization": "Bearer " + key})
            if r.status == 200:
                return time.time() - t0
            self.assertEqual(r.status, 503, r)
            time.sleep(0.02)
        return None

    @timeout(120)
    def test_hubd_first_then_broker_and_restarts(self):
        with harness.Stack() as st:
            st.add_user("ada", role="admin", rooms={"lobby": "write"})
            out = st.hubctl("servicekey", "add", "backend").stdout
            key = [l.split()[1] for l in out.splitlines() if l.startswith("key:")][0]
            st.start_hubd()
            # the broker is not up: publishes are refused at once, hubd lives
            r = st.http("POST", "/api/publish", {"room": "lobby", "event": "x", "data": 1},
                        headers={"Authorization": "Bearer " + key})
            self.assertEqual(r.status, 503, r)
            time.sleep(1.5)  # hubd has tried (and failed) to connect meanwhile
            st.start_broker()
            took = [self.publish_ok_within(st, key, 15)]
            self.assertIsNotNone(took[0], st.log("hubd")[-3000:])
            for _ in range(2):
                st.stop("broker")
                r = st.http("POST", "/api/publish", {"room": "lobby", "event": "x", "data": 1},
                            headers={"Authorization": "Bearer " + key})
                self.assertIn(r.status, (503, 504), r)
                st.restart_broker()
                took.append(self.publish_ok_within(st, key, 15))
                self.assertIsNotNone(took[-1], st.log("hubd")[-3000:])
            print("\n  broker up -> first publish accepted: first start %.0f ms, restarts %s"
                  % (took[0] * 1000, ", ".join("%.0f ms" % (t * 1000) for t in took[1:])),
                  file=sys.stderr)
            log = st.log("hubd")
            self.assertEqual(log.count('msg="connected to the broker"'), 3, log[-3000:])
            self.assertIn('broker not reachable; retrying', log)
            self.assertIsNone(st.procs["hubd"].poll())


if __name__ == "__main__":
    harness.broker_main()
