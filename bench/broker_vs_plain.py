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
(utime + stime from /proc): steadier than rates on a machine shared with
other work.

Both brokers are the same binary: `mosquitto` on PATH (Debian 12's
2.0.11), or HUB_MOSQUITTO's (e.g. /opt/mosquitto-2.0.21/bin/mosquitto, from
scripts/deps --mosquitto-2.0.21).

Usage: bench/broker_vs_plain.py [--rounds N] [--subs N] [--messages N]
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
    """CPU time (user + system) of pid so far, seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(args, rate=None):
    env = dict(os.environ)
    if rate:
        env["BENCH_RATE"] = str(rate)
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
            out = run(args)
            return out, cpu_s(pids[who]) - c0

        for r in range(a.rounds):
            p, pc = measured("plain", ["connect", "127.0.0.1", plain_port, a.seconds])
            h, hc = measured("hub", ["connect", "127.0.0.1", hub_port, a.seconds, "bob", tok_b])
            res["plain_conn"].append(float(p["connects_per_s"]))
            res["hub_conn"].append(float(h["connects_per_s"]))
            res["plain_cpu_conn"].append(pc * 1e6 / (float(p["connects_per_s"]) * a.seconds))
            res["hub_cpu_conn"].append(hc * 1e6 / (float(h["connects_per_s"]) * a.seconds))
            p, pc = measured("plain", ["fanout", "127.0.0.1", plain_port, a.subs, a.messages,
                                       topic])
            h, hc = measured("hub", ["fanout", "127.0.0.1", hub_port, a.subs, a.messages, topic,
                                     "bob", tok_b, "alice", tok_a])
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
    print()
    print("| measure (median of %d rounds) | hub (plugin) | plain broker | ratio |" % a.rounds)
    print("|---|---|---|---|")
    print("| connects/s (4 in flight) | %.0f | %.0f | %.2f |" % (
        m["hub_conn"], m["plain_conn"], m["hub_conn"] / m["plain_conn"]))
    print("| fan-out deliveries/s (1 -> %d, QoS 0) | %.0f | %.0f | %.2f |" % (
        a.subs, m["hub_fan"], m["plain_fan"], m["hub_fan"] / m["plain_fan"]))
    print("| delivery latency p50 (us), 200 msg/s | %d | %d | %.2f |" % (
        m["hub_p50"], m["plain_p50"], m["hub_p50"] / max(1, m["plain_p50"])))
    print("| delivery latency p99 (us), 200 msg/s | %d | %d | %.2f |" % (
        m["hub_p99"], m["plain_p99"], m["hub_p99"] / max(1, m["plain_p99"])))
    print("| broker CPU per connect (us) | %.1f | %.1f | %.2f |" % (
        m["hub_cpu_conn"], m["plain_cpu_conn"], m["hub_cpu_conn"] / m["plain_cpu_conn"]))
    print("| broker CPU per delivery (us) | %.2f | %.2f | %.2f |" % (
        m["hub_cpu_fan"], m["plain_cpu_fan"], m["hub_cpu_fan"] / m["plain_cpu_fan"]))


if __name__ == "__main__":
    main()
