#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Broker with hub_auth.so vs the same Mosquitto with no plugin
(allow_anonymous true), side by side in one run, rounds interleaved:

  * authenticated connects/s (CONNECT+CONNACK+DISCONNECT, token checked
    by the plugin) vs anonymous connects/s;
  * fan-out: 1 publisher -> 100 subscribers in one room, QoS 0, 32-byte
    payload; deliveries/s and delivery latency p50/p99 (every delivery
    READ-checked by the plugin) vs the same on the plain broker.

Each also as the broker's own CPU time per connect and per delivery
(the scheduler's per-thread account, /proc/PID/task/*/schedstat): steadier
than rates on a machine shared with other work. Connects run in short
slices, hub and plain alternating; ratios are medians of the rounds'
ratios.

Both brokers are the same binary: `mosquitto` on PATH (Debian 12's
2.0.11), or HUB_MOSQUITTO's (e.g. /opt/mosquitto-2.0.21/bin/mosquitto, from
scripts/deps --mosquitto-2.0.21).

Usage: bench/broker_vs_plain.py [--rounds N] [--subs N] [--messages N] [--inflight N]
Prints each round and the medians/ratios as a markdown table.
"""
import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402

BENCH = os.path.join(harness.BUILD, "bench", "broker_bench")


def cpu_s(pid):
    """CPU time of pid's threads so far, seconds: the scheduler's
    nanosecond account (/proc/PID/task/*/schedstat), not the tick-counted
    utime + stime (10 ms steps, a few per cent of a short slice)."""
    total = 0
    tdir = "/proc/%d/task" % pid
    for t in os.listdir(tdir):
        try:
            with open(os.path.join(tdir, t, "schedstat")) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass  # a thread that just ended
    return total / 1e9


def run(args, rate=None, inflight=None):
    env = dict(os.environ)
    if rate:
        env["BENCH_RATE"] = str(rate)
    if inflight:
        env["BENCH_INFLIGHT"] = str(inflight)
    r = subprocess.run([BENCH] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=300, env=env)
    if r.returncode != 0:
        raise RuntimeError("broker_bench %s failed: %s %s" % (args, r.stdout, r.stderr))
    return dict(kv.split("=", 1) for kv in r.stdout.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--subs", type=int, default=100)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--inflight", type=int, default=4,
                    help="connects in flight in the connect phase (1-256)")
    ap.add_argument("--slices", type=int, default=4,
                    help="alternating hub/plain slices the connect phase of a round has")
    a = ap.parse_args()
    print("broker: mosquitto %s (%s)" % (".".join(map(str, harness.broker_version())),
                                         harness.MOSQUITTO), flush=True)

    # --subs subscribers of one user: above the default per-identity cap
    with harness.Stack(extra_conf={"log_level": "warn",
                                   "broker_conns_per_identity": max(1000, a.subs + 10)}) as st:
        st.prepare_data()
        st.add_user("bob", rooms={"bench": "read"})
        st.add_user("alice", rooms={"bench": "write"})
        st.start_broker(debug=False)
        # the baseline: the very same broker config (listeners, WebSocket
        # included, persistence, limits, logging) minus the plugin
        plain_port, plain_ws = harness.free_port(), harness.free_port()
        plain_dir = os.path.join(st.dir, "plain")
        os.makedirs(plain_dir)
        acct = harness.run_as_account()
        if acct:
            os.chown(plain_dir, *acct)
        plain_conf = os.path.join(st.dir, "plain.conf")
        with open(st.broker_conf(debug=False)) as f:
            lines = f.read().splitlines()
        plain = []
        for line in lines:
            if line.startswith("plugin"):
                continue
            if line.startswith("listener %d " % st.ports["mqtt"]):
                line = "listener %d 127.0.0.1" % plain_port
            elif line.startswith("listener %d " % st.ports["ws"]):
                line = "listener %d 127.0.0.1" % plain_ws
            elif line.startswith("persistence_location"):
                line = "persistence_location %s/" % plain_dir
            elif line.startswith("allow_anonymous"):
                line = "allow_anonymous true"
            plain.append(line)
        with open(plain_conf, "w") as f:
            f.write("\n".join(plain) + "\n")
        st.start("plain", harness.broker_argv(plain_conf), plain_port)
        hub_port = st.ports["mqtt"]
        tok_b = st.token("bob", ttl=3600)
        tok_a = st.token("alice", ttl=3600)
        topic = "rooms/bench/ev/tick/alice"
        res = {"hub_conn": [], "plain_conn": [], "hub_fan": [], "plain_fan": [],
               "hub_p99": [], "plain_p99": [], "hub_p50": [], "plain_p50": [],
               "hub_cpu_conn": [], "plain_cpu_conn": [], "hub_cpu_fan": [],
               "plain_cpu_fan": []}
        pids = {"hub": st.broker_pid(), "plain": st.procs["plain"].pid}

        def measured(who, args):
            c0 = cpu_s(pids[who])
            out = run(args, inflight=a.inflight if args[0] == "connect" else None)
            return out, cpu_s(pids[who]) - c0

        for r in range(a.rounds):
            # connects in short slices, hub and plain alternating (which goes
            # first alternating too): both see the same moments of a machine
            # whose load changes by the second
            n = {"hub": 0.0, "plain": 0.0}
            cpu = {"hub": 0.0, "plain": 0.0}
            sl = a.seconds / a.slices
            for i in range(a.slices):
                order = ("plain", "hub") if (r + i) % 2 == 0 else ("hub", "plain")
                for who in order:
                    if who == "plain":
                        v, c = measured("plain", ["connect", "127.0.0.1", plain_port, sl])
                    else:
                        v, c = measured("hub", ["connect", "127.0.0.1", hub_port, sl, "bob",
                                                tok_b])
                    n[who] += float(v["connects_per_s"]) * sl
                    cpu[who] += c
            for who in ("hub", "plain"):
                res[who + "_conn"].append(n[who] / a.seconds)
                res[who + "_cpu_conn"].append(cpu[who] * 1e6 / n[who])
            fan = {"plain": ["fanout", "127.0.0.1", plain_port, a.subs, a.messages, topic],
                   "hub": ["fanout", "127.0.0.1", hub_port, a.subs, a.messages, topic,
                           "bob", tok_b, "alice", tok_a]}
            got = {}
            for who in (("plain", "hub") if r % 2 == 0 else ("hub", "plain")):
                got[who] = measured(who, fan[who])
            (p, pc), (h, hc) = got["plain"], got["hub"]
            for k, v, c in (("plain", p, pc), ("hub", h, hc)):
                res[k + "_fan"].append(float(v["deliveries_per_s"]))
                res[k + "_cpu_fan"].append(c * 1e6 / (a.subs * a.messages))
            # latency on an unsaturated broker: 200 messages/s to the same 100
            p = run(["fanout", "127.0.0.1", plain_port, a.subs, 1000, topic], rate=200)
            h = run(["fanout", "127.0.0.1", hub_port, a.subs, 1000, topic,
                     "bob", tok_b, "alice", tok_a], rate=200)
            for k, v in (("plain", p), ("hub", h)):
                res[k + "_p99"].append(int(v["p99_us"]))
                res[k + "_p50"].append(int(v["p50_us"]))
            print("round %d: connects/s hub %.0f plain %.0f | deliveries/s hub %.0f plain %.0f"
                  " | p99 us hub %d plain %d" % (
                      r + 1, res["hub_conn"][-1], res["plain_conn"][-1], res["hub_fan"][-1],
                      res["plain_fan"][-1], res["hub_p99"][-1], res["plain_p99"][-1]),
                  flush=True)
    m = {k: statistics.median(v) for k, v in res.items()}

    def ratio(k):
        """Median of the per-round ratios hub / plain (each round's pair ran
        side by side)."""
        return statistics.median(h / max(p, 1e-9) for h, p in zip(res["hub_" + k],
                                                                   res["plain_" + k]))
    print()
    print("| measure (median of %d rounds) | hub (plugin) | plain broker | ratio (median of the "
          "rounds' ratios) |" % a.rounds)
    print("|---|---|---|---|")
    print("| connects/s (%d in flight) | %.0f | %.0f | %.2f |" % (
        a.inflight, m["hub_conn"], m["plain_conn"], ratio("conn")))
    print("| fan-out deliveries/s (1 -> %d, QoS 0) | %.0f | %.0f | %.2f |" % (
        a.subs, m["hub_fan"], m["plain_fan"], ratio("fan")))
    print("| delivery latency p50 (us), 200 msg/s | %d | %d | %.2f |" % (
        m["hub_p50"], m["plain_p50"], ratio("p50")))
    print("| delivery latency p99 (us), 200 msg/s | %d | %d | %.2f |" % (
        m["hub_p99"], m["plain_p99"], ratio("p99")))
    print("| broker CPU per connect (us) | %.1f | %.1f | %.2f |" % (
        m["hub_cpu_conn"], m["plain_cpu_conn"], ratio("cpu_conn")))
    print("| broker CPU per delivery (us) | %.2f | %.2f | %.2f |" % (
        m["hub_cpu_fan"], m["plain_cpu_fan"], ratio("cpu_fan")))
    print("| broker capacity per CPU-second, connects (plain CPU / hub CPU) | | | %.2f |" % (
        1 / ratio("cpu_conn")))
    print("| broker capacity per CPU-second, deliveries | | | %.2f |" % (1 / ratio("cpu_fan")))

if __name__ == "__main__":
    main()
