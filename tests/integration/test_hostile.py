"""Hostile input (issue 10): request smuggling, malformed heads and bodies,
limits, slow clients, maxconn, random bytes, and malformed server responses.

lxlb faces the internet, so it parses as strictly as HAProxy: every malformed
request gets one lxlb error page (400 unless said otherwise) with
"Connection: close", the connection is then closed, and the server never sees
the request (checked with the test backend's /stats request counter). A broken
server response becomes 502 (or, once the head has gone out, a cut connection),
never passed on as is.

One lxlb and one backend serve the whole module (fast); the tests that need
their own settings (slowloris, maxconn) start their own. Every test also checks
that lxlb is alive and printed no sanitizer report (run the suite with a
SANITIZE=1 build to make that meaningful)."""
import collections
import concurrent.futures
import os
import resource
import socket
import threading
import time

import pytest

import blast
import helpers
from helpers import Conn, ConnectionClosed, get, is_asan, make_config, parse_raw_response

SAN_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
               "ERROR: UndefinedBehaviorSanitizer")
HOST = b"Host: lxlb.test\r\n"


def sanitizer_report(text):
    for m in SAN_MARKERS:
        i = text.find(m)
        if i >= 0:
            return text[max(0, i - 200):i + 3000]
    return None


class Env:
    """The module's lxlb and backend. A test that kills lxlb fails on its own
    (see _after_test); the next test gets a fresh lxlb."""

    def __init__(self, backend, cfg, tmpdir):
        self.backend = backend
        self.cfg = cfg
        self.dir = tmpdir
        self.n = 0
        self.lx = None
        self.start()

    def start(self):
        self.n += 1
        self.lx = helpers.Lxlb(self.cfg, self.dir, name="hostile%d" % self.n)
        self.port = self.lx.port

    def ensure_alive(self):
        if not self.lx.alive():
            self.lx.stop()
            self.start()

    def requests_seen(self):
        return self.backend.stats()["requests"]


