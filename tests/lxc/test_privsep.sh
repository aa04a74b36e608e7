#!/bin/bash
# discovery.lxc with global.user/group/chroot (SPEC.md "Configuration"): lxlb
# drops to nobody:nogroup after binding, while liblxc and lxc-monitor stay in
# its privileged LXC helper (discovery/helper.c), which keeps root.
#   - lxlb runs as nobody, the helper as root, lxc-monitor is the helper's
#     child, and the helper holds none of lxlb's listening sockets;
#   - a container running before lxlb starts serves, one started later joins;
#   - one stopped under load (wrk, keep-alive) leaves with no failed request;
#   - SIGHUP: discovery restarts through the same helper, servers are kept;
#   - lxlb killed (SIGKILL) or stopped (SIGTERM): no helper, no lxc-monitor left;
#   - with chroot as well: lxlb is in the jail, the helper is not, discovery works;
#   - the helper killed: lxlb, no longer root, cannot start another: it says so
#     in its log and keeps serving the containers it knows.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

tb_defer tb_show_lxlb_logs

NOBODY=$(id -u nobody) NOGROUP=$(getent group nogroup | cut -d: -f3)

# privsep_conf FILE PORT [CHROOT]: tb_disc_conf's config, dropping to
# nobody:nogroup (and into CHROOT).
privsep_conf() {
    local file=$1 port=$2 jail=${3:-} extra='"user": "nobody", "group": "nogroup",'
    tb_disc_conf "$file" "$port" web
    [ -n "$jail" ] && extra="$extra \"chroot\": \"$jail\","
    sed -i "s|\"global\": {|\"global\": { $extra|" "$file"
}

# gone PID...: none of them runs any more (waits up to 3 s).
gone() {
    local p
    for _ in $(seq 30); do
        for p in "$@"; do tb_running "$p" && break; p=; done
        [ -z "$p" ] && return 0
        sleep 0.1
    done
    return 1
}

# wait_helper: sets HELPER and MON for the running lxlb (up to 3 s).
wait_helper() {
    HELPER= MON=
    for _ in $(seq 30); do
        HELPER=$(tb_helper_pid "$TB_LXLB_PID")
        MON=$(tb_monitor_pids)
        [ -n "$HELPER" ] && [ -n "$MON" ] && return 0
        sleep 0.1
    done
    return 1
}

t0=$SECONDS
tb_setup
tb_create s1 "$(tb_ip 31)" web
tb_create s2 "$(tb_ip 32)" web
tb_check "s1 starts before lxlb" tb_start_all s1
echo "  test bed up in $((SECONDS - t0))s"

[ -x "${LXLB:-}" ] || { tb_fail "LXLB='${LXLB:-}' is not an executable"; tb_finish; exit; }
command -v wrk >/dev/null || { tb_fail "wrk is not installed (tests/deps.sh)"; tb_finish; exit; }

PORT=$(tb_free_port)
URL=http://127.0.0.1:$PORT/
LOG=$TB_RUN/lxlb-privsep.log
privsep_conf "$TB_RUN/privsep.json" "$PORT"
tb_check "lxlb -c accepts discovery.lxc with global.user/group" \
    "$LXLB" -c -f "$TB_RUN/privsep.json"
tb_lxlb_start "$TB_RUN/privsep.json" "$LOG" "$PORT" || { tb_fail "lxlb starts"; tb_finish; exit; }

# ------------------------------------------------------------ who is who ----
tb_check "lxlb runs as nobody (Uid: $(tb_uids "$TB_LXLB_PID"))" \
    test "$(tb_uids "$TB_LXLB_PID")" = "$NOBODY $NOBODY $NOBODY $NOBODY"
tb_check "lxlb runs as group nogroup (Gid: $(tb_gids "$TB_LXLB_PID"))" \
    test "$(tb_gids "$TB_LXLB_PID")" = "$NOGROUP $NOGROUP $NOGROUP $NOGROUP"
wait_helper
tb_check "lxlb has its LXC helper (pid ${HELPER:-none})" test -n "$HELPER"
tb_check "the helper runs as root (Uid: $(tb_uids "${HELPER:-0}"))" \
    test -n "$HELPER" -a "$(tb_uids "${HELPER:-0}")" = "0 0 0 0"
tb_check "one lxc-monitor, the helper's child (pid ${MON:-none})" \
    test "$(wc -w <<<"$MON")" = 1 -a "$(ps -o ppid= -p "${MON:-0}" | tr -d ' ')" = "${HELPER:-x}"
tb_check "the lxc-monitor runs as root" test "$(tb_uids "${MON:-0}")" = "0 0 0 0"
tb_check "the helper holds no listening socket of lxlb's" \
    bash -c "! ss -Hltnp | grep -q 'pid=${HELPER:-x},'"
tb_check "log: helper started" grep -q "lxc helper started (pid ${HELPER:-x})" "$LOG"

# ------------------------------------------------------- join and leave -----
ms=$(tb_wait_served "$URL" s1 5)
tb_check "s1, RUNNING before lxlb started, serves (after ${ms}ms)" test "$ms" -ge 0
tb_start s2
ms=$(tb_wait_served "$URL" s2 10)
tb_check "s2 started later joins and serves (${ms}ms after RUNNING)" test "$ms" -ge 0

