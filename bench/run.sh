#!/bin/bash
# bench/run.sh [--quick] [--only LIST] [--no-profile] BINARY
#
# lxlb side by side with HAProxy and nginx (one thread/worker each), on the
# very same backends: a fast static nginx on loopback (so the proxy, not the
# backend, is the bottleneck) and two Apache containers in LXC (the seed
# scenario, via tests/lxc/lib.sh). Needs root. Writes bench/RESULTS.md (the
# part between the BEGIN/END markers), bench/results.png and bench/results.tsv
# (a full run, or --write; --quick/--only runs report into their work dir).
#
# Scenarios (LIST is a comma list of these letters, default all):
#   a  keep-alive, static backend          b  keep-alive, two Apache containers
#   c  seed's httpclose (in the backend: a new server connection per request,
#      the client's kept alive, as HAProxy 2.6 does it), two Apache
#   g  httpclose on both sides (a new client connection too), two Apache
#   d  10,000 idle keep-alive clients: RSS each
#   e  lxc-stop -k of one container under wrk load: failed requests and p99
#   f  scaling: lxlb workers 1 and 2, HAProxy nbthread 2, nginx 2 workers,
#      keep-alive, static backend, wrk -t2 -c64, nothing pinned
#   t  TLS (bench/tls.sh): keep-alive and a new connection per request, with
#      an ECDSA P-256 and an RSA-2048 certificate, static backend
#   p  profile (bench/cost.sh, in a network namespace of its own): per request
#      instructions (callgrind), system calls (strace -c), TCP segments (nstat)
# Every proxy runs each scenario in the same mode: keep-alive (lxlb pools,
# HAProxy http-reuse always, nginx upstream keepalive); httpclose in the
# backend (lxlb backends[].http_close, HAProxy option httpclose in the
# backend, nginx without upstream keepalive, Connection: close upstream, the
# client kept alive); on both sides (lxlb frontends[].http_close, HAProxy
# option httpclose in the frontend, nginx keepalive_timeout 0).
# Every throughput figure is the median over ROUNDS interleaved rounds (the
# targets take turns, in a rotating order). wrk runs on CPU 0 with the static
# backend, each proxy on CPU 1 (taskset), when the machine has 2+ CPUs; in (f)
# nothing is pinned (the 2-thread proxies need both cores).
#
# Environment: ROUNDS (3; --quick 1), DURATION (10; --quick 3) seconds per wrk
# run, CONNS (32), IDLE_CONNS (10000), SCALE_CONNS (64) and SCALE_THREADS (2):
# wrk's connections and threads in (f), BENCH_KEEP=1 keeps the work directory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
repo=$(cd "$here/.." && pwd)

QUICK=0 ONLY=abcgdeftp PROFILE=1 BIN= WRITE=
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only) ONLY=${2//,/}; shift ;;
        --no-profile) PROFILE=0 ;;
        --write) WRITE=1 ;;
        -h|--help) sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "bench: unknown option $1" >&2; exit 2 ;;
        *) BIN=$1 ;;
    esac
    shift
done
[ -n "$BIN" ] || { echo "usage: bench/run.sh [--quick] [--only abcgdeftp] BINARY" >&2; exit 2; }
[ -x "$BIN" ] || { echo "bench: $BIN is not an executable" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[ "$PROFILE" = 0 ] && ONLY=${ONLY//p/}
[ "$(id -u)" = 0 ] || { echo "bench: needs root (LXC containers, taskset, ulimit)" >&2; exit 1; }

if [ "$QUICK" = 1 ]; then
    ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-3} FAIL_MODES=${FAIL_MODES:-close}
else
    ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-10} FAIL_MODES=${FAIL_MODES:-"close keepalive"}
fi
CONNS=${CONNS:-32}
SCALE_CONNS=${SCALE_CONNS:-64}
SCALE_THREADS=${SCALE_THREADS:-2}
WRK_T=1            # wrk threads (SCALE_THREADS in (f))
IDLE_CONNS=${IDLE_CONNS:-10000}
FAIL_DURATION=10     # the failure run: -d10s, lxc-stop -k after FAIL_AT s
FAIL_AT=3

# ------------------------------------------------------------ packages ----
# Bench-only packages, installed here (not by make test's list).
"$here/../tests/deps.sh" haproxy nginx gnuplot-nox valgrind strace wrk curl python3 \
    util-linux procps || exit 1

