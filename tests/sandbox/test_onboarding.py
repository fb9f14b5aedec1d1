"""Onboarding and offboarding through playbooks/onboard.yml: a new entry can log in, a dropped one is gone."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from support.sandboxhost import ROOT, run_playbook

pytestmark = [pytest.mark.sandbox, pytest.mark.sandbox_only, pytest.mark.slow]

TEAM_FILE = ROOT / "inventory" / "sandbox" / "group_vars" / "devserver" / "team.yml"


def team_vars(tmp_path, members: list[dict]) -> str:
    path = tmp_path / f"team-{len(members)}.json"
    path.write_text(json.dumps({"team_members": members}))
    return f"@{path}"


def test_onboarding_a_member_lets_them_log_in_and_dropping_them_removes_the_account(
        sandbox_only, host, host_plays, ssh_target, inventory, play_env, tmp_path):
    listed = yaml.safe_load(TEAM_FILE.read_text())["team_members"]
    key = tmp_path / "carol"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "carol@test", "-f", str(key)], check=True)
    carol = {"name": "carol", "ssh_keys": [key.with_suffix(".pub").read_text().strip()], "sudo": False}

    added = run_playbook("playbooks/onboard.yml", inventory, play_env, "-e", team_vars(tmp_path, [*listed, carol]))
    assert added.ok, f"onboarding carol failed:\n{added.tail()}"
    login = subprocess.run([*ssh_target.ssh_args(user="carol", key=str(key)), "id", "-un"], capture_output=True,
                           text=True, timeout=60, check=False)
    assert login.stdout.strip() == "carol", f"expected carol to log in, got exit {login.returncode}: {login.stderr}"

    dropped = run_playbook("playbooks/onboard.yml", inventory, play_env, "-e", team_vars(tmp_path, listed))
    assert dropped.ok and dropped.total("changed") > 0, f"offboarding carol failed or did nothing:\n{dropped.tail()}"
    assert not host.user("carol").exists, "expected carol's account removed once her entry was dropped"
    assert not host.file("/home/carol").exists, "expected carol's home removed"
    refused = subprocess.run([*ssh_target.ssh_args(user="carol", key=str(key)), "true"], capture_output=True,
                             text=True, timeout=60, check=False)
    assert refused.returncode == 255, f"expected carol's login refused after removal, got {refused.returncode}"
    for member in listed:
        assert host.user(member["name"]).exists, f"expected {member['name']} untouched by carol's removal"
