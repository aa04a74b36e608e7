#!/bin/bash
# bench/tls.sh [BINARY]   (default: build/lxlb)
#
# HTTPS: lxlb beside HAProxy, both terminating TLS with the same certificate
# (a fresh RSA 2048 one, or CERT=/path/combined.pem with cert then key), in
# front of the same fast static backend (nginx, one worker, on loopback) so
# the proxy is the bottleneck. One thread each, foreground, own temp configs.
#
#   keep-alive   wrk -t1 -cCONNS -dDURATION: TLS record crypto + proxying
#   handshake    the same with "Connection: close": a full handshake per
#                request (wrk does not resume sessions)
#
# For each: requests/s, p99 latency, and the proxy's CPU per request (user +
# system, from /proc/PID/stat) in microseconds. wrk and the backend run on
# CPU 0, the proxy on CPU 1 when there are 2+ CPUs. Median of ROUNDS rounds
# (the two proxies take turns). Environment: ROUNDS (3), DURATION (5),
# CONNS (32), CERT, BENCH_KEEP=1 keeps the work directory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
BIN=${1:-$repo/build/lxlb}
[ -x "$BIN" ] || { echo "bench/tls.sh: $BIN is not an executable (make first)" >&2; exit 2; }
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} CONNS=${CONNS:-32}

# ----------------------------------------------------------- packages ----
"$repo/tests/deps.sh" haproxy nginx wrk openssl python3 || exit 1

# --------------------------------------------------------------- setup ----
W=$(mktemp -d /tmp/lxlb-tls-bench.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    [ "${BENCH_KEEP:-0}" = 1 ] && echo "work directory kept: $W" || rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PIN_LOAD=() PIN_PROXY=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    PIN_LOAD=(taskset -c 0) PIN_PROXY=(taskset -c 1)
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_listen() {   # PORT
    local i
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

spawn() {   # NAME CMD...: in the background, output to $W/NAME.log; sets SPAWNED
    local name=$1; shift
    "$@" >"$W/$name.log" 2>&1 &
    SPAWNED=$!
    PIDS+=("$SPAWNED")
}

if [ -n "${CERT:-}" ]; then
    cp "$CERT" "$W/combined.pem"
else
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/site.key" -out "$W/site.crt" \
        -days 2 -subj "/CN=bench.test" -addext "subjectAltName=DNS:bench.test" 2>/dev/null ||
        { echo "bench/tls.sh: openssl req failed" >&2; exit 1; }
    cat "$W/site.crt" "$W/site.key" >"$W/combined.pem"
fi

# The static backend: nginx, one worker, no logs.
mkdir -p "$W/www" "$W/tmp"
echo "static backend" >"$W/www/index.html"
STATIC_PORT=$(free_port)
cat >"$W/static.conf" <<EOF
worker_processes 1;
pid $W/static.pid;
error_log $W/static-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $W/tmp/b; proxy_temp_path $W/tmp/p; fastcgi_temp_path $W/tmp/f;
    uwsgi_temp_path $W/tmp/u; scgi_temp_path $W/tmp/s;
    server { listen 127.0.0.1:$STATIC_PORT backlog=4096; root $W/www; location / { } }
}
EOF
spawn static "${PIN_LOAD[@]}" nginx -p "$W" -e "$W/static-error.log" -c "$W/static.conf" \
    -g 'daemon off;'
wait_listen "$STATIC_PORT" || { cat "$W/static.log" >&2; echo "static nginx did not start" >&2; exit 1; }

# The two proxies, alike: forwardfor, X-Forwarded-Proto, keep-alive both sides, no logs.
LXLB_PORT=$(free_port) HAPROXY_PORT=$(free_port)
cat >"$W/lxlb.json" <<EOF
{ "global": { "access_log": "off", "maxconn": 4096 },
  "frontends": [ { "name": "https", "bind": ["127.0.0.1:$LXLB_PORT"],
                   "tls": { "cert": "$W/combined.pem" },
                   "default_backend": "static", "forwardfor": true,
                   "set_headers": { "X-Forwarded-Proto": "https" } } ],
  "backends": [ { "name": "static",
                  "servers": [ { "name": "s1", "address": "127.0.0.1:$STATIC_PORT" } ] } ] }
EOF
cat >"$W/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 50s
    timeout server 50s
frontend https
    bind 127.0.0.1:$HAPROXY_PORT ssl crt $W/combined.pem alpn http/1.1
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    default_backend static
backend static
    http-reuse always
    server s1 127.0.0.1:$STATIC_PORT
EOF
spawn lxlb "${PIN_PROXY[@]}" "$BIN" -f "$W/lxlb.json"
PID_lxlb=$SPAWNED
spawn haproxy "${PIN_PROXY[@]}" haproxy -db -f "$W/haproxy.cfg"
PID_haproxy=$SPAWNED
for t in lxlb haproxy; do
    port_var=PORT_$t
    case $t in lxlb) port=$LXLB_PORT ;; haproxy) port=$HAPROXY_PORT ;; esac
    wait_listen "$port" || { cat "$W/$t.log" >&2; echo "$t did not start" >&2; exit 1; }
    curl -sfk "https://127.0.0.1:$port/" >/dev/null || { cat "$W/$t.log" >&2; echo "$t does not serve HTTPS" >&2; exit 1; }
