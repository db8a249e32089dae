#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Benchmark: does password hashing slow down the rest of hubd?

Starts the real hubd (build tree, tests/integration/harness.py) with the
default scrypt cost (N=2^15, r=8, p=3) and generous rate limits, then:

  1. baseline: GET /healthz latency with no other load;
  2. load: logins offered at a fixed rate (default 50/s for 10 s, one in
     three with a wrong password) while /healthz is measured the same way;
  3. the hash cost: single logins with nothing else running, and hubd's own
     hub_hash_seconds (sum/count) from /metrics.

Each /healthz probe and each login uses a new connection, as a health
checker and a browser would. Prints the figures (and --json writes them).

    HUB_BUILD_DIR=build /usr/bin/python3 bench/healthz_under_login.py
"""
import argparse
import concurrent.futures
import http.client
import json
import multiprocessing
import os
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

USER, PASSWORD = "bench", "bench-password-1"


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    lo, hi = int(k), min(int(k) + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def request(port, method, path, body=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    t0 = time.perf_counter()
    conn.request(method, path, body=data, headers=hdrs)
    r = conn.getresponse()
    payload = r.read()
    dt = time.perf_counter() - t0
    conn.close()
    return r.status, dt, payload


def probe_healthz(port, stop, interval, results):
    """GET /healthz every interval seconds until stop is set. Runs in its
    own process, so the login threads' GIL contention is not measured."""
    out = []
    nxt = time.perf_counter()
    while not stop.is_set():
        status, dt, _ = request(port, "GET", "/healthz", timeout=30)
        out.append((status, dt))
        nxt += interval
        delay = nxt - time.perf_counter()
        if delay > 0:
            stop.wait(delay)
        else:
            nxt = time.perf_counter()
    results.put(out)


def probing(port, interval):
    """Start a prober process; returns a function that stops it and
    returns its samples."""
    stop = multiprocessing.Event()
    results = multiprocessing.Queue()
    proc = multiprocessing.Process(target=probe_healthz, args=(port, stop, interval, results))
    proc.start()

    def finish():
        stop.set()
        out = results.get(timeout=120)
        proc.join(30)
        return out
    return finish


def offer_logins(port, rate, seconds, wrong_every):
    """Open-loop: start a login every 1/rate s whatever the answers."""
    results = []
    lock = threading.Lock()

    def one(i):
        pw = "wrong-password" if wrong_every and i % wrong_every == 0 else PASSWORD
        try:
            status, dt, _ = request(port, "POST", "/api/login",
                                    {"username": USER, "password": pw}, timeout=120)
        except OSError as e:
            status, dt = repr(e), float("nan")
        with lock:
            results.append((status, dt))

    n = int(rate * seconds)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=min(n, 200))
    t0 = time.perf_counter()
    for i in range(n):
        at = t0 + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        pool.submit(one, i)
    offered_for = time.perf_counter() - t0
    pool.shutdown(wait=True)
    return results, offered_for


