"""Admin endpoint (SPEC.md "Admin endpoint"): /stats JSON, /metrics in the
Prometheus text format, server state changes through the API, Bearer auth,
and the dashboard page rendered by a real headless browser."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from helpers import Conn, free_port, get, make_config

STATES = ("checking", "up", "down", "drain", "maint")


# ---------------------------------------------------------------- helpers

def with_admin(cfg, token=None, bind=None):
    """cfg plus an admin section; returns (cfg, admin port or None for unix)."""
    port = None
    if bind is None:
        port = free_port()
        bind = "127.0.0.1:%d" % port
    cfg["admin"] = {"bind": bind, "token": token}
    return cfg, port


def api(port, method, path, body=None, token=None, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    return get(port, path, method=method, headers=h, body=body)


def stats(port, token=None):
    r = api(port, "GET", "/stats", token=token)
    assert r.status == 200, r
    assert r.header("Content-Type") == "application/json"
    return r.json()


def set_state(port, backend, server, state, token=None):
    return api(port, "POST", "/backends/%s/servers/%s/state" % (backend, server),
               {"state": state}, token=token)


def server_of(doc, backend, server):
    be = next(b for b in doc["backends"] if b["name"] == backend)
    return next(s for s in be["servers"] if s["name"] == server)


def spread(port, n):
    """X-Backend of n requests, each on a fresh connection."""
    out = []
    for i in range(n):
        r = get(port, "/?i=%d" % i)
        assert r.status == 200, r
        out.append(r.header("X-Backend"))
    return out


# Prometheus text format 0.0.4, strictly: comment lines, then samples
# name{label="value",...} value, with label values escaped.
METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABELS = r"\{(?:[a-zA-Z_][a-zA-Z0-9_]*=%s(?:,[a-zA-Z_][a-zA-Z0-9_]*=%s)*)?\}" % (
    LABEL_VALUE, LABEL_VALUE)
NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+|NaN|[-+]?Inf)"
SAMPLE = re.compile(r"^(%s)(%s)? (%s)$" % (METRIC_NAME, LABELS, NUMBER))
HELP = re.compile(r"^# HELP (%s) \S.*$" % METRIC_NAME)
TYPE = re.compile(r"^# TYPE (%s) (counter|gauge|histogram|summary|untyped)$" % METRIC_NAME)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)=("(?:[^"\\\n]|\\[\\"n])*")')


def parse_metrics(text):
    """{(name, frozenset(labels)): value} and {name: type}; asserts the format."""
    assert text.endswith("\n")
    samples, types, helps, done = {}, {}, set(), set()
    current = None
    for ln in text.rstrip("\n").split("\n"):
        if ln.startswith("# HELP"):
            m = HELP.match(ln)
            assert m, "bad HELP line %r" % ln
            assert m.group(1) not in helps, "HELP twice for %s" % m.group(1)
            helps.add(m.group(1))
            continue
        if ln.startswith("# TYPE"):
            m = TYPE.match(ln)
            assert m, "bad TYPE line %r" % ln
            name = m.group(1)
            assert name in helps and name not in types, "TYPE of %s misplaced" % name
            # A family is written whole: its name never comes back later.
            if current:
                done.add(current)
            assert name not in done, "family %s split" % name
            types[name] = m.group(2)
            current = name
            continue
        m = SAMPLE.match(ln)
        assert m, "bad sample line %r" % ln
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = name
        if types.get(current) == "histogram" and name in (
                current + "_bucket", current + "_sum", current + "_count"):
            family = current
        assert family == current, "sample %s outside its family %s" % (name, current)
        lab = frozenset((k, json.loads(v)) for k, v in LABEL.findall(labels))
        assert (name, lab) not in samples, "duplicate series %r" % ln
        samples[(name, lab)] = float(value)
    for name, t in types.items():
        if t == "counter":
            assert name.endswith("_total"), "counter %s without _total" % name
        else:
            assert not name.endswith("_total"), "%s %s ends in _total" % (t, name)
    return samples, types


def series(samples, name, **labels):
    want = set(labels.items())
    return {lab: v for (n, lab), v in samples.items() if n == name and want <= set(lab)}


def one(samples, name, **labels):
    found = series(samples, name, **labels)
    assert len(found) == 1, (name, labels, found)
    return next(iter(found.values()))


# ---------------------------------------------------------------- /stats

def test_stats_shape_and_values_after_known_traffic(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg, aport = with_admin(make_config({"web": [a, b]}))
    lx = lxlb(cfg)
    for _ in range(10):
        assert get(lx.port, "/").status == 200
    d = stats(aport)
    assert set(d) >= {"version", "pid", "uptime_s", "frontends", "backends"}
    assert d["pid"] == lx.proc.pid
    assert isinstance(d["uptime_s"], int) and 0 <= d["uptime_s"] < 60
    assert re.match(r"^\d+\.\d+", d["version"])

    fe, = d["frontends"]
    assert fe["name"] == "http" and fe["binds"] == ["127.0.0.1:%d" % lx.port]
    # The harness's readiness probe is one more connection, with no request.
    assert fe["requests"] == 10 and fe["connections_total"] in (10, 11)
    assert fe["errors"] == 0 and fe["connections"] >= 0
    assert fe["bytes_in"] > 0 and fe["bytes_out"] > 0

    be, = d["backends"]
    assert be["name"] == "web" and be["balance"] == "roundrobin"
    assert be["requests"] == 10 and be["no_server"] == 0
    assert [s["name"] for s in be["servers"]] == ["A", "B"]
    for s, want in zip(be["servers"], (a, b)):
        assert s["address"] == want.address
        assert s["source"] == "static"
        assert (s["state"], s["health"], s["admin"]) == ("up", "up", "ready")
        assert s["requests"] == 5 and s["failures"] == 0 and s["active"] == 0
        assert s["weight"] == 1
        assert s["bytes_in"] > 0
        assert s["time_in_state_s"] >= 0 and s["state_since_ms"] > 0
        assert "last_check" in s and "idle_pooled" in s
    assert sum(s["requests"] for s in be["servers"]) == 10
    assert a.stats()["requests"] == 5 and b.stats()["requests"] == 5


def test_stats_counts_failures_and_no_server(backend, lxlb):
    from helpers import closed_port
    a = backend("A")
    dead = "127.0.0.1:%d" % closed_port()
    cfg, aport = with_admin(make_config({"web": [(a, {"name": "A"}), (dead, {"name": "dead"})]}))
    lx = lxlb(cfg)
    for _ in range(4):
        get(lx.port, "/")
    dead_s = server_of(stats(aport), "web", "dead")
    assert dead_s["failures"] >= 1
    # With no usable server left, requests are answered 503 and counted.
    assert set_state(aport, "web", "A", "maint").status == 200
    assert set_state(aport, "web", "dead", "maint").status == 200
    assert get(lx.port, "/").status == 503
    d = stats(aport)
    assert d["backends"][0]["no_server"] >= 1
    assert d["frontends"][0]["errors"] >= 1


# ---------------------------------------------------------------- /metrics

def promtool_check(text):
    """promtool check metrics (Debian's prometheus package) when installed."""
    tool = shutil.which("promtool")
    if not tool:
        return
    p = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=20)
    assert p.returncode == 0, p.stdout.decode() + p.stderr.decode()


