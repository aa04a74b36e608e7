# shellcheck shell=bash
# Two lxlb balancers behind a keepalived virtual address, each in a network
# namespace of its own on the test bed's bridge (README "Two balancers, one
# address"). Sourced by tests/lxc/test_ha*.sh after lib.sh (and by the HA
# demo); needs root, keepalived, curl, wrk.
#
#   ha_setup_node N IP         namespace $TB_BRIDGE-N with eth0 = IP/24 on the bridge
#   ha_lxlb_conf N BACKEND_JSON   lxlb.json of node N (frontend :80, admin 127.0.0.1:9000,
#                              X-Test-Balancer: N set on every request)
#   ha_lxlb_start N / ha_lxlb_kill N SIG
#   ha_ka_conf N STATE PRIO [PEER_IP]   keepalived.conf of node N, rendered from
#                              dist/keepalived/keepalived.conf (unicast to PEER_IP if given)
#   ha_ka_start N / ha_ka_stop N
#   ha_state N                 node N's last VRRP state (its notify log)
#   ha_wait_state N STATE SECS
#   ha_vip_holders             the nodes whose eth0 has the VIP
#   ha_probe_start URL OUT [COOKIE]   tests/lxc/ha_probe.py in the background
#
# Every process started here runs in our namespaces: cleanup kills what is
# left in them (ip netns pids), then deletes them (their veths go with them).
# keepalived runs in the foreground of its namespace with its own pid files
# and logs to a file, never to syslog: it touches nothing of the host's.

