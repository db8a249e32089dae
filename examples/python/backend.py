#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A hub backend in plain Python with paho-mqtt (MQTT 5), no SDK: it shows
the topics (CONTRACT.md "Backends", docs/backends.md).

It logs in to the hub's broker as the service SERVICE (username = the
service key's name, password = the key) and

- answers calls of the method "order": a client publishes on
  svc/SERVICE/order/{caller} with a Response Topic (under
  users/{caller}/reply/) and Correlation Data; we publish the answer, JSON,
  on that Response Topic with the same Correlation Data;
- checks the events of the rooms hooked to SERVICE (hubctl room hook ROOM
  SERVICE): the hub holds each event and asks us on
  svc/SERVICE/hook/{room}/{event}/{sender}; we answer on its Response Topic
  {"accept": true}, {"accept": true, "data": <changed data>} or
  {"accept": false, "reason": "..."}. Here: a "chat message" must have a
  non-empty "text" of at most 500 characters; it is "saved" and reaches
  the room with the id it was saved under. Other events pass as sent.

Who asks comes as user properties the hub sets (a client cannot forge
them): hub-user, hub-display, hub-role, hub-kind.

Every process subscribes through the shared subscription
$share/SERVICE/svc/SERVICE/#: start it several times and the broker hands
each call to one of them. SIGINT / SIGTERM: unsubscribe (no new calls come
here), then disconnect. paho reconnects by itself (and on_connect
subscribes again).

    hubctl servicekey add shop            # prints the key once
    HUB_SERVICE_KEY=... examples/python/backend.py --service shop --port 1883

