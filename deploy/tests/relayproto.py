"""A minimal client for GameRelay's wire protocol (docs/PROTOCOL.md), in plain
Python sockets, used by the deploy tests to prove a relay binary works: one
session, two members, the BIND cookie round trip for each, one DATA datagram
forwarded byte for byte.

Every wait is bounded; nothing here talks to anything but the address given
(loopback in the tests).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field

MAGIC = 0x47
VERSION = 1
T_BIND, T_BIND_ACK, T_DATA = 1, 2, 3
BROADCAST = 0xFFFF
HEADER = struct.Struct(">BBBBIHHI")  # 16 bytes, big-endian


def header(ptype: int, session_low32: int, member: int, target: int, seq: int, flags: int = 0) -> bytes:
    return HEADER.pack(MAGIC, VERSION, ptype, flags, session_low32, member, target, seq)


class Control:
    """A control connection speaking newline-terminated JSON."""

    def __init__(self, host: str, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while True:
            cut = [i for i in (self.buf.find(b"\n"), self.buf.find(b"\0")) if i >= 0]
            if cut:
                i = min(cut)
                line, self.buf = self.buf[:i], self.buf[i + 1 :]
                if line.strip():
                    return json.loads(line)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no control message from the relay in time")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("relay closed the control connection")
            self.buf += chunk

    def request(self, message: dict, timeout: float = 5.0) -> dict:
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if "ok" in reply:
                return reply
            self.events.append(reply)

    def wait_event(self, name: str, timeout: float = 5.0) -> dict:
        for i, event in enumerate(self.events):
            if event.get("event") == name:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if message.get("event") == name:
                return message
            self.events.append(message)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


@dataclass
class Member:
    control: Control
    session_low32: int
    member: int
    token: bytes
    udp: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))


def _exchange(sock: socket.socket, relay: tuple[str, int], datagram: bytes, timeout: float = 3.0) -> bytes:
    """Send `datagram` every 250 ms (as clients resend BIND) until a reply
    arrives; return the reply."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.sendto(datagram, relay)
        ready, _, _ = select.select([sock], [], [], 0.25)
        if ready:
            data, source = sock.recvfrom(2048)
            assert source[1] == relay[1], f"reply from unexpected port {source}"
            return data
    raise TimeoutError("no datagram from the relay in time")


def bind(m: Member, relay: tuple[str, int]) -> bytes:
    """BIND with the token, get a cookie, BIND with token + cookie, get the
    empty BIND_ACK. Returns the cookie."""
    bind1 = header(T_BIND, m.session_low32, m.member, 0, 1) + m.token
    ack1 = _exchange(m.udp, relay, bind1)
    assert len(ack1) == 16 + 8, f"first BIND_ACK should carry an 8-byte cookie, got {ack1!r}"
    assert ack1[2] == T_BIND_ACK
    assert ack1[:2] == bind1[:2] and ack1[3:16] == bind1[3:16], "BIND_ACK must copy the BIND's header"
    cookie = ack1[16:]
    bind2 = header(T_BIND, m.session_low32, m.member, 0, 2) + m.token + cookie
    ack2 = _exchange(m.udp, relay, bind2)
    assert ack2 == bind2[:2] + bytes([T_BIND_ACK]) + bind2[3:16], f"second BIND_ACK should be empty, got {ack2!r}"
    return cookie


def full_exchange(host: str, port: int, udp_port: int | None = None) -> dict:
    """create → two joins → both members BIND (cookie round trip) → member 1
    broadcasts one DATA datagram → member 2 receives exactly those bytes.
    Returns what it saw; raises AssertionError/TimeoutError otherwise."""
    relay = (host, udp_port or port)
    owner = Control(host, port)
    guest = Control(host, port)
    members: list[Member] = []
    try:
        created = owner.request({"op": "create", "capacity": 4})
        assert created["ok"] is True, created
        session_hex = created["session"]
        session_low32 = int(session_hex[-8:], 16)
        for control, name in ((owner, "alice"), (guest, "bob")):
            joined = control.request({"op": "join", "code": created["code"], "name": name})
            assert joined["ok"] is True, joined
            assert joined["session"] == session_hex
            m = Member(control, session_low32, joined["member"], bytes.fromhex(joined["token"]))
            m.udp.bind(("127.0.0.1", 0))
            members.append(m)
        a, b = members
        cookies = [bind(a, relay), bind(b, relay)]
        bound = [a.control.wait_event("bound"), b.control.wait_event("bound")]

        payload = b"position x=1.5 y=-2.25 \x00\xff voice"
        datagram = header(T_DATA, session_low32, a.member, BROADCAST, 7) + payload
        a.udp.sendto(datagram, relay)
        ready, _, _ = select.select([b.udp], [], [], 3.0)
        assert ready, "member 2 received no DATA within 3 s"
        received, source = b.udp.recvfrom(2048)
        assert source[1] == relay[1]
        assert received == datagram, f"forwarded bytes differ: {received!r} != {datagram!r}"
        # Never back to the sender.
        ready, _, _ = select.select([a.udp], [], [], 0.2)
        assert not ready, "the relay echoed DATA back to its sender"
        # The control connections stay open for the caller's drain check.
        return {"session": session_hex, "members": [a.member, b.member], "cookies": cookies,
                "bound": bound, "forwarded": received, "controls": [owner, guest]}
    except BaseException:
        owner.close()
        guest.close()
        raise
    finally:
        for m in members:
            m.udp.close()


class RelayProcess:
    """Starts `argv`, waits for the one-line readiness JSON on stdout, and
    stops the process with SIGTERM (drain) at the end."""

    def __init__(self, argv: list[str], start_timeout: float = 20.0, env: dict | None = None):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.listening = self._read_listening(start_timeout)

    def _read_listening(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.kill()
                raise AssertionError(f"no readiness line from {self.argv} within {timeout} s "
                                     f"(exit {self.proc.returncode}); stdout={buf!r} stderr={self.stderr_tail()!r}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    continue
                buf += chunk
        line = buf.split(b"\n", 1)[0]
        event = json.loads(line)
        assert event.get("event") == "listening", event
        return event

    @staticmethod
    def split_address(address: str) -> tuple[str, int]:
        host, _, port = address.rpartition(":")
        return host.strip("[]"), int(port)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"relay did not exit within {timeout} s of SIGTERM")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def stderr_tail(self) -> bytes:
        if self.proc.poll() is None:
            return b"(still running)"
        try:
            return self.proc.stderr.read()[-2000:]
        except (OSError, ValueError):
            return b""


def drain_and_stop(relay: RelayProcess, controls: list[Control], timeout: float = 15.0,
                   pid: int | None = None) -> tuple[int, float]:
    """SIGTERM the relay (or `pid`, when the relay runs under a tracer);
    each open control connection must get `shutdown`; close them, and the
    relay must exit 0. Returns (status, seconds)."""
    started = time.monotonic()
    if pid is None:
        relay.proc.send_signal(signal.SIGTERM)
    else:
        os.kill(pid, signal.SIGTERM)
    for control in controls:
        event = control.wait_event("shutdown", timeout=5.0)
        assert isinstance(event.get("drainMs"), int), event
        control.close()
    status = relay.stop(timeout=timeout)
    return status, time.monotonic() - started
