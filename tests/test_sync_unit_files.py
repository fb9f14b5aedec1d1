"""The sync's systemd units and mirror.toml as the sync_service role renders them from its defaults: a run
is not limited by length (the engine's watchdog stops one without progress), and runs never overlap."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from cloudpypi.config import parse_config

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "roles/sync_service/templates/etc"


def render(tmp_path: Path, template: str) -> str:
    dest = tmp_path / Path(template).name.removesuffix(".j2")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    proc = subprocess.run(["ansible", "localhost", "-c", "local", "-m", "ansible.builtin.template",
                           "-a", f"src={TEMPLATES / template} dest={dest}",
                           "-e", f"@{ROOT / 'roles/sync_service/defaults/main.yml'}",
                           "-e", "sync_service_target=s3://example-mirror/"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"expected {template} to render, got:\n{proc.stdout}{proc.stderr}"
    return dest.read_text()


def settings(unit: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#"))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, str]:
    tmp_path = tmp_path_factory.mktemp("units")
    return {name: render(tmp_path, template) for name, template in (
        ("service", "systemd/system/cloudpypi-sync.service.j2"),
        ("timer", "systemd/system/cloudpypi-sync.timer.j2"),
        ("config", "cloudpypi/mirror.toml.j2"))}


def test_a_sync_run_has_no_time_limit_from_systemd(rendered):
    service = settings(rendered["service"])
    assert service["TimeoutStartSec"] == "infinity", (
        f"expected no run timeout (the watchdog stops runs without progress), got {service['TimeoutStartSec']}")
    assert "RuntimeMaxSec" not in service and "WatchdogSec" not in service


def test_the_timer_never_overlaps_a_run(rendered):
    service, timer = settings(rendered["service"]), settings(rendered["timer"])
    # A oneshot unit stays "activating" for its whole run, and a timer never starts a unit that is still
    # active; OnUnitInactiveSec counts from the end of the run.  The engine's lock refuses a second sync too.
    assert service["Type"] == "oneshot"
    assert "OnUnitInactiveSec" in timer and "OnCalendar" not in timer and "OnUnitActiveSec" not in timer, timer
    assert timer["Unit"] == "cloudpypi-sync.service"
    assert service["SuccessExitStatus"] == "75"


def test_the_stall_timeout_reaches_the_engine(rendered):
    config = parse_config(tomllib.loads(rendered["config"]), "mirror.toml")
    assert config.stall_timeout == 1800
