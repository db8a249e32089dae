#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What the Engine.IO heartbeat costs hub-bridge, and how late its pings
come: N idle authenticated WebSocket sessions (bench/sio_heartbeat.mjs)
that only answer pings, at a short pingInterval; for each gateway binary
given, the gateway's CPU time over the measuring window and the lateness
of its pings as the clients see them (pong -> next ping, minus
pingInterval: p50 / p99 / max, and pings that came early).

Usage: bench/sio_heartbeat.py [--sessions 2000] [--interval 1000]
           [--seconds 20] [--rounds 3] [--bridge PATH ...]
Several --bridge binaries (say a build of the previous commit) run in
alternation, one fresh stack a round each, so the figures compare side by
side on a loaded machine. Default: build/bin/hub-bridge (HUB_BUILD_DIR).
Figures: docs/performance.md "The Engine.IO heartbeat". Never part of
make test.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from harness import BIN, Stack  # noqa: E402


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one(bridge, a):
    conf = {"sio_ping_interval": a.interval, "sio_ping_timeout": 5000, "log_level": "info",
            "sio_pending_per_addr": a.sessions + 64}
    with Stack(conf) as st:
        st.add_user("hb")
        token = st.token("hb", ttl=3600)
        st.start_broker(debug=False)
        st.start_hubd()
        proc = st.start("bridge", [bridge], st.ports["sio"])
        gen = subprocess.Popen(
            ["node", os.path.join(HERE, "sio_heartbeat.mjs"),
             json.dumps({"url": st.sio_url(), "token": token, "n": a.sessions,
                         "seconds": a.seconds})],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = gen.stdout.readline()
        if '"measuring"' not in line:
            raise RuntimeError("generator: %s %s" % (line, gen.stderr.read()))
        c0 = cpu_s(proc.pid)
        out = json.loads(gen.stdout.readline())
        c1 = cpu_s(proc.pid)
        gen.wait(30)
        out["bridge_cpu_ms_per_s"] = round((c1 - c0) * 1000 / a.seconds, 1)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=2000)
    ap.add_argument("--interval", type=int, default=1000, help="sio_ping_interval, ms")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bridge", action="append", help="hub-bridge binary (repeatable)")
    a = ap.parse_args()
    bridges = [os.path.abspath(b) for b in a.bridge] if a.bridge else [os.path.join(BIN, "hub-bridge")]
    res = {b: [] for b in bridges}
    for r in range(a.rounds):
        order = bridges if r % 2 == 0 else list(reversed(bridges))
        for b in order:
            res[b].append(one(b, a))
            print("round %d %s: %s" % (r + 1, b, json.dumps(res[b][-1])), flush=True)
    print("\n%d sessions, pingInterval %d ms, %d s windows, medians of %d rounds"
          % (a.sessions, a.interval, a.seconds, a.rounds))
    print("| hub-bridge | pings/s | CPU ms/s | late p50 / p99 / max ms | early |")
    print("|---|---|---|---|---|")
    for b in bridges:
        rs = res[b]
        med = lambda f: statistics.median(f(x) for x in rs)  # noqa: E731
        print("| %s | %.0f | %.1f | %.1f / %.1f / %.1f | %d |" % (
            b, med(lambda x: x["pings"] / a.seconds), med(lambda x: x["bridge_cpu_ms_per_s"]),
            med(lambda x: x["late_ms"]["p50"]), med(lambda x: x["late_ms"]["p99"]),
            med(lambda x: x["late_ms"]["max"]), sum(x["early"] for x in rs)))


if __name__ == "__main__":
    main()
