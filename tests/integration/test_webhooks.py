# SPDX-License-Identifier: MIT
"""Webhooks end to end (CONTRACT.md "Backends", webhooks): the real hubd
with its sender thread POSTing to a real local HTTP receiver
(harness.WebhookReceiver). Signed login/logout bodies; retries with growing
delays after 500s and while the receiver is down; tries in flight through a
SIGTERM and a kill -9 of hubd (the same id again); at most 4 tries at once
per URL, and a slow URL neither holding up another nor logins; expiry after
24 h; redirects not followed; hubctl webhook list counts and /metrics;
neither a secret nor a URL's token in the log."""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Stack, WebhookReceiver, timeout, token_claims, wait_until  # noqa: E402


def list_counts(stack, hook_id):
    """hubctl webhook list: {pending, failing, failed, delivered} of one webhook,
    and its last error."""
    out = stack.hubctl("webhook", "list").stdout.splitlines()
    for i, line in enumerate(out):
        if line.split(" ", 1)[0] == str(hook_id):
            counts = dict(kv.split("=") for kv in out[i + 2].split())
            err = out[i + 3].strip() if i + 3 < len(out) and out[i + 3].startswith(
                "  last error") else ""
            return {k: int(v) for k, v in counts.items()}, err
    raise AssertionError("webhook %s not listed: %r" % (hook_id, out))


class Webhooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not harness.hubd_built():
            raise unittest.SkipTest("hubd is not built")
        cls.stack = Stack()
        cls.stack.add_user("alice")
        cls.stack.add_user("bob")
        cls.stack.start_hubd()

    @classmethod
    def tearDownClass(cls):
        cls.stack.close()

    def setUp(self):
        self.receivers = []
        self.hooks = []

    def tearDown(self):
        for r in self.receivers:
            r.stop()
        for h in self.hooks:
            self.stack.hubctl("webhook", "del", h, check=False)

    def run(self, result=None):
        result = result if result is not None else self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        t0 = time.time()
        super().run(result)
        print("  [%s: %.2fs]" % (self._testMethodName, time.time() - t0), file=sys.stderr)
        if len(result.failures) + len(result.errors) > before:
            print("---- hubd log (tail) ----\n%s" %
                  "\n".join(self.stack.log("hubd").splitlines()[-40:]), file=sys.stderr)
        return result

    def receiver(self, events="login,logout", url_suffix=""):
        """A started receiver with its webhook; returns (receiver, hook id)."""
        r = WebhookReceiver().start()
        self.receivers.append(r)
        hook_id, secret = self.stack.webhook_add(r.url + url_suffix, events=events)
        r.secret = secret
        self.hooks.append(hook_id)
        return r, hook_id

    def restart_hubd(self, sig):
        mark = len(self.stack.log("hubd"))
        proc = self.stack.procs["hubd"]
        t0 = time.time()
        proc.send_signal(sig)
        proc.wait(15)
        took = time.time() - t0
        self.stack.procs.pop("hubd")
        self.stack.start_hubd()
        return took, mark

    # ------------------------------------------------------------------
    @timeout(60)
    def test_01_signed_login_and_logout(self):
        r, _ = self.receiver()
        cookie, token, _ = self.stack.login("alice")
        sid = token_claims(token)["sid"]
        self.assertEqual(r.wait_count(1, 10), 1, "no login webhook")
        t, headers, body = r.got[0]
        self.assertTrue(r.signature_ok(headers, body), headers)
        self.assertFalse(r.signature_ok(headers, body, secret="x" * 43))
        self.assertEqual(headers["content-type"], "application/json")
        ev = r.bodies()[0]
        self.assertEqual(headers["x-hub-delivery"], ev["id"])
        self.assertEqual(ev["type"], "login")
        self.assertEqual((ev["user"], ev["sid"], ev["via"]), ("alice", sid, "password"))
        self.assertLess(abs(ev["ts"] / 1000 - time.time()), 60)
        self.assertEqual(len(ev["id"]), 22)

        resp = self.stack.http("POST", "/api/logout", cookie=cookie)
        self.assertEqual(resp.status, 204)
        self.assertEqual(r.wait_count(2, 10), 2, "no logout webhook")
        _, headers, body = r.got[1]
        self.assertTrue(r.signature_ok(headers, body))
        ev2 = r.bodies()[1]
        self.assertEqual((ev2["type"], ev2["user"], ev2["sid"], ev2["reason"]),
                         ("logout", "alice", sid, "logout"))
        self.assertNotEqual(ev["id"], ev2["id"])
        # a failed login makes no event
        self.stack.http("POST", "/api/login", {"username": "alice", "password": "wrong"})
        time.sleep(1.0)
        self.assertEqual(len(r.got), 2)

    @timeout(60)
    def test_02_events_filter(self):
        r, _ = self.receiver(events="logout")
        cookie, _, _ = self.stack.login("bob")
        self.stack.http("POST", "/api/logout", cookie=cookie)
        self.assertEqual(r.wait_count(1, 10), 1)
        time.sleep(1.0)
        self.assertEqual([b["type"] for b in r.bodies()], ["logout"])

    @timeout(90)
    def test_03_retries_after_500_same_id_growing_delays(self):
        r, hook = self.receiver(events="login")
        r.answer = lambda i, body: 500 if i < 2 else 200
        self.stack.login("alice")
        self.assertEqual(r.wait_count(1, 10), 1)
        counts = wait_until(lambda: (lambda c: c if c[0]["failing"] == 1 else None)(
            list_counts(self.stack, hook)), 10)
        self.assertIsNotNone(counts, "the failing delivery is not listed as failing")
        self.assertIn("HTTP 500", counts[1])
        self.assertEqual(r.wait_count(3, 30), 3)
        ids = [b["id"] for b in r.bodies()]
        self.assertEqual(len(set(ids)), 1, ids)
        self.assertEqual(len({h["x-hub-delivery"] for _, h, _ in r.got}), 1)
        self.assertEqual(len({b for _, _, b in r.got}), 1, "the body changed between tries")
        times = [t for t, _, _ in r.got]
        # 1 s, then 2 s (at least: the delays only grow on a busy machine)
        self.assertGreaterEqual(times[1] - times[0], 0.95)
        self.assertGreaterEqual(times[2] - times[1], 1.95)
        c = wait_until(lambda: (lambda c: c if c[0]["delivered"] == 1 else None)(
            list_counts(self.stack, hook)), 10)
        self.assertIsNotNone(c)
        self.assertEqual((c[0]["pending"], c[0]["failing"], c[0]["failed"]), (0, 0, 0))
        time.sleep(2.5)
        self.assertEqual(len(r.got), 3, "delivered, yet tried again")

    @timeout(90)
    def test_04_receiver_down_then_up(self):
        r, hook = self.receiver(events="login")
        r.stop()
        self.stack.login("bob")
        row = wait_until(lambda: self.stack.outbox(
            "SELECT id, attempts, last_error FROM webhook_outbox WHERE hook = %d "
            "AND attempts >= 2" % hook), 20)
        self.assertTrue(row, "no failed tries recorded while the receiver was down")
        rid, _, err = row[0]
        self.assertTrue("connect" in err.lower() or "refused" in err.lower(), err)
        self.assertEqual(len(r.got), 0)
        r.start()
        self.assertEqual(r.wait_count(1, 30), 1, "not delivered once the receiver was back")
        self.assertEqual(r.bodies()[0]["id"], rid)
        self.assertTrue(r.signature_ok(r.got[0][1], r.got[0][2]))

    @timeout(120)
    def test_05_sigterm_with_a_try_in_flight(self):
        r, hook = self.receiver(events="login")
        r.answer = lambda i, body: "hang" if i == 0 else 200
        self.stack.login("alice")
        self.assertEqual(r.wait_count(1, 10), 1)
        first = r.bodies()[0]["id"]
        took, mark = self.restart_hubd(signal.SIGTERM)
        # the held try does not hold up the stop (it is abandoned, not
        # waited for: the receiver would hold it 60 s)
        self.assertLess(took, 10, "hubd took %.1fs to stop" % took)
        self.assertIn("tries in flight will be repeated", self.stack.log("hubd")[:mark] +
                      self.stack.log("hubd"))
        self.assertEqual(r.wait_count(2, 20), 2, "the abandoned try was not repeated")
        self.assertEqual(r.bodies()[1]["id"], first, "a repeated try has a new id")
        self.assertEqual(r.got[0][2], r.got[1][2])
        self.assertTrue(r.signature_ok(r.got[1][1], r.got[1][2]))
        wait_until(lambda: list_counts(self.stack, hook)[0]["delivered"] == 1, 10)
        self.assertEqual(list_counts(self.stack, hook)[0]["delivered"], 1)

    @timeout(120)
    def test_06_kill9_pending_and_in_flight(self):
        r, hook = self.receiver(events="login")
        r.answer = lambda i, body: "hang" if i == 0 else 200
        self.stack.login("alice")
        self.assertEqual(r.wait_count(1, 10), 1)
        first = r.bodies()[0]["id"]
        # the receiver is down and hubd dies: another row stays pending
        r.stop()
        self.stack.login("bob")
        self.assertTrue(wait_until(lambda: self.stack.outbox(
            "SELECT 1 FROM webhook_outbox WHERE hook = %d AND attempts >= 1" % hook), 20))
        self.restart_hubd(signal.SIGKILL)
        r.answer = lambda i, body: 200
        r.start()
        self.assertGreaterEqual(r.wait_count(3, 30), 3)
        bodies = r.bodies()
        users = sorted(b["user"] for b in bodies[1:])
        self.assertEqual(users, ["alice", "bob"], bodies)
        self.assertIn(first, [b["id"] for b in bodies[1:]])
        c = wait_until(lambda: (lambda c: c if c[0]["delivered"] == 2 else None)(
            list_counts(self.stack, hook)), 10)
        self.assertIsNotNone(c, list_counts(self.stack, hook))
        self.assertEqual(c[0]["pending"] + c[0]["failing"], 0)

    @timeout(180)
    def test_07_bounded_per_url_and_a_slow_url_holds_up_nothing(self):
        slow, slow_hook = self.receiver(events="login")
        slow.answer = lambda i, body: "hang"
        # a second webhook on the very same URL shares its 4 slots
        twin, _ = self.stack.webhook_add(slow.url, events="login")
        self.hooks.append(twin)
        fast, _ = self.receiver(events="logout")
        logins = []
        for i in range(10):
            t0 = time.time()
            cookie, _, _ = self.stack.login("alice" if i % 2 else "bob")
            logins.append(time.time() - t0)
        self.assertTrue(wait_until(lambda: slow.busy >= 4, 15), "fewer than 4 tries at once")
        # more rows wait, but no 5th try starts for this URL
        time.sleep(1.5)
        self.assertEqual(slow.peak, 4, "tries at once to one URL")
        self.assertEqual(len(slow.got), 4)
        # another URL is not held up, nor are logins and logouts
        resp = self.stack.http("POST", "/api/logout", cookie=cookie)
        self.assertEqual(resp.status, 204)
        self.assertEqual(fast.wait_count(1, 10), 1, "a slow URL held up another")
        t0 = time.time()
        self.stack.login("alice")
        print("  logins while 4 tries hang: %.0f ms (before: median %.0f ms)"
              % ((time.time() - t0) * 1000, sorted(logins)[5] * 1000), file=sys.stderr)
        m = self.stack.metrics()
        self.assertEqual(m["hub_webhook_in_flight"], 4)
        # the held tries end (no answer): every row gets delivered after all
        slow.answer = lambda i, body: 200
        slow.release()
        for h in (slow_hook, twin):
            self.assertTrue(wait_until(lambda: list_counts(self.stack, h)[0]["delivered"]
                                       == 11, 90), list_counts(self.stack, h))
        self.assertLessEqual(slow.peak, 4)
        ids = [b["id"] for b in slow.bodies()]
        self.assertEqual(len(set(ids)), 22)

    @timeout(90)
    def test_08_expiry_after_24h(self):
        r, hook = self.receiver(events="login")
        r.stop()
        self.stack.login("alice")
        self.assertTrue(wait_until(lambda: self.stack.outbox(
            "SELECT 1 FROM webhook_outbox WHERE hook = %d" % hook), 10))
        before = self.stack.metrics().get("hub_webhook_expired_total", 0)
        # the row was made 24 h ago and its next try is an hour away: it is
        # given up now, without another try
        self.stack.outbox("UPDATE webhook_outbox SET created_at = unixepoch() - 86401, "
                          "next_at = unixepoch() + 3600 WHERE hook = %d" % hook)
        self.assertTrue(wait_until(lambda: list_counts(self.stack, hook)[0]["failed"] == 1, 15),
                        list_counts(self.stack, hook))
        counts, err = list_counts(self.stack, hook)
        self.assertEqual(counts["pending"] + counts["failing"], 0)
        self.assertTrue(err, "no last error for a failed delivery")
        m = wait_until(lambda: (lambda m: m if m.get("hub_webhook_failed", 0) >= 1 else None)(
            self.stack.metrics()), 5)
        self.assertIsNotNone(m)
        self.assertGreaterEqual(m["hub_webhook_expired_total"], before + 1)
        # and never sent, even when it comes due
        self.stack.outbox("UPDATE webhook_outbox SET next_at = 0 WHERE hook = %d" % hook)
        r.start()
        time.sleep(2.0)
        self.assertEqual(len(r.got), 0, "an expired delivery was sent")

    @timeout(60)
    def test_09_redirect_not_followed_and_no_secret_in_log(self):
        target = WebhookReceiver().start()
        self.receivers.append(target)
        r, hook = self.receiver(events="login", url_suffix="?token=SEKRET-in-url")
        r.answer = lambda i, body: (302, {"Location": target.url})
        self.stack.login("bob")
        self.assertEqual(r.wait_count(2, 15), 2)
        self.assertEqual(len(target.got), 0, "a redirect was followed")
        counts, err = list_counts(self.stack, hook)
        self.assertIn("HTTP 302", err)
        log = self.stack.log("hubd")
        self.assertIn("webhook try failed", log)
        self.assertNotIn("SEKRET-in-url", log)
        self.assertNotIn(r.secret, log)

    @timeout(60)
    def test_10_metrics(self):
        r, hook = self.receiver(events="login")
        m0 = self.stack.metrics()
        for k in ("hub_webhook_pending", "hub_webhook_failed", "hub_webhook_delivered_total",
                  "hub_webhook_attempts_total", "hub_webhook_in_flight"):
            self.assertIn(k, m0)
        self.stack.login("alice")
        self.assertEqual(r.wait_count(1, 10), 1)
        m1 = wait_until(lambda: (lambda m: m if m["hub_webhook_delivered_total"]
                                 >= m0["hub_webhook_delivered_total"] + 1 else None)(
            self.stack.metrics()), 5)
        self.assertIsNotNone(m1)
        self.assertGreaterEqual(m1["hub_webhook_attempts_total"],
                                m0["hub_webhook_attempts_total"] + 1)
        # a failure is counted by kind
        r.answer = lambda i, body: 503
        self.stack.login("alice")
        m2 = wait_until(lambda: (lambda m: m if m['hub_webhook_failures_total{reason="status"}']
                                 > m1['hub_webhook_failures_total{reason="status"}']
                                 else None)(self.stack.metrics()), 10)
        self.assertIsNotNone(m2)
        self.assertGreaterEqual(m2["hub_webhook_pending"], 1)


