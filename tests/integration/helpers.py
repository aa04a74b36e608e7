"""Helpers for lxlb's integration tests: a raw-socket HTTP/1.1 client that
reads exactly one response at a time (so tests see framing bugs), and process
wrappers for the test backend and lxlb. Fixtures live in conftest.py."""
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
BACKEND_PY = os.path.join(HERE, "backend.py")

sys.path.insert(0, HERE)
from backend import pattern, pattern_sha256  # noqa: E402,F401


def lxlb_path():
    p = os.environ.get("LXLB") or os.path.join(REPO, "build", "lxlb")
    if not os.path.isabs(p):
        p = os.path.join(REPO, p)
    return p


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    """A loopback port nobody listens on (connect is refused)."""
    return free_port()


# ---------------------------------------------------------------- HTTP client

class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in order
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        vals = [v for n, v in self.headers if n.lower() == name.lower()]
        return ", ".join(vals) if vals else default

    def header_list(self, name):
        return [v for n, v in self.headers if n.lower() == name.lower()]

    def tokens(self, name):
        return [t.strip().lower() for t in (self.header(name) or "").split(",") if t.strip()]

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("latin-1")

    def __repr__(self):
        return "<Response %s %s %r body=%d bytes>" % (self.status, self.reason, self.headers,
                                                       len(self.body))


class ConnectionClosed(Exception):
    pass


class Conn:
    """One client connection. send() raw bytes; read_response() parses exactly
    one response off the stream, leaving any following bytes buffered."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False
        self.deadline = None

    def set_deadline(self, seconds):
        """Reads fail once this many seconds have passed (slow trickles too)."""
        self.deadline = time.monotonic() + seconds

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def request(self, method, target, headers=None, body=None, host="lxlb.test"):
        self.send(build_request(method, target, headers, body, host))

    def _fill(self):
        if self.eof:
            raise ConnectionClosed("connection closed by peer")
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise AssertionError("deadline passed with %d bytes buffered" % len(self.buf))
        try:
            data = self.sock.recv(262144)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            raise ConnectionClosed("connection closed by peer")
        self.buf += data

    def _until(self, delim, limit=1 << 20):
        start = 0
        while True:
            i = self.buf.find(delim, start)
            if i >= 0:
                out = bytes(self.buf[:i + len(delim)])
                del self.buf[:i + len(delim)]
                return out
            if len(self.buf) > limit:
                raise AssertionError("no %r within %d bytes" % (delim, limit))
            start = max(0, len(self.buf) - len(delim) + 1)
            self._fill()

    def _exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_response(self, method="GET", skip_interim=True):
        while True:
            head = self._until(b"\r\n\r\n")
            lines = head[:-4].decode("latin-1").split("\r\n")
            m = re.match(r"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
            if not m:
                raise AssertionError("bad status line %r" % lines[0])
            version, status, reason = m.group(1), int(m.group(2)), m.group(3) or ""
            headers = []
            for ln in lines[1:]:
                name, sep, value = ln.partition(":")
                if not sep:
                    raise AssertionError("bad header line %r" % ln)
                headers.append((name, value.strip()))
            if 100 <= status < 200 and skip_interim:
                continue
            break
        resp = Response(version, status, reason, headers, b"", head)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header_list("Content-Length")
        if te and "chunked" in te.lower():
            body = bytearray()
            while True:
                line = self._until(b"\r\n")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._until(b"\r\n") != b"\r\n":
                        pass
                    break
                body += self._exact(size)
                if self._exact(2) != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF")
            resp.body = bytes(body)
        elif cl:
            assert len(set(cl)) == 1, "conflicting Content-Length %r" % cl
            resp.body = self._exact(int(cl[0]))
        else:
            # close-delimited
            while True:
                try:
                    self._fill()
                except ConnectionClosed:
                    break
            resp.body = bytes(self.buf)
            self.buf.clear()
        return resp

    def read_all(self, timeout=5.0):
        """Everything until the peer closes (or timeout); returns bytes."""
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                self._fill()
            except ConnectionClosed:
                break
            except socket.timeout:
                break
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def is_closed_by_peer(self, timeout=2.0):
        """True when the peer closes (EOF or reset) within timeout with no more data."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
        if data:
            self.buf += data
            return False
        self.eof = True
        return True


