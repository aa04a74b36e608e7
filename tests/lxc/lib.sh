# shellcheck shell=bash
# The real-LXC test bed: Apache in minimal LXC containers on a private bridge,
# as in SCENARIO.md. Sourced by tests/lxc/test_*.sh, tests/lxc/demo.sh and the
# benches; needs root, lxc and apache2 (tests/deps.sh installs them).
#
#   tb_setup                      bridge + base rootfs; installs the cleanup trap
#   tb_create NAME IP [GROUP]     container with a static address (lxc.group GROUP)
#   tb_create_template NAME [GROUP]
#                                 a container to clone (autoscale): no address,
#                                 Apache named after the clone's hostname
#   tb_create_late NAME IP DELAY [GROUP]
#                                 container whose address appears DELAY s after start
#   tb_start NAME... / tb_stop NAME... (lxc-stop -k) / tb_destroy NAME...
#   tb_start_all NAME...          start in parallel and wait for Apache on each
#   tb_wait_http IP [SECONDS]     until Apache on IP answers /health
#   tb_lxlb_start CONF LOG        run $LXLB -f CONF in the background (killed on exit)
#   tb_free_port                  a free TCP port on 127.0.0.1
#   tb_cleanup                    stop and remove everything the test bed created
#
# Every container's rootfs is a tiny directory tree: /usr is the host's, bound
# read-only, so only /etc (a copy of /etc/apache2 and a few files) and /var
# differ, as in the scenario. Apache is pid 1's child (lxc.init.cmd apache2ctl).
#
# Isolation: everything lives under TB_ROOT (its own lxcpath, so the host's real
# containers are never seen) and on the bridge TB_BRIDGE with subnet TB_NET.0/24,
# host at TB_NET.1. Test traffic goes only to that subnet and to loopback. The
# demo uses other values (see demo.sh) so that it can keep running while tests run.

TB_ROOT=${TB_ROOT:-/var/lib/lxlb-test}
TB_LXCPATH=$TB_ROOT/lxc          # the lxcpath (lxc-* -P, discovery "lxcpath")
TB_BASE=$TB_ROOT/base            # template rootfs copied into each container
TB_RUN=$TB_ROOT/run              # lxlb configs and logs of this run
TB_BRIDGE=${TB_BRIDGE:-lxlbbr0}
TB_NET=${TB_NET:-10.213.0}       # a /24; the host is $TB_NET.1
TB_HOST_IP=$TB_NET.1
# Apache size: a few threads per container, since 20 containers may run at once.
TB_APACHE_THREADS=${TB_APACHE_THREADS:-16}
TB_APACHE_SERVERS=${TB_APACHE_SERVERS:-4}

TB_PIDS=()        # background processes to kill on exit (lxlb, monitors...)
TB_DEFER=()       # extra cleanup commands (eval'ed) registered by a test
TB_KEEP=${TB_KEEP:-0}   # 1: leave everything on exit (debugging; demo.sh)

tb_log() { echo "tb: $*" >&2; }
tb_die() { echo "tb: FATAL: $*" >&2; exit 1; }

tb_ip() { echo "$TB_NET.$1"; }   # tb_ip 11 -> 10.213.0.11

# Root, lxc and apache are all needed; say exactly what is missing instead of
# letting a later command fail obscurely.
tb_preflight() {
    [ "$(id -u)" = 0 ] || tb_die "the LXC test bed needs root"
    local c
    for c in lxc-start lxc-stop lxc-info lxc-ls ip curl /usr/sbin/apache2 /usr/sbin/apache2ctl; do
        command -v "$c" >/dev/null 2>&1 || tb_die "missing $c (run tests/deps.sh)"
    done
    [ -d /etc/apache2 ] || tb_die "missing /etc/apache2 (apache2 not installed?)"
    grep -q cgroup /proc/mounts || tb_die "no cgroup filesystem mounted: LXC cannot run here"
    [ "${#TB_BRIDGE}" -le 15 ] || tb_die "bridge name $TB_BRIDGE is too long"
}

# ---------------------------------------------------------------- cleanup ----

tb_defer() { TB_DEFER+=("$*"); }

# Kills one pid and waits for it (only if it is our child or still exists).
tb_kill_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

