"""Automatic HTTPS (SPEC "Automatic HTTPS", issue 23) against a real ACME CA:
Debian's pebble (RFC 8555), with pebble-challtestsrv as its DNS server
answering every name with 127.0.0.1, so pebble's HTTP-01 validation comes to
lxlb's plain frontend (pebble's httpPort). Everything on loopback ports,
started and stopped here. PEBBLE_VA_NOSLEEP=1 makes validation immediate;
PEBBLE_VA_ALWAYS_VALID is removed from pebble's environment, so every
challenge is really fetched from lxlb; pebble rejects 30% of good nonces,
so lxlb's badNonce handling runs in most orders (and in every run of
test_bad_nonce_resent_with_a_fresh_one, against the small CA below).

Where pebble cannot play the part (a CA that rate-limits, or answers
garbage), a small HTTPS server here does, speaking just enough ACME."""
import http.server
import json
import os
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import threading
import time
import urllib.request

import pytest

import helpers
from helpers import free_port
from test_admin import parse_metrics, promtool_check

PEBBLE = shutil.which("pebble")
CHALLTESTSRV = shutil.which("pebble-challtestsrv")
NONCE_REJECT = 30  # percent of good nonces pebble refuses (badNonce)


def sh(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, **kw)


def free_udp_tcp_port():
    """A loopback port free for both TCP and UDP (a DNS server takes both)."""
    for _ in range(50):
        p = free_port()
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            u.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            u.close()
    raise RuntimeError("no free port")


def wait_for(pred, timeout, step=0.1, what="condition"):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError("%s not reached in %.0f s" % (what, timeout))
        time.sleep(step)


def make_ca_and_cert(d, name, cn, san):
    """A CA and a leaf for san, signed by it: (ca.crt, leaf.crt, leaf.key)."""
    ca = os.path.join(d, name + "-ca")
    leaf = os.path.join(d, name)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    r = sh("openssl", "req", "-x509", *ec, "-keyout", ca + ".key", "-out", ca + ".crt",
           "-days", "2", "-subj", "/CN=%s test CA" % name)
    assert r.returncode == 0, r.stderr
    r = sh("openssl", "req", *ec, "-keyout", leaf + ".key", "-out", leaf + ".csr",
           "-subj", "/CN=%s" % cn)
    assert r.returncode == 0, r.stderr
    with open(leaf + ".ext", "w") as f:
        f.write("subjectAltName=%s\n" % san)
    r = sh("openssl", "x509", "-req", "-in", leaf + ".csr", "-CA", ca + ".crt", "-CAkey",
           ca + ".key", "-CAcreateserial", "-days", "2", "-out", leaf + ".crt",
           "-extfile", leaf + ".ext")
    assert r.returncode == 0, r.stderr
    return ca + ".crt", leaf + ".crt", leaf + ".key"


class Pebble:
    """pebble + pebble-challtestsrv on free loopback ports. http_port is the
    port pebble validates HTTP-01 on: lxlb's plain frontend binds it."""

    def __init__(self, d):
        self.dir = d
        self.ca_file, crt, key = make_ca_and_cert(d, "pebble", "127.0.0.1",
                                                  "IP:127.0.0.1,DNS:localhost")
        self.acme_port, self.mgmt_port, self.http_port, self.tls_port, self.chall_mgmt = (
            free_port() for _ in range(5))
        self.dns_port = free_udp_tcp_port()
        self.procs = []
        self.log_path = os.path.join(d, "pebble.log")
        self.chall = self._spawn(
            [CHALLTESTSRV, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
             "-dns01", "127.0.0.1:%d" % self.dns_port, "-http01", "", "-https01", "",
             "-tlsalpn01", "", "-management", "127.0.0.1:%d" % self.chall_mgmt],
            os.path.join(d, "challtestsrv.log"), dict(os.environ))
        conf = os.path.join(d, "pebble.json")
        with open(conf, "w") as f:
            json.dump({"pebble": {
                "listenAddress": "127.0.0.1:%d" % self.acme_port,
                "managementListenAddress": "127.0.0.1:%d" % self.mgmt_port,
                "certificate": crt, "privateKey": key,
                "httpPort": self.http_port, "tlsPort": self.tls_port,
                "ocspResponderURL": "", "externalAccountBindingRequired": False}}, f)
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT=str(NONCE_REJECT))
        env.pop("PEBBLE_VA_ALWAYS_VALID", None)  # validation must really reach lxlb
        assert "PEBBLE_VA_ALWAYS_VALID" not in env
        self.pebble = self._spawn([PEBBLE, "-config", conf, "-dnsserver",
                                   "127.0.0.1:%d" % self.dns_port], self.log_path, env)
        for port, p in ((self.chall_mgmt, self.chall), (self.acme_port, self.pebble),
                        (self.mgmt_port, self.pebble)):
            if not helpers.wait_port(port, 10, p):
                self.stop()
                raise AssertionError("pebble did not start; log:\n%s" % self.log())
        self.directory = "https://127.0.0.1:%d/dir" % self.acme_port
        self.ctx = ssl.create_default_context(cafile=self.ca_file)
        # The CA lxlb's certificates chain to, from pebble's management API.
        self.root = os.path.join(d, "pebble-root.pem")
        with open(self.root, "wb") as f:
            f.write(self.mgmt("/roots/0"))
        assert b"BEGIN CERTIFICATE" in open(self.root, "rb").read()
        assert "Disabling random VA sleeps" in self.log()

    def _spawn(self, argv, log, env):
        out = open(log, "wb")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env)
        self.procs.append((p, out))
        return p

    def mgmt(self, path):
        url = "https://127.0.0.1:%d%s" % (self.mgmt_port, path)
        with urllib.request.urlopen(url, context=self.ctx, timeout=10) as r:
            return r.read()

    def dns(self, path, body):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.chall_mgmt, path),
                                     data=json.dumps(body).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200

    def point(self, host, ip):
        self.dns("/add-a", {"host": host, "addresses": [ip]})

    def unpoint(self, host):
        self.dns("/clear-a", {"host": host})

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def orders(self):
        return self.log().count("Added order ")

    def issued(self):
        return self.log().count("Issued certificate serial")

    def stop(self):
        for p, out in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            out.close()