OUT=$TB_RUN/wrk.out
wrk -t1 -c8 -d5s "$URL" >"$OUT" 2>&1 &
WRK=$!
TB_PIDS+=("$WRK")
sleep 1.5
tb_stop s2
wait "$WRK"
reqs=$(tb_wrk_requests "$OUT"); errs=$(tb_wrk_socket_errors "$OUT"); non2xx=$(tb_wrk_non2xx "$OUT")
echo "  wrk while s2 stopped: ${reqs:-?} requests, socket errors ${errs:-0}, non-2xx ${non2xx:-0}"
tb_check "wrk ran (${reqs:-0} requests)" test "${reqs:-0}" -gt 500
tb_check "s2 stopped under load: zero socket errors (got ${errs:-0})" test "${errs:-0}" = 0
tb_check "s2 stopped under load: zero non-2xx answers (got ${non2xx:-0})" test "${non2xx:-0}" = 0
tb_check "log: s2 removed" grep -q "server web/s2 removed: container stopped" "$LOG"
got=$(for i in 1 2 3 4; do tb_served_by "$URL"; done | sort -u | tr '\n' ' ')
tb_check "after the stop only s1 serves (got: $got)" test "$got" = "s1 "

# --------------------------------------------------------------- reload -----
mark=$(wc -l <"$LOG")
kill -HUP "$TB_LXLB_PID"
for _ in $(seq 50); do tail -n +"$mark" "$LOG" | grep -q "reload done" && break; sleep 0.1; done
tb_check "SIGHUP as nobody: reload done" bash -c "tail -n +$mark '$LOG' | grep -q 'reload done'"
tb_start s2
ms=$(tb_wait_served "$URL" s2 10)
tb_check "after the reload s2 started again joins (${ms}ms)" test "$ms" -ge 0
tb_check "the reload kept the same helper" test "$(tb_helper_pid "$TB_LXLB_PID")" = "$HELPER"
tb_check "the reload kept s1" \
    bash -c "! tail -n +$mark '$LOG' | grep -Eq 'server web/s1 (removed|joined)'"

# ------------------------------------------------------- lxlb killed --------
{ kill -KILL "$TB_LXLB_PID"; wait "$TB_LXLB_PID"; } 2>/dev/null
tb_check "lxlb killed with SIGKILL: the helper (${HELPER:-none}) exits" gone "${HELPER:-0}"
tb_check "lxlb killed with SIGKILL: its lxc-monitor exits" gone $MON
tb_check "lxlb killed with SIGKILL: no lxc-monitor for the lxcpath left" \
    test -z "$(tb_monitor_pids)"

# ----------------------------------------------- chroot, graceful stop ------
JAIL=$TB_RUN/jail
mkdir -p "$JAIL"
privsep_conf "$TB_RUN/jail.json" "$PORT" "$JAIL"
LOG=$TB_RUN/lxlb-jail.log
tb_lxlb_start "$TB_RUN/jail.json" "$LOG" "$PORT" || tb_fail "lxlb starts with chroot"
wait_helper
tb_check "chroot: lxlb is in the jail" test "$(readlink "/proc/$TB_LXLB_PID/root")" = "$JAIL"
tb_check "chroot: lxlb runs as nobody" test "$(tb_uids "$TB_LXLB_PID")" = "$NOBODY $NOBODY $NOBODY $NOBODY"
tb_check "chroot: the helper (${HELPER:-none}) is not" \
    test -n "$HELPER" -a "$(readlink "/proc/${HELPER:-0}/root")" = /
got=$(for i in 1 2 3 4 5 6 7 8; do tb_served_by "$URL"; done | sort -u | tr '\n' ' ')
tb_check "chroot: s1 and s2 found running serve (got: $got)" test "$got" = "s1 s2 "
old_helper=$HELPER old_mon=$MON
tb_lxlb_stop
tb_check "lxlb stopped (SIGTERM): the helper exits" gone "${old_helper:-0}"
tb_check "lxlb stopped (SIGTERM): its lxc-monitor exits" gone $old_mon
tb_check "lxlb stopped (SIGTERM): the helper was reaped, no zombie" \
    test ! -e "/proc/${old_helper:-0}"

# ------------------------------------------------------- helper killed ------
LOG=$TB_RUN/lxlb-helper-killed.log
tb_lxlb_start "$TB_RUN/privsep.json" "$LOG" "$PORT" || tb_fail "lxlb starts again"
wait_helper
ms=$(tb_wait_served "$URL" s2 5)
kill -KILL "${HELPER:-0}"
for _ in $(seq 50); do grep -q "lxc helper (pid ${HELPER:-x}) lost" "$LOG" && break; sleep 0.1; done
tb_check "helper killed: lxlb logs it" grep -q "lxc helper (pid ${HELPER:-x}) lost" "$LOG"
tb_check "helper killed: lxlb says it cannot start another" \
    grep -q "dropped its privileges and cannot start another" "$LOG"
tb_check "helper killed: its lxc-monitor exits" gone $MON
tb_check "helper killed: lxlb is alive" tb_running "$TB_LXLB_PID"
got=$(for i in 1 2 3 4 5 6 7 8; do tb_served_by "$URL"; done | sort -u | tr '\n' ' ')
tb_check "helper killed: s1 and s2 still serve (got: $got)" test "$got" = "s1 s2 "
tb_check "helper killed: no new helper runs as nobody" test -z "$(tb_helper_pid "$TB_LXLB_PID")"
tb_lxlb_stop

# Meaningful with a SANITIZE=1 build: the helper logs to lxlb's stderr.
tb_check "no sanitizer report from lxlb or its helper" \
    bash -c "! grep -Eq 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' '$TB_RUN'/lxlb-*.log"

tb_finish
