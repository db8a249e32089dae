# SPDX-License-Identifier: MIT
"""The hub as the official Socket.IO / Engine.IO protocol test suites
expect their server (socketio/engine.io-protocol and
socketio/socket.io-protocol, test-suite/): used by scripts/conformance
(the official suites, for a maintainer with internet) and by
tests/integration/test_sio_conformance.py (our own tests of the same cases,
in CI). docs/testing.md "Protocol conformance".

The suites' reference servers run with pingInterval 300, pingTimeout 200,
maxPayload 1000000 (socket.io: connectTimeout 1000), accept anonymous
connections, and echo: the Engine.IO one every message, the Socket.IO one
"message" as "message-back", "message-with-ack" as its ack, and it emits
"auth" to each new socket. The hub gets, through its real paths:

- the suites' Engine.IO settings (sio_ping_interval, sio_ping_timeout,
  sio_max_payload); sio_connect_timeout 1500 ms (1000 in the reference:
  the suite's heartbeat tests need ~0.9 s of a session that never
  connects, its "no handshake" test a close within 2 s; 1.5 s leaves both
  a margin on a loaded machine); recovery off (the suites' servers have
  none: a "pid" in the CONNECT answer fails their key check);
  presence_grace_ms 0 (every connection of the test user is announced);
- a user `tester`, member (write) of the room `conformance`, autojoined
  to nothing, and sio_test_anonymous_token = a token of tester, so the
  suites' anonymous CONNECTs are tester's (TEST ONLY setting: loopback
  bind, direct loopback connections only);
- a service `custom` (so the suites' namespace "/custom" is a service
  namespace) run by tests/integration/js/conformance_echo.mjs on the Node
  SDK: "message" events in room `conformance` come back as
  "message-back" with the same arguments, "message-with-ack" calls on
  /custom are answered with what they carried, and when tester comes
  online its sockets get "auth" ({}) in their inbox.
"""
import json
import os
import subprocess
import threading
import time

import harness

ROOM = "conformance"
USER = "tester"
SERVICE = "custom"
ECHO = os.path.join(harness.REPO, "tests", "integration", "js", "conformance_echo.mjs")

SETTINGS = {
    "sio_ping_interval": 300,
    "sio_ping_timeout": 200,
    "sio_max_payload": 1000000,
    "sio_connect_timeout": 1500,
    "sio_recovery_s": 0,
    "presence_grace_ms": 0,
    "autojoin_rooms": "",
}


class Echo:
    """conformance_echo.mjs in a Node process; events() what it reported."""

    def __init__(self, stack, key):
        self.proc = subprocess.Popen(
            ["node", ECHO, "mqtt://127.0.0.1:%d" % stack.ports["mqtt"], SERVICE, key, ROOM],
            cwd=harness.REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.seen = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.wait("ready", 15):
            self.close()
            raise RuntimeError("the echo service did not start: %s" % self.proc.stderr.read())

    def _read(self):
        for line in self.proc.stdout:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            with self.cond:
                self.seen.append(e)
                self.cond.notify_all()

    def wait(self, ev, timeout, pred=None):
        """The first reported event ev (matching pred) within timeout, or None."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                for e in self.seen:
                    if e.get("ev") == ev and (pred is None or pred(e)):
                        return e
                left = deadline - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(left)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(5)
            except Exception:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except Exception:
                pass


class ConformanceStack:
    """A Stack (broker, hubd, hub-bridge) configured as above, with the echo
    service running. Use as a context manager; .stack, .echo, .token."""

    def __init__(self, extra=None):
        conf = dict(SETTINGS)
        conf.update(extra or {})
        self.stack = harness.Stack(conf)
        self.echo = None
        try:
            st = self.stack
            st.add_user(USER, rooms={ROOM: "write"})
            self.key = st.servicekey(SERVICE)
            # the CLI session lives an hour; the token opens connections
            # for as long (the gateway checks it at start and per CONNECT)
            self.token = st.token(USER, ttl=3600)
            st.conf["sio_test_anonymous_token"] = self.token
            st.write_conf(st.conf)
            st.start_broker()
            st.start_hubd()
            st.start_bridge()
            self.echo = Echo(st, self.key)
        except Exception:
            self.close()
            raise

    def close(self):
        if self.echo:
            self.echo.close()
            self.echo = None
        self.stack.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
