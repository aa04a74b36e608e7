"""PROXY protocol (SPEC.md "Routing, redirects, tunnels, PROXY protocol"):
accept_proxy on a frontend (v1 and v2, detected; anything else closed and
counted) and send_proxy towards servers, against real clients, servers and
HAProxy 2.6 on both sides. Client addresses are told apart by connecting
from 127.0.0.2 (all of 127/8 is loopback)."""
import json
import os
import re
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import urllib.request

import pytest

from helpers import Conn, RawServer, free_port, make_config, wait_port

HERE = os.path.dirname(os.path.abspath(__file__))


def v1(src="203.0.113.9", dst="127.0.0.1", sport=4711, dport=80):
    return b"PROXY TCP4 %s %s %d %d\r\n" % (src.encode(), dst.encode(), sport, dport)


def v2(src="203.0.113.10", dst="127.0.0.1", sport=4712, dport=80, cmd=0x21):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addr = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return sig + bytes([cmd, 0x11]) + struct.pack("!H", len(addr)) + addr


def stats(aport):
    return json.loads(urllib.request.urlopen("http://127.0.0.1:%d/stats" % aport).read())


@pytest.fixture
def pp_lxlb(backend, lxlb):
    a = backend("A")
    aport = free_port()
    cfg = make_config({"b": [a]}, accept_proxy=True, forwardfor=True)
    cfg["admin"] = {"bind": "127.0.0.1:%d" % aport}
    cfg["defaults"] = {"timeout": {"http_request": "1s"}}
    lx = lxlb(cfg)
    lx.aport = aport
    return lx


def request_after(port, header, target="/headers"):
    with Conn(port) as c:
        c.send(header + b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target.encode())
        return c.read_response()


def xff(r):
    return [v for n, v in r.json()["headers"] if n.lower() == "x-forwarded-for"]


@pytest.mark.parametrize("header,client", [(v1(), "203.0.113.9"), (v2(), "203.0.113.10")])
def test_accept_proxy_header_gives_the_client_address(pp_lxlb, header, client):
    r = request_after(pp_lxlb.port, header, "/headers?pp=" + client)
    assert r.status == 200, r
    assert xff(r) == [client], r.json()["headers"]
    text = pp_lxlb.wait_log(lambda t: "pp=" + client in t)
    line = [ln for ln in text.splitlines() if "pp=" + client in ln][-1]
    assert line.startswith(client + ":"), line


def test_accept_proxy_header_in_pieces_and_keepalive(pp_lxlb):
    with Conn(pp_lxlb.port) as c:
        h = v2()
        for i in range(0, len(h), 5):
            c.send(h[i:i + 5])
            time.sleep(0.02)
        for _ in range(2):
            c.send(b"GET /headers HTTP/1.1\r\nHost: x\r\n\r\n")
            r = c.read_response()
            assert xff(r) == ["203.0.113.10"]


def test_v2_local_command_keeps_the_connection_address(pp_lxlb):
    r = request_after(pp_lxlb.port, v2(cmd=0x20)[:13] + b"\x00\x00\x00")
    assert r.status == 200 and xff(r) == ["127.0.0.1"], r


