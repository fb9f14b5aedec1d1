"""Write-once package files on S3, against a real moto server: every new object under packages/ is
created with If-None-Match: *, single-part and multipart.  moto answers the condition as S3 does
(412 on an existing key, success after a delete marker), so what the engine does with the answer is
observable: an object that is already there is never overwritten, whatever the bytes."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest

from cloudpypi.errors import StorageError
from cloudpypi.storage.s3 import MULTIPART_CHUNK, S3Storage
from engine.conftest import cloudpypi
from support.stagedfiles import publish

SMALL = b"small wheel bytes " * 100
LARGE = os.urandom(1 << 16) * ((MULTIPART_CHUNK >> 16) + 16)  # 17 MiB: two parts, with the threshold below


@pytest.fixture
def s3(moto, monkeypatch, tmp_path):
    """An S3Storage over a fresh versioned bucket (each write leaves a version to count)."""
    for key, value in moto.env({}).items():
        monkeypatch.setenv(key, value)
    bucket = f"write-once-{uuid.uuid4().hex[:10]}"
    client = moto.client("s3")
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    storage = S3Storage(f"s3://{bucket}", spool_dir=str(tmp_path / "spool"))
    storage.multipart_threshold = MULTIPART_CHUNK  # LARGE takes the multipart path (one PUT goes up to 5 GiB)
    yield storage, client, bucket
    storage.close()



def versions(client, bucket: str, key: str) -> list[dict]:
    answer = client.list_object_versions(Bucket=bucket, Prefix=key)
    return [v for v in answer.get("Versions", []) if v["Key"] == key]


def stored(client, bucket: str, key: str) -> bytes:
    return client.get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["single-part", "multipart"])
def test_a_package_file_published_again_is_not_written_again(s3, data):
    storage, client, bucket = s3
    key = "packages/aa/bb/cc/pkg-1.0-py3-none-any.whl"
    publish(storage, key, data)
    publish(storage, key, data)  # 412 from S3: the same bytes are there, so the run carries on
    assert len(versions(client, bucket, key)) == 1, "expected the second publish refused by If-None-Match"
    assert stored(client, bucket, key) == data
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads"), "expected no upload left open"


@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["single-part", "multipart"])
def test_other_bytes_under_a_package_key_are_a_clear_error_and_stay_untouched(s3, data):
    storage, client, bucket = s3
    key = "packages/aa/bb/cc/pkg-1.0-py3-none-any.whl"
    client.put_object(Bucket=bucket, Key=key, Body=b"planted by someone else")
    with pytest.raises(StorageError, match=r"already holds other bytes.*write-once.*verify --origin"):
        publish(storage, key, data)
    assert stored(client, bucket, key) == b"planted by someone else", "expected the existing object not overwritten"
    assert len(versions(client, bucket, key)) == 1
    assert not client.list_multipart_uploads(Bucket=bucket).get("Uploads"), "expected the refused upload aborted"


def test_delete_then_create_restores_a_package_file_on_a_versioned_bucket(s3):
    storage, client, bucket = s3
    key = "packages/aa/bb/cc/pkg-1.0.tar.gz"
    client.put_object(Bucket=bucket, Key=key, Body=b"tampered")
    storage.delete(key)  # a delete marker: the key is free again for a conditional create
    publish(storage, key, SMALL)
    assert stored(client, bucket, key) == SMALL
    assert len(versions(client, bucket, key)) == 2, "expected the tampered version kept as history"


def test_pages_and_state_are_not_write_once(s3):
    storage, client, bucket = s3
    for data in (b"[1]", b"[2]"):
        storage.write_bytes("simple/pkg/index.v1_json", data, content_type="application/json")
        publish(storage, "simple/index.v1_json", data)  # the root index is streamed through publish
    assert stored(client, bucket, "simple/pkg/index.v1_json") == b"[2]"
    assert stored(client, bucket, "simple/index.v1_json") == b"[2]"


def test_content_sha256_hashes_the_bytes_not_the_writers_metadata(s3):
    storage, client, bucket = s3
    key = "packages/aa/bb/cc/pkg-1.0.tar.gz"
    client.put_object(Bucket=bucket, Key=key, Body=b"tampered",
                      Metadata={"sha256": hashlib.sha256(SMALL).hexdigest()})
    assert storage.stat(key).sha256 == hashlib.sha256(SMALL).hexdigest(), "the metadata lies, as planted"
    assert storage.content_sha256(key) == (hashlib.sha256(b"tampered").hexdigest(), len(b"tampered"))
    assert storage.content_sha256("packages/none") is None


def test_sync_refuses_to_overwrite_other_bytes_planted_under_a_package_key(origin, bucket, moto, tmp_path: Path):
    client = moto.client("s3")
    spec = next(s for s in origin.corpus.all_specs() if "tiny_pkg" in s.url_path)
    key = "pypi" + spec.url_path
    client.put_object(Bucket=bucket, Key=key, Body=b"planted")
    run = cloudpypi("sync", "--origin", origin.url, "--target", f"s3://{bucket}/pypi", "--no-progress",
                    env=moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(tmp_path / "state")}),
                    report=tmp_path / "r.json")
    assert run.returncode == 1 and "tiny-pkg" in run.stdout and "write-once" in run.stdout, run
    assert stored(client, bucket, key) == b"planted", "expected the planted object left for verify --origin"


def test_content_sha256_trusts_only_a_full_object_checksum_computed_by_s3(tmp_path, monkeypatch):
    """moto neither returns nor validates ChecksumSHA256, so S3's answers are stubbed here (botocore Stubber):
    a FULL_OBJECT SHA-256 (S3 refuses a PUT whose bytes do not match it) is used without a download; a
    COMPOSITE one (a checksum of multipart parts' checksums) is not a file digest, so the bytes are read."""
    import base64
    import io
    from datetime import UTC, datetime

    from botocore.response import StreamingBody
    from botocore.stub import Stubber

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIACLOUDPYPITESTKEY01")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cloudpypi-test-secret-key-not-a-real-credential-0123456789")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    storage = S3Storage("s3://stubbed-bucket", spool_dir=str(tmp_path), direct=False)  # botocore, stubbed
    digest = hashlib.sha256(SMALL).digest()
    head = {"ContentLength": len(SMALL), "LastModified": datetime.now(UTC), "ETag": '"x"'}
    expected = {"Bucket": "stubbed-bucket", "Key": "packages/a.whl", "ChecksumMode": "ENABLED"}
    with Stubber(storage.client) as stub:
        stub.add_response("head_object", {**head, "ChecksumSHA256": base64.b64encode(digest).decode(),
                                          "ChecksumType": "FULL_OBJECT"}, expected)
        assert storage.content_sha256("packages/a.whl") == (digest.hex(), len(SMALL))
        stub.assert_no_pending_responses()  # no GET: S3's own digest of the bytes was enough

        stub.add_response("head_object", {**head, "ChecksumSHA256": base64.b64encode(b"\1" * 32).decode() + "-2",
                                          "ChecksumType": "COMPOSITE"}, expected)
        stub.add_response("get_object", {"Body": StreamingBody(io.BytesIO(b"tampered"), 8), "ContentLength": 8},
                          {"Bucket": "stubbed-bucket", "Key": "packages/a.whl"})
        assert storage.content_sha256("packages/a.whl") == (hashlib.sha256(b"tampered").hexdigest(), 8)
        stub.assert_no_pending_responses()
    storage.close()
