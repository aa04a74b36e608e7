"""Errors lxlb generates itself (SPEC.md "Errors to clients"): status, a short
HTML body, Connection: close, and the process keeps serving afterwards."""
import socket
import time

import pytest

from helpers import Conn, closed_port, free_port, get, make_config, parse_raw_response, raw_exchange


def assert_error_response(r, status, conn=None):
    assert r.status == status, r
    assert "close" in r.tokens("Connection"), "no Connection: close: %r" % r.headers
    assert b"<html" in r.body.lower() or b"<!doctype html" in r.body.lower(), r.body[:300]
    assert (r.header("Content-Type") or "").lower().startswith("text/html"), r.headers
    if conn is not None:
        assert conn.is_closed_by_peer(), "connection left open after %d" % status


def two_frontends(bad_servers, good_backend, defaults=None, bad_opts=None):
    """Frontend "bad" -> backend "bad" (the servers under test), frontend "good"
    -> a healthy backend, to check the process still serves."""
    pb, pg = free_port(), free_port()
    bad = {"name": "bad", "servers": [{"name": "s%d" % i, "address": addr}
                                      for i, addr in enumerate(bad_servers, 1)]}
    bad.update(bad_opts or {})
    cfg = {"frontends": [{"name": "bad", "bind": ["127.0.0.1:%d" % pb], "default_backend": "bad"},
                         {"name": "good", "bind": ["127.0.0.1:%d" % pg],
                          "default_backend": "good"}],
           "backends": [bad, {"name": "good", "servers": [{"name": "g1",
                                                           "address": good_backend.address}]}]}
    if defaults:
        cfg["defaults"] = defaults
    return cfg, pb, pg


def test_no_server_reachable_503(backend, lxlb):
    good = backend("G")
    cfg, pb, pg = two_frontends(["127.0.0.1:%d" % closed_port(), "127.0.0.1:%d" % closed_port()],
                                good)
    lx = lxlb(cfg)
    t0 = time.monotonic()
    with Conn(pb, timeout=10) as c:
        c.request("GET", "/")
        r = c.read_response()
        assert_error_response(r, 503, c)
    assert time.monotonic() - t0 < 3, "refused connects should fail fast"
    lx.assert_serving(pg)
    # And again: still 503, still alive.
    assert get(pb, "/").status == 503
    lx.assert_serving(pg)


def test_backend_without_servers_503(backend, lxlb):
    good = backend("G")
    cfg, pb, pg = two_frontends([], good)
    lx = lxlb(cfg)
    with Conn(pb) as c:
        c.request("GET", "/")
        assert_error_response(c.read_response(), 503, c)
    lx.assert_serving(pg)


def test_garbage_from_server_502(backend, lxlb):
    g, good = backend("X", mode="garbage"), backend("G")
    cfg, pb, pg = two_frontends([g.address], good)
    lx = lxlb(cfg)
    with Conn(pb, timeout=10) as c:
        c.request("GET", "/")
        assert_error_response(c.read_response(), 502, c)
    lx.assert_serving(pg)


def test_slow_server_504(backend, lxlb):
    slow, good = backend("S"), backend("G")
    cfg, pb, pg = two_frontends([slow.address], good,
                                defaults={"timeout": {"server": "500ms"}})
    lx = lxlb(cfg)
    t0 = time.monotonic()
    with Conn(pb, timeout=10) as c:
        c.request("GET", "/slow?ms=4000")
        r = c.read_response()
        took = time.monotonic() - t0
        assert_error_response(r, 504, c)
    assert 0.4 <= took < 3.0, "504 after %.2fs with timeout.server 500ms" % took
    lx.assert_serving(pg)
    # A fast answer from the same server is fine.
    assert get(pb, "/slow?ms=50").status == 200


def test_server_accepts_but_never_answers_504(backend, lxlb):
    mute, good = backend("M", mode="accept-no-answer"), backend("G")
    cfg, pb, pg = two_frontends([mute.address], good, defaults={"timeout": {"server": "500ms"}})
    lx = lxlb(cfg)
    t0 = time.monotonic()
    with Conn(pb, timeout=10) as c:
        c.request("GET", "/")
        assert_error_response(c.read_response(), 504, c)
    assert time.monotonic() - t0 < 3.0
    lx.assert_serving(pg)


