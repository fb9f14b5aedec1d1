"""The service runner lets `fab sync --fleet NAME` coordinate a sync fleet, and nothing else rides on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.servicerunner import Runner, render_runner


@pytest.fixture()
def runner(tmp_path: Path) -> Runner:
    return render_runner(tmp_path)


def test_sync_with_a_fleet_name_is_forwarded(runner) -> None:
    proc = runner.run("sync", "--fleet", "main", "--lock-wait", "0")
    assert proc.returncode == 0, proc.stderr
    forwarded = [line.removeprefix("arg=") for line in proc.stdout.splitlines() if line.startswith("arg=")]
    assert forwarded == ["sync", "--config", runner.config, "--fleet", "main", "--lock-wait", "0"]


@pytest.mark.parametrize("name", ["../x", "a b", "-rf", "x" * 41, "main;id", ""])
def test_a_fleet_name_that_could_not_name_queues_is_refused(runner, name) -> None:
    proc = runner.run("sync", "--fleet", name)
    assert proc.returncode == 77, f"expected a refusal for {name!r}, got {proc.returncode}: {proc.stdout}"
    assert "arg=" not in proc.stdout


def test_other_commands_take_no_fleet(runner) -> None:
    proc = runner.run("verify", "--fleet", "main")
    assert proc.returncode == 77
