"""End to end: the real CLI syncing into an S3 bucket on a real moto server."""

from __future__ import annotations

import hashlib
import json
import os

from cloudpypi.pages import parse_mirror_json
from engine.conftest import cloudpypi


def sync(origin, bucket, moto, tmp_path, *extra):
    # os.environ carries PYTHONPATH (tests/conftest.py): without it the child would import whatever
    # cloudpypi the interpreter has installed, not this checkout's.
    env = moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(tmp_path / "state")})
    return cloudpypi("sync", "--origin", origin.url, "--target", f"s3://{bucket}/pypi", "--no-progress", *extra,
                     env=env, report=tmp_path / "r.json")


def test_s3_objects_carry_content_types_cache_control_and_sha256(origin, bucket, moto, tmp_path):
    run = sync(origin, bucket, moto, tmp_path)
    assert run.returncode == 0, run
    s3 = moto.client("s3")
    expected = {
        "pypi/simple/index.html": "text/html; charset=utf-8",
        "pypi/simple/index.v1_json": "application/vnd.pypi.simple.v1+json",
        "pypi/simple/idna/index.html": "text/html; charset=utf-8",
        "pypi/simple/idna/index.v1_html": "application/vnd.pypi.simple.v1+html",
        "pypi/simple/idna/index.v1_json": "application/vnd.pypi.simple.v1+json",
    }
    for key, content_type in expected.items():
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentType"] == content_type, f"{key}: {head['ContentType']}"
        assert head["CacheControl"] == "max-age=600", f"{key}: {head.get('CacheControl')}"
    page = parse_mirror_json(s3.get_object(Bucket=bucket, Key="pypi/simple/idna/index.v1_json")["Body"].read(),
                             "idna")
    for item in page.files:
        head = s3.head_object(Bucket=bucket, Key=f"pypi/{item.key}")
        assert head["ContentType"] == "application/zip" if item.filename.endswith(".whl") else "application/gzip"
        assert head["CacheControl"] == "max-age=31536000, immutable"
        assert head["Metadata"]["sha256"] == item.sha256
        body = s3.get_object(Bucket=bucket, Key=f"pypi/{item.key}")["Body"].read()
        assert hashlib.sha256(body).hexdigest() == item.sha256
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert "pypi/.cloudpypi/state.sqlite" in keys, "the state must live in the bucket, outside simple/ and packages/"
    assert not any(k.startswith("pypi/.cloudpypi/lock") for k in keys), "the lock must be released"


def test_s3_mirror_continues_from_another_host_and_noop_costs_one_request(origin, bucket, moto, tmp_path):
    assert sync(origin, bucket, moto, tmp_path / "host-a").returncode == 0
    origin.counters.reset()
    run = sync(origin, bucket, moto, tmp_path / "host-b")  # a fresh state dir: state comes from the bucket
    assert run.returncode == 0, run
    assert origin.counters.total() == 1, origin.counters.summary()
    origin.corpus.add_release("idna", "4.0", files=["py3-none-any"])
    run = sync(origin, bucket, moto, tmp_path / "host-a")  # host A's local copy is stale: it must notice
    assert run.returncode == 0 and run.report["files_added"] == 1, run


def test_s3_verify_uses_metadata_and_repair_fixes_a_damaged_object(origin, bucket, moto, tmp_path):
    assert sync(origin, bucket, moto, tmp_path).returncode == 0
    env = moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(tmp_path / "state")})
    target = f"s3://{bucket}/pypi"
    config = tmp_path / "verify.toml"  # the origin that --repair re-fetches from (--origin checks against it)
    config.write_text(f'[mirror]\norigin = "{origin.url}"\n')
    ok = cloudpypi("verify", "--target", target, "--config", str(config), env=env)
    assert ok.returncode == 0, ok
    s3 = moto.client("s3")
    page = parse_mirror_json(s3.get_object(Bucket=bucket, Key="pypi/simple/foo-bar/index.v1_json")["Body"].read(),
                             "foo-bar")
    s3.delete_object(Bucket=bucket, Key=f"pypi/{page.files[0].key}")
    bad = cloudpypi("verify", "--target", target, "--config", str(config), env=env)
    assert bad.returncode == 1 and "missing" in bad.stdout, bad
    fixed = cloudpypi("verify", "--target", target, "--config", str(config), "--repair", env=env)
    assert fixed.returncode == 0, fixed
    status = cloudpypi("status", "--target", target, "--origin", origin.url, "--json", env=env)
    assert json.loads(status.stdout)["lag"] == 0, status


def test_s3_noop_sync_uploads_the_state_once(origin, bucket, moto, tmp_path):
    assert sync(origin, bucket, moto, tmp_path).returncode == 0
    s3 = moto.client("s3")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})  # count the PUTs
    run = sync(origin, bucket, moto, tmp_path)
    assert run.returncode == 0, run
    listed = s3.list_object_versions(Bucket=bucket, Prefix="pypi/.cloudpypi/state.sqlite").get("Versions", [])
    uploads = [v for v in listed if v["VersionId"] != "null"]  # "null": the version from before versioning
    assert len(uploads) == 1, f"expected a no-op sync to upload the state once (its last run), got {len(uploads)}"
