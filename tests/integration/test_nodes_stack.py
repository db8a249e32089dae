#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""HUB_NODES=3 scripts/stack start|status|stop (scripts/stack-nodes.sh):
a core and three edge brokers, hubd and hub-bridge on two nodes, HAProxy,
on loopback ports from the usual variables; an event crosses the nodes
with the stock mosquitto_pub/sub; stop ends everything."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BIN, REPO, timeout  # noqa: E402


def free_range(n):
    """A base port with base..base+n-1 all free (bind-checked)."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1]
        s.close()
        if base + n > 65000:
            continue
        ok = True
        for p in range(base, base + n):
            t = socket.socket()
            try:
                t.bind(("127.0.0.1", p))
            except OSError:
                ok = False
            finally:
                t.close()
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
        env.update(HUB_NODES="3", HUB_DATA_DIR=os.path.join(d, "data"),
                   HUB_MQTT_PORT=str(free_range(4)), HUB_HTTP_PORT=str(free_range(3)),
                   HUB_WS_PORT=str(free_range(2)), HUB_SIO_PORT=str(free_range(3)),
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
        try:
            run("start")
            self.assertEqual(run("status").returncode, 0)
            hubctl_env = dict(env, HUB_CONFIG=os.path.join(REPO, "conf", "hub.conf"))
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
        finally:
            run("stop", check=False)
            r = run("status", check=False)
            shutil.rmtree(d, ignore_errors=True)
        self.assertEqual(r.returncode, 3, r.stdout)
        self.assertNotIn("running", r.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