# ------------------------------------------------------------- test bed ----
# Our own bridge, subnet and lxcpath: tests and the demo may run meanwhile.
export TB_ROOT=${BENCH_TB_ROOT:-/var/lib/lxlb-bench}
export TB_BRIDGE=${BENCH_TB_BRIDGE:-lxlbbench0}
export TB_NET=${BENCH_TB_NET:-10.213.2}
# shellcheck source=tests/lxc/lib.sh
source "$repo/tests/lxc/lib.sh"
# The same as lib.sh's, without "No such file" noise for processes that exit
# while /proc is scanned.
tb_kill_monitord() {
    local p cmd
    for p in /proc/[0-9]*; do
        cmd=$( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
        case "$cmd" in
            *lxc-monitord\ "$TB_LXCPATH"\ *) kill -KILL "${p#/proc/}" 2>/dev/null ;;
        esac
    done
}
IP1=$(tb_ip 11)
IP2=$(tb_ip 12)
GROUP=benchweb

W=$(mktemp -d /tmp/lxlb-bench.XXXXXX)
chmod 755 "$W"        # nginx workers (nobody) read the static file
OUT=$W/out; mkdir -p "$OUT" "$W/www" "$W/nginx-tmp"
RAW=$OUT/raw.tsv IDLE=$OUT/idle.tsv FAIL=$OUT/fail.tsv SCALE=$OUT/scale.tsv
: >"$RAW"; : >"$IDLE"; : >"$FAIL"; : >"$SCALE"
BENCH_PIDS=()

bench_cleanup() {
    local p
    for p in "${BENCH_PIDS[@]}"; do tb_kill_pid "$p"; done
    BENCH_PIDS=()
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $W"; else rm -rf "$W"; fi
}
log() { echo "bench: $*" >&2; }
# One binary for the whole run, even if the tree is rebuilt meanwhile.
cp "$BIN" "$W/lxlb"; BIN_ORIG=$BIN; BIN=$W/lxlb

# HAProxy's maxconn 20000 wants 40k descriptors; root may raise the hard limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
[ "$(ulimit -n)" -gt $((IDLE_CONNS + 200)) ] || { IDLE_CONNS=$(( $(ulimit -n) - 500 )); log "ulimit -n $(ulimit -n): IDLE_CONNS=$IDLE_CONNS"; }

# HAProxy refuses to start when it cannot get 2 x maxconn + a few descriptors;
# with a lower hard limit (containers) its maxconn is what fits (the idle
# scenario then counts the connections it answered).
if [ "$(ulimit -n)" -ge 40100 ]; then
    HAPROXY_MAXCONN=20000
else
    HAPROXY_MAXCONN=$(( ($(ulimit -n) - 100) / 2 ))
    log "ulimit -n $(ulimit -n) (hard): HAProxy maxconn $HAPROXY_MAXCONN"
fi

NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then
    PIN_LOAD="taskset -c 0"; PIN_PROXY="taskset -c 1"
else
    PIN_LOAD=""; PIN_PROXY=""
fi
PIN_LOAD_SAVED=$PIN_LOAD
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------ processes ----

# spawn NAME CMD...: background process, killed on exit; sets SPAWNED.
spawn() {
    local name=$1; shift
    "$@" >"$W/$name.out" 2>&1 &
    SPAWNED=$!
    BENCH_PIDS+=("$SPAWNED")
}

stop_pid() {
    local pid=$1 p keep=()
    tb_kill_pid "$pid"
    for p in "${BENCH_PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    BENCH_PIDS=("${keep[@]}")
}

# The pids whose CPU and RSS count for a proxy: the process and its children
# (nginx: master + worker).
proc_tree() {
    local pid=$1 c
    echo "$pid"
    for c in $(pgrep -P "$pid" 2>/dev/null); do echo "$c"; done
}

cpu_ticks() {   # utime stime summed over the pids
    local u=0 s=0 p f
    for p in "$@"; do
        f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
        # fields after "pid (comm) ": state=1 ... utime=12 stime=13
        set -- $f
        u=$((u + ${12})); s=$((s + ${13}))
    done
    echo "$u $s"
}

rss_kb() {
    local t=0 p r
    for p in "$@"; do
        r=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null)
        t=$((t + ${r:-0}))
    done
    echo "$t"
}

free_port() { tb_free_port; }

# ----------------------------------------------------------- backends ----

start_static() {
    echo "static backend" >"$W/www/index.html"
    echo ok >"$W/www/health"
    STATIC_PORT=$(free_port)
    bench_static_conf "$W" "$STATIC_PORT"
    spawn static $PIN_LOAD nginx -p "$W" -e "$W/static-error.log" -c "$W/static.conf" -g 'daemon off;'
    STATIC_PID=$SPAWNED
    tb_wait_listen "$STATIC_PORT" || { cat "$W/static.out" "$W/static-error.log" >&2; tb_die "static nginx did not start"; }
}

