#!/bin/bash
# The demo (`make demo`): the scenario of SCENARIO.md on this machine. Apache
# containers in LXC on a private bridge, lxlb in front of them on :8080 (all
# interfaces, as the product would run), left running in the background, its
# admin endpoint and live dashboard on 127.0.0.1:9000 (loopback only).
#
#   tests/lxc/demo.sh [--static] BINARY   set up and start (replaces an earlier demo)
#   tests/lxc/demo.sh --stop              stop lxlb, remove the containers and bridge
#
# By default there is no static server: lxlb finds the containers of group
# "web" in the demo's lxcpath itself (SPEC.md, discovery.lxc), and the demo
# shows it live: a container stopped leaves, and the seed's "copy a container
# to scale out" (lxc-copy of a stopped one, started) joins with no config
# change; then lxlb scales out by itself: under a short wrk load a clone of
# the stopped template http-tpl joins, and leaves after (autoscale).
# --static: the seed's fixed list of two servers instead.
#
# Environment: DEMO_PORT (8080), DEMO_ADMIN_PORT (9000), DEMO_PAUSE: seconds
# before each live step, to watch it on the dashboard (5 on a terminal, 0 when
# not a terminal or under CI: the demo never waits for input).
#
# The demo has its own lxcpath, bridge and subnet, so `make test` can run while
# it is up. Unlike the tests it leaves everything running until --stop; on a
# failure during set-up it removes what it created.
set -u
here=$(cd "$(dirname "$0")" && pwd)

export TB_ROOT=/var/lib/lxlb-demo
export TB_BRIDGE=lxlbdemo0
export TB_NET=10.213.1
export TB_DAEMON=1      # containers outlive this script
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

DEMO_PORT=${DEMO_PORT:-8080}
# The admin endpoint (loopback only): its dashboard shows the live steps.
DEMO_ADMIN_PORT=${DEMO_ADMIN_PORT:-9000}
# Seconds to wait before each live step, so that the dashboard shows each
# state: by default only when a person watches (stdout a terminal, not CI).
if [ -t 1 ] && [ -z "${CI:-}" ]; then DEMO_PAUSE=${DEMO_PAUSE:-5}; else DEMO_PAUSE=${DEMO_PAUSE:-0}; fi
# Outside TB_ROOT, which tb_setup wipes: the running demo's lxlb pid.
PIDFILE=/run/lxlb-demo.pid
CONF=$TB_ROOT/lxlb.json
LOG=$TB_ROOT/lxlb.log

usage() {
    echo "usage: $0 [--static] BINARY | $0 --stop" >&2
    exit 2
}

# Stops the demo's lxlb (by its recorded pid, and only if it still is lxlb).
stop_lxlb() {
    local pid
    [ -f "$PIDFILE" ] || return 0
    pid=$(cat "$PIDFILE")
    if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] \
        && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-f $CONF"; then
        tb_kill_pid "$pid"
    fi
    rm -f "$PIDFILE"
}

demo_stop() {
    local left=""
    stop_lxlb
    tb_cleanup
    # Say so when something survived: CI runs --stop after the demo.
    ip link show "$TB_BRIDGE" >/dev/null 2>&1 && left="$left bridge $TB_BRIDGE,"
    [ -e "$TB_ROOT" ] && left="$left $TB_ROOT,"
    pgrep -f -- "-P $TB_LXCPATH( |$)" >/dev/null && left="$left lxc processes of $TB_LXCPATH,"
    pgrep -f -- "-f $CONF\$" >/dev/null && left="$left lxlb -f $CONF,"
    [ -z "$left" ] || { echo "demo: --stop left${left%,} behind" >&2; return 1; }
    echo "demo: stopped lxlb, removed the containers and the bridge $TB_BRIDGE"
}

# pause: before a live step, time to look at the dashboard (DEMO_PAUSE s).
pause() {
    [ "$DEMO_PAUSE" -gt 0 ] 2>/dev/null || return 0
    echo "    (next step in ${DEMO_PAUSE}s: watch http://127.0.0.1:$DEMO_ADMIN_PORT/)"
    sleep "$DEMO_PAUSE"
}

write_conf() {
    local backend_extra
    if [ "$discovery" = 1 ]; then
        backend_extra=$(cat <<EOF
    "discovery": { "lxc": { "lxcpath": "$TB_LXCPATH", "group": "web", "port": 80 } },
    "autoscale": { "template": "http-tpl", "prefix": "http-auto-", "min": 1, "max": 5,
                   "up": { "active_per_server": 2, "for": "3s" },
                   "down": { "active_per_server": 0.5, "for": "5s" },
                   "cooldown": "5s", "addresses": "$(tb_ip 100)-$(tb_ip 119)/24" }
EOF
)
    else
        backend_extra=$(cat <<EOF
    "servers": [
      { "name": "http1", "address": "$(tb_ip 11):80" },
      { "name": "http2", "address": "$(tb_ip 12):80" } ]
EOF
)
    fi
    cat >"$CONF" <<EOF
{
  "admin": { "bind": "127.0.0.1:$DEMO_ADMIN_PORT" },
  "frontends": [ {
    "name": "http",
    "bind": [":$DEMO_PORT"],
    "default_backend": "http_nodes",
    "forwardfor": true,
    "set_headers": { "X-Forwarded-Proto": "http" } } ],
  "backends": [ {
    "name": "http_nodes",
    "balance": "roundrobin",
    "redispatch": true,
    "health": { "path": "/", "interval": "5s" },
$backend_extra } ]
}
EOF
}

