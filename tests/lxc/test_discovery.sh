#!/bin/bash
# discovery.lxc (SPEC.md "Discovery"): containers of group "web" join and
# leave the backend live, with no static server in the config.
#   - a container RUNNING before lxlb starts serves;
#   - one started later serves within ~1 s of its address (join latency printed);
#   - one of another group is never used;
#   - one whose address appears late joins once it has one;
#   - lxc-freeze takes a container out, lxc-unfreeze brings it back;
#   - lxc-stop removes it; a restart makes it serve again;
#   - SIGHUP: discovered servers are kept;
#   - lxc-monitor killed: restarted, and a container started afterwards joins;
#   - lxlb stopped (or killed): no lxc-monitor left.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

tb_defer tb_show_lxlb_logs

# served_set URL N: who answered N requests, sorted and unique, space separated.
served_set() {
    local i
    for ((i = 0; i < $2; i++)); do tb_served_by "$1"; done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# never_served URL NAME N: none of N requests was answered by NAME.
never_served() {
    local i
    for ((i = 0; i < $3; i++)); do
        [ "$(tb_served_by "$1")" = "$2" ] && return 1
    done
    return 0
}

t0=$SECONDS
tb_setup
tb_create d1 "$(tb_ip 11)" web
tb_create d2 "$(tb_ip 12)" "blue,web"     # lxc.group may list several groups
tb_create o1 "$(tb_ip 13)" other
tb_create_late late1 "$(tb_ip 14)" 2 web
tb_check "d1 starts before lxlb" tb_start_all d1
echo "  test bed up in $((SECONDS - t0))s"

[ -x "${LXLB:-}" ] || { tb_fail "LXLB='${LXLB:-}' is not an executable"; tb_finish; exit; }

PORT=$(tb_free_port)
URL=http://127.0.0.1:$PORT/
LOG=$TB_RUN/lxlb-discovery.log
tb_disc_conf "$TB_RUN/disc.json" "$PORT" web
tb_check "lxlb -c accepts a discovery-only config" "$LXLB" -c -f "$TB_RUN/disc.json"
tb_lxlb_start "$TB_RUN/disc.json" "$LOG" "$PORT" || { tb_fail "lxlb starts"; tb_finish; exit; }

# ------------------------------------------------ already running at start --
ms=$(tb_wait_served "$URL" d1 5)
tb_check "d1, RUNNING before lxlb started, serves (after ${ms}ms)" test "$ms" -ge 0
tb_check "log: d1 joined (found running)" grep -q "server web/d1 joined at $(tb_ip 11):80" "$LOG"

# --------------------------------------------------- started later: join ----
tb_start o1          # another group: must never serve
t_start=$(tb_now_ms)
tb_start d2          # returns once d2 is RUNNING
t_running=$(tb_now_ms)
ms=$(tb_wait_served "$URL" d2 10)
echo "  join latency d2: lxc-start -> RUNNING $((t_running - t_start))ms," \
     "RUNNING -> first request served ${ms}ms"
tb_check "d2 started later serves within 1.5 s of RUNNING (${ms}ms)" \
    test "$ms" -ge 0 -a "$ms" -le 1500
got=$(served_set "$URL" 8)
tb_check "d1 and d2 share the traffic (got: $got)" test "$got" = "d1 d2"
tb_check "o1 (group other) never serves" never_served "$URL" o1 20
tb_check "log: o1 ignored as not in group web" grep -q "container o1 is not in group web" "$LOG"

# ------------------------------------------------------------ late address --
t_start=$(tb_now_ms)
tb_start late1
ms=$(tb_wait_served "$URL" late1 15)
echo "  late1 (address 2 s after RUNNING): served $(($(tb_now_ms) - t_start))ms after lxc-start"
tb_check "late1 joins once its address appears" test "$ms" -ge 0
tb_check "log: late1 address found" grep -q "container late1 has address $(tb_ip 14)" "$LOG"
tb_stop late1

# ---------------------------------------------------------- freeze / thaw ---
lxc-freeze -P "$TB_LXCPATH" -n d2
t=$(tb_now_ms)
got=$(served_set "$URL" 10)
echo "  frozen d2: 10 requests in $(($(tb_now_ms) - t))ms answered by: $got"
tb_check "lxc-freeze d2: no request reaches d2 (got: $got)" test "$got" = d1
tb_check "log: d2 retiring when frozen" grep -q "server web/d2 retiring: container FREEZING" "$LOG"
tb_check "log: d2 drained" grep -q "server web/d2 drained" "$LOG"
lxc-unfreeze -P "$TB_LXCPATH" -n d2
ms=$(tb_wait_served "$URL" d2 5)
tb_check "lxc-unfreeze d2: d2 serves again (after ${ms}ms)" test "$ms" -ge 0

# -------------------------------------------------------- stop / restart ----
tb_stop d2
t=$(tb_now_ms)
got=$(served_set "$URL" 10)
echo "  stopped d2: 10 requests in $(($(tb_now_ms) - t))ms answered by: $got"
tb_check "lxc-stop -k d2: every request answered by d1 (got: $got)" test "$got" = d1
tb_check "log: d2 removed" grep -q "server web/d2 removed: container stopped" "$LOG"
tb_start d2
ms=$(tb_wait_served "$URL" d2 10)
tb_check "d2 restarted serves again (after ${ms}ms)" test "$ms" -ge 0

# ------------------------------------------------------------ SIGHUP reload --
# Discovery restarts with the new generation and adopts the servers it had:
# nothing is removed or re-added, they keep serving throughout.
mark=$(wc -l <"$LOG")
kill -HUP "$TB_LXLB_PID"
for _ in $(seq 50); do tail -n +"$mark" "$LOG" | grep -q "reload done" && break; sleep 0.1; done
tb_check "SIGHUP: reload done" bash -c "tail -n +$mark '$LOG' | grep -q 'reload done'"
got=$(served_set "$URL" 8)
tb_check "after the reload d1 and d2 still serve (got: $got)" test "$got" = "d1 d2"
tb_check "the reload removed and re-added no discovered server" \
    bash -c "! tail -n +$mark '$LOG' | grep -Eq 'server web/d[12] (removed|joined)|already has a server'"

# -------------------------------------------------------- monitor killed ----
mpid=$(tb_monitor_pids)
tb_check "lxlb runs one lxc-monitor for the lxcpath (pid ${mpid:-none})" \
    test "$(wc -w <<<"$mpid")" = 1
if [ -n "$mpid" ]; then
    kill -KILL $mpid
    new=
    for _ in $(seq 50); do
        new=$(tb_monitor_pids)
        [ -n "$new" ] && [ "$new" != "$mpid" ] && break
        sleep 0.1
    done
    tb_check "lxc-monitor killed: restarted (pid $mpid -> ${new:-none})" \
        test -n "$new" -a "$new" != "$mpid"
    tb_check "log: monitor restart" grep -q "lxc-monitor for .* restarted" "$LOG"
    helper=$(tb_helper_pid "$TB_LXLB_PID")
    tb_check "lxc-monitor is the child of lxlb's LXC helper (${helper:-none})" \
        test -n "$helper" -a "$(ps -o ppid= -p "$new" | tr -d ' ')" = "${helper:-x}"
    tb_check "no zombie lxc-monitor left behind" \
        bash -c "! ps -o stat=,args= --ppid ${helper:-$TB_LXLB_PID} | grep -q '^Z'"
    # Give the new monitor its moment to connect to lxc-monitord; whatever it
    # still misses, the resync after the restart corrects.
    tb_stop d1
    tb_start d1
    ms=$(tb_wait_served "$URL" d1 10)
    tb_check "after the restart, d1 stopped and started again joins (${ms}ms)" test "$ms" -ge 0
fi

# --------------------------------------------------------- lxlb stopped -----
tb_lxlb_stop
sleep 0.2
left=$(tb_monitor_pids)
tb_check "lxlb stopped: no lxc-monitor left (${left:-none})" test -z "$left"

# Killed outright: the helper sees its socket close and ends the monitor.
tb_lxlb_start "$TB_RUN/disc.json" "$TB_RUN/lxlb-killed.log" "$PORT" || tb_fail "lxlb starts again"
for _ in $(seq 30); do [ -n "$(tb_monitor_pids)" ] && break; sleep 0.1; done
{ kill -KILL "$TB_LXLB_PID"; wait "$TB_LXLB_PID"; } 2>/dev/null
for _ in $(seq 20); do [ -z "$(tb_monitor_pids)" ] && break; sleep 0.1; done
left=$(tb_monitor_pids)
tb_check "lxlb killed with SIGKILL: no lxc-monitor left (${left:-none})" test -z "$left"

tb_finish
