#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Chat history under abuse (issue 11, item 5), real broker + plugin + hubd:

- an event over history_event_max is delivered live but not stored;
- a history page is bounded in count and bytes, pages back with has_more /
  before, and never loads an oversized stored payload;
- parallel reads of a room full of big events keep hubd's memory bounded
  and /healthz fast (reads run on the reader thread, not the service
  loop), and over history_reads_max they get 503 at once.

Figures (RSS, /healthz p50/p99 during the reads) are printed; only
generous bounds are asserted.
"""
import http.client
import json
import os
import sqlite3
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, timeout  # noqa: E402

EVENT_MAX = 65536
PAGE_BYTES = 262144


def rss_kb(pid, field="VmRSS"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def get(port, path, cookie=None, timeout_s=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path, headers={"Cookie": "hub_sid=" + cookie} if cookie else {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


class HistoryLimits(BrokerTestCase):
    stack_conf = {"history_max": 300, "log_level": "info"}
    broker_extra = ""

    @classmethod
    def prepare(cls, st):
        st.add_user("carol", rooms={"lobby": "write"})
        st.add_user("bob", rooms={"lobby": "read"})
        st.add_user("dave", rooms={"lobby": "read"})

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stack.start_hubd()
        cls.hubd_pid = cls.stack.procs["hubd"].pid
        cls.cookie, _, _ = cls.stack.login("bob")
        cls.cookies = [cls.cookie, cls.stack.login("carol")[0], cls.stack.login("dave")[0]]

    def db(self):
        return sqlite3.connect(os.path.join(self.stack.data, "hub.db"))

    def stored(self, room="lobby"):
        with self.db() as db:
            return db.execute("SELECT count(*) FROM messages WHERE room = ?",
                              (room,)).fetchone()[0]

    def page(self, query="", cookie=None):
        st, body = get(self.stack.ports["http"], "/api/rooms/lobby/messages" + query,
                       cookie or self.cookie)
        return st, body

    @timeout(120)
    def test_01_oversize_event_delivered_not_stored(self):
        carol = self.user_client("carol")
        bob = self.user_client("bob")
        self.assertEqual(bob.sub(["rooms/lobby/ev/#"]), [1])
        big = json.dumps({"blob": "z" * (EVENT_MAX + 10)}).encode()
        small = json.dumps({"n": "small"}).encode()
        before = self.stored()
        carol.pub("rooms/lobby/ev/chat message/carol", big, qos=1)
        carol.pub("rooms/lobby/ev/chat message/carol", small, qos=1)
        # both are delivered live
        self.assertIsNotNone(bob.wait_msg("rooms/lobby/ev/chat message/carol", 5,
                                          pred=lambda m: m[1] == big))
        self.assertIsNotNone(bob.wait_msg("rooms/lobby/ev/chat message/carol", 5,
                                          pred=lambda m: m[1] == small))
        # only the small one is stored (the writer batches: wait for it)
        self.assertTrue(harness.wait_until(lambda: self.stored() == before + 1, 10))
        with self.db() as db:
            self.assertEqual(db.execute("SELECT max(length(data)) FROM messages").fetchone()[0],
                             len(small))
        self.assertTrue(self.stack.wait_log("broker", "history: event too big to store", 5))

    @timeout(300)
    def test_02_pages_bounded_parallel_reads_and_healthz(self):
        # a room full of events just under the cap: 300 x 60 KiB = 18 MiB
        carol = self.user_client("carol")
        payload = json.dumps({"text": "y" * 61000}).encode()
        for i in range(300):
            carol.pub("rooms/lobby/ev/chat message/carol", payload, qos=1, timeout=30)
        self.assertTrue(harness.wait_until(lambda: self.stored() >= 300, 60),
                        "stored %d" % self.stored())
        # a legacy row over the cap (stored before the cap existed)
        with self.db() as db:
            db.execute("INSERT INTO messages(room, event, sender, ts, data) "
                       "VALUES('lobby', 'chat message', 'carol', 1, ?)",
                       (b"x" * (4 << 20),))

        # /healthz alone, then during 6 parallel readers
        port = self.stack.ports["http"]

        def probe(until, out):
            while time.time() < until:
                t0 = time.time()
                st, _ = get(port, "/healthz", timeout_s=30)
                out.append((time.time() - t0, st))
                time.sleep(0.02)

        idle = []
        probe(time.time() + 2.0, idle)
        rss0 = rss_kb(self.hubd_pid)
        hwm0 = rss_kb(self.hubd_pid, "VmHWM")
        statuses, lock, loaded = {}, threading.Lock(), []
        stop = time.time() + 8.0
        peak = [rss0]

        def reader(i):
            # three users, two readers each (one user may have 4 reads
            # waiting: READS_PER_USER)
            while time.time() < stop:
                st, body = self.page("?limit=500", self.cookies[i % 3])
                with lock:
                    statuses[st] = statuses.get(st, 0) + 1
                    peak[0] = max(peak[0], rss_kb(self.hubd_pid))

        def heap():
            st, body = get(port, "/metrics", timeout_s=30)
            self.assertEqual(st, 200)
            for line in body.decode().splitlines():
                if line.startswith("hub_heap_bytes "):
                    return int(line.split()[1])
            self.fail("no hub_heap_bytes in /metrics")

        heap0, heaps = heap(), []

        def heap_sampler():
            while time.time() < stop:
                heaps.append(heap())
                time.sleep(0.05)

        threads = [threading.Thread(target=reader, args=(i,)) for i in range(6)]
        prober = threading.Thread(target=probe, args=(stop, loaded))
        sampler = threading.Thread(target=heap_sampler)
        for t in threads + [prober, sampler]:
            t.start()
        for t in threads + [prober, sampler]:
            t.join()
        hwm = rss_kb(self.hubd_pid, "VmHWM")

        def pct(xs, p):
            xs = sorted(x for x, _ in xs)
            return xs[min(len(xs) - 1, int(p * len(xs)))] * 1000

        heap_peak = max(heaps + [heap0])
        print("  6 parallel readers, 8 s: %s; hubd heap %d -> peak %d KiB (n=%d); "
              "RSS %d -> peak %d KiB (VmHWM %d -> %d KiB)\n"
              "  /healthz idle p50 %.1f ms p99 %.1f ms (n=%d); during reads p50 %.1f ms "
              "p99 %.1f ms max %.1f ms (n=%d)"
              % (statuses, heap0 >> 10, heap_peak >> 10, len(heaps), rss0, peak[0], hwm0, hwm, pct(idle, .5), pct(idle, .99), len(idle),
                 pct(loaded, .5), pct(loaded, .99), pct(loaded, 1), len(loaded)),
              file=sys.stderr)
        self.assertTrue(all(st == 200 for _, st in loaded))
        self.assertEqual(set(statuses), {200}, statuses)
        self.assertGreater(statuses.get(200, 0), 12, statuses)
        # before: 6 readers of this room held hundreds of MiB; now a few
        # pages of 256 KiB at a time. Measured as the allocator counts it
        # (/metrics hub_heap_bytes): resident memory also depends on the
        # machine (huge pages, freed memory the allocator keeps), so it is
        # printed, not asserted.
        self.assertGreater(len(heaps), 10, "the heap was sampled during the reads")
        self.assertLess(heap_peak - heap0, 16 << 20,
                        "hubd held %d KiB more" % ((heap_peak - heap0) >> 10))
        self.assertLess(pct(loaded, .99), 1000)

        # one page: bounded, newest last, has_more/before page back
        st, body = self.page("?limit=500")
        self.assertEqual(st, 200)
        self.assertLess(len(body), PAGE_BYTES + 6 * EVENT_MAX)
        j = json.loads(body)
        msgs = j["messages"]
        self.assertTrue(j["has_more"])
        self.assertEqual(j["before"], msgs[0]["id"])
        self.assertEqual([m["id"] for m in msgs], sorted(m["id"] for m in msgs))
        self.assertTrue(msgs[-1].get("omitted"), msgs[-1].keys())  # the 4 MiB row
        self.assertEqual(msgs[-1]["size"], 4 << 20)
        self.assertIsNone(msgs[-1]["data"])
        ids, before, pages = set(), None, 0
        while True:
            st, body = self.page("?limit=500" + ("&before=%d" % before if before else ""))
            self.assertEqual(st, 200)
            j = json.loads(body)
            ids.update(m["id"] for m in j["messages"])
            pages += 1
            if not j["has_more"]:
                break
            before = j["before"]
        self.assertEqual(len(ids), self.stored())
        print("\n  %d messages (%.1f MiB) read back in %d pages of <= %d KiB"
              % (len(ids), self.stored() * 61000 / 2**20, pages, PAGE_BYTES // 1024),
              file=sys.stderr)

    @timeout(60)
    def test_03_reads_over_the_bound_get_503(self):
        # many at once: beyond history_reads_max (16) they are refused at
        # once instead of queueing memory
        results, lock = [], threading.Lock()

        def one():
            st, _ = self.page("?limit=500")
            with lock:
                results.append(st)

        threads = [threading.Thread(target=one) for _ in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertTrue(set(results) <= {200, 503}, results)
        self.assertIn(200, results)
        st, _ = get(self.stack.ports["http"], "/healthz")
        self.assertEqual(st, 200)


if __name__ == "__main__":
    harness.broker_main()
