#!/bin/bash
# discovery.etcd + `lxlb agent` (SPEC.md "Discovery"; SCENARIO.md's three
# hosts): two "nodes", each an lxcpath of its own with its own agent
# (--host node1 / node2), publish their containers in a real etcd (Debian's
# etcd-server, on loopback); a balancer with discovery.etcd only (no
# discovery.lxc) serves them.
#   - containers of both nodes serve; the same container name on both nodes
#     gives two servers, node1/web1 and node2/web1; another group never serves;
#   - first endpoints dead: agents and balancer fail over to the next one;
#   - lxc-freeze takes a container's key (and server) away, lxc-unfreeze
#     brings it back; SIGHUP: the servers are adopted, none removed or re-added;
#   - a container started later joins (time printed); a stopped one leaves
#     within a second (measured);
#   - an agent killed with SIGKILL: its servers go when its lease (ttl 3 s)
#     expires (kill -> expiry -> removal measured); restarted: they come back;
#     stopped with SIGTERM: its lease is revoked, its servers go at once;
#   - etcd killed and started again on the same data dir, with a container
#     stopped and another started meanwhile: everything comes back, no stale
#     server;
#   - wrk -t1 -c8 -d6s across a node change (a container stopped on node1,
#     one started on node2): zero socket errors, zero non-2xx.
# Network namespaces: the nodes share the host's. etcd must listen on loopback
# only, so an agent in a namespace of its own could not reach it without a
# forwarder; what the balancer knows of node containers still comes only
# from etcd (it has no discovery.lxc), which is what the test is about.
set -u
TB_ROOT=${TB_ROOT:-/var/lib/lxlb-test-etcd}
TB_BRIDGE=${TB_BRIDGE:-lxlbetcd0}
TB_NET=${TB_NET:-10.213.40}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

N1=$TB_LXCPATH            # node1's lxcpath
N2=$TB_ROOT/lxc2          # node2's lxcpath
PREFIX=/lxlb/web/
TTL=3s

show_log_on_failure() {
    [ "$TB_FAILS" = 0 ] && return
    local f
    for f in "$TB_RUN"/lxlb-etcd.log "$TB_RUN"/agent-*.log "$TB_RUN"/etcd.log; do
        [ -f "$f" ] || continue
        echo "  --- last lines of ${f##*/}"
        tail -n 30 "$f" | sed 's/^/    /'
    done
}

# Node2 is not the test bed's own lxcpath: its containers, agents and
# lxc-monitord are ours to clean (before tb_cleanup does node1).
etcd_cleanup() {
    local c
    for pid in "${AGENT_PID[@]}"; do tb_kill_pid "$pid"; done
    for c in $(TB_LXCPATH=$N2 tb_all_containers); do
        lxc-stop -P "$N2" -n "$c" -k >/dev/null 2>&1 || true
    done
    TB_LXCPATH=$N2 tb_kill_monitord
}
declare -A AGENT_PID=()
tb_defer etcd_cleanup
tb_defer show_log_on_failure

# on NODE CMD...: run a test bed command against that node's lxcpath.
on() {
    local node=$1; shift
    local TB_LXCPATH
    case $node in node1) TB_LXCPATH=$N1 ;; node2) TB_LXCPATH=$N2 ;; *) tb_die "no node $node" ;; esac
    "$@"
}

# mk NODE NAME IP [GROUP]: a container that says "NODE/NAME" in X-Served-By,
# the name lxlb gives its server.
mk() {
    local node=$1 name=$2 ip=$3 group=${4:-web} dir
    on "$node" tb_create "$name" "$ip" "$group"
    dir=$(on "$node" tb_dir "$name")
    sed -i "s|X-Served-By \"$name\"|X-Served-By \"$node/$name\"|" \
        "$dir/rootfs/etc/apache2/conf-enabled/lxlb-name.conf"
}

# ------------------------------------------------------------------ etcd ----

b64() { printf %s "$1" | base64 -w0; }