start_containers() {
    tb_setup
    tb_defer bench_cleanup
    tb_create http1 "$IP1" "$GROUP"
    tb_create http2 "$IP2" "$GROUP"
    tb_start_all http1 http2 || tb_die "Apache containers did not answer"
}

# ------------------------------------------------------------- proxies ----
# Configs for backend kind KIND (static|apache) and MODE (keepalive|close|idle).
# idle: keep-alive with long client timeouts (the 10k idle connections).

servers_lxlb() {
    if [ "$1" = static ]; then
        echo "{ \"name\": \"s1\", \"address\": \"127.0.0.1:$STATIC_PORT\" }"
    else
        echo "{ \"name\": \"http1\", \"address\": \"$IP1:80\" }, { \"name\": \"http2\", \"address\": \"$IP2:80\" }"
    fi
}
servers_list() {   # "addr name" lines
    if [ "$1" = static ]; then echo "127.0.0.1:$STATIC_PORT s1"; else printf '%s\n' "$IP1:80 http1" "$IP2:80 http2"; fi
}

write_lxlb() {   # FILE PORT KIND MODE [discovery]
    local f=$1 port=$2 kind=$3 mode=$4 disc=${5:-} close=false fe_close=false ka=10s cl=50s servers
    [ "$mode" = close ] && close=true
    [ "$mode" = closeboth ] && fe_close=true
    [ "$mode" = idle ] && ka=300s cl=300s
    if [ -n "$disc" ]; then
        servers="\"discovery\": { \"lxc\": { \"lxcpath\": \"$TB_LXCPATH\", \"group\": \"$GROUP\", \"port\": 80 } }"
    else
        servers="\"servers\": [ $(servers_lxlb "$kind") ]"
    fi
    cat >"$f" <<EOF
{
  "global": { "maxconn": 20000, "workers": $PX_THREADS, "access_log": "off" },
  "defaults": { "timeout": { "connect": "5s", "client": "$cl", "server": "50s",
                             "keepalive": "$ka", "http_request": "10s" },
                "retries": 3 },
  "frontends": [ { "name": "http", "bind": ["127.0.0.1:$port"], "http_close": $fe_close,
                   "default_backend": "nodes", "forwardfor": true,
                   "set_headers": { "X-Forwarded-Proto": "http" } } ],
  "backends": [ { "name": "nodes", "balance": "roundrobin", "http_close": $close,
                  "redispatch": true, "retries": 3,
                  "health": { "path": "/", "interval": "5s", "timeout": "2s", "rise": 2, "fall": 3 },
                  $servers } ]
}
EOF
}

write_haproxy() {   # FILE PORT KIND MODE
    local f=$1 port=$2 kind=$3 mode=$4 ka=10s cl=50s addr name
    [ "$mode" = idle ] && ka=300s cl=300s
    {
        cat <<EOF
global
    nbthread $PX_THREADS
    maxconn $HAPROXY_MAXCONN
defaults
    mode http
    timeout connect 5s
    timeout client $cl
    timeout server 50s
    timeout http-keep-alive $ka
    timeout http-request 10s
    retries 3
    option redispatch
frontend http
    bind 127.0.0.1:$port
    option forwardfor
    http-request set-header X-Forwarded-Proto http
$([ "$mode" = closeboth ] && echo "    option httpclose")
    default_backend nodes
backend nodes
    balance roundrobin
    http-reuse always
    option httpchk GET /
EOF
        [ "$mode" = close ] && echo "    option httpclose"
        servers_list "$kind" | while read -r addr name; do
            echo "    server $name $addr check inter 5s fall 3 rise 2"
        done
    } >"$f"
}

