# SPDX-License-Identifier: MIT
"""hub-bridge under a flood of unauthenticated handshakes (issue 11, item
2): sessions that have not authenticated yet have their own short life and
quotas (sio_connect_timeout, sio_pending_per_addr per address,
sio_pending_max in all, the oldest evicted beyond), and an authenticated
user always gets in.

  01 one address over its quota: 503 {"code":3} with Retry-After; other
     addresses unaffected; the quota frees when the sessions time out
  02 handshakes from many addresses beyond the global quota evict the
     oldest unauthenticated sessions, never authenticated ones
  03 an unauthenticated session ends after sio_connect_timeout (400 after)
  04 60 000 bare handshakes from one address, then 30 000 from 64
     addresses (the issue's attack): stock socket.io-client users connect,
     join, emit and receive during and after both floods; prints the
     refusal rate and the gateway's RSS (before, peak, after)
  SioCapacity: authenticated sockets beyond sio_max_sockets get
     connect_error "server full"; a freed place is taken again

Sources are loopback aliases (127.0.0.x): any 127.0.0.0/8 address is a
local source on Linux. The stack runs the default quotas, except a
shorter sio_connect_timeout (3 s) so the expiry cases are quick.
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import unittest
import http.client

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BUILD, NODE_DIR, REPO, SioClient, Stack, wait_until  # noqa: E402

EIO = "/socket.io/?EIO=4&transport=polling"
PER_ADDR = 256       # sio_pending_per_addr default
PENDING_MAX = 8192   # sio_pending_max default
TIMEOUT_MS = 3000    # sio_connect_timeout here (default 5000)


def sanitized():
    """AddressSanitizer keeps freed memory in quarantine: RSS then says
    nothing about what the gateway holds."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return "HUB_SANITIZE:BOOL=ON" in f.read()
    except OSError:
        return False


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Source:
    """Keep-alive HTTP/1.1 requests from one local address."""

    def __init__(self, port, addr):
        self.port, self.addr = port, addr
        self.conn = None

    def get(self, path):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                                       source_address=(self.addr, 0))
            try:
                self.conn.request("GET", path)
                r = self.conn.getresponse()
                body = r.read()
                if r.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, dict((k.lower(), v) for k, v in r.getheaders()), body
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def handshake(self):
        status, hdrs, body = self.get(EIO)
        sid = json.loads(body[1:])["sid"] if status == 200 else None
        return status, hdrs, body, sid

    def close(self):
        if self.conn:
            self.conn.close()


