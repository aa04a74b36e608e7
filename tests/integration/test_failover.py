"""A server whose address swallows SYNs (a vanished host, a full accept queue):
with redispatch lxlb stops waiting on a connect after a second when another
server can answer, instead of the whole timeout.connect."""
import socket
import threading
import time

from helpers import free_port, get, make_config


def blackhole():
    """A listening socket that never accepts, its queue already full: further
    SYNs are dropped and connects to it hang, as to a host that vanished."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    port = s.getsockname()[1]
    fillers = []
    for _ in range(4):  # fill the accept queue (listen(0) still queues one or two)
        c = socket.socket()
        c.setblocking(False)
        try:
            c.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(c)
    time.sleep(0.2)
    return s, fillers, "127.0.0.1:%d" % port


def test_unanswered_connect_redispatched_within_a_second(backend, lxlb):
    a = backend("A")
    hole, fillers, addr = blackhole()
    try:
        cfg = make_config({"b": [a, (addr, {"name": "hole"})]}, port=free_port())
        cfg["backends"][0]["redispatch"] = True
        cfg["backends"][0]["health"] = {"path": "/", "interval": "60s", "fall": 3}
        cfg["defaults"] = {"timeout": {"connect": "5s"}}
        lx = lxlb(cfg)
        worst = 0.0
        for _ in range(8):
            t0 = time.monotonic()
            r = get(lx.port, "/", timeout=10)
            worst = max(worst, time.monotonic() - t0)
            assert r.status == 200 and r.body == b"backend A"
        # Each request that met the hole waited ~1 s, not timeout.connect (5 s).
        assert worst < 2.5, "a request waited %.1fs on an unanswered connect" % worst
        text = lx.wait_log(lambda t: "server b/hole is down" in t, 2)
        assert "no answer to connect within 1s" in text, text[-2000:]
        # Once it is down, nothing waits any more.
        t0 = time.monotonic()
        for _ in range(10):
            assert get(lx.port, "/").status == 200
        assert time.monotonic() - t0 < 1.0
    finally:
        for c in fillers:
            c.close()
        hole.close()


def test_no_other_server_waits_for_timeout_connect(backend, lxlb):
    """Alone, the server gets the full timeout.connect: there is nowhere else to go."""
    hole, fillers, addr = blackhole()
    try:
        cfg = make_config({"b": [(addr, {"name": "hole"})]}, port=free_port())
        cfg["backends"][0]["retries"] = 0
        cfg["defaults"] = {"timeout": {"connect": "1500ms"}}
        lx = lxlb(cfg)
        t0 = time.monotonic()
        r = get(lx.port, "/", timeout=10)
        took = time.monotonic() - t0
        assert r.status == 503
        assert 1.3 < took < 3.0, took
    finally:
        for c in fillers:
            c.close()
        hole.close()


def test_a_connect_given_up_on_never_sends_the_request(backend, lxlb):
    """lxlb writes a request head right behind its connect: when the stream
    moves on from a slow connect, that head must not reach the slow server
    once the connect completes after all (the connection is pooled, and the
    next request it carries must go alone)."""
    a = backend("A")
    hole, fillers, addr = blackhole()
    try:
        cfg = make_config({"b": [(addr, {"name": "hole"}), a]}, port=free_port())
        cfg["backends"][0]["redispatch"] = True
        cfg["defaults"] = {"timeout": {"connect": "8s", "server": "2s"}}
        lx = lxlb(cfg)
        r = get(lx.port, "/first", timeout=10)  # round robin: the hole first
        assert r.status == 200 and r.body == b"backend A"
        # Make room in the hole's queue: lxlb's connect (retransmitting its
        # SYN) completes now, as an orphan that goes to the pool.
        hole.setblocking(False)
        for _ in fillers:
            try:
                hole.accept()[0].close()
            except BlockingIOError:
                break
        hole.settimeout(8)
        conn = hole.accept()[0]
        time.sleep(0.3)
        # The next requests take turns again: one takes the pooled orphan.
        later = threading.Thread(target=lambda: [get(lx.port, "/second", timeout=10)
                                                 for _ in range(2)])
        later.start()
        got = b""
        conn.settimeout(1.5)
        try:
            while b"/second" not in got:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                got += chunk
        except socket.timeout:
            pass
        conn.close()
        later.join()
        assert b"/second" in got, got
        assert b"/first" not in got, "the given-up connect carried its request: %r" % got
    finally:
        for c in fillers:
            c.close()
        hole.close()
