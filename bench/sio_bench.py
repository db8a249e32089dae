#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hub-bridge against the Node reference stack (bench/peers: express +
express-session + passport-local + socket.io 4), side by side, with the
same load generator (bench/sio_bench.mjs, raw Engine.IO over WebSocket,
cookie auth from a real login on both):

  - authenticated connects/s (handshake + session lookup + CONNECT ack)
  - room fan-out: deliveries/s (a window of 64 acked emits) and p50/p99
    latency at a steady rate (50 events/s to 10 and 100 receivers, 10
    events/s to 1000), with 10, 100 and 1000 receivers
  - memory per idle socket: RSS growth over 1000 open sockets (hub:
    hub-bridge + the broker, which keeps a record per socket too)

Besides wall-clock rates, each phase reports the servers' CPU time (hub:
hub-bridge + mosquitto; node: the node process), so operations per
server CPU-second compare the stacks even on a shared, loaded machine.

Usage: bench/sio_bench.py [--quick] [--json FILE] [--payload json|args|binary]
(HUB_BUILD_DIR selects the build, default build/). Installs the Node
reference's packages with npm ci into bench/peers/node_modules when absent.
Results go to stdout and bench/results/sio.json. Never part of make test.
"""
import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from harness import Stack, free_port, wait_port  # noqa: E402

PEERS = os.path.join(HERE, "peers")


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pids):
    """CPU seconds (user + system, all threads) the processes used so far."""
    tck = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as f:
            x = f.read().rsplit(")", 1)[1].split()
        total += (int(x[11]) + int(x[12])) / tck
    return total


def client(cfg, pids, timeout=300):
    """Run the load generator; the servers' CPU time between its start and
    end marks goes into the result as server_cpu_s."""
    p = subprocess.Popen(["node", os.path.join(HERE, "sio_bench.mjs"), json.dumps(cfg)],
                         cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    marks, rss, result = {}, {}, None
    deadline = time.time() + timeout
    for line in p.stdout:
        msg = json.loads(line)
        if "mark" in msg:
            marks[msg["mark"]] = cpu_s(pids)
            rss[msg["mark"]] = sum(rss_kb(x) for x in pids)
        else:
            result = msg
        if time.time() > deadline:
            p.kill()
            break
    p.wait(30)
    if p.returncode or not result or "error" in result:
        raise RuntimeError("bench client failed: %r %s" % (result, p.stderr.read()[-1000:]))
    if "start" in marks and "end" in marks:
        result["server_cpu_s"] = marks["end"] - marks["start"]
    result["rss_kb_at"] = rss
    return result


def recovery(url, cookie, pids, n, events, cookies=None):
    """Connection state recovery: RSS growth while n cut sockets each keep
    `events` missed events, then the replay when they all come back."""
    time.sleep(1.0)
    before = sum(rss_kb(p) for p in pids)
    r = client({"url": url, "cookie": cookie, "mode": "recovery", "n": n, "events": events,
                "cookies": cookies}, pids)
    r["rss_before_kb"] = before
    r["bytes_per_cut_socket"] = (r["rss_kb_at"]["cut"] - before) * 1024.0 / n
    return r


def idle_memory(url, cookie, pids, n):
    """RSS growth (kB) of pids while n idle sockets are open."""
    time.sleep(1.0)
    before = sum(rss_kb(p) for p in pids)
    p = subprocess.Popen(["node", os.path.join(HERE, "sio_bench.mjs"),
                          json.dumps({"url": url, "cookie": cookie, "mode": "idle", "n": n})],
                         cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith('{"ready"'):
        raise RuntimeError("idle client: %r" % line)
    time.sleep(2.0)
    after = sum(rss_kb(x) for x in pids)
    p.stdin.close()
    p.wait(60)
    return {"sockets": n, "rss_before_kb": before, "rss_after_kb": after,
            "bytes_per_socket": (after - before) * 1024.0 / n}


def suite(url, cookie, pids, quick, payload="json"):
    out = {}
    # memory first: a process that already served 1000 sockets keeps freed
    # memory (glibc arenas, a GC heap), which would hide the growth
    out["memory"] = idle_memory(url, cookie, pids, 1000)
    out["connect"] = client({"url": url, "cookie": cookie, "mode": "connect",
                             "n": 500 if quick else 2000, "concurrency": 50}, pids)
    out["fanout"] = []
    # latency at a rate both stacks sustain: 500 / 5 000 / 10 000 deliveries/s
    for n, events, rate in ((10, 5000, 50), (100, 2000, 50), (1000, 300, 10)):
        if quick:
            events //= 3
        out["fanout"].append(client({"url": url, "cookie": cookie, "mode": "fanout", "n": n,
                                     "events": events, "window": 64, "rate": rate,
                                     "latency_events": 60 if quick else 100,
                                     "payload": payload}, pids))
    return out


def run_hub(quick, payload, rec=None):
    st = Stack(extra_conf={"log_level": "warn", "sio_event_rate": 1000000})
    try:
        st.prepare_data()
        conf = st.broker_conf()
        # the harness turns broker debug logging on; a benchmark must not
        with open(conf) as f:
            text = f.read().replace("\nlog_type debug\n", "\n")
        with open(conf, "w") as f:
            f.write(text)
        st.start("broker", ["mosquitto", "-c", conf], st.ports["mqtt"])
        st.start_hubd()
        st.add_user("bench", password="bench-pw", rooms={"lobby": "write"})
        st.start_bridge()
        cookie, _, _ = st.login("bench", "bench-pw")
        pids = [st.procs["bridge"].pid, st.procs["broker"].pid]
        if rec:
            # a user keeps at most 64 cut sockets: spread them over users
            cookies = []
            for i in range((rec[0] + 49) // 50):
                st.add_user("bench%d" % i, password="bench-pw", rooms={"lobby": "read"})
                cookies.append("hub_sid=" + st.login("bench%d" % i, "bench-pw")[0])
            return recovery(st.sio_url(), "hub_sid=" + cookie, pids, *rec, cookies=cookies)
        return suite(st.sio_url(), "hub_sid=" + cookie, pids, quick, payload)
    finally:
        st.close()


def run_node(quick, payload, rec=None):
    if not os.path.isdir(os.path.join(PEERS, "node_modules", "socket.io")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEERS,
                       check=True)
    port = free_port()
    env = dict(os.environ, PORT=str(port), NODE_ENV="production")
    if rec:
        env["RECOVERY"] = "1"
    p = subprocess.Popen(["node", os.path.join(PEERS, "server.js")], cwd=PEERS, env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port, 15, p)
        url = "http://127.0.0.1:%d" % port
        req = urllib.request.Request(url + "/login", data=json.dumps(
            {"username": "bench", "password": "bench-pw"}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req) as r:
            cookie = r.headers["Set-Cookie"].split(";", 1)[0]
        if rec:
            return recovery(url, cookie, [p.pid], *rec)
        return suite(url, cookie, [p.pid], quick, payload)
    finally:
        p.terminate()
        p.wait(10)


def ratio(a, b):
    return a / b if b else float("nan")


def per_cpu(r, key):
    """Operations per CPU-second of the server processes."""
    return r[key] / r["server_cpu_s"] if r.get("server_cpu_s") else float("nan")


def report(hub, node):
    hc, nc = hub["connect"], node["connect"]
    rows = [("authenticated connects/s", hc["connects_per_s"], nc["connects_per_s"], "%.0f"),
            ("  connects per server CPU-second", per_cpu(hc, "connects"),
             per_cpu(nc, "connects"), "%.0f")]
    for h, n in zip(hub["fanout"], node["fanout"]):
        rows.append(("fan-out deliveries/s, %d sockets" % h["n"], h["deliveries_per_s"],
                     n["deliveries_per_s"], "%.0f"))
        rows.append(("  deliveries per server CPU-second", per_cpu(h, "deliveries"),
                     per_cpu(n, "deliveries"), "%.0f"))
        rows.append(("p99 latency ms, %d sockets @%d ev/s" % (h["n"], h["latency_rate"]),
                     h["p99_ms"], n["p99_ms"], "%.2f"))
    rows.append(("memory per idle socket, bytes", hub["memory"]["bytes_per_socket"],
                 node["memory"]["bytes_per_socket"], "%.0f"))
    print("fan-out events carry: %s" % hub["fanout"][0].get("payload", "json"))
    print("%-42s %12s %12s %8s" % ("", "hub-bridge", "node", "ratio"))
    for name, h, n, fmt in rows:
        print("%-42s %12s %12s %8.2f" % (name, fmt % h, fmt % n, ratio(h, n)))
    print("(hub CPU = hub-bridge + mosquitto with the plugin; node CPU = the node process; "
          "load average at the end: %s)" % open("/proc/loadavg").read().split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer events (a smoke run)")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "sio.json"))
    ap.add_argument("--payload", choices=("json", "args", "binary"), default="json",
                    help="what each fan-out event carries: one JSON argument (default), "
                         "three arguments, or a JSON argument and 256 bytes of binary")
    ap.add_argument("--recovery", nargs=2, type=int, metavar=("SOCKETS", "EVENTS"),
                    help="measure connection state recovery instead: SOCKETS cut at once, "
                         "EVENTS sent meanwhile, then all recover (node: connectionStateRecovery)")
    a = ap.parse_args()
    if a.recovery:
        hub = run_hub(a.quick, a.payload, a.recovery)
        node = run_node(a.quick, a.payload, a.recovery)
        print("%-42s %12s %12s" % ("recovery", "hub-bridge", "node"))
        for k, fmt in (("recovered", "%d"), ("replayed", "%d"), ("expected", "%d"),
                       ("replayed_per_s", "%.0f"), ("bytes_per_cut_socket", "%.0f")):
            print("%-42s %12s %12s" % (k, fmt % hub[k], fmt % node[k]))
        with open(a.json, "w") as f:
            json.dump({"hub": hub, "node": node, "recovery": a.recovery}, f, indent=1)
        return
    hub = run_hub(a.quick, a.payload)
    node = run_node(a.quick, a.payload)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump({"hub": hub, "node": node, "payload": a.payload,
                   "when": time.strftime("%Y-%m-%d %H:%M:%S")}, f, indent=1)
    report(hub, node)


if __name__ == "__main__":
    main()