def test_metrics_format_values_and_counters_only_grow(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg, aport = with_admin(make_config({"web": [a, b]}))
    lx = lxlb(cfg)
    for _ in range(6):
        get(lx.port, "/")
    r = api(aport, "GET", "/metrics")
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/plain; version=0.0.4")
    promtool_check(r.text)
    first, types = parse_metrics(r.text)

    for name in ("lxlb_frontend_requests_total", "lxlb_frontend_connections_total",
                 "lxlb_frontend_errors_total", "lxlb_backend_requests_total",
                 "lxlb_server_requests_total", "lxlb_server_failures_total"):
        assert types[name] == "counter", name
    for name in ("lxlb_server_up", "lxlb_server_state", "lxlb_server_active_connections",
                 "lxlb_frontend_current_connections"):
        assert types[name] == "gauge", name
    assert one(first, "lxlb_frontend_requests_total", frontend="http") == 6
    assert one(first, "lxlb_backend_requests_total", backend="web") == 6
    # Response times: a histogram whose buckets only grow towards +Inf, which
    # holds every response.
    assert types["lxlb_backend_response_seconds"] == "histogram"
    buckets = sorted(((float(dict(k)["le"]), v) for k, v in
                      series(first, "lxlb_backend_response_seconds_bucket", backend="web").items()))
    assert len(buckets) == 15 and buckets[-1] == (float("inf"), 6)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))
    assert one(first, "lxlb_backend_response_seconds_count", backend="web") == 6
    assert 0 < one(first, "lxlb_backend_response_seconds_sum", backend="web") < 6
    for s in ("A", "B"):
        lab = dict(backend="web", server=s, source="static")
        assert one(first, "lxlb_server_requests_total", **lab) == 3
        assert one(first, "lxlb_server_up", **lab) == 1
        assert one(first, "lxlb_server_active_connections", **lab) == 0
        st = series(first, "lxlb_server_state", **lab)
        assert {dict(k)["state"]: v for k, v in st.items()} == {
            "checking": 0, "up": 1, "down": 0, "drain": 0, "maint": 0}

    for _ in range(4):
        get(lx.port, "/")
    assert set_state(aport, "web", "B", "drain").status == 200
    second, _ = parse_metrics(api(aport, "GET", "/metrics").text)
    for key, v in first.items():
        if types.get(key[0]) == "counter":
            assert second[key] >= v, (key, v, second[key])
    assert one(second, "lxlb_frontend_requests_total", frontend="http") == 10
    assert sum(series(second, "lxlb_server_requests_total", backend="web").values()) == 10
    lab = dict(backend="web", server="B", source="static")
    assert one(second, "lxlb_server_up", **lab) == 0
    assert one(second, "lxlb_server_state", state="drain", **lab) == 1
    assert one(second, "lxlb_server_state", state="up", **lab) == 0