write_nginx() {   # FILE PORT KIND MODE
    local f=$1 port=$2 kind=$3 mode=$4 ka=10s addr name up_ka="keepalive 64; keepalive_requests 100000000; keepalive_timeout 60s;"
    local conn_hdr='proxy_http_version 1.1; proxy_set_header Connection "";'
    [ "$mode" = idle ] && ka=300s
    # httpclose in the backend: a new upstream connection per request, the
    # client's kept alive; on both sides: the client's closed too.
    if [ "$mode" = close ] || [ "$mode" = closeboth ]; then
        up_ka=""; conn_hdr='proxy_http_version 1.1; proxy_set_header Connection close;'
    fi
    [ "$mode" = closeboth ] && ka=0
    {
        cat <<EOF
worker_processes $PX_THREADS;
pid $f.pid;
error_log $f.error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 20000; }
http {
    access_log off;
    keepalive_timeout $ka;
    keepalive_requests 100000000;
    client_header_timeout 10s;
    client_body_temp_path $W/nginx-tmp/pb; proxy_temp_path $W/nginx-tmp/pp;
    fastcgi_temp_path $W/nginx-tmp/pf; uwsgi_temp_path $W/nginx-tmp/pu; scgi_temp_path $W/nginx-tmp/ps;
    upstream nodes {
EOF
        servers_list "$kind" | while read -r addr name; do
            echo "        server $addr max_fails=$NGINX_MAX_FAILS fail_timeout=10s;"
        done
        cat <<EOF
        $up_ka
    }
    server {
        listen 127.0.0.1:$port backlog=4096$([ "$PX_THREADS" -gt 1 ] && echo " reuseport");
        location / {
            proxy_pass http://nodes;
            $conn_hdr
            proxy_set_header Host \$http_host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto http;
            proxy_connect_timeout 5s;
            proxy_read_timeout 50s;
            proxy_send_timeout 50s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 4;
        }
    }
}
EOF
    } >"$f"
}

# start_proxy NAME KIND MODE: starts proxy NAME (lxlb, lxlb-disc, haproxy,
# nginx; lxlb-w2, haproxy-t2, nginx-w2: the same with 2 threads/workers) on a
# free port, pinned (PIN_PROXY); sets PORT_<name> and PID_<name>.
declare -A PORT PID
# nginx's passive health: max_fails counts every error, also Apache closing an
# idle keep-alive connection nginx is reusing (mpm_event does so when busy);
# with max_fails > 0 both servers end up "temporarily disabled" and nginx
# answers 502 "no live upstreams". HAProxy and lxlb retry those requests
# without marking the server down, so the throughput runs turn it off; the
# failure scenario (e) uses max_fails=3.
NGINX_MAX_FAILS=0
WRAP=()            # a command in front of the proxy (valgrind for the profile)
PX_THREADS=1       # lxlb workers, HAProxy nbthread, nginx worker_processes
NGINX_G='daemon off;'
start_proxy() {
    local name=$1 kind=$2 mode=$3 port cfg PX_THREADS=1
    port=$(free_port)
    cfg=$W/$name-$kind-$mode.conf
    case "$name" in *-[wt][0-9]*) PX_THREADS=${name##*-[wt]} ;; esac
    case "$name" in
        lxlb|lxlb-w*) write_lxlb "$cfg" "$port" "$kind" "$mode"
                   spawn "$name" $PIN_PROXY "${WRAP[@]}" "$BIN" -f "$cfg" ;;
        lxlb-disc) write_lxlb "$cfg" "$port" "$kind" "$mode" disc
                   spawn "$name" $PIN_PROXY "$BIN" -f "$cfg" ;;
        haproxy|haproxy-t*) write_haproxy "$cfg" "$port" "$kind" "$mode"
                   spawn "$name" $PIN_PROXY "${WRAP[@]}" haproxy -f "$cfg" -db ;;
        nginx|nginx-w*) write_nginx "$cfg" "$port" "$kind" "$mode"
                   spawn "$name" $PIN_PROXY "${WRAP[@]}" nginx -p "$W" -e "$cfg.error.log" -c "$cfg" -g "$NGINX_G" ;;
    esac
    PID[$name]=$SPAWNED PORT[$name]=$port
    if ! tb_wait_listen "$port" 60; then
        log "$name did not listen on $port:"; tail -n 20 "$W/$name.out" >&2
        return 1
    fi
}
stop_proxy() { [ -n "${PID[$1]:-}" ] && stop_pid "${PID[$1]}"; PID[$1]=; }

# warm NAME: a few requests, so that pools and buffers exist before measuring.
warm() { local i; for i in 1 2 3 4 5 6; do curl -s -o /dev/null -m 5 "http://127.0.0.1:${PORT[$1]}/"; done; }

# lxlb-disc only counts if discovery works in this binary: both containers
# found and answering within 15 s.
disc_works() {
    local end=$((SECONDS + 15)) seen
    while [ "$SECONDS" -lt "$end" ]; do
        seen=$(for _ in 1 2 3 4; do curl -s -m 2 "http://127.0.0.1:${PORT[lxlb-disc]}/"; done | sort -u | tr -d '\n')
        [ "$seen" = "Apache in LXC http1Apache in LXC http2" ] && return 0
        sleep 1
    done
    return 1
}

# try_disc MODE: starts lxlb-disc if discovery works (tried once per run).
DISC=unknown
try_disc() {
    [ "$DISC" = no ] && return 1
    if start_proxy lxlb-disc apache "$1" && disc_works; then DISC=yes; return 0; fi
    [ "$DISC" = unknown ] && log "lxlb discovery does not serve both containers in this binary: no lxlb-disc rows"
    DISC=no
    stop_proxy lxlb-disc
    return 1
}

