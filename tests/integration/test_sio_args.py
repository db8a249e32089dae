# SPDX-License-Identifier: MIT
"""Several arguments and binary data through the gateway (stock
socket.io-client from node_modules, real broker, paho as the MQTT side):
Socket.IO to Socket.IO unchanged, Socket.IO to MQTT with the documented
encoding (one binary = the raw bytes; several arguments = a JSON array with
{"$binary": base64}, MQTT 5 Content Type), MQTT to Socket.IO (non-JSON
payloads arrive as binary), and back again; the limits (maxPayload over
all attachments, placeholders that name nothing, the reserved $binary
object)."""
import base64
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import MqttClient, SioClient, Stack  # noqa: E402

MAX_PAYLOAD = 100000
CT_ARGS = "application/vnd.hub.args+json"
CT_BIN = "application/octet-stream"


def b64(b):
    return base64.b64encode(b).decode()


def binary(b):
    """How sio_driver.mjs writes a Buffer (sent or received)."""
    return {"$binary": b64(b)}


class PropsClient(MqttClient):
    """paho v5 keeping each message's properties (content type, payload
    format indicator)."""

    def _on_message(self, c, u, msg):
        props = getattr(msg, "properties", None)
        with self.cond:
            self.messages.append((msg.topic, msg.payload, bool(msg.retain), time.time(),
                                  getattr(props, "ContentType", None),
                                  getattr(props, "PayloadFormatIndicator", None)))
            self.cond.notify_all()

    def pub_props(self, topic, payload, content_type=None, pfi=None):
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties
        props = Properties(PacketTypes.PUBLISH)
        if content_type:
            props.ContentType = content_type
        if pfi is not None:
            props.PayloadFormatIndicator = pfi
        info = self.c.publish(topic, payload, qos=1, properties=props)
        info.wait_for_publish(5)
        return info


