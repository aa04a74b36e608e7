"""The test backend itself, without lxlb: if these fail, every proxy test's
verdict is suspect, so they run first."""
import hashlib
import socket
import subprocess

from helpers import Conn, build_request, chunked, get, pattern, pattern_sha256, raw_exchange, sha256


def test_backend_framing_and_counters(backend):
    b = backend("A")
    with Conn(b.port) as c:
        for i in range(3):
            c.request("GET", "/?i=%d" % i)
            r = c.read_response()
            assert r.status == 200 and r.body == b"backend A"
            assert r.header("X-Request-Target") == "/?i=%d" % i
        c.request("HEAD", "/download?size=1000")
        r = c.read_response("HEAD")
        assert r.header("Content-Length") == "1000" and r.body == b""
        c.request("GET", "/status/204")
        assert c.read_response().status == 204
        c.request("GET", "/status/304?cl=5")
        assert c.read_response().status == 304
        for q in ("", "&chunked=1"):
            c.request("GET", "/download?size=300000" + q)
            r = c.read_response()
            assert sha256(r.body) == pattern_sha256(300000) == r.header("X-Content-Sha256")
        data = pattern(200001)
        c.send(build_request("POST", "/upload", {"Transfer-Encoding": "chunked"}) + chunked(data))
        r = c.read_response()
        assert r.json() == {"backend": "A", "sha256": sha256(data), "length": 200001,
                            "chunked": True}
        c.request("POST", "/upload", body=data)
        assert r.json()["sha256"] == c.read_response().json()["sha256"]
    r = get(b.port, "/download?size=70000&close=1")
    assert r.header("Content-Length") is None and sha256(r.body) == pattern_sha256(70000)
    s = b.stats()
    assert s["connections"] == 2 and s["requests"] == 11


def test_backend_misbehaving_modes(backend):
    g = backend("G", mode="garbage")
    out = raw_exchange(g.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2)
    assert out and not out.startswith(b"HTTP/")
    n = backend("N", mode="accept-no-answer")
    s = socket.create_connection(("127.0.0.1", n.port), timeout=0.3)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        assert s.recv(10) == b"not reached"
    except socket.timeout:
        pass
    s.close()


def test_curl_upload_against_backend(backend, tmp_path):
    b = backend("A")
    f = tmp_path / "up.bin"
    data = pattern(3 << 20)
    f.write_bytes(data)
    out = subprocess.run(["curl", "-sS", "-T", str(f), "http://127.0.0.1:%d/upload" % b.port],
                         capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    assert hashlib.sha256(data).hexdigest() in out.stdout.decode()
