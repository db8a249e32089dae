#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Backends through the Socket.IO gateway (docs/performance.md "Calls and
hooked rooms through hub-bridge"), side by side in one run, rounds
interleaved:

  * calls: SOCKETS Socket.IO clients (bench/sio_bench.mjs, raw Engine.IO
    over WebSocket, cookie auth from a real login) on the namespace /shop,
    each keeping WINDOW calls of a trivial method (`order`, answered
    {ok, echo, user}) waiting for their ack, for SECONDS:
      - the Node reference stack (bench/peers: express + express-session +
        passport + socket.io 4; the handler `socket.on('order', (data, ack)
        => ack({...}))` in the server process),
      - the hub: hub-bridge + mosquitto with hub_auth.so + one Node SDK
        backend (bench/sdk_backend.mjs: hub.handle('order', ...)),
      - the hub with two backend processes of the service (shared
        subscription);
    calls/s, round trip p50/p99, and the servers' CPU per call (hub:
    bridge + broker + backends; node: its process);
  * the same 1 vs 2 backend processes for a backend that answers one call
    at a time after 2 ms (`order_db` of its own service `shopdb`, SDK
    concurrency 1: one database connection), where the second process is
    what the work needs;
  * room fan-out through the gateway: RECEIVERS sockets in a room and one
    sender emitting with acks (64 awaiting their ack), the room unhooked vs
    hooked to a Node SDK backend that accepts everything: deliveries/s, and
    latency p50/p99 at 50 events/s.

Every phase runs --rounds times (3), the members of a comparison one right
after the other (the first alternating); the report gives the medians of
the figures and of each round's ratio. The backend processes and the Node
server run warmed up (a first unmeasured pass of each path). Never part of
make test.

Usage: bench/sio_backends_bench.py [--rounds N] [--sockets N] [--window N]
       [--seconds S] [--receivers N] [--events N] [--fan-window N] [--json FILE]
