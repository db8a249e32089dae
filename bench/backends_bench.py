#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Backends at the broker (docs/performance.md "Backends"), side by side in
one run, rounds interleaved, one broker with hub_auth.so:

  * calls: an MQTT 5 caller (bench/broker_bench calls: libmosquitto, a
    Response Topic and Correlation Data per call, INFLIGHT outstanding)
    calling a trivial method (`ping`, answers its data) of a backend
    written with the Node SDK (bench/sdk_backend.mjs), with one and with
    two backend processes sharing $share/{service}/svc/{service}/#:
    calls/s and round trip p50/p99; and with backends that answer one
    call at a time after 2 ms (`wait`, SDK concurrency 1: a backend
    waiting on one database connection), where a second process should
    double what one does;
  * the same calls on the same broker configuration without the plugin
    (allow_anonymous, no ACL, no stamp): what the hub adds per call;
  * hooked room fan-out vs unhooked: 1 publisher -> SUBS subscribers,
    QoS 0, the same broker, a room hooked to a Node SDK backend that
    accepts everything, and a room hooked to a minimal C service
    (broker_bench hookd) that does the same: deliveries/s, the broker's
    CPU per delivery, and latency p50/p99 at 200 msg/s; WINDOW messages
    per subscriber in flight (the hooked path adds two hops through the
    backend, so a small window measures the round trip, not capacity);
  * fan-out while webhooks are enqueued: the unhooked room with no webhook
    vs with a webhook wanting every room event (ev:*), so the plugin's
    writer thread makes one outbox row per message (nobody sends them: the
    outbox grows).

Each also as the broker's own CPU time per call / per delivery.

Usage: bench/backends_bench.py [--rounds N] [--subs N] [--messages N]
       [--seconds S] [--inflight N] [--window N]
