#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The game lobby (examples/lobby) under load: PLAYERS players at TABLES
tables (10 seats each by default), half of them MQTT.js clients (MQTT 5, as
hubio.js), half stock socket.io-client through hub-bridge (--clients mqtt
or sio for one kind), each acting RATE times a second: table chat and
ready toggles, through the lobby's backend (the table rooms are hooked to
it). Side by side, rounds interleaved, the baseline: the same chat in
unhooked rooms of the same size (no backend on the path), so the ratio is
what the backend hop costs.

Reported per mode (medians over the rounds): event latency p50/p99 from
the send to each other player's receipt (chat: the accepted event; ready:
the backend's feed line `log`), the sender's ack (the verdict in hooked
rooms), deliveries missing, and the CPU seconds of the broker, hub-bridge
and the lobby backend per round.

Usage: bench/lobby_bench.py [--players 200] [--tables 20] [--rate 0.25]
         [--seconds 20] [--rounds 3] [--clients mixed|mqtt|sio] [--json FILE]
(HUB_BUILD_DIR selects the build.) Results to stdout and
bench/results/lobby.json. Never part of make test.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--players", type=int, default=200)
    ap.add_argument("--tables", type=int, default=20)
    ap.add_argument("--rate", type=float, default=0.25, help="actions a second per player")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--rounds", type=int, default=3, help="pairs of rounds (plain, lobby)")
    ap.add_argument("--clients", choices=("mixed", "mqtt", "sio"), default="mixed")
    ap.add_argument("--json", default=os.path.join(HERE, "results", "lobby.json"))
    a = ap.parse_args()
    if a.players % a.tables:
        sys.exit("--players must be a multiple of --tables")
    per = a.players // a.tables
    if per > 64:
        sys.exit("at most 64 players a table")

    st = harness.Stack()
    try:
        st.start_broker(debug=False)
        st.start_hubd()
        st.start_bridge()
        t0 = time.time()
        users = ["p%03d" % i for i in range(a.players)]
        tables = ["bench.t%02d" % i for i in range(a.tables)]
        plains = ["bench.p%02d" % i for i in range(a.tables)]
        tfile = os.path.join(st.dir, "bench-tables.conf")
        with open(tfile, "w") as f:
            for t in tables:
                f.write("%s %d %s\n" % (t, per, t))
        # rooms, hooks and grants in one hubctl batch (setup.sh would run
        # hubctl once per grant)
        st.example_keys = {"lobby": st.servicekey("lobby")}
        batch = ["room add games"] + ["room add %s" % r for r in tables + plains]
        batch += ["room hook %s lobby" % t for t in tables]
        for i, u in enumerate(users):
            batch.append("user add %s --password bench-pw-%s" % (u, u))
            batch.append("grant games %s read" % u)
            batch.append("grant %s %s write" % (tables[i % a.tables], u))
            batch.append("grant %s %s write" % (plains[i % a.tables], u))
        st.hubctl("batch", input="\n".join(batch) + "\n")
        # the backend as the stack starts it; no countdown ever (more
        # players needed than there are seats), no line per action
        st.start_example("lobby", setup=False, env={
            "LOBBY_TABLES": tfile, "LOBBY_MIN_PLAYERS": str(min(64, per + 1)),
            "LOBBY_QUIET": "1"})
        with ThreadPoolExecutor(4) as ex:
            tokens = list(ex.map(st.token, users))
        kinds = {"mixed": ("mqtt", "sio"), "mqtt": ("mqtt",), "sio": ("sio",)}[a.clients]
        players = [{"user": u, "token": tokens[i], "table": tables[i % a.tables],
                    "plain": plains[i % a.tables], "kind": kinds[i % len(kinds)]}
                   for i, u in enumerate(users)]
        print("setup: %d players, %d tables (%d seats), %s clients, %.1f s" % (
            a.players, a.tables, per, a.clients, time.time() - t0), flush=True)
        cfg = {"mqttUrl": "mqtt://127.0.0.1:%d" % st.ports["mqtt"], "sioUrl": st.sio_url(),
               "players": players, "rate": a.rate, "seconds": a.seconds, "perRoom": per,
               "rounds": ["plain", "lobby"] * a.rounds}
        pids = {"broker": st.procs["broker"].pid, "bridge": st.procs["bridge"].pid,
                "backend": st.procs["ex-lobby"].pid}
        p = subprocess.Popen(["node", os.path.join(HERE, "lobby_bench.mjs")], cwd=harness.REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        p.stdin.write(json.dumps(cfg) + "\n")
        p.stdin.flush()
        rounds = []
        cpu0 = None
        for line in p.stdout:
            ev = json.loads(line)
            if ev["ev"] == "start":
                cpu0 = {k: cpu_s(v) for k, v in pids.items()}
            elif ev["ev"] == "round":
                ev["cpu_s"] = {k: round(cpu_s(v) - cpu0[k], 2) for k, v in pids.items()}
                rounds.append(ev)
                print("%-5s chat p50 %6.2f p99 %7.2f ms (%d/%d)  state p50 %s p99 %s (%d/%d)  "
                      "ack p50 %6.2f p99 %7.2f  cpu %s" % (
                          ev["mode"], ev["chat"]["p50"], ev["chat"]["p99"], ev["chat"]["got"],
                          ev["chat"]["expected"], ev["state"]["p50"], ev["state"]["p99"],
                          ev["state"]["got"], ev["state"]["expected"], ev["ack"]["p50"],
                          ev["ack"]["p99"], ev["cpu_s"]), flush=True)
            elif ev["ev"] in ("connected", "seated"):
                print(ev, flush=True)
        if p.wait() != 0:
            sys.exit("the load generator failed")
    finally:
        st.close()

    def med(mode, path):
        vals = []
        for r in rounds:
            if r["mode"] != mode:
                continue
            v = r
            for k in path:
                v = v[k]
            if v is not None:
                vals.append(v)
        return statistics.median(vals) if vals else None

    summary = {"players": a.players, "tables": a.tables, "seats": per, "rate": a.rate,
               "clients": a.clients, "seconds": a.seconds, "rounds": rounds}
    for mode in ("plain", "lobby"):
        summary[mode] = {k: med(mode, path) for k, path in (
            ("chat_p50", ("chat", "p50")), ("chat_p99", ("chat", "p99")),
            ("state_p50", ("state", "p50")), ("state_p99", ("state", "p99")),
            ("ack_p50", ("ack", "p50")), ("ack_p99", ("ack", "p99")),
            ("broker_cpu_s", ("cpu_s", "broker")), ("bridge_cpu_s", ("cpu_s", "bridge")),
            ("backend_cpu_s", ("cpu_s", "backend")))}
        lost = sum(r["chat"]["expected"] - r["chat"]["got"] + r["state"]["expected"] -
                   r["state"]["got"] for r in rounds if r["mode"] == mode)
        summary[mode]["missing"] = lost
    pl, lo = summary["plain"], summary["lobby"]
    summary["ratio_chat_p50"] = round(lo["chat_p50"] / pl["chat_p50"], 2)
    summary["ratio_chat_p99"] = round(lo["chat_p99"] / pl["chat_p99"], 2)
    print("\nmedians over %d rounds each (ms):" % a.rounds)
    print("  plain rooms (no backend):  chat p50 %.2f  p99 %.2f   ack p50 %.2f  p99 %.2f" % (
        pl["chat_p50"], pl["chat_p99"], pl["ack_p50"], pl["ack_p99"]))
    print("  lobby (hooked, backend):   chat p50 %.2f  p99 %.2f   ready->state p50 %.2f  p99 %.2f"
          "   verdict p50 %.2f  p99 %.2f" % (lo["chat_p50"], lo["chat_p99"], lo["state_p50"],
                                             lo["state_p99"], lo["ack_p50"], lo["ack_p99"]))
    print("  lobby / plain: chat p50 x%.2f, p99 x%.2f; missing deliveries: plain %d, lobby %d" % (
        summary["ratio_chat_p50"], summary["ratio_chat_p99"], pl["missing"], lo["missing"]))
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
