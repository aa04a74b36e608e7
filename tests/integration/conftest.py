"""Fixtures for lxlb's integration tests: real lxlb and backend processes on
loopback. Every process started through a fixture is killed at teardown, even
when the test fails; on failure lxlb's stderr is printed with the report."""
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import helpers  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def procs(request):
    started = []
    yield started
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for p in reversed(started):
        try:
            if failed and isinstance(p, helpers.Lxlb):
                print("---- lxlb stderr (%s) ----\n%s" % (p.log_path, p.log()[-6000:]))
        finally:
            p.stop()


@pytest.fixture
def backend(procs):
    """backend("A", mode="normal", idle_close_ms=0) -> a started helpers.Backend."""
    def start(name, mode="normal", idle_close_ms=0, extra=()):
        b = helpers.Backend(name, mode, idle_close_ms, extra)
        procs.append(b)
        return b
    return start


@pytest.fixture
def lxlb(procs, tmp_path):
    """lxlb(config_dict) -> a started helpers.Lxlb (its frontend ports accept)."""
    if not os.access(helpers.lxlb_path(), os.X_OK):
        pytest.fail("lxlb binary not found at %s (set $LXLB or run make)" % helpers.lxlb_path())
    n = [0]

    def start(config, wait=True):
        n[0] += 1
        lx = helpers.Lxlb(config, str(tmp_path), wait=wait, name="lxlb%d" % n[0])
        procs.append(lx)
        return lx
    return start


@pytest.fixture
def lxlb_bin():
    p = helpers.lxlb_path()
    if not os.access(p, os.X_OK):
        pytest.fail("lxlb binary not found at %s (set $LXLB or run make)" % p)
    return p
