#!/bin/bash
# discovery.lxc under load: wrk -t1 -c16 -d8s (keep-alive) through lxlb while
# one container is killed (lxc-stop -k) and another one started. Zero socket
# errors, zero non-2xx answers, p99 under 100 ms. (HAProxy with the seed's
# static list: 10 failed requests and p99 3.07 s for one lxc-stop -k.)
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

tb_defer tb_show_lxlb_logs

t0=$SECONDS
tb_setup
tb_create l1 "$(tb_ip 21)" web
tb_create l2 "$(tb_ip 22)" web
tb_create l3 "$(tb_ip 23)" web
tb_check "l1 and l2 start" tb_start_all l1 l2
echo "  test bed up in $((SECONDS - t0))s"

[ -x "${LXLB:-}" ] || { tb_fail "LXLB='${LXLB:-}' is not an executable"; tb_finish; exit; }
command -v wrk >/dev/null || { tb_fail "wrk is not installed (tests/deps.sh)"; tb_finish; exit; }

PORT=$(tb_free_port)
URL=http://127.0.0.1:$PORT/
LOG=$TB_RUN/lxlb-load.log
tb_disc_conf "$TB_RUN/load.json" "$PORT" web
tb_lxlb_start "$TB_RUN/load.json" "$LOG" "$PORT" || { tb_fail "lxlb starts"; tb_finish; exit; }
if [ "${TB_WORKERS:-1}" -gt 1 ]; then
    tb_check "lxlb runs ${TB_WORKERS} event loops" \
        timeout 5 bash -c "until grep -q '${TB_WORKERS} workers serving' '$LOG'; do sleep 0.1; done"
fi
tb_check "l1 serves" test "$(tb_wait_served "$URL" l1 5)" -ge 0
tb_check "l2 serves" test "$(tb_wait_served "$URL" l2 5)" -ge 0

OUT=$TB_RUN/wrk.out
wrk -t1 -c16 -d8s --latency "$URL" >"$OUT" 2>&1 &
WRK=$!
TB_PIDS+=("$WRK")
sleep 2
t=$(tb_now_ms)
tb_stop l2
echo "  at 2s: lxc-stop -k l2 ($(($(tb_now_ms) - t))ms)"
sleep 1
t=$(tb_now_ms)
tb_start l3
echo "  at 3s: lxc-start l3 (RUNNING after $(($(tb_now_ms) - t))ms)"
wait "$WRK"

sed 's/^/    wrk: /' "$OUT"
reqs=$(tb_wrk_requests "$OUT"); errs=$(tb_wrk_socket_errors "$OUT"); non2xx=$(tb_wrk_non2xx "$OUT")
p99=$(tb_wrk_p99_ms "$OUT")
errs=${errs:-0}; non2xx=${non2xx:-0}
echo "  figures: ${reqs:-?} requests, socket errors $errs, non-2xx $non2xx, p99 ${p99:-?} ms"
tb_check "wrk ran (${reqs:-0} requests)" test "${reqs:-0}" -gt 1000
tb_check "zero socket errors (got $errs)" test "$errs" = 0
tb_check "zero non-2xx responses (got $non2xx)" test "$non2xx" = 0
tb_check "p99 < 100 ms (got ${p99:-?} ms)" awk -v p="${p99:-1e9}" 'BEGIN { exit !(p < 100) }'
tb_check "log: l2 retired and removed" grep -q "server web/l2 removed" "$LOG"
tb_check "log: l3 joined during the run" grep -q "server web/l3 joined" "$LOG"
got=$(for i in 1 2 3 4 5 6; do tb_served_by "$URL"; done | sort -u | tr '\n' ' ')
tb_check "after the run l1 and l3 serve (got: $got)" test "$got" = "l1 l3 "

tb_finish