def metric(text, name, labels=None):
    want = name + ("{%s}" % labels if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=50.0, help="logins offered per second")
    ap.add_argument("--seconds", type=float, default=10.0, help="how long logins are offered")
    ap.add_argument("--probe-interval", type=float, default=0.02,
                    help="seconds between /healthz probes")
    ap.add_argument("--baseline-seconds", type=float, default=5.0)
    ap.add_argument("--wrong-every", type=int, default=3,
                    help="every Nth login uses a wrong password (0: none)")
    ap.add_argument("--queue-max", type=int, default=None,
                    help="login_queue_max for hubd (default: hubd's own default)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()

    conf = {
        "log_level": "warn", "demo_data": "false",
        # rate limiting is not what is measured here, nor the per-address
        # share of the login queue (every login comes from 127.0.0.1)
        "login_fail_pair_max": 100000, "login_fail_addr_max": 100000,
        "login_fail_user_max": 1000000, "login_queue_per_addr": 100000,
    }
    if args.queue_max:
        conf["login_queue_max"] = args.queue_max
    load_before = os.getloadavg()[0]
    stack = harness.Stack(fast_hash=False, extra_conf=conf)
    try:
        stack.start_hubd()
        stack.add_user(USER, PASSWORD)
        port = stack.ports["http"]
        workers = int(metric(request(port, "GET", "/metrics")[2].decode(), "hub_hash_workers"))
        queue_max = args.queue_max or 16  # hubd's default login_queue_max

        # 1. baseline
        done = probing(port, args.probe_interval)
        time.sleep(args.baseline_seconds)
        base = done()

        # 2. under login load
        done = probing(port, args.probe_interval)
        logins, offered_for = offer_logins(port, args.rate, args.seconds, args.wrong_every)
        loaded = done()
        after_load = request(port, "GET", "/metrics")[2].decode()

        # 3. hash cost with nothing else running
        single = []
        for _ in range(5):
            status, dt, _ = request(port, "POST", "/api/login",
                                    {"username": USER, "password": PASSWORD})
            assert status == 200, status
            single.append(dt)
        final = request(port, "GET", "/metrics")[2].decode()
        c_all = metric(final, "hub_hash_seconds_count")
        s_all = metric(final, "hub_hash_seconds_sum")
        c_load = metric(after_load, "hub_hash_seconds_count")
        s_load = metric(after_load, "hub_hash_seconds_sum")
        alone = (s_all - s_load) / (c_all - c_load) if c_all > c_load else float("nan")
        cpu_all = metric(final, "hub_hash_cpu_seconds_sum")
        cpu_load = metric(after_load, "hub_hash_cpu_seconds_sum")
        cpu_alone = (cpu_all - cpu_load) / (c_all - c_load) if c_all > c_load else float("nan")
    finally:
        stack.close()

    bad_base = [s for s, _ in base if s != 200]
    bad_loaded = [s for s, _ in loaded if s != 200]
    bl = [dt * 1000 for s, dt in base if s == 200]
    ll = [dt * 1000 for s, dt in loaded if s == 200]
    by_status = {}
    for s, _ in logins:
        by_status[str(s)] = by_status.get(str(s), 0) + 1
    answered = [dt * 1000 for s, dt in logins if s in (200, 401)]
    busy = [dt * 1000 for s, dt in logins if s == 503]
    fig = {
        "cpus": os.cpu_count(),
        "loadavg_1m_before": round(load_before, 2),
        "hash_workers": workers,
        "login_queue_max": queue_max,
        "offered_logins": len(logins),
        "offered_rate_per_s": round(len(logins) / offered_for, 1),
        "login_status_counts": by_status,
        "login_ms_p50_answered": round(pct(answered, 50), 1),
        "login_ms_p99_answered": round(pct(answered, 99), 1),
        "login_ms_p50_busy": round(pct(busy, 50), 1),
        "healthz_baseline_n": len(bl),
        "healthz_baseline_ms_p50": round(pct(bl, 50), 3),
        "healthz_baseline_ms_p99": round(pct(bl, 99), 3),
        "healthz_loaded_n": len(ll),
        "healthz_loaded_ms_p50": round(pct(ll, 50), 3),
        "healthz_loaded_ms_p99": round(pct(ll, 99), 3),
        "healthz_loaded_ms_max": round(max(ll), 3) if ll else None,
        "healthz_non_200": len(bad_base) + len(bad_loaded),
        "ratio_p50": round(pct(ll, 50) / pct(bl, 50), 2),
        "ratio_p99": round(pct(ll, 99) / pct(bl, 99), 2),
        "hash_s_per_login_under_load": round(s_load / c_load, 3) if c_load else None,
        "hash_s_per_login_alone": round(alone, 3),
        "hash_cpu_s_per_login_alone": round(cpu_alone, 3),
        "hash_cpu_s_per_login_under_load": round(cpu_load / c_load, 3) if c_load else None,
        "login_ms_alone_p50": round(pct([x * 1000 for x in single], 50), 1),
    }
    print("hubd /healthz under login load (scrypt N=2^15 r=8 p=3, %d hash workers, %d CPUs,"
          " login_queue_max %d)" % (workers, fig["cpus"], queue_max))
    print("  logins offered: %d at %.1f/s; answers: %s" % (
        fig["offered_logins"], fig["offered_rate_per_s"], json.dumps(by_status, sort_keys=True)))
    print("  login latency (200/401): p50 %.0f ms, p99 %.0f ms; 503 busy p50 %.1f ms" % (
        fig["login_ms_p50_answered"], fig["login_ms_p99_answered"], fig["login_ms_p50_busy"]))
    print("  /healthz idle   : n=%d p50 %.3f ms p99 %.3f ms" % (
        fig["healthz_baseline_n"], fig["healthz_baseline_ms_p50"], fig["healthz_baseline_ms_p99"]))
    print("  /healthz loaded : n=%d p50 %.3f ms p99 %.3f ms (max %.3f ms)" % (
        fig["healthz_loaded_n"], fig["healthz_loaded_ms_p50"], fig["healthz_loaded_ms_p99"],
        fig["healthz_loaded_ms_max"] or 0))
    print("  ratio loaded/idle: p50 x%.2f, p99 x%.2f; non-200 /healthz answers: %d" % (
        fig["ratio_p50"], fig["ratio_p99"], fig["healthz_non_200"]))
    print("  hash cost per login: CPU %.3f s (alone) / %.3f s (under load);"
          " wall %.3f s alone, %.3f s under load; one login alone end to end: %.0f ms" % (
              fig["hash_cpu_s_per_login_alone"], fig["hash_cpu_s_per_login_under_load"] or 0,
              fig["hash_s_per_login_alone"], fig["hash_s_per_login_under_load"] or 0,
              fig["login_ms_alone_p50"]))
    print("  machine: 1-min load average %.2f before the run (other work on the machine"
          " inflates the hash figures)" % load_before)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(fig, f, indent=2, sort_keys=True)
    return 0 if fig["healthz_non_200"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
