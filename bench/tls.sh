#!/bin/bash
# bench/tls.sh [BINARY]   (default: build/lxlb)
#
# HTTPS: lxlb beside HAProxy and nginx, all terminating TLS 1.2/1.3 with the
# same fresh certificate, in front of the same fast static backend (nginx,
# one worker, on loopback) so the proxy is the bottleneck. One thread each,
# foreground, own temp configs; every proxy keeps its server connections
# alive.
#
#   keep-alive   wrk -t1 -cCONNS -dDURATION: TLS record crypto + proxying
#                (ECDSA P-256 certificate; the kind does not matter here)
#   handshake    the same with "Connection: close": a new TLS connection per
#                request, with an ECDSA P-256 and with an RSA-2048 certificate.
#                wrk offers the previous connection's session back: TLS 1.3
#                resumption (still an X25519 exchange, no signature) where the
#                server let it keep one, a full handshake where not.
#   full         openssl s_time -new -www /: one connection at a time, each a
#                full handshake (a new session: the certificate's signature),
#                with each certificate kind: what ECDSA saves over RSA.
#
# For each: requests/s, p99 latency, and the proxy's CPU per request (user +
# system, from /proc/PID/stat; nginx: master + worker) in microseconds. wrk
# and the backend run on CPU 0, the proxy on CPU 1 when there are 2+ CPUs.
# Median of ROUNDS rounds (the proxies take turns). Environment: ROUNDS (3),
# DURATION (5), CONNS (32), KINDS ("ec rsa": the handshake runs),
# TLS_OUT=FILE appends the rows (kind mode target round requests rps p99_ms
# us_per_req errors) for bench/report.py, BENCH_KEEP=1 keeps the work directory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
repo=$(cd "$here/.." && pwd)
BIN=${1:-$repo/build/lxlb}
[ -x "$BIN" ] || { echo "bench/tls.sh: $BIN is not an executable (make first)" >&2; exit 2; }
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} CONNS=${CONNS:-32} KINDS=${KINDS:-"ec rsa"}

# ----------------------------------------------------------- packages ----
"$repo/tests/deps.sh" haproxy nginx wrk openssl python3 >/dev/null || exit 1

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

# The static backend: nginx, one worker, no logs.
mkdir -p "$W/www" "$W/tmp"
echo "static backend" >"$W/www/index.html"
STATIC_PORT=$(free_port)
bench_static_conf "$W" "$STATIC_PORT"
spawn static "${PIN_LOAD[@]}" nginx -p "$W" -e "$W/static-error.log" -c "$W/static.conf" \
    -g 'daemon off;'
wait_listen "$STATIC_PORT" || { cat "$W/static.log" >&2; echo "static nginx did not start" >&2; exit 1; }

# cert KIND: $W/KIND.crt, .key and .pem (cert then key).
cert() {
    local key
    if [ "$1" = ec ]; then key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1)
    else key=(-newkey rsa:2048); fi
    openssl req -x509 "${key[@]}" -nodes -keyout "$W/$1.key" -out "$W/$1.crt" \
        -days 2 -subj "/CN=bench.test" -addext "subjectAltName=DNS:bench.test" 2>/dev/null ||
        { echo "bench/tls.sh: openssl req failed" >&2; exit 1; }
    cat "$W/$1.crt" "$W/$1.key" >"$W/$1.pem"
}

