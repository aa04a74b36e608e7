"""HTTP/2 to clients (SPEC "HTTP/2 to clients"): ALPN h2 on TLS frontends,
prior-knowledge h2c on plain ones with "http2": true, checked with real
clients (curl, nghttp, headless Chromium) and, for protocol errors and
floods, raw frames written with python3-h2's hyperframe and hpack: each
hostile case gets RFC 9113's error code and lxlb keeps serving others."""
import hashlib
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest

from helpers import free_port, make_config, pattern_sha256
from test_tls import certs  # noqa: F401  (module fixture: a CA and certificates)

hyperframe = pytest.importorskip("hyperframe.frame")
hpack = pytest.importorskip("hpack")
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame,  # noqa: E402
                              HeadersFrame, PingFrame, RstStreamFrame, SettingsFrame,
                              WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR, CANCEL, ENHANCE_YOUR_CALM = 0, 1, 3, 8, 11


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "--max-time", str(timeout)] + list(args),
                          capture_output=True, timeout=timeout + 10)


def h2c_config(b, **fe):
    return make_config({"b": [b]}, http2=True, **fe)


def tls_config(b, certs, **fe):  # noqa: F811
    return make_config({"b": [b]}, tls={"cert": certs["lxlb.test"]["cert"],
                                         "key": certs["lxlb.test"]["key"]}, **fe)


def https(port, path="/"):
    return ["--resolve", "lxlb.test:%d:127.0.0.1" % port, "https://lxlb.test:%d%s" % (port, path)]


def access_lines(lx, needle):
    return [ln for ln in lx.log().splitlines() if needle in ln]


def h2_serves(port):
    """A fresh prior-knowledge HTTP/2 request through lxlb works."""
    r = curl("--http2-prior-knowledge", "-o", "-", "-w", "\n%{http_version} %{http_code}",
             "http://127.0.0.1:%d/" % port, timeout=10)
    return r.returncode == 0 and r.stdout.endswith(b"\n2 200")


# ------------------------------------------------------------ real clients

def test_curl_h2_over_tls_and_prior_knowledge(backend, lxlb, certs):  # noqa: F811
    b = backend("A")
    plain = lxlb(h2c_config(b))
    r = curl("--http2-prior-knowledge", "-D", "-", "http://127.0.0.1:%d/" % plain.port)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"HTTP/2 200"), r.stdout
    assert b"backend A" in r.stdout
    # The same plain port still speaks HTTP/1.1 to everyone else.
    r = curl("--http1.1", "-D", "-", "http://127.0.0.1:%d/" % plain.port)
    assert r.stdout.startswith(b"HTTP/1.1 200"), r.stdout

    tls = lxlb(tls_config(b, certs))
    r = curl("--http2", "--cacert", certs["ca"], "-D", "-", "-v", *https(tls.port, "/headers"))
    assert r.returncode == 0, r.stderr
    assert b"ALPN: server accepted h2" in r.stderr
    assert r.stdout.startswith(b"HTTP/2 200"), r.stdout
    body = r.stdout.split(b"\r\n\r\n", 1)[1].decode()
    # :authority became Host for the HTTP/1.1 server, which got HTTP/1.1.
    assert '"version": "HTTP/1.1"' in body and '["Host", "lxlb.test:%d"]' % tls.port in body
    line = tls.wait_log(lambda t: "HTTP/2.0" in t)
    assert re.search(r' http b/A 200 \d+ .* "GET /headers HTTP/2.0" TLSv1', line), line


def test_http2_false_offers_only_http11(backend, lxlb, certs):  # noqa: F811
    b = backend("A")
    tls = lxlb(tls_config(b, certs, http2=False))
    r = curl("--http2", "--cacert", certs["ca"], "-D", "-", "-v", *https(tls.port))
    assert r.returncode == 0, r.stderr
    assert b"ALPN: server accepted http/1.1" in r.stderr
    assert r.stdout.startswith(b"HTTP/1.1 200")
    # A plain frontend without http2 does not take the preface for h2.
    plain = lxlb(make_config({"b": [b]}))
    assert not h2_serves(plain.port)