etcd_start() {
    "$ETCD" --name lxlbt --data-dir "$TB_ROOT/etcd" \
        --listen-client-urls "http://127.0.0.1:$EPORT" --advertise-client-urls "http://127.0.0.1:$EPORT" \
        --listen-peer-urls "http://127.0.0.1:$PPORT" --initial-advertise-peer-urls "http://127.0.0.1:$PPORT" \
        --initial-cluster "lxlbt=http://127.0.0.1:$PPORT" >>"$TB_RUN/etcd.log" 2>&1 &
    ETCD_PID=$!
    TB_PIDS+=("$ETCD_PID")
    local end=$((SECONDS + 15))
    while [ "$SECONDS" -lt "$end" ]; do
        curl -s -m 1 "$EURL/health" | grep -q '"health":"true"' && return 0
        sleep 0.1
    done
    tb_log "etcd did not become healthy"; tail -n 20 "$TB_RUN/etcd.log" >&2
    return 1
}

# etcd_count SUB/: keys under $PREFIX$SUB/ (range_end: the last '/' + 1 = '0').
etcd_count() {
    local k=$PREFIX$1 end
    end=${k%/}0
    curl -s -m 1 -XPOST "$EURL/v3/kv/range" \
        -d "{\"key\":\"$(b64 "$k")\",\"range_end\":\"$(b64 "$end")\",\"count_only\":true}" \
        | sed -n 's/.*"count":"\([0-9]*\)".*/\1/p' | grep . || echo 0
}

# ---------------------------------------------------------------- agents ----

agent_start() {
    local node=$1 lxcpath=$N1
    [ "$node" = node2 ] && lxcpath=$N2
    "$LXLB" agent --etcd "$ENDPOINTS" --prefix "$PREFIX" --lxcpath "$lxcpath" \
        --group web --host "$node" --ttl "$TTL" 2>>"$TB_RUN/agent-$node.log" &
    AGENT_PID[$node]=$!
    TB_PIDS+=("$!")
}

# ----------------------------------------------------------------- lxlb -----

log_count() { grep -c -- "$1" "$LOG" 2>/dev/null || true; }

# wait_log PATTERN BEFORE SECS: until the lxlb log has more than BEFORE lines
# matching PATTERN; prints the ms waited, -1 on timeout.
wait_log() {
    local pat=$1 before=$2 secs=$3 t0
    t0=$(tb_now_ms)
    while [ $(($(tb_now_ms) - t0)) -lt $((secs * 1000)) ]; do
        [ "$(log_count "$pat")" -gt "$before" ] && { echo $(($(tb_now_ms) - t0)); return 0; }
        sleep 0.02
    done
    echo -1; return 1
}

# The backend's servers as /stats lists them: "name:source" sorted.
stats_servers() {
    curl -s -m 2 "http://127.0.0.1:$APORT/stats" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for b in d["backends"]:
    if b["name"] == "web":
        print(" ".join(sorted(s["name"] + ":" + s["source"] for s in b["servers"])))'
}

