# SPDX-License-Identifier: MIT
"""A real browser (headless Chromium, the browser build of socket.io-client)
against hub-bridge, logged in with the hub_sid cookie of a real login:

1. the seed's snippet verbatim, on a page of the bridge's own origin:
   io(url); socket.emit('eventName', {...}); socket.on('eventName', ...)
   (no room argument: the autojoined room), events both ways with MQTT;
2. a page of hubd's origin (same host, another port: the same site, no
   cors_origins needed) with withCredentials: polling with CORS
   credentials, then the upgrade;
3. the seed's snippet verbatim on a page of hubd's origin: its polling
   requests carry no cookie (no withCredentials), the upgrade does, and
   the CONNECT waits for it.
"""
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Stack, REPO, NODE_DIR  # noqa: E402
from mqttraw import RawClient  # noqa: E402

SEED = """
const socket = io('%(url)s');
socket.emit('eventName', { text: 'hello from the seed page' });
socket.on('eventName', (data, meta) => { window.hubState.got = { data, meta }; });
socket.on('connect', () => { window.hubState.connected = true; });
socket.on('connect_error', (e) => { window.hubState.error = e.message; });
"""

CORS = """
const socket = io('%(url)s', { withCredentials: true });
socket.io.on('open', () => socket.io.engine.on('upgrade', (t) => {
  window.hubState.upgraded = t.name; }));
socket.on('connect', () => { window.hubState.connected = true;
  socket.emit('join', 'lobby', (ack) => { window.hubState.ack = ack; });
});
socket.on('connect_error', (e) => { window.hubState.error = e.message; });
socket.on('eventName', (data, meta) => { window.hubState.got = { data, meta,
  transport: socket.io.engine.transport.name }; });
"""


@unittest.skipUnless(os.path.exists("/usr/bin/chromium") and
                     os.path.isdir(os.path.join(REPO, "node_modules", "playwright-core")),
                     "needs /usr/bin/chromium and node_modules/playwright-core")
class SioBrowser(unittest.TestCase):
    def test_browser_pages(self):
        st = Stack()
        try:
            st.start_broker()
            st.start_hubd()
            st.add_user("web", rooms={"lobby": "write"})
            st.add_user("mq", rooms={"lobby": "write"})
            st.start_bridge()
            self.run_browser(st)
        finally:
            log = st.log("bridge")
            st.close()
        self.assertNotIn("AddressSanitizer", log)

    def run_browser(self, st):
        cookie, _, _ = st.login("web")
        # the broker's directory follows the store within refresh_ms
        deadline = time.time() + 5
        while True:
            m = RawClient(st.ports["mqtt"])
            rc = m.connect("mq", st.token("mq"), client_id="mq-browser", version=5)
            if rc == 0 or time.time() > deadline:
                break
            m.close()
            time.sleep(0.2)
        self.assertEqual(rc, 0)
        # (its room grant may reach the broker a moment after the user)
        while m.subscribe(["rooms/lobby/ev/#"])[0] >= 0x80 and time.time() < deadline:
            time.sleep(0.2)
        url = st.sio_url()
        cfg = {"cookie": cookie, "pages": [
            {"name": "seed", "origin": url, "script": SEED % {"url": url}},
            {"name": "cors", "origin": "http://127.0.0.1:%d" % st.ports["http"],
             "script": CORS % {"url": url}},
            {"name": "dash", "origin": "http://127.0.0.1:%d" % st.ports["http"],
             "script": SEED % {"url": url}}]}
        p = subprocess.Popen(["node", os.path.join(NODE_DIR, "sio_browser.mjs"), json.dumps(cfg)],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        events = []
        try:
            for line in p.stdout:
                ev = json.loads(line)
                events.append(ev)
                if ev["ev"] == "connected":
                    # the page is in: an MQTT client and the page talk
                    if ev["page"] == "seed":
                        msgs = []
                        deadline = time.time() + 10
                        while time.time() < deadline and not msgs:
                            msgs = [x for x in m.collect(0.2)
                                    if x[0] == "rooms/lobby/ev/eventName/web"]
                        self.assertTrue(msgs, "the seed's emit did not reach MQTT; bridge log:\n"
                                        + st.log("bridge")[-3000:])
                        self.assertEqual(json.loads(msgs[0][1]),
                                         {"text": "hello from the seed page"})
                    time.sleep(0.3)
                    m.publish("rooms/lobby/ev/eventName/mq",
                              json.dumps({"to": ev["page"]}).encode(), qos=1)
                if ev["ev"] in ("done", "error"):
                    break
            p.wait(30)
        finally:
            if p.poll() is None:
                p.kill()
            err = p.stderr.read()
            m.disconnect()
        by = {(e["ev"], e.get("page")): e for e in events}
        self.assertIn(("connected", "seed"), by, (events, err))
        got = by[("got", "seed")]["state"]["got"]
        self.assertEqual(got["data"], {"to": "seed"})
        self.assertEqual(got["meta"]["room"], "lobby")
        self.assertEqual(got["meta"]["from"], "mq")
        self.assertIn(("connected", "cors"), by, (events, err))
        state = by[("got", "cors")]["state"]
        self.assertEqual(state["ack"], {"ok": True, "room": "lobby"})
        self.assertEqual(state["got"]["data"], {"to": "cors"})
        self.assertEqual(state.get("upgraded"), "websocket")
        self.assertIn(("connected", "dash"), by, (events, err))
        got = by[("got", "dash")]["state"]["got"]
        self.assertEqual(got["data"], {"to": "dash"})
        self.assertEqual(got["meta"]["room"], "lobby")
        self.assertFalse([e for e in events if e["ev"] == "pageerror"], events)


if __name__ == "__main__":
    unittest.main(verbosity=2)
