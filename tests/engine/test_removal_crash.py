"""A run that dies while removing a project (its pages deleted, the state not yet updated) still gets
the project's files deleted after the grace period: they are never leaked."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudpypi.report import Report
from cloudpypi.storage.folder import FolderStorage
from engine.conftest import run_syncer


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even the sync's own error handling."""


class DiesAfterDeleting(FolderStorage):
    def __init__(self, root: Path, key: str) -> None:
        super().__init__(root)
        self.key = key

    def delete(self, key: str) -> None:
        super().delete(key)
        if key == self.key:
            raise Killed(key)


def sync(origin, storage: FolderStorage, grace: int) -> Report:  # type: ignore[no-untyped-def]
    return run_syncer(origin, storage, workers=2, deletion_grace=grace)


def package_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in (root / "packages").rglob("*") if p.is_file()}


def test_files_of_a_project_removed_by_a_run_that_died_are_still_deleted_after_grace(origin, tmp_path):
    assert sync(origin, FolderStorage(tmp_path), grace=0).ok
    before = package_files(tmp_path)
    tiny = {key for key in before if "tiny_pkg" in key}
    assert tiny, "expected the corpus to have tiny-pkg files"
    origin.corpus.remove_project("tiny-pkg")

    with pytest.raises(Killed):  # dies right after the last page of tiny-pkg is deleted
        sync(origin, DiesAfterDeleting(tmp_path, "simple/tiny-pkg/index.v1_json"), grace=0)
    assert not (tmp_path / "simple" / "tiny-pkg").exists(), "expected its pages gone before the kill"
    (tmp_path / ".cloudpypi" / "lock").unlink(missing_ok=True)  # a real kill would leave the lock; ours ran finally

    report = sync(origin, FolderStorage(tmp_path), grace=0)
    assert report.ok, report.failures
    assert package_files(tmp_path) == before - tiny, "expected exactly tiny-pkg's files deleted after the grace"
