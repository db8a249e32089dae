#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Several brokers (docs/scaling.md): the same load on 1 broker (node_role
single), and on 2 and 3 edge brokers joined by a core, side by side on
this machine. Clients are spread round robin over the edges.

  connects/s   CONNECTS MQTT 3.1.1 CONNECTs with tokens from 4 threads
               (raw sockets), CONNACK to CONNACK
  fan-out/s    SUBS subscribers of one room spread over the edges, one
               publisher on the first edge sending QoS 0 events as fast as
               it can for SECONDS: deliveries received per second
  fixes/s      DEVICES devices spread over the edges publishing OwnTracks
               locations (QoS 0) as fast as they can, their owner's
               dispatcher subscribed to owntracks/# on the first edge:
               fixes it receives per second
  latency      200 events/s for 4 s (first, on idle brokers) from the first edge: publish to receipt
               at a subscriber on the same edge and on the last edge
               (p50/p99, one process, one clock)

The load generator is Python on the same 2 cores as the brokers: the
figures are ratios between the setups, run one after the other, not the
brokers' ceilings. Usage: bench/nodes_bench.py [--quick]
"""
import json
import os
import re
import selectors
import socket
import statistics
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("HUB_BUILD_DIR", os.path.join(HERE, "..", "build"))
import harness  # noqa: E402
from mqttraw import RawClient  # noqa: E402
from nodes import Nodes  # noqa: E402

QUICK = "--quick" in sys.argv
CONNECTS = 200 if QUICK else 600
SUBS = 30 if QUICK else 60
DEVICES = 20 if QUICK else 40
SECONDS = 3 if QUICK else 6


class Setup:
    """1: a single broker; N > 1: N edges and a core."""

    def __init__(self, n):
        self.n = n
        extra = {"broker_conns_per_address": 0, "log_level": "warn"}
        if n == 1:
            self.st = harness.Stack(extra_conf=extra)
        else:
            self.st = Nodes(edges=["n%d" % i for i in range(1, n + 1)], extra_conf=extra)
        st = self.st
        st.hubctl("room", "add", "bench")
        st.hubctl("user", "add", "pub", "--password-stdin", input="secret-pw\n")
        st.hubctl("grant", "bench", "pub", "write")
        st.hubctl("user", "add", "owner", "--password-stdin", input="secret-pw\n")
        for i in range(SUBS):
            st.hubctl("user", "add", "s%d" % i, "--password-stdin", input="secret-pw\n")
            st.hubctl("grant", "bench", "s%d" % i, "read")
        self.secrets = {}
        for i in range(DEVICES):
            out = st.hubctl("device", "add", "d%d" % i, "--owner", "owner").stdout
            m = re.search(r"secret[:= ]+(\S+)", out, re.I)
            self.secrets["d%d" % i] = m.group(1) if m else out.strip().split()[-1]
        if n == 1:
            st.start_broker(debug=False)
            self.ports = [st.ports["mqtt"]]
        else:
            st.start_all()
            self.ports = [st.mqtt(e) for e in st.edges]
        self.tokens = {}

    def token(self, user):
        if user not in self.tokens:
            self.tokens[user] = self.st.token(user)
        return self.tokens[user]

    def port(self, i):
        return self.ports[i % len(self.ports)]

    def close(self):
        self.st.close()


# ---- a tiny MQTT reader for many sockets (PUBLISH counting) ------------
def varint(n):
    out = b""
    while True:
        b = n % 128
        n //= 128
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def raw_connect(port, user, password, cid):
    c = RawClient(port, timeout=10)
    rc = c.connect(user, password, client_id=cid, version=4)
    if rc != 0:
        raise RuntimeError("connect %s: %s" % (user, rc))
    return c


class Counter:
    """Counts PUBLISH packets on many sockets in one thread; on_publish
    (topic, payload, t) for each when given."""

    def __init__(self, socks, on_publish=None):
        self.sel = selectors.DefaultSelector()
        self.bufs = {}
        for s in socks:
            s.setblocking(False)
            self.sel.register(s, selectors.EVENT_READ)
            self.bufs[s] = b""
        self.count = 0
        self.last = 0.0
        self.on_publish = on_publish
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            for key, _ in self.sel.select(0.05):
                s = key.fileobj
                try:
                    data = s.recv(262144)
                except BlockingIOError:
                    continue
                if not data:
                    self.sel.unregister(s)
                    continue
                now = time.perf_counter()
                buf = self.bufs[s] + data
                pos = 0
                while True:
                    if len(buf) - pos < 2:
                        break
                    mul, n, i = 1, 0, pos + 1
                    while i < len(buf):
                        b = buf[i]
                        n += (b & 127) * mul
                        mul *= 128
                        i += 1
                        if not b & 128:
                            break
                    else:
                        break
                    if len(buf) - i < n:
                        break
                    if buf[pos] >> 4 == 3:
                        self.count += 1
                        self.last = now
                        if self.on_publish:
                            tl = struct.unpack(">H", buf[i:i + 2])[0]
                            topic = buf[i + 2:i + 2 + tl]
                            off = i + 2 + tl + (2 if buf[pos] & 6 else 0)
                            self.on_publish(topic, buf[off:i + n], now)
                    pos = i + n
                self.bufs[s] = buf[pos:]


def publish_packet(topic, payload):
    t = topic.encode()
    body = struct.pack(">H", len(t)) + t + payload
    return bytes([0x30]) + varint(len(body)) + body


# ---- the measures --------------------------------------------------------
def bench_connects(s):
    users = ["s%d" % (i % SUBS) for i in range(CONNECTS)]
    toks = {u: s.token(u) for u in set(users)}
    clients, lock, errors = [], threading.Lock(), []

    def worker(k):
        for i in range(k, CONNECTS, 4):
            try:
                c = raw_connect(s.port(i), users[i], toks[users[i]], "c%d" % i)
                with lock:
                    clients.append(c)
            except Exception as e:  # noqa: BLE001
                errors.append(str(e))
    t0 = time.perf_counter()
    th = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    took = time.perf_counter() - t0
    for c in clients:
        c.close()
    if errors:
        print("  connect errors: %d (%s)" % (len(errors), errors[0]), file=sys.stderr)
    return len(clients) / took


def bench_fanout(s):
    subs = []
    for i in range(SUBS):
        c = raw_connect(s.port(i), "s%d" % i, s.token("s%d" % i), "f%d" % i)
        c.subscribe(["rooms/bench/ev/#"], qos=0)
        subs.append(c)
    pub = raw_connect(s.port(0), "pub", s.token("pub"), "fp")
    # every subscription is in place on every node: a probe reaches all
    cnt = Counter([c.sock for c in subs])
    deadline = time.time() + 10
    while cnt.count < SUBS and time.time() < deadline:
        pub.sock.sendall(publish_packet("rooms/bench/ev/probe/pub", b"p"))
        time.sleep(0.3)
    time.sleep(0.5)
    base = cnt.count
    pkt = publish_packet("rooms/bench/ev/tick/pub", b"x" * 64)
    sent = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        pub.sock.sendall(pkt * 20)
        sent += 20
        time.sleep(0.002)
    end_send = time.perf_counter()
    wait_until = end_send + 10
    while time.perf_counter() < wait_until:
        before = cnt.count
        time.sleep(0.3)
        if cnt.count == before:
            break
    got = cnt.count - base
    took = max(cnt.last, end_send) - t0
    cnt.stop = True
    for c in subs + [pub]:
        c.close()
    return got / took, got / (sent * SUBS) if sent else 0


def bench_fixes(s):
    watcher = raw_connect(s.port(0), "owner", s.token("owner"), "w")
    watcher.subscribe(["owntracks/#"], qos=0)
    cnt = Counter([watcher.sock])
    devs = []
    for i in range(DEVICES):
        d = "d%d" % i
        devs.append((d, raw_connect(s.port(i), d, s.secrets[d], "phone")))
    time.sleep(1.0)
    stop = threading.Event()
    sent = [0]

    def run(group):
        n = 0
        while not stop.is_set():
            for d, c in group:
                fix = json.dumps({"_type": "location", "lat": 52.5, "lon": 13.4,
                                  "tst": int(time.time())}).encode()
                try:
                    c.sock.sendall(publish_packet("owntracks/%s/phone" % d, fix))
                except OSError:
                    return
                n += 1
            time.sleep(0.002)
        sent[0] += n
    base = cnt.count
    groups = [devs[k::2] for k in range(2)]
    th = [threading.Thread(target=run, args=(g,)) for g in groups]
    t0 = time.perf_counter()
    for t in th:
        t.start()
    time.sleep(SECONDS)
    stop.set()
    for t in th:
        t.join()
    end = time.perf_counter()
    while True:
        before = cnt.count
        time.sleep(0.3)
        if cnt.count == before:
            break
    got = cnt.count - base
    cnt.stop = True
    for _, c in devs:
        c.close()
    watcher.close()
    return got / (max(cnt.last, end) - t0), got / sent[0] if sent[0] else 0


def bench_latency(s):
    near = raw_connect(s.port(0), "s0", s.token("s0"), "ln")
    far = raw_connect(s.ports[-1], "s1", s.token("s1"), "lf")
    for c in (near, far):
        c.subscribe(["rooms/bench/ev/lat/#"], qos=0)
    pub = raw_connect(s.port(0), "pub", s.token("pub"), "lp")
    lat = {"near": [], "far": []}
    which = {}

    def on_pub(sock):
        def f(topic, payload, t):
            try:
                sent = float(payload)
            except ValueError:
                return
            lat[which[sock]].append((t - sent) * 1000)
        return f
    which[near.sock], which[far.sock] = "near", "far"
    cn = Counter([near.sock], on_pub(near.sock))
    cf = Counter([far.sock], on_pub(far.sock))
    deadline = time.time() + 10
    while (cn.count == 0 or cf.count == 0) and time.time() < deadline:
        pub.sock.sendall(publish_packet("rooms/bench/ev/lat/pub", b"warm"))
        time.sleep(0.2)
    time.sleep(0.5)
    lat["near"].clear()
    lat["far"].clear()
    for i in range(800):
        pub.sock.sendall(publish_packet("rooms/bench/ev/lat/pub",
                                        b"%.9f" % time.perf_counter()))
        time.sleep(0.005)
    time.sleep(1.0)
    cn.stop = cf.stop = True
    for c in (near, far, pub):
        c.close()

    def pct(v, p):
        v = sorted(v)
        return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")
    return {k: (pct(v, 0.5), pct(v, 0.99), len(v)) for k, v in lat.items()}


def main():
    results = {}
    for n in (1, 2, 3):
        print("== %d broker%s%s" % (n, "s" if n > 1 else "", " (edges) + core" if n > 1 else ""),
              file=sys.stderr)
        s = Setup(n)
        try:
            # latency first, on idle brokers (after the floods their
            # queues would still be draining)
            r = {"latency_ms": bench_latency(s)}
            r["connects_per_s"] = bench_connects(s)
            r["fanout_per_s"], r["fanout_ratio"] = bench_fanout(s)
            r["fixes_per_s"], r["fixes_ratio"] = bench_fixes(s)
        finally:
            s.close()
        results[n] = r
        print(json.dumps(r), file=sys.stderr)
    print("| brokers | connects/s | fan-out deliveries/s (delivered) | tracker fixes/s "
          "(delivered) | p50 / p99 same node, ms | p50 / p99 across nodes, ms |")
    print("|---|---|---|---|---|---|")
    for n, r in results.items():
        near, far = r["latency_ms"]["near"], r["latency_ms"]["far"]
        print("| %s | %.0f | %.0f (%.0f%%) | %.0f (%.0f%%) | %.2f / %.2f | %s |" % (
            "1" if n == 1 else "%d + core" % n, r["connects_per_s"], r["fanout_per_s"],
            100 * r["fanout_ratio"], r["fixes_per_s"], 100 * r["fixes_ratio"],
            near[0], near[1],
            "-" if n == 1 else "%.2f / %.2f" % (far[0], far[1])))


if __name__ == "__main__":
    main()
