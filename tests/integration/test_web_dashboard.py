#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The dashboard (web/, served by hubd at /) end to end in headless
Chromium against the real stack: mosquitto + hub_auth.so, hubd, and
hub-tracker driving demo vehicles (paho publishes OwnTracks fixes where a
test needs exact ones).

Two browser contexts (alice, bob: separate cookie jars) log in through the
form (MQTT over WebSocket at hubd's /mqtt, opened by the session cookie
alone: no POST /api/token), chat (history, typing, presence, joined/left lines, unread counts),
watch vehicles move on the map, survive a broker restart without duplicate
markers, and log out (the MQTT connection closes: an MQTT subscriber sees
alice's left notice). Screenshots go to <build>/test-screenshots/.

The tests share the two logged-in pages and run in order (test_NN).
"""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import timeout, wait_until  # noqa: E402
from dashcase import PW, TRACKER, DashboardCase  # noqa: E402

HISTORY = ['Morning Bob, truck 1 is leaving the depot now', "Great → I'll follow it on the map. Grüße!", 'Truck 2 is at Potsdamer Platz', 'Van 3 reports a flat tyre, parked']


class Dashboard(DashboardCase):
    stack_conf = {"login_fail_pair_max": 5}
    secrets = {}

    @classmethod
    def prepare(cls, stack):
        stack.hubctl("user", "add", "alice", "--display", "Alice Ops", "--password-stdin",
                     input=PW + "\n")
        for room, level in {"lobby": "write", "ops": "write", "news": "read"}.items():
            stack.hubctl("room", "add", room, check=False)
            stack.hubctl("grant", room, "alice", level)
        stack.add_user("bob", rooms={"lobby": "write", "ops": "write"})
        stack.add_user("carol", rooms={"lobby": "read"})
        for dev in ("truck1", "truck2", "truck3", "van3"):
            cls.secrets[dev] = stack.device_add(dev, "alice", room="lobby")
        # a device bob cannot see: its own room, owned by carol
        stack.hubctl("room", "add", "yard", check=False)
        cls.secrets["hidden9"] = stack.device_add("hidden9", "carol", room="yard")

    # ---- helpers ------------------------------------------------------
    def text(self, page, selector):
        return self.browser.eval(page, "(s) => { const e = document.querySelector(s); "
                                       "return e ? e.textContent.trim() : null }", selector)

    def visible(self, page, selector):
        return self.browser.eval(page, "(s) => { const e = document.querySelector(s); "
                                       "return !!e && !e.closest('[hidden]') && "
                                       "e.getClientRects().length > 0 }", selector)

    def messages(self, page):
        return self.browser.eval(page, "() => [...document.querySelectorAll('#messages li')]"
                                       ".map((li) => ({from: li.dataset.from || null, "
                                       "text: li.querySelector('.text') ? "
                                       "li.querySelector('.text').textContent : li.textContent, "
                                       "sys: li.classList.contains('sysline')}))")

    def token_calls(self, user):
        return len(re.findall(r"msg=token user=%s " % user, self.stack.log("hubd")))

    def cookie_connects(self, user):
        """MQTT connections hubd's front opened with user's session cookie."""
        return len(re.findall(r'msg="websocket connect" user=%s via=cookie ' % user,
                              self.stack.log("hubd")))

    # ---- scenarios ----------------------------------------------------
    @timeout(60)
    def test_01_login_errors(self):
        p = self.new_page("x", "x")
        # wrong password
        self.login(p, "carol", "nope")
        err = self.wait_js(p, "() => { const e = document.getElementById('login-error'); "
                              "return !e.hidden && e.textContent }")
        self.assertEqual(err, "Wrong username or password.")
        self.assertTrue(self.visible(p, "#login-form"))
        # the hub is busy (503 busy + Retry-After): answered in the browser,
        # a real one needs a full hash queue
        self.browser.cmd("route", page=p, url="**/api/login", status=503,
                         headers={"retry-after": "3"},
                         body={"error": "busy", "message": "too many logins in progress"})
        self.browser.cmd("click", page=p, selector="#login-submit")
        err = self.wait_js(p, "() => { const e = document.getElementById('login-error'); "
                              "return e.textContent.includes('busy') && e.textContent }")
        self.assertEqual(err, "The hub is busy. Try again in 3 seconds.")
        self.assertTrue(self.browser.eval(p, "() => document.getElementById('login-submit')"
                                             ".disabled"))
        self.browser.cmd("unroute", page=p, url="**/api/login")
        # rate limited: the 6th failure in the window (login_fail_pair_max 5)
        for i in range(5):
            r = self.browser.eval(p, "async () => (await fetch('api/login', {method: 'POST', "
                                     "headers: {'content-type': 'application/json'}, body: "
                                     "JSON.stringify({username: 'carol', password: 'x'})})).status")
            if r == 429:
                break
        self.browser.goto(p, self.base + "/")
        self.login(p, "carol", "still-wrong")
        err = self.wait_js(p, "() => { const e = document.getElementById('login-error'); "
                              "return !e.hidden && e.textContent.startsWith('Too many') && "
                              "e.textContent }")
        self.assertRegex(err, r"^Too many failed attempts\. Try again in \d+ seconds\.$")
        self.assertTrue(self.browser.eval(p, "() => document.getElementById('login-submit')"
                                             ".disabled"))
        self.browser.screenshot(p, "login-rate-limited.png")
        self.browser.cmd("closepage", page=p)

    @timeout(90)
    def test_02_chat_typing_presence(self):
        a = self.new_page("alice", "alice")
        b = self.new_page("bob", "bob")
        self.login_ok(a, "alice")
        self.assertEqual(self.text(a, "#me-name"), "Alice Ops (alice)")
        rooms = self.browser.eval(a, "() => [...document.querySelectorAll('#room-list button')]"
                                     ".map((b) => b.dataset.room)")
        self.assertEqual(sorted(rooms), ["lobby", "news", "ops"])
        self.browser.eval(a, "() => document.querySelector('#room-list "
                             "[data-room=\"lobby\"]').click()")
        self.login_ok(b, "bob")
        # alice sees bob join, and both see each other online
        self.wait_js(a, "() => [...document.querySelectorAll('#messages .sysline')]"
                        ".some((l) => l.textContent === 'bob joined')", msg="no 'bob joined' line")
        for page in (a, b):
            self.wait_js(page, "() => { const u = [...document.querySelectorAll("
                               "'#presence-list li')].map((l) => l.dataset.user); "
                               "return u.includes('alice') && u.includes('bob') }",
                         msg="presence list on %s" % page)
        n = int(self.text(a, "#online-count"))
        self.assertGreaterEqual(n, 2)
        self.assertEqual(self.text(a, "#chat-online"), "%d online" % n)
        # typing: bob sees "alice is typing…" while she writes
        self.browser.cmd("type", page=a, selector="#composer-input", text="Morning Bob, truck 1 is leaving the depot now", delay=10)
        self.wait_js(b, "() => document.getElementById('typing').textContent === "
                        "'alice is typing…'", msg="no typing indicator")
        self.browser.cmd("press", page=a, selector="#composer-input", key="Enter")
        self.wait_js(b, "() => [...document.querySelectorAll('#messages li.msg')]"
                        ".some((l) => l.dataset.from === 'alice' && "
                        "l.querySelector('.text').textContent === 'Morning Bob, truck 1 is leaving the depot now')",
                     msg="bob did not get the message")
        # the typing line goes away with the message
        self.wait_js(b, "() => document.getElementById('typing').textContent === ''")
        # alice's own copy is confirmed (acked by the hub), not pending
        self.wait_js(a, "() => { const m = [...document.querySelectorAll('#messages li.msg.mine')]; "
                        "return m.length && !m[m.length - 1].classList.contains('pending') }")
        self.browser.cmd("fill", page=b, selector="#composer-input", value="Great → I'll follow it on the map. Grüße!")
        self.browser.cmd("click", page=b, selector="#send")
        self.wait_js(a, "() => [...document.querySelectorAll('#messages li.msg')]"
                        ".some((l) => l.dataset.from === 'bob')", msg="alice did not get bob's")
        # unread counts: alice looks at #ops while bob writes in #lobby
        self.browser.eval(a, "() => document.querySelector('#room-list "
                             "[data-room=\"ops\"]').click()")
        for text in ('Truck 2 is at Potsdamer Platz', 'Van 3 reports a flat tyre, parked'):
            self.browser.cmd("fill", page=b, selector="#composer-input", value=text)
            self.browser.cmd("press", page=b, selector="#composer-input", key="Enter")
        badge = self.wait_js(a, "() => { const b = document.querySelector('#room-list "
                                "[data-room=\"lobby\"] .badge'); return b && b.textContent === '2' "
                                "&& b.getAttribute('aria-label') }", msg="no unread badge")
        self.assertEqual(badge, "2 unread")
        self.browser.eval(a, "() => document.querySelector('#room-list "
                             "[data-room=\"lobby\"]').click()")
        self.assertIsNone(self.browser.eval(a, "() => document.querySelector('#room-list "
                                               "[data-room=\"lobby\"] .badge')"))
        texts = [m["text"] for m in self.messages(a) if not m["sys"]]
        self.assertEqual(texts[-4:], HISTORY)
        # read-only room: the composer says so
        self.browser.eval(a, "() => document.querySelector('#room-list "
                             "[data-room=\"news\"]').click()")
        self.assertTrue(self.browser.eval(a, "() => document.getElementById('composer-input')"
                                             ".disabled"))
        self.browser.eval(a, "() => document.querySelector('#room-list "
                             "[data-room=\"lobby\"]').click()")

    @timeout(60)
    def test_03_history(self):
        # a fresh page of bob's (same session) loads what was said, once
        h = self.new_page("bob2", "bob")
        self.browser.goto(h, self.base + "/")
        self.wait_js(h, "() => document.getElementById('conn').dataset.state === 'connected'")
        self.browser.eval(h, "() => document.querySelector('#room-list "
                             "[data-room=\"lobby\"]').click()")
        got = self.wait_js(h, "() => { const t = [...document.querySelectorAll('#messages li.msg "
                              ".text')].map((e) => e.textContent); "
                              "return t.includes('Van 3 reports a flat tyre, parked') && t }", msg="no history")
        self.assertEqual(got[-4:], HISTORY)
        self.assertEqual(len(got), len(set(got)), "duplicates in the history view: %r" % got)
        who = self.browser.eval(h, "() => [...document.querySelectorAll('#messages li.msg')]"
                                   ".map((l) => l.dataset.from)")
        self.assertEqual(who[-4:], ["alice", "bob", "bob", "bob"])
        self.browser.cmd("closepage", page=h)

    @timeout(60)
    def test_04_vehicles_move_and_go_stale(self):
        a = "alice"
        if not os.path.exists(TRACKER):
            self.skipTest("build/bin/hub-tracker is not built")
        self.tracker("truck1", "truck2", "truck3", rate=2)
        snap = self.wait_js(a, "() => { const s = window.hubDashboard.map.snapshot(); "
                               "return s.vehicles >= 3 && s }", timeout=10,
                            msg="no vehicles on alice's map")
        self.assertEqual(snap["markers"], snap["vehicles"])
        first = {v["key"]: v for v in snap["list"]}
        self.assertEqual(set(first), {"truck1/tracker", "truck2/tracker", "truck3/tracker"})
        # moving: positions change and trails grow
        moved = self.wait_js(a, "(first) => { const s = window.hubDashboard.map.snapshot(); "
                                "return s.list.every((v) => (v.lat !== first[v.key].lat || "
                                "v.lon !== first[v.key].lon) && v.points >= 2) && s }", first,
                             timeout=6, msg="the vehicles did not move")
        self.assertTrue(all(not v["stale"] for v in moved["list"]))
        rows = self.wait_js(a, "() => { const r = [...document.querySelectorAll("
                               "'#vehicle-list li')].map((l) => [l.dataset.key, "
                               "l.querySelector('.speed').textContent, "
                               "l.querySelector('.age').textContent]); "
                               "return r.length === 3 && r }", msg="vehicle list")
        self.assertEqual([r[0] for r in rows], ["truck1/tracker", "truck2/tracker", "truck3/tracker"])
        self.assertTrue(all(r[1].endswith("km/h") for r in rows), rows)
        self.assertEqual(self.text(a, "#vehicle-count"), "3")
        # a fix 2 minutes old shows stale (grey) at once; a fresh one is not
        self.device_fix("van3", 52.5, 13.4, tst=int(time.time()) - 120, vel=0)
        v = self.wait_js(a, "() => window.hubDashboard.map.snapshot().list"
                            ".find((v) => v.key === 'van3/phone')", msg="van3 not shown")
        self.assertTrue(v["stale"])
        self.wait_js(a, "() => document.querySelector('#vehicle-list li[data-key=\"van3/phone\"]')"
                        "?.dataset.stale === '1'")
        # bob shares lobby with the trucks; nobody of theirs sees hidden9
        hid = self.device_fix("hidden9", 52.52, 13.41)
        time.sleep(1.0)
        keys = [v["key"] for v in self.snapshot("bob")["list"]]
        self.assertIn("truck1/tracker", keys)
        self.assertNotIn("hidden9/phone", keys)
        self.assertNotIn("hidden9/phone", [v["key"] for v in self.snapshot(a)["list"]])
        hid.close()
        self.browser.screenshot(a, "dashboard-vehicles.png")

    @timeout(90)
    def test_05_broker_restart_no_duplicates(self):
        a = "alice"
        before = self.snapshot(a)
        if not before or before["vehicles"] < 2:
            self.skipTest("needs the vehicles of test_04")
        calls = self.cookie_connects("alice")
        self.stack.stop("broker")
        self.wait_js(a, "() => document.getElementById('conn').dataset.state === 'reconnecting'",
                     msg="the dashboard did not notice the broker going")
        time.sleep(1.0)
        self.stack.restart_broker()
        self.wait_js(a, "() => document.getElementById('conn').dataset.state === 'connected'",
                     timeout=20, msg="the dashboard did not reconnect")
        # the cookie opens the reconnect (hubd's front mints its token)
        self.assertGreater(self.cookie_connects("alice"), calls, "no reconnect with the cookie")
        self.assertEqual(self.token_calls("alice"), 0, "the dashboard asked for a token")
        # the trackers come back too and the same markers move on
        t0 = self.snapshot(a)
        after = self.wait_js(a, "(t0) => { const s = window.hubDashboard.map.snapshot(); "
                                "const p = Object.fromEntries(t0.list.map((v) => [v.key, v])); "
                                "return s.list.filter((v) => v.key.endsWith('/tracker'))"
                                ".every((v) => v.lat !== p[v.key].lat) && s }", t0, timeout=20,
                             msg="vehicles did not move after the restart")
        self.assertEqual(after["vehicles"], before["vehicles"])
        self.assertEqual(after["markers"], after["vehicles"], "duplicate markers")
        self.assertEqual(sorted(v["key"] for v in after["list"]),
                         sorted(v["key"] for v in before["list"]))
        # chat works again, both ways
        self.wait_js("bob", "() => document.getElementById('conn').dataset.state === 'connected'",
                     timeout=20)
        self.browser.cmd("fill", page="bob", selector="#composer-input", value="Back online after the broker restart")
        self.browser.cmd("press", page="bob", selector="#composer-input", key="Enter")
        self.wait_js(a, "() => [...document.querySelectorAll('#messages li.msg .text')]"
                        ".some((e) => e.textContent === 'Back online after the broker restart')")

    @timeout(60)
    def test_06_screenshots_and_narrow_screen(self):
        a = "alice"
        # a notification in alice's inbox (a direct message from bob)
        self.browser.eval("bob", "() => window.hubDashboard.hub.emitToUser('alice', "
                                 "'direct message', {text: 'Customer at Warschauer Str. asks for an ETA'})")
        self.wait_js(a, "() => document.querySelectorAll('#notif-list li').length > 0",
                     msg="no notification")
        self.assertEqual(self.text(a, "#notif-count"), "1")
        note = self.text(a, "#notif-list li .n-body")
        self.assertEqual(note, "Customer at Warschauer Str. asks for an ETA")
        if os.environ.get("HUB_WEB_DOCS_SHOT"):
            time.sleep(30)  # docs/img/dashboard.png: longer trails
        self.browser.screenshot(a, "dashboard-1280x800.png")
        # narrow: one column, nothing wider than the screen
        n = self.new_page("narrow", "alice", width=360, height=780)
        self.browser.goto(n, self.base + "/")
        self.wait_js(n, "() => document.getElementById('conn').dataset.state === 'connected'")
        self.wait_js(n, "() => window.hubDashboard.map.snapshot().vehicles >= 2")
        over = self.browser.eval(n, "() => document.documentElement.scrollWidth - innerWidth")
        self.assertLessEqual(over, 0, "horizontal overflow on a narrow screen")
        for sel in ("#composer-input", "#map", "#room-list", "#presence-list", "#notif-list"):
            w = self.browser.eval(n, "(s) => document.querySelector(s)"
                                     ".getBoundingClientRect().width", sel)
            self.assertGreater(w, 200, sel)
        self.browser.screenshot(n, "dashboard-360x780.png", full_page=True)
        self.browser.cmd("closepage", page=n)
        # accessibility basics: every input has a label, landmarks exist
        unlabeled = self.browser.eval(a, "() => [...document.querySelectorAll('input')]"
                                         ".filter((i) => !i.labels || !i.labels.length)"
                                         ".map((i) => i.id)")
        self.assertEqual(unlabeled, [])
        self.assertTrue(self.browser.eval(a, "() => !!document.querySelector('[role=log]') && "
                                             "!!document.querySelector('nav') && "
                                             "!!document.querySelector('main')"))
        self.assertEqual(self.browser.errors(), [], "uncaught page errors")

    @timeout(60)
    def test_07_logout_closes_mqtt(self):
        a = "alice"
        sub = self.mqtt("carol")
        self.assertEqual(sub.sub("rooms/lobby/sys/left"), [1])
        self.browser.cmd("click", page=a, selector="#logout")
        self.wait_js(a, "() => !document.getElementById('login-view').hidden",
                     msg="no login page after logout")
        m = sub.wait_msg("rooms/lobby/sys/left", 5,
                         pred=lambda m: json.loads(m[1])["user"] == "alice")
        self.assertIsNotNone(m, "no left notice for alice after logout")
        self.assertFalse(self.browser.eval(a, "() => !!window.hubDashboard"))
        # the cookie session is gone
        st = self.browser.eval(a, "async () => (await fetch('api/session')).status")
        self.assertEqual(st, 401)
        # the map's markers are gone with the app; a new login starts clean
        self.login_ok(a, "alice")
        snap = self.wait_js(a, "() => { const s = window.hubDashboard.map.snapshot(); "
                               "return s.vehicles >= 2 && s }", timeout=10)
        self.assertEqual(snap["markers"], snap["vehicles"])

    @timeout(60)
    def test_08_offline_devices_grey(self):
        a = "alice"
        if not self.trackers or not self.snapshot(a):
            self.skipTest("needs the trackers of test_04 and a logged-in page")
        self.wait_js(a, "() => window.hubDashboard.map.snapshot().list"
                        ".filter((v) => v.key.endsWith('/tracker')).every((v) => !v.stale)",
                     msg="trackers stale before they stopped")
        # the trackers stop cleanly: the hub says users/{device}/status
        # online:false long before their last fix is 60 s old
        for p in self.trackers:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
        grey = self.wait_js(a, "() => { const l = window.hubDashboard.map.snapshot().list"
                               ".filter((v) => v.key.endsWith('/tracker')); "
                               "return l.length === 3 && l.every((v) => v.stale) && l }",
                            timeout=8, msg="stopped trackers not greyed")
        self.assertEqual(len(grey), 3)
        self.browser.screenshot(a, "dashboard-offline.png")


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2, warnings="ignore")
