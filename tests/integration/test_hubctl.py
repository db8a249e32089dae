#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""hubctl end to end (CONTRACT.md "Command line"; docs/hubctl.md).

The real build/bin/hubctl on a private data directory: every subcommand of
`hubctl --help` with its output; bad usage (exit 2), failures (exit 1), each
with exactly one line on stderr starting "hubctl: " and nothing on stdout;
config lookup (--config before and after the command, HUB_CONFIG,
conf/hub.conf in the working directory, HUB_DATA_DIR, file:line errors);
passwords from stdin and from a terminal; tokens (claims, --ttl, the CLI
session's lifetime and --session-ttl); device secrets shown once; explain
as a table; batch files. Then the contract's flow against a running hubd
(and the broker when mosquitto is installed): user add, login, grant, see
the room in GET /api/session, session revoke SID / --user, 401.

    HUB_BUILD_DIR=build /usr/bin/python3 tests/integration/test_hubctl.py
"""
import hashlib
import hmac
import json
import os
import re
import select
import shutil
import subprocess
import sys
import time
import unittest
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import b64url_decode, token_claims, wait_until  # noqa: E402

HUBCTL = os.path.join(harness.BIN, "hubctl")
SECRET_RE = r"[A-Za-z0-9_-]{43}"
DAY7 = 7 * 24 * 3600


def iso(text):
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=timezone.utc).timestamp())


def sessions(out):
    """`session list` rows as dicts by SID (the header checked)."""
    lines = out.splitlines()
    assert lines and lines[0].split() == ["SID", "USER", "KIND", "CREATED", "EXPIRES",
                                          "STATE", "ADDRESS"], out
    rows = {}
    for line in lines[1:]:
        f = line.split()
        rows[f[0]] = {"user": f[1], "kind": f[2], "created": iso(f[3]), "expires": iso(f[4]),
                      "state": f[5], "addr": f[6] if len(f) > 6 else ""}
    return rows


class CliCase(unittest.TestCase):
    """Assertions on one hubctl run."""

    def assertOk(self, r, stdout=None, regex=None):
        """Exit 0, nothing on stderr; stdout equal to / matching."""
        self.assertEqual((r.returncode, r.stderr), (0, ""), "%r" % r)
        if stdout is not None:
            self.assertEqual(r.stdout, stdout)
        if regex is not None:
            self.assertRegex(r.stdout, regex)
        return r.stdout

    def assertOneLine(self, r, code, text, what=""):
        """Exit code, nothing on stdout, one stderr line 'hubctl: ...text...'."""
        what = "%s %r" % (what, r.args[1:])
        self.assertEqual(r.returncode, code, "%s: exit %d, stderr %r" % (
            what, r.returncode, r.stderr))
        self.assertEqual(r.stdout, "", what)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, "%s: stderr %r" % (what, r.stderr))
        self.assertTrue(r.stderr.endswith("\n"), what)
        self.assertTrue(lines[0].startswith("hubctl: "), "%s: %r" % (what, lines[0]))
        self.assertIn(text, lines[0], what)
        if code == 2:
            # the hint names the help of the command at fault
            self.assertRegex(lines[0], r" \(hubctl( [a-z]+){0,2} --help\)$", what)
        return lines[0]

    def assertUsage(self, r, text, what=""):
        return self.assertOneLine(r, 2, text, what)

    def assertFails(self, r, text, what=""):
        return self.assertOneLine(r, 1, text, what)


class Cli(CliCase):
    """hubctl alone (no services) on one store: alice (write in lobby),
    bob (admin role, read in lobby), carl (no room), device truck1 of alice
    in lobby."""

    @classmethod
    def setUpClass(cls):
        cls.s = harness.Stack()
        try:
            cls.s.add_user("alice", "alice-pw-1", rooms={"lobby": "write"})
            cls.s.add_user("bob", "bob-pw-12", role="admin", rooms={"lobby": "read"})
            cls.s.add_user("carl", "carl-pw-1")
            cls.truck = cls.s.device_add("truck1", "alice", room="lobby")
        except Exception:
            cls.s.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def run_ctl(self, *args, input=None, env=None, cwd=None, stdin=None):
        """hubctl with the stack's environment (or env), returning the
        CompletedProcess (never raises on a non-zero exit)."""
        kw = {"input": input} if stdin is None else {"stdin": stdin}
        return subprocess.run([HUBCTL] + [str(a) for a in args], env=env or self.s.env,
                              cwd=cwd or self.s.dir, capture_output=True, text=True,
                              timeout=30, **kw)

    def ctl(self, *args, input=None):
        return self.run_ctl(*args, input=input, stdin=None if input is not None
                            else subprocess.DEVNULL)

    def env_without_config(self, **extra):
        env = {k: v for k, v in self.s.env.items() if k != "HUB_CONFIG"}
        env.update(extra)
        return env

    def snapshot(self):
        return tuple(self.ctl(*c).stdout for c in (
            ("user", "list"), ("device", "list"), ("room", "list"), ("members", "lobby"),
            ("delivery", "list")))

    # ---- help -------------------------------------------------------------
    GLOBAL_HELP = [
        "user add NAME", "user del NAME [--yes]", "user passwd NAME", "user list",
        "device add ID --owner USER", "device del ID", "device list",
        "room add NAME", "room del NAME", "room list", "room hook ROOM SERVICE|none",
        "grant ROOM PRINCIPAL read|write|admin", "revoke ROOM PRINCIPAL", "members ROOM",
        "session list [USER] [--all]", "session revoke SID | --user USER",
        "token USER [--ttl SECONDS] [--session-ttl SECONDS]",
        "servicekey add NAME", "servicekey del NAME", "servicekey list",
        "webhook add URL", "webhook list", "webhook del ID",
        "delivery open ID --vehicle DEVICE --customer USER", "delivery close ID",
        "delivery list", "batch [FILE]", "explain PRINCIPAL TOPIC read|write|subscribe",
        "backup FILE [--force]", "restore FILE [--yes] [--keep-sessions]",
        "--create-store", "Exit status: 0 success, 1 failure, 2 bad usage."]
    # every command and subcommand with its own help: (words, its usage line,
    # an option or word its help must explain)
    SUBCOMMANDS = [
        (["user", "add"], "user add NAME [--role admin|user]", "--password-stdin"),
        (["user", "del"], "user del NAME [--yes]", "devices"),
        (["user", "passwd"], "user passwd NAME", "--keep-sessions"),
        (["user", "list"], "user list", "display name"),
        (["device", "add"], "device add ID --owner USER", "shown"),
        (["device", "del"], "device del ID", "connections end"),
        (["device", "list"], "device list", "secret"),
        (["room", "add"], "room add NAME", "grant"),
        (["room", "del"], "room del NAME", "history"),
        (["room", "list"], "room list", "members"),
        (["room", "hook"], "room hook ROOM SERVICE|none", "refused"),
        (["grant"], "grant ROOM PRINCIPAL read|write|admin", "write (also emit)"),
        (["revoke"], "revoke ROOM PRINCIPAL", "returns"),
        (["members"], "members ROOM", "level"),
        (["session", "list"], "session list [USER] [--all]", "--all"),
        (["session", "revoke"], "session revoke SID | --user USER", "401"),
        (["token"], "token USER [--ttl SECONDS]", "--session-ttl"),
        (["servicekey", "add"], "servicekey add NAME", "Bearer"),
        (["servicekey", "del"], "servicekey del NAME", "refused"),
        (["servicekey", "list"], "servicekey list", "hooks"),
        (["webhook", "add"], "webhook add URL [--events joined,left,login,logout,ev:NAME,...]",
         "X-Hub-Signature-256"),
        (["webhook", "list"], "webhook list", "failing"),
        (["webhook", "del"], "webhook del ID", "pending"),
        (["delivery", "open"], "delivery open ID --vehicle DEVICE --customer USER",
         "delivery-ID"),
        (["delivery", "close"], "delivery close ID", "no longer"),
        (["delivery", "list"], "delivery list", "member"),
        (["batch"], "batch [FILE]", "--password TEXT"),
        (["explain"], "explain PRINCIPAL TOPIC read|write|subscribe", "rule"),
        (["backup"], "backup FILE [--force]", "0600"),
        (["restore"], "restore FILE [--yes] [--keep-sessions]", "stopped"),
    ]

    def test_01_help(self):
        for args in (["--help"], ["-h"], ["--config", self.s.conf_path, "--help"],
                     ["--help", "--config", self.s.conf_path], ["help"]):
            out = self.assertOk(self.ctl(*args))
            self.assertTrue(out.startswith("usage: hubctl [--config FILE] COMMAND ...\n"), args)
            for c in self.GLOBAL_HELP:
                self.assertIn(c, out, "%s: %s missing from the help" % (args, c))
            # ... and which store this hubctl uses
            self.assertIn("This hubctl's store: %s (exists; data_dir of %s, from "
                          % (os.path.join(self.s.data, "hub.db"), self.s.conf_path), out)
        # no command at all: the usage on stderr, exit 2
        r = self.ctl()
        self.assertEqual((r.returncode, r.stdout), (2, ""))
        self.assertTrue(r.stderr.startswith("usage: hubctl"), r.stderr)
        self.assertOk(self.ctl("--version"), regex=r"^hubctl \d+\.\d+\.\d+\n$")

    def test_01b_subcommand_help(self):
        """Each subcommand's --help (anywhere after it, also with its
        arguments) and `help CMD SUB` print that subcommand's help, not
        the global usage; a command alone prints all its subcommands."""
        glob = self.ctl("--help").stdout
        by_cmd = {}
        for words, usage, explains in self.SUBCOMMANDS:
            by_cmd.setdefault(words[0], []).append(usage)
            self.assertIn(usage, glob, "%s is not in the global usage" % usage)
            for args in (words + ["--help"], words + ["-h"], ["help"] + words,
                         words + ["x", "--help"], ["--config", self.s.conf_path] + words
                         + ["--help"]):
                with self.subTest(args=args):
                    out = self.assertOk(self.ctl(*args))
                    self.assertTrue(out.startswith("usage: hubctl " + usage), out[:200])
                    self.assertNotIn("usage: hubctl [--config FILE] COMMAND", out)
                    self.assertIn(explains, out)
                    if len(words) == 2:
                        # only that subcommand
                        self.assertEqual(out.count("usage: hubctl"), 1, out)
        for cmd, usages in by_cmd.items():
            out = self.assertOk(self.ctl(cmd, "--help"))
            self.assertEqual(out.count("usage: hubctl"), len(usages), cmd)
            for u in usages:
                self.assertIn("usage: hubctl " + u, out)
        # an unknown command is bad usage, with or without --help
        self.assertUsage(self.ctl("bogus", "--help"), "unknown command 'bogus'")
        self.assertUsage(self.ctl("help", "bogus"), "help: unknown command 'bogus'")
        # asking for help changes nothing (no store is even opened)
        before = self.snapshot()
        self.assertOk(self.ctl("user", "del", "alice", "--yes", "--help"))
        self.assertOk(self.ctl("room", "add", "helproom", "--help"))
        self.assertEqual(self.snapshot(), before)

    # ---- bad usage: exit 2 --------------------------------------------------
    def test_02_usage_errors(self):
        table = [
            (["bogus"], "unknown command 'bogus'"),
            (["--bogus", "user", "list"], "unknown option '--bogus'"),
            (["--config"], "--config needs a FILE"),
            (["user", "list", "--config"], "--config needs a FILE"),
            (["user"], "user: expected add, del, passwd or list"),
            (["user", "frob"], "user: unknown subcommand 'frob'"),
            (["user", "list", "extra"], "user list takes no arguments"),
            (["user", "add"], "user add: expected one NAME"),
            (["user", "add", "a", "b"], "user add: expected one NAME"),
            (["user", "del"], "user del: expected one NAME"),
            (["user", "passwd"], "user passwd: expected one NAME"),
            (["user", "add", "bad name"], "invalid username 'bad name'"),
            (["user", "add", "a/b"], "invalid username 'a/b'"),
            (["user", "add", "x" * 65], "invalid username"),
            (["user", "add", "x", "--role", "root"], "--role must be admin or user"),
            (["user", "add", "x", "--role"], "unknown option or missing value: '--role'"),
            (["user", "add", "x", "--display", "y" * 129], "--display longer than 128 bytes"),
            (["user", "add", "x", "--frob"], "unknown option or missing value: '--frob'"),
            (["user", "add", "x", "--password", "longenough1"],
             "--password is for batch files; use --password-stdin"),
            (["device"], "device: expected add, del or list"),
            (["device", "frob"], "device: unknown subcommand 'frob'"),
            (["device", "add", "d9"], "device add needs --owner USER"),
            (["device", "add", "a+b", "--owner", "alice"], "invalid device id 'a+b'"),
            (["device", "add", "d9", "--owner", "a b"], "invalid owner 'a b'"),
            (["device", "add", "d9", "--owner", "alice", "--room", "a#"], "invalid room 'a#'"),
            (["device", "add", "d9", "--owner"], "unknown option or missing value"),
            (["device", "add", "d9", "--owner", "alice", "--display", "y" * 129],
             "--display longer than 128 bytes"),
            (["device", "del"], "device del: expected one ID"),
            (["device", "list", "x"], "device list takes no arguments"),
            (["room"], "room: expected add, del, list or hook"),
            (["room", "hook", "lobby"], "usage: room hook ROOM SERVICE|none"),
            (["room", "hook", "lobby", "a", "b"], "usage: room hook ROOM SERVICE|none"),
            (["room", "hook", "lob by", "shop"], "invalid room name 'lob by'"),
            (["room", "hook", "lobby", "sh op"], "invalid service name 'sh op'"),
            (["room", "frob"], "room: unknown subcommand 'frob'"),
            (["room", "add"], "room add: expected one NAME"),
            (["room", "add", "a", "b"], "room add: expected one NAME"),
            (["room", "add", "a+b"], "invalid room name 'a+b'"),
            (["room", "del", ""], "invalid room name ''"),
            (["room", "list", "x"], "room list takes no arguments"),
            (["grant"], "usage: grant ROOM PRINCIPAL read|write|admin"),
            (["grant", "lobby", "alice"], "usage: grant ROOM PRINCIPAL"),
            (["grant", "lobby", "alice", "read", "x"], "usage: grant ROOM PRINCIPAL"),
            (["grant", "lobby", "alice", "owner"],
             "level must be read, write or admin, not 'owner'"),
            (["grant", "lobby", "alice", "READ"], "level must be read, write or admin"),
            (["grant", "lob by", "alice", "read"], "invalid room name 'lob by'"),
            (["grant", "lobby", "al/ice", "read"], "invalid principal 'al/ice'"),
            (["revoke", "lobby"], "usage: revoke ROOM PRINCIPAL"),
            (["revoke", "lobby", "alice", "x"], "usage: revoke ROOM PRINCIPAL"),
            (["members"], "usage: members ROOM"),
            (["members", "a", "b"], "usage: members ROOM"),
            (["session"], "session: expected list or revoke"),
            (["session", "frob"], "session: unknown subcommand 'frob'"),
            (["session", "list", "alice", "bob"], "usage: session list [USER] [--all]"),
            (["session", "list", "--frob"], "usage: session list [USER] [--all]"),
            (["session", "revoke"], "usage: session revoke SID | --user USER"),
            (["session", "revoke", "--user"], "usage: session revoke SID | --user USER"),
            (["session", "revoke", "a", "b"], "usage: session revoke SID | --user USER"),
            (["session", "revoke", "--frob"], "usage: session revoke SID | --user USER"),
            (["token"], "usage: token USER [--ttl SECONDS] [--session-ttl SECONDS]"),
            (["token", "alice", "bob"], "usage: token USER"),
            (["token", "alice", "--ttl"], "usage: token USER"),
            (["token", "alice", "--frob"], "usage: token USER"),
            (["token", "alice", "--ttl", "29"], "--ttl must be 30 to 86400 seconds"),
            (["token", "alice", "--ttl", "86401"], "--ttl must be 30 to 86400 seconds"),
            (["token", "alice", "--ttl", "1m"], "--ttl must be 30 to 86400 seconds"),
            (["token", "alice", "--session-ttl", "10"],
             "--session-ttl must be 30 to 31536000 seconds"),
            (["token", "al ice"], "invalid username 'al ice'"),
            (["servicekey"], "usage: servicekey add|del NAME, servicekey list"),
            (["servicekey", "add"], "usage: servicekey add|del NAME, servicekey list"),
            (["servicekey", "frob", "x"], "usage: servicekey add|del NAME, servicekey list"),
            (["servicekey", "add", "a", "b"], "usage: servicekey add|del NAME, servicekey list"),
            (["servicekey", "list", "x"], "usage: servicekey add|del NAME, servicekey list"),
            (["servicekey", "add", "a b"], "invalid key name 'a b'"),
            (["delivery"], "delivery: expected open, close or list"),
            (["delivery", "frob"], "delivery: unknown subcommand 'frob'"),
            (["delivery", "open", "d2"], "delivery open ID --vehicle DEVICE --customer USER"),
            (["delivery", "open", "d2", "--vehicle", "truck1"], "delivery open ID --vehicle"),
            (["delivery", "open", "d/2", "--vehicle", "truck1", "--customer", "bob"],
             "invalid delivery id 'd/2'"),
            (["delivery", "open", "d" * 56, "--vehicle", "truck1", "--customer", "bob"],
             "at most 55 characters"),
            (["delivery", "open", "d2", "--vehicle", "truck1", "--customer", "bob", "--x"],
             "unknown option or missing value: '--x'"),
            (["delivery", "close"], "delivery close: expected one ID"),
            (["delivery", "list", "x"], "delivery list takes no arguments"),
            (["explain"], "usage: explain PRINCIPAL TOPIC read|write|subscribe"),
            (["explain", "alice", "t"], "usage: explain PRINCIPAL TOPIC"),
            (["explain", "alice", "t", "read", "x"], "usage: explain PRINCIPAL TOPIC"),
            (["explain", "alice", "t", "publish"],
             "access must be read, write or subscribe, not 'publish'"),
            (["explain", "a/b", "t", "read"], "invalid principal 'a/b'"),
            (["batch", "a", "b"], "usage: batch [FILE]"),
        ]
        before = self.snapshot()
        for args, text in table:
            with self.subTest(args=args):
                self.assertUsage(self.ctl(*args), text)
        self.assertEqual(self.snapshot(), before, "a usage error changed the store")

    # ---- failures: exit 1 ---------------------------------------------------
    def test_02b_usage_errors_point_to_their_help(self):
        for args, hint in ((["user", "add"], "hubctl user add --help"),
                           (["user", "frob"], "hubctl user --help"),
                           (["user"], "hubctl user --help"),
                           (["grant", "lobby"], "hubctl grant --help"),
                           (["session", "revoke"], "hubctl session revoke --help"),
                           (["backup"], "hubctl backup --help"),
                           (["bogus"], "hubctl --help"),
                           (["--bogus"], "hubctl --help")):
            line = self.assertUsage(self.ctl(*args), "", args)
            self.assertTrue(line.endswith(" (%s)" % hint), line)
            # and that help exists
            if hint != "hubctl --help":
                self.assertOk(self.ctl(*hint.split()[1:]))

    def test_03_failures(self):
        pw = "longenough1\n"
        table = [
            (["user", "add", "alice", "--password-stdin"], pw,
             "'alice' is already taken by a user"),
            (["user", "add", "truck1", "--password-stdin"], pw,
             "'truck1' is already taken by a device (users, devices and service keys share "
             "one namespace)"),
            (["user", "add", "newu", "--password-stdin"], "short\n",
             "password too short: at least 8 characters"),
            (["user", "add", "newu", "--password-stdin"], "", "no password on standard input"),
            (["user", "add", "newu", "--password-stdin"], "x" * 1025 + "\n",
             "password longer than 1024 bytes"),
            (["user", "del", "nobody"], None, "no such user: 'nobody'"),
            (["user", "del", "truck1"], None, "'truck1' is a device, not a user"),
            (["user", "passwd", "nobody", "--password-stdin"], pw, "no such user: 'nobody'"),
            (["user", "passwd", "truck1", "--password-stdin"], pw,
             "'truck1' is a device, not a user"),
            (["device", "add", "truck1", "--owner", "alice"], None,
             "'truck1' is already taken by a device"),
            (["device", "add", "alice", "--owner", "bob"], None,
             "'alice' is already taken by a user"),
            (["device", "add", "d9", "--owner", "nobody"], None,
             "no such user: 'nobody' (a device's owner must be a user)"),
            (["device", "add", "d9", "--owner", "truck1"], None, "no such user: 'truck1'"),
            (["device", "add", "d9", "--owner", "alice", "--room", "nope"], None,
             "no such room: 'nope'"),
            (["device", "del", "nobody"], None, "no such device: 'nobody'"),
            (["device", "del", "alice"], None, "'alice' is a user, not a device"),
            (["room", "add", "lobby"], None, "room 'lobby' already exists"),
            (["room", "del", "nope"], None, "no such room: 'nope'"),
            (["grant", "nope", "alice", "read"], None, "no such room: 'nope'"),
            (["grant", "lobby", "nobody", "read"], None, "no such user or device: 'nobody'"),
            (["revoke", "nope", "alice"], None, "no such room: 'nope'"),
            (["revoke", "lobby", "nobody"], None, "no such user or device: 'nobody'"),
            (["revoke", "lobby", "carl"], None, "carl is not a member of lobby"),
            (["members", "nope"], None, "no such room: 'nope'"),
            (["session", "list", "nobody"], None, "no such user or device: 'nobody'"),
            (["session", "revoke", "A" * 22], None, "no such live session: '%s'" % ("A" * 22)),
            (["session", "revoke", "-" + "A" * 21], None, "no such live session"),
            (["session", "revoke", "short"], None, "no such live session: 'short'"),
            (["session", "revoke", "--user", "nobody"], None, "no such user: 'nobody'"),
            (["token", "nobody"], None, "no such user: 'nobody'"),
            (["token", "truck1"], None,
             "'truck1' is a device: devices connect with their secret, not a token"),
            (["servicekey", "del", "nokey"], None, "no such service key: 'nokey'"),
            (["delivery", "close", "nod"], None, "no open delivery 'nod'"),
            (["delivery", "open", "d5", "--vehicle", "nope", "--customer", "bob"], None,
             "no such device: 'nope'"),
            (["delivery", "open", "d5", "--vehicle", "alice", "--customer", "bob"], None,
             "'alice' is a user, not a device"),
            (["delivery", "open", "d5", "--vehicle", "truck1", "--customer", "nobody"], None,
             "no such user: 'nobody'"),
            (["delivery", "open", "d5", "--vehicle", "truck1", "--customer", "truck1"], None,
             "'truck1' is a device, not a user"),
            (["explain", "nobody", "rooms/lobby/ev/x/nobody", "read"], None,
             "no such user or device: 'nobody'"),
            (["batch", "/nonexistent/batch.txt"], None,
             "/nonexistent/batch.txt: No such file or directory"),
            (["--config", "/nonexistent/hub.conf", "user", "list"], None,
             "/nonexistent/hub.conf: cannot read config file"),
        ]
        before = self.snapshot()
        live = sessions(self.ctl("session", "list", "--all").stdout)
        for args, stdin, text in table:
            with self.subTest(args=args):
                self.assertFails(self.ctl(*args, input=stdin), text)
        self.assertEqual(self.snapshot(), before, "a failed command changed the store")
        self.assertEqual(sessions(self.ctl("session", "list", "--all").stdout), live,
                         "a failed token made a session")

    # ---- users --------------------------------------------------------------
    def test_10_users(self):
        self.assertOk(self.ctl("user", "add", "dave", "--role", "admin", "--display",
                               "Dave D", "--password-stdin", input="dave-pass-1\n"),
                      "user dave added\n")
        # stdin that is not a terminal gives the password without the flag
        self.assertOk(self.ctl("user", "add", "emma", input="emma-pass-1\n"),
                      "user emma added\n")
        rows = {l.split()[0]: l for l in self.assertOk(self.ctl("user", "list")).splitlines()}
        self.assertRegex(rows["dave"], r"^dave +admin +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ Dave D$")
        self.assertRegex(rows["emma"], r"^emma +user +\S+Z emma$")
        self.assertRegex(rows["bob"], r"^bob +admin ")
        self.assertNotIn("truck1", rows, "user list shows devices")
        for pw in ("dave-pass-1", "emma-pass-1"):
            self.assertNotIn(pw, self.ctl("user", "list").stdout)
        # no terminal: nothing deleted without --yes, and the refusal says
        # what would go (here: nothing else)
        self.assertUsage(self.ctl("user", "del", "emma"),
                         "user del emma also deletes nothing else (no devices, memberships "
                         "or live sessions): add --yes to delete")
        self.assertIn("emma", self.ctl("user", "list").stdout)
        self.assertOk(self.ctl("user", "del", "emma", "--yes"), "user emma deleted\n")
        self.assertNotIn("emma", self.ctl("user", "list").stdout)
        self.assertFails(self.ctl("user", "del", "emma", "--yes"), "no such user: 'emma'")

    def test_10b_user_del_says_what_goes(self):
        """user del lists the user's devices, memberships and live sessions,
        deletes nothing without --yes (no terminal), and with --yes deletes
        the devices too."""
        self.ctl("user", "add", "owen", input="owen-pass-1\n")
        self.ctl("room", "add", "owens")
        self.ctl("grant", "owens", "owen", "write")
        self.ctl("grant", "lobby", "owen", "read")
        for d in ("owen-van", "owen-car"):
            self.assertOk(self.ctl("device", "add", d, "--owner", "owen", "--room", "owens"))
        self.s.token("owen")
        msg = ("user del owen also deletes its 2 devices (owen-car, owen-van), its memberships "
               "of 2 rooms and its 1 live session: add --yes to delete")
        before = self.snapshot()
        self.assertUsage(self.ctl("user", "del", "owen"), msg)
        # a batch has no terminal to ask on either
        self.assertUsage(self.ctl("batch", input="user del owen\n"), "batch line 1: " + msg)
        self.assertEqual(self.snapshot(), before)
        self.assertOk(self.ctl("user", "del", "owen", "--yes"),
                      "user owen deleted, with its 2 devices (owen-car, owen-van), its "
                      "memberships of 2 rooms and its 1 live session\n")
        devices = self.ctl("device", "list").stdout
        self.assertNotIn("owen-", devices)
        self.assertNotIn("owen", self.ctl("members", "owens").stdout)
        # more than 8 devices: the first 8 by name, then how many more
        self.ctl("user", "add", "fleetowner", input="fleet-pass-1\n")
        for k in range(11):
            self.ctl("device", "add", "fo%02d" % k, "--owner", "fleetowner")
        self.assertUsage(self.ctl("user", "del", "fleetowner"),
                         "its 11 devices (fo00, fo01, fo02, fo03, fo04, fo05, fo06, fo07 and 3 "
                         "more): add --yes")
        self.assertOk(self.ctl("batch", input="user del fleetowner --yes\n"),
                      regex=r"^user fleetowner deleted, with its 11 devices ")
        self.assertNotIn("fo0", self.ctl("device", "list").stdout)

    def test_11_passwd_ends_sessions(self):
        self.ctl("user", "add", "pat", input="pat-pass-1\n")
        sid = token_claims(self.s.token("pat"))["sid"]
        self.assertOk(self.ctl("user", "passwd", "pat", "--keep-sessions", "--password-stdin",
                               input="pat-pass-2\n"), "password of pat changed\n")
        self.assertEqual(sessions(self.ctl("session", "list", "pat").stdout)[sid]["state"],
                         "live")
        self.assertOk(self.ctl("user", "passwd", "pat", "--password-stdin",
                               input="pat-pass-3\n"),
                      "password of pat changed; its sessions were ended\n")
        self.assertNotIn(sid, sessions(self.ctl("session", "list", "pat").stdout))
        self.assertEqual(sessions(self.ctl("session", "list", "pat", "--all").stdout)[sid]
                         ["state"], "password")

    def tty_user(self, args, first, second):
        """hubctl with a terminal as stdin: answer the two prompts; returns
        (exit code, stdout, stderr, what the terminal echoed)."""
        master, slave = os.openpty()
        p = subprocess.Popen([HUBCTL] + args, env=self.s.env, stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.s.dir)
        os.close(slave)
        err = b""
        try:
            for prompt, answer in ((b"Password: ", first), (b"Again: ", second)):
                deadline = time.time() + 10
                while prompt not in err:
                    r, _, _ = select.select([p.stderr], [], [], max(0, deadline - time.time()))
                    self.assertTrue(r, "no %r prompt; stderr %r" % (prompt, err))
                    chunk = os.read(p.stderr.fileno(), 4096)
                    self.assertTrue(chunk, "hubctl exited before %r: %r" % (prompt, err))
                    err += chunk
                os.write(master, answer.encode() + b"\n")
            out, rest = p.communicate(timeout=10)
            echoed = b""
            while select.select([master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                echoed += chunk
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
        return p.returncode, out.decode(), (err + rest).decode(), echoed.decode()

    def test_12_password_prompt_on_a_terminal(self):
        # a name that is not a user fails before any prompt
        master, slave = os.openpty()
        try:
            r = subprocess.run([HUBCTL, "user", "passwd", "nobody"], env=self.s.env, stdin=slave,
                               capture_output=True, text=True, timeout=10)
        finally:
            os.close(slave)
            os.close(master)
        self.assertEqual((r.returncode, r.stdout, r.stderr),
                         (1, "", "hubctl: no such user: 'nobody'\n"))
        code, out, err, echoed = self.tty_user(["user", "add", "tina"], "tina-pass-1",
                                               "tina-pass-1")
        self.assertEqual((code, out), (0, "user tina added\n"), err)
        self.assertEqual(err, "Password: \nAgain: \n")
        self.assertNotIn("tina-pass-1", echoed, "the password was echoed")
        code, out, err, _ = self.tty_user(["user", "passwd", "tina"], "tina-pass-2",
                                          "tina-pass-X")
        self.assertEqual((code, out), (1, ""))
        self.assertEqual(err, "Password: \nAgain: \nhubctl: the passwords do not match\n")
        code, out, err, _ = self.tty_user(["user", "passwd", "tina"], "tina-pass-2",
                                          "tina-pass-2")
        self.assertEqual((code, out), (0, "password of tina changed; its sessions were ended\n"),
                         err)

    def tty_run(self, args, steps):
        """hubctl with a terminal as stdin: for each (prompt, answer, before)
        wait for prompt on stderr, call before() when given, then type the
        answer. Returns (exit code, stdout, stderr)."""
        master, slave = os.openpty()
        p = subprocess.Popen([HUBCTL] + args, env=self.s.env, stdin=slave,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.s.dir)
        os.close(slave)
        err = b""
        try:
            for prompt, answer, before in steps:
                deadline = time.time() + 10
                while prompt.encode() not in err:
                    r, _, _ = select.select([p.stderr], [], [], max(0, deadline - time.time()))
                    self.assertTrue(r, "no %r prompt; stderr %r" % (prompt, err))
                    chunk = os.read(p.stderr.fileno(), 4096)
                    self.assertTrue(chunk, "hubctl exited before %r: %r" % (prompt, err))
                    err += chunk
                if before:
                    before()
                os.write(master, answer.encode() + b"\n")
            out, rest = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(master)
        return p.returncode, out.decode(), (err + rest).decode()

    def test_13_user_del_asks_on_a_terminal(self):
        self.ctl("user", "add", "tom", input="tom-pass-1\n")
        self.assertOk(self.ctl("device", "add", "tom-van", "--owner", "tom", "--room", "lobby"))
        question = ("Deleting user tom also deletes its 1 device (tom-van). Delete user tom? "
                    "[y/N] ")
        for answer in ("n", "", "no", "yess"):
            code, out, err = self.tty_run(["user", "del", "tom"], [(question, answer, None)])
            self.assertEqual((code, out, err), (1, "", question + "hubctl: user tom not deleted\n"),
                             answer)
            self.assertIn("tom-van", self.ctl("device", "list").stdout)
        # a device added while the question waits: nothing is deleted (the
        # operator agreed to lose tom-van only)
        code, out, err = self.tty_run(["user", "del", "tom"], [(question, "y", lambda: self.ctl(
            "device", "add", "tom-bike", "--owner", "tom"))])
        self.assertEqual((code, out), (1, ""), err)
        self.assertTrue(err.endswith("hubctl: the devices of tom changed meanwhile; nothing "
                                     "deleted: run user del again\n"), err)
        self.assertIn("tom-bike", self.ctl("device", "list").stdout)
        self.assertIn("tom ", self.ctl("user", "list").stdout)
        question = ("Deleting user tom also deletes its 2 devices (tom-bike, tom-van). "
                    "Delete user tom? [y/N] ")
        code, out, err = self.tty_run(["user", "del", "tom"], [(question, "YES", None)])
        self.assertEqual((code, out, err), (0, "user tom deleted, with its 2 devices (tom-bike, "
                                               "tom-van)\n", question))
        self.assertNotIn("tom", self.ctl("device", "list").stdout)
        # --yes on a terminal: no question
        self.ctl("user", "add", "tim", input="tim-pass-1\n")
        code, out, err = self.tty_run(["user", "del", "tim", "--yes"], [])
        self.assertEqual((code, out, err), (0, "user tim deleted\n", ""))

    # ---- devices ------------------------------------------------------------
    def test_20_devices(self):
        r = self.ctl("device", "add", "van1", "--owner", "alice", "--display", "Van One",
                     "--room", "lobby")
        out = self.assertOk(r)
        lines = out.splitlines()
        self.assertEqual(len(lines), 3, out)
        self.assertEqual(lines[0], "device van1 added (owner alice)")
        m = re.fullmatch(r"secret: (%s)" % SECRET_RE, lines[1])
        self.assertIsNotNone(m, lines[1])
        secret = m.group(1)
        self.assertEqual(lines[2], "This secret is shown once. MQTT: username van1, password "
                         "the secret.")
        # never shown again, nor stored in the clear
        listing = self.assertOk(self.ctl("device", "list"))
        self.assertRegex(listing, r"(?m)^van1 +alice +\S+Z Van One$")
        self.assertRegex(listing, r"(?m)^truck1 +alice +\S+Z truck1$")
        for args in (("device", "list"), ("user", "list"), ("members", "lobby"),
                     ("room", "list"), ("session", "list", "--all")):
            self.assertNotIn(secret, self.ctl(*args).stdout, args)
            self.assertNotIn(self.truck, self.ctl(*args).stdout, args)
        for name in os.listdir(self.s.data):
            with open(os.path.join(self.s.data, name), "rb") as f:
                blob = f.read()
            self.assertNotIn(secret.encode(), blob, "secret in the clear in " + name)
        self.assertRegex(self.ctl("members", "lobby").stdout, r"(?m)^van1 +write$")
        # a failed add prints no secret
        r = self.ctl("device", "add", "van1", "--owner", "alice")
        self.assertFails(r, "'van1' is already taken by a device")
        self.assertNotIn("secret", r.stdout + r.stderr)
        self.assertOk(self.ctl("device", "del", "van1"), "device van1 deleted\n")
        self.assertNotIn("van1", self.ctl("device", "list").stdout)
        self.assertNotIn("van1", self.ctl("members", "lobby").stdout)
        # without --room: no membership; --display defaults to the id
        self.assertOk(self.ctl("device", "add", "van2", "--owner", "bob"),
                      regex=r"^device van2 added \(owner bob\)\nsecret: %s\n" % SECRET_RE)
        self.assertRegex(self.ctl("device", "list").stdout, r"(?m)^van2 +bob +\S+Z van2$")
        self.assertNotIn("van2", self.ctl("members", "lobby").stdout)
        self.assertOk(self.ctl("device", "del", "van2"))

    # ---- rooms and grants -----------------------------------------------------
    def test_30_rooms_and_grants(self):
        self.assertOk(self.ctl("room", "add", "r1"), "room r1 added\n")
        self.assertRegex(self.ctl("room", "list").stdout, r"(?m)^r1 +0 members$")
        self.assertRegex(self.ctl("room", "list").stdout, r"(?m)^lobby +3 members$")
        self.assertOk(self.ctl("members", "r1"), "")
        self.assertOk(self.ctl("grant", "r1", "alice", "admin"), "alice has admin in r1\n")
        self.assertRegex(self.ctl("room", "list").stdout, r"(?m)^r1 +1 member$")
        self.assertOk(self.ctl("grant", "r1", "bob", "read"), "bob has read in r1\n")
        self.assertOk(self.ctl("grant", "r1", "truck1", "write"), "truck1 has write in r1\n")
        self.assertEqual([l.split() for l in self.ctl("members", "r1").stdout.splitlines()],
                         [["alice", "admin"], ["bob", "read"], ["truck1", "write"]])
        # a second grant changes the level
        self.assertOk(self.ctl("grant", "r1", "alice", "read"), "alice has read in r1\n")
        self.assertRegex(self.ctl("members", "r1").stdout, r"(?m)^alice +read$")
        self.assertOk(self.ctl("revoke", "r1", "bob"), "bob removed from r1\n")
        self.assertFails(self.ctl("revoke", "r1", "bob"), "bob is not a member of r1")
        self.assertRegex(self.ctl("room", "list").stdout, r"(?m)^r1 +2 members$")
        self.assertOk(self.ctl("room", "del", "r1"), "room r1 deleted\n")
        self.assertNotIn("r1 ", self.ctl("room", "list").stdout)
        self.assertFails(self.ctl("members", "r1"), "no such room: 'r1'")

    # ---- tokens and CLI sessions ------------------------------------------------
    def check_token(self, out, user, ttl, session_ttl, env=None):
        self.assertRegex(out, r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\n$")
        tok = out.strip()
        head, body, sig = tok.split(".")
        self.assertEqual(json.loads(b64url_decode(head)), {"alg": "HS256", "typ": "JWT"})
        claims = token_claims(tok)
        self.assertEqual(set(claims), {"sub", "sid", "iat", "exp", "typ"}, claims)
        self.assertEqual(claims["sub"], user)
        self.assertEqual(claims["typ"], "mqtt")
        self.assertLessEqual(abs(claims["iat"] - time.time()), 5)
        self.assertEqual(claims["exp"] - claims["iat"], ttl, "token lifetime")
        mac = hmac.new(self.s.token_key(), (head + "." + body).encode(), hashlib.sha256)
        self.assertTrue(hmac.compare_digest(mac.digest(), b64url_decode(sig)), "signature")
        rows = sessions(self.run_ctl("session", "list", user, env=env).stdout)
        self.assertIn(claims["sid"], rows, "the token's session is not listed")
        row = rows[claims["sid"]]
        self.assertEqual((row["user"], row["kind"], row["state"], row["addr"]),
                         (user, "cli", "live", "cli"))
        self.assertLessEqual(abs(row["created"] - claims["iat"]), 1)
        self.assertEqual(row["expires"] - row["created"], session_ttl, "session lifetime")
        return claims

    def test_40_token(self):
        a = self.check_token(self.assertOk(self.ctl("token", "alice")), "alice", 900, DAY7)
        b = self.check_token(self.assertOk(self.ctl("token", "alice", "--ttl", "120")),
                             "alice", 120, DAY7)
        self.assertNotEqual(a["sid"], b["sid"], "each token is a new session")
        self.check_token(self.assertOk(self.ctl("token", "--ttl", "60", "bob",
                                                "--session-ttl", "3600")), "bob", 60, 3600)
        self.check_token(self.assertOk(self.ctl("token", "bob", "--session-ttl", "31536000")),
                         "bob", 900, 31536000)
        # the token never outlives its session
        self.check_token(self.assertOk(self.ctl("token", "bob", "--ttl", "600",
                                                "--session-ttl", "45")), "bob", 45, 45)
        # defaults come from the config (token_ttl, session_ttl)
        env = dict(self.s.env, HUB_TOKEN_TTL="300", HUB_SESSION_TTL="7200")
        r = self.run_ctl("token", "carl", env=env, stdin=subprocess.DEVNULL)
        self.check_token(self.assertOk(r), "carl", 300, 7200, env=env)

    def test_41_sessions(self):
        t1, t2, t3 = (token_claims(self.s.token("carl"))["sid"] for _ in range(3))
        tb = token_claims(self.s.token("bob"))["sid"]
        rows = sessions(self.assertOk(self.ctl("session", "list")))
        self.assertTrue({t1, t2, t3, tb} <= set(rows))
        self.assertEqual(set(sessions(self.ctl("session", "list", "carl").stdout)) & {tb}, set())
        self.assertOk(self.ctl("session", "revoke", t1), "session %s revoked\n" % t1)
        self.assertFails(self.ctl("session", "revoke", t1), "no such live session: '%s'" % t1)
        live = sessions(self.ctl("session", "list", "carl").stdout)
        self.assertNotIn(t1, live)
        self.assertTrue({t2, t3} <= set(live))
        self.assertEqual(sessions(self.ctl("session", "list", "carl", "--all").stdout)[t1]
                         ["state"], "kicked")
        n = len(live)
        self.assertOk(self.ctl("session", "revoke", "--user", "carl"),
                      "%d sessions of carl revoked\n" % n)
        self.assertEqual(sessions(self.ctl("session", "list", "carl").stdout), {})
        allrows = sessions(self.ctl("session", "list", "--all", "carl").stdout)
        self.assertEqual({allrows[s]["state"] for s in (t1, t2, t3)}, {"kicked"})
        self.assertOk(self.ctl("session", "revoke", "--user", "carl"),
                      "0 sessions of carl revoked\n")
        self.assertIn(tb, sessions(self.ctl("session", "list", "bob").stdout),
                      "another user's session was revoked")
        self.assertOk(self.ctl("session", "revoke", "--user", "truck1"),
                      "0 sessions of truck1 revoked\n")

    # ---- service keys -------------------------------------------------------------
    def test_50_servicekeys(self):
        out = self.assertOk(self.ctl("servicekey", "add", "shop"))
        self.assertRegex(out, r"^service key shop added\nkey: %s\nThis key is shown once\. "
                         r"Use it as: Authorization: Bearer <key> \(HTTP API\), or as the "
                         r"MQTT password of username shop \(a backend\)\n$" % SECRET_RE)
        self.assertFails(self.ctl("servicekey", "add", "shop"),
                         "service key 'shop' already exists")
        self.assertOk(self.ctl("servicekey", "del", "shop"), "service key shop deleted\n")
        self.assertFails(self.ctl("servicekey", "del", "shop"), "no such service key: 'shop'")
        self.assertOk(self.ctl("servicekey", "add", "shop"))
        # a key's name is the sender of what it publishes: never a user's or
        # device's name, either way round
        self.assertFails(self.ctl("servicekey", "add", "alice"),
                         "'alice' is already taken by a user")
        self.assertFails(self.ctl("servicekey", "add", "truck1"),
                         "'truck1' is already taken by a device")
        self.assertFails(self.ctl("user", "add", "shop", "--password-stdin",
                                  input="longenough1\n"),
                         "'shop' is already taken by a service key")
        self.assertFails(self.ctl("device", "add", "shop", "--owner", "alice"),
                         "'shop' is already taken by a service key")
        # hooks: a room names the service that checks its events
        self.assertFails(self.ctl("room", "hook", "lobby", "nosvc"),
                         "no such service: 'nosvc' (hubctl servicekey add nosvc)")
        self.assertFails(self.ctl("room", "hook", "nosuch", "shop"), "no such room: 'nosuch'")
        self.assertOk(self.ctl("room", "hook", "lobby", "shop"),
                      "room lobby: events reach members only once service shop accepted "
                      "them\n")
        self.assertIn("hook=shop", [l for l in self.ctl("room", "list").stdout.splitlines()
                                    if l.startswith("lobby ")][0])
        self.assertRegex(self.ctl("servicekey", "list").stdout,
                         r"(?m)^shop +created \d{4}-\d\d-\d\d \d\d:\d\d UTC  hooks: lobby$")
        self.assertOk(self.ctl("room", "hook", "lobby", "none"),
                      "room lobby: no hook; events reach members unchecked\n")
        self.assertNotIn("hook=", self.ctl("room", "list").stdout)
        self.assertRegex(self.ctl("servicekey", "list").stdout,
                         r"(?m)^shop +created \d{4}-\d\d-\d\d \d\d:\d\d UTC$")

    # ---- deliveries ---------------------------------------------------------------
    def test_60_deliveries(self):
        see = ("explain", "carl", "owntracks/truck1/phone", "read")
        self.assertTrue(self.ctl(*see).stdout.startswith("deny: "))
        self.assertOk(self.ctl("delivery", "list"), "%-32s %-24s %s\n" % (
            "DELIVERY", "MEMBER", "LEVEL"))
        self.assertOk(self.ctl("delivery", "open", "d1", "--vehicle", "truck1",
                               "--customer", "carl"),
                      "delivery d1 open: carl sees truck1 (room delivery-d1)\n")
        rows = [l.split() for l in self.ctl("delivery", "list").stdout.splitlines()]
        self.assertEqual(rows, [["DELIVERY", "MEMBER", "LEVEL"], ["d1", "carl", "read"],
                                ["d1", "truck1", "write"]])
        self.assertOk(self.ctl(*see), regex=r"^allow: carl read owntracks/truck1/phone\n"
                      r"rule: .*delivery-d1")
        self.assertFails(self.ctl("delivery", "open", "d1", "--vehicle", "truck1",
                                  "--customer", "carl"), "delivery 'd1' is already open")
        self.assertOk(self.ctl("delivery", "close", "d1"), "delivery d1 closed\n")
        self.assertFails(self.ctl("delivery", "close", "d1"), "no open delivery 'd1'")
        self.assertEqual(self.ctl("delivery", "list").stdout.count("\n"), 1)
        self.assertTrue(self.ctl(*see).stdout.startswith("deny: "))

    # ---- explain --------------------------------------------------------------------
    def test_70_explain(self):
        table = [
            # (principal, topic, access, allow, part of the rule)
            ("alice", "rooms/lobby/ev/chat/alice", "write", True, "alice has write in room lobby"),
            ("alice", "rooms/lobby/ev/chat/bob", "write", False,
             "{sender} must be your own name (alice)"),
            ("bob", "rooms/lobby/ev/chat/bob", "write", False, "emitting needs write"),
            ("bob", "rooms/lobby/ev/chat/alice", "read", True, "bob has read in room lobby"),
            ("carl", "rooms/lobby/ev/chat/alice", "read", False,
             "carl has no membership in room lobby"),
            ("bob", "rooms/lobby/#", "subscribe", True, "each delivery is checked again"),
            ("carl", "rooms/lobby/#", "subscribe", False, "the filter matches no topic"),
            ("carl", "rooms/+/ev/#", "subscribe", True, "filter can match"),
            ("alice", "rooms/lobby/sys/joined", "write", False, "only the hub writes here"),
            ("alice", "rooms/lobby/sys/joined", "read", True, "rooms/{room}/sys/"),
            ("bob", "rooms/lobby/presence/alice", "read", True, "rooms/{room}/presence/"),
            ("alice", "rooms/lobby/presence/alice", "write", False, "only the hub writes here"),
            ("bob", "users/alice/inbox/ping/bob", "write", True, "bob shares a room with alice"),
            ("carl", "users/alice/inbox/ping/carl", "write", False,
             "carl shares no room with alice"),
            ("bob", "users/alice/inbox/ping/carl", "write", False,
             "{sender} must be your own name (bob)"),
            ("alice", "users/alice/inbox/ping/bob", "read", True, "alice reads its own inbox"),
            ("bob", "users/alice/inbox/ping/bob", "read", False, "only alice reads this inbox"),
            ("bob", "users/alice/inbox/#", "subscribe", False, "the filter matches no topic"),
            ("alice", "users/alice/status", "write", True, "alice writes its own status"),
            ("bob", "users/alice/status", "write", False, "only alice (and the hub) write it"),
            ("bob", "users/alice/status", "read", True, "bob shares a room with alice"),
            ("carl", "users/alice/status", "read", False, "carl shares no room with alice"),
            ("truck1", "owntracks/truck1/phone", "write", True, "truck1 is that device"),
            ("alice", "owntracks/truck1/phone", "write", False, "only device truck1 writes here"),
            ("alice", "owntracks/truck1/phone", "read", True, "alice owns device truck1"),
            ("bob", "owntracks/truck1/phone/event", "read", True,
             "bob shares room lobby with device truck1"),
            ("carl", "owntracks/truck1/phone", "read", False,
             "carl neither owns truck1 nor shares a room with it"),
            ("alice", "owntracks/+/+", "subscribe", True, "owntracks/{device}/{name}"),
            ("carl", "owntracks/+/+", "subscribe", True, "filter can match"),
            ("carl", "owntracks/truck1/+", "subscribe", False, "the filter matches no topic"),
            ("bob", "$share/bob/rooms/lobby/ev/#", "subscribe", True,
             "each delivery is checked again"),
            ("bob", "$share/bob:w1/rooms/lobby/ev/#", "subscribe", True,
             "each delivery is checked again"),
            ("bob", "$share/g/rooms/lobby/ev/#", "subscribe", False,
             "$share/{group}/...: bob's groups are 'bob' or 'bob:...', not 'g'"),
            ("carl", "$share/carl/rooms/lobby/ev/#", "subscribe", False,
             "the filter matches no topic"),
            ("bob", "$SYS/broker/uptime", "subscribe", False, "topics starting with '$'"),
            ("bob", "rooms/lobby/ev/a/+/x", "write", False, "empty or wildcard level"),
            ("$hub", "rooms/lobby/sys/joined", "write", True, "the hub's own service identity"),
        ]
        bad = []
        for principal, topic, access, allow, rule in table:
            r = self.ctl("explain", principal, topic, access)
            want = "%s: %s %s %s" % ("allow" if allow else "deny", principal, access, topic)
            lines = r.stdout.splitlines()
            if (r.returncode, r.stderr) != (0, "") or len(lines) != 2 or lines[0] != want \
                    or not lines[1].startswith("rule: ") or rule not in lines[1]:
                bad.append("%s %s %s: want %r / rule with %r, got %d %r %r" % (
                    principal, topic, access, want, rule, r.returncode, r.stdout, r.stderr))
        self.assertEqual(bad, [], "\n".join(bad))

    # ---- batch ------------------------------------------------------------------------
    def test_80_batch(self):
        path = os.path.join(self.s.dir, "batch.txt")
        with open(path, "w") as f:
            f.write("# provisioning\n"
                    "\n"
                    "room add b-room   # trailing comment\n"
                    "user add b-user --password b-user-pw1 --display \"B User\"\n"
                    "\tgrant b-room b-user write\n"
                    "device add b-dev --owner b-user --room b-room\n"
                    "user passwd b-user --password b-user-pw2\n")
        out = self.assertOk(self.ctl("batch", path))
        self.assertRegex(out, r"^room b-room added\nuser b-user added\nb-user has write in "
                         r"b-room\ndevice b-dev added \(owner b-user\)\nsecret: %s\n.*\n"
                         r"password of b-user changed; its sessions were ended\n$" % SECRET_RE)
        self.assertRegex(self.ctl("user", "list").stdout, r"(?m)^b-user +user +\S+Z B User$")
        self.assertEqual([l.split() for l in self.ctl("members", "b-room").stdout.splitlines()],
                         [["b-dev", "write"], ["b-user", "write"]])
        # stdin ("-" or no FILE); the first failing line stops the batch,
        # with its status and one line naming it
        r = self.ctl("batch", input="room add b-2\n\ngrant nope b-user read\nroom add b-3\n")
        self.assertEqual(r.stdout, "room b-2 added\n")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "hubctl: batch line 3: no such room: 'nope'\n")
        self.assertNotIn("b-3", self.ctl("room", "list").stdout)
        r = self.ctl("batch", "-", input="room add b-4\nroom frob\nroom add b-5\n")
        self.assertEqual((r.returncode, r.stdout), (2, "room b-4 added\n"))
        self.assertEqual(r.stderr,
                         "hubctl: batch line 2: room: unknown subcommand 'frob' (hubctl room --help)\n")
        cases = [
            ("user add b-x\n", 2, "batch line 1: user add in a batch needs --password"),
            ("user passwd b-user\n", 2, "batch line 1: user passwd in a batch needs --password"),
            ("\n\nuser add b-x --password short\n", 1,
             "batch line 3: --password must be 8 to 1024 characters"),
            ("room add \"b 6\n", 1, "batch line 1: unterminated quote or too many words"),
            ("room add" + " x" * 40 + "\n", 1, "batch line 1: unterminated quote or too many"),
            ("batch other\n", 1, "batch line 1: batches do not nest"),
            ("frob\n", 2, "batch line 1: unknown command 'frob'"),
            ("room add " + "x" * 5000 + "\n", 1, "batch line 1: line longer than 4094 bytes"),
            ("room add b-room\n", 1, "batch line 1: room 'b-room' already exists"),
        ]
        for text, code, msg in cases:
            with self.subTest(batch=text[:30]):
                self.assertOneLine(self.ctl("batch", input=text), code, msg)
        self.assertNotIn("b-x", self.ctl("user", "list").stdout)

    # ---- configuration ----------------------------------------------------------------
    def test_90_config_lookup(self):
        conf = self.s.conf_path
        env = self.env_without_config()
        for args in (["--config", conf, "room", "list"], ["room", "list", "--config", conf],
                     ["--config=" + conf, "room", "list"], ["room", "--config", conf, "list"],
                     ["room", "list", "--config=" + conf]):
            r = self.run_ctl(*args, env=env, cwd="/", stdin=subprocess.DEVNULL)
            self.assertOk(r, regex=r"(?m)^lobby +\d+ members?$")
        r = self.run_ctl("room", "list", env=dict(env, HUB_CONFIG=conf), cwd="/")
        self.assertOk(r, regex=r"(?m)^lobby ")
        # --config wins over HUB_CONFIG
        r = self.run_ctl("room", "list", "--config", conf, cwd="/",
                         env=dict(env, HUB_CONFIG="/nonexistent/hub.conf"))
        self.assertOk(r, regex=r"(?m)^lobby ")
        self.assertFails(self.run_ctl("room", "list", cwd="/",
                                      env=dict(env, HUB_CONFIG="/nonexistent/hub.conf")),
                         "/nonexistent/hub.conf: cannot read config file")
        # conf/hub.conf in the working directory; data_dir relative to the file.
        # Its store does not exist: hubctl says where it looked and makes
        # nothing, until asked to with --create-store
        work = os.path.join(self.s.dir, "cwd")
        os.makedirs(os.path.join(work, "conf"))
        for d in (work, os.path.join(work, "conf")):
            os.chmod(d, 0o755)
        with open(os.path.join(work, "conf", "hub.conf"), "w") as f:
            f.write("data_dir = data2\nrun_as = %s\n" % self.s.run_as)
        store2 = os.path.join(work, "conf", "data2", "hub.db")
        for args in (["room", "add", "fromcwd"], ["room", "list"], ["token", "alice"],
                     ["backup", os.path.join(work, "b.db")]):
            self.assertFails(self.run_ctl(*args, env=env, cwd=work),
                             "hubctl: no store at %s (data_dir of %s, found without --config "
                             "or HUB_CONFIG); point --config or HUB_CONFIG at the hub's "
                             "hub.conf, or add --create-store to make a new empty store there"
                             % (store2, os.path.join(work, "conf", "hub.conf")), args)
        self.assertFalse(os.path.exists(os.path.dirname(store2)), "a data dir was made")
        self.assertOk(self.run_ctl("room", "add", "fromcwd", "--create-store", env=env, cwd=work),
                      "room fromcwd added\n")
        self.assertTrue(os.path.exists(store2))
        self.assertOk(self.run_ctl("room", "list", env=env, cwd=work), regex="^fromcwd ")
        self.assertNotIn("fromcwd", self.ctl("room", "list").stdout)
        # HUB_DATA_DIR (any HUB_<SETTING>) overrides the file
        other = os.path.join(self.s.dir, "data3")
        henv = dict(self.s.env, HUB_DATA_DIR=other)
        self.assertFails(self.run_ctl("room", "add", "fromenv", env=henv),
                         "hubctl: no store at %s/hub.db (data_dir from HUB_DATA_DIR)" % other)
        self.assertFalse(os.path.exists(other))
        self.assertOk(self.run_ctl("--create-store", "room", "add", "fromenv", env=henv),
                      "room fromenv added\n")
        self.assertTrue(os.path.exists(os.path.join(other, "hub.db")))
        self.assertNotIn("fromenv", self.ctl("room", "list").stdout)
        self.assertFails(self.run_ctl("room", "list", env=dict(self.s.env, HUB_DATA_DIR="")),
                         "data_dir")
        # no config file anywhere (a hubctl outside a source tree, no
        # /etc/hub/hub.conf): the default data_dir, said as such
        if not os.path.exists("/etc/hub/hub.conf"):
            lone = os.path.join(self.s.dir, "lone")
            os.makedirs(os.path.join(lone, "bin"))
            shutil.copy(HUBCTL, os.path.join(lone, "bin", "hubctl"))
            r = subprocess.run([os.path.join(lone, "bin", "hubctl"), "user", "list"], env=env,
                               cwd=lone, capture_output=True, text=True, timeout=30)
            self.assertFails(r, "hubctl: no store at %s/data/hub.db (the default data_dir: no "
                                "config file found (no --config, no HUB_CONFIG, no "
                                "conf/hub.conf here, no /etc/hub/hub.conf))" % lone)
            self.assertFalse(os.path.exists(os.path.join(lone, "data")))
            r = subprocess.run([os.path.join(lone, "bin", "hubctl"), "--help"], env=env,
                               cwd=lone, capture_output=True, text=True, timeout=30)
            self.assertIn("This hubctl's store: %s/data/hub.db (missing; the default data_dir"
                          % lone, r.stdout)

    @unittest.skipUnless(os.geteuid() == 0 and harness.run_as_account(),
                         "needs root and the run_as account")
    def test_92_links_in_the_data_dir(self):
        """The service account may write data_dir: a link it leaves there
        must not make hubctl, run as root, hand the file it points to over
        to the account (it used to chown through links), nor restore or
        back up through it."""
        data = os.path.join(self.s.dir, "data-links")
        env = dict(self.s.env, HUB_DATA_DIR=data)
        self.assertOk(self.run_ctl("--create-store", "room", "add", "x", env=env))
        victim = os.path.join(self.s.dir, "victim")
        with open(victim, "w") as f:
            f.write("root's file\n")
        os.chmod(victim, 0o644)
        key = os.path.join(data, "token.key")
        if os.path.exists(key):
            os.unlink(key)
        os.symlink(victim, key)
        self.assertOk(self.run_ctl("room", "list", env=env))
        st = os.stat(victim)
        self.assertEqual((st.st_uid, st.st_gid), (0, 0), "chown went through the link")
        # a backup does not read the key through the link
        b = os.path.join(self.s.dir, "links-backup.db")
        r = self.run_ctl("backup", b, env=env)
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("token.key", r.stderr)
        self.assertFalse(os.path.exists(b))
        # a restore replaces the link, never writes through it
        good = os.path.join(self.s.dir, "good-backup.db")
        self.s.token("alice")  # (the key exists once a token was made)
        self.assertRegex(self.assertOk(self.run_ctl("backup", good)), "(?m)^token key: included$")
        self.assertOk(self.run_ctl("restore", good, "--yes", env=env))
        self.assertFalse(os.path.islink(key))
        with open(victim) as f:
            self.assertEqual(f.read(), "root's file\n")
        self.assertEqual(os.stat(victim).st_uid, 0)
        # the store itself as a link: refused, the target untouched
        os.rename(os.path.join(data, "hub.db"), os.path.join(self.s.dir, "elsewhere.db"))
        os.symlink(os.path.join(self.s.dir, "elsewhere.db"), os.path.join(data, "hub.db"))
        r = self.run_ctl("restore", good, "--yes", env=env)
        self.assertEqual(r.returncode, 1, r)
        r = self.run_ctl("backup", b, env=env)
        self.assertEqual(r.returncode, 1, r)

    def test_91_bad_config(self):
        bad = os.path.join(self.s.dir, "bad.conf")
        cases = [
            ("data_dir = %s\n# fine\nbogus_setting = 1\n" % self.s.data, 3,
             "unknown setting 'bogus_setting'"),
            ("data_dir %s\n" % self.s.data, 1, "expected 'name = value'"),
            ("\ntoken_ttl = 5\n", 2, "token_ttl must be a whole number from 30 to 86400"),
            ("session_ttl = \"7200\n", 1, "unterminated quoted value"),
        ]
        before = self.snapshot()
        for text, line, msg in cases:
            with open(bad, "w") as f:
                f.write(text)
            for args in (["--config", bad, "room", "add", "cfgroom"],
                         ["room", "add", "cfgroom", "--config", bad]):
                r = self.run_ctl(*args, env=self.env_without_config())
                self.assertFails(r, "hubctl: %s:%d: %s" % (bad, line, msg), text)
            r = self.run_ctl("room", "add", "cfgroom", env=dict(self.s.env, HUB_CONFIG=bad))
            self.assertFails(r, "%s:%d: %s" % (bad, line, msg), text)
        self.assertEqual(self.snapshot(), before)


@unittest.skipUnless(harness.hubd_built(), "hubd is not built")
class Flow(CliCase):
    """The contract's flow: hubctl against a running hubd (and broker)."""

    @classmethod
    def setUpClass(cls):
        cls.s = harness.Stack()
        cls.broker = shutil.which("mosquitto") is not None and os.path.exists(
            os.path.join(harness.BUILD, "lib", "hub_auth.so"))
        try:
            # (a user made while the broker runs is known to it within
            # refresh_ms; made before, the first CONNECT cannot race it)
            cls.s.add_user("gina", "gina-pass-1")
            if cls.broker:
                cls.s.start_broker()
            cls.s.start_hubd()
        except Exception:
            cls.s.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.s.close()

    def ctl(self, *args, input=None):
        return self.s.hubctl(*args, input=input, check=False)

    def session_status(self, cookie):
        return self.s.http("GET", "/api/session", cookie=cookie).status

    def assert_401_within(self, cookie, seconds, what):
        t0 = time.time()
        ok = wait_until(lambda: self.session_status(cookie) == 401, seconds)
        self.assertTrue(ok, "%s: /api/session still answers after %.1f s" % (what, seconds))
        print("  %-40s %.3f s" % (what + ": 401 after", time.time() - t0), file=sys.stderr)

    def test_1_user_login_grant_revoke(self):
        self.assertOk(self.ctl("user", "add", "erin", "--display", "Erin E", "--password-stdin",
                               input="erin-pass-1\n"), "user erin added\n")
        r = self.s.http("POST", "/api/login", {"username": "erin", "password": "erin-pass-1\n"})
        self.assertEqual(r.status, 401, "the newline is not part of the password")
        cookie, token, body = self.s.login("erin", "erin-pass-1")
        self.assertEqual(body["user"]["username"], "erin")
        self.assertEqual(body["user"]["display_name"], "Erin E")
        r = self.s.http("GET", "/api/session", cookie=cookie)
        self.assertEqual((r.status, r.json()["rooms"]), (200, []))
        # a grant shows in the session's rooms
        self.assertOk(self.ctl("room", "add", "ops"), "room ops added\n")
        self.assertOk(self.ctl("grant", "ops", "erin", "write"), "erin has write in ops\n")
        self.assertTrue(wait_until(lambda: {"room": "ops", "level": "write", "hooked": False} in self.s.http(
            "GET", "/api/session", cookie=cookie).json()["rooms"], 1.0),
            "the grant is not in GET /api/session")
        self.assertOk(self.ctl("revoke", "ops", "erin"), "erin removed from ops\n")
        self.assertTrue(wait_until(lambda: self.s.http("GET", "/api/session", cookie=cookie)
                                   .json()["rooms"] == [], 1.0))
        self.assertOk(self.ctl("grant", "ops", "erin", "read"))
        # the login's session is listed (kind web), revoked by its SID
        sid = token_claims(token)["sid"]
        row = sessions(self.ctl("session", "list", "erin").stdout)[sid]
        self.assertEqual((row["kind"], row["state"]), ("web", "live"))
        self.assertOk(self.ctl("session", "revoke", sid), "session %s revoked\n" % sid)
        self.assert_401_within(cookie, 1.0, "session revoke SID")
        r = self.s.http("GET", "/api/session", cookie=cookie)
        self.assertEqual(r.json()["error"], "unauthorized")
        self.assertEqual(sessions(self.ctl("session", "list", "erin", "--all").stdout)[sid]
                         ["state"], "kicked")
        # --user ends every session of the user, not another user's
        c1, _, _ = self.s.login("erin", "erin-pass-1")
        c2, _, _ = self.s.login("erin", "erin-pass-1")
        self.ctl("user", "add", "fred", "--password-stdin", input="fred-pass-1\n")
        cf, _, _ = self.s.login("fred", "fred-pass-1")
        self.assertOk(self.ctl("session", "revoke", "--user", "erin"),
                      "2 sessions of erin revoked\n")
        for c in (c1, c2):
            self.assert_401_within(c, 1.0, "session revoke --user")
        self.assertEqual(self.session_status(cf), 200)
        # user passwd: the old password no longer logs in
        self.assertOk(self.ctl("user", "passwd", "erin", "--password-stdin",
                               input="erin-pass-2\n"))
        r = self.s.http("POST", "/api/login", {"username": "erin", "password": "erin-pass-1"})
        self.assertEqual(r.status, 401)
        self.s.login("erin", "erin-pass-2")
        # user del ends the other user's session
        self.assertOk(self.ctl("user", "del", "fred", "--yes"),
                      "user fred deleted, with its 1 live session\n")
        self.assert_401_within(cf, 1.0, "user del")

    def test_2_token_connects_and_revoke_kicks(self):
        if not self.broker:
            self.skipTest("mosquitto or hub_auth.so missing")
        tok = self.s.token("gina")
        sid = token_claims(tok)["sid"]
        c = harness.MqttClient(self.s.ports["mqtt"], "gina", tok, version=5)
        try:
            self.assertEqual(c.connect(), 0, "a hubctl token opens an MQTT connection")
            t0 = time.time()
            self.assertOk(self.ctl("session", "revoke", sid))
            at = c.wait_disconnect(3.0)
            self.assertIsNotNone(at, "still connected after session revoke")
            print("  %-40s %.3f s" % ("session revoke SID: MQTT kicked after", at - t0),
                  file=sys.stderr)
            self.assertLess(at - t0, 1.5)
        finally:
            c.close()
        again = harness.MqttClient(self.s.ports["mqtt"], "gina", tok)
        try:
            self.assertNotEqual(again.connect(), 0, "the revoked session's token still works")
        finally:
            again.close()


if __name__ == "__main__":
    harness.broker_main()