# The lxc-monitord daemon that lxc-monitor starts for our lxcpath only: it
# would otherwise linger for a while. Matched by its exact argv, killed by pid.
tb_kill_monitord() {
    local p cmd
    for p in /proc/[0-9]*; do
        # (the process may be gone by now: the redirection's error is silenced too)
        cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
        case "$cmd" in
            # any lxcpath of the test bed (test_etcd.sh has a second one)
            *lxc-monitord\ "$TB_ROOT"/*) kill -KILL "${p#/proc/}" 2>/dev/null ;;
        esac
    done
}

# Every container of the test bed, running or not (directories with a config).
tb_all_containers() {
    local d
    for d in "$TB_LXCPATH"/*/config; do
        [ -f "$d" ] || continue
        d=${d%/config}; echo "${d##*/}"
    done
}

# Safe to call any time, any number of times, also after a crashed run.
tb_cleanup() {
    local rc=$? c pid
    trap - EXIT INT TERM
    if [ "$TB_KEEP" = 1 ]; then return "$rc"; fi
    for c in "${TB_DEFER[@]}"; do eval "$c" || true; done
    TB_DEFER=()
    # Containers first: their foreground lxc-start (in TB_PIDS) then exits
    # by itself instead of waiting for a clean shutdown Apache never does.
    if [ -d "$TB_LXCPATH" ]; then
        for c in $(tb_all_containers); do
            lxc-stop -P "$TB_LXCPATH" -n "$c" -k >/dev/null 2>&1 || true
        done
    fi
    for pid in "${TB_PIDS[@]}"; do tb_kill_pid "$pid"; done
    TB_PIDS=()
    tb_kill_monitord
    if ip link show "$TB_BRIDGE" >/dev/null 2>&1; then
        ip link del "$TB_BRIDGE" 2>/dev/null || tb_log "could not delete bridge $TB_BRIDGE"
    fi
    # The containers' /usr bind mounts live in their own mount namespaces, gone
    # with them; --one-file-system guards against anything mounted here anyway.
    [ -n "$TB_ROOT" ] && [ "$TB_ROOT" != / ] && rm -rf --one-file-system "$TB_ROOT"
    return "$rc"
}

