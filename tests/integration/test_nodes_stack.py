#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""HUB_NODES=3 scripts/stack start|status|stop (scripts/stack-nodes.sh):
a core and three edge brokers, hubd and hub-bridge on two nodes, HAProxy
and the store on PostgreSQL (a cluster of the stack's own in DATA/pg), on
loopback ports from the usual variables; a login through HAProxy, hubctl
on the printed store, an event crosses the nodes with the stock
mosquitto_pub/sub; stop ends everything, PostgreSQL too, and a second start
finds the same users."""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BIN, REPO, timeout  # noqa: E402


def free_range(n):
    """A base port with base..base+n-1 all free on 127.0.0.1, below the
    kernel's ephemeral range (harness._listen_range: a port in it may be
    taken by any outgoing connection between this check and the bind)."""
    import random
    lo, hi = harness._listen_range() or (10000, 30000)
    for _ in range(500):
        base = random.randint(lo, hi - n)
        ok = True
        for p in range(base, base + n):
            t = socket.socket()
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
            if not ok:
                break
        if ok:
            return base
    raise RuntimeError("no free port range")


@unittest.skipUnless(shutil.which("haproxy"), "haproxy not installed (scripts/deps)")
class StackNodesTest(unittest.TestCase):
    @timeout(120)
    def test_start_status_event_stop(self):
        d = tempfile.mkdtemp(prefix="hubnodes-")
        os.chmod(d, 0o755)
        env = dict(os.environ)
        for k in list(env):
            if k.startswith("HUB_") and k != "HUB_BUILD_DIR":
                del env[k]
        # one free range for all (separate ranges could overlap): MQTT
        # core + 3 edges, HTTP HAProxy + 2 hubd, 2 ws_ports, Socket.IO
        # HAProxy + 2 hub-bridge
        base = free_range(12)
        env.update(HUB_NODES="3", HUB_DATA_DIR=os.path.join(d, "data"),
                   HUB_MQTT_PORT=str(base), HUB_HTTP_PORT=str(base + 4),
                   HUB_WS_PORT=str(base + 7), HUB_SIO_PORT=str(base + 9),
                   HUB_EXAMPLES="0")
        if os.geteuid() == 0:
            env.update(HUB_STACK_DIR="/run/hub-stack/t-" + os.path.basename(d),
                       HUB_LOG_DIR="/var/log/hub-stack/t-" + os.path.basename(d))
        stack = os.path.join(REPO, "scripts", "stack")

        def run(*args, check=True):
            r = subprocess.run([stack] + list(args), env=env, capture_output=True, text=True,
                               timeout=90)
            if check and r.returncode:
                self.fail("stack %s: %s\n%s" % (args, r.returncode, r.stdout + r.stderr))
            return r
        pg = harness.pg_usable()
        if not pg:
            env["HUB_NODES_STORE"] = "sqlite"
        try:
            out = run("start").stdout
            st = run("status")
            self.assertEqual(st.returncode, 0, st.stdout)
            hubctl_env = dict(env, HUB_CONFIG=os.path.join(REPO, "conf", "hub.conf"))
            if pg:
                self.assertRegex(st.stdout, r"postgresql +running")
                m = re.search(r"hubctl on it: .*HUB_STORE='([^']+)'", out)
                self.assertTrue(m, out)
                hubctl_env["HUB_STORE"] = m.group(1)
                self.assertFalse(os.path.exists(os.path.join(env["HUB_DATA_DIR"], "hub.db")))
                self.login_through_haproxy(base + 4, env["HUB_DATA_DIR"])
            tok = subprocess.run([os.path.join(BIN, "hubctl"), "token", "demo"], env=hubctl_env,
                                 capture_output=True, text=True, check=True).stdout.strip()
            base = int(env["HUB_MQTT_PORT"])
            sub = subprocess.Popen(["mosquitto_sub", "-p", str(base + 2), "-u", "demo", "-P", tok,
                                    "-t", "rooms/lobby/ev/#", "-C", "1", "-W", "10", "-v"],
                                   stdout=subprocess.PIPE, text=True)
            # the subscription is in place once the broker logged it; a
            # retained-free topic: publish until it arrives (bounded)
            out = ""
            for _ in range(40):
                subprocess.run(["mosquitto_pub", "-p", str(base), "-u", "demo", "-P", tok, "-q",
                                "1", "-t", "rooms/lobby/ev/chat/demo", "-m", "across"],
                               check=True, timeout=10)
                try:
                    out, _ = sub.communicate(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    continue
            self.assertEqual(out.strip(), "rooms/lobby/ev/chat/demo across")
            # the running multi-node hub is found without HUB_NODES: a
            # plain start refuses, status lists the nodes
            plain = {k: v for k, v in env.items() if k != "HUB_NODES"}
            r = subprocess.run([stack, "start"], env=plain, capture_output=True, text=True,
                               timeout=90)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("a multi-node hub runs on", r.stderr)
            r = subprocess.run([stack, "status"], env=plain, capture_output=True, text=True,
                               timeout=90)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("broker-core", r.stdout)
            if pg:
                # the store outlives a stop: a second start has the demo user
                run("stop")
                st = run("status", check=False)
                self.assertRegex(st.stdout, r"postgresql +stopped")
                run("start")
                r = subprocess.run([os.path.join(BIN, "hubctl"), "user", "list"], env=hubctl_env,
                                   capture_output=True, text=True, timeout=30)
                self.assertRegex(r.stdout, r"(?m)^demo ", r.stderr)
        finally:
            run("stop", check=False)
            r = run("status", check=False)
            shutil.rmtree(d, ignore_errors=True)
            for k in ("HUB_STACK_DIR", "HUB_LOG_DIR"):
                if k in env:
                    shutil.rmtree(env[k], ignore_errors=True)
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertNotIn("running", r.stdout)

    def login_through_haproxy(self, port, data):
        """The demo login on hubd behind HAProxy: a session and a token."""
        with open(os.path.join(data, "demo-login.txt")) as f:
            creds = dict(ln.strip().split("=", 1) for ln in f if "=" in ln)
        body = json.dumps({"username": creds["username"], "password": creds["password"]})
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/api/login", body, {"content-type": "application/json"})
        r = c.getresponse()
        data = r.read()
        self.assertEqual(r.status, 200, data)
        self.assertTrue(json.loads(data)["token"])
        c.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
