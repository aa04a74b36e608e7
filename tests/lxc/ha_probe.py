#!/usr/bin/python3
"""The measuring client of tests/lxc/test_ha.sh (and test_ha_etcd.sh): one
request every few milliseconds to the virtual address, each on a fresh
connection and in its own thread, so a request stuck in a dead path (a SYN
into nowhere) never delays the next one. What each got is one line of OUT;
the test cuts the file into phases afterwards.

    ha_probe.py run URL OUT [--every S] [--timeout S] [--cookie C] [--vip IP]
        Until SIGTERM. One line per request, in the order they end:
            start_ms end_ms result balancer server mac
        start_ms/end_ms: wall clock (as `date +%s%3N`); result: the HTTP status
        or err:refused, err:timeout, err:reset, err:closed (no byte came back),
        err:badresponse, err:<errno name>; balancer:
        the X-Test-Balancer header (each lxlb sets it on the request, Apache
        echoes it: which balancer served); server: X-Served-By (which
        container); mac: the host's neighbour entry for the VIP when the
        request started ("-": none). "-" where a field is unknown.
    ha_probe.py wait OUT FROM_MS BALANCER SECONDS
        Until a request started at or after FROM_MS was answered 200 by
        BALANCER; prints the ms from FROM_MS to that request's start (-1 and
        exit 1 on timeout).
    ha_probe.py report OUT FROM_MS TO_MS BALANCER SERVER MAC
        Figures of the requests started in [FROM_MS, TO_MS), key=value:
          total, failed: requests, and those with no 200
          back_ms: FROM_MS to the start of the first 200 after the last failure
                   (0: none failed), i.e. until the address answered again
          gap_ms: the longest time with no request answered (between the
                  starts of two answered ones): how long it was out
          switch_ms: FROM_MS to the first 200 from BALANCER (-1: none)
          wrong: 200s from another container than SERVER (sticky clients)
          arp_ms: FROM_MS to the first request that found the host's entry for
                  the VIP on MAC (-1: never; 0: already there)
          outage: the kinds of failure seen, e.g. refused:40,timeout:3
"""
import errno
import signal
import socket
import sys
import threading
import time
from urllib.parse import urlsplit


def now_ms():
    return int(time.time() * 1000)


def arp_mac(ip):
    """The host's neighbour entry for ip (/proc/net/arp), '-' when none."""
    try:
        with open("/proc/net/arp") as f:
            for line in f.readlines()[1:]:
                p = line.split()
                # flags 0x0: incomplete (no address yet)
                if p and p[0] == ip and p[2] != "0x0":
                    return p[3]
    except OSError:
        pass
    return "-"


def one_request(host, port, path, cookie, timeout):
    """(result, balancer, server) of one GET on a fresh connection."""
    deadline = time.monotonic() + timeout
    head = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n" % (path, host)
    if cookie:
        head += "Cookie: %s\r\n" % cookie
    try:
        s = socket.create_connection((host, port), timeout=timeout)
    except ConnectionRefusedError:
        return "err:refused", "-", "-"
    except socket.timeout:
        return "err:timeout", "-", "-"
    except OSError as e:
        return "err:" + errno.errorcode.get(e.errno, "other"), "-", "-"
    data = b""
    try:
        s.sendall((head + "\r\n").encode())
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except socket.timeout:
        return "err:timeout", "-", "-"
    except ConnectionResetError:
        return "err:reset", "-", "-"
    except OSError as e:
        return "err:" + errno.errorcode.get(e.errno, "other"), "-", "-"
    finally:
        s.close()
    if not data:
        return "err:closed", "-", "-"  # closed with no answer at all
    head, _, _ = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) < 2 or not parts[1].isdigit():
        return "err:badresponse", "-", "-"
    hdr = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdr[k.strip().lower()] = v.strip()
    return parts[1], hdr.get("x-test-balancer") or "-", hdr.get("x-served-by") or "-"


def run(argv):
    url, out = argv[0], argv[1]
    opts = dict(zip(argv[2::2], argv[3::2]))
    every = float(opts.get("--every", "0.02"))
    timeout = float(opts.get("--timeout", "1"))
    cookie = opts.get("--cookie")
    u = urlsplit(url)
    host, port, path = u.hostname, u.port or 80, u.path or "/"
    vip = opts.get("--vip", host)
    f = open(out, "a")
    lock = threading.Lock()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())

    def attempt():
        start, mac = now_ms(), arp_mac(vip)
        res, bal, srv = one_request(host, port, path, cookie, timeout)
        with lock:
            f.write("%d %d %s %s %s %s\n" % (start, now_ms(), res, bal, srv, mac))
            f.flush()

    threads = []
    nxt = time.monotonic()
    while not stop.is_set():
        t = threading.Thread(target=attempt, daemon=True)
        t.start()
        threads = [x for x in threads if x.is_alive()] + [t]
        nxt += every
        stop.wait(max(0.0, nxt - time.monotonic()))
    for t in threads:  # every request started gets its line
        t.join(timeout + 1)
    f.close()
    return 0


def read(out):
    rows = []
    try:
        with open(out) as f:
            for line in f:
                p = line.split()
                if len(p) == 6:
                    rows.append((int(p[0]), int(p[1]), p[2], p[3], p[4], p[5]))
    except FileNotFoundError:  # the probe has not written its first line yet
        pass
    rows.sort()
    return rows


def wait(argv):
    out, frm, bal, secs = argv[0], int(argv[1]), argv[2], float(argv[3])
    end = time.monotonic() + secs
    while time.monotonic() < end:
        hits = [r[0] for r in read(out) if r[0] >= frm and r[2] == "200" and r[3] == bal]
        if hits:
            print(min(hits) - frm)
            return 0
        time.sleep(0.02)
    print(-1)
    return 1


def report(argv):
    out, frm, to, bal, srv, mac = argv[0], int(argv[1]), int(argv[2]), argv[3], argv[4], argv[5]
    rows = [r for r in read(out) if frm <= r[0] < to]
    failed = [r for r in rows if r[2] != "200"]
    kinds = {}
    for r in failed:
        k = r[2][4:] if r[2].startswith("err:") else r[2]
        kinds[k] = kinds.get(k, 0) + 1
    back = 0
    if failed:
        last = max(r[0] for r in failed)
        after = [r[0] for r in rows if r[0] > last and r[2] == "200"]
        back = min(after) - frm if after else -1
    # The longest stretch with no request answered (counted from the start of
    # each request), FROM_MS counting as an answer: the outage, wherever in
    # the phase it was.
    ok = [frm] + [r[0] for r in rows if r[2] == "200"] + [to]
    gap = max(b - a for a, b in zip(ok, ok[1:]))
    switch = [r[0] for r in rows if r[2] == "200" and r[3] == bal]
    arp = [r[0] for r in rows if r[5] == mac]
    print("total=%d failed=%d back_ms=%d gap_ms=%d switch_ms=%d wrong=%d arp_ms=%d outage=%s" % (
        len(rows), len(failed), back, gap, min(switch) - frm if switch else -1,
        len([r for r in rows if r[2] == "200" and r[4] != srv]),
        (min(arp) - frm if arp else -1),
        ",".join("%s:%d" % kv for kv in sorted(kinds.items())) or "none"))
    return 0


def main():
    cmds = {"run": run, "wait": wait, "report": report}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.stderr.write(__doc__)
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C of the demo: its script cleans up
        sys.exit(130)
