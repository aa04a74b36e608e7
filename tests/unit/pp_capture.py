#!/usr/bin/python3
"""tests/unit/pp_capture.py - capture PROXY protocol headers as HAProxy sends
them, for the vectors of tests/unit/test_pp.c (run it to check or refresh them).

HAProxy (tests/deps.sh installs it) runs in TCP mode with four frontends whose
servers have send-proxy / send-proxy-v2 (IPv4 and IPv6) and one with
proxy-v2-options crc32c,unique-id; a client connects to each and this prints
what the server side received before the client's bytes, with the client's
address, as C string literals."""
import os
import shutil
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time

CASES = [  # (name, family, server line options)
    ("v1 tcp4", socket.AF_INET, "send-proxy", ""),
    ("v1 tcp6", socket.AF_INET6, "send-proxy", ""),
    ("v2 tcp4", socket.AF_INET, "send-proxy-v2", ""),
    ("v2 tcp6", socket.AF_INET6, "send-proxy-v2", ""),
    ("v2 tlv", socket.AF_INET, "send-proxy-v2 proxy-v2-options crc32c,unique-id",
     "  unique-id-format abc-%ci\n"),
]
MARK = b"hello"


def free_port(family):
    s = socket.socket(family)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def listener(family):
    s = socket.socket(family)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    s.listen(4)
    got = {}

    def serve():
        c, _ = s.accept()
        c.settimeout(3)
        data = b""
        while MARK not in data:
            d = c.recv(4096)
            if not d:
                break
            data += d
        got["data"] = data
        c.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return s, t, got


def c_literal(b):
    out, esc = [], False
    for x in b:
        c = chr(x)
        # C's \x takes every hex digit that follows: escape those too.
        if 0x20 <= x < 0x7f and c not in '"\\' and not (esc and c in string.hexdigits):
            out.append(c)
            esc = False
        else:
            out.append("\\x%02x" % x)
            esc = True
    return '"' + "".join(out) + '"'


def main():
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.access(haproxy, os.X_OK):
        sys.exit("pp_capture: haproxy is not installed (tests/deps.sh haproxy)")
    d = tempfile.mkdtemp(prefix="pp-capture-")
    cfg = ["defaults", "  mode tcp", "  timeout connect 2s", "  timeout client 5s",
           "  timeout server 5s"]
    runs = []
    for i, (name, fam, opts, extra) in enumerate(CASES):
        srv, t, got = listener(fam)
        host = "::1" if fam == socket.AF_INET6 else "127.0.0.1"
        port = free_port(fam)
        sa = srv.getsockname()
        cfg += ["frontend f%d" % i, "  bind %s:%d" % ("[::1]" if fam == socket.AF_INET6
                                                      else host, port),
                extra.rstrip("\n") if extra else "", "  default_backend b%d" % i,
                "backend b%d" % i, "  server s %s:%d %s" % ("[::1]" if fam == socket.AF_INET6
                                                             else host, sa[1], opts)]
        runs.append((name, fam, host, port, t, got))
    path = os.path.join(d, "haproxy.cfg")
    with open(path, "w") as f:
        f.write("\n".join(x for x in cfg if x) + "\n")
    p = subprocess.Popen([haproxy, "-f", path, "-db"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        for name, fam, host, port, t, got in runs:
            c = socket.create_connection((host, port))
            client = c.getsockname()
            c.sendall(MARK)
            t.join(3)
            c.close()
            hdr = got.get("data", b"").split(MARK)[0]
            print("/* %s: client %s port %d -> port %d */" % (name, client[0], client[1],
                                                                port))
            print(c_literal(hdr))
    finally:
        p.terminate()
        p.wait()
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
