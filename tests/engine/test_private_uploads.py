"""`cloudpypi upload` and `cloudpypi remove`, through the real CLI, into a folder and into S3 on moto.

Every distribution is validated before anything is stored: a refusal exits 2 with one clear line and
leaves the target as it was.  A stored filename is immutable; removal waits for the deletion grace.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import zipfile
from pathlib import Path

import pytest

from cloudpypi.pages import parse_mirror_json
from engine.conftest import cloudpypi
from support.dists import metadata_text, sdist, wheel


def upload(target: Path | str, *dists: Path, config: Path | None = None, env: dict[str, str] | None = None):
    extra = ["--config", str(config)] if config else []
    return cloudpypi("upload", "--target", str(target), *extra, *map(str, dists), env=env)


def page(target: Path, name: str):
    return parse_mirror_json((target / "simple" / name / "index.v1_json").read_bytes(), name)


def written(target: Path) -> list[str]:
    return sorted(str(p.relative_to(target)) for area in ("simple", "packages") for p in (target / area).rglob("*")
                  if p.is_file()) if target.exists() else []


def private_rows(target: Path) -> list[tuple]:
    path = target / ".cloudpypi" / "state.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name='private_files'").fetchone():
            return []
        return db.execute("SELECT filename, name, removed FROM private_files ORDER BY filename").fetchall()


def test_a_wheel_and_an_sdist_are_stored_with_their_metadata_and_listed_on_pages_and_root(tmp_path):
    target = tmp_path / "mirror"
    whl, tgz = wheel(tmp_path, "Acme.Utils", "1.0"), sdist(tmp_path, "acme-utils", "1.0")
    run = upload(target, whl, tgz)
    assert run.returncode == 0, run
    listed = page(target, "acme-utils")
    assert sorted(f.filename for f in listed.files) == sorted([tgz.name, whl.name])
    assert listed.versions == ("1.0",)
    assert not listed.tracks, "a private project kept apart from the origin tracks nothing"
    for item in listed.files:
        assert item.key.startswith("packages/private/acme-utils/"), item.key
        stored = (target / item.key).read_bytes()
        assert hashlib.sha256(stored).hexdigest() == item.sha256
        assert item.size == len(stored)
    wheel_entry = next(f for f in listed.files if f.filename == whl.name)
    metadata = (target / wheel_entry.metadata_key).read_bytes()
    with zipfile.ZipFile(whl) as archive:
        assert metadata == archive.read("acme_utils-1.0.dist-info/METADATA"), "the .metadata is the wheel's METADATA"
    assert wheel_entry.metadata_sha256 == hashlib.sha256(metadata).hexdigest()
    sdist_entry = next(f for f in listed.files if f.filename == tgz.name)
    assert sdist_entry.has_metadata, "an sdist with Metadata-Version 2.2 and nothing dynamic publishes its PKG-INFO"
    html = (target / "simple" / "acme-utils" / "index.html").read_text()
    assert f'data-core-metadata="sha256={wheel_entry.metadata_sha256}"' in html
    root = json.loads((target / "simple" / "index.v1_json").read_bytes())
    assert [p["name"] for p in root["projects"]] == ["acme-utils"]
    assert '<a href="acme-utils/">' in (target / "simple" / "index.html").read_text()
    assert [row[:2] for row in private_rows(target)] == sorted([(tgz.name, "acme-utils"), (whl.name, "acme-utils")])
    status = cloudpypi("status", "--target", str(target), "--offline", "--json")
    assert json.loads(status.stdout)["private_projects"] == ["acme-utils"], status


def test_an_sdist_before_metadata_2_2_is_stored_without_a_metadata_file(tmp_path):
    target = tmp_path / "mirror"
    run = upload(target, sdist(tmp_path, "acme-utils", "1.0", metadata_version="2.1"))
    assert run.returncode == 0, run
    (entry,) = page(target, "acme-utils").files
    assert not entry.has_metadata and not (target / entry.metadata_key).exists()


def _bad_dists(tmp_path: Path) -> dict[str, tuple[list[Path], str]]:
    good = wheel(tmp_path, "acme-utils", "1.0")
    (tmp_path / "other").mkdir()
    not_zip = tmp_path / "acme_utils-2.0-py3-none-any.whl"
    not_zip.write_bytes(b"this is no zip archive at all")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    spaced = tmp_path / "acme utils-1.0-py3-none-any.whl"
    spaced.write_bytes(good.read_bytes())
    (tmp_path / "t").mkdir()
    return {
        "name mismatch": ([wheel(tmp_path / "other", "acme-utils", "1.1", metadata_name="evil-utils")],
                          "its metadata names the project 'evil-utils'"),
        "version mismatch": ([wheel(tmp_path / "other", "acme-utils", "1.2", metadata_version_field="9.9")],
                             "its metadata says version 9.9, its filename 1.2"),
        "not a zip": ([not_zip], "not a valid wheel"),
        "not a distribution": ([text], "not a distribution"),
        "bad wheel filename": ([wheel(tmp_path / "other", "acme-utils", "1.3", filename="acme_utils-1.3.whl")],
                               "not a valid wheel filename"),
        "parent path in wheel": ([wheel(tmp_path / "other", "acme-utils", "1.4",
                                        extra_members={"../../evil.py": b"x"})], "escapes the archive"),
        "absolute path in wheel": ([wheel(tmp_path / "other", "acme-utils", "1.5",
                                          extra_members={"/etc/evil": b"x"})], "escapes the archive"),
        "parent path in sdist": ([sdist(tmp_path / "other", "acme-utils", "1.6",
                                        extra_members={"acme_utils-1.6/../../evil": b"x"})], "escapes the archive"),
        "sdist name not normalized": ([sdist(tmp_path / "other", "acme-utils", "1.7",
                                             filename="acme-utils-1.7.tar.gz")], "PEP 625"),
        "sdist without PKG-INFO folder": ([sdist(tmp_path / "other", "acme-utils", "1.8",
                                                 filename="acme_utils-1.9.tar.gz")], "one top-level folder"),
        "space in the filename": ([spaced], "characters a distribution file never has"),
        "two dist-info": ([wheel(tmp_path / "other", "acme-utils", "2.1", extra_members={
            "other-1.0.dist-info/METADATA": metadata_text("other", "1.0").encode()})], "exactly one"),
        "invalid metadata": ([wheel(tmp_path / "other", "acme-utils", "2.2",
                                    metadata="Metadata-Version: 2.1\nName: acme-utils\n")], "invalid core metadata"),
        "a good file beside a bad one": ([good, not_zip], "not a valid wheel"),
    }


BAD = ["name mismatch", "version mismatch", "not a zip", "not a distribution", "bad wheel filename",
       "parent path in wheel", "absolute path in wheel", "parent path in sdist", "sdist name not normalized",
       "sdist without PKG-INFO folder", "space in the filename", "two dist-info", "invalid metadata",
       "a good file beside a bad one"]


@pytest.mark.parametrize("case", BAD)
def test_a_bad_distribution_is_refused_with_exit_2_and_nothing_written(tmp_path, case):
    dists, fragment = _bad_dists(tmp_path)[case]
    target = tmp_path / "mirror"
    run = upload(target, *dists)
    assert run.returncode == 2, run
    assert fragment in run.stderr, f"expected {fragment!r} in the message:\n{run.stderr}"
    assert len(run.stderr.strip().splitlines()) == 1, f"one clear line, not a traceback:\n{run.stderr}"
    assert written(target) == [], "nothing may be stored or listed"
    assert private_rows(target) == []


def test_a_file_over_the_upload_limit_is_refused(tmp_path):
    config = tmp_path / "mirror.toml"
    config.write_text('[private]\nmax_upload_size = "2KiB"\n')
    big = wheel(tmp_path, "acme-utils", "1.0", extra_members={"acme_utils/data.bin": os.urandom(4096)})
    run = upload(tmp_path / "mirror", big, config=config)
    assert run.returncode == 2 and "over the upload limit" in run.stderr, run
    assert written(tmp_path / "mirror") == []


def test_the_same_filename_with_other_bytes_is_refused_and_the_same_bytes_change_nothing(tmp_path):
    target = tmp_path / "mirror"
    first = wheel(tmp_path, "acme-utils", "1.0", marker="first")
    assert upload(target, first).returncode == 0
    before = {p: (target / p).read_bytes() for p in written(target)}
    mtimes = {p: (target / p).stat().st_mtime_ns for p in written(target)}

    (tmp_path / "again").mkdir()
    other = wheel(tmp_path / "again", "acme-utils", "1.0", marker="second")
    assert other.read_bytes() != first.read_bytes()
    run = upload(target, other)
    assert run.returncode == 2, run
    assert "never reused for other bytes" in run.stderr, run.stderr
    assert {p: (target / p).read_bytes() for p in written(target)} == before, "the stored bytes must not change"

    run = upload(target, first)
    assert run.returncode == 0, run
    assert "unchanged" in run.stdout, run.stdout
    assert {p: (target / p).stat().st_mtime_ns for p in written(target)} == mtimes, "a no-op writes nothing"


def test_remove_unlists_files_now_and_deletes_their_bytes_after_the_grace_period(tmp_path, origin):
    target = tmp_path / "mirror"
    old, new = wheel(tmp_path, "acme-utils", "1.0"), sdist(tmp_path, "acme-utils", "1.1")
    assert upload(target, old, new).returncode == 0
    old_key = next(f.key for f in page(target, "acme-utils").files if f.filename == old.name)
    config = tmp_path / "mirror.toml"
    config.write_text("[mirror]\ndeletion_grace = 0\nprocesses = 1\n")  # due at once, at the next sync

    run = cloudpypi("remove", "--config", str(config), "--target", str(target), "acme-utils", old.name)
    assert run.returncode == 0, run
    assert [f.filename for f in page(target, "acme-utils").files] == [new.name]
    assert (target / old_key).exists(), "the bytes stay for the grace period (clients holding the old page)"

    (tmp_path / "again").mkdir()
    run = upload(target, wheel(tmp_path / "again", "acme-utils", "1.0", marker="other"))
    assert run.returncode == 2 and "never reused" in run.stderr, "a removed filename never comes back with other bytes"

    run = cloudpypi("sync", "--config", str(config), "--origin", origin.url, "--target", str(target), "--no-progress")
    assert run.returncode == 0, run
    assert not (target / old_key).exists() and not (target / (old_key + ".metadata")).exists(), \
        "a sync deletes the bytes once the grace period has passed"
    assert (target / "simple" / "acme-utils" / "index.v1_json").exists(), "the private project stays"

    run = cloudpypi("remove", "--target", str(target), "acme-utils")
    assert run.returncode == 0, run
    assert not (target / "simple" / "acme-utils").exists() or not any((target / "simple" / "acme-utils").iterdir())
    root = json.loads((target / "simple" / "index.v1_json").read_bytes())
    assert "acme-utils" not in [p["name"] for p in root["projects"]]
    status = json.loads(cloudpypi("status", "--target", str(target), "--offline", "--json").stdout)
    assert status["private_projects"] == [] and status["pending_deletions"] == 2, status  # 1.1's sdist and .metadata


def test_remove_refuses_a_mirrored_project_and_an_unknown_file(tmp_path, origin):
    target = tmp_path / "mirror"
    assert cloudpypi("sync", "--origin", origin.url, "--target", str(target), "--no-progress").returncode == 0
    before = written(target)
    run = cloudpypi("remove", "--target", str(target), "idna")
    assert run.returncode == 2 and "not a private project" in run.stderr, run
    assert upload(target, wheel(tmp_path, "acme-utils", "1.0")).returncode == 0
    run = cloudpypi("remove", "--target", str(target), "acme-utils", "acme_utils-9.9-py3-none-any.whl")
    assert run.returncode == 2 and "lists no file" in run.stderr, run
    assert set(before) <= set(written(target))


def test_an_upload_into_s3_stores_the_file_pages_root_and_state_in_the_bucket(tmp_path, moto, bucket):
    env = moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(tmp_path / "state")})
    whl = wheel(tmp_path, "acme-utils", "1.0")
    run = upload(f"s3://{bucket}/pypi", whl, env=env)
    assert run.returncode == 0, run
    s3 = moto.client("s3")
    listed = parse_mirror_json(s3.get_object(Bucket=bucket, Key="pypi/simple/acme-utils/index.v1_json")["Body"].read(),
                               "acme-utils")
    (item,) = listed.files
    head = s3.head_object(Bucket=bucket, Key=f"pypi/{item.key}")
    assert head["ContentType"] == "application/zip" and head["Metadata"]["sha256"] == item.sha256
    assert head["CacheControl"] == "max-age=31536000, immutable"
    assert s3.get_object(Bucket=bucket, Key=f"pypi/{item.key}")["Body"].read() == whl.read_bytes()
    assert s3.head_object(Bucket=bucket, Key=f"pypi/{item.metadata_key}")["ContentLength"] > 0
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert {"pypi/simple/index.v1_json", "pypi/.cloudpypi/state.sqlite"} <= keys
    assert not any(k.startswith("pypi/.cloudpypi/lock") for k in keys), "the lock must be released"

    # another host (a fresh state folder) sees the upload in the bucket's state: other bytes are refused
    other_env = moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(tmp_path / "state-b")})
    (tmp_path / "again").mkdir()
    run = upload(f"s3://{bucket}/pypi", wheel(tmp_path / "again", "acme-utils", "1.0", marker="x"), env=other_env)
    assert run.returncode == 2 and "never reused" in run.stderr, run
    assert s3.get_object(Bucket=bucket, Key=f"pypi/{item.key}")["Body"].read() == whl.read_bytes()