"""
import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.path.join(harness.BUILD, "bench", "broker_bench")
BACKEND = os.path.join(HERE, "sdk_backend.mjs")


def cpu_s(pid, main_thread=False):
    """CPU seconds of pid (all its threads), or of its main thread only
    (the broker's loop, without the plugin's writer threads)."""
    path = "/proc/%d/task/%d/stat" % (pid, pid) if main_thread else "/proc/%d/stat" % pid
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


WINDOW = [50]


def run(args, rate=None):
    env = dict(os.environ)
    env["BENCH_WINDOW"] = str(WINDOW[0])
    if rate:
        env["BENCH_RATE"] = str(rate)
    r = subprocess.run([BENCH] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=600, env=env)
    if r.returncode != 0:
        raise RuntimeError("broker_bench %s failed: %s %s" % (args[:2], r.stdout, r.stderr))
    return dict(kv.split("=", 1) for kv in r.stdout.split())


def outbox(st):
    con = sqlite3.connect("file:%s?mode=ro" % os.path.join(st.data, "hub.db"), uri=True,
                          timeout=5)
    try:
        return con.execute("SELECT count(*) FROM webhook_outbox").fetchone()[0]
    finally:
        con.close()


def servicekey(st, name):
    out = st.hubctl("servicekey", "add", name).stdout
    return [ln.split(": ", 1)[1] for ln in out.splitlines() if ln.startswith("key: ")][0]


def plain_broker(st):
    """The same broker configuration minus the plugin (allow_anonymous),
    on its own ports; returns its MQTT port (process "plain")."""
    port, ws = harness.free_port(), harness.free_port()
    pdir = os.path.join(st.dir, "plain")
    os.makedirs(pdir)
    acct = harness.run_as_account()
    if acct:
        os.chown(pdir, *acct)
    out = []
    with open(st.broker_conf(debug=False)) as f:
        for line in f.read().splitlines():
            if line.startswith("plugin"):
                continue
            if line.startswith("listener %d " % st.ports["mqtt"]):
                line = "listener %d 127.0.0.1" % port
            elif line.startswith("listener %d " % st.ports["ws"]):
                line = "listener %d 127.0.0.1" % ws
            elif line.startswith("persistence_location"):
                line = "persistence_location %s/" % pdir
            elif line.startswith("allow_anonymous"):
                line = "allow_anonymous true"
            out.append(line)
    conf = os.path.join(st.dir, "plain.conf")
    with open(conf, "w") as f:
        f.write("\n".join(out) + "\n")
    st.start("plain", ["mosquitto", "-c", conf], port)
    return port


class Backend:
    def __init__(self, st, service, key, port=None, concurrency=None):
        self.p = subprocess.Popen(["node", BACKEND, "mqtt://127.0.0.1:%d" % (
                                   port or st.ports["mqtt"]), service, key] + (
                                   [str(concurrency), "2"] if concurrency else []),
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, cwd=harness.REPO)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("backend did not start")

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--subs", type=int, default=100)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--window", type=int, default=200)
    a = ap.parse_args()
    WINDOW[0] = a.window

    # the window's messages of the one publisher may all be held at once
    with harness.Stack(extra_conf={"log_level": "warn",
                                   "broker_conns_per_identity": max(1000, a.subs + 10),
                                   "hook_sender_pending_max": 10 * a.window,
                                   "hook_room_pending_max": 10 * a.window}) as st:
        st.prepare_data()
        rooms = ("plain", "hooked", "hookedc")
        st.add_user("bob", rooms={r: "read" for r in rooms})
        st.add_user("alice", rooms={r: "write" for r in rooms})
        keys = {n: servicekey(st, n) for n in ("calls", "hook", "hookc")}
        st.hubctl("room", "hook", "hooked", "hook")
        st.hubctl("room", "hook", "hookedc", "hookc")
        st.start_broker(debug=False)
        pid = st.broker_pid()
        tok_b = st.token("bob", ttl=3600)
        tok_a = st.token("alice", ttl=3600)
        port = st.ports["mqtt"]
        plain_port = plain_broker(st)
        plain_pid = st.procs["plain"].pid
        hook_backend = Backend(st, "hook", keys["hook"])
        hookd = subprocess.Popen([BENCH, "hookd", "127.0.0.1", str(port), "hookc", keys["hookc"],
                                  "100000"], stdout=subprocess.PIPE, text=True)
        if hookd.stdout.readline().strip() != "ready":
            raise RuntimeError("hookd did not start")
        res = {k: [] for k in ("calls1", "calls2", "p50_1", "p99_1", "p50_2", "p99_2",
                               "cpu_call1", "cpu_call2", "callsp", "p50_p", "p99_p",
                               "cpu_callp", "node_call1", "fan_plain", "fan_hooked",
                               "fan_hookedc", "cpu_plain", "cpu_hooked", "cpu_hookedc",
                               "node_hook", "lat50_plain", "lat99_plain", "lat50_hooked",
                               "lat99_hooked", "lat50_hookedc", "lat99_hookedc", "fan_nowh",
                               "fan_wh", "cpu_nowh", "cpu_wh", "rows", "serial1", "serial2", "loop_nowh", "loop_wh")}

        loop_cpu = []

        def measured(args, rate=None):
            c0, l0 = cpu_s(pid), cpu_s(pid, True)
            out = run(args, rate)
            loop_cpu.append(cpu_s(pid, True) - l0)
            return out, cpu_s(pid) - c0

        def fan(room):
            return measured(["fanout", "127.0.0.1", port, a.subs, a.messages,
                             "rooms/%s/ev/tick/alice" % room, "bob", tok_b, "alice", tok_a])

        for r in range(a.rounds):
            # calls on the plugin-less broker (the baseline), then on the
            # hub: one backend process, then two
            bp = Backend(st, "calls", keys["calls"], plain_port)
            c0 = cpu_s(plain_pid)
            out = run(["calls", "127.0.0.1", plain_port, a.seconds, a.inflight, "alice", "x",
                       "calls", "ping"])
            res["callsp"].append(float(out["calls_per_s"]))
            res["p50_p"].append(int(out["p50_us"]))
            res["p99_p"].append(int(out["p99_us"]))
            res["cpu_callp"].append((cpu_s(plain_pid) - c0) * 1e6 / int(out["answered"]))
            bp.close()
            b1 = Backend(st, "calls", keys["calls"])
            n0 = cpu_s(b1.p.pid)
            out, c = measured(["calls", "127.0.0.1", port, a.seconds, a.inflight, "alice", tok_a,
                               "calls", "ping"])
            res["calls1"].append(float(out["calls_per_s"]))
            res["p50_1"].append(int(out["p50_us"]))
            res["p99_1"].append(int(out["p99_us"]))
            res["cpu_call1"].append(c * 1e6 / int(out["answered"]))
            res["node_call1"].append((cpu_s(b1.p.pid) - n0) * 1e6 / int(out["answered"]))
            b2 = Backend(st, "calls", keys["calls"])
            out, c = measured(["calls", "127.0.0.1", port, a.seconds, a.inflight, "alice", tok_a,
                               "calls", "ping"])
            res["calls2"].append(float(out["calls_per_s"]))
            res["p50_2"].append(int(out["p50_us"]))
            res["p99_2"].append(int(out["p99_us"]))
            res["cpu_call2"].append(c * 1e6 / int(out["answered"]))
            b1.close()
            b2.close()
            # a backend that answers one call at a time after 2 ms (one
            # database connection): what a second process adds
            b1 = Backend(st, "calls", keys["calls"], concurrency=1)
            out = run(["calls", "127.0.0.1", port, a.seconds, a.inflight, "alice", tok_a, "calls",
                       "wait"])
            res["serial1"].append(float(out["calls_per_s"]))
            b2 = Backend(st, "calls", keys["calls"], concurrency=1)
            out = run(["calls", "127.0.0.1", port, a.seconds, a.inflight, "alice", tok_a, "calls",
                       "wait"])
            res["serial2"].append(float(out["calls_per_s"]))
            b1.close()
            b2.close()
            # hooked rooms vs unhooked, same broker
            for room in rooms:
                n0 = cpu_s(hook_backend.p.pid)
                out, c = fan(room)
                res["fan_" + room].append(float(out["deliveries_per_s"]))
                res["cpu_" + room].append(c * 1e6 / (a.subs * a.messages))
                if room == "hooked":
                    res["node_hook"].append((cpu_s(hook_backend.p.pid) - n0) * 1e6 / a.messages)
                out = run(["fanout", "127.0.0.1", port, a.subs, 1000,
                           "rooms/%s/ev/tick/alice" % room, "bob", tok_b, "alice", tok_a],
                          rate=200)
                res["lat50_" + room].append(int(out["p50_us"]))
                res["lat99_" + room].append(int(out["p99_us"]))
            # webhooks: none, then one wanting every room event
            out, c = fan("plain")
            res["fan_nowh"].append(float(out["deliveries_per_s"]))
            res["cpu_nowh"].append(c * 1e6 / (a.subs * a.messages))
            res["loop_nowh"].append(loop_cpu[-1] * 1e6 / (a.subs * a.messages))
            hook_id = st.hubctl("webhook", "add", "http://127.0.0.1:9/bench", "--events",
                                "ev:*").stdout.split()[1]
            time.sleep(1.0)  # the writer looks at the webhooks every 250 ms
            out, c = fan("plain")
            res["fan_wh"].append(float(out["deliveries_per_s"]))
            res["cpu_wh"].append(c * 1e6 / (a.subs * a.messages))
            res["loop_wh"].append(loop_cpu[-1] * 1e6 / (a.subs * a.messages))
            harness.wait_until(lambda: outbox(st) >= a.messages, 10)
            res["rows"].append(outbox(st))
            st.hubctl("webhook", "del", hook_id)  # its rows go with it
            time.sleep(1.0)
            print("round %d: calls/s plain broker %.0f, 1 backend %.0f, 2 backends %.0f | "
                  "deliveries/s plain %.0f hooked %.0f (C hook %.0f) | with webhook rows %.0f "
                  "vs %.0f" % (
                      r + 1, res["callsp"][-1], res["calls1"][-1], res["calls2"][-1],
                      res["fan_plain"][-1], res["fan_hooked"][-1], res["fan_hookedc"][-1],
                      res["fan_wh"][-1], res["fan_nowh"][-1]), flush=True)
        hook_backend.close()
        hookd.kill()
        hookd.wait()
    m = {k: statistics.median(v) for k, v in res.items() if v}
    print()
    print("| measure (median of %d rounds, %d subscribers) | value | baseline | ratio |"
          % (a.rounds, a.subs))
    print("|---|---|---|---|")
    print("| calls/s, hub vs plugin-less broker, 1 backend (%d in flight) | %.0f | %.0f | %.2f |"
          % (a.inflight, m["calls1"], m["callsp"], m["calls1"] / m["callsp"]))
    print("| call round trip p50 / p99 (us), hub vs plugin-less | %d / %d | %d / %d | %.2f / %.2f |"
          % (m["p50_1"], m["p99_1"], m["p50_p"], m["p99_p"], m["p50_1"] / m["p50_p"],
             m["p99_1"] / m["p99_p"]))
    print("| broker CPU per call (us), hub vs plugin-less | %.1f | %.1f | %.2f |" % (
        m["cpu_call1"], m["cpu_callp"], m["cpu_call1"] / m["cpu_callp"]))
    print("| Node SDK backend CPU per call (us) | %.1f | | |" % m["node_call1"])
    print("| calls/s, 2 backend processes vs 1 (%d in flight) | %.0f | %.0f | %.2f |" % (
        a.inflight, m["calls2"], m["calls1"], m["calls2"] / m["calls1"]))
    print("| calls/s, 2 processes vs 1, each answering one call at a time after 2 ms | %.0f | "
          "%.0f | %.2f |" % (m["serial2"], m["serial1"], m["serial2"] / m["serial1"]))
    print("| call round trip p50 (us), 1 / 2 processes | %d | %d | |" % (m["p50_1"], m["p50_2"]))
    print("| call round trip p99 (us), 1 / 2 processes | %d | %d | |" % (m["p99_1"], m["p99_2"]))
    print("| broker CPU per call (us), 1 / 2 processes | %.1f | %.1f | |" % (
        m["cpu_call1"], m["cpu_call2"]))
    for room, who in (("hooked", "Node SDK hook"), ("hookedc", "C hook")):
        print("| fan-out deliveries/s, hooked (%s) vs unhooked, window %d | %.0f | %.0f | %.2f |"
              % (who, a.window, m["fan_" + room], m["fan_plain"],
                 m["fan_" + room] / m["fan_plain"]))
        print("| broker CPU per delivery (us), hooked (%s) vs unhooked | %.2f | %.2f | %.2f |"
              % (who, m["cpu_" + room], m["cpu_plain"], m["cpu_" + room] / m["cpu_plain"]))
        print("| delivery latency p50 / p99 (us) at 200 msg/s, hooked (%s) vs unhooked | "
              "%d / %d | %d / %d | %.2f / %.2f |" % (
                  who, m["lat50_" + room], m["lat99_" + room], m["lat50_plain"],
                  m["lat99_plain"], m["lat50_" + room] / max(1, m["lat50_plain"]),
                  m["lat99_" + room] / max(1, m["lat99_plain"])))
    print("| Node SDK hook backend CPU per event (us) | %.1f | | |" % m["node_hook"])
    print("| fan-out deliveries/s with a webhook on every event vs none | %.0f | %.0f | %.2f |"
          % (m["fan_wh"], m["fan_nowh"], m["fan_wh"] / m["fan_nowh"]))
    print("| broker CPU per delivery (us), webhook rows vs none | %.2f | %.2f | %.2f |" % (
        m["cpu_wh"], m["cpu_nowh"], m["cpu_wh"] / m["cpu_nowh"]))
    print("| broker loop (main thread) CPU per delivery (us), webhook rows vs none | %.2f | "
          "%.2f | %.2f |" % (m["loop_wh"], m["loop_nowh"], m["loop_wh"] / m["loop_nowh"]))
    print("| writer thread CPU per webhook row (us) | %.1f | | |" % (
        (m["cpu_wh"] - m["loop_wh"] - (m["cpu_nowh"] - m["loop_nowh"])) * a.subs))
    print("\noutbox rows made per round (messages: %d): %s" % (a.messages, res["rows"]))


if __name__ == "__main__":
    main()