# wrk_run URL DURATION [extra wrk args]: prints the RESULT line of report.lua.
# wrk's own CPU time (user sys, seconds) goes to $W/wrk.time.
wrk_run() {
    local url=$1 d=$2 TIMEFORMAT='%3U %3S'; shift 2
    { time $PIN_LOAD wrk -t"$WRK_T" -c"$CONNS" -d"${d}s" --latency -s "$here/report.lua" "$@" "$url" >"$W/wrk.last" 2>&1; } 2>"$W/wrk.time"
    cat "$W/wrk.last" >>"$W/wrk.log"
    grep '^RESULT ' "$W/wrk.last" | tail -n 1 | cut -d' ' -f2-
}

# measure SCEN TARGET ROUND URL PID...: one wrk run, one line in raw.tsv:
# scen target round requests dur_us p50 p90 p99 max errors(5) utime_ticks stime_ticks rss_kb
measure() {
    local scen=$1 target=$2 round=$3 url=$4; shift 4
    local pids=("$@") c0 c1 r rss
    c0=$(cpu_ticks "${pids[@]}")
    r=$(wrk_run "$url" "$DURATION")
    c1=$(cpu_ticks "${pids[@]}")
    rss=$(rss_kb "${pids[@]}")
    [ -n "$r" ] || { log "wrk gave no result for $target:"; tail -n 5 "$W/wrk.last" >&2; return 0; }
    read -r u0 s0 <<<"$c0"; read -r u1 s1 <<<"$c1"
    [ ${#pids[@]} = 0 ] && { u0=0 u1=0 s0=0 s1=0 rss=0; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$scen" "$target" "$round" "$(tr ' ' '\t' <<<"$r")" \
        $((u1 - u0)) $((s1 - s0)) "$rss" | tee -a "$RAW" | awk -F'\t' -v tck="$CLK_TCK" \
        '{printf "bench:   %-3s %-10s round %s: %8.0f req/s  p50 %6.2f ms  p99 %7.2f ms  cpu %5.1f us/req\n",
          $1, $2, $3, $4/($5/1e6), $6/1000, $8/1000, ($4 ? ($15+$16)*1e6/tck/$4 : 0)}' >&2
}

# throughput SCEN KIND MODE DIRECT_URL: all proxies up, ROUNDS interleaved rounds.
throughput() {
    local scen=$1 kind=$2 mode=$3 direct=$4 targets=(direct lxlb haproxy nginx) t r i n
    log "scenario $scen: $kind backend, $mode"
    for t in lxlb haproxy nginx; do start_proxy "$t" "$kind" "$mode" || tb_die "cannot start $t"; done
    if [ "$kind" = apache ] && try_disc "$mode"; then targets+=(lxlb-disc); fi
    for t in "${targets[@]}"; do [ "$t" = direct ] || warm "$t"; done
    # Warm-up run per target (not counted): caches, pools, ARP.
    for t in "${targets[@]}"; do
        if [ "$t" = direct ]; then wrk_run "$direct" 1 >/dev/null
        else wrk_run "http://127.0.0.1:${PORT[$t]}/" 1 >/dev/null; fi
    done
    n=${#targets[@]}
    for r in $(seq "$ROUNDS"); do
        for i in $(seq 0 $((n - 1))); do
            t=${targets[$(( (i + r - 1) % n ))]}
            if [ "$t" = direct ]; then
                measure "$scen" direct "$r" "$direct"
            else
                measure "$scen" "$t" "$r" "http://127.0.0.1:${PORT[$t]}/" $(proc_tree "${PID[$t]}")
            fi
        done
    done
    for t in "${targets[@]}"; do [ "$t" = direct ] || stop_proxy "$t"; done
}

# idle_scenario: IDLE_CONNS idle keep-alive clients on each proxy, RSS each.
idle_scenario() {
    local t r pids
    log "scenario d: $IDLE_CONNS idle keep-alive connections"
    for t in lxlb haproxy nginx; do
        start_proxy "$t" static idle || tb_die "cannot start $t"
        warm "$t"
        wrk_run "http://127.0.0.1:${PORT[$t]}/" 1 >/dev/null
        pids=$(proc_tree "${PID[$t]}" | paste -sd,)
        r=$(/usr/bin/python3 "$here/idle_conns.py" "${PORT[$t]}" "$IDLE_CONNS" "$pids" | grep '^RESULT' | cut -d' ' -f2-)
        printf 'd\t%s\t%s\n' "$t" "$(tr ' ' '\t' <<<"$r")" | tee -a "$IDLE" | awk -F'\t' \
            '{printf "bench:   d   %-10s RSS %d -> %d KiB, %d open, %d answered: %.2f KiB per connection\n",
              $2, $3, $4, $5, $6, ($6 ? ($4-$3)/$6 : 0)}' >&2
        stop_proxy "$t"
    done
}

# fail_scenario MODE: for each proxy, wrk against the two containers and
# lxc-stop -k http2 after FAIL_AT s; failed requests and p99. wrk --timeout
# 10s, so that slow answers count in p99 instead of as timeouts.
fail_scenario() {
    local mode=$1 t r targets=(lxlb haproxy nginx) c0 c1
    log "scenario e: lxc-stop -k http2 under load ($mode)"
    NGINX_MAX_FAILS=3
    if try_disc "$mode"; then targets+=(lxlb-disc); stop_proxy lxlb-disc; fi
    for t in "${targets[@]}"; do
        tb_wait_http "$IP2" 20 || tb_die "http2 did not come back"
        start_proxy "$t" apache "$mode" || tb_die "cannot start $t"
        [ "$t" = lxlb-disc ] && { disc_works || log "lxlb-disc: discovery did not find both"; }
        warm "$t"
        c0=$(cpu_ticks $(proc_tree "${PID[$t]}"))
        ( sleep "$FAIL_AT"; lxc-stop -P "$TB_LXCPATH" -n http2 -k ) &
        local stopper=$!
        r=$(wrk_run "http://127.0.0.1:${PORT[$t]}/" "$FAIL_DURATION" --timeout 10s)
        wait "$stopper"
        c1=$(cpu_ticks $(proc_tree "${PID[$t]}"))
        [ -n "$r" ] || { log "no wrk result for $t"; r="0 1 0 0 0 0 0 0 0 0 0"; }
        printf 'e-%s\t%s\t%s\n' "$mode" "$t" "$(tr ' ' '\t' <<<"$r")" | tee -a "$FAIL" | awk -F'\t' \
            '{printf "bench:   e   %-10s %d requests, failed %d (connect %d read %d write %d non-2xx/3xx %d timeout %d), p99 %.2f ms, max %.2f ms\n",
              $2, $3, $9+$10+$11+$12+$13, $9, $10, $11, $12, $13, $7/1000, $8/1000}' >&2
        stop_proxy "$t"
        tb_start http2
    done
    tb_wait_http "$IP2" 20 || true
    NGINX_MAX_FAILS=0
}