def test_nghttp_many_streams_one_connection(backend, lxlb, certs):  # noqa: F811
    if not shutil.which("nghttp"):
        pytest.skip("nghttp (nghttp2-client) is not installed")
    b = backend("A")
    lx = lxlb(tls_config(b, certs))
    urls = ["https://127.0.0.1:%d/download?size=%d" % (lx.port, 1000 + i) for i in range(20)]
    r = subprocess.run(["nghttp", "-n", "-s"] + urls, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(b"/download?size=") == 20, r.stdout
    lines = lx.wait_log(lambda t: t.count('HTTP/2.0"') >= 20)
    clients = {ln.split()[0] for ln in lines.splitlines() if 'HTTP/2.0"' in ln}
    assert len(clients) == 1, clients


def test_chromium_loads_50_images_on_one_connection(backend, lxlb, certs, tmp_path):  # noqa: F811
    from test_admin import chromium
    b = backend("A")
    lx = lxlb(tls_config(b, certs))
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--disable-dev-shm-usage", "--ignore-certificate-errors",
           "--host-resolver-rules=MAP lxlb.test 127.0.0.1",
           "--user-data-dir=" + str(tmp_path / "profile"), "--virtual-time-budget=5000",
           "--dump-dom", "https://lxlb.test:%d/page?img=50" % lx.port]
    p = subprocess.run(cmd, capture_output=True, timeout=90)
    assert b"<h1>backend A</h1>" in p.stdout, p.stderr.decode()[-2000:]
    text = lx.wait_log(lambda t: t.count("GET /download?size=64") >= 50, timeout=10)
    imgs = [ln for ln in text.splitlines() if "GET /download?size=64" in ln]
    assert len(imgs) == 50, text[-3000:]
    assert all('HTTP/2.0"' in ln and " 200 " in ln for ln in imgs), imgs[:3]
    page = [ln for ln in text.splitlines() if "GET /page?img=50" in ln]
    clients = {ln.split()[0] for ln in imgs + page}
    assert len(clients) == 1, clients  # the page and its 50 images: one connection


def test_upload_3mb_and_download_20mb_sha256(backend, lxlb, certs, tmp_path):  # noqa: F811
    b = backend("A")
    lx = lxlb(tls_config(b, certs))
    data = os.urandom(3 * 1024 * 1024)
    up = tmp_path / "up.bin"
    up.write_bytes(data)
    # A body of known length, and one streamed without content-length
    # (chunked to the server).
    for extra in ([], ["-H", "Content-Length:", "-H", "Transfer-Encoding:"]):
        r = curl("--http2", "--cacert", certs["ca"], "--data-binary", "@" + str(up), *extra,
                 *https(lx.port, "/upload"))
        assert r.returncode == 0, r.stderr
        assert hashlib.sha256(data).hexdigest().encode() in r.stdout, r.stdout
        assert b'"length": %d' % len(data) in r.stdout
    size = 20 * 1024 * 1024
    for q in ("", "&chunked=1"):
        down = tmp_path / "down.bin"
        r = curl("--http2", "--cacert", certs["ca"], "-o", str(down), "-w", "%{http_version}",
                 *https(lx.port, "/download?size=%d%s" % (size, q)))
        assert r.returncode == 0 and r.stdout == b"2", (r.stdout, r.stderr)
        assert hashlib.sha256(down.read_bytes()).hexdigest() == pattern_sha256(size)


# ------------------------------------------------------------- raw frames

