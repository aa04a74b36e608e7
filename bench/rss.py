#!/usr/bin/python3
"""bench/rss.py - lxlb's resident memory over many hostile connections
(issue 16, item 2): is growth a leak (linear in the count) or the allocator
settling (a plateau)?

Runs the traffic of tests/integration/test_hostile.py::test_random_bytes_100k
(blast.py: random bytes, token soups, request heads; read, closed or reset)
against one lxlb per `workers` value, with the test's configuration, and
writes VmRSS every STEP connections (as the test: when the STEPth is
started) to a TSV, then plots it with gnuplot (the benches' plotter). Not
part of `make test`.

    bench/rss.py                      # workers 1 and 2, 1,000,000 connections
    bench/rss.py --conns 200000 --workers 2 --out /tmp/rss.tsv
    bench/rss.py --plot-only          # redraw bench/rss.png from bench/rss.tsv
    LXLB=/path/to/old/lxlb bench/rss.py --out bench/rss-main.tsv   # a baseline

bench/rss.tsv is this tree's lxlb, bench/rss-main.tsv the one before lb/mem.c
(main at 16c1d08), both over 1,000,000 connections; the PNGs beside them.

Environment: LXLB (default build/lxlb), MALLOC_ARENA_MAX etc. pass through to
lxlb. Columns: workers, connections after the warm-up, phase ("live": taken
when that many were started, ~400 open, as the test does; "idle": all closed,
2.5 s later, after lxlb's trim tick), VmRSS KB, RssAnon KB, and from
bench/mallinfo.c (LD_PRELOAD into lxlb) glibc's heap in use and free-but-kept
KB (-1 without a C compiler)."""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import blast  # noqa: E402
import helpers  # noqa: E402


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(key + ":"):
                return int(ln.split()[1])
    return 0


def config(backend):
    # The configuration of test_hostile.py's module lxlb.
    cfg = helpers.make_config({"be": [backend]}, forwardfor=True)
    cfg["defaults"] = {"timeout": {"http_request": "2s", "client": "5s", "server": "5s"},
                       "limits": {"request_line": 8192, "header_size": 32768,
                                  "header_count": 100}}
    return cfg


def build_probe():
    """bench/mallinfo.c as a shared object in build/bench/ (None without cc)."""
    src = os.path.join(HERE, "mallinfo.c")
    so = os.path.join(HERE, "..", "build", "bench", "mallinfo.so")
    if not os.path.exists(so) or os.path.getmtime(so) < os.path.getmtime(src):
        os.makedirs(os.path.dirname(so), exist_ok=True)
        r = subprocess.run(["cc", "-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-shared",
                            "-fPIC", "-o", so, src, "-lpthread"], capture_output=True, text=True)
        if r.returncode:
            print("rss: cannot build the malloc probe: " + r.stderr, file=sys.stderr)
            return None
    return os.path.abspath(so)


def probe_kb(path):
    """(in use, free in the arenas) in KB from the probe's file, or (-1, -1)."""
    try:
        with open(path) as f:
            v = f.read().split()
        return int(v[0]) >> 10, int(v[1]) >> 10
    except (OSError, ValueError, IndexError):
        return -1, -1