@pytest.fixture(scope="module")
def env_module(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    b = helpers.Backend("H")
    e = None
    try:
        cfg = make_config({"be": [b]}, forwardfor=True)
        cfg["defaults"] = {"timeout": {"http_request": "2s", "client": "5s", "server": "5s"},
                           "limits": {"request_line": 8192, "header_size": 32768,
                                      "header_count": 100}}
        e = Env(b, cfg, str(d))
        yield e
    finally:
        if e and e.lx:
            e.lx.stop()
        b.stop()


def _after_test(request, lx, log_from=0):
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    text = lx.log()[log_from:]
    if failed:
        print("---- lxlb stderr (%s) ----\n%s" % (lx.log_path, text[-6000:]))
    rep = sanitizer_report(text)
    assert rep is None, "sanitizer report in lxlb stderr:\n" + rep
    assert lx.alive(), "lxlb died (exit %r):\n%s" % (lx.proc.returncode, text[-3000:])


@pytest.fixture
def env(env_module, request):
    """The shared lxlb + backend; after the test: alive, no sanitizer report
    in what this test made lxlb print."""
    env_module.ensure_alive()
    mark = len(env_module.lx.log())
    yield env_module
    _after_test(request, env_module.lx, mark)


# ------------------------------------------------------------------ helpers

def response_complete(buf):
    head, sep, body = bytes(buf).partition(b"\r\n\r\n")
    if not sep:
        return False
    for ln in head.split(b"\r\n")[1:]:
        name, _, value = ln.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return False
    return False


def exchange(port, data, timeout=4.0):
    """Send data, read until the peer closes. Returns (bytes, closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    out = bytearray()
    closed = False
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s.settimeout(max(0.05, end - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            out += chunk
            if response_complete(out):
                # A whole response: a close should follow at once; a kept-
                # alive connection (the request was accepted) ends the wait.
                end = min(end, time.monotonic() + 0.5)
    finally:
        s.close()
    return bytes(out), closed


def assert_rejected(env, data, status=400, timeout=4.0):
    """data gets exactly one lxlb error page with status, then a close, and the
    backend never sees a request."""
    before = env.requests_seen()
    raw, closed = exchange(env.port, data, timeout)
    assert raw, "no response at all (closed=%s) to %r" % (closed, data[:300])
    r = parse_raw_response(raw)
    assert r.status == status, "expected %d, got %r\nfull response: %r\nrequest: %r" % (
        status, r.status, raw[:600], data[:300])
    assert "close" in r.tokens("Connection"), r.headers
    cl = int(r.header("Content-Length", "-1"))
    assert cl == len(r.body), "more than one response? %r" % raw[:800]
    assert closed, "connection left open after %d" % status
    time.sleep(0.02)
    after = env.requests_seen()
    assert after == before, "the backend saw %d request(s) for %r" % (after - before, data[:300])
    return r


def req(line=b"GET / HTTP/1.1", headers=(HOST,), body=b""):
    return line + b"\r\n" + b"".join(headers) + b"\r\n" + body


# ------------------------------------------------------------ request cases

POST = b"POST /upload HTTP/1.1"
CHUNKED = b"Transfer-Encoding: chunked\r\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: lxlb.test\r\n\r\n"

BAD_REQUESTS = [
    # --- Content-Length / Transfer-Encoding (smuggling)
    ("cl-and-te", req(POST, [HOST, b"Content-Length: 5\r\n", CHUNKED], b"0\r\n\r\n" + SMUGGLED)),
    ("te-and-cl", req(POST, [HOST, CHUNKED, b"Content-Length: 5\r\n"], b"0\r\n\r\n" + SMUGGLED)),
    ("cl-and-te-gzip", req(POST, [HOST, b"Content-Length: 5\r\n",
                                  b"Transfer-Encoding: gzip\r\n"], b"hello")),
    ("cl-repeated-same", req(POST, [HOST, b"Content-Length: 5\r\n", b"Content-Length: 5\r\n"],
                             b"hello")),
    ("cl-conflicting", req(POST, [HOST, b"Content-Length: 5\r\n", b"Content-Length: 32\r\n"],
                           b"hello" + SMUGGLED)),
    ("cl-list-same", req(POST, [HOST, b"Content-Length: 5, 5\r\n"], b"hello")),
    ("cl-list-conflicting", req(POST, [HOST, b"Content-Length: 5, 32\r\n"], b"hello" + SMUGGLED)),
    ("cl-plus", req(POST, [HOST, b"Content-Length: +5\r\n"], b"hello")),
    ("cl-negative", req(POST, [HOST, b"Content-Length: -1\r\n"], b"hello")),
    ("cl-hex", req(POST, [HOST, b"Content-Length: 0x5\r\n"], b"hello")),
    ("cl-two-numbers", req(POST, [HOST, b"Content-Length: 5 5\r\n"], b"hello")),
    ("cl-empty", req(POST, [HOST, b"Content-Length:\r\n"], b"hello")),
    ("cl-overflow", req(POST, [HOST, b"Content-Length: 184467440737095516160\r\n"], b"hello")),
    ("te-chunked-gzip", req(POST, [HOST, b"Transfer-Encoding: chunked, gzip\r\n"],
                            b"0\r\n\r\n")),
    ("te-gzip", req(POST, [HOST, b"Transfer-Encoding: gzip\r\n"], b"0\r\n\r\n")),
    ("te-identity", req(POST, [HOST, b"Transfer-Encoding: identity\r\n"], b"0\r\n\r\n")),
    ("te-xchunked", req(POST, [HOST, b"Transfer-Encoding: xchunked\r\n"], b"0\r\n\r\n")),
    ("te-chunked-twice", req(POST, [HOST, b"Transfer-Encoding: chunked, chunked\r\n"],
                             b"0\r\n\r\n")),
    ("te-chunked-two-fields", req(POST, [HOST, CHUNKED, CHUNKED], b"0\r\n\r\n")),
    ("te-chunked-then-gzip-fields", req(POST, [HOST, CHUNKED, b"Transfer-Encoding: gzip\r\n"],
                                        b"0\r\n\r\n")),
    ("te-space-before-colon", req(POST, [HOST, b"Transfer-Encoding : chunked\r\n"],
                                  b"0\r\n\r\n")),
    ("te-vtab", req(POST, [HOST, b"Transfer-Encoding:\x0bchunked\r\n"], b"0\r\n\r\n")),
    ("te-obs-fold", req(POST, [HOST, b"Transfer-Encoding:\r\n chunked\r\n"], b"0\r\n\r\n")),
    ("te-http10", req(b"POST /upload HTTP/1.0", [HOST, CHUNKED], b"0\r\n\r\n")),
    # --- obs-fold and whitespace
    ("obs-fold-sp", req(headers=[HOST, b"X-A: a\r\n", b" folded\r\n"])),
    ("obs-fold-htab", req(headers=[HOST, b"X-A: a\r\n", b"\tfolded\r\n"])),
    ("ws-before-first-field", req(headers=[b" " + HOST])),
    # --- line endings
    ("bare-lf-request-line", b"GET / HTTP/1.1\n" + HOST + b"\r\n"),
    ("bare-lf-header", b"GET / HTTP/1.1\r\nHost: lxlb.test\nX-A: b\r\n\r\n"),
    ("bare-lf-end", b"GET / HTTP/1.1\r\n" + HOST + b"\n"),
    ("bare-lf-everywhere", b"GET / HTTP/1.1\nHost: lxlb.test\n\n"),
    ("bare-cr-request-line", b"GET / HTTP/1.1\rHost: lxlb.test\r\n\r\n"),
    ("bare-cr-header-value", req(headers=[HOST, b"X-A: a\rX-Injected: 1\r\n"])),
    ("bare-cr-header-name", req(headers=[HOST, b"X-A\r: a\r\n"])),
    # --- NUL and other controls
    ("nul-in-target", req(b"GET /a\x00b HTTP/1.1")),
    ("nul-in-method", req(b"G\x00T / HTTP/1.1")),
    ("nul-in-version", req(b"GET / HTTP/1.1\x00")),
    ("nul-in-header-value", req(headers=[HOST, b"X-A: a\x00b\r\n"])),
    ("nul-in-header-name", req(headers=[HOST, b"X-\x00A: b\r\n"])),
    ("ctl-in-target", req(b"GET /a\x01b HTTP/1.1")),
    ("del-in-target", req(b"GET /a\x7fb HTTP/1.1")),
    # --- chunked bodies
    ("chunk-size-nonhex", req(POST, [HOST, CHUNKED], b"zz\r\nhello\r\n0\r\n\r\n")),
    ("chunk-size-overflow", req(POST, [HOST, CHUNKED],
                                b"fffffffffffffffffffff\r\nhello\r\n0\r\n\r\n")),
    ("chunk-size-negative", req(POST, [HOST, CHUNKED], b"-5\r\nhello\r\n0\r\n\r\n")),
    ("chunk-size-0x", req(POST, [HOST, CHUNKED], b"0x5\r\nhello\r\n0\r\n\r\n")),
    ("chunk-size-empty", req(POST, [HOST, CHUNKED], b"\r\nhello\r\n0\r\n\r\n")),
    ("chunk-size-two-numbers", req(POST, [HOST, CHUNKED], b"1 0\r\nhello\r\n0\r\n\r\n")),
    ("chunk-data-missing-crlf", req(POST, [HOST, CHUNKED], b"5\r\nhelloXX0\r\n\r\n")),
    ("chunk-size-bare-lf", req(POST, [HOST, CHUNKED], b"5\nhello\r\n0\r\n\r\n")),
    ("chunk-data-bare-lf", req(POST, [HOST, CHUNKED], b"5\r\nhello\n0\r\n\r\n")),
    ("chunk-ext-bare-cr", req(POST, [HOST, CHUNKED], b"5;a\rb\r\nhello\r\n0\r\n\r\n")),
    ("chunk-bad-trailer", req(POST, [HOST, CHUNKED], b"0\r\nnot a trailer\r\n\r\n")),
    # --- method and version
    ("method-nontoken", req(b"G(T / HTTP/1.1")),
    ("method-empty", req(b" / HTTP/1.1")),
    ("method-lowercase", req(b"get / HTTP/1.1")),
    ("h2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ("version-2.0", req(b"GET / HTTP/2.0")),
    ("version-3.0", req(b"GET / HTTP/3.0")),
    ("version-1.2", req(b"GET / HTTP/1.2")),
    ("version-0.9", req(b"GET / HTTP/0.9")),
    ("version-missing", b"GET /\r\n\r\n"),
    ("version-lowercase", req(b"GET / http/1.1")),
    ("version-1.10", req(b"GET / HTTP/1.10")),
    ("version-11", req(b"GET / HTTP/11")),
    ("version-trailing-space", req(b"GET / HTTP/1.1 ")),
    # --- Host
    ("host-missing-http11", req(headers=[])),
    ("host-twice", req(headers=[HOST, b"Host: other.test\r\n"])),
    ("host-twice-same", req(headers=[HOST, HOST])),
    # --- request splitting: raw CR / LF in the target
    ("target-raw-lf", b"GET /a\nX-Injected: 1 HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("target-raw-cr", b"GET /a\rX-Injected: 1 HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("target-raw-crlf", b"GET /a\r\nX-Injected: 1 HTTP/1.1\r\n" + HOST + b"\r\n"),
    ("target-htab", req(b"GET /a\tb HTTP/1.1")),
    ("target-formfeed", req(b"GET /a\x0cb HTTP/1.1")),
    ("target-non-ascii", req(b"GET /caf\xc3\xa9 HTTP/1.1")),
    ("target-space-inside", req(b"GET /a b HTTP/1.1")),
    ("connect-cr-target", b"CONNECT \rlxlb.test:443 HTTP/1..1\nHost: lxlb.test\r\n\r\n"),
    ("pri-star-no-version", b"PRI **HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    # --- header names
    ("name-space-inside", req(headers=[HOST, b"Bad Name: x\r\n"])),
    ("name-space-before-colon", req(headers=[HOST, b"X-A : x\r\n"])),
    ("name-tab-before-colon", req(headers=[HOST, b"X-A\t: x\r\n"])),
    ("name-empty", req(headers=[HOST, b": x\r\n"])),
    ("name-colon-only", req(headers=[HOST, b":\r\n"])),
    ("name-no-colon", req(headers=[HOST, b"NoColonHere\r\n"])),
    ("name-nontoken", req(headers=[HOST, b"X@A: x\r\n"])),
    ("name-high-byte", req(headers=[HOST, b"X-\xffA: x\r\n"])),
    ("name-host-space-before-colon", req(headers=[b"Host : lxlb.test\r\n"])),
]


@pytest.mark.parametrize("data", [c[1] for c in BAD_REQUESTS], ids=[c[0] for c in BAD_REQUESTS])
def test_malformed_request_rejected(env, data):
    assert_rejected(env, data, 400)


def test_request_split_at_every_byte(env):
    """The same request, one byte per TCP segment: lxlb's span collection
    must not depend on where reads end (an empty span at the start of a read
    is undefined behaviour in arena_append under SANITIZE=1)."""
    data = b"GET /headers?a=b HTTP/1.1\r\nHost: lxlb.test\r\nX-A: v\r\n\r\n"
    with Conn(env.port) as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
            time.sleep(0.002)
        r = c.read_response()
    assert r.status == 200, r
    assert ["X-A", "v"] in r.json()["headers"]
    bad = b"CONNECT \rlxlb.test:443 HTTP/1.1\r\nHost: lxlb.test\r\n\r\n"
    with Conn(env.port) as c:
        c.send(bad[:8])
        time.sleep(0.1)
        try:
            c.send(bad[8:])
        except (BrokenPipeError, ConnectionResetError):
            pass
        raw = c.read_all(3)
    assert parse_raw_response(raw).status == 400, raw[:300]


def test_connect_method_refused(env):
    assert_rejected(env, req(b"CONNECT lxlb.test:443 HTTP/1.1"), 405)


def test_smuggled_pipelined_request_never_reaches_server(env):
    """The classic CL.TE/TE.CL pair with a pipelined request behind: neither
    the carrier nor the smuggled request reaches the backend."""
    body = b"0\r\n\r\n" + SMUGGLED
    for hdrs in ([b"Content-Length: %d\r\n" % len(body), CHUNKED],
                 [CHUNKED, b"Content-Length: 3\r\n"]):
        assert_rejected(env, req(POST, [HOST] + hdrs, body) + SMUGGLED)


# ------------------------------------------------------------------- limits

def test_70kb_header_431(env):
    assert_rejected(env, req(headers=[HOST, b"X-Big: " + b"a" * 70000 + b"\r\n"]), 431)


def test_70kb_of_small_headers_431(env):
    # 70 KB spread over fields, under header_count: the block size limit.
    hs = [HOST] + [b"X-F%02d: %s\r\n" % (i, b"b" * 1000) for i in range(70)]
    assert_rejected(env, req(headers=hs), 431)


def test_long_url_414(env):
    assert_rejected(env, req(b"GET /" + b"u" * 10000 + b" HTTP/1.1"), 414)


def test_too_many_headers_431(env):
    hs = [HOST] + [b"X-N%d: v\r\n" % i for i in range(150)]
    assert_rejected(env, req(headers=hs), 431)


def test_within_limits_served(env):
    """Just under each limit is served normally."""
    hs = [("X-N%d" % i, "v") for i in range(90)] + [("X-Big", "c" * 20000)]
    with Conn(env.port) as c:
        c.request("GET", "/" + "u" * 8000, hs)
        r = c.read_response()
    assert r.status == 200, r


# ------------------------------------------- things forwarded, and how

def test_encoded_crlf_forwarded_verbatim(env):
    """Percent-encoded CR/LF stay encoded: nothing is decoded into the head."""
    with Conn(env.port) as c:
        c.request("GET", "/headers?x=%0d%0aX-Injected:%201", {"X-Q": "a%0d%0aX-Injected: 2"})
        r = c.read_response()
    assert r.status == 200, r
    j = r.json()
    assert j["target"] == "/headers?x=%0d%0aX-Injected:%201"
    names = [n.lower() for n, v in j["headers"]]
    assert "x-injected" not in names, j["headers"]
    assert ["X-Q", "a%0d%0aX-Injected: 2"] in j["headers"], j["headers"]


def test_absolute_form_target(env):
    """Documents lxlb's handling of an absolute-form target (RFC 9112 3.2.2):
    it is forwarded unchanged, with the client's Host. Either a 400 or a
    forward whose request reaches the backend intact is acceptable; what must
    never happen is a mangled or split request."""
    with Conn(env.port) as c:
        c.send(b"GET http://other.example/headers?a=1 HTTP/1.1\r\n" + HOST + b"\r\n")
        r = c.read_response()
    assert r.status in (200, 400), r
    if r.status == 200:
        j = r.json()
        assert j["target"] in ("http://other.example/headers?a=1", "/headers?a=1"), j
        hosts = [v for n, v in j["headers"] if n.lower() == "host"]
        assert len(hosts) == 1, j["headers"]


def test_asterisk_form_options(env):
    with Conn(env.port) as c:
        c.send(b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n")
        r = c.read_response("OPTIONS")
    assert r.status == 200, r
    assert r.header("X-Request-Target") == "*"


def test_connection_cannot_strip_x_forwarded_for(env):
    """With forwardfor, a client must not be able to hide its address by
    naming X-Forwarded-For in Connection: the server still sees the client
    address appended."""
    with Conn(env.port) as c:
        c.request("GET", "/headers", [("Connection", "X-Forwarded-For"),
                                       ("X-Forwarded-For", "10.9.8.7")])
        r = c.read_response()
    assert r.status == 200, r
    xff = [v for n, v in r.json()["headers"] if n.lower() == "x-forwarded-for"]
    assert xff and xff[-1].split(",")[-1].strip() == "127.0.0.1", r.json()["headers"]


def test_connection_cannot_strip_host(env):
    """A request that reached the backend must still carry its Host: naming
    Host in Connection must not remove it (or the request is refused)."""
    with Conn(env.port) as c:
        c.request("GET", "/headers", [("Connection", "Host")])
        r = c.read_response()
    assert r.status in (200, 400), r
    if r.status == 200:
        hosts = [v for n, v in r.json()["headers"] if n.lower() == "host"]
        assert hosts == ["lxlb.test"], r.json()["headers"]


def test_bad_request_access_log(env):
    """The access-log line of a request refused before its head was parsed
    does not make up a method or version (HAProxy logs <BADREQ>)."""
    mark = len(env.lx.log())
    exchange(env.port, req(b"G(T /badreq-log HTTP/1.1"))
    text = env.lx.wait_log(lambda t: " 400 " in t[mark:], 3.0)[mark:]
    lines = [ln for ln in text.splitlines() if " 400 " in ln]
    assert lines, text
    assert "DELETE" not in lines[-1] and "HTTP/0.0" not in lines[-1], lines[-1]


def test_http10_without_host_served(env):
    raw, closed = exchange(env.port, b"GET / HTTP/1.0\r\n\r\n")
    assert parse_raw_response(raw).status == 200, raw[:300]


# ------------------------------------------------------ malformed responses

RESP_KINDS = ["status-line", "no-status", "version", "status-000", "status-099", "cl-te",
              "dup-cl", "bad-cl", "nul-header", "space-name", "bare-cr", "upgrade"]
RESP_BODY_KINDS = ["bad-chunk", "chunk-overflow", "chunk-no-crlf"]


def _get_raw(port, target, timeout=5.0):
    return exchange(port, b"GET " + target.encode() + b" HTTP/1.1\r\n" + HOST + b"\r\n", timeout)


@pytest.mark.parametrize("kind", RESP_KINDS)
def test_malformed_response_502(env, kind):
    raw, closed = _get_raw(env.port, "/malformed/" + kind)
    assert raw, "no response"
    assert raw.startswith(b"HTTP/1.1 502 "), "backend's broken response passed on: %r" % raw[:600]
    r = parse_raw_response(raw)
    assert len(r.body) == int(r.header("Content-Length")), "more after the 502: %r" % raw[:800]
    assert closed
    assert get(env.port, "/").status == 200


@pytest.mark.parametrize("kind", RESP_BODY_KINDS)
def test_malformed_response_body_cut(env, kind):
    """A broken chunked body: 502 if nothing went out yet, else a cut
    connection; never a complete response."""
    with Conn(env.port) as c:
        c.request("GET", "/malformed/" + kind)
        try:
            r = c.read_response()
        except (ConnectionClosed, AssertionError, ValueError):
            r = None
        if r is not None:
            assert r.status == 502, "broken body passed on as a complete response: %r" % r
    assert get(env.port, "/").status == 200


def test_response_obs_fold_not_forwarded(env):
    """RFC 9112 5.2: a proxy answers 502 or replaces the fold with SP."""
    raw, closed = _get_raw(env.port, "/malformed/obs-fold")
    r = parse_raw_response(raw)
    if r.status != 502:
        assert r.status == 200, raw[:500]
        assert b"\r\n " not in r.raw_head and b"\r\n\t" not in r.raw_head, r.raw_head


def test_unasked_response_not_given_to_next_client(env):
    """A server that sends a second, unasked-for response on a kept-alive
    connection: the next client must get its own response, never that one."""
    r = get(env.port, "/malformed/extra")
    assert r.status == 200 and r.body == b"backend H", r
    time.sleep(0.2)
    for _ in range(3):
        r = get(env.port, "/")
        assert r.body == b"backend H", r


# ---------------------------------------------------------------- slowloris

def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def timed_get(port):
    t0 = time.monotonic()
    r = get(port, "/", timeout=5)
    return r, time.monotonic() - t0


def test_slowloris(backend, lxlb, request):
    b = backend("S")
    cfg = make_config({"be": [b]})
    cfg["defaults"] = {"timeout": {"http_request": "2s"}}
    lx = lxlb(cfg)
    try:
        # Warm the path (first server connection) before measuring.
        assert get(lx.port, "/").status == 200
        head = b"GET / HTTP/1.1\r\nHost: lxlb.test\r\nX-Slow: " + b"z" * 64
        socks = []
        t0 = time.monotonic()
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", lx.port), timeout=5)
            s.setblocking(False)
            socks.append(s)
        pos = 0
        worst = 0.0
        next_byte = time.monotonic()
        while time.monotonic() - t0 < 2.6:
            if time.monotonic() >= next_byte:
                for s in socks:
                    try:
                        s.send(head[pos:pos + 1])
                    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
                        pass
                pos += 1
                next_byte += 1.0
            r, dt = timed_get(lx.port)
            assert r.status == 200, r
            worst = max(worst, dt)
            time.sleep(0.05)
        assert worst < 0.1, "a normal request took %.0f ms during slowloris" % (worst * 1000)
        # All are answered 408 and closed by timeout.http_request.
        got = [bytearray() for _ in socks]
        closed = [False] * len(socks)
        end = t0 + 6
        while time.monotonic() < end and not all(closed):
            for i, s in enumerate(socks):
                if closed[i]:
                    continue
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    closed[i] = True
                    continue
                if not d:
                    closed[i] = True
                else:
                    got[i] += d
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        n408 = sum(1 for g in got if g.startswith(b"HTTP/1.1 408 "))
        assert all(closed), "%d slow connections still open after %.1f s" % (
            closed.count(False), elapsed)
        assert n408 == len(socks), "only %d of %d got 408; e.g. %r" % (
            n408, len(socks), next((bytes(g[:80]) for g in got if not g.startswith(
                b"HTTP/1.1 408 ")), None))
        for s in socks:
            s.close()
        _, dt = timed_get(lx.port)
        assert dt < 0.1
    finally:
        _after_test(request, lx)


# ------------------------------------------------------------------ maxconn

def lxlb_client_socks(port):
    """Inodes of the accepted client sockets lxlb holds on port, from the
    kernel's table: local port is port, not listening, owned by a file (a
    socket still in the accept queue, or closed and finishing its FIN, has
    inode 0)."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for ln in rows:
            p = ln.split()
            if int(p[1].rsplit(":", 1)[1], 16) == port and p[3] != "0A" and p[9] != "0":
                inodes.add(p[9])
    return inodes


