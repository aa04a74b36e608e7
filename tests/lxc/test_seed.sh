#!/bin/bash
# The seed scenario (SCENARIO.md, "One host"): two Apache containers http1 and
# http2 on a bridge, lxlb in front with the seed's HAProxy options translated to
# JSON. curl alternates between the two index pages, with httpclose and with
# keep-alive; after `lxc-stop -k` of one container the other serves every
# request (retries + redispatch), where HAProxy failed 10 requests.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

IP1=$(tb_ip 11)
IP2=$(tb_ip 12)
CURL=(curl -s -m 30)

# ------------------------------------------------------------- helpers ----

# write_conf FILE PORT HTTP_CLOSE: the seed's haproxy.cfg in lxlb's JSON.
write_conf() {
    cat >"$1" <<EOF
{
  "global": { "access_log": "stderr" },
  "defaults": { "timeout": { "connect": "5s", "client": "50s", "server": "50s" } },
  "frontends": [ {
    "name": "http",
    "bind": ["127.0.0.1:$2"],
    "default_backend": "http_nodes",
    "forwardfor": true,
    "set_headers": { "X-Forwarded-Proto": "http" } } ],
  "backends": [ {
    "name": "http_nodes",
    "balance": "roundrobin",
    "http_close": $3,
    "redispatch": true,
    "health": { "path": "/", "interval": "5s" },
    "servers": [
      { "name": "http1", "address": "$IP1:80" },
      { "name": "http2", "address": "$IP2:80" } ] } ]
}
EOF
}

# A response head on stdin without Connection: close.
no_close() { ! grep -qi '^Connection: close'; }

# Which container answered: "http1", "http2", or what came instead.
who() { sed -n 's/^Apache in LXC //p'; }

