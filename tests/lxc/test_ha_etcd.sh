#!/bin/bash
# Two balancers, one address, with etcd discovery (SCENARIO.md's three hosts):
# the balancers a and b, each in its own network namespace with lxlb and
# keepalived (dist/keepalived/keepalived.conf, here with unicast adverts),
# both watching the same etcd prefix; the node is the host, whose `lxlb
# agent` publishes its containers there. etcd listens on the bridge address,
# where the namespaces reach it.
#   - both balancers list the same servers; the VIP serves through a;
#   - kill -9 a's lxlb: b takes the address;
#   - while b is active, a container starts on the node: the agent publishes
#     it, b serves it (time measured) and no request fails meanwhile;
#   - a's lxlb restarts: it finds both containers in etcd as "checking", so its
#     /healthz says 503 until their first checks pass, and only then does a
#     take the address back: no request is answered 503 or lost on the way;
#   - a sticky client (cookie from a) stays on its container throughout.
# test_ha.sh measures the failovers themselves; this one is about what the
# balancers know across them.
set -u
TB_ROOT=${TB_ROOT:-/var/lib/lxlb-test-ha-etcd}
TB_BRIDGE=${TB_BRIDGE:-lxlbha1}
TB_NET=${TB_NET:-10.213.61}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lxc/ha_lib.sh
source "$here/ha_lib.sh"

URL=http://$HA_VIP/
PROBE=$TB_RUN/probe.log
PREFIX=/lxlb/web/

etcd_start() {
    "$ETCD" --name lxlbha --data-dir "$TB_ROOT/etcd" \
        --listen-client-urls "$EURL" --advertise-client-urls "$EURL" \
        --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
        --initial-cluster "lxlbha=http://127.0.0.1:$PPORT" >>"$TB_RUN/etcd.log" 2>&1 &
    TB_PIDS+=("$!")
    local end=$((SECONDS + 15))
    while [ "$SECONDS" -lt "$end" ]; do
        curl -s -m 1 "$EURL/health" | grep -q '"health":"true"' && return 0
        sleep 0.1
    done
    tail -n 20 "$TB_RUN/etcd.log" >&2
    return 1
}

# servers N: node N's backend servers as its /stats lists them, "name:state" sorted.
servers() {
    ha_in "$1" curl -s -m 2 "http://$HA_ADMIN/stats" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted(s["name"] + ":" + s["state"] for s in d["backends"][0]["servers"])))' 2>/dev/null
}

