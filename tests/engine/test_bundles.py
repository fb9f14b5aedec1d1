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
from support.cli import run_cli

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

    # the copy keeps its own change journal: it can pass the same change on to a third mirror
    relay = tmp_path / "relay.tar"
    assert export(str(copy), data["since"], relay).returncode == 0
    assert {k for k in members(relay) if k != "cloudpypi-bundle.json"} == {
        k for k in members(incremental) if k != "cloudpypi-bundle.json"}
    assert manifest(relay)["removed"] == ["tiny-pkg"]


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


def test_pip_installs_from_a_mirror_rebuilt_from_bundles_alone(origin, tmp_path):
    import subprocess
    import sys

    source, copy = tmp_path / "source", tmp_path / "copy"
    sync(origin, str(source), tmp_path)
    full = tmp_path / "full.tar"
    assert export(str(source), 0, full).returncode == 0
    assert import_(full, str(copy), tmp_path).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env.update({"PIP_CONFIG_FILE": "/dev/null", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
    site = tmp_path / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--no-cache-dir", "--no-deps",
         "--index-url", (copy / "simple").as_uri() + "/", "--target", str(site), "idna==3.1"],
        capture_output=True, text=True, env=env, timeout=180)
    assert result.returncode == 0, f"pip install from the imported mirror failed:\n{result.stderr[-2000:]}"
    assert (site / "idna-3.1.dist-info").is_dir(), sorted(p.name for p in site.iterdir())


# ---- refusals: exit 2, a message, and nothing written ----------------------------------------------------------


@pytest.fixture
def full_bundle(origin, tmp_path) -> Path:
    source = tmp_path / "source"
    sync(origin, str(source), tmp_path)
    bundle = tmp_path / "full.tar"
    assert export(str(source), 0, bundle).returncode == 0
    return bundle


def assert_refused(run, fragment: str, target: Path) -> None:
    assert run.returncode == 2, run
    assert fragment in run.stderr, f"expected {fragment!r} in the message:\n{run.stderr}"
    assert len(run.stderr.strip().splitlines()) == 1, f"one clear line, not a traceback:\n{run.stderr}"
    written = [p for area in ("simple", "packages") for p in (target / area).rglob("*")] if target.exists() else []
    assert not written, f"a refused bundle wrote {written[:5]}"


def test_a_truncated_bundle_is_refused_and_nothing_is_written(full_bundle, tmp_path):
    raw = full_bundle.read_bytes()
    with tarfile.open(full_bundle) as tar:
        last = tar.getmembers()[-1]  # the manifest
    # mid-file, inside the manifest, at the manifest's header (a clean member boundary), inside the first file
    for cut in (len(raw) // 2, last.offset_data + 10, last.offset, 700):
        short = tmp_path / f"short-{cut}.tar"
        short.write_bytes(raw[:cut])
        assert_refused(import_(short, str(tmp_path / "copy"), tmp_path), "truncated", tmp_path / "copy")


def test_a_member_that_fails_its_hash_is_refused_and_nothing_is_written(full_bundle, tmp_path):
    with tarfile.open(full_bundle) as tar:
        victim = next(m for m in tar.getmembers() if m.name.endswith(".whl"))
    raw = bytearray(full_bundle.read_bytes())
    raw[victim.offset_data + 10] ^= 0xFF  # same size, other bytes
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(raw))
    assert_refused(import_(damaged, str(tmp_path / "copy"), tmp_path), "fails its hash", tmp_path / "copy")


def _rewrite(bundle: Path, out: Path, extra: list[tuple[tarfile.TarInfo, bytes | None]], *, list_extra: bool) -> None:
    """The bundle with extra members before the manifest (listed in it, or not)."""
    items = members(bundle)
    data = json.loads(items.pop("cloudpypi-bundle.json"))
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, body in items.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for info, body in extra:
            tar.addfile(info, io.BytesIO(body) if body is not None else None)
            if list_extra:
                data["members"].append({"path": info.name, "sha256": hashlib.sha256(body or b"").hexdigest(),
                                        "size": len(body or b"")})
        raw = json.dumps(data).encode()
        info = tarfile.TarInfo("cloudpypi-bundle.json")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", body: bytes | None = b"evil") -> tuple:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(body) if body is not None and kind == tarfile.REGTYPE else 0
    return info, body if kind == tarfile.REGTYPE else None


@pytest.mark.parametrize(("member", "fragment"), [
    (_member("/etc/cron.d/evil"), "could escape the target"),
    (_member("packages/../../evil.whl"), "refused"),
    (_member("packages/aa/../../../evil.whl"), "refused"),
    (_member(".cloudpypi/state.sqlite"), "could escape the target"),
    (_member("simple/Not_Normalized/index.html"), "could escape the target"),
    (_member("packages/aa/link.whl", tarfile.SYMTYPE, "/etc/passwd"), "refused"),
    (_member("packages/aa/inside.whl", tarfile.SYMTYPE, "other.whl"), "symlink"),
    (_member("packages/aa/hard.whl", tarfile.LNKTYPE, "packages/aa/other.whl"), "hard link"),
    (_member("packages/aa/dev.whl", tarfile.CHRTYPE), "refused"),
    (_member("packages/aa/fifo.whl", tarfile.FIFOTYPE), "refused"),
], ids=["absolute", "dotdot", "dotdot-deep", "state", "page-outside", "symlink-out", "symlink-in", "hardlink",
        "device", "fifo"])