# ------------------------------------------------------------- scaling ----
# (f): does a second thread buy throughput? lxlb workers 1 and 2, HAProxy
# nbthread 2, nginx worker_processes 2 (listen reuseport, like lxlb's
# SO_REUSEPORT listeners), keep-alive, static backend, wrk -t2 -c64. Nothing is
# pinned: proxy, wrk and the static backend share both cores as the scheduler
# sees fit, the same for every target (lxlb workers 1 included). Besides the
# proxy's CPU, each run records wrk's CPU (bash time), the backend's, the
# whole machine's (/proc/stat) and the proxy's per thread/process, so that the
# report can show where the two cores went.

# All CPUs, from /proc/stat: busy (user nice system irq softirq), total (also
# idle iowait steal), irq+softirq (with IRQ time accounting, the loopback
# traffic's softirq work is not charged to any process), steal.
machine_ticks() {
    awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i
                   print t - $5 - $6 - $9, t, $7 + $8, $9; exit }' /proc/stat
}

# Ticks (utime+stime+cutime+cstime) of every process but PIDS and this shell
# (whose children times hold wrk's): other sessions' tests, kernel threads.
others_ticks() {
    local ex=" $$ $* "
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v ex="$ex" \
        'index(ex, " " $1 " ") == 0 { sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { print t + 0 }'
}

thread_ticks() {    # PIDS: pid/tid=utime+stime,... for every thread of each pid
    local p t v out=
    for p in "$@"; do
        for t in /proc/"$p"/task/[0-9]*; do
            v=$(sed 's/.*) //' "$t/stat" 2>/dev/null | awk '{print $12 + $13}')
            [ -n "$v" ] && out+="$p/${t##*/}=$v,"
        done
    done
    echo "${out:--}"
}

