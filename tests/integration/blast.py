"""Many hostile connections, fast: one thread drives a few hundred non-blocking
sockets at once with a selector (test_hostile.py's 100k random-byte test).

Each connection connects, sends 0-2 KB of hostile bytes, then ends one of four
ways: half-close and read until lxlb closes; read without half-closing; close
at once; or reset (SO_LINGER 0). Nothing is asserted about the answers (a
random request may even be valid): the test checks lxlb afterwards. What is
counted is what a dead or refusing lxlb would change: connects that fail.

Source addresses rotate over 127.0.0.2-127.0.0.17 so that 100k connections
in a minute do not run out of ephemeral ports on one address.

Run by hand: python3 blast.py PORT [N] [SEED]."""
import collections
import errno
import random
import resource
import selectors
import socket
import struct
import sys
import time

TOKENS = [b"GET ", b"POST ", b"/", b" HTTP/1.1", b" HTTP/1.0", b"\r\n", b"\r\n\r\n", b"\n",
          b"\r", b": ", b":", b" ", b"\t", b"Host", b"Content-Length", b"Transfer-Encoding",
          b"chunked", b"Connection", b"close", b"keep-alive", b"0", b"5", b"ffffffff", b";",
          b",", b"\x00", b"Expect", b"100-continue", b"X-Forwarded-For", b"%0d%0a", b"\xff"]
PREFIXES = [b"GET / HTTP/1.1\r\n", b"GET / HTTP/1.1\r\nHost: lxlb.test\r\n",
            b"POST /upload HTTP/1.1\r\nHost: lxlb.test\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /upload HTTP/1.1\r\nHost: lxlb.test\r\nContent-Length: 100\r\n\r\n"]
MAX_PAYLOAD = 2048
LINGER0 = struct.pack("ii", 1, 0)


class Payloads:
    """Payloads of 0 to MAX_PAYLOAD bytes, cheap to draw: slices of one random
    buffer (plain random bytes), slices of token soups made once, and HTTP
    heads followed by either."""

    def __init__(self, rng):
        self.rng = rng
        self.noise = rng.randbytes(1 << 20)
        self.soups = []
        for _ in range(64):
            parts, size = [], 0
            while size < 4 * MAX_PAYLOAD:
                t = rng.choice(TOKENS) if rng.random() < 0.8 else bytes([rng.getrandbits(8)])
                parts.append(t)
                size += len(t)
            self.soups.append(b"".join(parts))

    def _slice(self, src, n):
        at = self.rng.randrange(len(src) - n + 1)
        return src[at:at + n]

    def draw(self):
        rng = self.rng
        n = rng.randint(0, MAX_PAYLOAD)
        kind = rng.random()
        src = self.noise if kind < 0.5 else rng.choice(self.soups)
        data = self._slice(src, n)
        if kind >= 0.75:
            data = (rng.choice(PREFIXES) + data)[:max(n, 1)]
        return data


class Conn:
    __slots__ = ("sock", "data", "sent", "end", "started")

    def __init__(self, sock, data, end, started):
        self.sock, self.data, self.sent, self.end, self.started = sock, data, 0, end, started


def _ends(rng):
    r = rng.random()
    return "read" if r < 0.5 else "close" if r < 0.75 else "reset" if r < 0.9 else "wait"


def blast(port, n, seed=1, concurrency=400, conn_timeout=1.0, progress=None):
    """n connections to 127.0.0.1:port, concurrency at a time. Returns a
    Counter: "done", "connect_failed", "timeout" (gave up waiting after
    conn_timeout s), "reset" (lxlb reset it), bytes "sent" and "received".
    progress(i) is called every 10000 connections started."""
    rng = random.Random(seed)
    payloads = Payloads(rng)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < concurrency + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, concurrency + 256), hard))
    sel = selectors.DefaultSelector()
    stats = collections.Counter()
    live = collections.OrderedDict()  # sock -> Conn, oldest first
    started = 0

    def finish(c, what=None, reset=False):
        if what:
            stats[what] += 1
        sel.unregister(c.sock)
        del live[c.sock]
        if reset:
            try:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
            except OSError:
                pass
        c.sock.close()
        stats["done"] += 1

    def start():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind(("127.0.0.%d" % (2 + started % 16), 0))
        rc = s.connect_ex(("127.0.0.1", port))
        c = Conn(s, payloads.draw(), _ends(rng), time.monotonic())
        live[s] = c
        sel.register(s, selectors.EVENT_WRITE, c)
        if rc not in (0, errno.EINPROGRESS):
            finish(c, "connect_failed")

    def sent_all(c):
        if c.end == "close":
            finish(c)
        elif c.end == "reset":
            finish(c, reset=True)
        else:
            if c.end == "read":
                try:
                    c.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            sel.modify(c.sock, selectors.EVENT_READ, c)

    def writable(c):
        if c.sent == 0 and c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            finish(c, "connect_failed")
            return
        try:
            while c.sent < len(c.data):
                k = c.sock.send(c.data[c.sent:c.sent + 65536])
                c.sent += k
        except BlockingIOError:
            return
        except (BrokenPipeError, ConnectionResetError):
            finish(c, "reset")  # lxlb answered and closed before the end
            return
        stats["sent"] += c.sent
        sent_all(c)

    def readable(c):
        try:
            while True:
                chunk = c.sock.recv(65536)
                if not chunk:
                    finish(c)
                    return
                stats["received"] += len(chunk)
        except BlockingIOError:
            return
        except (ConnectionResetError, OSError):
            finish(c, "reset")

    while started < n or live:
        while started < n and len(live) < concurrency:
            start()
            started += 1
            if progress and started % 10000 == 0:
                progress(started)
        for key, mask in sel.select(timeout=0.05):
            c = key.data
            if c.sock not in live:
                continue
            if mask & selectors.EVENT_WRITE:
                writable(c)
            elif mask & selectors.EVENT_READ:
                readable(c)
        now = time.monotonic()
        while live:
            c = next(iter(live.values()))
            if now - c.started < conn_timeout:
                break
            finish(c, "timeout", reset=True)
    sel.close()
    return stats


if __name__ == "__main__":
    t0 = time.monotonic()
    st = blast(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 100000,
               int(sys.argv[3]) if len(sys.argv) > 3 else 1,
               progress=lambda i: print("%d connections, %.1f s" % (i, time.monotonic() - t0)))
    print(dict(st), "%.1f s" % (time.monotonic() - t0))
