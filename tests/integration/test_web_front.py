#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""One origin for pages, Socket.IO and MQTT (CONTRACT.md "Browser path"), in
headless Chromium against the real broker, hub-bridge and hubd:

1. the seed's page, verbatim (inline style and script, <script
   src="/socket.io/socket.io.js">, io() with no URL), served by hubd from
   app_dir under /app/ with the default app_csp, after a login on the
   dashboard: it connects with the session cookie (polling, then the
   WebSocket, both through hubd), emits, and another tab receives; no
   CSP violation; without a session io() is refused ("unauthorized");
2. the dashboard over hubd's front with the cookie alone: its MQTT
   connection is ws://HOST/mqtt of its own origin, no POST /api/token;
3. hubd (the front) restarting: the dashboard reconnects by itself.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import WebTestCase, timeout  # noqa: E402

# The seed's page: the Socket.IO chat example as its users write it.
SEED_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <meta name="viewport" content="width=device-width,initial-scale=1.0">
    <title>Socket.IO chat</title>
    <style>
      body { margin: 0; padding-bottom: 3rem; font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }

      #form { background: rgba(0, 0, 0, 0.15); padding: 0.25rem; position: fixed; bottom: 0; left: 0; right: 0; display: flex; height: 3rem; box-sizing: border-box; backdrop-filter: blur(10px); }
      #input { border: none; padding: 0 1rem; flex-grow: 1; border-radius: 2rem; margin: 0.25rem; }
      #input:focus { outline: none; }
      #form > button { background: #333; border: none; padding: 0 1rem; margin: 0.25rem; border-radius: 3px; outline: none; color: #fff; }

      #messages { list-style-type: none; margin: 0; padding: 0; }
      #messages > li { padding: 0.5rem 1rem; }
      #messages > li:nth-child(odd) { background: #efefef; }
    </style>
  </head>
  <body>
    <ul id="messages"></ul>
    <form id="form" action="">
      <input id="input" autocomplete="off" /><button>Send</button>
    </form>
    <script src="/socket.io/socket.io.js"></script>
    <script>
      const socket = io();

      const form = document.getElementById('form');
      const input = document.getElementById('input');
      const messages = document.getElementById('messages');

      form.addEventListener('submit', (e) => {
        e.preventDefault();
        if (input.value) {
          socket.emit('chat message', input.value);
          input.value = '';
        }
      });

      socket.on('chat message', (msg) => {
        const item = document.createElement('li');
        item.textContent = msg;
        messages.appendChild(item);
        window.scrollTo(0, document.body.scrollHeight);
      });
    </script>
  </body>