def test_retry_goes_to_a_live_server(backend, lxlb):
    """With one dead and one live server every request still succeeds (retries,
    redispatch default true)."""
    a = backend("A")
    cfg = make_config({"b": ["127.0.0.1:%d" % closed_port(), a]})
    lx = lxlb(cfg)
    for i in range(6):
        r = get(lx.port, "/?i=%d" % i)
        assert r.status == 200 and r.body == b"backend A", r


@pytest.fixture
def proxy(backend, lxlb):
    a = backend("A")
    return lxlb(make_config({"b": [a]}, defaults={"timeout": {"http_request": "500ms",
                                                              "server": "2s"}}))


def test_partial_request_head_408(proxy):
    t0 = time.monotonic()
    with Conn(proxy.port, timeout=10) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        r = c.read_response()
        took = time.monotonic() - t0
        assert_error_response(r, 408, c)
    assert 0.4 <= took < 2.5, "408 after %.2fs with timeout.http_request 500ms" % took
    proxy.assert_serving()


def test_trickling_request_head_408(proxy):
    """http_request bounds the whole head, not the gap between bytes."""
    t0 = time.monotonic()
    with Conn(proxy.port, timeout=10) as c:
        c.send(b"GET / HTTP/1.1\r\n")
        got = b""
        c.settimeout(0.1)
        for i in range(40):
            try:
                c.send(b"X-H%d: v\r\n" % i)
            except OSError:
                break
            try:
                got = c.sock.recv(65536)
                if got:
                    break
            except socket.timeout:
                pass
        got += c.read_all(3)
        took = time.monotonic() - t0
    r = parse_raw_response(got)
    assert r.status == 408, got[:300]
    assert took < 2.5, "took %.2fs" % took
    proxy.assert_serving()


MALFORMED = {
    "header-without-colon": b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n",
    "tls-hello-on-plain-port": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(40) + b"\r\n\r\n",
    "bad-content-length": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
    "conflicting-content-lengths": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                                   b"Content-Length: 4\r\n\r\nabcd",
    "space-in-header-name": b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n",
    "bad-chunk-size": b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nhello\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_request_400_and_still_serving(proxy, name):
    data = MALFORMED[name]
    out = raw_exchange(proxy.port, data, timeout=3)
    r = parse_raw_response(out)
    assert r.status == 400, out[:300]
    assert "close" in r.tokens("Connection"), out[:300]
    proxy.assert_serving()


def test_malformed_after_good_request_on_same_connection(proxy):
    with Conn(proxy.port, timeout=5) as c:
        c.request("GET", "/")
        assert c.read_response().body == b"backend A"
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n")
        assert_error_response(c.read_response(), 400, c)
    proxy.assert_serving()


def test_huge_header_431(proxy):
    with Conn(proxy.port, timeout=5) as c:
        c.request("GET", "/", headers={"X-Big": "a" * (70 * 1024)})
        assert_error_response(c.read_response(), 431, c)
    proxy.assert_serving()


def test_too_many_headers_431(proxy):
    with Conn(proxy.port, timeout=5) as c:
        c.request("GET", "/", headers=[("X-H%d" % i, "v") for i in range(150)])
        assert_error_response(c.read_response(), 431, c)
    proxy.assert_serving()


def test_header_limits_not_hit_below_defaults(proxy):
    r = get(proxy.port, "/headers", headers=[("X-Big", "b" * 20000)]
            + [("X-H%d" % i, "v") for i in range(80)])
    assert r.status == 200, r
    assert any(n == "X-Big" and len(v) == 20000 for n, v in r.json()["headers"])


def test_long_url_414(proxy):
    with Conn(proxy.port, timeout=5) as c:
        c.request("GET", "/" + "u" * 10000)
        assert_error_response(c.read_response(), 414, c)
    proxy.assert_serving()
    # 6000 bytes is under the 8192 default: it passes.
    r = get(proxy.port, "/?" + "q" * 6000)
    assert r.status == 200 and r.header("X-Request-Target") == "/?" + "q" * 6000


def test_configured_limits(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, defaults={"limits": {"request_line": 1024,
                                                           "header_size": 4096,
                                                           "header_count": 20}}))
    assert get(lx.port, "/?" + "q" * 900).status == 200
    assert get(lx.port, "/?" + "q" * 2000).status == 414
    assert get(lx.port, "/", headers={"X-A": "a" * 3000}).status == 200
    assert get(lx.port, "/", headers={"X-A": "a" * 6000}).status == 431
    assert get(lx.port, "/", headers=[("X-%d" % i, "v") for i in range(30)]).status == 431
    assert get(lx.port, "/", headers=[("X-%d" % i, "v") for i in range(10)]).status == 200
    lx.assert_serving()


