"""The budget gate and the storage class of packages/, against a real moto server:

- `fab deploy` with the shipped AWS inventory turned into an unfiltered pypi.org mirror and a 500 USD budget
  stops before provisioning, naming the forecast and the budget; moto holds no bucket afterwards;
- `fab deploy --accept-cost` provisions the same inventory; `fab teardown` refuses without a confirmation and
  deletes everything with --yes;
- a bad [closure] value stops the deploy at once, naming the key;
- roles/mirror_bucket's Intelligent-Tiering rule for packages/ is in the bucket's lifecycle (next to the
  other rules), idempotent, and removed again with STANDARD.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_aws.aws_ansible_helpers import ROOT, PlaybookRun, ansible_env, require_ok
from support.motoserver import MotoServer, moto_server

pytestmark = [pytest.mark.moto, pytest.mark.slow]

FAB = str(Path(sys.executable).parent / "fab")
BUCKET = "my-cloudpypi-mirror"  # inventory/aws/group_vars/all/main.yml


def explain(run: subprocess.CompletedProcess[str]) -> str:
    return f"exit {run.returncode}\n--- stdout\n{run.stdout[-4000:]}\n--- stderr\n{run.stderr[-3000:]}"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


MOTO_STAND_INS = """
cloudpypi_cdn_role: sandbox_mirror_cdn
cloudpypi_example_cdn_role: sandbox_example_cdn
cloudpypi_budget_role: sandbox_cost_budget
cloudpypi_devserver_instance_role: sandbox_devserver_instance
"""


def shipped_inventory_copy(tmp_path: Path, sync_service_extra: str = "", *, full: bool = True) -> Path:
    """inventory/aws as shipped, with its closure settings removed (full=True: an unfiltered pypi.org mirror) and
    the sandbox's stand-ins named for what moto lacks."""
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory" / "aws", inventory)
    settings = inventory / "group_vars" / "devserver" / "sync_service.yml"
    text = settings.read_text(encoding="utf-8")
    if full:
        text = re.sub(r"(?m)^sync_service_closure_\w+:.*(\n\s+-.*)*\n?", "", text)
        assert not re.search(r"(?m)^sync_service_closure", text), text
    settings.write_text(text + sync_service_extra, encoding="utf-8")
    # moto lacks parts of CloudFront and Budgets: the AWS plays run the sandbox's stand-ins there.
    with (inventory / "group_vars" / "aws_resources.yml").open("a", encoding="utf-8") as out:
        out.write(MOTO_STAND_INS)
    return inventory


