"""global.user / group / chroot: lxlb binds as root, then drops to them and
still serves; it never runs on as root by mistake."""
import json
import os
import pwd
import grp
import subprocess

import pytest

from helpers import free_port, get, lxlb_path, make_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")


def status_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("Uid:", "Gid:")):
                ids[line[:3]] = [int(x) for x in line.split()[1:]]
    return ids


def test_drops_to_user_and_group(backend, lxlb):
    a = backend("A")
    cfg = make_config({"b": [a]}, port=free_port())
    cfg["global"] = {"user": "nobody", "group": "nogroup"}
    lx = lxlb(cfg)
    assert get(lx.port, "/").body == b"backend A"
    ids = status_ids(lx.proc.pid)
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    assert ids["Uid"] == [nobody] * 4, ids  # real, effective, saved, fs
    assert ids["Gid"] == [nogroup] * 4, ids


def test_chroot(backend, lxlb, tmp_path):
    a = backend("A")
    jail = tmp_path / "jail"
    jail.mkdir()
    cfg = make_config({"b": [a]}, port=free_port())
    cfg["global"] = {"chroot": str(jail), "user": "nobody"}
    lx = lxlb(cfg)
    assert get(lx.port, "/").body == b"backend A"
    assert os.readlink("/proc/%d/root" % lx.proc.pid) == str(jail)


def test_unknown_user_refuses_to_start(tmp_path):
    cfg = make_config({"b": ["127.0.0.1:9"]}, port=free_port())
    cfg["global"] = {"user": "no-such-user-lxlb"}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([lxlb_path(), "-f", str(path)], capture_output=True, timeout=10)
    assert r.returncode == 1
    assert b'global.user: no user "no-such-user-lxlb"' in r.stderr, r.stderr


def test_user_with_lxc_discovery_is_refused_by_check(tmp_path):
    cfg = make_config({"b": ["127.0.0.1:9"]}, port=free_port())
    cfg["global"] = {"user": "nobody"}
    cfg["backends"][0]["discovery"] = {"lxc": {"group": "web"}}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([lxlb_path(), "-c", "-f", str(path)], capture_output=True, timeout=10)
    assert r.returncode == 1
    assert b"$.backends[0].discovery.lxc: needs root" in r.stderr, r.stderr
