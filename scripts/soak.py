#!/usr/bin/env python3
"""Driver for scripts/soak.sh: hostile clients, probes and the summary table (standard library only).

  soak.py hostile --port P --udp-port U [--metrics HOST:PORT] --duration S --json FILE [--only NAMES]
      Runs every hostile driver at once for S seconds, each from loopback source addresses other
      than 127.0.0.1 (so the relay's per-source limits fall on them, not on the valid load), each
      at a bounded rate, then writes what each one sent and saw to FILE:
        127.0.0.2-3  garbage datagrams to the UDP port (--udp-rate in all, default 3000/s):
                     random bytes of random sizes (0...1500); valid-looking headers (0x47, v1,
                     types 1/3/4) with random session/member/sequence and payload; BINDs with
                     wrong tokens (some aimed at a real membership); DATA and PING spoofed as a
                     real bound member from the wrong address. The relay must answer none.
        127.0.0.4    control floods: every 5 s a batch of connections that each write thousands
                     of {"op":"ping"}\\n and never read, closed after 3 s (half with a reset,
                     SO_LINGER 0; half with FIN first)
        127.0.0.5    connection churn: connect/close; half a message, then gone; an oversize
                     line (> 16384 bytes, no terminator); invalid JSON; the Flash policy request
        127.0.0.6    session life cycles (create, join by code, kick, leave) and one long-lived
                     session whose owner is bound over UDP (the target of the spoofed datagrams)
        127.0.0.7    joins with guessed codes and session ids, kicks without membership
        127.0.0.8    creates sessions nobody joins (per-connection, then per-source limits)
        127.0.0.9    joins the long-lived session by code and leaves, over and over; and a
                     /metrics scraper, once a second
        127.0.0.10   WebSocket members (PROTOCOL.md section 7):
                     ws_sink: a browser creates and joins a session over a WebSocket with a
                       4 KiB receive buffer and stops reading; a native member joins by code,
                       binds over UDP and sends it ~1000 B DATA at 200/s; 15 s cycles. The
                       relay must drop over its backlog bound (`backlog`), keep the browser
                       connected and its RSS flat
                     ws_junk: 4/s, an upgrade then one of: an unmasked frame, a reserved
                       opcode, RSV bits (1002); invalid UTF-8 text (1007); text over 16384
                       bytes, a text frame announcing 2^62 bytes, endless continuation
                       fragments (message_too_large, then 1009); binary over 1200 bytes
                       (dropped, the connection goes on: a ping after it gets its pong)
                     ws_upgrades: 3/s, a head over 8192 bytes (431), a wrong path (404), a
                       wrong version (426), a bad key (400), a valid upgrade (101)
                     ws_slow: 3 at a time, a valid head at one byte per 0.5 s, and 2 at a time,
                       a binary frame announcing 2^62 bytes then silence: closed by the relay
                       at its control idle timeout (30 s; the second with `closing` and 1001)
                     ws_flood: a browser member sends ~4000 binary DATA/s into its own session
                       (20 s cycles), mostly broadcasts, some to a member never bound, some
                       claiming to be the native member; the native member (bound over UDP)
                       counts what reaches it (at most the browser's member rate, 240/s), and
                       two sockets that sent BINDs with wrong tokens must get nothing
      Replies are counted by error code; rate_limited answers are expected, not failures.
      --only NAME,... runs just the named drivers (e.g. ws_junk,ws_flood), to try them out.

  soak.py metrics --addr HOST:PORT [--out FILE]    one /metrics scrape (empty output on failure)
  soak.py wait-bound --addr HOST:PORT --count N --timeout T [--pid PID]
      waits until gamerelay_bound_members >= N (exit 0) or T seconds pass (exit 1)
  soak.py hello --port P [--timeout 5] [--json FILE]  a fresh client's hello, timed
  soak.py report --work DIR [--set KEY=VALUE ...]  the summary table (markdown) from DIR's files

Loopback only: every address it sends to or binds is in 127.0.0.0/8, the relay's is 127.0.0.1.
Every loop is bounded in iterations and in time.
"""

import argparse
import base64
import collections
import errno
import http.client
import ipaddress
import json
import os
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time

RELAY_HOST = "127.0.0.1"
MAX_CONTROL_MESSAGE = 16384
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # A-Z and 2-9 without O and I
PING_LINE = b'{"op":"ping"}\n'
HEADER = struct.Struct("!BBBBIHHI")


def loopback(addr):
    if not ipaddress.ip_address(addr).is_loopback or ":" in addr:
        sys.exit("soak.py: loopback (127.0.0.0/8) only, not %s" % addr)
    return addr


def host_port(text):
    host, _, port = text.rpartition(":")
    return loopback(host), int(port)


def write_json(path, record):
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(record, f, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)


def error_name(e):
    if isinstance(e, socket.timeout):
        return "timeout"
    if isinstance(e, ConnectionResetError):
        return "reset"
    if isinstance(e, BrokenPipeError):
        return "broken_pipe"
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if hasattr(e, "status"):
        return "upgrade_answered_%s" % e.status
    return errno.errorcode.get(getattr(e, "errno", None) or 0, type(e).__name__)


# --- shared state of one hostile run ------------------------------------------------------------

class Run:
    def __init__(self, args):
        self.port = args.port
        self.udp = (RELAY_HOST, args.udp_port)
        self.metrics = host_port(args.metrics) if args.metrics else None
        self.start = time.monotonic()
        self.deadline = self.start + args.duration
        self.duration = args.duration
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.targets = []  # (session low 32 bits, member) of a real, bound membership
        self.code = None   # join code of the long-lived session
        self.stats = []    # (driver name, Counter), one per thread, merged at the end

    def done(self):
        return self.stop.is_set() or time.monotonic() >= self.deadline

    def counter(self, name):
        c = collections.Counter()
        with self.lock:
            self.stats.append((name, c))
        return c

    def merged(self):
        out = {}
        with self.lock:
            for name, c in self.stats:
                total = out.setdefault(name, collections.Counter())
                for k, v in list(c.items()):
                    if k.endswith("_min"):
                        total[k] = v if k not in total else min(total[k], v)
                    elif k.endswith(("_ms", "_max")):
                        total[k] = max(total[k], v)
                    else:
                        total[k] += v
        return {name: dict(c) for name, c in out.items()}

    def sleep_until(self, t):
        """Sleeps until monotonic time t, the deadline or a stop; False once the run is over."""
        remaining = min(t, self.deadline) - time.monotonic()
        if remaining > 0:
            self.stop.wait(remaining)
        return not self.done()

    def paced(self, rate, limit=None):
        """Yields i = 0, 1, ... at `rate` per second until the run ends (at most rate × duration + 1)."""
        count = int(rate * self.duration) + 1 if limit is None else limit
        interval = 1.0 / rate
        due = self.start
        for i in range(count):
            if not self.sleep_until(due):
                return
            yield i
            # A slot missed by more than a second is dropped, not made up in a burst.
            due = max(due + interval, time.monotonic() - 1.0)


