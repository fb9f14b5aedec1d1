"""When the state accounts for every stored file, a new file is downloaded without a lookup first (an S3
HEAD per file saved); when it may not (a run died, the state was lost), every file is looked up, so
nothing already stored is downloaded again."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from cloudpypi.config import Config
from cloudpypi.fetch import FileFetcher
from cloudpypi.lock import LOCK_KEY, Holder, _boot_id
from cloudpypi.origin import OriginClient
from cloudpypi.report import Report
from cloudpypi.storage.folder import FolderStorage
from engine.conftest import run_syncer


class CountingFolder(FolderStorage):
    """A folder target that remembers which package keys the sync looked up."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.lookups: list[str] = []

    def stat(self, key: str):  # type: ignore[no-untyped-def]
        if key.startswith("packages/"):
            self.lookups.append(key)
        return super().stat(key)


def sync(origin, target: Path) -> tuple[Report, CountingFolder]:  # type: ignore[no-untyped-def]
    storage = CountingFolder(target)
    report = run_syncer(origin, storage)
    assert report.ok, [f"{f.project}: {f.reason}" for f in report.failures]
    return report, storage


def store_like_a_dead_run(origin, target: Path, project: str, filename: str) -> str:  # type: ignore[no-untyped-def]
    """Store one file of `project` the way a run that died before writing its pages left it."""
    config = Config(origin=origin.url, target=str(target), processes=1)
    client = OriginClient(config.origin, allowed_hosts=config.file_hosts())
    item = next(f for f in client.project_page(project).files if f.filename == filename)
    FileFetcher(config, FolderStorage(target), client, threading.Event()).ensure(item, check_target=False)
    client.close()
    return item.key


def test_a_cleanly_synced_mirror_downloads_new_files_without_looking_them_up(origin, tmp_path):
    first, storage = sync(origin, tmp_path)
    assert first.files_added > 0
    assert storage.lookups == [], "expected no lookups on a brand-new mirror over an empty folder"
    origin.corpus.add_release("idna", "3.2", files=["py3-none-any", "sdist"])
    second, storage = sync(origin, tmp_path)
    assert second.files_added == 2
    assert storage.lookups == [], f"expected the new files fetched without lookups, got {storage.lookups}"


def test_after_a_run_died_stored_files_are_looked_up_and_not_downloaded_again(origin, tmp_path):
    sync(origin, tmp_path)
    origin.corpus.add_release("idna", "3.2", files=["py3-none-any", "sdist"])
    key = store_like_a_dead_run(origin, tmp_path, "idna", "idna-3.2-py3-none-any.whl")
    # the dead run's lock: this host, a process that no longer exists
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    holder = Holder(socket.gethostname(), _boot_id(), gone.pid, "dead-run", time.time(), time.time() + 600)
    (tmp_path / LOCK_KEY).write_text(json.dumps(holder.__dict__))

    report, storage = sync(origin, tmp_path)
    assert key in storage.lookups, "expected the sync to look up files after taking over a dead run's lock"
    assert report.files_added == 1, f"expected only the sdist downloaded, got {report.files_added} files"


def test_a_run_that_never_marked_its_end_makes_the_next_one_look_files_up(origin, tmp_path):
    sync(origin, tmp_path)
    origin.corpus.add_release("idna", "3.2", files=["py3-none-any"])
    key = store_like_a_dead_run(origin, tmp_path, "idna", "idna-3.2-py3-none-any.whl")
    with sqlite3.connect(tmp_path / ".cloudpypi" / "state.sqlite") as db:  # as a run on another host leaves it
        db.execute("UPDATE meta SET value='0' WHERE key='files_accounted'")
    report, storage = sync(origin, tmp_path)
    assert key in storage.lookups
    assert report.files_added == 0, "expected the stored file found, not downloaded again"
    _, storage = sync(origin, tmp_path)
    assert storage.lookups == [], "expected a clean run to restore trust in the state"


def test_a_folder_holding_only_files_is_adopted_without_downloading_them_again(origin, tmp_path):
    """No state and no pages, only packages/ (a lost state, or files copied in): every file is looked up."""
    first, _ = sync(origin, tmp_path)
    shutil.rmtree(tmp_path / ".cloudpypi")
    shutil.rmtree(tmp_path / "simple")
    report, storage = sync(origin, tmp_path)
    assert storage.lookups, "expected lookups: the folder holds files no state accounts for"
    assert report.files_added == 0, f"expected nothing downloaded again, got {report.files_added} files"
    assert report.projects_synced == first.projects_synced, "expected every project's pages written again"
