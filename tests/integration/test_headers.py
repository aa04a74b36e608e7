"""Request/response header rewriting: forwardfor, set_headers, hop-by-hop."""
from helpers import Conn, get, make_config


def seen_headers(resp):
    """The headers the backend received, as [(name, value)]."""
    assert resp.status == 200, resp
    return [tuple(h) for h in resp.json()["headers"]]


def values(hdrs, name):
    return [v for n, v in hdrs if n.lower() == name.lower()]


def xff_chain(hdrs):
    """All X-Forwarded-For fields joined: appending a field or a value is the same."""
    out = []
    for v in values(hdrs, "X-Forwarded-For"):
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def test_forwardfor_adds_client_address(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, forwardfor=True))
    assert xff_chain(seen_headers(get(lx.port, "/headers"))) == ["127.0.0.1"]


def test_forwardfor_appends_to_existing_value(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, forwardfor=True))
    r = get(lx.port, "/headers", headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.2"})
    assert xff_chain(seen_headers(r)) == ["203.0.113.7", "198.51.100.2", "127.0.0.1"]


def test_forwardfor_false_leaves_header_alone(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, forwardfor=False))
    hdrs = seen_headers(get(lx.port, "/headers", headers={"X-Forwarded-For": "203.0.113.7"}))
    assert xff_chain(hdrs) == ["203.0.113.7"]
    assert xff_chain(seen_headers(get(lx.port, "/headers"))) == []


def test_forwardfor_defaults_on(backend, lxlb):
    """SPEC: absent keys take the default shown, and the example shows true."""
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    assert xff_chain(seen_headers(get(lx.port, "/headers"))) == ["127.0.0.1"]


def test_set_headers_replaces_client_value(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, set_headers={"X-Forwarded-Proto": "http",
                                                   "X-Via-Lxlb": "yes"}))
    # Client forges the header, twice and in another case: one value reaches the server.
    r = get(lx.port, "/headers", headers=[("X-Forwarded-Proto", "https"),
                                          ("x-forwarded-proto", "https"),
                                          ("X-Other", "kept")])
    hdrs = seen_headers(r)
    assert values(hdrs, "X-Forwarded-Proto") == ["http"], hdrs
    assert values(hdrs, "X-Via-Lxlb") == ["yes"], hdrs
    assert values(hdrs, "X-Other") == ["kept"], hdrs
    # Without a client value it is added.
    assert values(seen_headers(get(lx.port, "/headers")), "X-Forwarded-Proto") == ["http"]


def test_request_line_host_and_end_to_end_headers_kept(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}, forwardfor=True))
    r = get(lx.port, "/headers?q=1&x=%20y", headers=[("Host", "www.example.test"),
                                                     ("Cookie", "a=1; b=2"),
                                                     ("X-Dup", "1"), ("X-Dup", "2"),
                                                     ("User-Agent", "itest/1.0")])
    j = r.json()
    assert j["method"] == "GET" and j["target"] == "/headers?q=1&x=%20y", j
    hdrs = seen_headers(r)
    assert values(hdrs, "Host") == ["www.example.test"]
    assert values(hdrs, "Cookie") == ["a=1; b=2"]
    assert ", ".join(values(hdrs, "X-Dup")) == "1, 2"
    assert values(hdrs, "User-Agent") == ["itest/1.0"]


HOP = ["keep-alive", "te", "upgrade", "proxy-connection", "x-hop-secret", "x-hop-other"]


def test_hop_by_hop_request_headers_not_forwarded(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    r = get(lx.port, "/headers", headers=[
        ("Connection", "keep-alive, X-Hop-Secret"),
        ("Connection", "X-Hop-Other"),
        ("Keep-Alive", "timeout=30"),
        ("TE", "trailers"),
        ("Upgrade", "example/1"),
        ("Proxy-Connection", "keep-alive"),
        ("X-Hop-Secret", "must not pass"),
        ("X-Hop-Other", "must not pass either"),
        ("X-End-To-End", "passes")])
    hdrs = seen_headers(r)
    names = [n.lower() for n, _ in hdrs]
    for h in HOP:
        assert h not in names, "%s forwarded: %r" % (h, hdrs)
    for v in values(hdrs, "Connection"):
        assert "x-hop" not in v.lower(), hdrs
    assert values(hdrs, "X-End-To-End") == ["passes"]


def test_hop_by_hop_response_headers_not_forwarded(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        c.request("GET", "/hop")
        r = c.read_response()
        assert r.status == 200 and r.body == b"backend A"
        assert r.header("X-Backend-Hop") is None, r.headers
        assert r.header("X-Backend-Normal") == "kept", r.headers
        assert "x-backend-hop" not in r.tokens("Connection"), r.headers
        # The client connection is still usable.
        c.request("GET", "/")
        assert c.read_response().body == b"backend A"
