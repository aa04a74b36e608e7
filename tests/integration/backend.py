#!/usr/bin/python3
"""A small threaded HTTP/1.1 test backend for lxlb's integration tests.

Run as its own process:

    /usr/bin/python3 backend.py --port N --name NAME [--mode normal|garbage|accept-no-answer]

With --port 0 it picks a free port. Once listening it prints "READY <port>" on
stdout (and flushes), so a harness can wait for it.

Written on raw sockets (not http.server) so that framing is exactly what the
test asks for. Every response carries "X-Backend: NAME" and
"X-Request-Target: <target as received>".

Paths (modes "normal"):
  /                      200 "backend NAME"
  /headers               200 JSON {"backend", "method", "target", "version",
                         "headers": [[name, value], ...] in received order}
  /upload                reads the body (Content-Length or chunked), answers
                         JSON {"sha256", "length", "chunked"}
  /download?size=N       N bytes of pattern(N); &chunked=1 chunked encoding,
                         &close=1 close-delimited (no length, then close).
                         Header X-Content-Sha256 gives the body's sha256.
  /status/NNN            that status; 204/304 carry no body (&cl=N adds a
                         Content-Length: N header to a 304, still no body)
  /slow?ms=N             waits N ms, then 200 "backend NAME slow"
  /page?img=N            200 text/html: a page with N <img> tags (/download?size=64&i=K)
  /setcookie?name=&value= 200 with "Set-Cookie: name=value; Path=/" (default
                         JSESSIONID=app-NAME)
  /hop                   200 with hop-by-hop response headers the proxy must drop
  /close                 200 with "Connection: close", then closes the connection
  /stats                 JSON {"name", "accepted", "connections", "requests",
                         "inflight"}; /stats requests are not counted.
  /malformed/KIND        a broken response (see MALFORMED below), then close;
                         /malformed/extra answers properly, then sends a second,
                         unasked-for response and keeps the connection open.
  anything else          200 "backend NAME"
HEAD works on every path: same headers, no body.
Keep-alive: HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
"Connection: keep-alive". "Expect: 100-continue" gets an interim 100.

Counters: "accepted" counts every TCP connection accepted; "connections"
counts connections that carried at least one non-/stats request; "requests"
counts non-/stats requests.

Modes:
  garbage            answers every connection with non-HTTP bytes, then closes
  accept-no-answer   accepts, reads, never answers (until the peer closes)
  close-no-answer    reads a request head, counts it, closes without answering

--idle-close-ms N: close a keep-alive connection idle for N ms between
requests (as servers with a short keep-alive timeout do).
--backlog N, --accept-delay-ms N: a listen backlog of N and a pause before
each accept: an overloaded server whose accept queue overflows (SYNs dropped).
"""
import argparse
import hashlib
import json
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

PATTERN_PERIOD = 1048573  # a prime, so lost/duplicated power-of-two blocks show
_pattern_base = None
_pattern_lock = threading.Lock()


def _base():
    global _pattern_base
    with _pattern_lock:
        if _pattern_base is None:
            out = bytearray()
            h = b"lxlb-pattern"
            while len(out) < PATTERN_PERIOD:
                h = hashlib.sha256(h).digest()
                out += h
            _pattern_base = bytes(out[:PATTERN_PERIOD])
        return _pattern_base


def pattern(n):
    """The deterministic body of /download?size=n."""
    b = _base()
    reps = n // len(b) + 1
    return (b * reps)[:n]


def pattern_sha256(n):
    return hashlib.sha256(pattern(n)).hexdigest()


REASONS = {100: "Continue", 200: "OK", 204: "No Content", 301: "Moved Permanently",
           302: "Found", 304: "Not Modified", 400: "Bad Request", 404: "Not Found",
           500: "Internal Server Error", 503: "Service Unavailable"}


# Broken responses for /malformed/KIND: a proxy must answer 502 (or cut the
# connection once the head went out), never pass them on.
MALFORMED = {
    "status-line": b"HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok",
    "no-status": b"HTTP/1.1\r\nContent-Length: 2\r\n\r\nok",
    "version": b"HTTP/9.9 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "status-000": b"HTTP/1.1 000 Zero\r\nContent-Length: 2\r\n\r\nok",
    "status-099": b"HTTP/1.1 099 Low\r\nContent-Length: 2\r\n\r\nok",
    "cl-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"2\r\nok\r\n0\r\n\r\n",
    "dup-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 4\r\n\r\nokok",
    "bad-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 2x\r\n\r\nok",
    "bad-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
    "chunk-overflow": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"fffffffffffffffffff\r\nok\r\n0\r\n\r\n",
    "chunk-no-crlf": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX0\r\n\r\n",
    "nul-header": b"HTTP/1.1 200 OK\r\nX-Bad: a\x00b\r\nContent-Length: 2\r\n\r\nok",
    "space-name": b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nok",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
    "bare-cr": b"HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 2\r\n\r\nok",
    "upgrade": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: evil\r\nConnection: upgrade\r\n\r\n",
}


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.accepted = 0
        self.connections = 0
        self.requests = 0
        self.inflight = 0

    def snapshot(self, name):
        with self.lock:
            return {"name": name, "accepted": self.accepted,
                    "connections": self.connections, "requests": self.requests,
                    "inflight": self.inflight}


