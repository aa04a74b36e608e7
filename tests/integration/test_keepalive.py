"""Keep-alive on both sides, bodiless responses, pipelining, http_close."""
import socket

import pytest

from helpers import Conn, build_request, get, make_config


def test_head_keeps_connection_usable(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        c.request("HEAD", "/download?size=5000")
        r = c.read_response("HEAD")
        assert r.status == 200 and r.header("Content-Length") == "5000", r
        c.request("HEAD", "/")
        assert c.read_response("HEAD").status == 200
        # No stray body bytes: the next response starts right where it should.
        c.request("GET", "/?after=head")
        r = c.read_response()
        assert r.status == 200 and r.body == b"backend A", r
        assert r.header("X-Request-Target") == "/?after=head"


@pytest.mark.parametrize("target,status", [("/status/204", 204), ("/status/304", 304),
                                           ("/status/304?cl=1234", 304)],
                         ids=["204", "304", "304-with-content-length"])
def test_bodiless_status_then_next_request(backend, lxlb, target, status):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port, timeout=5) as c:
        for i in range(2):
            c.request("GET", target)
            r = c.read_response()
            assert r.status == status, r
            c.request("GET", "/?n=%d" % i)
            r = c.read_response()
            assert r.status == 200 and r.body == b"backend A", r
            assert r.header("X-Request-Target") == "/?n=%d" % i
    assert a.stats()["requests"] == 4


