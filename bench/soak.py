#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Soak: the whole hub under a realistic crowd for minutes (not in CI).

A private stack on free 127.0.0.1 ports (broker + hub_auth.so, hubd,
hub-bridge), then:
  - --clients authenticated clients, one user each, half MQTT over
    WebSocket (MQTT.js) and half Socket.IO (socket.io-client, WebSocket
    transport), in a few Node processes (bench/soak.mjs): --chat of them
    are members of one chat room (half each kind), which carries
    --chat-rate messages per second; --dashboards MQTT clients follow the
    fleet (owntracks/+/+); the rest idle (keepalives, inbox);
  - --trackers devices in build/bin/hub-tracker at 1 Hz (--bench: each fix
    carries its send time, so a dashboard measures fix-to-dashboard
    latency).
After the ramp it measures for --minutes: RSS of every process every 10 s
(flat?), errors and drops of every client, tracker refusals and losses,
chat and fix latencies (p50/p99/max). Prints a summary (Markdown) and
writes the raw figures to bench/results/soak-<time>.json.

    ulimit -n is raised by the script itself (root: 200000).
    HUB_BUILD_DIR=build /usr/bin/python3 bench/soak.py            # 10k, 5 min
    HUB_BUILD_DIR=build /usr/bin/python3 bench/soak.py --clients 1000 --trackers 100 \\
        --chat 100 --minutes 1                                     # a quick look