wait_servers() {
    local n=$1 want=$2 secs=$3 end
    end=$((SECONDS + secs))
    while [ "$SECONDS" -lt "$end" ]; do
        [ "$(servers "$n")" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

# served_via BALANCER/CONTAINER SECS: until a request without cookie gets
# there; prints the ms waited (-1 on timeout).
served_via() {
    local want=$1 secs=$2 t0 got
    t0=$(tb_now_ms)
    while [ $(($(tb_now_ms) - t0)) -lt $((secs * 1000)) ]; do
        got=$(curl -s -m 1 -D - -o /dev/null "$URL" | tr -d '\r' | awk -F': ' '
            tolower($1) == "x-test-balancer" {b = $2} tolower($1) == "x-served-by" {s = $2}
            END {print b "/" s}')
        [ "$got" = "$want" ] && { echo $(($(tb_now_ms) - t0)); return 0; }
        sleep 0.05
    done
    echo -1; return 1
}

# ================================================================== setup ====
t_setup=$SECONDS
ETCD=$(command -v etcd || true)
[ -x "${LXLB:-}" ] || { tb_fail "LXLB='${LXLB:-}' is not an executable"; tb_finish; exit; }
[ -n "$ETCD" ] || { tb_fail "etcd is not installed (tests/deps.sh: etcd-server)"; tb_finish; exit; }
ha_preflight
tb_setup
tb_defer ha_show_logs
tb_defer ha_cleanup

tb_create web1 "$(tb_ip 11)" web
tb_create web3 "$(tb_ip 13)" web
# The containers say "node1/NAME" in X-Served-By: the server's name in lxlb.
for c in web1 web3; do
    sed -i "s|X-Served-By \"$c\"|X-Served-By \"node1/$c\"|" \
        "$(tb_dir "$c")/rootfs/etc/apache2/conf-enabled/lxlb-name.conf"
done
tb_check "container web1 starts" tb_start_all web1

EPORT=$(tb_free_port); PPORT=$(tb_free_port)
EURL=http://$TB_HOST_IP:$EPORT
tb_check "etcd starts on the bridge address $EURL" etcd_start || { tb_finish; exit; }
"$LXLB" agent --etcd "$EURL" --prefix "$PREFIX" --lxcpath "$TB_LXCPATH" --group web \
    --host node1 --ttl 3s 2>>"$TB_RUN/agent.log" &
TB_PIDS+=("$!")

ha_setup_node a "$(tb_ip 2)"
ha_setup_node b "$(tb_ip 3)"
BACKENDS=$(cat <<EOF
[ { "name": "web", "redispatch": true,
    "health": { "path": "/health", "interval": "1s", "timeout": "1s" },
    "cookie": { "name": "SRV", "mode": "insert" },
    "discovery": { "etcd": { "endpoints": ["$EURL"], "prefix": "$PREFIX" } } } ]
EOF
)
for n in a b; do
    ha_lxlb_conf "$n" "$BACKENDS"
    tb_check "lxlb of $n starts" ha_lxlb_start "$n"
done
for n in a b; do
    tb_check "$n lists node1/web1 from etcd, up" wait_servers "$n" "node1/web1:up" 10
done
tb_check "keepalived.conf of a (unicast to b)" ha_ka_conf a MASTER 150 "$(tb_ip 3)"
tb_check "keepalived.conf of b (unicast to a)" ha_ka_conf b BACKUP 100 "$(tb_ip 2)"
tb_check "keepalived -t: no error in a's configuration" ha_ka_check a
tb_check "keepalived -t: no error in b's configuration" ha_ka_check b
[ "$TB_FAILS" = 0 ] || { tb_finish; exit; }
ha_ka_start a
ha_ka_start b
tb_check "a becomes MASTER" ha_wait_state a MASTER 10
tb_check "b is BACKUP" ha_wait_state b BACKUP 5
ms=$(served_via a/node1/web1 5)
tb_check "the VIP serves node1/web1 through a (${ms}ms)" test "$ms" -ge 0
[ "$TB_FAILS" = 0 ] || { tb_finish; exit; }
hdrs=$(curl -s -m 2 -D - -o /dev/null "$URL" | tr -d '\r')
STICKY=$(sed -n 's/^[Ss]et-[Cc]ookie: SRV=\([^;]*\).*/\1/p' <<<"$hdrs")
tb_check "a sets the sticky cookie (SRV=$STICKY)" test "$STICKY" = node1/web1
ha_probe_start "$URL" "$PROBE" "SRV=$STICKY"
echo "  set up in $((SECONDS - t_setup))s"

# ========================================================== b takes over ====
t_kill=$(tb_now_ms)
ha_lxlb_kill a KILL
ms=$(ha_probe wait "$PROBE" "$t_kill" b 15)
tb_check "kill -9 a's lxlb: b serves the VIP after ${ms}ms" test "$ms" -ge 0
[ "$TB_FAILS" = 0 ] || { tb_finish; exit; }

# ============================================== a container joins on b ====
t_join=$(tb_now_ms)
tb_start web3
t_run=$(tb_now_ms)
ms=$(served_via b/node1/web3 10)
echo "  node1/web3: lxc-start -> RUNNING $((t_run - t_join))ms, RUNNING -> served through b ${ms}ms" \
     "(agent: $(grep -o 'published [^ ]*web3 = [^ ]* ([0-9]*ms after up)' "$TB_RUN/agent.log" | tail -n1 | sed 's/.*(//; s/)//'))"
tb_check "node1/web3, started while b is active, serves through b (${ms}ms)" test "$ms" -ge 0
tb_check "b lists both, up" wait_servers b "node1/web1:up node1/web3:up" 5
t_joined=$(tb_now_ms)
# A moment of both balancers' view: a has no lxlb now.
tb_check "a's lxlb is down meanwhile (healthz: $(ha_healthz a))" test "$(ha_healthz a | cut -c1-3)" = 000

# ================================================================ a back ====
t_back=$(tb_now_ms)
tb_check "a's lxlb starts again" ha_lxlb_start a
# (200 already when its first checks were quicker than this curl; a 503
# "backend web has no usable server" while they run: keepalived waits.)
echo "  a's healthz right after its start: $(ha_healthz a)"
ms=$(ha_probe wait "$PROBE" "$t_back" a 20)
tb_check "a is healthy again and takes the VIP back (${ms}ms after its start)" test "$ms" -ge 0
ms=$(served_via a/node1/web3 5)
tb_check "node1/web3 serves through a too (${ms}ms)" test "$ms" -ge 0
tb_check "a lists both, up" wait_servers a "node1/web1:up node1/web3:up" 5
sleep 1
t_end=$(tb_now_ms)
ha_probe_stop

# ================================================================ figures ===
mac_b=$(ha_mac b); mac_a=$(ha_mac a)
declare -A F=() J=() B=()
for kv in $(ha_probe report "$PROBE" "$t_kill" "$t_join" b "$STICKY" "$mac_b"); do F[${kv%%=*}]=${kv#*=}; done
for kv in $(ha_probe report "$PROBE" "$t_join" "$t_joined" b "$STICKY" "$mac_b"); do J[${kv%%=*}]=${kv#*=}; done
for kv in $(ha_probe report "$PROBE" "$t_back" "$t_end" a "$STICKY" "$mac_a"); do B[${kv%%=*}]=${kv#*=}; done
echo "  failover (kill -9 a's lxlb): answers again after ${F[back_ms]}ms; probe failures" \
     "${F[failed]} of ${F[total]} (${F[outage]})"
echo "  web3 joins on b: probe failures ${J[failed]} of ${J[total]}; a back: ${B[failed]} of" \
     "${B[total]} (${B[outage]}), longest gap ${B[gap_ms]}ms"
tb_check "while web3 joined on b: no request failed (${J[failed]} of ${J[total]})" \
    test "${J[failed]}" = 0 -a "${J[total]}" -gt 10
# The move itself may cut a request or two (a SYN to the MAC that just lost
# the address, see test_ha.sh); an answer from a before its servers are up
# would be a 503.
tb_check "while a came back and took over: no 503, at most 3 requests cut (${B[failed]} of ${B[total]}: ${B[outage]})" \
    test "${B[failed]}" -le 3 -a "${B[total]}" -gt 10 -a -z "$(grep -o '[0-9][0-9][0-9]:' <<<"${B[outage]}")"
tb_check "the sticky client stayed on $STICKY (wrong: ${F[wrong]} ${J[wrong]} ${B[wrong]})" \
    test "${F[wrong]}${J[wrong]}${B[wrong]}" = 000
got=$(ha_vip_holders)
tb_check "at the end the VIP is on a only (got: $got)" test "$got" = a
echo "  total $((SECONDS - t_setup))s"
tb_finish
