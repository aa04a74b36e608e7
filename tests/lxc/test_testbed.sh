#!/bin/bash
# The test bed itself (lib.sh), without lxlb: the other LXC tests and the
# discovery tests rely on each of these properties, so a broken test bed shows
# here first and not as a mysterious proxy failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/lxc/lib.sh
source "$here/lib.sh"

CURL=(curl -s -m 5)
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# A run that exits leaves no container, bridge or directory behind (the trap),
# even when it fails half-way.
t=$(date +%s%N)
bash -c "source '$here/lib.sh'; tb_setup; tb_create x1 $(tb_ip 31); tb_start x1; exit 3" \
    >/dev/null 2>&1
rc=$?
tb_check "a failing run exits with its own status (3, got $rc)" test "$rc" = 3
tb_check "... and leaves no bridge $TB_BRIDGE" bash -c "! ip link show $TB_BRIDGE >/dev/null 2>&1"
tb_check "... and no $TB_ROOT" test ! -e "$TB_ROOT"
tb_check "... and no running container of ours" \
    bash -c "! ps -eo args | grep -q '^\[\?lxc-start.*$TB_LXCPATH'"
echo "  setup + teardown of one container: $(ms_since "$t") ms"

t=$(date +%s%N)
tb_setup
tb_create a1 "$(tb_ip 11)" web
tb_create a2 "$(tb_ip 12)" other
tb_check "two containers start and answer" tb_start_all a1 a2
echo "  setup + create + start of 2 containers: $(ms_since "$t") ms"

tb_check "index page names the container" \
    test "$("${CURL[@]}" "http://$(tb_ip 12)/")" = "Apache in LXC a2"
tb_check "X-Served-By names the container" \
    grep -qi '^X-Served-By: a1' <("${CURL[@]}" -D - -o /dev/null "http://$(tb_ip 11)/")
hdrs=$("${CURL[@]}" -D - -o /dev/null -H 'Cookie: JSESSIONID=abc' "http://$(tb_ip 11)/setcookie")
tb_check "/setcookie sets the application's JSESSIONID" \
    grep -qi '^Set-Cookie: JSESSIONID=s-a1' <<<"$hdrs"
tb_check "X-Got-Cookie shows the Cookie header Apache received" \
    grep -qi '^X-Got-Cookie: JSESSIONID=abc' <<<"$hdrs"
tb_check "lxc.group selects containers (lxc-ls -g web)" \
    test "$(lxc-ls -P "$TB_LXCPATH" -g web | tr -d ' \n')" = a1
tb_check "the host's containers are not visible in our lxcpath" \
    test "$(lxc-ls -P "$TB_LXCPATH" | tr -s ' \n' ' ' | sed 's/ $//')" = "a1 a2"

# Stop and start again: reachable at once (fixed MAC, no stale ARP entry).
tb_stop a2
tb_check "a stopped container is STOPPED" test "$(tb_state a2)" = STOPPED
t=$(date +%s%N)
tb_start a2
tb_check "a restarted container answers within 3 s" tb_wait_http "$(tb_ip 12)" 3
echo "  restart of a container: $(ms_since "$t") ms"

# The address appears only DELAY seconds after RUNNING (as a slow DHCP lease).
tb_create_late late1 "$(tb_ip 40)" 2 web
t=$(date +%s%N)
tb_start late1
ips=$(lxc-info -P "$TB_LXCPATH" -n late1 -iH)
tb_check "late container: RUNNING without an address at first (got '${ips}')" test -z "$ips"
tb_check "late container: answers once its address appears" tb_wait_http "$(tb_ip 40)" 10
echo "  late container answered after $(ms_since "$t") ms (delay 2 s)"
tb_check "late container: lxc-info reports its address" \
    test "$(lxc-info -P "$TB_LXCPATH" -n late1 -iH)" = "$(tb_ip 40)"

# Scale: 20 more containers, as later discovery and bench runs will use.
names=()
for i in $(seq 1 20); do names+=("w$i"); done
t=$(date +%s%N)
for i in $(seq 1 20); do tb_create "w$i" "$(tb_ip $((100 + i)))" web; done
echo "  create 20 containers: $(ms_since "$t") ms"
t=$(date +%s%N)
tb_check "20 containers start and answer" tb_start_all "${names[@]}"
echo "  start 20 containers until all answer: $(ms_since "$t") ms"
n=0
for i in $(seq 1 20); do
    [ "$("${CURL[@]}" "http://$(tb_ip $((100 + i)))/")" = "Apache in LXC w$i" ] && n=$((n + 1))
done
tb_check "each of the 20 serves its own page ($n of 20)" test "$n" = 20

t=$(date +%s%N)
tb_cleanup
echo "  teardown of 23 containers and the bridge: $(ms_since "$t") ms"
tb_check "teardown removes the bridge" bash -c "! ip link show $TB_BRIDGE >/dev/null 2>&1"
tb_check "teardown removes $TB_ROOT" test ! -e "$TB_ROOT"
tb_finish