# ---------------------------------------------------------------- routes

ROUTES = [
    {"host": "*.example.com", "methods": ["GET", "HEAD"], "backend": "web"},
    {"path_prefix": "/api/", "backend": "api"},
    {"host": "old.example.com", "redirect": {"location": "https://new.example.com",
                                             "code": 308}},
]


def routes_config(backend, routes):
    a, b = backend("A"), backend("B")
    cfg, aport = with_admin(make_config({"web": [a], "api": [b]}))
    cfg["frontends"][0]["routes"] = routes
    return cfg, aport


def test_routes_listed_in_stats_and_metrics(backend, lxlb):
    cfg, aport = routes_config(backend, ROUTES)
    lxlb(cfg)
    fe, = stats(aport)["frontends"]
    assert fe["accept_proxy"] is False
    assert [r["index"] for r in fe["routes"]] == [0, 1, 2]
    r0, r1, r2 = fe["routes"]
    assert r0["host"] == "*.example.com" and r0["path_prefix"] is None
    assert r0["methods"] == ["GET", "HEAD"] and r0["backend"] == "web"
    assert r0["redirect"] is None and r0["requests"] >= 0
    assert r1["host"] is None and r1["path_prefix"] == "/api/" and r1["methods"] is None
    assert r2["backend"] is None
    assert r2["redirect"] == {"code": 308, "location": "https://new.example.com",
                              "keep_path": True}
    r = api(aport, "GET", "/metrics")
    promtool_check(r.text)
    samples, types = parse_metrics(r.text)
    assert types["lxlb_route_requests_total"] == "counter"
    found = series(samples, "lxlb_route_requests_total", frontend="http")
    assert len(found) == 3
    one(samples, "lxlb_route_requests_total", frontend="http", route="0",
        host="*.example.com", path_prefix="", target="web")
    one(samples, "lxlb_route_requests_total", frontend="http", route="2",
        host="old.example.com", path_prefix="", target="redirect")


def test_routes_without_default_backend_start_and_reload(backend, lxlb):
    cfg, aport = routes_config(backend, ROUTES)
    del cfg["frontends"][0]["default_backend"]
    lx = lxlb(cfg)
    fe, = stats(aport)["frontends"]
    assert fe["backend"] is None and len(fe["routes"]) == 3
    with open(lx.conf_path, "w") as f:
        json.dump(cfg, f)
    lx.signal(signal.SIGHUP)
    assert "reload done" in lx.wait_log(lambda t: "reload done" in t, 5)
    assert lx.alive() and stats(aport)["frontends"][0]["backend"] is None