tb_install_trap() {
    trap tb_cleanup EXIT
    # INT/TERM: exit, which runs the EXIT trap once.
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# ------------------------------------------------------------------ setup ----

# Refuse to create our subnet where another interface already has it: we must
# never steal or shadow a real network.
tb_check_subnet_free() {
    local line
    line=$(ip -o -4 addr show | awk -v br="$TB_BRIDGE" -v net="$TB_NET." \
        '$2 != br && index($4, net) == 1 {print $2" "$4}')
    [ -z "$line" ] || tb_die "subnet $TB_NET.0/24 already used by $line; set TB_NET"
}

tb_setup_bridge() {
    ip link show "$TB_BRIDGE" >/dev/null 2>&1 && ip link del "$TB_BRIDGE"
    tb_check_subnet_free
    # forward_delay 0: a new container's port forwards at once (no STP here).
    # A fixed address: a bridge without one takes the lowest of its ports', so
    # a container starting with a lower veth address changed the host's MAC
    # under the running containers' ARP entries, and their answers went
    # nowhere for ~200 ms (a p99 outlier in test_discovery_load).
    local o2 o3
    IFS=. read -r _ o2 o3 <<<"$TB_NET"
    ip link add name "$TB_BRIDGE" address "$(printf '02:4c:42:%02x:%02x:01' "$o2" "$o3")" \
        type bridge forward_delay 0 || tb_die "cannot create bridge $TB_BRIDGE"
    ip addr add "$TB_HOST_IP/24" dev "$TB_BRIDGE"
    ip link set "$TB_BRIDGE" up
}

# The Apache configuration every container starts from: the host's, made small,
# with mod_headers (cookie tests) and a few helpers for tests.
tb_setup_apache_conf() {
    local etc=$1
    cp -a /etc/apache2 "$etc/apache2"
    ln -sf ../mods-available/headers.load "$etc/apache2/mods-enabled/headers.load"
    # Small mpm_event: 20 containers must fit; still enough for a wrk run.
    cat >"$etc/apache2/mods-available/mpm_event.conf" <<EOF
<IfModule mpm_event_module>
    StartServers            1
    ServerLimit             $TB_APACHE_SERVERS
    ThreadLimit             $TB_APACHE_THREADS
    ThreadsPerChild         $TB_APACHE_THREADS
    MinSpareThreads         1
    MaxSpareThreads         $((TB_APACHE_THREADS * TB_APACHE_SERVERS))
    MaxRequestWorkers       $((TB_APACHE_THREADS * TB_APACHE_SERVERS))
    MaxConnectionsPerChild  0
</IfModule>
EOF
    # CGI would need more of the rootfs; its conf points into /usr/lib/cgi-bin.
    rm -f "$etc/apache2/conf-enabled/serve-cgi-bin.conf"
    # Test helpers, the same in every container; the per-container part
    # (ServerName, X-Served-By) is in conf-enabled/lxlb-name.conf.
    cat >"$etc/apache2/conf-enabled/lxlb-test.conf" <<'EOF'
# lxlb test bed
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 15
# Echo what the proxy added, so tests see what the server received.
Header echo "^(X-Forwarded-|X-Test)"
# The Cookie header as received (cookie "prefix" mode must strip its prefix).
# (via SetEnvIf: an expr on the Cookie header would add "Vary: Cookie" everywhere)
SetEnvIf Cookie "^(.+)$" LXLB_GOT_COOKIE=$1
Header always set X-Got-Cookie "%{LXLB_GOT_COOKIE}e" env=LXLB_GOT_COOKIE
EOF
}

# The template rootfs: directories, /bin etc. as links into the host's /usr,
# and just enough of /etc for Apache (users, mime types, its config).
tb_setup_base() {
    local r=$TB_BASE/rootfs l
    mkdir -p "$r"/{usr,etc,dev,proc,sys,tmp,root,run/apache2,run/lock/apache2} \
             "$r"/var/{log/apache2,www/html,cache/apache2,lib/apache2}
    chmod 1777 "$r/tmp"
    for l in bin lib lib32 lib64 libx32 sbin; do
        [ -e "/$l" ] && ln -s "usr/$l" "$r/$l"
    done
    ln -s ../run "$r/var/run"
    ln -s ../run/lock "$r/var/lock"
    cp -a /etc/passwd /etc/group /etc/mime.types "$r/etc/"
    [ -f /etc/nsswitch.conf ] && cp -a /etc/nsswitch.conf "$r/etc/"
    chown www-data:www-data "$r/run/lock/apache2" "$r/var/cache/apache2" 2>/dev/null || true
    tb_setup_apache_conf "$r/etc"
}

# Removes whatever an earlier (crashed) run left, then builds the bridge and the
# base rootfs. Installs the cleanup trap first, so a failure here cleans up too.
tb_setup() {
    tb_preflight
    tb_install_trap
    local keep=$TB_KEEP; TB_KEEP=0
    tb_cleanup; tb_install_trap     # tb_cleanup clears the trap
    TB_KEEP=$keep
    mkdir -p "$TB_LXCPATH" "$TB_RUN"
    tb_setup_bridge
    tb_setup_base
}

# ------------------------------------------------------------- containers ----

tb_dir() { echo "$TB_LXCPATH/$1"; }

# Common part of tb_create/tb_create_late: rootfs and the config lines that do
# not concern the address.
tb_create_common() {
    local name=$1 group=$2 dir
    dir=$(tb_dir "$name")
    [ -e "$dir" ] && tb_die "container $name already exists"
    case "$name" in *[!A-Za-z0-9_.-]*|"") tb_die "bad container name '$name'";; esac
    mkdir -p "$dir"
    cp -a "$TB_BASE/rootfs" "$dir/rootfs"
    local r=$dir/rootfs
    echo "Apache in LXC $name" >"$r/var/www/html/index.html"
    echo ok >"$r/var/www/html/health"
    echo "session page of $name" >"$r/var/www/html/setcookie"
    echo "$name" >"$r/etc/hostname"
    printf '127.0.0.1 localhost %s\n' "$name" >"$r/etc/hosts"
    cat >"$r/etc/apache2/conf-enabled/lxlb-name.conf" <<EOF
ServerName $name
Header always set X-Served-By "$name"
# /setcookie: the application's own session cookie (for "prefix"/"rewrite").
<Location /setcookie>
    Header always add Set-Cookie "JSESSIONID=s-$name; Path=/"
</Location>
EOF
    cat >"$dir/config" <<EOF
# lxlb test bed container (tests/lxc/lib.sh)
lxc.uts.name = $name
lxc.rootfs.path = dir:$r
lxc.mount.entry = /usr usr none bind,ro 0 0
lxc.mount.auto = proc:mixed sys:ro cgroup:mixed
lxc.autodev = 1
lxc.apparmor.profile = unconfined
lxc.console.path = none
lxc.tty.max = 0
lxc.log.file = $dir/lxc.log
lxc.log.level = WARN
lxc.net.0.type = veth
lxc.net.0.link = $TB_BRIDGE
lxc.net.0.flags = up
lxc.net.0.name = eth0
EOF
    [ -n "$group" ] && echo "lxc.group = $group" >>"$dir/config"
    return 0
}

