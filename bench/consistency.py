#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Commit-to-enforcement time of admin changes, on the real broker + plugin
and gateway (CONTRACT.md, "Consistency of administrative changes").

Each round commits one membership change (a grant, then its revoke) with
Python's sqlite3 straight into the store, exactly as hubctl does, and then
measures, side by side in the same run:

  sync     the time from the commit until each follower (broker plugin and
           gateway, asked at once) answers "ok" on its sync socket, i.e. has
           applied the change (what hubctl and hubd wait for before they
           return);
  polling  the time from the commit until a probe sees the change in force
           WITHOUT asking (the follower notices on its own: data_version
           poll every refresh_ms, then the broker's next tick): what every
           change cost before the sync sockets existed.

The probe for "polling" is a live MQTT client of the granted user that
subscribes to the room again and again until SUBACK grants it (after a
grant) or refuses it (after a revoke).

It also times whole `hubctl grant` / `hubctl revoke` commands (process
start to exit, the change in force on return).

Usage: bench/consistency.py [--rounds N]
"""
import argparse
import os
import socket
import sqlite3
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402
from mqttraw import RawClient  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def line(name, xs):
    print("  %-34s p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms   (n=%d)" % (
        name, pct(xs, 50), pct(xs, 99), max(xs), len(xs)))


def ask(path, seq):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(b"sync %d\n" % seq)
    return s


def answer(s):
    out = b""
    while not out.endswith(b"\n"):
        d = s.recv(64)
        if not d:
            break
        out += d
    s.close()
    return out


def commit(db, sql, args):
    db.execute("BEGIN IMMEDIATE")
    db.execute(sql, args)
    seq = db.execute("SELECT max(seq) FROM change_log").fetchone()[0]
    db.execute("COMMIT")
    return seq


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100)
    a = ap.parse_args()
    with harness.Stack(extra_conf={"log_level": "warn"}) as st:
        st.prepare_data()
        st.add_user("probe", rooms={"other": "read"})
        st.hubctl("room", "add", "bench")
        st.start_broker(debug=False)
        st.start_bridge()
        sync_dir = os.path.join(st.data, "sync")
        harness.wait_until(lambda: len(os.listdir(sync_dir)) == 2, 10)
        socks = {("broker" if f.startswith("broker") else "gateway"): os.path.join(sync_dir, f)
                 for f in os.listdir(sync_dir)}
        db = sqlite3.connect(os.path.join(st.data, "hub.db"), isolation_level=None,
                             timeout=10)
        probe = RawClient(st.ports["mqtt"])
        assert probe.connect("probe", st.token("probe"), client_id="probe", version=5) == 0
        res = {k: [] for k in ("sync broker", "sync gateway", "polling grant", "polling revoke")}
        grant = ("INSERT INTO memberships(room, principal, level) VALUES('bench', 'probe', 1)")
        revoke = "DELETE FROM memberships WHERE room = 'bench' AND principal = 'probe'"
        for i in range(a.rounds):
            if i % 2 == 0:
                # sync: commit, then ask both followers (hubctl's way)
                for sql, in ((grant,), (revoke,)):
                    seq = commit(db, sql, ())
                    t0 = time.perf_counter()
                    conns = {n: ask(p, seq) for n, p in socks.items()}
                    for name, s in conns.items():
                        out = answer(s)
                        assert out.startswith(b"ok"), out
                        res["sync " + name].append((time.perf_counter() - t0) * 1000)
            else:
                # polling: commit and watch, asking nobody
                for sql, want, key in ((grant, 1, "polling grant"),
                                       (revoke, 0x87, "polling revoke")):
                    commit(db, sql, ())
                    t0 = time.perf_counter()
                    while True:
                        code = probe.subscribe(["rooms/bench/ev/#"])[0]
                        if code == want:
                            break
                    res[key].append((time.perf_counter() - t0) * 1000)
                    if want == 1:
                        probe.unsubscribe(["rooms/bench/ev/#"])
        probe.close()
        cmd = {"hubctl grant": [], "hubctl revoke": []}
        for i in range(a.rounds // 2):
            t0 = time.perf_counter()
            st.hubctl("grant", "bench", "probe", "read")
            cmd["hubctl grant"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            st.hubctl("revoke", "bench", "probe")
            cmd["hubctl revoke"].append((time.perf_counter() - t0) * 1000)
        print("commit -> change in force (refresh_ms %s; %d rounds):" % (
            harness_refresh(st), a.rounds))
        for k, v in res.items():
            line(k, v)
        print("whole commands (process start to exit, in force on return):")
        for k, v in cmd.items():
            line(k, v)
        print("  (ratio sync broker p50 / polling p50: %.3f)" % (
            statistics.median(res["sync broker"]) /
            statistics.median(res["polling grant"] + res["polling revoke"])))


def harness_refresh(st):
    with open(st.conf_path) as f:
        for ln in f:
            if ln.startswith("refresh_ms"):
                return ln.split()[-1]
    return "200 (default)"


if __name__ == "__main__":
    main()