def test_maxconn_pauses_accepting(backend, lxlb, request):
    b = backend("M")
    cfg = make_config({"be": [b]})
    cfg["global"] = {"maxconn": 50}
    lx = lxlb(cfg)
    try:
        stop = threading.Event()
        peak = [0]

        def sample():
            # The table is read in pieces while connections come and go: a
            # socket seen in two reads in a row was open at the moment
            # between them, so their intersection never overcounts (one read,
            # or lxlb's descriptors listed one by one, counted a closed
            # socket and the new one after it both).
            prev = set()
            while not stop.is_set():
                cur = lxlb_client_socks(lx.port)
                peak[0] = max(peak[0], len(prev & cur))
                prev = cur
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def client(i):
            try:
                with Conn(lx.port, timeout=30) as c:
                    c.request("GET", "/slow?ms=300", [("Connection", "close")])
                    r = c.read_response()
                    return r.status
            except Exception as e:  # noqa: BLE001 - reported below
                return repr(e)

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(120) as ex:
            results = list(ex.map(client, range(120)))
        stop.set()
        sampler.join()
        bad = [x for x in results if x != 200]
        assert not bad, "%d of 120 clients failed: %r" % (len(bad), bad[:5])
        # A client socket is counted from its accept; its close (libevent's
        # finalizer) runs in the loop turn that freed it, before the listener
        # can fire again. Measured with the sampler above: 50, one loop or two,
        # ASan or not; +1 per loop for the instant between accept4 and count.
        workers = lx.config.get("global", {}).get("workers", 1)
        slack = workers
        assert peak[0] <= 50 + slack, \
            "lxlb held %d client connections with maxconn 50" % peak[0]
        assert time.monotonic() - t0 < 25
        lx.assert_serving()
    finally:
        _after_test(request, lx)


