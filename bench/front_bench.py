#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hubd's WebSocket front against Mosquitto's own WebSocket listener, MQTT
over TCP and the Node Socket.IO stack, side by side in one run (issue 13):

  - one connect at a time: p50 and p99 of upgrade (or TCP connect) to
    CONNACK (Socket.IO: to the CONNECT ack), and connects/s with 50 in
    flight;
  - fan-out 1 -> N (N = 100 and 1000 subscribers, QoS 0, 64-byte events, at
    most 64 events not yet delivered to everyone): deliveries/s through the
    front vs through Mosquitto's WebSocket listener;
  - memory per idle connection: hubd's heap (hub_heap_bytes) and RSS
    growth over 1000 idle MQTT connections through the front.

One broker (mosquitto + hub_auth.so) serves all MQTT targets: its TCP
listener (which the front relays to) and, for the comparison, a WebSocket
listener of its own that this benchmark adds to its config (the hub's
config has none). The front is measured with a token (as MQTT.js sends it)
and with the session cookie (the dashboard's way: a session lookup and a
token minted per connect). The Node stack is bench/peers (express +
express-session + passport + socket.io 4, cookie sessions), as in
bench/sio_bench.py. Every phase runs --rounds times (3), the targets one
right after the other in a rotating order; the report gives medians, and
for the goals the median of each round's ratio. Each phase also reports the
servers' CPU seconds (front: hubd + mosquitto; Mosquitto WS and TCP:
mosquitto; Node: the node process).

Usage: bench/front_bench.py [--quick] [--rounds N] [--json FILE]
(HUB_BUILD_DIR selects the build, default build/). Never part of make test.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
sys.path.insert(0, HERE)
from harness import Stack, free_port, wait_port  # noqa: E402
from sio_bench import cpu_s, median, node_stack, rss_kb  # noqa: E402


def client(cfg, pids, timeout=600):
    t0 = cpu_s(pids)
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.run(["node", os.path.join(HERE, "front_bench.mjs"), json.dumps(cfg)],
                       cwd=REPO, capture_output=True, text=True, timeout=timeout)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = [x for x in p.stdout.splitlines() if x.startswith("{")]
    r = json.loads(lines[-1]) if lines else {"error": p.stderr[-2000:]}
    if "error" in r:
        raise RuntimeError("bench client (%s): %s" % (cfg["mode"], r["error"]))
    r["server_cpu_s"] = cpu_s(pids) - t0
    # the load generator's own CPU: on a 2-core machine it competes with
    # the servers, so it bounds the wall-clock rates of every target
    r["client_cpu_s"] = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return r


def hub_stack():
    st = Stack(extra_conf={"log_level": "warn", "broker_conns_per_identity": 0,
                           "front_conns_per_address": 0, "front_conns_max": 20000})
    st.ports["mosq_ws"] = free_port()
    st.prepare_data()
    conf = st.broker_conf(debug=False, extra="listener %d 127.0.0.1\nprotocol websockets\n"
                          % st.ports["mosq_ws"])
    with open(conf) as f:
        text = f.read().replace("connection_messages true", "connection_messages false")
    for t in ("information", "notice"):
        text = text.replace("log_type %s\n" % t, "")
    with open(conf, "w") as f:
        f.write(text)
    st.start("broker", ["mosquitto", "-c", conf], st.ports["mqtt"])
    wait_port(st.ports["mosq_ws"], 10)
    st.start_hubd()
    st.add_user("bench", password="bench-pw", rooms={"lobby": "write"})
    return st


def targets(st, node, token, cookie):
    http, mqtt, mws = st.ports["http"], st.ports["mqtt"], st.ports["mosq_ws"]
    return {
        "front (token)": {"kind": "ws", "url": "ws://127.0.0.1:%d/mqtt" % http,
                          "username": "bench", "password": token},
        "front (cookie)": {"kind": "ws", "url": "ws://127.0.0.1:%d/mqtt" % http,
                           "username": "bench", "cookie": "hub_sid=" + cookie},
        "mosquitto ws": {"kind": "ws", "url": "ws://127.0.0.1:%d/" % mws,
                         "username": "bench", "password": token},
        "mqtt/tcp": {"kind": "tcp", "port": mqtt, "username": "bench", "password": token},
        "node socket.io": {"kind": "sio", "url": node["url"], "cookie": node["cookie"]},
    }


