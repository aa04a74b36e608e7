"""lxlb as a Debian service: make install, the systemd unit, man pages,
sd_notify, daemon mode, syslog and log reopen for logrotate."""
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest

from helpers import REPO, Conn, free_port, get, lxlb_path, make_config

DIST = os.path.join(REPO, "dist")


# ------------------------------------------------------------------ helpers

def make_install(destdir, prefix, *extra):
    """make install into destdir with the binary under test (never rebuilt
    here: -o keeps make from touching a tree others may be editing)."""
    binary = lxlb_path()
    assert os.path.basename(binary) == "lxlb", "LXLB must name a file called lxlb"
    build = os.path.dirname(binary)
    return subprocess.run(
        ["make", "-s", "-C", REPO, "-o", os.path.join(build, "lxlb"), "BUILD=" + build,
         "DESTDIR=" + str(destdir), "PREFIX=" + prefix] + list(extra),
        capture_output=True, text=True, timeout=60)


def dgram_socket(path, rcvbuf=None):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind(path)
    s.settimeout(5)
    return s


def recv_until(sock, pred, timeout=5.0):
    """Datagrams (decoded) until one satisfies pred; returns them all."""
    got = []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sock.settimeout(max(0.05, end - time.monotonic()))
        try:
            got.append(sock.recv(65536).decode())
        except socket.timeout:
            break
        if pred(got[-1]):
            return got
    raise AssertionError("no matching datagram within %.1fs; got %r" % (timeout, got))


def notify_fields(msg):
    return dict(line.split("=", 1) for line in msg.splitlines() if "=" in line)


