#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Benchmark: hubd's webhook sender.

1. Deliveries/s to a local receiver (a Node http server answering 204, so
   the receiver is not what is measured): N outbox rows are written straight
   into the store (as the broker plugin's writer thread makes presence and
   room events), hubd finds them on its next poll and delivers them;
   measured from the first delivery to the last through /metrics
   (hub_webhook_delivered_total), with hubd's CPU time over the same span.
   Once with one webhook URL (4 tries at once) and once with 8 URLs (32).

2. Login latency p50/p99 side by side, in interleaved rounds on one hubd:
   no webhook; a webhook to a live receiver (each login adds a signed POST);
   a webhook to a dead endpoint (a socket that accepts connections and never
   answers: every try holds its slot for the 10 s timeout, the backlog
   grows). The goal is no change: the sender runs on its own thread and
   store connection and a login only adds one outbox row to its own
   transaction. Logins use the tests' cheap scrypt cost so that what is
   not hashing is visible.

    HUB_BUILD_DIR=build /usr/bin/python3 bench/webhook_bench.py [--rows 20000] [--logins 300]
"""
import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

NODE_RECEIVER = r"""
const http = require('http');
let n = 0;
const srv = http.createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => { n++; res.statusCode = 204; res.end(); });
});
srv.keepAliveTimeout = 60000;
srv.listen(+process.argv[1], '127.0.0.1', () => console.log('ready'));
"""


def pct(values, p):
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def node_receiver(port):
    p = subprocess.Popen(["node", "-e", NODE_RECEIVER, str(port)], stdout=subprocess.PIPE,
                         text=True)
    assert p.stdout.readline().strip() == "ready"
    return p


def delivered(st):
    return st.metrics().get("hub_webhook_delivered_total", 0)


def bench_rate(st, urls, rows):
    """Deliveries/s of `rows` rows spread over webhooks to `urls`."""
    hooks = [st.webhook_add(u, events="joined")[0] for u in urls]
    base = delivered(st)
    body = json.dumps({"type": "joined", "room": "lobby", "user": "someone", "online": 3,
                       "pad": "x" * 120})
    ids = ",".join(str(h) for h in hooks)
    st.outbox(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d), "
        "h AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM webhooks "
        "WHERE id IN (%s)) "
        "INSERT INTO webhook_outbox(id, hook, type, body, created_at, next_at) "
        "SELECT 'b' || i || '-' || hex(randomblob(6)), h.id, 'joined', '%s', unixepoch(), "
        "unixepoch() FROM n JOIN h ON h.k = n.i %% %d"
        % (rows, ids, body.replace("'", "''"), len(hooks)))
    pid = st.procs["hubd"].pid
    while delivered(st) <= base:
        time.sleep(0.01)
    t0, c0 = time.perf_counter(), cpu_s(pid)
    while True:
        d = delivered(st) - base
        if d >= rows:
            break
        time.sleep(0.05)
    t1, c1 = time.perf_counter(), cpu_s(pid)
    for h in hooks:
        st.hubctl("webhook", "del", h)
    return rows / (t1 - t0), (c1 - c0) / rows * 1e6


def login_once(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    conn.request("POST", "/api/login", body=json.dumps({"username": "bench",
                                                        "password": "bench-pw"}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    r.read()
    dt = time.perf_counter() - t0
    conn.close()
    assert r.status == 200, r.status
    return dt


def rate_part(st, a, one, recvs, res):
    """1. deliveries/s, one URL then eight."""
    rate1, cpu1 = bench_rate(st, [one], a.rows)
    eight_ports = [harness.free_port() for _ in range(7)]
    for p in eight_ports:
        recvs.append(node_receiver(p))
    urls8 = [one] + ["http://127.0.0.1:%d/hook" % p for p in eight_ports]
    rate8, cpu8 = bench_rate(st, urls8, a.rows)
    res["deliveries_per_s"] = {"1_url": round(rate1), "8_urls": round(rate8)}
    res["hubd_cpu_us_per_delivery"] = {"1_url": round(cpu1, 1), "8_urls": round(cpu8, 1)}
    print("deliveries/s: 1 URL %.0f (hubd CPU %.0f us each), 8 URLs %.0f (%.0f us each)"
          % (rate1, cpu1, rate8, cpu8))


def login_part(st, a, one, res):
    """2. login latency: none / live / dead, interleaved rounds."""
    dead = socket.socket()
    try:
        dead.bind(("127.0.0.1", 0))
        dead.listen(4096)  # accepts (in the kernel), never answers
        dead_url = "http://127.0.0.1:%d/hook" % dead.getsockname()[1]
        lat = {"none": [], "live": [], "dead": []}
        cpu = {"none": 0.0, "live": 0.0, "dead": 0.0}
        pid = st.procs["hubd"].pid
        per_round = max(1, a.logins // a.rounds)
        for _ in range(3):  # warm-up
            login_once(st.ports["http"])
        held = []
        for rnd in range(a.rounds):
            for cfg in ("none", "live", "dead"):
                hook = None
                if cfg != "none":
                    hook = st.webhook_add(one if cfg == "live" else dead_url,
                                          events="login")[0]
                c0 = cpu_s(pid)
                for _ in range(per_round):
                    lat[cfg].append(login_once(st.ports["http"]))
                cpu[cfg] += cpu_s(pid) - c0
                if cfg == "dead":
                    time.sleep(1.2)  # the gauges are refreshed once a second
                    mm = st.metrics()
                    held.append((mm.get("hub_webhook_in_flight"), mm.get("hub_webhook_pending")))
                if hook:
                    st.hubctl("webhook", "del", hook)
        res["login_ms"] = {}
        for cfg, v in lat.items():
            res["login_ms"][cfg] = {"n": len(v), "p50": round(pct(v, 50) * 1000, 2),
                                    "p99": round(pct(v, 99) * 1000, 2),
                                    "hubd_cpu_us": round(cpu[cfg] / len(v) * 1e6)}
        base = res["login_ms"]["none"]
        for cfg in ("live", "dead"):
            r = res["login_ms"][cfg]
            r["p50_ratio"] = round(r["p50"] / base["p50"], 2)
            r["p99_ratio"] = round(r["p99"] / base["p99"], 2)
        res["dead_endpoint"] = {"in_flight": max(h[0] or 0 for h in held),
                                "pending": max(h[1] or 0 for h in held)}
        print("login latency (ms):")
        for cfg, r in res["login_ms"].items():
            print("  %-5s n=%d p50 %.2f p99 %.2f, hubd CPU %d us per login%s" % (
                cfg, r["n"], r["p50"], r["p99"], r["hubd_cpu_us"],
                "" if cfg == "none" else "  (x%.2f, x%.2f)" % (r["p50_ratio"], r["p99_ratio"])))
        print("dead endpoint, end of its turns: at most %d tries held, %d rows pending"
              % (res["dead_endpoint"]["in_flight"] or 0, res["dead_endpoint"]["pending"] or 0))
    finally:
        dead.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--logins", type=int, default=300, help="per configuration")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--only", choices=["rate", "logins"], help="run one part only")
    ap.add_argument("--json")
    a = ap.parse_args()
    res = {}
    st = harness.Stack(extra_conf={"log_level": "info", "login_fail_addr_max": 100000,
                                   "login_fail_pair_max": 100000})
    recv_port = harness.free_port()
    recvs = []
    try:
        st.add_user("bench", password="bench-pw")
        st.start_hubd()
        recvs.append(node_receiver(recv_port))
        one = "http://127.0.0.1:%d/hook" % recv_port
        if a.only != "logins":
            rate_part(st, a, one, recvs, res)
        if a.only != "rate":
            login_part(st, a, one, res)
        with open("/proc/loadavg") as f:
            res["loadavg"] = f.read().split()[0]
        print("load average: %s" % res["loadavg"])
    finally:
        for p in recvs:
            p.kill()
            p.wait()
        st.close()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
