#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The hub on a PostgreSQL store (docs/scaling.md, "The store on
PostgreSQL"): the broker plugin, hubd, hub-bridge and hubctl on a throwaway
cluster (scripts/pg-temp), `store` set to its conninfo.

- hubctl makes the store (migrations) and the followers register in
  node_applied;
- a user added and granted with hubctl connects, subscribes and joins the
  instant hubctl returned (writers wait on node_applied, followers hear
  NOTIFY hub_change);
- a revoke is in force when hubctl returns: nothing published after it
  reaches the member;
- login through hubd, a chat message stored as history and read back as a
  page; logout through hubd kicks the session's live connection within 1 s;
- a stopped follower costs hubctl sync_timeout_ms and a warning naming it;
- PostgreSQL stopped: connected clients keep talking (the directory is in
  memory); started again: the followers reconnect, LISTEN again, and a grant
  is in force when hubctl returns;
- a restart of every service keeps users, rooms, memberships and history;
- hubctl backup/restore refuse and name pg_dump/pg_restore;
- a second node (another broker with its own data_dir, the same store and
  token key) enforces a grant and a revoke made with hubctl on the first
  the instant hubctl returned.

Skipped (with the reason) when the PostgreSQL binaries are missing.
"""
import json
import os
import signal
import socket
import tempfile
import threading
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import SioClient, Stack, timeout, wait_until  # noqa: E402
from mqttraw import Closed, RawClient  # noqa: E402

SYNC_TIMEOUT_MS = 1500
class StorePostgresql(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if harness.pg_skip_reason():
            # (under the sanitizers: the PostgreSQL code runs instrumented
            # in unit.common.*.postgresql)
            raise unittest.SkipTest(harness.pg_skip_reason())
        cls.st = Stack(extra_conf={"sync_timeout_ms": SYNC_TIMEOUT_MS})
        cls.objs = []
        try:
            # beside the stack's directory: it outlives the services
            cls.pg = harness.PgCluster(tempfile.mkdtemp(prefix="hubpg-"))
            cls.pgdir, cls.ci = cls.pg.dir, cls.pg.ci
            cls.st.conf["store"] = '"%s"' % cls.ci
            cls.st.write_conf(cls.st.conf)
            cls.st.add_user("owner", rooms={"yard": "write"})
            cls.start_services()
        except Exception:
            cls.close_all()
            raise

    @classmethod
    def start_services(cls):
        cls.st.start_broker()
        cls.st.start_hubd()
        cls.st.start_bridge()
        # both followers registered before the tests start
        assert wait_until(lambda: cls.nodes() == 2, 10), cls.sql("SELECT * FROM node_applied")

    @classmethod
    def sql(cls, query):
        return cls.pg.sql(query)

    @classmethod
    def nodes(cls):
        out = cls.sql("SELECT count(*) FROM node_applied WHERE updated > hub_now_ms() - 5000")
        return int(out) if out.isdigit() else -1

    @classmethod
    def close_all(cls):
        for o in cls.objs:
            o.close()
        cls.st.close()
        if getattr(cls, "pg", None):
            cls.pg.close()

    @classmethod
    def tearDownClass(cls):
        logs = cls.st.log("bridge") + cls.st.log("hubd") + cls.st.log("broker")
        cls.close_all()
        assert "AddressSanitizer" not in logs and "runtime error" not in logs, logs[-3000:]

    def raw(self, user, password, client_id, version=5):
        c = RawClient(self.st.ports["mqtt"])
        self.objs.append(c)
        return c, c.connect(user, password, client_id=client_id, version=version)

    def hubctl(self, *args, **kw):
        r = self.st.hubctl(*args, **kw)
        self.assertNotIn("warning", r.stderr, "hubctl %s: %s" % (args, r.stderr))
        return r

    def test_01_store_on_postgresql(self):
        self.assertFalse(os.path.exists(os.path.join(self.st.data, "hub.db")),
                         "a SQLite store was made beside PostgreSQL")
        self.assertEqual(self.sql("SELECT version FROM hub_schema"), "4")
        self.assertEqual(self.sql("SELECT count(*) FROM principals WHERE name = 'owner'"), "1")
        # no password or conninfo in the services' logs
        for name in ("broker", "hubd", "bridge"):
            self.assertNotIn("dbname=hub", self.st.log(name), name)

    def test_02_user_granted_in_force_at_once(self):
        for i in range(4):
            user, room = "u%d" % i, "room%d" % i
            self.hubctl("user", "add", user, "--password-stdin", input="password-%d\n" % i)
            self.hubctl("room", "add", room)
            self.hubctl("grant", room, user, "write")
            tok = self.st.token(user)
            c, rc = self.raw(user, tok, "c-%s" % user)
            self.assertEqual(rc, 0, "refused right after hubctl user add")
            self.assertEqual(c.subscribe(["rooms/%s/ev/#" % room]), [1],
                             "subscription refused right after the grant")
            c.close()
            s = SioClient(self.st.sio_url(), {"auth": {"token": tok}}, user)
            self.objs.append(s)
            s.wait("connect")
            err, args = s.call("join", room)
            self.assertIsNone(err)
            self.assertTrue(args[0].get("ok"), args)
            s.close()

    def test_03_revoke_nothing_after_return(self):
        self.st.add_user("rv1", rooms={"yard": "read"})
        sub, rc = self.raw("rv1", self.st.token("rv1"), "rv1-sub")
        self.assertEqual(rc, 0)
        self.assertEqual(sub.subscribe(["rooms/yard/ev/#"]), [1])
        pub, rc = self.raw("owner", self.st.token("owner"), "owner-pub")
        self.assertEqual(rc, 0)
        pub.publish("rooms/yard/ev/tick/owner", b'{"n":0}')
        self.assertTrue(wait_until(lambda: sub.collect(0.05), 10), "nothing before the revoke")
        self.hubctl("revoke", "yard", "rv1")
        other, rc = self.raw("rv1", self.st.token("rv1"), "rv1-other")
        self.assertEqual(rc, 0)
        self.assertEqual(other.subscribe(["rooms/yard/ev/#"]), [0x87])
        for n in range(1, 50):
            pub.publish("rooms/yard/ev/tick/owner", json.dumps({"n": n}).encode())
        self.assertTrue(pub.alive())
        self.assertEqual(sub.collect(0.5), [], "delivered after hubctl revoke returned")

    def test_04_login_history_logout_kicks(self):
        self.st.add_user("hist", rooms={"yard": "write"})
        cookie, tok, _ = self.st.login("hist")
        c, rc = self.raw("hist", tok, "hist-c")
        self.assertEqual(rc, 0)
        c.publish("rooms/yard/ev/chat message/hist", b'{"text":"on postgresql"}', qos=1)
        page = {}

        def stored():
            r = self.st.http("GET", "/api/rooms/yard/messages", cookie=cookie)
            page["r"] = r
            return r.status == 200 and any(
                m.get("data", {}).get("text") == "on postgresql"
                for m in r.json().get("messages", []))
        self.assertTrue(wait_until(stored, 10), page.get("r"))
        out = self.st.http("POST", "/api/logout", cookie=cookie,
                           headers={"Origin": "http://127.0.0.1:%d" % self.st.ports["http"]})
        self.assertEqual(out.status, 204)
        t0 = time.time()
        kicked = False
        while time.time() - t0 < 1.0 and not kicked:
            try:
                c.collect(0.05)
                kicked = not c.alive(0.2)
            except (Closed, OSError):
                kicked = True
        self.assertTrue(kicked, "the logged-out session's connection is still up after 1 s")
        c2, rc = self.raw("hist", tok, "hist-c2")
        self.assertEqual(rc, 0x87, "the token of a logged-out session still connects")

    def test_05_stopped_follower_costs_the_timeout(self):
        bridge = self.st.procs["bridge"]
        os.kill(bridge.pid, signal.SIGSTOP)
        try:
            t0 = time.time()
            r = self.st.hubctl("room", "add", "stuck")
            took = time.time() - t0
        finally:
            os.kill(bridge.pid, signal.SIGCONT)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning", r.stderr)
        self.assertIn("gateway", r.stderr)
        self.assertGreaterEqual(took, SYNC_TIMEOUT_MS / 1000.0 * 0.9)
        self.assertLess(took, SYNC_TIMEOUT_MS / 1000.0 + 20)
        self.hubctl("room", "add", "unstuck")

    def test_06_postgresql_down_clients_go_on_then_reconnect(self):
        self.st.add_user("pgd", rooms={"yard": "write"})
        c, rc = self.raw("pgd", self.st.token("pgd"), "pgd-c")
        self.assertEqual(rc, 0)
        self.assertEqual(c.subscribe(["rooms/yard/ev/#"]), [1])
        pg = os.path.join(self.pgdir, "data")
        self.pg.stop_server()
        try:
            c.publish("rooms/yard/ev/tick/pgd", b'{"down":1}')
            got = []
            self.assertTrue(wait_until(lambda: got.extend(c.collect(0.05)) or got, 5),
                            "a connected client stopped working with PostgreSQL down")
        finally:
            self.pg.start_server()
        self.assertTrue(os.path.isdir(pg))
        # the followers come back (reconnect with backoff, LISTEN again)
        self.assertTrue(wait_until(lambda: self.nodes() == 2, 20),
                        self.sql("SELECT * FROM node_applied"))
        # hubd's connections broke with the server: the next login gets a
        # new one at once (a lost connection is re-opened and the
        # statement run again), not a 503
        self.st.login("pgd")
        self.hubctl("room", "add", "after-pg")
        self.hubctl("grant", "after-pg", "pgd", "read")
        self.assertEqual(c.subscribe(["rooms/after-pg/ev/#"]), [1],
                         "grant not in force when hubctl returned after PostgreSQL came back")

    def test_07_restart_keeps_everything(self):
        self.st.add_user("keep", rooms={"keepers": "write"})
        cookie, tok, _ = self.st.login("keep")
        c, rc = self.raw("keep", tok, "keep-c")
        self.assertEqual(rc, 0)
        c.publish("rooms/keepers/ev/chat message/keep", b'{"text":"kept"}', qos=1)
        self.assertTrue(wait_until(lambda: self.sql(
            "SELECT count(*) FROM messages WHERE room = 'keepers'") == "1", 10))
        c.close()
        for name in ("bridge", "hubd", "broker"):
            self.assertEqual(self.st.stop(name, timeout=60), 0, name)
        # a clean stop takes the node out of node_applied
        self.assertEqual(self.nodes(), 0)
        self.start_services()
        cookie, tok, _ = self.st.login("keep")
        c, rc = self.raw("keep", tok, "keep-c2")
        self.assertEqual(rc, 0)
        self.assertEqual(c.subscribe(["rooms/keepers/ev/#"]), [1])
        r = self.st.http("GET", "/api/rooms/keepers/messages", cookie=cookie)
        self.assertEqual(r.status, 200)
        self.assertEqual([m["data"]["text"] for m in r.json()["messages"]], ["kept"])

    def test_08_backup_and_restore_name_pg_tools(self):
        out = os.path.join(self.st.dir, "b.db")
        for args in (("backup", out), ("restore", out, "--yes")):
            r = self.st.hubctl(*args, check=False)
            self.assertNotEqual(r.returncode, 0, args)
            self.assertIn("pg_dump", r.stderr)
            self.assertIn("pg_restore", r.stderr)
            self.assertNotIn("dbname=hub", r.stderr)
        self.assertFalse(os.path.exists(out))

    def share_key(self, b):
        """Another node (Stack b) gets this one's token key: tokens made
        here are good there."""
        b.prepare_data()
        key = os.path.join(b.data, "token.key")
        with open(os.path.join(self.st.data, "token.key"), "rb") as f, open(key, "wb") as g:
            g.write(f.read())
        os.chmod(key, 0o600)
        st = os.stat(self.st.data)
        os.chown(key, st.st_uid, st.st_gid)

    def test_09_second_node_in_force_when_hubctl_returns(self):
        """A second node (its own data_dir, ports and broker; the same store
        and the same token key) enforces what hubctl did on the first one
        the instant hubctl returned."""
        b = Stack(extra_conf={"store": '"%s"' % self.ci, "sync_timeout_ms": SYNC_TIMEOUT_MS})
        try:
            self.share_key(b)
            before = self.nodes()
            b.start_broker()
            self.assertTrue(wait_until(lambda: self.nodes() == before + 1, 10))
            for i in range(4):
                user, room = "n2u%d" % i, "n2room%d" % i
                self.hubctl("user", "add", user, "--password-stdin", input="password-%d\n" % i)
                self.hubctl("room", "add", room)
                self.hubctl("grant", room, user, "read")
                c = RawClient(b.ports["mqtt"])
                self.objs.append(c)
                self.assertEqual(c.connect(user, self.st.token(user), client_id="n2-%d" % i,
                                           version=5), 0, "node 2 refused a user just added")
                self.assertEqual(c.subscribe(["rooms/%s/ev/#" % room]), [1],
                                 "node 2: grant not in force when hubctl returned")
                self.hubctl("revoke", room, user)
                self.assertEqual(c.subscribe(["rooms/%s/ev/x" % room]), [0x87],
                                 "node 2: revoke not in force when hubctl returned")
                c.close()
            # node 2 stopped: hubctl no longer waits for it
            self.assertEqual(b.stop("broker", timeout=60), 0)
            self.assertEqual(self.nodes(), before)
            t0 = time.time()
            self.hubctl("room", "add", "n2-gone")
            self.assertLess(time.time() - t0, SYNC_TIMEOUT_MS / 1000.0)
        finally:
            b.close()

    @timeout(120)
    def test_10_unanswering_server_never_holds_hubd(self):
        """hubd on PostgreSQL through a TCP relay that then stops answering
        (its connections dropped, new ones accepted and never answered: a
        hung server, or a host gone behind a firewall that still completes
        handshakes). hubd's loop is never held for a connect attempt
        (connect_timeout, 5 s): /healthz answers 503 at once, again and
        again past the attempt's end, and a page without the store is
        served meanwhile; once the relay forwards again the store is back
        without a restart."""
        relay = Relay(os.path.join(self.pgdir, "run", ".s.PGSQL.5432"))
        b = Stack(extra_conf={"store": '"host=127.0.0.1 port=%d dbname=hub user=hub"' % relay.port})
        try:
            self.share_key(b)
            b.start_hubd()
            self.assertEqual(b.http("GET", "/healthz").status, 200)
            relay.freeze()
            end = time.time() + 7  # past one whole attempt (5 s)
            worst, n = 0.0, 0
            while time.time() < end:
                t0 = time.time()
                code = b.http("GET", "/healthz").status
                worst = max(worst, time.time() - t0)
                self.assertEqual(code, 503)
                t0 = time.time()
                self.assertEqual(b.http("GET", "/").status, 200)
                worst = max(worst, time.time() - t0)
                n += 1
            # one call waits at most HC_STORE_LOOP_WAIT_MS (250 ms) for a
            # re-open; a blocking one would take connect_timeout (5 s)
            self.assertLess(worst, 2.5, "the loop was held %.2f s" % worst)
            self.assertGreater(n, 5)
            # failures logged at most once a second, not once a request
            warned = b.log("hubd").count('msg="health check failed"')
            self.assertLessEqual(warned, 10, "%d warnings for %d checks" % (warned, n))
            relay.thaw()
            self.assertTrue(wait_until(lambda: b.http("GET", "/healthz").status == 200, 20),
                            b.log("hubd")[-2000:])
            self.assertIn('msg="health check ok again"', b.log("hubd"))
            # the server stops answering on the live connection: a
            # statement's result is waited for at most 3 s, then the
            # connection is given up; later calls fail at once
            relay.pause()
            t0 = time.time()
            self.assertEqual(b.http("GET", "/healthz").status, 503)
            first = time.time() - t0
            self.assertLess(first, 4.5, "a statement held the loop %.2f s" % first)
            worst = 0.0
            for _ in range(5):
                t0 = time.time()
                self.assertEqual(b.http("GET", "/healthz").status, 503)
                self.assertEqual(b.http("GET", "/").status, 200)
                worst = max(worst, time.time() - t0)
            self.assertLess(worst, 2.5, "the loop was held %.2f s" % worst)
            relay.thaw()
            self.assertTrue(wait_until(lambda: b.http("GET", "/healthz").status == 200, 20),
                            b.log("hubd")[-2000:])
            self.assertNotIn("dbname=hub", b.log("hubd"))
        finally:
            b.close()
            relay.close()


class Relay:
    """A TCP relay to a UNIX socket on 127.0.0.1:port. freeze(): its open
    connections dropped, new ones accepted and never answered; pause(): its
    open connections stall (nothing forwarded, nothing closed), new ones
    are held; thaw(): forwarding again."""

    def __init__(self, target):
        self.target = target
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(64)
        self.port = self.srv.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs, self.held = [], []
        self.frozen = self.closed = False
        self.flowing = threading.Event()
        self.flowing.set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            with self.lock:
                if self.closed:
                    c.close()
                    return
                if self.frozen:
                    self.held.append(c)
                    continue
                u = socket.socket(socket.AF_UNIX)
                try:
                    u.connect(self.target)
                except OSError:
                    c.close()
                    continue
                self.pairs.append((c, u))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                self.flowing.wait()
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _drop(self, socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def freeze(self):
        with self.lock:
            self.frozen = True
            pairs, self.pairs = self.pairs, []
        self._drop([s for p in pairs for s in p])

    def pause(self):
        with self.lock:
            self.frozen = True
            self.flowing.clear()

    def thaw(self):
        with self.lock:
            self.frozen = False
            held, self.held = self.held, []
        self.flowing.set()
        self._drop(held)

    def close(self):
        with self.lock:
            self.closed = True
            pairs, self.pairs = self.pairs, []
            held, self.held = self.held, []
        self.flowing.set()
        self.srv.close()
        self._drop([s for p in pairs for s in p] + held)


if __name__ == "__main__":
    unittest.main(verbosity=2)