class RawH2:
    """A client writing HTTP/2 frames as the test says, valid or not."""

    def __init__(self, port, settings=None):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.enc = hpack.Encoder()
        self.buf = b""
        self.frames = []
        self.closed = False
        sf = SettingsFrame(0, settings=settings or {})
        self.s.sendall(PREFACE + sf.serialize())

    def send(self, *frames):
        try:
            self.s.sendall(b"".join(f if isinstance(f, bytes) else f.serialize() for f in frames))
        except OSError:
            self.closed = True

    def block(self, headers):
        return self.enc.encode(headers)

    def headers(self, sid, headers, end_stream=True, end_headers=True):
        flags = (["END_STREAM"] if end_stream else []) + (["END_HEADERS"] if end_headers else [])
        return HeadersFrame(sid, data=self.block(headers), flags=flags)

    def _read(self, timeout):
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(65536)
        except socket.timeout:
            return False
        except OSError:
            d = b""
        if not d:
            self.closed = True
            return False
        self.buf += d
        while len(self.buf) >= 9:
            f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                break
            f.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            self.frames.append(f)
            if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                self.send(SettingsFrame(0, flags=["ACK"]))
        return True

    def wait(self, pred, timeout=5.0):
        """The first frame received so far or within timeout for which pred holds."""
        end = time.monotonic() + timeout
        seen = 0
        while True:
            for f in self.frames[seen:]:
                if pred(f):
                    return f
            seen = len(self.frames)
            left = end - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self._read(min(left, 0.5))

    def goaway(self, timeout=5.0):
        return self.wait(lambda f: isinstance(f, GoAwayFrame), timeout)

    def rst(self, sid, timeout=5.0):
        return self.wait(lambda f: isinstance(f, RstStreamFrame) and f.stream_id == sid, timeout)

    def response(self, sid, timeout=5.0):
        """(status, body) of stream sid, once its END_STREAM came."""
        end = self.wait(lambda f: f.stream_id == sid and (
            isinstance(f, RstStreamFrame) or "END_STREAM" in getattr(f, "flags", ())) or
            isinstance(f, GoAwayFrame) and f.error_code, timeout)
        dec = hpack.Decoder()
        status, body = None, b""
        for f in self.frames:
            if isinstance(f, HeadersFrame):
                hdrs = dec.decode(f.data)  # every block, in order: the decoder's state
                if f.stream_id == sid:
                    status = int(dict(hdrs)[":status"]) if status is None else status
            if isinstance(f, DataFrame) and f.stream_id == sid:
                body += f.data
        return (status, body) if end is not None and not isinstance(
            end, (RstStreamFrame, GoAwayFrame)) else (None, body)

    def close(self):
        self.s.close()


def req(path="/", authority="lxlb.test", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path),
            (":authority", authority)] + list(extra)


@pytest.fixture
def h2c(backend, lxlb):
    b = backend("A")
    lx = lxlb(h2c_config(b, h2={"max_concurrent_streams": 20}))
    lx.backend = b
    conns = []

    def connect(**kw):
        c = RawH2(lx.port, **kw)
        conns.append(c)
        return c
    lx.connect = connect
    yield lx
    for c in conns:
        c.close()


def test_raw_frames_a_valid_request_is_served(h2c):
    c = h2c.connect()
    settings = c.wait(lambda f: isinstance(f, SettingsFrame) and "ACK" not in f.flags)
    assert settings.settings.get(SettingsFrame.MAX_CONCURRENT_STREAMS) == 20
    assert settings.settings.get(SettingsFrame.INITIAL_WINDOW_SIZE) == 65535
    assert settings.settings.get(SettingsFrame.MAX_HEADER_LIST_SIZE) == 32768
    c.send(c.headers(1, req("/", extra=[("cookie", "a=1"), ("cookie", "b=2")])))
    status, body = c.response(1)
    assert status == 200 and body == b"backend A"


