#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Driver of bench/dashboard_frames.mjs: the dashboard's frame time with N
vehicles moving at 1 Hz. Starts a private stack (broker + plugin, hubd
serving the built web/ from a copy) on free ports, a user, the feed, then
measures in headless Chromium. Results and the command: docs/performance.md.

Feeds:
  tracker    N real devices (hubctl device add, in the user's room) driven
             by build/bin/hub-tracker --rate 1: N MQTT connections through
             the broker and its ACL, one WebSocket to the browser.
  synthetic  no broker traffic: the page feeds N simulated vehicles into
             hubio.js itself (isolates the browser's cost).

  HUB_BUILD_DIR=build /usr/bin/python3 bench/dashboard_frames.py \\
      --vehicles 1000 --feed tracker --seconds 20
"""
import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vehicles", type=int, default=1000)
    ap.add_argument("--feed", choices=("tracker", "synthetic"), default="tracker")
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--width", type=int, default=1280)
    ap.add_argument("--height", type=int, default=800)
    ap.add_argument("--screenshot", help="PNG path of a screenshot at the end")
    args = ap.parse_args()

    if not harness.web_built():
        sys.exit("build the dashboard first (cmake --build %s)" % harness.BUILD)
    stack = harness.Stack()
    tracker = None
    try:
        stack.hubctl("user", "add", "dispatch", "--display", "Dispatch", "--password-stdin",
                     input="bench-pw\n")
        stack.hubctl("room", "add", "fleet")
        stack.hubctl("grant", "fleet", "dispatch", "write")
        devices = []
        if args.feed == "tracker":
            t0 = time.time()
            for i in range(args.vehicles):
                dev = "v%04d" % i
                devices.append((dev, stack.device_add(dev, "dispatch", room="fleet")))
            print("bench: %d devices added in %.1f s" % (len(devices), time.time() - t0),
                  file=sys.stderr)
        stack.use_web(test_pages=False)
        stack.start_broker()
        stack.start_hubd()
        if args.feed == "tracker":
            path = os.path.join(stack.dir, "devices.txt")
            with open(path, "w") as f:
                f.writelines("%s %s\n" % d for d in devices)
            tracker = stack.start("tracker", [os.path.join(harness.BIN, "hub-tracker"),
                                              "--devices", path, "--rate", "1",
                                              "--port", str(stack.ports["mqtt"]),
                                              "--seed", "1", "--status-interval", "5"])
        cfg = None
        if stack.http("GET", "/api/config").status == 404:
            cfg = {"mqtt_ws_port": stack.ports["ws"], "sio_port": stack.ports["sio"],
                   "mqtt_port": stack.ports["mqtt"]}
            print("bench: hubd has no GET /api/config: answered in the browser", file=sys.stderr)
        inp = {"base": stack.base_url, "username": "dispatch", "password": "bench-pw",
               "vehicles": args.vehicles,
               "feed": "external" if args.feed == "tracker" else "synthetic",
               "seconds": args.seconds, "warmup": args.warmup, "config": cfg,
               "width": args.width, "height": args.height, "screenshot": args.screenshot}
        r = subprocess.run(["node", os.path.join(REPO, "bench", "dashboard_frames.mjs")],
                           input=json.dumps(inp), capture_output=True, text=True,
                           timeout=600, cwd=REPO)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            print(stack.log("tracker")[-2000:] if tracker else "", file=sys.stderr)
            sys.exit("bench: the browser side failed (%d)" % r.returncode)
        res = json.loads(r.stdout)
        res["feed"] = args.feed
        res["load_avg"] = os.getloadavg()
        res["cpus"] = os.cpu_count()
        print(json.dumps(res, indent=1))
        f = res["frame_ms"]
        print("\n| feed | vehicles | fixes/s | fps | frame p50 | p95 | p99 | max | long tasks "
              "(count, total) |\n|---|---|---|---|---|---|---|---|---|\n"
              "| %s | %d | %.0f | %.1f | %.1f ms | %.1f ms | %.1f ms | %.1f ms | %d, %.0f ms |"
              % (args.feed, res["vehicles"], res["fixes_per_s"], res["fps"], f["p50"], f["p95"],
                 f["p99"], f["max"], res["long_tasks"]["count"], res["long_tasks"]["total_ms"]))
    finally:
        if tracker is not None:
            stack.stop("tracker")
        stack.close()


if __name__ == "__main__":
    main()
