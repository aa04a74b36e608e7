"""What lxlb writes on the wire is canonical, whatever the peer sent: chunked
bodies are re-framed (size in minimal hex, no chunk extensions, trailers
dropped) in both directions, so a server or client that reads a chunk size
differently from lxlb (a truncated long size field, an extension it mis-parses)
still frames the message as lxlb did: no desync. And the Host a server sees
agrees with an absolute-form target (RFC 9112 3.2.2)."""
import re
import socket

import pytest

from helpers import Conn, RawServer, make_config


@pytest.fixture
def raw(procs):
    servers = []

    def start(response=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"):
        s = RawServer(response)
        servers.append(s)
        return s
    yield start
    for s in servers:
        s.stop()


def chunk_lines(body):
    """The chunk-size lines of a chunked body, in order."""
    out, i = [], 0
    while True:
        j = body.index(b"\r\n", i)
        line = body[i:j]
        size = int(line.split(b";")[0], 16)
        out.append(line)
        if size == 0:
            return out, body[j + 2:]
        i = j + 2 + size + 2


def test_request_chunk_sizes_reencoded_minimal_hex(raw, lxlb):
    srv = raw()
    lx = lxlb(make_config({"b": [srv.address]}))
    data = bytes(range(256)) * 2
    body = (b"0" * 33 + b"dd\r\n" + data[:221] + b"\r\n"
            + b"5;ext=\"x\";foo=bar\r\n" + data[221:226] + b"\r\n"
            + b"000\r\n" + b"X-Trailer: t\r\n\r\n")
    with Conn(lx.port) as c:
        c.send(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        r = c.read_response()
    assert r.status == 200, r
    assert len(srv.requests) == 1, srv.requests
    head, _, sent = srv.requests[0].partition(b"\r\n\r\n")
    lines, rest = chunk_lines(sent)
    assert_canonical(lines)
    assert sum(int(x, 16) for x in lines) == 226, lines
    assert rest == b"\r\n", rest      # trailer dropped
    assert dechunk(sent) == data[:226]


def test_response_chunk_sizes_reencoded_minimal_hex(raw, lxlb):
    payload = b"x" * 300
    resp = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"0000000000000000000000012c;name=value\r\n" + payload + b"\r\n"
            + b"0\r\nX-Trailer: t\r\n\r\n")
    srv = raw(resp)
    lx = lxlb(make_config({"b": [srv.address]}))
    with socket.create_connection(("127.0.0.1", lx.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = b""
        while not buf.endswith(b"0\r\n\r\n"):
            d = s.recv(65536)
            assert d, buf
            buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    assert b"chunked" in head.lower(), head
    lines, rest = chunk_lines(body)
    assert_canonical(lines)
    assert rest == b"\r\n"
    assert dechunk(body) == payload


def assert_canonical(lines):
    """Chunk sizes in minimal hex (no leading zero, no extension); the
    chunk boundaries themselves are lxlb's to choose."""
    assert lines[-1] == b"0", lines
    for ln in lines[:-1]:
        assert re.fullmatch(rb"[1-9a-f][0-9a-f]*", ln), lines


def dechunk(body):
    out, i = b"", 0
    while True:
        j = body.index(b"\r\n", i)
        size = int(body[i:j].split(b";")[0], 16)
        if size == 0:
            return out
        out += body[j + 2:j + 2 + size]
        i = j + 2 + size + 2


@pytest.mark.parametrize("host", [b"Host: \r\n", b"Host:\t\r\n", b"Host: other.example\r\n"])
def test_absolute_form_with_disagreeing_host_400(raw, lxlb, host):
    srv = raw()
    lx = lxlb(make_config({"b": [srv.address]}))
    with Conn(lx.port) as c:
        c.send(b"GET http://localhost/index.html HTTP/1.1\r\n" + host + b"\r\n")
        r = c.read_response()
    assert r.status == 400, r
    assert srv.requests == []


def test_absolute_form_with_matching_host_forwarded(raw, lxlb):
    srv = raw()
    lx = lxlb(make_config({"b": [srv.address]}))
    with Conn(lx.port) as c:
        c.send(b"GET http://LocalHost:80/index.html HTTP/1.1\r\nHost: localhost:80\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    hosts = re.findall(rb"(?im)^host:\s*(.*?)\r$", srv.requests[0])
    assert hosts == [b"localhost:80"], srv.requests[0]
