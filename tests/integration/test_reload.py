"""SIGHUP reload: the new configuration applies without a failed request, a bad
one changes nothing, what stays keeps its state, what goes finishes its work."""
import json
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from helpers import Conn, closed_port, free_port, get, is_asan, make_config, port_refuses


def rewrite(lx, config):
    """Write a new config to lx's file and SIGHUP it; return the number of
    reload outcomes logged before, so the caller can wait for the next one."""
    before = reload_outcomes(lx.log())
    with open(lx.conf_path, "w") as f:
        json.dump(config, f)
    lx.signal(signal.SIGHUP)
    return before


def reload_outcomes(text):
    return len(re.findall(r"reload (done|rejected)", text))


def wait_reload(lx, before, timeout=5.0):
    text = lx.wait_log(lambda t: reload_outcomes(t) > before, timeout)
    assert reload_outcomes(text) > before, "no reload outcome logged:\n" + text[-3000:]
    return text


def names(port, n):
    return [get(port, "/").body.decode() for _ in range(n)]


def test_reload_swaps_servers(backend, lxlb):
    a, b, c = backend("A"), backend("B"), backend("C")
    port = free_port()
    lx = lxlb(make_config({"b": [a, b]}, port=port))
    assert sorted(set(names(port, 4))) == ["backend A", "backend B"]
    before = rewrite(lx, make_config({"b": [b, c]}, port=port))
    text = wait_reload(lx, before)
    assert "reload done" in text
    assert re.search(r"servers \+1 -1", text), text
    assert sorted(set(names(port, 6))) == ["backend B", "backend C"]


def test_reloads_under_load_lose_nothing(backend, lxlb):
    a, b, c = backend("A"), backend("B"), backend("C")
    port = free_port()
    sets = [make_config({"b": [a, b]}, port=port), make_config({"b": [b, c]}, port=port)]
    lx = lxlb(sets[0])
    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d7s", "http://127.0.0.1:%d/" % port],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(0.5)
    for i in range(10):  # 10 reloads in 6 s, alternating server sets
        before = rewrite(lx, sets[(i + 1) % 2])
        wait_reload(lx, before)
        time.sleep(0.5)
    out = wrk.communicate(timeout=30)[0].decode()
    assert "requests in" in out, out
    assert "Socket errors" not in out, out
    assert "Non-2xx" not in out, out
    assert len(re.findall(r"reload done", lx.log())) == 10
    lx.assert_serving()


def test_reload_adds_and_removes_listeners_and_backends(backend, lxlb):
    a, b = backend("A"), backend("B")
    p1, p2, p3 = free_port(), free_port(), free_port()
    lx = lxlb(make_config({"one": [a]}, port=p1))
    new = {
        "frontends": [
            {"name": "http", "bind": ["127.0.0.1:%d" % p2], "default_backend": "one"},
            {"name": "other", "bind": ["127.0.0.1:%d" % p3], "default_backend": "two"},
        ],
        "backends": [
            {"name": "one", "servers": [{"name": "A", "address": a.address}]},
            {"name": "two", "servers": [{"name": "B", "address": b.address}]},
        ],
    }
    text = wait_reload(lx, rewrite(lx, new))
    assert "reload done" in text, text
    assert get(p2, "/").body == b"backend A"
    assert get(p3, "/").body == b"backend B"
    assert port_refuses(p1)


def test_kept_listener_never_refuses(backend, lxlb):
    """A listener that stays keeps its socket: connects during reloads all succeed."""
    a, b = backend("A"), backend("B")
    port = free_port()
    lx = lxlb(make_config({"b": [a]}, port=port))
    refused = []
    stop = threading.Event()

    def connect_loop():
        while not stop.is_set():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError as e:
                refused.append(e)

    t = threading.Thread(target=connect_loop)
    t.start()
    try:
        for i in range(5):
            wait_reload(lx, rewrite(lx, make_config({"b": [(a, b)[i % 2]]}, port=port)))
    finally:
        stop.set()
        t.join()
    assert refused == []


