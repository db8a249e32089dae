#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What `hubctl backup` and `hubctl restore` cost (docs/deploy.md).

For stores of a few sizes (users plus chat history, built straight into
the SQLite file), measures side by side in one run:

  backup    wall time of `hubctl backup FILE` (process start to exit: the
            online copy, the key, the quick_check, fsync and rename);
  restore   wall time of `hubctl restore FILE --yes` over an existing store
            (stack stopped);
  writers   a writer committing one history row per transaction into the
            live store (like hub_auth.so's history writer, WAL mode) while
            `hubctl backup` runs in a loop, against the same writer alone:
            commits per second and p50/p99 commit latency, as ratios;
  wal       the -wal file's largest size, writer alone and writer with
            backups (a backup's read transaction holds back checkpoints
            while it copies, so the WAL takes what is written meanwhile).
The writer runs alone and with backups alternately, --runs times each.

Usage: bench/backup.py [--sizes 20000,200000,600000] [--seconds 4]
(sizes: history rows; each row carries a 200-byte payload)
"""
import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
import harness  # noqa: E402

HUBCTL = os.path.join(harness.BIN, "hubctl")


def make_store(conf, data, rows):
    env = dict(os.environ, HUB_CONFIG=conf)
    subprocess.run([HUBCTL, "--create-store", "room", "add", "lobby"], env=env, check=True,
                   capture_output=True)
    c = sqlite3.connect(os.path.join(data, "hub.db"))
    c.execute("BEGIN")
    c.execute("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) "
              "INSERT INTO principals(name, kind, display_name, role, pw_hash, created_at) "
              "SELECT printf('user%05d', i), 'user', printf('User %d', i), 'user', "
              "'scrypt$15$8$3$' || hex(randomblob(40)), 0 FROM n")
    c.execute("WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
              "INSERT INTO messages(room, event, sender, ts, data) SELECT 'lobby', "
              "'chat message', printf('user%05d', i % 10000), i, randomblob(200) FROM n",
              (rows - 1,))
    c.execute("COMMIT")
    c.close()
    return env


def timed(argv, env):
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("%s: %s" % (argv, r.stderr))
    return time.perf_counter() - t0


class Writer:
    """One history row per transaction, as fast as it goes, latencies kept."""

    def __init__(self, db):
        self.db = db
        self.lat = []
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)

    def run(self):
        c = sqlite3.connect(self.db, isolation_level=None, timeout=30)
        c.execute("PRAGMA synchronous=NORMAL")
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # each phase from an empty WAL
        self.ready.set()
        payload = os.urandom(200)
        i = 0
        while not self.stop.is_set():
            t0 = time.perf_counter()
            c.execute("BEGIN IMMEDIATE")
            c.execute("INSERT INTO messages(room, event, sender, ts, data) VALUES "
                      "('lobby', 'chat message', 'user00001', ?, ?)", (i, payload))
            c.execute("COMMIT")
            self.lat.append(time.perf_counter() - t0)
            i += 1
        c.close()

    def __enter__(self):
        self.t.start()
        self.ready.wait()
        self.t0 = time.perf_counter()
        return self

    def wal_mib(self):
        try:
            return os.path.getsize(self.db + "-wal") / 2**20
        except OSError:
            return 0.0

    def __exit__(self, *exc):
        self.stop.set()
        self.t.join()
        self.secs = time.perf_counter() - self.t0


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="20000,200000,600000")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print("store rows | store MiB | backup s | backup MiB | restore s | writer alone: "
          "commits/s p50 p99 ms | writer + backups: commits/s p50 p99 ms | backups done | "
          "wal MiB peak alone, with backups")
    for rows in (int(x) for x in args.sizes.split(",")):
        tmp = tempfile.mkdtemp(prefix="hubbench-")
        try:
            data = os.path.join(tmp, "data")
            conf = os.path.join(tmp, "hub.conf")
            with open(conf, "w") as f:
                f.write("data_dir = %s\nrun_as =\n" % data)
            env = make_store(conf, data, rows)
            db = os.path.join(data, "hub.db")
            size = os.path.getsize(db) / 2**20
            bfile = os.path.join(tmp, "b.db")
            bt = statistics.median(timed([HUBCTL, "backup", bfile, "--force"], env)
                                   for _ in range(args.runs))
            bsize = os.path.getsize(bfile) / 2**20
            rt = statistics.median(timed([HUBCTL, "restore", bfile, "--yes"], env)
                                   for _ in range(args.runs))
            # alternate the two conditions, side by side, and keep all
            alone_rates, loaded_rates, alone_lat, loaded_lat = [], [], [], []
            n_backups, wal_alone, wal_loaded = 0, 0.0, 0.0
            for _ in range(args.runs):
                with Writer(db) as w:
                    deadline = time.time() + args.seconds
                    while time.time() < deadline:
                        time.sleep(0.05)
                        wal_alone = max(wal_alone, w.wal_mib())
                alone_rates.append(len(w.lat) / w.secs)
                alone_lat += w.lat
                with Writer(db) as w:
                    deadline = time.time() + args.seconds
                    while time.time() < deadline:
                        timed([HUBCTL, "backup", bfile, "--force"], env)
                        n_backups += 1
                        wal_loaded = max(wal_loaded, w.wal_mib())
                loaded_rates.append(len(w.lat) / w.secs)
                loaded_lat += w.lat
            print("%9d | %8.1f | %8.3f | %10.1f | %9.3f | %8.0f %6.2f %6.2f | %8.0f %6.2f %6.2f "
                  "| %3d | %.1f %.1f" % (
                      rows, size, bt, bsize, rt,
                      statistics.median(alone_rates), pct(alone_lat, .5) * 1e3,
                      pct(alone_lat, .99) * 1e3,
                      statistics.median(loaded_rates), pct(loaded_lat, .5) * 1e3,
                      pct(loaded_lat, .99) * 1e3, n_backups, wal_alone, wal_loaded))
            sys.stdout.flush()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
