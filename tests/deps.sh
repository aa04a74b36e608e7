#!/bin/sh
# tests/deps.sh [PKG...]: installs the Debian packages lxlb builds and tests
# with (or, given arguments, just those: the benchmarks' extras); quiet and
# quick when everything is already there.
#
# Every command a script, test or the demo runs is here, unless its package
# is Essential or of priority "required" on Debian 12 (coreutils, grep, sed,
# findutils, util-linux, libc-bin, mawk, dpkg, apt). Installing with
# --no-install-recommends means a tool's own helpers must be listed too:
# rsync (lxc-copy of a dir container, the demo's scale-out: lxc only recommends
# it), procps (ps, pgrep: priority important, not in a minimal system),
# prometheus (promtool, which checks /metrics in test_admin.py). pebble is the
# RFC 8555 test CA of test_acme.py; its package ships pebble-challtestsrv too.
set -e
PKGS="build-essential pkg-config libevent-dev libjansson-dev libssl-dev lxc lxc-dev
rsync node-llhttp apache2 wrk curl python3 python3-pytest iproute2 procps openssl
chromium systemd man-db groff-base logrotate etcd-server etcd-client prometheus
clang libclang-rt-14-dev haproxy python3-websockets keepalived pebble libnghttp2-dev
nghttp2-client python3-h2"
[ $# -gt 0 ] && PKGS="$*"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then echo "deps: need root to install$missing" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Services from these packages (haproxy, nginx, etcd, apache2) must not start
# and grab ports on a machine with an init: tests and benches run their own.
# A policy-rc.d that was there before is left as it was.
own_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
fi
rc=0
apt-get install -y -qq --no-install-recommends $missing || rc=$?
[ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d
[ $rc = 0 ] || { echo "deps: apt-get install failed" >&2; exit 1; }
