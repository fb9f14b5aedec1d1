"""The orphan sweep: `cloudpypi verify --orphans [--repair]` against folder and S3 mirrors synced off the fake
origin, with files planted that no page links."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

from engine.conftest import cloudpypi


def _config(tmp_path: Path, grace: int) -> str:
    path = tmp_path / f"grace{grace}.toml"
    path.write_text(f"[mirror]\ndeletion_grace = {grace}\n")
    return str(path)


def sync(origin, target: str, tmp_path: Path, grace: int = 86400, env=None):
    run = cloudpypi("sync", "--origin", origin.url, "--target", target, "--no-progress",
                    "--config", _config(tmp_path, grace), env=env)
    assert run.returncode == 0, run
    return run


def orphans(target: str, tmp_path: Path, *extra: str, grace: int = 86400, env=None):
    return cloudpypi("verify", "--orphans", "--target", target, "--config", _config(tmp_path, grace), *extra, env=env)


def plant(target: Path) -> str:
    """A stray copy of a real file under a key no page links."""
    source = next(target.glob("packages/**/*.whl"))
    key = "packages/zz/yy/stray/" + source.name
    (target / key).parent.mkdir(parents=True)
    shutil.copy(source, target / key)
    return key


def linked_files(target: Path) -> set[str]:
    return {str(p.relative_to(target)) for p in target.glob("packages/**/*") if p.is_file()}


def test_orphans_are_listed_and_pending_deletions_and_linked_files_are_not(origin, tmp_path):
    target = tmp_path / "mirror"
    sync(origin, str(target), tmp_path)
    clean = orphans(str(target), tmp_path)
    assert clean.returncode == 0 and "OK: every stored file is linked" in clean.stdout, clean
    origin.corpus.remove_file("idna", "idna-3.0-py3-none-any.whl")  # unlinked, pending for the grace period
    sync(origin, str(target), tmp_path)
    key = plant(target)
    run = orphans(str(target), tmp_path)
    assert run.returncode == 1, run
    listed = [line.split()[-1] for line in run.stdout.splitlines() if line.strip().startswith("ORPHAN")]
    assert listed == [key], f"expected only the planted file, got {listed}"
    assert "2 already scheduled for deletion" in run.stdout, run.stdout  # the wheel and its .metadata
    assert (target / key).exists(), "listing must not delete"


def test_orphan_repair_deletes_after_the_grace_and_keeps_every_linked_file(origin, tmp_path):
    target = tmp_path / "mirror"
    sync(origin, str(target), tmp_path)
    before = linked_files(target)
    key = plant(target)
    run = orphans(str(target), tmp_path, "--repair")  # a day's grace: scheduled, still there
    assert run.returncode == 0 and "1 orphan(s) scheduled" in run.stdout, run
    assert (target / key).exists(), "deleted before its grace period"
    again = orphans(str(target), tmp_path)
    assert again.returncode == 0 and "1 already scheduled" in again.stdout, again
    now = orphans(str(target), tmp_path, "--repair", grace=0)  # the scheduled due time stays; due ones go
    assert now.returncode == 0, now
    assert (target / key).exists(), "a scheduled deletion keeps its earlier due time"
    db = sqlite3.connect(target / ".cloudpypi" / "state.sqlite")
    db.execute("UPDATE deletions SET due = 0")
    db.commit()
    db.close()
    done = orphans(str(target), tmp_path, "--repair")
    assert done.returncode == 0 and "1 file(s) due now deleted" in done.stdout, done
    assert not (target / key).exists()
    assert linked_files(target) == before, "a linked file was deleted"
    verify = cloudpypi("verify", "--target", str(target))
    assert verify.returncode == 0, verify


def test_files_of_a_page_the_state_has_not_recorded_yet_are_not_orphans(origin, tmp_path):
    target = tmp_path / "mirror"
    sync(origin, str(target), tmp_path)
    db = sqlite3.connect(target / ".cloudpypi" / "state.sqlite")  # as after a run killed before recording idna
    db.execute("DELETE FROM projects WHERE name='idna'")
    db.commit()
    db.close()
    run = orphans(str(target), tmp_path, "--repair", grace=0)
    assert run.returncode == 0 and "0 orphan(s) scheduled" in run.stdout, run


def test_an_unreadable_page_stops_the_repair(origin, tmp_path):
    target = tmp_path / "mirror"
    sync(origin, str(target), tmp_path)
    (target / "simple" / "idna" / "index.v1_json").write_text("{not json")
    before = linked_files(target)
    run = orphans(str(target), tmp_path, "--repair", grace=0)
    assert run.returncode == 1 and "cannot be read" in run.stderr, run
    assert linked_files(target) == before


def test_orphan_sweep_on_s3(origin, moto, bucket, tmp_path):
    env = moto.env({**os.environ, "CLOUDPYPI_STATE_DIR": str(tmp_path / "state")})
    target = f"s3://{bucket}/m"
    sync(origin, target, tmp_path, grace=0, env=env)
    s3 = moto.client("s3")
    s3.put_object(Bucket=bucket, Key="m/packages/zz/stray-1.0-py3-none-any.whl", Body=b"stray")
    listed = orphans(target, tmp_path, env=env)
    assert listed.returncode == 1 and "ORPHAN packages/zz/stray-1.0-py3-none-any.whl" in listed.stdout, listed
    repaired = orphans(target, tmp_path, "--repair", grace=0, env=env)
    assert repaired.returncode == 0 and "1 file(s) due now deleted" in repaired.stdout, repaired
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="m/packages/")["Contents"]]
    assert "m/packages/zz/stray-1.0-py3-none-any.whl" not in keys and keys, keys
    assert cloudpypi("verify", "--target", target, env=env).returncode == 0
