#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""examples/board in headless Chromium against the real stack: mosquitto +
hub_auth.so, hubd serving build/web (the board's page under
/examples/board/), and the board's backend (examples/board/backend/
server.mjs on the Node SDK) started as scripts/stack does
(harness.Stack.start_example). Several browser contexts are several users.

Two users typing at once converge (real keystrokes in one page while the
other types from a script); a third joining late gets the same document;
the others' cursors show with their names and colours; an edit made while
the page was offline (its socket dropped, the context offline) merges on
reconnect; a backend restart (SIGTERM: exit 0) loses nothing, and edits
made while it was away are saved once it is back; a change over the
backend's limit is refused with a clear error (in the page, and over raw
MQTT with the verdict) and the others keep working; `sync` answers members
of the room only.
"""
import base64
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import WebTestCase, timeout, wait_until  # noqa: E402
from test_backends_mqtt import V5Client  # noqa: E402

PW = "secret-pw"
PAGE = "/examples/board/"
USERS = ("alice", "bob", "carol", "dave")
DISPLAY = {"alice": "Alice Archer", "bob": "Bob Baker", "carol": "Carol Cook",
           "dave": "Dave Dyer", "eve": "Eve", "fay": "Fay Fisher"}


class Board(WebTestCase):
    needs = "examples/board/index.html"

    @classmethod
    def prepare(cls, stack):
        for u in USERS + ("eve", "fay"):
            stack.hubctl("user", "add", u, "--display", DISPLAY[u], "--password-stdin",
                         input=PW + "\n")

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            if not harness.example_available("board"):
                raise RuntimeError("examples/board is not built")
            cls.stack.start_example("board", USERS)
            cls.stack.hubctl("grant", "board", "fay", "read")
        except Exception:
            cls.tearDownClass()
            raise
        cls.pages = set()

    # ---- helpers ----------------------------------------------------------
    def js(self, page, body, arg=None):
        return self.browser.eval(page, "async (arg) => { %s }" % body, arg)

    def wait_js(self, page, fn, arg=None, timeout=15.0, msg=None):
        try:
            return self.browser.wait(page, fn, arg, timeout=timeout)
        except harness.BrowserError as e:
            self.fail("%s: %s" % (msg or fn, e))

    def open(self, page, user):
        """A page of user on the board, synced with the backend."""
        b = self.browser
        if page not in self.pages:
            b.page(page, ctx=user)
            self.pages.add(page)
        b.goto(page, self.base + PAGE)
        self.js(page, """
            const r = await fetch('/api/session?optional=1');
            if (r.status === 200) return true;
            const l = await fetch('/api/login', {method: 'POST',
                headers: {'content-type': 'application/json'},
                body: JSON.stringify({username: arg.u, password: arg.p})});
            return l.status;""", {"u": user, "p": PW})
        b.goto(page, self.base + PAGE)
        self.wait_saved(page)
        return page

    def wait_saved(self, page, timeout=15.0):
        self.wait_js(page, "() => window.board && board.synced && board.status === 'saved'",
                     timeout=timeout, msg="%s not synced" % page)

    def text(self, page):
        """The page's document: the Y.Text and the textarea must agree."""
        t = self.js(page, "return [board.text, document.getElementById('doc').value];")
        self.assertEqual(t[0], t[1], "%s: the textarea shows something else than its doc" % page)
        return t[0]

    def converged(self, pages, timeout=15.0, contains=()):
        """Wait until every page shows the same saved document; returns it."""
        def same():
            try:
                texts = [self.js(p, "return board.status === 'saved' ? board.text : null;")
                         for p in pages]
            except harness.BrowserError:
                return None
            if None in texts or len(set(texts)) != 1:
                return None
            if not all(c in texts[0] for c in contains):
                return None
            return texts[0]
        got = wait_until(same, timeout, 0.1)
        if got is None:
            self.fail("did not converge: %r" % {p: self.js(p, "return [board.status, board.text];")
                                                 for p in pages})
        for p in pages:
            self.assertEqual(self.text(p), got)
        return got

    def script_type(self, page, text, at="end", delay_ms=15):
        """Start typing text from a script in the page, without waiting: the
        caret is put at `at` ("start", "end" or an index) once, then each
        character goes in at the caret, as keystrokes would (the caret
        follows the others' edits); window._typing resolves when done."""
        self.js(page, """
            const ta = document.getElementById('doc');
            ta.focus();
            const at = arg.at === 'start' ? 0 : arg.at === 'end' ? ta.value.length : arg.at;
            ta.setSelectionRange(at, at);
            window._typing = (async () => {
                for (const ch of arg.text) {
                    const pos = ta.selectionEnd;
                    ta.setRangeText(ch, pos, pos, 'end');
                    ta.dispatchEvent(new InputEvent('input', {inputType: 'insertText', data: ch}));
                    await new Promise((r) => setTimeout(r, arg.delay));
                }
                return true;
            })();
            return true;""", {"text": text, "at": at, "delay": delay_ms})

    def typed(self, page, timeout=30.0):
        self.wait_js(page, "() => window._typing && Promise.race([window._typing, "
                           "new Promise((r) => setTimeout(() => r(false), 50))])",
                     timeout=timeout, msg="%s: scripted typing did not finish" % page)

    def key_type(self, page, text, where="End"):
        """Real keystrokes (playwright) at the end of the document
        (Ctrl+End), or at the caret as it is (where="")."""
        if where:
            self.browser.cmd("click", page=page, selector="#doc")
            self.browser.cmd("press", page=page, selector="#doc", key="Control+" + where)
        self.browser.cmd("type", page=page, selector="#doc", text=text)

    def set_offline(self, page, user, offline):
        """The context offline (no new connection) and the page's MQTT socket
        dropped: what a lost network does to it."""
        self.browser.cmd("offline", ctx=user, offline=offline)
        if offline:
            self.js(page, "board.hub._client.stream.destroy(); return true;")

    def mqtt5(self, user):
        c = self.own(V5Client(self.stack.ports["mqtt"], user, self.stack.token(user)))
        self.assertEqual(c.connect(), 0)
        return c

    # ---- tests ------------------------------------------------------------
    @timeout(90)
    def test_01_two_users_edit_at_once_and_converge(self):
        a = self.open("alice", "alice")
        b = self.open("bob", "bob")
        self.assertEqual(self.text(a), "")
        self.key_type(a, "Minutes\n")
        self.converged([a, b], contains=("Minutes\n",))
        # bob types from a script at the start while alice types real keys
        # at the end: both at once, every keystroke its own update
        self.script_type(b, "Bob was here. ", at="start")
        self.key_type(a, "Alice writes the minutes.")
        self.typed(b)
        doc = self.converged([a, b], contains=("Bob was here. Minutes\n",
                                               "Minutes\nAlice writes the minutes."))
        self.assertEqual(doc, "Bob was here. Minutes\nAlice writes the minutes.")
        # both type at the very same spot at once: Yjs orders the concurrent
        # runs the same way everywhere (no character lost or doubled)
        self.script_type(a, "[A1A2A3A4]", at=0, delay_ms=5)
        self.script_type(b, "[B1B2B3B4]", at=0, delay_ms=5)
        self.typed(a)
        self.typed(b)
        both = self.converged([a, b])
        self.assertEqual(sorted(both), sorted(doc + "[A1A2A3A4][B1B2B3B4]"))
        self.assertTrue(both.endswith(doc), both)

    @timeout(60)
    def test_02_late_joiner_gets_the_whole_document(self):
        want = self.converged(["alice", "bob"])
        self.assertIn("Alice writes the minutes.", want)
        c = self.open("carol", "carol")
        self.assertEqual(self.text(c), want)
        # and a refresh gets it again
        self.browser.goto(c, self.base + PAGE)
        self.wait_saved(c)
        self.assertEqual(self.text(c), want)
        # carol edits; all three agree
        self.key_type(c, "\nCarol: agreed.")
        self.converged(["alice", "bob", "carol"], contains=("Carol: agreed.",))

    @timeout(60)
    def test_03_cursors_with_names_and_colours(self):
        a, b = "alice", "bob"
        # alice selects a word; bob sees her caret labelled with her name
        self.js(a, """const ta = document.getElementById('doc'); ta.focus();
                      const i = ta.value.indexOf('minutes');
                      ta.setSelectionRange(i, i + 7); return true;""")
        self.wait_js(b, "() => [...document.querySelectorAll('.board-caret')]"
                        ".some((c) => c.dataset.user === 'alice' && "
                        "c.textContent === 'Alice Archer')", msg="alice's caret at bob")
        self.wait_js(b, "() => document.querySelectorAll('.board-sel').length > 0",
                     msg="alice's selection at bob")
        caret = self.js(b, """const c = [...document.querySelectorAll('.board-caret')]
                                  .find((c) => c.dataset.user === 'alice');
                              const r = c.getBoundingClientRect();
                              const t = document.getElementById('doc').getBoundingClientRect();
                              return {color: getComputedStyle(c).borderLeftColor,
                                      inside: r.left >= t.left && r.right <= t.right + 2 &&
                                              r.top >= t.top && r.bottom <= t.bottom};""")
        self.assertTrue(caret["inside"], caret)
        # her colour is hers alone: bob's caret at alice has another one
        self.js(b, """const ta = document.getElementById('doc'); ta.focus();
                      ta.setSelectionRange(3, 3); return true;""")
        self.wait_js(a, "() => [...document.querySelectorAll('.board-caret')]"
                        ".some((c) => c.dataset.user === 'bob' && c.textContent === 'Bob Baker')",
                     msg="bob's caret at alice")
        bob_color = self.js(a, """const c = [...document.querySelectorAll('.board-caret')]
                                      .find((c) => c.dataset.user === 'bob');
                                  return getComputedStyle(c).borderLeftColor;""")
        self.assertNotEqual(caret["color"], bob_color)
        # who is here: names from the hub, "(you)" for oneself
        people = self.wait_js(a, "() => { const l = [...document.querySelectorAll('#people li')]"
                                 ".map((li) => li.textContent); "
                                 "return l.length >= 3 && l; }", msg="people list")
        self.assertIn("Alice Archer (you)", people)
        self.assertIn("Bob Baker", people)
        # a name cannot be faked: a cursor claiming to be alice, sent by bob,
        # is re-stamped by the backend with bob's real name and colour
        self.js(b, """
            const enc = await import('/vendor/yjs/lib0/encoding.js');
            const e = enc.createEncoder();
            enc.writeVarUint(e, 1);
            enc.writeVarUint(e, 424242);
            enc.writeVarUint(e, 1);
            const st = JSON.parse(JSON.stringify(board.awarenessState()));
            st.user = {id: 'alice', name: 'Alice Archer', color: 'rgb(1, 2, 3)'};
            enc.writeVarString(e, JSON.stringify(st));
            const bytes = enc.toUint8Array(e);
            const v = await board.hub.emit(board.room, 'awareness',
                                           {a: btoa(String.fromCharCode(...bytes))});
            return v.ok;""")
        fake = self.wait_js(a, "() => { const c = document.querySelector("
                               "'.board-caret[data-client=\"424242\"]'); "
                               "return c && [c.dataset.user, c.textContent, "
                               "getComputedStyle(c).borderLeftColor]; }", msg="the fake cursor")
        self.assertEqual(fake, ["bob", "Bob Baker", bob_color])
        self.browser.screenshot(a, "board-1280x800.png")

    @timeout(90)
    def test_04_offline_edit_merges_on_reconnect(self):
        a, b = "alice", "bob"
        self.wait_saved(a)
        self.wait_saved(b)
        self.set_offline(b, "bob", True)
        self.wait_js(b, "() => !board.hub.connected && board.status === 'offline'",
                     msg="bob's page did not notice it is offline")
        self.key_type(b, "\nWritten on the train (offline).")
        self.key_type(a, "\nAlice, online meanwhile.")
        self.wait_saved(a)
        self.assertGreater(self.js(b, "return board.pending;"), 0)
        self.assertEqual(self.js(b, "return document.getElementById('status').dataset.state;"),
                         "offline")
        time.sleep(1.0)  # alice's edit had its time to reach bob: it must not
        self.assertNotIn("Alice, online meanwhile.", self.text(b))
        self.assertNotIn("Written on the train", self.text(a))
        self.set_offline(b, "bob", False)
        doc = self.converged([a, b, "carol"], timeout=40,
                             contains=("Written on the train (offline).", "Alice, online meanwhile."))
        self.assertEqual(doc.count("Written on the train (offline)."), 1)

    @timeout(120)
    def test_05_backend_restart_loses_nothing(self):
        a, b = "alice", "bob"
        before = self.converged([a, b])
        self.assertEqual(self.stack.stop("ex-board"), 0, "the backend's exit status on SIGTERM")
        # edits while it is away: refused by the hub (the room's hook service
        # is not connected), kept by the page
        self.key_type(a, "\nTyped while the backend restarts.")
        self.wait_js(a, "() => board.status !== 'saved' && "
                        "document.getElementById('notice-text').textContent.includes('backend')",
                     msg="alice's page did not say the backend is away")
        self.stack.start_example("board", USERS, setup=False)
        doc = self.converged([a, b], timeout=40, contains=("Typed while the backend restarts.",))
        self.assertTrue(doc.startswith(before) or before in doc.replace(
            "\nTyped while the backend restarts.", ""), doc)
        # a fresh page after the restart: the backend's copy has it all
        d = self.open("dave", "dave")
        self.assertEqual(self.text(d), doc)
        # and once more, with nobody's page holding a copy: carol reloads
        # after a second restart and gets everything from the disk
        self.assertEqual(self.stack.stop("ex-board"), 0)
        self.stack.start_example("board", USERS, setup=False)
        self.browser.goto("carol", self.base + PAGE)
        self.wait_saved("carol", timeout=30)
        self.assertEqual(self.text("carol"), doc)

    @timeout(90)
    def test_06_oversize_change_refused_others_keep_working(self):
        a, b = "alice", "bob"
        before = self.converged([a, b])
        # alice pastes 100 KiB (the backend takes 64 KiB per change)
        self.js(a, """const ta = document.getElementById('doc'); ta.focus();
                      ta.setSelectionRange(ta.value.length, ta.value.length);
                      ta.setRangeText('x'.repeat(100 * 1024), ta.value.length, ta.value.length, 'end');
                      ta.dispatchEvent(new InputEvent('input', {inputType: 'insertFromPaste'}));
                      return true;""")
        note = self.wait_js(a, "() => !document.getElementById('notice').hidden && "
                               "document.getElementById('notice-text').textContent",
                            msg="no error at alice")
        self.assertIn("not saved", note)
        self.assertIn("a change may be at most 64 KiB; this one is 100 KiB", note)
        self.wait_saved(a)
        self.assertEqual(self.text(a), before)
        # bob never saw it, and both go on editing
        self.key_type(b, "\nBob after the big paste.")
        # (alice's Ctrl+End must come after bob's line reached her: typing
        # at the same spot at once interleaves the two, test_01)
        self.converged([a, b], contains=("Bob after the big paste.",))
        self.key_type(a, "\nAlice after the big paste.")
        doc = self.converged([a, b], contains=("Bob after the big paste.", "Alice after the big paste."))
        self.assertNotIn("xxxx", doc)
        # the backend refuses it whoever sends it: raw MQTT 5 with a
        # response topic gets the verdict
        c = self.mqtt5("carol")
        c.sub("users/carol/reply/#")
        cases = [
            ({"u": base64.b64encode(os.urandom(100 * 1024)).decode()}, "too_large"),
            ({"u": base64.b64encode(b"\x01\x02\x03garbage").decode()}, "bad_update"),
            ({"u": "not base64!"}, "bad_request"),
            ({"x": 1}, "bad_request"),
        ]
        for data, code in cases:
            corr = uuid.uuid4().hex
            c.publish5("rooms/board/ev/update/carol", data,
                       response_topic="users/carol/reply/" + corr, correlation=corr)
            v = c.answer(corr)
            self.assertEqual(v and v.get("error"), "rejected", (code, v))
            self.assertTrue(v["message"].startswith(code + ": "), (code, v))
        self.assertEqual(self.converged([a, b]), doc)

    @timeout(60)
    def test_07_sync_answers_members_only(self):
        # eve is no member of the room: the backend answers her nothing
        e = self.mqtt5("eve")
        e.sub("users/eve/reply/#")
        corr = uuid.uuid4().hex
        e.publish5("svc/board/sync/eve", {"room": "board", "sv": ""},
                   response_topic="users/eve/reply/" + corr, correlation=corr)
        v = e.answer(corr, timeout=10)
        self.assertEqual(v and v.get("error"), "forbidden", v)
        # a member gets the document (the update is a Yjs update, base64)
        c = self.mqtt5("carol")
        c.sub("users/carol/reply/#")
        corr = uuid.uuid4().hex
        c.publish5("svc/board/sync/carol", {"room": "board", "sv": ""},
                   response_topic="users/carol/reply/" + corr, correlation=corr)
        v = c.answer(corr, timeout=10)
        self.assertTrue(v and v.get("ok"), v)
        self.assertGreater(len(base64.b64decode(v["update"])), 100)
        self.assertEqual(v["limits"], {"update": 64 * 1024, "doc": 512 * 1024})
        # a reader sees the document and the edits as they come, and cannot
        # change it: the page is read-only, and the hub refuses its events
        f = self.open("fay", "fay")
        self.assertEqual(self.text(f), self.text("alice"))
        self.assertTrue(self.js(f, "return document.getElementById('doc').readOnly;"))
        self.key_type("alice", "\nFor the readers.")
        self.converged(["alice", f], contains=("For the readers.",))
        v = self.js(f, "return board.hub.emit(board.room, 'update', {u: 'AAA='})"
                       ".then(() => 'accepted', (e) => e.code);")
        self.assertEqual(v, "forbidden")

    @timeout(90)
    def test_08_another_board_and_the_screenshot(self):
        """A second room hooked to the backend is a board of its own (the
        first one's text never shows there); docs/img/board.png is its
        screenshot (HUB_DOCS_IMG=1 writes it)."""
        st = self.stack
        st.hubctl("room", "add", "board.notes")
        st.hubctl("room", "hook", "board.notes", "board")
        for u in ("alice", "bob", "carol"):
            st.hubctl("grant", "board.notes", u, "write")
        url = self.base + PAGE + "?room=board.notes"
        pages = []
        for u in ("alice", "bob", "carol"):
            p = u + "-notes"
            self.browser.page(p, ctx=u)
            self.browser.goto(p, url)
            self.wait_saved(p)
            pages.append(p)
        a, b, c = pages
        self.assertEqual(self.text(a), "")
        self.browser.cmd("fill", page=a, selector="#doc", value=(
            "Q3 planning, notes\n"
            "==================\n\n"
            "Agenda\n"
            "- Launch date of the tracker app\n"
            "- Hiring: two backend engineers\n"
            "- Budget review\n\n"
            "Decisions\n"
            "- "))
        self.key_type(a, "Beta ships on 14 October.")
        self.converged(pages, contains=("Beta ships on 14 October.",))
        self.js(b, """const ta = document.getElementById('doc'); ta.focus();
                      const i = ta.value.indexOf(' app') + 4; ta.setSelectionRange(i, i);
                      return true;""")
        self.key_type(b, " (Bob)", where="")  # at bob's caret
        self.js(c, """const ta = document.getElementById('doc'); ta.focus();
                      const i = ta.value.indexOf('two backend engineers');
                      ta.setSelectionRange(i, i + 21); return true;""")
        self.converged(pages, contains=("tracker app (Bob)",))
        for p, others in ((a, ("bob", "carol")), (b, ("alice", "carol"))):
            self.wait_js(p, "(o) => o.every((u) => document.querySelector("
                            "`.board-caret[data-user='${u}']`))", list(others),
                         msg="%s sees the others' cursors" % p)
        self.wait_js(a, "() => document.querySelectorAll('#people li').length === 3")
        self.assertNotIn("Alice writes the minutes.", self.text(a))
        self.browser.screenshot(a, "board.png")
        if os.environ.get("HUB_DOCS_IMG"):
            self.browser.screenshot(a, os.path.join(harness.REPO, "docs", "img", "board.png"))


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