HA_DIST=${HA_DIST:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/dist/keepalived/keepalived.conf}
HA_VIP=${HA_VIP:-$TB_NET.100}
HA_VRID=${HA_VRID:-${TB_NET##*.}}   # our subnet's third octet: unique per test bed
HA_ADVERT=${HA_ADVERT:-0.5}         # seconds between VRRP adverts (VRRPv3: fractions)
HA_WEIGHT=${HA_WEIGHT:-}            # set: replaces the dist's "weight -60" (0: FAULT mode)
HA_ADMIN=127.0.0.1:9000             # each namespace has its own loopback
declare -A HA_IP=() HA_LXLB=() HA_KA=()
HA_NODES=()
HA_PROBE_PID=

ha_ns() { echo "$TB_BRIDGE-$1"; }
ha_veth() { echo "${TB_BRIDGE:0:13}$1"; }   # host side; 15 characters at most
ha_dir() { echo "$TB_RUN/$1"; }
ha_in() { local n=$1; shift; ip netns exec "$(ha_ns "$n")" "$@"; }

ha_preflight() {
    local c
    for c in keepalived curl wrk python3; do
        command -v "$c" >/dev/null 2>&1 || tb_die "missing $c (run tests/deps.sh)"
    done
    [ -f "$HA_DIST" ] || tb_die "missing $HA_DIST"
}

# Kills what runs in namespace N (only our processes can be there) and
# deletes it, and its veth. Safe on a namespace that does not exist. (The
# kernel frees a namespace only once its last socket is gone: lxlb's closing
# connections can hold it, and with it the veth pair, for a minute or two,
# hence the explicit veth delete.)
ha_drop_ns() {
    local ns pid
    ns=$(ha_ns "$1")
    ip link del "$(ha_veth "$1")" 2>/dev/null
    ip netns list 2>/dev/null | grep -q "^$ns\b" || return 0
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null; done
    for _ in $(seq 30); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null || tb_log "could not delete namespace $ns"
    ip link del "$(ha_veth "$1")" 2>/dev/null
    return 0
}

ha_cleanup() {
    local n
    [ -n "$HA_PROBE_PID" ] && tb_kill_pid "$HA_PROBE_PID"
    for n in "${HA_NODES[@]}"; do ha_drop_ns "$n"; done
    # Reap our foreground children (ip netns exec exec'ed them).
    for n in "${HA_LXLB[@]}" "${HA_KA[@]}"; do wait "$n" 2>/dev/null; done
    return 0
}

# ha_setup_node N IP: namespace, veth pair (host side on the bridge), eth0 =
# IP/24 with the host as gateway, loopback up (lxlb's admin is there).
ha_setup_node() {
    local n=$1 ip=$2 ns veth
    ns=$(ha_ns "$n")
    veth=$(ha_veth "$n")
    HA_NODES+=("$n")
    HA_IP[$n]=$ip
    ha_drop_ns "$n"                # left by a crashed run
    mkdir -p "$(ha_dir "$n")"
    ip netns add "$ns" || tb_die "cannot create namespace $ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns" || tb_die "cannot create veth $veth"
    ip link set "$veth" master "$TB_BRIDGE" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$TB_HOST_IP"
}

ha_mac() { ip -n "$(ha_ns "$1")" -o link show eth0 | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

# ha_lxlb_conf N BACKENDS_JSON: the balancer of node N in front of the given
# backends (a JSON list whose first backend is "web").
ha_lxlb_conf() {
    local n=$1 backends=$2
    cat >"$(ha_dir "$n")/lxlb.json" <<EOF
{
  "global": { "access_log": "off", "grace": "2s" },
  "admin": { "bind": "$HA_ADMIN" },
  "defaults": { "timeout": { "connect": "1s", "client": "10s", "server": "10s" } },
  "frontends": [ { "name": "http", "bind": [":80"], "default_backend": "web",
                   "set_headers": { "X-Test-Balancer": "$n" } } ],
  "backends": $backends
}
EOF
}

# ha_healthz N: "CODE BODY" of node N's /healthz ("000" when nothing answers).
ha_healthz() {
    ha_in "$1" curl -s -m 2 -w ' %{http_code}' "http://$HA_ADMIN/healthz" | tr -d '\n' \
        | awk '{print $NF, substr($0, 1, length($0) - length($NF) - 1)}'
}

ha_lxlb_start() {
    local n=$1 d end
    d=$(ha_dir "$n")
    # ip netns exec execs: $! is lxlb itself (a function here would fork).
    ip netns exec "$(ha_ns "$n")" "$LXLB" -f "$d/lxlb.json" 2>>"$d/lxlb.log" &
    HA_LXLB[$n]=$!
    end=$((SECONDS + 10))
    while [ "$SECONDS" -lt "$end" ]; do
        case "$(ha_healthz "$n")" in 000*) sleep 0.05 ;; *) return 0 ;; esac
    done
    tb_log "lxlb of node $n does not answer on $HA_ADMIN"; tail -n 20 "$d/lxlb.log" >&2
    return 1
}

ha_lxlb_kill() {
    local n=$1 sig=$2
    kill "-$sig" "${HA_LXLB[$n]}" 2>/dev/null
    wait "${HA_LXLB[$n]}" 2>/dev/null
    return 0
}

# ha_ka_conf N STATE PRIO [PEER_IP]: dist/keepalived/keepalived.conf for node
# N: its router_id, state and priority, our VIP, vrid and advert_int, a notify
# script that logs each state change with a timestamp, and (PEER_IP) unicast
# adverts. Every substitution must have happened: the dist file changing
# under the test fails here, not later in a confusing way.
ha_ka_conf() {
    local n=$1 state=$2 prio=$3 peer=${4:-} d out want
    d=$(ha_dir "$n")
    out=$d/keepalived.conf
    cat >"$d/notify.sh" <<EOF
#!/bin/sh
# keepalived notify: INSTANCE NAME STATE PRIORITY
echo "\$(date +%s%3N) \$3 \$4" >>"$d/notify.log"
EOF
    chmod 755 "$d/notify.sh"
    : >"$d/notify.log"
    chmod 666 "$d/notify.log"      # the scripts run as the dist's script_user (nobody)
    local sed_args=(
        -e "s|^\(    router_id\) lxlb1 .*|\1 lxlb-$n|"
        -e "s|^\(    state\) MASTER .*|\1 $state|"
        -e "s|^\(    priority\) 150 .*|\1 $prio|"
        -e "s|^\(    virtual_router_id\) 51$|\1 $HA_VRID|"
        -e "s|^\(    advert_int\) 1$|\1 $HA_ADVERT|"
        -e "s|^\(        \)192.0.2.100/24 dev eth0 .*|\1$HA_VIP/24 dev eth0|"
        -e "s|^    # notify /usr/local/sbin/lxlb-vrrp-notify$|    notify $d/notify.sh|"
    )
    [ -n "$HA_WEIGHT" ] && sed_args+=(-e "s|^\(    weight\) -60$|\1 $HA_WEIGHT|")
    if [ -n "$peer" ]; then
        sed_args+=(
            -e "s|^    # unicast_src_ip 192.0.2.11 .*|    unicast_src_ip ${HA_IP[$n]}|"
            -e "s|^    # unicast_peer {$|    unicast_peer {|"
            -e "s|^    #     192.0.2.12 .*|        $peer|"
            -e "s|^    # }$|    }|")
    fi
    sed "${sed_args[@]}" "$HA_DIST" >"$out"
    want="lxlb-$n|    state $state|    priority $prio\$|virtual_router_id $HA_VRID\$|advert_int $HA_ADVERT\$|$HA_VIP/24|notify $d/notify.sh"
    [ -n "$peer" ] && want="$want|unicast_src_ip ${HA_IP[$n]}|^        $peer\$"
    [ -n "$HA_WEIGHT" ] && want="$want|weight $HA_WEIGHT\$"
    local missing
    missing=$(tr '|' '\n' <<<"$want" | while read -r pat; do grep -q -- "$pat" "$out" || echo "$pat"; done)
    [ -z "$missing" ] || { tb_log "rendering $HA_DIST failed, missing: $missing"; return 1; }
}

# keepalived -t: no output means no configuration error (its exit status says
# nothing: it ends itself with SIGTERM either way). In its own session, since
# that signal would otherwise reach us too.
ha_ka_check() {
    local out
    out=$(setsid keepalived -t -f "$(ha_dir "$1")/keepalived.conf" 2>&1 </dev/null \
        | grep -v '^Terminated$')
    [ -z "$out" ] || { echo "$out" | sed 's/^/    keepalived -t: /'; return 1; }
}

ha_ka_start() {
    local n=$1 d
    d=$(ha_dir "$n")
    # -n: foreground (our child), -P: VRRP only, -l -G: log to our file only,
    # -D: state changes in detail; pid files of its own (none in /run).
    ip netns exec "$(ha_ns "$n")" keepalived -n -P -l -G -D -f "$d/keepalived.conf" \
        -p "$d/keepalived.pid" -r "$d/vrrp.pid" -c "$d/checkers.pid" \
        >>"$d/keepalived.log" 2>&1 </dev/null &
    HA_KA[$n]=$!
}

# ha_ka_stop N: SIGTERM, as systemctl stop: it announces priority 0, so the
# backup takes over at once, and removes the VIP.
ha_ka_stop() {
    local n=$1
    tb_kill_pid "${HA_KA[$n]}"
    HA_KA[$n]=
}

ha_state() { tail -n 1 "$(ha_dir "$1")/notify.log" 2>/dev/null | awk '{print $2}'; }

# ha_state_since N STATE FROM_MS: ms from FROM_MS to node N's first change to
# STATE at or after it (-1: none yet).
ha_state_since() {
    awk -v s="$2" -v t="$3" '$2 == s && $1 >= t {print $1 - t; f = 1; exit} END {if (!f) print -1}' \
        "$(ha_dir "$1")/notify.log"
}

ha_wait_state() {
    local n=$1 state=$2 secs=$3 end
    end=$((SECONDS + secs))
    while [ "$SECONDS" -lt "$end" ]; do
        [ "$(ha_state "$n")" = "$state" ] && return 0
        sleep 0.05
    done
    return 1
}

ha_vip_holders() {
    local n out=
    for n in "${HA_NODES[@]}"; do
        ip -n "$(ha_ns "$n")" -4 -o addr show dev eth0 2>/dev/null | grep -q " $HA_VIP/" && out="$out$n "
    done
    echo "${out% }"
}

ha_probe_start() {
    local url=$1 out=$2 cookie=${3:-}
    python3 "$(dirname "${BASH_SOURCE[0]}")/ha_probe.py" run "$url" "$out" --every 0.02 \
        --timeout 1 --vip "$HA_VIP" ${cookie:+--cookie "$cookie"} &
    HA_PROBE_PID=$!
    TB_PIDS+=("$HA_PROBE_PID")
}

ha_probe_stop() {
    [ -n "$HA_PROBE_PID" ] && kill -TERM "$HA_PROBE_PID" 2>/dev/null && wait "$HA_PROBE_PID" 2>/dev/null
    HA_PROBE_PID=
    return 0
}

ha_probe() { python3 "$(dirname "${BASH_SOURCE[0]}")/ha_probe.py" "$@"; }

# ha_show_logs: for tb_defer; on failure, the tail of every node's logs.
ha_show_logs() {
    [ "$TB_FAILS" = 0 ] && return
    local n f
    for n in "${HA_NODES[@]}"; do
        for f in keepalived.log lxlb.log notify.log; do
            [ -s "$(ha_dir "$n")/$f" ] || continue
            echo "  --- node $n: last lines of $f"
            tail -n 25 "$(ha_dir "$n")/$f" | sed 's/^/    /'
        done
    done
}
