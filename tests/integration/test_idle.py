"""10,000 idle keep-alive client connections cost lxlb at most 4 KiB each
(issue 7's bound; an idle session holds no request buffers)."""
import os
import resource
import subprocess

import pytest

from helpers import PYTHON, free_port, lxlb_path, make_config

IDLE_PY = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "idle_conns.py")


def sanitized(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    return "libasan" in out


def test_10k_idle_keepalive_connections(backend, lxlb):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    n = min(10000, hard - 500) if hard != resource.RLIM_INFINITY else 10000
    if n < 2000:
        pytest.skip("RLIMIT_NOFILE hard limit %d is too low for this test" % hard)
    # lxlb and the client script inherit the raised limit.
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        a = backend("A")
        cfg = make_config({"b": [a]}, port=free_port())
        cfg["global"] = {"maxconn": 20000, "access_log": "off"}
        cfg["defaults"] = {"timeout": {"keepalive": "120s", "client": "120s"}}
        lx = lxlb(cfg)
        out = subprocess.run([PYTHON, IDLE_PY, str(lx.port), str(n), str(lx.proc.pid)],
                             capture_output=True, text=True, timeout=120)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    line = [l for l in out.stdout.splitlines() if l.startswith("RESULT")]
    assert line, out.stdout + out.stderr
    before, after, opened, answered = (int(x) for x in line[0].split()[1:5])
    assert answered == n, "only %d of %d connections answered" % (answered, n)
    per_conn = (after - before) / answered
    print("idle keep-alive connections: %d, %.2f KiB each" % (answered, per_conn))
    if sanitized(lxlb_path()):
        return  # ASan's shadow memory and redzones make RSS meaningless here
    assert per_conn <= 4.0, "%.2f KiB per idle connection (bound: 4 KiB)" % per_conn
    lx.assert_serving()
