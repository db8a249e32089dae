#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Webhook rows the broker makes (docs/backends.md "Webhooks"): joined and
left notices (with the online count and the reason) and room events
(ev:NAME) that a webhook wants, written to the store's outbox by the
plugin's writer thread (hubd sends them: its own tests). Real parts: the
broker with hub_auth.so, paho MQTT 5 clients, the store read with sqlite3.

Checked: the rows and their JSON bodies ({"id","type","ts",...}: room,
user, online, reason; room, event, from, data or data_b64), the webhooks'
event and room filters, a webhook added or deleted while the broker runs
(the writer notices the store changed), events held for a hook make rows
only once accepted.
"""
import json
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, MqttClient, timeout, wait_until  # noqa: E402
from test_backends_mqtt import V5Client, servicekey_add  # noqa: E402


class Webhooks(BrokerTestCase):

    @classmethod
    def prepare(cls, stack):
        stack.add_user("alice", rooms={"lobby": "write", "quiet": "write", "hooked": "write"})
        stack.add_user("bob", rooms={"lobby": "read"})
        stack.hubctl("webhook", "add", "http://127.0.0.1:9/hook", "--events",
                     "joined,left,ev:chat", "--rooms", "lobby,hooked")
        cls.chat_key = servicekey_add(stack, "chat")
        stack.hubctl("room", "hook", "hooked", "chat")

    def rows(self, since=0):
        con = sqlite3.connect("file:%s?mode=ro" % os.path.join(self.stack.data, "hub.db"),
                              uri=True, timeout=5)
        try:
            out = []
            for rowid, typ, body in con.execute(
                    "SELECT rowid, type, body FROM webhook_outbox WHERE rowid > ? "
                    "ORDER BY rowid", (since,)):
                b = json.loads(body)
                self.assertEqual(b["type"], typ)
                self.assertEqual(len(b["id"]), 22)
                self.assertIsInstance(b["ts"], int)
                out.append((rowid, b))
            return out
        finally:
            con.close()

    def last_rowid(self):
        r = self.rows()
        return r[-1][0] if r else 0

    def wait_rows(self, since, pred, timeout=5.0):
        """Rows after since once pred(bodies) holds (the writer batches)."""
        got = []

        def ok():
            got[:] = [b for _, b in self.rows(since)]
            return pred(got)
        self.assertTrue(wait_until(ok, timeout, 0.05), "rows: %r" % got)
        return got

    def v5(self, user, password=None):
        c = self.own(V5Client(self.port, user, password or self.stack.token(user), version=5))
        self.assertEqual(c.connect(), 0)
        return c

    def wait_webhooks(self, n, start):
        self.assertTrue(self.stack.wait_log("broker", "webhooks=%d " % n, 5, start),
                        "the broker did not see %d webhooks" % n)

    @timeout(60)
    def test_01_presence_and_events(self):
        since = self.last_rowid()
        alice = self.v5("alice")
        # the rows of alice's rooms may come in more than one batch: wait
        # for lobby's
        got = self.wait_rows(since, lambda b: any(x["type"] == "joined" and x["room"] == "lobby"
                                                  for x in b))
        joined = [(b["room"], b["user"], b["online"]) for b in got if b["type"] == "joined"]
        # the room filter (lobby, hooked): alice is in quiet too, no row
        self.assertIn(("lobby", "alice", 1), joined)
        self.assertNotIn("quiet", [j[0] for j in joined])
        since = self.last_rowid()
        bob = MqttClient(self.port, "bob", self.stack.token("bob"), version=5)
        self.own(bob)
        self.assertEqual(bob.connect(), 0)
        got = self.wait_rows(since, lambda b: any(x["user"] == "bob" for x in b))
        self.assertEqual([(b["type"], b["room"], b["online"]) for b in got if b["user"] == "bob"],
                         [("joined", "lobby", 2)])
        since = self.last_rowid()
        alice.pub("rooms/lobby/ev/chat/alice", json.dumps({"text": "hi", "n": [1, 2]}), qos=1)
        alice.pub("rooms/lobby/ev/chat/alice", b"\x00\xffbin", qos=1)
        alice.pub("rooms/lobby/ev/typing/alice", b"{}", qos=1)       # not wanted
        alice.pub("rooms/quiet/ev/chat/alice", b'{"q":1}', qos=1)    # not that room
        got = self.wait_rows(since, lambda b: len(b) >= 2)
        time.sleep(0.3)
        got = [b for _, b in self.rows(since)]
        self.assertEqual(len(got), 2, got)
        self.assertEqual({k: got[0][k] for k in ("type", "room", "event", "from", "data")},
                         {"type": "event", "room": "lobby", "event": "chat", "from": "alice",
                          "data": {"text": "hi", "n": [1, 2]}})
        self.assertEqual(got[1]["data_b64"], "AP9iaW4=")
        self.assertNotIn("data", got[1])
        since = self.last_rowid()
        bob.disconnect()
        got = self.wait_rows(since, lambda b: any(x["type"] == "left" for x in b))
        self.assertEqual([(b["room"], b["user"], b["online"], b["reason"]) for b in got],
                         [("lobby", "bob", 1, "clean")])

    @timeout(60)
    def test_02_added_and_deleted_while_running(self):
        start = len(self.stack.log("broker"))
        out = self.stack.hubctl("webhook", "add", "http://127.0.0.1:9/all", "--events",
                                "ev:*").stdout
        hook_id = out.split()[1]
        self.wait_webhooks(2, start)
        alice = self.v5("alice")
        since = self.last_rowid()
        alice.pub("rooms/quiet/ev/typing/alice", b"{}", qos=1)
        got = self.wait_rows(since, lambda b: any(x.get("event") == "typing" for x in b))
        self.assertEqual([(b["room"], b["event"]) for b in got if b["type"] == "event"],
                         [("quiet", "typing")])
        start = len(self.stack.log("broker"))
        self.stack.hubctl("webhook", "del", hook_id)
        self.wait_webhooks(1, start)
        since = self.last_rowid()
        alice.pub("rooms/quiet/ev/typing/alice", b"{}", qos=1)
        alice.pub("rooms/lobby/ev/chat/alice", b'"after"', qos=1)
        got = self.wait_rows(since, lambda b: any(x.get("data") == "after" for x in b))
        self.assertEqual([b["event"] for b in got if b["type"] == "event"], ["chat"])

    @timeout(60)
    def test_03_hooked_events_once_accepted(self):
        chat = self.v5("chat", self.chat_key)
        self.assertEqual(chat.sub("svc/chat/#"), [1])
        alice = self.v5("alice")
        since = self.last_rowid()
        for text, accept in (("no", False), ("yes", True)):
            alice.publish5("rooms/hooked/ev/chat/alice", {"text": text})
            m = chat.wait_msg("svc/chat/hook/hooked/chat/alice", 5)
            self.assertIsNotNone(m)
            verdict = {"accept": True, "data": {"text": text.upper()}} if accept else \
                {"accept": False, "reason": "nope"}
            chat.publish5(m[4].ResponseTopic, verdict, correlation=m[4].CorrelationData)
        got = self.wait_rows(since, lambda b: any(x.get("event") == "chat" for x in b))
        time.sleep(0.3)
        got = [b for _, b in self.rows(since) if b["type"] == "event"]
        self.assertEqual([(b["room"], b["data"]) for b in got], [("hooked", {"text": "YES"})])


if __name__ == "__main__":
    harness.broker_main()