</html>
"""

PW = "secret-pw"


class WebFront(WebTestCase):
    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write"})
        stack.add_user("bob", rooms={"lobby": "write"})
        app = os.path.join(stack.dir, "app")
        os.makedirs(app)
        with open(os.path.join(app, "index.html"), "w") as f:
            f.write(SEED_PAGE)
        stack.conf["app_dir"] = app
        stack.write_conf(stack.conf)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.stack.start_bridge()
        except Exception:
            cls.browser.close()
            cls.stack.close()
            raise

    def wait_js(self, page, fn, arg=None, timeout=10.0, msg=None):
        try:
            return self.browser.wait(page, fn, arg, timeout=timeout)
        except harness.BrowserError as e:
            self.fail("%s (%s)" % (msg or "timed out waiting for " + fn, e))

    def login(self, page, user):
        b = self.browser
        b.goto(page, self.base + "/")
        self.wait_js(page, "() => !document.getElementById('login-view').hidden",
                     msg="no login form")
        b.cmd("fill", page=page, selector="#login-username", value=user)
        b.cmd("fill", page=page, selector="#login-password", value=PW)
        b.cmd("click", page=page, selector="#login-submit")
        self.wait_js(page, "() => document.getElementById('conn').dataset.state === 'connected'",
                     msg="%s's dashboard did not connect" % user)

    def csp_violations(self, page):
        return [m for m in self.browser.log if m.get("page") == page and
                "Content Security Policy" in (m.get("text") or "")]

    @timeout(90)
    def test_01_seed_page_from_app_dir(self):
        b = self.browser
        # no session yet: the page loads, its socket is refused
        b.page("anon", ctx="anon")
        b.goto("anon", self.base + "/app/")
        # (a refused CONNECT is not retried by socket.io-client: try again
        # with a listener in place)
        err = b.eval("anon", "() => new Promise((res) => { "
                             "socket.once('connect_error', (e) => res(e.message)); "
                             "socket.once('connect', () => res('connected')); "
                             "socket.disconnect().connect(); })", timeout=15)
        self.assertEqual(err, "unauthorized")
        # alice logs in on the dashboard, then opens the app in two tabs
        b.page("dash", ctx="alice")
        self.login("dash", "alice")
        for tab in ("tab1", "tab2"):
            b.page(tab, ctx="alice")
            b.goto(tab, self.base + "/app/")
            self.wait_js(tab, "() => socket.connected", msg="%s: io() did not connect" % tab)
        self.wait_js("tab1", "() => socket.io.engine.transport.name === 'websocket'",
                     msg="no upgrade to the WebSocket through hubd")
        b.cmd("fill", page="tab1", selector="#input", value="hello from the seed's page")
        b.cmd("press", page="tab1", selector="#input", key="Enter")
        got = self.wait_js("tab2", "() => [...document.querySelectorAll('#messages li')]"
                                   ".map((l) => l.textContent).find((t) => t.includes('seed'))",
                           msg="tab2 did not receive the message")
        self.assertEqual(got, "hello from the seed's page")
        # the other way, and to a gateway client of another user
        b.cmd("fill", page="tab2", selector="#input", value="and back")
        b.cmd("press", page="tab2", selector="#input", key="Enter")
        self.wait_js("tab1", "() => [...document.querySelectorAll('#messages li')]"
                             ".some((l) => l.textContent === 'and back')")
        self.assertEqual(self.csp_violations("tab1") + self.csp_violations("tab2"), [])
        self.assertEqual(self.browser.errors("tab1") + self.browser.errors("tab2"), [])
        # the page came with the operator's CSP (app_csp, the default)
        r = self.stack.http("GET", "/app/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-security-policy"),
                         "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src "
                         "'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
                         "object-src 'none'; base-uri 'self'; form-action 'self'; "
                         "frame-ancestors 'self'")
        self.assertEqual(self.stack.http("GET", "/app").status, 301)
        self.assertEqual(self.stack.http("GET", "/app/nope.html").status, 404)
        self.assertEqual(self.stack.http("GET", "/app/../hub.conf").status, 404)
        log = self.stack.log("bridge")
        self.assertIn("alice | connect | ok kind=socket.io via=cookie", log)
        b.screenshot("tab2", "seed-page-on-hubd.png")
        for p in ("anon", "tab1", "tab2"):
            b.cmd("closepage", page=p)

    @timeout(60)
    def test_02_dashboard_over_the_front_with_the_cookie(self):
        b = self.browser
        b.page("bob", ctx="bob")
        self.login("bob", "bob")
        url = b.eval("bob", "() => window.hubDashboard.hub.url")
        self.assertEqual(url, "ws://127.0.0.1:%d/mqtt" % self.stack.ports["http"])
        log = self.stack.log("hubd")
        self.assertRegex(log, r'msg="websocket connect" user=bob via=cookie proto=5')
        self.assertEqual(re.findall(r"msg=token user=bob ", log), [],
                         "the dashboard asked for a token")
        self.assertIn("bob | connect | ok kind=user proto=5", self.stack.log("broker"))
        # a chat line through the front reaches an MQTT client
        m = self.mqtt("alice", version=5)
        self.assertEqual(m.sub("rooms/lobby/ev/#"), [1])
        b.eval("bob", "() => document.querySelector('#room-list [data-room=\"lobby\"]').click()")
        b.cmd("fill", page="bob", selector="#composer-input", value="over the front")
        b.cmd("press", page="bob", selector="#composer-input", key="Enter")
        got = m.wait_msg("rooms/lobby/ev/chat message/bob", 5)
        self.assertIsNotNone(got)
        self.assertIn(b"over the front", got[1])
        # logging out closes that connection
        n0 = self.stack.metric("hub_front_connections")
        b.cmd("click", page="bob", selector="#logout")
        self.wait_js("bob", "() => !document.getElementById('login-view').hidden")
        self.assertTrue(harness.wait_until(
            lambda: self.stack.metric("hub_front_connections") == n0 - 1, 3),
            "bob's connection through the front did not close")

    @timeout(90)
    def test_03_front_restart(self):
        """hubd (the front) restarting: the dashboard's hubio sees its
        connection go, reconnects with the cookie once hubd is back."""
        b = self.browser
        b.page("carl", ctx="alice2")
        self.login("carl", "alice")
        self.stack.stop("hubd")
        self.wait_js("carl", "() => document.getElementById('conn').dataset.state "
                             "=== 'reconnecting'", msg="the dashboard did not see hubd go")
        self.stack.start_hubd()
        self.wait_js("carl", "() => document.getElementById('conn').dataset.state "
                             "=== 'connected'", timeout=40,
                     msg="the dashboard did not reconnect after hubd's restart")
        self.assertEqual(b.errors("carl"), [])


if __name__ == "__main__":
    import unittest
    unittest.main(verbosity=2)