def build_request(method, target, headers=None, body=None, host="lxlb.test"):
    hdrs = []
    names = set()
    for name, value in (headers.items() if isinstance(headers, dict) else (headers or [])):
        hdrs.append((name, value))
        names.add(name.lower())
    if "host" not in names and host is not None:
        hdrs.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    out = ("%s %s HTTP/1.1\r\n" % (method, target)
           + "".join("%s: %s\r\n" % (n, v) for n, v in hdrs) + "\r\n").encode("latin-1")
    if body is not None:
        out += body if isinstance(body, bytes) else body.encode()
    return out


def chunked(data, step=100000):
    out = bytearray()
    for i in range(0, len(data), step):
        piece = data[i:i + step]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


def get(port, target="/", method="GET", headers=None, body=None, timeout=10.0):
    """One request on a fresh connection; returns the Response."""
    with Conn(port, timeout=timeout) as c:
        c.request(method, target, headers, body)
        return c.read_response(method)


def raw_exchange(port, data, timeout=5.0):
    """Send bytes, return all bytes received until the peer closes or timeout."""
    with Conn(port, timeout=timeout) as c:
        c.send(data)
        return c.read_all(timeout)


def parse_raw_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"^HTTP/\d\.\d (\d{3})", lines[0])
    assert m, "not an HTTP response: %r" % data[:200]
    headers = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ":" in ln]
    return Response("HTTP/1.1", int(m.group(1)), "", headers, body, head)


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def wait_port(port, timeout=5.0, proc=None):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def port_refuses(port):
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return False
        except ConnectionRefusedError:
            return True
        except ConnectionResetError:
            # A listener closed with this connection in its queue (the
            # kernel resets those): it is going away; ask again.
            time.sleep(0.02)
    return False


# ---------------------------------------------------------------- processes

class Backend:
    def __init__(self, name, mode="normal", idle_close_ms=0, extra=()):
        self.name = name
        self.mode = mode
        self.proc = subprocess.Popen(
            [PYTHON, BACKEND_PY, "--port", "0", "--name", name, "--mode", mode,
             "--idle-close-ms", str(idle_close_ms)] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        if not line.startswith("READY "):
            self.stop()
            raise RuntimeError("backend %s did not start: %r" % (name, line))
        self.port = int(line.split()[1])
        self.address = "127.0.0.1:%d" % self.port

    def stats(self):
        return get(self.port, "/stats").json()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class Lxlb:
    def __init__(self, config, tmpdir, wait=True, name="lxlb"):
        workers = os.environ.get("LXLB_TEST_WORKERS")
        if workers and "workers" not in config.get("global", {}):
            # The suite again with more event loops (tests/run-all.sh).
            config = dict(config, **{"global": dict(config.get("global", {}),
                                                    workers=int(workers))})
        self.config = config
        self.dir = tmpdir
        self.conf_path = os.path.join(tmpdir, name + ".json")
        with open(self.conf_path, "w") as f:
            json.dump(config, f, indent=2)
        self.log_path = os.path.join(tmpdir, name + ".stderr")
        self.out_path = os.path.join(tmpdir, name + ".stdout")
        self.ports = []
        for fe in config.get("frontends", []):
            for b in fe.get("bind", []):
                self.ports.append(int(b.rsplit(":", 1)[1]))
        self.port = self.ports[0] if self.ports else None
        self._log = open(self.log_path, "wb")
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen([lxlb_path(), "-f", self.conf_path], stdout=self._out,
                                     stderr=self._log, stdin=subprocess.DEVNULL, cwd=tmpdir)
        if wait:
            for p in self.ports:
                if not wait_port(p, 5.0, self.proc):
                    self.stop()
                    raise AssertionError("lxlb did not listen on %d (exit %r); stderr:\n%s"
                                         % (p, self.proc.returncode, self.log()))

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, predicate, timeout=3.0):
        """Poll stderr until predicate(text) is true; returns the text."""
        end = time.monotonic() + timeout
        while True:
            text = self.log()
            if predicate(text) or time.monotonic() > end:
                return text
            time.sleep(0.05)

    def alive(self):
        return self.proc.poll() is None

    def assert_serving(self, port=None, expect_body_prefix=b"backend "):
        """The process is alive and a plain request on a fresh connection works."""
        assert self.alive(), "lxlb exited with %r; stderr:\n%s" % (self.proc.returncode,
                                                                  self.log()[-3000:])
        r = get(port or self.port, "/")
        assert r.status == 200, r
        assert r.body.startswith(expect_body_prefix), r

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self._log.close()
        self._out.close()


