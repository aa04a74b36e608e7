"""Cookie stickiness (insert, prefix, rewrite) against real backends, as a
browser would see it: which server answers, which cookie comes back."""
import pytest

from helpers import Conn, free_port, get, make_config


def lb(backend, lxlb, cookie, names=("A", "B"), **be_opts):
    servers = [backend(n) for n in names]
    cfg = make_config({"b": servers}, port=free_port())
    cfg["backends"][0]["cookie"] = cookie
    cfg["backends"][0].update(be_opts)
    return lxlb(cfg), servers


def served_by(r):
    return r.header("X-Backend")


def set_cookies(r):
    return [v for n, v in r.headers if n.lower() == "set-cookie"]


def forwarded_cookie(r):
    hdrs = r.json()["headers"]
    return [v for n, v in hdrs if n.lower() == "cookie"]


def test_insert_sticks_and_balances_the_others(backend, lxlb):
    lx, _ = lb(backend, lxlb, {"name": "SRV", "mode": "insert"})
    r = get(lx.port, "/")
    first = served_by(r)
    assert set_cookies(r) == ["SRV=%s; path=/" % first]
    # a sticky client: 100 requests, one server, no new cookie
    for _ in range(100):
        r = get(lx.port, "/", headers={"Cookie": "SRV=%s" % first})
        assert served_by(r) == first
        assert set_cookies(r) == []
    # clients without a cookie are still balanced
    assert {served_by(get(lx.port, "/")) for _ in range(4)} == {"A", "B"}


def test_insert_attributes_and_nocache(backend, lxlb):
    lx, _ = lb(backend, lxlb, {"name": "SRV", "mode": "insert", "httponly": True,
                               "secure": True, "nocache": True})
    r = get(lx.port, "/")
    assert set_cookies(r) == ["SRV=%s; path=/; HttpOnly; Secure" % served_by(r)]
    assert r.header("Cache-Control") == "private"
    r = get(lx.port, "/", headers={"Cookie": "SRV=%s" % served_by(r)})
    assert set_cookies(r) == [] and r.header("Cache-Control") is None


def test_insert_indirect_hides_the_cookie_from_the_server(backend, lxlb):
    lx, _ = lb(backend, lxlb, {"name": "SRV", "mode": "insert", "indirect": True})
    r = get(lx.port, "/headers", headers={"Cookie": "a=1; SRV=B; b=2"})
    assert served_by(r) == "B"
    assert forwarded_cookie(r) == ["a=1; b=2"]
    r = get(lx.port, "/headers", headers={"Cookie": "SRV=A"})
    assert served_by(r) == "A" and forwarded_cookie(r) == []


def test_insert_without_indirect_passes_the_cookie(backend, lxlb):
    lx, _ = lb(backend, lxlb, {"name": "SRV", "mode": "insert"})
    r = get(lx.port, "/headers", headers={"Cookie": "SRV=B; x=y"})
    assert served_by(r) == "B" and forwarded_cookie(r) == ["SRV=B; x=y"]


def test_prefix_mode_as_the_seed_uses_it(backend, lxlb):
    """cookie JSESSIONID prefix: the application's own session cookie carries
    the server, and the application never sees the prefix."""
    lx, _ = lb(backend, lxlb, {"name": "JSESSIONID", "mode": "prefix"})
    r = get(lx.port, "/setcookie?value=s3cr3t")
    srv = served_by(r)
    assert set_cookies(r) == ["JSESSIONID=%s~s3cr3t; Path=/" % srv]
    for _ in range(20):
        r = get(lx.port, "/headers", headers={"Cookie": "a=1; JSESSIONID=%s~s3cr3t; b=2" % srv})
        assert served_by(r) == srv
        assert forwarded_cookie(r) == ["a=1; JSESSIONID=s3cr3t; b=2"]
    # a response that sets no cookie is left alone
    assert set_cookies(get(lx.port, "/")) == []