# measure_scale TARGET ROUND URL PID...: measure f ..., and one line in
# scale.tsv: f target round wrk_user_s wrk_sys_s backend_ticks busy_ticks
# total_ticks threads_before threads_after softirq_ticks steal_ticks
# other_processes_ticks
measure_scale() {
    local target=$1 round=$2 url=$3; shift 3
    local sb b0 b1 m0 m1 t0 t1 o0 o1 wt
    sb=$(proc_tree "$STATIC_PID")
    : >"$W/wrk.time"
    o0=$(others_ticks "$@" $sb); b0=$(cpu_ticks $sb); m0=$(machine_ticks); t0=$(thread_ticks "$@")
    measure f "$target" "$round" "$url" "$@"
    b1=$(cpu_ticks $sb); m1=$(machine_ticks); t1=$(thread_ticks "$@"); o1=$(others_ticks "$@" $sb)
    wt=$(tail -n 1 "$W/wrk.time")
    read -r bu0 bs0 <<<"$b0"; read -r bu1 bs1 <<<"$b1"
    read -r mb0 mt0 mi0 ms0 <<<"$m0"; read -r mb1 mt1 mi1 ms1 <<<"$m1"
    read -r wu ws <<<"${wt:-0 0}"
    printf 'f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$target" "$round" "${wu:-0}" "${ws:-0}" \
        $((bu1 + bs1 - bu0 - bs0)) $((mb1 - mb0)) $((mt1 - mt0)) "$t0" "$t1" \
        $((mi1 - mi0)) $((ms1 - ms0)) $((o1 - o0)) | tee -a "$SCALE" |
        awk -F'\t' -v tck="$CLK_TCK" -v d="$DURATION" -v n="$NCPU" \
        '{printf "bench:   f   %-10s round %s: wrk %3.0f%%  backend %3.0f%%  softirq %3.0f%%  other processes %3.0f%%  all CPUs busy %3.0f%% of %d00%%\n",
          $2, $3, ($4+$5)*100/d, $6*100/tck/d, ($8 ? $11*n*100/$8 : 0), $13*100/tck/d, ($8 ? $7*n*100/$8 : 0), n}' >&2
}