@pytest.mark.parametrize("name,headers", [
    ("no :path", [(":method", "GET"), (":scheme", "http"), (":authority", "x")]),
    ("pseudo after a field", [(":method", "GET"), (":scheme", "http"), ("x-a", "1"),
                              (":path", "/"), (":authority", "x")]),
    ("unknown pseudo", req(extra=[(":bogus", "1")])),
    ("upper case name", req(extra=[("X-Upper", "1")])),
    ("connection field", req(extra=[("connection", "keep-alive")])),
    ("transfer-encoding", req(extra=[("transfer-encoding", "chunked")])),
    ("te not trailers", req(extra=[("te", "gzip")])),
    ("host disagrees with :authority", req(extra=[("host", "other.test")])),
])
def test_malformed_request_is_reset_protocol_error(h2c, name, headers):
    c = h2c.connect()
    c.send(c.headers(1, headers))
    f = c.rst(1)
    assert f is not None and f.error_code == PROTOCOL_ERROR, (name, c.frames)
    # The connection goes on: a good request on the next stream is served.
    c.send(c.headers(3, req("/")))
    assert c.response(3) == (200, b"backend A"), name
    assert h2c.backend.stats()["requests"] == 1, name  # the bad one never got there


def test_data_beyond_content_length_is_reset(h2c):
    c = h2c.connect()
    c.send(c.headers(1, req("/upload", method="POST", extra=[("content-length", "5")]),
                     end_stream=False),
           DataFrame(1, data=b"0123456789", flags=["END_STREAM"]))
    f = c.rst(1)
    assert f is not None and f.error_code == PROTOCOL_ERROR, c.frames
    c.send(c.headers(3, req("/")))
    assert c.response(3)[0] == 200
    line = h2c.wait_log(lambda t: '"POST /upload HTTP/2.0"' in t)
    assert re.search(r' -?\d+ \d+ .* PR "POST /upload HTTP/2.0"|"POST /upload HTTP/2.0"', line)


def raw_frame(ftype, flags, sid, payload):
    """A frame as bytes, whatever hyperframe would allow."""
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid) + payload


@pytest.mark.parametrize("frame", [
    raw_frame(0x0, 0x1, 0, b"x"),                       # DATA on stream 0
    raw_frame(0x1, 0x4 | 0x1, 0, b"\x82"),              # HEADERS on stream 0
    raw_frame(0x8, 0x0, 0, struct.pack(">I", 0)),       # WINDOW_UPDATE of 0
], ids=["data", "headers", "window_update_0"])
def test_stream_0_misuse_is_goaway_protocol_error(h2c, frame):
    c = h2c.connect()
    c.send(frame)
    g = c.goaway()
    assert g is not None and g.error_code == PROTOCOL_ERROR, c.frames
    assert h2_serves(h2c.port) and h2c.alive()


def test_window_overflow_is_flow_control_error(h2c):
    c = h2c.connect()
    # A stream's window past 2^31-1: that stream is reset...
    c.send(c.headers(1, req("/slow?ms=300")), WindowUpdateFrame(1, window_increment=0x7fffffff))
    f = c.rst(1)
    assert f is not None and f.error_code == FLOW_CONTROL_ERROR, c.frames
    # ...the connection's: the connection goes.
    c.send(WindowUpdateFrame(0, window_increment=0x7fffffff))
    g = c.goaway()
    assert g is not None and g.error_code == FLOW_CONTROL_ERROR, c.frames
    assert h2_serves(h2c.port)


def test_rapid_reset_costs_no_server_request_and_is_calmed(h2c):
    c = h2c.connect()
    batch = []
    for i in range(400):
        sid = 1 + 2 * i
        batch += [c.headers(sid, req("/slow?ms=200")), RstStreamFrame(sid, error_code=CANCEL)]
    c.send(*batch)
    g = c.goaway()
    assert g is not None and g.error_code == ENHANCE_YOUR_CALM, c.frames[-5:]
    assert h2_serves(h2c.port)
    # Streams reset in the read that opened them never reached the server.
    assert h2c.backend.stats()["requests"] <= 2 * 20 + 1


