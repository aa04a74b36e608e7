#!/bin/bash
# bench/h2.sh [BINARY]   (default: build/lxlb)
#
# HTTP/2 over TLS: lxlb beside HAProxy (bind ... ssl crt ... alpn h2,http/1.1)
# and nginx (listen ... ssl http2), all three terminating TLS with the same
# certificate (a fresh RSA 2048 one, or CERT=/path/combined.pem with cert then
# key), in front of the same fast static backend (nginx, one worker, on
# loopback, HTTP/1.1 keep-alive from each proxy) so the proxy is the
# bottleneck. One thread or worker each, foreground, own temp configs.
#
#   h2load -t1 -cCONNS -mSTREAMS -DDURATION: CONNS connections, STREAMS
#   concurrent streams on each, requests for a small static page.
#
# For each: requests/s, mean request time, and the proxy's CPU per request
# (user + system, from /proc/PID/stat) in microseconds. h2load and the
# backend run on CPU 0, the proxy on CPU 1 when there are 2+ CPUs. Median of
# ROUNDS rounds (the proxies take turns). Environment: ROUNDS (3), DURATION
# (5), CONNS (16), STREAMS (10), CERT, BENCH_KEEP=1 keeps the work directory.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
repo=$(cd "$here/.." && pwd)
BIN=${1:-$repo/build/lxlb}
[ -x "$BIN" ] || { echo "bench/h2.sh: $BIN is not an executable (make first)" >&2; exit 2; }
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} CONNS=${CONNS:-16} STREAMS=${STREAMS:-10}

# ----------------------------------------------------------- packages ----
"$repo/tests/deps.sh" haproxy nginx nghttp2-client openssl python3 curl || exit 1

# --------------------------------------------------------------- setup ----
W=$(mktemp -d /tmp/lxlb-h2-bench.XXXXXX)
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
        { echo "bench/h2.sh: openssl req failed" >&2; exit 1; }
    cat "$W/site.crt" "$W/site.key" >"$W/combined.pem"
fi

# The static backend: nginx, one worker, no logs.
mkdir -p "$W/www" "$W/tmp"
echo "static backend" >"$W/www/index.html"
STATIC_PORT=$(free_port)
bench_static_conf "$W" "$STATIC_PORT"
spawn static "${PIN_LOAD[@]}" nginx -p "$W" -e "$W/static-error.log" -c "$W/static.conf" \
    -g 'daemon off;'
wait_listen "$STATIC_PORT" || { cat "$W/static.log" >&2; echo "static nginx did not start" >&2; exit 1; }

# The three proxies, alike: forwardfor, X-Forwarded-Proto, keep-alive to the
# backend, no access logs.
LXLB_PORT=$(free_port) HAPROXY_PORT=$(free_port) NGINX_PORT=$(free_port)
cat >"$W/lxlb.json" <<EOF
{ "global": { "access_log": "off", "maxconn": 4096 },
  "frontends": [ { "name": "https", "bind": ["127.0.0.1:$LXLB_PORT"],
                   "tls": { "cert": "$W/combined.pem" }, "http2": true,
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
    bind 127.0.0.1:$HAPROXY_PORT ssl crt $W/combined.pem alpn h2,http/1.1
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    default_backend static
backend static
    http-reuse always
    server s1 127.0.0.1:$STATIC_PORT
EOF
cat >"$W/nginx.conf" <<EOF
worker_processes 1;
pid $W/nginx.pid;
error_log $W/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    http2_max_requests 100000000;
    client_body_temp_path $W/tmp/nb; proxy_temp_path $W/tmp/np; fastcgi_temp_path $W/tmp/nf;
    uwsgi_temp_path $W/tmp/nu; scgi_temp_path $W/tmp/ns;
    upstream static { server 127.0.0.1:$STATIC_PORT; keepalive 64; }
    server {
        listen 127.0.0.1:$NGINX_PORT ssl http2;
        ssl_certificate $W/combined.pem;
        ssl_certificate_key $W/combined.pem;
        location / {
            proxy_pass http://static;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }
    }
}
EOF
spawn lxlb "${PIN_PROXY[@]}" "$BIN" -f "$W/lxlb.json"
PID_lxlb=$SPAWNED
spawn haproxy "${PIN_PROXY[@]}" haproxy -db -f "$W/haproxy.cfg"
PID_haproxy=$SPAWNED
spawn nginx "${PIN_PROXY[@]}" nginx -p "$W" -e "$W/nginx-error.log" -c "$W/nginx.conf" \
    -g 'daemon off;'
PID_nginx=$SPAWNED # the master: the worker, its child, does the work (below)
port_of() { case $1 in lxlb) echo "$LXLB_PORT" ;; haproxy) echo "$HAPROXY_PORT" ;; nginx) echo "$NGINX_PORT" ;; esac; }
pid_of() { case $1 in lxlb) echo "$PID_lxlb" ;; haproxy) echo "$PID_haproxy" ;; nginx) echo "$PID_nginx" ;; esac; }
for t in lxlb haproxy nginx; do
    port=$(port_of $t)
    wait_listen "$port" || { cat "$W/$t.log" >&2; echo "$t did not start" >&2; exit 1; }
    v=$(curl -sk --http2 -o /dev/null -w '%{http_version} %{http_code}' "https://127.0.0.1:$port/")
    [ "$v" = "2 200" ] || { cat "$W/$t.log" >&2; echo "$t does not serve HTTP/2 ($v)" >&2; exit 1; }
