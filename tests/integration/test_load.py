"""Concurrency: many clients at once all get complete, correct answers."""
import re
import subprocess
import threading

from helpers import Conn, make_config, pattern, pattern_sha256, sha256


def test_parallel_mixed_clients(backend, lxlb):
    a, b = backend("A"), backend("B")
    lx = lxlb(make_config({"b": [a, b]}))
    errors = []
    data = pattern(300000)

    def client(i):
        try:
            with Conn(lx.port, timeout=20) as c:
                for j in range(5):
                    c.request("GET", "/download?size=200000" + ("&chunked=1" if j % 2 else ""))
                    r = c.read_response()
                    assert sha256(r.body) == pattern_sha256(200000)
                    c.request("POST", "/upload", body=data)
                    assert c.read_response().json()["sha256"] == sha256(data)
        except Exception as e:
            errors.append("client %d: %r" % (i, e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    assert a.stats()["requests"] + b.stats()["requests"] == 30 * 10
    lx.assert_serving()


def test_wrk_short_run_no_errors(backend, lxlb):
    a, b = backend("A"), backend("B")
    lx = lxlb(make_config({"b": [a, b]}))
    out = subprocess.run(["wrk", "-t2", "-c50", "-d2s", "http://127.0.0.1:%d/" % lx.port],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "Socket errors" not in text, text
    assert "Non-2xx" not in text, text
    n = int(re.search(r"(\d+) requests in", text).group(1))
    assert n > 200, text
    # Both servers took their share, over pooled connections.
    sa, sb = a.stats(), b.stats()
    assert abs(sa["requests"] - sb["requests"]) <= 60, (sa, sb)
    assert sa["connections"] + sb["connections"] <= 150, (sa, sb)
    lx.assert_serving()