def run(workers, n, step, idle_every, seed, out, probe):
    tmp = tempfile.mkdtemp(prefix="lxlb-rss-")
    info = os.path.join(tmp, "mallinfo")
    b = helpers.Backend("H")
    lx = None
    env_saved = dict(os.environ)
    try:
        cfg = config(b)
        cfg["global"] = {"workers": workers}
        if probe:
            os.environ["LD_PRELOAD"] = probe
            os.environ["LXLB_MALLINFO"] = info
        lx = helpers.Lxlb(cfg, tmp, name="rss%d" % workers)
        os.environ.clear()
        os.environ.update(env_saved)
        pid = lx.proc.pid
        blast.blast(lx.port, 5000, seed)  # the test's warm-up

        def row(i, phase):
            use, free = probe_kb(info)
            out.write("%d\t%d\t%s\t%d\t%d\t%d\t%d\n" % (
                workers, i, phase, status_kb(pid, "VmRSS"), status_kb(pid, "RssAnon"), use, free))
            out.flush()

        def idle_row(i):
            time.sleep(1.0)  # lxlb closes what is left; the probe writes every 20 ms
            row(i, "idle")

        t0 = time.monotonic()
        idle_row(0)
        done = 0
        while done < n:
            k = min(idle_every, n - done)

            def progress(i):
                # As the test measures: every 10,000 connections started, ~400 live.
                if not lx.alive():
                    raise SystemExit("rss: lxlb died after %d connections" % (done + i))
                if (done + i) % step == 0:
                    row(done + i, "live")

            st = blast.blast(lx.port, k, seed + 1 + done, progress=progress)
            if st["connect_failed"] or st["done"] != k:
                raise SystemExit("rss: %r" % dict(st))
            done += k
            idle_row(done)
            print("rss: workers %d: %d connections, %.0f s, VmRSS %d KB, in use %d KB" % (
                workers, done, time.monotonic() - t0, status_kb(pid, "VmRSS"),
                probe_kb(info)[0]), file=sys.stderr)
        lx.assert_serving(expect_body_prefix=b"")
    finally:
        os.environ.clear()
        os.environ.update(env_saved)
        if lx:
            lx.stop()
        b.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def plot(tsv, png):
    if not shutil.which("gnuplot"):
        print("rss: no gnuplot (bench/run.sh installs gnuplot-nox): no %s" % png,
              file=sys.stderr)
        return
    workers = sorted({ln.split("\t")[0] for ln in open(tsv)
                      if ln.strip() and not ln.startswith("#")})
    plots = []
    for w, colour in zip(workers, ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")):
        sel = "$1==%s && strcol(3) eq" % w
        plots.append("'%s' using ($2/1000):(%s 'live' ? $4/1024 : 1/0) with lines lw 1 "
                     "lc rgb '%s' title 'workers %s: VmRSS under load (every 10k)'"
                     % (tsv, sel, colour, w))
        plots.append("'%s' using ($2/1000):(%s 'idle' ? $4/1024 : 1/0) with linespoints "
                     "pt 5 ps 0.9 lw 2 lc rgb '%s' title 'workers %s: VmRSS idle'"
                     % (tsv, sel, colour, w))
        plots.append("'%s' using ($2/1000):(%s 'idle' && $6 >= 0 ? $6/1024 : 1/0) "
                     "with linespoints pt 9 ps 0.9 dt 2 lc rgb '%s' "
                     "title 'workers %s: heap in use, idle'" % (tsv, sel, colour, w))
    gp = """set terminal pngcairo size 1000,600 font "DejaVu Sans,11" noenhanced
set output '%s'
set datafile separator "\\t"
set title "lxlb memory over hostile connections (test_hostile.py random bytes, bench/rss.py)"
set xlabel "connections after warm-up (thousands)"
set ylabel "MB"
set yrange [0:*]
set grid
set key top left
plot %s
""" % (png, ", ".join(plots))
    r = subprocess.run(["gnuplot"], input=gp, text=True, capture_output=True)
    if r.returncode:
        print("rss: gnuplot failed: " + r.stderr, file=sys.stderr)
    else:
        print("rss: wrote %s" % png, file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, default=1000000)
    ap.add_argument("--step", type=int, default=10000, help="a multiple of 10000")
    ap.add_argument("--idle-every", type=int, default=100000,
                    help="connections between idle marks (all closed, 2.5 s later)")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--seed", type=int, default=20240610)
    ap.add_argument("--out", default=os.path.join(HERE, "rss.tsv"))
    ap.add_argument("--plot-only", action="store_true")
    a = ap.parse_args()
    png = os.path.splitext(a.out)[0] + ".png"
    if not shutil.which("gnuplot") and os.geteuid() == 0:
        # The benches' plotter, installed as bench/run.sh installs it.
        subprocess.run([os.path.join(HERE, "..", "tests", "deps.sh"), "gnuplot-nox"])
    if not a.plot_only:
        probe = build_probe()
        with open(a.out, "w") as out:
            out.write("# workers\tconns\tphase\tvmrss_kb\trssanon_kb\theap_in_use_kb\t"
                      "heap_free_kb\n")
            for w in a.workers.split(","):
                run(int(w), a.conns, a.step, a.idle_every, a.seed, out, probe)
    plot(a.out, png)


if __name__ == "__main__":
    main()
