#!/bin/bash
# Issue 18 with real Apache and a real container stop:
#   - send_proxy v1 (backend) and v2 (one server) to Apache with mod_remoteip
#     "RemoteIPProxyProtocol On": Apache's own access log shows the client lxlb
#     saw (127.0.0.2), not lxlb's address; health checks (a header with no
#     client: v1 UNKNOWN, v2 LOCAL) keep both up;
#   - accept_proxy: a client's PROXY header (198.51.100.7) is the client Apache
#     logs, through lxlb's own send_proxy;
#   - a WebSocket tunnel to a container found by discovery.lxc closes soon after
#     lxc-stop -k of that container, while wrk on plain requests through the
#     same lxlb sees no error.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

tb_defer tb_show_lxlb_logs

t0=$SECONDS
tb_setup
tb_create p1 "$(tb_ip 11)"
tb_create p2 "$(tb_ip 12)"
tb_create w1 "$(tb_ip 13)" ws

# Apache takes the PROXY header and logs the client it carries.
for c in p1 p2; do
    r=$(tb_dir "$c")/rootfs/etc/apache2
    ln -sf ../mods-available/remoteip.load "$r/mods-enabled/remoteip.load"
    # (the default vhost's access log then shows the header's client first)
    echo "RemoteIPProxyProtocol On" >"$r/conf-enabled/lxlb-pp.conf"
done
# The WebSocket echo server in w1 (the host's /usr is the container's).
cp "$here/../integration/wsecho.py" "$(tb_dir w1)/rootfs/wsecho.py"

