#!/bin/sh
# Installs the Debian packages lxlb builds and tests with; quiet and quick when
# everything is already there.
set -e
PKGS="build-essential pkg-config libevent-dev libjansson-dev libssl-dev lxc lxc-dev
node-llhttp apache2 wrk curl python3 python3-pytest iproute2 openssl chromium
systemd man-db groff-base logrotate etcd-server etcd-client clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
if [ "$(id -u)" != 0 ]; then echo "deps: need root to install$missing" >&2; exit 1; fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Services from these packages must not grab ports on a machine with an init.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
apt-get install -y -qq --no-install-recommends $missing
rm -f /usr/sbin/policy-rc.d
