"""Command line contract (SPEC.md "Command line")."""
import json
import re
import subprocess

import pytest

from helpers import free_port


def run(args, timeout=10):
    return subprocess.run(args, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def good_config(port=None):
    return {"frontends": [{"name": "http", "bind": ["127.0.0.1:%d" % (port or free_port())],
                           "default_backend": "b"}],
            "backends": [{"name": "b", "servers": [{"name": "s1",
                                                    "address": "127.0.0.1:8080"}]}]}


def pkg_version(pkg):
    return subprocess.run(["pkg-config", "--modversion", pkg], capture_output=True,
                          text=True).stdout.strip()


def test_version_lists_library_versions(lxlb_bin):
    out = run([lxlb_bin, "-v"])
    assert out.returncode == 0, out
    text = (out.stdout + out.stderr).decode()
    assert re.search(r"lxlb\D*\d+\.\d+", text), text
    low = text.lower()
    for lib in ("libevent", "llhttp", "jansson", "openssl", "lxc"):
        assert lib in low, "%s missing from -v output:\n%s" % (lib, text)
    # The numbers are the real ones, not placeholders.
    for pkg in ("jansson", "libevent"):
        v = pkg_version(pkg).replace("-stable", "")
        if v:
            assert v in text, "%s version %s not in:\n%s" % (pkg, v, text)
    hdr = open("/usr/share/include/llhttp/llhttp.h").read()
    llv = ".".join(re.search(r"LLHTTP_VERSION_%s (\d+)" % k, hdr).group(1)
                   for k in ("MAJOR", "MINOR", "PATCH"))
    assert llv in text, "llhttp %s not in:\n%s" % (llv, text)


def test_check_good_config_exits_0(lxlb_bin, tmp_path):
    f = tmp_path / "good.json"
    port = free_port()
    f.write_text(json.dumps(good_config(port)))
    out = run([lxlb_bin, "-c", "-f", str(f)])
    assert out.returncode == 0, out


def test_check_bad_address_names_file_and_json_path(lxlb_bin, tmp_path):
    cfg = good_config()
    cfg["backends"][0]["servers"][0]["address"] = "127.0.0.1:99999"
    f = tmp_path / "bad-address.json"
    f.write_text(json.dumps(cfg, indent=2))
    out = run([lxlb_bin, "-c", "-f", str(f)])
    err = out.stderr.decode()
    assert out.returncode == 1, out
    assert "bad-address.json" in err, err
    assert "$.backends[0].servers[0].address" in err, err


def test_check_reports_every_error_and_unknown_keys(lxlb_bin, tmp_path):
    cfg = good_config()
    cfg["backends"][0]["servers"][0]["address"] = "127.0.0.1:99999"
    cfg["frontends"][0]["bogus_option"] = True
    f = tmp_path / "two-errors.json"
    f.write_text(json.dumps(cfg, indent=2))
    out = run([lxlb_bin, "-c", "-f", str(f)])
    err = out.stderr.decode()
    assert out.returncode == 1, out
    assert "$.backends[0].servers[0].address" in err, err
    assert "bogus_option" in err and "$.frontends[0]" in err, err
    lines = [ln for ln in err.splitlines() if "two-errors.json" in ln]
    assert len(lines) >= 2, "one message per error expected:\n" + err


def test_check_json_syntax_error_names_file_and_line(lxlb_bin, tmp_path):
    f = tmp_path / "syntax.json"
    f.write_text('{\n  "frontends": [],\n  "backends": [\n    {"name": "b",, }\n  ]\n}\n')
    out = run([lxlb_bin, "-c", "-f", str(f)])
    err = out.stderr.decode()
    assert out.returncode == 1, out
    assert "syntax.json" in err, err
    assert re.search(r"syntax\.json:4\b|line 4\b", err), err


def test_check_missing_required_key(lxlb_bin, tmp_path):
    cfg = good_config()
    del cfg["frontends"][0]["default_backend"]
    f = tmp_path / "missing.json"
    f.write_text(json.dumps(cfg))
    out = run([lxlb_bin, "-c", "-f", str(f)])
    assert out.returncode == 1, out
    assert "default_backend" in out.stderr.decode(), out


def test_unknown_option_exits_2_with_one_line(lxlb_bin):
    out = run([lxlb_bin, "--no-such-option"])
    assert out.returncode == 2, out
    err = out.stderr.decode().strip()
    assert err and len(err.splitlines()) == 1, "one-line error expected: %r" % err


@pytest.mark.parametrize("check", [False, True], ids=["run", "check"])
def test_unreadable_file_exits_2_with_one_line(lxlb_bin, tmp_path, check):
    missing = str(tmp_path / "no-such-dir" / "lxlb.json")
    out = run([lxlb_bin] + (["-c"] if check else []) + ["-f", missing])
    assert out.returncode == 2, out
    err = out.stderr.decode().strip()
    assert len(err.splitlines()) == 1, "one-line error expected: %r" % err
    assert missing in err, err


def test_check_routes_every_error_with_line_and_path(lxlb_bin, tmp_path):
    cfg = good_config()
    del cfg["frontends"][0]["default_backend"]  # optional with routes
    cfg["frontends"][0]["routes"] = [
        {"host": "a.*.example.com", "backend": "b"},
        {"host": "x.example", "backend": "nope"},
        {"path_prefix": "/p", "backend": "b", "redirect": {"scheme": "https"}},
        {"redirect": {"location": "https://new.example/\r\nSet-Cookie: x", "code": 300}},
    ]
    cfg["backends"][0]["send_proxy"] = "v3"
    f = tmp_path / "routes.json"
    f.write_text(json.dumps(cfg, indent=2))
    out = run([lxlb_bin, "-c", "-f", str(f)])
    err = out.stderr.decode()
    assert out.returncode == 1, out
    for path in ("$.frontends[0].routes[0].host", "$.frontends[0].routes[1].backend",
                 "$.frontends[0].routes[2]", "$.frontends[0].routes[3].redirect.location",
                 "$.frontends[0].routes[3].redirect.code", "$.backends[0].send_proxy"):
        assert re.search(r"routes\.json:\d+: %s: " % re.escape(path), err), (path, err)
    assert "\r" not in err and "Set-Cookie" in err  # shown, made harmless
    assert len(err.strip().splitlines()) == 6, err


def test_check_routes_without_default_backend_is_valid(lxlb_bin, tmp_path):
    cfg = good_config()
    del cfg["frontends"][0]["default_backend"]
    cfg["frontends"][0]["routes"] = [{"host": "*.example.com", "backend": "b"},
                                     {"redirect": {"scheme": "https"}}]
    cfg["frontends"][0]["accept_proxy"] = True
    cfg["defaults"] = {"timeout": {"tunnel": "30m"}}
    f = tmp_path / "routes-ok.json"
    f.write_text(json.dumps(cfg))
    out = run([lxlb_bin, "-c", "-f", str(f)])
    assert out.returncode == 0, out
