#!/bin/bash
# Two balancers, one address (README; SPEC.md "High availability"): two
# network namespaces on the test bed's bridge, each running lxlb and
# keepalived with dist/keepalived/keepalived.conf (rendered for the test bed:
# addresses, and advert_int 0.5 s instead of 1 s to keep the test short), two
# Apache containers on the same bridge as static servers of both, and the
# client on the host talking to the virtual address.
#
# Each phase runs under wrk (-c4) and under ha_probe.py (a request on a fresh
# connection every 20 ms, carrying the sticky cookie the first balancer gave):
#   kill9       kill -9 a's lxlb: its vrrp_script fails, its priority drops,
#               b takes the address
#   kill9-back  start a's lxlb again: healthy, a takes it back (preempt)
#   ka-stop     stop a's keepalived: it announces priority 0, b takes over
#   ka-back     start a's keepalived again: a takes the address back
#   link-down   a's eth0 down: b stops hearing adverts and takes over
#   link-back   a's eth0 up: once its lxlb sees its servers again, a is back
# For each: the time until the address answers again and until the new
# balancer serves, when the VRRP state changed (notify) and when the host's
# neighbour entry moved (gratuitous ARP), the requests that failed meanwhile
# (probe and wrk), then 1 s of wrk and probe after it that must not fail once,
# and the sticky client must never leave its container. Figures are printed
# as a table at the end.
set -u
TB_ROOT=${TB_ROOT:-/var/lib/lxlb-test-ha}
TB_BRIDGE=${TB_BRIDGE:-lxlbha0}
TB_NET=${TB_NET:-10.213.60}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"
# shellcheck source=tests/lxc/ha_lib.sh
source "$here/ha_lib.sh"

URL=http://$HA_VIP/
PROBE=$TB_RUN/probe.log

# via: "balancer/container" of one request to the VIP.
via() {
    curl -s -m 2 -D - -o /dev/null "$URL" | tr -d '\r' | awk -F': ' '
        tolower($1) == "x-test-balancer" {b = $2} tolower($1) == "x-served-by" {s = $2}
        END {print (b ? b : "-") "/" (s ? s : "-")}'
}

# ----------------------------------------------------------------- phases ----
PHASES=()
declare -A P_TO P_T0 P_T1 P_T2 P_WAIT P_HOLD

# phase NAME TO CMD...: under wrk, CMD at t0; wait until balancer TO serves
# the VIP (the probe sees it), 1 s more for stragglers, stop wrk (t1); then 1 s
# of wrk alone, which must not fail (t1..t2).
phase() {
    local name=$1 to=$2 wpid; shift 2
    PHASES+=("$name"); P_TO[$name]=$to
    wrk -t1 -c4 -d120s --timeout 1s "$URL" >"$TB_RUN/wrk-$name.out" 2>&1 &
    wpid=$!; TB_PIDS+=("$wpid")
    sleep 0.5
    P_T0[$name]=$(tb_now_ms)
    "$@"
    P_WAIT[$name]=$(ha_probe wait "$PROBE" "${P_T0[$name]}" "$to" 20)
    sleep 1
    kill -INT "$wpid"; wait "$wpid"
    P_HOLD[$name]=$(ha_vip_holders)
    P_T1[$name]=$(tb_now_ms)
    wrk -t1 -c4 -d1s --timeout 1s "$URL" >"$TB_RUN/wrk-$name-after.out" 2>&1
    P_T2[$name]=$(tb_now_ms)
    echo "  $name: balancer $to serves after ${P_WAIT[$name]}ms; VIP on: ${P_HOLD[$name]}"
    [ "${P_WAIT[$name]}" -ge 0 ]
}

