"""Orphans: stored files that no page links (left by a run killed between a file and its page, by a bug,
or by hand).  They cost storage every month and nothing ever reads them.

``verify --orphans`` lists them; with ``--repair`` they are scheduled for deletion after the deletion grace,
like any file a sync stops linking, and whatever is due by then is deleted.  The links are read from every
project page in the target (not only the ones the state records, so the pages of a run that died before
recording them still protect their files), into a temporary SQLite table, so memory stays flat however
large the mirror is.  A page that cannot be read stops the repair: its files would look orphaned.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from cloudpypi.config import Config
from cloudpypi.errors import CloudPyPIError
from cloudpypi.layout import FILES_PREFIX, JSON_PAGE, PAGES_PREFIX, split_page_key
from cloudpypi.pages import UNREADABLE, parse_mirror_json
from cloudpypi.plan import file_keys
from cloudpypi.state import State
from cloudpypi.storage import Storage

log = logging.getLogger(__name__)
LISTED = 100  # orphans printed by name; the rest are counted


class _Linked:
    """A set of keys in a private temporary database (SQLite deletes it on close)."""

    def __init__(self) -> None:
        self.db = sqlite3.connect("")
        self.db.execute("CREATE TABLE linked (key TEXT PRIMARY KEY) WITHOUT ROWID")

    def add(self, keys: set[str]) -> None:
        self.db.executemany("INSERT OR IGNORE INTO linked VALUES (?)", ((k,) for k in keys))

    def __contains__(self, key: object) -> bool:
        return self.db.execute("SELECT 1 FROM linked WHERE key=?", (key,)).fetchone() is not None

    def close(self) -> None:
        self.db.close()


@dataclass
class OrphanResult:
    pages: int = 0
    linked: int = 0
    stored: int = 0
    orphans: list[str] = field(default_factory=list)  # the first LISTED, by name
    orphan_count: int = 0
    pending: int = 0  # unlinked, but already scheduled for deletion
    unreadable: list[str] = field(default_factory=list)
    scheduled: int = 0
    deleted: int = 0


def _pages(storage: Storage) -> Iterator[tuple[str, str]]:
    """(project name, key) of every project's JSON page in the target."""
    for key in storage.iter_keys(PAGES_PREFIX):
        where = split_page_key(key)
        if where is not None and where[0] is not None and where[1] == JSON_PAGE:
            yield where[0], key


def find_orphans(storage: Storage, state: State, linked: _Linked, result: OrphanResult) -> Iterator[str]:
    """Every stored file under packages/ that no page links and that is not already due to go."""
    for name, key in _pages(storage):
        raw = storage.read_bytes(key)
        try:
            page = parse_mirror_json(raw or b"", name)
        except UNREADABLE as exc:
            result.unreadable.append(f"{key}: {exc}")
            continue
        keys = file_keys(page)
        linked.add(keys)
        result.pages += 1
        result.linked += len(keys)
    for key in storage.iter_keys(FILES_PREFIX):
        result.stored += 1
        if key in linked:
            continue
        if state.pending_deletion(key):
            result.pending += 1
            continue
        result.orphan_count += 1
        if len(result.orphans) < LISTED:
            result.orphans.append(key)
        yield key


def sweep(storage: Storage, state: State, *, repair: bool, grace: int, now: float | None = None) -> OrphanResult:
    result = OrphanResult()
    linked = _Linked()
    now = time.time() if now is None else now
    try:
        found = find_orphans(storage, state, linked, result)
        if not repair:
            for _ in found:
                pass
            return result
        orphans = list(found)
        if result.unreadable:
            raise CloudPyPIError(f"{len(result.unreadable)} page(s) cannot be read ({result.unreadable[0]}): the "
                                 "files they link would look orphaned; run `cloudpypi verify --repair` first")
        with state.transaction():
            state.schedule_deletions(orphans, now + grace)
        result.scheduled = len(orphans)
        for key in state.due_deletions(now):
            if key in linked:  # linked again since it was scheduled: it stays
                state.cancel_deletions([key])
                continue
            storage.delete(key)
            state.deletion_done(key)
            result.deleted += 1
        state.save()
        return result
    finally:
        linked.close()


def run_orphans(config: Config, *, repair: bool) -> int:
    """`cloudpypi verify --orphans [--repair]`: print the sweep; exit 1 when orphans are left unscheduled."""
    from cloudpypi.lock import TargetLock
    from cloudpypi.storage import open_target

    storage = open_target(config)
    try:
        lock = TargetLock(storage, command="verify --orphans --repair") if repair else contextlib.nullcontext()
        with lock:  # a repair must not race a sync, whose new files are on no page for a moment
            state = State.open(storage, config.state_dir or None, read_only=not repair)
            try:
                result = sweep(storage, state, repair=repair, grace=config.deletion_grace)
            finally:
                state.close()
    finally:
        storage.close()
    print(f"{result.stored} stored file(s) in {storage.url}, {result.linked} linked by {result.pages} page(s), "
          f"{result.pending} already scheduled for deletion")
    for line in result.unreadable[:10]:
        print(f"  UNREADABLE {line}")
    for key in result.orphans:
        print(f"  ORPHAN {key}")
    if result.orphan_count > len(result.orphans):
        print(f"  ... and {result.orphan_count - len(result.orphans)} more")
    if repair:
        print(f"{result.scheduled} orphan(s) scheduled for deletion after the {config.deletion_grace}s grace; "
              f"{result.deleted} file(s) due now deleted")
        return 0
    if result.orphan_count or result.unreadable:
        print(f"{result.orphan_count} orphan(s); run with --repair to delete them after the deletion grace")
        return 1
    print("OK: every stored file is linked by a page")
    return 0
