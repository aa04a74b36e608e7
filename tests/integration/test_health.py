"""Health checks, passive failure detection, retries and redispatch (issue 3),
against real processes. Intervals are short (100-500ms) so each test stays
within a few seconds; the measured failure-to-down times are printed (-s)."""
import datetime
import re
import socket
import subprocess
import threading
import time

from helpers import BACKEND_PY, PYTHON, get, make_config

LOG_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z", re.M)


def health_config(servers, **health):
    h = {"path": "/health", "interval": "100ms", "timeout": "300ms", "rise": 2, "fall": 3}
    h.update(health)
    cfg = make_config({"b": servers})
    cfg["backends"][0]["health"] = h
    cfg["backends"][0]["retries"] = 3
    cfg["backends"][0]["redispatch"] = True
    return cfg


def log_line(text, pattern):
    """The first stderr line matching pattern, or None."""
    for ln in text.splitlines():
        if re.search(pattern, ln):
            return ln
    return None


def line_time(line):
    """Wall-clock seconds of an event line's timestamp (UTC)."""
    ts = LOG_TS.match(line).group(1)
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f")
    return dt.replace(tzinfo=datetime.timezone.utc).timestamp()


def wait_line(lx, pattern, timeout):
    text = lx.wait_log(lambda t: log_line(t, pattern) is not None, timeout)
    ln = log_line(text, pattern)
    assert ln, "no log line matching %r within %.1fs; stderr:\n%s" % (pattern, timeout,
                                                                      text[-3000:])
    return ln


def backends_hit(port, n):
    names = []
    for _ in range(n):
        r = get(port, "/")
        assert r.status == 200, r
        names.append(r.header("X-Backend"))
    return names


