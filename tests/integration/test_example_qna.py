#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""examples/qna (the live Q&A) in headless Chromium against the real stack:
mosquitto + hub_auth.so, hubd serving the built pages, hub-bridge (for a
Socket.IO client that tries what the page would not), and the Q&A's
backend on the Node SDK started as the stack starts it
(harness.Stack.start_example), with QNA_MODERATORS=host; root is an admin.

- questions and the ranking change live on every screen (votes reorder
  them, a pin puts one on top, an answered one goes down);
- one vote per user: a second vote is refused, from another tab and from a
  Socket.IO client of the same user too;
- moderator-only actions (answer, hide, pin, poll) are refused for the
  audience, whatever the client; a hidden question leaves the audience's
  screens and stays on the moderators';
- the state after a refresh (questions, own votes, own poll answer), and
  after a restart of the backend (its own store in HUB_DATA, 0600);
- the host's poll: the answers show on the host's screen as they come in;
  one answer each; none after the poll closed;
- a user who is not in the room gets no state and cannot ask.
"""
import json
import os
import stat
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import WebTestCase, timeout, wait_until  # noqa: E402

PW = "secret-pw"
MEMBERS = ("alice", "bob", "carol", "host", "root")


class ExampleQna(WebTestCase):
    needs = "examples/qna/index.html"

    @classmethod
    def prepare(cls, stack):
        for u in MEMBERS + ("eve",):
            stack.hubctl("user", "add", u, "--display", u.capitalize(), "--password-stdin",
                         "--role", "admin" if u == "root" else "user", input=PW + "\n")
        stack.hubctl("room", "add", "elsewhere")
        stack.hubctl("grant", "elsewhere", "eve", "write")

    @classmethod
    def start_backend(cls):
        cls.stack.start_example("qna", users=MEMBERS, env={
            "QNA_MODERATORS": "host", "QNA_ASK_PER_MINUTE": "30"})

    @classmethod
    def setUpClass(cls):
        if not harness.example_available("qna"):
            raise unittest.SkipTest("examples/qna is not built")
        super().setUpClass()
        try:
            cls.stack.start_bridge()
            cls.start_backend()
        except Exception:
            cls.browser.close()
            cls.stack.close()
            raise
        cls.logged_in = set()

    def setUp(self):
        super().setUp()
        self.pages = []

    def tearDown(self):
        for page in self.pages:
            try:
                self.browser.cmd("closepage", page=page)
            except Exception:
                pass
        super().tearDown()

    def run(self, result=None):
        r = super().run(result)
        if r is not None and (r.failures or r.errors):
            print("---- qna backend log (tail) ----\n%s" %
                  "\n".join(self.stack.log("ex-qna").splitlines()[-30:]), file=sys.stderr)
        return r

    # ---- helpers ---------------------------------------------------------
    def wait_js(self, page, fn, arg=None, timeout=10.0, msg=None):
        try:
            return self.browser.wait(page, fn, arg, timeout=timeout)
        except harness.BrowserError as e:
            self.fail("%s (%s)" % (msg or "timed out waiting for " + fn, e))

    def open(self, page, user, loaded=True):
        b = self.browser
        b.page(page, ctx=user)
        self.pages.append(page)
        b.goto(page, self.base + "/examples/qna/")
        if user not in self.logged_in:
            self.wait_js(page, "() => document.getElementById('ex-signin')", msg="no sign-in form")
            b.cmd("fill", page=page, selector="#ex-username", value=user)
            b.cmd("fill", page=page, selector="#ex-password", value=PW)
            b.cmd("click", page=page, selector="#ex-signin-submit")
            self.logged_in.add(user)
        self.wait_js(page, "() => document.getElementById('conn').dataset.state === 'online'",
                     msg="%s did not connect" % page)
        if loaded:
            self.wait_loaded(page)
        return page

    def wait_loaded(self, page):
        # the state call answered: the question list is drawn from it
        self.wait_js(page, "() => window.qnaPage && (document.getElementById('questions')"
                           ".children.length > 0 || !document.getElementById('no-questions').hidden)",
                     msg="%s: no state" % page)

    def ids(self, page):
        """The questions in the order shown: [(text, votes)]."""
        return self.browser.eval(page, "() => [...document.querySelectorAll('#questions li')]"
                                       ".map((li) => [li.querySelector('.text').textContent, "
                                       "Number(li.dataset.votes)])")

    def order(self, page, texts):
        """The shown order of the questions named by texts (the others left out)."""
        return [t for t, _ in self.ids(page) if t in texts]

    def wait_order(self, pages, texts, timeout=10.0):
        for p in pages:
            self.wait_js(p, "(a) => JSON.stringify([...document.querySelectorAll('#questions li')]"
                            ".map((li) => li.querySelector('.text').textContent)"
                            ".filter((t) => a.includes(t))) === JSON.stringify(a)", list(texts),
                         timeout, msg="%s: order %r, not %r" % (p, self.order(p, texts), texts))

    def qattr(self, page, text, attr):
        return self.browser.eval(page, "(a) => { const li = [...document.querySelectorAll("
                                       "'#questions li')].find((l) => l.querySelector('.text')"
                                       ".textContent === a.t); return li ? li.dataset[a.k] : null; }",
                                 {"t": text, "k": attr})

    def qid(self, page, text):
        return int(self.qattr(page, text, "id"))

    def ask(self, page, text):
        self.browser.cmd("fill", page=page, selector="#ask-input", value=text)
        self.browser.cmd("click", page=page, selector="#ask-submit")
        self.wait_js(page, "(t) => [...document.querySelectorAll('#questions .text')]"
                           ".some((e) => e.textContent === t)", text, msg="%r not shown" % text)

    def click_in(self, page, text, cls):
        sel = "#questions li[data-id=\"%d\"] .%s" % (self.qid(page, text), cls)
        self.browser.cmd("click", page=page, selector=sel)

    def emit(self, page, event, data):
        """An event into the room the way the page sends it, skipping the
        UI: {ok, error, message}."""
        return self.browser.eval(page, "(a) => qnaPage.hub.timeout(8000).emit('qna', a.ev, a.data)"
                                       ".then((v) => ({ok: true, data: v && v.data}), (e) => "
                                       "({ok: false, error: e.code, message: e.detail || e.message}))",
                                 {"ev": event, "data": data})

    def sio(self, user):
        token = self.stack.token(user)
        c = self.own(harness.sio_connected(self.stack.sio_url(), {"auth": {"token": token},
                                                                "transports": ["websocket"]}))
        return c

    # ---- tests -----------------------------------------------------------
    @timeout(90)
    def test_01_ranking_changes_live_on_every_screen(self):
        """Two questions; votes reorder them on every screen at once; a pin
        puts one on top; an answered one goes below the open ones."""
        a = self.open("a1", "alice")
        b = self.open("b1", "bob")
        h = self.open("h1", "host")
        q1, q2 = "R1: how fast is it?", "R2: does it scale?"
        self.ask(a, q1)
        self.ask(b, q2)
        self.wait_order((a, b, h), [q1, q2])        # same votes: the older first
        self.click_in(b, q2, "vote")                # bob votes for his own
        self.wait_order((a, b, h), [q2, q1])
        self.click_in(a, q1, "vote")
        self.click_in(h, q1, "vote")
        self.wait_order((a, b, h), [q1, q2])
        for p in (a, b, h):
            self.wait_js(p, "(t) => [...document.querySelectorAll('#questions li')].some((li) => "
                            "li.querySelector('.text').textContent === t && li.dataset.votes === '2')",
                         q1)
        # the host pins the one with fewer votes: on top everywhere
        self.click_in(h, q2, "pin")
        self.wait_order((a, b, h), [q2, q1])
        self.assertEqual(self.qattr(a, q2, "pinned"), "true")
        # answered: it goes below the open ones (and leaves the top)
        self.click_in(h, q2, "answer")
        for p in (a, b, h):
            self.wait_js(p, "(t) => [...document.querySelectorAll('#questions li')].some((li) => "
                            "li.querySelector('.text').textContent === t && "
                            "li.dataset.answered === 'true' && li.dataset.pinned === 'false')", q2)
        self.wait_order((a, b, h), [q1, q2])

    @timeout(90)
    def test_02_one_vote_per_user(self):
        """A second vote by the same user is refused: from the same page
        skipping the UI, from another tab, from a Socket.IO client."""
        a = self.open("a2", "alice")
        c = self.open("c2", "carol")
        q = "V1: one vote each?"
        self.ask(c, q)
        self.wait_js(a, "(t) => [...document.querySelectorAll('#questions .text')]"
                        ".some((e) => e.textContent === t)", q)
        qid = self.qid(a, q)
        self.click_in(a, q, "vote")
        self.wait_js(c, "(i) => document.querySelector(`#questions li[data-id=\"${i}\"]`)"
                        ".dataset.votes === '1'", qid)
        self.assertEqual(self.qattr(a, q, "voted"), "true")
        r = self.emit(a, "vote", {"id": qid})
        self.assertEqual((r["ok"], r["error"], r["message"]),
                         (False, "rejected", "you voted for this question already"), r)
        a2 = self.open("a2b", "alice")             # another tab of alice's
        self.assertEqual(self.qattr(a2, q, "voted"), "true", "her vote shows in a new tab")
        r = self.emit(a2, "vote", {"id": qid})
        self.assertFalse(r["ok"], r)
        s = self.sio("alice")
        err, args = s.call("vote", {"room": "qna", "id": qid})
        self.assertIsNone(err)
        self.assertEqual(args[0]["ok"], False, args)
        self.assertEqual(args[0]["message"], "you voted for this question already")
        time.sleep(0.3)
        self.assertEqual(self.qattr(c, q, "votes"), "1")
        # taking it back and voting again is fine
        self.click_in(a, q, "vote")
        self.wait_js(c, "(i) => document.querySelector(`#questions li[data-id=\"${i}\"]`)"
                        ".dataset.votes === '0'", qid)
        self.click_in(a2, q, "vote")
        self.wait_js(c, "(i) => document.querySelector(`#questions li[data-id=\"${i}\"]`)"
                        ".dataset.votes === '1'", qid)

    @timeout(90)
    def test_03_moderation_is_for_moderators(self):
        """The audience has no moderator controls, and their moderator
        actions are refused (page or Socket.IO); a moderator hides (the
        audience's screens drop it, the moderators keep it), an admin
        answers."""
        b = self.open("b3", "bob")
        h = self.open("h3", "host")
        r3 = self.open("r3", "root")
        q = "M1: something rude"
        self.ask(b, q)
        self.wait_js(h, "(t) => [...document.querySelectorAll('#questions .text')]"
                        ".some((e) => e.textContent === t)", q)
        qid = self.qid(h, q)
        self.assertEqual(self.browser.eval(b, "() => document.querySelectorAll('#questions .mod')"
                                              ".length"), 0)
        self.assertTrue(self.browser.eval(b, "() => document.getElementById('poll-form').hidden"))
        self.assertFalse(self.browser.eval(h, "() => document.getElementById('poll-form').hidden"))
        for ev, data in (("hide", {"id": qid}), ("pin", {"id": qid}), ("answer", {"id": qid}),
                         ("poll", {"question": "x?", "options": ["a", "b"]})):
            r = self.emit(b, ev, data)
            self.assertFalse(r["ok"], (ev, r))
            self.assertTrue(r["message"].startswith("only a moderator may"), (ev, r))
        s = self.sio("bob")
        err, args = s.call("hide", {"room": "qna", "id": qid})
        self.assertEqual(args[0]["ok"], False, args)
        self.assertIn("only a moderator", args[0]["message"])
        self.assertEqual(self.qattr(b, q, "hidden"), "false")
        # the host hides it: gone for bob, marked for the moderators
        self.click_in(h, q, "hide")
        self.wait_js(b, "(t) => ![...document.querySelectorAll('#questions .text')]"
                        ".some((e) => e.textContent === t)", q, msg="still on bob's screen")
        for p in (h, r3):
            self.wait_js(p, "(i) => document.querySelector(`#questions li[data-id=\"${i}\"]`)"
                            "?.dataset.hidden === 'true'", qid, msg="%s: not shown hidden" % p)
        # bob's refreshed page does not get its text back either
        b2 = self.open("b3b", "bob")
        self.assertIsNone(self.qattr(b2, q, "id"))
        self.assertNotIn(q, self.browser.eval(b2, "() => document.body.textContent"))
        # the admin shows it again and answers it
        self.click_in(r3, q, "unhide")
        self.wait_js(b, "(t) => [...document.querySelectorAll('#questions .text')]"
                        ".some((e) => e.textContent === t)", q, msg="not back on bob's screen")
        self.click_in(r3, q, "answer")
        self.wait_js(b, "(i) => document.querySelector(`#questions li[data-id=\"${i}\"]`)"
                        "?.dataset.answered === 'true'", qid)

    @timeout(120)
    def test_04_state_after_refresh_and_backend_restart(self):
        """A refreshed page shows the questions, its own votes and poll
        answer; so does one after the backend restarted (its own store)."""
        a = self.open("a4", "alice")
        h = self.open("h4", "host")
        q = "S1: will this survive a refresh?"
        self.ask(a, q)
        self.click_in(a, q, "vote")
        self.wait_js(h, "(t) => [...document.querySelectorAll('#questions li')].some((li) => "
                        "li.querySelector('.text').textContent === t && li.dataset.votes === '1')", q)
        self.assertTrue(self.emit(h, "poll", {"question": "Refresh?", "options": ["yes", "no"]})["ok"])
        self.wait_js(a, "() => document.querySelector('#poll .pick')")
        self.browser.cmd("click", page=a, selector='#poll li[data-option="1"] .pick')
        self.wait_js(h, "() => document.querySelector('#poll li[data-option=\"1\"]')"
                        "?.dataset.count === '1'")
        before = self.ids(a)

        def check(page):
            self.wait_js(page, "(t) => [...document.querySelectorAll('#questions .text')]"
                               ".some((e) => e.textContent === t)", q, msg="%s: question gone" % page)
            self.assertEqual(self.ids(page), before)
            self.assertEqual(self.qattr(page, q, "voted"), "true")
            self.wait_js(page, "() => document.querySelector('#poll li[data-option=\"1\"]')"
                               "?.dataset.mine === 'true'", msg="%s: own answer not shown" % page)
            self.assertEqual(self.browser.eval(page, "() => document.querySelectorAll('#poll .pick')"
                                                     ".length"), 0)

        self.browser.goto(a, self.base + "/examples/qna/")
        self.wait_loaded(a)
        check(a)
        # the backend restarts (SIGTERM: it stops cleanly) and reads its store
        self.assertEqual(self.stack.stop("ex-qna"), 0)
        store = os.path.join(self.stack.dir, "examples", "qna", "qna.json")
        self.assertEqual(stat.S_IMODE(os.stat(store).st_mode), 0o600)
        with open(store) as f:
            self.assertIn(q, f.read())
        self.start_backend()
        self.browser.goto(a, self.base + "/examples/qna/")
        self.wait_loaded(a)
        check(a)
        r = self.emit(a, "vote", {"id": self.qid(a, q)})
        self.assertEqual(r["message"], "you voted for this question already", r)
        self.emit(h, "pollclose", {})

    @timeout(90)
    def test_05_poll_answers_live(self):
        """The host asks a poll from the page; the audience's answers show
        on the host's screen as they come in; one answer each; none after
        the poll closed."""
        h = self.open("h5", "host")
        a = self.open("a5", "alice")
        b = self.open("b5", "bob")
        c = self.open("c5", "carol")
        self.browser.cmd("fill", page=h, selector="#poll-question", value="Which demo next?")
        self.browser.cmd("fill", page=h, selector="#poll-options", value="lobby\nboard\nqna")
        self.browser.cmd("click", page=h, selector="#poll-open")
        for p in (a, b, c):
            self.wait_js(p, "() => document.querySelector('#poll .q')?.textContent === "
                            "'Which demo next?' && document.querySelectorAll('#poll .pick').length === 3",
                         msg="%s: no poll" % p)
        # the host sees the counts (0) before anyone answered; the audience
        # sees none until it answered
        self.assertEqual(self.browser.eval(h, "() => [...document.querySelectorAll('#poll li')]"
                                              ".map((li) => li.dataset.count)"), ["0", "0", "0"])
        self.assertEqual(self.browser.eval(a, "() => document.querySelectorAll('#poll .n').length"), 0)
        for page, option, counts in ((a, 2, "0,0,1"), (b, 2, "0,0,2"), (c, 0, "1,0,2")):
            self.browser.cmd("click", page=page, selector='#poll li[data-option="%d"] .pick' % option)
            self.wait_js(h, "(c) => [...document.querySelectorAll('#poll li')].map((li) => "
                            "li.dataset.count).join() === c", counts,
                         msg="host: counts %r, not %s" % (self.browser.eval(
                             h, "() => [...document.querySelectorAll('#poll li')].map((li) => "
                                "li.dataset.count).join()"), counts))
        self.wait_js(h, "() => document.getElementById('poll').dataset.total === '3'")
        self.wait_js(a, "() => document.querySelector('#poll li[data-option=\"0\"]')"
                        ".dataset.count === '1'", msg="alice does not see the others' answers")
        poll_id = int(self.browser.eval(h, "() => document.getElementById('poll').dataset.pollId"))
        r = self.emit(a, "pick", {"poll": poll_id, "option": 0})
        self.assertEqual(r["message"], "you answered this poll already", r)
        self.browser.cmd("click", page=h, selector="#poll-close")
        self.wait_js(a, "() => document.getElementById('poll').dataset.open === 'false'")
        d = self.open("d5", "root")
        r = self.emit(d, "pick", {"poll": poll_id, "option": 1})
        self.assertEqual(r["message"], "the poll is closed", r)
        self.wait_js(h, "() => document.getElementById('poll').dataset.total === '3'")

    @timeout(60)
    def test_06_only_the_rooms_members(self):
        """eve (not in room qna) gets no state from the backend and cannot
        ask (the hub's ACL refuses her event before any backend sees it)."""
        e = self.open("e6", "eve", loaded=False)
        self.wait_js(e, "() => /not in room qna|members of room qna/.test("
                        "document.getElementById('notice').textContent)",
                     msg="eve was not refused")
        r = self.browser.eval(e, "() => qnaPage.hub.call('qna', 'state', {})")
        self.assertEqual(r.get("error"), "forbidden", r)
        self.assertNotIn("questions", r)
        r = self.emit(e, "ask", {"text": "let me in"})
        self.assertFalse(r["ok"], r)
        self.assertNotIn("let me in", self.stack.log("ex-qna"))
        # a member's state call right after connecting is answered (the
        # backend waits for the hub's joined notice)
        c = self.open("c6", "carol")
        self.assertTrue(self.browser.eval(c, "() => qnaPage.hub.call('qna', 'state', {})"
                                             ".then((s) => s.ok)"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
