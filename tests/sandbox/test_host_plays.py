"""The host plays (playbooks/devserver.yml, host part) against the booted sandbox host."""

from __future__ import annotations

import pytest

from support.sandboxhost import run_playbook

pytestmark = [pytest.mark.sandbox, pytest.mark.slow, pytest.mark.sandbox_only]


@pytest.fixture()
def host_plays(host_plays):
    if host_plays is None:
        pytest.skip("the host plays were not run (CLOUDPYPI_TEST_DEPLOY=0)")
    return host_plays


def test_first_host_play_configures_the_sandbox_without_failures(sandbox_only, host_plays):
    first, _ = host_plays
    assert first.total("failed") == 0 and first.total("unreachable") == 0, (
        f"expected no failed or unreachable hosts, got recap {first.recap}")
    assert first.total("changed") > 0, f"expected the first run on a fresh host to change it, got {first.recap}"


def test_second_host_play_reports_no_change(sandbox_only, host_plays):
    _, second = host_plays
    assert second.total("changed") == 0, (
        f"expected changed=0 on the second run, got {second.recap}; changed tasks: {second.changed_tasks()}")


def test_check_mode_on_the_configured_host_reports_no_change(sandbox_only, host_plays, inventory, play_env):
    run = run_playbook("playbooks/devserver.yml", inventory, play_env, "--tags", "host", "--check", "--diff")
    assert run.ok, f"expected check mode to succeed, got exit {run.returncode}:\n{run.tail()}"
    assert run.total("changed") == 0, (
        f"expected check mode to predict no change, got {run.recap}; tasks: {run.changed_tasks()}")


def test_check_mode_on_a_fresh_host_predicts_changes_without_failing(sandbox_only, fresh_check_run, host_plays):
    if fresh_check_run is None:
        pytest.skip("the sandbox host was already configured when the session started")
    assert fresh_check_run.ok and fresh_check_run.total("failed") == 0, (
        f"expected check mode on a fresh host to succeed, got exit {fresh_check_run.returncode}:\n"
        f"{fresh_check_run.tail()}")
    assert fresh_check_run.total("changed") > 0, f"expected predicted changes, got {fresh_check_run.recap}"
