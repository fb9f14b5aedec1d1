"""Unit tests of the sandbox script and the recap parser (no root, no container needed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from support.sandboxhost import ROOT, parse_recap

SCRIPT = ROOT / "scripts" / "sandbox" / "sandbox.py"


@pytest.fixture(scope="module")
def sandbox_module():
    spec = importlib.util.spec_from_file_location("sandbox_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["sandbox_script"] = module
    spec.loader.exec_module(module)
    return module


def settings(module, tmp_path: Path, **overrides):
    values = {"cache": tmp_path, "name": "t", "ssh_port": 2222, "moto_port": 5000,
              "debian_mirror": "http://deb.debian.org/debian", "boot_timeout": 5.0} | overrides
    return module.Settings(**values)


def test_cached_root_filesystem_is_keyed_by_the_build_recipe(sandbox_module, tmp_path):
    base = sandbox_module.tarball_path(settings(sandbox_module, tmp_path))
    same = sandbox_module.tarball_path(settings(sandbox_module, tmp_path, ssh_port=2300))
    other = sandbox_module.tarball_path(settings(sandbox_module, tmp_path, debian_mirror="http://mirror.example/debian"))
    assert base == same, f"expected per-boot settings (the SSH port) not to change the cache key: {base} vs {same}"
    assert base != other, "expected a different Debian mirror to need a new root filesystem"
    assert base.parent == tmp_path / "sandbox", f"expected the tarball under the cache dir, got {base}"


def test_settings_come_from_the_environment(sandbox_module, monkeypatch, tmp_path):
    monkeypatch.setenv("CLOUDPYPI_CACHE", str(tmp_path))
    monkeypatch.setenv("CLOUDPYPI_SANDBOX_SSH_PORT", "2301")
    monkeypatch.setenv("CLOUDPYPI_SANDBOX_MOTO_PORT", "5301")
    got = sandbox_module.Settings.from_env()
    assert (got.cache, got.ssh_port, got.moto_url) == (tmp_path, 2301, "http://127.0.0.1:5301"), f"got {got}"
    assert got.key == tmp_path / "sandbox" / "ssh" / "id_ed25519", f"expected the key in the cache, got {got.key}"


def test_unavailable_without_root_names_the_reason(sandbox_module, monkeypatch):
    monkeypatch.setattr(sandbox_module.os, "geteuid", lambda: 1000)
    reason = sandbox_module.unavailable_reason()
    assert reason and "root" in reason, f"expected a reason naming root, got {reason!r}"


def test_status_reports_down_when_nothing_was_started(tmp_path):
    env = {"CLOUDPYPI_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "status"], env=env, capture_output=True, text=True,
                          check=False)
    assert (proc.returncode, proc.stdout.strip()) == (1, "the sandbox is down"), (
        f"expected exit 1 and 'the sandbox is down', got {proc.returncode} {proc.stdout!r}")


def test_down_with_nothing_started_is_a_no_op(tmp_path):
    env = {"CLOUDPYPI_CACHE": str(tmp_path), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, str(SCRIPT), "down"], env=env, capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, f"expected down to succeed when nothing is up, got {proc.returncode}: {proc.stderr}"


def test_recap_parser_reads_every_host_line():
    output = """
PLAY RECAP *********************************************************************
localhost                  : ok=3    changed=0    unreachable=0    failed=0    skipped=1    rescued=0    ignored=0
sandbox-devserver          : ok=57   changed=4    unreachable=0    failed=0    skipped=5    rescued=0    ignored=0
"""
    recap = parse_recap(output)
    assert recap["sandbox-devserver"]["changed"] == 4 and recap["localhost"]["skipped"] == 1, f"got {recap}"
    assert parse_recap("no recap here") == {}, "expected no hosts without a PLAY RECAP"


def _running_state(module, tmp_path: Path):
    import os
    return module.State(nspawn_pid=os.getpid(), moto_pid=None, root=str(tmp_path), ssh_host="127.0.0.1",
                        ssh_port=2222, ssh_user="admin", ssh_key=str(tmp_path / "key"),
                        moto_url="http://127.0.0.1:5000", name="t")


def test_status_waits_for_a_live_host_that_answers_late(sandbox_module, tmp_path, monkeypatch):
    answers = iter(["", "", "starting", "running"])
    monkeypatch.setattr(sandbox_module, "alive", lambda pid, marker: True)
    monkeypatch.setattr(sandbox_module, "moto_answers", lambda url: True)
    monkeypatch.setattr(sandbox_module, "system_state", lambda s: next(answers))
    monkeypatch.setattr(sandbox_module.time, "sleep", lambda seconds: None)
    state = _running_state(sandbox_module, tmp_path)
    assert sandbox_module.is_up(settings(sandbox_module, tmp_path), state), \
        "expected a live container whose SSH answers on the fourth probe to count as up"
    assert next(answers, "exhausted") == "exhausted", "expected is_up to keep probing until the host answered"


def test_status_gives_up_at_once_when_the_container_is_gone(sandbox_module, tmp_path, monkeypatch):
    probes = []
    monkeypatch.setattr(sandbox_module, "alive", lambda pid, marker: False)
    monkeypatch.setattr(sandbox_module, "system_state", lambda s: probes.append(s) or "running")
    assert not sandbox_module.is_up(settings(sandbox_module, tmp_path), _running_state(sandbox_module, tmp_path))
    assert probes == [], "expected no SSH probe once systemd-nspawn is known to be gone"


def test_status_stops_waiting_when_the_container_dies_meanwhile(sandbox_module, tmp_path, monkeypatch):
    lives = iter([True, True, False])
    monkeypatch.setattr(sandbox_module, "alive", lambda pid, marker: next(lives, False))
    monkeypatch.setattr(sandbox_module, "moto_answers", lambda url: True)
    monkeypatch.setattr(sandbox_module, "system_state", lambda s: "")
    monkeypatch.setattr(sandbox_module.time, "sleep", lambda seconds: None)
    assert not sandbox_module.is_up(settings(sandbox_module, tmp_path), _running_state(sandbox_module, tmp_path))