def pid_gone(pid):
    """True when pid no longer runs (a zombie nobody reaps counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def write_config(tmp_path, cfg, name="lxlb.json"):
    import json
    p = tmp_path / name
    p.write_text(json.dumps(cfg, indent=2))
    return str(p)


# ------------------------------------------------------------- make install

def test_make_install_lays_out_a_debian_service(tmp_path, lxlb_bin):
    dest = tmp_path / "root"
    r = make_install(dest, "/usr", "install")
    assert r.returncode == 0, r.stdout + r.stderr
    expect = {
        "usr/sbin/lxlb": 0o755,
        "usr/share/man/man8/lxlb.8": 0o644,
        "usr/share/man/man5/lxlb.json.5": 0o644,
        "lib/systemd/system/lxlb.service": 0o644,  # PREFIX=/usr: Debian's unit dir
        "etc/lxlb/lxlb.json": 0o640,               # may hold admin.token
        "etc/logrotate.d/lxlb": 0o644,
        "usr/share/doc/lxlb/examples/keepalived.conf": 0o644,  # README "Two balancers"
    }
    for rel, mode in expect.items():
        p = dest / rel
        assert p.is_file(), "%s not installed; make said:\n%s" % (rel, r.stdout + r.stderr)
        assert stat.S_IMODE(p.stat().st_mode) == mode, "%s mode %o" % (rel, p.stat().st_mode)

    unit = (dest / "lib/systemd/system/lxlb.service").read_text()
    assert "ExecStart=/usr/sbin/lxlb -f /etc/lxlb/lxlb.json\n" in unit
    assert "ExecStartPre=/usr/sbin/lxlb -c -f /etc/lxlb/lxlb.json\n" in unit
    assert not [ln for ln in unit.splitlines() if "/usr/local" in ln and not ln.startswith("#")]

    # The example configuration is the seed's setup and is valid.
    conf = dest / "etc/lxlb/lxlb.json"
    r = subprocess.run([str(dest / "usr/sbin/lxlb"), "-c", "-f", str(conf)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stdout + r.stderr
    import json
    c = json.loads(conf.read_text())
    fe, be = c["frontends"][0], c["backends"][0]
    assert fe["bind"] == [":80"] and fe["default_backend"] == "http_nodes"
    assert fe["forwardfor"] is True and fe["set_headers"] == {"X-Forwarded-Proto": "http"}
    assert be["name"] == "http_nodes" and be["redispatch"] is True
    assert be["health"]["path"] == "/"
    assert be["cookie"] == {"name": "JSESSIONID", "mode": "prefix"}
    assert be["discovery"]["lxc"]["group"] == "web"
    assert c["global"]["access_log"] == "syslog"

    # A second install keeps the operator's configuration.
    conf.write_text(conf.read_text().replace('"5s"', '"7s"'))
    mine = conf.read_text()
    r = make_install(dest, "/usr", "install")
    assert r.returncode == 0, r.stdout + r.stderr
    assert conf.read_text() == mine, "make install overwrote /etc/lxlb/lxlb.json"
    assert "keeping" in r.stdout

    # uninstall removes what install put, except the configuration.
    r = make_install(dest, "/usr", "uninstall")
    assert r.returncode == 0, r.stdout + r.stderr
    for rel in expect:
        assert (dest / rel).exists() == (rel == "etc/lxlb/lxlb.json"), rel


def test_make_install_default_prefix(tmp_path, lxlb_bin):
    dest = tmp_path / "root"
    r = make_install(dest, "/usr/local", "install")
    assert r.returncode == 0, r.stdout + r.stderr
    for rel in ("usr/local/sbin/lxlb", "usr/local/share/man/man8/lxlb.8",
                "usr/local/share/man/man5/lxlb.json.5",
                "usr/local/lib/systemd/system/lxlb.service",
                "etc/lxlb/lxlb.json", "etc/logrotate.d/lxlb"):
        assert (dest / rel).is_file(), rel
    unit = (dest / "usr/local/lib/systemd/system/lxlb.service").read_text()
    assert "ExecStart=/usr/local/sbin/lxlb -f /etc/lxlb/lxlb.json\n" in unit


# ------------------------------------------------------------- systemd unit

def test_systemd_unit_verifies(tmp_path, lxlb_bin):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze not installed (tests/deps.sh installs systemd)")
    dest = tmp_path / "root"
    r = make_install(dest, "/usr", "install")
    assert r.returncode == 0, r.stdout + r.stderr
    unit = (dest / "lib/systemd/system/lxlb.service").read_text()
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                 "KillMode=mixed", "KillSignal=SIGTERM", "NoNewPrivileges=yes",
                 "AmbientCapabilities=CAP_NET_BIND_SERVICE"):
        assert line + "\n" in unit, line
    bound = re.search(r"^CapabilityBoundingSet=(.*)$", unit, re.M).group(1).split()
    assert "CAP_NET_BIND_SERVICE" in bound and "CAP_SYS_ADMIN" in bound
    stop = int(re.search(r"^TimeoutStopSec=(\d+)s$", unit, re.M).group(1))
    assert stop > 10, "TimeoutStopSec must exceed global.grace (10s)"
    # verify checks that ExecStart's binary exists and that the Documentation=
    # man pages resolve: point both at the DESTDIR install, nothing else changes.
    (tmp_path / "v").mkdir()
    copy = tmp_path / "v" / "lxlb.service"
    copy.write_text(unit.replace("/usr/sbin/lxlb", str(dest / "usr/sbin/lxlb")))
    env = dict(os.environ, MANPATH=str(dest / "usr/share/man"))
    r = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                       env=env, timeout=60)
    if r.returncode != 0 and "Failed to initialize manager" in r.stderr:
        pytest.skip("systemd-analyze cannot run here: " + r.stderr.strip())
    assert r.returncode == 0 and not r.stderr.strip(), r.stdout + r.stderr


# ----------------------------------------------------------------- man pages

@pytest.mark.parametrize("page,sections", [
    ("lxlb.8", ["SYNOPSIS", "OPTIONS", "SIGNALS", "FILES", "EXIT STATUS", "EXAMPLES"]),
    ("lxlb.json.5", ["GLOBAL", "DEFAULTS", "FRONTENDS", "BACKENDS", "EXAMPLE"]),
])
def test_man_pages_render_without_warnings(page, sections):
    path = os.path.join(DIST, page)
    if not shutil.which("man") or not shutil.which("groff"):
        pytest.skip("man-db and groff-base are not installed (tests/deps.sh installs them)")
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                       env=env, timeout=30)
    assert r.returncode == 0 and not r.stderr, r.stderr
    text = r.stdout
    for s in sections:
        assert re.search(r"^%s$" % s, text, re.M), "no %s section" % s
    r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", path], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and not r.stderr, r.stderr


def test_man_pages_cover_the_interface():
    env = dict(os.environ, MANWIDTH="200", LC_ALL="C.UTF-8")
    if not shutil.which("man"):
        pytest.skip("man-db not installed")

    def render(page):
        return subprocess.run(["man", "-l", os.path.join(DIST, page)], capture_output=True,
                              text=True, env=env, timeout=30).stdout
    lxlb8, json5 = render("lxlb.8"), render("lxlb.json.5")
    for word in ("-c", "-D", "-p", "-v", "agent", "--etcd", "SIGHUP", "SIGUSR1", "SIGTERM",
                 "NOTIFY_SOCKET", "LXLB_SYSLOG_SOCKET", "/etc/lxlb/lxlb.json"):
        assert word in lxlb8, word
    for key in ("maxconn", "workers", "grace", "access_log", "token", "connect", "client",
                "keepalive", "http_request", "request_line", "header_size", "header_count",
                "forwardfor", "set_headers", "certs", "balance", "http_close", "redispatch",
                "rise", "fall", "expect", "indirect", "nocache", "httponly", "secure",
                "weight", "lxcpath", "match", "interface", "ip_timeout", "endpoints",
                "prefix", "tunnel", "routes", "host", "path_prefix", "methods", "backend",
                "redirect", "scheme", "location", "code", "keep_path", "accept_proxy",
                "send_proxy"):
        assert re.search(r"\b%s\b" % key, json5), key


# ----------------------------------------------------------------- sd_notify

@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_sd_notify_ready_reload_stopping(backend, lxlb, tmp_path, monkeypatch, abstract):
    a = backend("A")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = "lxlb-test-notify-%d-%d" % (os.getpid(), time.monotonic_ns())
        sock.bind("\0" + name)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    else:
        path = str(tmp_path / "notify")
        sock.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
    with sock:
        lx = lxlb(make_config({"b": [a]}))
        ready = notify_fields(recv_until(sock, lambda m: "READY=1" in m)[-1])
        assert ready["MAINPID"] == str(lx.proc.pid)
        assert get(lx.port).status == 200  # READY came after the listeners were bound

        # A valid reload: RELOADING=1 (with MONOTONIC_USEC), then READY=1.
        lx.signal(signal.SIGHUP)
        msgs = recv_until(sock, lambda m: "READY=1" in m)
        assert "RELOADING=1" in msgs[0], msgs
        usec = int(notify_fields(msgs[0])["MONOTONIC_USEC"])
        assert abs(usec / 1e6 - time.monotonic()) < 5
        assert "reload done" in lx.wait_log(lambda t: "reload done" in t)

        # A rejected reload ends with READY=1 too: systemd must not wait for ever.
        with open(lx.conf_path, "w") as f:
            f.write("{ not json")
        lx.signal(signal.SIGHUP)
        msgs = recv_until(sock, lambda m: "READY=1" in m)
        assert "RELOADING=1" in msgs[0], msgs
        assert "reload rejected" in lx.log()

        lx.signal(signal.SIGTERM)
        recv_until(sock, lambda m: "STOPPING=1" in m)
        assert lx.proc.wait(5) == 0


def test_no_notify_socket_is_a_no_op(backend, lxlb, monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    lx = lxlb(make_config({"b": [backend("A")]}))
    lx.signal(signal.SIGHUP)
    lx.wait_log(lambda t: "reload done" in t)
    lx.signal(signal.SIGTERM)
    assert lx.proc.wait(5) == 0
    assert "NOTIFY_SOCKET" not in lx.log()


# --------------------------------------------------------------- daemon mode

def run_daemon(tmp_path, cfg, pidfile, cwd=None):
    conf = write_config(tmp_path, cfg)
    errf = tmp_path / "daemon.stderr"
    # stderr to a file: the daemon keeps it, a pipe would never reach EOF.
    with open(errf, "wb") as err:
        r = subprocess.run([lxlb_path(), "-D", "-p", pidfile, "-f", conf], stdout=err,
                           stderr=err, stdin=subprocess.DEVNULL, timeout=10,
                           cwd=cwd or str(tmp_path))
    return r.returncode, errf.read_text()


def test_daemon_writes_and_removes_its_pid_file(backend, tmp_path):
    a = backend("A")
    port = free_port()
    pidfile = tmp_path / "run" / "lxlb.pid"
    pidfile.parent.mkdir()
    rc, err = run_daemon(tmp_path, make_config({"b": [a]}, port=port), str(pidfile))
    pid = int(pidfile.read_text()) if pidfile.exists() else None
    try:
        assert rc == 0, err
        assert pid, "no pid file after the command returned; stderr:\n" + err
        assert not pid_gone(pid)
        # Double fork: the daemon is no session leader (it cannot get a terminal).
        assert os.getsid(pid) != pid and os.getsid(pid) != os.getsid(0)
        assert os.readlink("/proc/%d/cwd" % pid) == "/"
        assert get(port).status == 200  # serving as soon as the command returned
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: pid_gone(pid)), "daemon still running after SIGTERM"
        assert not pidfile.exists(), "pid file left behind"
        assert "graceful stop" in (tmp_path / "daemon.stderr").read_text()
    finally:
        if pid and not pid_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_daemon_relative_pid_file(backend, tmp_path):
    """-p relative to where lxlb was started, although the daemon runs in /."""
    a = backend("A")
    port = free_port()
    rc, err = run_daemon(tmp_path, make_config({"b": [a]}, port=port), "rel.pid")
    pidfile = tmp_path / "rel.pid"
    pid = int(pidfile.read_text()) if pidfile.exists() else None
    try:
        assert rc == 0 and pid, err
        os.kill(pid, signal.SIGTERM)
        assert wait_for(lambda: pid_gone(pid))
        assert not pidfile.exists(), "relative pid file not removed"
    finally:
        if pid and not pid_gone(pid):
            os.kill(pid, signal.SIGKILL)


def test_daemon_fails_clearly_when_the_port_is_taken(backend, tmp_path):
    a = backend("A")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    pidfile = tmp_path / "lxlb.pid"
    with taken:
        t0 = time.monotonic()
        rc, err = run_daemon(tmp_path, make_config({"b": [a]}, port=port), str(pidfile))
    assert rc != 0
    assert time.monotonic() - t0 < 5
    assert re.search(r"lxlb: .*cannot listen on 127\.0\.0\.1:%d: Address already in use" % port,
                     err), err
    assert not pidfile.exists()


def test_daemon_reports_a_failure_after_the_fork(backend, tmp_path):
    """The pid file is written by the daemon itself: the first process waits
    for its word and exits non-zero with the reason."""
    a = backend("A")
    port = free_port()
    pidfile = str(tmp_path / "no" / "such" / "dir" / "lxlb.pid")
    rc, err = run_daemon(tmp_path, make_config({"b": [a]}, port=port), pidfile)
    assert rc != 0
    assert "cannot daemonize (pid file %s): No such file or directory" % pidfile in err, err
    time.sleep(0.2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


# -------------------------------------------------------------------- syslog

SYSLOG_RE = re.compile(r"^<134>[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d lxlb\[(\d+)\]: (.*)$",
                       re.S)


def test_access_log_to_syslog_local0(backend, lxlb, tmp_path, monkeypatch):
    a = backend("A")
    path = str(tmp_path / "devlog")
    with dgram_socket(path) as s:
        monkeypatch.setenv("LXLB_SYSLOG_SOCKET", path)
        cfg = make_config({"b": [a]})
        cfg["global"] = {"access_log": "syslog"}
        lx = lxlb(cfg)
        with Conn(lx.port) as c:
            for i in range(3):
                c.request("GET", "/hello?n=%d" % i)
                assert c.read_response().status == 200
        lines = []
        for i in range(3):
            m = SYSLOG_RE.match(s.recv(65536).decode())
            assert m, "not an RFC 3164 local0.info datagram"
            assert int(m.group(1)) == lx.proc.pid
            lines.append(m.group(2))
        for i, line in enumerate(lines):  # one datagram per line, no newline
            assert "\n" not in line
            assert re.match(r"^127\.0\.0\.1:\d+ \[.*\] http b/A 200 \d+ [-\d/]+ -- "
                            r"\"GET /hello\?n=%d HTTP/1\.1\"$" % i, line), line
        assert "access log" not in lx.log()  # no warning: syslog answered


def test_syslog_full_drops_lines_and_never_blocks(backend, lxlb, tmp_path, monkeypatch):
    """Nobody reads the syslog socket: its queue fills after a few datagrams;
    requests go on at full speed and the drops are counted in an event line."""
    a = backend("A")
    path = str(tmp_path / "devlog")
    with dgram_socket(path, rcvbuf=4096):
        monkeypatch.setenv("LXLB_SYSLOG_SOCKET", path)
        cfg = make_config({"b": [a]})
        cfg["global"] = {"access_log": "syslog"}
        lx = lxlb(cfg)
        t0 = time.monotonic()
        with Conn(lx.port) as c:
            for i in range(300):
                c.request("GET", "/")
                assert c.read_response().status == 200
        assert time.monotonic() - t0 < 20
        text = lx.wait_log(lambda t: "syslog lines dropped" in t)
        assert re.search(r"warning: access log: \d+ syslog lines dropped", text), text[-2000:]
        lx.assert_serving()


def test_syslog_down_at_start_then_up(backend, lxlb, tmp_path, monkeypatch):
    """A syslog that is not there yet does not stop lxlb; lines flow once it is."""
    a = backend("A")
    path = str(tmp_path / "devlog")
    monkeypatch.setenv("LXLB_SYSLOG_SOCKET", path)
    cfg = make_config({"b": [a]})
    cfg["global"] = {"access_log": "syslog"}
    lx = lxlb(cfg)
    assert "syslog socket %s" % path in lx.wait_log(lambda t: "syslog socket" in t)
    assert get(lx.port, "/lost").status == 200
    with dgram_socket(path) as s:
        time.sleep(1.1)  # lxlb retries the connect at most once a second
        assert get(lx.port, "/found").status == 200
        got = recv_until(s, lambda m: "/found" in m)
        assert not any("/lost" in m for m in got)
        assert SYSLOG_RE.match(got[-1])


def test_sigusr1_reconnects_syslog(backend, lxlb, tmp_path, monkeypatch):
    """The syslog daemon restarts (a new socket at the same path)."""
    a = backend("A")
    path = str(tmp_path / "devlog")
    monkeypatch.setenv("LXLB_SYSLOG_SOCKET", path)
    cfg = make_config({"b": [a]})
    cfg["global"] = {"access_log": "syslog"}
    with dgram_socket(path) as s:
        lx = lxlb(cfg)
        assert get(lx.port, "/one").status == 200
        recv_until(s, lambda m: "/one" in m)
    os.unlink(path)
    with dgram_socket(path) as s:
        lx.signal(signal.SIGUSR1)
        lx.wait_log(lambda t: "SIGUSR1: log files reopened" in t)
        assert get(lx.port, "/two").status == 200
        recv_until(s, lambda m: "/two" in m)


# ------------------------------------------------------ log reopen, logrotate

def test_reopen_after_rename(backend, lxlb, tmp_path):
    a = backend("A")
    log = tmp_path / "access.log"
    cfg = make_config({"b": [a]})
    cfg["global"] = {"access_log": str(log)}
    lx = lxlb(cfg)
    assert get(lx.port, "/before").status == 200
    assert wait_for(lambda: log.exists() and "/before" in log.read_text())
    os.rename(log, str(log) + ".1")  # what logrotate does
    assert get(lx.port, "/between").status == 200
    lx.signal(signal.SIGUSR1)
    lx.wait_log(lambda t: "SIGUSR1: log files reopened" in t)
    assert get(lx.port, "/after").status == 200
    assert wait_for(lambda: log.exists() and "/after" in log.read_text())
    old = (tmp_path / "access.log.1").read_text()
    assert "/before" in old and "/between" in old and "/after" not in old
    assert "/before" not in log.read_text()


def test_logrotate_postrotate_reopens(backend, lxlb, tmp_path):
    """logrotate itself, with the shipped file's options and a postrotate
    that signals this lxlb."""
    rotate = shutil.which("logrotate") or "/usr/sbin/logrotate"
    if not os.access(rotate, os.X_OK):
        pytest.skip("logrotate not installed (tests/deps.sh installs it)")
    shipped = open(os.path.join(DIST, "lxlb.logrotate")).read()
    assert "/var/log/lxlb/*.log" in shipped and "kill -USR1" in shipped
    # The shipped file parses (-d: dry run, nothing touched).
    r = subprocess.run([rotate, "-d", "-s", str(tmp_path / "state0"),
                        os.path.join(DIST, "lxlb.logrotate")], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0 and "error" not in r.stderr.lower(), r.stderr

    a = backend("A")
    logdir = tmp_path / "logs"
    logdir.mkdir()
    log = logdir / "access.log"
    cfg = make_config({"b": [a]})
    cfg["global"] = {"access_log": str(log)}
    lx = lxlb(cfg)
    assert get(lx.port, "/first").status == 200
    assert wait_for(lambda: log.exists() and "/first" in log.read_text())
    conf = tmp_path / "rotate.conf"
    conf.write_text("%s/*.log {\n    rotate 2\n    missingok\n    notifempty\n"
                    "    sharedscripts\n    postrotate\n        kill -USR1 %d\n"
                    "    endscript\n}\n" % (logdir, lx.proc.pid))
    r = subprocess.run([rotate, "-f", "-s", str(tmp_path / "state"), str(conf)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lx.wait_log(lambda t: "SIGUSR1: log files reopened" in t)
    assert get(lx.port, "/second").status == 200
    assert wait_for(lambda: log.exists() and "/second" in log.read_text())
    assert "/first" in (logdir / "access.log.1").read_text()
