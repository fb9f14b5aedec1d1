"""`cloudpypi verify --origin`: the mirror checked against what the origin publishes now, end to end with
the real CLI, the fake origin, a folder and a bucket on a real moto server.

The tampering here is the careful kind: a file's bytes replaced AND its pages (and, on S3, its sha256
metadata) rewritten to match, so that the mirror is consistent with itself and plain `verify` passes."""

from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from cloudpypi.config import Config
from cloudpypi.layout import page_keys
from cloudpypi.pages import parse_mirror_json
from cloudpypi.render import render_project
from cloudpypi.storage import open_target
from cloudpypi.storage.content import content_type_for
from engine.conftest import cloudpypi

EVIL = b"PK\x03\x04 not the file the origin published" * 50
VICTIM = ("idna", "idna-3.1-py3-none-any.whl")


class Mirror:
    """One target (folder, or a versioned bucket on moto) and the CLI pointed at it."""

    def __init__(self, kind: str, tmp_path: Path, moto=None) -> None:  # type: ignore[no-untyped-def]
        self.kind = kind
        self.env = dict(os.environ, CLOUDPYPI_STATE_DIR=str(tmp_path / "state"),
                        CLOUDPYPI_SPOOL_DIR=str(tmp_path / "spool"))
        if kind == "s3":
            bucket = f"verify-origin-{uuid.uuid4().hex[:10]}"
            self.client = moto.client("s3")
            self.client.create_bucket(Bucket=bucket)
            self.client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            self.bucket, self.target = bucket, f"s3://{bucket}/pypi"
            self.env = moto.env(self.env)
        else:
            self.target = str(tmp_path / "mirror")

    def run(self, *args: str):  # type: ignore[no-untyped-def]
        return cloudpypi(*args, "--target", self.target, env=self.env)

    def storage(self):  # type: ignore[no-untyped-def]
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return open_target(Config(target=self.target))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def tamper(self, project: str, filename: str, data: bytes) -> str:
        """Replace a file's bytes and rewrite all three pages (and the S3 sha256 metadata) to match."""
        storage = self.storage()
        try:
            page = parse_mirror_json(storage.read_bytes(page_keys(project)["index.v1_json"]), project)
            item = next(f for f in page.files if f.filename == filename)
            forged = replace(item, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            if self.kind == "s3":
                self.client.put_object(Bucket=self.bucket, Key=f"pypi/{item.key}", Body=data,
                                       Metadata={"sha256": forged.sha256})
            else:
                (Path(self.target) / item.key).write_bytes(data)
            pages = render_project(page.with_files(tuple(forged if f is item else f for f in page.files)))
            for name, key in page_keys(project).items():
                storage.write_bytes(key, pages[name], content_type=content_type_for(key))
            return item.key
        finally:
            storage.close()

    def read(self, key: str) -> bytes | None:
        storage = self.storage()
        try:
            return storage.read_bytes(key)
        finally:
            storage.close()


@pytest.fixture(params=["folder", "s3"])
def mirror(request, tmp_path) -> Mirror:  # type: ignore[no-untyped-def]
    moto = request.getfixturevalue("moto") if request.param == "s3" else None
    return Mirror(request.param, tmp_path, moto)


def synced(mirror: Mirror, origin) -> Mirror:  # type: ignore[no-untyped-def]
    run = mirror.run("sync", "--origin", origin.url, "--no-progress")
    assert run.returncode == 0, run
    return mirror


def origin_sha256(origin, filename: str) -> str:  # type: ignore[no-untyped-def]
    spec = next(s for s in origin.corpus.all_specs() if s.url_path.endswith("/" + filename))
    return origin.corpus.store.get(spec).sha256


def test_consistent_tampering_passes_plain_verify_is_caught_by_verify_origin_and_repaired(mirror, origin):
    synced(mirror, origin)
    key = mirror.tamper(*VICTIM, EVIL)
    plain = mirror.run("verify")
    assert plain.returncode == 0, f"expected the forged pages to fool the self-consistency check: {plain}"

    caught = mirror.run("verify", "--origin", origin.url)
    assert caught.returncode == 1, caught
    assert f"TAMPERED idna: {VICTIM[1]}: stored bytes have sha256 {hashlib.sha256(EVIL).hexdigest()[:16]}" \
        in caught.stdout, caught
    assert "index.v1_json lists sha256" in caught.stdout and "index.html lists sha256" in caught.stdout, caught
    assert "foo-bar" not in caught.stdout and "tiny-pkg" not in caught.stdout, "expected only the victim named"

    repaired = mirror.run("verify", "--origin", origin.url, "--repair")
    assert repaired.returncode == 0, repaired
    restored = mirror.read(key)
    assert restored is not None and hashlib.sha256(restored).hexdigest() == origin_sha256(origin, VICTIM[1])
    again = mirror.run("verify", "--origin", origin.url)
    assert again.returncode == 0 and "OK" in again.stdout, again
    assert mirror.run("verify").returncode == 0, "expected the repaired pages consistent with the files again"
    if mirror.kind == "s3":
        versions = mirror.client.list_object_versions(Bucket=mirror.bucket, Prefix=f"pypi/{key}")
        kept = [v for v in versions.get("Versions", []) if v["Key"] == f"pypi/{key}"]
        assert len(kept) == 3, f"expected original, tampered and restored versions kept as history, got {kept}"


def test_a_forged_html_page_alone_is_caught_and_rewritten_by_repair(origin, tmp_path):
    mirror = synced(Mirror("folder", tmp_path), origin)
    page = Path(mirror.target) / "simple" / "idna" / "index.html"
    real = origin_sha256(origin, VICTIM[1])
    page.write_text(page.read_text().replace(real, "0" * 64))
    caught = mirror.run("verify", "--origin", origin.url)
    assert caught.returncode == 1, caught
    assert f"TAMPERED idna: {VICTIM[1]}: index.html lists sha256 0000" in caught.stdout, caught
    assert "stored bytes" not in caught.stdout, "expected the stored file itself to check out"
    assert mirror.run("verify", "--origin", origin.url, "--repair").returncode == 0
    assert real in page.read_text() and "0" * 64 not in page.read_text()


def test_files_and_projects_the_origin_dropped_are_reported_apart_and_pass(origin, tmp_path):
    mirror = synced(Mirror("folder", tmp_path), origin)
    origin.corpus.remove_file("idna", "idna-3.0-py3-none-any.whl")
    origin.corpus.remove_project("tiny-pkg")
    run = mirror.run("verify", "--origin", origin.url)
    assert run.returncode == 0, f"expected files removed upstream not to fail the check, got {run}"
    assert "2 file(s) the origin no longer lists" in run.stdout, run
    assert "NOT ON ORIGIN idna: idna-3.0-py3-none-any.whl: the origin no longer lists it" in run.stdout, run
    assert "NOT ON ORIGIN tiny-pkg: tiny_pkg-0.1-py3-none-any.whl: the origin no longer lists the project" in run.stdout
    assert "TAMPERED" not in run.stdout and "MISSING" not in run.stdout


def test_a_missing_file_fails_and_repair_fetches_it(origin, tmp_path):
    mirror = synced(Mirror("folder", tmp_path), origin)
    storage = mirror.storage()
    page = parse_mirror_json(storage.read_bytes(page_keys("foo-bar")["index.v1_json"]), "foo-bar")
    storage.delete(page.files[0].key)
    storage.close()
    run = mirror.run("verify", "--origin", origin.url)
    assert run.returncode == 1 and f"MISSING foo-bar: {page.files[0].filename}: not stored" in run.stdout, run
    assert mirror.run("verify", "--origin", origin.url, "--repair").returncode == 0
    assert mirror.read(page.files[0].key) is not None


def test_a_replaced_core_metadata_file_is_caught_and_restored(origin, tmp_path):
    mirror = synced(Mirror("folder", tmp_path), origin)
    storage = mirror.storage()
    page = parse_mirror_json(storage.read_bytes(page_keys("idna")["index.v1_json"]), "idna")
    storage.close()
    item = next(f for f in page.files if f.filename == VICTIM[1])
    assert item.has_metadata, "the fake origin serves PEP 658 metadata for wheels"
    metadata = Path(mirror.target) / item.metadata_key
    original = metadata.read_bytes()
    metadata.write_bytes(original.replace(b"Name: idna", b"Name: idna\nRequires-Dist: evil-helper"))
    caught = mirror.run("verify", "--origin", origin.url)
    assert caught.returncode == 1 and f"TAMPERED idna: {VICTIM[1]}.metadata: stored bytes" in caught.stdout, caught
    assert mirror.run("verify", "--origin", origin.url, "--repair").returncode == 0
    assert metadata.read_bytes() == original


def test_sample_checks_n_random_files_and_says_how_many(origin, tmp_path):
    mirror = synced(Mirror("folder", tmp_path), origin)
    run = mirror.run("verify", "--origin", origin.url, "--sample", "3")
    assert run.returncode == 0, run
    assert "checked a random sample of 3 of 10 file(s)" in run.stdout, run
    mirror.tamper(*VICTIM, EVIL)
    everything = mirror.run("verify", "--origin", origin.url, "--sample", "50")
    assert everything.returncode == 1 and "a random sample of 10 of 10 file(s)" in everything.stdout, everything
    assert f"TAMPERED idna: {VICTIM[1]}" in everything.stdout
    refused = mirror.run("verify", "--sample", "3")
    assert refused.returncode == 2 and "--sample N needs --origin" in refused.stderr, refused


def test_origin_flag_without_a_url_checks_against_the_configured_origin(origin, tmp_path):
    mirror = synced(Mirror("folder", tmp_path), origin)
    config = tmp_path / "mirror.toml"
    config.write_text(f'[mirror]\norigin = "{origin.url}"\ntarget = "{mirror.target}"\n')
    mirror.tamper(*VICTIM, EVIL)
    run = cloudpypi("verify", "--config", str(config), "--origin", env=mirror.env)
    assert run.returncode == 1 and f"against {origin.url}" in run.stdout and "TAMPERED idna" in run.stdout, run


def test_an_unreadable_origin_page_leaves_the_project_unchecked_and_fails(origin, tmp_path):
    mirror = synced(Mirror("folder", tmp_path), origin)
    config = tmp_path / "mirror.toml"
    config.write_text("[mirror]\nretries = 0\ntimeout = 5\n")
    origin.faults.add("http_503", on=("project",), path="/simple/idna/")
    run = cloudpypi("verify", "--config", str(config), "--origin", origin.url, "--target", mirror.target,
                    env=mirror.env)
    assert run.returncode == 1 and "UNCHECKED idna: the origin's page could not be read" in run.stdout, run
    assert "TAMPERED" not in run.stdout


# ------------------------------------------------------------------------------------------- pure parts


def test_pick_sample_draws_distinct_files_from_every_project_in_one_pass():
    import random

    from cloudpypi.verify_origin import pick_sample

    counts = [("a", 3), ("b", 0), ("c", 5)]
    assert pick_sample(iter(counts), 8, 50, random.Random(1)) == {"a": {0, 1, 2}, "c": {0, 1, 2, 3, 4}}
    for seed in range(20):
        picked = pick_sample(iter(counts), 8, 3, random.Random(seed))
        assert sum(len(v) for v in picked.values()) == 3, picked
        assert all(i < dict(counts)[name] for name, indexes in picked.items() for i in indexes), picked
    assert pick_sample(iter([]), 0, 5, random.Random(0)) == {}


def test_compare_project_flags_forged_links_and_reports_upstream_removals_apart():
    from cloudpypi.model import DistFile, ProjectPage
    from cloudpypi.verify_origin import GONE, TAMPERED, compare_project

    good = DistFile("p-1.0.tar.gz", "https://o/packages/aa/p-1.0.tar.gz", "a" * 64, 10, key="packages/aa/p-1.0.tar.gz")
    old = DistFile("p-0.9.tar.gz", "https://o/packages/bb/p-0.9.tar.gz", "b" * 64, 10, key="packages/bb/p-0.9.tar.gz")
    forged = replace(good, key="packages/zz/p-1.0.tar.gz")
    origin = ProjectPage("p", (good,))
    findings, checks = compare_project("p", {"index.html": ProjectPage("p", (forged, old))}, origin)
    assert sorted((f.kind, f.filename) for f in findings) == [(GONE, "p-0.9.tar.gz"), (TAMPERED, "p-1.0.tar.gz")]
    assert any("links packages/zz/p-1.0.tar.gz, not the origin's file" in f.what for f in findings), findings
    assert [(c.key, c.sha256) for c in checks] == [("packages/aa/p-1.0.tar.gz", "a" * 64)], "the origin's key is hashed"
    gone, none = compare_project("p", {"index.v1_json": ProjectPage("p", (good,))}, None)
    assert [f.kind for f in gone] == [GONE] and "no longer lists the project" in gone[0].what and none == []
