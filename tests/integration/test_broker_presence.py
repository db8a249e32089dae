#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Presence and disconnect notices (CONTRACT.md "Presence and disconnect
notices"), produced by hub_auth.so inside a real mosquitto (2.0.11, or
HUB_MOSQUITTO's: .ci/run also runs it on 2.0.21).

Each scenario has its own room so the online counts are exact: the room's
members are the scenario's subjects plus the watcher "w" (read level in
every room, online for the whole class, so it counts 1).

  joined  rooms/{room}/sys/joined  {"user","online"}          within 1 s
  left    rooms/{room}/sys/left    {"user","online","reason"}  within 2 s
          (keepalive: 2.0.11 1.5 x keepalive + its 5 s check period;
          2.0.21 floor(1.5 x keepalive) + 1 s; then the reconnect grace)
  retained rooms/{room}/presence/{user} {"user","since"}, cleared on leave
  retained users/{user}/status {"online":true,"since"} / {"online":false,
          "reason","at"}
Reasons: clean, network, keepalive, kicked, logout (hubd), expired
(test_broker_revoke.test_99_expiry).
"""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, MqttClient, timeout, token_claims  # noqa: E402

ROOMS = {
    "r1": ["ua", "ub"],      # counts, clean
    "r2": ["uc", "ud"],      # network (kill -9, socket close)
    "r3": ["ue"],            # keepalive
    "r4": ["uf"],            # kicked
    "r5": ["ug"],            # two connections of one user
    "r6": ["uh"],            # reconnect within grace
    "r7": ["ui", "uj"],      # late subscriber
    "r8": ["uk"],            # status and wills
    "r9": ["ul"],            # membership change while online
    "r10": ["um"],           # logout (hubd)
    "r11": ["un"],           # broker restart
    "r12": ["uo"],           # odd keepalive
}

KEEPALIVE_CLIENT = r'''
import sys, time
sys.path.insert(0, sys.argv[1])
from mqttraw import RawClient
c = RawClient(int(sys.argv[2]))
assert c.connect(sys.argv[3], sys.argv[4], client_id="ka-client", version=4, keepalive=2) == 0
print("connected", flush=True)
while True:
    time.sleep(0.5)
    c.ping()
'''


class Presence(BrokerTestCase):
    @classmethod
    def prepare(cls, stack):
        stack.add_user("w", rooms={r: "read" for r in ROOMS})
        for room, users in ROOMS.items():
            for u in users:
                stack.add_user(u, rooms={room: "write"})
        stack.add_user("outsider")
        cls.dev = stack.device_add("van1", "ua", room="r1")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.watcher = MqttClient(cls.stack.ports["mqtt"], "w", cls.stack.token("w"), version=5,
                                 client_id="watcher")
        assert cls.watcher.connect() == 0
        assert cls.watcher.sub(["rooms/+/sys/+", "rooms/+/presence/+", "users/+/status"]) \
            == [1, 1, 1]
        time.sleep(0.3)
        cls.watcher.take()

    @classmethod
    def tearDownClass(cls):
        cls.watcher.close()
        super().tearDownClass()

    # ---- helpers --------------------------------------------------------
    def notice(self, room, kind, user, timeout_s):
        """Wait for rooms/{room}/sys/{kind} about user; (payload dict, time)."""
        m = self.watcher.wait_msg("rooms/%s/sys/%s" % (room, kind), timeout_s,
                                  pred=lambda m: json.loads(m[1]).get("user") == user)
        if m is None:
            return None, None
        return json.loads(m[1]), m[3]

    def no_notices(self, room, seconds):
        """Nothing on rooms/{room}/sys/+ for `seconds`."""
        got = self.watcher.collect(seconds, "rooms/%s/sys/+" % room)
        self.assertEqual([(t, p) for t, p, _, _ in got], [], "unexpected presence churn")

    def joined(self, room, user, online, t0, within=1.0, device=False):
        body, at = self.notice(room, "joined", user, within + 2)
        self.assertIsNotNone(body, "no joined notice for %s in %s" % (user, room))
        # a device's notices say so (pages keep devices out of people lists)
        self.assertEqual(body, dict({"user": user, "online": online},
                                    **({"device": True} if device else {})))
        self.assertLess(at - t0, within, "joined after %.3f s" % (at - t0))
        return body

    def left(self, room, user, online, reason, t0, within=2.0, device=False):
        body, at = self.notice(room, "left", user, within + 3)
        self.assertIsNotNone(body, "no left notice for %s in %s (reason %s)" % (user, room, reason))
        print("  left %-4s reason=%-9s after %.3f s" % (user, body.get("reason"), at - t0),
              file=sys.stderr)
        self.assertEqual(body, dict({"user": user, "online": online, "reason": reason},
                                    **({"device": True} if device else {})))
        self.assertLess(at - t0, within, "left after %.3f s" % (at - t0))
        return body

    def retained(self, user_for, filt, settle=0.5):
        """What a fresh subscriber (user_for) receives retained on filt."""
        c = self.user_client(user_for, version=5)
        self.assertEqual(c.sub(filt), [1])
        got = {t: p for t, p, r, _ in c.collect(settle) if r}
        c.disconnect()
        return got

    # ---- scenarios ------------------------------------------------------
    @timeout(20)
    def test_01_joined_counts_and_clean_left(self):
        t0 = time.time()
        a = self.user_client("ua", version=4)
        self.joined("r1", "ua", 2, t0)
        t0 = time.time()
        b = self.user_client("ub", version=5)
        self.joined("r1", "ub", 3, t0)
        # the device in r1 counts as a member too
        t0 = time.time()
        van = self.mqtt("van1", self.dev, version=4)
        self.joined("r1", "van1", 4, t0, device=True)
        pres = self.retained("w", "rooms/r1/presence/+")
        self.assertEqual(set(pres), {"rooms/r1/presence/%s" % u for u in ("ua", "ub", "van1", "w")})
        since = json.loads(pres["rooms/r1/presence/ub"])
        self.assertEqual(since["user"], "ub")
        self.assertNotIn("device", since)
        self.assertIs(json.loads(pres["rooms/r1/presence/van1"]).get("device"), True)
        self.assertLessEqual(abs(since["since"] - t0), 2)
        t0 = time.time()
        van.disconnect()
        self.left("r1", "van1", 3, "clean", t0, device=True)
        t0 = time.time()
        b.disconnect()
        self.left("r1", "ub", 2, "clean", t0)
        t0 = time.time()
        a.disconnect()
        self.left("r1", "ua", 1, "clean", t0)
        # the retained presence is cleared (empty retained message)
        self.assertEqual(set(self.retained("w", "rooms/r1/presence/+")), {"rooms/r1/presence/w"})

    @timeout(30)
    def test_02_network_end(self):
        # kill -9 of a mosquitto_sub process
        tok = self.stack.token("uc")
        t0 = time.time()
        p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-u", "uc",
                              "-P", tok, "-i", "sub-uc", "-t", "rooms/r2/ev/#"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self.joined("r2", "uc", 2, t0, within=2.0)
            t0 = time.time()
            p.send_signal(signal.SIGKILL)
        finally:
            p.wait()
        self.left("r2", "uc", 1, "network", t0)
        # a socket closed without DISCONNECT (v5 raw client)
        c = self.raw()
        t0 = time.time()
        self.assertEqual(c.connect("ud", self.stack.token("ud"), client_id="raw-ud", version=5), 0)
        self.joined("r2", "ud", 2, t0)
        t0 = time.time()
        c.close()
        self.left("r2", "ud", 1, "network", t0)

    @timeout(30)
    def test_03_keepalive(self):
        """keepalive 2 s, client SIGSTOPped: mosquitto drops it after 1.5 x
        keepalive, checked only every 5 s: allow 1.5*2 + 6 s + grace."""
        here = os.path.dirname(os.path.abspath(__file__))
        p = subprocess.Popen([sys.executable, "-c", KEEPALIVE_CLIENT, here, str(self.port), "ue",
                              self.stack.token("ue")], stdout=subprocess.PIPE, text=True)
        try:
            t0 = time.time()
            self.assertEqual(p.stdout.readline().strip(), "connected")
            self.joined("r3", "ue", 2, t0)
            time.sleep(0.3)
            t0 = time.time()
            p.send_signal(signal.SIGSTOP)
            self.left("r3", "ue", 1, "keepalive", t0, within=1.5 * 2 + 6 + 1.0)
        finally:
            p.send_signal(signal.SIGKILL)
            p.send_signal(signal.SIGCONT)
            p.wait()

    @timeout(30)
    def test_03b_odd_keepalive(self):
        """keepalive 3 s, then silence. Mosquitto ends a client once
        now - last packet > keepalive * 3 / 2 in whole seconds of its
        clock: 2.0.21 looks every loop pass, so it ends this one
        4.0-5.1 s after its last packet, before 1.5 x keepalive half of
        the time. The last packet goes out at .7 of a second of the
        broker's clock (2.0.11: CLOCK_MONOTONIC; 2.0.21: CLOCK_REALTIME,
        as its broker never calls mosquitto_time_init): 2.0.21 ends it
        ~4.3 s later, and the reason is still keepalive."""
        from mqttraw import RawClient
        ka = 3
        grace = 0.8  # presence_grace_ms: a keepalive end waits for a reconnect
        c = self.own(RawClient(self.port))
        t0 = time.time()
        self.assertEqual(c.connect("uo", self.stack.token("uo"), client_id="ka-odd", version=4,
                                   keepalive=ka), 0)
        self.joined("r12", "uo", 2, t0)
        new = harness.broker_version() >= (2, 0, 21)
        clock = time.time if new else time.monotonic
        time.sleep((0.7 - clock() % 1.0) % 1.0)
        c.publish("rooms/r12/ev/last/uo", b"x", qos=0)
        t_last = time.time()
        if new:
            within = ka * 3 // 2 + 1 + 0.1 + grace + 1.0
        else:
            within = 1.5 * ka + 6 + grace + 1.0
        self.left("r12", "uo", 1, "keepalive", t_last, within=within)

    @timeout(20)
    def test_04_kicked_is_immediate(self):
        tok = self.stack.revocable_token("uf")
        t0 = time.time()
        c = self.mqtt("uf", tok, version=5)
        self.joined("r4", "uf", 2, t0)
        t0 = time.time()
        self.stack.hubctl("session", "revoke", token_claims(tok)["sid"])
        # hub-initiated ends skip the reconnect grace
        self.left("r4", "uf", 1, "kicked", t0, within=1.0)
        self.assertIsNotNone(c.wait_disconnect(1))
        st = self.watcher.wait_msg("users/uf/status", 2,
                                   pred=lambda m: b'"online":false' in m[1])
        self.assertIsNotNone(st, "no offline status for uf")
        body = json.loads(st[1])
        self.assertEqual((body["online"], body["reason"]), (False, "kicked"))

    @timeout(20)
    def test_05_two_connections_one_presence(self):
        t0 = time.time()
        c1 = self.user_client("ug", version=5)
        c2 = self.user_client("ug", version=4)
        self.joined("r5", "ug", 2, t0)
        self.no_notices("r5", 0.5)  # no second joined
        t0 = time.time()
        c1.close()  # network end of one of two: no left
        self.no_notices("r5", 1.5)
        t0 = time.time()
        c2.disconnect()
        self.left("r5", "ug", 1, "clean", t0)
        self.no_notices("r5", 1.0)  # and only one

    @timeout(20)
    def test_06_reconnect_within_grace(self):
        tok = self.stack.token("uh")
        t0 = time.time()
        c = self.mqtt("uh", tok, version=5)
        self.joined("r6", "uh", 2, t0)
        # network drop, back 200 ms later: no left, no joined
        c.close()
        time.sleep(0.2)
        c = self.mqtt("uh", tok, version=5)
        self.no_notices("r6", 1.5)
        # clean disconnect and back within the grace: no churn either
        c.disconnect()
        time.sleep(0.2)
        c = self.mqtt("uh", tok, version=4)
        self.no_notices("r6", 1.5)
        self.assertIn("rooms/r6/presence/uh", self.retained("w", "rooms/r6/presence/+"))
        # the retained status says online
        st = self.retained("w", "users/uh/status")
        self.assertTrue(json.loads(st["users/uh/status"])["online"], st)
        t0 = time.time()
        c.disconnect()
        self.left("r6", "uh", 1, "clean", t0)

    @timeout(20)
    def test_07_late_subscriber_sees_members_no_ghosts(self):
        ci = self.user_client("ui", version=5)
        cj = self.user_client("uj", version=4)
        time.sleep(0.3)
        got = self.retained("w", "rooms/r7/presence/+")
        self.assertEqual(set(got), {"rooms/r7/presence/%s" % u for u in ("ui", "uj", "w")})
        for u in ("ui", "uj"):
            body = json.loads(got["rooms/r7/presence/" + u])
            self.assertEqual(body["user"], u)
            self.assertIsInstance(body["since"], int)
        t0 = time.time()
        ci.disconnect()
        self.left("r7", "ui", 2, "clean", t0)
        cj.close()
        self.left("r7", "uj", 1, "network", t0, within=3.0)
        got = self.retained("w", "rooms/r7/presence/+")
        self.assertEqual(set(got), {"rooms/r7/presence/w"}, "ghost presence after leaving")

    @timeout(20)
    def test_08_status_and_will(self):
        will = ("users/uk/status", '{"online":false,"will":true}', 1, True)
        tok = self.stack.token("uk")
        self.watcher.take("users/uk/status")
        c1 = self.mqtt("uk", tok, version=5, will=will)
        st = self.watcher.wait_msg("users/uk/status", 2)
        self.assertIsNotNone(st, "no status when uk came online")
        body = json.loads(st[1])
        self.assertEqual(body["online"], True)
        self.assertLessEqual(abs(body["since"] - time.time()), 2)
        c2 = self.mqtt("uk", tok, version=4, will=will)
        # c1 dies while c2 lives: its will ("offline") is held back
        c1.close()
        time.sleep(1.5)
        msgs = self.watcher.take("users/uk/status")
        self.assertEqual([p for _, p, _, _ in msgs if b'"will":true' in p], [],
                         "a will said offline while another connection lived")
        self.assertEqual([p for _, p, _, _ in msgs if b'"online":false' in p], [])
        # the last one dies: the will goes out, then the hub's own status
        c2.close()
        w = self.watcher.wait_msg("users/uk/status", 2, pred=lambda m: b'"will":true' in m[1])
        self.assertIsNotNone(w, "the last connection's will was not published")
        hub = self.watcher.wait_msg("users/uk/status", 3, pred=lambda m: b'"reason"' in m[1])
        self.assertIsNotNone(hub, "no offline status from the hub")
        body = json.loads(hub[1])
        self.assertEqual((body["online"], body["reason"]), (False, "network"))
        self.assertIsInstance(body["at"], int)
        # retained: the hub's offline status
        st = self.retained("w", "users/uk/status")
        body = json.loads(st["users/uk/status"])
        self.assertEqual((body["online"], body.get("reason")), (False, "network"))
        # a user who shares no room cannot read it
        c = self.user_client("outsider", version=5)
        self.assertEqual(c.sub("users/uk/status"), [0x87])

    @timeout(20)
    def test_09_membership_change_while_online(self):
        c = self.user_client("ul", version=5)
        time.sleep(0.3)
        t0 = time.time()
        self.stack.hubctl("grant", "r1", "ul", "read")
        self.joined("r1", "ul", 2, t0, within=1.5)
        t0 = time.time()
        self.stack.hubctl("revoke", "r1", "ul")
        body, at = self.notice("r1", "left", "ul", 3)
        self.assertIsNotNone(body, "no left notice after the membership was revoked")
        self.assertEqual(body["online"], 1)
        self.assertLess(at - t0, 1.5)
        self.assertNotIn("rooms/r1/presence/ul", self.retained("w", "rooms/r1/presence/+"))
        self.assertTrue(c.connected)
        c.disconnect()

    @unittest.skipUnless(harness.hubd_built(), "hubd not built yet")
    @timeout(30)
    def test_10_logout(self):
        if "hubd" not in self.stack.procs:
            self.stack.start_hubd()
        cookie, tok, _ = self.stack.login("um")
        t0 = time.time()
        c = self.mqtt("um", tok, version=5)
        self.joined("r10", "um", 2, t0)
        t0 = time.time()
        r = self.stack.http("POST", "/api/logout", cookie=cookie,
                            headers={"Origin": "http://127.0.0.1:%d" % self.stack.ports["http"]})
        self.assertEqual(r.status, 204, r)
        self.left("r10", "um", 1, "logout", t0, within=1.0)
        self.assertIsNotNone(c.wait_disconnect(1))

    @timeout(40)
    def test_99_broker_restart_leaves_no_ghosts(self):
        """Persistence keeps retained messages; the broker's shutdown sends
        no DISCONNECT events: after a restart nobody may look online."""
        tok = self.stack.token("un")
        c = self.mqtt("un", tok, version=5)
        time.sleep(0.5)
        self.assertIn("rooms/r11/presence/un", self.retained("w", "rooms/r11/presence/+"))
        type(self).watcher.close()
        self.stack.stop("broker")
        c.close()
        self.stack.start_broker(self.broker_extra)
        time.sleep(0.5)
        got = self.retained("w", "rooms/r11/presence/+")
        # w itself is online again (it just connected): only w may be there
        self.assertEqual(set(got) - {"rooms/r11/presence/w"}, set(),
                         "ghost presence after a broker restart")
        st = self.retained("w", "users/un/status")
        body = json.loads(st["users/un/status"]) if st.get("users/un/status") else {}
        self.assertNotEqual(body.get("online"), True,
                            "users/un/status still says online after a broker restart: %r" % body)


if __name__ == "__main__":
    harness.broker_main()