Figures: docs/reliability.md.
"""
import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness  # noqa: E402

SOAK_JS = os.path.join(REPO, "bench", "soak.mjs")


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 200000
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Worker:
    """One node bench/soak.mjs process and its reports."""

    def __init__(self, path, name):
        self.name = name
        self.p = subprocess.Popen(["node", SOAK_JS, path], cwd=REPO, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reports = []
        self.err = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            try:
                self.reports.append(json.loads(line))
            except ValueError:
                self.err.append(line)

    def _read_err(self):
        for line in self.p.stderr:
            if len(self.err) < 50:
                self.err.append(line.rstrip())

    def last(self):
        return self.reports[-1] if self.reports else {}

    def stop(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=10000)
    ap.add_argument("--trackers", type=int, default=1000)
    ap.add_argument("--chat", type=int, default=1000, help="members of the chat room")
    ap.add_argument("--chat-rate", type=float, default=2.0, help="chat messages per second")
    ap.add_argument("--dashboards", type=int, default=10)
    ap.add_argument("--minutes", type=float, default=5)
    ap.add_argument("--workers", type=int, default=2, help="node processes per client kind")
    ap.add_argument("--connect-rate", type=int, default=150, help="per worker, per second")
    ap.add_argument("--ramp-timeout", type=float, default=300)
    ap.add_argument("--autosave", type=int, default=1,
                    help="broker autosave_interval (the hub's proposal: 1, a save every 2 s; "
                         "conf/mosquitto.conf has 60)")
    ap.add_argument("--conf", action="append", default=[],
                    help="extra hub.conf setting name=value (e.g. raised limits)")
    args = ap.parse_args()

    nofile = raise_nofile()
    print("soak: RLIMIT_NOFILE %s" % (nofile,), file=sys.stderr)
    conf = {"autojoin_rooms": "", "history_max": 1000, "log_level": "info"}
    for kv in args.conf:
        k, v = kv.split("=", 1)
        conf[k] = v
    st = harness.Stack(extra_conf=conf)
    procs = {}
    workers = []
    tracker = None
    result = {"args": vars(args), "rss": [], "samples": []}
    try:
        # ---- identities ----------------------------------------------------
        t0 = time.time()
        users = ["s%05d" % i for i in range(args.clients)]
        half = args.clients // 2
        kinds = ["mqtt"] * half + ["sio"] * (args.clients - half)
        roles = ["idle"] * args.clients
        chat_mqtt = args.chat // 2
        for i in range(chat_mqtt):
            roles[i] = "chat"
        for i in range(args.chat - chat_mqtt):
            roles[half + i] = "chat"
        for i in range(args.dashboards):
            roles[chat_mqtt + i] = "dash"
        lines = ["room add soakchat", "room add fleet",
                 "user add fleetboss --password soak-pw-boss"]
        lines += ["user add %s --password soak-pw-%s" % (u, u) for u in users]
        lines += ["grant soakchat %s write" % u for u, r in zip(users, roles) if r == "chat"]
        lines += ["grant fleet %s read" % u for u, r in zip(users, roles) if r == "dash"]
        devices = ["v%04d" % i for i in range(args.trackers)]
        lines += ["device add %s --owner fleetboss --room fleet" % d for d in devices]
        lines += ["token %s" % u for u in users]
        r = st.hubctl("batch", input="\n".join(lines) + "\n", check=False)
        if r.returncode != 0:
            sys.exit("hubctl batch failed: %s" % r.stderr[-2000:])
        out = r.stdout.splitlines()
        secrets = [l.split(": ", 1)[1] for l in out if l.startswith("secret: ")]
        tokens = [l.strip() for l in out if l.startswith("eyJ") and l.count(".") == 2]
        assert len(secrets) == len(devices) and len(tokens) == len(users), \
            (len(secrets), len(tokens))
        print("soak: %d users, %d devices, tokens in %.1fs" % (len(users), len(devices),
                                                              time.time() - t0), file=sys.stderr)

        # ---- the hub ---------------------------------------------------------
        st.start_broker("autosave_interval %d\n" % args.autosave, debug=False)
        st.start_hubd()
        st.start_bridge()
        for name in ("broker", "hubd", "bridge"):
            procs[name] = st.procs[name].pid

        # ---- clients ---------------------------------------------------------
        path = os.path.join(st.dir, "devices.txt")
        with open(path, "w") as f:
            for d, s in zip(devices, secrets):
                f.write("%s %s\n" % (d, s))
        if devices:
            tracker = st.start("tracker", [os.path.join(harness.BIN, "hub-tracker"),
                                           "--devices", path, "--rate", "1", "--bench",
                                           "--port", str(st.ports["mqtt"]),
                                           "--connect-rate", "200", "--status-interval", "10"])
            procs["tracker"] = tracker.pid
        per_kind = {"mqtt": [], "sio": []}
        for u, tok, k, role in zip(users, tokens, kinds, roles):
            per_kind[k].append({"user": u, "token": tok, "role": role})
        chat_total = max(1, args.chat)
        for kind, clients in per_kind.items():
            n = max(1, args.workers)
            for w in range(n):
                part = clients[w::n]
                if not part:
                    continue
                members = sum(1 for c in part if c["role"] == "chat")
                wc = {"kind": kind, "room": "soakchat", "connectRate": args.connect_rate,
                      "chatRate": args.chat_rate * members / chat_total,
                      "url": ("ws://127.0.0.1:%d/mqtt" % st.ports["ws"]) if kind == "mqtt"
                      else st.sio_url(), "clients": part}
                cpath = os.path.join(st.dir, "soak-%s-%d.json" % (kind, w))
                with open(cpath, "w") as f:
                    json.dump(wc, f)
                wk = Worker(cpath, "%s%d" % (kind, w))
                workers.append(wk)
                procs["node-%s%d" % (kind, w)] = wk.p.pid

        # ---- ramp --------------------------------------------------------------
        t_ramp = time.time()
        while True:
            time.sleep(2)
            conn = sum(w.last().get("connected", 0) for w in workers)
            online = None
            m = [l for l in st.log("tracker").splitlines() if "msg=status" in l]
            if m:
                online = int(m[-1].split("online=")[1].split()[0])
            print("soak: ramp %.0fs: %d/%d clients, trackers online %s" % (
                time.time() - t_ramp, conn, args.clients, online), file=sys.stderr)
            if conn >= args.clients and (not devices or (online or 0) >= len(devices)):
                break
            if time.time() - t_ramp > args.ramp_timeout:
                print("soak: ramp timed out", file=sys.stderr)
                break
        result["ramp_s"] = time.time() - t_ramp

        # ---- measure -----------------------------------------------------------
        t_start = time.time()
        base = {w.name: dict(w.last()) for w in workers}
        lat_fix, lat_chat = [], []
        seen = {w.name: len(w.reports) for w in workers}
        end = t_start + args.minutes * 60
        while time.time() < end:
            time.sleep(10)
            row = {"t": round(time.time() - t_start, 1)}
            for name, pid in procs.items():
                row[name] = rss_kb(pid)
            result["rss"].append(row)
            for w in workers:
                for rep in w.reports[seen[w.name]:]:
                    lat_fix += rep.get("latFix", [])
                    lat_chat += rep.get("latChat", [])
                seen[w.name] = len(w.reports)
            conn = sum(w.last().get("connected", 0) for w in workers)
            print("soak: %4.0fs connected %d, broker %s kB, bridge %s kB, hubd %s kB, "
                  "fix p99 %s ms, chat p99 %s ms" % (
                      row["t"], conn, row.get("broker"), row.get("bridge"), row.get("hubd"),
                      pct(lat_fix, 99), pct(lat_chat, 99)), file=sys.stderr)
        result["measured_s"] = time.time() - t_start
        final = {w.name: dict(w.last()) for w in workers}

        # ---- stop ---------------------------------------------------------------
        for w in workers:
            w.stop()
        for w in workers:
            for rep in w.reports[seen[w.name]:]:
                lat_fix += rep.get("latFix", [])
                lat_chat += rep.get("latChat", [])
        if tracker:
            st.stop("tracker", signal.SIGINT)

        def delta(key):
            return sum(final[n].get(key, 0) - base[n].get(key, 0) for n in final)
        errors = {}
        for w in workers:
            for k, v in w.last().get("errors", {}).items():
                errors[k] = errors.get(k, 0) + v
        summary = [l for l in st.log("tracker").splitlines() if "msg=summary" in l]
        result.update({
            "connected_end": sum(final[n].get("connected", 0) for n in final),
            "drops": delta("drops"), "reconnects": delta("reconnects"),
            "connect_errors": delta("connectErrors"), "protocol_errors": delta("protocolErrors"),
            "send_errors": delta("sendErrors"),
            "chat_sent": delta("chatSent"), "chat_recv": delta("chatRecv"),
            "fix_recv": delta("fixRecv"),
            "fix_ms": {p: pct(lat_fix, p) for p in (50, 90, 99, 100)},
            "chat_ms": {p: pct(lat_chat, p) for p in (50, 90, 99, 100)},
            "fix_samples": len(lat_fix), "chat_samples": len(lat_chat),
            "client_errors": errors,
            "tracker_summary": summary[-1] if summary else None,
            "broker_dropping": st.log("broker").count("Outgoing messages are being dropped"),
            "error_lines": {n: sum(1 for l in st.log(n).splitlines()
                                   if "level=error" in l or "Error" in l)
                            for n in ("broker", "hubd", "bridge")},
            "worker_stderr": {w.name: w.err[:5] for w in workers if w.err},
        })
        report(result, procs)
    finally:
        for w in workers:
            if w.p.poll() is None:
                w.p.kill()
        st.close()


def report(r, procs):
    os.makedirs(os.path.join(REPO, "bench", "results"), exist_ok=True)
    path = os.path.join(REPO, "bench", "results", "soak-%d.json" % time.time())
    with open(path, "w") as f:
        json.dump(r, f, indent=1)
    a = r["args"]
    print("\n## soak: %d clients (half MQTT/WebSocket, half Socket.IO), %d trackers at 1 Hz, "
          "%d-member chat room at %.1f msg/s, %.1f min after a %.0f s ramp\n"
          % (a["clients"], a["trackers"], a["chat"], a["chat_rate"], r["measured_s"] / 60,
             r["ramp_s"]))
    first, last = r["rss"][0], r["rss"][-1]
    print("| process | RSS first sample (kB) | RSS last sample (kB) | max (kB) |")
    print("|---|---|---|---|")
    for name in procs:
        vals = [row.get(name) for row in r["rss"] if row.get(name)]
        print("| %s | %s | %s | %s |" % (name, first.get(name), last.get(name),
                                        max(vals) if vals else None))
    print("\n| figure | value |\n|---|---|")
    for k in ("connected_end", "drops", "reconnects", "connect_errors", "protocol_errors",
              "send_errors", "chat_sent", "chat_recv", "fix_recv", "fix_ms", "chat_ms",
              "broker_dropping", "error_lines", "tracker_summary", "client_errors"):
        print("| %s | %s |" % (k, r.get(k)))
    print("\nraw: %s" % path)


if __name__ == "__main__":
    main()
