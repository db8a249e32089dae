# SPDX-License-Identifier: MIT
"""A raw-socket MQTT client for tests that must see exact bytes.

Paho hides some of what the broker answers (the v5 PUBACK reason code, a
v3.1.1 SUBACK's 0x80 next to a v5 0x87, a CONNACK that never came); this
client speaks MQTT 3.1 (level 3), 3.1.1 (4) and 5 directly on a socket and
returns the codes as sent. Synchronous and single-threaded: PUBLISH packets
that arrive while it waits for an acknowledgement are kept in `inbox`.

Usage:
    c = RawClient(port)
    rc = c.connect("alice", token, version=5)      # CONNACK reason code
    codes = c.subscribe(["rooms/lobby/#"])          # SUBACK codes, one a filter
    code = c.publish("rooms/lobby/ev/x/alice", b"hi", qos=1)  # PUBACK code
    msgs = c.collect(0.5)                           # [(topic, payload, retain)]
"""
import socket
import struct
import time

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
PUBREC, PUBREL, PUBCOMP = 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14


class Closed(Exception):
    """The broker closed the connection (no answer to what we waited for)."""


def _varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            b |= 0x80
        out.append(b)
        if not n:
            return bytes(out)


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


class RawClient:
    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.version = 4
        self.mid = 0
        self.inbox = []          # (topic, payload, retain)
        self.disconnect_reason = None  # v5 DISCONNECT reason from the broker
        self.session_present = False   # the CONNACK's flag
        self._buf = b""

    # ---- framing ------------------------------------------------------
    def send_packet(self, ptype, flags, body):
        self.sock.sendall(bytes([(ptype << 4) | flags]) + _varint(len(body)) + body)

    def _read_exact(self, n, deadline):
        while len(self._buf) < n:
            left = deadline - time.time()
            if left <= 0:
                raise socket.timeout("timed out")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed by the broker")
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_packet(self, timeout=None):
        """(type, flags, body); raises socket.timeout or Closed."""
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        h = self._read_exact(1, deadline)[0]
        mult, length = 1, 0
        while True:
            b = self._read_exact(1, deadline)[0]
            length += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        return h >> 4, h & 0x0F, self._read_exact(length, deadline)

    def _next_mid(self):
        self.mid = self.mid % 65535 + 1
        return self.mid

    def _props_len(self, body, pos):
        mult, n = 1, 0
        while True:
            b = body[pos]
            pos += 1
            n += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                return n, pos

    def _handle_publish(self, flags, body):
        qos = (flags >> 1) & 3
        tlen = struct.unpack("!H", body[:2])[0]
        topic = body[2:2 + tlen].decode(errors="replace")
        pos = 2 + tlen
        mid = None
        if qos:
            mid = struct.unpack("!H", body[pos:pos + 2])[0]
            pos += 2
        if self.version == 5:
            plen, pos = self._props_len(body, pos)
            pos += plen
        self.inbox.append((topic, body[pos:], bool(flags & 1)))
        if qos == 1:
            self.send_packet(PUBACK, 0, struct.pack("!H", mid))
        elif qos == 2:
            self.send_packet(5, 0, struct.pack("!H", mid))  # PUBREC; PUBREL ignored

    def wait_for(self, ptype, timeout=None):
        """Read until a packet of ptype; PUBLISHes go to inbox."""
        deadline = time.time() + (self.timeout if timeout is None else timeout)
        while True:
            t, flags, body = self.read_packet(max(0.0, deadline - time.time()))
            if t == ptype:
                return flags, body
            if t == PUBLISH:
                self._handle_publish(flags, body)
            elif t == DISCONNECT:
                self.disconnect_reason = body[0] if body else 0
                raise Closed("DISCONNECT from the broker (reason 0x%02x)"
                             % self.disconnect_reason)

    # ---- MQTT operations ------------------------------------------------
    def connect(self, username=None, password=None, client_id="", version=4, clean=True,
                keepalive=60, will=None, session_expiry=None, will_delay=None):
        """Send CONNECT; return the CONNACK code (3.1/3.1.1 return code or
        v5 reason code). Raises Closed if the socket closes without one.
        username/password may be str or bytes (bytes may hold a NUL);
        will = (topic, payload, qos, retain). v5 only: session_expiry
        (Session Expiry Interval, s) and will_delay (Will Delay Interval,
        s) are sent as properties when given. After it returns,
        session_present holds the CONNACK's session present flag."""
        self.version = version
        name, level = (b"MQIsdp", 3) if version == 3 else (b"MQTT", version)
        flags = 0x02 if clean else 0
        payload = _str(client_id)
        if will:
            wtopic, wpayload, wqos, wretain = will
            flags |= 0x04 | (wqos << 3) | (0x20 if wretain else 0)
            if version == 5:
                wprops = b"" if will_delay is None else b"\x18" + struct.pack("!I", will_delay)
                payload += _varint(len(wprops)) + wprops
            if isinstance(wpayload, str):
                wpayload = wpayload.encode()
            payload += _str(wtopic) + struct.pack("!H", len(wpayload)) + wpayload
        if username is not None:
            flags |= 0x80
            payload += _str(username)
        if password is not None:
            flags |= 0x40
            payload += _str(password)
        var = _str(name) + bytes([level, flags]) + struct.pack("!H", keepalive)
        if version == 5:
            props = b"" if session_expiry is None else b"\x11" + struct.pack("!I", session_expiry)
            var += _varint(len(props)) + props
        self.send_packet(CONNECT, 0, var + payload)
        _, body = self.wait_for(CONNACK)
        self.session_present = bool(body[0] & 1)
        return body[1]

    def subscribe(self, filters, qos=1):
        """SUBACK codes, one per filter (0x80 / v5 0x87 when refused)."""
        mid = self._next_mid()
        body = struct.pack("!H", mid)
        if self.version == 5:
            body += _varint(0)
        for f in filters:
            body += _str(f) + bytes([qos])
        self.send_packet(SUBSCRIBE, 2, body)
        _, ack = self.wait_for(SUBACK)
        pos = 2
        if self.version == 5:
            plen, pos = self._props_len(ack, pos)
            pos += plen
        return list(ack[pos:])

    def unsubscribe(self, filters):
        mid = self._next_mid()
        body = struct.pack("!H", mid)
        if self.version == 5:
            body += _varint(0)
        for f in filters:
            body += _str(f)
        self.send_packet(UNSUBSCRIBE, 2, body)
        _, ack = self.wait_for(UNSUBACK)
        if self.version != 5:
            return []
        plen, pos = self._props_len(ack, 2)
        return list(ack[pos + plen:])

    def publish(self, topic, payload=b"", qos=0, retain=False, props=b""):
        """QoS 0: None. QoS 1: the PUBACK reason code (0 for v3.1.1, which
        has none; v5 may omit it when 0). QoS 2: the PUBREC reason code
        (PUBREL and PUBCOMP follow when it is a success). v5: props are
        the encoded PUBLISH properties (v5_props())."""
        if isinstance(payload, str):
            payload = payload.encode()
        body = _str(topic)
        mid = None
        if qos:
            mid = self._next_mid()
            body += struct.pack("!H", mid)
        if self.version == 5:
            body += _varint(len(props)) + props
        self.send_packet(PUBLISH, (qos << 1) | (1 if retain else 0), body + payload)
        if qos == 0:
            return None
        if qos == 2:
            _, ack = self.wait_for(PUBREC)
            code = ack[2] if len(ack) > 2 else 0
            if code < 0x80:
                self.send_packet(PUBREL, 2, struct.pack("!H", mid))
                self.wait_for(PUBCOMP)
            return code
        _, ack = self.wait_for(PUBACK)
        return ack[2] if len(ack) > 2 else 0

    def ping(self, timeout=None):
        self.send_packet(PINGREQ, 0, b"")
        self.wait_for(PINGRESP, timeout)

    def collect(self, duration):
        """Read for `duration` seconds; return and clear the inbox.
        Raises Closed if the broker closes the connection meanwhile."""
        deadline = time.time() + duration
        while True:
            left = deadline - time.time()
            if left <= 0:
                break
            try:
                t, flags, body = self.read_packet(left)
            except socket.timeout:
                break
            if t == PUBLISH:
                self._handle_publish(flags, body)
            elif t == DISCONNECT:
                self.disconnect_reason = body[0] if body else 0
                raise Closed("DISCONNECT from the broker")
        out, self.inbox = self.inbox, []
        return out

    def alive(self, timeout=2.0):
        """True if the broker still answers a PINGREQ."""
        try:
            self.ping(timeout)
            return True
        except (Closed, OSError):
            return False

    def disconnect(self):
        try:
            self.send_packet(DISCONNECT, 0, b"")
        except OSError:
            pass
        self.close()

    def close(self):
        """Close the socket without DISCONNECT (a network end)."""
        try:
            self.sock.close()
        except OSError:
            pass


def v5_props(response_topic=None, correlation_data=None, user=()):
    """Encoded MQTT 5 PUBLISH properties for RawClient.publish(props=)."""
    out = b""
    if response_topic is not None:
        out += b"\x08" + _str(response_topic)
    if correlation_data is not None:
        if isinstance(correlation_data, str):
            correlation_data = correlation_data.encode()
        out += b"\x09" + struct.pack("!H", len(correlation_data)) + correlation_data
    for k, v in user:
        out += b"\x26" + _str(k) + _str(v)
    return out


def connack(port, username=None, password=None, client_id="", version=4, **kw):
    """Connect once; return the CONNACK code, or None if the broker closed
    the socket without one. The connection is closed afterwards."""
    c = RawClient(port)
    try:
        return c.connect(username, password, client_id=client_id, version=version, **kw)
    except Closed:
        return None
    finally:
        c.disconnect()