class ToggleServer:
    """An HTTP/1.1 server in the test process whose /health answers with the
    status the test sets; everything else is 200 "backend NAME"."""

    def __init__(self, name):
        self.name = name
        self.status = 200
        self.health_requests = []  # raw heads of the /health requests seen
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.address = "127.0.0.1:%d" % self.port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                path = head.split(b"\r\n")[0].split(b" ")[1]
                status = 200
                if path == b"/health":
                    status = self.status
                    self.health_requests.append(head)
                body = b"backend " + self.name.encode()
                close = b"connection: close" in head.lower()
                c.sendall(b"HTTP/1.1 %d Status\r\nX-Backend: %s\r\nContent-Length: %d\r\n%s\r\n"
                          % (status, self.name.encode(), len(body),
                             b"Connection: close\r\n" if close else b"") + body)
                if close:
                    return
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class PortBackend:
    """backend.py on a chosen port, so a killed server can come back there."""

    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.address = "127.0.0.1:%d" % port
        self.proc = subprocess.Popen([PYTHON, BACKEND_PY, "--port", str(port), "--name", name],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("READY "), line

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def test_500_leaves_rotation_and_returns(backend, lxlb, procs):
    a = backend("A")
    t = ToggleServer("T")
    procs.append(t)
    lx = lxlb(health_config([a, t], interval="100ms", rise=2, fall=3))
    assert sorted(set(backends_hit(lx.port, 6))) == ["A", "T"]
    end = time.monotonic() + 1.0
    while not t.health_requests and time.monotonic() < end:
        time.sleep(0.02)
    # The check is a plain GET of the path, with Host and a close.
    head = t.health_requests[-1].decode()
    assert head.startswith("GET /health HTTP/1.1\r\n"), head
    assert "\r\nHost: %s\r\n" % t.address in head, head
    assert "\r\nConnection: close" in head, head

    t.status = 500
    t0 = time.time()
    down = wait_line(lx, r"server b/T is down \(was up\)", 2.0)
    took = line_time(down) - t0
    print("500 -> down in %.0f ms: %s" % (took * 1000, down))
    assert "L7STS 500 in " in down and re.search(r"L7STS 500 in \d+ms", down), down
    assert "3 failures in a row" in down, down
    # interval x fall, plus one interval of phase and a margin.
    assert took < 0.1 * 3 + 0.1 + 0.4, took
    assert backends_hit(lx.port, 6) == ["A"] * 6

    t.status = 200
    t1 = time.time()
    up = wait_line(lx, r"server b/T is up \(was down\)", 2.0)
    took = line_time(up) - t1
    print("200 -> up in %.0f ms: %s" % (took * 1000, up))
    assert re.search(r"L7OK 200 in \d+ms, 2 passes in a row", up), up
    assert took < 0.1 * 2 + 0.1 + 0.4, took
    assert sorted(set(backends_hit(lx.port, 6))) == ["A", "T"]


def test_expect_list_passes_listed_statuses(lxlb, procs):
    servers = []
    for i in range(3):
        s = ToggleServer("S%d" % i)
        s.status = 404
        procs.append(s)
        servers.append(s)
    lx = lxlb(health_config(servers, interval="100ms", expect="200,404", fall=1))
    time.sleep(0.4)
    for s in servers:
        assert len(s.health_requests) >= 2, "server %s not checked" % s.name
    # 404 is listed in expect: every server stays up.
    assert "is down" not in lx.log(), lx.log()
    servers[1].status = 500
    ln = wait_line(lx, r"server b/S1 is down", 1.5)
    assert re.search(r"L7STS 500 in \d+ms, 1 failure in a row", ln), ln
    assert "is down" not in lx.log().replace(ln, ""), lx.log()


def test_first_checks_spread_over_interval(lxlb, procs):
    stamps = {}
    servers = []

    class Stamped(ToggleServer):
        def _serve(self, c):
            stamps.setdefault(self.name, time.monotonic())
            return ToggleServer._serve(self, c)

    for i in range(6):
        s = Stamped("S%d" % i)
        procs.append(s)
        servers.append(s)
    t0 = time.monotonic()
    lxlb(health_config(servers, interval="1s"))
    time.sleep(1.3)
    assert len(stamps) == 6, stamps
    offsets = sorted(v - t0 for v in stamps.values())
    print("first check offsets (ms): %s" % [round(o * 1000) for o in offsets])
    # Six servers over one second: the first and the last check are far apart.
    assert offsets[-1] - offsets[0] > 0.4, offsets


def test_accept_but_never_answer_times_out(backend, lxlb):
    a = backend("A")
    h = backend("H", mode="accept-no-answer")
    lx = lxlb(health_config([a, h], interval="100ms", timeout="200ms", fall=2))
    t0 = time.time()
    down = wait_line(lx, r"server b/H is down \(was up\)", 3.0)
    took = line_time(down) - t0
    print("no answer -> down in %.0f ms: %s" % (took * 1000, down))
    assert re.search(r"L7TOUT timeout after 2\d\dms, 2 failures in a row", down), down
    # Two timed-out checks, the first one up to an interval after start.
    assert took < 0.1 + 2 * 0.2 + 0.1 + 0.5, took
    assert backends_hit(lx.port, 5) == ["A"] * 5


def test_refused_server_goes_down_and_static_starts_up(backend, lxlb):
    a = backend("A")
    dead = "127.0.0.1:%d" % _closed_port()
    lx = lxlb(health_config([a, (dead, {"name": "D"})], interval="100ms", fall=3))
    # Static servers start up, as in HAProxy: nothing logged until fall failures.
    down = wait_line(lx, r"server b/D is down \(was up\)", 2.0)
    assert re.search(r"L4CON connection refused in \d+ms, 3 failures in a row", down), down
    assert backends_hit(lx.port, 4) == ["A"] * 4


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_sigkill_under_wrk_no_errors(backend, lxlb):
    a, b = backend("A"), backend("B")
    lx = lxlb(health_config([a, b], path="/", interval="100ms", fall=3))
    wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d3s", "--latency",
                            "http://127.0.0.1:%d/" % lx.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    t0 = time.time()
    b.proc.kill()
    out, err = wrk.communicate(timeout=20)
    assert wrk.returncode == 0, err
    down = wait_line(lx, r"server b/B is down \(was up\)", 1.0)
    took = line_time(down) - t0
    p99 = re.search(r"99%\s+(\S+)", out)
    print("SIGKILL -> down in %.0f ms: %s\nwrk p99 %s\n%s"
          % (took * 1000, down, p99.group(1) if p99 else "?", out))
    assert "Socket errors" not in out, out
    assert "Non-2xx" not in out, out
    n = int(re.search(r"(\d+) requests in", out).group(1))
    assert n > 300, out
    assert took < 1.0, took
    assert a.stats()["requests"] > 0
    lx.assert_serving()


def test_passive_down_without_waiting_for_a_check(backend, lxlb):
    a, b = backend("A"), backend("B")
    lx = lxlb(health_config([a, b], path="/", interval="60s", fall=3))
    assert sorted(set(backends_hit(lx.port, 4))) == ["A", "B"]
    b.proc.kill()
    b.proc.wait()
    t0 = time.time()
    # Every request still succeeds: refused connects are redispatched to A.
    assert backends_hit(lx.port, 8) == ["A"] * 8
    down = wait_line(lx, r"server b/B is down \(was up\)", 1.0)
    took = line_time(down) - t0
    print("passive: kill -> down in %.0f ms: %s" % (took * 1000, down))
    assert "3 failures in a row from real traffic" in down, down
    assert "health check" not in down, down
    assert took < 1.0, took


def test_passive_down_then_checks_bring_it_back(backend, lxlb, procs):
    a = backend("A")
    port = _closed_port()
    b = PortBackend("B", port)
    procs.append(b)
    lx = lxlb(health_config([a, b], path="/", interval="500ms", rise=2, fall=3))
    assert sorted(set(backends_hit(lx.port, 4))) == ["A", "B"]
    b.stop()
    # Every request is answered (retried on A) while B's failures add up to
    # fall; 10 so that B is tried 3 times even when two loops share them.
    assert backends_hit(lx.port, 10) == ["A"] * 10
    down = wait_line(lx, r"server b/B is down \(was up\)", 1.0)
    assert "failures in a row from real traffic" in down, down
    # Back on the same port: rise passing checks bring it up again.
    b2 = PortBackend("B", port)
    procs.append(b2)
    t0 = time.time()
    up = wait_line(lx, r"server b/B is up \(was down\)", 3.0)
    took = line_time(up) - t0
    print("passive down, restarted -> up in %.0f ms: %s" % (took * 1000, up))
    assert re.search(r"L7OK 200 in \d+ms, 2 passes in a row", up), up
    assert "B" in backends_hit(lx.port, 4)


def test_overflowing_accept_queue_then_kill_no_errors(backend, lxlb):
    """Issue 16 item 4: two servers, B a small one with a listen backlog of 1;
    wrk -c16; kill -9 A 2 s in. Requests caught on A are sent again to B,
    whose accept queue overflows (SYNs dropped, connects unanswered for a
    second or more). A timer armed for a connect must not fire later in
    another state (it answered 408 after ~1 s). B can serve every request:
    none may fail."""
    a = backend("A")
    b = backend("B", extra=("--backlog", "1"))
    lx = lxlb(health_config([a, b], path="/", interval="100ms", fall=3))
    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d5s", "http://127.0.0.1:%d/" % lx.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)
    a.proc.kill()
    out, err = wrk.communicate(timeout=30)
    assert wrk.returncode == 0, err
    print(out)
    text = lx.log()
    bad = [ln for ln in text.splitlines() if re.search(r"\] http b/\S+ (?!200 )\d{3} ", ln)]
    assert not bad, "requests answered with an error:\n" + "\n".join(bad[:20])
    assert "Non-2xx" not in out, out
    lx.assert_serving()