# who: the container that answered one request through lxlb.
who() { curl -s -m 5 "http://127.0.0.1:$DEMO_PORT/" | sed -n 's/^Apache in LXC //p'; }

# rounds N: who answered N requests, on one line.
rounds() {
    local i out=()
    for ((i = 0; i < $1; i++)); do out+=("$(who)"); done
    echo "${out[*]}"
}

# wait_for NAME: until NAME answers through lxlb (10 s at most); prints ms.
wait_for() {
    local t0 i
    t0=$(tb_now_ms)
    for ((i = 0; i < 500; i++)); do
        for _ in 1 2 3 4; do
            [ "$(who)" = "$1" ] && { echo "$(($(tb_now_ms) - t0))"; return 0; }
        done
        sleep 0.02
    done
    echo "never"; return 1
}

# The discovery events lxlb logged since line $1 of its log.
show_events() {
    tail -n +"$(($1 + 1))" "$LOG" | grep -E "lxc |server " | sed 's/^[^ ]* lxlb\[[0-9]*\]: /    lxlb: /'
}

# The seed's scale-out, live: a container leaves, a copy of it joins, with no
# config change and no reload.
demo_live() {
    local mark ip3 dir3 ms
    pause
    echo
    echo "demo: [1] lxc-stop -k http2: discovery removes it at once"
    mark=$(wc -l <"$LOG")
    lxc-stop -P "$TB_LXCPATH" -n http2 -k
    echo "    answers: $(rounds 4)"
    show_events "$mark"

    pause
    echo
    echo "demo: [2] scale out as in the seed: lxc-copy the stopped http2 to http3,"
    echo "          give it its own address, start both: no change to lxlb's config"
    ip3=$(tb_ip 13); dir3=$(tb_dir http3)
    lxc-copy -P "$TB_LXCPATH" -n http2 -N http3 || tb_die "lxc-copy failed"
    # lxc-copy renamed the container and gave it a new MAC; the address and
    # the page are ours to change (the seed edited them by hand too).
    sed -i -e "s|^lxc.net.0.ipv4.address = .*|lxc.net.0.ipv4.address = $ip3/24|" \
           -e "s|^lxc.net.0.hwaddr = .*|lxc.net.0.hwaddr = $(tb_mac "$ip3")|" \
           -e "s|$(tb_dir http2)/|$dir3/|g" "$dir3/config"
    echo "Apache in LXC http3" >"$dir3/rootfs/var/www/html/index.html"
    sed -i 's/http2/http3/g' "$dir3/rootfs/etc/apache2/conf-enabled/lxlb-name.conf"
    mark=$(wc -l <"$LOG")
    tb_start http2 http3
    ms=$(wait_for http3) || tb_die "http3 did not join; see $LOG"
    echo "    http3 served ${ms}ms after RUNNING"
    wait_for http2 >/dev/null || tb_die "http2 did not come back; see $LOG"
    echo "    answers: $(rounds 6)"
    show_events "$mark"
    lxc-ls -P "$TB_LXCPATH" -f
}

# lxlb's own scale-out: wrk loads it, a clone of http-tpl joins; the load
# ends, the clone drains and is destroyed.
demo_autoscale() {
    local mark clone end wrk
    command -v wrk >/dev/null || { echo "demo: (no wrk: autoscale step skipped)"; return 0; }
    pause
    echo
    echo "demo: [3] autoscale: wrk -c32 for 15s; lxlb clones the stopped template http-tpl"
    echo "          (more than 2 requests in flight per server for 3s: one more server)"
    mark=$(wc -l <"$LOG")
    wrk -t2 -c32 -d15s "http://127.0.0.1:$DEMO_PORT/" >"$TB_ROOT/wrk.out" 2>&1 &
    wrk=$!
    end=$((SECONDS + 15))
    until clone=$(tail -n +"$((mark + 1))" "$LOG" | sed -n 's/.*autoscale http_nodes: \(http-auto-[0-9]*\) serving.*/\1/p' | head -1)
          [ -n "$clone" ] || [ "$SECONDS" -ge "$end" ]; do sleep 0.2; done
    [ -n "$clone" ] && echo "    answers under load: $(rounds 8)"
    wait "$wrk"
    sed -n 's/^ *\([0-9]* requests in .*\)/    wrk: \1/p; s/^ *\(Socket errors.*\|Non-2xx.*\)/    wrk: \1/p' "$TB_ROOT/wrk.out"
    echo "    load over: the clones drain, stop and are destroyed"
    end=$((SECONDS + 40))
    while lxc-ls -P "$TB_LXCPATH" -1 | grep -q '^http-auto-' && [ "$SECONDS" -lt "$end" ]; do
        sleep 0.5
    done
    tail -n +"$((mark + 1))" "$LOG" | grep -E "autoscale |lxc http_nodes: container http-auto" \
        | sed 's/^[^ ]* lxlb\[[0-9]*\]: /    lxlb: /'
    lxc-ls -P "$TB_LXCPATH" -f
}

