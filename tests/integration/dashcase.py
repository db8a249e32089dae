# SPDX-License-Identifier: MIT
"""What the dashboard's Chromium tests (test_web_dashboard.py,
test_web_dispatch.py) share: a WebTestCase with the demo devices' secrets,
hub-tracker processes stopped at the end, and helpers that drive the
dashboard's page (log in, wait for the connection, read the map)."""
import json
import os
import signal
import time

import harness
from harness import BIN, WebTestCase

PW = "secret-pw"
TRACKER = os.path.join(BIN, "hub-tracker")


class DashboardCase(WebTestCase):
    secrets = {}        # device -> secret (the subclass's prepare() fills it)
    fix_defaults = {}   # members every device_fix() carries

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.trackers = []

    @classmethod
    def tearDownClass(cls):
        for p in cls.trackers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except Exception:
                    p.kill()
        super().tearDownClass()

    def new_page(self, page, ctx, width=1280, height=800):
        self.browser.page(page, ctx=ctx, width=width, height=height)
        return page

    def js(self, page, fn, arg=None):
        return self.browser.eval(page, fn, arg)

    def wait_js(self, page, fn, arg=None, timeout=8.0, msg=None):
        try:
            return self.browser.wait(page, fn, arg, timeout=timeout)
        except harness.BrowserError as e:
            self.fail("%s (%s)" % (msg or "timed out waiting for " + fn, e))

    def login(self, page, user, password=PW):
        """Fill and send the login form (whatever the outcome)."""
        b = self.browser
        b.goto(page, self.base + "/")
        self.wait_js(page, "() => !document.getElementById('login-view').hidden",
                     msg="no login form")
        b.cmd("fill", page=page, selector="#login-username", value=user)
        b.cmd("fill", page=page, selector="#login-password", value=password)
        b.cmd("click", page=page, selector="#login-submit")

    def login_ok(self, page, user, password=PW):
        self.login(page, user, password)
        self.connected(page, user)

    def connected(self, page, who="the page"):
        self.wait_js(page, "() => document.getElementById('conn').dataset.state === 'connected'",
                     timeout=10, msg="%s did not connect" % who)

    def snapshot(self, page):
        return self.js(page, "() => window.hubDashboard && window.hubDashboard.map.snapshot()")

    def tracker(self, *devices, rate=2):
        """hub-tracker driving the given devices (the demo routes)."""
        path = os.path.join(self.stack.dir, "devices-%d.txt" % len(self.trackers))
        with open(path, "w") as f:
            for d in devices:
                f.write("%s %s\n" % (d, self.secrets[d]))
        os.chmod(path, 0o600)
        p = self.stack.start("tracker%d" % len(self.trackers),
                             [TRACKER, "--devices", path, "--rate", str(rate),
                              "--port", str(self.stack.ports["mqtt"]), "--seed", "7"])
        self.trackers.append(p)
        return p

    def device_fix(self, dev, lat, lon, tst=None, **extra):
        """One OwnTracks fix published (retained) as the device (paho, MQTT
        3.1.1); the connection stays open (closed by tearDown)."""
        c = self.own(harness.MqttClient(self.stack.ports["mqtt"], dev, self.secrets[dev],
                                        version=4))
        self.assertEqual(c.connect(), 0)
        fix = {"_type": "location", "lat": lat, "lon": lon, "tst": tst or int(time.time()),
               "tid": dev[-2:].upper()}
        fix.update(self.fix_defaults)
        fix.update(extra)
        c.pub("owntracks/%s/phone" % dev, json.dumps(fix), qos=1, retain=True)
        return c
