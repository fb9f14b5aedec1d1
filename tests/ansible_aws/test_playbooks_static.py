"""Static checks of the AWS-side Ansible: syntax of every playbook, ansible-lint (production
profile) and yamllint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
AWS_ROLES = ("mirror_bucket", "mirror_cdn", "example_cdn", "mirror_iam", "devserver_instance", "cost_budget",
             "monitoring")
# The sandbox's stand-ins for what moto lacks (inventory/sandbox names them).
SANDBOX_ROLES = ("sandbox_mirror_cdn", "sandbox_example_cdn", "sandbox_cost_budget", "sandbox_devserver_instance")
AWS_PLAYBOOKS = ("playbooks/aws.yml", "playbooks/teardown.yml", "playbooks/site.yml")
YAML_PATHS = (
    *(f"roles/{role}" for role in AWS_ROLES + SANDBOX_ROLES),
    *AWS_PLAYBOOKS,
    "playbooks/group_vars",
    "inventory/aws/group_vars/aws_resources.yml",
    "collections/ansible_collections/cloudpypi",
    "tests/ansible_aws",
)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_NOCOLOR": "1",
    }
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False, env=env)


def all_playbooks() -> list[str]:
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / "playbooks").glob("*.yml"))


@pytest.mark.parametrize("playbook", all_playbooks())
def test_playbook_passes_syntax_check(playbook):
    if playbook == "playbooks/site.yml" and not (ROOT / "playbooks/devserver.yml").exists():
        pytest.skip("site.yml imports playbooks/devserver.yml, which does not exist yet")
    proc = run("ansible-playbook", "--syntax-check", "-i", "tests/ansible_aws/inventory", playbook)
    assert proc.returncode == 0, f"expected {playbook} to pass --syntax-check, got:\n{proc.stdout}{proc.stderr}"


@pytest.mark.slow
def test_whole_repository_passes_ansible_lint_production_profile():
    # No path: ansible-lint lints the whole repository (roles, playbooks, inventories, the
    # project's collection under collections/, tests' playbooks), as `make lint-ansible` does.
    proc = run("ansible-lint", "--profile", "production", "--nocolor")
    assert proc.returncode == 0, f"expected ansible-lint to pass, got exit {proc.returncode}:\n{proc.stdout[-4000:]}"


def test_aws_side_yaml_passes_yamllint():
    config = ".yamllint" if (ROOT / ".yamllint").exists() else "tests/ansible_aws/yamllint.yml"
    proc = run("yamllint", "--strict", "-f", "parsable", "-c", config, *YAML_PATHS)
    assert proc.returncode == 0, f"expected yamllint clean, got:\n{proc.stdout}{proc.stderr}"


def test_every_aws_role_documents_its_variables_with_the_role_prefix():
    import yaml

    for role in AWS_ROLES:
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text())
        specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())
        unprefixed = [name for name in defaults if not name.startswith(f"{role}_")]
        assert not unprefixed, f"expected every default of {role} to start with {role}_, got {unprefixed}"
        specified = set(specs["argument_specs"]["main"]["options"])
        undocumented = (
            set(defaults)
            - specified
            - {
                "mirror_bucket_cloudfront_distribution_arn",
                "mirror_bucket_readable_prefixes",
                "mirror_bucket_write_once_prefixes",
            }
        )
        assert not undocumented, f"expected argument_specs of {role} to cover its defaults, missing {undocumented}"


MODULES = sorted(p.stem for p in (ROOT / "collections/ansible_collections/cloudpypi/aws/plugins/modules").glob("*.py"))


@pytest.mark.parametrize("module", MODULES)
def test_project_module_documentation_renders(module):
    proc = run("ansible-doc", "--json", f"cloudpypi.aws.{module}")
    assert proc.returncode == 0, f"expected ansible-doc to render cloudpypi.aws.{module}, got:\n{proc.stderr[-2000:]}"
    doc = json.loads(proc.stdout)[f"cloudpypi.aws.{module}"]
    for section in ("doc", "examples", "return"):
        assert doc.get(section), f"expected cloudpypi.aws.{module} to document {section}"
    assert doc["doc"]["options"], f"expected cloudpypi.aws.{module} to document its options"
