#!/bin/bash
# Issue 3 on real LXC: the seed's static server list with active checks, and
# `lxc-stop -k` of one Apache container under wrk load. A stopped container's
# address stalls connects ~3 s (EHOSTUNREACH): lxlb must lose no request
# (connect retries with redispatch), mark the server down after `fall` failed
# connects without waiting for a check, and send nothing more there.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

IP1=$(tb_ip 21)
IP2=$(tb_ip 22)

tb_setup
tb_create http1 "$IP1" web
tb_create http2 "$IP2" web
tb_check "both containers start and Apache answers" tb_start_all http1 http2

PORT=$(tb_free_port)
CONF=$TB_RUN/health-static.json
LOG=$TB_RUN/lxlb-health-static.log
cat >"$CONF" <<JSON
{
  "defaults": { "timeout": { "connect": "5s" }, "retries": 3 },
  "frontends": [ { "name": "http", "bind": ["127.0.0.1:$PORT"],
                   "default_backend": "http_nodes" } ],
  "backends": [ { "name": "http_nodes", "redispatch": true,
                  "health": { "path": "/health", "interval": "5s", "fall": 3, "rise": 2 },
                  "servers": [ { "name": "http1", "address": "$IP1:80" },
                               { "name": "http2", "address": "$IP2:80" } ] } ]
}
JSON

if ! tb_lxlb_start "$CONF" "$LOG" "$PORT"; then
    tb_fail "lxlb starts"; tb_finish; exit
fi
tb_check "both servers answer through lxlb" \
    test "$(for _ in 1 2 3 4; do curl -s -m 5 "http://127.0.0.1:$PORT/"; done | sort -u | wc -l)" = 2

WRK_OUT=$TB_RUN/wrk-health-static.txt
wrk -t1 -c32 -d10s --latency "http://127.0.0.1:$PORT/" >"$WRK_OUT" 2>&1 &
wrk_pid=$!
TB_PIDS+=("$wrk_pid")
sleep 2
stop_ms=$(tb_now_ms)
tb_stop http2
wait "$wrk_pid"

sed 's/^/    /' "$WRK_OUT"
tb_check "wrk: no socket errors" bash -c "! grep -q 'Socket errors' '$WRK_OUT'"
tb_check "wrk: no non-2xx answers" bash -c "! grep -q 'Non-2xx' '$WRK_OUT'"

# When did lxlb mark http2 down, and did any request reach it afterwards?
down_line=$(grep -m1 'server http_nodes/http2 is down' "$LOG")
echo "    $down_line"
tb_check "http2 is marked down (passive: failed connects)" test -n "$down_line"
if [ -n "$down_line" ]; then
    down_ms=$(date -d "$(awk '{print $1}' <<<"$down_line")" +%s%3N)
    echo "    time from lxc-stop to down: $((down_ms - stop_ms)) ms"
    tb_check "down within 6 s of lxc-stop (not after fall x interval = 15 s)" \
        test $((down_ms - stop_ms)) -lt 6000
    # A request that stalled on the dead address took ~3 s. None may have
    # started after the down event: access lines carry the end time and Tt.
    late=$(/usr/bin/python3 - "$LOG" "$down_ms" <<'PY'
import re, sys, datetime
down = int(sys.argv[2]) / 1000.0
late = 0
for line in open(sys.argv[1], errors="replace"):
    m = re.search(r"\[(\d+/\w+/\d+:\d+:\d+:\d+\.\d+)\] \S+ \S+ \d+ \d+ "
                  r"-?\d+/-?\d+/-?\d+/(\d+) ", line)
    if not m:
        continue
    end = datetime.datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S.%f").timestamp()
    tt = int(m.group(2)) / 1000.0
    if tt >= 1.0 and end - tt > down + 0.05:
        late += 1
print(late)
PY
)
    echo "    slow requests (>= 1 s) that started after http2 went down: $late"
    tb_check "no request waits on the dead address once it is down" test "$late" = 0
    stalled=$(grep -cE ' -?[0-9]+/-?[0-9]+/-?[0-9]+/[0-9]{4,} "GET' "$LOG" || true)
    echo "    requests that took >= 1 s in all (the first wave, retried): $stalled"
fi
tb_check "lxlb still running" kill -0 "$TB_LXLB_PID"
tb_lxlb_stop
tb_finish