done

# ----------------------------------------------------------------- runs ----
ticks() {   # PID: utime + stime
    local f
    f=$(sed 's/.*) //' "/proc/$1/stat") || return 1
    set -- $f
    echo $((${12} + ${13}))
}

to_ms() {   # a wrk latency (123.45us, 1.23ms, 1.02s) in ms
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.2f", n }'
}

HZ=$(getconf CLK_TCK)
run() {   # TARGET MODE ROUND: one wrk run; appends "target mode rps p99ms us/req errors"
    local t=$1 mode=$2 port pid out reqs rps p99 t0 t1 errs hdr=()
    case $t in lxlb) port=$LXLB_PORT pid=$PID_lxlb ;; haproxy) port=$HAPROXY_PORT pid=$PID_haproxy ;; esac
    [ "$mode" = handshake ] && hdr=(-H "Connection: close")
    t0=$(ticks "$pid")
    out=$("${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${hdr[@]}" \
        "https://127.0.0.1:$port/" 2>&1)
    t1=$(ticks "$pid")
    echo "$out" >"$W/wrk-$t-$mode-$3.txt"
    reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
    rps=$(echo "$out" | awk '/^Requests\/sec/ { printf "%d", $2 }')
    p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
    errs=$(echo "$out" | awk '/Socket errors|Non-2xx/ { s = s $0 "; " } END { print s == "" ? "0" : s }')
    awk -v t="$t" -v m="$mode" -v r="$rps" -v p="$p99" -v d=$((t1 - t0)) -v n="${reqs:-0}" \
        -v hz="$HZ" -v e="$errs" \
        'BEGIN { printf "%s %s %s %s %.1f %s\n", t, m, r, p, n ? d * 1e6 / hz / n : 0, e == "0" ? 0 : 1 }' \
        >>"$W/results"
    [ "$errs" = 0 ] || echo "  $t $mode: $errs" >&2
}

echo "lxlb $("$BIN" -v | awk '/^lxlb/ {print $2}') vs $(haproxy -v | head -n 1 | awk '{print "HAProxy", $3}');" \
    "$(openssl version | awk '{print "OpenSSL", $2}'); wrk -t1 -c$CONNS -d${DURATION}s;" \
    "$ROUNDS round(s); $([ ${#PIN_PROXY[@]} -gt 0 ] && echo 'proxy on CPU 1, wrk+backend on CPU 0' || echo 'unpinned')"
: >"$W/results"
for r in $(seq "$ROUNDS"); do
    for mode in keep-alive handshake; do
        # take turns, first one first on odd rounds
        if [ $((r % 2)) = 1 ]; then order="lxlb haproxy"; else order="haproxy lxlb"; fi
        for t in $order; do run "$t" "$mode" "$r"; sleep 0.5; done
    done
done

# --------------------------------------------------------------- table ----
median() { sort -n | awk '{ a[NR] = $1 } END { print NR ? a[int((NR + 1) / 2)] : "-" }'; }
printf '\n%-10s %-10s %10s %9s %12s %7s\n' mode proxy "req/s" "p99 ms" "CPU us/req" errors
for mode in keep-alive handshake; do
    for t in lxlb haproxy; do
        sel() { awk -v t="$t" -v m="$mode" -v c="$1" '$1 == t && $2 == m { print $c }' "$W/results"; }
        printf '%-10s %-10s %10s %9s %12s %7s\n' "$mode" "$t" "$(sel 3 | median)" \
            "$(sel 4 | median)" "$(sel 5 | median)" "$(sel 6 | awk '{ s += $1 } END { print s }')"
    done
done
