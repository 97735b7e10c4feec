#!/usr/bin/env python3
"""Load and probes for the agent's health endpoint (tests/e2e/health_e2e.sh).

  health_load.py load HOST PORT --slow N --idle N --seconds S
      Keeps N slow connections (a request that never ends, one byte a second) and N idle ones
      (connected, silent) open against HOST:PORT for S seconds. A connection the server closes
      is opened again at once, so the pressure never lets up. Prints "load up" once every
      connection was opened once, and a summary at the end.
  health_load.py probe HOST PORT --count N --timeout-ms T PATH...
      N probes of each PATH (GET, HTTP/1.1, Connection: close), one after another; each must
      answer 200 with the whole body within T ms of the connect. Prints every latency; exits 1
      when any probe failed or was late.
"""
import argparse
import errno
import resource
import selectors
import signal
import socket
import sys
import time


def raise_nofile(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        sys.exit(f"RLIMIT_NOFILE: need {wanted} descriptors, the hard limit is {hard}")


class Load:
    """Slow and idle connections, re-opened when the server closes them."""

    SLOW_PREFIX = b"GET /readyz HTTP/1.1\r\nHost: x\r\nX-Slow: "

    def __init__(self, addr, slow, idle):
        self.addr = addr
        self.sel = selectors.DefaultSelector()
        self.want = {"slow": slow, "idle": idle}
        self.open = {"slow": 0, "idle": 0}
        self.opened = 0
        self.closed_by_server = 0
        self.errors = 0
        self.slow_socks = {}  # socket -> bytes sent

    def connect(self, kind):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(self.addr)
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.errors += 1
            return
        self.sel.register(s, selectors.EVENT_READ, kind)
        self.open[kind] += 1
        self.opened += 1
        if kind == "slow":
            self.slow_socks[s] = 0

    def drop(self, s, kind):
        self.sel.unregister(s)
        s.close()
        self.open[kind] -= 1
        self.slow_socks.pop(s, None)

    def refill(self, limit):
        for kind in ("slow", "idle"):
            while self.open[kind] < self.want[kind] and limit > 0:
                self.connect(kind)
                limit -= 1

    def drip(self):
        """One more byte on every slow connection: the request never ends."""
        for s, sent in list(self.slow_socks.items()):
            byte = self.SLOW_PREFIX[sent:sent + 1] if sent < len(self.SLOW_PREFIX) else b"a"
            try:
                s.send(byte)
                self.slow_socks[s] = sent + 1
            except BlockingIOError:
                pass
            except OSError:
                self.closed_by_server += 1
                self.drop(s, "slow")

    def poll(self, timeout):
        for key, _ in self.sel.select(timeout):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # closed (or refused) by the server: open another
                self.closed_by_server += 1
                self.drop(s, key.data)

    def run(self, seconds):
        end = time.monotonic() + seconds
        next_drip = time.monotonic()
        announced = False
        stopped = []
        signal.signal(signal.SIGTERM, lambda *_: stopped.append(True))
        while time.monotonic() < end and not stopped:
            self.refill(2000)
            if not announced and self.opened >= sum(self.want.values()):
                print(f"load up: {self.opened} connections opened; open now (connected or "
                      f"connecting): {self.open['slow']} slow, {self.open['idle']} idle; "
                      f"{self.closed_by_server} closed by the server so far", flush=True)
                announced = True
            if time.monotonic() >= next_drip:
                self.drip()
                next_drip += 1.0
            self.poll(0.05)
        print(f"load done: opened {self.opened} connections, {self.closed_by_server} closed by "
              f"the server, {self.errors} connect errors; open at the end: {self.open['slow']} "
              f"slow, {self.open['idle']} idle", flush=True)


def probe_once(addr, path, timeout):
    start = time.monotonic()
    deadline = start + timeout
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect(addr)
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None, "no whole answer in time"
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as e:
        return None, f"{type(e).__name__}: {e}"
    finally:
        s.close()
    ms = (time.monotonic() - start) * 1000
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/1.") else "?"
    if status != "200" or not body.startswith(b"{"):
        return None, f"status {status}, body {body[:80]!r}"
    return ms, ""


def probe(addr, paths, count, timeout_ms):
    bad = 0
    for path in paths:
        times = []
        for _ in range(count):
            ms, why = probe_once(addr, path, timeout_ms / 1000)
            if ms is None or ms > timeout_ms:
                bad += 1
                print(f"{path}: FAILED ({why or f'{ms:.0f} ms'})", flush=True)
            else:
                times.append(ms)
            time.sleep(0.1)
        desc = " ".join(f"{t:.1f}" for t in times)
        print(f"{path}: {len(times)}/{count} answered within {timeout_ms} ms "
              f"(max {max(times, default=0):.1f} ms): {desc}", flush=True)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["load", "probe"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("paths", nargs="*", default=["/healthz", "/readyz"])
    ap.add_argument("--slow", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--timeout-ms", type=int, default=1000)
    a = ap.parse_args()
    addr = (a.host, a.port)
    if a.mode == "load":
        raise_nofile(a.slow + a.idle + 256)
        Load(addr, a.slow, a.idle).run(a.seconds)
        return 0
    return probe(addr, a.paths, a.count, a.timeout_ms)


if __name__ == "__main__":
    sys.exit(main())
