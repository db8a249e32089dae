# SPDX-License-Identifier: MIT
"""Several brokers on loopback (docs/scaling.md): a core broker and edge
brokers, each with hub_auth.so, joined by the bridges scripts/gen-bridges
generates, all on one shared data directory; hubd and hub-bridge per node
on their own ports. The store is PostgreSQL (a throwaway cluster in the
stack's directory, as `HUB_NODES=N scripts/stack` runs it) where the
binaries are there and usable (harness.pg_skip_reason), else one shared
SQLite file. Used by tests/integration/test_nodes*.py and
bench/nodes_bench.py.

    with Nodes(edges=("n1", "n2", "n3")) as ns:
        ns.start_all()
        ns.ports["n2"]["mqtt"]          # edge n2's MQTT port
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BIN, REPO, Stack, broker_argv, free_port, wait_until  # noqa: E402

GEN = os.path.join(REPO, "scripts", "gen-bridges")


class Nodes(Stack):
    """A Stack whose broker is several: "core" and the edges. self.ports
    keeps the Stack's own entries (those of the first edge, so
    Stack.hubctl/login work) and has one dict per node."""

    def __init__(self, edges=("n1", "n2", "n3"), extra_conf=None, node_extra=None,
                 store="auto"):
        super().__init__(extra_conf=extra_conf)
        self.pg = None
        if store == "postgresql" or (store == "auto" and harness.pg_usable()):
            try:
                # beside the stack's directory: it outlives the services
                self.pg = harness.PgCluster(tempfile.mkdtemp(prefix="hubpg-"))
            except Exception:
                super().close()
                raise
            self.conf["store"] = '"%s"' % self.pg.ci
        self.store = "postgresql" if self.pg else "sqlite"
        self.node_extra = node_extra or {}
        self.edges = list(edges)
        self.names = ["core"] + self.edges
        self.node_ports = {}
        for name in self.names:
            self.node_ports[name] = {k: free_port() for k in ("mqtt", "http", "ws", "sio")}
        first = self.node_ports[self.edges[0]]
        self.ports.update(first)
        self.conf.update(mqtt_port=first["mqtt"], http_port=first["http"],
                         ws_port=first["ws"], sio_port=first["sio"])
        self.write_conf(self.conf)
        self.links = os.path.join(self.dir, "links")
        self.nodes_file = os.path.join(self.dir, "nodes")
        with open(self.nodes_file, "w") as f:
            for name in self.names:
                f.write("%s %s 127.0.0.1 %d\n" % (
                    "core" if name == "core" else "edge", name,
                    self.node_ports[name]["mqtt"]))

    def node_conf(self, name):
        """hub.conf of one node: the shared settings, its own ports, its
        place among the nodes."""
        p = self.node_ports[name]
        conf = dict(self.conf)
        conf.update(mqtt_port=p["mqtt"], http_port=p["http"], ws_port=p["ws"],
                    sio_port=p["sio"], node_role="core" if name == "core" else "edge",
                    node_name=name, link_key_file=os.path.join(self.links, "link.key"))
        conf.update(self.node_extra.get(name, {}))
        path = os.path.join(self.dir, "hub-%s.conf" % name)
        with open(path, "w") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        return path

    def gen_links(self):
        self.prepare_data()
        acct = harness.run_as_account()
        owner = ["--owner", self.run_as] if acct and self.run_as else []
        r = subprocess.run([GEN, self.nodes_file, self.links] + owner,
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError("gen-bridges: " + r.stderr)
        return r.stdout

    def node_broker_conf(self, name):
        hub_conf = self.node_conf(name)
        state = os.path.join(self.data, "node-" + name)
        os.makedirs(state, exist_ok=True)
        acct = harness.run_as_account()
        if acct:
            os.chown(state, *acct)
        with open(os.path.join(REPO, "conf", "mosquitto.conf")) as f:
            text = f.read()
        text = (text.replace("listener 1883 ", "listener %d " % self.node_ports[name]["mqtt"])
                .replace("plugin build/", "plugin %s/" % harness.BUILD)
                .replace("plugin_opt_config conf/hub.conf", "plugin_opt_config " + hub_conf)
                .replace("persistence_location data/", "persistence_location %s/" % state))
        text += "\nlog_type debug\n"
        if name != "core":
            text += "include_dir %s\n" % os.path.join(self.links, name)
        path = os.path.join(self.dir, "mosquitto-%s.conf" % name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def start_node(self, name):
        """The broker of one node (its bridge connects on its own)."""
        conf = self.node_broker_conf(name)
        proc = self.start("broker-" + name, broker_argv(conf), self.node_ports[name]["mqtt"])
        return proc

    def link_up(self, name, timeout=10.0, start=0):
        """Wait until edge name's bridge is connected to the core (the core
        logged the link in, and sent its greeting: the edge re-announced)."""
        needle = "New bridge connected from 127.0.0.1:"
        tail = " as hub-link.%s (" % name
        return wait_until(lambda: any(needle in ln and tail in ln for ln in
                                      self.log("broker-core")[start:].splitlines()), timeout)

    def start_all(self, services=()):
        """Links, the core, the edges (waiting for each link), then the
        services named in services as (kind, node) pairs: kind hubd or
        bridge."""
        self.gen_links()
        self.start_node("core")
        for e in self.edges:
            self.start_node(e)
        for e in self.edges:
            if not self.link_up(e):
                raise RuntimeError("link of %s did not come up:\n%s\n%s" % (
                    e, self.log("broker-" + e)[-3000:], self.log("broker-core")[-3000:]))
        for kind, node in services:
            self.start_service(kind, node)

    def start_service(self, kind, node):
        """hubd or hub-bridge of one node, on that node's ports and broker."""
        conf = self.node_conf(node)
        saved = dict(self.env)
        self.env["HUB_CONFIG"] = conf
        try:
            if kind == "hubd":
                return self.start("hubd-" + node, [os.path.join(BIN, "hubd")],
                                  self.node_ports[node]["http"])
            return self.start("bridge-" + node, [os.path.join(BIN, "hub-bridge")],
                              self.node_ports[node]["sio"])
        finally:
            self.env = saved

    def close(self):
        super().close()
        if self.pg:
            self.pg.close()

    def mqtt(self, node):
        return self.node_ports[node]["mqtt"]

    def http_at(self, node, method, path, body=None, headers=None, cookie=None):
        """Stack.http against another node's hubd."""
        saved = self.ports["http"]
        self.ports["http"] = self.node_ports[node]["http"]
        try:
            return self.http(method, path, body=body, headers=headers, cookie=cookie)
        finally:
            self.ports["http"] = saved

    def start_haproxy(self, hubd=("n1", "n2"), sio=("n1", "n2")):
        """conf/haproxy/hub.cfg in front of two hubd and two hub-bridge;
        ports["lb_http"], ports["lb_sio"]."""
        self.ports["lb_http"], self.ports["lb_sio"] = free_port(), free_port()
        env = {
            "HUB_LB_HTTP": "127.0.0.1:%d" % self.ports["lb_http"],
            "HUB_LB_SIO": "127.0.0.1:%d" % self.ports["lb_sio"],
            "HUB_HUBD1": "127.0.0.1:%d" % self.node_ports[hubd[0]]["http"],
            "HUB_HUBD2": "127.0.0.1:%d" % self.node_ports[hubd[1]]["http"],
            "HUB_SIO1": "127.0.0.1:%d" % self.node_ports[sio[0]]["sio"],
            "HUB_SIO2": "127.0.0.1:%d" % self.node_ports[sio[1]]["sio"],
        }
        saved = dict(self.env)
        self.env.update(env)
        try:
            cfg = os.environ.get("HUB_TEST_HAPROXY_CFG") or os.path.join(
                REPO, "conf", "haproxy", "hub.cfg")
            return self.start("haproxy", ["haproxy", "-db", "-f", cfg], self.ports["lb_sio"])
        finally:
            self.env = saved