class RssWatch:
    """Samples the gateway's RSS every 50 ms until stopped."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop_ev = pid, 0, threading.Event()
        self.before = rss_kb(pid)
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop_ev.wait(0.05):
            self.peak = max(self.peak, rss_kb(self.pid))

    def stop(self):
        self.stop_ev.set()
        self.t.join(2)
        self.after = rss_kb(self.pid)
        self.peak = max(self.peak, self.after)
        return self


class SioFlood(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack(extra_conf={"sio_connect_timeout": TIMEOUT_MS, "log_level": "info"})
        cls.objs = []
        try:
            cls.st.start_broker()
            cls.st.start_hubd()
            for u in ("alice", "bob"):
                cls.st.add_user(u, rooms={"lobby": "write"})
            cls.st.start_bridge()
        except Exception:
            cls.st.close()
            raise
        cls.port = cls.st.ports["sio"]
        cls.figures = []
        # bob's socket receives what the users emit, through every flood
        cls.receiver = SioClient(cls.st.sio_url(), {"transports": ["websocket"],
                                                    "auth": {"token": cls.st.token("bob")}},
                                 "bob-receiver")
        cls.objs.append(cls.receiver)
        cls.receiver.wait("connect", timeout=20)

    @classmethod
    def tearDownClass(cls):
        for o in cls.objs:
            try:
                o.close()
            except Exception:
                pass
        cls.st.stop("bridge")
        log = cls.st.log("bridge")
        for line in log.splitlines():
            if "msg=stopped" in line:
                print("  gateway counters: " + line.split("msg=stopped", 1)[1].strip(),
                      file=sys.stderr)
        for f in cls.figures:
            print("  " + f, file=sys.stderr)
        cls.st.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]

    def client(self, user, opts=None, name=None):
        opts = dict(opts or {})
        opts["auth"] = {"token": self.st.token(user)}
        c = SioClient(self.st.sio_url(), opts, name or user)
        self.objs.append(c)
        return c

    def user_works(self, tag, transports=None):
        """A stock socket.io-client user connects (from 127.0.0.1), its ack
        comes back and another user's socket receives its event. Returns
        the connect time in seconds."""
        opts = {"transports": transports} if transports else {}
        t0 = time.time()
        a = self.client("alice", opts, "alice-" + tag)
        e = a.wait("connect", timeout=20)
        took = time.time() - t0
        self.assertEqual(e["ev"], "connect")
        err, args = a.call("chat message", {"tag": tag}, timeout=10000)
        self.assertIsNone(err)
        self.assertTrue(args[0]["ok"], args)
        self.receiver.event("chat message", lambda x: x[0].get("tag") == tag, timeout=10)
        a.close()
        return took


    def test_01_per_address_quota(self):
        src = Source(self.port, "127.0.0.2")
        sids = []
        for i in range(PER_ADDR):
            status, _, _, sid = src.handshake()
            self.assertEqual(status, 200, "handshake %d" % i)
            sids.append(sid)
        status, hdrs, body, _ = src.handshake()
        self.assertEqual(status, 503, body)
        self.assertEqual(json.loads(body)["code"], 3)
        self.assertGreaterEqual(int(hdrs["retry-after"]), 1)
        # a WebSocket handshake from there is refused the same way
        ws = socket.create_connection(("127.0.0.1", self.port), timeout=5,
                                      source_address=("127.0.0.2", 0))
        ws.sendall(("GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode())
        # read to the end: headers and body may come in separate segments
        got = b""
        while True:
            part = ws.recv(4096)
            if not part:
                break
            got += part
        # (lws writes the status line of a refused upgrade as HTTP/1.0)
        self.assertRegex(got, rb"^HTTP/1\.[01] 503 ")
        self.assertIn(b'"code":3', got)
        ws.close()
        # another address, and an authenticated user, are not affected
        other = Source(self.port, "127.0.0.3")
        self.assertEqual(other.handshake()[0], 200)
        other.close()
        self.user_works("quota")
        # the sessions time out; the address may handshake again
        self.assertTrue(wait_until(lambda: src.get(EIO + "&sid=" + sids[0])[0] == 400,
                                   TIMEOUT_MS / 1000.0 + 5, 0.2))
        self.assertTrue(wait_until(lambda: src.handshake()[0] == 200, 5, 0.1))
        src.close()

    def test_02_global_quota_evicts_oldest(self):
        """Many addresses beyond sio_pending_max: the oldest unauthenticated
        sessions make room, authenticated sockets stay."""
        keep = self.client("alice", {"transports": ["websocket"]}, "alice-keeps")
        keep.wait("connect", timeout=20)
        srcs = [Source(self.port, "127.0.1.%d" % (i + 1)) for i in range(40)]
        first = None
        n = 0
        # 40 addresses x 220 = 8800 > 8192: the first ones are evicted
        for i in range(220):
            for s in srcs:
                status, _, _, sid = s.handshake()
                self.assertEqual(status, 200)
                first = first or (s, sid)
                n += 1
        status, _, body = first[0].get(EIO + "&sid=" + first[1])
        self.assertEqual((status, json.loads(body)["code"]), (400, 1), "the oldest stayed")
        for s in srcs:
            s.close()
        err, args = keep.call("chat message", {"tag": "kept"}, timeout=10000)
        self.assertTrue(args[0]["ok"], args)
        self.receiver.event("chat message", lambda x: x[0].get("tag") == "kept", timeout=10)
        self.figures.append("global quota: %d handshakes from 40 addresses, the oldest evicted"
                            % n)

    def test_03_unauthenticated_life(self):
        src = Source(self.port, "127.0.0.4")
        _, _, _, sid = src.handshake()
        t0 = time.time()
        # alive now (a POST of a pong is accepted), gone after the timeout
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("POST", EIO + "&sid=" + sid, body=b"6")
        self.assertEqual(c.getresponse().read(), b"ok")
        c.close()
        self.assertTrue(wait_until(lambda: src.get(EIO + "&sid=" + sid)[0] == 400,
                                   TIMEOUT_MS / 1000.0 + 5, 0.2))
        took = time.time() - t0
        self.assertGreaterEqual(took, TIMEOUT_MS / 1000.0 * 0.9)
        src.close()

    def flood(self, total, addrs, tag):
        p = subprocess.Popen(["node", os.path.join(NODE_DIR, "sio_flood.mjs"),
                              json.dumps({"url": self.st.sio_url(), "total": total,
                                          "concurrency": 64, "addrs": addrs})],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.objs.append(type("P", (), {"close": lambda s: p.poll() is None and p.kill()})())
        line = p.stdout.readline()
        self.assertIn("progress", line, p.stderr.read() if not line else line)
        return p

    def flood_result(self, p, timeout=300):
        out, err = p.communicate(timeout=timeout)
        self.assertEqual(p.returncode, 0, err[-2000:])
        return json.loads(out.strip().splitlines()[-1])

    def test_04_issue_flood(self):
        pid = self.st.procs["bridge"].pid
        for total, addrs, tag in ((60000, ["127.0.0.5"], "one address"),
                                  (30000, ["127.0.2.%d" % (i + 1) for i in range(64)],
                                   "64 addresses")):
            rss = RssWatch(pid)
            p = self.flood(total, addrs, tag)
            connects = []
            # while the flood goes on: polling (with upgrade) and WebSocket
            while p.poll() is None and len(connects) < 6:
                connects.append(self.user_works("%s-%d" % (tag, len(connects)),
                                                None if len(connects) % 2 else ["websocket"]))
            res = self.flood_result(p)
            during = len(connects)
            connects.append(self.user_works(tag + "-after"))
            rss.stop()
            refused = res["status"].get("503", 0)
            self.figures.append(
                "flood from %s: %d bare handshakes in %.1f s (%.0f/s), %d answered 200, %d "
                "refused 503 (%.1f%%), %d errors; authenticated connects %d/%d ok (%d during the "
                "flood), connect time max %.2f s; gateway RSS %d kB before, %d kB peak, %d kB "
                "after" % (tag, total, res["seconds"], res["per_s"], res["status"].get("200", 0),
                           refused, 100.0 * refused / total, res["errors"], len(connects),
                           len(connects), during, max(connects), rss.before, rss.peak,
                           rss.after))
            self.assertEqual(res["errors"], 0, res)
            self.assertEqual(sum(res["status"].values()), total, res)
            self.assertEqual(set(res["status"]) - {"200", "503"}, set(), res)
            if len(addrs) == 1:
                # one address holds at most its quota at once
                self.assertGreater(refused, total / 2, res)
                self.assertTrue(res["retry_after"], res)
            # what the flood can make the gateway hold is bounded by the
            # quotas: sio_pending_max sessions, a few kB each
            if not sanitized():
                self.assertLess(rss.peak - rss.before, 64 * 1024, vars(rss))
        print("\n".join("  " + f for f in self.figures[-2:]), file=sys.stderr)


class SioCapacity(unittest.TestCase):
    """Authenticated sockets have their own capacity (sio_max_sockets): a
    CONNECT beyond it is refused with "server full" (the session stays
    unauthenticated), handshakes go on, and a place that frees is taken."""

    def test_server_full(self):
        st = Stack(extra_conf={"sio_max_sockets": 2})
        clients = []
        try:
            st.start_broker()
            st.start_hubd()
            st.add_user("alice", rooms={"lobby": "write"})
            st.start_bridge()

            def client(name):
                c = SioClient(st.sio_url(), {"transports": ["websocket"],
                                             "auth": {"token": st.token("alice")}}, name)
                clients.append(c)
                return c
            a, b = client("a"), client("b")
            a.wait("connect", timeout=15)
            b.wait("connect", timeout=15)
            c = client("c")
            self.assertEqual(c.wait("connect_error", timeout=15)["message"], "server full")
            self.assertTrue(wait_until(lambda: "reason=server-full" in st.log("bridge"), 10))
            a.cmd(op="disconnect")
            a.wait("disconnect", timeout=10)
            # the gateway frees the place when it has seen the close (the
            # client's "disconnect" may come first): a new client gets in
            # within a deadline
            deadline = time.time() + 15
            while True:
                d = client("d")
                ev = d.wait_any(("connect", "connect_error"), timeout=15)
                if ev["ev"] == "connect":
                    break
                self.assertEqual(ev["message"], "server full")
                self.assertLess(time.time(), deadline, "the freed place was never taken")
                d.close()
                time.sleep(0.05)
        finally:
            for c in clients:
                c.close()
            log = st.log("bridge")
            st.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]


if __name__ == "__main__":
    unittest.main(verbosity=2)