scale_scenario() {
    # Dynamic scope: start_proxy, wrk_run and measure see these.
    local PIN_LOAD='' PIN_PROXY='' CONNS=$SCALE_CONNS WRK_T=$SCALE_THREADS
    local targets=(direct lxlb lxlb-w2 haproxy-t2 nginx-w2) t r i n p
    log "scenario f: 1 vs 2 threads, static backend, keep-alive, wrk -t$WRK_T -c$CONNS, not pinned"
    # The static backend was started on CPU 0: let it float for (f).
    for p in $(proc_tree "$STATIC_PID"); do taskset -a -p -c "0-$((NCPU - 1))" "$p" >/dev/null 2>&1; done
    for t in "${targets[@]:1}"; do start_proxy "$t" static keepalive || tb_die "cannot start $t"; done
    grep -q '2 workers serving' "$W/lxlb-w2.out" ||
        log "lxlb-w2: no '2 workers serving' in its log: this binary may not run 2 workers"
    for t in "${targets[@]:1}"; do warm "$t"; done
    wrk_run "http://127.0.0.1:$STATIC_PORT/" 1 >/dev/null
    for t in "${targets[@]:1}"; do wrk_run "http://127.0.0.1:${PORT[$t]}/" 1 >/dev/null; done
    n=${#targets[@]}
    for r in $(seq "$ROUNDS"); do
        for i in $(seq 0 $((n - 1))); do
            t=${targets[$(( (i + r - 1) % n ))]}
            if [ "$t" = direct ]; then
                measure_scale direct "$r" "http://127.0.0.1:$STATIC_PORT/"
            else
                measure_scale "$t" "$r" "http://127.0.0.1:${PORT[$t]}/" $(proc_tree "${PID[$t]}")
            fi
        done
    done
    for t in "${targets[@]:1}"; do stop_proxy "$t"; done
    # Back on CPU 0 for the scenarios that follow.
    if [ -n "$PIN_LOAD_SAVED" ]; then
        for p in $(proc_tree "$STATIC_PID"); do taskset -a -p -c 0 "$p" >/dev/null 2>&1; done
    fi
}

# ------------------------------------------------------------- profile ----
# ------------------------------------------------------------- profile ----
# bench/cost.sh: per request instructions (callgrind; user space), system
# calls (strace -c) and TCP segments (nstat), for each proxy in each mode,
# on a static backend in a network namespace of its own: figures that do not
# move with the machine's load. Its table and the callgrind tops go to OUT.
profile() {
    log "profile: bench/cost.sh (callgrind, strace, nstat) in keep-alive, httpclose (backend, both sides), TLS keep-alive"
    COST_OUT=$OUT CERT_KIND=ec ROUNDS=1 DURATION=3 "$here/cost.sh" -w callgrind,strace,cpu -m ka,sclose,close,tka "$BIN" \
        >"$W/cost.log" 2>&1 || { log "cost.sh failed:"; tail -n 20 "$W/cost.log" >&2; }
}

# (t): bench/tls.sh with this binary, its rows into OUT/tls.tsv.
tls_scenario() {
    log "scenario t: TLS (bench/tls.sh): keep-alive and handshakes, ECDSA P-256 and RSA-2048"
    TLS_OUT=$OUT/tls.tsv ROUNDS=$ROUNDS DURATION=$([ "$QUICK" = 1 ] && echo 3 || echo 5) \
        "$here/tls.sh" "$BIN" >"$W/tls.log" 2>&1 || { log "tls.sh failed:"; tail -n 20 "$W/tls.log" >&2; }
    cat "$W/tls.log" >&2
}

# --------------------------------------------------------------- main ----

meta() {
    {
        echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "nproc=$NCPU"
        echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
        echo "kernel=$(uname -r)"
        echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
        echo "lxlb=$("$BIN" -v 2>&1 | head -n 1) ($BIN_ORIG, tree at $(cd "$repo" && git rev-parse --short HEAD 2>/dev/null))"
        echo "libevent=$("$BIN" -v 2>&1 | sed -n 's/^libevent //p')"
        echo "haproxy=$(haproxy -v 2>&1 | head -n 1 | awk '{print $3}')"
        echo "nginx=$(nginx -v 2>&1 | sed 's|.*nginx/||')"
        echo "apache=$(/usr/sbin/apache2 -v 2>/dev/null | sed -n 's|.*Apache/\([^ ]*\).*|\1|p')"
        echo "wrk=$(dpkg-query -W -f='${Version}' wrk 2>/dev/null)"
        echo "rounds=$ROUNDS"
        echo "duration=$DURATION"
        echo "conns=$CONNS"
        echo "scale_conns=$SCALE_CONNS"
        echo "scale_threads=$SCALE_THREADS"
        echo "idle_conns=$IDLE_CONNS"
        echo "quick=$QUICK"
        echo "pinned=$([ -n "$PIN_PROXY" ] && echo yes || echo no)"
        echo "clk_tck=$CLK_TCK"
        echo "haproxy_maxconn=$HAPROXY_MAXCONN"
        echo "ulimit_n=$(ulimit -n)"
    } >"$OUT/meta.env"
}

T0=$SECONDS
start_containers
start_static
meta
log "backends: static nginx on 127.0.0.1:$STATIC_PORT, Apache http1 $IP1, http2 $IP2; $ROUNDS round(s) of ${DURATION}s"
case "$ONLY" in *a*) throughput a static keepalive "http://127.0.0.1:$STATIC_PORT/" ;; esac
case "$ONLY" in *b*) throughput b apache keepalive "http://$IP1/" ;; esac
case "$ONLY" in *c*) throughput c apache close "http://$IP1/" ;; esac
case "$ONLY" in *g*) throughput g apache closeboth "http://$IP1/" ;; esac
case "$ONLY" in *f*) scale_scenario ;; esac
case "$ONLY" in *d*) idle_scenario ;; esac
case "$ONLY" in *e*) for m in $FAIL_MODES; do fail_scenario "$m"; done ;; esac
case "$ONLY" in *t*) tls_scenario ;; esac
case "$ONLY" in *p*) profile ;; esac
echo "elapsed=$((SECONDS - T0))" >>"$OUT/meta.env"
# Only a full run (or --write) replaces bench/RESULTS.md; --quick and --only
# runs report into the work directory. The small text inputs of the report
# are kept, so that it can be redone by hand:
#   /usr/bin/python3 bench/report.py bench/last-run bench
[ -z "$WRITE" ] && [ "$QUICK" = 0 ] && [ "$ONLY" = abcgdeftp ] && WRITE=1
if [ "$WRITE" = 1 ]; then DEST=$here; else DEST=$W/report; BENCH_KEEP=1; fi
rm -rf "$DEST/last-run"; mkdir -p "$DEST/last-run"
cp "$OUT"/*.tsv "$OUT"/*.env "$DEST/last-run/"
cp "$OUT"/callgrind-*.txt "$OUT"/callgrind-*.meta "$OUT"/strace-* "$OUT"/cost* "$DEST/last-run/" 2>/dev/null
/usr/bin/python3 "$here/report.py" "$DEST/last-run" "$DEST" || log "report failed"
log "done in $((SECONDS - T0)) s: $DEST/RESULTS.md, $DEST/results.png"