def test_routes_follow_a_reload(backend, lxlb):
    cfg, aport = routes_config(backend, ROUTES)
    lx = lxlb(cfg)
    cfg["frontends"][0]["routes"] = [{"path_prefix": "/v2/", "backend": "api"}]
    with open(lx.conf_path, "w") as f:
        json.dump(cfg, f)
    lx.signal(signal.SIGHUP)
    lx.wait_log(lambda t: "reload done" in t, 5)
    fe, = stats(aport)["frontends"]
    assert [(r["path_prefix"], r["backend"]) for r in fe["routes"]] == [("/v2/", "api")]
    assert lx.alive()
    lx.assert_serving()


# ---------------------------------------------------------------- state changes

def test_maint_drain_ready_change_routing(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg, aport = with_admin(make_config({"web": [a, b]}))
    lx = lxlb(cfg)
    assert set(spread(lx.port, 4)) == {"A", "B"}

    r = set_state(aport, "web", "A", "maint")
    assert r.status == 200 and r.header("Content-Type") == "application/json"
    body = r.json()
    assert (body["name"], body["state"], body["admin"], body["health"]) == \
        ("A", "maint", "maint", "up")
    before = a.stats()["requests"]
    assert spread(lx.port, 6) == ["B"] * 6
    assert a.stats()["requests"] == before
    assert server_of(stats(aport), "web", "A")["state"] == "maint"
    assert "admin state maint" in lx.log() and "admin API" in lx.log()

    # Drain: no new clients (these carry no sticky cookie).
    assert set_state(aport, "web", "A", "drain").json()["state"] == "drain"
    assert spread(lx.port, 4) == ["B"] * 4
    assert a.stats()["requests"] == before

    r = set_state(aport, "web", "A", "ready")
    assert r.status == 200 and r.json()["state"] == "up" and r.json()["admin"] == "ready"
    assert set(spread(lx.port, 4)) == {"A", "B"}
    assert a.stats()["requests"] > before


def test_drain_keeps_sticky_clients_maint_does_not(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg = make_config({"web": [a, b]})
    cfg["backends"][0]["cookie"] = {"name": "SRV", "mode": "insert"}
    cfg, aport = with_admin(cfg)
    lx = lxlb(cfg)
    r = get(lx.port, "/")
    if not r.header("Set-Cookie"):
        pytest.skip("cookie stickiness is not in this build yet")
    assert set_state(aport, "web", "A", "drain").status == 200
    sticky = {"Cookie": "SRV=A"}
    assert [get(lx.port, "/", headers=sticky).header("X-Backend") for _ in range(3)] == ["A"] * 3
    assert spread(lx.port, 3) == ["B"] * 3
    assert set_state(aport, "web", "A", "maint").status == 200
    assert get(lx.port, "/", headers=sticky).header("X-Backend") == "B"


def test_bad_requests_are_refused_and_harmless(backend, lxlb):
    a = backend("A")
    cfg, aport = with_admin(make_config({"web": [a]}))
    lx = lxlb(cfg)
    path = "/backends/web/servers/A/state"
    cases = [
        ("POST", path, "not json", 400),
        ("POST", path, "", 400),
        ("POST", path, "[\"drain\"]", 400),
        ("POST", path, {"state": "down"}, 400),
        ("POST", path, {"state": 1}, 400),
        ("POST", path, {"state": "drain", "extra": 1}, 400),
        ("POST", path, '{"state": "drain", "state": "maint"}', 400),
        ("POST", "/backends/nope/servers/A/state", {"state": "drain"}, 404),
        ("POST", "/backends/web/servers/nope/state", {"state": "drain"}, 404),
        ("POST", "/backends/web/servers/A", {"state": "drain"}, 404),
        ("POST", path + "/x", {"state": "drain"}, 404),
        ("GET", path, None, 405),
        ("PUT", path, {"state": "drain"}, 405),
        ("POST", "/stats", {}, 405),
        ("DELETE", "/metrics", None, 405),
        ("POST", "/", "x", 405),
        ("GET", "/nope", None, 404),
        ("GET", "/stats/", None, 404),
        ("POST", "/backends/web/servers/%00/state", {"state": "drain"}, 404),
    ]
    for method, target, body, want in cases:
        r = api(aport, method, target, body)
        assert r.status == want, (method, target, body, r)
        if want != 405 or method != "POST" or target != "/":
            assert "error" in r.json(), r
    assert api(aport, "GET", path).header("Allow") == "POST"
    assert api(aport, "POST", "/stats", {}).header("Allow") == "GET, HEAD"
    assert server_of(stats(aport), "web", "A")["state"] == "up"

    # Percent-encoded names are decoded.
    assert set_state(aport, "web", "%41", "drain").json()["state"] == "drain"
    assert set_state(aport, "web", "A", "ready").status == 200

    # Too large: body and headers are bounded.
    r = api(aport, "POST", path, "x" * 100000)
    assert r.status == 413, r
    with Conn(aport) as c:
        c.send("GET /stats HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n" % ("a" * 20000))
        data = c.read_all(3)
    assert data == b"" or re.match(rb"HTTP/1\.[01] 4\d\d", data), data[:100]
    # Garbage and half requests close the connection, nothing else.
    for junk in (b"\x00\xff\r\n\r\n", b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                 b"POST /backends/web/servers/A/state HTTP/1.1\r\nContent-Length: -1\r\n\r\n"):
        with Conn(aport) as c:
            c.send(junk)
            c.read_all(2)
    with Conn(aport) as c:
        c.send(b"GET /stats HTTP/1.1\r\nHost: x\r\n")  # and hang up mid-head

    # Keep-alive: several requests on one admin connection.
    with Conn(aport) as c:
        for target in ("/stats", "/metrics", "/nope", "/stats"):
            c.request("GET", target)
            assert c.read_response().status in (200, 404)
    assert lx.alive()
    lx.assert_serving()
    assert stats(aport)["frontends"][0]["requests"] >= 1


def test_head_requests(backend, lxlb):
    a = backend("A")
    cfg, aport = with_admin(make_config({"web": [a]}))
    lxlb(cfg)
    for target in ("/", "/stats", "/metrics"):
        r = api(aport, "HEAD", target)
        assert r.status == 200 and r.body == b"", (target, r)


# ---------------------------------------------------------------- auth

def test_token_required_when_set(backend, lxlb):
    a = backend("A")
    token = "s3cret-Token_42"
    cfg, aport = with_admin(make_config({"web": [a]}), token=token)
    lxlb(cfg)
    for method, target, body in (("GET", "/stats", None), ("GET", "/metrics", None),
                                 ("POST", "/backends/web/servers/A/state", {"state": "maint"}),
                                 ("GET", "/nope", None)):
        for hdrs in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer "},
                     {"Authorization": "Bearer " + token + "x"},
                     {"Authorization": "Bearer " + token[:-1]},
                     {"Authorization": "Basic " + token}, {"Authorization": token}):
            r = api(aport, method, target, body, headers=hdrs)
            assert r.status == 401, (method, target, hdrs, r)
            assert r.header("WWW-Authenticate", "").startswith("Bearer")
    assert stats(aport, token)["backends"][0]["servers"][0]["state"] == "up"
    assert api(aport, "GET", "/stats", headers={"Authorization": "bearer  %s " % token}).status == 200
    assert api(aport, "GET", "/metrics", token=token).status == 200
    assert api(aport, "GET", "/nope", token=token).status == 404
    assert set_state(aport, "web", "A", "maint", token=token).status == 200
    assert stats(aport, token)["backends"][0]["servers"][0]["state"] == "maint"
    # The dashboard shell holds no figures: it loads without the token and
    # then asks /stats with it (from ?token= or a prompt).
    r = api(aport, "GET", "/")
    assert r.status == 200 and b"<html" in r.body


def test_admin_on_unix_socket(backend, lxlb, tmp_path):
    a = backend("A")
    path = str(tmp_path / "admin.sock")
    cfg, _ = with_admin(make_config({"web": [a]}), bind="unix:" + path)
    lx = lxlb(cfg)
    get(lx.port, "/")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    s.connect(path)
    s.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(body)["frontends"][0]["requests"] == 1
    lx.stop()


# ---------------------------------------------------------------- dashboard

def chromium():
    """Debian's chromium, installed on first use when we may."""
    path = shutil.which("chromium")
    if path:
        return path
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed (tests/deps.sh installs it)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
                   env=env, capture_output=True, timeout=600)
    path = shutil.which("chromium")
    if not path:
        pytest.skip("chromium could not be installed")
    return path


