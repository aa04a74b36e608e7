"""Upgrade tunnels (SPEC.md "Routing, redirects, tunnels, PROXY protocol"):
WebSocket through lxlb against a real echo server (python3-websockets):
many at once with messages both ways, plain requests meanwhile, a reload
under them, TLS (wss), idle timeout.tunnel, the tunnel counted as its
server's active request, and an Upgrade the server declines."""
import asyncio
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest
import websockets

from helpers import PYTHON, Conn, free_port, get, make_config

HERE = os.path.dirname(os.path.abspath(__file__))


class WsEcho:
    def __init__(self, name):
        self.name = name
        self.proc = subprocess.Popen([PYTHON, os.path.join(HERE, "wsecho.py"), "--port", "0",
                                      "--name", name], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode()
        assert line.startswith("READY "), line
        self.port = int(line.split()[1])
        self.address = "127.0.0.1:%d" % self.port

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def ws(procs):
    def start(name="ws1"):
        w = WsEcho(name)
        procs.append(w)
        return w
    return start


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def chat(uri, n, tag, ssl_ctx=None):
    """One WebSocket: n messages each way, echoes checked in order."""
    async with websockets.connect(uri, ssl=ssl_ctx, max_size=None, ping_interval=None) as c:
        for i in range(n):
            msg = "%s-%d-%s" % (tag, i, "x" * (i * 97 % 3000))
            await c.send(msg)
            got = await c.recv()
            assert got.endswith(":" + msg), (got[:80], msg[:80])
        await c.send("push 5")
        pushed = [await c.recv() for _ in range(5)]
        assert [p.split(":", 1)[1] for p in pushed] == ["push %d" % i for i in range(5)]
        blob = os.urandom(200000)
        await c.send(blob)
        assert await c.recv() == blob
        return got.split(":", 1)[0]


def admin_stats(aport):
    return json.loads(urllib.request.urlopen("http://127.0.0.1:%d/stats" % aport).read())


def ws_config(servers, **fe):
    cfg = make_config({"b": servers}, **fe)
    aport = free_port()
    cfg["admin"] = {"bind": "127.0.0.1:%d" % aport}
    return cfg, aport


def test_twenty_websockets_at_once_both_ways_with_plain_load(ws, backend, lxlb):
    w1, w2 = ws("ws1"), ws("ws2")
    plain = backend("P")
    cfg, aport = ws_config([w1, w2])
    cfg["backends"].append({"name": "plain", "servers": [{"name": "p", "address": plain.address}]})
    cfg["frontends"][0]["routes"] = [{"path_prefix": "/plain", "backend": "plain"}]
    lx = lxlb(cfg)
    wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d4s", "http://127.0.0.1:%d/plain" % lx.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    async def many():
        return await asyncio.gather(*[chat("ws://127.0.0.1:%d/chat" % lx.port, 20, "c%d" % i)
                                      for i in range(20)])
    names = run(many(), 60)
    out, err = wrk.communicate(timeout=30)
    assert sorted(set(names)) == ["ws1", "ws2"], names  # balanced over both servers
    assert "Socket errors" not in out and "Non-2xx" not in out, out
    text = lx.wait_log(lambda t: t.count(" 101 ") >= 20)
    lines = [ln for ln in text.splitlines() if " 101 " in ln and "/chat" in ln]
    assert len(lines) == 20, text[-3000:]
    assert all(" -- " in ln for ln in lines), lines[:3]


def test_tunnel_counts_as_active_and_survives_reload(ws, lxlb):
    w1 = ws("ws1")
    cfg, aport = ws_config([w1])
    lx = lxlb(cfg)

    async def hold():
        async with websockets.connect("ws://127.0.0.1:%d/" % lx.port, ping_interval=None) as c:
            await c.send("one")
            assert (await c.recv()) == "ws1:one"
            srv = admin_stats(aport)["backends"][0]["servers"][0]
            assert srv["active"] == 1, srv  # the open tunnel is its server's request
            cfg2 = dict(cfg)
            cfg2["defaults"] = {"timeout": {"server": "3s"}}
            json.dump(cfg2, open(lx.conf_path, "w"))
            lx.signal(signal.SIGHUP)
            await asyncio.sleep(0.1)
            for _ in range(50):
                if "reload done" in lx.log():
                    break
                await asyncio.sleep(0.05)
            assert "reload done" in lx.log()
            await c.send("two")
            assert (await c.recv()) == "ws1:two"
    run(hold())
    time.sleep(0.2)
    assert admin_stats(aport)["backends"][0]["servers"][0]["active"] == 0


def test_idle_tunnel_closed_after_timeout_tunnel(ws, lxlb):
    w1 = ws("ws1")
    cfg, aport = ws_config([w1])
    cfg["defaults"] = {"timeout": {"tunnel": "700ms", "client": "100ms", "server": "100ms"}}
    lx = lxlb(cfg)

    async def idle():
        async with websockets.connect("ws://127.0.0.1:%d/" % lx.port, ping_interval=None) as c:
            # Busy for longer than client/server timeouts: the tunnel's own rules apply.
            for i in range(6):
                await c.send("m%d" % i)
                await c.recv()
                await asyncio.sleep(0.2)
            t0 = time.monotonic()
            with pytest.raises(websockets.ConnectionClosed):
                await c.recv()
            return time.monotonic() - t0
    took = run(idle())
    assert 0.5 < took < 3.0, took
    text = lx.wait_log(lambda t: "tunnel idle" in t)
    assert " cD " in text, text[-2000:]


def test_server_closing_the_tunnel_reaches_the_client(ws, lxlb):
    w1 = ws("ws1")
    cfg, _ = ws_config([w1])
    lx = lxlb(cfg)

    async def hello():
        async with websockets.connect("ws://127.0.0.1:%d/close-after-hello" % lx.port,
                                      ping_interval=None) as c:
            assert await c.recv() == "hello"
            with pytest.raises(websockets.ConnectionClosedOK):
                await c.recv()
    run(hello())


def test_wss_through_a_tls_frontend(ws, lxlb, tmp_path):
    crt, key = str(tmp_path / "c.pem"), str(tmp_path / "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "2", "-subj", "/CN=lxlb.test"], check=True,
                   capture_output=True)
    w1 = ws("ws1")
    cfg, _ = ws_config([w1], tls={"cert": crt, "key": key})
    lx = lxlb(cfg)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    assert run(chat("wss://127.0.0.1:%d/" % lx.port, 5, "tls", ctx)) == "ws1"


def test_upgrade_headers_forwarded_and_declined_upgrade_is_a_response(backend, lxlb):
    """An Upgrade the server does not take (a plain HTTP server answers 200):
    an ordinary response, and the connection goes on with the next request."""
    b = backend("B")
    lx = lxlb(make_config({"b": [b]}))
    with Conn(lx.port) as c:
        c.request("GET", "/headers", [("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                      ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                      ("Sec-WebSocket-Version", "13")])
        r = c.read_response()
        assert r.status == 200
        sent = {n.lower(): v for n, v in r.json()["headers"]}
        assert sent.get("upgrade") == "websocket" and sent.get("connection") == "upgrade", sent
        c.request("GET", "/")
        assert c.read_response().status == 200


def test_upgrade_without_connection_upgrade_is_not_forwarded(backend, lxlb):
    b = backend("B")
    lx = lxlb(make_config({"b": [b]}))
    r = get(lx.port, "/headers", headers=[("Upgrade", "websocket")])
    names = [n.lower() for n, v in r.json()["headers"]]
    assert "upgrade" not in names  # hop-by-hop unless the client asked with Connection