def test_client_keepalive_pools_server_connections(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        for i in range(50):
            c.request("GET", "/?i=%d" % i)
            r = c.read_response()
            assert r.status == 200 and r.header("X-Request-Target") == "/?i=%d" % i, r
            assert "close" not in r.tokens("Connection"), r
    s = a.stats()
    assert s["requests"] == 50
    assert s["connections"] <= 3, "server connections not reused: %r" % s


@pytest.mark.parametrize("client_close", [False, True], ids=["client-keepalive",
                                                             "client-connection-close"])
def test_pooled_server_connections_reused_across_clients(backend, lxlb, client_close):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    hdrs = {"Connection": "close"} if client_close else None
    for i in range(10):
        with Conn(lx.port) as c:
            c.request("GET", "/?client=%d" % i, headers=hdrs)
            r = c.read_response()
            assert r.status == 200 and r.body == b"backend A", r
            if client_close:
                assert "close" in r.tokens("Connection"), r
                assert c.is_closed_by_peer(), "lxlb kept a client connection it was asked to close"
    s = a.stats()
    assert s["requests"] == 10
    assert s["connections"] <= 3, "server connections not pooled across clients: %r" % s


def test_pool_spreads_over_servers_and_reuses_each(backend, lxlb):
    a, b = backend("A"), backend("B")
    lx = lxlb(make_config({"b": [a, b]}))
    with Conn(lx.port) as c:
        for i in range(40):
            c.request("GET", "/")
            assert c.read_response().status == 200
    sa, sb = a.stats(), b.stats()
    assert sa["requests"] == 20 and sb["requests"] == 20, (sa, sb)
    assert sa["connections"] <= 3 and sb["connections"] <= 3, (sa, sb)


def test_http10_client_gets_close(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        c.send(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"backend A", r
        assert c.is_closed_by_peer(), "HTTP/1.0 client without keep-alive must be closed"


def test_pipelined_requests_answered_in_order(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    reqs = [("GET", "/slow?ms=200", None),
            ("GET", "/download?size=100000&chunked=1", None),
            ("POST", "/upload", b"x" * 70000),
            ("HEAD", "/download?size=777", None),
            ("GET", "/status/204", None),
            ("GET", "/headers?last=1", None),
            ("GET", "/", None)]
    with Conn(lx.port, timeout=10) as c:
        c.send(b"".join(build_request(m, t, body=b) for m, t, b in reqs))
        bodies = []
        for m, t, b in reqs:
            r = c.read_response(m)
            assert r.header("X-Request-Target") == t, "out of order: wanted %s, got %r" % (t, r)
            bodies.append(r)
    assert bodies[0].body == b"backend A slow"
    assert len(bodies[1].body) == 100000
    assert bodies[2].json()["length"] == 70000
    assert bodies[3].header("Content-Length") == "777" and bodies[3].body == b""
    assert bodies[4].status == 204
    assert bodies[5].json()["target"] == "/headers?last=1"
    assert bodies[6].body == b"backend A"


def test_pipelined_requests_across_two_servers_stay_in_order(backend, lxlb):
    a, b = backend("A"), backend("B")
    lx = lxlb(make_config({"b": [a, b]}))
    targets = ["/slow?ms=300", "/?n=1", "/slow?ms=100", "/?n=3", "/?n=4", "/?n=5"]
    with Conn(lx.port, timeout=10) as c:
        c.send(b"".join(build_request("GET", t) for t in targets))
        got = [c.read_response().header("X-Request-Target") for _ in targets]
    assert got == targets


def test_backend_http_close_closes_the_server_side_only(backend, lxlb):
    """As HAProxy 2.6's option httpclose in a backend: a new server connection
    per request, asked to close; the client's connection stays open."""
    a = backend("A")
    cfg = make_config({"b": [a]})
    cfg["backends"][0]["http_close"] = True
    lx = lxlb(cfg)
    with Conn(lx.port) as c:
        for i in range(5):
            c.request("GET", "/headers?i=%d" % i)
            r = c.read_response()
            assert r.status == 200 and r.json()["target"] == "/headers?i=%d" % i, r
            assert "close" not in r.tokens("Connection"), r
            sent = [v for n, v in r.json()["headers"] if n.lower() == "connection"]
            assert sent == ["close"], sent
        # An HTTP/1.1 client that asks to close still gets its close.
        c.request("GET", "/", headers={"Connection": "close"})
        r = c.read_response()
        assert r.status == 200 and "close" in r.tokens("Connection"), r
        assert c.is_closed_by_peer(), "client connection left open after Connection: close"
    s = a.stats()
    assert s["requests"] == 6 and s["connections"] == 6, s


def test_frontend_http_close_closes_both_sides(backend, lxlb):
    """As HAProxy 2.6's option httpclose in a frontend (or defaults): the
    client connection closes after each response, the server's too."""
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, http_close=True))
    for i in range(5):
        with Conn(lx.port) as c:
            c.request("GET", "/headers?i=%d" % i)
            r = c.read_response()
            assert r.status == 200 and r.json()["target"] == "/headers?i=%d" % i, r
            assert "close" in r.tokens("Connection"), r
            sent = [v for n, v in r.json()["headers"] if n.lower() == "connection"]
            assert sent == ["close"], sent
            assert c.is_closed_by_peer(), "client connection left open with http_close"
    s = a.stats()
    assert s["requests"] == 5 and s["connections"] == 5, s


def test_pipelined_three_gets_in_one_write(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    targets = ["/one", "/two?x=2", "/three"]
    with Conn(lx.port, timeout=5) as c:
        c.send(b"".join(build_request("GET", t) for t in targets))
        for t in targets:
            r = c.read_response()
            assert r.status == 200 and r.body == b"backend A", r
            assert r.header("X-Request-Target") == t, r


def test_idle_keepalive_client_closed_silently(backend, lxlb):
    """timeout.keepalive closes an idle client connection after a request
    without sending a 408 (that would confuse browsers)."""
    import time
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, defaults={"timeout": {"keepalive": "300ms",
                                                            "http_request": "300ms"}}))
    with Conn(lx.port) as c:
        c.request("GET", "/")
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.read_all(3) == b"", "bytes sent on an idle keep-alive connection"
        took = time.monotonic() - t0
        assert 0.2 <= took < 2.0, "idle connection closed after %.2fs (keepalive 300ms)" % took
    with Conn(lx.port) as c:
        # No request at all: closed in time (a 408 first is allowed, as HAProxy does).
        t0 = time.monotonic()
        out = c.read_all(3)
        assert out == b"" or out.startswith(b"HTTP/1.1 408"), out[:200]
        assert time.monotonic() - t0 < 2.0, "connection without a request never closed"
    lx.assert_serving()


def test_server_closing_idle_pooled_connection_is_not_an_error(backend, lxlb):
    """A server that closes idle keep-alive connections (short keep-alive
    timeout) must not turn the next request into a 502: the proxy notices the
    closed pooled connection, or retries the idempotent request."""
    import time
    a = backend("A", idle_close_ms=100)
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        for i in range(4):
            c.request("GET", "/?i=%d" % i)
            r = c.read_response()
            assert r.status == 200 and r.body == b"backend A", "request %d: %r" % (i, r)
            time.sleep(0.3)  # the server has closed its side by now
    assert a.stats()["requests"] == 4


def test_server_connection_close_response_not_reused(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        for i in range(3):
            c.request("GET", "/close?i=%d" % i)
            r = c.read_response()
            assert r.status == 200 and r.body == b"backend A", r
            c.request("GET", "/?i=%d" % i)
            r = c.read_response()
            assert r.status == 200 and r.header("X-Request-Target") == "/?i=%d" % i, r
    s = a.stats()
    assert s["requests"] == 6 and s["connections"] >= 3, s


def test_pipelined_requests_then_half_close_all_answered(backend, lxlb):
    """Three pipelined GETs, then the client shuts down its write side (as nc
    does at the end of its input, RFC 9112 9.6 allows it): each request sent
    before the FIN is answered, in order, then lxlb closes. Each is logged."""
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        c.send(b"".join(build_request("GET", "/?half=%d" % i) for i in range(3)))
        c.sock.shutdown(socket.SHUT_WR)
        rs = [c.read_response() for _ in range(3)]
        assert [r.header("X-Request-Target") for r in rs] == ["/?half=%d" % i for i in range(3)]
        assert all(r.status == 200 for r in rs), rs
        assert c.is_closed_by_peer(), "connection left open after the last answer"
    text = lx.wait_log(lambda t: t.count("half=") >= 3)
    assert text.count("half=") == 3, text


def test_pipelined_requests_then_half_close_with_partial_fourth(backend, lxlb):
    """A partial request after the whole ones: those are answered, then the
    connection closes; the partial one is never sent to the server."""
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    before = a.stats()["requests"]
    with Conn(lx.port) as c:
        c.send(b"".join(build_request("GET", "/?hp=%d" % i) for i in range(2))
               + b"GET /?hp=partial HTTP/1.1\r\nHost: x\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        rs = [c.read_response() for _ in range(2)]
        assert [r.header("X-Request-Target") for r in rs] == ["/?hp=0", "/?hp=1"]
        assert c.is_closed_by_peer()
    assert a.stats()["requests"] - before == 2
