#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What one connection and one identity can make the broker hold
(docs/broker.md "Limits"): the broker's resident memory (VmRSS, VmHWM from
/proc) in three attacks, on a stack started like the tests start it
(conf/mosquitto.conf, hub_auth.so from the build):

  slow:  a subscriber that never reads (receive buffer 4 KiB, so the
         kernel holds little for it) while a publisher sends messages of
         --size bytes (default 1 MiB - 64), QoS 0 then QoS 1;
  qos2:  an MQTT 5 publisher that sends QoS 2 messages of --size bytes
         and never sends PUBREL;
  conns: one user opening --conns connections.

Usage: bench/broker_memory.py [--messages N] [--size B] [--conns N]
                              [--scenario slow|qos2|conns|all]
HUB_BUILD_DIR picks the build (its hub_auth.so); run the script of an older
checkout (with its conf/mosquitto.conf) to measure before a change.
"""
import argparse
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402
from mqttraw import Closed, RawClient, PUBLISH  # noqa: E402


def mem(pid):
    """(VmRSS, VmHWM) of pid in MiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024.0
    return out["VmRSS"], out["VmHWM"]


def slow_socket(port, rcvbuf=4096):
    """A RawClient whose socket has a tiny receive buffer (set before
    connect, so the window stays small)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    c = RawClient.__new__(RawClient)
    c.sock, c.timeout, c.version, c.mid, c.inbox = s, 5.0, 4, 0, []
    c.disconnect_reason, c._buf = None, b""
    return c


def connect(st, user, cid, version=4, sock=None):
    c = sock or RawClient(st.ports["mqtt"])
    rc = c.connect(user, st.token(user), client_id=cid, version=version)
    if rc != 0:
        raise RuntimeError("CONNACK %s for %s" % (rc, user))
    return c


def scenario_slow(st, pid, n, size, qos):
    sub = connect(st, "bob", "slow-%d" % qos, sock=slow_socket(st.ports["mqtt"]))
    sub.subscribe(["rooms/mem/ev/#"], qos=qos)
    pub = connect(st, "alice", "pub-%d" % qos)
    body = b"x" * size
    base = mem(pid)[0]
    t0 = time.time()
    for i in range(n):
        pub.publish("rooms/mem/ev/blob/alice", body, qos=1 if qos else 0)
    pub.publish("rooms/mem/ev/done/alice", b"", qos=1)  # the broker is through
    rss, hwm = mem(pid)
    print("slow subscriber QoS %d: %d x %d bytes in %.1f s: broker RSS %.0f MiB "
          "(+%.0f over idle), peak %.0f MiB" % (qos, n, size, time.time() - t0, rss,
                                                rss - base, hwm))
    sub.close()
    pub.disconnect()
    return rss - base


def scenario_qos2(st, pid, n, size):
    c = connect(st, "alice", "qos2-holder", version=5)
    base = mem(pid)[0]
    body = b"y" * size
    sent = refused = 0
    try:
        for i in range(n):
            mid = i % 65535 + 1
            var = struct.pack("!H", len(b"rooms/mem/ev/q2/alice")) + b"rooms/mem/ev/q2/alice"
            var += struct.pack("!H", mid) + b"\x00"
            c.send_packet(PUBLISH, 2 << 1, var + body)
            sent += 1
            # read what came back (PUBREC), never answer with PUBREL
            try:
                while True:
                    t, _, b = c.read_packet(0.001)
                    if t == 5 and len(b) > 2 and b[2] >= 0x80:
                        refused += 1
            except socket.timeout:
                pass
    except (Closed, OSError) as e:
        print("  qos2 publisher closed by the broker after %d: %s" % (sent, e))
    time.sleep(0.5)
    rss, hwm = mem(pid)
    print("QoS 2 publisher, no PUBREL: %d x %d bytes sent, %d refused (PUBREC >= 0x80): "
          "broker RSS %.0f MiB (+%.0f over idle), peak %.0f MiB"
          % (sent, size, refused, rss, rss - base, hwm))
    c.close()
    return rss - base


def scenario_conns(st, pid, n):
    base = mem(pid)[0]
    tok = st.token("carol")
    ok, refused, conns = 0, 0, []
    for i in range(n):
        c = RawClient(st.ports["mqtt"])
        try:
            rc = c.connect("carol", tok, client_id="c%d" % i)
        except Closed:
            rc = None
        if rc == 0:
            ok += 1
            conns.append(c)
        else:
            refused += 1
            c.close()
    rss, hwm = mem(pid)
    print("one user, %d connections: %d accepted, %d refused: broker RSS %.0f MiB "
          "(+%.1f over idle)" % (n, ok, refused, rss, rss - base))
    for c in conns:
        c.close()
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1200)
    ap.add_argument("--size", type=int, default=1024 * 1024 - 64)
    ap.add_argument("--conns", type=int, default=300)
    ap.add_argument("--scenario", default="all")
    a = ap.parse_args()
    runs = [("slow", lambda st, pid: scenario_slow(st, pid, a.messages, a.size, 0)),
            ("slow", lambda st, pid: scenario_slow(st, pid, a.messages, a.size, 1)),
            ("qos2", lambda st, pid: scenario_qos2(st, pid, a.messages, a.size)),
            ("conns", lambda st, pid: scenario_conns(st, pid, a.conns))]
    for name, fn in runs:
        if a.scenario not in (name, "all"):
            continue
        # a fresh broker each: freed memory is not always given back
        with harness.Stack(extra_conf={"log_level": "warn"}) as st:
            st.add_user("alice", rooms={"mem": "write"})
            st.add_user("bob", rooms={"mem": "read"})
            st.add_user("carol", rooms={"mem": "read"})
            st.start_broker(debug=False)
            pid = st.broker_pid()
            fn(st, pid)


if __name__ == "__main__":
    main()