# ------------------------------------------------------------- random bytes

def idle_rss_kb(lx, limit=4.0):
    """lxlb's RSS once a burst is over: lxlb gives the freed memory back to
    the system (lb/mem.h) at its first one-second tick after the connections
    closed, later on a loaded machine. The lowest reading within limit s;
    sooner once RSS has dropped by 256 KB and held for 0.25 s."""
    first = low = rss_kb(lx.proc.pid)
    end = time.monotonic() + limit
    while time.monotonic() < end:
        time.sleep(0.25)
        cur = rss_kb(lx.proc.pid)
        if cur == low and low < first - 256:
            break
        low = min(low, cur)
    return low


def test_random_bytes_100k(env, request):
    """Issue 10: lxlb survives 100k connections of random bytes (0-2 KB each,
    raw noise, HTTP token soup or a request head followed by either; each
    read to the end, closed early or reset), then serves a normal request,
    and its memory did not grow with the count (blast.py drives them).

    Memory is compared once each half is over, not during the traffic: while
    ~400 connections are open the heap in use swings between 1 and 7 MB, and
    glibc keeps what a peak freed, so RSS under load is the highest peak so
    far and grows a step with each new one (issue 16: +4.3 MB over 50k
    connections with workers: 2, the heap in use flat at 0.6 MB over 1M
    connections: bench/rss.py, bench/rss.tsv). lxlb returns it once the
    burst is over; what a leak keeps is never returned. The second half may
    add 2 MB: a leak of 42 bytes per connection. Measured over 5 runs each:
    +8 to +196 KB with workers: 1, +136 to +684 KB with workers: 2 (small
    blocks left in use among freed ones pin pages: recycled transactions and
    libevent's per-descriptor entries, both bounded), and 0.3 to 3.2 MB from
    the warm-up to the end (the recycled transactions' cache filling)."""
    seed = int(os.environ.get("LXLB_HOSTILE_SEED", "20240610"))
    n = int(os.environ.get("LXLB_HOSTILE_CONNS", "100000"))
    pid = env.lx.proc.pid
    asan = is_asan(pid)
    # Warm up first: buffers, pools and caches reach their working size.
    blast.blast(env.port, 5000, seed)
    assert env.lx.alive(), "lxlb died during the warm-up (seed %d)" % seed
    base = idle_rss_kb(env.lx)
    marks = {}
    st = collections.Counter()

    t0 = time.monotonic()
    idle = [base]
    for k, part in enumerate((n // 2, n - n // 2)):
        def progress(i, at=k * (n // 2)):
            assert env.lx.alive(), "lxlb died before connection %d (seed %d)" % (
                at + i, seed + 1 + k)
            marks[at + i] = rss_kb(pid)

        st.update(blast.blast(env.port, part, seed + 1 + k, progress=progress))
        assert env.lx.alive(), "lxlb died (seed %d)" % (seed + 1 + k)
        idle.append(idle_rss_kb(env.lx))
    elapsed = time.monotonic() - t0
    env.lx.assert_serving()
    half, final = idle[1], idle[2]
    print("random bytes: %d connections in %.1f s (%d/s), %d MB sent, %d timed out, "
          "%d reset by lxlb; idle RSS %d, %d, %d KB; under load, by 10k: %s" % (
              n, elapsed, n / elapsed, st["sent"] >> 20, st["timeout"], st["reset"],
              base, half, final, " ".join(str(marks[k] - base) for k in sorted(marks))))
    assert st["done"] == n and st["connect_failed"] == 0, dict(st)
    # ASan's quarantine holds freed memory back by design: only a loose bound.
    limit = 400 * 1024 if asan else 8 * 1024
    assert final - base < limit, "RSS grew by %d KB over %d connections" % (final - base, n)
    if not asan:
        # A leak grows with the count: the second half adds as much as the first.
        assert final - half < 2048, "RSS grew by %d KB over the last %d connections" % (
            final - half, n - n // 2)


def test_memory_returned_after_a_burst(backend, lxlb, request):
    """Issue 16: the memory a burst of connections used goes back to the
    system once the burst is over. 3000 clients each send most of a 1.5 KB
    request head and wait (lxlb holds a session and a head for each, ~12 MB),
    then all leave: within a few seconds lxlb has given most of it back,
    where glibc alone kept all of it for good (lb/mem.h). Measured: 6.2 MB
    before, 18.7 at the peak, 11.1 after (22.6 without lb/mem.c). What stays
    is pinned by small blocks the burst left in use among the freed ones:
    recycled transactions and libevent's per-descriptor entries. One loop:
    with workers: 2 less comes back (see the issue 16 report), so the bound
    is for the default. With the request path of issue 17: 6.9 MB before,
    21 MB at the peak, 12.9-15.3 MB after (half of the growth back); the bound
    asks for a quarter, which glibc alone (nothing back) never gives."""
    b = backend("R")
    cfg = make_config({"be": [b]})
    cfg["global"] = {"workers": 1}
    lx = lxlb(cfg)
    pid = lx.proc.pid
    if is_asan(pid):
        pytest.skip("ASan's allocator holds freed memory back by design (SANITIZE=1 build)")
    blast.blast(lx.port, 2000, 7)  # warm-up: caches and pools at working size
    base = idle_rss_kb(lx)
    n = 3000
    socks = []
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 200), hard))
    try:
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", lx.port), timeout=5)
            s.sendall(b"GET /burst/%d HTTP/1.1\r\n" % i + HOST + b"X-Pad: " + b"p" * 1500)
            socks.append(s)
        # Every head has reached lxlb once its RSS stops growing.
        peak, end = rss_kb(pid), time.monotonic() + 10
        while time.monotonic() < end:
            time.sleep(0.2)
            cur = rss_kb(pid)
            if cur == peak:
                break
            peak = max(peak, cur)
    finally:
        for s in socks:
            s.close()
    assert peak - base > 6 * 1024, "the burst used only %d KB" % (peak - base)
    after = idle_rss_kb(lx, limit=6.0)
    print("burst of %d connections: RSS %d KB before, %d KB at the peak, %d KB after" % (
        n, base, peak, after))
    assert after - base < (peak - base) * 3 // 4, (
        "RSS %d KB before, %d KB at the peak, %d KB once the clients left: "
        "the burst's memory was kept" % (base, peak, after))
    lx.assert_serving()
    _after_test(request, lx)