class OutboxPurge(unittest.TestCase):
    """The sender's purge (first 30 s after start, then hourly): delivered
    and failed rows older than a week go (more than one batch), younger
    ones stay."""

    @timeout(120)
    def test_purge_a_week_old(self):
        if not harness.hubd_built():
            raise unittest.SkipTest("hubd is not built")
        with Stack() as st:
            st.add_user("alice")  # makes the store
            hook, _ = st.webhook_add("http://127.0.0.1:9/never", events="login")
            week = 7 * 86400
            st.outbox(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2600) "
                "INSERT INTO webhook_outbox(id, hook, type, body, created_at, next_at, state) "
                "SELECT 'old' || i, %d, 'login', '{}', unixepoch() - %d - 60, unixepoch() + 86400, "
                "CASE WHEN i %% 2 THEN 'done' ELSE 'failed' END FROM n" % (hook, week))
            st.outbox("INSERT INTO webhook_outbox(id, hook, type, body, created_at, next_at, "
                      "state) VALUES ('young', %d, 'login', '{}', unixepoch() - %d + 3600, 0, "
                      "'done'), ('waiting', %d, 'login', '{}', unixepoch() - %d - 60, "
                      "unixepoch() + 86400, 'pending')" % (hook, week, hook, week))
            t0 = time.time()
            st.start_hubd()
            gone = wait_until(lambda: not st.outbox(
                "SELECT 1 FROM webhook_outbox WHERE id LIKE 'old%'"), 60, interval=0.5)
            self.assertTrue(gone, "week-old rows not purged within 60 s of the start")
            self.assertGreaterEqual(time.time() - t0, 25, "purged before its first turn")
            left = sorted(r[0] for r in st.outbox("SELECT id FROM webhook_outbox"))
            # the week-old pending row was given up first (24 h), then purged
            # with the others; the row from 6 days ago stays
            self.assertEqual(left, ["young"])
            self.assertGreaterEqual(st.metrics()["hub_webhook_expired_total"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2, warnings="ignore")
