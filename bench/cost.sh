#!/bin/bash
# bench/cost.sh [options] BINARY...
#
# Per-request cost of lxlb beside HAProxy and nginx, in figures that do not
# move with the machine's load: instructions (callgrind), system calls
# (strace -c), TCP segments (nstat), plus CPU microseconds per request and a
# kernel profile (perf record, cpu-clock) when asked. Everything runs in a
# network namespace of its own (loopback only), so nstat counts this run's
# segments alone and no port collides with other sessions' tests. The
# backend is a static nginx (1 worker); wrk and the backend on CPU 0, the
# proxy on CPU 1.
#
# Modes (-m, comma list):
#   ka      keep-alive on both sides (server connections pooled)
#   sclose  httpclose in the backend (HAProxy 2.6 and lxlb http_close on the
#           backend; nginx without upstream keepalive): a new server connection
#           per request, the client's kept alive
#   close   httpclose on both sides (lxlb frontend http_close, HAProxy option
#           httpclose in the frontend, nginx keepalive_timeout 0): a new client
#           connection and a new server connection per request
#   tka     HTTPS, keep-alive on both sides (TLS record crypto + proxying)
#   ths     HTTPS, a full handshake per request (wrk sends Connection: close
#           and does not resume sessions); server side kept alive
# TLS uses a fresh certificate: CERT_KIND=rsa (2048, the default) or ec
# (P-256); TLS 1.3, as wrk negotiates it.
# Measures (-w, comma list): cpu (wrk -c32 DURATION s: req/s, p99, CPU
# us/req, segments/req), strace, callgrind, perf (kernel symbols of the
# proxy's CPU). Targets (-t): lxlb, haproxy, nginx; each BINARY is an lxlb
# (lxlb, lxlb2... in order), so two builds can be compared (A/B).
#
# Output: a table on stdout, raw files in the work dir (BENCH_KEEP=1 keeps it);
# COST_OUT=DIR also writes the table (cost.md) and the callgrind tops
# (cost-cg-TARGET-MODE.txt, with cost-cg-TARGET-MODE.meta) there.
# Environment: DURATION (5), ROUNDS (3) for cpu, CONNS (32), CERT_KIND.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
MODES=ka,sclose,close WHAT=cpu,strace,callgrind TARGETS=
while [ $# -gt 0 ]; do
    case "$1" in
        -m) MODES=$2; shift ;;
        -w) WHAT=$2; shift ;;
        -t) TARGETS=$2; shift ;;
        -h|--help) sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "cost: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
[ $# -ge 1 ] || { echo "usage: bench/cost.sh [-m modes] [-w what] [-t targets] BINARY..." >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "cost: needs root (network namespace)" >&2; exit 1; }
DURATION=${DURATION:-5} ROUNDS=${ROUNDS:-3} CONNS=${CONNS:-32}
"$here/../tests/deps.sh" haproxy nginx valgrind strace wrk iproute2 util-linux procps >/dev/null || exit 1

W=$(mktemp -d /tmp/lxlb-cost.XXXXXX)
chmod 755 "$W"
NS=lxlbcost$$
declare -A BIN PID PORT
i=0
for b in "$@"; do
    name=lxlb; [ $i -gt 0 ] && name=lxlb$((i + 1))
    cp "$b" "$W/$name"; BIN[$name]=$W/$name
    i=$((i + 1))
done
[ -n "$TARGETS" ] || TARGETS=$(printf '%s,' "${!BIN[@]}" | tr ',' '\n' | sort | paste -sd,),haproxy,nginx
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    ip netns del "$NS" 2>/dev/null
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "cost: kept $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS" || exit 1
ip -n "$NS" link set lo up
IN=(nsenter --net=/run/netns/"$NS")   # execs, no fork: $! is the process
PIN0=(taskset -c 0) PIN1=(taskset -c 1)
[ "$(nproc)" -ge 2 ] || { PIN0=(); PIN1=(); }
HZ=$(getconf CLK_TCK)
ulimit -n 65536 2>/dev/null

spawn() {   # NAME CMD...: sets SPAWNED
    local name=$1; shift
    "${IN[@]}" "$@" >"$W/$name.log" 2>&1 &
    SPAWNED=$!
    PIDS+=("$SPAWNED")
}
wait_port() {
    local i
    for i in $(seq 100); do
        "${IN[@]}" bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
NEXT_PORT=20000
port() { NEXT_PORT=$((NEXT_PORT + 1)); }   # sets NEXT_PORT (no subshell: it must stick)

mkdir -p "$W/www" "$W/tmp"
echo "static backend" >"$W/www/index.html"
case "$MODES" in
*t*)
    if [ "${CERT_KIND:-rsa}" = ec ]; then key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
    else key=(-newkey rsa:2048); fi
    openssl req -x509 "${key[@]}" -nodes -keyout "$W/site.key" -out "$W/site.crt" -days 2 \
        -subj "/CN=bench.test" -addext "subjectAltName=DNS:bench.test" 2>/dev/null ||
        { echo "cost: openssl req failed" >&2; exit 1; }
    cat "$W/site.crt" "$W/site.key" >"$W/site.pem" ;;
esac
tls_mode() { case "$1" in t*) return 0 ;; *) return 1 ;; esac; }
url() {   # MODE PORT
    if tls_mode "$1"; then echo "https://127.0.0.1:$2/"; else echo "http://127.0.0.1:$2/"; fi
}