class Control:
    """One control connection from `source`, newline-framed, with a read buffer."""

    def __init__(self, run, source, stats, timeout=3.0):
        self.run, self.stats, self.timeout = run, stats, timeout
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.sock.bind((source, 0))
            self.sock.settimeout(timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sock.connect((RELAY_HOST, run.port))
        except OSError:
            self.sock.close()
            raise
        stats["connections"] += 1
        self.buf = b""
        self.closed = False

    def send(self, data):
        if isinstance(data, dict):
            data = json.dumps(data, separators=(",", ":")).encode() + b"\n"
        self.sock.sendall(data)

    def read_message(self, timeout=None):
        """The next frame as a dict (or {"_raw": text} if it isn't JSON); None at EOF."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(10000):
            cuts = [i for i in (self.buf.find(b"\n"), self.buf.find(b"\0")) if i >= 0]
            if cuts:
                cut = min(cuts)
                frame, self.buf = self.buf[:cut], self.buf[cut + 1:]
                if not frame.strip():
                    continue
                try:
                    msg = json.loads(frame)
                    return msg if isinstance(msg, dict) else {"_raw": frame.decode("utf-8", "replace")}
                except ValueError:
                    self.stats["unparsable_frames"] += 1
                    return {"_raw": frame.decode("utf-8", "replace")}
            if self.closed:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            self.sock.settimeout(remaining)
            data = self.sock.recv(65536)
            if not data:
                self.closed = True
            self.buf += data
        raise socket.timeout()

    def request(self, op, msg):
        """Sends msg, returns its reply (events before it are counted); counts the reply's code."""
        self.send(msg)
        for _ in range(1000):
            reply = self.read_message()
            if reply is None:
                self.stats["reply:closed"] += 1
                return None
            if "event" in reply:
                self.stats["event:%s" % reply.get("event")] += 1
                continue
            if "ok" in reply:
                code = "ok" if reply["ok"] is True else (reply.get("error") or {}).get("code", "?")
                self.stats["reply:%s" % code] += 1
                self.stats["%s:%s" % (op, code)] += 1
                return reply
            self.stats["reply:other"] += 1
            return reply
        return None

    def drain_events(self):
        """Reads whatever has arrived without waiting (events); False at EOF."""
        for _ in range(1000):
            try:
                self.sock.setblocking(False)
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            finally:
                self.sock.settimeout(self.timeout)
            if not data:
                self.closed = True
                break
            self.buf += data
        for _ in range(1000):
            cuts = [i for i in (self.buf.find(b"\n"), self.buf.find(b"\0")) if i >= 0]
            if not cuts:
                break
            frame, self.buf = self.buf[:min(cuts)], self.buf[min(cuts) + 1:]
            try:
                msg = json.loads(frame) if frame.strip() else None
            except ValueError:
                msg = None
            if isinstance(msg, dict) and "event" in msg:
                self.stats["event:%s" % msg.get("event")] += 1
        return not self.closed

    def close(self, reset=False):
        try:
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.stats["we_reset"] += 1
            self.sock.close()
        except OSError:
            pass


def guarded(run, name, body):
    """Runs one driver; an unexpected exception is counted, never fatal to the others."""
    def target():
        stats = run.counter(name)
        try:
            body(run, stats)
        except Exception as e:  # noqa: BLE001 - a driver must not take the run down
            stats["driver_crashed:%s" % type(e).__name__] += 1
            print("soak.py: driver %s stopped: %r" % (name, e), file=sys.stderr)
    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    return t


# --- 1. garbage datagrams -----------------------------------------------------------------------

def udp_garbage(sources, rate):
    def body(run, stats):
        rng = random.Random()
        socks = []
        for source in sources:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((source, 0))
            s.setblocking(False)
            socks.append(s)
        tick = 0.01
        owed = 0.0
        seq = 0
        for i in range(int(run.duration / tick) + 1):
            if not run.sleep_until(run.start + i * tick):
                break
            owed += rate * tick
            n, owed = int(owed), owed - int(owed)
            with run.lock:
                targets = list(run.targets)
            for k in range(n):
                seq += 1
                kind, data = garbage(rng, targets, seq)
                try:
                    socks[k % len(socks)].sendto(data, run.udp)
                    stats["sent"] += 1
                    stats["sent:%s" % kind] += 1
                    stats["bytes"] += len(data)
                except BlockingIOError:
                    stats["send_would_block"] += 1
                except OSError as e:
                    stats["send_error:%s" % error_name(e)] += 1
            # The relay must never answer a datagram that proved nothing.
            for s in socks:
                for _ in range(256):
                    try:
                        s.recv(2048)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        stats["recv_error:%s" % error_name(e)] += 1
                        break
                    stats["answers_from_relay"] += 1
        for s in socks:
            s.close()
    return body


def garbage(rng, targets, seq):
    roll = rng.random()
    if roll < 0.30:
        return "random", rng.randbytes(rng.randint(0, 1500))
    if roll < 0.65:
        kind = rng.choice((1, 3, 4))
        target = rng.choice((0, 0xFFFF, rng.getrandbits(16)))
        size = rng.randint(0, 64) if rng.random() < 0.5 else rng.randint(0, 1484)
        head = HEADER.pack(0x47, 1, kind, rng.getrandbits(8), rng.getrandbits(32), rng.getrandbits(16),
                           target, rng.getrandbits(32))
        return "header", head + rng.randbytes(size)
    if roll < 0.85:
        if targets and rng.random() < 0.5:
            session, member = rng.choice(targets)
        else:
            session, member = rng.getrandbits(32), rng.getrandbits(16)
        size = rng.choice((16, 24, 16, 24, rng.randint(0, 40)))
        head = HEADER.pack(0x47, 1, 1, 0, session, member, 0, rng.getrandbits(32))
        return "bind_wrong_token", head + rng.randbytes(size)
    if targets:
        # A real bound member's session and id, from an address that is not its binding.
        session, member = rng.choice(targets)
        if rng.random() < 0.8:
            head = HEADER.pack(0x47, 1, 3, rng.choice((0, 1)), session, member, 0xFFFF, seq)
            return "spoofed_data", head + rng.randbytes(100)
        head = HEADER.pack(0x47, 1, 4, 0, session, member, 0, seq)
        return "spoofed_ping", head + rng.randbytes(8)
    return "random", rng.randbytes(rng.randint(0, 1500))


# --- 2. control floods --------------------------------------------------------------------------

def control_flood(source, period=5.0, per_batch=16, pings=8000, hold=3.0):
    payload = PING_LINE * pings

    def body(run, stats):
        view = memoryview(payload)
        for batch in range(int(run.duration / period) + 1):
            if not run.sleep_until(run.start + batch * period):
                break
            stats["batches"] += 1
            flood_batch(run, stats, source, view, per_batch, min(hold, max(0.0, run.deadline - time.monotonic())))
    return body


def flood_batch(run, stats, source, view, count, hold):
    total = len(view)
    conns = {}
    poller = select.poll()
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((source, 0))
            code = s.connect_ex((RELAY_HOST, run.port))
        except OSError as e:
            stats["connect_failed:%s" % error_name(e)] += 1
            s.close()
            continue
        if code not in (0, errno.EINPROGRESS):
            stats["connect_failed:%s" % errno.errorcode.get(code, code)] += 1
            s.close()
            continue
        stats["connections"] += 1
        conns[s.fileno()] = {"sock": s, "offset": 0, "state": "open"}
        poller.register(s, select.POLLOUT | select.POLLRDHUP)
    stats["bytes_planned"] += total * len(conns)
    end = time.monotonic() + hold
    for _ in range(100000):
        remaining = end - time.monotonic()
        if remaining <= 0 or run.stop.is_set() or not any(c["state"] == "open" for c in conns.values()):
            break
        for fd, ev in poller.poll(min(remaining, 0.1) * 1000):
            c = conns.get(fd)
            if c is None or c["state"] != "open":
                continue
            err = c["sock"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err or ev & (select.POLLERR | select.POLLHUP):
                c["state"] = "reset_by_relay" if err in (0, errno.ECONNRESET) else "error"
                poller.unregister(fd)
                continue
            if ev & select.POLLRDHUP:
                c["state"] = "closed_by_relay"
                poller.unregister(fd)
                continue
            for _ in range(64):
                if c["offset"] >= total:
                    break
                try:
                    n = c["sock"].send(view[c["offset"]:c["offset"] + 65536])
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:
                    c["state"] = "reset_by_relay" if isinstance(e, (ConnectionResetError, BrokenPipeError)) else "error"
                    poller.unregister(fd)
                    break
                c["offset"] += n
                stats["bytes_written"] += n
            if c["state"] == "open" and c["offset"] >= total:
                c["state"] = "written"
                poller.modify(fd, select.POLLRDHUP)
    # Hold what is left until the end of the hold time, unread; see which the relay closed or
    # reset meanwhile (without reading); then close: even ones with a reset (SO_LINGER 0), odd
    # ones with FIN first (the unread replies make their close a reset too).
    run.sleep_until(min(end, run.deadline))
    check = select.poll()
    for fd, c in conns.items():
        if c["state"] in ("open", "written"):
            check.register(fd, select.POLLRDHUP | select.POLLERR | select.POLLHUP)
    for fd, ev in (check.poll(0) if conns else []):
        c = conns[fd]
        err = c["sock"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err or ev & (select.POLLERR | select.POLLHUP):
            c["state"] = "reset_by_relay"
        elif ev & select.POLLRDHUP:
            c["state"] = "closed_by_relay"
    for i, c in enumerate(conns.values()):
        stats["state:%s" % c["state"]] += 1
        if c["offset"] >= total:
            stats["fully_written"] += 1
        s = c["sock"]
        try:
            if i % 2 == 0:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                stats["we_reset"] += 1
            else:
                s.shutdown(socket.SHUT_WR)
                stats["we_closed"] += 1
        except OSError:
            pass
        s.close()


# --- 3. connection churn ------------------------------------------------------------------------

INVALID_JSON = [
    b'{"op":ping}\n', b'{"op":"ping",}\n', b'[1,2,3]\n', b'"just a string"\n', b'{"op":"ping","op":"ping"}\n',
    b'{"op":"\xff\xfe"}\n', b'{"a":01}\n', b'{' * 70 + b'}' * 70 + b'\n', b'{"id":[1],"op":"ping"}\n',
    b'{"op":"ping"\n', b'nul\0',
]


def churn(kind, source, rate):
    def body(run, stats):
        rng = random.Random()
        for i in run.paced(rate):
            try:
                c = Control(run, source, stats, timeout=3.0)
            except OSError as e:
                stats["connect_failed:%s" % error_name(e)] += 1
                continue
            stats["opened:%s" % kind] += 1
            reset = rng.random() < 0.5
            try:
                if kind == "plain":
                    pass
                elif kind == "half_message":
                    c.send(b'{"op":"hello","protoc')
                elif kind == "oversize":
                    c.send(b'{"op":"ping","pad":"' + b"x" * (MAX_CONTROL_MESSAGE + rng.randint(1, 4000)))
                    # Expect message_too_large, then the relay's close (after at most 2 s of discarding).
                    for _ in range(4):
                        msg = c.read_message(timeout=4.0)
                        if msg is None:
                            stats["closed_by_relay"] += 1
                            break
                        count_reply(stats, msg)
                    reset = False
                elif kind == "invalid_json":
                    c.send(rng.choice(INVALID_JSON))
                    count_reply(stats, c.read_message(timeout=3.0))
                elif kind == "policy":
                    request = b"<policy-file-request/>\0"
                    if rng.random() < 0.5:
                        c.send(request)
                    else:
                        cut = rng.randint(1, len(request) - 1)
                        c.send(request[:cut])
                        time.sleep(0.02)
                        c.send(request[cut:])
                    data = read_to_eof(c, 3.0)
                    if data.startswith(b"<?xml") and data.endswith(b"\0") and b"cross-domain-policy" in data:
                        stats["policy_answered"] += 1
                    else:
                        stats["policy_other"] += 1
                    reset = False
            except OSError as e:
                stats["error:%s" % error_name(e)] += 1
            c.close(reset=reset)
    return body


def count_reply(stats, msg):
    if msg is None:
        stats["reply:closed"] += 1
    elif "ok" in msg:
        stats["reply:%s" % ("ok" if msg["ok"] is True else (msg.get("error") or {}).get("code", "?"))] += 1
    elif "event" in msg:
        stats["event:%s" % msg["event"]] += 1
    else:
        stats["reply:other"] += 1


def read_to_eof(c, timeout):
    deadline = time.monotonic() + timeout
    data = c.buf
    for _ in range(1000):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        c.sock.settimeout(remaining)
        chunk = c.sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


# --- 4. session churn ---------------------------------------------------------------------------

def random_code(rng):
    return "".join(rng.choice(CODE_ALPHABET) for _ in range(6))


def lifecycle(source, rate):
    """create, join by code (owner + 2 guests), a guest's kick (forbidden), the owner's kicks
    (one real, one of a member that doesn't exist), leaves; new connections every cycle."""
    def body(run, stats):
        rng = random.Random()
        for _ in run.paced(rate):
            conns = []
            try:
                owner = Control(run, source, stats)
                conns.append(owner)
                r = owner.request("create", {"op": "create", "capacity": 4})
                if not (r and r.get("ok")):
                    continue
                code = r["code"].lower() if rng.random() < 0.3 else r["code"]
                r = owner.request("join", {"op": "join", "code": code, "name": "owner"})
                if not (r and r.get("ok")):
                    continue
                owner_id = r["member"]
                guests = []
                for n in range(2):
                    g = Control(run, source, stats)
                    conns.append(g)
                    r = g.request("join", {"op": "join", "code": code, "name": "guest%d" % n})
                    if r and r.get("ok"):
                        guests.append((g, r["member"]))
                if guests:
                    guests[0][0].request("kick", {"op": "kick", "member": owner_id})
                    owner.request("kick", {"op": "kick", "member": guests[0][1]})
                owner.request("kick", {"op": "kick", "member": 65000})
                if len(guests) > 1:
                    guests[1][0].request("leave", {"op": "leave"})
                owner.request("leave", {"op": "leave"})
            except OSError as e:
                stats["error:%s" % error_name(e)] += 1
            finally:
                for c in conns:
                    c.close(reset=rng.random() < 0.25)
    return body


def keeper(source):
    """One long-lived session: its owner joined and bound over UDP (BIND, cookie, BIND), kept
    alive with PINGs; published as the target of spoofed datagrams and of the rejoiner."""
    def body(run, stats):
        ctl = None
        udp = None
        try:
            ctl = Control(run, source, stats)
            r = ctl.request("create", {"op": "create", "capacity": 16})
            if not (r and r.get("ok")):
                return
            session, code = r["session"], r["code"]
            r = ctl.request("join", {"op": "join", "session": session, "name": "keeper"})
            if not (r and r.get("ok")):
                return
            member, token = r["member"], bytes.fromhex(r["token"])
            session32 = int(session[-8:], 16)
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind((source, 0))
            bound = udp_bind(run, udp, session32, member, token)
            stats["bound" if bound else "bind_failed"] += 1
            with run.lock:
                run.code = code
                if bound:
                    run.targets.append((session32, member))
            seq = 0
            last_ping = time.monotonic()
            for _ in run.paced(2.0):
                seq += 1
                udp.sendto(HEADER.pack(0x47, 1, 4, 0, session32, member, 0, seq) + b"keeper", run.udp)
                stats["pings_sent"] += 1
                for _ in range(256):
                    try:
                        data = udp.recv(2048)
                    except (socket.timeout, BlockingIOError):
                        break
                    if len(data) >= 16 and data[2] == 5:
                        stats["pongs"] += 1
                    else:
                        stats["unexpected_datagrams"] += 1  # e.g. a spoofed DATA forwarded
                    udp.settimeout(0)
                udp.settimeout(0.25)
                if not ctl.drain_events():
                    stats["control_closed_by_relay"] += 1
                    break
                if time.monotonic() - last_ping > 8:
                    ctl.request("ping", {"op": "ping"})
                    last_ping = time.monotonic()
        except OSError as e:
            stats["error:%s" % error_name(e)] += 1
        finally:
            if udp:
                udp.close()
            if ctl:
                ctl.close()
    return body


def guesser(source, rate):
    """Joins with guessed codes and random session ids; now and then a kick without membership."""
    def body(run, stats):
        rng = random.Random()
        ctl = None
        for i in run.paced(rate):
            try:
                if ctl is None or ctl.closed:
                    ctl = Control(run, source, stats)
                if i % 10 == 9:
                    ctl.request("kick", {"op": "kick", "member": rng.randint(1, 20)})
                elif i % 7 == 6:
                    ctl.request("join", {"op": "join", "session": "%016x" % rng.getrandbits(64)})
                else:
                    ctl.request("join", {"op": "join", "code": random_code(rng), "name": "guess"})
            except OSError as e:
                stats["error:%s" % error_name(e)] += 1
                if ctl:
                    ctl.close()
                ctl = None
        if ctl:
            ctl.close()
    return body


def hoarder(source, rate):
    """Creates sessions nobody joins (each lives 60 s): 64 per connection, then a new connection
    after 5 refusals; at 25/s the source's live sessions pass 1024 within a minute. Every other
    one is a tick session at the highest rate (120 Hz), whose timer must cost nothing idle."""
    def body(run, stats):
        ctl = None
        refused = 0
        created = 0
        for _ in run.paced(rate):
            try:
                if ctl is None or ctl.closed or refused >= 5:
                    if ctl:
                        ctl.close()
                    ctl, refused = Control(run, source, stats), 0
                created += 1
                op = {"op": "create", "capacity": 2}
                if created % 2 == 0:
                    op["tick"] = 120
                r = ctl.request("create", op)
                if r is not None and not r.get("ok"):
                    refused += 1
            except OSError as e:
                stats["error:%s" % error_name(e)] += 1
                if ctl:
                    ctl.close()
                ctl = None
        if ctl:
            ctl.close()
    return body


def rejoiner(source, rate):
    """Joins the long-lived session by code and leaves, over and over, on one connection."""
    def body(run, stats):
        ctl = None
        for _ in run.paced(rate):
            with run.lock:
                code = run.code
            if code is None:
                continue
            try:
                if ctl is None or ctl.closed:
                    ctl = Control(run, source, stats)
                r = ctl.request("join", {"op": "join", "code": code, "name": "rejoiner"})
                if r and r.get("ok"):
                    ctl.request("leave", {"op": "leave"})
            except OSError as e:
                stats["error:%s" % error_name(e)] += 1
                if ctl:
                    ctl.close()
                ctl = None
        if ctl:
            ctl.close()
    return body


# --- 5. /metrics scraper ------------------------------------------------------------------------

def scraper(source):
    def body(run, stats):
        if run.metrics is None:
            return
        for _ in run.paced(1.0):
            t0 = time.monotonic()
            try:
                conn = http.client.HTTPConnection(run.metrics[0], run.metrics[1], timeout=2.0,
                                                  source_address=(source, 0))
                conn.request("GET", "/metrics")
                resp = conn.getresponse()
                body_len = len(resp.read())
                conn.close()
                stats["status:%d" % resp.status] += 1
                stats["bytes"] += body_len
            except (OSError, http.client.HTTPException) as e:
                stats["failed:%s" % (error_name(e) if isinstance(e, OSError) else type(e).__name__)] += 1
            ms = int((time.monotonic() - t0) * 1000)
            if ms > stats["slowest_ms"]:
                stats["slowest_ms"] = ms
    return body


# --- 6. WebSocket members -----------------------------------------------------------------------
# A minimal RFC 6455 client (PROTOCOL.md §7): the upgrade on the control port, masked frames out,
# unmasked frames in. Self-contained on purpose: the soak needs nothing outside the standard
# library.

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WS_PATH = "/v1/ws"
WS_SUBPROTOCOL = "gamerelay.v1"
MAX_HEAD = 8192
MAX_DATAGRAM = 1200
MEMBER_PACKET_RATE = 240
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_head(key=None, path=WS_PATH, version="13", protocol=WS_SUBPROTOCOL, extra=()):
    """An upgrade request head (bytes); extra adds (name, value) header fields."""
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % RELAY_HOST, "Upgrade: websocket", "Connection: Upgrade",
             "Sec-WebSocket-Key: %s" % (key or ws_key()), "Sec-WebSocket-Version: %s" % version,
             "Sec-WebSocket-Protocol: %s" % protocol]
    lines += ["%s: %s" % pair for pair in extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ws_mask(payload, key):
    if not payload:
        return b""
    n = len(payload)
    return (int.from_bytes(payload, "big") ^ int.from_bytes((key * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")


def ws_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, length=None):
    """One client frame; `length` announces another payload length than len(payload)."""
    n = len(payload) if length is None else length
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | opcode
    mbit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, mbit | n])
    elif n < 65536:
        head = bytes([b0, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + ws_mask(payload, key)


def tcp_from(run, source, stats, timeout=3.0, rcvbuf=None):
    """A TCP connection from `source` to the control port (counted); raises OSError."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((source, 0))
        if rcvbuf:
            # Before connect, so the advertised window stays small: a browser that doesn't read.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.connect((RELAY_HOST, run.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        sock.close()
        raise
    stats["connections"] += 1
    return sock


def read_http_answer(sock, timeout):
    """(status, bytes after the head, closed) for an HTTP answer: a non-101 answer's body is read
    until the relay closes (closed True) or the timeout; status None if no head came back."""
    deadline = time.monotonic() + timeout
    buf = b""
    closed = False
    for _ in range(1000):
        if b"\r\n\r\n" in buf or len(buf) > 65536:
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, buf, False
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return None, buf, False
        if not data:
            return None, buf, True
        buf += data
    head, sep, rest = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3})", head)
    if not sep or not m:
        return None, buf, False
    status = int(m.group(1))
    if status == 101:
        return status, rest, False
    for _ in range(1000):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        sock.settimeout(remaining)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            closed = True
            break
        if not data:
            closed = True
            break
    return status, rest, closed


class UpgradeRefused(OSError):
    """The relay answered an upgrade with another status than 101 (None: no answer in time)."""

    def __init__(self, status):
        super().__init__("upgrade answered %s" % status)
        self.status = status


class WsClosedByRelay(Exception):
    """The relay sent a close frame (code None: no status) or closed the TCP connection."""

    def __init__(self, code):
        super().__init__("closed by the relay: %s" % code)
        self.code = code


class WebSocket:
    """One upgraded WebSocket connection from `source` (the upgrade raises OSError if refused)."""

    def __init__(self, run, source, stats, timeout=3.0, rcvbuf=None):
        self.stats = stats
        self.timeout = timeout
        self.sock = tcp_from(run, source, stats, timeout, rcvbuf)
        try:
            self.sock.sendall(ws_head())
            status, rest, _ = read_http_answer(self.sock, timeout)
        except OSError:
            self.sock.close()
            raise
        if status != 101:
            self.sock.close()
            raise UpgradeRefused(status)
        self.buf = bytearray(rest)
        self.fragments = []
        self.kind = "text"
        self.close_code = None

    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(ws_frame(opcode, payload, **kw))

    def send(self, msg):
        self.send_frame(OP_TEXT, json.dumps(msg, separators=(",", ":")).encode())

    def _frame(self):
        """A complete frame from the buffer as (fin, opcode, payload), or None."""
        b = self.buf
        if len(b) < 2:
            return None
        n, pos = b[1] & 0x7F, 2
        if n == 126:
            if len(b) < 4:
                return None
            n, pos = struct.unpack_from("!H", b, 2)[0], 4
        elif n == 127:
            if len(b) < 10:
                return None
            n, pos = struct.unpack_from("!Q", b, 2)[0], 10
        if b[1] & 0x80:
            self.stats["masked_frame_from_relay"] += 1
            pos += 4
        if len(b) < pos + n:
            return None
        frame = (bool(b[0] & 0x80), b[0] & 0x0F, bytes(b[pos:pos + n]))
        del b[:pos + n]
        return frame

    def message(self, timeout=None):
        """The next message: ("text", dict or None) or ("binary", bytes); answers pings. Raises
        WsClosedByRelay on a close frame or EOF, socket.timeout when nothing comes in time."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(100000):
            frame = self._frame()
            if frame is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout()
                self.sock.settimeout(remaining)
                try:
                    data = self.sock.recv(65536)
                except ConnectionResetError:
                    raise WsClosedByRelay("reset")
                if not data:
                    raise WsClosedByRelay("eof")
                self.buf += data
                continue
            fin, opcode, payload = frame
            if opcode == OP_CLOSE:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise WsClosedByRelay(self.close_code)
            if opcode == OP_PING:
                self.send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                return "pong", payload
            self.fragments.append(payload)
            if opcode != OP_CONT:
                self.kind = "text" if opcode == OP_TEXT else "binary"
            if not fin:
                continue
            data, self.fragments = b"".join(self.fragments), []
            if self.kind == "binary":
                return "binary", data
            try:
                msg = json.loads(data)
            except ValueError:
                msg = None
            return "text", msg if isinstance(msg, dict) else None
        raise socket.timeout()

    def request(self, op, msg, timeout=None):
        """Sends a control message, returns its reply (events and datagrams before it counted)."""
        self.send(msg)
        for _ in range(1000):
            kind, msg = self.message(timeout)
            if kind == "text" and msg is not None and "ok" in msg:
                code = "ok" if msg["ok"] is True else (msg.get("error") or {}).get("code", "?")
                self.stats["reply:%s" % code] += 1
                self.stats["%s:%s" % (op, code)] += 1
                return msg
            if kind == "text" and msg is not None and "event" in msg:
                self.stats["event:%s" % msg["event"]] += 1
        return None

    def wait_close(self, timeout):
        """Reads until the relay closes: (close code, or "eof"/"reset"/"timeout"; replies seen)."""
        seen = []
        deadline = time.monotonic() + timeout
        try:
            for _ in range(100000):
                kind, msg = self.message(max(0.0, deadline - time.monotonic()))
                if kind == "text" and msg is not None:
                    seen.append(msg.get("event") or ("ok" if msg.get("ok") is True else
                                                     (msg.get("error") or {}).get("code", "?")))
        except WsClosedByRelay as e:
            return e.code, seen
        except socket.timeout:
            return "timeout", seen
        except OSError as e:
            return error_name(e), seen
        return "timeout", seen

    def drain(self):
        """Reads whatever has arrived without waiting; returns how many messages; raises
        WsClosedByRelay when the relay closed."""
        count = 0
        self.sock.setblocking(False)
        try:
            for _ in range(1000):
                try:
                    data = self.sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    break
                except ConnectionResetError:
                    raise WsClosedByRelay("reset")
                if not data:
                    raise WsClosedByRelay("eof")
                self.buf += data
        finally:
            self.sock.settimeout(self.timeout)
        for _ in range(100000):
            frame = self._frame()
            if frame is None:
                break
            if frame[1] == OP_CLOSE:
                self.close_code = struct.unpack("!H", frame[2][:2])[0] if len(frame[2]) >= 2 else None
                raise WsClosedByRelay(self.close_code)
            if frame[1] == OP_PING:
                self.send_frame(OP_PONG, frame[2])
            count += 1
        return count

    def close(self, code=None, reset=False):
        try:
            if code is not None:
                self.send_frame(OP_CLOSE, struct.pack("!H", code))
            if reset:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass


def udp_bind(run, udp, session32, member, token):
    """BIND, cookie, BIND (PROTOCOL.md §2.2) from `udp`; True once bound."""
    udp.settimeout(0.25)
    cookie = b""
    for attempt in range(10):
        udp.sendto(HEADER.pack(0x47, 1, 1, 0, session32, member, 0, attempt) + token + cookie, run.udp)
        try:
            data = udp.recv(2048)
        except socket.timeout:
            continue
        if len(data) >= 16 and data[2] == 2:
            if len(data) == 24:
                cookie = data[16:24]
            elif len(data) == 16:
                return True
    return False


def drain_udp(udp, on_datagram):
    """Reads every datagram already queued on `udp` without waiting."""
    udp.settimeout(0)
    for _ in range(4096):
        try:
            data = udp.recv(2048)
        except (BlockingIOError, InterruptedError, socket.timeout):
            break
        on_datagram(data)


def ws_member_session(run, source, stats, capacity, rcvbuf=None):
    """A WebSocket that created a session and joined it (bound at its join), and a UDP member
    joined by code over a control connection and bound from `source`. Returns a dict (ws,
    ws_member, ctl, udp, udp_member, session32, code) with "ready" once every step worked; what
    it holds goes to close_member_session either way."""
    ws = WebSocket(run, source, stats, rcvbuf=rcvbuf)
    out = {"ws": ws, "ctl": None, "udp": None}
    r = ws.request("create", {"op": "create", "capacity": capacity})
    if not (r and r.get("ok")):
        return out
    out["code"], out["session32"] = r["code"], int(r["session"][-8:], 16)
    r = ws.request("join", {"op": "join", "session": r["session"], "name": "browser"})
    if not (r and r.get("ok")):
        return out
    out["ws_member"] = r["member"]
    out["ctl"] = Control(run, source, stats)
    r = out["ctl"].request("join", {"op": "join", "code": out["code"], "name": "native"})
    if not (r and r.get("ok")):
        return out
    out["udp_member"] = r["member"]
    out["udp"] = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    out["udp"].bind((source, 0))
    if not udp_bind(run, out["udp"], out["session32"], r["member"], bytes.fromhex(r["token"])):
        stats["bind_failed"] += 1
        return out
    stats["bound"] += 1
    out["ready"] = True
    return out


def close_member_session(parts, reset=False):
    """Closes what ws_member_session opened; the WebSocket with a reset if asked (its unsent
    output then goes nowhere, as when a browser tab is killed)."""
    for key in ("udp", "ctl"):
        if parts.get(key) is not None:
            parts[key].close()
    if parts.get("ws") is not None:
        parts["ws"].close(reset=reset)


def ws_sink(source, cycle=15.0, rate=200, payload=984, rcvbuf=4096):
    """A browser that stops reading: it creates a session and joins it over a WebSocket (small
    receive window), a native member joins and binds over UDP and sends DATA at about its rate
    limit; after `cycle` seconds everything closes and it starts over. The relay must drop the
    browser's datagrams over its backlog bound (`backlog`), not queue them."""
    def body(run, stats):
        rng = random.Random()
        seq = 0
        for n in range(int(run.duration / cycle) + 2):
            if run.done():
                break
            parts = {}
            try:
                parts = ws_member_session(run, source, stats, 2, rcvbuf=rcvbuf)
                if not parts.get("ready"):
                    stats["setup_failed"] += 1
                    run.sleep_until(time.monotonic() + 1)
                    continue
                stats["cycles"] += 1
                # From here on the browser reads nothing.
                udp, ctl = parts["udp"], parts["ctl"]
                start = time.monotonic()
                end = min(start + cycle, run.deadline)
                tick = 0.01
                owed = 0.0

                def on_datagram(data):
                    if len(data) >= 16 and data[2] == 2:
                        # An answer to one of its own BINDs that came after it was bound (a
                        # retry when the machine is slow): proved by its token, not a stray.
                        stats["late_bind_acks"] += 1
                    else:
                        stats["udp_member_got"] += 1  # nobody sends to it: must stay 0
                        stats["udp_member_got:type %d" % (data[2] if len(data) > 2 else -1)] += 1

                for i in range(int(cycle / tick) + 2):
                    if not run.sleep_until(min(end, start + i * tick)) or time.monotonic() >= end:
                        break
                    owed += rate * tick
                    k, owed = int(owed), owed - int(owed)
                    for _ in range(k):
                        seq = (seq + 1) & 0xFFFFFFFF
                        udp.sendto(HEADER.pack(0x47, 1, 3, 0, parts["session32"], parts["udp_member"], 0xFFFF, seq)
                                   + rng.randbytes(payload), run.udp)
                        stats["data_sent"] += 1
                        stats["data_bytes"] += 16 + payload
                    if i % 50 == 0:
                        drain_udp(udp, on_datagram)
                        if not ctl.drain_events():
                            stats["control_closed_by_relay"] += 1
                            break
                # The WebSocket must still be open: the relay drops, it doesn't give up on it.
                check = select.poll()
                check.register(parts["ws"].sock, select.POLLRDHUP | select.POLLERR | select.POLLHUP)
                if any(ev & (select.POLLRDHUP | select.POLLERR | select.POLLHUP) for _, ev in check.poll(0)):
                    stats["ws_closed_by_relay"] += 1
                else:
                    stats["ws_open_at_end"] += 1
            except WsClosedByRelay as e:
                stats["ws_closed_by_relay:%s" % e.code] += 1
            except (OSError, KeyError) as e:
                stats["error:%s" % error_name(e)] += 1
            finally:
                close_member_session(parts, reset=n % 2 == 0)
    return body


# Junk kinds, each sent right after an upgrade, with the close code PROTOCOL.md §7 asks for
# ("open": the connection goes on: a ping after it must get its pong).
WS_JUNK_EXPECTED = {
    "unmasked": 1002, "reserved_opcode": 1002, "rsv_bits": 1002, "bad_utf8": 1007,
    "text_too_large": 1009, "text_2^62": 1009, "endless_fragments": 1009, "binary_too_large": "open",
}


def ws_junk(source, rate=4.0):
    """Upgrades, then sends one kind of junk (round robin) and records how the relay closed."""
    kinds = list(WS_JUNK_EXPECTED)

    def body(run, stats):
        rng = random.Random()
        for i in run.paced(rate):
            kind = kinds[i % len(kinds)]
            try:
                ws = WebSocket(run, source, stats)
            except OSError as e:
                stats["upgrade_failed:%s" % error_name(e)] += 1
                continue
            stats["sent:%s" % kind] += 1
            outcome, seen = "?", []
            try:
                if kind == "unmasked":
                    ws.send_frame(OP_TEXT, b'{"op":"ping"}', mask=False)
                elif kind == "reserved_opcode":
                    ws.send_frame(rng.choice((3, 4, 5, 6, 7, 11, 12, 13, 14, 15)), b"junk")
                elif kind == "rsv_bits":
                    ws.send_frame(OP_TEXT, b'{"op":"ping"}', rsv=rng.randint(1, 7))
                elif kind == "bad_utf8":
                    ws.send_frame(OP_TEXT, b'{"op":"ping","pad":"' + rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80",
                                                                               b"\xf4\x90\x80\x80", b"\xe2\x82")) + b'"}')
                elif kind == "text_too_large":
                    ws.send_frame(OP_TEXT, b'{"op":"ping","pad":"' + b"x" * (MAX_CONTROL_MESSAGE + rng.randint(1, 4000)) + b'"}')
                elif kind == "text_2^62":
                    ws.send_frame(OP_TEXT, b'{"op":"ping","pad":"', length=1 << 62)
                elif kind == "endless_fragments":
                    outcome = endless_fragments(ws, stats)
                elif kind == "binary_too_large":
                    ws.send_frame(OP_BINARY, rng.randbytes(rng.randint(MAX_DATAGRAM + 1, 8000)))
                    ws.send_frame(OP_PING, b"still there?")
                    for _ in range(16):
                        got, payload = ws.message(3.0)
                        if got == "pong":
                            outcome = "open"
                            break
                    ws.send_frame(OP_CLOSE, struct.pack("!H", 1000))
                if outcome == "?":
                    outcome, seen = ws.wait_close(5.0)
                elif kind == "binary_too_large":
                    code, seen = ws.wait_close(3.0)
                    stats["close_echo:%s" % code] += 1
            except WsClosedByRelay as e:
                outcome = e.code
            except socket.timeout:
                outcome = "timeout"
            except OSError as e:
                outcome = error_name(e)
            ws.close()
            stats["close:%s:%s" % (kind, outcome)] += 1
            for s in seen:
                stats["seen:%s:%s" % (kind, s)] += 1
            if outcome != WS_JUNK_EXPECTED[kind]:
                stats["unexpected"] += 1
    return body


def endless_fragments(ws, stats, piece=1000, most=128 * 1024):
    """A text message in fragments of `piece` bytes that never ends, until the relay closes
    (at `maxControlMessage` bytes, with 1009) or `most` bytes went out."""
    sent = 0
    poller = select.poll()
    poller.register(ws.sock, select.POLLIN | select.POLLRDHUP | select.POLLERR | select.POLLHUP)
    for n in range(most // piece + 1):
        if poller.poll(0) or sent >= most:
            break
        try:
            ws.send_frame(OP_TEXT if n == 0 else OP_CONT, (b'{"op":"ping","pad":"' + b"x" * piece)[:piece], fin=False)
        except OSError:
            break
        sent += piece
        if sent > MAX_CONTROL_MESSAGE:
            # Past the bound: give the relay time to act on it before sending more.
            poller.poll(2000)
    outcome, seen = ws.wait_close(5.0)
    stats["fragments_sent_bytes_max"] = max(stats["fragments_sent_bytes_max"], sent)
    if sent > MAX_CONTROL_MESSAGE + 4 * piece:
        # Each fragment past the bound waited 2 s for the close: four is more than slow.
        stats["fragments_closed_late"] += 1
        outcome = "late:%s" % outcome
    for s in seen:
        stats["seen:endless_fragments:%s" % s] += 1
    return outcome


# Bad upgrade heads and the status PROTOCOL.md §7 asks for; "valid" is a control (101, then a
# close handshake).
WS_UPGRADE_EXPECTED = {"head_over_8192": 431, "wrong_path": 404, "wrong_version": 426, "bad_key": 400, "valid": 101}


def ws_upgrades(source, rate=3.0):
    kinds = list(WS_UPGRADE_EXPECTED)

    def body(run, stats):
        rng = random.Random()
        for i in run.paced(rate):
            kind = kinds[i % len(kinds)]
            if kind == "head_over_8192":
                head = ws_head(extra=[("X-Pad", "p" * (MAX_HEAD + rng.randint(1, 4000)))])
            elif kind == "wrong_path":
                head = ws_head(path=rng.choice(("/v2/ws", "/", "/v1/ws/x", "/metrics")))
            elif kind == "wrong_version":
                head = ws_head(version=rng.choice(("8", "12", "14")))
            elif kind == "bad_key":
                head = ws_head(key=rng.choice(("short", base64.b64encode(os.urandom(15)).decode(), "!!!!")))
            else:
                head = ws_head()
            try:
                sock = tcp_from(run, source, stats)
            except OSError as e:
                stats["connect_failed:%s" % error_name(e)] += 1
                continue
            try:
                sock.sendall(head)
                status, rest, closed = read_http_answer(sock, 3.0)
                stats["status:%s:%s" % (kind, status)] += 1
                if status != WS_UPGRADE_EXPECTED[kind]:
                    stats["unexpected"] += 1
                if status == 101:
                    sock.sendall(ws_frame(OP_CLOSE, struct.pack("!H", 1000)))
                elif status is not None:
                    stats["closed_after_answer" if closed else "open_after_answer"] += 1
            except OSError as e:
                stats["error:%s:%s" % (kind, error_name(e))] += 1
            sock.close()
    return body


CONTROL_IDLE_TIMEOUT = 30.0


def note_close_time(stats, name, start):
    """Records how long after `start` (taken before the connect) the relay closed: the least and
    the most, and an early close (before the control idle timeout) as unexpected."""
    ms = int((time.monotonic() - start) * 1000)
    low, high = name + "_closed_ms_min", name + "_closed_ms_max"
    stats[low] = ms if low not in stats else min(stats[low], ms)
    stats[high] = max(stats[high], ms)
    if ms < CONTROL_IDLE_TIMEOUT * 1000:
        stats["%s_closed_early" % name] += 1
        stats["unexpected"] += 1


def ws_slow_head(source, interval=0.5, most=120):
    """A valid upgrade head, one byte every `interval` s (it would take ~90 s); the relay must
    close the connection on its own (its control idle timeout) before `most` bytes went out."""
    def body(run, stats):
        for _ in range(int(run.duration / 30) + 2):
            if run.done():
                break
            start = time.monotonic()
            try:
                sock = tcp_from(run, source, stats)
            except OSError as e:
                stats["connect_failed:%s" % error_name(e)] += 1
                run.sleep_until(time.monotonic() + 1)
                continue
            head = ws_head()
            outcome = None
            poller = select.poll()
            poller.register(sock, select.POLLIN | select.POLLRDHUP | select.POLLERR | select.POLLHUP)
            for n in range(min(most, len(head))):
                if poller.poll(0):
                    try:
                        data = sock.recv(65536)
                        outcome = "answered:%s" % data[9:12].decode("latin-1") if data else "closed_silently"
                    except OSError as e:
                        outcome = "closed:%s" % error_name(e)
                    break
                try:
                    sock.send(head[n:n + 1])
                except OSError as e:
                    outcome = "closed:%s" % error_name(e)
                    break
                stats["bytes"] += 1
                if not run.sleep_until(start + (n + 1) * interval):
                    outcome = "abandoned_at_end"
                    break
            if outcome is None:
                outcome = "still_open_after_%d_bytes" % most
                stats["unexpected"] += 1
            stats["slow_head:%s" % outcome] += 1
            if outcome != "abandoned_at_end":
                note_close_time(stats, "slow_head", start)
            sock.close()
    return body


def ws_silent_binary(source, wait=60.0):
    """Upgrades, announces a binary frame of 2^62 bytes (over --max-datagram: skipped, not kept)
    and goes silent: the relay must end it at its control idle timeout (`closing`, then 1001)."""
    def body(run, stats):
        for _ in range(int(run.duration / 30) + 2):
            if run.done():
                break
            start = time.monotonic()
            try:
                ws = WebSocket(run, source, stats)
            except OSError as e:
                stats["upgrade_failed:%s" % error_name(e)] += 1
                run.sleep_until(time.monotonic() + 1)
                continue
            outcome, seen = "abandoned_at_end", []
            try:
                ws.send_frame(OP_BINARY, b"\x47\x01\x03\x00" * 4, length=1 << 62)
                for _ in range(int(wait) + 1):
                    code, got = ws.wait_close(min(1.0, max(0.0, start + wait - time.monotonic())))
                    seen += got
                    if code != "timeout":
                        outcome = code
                        break
                    if run.done():
                        break
                    if time.monotonic() >= start + wait:
                        outcome = "still_open_after_%ds" % wait
                        break
            except OSError as e:
                outcome = error_name(e)
            ws.close()
            stats["silent_binary:%s" % outcome] += 1
            for s in seen:
                stats["seen:%s" % s] += 1
            if outcome != "abandoned_at_end":
                note_close_time(stats, "silent_binary", start)
                if outcome != 1001 or seen != ["closing"]:
                    stats["unexpected"] += 1
    return body


def ws_flood(source, cycle=20.0, rate=4000, payload=100):
    """A browser member floods binary DATA into its own session at `rate`/s (its member rate
    limit, 240/s, drops the rest as rate_limited) whose other members are a native one bound over
    UDP, which reads and counts, and one joined but never bound. Some DATA names the unbound
    member as target, some claims to come from the native member. Two witness sockets that
    never proved a token (one sent a BIND with a wrong token as the native member, one as the
    unbound member) must receive nothing."""
    def body(run, stats):
        rng = random.Random()
        seq = 0
        for n in range(int(run.duration / cycle) + 2):
            if run.done():
                break
            parts, extra, witnesses = {}, None, []
            try:
                parts = ws_member_session(run, source, stats, 3)
                if not parts.get("ready"):
                    stats["setup_failed"] += 1
                    run.sleep_until(time.monotonic() + 1)
                    continue
                stats["cycles"] += 1
                ws, udp, ctl = parts["ws"], parts["udp"], parts["ctl"]
                session32, me, native = parts["session32"], parts["ws_member"], parts["udp_member"]
                extra = Control(run, source, stats)
                r = extra.request("join", {"op": "join", "code": parts["code"], "name": "unbound"})
                unbound = r["member"] if r and r.get("ok") else 0xFFFE
                for member in (native, unbound):
                    w = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    w.bind((source, 0))
                    w.sendto(HEADER.pack(0x47, 1, 1, 0, session32, member, 0, 0) + rng.randbytes(16), run.udp)
                    witnesses.append(w)
                start = time.monotonic()
                end = min(start + cycle, run.deadline)
                got = collections.Counter()

                def on_native(data):
                    if len(data) >= 16 and data[2] == 5:
                        got["pongs"] += 1
                    elif len(data) >= 16 and data[2] == 2:
                        stats["late_bind_acks"] += 1  # an answer to its own BIND retry
                    elif len(data) >= 16 and data[2] == 3 and data[4:8] == session32.to_bytes(4, "big") \
                            and int.from_bytes(data[8:10], "big") == me:
                        got["data"] += 1
                    else:
                        got["foreign"] += 1
                        stats["native_got_foreign:type %d" % (data[2] if len(data) > 2 else -1)] += 1

                def on_witness(data):
                    got["witness"] += 1

                tick = 0.01
                owed = 0.0
                frames = []
                for i in range(int(cycle / tick) + 2):
                    if not run.sleep_until(min(end, start + i * tick)) or time.monotonic() >= end:
                        break
                    owed += rate * tick
                    k, owed = int(owed), owed - int(owed)
                    frames.clear()
                    for _ in range(k):
                        seq = (seq + 1) & 0xFFFFFFFF
                        roll = rng.random()
                        if roll < 0.80:
                            kind, sender, target = "broadcast", me, 0xFFFF
                        elif roll < 0.90:
                            kind, sender, target = "to_unbound", me, unbound
                        elif roll < 0.95:
                            kind, sender, target = "to_native", me, native
                        else:
                            kind, sender, target = "as_native", native, 0xFFFF
                        stats["sent:%s" % kind] += 1
                        frames.append(ws_frame(OP_BINARY, HEADER.pack(0x47, 1, 3, 0, session32, sender, target, seq)
                                               + rng.randbytes(payload)))
                    if frames:
                        ws.sock.sendall(b"".join(frames))
                        stats["sent"] += len(frames)
                    ws.drain()
                    drain_udp(udp, on_native)
                    for w in witnesses:
                        drain_udp(w, on_witness)
                    if i % 200 == 0:
                        # The native member's binding must not idle out (10 s).
                        udp.sendto(HEADER.pack(0x47, 1, 4, 0, session32, native, 0, i) + b"flood", run.udp)
                        if not ctl.drain_events():
                            stats["control_closed_by_relay"] += 1
                            break
                run.sleep_until(time.monotonic() + 0.2)
                drain_udp(udp, on_native)
                for w in witnesses:
                    drain_udp(w, on_witness)
                elapsed = max(time.monotonic() - start, 0.001)
                # The browser's buckets: 240/s with one second of burst, full at its join.
                allowed = int(MEMBER_PACKET_RATE * (elapsed + 1))
                stats["native_allowed"] += allowed
                if got["data"] > allowed:
                    stats["over_member_rate"] += 1
                stats["native_got_data"] += got["data"]
                stats["native_got_pongs"] += got["pongs"]
                stats["native_got_foreign"] += got["foreign"]
                stats["witness_got"] += got["witness"]
                stats["flood_millis"] += int(elapsed * 1000)
            except WsClosedByRelay as e:
                stats["ws_closed_by_relay:%s" % e.code] += 1
            except socket.timeout:
                stats["error:timeout"] += 1
            except (OSError, KeyError) as e:
                stats["error:%s" % error_name(e)] += 1
            finally:
                for w in witnesses:
                    w.close()
                if extra:
                    extra.close()
                close_member_session(parts, reset=n % 2 == 0)
    return body


def hostile(args):
    run = Run(args)

    def on_signal(signum, frame):
        run.stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    drivers = [
        ("udp_garbage", udp_garbage(["127.0.0.2", "127.0.0.3"], args.udp_rate)),
        ("control_flood", control_flood("127.0.0.4")),
        ("churn", churn("plain", "127.0.0.5", 10)),
        ("churn", churn("half_message", "127.0.0.5", 5)),
        ("churn", churn("oversize", "127.0.0.5", 2)),
        ("churn", churn("invalid_json", "127.0.0.5", 5)),
        ("churn", churn("policy", "127.0.0.5", 3)),
        ("sessions", keeper("127.0.0.6")),
        ("sessions", lifecycle("127.0.0.6", 2)),
        ("sessions", guesser("127.0.0.7", 20)),
        ("sessions", hoarder("127.0.0.8", 25)),
        ("sessions", rejoiner("127.0.0.9", 5)),
        ("scraper", scraper("127.0.0.9")),
        ("ws_sink", ws_sink("127.0.0.10")),
        ("ws_junk", ws_junk("127.0.0.10")),
        ("ws_upgrades", ws_upgrades("127.0.0.10")),
        ("ws_slow", ws_slow_head("127.0.0.10")),
        ("ws_slow", ws_slow_head("127.0.0.10")),
        ("ws_slow", ws_slow_head("127.0.0.10")),
        ("ws_slow", ws_silent_binary("127.0.0.10")),
        ("ws_slow", ws_silent_binary("127.0.0.10")),
        ("ws_flood", ws_flood("127.0.0.10")),
    ]
    if args.only:
        wanted = set(args.only.split(","))
        drivers = [(name, body) for name, body in drivers if name in wanted]
    threads = [guarded(run, name, body) for name, body in drivers]
    for _ in range(int(args.duration * 10) + 10):
        if run.done():
            break
        run.stop.wait(0.1)
    run.stop.set()
    # Drivers end within their socket timeouts (a few seconds at most).
    join_deadline = time.monotonic() + 10
    for t in threads:
        t.join(max(0.0, join_deadline - time.monotonic()))
    record = run.merged()
    record["_elapsed_s"] = round(time.monotonic() - run.start, 3)
    record["_cpu_percent"] = round(100.0 * time.process_time() / max(record["_elapsed_s"], 0.001), 1)
    record["_still_running"] = [t.name for t in threads if t.is_alive()]
    write_json(args.json, record)


# --- probes -------------------------------------------------------------------------------------

def scrape(addr, timeout=2.0):
    host, port = host_port(addr)
    try:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        return text if resp.status == 200 else ""
    except (OSError, http.client.HTTPException):
        return ""


def metrics_cmd(args):
    text = scrape(args.addr)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def wait_bound(args):
    deadline = time.monotonic() + args.timeout
    for _ in range(int(args.timeout / 0.2) + 2):
        if args.pid and not os.path.exists("/proc/%d" % args.pid):
            sys.exit(1)
        for line in scrape(args.addr, 1.0).splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "gamerelay_bound_members" and float(parts[1]) >= args.count:
                return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    sys.exit(1)


def hello(args):
    record = {"ok": False, "ms": None, "reply": None, "error": None}
    start = time.monotonic()
    try:
        sock = socket.create_connection((RELAY_HOST, args.port), timeout=args.timeout)
        sock.sendall(b'{"op":"hello","protocol":1,"client":"soak"}\n')
        buf = b""
        for _ in range(1000):
            remaining = start + args.timeout - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                record["error"] = "closed without a reply"
                break
            buf += data
            cuts = [i for i in (buf.find(b"\n"), buf.find(b"\0")) if i >= 0]
            if cuts:
                record["ms"] = round((time.monotonic() - start) * 1000, 3)
                record["reply"] = buf[:min(cuts)].decode("utf-8", "replace")
                try:
                    record["ok"] = json.loads(record["reply"]).get("ok") is True
                except ValueError:
                    pass
                break
        sock.close()
    except socket.timeout:
        record["error"] = "no reply within %g s" % args.timeout
    except OSError as e:
        record["error"] = "%s: %s" % (type(e).__name__, e)
    write_json(args.json, record)
    print(json.dumps(record))


# --- the report ---------------------------------------------------------------------------------

METRIC_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
LIMIT_WORDS = ("refus", "shed", "over_backlog", "limit", "accept_errors", "receive_queue_drops",
               "receive_errors", "closing", "yielded", "read_pauses")


def parse_metrics(path):
    values, types = {}, {}
    try:
        text = open(path, errors="replace").read()
    except OSError:
        return values, types
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                types[parts[2]] = parts[3]
            continue
        m = METRIC_LINE.match(line)
        if m:
            try:
                values[(m.group(1), m.group(2) or "")] = float(m.group(3))
            except ValueError:
                pass
    return values, types


def num(x):
    return ("%d" % x) if float(x).is_integer() else ("%.3f" % x)


def big(x):
    return "{:,}".format(int(x))


def sanitizer_reports(path):
    """Every AddressSanitizer/LeakSanitizer report in the relay's stderr, as lists of lines."""
    try:
        lines = open(path, errors="replace").read().splitlines()
    except OSError:
        return []
    reports, current = [], None
    for line in lines:
        starts = re.search(r"==\d+==\s*(ERROR|WARNING): (Address|Leak)Sanitizer", line) or \
            "LeakSanitizer has encountered a fatal error" in line
        if starts and current is None:
            current = [line]
        elif current is not None:
            current.append(line)
        if current is not None and (line.startswith("SUMMARY: ") or len(current) > 5000):
            reports.append(current)
            current = None
    if current:
        reports.append(current)
    return reports


def report(args):
    work = args.work
    kv = dict(s.split("=", 1) for s in args.set)

    def load(name):
        try:
            with open(os.path.join(work, name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    bench, hostile_stats, hello_rec = load("bench.json"), load("hostile.json") or {}, load("hello.json")
    rows = []
    duration = kv.get("duration", "?")
    rows.append(("duration", "%s s measured after a 2 s warm-up; hostile traffic for %s s (warm-up and measured window), then %s s of quiet"
                 % (duration, num(hostile_stats.get("_elapsed_s", 0)), kv.get("quiet", "10"))))
    # The kernel as major.minor, as the README gives it.
    rows.append(("hardware", re.sub(r"(Linux \d+\.\d+)\S*", r"\1", (bench or {}).get("hardware") or "?")))
    rows.append(("relay", "%s, `--threads %s`, other settings default"
                 % (kv.get("build", "?"), kv.get("threads", "?"))))
    if bench:
        planned = bench["sessions"] * bench["members"] * bench["ratePerMember"]
        rows.append(("valid load", "%d sessions × %d members from 127.0.0.1, %d B at %s/s each (fan-out %d): %s packets/s, %s deliveries/s%s"
                     % (bench["sessions"], bench["members"], bench["payloadBytes"], num(bench["ratePerMember"]),
                        bench["fanout"], big(planned), big(planned * bench["fanout"]),
                        "" if bench["offeredPacketsPerSecond"] >= 0.99 * planned else
                        " planned, but only %s packets/s sent" % big(bench["offeredPacketsPerSecond"]))))
        rows.append(("loss", "%.3f %% (%s of %s delivered; duplicates %d, reordered %d; kernel drops at relay %s, at generator %s; send failures %s)"
                     % (bench["lossPercent"], big(bench["delivered"]), big(bench["expected"]), bench["duplicates"],
                        bench["reordered"], bench.get("relaySocketDrops", "n/a"), bench.get("generatorSocketDrops", "n/a"),
                        big(bench.get("sendFailures", 0)))))
        rows.append(("latency p50 / p99 / max", "%.3f / %.3f / %.3f ms (one-way; p99.9 %.3f ms)"
                     % (bench["latencyP50Micros"] / 1000, bench["latencyP99Micros"] / 1000,
                        bench["latencyMaxMicros"] / 1000, bench["latencyP999Micros"] / 1000)))
        for w in bench.get("warnings", []):
            rows.append(("bench warning", w))
    else:
        rows.append(("valid load", "no bench summary (status %s): %s" % (kv.get("bench_status", "?"), kv.get("bench_error", ""))))
    rows.append(("CPU during the load", "relay %s %% of a core; hostile drivers %s %%; bench generator %s %%"
                 % (kv.get("relay_cpu", "?"), hostile_stats.get("_cpu_percent", "?"),
                    "%.1f" % bench["generatorCPUPercent"] if bench and "generatorCPUPercent" in bench else "?")))
    if kv.get("asan") == "1":
        rows.append(("RSS start / peak / end", "n/a (AddressSanitizer build: its quarantine holds freed memory)"))
    else:
        rows.append(("RSS start / peak / end", "%s / %s / %s MiB (start: members joined, before the hostile traffic; end: 10 s after all load stopped)"
                     % tuple("%.1f" % (int(kv.get(k, "0")) / 1024) for k in ("rss_start", "rss_peak", "rss_end"))))

    udp = hostile_stats.get("udp_garbage", {})
    kinds = ", ".join("%s %s" % (k.split(":", 1)[1].replace("_", " "), big(v))
                      for k, v in sorted(udp.items()) if k.startswith("sent:"))
    errs = ", ".join("%s %s" % (k, big(v)) for k, v in sorted(udp.items()) if k.startswith(("send_error", "send_would")))
    rows.append(("hostile: garbage UDP", "%s datagrams, %.1f MB (%s)%s; answers from the relay: %d"
                 % (big(udp.get("sent", 0)), udp.get("bytes", 0) / 1e6, kinds or "none",
                    "; send errors: " + errs if errs else "", udp.get("answers_from_relay", 0))))
    fl = hostile_stats.get("control_flood", {})
    states = ", ".join("%s %d" % (k.split(":", 1)[1].replace("_", " "), v) for k, v in sorted(fl.items()) if k.startswith("state:"))
    fails = sum(v for k, v in fl.items() if k.startswith("connect_failed"))
    rows.append(("hostile: control floods", "%d batches, %d connections (%d failed to connect), %.1f of %.1f MB of pings written, never read; at close: %s; we reset %d, closed with FIN %d"
                 % (fl.get("batches", 0), fl.get("connections", 0), fails, fl.get("bytes_written", 0) / 1e6,
                    fl.get("bytes_planned", 0) / 1e6, states or "-", fl.get("we_reset", 0), fl.get("we_closed", 0))))
    ch = hostile_stats.get("churn", {})
    opened = ", ".join("%s %d" % (k.split(":", 1)[1].replace("_", " "), v) for k, v in sorted(ch.items()) if k.startswith("opened:"))
    rows.append(("hostile: connection churn", "%d connections (%s); replies: %s; policy answered %d, other %d; closed by relay after oversize %d; errors: %s"
                 % (ch.get("connections", 0), opened or "none", codes(ch, "reply:"), ch.get("policy_answered", 0),
                    ch.get("policy_other", 0), ch.get("closed_by_relay", 0), codes(ch, ("error:", "connect_failed:")))))
    se = hostile_stats.get("sessions", {})
    rows.append(("hostile: session churn", "%d connections; replies by code: %s; by request: %s; events: %s; errors: %s"
                 % (se.get("connections", 0), codes(se, "reply:"),
                    codes(se, ("create:", "join:", "kick:", "leave:", "ping:"), keep_prefix=True),
                    codes(se, "event:"), codes(se, ("error:", "connect_failed:")))))
    rows.append(("hostile: spoof target", "owner of one session bound from 127.0.0.6: %s; PINGs %d, PONGs %d; datagrams it got that it should not have: %d"
                 % ("bound" if se.get("bound") else "NOT bound", se.get("pings_sent", 0), se.get("pongs", 0),
                    se.get("unexpected_datagrams", 0))))
    sc = hostile_stats.get("scraper", {})
    rows.append(("hostile: /metrics scrapes", "%s; slowest %d ms" % (codes(sc, ("status:", "failed:"), keep_prefix=True), sc.get("slowest_ms", 0))))
    before, _ = parse_metrics(os.path.join(work, "metrics-before.txt"))
    after, types = parse_metrics(os.path.join(work, "metrics-after.txt"))

    def grown(name, label_part=""):
        """A counter's growth over the hostile phase, every series whose labels contain label_part."""
        if not after:
            return "?"
        return num(sum(v for (n, lb), v in after.items() if n == name and label_part in lb)
                   - sum(v for (n, lb), v in before.items() if n == name and label_part in lb))

    sk = hostile_stats.get("ws_sink", {})
    rows.append(("hostile: WebSocket sink", "%d cycles of 15 s from 127.0.0.10: a browser member that stops reading (4 KiB receive buffer), a native member bound over UDP sending it %s DATA (%.1f MB) at 200/s; relay's backlog drops (Δ) +%s; browser still connected at the end of its cycle %d, closed by the relay %d; datagrams the native member got (none sent to it) %d, BIND_ACKs for its own BIND retries after it was bound %d; errors: %s"
                 % (sk.get("cycles", 0), big(sk.get("data_sent", 0)), sk.get("data_bytes", 0) / 1e6,
                    grown("gamerelay_datagrams_dropped_total", 'reason="backlog"'), sk.get("ws_open_at_end", 0),
                    sum(v for k, v in sk.items() if k.startswith("ws_closed_by_relay")), sk.get("udp_member_got", 0), sk.get("late_bind_acks", 0),
                    codes(sk, ("error:", "bind_failed", "setup_failed", "control_closed_by_relay", "ws_closed_by_relay", "udp_member_got:"), keep_prefix=True))))
    jk = hostile_stats.get("ws_junk", {})
    rows.append(("hostile: WebSocket junk frames", "%d upgrades; how each kind ended (close code, `open`: a ping after it got its pong): %s; not as expected: %d; endless fragments: the relay closed after at most %s payload bytes went out; replies before the close: %s; our close after the pong answered with: %s; errors: %s"
                 % (jk.get("connections", 0), codes(jk, "close:"), jk.get("unexpected", 0),
                    big(jk.get("fragments_sent_bytes_max", 0)), codes(jk, "seen:"), codes(jk, "close_echo:"),
                    codes(jk, ("upgrade_failed:",), keep_prefix=True))))
    up = hostile_stats.get("ws_upgrades", {})
    rows.append(("hostile: WebSocket upgrades", "%d requests; status by kind: %s; not as expected: %d; connection closed after the answer %d, left open %d; errors: %s"
                 % (up.get("connections", 0), codes(up, "status:"), up.get("unexpected", 0),
                    up.get("closed_after_answer", 0), up.get("open_after_answer", 0),
                    codes(up, ("error:", "connect_failed:"), keep_prefix=True))))
    sl = hostile_stats.get("ws_slow", {})
    def close_span(name):
        if name + "_closed_ms_min" not in sl:
            return "-"
        return "%.1f-%.1f s after the connect" % (sl[name + "_closed_ms_min"] / 1000, sl[name + "_closed_ms_max"] / 1000)

    rows.append(("hostile: WebSocket silence", "3 at a time: an upgrade head at 1 byte per 0.5 s (%s bytes in all): %s, closed %s; 2 at a time: a 2^62-byte binary frame announced, then silence: %s (text before the close: %s), closed %s; closed before the control idle timeout (30 s): %d; not as expected: %d; errors: %s"
                 % (big(sl.get("bytes", 0)), codes(sl, "slow_head:"), close_span("slow_head"),
                    codes(sl, "silent_binary:"), codes(sl, "seen:"), close_span("silent_binary"),
                    sl.get("slow_head_closed_early", 0) + sl.get("silent_binary_closed_early", 0),
                    sl.get("unexpected", 0), codes(sl, ("upgrade_failed:", "connect_failed:"), keep_prefix=True))))
    fd = hostile_stats.get("ws_flood", {})
    seconds = fd.get("flood_millis", 0) / 1000
    rows.append(("hostile: WebSocket flood", "%d cycles of 20 s: a browser member sent %s binary DATA (%s/s; %s) into a session with a native member bound over UDP and one never bound; the native member got %s of its DATA (its member rate allows %s: 240/s and a second of burst per cycle; cycles over it: %d), %d datagrams not from it (besides %d PONGs and %d BIND_ACKs for its own BIND retries after it was bound); sockets that never proved a token got %d; relay's rate_limited drops (Δ) +%s; errors: %s"
                 % (fd.get("cycles", 0), big(fd.get("sent", 0)), big(fd.get("sent", 0) / seconds) if seconds else "0",
                    codes(fd, "sent:"), big(fd.get("native_got_data", 0)), big(fd.get("native_allowed", 0)),
                    fd.get("over_member_rate", 0),
                    fd.get("native_got_foreign", 0), fd.get("native_got_pongs", 0), fd.get("late_bind_acks", 0), fd.get("witness_got", 0),
                    grown("gamerelay_datagrams_dropped_total", 'reason="rate_limited"'),
                    codes(fd, ("error:", "bind_failed", "setup_failed", "control_closed_by_relay", "ws_closed_by_relay", "native_got_foreign:"), keep_prefix=True))))
    crashed = [("%s %s" % (name, k)) for name, c in hostile_stats.items() if isinstance(c, dict)
               for k in c if k.startswith("driver_crashed")]
    if kv.get("hostile_status", "0") != "0":
        crashed.append("the driver exited with status %s" % kv["hostile_status"])
    if not hostile_stats:
        crashed.append("no driver summary")
    if crashed or hostile_stats.get("_still_running"):
        rows.append(("hostile drivers", "problems: %s" % ", ".join(crashed + ["still running: %s" % n for n in hostile_stats.get("_still_running", [])])))

    if not after:
        rows.append(("drop counters (Δ)", "no /metrics at the end"))
    else:
        # One figure per reason, every loop's series added up; the control loop's (loop="0":
        # datagrams from and to WebSocket members) also on their own.
        drops, browser = collections.Counter(), collections.Counter()
        for (name, labels), v in sorted(after.items()):
            if name == "gamerelay_datagrams_dropped_total":
                reason = re.search(r'reason="([^"]*)"', labels)
                key = reason.group(1) if reason else labels
                drops[key] += v - before.get((name, labels), 0)
                if 'loop="0"' in labels:
                    browser[key] += v - before.get((name, labels), 0)
        text = ", ".join("%s +%s" % (k, num(v)) for k, v in sorted(drops.items())) or "none exported"
        if any(browser.values()):
            text += "; of these on the control loop (WebSocket members): %s" % ", ".join(
                "%s +%s" % (k, num(v)) for k, v in sorted(browser.items()) if v)
        rows.append(("drop counters (Δ)", text))
        limits = []
        for (name, labels), v in sorted(after.items()):
            if name == "gamerelay_datagrams_dropped_total" or not any(w in name for w in LIMIT_WORDS):
                continue
            short = name[len("gamerelay_"):] if name.startswith("gamerelay_") else name
            if types.get(name) == "counter" or name.endswith("_total"):
                limits.append("%s%s +%s" % (short, labels, num(v - before.get((name, labels), 0))))
            else:
                limits.append("%s%s = %s" % (short, labels, num(v)))
        rows.append(("limit counters (Δ)", ", ".join(limits) or "none exported"))
        activity = []
        for name in ("datagrams_received_total", "datagrams_forwarded_total", "send_failures_total",
                     "control_connections_accepted_total", "sessions_created_total", "joins_total", "binds_total",
                     "idle_unbinds_total", "websocket_upgrades_total"):
            # Data-plane counters carry a loop label: add up every loop's series.
            full = "gamerelay_" + name
            if any(n == full for n, _ in after):
                grown = sum(v for (n, _), v in after.items() if n == full) - sum(v for (n, _), v in before.items() if n == full)
                activity.append("%s +%s" % (name, big(grown)))
        for name in ("sessions", "members", "control_connections", "websocket_connections"):
            key = ("gamerelay_" + name, "")
            if key in after:
                activity.append("%s now %s" % (name, num(after[key])))
        rows.append(("relay activity (Δ)", ", ".join(activity)))

    log = os.path.join(work, "relay.log")
    try:
        lines = open(log, errors="replace").read().splitlines()
        levels = collections.Counter()
        for line in lines:
            parts = line.split(" ", 2)
            if len(parts) > 1 and parts[1] in ("trace", "debug", "info", "notice", "warning", "error", "critical"):
                levels[parts[1]] += 1
        rows.append(("relay log", "%d lines, %.1f KiB (%s)" % (len(lines), os.path.getsize(log) / 1024,
                                                             ", ".join("%s %d" % kv2 for kv2 in sorted(levels.items())) or "no log lines")))
    except OSError:
        pass
    if hello_rec is None:
        rows.append(("hello at the end", "not sent: %s" % kv.get("hello_note", "the relay was gone")))
    elif hello_rec.get("ok"):
        rows.append(("hello at the end", "answered in %.3f ms" % hello_rec["ms"]))
    else:
        rows.append(("hello at the end", "FAILED: %s" % (hello_rec.get("error") or hello_rec.get("reply"))))
    rows.append(("relay alive at the end", kv.get("alive", "?")))
    rows.append(("relay exit status", kv.get("exit", "?")))
    reports = sanitizer_reports(log)
    if kv.get("asan") != "1":
        rows.append(("sanitizer reports", "n/a (release build; run with --asan)"))
    elif not reports:
        rows.append(("sanitizer reports", "none"))
    else:
        heads = []
        for r in reports:
            summary = next((line for line in r if line.startswith("SUMMARY: ")), r[0])
            heads.append(summary.strip())
        rows.append(("sanitizer reports", "%d: %s (printed below)" % (len(reports), "; ".join(heads))))

    print("| soak | result |")
    print("|---|---|")
    for key, value in rows:
        print("| %s | %s |" % (key, str(value).replace("|", "\\|")))
    if kv.get("asan") == "1" and reports:
        print()
        print("Sanitizer reports from the relay's stderr:")
        printed = 0
        for r in reports:
            for line in r:
                if printed >= args.max_report_lines:
                    break
                print("    " + line)
                printed += 1
        total = sum(len(r) for r in reports)
        if total > printed:
            print("    ... %d more lines (set SOAK_KEEP=1 to keep the relay's log)" % (total - printed))


def codes(stats, prefixes, keep_prefix=False):
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    items = []
    for k, v in sorted(stats.items(), key=lambda kv: (-kv[1], kv[0])):
        if k.startswith(prefixes):
            items.append("%s %s" % (k if keep_prefix else k.split(":", 1)[1], big(v)))
    return ", ".join(items) or "none"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    h = sub.add_parser("hostile")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--udp-port", type=int, required=True)
    h.add_argument("--metrics")
    h.add_argument("--duration", type=float, required=True)
    h.add_argument("--udp-rate", type=float, default=3000.0)
    h.add_argument("--json", required=True)
    h.add_argument("--only", help="comma-separated driver names (e.g. ws_junk,ws_flood): run just these")
    m = sub.add_parser("metrics")
    m.add_argument("--addr", required=True)
    m.add_argument("--out")
    w = sub.add_parser("wait-bound")
    w.add_argument("--addr", required=True)
    w.add_argument("--count", type=int, required=True)
    w.add_argument("--timeout", type=float, default=60.0)
    w.add_argument("--pid", type=int)
    he = sub.add_parser("hello")
    he.add_argument("--port", type=int, required=True)
    he.add_argument("--timeout", type=float, default=5.0)
    he.add_argument("--json")
    r = sub.add_parser("report")
    r.add_argument("--work", required=True)
    r.add_argument("--set", action="append", default=[])
    r.add_argument("--max-report-lines", type=int, default=1000)
    args = parser.parse_args()
    {"hostile": hostile, "metrics": metrics_cmd, "wait-bound": wait_bound, "hello": hello,
     "report": report}[args.command](args)


if __name__ == "__main__":
    main()