def test_reset_of_a_started_stream_drops_its_server_request(h2c):
    c = h2c.connect()
    c.send(c.headers(1, req("/slow?ms=3000")))
    time.sleep(0.5)  # the server has the request now
    assert h2c.backend.stats()["inflight"] == 1
    c.send(RstStreamFrame(1, error_code=CANCEL))
    # The exchange ends at once (its server connection closed), not when
    # the 3 s answer would have come.
    line = h2c.wait_log(lambda t: '"GET /slow?ms=3000 HTTP/2.0"' in t, timeout=2)
    m = re.search(r' \d+/\d+/-?\d+/(\d+) CH "GET /slow\?ms=3000 HTTP/2.0"', line)
    assert m and int(m.group(1)) < 2500, line


def test_continuation_flood_closes_the_connection(h2c):
    c = h2c.connect()
    frames = [HeadersFrame(1, data=c.block(req("/"))[:3], flags=[])]
    frames += [ContinuationFrame(1, data=b"") for _ in range(2000)]
    c.send(*frames)
    g = c.goaway()
    assert g is not None and g.error_code in (PROTOCOL_ERROR, ENHANCE_YOUR_CALM), c.frames
    assert h2_serves(h2c.port)


@pytest.mark.parametrize("make", [
    lambda i: PingFrame(0, opaque_data=b"%08d" % i),
    lambda i: SettingsFrame(0, settings={SettingsFrame.ENABLE_PUSH: 0}),
], ids=["ping", "settings"])
def test_control_frame_flood_is_calmed(h2c, make):
    c = h2c.connect()
    c.send(*[make(i) for i in range(3000)])
    g = c.goaway(timeout=10)
    assert g is not None and g.error_code == ENHANCE_YOUR_CALM, c.frames[-3:]
    assert h2_serves(h2c.port)


def test_max_concurrent_streams_refuses_the_one_too_many(h2c):
    c = h2c.connect()
    c.wait(lambda f: isinstance(f, SettingsFrame) and "ACK" in f.flags)
    c.send(*[c.headers(1 + 2 * i, req("/slow?ms=500")) for i in range(20)])
    for i in range(20):  # as many as the setting allows, at once
        assert c.response(1 + 2 * i)[0] == 200
    c.send(*[c.headers(41 + 2 * i, req("/slow?ms=500")) for i in range(21)])
    # One too many: nghttp2 makes it a connection error, as RFC 9113 5.1.2
    # allows for a peer that ignores the setting it acknowledged.
    f = c.wait(lambda f: isinstance(f, (RstStreamFrame, GoAwayFrame)))
    assert f is not None and f.error_code in (PROTOCOL_ERROR, 7), c.frames[-3:]  # 7: REFUSED
    assert h2_serves(h2c.port)


def test_stalled_window_is_bounded_by_timeout_client(backend, lxlb):
    b = backend("A")
    cfg = h2c_config(b)
    cfg["defaults"] = {"timeout": {"client": "1s"}}
    lx = lxlb(cfg)
    c = RawH2(lx.port, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0})
    c.send(c.headers(1, req("/download?size=1000000")))
    f = c.rst(1, timeout=6)
    assert f is not None and f.error_code == CANCEL, c.frames
    line = lx.wait_log(lambda t: "/download?size=1000000" in t)
    assert re.search(r' cD "GET /download\?size=1000000 HTTP/2.0"', line), line
    c.close()
    assert h2_serves(lx.port)


def test_graceful_stop_sends_goaway_and_finishes_open_streams(backend, lxlb):
    b = backend("A")
    lx = lxlb(h2c_config(b))
    c = RawH2(lx.port)
    c.send(c.headers(1, req("/slow?ms=700")))
    time.sleep(0.3)
    lx.signal(signal.SIGTERM)
    g = c.goaway()
    assert g is not None and g.error_code == NO_ERROR and g.last_stream_id == 1
    assert c.response(1) == (200, b"backend A slow")
    assert lx.proc.wait(timeout=10) == 0