port; BPORT=$NEXT_PORT
bench_static_conf "$W" "$BPORT"
spawn static "${PIN0[@]}" nginx -p "$W" -e "$W/static-error.log" -c "$W/static.conf" -g 'daemon off;'
wait_port "$BPORT" || { cat "$W/static.log"; echo "cost: static backend did not start" >&2; exit 1; }

# ------------------------------------------------------------- configs ----
conf_lxlb() {   # FILE PORT MODE
    # The frontend key only when set: binaries from before it (A/B) reject it.
    local fe_close= be_close=false tls=
    [ "$3" = sclose ] && be_close=true
    [ "$3" = close ] && fe_close='"http_close": true,'
    tls_mode "$3" && tls="\"tls\": { \"cert\": \"$W/site.pem\" },"
    cat >"$1" <<EOF
{ "global": { "maxconn": 20000, "access_log": "off" },
  "defaults": { "timeout": { "connect": "5s", "client": "50s", "server": "50s",
                             "keepalive": "10s", "http_request": "10s" } },
  "frontends": [ { "name": "http", "bind": ["127.0.0.1:$2"], "default_backend": "b", $tls
                   $fe_close "forwardfor": true,
                   "set_headers": { "X-Forwarded-Proto": "http" } } ],
  "backends": [ { "name": "b", "http_close": $be_close,
                  "servers": [ { "name": "s1", "address": "127.0.0.1:$BPORT" } ] } ] }
EOF
}
conf_haproxy() {
    cat >"$1" <<EOF
global
    nbthread 1
    maxconn 9000
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
    timeout http-keep-alive 10s
    timeout http-request 10s
frontend http
    bind 127.0.0.1:$2$(tls_mode "$3" && echo " ssl crt $W/site.pem alpn http/1.1")
    option forwardfor
    http-request set-header X-Forwarded-Proto http
$([ "$3" = close ] && echo "    option httpclose")
    default_backend b
backend b
    http-reuse always
$([ "$3" = sclose ] && echo "    option httpclose")
    server s1 127.0.0.1:$BPORT
EOF
}
conf_nginx() {
    local ka=10s up_ka="keepalive 64; keepalive_requests 100000000; keepalive_timeout 60s;" conn='""' ssl=
    case "$3" in sclose|close) up_ka=""; conn=close ;; esac
    tls_mode "$3" && ssl=" ssl; ssl_certificate $W/site.crt; ssl_certificate_key $W/site.key; ssl_session_cache shared:SSL:10m; ssl_protocols TLSv1.2 TLSv1.3"
    [ "$3" = ths ] && ka=10s
    [ "$3" = close ] && ka=0
    cat >"$1" <<EOF
