# SPDX-License-Identifier: MIT
"""hub-tracker against the real broker and plugin.

Scenarios (each self-contained on one shared stack; the broker-restart
scenario has a stack of its own):
  01 fixes arrive in order with the OwnTracks fields and types
  02 --bench adds _seq/_ts_ms; many devices from a --devices file (--once)
  03 --once with MQTT 5 and 3.1
  04 a wrong secret: a clear error line naming the device, exit 3; mixed
     good and bad devices keep running
  05 visibility: a device in no room is read by its owner only; room
     members read room devices; strangers read nothing
  06 SIGTERM: exit 0 promptly, no will; kill -9: the will reaches the owner
  07 routes: a --route file is driven; bad files exit 2 with a reason
  08 the status line on a terminal
  09 --demo with the hub's own demo data
  10 offline buffer: broker stopped and restarted, fixes flushed in order,
     drops counted with a small --buffer
Run: HUB_BUILD_DIR=build /usr/bin/python3 tests/integration/test_tracker.py
"""
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BIN, MqttClient, timeout, wait_until  # noqa: E402

TRACKER = os.path.join(BIN, "hub-tracker")
# the demo routes lie in central Berlin
BERLIN = (52.45, 52.56, 13.28, 13.50)  # lat min/max, lon min/max


class Tracker:
    """One hub-tracker process; stderr (the log) goes to a file."""

    def __init__(self, stack, args, secret=None, env=None, stdout=None):
        self.stack = stack
        self.log_path = tempfile.mktemp(prefix="tracker-", suffix=".log", dir=stack.dir)
        self._log = open(self.log_path, "wb")
        e = dict(stack.env)
        e.pop("HUB_TRACKER_SECRET", None)
        if secret is not None:
            e["HUB_TRACKER_SECRET"] = secret
        e.update(env or {})
        self.args = [TRACKER] + [str(a) for a in args]
        self.p = subprocess.Popen(self.args, env=e, stdout=stdout or subprocess.DEVNULL,
                                  stderr=self._log, cwd=stack.dir)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_log(self, needle, timeout=10.0, count=1):
        return wait_until(lambda: self.log().count(needle) >= count, timeout)

    def wait(self, timeout=30.0):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            raise AssertionError("hub-tracker did not exit within %ss:\n%s"
                                 % (timeout, self.log()[-3000:]))

    def signal(self, sig):
        if self.p.poll() is None:
            self.p.send_signal(sig)

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self._log.close()

    def summary(self):
        """The numbers of the exit summary line, as ints."""
        m = re.search(r"msg=summary (.*)", self.log())
        if not m:
            raise AssertionError("no summary line:\n" + self.log()[-3000:])
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(1))}

    def assert_clean(self, testcase):
        """No sanitizer report, and no secret in the log."""
        text = self.log()
        testcase.assertNotIn("Sanitizer", text, text[-4000:])
        testcase.assertNotIn("runtime error", text, text[-4000:])


def fixes(msgs, device=None):
    """Decoded location payloads of (topic, payload, retain, t) messages,
    live ones only (retained ones are old news), optionally of one device."""
    out = []
    for topic, payload, retain, t in msgs:
        if retain:
            continue
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != "owntracks":
            continue
        if device and parts[1] != device:
            continue
        body = json.loads(payload)
        if body.get("_type") == "location":
            body["_topic"] = topic
            body["_t"] = t
            out.append(body)
    return out


def first_occurrences(seqs):
    seen, out = set(), []
    for s in seqs:
        if s not in seen:
            seen.add(s)
            out.append(s)
    return out


