#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Benchmark: can a real user log in while others flood hubd with
wrong-password logins? (issue 11, item 4)

Starts the real hubd (build tree, tests/integration/harness.py) at the
default scrypt cost (N=2^15, r=8, p=3) and the shipped limits, then for each
flood (from 1 source address, then from 100: 127.0.0.0/8 gives loopback
many addresses; `--in-flight` requests in flight in all, at least 3 per
address, each answered one followed by the next at once, ignoring
Retry-After) measures a real user logging in meanwhile:

  known : alice, from an address she logged in from before the flood;
  new   : alice from an address she never used, and carol who never logged
          in at all.

Each real user makes one login attempt every `--every` seconds; an attempt
answered 503 `busy` or 429 is retried after its Retry-After (at most 5 s),
the way the dashboard does, until it succeeds or 30 s pass. Reported per
real user: the share of attempts that got in (per request, and per attempt
with retries), and the time from starting an attempt to being logged in
(p50, p90, max). And the flood's answers by status.

    HUB_BUILD_DIR=build /usr/bin/python3 bench/login_flood.py [--seconds 40]

Run it against the build before a change and after it, side by side, on the
same machine: the figures are ratios, the absolute times depend on the
machine's load (printed).
"""
import argparse
import http.client
import json
import multiprocessing
import os
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

PW = {"alice": "alice-password-1", "carol": "carol-password-1"}


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def login(port, user, password, src, timeout=60):
    """One POST /api/login from source address src: (status, seconds,
    retry_after)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(src, 0))
    body = json.dumps({"username": user, "password": password}).encode()
    t0 = time.perf_counter()
    try:
        conn.request("POST", "/api/login", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        ra = r.getheader("Retry-After")
        return r.status, time.perf_counter() - t0, int(ra) if ra and ra.isdigit() else None
    except OSError as e:
        return type(e).__name__, time.perf_counter() - t0, None
    finally:
        conn.close()


def flood(port, addrs, per_addr, stop, counts, lock, pause):
    """Wrong-password logins from each address, per_addr at a time, as fast
    as hubd answers, never waiting for Retry-After (only `pause` seconds
    after a refusal, so the load generator, on the same 2 CPUs, does not
    starve hubd of the CPU it measures)."""
    def one(src, k):
        n = 0
        while not stop.is_set():
            user = "alice" if n % 3 == 0 else "u%d-%d" % (k, n)
            st, _, _ = login(port, user, "wrong-%d-%d" % (k, n), src, timeout=120)
            with lock:
                counts[str(st)] = counts.get(str(st), 0) + 1
            n += 1
            if st in (429, 503) and pause:
                stop.wait(pause)
    threads = [threading.Thread(target=one, args=(a, k), daemon=True)
               for a in addrs for k in range(per_addr)]
    for t in threads:
        t.start()
    return threads


def real_user(port, user, src, every, stop, out):
    """An attempt every `every` s; each retried on 503/429 until it gets in
    or 30 s pass. out gets (requests, ok_requests, attempts, [seconds to
    get in], failed attempts)."""
    requests = ok = attempts = failed = 0
    took = []
    while not stop.is_set():
        t_attempt = time.perf_counter()
        attempts += 1
        while True:
            st, dt, ra = login(port, user, PW[user], src)
            requests += 1
            if st == 200:
                ok += 1
                took.append(time.perf_counter() - t_attempt)
                break
            if time.perf_counter() - t_attempt > 30 or st not in (503, 429):
                failed += 1
                break
            time.sleep(min(ra or 1, 5))
        rest = every - (time.perf_counter() - t_attempt)
        if rest > 0:
            stop.wait(rest)
    out.update(requests=requests, ok=ok, attempts=attempts, failed=failed, took=took)


def flood_process(port, addrs, per_addr, pause, stop, results):
    """The flood in its own process at nice 19: on this 2-CPU machine the
    load generator must not take the CPU hubd's hash workers need (a real
    attacker's machines are elsewhere); hubd's service thread still answers
    every request."""
    os.nice(19)
    counts, lock, tstop = {}, threading.Lock(), threading.Event()
    threads = flood(port, addrs, per_addr, tstop, counts, lock, pause)
    stop.wait()
    tstop.set()
    for t in threads:
        t.join(120)
    results.put(counts)


def run(stack, sources, seconds, per_addr, every, pause):
    port = stack.ports["http"]
    if sources == 1:
        addrs = ["127.0.0.2"]
    else:
        addrs = ["127.0.%d.%d" % (1 + i // 250, 1 + i % 250) for i in range(sources)]
    stop = threading.Event()
    fstop, fres = multiprocessing.Event(), multiprocessing.Queue()
    fproc = multiprocessing.Process(target=flood_process,
                                    args=(port, addrs, per_addr, pause, fstop, fres))
    fproc.start()
    time.sleep(2)  # the flood is on
    users = {"known (alice)": ("alice", "127.0.9.1"), "new addr (alice)": ("alice", "127.0.9.2"),
             "never logged in (carol)": ("carol", "127.0.9.3")}
    outs = {k: {} for k in users}
    rthreads = [threading.Thread(target=real_user, args=(port, u, src, every, stop, outs[k]))
                for k, (u, src) in users.items()]
    for t in rthreads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in rthreads:
        t.join(120)
    fstop.set()
    counts = fres.get(timeout=180)
    fproc.join(60)
    return counts, outs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=40.0, help="real users' time per flood")
    ap.add_argument("--in-flight", type=int, default=48,
                    help="flood requests in flight in all (at least 3 per address)")
    ap.add_argument("--every", type=float, default=3.0, help="seconds between a user's attempts")
    ap.add_argument("--sources", default="1,100", help="flood source counts to run")
    ap.add_argument("--pause", type=float, default=0.02,
                    help="a flooder's pause after a 429/503, seconds")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    fig = {"build": harness.BUILD, "cpus": os.cpu_count(), "runs": []}
    print("login flood (scrypt N=2^15 r=8 p=3, shipped limits) from %s, %d CPUs, "
          "1-min load %.1f" % (harness.BUILD, os.cpu_count(), os.getloadavg()[0]))
    for sources in [int(x) for x in args.sources.split(",")]:
        stack = harness.Stack(fast_hash=False, extra_conf={"log_level": "warn",
                                                           "demo_data": "false"})
        try:
            stack.start_hubd()
            for u, pw in PW.items():
                stack.add_user(u, pw)
            port = stack.ports["http"]
            # alice's usual address: she logged in from it before
            st, _, _ = login(port, "alice", PW["alice"], "127.0.9.1")
            assert st == 200, st
            load0 = os.getloadavg()[0]
            per_addr = max(3, args.in_flight // sources)
            counts, outs = run(stack, sources, args.seconds, per_addr, args.every, args.pause)
        finally:
            stack.close()
        run_fig = {"sources": sources, "in_flight_per_addr": per_addr,
                   "flood_answers": counts, "load_1m": round(load0, 1),
                   "users": {}}
        print("\nflood from %d address%s (%d in flight each), %.0f s, load %.1f; flood "
              "answers: %s" % (sources, "" if sources == 1 else "es", per_addr,
                               args.seconds, load0, json.dumps(counts, sort_keys=True)))
        print("  %-24s %9s %9s %9s %9s %9s %9s" % ("real user", "requests", "200s", "attempts",
                                                  "got in", "p50 s", "max s"))
        for k, o in outs.items():
            took = o.get("took", [])
            u = {"requests": o.get("requests", 0), "ok": o.get("ok", 0),
                 "attempts": o.get("attempts", 0), "failed": o.get("failed", 0),
                 "got_in_p50_s": round(pct(took, 50), 2), "got_in_p90_s": round(pct(took, 90), 2),
                 "got_in_max_s": round(max(took), 2) if took else None}
            run_fig["users"][k] = u
            print("  %-24s %9d %9d %9d %8.0f%% %9.2f %9s" % (
                k, u["requests"], u["ok"], u["attempts"],
                100.0 * u["ok"] / u["attempts"] if u["attempts"] else 0,
                u["got_in_p50_s"], "%.2f" % u["got_in_max_s"] if took else "-"))
        fig["runs"].append(run_fig)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
