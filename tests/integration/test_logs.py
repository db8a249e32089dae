#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What unauthenticated clients can make the hub write to its logs
(issue 11, item 7), against the real processes:

- a flood of refused logins writes a bounded log: the first lines of each
  kind per interval, then one summary line with the count of the rest, and
  every refusal is accounted for (written or counted);
- a password typed into the username field never reaches a log, neither
  hubd's nor the broker's: names that are not well-formed appear only as a
  keyed fingerprint (user=#1a2b3c4d).
"""
import concurrent.futures
import http.client
import json
import os
import re
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import timeout  # noqa: E402
from mqttraw import connack  # noqa: E402

SECRET = "Sup3r s3cret pass-phrase!"


def post_login(port, body, src="127.0.0.1", ctype="application/json", timeout_s=30):
    """One login from source address src; returns the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s,
                                      source_address=(src, 0))
    try:
        conn.request("POST", "/api/login", body=body, headers={"Content-Type": ctype})
        r = conn.getresponse()
        r.read()
        return r.status
    finally:
        conn.close()


class LoginFloodLog(unittest.TestCase):
    """hubd at log_level info with the shipped limits (20 lines per kind and
    interval; the interval is 3 s here instead of 10 so a short flood spans
    several windows)."""

    @timeout(180)
    def test_flood_writes_bounded_log_with_summaries(self):
        conf = {"log_level": "info", "log_refusal_lines": 20, "log_refusal_interval": 3}
        with harness.Stack(extra_conf=conf) as s:
            s.add_user("alice", "alice-pw-1")
            s.start_hubd()
            port = s.ports["http"]
            base = len(s.log("hubd").encode())
            stop = time.time() + 7.0
            counts = {}
            lock = threading.Lock()

            def flood(i):
                src = "127.0.0.%d" % (2 + i % 8)
                n = 0
                while time.time() < stop:
                    # a malformed name (401 at once), a wrong password for
                    # a real user (hashed, 401), then 429 once the address
                    # is over its limit
                    body = (json.dumps({"username": "no such user %d" % n, "password": "x"})
                            if n % 2 else
                            json.dumps({"username": "alice", "password": "wrong%d" % n}))
                    st = post_login(port, body.encode(), src)
                    with lock:
                        counts[st] = counts.get(st, 0) + 1
                    n += 1

            t0 = time.time()
            with concurrent.futures.ThreadPoolExecutor(8) as ex:
                list(ex.map(flood, range(8)))
            took = time.time() - t0
            self.assertEqual(s.http("GET", "/healthz").status, 200)
            s.stop("hubd")  # flushes the summaries of the open windows
            log = s.log("hubd").encode()[base:].decode()
            refused = sum(v for k, v in counts.items() if k in (401, 429, 503))
            self.assertEqual(refused, sum(counts.values()), counts)
            self.assertGreater(refused, 500, counts)
            lines = [l for l in log.splitlines() if " login user=" in l]
            summaries = [l for l in log.splitlines() if "more refusals like this" in l]
            summarized = sum(int(re.search(r"count=(\d+)", l).group(1)) for l in summaries
                             if re.search(r"category=login_", l))
            # every refusal is accounted for: a line of its own or a count
            self.assertEqual(len([l for l in lines if "result=ok" not in l]) + summarized,
                             refused, (counts, len(lines), summarized))
            self.assertTrue(summaries, log[-2000:])
            for l in summaries:
                self.assertRegex(l, r'msg="more refusals like this" category=login_\w+ '
                                    r'count=\d+ seconds=3')
            rate = len(log.encode()) / took
            print("\n  %d refused logins in %.1f s (%s): %d log bytes (%.0f B/s), %d lines, "
                  "%d summaries" % (refused, took, counts, len(log.encode()), rate,
                                    len(log.splitlines()), len(summaries)), file=sys.stderr)
            # 20 lines a kind per 3 s window, about 120 bytes each, and a
            # summary per window: a few KB/s whatever the flood's size
            self.assertLess(rate, 4000, log[-3000:])


class SecretsNeverLogged(unittest.TestCase):
    """A password in the username field (login form, MQTT CONNECT) never
    appears in any log; the odd name appears as a fingerprint."""

    @timeout(120)
    def test_password_in_username_field(self):
        with harness.Stack() as s:  # log_level debug: every line there is
            s.add_user("alice", "alice-pw-1", rooms={"lobby": "write"})
            s.start_broker()
            s.start_hubd()
            port = s.ports["http"]
            for body, ctype in [
                    (json.dumps({"username": SECRET, "password": "alice-pw-1"}).encode(),
                     "application/json"),
                    (("username=" + SECRET.replace(" ", "+") + "&password=x").encode(),
                     "application/x-www-form-urlencoded")]:
                self.assertEqual(post_login(port, body, ctype=ctype), 401)
            # over the address limit: the rate_limited line fingerprints too
            for _ in range(3):
                post_login(port, json.dumps({"username": SECRET, "password": "y"}).encode(),
                           src="127.0.0.9")
            # the same odd name: the same tag within one run
            self.assertTrue(s.wait_log("hubd", "login user=#", 5))
            tags = re.findall(r"login user=(#[0-9a-f]{8}) ", s.log("hubd"))
            self.assertGreaterEqual(len(tags), 4)
            self.assertEqual(len(set(tags)), 1, tags)
            # a well-formed name is shown as it is
            self.assertEqual(post_login(port, b'{"username":"alice","password":"nope"}'), 401)
            self.assertTrue(s.wait_log("hubd", "login user=alice ", 5))
            # the broker: a CONNECT with the password as the username, at
            # every MQTT level
            for v in (3, 4, 5):
                self.assertIn(connack(s.ports["mqtt"], SECRET, "whatever", version=v,
                                      client_id="c%d" % v), (5, 0x87))
            self.assertTrue(s.wait_log("broker", "| connect | denied", 5))
            self.assertTrue(s.wait_log("broker", "c5/#", 5), s.broker_tail())
            s.stop("hubd")
            s.stop("broker")
            for name in ("hubd", "broker"):
                log = s.log(name)
                for needle in (SECRET, SECRET.replace(" ", "+"), "s3cret", "pass-phrase"):
                    self.assertNotIn(needle, log, "%s log holds %r" % (name, needle))


if __name__ == "__main__":
    unittest.main(verbosity=2)
