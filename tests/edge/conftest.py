"""Fixtures for the edge tests: the function file, node, and a moto server (S3 + CloudFront)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_JS = ROOT / "roles" / "mirror_cdn" / "files" / "viewer-request.js"
HARNESS_JS = Path(__file__).with_name("run_function.js")
CASES_JSON = Path(__file__).with_name("cases.json")

DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "AKIAEDGETESTS0000000",
    "AWS_SECRET_ACCESS_KEY": "edge-tests-dummy-secret-key-0123456789abcdef",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed: the CloudFront function cannot be run")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(url: str, process: subprocess.Popen[bytes], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url + "/moto-api/", timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling the real condition (the HTTP endpoint answers), not a fixed wait
    raise RuntimeError(f"moto_server did not answer on {url} within {deadline_s} s")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real moto server on a free loopback port; AWS_* env point at it for the whole session."""
    exe = shutil.which("moto_server")
    if exe is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_until_ready(url, process, 30)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture()
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Process environment for boto3 (in-process and in subprocesses) aimed at the moto server."""
    env = {**DUMMY_AWS, "AWS_ENDPOINT_URL": moto_endpoint}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return dict(os.environ)


@pytest.fixture()
def bucket(aws_env: dict[str, str], request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty bucket on the moto server; its name is unique per test."""
    import boto3

    name = "edge-" + "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:40].strip("-")
    name = f"{name}-{os.getpid() % 10000}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)
    yield name
    with contextlib.suppress(Exception):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for item in page.get("Contents", ()):
                client.delete_object(Bucket=name, Key=item["Key"])
        client.delete_bucket(Bucket=name)


@pytest.fixture()
def distribution_id(aws_env: dict[str, str]) -> str:
    """A CloudFront distribution on the moto server (moto keeps invalidations per distribution)."""
    import boto3

    client = boto3.client("cloudfront")
    reference = f"edge-tests-{time.monotonic_ns()}"
    config = {
        "CallerReference": reference,
        "Comment": "cloudpypi edge tests",
        "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{
            "Id": "mirror", "DomainName": "mirror.s3.us-east-1.amazonaws.com",
            "S3OriginConfig": {"OriginAccessIdentity": ""},
        }]},
        "DefaultCacheBehavior": {
            "TargetOriginId": "mirror", "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
        },
    }
    return str(client.create_distribution(DistributionConfig=config)["Distribution"]["Id"])
