"""How a verified file goes up to S3, against a real moto server: one PutObject up to S3's 5 GiB limit,
carrying the SHA-256 its download was verified against, and no second hash of the body for the
signature.  The requests are observed as they reach the endpoint (the fault proxy in front of moto
records them), both for the engine's direct requests and with every call sent through botocore."""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from cloudpypi.storage.s3 import MULTIPART_CHUNK, S3Storage
from support.faultproxy import running_fault_proxy
from support.stagedfiles import publish

BIG = os.urandom(1 << 16) * ((MULTIPART_CHUNK >> 16) + 16)  # 17 MiB: over one multipart part


@pytest.fixture(params=["direct", "botocore"])
def s3(request, moto, monkeypatch, tmp_path):
    with running_fault_proxy(moto.url) as proxy:
        for key, value in moto.env({}).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        bucket = f"upload-{uuid.uuid4().hex[:10]}"
        client = moto.client("s3")
        client.create_bucket(Bucket=bucket)
        storage = S3Storage(f"s3://{bucket}", spool_dir=str(tmp_path / "spool"), direct=request.param == "direct")
        sent = _Sent(proxy)
        yield storage, client, bucket, sent
        storage.close()


class _Sent:
    """(method and query, headers) of every request the proxy saw, as a list."""

    def __init__(self, proxy) -> None:
        self.proxy = proxy

    def __iter__(self):
        return iter([(f"{seen.method} {seen.path.partition('?')[2]}", seen.headers) for seen in self.proxy.seen])

    def __repr__(self) -> str:
        return repr(list(self))



def test_a_file_over_one_part_goes_up_in_one_put_checked_against_its_verified_sha256(s3):
    storage, client, bucket, sent = s3
    key = "packages/aa/bb/cc/big-1.0-py3-none-any.whl"
    digest = publish(storage, key, BIG)
    puts = [headers for line, headers in sent if line.startswith("PUT")]
    assert len(puts) == 1 and not any("uploads" in line for line, _ in sent), f"expected one PutObject, got {sent}"
    assert puts[0]["x-amz-checksum-sha256"] == base64.b64encode(bytes.fromhex(digest)).decode()
    assert puts[0]["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD", "expected the body not hashed again to sign it"
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == BIG
    assert storage.stat(key).sha256 == digest


def test_a_file_over_the_multipart_threshold_still_goes_up_in_parts(s3):
    storage, client, bucket, sent = s3
    storage.multipart_threshold = MULTIPART_CHUNK
    key = "packages/aa/bb/cc/big-1.0-py3-none-any.whl"
    publish(storage, key, BIG)
    parts = [headers for line, headers in sent if "partNumber=" in line]
    assert len(parts) == 2 and all("x-amz-checksum-sha256" in headers for headers in parts), sent
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == BIG


def test_every_put_carries_a_checksum_header_when_the_body_is_left_unsigned(s3):
    storage, _client, _bucket, sent = s3
    storage.write_bytes("simple/pkg/index.html", b"<html></html>", content_type="text/html")
    assert storage.create_exclusive(".cloudpypi/lock.json", b"{}")
    etag = storage.stat(".cloudpypi/lock.json").etag
    assert storage.replace_if_unchanged(".cloudpypi/lock.json", b'{"a": 1}', etag)
    puts = [headers for line, headers in sent if line.startswith("PUT")]
    assert len(puts) == 3
    for headers in puts:
        assert any(name.startswith("x-amz-checksum-") for name in headers), f"no checksum header in {headers}"