worker_processes 1;
pid $1.pid;
error_log $1.error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_timeout $ka;
    keepalive_requests 100000000;
    client_body_temp_path $W/tmp/pb; proxy_temp_path $W/tmp/pp;
    fastcgi_temp_path $W/tmp/pf; uwsgi_temp_path $W/tmp/pu; scgi_temp_path $W/tmp/ps;
    upstream b { server 127.0.0.1:$BPORT; $up_ka }
    server {
        listen 127.0.0.1:$2 backlog=4096$ssl;
        location / {
            proxy_pass http://b;
            proxy_http_version 1.1;
            proxy_set_header Connection $conn;
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto http;
        }
    }
}
EOF
}

WRAP=()
start() {   # TARGET MODE: sets PID[t] PORT[t]; the serving pid in SERVE
    local t=$1 m=$2 p cfg
    port; p=$NEXT_PORT; cfg=$W/$t-$m.conf
    case $t in
        lxlb*) conf_lxlb "$cfg" "$p" "$m"
               spawn "$t" "${PIN1[@]}" "${WRAP[@]}" "${BIN[$t]}" -f "$cfg" ;;
        haproxy) conf_haproxy "$cfg" "$p" "$m"
               spawn "$t" "${PIN1[@]}" "${WRAP[@]}" haproxy -db -f "$cfg" ;;
        nginx) conf_nginx "$cfg" "$p" "$m"
               spawn "$t" "${PIN1[@]}" "${WRAP[@]}" nginx -p "$W" -e "$cfg.error.log" -c "$cfg" \
                   -g "daemon off; $([ ${#WRAP[@]} -gt 0 ] && echo 'master_process off;')" ;;
    esac
    PID[$t]=$SPAWNED PORT[$t]=$p
    wait_port "$p" || { tail "$W/$t.log" >&2; return 1; }
    SERVE=$SPAWNED
    if [ "$t" = nginx ] && [ ${#WRAP[@]} = 0 ]; then
        sleep 0.2; SERVE=$(pgrep -P "$SPAWNED" | head -n 1)
    fi
    "${IN[@]}" wrk -t1 -c4 -d1s "$(url "$m" "$p")" >/dev/null 2>&1   # warm
}
stop() { kill "${PID[$1]}" 2>/dev/null; wait "${PID[$1]}" 2>/dev/null; }

ticks() {   # PIDS: utime stime (children of nginx's master included by the caller)
    local u=0 s=0 p f
    for p in "$@"; do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        set -- $f
        u=$((u + ${12})); s=$((s + ${13}))
    done
    echo "$u $s"
}
segs() { "${IN[@]}" awk '/^Tcp:/ { if (h) { print $12, $11; exit } h = 1 }' /proc/net/snmp; }  # OutSegs InSegs
wrk_n() {   # CONNS SECONDS MODE PORT: "requests rps p99_ms errors"
    local h=()
    [ "$3" = ths ] && h=(-H "Connection: close")
    "${IN[@]}" "${PIN0[@]}" wrk -t1 -c"$1" -d"$2"s --latency "${h[@]}" "$(url "$3" "$4")" 2>&1 | awk '
        /requests in/ { n = $1 }
        /^Requests\/sec/ { r = $2 }
        $1 == "99%" { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else v = v * 1000; p = v }
        /Socket errors|Non-2xx/ { e = 1 }
        END { printf "%d %d %.2f %d\n", n, r, p, e }'
}

RES=$W/results
: >"$RES"
IFS=, read -r -a modes <<<"$MODES"
IFS=, read -r -a targets <<<"$TARGETS"
IFS=, read -r -a what <<<"$WHAT"
for m in "${modes[@]}"; do
    for w in "${what[@]}"; do
        for r in $(seq "$([ "$w" = cpu ] && echo "$ROUNDS" || echo 1)"); do
            for t in "${targets[@]}"; do
                case $w in
                cpu)
                    start "$t" "$m" || continue
                    pids=$(echo "${PID[$t]}"; pgrep -P "${PID[$t]}")
                    c0=$(ticks $pids); s0=$(segs)
                    read -r n rps p99 err <<<"$(wrk_n "$CONNS" "$DURATION" "$m" "${PORT[$t]}")"
                    c1=$(ticks $pids); s1=$(segs)
                    stop "$t"
                    read -r u0 y0 <<<"$c0"; read -r u1 y1 <<<"$c1"
                    read -r o0 i0 <<<"$s0"; read -r o1 i1 <<<"$s1"
                    echo "$m $t cpu $r $n $rps $p99 $err $(( (u1 - u0) )) $(( (y1 - y0) )) $((o1 - o0)) $((i1 - i0))" >>"$RES"
                    ;;
                strace)
                    # (segments per request too: strace slows, it does not add any)
                    start "$t" "$m" || continue
                    "${IN[@]}" strace -c -f -q -o "$W/strace-$t-$m.txt" -p "$SERVE" &
                    st=$!; sleep 0.5
                    s0=$(segs)
                    read -r n _ <<<"$(wrk_n "$CONNS" 3 "$m" "${PORT[$t]}")"
                    s1=$(segs)
                    kill -INT "$st"; wait "$st" 2>/dev/null
                    stop "$t"
                    read -r o0 i0 <<<"$s0"; read -r o1 i1 <<<"$s1"
                    echo "$m $t strace 1 $n $((o1 - o0)) $((i1 - i0))" >>"$RES"
                    ;;
                callgrind)
                    WRAP=(valgrind --tool=callgrind --callgrind-out-file="$W/cg-$t-$m.out")
                    start "$t" "$m" || { WRAP=(); continue; }
                    WRAP=()
                    callgrind_control -z "${PID[$t]}" >/dev/null 2>&1
                    read -r n _ <<<"$(wrk_n 4 5 "$m" "${PORT[$t]}")"
                    callgrind_control -d "${PID[$t]}" >/dev/null 2>&1
                    stop "$t"
                    callgrind_annotate --threshold=100 "$W/cg-$t-$m.out.1" 2>/dev/null | head -n 80 >"$W/cg-$t-$m.txt"
                    ir=$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' "$W/cg-$t-$m.txt")
                    # The few handshakes of wrk's connections are not the
                    # requests' cost: left out (TLS modes).
                    hs=$(callgrind_annotate --inclusive=yes "$W/cg-$t-$m.out.1" 2>/dev/null |
                         awk '$NF ~ /^\[/ && /:SSL_do_handshake / { gsub(",", "", $1); print $1; exit }')
                    echo "$m $t callgrind 1 $n ${ir:-0} ${hs:-0}" >>"$RES"
                    echo "requests=$n ir=${ir:-0} handshakes_ir=${hs:-0}" >"$W/cg-$t-$m.meta"
                    ;;
                perf)
                    start "$t" "$m" || continue
                    perf record -q -e cpu-clock -g -o "$W/perf-$t-$m.data" -p "$(echo "${PID[$t]}" $(pgrep -P "${PID[$t]}") | tr ' ' ,)" \
                        >/dev/null 2>&1 &
                    pr=$!; sleep 0.3
                    read -r n _ <<<"$(wrk_n "$CONNS" "$DURATION" "$m" "${PORT[$t]}")"
                    kill -INT "$pr"; wait "$pr" 2>/dev/null
                    stop "$t"
                    perf report -i "$W/perf-$t-$m.data" --stdio --no-children --sort dso -g none 2>/dev/null \
                        | grep -v '^$' | head -n 20 >"$W/perf-$t-$m.dso"
                    perf report -i "$W/perf-$t-$m.data" --stdio --no-children --sort sym -g none 2>/dev/null \
                        | grep -v '^#' | grep -v '^$' | head -n 40 >"$W/perf-$t-$m.sym"
                    echo "$m $t perf 1 $n" >>"$RES"
                    ;;
                esac
            done
        done
    done