# wait_servers EXPECTED SECS: until /stats lists exactly EXPECTED.
wait_servers() {
    local want=$1 secs=$2 end
    end=$((SECONDS + secs))
    while [ "$SECONDS" -lt "$end" ]; do
        [ "$(stats_servers)" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

served_set() {
    local i
    for ((i = 0; i < $2; i++)); do tb_served_by "$1"; done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

never_served() {
    local i
    for ((i = 0; i < $3; i++)); do
        [ "$(tb_served_by "$1")" = "$2" ] && return 1
    done
    return 0
}

# ================================================================= setup ====
t0=$SECONDS
ETCD=$(command -v etcd || true)
[ -x "${LXLB:-}" ] || { tb_fail "LXLB='${LXLB:-}' is not an executable"; tb_finish; exit; }
[ -n "$ETCD" ] || { tb_fail "etcd is not installed (tests/deps.sh: etcd-server)"; tb_finish; exit; }
command -v wrk >/dev/null || { tb_fail "wrk is not installed (tests/deps.sh)"; tb_finish; exit; }
tb_setup
mkdir -p "$N2"
mk node1 web1 "$(tb_ip 11)"
mk node1 web2 "$(tb_ip 12)"
mk node1 o1 "$(tb_ip 13)" other
mk node2 web1 "$(tb_ip 21)"
mk node2 web3 "$(tb_ip 22)"
mk node2 web4 "$(tb_ip 23)"
tb_check "node1: web1, web2, o1 start" on node1 tb_start_all web1 web2 o1
tb_check "node2: web1 starts" on node2 tb_start_all web1

EPORT=$(tb_free_port); PPORT=$(tb_free_port); DEAD=$(tb_free_port)
EURL=http://127.0.0.1:$EPORT
# A dead endpoint first: everybody has to fail over to the live one.
ENDPOINTS=http://127.0.0.1:$DEAD,$EURL
tb_check "etcd starts on loopback" etcd_start || { tb_finish; exit; }
echo "  test bed and etcd up in $((SECONDS - t0))s"

agent_start node1
agent_start node2
tb_check "lxlb agent: unknown option -> exit 2" \
    bash -c "'$LXLB' agent --etcd '$EURL' --prefix / --bogus 2>/dev/null; test \$? = 2"

PORT=$(tb_free_port); APORT=$(tb_free_port)
URL=http://127.0.0.1:$PORT/
LOG=$TB_RUN/lxlb-etcd.log
cat >"$TB_RUN/etcd.json" <<EOF
{
  "global": { "access_log": "off", "grace": "2s" },
  "admin": { "bind": "127.0.0.1:$APORT" },
  "defaults": { "timeout": { "connect": "2s", "client": "10s", "server": "10s" } },
  "frontends": [ { "name": "http", "bind": ["127.0.0.1:$PORT"], "default_backend": "web" } ],
  "backends": [ {
    "name": "web",
    "redispatch": true,
    "health": { "path": "/health", "interval": "1s", "timeout": "1s" },
    "cookie": { "name": "SRV", "mode": "insert" },
    "discovery": { "etcd": { "endpoints": ["http://127.0.0.1:$DEAD", "$EURL"],
                             "prefix": "$PREFIX" } } } ]
}
EOF
tb_check "lxlb -c accepts the discovery.etcd config" "$LXLB" -c -f "$TB_RUN/etcd.json"
tb_lxlb_start "$TB_RUN/etcd.json" "$LOG" "$PORT" || { tb_fail "lxlb starts"; tb_finish; exit; }

# ============================================================ both nodes ====
for s in node1/web1 node1/web2 node2/web1; do
    ms=$(tb_wait_served "$URL" "$s" 10)
    tb_check "$s serves through the balancer (after ${ms}ms)" test "$ms" -ge 0
done
got=$(served_set "$URL" 12)
tb_check "the three share the traffic (got: $got)" test "$got" = "node1/web1 node1/web2 node2/web1"
tb_check "o1 (group other) never serves" never_served "$URL" node1/o1 12
got=$(stats_servers)
tb_check "same name on two nodes: two servers (got: $got)" \
    test "$got" = "node1/web1:etcd node1/web2:etcd node2/web1:etcd"
# Cookie = server name: a sticky client stays on node2/web1.
ck=$(curl -s -D - -o /dev/null -b "SRV=node2/web1" "$URL" | tr -d '\r' | sed -n 's/^X-Served-By: //Ip')
tb_check "cookie SRV=node2/web1 sticks to node2/web1 (got: $ck)" test "$ck" = node2/web1
tb_check "log: agents failed over from the dead endpoint" \
    grep -q "etcd back on $EURL" "$TB_RUN/agent-node1.log"

# ----------------------------------------------------------- freeze/thaw ----
before=$(log_count "server web/node2/web1 removed")
lxc-freeze -P "$N2" -n web1
ms=$(wait_log "server web/node2/web1 removed" "$before" 5)
tb_check "lxc-freeze node2/web1: its key goes, server removed (${ms}ms)" test "$ms" -ge 0 -a "$ms" -le 1000
lxc-unfreeze -P "$N2" -n web1
ms=$(tb_wait_served "$URL" node2/web1 10)
tb_check "lxc-unfreeze: node2/web1 serves again (${ms}ms)" test "$ms" -ge 0

# ---------------------------------------------------------------- reload ----
# The new generation's watcher adopts the servers by name at its first read.
mark=$(wc -l <"$LOG")
kill -HUP "$TB_LXLB_PID"
for _ in $(seq 50); do tail -n +"$mark" "$LOG" | grep -q "reload done" && break; sleep 0.1; done
sleep 0.5
tb_check "SIGHUP: reload done" bash -c "tail -n +$mark '$LOG' | grep -q 'reload done'"
tb_check "the reload removed and re-added no etcd server" \
    bash -c "! tail -n +$mark '$LOG' | grep -Eq 'server web/node[12]/[a-z0-9]+ (removed|joined)'"
got=$(served_set "$URL" 12)
tb_check "after the reload the three still serve (got: $got)" \
    test "$got" = "node1/web1 node1/web2 node2/web1"

# ---------------------------------------------------------------- join ------
before=$(log_count "server web/node2/web3 joined")
t=$(tb_now_ms)
on node2 tb_start web3
t_run=$(tb_now_ms)
ms=$(tb_wait_served "$URL" node2/web3 10)
JOIN_MS=$ms
echo "  join node2/web3: lxc-start -> RUNNING $((t_run - t))ms, RUNNING -> served ${ms}ms" \
     "(agent: $(grep -o 'published /lxlb/web/node2/web3 = [^ ]* ([0-9]*ms after up)' "$TB_RUN/agent-node2.log" | tail -n1 | sed 's/.*(//; s/)//'))"
tb_check "node2/web3 started later serves within 2 s (${ms}ms)" test "$ms" -ge 0 -a "$ms" -le 2000

# ---------------------------------------------------------------- leave -----
before=$(log_count "server web/node1/web2 removed")
t=$(tb_now_ms)
on node1 tb_stop web2 &
ms=$(wait_log "server web/node1/web2 removed" "$before" 5)
wait $! 2>/dev/null
LEAVE_MS=$ms
echo "  leave node1/web2: lxc-stop -k -> server removed ${ms}ms"
tb_check "a stopped container leaves within a second (${ms}ms)" test "$ms" -ge 0 -a "$ms" -le 1000
got=$(served_set "$URL" 12)
tb_check "node1/web2 no longer serves (got: $got)" test "$got" = "node1/web1 node2/web1 node2/web3"

# ------------------------------------------------------- agent SIGKILL ------
b1=$(log_count "server web/node2/web1 removed"); b3=$(log_count "server web/node2/web3 removed")
kill -KILL "${AGENT_PID[node2]}"; wait "${AGENT_PID[node2]}" 2>/dev/null
t=$(tb_now_ms); t_exp=-1; t_rm=-1
while [ $(($(tb_now_ms) - t)) -lt 8000 ]; do
    now=$(tb_now_ms)
    [ "$t_exp" = -1 ] && [ "$(etcd_count node2/)" = 0 ] && t_exp=$((now - t))
    if [ "$(log_count "server web/node2/web1 removed")" -gt "$b1" ] &&
       [ "$(log_count "server web/node2/web3 removed")" -gt "$b3" ]; then
        t_rm=$(($(tb_now_ms) - t)); break
    fi
    sleep 0.02
done
[ "$t_exp" = -1 ] && t_exp=$t_rm
EXPIRY_MS=$t_exp; EXP_RM_MS=$((t_rm - t_exp))
echo "  agent node2 SIGKILL: lease (ttl $TTL) expired after ${t_exp}ms, servers removed" \
     "after ${t_rm}ms (expiry -> removal $((t_rm - t_exp))ms)"
tb_check "killed agent: its servers go when its lease expires (${t_rm}ms, ttl $TTL)" \
    test "$t_rm" -ge 1000 -a "$t_rm" -le 5000
got=$(served_set "$URL" 8)
tb_check "only node1/web1 serves now (got: $got)" test "$got" = "node1/web1"

agent_start node2
ms=$(tb_wait_served "$URL" node2/web1 10)
tb_check "agent node2 restarted: node2/web1 serves again (${ms}ms)" test "$ms" -ge 0
tb_check "and node2/web3 (${ms}ms)" test "$(tb_wait_served "$URL" node2/web3 10)" -ge 0

# ------------------------------------------------------- agent SIGTERM ------
before=$(log_count "server web/node2/web3 removed")
t=$(tb_now_ms)
kill -TERM "${AGENT_PID[node2]}"
ms=$(wait_log "server web/node2/web3 removed" "$before" 5)
wait "${AGENT_PID[node2]}"; rc=$?
echo "  agent node2 SIGTERM: lease revoked, servers removed after ${ms}ms"
tb_check "SIGTERM: the agent exits 0 (got $rc)" test "$rc" = 0
tb_check "SIGTERM: lease revoked, servers gone within a second (${ms}ms)" test "$ms" -ge 0 -a "$ms" -le 1000
agent_start node2
tb_check "node2 back" wait_servers "node1/web1:etcd node2/web1:etcd node2/web3:etcd" 10

# -------------------------------------------------------- etcd restarted ----
# Meanwhile node1/web1 stops and node1/web2 starts: the agent cannot tell etcd
# until it is back; then no stale server may remain and the new one joins.
kill -KILL "$ETCD_PID"; wait "$ETCD_PID" 2>/dev/null
t=$(tb_now_ms)
on node1 tb_stop web1
on node1 tb_start web2
sleep 1
tb_check "etcd starts again on the same data dir" etcd_start
want="node1/web2:etcd node2/web1:etcd node2/web3:etcd"
tb_check "after the etcd restart: exactly $want" wait_servers "$want" 15
echo "  etcd down $(( $(tb_now_ms) - t ))ms until the balancer lists: $(stats_servers)"
tb_check "log: the balancer read again after the break" grep -q "etcd web: back on" "$LOG"
tb_check "log: node1/web1 removed by the reconcile or its old lease" \
    grep -Eq "server web/node1/web1 removed: key (gone|deleted)" "$LOG"
ms=$(tb_wait_served "$URL" node1/web2 10)
tb_check "node1/web2 started during the outage serves (${ms}ms)" test "$ms" -ge 0
tb_check "stopped node1/web1 never answers" never_served "$URL" node1/web1 10

# -------------------------------------------------------------- wrk load ----
OUT=$TB_RUN/wrk.out
wrk -t1 -c8 -d6s --latency "$URL" >"$OUT" 2>&1 &
WRK=$!
TB_PIDS+=("$WRK")
sleep 2
on node1 tb_stop web2
echo "  at 2s: lxc-stop -k node1/web2"
sleep 1
on node2 tb_start web4
echo "  at 3s: lxc-start node2/web4"
wait "$WRK"
sed 's/^/    wrk: /' "$OUT"
reqs=$(tb_wrk_requests "$OUT"); errs=$(tb_wrk_socket_errors "$OUT"); non2xx=$(tb_wrk_non2xx "$OUT")
errs=${errs:-0}; non2xx=${non2xx:-0}
echo "  wrk figures: ${reqs:-?} requests, socket errors $errs, non-2xx $non2xx"
tb_check "wrk ran (${reqs:-0} requests)" test "${reqs:-0}" -gt 1000
tb_check "zero socket errors (got $errs)" test "$errs" = 0
tb_check "zero non-2xx responses (got $non2xx)" test "$non2xx" = 0
tb_check "node2/web4 joined during the run" grep -q "server web/node2/web4 joined" "$LOG"
want="node2/web1:etcd node2/web3:etcd node2/web4:etcd"
tb_check "after the run: exactly $want" wait_servers "$want" 5

echo "  summary: join ${JOIN_MS}ms, leave ${LEAVE_MS}ms, lease expiry ${EXPIRY_MS}ms after" \
     "SIGKILL (ttl $TTL), expiry -> removal ${EXP_RM_MS}ms"
tb_finish
