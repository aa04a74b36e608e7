#!/bin/bash
# `make demo-ha`: README's "Two balancers, one address" on this machine, live.
# Two Apache containers, two balancers (network namespaces a and b, each with
# lxlb and keepalived from dist/keepalived/keepalived.conf) sharing one
# virtual address, and a client on the host asking it 20 times a second.
# Every half second a line says who answered; meanwhile a's lxlb is killed
# (-9) and started again, then a's keepalived is stopped and started again.
# Everything is removed at the end (Ctrl-C too). About a minute.
#
#   tests/lxc/demo_ha.sh BINARY
set -u
here=$(cd "$(dirname "$0")" && pwd)
export TB_ROOT=/var/lib/lxlb-demo-ha
export TB_BRIDGE=lxlbdemoha0
export TB_NET=10.213.62
export HA_ADVERT=1              # the example file's own advert_int
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lxc/ha_lib.sh
source "$here/ha_lib.sh"

LXLB=${1:-}
case "$LXLB" in /*) ;; "") echo "usage: $0 BINARY" >&2; exit 2 ;; *) LXLB=$PWD/$LXLB ;; esac
[ -x "$LXLB" ] || { echo "demo-ha: $LXLB is not an executable (make first)" >&2; exit 2; }
URL=http://$HA_VIP/
PROBE=$TB_RUN/probe.log
T_START=0

say() { printf '\n== %s\n' "$*"; }

# Every 0.5 s, what the last 0.5 s of requests got: "a/web1 12, b/web2 3,
# refused 5". Runs in the background until killed.
ticker() {
    local from to
    from=$(tb_now_ms)
    while sleep 0.5; do
        to=$(tb_now_ms)
        awk -v f="$from" -v t="$to" -v s="$T_START" '
            $1 >= f && $1 < t { k = ($3 == "200") ? $4 "/" $5 : (($3 ~ /^err:/) ? substr($3, 5) : "HTTP " $3); n[k]++ }
            END { line = ""; for (k in n) line = line (line ? ", " : "") k " x" n[k]
                  printf "  %6.1fs  %s\n", (t - s) / 1000, line ? line : "(no request ended)" }' \
            "$PROBE" 2>/dev/null
        from=$to
    done
}

# step TITLE TO CMD...: run CMD, show the ticker until balancer TO has served
# for 2 s, then the figures of the step.
step() {
    local title=$1 to=$2 t0 ms; shift 2
    say "$title"
    t0=$(tb_now_ms)
    "$@"
    ms=$(ha_probe wait "$PROBE" "$t0" "$to" 20)
    sleep 2
    local r; r=$(ha_probe report "$PROBE" "$t0" "$(tb_now_ms)" "$to" "$STICKY" -)
    echo "  -> $to serves after ${ms} ms; $(sed 's/arp_ms=[^ ]* //; s/switch_ms=[^ ]* //' <<<"$r")"
}

ha_preflight
tb_setup
tb_defer ha_cleanup
# A closed terminal or a reader gone (`| head`) must not skip the cleanup.
trap 'exit 129' HUP
trap '' PIPE
say "setting up: containers web1, web2; balancers a ($(tb_ip 2)) and b ($(tb_ip 3)); VIP $HA_VIP"
tb_create web1 "$(tb_ip 11)"
tb_create web2 "$(tb_ip 12)"
tb_start_all web1 web2 || tb_die "the containers did not start"
ha_setup_node a "$(tb_ip 2)"
ha_setup_node b "$(tb_ip 3)"
BACKENDS=$(cat <<EOF
[ { "name": "web", "redispatch": true,
    "health": { "path": "/health", "interval": "1s", "timeout": "1s" },
    "cookie": { "name": "SRV", "mode": "insert" },
    "servers": [ { "name": "web1", "address": "$(tb_ip 11):80" },
                 { "name": "web2", "address": "$(tb_ip 12):80" } ] } ]
EOF
)
for n in a b; do
    ha_lxlb_conf "$n" "$BACKENDS"
    ha_lxlb_start "$n" || tb_die "lxlb of $n did not start"
done
ha_ka_conf a MASTER 150 && ha_ka_conf b BACKUP 100 || tb_die "cannot render $HA_DIST"
ha_ka_start a
ha_ka_start b
ha_wait_state a MASTER 10 || tb_die "a did not become MASTER"
STICKY=$(curl -s -m 2 -D - -o /dev/null "$URL" | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: SRV=\([^;]*\).*/\1/p')
echo "  keepalived: a MASTER (priority 150), b BACKUP (100), advert_int $HA_ADVERT s;" \
     "check: curl -f http://127.0.0.1:9000/healthz every second, weight -60"
echo "  the client keeps the cookie SRV=$STICKY from its first answer (lines: balancer/container x requests)"
T_START=$(tb_now_ms)
ha_probe_start "$URL" "$PROBE" "SRV=$STICKY"
ticker &
TICKER=$!
TB_PIDS+=("$TICKER")
sleep 2

step "kill -9 a's lxlb: a's check fails twice, its priority drops to 90, b takes over" \
    b ha_lxlb_kill a KILL
step "start a's lxlb again: two good checks, a's priority is 150 again, a takes back" \
    a ha_lxlb_start a
step "stop a's keepalived (as for maintenance): it announces priority 0, b takes over at once" \
    b ha_ka_stop a
step "start a's keepalived again: a takes back" \
    a ha_ka_start a
tb_kill_pid "$TICKER"
say "done: the sticky client stayed on $STICKY throughout (wrong=0 above); removing everything"
