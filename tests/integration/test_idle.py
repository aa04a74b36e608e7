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


def test_out_of_descriptors_pauses_accepting(backend, tmp_path):
    """EMFILE: lxlb stops accepting for a moment (connections wait in the
    backlog) instead of spinning or dying, and serves again once some close."""
    import json
    import socket
    import time
    from helpers import get, wait_port

    a = backend("A")
    port = free_port()
    cfg = make_config({"b": [a]}, port=port)
    cfg["global"] = {"maxconn": 10000}
    conf = tmp_path / "emfile.json"
    conf.write_text(json.dumps(cfg))
    log = open(tmp_path / "emfile.stderr", "wb")
    limit = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (48, 48))  # noqa: E731
    proc = subprocess.Popen([lxlb_path(), "-f", str(conf)], stderr=log, stdout=subprocess.DEVNULL,
                            preexec_fn=limit)
    held = []
    try:
        assert wait_port(port, 5.0, proc)
        for _ in range(80):  # more than lxlb has descriptors for
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
            held.append(s)
        time.sleep(0.5)
        assert proc.poll() is None, "lxlb died at EMFILE"
        text = (tmp_path / "emfile.stderr").read_text()
        assert "pausing" in text and "Too many open files" in text, text[-2000:]
        for s in held:
            s.close()
        held = []
        time.sleep(0.5)
        r = get(port, "/", timeout=5)
        assert r.status == 200 and r.body == b"backend A"
    finally:
        for s in held:
            s.close()
        proc.kill()
        proc.wait()
        log.close()