def test_rewrite_mode(backend, lxlb):
    lx, _ = lb(backend, lxlb, {"name": "SID", "mode": "rewrite"})
    r = get(lx.port, "/setcookie?name=SID&value=whatever")
    srv = served_by(r)
    assert set_cookies(r) == ["SID=%s; Path=/" % srv]
    other = "B" if srv == "A" else "A"
    r = get(lx.port, "/headers", headers={"Cookie": "SID=%s" % other})
    assert served_by(r) == other and forwarded_cookie(r) == ["SID=%s" % other]


def test_server_cookie_value_from_config(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg = make_config({"b": [(a, {"cookie": "x1"}), (b, {"cookie": "x2"})]}, port=free_port())
    cfg["backends"][0]["cookie"] = {"name": "SRV", "mode": "insert"}
    lx = lxlb(cfg)
    r = get(lx.port, "/", headers={"Cookie": "SRV=x2"})
    assert served_by(r) == "B" and set_cookies(r) == []
    r = get(lx.port, "/", headers={"Cookie": "SRV=B"})  # a name is not a cookie value
    assert set_cookies(r) == ["SRV=%s; path=/" % ("x1" if served_by(r) == "A" else "x2")]


def test_dead_sticky_server_redispatches_and_resticks(backend, lxlb):
    lx, (a, b) = lb(backend, lxlb, {"name": "SRV", "mode": "insert"}, redispatch=True)
    for _ in range(3):
        assert served_by(get(lx.port, "/", headers={"Cookie": "SRV=A"})) == "A"
    a.stop()
    r = get(lx.port, "/", headers={"Cookie": "SRV=A"})
    assert r.status == 200 and served_by(r) == "B"
    assert set_cookies(r) == ["SRV=B; path=/"]


def test_prefix_dead_server_keeps_the_app_cookie(backend, lxlb):
    lx, (a, b) = lb(backend, lxlb, {"name": "JSESSIONID", "mode": "prefix"}, redispatch=True)
    a.stop()
    r = get(lx.port, "/headers", headers={"Cookie": "JSESSIONID=A~abc"})
    assert r.status == 200 and served_by(r) == "B"
    assert forwarded_cookie(r) == ["JSESSIONID=abc"]


def test_unknown_cookie_is_balanced_and_replaced(backend, lxlb):
    lx, _ = lb(backend, lxlb, {"name": "SRV", "mode": "insert"})
    r = get(lx.port, "/", headers={"Cookie": "SRV=nosuchserver"})
    assert r.status == 200
    assert set_cookies(r) == ["SRV=%s; path=/" % served_by(r)]


@pytest.mark.parametrize("cookie", [
    "SRV", "SRV=", "=A", ";;;", " ; SRV = A ; ", 'SRV="A"', "SRV=A~", "SRV=~A",
    "a=" + "x" * 8000, "SRV=" + "A" * 8000, "SRV=A; SRV=B", "\tSRV=A",
])
def test_malformed_cookies_never_hurt(backend, lxlb, cookie):
    lx, _ = lb(backend, lxlb, {"name": "SRV", "mode": "insert", "indirect": True})
    r = get(lx.port, "/headers", headers={"Cookie": cookie})
    assert r.status == 200
    for v in forwarded_cookie(r):
        assert "\r" not in v and "\n" not in v
        assert not any(p.strip().startswith("SRV=") for p in v.split(";"))
    lx.assert_serving()


def test_several_cookie_headers(backend, lxlb):
    lx, _ = lb(backend, lxlb, {"name": "JSESSIONID", "mode": "prefix"})
    with Conn(lx.port) as c:
        c.send(b"GET /headers HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\n"
               b"Cookie: JSESSIONID=B~v\r\n\r\n")
        r = c.read_response()
    assert served_by(r) == "B"
    assert forwarded_cookie(r) == ["a=1", "JSESSIONID=v"]