def test_bind_conflict_rejects_whole_reload(backend, lxlb):
    a, b = backend("A"), backend("B")
    port = free_port()
    lx = lxlb(make_config({"b": [a]}, port=port))
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    try:
        cfg = make_config({"b": [b]}, port=port)
        cfg["frontends"][0]["bind"].append("127.0.0.1:%d" % taken)
        text = wait_reload(lx, rewrite(lx, cfg))
        assert "reload rejected" in text
        assert "127.0.0.1:%d" % taken in text
        # the old configuration serves, unchanged
        assert names(port, 3) == ["backend A"] * 3
    finally:
        squatter.close()


def test_rejected_reload_under_load_loses_nothing(backend, lxlb):
    """A reload rejected half-way through its first step (its first new
    address binds, its second is taken), five times under load: not one
    request fails, every answer still comes from the old server set, and the
    address it had bound is let go again."""
    a, b = backend("A"), backend("B")
    port, fresh = free_port(), free_port()
    lx = lxlb(make_config({"b": [a]}, port=port))
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    cfg = make_config({"b": [b]}, port=port)
    cfg["frontends"][0]["bind"] += ["127.0.0.1:%d" % fresh, "127.0.0.1:%d" % taken]
    cfg["backends"].append({"name": "extra", "servers": [{"name": "X", "address": b.address}]})
    bodies, stop = [], threading.Event()

    def check_loop():
        while not stop.is_set():
            bodies.append(get(port, "/").body)

    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d5s", "http://127.0.0.1:%d/" % port],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    checker = threading.Thread(target=check_loop)
    checker.start()
    try:
        time.sleep(0.5)
        for _ in range(5):
            text = wait_reload(lx, rewrite(lx, cfg))
            time.sleep(0.5)
    finally:
        stop.set()
        checker.join()
        squatter.close()
    out = wrk.communicate(timeout=30)[0].decode()
    assert "requests in" in out, out
    assert "Socket errors" not in out, out
    assert "Non-2xx" not in out, out
    assert "reload done" not in text
    assert len(re.findall(r"reload rejected: frontend http: cannot listen on 127\.0\.0\.1:%d: "
                          r"Address already in use" % taken, text)) == 5, text[-3000:]
    assert len(bodies) > 20 and set(bodies) == {b"backend A"}, set(bodies)
    assert port_refuses(fresh)
    lx.assert_serving()


@pytest.mark.parametrize("content,expect", [
    ('{"frontends": [', r"syntax error"),
    (None, r"\$\.backends\[0\]\.servers\[0\]\.adress: unknown key"),
])
def test_invalid_reload_keeps_old_config(backend, lxlb, content, expect):
    a = backend("A")
    port = free_port()
    lx = lxlb(make_config({"b": [a]}, port=port))
    before = reload_outcomes(lx.log())
    if content is None:
        cfg = make_config({"b": [a]}, port=port)
        cfg["backends"][0]["servers"][0]["adress"] = "x"
        content = json.dumps(cfg)
    with open(lx.conf_path, "w") as f:
        f.write(content)
    lx.signal(signal.SIGHUP)
    text = wait_reload(lx, before)
    assert "reload rejected" in text
    assert re.search(expect, text), text
    assert lx.conf_path in text  # the message names the file
    lx.assert_serving()


def test_kept_server_keeps_pooled_connections(backend, lxlb):
    a = backend("A")
    port = free_port()
    lx = lxlb(make_config({"b": [a]}, port=port))
    for _ in range(5):
        get(port, "/")
    conns = a.stats()["connections"]
    cfg = make_config({"b": [a]}, port=port)
    cfg["frontends"][0]["set_headers"] = {"X-Reloaded": "yes"}
    wait_reload(lx, rewrite(lx, cfg))
    for _ in range(5):
        r = get(port, "/headers")
        assert ["X-Reloaded", "yes"] in r.json()["headers"], r.body
    # the server was kept: its pooled connection was reused, not reopened
    assert a.stats()["connections"] == conns


