"""Fixtures for the edge tests: the function file, node, and AWS (S3, CloudFront) on the root moto server."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.motoserver import MotoServer

ROOT = Path(__file__).resolve().parents[2]
FUNCTION_JS = ROOT / "roles" / "mirror_cdn" / "files" / "viewer-request.js"
HARNESS_JS = Path(__file__).with_name("run_function.js")
CASES_JSON = Path(__file__).with_name("cases.json")


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed: the CloudFront function cannot be run")
    return path


@pytest.fixture()
def aws_env(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This process's environment aimed at the moto server (boto3 in-process and in subprocesses)."""
    env = moto.env(os.environ)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    return dict(os.environ)


@pytest.fixture()
def bucket(aws_env: dict[str, str]) -> Iterator[str]:
    """A fresh, empty bucket on the moto server, deleted afterwards."""
    import boto3

    name = f"edge-{uuid.uuid4().hex[:16]}"
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
