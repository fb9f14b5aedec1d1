"""Static checks of the host-side Ansible: syntax and yamllint.  ansible-lint runs on the whole
repository in tests/ansible_aws/test_playbooks_static.py."""

from __future__ import annotations

import subprocess

import pytest

from support.sandboxhost import ROOT

PLAYBOOKS = ("playbooks/devserver.yml", "playbooks/onboard.yml")
PATHS = ("roles/host_base", "roles/team", "roles/sync_service", *PLAYBOOKS, "inventory/sandbox", "inventory/aws")
# Used when the repository has no .yamllint of its own: yamllint's defaults, the settings
# ansible-lint requires, and 120-column lines.
YAMLLINT_FALLBACK = (
    '{extends: default, rules: {line-length: {max: 120}, comments: {min-spaces-from-content: 1}, '
    'comments-indentation: false, braces: {max-spaces-inside: 1}, '
    'octal-values: {forbid-implicit-octal: true, forbid-explicit-octal: true}, '
    'truthy: {allowed-values: ["true", "false"], check-keys: false}}}')


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.parametrize("playbook", PLAYBOOKS)
@pytest.mark.parametrize("inventory", ["inventory/sandbox"])
def test_playbook_passes_syntax_check(playbook, inventory):
    proc = run("ansible-playbook", "--syntax-check", "-i", inventory, playbook)
    assert proc.returncode == 0, f"expected {playbook} to pass --syntax-check, got:\n{proc.stdout}{proc.stderr}"


# ansible-lint (production profile) runs on the whole repository, host roles included, in
# tests/ansible_aws/test_playbooks_static.py::test_whole_repository_passes_ansible_lint_production_profile.


def test_host_side_yaml_passes_yamllint():
    config = ["-c", ".yamllint"] if (ROOT / ".yamllint").exists() else ["-d", YAMLLINT_FALLBACK]
    proc = run("yamllint", "--strict", "-f", "parsable", *config, *PATHS)
    assert proc.returncode == 0, f"expected yamllint clean, got:\n{proc.stdout}{proc.stderr}"