def make_config(backends, frontends=None, defaults=None, port=None, **fe_opts):
    """backends: {"name": [Backend or (Backend, {server opts}), ...]} or a list of
    backend dicts. One frontend "http" on port to the first backend unless
    frontends is given."""
    if isinstance(backends, dict):
        bl = []
        for bname, servers in backends.items():
            sl = []
            for i, s in enumerate(servers):
                opts = {}
                if isinstance(s, tuple):
                    s, opts = s
                addr = s if isinstance(s, str) else s.address
                sname = opts.pop("name", None) or (s.name if hasattr(s, "name") else "s%d" % (i + 1))
                sl.append(dict({"name": sname, "address": addr}, **opts))
            bl.append({"name": bname, "servers": sl})
        backends = bl
    if frontends is None:
        fe = {"name": "http", "bind": ["127.0.0.1:%d" % (port or free_port())],
              "default_backend": backends[0]["name"]}
        fe.update(fe_opts)
        frontends = [fe]
    cfg = {"frontends": frontends, "backends": backends}
    if defaults:
        cfg["defaults"] = defaults
    return cfg


def is_asan(pid):
    """Is lxlb a SANITIZE=1 build? (its quarantine holds freed memory, so RSS
    bounds are loose there; LeakSanitizer checks leaks at exit instead)"""
    try:
        with open("/proc/%d/maps" % pid) as f:
            return "libasan" in f.read()
    except OSError:
        return False


class RawServer:
    """A one-thread HTTP server in the test process that records exactly the
    bytes each request arrived as (framing included), for tests of what lxlb
    sends on the wire. Each request gets `response` (bytes, or a function of
    the raw request returning bytes) and the connection stays open."""

    def __init__(self, response=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"):
        self.response = response
        self.requests = []   # raw bytes of each whole request, in arrival order
        self.connections = 0  # connections accepted
        self.proxy_headers = []  # a PROXY protocol header a connection started with
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        self.stopping = False
        import threading
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def request_end(buf):
        """Length of the first whole request in buf, or 0."""
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            return 0
        head, n = buf[:i].lower(), i + 4
        m = re.search(rb"\r\ncontent-length:\s*(\d+)", head)
        if m:
            return n + int(m.group(1)) if len(buf) >= n + int(m.group(1)) else 0
        if re.search(rb"\r\ntransfer-encoding:[^\r]*chunked", head):
            while True:
                j = buf.find(b"\r\n", n)
                if j < 0:
                    return 0
                size = int(buf[n:j].split(b";")[0], 16)
                if size == 0:
                    k = buf.find(b"\r\n\r\n", j)
                    return k + 4 if k >= 0 else 0
                n = j + 2 + size + 2
                if len(buf) < n:
                    return 0
        return n

    @staticmethod
    def proxy_header_end(buf):
        """Length of a PROXY header (v1 or v2) at the start of buf: 0 when
        there is none, None while it is incomplete."""
        sig = b"\r\n\r\n\x00\r\nQUIT\n"
        if buf.startswith(sig[:len(buf)]) and len(buf) < 16:
            return None
        if buf.startswith(sig):
            n = 16 + int.from_bytes(buf[14:16], "big")
            return n if len(buf) >= n else None
        if buf.startswith(b"PROXY "[:len(buf)]) and len(buf) < 6:
            return None
        if buf.startswith(b"PROXY "):
            i = buf.find(b"\r\n")
            return i + 2 if i >= 0 else None
        return 0

    def _conn(self, c):
        buf = b""
        first = True
        with c:
            while not self.stopping:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                if first:
                    n = self.proxy_header_end(buf)
                    if n is None:
                        continue
                    if n:
                        self.proxy_headers.append(buf[:n])
                        buf = buf[n:]
                    first = False
                while True:
                    n = self.request_end(buf)
                    if not n:
                        break
                    req, buf = buf[:n], buf[n:]
                    self.requests.append(req)
                    resp = self.response(req) if callable(self.response) else self.response
                    c.sendall(resp)

    def _serve(self):
        import threading
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._conn, args=(c,), daemon=True).start()

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