def test_changed_address_is_a_new_server(backend, lxlb):
    a, b = backend("A"), backend("B")
    port = free_port()
    lx = lxlb(make_config({"b": [(a, {"name": "s"})]}, port=port))
    assert get(port, "/").body == b"backend A"
    text = wait_reload(lx, rewrite(lx, make_config({"b": [(b, {"name": "s"})]}, port=port)))
    assert "server b/s removed (new address)" in text
    assert names(port, 3) == ["backend B"] * 3


def test_in_flight_request_finishes_on_removed_server(backend, lxlb):
    a, b = backend("A"), backend("B")
    port = free_port()
    lx = lxlb(make_config({"b": [a]}, port=port))
    with Conn(port, timeout=10) as c:
        c.request("GET", "/slow?ms=1200")
        time.sleep(0.2)
        wait_reload(lx, rewrite(lx, make_config({"b": [b]}, port=port)))
        r = c.read_response()
        assert r.status == 200 and r.body == b"backend A slow"
    assert names(port, 2) == ["backend B"] * 2


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_memory_flat_over_200_reloads(backend, lxlb):
    a, b = backend("A"), backend("B")
    port = free_port()
    sets = [make_config({"b": [a, b]}, port=port), make_config({"b": [b]}, port=port)]
    lx = lxlb(sets[0])
    for i in range(20):  # warm up allocator caches
        wait_reload(lx, rewrite(lx, sets[i % 2]))
        get(port, "/")
    start = rss_kb(lx.proc.pid)
    for i in range(200):
        wait_reload(lx, rewrite(lx, sets[i % 2]))
        get(port, "/")
    grown = rss_kb(lx.proc.pid) - start
    limit = 8192 if is_asan(lx.proc.pid) else 2048
    assert grown < limit, "RSS grew by %d KiB over 200 reloads" % grown
    lx.assert_serving()


def admin_stats(port):
    r = get(port, "/stats")
    assert r.status == 200, r
    return {s["name"]: s for b in r.json()["backends"] for s in b["servers"]}


def test_health_state_and_counters_survive_reload(backend, lxlb):
    """A down server stays down (no fresh 'up' as a static server would start),
    an up one is not re-checked from scratch, counters keep counting."""
    a = backend("A")
    dead = "127.0.0.1:%d" % closed_port()
    port, aport = free_port(), free_port()

    def cfg(extra_header):
        c = make_config({"b": [a, (dead, {"name": "D"})]}, port=port)
        c["backends"][0]["health"] = {"path": "/", "interval": "100ms", "fall": 2, "rise": 2}
        c["admin"] = {"bind": "127.0.0.1:%d" % aport}
        c["frontends"][0]["set_headers"] = {"X-Gen": extra_header}
        return c

    lx = lxlb(cfg("1"))
    lx.wait_log(lambda t: "server b/D is down" in t, 3)
    for _ in range(10):
        assert get(port, "/").body == b"backend A"
    before = admin_stats(aport)
    assert before["D"]["state"] == "down" and before["A"]["state"] == "up"
    assert before["A"]["requests"] >= 10
    wait_reload(lx, rewrite(lx, cfg("2")))
    after = admin_stats(aport)
    assert after["D"]["state"] == "down", after["D"]
    assert after["A"]["state"] == "up"
    assert after["A"]["requests"] >= before["A"]["requests"]
    assert after["A"]["state_since_ms"] == before["A"]["state_since_ms"]
    # no server went through a new up/down cycle because of the reload
    text = lx.log()
    assert text.count("server b/D is down") == 1, text[-2000:]
    assert ["X-Gen", "2"] in get(port, "/headers").json()["headers"]