def test_client_disconnect_midway_does_not_hurt(backend, lxlb):
    """Clients vanishing mid-request or mid-response leave the proxy serving."""
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    for data in (b"GET / HTTP/1.1\r\nHo",
                 b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc",
                 b"GET /download?size=5000000 HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n"):
        s = socket.create_connection(("127.0.0.1", lx.port))
        s.sendall(data)
        time.sleep(0.05)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
    time.sleep(0.4)
    lx.assert_serving()


def test_idempotent_request_retried_when_server_drops_it(backend, lxlb):
    """Server accepts the request then closes without a byte: a GET is retried
    on the other server, and the client never sees an error."""
    bad, good = backend("X", mode="close-no-answer"), backend("G")
    lx = lxlb(make_config({"b": [bad, good]}))
    for i in range(4):
        r = get(lx.port, "/?i=%d" % i)
        assert r.status == 200 and r.body == b"backend G", r
    assert good.stats()["requests"] == 4


def test_non_idempotent_request_not_replayed(backend, lxlb):
    """A POST the server may have acted on is never sent twice: the client gets
    a 502 instead, and the other server never sees that POST."""
    bad, good = backend("X", mode="close-no-answer"), backend("G")
    lx = lxlb(make_config({"b": [bad, good]}))
    statuses = []
    for i in range(4):
        r = get(lx.port, "/upload?i=%d" % i, method="POST", body=b"payload %d" % i)
        statuses.append(r.status)
        if r.status == 200:
            assert r.json()["length"] == len(b"payload %d" % i)
    assert set(statuses) <= {200, 502}, statuses
    assert 502 in statuses, "no POST reached the dropping server? %r" % statuses
    assert good.stats()["requests"] == statuses.count(200), (statuses, good.stats())
    assert lx.alive()


def test_client_timeout_applies_to_an_incomplete_head(backend, lxlb):
    """timeout.client (inactivity) also guards a request head that stopped
    coming, as in HAProxy: with client 1s and http_request 10s, 50 clients
    that send part of a head and then nothing are closed after ~1 s, each
    with a 408, not after 10 s."""
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, defaults={"timeout": {"client": "1s",
                                                             "http_request": "10s"}}))
    conns = []
    try:
        for _ in range(50):
            c = Conn(lx.port, timeout=10)
            c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
            conns.append(c)
        t0 = time.monotonic()
        for c in conns:
            r = c.read_response()
            assert_error_response(r, 408, c)
        took = time.monotonic() - t0
    finally:
        for c in conns:
            c.close()
    assert took < 4.0, "incomplete heads closed after %.1fs, timeout.client is 1s" % took
    lx.assert_serving()


def test_client_timeout_does_not_cut_a_head_that_keeps_coming(backend, lxlb):
    """Inactivity means no byte for timeout.client: a head that trickles in
    faster than that is bounded by http_request only."""
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, defaults={"timeout": {"client": "1s",
                                                             "http_request": "10s"}}))
    with Conn(lx.port, timeout=10) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: x\r\n")
        for i in range(5):
            time.sleep(0.4)
            c.send(b"X-Part-%d: y\r\n" % i)
        c.send(b"\r\n")
        r = c.read_response()
    assert r.status == 200, r
