#!/usr/bin/env python3
"""Hostile control-channel clients for Benchmarks/control-flood.sh (standard library only).

  control_flood.py flood --port P [--host 127.0.0.1] [--connections 200] [--pings 20000]
                         [--duration 10] [--json FILE]
      Opens --connections TCP connections to the relay's control port; each writes --pings
      copies of {"op":"ping"}\\n as fast as the relay lets it (non-blocking sockets, poll) and
      never reads a byte of the replies. After --duration seconds in all it closes everything
      (with the replies still unread, so the kernel resets the connections). Prints the bytes
      written in total and how many connections the relay reset or closed meanwhile.

  control_flood.py hello --port P [--host 127.0.0.1] [--timeout 10] [--json FILE]
      Opens a fresh control connection, sends {"op":"hello","protocol":1}\\n and times the
      reply (from the start of connect to its terminator); "no reply within T s" otherwise.

Loopback only: any --host other than 127.0.0.1 is refused.
"""

import argparse
import errno
import json
import select
import socket
import sys
import time

PING = b'{"op":"ping"}\n'
HELLO = b'{"op":"hello","protocol":1}\n'
CHUNK = 64 * 1024


def loopback_only(host):
    if host != "127.0.0.1":
        sys.exit("control_flood.py: loopback (127.0.0.1) only, not %s" % host)


def write_json(path, record):
    if path:
        with open(path, "w") as f:
            json.dump(record, f)
            f.write("\n")


class Conn:
    __slots__ = ("sock", "offset", "state", "error")

    def __init__(self, sock):
        self.sock = sock
        self.offset = 0
        self.state = "connecting"  # connecting, open, done (all written), reset, closed, failed
        self.error = None


def flood(args):
    loopback_only(args.host)
    payload = PING * args.pings
    view = memoryview(payload)
    total = len(payload)
    start = time.monotonic()
    deadline = start + args.duration
    conns = {}
    poller = select.poll()
    connect_failures = 0

    for _ in range(args.connections):
        if time.monotonic() >= deadline:
            break
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        code = sock.connect_ex((args.host, args.port))
        if code not in (0, errno.EINPROGRESS):
            connect_failures += 1
            sock.close()
            continue
        conn = Conn(sock)
        conns[sock.fileno()] = conn
        poller.register(sock, select.POLLOUT)

    written = 0
    first_full = None  # when every connection had either written everything or stopped
    active = len(conns)

    def end(conn, state, error=None):
        nonlocal active
        if conn.state in ("connecting", "open"):
            active -= 1
        conn.state = state
        conn.error = error
        try:
            poller.unregister(conn.sock)
        except (KeyError, ValueError):
            pass

    while active > 0:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        events = poller.poll(min(remaining, 0.25) * 1000)
        for fd, ev in events:
            conn = conns.get(fd)
            if conn is None or conn.state not in ("connecting", "open"):
                continue
            if conn.state == "connecting":
                err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    connect_failures += 1
                    end(conn, "failed", errno.errorcode.get(err, str(err)))
                    continue
                conn.state = "open"
            if ev & (select.POLLERR | select.POLLHUP):
                err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                end(conn, "reset", errno.errorcode.get(err, "POLLHUP") if err else "POLLHUP")
                continue
            # Write until the kernel refuses (EAGAIN) or everything is out.
            while conn.offset < total:
                try:
                    n = conn.sock.send(view[conn.offset:conn.offset + CHUNK])
                except BlockingIOError:
                    break
                except (ConnectionResetError, BrokenPipeError) as e:
                    end(conn, "reset", errno.errorcode.get(e.errno, str(e.errno)))
                    break
                except OSError as e:
                    end(conn, "reset", errno.errorcode.get(e.errno, str(e.errno)))
                    break
                if n <= 0:
                    break
                conn.offset += n
                written += n
            if conn.state == "open" and conn.offset >= total:
                end(conn, "done")
        if active == 0 and first_full is None:
            first_full = time.monotonic()

    # Everything written (or stopped): hold the connections open, still unread, until the
    # deadline, so the relay keeps its unread replies; then look at each without reading.
    while time.monotonic() < deadline:
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    flood_seconds = time.monotonic() - start
    check = select.poll()
    for conn in conns.values():
        if conn.state in ("connecting", "open", "done"):
            check.register(conn.sock, select.POLLRDHUP | select.POLLERR | select.POLLHUP)
    seen = dict(check.poll(0)) if conns else {}
    for fd, conn in conns.items():
        ev = seen.get(fd, 0)
        if conn.state not in ("connecting", "open", "done"):
            continue
        err = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err or ev & (select.POLLERR | select.POLLHUP):
            conn.state, conn.error = "reset", errno.errorcode.get(err, "POLLHUP") if err else "POLLHUP"
        elif ev & select.POLLRDHUP:
            conn.state, conn.error = "closed", "FIN"

    states = {}
    errors = {}
    for conn in conns.values():
        states[conn.state] = states.get(conn.state, 0) + 1
        if conn.error:
            errors[conn.error] = errors.get(conn.error, 0) + 1
    for conn in conns.values():
        try:
            conn.sock.close()
        except OSError:
            pass

    record = {
        "connections": len(conns),
        "connect_failures": connect_failures,
        "pings_per_connection": args.pings,
        "bytes_planned": total * len(conns),
        "bytes_written": written,
        "connections_fully_written": sum(1 for c in conns.values() if c.offset >= total),
        "connections_reset": states.get("reset", 0),
        "connections_closed": states.get("closed", 0),
        "states": states,
        "errors": errors,
        "all_stopped_after_s": None if first_full is None else round(first_full - start, 3),
        "flood_seconds": round(flood_seconds, 3),
    }
    print("flood: %d connections (%d failed to connect), %d of %d bytes written (%.1f MB), "
          "%d wrote all %d pings" % (len(conns), connect_failures, written, record["bytes_planned"],
                                     written / 1e6, record["connections_fully_written"], args.pings))
    print("flood: connections reset by the relay: %d, closed (FIN) by the relay: %d; states %s; errors %s"
          % (record["connections_reset"], record["connections_closed"],
             json.dumps(states, sort_keys=True), json.dumps(errors, sort_keys=True)))
    write_json(args.json, record)