def run_chromium(url, profile, *extra):
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--no-first-run", "--disable-dev-shm-usage", "--user-data-dir=" + str(profile),
           "--virtual-time-budget=3000"] + list(extra) + [url]
    return subprocess.run(cmd, capture_output=True, timeout=60)


def test_dashboard_in_headless_chromium(backend, lxlb, tmp_path):
    a, b, c = backend("A"), backend("B"), backend("C")
    other = backend("D")
    cfg, aport = with_admin(make_config({"web": [a, b, c], "api": [other]}), token="tok")
    lx = lxlb(cfg)
    for _ in range(30):
        get(lx.port, "/")
    assert set_state(aport, "web", "B", "drain", token="tok").status == 200
    assert set_state(aport, "web", "C", "maint", token="tok").status == 200
    want = {"web/A": "up", "web/B": "drain", "web/C": "maint", "api/D": "up"}

    p = run_chromium("http://127.0.0.1:%d/?token=tok" % aport, tmp_path / "profile",
                     "--dump-dom")
    dom = p.stdout.decode("utf-8", "replace")
    assert "<table" in dom, p.stderr.decode()[-2000:]
    rows = dict(re.findall(r'<tr data-server="([^"]+)" data-state="([^"]+)"', dom))
    assert rows == want, dom[-3000:]
    for key, state in want.items():
        assert re.search(r'data-server="%s".*?<span class="st st-%s">%s</span>' % (
            re.escape(key), state, state), dom), key
    assert re.search(r'<span id="status"[^>]*>updated ', dom), dom[:2000]
    assert "Frontends" in dom and ">http<" in dom

    # Load while the screenshot is taken, so the page shows live rates.
    stop = threading.Event()

    def load():
        while not stop.is_set():
            get(lx.port, "/")
            stop.wait(0.01)
    t = threading.Thread(target=load, daemon=True)
    t.start()
    shot = tmp_path / "dash.png"
    try:
        run_chromium("http://127.0.0.1:%d/?token=tok" % aport, tmp_path / "profile2",
                     "--screenshot=%s" % shot, "--window-size=1200,800", "--hide-scrollbars")
    finally:
        stop.set()
        t.join()
    assert shot.exists() and shot.stat().st_size > 10000
    keep = os.environ.get("LXLB_DASHBOARD_PNG")
    if keep:
        shutil.copy(shot, keep)
    assert lx.alive()