# alternates A B C D: four answers that alternate between http1 and http2.
alternates() {
    [ $# = 4 ] && [ "$1" != "$2" ] && [ "$1" = "$3" ] && [ "$2" = "$4" ] \
        && [ "$(printf '%s\n' "$1" "$2" | sort | tr '\n' ' ')" = "http1 http2 " ]
}

# four_requests URL: four separate curl runs; prints who answered each.
four_requests() {
    local i
    for i in 1 2 3 4; do "${CURL[@]}" "$1" | who; done
}

# after_stop URL TAG: with http2 stopped, 5 of 5 requests must get 200 from
# http1. Needs lxlb's connect retries with redispatch: the stopped container's
# address fails connect only after ~3 s (EHOSTUNREACH).
after_stop() {
    local url=$1 tag=$2 i code body out n200=0 t0 t
    for i in 1 2 3 4 5; do
        t0=$(date +%s%N)
        out=$("${CURL[@]}" -w '\n%{http_code}' "$url")
        t=$((($(date +%s%N) - t0) / 1000000))
        code=${out##*$'\n'}; body=$(echo "${out%$'\n'*}" | who)
        echo "    request $i: $code ${body:-(no page)} ${t}ms"
        [ "$code" = 200 ] && [ "$body" = http1 ] && n200=$((n200 + 1))
    done
    if [ "$n200" = 5 ]; then
        tb_ok "$tag: 5 of 5 requests answered 200 by http1 after lxc-stop -k http2"
    else
        tb_fail "$tag: only $n200 of 5 requests answered 200 after lxc-stop -k http2" \
            "[NEEDS lxlb connect retries + redispatch]"
    fi
}

show_log_on_failure() {
    [ "$TB_FAILS" = 0 ] && return
    echo "  --- last lines of the lxlb logs"
    tail -n 15 "$TB_RUN"/lxlb-*.log 2>/dev/null | sed 's/^/    /'
}

# --------------------------------------------------------------- test bed ----

t0=$SECONDS
tb_setup
tb_create http1 "$IP1" web
tb_create http2 "$IP2" web
tb_check "both containers start and Apache answers" tb_start_all http1 http2
echo "  test bed up in $((SECONDS - t0))s"

# The test bed itself, straight to Apache: if this fails, so will the rest.
tb_check "direct: http1 serves its index page" \
    test "$("${CURL[@]}" "http://$IP1/" | who)" = http1
tb_check "direct: http2 serves its index page" \
    test "$("${CURL[@]}" "http://$IP2/" | who)" = http2
tb_check "direct: /health is 200" \
    test "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "http://$IP1/health")" = 200
tb_check "direct: Apache keeps the connection alive (2 requests, 1 connect)" \
    test "$("${CURL[@]}" -o /dev/null -o /dev/null -w '%{num_connects}' \
        "http://$IP1/" "http://$IP1/" | tr -d '\n')" = 10
tb_check "direct: mod_headers echoes X-Forwarded-For" \
    grep -qi '^X-Forwarded-For: 198.51.100.9' \
    <("${CURL[@]}" -D - -o /dev/null -H 'X-Forwarded-For: 198.51.100.9' "http://$IP2/")

if [ ! -x "${LXLB:-}" ]; then
    tb_fail "LXLB='${LXLB:-}' is not an executable (build lxlb first)"
    tb_finish; exit
fi

# ---------------------------------------------------- lxlb, httpclose (seed) --

PORT=$(tb_free_port)
URL=http://127.0.0.1:$PORT/
write_conf "$TB_RUN/close.json" "$PORT" true
write_conf "$TB_RUN/keepalive.json" "$PORT" false

tb_check "lxlb -c accepts the seed config" "$LXLB" -c -f "$TB_RUN/close.json"

echo "  [httpclose, as the seed]"
if tb_lxlb_start "$TB_RUN/close.json" "$TB_RUN/lxlb-close.log" "$PORT"; then
    mapfile -t got < <(four_requests "$URL")
    echo "    answers: ${got[*]}"
    tb_check "httpclose: 4 requests alternate between http1 and http2" alternates "${got[@]}"
    hdrs=$("${CURL[@]}" -D - -o /dev/null "$URL")
    tb_check "httpclose: server got X-Forwarded-For: 127.0.0.1" \
        grep -qi '^X-Forwarded-For: 127\.0\.0\.1' <<<"$hdrs"
    tb_check "httpclose: server got X-Forwarded-Proto: http" \
        grep -qi '^X-Forwarded-Proto: http' <<<"$hdrs"
    # As HAProxy 2.6's option httpclose in a backend: a new server
    # connection per request, the client's kept alive.
    tb_check "httpclose: response to the client does not close" no_close <<<"$hdrs"
    tb_check "httpclose: curl reuses its connection" \
        grep -q 'Re-using existing connection' <("${CURL[@]}" -v -o /dev/null -o /dev/null "$URL" "$URL" 2>&1)
    tb_lxlb_stop
else
    tb_fail "httpclose: lxlb starts and listens on 127.0.0.1:$PORT"
fi

# ------------------------------------------------------- lxlb, keep-alive ---

echo "  [keep-alive]"
if tb_lxlb_start "$TB_RUN/keepalive.json" "$TB_RUN/lxlb-keepalive.log" "$PORT"; then
    mapfile -t got < <(four_requests "$URL")
    echo "    answers: ${got[*]}"
    tb_check "keep-alive: 4 requests alternate between http1 and http2" alternates "${got[@]}"
    # Four requests on one client connection are still balanced one by one.
    # (-w must not start with "@": that reads the format from a file)
    out=$("${CURL[@]}" -w 'connects=%{num_connects}\n' "$URL" "$URL" "$URL" "$URL")
    mapfile -t got < <(who <<<"$out")
    conns=$(sed -n 's/^connects=//p' <<<"$out" | awk '{s+=$1} END {print s+0}')
    echo "    one connection: ${got[*]} (client connects: $conns)"
    tb_check "keep-alive: 4 requests on one connection alternate" alternates "${got[@]}"
    tb_check "keep-alive: the client connection was reused" test "$conns" = 1

    echo "  [lxc-stop -k http2 under the keep-alive config]"
    tb_stop http2
    after_stop "$URL" "keep-alive"
    tb_check "keep-alive: lxlb still running" kill -0 "$TB_LXLB_PID"
    tb_lxlb_stop
else
    tb_fail "keep-alive: lxlb starts and listens on 127.0.0.1:$PORT"
fi

# ------------------------------------- the seed's failure case: httpclose ---

echo "  [lxc-stop -k http2 under the seed config (httpclose)]"
tb_start http2
tb_check "http2 back up" tb_wait_http "$IP2"
if tb_lxlb_start "$TB_RUN/close.json" "$TB_RUN/lxlb-close2.log" "$PORT"; then
    mapfile -t got < <(four_requests "$URL")
    tb_check "httpclose: both containers serve again (${got[*]})" alternates "${got[@]}"
    tb_stop http2
    after_stop "$URL" "httpclose"
    tb_check "httpclose: lxlb still running" kill -0 "$TB_LXLB_PID"
    tb_lxlb_stop
else
    tb_fail "httpclose: lxlb starts again"
fi

show_log_on_failure
tb_finish
