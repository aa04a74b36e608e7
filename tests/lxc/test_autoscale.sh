#!/bin/bash
# autoscale (SPEC "Autoscaling and container resources"): one container and a
# stopped template. Under wrk -c32 for 25 s a clone of the template is made,
# joins and serves within 10 s of the load starting; lxlb is restarted with
# the clones still running and recognizes them; under a light load they
# drain, stop and are destroyed. Zero failed requests throughout; the
# template and the original container are left as they were. Also: /stats
# shows a running container's memory, /metrics its container series. lxlb
# runs as nobody: clones are made, started, stopped and destroyed by its
# privileged helper, and a reload cannot widen what the helper allowed.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

tb_defer tb_show_lxlb_logs

t0=$SECONDS
tb_setup
tb_create web1 "$(tb_ip 11)" web
tb_create_template web-tpl
tb_check "web1 starts" tb_start_all web1
echo "  test bed up in $((SECONDS - t0))s"

[ -x "${LXLB:-}" ] || { tb_fail "LXLB='${LXLB:-}' is not an executable"; tb_finish; exit; }
command -v wrk >/dev/null || { tb_fail "wrk is not installed (tests/deps.sh)"; tb_finish; exit; }

# What must not change: the template's config and files, web1's config.
fingerprint() {
    { cat "$(tb_dir web-tpl)/config" "$(tb_dir web1)/config"
      (cd "$(tb_dir web-tpl)/rootfs" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    } | sha256sum
}
before=$(fingerprint)

PORT=$(tb_free_port)
APORT=$(tb_free_port)
URL=http://127.0.0.1:$PORT/
STATS=http://127.0.0.1:$APORT/stats
CONF=$TB_RUN/autoscale.json
cat >"$CONF" <<EOF2
{
  "global": { "access_log": "off", "grace": "2s", "user": "nobody", "group": "nogroup" },
  "admin": { "bind": "127.0.0.1:$APORT" },
  "defaults": { "timeout": { "connect": "2s", "client": "10s", "server": "10s" } },
  "frontends": [ { "name": "http", "bind": ["127.0.0.1:$PORT"], "default_backend": "web" } ],
  "backends": [ {
    "name": "web", "redispatch": true,
    "health": { "path": "/health", "interval": "1s", "timeout": "1s" },
    "discovery": { "lxc": { "lxcpath": "$TB_LXCPATH", "group": "web", "ip_timeout": "15s" } },
    "autoscale": { "template": "web-tpl", "prefix": "web-auto-", "min": 1, "max": 3,
                   "up": { "active_per_server": 8, "for": "2s" },
                   "down": { "active_per_server": 2, "for": "3s" },
                   "cooldown": "3s", "drain_timeout": "10s",
                   "addresses": "$(tb_ip 100)-$(tb_ip 119)/24" } } ]
}
EOF2
LOG=$TB_RUN/lxlb-autoscale.log
tb_lxlb_start "$CONF" "$LOG" "$PORT" || { tb_fail "lxlb starts"; tb_finish; exit; }
tb_check "web1 serves" test "$(tb_wait_served "$URL" web1 5)" -ge 0
tb_check "lxlb runs as nobody" test "$(tb_uids "$TB_LXLB_PID")" = "$(id -u nobody) $(id -u nobody) $(id -u nobody) $(id -u nobody)"

# python3: one figure out of /stats.
stat() { curl -s -m 2 "$STATS" | python3 -c "import json, sys; d = json.load(sys.stdin); $1"; }
WEB1='s = [s for s in d["backends"][0]["servers"] if s["name"] == "web1"][0]'

# Container figures: read every 2 s through the helper.
mem=0
for _ in $(seq 50); do
    mem=$(stat "$WEB1; print((s.get('container') or {}).get('memory_bytes') or 0)" 2>/dev/null)
    [ "${mem:-0}" -gt 0 ] && break
    sleep 0.1
done
tb_check "/stats: web1's container uses memory (${mem:-0} bytes)" test "${mem:-0}" -gt 0
pids=$(stat "$WEB1; print(s['container']['pids'])" 2>/dev/null)
tb_check "/stats: web1's container runs tasks (${pids:-none})" test "${pids:-0}" -gt 0
metrics=$(curl -s "http://127.0.0.1:$APORT/metrics")
for m in lxlb_container_memory_bytes lxlb_container_cpu_seconds_total lxlb_container_pids; do
    v=$(sed -n "s/^$m{backend=\"web\",server=\"web1\"} //p" <<<"$metrics")
    tb_check "/metrics: $m of web1 (${v:-none})" awk -v v="${v:-0}" 'BEGIN { exit !(v > 0) }'
done
tb_check "/metrics: the autoscaler's target" \
    grep -q '^lxlb_autoscale_target_servers{backend="web"} 1$' <<<"$metrics"
if command -v promtool >/dev/null; then
    tb_check "/metrics with container and autoscale series is promtool-clean" \
        promtool check metrics <<<"$metrics"
fi
tb_check "/stats: the autoscaler is on, 1 server" \
    test "$(stat 'a = d["backends"][0]["autoscale"]; print(a["enabled"], a["current"])')" \
    = "True 1"

# The dashboard in headless Chromium while the clone joins: its join on the
# time line, its container's row with memory. LXLB_DASHBOARD_PNG=FILE keeps
# a screenshot.
chrome() {
    timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-dev-shm-usage --user-data-dir="$TB_RUN/chromium-$1" \
        --virtual-time-budget=3000 "${@:2}" "http://127.0.0.1:$APORT/" 2>/dev/null
}
dashboard_during_scale_up() {
    local dom
    command -v chromium >/dev/null || { tb_fail "chromium is not installed (tests/deps.sh)"; return; }
    sleep 1
    dom=$(chrome dom --dump-dom)
    tb_check "dashboard: web-auto-1 joined, on the time line" \
        grep -q 'data-event="joined" data-clone="web-auto-1"' <<<"$dom"
    tb_check "dashboard: web-auto-1's container row shows its memory" \
        grep -qE 'data-server="web/web-auto-1" data-state="up" data-memory="[1-9]' <<<"$dom"
    if [ -n "${LXLB_DASHBOARD_PNG:-}" ]; then
        chrome png --screenshot="$LXLB_DASHBOARD_PNG" --window-size=1280,1000 --hide-scrollbars
        echo "  dashboard screenshot: $LXLB_DASHBOARD_PNG"
    fi
}

# Load: a clone must join and serve within 10 s of its start.
OUT=$TB_RUN/wrk.out
wrk -t2 -c32 -d25s --latency "$URL" >"$OUT" 2>&1 &
WRK=$!
TB_PIDS+=("$WRK")
waited=$(tb_wait_served "$URL" web-auto-1 10)
echo "  load start to a response from web-auto-1: ${waited} ms"
tb_check "web-auto-1 serves within 10 s of the load (${waited} ms)" test "$waited" -ge 0
dashboard_during_scale_up
wait "$WRK"
sed 's/^/    wrk: /' "$OUT"
reqs=$(tb_wrk_requests "$OUT"); errs=$(tb_wrk_socket_errors "$OUT"); non2xx=$(tb_wrk_non2xx "$OUT")
echo "  figures: ${reqs:-?} requests, socket errors ${errs:-0}, non-2xx ${non2xx:-0}," \
     "p99 $(tb_wrk_p99_ms "$OUT") ms"
tb_check "wrk ran (${reqs:-0} requests)" test "${reqs:-0}" -gt 1000
tb_check "zero socket errors under load (got ${errs:-0})" test "${errs:-0}" = 0
tb_check "zero non-2xx under load (got ${non2xx:-0})" test "${non2xx:-0}" = 0
grep -E "autoscale web: .*(cloned|serving)" "$LOG" | sed 's/^/    /'
clones=$(tb_all_containers | grep -c '^web-auto-')
tb_check "clones were made ($clones running)" test "$clones" -ge 1
tb_check "each clone is in the backend's group" \
    bash -c "! grep -L '^lxc.group = web' $TB_LXCPATH/web-auto-*/config | grep -q ."

# A restart: the clones still run and are ours.
tb_lxlb_stop
tb_lxlb_start "$CONF" "$LOG.2" "$PORT" || { tb_fail "lxlb starts again"; tb_finish; exit; }
known=0
for _ in $(seq 50); do
    known=$(stat 'print(d["backends"][0]["autoscale"]["clones"])' 2>/dev/null)
    [ "${known:-0}" -ge "$clones" ] && break
    sleep 0.1
done
tb_check "after a restart lxlb knows its $clones clone(s) (got ${known:-0})" \
    test "${known:-0}" -ge "$clones"

# A light load: every request must succeed while the clones leave.
LIGHT=$TB_RUN/light.codes
( while :; do curl -s -o /dev/null -m 5 -w '%{http_code}\n' "$URL"; sleep 0.05; done ) \
    >"$LIGHT" 2>/dev/null &
TB_PIDS+=("$!")
t=$(tb_now_ms)
for _ in $(seq 600); do
    [ -z "$(tb_all_containers | grep '^web-auto-')" ] && break
    sleep 0.1
done
left=$(tb_all_containers | grep -c '^web-auto-')
echo "  clones gone $(($(tb_now_ms) - t)) ms after the load ended"
tb_check "every clone drained, stopped and was destroyed ($left left)" test "$left" = 0
tb_kill_pid "${TB_PIDS[-1]}"
ok=$(grep -c '^200$' "$LIGHT"); bad=$(grep -vc '^200$' "$LIGHT")
tb_check "light load: $ok requests, all 200 (failed: $bad)" test "$bad" = 0 -a "$ok" -gt 20
for c in $(seq "$clones"); do
    tb_check "log: web-auto-$c drained and destroyed" \
        grep -q "web-auto-$c stopped and destroyed" "$LOG.2"
done
tb_check "/stats: no clone server left" \
    test "$(stat 'print(sum(s["name"].startswith("web-auto-") for s in d["backends"][0]["servers"]))')" = 0
tb_check "template untouched (config and files)" test "$(fingerprint)" = "$before"
tb_check "template still stopped" test "$(tb_state web-tpl)" = STOPPED
tb_check "web1 still running" test "$(tb_state web1)" = RUNNING
tb_check "web1 serves" test "$(tb_wait_served "$URL" web1 5)" -ge 0
grep -E "autoscale web: " "$LOG" "$LOG.2" | sed 's/^[^ ]* /    /' | grep -v allowed

# A reload that names another prefix: the helper allowed one at start, while
# lxlb was root; now it refuses, and the autoscaler says why.
sed -i 's/"prefix": "web-auto-"/"prefix": "web-more-"/' "$CONF"
kill -HUP "$TB_LXLB_PID"
st=
for _ in $(seq 50); do
    st=$(stat 'a = d["backends"][0]["autoscale"]; print(a["enabled"], a["status"])' 2>/dev/null)
    case "$st" in False*) break ;; esac
    sleep 0.1
done
tb_check "a reload cannot widen what the helper allows (got: $st)" \
    grep -q "^False off: .*dropped its privileges" <<<"$st"
tb_check "lxlb still serves after that reload" test "$(tb_wait_served "$URL" web1 5)" -ge 0

tb_finish