done

/usr/bin/python3 - "$W" "$HZ" <<'EOF'
import os, statistics, sys
W, hz = sys.argv[1], int(sys.argv[2])
rows = [l.split() for l in open(os.path.join(W, "results"))]
cpu, sc, cg, pf, sg = {}, {}, {}, {}, {}
for r in rows:
    m, t, w = r[0], r[1], r[2]
    if w == "cpu" and int(r[4]) > 0:
        n = int(r[4])
        cpu.setdefault((m, t), []).append(dict(rps=int(r[5]), p99=float(r[6]), err=int(r[7]),
            usr=int(r[8]) * 1e6 / hz / n, sys=int(r[9]) * 1e6 / hz / n,
            out=int(r[10]) / n, inn=int(r[11]) / n))
    elif w == "strace" and int(r[4]) > 0:
        if len(r) > 5:
            sg[(m, t)] = int(r[5]) / int(r[4])
        calls = {}
        for line in open(os.path.join(W, f"strace-{t}-{m}.txt")):
            p = line.split()
            if len(p) >= 5 and p[0][0].isdigit() and p[-1] != "total":
                calls[p[-1]] = int(p[3])
        sc[(m, t)] = {k: v / int(r[4]) for k, v in calls.items()}
    elif w == "callgrind" and int(r[4]) > 0:
        cg[(m, t)] = (int(r[5]) - (int(r[6]) if len(r) > 6 else 0)) / int(r[4])
    elif w == "perf" and int(r[4]) > 0:
        # cpu-clock samples: "Event count" is ns on CPU; the dso split says
        # how much of it was the kernel's.
        ns, kern = 0, 0.0
        for line in open(os.path.join(W, f"perf-{t}-{m}.dso")):
            if "Event count" in line:
                ns = int(line.split(":")[1].strip())
            elif "[kernel.kallsyms]" in line:
                kern = float(line.split("%")[0])
        n = int(r[4])
        pf[(m, t)] = (ns / 1000 / n, ns / 1000 / n * kern / 100)