def test_history_and_dashboard_graphs(backend, lxlb, tmp_path):
    """/history holds the last minutes (requests/s, p99, usable servers per
    backend, sampled every 2 s); the dashboard draws them as graphs."""
    a, b = backend("A"), backend("B")
    cfg, aport = with_admin(make_config({"web": [a, b]}))
    lx = lxlb(cfg)
    assert api(aport, "POST", "/history").status == 405
    deadline = time.time() + 8
    while time.time() < deadline:
        for _ in range(20):
            get(lx.port, "/")
        h = api(aport, "GET", "/history").json()
        web = h["backends"].get("web", {})
        if any(v for v in web.get("rps", []) if v):
            break
        time.sleep(0.3)
    assert h["step_ms"] == 2000 and len(h["t"]) >= 2
    assert all(x < y for x, y in zip(h["t"], h["t"][1:]))
    for key in ("rps", "p99_ms", "servers_usable"):
        assert len(web[key]) == len(h["t"]), key
    assert max(v for v in web["rps"] if v is not None) > 0
    assert max(v for v in web["p99_ms"] if v is not None) > 0
    assert web["servers_usable"][-1] == 2
    assert h["containers"] == {}  # static servers have no container
    # The same p99 as /stats' histogram would give: within its buckets.
    lat = stats(aport)["backends"][0]["latency"]
    assert len(lat["counts"]) == len(lat["le_ms"]) + 1 and lat["count"] >= 20

    p = run_chromium("http://127.0.0.1:%d/" % aport, tmp_path / "profile", "--dump-dom")
    dom = p.stdout.decode("utf-8", "replace")
    m = re.search(r'<div class="graphs" data-graphs="web">(.*?)<table', dom, re.S)
    assert m, dom[-3000:]
    assert m.group(1).count("<polyline") >= 2 and "req/s" in m.group(1)
    assert "p99 response time" in dom
    assert lx.alive()
