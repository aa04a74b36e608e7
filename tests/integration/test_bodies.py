"""Large bodies both ways arrive intact (sha256), in every framing."""
import hashlib
import json
import socket
import subprocess
import time

import pytest

from helpers import Conn, build_request, chunked, make_config, pattern, pattern_sha256, sha256

SIZE = 8 << 20


@pytest.fixture
def proxy(backend, lxlb):
    a = backend("A")
    return lxlb(make_config({"b": [a]}))


@pytest.fixture(scope="module")
def upload_file(tmp_path_factory):
    data = pattern(SIZE + 12345)[12345:]  # not the download pattern's alignment
    f = tmp_path_factory.mktemp("up") / "upload.bin"
    f.write_bytes(data)
    return str(f), hashlib.sha256(data).hexdigest()


def curl(*args, timeout=30):
    out = subprocess.run(["curl", "-sS", "--max-time", str(timeout)] + list(args),
                         capture_output=True, timeout=timeout + 5)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_upload_content_length_curl(proxy, upload_file):
    path, digest = upload_file
    j = json.loads(curl("-T", path, "http://127.0.0.1:%d/upload" % proxy.port))
    assert j["length"] == SIZE and j["sha256"] == digest, j


def test_upload_chunked_curl(proxy, upload_file):
    path, digest = upload_file
    j = json.loads(curl("-T", path, "-H", "Transfer-Encoding: chunked",
                        "http://127.0.0.1:%d/upload" % proxy.port))
    assert j["length"] == SIZE and j["sha256"] == digest, j


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_upload_raw_socket_then_keepalive(proxy, framing):
    data = pattern(SIZE)
    with Conn(proxy.port, timeout=30) as c:
        if framing == "chunked":
            # odd chunk sizes, so chunk edges never line up with buffer sizes
            c.send(build_request("POST", "/upload", {"Transfer-Encoding": "chunked"})
                   + chunked(data, step=99991))
        else:
            c.request("POST", "/upload", body=data)
        r = c.read_response()
        assert r.status == 200, r
        j = r.json()
        assert j["length"] == SIZE and j["sha256"] == sha256(data), j
        # The connection carries on after a big body.
        c.request("GET", "/")
        assert c.read_response().body == b"backend A"


@pytest.mark.parametrize("query", ["", "&chunked=1", "&close=1"],
                         ids=["content-length", "chunked", "close-delimited"])
def test_download_8mb_intact(proxy, query):
    with Conn(proxy.port, timeout=30) as c:
        c.request("GET", "/download?size=%d%s" % (SIZE, query))
        r = c.read_response()
        assert r.status == 200, r
        assert len(r.body) == SIZE
        assert sha256(r.body) == pattern_sha256(SIZE)
        if not query:
            assert r.header("Content-Length") == str(SIZE)


@pytest.mark.parametrize("query", ["", "&chunked=1", "&close=1"],
                         ids=["content-length", "chunked", "close-delimited"])
def test_download_curl(proxy, query):
    body = curl("http://127.0.0.1:%d/download?size=%d%s" % (proxy.port, SIZE // 4, query))
    assert hashlib.sha256(body).hexdigest() == pattern_sha256(SIZE // 4)


def test_download_slow_reader_backpressure(proxy):
    """A client with a small receive window still gets every byte, about as
    fast as it reads (HAProxy: ~0.5 s here), and keeps its connection: the
    proxy applies backpressure without stalls, drops or truncation."""
    size = 4 << 20
    with Conn(proxy.port, timeout=3) as c:  # a 3 s stall anywhere fails the test
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        t0 = time.monotonic()
        c.set_deadline(8)
        c.request("GET", "/download?size=%d" % size)
        time.sleep(0.5)  # let the server side fill every buffer
        r = c.read_response()
        took = time.monotonic() - t0
        assert sha256(r.body) == pattern_sha256(size)
        assert took < 5, "4 MB to a small-window client took %.1fs" % took
        c.request("GET", "/")
        assert c.read_response().body == b"backend A"


def test_expect_100_continue_is_answered(proxy):
    """curl and others send "Expect: 100-continue" and wait for the 100 before
    the body: it must come (from the server or lxlb), not a timeout."""
    data = pattern(100000)
    with Conn(proxy.port, timeout=3) as c:
        c.send(build_request("POST", "/upload", {"Content-Length": str(len(data)),
                                                 "Expect": "100-continue"}))
        c.set_deadline(0.9)  # curl gives up waiting after 1 s
        head = c._until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 100"), head
        c.deadline = None
        c.send(data)
        r = c.read_response()
        assert r.status == 200 and r.json()["sha256"] == sha256(data), r
        c.request("GET", "/")
        assert c.read_response().body == b"backend A"
