"""global.user / group / chroot: lxlb binds as root, then drops to them and
still serves; it never runs on as root by mistake."""
import json
import os
import pwd
import grp
import shutil
import signal
import subprocess
import time

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


def test_user_with_lxc_discovery_passes_check(tmp_path):
    cfg = make_config({"b": ["127.0.0.1:9"]}, port=free_port())
    cfg["global"] = {"user": "nobody", "chroot": str(tmp_path)}
    cfg["backends"][0]["discovery"] = {"lxc": {"group": "web"}}
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([lxlb_path(), "-c", "-f", str(path)], capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")[:-1]


def running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(pred, timeout=5.0):
    end = time.monotonic() + timeout
    while not pred() and time.monotonic() < end:
        time.sleep(0.05)
    return pred()


@pytest.fixture
def lxcpath(tmp_path):
    """An empty lxcpath; at the end, lxc-monitord and liblxc's run files for it go."""
    d = tmp_path / "lxc"
    d.mkdir(mode=0o755)
    yield str(d)
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and cmdline(int(p))[1:2] == [str(d).encode()] and \
                    cmdline(int(p))[0].endswith(b"lxc-monitord"):
                os.kill(int(p), signal.SIGKILL)
        except OSError:
            pass
    for run in ("/run/lxc" + str(d), "/run/lxc/lock" + str(d)):
        shutil.rmtree(run, ignore_errors=True)
        try:
            os.removedirs(os.path.dirname(run))  # the parents it made, once empty
        except OSError:
            pass


def test_lxc_discovery_as_nobody_keeps_a_root_helper(backend, lxlb, lxcpath):
    """discovery.lxc with global.user: lxlb runs as nobody, its LXC helper and
    the helper's lxc-monitor as root; killing lxlb takes both with it."""
    a = backend("A")
    cfg = make_config({"b": [a]}, port=free_port())
    cfg["global"] = {"user": "nobody", "group": "nogroup"}
    cfg["backends"][0]["discovery"] = {"lxc": {"lxcpath": lxcpath}}
    lx = lxlb(cfg)
    assert get(lx.port, "/").body == b"backend A"
    nobody = pwd.getpwnam("nobody").pw_uid
    assert status_ids(lx.proc.pid)["Uid"] == [nobody] * 4
    assert wait_for(lambda: children(lx.proc.pid)), "no helper process"
    (helper,) = children(lx.proc.pid)
    assert cmdline(helper) == [b"lxlb", b"lxc-helper"]
    assert status_ids(helper)["Uid"] == [0] * 4
    # (between its fork and exec, the child still shows the helper's command line)
    assert wait_for(lambda: [c for c in children(helper) if cmdline(c)[:1] == [b"lxc-monitor"]]), \
        "the helper started no lxc-monitor"
    # The helper is a subreaper (autoscale clones' lxc-start -d): lxc-monitor's
    # own daemon, lxc-monitord, may be its child too.
    (mon,) = [c for c in children(helper) if cmdline(c)[:1] == [b"lxc-monitor"]]
    assert cmdline(mon)[:3] == [b"lxc-monitor", b"-P", lxcpath.encode()]
    assert status_ids(mon)["Uid"] == [0] * 4
    text = lx.wait_log(lambda t: "lxc-monitor started" in t)
    assert "lxc helper started (pid %d)" % helper in text, text
    lx.stop()  # SIGKILL: no exit handler runs
    assert wait_for(lambda: not running(helper) and not running(mon)), \
        "helper %s, monitor %s still running" % (running(helper), running(mon))


def test_lxc_discovery_refuses_an_lxcpath_others_may_write(backend, lxlb, lxcpath):
    """The helper runs liblxc as root only on an lxcpath root may trust."""
    os.chmod(lxcpath, 0o777)
    a = backend("A")
    cfg = make_config({"b": [a]}, port=free_port())
    cfg["global"] = {"user": "nobody"}
    cfg["backends"][0]["discovery"] = {"lxc": {"lxcpath": lxcpath}}
    lx = lxlb(cfg)
    text = lx.wait_log(lambda t: "lxc-monitor for %s cannot start" % lxcpath in t)
    assert "lxcpath %s: %s is writable by others: refused" % (lxcpath, lxcpath) in text, text
    assert "lxc-monitor for %s cannot start" % lxcpath in text, text
    assert get(lx.port, "/").body == b"backend A"