def pids_of(st, node, name):
    if name.startswith("front"):
        return [st.procs["hubd"].pid, st.procs["broker"].pid]
    if name == "node socket.io":
        return node["pids"]
    return [st.procs["broker"].pid]


def idle_memory(st, tgt, n):
    """hubd's heap and RSS growth, and the broker's RSS growth, with n idle
    MQTT connections through tgt."""
    hubd, broker = st.procs["hubd"].pid, st.procs["broker"].pid
    time.sleep(1.0)
    heap0, h0, b0 = st.metric("hub_heap_bytes"), rss_kb(hubd), rss_kb(broker)
    p = subprocess.Popen(["node", os.path.join(HERE, "front_bench.mjs"),
                          json.dumps({"mode": "idle", "target": tgt, "n": n})],
                         cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith('{"ready"'):
        raise RuntimeError("idle client: %r" % line)
    time.sleep(2.0)
    heap1, h1, b1 = st.metric("hub_heap_bytes"), rss_kb(hubd), rss_kb(broker)
    p.stdin.close()
    p.wait(60)
    return {"connections": n, "hubd_heap_per_conn": (heap1 - heap0) / n,
            "hubd_rss_per_conn": (h1 - h0) * 1024.0 / n,
            "broker_rss_per_conn": (b1 - b0) * 1024.0 / n}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=os.path.join(HERE, "results", "front.json"))
    a = ap.parse_args()
    n1 = 100 if a.quick else 300
    n50 = 500 if a.quick else 2000
    fan = ((100, 300 if a.quick else 1000), (1000, 50 if a.quick else 200))
    st = hub_stack()
    res = {"rounds": a.rounds, "connect1": {}, "connect50": {}, "fanout": {}}
    try:
        with node_stack() as node:
            token = st.token("bench", ttl=7200)
            cookie, _, _ = st.login("bench", "bench-pw")
            tg = targets(st, node, token, cookie)
            # one connection of the user stays open: connects do not each
            # make a presence change (joined/left notices) on the broker
            keep = subprocess.Popen(["node", os.path.join(HERE, "front_bench.mjs"),
                                     json.dumps({"mode": "idle", "target": tg["mqtt/tcp"],
                                                 "n": 1})],
                                    cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True)
            keep.stdout.readline()
            names = list(tg)
            for rnd in range(a.rounds):
                order = names[rnd % len(names):] + names[:rnd % len(names)]
                for name in order:
                    pids = pids_of(st, node, name)
                    r = client({"mode": "connect", "target": tg[name], "n": n1,
                                "concurrency": 1}, pids)
                    res["connect1"].setdefault(name, []).append(r)
                    r = client({"mode": "connect", "target": tg[name], "n": n50,
                                "concurrency": 50}, pids)
                    res["connect50"].setdefault(name, []).append(r)
                    print("round %d %-15s one at a time p50 %.2f ms p99 %.2f ms; 50 in flight "
                          "%.0f/s" % (rnd + 1, name, res["connect1"][name][-1]["p50_ms"],
                                      res["connect1"][name][-1]["p99_ms"],
                                      r["connects_per_s"]), file=sys.stderr)
                for n, events in fan:
                    for name in (("front (token)", "mosquitto ws") if rnd % 2 == 0
                                 else ("mosquitto ws", "front (token)")):
                        r = client({"mode": "fanout", "target": tg[name], "pub": tg["mqtt/tcp"],
                                    "n": n, "events": events, "window": 64, "size": 64,
                                    "topic": "rooms/lobby/ev/bench/bench"},
                                   pids_of(st, node, name))
                        res["fanout"].setdefault("%s %d" % (name, n), []).append(r)
                        print("round %d fan-out 1->%d %-13s %.0f deliveries/s (%d/%d complete)"
                              % (rnd + 1, n, name, r["deliveries_per_s"], r["complete"],
                                 events), file=sys.stderr)
            res["memory"] = {"front": idle_memory(st, tg["front (token)"], 1000),
                             "mosquitto ws": idle_memory(st, tg["mosquitto ws"], 1000),
                             "mqtt/tcp": idle_memory(st, tg["mqtt/tcp"], 1000)}
            keep.stdin.close()
            keep.wait(30)
    finally:
        st.close()
    report(res, fan)
    os.makedirs(os.path.dirname(a.json), exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)