def fab(moto: MotoServer, inventory: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = ansible_env(moto)
    env.update(CLOUDPYPI_INVENTORY=str(inventory), CLOUDPYPI_CACHE=str(cache))
    env.pop("AWS_PROFILE", None)
    return subprocess.run([FAB, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                          stdin=subprocess.DEVNULL, check=False)


def buckets(moto: MotoServer) -> list[str]:
    return sorted(b["Name"] for b in moto.client("s3").list_buckets()["Buckets"])


def test_an_unfiltered_pypi_mirror_over_a_500_usd_budget_stops_before_provisioning_and_accept_cost_overrides(
        moto: MotoServer, tmp_path: Path) -> None:
    moto.reset()
    inventory = shipped_inventory_copy(tmp_path)
    stopped = fab(moto, inventory, "deploy", "--playbook", "aws", cache=tmp_path / "cache")
    assert stopped.returncode != 0, f"expected the gate to stop the deploy: {explain(stopped)}"
    output = stopped.stdout + stopped.stderr
    match = re.search(r"forecast \$([\d,]+\.\d\d) a month \(USD\) is over the budget of \$500\.00", output)
    assert match, f"expected the forecast and the 500 USD budget named: {explain(stopped)}"
    assert float(match.group(1).replace(",", "")) > 500
    assert "Nothing was provisioned" in output and "S3 storage" in output and "--accept-cost" in output, \
        f"expected the largest cost lines and the override named: {explain(stopped)}"
    assert "published totals" in output, explain(stopped)
    assert buckets(moto) == [], "the gate must stop before the bucket is created"
    assert moto.client("cloudfront").list_distributions()["DistributionList"].get("Items") in (None, []), \
        "the gate must stop before CloudFront is created"

    accepted = fab(moto, inventory, "deploy", "--playbook", "aws", "--accept-cost", cache=tmp_path / "cache")
    assert accepted.returncode == 0, f"--accept-cost must override the gate: {explain(accepted)}"
    assert buckets(moto) == sorted([BUCKET, f"{BUCKET}-logs"]), "expected the mirror and its access-log bucket"

    refused = fab(moto, inventory, "teardown", cache=tmp_path / "cache")
    assert refused.returncode == 1 and "Not confirmed" in refused.stderr, explain(refused)
    assert buckets(moto) == sorted([BUCKET, f"{BUCKET}-logs"]), "an unconfirmed teardown deletes nothing"
    removed = fab(moto, inventory, "teardown", "--yes", cache=tmp_path / "cache")
    assert removed.returncode == 0, explain(removed)
    assert buckets(moto) == [f"{BUCKET}-logs"], "fab teardown --yes deletes the mirror bucket and keeps the logs"


def test_the_inventory_flag_accepts_the_cost_too(moto: MotoServer, tmp_path: Path) -> None:
    moto.reset()
    inventory = shipped_inventory_copy(tmp_path)
    with (inventory / "group_vars" / "aws_resources.yml").open("a", encoding="utf-8") as out:
        out.write("\ncloudpypi_accept_cost: true\n")
    run = fab(moto, inventory, "deploy", "--playbook", "cost_gate", cache=tmp_path / "cache")
    assert run.returncode == 0, f"cloudpypi_accept_cost: true must let the deploy go on: {explain(run)}"
    assert "is over the budget of $500.00" in run.stdout, "the forecast is still shown"


def test_a_bad_closure_value_stops_the_deploy_naming_the_key(moto: MotoServer, tmp_path: Path) -> None:
    moto.reset()
    inventory = shipped_inventory_copy(tmp_path, full=False)
    settings = inventory / "group_vars" / "devserver" / "sync_service.yml"
    settings.write_text(settings.read_text(encoding="utf-8").replace('["3.11", "3.12", "3.13"]', '["2.7"]'),
                        encoding="utf-8")
    run = fab(moto, inventory, "deploy", "--playbook", "aws", cache=tmp_path / "cache")
    assert run.returncode != 0, explain(run)
    assert "[closure].pythons: '2.7' is not a Python 3 version" in run.stdout + run.stderr, explain(run)
    assert "could not be made, so nothing was provisioned" in run.stdout + run.stderr, explain(run)
    assert buckets(moto) == []


BUCKET_PLAY = """---
- name: The mirror bucket alone
  hosts: localhost
  connection: local
  gather_facts: false
  vars:  # what every inventory sets once in group_vars/all (this play has no inventory)
    cloudpypi_bucket_name: storage-class-test
    cloudpypi_aws_region: us-east-1
    cloudpypi_packages_storage_class: STANDARD
  environment:
    AWS_REGION: us-east-1
    AWS_DEFAULT_REGION: us-east-1
  module_defaults:
    group/amazon.aws.aws:
      endpoint_url: "{{ lookup('ansible.builtin.env', 'AWS_ENDPOINT_URL') }}"
    group/community.aws.aws:
      endpoint_url: "{{ lookup('ansible.builtin.env', 'AWS_ENDPOINT_URL') }}"
  roles:
    - role: mirror_bucket
      vars:
        mirror_bucket_name: storage-class-test
        mirror_bucket_region: us-east-1
"""


def bucket_play(moto: MotoServer, path: Path, storage_class: str) -> PlaybookRun:
    import time

    env = ansible_env(moto)
    args = ["ansible-playbook", "-i", "localhost,", str(path),
            "-e", f"mirror_bucket_packages_storage_class={storage_class}",
            "-e", f"ansible_python_interpreter={sys.executable}"]
    started = time.monotonic()
    proc = subprocess.run(args, cwd=ROOT, env={**env, "ANSIBLE_ROLES_PATH": str(ROOT / "roles")},
                          capture_output=True, text=True, timeout=600, check=False)
    return PlaybookRun(args, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started)


def test_intelligent_tiering_for_packages_is_a_lifecycle_rule_of_its_own_and_idempotent(
        moto: MotoServer, tmp_path: Path) -> None:
    moto.reset()
    play = tmp_path / "bucket.yml"
    play.write_text(BUCKET_PLAY, encoding="utf-8")
    first = require_ok(bucket_play(moto, play, "INTELLIGENT_TIERING"))
    second = require_ok(bucket_play(moto, play, "INTELLIGENT_TIERING"))
    assert second.recap["changed"] == 0, f"second run changed: {second.changed_tasks()} (first {first.recap})"
    rules = {r["ID"]: r for r in moto.client("s3").get_bucket_lifecycle_configuration(
        Bucket="storage-class-test")["Rules"]}
    tiering = rules.get("packages-intelligent-tiering")
    assert tiering is not None, f"expected the Intelligent-Tiering rule, got {sorted(rules)}"
    assert tiering["Status"] == "Enabled"
    assert tiering["Filter"].get("Prefix") == "packages/", tiering
    assert tiering["Transitions"] == [{"Days": 0, "StorageClass": "INTELLIGENT_TIERING"}], tiering
    assert "abort-incomplete-multipart-uploads" in rules, "the other rules stay"
    require_ok(bucket_play(moto, play, "STANDARD"))
    rules = moto.client("s3").get_bucket_lifecycle_configuration(Bucket="storage-class-test")["Rules"]
    assert "packages-intelligent-tiering" not in {r["ID"] for r in rules}, rules