def hello(args):
    loopback_only(args.host)
    record = {"ok": False, "ms": None, "reply": None, "error": None}
    start = time.monotonic()
    deadline = start + args.timeout
    try:
        sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(HELLO)
        buf = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout()
            sock.settimeout(remaining)
            data = sock.recv(65536)
            if not data:
                record["error"] = "closed without a reply"
                break
            buf += data
            cut = min((i for i in (buf.find(b"\n"), buf.find(b"\0")) if i >= 0), default=-1)
            if cut >= 0:
                record["ms"] = round((time.monotonic() - start) * 1000, 3)
                record["reply"] = buf[:cut].decode("utf-8", "replace")
                try:
                    record["ok"] = json.loads(record["reply"]).get("ok") is True
                except ValueError:
                    record["ok"] = False
                break
        sock.close()
    except socket.timeout:
        record["error"] = "no reply within %g s" % args.timeout
    except OSError as e:
        record["error"] = "%s: %s" % (type(e).__name__, e)
    if record["ms"] is not None:
        print("hello: %.3f ms (%s)" % (record["ms"], "ok" if record["ok"] else record["reply"]))
    else:
        print("hello: %s" % record["error"])
    write_json(args.json, record)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("flood")
    f.add_argument("--host", default="127.0.0.1")
    f.add_argument("--port", type=int, required=True)
    f.add_argument("--connections", type=int, default=200)
    f.add_argument("--pings", type=int, default=20000)
    f.add_argument("--duration", type=float, default=10.0)
    f.add_argument("--json")
    h = sub.add_parser("hello")
    h.add_argument("--host", default="127.0.0.1")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--timeout", type=float, default=10.0)
    h.add_argument("--json")
    args = parser.parse_args()
    flood(args) if args.command == "flood" else hello(args)


if __name__ == "__main__":
    main()