def report(res, fan):
    def med(phase, name, key):
        return median([r[key] for r in res[phase][name]])

    def pair_ratio(phase, a, b, key):
        return median([x[key] / y[key] for x, y in zip(res[phase][a], res[phase][b]) if y[key]])

    print("medians of %d rounds; load average at the end: %s" % (
        res["rounds"], open("/proc/loadavg").read().split()[0]))
    print("%-16s %10s %10s %12s %16s %16s" % ("", "p50 ms", "p99 ms", "connects/s",
                                              "server CPU us/c", "client CPU us/c"))
    for name in res["connect1"]:
        c50 = res["connect50"][name]
        print("%-16s %10.2f %10.2f %12.0f %16.0f %16.0f" % (
            name, med("connect1", name, "p50_ms"), med("connect1", name, "p99_ms"),
            med("connect50", name, "connects_per_s"),
            median([r["server_cpu_s"] / r["connects"] * 1e6 for r in c50]),
            median([r["client_cpu_s"] / r["connects"] * 1e6 for r in c50])))
    print("connects per server CPU-second, front (token) / node socket.io: %.2f" % median(
        [(a["connects"] / a["server_cpu_s"]) / (b["connects"] / b["server_cpu_s"])
         for a, b in zip(res["connect50"]["front (token)"], res["connect50"]["node socket.io"])
         if a["server_cpu_s"] and b["server_cpu_s"]]))
    print("connects/s, front (token) / node socket.io: %.2f (goal >= 2); "
          "front (cookie) / node: %.2f" % (
              pair_ratio("connect50", "front (token)", "node socket.io", "connects_per_s"),
              pair_ratio("connect50", "front (cookie)", "node socket.io", "connects_per_s")))
    print("connects/s, front (token) / mosquitto ws: %.2f; / mqtt/tcp: %.2f" % (
        pair_ratio("connect50", "front (token)", "mosquitto ws", "connects_per_s"),
        pair_ratio("connect50", "front (token)", "mqtt/tcp", "connects_per_s")))
    for n, _ in fan:
        f, m = "front (token) %d" % n, "mosquitto ws %d" % n
        print("fan-out 1->%d deliveries/s: front %.0f, mosquitto ws %.0f, ratio %.2f "
              "(goal >= 0.8); server CPU us/delivery front %.1f, mosquitto ws %.1f; "
              "client %.1f / %.1f" % (
                  n, med("fanout", f, "deliveries_per_s"), med("fanout", m, "deliveries_per_s"),
                  pair_ratio("fanout", f, m, "deliveries_per_s"),
                  median([r["server_cpu_s"] / r["delivered"] * 1e6 for r in res["fanout"][f]]),
                  median([r["server_cpu_s"] / r["delivered"] * 1e6 for r in res["fanout"][m]]),
                  median([r["client_cpu_s"] / r["delivered"] * 1e6 for r in res["fanout"][f]]),
                  median([r["client_cpu_s"] / r["delivered"] * 1e6 for r in res["fanout"][m]])))
    for name, m in res["memory"].items():
        print("idle MQTT connection via %-13s hubd heap %6.0f B, hubd RSS %6.0f B, "
              "broker RSS %6.0f B" % (name, m["hubd_heap_per_conn"], m["hubd_rss_per_conn"],
                                      m["broker_rss_per_conn"]))


if __name__ == "__main__":
    main()
