#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""examples/board's costs (docs/performance.md "The board example"), on one
stack (broker with hub_auth.so, hubd, the board's backend started as
scripts/stack does), with bench/board_bench.mjs as the client:

  * an edit's latency, side by side in one run, rounds interleaved: real Yjs
    updates (one character each, one at a time as the page sends them) from
    alice to bob through
      - `board`:  the room hooked to the board's backend (decode, checks,
                  Y.applyUpdate, fdatasync of the log, then the verdict),
      - `accept`: a room hooked to a backend on the same SDK that accepts
                  everything at once (bench/sdk_backend.mjs): the hook's
                  own cost,
      - `plain`:  an unhooked room: the baseline;
    p50/p99 from publish to bob having it;
  * WRITERS connections typing at once into the board: updates/s, and how
    many of them each fdatasync carried (group commit; from the backend's
    log when it stops);
  * the document filled to about 256 and 490 KiB: `sync` with an empty state
    vector (the whole document, what a late joiner asks) p50/p99, and the
    backend's resident memory (VmRSS) before and after.

Usage: bench/board_bench.py [--n N] [--rounds R] [--writers W]
"""
import argparse
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, "board_bench.mjs")
ACCEPTOR = os.path.join(HERE, "sdk_backend.mjs")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200, help="updates per room per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--writers", type=int, default=8)
    a = ap.parse_args()
    with harness.Stack(extra_conf={"log_level": "warn"}) as st:
        st.add_user("alice", rooms={"accept": "write", "plain": "write"})
        st.add_user("bob", rooms={"accept": "read", "plain": "read"})
        st.start_broker(debug=False)
        st.start_hubd()
        backend = st.start_example("board", ("alice", "bob"))
        rss_ready = rss_kib(backend.pid)
        key = st.servicekey("acceptor")
        st.hubctl("room", "hook", "accept", "acceptor")
        acc = subprocess.Popen(["node", ACCEPTOR, "mqtt://127.0.0.1:%d" % st.ports["mqtt"],
                                "acceptor", key], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
        assert acc.stdout.readline().strip() == "ready"
        url = "mqtt://127.0.0.1:%d" % st.ports["mqtt"]
        toks = [st.token("alice", ttl=3600), st.token("bob", ttl=3600)]

        def run(*args):
            r = subprocess.run(["node", CLIENT, url] + toks + [str(x) for x in args],
                               capture_output=True, text=True, timeout=600, cwd=harness.REPO)
            if r.returncode:
                raise RuntimeError("board_bench.mjs %s: %s" % (args, r.stderr[-2000:]))
            return json.loads(r.stdout.strip().splitlines()[-1])

        out = {"rss_kib_ready": rss_ready,
               "latency": run("latency", "board,accept,plain", a.n, a.rounds)}
        out["writers"] = run("writers", "board", a.writers, a.n)
        out["rss_kib_start"] = rss_kib(backend.pid)
        out["sync"] = {}
        for kib, add in ((256, 256), (490, 234)):
            run("fill", "board", add)
            out["sync"]["%d KiB" % kib] = run("sync", "board", 20)
            out["rss_kib_%d" % kib] = rss_kib(backend.pid)
        acc.stdin.close()
        acc.wait(10)
        st.stop("ex-board")
        out["backend_log"] = [l for l in st.log("ex-board").splitlines() if "fdatasync" in l]
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
