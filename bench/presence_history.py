#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Presence cost and chat-history cost, on the real broker + plugin.

1. Presence: N users (default 1000), each its own principal, join one room
   (up to 50 connects in flight) and then all disconnect cleanly; one
   observer subscribed to rooms/bench/sys/+ times every joined/left notice
   from the user's CONNACK / DISCONNECT. Reports notices/s and p50/p99
   notice latency. presence_grace_ms is 0 here, so `left` latency is the
   plugin's own cost; in production a clean/network end waits the grace
   (800 ms by default) on purpose.
2. History: `chat message` fan-out (1 publisher -> 100 subscribers, QoS 0)
   on two brokers side by side, history_max 1000 (every message stored by
   the plugin's writer thread) vs 0 (history off); rounds interleaved.

Usage: bench/presence_history.py [--users N] [--rounds N]
"""
import argparse
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402

BENCH = os.path.join(harness.BUILD, "bench", "broker_bench")


def run(args, timeout=300):
    r = subprocess.run([BENCH] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("broker_bench %s failed: %s %s" % (args[0], r.stdout, r.stderr))
    return dict(kv.split("=", 1) for kv in r.stdout.split())


def batch(st, lines):
    r = st.hubctl("batch", input="\n".join(lines) + "\n")
    return r.stdout.splitlines()


def presence(users):
    with harness.Stack(extra_conf={"presence_grace_ms": 0, "log_level": "warn"}) as st:
        st.prepare_data()
        names = ["u%04d" % i for i in range(users)]
        lines = ["room add bench", "user add watcher --password watcher-pw",
                 "grant bench watcher read"]
        for n in names:
            lines += ["user add %s --password password-%s" % (n, n), "grant bench %s write" % n]
        batch(st, lines)
        toks = [l for l in batch(st, ["token %s --ttl 3600" % n for n in names])
                if l.startswith("eyJ")]
        cred = os.path.join(st.dir, "creds.txt")
        with open(cred, "w") as f:
            for n, t in zip(names, toks):
                f.write("%s %s\n" % (n, t))
        st.start_broker(debug=False)
        return run(["presence", "127.0.0.1", st.ports["mqtt"], "bench", cred, "watcher",
                    st.token("watcher", ttl=3600)])


def history(rounds, subs, messages):
    res = {"on": [], "off": []}
    stacks = {}
    try:
        for mode, hmax in (("on", 1000), ("off", 0)):
            st = harness.Stack(extra_conf={"history_max": hmax, "log_level": "warn"})
            stacks[mode] = st
            st.prepare_data()
            batch(st, ["room add bench", "user add alice --password alice-pw1",
                       "user add bob --password bob-pw12", "grant bench alice write",
                       "grant bench bob read"])
            st.start_broker(debug=False)
        topic = "rooms/bench/ev/chat message/alice"
        toks = {m: (s.token("bob", ttl=3600), s.token("alice", ttl=3600))
                for m, s in stacks.items()}
        for r in range(rounds):
            for mode in ("on", "off"):
                st = stacks[mode]
                b, a = toks[mode]
                v = run(["fanout", "127.0.0.1", st.ports["mqtt"], subs, messages, topic,
                         "bob", b, "alice", a])
                res[mode].append(float(v["deliveries_per_s"]))
            print("history round %d: on %.0f off %.0f deliveries/s" % (
                r + 1, res["on"][-1], res["off"][-1]), flush=True)
        stored = subprocess.run(["sqlite3", os.path.join(stacks["on"].data, "hub.db"),
                                 "select count(*) from messages"], capture_output=True,
                                text=True).stdout.strip()
    finally:
        for st in stacks.values():
            st.close()
    return statistics.median(res["on"]), statistics.median(res["off"]), stored


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--subs", type=int, default=100)
    ap.add_argument("--messages", type=int, default=3000)
    a = ap.parse_args()
    p = presence(a.users)
    on, off, stored = history(a.rounds, a.subs, a.messages)
    print()
    print("| presence, %d users in one room | notices/s | p50 latency | p99 latency |" % a.users)
    print("|---|---|---|---|")
    print("| joined (CONNACK -> notice) | %s | %.1f ms | %.1f ms |" % (
        p["join_per_s"], int(p["join_p50_us"]) / 1000, int(p["join_p99_us"]) / 1000))
    print("| left (DISCONNECT -> notice, grace 0) | %s | %.1f ms | %.1f ms |" % (
        p["leave_per_s"], int(p["leave_p50_us"]) / 1000, int(p["leave_p99_us"]) / 1000))
    print()
    print("| chat message fan-out 1 -> %d (median of %d) | deliveries/s |" % (a.subs, a.rounds))
    print("|---|---|")
    print("| history on (history_max 1000) | %.0f |" % on)
    print("| history off (history_max 0) | %.0f |" % off)
    print("| ratio on / off | %.2f |" % (on / off))
    print("(rows kept in the store with history on: %s, bounded by history_max)" % stored)


if __name__ == "__main__":
    main()