keys = sorted({k for d in (cpu, sc, cg, pf) for k in d}, key=lambda k: ({"ka": 0, "sclose": 1, "close": 2, "tka": 3, "ths": 4}.get(k[0], 9), k[1]))
out = []
p = out.append
p("| mode | target | req/s | p99 ms | CPU us/req (user+sys) | TCP segs out/req | syscalls/req | instructions/req |")
p("|---|---|---:|---:|---:|---:|---:|---:|")
for k in keys:
    c = cpu.get(k)
    med = (lambda f: statistics.median(x[f] for x in c)) if c else None
    s = sc.get(k)
    segs = med('out') if c else sg.get(k)
    p(f"| {k[0]} | {k[1]} | "
      + (f"{med('rps'):,.0f} | {med('p99'):.2f} | {med('usr') + med('sys'):.1f} ({med('usr'):.1f}+{med('sys'):.1f}) | " if c else "- | - | - | ")
      + (f"{segs:.2f} | " if segs is not None else "- | ")
      + (f"{sum(s.values()):.2f} | " if s else "- | ")
      + (f"{cg[k]:,.0f} |" if k in cg else "- |"))
print("\n".join(out))
# A/B: two lxlb builds measured in turns: the median of the per-round
# differences (the rounds share whatever load the machine had).
for m in sorted({k[0] for k in cpu}):
    a, b = cpu.get((m, "lxlb")), cpu.get((m, "lxlb2"))
    if a and b:
        d = [(y["usr"] + y["sys"]) - (x["usr"] + x["sys"]) for x, y in zip(a, b)]
        base = statistics.median(x["usr"] + x["sys"] for x in a)
        print(f"{m} A/B lxlb2 - lxlb: CPU {statistics.median(d):+.2f} us/req "
              f"({statistics.median(d) / base * 100:+.1f}%), per round: " + " ".join(f"{x:+.1f}" for x in d))
for k in keys:
    s = sc.get(k)
    if s:
        line = f"{k[0]} {k[1]} syscalls/req: " + ", ".join(f"{n} {v:.2f}" for n, v in sorted(s.items(), key=lambda x: -x[1]) if v >= 0.01)
        print(line)
        if not out[-1].startswith("- "):
            out.append("")
        out.append("- " + line)
if os.environ.get("COST_OUT"):
    d = os.environ["COST_OUT"]
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "cost.md"), "w").write("\n".join(out) + "\n")
    import shutil
    for f in os.listdir(W):
        if f.startswith("cg-") and (f.endswith(".txt") or f.endswith(".meta")):
            shutil.copy(os.path.join(W, f), os.path.join(d, "cost-" + f))
for k in keys:
    if k in pf:
        tot, kern = pf[k]
        print(f"{k[0]} {k[1]} perf: {tot:.1f} us on CPU per request, kernel {kern:.1f} ({kern / tot * 100:.0f}%), user {tot - kern:.1f}")
EOF