discovery=1 bin=
case "${1:-}" in
    --stop) [ $# = 1 ] || usage; tb_preflight; demo_stop; exit ;;
    --static) discovery=0; shift ;;
    --discovery) shift ;;   # the default; accepted for older callers
esac
[ $# = 1 ] || usage
bin=$(realpath -e "$1" 2>/dev/null) || { echo "demo: no binary at $1 (run make)" >&2; exit 2; }
[ -x "$bin" ] || { echo "demo: $bin is not executable" >&2; exit 2; }

tb_preflight
stop_lxlb       # an earlier demo's; tb_setup removes its containers and bridge
if [ -n "$(ss -Hltn "sport = :$DEMO_PORT")" ]; then
    tb_die "port $DEMO_PORT is already in use (set DEMO_PORT=...)"
fi
if [ -n "$(ss -Hltn "sport = :$DEMO_ADMIN_PORT")" ]; then
    tb_die "port $DEMO_ADMIN_PORT (admin) is already in use (set DEMO_ADMIN_PORT=...)"
fi

echo "demo: setting up the test bed: bridge $TB_BRIDGE ($TB_HOST_IP/24), lxcpath $TB_LXCPATH"
tb_setup        # on failure from here on, the trap removes everything again
tb_create http1 "$(tb_ip 11)" web
tb_create http2 "$(tb_ip 12)" web
tb_start_all http1 http2 || tb_die "Apache did not come up in the containers"
[ "$discovery" = 1 ] && tb_create_template http-tpl   # stopped: autoscale clones it
lxc-ls -P "$TB_LXCPATH" -f

write_conf
"$bin" -c -f "$CONF" || tb_die "lxlb rejects the demo config $CONF"
# setsid + nohup: lxlb keeps running after this script and its terminal end.
nohup setsid "$bin" -f "$CONF" >>"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"
tb_defer stop_lxlb      # if the demo fails from here on
tb_wait_listen "$DEMO_PORT" || { tail -n 20 "$LOG" >&2; tb_die "lxlb did not listen on :$DEMO_PORT"; }
tb_wait_listen "$DEMO_ADMIN_PORT" || { tail -n 20 "$LOG" >&2; tb_die "lxlb's admin endpoint did not listen on :$DEMO_ADMIN_PORT"; }
echo "demo: lxlb (pid $(cat "$PIDFILE")) listens on :$DEMO_PORT, config $CONF, log $LOG"
[ "$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$DEMO_ADMIN_PORT/")" = 200 ] \
    || tb_die "the dashboard http://127.0.0.1:$DEMO_ADMIN_PORT/ did not answer; see $LOG"
echo "demo: dashboard: http://127.0.0.1:$DEMO_ADMIN_PORT/  (open it to watch the steps below live;"
echo "      from another machine: ssh -L $DEMO_ADMIN_PORT:127.0.0.1:$DEMO_ADMIN_PORT this host)"

# Show the alternation (discovered servers may need a health check first).
echo
echo "\$ for i in 1 2 3 4; do curl -s http://127.0.0.1:$DEMO_PORT/; done"
if [ "$discovery" = 1 ]; then
    end=$((SECONDS + 15))
    until [ "$(curl -s -m 2 "http://127.0.0.1:$DEMO_PORT/" | cut -c1-13)" = "Apache in LXC" ] \
        || [ "$SECONDS" -ge "$end" ]; do sleep 0.5; done
fi
ok=1
for i in 1 2 3 4; do
    curl -s -m 10 "http://127.0.0.1:$DEMO_PORT/" || ok=0
    [ "$i" = 4 ] || sleep 0.2
done
[ "$ok" = 1 ] || tb_die "lxlb did not answer; see $LOG"

[ "$discovery" = 1 ] && demo_live
[ "$discovery" = 1 ] && demo_autoscale

TB_KEEP=1   # success: leave it all running
cat <<EOF

demo: running. Try:
  http://127.0.0.1:$DEMO_ADMIN_PORT/       (the live dashboard, in a browser: watch it while you try the rest)
  curl http://127.0.0.1:$DEMO_ADMIN_PORT/stats  (its figures as JSON)
  curl http://127.0.0.1:$DEMO_PORT/             (repeat: http1, http2, http1, ...)
  curl -i http://127.0.0.1:$DEMO_PORT/          (X-Served-By, X-Forwarded-* echoed by Apache)
  lxc-stop -P $TB_LXCPATH -n http2 -k   (then curl again: http2 is gone)
  lxc-start -P $TB_LXCPATH -n http2 -d  (and it is back$([ "$discovery" = 1 ] && echo ", found by discovery"))
  lxc-freeze -P $TB_LXCPATH -n http1    (discovery takes it out; lxc-unfreeze: back)
  tail -f $LOG
Stop it all:
  $here/demo.sh --stop
EOF