# wrk's "connect/read/write/timeout" socket errors ("0/0/0/0" when none).
wrk_errs() {
    local e
    e=$(sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1\/\2\/\3\/\4/p' "$1")
    echo "${e:-0/0/0/0}"
}

link() { ip -n "$(ha_ns a)" link set eth0 "$1"; }
link_back() {
    link up
    ip -n "$(ha_ns a)" route replace default via "$TB_HOST_IP"
}

# ================================================================== setup ====
t_setup=$SECONDS
[ -x "${LXLB:-}" ] || { tb_fail "LXLB='${LXLB:-}' is not an executable"; tb_finish; exit; }
ha_preflight
tb_setup
tb_defer ha_show_logs
tb_defer ha_cleanup

tb_create web1 "$(tb_ip 11)"
tb_create web2 "$(tb_ip 12)"
tb_check "containers web1, web2 start" tb_start_all web1 web2
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
    tb_check "lxlb of $n starts in namespace $(ha_ns "$n")" ha_lxlb_start "$n"
    got=$(ha_healthz "$n")
    tb_check "healthz of $n: 200 ok (got: $got)" test "$got" = "200 ok"
done
tb_check "keepalived.conf of a rendered from the dist file" ha_ka_conf a MASTER 150
tb_check "keepalived.conf of b rendered from the dist file" ha_ka_conf b BACKUP 100
tb_check "keepalived -t: no error in a's configuration" ha_ka_check a
tb_check "keepalived -t: no error in b's configuration" ha_ka_check b
[ "$TB_FAILS" = 0 ] || { tb_finish; exit; }
ha_ka_start a
ha_ka_start b
tb_check "a becomes MASTER" ha_wait_state a MASTER 10
tb_check "b is BACKUP" ha_wait_state b BACKUP 5
got=$(ha_vip_holders)
tb_check "the VIP $HA_VIP is on a only (got: $got)" test "$got" = a
[ "$TB_FAILS" = 0 ] || { tb_finish; exit; }

# The sticky client's cookie comes from a, as a real client's would.
hdrs=$(curl -s -m 2 -D - -o /dev/null "$URL" | tr -d '\r')
STICKY=$(sed -n 's/^[Ss]et-[Cc]ookie: SRV=\([^;]*\).*/\1/p' <<<"$hdrs")
tb_check "a sets the sticky cookie (SRV=$STICKY)" test -n "$STICKY"
spread=$(for _ in 1 2 3 4; do via; done | sort -u | tr '\n' ' ')
tb_check "without the cookie a spreads over both (got: $spread)" test "$spread" = "a/web1 a/web2 "
ha_probe_start "$URL" "$PROBE" "SRV=$STICKY"
ms=$(ha_probe wait "$PROBE" "$(tb_now_ms)" a 5)
tb_check "the probe reaches a (${ms}ms)" test "$ms" -ge 0
MAC_A=$(ha_mac a); MAC_B=$(ha_mac b)
echo "  set up in $((SECONDS - t_setup))s; a is $(tb_ip 2) ($MAC_A), b $(tb_ip 3) ($MAC_B)," \
     "VIP $HA_VIP, sticky cookie SRV=$STICKY"

# ================================================================ phases ====
phase kill9 b ha_lxlb_kill a KILL || { tb_fail "kill9: b never served"; tb_finish; exit; }
tb_check "a's vrrp_script noticed: chk_lxlb failed, priority 150 -> 90" \
    grep -q "Changing effective priority from 150 to 90" "$(ha_dir a)/keepalived.log"
got=$(ha_healthz a)
tb_check "a's healthz does not answer (got: $got)" test "${got%% *}" = 000

phase kill9-back a ha_lxlb_start a || { tb_fail "kill9-back: a never served"; tb_finish; exit; }
phase ka-stop b ha_ka_stop a || { tb_fail "ka-stop: b never served"; tb_finish; exit; }
phase ka-back a ha_ka_start a || { tb_fail "ka-back: a never served"; tb_finish; exit; }
phase link-down b link down || { tb_fail "link-down: b never served"; tb_finish; exit; }
tb_check "a's keepalived went to FAULT with its link" test "$(ha_state_since a FAULT "${P_T0[link-down]}")" -ge 0
phase link-back a link_back || { tb_fail "link-back: a never served"; tb_finish; exit; }

ha_probe_stop
for n in a b; do
    got=$(ha_healthz "$n")
    tb_check "at the end, healthz of $n: 200 ok (got: $got)" test "$got" = "200 ok"
done
got=$(ha_vip_holders)
tb_check "at the end the VIP is on a only (got: $got)" test "$got" = a

# =============================================================== figures ====
printf '  %-10s %-2s %5s %5s %6s %5s %6s %8s | %-24s | %s\n' phase to vrrp arp answer gap served \
    "probe" "wrk: reqs c/r/w/t non2xx" "after: wrk reqs errors, probe"
for p in "${PHASES[@]}"; do
    to=${P_TO[$p]}
    mac=$MAC_B; [ "$to" = a ] && mac=$MAC_A
    declare -A R=()
    for kv in $(ha_probe report "$PROBE" "${P_T0[$p]}" "${P_T1[$p]}" "$to" "$STICKY" "$mac"); do
        R[${kv%%=*}]=${kv#*=}
    done
    declare -A A=()
    for kv in $(ha_probe report "$PROBE" "${P_T1[$p]}" "${P_T2[$p]}" "$to" "$STICKY" "$mac"); do
        A[${kv%%=*}]=${kv#*=}
    done
    vrrp=$(ha_state_since "$to" MASTER "${P_T0[$p]}")
    w=$TB_RUN/wrk-$p.out; wa=$TB_RUN/wrk-$p-after.out
    reqs=$(tb_wrk_requests "$w"); errs=$(wrk_errs "$w"); non2xx=$(tb_wrk_non2xx "$w")
    areqs=$(tb_wrk_requests "$wa"); aerrs=$(wrk_errs "$wa"); anon2xx=$(tb_wrk_non2xx "$wa")
    printf '  %-10s %-2s %5s %5s %6s %5s %6s %8s | %-24s | %s %s %s, %s/%s\n' "$p" "$to" "$vrrp" \
        "${R[arp_ms]}" "${R[back_ms]}" "${R[gap_ms]}" "${R[switch_ms]}" "${R[failed]}/${R[total]}" \
        "${reqs:-0} $errs ${non2xx:-0}" "${areqs:-0}" "$aerrs" "${anon2xx:-0}" \
        "${A[failed]}" "${A[total]}"
    echo "             probe failures: ${R[outage]}"
    tb_check "$p: $to took the address (VRRP MASTER after ${vrrp}ms)" test "$vrrp" -ge 0
    tb_check "$p: the VIP answered again within 10 s (${R[back_ms]}ms)" \
        test "${R[back_ms]}" -ge 0 -a "${R[back_ms]}" -le 10000
    tb_check "$p: the sticky client stayed on $STICKY (wrong: ${R[wrong]} + ${A[wrong]})" \
        test "${R[wrong]}" = 0 -a "${A[wrong]}" = 0
    tb_check "$p: the VIP is on $to only (got: ${P_HOLD[$p]})" test "${P_HOLD[$p]}" = "$to"
    tb_check "$p: after it, wrk 1 s: ${areqs:-0} requests, no error ($aerrs, non-2xx ${anon2xx:-0})" \
        test "${areqs:-0}" -gt 50 -a "$aerrs" = 0/0/0/0 -a "${anon2xx:-0}" = 0
    tb_check "$p: after it, the probe: no failure (${A[failed]} of ${A[total]})" \
        test "${A[failed]}" = 0 -a "${A[total]}" -gt 20
done
echo "  (ms from the event: vrrp = the new master's notify; arp = the host's entry for" \
     "the VIP on its MAC; answer = the first answer after the last failure; served =" \
     "the first answer through it. gap = the longest time with no answer. probe: failed" \
     "(no answer within 1 s)/requests. advert_int $HA_ADVERT s)"
echo "  total $((SECONDS - t_setup))s"
tb_finish