# A fixed MAC per address, as lxc-create writes one (lxc.net.0.hwaddr): a
# restarted container keeps it, so the host's ARP entry stays right. With a new
# random MAC per start, a restarted container stays unreachable until the stale
# entry fails (5-10 s, longer if traffic keeps confirming it).
tb_mac() {
    local b c d
    IFS=. read -r _ b c d <<<"$1"
    printf '00:16:3e:%02x:%02x:%02x\n' "$b" "$c" "$d"
}

# tb_create NAME IP [GROUP]: a container with a static address on the bridge.
tb_create() {
    local name=$1 ip=$2 group=${3:-} dir
    tb_create_common "$name" "$group"
    dir=$(tb_dir "$name")
    cat >>"$dir/config" <<EOF
lxc.net.0.hwaddr = $(tb_mac "$ip")
lxc.net.0.ipv4.address = $ip/24
lxc.net.0.ipv4.gateway = $TB_HOST_IP
lxc.init.cmd = /usr/sbin/apache2ctl -D FOREGROUND
EOF
}

# tb_create_late NAME IP DELAY [GROUP]: no address in the config; the init
# wrapper adds IP to eth0 DELAY seconds after start, then execs Apache, like a
# slow DHCP lease. Root containers keep CAP_NET_ADMIN, so `ip addr add` works.
tb_create_late() {
    local name=$1 ip=$2 delay=$3 group=${4:-} dir
    tb_create_common "$name" "$group"
    dir=$(tb_dir "$name")
    cat >"$dir/rootfs/lxlb-late-init" <<EOF
#!/bin/sh
# lxlb test bed: the address appears late (tests/lxc/lib.sh tb_create_late).
sleep $delay
ip addr add $ip/24 dev eth0
ip route add default via $TB_HOST_IP
exec /usr/sbin/apache2ctl -D FOREGROUND
EOF
    chmod 755 "$dir/rootfs/lxlb-late-init"
    printf 'lxc.net.0.hwaddr = %s\nlxc.init.cmd = /lxlb-late-init\n' "$(tb_mac "$ip")" >>"$dir/config"
}

# tb_create_template NAME [GROUP]: a container to clone (autoscale): no
# address of its own (each clone gets one), and an Apache that names itself
# after the container's hostname when it starts (lxc-copy gives a clone its
# own), so that X-Served-By and the index page say which clone answered.
tb_create_template() {
    local name=$1 group=${2:-} dir
    tb_create_common "$name" "$group"
    dir=$(tb_dir "$name")
    cat >"$dir/rootfs/etc/apache2/conf-enabled/lxlb-name.conf" <<'EOF'
ServerName ${LXLB_CT}
Header always set X-Served-By "${LXLB_CT}"
<Location /setcookie>
    Header always add Set-Cookie "JSESSIONID=s-${LXLB_CT}; Path=/"
</Location>
EOF
    cat >"$dir/rootfs/lxlb-init" <<'EOF'
#!/bin/sh
# lxlb test bed template (tests/lxc/lib.sh tb_create_template)
LXLB_CT=$(cat /proc/sys/kernel/hostname)
export LXLB_CT
echo "Apache in LXC $LXLB_CT" >/var/www/html/index.html
exec /usr/sbin/apache2ctl -D FOREGROUND
EOF
    chmod 755 "$dir/rootfs/lxlb-init"
    echo "lxc.init.cmd = /lxlb-init" >>"$dir/config"
}

tb_state() { lxc-info -P "$TB_LXCPATH" -n "$1" -s -H 2>/dev/null; }

