#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""examples/lobby (the game lobby) in headless Chromium against the real
stack: mosquitto + hub_auth.so, hubd serving the built pages, hub-bridge
(the Socket.IO page goes through hubd's /socket.io/), and the lobby's
backend on the Node SDK started as the stack starts it
(harness.Stack.start_example: its service key, setup.sh, the environment).

Several browser contexts are several players; each test uses both pages:
index.html (hubio.js) and sio.html (plain Socket.IO client code).

- the seat limit (the UI says "Full"; an emit that skips the UI is refused
  by the backend) and two players racing for the last seat;
- a hubio page and a Socket.IO page at one table: each sees the other,
  table chat both ways, and the backend's own events cannot be forged;
- ready and start: the countdown on both pages, the game on, no new
  players while it lasts, only the owner ends it;
- kick by the owner only: another player's kick is refused (and has no
  button), the owner's works, the removed player is told and may not sit
  again at once;
- a closed tab frees the seat after the grace window (hubio page:
  "closed the page"; Socket.IO page: "lost the connection");
- a player back within the grace window keeps the seat;
- the pages are served under /examples/ with the dashboard's CSP and no
  violation, linked from the dashboard.
"""
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import WebTestCase, timeout, wait_until  # noqa: E402

PW = "secret-pw"
PLAYERS = ("alice", "bob", "carol", "dave")
GRACE_S = 6
COUNTDOWN_S = 2


class ExampleLobby(WebTestCase):
    needs = "examples/lobby/index.html"

    @classmethod
    def prepare(cls, stack):
        for u in PLAYERS:
            stack.hubctl("user", "add", u, "--display", u.capitalize(), "--password-stdin",
                         input=PW + "\n")

    @classmethod
    def setUpClass(cls):
        if not harness.example_available("lobby"):
            raise unittest.SkipTest("examples/lobby is not built")
        super().setUpClass()
        try:
            cls.stack.start_bridge()
            cls.stack.start_example("lobby", users=PLAYERS, env={
                "LOBBY_GRACE_S": str(GRACE_S), "LOBBY_COUNTDOWN_S": str(COUNTDOWN_S),
                "LOBBY_KICK_BAN_S": "60"})
        except Exception:
            cls.browser.close()
            cls.stack.close()
            raise
        cls.logged_in = set()

    def setUp(self):
        super().setUp()
        self.pages = []

    def tearDown(self):
        # leave no seat behind: stand up, then close the page
        for page, sio in self.pages:
            try:
                self.act(page, sio, self.seat(page) or "games.t1", "stand")
            except Exception:
                pass
            try:
                self.browser.cmd("closepage", page=page)
            except Exception:
                pass
        super().tearDown()

    def run(self, result=None):
        r = super().run(result)
        if r is not None and (r.failures or r.errors):
            print("---- lobby backend log (tail) ----\n%s" %
                  "\n".join(self.stack.log("ex-lobby").splitlines()[-30:]), file=sys.stderr)
        return r

    # ---- helpers ---------------------------------------------------------
    def wait_js(self, page, fn, arg=None, timeout=10.0, msg=None):
        try:
            return self.browser.wait(page, fn, arg, timeout=timeout)
        except harness.BrowserError as e:
            self.fail("%s (%s)" % (msg or "timed out waiting for " + fn, e))

    def open(self, page, user, sio=False):
        """The lobby page (sio.html with sio) as user, signed in through
        the page's own form on the first visit of the user's context."""
        b = self.browser
        b.page(page, ctx=user)
        self.pages.append((page, sio))
        b.goto(page, self.base + "/examples/lobby/" + ("sio.html" if sio else ""))
        if user not in self.logged_in:
            self.wait_js(page, "() => document.getElementById('ex-signin')", msg="no sign-in form")
            b.cmd("fill", page=page, selector="#ex-username", value=user)
            b.cmd("fill", page=page, selector="#ex-password", value=PW)
            b.cmd("click", page=page, selector="#ex-signin-submit")
            self.logged_in.add(user)
        self.wait_js(page, "() => document.getElementById('conn').dataset.state === 'online' && "
                           "document.querySelectorAll('#tables li').length === 4",
                     msg="%s's lobby did not load" % page)
        return page

    def seat(self, page):
        return self.browser.eval(page, "() => document.getElementById('table').dataset.table")

    def players(self, page):
        return self.browser.eval(page, "() => [...document.querySelectorAll('#players li[data-user]')]"
                                       ".map((li) => li.dataset.user)")

    def taken(self, page, room):
        return self.browser.eval(page, "(r) => { const li = document.querySelector("
                                       "`#tables li[data-table=\"${r}\"]`); return li ? "
                                       "Number(li.dataset.taken) : null; }", room)

    def feed(self, page):
        return self.browser.eval(page, "() => [...document.querySelectorAll('#feed li')]"
                                       ".map((li) => li.dataset.type + ': ' + "
                                       "li.querySelector('.text').textContent)")

    def wait_feed(self, page, needle, timeout=10.0):
        self.wait_js(page, "(n) => [...document.querySelectorAll('#feed li .text')]"
                           ".some((t) => t.textContent.includes(n))", needle, timeout,
                     msg="%s: no feed line with %r; feed: %r" % (page, needle, self.feed(page)))

    def wait_players(self, page, users, timeout=10.0):
        self.wait_js(page, "(u) => JSON.stringify([...document.querySelectorAll("
                           "'#players li[data-user]')].map((li) => li.dataset.user)) === "
                           "JSON.stringify(u)", list(users), timeout,
                     msg="%s: players %r, not %r" % (page, self.players(page), list(users)))

    def click_sit(self, page, room):
        self.browser.cmd("click", page=page,
                         selector='#tables li[data-table="%s"] button.sit' % room)
        self.wait_js(page, "(r) => document.getElementById('table').dataset.table === r", room,
                     msg="%s did not get a seat at %s" % (page, room))

    def act(self, page, sio, room, event, data=None):
        """An action sent the way the page sends it, skipping the UI's own
        checks: {ok, message} (the backend's verdict)."""
        if sio:
            fn = ("(a) => new Promise((res) => lobbyPage.socket.timeout(8000).emit(a.ev, "
                  "{room: a.room, ...a.data}, (err, ack) => res(err ? {ok: false, message: "
                  "'no ack'} : ack)))")
        else:
            fn = ("(a) => lobbyPage.hub.timeout(8000).emit(a.room, a.ev, a.data).then("
                  "(v) => ({ok: true, data: v && v.data}), "
                  "(e) => ({ok: false, error: e.code, message: e.detail || e.message}))")
        return self.browser.eval(page, fn, {"room": room, "ev": event, "data": data or {}})

    def notice(self, page):
        return self.browser.eval(page, "() => { const n = document.getElementById('notice'); "
                                       "return n.hidden ? '' : n.textContent; }")

    def csp_violations(self):
        return [m for m in self.browser.log if "Content Security Policy" in (m.get("text") or "")]

    # ---- tests -----------------------------------------------------------
    @timeout(90)
    def test_01_seat_limit(self):
        """Duel has 2 seats: two players sit (a hubio page and a Socket.IO
        page), the third finds it full in the UI, and the backend refuses
        the emit that skips the UI; two players racing for one last seat:
        exactly one gets it."""
        a = self.open("a1", "alice")
        b = self.open("b1", "bob", sio=True)
        c = self.open("c1", "carol")
        self.click_sit(a, "games.t1")
        self.click_sit(b, "games.t1")
        for p in (a, b):
            self.wait_players(p, ["alice", "bob"])
        self.wait_js(c, "() => document.querySelector('#tables li[data-table=\"games.t1\"]')"
                        ".dataset.taken === '2'", msg="carol's list did not show 2/2")
        btn = self.browser.eval(c, "() => { const b = document.querySelector("
                                   "'#tables li[data-table=\"games.t1\"] button.sit'); "
                                   "return [b.disabled, b.textContent]; }")
        self.assertEqual(btn, [True, "Full"])
        r = self.act(c, False, "games.t1", "sit")
        self.assertEqual(r["ok"], False, r)
        self.assertEqual(r["error"], "rejected", r)
        self.assertIn("Duel is full (2 seats)", r["message"])
        self.assertEqual(self.seat(c), "")
        self.assertEqual(self.players(a), ["alice", "bob"])

        # one seat left: carol (hubio) and dave (Socket.IO) ask for it at
        # once (both emits leave before either verdict is back)
        d = self.open("d1", "dave", sio=True)
        self.browser.cmd("click", page=b, selector="#stand")
        for p in (a, c, d):
            self.wait_js(p, "() => document.querySelector('#tables li[data-table=\"games.t1\"]')"
                            ".dataset.taken === '1'", msg="%s: no free seat shown" % p)
        self.browser.eval(c, "() => { window.race = lobbyPage.hub.emit('games.t1', 'sit', {})"
                             ".then(() => 'ok', (e) => e.detail || e.code); return true; }")
        self.browser.eval(d, "() => { window.race = new Promise((res) => lobbyPage.socket"
                             ".emit('sit', {room: 'games.t1'}, (ack) => res(ack.ok ? 'ok' : "
                             "ack.message))); return true; }")
        got = sorted(self.browser.eval(p, "() => window.race") for p in (c, d))
        self.assertEqual(got[0], "Duel is full (2 seats)", got)
        self.assertEqual(got[1], "ok", got)
        winner = "carol" if self.seat(c) == "games.t1" else "dave"
        self.wait_players(a, ["alice", winner])
        self.wait_js(a, "() => document.querySelector('#tables li[data-table=\"games.t1\"]')"
                        ".dataset.taken === '2'")
        self.assertEqual(self.csp_violations(), [])

    @timeout(90)
    def test_02_hubio_and_socketio_at_one_table(self):
        """A hubio page and a Socket.IO page at one table: each sees the
        other; table chat both ways (only seated players may talk); the
        backend's own events are refused from players, whatever client."""
        a = self.open("a2", "alice")
        b = self.open("b2", "bob", sio=True)
        c = self.open("c2", "carol", sio=True)
        self.click_sit(a, "games.t4")
        self.click_sit(b, "games.t4")
        for p in (a, b):
            self.wait_players(p, ["alice", "bob"])
        self.wait_feed(a, "Bob joined")
        self.wait_feed(b, "Alice owns the table")
        # chat: hubio -> Socket.IO and back
        self.browser.cmd("fill", page=a, selector="#chat-input", value="hello from hubio")
        self.browser.cmd("press", page=a, selector="#chat-input", key="Enter")
        self.wait_feed(b, "Alice: hello from hubio")
        self.wait_feed(a, "Alice: hello from hubio")
        self.browser.cmd("fill", page=b, selector="#chat-input", value="hi from socket.io")
        self.browser.cmd("press", page=b, selector="#chat-input", key="Enter")
        self.wait_feed(a, "Bob: hi from socket.io")
        # someone without a seat there may not talk at the table
        r = self.act(c, True, "games.t4", "chat", {"text": "psst"})
        self.assertEqual((r["ok"], r["error"]), (False, "rejected"), r)
        self.assertIn("take a seat at Big table", r["message"])
        # forged announcements: refused, and nobody sees them
        for page, sio in ((a, False), (b, True), (c, True)):
            for ev, data in (("state", {"table": "games.t4", "v": 999, "players": []}),
                             ("started", {"table": "games.t4", "game": 7}),
                             ("tables", {"tables": []})):
                r = self.act(page, sio, "games.t4", ev, data)
                self.assertFalse(r["ok"], (page, ev, r))
                self.assertIn("only the lobby announces '%s'" % ev, r["message"])
        time.sleep(0.5)
        for p in (a, b):
            self.assertEqual(self.players(p), ["alice", "bob"])
            self.assertNotIn("Game 7", " ".join(self.feed(p)))
        self.assertEqual(self.csp_violations(), [])

    @timeout(90)
    def test_03_ready_countdown_start(self):
        """Everybody ready: a countdown on every page, then the game is on
        (the backend starts it); nobody joins a game in progress; only the
        owner ends it; un-ready during the countdown stops it."""
        a = self.open("a3", "alice", sio=True)
        b = self.open("b3", "bob")
        c = self.open("c3", "carol")
        self.click_sit(a, "games.t2")
        self.click_sit(b, "games.t2")
        self.browser.cmd("click", page=a, selector="#ready")
        self.wait_js(b, "() => document.querySelector('#players li[data-user=\"alice\"]')"
                        ".dataset.ready === 'true'", msg="bob did not see alice ready")
        self.assertEqual(self.browser.eval(b, "() => document.getElementById('table')"
                                              ".dataset.phase"), "waiting")
        # bob ready -> countdown; bob not ready -> stopped
        self.browser.cmd("click", page=b, selector="#ready")
        for p in (a, b):
            self.wait_js(p, "() => document.getElementById('table').dataset.phase === 'countdown'"
                            " && /Starting in/.test(document.getElementById('countdown')"
                            ".textContent)", msg="%s: no countdown" % p)
        self.browser.cmd("click", page=b, selector="#ready")
        for p in (a, b):
            self.wait_feed(p, "Countdown stopped")
            self.wait_js(p, "() => document.getElementById('table').dataset.phase === 'waiting'")
        self.browser.cmd("click", page=b, selector="#ready")
        t0 = time.time()
        for p in (a, b):
            self.wait_js(p, "() => document.getElementById('table').dataset.phase === 'playing'",
                         timeout=COUNTDOWN_S + 10, msg="%s: the game did not start" % p)
            self.wait_feed(p, "Game 1 started: alice, bob")
        self.assertGreaterEqual(time.time() - t0, COUNTDOWN_S - 0.5, "no countdown before")
        self.wait_js(c, "() => document.querySelector('#tables li[data-table=\"games.t2\"]')"
                        ".dataset.phase === 'playing'")
        r = self.act(c, False, "games.t2", "sit")
        self.assertFalse(r["ok"], r)
        self.assertIn("Four corners is playing", r["message"])
        # bob does not own the table: he cannot end the game
        self.assertTrue(self.browser.eval(b, "() => document.getElementById('finish').hidden"))
        r = self.act(b, False, "games.t2", "finish")
        self.assertFalse(r["ok"], r)
        self.assertIn("only the table's owner", r["message"])
        self.browser.cmd("click", page=a, selector="#finish")
        for p in (a, b):
            self.wait_js(p, "() => document.getElementById('table').dataset.phase === 'waiting'")
            self.wait_feed(p, "Game 1 ended")

    @timeout(90)
    def test_04_kick_by_the_owner_only(self):
        """Only the owner removes players: another player's kick (Socket.IO
        or hubio, skipping the UI, which shows no button) is refused; the
        owner's works, the removed player is told and cannot sit again at
        once."""
        a = self.open("a4", "alice")
        b = self.open("b4", "bob", sio=True)
        c = self.open("c4", "carol")
        for p in (a, b, c):
            self.click_sit(p, "games.t3")
        for p in (a, b, c):
            self.wait_players(p, ["alice", "bob", "carol"])
        self.assertEqual(self.browser.eval(b, "() => document.querySelectorAll('.kick').length"), 0)
        self.assertEqual(self.browser.eval(a, "() => document.querySelectorAll('.kick').length"), 2)
        for page, sio in ((b, True), (c, False)):
            r = self.act(page, sio, "games.t3", "kick", {"user": "alice"})
            self.assertFalse(r["ok"], r)
            self.assertIn("only the table's owner (Alice) may remove players", r["message"])
        self.assertEqual(self.players(a), ["alice", "bob", "carol"])
        # the owner removes bob (the Socket.IO page)
        self.browser.cmd("click", page=a, selector='#players li[data-user="bob"] button.kick')
        self.wait_players(a, ["alice", "carol"])
        self.wait_feed(a, "Bob left (removed by Alice)")
        self.wait_feed(c, "Bob left (removed by Alice)")
        self.wait_js(b, "() => document.getElementById('table').dataset.table === ''",
                     msg="bob's page still shows the table")
        self.wait_js(b, "() => /You were removed from Night owls by alice/.test("
                        "document.getElementById('notice').textContent)",
                     msg="bob was not told: %r" % self.notice(b))
        r = self.act(b, True, "games.t3", "sit")
        self.assertFalse(r["ok"], r)
        self.assertIn("the owner removed you from Night owls", r["message"])

    @timeout(120)
    def test_05_closed_tab_frees_the_seat(self):
        """A closed tab: the other players see the player away (seat kept
        for the grace window), then the seat is free: the hubio page says
        goodbye ("closed the page"), the Socket.IO page just drops ("lost
        the connection")."""
        c = self.open("c5", "carol")
        d = self.open("d5", "dave", sio=True)
        a = self.open("a5", "alice")
        for p in (c, d, a):
            self.click_sit(p, "games.t2")
        self.wait_players(a, ["carol", "dave", "alice"])
        for page, who, why in ((c, "Carol", "closed the page"), (d, "Dave", "lost the connection")):
            self.browser.cmd("closepage", page=page)
            self.pages = [x for x in self.pages if x[0] != page]
            t0 = time.time()
            self.wait_feed(a, "%s %s: seat kept %d s" % (who, why, GRACE_S), timeout=8)
            self.wait_js(a, "(u) => document.querySelector(`#players li[data-user=\"${u}\"]`)"
                            ".dataset.away === 'true'", who.lower())
            # still there during the window, gone after it
            self.assertIn(who.lower(), self.players(a))
            self.wait_feed(a, "%s left (%s, not back within %d s)" % (who, why, GRACE_S),
                           timeout=GRACE_S + 8)
            self.assertGreaterEqual(time.time() - t0, GRACE_S - 1.5)
            # the backend sends the feed line, then the table's state: the
            # list follows the line within a moment
            self.wait_js(a, "(u) => !document.querySelector(`#players li[data-user=\"${u}\"]`)",
                         who.lower(), msg="%s still listed after leaving" % who)
        self.wait_players(a, ["alice"])
        self.wait_js(a, "() => document.querySelector('#tables li[data-table=\"games.t2\"]')"
                        ".dataset.taken === '1'")

    @timeout(120)
    def test_06_back_within_the_grace_window_keeps_the_seat(self):
        """A player whose tab closed and who comes back (a new tab, the same
        session) within the grace window still has the seat, and keeps it
        past the window's end; the others see "is back"."""
        for page_name, sio in (("d6", False), ("d6s", True)):
            d = self.open(page_name, "dave", sio=sio)
            b = self.open("b6" + page_name, "bob", sio=not sio)
            self.click_sit(d, "games.t4")
            self.click_sit(b, "games.t4")
            self.wait_players(b, ["dave", "bob"])
            self.browser.cmd("closepage", page=d)
            self.pages = [x for x in self.pages if x[0] != d]
            t0 = time.time()
            why = "lost the connection" if sio else "closed the page"
            self.wait_feed(b, "Dave %s: seat kept %d s" % (why, GRACE_S), timeout=8)
            self.wait_js(b, "() => document.querySelector('#players li[data-user=\"dave\"]')"
                            ".dataset.away === 'true'", msg="dave not shown away")
            d2 = self.open(page_name + "-again", "dave", sio=sio)
            self.wait_js(d2, "() => document.getElementById('table').dataset.table === 'games.t4'",
                         msg="dave's new tab does not show his seat")
            self.wait_feed(b, "Dave is back")
            self.wait_js(b, "() => document.querySelector('#players li[data-user=\"dave\"]')"
                            ".dataset.away === 'false'")
            self.assertLess(time.time() - t0, GRACE_S, "too slow to test the window")
            # past the end of the window: still seated
            time.sleep(max(0.0, GRACE_S + 1.5 - (time.time() - t0)))
            self.assertEqual(self.players(b), ["dave", "bob"])
            self.assertEqual(self.seat(d2), "games.t4")
            self.assertNotIn("not back within", " ".join(self.feed(b)))
            for p, s in ((d2, sio), (b, not sio)):
                self.assertTrue(self.act(p, s, "games.t4", "stand")["ok"])
            self.wait_js(b, "() => document.querySelector('#tables li[data-table=\"games.t4\"]')"
                            ".dataset.taken === '0'")
            # (a tab of dave's left open would keep him online: close all)
            for p in (d2, b):
                self.browser.cmd("closepage", page=p)
            self.pages = []

    @timeout(60)
    def test_07_served_under_examples_linked_from_the_dashboard(self):
        """/examples/ lists the lobby; its pages carry the dashboard's CSP
        (and break none of it); the dashboard links to /examples/."""
        r = self.stack.http("GET", "/examples/")
        self.assertEqual(r.status, 200)
        self.assertIn(b'href="lobby/">Game lobby</a>', r.body)
        for path in ("/examples/lobby/", "/examples/lobby/sio.html"):
            r = self.stack.http("GET", path)
            self.assertEqual(r.status, 200, path)
            csp = r.header("content-security-policy") or ""
            self.assertIn("default-src 'self'", csp, path)
            self.assertNotIn("unsafe-inline", csp, path)
        r = self.stack.http("GET", "/")
        self.assertIn(b'href="examples/"', r.body)
        self.assertEqual(self.csp_violations(), [])
        self.assertEqual([e for e in self.browser.errors()], [])


if __name__ == "__main__":
    unittest.main(verbosity=2)