declare -A PORT PID
# start KIND: the three proxies with KIND's certificate (stopping any before).
start() {
    local kind=$1 t
    for t in lxlb haproxy nginx; do
        [ -n "${PID[$t]:-}" ] || continue
        kill "${PID[$t]}" 2>/dev/null
        wait "${PID[$t]}" 2>/dev/null
    done
    for t in lxlb haproxy nginx; do PORT[$t]=$(free_port); done
    # The three alike: forwardfor, X-Forwarded-Proto, keep-alive both sides, no logs.
    cat >"$W/lxlb.json" <<EOF
{ "global": { "access_log": "off", "maxconn": 4096 },
  "frontends": [ { "name": "https", "bind": ["127.0.0.1:${PORT[lxlb]}"],
                   "tls": { "cert": "$W/$kind.pem" },
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
    bind 127.0.0.1:${PORT[haproxy]} ssl crt $W/$kind.pem alpn http/1.1
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    default_backend static
backend static
    http-reuse always
    server s1 127.0.0.1:$STATIC_PORT
EOF
    # nginx 1.22's default protocols stop at TLS 1.2: 1.3 as the others.
    cat >"$W/nginx.conf" <<EOF
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $W/tmp/nb; proxy_temp_path $W/tmp/np; fastcgi_temp_path $W/tmp/nf;
    uwsgi_temp_path $W/tmp/nu; scgi_temp_path $W/tmp/ns;
    upstream static { server 127.0.0.1:$STATIC_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:${PORT[nginx]} ssl backlog=4096;
        ssl_certificate $W/$kind.crt;
        ssl_certificate_key $W/$kind.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        location / {
            proxy_pass http://static;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }
    }
}
EOF
    spawn lxlb "${PIN_PROXY[@]}" "$BIN" -f "$W/lxlb.json"
    PID[lxlb]=$SPAWNED
    spawn haproxy "${PIN_PROXY[@]}" haproxy -db -f "$W/haproxy.cfg"
    PID[haproxy]=$SPAWNED
    spawn nginx "${PIN_PROXY[@]}" nginx -p "$W" -e "$W/nginx-error.log" -c "$W/nginx.conf" -g 'daemon off;'
    PID[nginx]=$SPAWNED
    for t in lxlb haproxy nginx; do
        wait_listen "${PORT[$t]}" || { cat "$W/$t.log" >&2; echo "$t did not start" >&2; exit 1; }
        curl -sfk "https://127.0.0.1:${PORT[$t]}/" >/dev/null ||
            { cat "$W/$t.log" >&2; echo "$t does not serve HTTPS" >&2; exit 1; }
    done
}

# ----------------------------------------------------------------- runs ----
ticks() {   # PID: utime + stime of it and its children (nginx's worker)
    local p f s=0
    for p in "$1" $(pgrep -P "$1"); do
        f=$(sed 's/.*) //' "/proc/$p/stat") || continue
        set -- $f
        s=$((s + ${12} + ${13}))
    done
    echo "$s"
}

to_ms() {   # a wrk latency (123.45us, 1.23ms, 1.02s) in ms
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /[0-9]s$/ && v !~ /ms$/) n *= 1000; printf "%.2f", n }'
}

HZ=$(getconf CLK_TCK)
run() {   # KIND TARGET MODE ROUND: one wrk run; appends a row to $W/results
    local kind=$1 t=$2 mode=$3 port=${PORT[$2]} pid=${PID[$2]} out reqs rps p99 t0 t1 errs hdr=()
    [ "$mode" = handshake ] && hdr=(-H "Connection: close")
    t0=$(ticks "$pid")
    if [ "$mode" = full ]; then
        out=$("${PIN_LOAD[@]}" openssl s_time -connect "127.0.0.1:$port" -new -www / \
            -time "$DURATION" 2>&1)
    else
        out=$("${PIN_LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${hdr[@]}" \
            "https://127.0.0.1:$port/" 2>&1)
    fi
    t1=$(ticks "$pid")
    echo "$out" >"$W/wrk-$kind-$t-$mode-$4.txt"
    if [ "$mode" = full ]; then
        reqs=$(echo "$out" | awk '/connections in .* real seconds/ { print $1 }')
        rps=$(echo "$out" | awk '/connections in .* real seconds/ { printf "%d", $1 / $4 }')
        p99=- errs=0
    else
        reqs=$(echo "$out" | awk '/requests in/ { print $1 }')
        rps=$(echo "$out" | awk '/^Requests\/sec/ { printf "%d", $2 }')
        p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" { print $2 }')")
        errs=$(echo "$out" | awk '/Socket errors|Non-2xx/ { s = s $0 "; " } END { print s == "" ? "0" : s }')
    fi
    awk -v k="$kind" -v t="$t" -v m="$mode" -v r="$4" -v rps="$rps" -v p="$p99" -v d=$((t1 - t0)) \
        -v n="${reqs:-0}" -v hz="$HZ" -v e="$errs" \
        'BEGIN { printf "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%.1f\t%s\n", k, m, t, r, n, rps, p, n ? d * 1e6 / hz / n : 0, e == "0" ? 0 : 1 }' \
        >>"$W/results"
    [ "$errs" = 0 ] || echo "  $kind $t $mode: $errs" >&2
}

echo "lxlb $("$BIN" -v | awk '/^lxlb/ {print $2}') vs $(haproxy -v | head -n 1 | awk '{print "HAProxy", $3}')" \
    "vs $(nginx -v 2>&1 | sed 's|.*nginx/|nginx |'); $(openssl version | awk '{print "OpenSSL", $2}');" \
    "wrk -t1 -c$CONNS -d${DURATION}s; $ROUNDS round(s);" \
    "$([ ${#PIN_PROXY[@]} -gt 0 ] && echo 'proxy on CPU 1, wrk+backend on CPU 0' || echo 'unpinned')"
: >"$W/results"
first=1
for kind in $KINDS; do
    cert "$kind"
    start "$kind"
    modes="handshake full"
    [ "$first" = 1 ] && modes="keep-alive handshake full"
    first=0
    for r in $(seq "$ROUNDS"); do
        for mode in $modes; do
            # take turns, in a rotating order
            case $((r % 3)) in
                1) order="lxlb haproxy nginx" ;; 2) order="haproxy nginx lxlb" ;; *) order="nginx lxlb haproxy" ;;
            esac
            for t in $order; do run "$kind" "$t" "$mode" "$r"; sleep 0.5; done
        done
    done
done
[ -n "${TLS_OUT:-}" ] && cat "$W/results" >>"$TLS_OUT"


# --------------------------------------------------------------- table ----
median() { sort -n | awk '{ a[NR] = $1 } END { print NR ? a[int((NR + 1) / 2)] : "-" }'; }
printf '\n%-5s %-10s %-8s %10s %9s %12s %7s\n' cert mode proxy "req/s" "p99 ms" "CPU us/req" errors
for kind in $KINDS; do
    for mode in keep-alive handshake full; do
        for t in lxlb haproxy nginx; do
            sel() { awk -F'\t' -v k="$kind" -v t="$t" -v m="$mode" -v c="$1" '$1 == k && $3 == t && $2 == m { print $c }' "$W/results"; }
            [ -n "$(sel 6)" ] || continue
            printf '%-5s %-10s %-8s %10s %9s %12s %7s\n' "$kind" "$mode" "$t" "$(sel 6 | median)" \
                "$(sel 7 | median)" "$(sel 8 | median)" "$(sel 9 | awk '{ s += $1 } END { print s }')"
        done
    done
done