class Closed(Exception):
    pass


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        data = self.sock.recv(262144)
        if not data:
            raise Closed()
        self.buf += data

    def until(self, delim, limit=1 << 20):
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                out = bytes(self.buf[:i + len(delim)])
                del self.buf[:i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise Closed()
            start = max(0, len(self.buf) - len(delim) + 1)
            self._fill()

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def chunks(self, n, size=262144):
        """Yield exactly n bytes in pieces, without holding them all."""
        while n > 0:
            if not self.buf:
                self._fill()
            take = min(n, len(self.buf), size)
            out = bytes(self.buf[:take])
            del self.buf[:take]
            n -= take
            yield out


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        srv = self.server
        with srv.stats.lock:
            srv.stats.accepted += 1
        self.counted = False

    def handle(self):
        mode = self.server.mode
        try:
            if mode == "garbage":
                try:
                    self.request.settimeout(2)
                    self.request.recv(65536)
                except OSError:
                    pass
                self.request.sendall(b"\x00\xffTHIS IS NOT HTTP\x01\x02 garbage garbage\r\n\r\n")
                return
            if mode == "accept-no-answer":
                while self.request.recv(65536):
                    pass
                return
            rd = Reader(self.request)
            if mode == "close-no-answer":
                rd.until(b"\r\n\r\n")
                with self.server.stats.lock:
                    self.server.stats.requests += 1
                    self.server.stats.connections += 1
                return
            idle = self.server.idle_close_ms
            while True:
                if idle and not rd.buf:
                    self.request.settimeout(idle / 1000.0)
                    try:
                        rd._fill()
                    except socket.timeout:
                        return
                    self.request.settimeout(None)
                if not self.one(rd):
                    break
        except (Closed, ConnectionError, OSError):
            pass

    def send(self, data):
        self.request.sendall(data)

    def one(self, rd):
        head = rd.until(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        # Tolerate stray CRLF before a request line (RFC 9112 2.2).
        while lines and lines[0] == b"":
            lines.pop(0)
        reqline = lines[0].decode("latin-1")
        parts = reqline.split(" ")
        if len(parts) != 3:
            self.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return False
        method, target, version = parts
        headers = []
        for ln in lines[1:]:
            name, _, value = ln.decode("latin-1").partition(":")
            headers.append([name, value.strip()])

        def hget(name):
            vals = [v for n, v in headers if n.lower() == name.lower()]
            return ", ".join(vals) if vals else None

        conn_tokens = [t.strip().lower() for t in (hget("Connection") or "").split(",")]
        if version == "HTTP/1.1":
            keep = "close" not in conn_tokens
        else:
            keep = "keep-alive" in conn_tokens

        url = urllib.parse.urlsplit(target)
        path = url.path
        q = dict(urllib.parse.parse_qsl(url.query))
        stats = self.server.stats
        is_stats = path == "/stats"
        if not is_stats:
            with stats.lock:
                stats.requests += 1
                stats.inflight += 1
                if not self.counted:
                    stats.connections += 1
                    self.counted = True
        try:
            return self.respond(rd, method, target, version, headers, hget, keep, path, q)
        finally:
            if not is_stats:
                with stats.lock:
                    stats.inflight -= 1

    def read_body(self, rd, hget, sink):
        """Read the request body into sink(bytes). Returns (length, chunked)."""
        te = (hget("Transfer-Encoding") or "").lower()
        if (hget("Expect") or "").lower() == "100-continue":
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        if "chunked" in te:
            total = 0
            while True:
                line = rd.until(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while rd.until(b"\r\n") != b"\r\n":  # trailers
                        pass
                    return total, True
                for piece in rd.chunks(size):
                    sink(piece)
                total += size
                if rd.exact(2) != b"\r\n":
                    raise Closed()
        cl = hget("Content-Length")
        n = int(cl) if cl else 0
        for piece in rd.chunks(n):
            sink(piece)
        return n, False

    def respond(self, rd, method, target, version, headers, hget, keep, path, q):
        name = self.server.name
        # Every request may carry a body; always consume it.
        h = hashlib.sha256()
        length, chunked = self.read_body(rd, hget, h.update)

        status = 200
        extra = []
        body = None          # bytes, or None for the streamed download
        ctype = "text/plain"
        if path == "/headers":
            body = json.dumps({"backend": name, "method": method, "target": target,
                               "version": version, "headers": headers}).encode()
            ctype = "application/json"
        elif path == "/upload":
            body = json.dumps({"backend": name, "sha256": h.hexdigest(), "length": length,
                               "chunked": chunked}).encode()
            ctype = "application/json"
        elif path == "/stats":
            body = json.dumps(self.server.stats.snapshot(name)).encode()
            ctype = "application/json"
        elif path == "/download":
            return self.download(method, target, keep, q)
        elif path.startswith("/status/"):
            status = int(path[len("/status/"):])
            if status in (204, 304) or status < 200:
                line = "HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Status"))
                hdrs = ["X-Backend: " + name, "X-Request-Target: " + target]
                if status == 304:
                    hdrs.append('ETag: "lxlb-test"')
                    if "cl" in q:
                        hdrs.append("Content-Length: " + q["cl"])
                if not keep:
                    hdrs.append("Connection: close")
                self.send((line + "".join(x + "\r\n" for x in hdrs) + "\r\n").encode("latin-1"))
                return keep
            body = ("status %d from backend %s\n" % (status, name)).encode()
        elif path.startswith("/malformed/"):
            kind = path[len("/malformed/"):]
            if kind == "extra":
                body = ("backend %s" % name).encode()
                self.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
                time.sleep(0.05)
                self.send(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nINJECTED")
                return True
            self.send(MALFORMED.get(kind, b"HTTP/1.1 200 OK\r\nX-Unknown-Kind: 1\r\n\r\n"))
            return False
        elif path == "/page":
            n = int(q.get("img", "0"))
            body = ("<!doctype html><html><body><h1>backend %s</h1>\n" % name + "".join(
                '<img src="/download?size=64&amp;i=%d" width="4" height="4">\n' % i
                for i in range(n)) + "</body></html>\n").encode()
            ctype = "text/html"
        elif path == "/slow":
            time.sleep(int(q.get("ms", "1000")) / 1000.0)
            body = ("backend %s slow" % name).encode()
        elif path == "/close":
            keep = False
            body = ("backend %s" % name).encode()
        elif path == "/setcookie":
            # ?name=N&value=V[&attrs=...]: the application's own session cookie
            extra.append("Set-Cookie: %s=%s%s" % (q.get("name", "JSESSIONID"),
                                                  q.get("value", "app-" + name),
                                                  q.get("attrs", "; Path=/")))
            body = ("backend %s" % name).encode()
        elif path == "/hop":
            extra += ["Connection: keep-alive, X-Backend-Hop", "X-Backend-Hop: secret",
                      "Keep-Alive: timeout=5, max=100", "X-Backend-Normal: kept"]
            body = ("backend %s" % name).encode()
        else:
            body = ("backend %s" % name).encode()

        hdrs = ["X-Backend: " + name, "X-Request-Target: " + target,
                "Content-Type: " + ctype, "Content-Length: %d" % len(body)] + extra
        if not keep:
            hdrs.append("Connection: close")
        out = ("HTTP/1.1 %d %s\r\n" % (status, REASONS.get(status, "Status"))
               + "".join(x + "\r\n" for x in hdrs) + "\r\n").encode("latin-1")
        if method != "HEAD":
            out += body
        self.send(out)
        return keep

    def download(self, method, target, keep, q):
        size = int(q.get("size", "0"))
        data = pattern(size)
        digest = hashlib.sha256(data).hexdigest()
        chunked = q.get("chunked") == "1"
        close = q.get("close") == "1"
        hdrs = ["X-Backend: " + self.server.name, "X-Request-Target: " + target,
                "Content-Type: application/octet-stream", "X-Content-Sha256: " + digest,
                "X-Content-Size: %d" % size]
        if close:
            keep = False
        elif chunked:
            hdrs.append("Transfer-Encoding: chunked")
        else:
            hdrs.append("Content-Length: %d" % size)
        if not keep:
            hdrs.append("Connection: close")
        self.send(("HTTP/1.1 200 OK\r\n" + "".join(x + "\r\n" for x in hdrs) + "\r\n").encode())
        if method == "HEAD":
            return keep
        if chunked and not close:
            step = 65521  # odd sizes, so chunk edges fall everywhere
            for i in range(0, size, step):
                piece = data[i:i + step]
                self.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
            self.send(b"0\r\n\r\n")
        else:
            view = memoryview(data)
            for i in range(0, size, 262144):
                self.send(view[i:i + 262144])
        if close:
            try:
                self.request.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            return False
        return keep


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024
    accept_delay = 0.0

    def get_request(self):
        # --accept-delay-ms: a server too busy to accept, whose short accept
        # queue (--backlog) overflows: the kernel then drops SYNs.
        if self.accept_delay:
            time.sleep(self.accept_delay)
        return super().get_request()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--name", default="backend")
    ap.add_argument("--mode", default="normal", choices=["normal", "garbage", "accept-no-answer",
                                                        "close-no-answer"])
    ap.add_argument("--idle-close-ms", type=int, default=0)
    ap.add_argument("--backlog", type=int, default=1024)
    ap.add_argument("--accept-delay-ms", type=int, default=0)
    ap.add_argument("--garbage", action="store_const", const="garbage", dest="mode")
    ap.add_argument("--accept-no-answer", action="store_const", const="accept-no-answer",
                    dest="mode")
    args = ap.parse_args()
    Server.request_queue_size = args.backlog
    Server.accept_delay = args.accept_delay_ms / 1000.0
    srv = Server((args.host, args.port), Handler)
    srv.name = args.name
    srv.mode = args.mode
    srv.idle_close_ms = args.idle_close_ms
    srv.stats = Stats()
    _base()  # build the pattern before announcing readiness
    print("READY %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
