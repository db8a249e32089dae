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
Both stacks run at once (the idle one costs nothing); every phase is
measured --rounds times (3), hub and node one right after the other (the
first of the pair alternating), and the report gives medians: figures,
and the ratios of the pairs, so a change of the machine's load between
two halves of a run does not pass for a difference.

Usage: bench/sio_bench.py [--quick] [--rounds N] [--json FILE]
                          [--payload json|args|binary] [--recovery SOCKETS EVENTS]
(HUB_BUILD_DIR selects the build, default build/). Installs the Node
reference's packages with npm ci into bench/peers/node_modules when absent.
Results go to stdout and bench/results/sio.json. Never part of make test.
"""
import argparse
import contextlib
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
    marks, split, rss, result = {}, {}, {}, None
    deadline = time.time() + timeout
    for line in p.stdout:
        msg = json.loads(line)
        if "mark" in msg:
            split[msg["mark"]] = [cpu_s([x]) for x in pids]
            marks[msg["mark"]] = sum(split[msg["mark"]])
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
        result["split_cpu_s"] = [e - b for b, e in zip(split["start"], split["end"])]
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


def phases(quick, payload):
    """(name, client config) of the measured phases, in order."""
    out = [("connect", {"mode": "connect", "n": 500 if quick else 2000, "concurrency": 50})]
    # latency at a rate both stacks sustain: 500 / 5 000 / 10 000 deliveries/s
    for n, events, rate in ((10, 5000, 50), (100, 2000, 50), (1000, 300, 10)):
        if quick:
            events //= 3
        out.append(("fanout%d" % n, {"mode": "fanout", "n": n, "events": events, "window": 64,
                                     "rate": rate, "latency_events": 60 if quick else 100,
                                     "payload": payload}))
    return out


@contextlib.contextmanager
def hub_stack(rec=None):
    """The hub on a private stack: yields {url, cookie, pids[, cookies]}."""
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
        s = {"url": st.sio_url(), "cookie": "hub_sid=" + cookie,
             "pids": [st.procs["bridge"].pid, st.procs["broker"].pid]}
        if rec:
            # a user keeps at most 64 cut sockets: spread them over users
            s["cookies"] = []
            for i in range((rec[0] + 49) // 50):
                st.add_user("bench%d" % i, password="bench-pw", rooms={"lobby": "read"})
                s["cookies"].append("hub_sid=" + st.login("bench%d" % i, "bench-pw")[0])
        yield s
    finally:
        st.close()


@contextlib.contextmanager
def node_stack(rec=None):
    """The Node reference stack: yields {url, cookie, pids}."""
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
        yield {"url": url, "cookie": cookie, "pids": [p.pid]}
    finally:
        p.terminate()
        p.wait(10)


def run(s, cfg):
    c = dict(cfg, url=s["url"], cookie=s["cookie"])
    return client(c, s["pids"])


def ratio(a, b):
    return a / b if b else float("nan")


def per_cpu(r, key):
    """Operations per CPU-second of the server processes."""
    return r[key] / r["server_cpu_s"] if r.get("server_cpu_s") else float("nan")


def median(xs):
    xs = sorted(x for x in xs if x == x)
    if not xs:
        return float("nan")
    m = len(xs) // 2
    return xs[m] if len(xs) % 2 else (xs[m - 1] + xs[m]) / 2


def report(res, rounds):
    """Medians over the rounds: each figure, and the ratio of each round's
    pair (hub and node measured one right after the other)."""
    rows = []

    def row(name, key, fn, fmt, phase):
        h = [fn(r, key) for r in res["hub"][phase]]
        n = [fn(r, key) for r in res["node"][phase]]
        rows.append((name, median(h), median(n), median([ratio(a, b) for a, b in zip(h, n)]),
                     fmt, [ratio(a, b) for a, b in zip(h, n)]))

    def val(r, key):
        return r[key]

    row("authenticated connects/s", "connects_per_s", val, "%.0f", "connect")
    row("  connects per server CPU-second", "connects", per_cpu, "%.0f", "connect")
    for n in (10, 100, 1000):
        ph = "fanout%d" % n
        rate = res["hub"][ph][0]["latency_rate"]
        row("fan-out deliveries/s, %d sockets" % n, "deliveries_per_s", val, "%.0f", ph)
        row("  deliveries per server CPU-second", "deliveries", per_cpu, "%.0f", ph)
        row("p50 latency ms, %d sockets @%d ev/s" % (n, rate), "p50_ms", val, "%.2f", ph)
        row("p99 latency ms, %d sockets @%d ev/s" % (n, rate), "p99_ms", val, "%.2f", ph)
    hm, nm = res["hub"]["memory"], res["node"]["memory"]
    rows.append(("memory per idle socket, bytes", hm["bytes_per_socket"],
                 nm["bytes_per_socket"], ratio(hm["bytes_per_socket"], nm["bytes_per_socket"]),
                 "%.0f", []))
    print("fan-out events carry: %s; medians of %d rounds (hub and node interleaved)"
          % (res["payload"], rounds))
    print("%-42s %12s %12s %8s  %s" % ("", "hub-bridge", "node", "ratio", "ratio per round"))
    for name, h, n, r, fmt, per in rows:
        print("%-42s %12s %12s %8.2f  %s" % (name, fmt % h, fmt % n, r,
                                            " ".join("%.2f" % x for x in per)))
    print("(hub CPU = hub-bridge + mosquitto with the plugin; node CPU = the node process; "
          "load average at the end: %s)" % open("/proc/loadavg").read().split()[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer events (a smoke run)")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "sio.json"))
    ap.add_argument("--payload", choices=("json", "args", "binary"), default="json",
                    help="what each fan-out event carries: one JSON argument (default), "
                         "three arguments, or a JSON argument and 256 bytes of binary")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of every phase, hub and node one after the other (3)")
    ap.add_argument("--recovery", nargs=2, type=int, metavar=("SOCKETS", "EVENTS"),
                    help="measure connection state recovery instead: SOCKETS cut at once, "
                         "EVENTS sent meanwhile, then all recover (node: connectionStateRecovery)")
    a = ap.parse_args()
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with hub_stack(a.recovery) as hub, node_stack(a.recovery) as node:
        if a.recovery:
            res = {"hub": recovery(hub["url"], hub["cookie"], hub["pids"], *a.recovery,
                                   cookies=hub["cookies"]),
                   "node": recovery(node["url"], node["cookie"], node["pids"], *a.recovery),
                   "recovery": a.recovery}
            print("%-42s %12s %12s" % ("recovery", "hub-bridge", "node"))
            for k, fmt in (("recovered", "%d"), ("replayed", "%d"), ("expected", "%d"),
                           ("replayed_per_s", "%.0f"), ("bytes_per_cut_socket", "%.0f")):
                print("%-42s %12s %12s" % (k, fmt % res["hub"][k], fmt % res["node"][k]))
        else:
            res = {"hub": {}, "node": {}, "payload": a.payload, "rounds": a.rounds}
            # memory first, on fresh processes: a process that already
            # served 1000 sockets keeps freed memory (glibc arenas, a GC
            # heap), which would hide the growth
            for name, s in (("hub", hub), ("node", node)):
                res[name]["memory"] = idle_memory(s["url"], s["cookie"], s["pids"], 1000)
            for rnd in range(a.rounds):
                for phase, cfg in phases(a.quick, a.payload):
                    # the one measured first alternates from round to round
                    order = (("hub", hub), ("node", node))
                    for name, s in (order if rnd % 2 == 0 else order[::-1]):
                        res[name].setdefault(phase, []).append(run(s, cfg))
            report(res, a.rounds)
    res["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