tb_start p1 p2 w1
# Apache now wants the header from everyone: curl sends one (v1).
ppwait() { # IP
    local i
    for i in $(seq 100); do
        [ "$(curl -s --haproxy-protocol -o /dev/null -m 1 -w '%{http_code}' "http://$1/health")" = 200 ] &&
            return 0
        sleep 0.1
    done
    return 1
}
tb_check "Apache p1 answers behind the PROXY protocol" ppwait "$(tb_ip 11)"
tb_check "Apache p2 answers behind the PROXY protocol" ppwait "$(tb_ip 12)"
lxc-attach -P "$TB_LXCPATH" -n w1 -- /bin/sh -c \
    'nohup /usr/bin/python3 /wsecho.py --host 0.0.0.0 --port 8765 --name w1 >/tmp/ws.log 2>&1 &'
wswait() {
    local i
    for i in $(seq 100); do
        python3 -c "import socket; socket.create_connection(('$(tb_ip 13)', 8765), 0.5)" \
            2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
tb_check "the WebSocket server in w1 listens" wswait
echo "  test bed up in $((SECONDS - t0))s"

PORT=$(tb_free_port)
PPORT=$(tb_free_port)
APORT=$(tb_free_port)
LOG=$TB_RUN/lxlb-tp.log
ACCESS=$TB_RUN/access.log
cat >"$TB_RUN/tp.json" <<EOF
{
  "global": { "access_log": "$ACCESS", "grace": "2s" },
  "admin": { "bind": "127.0.0.1:$APORT" },
  "defaults": { "timeout": { "connect": "2s", "client": "10s", "server": "10s" } },
  "frontends": [
    { "name": "http", "bind": ["127.0.0.1:$PORT"], "default_backend": "pp",
      "routes": [ { "path_prefix": "/ws", "backend": "ws" } ] },
    { "name": "ppin", "bind": ["127.0.0.1:$PPORT"], "default_backend": "pp",
      "accept_proxy": true } ],
  "backends": [
    { "name": "pp", "send_proxy": "v1", "redispatch": true,
      "health": { "path": "/health", "interval": "300ms", "timeout": "1s" },
      "servers": [ { "name": "p1", "address": "$(tb_ip 11):80" },
                   { "name": "p2", "address": "$(tb_ip 12):80", "send_proxy": "v2" } ] },
    { "name": "ws",
      "discovery": { "lxc": { "lxcpath": "$TB_LXCPATH", "group": "ws", "port": 8765,
                              "interface": "eth0", "ip_timeout": "5s" } } } ]
}
EOF
tb_check "lxlb -c accepts routes, accept_proxy and send_proxy" "$LXLB" -c -f "$TB_RUN/tp.json"
tb_lxlb_start "$TB_RUN/tp.json" "$LOG" "$PORT" || { tb_fail "lxlb starts"; tb_finish; exit; }
tb_wait_listen "$PPORT" || tb_fail "lxlb listens on the accept_proxy frontend"

# ----------------------------------------------------------- send_proxy ----
for i in 1 2 3 4; do
    curl -s -o /dev/null --interface 127.0.0.2 "http://127.0.0.1:$PORT/health?sp=$i"
done
sleep 0.3
pp_log() { cat "$(tb_dir "$1")/rootfs/var/log/apache2/access.log" 2>/dev/null; }
for c in p1 p2; do
    n=$(pp_log "$c" | grep -c '^127\.0\.0\.2 .*"GET /health?sp=')
    tb_check "Apache $c logs lxlb's client 127.0.0.2 ($n requests)" test "$n" -ge 1
done
tb_check "no request reached Apache under lxlb's own address" \
    bash -c "! (cat $(tb_dir p1)/rootfs/var/log/apache2/access.log $(tb_dir p2)/rootfs/var/log/apache2/access.log | grep -q '^$TB_HOST_IP .*GET /health?sp=')"
# A check without the header would fail every time: Apache closes at once.
checks_pass() {
    curl -s "http://127.0.0.1:$APORT/stats" | /usr/bin/python3 -c '
import json, sys
st = json.load(sys.stdin)
be = [b for b in st["backends"] if b["name"] == "pp"][0]
ok = all(s["state"] == "up" and s["last_check"].startswith("L7OK") for s in be["servers"])
sys.exit(0 if ok else 1)'
}
tb_check "health checks carrying a PROXY header pass on p1 and p2" checks_pass

# --------------------------------------------------------- accept_proxy ----
/usr/bin/python3 - "$PPORT" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"PROXY TCP4 198.51.100.7 127.0.0.1 5000 80\r\n"
          b"GET /health?ap=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
data = b""
while True:
    d = s.recv(65536)
    if not d:
        break
    data += d
sys.exit(0 if b" 200 " in data.split(b"\r\n")[0] else 1)
EOF
tb_check "a request behind the client's PROXY header is served" test $? = 0
sleep 0.3
tb_check "Apache logs the client of the header, 198.51.100.7" \
    bash -c "cat $(tb_dir p1)/rootfs/var/log/apache2/access.log $(tb_dir p2)/rootfs/var/log/apache2/access.log | grep -q '^198\.51\.100\.7 .*GET /health?ap=1'"

# ------------------------------------------ a tunnel on a stopped container --
tb_check "w1 joins the ws backend" bash -c "for i in \$(seq 100); do grep -q 'server ws/w1 is up\|server ws/w1 joined.* as up' '$LOG' && exit 0; sleep 0.1; done; exit 1"
WRK=$TB_RUN/wrk.txt
wrk -t1 -c8 -d6s --latency "http://127.0.0.1:$PORT/health" >"$WRK" 2>&1 &
wrk_pid=$!
WSOUT=$TB_RUN/ws.txt
/usr/bin/python3 - "$PORT" >"$WSOUT" 2>&1 <<'EOF' &
import asyncio, sys, time
import websockets

async def main():
    async with websockets.connect("ws://127.0.0.1:%s/ws" % sys.argv[1], ping_interval=None) as c:
        for i in range(3):
            await c.send("m%d" % i)
            print("echo", await c.recv(), flush=True)
        print("open", time.time(), flush=True)
        try:
            await asyncio.wait_for(c.recv(), 20)
        except websockets.ConnectionClosed:
            print("closed", time.time(), flush=True)
        except asyncio.TimeoutError:
            print("still open after 20s", flush=True)

asyncio.run(main())
EOF
ws_pid=$!
for i in $(seq 50); do grep -q '^open' "$WSOUT" && break; sleep 0.1; done
tb_check "messages go both ways through the tunnel" grep -q '^echo w1:m2' "$WSOUT"
sleep 1
t_stop=$(python3 -c 'import time; print(time.time())')
tb_stop w1
wait "$ws_pid"
wait "$wrk_pid"
closed=$(sed -n 's/^closed //p' "$WSOUT")
if [ -n "$closed" ]; then
    ms=$(python3 -c "print(int(($closed - $t_stop) * 1000))")
    echo "  tunnel closed ${ms}ms after lxc-stop -k"
    tb_check "the tunnel closes within 3 s of the container's stop" test "$ms" -lt 3000
else
    tb_fail "the tunnel closes when its container stops ($(tail -1 "$WSOUT"))"
fi
tb_check "log: w1 removed" grep -q 'server ws/w1 removed' "$LOG"
req=$(tb_wrk_requests "$WRK")
err=$(tb_wrk_socket_errors "$WRK")
non2xx=$(tb_wrk_non2xx "$WRK")
echo "  wrk meanwhile: ${req:-?} requests, socket errors ${err:-0}, non-2xx ${non2xx:-0}"
tb_check "wrk on plain requests ran (${req:-0})" test "${req:-0}" -gt 100
tb_check "wrk: zero socket errors" test "${err:-0}" = 0
tb_check "wrk: zero non-2xx" test "${non2xx:-0}" = 0
tb_check "the tunnel has its access-log line (101)" grep -q ' ws/w1 101 .*"GET /ws HTTP/1.1"' "$ACCESS"

tb_finish
