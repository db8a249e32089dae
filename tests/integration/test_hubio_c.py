#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""libhubclient (client/, docs/client-c.md) against the real broker with
hub_auth.so: C clients driven through tests/integration/c/hubio_driver.c
(JSON lines in and out), paho clients as the other side.

Scenarios: automatic last will, join granted/forbidden, events between C
clients and with paho, acks (ok, forbidden, timeout), inbox, presence,
typing throttle, request/reply, MQTT 3.1.1, reconnect after a broker
restart with a fresh token from get_token, and (the one long test, ~35 s)
a token whose session expires while connected.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, timeout  # noqa: E402

DRIVER = os.path.join(harness.BUILD, "tests", "integration", "hubio_driver")

EFORBIDDEN = 4
ETIMEOUT = 5
EAUTH = 6
ENOTSUP = 10
ETHROTTLED = 11


class CClient:
    """One hubio_driver process: a libhubclient client."""

    def __init__(self, stack, user, token=None, token_file=None, hubctl=False, ttl=None,
                 thread=False, protocol=None, extra=()):
        argv = [DRIVER, "--port", str(stack.ports["mqtt"]), "--user", user]
        if token:
            argv += ["--token", token]
        if token_file:
            argv += ["--token-file", token_file]
        if hubctl:
            argv += ["--hubctl", os.path.join(harness.BIN, "hubctl")]
        if ttl:
            argv += ["--ttl", str(ttl)]
        if thread:
            argv.append("--thread")
        if protocol:
            argv += ["--protocol", str(protocol)]
        argv += list(extra)
        self.user = user
        self.err = open(os.path.join(stack.dir, "driver-%s.log" % user), "ab")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=self.err, env=stack.env, text=True)
        self.cond = threading.Condition()
        self.events = []
        self._id = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        if not self.wait("ready", 5):
            raise RuntimeError("hubio_driver did not start")

    def _read(self):
        for line in self.p.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            e["_t"] = time.time()
            with self.cond:
                self.events.append(e)
                self.cond.notify_all()

    def send(self, **cmd):
        self.p.stdin.write(json.dumps(cmd) + "\n")
        self.p.stdin.flush()

    def wait(self, ev, timeout=5.0, pred=None, consume=True):
        """First event named ev (or one of a tuple) matching pred."""
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

    def all(self, ev, pred=None):
        with self.cond:
            return [e for e in self.events if e["ev"] == ev and (pred is None or pred(e))]

    def cmd(self, op, **kw):
        """Run a command; returns its {"ev":"rc"} answer. id (default: the
        next number) also tags the command's ack or reply."""
        self._id += 1
        n = kw.pop("id", self._id + 1000)
        self.send(op=op, id=n, **kw)
        r = self.wait("rc", 5.0, pred=lambda e: e["id"] == n)
        if r is None:
            raise TimeoutError("no answer to %s %r" % (op, kw))
        return r

    def connect(self, timeout=5.0):
        assert self.cmd("connect")["rc"] == 0
        return self.wait("connect", timeout)

    def join(self, room, timeout=5.0):
        assert self.cmd("join", room=room)["rc"] == 0
        return self.wait("join", timeout, pred=lambda e: e["room"] == room)

    def event(self, event=None, timeout=3.0, pred=None):
        return self.wait("event", timeout, pred=lambda e: (event is None or e["event"] == event)
                         and (pred is None or pred(e)))

    def close(self):
        if self.p.poll() is None:
            try:
                self.send(op="exit")
                self.p.wait(5)
            except (BrokenPipeError, OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()
        if not self.err.closed:
            self.err.close()

    def problems(self):
        """Sanitizer reports or a crash in this driver's stderr/exit."""
        with open(self.err.name, "rb") as f:
            text = f.read().decode(errors="replace")
        if "Sanitizer" in text or "runtime error" in text:
            return text[-4000:]
        if self.p.returncode not in (0, -signal.SIGKILL, None):
            return "exit status %s\n%s" % (self.p.returncode, text[-2000:])
        return None

    def kill9(self):
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()


class HubioC(BrokerTestCase):
    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write", "ops": "write"})
        stack.add_user("bob", rooms={"lobby": "read", "ops": "write"})
        stack.add_user("carol", rooms={"lobby": "write"})
        stack.add_user("dave", rooms={"lobby": "write"})
        stack.add_user("erin", rooms={"lobby": "write"})
        stack.add_user("frank", rooms={"annex": "write"})
        stack.add_user("gina", rooms={"lobby": "write", "ops": "write"})
        stack.add_user("hank", rooms={"lobby": "write"})
        stack.hubctl("room", "add", "secret", check=False)
        # test_06's own room, so other tests' clients do not count; granted
        # before the broker starts, so the plugin has it from the start
        stack.hubctl("room", "add", "prs")
        for u in ("erin", "hank"):
            stack.hubctl("grant", "prs", u, "write")

    def tearDown(self):
        drivers = [c for c in self._owned if isinstance(c, CClient)]
        for c in drivers:
            c.close()
        super().tearDown()
        for c in drivers:
            p = c.problems()
            if p:
                self.fail("hubio_driver %s: %s" % (c.user, p))

    def c(self, user, **kw):
        """A C client of user with a fresh CLI token (default)."""
        if not any(k in kw for k in ("token", "token_file", "hubctl")):
            kw["token"] = self.stack.token(user)
        return self.own(CClient(self.stack, user, **kw))

    def up(self, user, rooms=("lobby",), **kw):
        """A connected C client that joined rooms."""
        cl = self.c(user, **kw)
        self.assertIsNotNone(cl.connect(), "%s did not connect" % user)
        for room in rooms:
            j = cl.join(room)
            self.assertEqual(j and j["code"], 0, "%s join %s: %r" % (user, room, j))
        return cl

    # ---- connection and last will ------------------------------------------
    @timeout(30)
    def test_01_connect_and_last_will(self):
        watcher = self.user_client("carol")
        self.assertEqual(watcher.sub("users/alice/status"), [1])
        a = self.c("alice")
        con = a.connect()
        self.assertIsNotNone(con)
        self.assertEqual(json.loads(con["data"]), {"reconnect": False})
        self.assertEqual(a.cmd("connected")["value"], 1)
        m = watcher.wait_msg("users/alice/status", 3,
                             pred=lambda m: json.loads(m[1] or b"{}").get("online") is True)
        self.assertIsNotNone(m, "no online status")
        a.kill9()
        # the library's last will, exactly as set (the hub's own status
        # follows with a reason)
        m = watcher.wait_msg("users/alice/status", 5, pred=lambda m: m[1] == b'{"online":false}')
        self.assertIsNotNone(m, "the last will {\"online\":false} was not seen: %r"
                             % watcher.take())

    @timeout(30)
    def test_02_join_granted_and_forbidden(self):
        a = self.c("alice")
        # joining before connecting is allowed: subscribed at CONNACK
        self.assertEqual(a.cmd("join", room="lobby")["rc"], 0)
        a.connect()
        j = a.wait("join", 5, pred=lambda e: e["room"] == "lobby")
        self.assertEqual(j["code"], 0)
        j = a.join("secret")
        self.assertEqual(j["code"], EFORBIDDEN, j)
        self.assertEqual(j["status"], "forbidden")
        self.assertEqual(a.cmd("count", room="secret")["value"], -1, "a refused room is dropped")
        self.assertEqual(a.cmd("join", room="lobby")["rc"], 12, "already joined: HUBIO_ESTATE")
        self.assertEqual(a.cmd("join", room="bad/room")["rc"], 1)
        self.assertEqual(a.cmd("leave", room="lobby")["rc"], 0)
        self.assertEqual(a.cmd("leave", room="lobby")["rc"], 14)

    # ---- events -----------------------------------------------------------
    @timeout(30)
    def test_03_events_between_c_clients_and_paho(self):
        a = self.up("alice")
        b = self.up("bob", thread=True)  # the background-thread loop
        p = self.user_client("carol")
        self.assertEqual(p.sub("rooms/lobby/ev/#"), [1])
        t0 = time.time() * 1000
        r = a.cmd("emit", room="lobby", event="chat message",
                  data='{"room":"lobby","content":"hi"}')
        self.assertEqual(r["rc"], 0)
        e = b.event("chat message")
        self.assertIsNotNone(e, "bob got nothing")
        self.assertEqual((e["room"], e["from"], e["inbox"]), ("lobby", "alice", False))
        self.assertEqual(json.loads(e["data"]), {"room": "lobby", "content": "hi"})
        self.assertLess(abs(e["ts"] - t0), 5000, "meta.ts is local receipt time in ms")
        m = p.wait_msg("rooms/lobby/ev/chat message/alice", 3)
        self.assertIsNotNone(m, "paho did not get alice's event")
        # no echo to the sending connection (MQTT 5 no-local)
        self.assertIsNone(a.event("chat message", timeout=0.5))
        # paho -> C
        p.pub("rooms/lobby/ev/poke/carol", b'{"n":1}', qos=1)
        for cl in (a, b):
            e = cl.event("poke")
            self.assertIsNotNone(e, "%s got no paho event" % cl.user)
            self.assertEqual((e["from"], e["data"]), ("carol", '{"n":1}'))
        # a member cannot forge the library's reserved names
        p.pub("rooms/lobby/ev/joined/carol", b'{"user":"mallory","online":9}', qos=1)
        self.assertIsNone(a.wait("joined", 0.5, pred=lambda e: e.get("from") == "mallory"))
        # reserved names are refused locally
        self.assertEqual(a.cmd("emit", room="lobby", event="connect", data="{}")["rc"], 1)
        # the hub's own notices arrive as "joined"/"left"
        d = self.up("dave")
        j = a.wait("joined", 3, pred=lambda e: e.get("from") == "dave")
        self.assertIsNotNone(j, "no joined notice for dave")
        self.assertEqual(j["room"], "lobby")
        d.close()
        self.assertIsNotNone(a.wait("left", 4, pred=lambda e: e.get("from") == "dave"))

    @timeout(30)
    def test_04_acks_ok_forbidden_timeout(self):
        a = self.up("alice")
        b = self.up("bob")  # read level in lobby
        self.assertEqual(a.cmd("emit", id=0, room="lobby", event="x", data="1")["rc"], 0)
        ack = a.wait("ack", 3)
        self.assertEqual(ack["code"], 0, ack)
        b.cmd("emit", room="lobby", event="x", data="2")
        ack = b.wait("ack", 3)
        self.assertEqual(ack["code"], EFORBIDDEN, "read level emits: %r" % ack)
        # another room alice is not in
        a.cmd("emit", room="secret", event="x", data="3")
        self.assertEqual(a.wait("ack", 3)["code"], EFORBIDDEN)
        # the broker stalls: no PUBACK within the timeout
        os.kill(self.stack.broker_pid(), signal.SIGSTOP)
        try:
            t0 = time.time()
            a.cmd("emit", room="lobby", event="x", data="4", timeout=400)
            ack = a.wait("ack", 3)
            took = time.time() - t0
        finally:
            os.kill(self.stack.broker_pid(), signal.SIGCONT)
        self.assertEqual(ack["code"], ETIMEOUT, ack)
        self.assertTrue(0.3 < took < 1.5, "timeout after %.2fs" % took)

    @timeout(30)
    def test_05_inbox(self):
        a = self.up("alice")
        b = self.up("bob", rooms=())
        a.cmd("emit_user", user="bob", event="dm", data='{"text":"psst"}')
        self.assertEqual(a.wait("ack", 3)["code"], 0)
        e = b.event("dm")
        self.assertIsNotNone(e, "no inbox event")
        self.assertEqual((e.get("room"), e["from"], e["inbox"]), (None, "alice", True))
        self.assertEqual(json.loads(e["data"]), {"text": "psst"})
        # frank shares no room with alice
        a.cmd("emit_user", user="frank", event="dm", data="{}")
        self.assertEqual(a.wait("ack", 3)["code"], EFORBIDDEN)

    # ---- presence and typing ----------------------------------------------
    @timeout(40)
    def test_06_presence_counts(self):
        """Each client's count is read only once its own presence callback
        reported the state: a count read after ANOTHER client saw a change
        races with this client's delivery of the same retained message."""
        e = self.c("erin")
        self.assertEqual(e.cmd("join", room="prs")["rc"], 0)
        self.assertEqual(e.cmd("presence", room="prs")["rc"], 0)
        e.connect()
        self.assertEqual(e.wait("join", 5)["code"], 0)
        self.assertIsNotNone(e.wait("presence", 3, pred=lambda x: x["members"] == ["erin"]))
        h = self.c("hank")
        self.assertEqual(h.cmd("join", room="prs")["rc"], 0)
        self.assertEqual(h.cmd("presence", room="prs")["rc"], 0)
        h.connect()
        self.assertEqual(h.wait("join", 5)["code"], 0)
        p = e.wait("presence", 3, pred=lambda x: x["n"] == 2)
        self.assertIsNotNone(p, "erin did not see 2 members: %r" % e.all("presence"))
        self.assertEqual(sorted(p["members"]), ["erin", "hank"])
        self.assertEqual(p["count"], 2)
        self.assertEqual(e.cmd("count", room="prs")["value"], 2)
        q = h.wait("presence", 3, pred=lambda x: x["n"] == 2)
        self.assertIsNotNone(q, "hank did not see 2 members: %r" % h.all("presence"))
        self.assertEqual(sorted(q["members"]), ["erin", "hank"])
        self.assertEqual(q["count"], 2)
        self.assertEqual(h.cmd("count", room="prs")["value"], 2)
        h.close()
        p = e.wait("presence", 4, pred=lambda x: x["n"] == 1)
        self.assertIsNotNone(p, "erin did not see hank leave")
        self.assertEqual(p["members"], ["erin"])
        self.assertEqual(p["count"], 1)
        self.assertEqual(e.cmd("count", room="prs")["value"], 1)
        self.assertEqual(e.cmd("count", room="nope")["value"], -1)

    @timeout(30)
    def test_07_typing_throttle(self):
        a = self.up("alice")
        p = self.user_client("carol")
        self.assertEqual(p.sub("rooms/lobby/ev/typing/+"), [1])
        # one notice per room per 2 s (the default interval): calls made
        # within 2 s of the first are throttled; on a slow machine the
        # round trips may take longer, and a call past 2 s passes again
        rcs, t0 = [], time.monotonic()
        for _ in range(10):
            rcs.append((a.cmd("typing", room="lobby")["rc"], time.monotonic() - t0))
            time.sleep(0.1)
        self.assertEqual(rcs[0][0], 0)
        within = [rc for rc, t in rcs[1:] if t < 1.9]
        self.assertGreaterEqual(len(within), 1, "too slow to test the interval: %r" % rcs)
        self.assertEqual(within, [ETHROTTLED] * len(within), rcs)
        passed = sum(1 for rc, _ in rcs if rc == 0)
        got = p.collect(0.5, "rooms/lobby/ev/typing/+")
        self.assertEqual(len(got), passed, "%d calls passed: %d publishes" % (passed, len(got)))
        self.assertEqual(got[0][0], "rooms/lobby/ev/typing/alice")
        self.assertEqual(json.loads(got[0][1]), {"typing": True})

    # ---- request/reply -----------------------------------------------------
    @timeout(30)
    def test_08_request_reply(self):
        a = self.up("alice", rooms=("ops",))
        b = self.up("bob", rooms=("ops",))
        b.cmd("responder", event="ask", answer='{"answer":42}')
        a.cmd("request", id=7, room="ops", event="ask", data='{"q":"?"}', timeout=3000)
        r = a.wait("reply", 4)
        self.assertIsNotNone(r, "no reply")
        self.assertEqual((r["id"], r["code"], r["from"], r["inbox"]), (7, 0, "bob", True))
        self.assertEqual(json.loads(r["data"]), {"answer": 42})
        e = b.event("ask")
        self.assertTrue(e["has_reply"])
        # to one user's inbox
        a.cmd("request", id=8, user="bob", event="ask", data="{}", timeout=3000)
        r = a.wait("reply", 4, pred=lambda x: x["id"] == 8)
        self.assertEqual((r["code"], r["from"]), (0, "bob"))
        # nobody answers this one
        t0 = time.time()
        a.cmd("request", id=9, room="ops", event="nobody-answers", data="{}", timeout=500)
        r = a.wait("reply", 3, pred=lambda x: x["id"] == 9)
        self.assertEqual(r["code"], ETIMEOUT)
        self.assertLess(time.time() - t0, 2)
        # the request itself refused (bob reads lobby only)
        b.cmd("request", id=10, room="lobby", event="ask", data="{}", timeout=3000)
        r = b.wait("reply", 3, pred=lambda x: x["id"] == 10)
        self.assertEqual(r["code"], EFORBIDDEN)
        # a paho MQTT 5 requester gets the reply on its response topic
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes
        g = self.user_client("gina")
        self.assertEqual(g.sub("users/gina/inbox/+/+"), [1])
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "users/gina/inbox/reply"
        props.CorrelationData = b"corr-123"
        g.c.publish("rooms/ops/ev/ask/gina", b"{}", qos=1, properties=props)
        m = g.wait_msg("users/gina/inbox/reply/bob", 3)
        self.assertIsNotNone(m, "paho requester got no reply")
        self.assertEqual(json.loads(m[1]), {"answer": 42})

    @timeout(30)
    def test_09_mqtt_311(self):
        a = self.up("alice", protocol=4)
        b = self.up("bob", protocol=4)
        a.cmd("emit", room="lobby", event="v4", data='"hi"')
        self.assertEqual(a.wait("ack", 3)["code"], 0)
        e = b.event("v4")
        self.assertEqual((e and e["from"], e and e["data"]), ("alice", '"hi"'))
        self.assertIsNone(a.event("v4", timeout=0.5), "own echo dropped under 3.1.1")
        # 3.1.1 has no PUBACK reason codes: a refused emit still acks ok
        b.cmd("emit", room="lobby", event="v4", data="{}")
        self.assertEqual(b.wait("ack", 3)["code"], 0)
        self.assertEqual(a.cmd("request", room="lobby", event="q", data="{}")["rc"], ENOTSUP)

    # ---- reconnecting ------------------------------------------------------
    @timeout(60)
    def test_10_reconnect_after_broker_restart(self):
        a = self.up("alice", hubctl=True, extra=("--backoff-max", "4000"))
        self.stack.stop("broker")
        d = a.wait("disconnect", 5)
        self.assertIsNotNone(d, "no disconnect event")
        t_down = time.time()
        time.sleep(4.0)
        self.stack.start_broker(self.broker_extra)
        con = a.wait("connect", 15)
        self.assertIsNotNone(con, "did not reconnect: %r" % a.events[-10:])
        self.assertEqual(json.loads(con["data"]), {"reconnect": True})
        # every attempt asked get_token (hubctl token) for a fresh token
        tokens = [e for e in a.all("token") if e["_t"] >= t_down]
        self.assertGreaterEqual(len(tokens), 2, tokens)
        self.assertLessEqual(len(tokens), 8, "backoff: at most a few attempts in ~5 s")
        gaps = [y["_t"] - x["_t"] for x, y in zip(tokens, tokens[1:])]
        self.assertTrue(all(g >= 0.2 for g in gaps), "attempts too close: %r" % gaps)
        # the room is joined again: events flow
        j = a.wait("join", 5, pred=lambda e: e["room"] == "lobby")
        self.assertIsNone(j, "the join callback reports only the first SUBACK")
        # the library re-subscribes after the CONNACK, with no event of its
        # own: carol publishes until one reaches alice (not a fixed wait)
        p = self.user_client("carol")
        got = None
        deadline = time.time() + 10
        while got is None and time.time() < deadline:
            p.pub("rooms/lobby/ev/after/carol", b"1", qos=1)
            got = a.event("after", 0.5)
        self.assertIsNotNone(got, "room not re-joined after reconnect")
        a.cmd("emit", room="lobby", event="x", data="1")
        self.assertEqual(a.wait("ack", 3)["code"], 0)

    @timeout(90)
    def test_11_token_expires_while_connected(self):
        """A CLI token's session lives as long as the token (30 s here): the
        hub ends the connection then; the retry with the stale token is
        refused, the library reports it, and picks up the fresh token the
        moment the file has one."""
        path = os.path.join(self.stack.dir, "alice.token")
        with open(path, "w") as f:
            f.write(self.stack.token("alice", ttl=30) + "\n")
        a = self.up("alice", token_file=path, extra=("--auth-max", "2", "--backoff-max", "2000"))
        t0 = time.time()
        d = a.wait("disconnect", 40)
        self.assertIsNotNone(d, "not disconnected when the session expired")
        self.assertGreater(time.time() - t0, 20)
        err = a.wait("error", 10, pred=lambda e: json.loads(e["data"])["code"] == EAUTH)
        self.assertIsNotNone(err, "no error event after refused reconnects: %r" % a.events[-10:])
        n_before = len(a.all("token"))
        with open(path + ".new", "w") as f:
            f.write(self.stack.token("alice", ttl=600) + "\n")
        os.rename(path + ".new", path)
        con = a.wait("connect", 10)
        self.assertIsNotNone(con, "no reconnect with the fresh token")
        self.assertTrue(json.loads(con["data"])["reconnect"])
        self.assertGreater(len(a.all("token")), n_before - 1)
        a.cmd("emit", room="lobby", event="x", data="1")
        self.assertEqual(a.wait("ack", 3)["code"], 0)


if __name__ == "__main__":
    harness.broker_main()
