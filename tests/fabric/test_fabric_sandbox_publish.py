"""`fab publish` end to end on the local sandbox: private distributions built here, staged on the booted
Debian host and uploaded through the service's runner into the bucket on moto; then `fab sync` against a
fake origin that has the private name too, with a higher version, keeps the origin's files out.

The sandbox is reused when it is already up, otherwise started here and stopped after.  Where it cannot
run the tests skip with the reason; under CI=true they fail instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.dists import sdist, wheel

pytestmark = [pytest.mark.sandbox, pytest.mark.sandbox_only, pytest.mark.slow, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = [sys.executable, str(ROOT / "scripts" / "sandbox" / "sandbox.py")]
FAB = str(Path(sys.executable).parent / "fab")
BUCKET = "cloudpypi-sandbox-mirror"  # inventory/sandbox/group_vars/all/sandbox.yml
DUMMY_KEYS = {"AWS_ACCESS_KEY_ID": "sandbox-dummy-access-key-id",
              "AWS_SECRET_ACCESS_KEY": "sandbox-dummy-secret-access-key"}  # moto accepts anything


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true but the sandbox cannot run here: {reason}", pytrace=False)
    pytest.skip(f"sandbox unavailable: {reason}")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[dict]:
    check = subprocess.run([*SANDBOX, "check"], capture_output=True, text=True, check=False)
    if check.returncode != 0:
        _unavailable(check.stdout.strip() or check.stderr.strip())
    status = subprocess.run([*SANDBOX, "status", "--json"], capture_output=True, text=True, check=False)
    if status.returncode == 0:
        yield json.loads(status.stdout)
        return
    up = subprocess.run([*SANDBOX, "up", "--json"], capture_output=True, text=True, check=False, timeout=900)
    try:
        if up.returncode != 0:
            pytest.fail(f"sandbox.py up failed (exit {up.returncode}):\n{up.stderr[-3000:]}", pytrace=False)
        yield json.loads(up.stdout)
    finally:
        subprocess.run([*SANDBOX, "down"], capture_output=True, text=True, check=False, timeout=300)


@pytest.fixture(scope="module")
def origin(sandbox: dict) -> Iterator[object]:
    from support.fakeorigin import Corpus, running_origin

    corpus = Corpus()
    corpus.add_project("fab-demo", [{"version": "1.0", "files": ["py3-none-any"]}])
    corpus.add_project("acme-utils", [{"version": "99.0", "files": ["py3-none-any"]}])  # the confusing one
    with running_origin(corpus, host="127.0.0.1") as server:
        yield server


def fab(env: dict[str, str], *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([FAB, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def explain(run: subprocess.CompletedProcess[str]) -> str:
    return f"exit {run.returncode}\n--- stdout\n{run.stdout[-4000:]}\n--- stderr\n{run.stderr[-4000:]}"


@pytest.fixture(scope="module")
def deployed(sandbox: dict, origin: object) -> dict[str, str]:
    env = dict(os.environ)
    env.update(CLOUDPYPI_INVENTORY="inventory/sandbox", AWS_ENDPOINT_URL=sandbox["moto_url"],
               AWS_DEFAULT_REGION="us-east-1", CLOUDPYPI_SANDBOX_ORIGIN=origin.url,  # type: ignore[attr-defined]
               **DUMMY_KEYS)
    env.pop("AWS_PROFILE", None)
    run = fab(env, "deploy", timeout=1800)
    assert run.returncode == 0, f"fab deploy failed: {explain(run)}"
    return env


def s3(env: dict[str, str]):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id=DUMMY_KEYS["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=DUMMY_KEYS["AWS_SECRET_ACCESS_KEY"])


def private_page(env: dict[str, str]) -> dict:
    return json.loads(s3(env).get_object(Bucket=BUCKET, Key="simple/acme-utils/index.v1_json")["Body"].read())


def test_fab_publish_uploads_through_the_service_and_a_sync_keeps_the_origins_files_out(
        deployed, origin, tmp_path) -> None:
    dists = tmp_path / "dist"
    dists.mkdir()
    built = [wheel(dists, "acme-utils", "1.0", marker="private"), sdist(dists, "acme-utils", "1.0")]
    run = fab(deployed, "publish", f"{dists}/*")
    assert run.returncode == 0, f"fab publish failed: {explain(run)}"
    page = private_page(deployed)
    assert sorted(f["filename"] for f in page["files"]) == sorted(p.name for p in built), page
    for entry in page["files"]:
        key = entry["url"].removeprefix("../../")
        assert key.startswith("packages/private/acme-utils/"), key
        body = s3(deployed).get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == (dists / entry["filename"]).read_bytes()

    again = fab(deployed, "publish", f"{dists}/*")
    assert again.returncode == 0 and "unchanged" in again.stdout, explain(again)

    other = tmp_path / "other"
    other.mkdir()
    refused = fab(deployed, "publish", str(wheel(other, "acme-utils", "1.0", marker="other")))
    assert refused.returncode == 2, f"expected other bytes under a published filename refused: {explain(refused)}"
    assert "never reused" in refused.stdout + refused.stderr, explain(refused)

    synced = fab(deployed, "sync", "--origin", origin.url)  # type: ignore[attr-defined]
    assert synced.returncode == 0, f"fab sync failed: {explain(synced)}"
    assert sorted(f["filename"] for f in private_page(deployed)["files"]) == sorted(p.name for p in built), \
        "the origin's acme-utils 99.0 must stay out of the private project"
    assert "COLLISION" in synced.stdout and "acme-utils" in synced.stdout, explain(synced)
    s3(deployed).head_object(Bucket=BUCKET, Key="simple/fab-demo/index.v1_json")  # public projects still mirror