class TrackerTest(unittest.TestCase):
    """A stack with users alice (owns the devices), carol (member of room
    fleet), bob (in no room) and devices in and out of the room."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(TRACKER):
            raise unittest.SkipTest("hub-tracker not built")
        cls.stack = harness.Stack()
        try:
            st = cls.stack
            st.add_user("alice", rooms={"fleet": "admin"})
            st.add_user("carol", rooms={"fleet": "read"})
            st.add_user("bob")
            cls.secret = {}
            for dev in ("truck1", "truck2", "van1", "van2", "bus7", "killme"):
                cls.secret[dev] = st.device_add(dev, "alice", "fleet")
            cls.secret["loner"] = st.device_add("loner", "alice")
            st.start_broker()
        except Exception:
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

    @property
    def port(self):
        return self.stack.ports["mqtt"]

    def sub(self, user, filters, version=4, **kw):
        c = MqttClient(self.port, user, self.stack.token(user), version=version, **kw)
        self._owned.append(c)
        self.assertEqual(c.connect(), 0, "CONNACK for %s" % user)
        codes = c.sub(filters)
        return c, codes

    def tracker(self, args, secret=None, **kw):
        t = Tracker(self.stack, args, secret=secret, **kw)
        self._owned.append(t)
        return t

    def devices_file(self, devices, bad=()):
        path = tempfile.mktemp(prefix="devices-", dir=self.stack.dir)
        with open(path, "w") as f:
            f.write("# test devices\n\n")
            for d in devices:
                f.write("%s %s\n" % (d, "wrong-secret" if d in bad else self.secret[d]))
        os.chmod(path, 0o600)
        return path

    # ------------------------------------------------------------------
    @timeout(60)
    def test_01_fields_and_order(self):
        owner, _ = self.sub("alice", ["owntracks/truck1/+"])
        member, _ = self.sub("carol", ["owntracks/+/+"])
        t0 = time.time()
        t = self.tracker(["--device", "truck1", "--rate", "2", "--duration", "4"],
                         secret=self.secret["truck1"])
        self.assertEqual(t.wait(20), 0, t.log())
        t.assert_clean(self)
        summary = t.summary()
        got = wait_until(lambda: len(fixes(owner.messages, "truck1")) >= summary["acked"], 5)
        self.assertTrue(got, "owner saw %d of %d fixes" % (len(fixes(owner.messages)),
                                                        summary["acked"]))
        msgs = fixes(owner.take(), "truck1")
        self.assertEqual(summary["fixes"], summary["acked"])
        self.assertEqual(summary["dropped"], 0)
        self.assertEqual(len(msgs), summary["acked"])
        self.assertGreaterEqual(len(msgs), 6)  # 2 Hz for 4 s
        self.assertEqual({m["_topic"] for m in msgs}, {"owntracks/truck1/tracker"})
        tsts = [m["tst"] for m in msgs]
        self.assertEqual(tsts, sorted(tsts), "tst goes backwards")
        ids = [m["_id"] for m in msgs]
        self.assertEqual(len(set(ids)), len(ids), "duplicate _id")
        for m in msgs:
            self.assertEqual(m["_type"], "location")
            for key, kind in (("lat", float), ("lon", float), ("tst", int), ("vel", int),
                              ("cog", int), ("acc", int), ("batt", int), ("bs", int),
                              ("created_at", int), ("tid", str), ("_id", str)):
                self.assertIsInstance(m[key], kind, "%s in %r" % (key, m))
            self.assertTrue(BERLIN[0] < m["lat"] < BERLIN[1] and BERLIN[2] < m["lon"] < BERLIN[3],
                            m)
            self.assertLessEqual(abs(m["tst"] - t0), 10)
            self.assertGreaterEqual(m["created_at"], m["tst"])
            self.assertTrue(0 <= m["vel"] <= 80, m)
            self.assertTrue(0 <= m["cog"] <= 359, m)
            self.assertTrue(1 <= m["acc"] <= 50, m)
            self.assertTrue(0 <= m["batt"] <= 100, m)
            self.assertEqual(m["tid"], "k1")
            self.assertRegex(m["_id"], r"^[0-9a-f]{8}$")
            self.assertNotIn("_seq", m)  # bench fields only with --bench
            self.assertNotIn("_ts_ms", m)
        # the room member reads the room's device too
        self.assertTrue(wait_until(lambda: len(fixes(member.messages, "truck1")) >= len(msgs),
                                   5))
        # the secret never shows up in the log
        self.assertNotIn(self.secret["truck1"], t.log())

    @timeout(60)
    def test_02_bench_fields_many_devices(self):
        devs = ["truck1", "truck2", "van1", "van2", "bus7"]
        owner, _ = self.sub("alice", ["owntracks/+/+"])
        t = self.tracker(["--devices", self.devices_file(devs), "--rate", "5", "--bench",
                          "--duration", "3", "--protocol", "5"])
        self.assertEqual(t.wait(20), 0, t.log())
        t.assert_clean(self)
        s = t.summary()
        self.assertEqual(s["vehicles"], 5)
        self.assertEqual(s["fixes"], s["acked"])
        wait_until(lambda: len(fixes(owner.messages)) >= s["acked"], 5)
        msgs = fixes(owner.take())
        self.assertEqual(len(msgs), s["acked"])
        for d in devs:
            mine = [m for m in msgs if m["_topic"] == "owntracks/%s/tracker" % d]
            self.assertGreaterEqual(len(mine), 10, d)  # 5 Hz for 3 s
            seqs = [m["_seq"] for m in mine]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), d)
            ts = [m["_ts_ms"] for m in mine]
            self.assertEqual(ts, sorted(ts), d)
            for m in mine:
                self.assertIsInstance(m["_ts_ms"], int)
                self.assertLess(abs(m["_ts_ms"] / 1000.0 - m["_t"]), 2.0)
            self.assertEqual(mine[0]["tid"], d[-2:])

    @timeout(60)
    def test_03_once(self):
        owner, _ = self.sub("alice", ["owntracks/+/+"])
        for proto, dev in (("5", "van1"), ("3.1", "van2"), ("3.1.1", "bus7")):
            t = self.tracker(["--device", dev, "--once", "--protocol", proto, "--name", "phone"],
                             secret=self.secret[dev])
            start = time.time()
            self.assertEqual(t.wait(15), 0, t.log())
            self.assertLess(time.time() - start, 5, "--once took too long")
            t.assert_clean(self)
            s = t.summary()
            self.assertEqual((s["fixes"], s["acked"]), (1, 1), proto)
            m = owner.wait_msg("owntracks/%s/phone" % dev, timeout=5,
                               pred=lambda m: not m[2])
            self.assertIsNotNone(m, "no fix from %s (MQTT %s)" % (dev, proto))
            self.assertEqual(json.loads(m[1])["_type"], "location")

    @timeout(60)
    def test_04_wrong_secret(self):
        for proto, code in (("3.1.1", 5), ("5", 0x87)):
            t = self.tracker(["--device", "truck1", "--protocol", proto],
                             secret="not-the-secret")
            rc = t.wait(15)
            log = t.log()
            self.assertEqual(rc, 3, log)
            self.assertIn("truck1: connection refused: not authorised "
                          "(wrong device id or secret)", log)
            self.assertNotIn("not-the-secret", log)
        # an unknown device is refused the same way
        t = self.tracker(["--device", "ghost", "--once"], secret="whatever")
        self.assertEqual(t.wait(15), 3, t.log())
        self.assertIn("ghost: connection refused: not authorised", t.log())
        # --secret works as well as the environment
        t = self.tracker(["--device", "truck2", "--secret", self.secret["truck2"], "--once"])
        self.assertEqual(t.wait(15), 0, t.log())
        # one bad device among good ones: reported, the others go on
        owner, _ = self.sub("alice", ["owntracks/+/+"])
        t = self.tracker(["--devices", self.devices_file(["truck1", "truck2", "van1"],
                                                         bad=["truck2"]),
                          "--duration", "3"])
        self.assertEqual(t.wait(20), 0, t.log())
        log = t.log()
        self.assertEqual(log.count("truck2: connection refused: not authorised"), 1, log)
        self.assertNotIn("truck1: connection refused", log)
        got = {m["_topic"] for m in fixes(owner.collect(0.5))}
        self.assertEqual(got, {"owntracks/truck1/tracker", "owntracks/van1/tracker"})
        # bad usage is 2
        for args in (["--device", "truck1"],  # no secret anywhere
                     ["--devices", "/nonexistent/file"],
                     ["--device", "bad/id", "--secret", "x"],
                     ["--device", "truck1", "--secret", "x", "--rate", "0"],
                     ["--device", "truck1", "--devices", "/dev/null"],
                     ["--bogus"]):
            t = self.tracker(args)
            self.assertEqual(t.wait(10), 2, "%s: %s" % (args, t.log()))

    @timeout(60)
    def test_04b_unreachable(self):
        """No broker: retries with backoff, buffers, --once gives up with 1;
        SIGTERM while offline still exits 0 at once."""
        port = harness.free_port()
        t = self.tracker(["--device", "truck1", "--port", port, "--once", "--duration", "3",
                          "--backoff-min", "200", "--backoff-max", "400"],
                         secret=self.secret["truck1"])
        self.assertEqual(t.wait(15), 1, t.log())
        log = t.log()
        self.assertIn("truck1: cannot connect to 127.0.0.1:%d (Connection refused)" % port, log)
        warnings = [l for l in log.splitlines() if "level=warn" in l and "cannot connect" in l]
        self.assertEqual(len(warnings), 1, "one warning per outage (the rest at debug)")
        self.assertGreaterEqual(log.count("cannot connect"), 4, "retries every 0.1-0.4 s")
        self.assertIn("--once: 1 of 1 vehicles did not get a fix acknowledged", log)
        t = self.tracker(["--device", "truck1", "--port", port, "--rate", "5"],
                         secret=self.secret["truck1"])
        time.sleep(2.0)
        t.signal(signal.SIGTERM)
        start = time.time()
        self.assertEqual(t.wait(10), 0, t.log())
        self.assertLess(time.time() - start, 1.0)
        s = t.summary()
        self.assertEqual(s["acked"], 0)
        self.assertGreaterEqual(s["unsent"], 8)
        self.assertEqual(s["unsent"], s["fixes"])

    @timeout(60)
    def test_05_visibility(self):
        owner, codes = self.sub("alice", ["owntracks/loner/+"])
        self.assertEqual(codes, [1])
        member, _ = self.sub("carol", ["owntracks/+/+"])
        stranger, _ = self.sub("bob", ["owntracks/+/+"])
        stranger2, codes2 = self.sub("bob", ["owntracks/loner/+"])
        t = self.tracker(["--devices", self.devices_file(["loner", "truck1"]),
                          "--duration", "3", "--rate", "2"])
        self.assertEqual(t.wait(20), 0, t.log())
        s = t.summary()
        self.assertEqual(s["fixes"], s["acked"])
        time.sleep(0.5)
        mine = fixes(owner.take(), "loner")
        self.assertGreaterEqual(len(mine), 4, "the owner reads a device in no room")
        seen = fixes(member.take())
        self.assertTrue(seen and all(m["_topic"].startswith("owntracks/truck1/") for m in seen),
                        "a room member reads room devices only: %r"
                        % sorted({m["_topic"] for m in seen}))
        self.assertEqual(fixes(stranger.take()), [], "a stranger reads nothing")
        self.assertEqual(fixes(stranger2.take()), [],
                         "a stranger's direct subscription (SUBACK %r) gets nothing" % codes2)

    @timeout(60)
    def test_06_sigterm_and_will(self):
        status, _ = self.sub("alice", ["users/truck1/status", "users/killme/status",
                                       "owntracks/truck1/+", "owntracks/killme/+"])
        status.take()
        # SIGTERM: prompt, exit 0, a clean DISCONNECT (no will)
        t = self.tracker(["--device", "truck1", "--rate", "5"], secret=self.secret["truck1"])
        self.assertTrue(status.wait_msg("owntracks/truck1/tracker", timeout=10,
                                        pred=lambda m: not m[2]))
        time.sleep(0.5)
        t.signal(signal.SIGTERM)
        start = time.time()
        self.assertEqual(t.wait(10), 0, t.log())
        self.assertLess(time.time() - start, 2.5, "SIGTERM took too long")
        t.assert_clean(self)
        s = t.summary()
        self.assertEqual(s["unsent"], 0)
        self.assertEqual(s["fixes"], s["acked"])
        time.sleep(1.0)
        wills = [m for m in status.take("users/truck1/status")
                 if json.loads(m[1] or b"{}") == {"online": False}]
        self.assertEqual(wills, [], "a clean shutdown must not publish the will")
        # SIGINT is as clean
        t = self.tracker(["--device", "truck1"], secret=self.secret["truck1"])
        self.assertTrue(t.wait_log("truck1: connected", 10))
        t.signal(signal.SIGINT)
        self.assertEqual(t.wait(10), 0, t.log())
        # kill -9: the broker publishes the will, the owner sees it
        status.take()
        t = self.tracker(["--device", "killme", "--keepalive", "10"],
                         secret=self.secret["killme"])
        self.assertTrue(status.wait_msg("owntracks/killme/tracker", timeout=10,
                                        pred=lambda m: not m[2]))
        status.take("users/killme/status")
        killed = time.time()
        t.signal(signal.SIGKILL)
        t.wait(5)
        will = status.wait_msg("users/killme/status", timeout=5,
                               pred=lambda m: json.loads(m[1] or b"{}") == {"online": False})
        self.assertIsNotNone(will, "no will on users/killme/status after kill -9")
        self.assertLess(will[3] - killed, 3.0)

    @timeout(60)
    def test_07_routes(self):
        route = {"type": "Feature", "properties": {"name": "square"},
                 "geometry": {"type": "LineString",
                              "coordinates": [[10.0, 50.0], [10.01, 50.0], [10.01, 50.01],
                                              [10.0, 50.01], [10.0, 50.0]]}}
        path = os.path.join(self.stack.dir, "square.geojson")
        with open(path, "w") as f:
            json.dump(route, f)
        owner, _ = self.sub("alice", ["owntracks/bus7/+"])
        t = self.tracker(["--device", "bus7", "--route", path, "--rate", "10", "--duration", "2"],
                         secret=self.secret["bus7"])
        self.assertEqual(t.wait(15), 0, t.log())
        time.sleep(0.3)
        msgs = fixes(owner.take(), "bus7")
        self.assertGreaterEqual(len(msgs), 10)
        for m in msgs:
            # on the square, give or take the simulated GPS noise
            self.assertTrue(49.9995 < m["lat"] < 50.0105 and 9.9995 < m["lon"] < 10.0105, m)
            on_edge = min(abs(m["lat"] - 50.0), abs(m["lat"] - 50.01),
                          abs(m["lon"] - 10.0), abs(m["lon"] - 10.01))
            self.assertLess(on_edge, 0.0002, m)
        # a bare geometry and a FeatureCollection with other geometries work too
        for doc in ({"type": "LineString", "coordinates": [[10, 50], [10.001, 50.001]]},
                    {"type": "FeatureCollection", "features": [
                        {"type": "Feature", "properties": {},
                         "geometry": {"type": "Point", "coordinates": [10, 50]}},
                        {"type": "Feature", "properties": None,
                         "geometry": {"type": "MultiLineString",
                                      "coordinates": [[[10, 50], [10.001, 50.001]]]}}]}):
            with open(path, "w") as f:
                json.dump(doc, f)
            t = self.tracker(["--device", "bus7", "--route", path, "--once"],
                             secret=self.secret["bus7"])
            self.assertEqual(t.wait(15), 0, t.log())
        # bad files: exit 2 and a reason naming the file
        bad = {
            "broken.geojson": ("{\"type\": \"Feature\", ", "not valid JSON"),
            "points.geojson": (json.dumps({"type": "Point", "coordinates": [1, 2]}),
                               "no LineString"),
            "range.geojson": (json.dumps({"type": "LineString",
                                          "coordinates": [[200, 50], [10, 50]]}), "outside"),
            "short.geojson": (json.dumps({"type": "LineString", "coordinates": [[10, 50]]}),
                              "at least two positions"),
            "junk.geojson": (json.dumps({"type": "LineString", "coordinates": [[10, "x"],
                                                                              [1, 2]]}),
                             "not [lon, lat]"),
            "notgeo.geojson": ("[1, 2, 3]", "not GeoJSON"),
        }
        for name, (text, reason) in bad.items():
            p = os.path.join(self.stack.dir, name)
            with open(p, "w") as f:
                f.write(text)
            t = self.tracker(["--device", "bus7", "--route", p, "--once"],
                             secret=self.secret["bus7"])
            self.assertEqual(t.wait(10), 2, t.log())
            self.assertIn(p, t.log())
            self.assertIn(reason, t.log(), name)
        t = self.tracker(["--device", "bus7", "--route", "/nonexistent.geojson", "--once"],
                         secret=self.secret["bus7"])
        self.assertEqual(t.wait(10), 2, t.log())
        self.assertIn("No such file", t.log())

    @timeout(60)
    def test_08_tty_status_line(self):
        master, slave = pty.openpty()
        try:
            t = self.tracker(["--device", "van1", "--duration", "2.5"],
                             secret=self.secret["van1"], stdout=slave)
            os.close(slave)
            slave = None
            out = b""
            deadline = time.time() + 15
            while time.time() < deadline:
                r, _, _ = select.select([master], [], [], 0.5)
                if r:
                    try:
                        chunk = os.read(master, 4096)
                    except OSError:
                        break
                    if not chunk:
                        break
                    out += chunk
                elif t.p.poll() is not None:
                    break
            self.assertEqual(t.wait(10), 0, t.log())
            text = out.decode(errors="replace")
            self.assertIn("\r\x1b[K", text)
            self.assertRegex(text, r"hub-tracker: 1/1 online \| \d+ fixes/s sent")
            self.assertIn("dropped 0", text)
            # not on a terminal: no escape sequences in the log
            self.assertNotIn("\x1b[", t.log())
        finally:
            if slave is not None:
                os.close(slave)
            os.close(master)


class TrackerDemoTest(unittest.TestCase):
    """--demo: the hub seeds demo data on its first start; the tracker
    finds the device secrets in <data_dir>/demo-devices.txt."""

    @timeout(90)
    def test_09_demo(self):
        if not os.path.exists(TRACKER) or not harness.hubd_built():
            raise unittest.SkipTest("hub-tracker or hubd not built")
        with harness.Stack() as st:
            st.start_hubd()
            self.assertTrue(wait_until(
                lambda: os.path.exists(os.path.join(st.data, "demo-devices.txt")), 20))
            st.start_broker()
            sub = MqttClient(st.ports["mqtt"], "demo", st.token("demo"), version=4)
            try:
                self.assertEqual(sub.connect(), 0)
                sub.sub("owntracks/+/+")
                t = Tracker(st, ["--demo", "--once"])
                try:
                    self.assertEqual(t.wait(20), 0, t.log())
                    s = t.summary()
                    self.assertEqual((s["vehicles"], s["acked"]), (2, 2))
                finally:
                    t.close()
                got = wait_until(lambda: len(fixes(sub.messages)) >= 2, 5)
                self.assertTrue(got)
                topics = sorted(m["_topic"] for m in fixes(sub.take()))
                self.assertEqual(topics, ["owntracks/truck1/tracker",
                                          "owntracks/truck2/tracker"])
            finally:
                sub.close()


class TrackerOfflineTest(unittest.TestCase):
    """The broker goes away and comes back: fixes taken meanwhile are
    buffered and flushed in order; with a small --buffer the oldest are
    dropped and counted.

    The subscriber has to be back before the trackers flush (the hub does
    not keep messages for a session it has not authenticated in this broker
    run), so the trackers are paused (SIGSTOP) while the broker restarts and
    the subscriber reconnects, then resumed."""

    @timeout(120)
    def test_10_offline_buffer(self):
        if not os.path.exists(TRACKER):
            raise unittest.SkipTest("hub-tracker not built")
        with harness.Stack() as st:
            st.add_user("alice", rooms={"fleet": "admin"})
            secrets = {d: st.device_add(d, "alice", "fleet") for d in ("van1", "van2")}
            st.start_broker()
            port = st.ports["mqtt"]

            def subscriber():
                c = MqttClient(port, "alice", st.token("alice"), version=4)
                self.assertEqual(c.connect(), 0)
                self.assertEqual(c.sub("owntracks/+/+", qos=1), [1])
                return c

            sub = subscriber()
            common = ["--rate", "2", "--bench", "--backoff-min", "300", "--backoff-max", "1000"]
            big = Tracker(st, ["--device", "van1"] + common, secret=secrets["van1"])
            small = Tracker(st, ["--device", "van2", "--buffer", "3"] + common,
                            secret=secrets["van2"])
            received = []
            try:
                self.assertTrue(wait_until(lambda: len(fixes(sub.messages, "van1")) >= 3 and
                                           len(fixes(sub.messages, "van2")) >= 3, 10))
                st.stop("broker")
                outage = time.time()
                self.assertTrue(big.wait_log("van1: connection lost", 5), big.log())
                self.assertTrue(small.wait_log("van2: connection lost", 5), small.log())
                received += sub.take()
                sub.close()
                time.sleep(4.0)  # about 8 fixes each, buffered
                for t in (big, small):
                    t.signal(signal.SIGSTOP)
                paused = time.time()
                st.start_broker()
                sub = subscriber()
                for t in (big, small):
                    t.signal(signal.SIGCONT)
                self.assertTrue(big.wait_log("van1: reconnected", 10), big.log())
                self.assertTrue(small.wait_log("van2: reconnected", 10), small.log())
                time.sleep(1.5)  # a few live fixes after the flush
                for t in (big, small):
                    t.signal(signal.SIGTERM)
                    self.assertEqual(t.wait(10), 0, t.log())
                    t.assert_clean(self)
                time.sleep(0.5)
                received += sub.take()
            finally:
                sub.close()
                big.close()
                small.close()
            down = paused - outage  # the time fixes were taken offline

            # van1 (buffer 1000): everything arrives, in order, nothing dropped
            s1 = big.summary()
            seqs = first_occurrences(m["_seq"] for m in fixes(received, "van1"))
            self.assertEqual(s1["dropped"], 0)
            self.assertEqual(s1["fixes"], s1["acked"])
            self.assertEqual(seqs, list(range(1, s1["fixes"] + 1)),
                             "van1 fixes missing or out of order")
            m = re.search(r"van1: reconnected after [\d.]+ s; sending (\d+) buffered fixes, "
                          r"0 dropped", big.log())
            self.assertTrue(m, big.log())
            self.assertGreaterEqual(int(m.group(1)), int(down * 2) - 3)
            # the buffered ones keep their fix time: tst before the reconnect
            flushed = [f for f in fixes(received, "van1") if f["created_at"] - f["tst"] >= 2]
            self.assertGreaterEqual(len(flushed), 4, "buffered fixes keep their own tst")

            # van2 (buffer 3): the newest 3 of the outage survive, the rest
            # is dropped oldest-first and counted
            s2 = small.summary()
            seqs2 = first_occurrences(m["_seq"] for m in fixes(received, "van2"))
            self.assertEqual(seqs2, sorted(seqs2), "van2 out of order")
            missing = sorted(set(range(1, s2["fixes"] + 1)) - set(seqs2))
            m = re.search(r"van2: reconnected after [\d.]+ s; sending (\d+) buffered fixes, "
                          r"(\d+) dropped while offline", small.log())
            self.assertTrue(m, small.log())
            self.assertEqual(int(m.group(1)), 3)
            dropped = int(m.group(2))
            self.assertGreaterEqual(dropped, int(down * 2) - 6)
            self.assertEqual(s2["dropped"], dropped)
            self.assertEqual(len(missing), dropped, "missing %r" % missing)
            # the dropped ones are one run: the oldest of the outage
            self.assertEqual(missing, list(range(missing[0], missing[0] + len(missing))))
            self.assertEqual(s2["acked"] + s2["dropped"] + s2["unsent"], s2["fixes"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
