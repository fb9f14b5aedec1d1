"""A manual run of the sync service on the sandbox host: a loopback origin into the bucket on moto."""

from __future__ import annotations

import json

import pytest

from support.sandboxhost import run_playbook

pytestmark = [pytest.mark.sandbox, pytest.mark.sandbox_only, pytest.mark.slow]

BUCKET = "cloudpypi-sandbox-mirror"  # inventory/sandbox/group_vars/all/sandbox.yml


@pytest.fixture()
def bucket(aws_env):
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"])
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if BUCKET not in existing:
        s3.create_bucket(Bucket=BUCKET)
    return s3


def test_manual_service_run_mirrors_the_loopback_origin_into_moto(
        sandbox_only, host, origin, bucket, inventory, play_env):
    with host.sudo():
        config = host.file("/etc/cloudpypi/mirror.toml").content_string
    if origin.url not in config:  # another test deployed with its own origin since: point it back at ours
        run = run_playbook("playbooks/devserver.yml", inventory, play_env, "--tags", "config")
        assert run.ok, f"re-rendering the config failed:\n{run.tail()}"
    with host.sudo():
        started = host.run("systemctl start cloudpypi-sync.service")
        props = host.check_output("systemctl show cloudpypi-sync.service --property=Result,ExecMainStatus")
        journal = host.run("journalctl -u cloudpypi-sync.service -n 30 --no-pager").stdout
    assert started.rc == 0, f"expected the service run to succeed, got exit {started.rc}; journal:\n{journal}"
    assert "Result=success" in props and "ExecMainStatus=0" in props, f"expected success, got {props!r}\n{journal}"

    with host.sudo():  # the reports are not world-readable
        report = json.loads(host.file("/var/lib/cloudpypi/reports/latest.json").content_string)
    assert report["projects_failed"] in (0, []) and not report["failures"], f"expected no failures: {report}"
    assert report["origin"].rstrip("/") == origin.url.rstrip("/"), f"expected origin {origin.url}: {report}"

    for key, content_type in (("simple/index.html", "text/html"), ("simple/sandbox-demo/index.html", "text/html"),
                              ("simple/other-project/index.v1_json", "application/vnd.pypi.simple.v1+json")):
        head = bucket.head_object(Bucket=BUCKET, Key=key)
        assert head["ContentType"].startswith(content_type), (
            f"expected s3://{BUCKET}/{key} with Content-Type {content_type}, got {head['ContentType']}")
    page = bucket.get_object(Bucket=BUCKET, Key="simple/sandbox-demo/index.html")["Body"].read().decode()
    assert "sandbox_demo-1.0" in page, f"expected the project page to link sandbox_demo-1.0 files, got {page[:400]!r}"
