#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Fault suite: kill -9 of the broker under load, and a restart.

What the hub promises (docs/reliability.md), shown here on the real
broker with hub_auth.so, its persistence as the harness configures it
(conf/mosquitto.conf plus FAULT_BROKER_CONF: autosave every 2 s):

1. QoS 1 room events, subscriber connected: a QoS 1 publisher that
   retries what was not acknowledged streams into a room; a persistent
   (clean=false) QoS 1 subscriber reads it; the broker is killed (-9)
   mid-stream and started again: every event the publisher got a PUBACK
   for reaches the subscriber (at least once). (The broker writes a
   PUBLISH to a connected subscriber before it acknowledges the
   publisher, so what it acknowledged is in the subscriber's socket; the
   publisher here keeps within the subscriber's in-flight window.)
2. QoS 1 room events, subscriber offline: the events queued for its
   persistent session survive a kill -9 once the broker's autosave that
   follows them has run (at most ~2 s later); the session itself too.
3. History: the events PUBACKed before the kill are in the room's history
   afterwards, except those of the history writer's last batch window
   (measured and printed: the figure in docs/reliability.md).
4. The store passes PRAGMA integrity_check after each kill.
5. Presence afterwards: the room's retained presence lists exactly the
   members connected again; one that did not come back is not listed.
"""
import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import timeout, wait_until  # noqa: E402
from mqttraw import RawClient, Closed  # noqa: E402

# The broker's persistence for this suite: what the hub proposes for
# conf/mosquitto.conf (docs/reliability.md): a full save every 2 s (2.0.11
# saves when more than autosave_interval seconds passed).
FAULT_BROKER_CONF = "autosave_interval 1\n"
SAVE_LINE = "Saving in-memory database"
TOPIC = "rooms/ev/ev/chat message/pub"


def connect_retry(port, user, token, client_id, clean=True, deadline=30.0):
    """A RawClient connected (retrying while the broker is down)."""
    end = time.time() + deadline
    while True:
        c = None
        try:
            c = RawClient(port, timeout=3)
            rc = c.connect(user, token, client_id=client_id, clean=clean)
            if rc == 0:
                return c
            c.close()
        except (OSError, Closed):
            if c:
                c.close()
        if time.time() > end:
            raise AssertionError("%s could not connect within %ss" % (user, deadline))
        time.sleep(0.05)


def drain_publishes(c):
    """The PUBLISH packets still readable on a connection that ended: what
    RawClient buffered plus what the socket still holds (until EOF or
    reset). [(topic, payload, retain)]"""
    buf = c._buf
    c.sock.settimeout(0.5)
    try:
        while True:
            chunk = c.sock.recv(65536)
            if not chunk:
                break
            buf += chunk
    except OSError:
        pass
    out, pos = [], 0
    while pos + 2 <= len(buf):
        h = buf[pos]
        mult, length, i = 1, 0, pos + 1
        while i < len(buf):
            b = buf[i]
            i += 1
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        else:
            break
        if i + length > len(buf):
            break
        body = buf[i:i + length]
        if h >> 4 == 3:
            tlen = int.from_bytes(body[:2], "big")
            start = 2 + tlen + (2 if (h >> 1) & 3 else 0)
            out.append((body[2:2 + tlen].decode(errors="replace"), body[start:], bool(h & 1)))
        pos = i + length
    return out


class Subscriber(threading.Thread):
    """A persistent-session (clean=false) QoS 1 subscriber that reconnects
    whenever the connection ends; records every payload it got."""

    def __init__(self, port, token, client_id="fault-sub"):
        super().__init__(daemon=True)
        self.port, self.token, self.client_id = port, token, client_id
        self.cond = threading.Condition()
        self.got = []                # (int payload, arrival time)
        self.sessions = []           # session_present of each CONNACK
        self.stop = False
        self.online = True
        self.c = None

    def _connect(self):
        c = connect_retry(self.port, "sub", self.token, self.client_id, clean=False)
        with self.cond:
            self.sessions.append(c.session_present)
        if not c.session_present:
            assert c.subscribe([TOPIC], qos=1) == [1]
        return c

    def run(self):
        while not self.stop:
            with self.cond:
                if not self.online:
                    if self.c:
                        self.c.disconnect()
                        self.c = None
                        self.cond.notify_all()
                    self.cond.wait(0.05)
                    continue
            if self.c is None:
                c = self._connect()
                with self.cond:
                    self.c = c
                    self.cond.notify_all()
            try:
                msgs = self.c.collect(0.05)
            except (Closed, OSError):
                # what reached this host before the end counts, like a
                # client library that reads its socket to the end: the
                # broker wrote it before it acknowledged the publisher
                # (sending our PUBACK may be what failed)
                msgs = self.c.inbox + drain_publishes(self.c)
                if os.environ.get("FAULT_DEBUG"):
                    print("  sub: connection ended (%s); inbox %r; buffered %r" % (
                        sys.exc_info()[1], [p for _, p, _ in msgs], self.c._buf[:60]),
                        file=sys.stderr)
                self.c.close()
                self.c = None
            if msgs:
                now = time.time()
                with self.cond:
                    self.got.extend((int(p), now) for _, p, _ in msgs)
                    self.cond.notify_all()
        if self.c:
            self.c.close()

    def go_offline(self):
        """A clean DISCONNECT; the session stays at the broker."""
        with self.cond:
            self.online = False
            assert self.cond.wait_for(lambda: self.c is None, 10)

    def go_online(self):
        with self.cond:
            self.online = True
            self.cond.notify_all()

    def received(self):
        with self.cond:
            return {n for n, _ in self.got}

    def wait_for(self, numbers, timeout_s):
        numbers = set(numbers)
        with self.cond:
            return self.cond.wait_for(
                lambda: numbers <= {n for n, _ in self.got}, timeout_s)


class Publisher(threading.Thread):
    """A QoS 1 publisher that retries each message until it is PUBACKed
    (reconnecting while the broker is down). window: publish n only once
    the subscriber has n - window (keeps within its in-flight window)."""

    def __init__(self, port, token, first, count, sub=None, window=8, kill_at=None,
                 on_kill=None):
        super().__init__(daemon=True)
        self.port, self.token = port, token
        self.first, self.count = first, count
        self.sub, self.window = sub, window
        self.kill_at, self.on_kill = kill_at, on_kill
        self.acked = {}              # n -> PUBACK time
        self.retries = 0
        self.error = None

    def run(self):
        try:
            c = None
            n = self.first
            while n < self.first + self.count:
                if self.kill_at is not None and n == self.kill_at:
                    self.kill_at = None
                    self.on_kill()
                if self.sub is not None and n - self.window >= self.first:
                    if not self.sub.wait_for([n - self.window], 30):
                        raise AssertionError("the subscriber never got %d" % (n - self.window))
                if c is None:
                    c = connect_retry(self.port, "pub", self.token, "fault-pub")
                try:
                    c.publish(TOPIC, b"%d" % n, qos=1)
                except (Closed, OSError, socket.timeout):
                    c.close()
                    c = None
                    self.retries += 1
                    continue
                self.acked[n] = time.time()
                n += 1
            if c:
                c.disconnect()
        except Exception as e:  # reported by the test
            self.error = e


class FaultBroker(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.stack = harness.Stack(extra_conf={"history_max": 100000})
        s = cls.stack
        for u in ("pub", "sub", "watch", "ghost"):
            s.add_user(u, rooms={"ev": "write"})
        s.start_broker(FAULT_BROKER_CONF + "log_type all\n")
        cls.tokens = {u: s.token(u) for u in ("pub", "sub", "watch", "ghost")}

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            print("---- broker log (tail) ----\n%s" % self.stack.broker_tail(60),
                  file=sys.stderr)
        return result

    def wait_saves(self, n=2, timeout_s=10):
        """Wait until the broker began n more autosaves (the first of them
        may have started before the caller's last change; the n-th one
        began after the previous one ended)."""
        start = self.stack.count_log("broker", SAVE_LINE)
        return wait_until(lambda: self.stack.count_log("broker", SAVE_LINE) >= start + n,
                          timeout_s, 0.05)

    def crash_broker(self):
        t = time.time()
        if os.environ.get("FAULT_DEBUG"):
            import shutil
            shutil.copy(os.path.join(self.stack.data, "mosquitto.db"),
                        os.path.join(self.stack.dir, "mosquitto.db.before-kill-%d" % len(self.kills)))
        self.stack.kill9("broker")
        self.kills.append(t)
        self.stack.start_broker_again()

    def history(self):
        out = self.stack.sqlite("SELECT data FROM messages WHERE room='ev' "
                                "AND event='chat message' ORDER BY id")
        return {int(x) for x in out.split()}

    @timeout(150)
    def test_01_kill9_loses_no_acknowledged_event(self):
        s = self.stack
        port = s.ports["mqtt"]
        self.kills = []
        sub = Subscriber(port, self.tokens["sub"])
        sub.start()
        # a member who will not come back after the crash
        ghost = connect_retry(port, "ghost", self.tokens["ghost"], "fault-ghost")
        self.assertTrue(wait_until(lambda: sub.sessions, 10), "subscriber did not connect")
        # the new persistent session is on disk (autosave) before the crash
        self.assertTrue(self.wait_saves(), "the broker did not autosave within 10 s "
                        "(autosave_interval 60 in conf/mosquitto.conf?)")

        # 1. connected subscriber, kill -9 mid-stream
        n1 = 1500
        pub = Publisher(port, self.tokens["pub"], 1, n1, sub=sub, kill_at=600,
                        on_kill=self.crash_broker)
        pub.start()
        pub.join(120)
        self.assertFalse(pub.is_alive(), "publisher stuck")
        self.assertIsNone(pub.error, pub.error)
        self.assertEqual(len(self.kills), 1)
        self.assertTrue(sub.wait_for(pub.acked, 30),
                        "acknowledged but never delivered: %s"
                        % sorted(set(pub.acked) - sub.received())[:20])
        self.assertEqual(s.integrity(), "ok")
        ghost.close()

        # 2. subscriber offline: its queue survives a kill -9 after an autosave
        sub.go_offline()
        n2 = 300
        pub2 = Publisher(port, self.tokens["pub"], n1 + 1, n2)
        pub2.start()
        pub2.join(60)
        self.assertIsNone(pub2.error, pub2.error)
        self.assertEqual(len(pub2.acked), n2)
        self.assertTrue(self.wait_saves(), "no autosave after the queued events")
        self.crash_broker()
        sub.go_online()
        self.assertTrue(sub.wait_for(pub2.acked, 30),
                        "queued, acknowledged, saved, yet lost: %d of %d: %s"
                        % (len(set(pub2.acked) - sub.received()), n2,
                           sorted(set(pub2.acked) - sub.received())[:40]))
        self.assertTrue(sub.sessions[-1], "the persistent session did not survive")
        self.assertEqual(s.integrity(), "ok")

        # 3. history: what the plugin's writer committed before each kill
        acked = dict(pub.acked)
        acked.update(pub2.acked)
        hist = self.history()
        missing = sorted(set(acked) - hist)
        # the writer batches for 50 ms; a kill -9 loses its queue: only
        # events acknowledged shortly before a kill may be missing
        late = [(n, min(k - acked[n] for k in self.kills if k >= acked[n]))
                for n in missing if any(k >= acked[n] for k in self.kills)]
        print("  history: %d of %d acknowledged events stored; missing %d, each "
              "acknowledged at most %.0f ms before a kill"
              % (len(set(acked) & hist), len(acked), len(missing),
                 max([d for _, d in late] or [0]) * 1000), file=sys.stderr)
        self.assertEqual(len(late), len(missing), "missing events not near a kill: %s"
                         % [n for n in missing if n not in dict(late)][:10])
        self.assertTrue(all(d < 2.0 for _, d in late), late[:10])

        # 4. presence: members back online are listed, the ghost is not
        watch = connect_retry(port, "watch", self.tokens["watch"], "fault-watch")
        self.assertEqual(watch.subscribe(["rooms/ev/presence/+"]), [1])

        def listed():
            m = {}
            for topic, payload, retained in watch.collect(0.2):
                m[topic.rsplit("/", 1)[1]] = payload
            return m
        state = {}

        def settled():
            state.update(listed())
            live = {u for u, p in state.items() if p}
            return live == {"sub", "watch"} and live
        ok = wait_until(settled, 10, 0.05)
        self.assertTrue(ok, "presence after the crash: %r" % state)
        sub.stop = True
        sub.join(5)
        watch.close()
        print("  %d + %d events; publisher retries %d; subscriber CONNACKs %r"
              % (n1, n2, pub.retries, sub.sessions), file=sys.stderr)

    @timeout(60)
    def test_02_offline_session_queues_from_its_first_moment(self):
        """A persistent session queues what is published right after its
        connection ends. (The plugin's entry of the ended connection, kept
        until a later tick, shares the broker context with the offline
        session; READ checks for it were denied: every QoS 1 message of
        the first ~100 ms after a disconnect was dropped, 249 of 250 here.
        Found by test_01 failing now and then in part 2.)"""
        s = self.stack
        port = s.ports["mqtt"]
        lost = 0
        first = True
        for rnd in range(5):
            sub = connect_retry(port, "sub", self.tokens["sub"], "fault-sub2", clean=False)
            if first:
                self.assertEqual(sub.subscribe([TOPIC]), [1])
                first = False
            sub.collect(0.2)
            pub = connect_retry(port, "pub", self.tokens["pub"], "fault-pub2")
            other = connect_retry(port, "watch", self.tokens["watch"], "fault-other")
            other.disconnect()           # a reap of ended entries is due ...
            pub.publish(TOPIC, b"0", qos=1)  # ... and runs on this pass
            sub.disconnect()             # so this entry stays ~100 ms
            base = 100000 + 1000 * rnd
            for i in range(50):
                pub.publish(TOPIC, b"%d" % (base + i), qos=1)
            pub.disconnect()
            sub = connect_retry(port, "sub", self.tokens["sub"], "fault-sub2", clean=False)
            self.assertTrue(sub.session_present)
            got = set()
            want = set(range(base, base + 50))
            deadline = time.time() + 5
            while not want <= got and time.time() < deadline:
                got |= {int(p) for _, p, _ in sub.collect(0.1)}
            lost += len(want - got)
            sub.disconnect()
        self.assertEqual(lost, 0, "%d of 250 published right after the disconnect were "
                         "never queued" % lost)


if __name__ == "__main__":
    harness.broker_main()