# Tests run lxc-start in the foreground as our own background child: after a
# stop it exits and we reap it. With -d it would be re-parented to pid 1, which
# on some machines (containers, CI runners) never reaps, leaving zombies.
# TB_DAEMON=1 (the demo) uses -d, since the containers outlive the script.
TB_DAEMON=${TB_DAEMON:-0}
tb_start() {
    local name dir
    for name in "$@"; do
        dir=$(tb_dir "$name")
        if [ "$TB_DAEMON" = 1 ]; then
            lxc-start -P "$TB_LXCPATH" -n "$name" -d \
                || { tail -n 20 "$dir/lxc.log" >&2; tb_die "cannot start $name"; }
        else
            lxc-start -P "$TB_LXCPATH" -n "$name" -F </dev/null >>"$dir/console.log" 2>&1 &
            TB_PIDS+=("$!")
        fi
    done
    # Returns once each container is RUNNING (or fails loudly).
    for name in "$@"; do
        lxc-wait -P "$TB_LXCPATH" -n "$name" -s RUNNING -t 10 && continue
        dir=$(tb_dir "$name")
        tail -n 20 "$dir/lxc.log" "$dir/console.log" >&2 2>/dev/null
        tb_die "container $name did not reach RUNNING"
    done
}

# lxc-stop -k: Apache as init ignores SIGPWR, so a clean stop would only wait
# for its timeout. -k is also what "virsh destroy" did in the scenario.
tb_stop() {
    local name
    for name in "$@"; do
        lxc-stop -P "$TB_LXCPATH" -n "$name" -k || tb_log "lxc-stop $name failed"
    done
}

tb_destroy() {
    local name dir
    for name in "$@"; do
        dir=$(tb_dir "$name")
        [ -d "$dir" ] || continue
        [ "$(tb_state "$name")" = STOPPED ] || tb_stop "$name"
        rm -rf --one-file-system "$dir"
    done
}

# The container's static address, from its config (empty for late ones).
tb_addr() {
    sed -n 's|^lxc.net.0.ipv4.address = \(.*\)/24$|\1|p' "$(tb_dir "$1")/config"
}

