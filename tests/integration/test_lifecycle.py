"""Graceful stop and the access log."""
import re
import signal
import threading
import time

from helpers import Conn, get, make_config, port_refuses


def test_sigterm_finishes_inflight_refuses_new_exits_0(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    result = {}

    def slow_request():
        try:
            with Conn(lx.port, timeout=10) as c:
                c.request("GET", "/slow?ms=1500")
                result["resp"] = c.read_response()
        except Exception as e:  # reported below
            result["error"] = e

    t = threading.Thread(target=slow_request)
    t.start()
    # Wait until the request is in the server's hands.
    end = time.monotonic() + 3
    while a.stats()["inflight"] == 0 and time.monotonic() < end:
        time.sleep(0.02)
    assert a.stats()["inflight"] == 1, "slow request never reached the server"
    lx.signal(signal.SIGTERM)
    time.sleep(0.3)
    assert lx.alive(), "lxlb exited before its in-flight request finished"
    assert port_refuses(lx.port), "new connections still accepted after SIGTERM"
    t.join(10)
    assert "error" not in result, result
    r = result["resp"]
    assert r.status == 200 and r.body == b"backend A slow", r
    rc = lx.proc.wait(5)
    assert rc == 0, "exit status %r after SIGTERM; stderr:\n%s" % (rc, lx.log()[-2000:])


def test_sigterm_idle_exits_0_promptly(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    # An idle keep-alive client must not hold the stop for the whole grace.
    with Conn(lx.port) as c:
        c.request("GET", "/")
        assert c.read_response().status == 200
        t0 = time.monotonic()
        lx.signal(signal.SIGTERM)
        rc = lx.proc.wait(5)
        assert rc == 0
        assert time.monotonic() - t0 < 3, "idle keep-alive connection delayed the stop"


def test_sigint_is_graceful_too(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    lx.signal(signal.SIGINT)
    assert lx.proc.wait(5) == 0


def access_lines(text, marker):
    return [ln for ln in text.splitlines() if marker in ln]


def test_access_log_one_line_per_request_with_fields(backend, lxlb):
    a = backend("A")
    cfg = make_config({"be_main": [(a, {"name": "srv_one"})]})
    cfg["frontends"][0]["name"] = "fe_main"
    lx = lxlb(cfg)
    size = 12345
    with Conn(lx.port) as c:
        c.request("GET", "/download?size=%d&tag=one" % size)
        assert len(c.read_response().body) == size
        c.request("GET", "/status/204?tag=two")
        assert c.read_response().status == 204
    r = get(lx.port, "/headers?tag=three")
    assert r.status == 200
    text = lx.wait_log(lambda t: all(access_lines(t, "tag=" + x) for x in ("one", "two", "three")))
    for tag in ("one", "two", "three"):
        lines = access_lines(text, "tag=" + tag)
        assert len(lines) == 1, "want one access-log line for tag=%s, got:\n%s" % (tag, text)
    line = access_lines(text, "tag=one")[0]
    assert "127.0.0.1" in line, line
    assert "fe_main" in line, line
    assert "be_main/srv_one" in line, line
    assert re.search(r"(?<!\d)200(?!\d)", line), line
    assert "GET /download?size=%d&tag=one HTTP/1.1" % size in line, line
    nums = [int(x) for x in re.findall(r"(?<![\d.])\d+(?![\d.])", line)]
    assert any(size <= n <= size + 1024 for n in nums), "no byte count in %r" % line
    assert re.search(r"(?<!\d)204(?!\d)", access_lines(text, "tag=two")[0])


def test_access_log_for_proxy_generated_errors(backend, lxlb):
    from helpers import closed_port
    cfg = make_config({"dead": ["127.0.0.1:%d" % closed_port()]})
    lx = lxlb(cfg)
    assert get(lx.port, "/?tag=dead").status == 503
    text = lx.wait_log(lambda t: access_lines(t, "tag=dead"))
    lines = access_lines(text, "tag=dead")
    assert len(lines) == 1, text
    assert re.search(r"(?<!\d)503(?!\d)", lines[0]) and "dead" in lines[0], lines[0]


def test_access_log_off(backend, lxlb):
    a = backend("A")
    cfg = make_config({"b": [a]})
    cfg["global"] = {"access_log": "off"}
    lx = lxlb(cfg)
    assert get(lx.port, "/?tag=quiet").status == 200
    time.sleep(0.3)
    assert "tag=quiet" not in lx.log()


def test_access_log_to_file_and_sigusr1_reopen(backend, lxlb, tmp_path):
    a = backend("A")
    cfg = make_config({"b": [a]})
    logf = tmp_path / "access.log"
    cfg["global"] = {"access_log": str(logf)}
    lx = lxlb(cfg)
    assert get(lx.port, "/?tag=first").status == 200
    end = time.monotonic() + 3
    while time.monotonic() < end and not (logf.exists() and "tag=first" in logf.read_text()):
        time.sleep(0.05)
    assert "tag=first" in logf.read_text()
    rotated = tmp_path / "access.log.1"
    logf.rename(rotated)
    lx.signal(signal.SIGUSR1)
    time.sleep(0.3)
    assert get(lx.port, "/?tag=second").status == 200
    end = time.monotonic() + 3
    while time.monotonic() < end and not (logf.exists() and "tag=second" in logf.read_text()):
        time.sleep(0.05)
    assert logf.exists() and "tag=second" in logf.read_text(), "log not reopened on SIGUSR1"
    assert "tag=second" not in rotated.read_text()
    assert lx.alive()


def test_sighup_as_soon_as_the_port_answers_reloads(backend, lxlb):
    """A reload sent the moment the port accepts (a deploy script, systemd
    right after READY) is handled, never fatal: SIGHUP's default action
    would end the process if it came before the handlers existed."""
    import socket
    a = backend("A")
    for _ in range(10):
        lx = lxlb(make_config({"b": [a]}), wait=False)
        while True:
            try:
                socket.create_connection(("127.0.0.1", lx.port), timeout=1).close()
                break
            except OSError:
                assert lx.alive(), lx.log()
        lx.signal(signal.SIGHUP)
        text = lx.wait_log(lambda t: "reload done" in t, 5.0)
        assert lx.alive() and "reload done" in text, (lx.proc.returncode, text)
        lx.assert_serving()
        lx.stop()


# Termination codes (README "Logs"): who ended the request (C client, c client
# timeout, S server, s server timeout, P lxlb refused it, - nobody) and when
# (R request head, B request body, C connect, H response head, D response
# body, - it completed).
TERM = r" (?P<term>[-CcSsPRLDK][-RBCHDL]) "


def access_line(lx, marker, timeout=3.0):
    text = lx.wait_log(lambda t: access_lines(t, marker), timeout)
    lines = access_lines(text, marker)
    assert len(lines) == 1, "want one access-log line with %r, got:\n%s" % (marker, text[-3000:])
    return lines[0]


def test_access_log_termination_code_of_a_normal_request(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    assert get(lx.port, "/?tag=normal").status == 200
    line = access_line(lx, "tag=normal")
    assert re.search(TERM, line).group("term") == "--", line


def test_access_log_client_gone_mid_body(backend, lxlb):
    """A client that disconnects in the middle of a request body still gets
    its line, saying the client ended it during the request body."""
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        c.send(b"POST /upload?tag=midbody HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
               + b"x" * 10)
        time.sleep(0.3)
    line = access_line(lx, "tag=midbody")
    assert re.search(TERM, line).group("term") == "CB", line


def test_access_log_unfulfilled_chunk(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        c.send(b"POST /upload?tag=chunkcut HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n100\r\nabc")
        time.sleep(0.3)
    line = access_line(lx, "tag=chunkcut")
    assert re.search(TERM, line).group("term") == "CB", line


def test_access_log_client_gone_mid_head(backend, lxlb):
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        c.send(b"GET /?tag=midhead HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.3)
    text = lx.wait_log(lambda t: "<BADREQ>" in t or "CR" in t)
    lines = [ln for ln in text.splitlines() if re.search(TERM, ln)]
    assert lines and re.search(TERM, lines[-1]).group("term") == "CR", text[-2000:]


def test_access_log_rejected_request_says_why(backend, lxlb):
    """A refused request's line carries the real reason: for a head starting
    with a bare CR, that it is a bare CR, not a parser message about
    something else."""
    a = backend("A")
    lx = lxlb(make_config({"b": [a]}))
    with Conn(lx.port) as c:
        c.send(b"\rGET /?tag=barecr HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 400
    text = lx.wait_log(lambda t: " 400 " in t)
    line = [ln for ln in text.splitlines() if " 400 " in ln][-1]
    assert re.search(TERM, line).group("term") == "PR", line
    assert "bare CR" in line, line
