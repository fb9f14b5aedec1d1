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


def _unit(host, *names: str) -> dict[str, str]:
    out = host.check_output(f"systemctl show cloudpypi-sync.service --property={','.join(names)}")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def test_a_start_while_a_run_is_active_starts_no_second_run(sandbox_only, host, origin, bucket, inventory,
                                                            play_env):
    """What the timer does when it elapses during a long run (a start request for the unit) is a no-op
    while the oneshot unit is still activating: one run, one process, the same main pid to the end."""
    import time

    with host.sudo():
        config = host.file("/etc/cloudpypi/mirror.toml").content_string
    if origin.url not in config:
        run = run_playbook("playbooks/devserver.yml", inventory, play_env, "--tags", "config")
        assert run.ok, f"re-rendering the config failed:\n{run.tail()}"
        with host.sudo():
            config = host.file("/etc/cloudpypi/mirror.toml").content_string
    assert "stall_timeout = 1800" in config, f"expected the watchdog configured in mirror.toml:\n{config}"
    origin.corpus.add_project("slow-overlap", [{"version": "1.0", "files": [("py3-none-any", 1_500_000)]}])
    rule = origin.faults.add("slow", on=("file",), path="slow_overlap", bandwidth=100_000)  # about 15 s
    try:
        with host.sudo():
            assert _unit(host, "TimeoutStartUSec")["TimeoutStartUSec"] == "infinity"
            host.check_output("systemctl start --no-block cloudpypi-sync.service")
            deadline = time.monotonic() + 120
            while _unit(host, "ActiveState")["ActiveState"] != "activating" and time.monotonic() < deadline:
                time.sleep(0.2)
            first = _unit(host, "ActiveState", "MainPID")
            assert first["ActiveState"] == "activating", f"expected the run in progress, got {first}"
            host.check_output("systemctl start --no-block cloudpypi-sync.service")  # as the timer would
            time.sleep(1)  # not readiness: the time a wrongly started second run would need to show
            during = _unit(host, "ActiveState", "MainPID")
            processes = host.run("pgrep -u cloudpypi -f 'cloudpypi sync'").stdout.split()
            assert during == first and len(processes) == 1, (
                f"expected the same single run, got {during} (was {first}) and processes {processes}")
            while _unit(host, "ActiveState")["ActiveState"] == "activating" and time.monotonic() < deadline + 120:
                time.sleep(0.5)
            after = _unit(host, "ActiveState", "Result", "ExecMainPID", "ExecMainStatus")
        assert after["ExecMainPID"] == first["MainPID"] and after["Result"] == "success", (
            f"expected the one run to end well, got {after} (run pid {first['MainPID']})")
        assert after["ActiveState"] == "inactive", f"expected no second run queued behind it, got {after}"
    finally:
        origin.faults.remove(rule)
