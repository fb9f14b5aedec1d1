"""The dev server's IAM policy as mirror_iam renders it: checked over the rendered JSON, without AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_aws.iam_checks import assert_least_privilege, problems

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "roles/mirror_iam/templates/devserver-policy.json.j2"
DISTRIBUTION_ARN = "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE"


def render(tmp_path: Path, **extra: object) -> dict:
    variables = {
        "mirror_iam_bucket_name": "example-mirror",
        "mirror_iam_distribution_arn": DISTRIBUTION_ARN,
        "mirror_iam_allow_list_invalidations": True,
        "mirror_iam_metric_namespace": "CloudPyPI",
        "mirror_iam_account_id": "123456789012",
        "mirror_iam_budget_name": "cloudpypi-monthly",
        **extra,
    }
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    dest = tmp_path / "policy.json"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
    }
    proc = subprocess.run(
        [
            "ansible",
            "localhost",
            "-c",
            "local",
            "-m",
            "ansible.builtin.template",
            "-a",
            f"src={TEMPLATE} dest={dest}",
            "-e",
            f"@{tmp_path / 'vars.json'}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"expected the template to render, got:\n{proc.stdout}{proc.stderr}"
    return json.loads(dest.read_text())


@pytest.mark.parametrize("list_invalidations", [True, False])
def test_rendered_devserver_policy_is_least_privilege(tmp_path, list_invalidations):
    policy = render(tmp_path, mirror_iam_allow_list_invalidations=list_invalidations)
    assert_least_privilege(policy, "example-mirror", DISTRIBUTION_ARN)
    granted = {a for s in policy["Statement"] for a in s["Action"]}
    assert ("cloudfront:ListInvalidations" in granted) is list_invalidations, (
        f"expected ListInvalidations only when enabled ({list_invalidations}), got {sorted(granted)}"
    )


def test_least_privilege_check_rejects_a_wildcard_action():
    policy = {"Statement": [{"Sid": "Bad", "Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::b/*"]}]}
    assert problems(policy) == ["statement Bad has a wildcard action 's3:*'"], f"got {problems(policy)}"


def test_least_privilege_check_rejects_a_star_resource_for_scoped_services():
    policy = {"Statement": [{"Sid": "Bad", "Effect": "Allow", "Action": ["s3:GetObject"], "Resource": "*"}]}
    assert problems(policy) == ["statement Bad grants ['s3:GetObject'] on '*'"], f"got {problems(policy)}"