class SioArgs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.st = Stack(extra_conf={"sio_max_payload": MAX_PAYLOAD, "sio_event_rate": 2000})
        cls.objs = []
        try:
            cls.st.start_broker()
            cls.st.start_hubd()
            for u in ("alice", "bob", "carl"):
                cls.st.add_user(u, rooms={"lobby": "write", "args": "write"})
            cls.st.start_bridge()
        except Exception:
            cls.st.close()
            raise

    @classmethod
    def tearDownClass(cls):
        for o in cls.objs:
            o.close()
        log = cls.st.log("bridge")
        cls.st.close()
        assert "AddressSanitizer" not in log and "runtime error" not in log, log[-3000:]

    def sio(self, user, opts=None, name=None):
        opts = dict(opts or {})
        opts.setdefault("auth", {"token": self.st.token(user)})
        c = SioClient(self.st.sio_url(), opts, name or user)
        self.objs.append(c)
        c.wait("connect")
        c.event("presence")
        return c

    def mqtt(self, user, version=5):
        m = PropsClient(self.st.ports["mqtt"], user, self.st.token(user), version=version)
        self.objs.append(m)
        self.assertEqual(m.connect(), 0)
        return m

    def received(self, c, name, pred=None):
        """(args, offset) of the next event `name`."""
        e = c.wait("event", lambda e: e["name"] == name and (pred is None or pred(e["args"])))
        return e["args"], e["offset"]

    def test_01_several_arguments_socketio_to_socketio_and_mqtt(self):
        w = self.mqtt("carl")
        self.assertEqual(w.sub("rooms/lobby/ev/#"), [1])
        a, b = self.sio("alice", name="alice-1"), self.sio("bob", name="bob-1")
        err, ack = a.call("move", 3, {"x": 1, "y": [True, None]}, "third", 4.5)
        self.assertIsNone(err)
        self.assertTrue(ack[0]["ok"], ack)
        self.assertEqual(ack[0]["room"], "lobby")
        args, offset = self.received(b, "move")
        self.assertEqual(args[:4], [3, {"x": 1, "y": [True, None]}, "third", 4.5])
        self.assertEqual((args[4]["room"], args[4]["from"]), ("lobby", "alice"))
        self.assertRegex(offset, r"^\d+$")
        m = w.wait_msg("rooms/lobby/ev/move/alice", timeout=5)
        self.assertIsNotNone(m)
        # the client's own bytes of the arguments, in a JSON array
        self.assertEqual(m[1], b'[3,{"x":1,"y":[true,null]},"third",4.5]')
        self.assertEqual(m[4], CT_ARGS)
        # no argument: an empty payload; receivers get meta only
        a.emit("ping")
        args, _ = self.received(b, "ping")
        self.assertEqual(len(args), 1)
        self.assertEqual(args[0]["from"], "alice")
        m = w.wait_msg("rooms/lobby/ev/ping/alice", timeout=5)
        self.assertEqual((m[1], m[4]), (b"", None))
        # one JSON argument is its JSON text, as before (no content type)
        a.emit("one", {"room": "lobby", "k": "v"})
        args, _ = self.received(b, "one")
        self.assertEqual(args[0], {"room": "lobby", "k": "v"})
        m = w.wait_msg("rooms/lobby/ev/one/alice", timeout=5)
        self.assertEqual((json.loads(m[1]), m[4]), ({"room": "lobby", "k": "v"}, None))
        # the first argument still routes: data.room
        a.cmd(op="emit", id=99, event="join", args=["args"], ack=False)
        b.call("join", "args")
        time.sleep(0.2)
        err, ack = a.call("two", {"room": "args"}, "second")
        self.assertEqual(ack[0]["room"], "args")
        args, _ = self.received(b, "two")
        self.assertEqual(args[:2], [{"room": "args"}, "second"])
        self.assertEqual(args[2]["room"], "args")

    def test_02_one_binary_is_the_raw_bytes(self):
        w = self.mqtt("carl")
        w.sub("rooms/lobby/ev/#")
        raw = bytes(range(256)) + b'{"not":"json"}\x00'
        for transports in (["websocket"], ["polling"]):
            a = self.sio("alice", {"transports": transports}, "alice-2-%s" % transports[0])
            b = self.sio("bob", {"transports": transports}, "bob-2-%s" % transports[0])
            err, ack = a.call("file", binary(raw))
            self.assertTrue(ack[0]["ok"], ack)
            args, _ = self.received(b, "file")
            self.assertEqual(args[0], binary(raw), transports)
            self.assertEqual(args[1]["from"], "alice")
            m = w.wait_msg("rooms/lobby/ev/file/alice", timeout=5)
            self.assertEqual(m[1], raw)
            self.assertEqual(m[4], CT_BIN)
            # bytes that happen to be JSON stay binary (the content type says so)
            err, ack = a.call("file", binary(b'{"a":1}'))
            self.assertEqual(self.received(b, "file")[0][0], binary(b'{"a":1}'))
            self.assertEqual(w.wait_msg("rooms/lobby/ev/file/alice", timeout=5)[1], b'{"a":1}')
            # an empty binary
            a.call("file", binary(b""))
            self.assertEqual(self.received(b, "file")[0][0], binary(b""))
            self.assertEqual(w.wait_msg("rooms/lobby/ev/file/alice", timeout=5)[1:5:3],
                             (b"", CT_BIN))

    def test_03_binaries_inside_arguments(self):
        w = self.mqtt("carl")
        w.sub("rooms/lobby/ev/#")
        a, b = self.sio("alice", name="alice-3"), self.sio("bob", name="bob-3")
        doc = {"name": "a.png", "parts": [binary(b"\x89PNG"), binary(b"\x00\x01")], "n": 2}
        err, ack = a.call("doc", doc, binary(b"tail"), "x")
        self.assertTrue(ack[0]["ok"], ack)
        args, _ = self.received(b, "doc")
        self.assertEqual(args[:3], [doc, binary(b"tail"), "x"])
        m = w.wait_msg("rooms/lobby/ev/doc/alice", timeout=5)
        self.assertEqual(m[4], CT_ARGS)
        self.assertEqual(json.loads(m[1]), [doc, binary(b"tail"), "x"])
        # one argument holding a binary: an array of one
        a.call("doc", {"blob": binary(b"zz")})
        self.assertEqual(self.received(b, "doc")[0][0], {"blob": binary(b"zz")})
        self.assertEqual(json.loads(w.wait_msg("rooms/lobby/ev/doc/alice", timeout=5)[1]),
                         [{"blob": binary(b"zz")}])

    def test_04_mqtt_to_socketio(self):
        b = self.sio("bob", name="bob-4")
        m5 = self.mqtt("carl")
        # raw bytes that are not JSON: a binary
        m5.pub_props("rooms/lobby/ev/raw/carl", b"\xff\x00raw")
        self.assertEqual(self.received(b, "raw")[0][:1], [binary(b"\xff\x00raw")])
        # plain text is binary too, unless the publisher says it is UTF-8
        m5.pub_props("rooms/lobby/ev/raw/carl", b"hello there")
        self.assertEqual(self.received(b, "raw")[0][0], binary(b"hello there"))
        m5.pub_props("rooms/lobby/ev/text/carl", "héllo".encode(), pfi=1)
        self.assertEqual(self.received(b, "text")[0][0], "héllo")
        # JSON with octet-stream is binary
        m5.pub_props("rooms/lobby/ev/raw/carl", b"[1,2]", content_type=CT_BIN)
        self.assertEqual(self.received(b, "raw")[0][0], binary(b"[1,2]"))
        # an argument array: several arguments, binaries included
        env = json.dumps([1, {"k": binary(b"hi")}, binary(b"\x00"), "x"]).encode()
        m5.pub_props("rooms/lobby/ev/multi/carl", env, content_type=CT_ARGS)
        args, _ = self.received(b, "multi")
        self.assertEqual(args[:4], [1, {"k": binary(b"hi")}, binary(b"\x00"), "x"])
        self.assertEqual(args[4]["from"], "carl")
        # the same array without the content type is one argument (a list)
        m5.pub_props("rooms/lobby/ev/multi/carl", b"[1,2]")
        self.assertEqual(self.received(b, "multi")[0][0], [1, 2])
        # empty: no argument
        m5.pub_props("rooms/lobby/ev/empty/carl", b"")
        args, _ = self.received(b, "empty")
        self.assertEqual(len(args), 1)
        self.assertEqual(args[0]["from"], "carl")
        # a literal placeholder beside binaries cannot be given faithfully:
        # not delivered (socket.io-client would take it for an attachment)
        bad = json.dumps([{"_placeholder": True, "num": 0}, binary(b"x")]).encode()
        m5.pub_props("rooms/lobby/ev/bad/carl", bad, content_type=CT_ARGS)
        m5.pub_props("rooms/lobby/ev/after/carl", b"1")
        self.received(b, "after")
        b.none("event", lambda e: e["name"] == "bad", 0.3)
        # MQTT 3.1.1 publishers have no properties: sniffed
        m4 = self.mqtt("carl", version=4)
        m4.pub("rooms/lobby/ev/raw/carl", b"\x01\x02", qos=1).wait_for_publish(5)
        self.assertEqual(self.received(b, "raw")[0][0], binary(b"\x01\x02"))

    def test_05_socketio_to_mqtt_and_back(self):
        """An MQTT client takes each event and publishes it again as it got
        it (payload and content type): Socket.IO receivers get the very
        arguments the Socket.IO sender emitted."""
        relay = self.mqtt("carl")
        relay.sub("rooms/args/ev/+/alice")
        a = self.sio("alice", name="alice-5")
        b = self.sio("bob", name="bob-5")
        b.call("join", "args")
        cases = [
            [binary(bytes(range(40)))],
            [1, "two", {"three": [3]}],
            [{"f": binary(b"\x00\xff" * 10)}, binary(b"more"), None],
            [{"k": "v"}],
        ]
        # joining makes args alice's current room
        a.call("join", "args")
        for i, args in enumerate(cases):
            err, ack = a.call("ev%d" % i, *args)
            self.assertTrue(ack[0]["ok"], ack)
            m = relay.wait_msg("rooms/args/ev/ev%d/alice" % i, timeout=5)
            self.assertIsNotNone(m, i)
            relay.pub_props("rooms/args/ev/back%d/carl" % i, m[1], content_type=m[4])
            got, _ = self.received(b, "back%d" % i)
            self.assertEqual(got[:-1], args, i)
            self.assertEqual(got[-1]["from"], "carl")

    def test_06_limits(self):
        a = self.sio("alice", {"transports": ["websocket"]}, "alice-6")
        b = self.sio("bob", name="bob-6")
        # maxPayload bounds a packet and all its attachments together
        big = bytes(MAX_PAYLOAD * 6 // 10)
        err, ack = a.call("file", binary(big), binary(big))
        self.assertEqual(ack[0]["error"], "too_big", ack)
        b.none("event", lambda e: e["name"] == "file", 0.3)
        err, ack = a.call("file", binary(big))
        self.assertTrue(ack[0]["ok"], ack)
        self.assertEqual(len(base64.b64decode(self.received(b, "file")[0][0]["$binary"])),
                         len(big))
        # base64 of a binary inside an argument array grows it by a third
        err, ack = a.call("file", {"b": binary(bytes(MAX_PAYLOAD * 8 // 10))}, 1)
        self.assertEqual(ack[0]["error"], "too_big", ack)
        # {"$binary": ...} alone in an object is reserved among several args
        err, ack = a.call("x", {"$fake": 1}, {"nested": {"$binary": "aGk="}})
        self.assertTrue(ack[0]["ok"], ack)  # (the driver sends that one as a Buffer)
        a.cmd(op="raw", data='42["x",1,{"$binary":"aGk="}]')
        e = a.wait("event", lambda e: e["name"] == "hub:error")
        self.assertEqual(e["args"][0]["error"], "bad_args")
        # a placeholder naming no attachment
        a.cmd(op="raw", data='451-["x",{"_placeholder":true,"num":3}]')
        a.cmd(op="raw", binary=b64(b"abc"))
        a.wait("event", lambda e: e["name"] == "hub:error" and
                   e["args"][0]["error"] == "bad_args")
        # the socket goes on
        err, ack = a.call("chat message", {"text": "still here"})
        self.assertTrue(ack[0]["ok"], ack)


    def test_07_a_stalled_broker_bounds_the_backlog(self):
        """Acks do not wait for the broker; what waits for it is bounded:
        with the broker stopped (SIGSTOP), events of 90 KB are accepted
        until 64 MiB wait for the broker, then refused `busy`; once it
        runs again, events go through."""
        a = self.sio("alice", {"transports": ["websocket"]}, "alice-7")
        broker = self.st.procs["broker"]
        blob = "x" * 90000
        broker.send_signal(signal.SIGSTOP)
        try:
            codes = []
            for i in range(900):
                err, ack = a.call("big", {"i": i, "pad": blob}, timeout=10000)
                codes.append("ok" if ack[0].get("ok") else ack[0].get("error"))
                if codes[-1] == "busy":
                    break
            accepted = codes.count("ok")
            print("  broker stopped: %d events of 90 KB accepted (%.1f MiB), then %s" %
                  (accepted, accepted * 90000 / 1048576.0, codes[-1]), file=sys.stderr)
            self.assertEqual(codes[-1], "busy", codes[-5:])
            self.assertGreater(accepted * 90000, 60 << 20)
            self.assertLess(accepted * 90000, 70 << 20)
        finally:
            broker.send_signal(signal.SIGCONT)
        deadline = time.time() + 30
        while time.time() < deadline:
            err, ack = a.call("chat message", {"text": "flowing again"})
            if ack[0].get("ok"):
                break
            time.sleep(0.5)
        self.assertTrue(ack[0].get("ok"), ack)


if __name__ == "__main__":
    unittest.main()
