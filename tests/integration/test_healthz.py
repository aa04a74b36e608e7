"""Admin GET /healthz (SPEC.md "High availability"): what keepalived's
vrrp_script and watchdogs ask. 200 "ok" while lxlb accepts and every backend
has a server the balancer may give a new client; 503 with a one-line reason
otherwise: the backends with none (down, maint, drain, empty), or "stopping"
during a graceful stop. Public on a loopback or unix admin bind; behind the
token on any other."""
import os
import signal
import socket
import threading
import time

from helpers import Conn, get, make_config, port_refuses, wait_port
from test_admin import api, set_state, with_admin


def start(lxlb, cfg, aport):
    """lxlb(cfg), once its admin port listens too (the harness waits only for
    the frontends, which are bound first)."""
    lx = lxlb(cfg)
    assert wait_port(aport, 5.0, lx.proc), "admin port %d never listened" % aport
    return lx


def healthz(port, token=None, method="GET"):
    return api(port, method, "/healthz", token=token)


def assert_ok(r):
    assert r.status == 200, r
    assert r.body == b"ok\n", r.body
    assert r.header("Content-Type").startswith("text/plain"), r
    assert r.header("Cache-Control") == "no-store", r


def assert_unhealthy(r, reason):
    assert r.status == 503, r
    assert r.body.decode() == reason + "\n", r.body
    assert r.header("Content-Type").startswith("text/plain"), r


def wait_status(port, status, timeout=5.0):
    end = time.monotonic() + timeout
    while True:
        r = healthz(port)
        if r.status == status or time.monotonic() > end:
            return r
        time.sleep(0.05)


def test_ok_then_each_backend_without_a_usable_server_is_named(backend, lxlb):
    a, b, c = backend("A"), backend("B"), backend("C")
    cfg = make_config({"web": [a, b], "api": [c]})
    cfg, aport = with_admin(cfg)
    lx = start(lxlb, cfg, aport)
    assert_ok(healthz(aport))
    r = healthz(aport, method="HEAD")
    assert r.status == 200 and r.body == b"", r
    r = api(aport, "POST", "/healthz", "x")
    assert r.status == 405 and r.header("Allow") == "GET, HEAD", r

    # One server of two in maint: the backend still has one.
    assert set_state(aport, "web", "A", "maint").status == 200
    assert_ok(healthz(aport))
    # The only server of api: that backend is named, web is not.
    assert set_state(aport, "api", "C", "maint").status == 200
    assert_unhealthy(healthz(aport), "backend api has no usable server")
    # Every backend counts, also one no frontend of this test routes to:
    # web's frontend still serves.
    assert get(lx.port, "/").status == 200
    assert set_state(aport, "web", "B", "maint").status == 200
    assert_unhealthy(healthz(aport), "backend web has no usable server; "
                                     "backend api has no usable server")
    assert get(lx.port, "/").status == 503
    for be, s in (("web", "A"), ("web", "B"), ("api", "C")):
        assert set_state(aport, be, s, "ready").status == 200
    assert_ok(healthz(aport))


def test_drain_counts_as_not_usable(backend, lxlb):
    """Drain takes no new client: a balancer whose backend is all drained
    cannot place one, so it is not healthy for new clients (its sticky
    clients still are served, and the peer may not be drained)."""
    a = backend("A")
    cfg = make_config({"web": [a]})
    cfg["backends"][0]["cookie"] = {"name": "SRV", "mode": "insert"}
    cfg, aport = with_admin(cfg)
    lx = start(lxlb, cfg, aport)
    assert set_state(aport, "web", "A", "drain").status == 200
    assert_unhealthy(healthz(aport), "backend web has no usable server")
    assert get(lx.port, "/").status == 503
    assert get(lx.port, "/", headers={"Cookie": "SRV=A"}).status == 200
    assert set_state(aport, "web", "A", "ready").status == 200
    assert_ok(healthz(aport))