Over TLS (the broker's mqtts_port, docs/tls.md), the broker's certificate
verified against a CA file (--cafile) or the system's CAs (--tls); its
certificate must name --host:

    HUB_SERVICE_KEY=... examples/python/backend.py --service shop \
        --host hub.example.com --tls          # port 8883
"""
import argparse
import itertools
import json
import os
import re
import signal
import socket
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

NAME = r"[A-Za-z0-9._-]{1,64}"


class Backend:
    def __init__(self, service, key, host, port, tls=False, cafile=None):
        self.service = service
        self.orders = itertools.count(1)
        self.saved = []          # stands in for the application's database
        self.stopping = False
        # calls svc/{service}/{method}/{caller}; hook requests
        # svc/{service}/hook/{room}/{event}/{sender}
        self.call_re = re.compile(r"^svc/%s/([^/]+)/(%s)$" % (re.escape(service), NAME))
        self.hook_re = re.compile(r"^svc/%s/hook/(%s)/([^/]+)/(%s)$"
                                  % (re.escape(service), NAME, NAME))
        self.filter = "$share/%s/svc/%s/#" % (service, service)
        self.c = mqtt.Client(client_id="%s-%d-%s" % (service, os.getpid(), os.urandom(3).hex()),
                             protocol=mqtt.MQTTv5)
        self.c.username_pw_set(service, key)
        if tls:
            # verification on: the chain (cafile, else the system's CAs)
            # and the name (host) are checked; no insecure switch
            self.c.tls_set(ca_certs=cafile)
        self.c.reconnect_delay_set(1, 30)
        self.c.on_connect = self.on_connect
        self.c.on_message = self.on_message
        self.c.on_subscribe = lambda c, u, mid, granted, props=None: print(
            "serving as", service, flush=True)
        self.c.on_unsubscribe = lambda c, u, mid, props, rc: c.disconnect()
        self.c.connect_async(host, port, keepalive=30)

    def on_connect(self, c, userdata, flags, rc, props=None):
        if rc != 0:
            print("refused:", rc, flush=True)  # a wrong key: paho retries
            return
        # an answer is one small write: without TCP_NODELAY it may wait
        # 40 ms for the broker's delayed ACK
        c.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if not self.stopping:
            c.subscribe(self.filter, qos=1)  # "serving" once the SUBACK is in

    # ---------------------------------------------------------- the wire
    def answer(self, msg, body, caller=None):
        """Publish body (JSON) on the message's Response Topic with its
        Correlation Data. Only where the hub lets the caller point us:
        users/{caller}/reply/... for calls, $hub/verdict/{service}/{id} for
        hook requests."""
        props = getattr(msg, "properties", None)
        rt = getattr(props, "ResponseTopic", None)
        if not rt:
            return  # the caller wants no answer
        ok = (rt.startswith("users/%s/reply/" % caller) if caller
              else rt.startswith("$hub/verdict/%s/" % self.service))
        if not ok:
            return
        out = Properties(PacketTypes.PUBLISH)
        corr = getattr(props, "CorrelationData", None)
        if corr is not None:
            out.CorrelationData = corr
        self.c.publish(rt, json.dumps(body), qos=1, properties=out)

    @staticmethod
    def stamp(msg):
        """The caller as the hub stamped it (the last value of each name)."""
        up = dict(getattr(getattr(msg, "properties", None), "UserProperty", None) or [])
        return {"user": up.get("hub-user"), "display": up.get("hub-display", ""),
                "role": up.get("hub-role", "user"), "kind": up.get("hub-kind", "user")}

    def on_message(self, c, userdata, msg):
        try:
            data = json.loads(msg.payload) if msg.payload else None
        except ValueError:
            data = msg.payload.decode("utf-8", "replace")
        m = self.call_re.match(msg.topic)
        if m and m.group(1) != "hook":
            method, caller = m.groups()
            self.answer(msg, self.call(method, data, self.stamp(msg)), caller)
            return
        m = self.hook_re.match(msg.topic)
        if m:
            room, event, sender = m.groups()
            self.answer(msg, self.hook(room, event, data, self.stamp(msg)))

    # ------------------------------------------------------ the app's code
    def call(self, method, data, who):
        if method != "order":
            return {"error": "unknown_method", "message": "no method '%s'" % method}
        if not isinstance(data, dict) or not isinstance(data.get("item"), str):
            return {"error": "invalid", "message": "expected {\"item\": ..., \"qty\": n}"}
        qty = data.get("qty", 1)
        if not isinstance(qty, int) or not 1 <= qty <= 100:
            return {"error": "invalid", "message": "qty must be 1-100"}
        order = {"ok": True, "id": next(self.orders), "item": data["item"], "qty": qty,
                 "by": who["user"]}
        print("order", order, flush=True)
        return order

    def hook(self, room, event, data, who):
        if event != "chat message":
            return {"accept": True}
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str) or not text.strip():
            return {"accept": False, "reason": "empty message"}
        if len(text) > 500:
            return {"accept": False, "reason": "too long"}
        self.saved.append((room, who["user"], text))
        print("saved", room, who["user"], repr(text), flush=True)
        return {"accept": True, "data": dict(data, text=text.strip(), id=len(self.saved))}

    # --------------------------------------------------------------- run
    def run(self):
        """paho's network loop runs in its own thread; this one waits for
        SIGINT / SIGTERM, then stops: no new calls (unsubscribe; the other
        processes take them), and disconnect once the broker confirmed.
        Handlers run one at a time on paho's thread, so nothing is left in
        flight by then."""
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        done = threading.Event()
        self.c.on_disconnect = lambda c, u, rc, props=None: done.set() if self.stopping else None
        self.c.loop_start()
        stop.wait()
        self.stopping = True
        if self.c.is_connected():
            self.c.unsubscribe(self.filter)  # on_unsubscribe disconnects
            done.wait(10)
        self.c.disconnect()
        self.c.loop_stop()
        print("stopped", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--service", required=True, help="the service key's name")
    ap.add_argument("--key-file", help="a file holding the key (else $HUB_SERVICE_KEY)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, help="the broker's port (1883; with TLS 8883)")
    ap.add_argument("--tls", action="store_true",
                    help="MQTT over TLS, the broker verified against the system's CAs")
    ap.add_argument("--cafile", help="MQTT over TLS, the broker verified against this CA file")
    a = ap.parse_args()
    if a.key_file:
        with open(a.key_file) as f:
            key = f.read().strip()
    else:
        key = os.environ.get("HUB_SERVICE_KEY", "")
    if not key:
        sys.exit("no key: --key-file or HUB_SERVICE_KEY")
    tls = a.tls or bool(a.cafile)
    Backend(a.service, key, a.host, a.port or (8883 if tls else 1883), tls, a.cafile).run()


if __name__ == "__main__":
    main()