@pytest.fixture(scope="module")
def pebble(tmp_path_factory):
    if not PEBBLE or not CHALLTESTSRV:
        pytest.fail("pebble and pebble-challtestsrv are needed (Debian's pebble: tests/deps.sh)")
    p = Pebble(str(tmp_path_factory.mktemp("pebble")))
    yield p
    p.stop()


@pytest.fixture
def lxlb_d(lxlb, tmp_path, monkeypatch):
    """lxlb(config) run with -d (badNonce resends are logged at debug level)."""
    wrapper = tmp_path / "lxlb-d"
    wrapper.write_text("#!/bin/sh\nexec %s -d \"$@\"\n" % helpers.lxlb_path())
    wrapper.chmod(0o755)
    monkeypatch.setenv("LXLB", str(wrapper))
    return lxlb


class Setup:
    def __init__(self, cfg, aport, tport, state):
        self.cfg, self.aport, self.tport, self.state = cfg, aport, tport, state


def acme_setup(pebble_or_dir, backend_, tmp_path, names, http_port=None, **acme):
    """A plain frontend on the port the CA validates, a TLS frontend with
    tls.acme names, an admin endpoint and the acme section."""
    aport, tport = free_port(), free_port()
    state = str(tmp_path / "acme-state")
    sec = {"state_dir": state, "email": "ops@example.test", "renew_before": "30d"}
    if isinstance(pebble_or_dir, Pebble):
        sec.update(directory=pebble_or_dir.directory, ca_file=pebble_or_dir.ca_file)
        http_port = pebble_or_dir.http_port
    sec.update(acme)
    cfg = {
        "admin": {"bind": "127.0.0.1:%d" % aport},
        "acme": sec,
        "frontends": [
            {"name": "http", "bind": ["127.0.0.1:%d" % (http_port or free_port())],
             "default_backend": "web"},
            {"name": "https", "bind": ["127.0.0.1:%d" % tport], "default_backend": "web",
             "tls": {"acme": names}}],
        "backends": [{"name": "web", "servers": [{"name": "a", "address": backend_.address}]}],
    }
    return Setup(cfg, aport, tport, state)


def certs(aport):
    """{name: /stats entry} of the acme section."""
    r = helpers.get(aport, "/stats")
    assert r.status == 200, r
    return {c["name"]: c for c in r.json()["acme"]["certificates"]}


def all_valid(aport, names):
    c = certs(aport)
    return c if all(c.get(n, {}).get("state") == "valid" for n in names) else None


def cert_info(der):
    """serial, subject, issuer and notAfter of a DER certificate (openssl CLI)."""
    p = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial", "-subject",
                        "-issuer", "-enddate", "-nameopt", "compat"],
                       input=der, capture_output=True, timeout=10)
    assert p.returncode == 0, p.stderr
    out = dict(ln.split("=", 1) for ln in p.stdout.decode().strip().split("\n"))
    return {"serial": out["serial"].upper(), "subject": out["subject"], "issuer": out["issuer"],
            "not_after": out["notAfter"]}