def test_server_down_by_health_checks_and_back(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg = make_config({"web": [a], "api": [b]})
    cfg["backends"][1]["health"] = {"path": "/", "interval": "100ms", "timeout": "300ms",
                                    "rise": 1, "fall": 2}
    cfg, aport = with_admin(cfg)
    start(lxlb, cfg, aport)
    assert_ok(healthz(aport))
    port = b.port
    b.stop()
    assert_unhealthy(wait_status(aport, 503), "backend api has no usable server")
    # A new process on the same port: the checks bring the server back.
    back = socket.socket()
    back.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    back.bind(("127.0.0.1", port))
    back.listen(16)

    def answer():
        while True:
            try:
                c, _ = back.accept()
            except OSError:
                return
            c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            c.close()
    t = threading.Thread(target=answer, daemon=True)
    t.start()
    try:
        assert_ok(wait_status(aport, 200))
    finally:
        back.close()


def test_backend_with_no_server_at_all(backend, lxlb):
    a = backend("A")
    cfg = make_config({"web": [a]})
    cfg["backends"].append({"name": "empty"})
    cfg, aport = with_admin(cfg)
    start(lxlb, cfg, aport)
    assert_unhealthy(healthz(aport), "backend empty has no usable server")


def test_stopping_is_503_while_inflight_requests_finish(backend, lxlb):
    a = backend("A")
    cfg, aport = with_admin(make_config({"web": [a]}))
    cfg["global"] = {"grace": "10s"}
    lx = start(lxlb, cfg, aport)
    assert_ok(healthz(aport))
    result = {}

    def slow():
        with Conn(lx.port, timeout=10) as c:
            c.request("GET", "/slow?ms=1500")
            result["r"] = c.read_response()
    t = threading.Thread(target=slow)
    t.start()
    end = time.monotonic() + 3
    while a.stats()["inflight"] == 0 and time.monotonic() < end:
        time.sleep(0.02)
    assert a.stats()["inflight"] == 1
    lx.signal(signal.SIGTERM)
    end = time.monotonic() + 3
    while not port_refuses(lx.port) and time.monotonic() < end:
        time.sleep(0.02)
    # Listeners closed, one request still in flight: the admin endpoint
    # answers, and says why this balancer must not get the address.
    assert lx.alive()
    assert_unhealthy(healthz(aport), "stopping")
    t.join(10)
    assert result["r"].status == 200
    assert lx.proc.wait(5) == 0


def test_token_rules(backend, lxlb, tmp_path):
    """Loopback with a token: /healthz is public, /stats is not. A bind on
    every interface (a token is then required by the config) keeps /healthz
    behind the token: its answer names backends. A unix socket: public."""
    a = backend("A")
    cfg, aport = with_admin(make_config({"web": [a]}), token="tok")
    start(lxlb, cfg, aport)
    assert_ok(healthz(aport))
    assert api(aport, "GET", "/stats").status == 401

    # A port free on every address (helpers.free_port only asks loopback's
    # 127.0.0.1, and a TIME_WAIT on another 127/8 address blocks 0.0.0.0).
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    port = s.getsockname()[1]
    s.close()
    cfg2, _ = with_admin(make_config({"web": [a]}), token="tok", bind="0.0.0.0:%d" % port)
    start(lxlb, cfg2, port)
    r = healthz(port)
    assert r.status == 401 and r.header("WWW-Authenticate", "").startswith("Bearer"), r
    assert_ok(healthz(port, token="tok"))

    path = str(tmp_path / "admin.sock")
    cfg3, _ = with_admin(make_config({"web": [a]}), bind="unix:" + path)
    lx = lxlb(cfg3)
    end = time.monotonic() + 5
    while not os.path.exists(path) and lx.alive() and time.monotonic() < end:
        time.sleep(0.02)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\nok\n"), data


def test_workers_main_loop_is_the_truth(backend, lxlb):
    """With two event loops the main loop's servers are what /healthz reads;
    a state change through the API shows at once."""
    a = backend("A")
    cfg, aport = with_admin(make_config({"web": [a]}))
    cfg["global"] = {"workers": 2}
    lx = start(lxlb, cfg, aport)
    assert_ok(healthz(aport))
    assert set_state(aport, "web", "A", "maint").status == 200
    assert_unhealthy(healthz(aport), "backend web has no usable server")
    # And every loop agrees: no request is served.
    assert all(get(lx.port, "/").status == 503 for _ in range(6))
    assert set_state(aport, "web", "A", "ready").status == 200
    assert_ok(healthz(aport))