@pytest.mark.parametrize("what,data", [
    ("missing", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("malformed", b"PROXY TCP4 not-an-address 127.0.0.1 1 2\r\nGET / HTTP/1.1\r\n\r\n"),
    ("bad v2", b"\r\n\r\n\x00\r\nQUIT\n\x99\x11\x00\x0c" + b"\x00" * 12),
    ("truncated", b"PROXY TCP4 203.0.113.9 127."),
])
def test_bad_proxy_header_closes_and_counts(pp_lxlb, what, data):
    before = stats(pp_lxlb.aport)["frontends"][0]["proxy_errors"]
    s = socket.create_connection(("127.0.0.1", pp_lxlb.port), timeout=5)
    s.sendall(data)
    if what == "truncated":
        s.shutdown(socket.SHUT_WR)
    try:
        got = s.recv(4096)
    except ConnectionResetError:
        got = b""  # closed with the rest unread: a reset, as any proxy does
    s.close()
    assert got == b"", "lxlb answered %r to a %s header" % (got[:80], what)
    deadline = time.monotonic() + 3
    while stats(pp_lxlb.aport)["frontends"][0]["proxy_errors"] == before:
        assert time.monotonic() < deadline, "%s header not counted" % what
        time.sleep(0.05)
    r = request_after(pp_lxlb.port, v1())
    assert r.status == 200  # still serving


def test_late_proxy_header_closed_after_http_request_timeout(pp_lxlb):
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", pp_lxlb.port), timeout=5)
    s.sendall(b"PROXY TCP4 ")
    assert s.recv(4096) == b""
    took = time.monotonic() - t0
    s.close()
    assert 0.8 < took < 3.5, took


def test_accept_proxy_then_tls(backend, lxlb, tmp_path):
    """The header comes before the TLS handshake, in clear (as HAProxy's
    send-proxy with ssl): lxlb reads exactly the header, then TLS."""
    crt, key = str(tmp_path / "c.pem"), str(tmp_path / "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=lxlb.test"], check=True,
                   capture_output=True)
    a = backend("A")
    cfg = make_config({"b": [a]}, accept_proxy=True, forwardfor=True,
                      tls={"cert": crt, "key": key})
    lx = lxlb(cfg)
    raw = socket.create_connection(("127.0.0.1", lx.port), timeout=5)
    raw.sendall(v1(src="198.51.100.4"))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    s = ctx.wrap_socket(raw, server_hostname="lxlb.test")
    s.sendall(b"GET /headers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    assert b" 200 " in data.split(b"\r\n")[0], data[:200]
    assert b"198.51.100.4" in data, data[-500:]


# --------------------------------------------------------------- send_proxy

def test_send_proxy_v1_first_on_each_new_connection_never_pooled(backend, lxlb):
    srv = RawServer()
    try:
        cfg = make_config({"b": [srv.address]})
        cfg["backends"][0]["send_proxy"] = "v1"
        lx = lxlb(cfg)
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.connect(("127.0.0.1", lx.port))
        c = Conn.__new__(Conn)
        c.sock, c.buf, c.eof, c.deadline = s, bytearray(), False, None
        s.settimeout(5)
        for _ in range(2):
            c.request("GET", "/")
            assert c.read_response().status == 200
        s.close()
        assert len(srv.requests) == 2
        assert srv.connections == 2  # not pooled across requests
        assert len(srv.proxy_headers) == 2
        for h in srv.proxy_headers:
            m = re.fullmatch(rb"PROXY TCP4 127\.0\.0\.2 127\.0\.0\.1 (\d+) (\d+)\r\n", h)
            assert m and int(m.group(2)) == lx.port, h
        assert all(r.startswith(b"GET / HTTP/1.1\r\n") for r in srv.requests)
    finally:
        srv.stop()


def test_send_proxy_per_server_v2(backend, lxlb):
    srv = RawServer()
    try:
        cfg = make_config({"b": [(srv.address, {"send_proxy": "v2"})]})
        lx = lxlb(cfg)
        with Conn(lx.port) as c:
            c.request("GET", "/")
            assert c.read_response().status == 200
        h = srv.proxy_headers[0]
        assert h.startswith(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11"), h[:32]
        assert socket.inet_ntoa(h[16:20]) == "127.0.0.1"
        assert srv.requests[0].startswith(b"GET / HTTP/1.1\r\n")
    finally:
        srv.stop()


# ------------------------------------------------------ HAProxy 2.6, both ways

def haproxy(cfg_text, port):
    f = tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False)
    f.write(cfg_text)
    f.close()
    p = subprocess.Popen(["haproxy", "-db", "-f", f.name], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    if not wait_port(port, 5, p):
        p.kill()
        raise AssertionError("haproxy did not start: %s" % p.stderr.read().decode())
    return p, f.name


HAP_GLOBAL = """global
    maxconn 100
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
"""


def get_from(port, src_ip, target="/headers"):
    s = socket.socket()
    s.bind((src_ip, 0))
    s.connect(("127.0.0.1", port))
    s.settimeout(5)
    c = Conn.__new__(Conn)
    c.sock, c.buf, c.eof, c.deadline = s, bytearray(), False, None
    c.request("GET", target)
    r = c.read_response()
    s.close()
    return r


@pytest.mark.parametrize("mode", ["send-proxy", "send-proxy-v2"])
def test_haproxy_sends_proxy_to_lxlb(backend, lxlb, mode):
    a = backend("A")
    cfg = make_config({"b": [a]}, accept_proxy=True, forwardfor=True)
    lx = lxlb(cfg)
    hport = free_port()
    p, path = haproxy(HAP_GLOBAL + """frontend f
    bind 127.0.0.1:%d
    default_backend lx
backend lx
    server lx1 127.0.0.1:%d %s
""" % (hport, lx.port, mode), hport)
    try:
        r = get_from(hport, "127.0.0.2")
        assert r.status == 200, r
        assert xff(r) == ["127.0.0.2"], r.json()["headers"]
    finally:
        p.kill()
        p.wait()
        os.unlink(path)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_lxlb_sends_proxy_to_haproxy(backend, lxlb, version):
    a = backend("A")
    hport = free_port()
    p, path = haproxy(HAP_GLOBAL + """frontend f
    bind 127.0.0.1:%d accept-proxy
    option forwardfor
    default_backend app
backend app
    server a %s
""" % (hport, a.address), hport)
    try:
        # lxlb adds no X-Forwarded-For: what the app sees is HAProxy's, from the header.
        cfg = make_config({"b": ["127.0.0.1:%d" % hport]}, forwardfor=False)
        cfg["backends"][0]["send_proxy"] = version
        lx = lxlb(cfg)
        r = get_from(lx.port, "127.0.0.2")
        assert r.status == 200, r
        # HAProxy read the client from lxlb's header and says so to the app.
        assert xff(r) == ["127.0.0.2"], r.json()["headers"]
    finally:
        p.kill()
        p.wait()
        os.unlink(path)


@pytest.mark.parametrize("version,want", [
    ("v1", rb"PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\n"),
    ("v2", re.escape(b"\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"))])
def test_health_checks_to_a_send_proxy_server_carry_a_header(lxlb, version, want):
    """A server that wants a PROXY header on every connection gets one on
    health checks too (v2: LOCAL, no client; v1: the check connection's own
    addresses, since servers refuse v1 UNKNOWN), as HAProxy's checks do."""
    srv = RawServer()
    try:
        cfg = make_config({"b": [srv.address]})
        cfg["backends"][0]["send_proxy"] = version
        cfg["backends"][0]["health"] = {"path": "/", "interval": "100ms"}
        lxlb(cfg)
        deadline = time.monotonic() + 3
        while len(srv.requests) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(srv.requests) >= 2, srv.requests
        assert re.fullmatch(want, srv.proxy_headers[0]), srv.proxy_headers[:2]
        assert srv.requests[0].startswith(b"GET / HTTP/1.1\r\n")
    finally:
        srv.stop()