def handshake(port, name, cafile=None):
    """TLS to port with SNI name (None: no SNI). With cafile the chain and the
    name are verified. Returns the leaf's cert_info."""
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            return cert_info(t.getpeercert(binary_form=True))


def https_get(port, name, cafile, path="/"):
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            t.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                       % (path, name)).encode())
            data = b""
            while True:
                chunk = t.recv(65536)
                if not chunk:
                    break
                data += chunk
    return helpers.parse_raw_response(data)


def read_response(sock):
    """One response with a Content-Length body off a socket, as bytes."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0]
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    need = len(head) + 4 + (int(m.group(1)) if m else 0)
    while len(data) < need:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def stop_gracefully(lx):
    lx.signal(signal.SIGTERM)
    lx.proc.wait(timeout=15)


def file_serial(path):
    """The leaf serial of a state file (key first, then the chain)."""
    p = subprocess.run(["openssl", "x509", "-noout", "-serial"], stdin=open(path, "rb"),
                       capture_output=True, timeout=10)
    return p.stdout.decode().strip().split("=", 1)[1].upper() if p.returncode == 0 else None


# --------------------------------------------------------------- pebble


def test_certificate_issued_verified_and_kept_across_restart(pebble, backend, lxlb_d,
                                                             tmp_path):
    names = ["one.test", "two.test"]
    s = acme_setup(pebble, backend("A"), tmp_path, names)
    orders0 = pebble.orders()
    t0 = time.monotonic()
    lx = lxlb_d(s.cfg)
    # HTTPS answers from the first moment (self-signed until a certificate exists).
    assert handshake(s.tport, "one.test")["subject"].endswith("CN=one.test")
    got = wait_for(lambda: all_valid(s.aport, names), 20, what="both certificates")
    first = time.monotonic() - t0
    print("time to both certificates: %.2f s (orders: %s ms)"
          % (first, [got[n]["last_order_ms"] for n in names]))

    # Served chains verify against pebble's root alone (lxlb sends the
    # intermediate), with SNI and the host name checked; Python and OpenSSL agree.
    for n in names:
        info = handshake(s.tport, n, cafile=pebble.root)
        assert info["serial"] == got[n]["certificate"]["serial"], (info, got[n])
        assert "Pebble Intermediate" in info["issuer"]
        r = sh("openssl", "s_client", "-connect", "127.0.0.1:%d" % s.tport, "-servername", n,
               "-CAfile", pebble.root, "-verify_return_error", "-verify_hostname", n,
               input="")
        assert "Verify return code: 0 (ok)" in r.stdout, r.stdout + r.stderr
    r = https_get(s.tport, "two.test", pebble.root)
    assert r.status == 200 and r.body.startswith(b"backend A"), r
    # No SNI: the first name's certificate is the default.
    assert handshake(s.tport, None)["serial"] == got["one.test"]["certificate"]["serial"]

    # pebble fetched the key authorizations from lxlb's plain frontend (its
    # random badNonce answers, when it gave any, were resent: the orders went
    # on; test_bad_nonce_resent_with_a_fresh_one checks that every time).
    log = lx.log()
    assert re.search(r'http -/- 200 \d+ .*"GET /.well-known/acme-challenge/[\w-]+ HTTP/1.1"',
                     log), log[-3000:]
    assert pebble.orders() - orders0 == 2
    # An unknown token is no business of lxlb's: the backend gets it.
    r = helpers.get(pebble.http_port, "/.well-known/acme-challenge/not-a-token")
    assert r.body.startswith(b"backend A"), r

    # state_dir: made 0700, files 0600, written whole (no temporary left).
    st = os.stat(s.state)
    assert stat.S_IMODE(st.st_mode) == 0o700
    files = sorted(os.listdir(s.state))
    assert files == ["account.key", "one.test.pem", "two.test.pem"], files
    for f in files:
        assert stat.S_IMODE(os.stat(os.path.join(s.state, f)).st_mode) == 0o600, f
    for n in names:
        wait_for(lambda: file_serial(os.path.join(s.state, n + ".pem")) ==
                 got[n]["certificate"]["serial"], 5, what="state file of " + n)

    # /metrics: the expiry of each certificate, as Unix time; promtool-clean.
    m = helpers.get(s.aport, "/metrics")
    promtool_check(m.text)
    samples, types = parse_metrics(m.text)
    assert types["lxlb_cert_expiry_seconds"] == "gauge"
    for n in names:
        exp = samples[("lxlb_cert_expiry_seconds", frozenset({("name", n)}))]
        assert exp == got[n]["certificate"]["not_after_ms"] / 1000
        assert exp - time.time() > 365 * 86400  # pebble's certificates last 5 years
        assert samples[("lxlb_cert_state", frozenset({("name", n), ("state", "valid")}))] == 1
        assert samples[("lxlb_cert_orders_total",
                        frozenset({("name", n), ("result", "issued")}))] == 1

    # Restart: the stored certificates serve from the first handshake, and
    # nothing is ordered.
    stop_gracefully(lx)
    orders1 = pebble.orders()
    lx2 = lxlb_d(s.cfg)
    for n in names:
        assert handshake(s.tport, n, cafile=pebble.root)["serial"] == \
            got[n]["certificate"]["serial"]
    assert "serving the stored certificate" in lx2.log()
    time.sleep(1.5)
    c = certs(s.aport)
    for n in names:
        assert c[n]["state"] == "valid" and c[n]["orders"] == 0, c[n]
        assert c[n]["certificate"]["serial"] == got[n]["certificate"]["serial"]
    assert pebble.orders() == orders1
    assert "ordering a certificate" not in lx2.log()


def test_renewed_live_on_every_loop_open_connections_keep_theirs(pebble, backend, lxlb_d,
                                                                 tmp_path):
    # renew_before longer than pebble's 5-year lifetime: due as soon as issued.
    s = acme_setup(pebble, backend("A"), tmp_path, ["renew.test"], renew_before="20000d")
    s.cfg["global"] = {"workers": 2}
    # The connection opened before the renewal idles while it happens.
    s.cfg["defaults"] = {"timeout": {"keepalive": "60s", "http_request": "60s"}}
    lx = lxlb_d(s.cfg)
    c = wait_for(lambda: all_valid(s.aport, ["renew.test"]), 20, what="first certificate")
    serial1 = c["renew.test"]["certificate"]["serial"]
    # A keep-alive HTTPS connection made with the first certificate.
    ctx = ssl.create_default_context(cafile=pebble.root)
    raw = socket.create_connection(("127.0.0.1", s.tport), timeout=5)
    old = ctx.wrap_socket(raw, server_hostname="renew.test")
    assert cert_info(old.getpeercert(binary_form=True))["serial"] == serial1
    old.sendall(b"GET / HTTP/1.1\r\nHost: renew.test\r\n\r\n")
    assert read_response(old).startswith(b"HTTP/1.1 200")

    def renewed():
        cur = certs(s.aport)["renew.test"]
        return cur if cur["certificate"]["serial"] != serial1 else None
    cur = wait_for(renewed, 20, what="a renewed certificate")
    serial2 = cur["certificate"]["serial"]
    assert cur["issued"] >= 2
    assert "renew_before covers the certificate's whole lifetime" in lx.log()
    # New connections get it on every loop (2 workers, SO_REUSEPORT spreads
    # them), without a restart or reload; serials only move forward.
    seen = set()
    for _ in range(12):
        info = handshake(s.tport, "renew.test", cafile=pebble.root)
        seen.add(info["serial"])
    assert serial1 not in seen, seen
    # The open connection keeps the certificate it started with, and works.
    old.sendall(b"GET / HTTP/1.1\r\nHost: renew.test\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = old.recv(65536)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert cert_info(old.getpeercert(binary_form=True))["serial"] == serial1
    old.close()
    assert serial2 != serial1
    # Paced: the second renewal waits longer than the first (5 s, then 10 s).
    assert "renewing again in 5 s" in lx.log()


def test_failing_challenge_retried_reported_others_untouched(pebble, backend, lxlb_d,
                                                              tmp_path):
    # bad.test resolves to 127.0.0.2, where nothing listens: pebble's
    # validation fails with a connection error.
    pebble.point("bad.test", "127.0.0.2")
    try:
        s = acme_setup(pebble, backend("A"), tmp_path, ["good.test", "bad.test"])
        lx = lxlb_d(s.cfg)
        wait_for(lambda: all_valid(s.aport, ["good.test"]), 20, what="good.test")

        def failed():
            b = certs(s.aport)["bad.test"]
            return b if b["failures"] >= 1 and b["state"] == "error" else None
        bad = wait_for(failed, 20, what="bad.test failing")
        assert "urn:ietf:params:acme:error:connection" in bad["last_error"], bad
        assert "127.0.0.2" in bad["last_error"], bad
        assert 3000 < bad["next_attempt_ms"] - time.time() * 1000 <= 5500, bad
        assert bad["certificate"] is None and bad["self_signed"] is True
        log = lx.log()
        assert re.search(r"warning: acme: bad\.test: HTTP-01 challenge failed .*"
                         r"urn:ietf:params:acme:error:connection.*; next attempt in 5 s "
                         r"\(failure 1 in a row\)", log), log[-3000:]
        # HTTPS still answers for it (self-signed), and good.test is untouched.
        info = handshake(s.tport, "bad.test")
        assert info["subject"] == info["issuer"] and info["subject"].endswith("CN=bad.test")
        good = certs(s.aport)["good.test"]
        assert good["state"] == "valid" and good["orders"] == 1 and good["failures"] == 0
        assert handshake(s.tport, "good.test", cafile=pebble.root)["serial"] == \
            good["certificate"]["serial"]
        samples, _ = parse_metrics(helpers.get(s.aport, "/metrics").text)
        assert samples[("lxlb_cert_state", frozenset({("name", "bad.test"),
                                                      ("state", "error")}))] == 1
        assert samples[("lxlb_cert_failures", frozenset({("name", "bad.test")}))] == 1
        assert ("lxlb_cert_expiry_seconds", frozenset({("name", "bad.test")})) not in samples
        # Once the name reaches lxlb, the retry (5 s later) gets it.
        pebble.unpoint("bad.test")
        fixed = wait_for(lambda: all_valid(s.aport, ["bad.test"]), 20, what="bad.test fixed")
        assert fixed["bad.test"]["last_error"] is None and fixed["bad.test"]["orders"] == 2
        assert fixed["good.test"]["orders"] == 1
        assert handshake(s.tport, "bad.test", cafile=pebble.root)["serial"] == \
            fixed["bad.test"]["certificate"]["serial"]
    finally:
        pebble.unpoint("bad.test")


def test_reload_keeps_certificates_and_the_order_in_progress(pebble, backend, lxlb_d,
                                                             tmp_path):
    s = acme_setup(pebble, backend("A"), tmp_path, ["r1.test"])
    lx = lxlb_d(s.cfg)
    assert certs(s.aport)["r1.test"]["state"] == "ordering"
    lx.signal(signal.SIGHUP)  # in the middle of r1's order
    c = wait_for(lambda: all_valid(s.aport, ["r1.test"]), 20, what="r1.test")
    assert c["r1.test"]["orders"] == 1, c  # the order went on, not started over
    assert lx.wait_log(lambda t: "reload done" in t)
    serial1 = c["r1.test"]["certificate"]["serial"]
    orders = pebble.orders()

    # A name added by a reload is ordered; the kept one keeps its certificate.
    s.cfg["frontends"][1]["tls"]["acme"] = ["r1.test", "r2.test"]
    with open(lx.conf_path, "w") as f:
        json.dump(s.cfg, f)
    lx.signal(signal.SIGHUP)
    c = wait_for(lambda: all_valid(s.aport, ["r1.test", "r2.test"]), 20, what="r2.test")
    assert c["r1.test"]["certificate"]["serial"] == serial1 and c["r1.test"]["orders"] == 1
    assert pebble.orders() == orders + 1
    assert handshake(s.tport, "r1.test", cafile=pebble.root)["serial"] == serial1
    assert handshake(s.tport, "r2.test", cafile=pebble.root)["serial"] == \
        c["r2.test"]["certificate"]["serial"]

    # A name dropped by a reload is forgotten; the others serve on.
    s.cfg["frontends"][1]["tls"]["acme"] = ["r2.test"]
    with open(lx.conf_path, "w") as f:
        json.dump(s.cfg, f)
    lx.signal(signal.SIGHUP)
    wait_for(lambda: "r1.test" not in certs(s.aport), 5, what="r1.test gone")
    assert handshake(s.tport, "r2.test", cafile=pebble.root)["serial"] == \
        c["r2.test"]["certificate"]["serial"]
    assert lx.alive()


def test_damaged_state_files_are_reported_and_replaced(pebble, backend, lxlb_d, tmp_path):
    s = acme_setup(pebble, backend("A"), tmp_path, ["dmg.test"])
    os.makedirs(s.state, mode=0o700)
    with open(os.path.join(s.state, "dmg.test.pem"), "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n")  # cut short
    with open(os.path.join(s.state, "account.key"), "w") as f:
        f.write("not a key\n")
    lx = lxlb_d(s.cfg)
    c = wait_for(lambda: all_valid(s.aport, ["dmg.test"]), 20, what="dmg.test")
    log = lx.log()
    assert "dmg.test.pem is unusable" in log and "account.key is unusable" in log, log[-2000:]
    wait_for(lambda: file_serial(os.path.join(s.state, "dmg.test.pem")) ==
             c["dmg.test"]["certificate"]["serial"], 5, what="dmg.test.pem replaced")
    with open(os.path.join(s.state, "account.key")) as f:
        assert "BEGIN PRIVATE KEY" in f.read()
    assert lx.alive()


def test_directory_by_host_name(pebble, backend, lxlb_d, tmp_path):
    # A name, not an address: resolved with evdns (/etc/hosts), SNI sent, and
    # pebble's certificate checked against "localhost".
    s = acme_setup(pebble, backend("A"), tmp_path, ["named.test"],
                   directory="https://localhost:%d/dir" % pebble.acme_port)
    lxlb_d(s.cfg)
    c = wait_for(lambda: all_valid(s.aport, ["named.test"]), 20, what="named.test")
    assert handshake(s.tport, "named.test", cafile=pebble.root)["serial"] == \
        c["named.test"]["certificate"]["serial"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot and user need root")
def test_chroot_and_user_reload_keeps_working(pebble, backend, lxlb_d, tmp_path):
    # After the chroot, neither state_dir nor ca_file can be opened by path:
    # lxlb writes through the directory it opened at start (made nobody's)
    # and a reload keeps the trust store it read then.
    import pwd
    jail = tmp_path / "jail"
    jail.mkdir()
    s = acme_setup(pebble, backend("A"), tmp_path, ["c1.test"])
    s.cfg["global"] = {"chroot": str(jail), "user": "nobody"}
    lx = lxlb_d(s.cfg)
    wait_for(lambda: all_valid(s.aport, ["c1.test"]), 20, what="c1.test")
    nobody = pwd.getpwnam("nobody").pw_uid
    assert os.stat(s.state).st_uid == nobody
    wait_for(lambda: os.path.exists(os.path.join(s.state, "c1.test.pem")), 5, what="c1.test.pem")
    # The reload reads the file at its path inside the jail.
    s.cfg["frontends"][1]["tls"]["acme"] = ["c1.test", "c2.test"]
    inside = str(jail) + lx.conf_path
    os.makedirs(os.path.dirname(inside), exist_ok=True)
    with open(inside, "w") as f:
        json.dump(s.cfg, f)
    lx.signal(signal.SIGHUP)
    assert "reload done" in lx.wait_log(lambda t: "reload done" in t or "rejected" in t, 10)
    wait_for(lambda: all_valid(s.aport, ["c1.test", "c2.test"]), 20, what="c2.test")
    f = os.path.join(s.state, "c2.test.pem")
    wait_for(lambda: os.path.exists(f), 5, what="c2.test.pem")
    st = os.stat(f)
    assert st.st_uid == nobody and stat.S_IMODE(st.st_mode) == 0o600
    assert handshake(s.tport, "c2.test", cafile=pebble.root)["subject"].endswith("CN=c2.test")


# ------------------------------------------------------- a CA that misbehaves


class FakeCA:
    """Just enough ACME over HTTPS (directory, nonces, account) for lxlb to
    reach what routes say: {path: (status, body, headers), or a function
    returning that for each request}, "{base}" in a
    body or header replaced by the CA's URL. For what pebble cannot do (rate
    limits, a validation that never comes); signatures are not checked here,
    pebble does that in the tests above."""

    def __init__(self, d, routes):
        ca, crt, key = make_ca_and_cert(d, "fakeca", "127.0.0.1", "IP:127.0.0.1")
        self.ca_file = ca
        self.requests = []
        fake = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body=b"", hdrs=()):
                base = "https://127.0.0.1:%d" % fake.port
                if isinstance(body, (dict, list)):
                    body = json.dumps(body)
                if isinstance(body, str):
                    body = body.replace("{base}", base).encode()
                self.send_response(status)
                self.send_header("Replay-Nonce", "nonce-%d" % len(fake.requests))
                for k, v in hdrs:
                    self.send_header(k, v.replace("{base}", base))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self):
                fake.requests.append(("HEAD", self.path))
                self.answer(200)

            def do_GET(self):
                fake.requests.append(("GET", self.path))
                self.answer(200, {"newNonce": "{base}/nonce", "newAccount": "{base}/acct",
                                  "newOrder": "{base}/order"},
                            [("Content-Type", "application/json")])

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                self.rfile.read(n)
                fake.requests.append(("POST", self.path))
                if self.path == "/acct":
                    self.answer(201, {"status": "valid"}, [("Location", "{base}/acct/1")])
                    return
                r = routes.get(self.path, (404, b"", {}))
                status, body, hdrs = r() if callable(r) else r
                ct = "application/problem+json" if status >= 400 else "application/json"
                self.answer(status, body, [("Content-Type", ct)] + list(hdrs.items()))

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(crt, key)
        self.srv.socket = tls.wrap_socket(self.srv.socket, server_side=True)
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()
        self.directory = "https://127.0.0.1:%d/dir" % self.port

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


def test_rate_limited_honours_retry_after(backend, lxlb_d, tmp_path):
    body = {"type": "urn:ietf:params:acme:error:rateLimited",
            "detail": "too many certificates for rl.test"}
    ca = FakeCA(str(tmp_path), {"/order": (429, body, {"Retry-After": "120"})})
    try:
        s = acme_setup(None, backend("A"), tmp_path, ["rl.test"], directory=ca.directory,
                       ca_file=ca.ca_file)
        lx = lxlb_d(s.cfg)
        c = wait_for(lambda: (lambda e: e if e["failures"] >= 1 else None)(
            certs(s.aport)["rl.test"]), 10, what="the rate-limited order")
        assert "HTTP 429" in c["last_error"] and "rateLimited" in c["last_error"], c
        assert "too many certificates for rl.test" in c["last_error"]
        # Retry-After (120 s), not the 5 s backoff.
        wait = c["next_attempt_ms"] / 1000 - time.time()
        assert 100 < wait <= 121, wait
        assert "next attempt in 120 s" in lx.log()
        assert handshake(s.tport, "rl.test")["subject"].endswith("CN=rl.test")
    finally:
        ca.stop()


def test_bad_nonce_resent_with_a_fresh_one(backend, lxlb_d, tmp_path):
    """RFC 8555 6.5: a badNonce answer is retried with the nonce it carries.
    The first newOrder is refused so; the resent one gets an answer (a rate
    limit, which ends the attempt cleanly)."""
    answers = [(400, {"type": "urn:ietf:params:acme:error:badNonce",
                      "detail": "JWS has an invalid anti-replay nonce"}, {}),
               (429, {"type": "urn:ietf:params:acme:error:rateLimited",
                      "detail": "later"}, {"Retry-After": "120"})]
    ca = FakeCA(str(tmp_path), {"/order": lambda: answers.pop(0) if len(answers) > 1
                                else answers[0]})
    try:
        s = acme_setup(None, backend("A"), tmp_path, ["bn.test"], directory=ca.directory,
                       ca_file=ca.ca_file)
        lx = lxlb_d(s.cfg)
        c = wait_for(lambda: (lambda e: e if e["failures"] >= 1 else None)(
            certs(s.aport)["bn.test"]), 10, what="the order's answer")
        assert "rateLimited" in c["last_error"], c
        assert "badNonce, resending with a fresh nonce" in lx.log(), lx.log()[-3000:]
        assert [r for r in ca.requests if r == ("POST", "/order")] == [("POST", "/order")] * 2
    finally:
        ca.stop()


def thumbprint(account_key):
    """RFC 7638 thumbprint of an EC P-256 key file, computed here (openssl
    for the public point, hashlib for the rest), not by lxlb."""
    import base64
    import hashlib
    der = subprocess.run(["openssl", "pkey", "-in", account_key, "-pubout", "-outform", "DER"],
                         capture_output=True, timeout=10).stdout
    point = der[-65:]
    assert point[0] == 4
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    jwk = '{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}' % (b64(point[1:33]), b64(point[33:]))
    return b64(hashlib.sha256(jwk.encode()).digest())


def test_http01_answer_on_plain_frontends_only(backend, lxlb_d, tmp_path):
    # A CA whose validation never comes: the token stays open for a while.
    token = "Tok3n_-abcdefghijklmnopqrstuvwxyz0123456789"
    ca = FakeCA(str(tmp_path), {
        "/order": (201, {"status": "pending", "finalize": "{base}/finalize",
                         "identifiers": [{"type": "dns", "value": "h.test"}],
                         "authorizations": ["{base}/authz/1"]}, {"Location": "{base}/order/1"}),
        "/authz/1": (200, {"status": "pending", "identifier": {"type": "dns", "value": "h.test"},
                           "challenges": [{"type": "http-01", "url": "{base}/chall/1",
                                           "token": token, "status": "pending"}]}, {}),
        "/chall/1": (200, {"type": "http-01", "status": "processing", "token": token}, {}),
    })
    try:
        s = acme_setup(None, backend("A"), tmp_path, ["h.test"], directory=ca.directory,
                       ca_file=ca.ca_file)
        port = int(s.cfg["frontends"][0]["bind"][0].rsplit(":", 1)[1])
        lx = lxlb_d(s.cfg)
        wait_for(lambda: ("POST", "/chall/1") in ca.requests, 10, what="the challenge answered")
        keyauth = (token + "." + thumbprint(os.path.join(s.state, "account.key"))).encode()
        path = "/.well-known/acme-challenge/" + token
        # Any Host; two requests on one HTTP/1.1 connection: kept alive.
        with helpers.Conn(port) as c:
            for host in ("h.test", "whatever.example"):
                c.request("GET", path, host=host)
                r = c.read_response()
                assert r.status == 200 and r.body == keyauth, r
                assert r.header("Content-Type") == "text/plain"
                assert r.header("Connection") is None
            c.request("HEAD", path + "?x=1")
            r = c.read_response("HEAD")
            assert r.status == 200 and r.body == b"" and \
                r.header("Content-Length") == str(len(keyauth)), r
            assert not c.is_closed_by_peer(0.3)
        # HTTP/1.0: closed unless asked to keep alive.
        raw = helpers.raw_exchange(port, ("GET %s HTTP/1.0\r\nHost: h\r\n\r\n" % path).encode())
        r = helpers.parse_raw_response(raw)
        assert r.status == 200 and r.body == keyauth and r.header("Connection") == "close", r
        with helpers.Conn(port) as c:
            c.send("GET %s HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n" % path)
            r = c.read_response()
            assert r.body == keyauth and r.header("Connection") == "keep-alive", r
            assert not c.is_closed_by_peer(0.3)
        # Not ours: another token, a POST, the TLS frontend. The backend answers.
        assert helpers.get(port, path + "x").body.startswith(b"backend A")
        assert helpers.get(port, path, method="POST", body=b"x").body.startswith(b"backend A")
        r = https_get(s.tport, "h.test", None, path)
        assert r.body.startswith(b"backend A"), r
        assert certs(s.aport)["h.test"]["state"] == "ordering"
        assert re.search(r'http -/- 200 \d+ .*"GET %s HTTP/1.1"' % re.escape(path), lx.log())
    finally:
        ca.stop()


def test_ca_unreachable_retried_with_backoff(backend, lxlb_d, tmp_path, pebble):
    s = acme_setup(None, backend("A"), tmp_path, ["down.test"],
                   directory="https://127.0.0.1:%d/dir" % helpers.closed_port(),
                   ca_file=pebble.ca_file)
    lx = lxlb_d(s.cfg)
    c = wait_for(lambda: (lambda e: e if e["failures"] >= 1 else None)(
        certs(s.aport)["down.test"]), 10, what="the failed order")
    assert "directory: CA unreachable" in c["last_error"], c
    assert "refused" in c["last_error"], c
    assert 3 < c["next_attempt_ms"] / 1000 - time.time() <= 5.5
    assert handshake(s.tport, "down.test")["subject"].endswith("CN=down.test")
    assert lx.alive()


# ------------------------------------------------------------- lxlb -c


def test_check_reports_acme_errors_with_path_and_line(lxlb_bin, tmp_path, backend):
    s = acme_setup(None, backend("A"), tmp_path, ["ok.test", "*.wild.test"],
                   directory="https://127.0.0.1:1/dir")
    path = str(tmp_path / "bad.json")
    with open(path, "w") as f:
        json.dump(s.cfg, f, indent=2)
    r = subprocess.run([lxlb_bin, "-c", "-f", path], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert re.search(r"bad\.json:\d+: \$\.frontends\[1\]\.tls\.acme\[1\]: \"\*\.wild\.test\" "
                     r"is not a host name", r.stderr), r.stderr
    # Valid: checked (the CA bundle too), and nothing created.
    s.cfg["frontends"][1]["tls"]["acme"] = ["ok.test"]
    with open(path, "w") as f:
        json.dump(s.cfg, f)
    r = subprocess.run([lxlb_bin, "-c", "-f", path], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(s.state)
    s.cfg["acme"]["ca_file"] = str(tmp_path / "missing.pem")
    with open(path, "w") as f:
        json.dump(s.cfg, f)
    r = subprocess.run([lxlb_bin, "-c", "-f", path], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "acme.ca_file: cannot load CA certificates" in r.stderr, r.stderr