def test_reload_sends_goaway_and_open_streams_finish(backend, lxlb):
    b = backend("A")
    cfg = h2c_config(b)
    lx = lxlb(cfg)
    c = RawH2(lx.port)
    c.send(c.headers(1, req("/slow?ms=700")))
    time.sleep(0.3)
    lx.signal(signal.SIGHUP)
    g = c.goaway()
    assert g is not None and g.error_code == NO_ERROR and g.last_stream_id == 1
    assert c.response(1) == (200, b"backend A slow")
    assert h2_serves(lx.port)


def test_admin_shows_h2_connections_streams_and_errors(backend, lxlb):
    from test_admin import api, one, parse_metrics, promtool_check, with_admin
    b = backend("A")
    cfg, aport = with_admin(h2c_config(b))
    lx = lxlb(cfg)
    c = RawH2(lx.port)
    c.send(c.headers(1, req("/slow?ms=1500")), c.headers(3, req("/slow?ms=1500")))
    time.sleep(0.5)
    fe = api(aport, "GET", "/stats").json()["frontends"][0]
    assert fe["http2"] is True
    assert fe["h2"]["connections"] == 1 and fe["h2"]["streams"] == 2, fe
    text = api(aport, "GET", "/metrics").text
    promtool_check(text)
    m, types = parse_metrics(text)
    assert types["lxlb_frontend_h2_current_streams"] == "gauge"
    assert one(m, "lxlb_frontend_h2_current_connections", frontend="http") == 1
    assert one(m, "lxlb_frontend_h2_current_streams", frontend="http") == 2
    assert c.response(1)[0] == 200 and c.response(3)[0] == 200
    c.send(raw_frame(0x0, 0x1, 0, b"x"))  # a connection error
    assert c.goaway() is not None
    c.close()
    time.sleep(0.3)
    fe = api(aport, "GET", "/stats").json()["frontends"][0]
    assert fe["h2"] == {"connections": 0, "connections_total": 1, "streams": 0,
                        "streams_total": 2, "goaway_errors": 1}, fe


def test_streams_follow_routes_and_redirects_and_stickiness(backend, lxlb):
    a, b, c = backend("A"), backend("B"), backend("C")
    cfg = make_config([
        {"name": "web", "servers": [{"name": "A", "address": a.address}],
         "cookie": {"name": "SRV", "mode": "insert"}},
        {"name": "api", "servers": [{"name": "B", "address": b.address},
                                    {"name": "C", "address": c.address}],
         "cookie": {"name": "SRV", "mode": "insert"}}], http2=True)
    cfg["frontends"][0]["routes"] = [
        {"host": "old.test", "redirect": {"location": "https://new.test", "code": 308}},
        {"path_prefix": "/api/", "backend": "api"}]
    lx = lxlb(cfg)
    cc = RawH2(lx.port)
    cc.send(cc.headers(1, req("/api/x")), cc.headers(3, req("/x")),
            cc.headers(5, req("/p?q=1", authority="old.test")))
    assert cc.response(1) == (200, b"backend B")  # the first of api's round robin
    assert cc.response(3) == (200, b"backend A")
    assert cc.response(5)[0] == 308
    dec = hpack.Decoder()
    got = {}
    for f in cc.frames:
        if isinstance(f, HeadersFrame):
            got[f.stream_id] = dict(dec.decode(f.data))
    assert got[5]["location"] == "https://new.test/p?q=1"
    assert got[1]["set-cookie"].startswith("SRV=B")  # insert mode, rewritten for h2 too
    # The cookie sticks the next stream to B, though round robin says C.
    cc.send(cc.headers(7, req("/api/y", extra=[("cookie", "SRV=B")])))
    assert cc.response(7) == (200, b"backend B")
