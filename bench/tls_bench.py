#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What TLS costs the broker (docs/performance.md "TLS"): one broker with
hub_auth.so and both listeners, the clear-text one and MQTT over TLS
(a scripts/dev-ca certificate, P-256), measured side by side, rounds
interleaved:

  * connects/s (CONNECT + CONNACK + DISCONNECT, 4 in flight, the token
    checked by the plugin): over TLS every connect is a full handshake
    (libmosquitto resumes no session), verified by the client against the
    dev CA and the name;
  * fan-out: 1 publisher -> 100 subscribers in one room, QoS 0, 32-byte
    payload; deliveries/s and delivery latency p50/p99 at 200 msg/s, all
    clients over TLS vs all in clear text;

each also as the broker's CPU time per connect and per delivery (utime +
stime from /proc): steadier than rates on a machine shared with other work.

Usage: bench/tls_bench.py [--rounds N] [--subs N] [--messages N] [--seconds S]
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


def run(args, ca=None, rate=None):
    env = dict(os.environ)
    env.pop("BENCH_CAFILE", None)
    if ca:
        env["BENCH_CAFILE"] = ca
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
    with harness.Stack(extra_conf={"log_level": "warn",
                                   "broker_conns_per_identity": max(1000, a.subs + 10)}) as st:
        tls = st.use_tls()
        st.add_user("bob", rooms={"bench": "read"})
        st.add_user("alice", rooms={"bench": "write"})
        st.start_broker_tls(debug=False)
        pid = st.broker_pid()
        tok_b = st.token("bob", ttl=3600)
        tok_a = st.token("alice", ttl=3600)
        topic = "rooms/bench/ev/tick/alice"
        # the certificate names localhost and 127.0.0.1: both verify
        ways = {"clear": (st.ports["mqtt"], None), "tls": (st.ports["mqtts"], tls["ca"])}
        res = {k + "_" + m: [] for k in ways
               for m in ("conn", "cpu_conn", "fan", "cpu_fan", "p50", "p99")}

        def measured(args, ca, rate=None):
            c0 = cpu_s(pid)
            out = run(args, ca, rate)
            return out, cpu_s(pid) - c0

        for r in range(a.rounds):
            for k, (port, ca) in ways.items():
                o, c = measured(["connect", "127.0.0.1", port, a.seconds, "bob", tok_b], ca)
                n = float(o["connects_per_s"])
                res[k + "_conn"].append(n)
                res[k + "_cpu_conn"].append(c * 1e6 / (n * a.seconds))
            for k, (port, ca) in ways.items():
                o, c = measured(["fanout", "127.0.0.1", port, a.subs, a.messages, topic,
                                 "bob", tok_b, "alice", tok_a], ca)
                res[k + "_fan"].append(float(o["deliveries_per_s"]))
                res[k + "_cpu_fan"].append(c * 1e6 / (a.subs * a.messages))
            for k, (port, ca) in ways.items():
                o = run(["fanout", "127.0.0.1", port, a.subs, 1000, topic, "bob", tok_b,
                         "alice", tok_a], ca, rate=200)
                res[k + "_p50"].append(int(o["p50_us"]))
                res[k + "_p99"].append(int(o["p99_us"]))
            print("round %d: connects/s tls %.0f clear %.0f | deliveries/s tls %.0f clear %.0f"
                  " | p99 us tls %d clear %d" % (
                      r + 1, res["tls_conn"][-1], res["clear_conn"][-1], res["tls_fan"][-1],
                      res["clear_fan"][-1], res["tls_p99"][-1], res["clear_p99"][-1]),
                  flush=True)
    m = {k: statistics.median(v) for k, v in res.items()}
    print()
    print("| measure (median of %d rounds, one broker) | MQTT over TLS | clear text | ratio |"
          % a.rounds)
    print("|---|---|---|---|")
    print("| connects/s, each a full handshake (4 in flight) | %.0f | %.0f | %.2f |" % (
        m["tls_conn"], m["clear_conn"], m["tls_conn"] / m["clear_conn"]))
    print("| broker CPU per connect (us) | %.0f | %.0f | %.2f |" % (
        m["tls_cpu_conn"], m["clear_cpu_conn"], m["tls_cpu_conn"] / m["clear_cpu_conn"]))
    print("| fan-out deliveries/s (1 -> %d, QoS 0) | %.0f | %.0f | %.2f |" % (
        a.subs, m["tls_fan"], m["clear_fan"], m["tls_fan"] / m["clear_fan"]))
    print("| broker CPU per delivery (us) | %.2f | %.2f | %.2f |" % (
        m["tls_cpu_fan"], m["clear_cpu_fan"], m["tls_cpu_fan"] / m["clear_cpu_fan"]))
    print("| delivery latency p50 (us), 200 msg/s | %d | %d | %.2f |" % (
        m["tls_p50"], m["clear_p50"], m["tls_p50"] / max(1, m["clear_p50"])))
    print("| delivery latency p99 (us), 200 msg/s | %d | %d | %.2f |" % (
        m["tls_p99"], m["clear_p99"], m["tls_p99"] / max(1, m["clear_p99"])))


if __name__ == "__main__":
    main()
