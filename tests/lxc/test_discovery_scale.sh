#!/bin/bash
# discovery.lxc at scale: 20 containers started at once all serve within a
# few seconds; stopping them all gives 503 at once, not a hang.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

N=20
NAMES=()
for ((i = 1; i <= N; i++)); do NAMES+=("s$i"); done

tb_defer tb_show_lxlb_logs

# distinct URL COUNT: how many different containers answer COUNT requests
# made on one keep-alive connection (round robin: COUNT >= N covers them all).
distinct() {
    local urls=() i
    for ((i = 0; i < $2; i++)); do urls+=("$1"); done
    curl -s -m 10 -D - -o /dev/null "${urls[@]}" | sed -n 's/^[Xx]-[Ss]erved-[Bb]y: *//p' \
        | tr -d '\r' | sort -u | wc -l
}

t0=$SECONDS
tb_setup
for ((i = 1; i <= N; i++)); do tb_create "s$i" "$(tb_ip $((100 + i)))" web; done
echo "  $N containers created in $((SECONDS - t0))s"

[ -x "${LXLB:-}" ] || { tb_fail "LXLB='${LXLB:-}' is not an executable"; tb_finish; exit; }

PORT=$(tb_free_port)
URL=http://127.0.0.1:$PORT/
LOG=$TB_RUN/lxlb-scale.log
tb_disc_conf "$TB_RUN/scale.json" "$PORT" web
tb_lxlb_start "$TB_RUN/scale.json" "$LOG" "$PORT" || { tb_fail "lxlb starts"; tb_finish; exit; }
tb_check "no container yet: 503" test "$(tb_served_by "$URL")" = "HTTP 503"

# ------------------------------------------------------------ 20 at once ----
t=$(tb_now_ms)
tb_start "${NAMES[@]}"       # all launched at once, returns when all are RUNNING
t_running=$(tb_now_ms)
n=0
end=$((t_running + 15000))
while [ "$(tb_now_ms)" -lt "$end" ]; do
    n=$(distinct "$URL" $((2 * N)))
    [ "$n" = "$N" ] && break
    sleep 0.1
done
t_all=$(tb_now_ms)
echo "  $N containers: lxc-start -> all RUNNING $((t_running - t))ms," \
     "all RUNNING -> all $n serving $((t_all - t_running))ms"
tb_check "all $N containers serve (got $n)" test "$n" = "$N"
tb_check "... within 5 s of all being RUNNING ($((t_all - t_running))ms)" \
    test $((t_all - t_running)) -le 5000
joined=$(grep -c "server web/s[0-9]* joined" "$LOG")
tb_check "log: $N servers joined, each once (got $joined)" test "$joined" = "$N"

# ----------------------------------------------------------- all stopped ----
t=$(tb_now_ms)
pids=()
for name in "${NAMES[@]}"; do
    lxc-stop -P "$TB_LXCPATH" -n "$name" -k >/dev/null 2>&1 &
    pids+=("$!")
done
wait "${pids[@]}"
echo "  $N containers stopped in $(($(tb_now_ms) - t))ms"
worst=0 all503=1
for i in 1 2 3 4 5; do
    t=$(tb_now_ms)
    got=$(tb_served_by "$URL")
    d=$(($(tb_now_ms) - t))
    [ "$d" -gt "$worst" ] && worst=$d
    [ "$got" = "HTTP 503" ] || { all503=0; echo "    request $i: $got"; }
done
echo "  after stopping all: 5 requests, slowest answer ${worst}ms"
tb_check "every request answered 503" test "$all503" = 1
tb_check "... quickly (slowest ${worst}ms < 1000ms)" test "$worst" -lt 1000
for _ in $(seq 20); do
    [ "$(grep -c "server web/s[0-9]* removed" "$LOG")" = "$N" ] && break
    sleep 0.1
done
removed=$(grep -c "server web/s[0-9]* removed" "$LOG")
tb_check "log: $N servers removed (got $removed)" test "$removed" = "$N"
tb_check "lxlb still running" kill -0 "$TB_LXLB_PID"

tb_finish
