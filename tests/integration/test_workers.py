"""global.workers > 1: one event loop per thread (lb/worker.h).

Each worker accepts on its own SO_REUSEPORT socket and serves on its own
replica of the proxy; the main loop owns health, admin, reload and discovery
and publishes every server change to the others. These tests spread requests
over many fresh connections (the kernel hashes them over the workers) and
check that what an operator does or sees holds for every loop."""
import collections
import concurrent.futures
import json
import os
import signal
import subprocess
import time
import urllib.request

from helpers import get, make_config, free_port

WORKERS = {"workers": 2}


def with_admin(cfg):
    port = free_port()
    cfg["admin"] = {"bind": "127.0.0.1:%d" % port}
    cfg["global"] = dict(cfg.get("global", {}), **WORKERS)
    return cfg, port


def stats(aport):
    with urllib.request.urlopen("http://127.0.0.1:%d/stats" % aport, timeout=5) as r:
        return json.loads(r.read())


def set_state(aport, be, srv, state):
    req = urllib.request.Request(
        "http://127.0.0.1:%d/backends/%s/servers/%s/state" % (aport, be, srv),
        data=json.dumps({"state": state}).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200


def spread(port, n, path="/", par=16):
    """n requests, each on a fresh connection, par at a time: both workers
    get some. Returns the responses."""
    with concurrent.futures.ThreadPoolExecutor(par) as ex:
        return list(ex.map(lambda i: get(port, "%s%si=%d" % (path, "&" if "?" in path else "?", i)),
                           range(n)))


def backends_of(resps):
    assert all(r.status == 200 for r in resps), [r.status for r in resps if r.status != 200]
    return collections.Counter(r.header("X-Backend") for r in resps)


def thread_cpu_ns(pid):
    """{tid: ns on CPU} for every thread of pid (schedstat: ns, not ticks)."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
            out[int(tid)] = int(f.read().split()[0])
    return out


def test_every_worker_listens_and_serves(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg, _ = with_admin(make_config({"web": [a, b]}))
    lx = lxlb(cfg)
    assert "2 workers serving" in lx.wait_log(lambda t: "workers serving" in t)
    # One listening socket per worker on the same address.
    ss = subprocess.run(["ss", "-Hltn", "sport = :%d" % lx.port], capture_output=True,
                        text=True, check=True).stdout
    assert len(ss.strip().splitlines()) == 2, ss
    before = thread_cpu_ns(lx.proc.pid)
    assert len(before) == 2, before  # the main loop and one more: no other thread idles
    resps = spread(lx.port, 600, par=24)
    assert sum(backends_of(resps).values()) == 600
    after = thread_cpu_ns(lx.proc.pid)
    used = {t: after[t] - before.get(t, 0) for t in after}
    total = sum(used.values())
    # The kernel spreads connections over both sockets: each loop did real work.
    assert all(u > 0.2 * total for u in used.values()), used


def test_counters_add_up_over_workers(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg, aport = with_admin(make_config({"web": [a, b]}))
    lx = lxlb(cfg)
    seen = backends_of(spread(lx.port, 300))
    d = stats(aport)
    fe, be = d["frontends"][0], d["backends"][0]
    # (+1: the harness probes the port once at start)
    assert fe["requests"] == 300 and fe["connections_total"] in (300, 301)
    assert be["requests"] == 300
    srv = {s["name"]: s for s in be["servers"]}
    assert {n: s["requests"] for n, s in srv.items()} == dict(seen)
    assert sum(s["bytes_in"] for s in srv.values()) > 0
    # Gauges come back to zero once every client has gone.
    end = time.monotonic() + 3
    while time.monotonic() < end and (d["connections"] or fe["connections"]):
        time.sleep(0.05)
        d = stats(aport)
        fe = d["frontends"][0]
    assert d["connections"] == 0 and fe["connections"] == 0
    assert all(s["active"] == 0 for s in d["backends"][0]["servers"])


def test_admin_state_reaches_every_worker(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg, aport = with_admin(make_config({"web": [a, b]}))
    lx = lxlb(cfg)
    assert set(backends_of(spread(lx.port, 40))) == {"A", "B"}
    set_state(aport, "web", "A", "maint")
    time.sleep(0.1)  # published to the other loop as a message
    assert backends_of(spread(lx.port, 80)) == {"B": 80}
    set_state(aport, "web", "A", "ready")
    time.sleep(0.1)
    assert backends_of(spread(lx.port, 80))["A"] > 20


def test_reload_reaches_every_worker(backend, lxlb):
    a, b, c = backend("A"), backend("B"), backend("C")
    cfg, aport = with_admin(make_config({"web": [a, b]}))
    lx = lxlb(cfg)
    assert set(backends_of(spread(lx.port, 20))) == {"A", "B"}
    cfg["backends"][0]["servers"] = [
        {"name": "B", "address": b.address},
        {"name": "C", "address": c.address, "weight": 10}]
    with open(lx.conf_path, "w") as f:
        json.dump(cfg, f)
    lx.signal(signal.SIGHUP)
    lx.wait_log(lambda t: "reload done" in t)
    time.sleep(0.2)
    seen = backends_of(spread(lx.port, 110))
    # Had one loop missed the reload, A would still answer there and C would
    # get well under its 10/11 share.
    assert "A" not in seen, seen
    assert seen["C"] >= 85, seen
    assert [s["name"] for s in stats(aport)["backends"][0]["servers"]] == ["B", "C"]


def test_failures_seen_by_any_worker_mark_the_server_down(backend, lxlb):
    a, b = backend("A"), backend("B")
    cfg, aport = with_admin(make_config({"web": [a, b]}))
    # Checks too rare to matter: only real traffic can notice A is gone.
    cfg["backends"][0]["health"] = {"path": "/", "interval": "60s", "fall": 2, "rise": 1}
    lx = lxlb(cfg)
    assert set(backends_of(spread(lx.port, 20))) == {"A", "B"}
    a.stop()
    # Every request still succeeds (retried on B); A's failures, counted by
    # whichever loop saw them, take it down on the main loop for all.
    assert backends_of(spread(lx.port, 60)) == {"B": 60}
    srv = {s["name"]: s for s in stats(aport)["backends"][0]["servers"]}
    assert srv["A"]["health"] == "down", srv["A"]
    assert "failures in a row from real traffic" in lx.log()
    assert backends_of(spread(lx.port, 40)) == {"B": 40}


def test_graceful_stop_finishes_requests_on_every_worker(backend, lxlb):
    a = backend("A")
    cfg, _ = with_admin(make_config({"web": [a]}))
    cfg["global"]["grace"] = "10s"
    lx = lxlb(cfg)
    with concurrent.futures.ThreadPoolExecutor(12) as ex:
        futs = [ex.submit(get, lx.port, "/slow?ms=1500&i=%d" % i) for i in range(12)]
        time.sleep(0.5)
        lx.signal(signal.SIGTERM)
        resps = [f.result() for f in futs]
    assert [r.status for r in resps] == [200] * 12
    assert all(r.body.startswith(b"backend A slow") for r in resps)
    assert lx.proc.wait(timeout=10) == 0
    assert "exiting" in lx.log()
