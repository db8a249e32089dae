#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Change-to-enforcement time of the store, SQLite and PostgreSQL side by
side in one run (docs/performance.md, docs/scaling.md "The store on
PostgreSQL"), on the real broker + plugin and gateway.

For each engine (--store sqlite, postgresql or both, the default):

  commit -> in force   a membership change (a grant, then its revoke) is
                       committed straight into the store, by Python's
                       sqlite3 or by one long-lived psql session, and the
                       clock starts when the commit returned; a live MQTT
                       client of the granted user subscribes again and
                       again until SUBACK grants it (after a grant) or
                       refuses it (after a revoke). Nobody asks the
                       followers: SQLite's follower notices by its
                       data_version poll (refresh_ms), PostgreSQL's by
                       NOTIFY hub_change (its refresh_ms poll only as a
                       fallback).
  hubctl grant/revoke  whole commands, process start to exit: the change
                       in force on every follower when they return (sync
                       sockets on SQLite, node_applied on PostgreSQL).

Usage: bench/consistency_store.py [--store sqlite|postgresql|both] [--rounds N]
"""
import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402
from mqttraw import RawClient  # noqa: E402

GRANT = "INSERT INTO memberships(room, principal, level) VALUES('bench', 'probe', 1)"
REVOKE = "DELETE FROM memberships WHERE room = 'bench' AND principal = 'probe'"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def line(name, xs):
    print("  %-30s p50 %7.2f ms   p99 %7.2f ms   max %7.2f ms   (n=%d)" % (
        name, pct(xs, 50), pct(xs, 99), max(xs), len(xs)))


class SqliteWriter:
    def __init__(self, st):
        self.db = sqlite3.connect(os.path.join(st.data, "hub.db"), isolation_level=None,
                                  timeout=10)

    def commit(self, sql):
        self.db.execute("BEGIN IMMEDIATE")
        self.db.execute(sql)
        self.db.execute("COMMIT")

    def close(self):
        self.db.close()


class PgWriter:
    """One psql session: a statement, then an echo that comes back only
    after the statement (and its commit) finished."""

    def __init__(self, ci):
        psql = sorted(__import__("glob").glob("/usr/lib/postgresql/*/bin/psql"))[-1]
        self.p = subprocess.Popen([psql, "-X", "-q", "-d", ci], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def commit(self, sql):
        self.p.stdin.write(sql + ";\n\\echo done\n")
        self.p.stdin.flush()
        while self.p.stdout.readline().strip() != "done":
            pass

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


def run(engine, rounds):
    pg = None
    st = harness.Stack(extra_conf={"log_level": "warn"})
    try:
        if engine == "postgresql":
            # beside the stack's directory: it outlives the services
            pg = harness.PgCluster(tempfile.mkdtemp(prefix="hubpg-"))
            ci = pg.ci
            st.conf["store"] = '"%s"' % ci
            st.write_conf(st.conf)
        st.prepare_data()
        st.add_user("probe", rooms={"other": "read"})
        st.hubctl("room", "add", "bench")
        st.start_broker(debug=False)
        st.start_bridge()
        writer = PgWriter(ci) if engine == "postgresql" else SqliteWriter(st)
        probe = RawClient(st.ports["mqtt"])
        assert probe.connect("probe", st.token("probe"), client_id="probe", version=5) == 0
        res = {"commit -> in force, grant": [], "commit -> in force, revoke": []}
        for _ in range(rounds):
            for sql, want, key in ((GRANT, 1, "commit -> in force, grant"),
                                   (REVOKE, 0x87, "commit -> in force, revoke")):
                writer.commit(sql)
                t0 = time.perf_counter()
                while probe.subscribe(["rooms/bench/ev/#"])[0] != want:
                    pass
                res[key].append((time.perf_counter() - t0) * 1000)
                if want == 1:
                    probe.unsubscribe(["rooms/bench/ev/#"])
        probe.close()
        writer.close()
        res["hubctl grant (whole command)"] = []
        res["hubctl revoke (whole command)"] = []
        for _ in range(max(1, rounds // 2)):
            t0 = time.perf_counter()
            st.hubctl("grant", "bench", "probe", "read")
            res["hubctl grant (whole command)"].append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            st.hubctl("revoke", "bench", "probe")
            res["hubctl revoke (whole command)"].append((time.perf_counter() - t0) * 1000)
        return res
    finally:
        st.close()
        if pg:
            pg.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--rounds", type=int, default=100)
    a = ap.parse_args()
    engines = ("sqlite", "postgresql") if a.store == "both" else (a.store,)
    out = {e: run(e, a.rounds) for e in engines}
    for e in engines:
        print("%s store (refresh_ms 200, the default; %d rounds):" % (e, a.rounds))
        for k, v in out[e].items():
            line(k, v)
    if len(engines) == 2:
        for k in out["sqlite"]:
            print("  ratio postgresql / sqlite, %s: p50 %.3f" % (
                k, pct(out["postgresql"][k], 50) / pct(out["sqlite"][k], 50)))


if __name__ == "__main__":
    main()
