"""Bundles end to end: the real CLI exporting from a mirror synced off the fake origin, and importing into
another folder or a bucket on a real moto server; the rebuilt mirror is compared object by object."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from engine.conftest import cloudpypi

GRACE0 = "[mirror]\ndeletion_grace = 0\n"


def _config(tmp_path: Path, text: str = GRACE0) -> str:
    path = tmp_path / "grace0.toml"
    path.write_text(text)
    return str(path)


def sync(origin, target: str, tmp_path: Path, env=None):
    run = cloudpypi("sync", "--origin", origin.url, "--target", target, "--no-progress", "--config", _config(tmp_path),
                    env=env, report=tmp_path / "report.json")
    assert run.returncode == 0, run
    return run


def export(target: str, since: int, out: Path, env=None):
    return cloudpypi("export", "--target", target, "--since", str(since), "--out", str(out), env=env)


def import_(bundle: Path, target: str, tmp_path: Path, env=None):
    return cloudpypi("import", "--bundle", str(bundle), "--target", target, "--config", _config(tmp_path), env=env)


def folder_objects(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for area in ("simple", "packages")
            for p in sorted((root / area).rglob("*")) if p.is_file()}


def bucket_objects(moto, bucket: str, prefix: str) -> dict[str, bytes]:
    s3 = moto.client("s3")
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", ()):
            key = item["Key"][len(prefix):]
            if key.startswith(("simple/", "packages/")):
                found[key] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return found


def assert_same(expected: dict[str, bytes], actual: dict[str, bytes]) -> None:
    assert sorted(actual) == sorted(expected), (
        f"missing {sorted(set(expected) - set(actual))}, extra {sorted(set(actual) - set(expected))}")
    different = [k for k in expected if expected[k] != actual[k]]
    assert not different, f"objects with other bytes: {different}"


def members(bundle: Path) -> dict[str, bytes]:
    with tarfile.open(bundle) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def manifest(bundle: Path) -> dict:
    return json.loads(members(bundle)["cloudpypi-bundle.json"])


def state_serial(target: Path) -> int | None:
    import sqlite3

    db = sqlite3.connect(target / ".cloudpypi" / "state.sqlite")
    row = db.execute("SELECT value FROM meta WHERE key='serial'").fetchone()
    db.close()
    return int(row[0]) if row else None


def change_origin(corpus) -> None:
    """A new release, a file removed upstream, a project removed, a new project."""
    corpus.add_release("idna", "3.2", files=["py3-none-any", "sdist"])
    corpus.remove_file("Foo.Bar", "foo_bar-1.1-cp312-cp312-win_amd64.whl")
    corpus.remove_project("tiny_pkg")
    corpus.add_project("newcomer", [{"version": "0.1", "files": ["py3-none-any"]}])


def test_full_then_incremental_bundle_rebuild_an_identical_folder_mirror(origin, tmp_path):
    source, copy = tmp_path / "source", tmp_path / "copy"
    sync(origin, str(source), tmp_path)
    full = tmp_path / "full.tar"
    run = export(str(source), 0, full)
    assert run.returncode == 0, run
    assert manifest(full)["since"] == 0 and manifest(full)["to"] == state_serial(source)
    run = import_(full, str(copy), tmp_path)
    assert run.returncode == 0, run
    assert_same(folder_objects(source), folder_objects(copy))
    assert state_serial(copy) == state_serial(source)

    first_files = {k for k in members(full) if k.startswith("packages/")}
    change_origin(origin.corpus)
    sync(origin, str(source), tmp_path)
    incremental = tmp_path / "incremental.tar"
    run = export(str(source), state_serial(copy), incremental)  # type: ignore[arg-type]
    assert run.returncode == 0, run
    carried = {k for k in members(incremental) if k.startswith("packages/")}
    assert carried, "the incremental bundle carries the new files"
    assert not carried & first_files, f"files the full bundle carried came again: {sorted(carried & first_files)}"
    assert all("idna-3.2" in k or "idna_3.2" in k or "newcomer" in k for k in carried), sorted(carried)
    data = manifest(incremental)
    assert data["removed"] == ["tiny-pkg"], data["removed"]
    assert sorted(p["name"] for p in data["projects"]) == ["foo-bar", "idna", "newcomer"]

    run = import_(incremental, str(copy), tmp_path)
    assert run.returncode == 0, run
    assert_same(folder_objects(source), folder_objects(copy))
    assert state_serial(copy) == state_serial(source)

    again = import_(incremental, str(copy), tmp_path)  # idempotent
    assert again.returncode == 0 and "nothing to import" in again.stdout, again
    assert_same(folder_objects(source), folder_objects(copy))


def test_bundles_rebuild_a_folder_mirror_in_a_bucket_and_back(origin, moto, bucket, tmp_path):
    source = tmp_path / "source"
    env = moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(tmp_path / "state")})
    sync(origin, str(source), tmp_path)
    full = tmp_path / "full.tar"
    assert export(str(source), 0, full).returncode == 0
    s3_target = f"s3://{bucket}/mirror"
    run = import_(full, s3_target, tmp_path, env=env)
    assert run.returncode == 0, run
    assert_same(folder_objects(source), bucket_objects(moto, bucket, "mirror/"))
    head = moto.client("s3").head_object(Bucket=bucket, Key="mirror/simple/idna/index.v1_json")
    assert head["ContentType"] == "application/vnd.pypi.simple.v1+json"

    serial = state_serial(source)
    change_origin(origin.corpus)
    sync(origin, str(source), tmp_path)
    incremental = tmp_path / "incremental.tar"
    assert export(str(source), serial, incremental).returncode == 0  # type: ignore[arg-type]
    run = import_(incremental, s3_target, tmp_path, env=env)
    assert run.returncode == 0, run
    assert_same(folder_objects(source), bucket_objects(moto, bucket, "mirror/"))

    # and back: the bucket exports a full bundle that rebuilds the folder mirror byte for byte
    back = tmp_path / "back.tar"
    run = export(s3_target, 0, back, env=env)
    assert run.returncode == 0, run
    elsewhere = tmp_path / "elsewhere"
    assert import_(back, str(elsewhere), tmp_path).returncode == 0
    assert_same(folder_objects(source), folder_objects(elsewhere))
