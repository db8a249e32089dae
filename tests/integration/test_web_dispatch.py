#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The dashboard as a dispatcher's tool, end to end in headless Chromium
against the real stack (mosquitto + hub_auth.so, hubd, hub-tracker; paho
for exact fixes and for watching topics), with several browser contexts
as different users.

Dispatch (the offline base map):
  01 a page load fails no request and logs no error (signed out: GET
     api/session?optional=1 is a 204, not a 401; signed in: nothing either)
  02 devices coming and going are no chat lines and no Online rows (people
     are): trackers connect, a phone connects once per fix
  03 a tracker that stopped is grey on a freshly loaded map at once: its
     retained users/{device}/status says offline although its last fix is
     recent
  04 every vehicle has a colour of its own (two names whose old hash
     colours were equal), no vehicle label covers a marker or another
     label, no grid label overlaps another or a map control, at several
     zoom levels
  05 an admin (no rooms at all) sees every device on the map; a user only
     the devices of their rooms
  06 rooms granted, changed and revoked while a user is logged in appear,
     change and disappear at once (the message box follows: enabled, read
     only, disabled); nobody else learns of it (users/{user}/sys/rooms is
     the user's only)
  07 a page that goes away (navigation, tab closed) says goodbye: its rooms
     see "left" with reason clean, not network

Tiles (map_tiles set to a local test tile server):
  01 hubd's CSP allows images from exactly that origin (another origin is
     blocked by the CSP), /api/config hands the template and the
     attribution to the page, the tiles load, the attribution is shown as
     text, no grid, no console errors