"""
import argparse
import contextlib
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
from sio_bench import client, median, node_stack, ratio  # noqa: E402

BACKEND = os.path.join(HERE, "sdk_backend.mjs")


class Backend:
    """One Node SDK backend process (bench/sdk_backend.mjs)."""

    def __init__(self, st, service, key, concurrency=None):
        self.p = subprocess.Popen(
            ["node", BACKEND, "mqtt://127.0.0.1:%d" % st.ports["mqtt"], service, key] +
            ([str(concurrency), "2"] if concurrency else []),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=harness.REPO)
        if self.p.stdout.readline().strip() != "ready":
            raise RuntimeError("backend did not start")

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


def servicekey(st, name):
    out = st.hubctl("servicekey", "add", name).stdout
    return [ln.split(": ", 1)[1] for ln in out.splitlines() if ln.startswith("key: ")][0]


@contextlib.contextmanager
def hub_stack():
    """The hub on a private stack: yields {url, cookie, pids, st, keys}."""
    st = harness.Stack(extra_conf={"log_level": "warn", "sio_event_rate": 1000000,
                                   "sio_calls_per_socket": 10000, "sio_calls_max": 1000000,
                                   "hook_sender_pending_max": 10000,
                                   "hook_room_pending_max": 10000})
    try:
        st.prepare_data()
        st.start("broker", ["mosquitto", "-c", st.broker_conf(debug=False)], st.ports["mqtt"])
        st.start_hubd()
        st.add_user("bench", password="bench-pw", rooms={"lobby": "write", "hooked": "write"})
        keys = {n: servicekey(st, n) for n in ("shop", "shopdb", "chat")}
        st.hubctl("room", "hook", "hooked", "chat")
        st.start_bridge()
        cookie, _, _ = st.login("bench", "bench-pw")
        yield {"url": st.sio_url(), "cookie": "hub_sid=" + cookie, "st": st, "keys": keys,
               "pids": [st.procs["bridge"].pid, st.procs["broker"].pid]}
    finally:
        st.close()


def run(s, cfg, extra_pids=()):
    """One phase (its result has each server process's CPU seconds between
    the phase's marks in split_cpu_s, in the order of pids)."""
    c = dict(cfg, url=s["url"], cookie=s["cookie"])
    return client(c, list(s["pids"]) + list(extra_pids))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sockets", type=int, default=100)
    ap.add_argument("--window", type=int, default=1, help="calls each socket keeps waiting")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--receivers", type=int, default=100)
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--fan-window", type=int, default=64,
                    help="acked emits the fan-out sender keeps waiting (64, as sio_bench.py; "
                         "a hooked event's ack waits for the verdict, so a small window "
                         "measures the hook's round trip under load, a large one the "
                         "fan-out capacity)")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "sio_backends.json"))
    a = ap.parse_args()
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    calls = {"mode": "calls", "n": a.sockets, "window": a.window, "seconds": a.seconds,
             "nsp": "/shop", "method": "order"}
    res = {k: [] for k in ("node", "hub1", "hub2", "db1", "db2", "plain", "hooked")}
    with hub_stack() as hub, node_stack() as node:
        st, keys = hub["st"], hub["keys"]
        hooker = Backend(st, "chat", keys["chat"])
        # long-lived backend processes, warmed up like the Node server is
        # by the first round (the JIT compiles the hot paths)
        b1 = Backend(st, "shop", keys["shop"])
        run(hub, dict(calls, seconds=2), [b1.p.pid])
        run(node, dict(calls, seconds=2))
        run(hub, {"mode": "fanout", "n": a.receivers, "events": 500, "window": a.fan_window,
                  "rate": 50, "latency_events": 10, "room": "hooked"}, [hooker.p.pid])
        for rnd in range(a.rounds):
            # node and the hub with one backend, the first alternating
            pair = [("node", lambda: run(node, calls)),
                    ("hub1", lambda: run(hub, calls, [b1.p.pid]))]
            for name, fn in (pair if rnd % 2 == 0 else pair[::-1]):
                res[name].append(fn())
            b2 = Backend(st, "shop", keys["shop"])
            run(hub, dict(calls, seconds=1), [b2.p.pid])  # its JIT warm-up, not measured
            res["hub2"].append(run(hub, calls, [b1.p.pid, b2.p.pid]))
            b2.close()
            # a backend that waits 2 ms on its database for each call, one
            # at a time (its own service): 1 process, then 2
            db = dict(calls, method="order_db", nsp="/shopdb")
            d1 = Backend(st, "shopdb", keys["shopdb"], concurrency=1)
            res["db1"].append(run(hub, db, [d1.p.pid]))
            d2 = Backend(st, "shopdb", keys["shopdb"], concurrency=1)
            res["db2"].append(run(hub, db, [d1.p.pid, d2.p.pid]))
            d1.close()
            d2.close()
            # fan-out through the gateway: unhooked room vs hooked room
            fan = {"mode": "fanout", "n": a.receivers, "events": a.events,
                   "window": a.fan_window,
                   "rate": 50, "latency_events": 100}
            pair = [("plain", dict(fan, room="lobby")), ("hooked", dict(fan, room="hooked"))]
            for name, cfg in (pair if rnd % 2 == 0 else pair[::-1]):
                res[name].append(run(hub, cfg, [hooker.p.pid]))
            print("round %d: calls/s node %.0f, hub 1 backend %.0f, 2 backends %.0f | db-bound "
                  "1 %.0f, 2 %.0f | deliveries/s unhooked %.0f, hooked %.0f" % (
                      rnd + 1, res["node"][-1]["calls_per_s"], res["hub1"][-1]["calls_per_s"],
                      res["hub2"][-1]["calls_per_s"], res["db1"][-1]["calls_per_s"],
                      res["db2"][-1]["calls_per_s"], res["plain"][-1]["deliveries_per_s"],
                      res["hooked"][-1]["deliveries_per_s"]), flush=True)
        hooker.close()
        b1.close()

    def med(name, key):
        return median([r[key] for r in res[name]])

    def per_call_us(r):
        return r["server_cpu_s"] * 1e6 / r["calls"] if r.get("calls") else float("nan")

    def rat(x, y, key, fn=None):
        f = fn or (lambda r: r[key])
        return median([ratio(f(p), f(q)) for p, q in zip(res[x], res[y])])

    print()
    print("%d sockets x %d calls waiting, %.0f s a phase; medians of %d rounds "
          "(load average at the end: %s)" % (a.sockets, a.window, a.seconds, a.rounds,
                                              open("/proc/loadavg").read().split()[0]))
    print("| | hub | baseline | ratio (median of rounds) | goal |")
    print("|---|---|---|---|---|")
    print("| calls/s, hub (1 backend) vs node | %.0f | %.0f | %.2f | >= 1 |" % (
        med("hub1", "calls_per_s"), med("node", "calls_per_s"),
        rat("hub1", "node", "calls_per_s")))
    print("| round trip p50 ms, hub vs node | %.2f | %.2f | %.2f | |" % (
        med("hub1", "p50_ms"), med("node", "p50_ms"), rat("hub1", "node", "p50_ms")))
    print("| round trip p99 ms, hub vs node | %.2f | %.2f | %.2f | <= 2 |" % (
        med("hub1", "p99_ms"), med("node", "p99_ms"), rat("hub1", "node", "p99_ms")))
    print("| server CPU per call (us), hub vs node | %.1f | %.1f | %.2f | |" % (
        median([per_call_us(r) for r in res["hub1"]]),
        median([per_call_us(r) for r in res["node"]]),
        rat("hub1", "node", None, per_call_us)))
    split = [median([r["split_cpu_s"][i] * 1e6 / r["calls"] for r in res["hub1"]])
             for i in range(3)]
    print("| of which hub-bridge / mosquitto + plugin / Node SDK backend (us) | %.1f / %.1f / "
          "%.1f | | | |" % tuple(split))
    print("| calls/s, 2 backend processes vs 1 | %.0f | %.0f | %.2f | >= 1.6 |" % (
        med("hub2", "calls_per_s"), med("hub1", "calls_per_s"),
        rat("hub2", "hub1", "calls_per_s")))
    print("| round trip p50 / p99 ms, 2 backends | %.2f / %.2f | | | |" % (
        med("hub2", "p50_ms"), med("hub2", "p99_ms")))
    print("| calls/s, 2 vs 1 processes answering one call at a time after 2 ms | %.0f | %.0f "
          "| %.2f | >= 1.6 |" % (med("db2", "calls_per_s"), med("db1", "calls_per_s"),
                                  rat("db2", "db1", "calls_per_s")))
    print("| fan-out deliveries/s to %d sockets, hooked vs unhooked room (window %d) | %.0f | "
          "%.0f | %.2f | >= 0.8 |" % (a.receivers, a.fan_window, med("hooked", "deliveries_per_s"),
                          med("plain", "deliveries_per_s"),
                          rat("hooked", "plain", "deliveries_per_s")))
    print("| delivery latency p50 / p99 ms at 50 ev/s, hooked vs unhooked | %.2f / %.2f | "
          "%.2f / %.2f | %.2f / %.2f | |" % (
              med("hooked", "p50_ms"), med("hooked", "p99_ms"), med("plain", "p50_ms"),
              med("plain", "p99_ms"), rat("hooked", "plain", "p50_ms"),
              rat("hooked", "plain", "p99_ms")))
    print("\nper round: " + "; ".join(
        "%s %s" % (k, " ".join("%.0f" % r.get("calls_per_s", r.get("deliveries_per_s", 0))
                                for r in v)) for k, v in res.items()))
    res["when"] = time.strftime("%Y-%m-%d %H:%M:%S")
    res["args"] = vars(a)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
