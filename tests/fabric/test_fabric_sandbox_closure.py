"""The dependency-closure mirror through Ansible and Fabric, end to end on the local sandbox:

    fab deploy            with the [closure] settings in the inventory: the budget gate forecasts the closure from a
                          dry-run plan against the fake origin (within $500), the role ships the requirements file
                          and renders the [closure] table
    fab sync              the closure sync on the host, against the fake origin, into its own prefix of the bucket
    fab closure           the plan on the dev server: projects, files, bytes, monthly cost
    fab why speedup       the requirement chain; a project outside the closure exits 1

The inventory is a copy of inventory/sandbox with one more group_vars file, as an operator would write it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.sandboxfixtures import BUCKET, DUMMY_KEYS, explain, fab
from support.sandboxfixtures import fab_env as sandbox_fab_env
from support.sandboxhost import ROOT

# A first deploy builds the wheelhouse and configures the host: longer than the default test timeout.
pytestmark = [pytest.mark.sandbox, pytest.mark.sandbox_only, pytest.mark.slow, pytest.mark.timeout(3600)]

PREFIX = "closure"


@pytest.fixture(scope="module")
def origin(sandbox_host: dict) -> Iterator[object]:
    """The closure tests' dependency graph, served on loopback (the sandbox host shares it)."""
    from closure.graph import build_corpus
    from support.fakeorigin import running_origin

    with running_origin(build_corpus(), host="127.0.0.1") as server:
        yield server


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """inventory/sandbox plus the closure settings: the requirements file is shipped from here."""
    base = tmp_path_factory.mktemp("closure")
    (base / "requirements.txt").write_text("# the services' requirements\napp\n")
    copy = base / "sandbox-closure"
    shutil.copytree(ROOT / "inventory" / "sandbox", copy)
    # Appended to the sync service's own settings file: a file of its own named before it would lose to it.
    settings = copy / "group_vars" / "devserver" / "sync_service.yml"
    text = settings.read_text().replace("sync_service_target: s3://{{ cloudpypi_bucket_name }}\n", "")
    assert "\nsync_service_target:" not in text, text
    settings.write_text(
        text
        + f"sync_service_target: s3://{BUCKET}/{PREFIX}\n"
        + f"sync_service_closure_requirements_files: [{json.dumps(str(base / 'requirements.txt'))}]\n"
        + 'sync_service_closure_pythons: ["3.11", "3.12", "3.13"]\n'
        + "sync_service_closure_platforms: [manylinux_2_28_x86_64, manylinux_2_28_aarch64]\n"
        + "sync_service_processes: 2\n")
    return copy


@pytest.fixture(scope="module")
def fab_env(sandbox_host: dict, origin: object, inventory: Path) -> dict[str, str]:
    return sandbox_fab_env(sandbox_host, origin.url, inventory)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def deployed(fab_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    run = fab(fab_env, "deploy", "--refresh-forecast")
    assert run.returncode == 0, f"fab deploy with the closure settings failed: {explain(run)}"
    return run


@pytest.fixture(scope="module")
def synced(deployed: subprocess.CompletedProcess[str], fab_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    run = fab(fab_env, "sync")
    assert run.returncode == 0, f"fab sync of the closure failed: {explain(run)}"
    return run


def test_the_budget_gate_forecasts_the_closure_from_a_dry_run_plan_and_lets_it_deploy(deployed) -> None:
    out = " ".join(deployed.stdout.split())  # Ansible's YAML output folds long lines
    assert "is within the budget of $500.00 a month (USD)" in out, explain(deployed)
    assert "a dry-run plan of the closure against http://127.0.0.1" in out, explain(deployed)


def test_the_closure_syncs_on_the_host_into_the_bucket_with_only_the_closures_projects(synced, fab_env) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=fab_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id=DUMMY_KEYS["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=DUMMY_KEYS["AWS_SECRET_ACCESS_KEY"])
    listing = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
               for o in page.get("Contents", [])]
    keys = [key for key in listing if key.startswith(f"{PREFIX}/simple/")]
    projects = {key.split("/")[2] for key in keys if key.count("/") >= 3}
    assert {"app", "liba", "libb", "speedup", "cyc-a", "cyc-b", "modern", "oldpy-compat"} <= projects, \
        f"expected the closure's pages under s3://{BUCKET}/{PREFIX}/simple/; the bucket holds {listing[:40]}"
    assert not projects & {"unrelated", "broken", "winonly", "slowdep"}, f"outside the closure: {projects}"
    root = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/simple/index.html")["Body"].read().decode()
    assert "unrelated" not in root


def test_fab_closure_prints_the_plan_from_the_dev_server(synced, fab_env) -> None:
    run = fab(fab_env, "closure")
    assert run.returncode == 0, explain(run)
    for text in ("environment(s)", "total: ", " file(s)", " bytes", "monthly cost: $"):
        assert text in run.stdout, f"expected {text!r}: {explain(run)}"
    assert "app" in run.stdout and "unrelated" not in run.stdout


def test_fab_why_shows_the_requirement_chain_and_exits_1_outside_the_closure(synced, fab_env) -> None:
    run = fab(fab_env, "why", "speedup")
    assert run.returncode == 0, explain(run)
    assert "stored by the last sync" in run.stdout, explain(run)
    assert "requirement app -> app 2.0 -> libb[fast]>=1 -> libb[fast] 1.0 -> speedup>=1 -> speedup 1.1" \
        in run.stdout, explain(run)
    outside = fab(fab_env, "why", "unrelated")
    assert outside.returncode == 1, explain(outside)
    assert "unrelated is not in the closure mirror" in outside.stderr, explain(outside)