Screenshots go to <build>/test-screenshots/ (dispatch-*.png).
"""
import http.server
import json
import os
import signal
import struct
import sys
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import timeout, wait_until  # noqa: E402
from dashcase import TRACKER, DashboardCase  # noqa: E402

# "cab09/phone" and "cab70/phone" had the same colour (hue 228) under the
# dashboard's old colour hash
PAIR = ("cab09", "cab70")


class DispatchCase(DashboardCase):
    """Helpers shared by the two classes."""

    secrets = {}
    fix_defaults = {"vel": 0}

    def problems(self, page, since=0):
        """Console errors, page errors and failed requests of a page (but
        requests the page itself aborted: Leaflet drops the tiles of a view
        it left)."""
        return [m for m in self.browser.log[since:] if m.get("page") == page and
                (m.get("ev") == "pageerror" or
                 (m.get("ev") == "requestfailed" and "ERR_ABORTED" not in m.get("text", "")) or
                 (m.get("ev") == "console" and m.get("type") == "error"))]

    def keys(self, page):
        snap = self.snapshot(page)
        return sorted(v["key"] for v in snap["list"]) if snap else []


class Dispatch(DispatchCase):
    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write", "ops": "write"})
        stack.add_user("bob", rooms={"lobby": "write"})
        stack.add_user("carol", rooms={"lobby": "read"})
        stack.add_user("erin", rooms={"lobby": "write"})
        stack.add_user("dora", role="admin")  # an admin in no room at all
        for dev in ("truck1", "truck2", "truck3", "van3") + PAIR:
            cls.secrets[dev] = stack.device_add(dev, "alice", room="lobby")
        stack.hubctl("room", "add", "yard", check=False)
        cls.secrets["hidden9"] = stack.device_add("hidden9", "carol", room="yard")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pages = set()

    def user_page(self, user):
        """The user's page (a context of its own, logged in on first use),
        with lobby on screen."""
        if user not in self.pages:
            self.new_page(user, user)
            self.login_ok(user, user)
            self.pages.add(user)
        self.wait_js(user, "() => !!document.querySelector('#room-list "
                           "[data-room=\"lobby\"]')")
        self.js(user, "() => document.querySelector('#room-list [data-room=\"lobby\"]')"
                      ".click()")
        return user

    def alice(self):
        return self.user_page("alice")

    def erin_log(self, mark):
        return [line for line in self.stack.log("broker")[mark:].splitlines()
                if "erin" in line and "PUBLISH" not in line]

    def syslines(self, page):
        return self.js(page, "() => [...document.querySelectorAll('#messages li.sysline')]"
                             ".map((l) => l.textContent)")

    def online(self, page):
        return self.js(page, "() => [...document.querySelectorAll('#presence-list li')]"
                             ".map((l) => l.dataset.user).filter(Boolean)")

    def rooms(self, page):
        return self.js(page, "() => [...document.querySelectorAll('#room-list button')]"
                             ".map((b) => b.dataset.room)")

    def composer(self, page):
        return self.js(page, "() => { const i = document.getElementById('composer-input'); "
                             "return {disabled: i.disabled, send: document.getElementById("
                             "'send').disabled, placeholder: i.placeholder, title: "
                             "document.getElementById('chat-title').textContent} }")

    # ---- scenarios ------------------------------------------------------
    @timeout(60)
    def test_01_no_failing_request_on_load(self):
        p = self.new_page("fresh", "fresh")
        mark = len(self.browser.log)
        self.browser.goto(p, self.base + "/")
        self.wait_js(p, "() => !document.getElementById('login-view').hidden",
                     msg="no login form")
        # a moment for anything late (the config request, the icon)
        self.js(p, "() => new Promise((r) => setTimeout(r, 500))")
        self.assertEqual(self.problems(p, mark), [], "a signed-out page load failed something")
        # hubd: no session is a 204 for the page's question, a 401 as before
        # for everyone else
        r = self.stack.http("GET", "/api/session?optional=1")
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertEqual(self.stack.http("GET", "/api/session").status, 401)
        self.login_ok(p, "alice")
        mark = len(self.browser.log)
        self.browser.goto(p, self.base + "/")
        self.connected(p, "alice")
        self.wait_js(p, "() => document.querySelectorAll('#room-list button').length === 2")
        self.js(p, "() => new Promise((r) => setTimeout(r, 500))")
        self.assertEqual(self.problems(p, mark), [], "a signed-in page load failed something")
        # the default CSP: images from the page's own origin (and data:) only
        r = self.stack.http("GET", "/")
        img = [d.strip() for d in r.header("content-security-policy").split(";")
               if d.strip().startswith("img-src")]
        self.assertEqual(img, ["img-src 'self' data:"])
        cfg = self.stack.http("GET", "/api/config").json()
        self.assertEqual((cfg["map_tiles"], cfg["map_attribution"]), ("", ""))

    @timeout(90)
    def test_02_devices_are_no_chat_lines(self):
        if not os.path.exists(TRACKER):
            self.skipTest("build/bin/hub-tracker is not built")
        a, b = self.alice(), self.user_page("bob")
        self.wait_js(a, "() => [...document.querySelectorAll('#messages .sysline')]"
                        ".some((l) => l.textContent === 'bob joined')",
                     msg="people's presence is still in chat: no 'bob joined' line")
        watch = self.mqtt("carol")
        self.assertEqual(watch.sub("rooms/lobby/sys/+"), [1])
        # three trackers connect; a phone connects once per fix (the
        # OwnTracks iOS app does), three times
        self.tracker("truck1", "truck2", "truck3")
        for i in range(3):
            c = self.device_fix("van3", 52.51, 13.40 + i * 0.001)
            c.disconnect()
        def joined():
            with watch.cond:
                return [json.loads(m[1]) for m in watch.messages if m[0].endswith("/joined")]
        want = {"truck1", "truck2", "truck3", "van3"}
        self.assertTrue(wait_until(lambda: want <= {n["user"] for n in joined()}, 10),
                        "joined notices: %r" % joined())
        # the map shows them; chat and the Online list do not
        self.wait_js(a, "() => { const s = window.hubDashboard.map.snapshot(); "
                        "return s.vehicles >= 4 && s }", timeout=10, msg="no vehicles on the map")
        # a message after the devices' notices: when it is shown, they were
        # handled too
        self.browser.cmd("fill", page=b, selector="#composer-input", value="Trucks are out")
        self.browser.cmd("press", page=b, selector="#composer-input", key="Enter")
        self.wait_js(a, "() => [...document.querySelectorAll('#messages li.msg .text')]"
                        ".some((e) => e.textContent === 'Trucks are out')")
        lines = self.syslines(a)
        self.assertIn("bob joined", lines)
        bad = [l for l in lines if any(d in l for d in ("truck", "van3", "cab"))]
        self.assertEqual(bad, [], "device lines in chat: %r" % lines)
        # people online: the two pages and carol's MQTT client
        people = self.online(a)
        self.assertEqual(sorted(people), ["alice", "bob", "carol"], people)
        self.assertEqual(self.js(a, "() => document.getElementById('online-count').textContent"),
                         "3")
        # the hub says which notices are a device's, and only those
        for n in joined():
            self.assertEqual(n.get("device") is True, n["user"] in want | set(PAIR), n)

    @timeout(90)
    def test_03_stopped_tracker_grey_at_first_load(self):
        if not self.trackers:
            self.skipTest("needs the trackers of test_02")
        watch = self.mqtt("carol")
        # the trackers stop cleanly: their retained status says offline
        for p in self.trackers:
            p.send_signal(signal.SIGTERM)
            p.wait(10)
        self.assertEqual(watch.sub("users/+/status"), [1])
        for dev in ("truck1", "truck2", "truck3"):
            m = watch.wait_msg("users/%s/status" % dev, 8,
                               pred=lambda m: json.loads(m[1] or b"{}").get("online") is False)
            self.assertIsNotNone(m, "no offline status for %s" % dev)
        # a freshly loaded map: the trucks' last fixes are seconds old, yet
        # they are grey from the first moment they are shown
        c = self.new_page("alice3", "alice")
        self.browser.goto(c, self.base + "/")
        first = self.wait_js(c, "() => { const s = window.hubDashboard && "
                                "window.hubDashboard.map.snapshot(); const l = s && s.list"
                                ".filter((v) => v.key.endsWith('/tracker')); "
                                "return l && l.length === 3 && l }", timeout=10,
                             msg="the trucks are not on the fresh map")
        self.assertTrue(all(v["stale"] for v in first), first)
        ages = self.js(c, "() => [...document.querySelectorAll('#vehicle-list li')]"
                          ".filter((l) => l.dataset.key.endsWith('/tracker'))"
                          ".map((l) => [l.dataset.stale, l.querySelector('.age').textContent])")
        self.assertTrue(ages and all(s == "1" for s, _ in ages), ages)
        # and they stay grey (nothing turns them live again)
        t_end = time.time() + 2.0
        while time.time() < t_end:
            snap = self.snapshot(c)
            self.assertTrue(all(v["stale"] for v in snap["list"]
                                if v["key"].endswith("/tracker")), snap)
            time.sleep(0.2)
        self.browser.cmd("closepage", page=c)

    @timeout(90)
    def test_04_colours_and_labels(self):
        a = self.alice()
        # three vehicles close together (at zoom 17: some 30-60 px apart)
        self.device_fix("van3", 52.51000, 13.40000)
        self.device_fix("cab09", 52.51000, 13.40060)
        self.device_fix("cab70", 52.51040, 13.40030)
        self.wait_js(a, "() => ['van3/phone', 'cab09/phone', 'cab70/phone'].every((k) => "
                        "document.querySelector(`#vehicle-list li[data-key=\"${k}\"]`))",
                     timeout=10, msg="the three vehicles are not listed")
        colours = self.js(a, "() => [...document.querySelectorAll('#vehicle-list li')]"
                             ".map((l) => [l.dataset.key, l.querySelector('.dot')"
                             ".style.backgroundColor])")
        by = dict(colours)
        self.assertNotEqual(by["cab09/phone"], by["cab70/phone"], colours)
        self.assertEqual(len(set(c for _, c in colours)), len(colours),
                         "two vehicles share a colour: %r" % colours)
        self.js(a, "() => { const m = window.hubDashboard.map; m.userMoved = true; "
                   "m.map.setView([52.5102, 13.4003], 17, {animate: false}); }")
        for zoom in (17, 16, 14, 12, 9, 5, 18):
            self.js(a, "(z) => { window.hubDashboard.map.map.setZoom(z, {animate: false}) }", zoom)
            # labels are placed on moveend and every second: wait for a
            # layout that holds
            bad = self.label_problems(a)
            if bad:
                time.sleep(1.2)
                bad = self.label_problems(a)
            self.assertEqual(bad, [], "zoom %d: %r" % (zoom, bad))
            if zoom == 17:
                shown = self.js(a, "() => window.hubDashboard.map.snapshot().list"
                                   ".filter((v) => v.label).map((v) => v.key)")
                self.assertGreaterEqual(len(shown), 2, "labels hidden at zoom 17: %r" % shown)
        self.js(a, "() => { window.hubDashboard.map.map.setView([52.5102, 13.4003], 17, "
                   "{animate: false}) }")
        self.browser.screenshot(a, "dispatch-labels.png")
        # a big fleet (more vehicles than there are distinct hues): every
        # vehicle gets a colour and the page keeps up (fixes fed into the
        # page's hubio as the broker would deliver them, like
        # bench/dashboard_frames.mjs does)
        c = self.new_page("crowd", "alice")
        self.browser.goto(c, self.base + "/")
        self.connected(c, "alice")
        n = self.js(c, """async () => {
            const h = window.hubDashboard.hub, enc = new TextEncoder();
            const now = Math.floor(Date.now() / 1000);
            for (let i = 0; i < 900; i++)
                h._onMessage(`owntracks/crowd${i}/phone`, enc.encode(JSON.stringify({
                    _type: 'location', lat: 52.4 + (i % 30) * 0.005,
                    lon: 13.3 + Math.floor(i / 30) * 0.008, tst: now})), {qos: 0});
            for (let t = 0; t < 200 && window.hubDashboard.map.vehicles.size < 900; t++)
                await new Promise((r) => setTimeout(r, 50));
            const m = window.hubDashboard.map;
            return [m.vehicles.size, [...m.vehicles.values()].filter((v) => v.color).length];
        }""")
        self.assertGreaterEqual(n[0], 900)
        self.assertEqual(n[0], n[1])
        self.browser.cmd("closepage", page=c)

    def label_problems(self, page):
        """Overlaps on the map: vehicle labels over markers or labels, grid
        labels over grid labels or the map's controls, grid labels outside
        the map."""
        return self.js(page, """() => {
            const m = window.hubDashboard.map;
            const box = m.map.getContainer().getBoundingClientRect();
            const hit = (a, b) => a.left < b.right && b.left < a.right &&
                a.top < b.bottom && b.top < a.bottom;
            const vis = (e) => getComputedStyle(e).visibility !== 'hidden' &&
                e.getClientRects().length > 0;
            const out = [];
            const pad = 8; // marker radius 7 + half its 2 px white ring
            const marks = [...m.vehicles.values()].map((v) => {
                const p = m.map.latLngToContainerPoint([v.lat, v.lon]);
                return {key: v.key, left: box.left + p.x - pad, right: box.left + p.x + pad,
                        top: box.top + p.y - pad, bottom: box.top + p.y + pad};
            }).filter((r) => hit(r, box));
            const labels = [...document.querySelectorAll('.leaflet-tooltip.vehicle-label')]
                .filter(vis).map((e) => ({text: e.textContent, r: e.getBoundingClientRect()}));
            for (const l of labels) {
                for (const k of marks)
                    if (hit(l.r, k))
                        out.push(`label ${l.text} covers marker ${k.key}`);
            }
            for (let i = 0; i < labels.length; i++)
                for (let j = i + 1; j < labels.length; j++)
                    if (hit(labels[i].r, labels[j].r))
                        out.push(`labels ${labels[i].text} and ${labels[j].text} overlap`);
            const grid = [...document.querySelectorAll('.grid-label span')].filter(vis)
                .map((e) => ({text: e.textContent, r: e.getBoundingClientRect()}));
            const ctls = [...m.map.getContainer().querySelectorAll('.leaflet-control')]
                .map((e) => ({text: e.className, r: e.getBoundingClientRect()}))
                .filter((c) => c.r.width && c.r.height);
            for (let i = 0; i < grid.length; i++) {
                const g = grid[i];
                if (g.r.left < box.left || g.r.right > box.right || g.r.top < box.top ||
                    g.r.bottom > box.bottom)
                    out.push(`grid label ${g.text} sticks out of the map`);
                for (let j = i + 1; j < grid.length; j++)
                    if (hit(g.r, grid[j].r))
                        out.push(`grid labels ${g.text} and ${grid[j].text} overlap`);
                for (const c of ctls)
                    if (hit(g.r, c.r))
                        out.push(`grid label ${g.text} under ${c.text}`);
            }
            if (!grid.length)
                out.push('no grid labels at all');
            return out;
        }""")

    @timeout(60)
    def test_05_admin_sees_all_vehicles(self):
        self.device_fix("hidden9", 52.52, 13.41)
        everything = ["cab09/phone", "cab70/phone", "hidden9/phone", "truck1/tracker",
                      "truck2/tracker", "truck3/tracker", "van3/phone"]
        d = self.new_page("dora", "dora")
        self.login_ok(d, "dora")
        got = self.wait_js(d, "(want) => { const s = window.hubDashboard.map.snapshot(); "
                              "const k = s.list.map((v) => v.key).sort(); "
                              "return k.length >= want.length && k }", everything, timeout=10,
                           msg="the admin does not see every vehicle")
        self.assertEqual(got, everything)
        # and whether each is live: the trackers' statuses say offline
        snap = self.snapshot(d)
        self.assertTrue(all(v["stale"] for v in snap["list"] if v["key"].endswith("/tracker")))
        self.assertEqual(self.js(d, "() => document.getElementById('vehicle-count').textContent"),
                         str(len(everything)))
        # no rooms, no chat: the admin's own presence is nobody's business
        self.assertEqual(self.rooms(d), [])
        # a user sees the devices of their rooms only
        self.assertNotIn("hidden9/phone", self.keys(self.user_page("bob")))
        self.assertIn("truck1/tracker", self.keys("bob"))
        # the rule behind it, as hubctl explains it
        out = self.stack.hubctl("explain", "dora", "owntracks/hidden9/phone", "read").stdout
        self.assertTrue(out.startswith("allow:") and "admin" in out, out)
        out = self.stack.hubctl("explain", "dora", "owntracks/hidden9/phone/event",
                                "read").stdout
        self.assertTrue(out.startswith("deny:"), out)
        self.browser.screenshot(d, "dispatch-admin.png")

    @timeout(90)
    def test_06_live_grant_and_revoke(self):
        b = self.user_page("bob")
        # others watching everything they may: nothing of bob's rooms
        carol = self.mqtt("carol")
        self.assertEqual(carol.sub("#"), [1])
        self.assertEqual(carol.sub("users/+/sys/+"), [1])
        alice = self.mqtt("alice")
        self.assertEqual(alice.sub("users/bob/sys/rooms"), [0x87])  # not hers
        self.assertEqual(alice.sub("users/+/sys/+"), [1])
        mine = self.mqtt("bob")
        self.assertEqual(mine.sub("users/bob/sys/+"), [1])
        syncs = self.js(b, "() => window.hubDashboard.roomSyncs")

        # granted: the room appears, its message box works, the vehicles of
        # a room come at once (their retained last fixes)
        self.assertNotIn("hidden9/phone", self.keys(b))
        self.stack.hubctl("grant", "yard", "bob", "read")
        self.wait_js(b, "() => !!document.querySelector('#room-list [data-room=\"yard\"]')",
                     timeout=5, msg="a granted room did not appear")
        self.wait_js(b, "() => window.hubDashboard.map.snapshot().list"
                        ".some((v) => v.key === 'hidden9/phone')", timeout=5,
                     msg="the vehicle of a granted room did not come")
        self.stack.hubctl("revoke", "yard", "bob")
        self.wait_js(b, "() => !window.hubDashboard.map.snapshot().list"
                        ".some((v) => v.key === 'hidden9/phone') && "
                        "!document.querySelector('#room-list [data-room=\"yard\"]')", timeout=5,
                     msg="the vehicle of a revoked room stayed")
        self.stack.hubctl("grant", "ops", "bob", "write")
        self.wait_js(b, "() => !!document.querySelector('#room-list [data-room=\"ops\"]')",
                     timeout=5, msg="a granted room did not appear")
        m = wait_until(lambda: [x for x in mine.messages if x[0] == "users/bob/sys/rooms"], 3)
        self.assertTrue(m, "no notice on users/bob/sys/rooms")
        self.assertEqual(json.loads(m[0][1]), {"room": "yard", "level": "read"})
        self.assertFalse(m[0][2], "the notice is not retained")
        self.js(b, "() => document.querySelector('#room-list [data-room=\"ops\"]').click()")
        self.assertEqual(self.composer(b)["disabled"], False)
        self.browser.cmd("fill", page=b, selector="#composer-input", value="On ops now")
        self.browser.cmd("press", page=b, selector="#composer-input", key="Enter")
        self.wait_js(b, "() => { const m = [...document.querySelectorAll('#messages li.msg"
                        ".mine')]; return m.length && !m[m.length - 1].classList.contains("
                        "'pending') && !m[m.length - 1].classList.contains('failed') }",
                     msg="bob's message in the granted room was not accepted")

        # changed to read: the message box follows
        self.stack.hubctl("grant", "ops", "bob", "read")
        self.wait_js(b, "() => document.getElementById('composer-input').disabled",
                     timeout=5, msg="read-only did not disable the message box")
        self.assertTrue(self.js(b, "() => !!document.querySelector('#room-list "
                                   "[data-room=\"ops\"] .level')"))

        # revoked while on screen: gone from the list, the box disabled
        self.js(b, "() => document.querySelector('#room-list [data-room=\"lobby\"]').click()")
        self.assertEqual(self.composer(b)["disabled"], False)
        self.stack.hubctl("revoke", "lobby", "bob")
        self.wait_js(b, "() => !document.querySelector('#room-list [data-room=\"lobby\"]')",
                     timeout=5, msg="a revoked room stayed in the list")
        c = self.composer(b)
        self.assertTrue(c["disabled"] and c["send"], c)
        self.assertIn("no longer a member of #lobby", c["placeholder"])
        self.assertEqual(self.rooms(b), ["ops"])
        # the vehicles bob saw through lobby go with it
        self.wait_js(b, "() => window.hubDashboard.map.snapshot().vehicles === 0 && "
                        "!document.querySelector('#vehicle-list li')", timeout=5,
                     msg="the vehicles of a revoked room stayed on the map")
        self.browser.screenshot(b, "dispatch-revoked.png")
        # nothing more of lobby reaches the page
        a = self.alice()
        self.browser.cmd("fill", page=a, selector="#composer-input",
                         value="Not for bob any more")
        self.browser.cmd("press", page=a, selector="#composer-input", key="Enter")
        time.sleep(1.0)
        self.assertFalse(self.js(b, "() => [...document.querySelectorAll('#messages li')]"
                                    ".some((l) => l.textContent.includes('Not for bob'))"))
        # reads of the session on notices only (one per change, a burst
        # makes at most two)
        self.assertGreaterEqual(self.js(b, "() => window.hubDashboard.roomSyncs") - syncs, 5)
        # nobody else learned anything of bob's memberships
        leaks = [t for t, _, _, _ in carol.messages + alice.messages
                 if t.startswith("users/bob/sys/")]
        self.assertEqual(leaks, [], "another user got bob's room notices")
        self.assertEqual([json.loads(p) for t, p, _, _ in mine.messages
                          if t == "users/bob/sys/rooms"],
                         [{"room": "yard", "level": "read"}, {"room": "yard", "level": None},
                          {"room": "ops", "level": "write"}, {"room": "ops", "level": "read"},
                          {"room": "lobby", "level": None}])

    @timeout(60)
    def test_07_closing_page_leaves_clean(self):
        a = self.alice()
        watch = self.mqtt("carol")
        self.assertEqual(watch.sub("rooms/lobby/sys/+"), [1])
        e = self.new_page("erin", "erin")
        self.login_ok(e, "erin")
        self.assertIsNotNone(watch.wait_msg("rooms/lobby/sys/joined", 5,
                                            pred=lambda m: json.loads(m[1])["user"] == "erin"))
        # the page goes away by navigation
        mark = len(self.stack.log("broker"))
        self.browser.goto(e, "about:blank")
        m = watch.wait_msg("rooms/lobby/sys/left", 5,
                           pred=lambda m: json.loads(m[1])["user"] == "erin")
        self.assertIsNotNone(m, "no left notice for erin")
        self.assertEqual(json.loads(m[1])["reason"], "clean", (m, self.erin_log(mark)))
        # right after sending: several packets written in one go (the
        # client corks its stream once per packet), then the page goes
        self.browser.goto(e, self.base + "/")
        self.connected(e, "erin")
        self.assertIsNotNone(watch.wait_msg("rooms/lobby/sys/joined", 5,
                                            pred=lambda m: json.loads(m[1])["user"] == "erin"))
        self.assertEqual(watch.sub("rooms/lobby/ev/+/erin"), [1])
        mark = len(self.stack.log("broker"))
        try:
            self.js(e, "() => { const h = window.hubDashboard.hub; for (let i = 0; i < 3; i++) "
                       "h.emit('lobby', 'chat message', {content: `bye ${i}`}); "
                       "location.assign('about:blank'); }")
        except harness.BrowserError:
            pass  # the page went during the call
        m = watch.wait_msg("rooms/lobby/sys/left", 5,
                           pred=lambda m: json.loads(m[1])["user"] == "erin")
        self.assertIsNotNone(m, "no left notice for erin")
        self.assertEqual(json.loads(m[1])["reason"], "clean", (m, self.erin_log(mark)))
        # what was sent before the goodbye got through
        said = [json.loads(p)["content"] for t, p, _, _ in watch.take("rooms/lobby/ev/+/erin")]
        self.assertEqual(said, ["bye 0", "bye 1", "bye 2"])
        # and by closing the tab
        self.browser.goto(e, self.base + "/")
        self.connected(e, "erin")
        self.assertIsNotNone(watch.wait_msg("rooms/lobby/sys/joined", 5,
                                            pred=lambda m: json.loads(m[1])["user"] == "erin"))
        mark = len(self.stack.log("broker"))
        self.browser.cmd("closepage", page=e)
        m = watch.wait_msg("rooms/lobby/sys/left", 5,
                           pred=lambda m: json.loads(m[1])["user"] == "erin")
        self.assertIsNotNone(m, "no left notice for erin")
        self.assertEqual(json.loads(m[1])["reason"], "clean", (m, self.erin_log(mark)))
        # members see it as such
        lines = self.wait_js(a, "() => { const l = [...document.querySelectorAll("
                                "'#messages li.sysline')].map((e) => e.textContent); "
                                "return l.filter((t) => t.startsWith('erin left')).length >= 3 "
                                "&& l }", msg="alice does not see erin leave three times")
        self.assertIn("erin left", lines)
        self.assertNotIn("erin left (network)", lines)
        self.assertEqual(self.browser.errors(), [], "uncaught page errors")


# ------------------------------------------------------------------ tiles
def _png(width, height, rgb):
    """A plain PNG of one colour with a darker 1-pixel border."""
    edge = bytes(max(0, c - 40) for c in rgb)
    rows = []
    for y in range(height):
        line = bytearray(b"\0")
        for x in range(width):
            line += edge if x == 0 or y == 0 else bytes(rgb)
        rows.append(bytes(line))
    raw = zlib.compress(b"".join(rows))

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0)) +
            chunk(b"IDAT", raw) + chunk(b"IEND", b""))


class TileServer:
    """A local tile server: GET /tiles/{z}/{x}/{y}.png answers a PNG."""

    def __init__(self):
        tile = _png(256, 256, (232, 236, 228))
        self.requests = []
        self.referers = set()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                owner.referers.add(self.headers.get("Referer"))
                parts = self.path.split("?")[0].split("/")
                if len(parts) == 5 and parts[1] == "tiles" and parts[4].endswith(".png"):
                    self.send_response(200)
                    self.send_header("content-type", "image/png")
                    self.send_header("content-length", str(len(tile)))
                    self.end_headers()
                    self.wfile.write(tile)
                else:
                    self.send_error(404)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Tiles(DispatchCase):
    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write"})
        cls.secrets["van3"] = stack.device_add("van3", "alice", room="lobby")

    @classmethod
    def setUpClass(cls):
        cls.tiles = TileServer()
        cls.origin = "http://127.0.0.1:%d" % cls.tiles.port
        cls.stack_conf = {
            "map_tiles": cls.origin + "/tiles/{z}/{x}/{y}.png",
            "map_attribution": "© Test Tiles <b>not bold</b>",
        }
        try:
            super().setUpClass()
        except Exception:
            cls.tiles.close()
            raise

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.tiles.close()

    @timeout(60)
    def test_01_tiles_from_the_configured_server(self):
        r = self.stack.http("GET", "/")
        csp = [d.strip() for d in r.header("content-security-policy").split(";")]
        self.assertIn("img-src 'self' data: " + self.origin, csp)
        self.assertIn("default-src 'self'", csp)
        cfg = self.stack.http("GET", "/api/config").json()
        self.assertEqual(cfg["map_tiles"], self.stack_conf["map_tiles"])
        self.assertEqual(cfg["map_attribution"], self.stack_conf["map_attribution"])
        self.device_fix("van3", 52.51, 13.40)
        a = self.new_page("alice", "alice")
        mark = len(self.browser.log)
        self.login_ok(a, "alice")
        n = self.wait_js(a, "() => { const t = [...document.querySelectorAll("
                            "'.leaflet-tile-loaded')].filter((i) => i.naturalWidth === 256); "
                            "return t.length >= 4 && t.length }", timeout=10,
                         msg="no tiles loaded from the tile server")
        self.assertGreaterEqual(n, 4)
        self.assertTrue(any(p.startswith("/tiles/") for p in self.tiles.requests))
        # the tile server learns the page's origin, not its address
        self.assertEqual(self.tiles.referers, {self.base + "/"})
        self.wait_js(a, "() => window.hubDashboard.map.snapshot().vehicles === 1")
        # the attribution is text: no HTML from the setting
        attr = self.js(a, "() => { const c = document.querySelector("
                          "'.leaflet-control-attribution'); return {text: c.textContent, "
                          "bold: !!c.querySelector('b')} }")
        self.assertIn("© Test Tiles <b>not bold</b>", attr["text"])
        self.assertFalse(attr["bold"])
        self.assertNotIn("offline base", attr["text"])
        # no offline grid under real tiles
        self.assertEqual(self.js(a, "() => document.querySelectorAll('.grid-label').length"), 0)
        # the CSP allows exactly that origin: the same server under another
        # name (another origin) is refused by the policy
        blocked = self.js(a, """async (url) => {
            const seen = new Promise((res) => document.addEventListener(
                'securitypolicyviolation', (e) => res(e.violatedDirective + ' ' + e.blockedURI),
                {once: true}));
            const img = new Image();
            const done = new Promise((res) => { img.onload = () => res('loaded');
                img.onerror = () => res('error'); });
            img.src = url;
            return [await done, await Promise.race([seen,
                new Promise((r) => setTimeout(() => r(null), 3000))])];
        }""", "http://localhost:%d/tiles/1/1/1.png" % self.tiles.port)
        self.assertEqual(blocked[0], "error")
        self.assertIsNotNone(blocked[1], "no CSP violation for another origin")
        self.assertTrue(blocked[1].startswith("img-src"), blocked)
        own = self.js(a, """async (url) => { const img = new Image();
            const r = new Promise((res) => { img.onload = () => res('loaded');
                img.onerror = () => res('error'); }); img.src = url; return r; }""",
                      self.origin + "/tiles/2/1/1.png")
        self.assertEqual(own, "loaded")
        probs = [p for p in self.problems(a, mark) if "localhost" not in p.get("text", "")]
        self.assertEqual(probs, [], "console errors with tiles")
        self.browser.screenshot(a, "dispatch-tiles.png")


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2, warnings="ignore")