# tb_wait_http IP [SECONDS]: until Apache on IP answers GET /health with 200.
tb_wait_http() {
    local ip=$1 secs=${2:-20} end
    end=$((SECONDS + secs))
    while [ "$SECONDS" -lt "$end" ]; do
        [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://$ip/health")" = 200 ] && return 0
        sleep 0.1
    done
    tb_log "Apache on $ip did not answer within ${secs}s"
    return 1
}

# tb_start_all NAME...: start containers in parallel (lxc-start -d returns
# quickly; the rest happens in each container) and wait for their Apache.
tb_start_all() {
    local name ip rc=0
    tb_start "$@"
    for name in "$@"; do
        ip=$(tb_addr "$name")
        [ -n "$ip" ] || continue
        tb_wait_http "$ip" || { rc=1; tail -n 5 "$(tb_dir "$name")/rootfs/var/log/apache2/error.log" >&2; }
    done
    return "$rc"
}

# ------------------------------------------------------------------ lxlb -----

tb_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# tb_wait_listen PORT [SECONDS]: until something listens on TCP PORT. Uses ss,
# not a connect, so that the proxy logs no empty connection.
tb_wait_listen() {
    local port=$1 secs=${2:-10} end
    end=$((SECONDS + secs))
    while [ "$SECONDS" -lt "$end" ]; do
        [ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && return 0
        sleep 0.05
    done
    return 1
}

# tb_lxlb_start CONF LOG PORT: runs "$LXLB -f CONF" in the background with
# stderr in LOG, waits for PORT to listen. Sets TB_LXLB_PID. Killed on exit.
tb_lxlb_start() {
    local conf=$1 log=$2 port=$3
    [ -x "${LXLB:-}" ] || { tb_log "LXLB='${LXLB:-}' is not an executable"; return 1; }
    "$LXLB" -f "$conf" 2>"$log" &
    TB_LXLB_PID=$!
    TB_PIDS+=("$TB_LXLB_PID")
    if ! tb_wait_listen "$port"; then
        tb_log "lxlb did not listen on $port; its log:"; tail -n 20 "$log" >&2
        return 1
    fi
}

tb_lxlb_stop() {
    [ -n "${TB_LXLB_PID:-}" ] && tb_kill_pid "$TB_LXLB_PID"
    TB_LXLB_PID=
}

# ------------------------------------------------------------ assertions -----
# Tests count failed checks and exit non-zero if any failed.

TB_FAILS=0
tb_ok()   { echo "  ok   $*"; }
tb_fail() { echo "  FAIL $*"; TB_FAILS=$((TB_FAILS + 1)); }
# tb_check DESC CMD...: runs CMD, ok if it succeeds.
tb_check() {
    local desc=$1; shift
    if "$@"; then tb_ok "$desc"; else tb_fail "$desc"; fi
}
tb_finish() {
    if [ "$TB_FAILS" = 0 ]; then return 0; fi
    echo "  $TB_FAILS check(s) failed"
    return 1
}

# ------------------------------------------------------------- discovery -----
# Helpers for the discovery tests and the demo (discovery.lxc in SPEC.md).

tb_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# tb_show_lxlb_logs: for tb_defer; when a check failed, the last lines of every
# lxlb log of the run.
tb_show_lxlb_logs() {
    [ "$TB_FAILS" = 0 ] && return
    echo "  --- last lines of the lxlb logs"
    tail -n 40 "$TB_RUN"/lxlb-*.log 2>/dev/null | sed 's/^/    /'
}

# wrk's figures, from its --latency report FILE.
tb_wrk_socket_errors() {
    sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$1" \
        | awk '{print $1+$2+$3+$4}'
}
tb_wrk_non2xx() { sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$1"; }
tb_wrk_requests() { sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$1"; }
# p99 in ms ("99%   12.34ms", "1.20s", "850.00us").
tb_wrk_p99_ms() {
    awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
        printf "%.2f\n", v }' "$1"
}

# tb_disc_conf FILE PORT GROUP [HEALTH_JSON]: one frontend on 127.0.0.1:PORT,
# one backend "web" with discovery.lxc of our lxcpath for GROUP, no static
# server. HEALTH_JSON defaults to GET /health every 1s; "null": no checks.
# $TB_WORKERS sets global.workers (default 1).
tb_disc_conf() {
    local file=$1 port=$2 group=$3 health=${4:-}
    local hl='"health": { "path": "/health", "interval": "1s", "timeout": "1s" },'
    [ -n "$health" ] && hl="\"health\": $health,"
    [ "$health" = null ] && hl=
    cat >"$file" <<EOF
{
  "global": { "access_log": "off", "grace": "2s", "workers": ${TB_WORKERS:-1} },
  "defaults": { "timeout": { "connect": "2s", "client": "10s", "server": "10s" } },
  "frontends": [ { "name": "http", "bind": ["127.0.0.1:$port"], "default_backend": "web" } ],
  "backends": [ {
    "name": "web",
    "redispatch": true,
    $hl
    "discovery": { "lxc": { "lxcpath": "$TB_LXCPATH", "group": "$group", "port": 80,
                            "interface": "eth0", "ip_timeout": "15s" } } } ]
}
EOF
}

# tb_served_by URL: the X-Served-By of one response (the container), or
# "HTTP <code>" when the answer did not come from a container.
tb_served_by() {
    local out code by
    out=$(curl -s -m "${TB_CURL_MAX:-5}" -D - -o /dev/null -w 'CODE=%{http_code}\n' "$1")
    by=$(sed -n 's/^[Xx]-[Ss]erved-[Bb]y: *//p' <<<"$out" | tr -d '\r')
    code=$(sed -n 's/^CODE=//p' <<<"$out")
    if [ -n "$by" ]; then echo "$by"; else echo "HTTP ${code:-000}"; fi
}

# tb_wait_served URL NAME [SECONDS]: until a response comes from container
# NAME; prints the milliseconds waited. Polls every 20 ms.
tb_wait_served() {
    local url=$1 name=$2 secs=${3:-10} t0 end
    t0=$(tb_now_ms); end=$((t0 + secs * 1000))
    while [ "$(tb_now_ms)" -lt "$end" ]; do
        if [ "$(TB_CURL_MAX=1 tb_served_by "$url")" = "$name" ]; then
            echo $(($(tb_now_ms) - t0)); return 0
        fi
        sleep 0.02
    done
    echo -1; return 1
}

# tb_monitor_pids: the lxc-monitor processes watching our lxcpath (children
# of lxlb's LXC helper: "lxc-monitor -P <lxcpath> -n .*"), one pid per line.
tb_monitor_pids() { pgrep -f "^lxc-monitor -P $TB_LXCPATH " || true; }

# tb_helper_pid LXLB_PID: lxlb's privileged LXC helper ("lxlb lxc-helper").
tb_helper_pid() { pgrep -P "$1" -f '^lxlb lxc-helper$' || true; }

# tb_running PID: the process exists and is no zombie (an orphan's zombie
# stays when pid 1 does not reap).
tb_running() {
    local st
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# tb_uids PID: real, effective, saved and filesystem uid ("0 0 0 0").
tb_uids() { awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$1/status" 2>/dev/null; }
tb_gids() { awk '/^Gid:/ {print $2, $3, $4, $5}' "/proc/$1/status" 2>/dev/null; }