done
# A child's CPU time shows in its parent's only once it exits: count nginx's worker.
PID_nginx=$(pgrep -P "$PID_nginx" | head -n 1)

# ----------------------------------------------------------------- runs ----
ticks() {   # PID: utime + stime
    local f
    f=$(sed 's/.*) //' "/proc/$1/stat") || return 1
    set -- $f
    echo $((${12} + ${13}))
}

HZ=$(getconf CLK_TCK)
run() {   # TARGET ROUND: one h2load run; appends "target rps mean us/req failed"
    local t=$1 port pid out done_ rps mean t0 t1 failed
    port=$(port_of "$t") pid=$(pid_of "$t")
    t0=$(ticks "$pid")
    out=$("${PIN_LOAD[@]}" h2load -t1 -c"$CONNS" -m"$STREAMS" -D"$DURATION" \
        "https://127.0.0.1:$port/" 2>&1)
    t1=$(ticks "$pid")
    echo "$out" >"$W/h2load-$t-$2.txt"
    done_=$(echo "$out" | awk '/^requests:/ { print $8 }')
    failed=$(echo "$out" | awk '/^requests:/ { print $10 + $12 + $14 }')
    rps=$(echo "$out" | awk '/^finished in/ { printf "%d", $4 }')
    mean=$(echo "$out" | awk '$1 == "time" && $2 == "for" && $3 == "request:" { print $6 }')
    awk -v t="$t" -v r="${rps:-0}" -v m="${mean:--}" -v d=$((t1 - t0)) -v n="${done_:-0}" \
        -v hz="$HZ" -v f="${failed:-0}" \
        'BEGIN { printf "%s %s %s %.1f %s\n", t, r, m, n ? d * 1e6 / hz / n : 0, f }' \
        >>"$W/results"
    [ "${failed:-0}" = 0 ] || echo "  $t: $failed failed or errored requests" >&2
}

echo "lxlb $("$BIN" -v | awk '/^lxlb/ {print $2}') vs $(haproxy -v | head -n 1 | awk '{print "HAProxy", $3}')" \
    "vs $(nginx -v 2>&1 | sed 's|.*nginx/|nginx |'); $(openssl version | awk '{print "OpenSSL", $2}');" \
    "h2load -t1 -c$CONNS -m$STREAMS -D$DURATION; $ROUNDS round(s);" \
    "$([ ${#PIN_PROXY[@]} -gt 0 ] && echo 'proxy on CPU 1, h2load+backend on CPU 0' || echo 'unpinned')"
: >"$W/results"
for r in $(seq "$ROUNDS"); do
    case $((r % 3)) in
        1) order="lxlb haproxy nginx" ;; 2) order="haproxy nginx lxlb" ;; 0) order="nginx lxlb haproxy" ;;
    esac
    for t in $order; do run "$t" "$r"; sleep 0.5; done
done

# --------------------------------------------------------------- table ----
median() { sort -n | awk '{ a[NR] = $1 } END { print NR ? a[int((NR + 1) / 2)] : "-" }'; }
printf '\n%-10s %10s %12s %12s %7s\n' proxy "req/s" "mean" "CPU us/req" failed
for t in lxlb haproxy nginx; do
    sel() { awk -v t="$t" -v c="$1" '$1 == t { print $c }' "$W/results"; }
    printf '%-10s %10s %12s %12s %7s\n' "$t" "$(sel 2 | median)" "$(sel 3 | head -1)" \
        "$(sel 4 | median)" "$(sel 5 | awk '{ s += $1 } END { print s }')"
done