def test_a_member_that_could_escape_the_target_is_refused_and_nothing_is_written(full_bundle, tmp_path, member,
                                                                                 fragment):
    hostile = tmp_path / "hostile.tar"
    _rewrite(full_bundle, hostile, [member], list_extra=False)
    outside = tmp_path / "evil.whl"
    assert_refused(import_(hostile, str(tmp_path / "copy"), tmp_path), fragment, tmp_path / "copy")
    assert not outside.exists() and not (tmp_path / "copy" / ".cloudpypi" / "state.sqlite").exists()


def test_a_member_the_manifest_does_not_list_is_refused(full_bundle, tmp_path):
    extra = tmp_path / "extra.tar"
    _rewrite(full_bundle, extra, [_member("packages/aa/bb/smuggled-1.0-py3-none-any.whl")], list_extra=False)
    assert_refused(import_(extra, str(tmp_path / "copy"), tmp_path), "not in its manifest", tmp_path / "copy")


def test_a_bundle_that_would_leave_a_gap_or_is_older_is_refused(origin, tmp_path):
    source, copy = tmp_path / "source", tmp_path / "copy"
    sync(origin, str(source), tmp_path)
    first = state_serial(source)
    full = tmp_path / "full.tar"
    assert export(str(source), 0, full).returncode == 0
    origin.corpus.add_release("idna", "3.2", files=["py3-none-any"])
    sync(origin, str(source), tmp_path)
    second = state_serial(source)
    step = tmp_path / "step.tar"
    assert export(str(source), first, step).returncode == 0  # type: ignore[arg-type]
    origin.corpus.add_release("idna", "3.3", files=["py3-none-any"])
    sync(origin, str(source), tmp_path)
    later = tmp_path / "later.tar"
    assert export(str(source), second, later).returncode == 0  # type: ignore[arg-type]

    gap = import_(step, str(copy), tmp_path)  # an empty mirror needs a full bundle first
    assert_refused(gap, "would leave a gap", copy)
    assert import_(full, str(copy), tmp_path).returncode == 0
    before = folder_objects(copy)
    gap = import_(later, str(copy), tmp_path)  # skips the step bundle
    assert gap.returncode == 2 and "would leave a gap" in gap.stderr, gap
    assert folder_objects(copy) == before and state_serial(copy) == first, "a refused bundle changed the mirror"
    assert import_(step, str(copy), tmp_path).returncode == 0
    assert import_(later, str(copy), tmp_path).returncode == 0
    assert_same(folder_objects(source), folder_objects(copy))
    older = import_(step, str(copy), tmp_path)
    assert older.returncode == 2 and "older than the target" in older.stderr, older
    assert_same(folder_objects(source), folder_objects(copy))


def test_export_refuses_a_since_ahead_of_the_mirror_and_leaves_no_partial_file(origin, tmp_path):
    source = tmp_path / "source"
    sync(origin, str(source), tmp_path)
    out = tmp_path / "ahead.tar"
    run = export(str(source), state_serial(source) + 5, out)  # type: ignore[operator]
    assert run.returncode == 2 and "ahead of the mirror" in run.stderr, run
    assert not out.exists() and not (tmp_path / "ahead.tar.part").exists()


def test_export_fails_on_a_damaged_source_file_instead_of_carrying_it(origin, tmp_path):
    source = tmp_path / "source"
    sync(origin, str(source), tmp_path)
    victim = next(source.glob("packages/**/*.whl"))
    victim.write_bytes(victim.read_bytes()[:-1] + b"X")
    out = tmp_path / "bad.tar"
    run = export(str(source), 0, out)
    assert run.returncode == 1 and "verify --repair" in run.stderr, run
    assert not out.exists(), "a half-written bundle was left under its final name"


def test_export_to_stdout_gives_the_same_bundle_as_to_a_file(origin, tmp_path):

    source = tmp_path / "source"
    sync(origin, str(source), tmp_path)
    to_file = tmp_path / "file.tar"
    assert export(str(source), 0, to_file).returncode == 0
    piped = run_cli("export", "--target", str(source), "--since", "0", "--out", "-", timeout=120, text=False)
    assert piped.returncode == 0, piped.stderr.decode()
    strip = lambda raw: {k: v for k, v in raw.items() if k != "cloudpypi-bundle.json"}  # noqa: E731
    (tmp_path / "piped.tar").write_bytes(piped.stdout)
    assert strip(members(tmp_path / "piped.tar")) == strip(members(to_file))
